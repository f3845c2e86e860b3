//! 中途结算撤销: the ward cancels an interim settlement while the patient is in the ward, so that a
//! drug returned after it can be refunded: the center refuses a negative line against a line a
//! settlement took ("cancel that settlement (2305) first"), and takes it once the line is unsettled.
//!
//! The center cancels an admission's settlements newest first (2305 refuses any but the latest in
//! force, crates/insurance/src/settle.rs `cancellable`), so the ward may cancel only its latest
//! interim settlement in force; an earlier one once the later ones are cancelled. 2305 reverses
//! the fund's and the account's shares and gives the lines back as unsettled at the center; the
//! hub reverses the same shares in the ledger and the bill, if the line did not cover the share (a
//! stay's bill is collected only once the stay is over, so nothing of it was collected). Then the
//! bank share the interim took from the line (captured on the hold, or charged) is refunded under
//! `{stay}:interim:{n}:refund`. The hold the stay has now is not touched: the interim's capture
//! closed the hold it captured on and the rest was held again as an authorization of its own,
//! which stays the stay's hold.
//!
//! The interim settlement leaves `interims` for `undone.cancelled_interims`: its lines are
//! unsettled again (the next interim settlement or the bedside click takes them, with the returned
//! drug's negative line), and its number is never used again (the next is numbered past both,
//! [`Ward::next_interim_n`]), nor its bank request ids.
//!
//! ```text
//! in_ward ─begin_cancel_interim→ cancelling_interim ─2305→ (refund the bank share) → in_ward
//!                                         └ 2305 refused: in_ward as it was, `undone.refusal` saying why
//! ```

use super::*;

/// What the ward undid while the patient was in the ward, kept on the ward (flattened into it:
/// a ward stored before reads none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undone {
    /// The interim settlements cancelled (2305), oldest first: their numbers stay spent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancelled_interims: Vec<InterimPaid>,
    /// The ward's request (its idempotency key) of the last fee withdrawal (2302) done: the same
    /// request again is answered with the stay as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn_by: Option<String>,
    /// Why insurance refused the ward's last cancellation of an interim settlement, or withdrawal
    /// of fee lines: until the next of either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Failure>,
}

impl Ward {
    /// The number the next interim settlement takes: past every one made, cancelled ones included
    /// (its bank requests `{stay}:interim:{n}:…` are its own).
    pub fn next_interim_n(&self) -> u32 {
        let made = self.interims.iter().chain(&self.undone.cancelled_interims).map(|i| i.n).max().unwrap_or(0);
        made.saturating_add(1)
    }

    /// The interim settlement whose authorization (`{stay}:interim:{n}:hold`) the rest of the
    /// deposit was last held again under, cancelled or not: a cancellation leaves the hold as it is.
    pub fn last_reheld(&self) -> Option<&InterimPaid> {
        self.interims.iter().chain(&self.undone.cancelled_interims).filter(|i| i.reheld.is_positive()).max_by_key(|i| i.n)
    }
}

/// An interim settlement being cancelled, the patient in the ward.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterimCancel {
    /// The ward, the interim settlement still the last of its `interims`.
    pub ward: Ward,
    /// The interim settlement's number.
    pub n: u32,
    /// 2305's msgid, fixed before it is sent.
    pub msgid: String,
    /// 2305 answered: next, the refund of the bank share.
    #[serde(default)]
    pub insurance_reversed: bool,
}

impl InterimCancel {
    /// The interim settlement being cancelled.
    pub fn paid(&self) -> Option<&InterimPaid> {
        self.ward.interims.iter().find(|i| i.n == self.n)
    }

    /// The ward once the interim settlement is cancelled (and its bank share refunded).
    fn cancelled(&self) -> Ward {
        let (kept, gone): (Vec<InterimPaid>, Vec<InterimPaid>) = self.ward.interims.iter().cloned().partition(|i| i.n != self.n);
        let mut undone = Undone { refusal: None, ..self.ward.undone.clone() };
        undone.cancelled_interims.extend(gone);
        Ward { interims: kept, undone, ..self.ward.clone() }
    }
}

/// Why the ward's cancellation of interim settlement `n` cannot begin.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InterimCancelRefusal {
    #[error(transparent)]
    NotNow(StayError),
    #[error("the stay has no interim settlement {n} in force")]
    Unknown { n: u32 },
    /// The center cancels newest first.
    #[error("interim settlement {n} is not the latest in force: cancel interim settlement {latest} first (newest first)")]
    NotLatest { n: u32, latest: u32 },
    /// Done already: the stay is answered as it is.
    #[error("interim settlement {n} is cancelled already")]
    AlreadyCancelled { n: u32 },
}

/// The ward asks to cancel interim settlement `n` (2305 under `msgid`, fixed here before it is sent).
pub fn begin_cancel_interim(stage: &StayStage, n: u32, msgid: String) -> Result<StayStage, InterimCancelRefusal> {
    let ward = match stage {
        StayStage::InWard(w) if !w.deposit_in_flight() => w,
        other => {
            let what = "have an interim settlement cancelled (only in the ward, nothing in flight)";
            return Err(InterimCancelRefusal::NotNow(StayError::NotNow { state: other.state(), what }));
        }
    };
    if ward.undone.cancelled_interims.iter().any(|i| i.n == n) {
        return Err(InterimCancelRefusal::AlreadyCancelled { n });
    }
    match ward.interims.last().map(|i| i.n) {
        Some(latest) if latest == n => {}
        Some(latest) if ward.interims.iter().any(|i| i.n == n) => return Err(InterimCancelRefusal::NotLatest { n, latest }),
        _ => return Err(InterimCancelRefusal::Unknown { n }),
    }
    let ward = Ward { undone: Undone { refusal: None, ..ward.undone.clone() }, ..ward.clone() };
    Ok(StayStage::CancellingInterim(InterimCancel { ward, n, msgid, insurance_reversed: false }))
}

pub(super) fn next_call(c: &InterimCancel) -> StayCall {
    match c.insurance_reversed {
        false => StayCall::CancelInterim { n: c.n },
        true => StayCall::RefundInterim { n: c.n, amount: c.paid().map_or(Fen::ZERO, |p| p.captured) },
    }
}

/// The outcome of the cancellation's call (the caller has handled an unknown outcome).
pub(super) fn apply(c: &InterimCancel, parties: &StayParties<'_>, call: &StayCall, outcome: StayOutcome) -> Result<StayStep, StayError> {
    use StayOutcome::{Done, Refused};
    let state = "cancelling_interim";
    let Some(paid) = c.paid() else { return Err(StayError::NotNext { call: call.clone(), state }) };
    match (c.insurance_reversed, outcome) {
        (false, Done(StayReply::SettlementCancelled)) => {
            // The fund's and the account's shares back, and the bill if any; the bank's once refunded.
            let transfers = parties.cancellation_transfers(&paid.split, paid.captured, &paid.setl_id);
            let stage = match paid.captured.is_positive() {
                true => StayStage::CancellingInterim(InterimCancel { insurance_reversed: true, ..c.clone() }),
                false => StayStage::InWard(c.cancelled()),
            };
            Ok(StayStep { stage, transfers })
        }
        // Insurance keeps the settlement: so does the hub, and the ward is told why.
        (false, Refused { code, message }) => {
            let failure = Failure::insurance_refused(&format!("the cancellation of interim settlement {} (2305)", c.n), &code, &message);
            let ward = Ward { undone: Undone { refusal: Some(failure), ..c.ward.undone.clone() }, ..c.ward.clone() };
            Ok(StayStep { stage: StayStage::InWard(ward), transfers: Vec::new() })
        }
        (true, Done(StayReply::Refunded)) => Ok(StayStep {
            stage: StayStage::InWard(c.cancelled()),
            transfers: vec![parties.refund_transfer(&format!("interim:{}:", c.n), paid.captured, &paid.setl_id)],
        }),
        (_, StayOutcome::Unknown) => Ok(StayStep { stage: StayStage::CancellingInterim(c.clone()), transfers: Vec::new() }),
        (_, Refused { code, message }) => Err(StayError::RefusedUnrefusable { call: call.clone(), code, message }),
        (_, Done(reply)) => Err(unexpected(call, reply, state)),
    }
}
