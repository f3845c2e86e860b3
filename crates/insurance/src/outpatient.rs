//! Outpatient transactions (门诊): 2201 挂号, 2202 挂号撤销, 2203 就诊信息上传, 2204 费用明细上传,
//! 2205 费用明细撤销. Settlement (2206–2208) is in `settle`.

use crate::ctx::{Ctx, Kind};
use crate::error::TxError;
use crate::fees::store_fees;
use crate::input::{begin_date, begin_time, check_same, opt_text, req_text};
use crate::lookup::{insured, open_visit, visit_of_kind};
use crate::state::{FeeRecord, FeeStatus, State, Visit};
use serde_json::{json, Value};

/// 2201: a registration (挂号) of an insured person → a new visit, `mdtrt_id`.
pub fn register(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let psn_no = req_text(data, "psn_no")?;
    let account = insured(state, &psn_no)?;
    let insutype = account.person.insutype.clone();
    check_same(data, "insutype", &insutype)?;
    let ipt_otp_no = req_text(data, "ipt_otp_no")?;
    let key = (ctx.env.fixmedins_code.clone(), ipt_otp_no.clone());
    if let Some(existing) = state.registrations.get(&key) {
        return Err(TxError::new(
            &format!("门诊号 {ipt_otp_no} 已登记"),
            format!("already registered: ipt_otp_no {ipt_otp_no} is visit {existing}"),
        ));
    }
    let begndate = begin_date(data, ctx.now.date())?;
    let begntime = begin_time(data, ctx.now)?;
    let mdtrt_id = format!("{}{}{:010}", ctx.admdvs, ctx.now.ymd(), state.next_seq());
    let visit = Visit {
        psn_no: psn_no.clone(),
        fixmedins_code: ctx.env.fixmedins_code.clone(),
        ipt_otp_no: ipt_otp_no.clone(),
        insutype,
        med_type: opt_text(data, "med_type"),
        diagnoses: Vec::new(),
        mdtrt_cert_type: opt_text(data, "mdtrt_cert_type"),
        begndate,
        begntime,
        cancelled: false,
        fees: Vec::new(),
        settlements: Vec::new(),
        admission: None,
    };
    state.visits.insert(mdtrt_id.clone(), visit);
    state.registrations.insert(key, mdtrt_id.clone());
    Ok(json!({"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "ipt_otp_no": ipt_otp_no}}))
}

/// 2202: cancels a registration with no settlement in force; unsettled lines go with it.
pub fn cancel_registration(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let mdtrt_id = req_text(data, "mdtrt_id")?;
    visit_of_kind(state, &mdtrt_id, Kind::Outpatient)?;
    let visit = open_visit(state, &mdtrt_id)?;
    check_same(data, "psn_no", &visit.psn_no)?;
    check_same(data, "ipt_otp_no", &visit.ipt_otp_no)?;
    let key = (visit.fixmedins_code.clone(), visit.ipt_otp_no.clone());
    state.cancel_visit(&mdtrt_id, &key);
    Ok(json!({}))
}

/// 2203/2203A: `mdtrtinfo` (med_type, diagnoses …) for an open visit. The sandbox keeps the
/// 医疗类别 (it selects the benefit at settlement) and the diagnosis codes (shown by
/// `/sandbox/visits/{mdtrt_id}`); a `diseinfo` that is not a list of diagnoses each with its
/// `diag_code` is refused, as a platform does.
pub fn upload_visit_info(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let info = ctx
        .env
        .input
        .get("mdtrtinfo")
        .filter(|v| v.is_object())
        .ok_or_else(|| TxError::new("缺少就诊信息 mdtrtinfo", "missing input.mdtrtinfo"))?;
    let mdtrt_id = req_text(info, "mdtrt_id")?;
    visit_of_kind(state, &mdtrt_id, Kind::Outpatient)?;
    let visit = open_visit(state, &mdtrt_id)?;
    check_same(info, "psn_no", &visit.psn_no)?;
    let med_type = opt_text(info, "med_type");
    if let Some(med_type) = &med_type {
        ctx.policy.benefit_name(med_type)?;
    }
    let diagnoses = diagnosis_codes(&ctx.env.input, info)?;
    if let Some(visit) = state.visits.get_mut(&mdtrt_id) {
        visit.med_type = med_type.or(visit.med_type.take());
        visit.diagnoses = diagnoses;
    }
    Ok(json!({}))
}

/// 2203's diagnosis codes: `mdtrtinfo.dise_codg` first, then each `diseinfo` item's `diag_code`.
fn diagnosis_codes(input: &Value, info: &Value) -> Result<Vec<String>, TxError> {
    let mut codes: Vec<String> = opt_text(info, "dise_codg").into_iter().collect();
    let items = match input.get("diseinfo") {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(TxError::new("诊断信息 diseinfo 应为列表", "diseinfo is not a list")),
    };
    for (i, item) in items.iter().enumerate() {
        let Some(code) = opt_text(item, "diag_code") else {
            return Err(TxError::new(&format!("第{}条诊断缺少诊断代码", i + 1), format!("diseinfo[{i}] lacks diag_code")));
        };
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    Ok(codes)
}

/// 2204: fee lines of an open outpatient visit, never negative.
pub fn upload_fees(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    store_fees(state, ctx, Kind::Outpatient)
}

/// 2205: `chrg_bchno` "0000" (or absent) deletes every unsettled line, otherwise that batch's.
pub fn cancel_fees(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let mdtrt_id = req_text(data, "mdtrt_id")?;
    let visit = visit_of_kind(state, &mdtrt_id, Kind::Outpatient)?;
    check_same(data, "psn_no", &visit.psn_no)?;
    let batch = opt_text(data, "chrg_bchno").unwrap_or_else(|| "0000".into());
    let all = batch == "0000";
    let matches = |f: &FeeRecord| f.status == FeeStatus::Unsettled && (all || f.chrg_bchno == batch);
    if !all && !visit.fees.iter().any(matches) {
        return Err(TxError::new(&format!("收费批次 {batch} 无未结算明细"), format!("no unsettled fee lines in batch {batch}")));
    }
    let mut deleted = 0;
    if let Some(visit) = state.visits.get_mut(&mdtrt_id) {
        for fee in visit.fees.iter_mut().filter(|f| matches(f)) {
            fee.status = FeeStatus::Cancelled;
            deleted += 1;
        }
    }
    Ok(json!({"deleted": deleted}))
}
