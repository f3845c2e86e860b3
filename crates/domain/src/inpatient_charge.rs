//! 扣款 for a stay that holds nothing: the cash share taken from the line in one bank call.
//!
//! A stay holds nothing when its settlement was cancelled (2305 refunds the capture, and the
//! capture had closed the hold), when its deposit was declined, or when an interim settlement used
//! the hold up (or its hold again was declined). A settlement of such a stay — the bedside one, or
//! an interim one — has no hold to capture on, so it charges the line for the cash share (the
//! bank's one-call charge, a hold and its capture at once, bank protocol 1.5.0), as the doctor's
//! click does for a visit. Only the bank's decline (the line frozen, short of credit) leaves a
//! bill, naming the decline; a charge whose outcome is unknown is asked for by its request id,
//! never sent under another.
//!
//! The ledger books the charge as the bank does: a piece of its own, pending and posted at once,
//! numbered past every piece of the stay, so a capture and a charge read alike (reconciliation
//! sums a settlement's `hold_post`s as its bank capture).
//!
//! Each bedside settlement has its own bank names. The first is named as ever (`{stay}:capture`,
//! `{stay}:void`, `{stay}:refund`); after the `a`-th cancellation (2305) they are scoped
//! `{stay}:resettle:{a}:…`, and so are the settlement's `hold_post`/`hold_void` transfers and its
//! refund's `bank_refund`: a settlement after a cancellation never reuses the first one's ids.

use super::*;

impl Ward {
    /// The scope of this bedside settlement's bank requests and transfers: `""` for the stay's
    /// first, `resettle:{a}:` after the `a`-th cancelled one.
    pub fn settle_scope(&self) -> String {
        match self.resettled {
            0 => String::new(),
            a => format!("resettle:{a}:"),
        }
    }

    /// The ward after a charge: its piece (pending and posted at once) numbered, nothing held.
    pub(super) fn charged(&self) -> Ward {
        Ward { pieces: Vec::new(), piece_base: self.piece_base + self.pieces.len() + 1, placed: None, ..self.clone() }
    }

    /// The ward of a stay whose settlement was cancelled: the hold's pieces closed, and the next
    /// bedside settlement named afresh.
    pub(super) fn settlement_cancelled(&self) -> Ward {
        Ward { resettled: self.resettled + 1, ..self.released() }
    }
}

impl StayParties<'_> {
    /// The charge of `amount` (`scope`: the settlement's, as for a capture): a piece of its own,
    /// numbered past the ward's, pending and posted in the same commit.
    pub(super) fn charge_transfers(&self, scope: &str, ward: &Ward, amount: Fen) -> Vec<Transfer> {
        let k = ward.piece_base + ward.pieces.len();
        let piece = Ward { pieces: vec![amount], piece_base: k, ..Ward::default() };
        let mut out = vec![self.hold_piece(k, amount)];
        out.extend(self.close_pieces_as(scope, &piece, amount));
        out
    }
}

/// The outcome of a bedside settlement's charge (`insurance_settled`, nothing held): the whole
/// cash share taken, or declined and billed with the bank's code.
pub(super) fn settle_charged(
    ward: &Ward,
    setl_id: &str,
    split: &InsuranceSplit,
    parties: &StayParties<'_>,
    amount: Fen,
    outcome: StayOutcome,
) -> Result<StayStep, StayError> {
    let (captured, decline_code) = match outcome {
        StayOutcome::Done(StayReply::Captured) => (amount, None),
        StayOutcome::Refused { code, .. } => (Fen::ZERO, Some(code)),
        StayOutcome::Done(reply) => return Err(unexpected(&StayCall::Charge { amount }, reply, "insurance_settled")),
        StayOutcome::Unknown => return Err(StayError::NotNow { state: "insurance_settled", what: "apply an unknown charge" }),
    };
    let mut transfers = parties.insurance_shares("", split, captured, setl_id, false);
    let ward = match captured.is_positive() {
        true => {
            transfers.extend(parties.charge_transfers(&ward.settle_scope(), ward, captured));
            ward.charged()
        }
        false => ward.clone(),
    };
    let paid = StayPaid { ward, setl_id: setl_id.to_string(), split: *split, captured, decline_code };
    Ok(StayStep { stage: settled(paid), transfers })
}
