//! 个人账户还款: the insurance personal account repays the patient's credit line, as a pure state
//! machine like the settlement saga. The insurance center debits the personal account (9901),
//! then the bank posts the repayment naming that debit; if the bank refuses, the debit is undone
//! (9902) so the patient keeps their money.
//!
//! ```text
//! started ─9901→ account_debited ─bank repayment→ posted
//!    └ refused → failed            └ refused → returning ─9902→ returned
//! ```

use crate::ledger::Transfer;
use crate::money::Fen;
use serde::{Deserialize, Serialize};

/// Where a personal-account repayment stands, with the facts known there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RepaymentStage {
    /// Written; next: 9901 debits the personal account.
    Started,
    /// The personal account is debited (`txn_id` is the insurance center's record); next: the bank.
    AccountDebited { txn_id: String },
    /// The bank applied the repayment. Final.
    Posted { txn_id: String },
    /// The bank refused after the debit; next: 9902 undoes the debit.
    Returning { txn_id: String, failure: String },
    /// The debit is undone; the patient's personal account is whole again. Final.
    Returned { txn_id: String, failure: String },
    /// Refused before any money moved. Final.
    Failed { failure: String },
}

impl RepaymentStage {
    pub fn state(&self) -> &'static str {
        match self {
            RepaymentStage::Started => "started",
            RepaymentStage::AccountDebited { .. } => "account_debited",
            RepaymentStage::Posted { .. } => "posted",
            RepaymentStage::Returning { .. } => "returning",
            RepaymentStage::Returned { .. } => "returned",
            RepaymentStage::Failed { .. } => "failed",
        }
    }

    /// Rebuilds a stage from its stored columns; `None` when they do not describe one.
    pub fn from_parts(state: &str, txn_id: Option<String>, failure: Option<String>) -> Option<RepaymentStage> {
        Some(match (state, txn_id, failure) {
            ("started", _, _) => RepaymentStage::Started,
            ("account_debited", Some(txn_id), _) => RepaymentStage::AccountDebited { txn_id },
            ("posted", Some(txn_id), _) => RepaymentStage::Posted { txn_id },
            ("returning", Some(txn_id), Some(failure)) => RepaymentStage::Returning { txn_id, failure },
            ("returned", Some(txn_id), Some(failure)) => RepaymentStage::Returned { txn_id, failure },
            ("failed", _, Some(failure)) => RepaymentStage::Failed { failure },
            _ => return None,
        })
    }

    pub fn txn_id(&self) -> Option<&str> {
        match self {
            RepaymentStage::AccountDebited { txn_id }
            | RepaymentStage::Posted { txn_id }
            | RepaymentStage::Returning { txn_id, .. }
            | RepaymentStage::Returned { txn_id, .. } => Some(txn_id),
            _ => None,
        }
    }

    pub fn failure(&self) -> Option<&str> {
        match self {
            RepaymentStage::Returning { failure, .. } | RepaymentStage::Returned { failure, .. } | RepaymentStage::Failed { failure } => {
                Some(failure)
            }
            _ => None,
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(self, RepaymentStage::Posted { .. } | RepaymentStage::Returned { .. } | RepaymentStage::Failed { .. })
    }
}

/// The call that moves a repayment on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepaymentCall {
    /// 9901: debit the personal account.
    DebitAccount,
    /// The bank posts the repayment, naming the insurance center's debit.
    PostRepayment { txn_id: String },
    /// 9902: undo the debit.
    UndoDebit { txn_id: String },
}

/// A repayment call's outcome. As in the settlement saga, only a business decision is a refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepaymentOutcome {
    /// 9901 done: the insurance center's transaction id.
    Debited {
        txn_id: String,
    },
    /// The bank posted it, or 9902 undid the debit.
    Done,
    Refused {
        message: String,
    },
    Unknown,
}

/// Who a repayment concerns, for naming ledger accounts.
#[derive(Clone, Debug)]
pub struct RepaymentParties<'a> {
    pub repayment_id: &'a str,
    pub psn_no: &'a str,
    pub bank_code: &'a str,
    pub bank_agreement_id: &'a str,
    pub amount: Fen,
}

pub fn next_call(stage: &RepaymentStage) -> Option<RepaymentCall> {
    match stage {
        RepaymentStage::Started => Some(RepaymentCall::DebitAccount),
        RepaymentStage::AccountDebited { txn_id } => Some(RepaymentCall::PostRepayment { txn_id: txn_id.clone() }),
        RepaymentStage::Returning { txn_id, .. } => Some(RepaymentCall::UndoDebit { txn_id: txn_id.clone() }),
        _ => None,
    }
}

/// A repayment the request that created it may refuse before any call: more than the line owes.
/// A resumed repayment is never refused this way (its 9901 may already have been sent).
pub fn refuse_over_debt(amount: Fen, debt: Fen) -> Option<RepaymentStage> {
    (amount > debt).then(|| RepaymentStage::Failed { failure: format!("{OVER_DEBT}{debt}; a repayment of {amount} is more than that") })
}

/// How [`refuse_over_debt`]'s failure begins: a stage is kept as its state and failure text, so
/// the text is what tells the hub's own refusal from the insurance center's.
const OVER_DEBT: &str = "the credit line owes ";

/// Whether the repayment failed as more than the line owes (the hub's refusal, no call made).
pub fn failed_over_debt(stage: &RepaymentStage) -> bool {
    matches!(stage, RepaymentStage::Failed { failure } if failure.starts_with(OVER_DEBT))
}

/// The stage after an outcome, with the ledger transfer it posts (only the bank's posting moves
/// money in the hub's ledger: personal account → bank agreement). `None` for an outcome that
/// does not answer the stage's call; the caller treats that as a confused partner.
pub fn apply(stage: &RepaymentStage, parties: &RepaymentParties<'_>, outcome: RepaymentOutcome) -> Option<(RepaymentStage, Vec<Transfer>)> {
    use RepaymentOutcome as O;
    use RepaymentStage as S;
    let to = |s: RepaymentStage| Some((s, Vec::new()));
    match (stage, outcome) {
        (s, O::Unknown) if !s.is_final() => to(s.clone()),
        (S::Started, O::Debited { txn_id }) if !txn_id.is_empty() => to(S::AccountDebited { txn_id }),
        (S::Started, O::Refused { message }) => to(S::Failed { failure: format!("the insurance center refused the debit: {message}") }),
        (S::AccountDebited { txn_id }, O::Done) => Some((S::Posted { txn_id: txn_id.clone() }, vec![transfer(parties)])),
        (S::AccountDebited { txn_id }, O::Refused { message }) => {
            to(S::Returning { txn_id: txn_id.clone(), failure: format!("the bank refused the repayment: {message}") })
        }
        (S::Returning { txn_id, failure }, O::Done) => to(S::Returned { txn_id: txn_id.clone(), failure: failure.clone() }),
        _ => None,
    }
}

fn transfer(p: &RepaymentParties<'_>) -> Transfer {
    crate::settlement::account_repayment_transfer(p.repayment_id, p.psn_no, p.bank_code, p.bank_agreement_id, p.amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parties() -> RepaymentParties<'static> {
        RepaymentParties { repayment_id: "r1", psn_no: "P1", bank_code: "B", bank_agreement_id: "A1", amount: Fen(500) }
    }

    /// Outcomes in order → (final state, transfers posted)
    fn check(outcomes: Vec<RepaymentOutcome>, expect: (&str, usize)) {
        let p = parties();
        let mut stage = RepaymentStage::Started;
        let mut posted = 0;
        for outcome in outcomes {
            assert!(next_call(&stage).is_some(), "a call is due in {stage:?}");
            let (next, transfers) = apply(&stage, &p, outcome).expect("a valid outcome");
            posted += transfers.len();
            stage = next;
            let (state, txn, failure) = (stage.state(), stage.txn_id().map(str::to_string), stage.failure().map(str::to_string));
            assert_eq!(RepaymentStage::from_parts(state, txn, failure), Some(stage.clone()), "round trip through columns");
        }
        assert_eq!((stage.state(), posted), expect);
    }

    #[test]
    fn a_repayment_from_the_personal_account_moves_money_once_or_not_at_all() {
        use RepaymentOutcome::*;
        let debited = || Debited { txn_id: "T1".into() };
        let refused = || Refused { message: "no".into() };
        check(vec![debited(), Done], ("posted", 1));
        check(vec![Unknown, debited(), Unknown, Done], ("posted", 1));
        check(vec![refused()], ("failed", 0));
        check(vec![debited(), refused(), Unknown, Done], ("returned", 0));
    }

    #[test]
    fn a_confused_partner_changes_nothing() {
        let p = parties();
        assert_eq!(apply(&RepaymentStage::Started, &p, RepaymentOutcome::Done), None);
        assert_eq!(apply(&RepaymentStage::Started, &p, RepaymentOutcome::Debited { txn_id: String::new() }), None);
        assert_eq!(apply(&RepaymentStage::Posted { txn_id: "T".into() }, &p, RepaymentOutcome::Unknown), None);
        assert!(refuse_over_debt(Fen(501), Fen(500)).is_some());
        assert!(refuse_over_debt(Fen(500), Fen(500)).is_none());
    }
}
