//! Lists of a hospital's visits for the HIS and the consoles: filtered by the hospital's own
//! number, status and day, newest first, paged by a cursor (the last id of the page before: visit
//! ids are UUIDv7, so they sort by creation time and a page never shifts under a new visit).

use super::*;

/// The largest page of visits.
pub const MAX_VISIT_PAGE: i64 = 200;

/// Which visits, and which page of them.
#[derive(Clone, Debug, Default)]
pub struct VisitFilter {
    /// One hospital's (`None`: every hospital's, for operators).
    pub hospital_code: Option<String>,
    pub ipt_otp_no: Option<String>,
    /// Paid through an agreement with this bank.
    pub bank_code: Option<String>,
    pub status: Option<String>,
    /// Registered in this span of stored times, `[from, before)` (RFC 3339 UTC, as the hub stores
    /// them: a span of text sorts as the span of time).
    pub created: Option<(String, String)>,
    /// The last visit id of the previous page.
    pub after: Option<String>,
    pub limit: i64,
}

impl Store {
    /// The visits `filter` selects, newest first, at most `filter.limit` (capped at `MAX_VISIT_PAGE`).
    pub async fn visit_list(&self, filter: &VisitFilter) -> StoreResult<Vec<VisitRow>> {
        let mut conditions = Vec::new();
        let mut values: Vec<String> = Vec::new();
        let mut condition = |sql: &str, value: &str| {
            values.push(value.to_string());
            conditions.push(sql.replace('?', &format!("${}", values.len())));
        };
        if let Some(code) = &filter.hospital_code {
            condition("hospital_code = ?", code);
        }
        if let Some(no) = &filter.ipt_otp_no {
            condition("ipt_otp_no = ?", no);
        }
        if let Some(bank) = &filter.bank_code {
            condition("agreement_id IN (SELECT id FROM agreements WHERE bank_code = ?)", bank);
        }
        if let Some(status) = &filter.status {
            condition("status = ?", status);
        }
        if let Some((from, before)) = &filter.created {
            condition("created_at >= ?", from);
            condition("created_at < ?", before);
        }
        if let Some(after) = &filter.after {
            condition("id < ?", after);
        }
        let predicate = if conditions.is_empty() { "1 = 1".to_string() } else { conditions.join(" AND ") };
        let sql = format!("SELECT * FROM visits WHERE {predicate} ORDER BY id DESC LIMIT {}", filter.limit.clamp(1, MAX_VISIT_PAGE));
        let mut query = query(sql);
        for value in values {
            query = query.bind(value);
        }
        query.fetch_all(&self.pool).await?.iter().map(visits::visit_from_row).collect()
    }
}
