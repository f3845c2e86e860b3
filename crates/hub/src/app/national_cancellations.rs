//! A 2208 passed on by the drop-in endpoint that cancelled without the hub seeing its success
//! (review r25 ni F3). Its reply is lost; the HIS resends with a *new* msgid, as HIS software
//! does, and the platform refuses that one "该结算已撤销" (already cancelled), which the HIS reads as
//! done. Or the platform answers a refusal after its own chain timed out with the change made.
//! Either way insurance is cancelled and the patient's share the hub charged must come back. The
//! settlement's record (5203 结算信息查询, by its setl_id) says whether it still stands, as for the
//! hub's own 2208 (`refusal_checks`): cancelled, the share is refunded; standing, or 5203 unable
//! to say, nothing is done and the HIS is told to resend, or gets the refusal as it came.

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
                let en = format!("the insurance platform did not answer; resend the same message ({why})");
                NationalAnswer::Written(national_error("医保平台未应答，请用原报文ID重发", en))
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
        let Some(s) = self.settlement_of_posted(&setl_id).await else { return false };
        if s.hospital_code != hospital.code || !s.state.is_cancellable() {
            return false;
        }
        matches!(self.platform_record(&s, &setl_id).await, PlatformRecord::Cancelled)
    }

    /// What the platform's settlement record (5203, by `setl_id`) says of the hub's settlement `s`.
    pub(super) async fn platform_record(&self, s: &SettlementRow, setl_id: &str) -> PlatformRecord {
        let visit = match self.store.visit(&s.visit_id).await {
            Ok(Some(visit)) => visit,
            Ok(None) => return PlatformRecord::Unknown("the settlement's visit is missing".into()),
            Err(e) => return PlatformRecord::Unknown(e.to_string()),
        };
        let (msgid, inst) = match (self.msgid(&s.hospital_code).await, self.institution(&s.hospital_code).await) {
            (Ok(msgid), Ok(inst)) => (msgid, inst),
            (Err(e), _) | (_, Err(e)) => return PlatformRecord::Unknown(e.to_string()),
        };
        let input = json!({"data": {"setl_id": setl_id, "mdtrt_id": visit.mdtrt_id, "psn_no": visit.psn_no}});
        let output = match self.insurance.call("5203", &msgid, &inst, &visit.insuplc_admdvs, input).await {
            Ok(output) => output,
            Err(e) => {
                tracing::warn!(settlement = %s.id, error = %e, "5203 could not say whether the settlement was cancelled");
                return PlatformRecord::Unknown(format!("5203: {e}"));
            }
        };
        // Only a record that lists settlements is evidence: an empty one says nothing.
        match (insurance_reply::lists_settlements(&output), insurance_reply::settlement_stands(&output, setl_id)) {
            (false, _) => PlatformRecord::Unknown("5203 listed no settlement".into()),
            (true, true) => PlatformRecord::Stands,
            (true, false) => PlatformRecord::Cancelled,
        }
    }

    async fn settlement_of_posted(&self, setl_id: &str) -> Option<SettlementRow> {
        if setl_id.is_empty() {
            return None;
        }
        let id = self.store.settlement_of_posted_setl_id(setl_id).await.ok()??;
        self.store.settlement(&id).await.ok()?
    }
}

/// What the platform's settlement record (5203) says of a settlement.
pub(super) enum PlatformRecord {
    Cancelled,
    Stands,
    /// It could not be read (why).
    Unknown(String),
}
