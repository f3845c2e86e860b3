//! A refused undoing is asked about before it is believed (review r22, F3, last paragraph), as a
//! refused settlement (`refusal_checks`) and registration (`registration_checks`) are. Platforms
//! answer a timeout inside their own chain ("系统繁忙…超时", infcode -1) after the change took
//! effect; so does a platform that does not replay a msgid, when the hub resends a call whose first
//! answer was lost ("无未结算明细", "该住院未办理出院"). Believed, such an answer left the hub and the
//! center apart:
//!
//! - 2205 (门诊费用明细撤销): the lines open again at the hub and gone at the center, so the click's
//!   2206/2207 named a total the center no longer held, and the lines could not be sent again
//!   under their numbers once the HIS had withdrawn them itself;
//! - 2404 (入院撤销): the stay back in the ward at the hub, its deposit held on the patient's line,
//!   while the center had cancelled the admission (nothing more could be settled on it);
//! - 2405 (出院撤销): the stay discharged at the hub while the center had it in hospital again;
//! - 2302 (住院费用明细撤销), as 2205 for a stay's lines.
//!
//! So after such a refusal what the center shows is the answer: for 2205 and 2302 the visit's or
//! admission's fee lines (5204 费用明细查询: none of the withdrawn lines listed, it took effect; every
//! one listed, the refusal stands), for 2404 the person's visits (5201: the admission no longer
//! listed, it is cancelled; listed, the refusal stands), for 2405 the admission's record there
//! (5201: in hospital, `inhosp_stas` 1, the discharge is undone; discharged, the refusal stands). A
//! platform that says it does not offer the query never tells: its refusal is believed, as before
//! the hub asked. Anything else the check cannot answer (no answer, another refusal, an unreadable
//! reply, some of the lines gone, the admission not listed after a 2405) leaves the step in doubt
//! (503): a visit's withdrawal stays `sending` (the retry with the same Idempotency-Key or the
//! recovery worker sends 2205 again under its msgid and asks again); a stay's call has an unknown
//! outcome, the stay staying `cancelling_admission`, `undoing_discharge` or `withdrawing_fees` (the
//! ward's retry or the recovery worker resumes it the same way). Never a refusal the center did not
//! mean, and never the call again under a new msgid.

use super::queries::Read;
use super::*;
use crate::insurance_reply;
use crate::store::{FeeWithdrawalRow, StayRow};
use wugan_domain::inpatient::{StayCall, StayOutcome, StayReply};

/// A withdrawal of fee lines the center refused: 2205 (a visit's) or 2302 (a stay's).
struct Withdrawn<'a> {
    infno: &'static str,
    psn_no: &'a str,
    mdtrt_id: &'a str,
    /// The lines withdrawn (`feedetl_sn`).
    lines: &'a [String],
}

impl App {
    /// After a 2205 refusal: whether the withdrawal `w` of `visit` took effect, none of its lines
    /// listed live by 5204. `Ok(false)`: every one is still listed (or the platform does not offer
    /// 5204), the refusal is the answer. `Err`: in doubt, the withdrawal stays `sending`.
    pub(super) async fn fee_withdrawal_took_effect(
        &self,
        inst: &Institution,
        visit: &VisitRow,
        w: &FeeWithdrawalRow,
    ) -> Result<bool, AppError> {
        let asked = Withdrawn { infno: "2205", psn_no: &visit.psn_no, mdtrt_id: &visit.mdtrt_id, lines: &w.lines };
        let took_effect = self.lines_gone(inst, &visit.hospital_code, &visit.insuplc_admdvs, &asked).await?;
        if took_effect {
            tracing::warn!(visit = %visit.id, "2205 was refused, but 5204 lists none of the lines: the withdrawal took effect");
        }
        Ok(took_effect)
    }

    /// After a 2302 refusal (住院费用明细撤销): whether the withdrawal of `lines` from the admission
    /// `mdtrt_id` of `s` took effect, as for a visit's 2205. `Err`: in doubt (the stay stays
    /// `withdrawing_fees`).
    pub(super) async fn stay_fee_withdrawal_took_effect(
        &self,
        inst: &Institution,
        s: &StayRow,
        mdtrt_id: &str,
        lines: &[String],
    ) -> Result<bool, AppError> {
        let asked = Withdrawn { infno: "2302", psn_no: &s.psn_no, mdtrt_id, lines };
        let took_effect = self.lines_gone(inst, &s.hospital_code, &s.insuplc_admdvs, &asked).await?;
        if took_effect {
            tracing::warn!(stay = %s.id, "2302 was refused, but 5204 lists none of the lines: the withdrawal took effect");
        }
        Ok(took_effect)
    }

    /// Whether none of the `asked` lines is listed live by 5204 any more (`Ok(false)`: every one
    /// is, or the platform does not offer 5204).
    async fn lines_gone(&self, inst: &Institution, hospital: &str, admdvs: &str, asked: &Withdrawn<'_>) -> Result<bool, AppError> {
        let input = json!({"data": {"psn_no": asked.psn_no, "mdtrt_id": asked.mdtrt_id, "setl_id": ""}});
        let in_doubt = in_doubt(asked.infno, "the fee withdrawal");
        let listed = match self.ask_query("5204", hospital, inst, admdvs, input, in_doubt).await? {
            Read::Answered(output) => insurance_reply::fee_lines_listed(&output).map_err(|e| in_doubt(e.to_string()))?,
            Read::NoneFound => Vec::new(),
            Read::NotOffered => return Ok(false),
        };
        insurance_reply::withdrawal_took_effect(&listed, asked.lines).map_err(|e| in_doubt(e.to_string()))
    }

    /// 2405 (`StayCall::UndoDischarge`) or 2404 (`StayCall::CancelAdmission`) for the admission
    /// `mdtrt_id` of `s`, under the stay's cancellation msgid: its outcome for the stay machine, a
    /// refusal checked with 5201 first. `Err`: unknown (the stay stays undoing or cancelling).
    pub(super) async fn send_stay_undo(
        &self,
        inst: &Institution,
        s: &StayRow,
        call: &StayCall,
        mdtrt_id: &str,
    ) -> Result<StayOutcome, AppError> {
        let (infno, reply) = match call {
            StayCall::UndoDischarge => ("2405", StayReply::DischargeUndone),
            StayCall::CancelAdmission => ("2404", StayReply::AdmissionCancelled),
            _ => return Err(AppError::internal("a stay's undoing other than 2404 or 2405")),
        };
        let msgid = s.cancel_msgid.clone().ok_or_else(|| AppError::internal("a cancellation without its msgid"))?;
        let input = json!({"data": {"mdtrt_id": mdtrt_id, "psn_no": s.psn_no}});
        let (infcode, message) = match self.insurance.call(infno, &msgid, inst, &s.insuplc_admdvs, input).await {
            Ok(_) => return Ok(StayOutcome::Done(reply)),
            Err(InsuranceError::Refused { infcode, message }) => (infcode, message),
            Err(e) => return Err(e.into()),
        };
        Ok(match self.stay_undo_took_effect(inst, s, infno, mdtrt_id).await? {
            true => StayOutcome::Done(reply),
            false => StayOutcome::Refused { code: infcode.to_string(), message },
        })
    }

    /// After a refused 2404 or 2405: whether it took effect, by the admission's record at 5201 (over
    /// the days from the stay's admission to today, narrowed to `mdtrt_id`).
    async fn stay_undo_took_effect(&self, inst: &Institution, s: &StayRow, infno: &'static str, mdtrt_id: &str) -> Result<bool, AppError> {
        let (from, to) = super::registration_checks::window(&super::stay_clinical::admitted_at(s)?, &self.china_datetime());
        let input = json!({"data": {"psn_no": s.psn_no, "begntime": from, "endtime": to, "mdtrt_id": mdtrt_id}});
        let what = if infno == "2404" { "the admission's cancellation" } else { "the discharge's undoing" };
        let in_doubt = in_doubt(infno, what);
        let output = match self.ask_query("5201", &s.hospital_code, inst, &s.insuplc_admdvs, input, in_doubt).await? {
            Read::Answered(output) => output,
            Read::NoneFound => Value::Null,
            Read::NotOffered => return Ok(false),
        };
        let record = insurance_reply::visit_record(&output, mdtrt_id);
        let took_effect = match (infno, record) {
            // 2404: an admission the center no longer lists is cancelled.
            ("2404", record) => record.is_none(),
            // 2405: the admission in hospital again; one not listed says nothing of its discharge.
            (_, Some(record)) => insurance_reply::in_hospital(record).map_err(|e| in_doubt(e.to_string()))?,
            (_, None) => return Err(in_doubt("5201 does not list the admission".into())),
        };
        if took_effect {
            tracing::warn!(stay = %s.id, infno, "refused, but 5201 shows the change made: it took effect");
        }
        Ok(took_effect)
    }
}

/// The error of a check that cannot answer: the refused `infno` is in doubt (503, retryable).
fn in_doubt(infno: &'static str, what: &'static str) -> impl Fn(String) -> AppError + Copy + Send + Sync {
    move |why| {
        tracing::warn!(partner = "insurance", infno, "refused, and whether it took effect could not be read");
        AppError::unavailable(
            "insurance_unavailable",
            format!("{infno} was refused and whether it took effect could not be read ({why}); {what} is in doubt; retry with the same Idempotency-Key"),
        )
    }
}
