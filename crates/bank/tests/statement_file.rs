//! The T+1 statement file over HTTP: the signed hub downloads yesterday's CSV and reads it back
//! with the protocol's own parser; an unsigned caller or a bad date is refused.

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use serde_json::json;
use std::sync::Arc;
use tower::ServiceExt;
use wugan_bank::{router, signing, Bank, BankConfig, ManualClock};
use wugan_bank_protocol::statement::{EntryType, Statement};

/// 2026-12-01 10:00 China time.
const MORNING: i64 = 1_796_090_400 + 2 * 3600;
const HUB: (&str, &str) = ("hub", "dev-secret-change-me");

async fn call(app: &axum::Router, now: i64, method: &str, path: &str, body: Option<serde_json::Value>) -> (StatusCode, String) {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
    for (name, value) in signing::signed_headers(HUB.0, HUB.1, method, path, &bytes, now, &signing::new_nonce()) {
        req = req.header(name, value);
    }
    let res = app.clone().oneshot(req.body(Body::from(bytes)).expect("request")).await.expect("infallible");
    let status = res.status();
    let body = to_bytes(res.into_body(), 1 << 20).await.expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_hub_downloads_a_days_statement_and_reads_it_back() {
    let clock = Arc::new(ManualClock::new(MORNING));
    let bank = Arc::new(Bank::with_clock(BankConfig::default(), clock.clone()));
    let app = router(bank);
    let open = json!({"request_id": "open-1", "kind": "credit_line", "customer_ref": "hub-agr-1"});
    let (status, body) = call(&app, MORNING, "POST", "/bank/v1/agreements", Some(open)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let agreement: serde_json::Value = serde_json::from_str(&body).expect("json");
    let auth = json!({"request_id": "auth-1", "agreement_id": agreement["agreement_id"], "amount_fen": 12_000, "merchant_id": "H001"});
    assert_eq!(call(&app, MORNING, "POST", "/bank/v1/authorizations", Some(auth)).await.0, StatusCode::OK);
    let capture = json!({"request_id": "cap-1", "authorization_request_id": "auth-1", "amount_fen": 11_999});
    assert_eq!(call(&app, MORNING, "POST", "/bank/v1/captures", Some(capture)).await.0, StatusCode::OK);

    clock.set(MORNING + 86_400);
    let (status, csv) = call(&app, MORNING + 86_400, "GET", "/bank/v1/statements/2026-12-01", None).await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    let statement = Statement::parse_csv(&csv).expect("a well-formed statement");
    let seen: Vec<(&str, EntryType, i64)> = statement.lines.iter().map(|l| (l.request_id.as_str(), l.entry_type, l.amount_fen.0)).collect();
    assert_eq!(seen, [("auth-1", EntryType::Authorization, 12_000), ("cap-1", EntryType::Capture, 11_999)]);

    let (status, body) = call(&app, MORNING + 86_400, "GET", "/bank/v1/statements/2026-02-30", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let unsigned = Request::get("/bank/v1/statements/2026-12-01").body(Body::empty()).expect("request");
    assert_eq!(app.clone().oneshot(unsigned).await.expect("infallible").status(), StatusCode::UNAUTHORIZED);
}
