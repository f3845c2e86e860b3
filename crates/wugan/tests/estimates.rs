//! 预结算复用 (issue 10): the estimate a HIS asked for just before the doctor's click stands in for
//! the click's own 2206 while the fees are the same; changed fees get a 2206 of their own.

use serde_json::{json, Value};
use wugan::his::{fee_line, HisClient};
use wugan::system;

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";

/// 2206 and 2207 calls the hub has made so far, by its own metrics.
async fn center_calls(operator: &HisClient) -> (f64, f64) {
    let scrape = operator.raw("GET", "/metrics", None, None).await.expect("a scrape");
    let text = scrape.body.as_str().unwrap_or_default().to_string();
    let calls = |op: &str| {
        let labels = format!(r#"wugan_partner_calls_total{{partner="insurance",operation="{op}""#);
        text.lines().filter(|l| l.starts_with(&labels)).filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok()).sum::<f64>()
    };
    (calls("2206"), calls("2207"))
}

#[tokio::test]
async fn an_estimate_on_the_same_fees_stands_in_for_the_clicks_pre_settlement() {
    let (opts, _dir) = common::fresh_options("estimates").await;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let signed = operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(signed.ok(), "{signed:?}");
    let visit = |no: &'static str| {
        let his = &his;
        async move {
            let v = his.register(no, "01", EMPLOYEE_TOKEN).await.unwrap();
            assert!(v.ok(), "{v:?}");
            let id = v.body["id"].as_str().unwrap().to_string();
            let lines =
                [fee_line("1", "001102000010000", "25.00", "1", "25.00"), fee_line("2", "013100000010000", "150.00", "8", "1200.00")];
            assert!(his.upload_fees(&id, &lines).await.unwrap().ok());
            id
        }
    };

    // The HIS asks for the estimate, the doctor clicks: one 2206 in all, and 2207 carries back
    // the estimate's amounts (the reference center refuses a 2207 whose amounts are not its own).
    let first = visit("MZ-E1").await;
    let before = center_calls(&operator).await;
    let estimate = his.pre_settle(&first).await.unwrap();
    assert!(estimate.ok(), "{estimate:?}");
    let settled = his.settle(&first).await.unwrap();
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    assert_eq!(center_calls(&operator).await, (before.0 + 1.0, before.1 + 1.0), "the estimate's 2206 served the click");
    let shares = |b: &Value| (b["estimate"]["cash_fen"].as_i64(), b["estimate"]["fund_fen"].as_i64());
    assert_eq!(shares(&estimate.body), (settled.body["cash_fen"].as_i64(), settled.body["fund_fen"].as_i64()), "{estimate:?}");

    // Fees added after the estimate: the click sends a 2206 of its own.
    let second = visit("MZ-E2").await;
    let before = center_calls(&operator).await;
    assert!(his.pre_settle(&second).await.unwrap().ok());
    assert!(his.upload_fees(&second, &[fee_line("3", "001102000010000", "25.00", "1", "25.00")]).await.unwrap().ok());
    let settled = his.settle(&second).await.unwrap();
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    assert_eq!(settled.body["medfee_fen"].as_i64(), Some(125_000), "{settled:?}");
    assert_eq!(center_calls(&operator).await, (before.0 + 2.0, before.1 + 1.0), "the click's own 2206 for the new fees");

    // Without an estimate, the click's 2206 as always.
    let third = visit("MZ-E3").await;
    let before = center_calls(&operator).await;
    assert_eq!(his.settle(&third).await.unwrap().body["state"], "settled");
    assert_eq!(center_calls(&operator).await, (before.0 + 1.0, before.1 + 1.0));
    let ledger = operator.get("/api/v1/ledger").await.unwrap().body;
    assert_eq!(ledger["balanced"], json!(true), "{ledger}");
}
