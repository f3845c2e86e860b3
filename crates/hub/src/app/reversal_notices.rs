//! `settlement_cancelled`: a settlement reversed after the patient paid, told to the patient and to
//! the signer who pays for them (亲情付), as a refund is (`refund_notices`): which hospital and
//! visit or stay, what the settlement came to, and where each part went back (the credit line or
//! the bank card, the insurance personal account, the fund; in insurance-only mode the hospital
//! hands the cash back itself). Two records, each read by an incremental scan of the notifier
//! with its own cursor (the first look, on upgrade, reads the last day only):
//!
//! - a visit's settlement cancelled (结算撤销, 2208): the platform's 2208 passed on by the drop-in
//!   national interface (`national_interface`, and `national_cancellations` when its answer was
//!   lost or refused), a cash-only or insurance-only cancellation posted by the HIS (`cash_only`),
//!   or the hub's own (`settlement::cancel_settlement`). The settlement's final state `cancelled`
//!   is written only once the bank refunded what it took (`saga`: 2208, then the refund), and
//!   never changes after: a cursor on `settlements.updated_at`, the key `cancelled:{settlement}`.
//! - a stay's settlement reversed (2305): the bedside one (`stay_cancels`) or an interim one in the
//!   ward (`stay_interim_cancel`). Its record is the red invoice the 2305 owes
//!   (`stay_invoice_outbox`, kind `red`, with the settlement's facts), written in the commit that
//!   books the 2305; the refund of the bank share comes after it, in a commit of its own that
//!   moves the stay on. So the scan follows the stays changed (a cursor on `stays.updated_at`),
//!   tells a reversal once its stay is no longer reversing it, and reads one whose refund is still
//!   to come again when the refund moves the stay. The key `stay_cancelled:{stay}:{setl_id}`: a
//!   stay settled again and cancelled again is another settlement.
//!
//! Told when money went back (a share the bank took, the account's, the fund's, the hospital's
//! cash) or a bill the settlement left unpaid is void with it (the patient was told they owe it:
//! the text says the amount due is less); a reversal of a settlement nobody paid or owed is not.

use super::inpatient::stay_stage;
use super::refund_notices::{paid_to, where_it_went, GivenBack};
use super::*;
use crate::store::StayReversal;
use wugan_domain::inpatient::{StayPaid, StayStage};
use wugan_domain::settlement::saga::Stage;

/// Settlements and stays read per pass at most.
const PASS_LIMIT: i64 = 200;
/// The notification's kind.
const KIND: &str = "settlement_cancelled";

/// What a reversed settlement gave back, from its split and what the bank took (`captured`).
fn given_back(split: &wugan_domain::settlement::InsuranceSplit, captured: Fen, at_hospital: Fen) -> GivenBack {
    GivenBack {
        refunded: split.medfee.0,
        bank: captured.0,
        account: split.personal_account.0,
        fund: split.fund.0,
        at_hospital: at_hospital.0,
    }
}

/// Whether the patient has anything to be told: money went back to their side, or a bill they were
/// told they owe (`unpaid`) is void with the settlement.
fn worth_telling(back: &GivenBack, unpaid: Fen) -> bool {
    back.bank + back.account + back.fund + back.at_hospital > 0 || unpaid.is_positive()
}

/// The stay is still reversing the settlement `setl_id`: 2305 is booked, its refund still to come.
fn still_reversing(stage: &StayStage, setl_id: &str) -> bool {
    match stage {
        StayStage::CancellingSettlement { paid, .. } => paid.setl_id == setl_id,
        StayStage::CancellingInterim(c) => c.paid().is_some_and(|p| p.setl_id == setl_id),
        _ => false,
    }
}

/// The number of the interim settlement (中途结算) `paid` is, if it is one: the red invoice of an
/// interim settlement's reversal carries the ward that still held it.
fn interim_n(paid: &StayPaid) -> Option<u32> {
    paid.ward.interims.iter().find(|i| i.setl_id == paid.setl_id).map(|i| i.n)
}

/// The text message of a `settlement_cancelled` notification (Chinese, as the SMS channel is).
pub(super) fn text(f: &Value) -> String {
    let who = if f["member"].as_bool().unwrap_or(false) { "您的家人" } else { "您" };
    let no = f["ipt_otp_no"].as_str().unwrap_or("");
    let what = match (f["kind"].as_str(), f["interim_n"].as_u64()) {
        (Some("stay"), Some(n)) => format!("住院（{no}）第{n}次中途结算"),
        (Some("stay"), None) => format!("住院（{no}）结算"),
        _ => format!("就诊（{no}）结算"),
    };
    format!(
        "{who}在{}的{what}已撤销（总费用{}元）：{}。",
        super::notifications::hospital_of(f),
        Fen(f["refunded_fen"].as_i64().unwrap_or(0)).to_yuan_string(),
        where_it_went(f)
    )
}

impl App {
    /// The settlements cancelled and the stays' reversals since their cursors, each told to its
    /// patient and payer. Returns how many notifications were made.
    pub(super) async fn notify_reversals(&self) -> Result<usize, AppError> {
        Ok(self.notify_cancelled_settlements().await? + self.notify_stay_reversals().await?)
    }

    /// A hub upgraded to this version tells the last day's reversals, not every one it ever made.
    fn first_look(&self) -> String {
        crate::clock::timestamp(self.store.clock.now_utc() - time::Duration::days(1))
    }

    async fn notify_cancelled_settlements(&self) -> Result<usize, AppError> {
        let since = self.store.notification_cursor("cancelled_settlements").await?.unwrap_or_else(|| self.first_look());
        let cancelled = self.store.settlements_cancelled_since(&since, PASS_LIMIT).await?;
        let mut made = 0;
        for s in &cancelled {
            made += self.notify_cancelled(s).await?;
        }
        if let Some(last) = cancelled.last() {
            self.store.set_notification_cursor("cancelled_settlements", &self.cursor_after(&last.updated_at)).await?;
        }
        Ok(made)
    }

    async fn notify_cancelled(&self, s: &SettlementRow) -> Result<usize, AppError> {
        let Some(Stage::Cancelled(paid)) = s.stage() else { return Ok(0) };
        let back = given_back(&paid.insured.split, paid.captured, paid.at_hospital);
        if !worth_telling(&back, paid.unpaid()) {
            return Ok(0);
        }
        let (Some(visit), Some(agreement)) = (self.store.visit(&s.visit_id).await?, self.store.agreement(&s.agreement_id).await?) else {
            return Ok(0);
        };
        let VisitRow { hospital_code, ipt_otp_no, psn_no, .. } = visit;
        let facts = json!({"kind": "visit", "settlement_id": s.id, "visit_id": s.visit_id, "hospital_code": hospital_code,
                           "ipt_otp_no": ipt_otp_no});
        self.tell_reversal(&psn_no, &agreement, &format!("cancelled:{}", s.id), facts, &back).await
    }

    async fn notify_stay_reversals(&self) -> Result<usize, AppError> {
        // Reversals booked before the first look are not told, however late their stay changes.
        let booked_from = match self.store.notification_cursor("stay_reversals_from").await? {
            Some(from) => from,
            None => {
                let from = self.first_look();
                self.store.set_notification_cursor("stay_reversals_from", &from).await?;
                from
            }
        };
        let since = self.store.notification_cursor("stay_reversals").await?.unwrap_or_else(|| booked_from.clone());
        let reversals = self.store.stay_reversals_since(&since, &booked_from, PASS_LIMIT).await?;
        let mut made = 0;
        for r in &reversals {
            made += self.notify_stay_reversal(r).await?;
        }
        if let Some(last) = reversals.last() {
            self.store.set_notification_cursor("stay_reversals", &self.cursor_after(&last.stay.updated_at)).await?;
        }
        Ok(made)
    }

    async fn notify_stay_reversal(&self, r: &StayReversal) -> Result<usize, AppError> {
        // A row that cannot be read now never will be: logged and passed over, not a stop to the
        // scan (the store's own failures, which a later pass may not meet, do stop it).
        let read = stay_stage(&r.stay).and_then(|stage| {
            let paid: StayPaid = serde_json::from_str(&r.paid_json)
                .map_err(|e| AppError::internal(format!("stay {}'s reversed settlement cannot be read: {e}", r.stay.id)))?;
            Ok((stage, paid))
        });
        let (stage, paid) = match read {
            Ok(read) => read,
            Err(e) => {
                tracing::error!(stay = %r.stay.id, error = %e, "a stay's reversal cannot be told");
                return Ok(0);
            }
        };
        // Its refund still to come: read again when the refund moves the stay on.
        if still_reversing(&stage, &r.setl_id) {
            return Ok(0);
        }
        let back = given_back(&paid.split, paid.captured, Fen::ZERO);
        if !worth_telling(&back, paid.unpaid()) {
            return Ok(0);
        }
        let Some(agreement) = self.store.agreement(&r.stay.agreement_id).await? else { return Ok(0) };
        let s = &r.stay;
        let facts = json!({"kind": "stay", "stay_id": s.id, "interim_n": interim_n(&paid), "hospital_code": s.hospital_code,
                           "ipt_otp_no": s.ipt_no});
        self.tell_reversal(&s.psn_no, &agreement, &format!("stay_cancelled:{}:{}", s.id, r.setl_id), facts, &back).await
    }

    /// Tells a reversal (`facts`: which settlement, with `hospital_code` and `ipt_otp_no`) to the
    /// patient `psn_no` and, when another signer's agreement paid for them, to that signer.
    async fn tell_reversal(
        &self,
        psn_no: &str,
        agreement: &AgreementRow,
        key: &str,
        mut facts: Value,
        back: &GivenBack,
    ) -> Result<usize, AppError> {
        let hospital_code = facts["hospital_code"].as_str().unwrap_or_default().to_string();
        let hospital_name = self.store.hospital_name(&hospital_code).await?.unwrap_or_default();
        let money = json!({"hospital_name": hospital_name, "refunded_fen": back.refunded, "bank_fen": back.bank,
                           "account_fen": back.account, "fund_fen": back.fund, "at_hospital_fen": back.at_hospital,
                           "to": paid_to(agreement.payment_method)});
        if let (Value::Object(facts), Value::Object(money)) = (&mut facts, money) {
            facts.extend(money);
        }
        self.notify_patient_and_payer(psn_no, &agreement.psn_no, key, KIND, facts).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wugan_domain::inpatient::{InterimCancel, InterimPaid, Ward};
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
    fn a_reversal_gives_back_every_share_and_a_bill_is_no_money_back() {
        let back = given_back(&split(7_000, 1_000, 2_000), Fen(2_000), Fen::ZERO);
        assert_eq!(back, GivenBack { refunded: 10_000, bank: 2_000, account: 1_000, fund: 7_000, at_hospital: 0 });
        assert!(worth_telling(&back, Fen::ZERO));
        // The whole cash share left unpaid: nothing went back, but the bill is void: told.
        let billed = given_back(&split(0, 0, 2_000), Fen::ZERO, Fen::ZERO);
        assert!(worth_telling(&billed, Fen(2_000)), "{billed:?}");
        // Nothing paid and nothing owed: nothing to tell.
        assert!(!worth_telling(&given_back(&split(0, 0, 0), Fen::ZERO, Fen::ZERO), Fen::ZERO));
        // Insurance only: the hospital hands back the cash it collected.
        assert!(worth_telling(&given_back(&split(0, 0, 2_000), Fen::ZERO, Fen(2_000)), Fen::ZERO));
    }

    #[test]
    fn a_stay_is_reversing_a_settlement_until_its_refund_is_booked() {
        let interim = InterimPaid {
            n: 2,
            setl_id: "S-I2".into(),
            split: split(100, 0, 50),
            captured: Fen(50),
            reheld: Fen::ZERO,
            decline_code: None,
            lines: vec!["1".into()],
            request: String::new(),
            charged_after_expiry: false,
        };
        let ward = Ward { interims: vec![interim.clone()], ..Ward::default() };
        let paid = StayPaid { ward: ward.clone(), setl_id: "S-B".into(), split: split(100, 0, 50), captured: Fen(50), decline_code: None };
        let cancelling = StayStage::CancellingSettlement { paid: paid.clone(), insurance_reversed: true };
        assert!(still_reversing(&cancelling, "S-B") && !still_reversing(&cancelling, "S-I2"));
        let in_the_middle =
            StayStage::CancellingInterim(InterimCancel { ward: ward.clone(), n: 2, msgid: "m".into(), insurance_reversed: true });
        assert!(still_reversing(&in_the_middle, "S-I2") && !still_reversing(&in_the_middle, "S-B"));
        assert!(!still_reversing(&StayStage::SettlementCancelled(ward.clone()), "S-B"));
        // The bedside settlement is no interim one; the interim's red invoice names its number.
        assert_eq!(interim_n(&paid), None);
        assert_eq!(interim_n(&StayPaid { setl_id: "S-I2".into(), ..paid }), Some(2));
    }

    #[test]
    fn the_text_message_says_what_was_cancelled_and_where_the_money_went() {
        let f = json!({"kind": "visit", "hospital_name": "示范三甲医院", "ipt_otp_no": "MZ-1", "refunded_fen": 122500, "bank_fen": 110000,
                       "account_fen": 2500, "fund_fen": 10000, "at_hospital_fen": 0, "to": "credit_line", "member": false});
        assert_eq!(
            text(&f),
            "您在示范三甲医院的就诊（MZ-1）结算已撤销（总费用1225.00元）：1100.00元退回信用额度，25.00元退回医保个人账户，100.00元退回医保基金。"
        );
        let stay = json!({"kind": "stay", "hospital_code": "H1", "ipt_otp_no": "ZY-1", "interim_n": null, "refunded_fen": 15000,
                          "bank_fen": 4500, "fund_fen": 10500, "to": "debit_card", "member": true});
        assert_eq!(text(&stay), "您的家人在H1的住院（ZY-1）结算已撤销（总费用150.00元）：45.00元退回银行卡，105.00元退回医保基金。");
        let mut interim = stay;
        interim["interim_n"] = json!(1);
        interim["member"] = json!(false);
        assert!(text(&interim).starts_with("您在H1的住院（ZY-1）第1次中途结算已撤销（总费用150.00元）"), "{}", text(&interim));
    }
}
