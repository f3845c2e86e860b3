//! A hold the bank let expire (`hold_expired`). The hub asks for the longest hold the bank allows
//! (90 days), but a stay may outlast it, or a bank may hold for less. The bank's `hold_expired`
//! answer to a raise or a capture is final: it holds nothing for the stay any more, and the money
//! is free on the line again. So the stay forgets the hold (its pieces released in the ledger, the
//! ward holding nothing: `held_fen` 0, `deposit_short` naming `hold_expired`, a fresh deposit
//! allowed), and a settlement takes the cash share with the one-call charge, as for a stay that
//! holds nothing (`inpatient_charge.rs`); only the bank's decline of that charge leaves a bill.
//!
//! The charge has a request id of its own, never one the bank already answered:
//! - a raise refused: no capture was sent, so the settlement's capture id is still unused;
//! - the bedside capture refused: the settlement's bank part starts over in the next scope
//!   (`{stay}:resettle:{n}:capture`, [`Ward::settle_scope`]), as after a cancelled settlement,
//!   so its refund and reconciliation name it as they name any bedside settlement's;
//! - an interim capture refused: the interim keeps the decline (`capture_declined`), and its
//!   charge is `{stay}:interim:{n}:charge`, booked under the scope `interim:{n}:charge:`.

use super::*;

/// The bank's code for a raise, capture or void of a hold whose `expires_at` passed.
pub const HOLD_EXPIRED: &str = "hold_expired";

impl Ward {
    /// The ward once its hold expired: no pieces (numbered on past them), nothing placed, the
    /// ward told why it holds nothing.
    fn expired(&self) -> Ward {
        let piece_base = self.piece_base + self.pieces.len();
        Ward { pieces: Vec::new(), piece_base, placed: None, short: Some(HOLD_EXPIRED.into()), ..self.clone() }
    }
}

/// The refusal `code` of `call` in `stage` says the stay's hold is gone: a raise or a capture on
/// a hold the bank let expire.
pub(super) fn hold_gone(stage: &StayStage, call: &StayCall, code: &str) -> bool {
    let on_the_hold = match stage {
        StayStage::InWard(_) | StayStage::InsuranceSettled { .. } => matches!(call, StayCall::RaiseHold { .. } | StayCall::Capture { .. }),
        StayStage::Interim(_) => matches!(call, StayCall::RaiseHold { .. } | StayCall::InterimCapture { .. }),
        _ => false,
    };
    on_the_hold && code == HOLD_EXPIRED && stage.ward().is_some_and(Ward::has_hold)
}

/// The step after [`hold_gone`]: the pieces released in the ledger, the ward holding nothing, and
/// what comes next the charge of the cash share (at a settlement) or the ward's fresh deposit.
pub(super) fn apply(stage: &StayStage, parties: &StayParties<'_>, call: &StayCall) -> Result<StayStep, StayError> {
    let raise = matches!(call, StayCall::RaiseHold { .. });
    let step = |stage: StayStage, released: Vec<Transfer>| Ok(StayStep { stage, transfers: released });
    match stage {
        StayStage::InWard(w) => {
            let ward = Ward { raises_sent: w.raises_sent + 1, raising: None, ..w.expired() };
            step(StayStage::InWard(ward), parties.close_pieces_as(&w.settle_scope(), w, Fen::ZERO))
        }
        StayStage::InsuranceSettled { ward: w, setl_id, split, .. } => {
            let released = parties.close_pieces_as(&w.settle_scope(), w, Fen::ZERO);
            let ward = match raise {
                true => Ward { raises_sent: w.raises_sent + 1, ..w.expired() },
                // The capture's id is spent: the charge is the next scope's.
                false => Ward { resettled: w.resettled + 1, ..w.expired() },
            };
            let (setl_id, split) = (setl_id.clone(), *split);
            step(StayStage::InsuranceSettled { ward, setl_id, split, capture_declined: None, beyond: BeyondHold::Untried }, released)
        }
        StayStage::Interim(i) => {
            let InterimStep::Insured { setl_id, split, beyond, .. } = &i.step else {
                return Err(StayError::NotNext { call: call.clone(), state: stage.state() });
            };
            let released = parties.close_pieces_as(&format!("interim:{}:", i.n), &i.ward, Fen::ZERO);
            let (ward, capture_declined) = match raise {
                true => (Ward { raises_sent: i.ward.raises_sent + 1, ..i.ward.expired() }, None),
                // Kept: the charge then goes under an id of its own, the capture's being spent.
                false => (i.ward.expired(), Some(HOLD_EXPIRED.to_string())),
            };
            let step_now = InterimStep::Insured { setl_id: setl_id.clone(), split: *split, beyond: beyond.clone(), capture_declined };
            step(StayStage::Interim(Interim { ward, step: step_now, ..i.clone() }), released)
        }
        other => Err(StayError::NotNext { call: call.clone(), state: other.state() }),
    }
}

/// The ledger scope of an interim's charge: `interim:{n}:`, or `interim:{n}:charge:` when the
/// interim's capture found the hold expired (its bank request `{stay}:interim:{n}:charge`).
pub(super) fn interim_charge_scope(i: &Interim) -> String {
    match &i.step {
        InterimStep::Insured { capture_declined: Some(_), .. } => format!("interim:{}:charge:", i.n),
        _ => format!("interim:{}:", i.n),
    }
}
