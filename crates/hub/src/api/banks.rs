//! Onboarding banks from the operator's console and API (`app::bank_onboarding`).

use super::{idempotent, parse_json, respond};
use crate::app::bank_onboarding::OnboardBankRequest;
use crate::app::App;
use crate::model::Caller;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use std::sync::Arc;

pub(super) async fn banks(State(app): State<Arc<App>>, _: Caller) -> Response {
    respond(Ok::<_, crate::error::AppError>(app.bank_views()))
}

pub(super) async fn onboard_bank(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, body: Bytes) -> Response {
    idempotent(&app, &caller, &headers, &Method::POST, "/api/v1/operator/banks", &body, || async {
        app.onboard_bank(parse_json::<OnboardBankRequest>(&body)?).await
    })
    .await
}
