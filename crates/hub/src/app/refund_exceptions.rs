//! Refunds in the exceptions queue (差错处理): a refund the bank declined after insurance had
//! reversed the settlement (the card closed, the line frozen), or one whose partner stayed silent
//! through `MAX_ATTEMPTS` recovery passes, is parked with the reason as evidence, shown beside the
//! parked settlements and stays, and sent round once more by an operator with the same request ids
//! (the bank refund's id is `{refund}:bank`, so a retry never gives the money back twice).

use super::refunds::{stage_of, RefundView};
use super::*;

/// Parked refunds listed at most.
const PARKED_REFUNDS_MAX: i64 = 500;

impl App {
    /// The parked refunds, oldest first (each carries its `parked_reason`).
    pub(crate) async fn stuck_refunds(&self) -> Result<Vec<RefundView>, AppError> {
        let rows = self.store.parked_refunds(PARKED_REFUNDS_MAX).await?;
        rows.iter().map(|r| Ok(RefundView::of(r, &stage_of(r)?))).collect()
    }

    /// An operator sends a parked refund round once more: the same step, with the same request ids.
    pub async fn retry_refund_exception(&self, refund_id: &str) -> Result<RefundView, AppError> {
        let r =
            self.store.refund(refund_id).await?.ok_or_else(|| AppError::not_found("refund_not_found", format!("no refund {refund_id}")))?;
        if !self.store.unpark_refund(refund_id).await? {
            return Err(AppError::conflict("not_parked", "this refund is not waiting in the exceptions queue"));
        }
        let visit = self.store.visit(&r.visit_id).await?.ok_or_else(|| AppError::internal("a refund's visit vanished"))?;
        let r = self.drive_refund(r, &visit, true).await?;
        let stage = stage_of(&r)?;
        if matches!(stage, wugan_domain::refund::RefundStage::Refunded(_)) {
            self.invoice_refund(&r).await; // app/refund_invoices.rs
        }
        Ok(RefundView::of(&r, &stage))
    }
}
