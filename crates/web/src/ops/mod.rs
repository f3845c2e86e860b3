//! The operator's console under `/ops/`: a day's totals by hospital with a chart (an SVG drawn
//! here, with the same figures as a table beside it) and the queue time saved, hospitals and their
//! onboarding, the banks the hub routes to, HIS keys (issue, rotate, revoke), the visits of a day
//! with filters, and the exceptions queue with retry. Actions go through the operator API with the
//! operator's session, as every page's do.

pub(crate) mod strings;

use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::collections::BTreeMap;
use std::sync::Arc;
use wugan_hub::app::hospitals::{ApiKeyView, HospitalView};
use wugan_hub::app::staff::{StaffRole, StaffSession};
use wugan_hub::app::visit_lists::VisitQuery;
use wugan_hub::app::{App, ExceptionView, VisitView};

pub const HOME: &str = "/ops/";

/// The queue-time model (the Shanghai seed's measure): a patient spends 3 hours in hospital for a
/// visit, 75% of it queueing, and the payment queues seamless payment removes are that share.
pub const MINUTES_SAVED_PER_SEAMLESS_VISIT: i64 = 3 * 60 * 75 / 100;

pub fn router() -> Router<Arc<App>> {
    Router::new().route("/ops", get(|| async { Redirect::permanent(HOME) })).route("/ops/", get(home))
}

/// The filters of the visits list (the query of `/ops/`).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Filters {
    pub day: Option<String>,
    pub hospital: Option<String>,
    pub status: Option<String>,
}

/// One hospital's day, in fen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub hospital: String,
    pub visits: i64,
    pub settled: i64,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub account_fen: i64,
    pub bank_fen: i64,
    pub unpaid_fen: i64,
    /// Settlements cancelled (their money refunded).
    pub refunds: i64,
    /// Settled seamlessly: no payment queue.
    pub seamless_settled: i64,
}

/// The day's totals by hospital, from its visits.
pub fn totals(visits: &[VisitView]) -> Vec<Totals> {
    let mut by_hospital: BTreeMap<String, Totals> = BTreeMap::new();
    for v in visits {
        let t =
            by_hospital.entry(v.hospital_code.clone()).or_insert_with(|| Totals { hospital: v.hospital_code.clone(), ..Totals::default() });
        t.visits += 1;
        let Some(s) = &v.settlement else { continue };
        match s.state {
            "settled" | "settled_unpaid" => {
                t.settled += 1;
                t.seamless_settled += i64::from(v.seamless.enabled);
                t.medfee_fen += s.medfee_fen;
                t.fund_fen += s.fund_fen;
                t.account_fen += s.personal_account_fen;
                t.bank_fen += s.bank_fen;
                t.unpaid_fen += s.unpaid_fen;
            }
            "cancelled" => t.refunds += 1,
            _ => {}
        }
    }
    by_hospital.into_values().collect()
}

/// A bar of the chart: its label, value and length (of 100).
pub struct Bar {
    pub label: String,
    pub value_fen: i64,
    pub width: i64,
    pub y: i64,
}

fn bars(totals: &[Totals]) -> Vec<Bar> {
    let largest = totals.iter().map(|t| t.medfee_fen).max().unwrap_or(0).max(1);
    totals
        .iter()
        .enumerate()
        .map(|(i, t)| Bar { label: t.hospital.clone(), value_fen: t.medfee_fen, width: t.medfee_fen * 100 / largest, y: i as i64 * 28 })
        .collect()
}

#[derive(Template)]
#[template(path = "ops/home.html")]
struct Home {
    page: Page,
    staff: StaffSession,
    day: String,
    filters: Filters,
    totals: Vec<Totals>,
    bars: Vec<Bar>,
    chart_height: i64,
    minutes_saved: i64,
    hospitals: Vec<HospitalView>,
    banks: Vec<String>,
    keys: Vec<ApiKeyView>,
    visits: Vec<VisitView>,
    exceptions: Vec<ExceptionView>,
}

impl Home {
    fn hours_saved(&self) -> String {
        format!("{}.{}", self.minutes_saved / 60, self.minutes_saved % 60 * 10 / 60)
    }

    fn is_selected(&self, field: &Option<String>, value: &str) -> bool {
        field.as_deref() == Some(value)
    }
}

async fn home(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap, Query(filters): Query<Filters>) -> Response {
    let Some(staff) = crate::staff::session(&app, &headers).await.filter(|s| s.role == StaffRole::Operator) else {
        let page = Page::new(prefs, HOME, HOME);
        return render(&crate::console::SignIn { page, title_key: "ops_title", next: HOME }).into_response();
    };
    let day = filters.day.clone().filter(|d| d.len() == 10).unwrap_or_else(|| crate::staff::today(&app));
    let of_day = VisitQuery { day: Some(day.clone()), limit: Some(200), ..VisitQuery::default() };
    let day_visits = app.visit_list(None, of_day).await.map(|l| l.visits).unwrap_or_default();
    let totals = totals(&day_visits);
    let filtered = VisitQuery {
        day: Some(day.clone()),
        hospital_code: filters.hospital.clone().filter(|h| !h.is_empty()),
        status: filters.status.clone().filter(|s| !s.is_empty()),
        limit: Some(50),
        ..VisitQuery::default()
    };
    let visits = app.visit_list(None, filtered).await.map(|l| l.visits).unwrap_or_default();
    let minutes_saved = totals.iter().map(|t| t.seamless_settled).sum::<i64>() * MINUTES_SAVED_PER_SEAMLESS_VISIT;
    let bars = bars(&totals);
    let page = Page::new(prefs, HOME, HOME).with_csrf(staff.csrf_token.clone());
    let home = Home {
        page,
        staff,
        day,
        filters,
        chart_height: (bars.len() as i64 * 28).max(28),
        bars,
        totals,
        minutes_saved,
        hospitals: app.hospitals().await.unwrap_or_default(),
        banks: app.banks.keys().cloned().collect(),
        keys: app.api_keys().await.unwrap_or_default(),
        visits,
        exceptions: app.exceptions().await.map(|e| e.exceptions).unwrap_or_default(),
    };
    render(&home).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_model_saves_two_hours_and_a_quarter_per_seamless_visit() {
        assert_eq!(MINUTES_SAVED_PER_SEAMLESS_VISIT, 135);
    }
}
