//! `/ready`: whether this hub can do its work now, for a load balancer or an orchestrator's
//! readiness probe (`/health` says only that the process answers). Ready when the database answers
//! and every partner's `/health` does, each within a short timeout; otherwise 503 naming which
//! part is not (never an address or an error text: the route is public).

use crate::app::App;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// How long each check may take: a probe must answer before the prober gives up on it.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn ready(State(app): State<Arc<App>>) -> Response {
    let client = reqwest::Client::builder().timeout(CHECK_TIMEOUT).build().unwrap_or_default();
    let database = tokio::time::timeout(CHECK_TIMEOUT, app.store.agreement("-ready-probe-")).await;
    let database_ok = matches!(database, Ok(Ok(_)));
    let insurance_ok = answers(&client, &app.config.insurance_url).await;
    let mut banks = Map::new();
    for bank in &app.config.banks {
        banks.insert(bank.bank_code.clone(), verdict(answers(&client, &bank.url).await));
    }
    let ready = database_ok && insurance_ok && banks.values().all(|v| v == "ok");
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "database": verdict(database_ok),
        "insurance": verdict(insurance_ok),
        "banks": banks,
    });
    (status, axum::Json(body)).into_response()
}

fn verdict(ok: bool) -> Value {
    Value::from(if ok { "ok" } else { "unreachable" })
}

/// The partner at `base` answers its `/health` with a success.
async fn answers(client: &reqwest::Client, base: &str) -> bool {
    let url = format!("{}/health", base.trim_end_matches('/'));
    client.get(url).send().await.is_ok_and(|r| r.status().is_success())
}
