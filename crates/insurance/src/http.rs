//! HTTP surface: the national interface endpoint, health, and sandbox-only audit views.

use crate::center::InsuranceCenter;
use axum::body::{to_bytes, Body};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

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
async fn call_service(State(center): State<Arc<InsuranceCenter>>, body: Body) -> Json<serde_json::Value> {
    match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => Json(center.call(&bytes)),
        // An unreadable or oversized body: let the center answer as for malformed JSON.
        Err(_) => Json(center.call(b"<body unreadable or larger than the limit>")),
    }
}

async fn health(State(center): State<Arc<InsuranceCenter>>) -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "admdvs": center.admdvs(), "policy": center.policy().name}))
}

#[derive(Deserialize)]
struct SettlementFilter {
    fixmedins_code: Option<String>,
}

async fn sandbox_settlements(State(center): State<Arc<InsuranceCenter>>, Query(filter): Query<SettlementFilter>) -> Response {
    Json(center.settlements(filter.fixmedins_code.as_deref().filter(|c| !c.is_empty()))).into_response()
}

async fn sandbox_person(State(center): State<Arc<InsuranceCenter>>, Path(psn_no): Path<String>) -> Response {
    match center.person(&psn_no) {
        Some(view) => Json(view).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "未查询到参保人员信息 / person not found"}))).into_response(),
    }
}
