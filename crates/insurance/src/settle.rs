//! Settlement (结算): 2206 / 2207 / 2208 for outpatient visits, 2303 / 2304 / 2305 for admissions.
//!
//! One shape for both: select the lines to settle → build a [`Claim`] from the person's account,
//! accumulators and the visit → `wugan_policy::adjudicate` → apply (balance, the family payer's
//! balance, accumulators, line states) inside the caller's critical section (the center's lock),
//! so two settlements of one person can never both spend the same cap room. A cancellation applies
//! the stored deltas in reverse, exactly.
//!
//! 5203 reads a stored settlement back (by `setl_id`, or the latest of a visit).
//!
//! Outpatient: `chrg_bchno` names the batch to settle; "0000" or empty settles every unsettled line.
//! Inpatient: every unsettled line; `mid_setl_flag` 1 is an interim settlement (中途结算) that leaves
//! the admission open, else the final one, which needs the discharge (2402) first. A per-admission
//! deductible is charged once per admission across its settlements.

use crate::ctx::{Ctx, Kind};
use crate::error::TxError;
use crate::input::{check_same, opt_text, opt_yuan, req_text};
use crate::lookup::{already_settled, insured, not_found, special_disease_registered, visit_of_kind};
use crate::person::Person;
use crate::state::{FeeRecord, FeeStatus, ReplyStore, Settlement, State, Visit};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use wugan_domain::money::Fen;
use wugan_policy::decimal::parse_flag;
use wugan_policy::{adjudicate, Acct, Adjudication, Claim, ClaimPerson, ClaimVisit, SetlAmounts, Ytd};

/// A settlement computed but not applied.
struct Prepared {
    mdtrt_id: String,
    /// 就诊凭证类型 at registration, when the settlement request does not repeat it.
    mdtrt_cert_type: Option<String>,
    psn_no: String,
    med_type: String,
    clr_type: &'static str,
    year: i32,
    mid: bool,
    /// Indexes of the settled lines in `visit.fees`.
    lines: Vec<usize>,
    mulaid_payer: Option<String>,
    adj: Adjudication,
}

impl Prepared {
    fn head(&self, data: &Value) -> Head<'_> {
        Head {
            mdtrt_id: &self.mdtrt_id,
            med_type: &self.med_type,
            clr_type: self.clr_type,
            mdtrt_cert_type: opt_text(data, "mdtrt_cert_type").or_else(|| self.mdtrt_cert_type.clone()),
        }
    }
}

fn prepare(state: &State, ctx: &Ctx, data: &Value, kind: Kind) -> Result<Prepared, TxError> {
    let mdtrt_id = req_text(data, "mdtrt_id")?;
    let visit = visit_of_kind(state, &mdtrt_id, kind)?;
    check_same(data, "psn_no", &visit.psn_no)?;
    check_same(data, "insutype", &visit.insutype)?;
    let account = insured(state, &visit.psn_no)?;
    let mid = kind == Kind::Inpatient && flag(data, "mid_setl_flag")?;
    check_stage(visit, &mdtrt_id, mid)?;
    let lines = select_lines(visit, data, kind, &mdtrt_id)?;
    let fees: Vec<&FeeRecord> = lines.iter().filter_map(|&i| visit.fees.get(i)).collect();
    check_medfee(data, &fees)?;
    let med_type = opt_text(data, "med_type").or_else(|| visit.med_type.clone()).unwrap_or_else(|| default_med_type(kind));
    special_disease_registered(state, &visit.psn_no, &med_type, visit.begndate)?;
    let acct_used = flag(data, "acct_used_flag")?;
    let year = visit.begndate.year;
    let claim = Claim {
        person: ClaimPerson {
            insutype: visit.insutype.clone(),
            psn_type: account.person.psn_type.clone(),
            age: Some(account.person.age_on(visit.begndate)),
            insuplc_admdvs: Some(account.person.insuplc_admdvs.clone()),
            idet_types: account.person.idet_types.clone(),
        },
        visit: ClaimVisit {
            med_type: med_type.clone(),
            hosp_grade: state.grade_of(&visit.fixmedins_code),
            mdtrtarea_admvs: Some(ctx.admdvs.to_string()),
            date: visit.begndate,
            admissions_this_year: Some(admission_no(state, &visit.psn_no, &mdtrt_id, year)),
            admission_dedc_paid: admission_dedc_paid(state, visit),
        },
        ytd: account.ytd.get(&year).copied().unwrap_or_default(),
        acct: Acct { used: acct_used, balc: account.balc, mulaid_balc: state.mulaid_balc(&visit.psn_no) },
        fees: fees.iter().map(|f| f.line.clone()).collect(),
    };
    let adj = adjudicate(&claim, ctx.policy)?;
    let clr_type = if kind == Kind::Inpatient || adj.trace.benefit == "inpatient" { "21" } else { "11" };
    Ok(Prepared {
        mdtrt_id,
        mdtrt_cert_type: visit.mdtrt_cert_type.clone(),
        psn_no: visit.psn_no.clone(),
        med_type,
        clr_type,
        year,
        mid,
        lines,
        mulaid_payer: account.mulaid_payer.clone(),
        adj,
    })
}

fn default_med_type(kind: Kind) -> String {
    match kind {
        Kind::Outpatient => "11".into(),
        Kind::Inpatient => "21".into(),
    }
}

/// A 0/1 flag of the request; absent is 0.
fn flag(data: &Value, field: &str) -> Result<bool, TxError> {
    match data.get(field) {
        None => Ok(false),
        Some(v) => parse_flag(v).ok_or_else(|| TxError::new(&format!("{field} 取值错误"), format!("{field} {v} is not 0 or 1"))),
    }
}

/// An admission settles finally once discharged, in interim steps before; a finally settled
/// admission takes no more settlements until 2305.
fn check_stage(visit: &Visit, mdtrt_id: &str, mid: bool) -> Result<(), TxError> {
    let Some(admission) = &visit.admission else { return Ok(()) };
    if let Some(setl_id) = &admission.final_setl_id {
        return Err(already_settled(mdtrt_id, setl_id));
    }
    match (mid, admission.discharged.is_some()) {
        (true, true) => Err(TxError::new(
            "已出院，请做出院结算",
            format!("admission {mdtrt_id} is discharged: settle finally (mid_setl_flag 0), not as an interim settlement"),
        )),
        (false, false) => Err(TxError::new(
            "未办理出院，不能出院结算",
            format!("admission {mdtrt_id} is not discharged: discharge it (2402) first, or settle as interim (mid_setl_flag 1)"),
        )),
        _ => Ok(()),
    }
}

/// Indexes of the lines to settle: the named batch's unsettled lines (outpatient, `chrg_bchno`
/// other than "0000"), else every unsettled line.
fn select_lines(visit: &Visit, data: &Value, kind: Kind, mdtrt_id: &str) -> Result<Vec<usize>, TxError> {
    let batch = match kind {
        Kind::Outpatient => opt_text(data, "chrg_bchno").filter(|b| b != "0000"),
        Kind::Inpatient => None,
    };
    let chosen: Vec<usize> = visit
        .fees
        .iter()
        .enumerate()
        .filter(|(_, f)| f.status == FeeStatus::Unsettled && batch.as_ref().is_none_or(|b| &f.chrg_bchno == b))
        .map(|(i, _)| i)
        .collect();
    if !chosen.is_empty() {
        return Ok(chosen);
    }
    if let (Kind::Outpatient, Some(setl_id)) = (kind, visit.settlements.last()) {
        return Err(already_settled(mdtrt_id, setl_id));
    }
    let what = batch.map_or(String::new(), |b| format!(" in batch {b}"));
    let upload = if kind == Kind::Outpatient { "2204" } else { "2301" };
    Err(TxError::new("无待结算的费用明细", format!("visit {mdtrt_id} has no unsettled fee lines{what} (upload with {upload} first)")))
}

/// medfee_sumamt must equal the selected lines' total: the HIS and the center agree on the bill.
fn check_medfee(data: &Value, fees: &[&FeeRecord]) -> Result<(), TxError> {
    let given = opt_yuan(data, "medfee_sumamt")?.ok_or_else(|| TxError::missing("medfee_sumamt"))?;
    let total: Fen = fees.iter().map(|f| f.result.det_item_fee_sumamt).sum();
    if given != total {
        return Err(TxError::new(
            &format!("医疗费总额 {} 与上传明细合计 {} 不符", given.to_yuan_string(), total.to_yuan_string()),
            format!("medfee_sumamt {} does not equal the uploaded fee lines' total {}", given.to_yuan_string(), total.to_yuan_string()),
        ));
    }
    Ok(())
}

/// Which admission of the year this is (1 = first): admissions of the person settled (and not
/// cancelled) this year before this one first settled. Interim settlements of one admission
/// count once; a cancelled settlement does not count.
fn admission_no(state: &State, psn_no: &str, mdtrt_id: &str, year: i32) -> u32 {
    let mut first_at: HashMap<&str, usize> = HashMap::new();
    for (order, s) in state.settlements_of(psn_no).enumerate() {
        if !s.cancelled && s.year == year && s.clr_type == "21" {
            first_at.entry(s.mdtrt_id.as_str()).or_insert(order);
        }
    }
    let mine = first_at.get(mdtrt_id).copied().unwrap_or(usize::MAX);
    let before = first_at.iter().filter(|(id, &at)| **id != mdtrt_id && at < mine).count();
    u32::try_from(before).unwrap_or(u32::MAX - 1).saturating_add(1)
}

/// 起付线 already charged by this admission's settlements in force (中途结算).
fn admission_dedc_paid(state: &State, visit: &Visit) -> Fen {
    visit.settlements.iter().filter_map(|id| state.settlement(id)).map(|s| s.amounts.act_pay_dedc).sum()
}

/// 2206 / 2303: the same computation as the settlement; changes nothing.
pub fn pre_settle(state: &mut State, ctx: &Ctx, kind: Kind) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let p = prepare(state, ctx, data, kind)?;
    let account = state.accounts.get(&p.psn_no).ok_or_else(not_found)?;
    let setlinfo = setlinfo(ctx, &p.head(data), &account.person, &p.adj.setlinfo, None);
    Ok(json!({"setlinfo": setlinfo, "setldetail": p.adj.setldetail}))
}

/// 2207 / 2304.
pub fn settle(state: &mut State, ctx: &Ctx, kind: Kind) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let p = prepare(state, ctx, data, kind)?;
    check_hospital_split(data, &p.adj.setlinfo)?;
    let setl_id = format!("{}{}{:010}", ctx.admdvs, ctx.now.ymd(), state.next_seq());
    let s = &p.adj.setlinfo;
    let ytd_before = debit(state, &p)?;
    let account = state.accounts.get(&p.psn_no).ok_or_else(not_found)?;
    let mut info = setlinfo(ctx, &p.head(data), &account.person, s, Some(&setl_id));
    if let (Kind::Inpatient, Value::Object(map)) = (kind, &mut info) {
        map.insert("mid_setl_flag".into(), json!(if p.mid { "1" } else { "0" }));
    }
    let output = json!({"setlinfo": info, "setldetail": p.adj.setldetail});
    mark_settled(state, &p, &setl_id);
    state.settled_by_msgid.insert(ReplyStore::key(&ctx.env.fixmedins_code, &ctx.env.msgid), setl_id.clone());
    let fixmedins_code = state.visits.get(&p.mdtrt_id).map(|v| v.fixmedins_code.clone()).unwrap_or_default();
    state.push_settlement(Settlement {
        setl_id,
        mdtrt_id: p.mdtrt_id.clone(),
        psn_no: p.psn_no.clone(),
        fixmedins_code,
        med_type: p.med_type.clone(),
        clr_type: p.clr_type.to_string(),
        mdtrt_cert_type: opt_text(data, "mdtrt_cert_type").or_else(|| p.mdtrt_cert_type.clone()),
        setl_time: ctx.now.datetime(),
        amounts: *s,
        detail: p.adj.setldetail.clone(),
        year: p.year,
        ytd_delta: p.adj.ytd.minus(&ytd_before),
        inpatient: kind == Kind::Inpatient,
        mid_setl: p.mid,
        mulaid_payer: p.mulaid_payer.clone().filter(|_| s.acct_mulaid_pay != Fen::ZERO),
        cancelled: false,
        output: output.clone(),
        sent_fields: sent_fields(data),
    });
    Ok(output)
}

/// The names of the request's `data` fields, sorted, comma-separated.
fn sent_fields(data: &Value) -> Box<str> {
    let mut names: Vec<&str> = data.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
    names.sort_unstable();
    names.join(",").into()
}

/// Debits the account (own part), the family payer (共济 part) and moves the accumulators; returns
/// the accumulators before.
fn debit(state: &mut State, p: &Prepared) -> Result<Ytd, TxError> {
    let s = &p.adj.setlinfo;
    let account = state.accounts.get_mut(&p.psn_no).ok_or_else(not_found)?;
    let ytd_before = account.ytd.get(&p.year).copied().unwrap_or_default();
    account.balc -= s.acct_pay - s.acct_mulaid_pay;
    account.ytd.insert(p.year, p.adj.ytd);
    if let Some(payer) = p.mulaid_payer.as_ref().and_then(|id| state.accounts.get_mut(id)) {
        payer.balc -= s.acct_mulaid_pay;
    }
    Ok(ytd_before)
}

fn mark_settled(state: &mut State, p: &Prepared, setl_id: &str) {
    let Some(visit) = state.visits.get_mut(&p.mdtrt_id) else { return };
    for &i in &p.lines {
        if let Some(fee) = visit.fees.get_mut(i) {
            fee.status = FeeStatus::Settled(setl_id.to_string());
        }
    }
    visit.settlements.push(setl_id.to_string());
    if let (Some(admission), false) = (visit.admission.as_mut(), p.mid) {
        admission.final_setl_id = Some(setl_id.to_string());
    }
}

/// 2207 / 2304 may repeat the pre-settlement split (fulamt_ownpay_amt …); when they do, it must agree.
fn check_hospital_split(data: &Value, s: &SetlAmounts) -> Result<(), TxError> {
    let fields = [
        ("fulamt_ownpay_amt", s.fulamt_ownpay_amt),
        ("overlmt_selfpay", s.overlmt_selfpay),
        ("preselfpay_amt", s.preselfpay_amt),
        ("inscp_scp_amt", s.inscp_scp_amt),
    ];
    for (field, computed) in fields {
        if let Some(given) = opt_yuan(data, field)? {
            if given != computed {
                return Err(TxError::new(
                    &format!("{field} {} 与中心计算 {} 不符", given.to_yuan_string(), computed.to_yuan_string()),
                    format!("{field} {} differs from the center's {}", given.to_yuan_string(), computed.to_yuan_string()),
                ));
            }
        }
    }
    Ok(())
}

/// 2208 / 2305: reverses one settlement exactly (balances, family payer, accumulators). An
/// admission's settlements are cancelled newest first; its lines return to unsettled (the HIS may
/// settle again). An outpatient settlement's lines are cancelled (the HIS uploads again).
pub fn cancel(state: &mut State, ctx: &Ctx, kind: Kind) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let setl_id = req_text(data, "setl_id")?;
    let setl = cancellable(state, data, &setl_id, kind)?;
    cancel_settlement(state, ctx, setl, kind)
}

/// 2601 冲正交易: undoes an earlier message of the same hospital, named by its msgid (`omsgid`)
/// and infno (`oinfno`), as HIS software does when it lost the answer to a 2207 and will not ask.
/// A 2207 that settled is cancelled as a 2208 would cancel it (its shares given back exactly); its
/// record then reads cancelled (5203). Only a 2207 is reversed here; a message that was refused or
/// is unknown, or another person's, is refused, and so is a settlement already cancelled.
pub fn reverse(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let (omsgid, oinfno, psn_no) = (req_text(data, "omsgid")?, req_text(data, "oinfno")?, req_text(data, "psn_no")?);
    if oinfno != "2207" {
        return Err(TxError::new(&format!("不支持冲正该交易 {oinfno}"), format!("only a 2207 can be reversed here, not {oinfno}")));
    }
    let settled = state.settled_by_msgid.get(&ReplyStore::key(&ctx.env.fixmedins_code, &omsgid));
    let Some(setl) = settled.and_then(|setl_id| state.settlement(setl_id)).filter(|s| !s.inpatient) else {
        return Err(TxError::new("原交易不存在或未成功", format!("no successful {oinfno} with msgid {omsgid}: nothing to reverse")));
    };
    let setl_id = setl.setl_id.clone();
    let asked = json!({"mdtrt_id": setl.mdtrt_id, "psn_no": psn_no});
    let setl = cancellable(state, &asked, &setl_id, Kind::Outpatient)?;
    cancel_settlement(state, ctx, setl, Kind::Outpatient)?;
    Ok(json!({}))
}

/// A settlement cancelled: its shares given back, its lines unsettled; the cancellation record.
fn cancel_settlement(state: &mut State, ctx: &Ctx, setl: Settlement, kind: Kind) -> Result<Value, TxError> {
    let setl_id = setl.setl_id.clone();
    credit(state, &setl)?;
    let cancel_id = format!("{}{}{:010}", ctx.admdvs, ctx.now.ymd(), state.next_seq());
    unmark(state, &setl, kind);
    if let Some(&i) = state.settlement_index.get(&setl_id) {
        state.settlements[i].cancelled = true;
    }
    let account = state.accounts.get(&setl.psn_no).ok_or_else(not_found)?;
    let mut reversal = setl.amounts.negated();
    reversal.balc = account.balc;
    let head = Head {
        mdtrt_id: &setl.mdtrt_id,
        med_type: &setl.med_type,
        clr_type: &setl.clr_type,
        mdtrt_cert_type: setl.mdtrt_cert_type.clone(),
    };
    let mut info = setlinfo(ctx, &head, &account.person, &reversal, Some(&cancel_id));
    if let Value::Object(map) = &mut info {
        map.insert("init_setl_id".into(), json!(setl_id));
    }
    let detail: Vec<_> = setl.detail.iter().map(|d| d.negated()).collect();
    Ok(json!({"setlinfo": info, "setldetail": detail}))
}

fn cancellable(state: &State, data: &Value, setl_id: &str, kind: Kind) -> Result<Settlement, TxError> {
    let setl = state.settlement(setl_id).ok_or_else(|| TxError::new("结算ID不存在", format!("unknown setl_id {setl_id}")))?;
    check_same(data, "mdtrt_id", &setl.mdtrt_id)?;
    check_same(data, "psn_no", &setl.psn_no)?;
    if setl.cancelled {
        return Err(TxError::new("该结算已撤销", format!("settlement {setl_id} is already cancelled")));
    }
    match (kind, setl.inpatient) {
        (Kind::Outpatient, true) => {
            return Err(TxError::new("住院结算请用2305撤销", format!("settlement {setl_id} is inpatient: cancel it with 2305")))
        }
        (Kind::Inpatient, false) => {
            return Err(TxError::new("门诊结算请用2208撤销", format!("settlement {setl_id} is outpatient: cancel it with 2208")))
        }
        _ => {}
    }
    let latest = state.visits.get(&setl.mdtrt_id).and_then(|v| v.settlements.last());
    if kind == Kind::Inpatient && latest.is_some_and(|last| last != setl_id) {
        return Err(TxError::new(
            "请先撤销该住院的后续结算",
            format!("cancel the admission's later settlement {} first (newest first)", latest.map_or("", String::as_str)),
        ));
    }
    Ok(setl.clone())
}

fn credit(state: &mut State, setl: &Settlement) -> Result<(), TxError> {
    let a = &setl.amounts;
    let account = state.accounts.get_mut(&setl.psn_no).ok_or_else(not_found)?;
    account.balc += a.acct_pay - a.acct_mulaid_pay;
    let ytd = account.ytd.entry(setl.year).or_default();
    *ytd = ytd.minus(&setl.ytd_delta);
    if let Some(payer) = setl.mulaid_payer.as_ref().and_then(|id| state.accounts.get_mut(id)) {
        payer.balc += a.acct_mulaid_pay;
    }
    Ok(())
}

fn unmark(state: &mut State, setl: &Settlement, kind: Kind) {
    let Some(visit) = state.visits.get_mut(&setl.mdtrt_id) else { return };
    visit.settlements.retain(|id| id != &setl.setl_id);
    if let Some(admission) = visit.admission.as_mut().filter(|a| a.final_setl_id.as_deref() == Some(setl.setl_id.as_str())) {
        admission.final_setl_id = None;
    }
    let after = match kind {
        Kind::Outpatient => FeeStatus::Cancelled,
        Kind::Inpatient => FeeStatus::Unsettled,
    };
    let settled = FeeStatus::Settled(setl.setl_id.clone());
    for fee in visit.fees.iter_mut().filter(|f| f.status == settled) {
        fee.status = after.clone();
    }
}

/// 5203 结算信息查询: the stored 2207 output by `setl_id`, or by `mdtrt_id` alone (the latest
/// settlement of the visit) for a caller whose 2207 reply was lost before it learnt the setl_id.
/// `refd_setl_flag` is "1" when the settlement has since been cancelled (2208), else "0".
pub fn query(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
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
struct Head<'a> {
    mdtrt_id: &'a str,
    med_type: &'a str,
    clr_type: &'a str,
    mdtrt_cert_type: Option<String>,
}

/// The `setlinfo` object: person and visit fields, then the engine's amounts (national names).
fn setlinfo(ctx: &Ctx, head: &Head, person: &Person, amounts: &SetlAmounts, setl_id: Option<&str>) -> Value {
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
    put("naty", json!(person.naty_code()));
    put("brdy", json!(person.brdy));
    put("age", json!(person.age_on(ctx.now.date())));
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
