//! Talking to real insurance platforms (issue 15), end to end through the hub's HTTP API: a
//! hospital whose record names its own platform (a center strict about sign-in, behind its own
//! gateway credential) and an HMAC-SHA256 envelope signer. The hub signs in once for the day, sends
//! the sign_no in every envelope, signs each with the hospital's key, and settles there.

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;
use wugan::his::{fee_line, HisClient};
use wugan::system;
use wugan_hub::ca_signer::{canonical_input, CaSigner, HmacSha256Signer};

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";

/// A strict center for `hospital` behind a recorder that keeps every envelope it is sent.
async fn own_platform(hospital: &str, seen: Arc<Mutex<Vec<Value>>>) -> String {
    platform_for(hospital, seen, true).await
}

/// A 9001 refusal as platforms word it: it names the sign-in (签到) it refuses.
const SIGN_IN_REFUSED: &str = r#"{"infcode": -1, "err_msg": "签到失败：操作员未在本机构备案", "output": null}"#;

/// `hospital`'s own platform behind a recorder; `strict`: it takes nothing without the day's
/// sign-in, else it refuses every 9001 (and takes the rest without one).
async fn platform_for(hospital: &str, seen: Arc<Mutex<Vec<Value>>>, strict: bool) -> String {
    let config = wugan_insurance::InsuranceConfig {
        admdvs: "440300".into(),
        policy: wugan_insurance::default_policy(),
        persons: wugan_insurance::sample_persons(),
    };
    let center = wugan_insurance::InsuranceCenter::new(config).expect("center");
    let center = if strict { center.with_strict_sign_in() } else { center };
    let caller =
        wugan_insurance::CallerCredential { fixmedins_code: hospital.into(), app_id: "own-app".into(), secret: "own-secret".into() };
    let gateway = wugan_insurance::GatewayConfig { callers: vec![caller], operator_token: "own-operator".into() };
    let gateway = wugan_insurance::Gateway::new(gateway).expect("gateway");
    let platform = wugan_insurance::router(Arc::new(center), Arc::new(gateway));
    let recorder = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (seen, platform) = (seen.clone(), platform.clone());
        async move {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let envelope: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let refused = !strict && envelope["infno"] == "9001";
            seen.lock().expect("lock").push(envelope);
            if refused {
                return axum::response::IntoResponse::into_response(([("content-type", "application/json")], SIGN_IN_REFUSED));
            }
            let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
            platform.oneshot(request).await.expect("infallible")
        }
    });
    format!("http://{}", system::spawn_server("127.0.0.1:0", recorder).await.expect("own platform listens"))
}

/// A hub with no recovery worker, its operator and first hospital, and that hospital's code.
async fn started(label: &str) -> (system::System, HisClient, HisClient, String, common::TempDir) {
    let (mut opts, dir) = common::fresh_options(label).await;
    opts.manual_recovery = true;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let hospital = sys.credentials.hospitals[0].code.clone();
    (sys, operator, his, hospital, dir)
}

fn today() -> String {
    let t = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(8, 0, 0).expect("offset"));
    format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day())
}

#[tokio::test]
async fn a_hospital_on_its_own_strict_platform_signs_in_once_and_signs_every_envelope() {
    let (sys, operator, his, hospital, _dir) = started("platform").await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let url = own_platform(&hospital, seen.clone()).await;

    // The operator names the hospital's own platform through the API; bad settings are refused.
    let path = format!("/api/v1/operator/hospitals/{hospital}/platform");
    let set = |body: Value| {
        let (operator, path) = (&operator, &path);
        async move { operator.post_with_key(path, &operator.next_key(), &body).await.expect("hub") }
    };
    assert_eq!(set(json!({"ca_signer": "sm2"})).await.code(), Some("bad_ca_signer"), "an unknown signer is refused");
    assert_eq!(set(json!({"url": "ftp://platform"})).await.code(), Some("bad_platform_url"));
    assert_eq!(set(json!({"url": url, "app_id": "own-app"})).await.code(), Some("bad_platform_credential"), "a key id without its secret");
    let elsewhere = operator.get("/api/v1/operator/hospitals/H00000000000/platform").await.expect("hub");
    assert_eq!((elsewhere.status, elsewhere.code()), (404, Some("hospital_not_found")));
    let own = json!({"url": url, "app_id": "own-app", "secret": "own-secret", "ca_signer": "hmac-sha256", "ca_key": "hospital-ca-key"});
    let kept = set(own).await;
    assert!(kept.ok(), "{kept:?}");
    assert_eq!((kept.body["has_secret"].as_bool(), kept.body["has_ca_key"].as_bool()), (Some(true), Some(true)), "{kept:?}");
    let shown = operator.get(&path).await.expect("hub");
    assert_eq!(shown.body["url"], json!(url), "{shown:?}");
    assert!(
        !shown.body.to_string().contains("own-secret") && !shown.body.to_string().contains("hospital-ca-key"),
        "never shown: {shown:?}"
    );

    // The patient signs up through the hub's own platform; the visit goes to the hospital's.
    let agreement =
        operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.expect("hub");
    assert!(agreement.ok(), "{agreement:?}");
    let visit = his.register("MZ-P1", "01", EMPLOYEE_TOKEN).await.expect("hub");
    assert!(visit.ok(), "the strict platform took the registration: {visit:?}");
    let visit_id = visit.body["id"].as_str().expect("the visit's id").to_string();
    let fees = his.upload_fees(&visit_id, &[fee_line("1", "XA01AAA0001", "12.50", "2", "25.00")]).await.expect("hub");
    assert!(fees.ok(), "{fees:?}");
    let settled = his.settle(&visit_id).await.expect("hub");
    assert!(settled.ok(), "{settled:?}");
    assert_eq!(settled.body["state"], json!("settled"), "{settled:?}");

    let seen = seen.lock().expect("lock").clone();
    let infnos: Vec<&str> = seen.iter().filter_map(|e| e["infno"].as_str()).collect();
    assert_eq!(infnos.first(), Some(&"9001"), "signed in first: {infnos:?}");
    assert_eq!(infnos.iter().filter(|i| **i == "9001").count(), 1, "once for the day: {infnos:?}");
    assert!(infnos.contains(&"2207"), "settled on the hospital's own platform: {infnos:?}");
    let sign_no = sys.app.store.sign_in_of(&hospital, "wugan-hub", &today()).await.expect("store").expect("the sign-in is kept");
    let signer = HmacSha256Signer::new("hospital-ca-key");
    for envelope in &seen {
        let field = |f: &str| envelope[f].as_str().unwrap_or_default().to_string();
        let expected_sign_no = if field("infno") == "9001" { "" } else { sign_no.as_str() };
        assert_eq!(field("sign_no"), expected_sign_no, "{envelope}");
        assert_eq!(field("signtype"), "HMAC-SHA256");
        let canonical =
            canonical_input(&field("infno"), &field("msgid"), &hospital, &field("inf_time"), expected_sign_no, &envelope["input"]);
        assert_eq!(field("cainfo"), signer.sign(&canonical), "cainfo is the hospital's HMAC over the canonical input");
    }
    let on_hubs = common::insurance_sandbox(&sys, &format!("/sandbox/settlements?fixmedins_code={hospital}")).await;
    assert_eq!(on_hubs.as_array().map(Vec::len), Some(0), "nothing settled on the hub's platform: {on_hubs}");
}

/// A person insured in a region with no parameter set of its own (990000).
const ELSEWHERE: &str = r#"{"psn_no": "99000000000000000001", "certno": "990101199001011238", "psn_name": "王五", "gend": "1", "brdy": "1990-01-01", "insutype": "310", "psn_type": "1101", "insuplc_admdvs": "990000", "balc": "100"}"#;

/// Signs the person up and settles one visit; the click's answer.
async fn settle_elsewhere(default_region: Option<&str>) -> wugan::his::Reply {
    let (mut opts, dir) = common::fresh_options("default-region").await;
    std::fs::create_dir_all(&dir.0).expect("data folder");
    let persons = dir.0.join("persons.jsonl");
    std::fs::write(&persons, ELSEWHERE).expect("persons file");
    (opts.manual_recovery, opts.persons_file, opts.default_region) = (true, Some(persons), default_region.map(str::to_string));
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let agreement = operator.sign_up("02", "990101199001011238", true, json!({"method": "credit_line", "bank_code": "BANK01"})).await;
    assert!(agreement.expect("hub").ok());
    let visit = his.register("MZ-E1", "02", "990101199001011238").await.expect("hub");
    let visit_id = visit.body["id"].as_str().expect("the visit's id").to_string();
    assert!(his.upload_fees(&visit_id, &[fee_line("1", "XA01AAA0001", "12.50", "2", "25.00")]).await.expect("hub").ok());
    let answer = his.settle(&visit_id).await.expect("hub");
    drop(dir);
    answer
}

#[tokio::test]
async fn serve_s_built_in_center_takes_a_default_region() {
    let refused = settle_elsewhere(None).await;
    assert!(!refused.ok() || refused.body["state"] != json!("settled"), "no parameter set for 990000: {refused:?}");
    let settled = settle_elsewhere(Some("440300")).await;
    assert_eq!(settled.body["state"], json!("settled"), "served by 440300's example numbers: {settled:?}");
}

/// A platform that refuses the hub's sign-in (9001) has answered: the refusal is kept for the
/// day, and the hub does not send 9001 again before every message (a refusal that names 签到 read
/// as the platform not taking a message, as silence, and was retried each time).
#[tokio::test]
async fn a_refused_sign_in_is_an_answer_and_is_not_sent_again_before_every_message() {
    let (_sys, operator, his, hospital, _dir) = started("sign-in-refused").await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let url = platform_for(&hospital, seen.clone(), false).await;
    let own = json!({"url": url, "app_id": "own-app", "secret": "own-secret"});
    let path = format!("/api/v1/operator/hospitals/{hospital}/platform");
    assert!(operator.post_with_key(&path, &operator.next_key(), &own).await.expect("hub").ok());

    let agreement =
        operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.expect("hub");
    assert!(agreement.ok(), "{agreement:?}");
    let visit = his.register("MZ-R1", "01", EMPLOYEE_TOKEN).await.expect("hub");
    assert!(visit.ok(), "{visit:?}");
    let visit_id = visit.body["id"].as_str().expect("the visit's id").to_string();
    let fees = his.upload_fees(&visit_id, &[fee_line("1", "XA01AAA0001", "12.50", "2", "25.00")]).await.expect("hub");
    assert!(fees.ok(), "{fees:?}");
    let settled = his.settle(&visit_id).await.expect("hub");
    assert_eq!(settled.body["state"], json!("settled"), "{settled:?}");

    let infnos: Vec<String> = seen.lock().expect("lock").iter().filter_map(|e| e["infno"].as_str().map(str::to_string)).collect();
    assert_eq!(infnos.iter().filter(|i| *i == "9001").count(), 1, "asked once, refused once: {infnos:?}");
    assert!(infnos.iter().any(|i| i == "2207"), "{infnos:?}");
}
