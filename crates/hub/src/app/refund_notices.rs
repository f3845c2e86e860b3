//! `visit_refunded`: a visit refunded (退费, in part or in full: `app/refunds.rs`) is told to its
//! patient and to the signer who pays for them (亲情付), as `bill_unpaid` is: which hospital and
//! visit, what the returned lines came to, and where the money went back (the credit line or the
//! bank card, the insurance personal account, the fund; in insurance-only mode the hospital hands
//! the cash back itself). Once per refund (the event key is `refund:{id}`), made by the notifier's
//! incremental scan of the refunds finished (a cursor on `updated_at`, as the unpaid bills), so a
//! refund finished by the recovery worker or an operator is told too, and none is lost to a crash
//! between the refund's last write and its notice.

use super::*;
use crate::model::PaymentMethod;
use crate::store::RefundRow;
use wugan_domain::refund::{RefundStage, Refunded};

/// Refunds read per pass at most.
const PASS_LIMIT: i64 = 200;

/// What a finished refund gave back, in fen, as its notification tells it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct GivenBack {
    /// The returned lines' fees (the settlement's total less what the lines kept settle at).
    pub refunded: i64,
    /// Back to the credit line or the bank card (the bank's refund).
    pub bank: i64,
    /// Back to the insurance personal account.
    pub account: i64,
    /// Back to the insurance fund.
    pub fund: i64,
    /// Insurance only (setl_type HI): the cash the hospital hands back itself.
    pub at_hospital: i64,
}

/// What `done` gave back; `cash_at_hospital`: the click's cash share was the hospital's to collect.
pub(super) fn given_back(done: &Refunded, cash_at_hospital: bool) -> GivenBack {
    let before = &done.original.split;
    let kept = done.resettled.as_ref().map(|r| r.split).unwrap_or_default();
    let kept_cash = kept.cash;
    GivenBack {
        refunded: (before.medfee - kept.medfee).0,
        bank: done.bank_refund.0,
        account: (before.personal_account - kept.personal_account).0.max(0),
        fund: (before.fund - kept.fund).0.max(0),
        at_hospital: if cash_at_hospital { (before.cash - done.original.captured - kept_cash).0.max(0) } else { 0 },
    }
}

/// Where the money of a notification went back to: `credit_line` or `debit_card`, as its facts' `to`.
pub(super) fn paid_to(method: PaymentMethod) -> &'static str {
    match method {
        PaymentMethod::CreditLine => "credit_line",
        PaymentMethod::DebitCard => "debit_card",
    }
}

/// Where each part of the money went back, in words (the text messages of `visit_refunded` and
/// `settlement_cancelled`): "840.00元退回信用额度，60.00元退回医保个人账户", or, when nothing went
/// back, that what is owed is less.
pub(super) fn where_it_went(f: &Value) -> String {
    let fen = |k: &str| f[k].as_i64().unwrap_or(0);
    let yuan = |fen: i64| Fen(fen).to_yuan_string();
    let to = match f["to"].as_str() {
        Some("debit_card") => "银行卡",
        _ => "信用额度",
    };
    let mut parts = Vec::new();
    if fen("bank_fen") > 0 {
        parts.push(format!("{}元退回{to}", yuan(fen("bank_fen"))));
    }
    if fen("account_fen") > 0 {
        parts.push(format!("{}元退回医保个人账户", yuan(fen("account_fen"))));
    }
    if fen("fund_fen") > 0 {
        parts.push(format!("{}元退回医保基金", yuan(fen("fund_fen"))));
    }
    if fen("at_hospital_fen") > 0 {
        parts.push(format!("{}元由医院退还给您", yuan(fen("at_hospital_fen"))));
    }
    if parts.is_empty() {
        "应缴金额已相应减少".to_string()
    } else {
        parts.join("，")
    }
}

/// The text message of a `visit_refunded` notification (Chinese, as the SMS channel is).
pub(super) fn text(f: &Value) -> String {
    let who = if f["member"].as_bool().unwrap_or(false) { "您的家人" } else { "您" };
    let whole = if f["full"].as_bool().unwrap_or(false) { "已全部退费" } else { "部分项目已退费" };
    format!(
        "{who}在{}的就诊（{}）{whole}，退费金额{}元：{}。",
        super::notifications::hospital_of(f),
        f["ipt_otp_no"].as_str().unwrap_or(""),
        Fen(f["refunded_fen"].as_i64().unwrap_or(0)).to_yuan_string(),
        where_it_went(f)
    )
}

impl App {
    /// The refunds finished since the cursor, each told to its patient and payer. Returns how
    /// many notifications were made.
    pub(super) async fn notify_refunds(&self) -> Result<usize, AppError> {
        // A hub upgraded to this version tells the last day's refunds, not every refund it ever made.
        let first_look = || crate::clock::timestamp(self.store.clock.now_utc() - time::Duration::days(1));
        let since = self.store.notification_cursor("refunds").await?.unwrap_or_else(first_look);
        let refunds = self.store.refunds_finished_since(&since, PASS_LIMIT).await?;
        let mut made = 0;
        for r in &refunds {
            made += self.notify_refund(r).await?;
        }
        if let Some(last) = refunds.last() {
            self.store.set_notification_cursor("refunds", &self.cursor_after(&last.updated_at)).await?;
        }
        Ok(made)
    }

    async fn notify_refund(&self, r: &RefundRow) -> Result<usize, AppError> {
        let RefundStage::Refunded(done) = super::refunds::stage_of(r)? else { return Ok(0) };
        let (Some(visit), Some(click)) = (self.store.visit(&r.visit_id).await?, self.store.settlement(&r.settlement_id).await?) else {
            return Ok(0);
        };
        let Some(agreement) = self.store.agreement(&click.agreement_id).await? else { return Ok(0) };
        let back = given_back(&done, click.cash_at_hospital);
        let hospital_name = self.store.hospital_name(&visit.hospital_code).await?.unwrap_or_default();
        let to = paid_to(agreement.payment_method);
        let facts = json!({"refund_id": r.id, "visit_id": r.visit_id, "settlement_id": r.settlement_id, "hospital_code": visit.hospital_code,
                           "hospital_name": hospital_name, "ipt_otp_no": visit.ipt_otp_no, "full": r.remaining.is_empty(),
                           "refunded_fen": back.refunded, "bank_fen": back.bank, "account_fen": back.account, "fund_fen": back.fund,
                           "at_hospital_fen": back.at_hospital, "to": to});
        let key = format!("refund:{}", r.id);
        self.notify_patient_and_payer(&visit.psn_no, &agreement.psn_no, &key, "visit_refunded", facts).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wugan_domain::refund::{Original, Resettled};
    use wugan_domain::settlement::InsuranceSplit;

    fn split(fund: i64, account: i64, cash: i64) -> InsuranceSplit {
        InsuranceSplit {
            medfee: Fen(fund + account + cash),
            fund: Fen(fund),
            personal_account: Fen(account),
            cash: Fen(cash),
            ..InsuranceSplit::default()
        }
    }

    #[test]
    fn a_refund_gives_back_the_difference_of_each_share() {
        let original = Original { setl_id: "S1".into(), split: split(7_000, 1_000, 2_000), captured: Fen(2_000) };
        let kept = Resettled { setl_id: "S2".into(), split: split(3_500, 500, 1_000) };
        let part = Refunded { original: original.clone(), resettled: Some(kept), bank_refund: Fen(1_000) };
        assert_eq!(given_back(&part, false), GivenBack { refunded: 5_000, bank: 1_000, account: 500, fund: 3_500, at_hospital: 0 });
        let full = Refunded { original: original.clone(), resettled: None, bank_refund: Fen(2_000) };
        assert_eq!(given_back(&full, false), GivenBack { refunded: 10_000, bank: 2_000, account: 1_000, fund: 7_000, at_hospital: 0 });
        // Insurance only: nothing captured; the hospital hands its cash back.
        let hi = Refunded { original: Original { captured: Fen::ZERO, ..original }, resettled: None, bank_refund: Fen::ZERO };
        assert_eq!(given_back(&hi, true), GivenBack { refunded: 10_000, bank: 0, account: 1_000, fund: 7_000, at_hospital: 2_000 });
    }
}
