//! The signed-in patient behind a page request: the session cookie, checked as the API checks
//! it. Pages of a signed-out reader send them to the start page.

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use wugan_hub::api::patient_auth::{cookie, SESSION_COOKIE};
use wugan_hub::app::patients::PatientSession;
use wugan_hub::app::App;

/// The live session of the request's cookie, if any.
pub async fn of(app: &App, headers: &HeaderMap) -> Option<PatientSession> {
    let token = cookie(headers, SESSION_COOKIE).filter(|t| !t.is_empty())?;
    match app.patient_session(token).await {
        Ok(session) => session,
        Err(e) => {
            tracing::warn!(error = %e, "a page could not read its session");
            None
        }
    }
}

/// Where a signed-out reader goes.
pub fn to_start() -> Response {
    Redirect::to(super::HOME).into_response()
}
