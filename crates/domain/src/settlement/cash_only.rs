//! Settlement types (a payment platform's `setl_type`): who settles insurance and what the hub
//! charges. `All`: the hub settles insurance (2206/2207) and charges the cash share (today's mode).
//! `Cash` (cash only, the 2026 credit-payment model): the hospital settles insurance with its own
//! platform and hands the hub the platform's 2207 output; the hub checks it, charges exactly
//! `psn_cash_pay`, and books the fund and account shares as paid to the hospital outside the hub.
//! `Hi` (insurance only): the hub settles insurance and charges nothing.
//!
//! Pure decisions only: the orchestration is the hub's `app/cash_only.rs`.

use super::{InsuranceSplit, SplitError};
use crate::ledger::Transfer;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetlType {
    #[default]
    #[serde(rename = "ALL")]
    All,
    #[serde(rename = "CASH")]
    Cash,
    #[serde(rename = "HI")]
    Hi,
}

impl SetlType {
    pub fn as_str(self) -> &'static str {
        match self {
            SetlType::All => "ALL",
            SetlType::Cash => "CASH",
            SetlType::Hi => "HI",
        }
    }

    pub fn parse(s: &str) -> Option<SetlType> {
        [SetlType::All, SetlType::Cash, SetlType::Hi].into_iter().find(|t| t.as_str() == s.trim())
    }

    /// Whether the hub itself settles insurance (and so sends 2206/2207/2208, and reconciles them
    /// with the insurance center).
    pub fn hub_settles_insurance(self) -> bool {
        self != SetlType::Cash
    }

    /// The type a visit settles under: its own when it names one, else its hospital's.
    pub fn of_visit(visit: Option<SetlType>, hospital: SetlType) -> SetlType {
        visit.unwrap_or(hospital)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Split(#[from] SplitError),
    #[error("the settlement record has no setl_id")]
    NoSetlId,
    #[error("the cancellation record's setl_id {0} is the settlement's own: a cancellation has a new setl_id")]
    SameSetlId(String),
    #[error("the cancellation record does not reverse the settlement exactly: {0}")]
    NotTheReversal(String),
}

/// A platform's 2207 output as the HIS posts it, checked before anything is charged: the national
/// invariants (each share non-negative, medfee = fund + account + cash + hospital part).
pub fn check_settlement_record(setl_id: &str, split: &InsuranceSplit) -> Result<(), RecordError> {
    if setl_id.trim().is_empty() {
        return Err(RecordError::NoSetlId);
    }
    split.validate(split.medfee)?;
    Ok(())
}

/// A 2208 output (a cancellation record with its own new setl_id and negated amounts) against
/// the settlement it cancels: every amount exactly the settlement's, negated. A null amount
/// (`psn_part_amt: null`, a zero share sent as null) reads as zero, as in the settlement.
pub fn check_cancellation_record(
    original_setl_id: &str,
    original: &InsuranceSplit,
    cancel_setl_id: &str,
    reversal: &InsuranceSplit,
) -> Result<(), RecordError> {
    if cancel_setl_id.trim().is_empty() {
        return Err(RecordError::NoSetlId);
    }
    if cancel_setl_id == original_setl_id {
        return Err(RecordError::SameSetlId(cancel_setl_id.to_string()));
    }
    let pairs = [
        ("medfee_sumamt", original.medfee, reversal.medfee),
        ("fund_pay_sumamt", original.fund, reversal.fund),
        ("acct_pay", original.personal_account, reversal.personal_account),
        ("psn_cash_pay", original.cash, reversal.cash),
        ("hosp_part_amt", original.hospital_part, reversal.hospital_part),
    ];
    for (field, settled, reversed) in pairs {
        if reversed != -settled {
            return Err(RecordError::NotTheReversal(format!("{field} is {reversed}, the settlement's was {settled}")));
        }
    }
    Ok(())
}

/// The ledger of a settlement whose insurance the hospital settled itself: the fund's and the
/// personal account's shares reached the hospital outside the hub, so they are booked from
/// `insurance_outside:{hospital}` rather than from the fund pools the hub settles with. The bank's
/// share, the unpaid bill and the write-off are the same as in the hub's own mode.
pub fn settled_outside(hospital_code: &str, transfers: Vec<Transfer>) -> Vec<Transfer> {
    let outside = super::accounts::insurance_outside(hospital_code);
    transfers
        .into_iter()
        .map(|mut t| {
            match t.code.as_str() {
                "fund_share" | "personal_account_share" => t.debit_account = outside.clone(),
                "cancel_fund_share" | "cancel_personal_account_share" => t.credit_account = outside.clone(),
                _ => {}
            }
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settlement::tests::{parties, split};
    use crate::Fen;

    #[test]
    fn settlement_types_round_trip_and_say_who_settles_insurance() {
        for t in [SetlType::All, SetlType::Cash, SetlType::Hi] {
            assert_eq!(SetlType::parse(t.as_str()), Some(t));
        }
        assert_eq!(SetlType::parse("cash"), None);
        assert!(!SetlType::Cash.hub_settles_insurance());
        assert_eq!(SetlType::of_visit(None, SetlType::Cash), SetlType::Cash);
        assert_eq!(SetlType::of_visit(Some(SetlType::All), SetlType::Cash), SetlType::All);
    }

    #[test]
    fn a_posted_settlement_must_add_up() {
        assert_eq!(check_settlement_record("S1", &split(7000, 2000, 1000)), Ok(()));
        assert_eq!(check_settlement_record(" ", &split(7000, 2000, 1000)), Err(RecordError::NoSetlId));
        let mut off = split(7000, 2000, 1000);
        off.cash = Fen(1001);
        assert!(matches!(check_settlement_record("S1", &off), Err(RecordError::Split(SplitError::DoesNotAddUp { .. }))));
        assert!(matches!(check_settlement_record("S1", &split(-1, 1, 0)), Err(RecordError::Split(SplitError::Negative))));
    }

    #[test]
    fn a_cancellation_record_is_the_exact_reversal_under_a_new_id() {
        let settled = split(7000, 2000, 1000);
        let negated = InsuranceSplit {
            medfee: -settled.medfee,
            fund: -settled.fund,
            personal_account: -settled.personal_account,
            cash: -settled.cash,
            hospital_part: Fen::ZERO,
        };
        let check = |id: &str, r: &InsuranceSplit| check_cancellation_record("S1", &settled, id, r);
        assert_eq!(check("S2", &negated), Ok(()));
        assert_eq!(check("S1", &negated), Err(RecordError::SameSetlId("S1".into())));
        assert_eq!(check("", &negated), Err(RecordError::NoSetlId));
        assert!(matches!(check("S2", &InsuranceSplit { cash: Fen(-999), ..negated }), Err(RecordError::NotTheReversal(_))));
        assert!(matches!(check("S2", &settled), Err(RecordError::NotTheReversal(_))));
    }

    #[test]
    fn shares_settled_outside_come_from_the_hospitals_platform_not_the_fund() {
        let p = parties();
        let s = split(7000, 2000, 1000);
        let settled = settled_outside("H1", p.settlement_transfers(&s, Fen(1000), Fen(1000)));
        let from = |code: &str| settled.iter().find(|t| t.code == code).map(|t| t.debit_account.clone());
        assert_eq!(from("fund_share").as_deref(), Some("insurance_outside:H1"));
        assert_eq!(from("personal_account_share").as_deref(), Some("insurance_outside:H1"));
        assert_eq!(from("bank_share").as_deref(), Some("bank:B:A1"));
        let cancelled = settled_outside("H1", p.cancellation_transfers(&s, Fen(1000)));
        assert!(cancelled.iter().filter(|t| t.code.starts_with("cancel_")).all(|t| t.credit_account == "insurance_outside:H1"));
    }
}
