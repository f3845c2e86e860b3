//! A hospital's daily statement (日结单, issue 17) in the console: the day's settlements by
//! source, refunds, unpaid bills, and what the bank pays on the next business day and the fund
//! after the month's clearing; the same as `GET /api/v1/hospitals/{code}/statements/{date}`, and a
//! CSV download of it. For the hospital's staff whose role may read statements.

use super::{hospital_name, hospital_staff, settlement_state, sign_in_page, state_key, HOME};
use crate::page::{self, render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use wugan_hub::app::staff::StaffSession;
use wugan_hub::app::{App, HospitalStatementLine, HospitalStatementView};

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
    /// The hospital's name (the statement's title, `_staff.html`).
    hospital: String,
    date: String,
    statement: Option<HospitalStatementView>,
    /// The statement's lines as the page lists them.
    rows: Vec<Row>,
}

/// A settlement of the day: its visit's or stay's number, linked to its page, and its state in words.
struct Row {
    href: String,
    number: String,
    state_key: &'static str,
    line: HospitalStatementLine,
}

/// Each line with the number of its visit, or of its stay (a stay's settlement names the stay:
/// its page is the ward's).
async fn rows_of(app: &App, lines: &[HospitalStatementLine]) -> Vec<Row> {
    let mut rows = Vec::with_capacity(lines.len());
    for l in lines {
        let (href, number) = match app.store.visit(&l.visit_id).await.ok().flatten() {
            Some(v) => (format!("/console/visits/{}", v.id), v.ipt_otp_no),
            None => match app.store.stay(&l.visit_id).await.ok().flatten() {
                Some(s) => (format!("{}/{}", super::stays::LIST, s.id), s.ipt_no),
                None => (format!("/console/visits/{}", l.visit_id), l.visit_id.clone()),
            },
        };
        let state = settlement_state(&l.state, l.unpaid_fen, l.collected_fen);
        rows.push(Row { href, number, state_key: state_key(state), line: l.clone() });
    }
    rows
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
    let rows = match &statement {
        Some(s) => rows_of(&app, &s.lines).await,
        None => Vec::new(),
    };
    let hospital = hospital_name(&app, &staff).await;
    let page = Page::new(prefs, PATH, HOME).with_csrf(staff.csrf_token.clone());
    render(&Statement { page, staff, hospital, date, statement, rows }).into_response()
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
