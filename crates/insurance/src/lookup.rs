//! Finding what a transaction names in the state — a person, an insured person, a visit of the right
//! kind that is still open — or the refusal to send back.

use crate::ctx::Kind;
use crate::error::TxError;
use crate::state::{Account, State, Visit};

/// The refusal for a person the center does not know.
pub fn not_found() -> TxError {
    TxError::new("未查询到参保人员信息", "person not found")
}

/// The person, if insured: 未参保 (no insurance type) or a status other than "1" (暂停, 终止 …)
/// cannot register or settle with insurance — the hospital charges them as self-paying patients.
pub fn insured<'s>(state: &'s State, psn_no: &str) -> Result<&'s Account, TxError> {
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

/// A visit that exists and was not cancelled.
pub fn live_visit<'s>(state: &'s State, mdtrt_id: &str) -> Result<&'s Visit, TxError> {
    let visit = state.visits.get(mdtrt_id).ok_or_else(|| TxError::new("就诊ID不存在", format!("unknown mdtrt_id {mdtrt_id}")))?;
    if visit.cancelled {
        return Err(TxError::new("该就诊已撤销", format!("visit {mdtrt_id} was cancelled")));
    }
    Ok(visit)
}

/// A live visit of this kind (an admission takes 23xx/24xx, an outpatient visit 22xx).
pub fn visit_of_kind<'s>(state: &'s State, mdtrt_id: &str, kind: Kind) -> Result<&'s Visit, TxError> {
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
pub fn open_visit<'s>(state: &'s State, mdtrt_id: &str) -> Result<&'s Visit, TxError> {
    let visit = live_visit(state, mdtrt_id)?;
    if let Some(setl_id) = visit.closed_by() {
        return Err(already_settled(mdtrt_id, setl_id));
    }
    Ok(visit)
}

pub fn already_settled(mdtrt_id: &str, setl_id: &str) -> TxError {
    TxError::new(
        "该就诊已结算，请先撤销结算",
        format!("visit {mdtrt_id} is already settled (setl_id {setl_id}); cancel the settlement first"),
    )
}

/// med_type 14 (门诊慢特病) settles only under an approved registration (备案, 2503) in force on
/// the visit's date.
pub fn special_disease_registered(state: &State, psn_no: &str, med_type: &str, date: wugan_policy::Date) -> Result<(), TxError> {
    if med_type != "14" || state.online.special_disease_on(psn_no, date) {
        return Ok(());
    }
    Err(TxError::new("人员未办理门诊慢特病备案", format!("{psn_no} holds no approved special-disease registration (2503) in force")))
}
