//! HTTP surface: the national interface endpoint, health, and sandbox-only audit views.

use crate::center::InsuranceCenter;
use crate::faults::BeforeHandling;
use crate::journal::Unrecorded;
use axum::body::{to_bytes, Body};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The national interface path (国家医保信息平台 统一服务入口).
pub const CALL_SERVICE_PATH: &str = "/fsi/api/rsfComIfsService/callService";

/// Largest request body read (a big 2204 upload of a few thousand lines fits).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

pub fn router(center: Arc<InsuranceCenter>) -> Router {
    Router::new()
        .route(CALL_SERVICE_PATH, post(call_service))
        .route("/health", get(health))
        .route("/sandbox/settlements", get(sandbox_settlements))
        .route("/sandbox/persons/{psn_no}", get(sandbox_person))
        .with_state(center)
}

/// The body is read as bytes and parsed by the center, so malformed JSON gets an infcode -1 envelope
/// (HTTP 200), never axum's plain-text rejection.
async fn call_service(State(center): State<Arc<InsuranceCenter>>, body: Body) -> Response {
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        // An unreadable or oversized body: let the center answer as for malformed JSON.
        Err(_) => axum::body::Bytes::from_static(b"<body unreadable or larger than the limit>"),
    };
    if !center.faults().is_active() {
        return answer(center.call(&bytes).await);
    }
    with_faults(&center, &bytes).await
}

/// The reply, or 503 when a persistent center could not record the request (retry the same msgid).
fn answer(reply: Result<serde_json::Value, Unrecorded>) -> Response {
    match reply {
        Ok(reply) => Json(reply).into_response(),
        Err(e) => fault(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

/// The injected faults around one call: latency; refusal (503) or error (500) before anything is
/// done; a duplicate delivery (the second reply, a msgid replay, is sent); a 504 after commit.
async fn with_faults(center: &InsuranceCenter, bytes: &[u8]) -> Response {
    let faults = center.faults().faults().clone();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    match center.faults().before_handling() {
        BeforeHandling::Proceed => {}
        BeforeHandling::Refuse => return fault(StatusCode::SERVICE_UNAVAILABLE, "injected fault: request refused, nothing was done"),
        BeforeHandling::Error => return fault(StatusCode::INTERNAL_SERVER_ERROR, "injected fault: internal error, nothing was done"),
    }
    let mut reply = center.call(bytes).await;
    if faults.duplicate_delivery && reply.is_ok() {
        reply = center.call(bytes).await;
    }
    if center.faults().timeout_after_commit() {
        tracing::debug!("injected fault: committed, answering with a timeout");
        if faults.timeout_hang_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.timeout_hang_ms)).await;
        }
        return fault(StatusCode::GATEWAY_TIMEOUT, "injected fault: the outcome is unknown; retry with the same msgid or query (5203)");
    }
    answer(reply)
}

/// A gateway-level failure: no envelope (a real gateway answers these with its own page).
fn fault(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

async fn health(State(center): State<Arc<InsuranceCenter>>) -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "admdvs": center.admdvs(), "policy": center.policy().name}))
}

#[derive(Deserialize)]
struct SettlementFilter {
    fixmedins_code: Option<String>,
}

/// The views show only what a restart keeps: they are read, then sent once everything read is on disk.
async fn sandbox_settlements(State(center): State<Arc<InsuranceCenter>>, Query(filter): Query<SettlementFilter>) -> Response {
    let view = center.settlements(filter.fixmedins_code.as_deref().filter(|c| !c.is_empty()));
    answer(center.flushed().await.map(|()| json!(view)))
}

async fn sandbox_person(State(center): State<Arc<InsuranceCenter>>, Path(psn_no): Path<String>) -> Response {
    let view = center.person(&psn_no);
    if let Err(e) = center.flushed().await {
        return fault(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
    }
    match view {
        Some(view) => Json(view).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "未查询到参保人员信息 / person not found"}))).into_response(),
    }
}
