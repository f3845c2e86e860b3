//! The patient's controls and bills (issue 14 scopes 4 and 6, issue 17 scope 4): seamless
//! payment switched per hospital, by default and per visit; unpaid bills and their pay action;
//! the credit line's statements and a limit-increase request.

use super::patient_auth::PatientCaller;
use super::{parse_json, respond};
use crate::app::App;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;

pub(super) async fn seamless_choices(State(app): State<Arc<App>>, patient: PatientCaller) -> Response {
    respond(app.patient_seamless_choices(&patient.patient_id).await)
}

pub(super) async fn set_seamless_choice(State(app): State<Arc<App>>, patient: PatientCaller, body: Bytes) -> Response {
    respond(async { app.patient_set_seamless_choice(&patient.patient_id, parse_json(&body)?).await }.await)
}

pub(super) async fn switch_visit(State(app): State<Arc<App>>, patient: PatientCaller, Path(id): Path<String>, body: Bytes) -> Response {
    respond(async { app.patient_switch_visit(&patient.patient_id, &id, parse_json(&body)?).await }.await)
}

pub(super) async fn bills(State(app): State<Arc<App>>, patient: PatientCaller) -> Response {
    respond(app.patient_unpaid_bills(&patient.patient_id).await)
}

/// Paying twice is harmless: the collection is one per bill, under fixed bank request ids.
pub(super) async fn pay_bill(State(app): State<Arc<App>>, patient: PatientCaller, Path(id): Path<String>) -> Response {
    respond(app.patient_pay_bill(&patient.patient_id, &id).await)
}

pub(super) async fn statements(State(app): State<Arc<App>>, patient: PatientCaller, Path(id): Path<String>) -> Response {
    respond(app.patient_statements(&patient.patient_id, &id).await)
}

/// A limit-increase request, once per Idempotency-Key (stored like the patient's repayments).
pub(super) async fn request_limit(
    State(app): State<Arc<App>>,
    patient: PatientCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/patient/agreements/{id}/limit-requests");
    let caller = crate::model::Caller { role: crate::model::Role::Operator, hospital_code: Some(patient.scope()) };
    let key = super::idempotency_key(&headers);
    super::idempotent(&app, &caller, &headers, &axum::http::Method::POST, &path, &body, || async {
        app.patient_request_limit(&patient.patient_id, &id, parse_json(&body)?, &key).await
    })
    .await
}
