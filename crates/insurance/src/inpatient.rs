//! Inpatient transactions (住院): 2401 入院办理, 2402 出院办理, 2403 入院信息变更, 2404 入院撤销, 2405 出院撤销,
//! 2301 住院费用明细上传 (refund lines allowed), 2302 住院费用明细撤销. Settlement (2303–2305) is in
//! `settle`.
//!
//! An admission (`Visit` with `admission`) moves: admitted → (interim settlements) → discharged →
//! finally settled. 2404 needs no settlement in force and no discharge; 2405 needs no final
//! settlement. Emergency-to-inpatient (24 急诊转住院) is an admission like 21, under the policy's
//! inpatient benefit and its per-admission deductible.

use crate::ctx::{Ctx, Kind};
use crate::error::TxError;
use crate::fees::store_fees;
use crate::input::{begin_date, begin_time, check_same, opt_text, req_text};
use crate::lookup::{insured, open_visit, visit_of_kind};
use crate::state::{Admission, DischargeRecord, FeeRecord, FeeStatus, State, Visit};
use serde_json::{json, Value};
use wugan_policy::Date;

/// `input.<name>` or `input.data.<name>`, an object.
fn node<'v>(input: &'v Value, name: &str) -> Result<&'v Value, TxError> {
    input
        .get(name)
        .or_else(|| input.get("data").and_then(|d| d.get(name)))
        .filter(|v| v.is_object())
        .ok_or_else(|| TxError::new(&format!("缺少输入节点 {name}"), format!("missing input.{name}")))
}

/// The key that keeps one admission per hospital and 住院号 (separate from outpatient numbers).
fn ipt_key(fixmedins_code: &str, ipt_no: &str) -> (String, String) {
    (fixmedins_code.to_string(), format!("ipt:{ipt_no}"))
}

/// The diagnosis codes an inpatient transaction names, each once: its node's `dise_codg`, then
/// each `diseinfo[].diag_code`; with the position of the first diagnosis that has none.
fn diagnosis_codes(info: &Value, input: &Value) -> (Vec<String>, Option<usize>) {
    let (mut codes, mut codeless): (Vec<String>, Option<usize>) = (opt_text(info, "dise_codg").into_iter().collect(), None);
    for (i, item) in input.get("diseinfo").and_then(Value::as_array).into_iter().flatten().enumerate() {
        match opt_text(item, "diag_code") {
            Some(code) if !codes.contains(&code) => codes.push(code),
            Some(_) => {}
            None => codeless = codeless.or(Some(i)),
        }
    }
    (codes, codeless)
}

/// The admission's fields the center keeps for its sandbox view, as 2401 or a later 2403 sent them
/// (each one sent replaces the one kept; one not sent leaves it).
fn keep_admission_fields(adm: &mut Admission, info: &Value) {
    let kept = [
        ("adm_dept_codg", &mut adm.adm_dept_codg),
        ("dscg_maindiag_code", &mut adm.dscg_maindiag_code),
        ("dscg_maindiag_name", &mut adm.dscg_maindiag_name),
        ("oprn_oprt_code", &mut adm.oprn_oprt_code),
        ("oprn_oprt_name", &mut adm.oprn_oprt_name),
        ("matn_type", &mut adm.matn_type),
    ];
    for (name, field) in kept {
        if let Some(text) = opt_text(info, name) {
            *field = Some(text);
        }
    }
}

/// 2401: `mdtrtinfo` (+ `diseinfo[]`) → a new admission, `mdtrt_id`. The department, main
/// diagnosis, surgery, 生育类别 and the diagnosis codes are kept as sent; none is required (a hub
/// before them sent none), and 2401 and 2402 refuse nothing they did not refuse before (a
/// persistent center replays its journal).
pub fn admit(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let info = node(&ctx.env.input, "mdtrtinfo")?;
    let psn_no = req_text(info, "psn_no")?;
    let account = insured(state, &psn_no)?;
    let insutype = account.person.insutype.clone();
    check_same(info, "insutype", &insutype)?;
    let ipt_no = req_text(info, "ipt_no")?;
    let med_type = opt_text(info, "med_type").unwrap_or_else(|| "21".into());
    ctx.policy.benefit_name(&med_type)?;
    let key = ipt_key(&ctx.env.fixmedins_code, &ipt_no);
    // A 住院号 whose admission was settled (出院结算, 2304 not cancelled) may be admitted again: an
    // HIS whose 住院号 is the patient's own number admits under it each time.
    let over = |mdtrt_id: &String| state.settlements.iter().any(|s| &s.mdtrt_id == mdtrt_id && s.inpatient && !s.mid_setl && !s.cancelled);
    if let Some(existing) = state.registrations.get(&key).filter(|existing| !over(existing)) {
        return Err(TxError::new(
            &format!("住院号 {ipt_no} 已办理入院"),
            format!("already admitted: ipt_no {ipt_no} is admission {existing}"),
        ));
    }
    let begndate = begin_date(info, ctx.now.date())?;
    let begntime = begin_time(info, ctx.now)?;
    let (diagnoses, _) = diagnosis_codes(info, &ctx.env.input);
    let mdtrt_id = format!("{}{}{:010}", ctx.admdvs, ctx.now.ymd(), state.next_seq());
    let mut admission = Admission::default();
    keep_admission_fields(&mut admission, info);
    let visit = Visit {
        psn_no: psn_no.clone(),
        fixmedins_code: ctx.env.fixmedins_code.clone(),
        ipt_otp_no: ipt_no.clone(),
        insutype,
        med_type: Some(med_type),
        diagnoses,
        mdtrt_cert_type: opt_text(info, "mdtrt_cert_type"),
        begndate,
        begntime,
        cancelled: false,
        fees: Vec::new(),
        settlements: Vec::new(),
        admission: Some(admission),
    };
    state.visits.insert(mdtrt_id.clone(), visit);
    state.registrations.insert(key, mdtrt_id.clone());
    Ok(json!({"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "ipt_no": ipt_no, "ipt_otp_no": ipt_no}}))
}

/// A live admission named by `mdtrt_id`, with `psn_no` checked when given.
fn admission<'s>(state: &'s State, data: &Value) -> Result<(String, &'s Visit, &'s Admission), TxError> {
    let mdtrt_id = req_text(data, "mdtrt_id")?;
    let visit = visit_of_kind(state, &mdtrt_id, Kind::Inpatient)?;
    check_same(data, "psn_no", &visit.psn_no)?;
    let admission = visit.admission.as_ref().ok_or_else(|| TxError::new("非住院就诊", format!("visit {mdtrt_id} is not an admission")))?;
    Ok((mdtrt_id, visit, admission))
}

/// 2403: `adminfo` (+ `diseinfo[]`) changes an admission still in the ward: its 医疗类别 (21 ↔ 24,
/// within the policy's benefits) and its diagnoses; the department, main diagnosis, surgery and
/// 生育类别 are kept as for 2401; ward, bed, doctors and the rest are accepted as sent.
/// Nothing changes once the patient is discharged (2405 first) or finally settled.
pub fn change_admission(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let info = node(&ctx.env.input, "adminfo")?;
    let (mdtrt_id, _, adm) = admission(state, info)?;
    if adm.discharged.is_some() || adm.final_setl_id.is_some() {
        return Err(TxError::new(
            "已出院，不能变更入院信息",
            format!("admission {mdtrt_id} is discharged: cancel the discharge (2405) first"),
        ));
    }
    let med_type = opt_text(info, "med_type");
    if let Some(med_type) = &med_type {
        if !matches!(med_type.as_str(), "21" | "24") {
            return Err(TxError::new("住院医疗类别应为21或24", format!("med_type {med_type} is not an inpatient type (21, 24)")));
        }
        ctx.policy.benefit_name(med_type)?;
    }
    let (codes, codeless) = diagnosis_codes(info, &ctx.env.input);
    if let Some(i) = codeless {
        return Err(TxError::new(&format!("第{}条诊断缺少诊断代码", i + 1), format!("diseinfo[{i}] lacks diag_code")));
    }
    if let Some(visit) = state.visits.get_mut(&mdtrt_id) {
        visit.med_type = med_type.or(visit.med_type.take());
        if !codes.is_empty() {
            visit.diagnoses = codes;
        }
        if let Some(adm) = visit.admission.as_mut() {
            keep_admission_fields(adm, info);
        }
    }
    Ok(json!({}))
}

/// 2402: `dscginfo` (endtime …, + `diseinfo[]`) discharges an admission; its 离院方式, department,
/// diagnosis codes, 并发症 flag and 死亡日期 are kept as sent (none is required, and none is checked
/// beyond what 2402 checked before, as for 2401).
pub fn discharge(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let info = node(&ctx.env.input, "dscginfo")?;
    let (mdtrt_id, visit, adm) = admission(state, info)?;
    if adm.discharged.is_some() {
        return Err(TxError::new("该住院已办理出院", format!("admission {mdtrt_id} is already discharged")));
    }
    let endtime = opt_text(info, "endtime").unwrap_or_else(|| ctx.now.datetime());
    let end =
        Date::parse(&endtime).ok_or_else(|| TxError::new("endtime 格式错误", format!("endtime '{endtime}' is not yyyy-MM-dd HH:mm:ss")))?;
    if end < visit.begndate {
        return Err(TxError::new("出院时间早于入院时间", format!("endtime {endtime} is before the admission ({})", visit.begndate)));
    }
    let record = DischargeRecord {
        dscg_way: opt_text(info, "dscg_way"),
        dscg_dept_codg: opt_text(info, "dscg_dept_codg"),
        diagnoses: diagnosis_codes(info, &ctx.env.input).0,
        cop_flag: opt_text(info, "cop_flag"),
        die_date: opt_text(info, "die_date"),
    };
    if let Some(adm) = state.visits.get_mut(&mdtrt_id).and_then(|v| v.admission.as_mut()) {
        (adm.discharged, adm.discharge) = (Some(endtime), Some(record));
    }
    Ok(json!({}))
}

/// 2404: cancels an admission with no settlement in force and no discharge; unsettled lines go with it.
pub fn cancel_admission(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let (mdtrt_id, visit, adm) = admission(state, data)?;
    if let Some(setl_id) = visit.settlements.last() {
        return Err(TxError::new(
            "该住院有结算，请先撤销结算",
            format!("admission {mdtrt_id} has settlement {setl_id} in force: cancel it (2305) first"),
        ));
    }
    if adm.discharged.is_some() {
        return Err(TxError::new("已出院，请先撤销出院", format!("admission {mdtrt_id} is discharged: cancel the discharge (2405) first")));
    }
    let key = ipt_key(&visit.fixmedins_code, &visit.ipt_otp_no);
    state.cancel_visit(&mdtrt_id, &key);
    Ok(json!({}))
}

/// 2405: undoes a discharge, as long as the admission is not finally settled.
pub fn cancel_discharge(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let (mdtrt_id, _, adm) = admission(state, data)?;
    if let Some(setl_id) = &adm.final_setl_id {
        return Err(TxError::new(
            "已出院结算，请先撤销结算",
            format!("admission {mdtrt_id} is settled ({setl_id}): cancel it (2305) first"),
        ));
    }
    if adm.discharged.is_none() {
        return Err(TxError::new("该住院未办理出院", format!("admission {mdtrt_id} is not discharged")));
    }
    if let Some(adm) = state.visits.get_mut(&mdtrt_id).and_then(|v| v.admission.as_mut()) {
        (adm.discharged, adm.discharge) = (None, None);
    }
    Ok(json!({}))
}

/// 2301: fee lines of an open admission; a refund line (negative `cnt`) names its charge.
pub fn upload_fees(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    store_fees(state, ctx, Kind::Inpatient)
}

/// 2302: `data` (one object or a list) of {feedetl_sn, mdtrt_id, psn_no}; feedetl_sn "0000" deletes
/// every unsettled line of the admission. Deleting a charge deletes its refunds too. Settled lines
/// stay: cancel their settlement (2305) first. All items are checked before any is applied.
pub fn cancel_fees(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let items = match ctx.env.input.get("data") {
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        Some(item @ Value::Object(_)) => vec![item.clone()],
        _ => return Err(TxError::new("缺少输入节点 input.data", "missing input.data (an object or a non-empty list)")),
    };
    let mut deletions: Vec<(String, Option<String>)> = Vec::with_capacity(items.len());
    for item in &items {
        let (mdtrt_id, visit, _) = admission(state, item)?;
        open_visit(state, &mdtrt_id)?;
        let sn = req_text(item, "feedetl_sn")?;
        if sn == "0000" {
            deletions.push((mdtrt_id, None));
            continue;
        }
        match visit.fees.iter().find(|f| f.feedetl_sn == sn && f.status != FeeStatus::Cancelled) {
            Some(f) if f.status == FeeStatus::Unsettled => deletions.push((mdtrt_id, Some(sn))),
            Some(_) => return Err(TxError::new("已结算明细不能撤销", format!("line {sn} is settled: cancel its settlement (2305) first"))),
            None => return Err(TxError::new("费用明细不存在", format!("no live fee line {sn} in admission {mdtrt_id}"))),
        }
    }
    let mut deleted = 0;
    for (mdtrt_id, sn) in deletions {
        let Some(visit) = state.visits.get_mut(&mdtrt_id) else { continue };
        let hit = |f: &FeeRecord| match &sn {
            None => true,
            Some(sn) => &f.feedetl_sn == sn || f.init_feedetl_sn.as_ref() == Some(sn),
        };
        for fee in visit.fees.iter_mut().filter(|f| f.status == FeeStatus::Unsettled && hit(f)) {
            fee.status = FeeStatus::Cancelled;
            deleted += 1;
        }
    }
    Ok(json!({"deleted": deleted}))
}
