//! A refused registration is asked about before it is believed (review r22, F3). Platforms answer a
//! timeout inside their own chain ("系统繁忙…超时", infcode -1) after the change took effect, as
//! for a settlement (`refusal_checks`): a 2201 (门诊挂号) or 2401 (入院办理) answered so has
//! registered the visit at the center. Believing it left a registration nobody would settle or
//! cancel, and the hospital's number taken there: its next registration of the number was refused
//! as "already registered". The same answer comes from a platform that does not replay a msgid,
//! when the hub resends a registration whose first answer was lost.
//!
//! So after a refusal the person's visits at the center (5201 就诊信息查询, around the registration's
//! begin time) are the answer: the visit under the same number begun at the time sent is the one
//! registered, and the hub carries on with its `mdtrt_id` as if 2201 or 2401 had answered with it.
//! None there (or a platform that says it does not offer 5201): the refusal stands. 5201
//! unanswered, refused for another reason, unreadable, or listing several that fit: the
//! registration is in doubt (503); the row keeps its
//! msgid, and the retry with the same Idempotency-Key (or, for a stay, the recovery worker) sends
//! the same 2201 or 2401 again and asks again. Never a refusal the center did not mean, and never a
//! second registration.
//!
//! Adopting the registration rather than cancelling it (2202 / 2404) and passing the refusal on: the
//! hospital asked for exactly that registration, the center made it, and a cancellation would be a
//! second call that can itself fail, to report a refusal nobody made.

use super::*;
use crate::insurance_reply::{self, Asked};
use crate::store::StayRow;
use wugan_domain::inpatient::{StayOutcome, StayReply};

impl App {
    /// 2201 for `row`, a visit being registered: the `mdtrt_id` the center gave it. A refusal the
    /// center's visits (5201) confirm deletes the row and is the answer; one they contradict is
    /// the registration.
    pub(super) async fn send_registration(&self, inst: &Institution, row: &VisitRow, input: Value) -> Result<String, AppError> {
        let refusal = match self.insurance.call("2201", &row.register_msgid, inst, &row.insuplc_admdvs, input).await {
            Ok(output) => return registered_id(&output, "2201"),
            Err(e @ InsuranceError::Refused { .. }) => e,
            Err(e) => return Err(e.into()),
        };
        let asked = Asked { psn_no: &row.psn_no, number: &row.ipt_otp_no, begntime: &row.begntime };
        match self.registration_at_center(inst, &row.hospital_code, &row.insuplc_admdvs, &asked, "2201").await? {
            Some(mdtrt_id) => {
                tracing::warn!(visit = %row.id, "2201 was refused, but 5201 lists the registration: it took effect");
                Ok(mdtrt_id)
            }
            None => {
                self.store.delete_unregistered_visit(&row.id).await?;
                Err(refusal.into())
            }
        }
    }

    /// 2401 for `s`, a stay being admitted: the admission's outcome for the stay machine, a refusal
    /// checked with 5201 as a registration's is. `Err`: unknown (the stay stays `admitting`).
    pub(super) async fn send_admission(&self, inst: &Institution, s: &StayRow) -> Result<StayOutcome, AppError> {
        let input = super::stay_clinical::admit_input(s, &self.config.data_key.open(&s.mdtrt_cert_no_enc)?)?;
        let (infcode, message) = match self.insurance.call("2401", &s.admit_msgid, inst, &s.insuplc_admdvs, input).await {
            Ok(output) => return Ok(StayOutcome::Done(StayReply::Admitted { mdtrt_id: registered_id(&output, "2401")? })),
            Err(InsuranceError::Refused { infcode, message }) => (infcode, message),
            Err(e) => return Err(e.into()),
        };
        let begntime = super::stay_clinical::admitted_at(s)?;
        let asked = Asked { psn_no: &s.psn_no, number: &s.ipt_no, begntime: &begntime };
        Ok(match self.registration_at_center(inst, &s.hospital_code, &s.insuplc_admdvs, &asked, "2401").await? {
            Some(mdtrt_id) => {
                tracing::warn!(stay = %s.id, "2401 was refused, but 5201 lists the admission: it took effect");
                StayOutcome::Done(StayReply::Admitted { mdtrt_id })
            }
            None => StayOutcome::Refused { code: infcode.to_string(), message },
        })
    }

    /// After a refused `infno` (2201 or 2401): the visit it registered, if the center lists it
    /// (5201 over the days from the registration's begin time to today). `Ok(None)`: it does not.
    async fn registration_at_center(
        &self,
        inst: &Institution,
        hospital: &str,
        admdvs: &str,
        asked: &Asked<'_>,
        infno: &str,
    ) -> Result<Option<String>, AppError> {
        let (from, to) = window(asked.begntime, &self.china_datetime());
        let input = json!({"data": {"psn_no": asked.psn_no, "begntime": from, "endtime": to}});
        let in_doubt = |why: String| {
            AppError::from(InsuranceError::Unreachable(format!(
                "{infno} was refused and whether it took effect could not be read ({why}); the registration is in doubt"
            )))
        };
        let output = match self.ask_query("5201", hospital, inst, admdvs, input, in_doubt).await? {
            super::queries::Read::Answered(output) => output,
            super::queries::Read::NoneFound | super::queries::Read::NotOffered => return Ok(None),
        };
        insurance_reply::registration_among(&output, asked).map_err(|e| in_doubt(e.to_string()))
    }
}

/// The `mdtrt_id` a 2201 or 2401 answer carries (`data.mdtrt_id`); an answer without one is unreadable.
fn registered_id(output: &Value, infno: &str) -> Result<String, AppError> {
    let mdtrt_id = output.get("data").map(|d| crate::insurance_client::text(d, "mdtrt_id")).unwrap_or_default();
    match mdtrt_id.trim() {
        "" => Err(AppError::bad_gateway("insurance_bad_reply", format!("{infno} without mdtrt_id"))),
        id => Ok(id.to_string()),
    }
}

/// 5201's window: from the midnight of the earlier of the registration's begin time and now, to
/// the last second of the later one's day (a platform may select by the begin time sent, or by
/// when it registered the visit). Both national (`yyyy-MM-dd HH:mm:ss`).
pub(super) fn window(begntime: &str, now: &str) -> (String, String) {
    let day = |t: &str| t.get(..10).filter(|d| d.len() == 10).unwrap_or(&now[..now.len().min(10)]).to_string();
    let (began, today) = (day(begntime), day(now));
    let (first, last) = if began <= today { (began, today) } else { (today, began) };
    (format!("{first} 00:00:00"), format!("{last} 23:59:59"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_window_covers_the_days_from_the_begin_time_to_today() {
        let now = "2026-12-03 10:00:00";
        for (begntime, from, to) in [
            ("2026-12-03 09:00:00", "2026-12-03 00:00:00", "2026-12-03 23:59:59"),
            ("2026-11-20 23:30:00", "2026-11-20 00:00:00", "2026-12-03 23:59:59"),
            ("2026-12-04 00:01:00", "2026-12-03 00:00:00", "2026-12-04 23:59:59"),
            ("", "2026-12-03 00:00:00", "2026-12-03 23:59:59"),
        ] {
            assert_eq!(super::window(begntime, now), (from.to_string(), to.to_string()), "{begntime}");
        }
    }
}
