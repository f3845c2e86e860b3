//! The access log, end to end: one line per request, naming the key id that made it (never the
//! key), the route's template (never an id), no personal data. Its own test binary, so that the
//! captured log is this test's alone.

use serde_json::json;
use wugan::his::HisClient;
use wugan::system;

mod common;

const EMPLOYEE_CERTNO: &str = "440301199001011234";

/// Log lines, captured.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn every_request_is_logged_with_the_key_id_that_made_it_and_never_the_key() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).with_env_filter("wugan_hub::access=info").finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (opts, _dir) = common::fresh_options("access-log").await;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    operator.sign_up("02", EMPLOYEE_CERTNO, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    let key = sys.credentials.hospitals[0].api_key.clone();
    let his = HisClient::new(&sys.hub_url, &key);
    let visit = his.register("MZ-LOG-1", "02", EMPLOYEE_CERTNO).await.unwrap();
    let visit_id = visit.body["id"].as_str().expect("a visit").to_string();
    let key_id = wugan_hub::store::key_id_of(&wugan_hub::api::hash_api_key(&key));
    his.get(&format!("/api/v1/visits/{visit_id}")).await.unwrap();
    HisClient::new(&sys.hub_url, "op_not_a_key").get("/api/v1/ledger").await.unwrap();
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = log.lines().find(|l| l.contains("route=/api/v1/visits/{id}") && l.contains("status=200")).expect("the visit's line");
    assert!(line.contains(&format!("key={key_id}")), "{line}");
    assert!(log.lines().any(|l| l.contains("route=/api/v1/ledger") && l.contains("status=401") && l.contains("key=-")), "{log}");
    assert!(!log.contains(&key) && !log.contains("op_not_a_key") && !log.contains(&visit_id), "no key, no id in the log:\n{log}");
    assert!(!log.contains(EMPLOYEE_CERTNO), "no personal data in the log");
}

#[tokio::test]
async fn every_answer_carries_a_request_id_that_names_its_line_in_the_access_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).with_env_filter("wugan_hub::access=info").finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (opts, _dir) = common::fresh_options("request-id").await;
    let sys = system::start(&opts).await.expect("system starts");
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for _ in 0..2 {
        // A caller's own id is not taken: it could carry anything, and the log must not.
        let answer = http.get(format!("{}/health", sys.hub_url)).header("x-request-id", EMPLOYEE_CERTNO).send().await.expect("answer");
        let id = answer.headers().get(wugan_hub::api::REQUEST_ID_HEADER).expect("a request id").to_str().expect("text").to_string();
        assert!(id.starts_with("req_") && id.len() > 20, "{id}");
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "one id per request");
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for id in &ids {
        let line = log.lines().find(|l| l.contains(&format!("request_id={id}"))).unwrap_or_else(|| panic!("no line for {id}:\n{log}"));
        assert!(line.contains("route=/health") && line.contains("status=200"), "{line}");
    }
    assert!(!log.contains(EMPLOYEE_CERTNO), "no personal data in the log");
}
