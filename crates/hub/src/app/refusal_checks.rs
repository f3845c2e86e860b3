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

    /// After a 2305 refusal: whether the stay's settlement `setl_id` (an interim one or the
    /// bedside one) no longer stands at the center, as for a visit's 2208.
    pub(super) async fn stay_cancellation_took_effect(
        &self,
        inst: &Institution,
        s: &crate::store::StayRow,
        mdtrt_id: &str,
        setl_id: &str,
    ) -> Result<bool, AppError> {
        let output = self.settlements_of_mdtrt(inst, &s.hospital_code, &s.insuplc_admdvs, mdtrt_id, &s.psn_no).await?;
        let stands = insurance_reply::settlement_stands(&output, setl_id);
        if !stands {
            tracing::warn!(stay = %s.id, "2305 was refused, but 5203 shows the settlement cancelled: the cancellation took effect");
        }
        Ok(!stands)
    }

    async fn settlement_record_of(&self, inst: &Institution, visit: &VisitRow) -> Result<Value, AppError> {
        self.settlements_of_mdtrt(inst, &visit.hospital_code, &visit.insuplc_admdvs, &visit.mdtrt_id, &visit.psn_no).await
    }

    /// 5203 by mdtrt_id: every settlement of the visit or stay the center lists. A refusal is no
    /// answer here (an unknown outcome): the caller was just refused, and "no record" from a
    /// platform that may be failing is not proof of anything.
    async fn settlements_of_mdtrt(
        &self,
        inst: &Institution,
        hospital: &str,
        admdvs: &str,
        mdtrt_id: &str,
        psn_no: &str,
    ) -> Result<Value, AppError> {
        let input = json!({"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "setl_id": ""}});
        let msgid = self.msgid(hospital).await?;
        match self.insurance.call("5203", &msgid, inst, admdvs, input).await {
            Ok(output) => Ok(output),
            Err(InsuranceError::Refused { infcode, message }) => Err(AppError::from(InsuranceError::Unreachable(format!(
                "the settlement's record could not be read to check a refusal (5203 refused, {infcode}: {message})"
            )))),
            Err(e) => Err(e.into()),
        }
    }
}
