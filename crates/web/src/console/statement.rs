//! A hospital's daily statement (日结单, issue 17) in the console: the day's settlements by
//! source, refunds, unpaid bills, and what the bank pays on the next business day and the fund
//! after the month's clearing; the same as `GET /api/v1/hospitals/{code}/statements/{date}`, and a
//! CSV download of it. For the hospital's staff whose role may read statements.

use super::{hospital_staff, sign_in_page, HOME};
use crate::page::{self, render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use wugan_hub::app::staff::StaffSession;
use wugan_hub::app::{App, HospitalStatementView};

const PATH: &str = "/console/statement";
/// The API route whose right the page needs (finance and cashiers; see `StaffRole::may`).
const API_ROUTE: &str = "/api/v1/hospitals/{code}/statements/{date}";

#[derive(serde::Deserialize)]
pub(super) struct Day {
    date: Option<String>,
}

#[derive(Template)]
#[template(path = "console/statement.html")]
struct Statement {
    page: Page,
    staff: StaffSession,
    date: String,
    statement: Option<HospitalStatementView>,
}

/// The hospital's staff member who may read statements, or the page to answer instead.
async fn reader(app: &Arc<App>, headers: &HeaderMap, prefs: Prefs) -> Result<StaffSession, Response> {
    let Some(staff) = hospital_staff(app, headers).await else {
        return Err(sign_in_page(prefs));
    };
    if !staff.role.may(&Method::GET, API_ROUTE) {
        return Err(page::not_found(Page::new(prefs, PATH, HOME)));
    }
    Ok(staff)
}

/// `?date=YYYY-MM-DD`, today when absent; a date that is not one shows the form with no statement.
pub(super) async fn page(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap, Query(day): Query<Day>) -> Response {
    let staff = match reader(&app, &headers, prefs).await {
        Ok(staff) => staff,
        Err(answer) => return answer,
    };
    let date = day.date.filter(|d| !d.trim().is_empty()).unwrap_or_else(|| crate::staff::today(&app));
    let hospital = staff.hospital_code.clone().unwrap_or_default();
    let statement = app.hospital_statement(&hospital, &date).await.ok();
    let page = Page::new(prefs, PATH, HOME).with_csrf(staff.csrf_token.clone());
    render(&Statement { page, staff, date, statement }).into_response()
}

/// The same statement as CSV (one line per settlement, then the totals), for the finance office.
pub(super) async fn csv(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap, Query(day): Query<Day>) -> Response {
    let staff = match reader(&app, &headers, prefs).await {
        Ok(staff) => staff,
        Err(answer) => return answer,
    };
    let date = day.date.unwrap_or_else(|| crate::staff::today(&app));
    let hospital = staff.hospital_code.clone().unwrap_or_default();
    match app.hospital_statement(&hospital, &date).await {
        Ok(view) => {
            let disposition = format!("attachment; filename=\"statement-{hospital}-{date}.csv\"");
            ([("content-type", "text/csv; charset=utf-8".to_string()), ("content-disposition", disposition)], view.to_csv()).into_response()
        }
        Err(e) => e.into_response(),
    }
}
