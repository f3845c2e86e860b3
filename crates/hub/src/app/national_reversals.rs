//! 2601 冲正交易 passed on by the drop-in endpoint (session 32's review): HIS software undoes a
//! 2207 whose answer it lost by reversing it, naming it by its msgid (`omsgid`, `oinfno` 2207).
//! The platform's settlement is then undone, and the patient's share the hub charged for it must
//! come back. The hub keeps no HIS msgid, so it asks the platform's record (5203, by setl_id)
//! about the person's settlements it paid at this hospital and still holds a charge for, and
//! refunds the one shown cancelled. A 2601 that is refused or not answered may have reversed all
//! the same (its first answer lost, the resend refused "already cancelled"): the same check runs.
//!
//! Also here: a drop-in 2207 that comes while an earlier settlement of its visit stands at the hub
//! checks that one first (`refund_if_cancelled_unseen`): the platform may have cancelled it by a
//! path the hub did not see, and the new settlement takes the same lines.

use super::cash_only::{CashCancelRequest, Seen};
use super::national_cancellations::PlatformRecord;
use super::national_interface::{national_error, refund_view, NationalAnswer, Posted};
use super::*;
use crate::insurance_client::text;
use crate::store::HospitalProfile;

/// How many of a person's newest visits a 2601 of a 2207 looks among for the settlement it undid.
const REVERSAL_CANDIDATES: i64 = 100;
/// How long a 2601 waits for a settlement of the person still being charged (a bank call's 10 s
/// and some): the 2207 it reverses may be that one.
const CHARGE_WAIT: std::time::Duration = std::time::Duration::from_secs(12);

impl App {
    /// After the platform's yes to a 2601: the reply with `output.wugan_payment` saying what was
    /// refunded.
    pub(super) async fn after_reversal(&self, hospital: &HospitalProfile, envelope: &Value, mut reply: Value) -> Value {
        let payment = self.reversal_payment(hospital, envelope).await;
        if !reply.get("output").is_some_and(Value::is_object) {
            reply["output"] = json!({});
        }
        reply["output"]["wugan_payment"] = payment;
        reply
    }

    /// The platform refused a 2601: a settlement it shows undone all the same is refunded and the
    /// refusal goes back with `wugan_payment` saying so; else as it came.
    pub(super) async fn after_refused_reversal(
        &self,
        hospital: &HospitalProfile,
        envelope: &Value,
        status: u16,
        body: Vec<u8>,
        reply: Value,
    ) -> NationalAnswer {
        let payment = self.reversal_payment(hospital, envelope).await;
        if payment["status"] != "refunded" {
            return NationalAnswer::AsItCame { status, body };
        }
        let mut reply = reply;
        if !reply.get("output").is_some_and(Value::is_object) {
            reply["output"] = json!({});
        }
        reply["output"]["wugan_payment"] = payment;
        NationalAnswer::Written(reply)
    }

    /// The platform did not answer a 2601: a settlement it shows undone is refunded and the HIS
    /// answered with a success; else it resends the same message.
    pub(super) async fn resolve_lost_reversal(&self, hospital: &HospitalProfile, envelope: &Value, why: &str) -> NationalAnswer {
        let payment = self.reversal_payment(hospital, envelope).await;
        if payment["status"] != "refunded" {
            let en = format!("the insurance platform did not answer; resend the same message ({why})");
            return NationalAnswer::Written(national_error("医保平台未应答，请用原报文ID重发", en));
        }
        NationalAnswer::Written(json!({"infcode": 0, "err_msg": "",
            "warn_msg": format!("the platform's reply was lost ({why}); its settlement record (5203) shows the settlement undone"),
            "output": {"wugan_payment": payment}}))
    }

    /// What the hub does about a 2601's money: a reversed 2207's share refunded; a reversed 2208
    /// restores a settlement whose share the hub refunded, which it does not charge again.
    async fn reversal_payment(&self, hospital: &HospitalProfile, envelope: &Value) -> Value {
        let data = super::national_interface::payload(envelope);
        match text(data, "oinfno").trim() {
            "2207" => self.refund_reversed(hospital, text(data, "psn_no").trim()).await,
            "2208" => json!({"status": "not_charged", "code": "cancellation_reversed",
                "message": "a reversed 2208 restores the settlement at the platform; the hub does not charge a refunded share again: collect it at the window"}),
            other => json!({"status": "none", "message": format!("the hub pays nothing around a {other}: nothing to refund")}),
        }
    }

    /// The refund of the person's settlement at this hospital that the platform shows undone. A
    /// settlement still being charged is waited for; one whose record cannot be read makes the
    /// answer `not_refunded` (the HIS resends the 2601, refused as already done, and this runs again).
    async fn refund_reversed(&self, hospital: &HospitalProfile, psn_no: &str) -> Value {
        let visits = match self.store.visit_ids_of_person(psn_no, None, REVERSAL_CANDIDATES).await {
            Ok(visits) => visits,
            Err(e) => return refund_view(Err(e.into())),
        };
        let mut unknown = None;
        for visit_id in visits {
            let s = match self.store.settlement_of_visit(&visit_id).await {
                Ok(Some(s)) if s.hospital_code == hospital.code => s,
                Ok(_) => continue,
                Err(e) => return refund_view(Err(e.into())),
            };
            let s = match s.state.is_final() {
                true => s,
                false => match self.settlement_once_final(Posted::Id(&s.id), CHARGE_WAIT).await {
                    Some(_) => match self.store.settlement(&s.id).await {
                        Ok(Some(s)) => s,
                        Ok(None) => continue,
                        Err(e) => return refund_view(Err(e.into())),
                    },
                    None => {
                        unknown = Some(format!("settlement {} is still being charged: resend the 2601", s.id));
                        continue;
                    }
                },
            };
            match self.refund_if_cancelled(&s, "ni-reverse").await {
                Refund::Refunded(view) => return view,
                Refund::Kept => {}
                Refund::Unknown(why) => unknown = Some(why),
            }
        }
        match unknown {
            Some(why) => json!({"status": "not_refunded", "code": "insurance_unavailable", "message": why}),
            None => json!({"status": "none", "message": "the hub holds no charge for a settlement this reversal undid"}),
        }
    }

    /// A drop-in 2207 while the hub's settlement `s` of its visit stands: if the platform shows `s`
    /// cancelled (by a path the hub did not see), its share is refunded first, and `s` no longer
    /// stands. True when it was refunded.
    pub(super) async fn refund_if_cancelled_unseen(&self, s: &SettlementRow) -> bool {
        matches!(self.refund_if_cancelled(s, "ni-unseen").await, Refund::Refunded(_))
    }

    /// `s`'s share refunded when it is a drop-in (cash-only) settlement the hub still holds a
    /// charge for and the platform's record shows it cancelled; `scope` names the refund's key.
    async fn refund_if_cancelled(&self, s: &SettlementRow, scope: &str) -> Refund {
        if !s.state.is_cancellable() {
            return Refund::Kept;
        }
        let record = match self.store.settlement_record(&s.id).await {
            Ok(record) => record,
            Err(e) => return Refund::Unknown(e.to_string()),
        };
        let Some(setl_id) = record.filter(|r| !r.setl_type.hub_settles_insurance()).and_then(|r| r.posted_setl_id) else {
            return Refund::Kept;
        };
        match self.platform_record(s, &setl_id).await {
            PlatformRecord::Stands => Refund::Kept,
            PlatformRecord::Unknown(why) => Refund::Unknown(why),
            PlatformRecord::Cancelled => {
                tracing::warn!(settlement = %s.id, scope, "the platform shows the settlement cancelled: its share is refunded");
                let request = Keyed::unstored(&format!("{scope}:{setl_id}"));
                let without_record = CashCancelRequest { output: Value::Null };
                let refunded = self.cancel_cash_only_on(&s.hospital_code, &s.visit_id, &without_record, &request, Seen::OnTheWire).await;
                Refund::Refunded(refund_view(refunded))
            }
        }
    }
}

/// What became of a settlement the platform may have cancelled.
enum Refund {
    /// Refunded (or the refund's failure): its `wugan_payment`.
    Refunded(Value),
    /// It stands at the platform, or the hub holds no charge for it.
    Kept,
    /// The record could not be read (why).
    Unknown(String),
}
