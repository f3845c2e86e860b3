//! 中途结算: a long stay settled in the middle, the patient still in the ward. Insurance settles
//! every line uploaded so far (2303, then 2304, `mid_setl_flag` 1) and the admission stays open;
//! the patient's cash share is captured from the deposit hold.
//!
//! The bank's capture closes its authorization (crates/bank `BankBook::capture` releases the
//! whole hold and spends only the captured part; the protocol has no partial capture that keeps
//! the rest open). So the interim captures, then holds the rest again as a new authorization
//! (`{stay}:interim:{n}:hold`), the stay's hold from then on. Capture first, then hold again: the
//! line never carries both at once, and the worst case — the line gave the freed credit to
//! something else meanwhile — is a stay in the ward with `deposit_short`, which the ward sees;
//! holding again first could be declined for a line that covers the stay.
//!
//! ```text
//! in_ward ─begin_interim→ pre_settling ─2303→ settling ─2304→ insured ─(raise beyond)→ capture → reholding ─hold→ in_ward
//!                  2303/2304 refused: in_ward (interim_refusal)     └ declined: void, all of it held again ┘
//! ```
//!
//! A share above the hold is raised onto it first, as at discharge; what the line cannot cover is
//! a bill. No cash share: insurance's shares are posted and the hold stays as it is. No hold (the
//! deposit declined or used up, or a settlement cancelled since): the cash share is charged to the
//! line in one call (`{stay}:interim:{n}:capture`, see `inpatient_charge.rs`), nothing held again;
//! only the bank's decline leaves it a bill.

use super::*;

/// One interim settlement, as the stay keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterimPaid {
    /// 1 for the stay's first: its bank requests are `{stay}:interim:{n}:…`.
    pub n: u32,
    pub setl_id: String,
    pub split: InsuranceSplit,
    /// Captured on the hold, or charged to the line when nothing was held.
    pub captured: Fen,
    /// Held again after the capture (what the bank had left of the hold).
    pub reheld: Fen,
    pub decline_code: Option<String>,
    /// The fee lines (`feedetl_sn`) it settled.
    pub lines: Vec<String>,
    /// The ward's request it answers (its idempotency key): the same request again is answered
    /// with it, a new one settles the lines since.
    #[serde(default)]
    pub request: String,
    /// Charged under `{stay}:interim:{n}:charge`, its capture having found the hold expired
    /// (`inpatient_expiry.rs`): the operation a cancellation's refund names.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub charged_after_expiry: bool,
}

impl InterimPaid {
    /// The bank operation that took the share from the line: `capture` (a capture on the hold, or
    /// a charge standing as it), or `charge` after an expired hold.
    pub fn bank_operation(&self) -> &'static str {
        match self.charged_after_expiry {
            true => "charge",
            false => "capture",
        }
    }
    /// The cash share nobody paid yet: an explicit bill.
    pub fn unpaid(&self) -> Fen {
        self.split.cash - self.captured
    }
}

/// Where an interim settlement stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "snake_case")]
pub enum InterimStep {
    /// Next: 2303 with `mid_setl_flag` 1.
    PreSettling,
    /// Next: 2304 with `mid_setl_flag` 1.
    Settling,
    /// 2304 settled; next: raise the hold by a share above it, then capture (or, the capture
    /// declined, void).
    Insured { setl_id: String, split: InsuranceSplit, beyond: BeyondHold, capture_declined: Option<String> },
    /// The hold is closed (captured or voided, posted); next: hold `paid.reheld` again.
    Reholding { paid: InterimPaid },
}

/// An interim settlement under way: the ward, the lines it settles and its fixed insurance msgids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interim {
    pub ward: Ward,
    pub n: u32,
    pub lines: Vec<String>,
    #[serde(default)]
    pub request: String,
    pub presettle_msgid: String,
    pub settle_msgid: String,
    pub step: InterimStep,
}

/// The ids an interim settlement is known by: the ward's request, and the msgids fixed for its
/// 2303 and 2304.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterimIds {
    pub request: String,
    pub presettle_msgid: String,
    pub settle_msgid: String,
}

/// The ward's request: settle the lines uploaded so far (`uploaded`, by `feedetl_sn` with each
/// line's amount) that no earlier interim settled. Lines that add up to nothing (a charge and its
/// full return) are no settlement: the center would settle zero under a `setl_id` of its own
/// (review r25 ward F8). They stay for the next settlement.
pub fn begin_interim(stage: &StayStage, uploaded: &[(String, Fen)], ids: InterimIds) -> Result<StayStage, StayError> {
    let ward = match stage {
        StayStage::InWard(w) if !w.deposit_in_flight() => w,
        other => return Err(StayError::NotNow { state: other.state(), what: "be settled in the middle (only in the ward)" }),
    };
    let settled = |sn: &String| ward.interims.iter().any(|i| i.lines.contains(sn));
    let unsettled: Vec<&(String, Fen)> = uploaded.iter().filter(|(sn, _)| !settled(sn)).collect();
    if unsettled.iter().map(|(_, amount)| *amount).sum::<Fen>() == Fen::ZERO {
        return Err(StayError::NothingToSettle);
    }
    let lines: Vec<String> = unsettled.into_iter().map(|(sn, _)| sn.clone()).collect();
    let n = ward.next_interim_n();
    let ward = Ward { interim_refusal: None, ..ward.clone() };
    let InterimIds { request, presettle_msgid, settle_msgid } = ids;
    Ok(StayStage::Interim(Interim { ward, n, lines, request, presettle_msgid, settle_msgid, step: InterimStep::PreSettling }))
}

pub(super) fn next_call(i: &Interim) -> StayCall {
    let (n, held) = (i.n, i.ward.held());
    match &i.step {
        InterimStep::PreSettling => StayCall::InterimPreSettle,
        InterimStep::Settling => StayCall::InterimSettle,
        // Nothing held (or no more: the capture found the hold expired, `inpatient_expiry.rs`).
        InterimStep::Insured { split, .. } if !i.ward.has_hold() => StayCall::InterimCharge { n, amount: split.cash },
        InterimStep::Insured { split, beyond: BeyondHold::Untried, capture_declined: None, .. } if split.cash > held => {
            StayCall::RaiseHold { n: i.ward.raises_sent, amount: split.cash - held }
        }
        InterimStep::Insured { split, capture_declined: None, .. } => StayCall::InterimCapture { n, amount: split.cash.min(held) },
        InterimStep::Insured { capture_declined: Some(_), .. } => StayCall::InterimVoid { n },
        InterimStep::Reholding { paid } => StayCall::InterimHold { n, amount: paid.reheld },
    }
}

/// The outcome of the interim's call (`charges`: the lines it settles, against which insurance's
/// figures are checked). The caller has handled an unknown outcome.
pub(super) fn apply(
    i: &Interim,
    parties: &StayParties<'_>,
    charges: Fen,
    call: &StayCall,
    outcome: StayOutcome,
) -> Result<StayStep, StayError> {
    use InterimStep as I;
    use StayOutcome::{Done, Refused};
    use StayReply as R;
    let at = |step: InterimStep| Ok(StayStep { stage: StayStage::Interim(Interim { step, ..i.clone() }), transfers: Vec::new() });
    let refused = |what: &str, code: &str, message: &str| {
        let failure = Failure::insurance_refused(what, code, message);
        Ok(StayStep { stage: StayStage::InWard(Ward { interim_refusal: Some(failure), ..i.ward.clone() }), transfers: Vec::new() })
    };
    match (&i.step, outcome) {
        (I::PreSettling, Done(R::Estimated { split })) => {
            split.validate(charges)?;
            at(I::Settling)
        }
        (I::PreSettling, Refused { code, message }) => refused("the interim pre-settlement (2303)", &code, &message),
        (I::Settling, Done(R::Insured { setl_id, split })) => {
            split.validate(charges)?;
            if !split.cash.is_positive() {
                // Nothing to capture: the hold stays as it is.
                let paid = paid(i, setl_id, split, Fen::ZERO, Fen::ZERO, None);
                let transfers = parties.insurance_shares("", &paid.split, Fen::ZERO, &paid.setl_id, false);
                return Ok(StayStep { stage: StayStage::InWard(recorded(i.ward.clone(), paid)), transfers });
            }
            at(I::Insured { setl_id, split, beyond: BeyondHold::Untried, capture_declined: None })
        }
        (I::Settling, Refused { code, message }) => refused("the interim settlement (2304)", &code, &message),
        // Nothing held: charged to the line, or declined and billed; nothing to hold again.
        (I::Insured { setl_id, split, .. }, outcome) if matches!(call, StayCall::InterimCharge { .. }) => {
            let StayCall::InterimCharge { amount, .. } = call else {
                return Err(StayError::NotNext { call: call.clone(), state: "interim_settling" });
            };
            let (captured, decline_code) = match outcome {
                Done(R::Captured) => (*amount, None),
                Refused { code, .. } => (Fen::ZERO, Some(code)),
                Done(reply) => return Err(unexpected(call, reply, "interim_settling")),
                StayOutcome::Unknown => return at(i.step.clone()),
            };
            let after_expiry = matches!(i.step, InterimStep::Insured { capture_declined: Some(_), .. });
            let paid =
                InterimPaid { charged_after_expiry: after_expiry, ..paid(i, setl_id.clone(), *split, captured, Fen::ZERO, decline_code) };
            let mut transfers = parties.insurance_shares("", &paid.split, captured, &paid.setl_id, false);
            let ward = match captured.is_positive() {
                true => {
                    transfers.extend(parties.charge_transfers(&super::expiry::interim_charge_scope(i), &i.ward, captured));
                    i.ward.charged()
                }
                false => i.ward.clone(),
            };
            Ok(StayStep { stage: StayStage::InWard(recorded(ward, paid)), transfers })
        }
        (I::Insured { setl_id, split, .. }, Done(R::Held { amount })) => {
            let StayCall::RaiseHold { amount: asked, .. } = call else {
                return Err(unexpected(call, R::Held { amount }, "interim_settling"));
            };
            check_held(amount, *asked)?;
            let (ward, transfer) = i.ward.raised(parties, amount);
            let step = I::Insured { setl_id: setl_id.clone(), split: *split, beyond: BeyondHold::Raised, capture_declined: None };
            Ok(StayStep { stage: StayStage::Interim(Interim { ward, step, ..i.clone() }), transfers: vec![transfer] })
        }
        (I::Insured { setl_id, split, .. }, Refused { code, .. }) if matches!(call, StayCall::RaiseHold { .. }) => {
            let ward = Ward { raises_sent: i.ward.raises_sent + 1, ..i.ward.clone() };
            let step = I::Insured { setl_id: setl_id.clone(), split: *split, beyond: BeyondHold::Declined(code), capture_declined: None };
            Ok(StayStep { stage: StayStage::Interim(Interim { ward, step, ..i.clone() }), transfers: Vec::new() })
        }
        (I::Insured { setl_id, split, beyond, .. }, Done(R::Captured)) => {
            let StayCall::InterimCapture { amount, .. } = call else { return Err(unexpected(call, R::Captured, "interim_settling")) };
            let decline_code = match beyond {
                BeyondHold::Declined(code) if split.cash > *amount => Some(code.clone()),
                _ => None,
            };
            Ok(closed(i, parties, paid(i, setl_id.clone(), *split, *amount, i.ward.held() - *amount, decline_code)))
        }
        (I::Insured { setl_id, split, beyond, capture_declined: None }, Refused { code, .. })
            if matches!(call, StayCall::InterimCapture { .. }) =>
        {
            let step = I::Insured { setl_id: setl_id.clone(), split: *split, beyond: beyond.clone(), capture_declined: Some(code) };
            at(step)
        }
        // A void the bank refuses means it holds nothing under the authorization any more
        // (expired): the hold is gone either way, and the whole of it is held again.
        (I::Insured { setl_id, split, capture_declined: Some(code), .. }, Done(R::Voided) | Refused { .. }) => {
            Ok(closed(i, parties, paid(i, setl_id.clone(), *split, Fen::ZERO, i.ward.held(), Some(code.clone()))))
        }
        (I::Reholding { paid }, Done(R::Held { amount })) => {
            check_held(amount, paid.reheld)?;
            let ward = Ward { pieces: vec![amount], short: None, ..i.ward.clone() };
            let transfer = parties.hold_piece(ward.piece_base, amount);
            Ok(StayStep {
                stage: StayStage::InWard(recorded(ward, InterimPaid { reheld: amount, ..paid.clone() })),
                transfers: vec![transfer],
            })
        }
        (I::Reholding { paid }, Refused { code, .. }) => {
            let ward = Ward { short: Some(code), ..i.ward.clone() };
            Ok(StayStep {
                stage: StayStage::InWard(recorded(ward, InterimPaid { reheld: Fen::ZERO, ..paid.clone() })),
                transfers: Vec::new(),
            })
        }
        (_, Refused { code, message }) => Err(StayError::RefusedUnrefusable { call: call.clone(), code, message }),
        (_, Done(reply)) => Err(unexpected(call, reply, "interim_settling")),
        (_, StayOutcome::Unknown) => at(i.step.clone()),
    }
}

fn paid(i: &Interim, setl_id: String, split: InsuranceSplit, captured: Fen, reheld: Fen, decline_code: Option<String>) -> InterimPaid {
    let (lines, request) = (i.lines.clone(), i.request.clone());
    InterimPaid { n: i.n, setl_id, split, captured, reheld, decline_code, lines, request, charged_after_expiry: false }
}

/// The hold closed by the capture (or void): insurance's shares and the pieces posted; the rest is
/// held again, or — nothing left — the stay waits in the ward with its deposit used up.
fn closed(i: &Interim, parties: &StayParties<'_>, paid: InterimPaid) -> StayStep {
    let mut transfers = parties.insurance_shares("", &paid.split, paid.captured, &paid.setl_id, false);
    transfers.extend(parties.close_pieces_as(&format!("interim:{}:", i.n), &i.ward, paid.captured));
    let ward = Ward { pieces: Vec::new(), piece_base: i.ward.piece_base + i.ward.pieces.len(), placed: None, ..i.ward.clone() };
    let stage = match paid.reheld.is_positive() {
        true => StayStage::Interim(Interim { ward, step: InterimStep::Reholding { paid }, ..i.clone() }),
        false => StayStage::InWard(recorded(Ward { short: Some("deposit_used_up".into()), ..ward }, paid)),
    };
    StayStep { stage, transfers }
}

fn recorded(mut ward: Ward, paid: InterimPaid) -> Ward {
    ward.interims.push(paid);
    ward
}
