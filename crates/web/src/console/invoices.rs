//! The hospital's e-invoices in the console (issue 16): newest first, blue and red (冲红), the
//! visits' and the stays', each opened as its printable HTML; the same list as
//! `GET /api/v1/invoices`, read through the hub's `App` for the staff whose role may read it.

use super::{hospital_staff, sign_in_page, HOME};
use crate::page::{self, render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use wugan_hub::app::invoices::InvoiceView;
use wugan_hub::app::staff::StaffSession;
use wugan_hub::app::App;

const PATH: &str = "/console/invoices";
/// The API route whose right the page needs.
const API_ROUTE: &str = "/api/v1/invoices";
/// Invoices per page.
const PAGE_SIZE: i64 = 50;

#[derive(serde::Deserialize)]
pub(super) struct Before {
    before: Option<String>,
}

#[derive(Template)]
#[template(path = "console/invoices.html")]
struct Invoices {
    page: Page,
    staff: StaffSession,
    invoices: Vec<InvoiceView>,
    /// The next page's `before`, when there is one.
    next_before: Option<String>,
}

impl Invoices {
    fn kind_of(&self, i: &InvoiceView) -> &'static str {
        self.page.t(match (i.kind.as_str(), i.deposit_state.as_deref()) {
            ("red", _) => "inv_kind_red",
            // A deposit receipt (押金收据), with how its hold ended.
            ("deposit", Some("recovered")) => "deposit_kind_recovered",
            ("deposit", Some("released")) => "deposit_kind_released",
            ("deposit", _) => "deposit_kind_held",
            _ => "inv_kind_blue",
        })
    }
}

pub(super) async fn page(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap, Query(q): Query<Before>) -> Response {
    let Some(staff) = hospital_staff(&app, &headers).await else {
        return sign_in_page(prefs);
    };
    if !staff.role.may(&Method::GET, API_ROUTE) {
        return page::not_found(Page::new(prefs, PATH, HOME));
    }
    let hospital = staff.hospital_code.clone().unwrap_or_default();
    let before = q.before.filter(|b| !b.trim().is_empty());
    let list = app.invoices(&hospital, before.as_deref(), PAGE_SIZE).await.ok();
    let (invoices, next_before) = list.map(|l| (l.invoices, l.next_before)).unwrap_or_default();
    let page = Page::new(prefs, PATH, HOME).with_csrf(staff.csrf_token.clone());
    render(&Invoices { page, staff, invoices, next_before }).into_response()
}
