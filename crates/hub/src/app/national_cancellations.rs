//! A 2208 passed on by the drop-in endpoint that cancelled without the hub seeing its success
//! (review r25 ni F3). Its reply is lost; the HIS resends with a *new* msgid, as HIS software
//! does, and the platform refuses that one "该结算已撤销" (already cancelled), which the HIS reads as
//! done. Or the platform answers a refusal after its own chain timed out with the change made.
//! Either way insurance is cancelled and the patient's share the hub charged must come back. The
//! settlement's record (5203 结算信息查询, by its setl_id) says whether it still stands, as for the
//! hub's own 2208 (`refusal_checks`): cancelled, the share is refunded; standing, or 5203 unable
//! to say, nothing is done and the HIS is told to resend, or gets the refusal as it came.

use super::cash_only::{CashCancelRequest, Seen};
use super::national_interface::{national_error, NationalAnswer};
use super::*;
use crate::insurance_client::text;
use crate::insurance_reply;
use crate::store::HospitalProfile;

impl App {
    /// The platform did not answer a 2208: cancelled at the platform (5203), the share is refunded
    /// and the HIS answered with a success without a record (a 2208 may have none); else it
    /// resends the same message, whose replay the platform answers.
    pub(super) async fn resolve_lost_cancellation(&self, hospital: &HospitalProfile, envelope: &Value, why: &str) -> NationalAnswer {
        match self.cancelled_at_the_platform(hospital, envelope).await {
            Some(payment) => NationalAnswer::Written(json!({"infcode": 0, "err_msg": "",
                "warn_msg": format!("the platform's reply was lost ({why}); its settlement record (5203) shows the settlement cancelled"),
                "output": {"wugan_payment": payment}})),
            None => {
                NationalAnswer::Written(national_error(format!("the insurance platform did not answer ({why}); resend the same message")))
            }
        }
    }

    /// The platform refused a 2208: if 5203 shows the settlement cancelled all the same, the share
    /// is refunded and the refusal goes back with `wugan_payment` saying so; else as it came.
    pub(super) async fn after_refused_cancellation(
        &self,
        hospital: &HospitalProfile,
        envelope: &Value,
        status: u16,
        body: Vec<u8>,
        mut reply: Value,
    ) -> NationalAnswer {
        let Some(payment) = self.cancelled_at_the_platform(hospital, envelope).await else {
            return NationalAnswer::AsItCame { status, body };
        };
        if !reply.get("output").is_some_and(Value::is_object) {
            reply["output"] = json!({});
        }
        reply["output"]["wugan_payment"] = payment;
        NationalAnswer::Written(reply)
    }

    /// The refund of the 2208's settlement, made when the hub still holds its charge and the
    /// platform's record shows it cancelled (its `wugan_payment`). `None`: the hub charged nothing
    /// that stands for it, the settlement stands, or 5203 could not say.
    async fn cancelled_at_the_platform(&self, hospital: &HospitalProfile, envelope: &Value) -> Option<Value> {
        if !self.platform_shows_cancelled(hospital, envelope).await {
            return None;
        }
        tracing::warn!("a 2208 without a success: 5203 shows the settlement cancelled, the share is refunded");
        Some(self.refund_after_cancellation(hospital, envelope, &Value::Null).await)
    }

    /// Whether the 2208's settlement is one the hub charged for and still holds, and the
    /// platform's settlement record (5203, by its setl_id) shows it cancelled. No: it stands, the
    /// hub holds nothing for it, or 5203 could not say.
    pub(super) async fn platform_shows_cancelled(&self, hospital: &HospitalProfile, envelope: &Value) -> bool {
        let setl_id = text(super::national_interface::payload(envelope), "setl_id").trim().to_string();
        match self.settlement_of_posted(&setl_id).await {
            Some(s) => self.shows_cancelled(hospital, &s, &setl_id).await,
            None => false,
        }
    }

    /// Whether the hub's settlement `s` of the platform's `setl_id` is the hospital's, still holds
    /// its charge, and the platform's record (5203) shows it cancelled.
    async fn shows_cancelled(&self, hospital: &HospitalProfile, s: &SettlementRow, setl_id: &str) -> bool {
        if setl_id.is_empty() || s.hospital_code != hospital.code || !s.state.is_cancellable() {
            return false;
        }
        let Some(visit) = self.store.visit(&s.visit_id).await.ok().flatten() else { return false };
        let (Ok(msgid), Ok(inst)) = (self.msgid(&hospital.code).await, self.institution(&hospital.code).await) else { return false };
        let input = json!({"data": {"setl_id": setl_id, "mdtrt_id": visit.mdtrt_id, "psn_no": visit.psn_no}});
        let output = match self.insurance.call("5203", &msgid, &inst, &visit.insuplc_admdvs, input).await {
            Ok(output) => output,
            Err(e) => {
                tracing::warn!(settlement = %s.id, error = %e, "5203 could not say whether the settlement was cancelled");
                return false;
            }
        };
        // Only a record that lists settlements is evidence: an empty one says nothing.
        insurance_reply::lists_settlements(&output) && !insurance_reply::settlement_stands(&output, setl_id)
    }

    async fn settlement_of_posted(&self, setl_id: &str) -> Option<SettlementRow> {
        if setl_id.is_empty() {
            return None;
        }
        let id = self.store.settlement_of_posted_setl_id(setl_id).await.ok()??;
        self.store.settlement(&id).await.ok()?
    }

    /// After the platform's yes to a 2601 (冲正) of a 2207: that settlement is undone at the
    /// platform, and the share the hub charged for it comes back. 2601 names the 2207 by its msgid
    /// only, which the hub does not keep, so the person's settlements the hub paid at this
    /// hospital that still hold a charge are asked about (5203, by setl_id, the newest
    /// [`REVERSAL_CANDIDATES`]); each the record shows cancelled is refunded. The reply goes back
    /// with `output.wugan_payment` saying what was refunded.
    pub(super) async fn after_reversal(&self, hospital: &HospitalProfile, envelope: &Value, mut reply: Value) -> Value {
        let data = super::national_interface::payload(envelope);
        let payment = match text(data, "oinfno").trim() {
            "2207" => self.refund_reversed(hospital, text(data, "psn_no").trim()).await,
            other => json!({"status": "none", "message": format!("the hub pays nothing around a {other}: nothing to refund")}),
        };
        if !reply.get("output").is_some_and(Value::is_object) {
            reply["output"] = json!({});
        }
        reply["output"]["wugan_payment"] = payment;
        reply
    }

    async fn refund_reversed(&self, hospital: &HospitalProfile, psn_no: &str) -> Value {
        let visits = self.store.visit_ids_of_person(psn_no, None, REVERSAL_CANDIDATES).await.unwrap_or_default();
        for visit_id in visits {
            let Some(s) = self.store.settlement_of_visit(&visit_id).await.ok().flatten() else { continue };
            let record = self.store.settlement_record(&s.id).await.ok().flatten();
            let Some(setl_id) = record.filter(|r| !r.setl_type.hub_settles_insurance()).and_then(|r| r.posted_setl_id) else { continue };
            if !self.shows_cancelled(hospital, &s, &setl_id).await {
                continue;
            }
            tracing::warn!(settlement = %s.id, "a 2601 reversed its 2207: the share is refunded");
            let request = Keyed::unstored(&format!("ni-reverse:{setl_id}"));
            let without_record = CashCancelRequest { output: Value::Null };
            let refunded = self.cancel_cash_only_on(&hospital.code, &visit_id, &without_record, &request, Seen::OnTheWire).await;
            return super::national_interface::refund_view(refunded);
        }
        json!({"status": "none", "message": "the hub holds no charge for a settlement this reversal undid"})
    }
}

/// How many of a person's newest visits a 2601 of a 2207 looks among for the settlement it undid.
const REVERSAL_CANDIDATES: i64 = 20;
