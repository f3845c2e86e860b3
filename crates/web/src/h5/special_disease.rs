//! `/h5/special-disease`: applying online for special-disease outpatient registration (门特/门诊
//! 慢特病备案) and seeing how each application stands; the insurance center decides, in its words.

use super::{session, HospitalNames, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;
use wugan_hub::app::App;
use wugan_hub::store::SpecialDiseaseRow;

#[derive(Template)]
#[template(path = "h5/special_disease.html")]
struct SpecialDisease {
    page: Page,
    registrations: Vec<SpecialDiseaseRow>,
    hospitals: HospitalNames,
}

impl SpecialDisease {
    fn state(&self, state: &str) -> &str {
        match state {
            "approved" => self.page.t("os_state_approved"),
            "declined" => self.page.t("os_state_declined"),
            "revoked" | "revoking" => self.page.t("os_state_revoked"),
            _ => self.page.t("os_state_pending"),
        }
    }
}

pub async fn special_disease(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    let registrations = match app.patient_special_diseases(&signed_in.patient_id).await {
        Ok(view) => view.registrations,
        Err(e) => {
            tracing::warn!(error = %e, "a patient's special-disease registrations could not be read");
            Vec::new()
        }
    };
    let hospitals = HospitalNames::read(&app).await;
    let page = Page::new(prefs, "/h5/special-disease", HOME).with_csrf(signed_in.csrf_token);
    render(&SpecialDisease { page, registrations, hospitals })
}
