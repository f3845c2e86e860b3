//! Double-entry ledger rules (复式记账), in the shape of TigerBeetle's transfers.
//!
//! A transfer moves a positive amount from one account (debited) to another (credited), so every
//! transfer is balanced by construction: Σ debits = Σ credits over the whole ledger, always.
//! Transfers are written once and never edited; a correction is a new transfer. A transfer's id is
//! derived from its business key (settlement + step), so a retried step cannot post twice.
//!
//! Holds are two-phase: a *pending* transfer reserves the amount on both accounts; it is later
//! *posted* (possibly for less) or *voided*.

use crate::money::Fen;
use serde::{Deserialize, Serialize};

/// How an account's balance may move. Checked when a transfer is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountLimit {
    /// Any balance (fund pools, clearing, receivables).
    None,
    /// Debits (posted + pending) may never exceed credits posted: the account never goes below zero.
    DebitsWithinCredits,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    /// Posted at once.
    Posted,
    /// A hold: reserved on both accounts until posted or voided.
    Pending,
    /// Posts a pending transfer, for its amount or less; the rest of the hold is released.
    PostPending,
    /// Releases a pending transfer entirely.
    VoidPending,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Posted => "posted",
            TransferKind::Pending => "pending",
            TransferKind::PostPending => "post_pending",
            TransferKind::VoidPending => "void_pending",
        }
    }

    pub fn parse(s: &str) -> Option<TransferKind> {
        Some(match s {
            "posted" => TransferKind::Posted,
            "pending" => TransferKind::Pending,
            "post_pending" => TransferKind::PostPending,
            "void_pending" => TransferKind::VoidPending,
            _ => return None,
        })
    }
}

/// A transfer as the application asks for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Derived from the business key, e.g. `settle:{settlement}:fund`. Unique in the ledger.
    pub id: String,
    pub debit_account: String,
    pub credit_account: String,
    pub amount: Fen,
    pub kind: TransferKind,
    /// For `PostPending` / `VoidPending`: the id of the pending transfer.
    pub pending_id: Option<String>,
    /// What the money is for, in the domain's words ("fund_share", "bank_share", ...).
    pub code: String,
}

/// The running totals of one account. Balance as seen by the account's owner is
/// `credits_posted - debits_posted`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountBalance {
    pub debits_pending: Fen,
    pub debits_posted: Fen,
    pub credits_pending: Fen,
    pub credits_posted: Fen,
}

impl AccountBalance {
    pub fn net_posted(&self) -> Fen {
        self.credits_posted - self.debits_posted
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("transfer {0}: amount must be positive")]
    NonPositiveAmount(String),
    #[error("transfer {0}: debit and credit account are the same")]
    SameAccount(String),
    #[error("transfer {0}: account {1} would exceed its limit")]
    ExceedsLimit(String, String),
    #[error("transfer {0}: pending transfer is missing, already posted or voided")]
    PendingNotOpen(String),
    #[error("transfer {0}: posts more than was held")]
    PostExceedsPending(String),
}

/// Checks the shape of a new transfer before it is written.
pub fn validate(t: &Transfer) -> Result<(), LedgerError> {
    if t.debit_account == t.credit_account {
        return Err(LedgerError::SameAccount(t.id.clone()));
    }
    match t.kind {
        TransferKind::VoidPending => Ok(()),
        _ if !t.amount.is_positive() => Err(LedgerError::NonPositiveAmount(t.id.clone())),
        _ => Ok(()),
    }
}

/// How one transfer moves the totals of each of its two accounts: the debited account's
/// `debits_*` and the credited account's `credits_*` change by the same amounts. The one place the
/// balance arithmetic lives; the stores add these deltas in SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delta {
    pub posted: Fen,
    pub pending: Fen,
}

/// The balance change a transfer makes. `pending_amount` is the amount of the open pending
/// transfer for `PostPending`/`VoidPending` (what was held, released in full; a post moves its own
/// amount, at most what was held, to posted).
pub fn delta(t: &Transfer, pending_amount: Option<Fen>) -> Result<Delta, LedgerError> {
    validate(t)?;
    let held = || pending_amount.ok_or_else(|| LedgerError::PendingNotOpen(t.id.clone()));
    Ok(match t.kind {
        TransferKind::Posted => Delta { posted: t.amount, pending: Fen::ZERO },
        TransferKind::Pending => Delta { posted: Fen::ZERO, pending: t.amount },
        TransferKind::PostPending => {
            let held = held()?;
            if t.amount > held {
                return Err(LedgerError::PostExceedsPending(t.id.clone()));
            }
            Delta { posted: t.amount, pending: Fen::ZERO - held }
        }
        TransferKind::VoidPending => Delta { posted: Fen::ZERO, pending: Fen::ZERO - held()? },
    })
}

/// Applies a transfer's effect to the two accounts it touches.
/// `pending_amount` is the amount of the open pending transfer for `PostPending`/`VoidPending`.
pub fn apply(
    t: &Transfer,
    debit: &mut AccountBalance,
    debit_limit: AccountLimit,
    credit: &mut AccountBalance,
    pending_amount: Option<Fen>,
) -> Result<(), LedgerError> {
    let d = delta(t, pending_amount)?;
    debit.debits_posted += d.posted;
    debit.debits_pending += d.pending;
    credit.credits_posted += d.posted;
    credit.credits_pending += d.pending;
    if debit_limit == AccountLimit::DebitsWithinCredits && debit.debits_posted + debit.debits_pending > debit.credits_posted {
        return Err(LedgerError::ExceedsLimit(t.id.clone(), t.debit_account.clone()));
    }
    Ok(())
}

/// The trial balance (试算平衡): over every account, Σ debits = Σ credits, pending and posted alike.
pub fn is_balanced<'a>(accounts: impl IntoIterator<Item = &'a AccountBalance>) -> bool {
    let (mut d, mut c, mut dp, mut cp) = (0i128, 0i128, 0i128, 0i128);
    for a in accounts {
        d += a.debits_posted.0 as i128;
        c += a.credits_posted.0 as i128;
        dp += a.debits_pending.0 as i128;
        cp += a.credits_pending.0 as i128;
    }
    d == c && dp == cp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(kind: TransferKind, amount: i64) -> Transfer {
        Transfer {
            id: "t".into(),
            debit_account: "a".into(),
            credit_account: "b".into(),
            amount: Fen(amount),
            kind,
            pending_id: None,
            code: "test".into(),
        }
    }

    #[test]
    fn a_hold_then_partial_post_releases_the_rest() {
        let (mut a, mut b) = (AccountBalance::default(), AccountBalance::default());
        apply(&transfer(TransferKind::Pending, 500), &mut a, AccountLimit::None, &mut b, None).unwrap();
        assert_eq!(a.debits_pending, Fen(500));
        apply(&transfer(TransferKind::PostPending, 300), &mut a, AccountLimit::None, &mut b, Some(Fen(500))).unwrap();
        assert_eq!((a.debits_pending, a.debits_posted, b.credits_posted), (Fen(0), Fen(300), Fen(300)));
        assert!(is_balanced([&a, &b]));
    }

    #[test]
    fn posting_more_than_held_is_refused() {
        let (mut a, mut b) = (AccountBalance::default(), AccountBalance::default());
        let err = apply(&transfer(TransferKind::PostPending, 600), &mut a, AccountLimit::None, &mut b, Some(Fen(500)));
        assert_eq!(err, Err(LedgerError::PostExceedsPending("t".into())));
    }

    #[test]
    fn a_limited_account_never_goes_below_zero() {
        let mut a = AccountBalance { credits_posted: Fen(100), ..Default::default() };
        let mut b = AccountBalance::default();
        assert!(apply(&transfer(TransferKind::Posted, 101), &mut a, AccountLimit::DebitsWithinCredits, &mut b, None).is_err());
        let mut a = AccountBalance { credits_posted: Fen(100), ..Default::default() };
        assert!(apply(&transfer(TransferKind::Posted, 100), &mut a, AccountLimit::DebitsWithinCredits, &mut b, None).is_ok());
    }

    #[test]
    fn zero_and_self_transfers_are_refused() {
        assert!(validate(&transfer(TransferKind::Posted, 0)).is_err());
        let mut t = transfer(TransferKind::Posted, 1);
        t.credit_account = "a".into();
        assert!(validate(&t).is_err());
    }
}
