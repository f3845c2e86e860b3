//! The stays a signed-in patient sees (`app/patient_stays.rs`): their own, and those whose
//! deposit their own line holds (a family member's they pay for, 亲情付).

use super::stays::{stay_from_row, STAY_COLUMNS};
use super::*;

/// The most stays a patient's list shows.
pub const MAX_PATIENT_STAYS: i64 = 50;
/// The most of the patient's own agreements a query names (a person has a handful at most).
const MAX_LINES: usize = 50;

impl Store {
    /// The stays of `psn_no` and those on one of `agreement_ids` (the person's own agreements),
    /// newest first (ties by id), at most `limit` (capped at `MAX_PATIENT_STAYS`); read through the
    /// indexes by person and by line (migration 0042).
    pub async fn stays_of_patient(&self, psn_no: &str, agreement_ids: &[String], limit: i64) -> StoreResult<Vec<StayRow>> {
        let lines = &agreement_ids[..agreement_ids.len().min(MAX_LINES)];
        let on_lines = if lines.is_empty() {
            String::new()
        } else {
            let marks: Vec<String> = (0..lines.len()).map(|i| format!("${}", i + 2)).collect();
            format!(" OR agreement_id IN ({})", marks.join(", "))
        };
        let sql = format!(
            "SELECT {STAY_COLUMNS} FROM stays WHERE psn_no = $1{on_lines} ORDER BY created_at DESC, id DESC LIMIT {}",
            limit.clamp(1, MAX_PATIENT_STAYS)
        );
        let mut q = query(sql).bind(psn_no);
        for id in lines {
            q = q.bind(id.as_str());
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok(rows.iter().map(stay_from_row).collect())
    }
}
