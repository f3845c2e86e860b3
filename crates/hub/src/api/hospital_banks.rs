//! Hospital–bank agreements (`app::hospital_banks`): the operator's create, list, suspend and
//! resume; a bank clerk's view of their own bank's agreements.

use super::{idempotent, parse_json, respond, EmptyBody};
use crate::app::hospital_banks::{HospitalBankQuery, NewHospitalBankRequest};
use crate::app::staff::{StaffRole, StaffSession};
use crate::app::App;
use crate::error::AppError;
use crate::model::Caller;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub(super) async fn list(State(app): State<Arc<App>>, _: Caller, uri: Uri) -> Response {
    let q = Query::<HospitalBankQuery>::try_from_uri(&uri)
        .map(|Query(q)| q)
        .map_err(|e| AppError::bad_request("bad_query", format!("the query is not understood: {}", e.body_text())));
    // Each filter is a short text without control characters, as openapi.json states it.
    let q = q.and_then(|q| {
        for (name, value) in [("hospital_code", &q.hospital_code), ("bank_code", &q.bank_code)] {
            if let Some(v) = value {
                crate::app::check_text_value(name, v, Some(64)).map_err(|_| {
                    AppError::bad_request("bad_query", format!("{name} must be at most 64 characters, without control characters"))
                })?;
            }
        }
        Ok(q)
    });
    match q {
        Ok(q) => respond(app.hospital_banks(q).await),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn add(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, body: Bytes) -> Response {
    idempotent(&app, &caller, &headers, &Method::POST, "/api/v1/operator/hospital-banks", &body, || async {
        app.add_hospital_bank(parse_json::<NewHospitalBankRequest>(&body)?).await
    })
    .await
}

pub(super) async fn suspend(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path((hospital, bank)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    set_active(app, caller, headers, hospital, bank, body, false).await
}

pub(super) async fn resume(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path((hospital, bank)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    set_active(app, caller, headers, hospital, bank, body, true).await
}

async fn set_active(
    app: Arc<App>,
    caller: Caller,
    headers: HeaderMap,
    hospital: String,
    bank: String,
    body: Bytes,
    active: bool,
) -> Response {
    let verb = if active { "resume" } else { "suspend" };
    let path = format!("/api/v1/operator/hospital-banks/{hospital}/{bank}/{verb}");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        let _: EmptyBody = parse_json(&body)?;
        app.set_hospital_bank_active(&hospital, &bank, active).await
    })
    .await
}

/// A bank clerk's own bank's hospital agreements (accounts masked); other staff are refused.
pub(super) async fn of_my_bank(State(app): State<Arc<App>>, session: StaffSession) -> Response {
    let Some(bank) = session.bank_code.filter(|_| session.role == StaffRole::Bank) else {
        return AppError::Forbidden { message: "this endpoint is for a bank's staff".into() }.into_response();
    };
    respond(app.hospital_banks(HospitalBankQuery { hospital_code: None, bank_code: Some(bank) }).await)
}
