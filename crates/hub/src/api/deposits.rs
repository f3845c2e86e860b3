//! Issue 16's deposit routes: the operator changes a hospital's deposit policy; the patient lists
//! the documents of their stays (invoices and deposit receipts, each opened with the invoice
//! routes `/api/v1/patient/invoices/{id}/html|pdf`).

use super::patient_auth::PatientCaller;
use super::{idempotent, parse_json, respond};
use crate::app::deposit_policy::SetDepositPolicyRequest;
use crate::app::App;
use crate::model::Caller;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde::Serialize;
use std::sync::Arc;

pub(super) async fn set_policy(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(code): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/operator/hospitals/{code}/deposit_policy");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        app.set_deposit_policy(&code, parse_json::<SetDepositPolicyRequest>(&body)?).await
    })
    .await
}

#[derive(Serialize)]
struct StayDocuments {
    invoices: Vec<crate::app::invoices::InvoiceView>,
}

pub(super) async fn patient_stay_documents(State(app): State<Arc<App>>, patient: PatientCaller) -> Response {
    respond(app.patient_stay_documents(&patient.patient_id).await.map(|invoices| StayDocuments { invoices }))
}
