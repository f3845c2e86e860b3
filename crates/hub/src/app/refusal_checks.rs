//! A refusal is asked about before it is believed. Real platforms answer a timeout inside their
//! own chain ("系统繁忙…超时", infcode -1) after the change took effect: a 2207 that settled, a
//! 2208 that reversed. Believing such an answer leaves the hub and the center disagreeing about
//! money: a cancellation answered `422` while the center gave the fund back and the bank charge
//! stays; a refund refused while the center reversed the whole settlement (review r22, F1). So
//! after a refusal of a call that changes a settlement, the settlement's record (5203 结算信息查询)
//! is the answer; when 5203 cannot say, the outcome is unknown, never a refusal.

use super::*;
use crate::insurance_reply;

impl App {
    /// After a 2208 refusal: whether the settlement `setl_id` of `visit` no longer stands at the
    /// center (the reversal took effect). `Ok(false)`: it stands, the refusal is the answer. An
    /// `Err` (5203 unanswered, or refused: it says nothing then) keeps the reversal in doubt; the
    /// next run sends 2208 again under the same msgid and asks again.
    pub(super) async fn reversal_took_effect(&self, inst: &Institution, visit: &VisitRow, setl_id: &str) -> Result<bool, AppError> {
        let output = self.settlement_record_of(inst, visit).await?;
        let stands = insurance_reply::settlement_stands(&output, setl_id);
        if !stands {
            tracing::warn!(visit = %visit.id, "2208 was refused, but 5203 shows the settlement reversed: the reversal took effect");
        }
        Ok(!stands)
    }

    /// After a refused re-settlement (a refund's 2207): the settlement in force at the center
    /// other than `original` (the one the refund reversed), if there is one: that 2207 took
    /// effect. `Ok(None)`: none stands, the refusal is the answer.
    pub(super) async fn resettled_already(&self, inst: &Institution, visit: &VisitRow, original: &str) -> Result<Option<Value>, AppError> {
        let output = self.settlement_record_of(inst, visit).await?;
        Ok(insurance_reply::settlement_in_force(&output, &[original.to_string()])?)
    }

    /// 5203 by the visit's mdtrt_id: every settlement of the visit the center lists. A refusal is
    /// no answer here (an unknown outcome): the caller was just refused, and "no record" from a
    /// platform that may be failing is not proof of anything.
    async fn settlement_record_of(&self, inst: &Institution, visit: &VisitRow) -> Result<Value, AppError> {
        let input = json!({"data": {"mdtrt_id": visit.mdtrt_id, "psn_no": visit.psn_no, "setl_id": ""}});
        let msgid = self.msgid(&visit.hospital_code).await?;
        match self.insurance.call("5203", &msgid, inst, &visit.insuplc_admdvs, input).await {
            Ok(output) => Ok(output),
            Err(InsuranceError::Refused { infcode, message }) => Err(AppError::from(InsuranceError::Unreachable(format!(
                "the settlement's record could not be read to check a refusal (5203 refused, {infcode}: {message})"
            )))),
            Err(e) => Err(e.into()),
        }
    }
}
