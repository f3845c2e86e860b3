//! `/metrics`, end to end: a visit is settled, the scrape shows it counted (requests by route
//! template, the settlement and its latency, the partner calls it made, a replayed click), every
//! line of the text parses as Prometheus' exposition format, no id or personal data is in a label,
//! and who may scrape: an operator's key, or nobody's from loopback only when the config says so.

use serde_json::json;
use std::collections::BTreeMap;
use wugan::his::{fee_line, HisClient};
use wugan::system;

mod common;

const EMPLOYEE_CERTNO: &str = "440301199001011234";

/// The series of a scrape (`name{labels}` → value); panics on a line that is not a comment, blank,
/// or `name{labels} value` with a number for value.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut series = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (key, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let name_end = key.find('{').unwrap_or(key.len());
        let name = &key[..name_end];
        assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "not a metric name: {line}");
        if name_end < key.len() {
            let labels = key[name_end..].strip_prefix('{').and_then(|l| l.strip_suffix('}')).unwrap_or_else(|| panic!("labels: {line}"));
            for label in labels.split("\",").filter(|l| !l.is_empty()) {
                let (label_name, label_value) = label.split_once("=\"").unwrap_or_else(|| panic!("a label: {line}"));
                assert!(label_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "label name: {line}");
                assert!(!label_value.contains('\n') && !label_value.contains('\\'), "label value: {line}");
            }
        }
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("not a number: {line}")),
        };
        assert!(series.insert(key.to_string(), value).is_none(), "a series twice: {key}");
    }
    series
}

fn value(series: &BTreeMap<String, f64>, key: &str) -> f64 {
    *series.get(key).unwrap_or_else(|| panic!("no series {key}"))
}

#[tokio::test]
async fn a_settled_visit_moves_the_counters_and_the_text_parses() {
    let (opts, _dir) = common::fresh_options("metrics").await;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let scrape = || async { parse(operator.raw("GET", "/metrics", None, None).await.expect("a scrape").body.as_str().expect("text")) };
    let before = scrape().await;
    assert_eq!(value(&before, r#"wugan_settlements_total{outcome="settled"}"#), 0.0);

    let signed = operator.sign_up("02", EMPLOYEE_CERTNO, false, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(signed.ok(), "{signed:?}");
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let visit = his.register("MZ-METRICS-1", "02", EMPLOYEE_CERTNO).await.unwrap();
    let visit_id = visit.body["id"].as_str().expect("a visit").to_string();
    let fees = his.upload_fees(&visit_id, &[fee_line("MZ-METRICS-1-1", "001102000010000", "25.00", "1", "25.00")]).await.unwrap();
    assert!(fees.ok(), "{fees:?}");
    let click = his.next_key();
    let settled = his.post_with_key(&format!("/api/v1/visits/{visit_id}/settlement"), &click, &json!({})).await.unwrap();
    assert!(settled.ok(), "{settled:?}");
    let again = his.post_with_key(&format!("/api/v1/visits/{visit_id}/settlement"), &click, &json!({})).await.unwrap();
    assert_eq!(again.body, settled.body, "the same click, replayed");
    his.get(&format!("/api/v1/visits/{visit_id}")).await.unwrap();

    let after = scrape().await;
    let moved = |key: &str| value(&after, key) - before.get(key).copied().unwrap_or(0.0);
    assert_eq!(moved(r#"wugan_settlements_total{outcome="settled"}"#), 1.0);
    assert_eq!(moved("wugan_settlement_duration_seconds_count"), 1.0);
    assert_eq!(moved(r#"wugan_http_requests_total{route="/api/v1/visits/{id}/settlement",method="POST",status="200"}"#), 2.0);
    assert_eq!(moved(r#"wugan_http_requests_total{route="/api/v1/visits/{id}",method="GET",status="200"}"#), 1.0);
    assert_eq!(moved(r#"wugan_http_request_duration_seconds_count{route="/api/v1/visits/{id}",method="GET"}"#), 1.0);
    assert_eq!(moved("wugan_idempotency_replays_total"), 1.0);
    for (partner, operation) in [("insurance", "2207"), ("insurance", "2204"), ("bank:BANK01", "charge")] {
        let labels = format!(r#"partner="{partner}",operation="{operation}""#);
        assert_eq!(moved(&format!("wugan_partner_calls_total{{{labels},result=\"done\"}}")), 1.0, "{labels}");
        assert_eq!(moved(&format!("wugan_partner_call_duration_seconds_count{{{labels}}}")), 1.0, "{labels}");
    }
    assert_eq!(value(&after, "wugan_recovery_backlog"), 0.0);
    assert_eq!(value(&after, "wugan_unknown_outcomes_in_flight"), 0.0);
    assert_eq!(value(&after, "wugan_exceptions_open"), 0.0);
    assert!(
        value(&after, r#"wugan_db_pool_connections{state="idle"}"#) + value(&after, r#"wugan_db_pool_connections{state="in_use"}"#) >= 1.0
    );
    let text: String = after.keys().cloned().collect::<Vec<_>>().join("\n");
    assert!(!text.contains(&visit_id) && !text.contains(EMPLOYEE_CERTNO), "no id, no personal data in a label");
}

#[tokio::test]
async fn only_an_operator_scrapes_unless_loopback_is_allowed() {
    let (opts, _dir) = common::fresh_options("metrics-access").await;
    let sys = system::start(&opts).await.expect("system starts");
    let http = reqwest::Client::new();
    let anonymous = http.get(format!("{}/metrics", sys.hub_url)).send().await.expect("answer");
    assert_eq!(anonymous.status(), 401);
    let hospital = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key).raw("GET", "/metrics", None, None).await.unwrap();
    assert_eq!(hospital.status, 403);

    let (mut local, _local_dir) = common::fresh_options("metrics-loopback").await;
    local.edge.api.metrics_from_loopback = true;
    let local = system::start(&local).await.expect("system starts");
    let scraped = http.get(format!("{}/metrics", local.hub_url)).send().await.expect("answer");
    assert_eq!(scraped.status(), 200);
    assert!(scraped.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let ledger = http.get(format!("{}/api/v1/ledger", local.hub_url)).send().await.expect("answer");
    assert_eq!(ledger.status(), 401, "the flag opens /metrics only");
}
