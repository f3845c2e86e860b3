//! A hospital's stays for the ward's console: the newest first, those still in the ward or not.

use super::stays::{stay_from_row, STAYS_OVER, STAY_COLUMNS};
use super::*;

/// The largest list of stays a page shows.
pub const MAX_STAY_PAGE: i64 = 200;

impl Store {
    /// `hospital`'s stays, newest first, at most `limit` (capped at `MAX_STAY_PAGE`): only those
    /// still open when `open` (in the ward, or a step of discharge unfinished).
    /// Those under one 住院号 only when `ipt_no` names one (a number admitted again names several).
    pub async fn hospital_stays(&self, hospital: &str, open: bool, ipt_no: Option<&str>, limit: i64) -> StoreResult<Vec<StayRow>> {
        let which = if open { format!("AND state NOT IN {STAYS_OVER}") } else { String::new() };
        let numbered = if ipt_no.is_some() { "AND ipt_no = $2" } else { "" };
        let sql = format!(
            "SELECT {STAY_COLUMNS} FROM stays WHERE hospital_code = $1 {which} {numbered} ORDER BY created_at DESC, id DESC LIMIT {}",
            limit.clamp(1, MAX_STAY_PAGE)
        );
        let mut q = query(sql).bind(hospital);
        if let Some(no) = ipt_no {
            q = q.bind(no);
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok(rows.iter().map(stay_from_row).collect())
    }

    /// The stays still open (in the ward, or a step of discharge unfinished) that pay on
    /// `agreement_id`'s line, `psn_no`'s only when it names one (a family member's); by the index
    /// on the line (migration 0042).
    pub async fn open_stays_on_agreement(&self, agreement_id: &str, psn_no: Option<&str>) -> StoreResult<Vec<StayRow>> {
        let whose = if psn_no.is_some() { "AND psn_no = $2" } else { "" };
        let sql = format!(
            "SELECT {STAY_COLUMNS} FROM stays WHERE agreement_id = $1 {whose} AND state NOT IN {STAYS_OVER} ORDER BY created_at LIMIT 10"
        );
        let mut q = query(sql).bind(agreement_id);
        if let Some(psn_no) = psn_no {
            q = q.bind(psn_no);
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok(rows.iter().map(stay_from_row).collect())
    }
}
