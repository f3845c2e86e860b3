//! The transactions (交易): each parses its wire input, checks it against the state, and only then
//! changes the state and builds the wire output. Benefit arithmetic is `wugan_policy`'s.

use crate::center::Now;
use crate::envelope::{opt_text, opt_yuan, req_text, Envelope, TxError};
use crate::person::Person;
use crate::state::{FeeRecord, FeeStatus, State, Visit};
use crate::{inpatient, settle};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use wugan_domain::money::Fen;
use wugan_policy::decimal::{Price, Qty};
use wugan_policy::{split_line, Date, FeeLine, PolicySet, SetlAmounts};

/// Outpatient (门诊, 22xx) or inpatient (住院, 23xx/24xx): which transactions a visit takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Outpatient,
    Inpatient,
}

/// What every transaction may read besides the state.
pub struct Ctx<'a> {
    pub env: &'a Envelope,
    pub now: &'a Now,
    /// The center's own region (就医地).
    pub admdvs: &'a str,
    pub policy: &'a PolicySet,
}

pub fn dispatch(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    match ctx.env.infno.as_str() {
        "9001" => sign_in(state, ctx),
        "1101" => person_info(state, ctx),
        "2201" => register(state, ctx),
        "2202" => cancel_registration(state, ctx),
        "2204" => upload_fees(state, ctx),
        "2205" => cancel_fees(state, ctx),
        "2206" => settle::pre_settle(state, ctx, Kind::Outpatient),
        "2207" => settle::settle(state, ctx, Kind::Outpatient),
        "2208" => settle::cancel(state, ctx, Kind::Outpatient),
        "2401" => inpatient::admit(state, ctx),
        "2402" => inpatient::discharge(state, ctx),
        "2404" => inpatient::cancel_admission(state, ctx),
        "2405" => inpatient::cancel_discharge(state, ctx),
        "2301" => inpatient::upload_fees(state, ctx),
        "2302" => inpatient::cancel_fees(state, ctx),
        "2303" => settle::pre_settle(state, ctx, Kind::Inpatient),
        "2304" => settle::settle(state, ctx, Kind::Inpatient),
        "2305" => settle::cancel(state, ctx, Kind::Inpatient),
        "2203" | "2203A" => upload_visit_info(state, ctx),
        "5203" => query_settlement(state, ctx),
        "9901" => crate::repayment::repay(state, ctx),
        "9902" => crate::repayment::cancel(state, ctx),
        other => Err(TxError::new(&format!("不支持的交易编号 {other}"), format!("unsupported transaction (infno) {other}"))),
    }
}

pub(crate) fn not_found() -> TxError {
    TxError::new("未查询到参保人员信息", "person not found")
}

pub(crate) fn mismatch(field: &str, given: &str, expected: &str) -> TxError {
    TxError::new(&format!("{field} 与记录不符"), format!("{field} '{given}' does not match the record ('{expected}')"))
}

/// Checks an optional input field against the record.
pub(crate) fn check_same(data: &Value, field: &str, expected: &str) -> Result<(), TxError> {
    match opt_text(data, field) {
        Some(given) if given != expected => Err(mismatch(field, &given, expected)),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------- 9001 签到

fn sign_in(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let sign_no = format!("{}{}{:010}", ctx.admdvs, ctx.now.compact(), state.next_seq());
    Ok(json!({"signinoutb": {"sign_time": ctx.now.datetime(), "sign_no": sign_no}}))
}

// ---------------------------------------------------------------- 1101 人员信息获取

fn person_info(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let psn_no = find_person(state, data)?;
    let account = state.accounts.get(&psn_no).ok_or_else(not_found)?;
    let p = &account.person;
    // A person never insured (no insutype) has no insurance record at all; a suspended or ended
    // one (psn_insu_stas ≠ "1") is reported with that status. Neither may settle with insurance.
    let insuinfo = if p.insutype.is_empty() {
        vec![]
    } else {
        vec![json!({
            "balc": account.balc.to_yuan_string(), "insutype": p.insutype, "psn_type": p.psn_type,
            "psn_insu_stas": p.insu_stas(), "psn_insu_date": p.psn_insu_date, "paus_insu_date": null, "cvlserv_flag": "0",
            "insuplc_admdvs": p.insuplc_admdvs, "emp_name": p.emp_name.clone().unwrap_or_default(),
        })]
    };
    Ok(json!({
        "baseinfo": {
            "psn_no": p.psn_no, "psn_cert_type": "01", "certno": p.certno, "psn_name": p.psn_name,
            "gend": p.gend, "naty": naty(p), "brdy": p.brdy, "age": age_on(p, ctx.now.date()),
        },
        "insuinfo": insuinfo,
        "idetinfo": p.idet_types.iter().map(|t| json!({
            "psn_idet_type": t, "psn_type_lv": null, "memo": null, "begntime": null, "endtime": null,
        })).collect::<Vec<_>>(),
    }))
}

/// By 就诊凭证 (mdtrt_cert_type 01 e-voucher token, 02 ID card, 03 social security card) when both
/// type and number are given; otherwise by 证件 (psn_cert_type "01" or empty, + certno). Real HIS
/// send every field with "" where unknown, so empty means absent.
fn find_person(state: &State, data: &Value) -> Result<String, TxError> {
    let cert_type = opt_text(data, "mdtrt_cert_type");
    let cert_no = opt_text(data, "mdtrt_cert_no");
    let index = match (cert_type.as_deref(), cert_no) {
        (Some("01"), Some(no)) => state.by_token.get(&no),
        (Some("02"), Some(no)) => state.by_certno.get(&no),
        (Some("03"), Some(no)) => state.by_card.get(&no),
        (Some(other), Some(_)) => {
            return Err(TxError::new(&format!("不支持的就诊凭证类型 {other}"), format!("unsupported mdtrt_cert_type {other} (01, 02, 03)")))
        }
        _ => {
            let certno = opt_text(data, "certno")
                .ok_or_else(|| TxError::new("缺少就诊凭证或证件号码", "give mdtrt_cert_type + mdtrt_cert_no, or psn_cert_type + certno"))?;
            match opt_text(data, "psn_cert_type").as_deref() {
                None | Some("01") => state.by_certno.get(&certno),
                Some(other) => {
                    return Err(TxError::new(
                        &format!("不支持的证件类型 {other}"),
                        format!("unsupported psn_cert_type {other} (01 居民身份证)"),
                    ))
                }
            }
        }
    };
    index.cloned().ok_or_else(not_found)
}

pub(crate) fn naty(p: &Person) -> String {
    p.naty.clone().unwrap_or_else(|| "01".into())
}

pub(crate) fn age_on(p: &Person, on: Date) -> u32 {
    p.birth_date().map_or(0, |b| b.age_on(on))
}

// ---------------------------------------------------------------- 2201 / 2202 挂号

fn register(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
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
    let begndate = begin_date(data, ctx)?;
    let mdtrt_id = format!("{}{}{:010}", ctx.admdvs, ctx.now.ymd(), state.next_seq());
    let visit = Visit {
        psn_no: psn_no.clone(),
        fixmedins_code: ctx.env.fixmedins_code.clone(),
        ipt_otp_no: ipt_otp_no.clone(),
        insutype,
        med_type: opt_text(data, "med_type"),
        mdtrt_cert_type: opt_text(data, "mdtrt_cert_type"),
        begndate,
        cancelled: false,
        fees: Vec::new(),
        settlements: Vec::new(),
        admission: None,
    };
    state.visits.insert(mdtrt_id.clone(), visit);
    state.registrations.insert(key, mdtrt_id.clone());
    Ok(json!({"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "ipt_otp_no": ipt_otp_no}}))
}

/// The person, if insured: 未参保 (no insurance type) or a status other than "1" (暂停, 终止 …)
/// cannot register or settle with insurance — the hospital charges them as self-paying patients.
pub(crate) fn insured<'s>(state: &'s State, psn_no: &str) -> Result<&'s crate::state::Account, TxError> {
    let account = state.accounts.get(psn_no).ok_or_else(not_found)?;
    if !account.person.is_insured() {
        return Err(TxError::new(
            "未参保或参保状态异常，不能医保结算",
            format!(
                "not insured: person {psn_no} (insutype '{}', psn_insu_stas {}) cannot use insurance",
                account.person.insutype,
                account.person.insu_stas()
            ),
        ));
    }
    Ok(account)
}

/// `begntime` as a date, or today.
pub(crate) fn begin_date(data: &Value, ctx: &Ctx) -> Result<Date, TxError> {
    match opt_text(data, "begntime") {
        Some(t) => Date::parse(&t).ok_or_else(|| TxError::new("begntime 格式错误", format!("begntime '{t}' is not yyyy-MM-dd HH:mm:ss"))),
        None => Ok(ctx.now.date()),
    }
}

/// A visit that exists and was not cancelled.
pub(crate) fn live_visit<'s>(state: &'s State, mdtrt_id: &str) -> Result<&'s Visit, TxError> {
    let visit = state.visits.get(mdtrt_id).ok_or_else(|| TxError::new("就诊ID不存在", format!("unknown mdtrt_id {mdtrt_id}")))?;
    if visit.cancelled {
        return Err(TxError::new("该就诊已撤销", format!("visit {mdtrt_id} was cancelled")));
    }
    Ok(visit)
}

/// A live visit of this kind (an admission takes 23xx/24xx, an outpatient visit 22xx).
pub(crate) fn visit_of_kind<'s>(state: &'s State, mdtrt_id: &str, kind: Kind) -> Result<&'s Visit, TxError> {
    let visit = live_visit(state, mdtrt_id)?;
    match (kind, visit.is_inpatient()) {
        (Kind::Outpatient, true) => {
            Err(TxError::new("住院就诊请使用住院交易", format!("visit {mdtrt_id} is an admission: use 2301-2305 / 2402-2405")))
        }
        (Kind::Inpatient, false) => {
            Err(TxError::new("门诊就诊请使用门诊交易", format!("visit {mdtrt_id} is an outpatient visit: use 2204-2208")))
        }
        _ => Ok(visit),
    }
}

/// A visit that can still take fees: live, and not closed by a settlement.
pub(crate) fn open_visit<'s>(state: &'s State, mdtrt_id: &str) -> Result<&'s Visit, TxError> {
    let visit = live_visit(state, mdtrt_id)?;
    if let Some(setl_id) = visit.closed_by() {
        return Err(already_settled(mdtrt_id, setl_id));
    }
    Ok(visit)
}

pub(crate) fn already_settled(mdtrt_id: &str, setl_id: &str) -> TxError {
    TxError::new(
        "该就诊已结算，请先撤销结算",
        format!("visit {mdtrt_id} is already settled (setl_id {setl_id}); cancel the settlement first"),
    )
}

fn cancel_registration(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let mdtrt_id = req_text(data, "mdtrt_id")?;
    visit_of_kind(state, &mdtrt_id, Kind::Outpatient)?;
    let visit = open_visit(state, &mdtrt_id)?;
    check_same(data, "psn_no", &visit.psn_no)?;
    check_same(data, "ipt_otp_no", &visit.ipt_otp_no)?;
    let key = (visit.fixmedins_code.clone(), visit.ipt_otp_no.clone());
    cancel_visit(state, &mdtrt_id, &key);
    Ok(json!({}))
}

/// 挂号撤销 / 入院撤销: the registration is forgotten, the visit and its unsettled fees cancelled.
pub(crate) fn cancel_visit(state: &mut State, mdtrt_id: &str, registration: &(String, String)) {
    state.registrations.remove(registration);
    if let Some(visit) = state.visits.get_mut(mdtrt_id) {
        visit.cancelled = true;
        for fee in visit.fees.iter_mut().filter(|f| f.status == FeeStatus::Unsettled) {
            fee.status = FeeStatus::Cancelled;
        }
    }
}

// ---------------------------------------------------------------- 2203 就诊信息上传

/// 2203/2203A: `mdtrtinfo` (med_type, diagnoses …) for an open visit. The sandbox keeps the
/// 医疗类别 (it selects the benefit at settlement); diagnoses are accepted and not used yet.
fn upload_visit_info(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
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
    if let (Some(visit), Some(med_type)) = (state.visits.get_mut(&mdtrt_id), med_type) {
        visit.med_type = Some(med_type);
    }
    Ok(json!({}))
}

// ---------------------------------------------------------------- 2204 / 2205 费用明细

/// One incoming fee line, parsed.
pub(crate) struct IncomingFee {
    pub mdtrt_id: String,
    pub feedetl_sn: String,
    pub chrg_bchno: String,
    /// 原费用流水号 (2301 refunds).
    pub init_feedetl_sn: Option<String>,
    pub psn_no: Option<String>,
    pub line: FeeLine,
}

fn upload_fees(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    store_fees(state, ctx, Kind::Outpatient)
}

/// 2204 / 2301: every line is checked (visit open and of the right kind, serial unique, refund
/// naming a live charge) before any is kept; the reply is the 2204-style split of each line.
pub(crate) fn store_fees(state: &mut State, ctx: &Ctx, kind: Kind) -> Result<Value, TxError> {
    let lines = fee_details(&ctx.env.input)?;
    let mut incoming: Vec<(IncomingFee, wugan_policy::LineResult)> = Vec::with_capacity(lines.len());
    let mut seen = HashSet::new();
    for (i, raw) in lines.iter().enumerate() {
        let fee = parse_fee(i, raw, kind)?;
        visit_of_kind(state, &fee.mdtrt_id, kind)?;
        let visit = open_visit(state, &fee.mdtrt_id)?;
        if let Some(psn_no) = &fee.psn_no {
            if psn_no != &visit.psn_no {
                return Err(mismatch("psn_no", psn_no, &visit.psn_no));
            }
        }
        let duplicate_stored = visit.fees.iter().any(|f| f.feedetl_sn == fee.feedetl_sn && f.status != FeeStatus::Cancelled);
        if duplicate_stored || !seen.insert((fee.mdtrt_id.clone(), fee.feedetl_sn.clone())) {
            return Err(TxError::new(
                &format!("费用明细流水号 {} 重复", fee.feedetl_sn),
                format!("duplicate feedetl_sn {} in visit {}", fee.feedetl_sn, fee.mdtrt_id),
            ));
        }
        if let Some(original) = &fee.init_feedetl_sn {
            crate::inpatient::check_refund(visit, &incoming, &fee, original)?;
        }
        let result = split_line(i, &fee.line, ctx.policy)?;
        incoming.push((fee, result));
    }
    let mut output = Vec::with_capacity(incoming.len());
    for (fee, result) in incoming {
        output.push(serde_json::to_value(&result).unwrap_or(Value::Null));
        if let Some(visit) = state.visits.get_mut(&fee.mdtrt_id) {
            visit.fees.push(FeeRecord {
                feedetl_sn: fee.feedetl_sn,
                chrg_bchno: fee.chrg_bchno,
                init_feedetl_sn: fee.init_feedetl_sn,
                line: fee.line,
                result,
                status: FeeStatus::Unsettled,
            });
        }
    }
    Ok(json!({"result": output}))
}

/// `input.feedetail` (or `input.data.feedetail`), an array or a single object.
pub(crate) fn fee_details(input: &Value) -> Result<Vec<Value>, TxError> {
    let node = input.get("feedetail").or_else(|| input.get("data").and_then(|d| d.get("feedetail")));
    match node {
        Some(Value::Array(items)) if !items.is_empty() => Ok(items.clone()),
        Some(item @ Value::Object(_)) => Ok(vec![item.clone()]),
        _ => Err(TxError::new("缺少费用明细 feedetail", "missing input.feedetail (a non-empty list of fee lines)")),
    }
}

/// Parses one fee line. Outpatient lines (2204) are never negative; an inpatient line (2301) may be
/// a refund — negative `cnt` and amount, naming the charged line in `init_feedetl_sn`.
pub(crate) fn parse_fee(i: usize, raw: &Value, kind: Kind) -> Result<IncomingFee, TxError> {
    let at = |e: TxError| TxError::bilingual(format!("第{}条明细 / fee line {}: {}", i + 1, i + 1, e.message));
    let decimal = |key: &str, scale: u32| {
        raw.get(key)
            .map(|v| wugan_domain::money::scaled_from_json(v, scale))
            .transpose()
            .map(Option::flatten)
            .map_err(|e| at(TxError::new(&format!("{key} 格式错误"), format!("{key}: {e}"))))
    };
    let amount = opt_yuan(raw, "det_item_fee_sumamt").map_err(at)?;
    let pric = decimal("pric", Price::SCALE)?.map(Price);
    let cnt = decimal("cnt", Qty::SCALE)?.map(Qty);
    let amount = match (amount, pric, cnt) {
        (Some(a), _, _) => a,
        (None, Some(p), Some(c)) => p.times(c),
        _ => return Err(at(TxError::missing("det_item_fee_sumamt"))),
    };
    let init_feedetl_sn = opt_text(raw, "init_feedetl_sn");
    check_sign(amount, pric, cnt, kind, init_feedetl_sn.is_some()).map_err(at)?;
    if let (Some(p), Some(c)) = (pric, cnt) {
        // The platform checks the line's arithmetic; one fen of rounding is allowed.
        if (p.times(c) - amount).0.abs() > 1 {
            return Err(at(TxError::new(
                "明细金额与单价×数量不符",
                format!("det_item_fee_sumamt {} differs from pric × cnt {}", amount.to_yuan_string(), p.times(c).to_yuan_string()),
            )));
        }
    }
    let feedetl_sn = req_text(raw, "feedetl_sn").map_err(at)?;
    Ok(IncomingFee {
        mdtrt_id: req_text(raw, "mdtrt_id").map_err(at)?,
        chrg_bchno: opt_text(raw, "chrg_bchno").unwrap_or_default(),
        init_feedetl_sn,
        psn_no: opt_text(raw, "psn_no"),
        line: FeeLine {
            feedetl_sn: Some(feedetl_sn.clone()),
            med_list_codg: Some(req_text(raw, "med_list_codg").map_err(at)?),
            // Class, cap and ratio are the catalogue's, never the hospital's.
            chrgitm_lv: None,
            pric,
            cnt,
            det_item_fee_sumamt: Some(amount),
            selfpay_prop: None,
            pric_uplmt_amt: None,
        },
        feedetl_sn,
    })
}

/// Signs of a fee line: prices are never negative; a charge is not negative; a refund (2301 only)
/// has a negative amount and quantity and names its charge.
fn check_sign(amount: Fen, pric: Option<Price>, cnt: Option<Qty>, kind: Kind, refund_of: bool) -> Result<(), TxError> {
    let negative_qty = amount.is_negative() || cnt.is_some_and(|c| c.0 < 0);
    if pric.is_some_and(|p| p.0 < 0) || (negative_qty && kind == Kind::Outpatient) {
        return Err(TxError::new("门诊费用明细金额不能为负", "outpatient fee amounts, prices and quantities must not be negative"));
    }
    if negative_qty && !refund_of {
        return Err(TxError::new(
            "退费明细须填写原费用流水号",
            "a refund line (negative cnt) must name the charged line in init_feedetl_sn",
        ));
    }
    if refund_of && (!amount.is_negative() || cnt.is_some_and(|c| c.0 >= 0)) {
        return Err(TxError::new(
            "退费明细数量和金额须为负",
            "a line with init_feedetl_sn is a refund: cnt and det_item_fee_sumamt must be negative",
        ));
    }
    Ok(())
}

/// 2205: `chrg_bchno` "0000" (or absent) deletes every unsettled line, otherwise that batch's.
fn cancel_fees(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
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

/// 5203 结算信息查询: the stored 2207 output by `setl_id`, or by `mdtrt_id` alone (the latest
/// settlement of the visit) for a caller whose 2207 reply was lost before it learnt the setl_id.
/// `refd_setl_flag` is "1" when the settlement has since been cancelled (2208), else "0".
fn query_settlement(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let setl = match (opt_text(data, "setl_id"), opt_text(data, "mdtrt_id")) {
        (Some(setl_id), _) => {
            state.settlement(&setl_id).ok_or_else(|| TxError::new("结算ID不存在", format!("unknown setl_id {setl_id}")))?
        }
        (None, Some(mdtrt_id)) => state
            .settlements
            .iter()
            .rev()
            .find(|s| s.mdtrt_id == mdtrt_id)
            .ok_or_else(|| TxError::new("该就诊无结算记录", format!("visit {mdtrt_id} has no settlement")))?,
        (None, None) => return Err(TxError::missing("setl_id")),
    };
    check_same(data, "mdtrt_id", &setl.mdtrt_id)?;
    check_same(data, "psn_no", &setl.psn_no)?;
    let mut output = setl.output.clone();
    if let Some(Value::Object(info)) = output.get_mut("setlinfo") {
        info.insert("refd_setl_flag".into(), json!(if setl.cancelled { "1" } else { "0" }));
    }
    Ok(output)
}

/// The visit fields of a `setlinfo`.
pub(crate) struct Head<'a> {
    pub mdtrt_id: &'a str,
    pub med_type: &'a str,
    pub clr_type: &'a str,
    pub mdtrt_cert_type: Option<String>,
}

/// The `setlinfo` object: person and visit fields, then the engine's amounts (national names).
pub(crate) fn setlinfo(ctx: &Ctx, head: &Head, person: &Person, amounts: &SetlAmounts, setl_id: Option<&str>) -> Value {
    let mut map = Map::new();
    let mut put = |k: &str, v: Value| {
        map.insert(k.to_string(), v);
    };
    put("mdtrt_id", json!(head.mdtrt_id));
    put("setl_id", json!(setl_id));
    put("psn_no", json!(person.psn_no));
    put("psn_name", json!(person.psn_name));
    put("psn_cert_type", json!("01"));
    put("certno", json!(person.certno));
    put("gend", json!(person.gend));
    put("naty", json!(naty(person)));
    put("brdy", json!(person.brdy));
    put("age", json!(age_on(person, ctx.now.date())));
    put("insutype", json!(person.insutype));
    put("psn_type", json!(person.psn_type));
    put("cvlserv_flag", json!("0"));
    put("setl_time", json!(ctx.now.datetime()));
    put("mdtrt_cert_type", json!(head.mdtrt_cert_type));
    put("med_type", json!(head.med_type));
    for (k, v) in amounts.to_setlinfo() {
        put(&k, v);
    }
    put("medins_setl_id", json!(ctx.env.msgid));
    put("clr_optins", json!(person.insuplc_admdvs));
    put("clr_way", json!("1"));
    put("clr_type", json!(head.clr_type));
    Value::Object(map)
}
