//! `/h5/claims`: 零星报销 — claiming a bill paid in full elsewhere (one line per claim on the
//! phone), and each claim's status: submitted, adjudicated, paid to the card, or declined and why.

use super::{session, HospitalNames, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;
use wugan_hub::app::App;
use wugan_hub::store::ManualClaimRow;

#[derive(Template)]
#[template(path = "h5/claims.html")]
struct Claims {
    page: Page,
    claims: Vec<ManualClaimRow>,
    hospitals: HospitalNames,
}

impl Claims {
    fn state(&self, state: &str) -> &str {
        match state {
            "paid" => self.page.t("os_claim_paid"),
            "adjudicated" => self.page.t("os_claim_adjudicated"),
            "declined" => self.page.t("os_claim_declined"),
            _ => self.page.t("os_claim_submitted"),
        }
    }

    fn paid(&self, fen: &i64) -> String {
        self.page.yuan(*fen)
    }

    fn amount(&self, fen: &Option<i64>) -> String {
        fen.map_or_else(|| "—".to_string(), |f| self.page.yuan(f))
    }
}

pub async fn claims(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    let claims = match app.patient_manual_claims(&signed_in.patient_id).await {
        Ok(view) => view.claims,
        Err(e) => {
            tracing::warn!(error = %e, "a patient's claims could not be read");
            Vec::new()
        }
    };
    let hospitals = HospitalNames::read(&app).await;
    let page = Page::new(prefs, "/h5/claims", HOME).with_csrf(signed_in.csrf_token);
    render(&Claims { page, claims, hospitals })
}
