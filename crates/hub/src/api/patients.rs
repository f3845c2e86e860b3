//! The patient's routes (`/api/v1/patient/...`): sign-in codes and sessions (public), and what a
//! signed-in patient may see and change of their own (`Access::Patient`).

use super::patient_auth::{came_over_tls, cleared_session_cookie, session_cookie, PatientCaller};
use super::{json_response, parse_json, respond, to_body};
use crate::app::App;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The client's address, when the server recorded it (the rate limit per address).
pub struct ClientAddress(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<ClientAddress, Infallible> {
        Ok(ClientAddress(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

pub(super) async fn send_code(State(app): State<Arc<App>>, ClientAddress(address): ClientAddress, body: Bytes) -> Response {
    let result = async { app.send_sign_in_code(parse_json(&body)?, address).await }.await;
    match result.and_then(to_body) {
        Ok(v) => json_response(StatusCode::ACCEPTED, &v),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn sign_in(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let session = match async { app.sign_in_with_code(parse_json(&body)?).await }.await {
        Ok(session) => session,
        Err(e) => return e.into_response(),
    };
    let cookie = session_cookie(&session.token, came_over_tls(&headers));
    match to_body(session) {
        Ok(v) => {
            let mut response = json_response(StatusCode::CREATED, &v);
            response.headers_mut().append("set-cookie", cookie);
            response
        }
        Err(e) => e.into_response(),
    }
}

pub(super) async fn sign_out(State(app): State<Arc<App>>, patient: PatientCaller) -> Response {
    match app.patient_sign_out(&patient.token).await {
        Ok(()) => {
            let mut response = json_response(StatusCode::OK, &serde_json::json!({"signed_out": true}));
            response.headers_mut().append("set-cookie", cleared_session_cookie());
            response
        }
        Err(e) => e.into_response(),
    }
}

pub(super) async fn me(State(app): State<Arc<App>>, patient: PatientCaller) -> Response {
    respond(app.patient_me(&patient.patient_id).await)
}

pub(super) async fn bind_identity(State(app): State<Arc<App>>, patient: PatientCaller, body: Bytes) -> Response {
    respond(async { app.bind_identity(&patient.patient_id, parse_json(&body)?).await }.await)
}

pub(super) async fn agreement(State(app): State<Arc<App>>, patient: PatientCaller, Path(id): Path<String>) -> Response {
    respond(app.patient_agreement(&patient.patient_id, &id).await)
}

pub(super) async fn agreement_text() -> Response {
    respond(Ok(crate::app::consent::current_text()))
}

/// 签约 by the patient: the Idempotency-Key names the sign-up, so a retry resumes it.
pub(super) async fn sign_up(State(app): State<Arc<App>>, patient: PatientCaller, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let key = super::idempotency_key_of(&headers)?;
        app.patient_sign_up(&patient.patient_id, super::parse_object(&body, &["payment"])?, key).await
    }
    .await;
    let replayed = matches!(result, Ok((_, true)));
    let mut response = respond(result.map(|(view, _)| view));
    if replayed {
        response.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
    }
    response
}

pub(super) async fn agreements(State(app): State<Arc<App>>, patient: PatientCaller) -> Response {
    respond(app.patient_agreements(&patient.patient_id).await)
}

pub(super) async fn revoke(State(app): State<Arc<App>>, patient: PatientCaller, Path(id): Path<String>, body: Bytes) -> Response {
    respond(async { app.patient_revoke(&patient.patient_id, &id, parse_json(&body)?).await }.await)
}

pub(super) async fn consents(State(app): State<Arc<App>>, patient: PatientCaller) -> Response {
    respond(app.patient_consents(&patient.patient_id).await)
}

pub(super) async fn operator_consents(State(app): State<Arc<App>>, _: crate::model::Caller, Path(id): Path<String>) -> Response {
    respond(app.agreement_consents(&id).await)
}

/// `?after=`: the `next_after` of the page before (older visits).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VisitsPage {
    after: Option<String>,
}

pub(super) async fn visits(State(app): State<Arc<App>>, patient: PatientCaller, uri: axum::http::Uri) -> Response {
    match axum::extract::Query::<VisitsPage>::try_from_uri(&uri) {
        Ok(q) => respond(app.patient_visits(&patient.patient_id, q.0.after.as_deref()).await),
        Err(e) => {
            crate::error::AppError::bad_request("bad_query", format!("the query is not understood: {}", e.body_text())).into_response()
        }
    }
}

pub(super) async fn estimate(State(app): State<Arc<App>>, patient: PatientCaller, Path(id): Path<String>) -> Response {
    respond(app.patient_estimate(&patient.patient_id, &id).await)
}

/// A repayment of the patient's own line, once per Idempotency-Key (stored like an operator's).
pub(super) async fn repay(
    State(app): State<Arc<App>>,
    patient: PatientCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/patient/agreements/{id}/repayments");
    // `idempotent` reads only the caller's scope: this one ("hospital:patient:pat_…") is the
    // patient's own and meets no real hospital's (their codes hold no colon).
    let caller = crate::model::Caller { role: crate::model::Role::Operator, hospital_code: Some(patient.scope()) };
    let key = super::idempotency_key(&headers);
    super::idempotent(&app, &caller, &headers, &axum::http::Method::POST, &path, &body, || async {
        app.patient_repay(&patient.patient_id, &id, parse_json(&body)?, &key).await
    })
    .await
}

pub(super) async fn add_family(State(app): State<Arc<App>>, patient: PatientCaller, Path(id): Path<String>, body: Bytes) -> Response {
    respond(async { app.patient_add_family(&patient.patient_id, &id, super::parse_object(&body, &["consent"])?).await }.await)
}

pub(super) async fn revoke_family(
    State(app): State<Arc<App>>,
    patient: PatientCaller,
    Path((id, link)): Path<(String, String)>,
) -> Response {
    respond(app.patient_revoke_family(&patient.patient_id, &id, &link).await)
}

/// A family member's e-voucher QR token, shown on the signer's phone for them (亲情付).
pub(super) async fn family_qr(State(app): State<Arc<App>>, patient: PatientCaller, Path((id, link)): Path<(String, String)>) -> Response {
    respond(app.family_qr(&patient.patient_id, &id, &link).await)
}

pub(super) async fn notifications(State(app): State<Arc<App>>, patient: PatientCaller) -> Response {
    respond(app.patient_notifications(&patient.patient_id).await)
}

pub(super) async fn qr(State(app): State<Arc<App>>, patient: PatientCaller) -> Response {
    respond(app.patient_qr(&patient.patient_id).await)
}

pub(super) async fn invoice_html(State(app): State<Arc<App>>, patient: PatientCaller, Path(id): Path<String>) -> Response {
    super::invoices::html(app.patient_invoice_html(&patient.patient_id, &id).await)
}

pub(super) async fn invoice_pdf(State(app): State<Arc<App>>, patient: PatientCaller, Path(id): Path<String>) -> Response {
    super::invoices::pdf(app.patient_invoice_pdf(&patient.patient_id, &id).await, &id)
}

/// 亲情付 invitations sent and received (`app/family_invitations.rs`).
pub(super) async fn family_invitations(State(app): State<Arc<App>>, patient: PatientCaller) -> Response {
    respond(app.patient_family_invitations(&patient.patient_id).await)
}

pub(super) async fn accept_family_invitation(State(app): State<Arc<App>>, patient: PatientCaller, Path(id): Path<String>) -> Response {
    respond(app.accept_family_invitation(&patient.patient_id, &id).await)
}

pub(super) async fn decline_family_invitation(State(app): State<Arc<App>>, patient: PatientCaller, Path(id): Path<String>) -> Response {
    respond(app.decline_family_invitation(&patient.patient_id, &id).await)
}
