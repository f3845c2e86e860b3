//! Stays in the exceptions queue (差错处理): a stay whose partner stayed silent through
//! `MAX_ATTEMPTS` recovery passes (`resume_stays` counts them) is parked with its last error as
//! evidence, shown beside the parked settlements, and sent round once more by an operator.

use super::inpatient::StayView;
use super::*;
use serde::Serialize;
use utoipa::ToSchema;

/// Parked stays listed at most.
const PARKED_STAYS_MAX: i64 = 500;

/// A stay the recovery worker parked: the stay as the ward sees it, with the evidence.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StuckStayView {
    #[serde(flatten)]
    pub stay: StayView,
    pub attempts: i64,
    /// The last error: which partner stayed silent, or answered what.
    pub parked_reason: String,
}

impl App {
    /// The parked stays, oldest first.
    pub(crate) async fn stuck_stays(&self) -> Result<Vec<StuckStayView>, AppError> {
        let mut out = Vec::new();
        for (s, attempts, parked_reason) in self.store.parked_stays(PARKED_STAYS_MAX).await? {
            out.push(StuckStayView { stay: self.stay_view(&s).await?, attempts, parked_reason });
        }
        Ok(out)
    }

    /// An operator sends a parked stay round once more: the same step, with the same request ids.
    pub async fn retry_stay_exception(&self, stay_id: &str) -> Result<StayView, AppError> {
        let s = self.store.stay(stay_id).await?.ok_or_else(|| AppError::not_found("stay_not_found", format!("no stay {stay_id}")))?;
        if !self.store.unpark_stay(stay_id).await? {
            return Err(AppError::conflict("not_parked", "this stay is not waiting in the exceptions queue"));
        }
        let result = self.advance_stay(s, true).await;
        if let Err(e) = &result {
            if e.is_retryable() {
                self.store.note_failed_stay_attempt(stay_id, &e.for_an_operator(), MAX_ATTEMPTS).await?;
            }
        }
        let s = result?;
        self.invoice_stay_after(&s.id).await;
        self.stay_view(&s).await
    }
}
