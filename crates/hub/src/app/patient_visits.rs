//! The patient's visits: the estimate before the doctor's click (2206, asked by the patient) and
//! the split after it; and repaying their own credit line (from the personal account or by
//! transfer). Only the bound person's own visits and their family members' (亲情付), and their
//! own agreements; another's answer as missing.

use super::patient_agreements::PATIENT_LIST_MAX;
use super::{App, EstimateView, RepayRequest, RepaymentView, VisitView};
use crate::error::AppError;
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct PatientVisitsView {
    pub visits: Vec<VisitView>,
    /// Pass as `after` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// A page's end as a cursor: the last visit's time and id.
fn cursor_of(v: &VisitView) -> String {
    format!("{}~{}", v.created_at, v.id)
}

impl App {
    /// The person's own psn_no; none before the real-name binding.
    async fn bound_psn_no(&self, patient_id: &str) -> Result<Option<String>, AppError> {
        Ok(self.patient_row(patient_id).await?.psn_no)
    }

    /// The patient's visits and their family members', newest first, 50 a page: the first page,
    /// or the one after the page whose `next_after` is `after`.
    pub async fn patient_visits(&self, patient_id: &str, after: Option<&str>) -> Result<PatientVisitsView, AppError> {
        let after = match after.filter(|a| !a.is_empty()) {
            None => None,
            Some(cursor) => Some(
                // As openapi.json states it: at most 100 characters, `<time>~vis_<32 hex digits>`.
                cursor
                    .split_once('~')
                    .filter(|(at, id)| {
                        let time_text = |c: char| c.is_ascii_digit() || "TZ:.+-".contains(c);
                        let visit_id = |hex: &str| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
                        cursor.len() <= 100 && !at.is_empty() && at.chars().all(time_text) && id.strip_prefix("vis_").is_some_and(visit_id)
                    })
                    .ok_or_else(|| AppError::bad_request("bad_query", "after: the next_after of the page before"))?,
            ),
        };
        let Some(psn_no) = self.bound_psn_no(patient_id).await? else {
            return Ok(PatientVisitsView { visits: Vec::new(), next_after: None });
        };
        let mut visits = Vec::new();
        for person in self.visible_persons(&psn_no).await? {
            // One more than a page: whether an older page follows.
            for id in self.store.visit_ids_of_person(&person, after, PATIENT_LIST_MAX + 1).await? {
                if let Some(row) = self.store.visit(&id).await? {
                    visits.push(self.visit_view(&row).await?);
                }
            }
        }
        visits.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        let more = visits.len() > PATIENT_LIST_MAX as usize;
        visits.truncate(PATIENT_LIST_MAX as usize);
        let next_after = if more { visits.last().map(cursor_of) } else { None };
        Ok(PatientVisitsView { visits, next_after })
    }

    /// What the visit will cost before the doctor's click: the insurance center's pre-settlement.
    pub async fn patient_estimate(&self, patient_id: &str, visit_id: &str) -> Result<EstimateView, AppError> {
        let psn_no = self.bound_psn_no(patient_id).await?;
        let visible = match &psn_no {
            Some(psn_no) => self.visible_persons(psn_no).await?,
            None => Vec::new(),
        };
        let visit = match self.store.visit(visit_id).await? {
            Some(v) if visible.contains(&v.psn_no) => v,
            _ => return Err(AppError::not_found("visit_not_found", format!("no visit {visit_id}"))),
        };
        // Asked by the patient, who sees it on the page: no notification.
        self.estimate(&visit.hospital_code, visit_id).await
    }

    /// Repays the patient's own credit line; `key` (the caller's Idempotency-Key) is kept apart
    /// from an operator's keys by the patient's id.
    pub async fn patient_repay(
        &self,
        patient_id: &str,
        agreement_id: &str,
        req: RepayRequest,
        key: &str,
    ) -> Result<RepaymentView, AppError> {
        self.patient_agreement(patient_id, agreement_id).await?;
        self.repay(agreement_id, req, &format!("patient:{patient_id}:{key}")).await
    }
}
