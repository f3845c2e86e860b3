//! An operator onboards a third bank while the hub runs (银行接入): the keys are tried before the
//! bank is kept, a patient signs with it at the bank's own default limit, a visit is paid by it,
//! and after a restart the hub still routes to it. A hospital onboarded the same way reaches the
//! built-in insurance center once the hub has restarted.

use serde_json::json;
use std::time::Duration;
use wugan::his::{fee_line, HisClient};
use wugan::system;

mod common;

const CERTNO: &str = "440301199001011234";
const SECRET: &str = "the third bank's signing secret";

fn bank03(url: &str, secret: &str) -> serde_json::Value {
    json!({
        "code": "BANK03", "name": "第三银行", "url": url, "key_id": "hub3", "secret": secret,
        "callback_secret": "the third bank's callback secret", "default_credit_limit_fen": 1_000_000, "interest_free_days": 50,
    })
}

#[tokio::test]
async fn an_operator_onboards_a_bank_a_patient_pays_with_it_and_a_restart_keeps_it() {
    let (opts, _dir) = common::fresh_options("bank-onboarding").await;
    let third = system::builtin_bank("BANK03", "hub3", SECRET);
    let third_url = format!("http://{}", system::spawn_server("127.0.0.1:0", third).await.expect("bank 3"));
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let onboard = |body: serde_json::Value| {
        let operator = &operator;
        async move { operator.post_with_key("/api/v1/operator/banks", &operator.next_key(), &body).await.expect("hub") }
    };

    // Wrong keys, weak keys and a bad address are refused, and nothing is kept.
    let refused = onboard(bank03(&third_url, "not the bank's secret at all")).await;
    assert_eq!((refused.status, refused.code()), (422, Some("bank_check_failed")), "{refused:?}");
    assert_eq!(onboard(bank03(&third_url, "short")).await.code(), Some("weak_secret"));
    let silent = onboard(bank03("http://127.0.0.1:9", SECRET)).await;
    assert_eq!((silent.status, silent.code()), (422, Some("bank_unreachable")), "no answer is not a refusal: {silent:?}");
    let not_a_bank = onboard(bank03(&sys.hub_url, SECRET)).await;
    assert_eq!(not_a_bank.code(), Some("bank_check_failed"), "another server at the url is not a bank: {not_a_bank:?}");
    assert_eq!(onboard(bank03("ftp://bank03", SECRET)).await.code(), Some("bad_bank_url"));
    let signed_elsewhere = operator.sign_up("02", CERTNO, true, json!({"method": "credit_line", "bank_code": "BANK03"})).await.unwrap();
    assert_eq!(signed_elsewhere.code(), Some("unknown_bank"), "{signed_elsewhere:?}");

    // The right keys: the bank is kept and routed to at once.
    let added = onboard(bank03(&third_url, SECRET)).await;
    assert!(added.ok(), "{added:?}");
    assert_eq!((added.body["source"].as_str(), added.body["default_credit_limit_fen"].as_i64()), (Some("onboarded"), Some(1_000_000)));
    assert!(added.body.get("secret").is_none() && !added.body.to_string().contains(SECRET), "secrets are never shown: {added:?}");
    assert_eq!(onboard(bank03(&third_url, SECRET)).await.code(), Some("bank_exists"));
    let configured = onboard(json!({"code": "BANK01", "name": "x", "url": third_url, "key_id": "k", "secret": SECRET, "callback_secret": "another secret of length"})).await;
    assert_eq!(configured.code(), Some("bank_exists"), "a configured bank is not replaced: {configured:?}");

    // A patient signs with BANK03 naming no limit: the bank's own default, 10,000 yuan.
    let agreement = operator.sign_up("02", CERTNO, false, json!({"method": "credit_line", "bank_code": "BANK03"})).await.unwrap();
    assert!(agreement.ok(), "{agreement:?}");
    assert_eq!(agreement.body["payment"]["limit_fen"].as_i64(), Some(1_000_000), "{agreement:?}");

    // Registration, fees and the doctor's click: the bank's share is taken by BANK03.
    let pay = |sys: &system::System, visit_no: &'static str| {
        let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
        async move {
            let visit = his.register(visit_no, "02", CERTNO).await.unwrap();
            assert!(visit.ok(), "{visit:?}");
            let id = visit.body["id"].as_str().unwrap().to_string();
            assert!(his.upload_fees(&id, &[fee_line("B3", "001102000010000", "25.00", "4", "100.00")]).await.unwrap().ok());
            his.settle(&id).await.unwrap()
        }
    };
    let settled = pay(&sys, "MZ-B3-1").await;
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    assert!(settled.fen("bank_fen") > 0, "{settled:?}");
    let scrape = operator.raw("GET", "/metrics", None, None).await.expect("a scrape");
    let metrics = scrape.body.as_str().unwrap_or_default();
    assert!(metrics.contains(r#"partner="bank:BANK03",operation="charge",result="done"} 1"#), "{metrics}");

    // The operator finds the visits each bank paid.
    let of_bank = |bank: &'static str| {
        let operator = &operator;
        async move {
            let page = operator.get(&format!("/api/v1/operator/visits?bank_code={bank}")).await.unwrap();
            page.body["visits"].as_array().unwrap().iter().map(|v| v["ipt_otp_no"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        }
    };
    assert_eq!(of_bank("BANK03").await, ["MZ-B3-1"]);
    assert!(of_bank("BANK01").await.is_empty());

    // After a restart the onboarded bank is routed to again (its secrets opened from the store).
    sys.shutdown(Duration::from_secs(5)).await;
    let sys = system::start(&opts).await.expect("system restarts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let banks = operator.get("/api/v1/operator/banks").await.unwrap();
    let codes: Vec<&str> = banks.body.as_array().unwrap().iter().filter_map(|b| b["code"].as_str()).collect();
    assert_eq!(codes, ["BANK01", "BANK03"], "{banks:?}");
    assert_eq!(banks.body[1]["interest_free_days"], 50);
    let again = pay(&sys, "MZ-B3-2").await;
    assert_eq!(again.body["state"], "settled", "{again:?}");
    sys.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_hospital_onboarded_while_the_hub_runs_reaches_the_built_in_insurance_center_after_a_restart() {
    let (opts, _dir) = common::fresh_options("hospital-onboarding").await;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let added = operator.post("/api/v1/operator/hospitals", &json!({"code": "H44030600077", "name": "新院区"})).await.unwrap();
    assert!(added.ok(), "{added:?}");
    let key = operator.post("/api/v1/operator/keys", &json!({"hospital_code": "H44030600077"})).await.unwrap();
    let api_key = key.body["api_key"].as_str().unwrap_or_else(|| panic!("a key: {key:?}")).to_string();
    let register = |sys: &system::System, no: &'static str| {
        let his = HisClient::new(&sys.hub_url, &api_key);
        async move { his.register(no, "02", CERTNO).await.unwrap() }
    };
    // While the hub runs the built-in center has no credential for it yet: nothing is sent.
    let early = register(&sys, "MZ-NEW-1").await;
    assert_eq!((early.status, early.code()), (503, Some("insurance_not_configured")), "{early:?}");
    assert!(early.message().contains("restarts `wugan serve`"), "the operator is told what to do: {early:?}");

    sys.shutdown(Duration::from_secs(5)).await;
    let sys = system::start(&opts).await.expect("system restarts");
    let gateway = &sys.credentials.insurance_gateway;
    assert!(gateway.callers.iter().any(|c| c.fixmedins_code == "H44030600077"), "kept in credentials.json");
    let visit = register(&sys, "MZ-NEW-2").await;
    assert!(visit.ok(), "{visit:?}");
    assert!(!visit.body["mdtrt_id"].as_str().unwrap_or_default().is_empty(), "registered at the center: {visit:?}");
}
