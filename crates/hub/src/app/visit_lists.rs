//! Lookups an HIS needs: its visits by its own number (`ipt_otp_no`), by status and by day,
//! newest first, paged by a cursor (`after`: the `next_after` of the page before).

use super::*;
use crate::store::{VisitFilter, MAX_VISIT_PAGE};
use serde::Serialize;

/// A page when the caller names no limit.
pub const DEFAULT_VISIT_PAGE: i64 = 50;

/// The query of `GET /api/v1/visits` (and the operator's list).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitQuery {
    pub ipt_otp_no: Option<String>,
    pub status: Option<String>,
    /// `YYYY-MM-DD`: the hospital's business day, in China time (00:00–24:00 UTC+8), as the
    /// statements, reconciliation and clearing count days.
    pub day: Option<String>,
    pub after: Option<String>,
    pub limit: Option<i64>,
    /// Operators only: one hospital's visits.
    pub hospital_code: Option<String>,
    /// Operators only: the visits whose agreement is with this bank.
    pub bank_code: Option<String>,
}

/// A page of visits.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = VisitList)]
pub struct VisitListView {
    pub visits: Vec<VisitView>,
    /// Give it as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

fn check_query(q: &VisitQuery) -> Result<(), AppError> {
    for (name, value, max) in [
        ("ipt_otp_no", &q.ipt_otp_no, 30),
        ("after", &q.after, 64),
        ("hospital_code", &q.hospital_code, 32),
        ("bank_code", &q.bank_code, 16),
    ] {
        if let Some(v) = value {
            check_text_value(name, v, Some(max))
                .map_err(|_| AppError::bad_request("bad_query", format!("{name} is at most {max} characters of text")))?;
        }
    }
    // The cursor is the `next_after` of a page: a visit's id (`vis_` and 32 hex digits), else a
    // page would silently start anywhere.
    let visit_id = |a: &str| a.strip_prefix("vis_").is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if q.after.as_deref().is_some_and(|a| !a.is_empty() && !visit_id(a)) {
        return Err(AppError::bad_request("bad_query", "after is the next_after of the page before (a visit id)"));
    }
    if q.status.as_deref().is_some_and(|s| VisitStatus::parse(s).is_none()) {
        return Err(AppError::bad_request("bad_query", "status is registering, registered, settling, settled or cancelled"));
    }
    if q.day.as_deref().is_some_and(|d| business_day(d).is_err()) {
        return Err(AppError::bad_request("bad_query", "day is a date, YYYY-MM-DD"));
    }
    if q.limit.is_some_and(|l| !(1..=MAX_VISIT_PAGE).contains(&l)) {
        return Err(AppError::bad_request("bad_query", format!("limit is 1 to {MAX_VISIT_PAGE}")));
    }
    Ok(())
}

/// The business day `day` (China time) as a span of stored times.
fn stored_span(day: &str) -> Result<(String, String), AppError> {
    let span = business_day(day).map_err(|_| AppError::bad_request("bad_query", "day is a date, YYYY-MM-DD"))?;
    let stored = |unix_s: i64| {
        time::OffsetDateTime::from_unix_timestamp(unix_s)
            .map(crate::clock::timestamp)
            .map_err(|e| AppError::internal(format!("time out of range: {e}")))
    };
    Ok((stored(span.start_unix_s)?, stored(span.end_unix_s)?))
}

impl App {
    /// A page of `hospital`'s visits (`None`: any hospital's, or the one the query names).
    pub async fn visit_list(&self, hospital: Option<&str>, q: VisitQuery) -> Result<VisitListView, AppError> {
        check_query(&q)?;
        let limit = q.limit.unwrap_or(DEFAULT_VISIT_PAGE);
        let created = match q.day.as_deref() {
            Some(day) => Some(stored_span(day)?),
            None => None,
        };
        let filter = VisitFilter {
            hospital_code: hospital.map(str::to_string).or(q.hospital_code),
            bank_code: q.bank_code,
            // As registration keeps it: without the padding of a fixed-width column.
            ipt_otp_no: q.ipt_otp_no.as_deref().map(super::visits::trimmed_id),
            status: q.status,
            created,
            after: q.after.filter(|a| !a.is_empty()),
            limit,
        };
        let rows = self.store.visit_list(&filter).await?;
        let next_after = rows.last().filter(|_| rows.len() as i64 == limit).map(|v| v.id.clone());
        let mut visits = Vec::with_capacity(rows.len());
        for row in &rows {
            visits.push(self.visit_view(row).await?);
        }
        Ok(VisitListView { visits, next_after })
    }
}
