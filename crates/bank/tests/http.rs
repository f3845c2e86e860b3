//! The bank over HTTP, in-process: a signed hub opens agreements, holds, captures, voids and
//! refunds, retries and resolves unknown outcomes, exactly as it would against a real bank.

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;
use wugan_bank::{router, signing, Bank, BankConfig, ClientKey, Faults, ManualClock};

const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const HUB: (&str, &str) = ("hub", "dev-secret-change-me");
/// Another client of the bank (not the hub): its own agreements and request ids.
const OTHER: (&str, &str) = ("other-client", "another-secret");
const STAFF: (&str, &str) = ("staff", "dev-staff-secret-change-me");

struct TestBank {
    bank: Arc<Bank>,
    app: Router,
    clock: Arc<ManualClock>,
}

struct Reply {
    status: StatusCode,
    json: Value,
    bytes: Vec<u8>,
}

impl TestBank {
    fn new() -> TestBank {
        TestBank::with_faults(Faults::default())
    }

    fn with_faults(faults: Faults) -> TestBank {
        let clock = Arc::new(ManualClock::new(NOW));
        let mut config = BankConfig::default();
        config.clients.push(ClientKey { key_id: OTHER.0.to_string(), secret: OTHER.1.to_string() });
        let bank = Arc::new(Bank::with_clock(config, clock.clone()).with_faults(faults));
        TestBank { app: router(bank.clone()), bank, clock }
    }

    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.expect("the router is infallible");
        let status = res.status();
        let bytes = to_bytes(res.into_body(), 1 << 20).await.expect("body").to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, json, bytes }
    }

    /// A request signed with `key` at `timestamp` with `nonce`.
    async fn signed_raw(&self, key: (&str, &str), method: &str, path: &str, body: &[u8], timestamp: i64, nonce: &str) -> Reply {
        let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
        for (name, value) in signing::signed_headers(key.0, key.1, method, path, body, timestamp, nonce) {
            req = req.header(name, value);
        }
        self.send(req.body(Body::from(body.to_vec())).expect("request")).await
    }

    async fn call_as(&self, key: (&str, &str), method: &str, path: &str, body: Option<Value>) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let now = self.bank.now_unix_s();
        self.signed_raw(key, method, path, &bytes, now, &signing::new_nonce()).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.call_as(HUB, "POST", path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.call_as(HUB, "GET", path, None).await
    }

    async fn open_credit(&self, request_id: &str, limit_fen: Option<i64>) -> String {
        let r = self
            .post(
                "/bank/v1/agreements",
                json!({"request_id": request_id, "kind": "credit_line", "customer_ref": "hub-agr-1", "limit_fen": limit_fen}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        r.json["agreement_id"].as_str().expect("agreement id").to_string()
    }

    async fn open_debit(&self, request_id: &str, opening_balance_fen: Option<i64>) -> String {
        let body = json!({"request_id": request_id, "kind": "debit_card", "customer_ref": "hub-agr-2",
            "holder_name": "张三", "card_no": "6222020000001234", "opening_balance_fen": opening_balance_fen});
        let r = self.post("/bank/v1/agreements", body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        r.json["agreement_id"].as_str().expect("agreement id").to_string()
    }

    async fn authorize(&self, request_id: &str, agreement_id: &str, amount_fen: i64) -> Reply {
        let body = json!({"request_id": request_id, "agreement_id": agreement_id, "amount_fen": amount_fen,
            "merchant_id": "H44010600001", "memo": "outpatient visit"});
        self.post("/bank/v1/authorizations", body).await
    }

    async fn capture(&self, request_id: &str, authorization: &str, amount_fen: i64) -> Reply {
        let body = json!({"request_id": request_id, "authorization_request_id": authorization, "amount_fen": amount_fen});
        self.post("/bank/v1/captures", body).await
    }

    async fn void(&self, request_id: &str, authorization: &str) -> Reply {
        self.post("/bank/v1/voids", json!({"request_id": request_id, "authorization_request_id": authorization})).await
    }

    async fn refund(&self, request_id: &str, capture: &str, amount_fen: i64) -> Reply {
        let body = json!({"request_id": request_id, "capture_request_id": capture, "amount_fen": amount_fen});
        self.post("/bank/v1/refunds", body).await
    }

    async fn agreement(&self, agreement_id: &str) -> Value {
        let r = self.get(&format!("/bank/v1/agreements/{agreement_id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        r.json
    }

    async fn assert_invariants(&self) {
        assert_eq!(self.bank.check_invariants().await, Ok(()));
    }
}

fn assert_error(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!((r.status, r.json["code"].as_str()), (status, Some(code)), "{}", String::from_utf8_lossy(&r.bytes));
    assert!(r.json["message"].is_string(), "an error carries a message: {}", r.json);
}

#[tokio::test]
async fn health_is_unsigned() {
    let t = TestBank::new();
    let r = t.send(Request::get("/health").body(Body::empty()).expect("request")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json, json!({"status": "ok", "bank_code": "BANK01"}));
}

#[tokio::test]
async fn signatures_are_checked_with_a_replay_window() {
    let t = TestBank::new();
    let path = "/bank/v1/operations?agreement_id=nobody";
    let nonce = "nonce-0000000000000001";
    // A good signature reaches the handler (which knows no such agreement).
    let r = t.signed_raw(HUB, "GET", path, b"", NOW, nonce).await;
    assert_error(&r, StatusCode::NOT_FOUND, "unknown_agreement");
    // The same nonce again, even within the window, is a replay.
    let r = t.signed_raw(HUB, "GET", path, b"", NOW + 10, nonce).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "replayed_nonce");
    let r = t.signed_raw(("hub", "wrong-secret"), "GET", path, b"", NOW, "nonce-0000000000000002").await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "bad_signature");
    let r = t.signed_raw(("stranger", "x"), "GET", path, b"", NOW, "nonce-0000000000000003").await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unknown_key");
    let r = t.signed_raw(HUB, "GET", path, b"", NOW - 301, "nonce-0000000000000004").await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "stale_timestamp");
    let r = t.signed_raw(HUB, "GET", path, b"", NOW + 301, "nonce-0000000000000005").await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "stale_timestamp");
    let r = t.send(Request::get(path).body(Body::empty()).expect("request")).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "missing_auth");
}

#[tokio::test]
async fn a_signature_covers_the_body_and_the_query() {
    let t = TestBank::new();
    let body = br#"{"request_id":"r1","kind":"credit_line","customer_ref":"c"}"#;
    let headers = signing::signed_headers(HUB.0, HUB.1, "POST", "/bank/v1/agreements", body, NOW, "nonce-aaaaaaaaaaaaaaaa");
    let mut req = Request::post("/bank/v1/agreements");
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let tampered = br#"{"request_id":"r1","kind":"credit_line","customer_ref":"d"}"#;
    let r = t.send(req.body(Body::from(tampered.to_vec())).expect("request")).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "bad_signature");

    let headers = signing::signed_headers(HUB.0, HUB.1, "GET", "/bank/v1/operations?agreement_id=a", b"", NOW, "nonce-bbbbbbbbbbbbbbbb");
    let mut req = Request::get("/bank/v1/operations?agreement_id=b");
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let r = t.send(req.body(Body::empty()).expect("request")).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "bad_signature");
}

#[tokio::test]
async fn the_replay_window_follows_the_clock() {
    let t = TestBank::new();
    let r = t.signed_raw(HUB, "GET", "/bank/v1/agreements/x", b"", NOW, "nonce-cccccccccccccccc").await;
    assert_error(&r, StatusCode::NOT_FOUND, "unknown_agreement");
    t.clock.advance(301);
    let r = t.signed_raw(HUB, "GET", "/bank/v1/agreements/x", b"", NOW, "nonce-dddddddddddddddd").await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "stale_timestamp");
}

#[tokio::test]
async fn agreements_of_both_kinds_take_the_defaults() {
    let t = TestBank::new();
    let credit = t.open_credit("open-credit", None).await;
    let a = t.agreement(&credit).await;
    assert_eq!(a["kind"], "credit_line");
    assert_eq!(a["status"], "active");
    assert_eq!(a["customer_ref"], "hub-agr-1");
    assert_eq!((a["limit_fen"].as_i64(), a["used_fen"].as_i64(), a["held_fen"].as_i64()), (Some(500_000), Some(0), Some(0)));
    assert_eq!(a["available_fen"], 500_000);
    assert_eq!(a["balance_fen"], Value::Null);

    let debit = t.open_debit("open-debit", None).await;
    let a = t.agreement(&debit).await;
    assert_eq!(a["kind"], "debit_card");
    assert_eq!((a["balance_fen"].as_i64(), a["available_fen"].as_i64()), (Some(2_000_000), Some(2_000_000)));
    assert_eq!(a["limit_fen"], Value::Null);
    assert_eq!(a["card_last4"], "1234");
    assert!(!String::from_utf8_lossy(&t.get(&format!("/bank/v1/agreements/{debit}")).await.bytes).contains("6222020000001234"));

    let explicit = t.open_credit("open-credit-2", Some(123_456)).await;
    assert_eq!(t.agreement(&explicit).await["available_fen"], 123_456);
    t.assert_invariants().await;
}

#[tokio::test]
async fn agreement_terms_are_validated() {
    let t = TestBank::new();
    let cases = [
        json!({"request_id": "a1", "kind": "credit_line", "customer_ref": "c", "limit_fen": 0}),
        json!({"request_id": "a2", "kind": "credit_line", "customer_ref": "c", "limit_fen": 100_000_001}),
        json!({"request_id": "a3", "kind": "credit_line", "customer_ref": "c", "card_no": "6222020000001234"}),
        json!({"request_id": "a4", "kind": "debit_card", "customer_ref": "c"}),
        json!({"request_id": "a5", "kind": "debit_card", "customer_ref": "c", "card_no": "6222-0200"}),
        json!({"request_id": "a6", "kind": "debit_card", "customer_ref": "c", "card_no": "6222020000001234", "opening_balance_fen": -1}),
        json!({"request_id": "a7", "kind": "debit_card", "customer_ref": "c", "card_no": "6222020000001234", "limit_fen": 5}),
        json!({"request_id": "a8", "kind": "savings", "customer_ref": "c"}),
        json!({"request_id": "", "kind": "credit_line", "customer_ref": "c"}),
        json!({"request_id": "x".repeat(65), "kind": "credit_line", "customer_ref": "c"}),
        json!({"request_id": "has space", "kind": "credit_line", "customer_ref": "c"}),
        json!({"request_id": "a9", "kind": "credit_line", "customer_ref": ""}),
    ];
    for body in cases {
        let r = t.post("/bank/v1/agreements", body.clone()).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    }
    // The largest limit allowed, 1,000,000 yuan, is accepted.
    t.open_credit("max-limit", Some(100_000_000)).await;
    t.assert_invariants().await;
}

#[tokio::test]
async fn a_credit_line_authorizes_captures_part_and_refunds() {
    let t = TestBank::new();
    let line = t.open_credit("open", None).await;

    let r = t.authorize("auth-1", &line, 30_000).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (r.json["kind"].as_str(), r.json["status"].as_str(), &r.json["decline_code"]),
        (Some("authorization"), Some("approved"), &Value::Null)
    );
    assert_eq!((r.json["amount_fen"].as_i64(), r.json["available_fen_after"].as_i64()), (Some(30_000), Some(470_000)));
    assert_eq!(t.agreement(&line).await["held_fen"], 30_000);

    // The visit cost less than the hold: capture part, the rest of the hold is released.
    let r = t.capture("cap-1", "auth-1", 25_000).await;
    assert_eq!((r.status, r.json["status"].as_str()), (StatusCode::OK, Some("captured")));
    assert_eq!(r.json["reference_request_id"], "auth-1");
    assert_eq!(r.json["available_fen_after"], 475_000);
    let a = t.agreement(&line).await;
    assert_eq!((a["used_fen"].as_i64(), a["held_fen"].as_i64(), a["available_fen"].as_i64()), (Some(25_000), Some(0), Some(475_000)));

    let r = t.refund("ref-1", "cap-1", 5_000).await;
    assert_eq!((r.status, r.json["status"].as_str()), (StatusCode::OK, Some("refunded")));
    assert_eq!(t.agreement(&line).await["used_fen"], 20_000);

    let r = t.refund("ref-2", "cap-1", 20_001).await;
    assert_error(&r, StatusCode::CONFLICT, "refund_exceeds_capture");
    let r = t.refund("ref-3", "cap-1", 20_000).await;
    assert_eq!(r.status, StatusCode::OK);
    let a = t.agreement(&line).await;
    assert_eq!((a["used_fen"].as_i64(), a["available_fen"].as_i64()), (Some(0), Some(500_000)));
    t.assert_invariants().await;
}

#[tokio::test]
async fn a_debit_card_pays_from_its_balance_and_is_refunded_into_it() {
    let t = TestBank::new();
    let card = t.open_debit("open", Some(10_000)).await;
    assert_eq!(t.authorize("auth-1", &card, 8_000).await.json["available_fen_after"], 2_000);
    let r = t.authorize("auth-2", &card, 2_001).await;
    assert_eq!((r.json["status"].as_str(), r.json["decline_code"].as_str()), (Some("declined"), Some("insufficient_funds")));
    assert_eq!(t.capture("cap-1", "auth-1", 7_500).await.status, StatusCode::OK);
    let a = t.agreement(&card).await;
    assert_eq!((a["balance_fen"].as_i64(), a["held_fen"].as_i64(), a["used_fen"].as_i64()), (Some(2_500), Some(0), Some(0)));
    assert_eq!(t.refund("ref-1", "cap-1", 7_500).await.status, StatusCode::OK);
    assert_eq!(t.agreement(&card).await["balance_fen"], 10_000);
    t.assert_invariants().await;
}

#[tokio::test]
async fn beyond_the_available_credit_is_declined_and_recorded() {
    let t = TestBank::new();
    let line = t.open_credit("open", Some(10_000)).await;
    t.authorize("auth-1", &line, 6_000).await;
    let r = t.authorize("auth-2", &line, 4_001).await;
    assert_eq!(r.status, StatusCode::OK, "a decline is a business outcome, not an error");
    assert_eq!((r.json["status"].as_str(), r.json["decline_code"].as_str()), (Some("declined"), Some("insufficient_credit")));
    assert_eq!(r.json["available_fen_after"], 4_000);
    // Recorded: the status query finds it, and a retry replays it even once credit is free.
    assert_eq!(t.get("/bank/v1/operations/auth-2").await.json, r.json);
    t.void("void-1", "auth-1").await;
    assert_eq!(t.authorize("auth-2", &line, 4_001).await.bytes, r.bytes);
    // A declined authorization holds nothing and cannot be captured.
    assert_error(&t.capture("cap-2", "auth-2", 1).await, StatusCode::CONFLICT, "authorization_not_open");
    // Exactly the available amount is fine.
    let r = t.authorize("auth-3", &line, 10_000).await;
    assert_eq!(r.json["status"], "approved");
    t.assert_invariants().await;
}

#[tokio::test]
async fn closed_and_frozen_agreements_refuse_new_holds_but_finish_old_ones() {
    let t = TestBank::new();
    let line = t.open_credit("open", None).await;
    t.authorize("auth-1", &line, 1_000).await;
    t.bank.set_frozen(&line, true).await.expect("freeze");
    let r = t.authorize("auth-2", &line, 1_000).await;
    assert_eq!((r.json["status"].as_str(), r.json["decline_code"].as_str()), (Some("declined"), Some("agreement_frozen")));
    t.bank.set_frozen(&line, false).await.expect("unfreeze");

    let r = t.post(&format!("/bank/v1/agreements/{line}/close"), json!({"request_id": "close-1"})).await;
    assert_eq!((r.status, r.json["status"].as_str()), (StatusCode::OK, Some("closed")));
    let r = t.authorize("auth-3", &line, 1_000).await;
    assert_eq!((r.json["status"].as_str(), r.json["decline_code"].as_str()), (Some("declined"), Some("agreement_closed")));
    // The hospital was promised auth-1: it is still captured and refunded.
    assert_eq!(t.capture("cap-1", "auth-1", 1_000).await.status, StatusCode::OK);
    assert_eq!(t.refund("ref-1", "cap-1", 400).await.status, StatusCode::OK);
    // Freezing does not reopen a closed agreement.
    assert_eq!(t.bank.set_frozen(&line, false).await.expect("unfreeze").status, wugan_bank::wire::AgreementStatus::Closed);
    let r = t.post("/bank/v1/agreements/agr-missing/close", json!({"request_id": "close-2"})).await;
    assert_error(&r, StatusCode::NOT_FOUND, "unknown_agreement");
    t.assert_invariants().await;
}

#[tokio::test]
async fn a_void_releases_the_hold_and_ends_the_authorization() {
    let t = TestBank::new();
    let line = t.open_credit("open", Some(10_000)).await;
    t.authorize("auth-1", &line, 9_000).await;
    let r = t.void("void-1", "auth-1").await;
    assert_eq!((r.json["kind"].as_str(), r.json["status"].as_str()), (Some("void"), Some("voided")));
    assert_eq!((r.json["amount_fen"].as_i64(), r.json["available_fen_after"].as_i64()), (Some(9_000), Some(10_000)));
    assert_eq!(t.agreement(&line).await["held_fen"], 0);

    assert_error(&t.capture("cap-1", "auth-1", 9_000).await, StatusCode::CONFLICT, "authorization_not_open");
    assert_error(&t.void("void-2", "auth-1").await, StatusCode::CONFLICT, "authorization_not_open");
    assert_error(&t.capture("cap-2", "auth-unknown", 1).await, StatusCode::NOT_FOUND, "unknown_authorization");
    assert_error(&t.refund("ref-1", "auth-1", 1).await, StatusCode::NOT_FOUND, "unknown_capture");

    t.authorize("auth-2", &line, 5_000).await;
    assert_error(&t.capture("cap-3", "auth-2", 5_001).await, StatusCode::CONFLICT, "capture_exceeds_authorization");
    assert_eq!(t.capture("cap-4", "auth-2", 5_000).await.status, StatusCode::OK);
    assert_error(&t.capture("cap-5", "auth-2", 1).await, StatusCode::CONFLICT, "authorization_not_open");
    assert_error(&t.void("void-3", "auth-2").await, StatusCode::CONFLICT, "authorization_not_open");
    t.assert_invariants().await;
}

#[tokio::test]
async fn a_retried_request_replays_the_first_reply_exactly() {
    let t = TestBank::new();
    let body = json!({"request_id": "open-1", "kind": "credit_line", "customer_ref": "c", "limit_fen": 50_000});
    let first = t.post("/bank/v1/agreements", body.clone()).await;
    let line = first.json["agreement_id"].as_str().expect("id").to_string();
    t.authorize("auth-1", &line, 10_000).await;
    // A retry after the agreement changed still replays the first reply, byte for byte: it is
    // the same agreement, not a second one.
    let again = t.post("/bank/v1/agreements", body).await;
    assert_eq!((again.status, &again.bytes), (first.status, &first.bytes));

    let first = t.capture("cap-1", "auth-1", 6_000).await;
    let again = t.capture("cap-1", "auth-1", 6_000).await;
    assert_eq!((again.status, &again.bytes), (first.status, &first.bytes));
    // The same request written differently (key order, spacing, explicit null) is the same request.
    let text = br#"{ "amount_fen": 6000, "authorization_request_id": "auth-1", "request_id": "cap-1" }"#;
    let r = t.signed_raw(HUB, "POST", "/bank/v1/captures", text, NOW, &signing::new_nonce()).await;
    assert_eq!(r.bytes, first.bytes);
    assert_eq!(t.agreement(&line).await["used_fen"], 6_000, "captured once");

    let r = t.capture("cap-1", "auth-1", 5_000).await;
    assert_error(&r, StatusCode::CONFLICT, "request_id_reused");
    // A request id used for a capture cannot be reused for a refund either.
    assert_error(&t.refund("cap-1", "cap-1", 1).await, StatusCode::CONFLICT, "request_id_reused");
    t.assert_invariants().await;
}

#[tokio::test]
async fn request_ids_are_scoped_to_the_client_key() {
    let t = TestBank::new();
    let line = t.open_credit("open", None).await;
    t.authorize("auth-1", &line, 1_000).await;
    let opened = json!({"request_id": "open", "kind": "credit_line", "customer_ref": "other's customer"});
    let other_line = t.call_as(OTHER, "POST", "/bank/v1/agreements", Some(opened)).await.json["agreement_id"].clone();
    let body = json!({"request_id": "auth-1", "agreement_id": other_line, "amount_fen": 2_000, "merchant_id": "H2"});
    let r = t.call_as(OTHER, "POST", "/bank/v1/authorizations", Some(body)).await;
    assert_eq!((r.status, r.json["amount_fen"].as_i64()), (StatusCode::OK, Some(2_000)));
    // Each key sees its own operation under the shared id, and captures only its own holds.
    assert_eq!(t.get("/bank/v1/operations/auth-1").await.json["amount_fen"], 1_000);
    let body = json!({"request_id": "cap-a", "authorization_request_id": "auth-1", "amount_fen": 2_000});
    assert_eq!(t.call_as(OTHER, "POST", "/bank/v1/captures", Some(body)).await.status, StatusCode::OK);
    assert_eq!(t.agreement(&line).await["held_fen"], 1_000, "the hub's hold is untouched");
    t.assert_invariants().await;
}

#[tokio::test]
async fn every_kind_of_operation_can_be_queried() {
    let t = TestBank::new();
    let line = t.open_credit("open", None).await;
    t.authorize("auth-1", &line, 1_000).await;
    t.capture("cap-1", "auth-1", 800).await;
    t.refund("ref-1", "cap-1", 300).await;
    t.authorize("auth-2", &line, 500).await;
    t.void("void-1", "auth-2").await;
    t.post(&format!("/bank/v1/agreements/{line}/close"), json!({"request_id": "close-1"})).await;

    let expect = [
        ("open", "open_agreement", "opened", 500_000),
        ("auth-1", "authorization", "approved", 1_000),
        ("cap-1", "capture", "captured", 800),
        ("ref-1", "refund", "refunded", 300),
        ("auth-2", "authorization", "approved", 500),
        ("void-1", "void", "voided", 500),
        ("close-1", "close_agreement", "closed", 0),
    ];
    for (request_id, kind, status, amount_fen) in expect {
        let r = t.get(&format!("/bank/v1/operations/{request_id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{request_id}");
        assert_eq!(
            (r.json["request_id"].as_str(), r.json["kind"].as_str(), r.json["status"].as_str(), r.json["amount_fen"].as_i64()),
            (Some(request_id), Some(kind), Some(status), Some(amount_fen))
        );
        assert_eq!((r.json["agreement_id"].as_str(), r.json["recorded_at_unix_s"].as_i64()), (Some(line.as_str()), Some(NOW)));
    }
    assert_error(&t.get("/bank/v1/operations/never-sent").await, StatusCode::NOT_FOUND, "unknown_request");
    // Another key cannot see the hub's requests.
    let r = t.call_as(OTHER, "GET", "/bank/v1/operations/auth-1", None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "unknown_request");

    // The list has every operation on the agreement, in order (for its client and bank staff).
    let r = t.call_as(STAFF, "GET", &format!("/bank/v1/operations?agreement_id={line}"), None).await;
    let listed: Vec<&str> = r.json["operations"].as_array().expect("list").iter().filter_map(|op| op["request_id"].as_str()).collect();
    assert_eq!(listed, expect.map(|e| e.0));
    assert_error(&t.get("/bank/v1/operations").await, StatusCode::BAD_REQUEST, "bad_request");
    t.assert_invariants().await;
}

#[tokio::test]
async fn bad_bodies_get_json_errors() {
    let t = TestBank::new();
    let line = t.open_credit("open", None).await;
    let bodies: [&[u8]; 6] = [
        b"{not json",
        b"",
        br#"{"request_id":"a","agreement_id":"x","merchant_id":"m"}"#,
        br#"{"request_id":"a","agreement_id":"x","amount_fen":"12.30","merchant_id":"m"}"#,
        br#"{"request_id":"a","agreement_id":"x","amount_fen":12.5,"merchant_id":"m"}"#,
        br#"{"request_id":"a","agreement_id":"x","amount_fen":1,"merchant_id":"m","tip_fen":1}"#,
    ];
    for body in bodies {
        let r = t.signed_raw(HUB, "POST", "/bank/v1/authorizations", body, NOW, &signing::new_nonce()).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    }
    for amount_fen in [0, -5] {
        assert_error(&t.authorize("auth-x", &line, amount_fen).await, StatusCode::BAD_REQUEST, "bad_request");
        assert_error(&t.capture("cap-x", "auth-x", amount_fen).await, StatusCode::BAD_REQUEST, "bad_request");
        assert_error(&t.refund("ref-x", "cap-x", amount_fen).await, StatusCode::BAD_REQUEST, "bad_request");
    }
    assert_error(&t.authorize("auth-y", "agr-missing", 100).await, StatusCode::NOT_FOUND, "unknown_agreement");
    let r = t.send(Request::get("/nowhere").body(Body::empty()).expect("request")).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = t.send(Request::delete("/health").body(Body::empty()).expect("request")).await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_eq!(t.bank.check_invariants().await, Ok(()));
}

#[tokio::test]
async fn injected_refusals_do_nothing() {
    let t = TestBank::with_faults(Faults { refuse_rate: 1.0, ..Faults::default() });
    let r = t.post("/bank/v1/agreements", json!({"request_id": "open", "kind": "credit_line", "customer_ref": "c"})).await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let r = t.get("/bank/v1/operations/open").await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    // Signatures are still checked first.
    let r = t.signed_raw(("hub", "wrong"), "GET", "/bank/v1/operations/open", b"", NOW, &signing::new_nonce()).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "bad_signature");
}

#[tokio::test]
async fn a_timeout_after_commit_is_resolved_by_a_status_query() {
    let t = TestBank::with_faults(Faults { timeout_after_commit_rate: 1.0, ..Faults::default() });
    let r = t.post("/bank/v1/agreements", json!({"request_id": "open", "kind": "credit_line", "customer_ref": "c"})).await;
    assert_error(&r, StatusCode::GATEWAY_TIMEOUT, "timeout");
    // The outcome is unknown to the caller, but the bank did it: the status query says so.
    let op = t.get("/bank/v1/operations/open").await;
    assert_eq!((op.status, op.json["status"].as_str()), (StatusCode::OK, Some("opened")));
    let line = op.json["agreement_id"].as_str().expect("id").to_string();
    assert_error(&t.authorize("auth-1", &line, 100).await, StatusCode::GATEWAY_TIMEOUT, "timeout");
    assert_eq!(t.agreement(&line).await["held_fen"], 100, "held once");
    t.assert_invariants().await;
}

#[tokio::test]
async fn a_duplicate_delivery_is_applied_once() {
    let t = TestBank::with_faults(Faults { duplicate_delivery: true, ..Faults::default() });
    let line = t.open_credit("open", None).await;
    assert_eq!(t.authorize("auth-1", &line, 700).await.json["status"], "approved");
    assert_eq!(t.capture("cap-1", "auth-1", 700).await.status, StatusCode::OK);
    let a = t.agreement(&line).await;
    assert_eq!((a["held_fen"].as_i64(), a["used_fen"].as_i64()), (Some(0), Some(700)));
    let r = t.get(&format!("/bank/v1/operations?agreement_id={line}")).await;
    assert_eq!(r.json["operations"].as_array().map(Vec::len), Some(3));
    t.assert_invariants().await;
}

#[tokio::test]
async fn the_same_seed_injects_the_same_faults() {
    let run = || async {
        let t = TestBank::with_faults(Faults { seed: 7, error_rate: 0.3, refuse_rate: 0.2, ..Faults::default() });
        let mut statuses = Vec::new();
        for i in 0..40 {
            statuses.push(t.get(&format!("/bank/v1/operations/r{i}")).await.status.as_u16());
        }
        statuses
    };
    let (a, b) = (run().await, run().await);
    assert_eq!(a, b);
    for status in [404, 500, 503] {
        assert!(a.contains(&status), "{status} in {a:?}");
    }
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read_whole() {
    let t = TestBank::new();
    let body = vec![b' '; 64 * 1024 + 1];
    let r = t.signed_raw(HUB, "POST", "/bank/v1/authorizations", &body, NOW, &signing::new_nonce()).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
}

/// A client sees and uses only the agreements it opened (another's answers exactly like a missing
/// one, and nothing changes); staff actions need a staff key; callbacks have their own secret.
#[tokio::test]
async fn a_client_reaches_only_its_own_agreements_and_staff_actions_need_staff() {
    let t = TestBank::new();
    let line = t.open_credit("open", None).await;
    t.authorize("auth-1", &line, 1_000).await;
    let before = t.agreement(&line).await;
    let hold = |id: &str| json!({"request_id": id, "agreement_id": line, "amount_fen": 100, "merchant_id": "H9"});
    let cases: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/bank/v1/agreements/{line}"), None),
        ("GET", format!("/bank/v1/agreements/{line}/statements"), None),
        ("GET", format!("/bank/v1/operations?agreement_id={line}"), None),
        ("POST", "/bank/v1/authorizations".into(), Some(hold("other-auth"))),
        (
            "POST",
            format!("/bank/v1/agreements/{line}/repayments"),
            Some(json!({"request_id": "r", "amount_fen": 1, "source": "bank_transfer"})),
        ),
        ("POST", format!("/bank/v1/agreements/{line}/limit-requests"), Some(json!({"request_id": "l", "requested_limit_fen": 600_000}))),
        ("POST", format!("/bank/v1/agreements/{line}/close"), Some(json!({"request_id": "c"}))),
    ];
    for (method, path, body) in cases {
        let r = t.call_as(OTHER, method, &path, body).await;
        assert_error(&r, StatusCode::NOT_FOUND, "unknown_agreement");
        assert!(r.json.get("limit_fen").is_none() && r.json.get("operations").is_none(), "{method} {path}: nothing of the hub's line");
    }
    assert_eq!(t.agreement(&line).await, before, "nothing changed");
    let events = t.call_as(OTHER, "GET", "/bank/v1/events?after=0", None).await.json;
    assert_eq!((events["events"].as_array().map(Vec::len), &events["last_seq"]), (Some(0), &json!(0)), "{events}");

    // The hub's own key cannot freeze its line; staff can.
    let freeze = format!("/bank/v1/agreements/{line}/freeze");
    assert_error(&t.call_as(HUB, "POST", &freeze, Some(json!({"frozen": true}))).await, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(t.agreement(&line).await["status"], "active");
    let frozen = t.call_as(STAFF, "POST", &freeze, Some(json!({"frozen": true}))).await;
    assert_eq!((frozen.status, &frozen.json["status"]), (StatusCode::OK, &json!("frozen")));
    // Listing: staff see every line, a client its own.
    let opened = json!({"request_id": "open", "kind": "credit_line", "customer_ref": "other's customer"});
    assert_eq!(t.call_as(OTHER, "POST", "/bank/v1/agreements", Some(opened)).await.status, StatusCode::OK);
    let count = |r: Reply| r.json["agreements"].as_array().map(Vec::len);
    assert_eq!(count(t.call_as(STAFF, "GET", "/bank/v1/agreements", None).await), Some(2));
    assert_eq!(count(t.call_as(HUB, "GET", "/bank/v1/agreements", None).await), Some(1));
    let others = t.call_as(OTHER, "GET", "/bank/v1/agreements", None).await;
    assert!(others.json["agreements"][0]["agreement_id"] != json!(line), "{}", others.json);
    // The line's client still reads it, and hears of the freeze in its own feed.
    let feed = t.get("/bank/v1/events?after=0").await.json;
    assert!(feed["events"].as_array().is_some_and(|e| e.iter().any(|e| e["type"] == "line_frozen")), "{feed}");
    t.assert_invariants().await;
}

/// 增量授权 over HTTP: an inpatient deposit held, raised within the line, a raise beyond it
/// declined with the hold left as it was, the raised hold captured whole.
#[tokio::test]
async fn a_deposit_hold_is_raised_over_http_and_captured_up_to_the_sum() {
    let t = TestBank::new();
    let agreement = t.open_credit("open-ipt", Some(500_000)).await;
    assert_eq!(t.authorize("stay-1:hold", &agreement, 200_000).await.status, StatusCode::OK);
    let raise = |id: &str, amount: i64| json!({"request_id": id, "authorization_request_id": "stay-1:hold", "amount_fen": amount});
    let r = t.post("/bank/v1/increments", raise("stay-1:raise:1", 100_000)).await;
    assert_eq!(
        (r.status, r.json["kind"].as_str(), r.json["status"].as_str()),
        (StatusCode::OK, Some("increment"), Some("approved")),
        "{}",
        r.json
    );
    let r = t.post("/bank/v1/increments", raise("stay-1:raise:2", 200_001)).await;
    assert_eq!((r.json["status"].as_str(), r.json["decline_code"].as_str()), (Some("declined"), Some("insufficient_credit")), "{}", r.json);
    let line = t.agreement(&agreement).await;
    assert_eq!((line["held_fen"].as_i64(), line["available_fen"].as_i64()), (Some(300_000), Some(200_000)));
    assert_eq!(t.capture("stay-1:capture", "stay-1:hold", 300_000).await.status, StatusCode::OK);
    let line = t.agreement(&agreement).await;
    assert_eq!((line["held_fen"].as_i64(), line["used_fen"].as_i64()), (Some(0), Some(300_000)));
    assert_error(&t.post("/bank/v1/increments", raise("stay-1:raise:3", 1)).await, StatusCode::CONFLICT, "authorization_not_open");
    t.assert_invariants().await;
}
