//! The center as a real platform's stand-in (issue 15): it answers the specification's own sample
//! 1101, and signs institutions in (9001), out (9002), checking sign_no only when started strict.

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tower::ServiceExt;
use wugan_insurance::auth::signed_headers;
use wugan_insurance::{
    default_policy, parse_persons_jsonl, router, sample_persons, CallerCredential, Gateway, GatewayConfig, InsuranceCenter,
    InsuranceConfig, CALL_SERVICE_PATH,
};

/// The sample's institution and person (fixtures/spec-1101-request.json).
const SAMPLE_HOSPITAL: &str = "100001";
const LI_SI: &str = r#"{"psn_no": "131000202001001", "certno": "510000202001010000", "psn_name": "李四", "gend": "1", "brdy": "2020-01-01", "insutype": "310", "psn_type": "1501", "insuplc_admdvs": "440300", "balc": "5000"}"#;

fn caller() -> CallerCredential {
    CallerCredential { fixmedins_code: SAMPLE_HOSPITAL.into(), app_id: "app-sample".into(), secret: "sample-secret".into() }
}

fn center(strict: bool) -> Router {
    let mut persons = sample_persons();
    persons.extend(parse_persons_jsonl(LI_SI).expect("the sample person"));
    let config = InsuranceConfig { admdvs: "440300".into(), policy: default_policy(), persons };
    let center = InsuranceCenter::new(config).expect("center starts");
    let center = if strict { center.with_strict_sign_in() } else { center };
    let gateway = GatewayConfig { callers: vec![caller()], operator_token: "operator".into() };
    router(Arc::new(center), Arc::new(Gateway::new(gateway).expect("valid")))
}

static NONCE: AtomicU64 = AtomicU64::new(1);

async fn post(app: &Router, envelope: &Value) -> Value {
    let body = envelope.to_string().into_bytes();
    let (now, nonce) = (time::OffsetDateTime::now_utc().unix_timestamp(), format!("p{}", NONCE.fetch_add(1, Ordering::Relaxed)));
    let mut request = Request::post(CALL_SERVICE_PATH).header("content-type", "application/json");
    for (name, value) in signed_headers(&caller(), now, &nonce, &body) {
        request = request.header(name, value);
    }
    let response = app.clone().oneshot(request.body(Body::from(body)).expect("request")).await.expect("router answers");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    serde_json::from_slice(&bytes).expect("a JSON reply")
}

fn spec_sample() -> Value {
    serde_json::from_str(include_str!("fixtures/spec-1101-request.json")).expect("the fixture parses")
}

/// The sample envelope with another infno, msgid, sign_no and input.
fn message(infno: &str, msgid: &str, sign_no: &str, input: Value) -> Value {
    let mut envelope = spec_sample();
    envelope["infno"] = json!(infno);
    envelope["msgid"] = json!(msgid);
    envelope["sign_no"] = json!(sign_no);
    envelope["input"] = input;
    envelope
}

fn sign_in_input() -> Value {
    json!({"signIn": {"opter_no": "01", "mac": "", "ip": "10.0.0.1"}})
}

#[tokio::test]
async fn the_specifications_own_1101_sample_is_answered() {
    let app = center(false);
    let reply = post(&app, &spec_sample()).await;
    assert_eq!(reply["infcode"], json!(0), "{reply}");
    let base = &reply["output"]["baseinfo"];
    assert_eq!((base["psn_no"].as_str(), base["psn_name"].as_str()), (Some("131000202001001"), Some("李四")));
    assert_eq!(reply["output"]["insuinfo"][0]["insutype"], json!("310"));

    // psn_cert_type "2" finds a person only by a resident ID number; another kind of number is refused.
    let mut officer = spec_sample();
    officer["msgid"] = json!("H00000000001202001041235391235");
    officer["input"]["data"]["certno"] = json!("军字第0012345号");
    let reply = post(&app, &officer).await;
    assert_eq!(reply["infcode"], json!(-1), "{reply}");
    assert!(reply["err_msg"].as_str().unwrap_or("").contains("psn_cert_type 2"), "{reply}");
}

#[tokio::test]
async fn a_strict_center_answers_only_signed_in_institutions() {
    let app = center(true);
    let person = spec_sample()["input"].clone();
    let refused = post(&app, &message("1101", "M-1", "", person.clone())).await;
    assert_eq!(refused["infcode"], json!(-1));
    assert!(refused["err_msg"].as_str().unwrap_or("").contains("签到"), "{refused}");
    let made_up = post(&app, &message("1101", "M-2", "79faf82271944fe38c4f1d99be71bc9c", person.clone())).await;
    assert_eq!(made_up["infcode"], json!(-1), "a sign_no the center never gave");

    let signed = post(&app, &message("9001", "M-3", "", sign_in_input())).await;
    let sign_no = signed["output"]["signinoutb"]["sign_no"].as_str().expect("a sign_no").to_string();
    assert_eq!(signed["output"]["signinoutb"]["sign_time"].as_str().map(str::len), Some(19));
    // The refused msgid was not used up: the same message goes through once signed in.
    let answered = post(&app, &message("1101", "M-1", &sign_no, person.clone())).await;
    assert_eq!(answered["infcode"], json!(0), "{answered}");

    let out = post(&app, &message("9002", "M-4", &sign_no, json!({"signOut": {"sign_no": sign_no, "opter_no": "01"}}))).await;
    assert_eq!(out["infcode"], json!(0), "{out}");
    let after = post(&app, &message("1101", "M-5", &sign_no, person)).await;
    assert_eq!(after["infcode"], json!(-1), "signed out: {after}");
}

#[tokio::test]
async fn a_default_center_accepts_any_sign_no_but_keeps_its_own() {
    let app = center(false);
    let person = spec_sample()["input"].clone();
    for (msgid, sign_no) in [("D-1", ""), ("D-2", "unknown-sign-no")] {
        assert_eq!(post(&app, &message("1101", msgid, sign_no, person.clone())).await["infcode"], json!(0), "{sign_no:?}");
    }
    let signed = post(&app, &message("9001", "D-3", "", sign_in_input())).await;
    let sign_no = signed["output"]["signinoutb"]["sign_no"].as_str().expect("a sign_no").to_string();
    let out = post(&app, &message("9002", "D-4", &sign_no, json!({}))).await;
    assert_eq!(out["infcode"], json!(0), "the envelope's own sign_no is signed out: {out}");
    let twice = post(&app, &message("9002", "D-5", &sign_no, json!({}))).await;
    assert_eq!(twice["infcode"], json!(-1), "not signed in any more");
}
