//! What an operator looks at when a hospital or a patient calls about an inpatient stay (住院):
//! one stay whole, at any hospital (as the ward reads it, with the patient in words, every fee
//! line, the tries a partner's silence cost and the ledger transfers it posted), and the stays of
//! one hospital or of one insured person. Read-only; the ward's own view is `App::stay`.

use super::*;
use crate::store::JournalEntry;
use serde::Serialize;
use utoipa::ToSchema;

/// A stay as an operator sees it: any hospital's, with everything the hub recorded about it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperatorStayView {
    pub stay: StayView,
    /// Who it is for, never whole: the masked name (张*), and the sex and age an ID card's
    /// number tells (`app/patient_labels.rs`).
    pub patient: super::patient_labels::PatientLabel,
    /// The agreement whose line holds the deposit and pays the cash share.
    pub agreement_id: String,
    /// Every fee line the ward sent, returns (negative amounts) included.
    pub fee_lines: Vec<OperatorStayFeeLineView>,
    /// Runs that stopped on a partner's unknown answer since the last success.
    pub failed_tries: i64,
    /// Why the recovery worker parked it in the exceptions queue, if it did.
    pub parked_reason: Option<String>,
    /// Every transfer it posted (deposit holds, interim and bedside settlements, their
    /// cancellations, the collection of its bill), in the order posted.
    pub transfers: Vec<JournalEntry>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperatorStayFeeLineView {
    pub feedetl_sn: String,
    /// Negative for a returned drug.
    pub amount_fen: i64,
    /// Accepted by the insurance center (2301); false while its outcome is unknown.
    pub uploaded: bool,
    /// 医疗收费项目类别 as the center classed it, once it did.
    pub category: Option<String>,
}

/// The query of `GET /api/v1/operator/stays`: one hospital's stays (`hospital_code`) or one
/// insured person's at any hospital (`psn_no`), newest first.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorStayQuery {
    pub hospital_code: Option<String>,
    pub psn_no: Option<String>,
    /// Only the stays still under way (not settled, cancelled or refused).
    pub open: Option<bool>,
    /// 1 to 200; 50 when left out.
    pub limit: Option<i64>,
}

impl App {
    /// Any hospital's stay, whole (operators only).
    pub async fn operator_stay(&self, stay_id: &str) -> Result<OperatorStayView, AppError> {
        let not_found = || AppError::not_found("stay_not_found", format!("no stay {stay_id}"));
        let row = self.store.stay(stay_id).await?.ok_or_else(not_found)?;
        let (failed_tries, parked_reason) = self.store.stay_tries(&row.id).await?.ok_or_else(not_found)?;
        let patient = self.stay_patient(&row.hospital_code, &row.id).await?;
        let fee_lines = self
            .store
            .stay_fee_lines(&row.id)
            .await?
            .into_iter()
            .map(|l| OperatorStayFeeLineView {
                feedetl_sn: l.feedetl_sn,
                amount_fen: l.amount.0,
                uploaded: l.uploaded,
                category: l.category,
            })
            .collect();
        let transfers = self.store.transfers_of_stay(&row.id).await?;
        Ok(OperatorStayView {
            stay: self.stay_view(&row).await?,
            patient,
            agreement_id: row.agreement_id,
            fee_lines,
            failed_tries,
            parked_reason,
            transfers,
        })
    }

    /// `GET /api/v1/operator/stays`: one hospital's stays, or one insured person's.
    pub async fn operator_stays(&self, q: OperatorStayQuery) -> Result<super::stay_lists::StayListView, AppError> {
        let limit = q.limit.unwrap_or(50);
        if !(1..=crate::store::MAX_STAY_PAGE).contains(&limit) {
            return Err(AppError::bad_request("bad_query", format!("limit must be 1 to {}", crate::store::MAX_STAY_PAGE)));
        }
        // The same text rule as every other field (openapi.json's pattern says it): no control
        // character or bidirectional override, at most 30 characters as sent.
        for (name, value) in [("hospital_code", &q.hospital_code), ("psn_no", &q.psn_no)] {
            if let Some(v) = value {
                super::commands::check_text_value(name, v, Some(30))
                    .map_err(|_| AppError::bad_request("bad_query", format!("{name} is a code of at most 30 characters of text")))?;
            }
        }
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        let (hospital, psn_no) = (given(&q.hospital_code), given(&q.psn_no));
        let open = q.open.unwrap_or(false);
        let rows = match (hospital, psn_no) {
            (Some(hospital), None) => self.store.hospital_stays(&hospital, open, None, limit).await?,
            (None, Some(psn_no)) => self.store.stays_of_person(&psn_no, open, limit).await?,
            (Some(hospital), Some(psn_no)) => {
                let mine = self.store.stays_of_person(&psn_no, open, crate::store::MAX_STAY_PAGE).await?;
                mine.into_iter().filter(|s| s.hospital_code == hospital).take(limit as usize).collect()
            }
            (None, None) => self.store.newest_stays(open, limit).await?,
        };
        let mut stays = Vec::with_capacity(rows.len());
        for row in &rows {
            stays.push(self.stay_view(row).await?);
        }
        Ok(super::stay_lists::StayListView { stays })
    }
}
