//! What an operator sees when a hospital calls about a payment: the visit whole (its fee lines,
//! each settlement attempt with the transfers it posted), and the ledger's journal between two
//! times, page by page.

use serde_json::{json, Value};
use wugan::his::{fee_line, HisClient};
use wugan::system;

mod common;

const EMPLOYEE_CERTNO: &str = "440301199001011234";

#[tokio::test]
async fn an_operator_sees_a_cancelled_and_resettled_visit_whole_and_the_journal_by_time() {
    let (opts, _dir) = common::fresh_options("operator-views").await;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let signed = operator.sign_up("02", EMPLOYEE_CERTNO, false, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(signed.ok(), "{signed:?}");
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let visit = his.register("MZ-OPS-1", "02", EMPLOYEE_CERTNO).await.unwrap();
    let visit_id = visit.body["id"].as_str().expect("a visit").to_string();
    let before_any_transfer = sys.app.now();
    assert!(his.upload_fees(&visit_id, &[fee_line("1", "001102000010000", "25.00", "1", "25.00")]).await.unwrap().ok());
    assert!(his.settle(&visit_id).await.unwrap().ok());
    assert!(his.cancel(&visit_id).await.unwrap().ok());
    let between = sys.app.now();
    assert!(his.upload_fees(&visit_id, &[fee_line("2", "001102000010000", "25.00", "1", "25.00")]).await.unwrap().ok());
    let second = his.settle(&visit_id).await.unwrap();
    assert!(second.ok(), "{second:?}");

    // The visit whole: one open fee line, two attempts, each with its transfers.
    let whole = operator.get(&format!("/api/v1/operator/visits/{visit_id}")).await.unwrap();
    assert!(whole.ok(), "{whole:?}");
    assert_eq!(whole.body["visit"]["id"], visit_id.as_str());
    assert_eq!(whole.body["fee_lines"], json!([{"feedetl_sn": "2", "amount_fen": 2500, "uploaded": true}]));
    let attempts = whole.body["attempts"].as_array().expect("attempts");
    let states: Vec<&str> = attempts.iter().map(|a| a["settlement"]["state"].as_str().unwrap_or_default()).collect();
    assert_eq!(states, ["cancelled", "settled"]);
    for attempt in attempts {
        let id = attempt["settlement"]["id"].as_str().expect("an id");
        let transfers = attempt["transfers"].as_array().expect("transfers");
        assert!(!transfers.is_empty(), "{attempt}");
        assert!(transfers.iter().all(|t| t["id"].as_str().is_some_and(|t| t.starts_with(&format!("settle:{id}:")))), "{attempt}");
    }
    assert_eq!(attempts[0]["failed_tries"], 0);
    // A hospital has its own view; this one is for operators.
    assert_eq!(his.get(&format!("/api/v1/operator/visits/{visit_id}")).await.unwrap().status, 403);
    assert_eq!(operator.get("/api/v1/operator/visits/vis_none").await.unwrap().code(), Some("visit_not_found"));

    // The journal: everything, then only what the second attempt posted, then page by page.
    let journal = |query: String| {
        let operator = &operator;
        async move { operator.get(&format!("/api/v1/ledger/journal{query}")).await.unwrap() }
    };
    let all = journal(String::new()).await;
    assert!(all.ok(), "{all:?}");
    let every: Vec<Value> = all.body["entries"].as_array().expect("entries").clone();
    let posted: usize = attempts.iter().map(|a| a["transfers"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(every.len(), posted, "the visit's transfers are the whole ledger here");
    assert_eq!(all.body["next_after"], Value::Null);
    let second_id = attempts[1]["settlement"]["id"].as_str().unwrap();
    let later = journal(format!("?from={between}")).await;
    assert!(later.body["entries"].as_array().unwrap().iter().all(|t| t["id"].as_str().unwrap().contains(second_id)), "{later:?}");
    let earlier = journal(format!("?from={before_any_transfer}&to={between}")).await;
    assert_eq!(earlier.body["entries"].as_array().unwrap().len() + later.body["entries"].as_array().unwrap().len(), every.len());
    let mut paged = Vec::new();
    let mut query = "?limit=2".to_string();
    loop {
        let page = journal(query.clone()).await;
        assert!(page.ok(), "{page:?}");
        paged.extend(page.body["entries"].as_array().unwrap().iter().cloned());
        match page.body["next_after"].as_str() {
            Some(after) => query = format!("?limit=2&after={after}"),
            None => break,
        }
    }
    assert_eq!(paged, every, "pages of two give the whole journal, in order, once");
    let too_long = format!("?after={}", "x".repeat(201));
    for (query, code) in [
        ("?from=yesterday", "bad_time"),
        ("?limit=0", "bad_limit"),
        ("?colour=red", "bad_query"),
        (too_long.as_str(), "bad_query"),
        ("?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "bad_time_range"),
    ] {
        assert_eq!(journal(query.to_string()).await.code(), Some(code), "{query}");
    }
}

/// A rough edge: an agreement answered `use_personal_account: true` for a resident, who has no
/// personal account to pay from.
#[tokio::test]
async fn a_resident_without_a_personal_account_is_signed_up_without_one() {
    let (opts, _dir) = common::fresh_options("no-account").await;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let credit_line = json!({"method": "credit_line", "bank_code": "BANK01"});
    for (certno, has_account) in [(RESIDENT_CERTNO, false), (EMPLOYEE_CERTNO, true)] {
        let signed = operator.sign_up("02", certno, true, credit_line.clone()).await.unwrap();
        assert!(signed.ok(), "{signed:?}");
        assert_eq!(signed.body["use_personal_account"], has_account, "{certno}");
        let id = signed.body["id"].as_str().expect("an id");
        let again = operator.get(&format!("/api/v1/agreements/{id}")).await.unwrap();
        assert_eq!(again.body["use_personal_account"], has_account, "{certno}, read back");
    }
}

const RESIDENT_CERTNO: &str = "440304198507203318";

/// The operator's day totals (review 19, B3) read as the hospital's own statement: a bill collected
/// after the click is no longer unpaid, a refund of the day is counted with its amount, and a
/// settlement counts on the day it was made.
#[tokio::test]
async fn the_operators_day_agrees_with_each_hospitals_statement_after_a_bill_is_collected_and_a_line_refunded() {
    let (opts, _dir) = common::fresh_options("operator-day").await;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let terms = json!({"method": "credit_line", "bank_code": "BANK01", "credit_limit_fen": 500_000});
    let signed = operator.sign_up("02", EMPLOYEE_CERTNO, false, terms).await.unwrap();
    assert!(signed.ok(), "{signed:?}");
    let agreement = signed.body["id"].as_str().unwrap().to_string();
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let hospital = sys.credentials.hospitals[0].code.clone();
    let visit = |no: &'static str, lines: Vec<Value>| {
        let his = &his;
        async move {
            let id = his.register(no, "02", EMPLOYEE_CERTNO).await.unwrap().body["id"].as_str().expect("a visit").to_string();
            assert!(his.upload_fees(&id, &lines).await.unwrap().ok());
            let settled = his.settle(&id).await.unwrap();
            (id, settled.body)
        }
    };
    // Two lines (25 + 20 yuan), then 4,500 yuan paid, then 4,500 more the 5,000-yuan line cannot take.
    let two = vec![fee_line("R1", "001102000010000", "25.00", "1", "25.00"), fee_line("R2", "001102000010000", "20.00", "1", "20.00")];
    let (refunded_visit, _) = visit("MZ-DAY-R", two).await;
    let (_, paid) = visit("MZ-DAY-1", vec![fee_line("1", "013100000010000", "150.00", "30", "4500.00")]).await;
    assert_eq!(paid["state"], json!("settled"), "{paid}");
    let (_, unpaid) = visit("MZ-DAY-2", vec![fee_line("1", "013100000010000", "150.00", "30", "4500.00")]).await;
    assert_eq!(unpaid["state"], json!("settled_unpaid"), "{unpaid}");
    // The patient repays what the line lent; the hub then collects the bill from the line.
    let used = operator.get(&format!("/api/v1/agreements/{agreement}")).await.unwrap().body["payment"]["used_fen"].as_i64().unwrap();
    let repaid =
        operator.post(&format!("/api/v1/agreements/{agreement}/repayments"), &json!({"amount_fen": used, "source": "bank_transfer"})).await;
    assert!(repaid.as_ref().is_ok_and(|r| r.ok()), "{repaid:?}");
    sys.app.collect_due_bills().await.expect("the due bills are collected");
    // One line of the first visit refunded (20 yuan of fees).
    let refund = his.post(&format!("/api/v1/visits/{refunded_visit}/refunds"), &json!({"lines": ["R2"]})).await.unwrap();
    assert_eq!(refund.body["state"], json!("refunded"), "{refund:?}");

    let day = wugan_hub::clock::china_datetime_of(time::OffsetDateTime::now_utc())[..10].to_string();
    let statement = his.get(&format!("/api/v1/hospitals/{hospital}/statements/{day}")).await.unwrap().body;
    assert_eq!(statement["unpaid_fen"].as_i64(), Some(0), "the bill was collected: {statement}");
    let rows = sys.app.operator_day(&day).await.expect("the day's figures");
    let ours = |f: fn(&wugan_hub::store::DayFiguresRow) -> i64| rows.iter().filter(|r| r.hospital_code == hospital).map(f).sum::<i64>();
    let figure = |key: &str| statement[key].as_i64().unwrap_or_else(|| panic!("{key} in {statement}"));
    for (key, got) in [
        ("settled", ours(|r| r.settled)),
        ("medfee_fen", ours(|r| r.medfee_fen)),
        ("fund_fen", ours(|r| r.fund_fen)),
        ("personal_account_fen", ours(|r| r.account_fen)),
        ("bank_fen", ours(|r| r.bank_fen)),
        ("unpaid_bills", ours(|r| r.unpaid_bills)),
        ("unpaid_fen", ours(|r| r.unpaid_fen)),
        ("collected_fen", ours(|r| r.collected_fen)),
        ("cancelled", ours(|r| r.cancelled)),
        ("refunded_fen", ours(|r| r.refunded_fen)),
    ] {
        assert_eq!(got, figure(key), "{key}: {rows:?} against {statement}");
    }
    // The bank gives back the cash share of the 20 yuan line (insurance paid the rest).
    assert_eq!(ours(|r| r.refunds), 1, "one refund: {rows:?}");
    assert!((1..=2000).contains(&ours(|r| r.refunded_fen)), "{rows:?}");
    assert_eq!((ours(|r| r.visits), ours(|r| r.stays_settled)), (3, 0), "{rows:?}");
    assert!(ours(|r| r.collected_fen) > 0, "{rows:?}");
    // By bank: the same money, all through BANK01.
    let bank = |f: fn(&wugan_hub::store::DayFiguresRow) -> i64| {
        rows.iter().filter(|r| r.bank_code.as_deref() == Some("BANK01")).map(f).sum::<i64>()
    };
    assert_eq!(
        (bank(|r| r.bank_fen), bank(|r| r.unpaid_fen), bank(|r| r.refunded_fen)),
        (figure("bank_fen"), 0, figure("refunded_fen")),
        "{rows:?}"
    );
}
