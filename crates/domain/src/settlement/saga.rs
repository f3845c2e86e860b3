//! The doctor's click (医生点击结算) as a pure state machine: given a settlement's [`Stage`],
//! [`next_call`] names the one external call that moves it on; given that call's [`Outcome`]
//! (done, refused by the partner's business decision, or unknown), [`apply`] returns the next
//! stage and the ledger transfers that go with it. The hub's orchestrator only persists a stage,
//! makes the call it names, and applies the outcome; it decides nothing.
//!
//! ```text
//! started ─2206→ authorized ─2207→ insurance_settled ─charge→ settled | settled_unpaid (declined: a bill)
//!    └ refused → failed  └ refused → failed               settled* ─cancel→ cancelling ─2208, refund→ cancelled
//! ```
//!
//! The cash share is charged in one bank call (扣款) once 2207 has made it final: nothing is held
//! before, so nothing is voided after. Settlements begun before charges existed resume on the
//! hold path they were started on: `pre_settled ─hold→ authorized ─2207→ insurance_settled
//! ─capture|void→ settled`, an insurance refusal voiding the hold before `failed`.
//!
//! Insurance only (setl_type HI, `Parties::cash_at_hospital`): no hold is ever asked, the cash
//! share is `Paid::at_hospital`, collected by the hospital itself, and a cancellation is 2208 alone.
//!
//! Each stage carries exactly the facts known at that point (no optional fields that "should" be
//! set), so an impossible combination cannot be written.

use super::{InsuranceSplit, Parties, SettlementState, SplitError};
use crate::ledger::Transfer;
use crate::money::Fen;
use serde::{Deserialize, Serialize};

/// The bank's answer to the hold on the estimated cash share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Hold {
    /// No hold was asked for: the estimate left nothing for the bank to pay.
    NotAsked,
    /// The bank holds this much (at most the amount asked).
    Approved { amount: Fen },
    /// The bank declined, with its business reason (e.g. `insufficient_limit`).
    Declined { code: String },
}

impl Hold {
    /// What is held at the bank, open until captured or voided.
    pub fn held(&self) -> Fen {
        match self {
            Hold::Approved { amount } => *amount,
            _ => Fen::ZERO,
        }
    }

    fn decline_code(&self) -> Option<String> {
        match self {
            Hold::Declined { code } => Some(code.clone()),
            _ => None,
        }
    }
}

/// What the insurance center settled (2207 结算): its settlement id and the split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Insured {
    pub setl_id: String,
    pub split: InsuranceSplit,
}

/// A settlement money moved for: insurance settled, the bank captured what it could.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paid {
    pub hold: Hold,
    pub insured: Insured,
    /// Captured at the bank on the hold (≤ held, ≤ the cash share).
    pub captured: Fen,
    /// Why the bank did not pay the whole cash share, when it did not.
    pub decline_code: Option<String>,
    /// Insurance only (setl_type HI): the cash share the hospital collects itself, at its window
    /// or its own channel; the bank is never asked for it. Zero in the other modes.
    #[serde(default)]
    pub at_hospital: Fen,
}

impl Paid {
    /// What insurance settled and the bank captured, with what neither covers: collected at the
    /// hospital (insurance only) or left as the patient's bill.
    fn of(parties: &Parties<'_>, hold: &Hold, insured: Insured, captured: Fen, decline_code: Option<String>) -> Paid {
        let rest = insured.split.cash - captured;
        let at_hospital = if parties.cash_at_hospital && rest.is_positive() { rest } else { Fen::ZERO };
        Paid { hold: hold.clone(), insured, captured, decline_code, at_hospital }
    }

    /// The part of the cash share nobody paid yet: an explicit bill for the patient.
    pub fn unpaid(&self) -> Fen {
        self.insured.split.cash - self.captured - self.at_hospital
    }
}

/// Why a settlement failed, in the domain's words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Stable machine code, e.g. `insurance_refused`.
    pub code: String,
    pub message: String,
}

/// Where a settlement stands, with the facts known there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Stage {
    /// Written; next: insurance pre-settlement (2206) for the cash estimate.
    Started,
    /// The estimate has a cash share; next: hold it at the bank.
    PreSettled { estimate_cash: Fen },
    /// The hold is answered; next: insurance settlement (2207). With `refusal`, insurance has
    /// refused it and the approved hold is to be voided before the settlement is `Failed`.
    Authorized { hold: Hold, refusal: Option<Failure> },
    /// Insurance settled (秒报销); next: capture the cash share on the hold, or void it. With
    /// `capture_declined`, the bank refused the capture and the hold is to be voided.
    InsuranceSettled { hold: Hold, insured: Insured, capture_declined: Option<String> },
    /// Everything paid.
    Settled(Paid),
    /// Insurance settled, but the bank did not pay the whole cash share: a bill.
    SettledUnpaid(Paid),
    /// Insurance refused; nothing moved (any hold was voided).
    Failed { hold: Hold, failure: Failure },
    /// Cancellation (结算撤销): next 2208, then (`insurance_reversed`) the bank refund.
    Cancelling { paid: Paid, insurance_reversed: bool },
    /// Insurance reversed, bank refunded, ledger reversed.
    Cancelled(Paid),
}

impl Stage {
    /// The state's name, as stored and shown.
    pub fn state(&self) -> SettlementState {
        match self {
            Stage::Started => SettlementState::Started,
            Stage::PreSettled { .. } => SettlementState::PreSettled,
            Stage::Authorized { .. } => SettlementState::Authorized,
            Stage::InsuranceSettled { .. } => SettlementState::InsuranceSettled,
            Stage::Settled(_) => SettlementState::Settled,
            Stage::SettledUnpaid(_) => SettlementState::SettledUnpaid,
            Stage::Failed { .. } => SettlementState::Failed,
            Stage::Cancelling { .. } => SettlementState::Cancelling,
            Stage::Cancelled(_) => SettlementState::Cancelled,
        }
    }

    /// The bank hold as it stands (held until captured or voided in a final stage).
    pub fn hold(&self) -> Option<&Hold> {
        match self {
            Stage::Started | Stage::PreSettled { .. } => None,
            Stage::Authorized { hold, .. } | Stage::InsuranceSettled { hold, .. } | Stage::Failed { hold, .. } => Some(hold),
            Stage::Settled(p) | Stage::SettledUnpaid(p) | Stage::Cancelled(p) | Stage::Cancelling { paid: p, .. } => Some(&p.hold),
        }
    }

    /// The money outcome, once insurance has settled.
    pub fn paid(&self) -> Option<&Paid> {
        match self {
            Stage::Settled(p) | Stage::SettledUnpaid(p) | Stage::Cancelled(p) | Stage::Cancelling { paid: p, .. } => Some(p),
            _ => None,
        }
    }

    /// Money still reserved at the bank for this settlement: only while the saga is between the
    /// hold and its capture or void. Every final stage holds nothing.
    pub fn open_hold(&self) -> Fen {
        match self {
            Stage::Authorized { hold, .. } | Stage::InsuranceSettled { hold, .. } => hold.held(),
            _ => Fen::ZERO,
        }
    }

    /// Settled money stands as it is (`Settled` or `SettledUnpaid`), the paid-for outcome.
    fn settled(paid: Paid) -> Stage {
        if paid.unpaid().is_positive() {
            Stage::SettledUnpaid(paid)
        } else {
            Stage::Settled(paid)
        }
    }
}

/// The one external call that moves a stage on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// Insurance pre-settlement (2206 预结算), for the cash estimate.
    PreSettle,
    /// Hold this much on the patient's bank agreement (settlements begun before charges).
    Authorize { amount: Fen },
    /// 扣款: take this much (the final cash share) from the patient's bank agreement in one call.
    Charge { amount: Fen },
    /// Insurance settlement (2207 结算).
    SettleInsurance,
    /// Capture this much on the hold.
    Capture { amount: Fen },
    /// Release the hold.
    Void,
    /// Insurance cancellation (2208 结算撤销).
    ReverseInsurance,
    /// Refund what was captured to the patient's bank agreement.
    Refund { amount: Fen },
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Call::PreSettle => write!(f, "the pre-settlement (2206)"),
            Call::Authorize { amount } => write!(f, "a hold of {amount}"),
            Call::SettleInsurance => write!(f, "the insurance settlement (2207)"),
            Call::Capture { amount } => write!(f, "a capture of {amount}"),
            Call::Charge { amount } => write!(f, "a charge of {amount}"),
            Call::Void => write!(f, "the release of the hold"),
            Call::ReverseInsurance => write!(f, "the insurance cancellation (2208)"),
            Call::Refund { amount } => write!(f, "a refund of {amount}"),
        }
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Estimated { split } => write!(f, "an estimate of {} cash", split.cash),
            Reply::Held { amount } => write!(f, "a hold of {amount}"),
            Reply::Insured(i) => write!(f, "insurance settlement {}", i.setl_id),
            Reply::Captured => write!(f, "a capture"),
            Reply::Charged => write!(f, "a charge"),
            Reply::Voided => write!(f, "a release"),
            Reply::Reversed => write!(f, "an insurance cancellation"),
            Reply::Refunded => write!(f, "a refund"),
        }
    }
}

/// What a partner did, when it did what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// 2206: the estimate.
    Estimated {
        split: InsuranceSplit,
    },
    /// The bank holds this much.
    Held {
        amount: Fen,
    },
    /// 2207: settled.
    Insured(Insured),
    Captured,
    /// The bank took the whole amount charged.
    Charged,
    Voided,
    /// 2208: reversed.
    Reversed,
    Refunded,
}

/// A call's outcome. Only a partner's business decision is a refusal: a timeout, a 5xx, an
/// unreadable reply or our own request refused by the partner's gateway is `Unknown`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done(Reply),
    Refused { code: String, message: String },
    Unknown,
}

/// The stage after an outcome, and the ledger transfers to post in the same commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub stage: Stage,
    pub transfers: Vec<Transfer>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SagaError {
    /// The partner answered something that is not an answer to the call (a bug, or a confused partner).
    #[error("{reply} does not answer {call} in state {state}")]
    UnexpectedReply { call: Call, reply: Reply, state: &'static str },
    /// A call made in a stage that does not name it.
    #[error("{call} is not the next call in state {state}")]
    NotNext { call: Call, state: &'static str },
    /// The partner's figures do not add up: nothing is posted on them.
    #[error("the insurance center's figures cannot be trusted: {0}")]
    Figures(#[from] SplitError),
    /// The bank held more than was asked.
    #[error("the bank held {held} but {asked} was asked")]
    OverHold { held: Fen, asked: Fen },
    /// A partner refused a call it may not refuse (a refund, 2208 after the refund): a person must look.
    #[error("the partner refused {call} ({code}): {message}")]
    RefusedUnrefusable { call: Call, code: String, message: String },
}

/// The call that moves `stage` on, or `None` in a final stage.
pub fn next_call(stage: &Stage) -> Option<Call> {
    match stage {
        Stage::Started => Some(Call::PreSettle),
        Stage::PreSettled { estimate_cash } => Some(Call::Authorize { amount: *estimate_cash }),
        Stage::Authorized { refusal: None, .. } => Some(Call::SettleInsurance),
        Stage::Authorized { refusal: Some(_), .. } => Some(Call::Void),
        Stage::InsuranceSettled { hold: Hold::NotAsked, insured, .. } => Some(Call::Charge { amount: insured.split.cash }),
        Stage::InsuranceSettled { hold, insured, capture_declined: None } => {
            let amount = insured.split.cash.min(hold.held());
            Some(if amount.is_positive() { Call::Capture { amount } } else { Call::Void })
        }
        Stage::InsuranceSettled { capture_declined: Some(_), .. } => Some(Call::Void),
        Stage::Cancelling { insurance_reversed: false, .. } => Some(Call::ReverseInsurance),
        Stage::Cancelling { paid, insurance_reversed: true } => Some(Call::Refund { amount: paid.captured }),
        Stage::Settled(_) | Stage::SettledUnpaid(_) | Stage::Failed { .. } | Stage::Cancelled(_) => None,
    }
}

/// Whether the stage that names `call` must be durable before `call` is made. A bank call need
/// not wait for a commit: a run that resumes from an earlier durable stage redoes the calls since
/// it, a pre-settlement changes nothing, and the bank is asked by the call's fixed request id
/// before a call in doubt is sent again. Insurance's settlement and the cancellation's calls are
/// made only from a durable stage: a 2206 sent again after a 2207 took effect would be refused
/// and read as a failure. Skipping the stage between 2206 and the hold and the one between 2207
/// and the capture saves two of a click's five commits.
pub fn durable_before(call: &Call) -> bool {
    !matches!(call, Call::Authorize { .. } | Call::Capture { .. } | Call::Void | Call::Charge { .. })
}

/// Starts a cancellation of a settled settlement; `None` when `stage` cannot be cancelled.
pub fn begin_cancel(stage: &Stage) -> Option<Stage> {
    match stage {
        Stage::Settled(paid) | Stage::SettledUnpaid(paid) => Some(Stage::Cancelling { paid: paid.clone(), insurance_reversed: false }),
        _ => None,
    }
}

/// Applies the outcome of `call` (which must be `next_call(stage)`) to `stage`. `medfee` is the
/// total of the fees uploaded, against which insurance's figures are checked before a fen is posted.
pub fn apply(stage: &Stage, parties: &Parties<'_>, medfee: Fen, call: &Call, outcome: Outcome) -> Result<Step, SagaError> {
    let state = stage.state().as_str();
    if next_call(stage).as_ref() != Some(call) {
        return Err(SagaError::NotNext { call: call.clone(), state });
    }
    let unexpected = |reply: Reply| SagaError::UnexpectedReply { call: call.clone(), reply, state };
    let stay = || Ok(Step { stage: stage.clone(), transfers: Vec::new() });
    let to = |stage: Stage| Ok(Step { stage, transfers: Vec::new() });
    match (stage, outcome) {
        (_, Outcome::Unknown) => stay(),

        // Nothing is held: the bank is charged once 2207 has made the cash share final.
        (Stage::Started, Outcome::Done(Reply::Estimated { split })) => {
            split.validate(medfee)?;
            to(Stage::Authorized { hold: Hold::NotAsked, refusal: None })
        }
        (Stage::Started, Outcome::Refused { code, message }) => {
            to(Stage::Failed { hold: Hold::NotAsked, failure: insurance_refused("pre-settlement", &code, &message) })
        }

        (Stage::PreSettled { estimate_cash }, Outcome::Done(Reply::Held { amount })) => {
            if amount > *estimate_cash || !amount.is_positive() {
                return Err(SagaError::OverHold { held: amount, asked: *estimate_cash });
            }
            Ok(Step { stage: Stage::Authorized { hold: Hold::Approved { amount }, refusal: None }, transfers: vec![parties.hold(amount)] })
        }
        (Stage::PreSettled { .. }, Outcome::Refused { code, .. }) => to(Stage::Authorized { hold: Hold::Declined { code }, refusal: None }),

        (Stage::Authorized { hold, refusal: None }, Outcome::Done(Reply::Insured(insured))) => {
            insured.split.validate(medfee)?;
            insurance_settled(hold, insured, parties)
        }
        (Stage::Authorized { hold, refusal: None }, Outcome::Refused { code, message }) => {
            let failure = insurance_refused("settlement", &code, &message);
            match hold {
                Hold::Approved { .. } => to(Stage::Authorized { hold: hold.clone(), refusal: Some(failure) }),
                _ => to(Stage::Failed { hold: hold.clone(), failure }),
            }
        }
        // A void the bank refuses means it holds nothing under that authorization (expired or
        // already released): the hold is gone either way.
        (Stage::Authorized { hold, refusal: Some(failure) }, Outcome::Done(Reply::Voided) | Outcome::Refused { .. }) => {
            Ok(Step { stage: Stage::Failed { hold: hold.clone(), failure: failure.clone() }, transfers: vec![parties.void_hold()] })
        }

        (Stage::InsuranceSettled { hold: Hold::NotAsked, insured, .. }, Outcome::Done(Reply::Charged)) => {
            let Call::Charge { amount } = call else { return Err(unexpected(Reply::Charged)) };
            let paid = Paid::of(parties, &Hold::NotAsked, insured.clone(), *amount, None);
            Ok(Step { transfers: parties.charged_settlement_transfers(&insured.split, *amount), stage: Stage::settled(paid) })
        }
        // A declined charge: insurance has settled, the cash share is the patient's bill.
        (Stage::InsuranceSettled { hold: Hold::NotAsked, insured, .. }, Outcome::Refused { code, .. }) => {
            let paid = Paid::of(parties, &Hold::NotAsked, insured.clone(), Fen::ZERO, Some(code));
            Ok(Step { transfers: parties.charged_settlement_transfers(&insured.split, Fen::ZERO), stage: Stage::settled(paid) })
        }
        (Stage::InsuranceSettled { hold, insured, .. }, Outcome::Done(Reply::Captured)) => {
            let Call::Capture { amount } = call else { return Err(unexpected(Reply::Captured)) };
            let paid = Paid::of(parties, hold, insured.clone(), *amount, None);
            Ok(Step { transfers: parties.settlement_transfers(&insured.split, hold.held(), *amount), stage: Stage::settled(paid) })
        }
        (Stage::InsuranceSettled { hold, insured, capture_declined: None }, Outcome::Refused { code, .. }) if *call != Call::Void => {
            to(Stage::InsuranceSettled { hold: hold.clone(), insured: insured.clone(), capture_declined: Some(code) })
        }
        (Stage::InsuranceSettled { hold, insured, capture_declined }, Outcome::Done(Reply::Voided) | Outcome::Refused { .. }) => {
            let decline_code = capture_declined.clone().or_else(|| hold.decline_code());
            let paid = Paid::of(parties, hold, insured.clone(), Fen::ZERO, decline_code);
            Ok(Step { transfers: parties.settlement_transfers(&insured.split, hold.held(), Fen::ZERO), stage: Stage::settled(paid) })
        }

        (Stage::Cancelling { paid, insurance_reversed: false }, Outcome::Done(Reply::Reversed)) => {
            let transfers = parties.reversal_transfers(&paid.insured.split, paid.captured);
            let stage = match paid.captured.is_positive() {
                true => Stage::Cancelling { paid: paid.clone(), insurance_reversed: true },
                false => Stage::Cancelled(paid.clone()),
            };
            Ok(Step { stage, transfers })
        }
        // Insurance keeps the settlement: so does the hub. The caller is told why.
        (Stage::Cancelling { paid, insurance_reversed: false }, Outcome::Refused { .. }) => to(Stage::settled(paid.clone())),
        (Stage::Cancelling { paid, insurance_reversed: true }, Outcome::Done(Reply::Refunded)) => {
            Ok(Step { stage: Stage::Cancelled(paid.clone()), transfers: parties.refund_transfer(paid.captured).into_iter().collect() })
        }

        (_, Outcome::Refused { code, message }) => Err(SagaError::RefusedUnrefusable { call: call.clone(), code, message }),
        (_, Outcome::Done(reply)) => Err(unexpected(reply)),
    }
}

/// For a patient with no insurance (自费), the insurance calls are answered here and not by the
/// insurance center, which has no visit of theirs: the whole total is cash, for the bank to pay,
/// and there is nothing to reverse. `None` for the bank's calls, which are made as for anyone.
/// Pure, so the orchestrator still only persists, calls and applies.
pub fn self_pay_outcome(call: &Call, medfee: Fen) -> Option<Outcome> {
    let split = InsuranceSplit::self_pay(medfee);
    Some(Outcome::Done(match call {
        Call::PreSettle => Reply::Estimated { split },
        Call::SettleInsurance => Reply::Insured(Insured { setl_id: String::new(), split }),
        Call::ReverseInsurance => Reply::Reversed,
        Call::Authorize { .. } | Call::Capture { .. } | Call::Charge { .. } | Call::Void | Call::Refund { .. } => return None,
    }))
}

fn insurance_refused(what: &str, code: &str, message: &str) -> Failure {
    Failure { code: "insurance_refused".into(), message: format!("{what} refused ({code}): {message}") }
}

/// After 2207: capture or void what the bank holds; with no hold asked, charge the cash share;
/// with nothing for the bank (a declined hold, no cash share, or the hospital collecting it
/// itself), finish at once.
fn insurance_settled(hold: &Hold, insured: Insured, parties: &Parties<'_>) -> Result<Step, SagaError> {
    let charge = *hold == Hold::NotAsked && insured.split.cash.is_positive() && !parties.cash_at_hospital;
    if hold.held().is_positive() || charge {
        return Ok(Step { stage: Stage::InsuranceSettled { hold: hold.clone(), insured, capture_declined: None }, transfers: Vec::new() });
    }
    let transfers = parties.settlement_transfers(&insured.split, Fen::ZERO, Fen::ZERO);
    let paid = Paid::of(parties, hold, insured, Fen::ZERO, hold.decline_code());
    Ok(Step { stage: Stage::settled(paid), transfers })
}

#[cfg(test)]
#[path = "saga_tests.rs"]
mod tests;
