//! The patient's phone pages (H5) under `/h5/`.

mod bills;
mod claims;
mod credit;
mod family;
mod home;
mod inbox;
pub(crate) mod online_strings;
pub(crate) mod p2_strings;
mod qr;
mod session;
mod sign_up;
mod special_disease;
pub(crate) mod stay_strings;
pub(crate) mod strings;
mod visits;

use crate::page::{self, render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::sync::Arc;
use wugan_hub::app::App;

pub const HOME: &str = "/h5/";

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/h5", get(|| async { Redirect::permanent(HOME) }))
        .route("/h5/", get(start))
        .route("/h5/home", get(home::home))
        .route("/h5/sign-up", get(sign_up::sign_up))
        .route("/h5/visits", get(visits::visits))
        .route("/h5/family", get(family::family))
        .route("/h5/family/{agreement}/{link}/qr", get(qr::family_qr))
        .route("/h5/family/{agreement}/{link}/qr/code", get(qr::family_code))
        .route("/h5/notifications", get(inbox::inbox))
        .route("/h5/qr", get(qr::qr))
        .route("/h5/qr/code", get(qr::code))
        .route("/h5/bills", get(bills::bills))
        .route("/h5/credit", get(credit::credit))
        .route("/h5/special-disease", get(special_disease::special_disease))
        .route("/h5/claims", get(claims::claims))
        .route("/h5/{*rest}", get(|prefs: Prefs, uri: axum::http::Uri| async move { page::not_found(Page::new(prefs, uri.path(), HOME)) }))
}

/// Hospitals' names by code, read once per page render (never once per row): a patient knows a
/// hospital by its name, not by its code (H44030600001). A code with no name on the hub's books
/// shows as itself, so a row never loses its hospital.
#[derive(Default)]
pub(crate) struct HospitalNames(HashMap<String, String>, Vec<(String, String)>);

impl HospitalNames {
    pub(crate) async fn read(app: &App) -> HospitalNames {
        match app.hospitals().await {
            Ok(list) => HospitalNames::of(list.into_iter().map(|h| (h.code, h.name))),
            Err(e) => {
                // The page still shows every row, with codes instead of names.
                tracing::warn!(error = %e, "the hospitals' names could not be read");
                HospitalNames::default()
            }
        }
    }

    fn of(pairs: impl IntoIterator<Item = (String, String)>) -> HospitalNames {
        let pairs: Vec<(String, String)> = pairs.into_iter().collect();
        let mut choices: Vec<(String, String)> =
            pairs.iter().map(|(code, name)| (code.clone(), if name.trim().is_empty() { code.clone() } else { name.clone() })).collect();
        choices.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        HospitalNames(pairs.into_iter().filter(|(_, name)| !name.trim().is_empty()).collect(), choices)
    }

    /// Every hospital on the hub's books as (code, name), by name: what a form offers to choose
    /// from, so a patient picks a hospital by the name they know and never types its code.
    pub(crate) fn choices(&self) -> &[(String, String)] {
        &self.1
    }

    /// The hospital's name, or its code when the hub has none.
    pub(crate) fn name<'a>(&'a self, code: &'a str) -> &'a str {
        self.0.get(code).map_or(code, String::as_str)
    }
}

/// The first page: sign in with a mobile number and a one-time code.
#[derive(Template)]
#[template(path = "h5/start.html")]
struct Start {
    page: Page,
}

/// A reader already signed in goes straight to their home page.
async fn start(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    if session::of(&app, &headers).await.is_some() {
        return Redirect::to("/h5/home").into_response();
    }
    render(&Start { page: Page::new(prefs, HOME, HOME) }).into_response()
}

#[cfg(test)]
mod tests {
    use super::HospitalNames;

    #[test]
    fn a_hospital_reads_by_its_name_and_by_its_code_when_it_has_none() {
        let names =
            HospitalNames::of([("H44030600001".to_string(), "深圳市第一人民医院".to_string()), ("H2".to_string(), " ".to_string())]);
        // (code, shown)
        for (code, shown) in [("H44030600001", "深圳市第一人民医院"), ("H2", "H2"), ("H-UNKNOWN", "H-UNKNOWN"), ("", "")] {
            assert_eq!(names.name(code), shown, "{code}");
        }
        assert_eq!(HospitalNames::default().name("H44030600001"), "H44030600001");
        // Offered by name (a nameless one by its code), every one of them.
        let offered: Vec<(&str, &str)> = names.choices().iter().map(|(c, n)| (c.as_str(), n.as_str())).collect();
        assert_eq!(offered, [("H2", "H2"), ("H44030600001", "深圳市第一人民医院")]);
    }
}
