//! 退费: a refund after the doctor's click, as a pure state machine of the saga's shape. Some
//! lines come back (a drug returned, an examination not done): insurance reverses the settlement
//! (2208), the remaining lines are uploaded again (2204) and settled again (2207), and the bank
//! refunds exactly the difference to the capture that paid (credit line restored); the personal
//! account is restored by 2208 and debited again by 2207 for the remaining lines only. A full
//! refund has no remaining lines: 2208, then the whole capture back.
//!
//! ```text
//! requested ─2208→ reversed ─2204→ reuploaded ─2207→ resettled ─bank refund→ refunded
//!    └ refused (insurance keeps it)   └ (nothing remains) ─────────────────┘
//! ```
//!
//! Every call has its own request id, fixed by the refund (`{refund}:bank` at the bank, against
//! the settlement's capture), so an unknown outcome is resolved by asking again, never paid twice.

use crate::ledger::Transfer;
use crate::money::Fen;
use crate::settlement::{InsuranceSplit, Parties, SplitError};
use serde::{Deserialize, Serialize};

/// The settlement being refunded, as it was paid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Original {
    pub setl_id: String,
    pub split: InsuranceSplit,
    /// What the bank captured for it.
    pub captured: Fen,
}

/// The settlement of the remaining lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resettled {
    pub setl_id: String,
    pub split: InsuranceSplit,
}

/// How a refund ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refunded {
    pub original: Original,
    /// `None` for a full refund.
    pub resettled: Option<Resettled>,
    /// Back to the source that paid.
    pub bank_refund: Fen,
}

impl Refunded {
    /// What the hospital keeps of the visit now.
    pub fn kept(&self) -> Fen {
        self.resettled.as_ref().map_or(Fen::ZERO, |r| r.split.medfee)
    }

    /// What the patient still owes of the visit now (the bill in force, 欠费): the new cash share
    /// less what the bank's capture still pays of it, as `settled_again` posts it; nothing after a
    /// full refund. A bill left unpaid by the click is owed only up to this.
    pub fn owed(&self) -> Fen {
        self.resettled.as_ref().map_or(Fen::ZERO, |r| r.split.cash - r.split.cash.min(self.original.captured))
    }
}

/// Where a refund stands, with the facts known there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RefundStage {
    /// Written with the lines kept (`remaining`, their total); next: 2208.
    Requested { original: Original, remaining: Fen },
    /// Insurance reversed; next: upload the remaining lines again (or, with none, the bank refund).
    Reversed { original: Original, remaining: Fen },
    /// The remaining lines are on the visit again; next: 2207 on them.
    Reuploaded { original: Original, remaining: Fen },
    /// The remaining lines are settled; next: the bank refunds the difference.
    Resettled { original: Original, resettled: Resettled },
    /// Done. Final.
    Refunded(Refunded),
    /// Insurance would not reverse the settlement: nothing changed. Final.
    Refused { code: String, message: String },
}

impl RefundStage {
    pub fn state(&self) -> &'static str {
        match self {
            RefundStage::Requested { .. } => "requested",
            RefundStage::Reversed { .. } => "reversed",
            RefundStage::Reuploaded { .. } => "reuploaded",
            RefundStage::Resettled { .. } => "resettled",
            RefundStage::Refunded(_) => "refunded",
            RefundStage::Refused { .. } => "refused",
        }
    }
}

/// The one call that moves a refund on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundCall {
    /// 2208 on the original `setl_id`.
    ReverseInsurance,
    /// 2204: the remaining lines again.
    Reupload,
    /// 2207 on the remaining lines (the hub pre-settles them with 2206 first, in the same step,
    /// for the amounts 2207 carries back: `app/refunds.rs`).
    Resettle,
    /// Refund this much against the settlement's capture (bank request `{refund}:bank`).
    BankRefund { amount: Fen },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundReply {
    Reversed,
    Reuploaded,
    Resettled(Resettled),
    Refunded,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundOutcome {
    Done(RefundReply),
    Refused { code: String, message: String },
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundStep {
    pub stage: RefundStage,
    pub transfers: Vec<Transfer>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    #[error("{call:?} is not the next call in state {state}")]
    NotNext { call: RefundCall, state: &'static str },
    #[error("{reply:?} does not answer {call:?} in state {state}")]
    UnexpectedReply { call: RefundCall, reply: RefundReply, state: &'static str },
    #[error("the insurance center's figures cannot be trusted: {0}")]
    Figures(#[from] SplitError),
    /// Past 2208 nothing may be refused (the lines, the settlement, the refund are owed): a
    /// person must look.
    #[error("the partner refused {call:?} ({code}): {message}")]
    RefusedUnrefusable { call: RefundCall, code: String, message: String },
    #[error("a refund must keep less than the visit's total ({remaining} of {medfee})")]
    NothingReturned { remaining: Fen, medfee: Fen },
}

/// Starts a refund of `original` keeping lines worth `remaining` (0: a full refund).
pub fn begin(original: Original, remaining: Fen) -> Result<RefundStage, RefundError> {
    if remaining.is_negative() || remaining >= original.split.medfee {
        return Err(RefundError::NothingReturned { remaining, medfee: original.split.medfee });
    }
    Ok(RefundStage::Requested { original, remaining })
}

/// What the bank gives back: the capture less what the remaining lines' cash share still takes.
pub fn bank_refund_of(original: &Original, resettled: Option<&Resettled>) -> Fen {
    let still_paid = resettled.map_or(Fen::ZERO, |r| r.split.cash.min(original.captured));
    original.captured - still_paid
}

pub fn next_call(stage: &RefundStage) -> Option<RefundCall> {
    match stage {
        RefundStage::Requested { .. } => Some(RefundCall::ReverseInsurance),
        RefundStage::Reversed { remaining, original } if !remaining.is_positive() => {
            Some(RefundCall::BankRefund { amount: bank_refund_of(original, None) }).filter(|_| original.captured.is_positive())
        }
        RefundStage::Reversed { .. } => Some(RefundCall::Reupload),
        RefundStage::Reuploaded { .. } => Some(RefundCall::Resettle),
        RefundStage::Resettled { original, resettled } => {
            let amount = bank_refund_of(original, Some(resettled));
            amount.is_positive().then_some(RefundCall::BankRefund { amount })
        }
        RefundStage::Refunded(_) | RefundStage::Refused { .. } => None,
    }
}

/// Stages with no call due that are not final: a full refund with nothing captured, or a
/// re-settlement that leaves nothing to refund, finish without a partner.
pub fn finish_without_call(stage: &RefundStage, parties: &Parties<'_>) -> Option<RefundStep> {
    let (original, resettled) = match stage {
        RefundStage::Reversed { original, remaining } if !remaining.is_positive() && !original.captured.is_positive() => (original, None),
        RefundStage::Resettled { original, resettled } if !bank_refund_of(original, Some(resettled)).is_positive() => {
            (original, Some(resettled))
        }
        _ => return None,
    };
    let done = Refunded { original: original.clone(), resettled: resettled.cloned(), bank_refund: Fen::ZERO };
    Some(RefundStep { transfers: settled_again(parties, original, resettled), stage: RefundStage::Refunded(done) })
}

/// Applies the outcome of `call` (which must be `next_call(stage)`). `uploaded` is the total of
/// the remaining lines as the hub holds them, against which 2207's figures are checked.
pub fn apply(stage: &RefundStage, parties: &Parties<'_>, call: &RefundCall, outcome: RefundOutcome) -> Result<RefundStep, RefundError> {
    use RefundOutcome::{Done, Refused, Unknown};
    use RefundReply as R;
    use RefundStage as S;
    let state = stage.state();
    if next_call(stage).as_ref() != Some(call) {
        return Err(RefundError::NotNext { call: call.clone(), state });
    }
    let to = |stage: S| Ok(RefundStep { stage, transfers: Vec::new() });
    match (stage, outcome) {
        (_, Unknown) => to(stage.clone()),
        (S::Requested { original, remaining }, Done(R::Reversed)) => {
            // Insurance's shares go back as soon as it has reversed; the bank's when it refunds.
            let transfers = parties.reversal_transfers(&original.split, original.captured);
            let mut step = RefundStep { stage: S::Reversed { original: original.clone(), remaining: *remaining }, transfers };
            if let Some(done) = finish_without_call(&step.stage, parties) {
                step.transfers.extend(done.transfers);
                step.stage = done.stage;
            }
            Ok(step)
        }
        (S::Requested { .. }, Refused { code, message }) => to(S::Refused { code, message }),
        (S::Reversed { original, remaining }, Done(R::Reuploaded)) => {
            to(S::Reuploaded { original: original.clone(), remaining: *remaining })
        }
        (S::Reuploaded { original, remaining }, Done(R::Resettled(resettled))) => {
            resettled.split.validate(*remaining)?;
            let stage = S::Resettled { original: original.clone(), resettled };
            match finish_without_call(&stage, parties) {
                Some(done) => Ok(done),
                None => to(stage),
            }
        }
        (S::Reversed { original, remaining }, Done(R::Refunded)) if !remaining.is_positive() => {
            let amount = bank_refund_of(original, None);
            let mut transfers: Vec<Transfer> = parties.refund_transfer(amount).into_iter().collect();
            transfers.extend(settled_again(parties, original, None));
            let done = Refunded { original: original.clone(), resettled: None, bank_refund: amount };
            Ok(RefundStep { stage: S::Refunded(done), transfers })
        }
        (S::Resettled { original, resettled }, Done(R::Refunded)) => {
            let amount = bank_refund_of(original, Some(resettled));
            let mut transfers: Vec<Transfer> = parties.refund_transfer(amount).into_iter().collect();
            transfers.extend(settled_again(parties, original, Some(resettled)));
            let done = Refunded { original: original.clone(), resettled: Some(resettled.clone()), bank_refund: amount };
            Ok(RefundStep { stage: S::Refunded(done), transfers })
        }
        (_, Refused { code, message }) => Err(RefundError::RefusedUnrefusable { call: call.clone(), code, message }),
        (_, Done(reply)) => Err(RefundError::UnexpectedReply { call: call.clone(), reply, state }),
    }
}

/// What the re-settlement posts: the fund's and the account's new shares, and the part of the
/// new cash share the capture no longer covers as a bill (the capture stays with the hospital up
/// to the new cash share; the rest went back in the bank refund).
fn settled_again(parties: &Parties<'_>, original: &Original, resettled: Option<&Resettled>) -> Vec<Transfer> {
    let Some(resettled) = resettled else { return Vec::new() };
    // The capture the hospital keeps is already posted (by the original settlement): with no
    // hold, only the insurance shares and any new bill are posted.
    let kept = resettled.split.cash.min(original.captured);
    let id = format!("{}:again", parties.settlement_id);
    Parties { settlement_id: &id, ..parties.clone() }.settlement_transfers(&resettled.split, Fen::ZERO, kept)
}

#[cfg(test)]
#[path = "refund_tests.rs"]
mod tests;
