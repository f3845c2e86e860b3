//! The staff side of the API: signing in and out, the operator's console (staff accounts, the
//! audit log, hospitals, HIS keys, every hospital's visits and webhook deliveries), a hospital's
//! visit lists and webhooks, and a bank clerk's agreements. The pages (`wugan-web`) call these as
//! an integrator would.

use super::staff_auth::{session_cookie, PeerAddress};
use super::{idempotent, parse_json, respond};
use crate::app::hospitals::{IssueKeyRequest, OnboardHospitalRequest, RotateKeyRequest};
use crate::app::staff::{NewStaffRequest, SignInRequest, StaffSession, SESSION_COOKIE, SESSION_TTL};
use crate::app::visit_lists::VisitQuery;
use crate::app::webhooks::NewEndpointRequest;
use crate::app::App;
use crate::error::AppError;
use crate::model::Caller;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// The largest audit page.
const MAX_AUDIT_PAGE: i64 = 500;

fn query<T: DeserializeOwned>(uri: &Uri) -> Result<T, AppError> {
    Query::<T>::try_from_uri(uri).map(|Query(q)| q).map_err(|e| AppError::bad_request("bad_query", e.body_text()))
}

/// The session cookie: HttpOnly (no script reads it), SameSite=Strict, for the whole site, Secure
/// when the request came over TLS (a proxy in front says so).
fn session_cookie_header(headers: &HeaderMap, token: &str, max_age_s: u64) -> Option<HeaderValue> {
    let tls = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}")).ok()
}

pub(super) async fn sign_in(State(app): State<Arc<App>>, headers: HeaderMap, PeerAddress(address): PeerAddress, body: Bytes) -> Response {
    let request: SignInRequest = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match app.sign_in(request, &address).await {
        Ok((token, view)) => {
            let mut response = respond(Ok(view));
            if let Some(cookie) = session_cookie_header(&headers, &token, SESSION_TTL.as_secs()) {
                response.headers_mut().insert("set-cookie", cookie);
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

pub(super) async fn sign_out(State(app): State<Arc<App>>, headers: HeaderMap, _: StaffSession) -> Response {
    let token = session_cookie(&headers).unwrap_or_default();
    let mut response = respond(app.sign_out(&token).await);
    if let Some(cookie) = session_cookie_header(&headers, "", 0) {
        response.headers_mut().insert("set-cookie", cookie);
    }
    response
}

pub(super) async fn me(session: StaffSession) -> Response {
    respond(Ok(serde_json::json!({
        "login": session.login,
        "display_name": session.display_name,
        "role": session.role.as_str(),
        "hospital_code": session.hospital_code,
        "bank_code": session.bank_code,
        "expires_at": session.expires_at,
        "csrf_token": session.csrf_token,
    })))
}

/// A bank clerk's own bank's agreements (no names, no ID numbers); other staff are refused.
pub(super) async fn bank_agreements(State(app): State<Arc<App>>, session: StaffSession) -> Response {
    let Some(bank) = session.bank_code.filter(|_| session.role == crate::app::staff::StaffRole::Bank) else {
        return AppError::Forbidden { message: "this endpoint is for a bank's staff".into() }.into_response();
    };
    respond(app.store.agreements_of_bank(&bank, 500).await.map_err(AppError::from))
}

pub(super) async fn add_staff(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, body: Bytes) -> Response {
    idempotent(&app, &caller, &headers, &Method::POST, "/api/v1/operator/staff", &body, || async {
        app.add_staff(parse_json::<NewStaffRequest>(&body)?).await
    })
    .await
}

pub(super) async fn staff_list(State(app): State<Arc<App>>, _: Caller) -> Response {
    respond(app.staff_list().await)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

pub(super) async fn audit_log(State(app): State<Arc<App>>, _: Caller, uri: Uri) -> Response {
    let result = async {
        let q: AuditQuery = query(&uri)?;
        let limit = q.limit.unwrap_or(100);
        if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
            return Err(AppError::bad_request("bad_query", format!("limit is 1 to {MAX_AUDIT_PAGE}")));
        }
        let entries = app.store.audit_entries(q.before, limit).await?;
        // Incremental: the entries since the last check (`app::audit_health`); the whole chain is
        // `wugan audit verify`'s.
        let health = app.audit_health().await?;
        Ok(serde_json::json!({"entries": entries, "chain": {"entries": health.entries, "checked": health.checked, "intact": health.intact, "findings": health.findings}}))
    }
    .await;
    respond(result)
}

pub(super) async fn hospitals(State(app): State<Arc<App>>, _: Caller) -> Response {
    respond(app.hospitals().await)
}

pub(super) async fn onboard_hospital(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, body: Bytes) -> Response {
    idempotent(&app, &caller, &headers, &Method::POST, "/api/v1/operator/hospitals", &body, || async {
        app.onboard_hospital(parse_json::<OnboardHospitalRequest>(&body)?).await
    })
    .await
}

pub(super) async fn keys(State(app): State<Arc<App>>, _: Caller) -> Response {
    respond(app.api_keys().await)
}

pub(super) async fn issue_key(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, body: Bytes) -> Response {
    idempotent(&app, &caller, &headers, &Method::POST, "/api/v1/operator/keys", &body, || async {
        app.issue_hospital_key(parse_json::<IssueKeyRequest>(&body)?).await
    })
    .await
}

pub(super) async fn rotate_key(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/operator/keys/{id}/rotate");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        app.rotate_key(&id, parse_json::<RotateKeyRequest>(&body)?).await
    })
    .await
}

pub(super) async fn revoke_key(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/operator/keys/{id}/revoke");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        let _: super::EmptyBody = parse_json(&body)?;
        app.revoke_key(&id).await
    })
    .await
}

/// A hospital's visits: by its own number, status, day; newest first, paged.
pub(super) async fn visits(State(app): State<Arc<App>>, caller: Caller, uri: Uri) -> Response {
    let hospital = caller.hospital_code.clone().unwrap_or_default();
    match query::<VisitQuery>(&uri) {
        Ok(q) if q.hospital_code.is_some() => AppError::bad_request("bad_query", "hospital_code is the key's own").into_response(),
        Ok(q) => respond(app.visit_list(Some(&hospital), q).await),
        Err(e) => e.into_response(),
    }
}

/// Every hospital's visits, or one's (`hospital_code`), for operators.
pub(super) async fn operator_visits(State(app): State<Arc<App>>, _: Caller, uri: Uri) -> Response {
    match query::<VisitQuery>(&uri) {
        Ok(q) => respond(app.visit_list(None, q).await),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn add_endpoint(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, body: Bytes) -> Response {
    let hospital = caller.hospital_code.clone().unwrap_or_default();
    idempotent(&app, &caller, &headers, &Method::POST, "/api/v1/webhook-endpoints", &body, || async {
        app.add_webhook_endpoint(&hospital, parse_json::<NewEndpointRequest>(&body)?).await
    })
    .await
}

pub(super) async fn endpoints(State(app): State<Arc<App>>, caller: Caller) -> Response {
    respond(app.webhook_endpoints(caller.hospital_code.as_deref()).await)
}

pub(super) async fn deliveries(State(app): State<Arc<App>>, caller: Caller) -> Response {
    respond(app.webhook_deliveries(caller.hospital_code.as_deref()).await)
}

pub(super) async fn operator_deliveries(State(app): State<Arc<App>>, _: Caller) -> Response {
    respond(app.webhook_deliveries(None).await)
}

pub(super) async fn replay(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/webhook-deliveries/{id}/replay");
    let hospital = caller.hospital_code.clone();
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        let _: super::EmptyBody = parse_json(&body)?;
        app.replay_webhook(hospital.as_deref(), &id).await
    })
    .await
}
