//! HTTP surface: the national interface endpoint behind the gateway (`auth`), health, and
//! sandbox-only audit views behind the operator's token.

use crate::auth::{Gateway, SignedParts};
use crate::center::InsuranceCenter;
use crate::envelope::Envelope;
use crate::faults::BeforeHandling;
use crate::journal::Unrecorded;
use axum::body::{to_bytes, Body};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
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

/// The center and its gateway, shared by every handler.
#[derive(Clone)]
struct Edge {
    center: Arc<InsuranceCenter>,
    gateway: Arc<Gateway>,
}

/// The center's HTTP interface: the national interface for the gateway's callers, `/health` for
/// anyone, `/sandbox/*` for the operator.
pub fn router(center: Arc<InsuranceCenter>, gateway: Arc<Gateway>) -> Router {
    let edge = Edge { center, gateway };
    let sandbox = Router::new()
        .route("/sandbox/settlements", get(sandbox_settlements))
        .route("/sandbox/persons/{psn_no}", get(sandbox_person))
        .route("/sandbox/visits/{mdtrt_id}", get(sandbox_visit))
        .route("/sandbox/special-diseases/{sn}/decision", post(sandbox_special_disease_decision))
        .route_layer(middleware::from_fn_with_state(edge.clone(), operator_only));
    Router::new().route(CALL_SERVICE_PATH, post(call_service)).route("/health", get(health)).merge(sandbox).with_state(edge)
}

/// The body is read as bytes and parsed by the center, so malformed JSON gets an infcode -1 envelope
/// (HTTP 200), never axum's plain-text rejection. The gateway checks the caller first: a refusal
/// is an infcode -1 envelope with a 401 or 403 (503 busy), and the center never sees the request.
async fn call_service(State(edge): State<Edge>, headers: HeaderMap, body: Body) -> Response {
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        // An unreadable or oversized body: let the center answer as for malformed JSON.
        Err(_) => axum::body::Bytes::from_static(b"<body unreadable or larger than the limit>"),
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let parts = SignedParts {
        app_id: header(crate::auth::HEADER_APP_ID),
        timestamp: header(crate::auth::HEADER_TIMESTAMP),
        nonce: header(crate::auth::HEADER_NONCE),
        signature: header(crate::auth::HEADER_SIGNATURE),
    };
    let parsed = Envelope::parse(&bytes);
    if parsed.as_ref().is_ok_and(|env| env.infno == crate::special_disease::OPERATOR_DECISION_INFNO) {
        // The operator's review goes through /sandbox/, never through a hospital's gateway key.
        return (StatusCode::FORBIDDEN, Json(edge.center.refusal("该交易仅限沙箱管理员 / 9905 is the sandbox operator's"))).into_response();
    }
    let fixmedins_code = parsed.as_ref().ok().map(|env| env.fixmedins_code.as_str());
    if let Err(refusal) = edge.gateway.check(&parts, &bytes, fixmedins_code) {
        tracing::info!(app_id = parts.app_id.unwrap_or("-"), refusal = ?refusal, "gateway refused a call");
        let status = StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
        return (status, Json(edge.center.refusal(refusal.message()))).into_response();
    }
    let center = &edge.center;
    if !center.faults().is_active() {
        return answer(center.call_parsed(&bytes, parsed).await);
    }
    with_faults(center, &bytes).await
}

/// The sandbox views are the center's own records, personal data included: the operator only.
async fn operator_only(State(edge): State<Edge>, req: Request, next: Next) -> Response {
    let authorization = req.headers().get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if !edge.gateway.is_operator(authorization) {
        return fault(StatusCode::UNAUTHORIZED, "the sandbox views need the operator's token (Authorization: Bearer …)");
    }
    next.run(req).await
}

/// The reply, or 503 when a persistent center could not record the request (retry the same msgid).
fn answer(reply: Result<std::sync::Arc<str>, Unrecorded>) -> Response {
    match reply {
        Ok(reply) => ([(axum::http::header::CONTENT_TYPE, "application/json")], reply.to_string()).into_response(),
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
    let mut reply = center.call_text(bytes).await;
    if faults.duplicate_delivery && reply.is_ok() {
        reply = center.call_text(bytes).await;
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

async fn health(State(edge): State<Edge>) -> Json<serde_json::Value> {
    let center = &edge.center;
    Json(json!({"status": "ok", "admdvs": center.admdvs(), "policy": center.policy().name}))
}

#[derive(Deserialize)]
struct SettlementFilter {
    fixmedins_code: Option<String>,
}

/// The views show only what a restart keeps: they are read, then sent once everything read is on disk.
async fn sandbox_settlements(State(edge): State<Edge>, Query(filter): Query<SettlementFilter>) -> Response {
    let center = &edge.center;
    let view = center.settlements(filter.fixmedins_code.as_deref().filter(|c| !c.is_empty()));
    answer(center.flushed().await.map(|()| json!(view).to_string().into()))
}

async fn sandbox_person(State(edge): State<Edge>, Path(psn_no): Path<String>) -> Response {
    let center = &edge.center;
    let view = center.person(&psn_no);
    if let Err(e) = center.flushed().await {
        return fault(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
    }
    match view {
        Some(view) => Json(view).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "未查询到参保人员信息 / person not found"}))).into_response(),
    }
}

async fn sandbox_visit(State(edge): State<Edge>, Path(mdtrt_id): Path<String>) -> Response {
    let center = &edge.center;
    let view = center.visit(&mdtrt_id);
    if let Err(e) = center.flushed().await {
        return fault(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
    }
    match view {
        Some(view) => Json(view).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "未查询到就诊信息 / visit not found"}))).into_response(),
    }
}

#[derive(Deserialize)]
struct OperatorDecision {
    decision: String,
    reason: Option<String>,
}

/// The operator's manual review of a special-disease registration: sent to the center as the
/// sandbox-only 9905, so a persistent center journals and replays it like any transaction.
async fn sandbox_special_disease_decision(
    State(edge): State<Edge>,
    Path(sn): Path<String>,
    Json(decision): Json<OperatorDecision>,
) -> Response {
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let envelope = json!({
        "infno": crate::special_disease::OPERATOR_DECISION_INFNO, "msgid": format!("OP{nanos}{serial}"),
        "fixmedins_code": "SANDBOX-OPERATOR",
        "input": {"data": {"trt_dcla_detl_sn": sn, "decision": decision.decision, "reason": decision.reason}},
    });
    answer(edge.center.call_text(envelope.to_string().as_bytes()).await)
}
