//! The gateway in front of the national interface: only a hospital's signed request reaches the
//! center; every refusal has the platform's reply shape and changes nothing; a hospital's msgids
//! are its own; the sandbox views are the operator's.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;
use wugan_insurance::auth::{sign, HEADER_APP_ID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use wugan_insurance::{
    default_policy, router, sample_persons, CallerCredential, Gateway, GatewayConfig, InsuranceCenter, InsuranceConfig, CALL_SERVICE_PATH,
};

const ZHANG_SAN: &str = "44030000000000000001";

fn hospital(code: &str) -> CallerCredential {
    CallerCredential { fixmedins_code: code.into(), app_id: format!("app-{code}"), secret: format!("secret-of-{code}") }
}

fn app() -> Router {
    let config = InsuranceConfig { admdvs: "440300".into(), policy: default_policy(), persons: sample_persons() };
    let gateway = GatewayConfig { callers: vec![hospital("H1"), hospital("H2")], operator_token: "op-token".into() };
    router(Arc::new(InsuranceCenter::new(config).expect("center starts")), Arc::new(Gateway::new(gateway).expect("valid")))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A 2201 registration envelope of `code`'s visit `ipt_otp_no`.
fn registration(code: &str, msgid: &str, ipt_otp_no: &str) -> Vec<u8> {
    let input = json!({"data": {"psn_no": ZHANG_SAN, "begntime": "2024-06-01 09:00:00", "ipt_otp_no": ipt_otp_no}});
    json!({"infno": "2201", "msgid": msgid, "fixmedins_code": code, "infver": "V1.0", "input": input}).to_string().into_bytes()
}

/// How one request is signed: whose key, which headers, with what (each may be spoiled).
#[derive(Clone)]
struct Signing {
    key: CallerCredential,
    app_id: Option<String>,
    timestamp: i64,
    nonce: String,
    /// Signs these bytes instead of the body (a tampered body).
    signed_body: Option<Vec<u8>>,
}

impl Signing {
    fn as_hospital(code: &str, nonce: &str) -> Signing {
        let key = hospital(code);
        Signing { app_id: Some(key.app_id.clone()), key, timestamp: now(), nonce: nonce.into(), signed_body: None }
    }
}

async fn post(app: &Router, body: Vec<u8>, signing: &Signing) -> (StatusCode, Value) {
    let signed = signing.signed_body.as_deref().unwrap_or(&body);
    let signature = sign(&signing.key.secret, &signing.key.app_id, signing.timestamp, &signing.nonce, signed);
    let mut request = Request::post(CALL_SERVICE_PATH)
        .header(HEADER_TIMESTAMP, signing.timestamp.to_string())
        .header(HEADER_NONCE, &signing.nonce)
        .header(HEADER_SIGNATURE, signature);
    if let Some(app_id) = &signing.app_id {
        request = request.header(HEADER_APP_ID, app_id);
    }
    send(app, request.body(Body::from(body)).expect("request")).await
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.expect("router answers");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn sandbox(app: &Router, authorization: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::get(format!("/sandbox/persons/{ZHANG_SAN}"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    send(app, request.body(Body::empty()).expect("request")).await
}

#[tokio::test]
async fn every_refusal_has_the_platforms_shape_and_changes_nothing() {
    let app = app();
    let good = Signing::as_hospital("H1", "first-nonce");
    let spoiled: Vec<(&str, Signing, StatusCode, &str)> = vec![
        ("no app id", Signing { app_id: None, ..good.clone() }, StatusCode::UNAUTHORIZED, "missing x-tif"),
        ("an unknown app id", Signing { app_id: Some("app-H9".into()), ..good.clone() }, StatusCode::UNAUTHORIZED, "unknown x-tif-paasid"),
        (
            "another key",
            Signing { key: CallerCredential { secret: "guess".into(), ..hospital("H1") }, ..good.clone() },
            StatusCode::UNAUTHORIZED,
            "does not verify",
        ),
        (
            "a tampered body",
            Signing { signed_body: Some(registration("H1", "M1", "MZ-OTHER")), ..good.clone() },
            StatusCode::UNAUTHORIZED,
            "does not verify",
        ),
        ("301 s old", Signing { timestamp: now() - 301, ..good.clone() }, StatusCode::UNAUTHORIZED, "x-tif-timestamp"),
        ("301 s ahead", Signing { timestamp: now() + 301, ..good.clone() }, StatusCode::UNAUTHORIZED, "x-tif-timestamp"),
        ("H2 for H1's visit", Signing::as_hospital("H2", "first-nonce"), StatusCode::FORBIDDEN, "fixmedins_code is not the caller's"),
    ];
    for (case, signing, status, says) in spoiled {
        let (got, reply) = post(&app, registration("H1", "M1", "MZ1"), &signing).await;
        assert_eq!(got, status, "{case}: {reply}");
        assert_eq!(reply["infcode"], json!(-1), "{case}");
        assert!(reply["err_msg"].as_str().is_some_and(|m| m.contains("网关") && m.contains(says)), "{case}: {reply}");
        assert!(reply["inf_refmsgid"].is_string() && reply["output"].is_null(), "{case}: {reply}");
    }
    // Nothing was done, and no refusal used up the nonce or the msgid: the right request registers.
    let (status, reply) = post(&app, registration("H1", "M1", "MZ1"), &good).await;
    assert_eq!((status, &reply["infcode"]), (StatusCode::OK, &json!(0)), "{reply}");
    // The same request again, byte for byte with its headers, is a replay.
    let (status, replayed) = post(&app, registration("H1", "M1", "MZ1"), &good).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(replayed["err_msg"].as_str().is_some_and(|m| m.contains("x-tif-nonce already used")), "{replayed}");
    // Resent with a fresh nonce, the msgid replays the first answer: one registration.
    let (_, again) = post(&app, registration("H1", "M1", "MZ1"), &Signing::as_hospital("H1", "second-nonce")).await;
    assert_eq!(again["output"], reply["output"]);
}

#[tokio::test]
async fn a_hospital_cannot_use_up_another_hospitals_msgids() {
    let app = app();
    // H2 guesses the msgid H1 will send next and uses it first, for a visit of its own.
    let (_, h2) = post(&app, registration("H2", "H1-NEXT", "MZ-H2"), &Signing::as_hospital("H2", "n-h2")).await;
    assert_eq!(h2["infcode"], json!(0), "{h2}");
    let (_, h1) = post(&app, registration("H1", "H1-NEXT", "MZ-H1"), &Signing::as_hospital("H1", "n-h1")).await;
    assert_eq!(h1["infcode"], json!(0), "H1's msgid is still its own: {h1}");
    assert_ne!(h1["output"]["data"]["mdtrt_id"], h2["output"]["data"]["mdtrt_id"], "two visits, not H2's reply replayed to H1");
}

#[tokio::test]
async fn the_sandbox_views_are_the_operators() {
    let app = app();
    for (authorization, expect) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("Bearer not-the-token"), StatusCode::UNAUTHORIZED),
        (Some("Basic op-token"), StatusCode::UNAUTHORIZED),
        (Some("Bearer op-token"), StatusCode::OK),
    ] {
        let (status, view) = sandbox(&app, authorization).await;
        assert_eq!(status, expect, "{authorization:?}: {view}");
        assert_eq!(view.get("balc").is_some(), expect == StatusCode::OK, "{authorization:?}: no personal data without the token");
    }
    let (status, _) = send(&app, Request::get("/health").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::OK, "health stays public");
}
