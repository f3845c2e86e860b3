//! The operator's stays (住院): the `stays` section lists one hospital's stays or one insured
//! person's, and `/ops/stays/{id}` shows one whole, as an operator reads it when a hospital or a
//! patient calls: the patient in words, the deposit, every settlement, the fee lines, the ledger
//! transfers. Read-only, from `GET /api/v1/operator/stays…` (`app/operator_stays.rs`).

use super::words::{china_time, name_of};
use super::{operator, Home, HOME};
use crate::console::patient_words;
use crate::console::stays::state_key;
use crate::page::{not_found, render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use wugan_hub::app::operator_stays::{OperatorStayQuery, OperatorStayView};
use wugan_hub::app::staff::StaffSession;
use wugan_hub::app::{App, StayView};

/// The stays a list shows.
const LISTED: i64 = 50;

/// The section's stays: the person's when the filter names one, else the hospital's (the first
/// hospital when none is chosen), the open ones only when asked.
pub(super) async fn load(app: &Arc<App>, home: &mut Home) {
    let psn_no = home.filters.psn_no.clone().filter(|p| !p.trim().is_empty());
    let hospital = match home.filters.hospital.clone().filter(|h| !h.is_empty()) {
        Some(h) => Some(h),
        None if psn_no.is_none() => home.hospitals.first().map(|h| h.code.clone()),
        None => None,
    };
    home.filters.hospital = hospital.clone();
    let query = OperatorStayQuery { hospital_code: hospital, psn_no, open: Some(home.filters.open.is_some()), limit: Some(LISTED) };
    home.stays = app.operator_stays(query).await.map(|l| l.stays).unwrap_or_default();
}

impl Home {
    pub(super) fn stay_state(&self, s: &StayView) -> &'static str {
        self.page.t(state_key(s.state))
    }
}

/// One stay whole.
#[derive(Template)]
#[template(path = "ops/stay.html")]
struct StayPage {
    page: Page,
    staff: StaffSession,
    whole: OperatorStayView,
    hospital: String,
    /// "张* · 男 · 36岁".
    patient: String,
    /// The hospitals and banks its transfers' accounts name.
    names: super::ledger_words::Names,
}

impl StayPage {
    fn state(&self) -> &'static str {
        self.page.t(state_key(self.whole.stay.state))
    }

    fn time(&self, at: &str) -> String {
        china_time(at)
    }

    fn account(&self, account: &str) -> String {
        self.names.account(&self.page, account)
    }

    fn kind(&self, kind: &str) -> String {
        super::ledger_words::kind(&self.page, kind)
    }

    /// The hospital's stays, the list this one came from.
    fn back_href(&self) -> String {
        format!("{HOME}stays?hospital={}", self.whole.stay.hospital_code)
    }
}

pub(super) async fn stay_page(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (staff, page) = match operator(&app, prefs, &headers, &format!("{HOME}stays/{id}")).await {
        Ok(signed_in) => signed_in,
        Err(sign_in) => return sign_in,
    };
    let Ok(whole) = app.operator_stay(&id).await else { return not_found(page) };
    let hospitals = app.hospitals().await.unwrap_or_default();
    let hospital = name_of(&hospitals, &whole.stay.hospital_code);
    let patient = patient_words(&page, &whole.patient);
    let names = super::ledger_words::Names { hospitals, banks: app.bank_views() };
    render(&StayPage { page, staff, whole, hospital, patient, names }).into_response()
}
