//! The doctor's and cashier's console under `/console/`, for hospitals without HIS integration:
//! today's visits and their seamless-payment state, registering a visit, fee entry from the
//! catalogue, the estimate, **the settle button** (the doctor's click), cancel, and unpaid bills.
//! Pages read through the hub's `App`; every button is a `fetch` to the HIS API (`app.js`) with
//! the staff session, within the role's rights (a doctor settles, a cashier also cancels).

mod bank;
mod invoices;
mod statement;
mod stays;
pub(crate) mod strings;

use crate::page::{self, render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use wugan_hub::app::staff::StaffSession;
use wugan_hub::app::visit_lists::VisitQuery;
use wugan_hub::app::{App, VisitView};
use wugan_hub::store::{WebhookDelivery, WebhookEndpoint};

pub const HOME: &str = "/console/";

/// The sandbox catalogue the fee form offers (a hospital's own catalogue in production).
const CATALOGUE_JSON: &str = include_str!("../../../policy/policies/catalogue-sandbox.json");

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/console", get(|| async { Redirect::permanent(HOME) }))
        .route("/console/", get(home))
        .route("/console/visits/{id}", get(visit))
        .route("/console/stays", get(stays::list))
        .route("/console/stays/{id}", get(stays::stay))
        .route("/console/statement", get(statement::page))
        .route("/console/statement.csv", get(statement::csv))
        .route("/console/invoices", get(invoices::page))
        .route(bank::PATH, get(bank::page))
}

/// One catalogue item as the fee form lists it.
pub struct Item {
    pub code: String,
    pub name: String,
    /// The price cap in yuan, the form's default price; empty when the item has none.
    pub price: String,
}

fn catalogue() -> Vec<Item> {
    let parsed: serde_json::Value = serde_json::from_str(CATALOGUE_JSON).unwrap_or_default();
    let entries = parsed["entries"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .map(|e| Item {
            code: e["med_list_codg"].as_str().unwrap_or_default().to_string(),
            name: e["name"].as_str().unwrap_or_default().to_string(),
            price: e["pric_uplmt_amt"].as_str().unwrap_or_default().to_string(),
        })
        .filter(|i| !i.code.is_empty())
        .collect()
}

#[derive(Template)]
#[template(path = "console/signin.html")]
pub struct SignIn {
    pub page: Page,
    pub title_key: &'static str,
    pub next: &'static str,
}

#[derive(Template)]
#[template(path = "console/home.html")]
struct Home {
    page: Page,
    staff: StaffSession,
    visits: Vec<VisitView>,
    unpaid: Vec<VisitView>,
    /// The hospital's webhook endpoints and the newest deliveries, replayable by a cashier.
    endpoints: Vec<WebhookEndpoint>,
    deliveries: Vec<WebhookDelivery>,
    may_manage_webhooks: bool,
    /// Finance and cashiers read the day's statement (`console/statement.rs`).
    may_read_statement: bool,
    /// The hospital's invoices (`console/invoices.rs`).
    may_read_invoices: bool,
}

#[derive(Template)]
#[template(path = "console/visit.html")]
struct Visit {
    page: Page,
    staff: StaffSession,
    visit: VisitView,
    catalogue: Vec<Item>,
    /// A fresh fee line number for this form (the HIS's feedetl_sn).
    line_no: String,
    may_settle: bool,
    may_cancel: bool,
    may_refund: bool,
    /// A settled visit's fee lines not refunded yet, for the line-level refund (退费).
    refundable: Vec<RefundableLine>,
}

impl Visit {
    /// Fees and the estimate are for a visit still open: registered, with no settlement standing
    /// or under way (a failed or cancelled attempt leaves it open for corrected fees).
    fn takes_fees(&self) -> bool {
        self.visit.status == "registered" && self.visit.settlement.as_ref().is_none_or(|s| matches!(s.state, "failed" | "cancelled"))
    }

    /// The click is offered until the visit is settled (a click on an attempt under way resumes it).
    fn takes_click(&self) -> bool {
        self.visit.status == "registered"
    }

    /// A standing settlement may be cancelled (and a cancellation under way resumed).
    fn cancellable(&self) -> bool {
        matches!(self.visit.settlement.as_ref().map(|s| s.state), Some("settled" | "settled_unpaid" | "cancelling"))
    }
}

/// A fee line the cashier may tick for a refund.
struct RefundableLine {
    feedetl_sn: String,
    amount_fen: i64,
}

/// The settled visit's lines still in force (its finished refunds' lines left out); none while a
/// refund is under way or the visit is not settled.
async fn refundable_lines(app: &App, hospital: &str, visit: &VisitView) -> Vec<RefundableLine> {
    if !matches!(visit.settlement.as_ref().map(|s| s.state), Some("settled" | "settled_unpaid")) {
        return Vec::new();
    }
    let (Ok(lines), Ok(refunds)) = (app.store.fee_lines(&visit.id).await, app.refunds_of(hospital, &visit.id).await) else {
        return Vec::new();
    };
    if refunds.iter().any(|r| !matches!(r.state, "refunded" | "refused")) {
        return Vec::new();
    }
    let returned: Vec<&String> = refunds.iter().filter(|r| r.state == "refunded").flat_map(|r| &r.lines).collect();
    lines
        .into_iter()
        .filter(|l| l.uploaded && !returned.contains(&&l.feedetl_sn))
        .map(|l| RefundableLine { feedetl_sn: l.feedetl_sn, amount_fen: l.amount.0 })
        .collect()
}

fn state_key(state: &str) -> &'static str {
    match state {
        "settled" => "state_settled",
        "settled_unpaid" => "state_settled_unpaid",
        "cancelled" => "state_cancelled",
        "refunded" => "state_refunded",
        "failed" => "state_failed",
        "registered" => "state_registered",
        "registering" => "state_registering",
        "settling" => "state_settling",
        _ => "state_in_progress",
    }
}

impl Home {
    fn state_of(&self, v: &VisitView) -> &'static str {
        self.page.t(state_key(visit_state(v)))
    }
}

/// What a visit's row reads: fully refunded or its registration cancelled (退号) first, else its
/// latest settlement's state, else the visit's. (A cancelled visit keeps the settlement its refund
/// reversed, which still reads `settled`.)
fn visit_state(v: &VisitView) -> &'static str {
    state_of_row(v.status, v.settlement.as_ref().map(|s| s.state))
}

fn state_of_row(status: &'static str, settlement: Option<&'static str>) -> &'static str {
    match status {
        "refunded" => "refunded",
        "cancelled" => "cancelled",
        status => settlement.unwrap_or(status),
    }
}

impl Visit {
    fn state(&self) -> &'static str {
        self.page.t(state_key(visit_state(&self.visit)))
    }
}

/// The console's staff member: a hospital's; anyone else sees the sign-in form.
pub(super) async fn hospital_staff(app: &Arc<App>, headers: &HeaderMap) -> Option<StaffSession> {
    crate::staff::session(app, headers).await.filter(|s| s.role.is_hospital_staff())
}

pub(super) fn sign_in_page(prefs: Prefs) -> Response {
    render(&SignIn { page: Page::new(prefs, HOME, HOME), title_key: "console_title", next: HOME }).into_response()
}

async fn home(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(staff) = hospital_staff(&app, &headers).await else {
        // A bank's staff sign in here too, and read their bank's page.
        if bank::bank_staff(&app, &headers).await.is_some() {
            return Redirect::to(bank::PATH).into_response();
        }
        return sign_in_page(prefs);
    };
    let hospital = staff.hospital_code.clone().unwrap_or_default();
    let query = VisitQuery { day: Some(crate::staff::today(&app)), limit: Some(200), ..VisitQuery::default() };
    let visits = app.visit_list(Some(&hospital), query).await.map(|l| l.visits).unwrap_or_default();
    let unpaid = visits.iter().filter(|v| v.settlement.as_ref().is_some_and(|s| s.unpaid_fen > 0)).cloned().collect();
    let endpoints = app.webhook_endpoints(Some(&hospital)).await.unwrap_or_default();
    let mut deliveries = app.webhook_deliveries(Some(&hospital)).await.unwrap_or_default();
    deliveries.truncate(20);
    let may_manage_webhooks = staff.role.may(&axum::http::Method::POST, "/api/v1/webhook-endpoints");
    let may_read_statement = staff.role.may(&axum::http::Method::GET, "/api/v1/hospitals/{code}/statements/{date}");
    let may_read_invoices = staff.role.may(&axum::http::Method::GET, "/api/v1/invoices");
    let page = Page::new(prefs, HOME, HOME).with_csrf(staff.csrf_token.clone());
    let home = Home { page, staff, visits, unpaid, endpoints, deliveries, may_manage_webhooks, may_read_statement, may_read_invoices };
    render(&home).into_response()
}

async fn visit(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let path = format!("/console/visits/{id}");
    let Some(staff) = hospital_staff(&app, &headers).await else {
        return sign_in_page(prefs);
    };
    let page = Page::new(prefs, path, HOME).with_csrf(staff.csrf_token.clone());
    // Another hospital's visit is answered like a missing one, as the API does.
    let Ok(visit) = app.visit(staff.hospital_code.as_deref().unwrap_or_default(), &id).await else {
        return page::not_found(page);
    };
    let post = axum::http::Method::POST;
    let may_settle = staff.role.may(&post, "/api/v1/visits/{id}/settlement");
    let may_cancel = staff.role.may(&post, "/api/v1/visits/{id}/settlement/cancel");
    let may_refund = staff.role.may(&post, "/api/v1/visits/{id}/refunds");
    let refundable = refundable_lines(&app, staff.hospital_code.as_deref().unwrap_or_default(), &visit).await;
    let line_no = format!("C{}", app.now().chars().filter(char::is_ascii_digit).skip(2).take(16).collect::<String>());
    render(&Visit { page, staff, visit, catalogue: catalogue(), line_no, may_settle, may_cancel, may_refund, refundable }).into_response()
}

#[cfg(test)]
mod row_tests {
    #[test]
    fn a_visit_refunded_in_full_and_its_registration_cancelled_reads_cancelled_not_settled() {
        assert_eq!(super::state_of_row("cancelled", Some("settled")), "cancelled");
        assert_eq!(super::state_of_row("refunded", Some("settled")), "refunded");
        assert_eq!(super::state_of_row("settled", Some("settled_unpaid")), "settled_unpaid");
        assert_eq!(super::state_of_row("registered", None), "registered");
    }
}
