//! 补交押金: a fresh deposit hold for a stay in the ward that holds nothing
//! (`POST /api/v1/stays/{id}/deposit`): its deposit was declined at admission, or an interim
//! settlement (中途结算) captured the whole hold, or holding the rest again was declined. The raise
//! (增量授权) cannot help there: it needs an open authorization. The orchestrator of
//! `wugan_domain::inpatient::begin_place_hold`: the amount is fixed in the stage under the next
//! bank request id `{stay}:hold:{n}` before it is sent; an unknown outcome leaves the stay
//! `raising_deposit`, and the retry, the bedside click or the recovery worker asks the bank for that
//! request's record (never a second hold). Approved, the stay is `in_ward` again and the fresh
//! hold is the stay's hold: raised with the fees, captured at the bedside, released on a cancel.

use super::inpatient::{stay_stage, StayView};
use super::*;
use wugan_domain::inpatient::{self, StayStage};

/// The ward's request for a fresh deposit hold.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceDepositRequest {
    /// The deposit to hold, in fen (at most 100,000 yuan).
    pub deposit_fen: i64,
}

impl App {
    /// Places a fresh hold for a stay in the ward that holds nothing; answers the stay: `in_ward`
    /// with `held_fen` when the bank approved, `deposit_short` naming the decline when it did not.
    pub async fn place_deposit(&self, hospital: &str, id: &str, req: PlaceDepositRequest) -> Result<StayView, AppError> {
        if !(1..=super::inpatient::MAX_DEPOSIT_FEN).contains(&req.deposit_fen) {
            return Err(AppError::invalid("bad_amount", "deposit_fen must be between 1 and 10000000 (100,000 yuan)"));
        }
        let s = self.own_stay(hospital, id).await?;
        let stage = stay_stage(&s)?;
        if matches!(&stage, StayStage::InWard(w) if w.placing.is_some()) {
            // An earlier request's hold whose answer was lost: that one is answered (the bank asked
            // for its record), and the stay as it then stands is this request's answer.
            let s = self.advance_stay(s, true).await?;
            self.invoice_stay_after(&s.id).await;
            return self.stay_view(&s).await;
        }
        super::stay_interim_cancel::refuse_while_undoing(&stage)?;
        let next = inpatient::begin_place_hold(&stage, Fen(req.deposit_fen)).map_err(|e| match &stage {
            StayStage::Interim(_) => super::stay_interim::interim_in_progress(),
            StayStage::InWard(w) if w.held().is_positive() => AppError::conflict("hold_open", e.to_string()),
            _ => AppError::conflict("stay_not_open", e.to_string()),
        })?;
        let s = self.move_stay(s, &stage, next).await?;
        let s = self.advance_stay(s, false).await?;
        self.invoice_stay_after(&s.id).await; // the deposit receipt, where the policy says so
        self.stay_view(&s).await
    }
}
