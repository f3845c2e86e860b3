//! Insurance only (setl_type HI): the hub settles insurance as in its own mode (2201 at
//! registration, 2204, 2206, 2207 at the click, 2208 on cancel and refund), and the hospital
//! collects the patient's cash share itself, at its window or its own channel. The attempt is
//! marked when it is created (`SettlementRow::cash_at_hospital`, from the visit's or the
//! hospital's type); from there the pure saga and refund machines never name a bank call
//! (`Parties::cash_at_hospital`), and the cash share is booked as collected at the hospital
//! (`cash_outside:{hospital}` → `hospital:{hospital}`), never as the patient's bill.
//!
//! What the HIS is told: the settlement's `cash_at_hospital_fen` (the cash to collect at the
//! window) and a refund's `hospital_returns_fen` (the cash to hand back).

use super::refunds::RefundView;
use super::*;
use crate::store::RefundRow;
use wugan_domain::refund::RefundStage;

impl App {
    /// A refund as the HIS reads it; for an insurance-only visit, with the cash the hospital
    /// hands back itself once it is refunded.
    pub(super) async fn refund_view(&self, r: &RefundRow, stage: &RefundStage) -> Result<RefundView, AppError> {
        let view = RefundView::of(r, stage);
        let click = self.store.settlement(&r.settlement_id).await?.ok_or_else(|| AppError::internal("a refund's settlement vanished"))?;
        Ok(RefundView { hospital_returns_fen: hospital_returns(click.cash_at_hospital, stage), ..view })
    }
}

/// The cash an insurance-only refund leaves for the hospital to hand back: the cash share it
/// collected less the remaining lines' new one. `None` before the refund is done, and in the
/// modes where the bank refunds.
fn hospital_returns(cash_at_hospital: bool, stage: &RefundStage) -> Option<i64> {
    let RefundStage::Refunded(done) = stage else { return None };
    let kept_cash = done.resettled.as_ref().map_or(Fen::ZERO, |r| r.split.cash);
    cash_at_hospital.then_some((done.original.split.cash - done.original.captured - kept_cash).0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wugan_domain::refund::{Original, Refunded, Resettled};
    use wugan_domain::settlement::InsuranceSplit;

    fn split(fund: i64, cash: i64) -> InsuranceSplit {
        InsuranceSplit { medfee: Fen(fund + cash), fund: Fen(fund), cash: Fen(cash), ..InsuranceSplit::default() }
    }

    #[test]
    fn the_hospital_hands_back_the_cash_it_collected_less_what_the_kept_lines_still_take() {
        let original = Original { setl_id: "S1".into(), split: split(7000, 3000), captured: Fen::ZERO };
        let refunded = |again: Option<InsuranceSplit>| {
            let resettled = again.map(|split| Resettled { setl_id: "S2".into(), split });
            RefundStage::Refunded(Refunded { original: original.clone(), resettled, bank_refund: Fen::ZERO })
        };
        assert_eq!(hospital_returns(true, &refunded(Some(split(4200, 1800)))), Some(1200), "a partial refund");
        assert_eq!(hospital_returns(true, &refunded(None)), Some(3000), "a full refund: all of it");
        assert_eq!(hospital_returns(false, &refunded(None)), None, "the bank refunds in the other modes");
        let waiting = RefundStage::Requested { original: original.clone(), remaining: Fen(6000) };
        assert_eq!(hospital_returns(true, &waiting), None, "nothing to hand back before insurance has re-settled");
    }
}
