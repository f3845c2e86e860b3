//! The ward's cancellations: 出院撤销 (2405), 住院结算撤销 (2305) and 入院撤销 (2404, then the
//! hold's release). Each request moves on only a cancellation of its own kind (one whose answer
//! was lost); another kind under way is answered `409 stay_in_progress`, never as a refusal the
//! insurance center did not make.

use super::inpatient::{stay_stage, StayView};
use super::App;
use crate::error::AppError;
use crate::store::StayRow;
use wugan_domain::inpatient::{self, StayStage};

impl App {
    /// 出院撤销 (2405): a discharged stay not yet settled goes back to the ward.
    pub async fn undo_discharge(&self, hospital: &str, id: &str) -> Result<StayView, AppError> {
        let ours = |stage: &StayStage| matches!(stage, StayStage::UndoingDischarge(_));
        self.ward_cancels(hospital, id, inpatient::begin_undo_discharge, ours, |stage| matches!(stage, StayStage::InWard(_))).await
    }

    /// 住院结算撤销 (2305): a settled stay's settlement is reversed and the capture refunded.
    pub async fn cancel_stay_settlement(&self, hospital: &str, id: &str) -> Result<StayView, AppError> {
        let ours = |stage: &StayStage| matches!(stage, StayStage::CancellingSettlement { .. });
        let done = |stage: &StayStage| matches!(stage, StayStage::SettlementCancelled(_));
        self.ward_cancels(hospital, id, inpatient::begin_cancel_settlement, ours, done).await
    }

    /// 入院撤销 (2404): a stay in the ward is cancelled at insurance and its hold released.
    pub async fn cancel_admission(&self, hospital: &str, id: &str) -> Result<StayView, AppError> {
        let ours = |stage: &StayStage| matches!(stage, StayStage::CancellingAdmission(_) | StayStage::Releasing(_));
        self.ward_cancels(hospital, id, inpatient::begin_cancel_admission, ours, |stage| matches!(stage, StayStage::Cancelled)).await
    }

    async fn ward_cancels(
        &self,
        hospital: &str,
        id: &str,
        begin: fn(&StayStage) -> Result<StayStage, inpatient::StayError>,
        ours: fn(&StayStage) -> bool,
        done: fn(&StayStage) -> bool,
    ) -> Result<StayView, AppError> {
        let mut s = self.own_stay(hospital, id).await?;
        let stage = stay_stage(&s)?;
        // Done already (a retry after an unknown outcome the recovery worker finished, or after a
        // crash): the ward is answered with the stay as its cancellation left it, not refused. Not
        // so in the ward, the everyday state an undone discharge returns to: there a request to
        // undo one is refused as ever.
        if done(&stage) && !matches!(stage, StayStage::InWard(_)) {
            return self.stay_view(&s).await;
        }
        // One of its kind cut short (its answer lost) is moved on; another kind under way is not
        // this request's to answer for; otherwise the ward's request begins one.
        if cancelling(&stage) && !ours(&stage) {
            return Err(another_cancellation(&s));
        }
        if !ours(&stage) {
            if matches!(stage, StayStage::Settled(_) | StayStage::SettledUnpaid(_)) {
                self.refuse_if_bill_collected(&s.id).await?; // its collection is a charge of its own
            }
            let next = begin(&stage).map_err(|e| AppError::conflict("stay_not_open", e.to_string()))?;
            s.cancel_msgid = Some(self.msgid(hospital).await?);
            s = self.move_stay(s, &stage, next).await?;
        }
        let s = self.advance_stay(s, false).await?;
        self.invoice_stay_after(&s.id).await;
        match stay_stage(&s)? {
            stage if done(&stage) => self.stay_view(&s).await,
            StayStage::Discharged { refusal: Some(refusal), .. } => Err(AppError::invalid("insurance_refused", refusal.message)),
            // Another request's cancellation got there first: no refusal was made.
            stage if cancelling(&stage) && !ours(&stage) => Err(another_cancellation(&s)),
            _ => Err(AppError::invalid("insurance_refused", "the insurance center refused the cancellation; the stay is as it was")),
        }
    }
}

/// A ward cancellation (2405, 2305, 2404 and the release after it, 2305 of an interim settlement)
/// or a withdrawal of fee lines (2302) is under way.
fn cancelling(stage: &StayStage) -> bool {
    matches!(
        stage,
        StayStage::UndoingDischarge(_)
            | StayStage::CancellingAdmission(_)
            | StayStage::Releasing(_)
            | StayStage::CancellingSettlement { .. }
            | StayStage::CancellingInterim(_)
            | StayStage::WithdrawingFees(_)
    )
}

fn another_cancellation(s: &StayRow) -> AppError {
    AppError::conflict(
        "stay_in_progress",
        format!(
            "another cancellation of stay {} is under way ({}): nothing was sent for this one; retry once it is answered",
            s.ipt_no, s.state
        ),
    )
}
