//! 中途结算撤销: the ward cancels an interim settlement while the patient is in the ward
//! (`POST /api/v1/stays/{id}/interim_settlements/{n}/cancel`), the orchestrator of
//! `wugan_domain::inpatient::interim_cancel` (every decision is the machine's). A drug returned
//! after an interim settlement cannot be refunded while that settlement stands: the center refuses
//! the negative line against a settled one. Cancelling it sends 2305 for its setl_id (the msgid
//! fixed in the stage before it is sent), refunds the bank share it took from the line
//! (`{stay}:interim:{n}:refund`, naming its capture or charge; asked for by its id before it is
//! sent again after an unknown outcome), posts the reversing transfers with each step's stage, owes
//! the red invoice of that settlement (in the commit that books the 2305) and gives its lines back
//! as unsettled: the next interim settlement or the bedside click takes them, with the return.
//! Only the latest interim settlement in force may be cancelled, as the center cancels newest
//! first. A crash or a lost answer leaves the stay `cancelling_interim`: the same request, or the
//! recovery worker, resumes it under the same ids.
//!
//! Here too: the calls of the ward's undoing (2305 and the refund, 2302 of
//! `stay_fee_withdrawals.rs`), and the save of a step that takes withdrawn lines off the stay.

use super::inpatient::{stay_stage, StayView};
use super::*;
use crate::store::{DepositSteps, StayInvoiceOwed, StayRow};
use wugan_domain::inpatient::{self, InterimCancelRefusal, StayCall, StayOutcome, StayReply, StayStage, StayStep};

/// The refusal of a ward's request that meets an undoing of the same stay under way: an interim
/// settlement's cancellation (`stay_in_progress`) or a withdrawal of fee lines
/// (`fee_withdrawal_in_progress`). Nothing was sent for the request; retry once it is answered.
pub(super) fn refuse_while_undoing(stage: &StayStage) -> Result<(), AppError> {
    match stage {
        StayStage::CancellingInterim(c) => Err(AppError::conflict(
            "stay_in_progress",
            format!("interim settlement {} of this stay is being cancelled (2305): retry once it is answered", c.n),
        )),
        StayStage::WithdrawingFees(_) => Err(AppError::conflict(
            "fee_withdrawal_in_progress",
            "fee lines of this stay are being withdrawn (2302): retry once the withdrawal has completed",
        )),
        _ => Ok(()),
    }
}

/// The refusal of a ward's request to undo (an interim settlement's cancellation, a withdrawal)
/// on a stay not in the ward: `stay_in_progress` while another request moves it (the bedside
/// click under way: nothing was sent for this one), else `stay_not_open`.
pub(super) fn not_now(stage: &StayStage, why: String) -> AppError {
    match inpatient::next_call(stage) {
        Some(_) => {
            AppError::conflict("stay_in_progress", format!("{why}: another request of the ward is under way; retry once it is answered"))
        }
        None => AppError::conflict("stay_not_open", why),
    }
}

impl App {
    /// Cancels the stay's interim settlement `n` (2305, the bank share refunded) while the patient
    /// is in the ward; answers the stay with its lines unsettled again.
    pub async fn cancel_interim_settlement(&self, hospital: &str, id: &str, n: &str) -> Result<StayView, AppError> {
        let unknown = || AppError::not_found("interim_settlement_not_found", format!("stay {id} has no interim settlement {n}"));
        let n: u32 = n.parse().map_err(|_| unknown())?;
        let mut s = self.own_stay(hospital, id).await?;
        if matches!(stay_stage(&s)?, StayStage::InWard(ward) if ward.deposit_in_flight()) {
            // A raise or fresh hold whose answer was lost is answered first.
            s = self.advance_stay(s, true).await?;
        }
        let stage = stay_stage(&s)?;
        match &stage {
            // This cancellation, cut short (its answer lost): moved on.
            StayStage::CancellingInterim(c) if c.n == n => {}
            StayStage::Interim(_) => return Err(super::stay_interim::interim_in_progress()),
            _ => {
                refuse_while_undoing(&stage)?;
                let next = match inpatient::begin_cancel_interim(&stage, n, self.msgid(hospital).await?) {
                    Ok(next) => next,
                    // Done already (a retry after a 503 the recovery worker finished): the stay as it is.
                    Err(InterimCancelRefusal::AlreadyCancelled { .. }) => return self.stay_view(&s).await,
                    Err(InterimCancelRefusal::Unknown { .. }) => return Err(unknown()),
                    Err(e @ InterimCancelRefusal::NotLatest { .. }) => return Err(AppError::conflict("interim_not_latest", e.to_string())),
                    Err(e) => return Err(not_now(&stage, e.to_string())),
                };
                s = self.move_stay(s, &stage, next).await?;
            }
        }
        let s = self.advance_stay(s, false).await?;
        self.invoice_stay_after(&s.id).await;
        match stay_stage(&s)? {
            StayStage::InWard(w) if w.undone.cancelled_interims.iter().any(|i| i.n == n) => self.stay_view(&s).await,
            StayStage::InWard(w) if w.undone.refusal.is_some() => {
                Err(AppError::invalid("insurance_refused", w.undone.refusal.map(|f| f.message).unwrap_or_default()))
            }
            // Another request moved the stay meanwhile: nothing more was sent for this one.
            other => Err(AppError::conflict("stay_in_progress", format!("the stay moved meanwhile ({}); retry", other.state()))),
        }
    }

    /// Makes a call of the ward's undoing in the ward (2305 of an interim settlement and its
    /// refund; 2302) with the ids the stage fixed. `Err` is an unknown outcome.
    pub(super) async fn make_undo_call(
        &self,
        s: &StayRow,
        stage: &StayStage,
        call: &StayCall,
        agreement: &AgreementRow,
        in_doubt: bool,
    ) -> Result<StayOutcome, AppError> {
        let inst = self.institution(&s.hospital_code).await?;
        let mdtrt_id = stage.ward().map(|w| w.mdtrt_id.clone()).unwrap_or_default();
        let insurance = |e: InsuranceError| match e {
            InsuranceError::Refused { infcode, message } => Ok(StayOutcome::Refused { code: infcode.to_string(), message }),
            other => Err(AppError::from(other)),
        };
        let done = |r: StayReply| Ok(StayOutcome::Done(r));
        let (admdvs, ins) = (&s.insuplc_admdvs, &self.insurance);
        match (stage, call) {
            (StayStage::CancellingInterim(c), StayCall::CancelInterim { .. }) => {
                let paid = c.paid().ok_or_else(|| AppError::internal("a cancellation of an interim settlement the stay does not have"))?;
                match ins.cancel_stay_settlement(&c.msgid, &inst, admdvs, &mdtrt_id, &paid.setl_id, &s.psn_no).await {
                    // Asked about before it is believed (app/refusal_checks.rs).
                    Err(e @ InsuranceError::Refused { .. })
                        if !self.stay_cancellation_took_effect(&inst, s, &mdtrt_id, &paid.setl_id).await? =>
                    {
                        insurance(e)
                    }
                    Err(InsuranceError::Refused { .. }) | Ok(_) => done(StayReply::SettlementCancelled),
                    Err(e) => insurance(e),
                }
            }
            (StayStage::CancellingInterim(c), StayCall::RefundInterim { n, amount }) => {
                let paid = c.paid().ok_or_else(|| AppError::internal("a refund of an interim settlement the stay does not have"))?;
                let taken = format!("{}:interim:{n}:{}", s.id, paid.bank_operation());
                let bank = self.bank(&agreement.bank_code)?;
                match bank.refund(&format!("{}:interim:{n}:refund", s.id), &taken, *amount, in_doubt).await {
                    Ok(()) => done(StayReply::Refunded),
                    Err(BankError::Refused { code, message }) => Ok(StayOutcome::Refused { code: code.to_string(), message }),
                    Err(e) => Err(AppError::from(e)),
                }
            }
            (StayStage::WithdrawingFees(w), StayCall::WithdrawFees) => {
                let withdrawal = &w.withdrawal;
                match ins.withdraw_stay_fees(&withdrawal.msgid, &inst, admdvs, &mdtrt_id, &s.psn_no, &withdrawal.lines).await {
                    // Asked about (5204) before it is believed (app/undo_checks.rs).
                    Err(e @ InsuranceError::Refused { .. })
                        if !self.stay_fee_withdrawal_took_effect(&inst, s, &mdtrt_id, &withdrawal.lines).await? =>
                    {
                        insurance(e)
                    }
                    Err(InsuranceError::Refused { .. }) | Ok(_) => done(StayReply::FeesWithdrawn),
                    Err(e) => insurance(e),
                }
            }
            (_, other) => Err(AppError::internal(format!("{other:?} is not a call of the ward's undoing in {}", stage.state()))),
        }
    }

    /// Saves a step of the stay machine: the stage, its transfers, the invoices and receipts it
    /// owes (`save_stay`); a step that answered a withdrawal (2302) takes its lines off the stay
    /// in the same commit (`save_stay_withdrawn`), so a run that lost the race deletes nothing.
    pub(super) async fn save_stay_step(
        &self,
        s: &StayRow,
        from_json: &str,
        from: &StayStage,
        step: &StayStep,
        owed: &[StayInvoiceOwed],
        deposits: &DepositSteps,
    ) -> Result<bool, AppError> {
        let withdrawn = inpatient::lines_withdrawn(from, &step.stage);
        if withdrawn.is_empty() {
            return Ok(self.store.save_stay(s, from_json, &step.transfers, owed, deposits).await?);
        }
        debug_assert!(step.transfers.is_empty() && owed.is_empty(), "a withdrawal moves no money");
        Ok(self.store.save_stay_withdrawn(s, from_json, withdrawn).await?)
    }
}
