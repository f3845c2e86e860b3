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
}

impl App {
    /// The person's own psn_no; none before the real-name binding.
    async fn bound_psn_no(&self, patient_id: &str) -> Result<Option<String>, AppError> {
        Ok(self.patient_row(patient_id).await?.psn_no)
    }

    /// The patient's visits and their family members', newest first (at most 50).
    pub async fn patient_visits(&self, patient_id: &str) -> Result<PatientVisitsView, AppError> {
        let Some(psn_no) = self.bound_psn_no(patient_id).await? else {
            return Ok(PatientVisitsView { visits: Vec::new() });
        };
        let mut visits = Vec::new();
        for person in self.visible_persons(&psn_no).await? {
            for id in self.store.visit_ids_of_person(&person, PATIENT_LIST_MAX).await? {
                if let Some(row) = self.store.visit(&id).await? {
                    visits.push(self.visit_view(&row).await?);
                }
            }
        }
        visits.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        visits.truncate(PATIENT_LIST_MAX as usize);
        Ok(PatientVisitsView { visits })
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
