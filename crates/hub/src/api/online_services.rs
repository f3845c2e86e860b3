//! The patient's online services (`/api/v1/patient/special-diseases`, `/api/v1/patient/claims`):
//! special-disease registration and manual claims, for the patient and their consented family.
//! A POST runs once per Idempotency-Key (stored like the patient's repayments), and the key also
//! fixes the registration's or claim's id, so a retry after a lost answer is never a second one.

use super::patient_auth::PatientCaller;
use super::{parse_json, respond};
use crate::app::App;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;

/// The caller `idempotent` keys stored answers by: the patient's own scope.
fn stored_as(patient: &PatientCaller) -> crate::model::Caller {
    crate::model::Caller { role: crate::model::Role::Operator, hospital_code: Some(patient.scope()) }
}

pub(super) async fn apply_special_disease(
    State(app): State<Arc<App>>,
    patient: PatientCaller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = super::idempotency_key(&headers);
    let path = "/api/v1/patient/special-diseases";
    super::idempotent(&app, &stored_as(&patient), &headers, &axum::http::Method::POST, path, &body, || async {
        app.apply_special_disease(&patient.patient_id, parse_json(&body)?, &key).await
    })
    .await
}

pub(super) async fn special_diseases(State(app): State<Arc<App>>, patient: PatientCaller) -> Response {
    respond(app.patient_special_diseases(&patient.patient_id).await)
}

pub(super) async fn special_disease(State(app): State<Arc<App>>, patient: PatientCaller, Path(id): Path<String>) -> Response {
    respond(app.patient_special_disease(&patient.patient_id, &id).await)
}

pub(super) async fn revoke_special_disease(State(app): State<Arc<App>>, patient: PatientCaller, Path(id): Path<String>) -> Response {
    respond(app.revoke_special_disease(&patient.patient_id, &id).await)
}

pub(super) async fn submit_claim(State(app): State<Arc<App>>, patient: PatientCaller, headers: HeaderMap, body: Bytes) -> Response {
    let key = super::idempotency_key(&headers);
    let path = "/api/v1/patient/claims";
    super::idempotent(&app, &stored_as(&patient), &headers, &axum::http::Method::POST, path, &body, || async {
        app.submit_manual_claim(&patient.patient_id, parse_json(&body)?, &key).await
    })
    .await
}

pub(super) async fn claims(State(app): State<Arc<App>>, patient: PatientCaller) -> Response {
    respond(app.patient_manual_claims(&patient.patient_id).await)
}

pub(super) async fn claim(State(app): State<Arc<App>>, patient: PatientCaller, Path(id): Path<String>) -> Response {
    respond(app.patient_manual_claim(&patient.patient_id, &id).await)
}
