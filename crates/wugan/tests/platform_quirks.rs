//! A regional platform's quirks (review r21), end to end through the hub's HTTP API: a hospital on
//! its own platform, and between the hub and that platform a rewriter that changes what the
//! platform answers the way real deployments do — a compact settlement time, a cancellation
//! answered with success and nothing else — and a platform that restarts mid-day, forgetting the
//! day's sign-in.

use common::own_platform::{fees_past_the_deductible, Rule, World, EMPLOYEE_TOKEN};
use serde_json::json;
use std::sync::{Arc, Mutex};
use wugan::his::fee_line;

mod common;

/// "2026-12-03 10:00:00" → "20261203100000".
fn compact(time: &str) -> String {
    time.chars().filter(char::is_ascii_digit).collect()
}

#[tokio::test]
async fn a_settlement_whose_time_the_platform_writes_compact_is_claimed_in_its_months_clearing() {
    let w = World::new("quirks-compact-time").await;
    let visit = w.visit_with("MZ-Q1", &fees_past_the_deductible()).await;

    // The platform settles, and writes the time compact and the clearing type as a number.
    let month = Arc::new(Mutex::new(String::new()));
    let seen = month.clone();
    w.next(
        "2207",
        Rule::Rewrite(Box::new(move |mut reply| {
            let info = &mut reply["output"]["setlinfo"];
            let time = info["setl_time"].as_str().expect("the platform's setl_time").to_string();
            *seen.lock().expect("lock") = time[..7].to_string();
            info["setl_time"] = json!(compact(&time));
            info["clr_type"] = json!(11);
            reply
        })),
    );
    let settled = w.his.settle(&visit).await.expect("hub");
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    let claim = settled.fen("fund_fen") + settled.fen("personal_account_fen");
    assert!(claim > 0, "{settled:?}");

    // At the month's end the hospital applies for the fund's share: this settlement is in it,
    // and the platform, checking the application against its own records, accepts it.
    let month = month.lock().expect("lock").clone();
    let cleared = w.operator.post_with_key("/api/v1/clearings/insurance", "clear-1", &json!({"month": month})).await.expect("hub");
    assert!(cleared.ok(), "{cleared:?}");
    let applications = cleared.body["applications"].as_array().cloned().unwrap_or_default();
    assert_eq!(applications.len(), 1, "the month has one application: {cleared:?}");
    let a = &applications[0];
    assert_eq!((a["clr_type"].as_str(), a["psntime"].as_i64(), a["state"].as_str()), (Some("11"), Some(1), Some("applied")), "{a}");
    assert_eq!(cleared.fen("applied_fen"), claim, "the fund's and the account's share, claimed: {cleared:?}");
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_cancellation_the_platform_confirms_with_nothing_but_success_is_finished() {
    let w = World::new("quirks-bare-2208").await;
    let visit = w.visit_with("MZ-Q2", &fees_past_the_deductible()).await;
    let settled = w.his.settle(&visit).await.expect("hub");
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    assert!(settled.fen("bank_fen") > 0, "{settled:?}");
    assert_eq!(w.line_used().await, settled.fen("bank_fen"));

    // The platform reverses the settlement and answers success with no record at all.
    w.next("2208", Rule::ForwardThenAnswer(200, r#"{"infcode": 0, "err_msg": "成功", "output": null}"#));
    let cancelled = w.his.cancel(&visit).await.expect("hub");
    assert_eq!(cancelled.body["state"], "cancelled", "the platform said yes: {cancelled:?}");
    assert_eq!(w.line_used().await, 0, "the bank's share was refunded to the line");
    let on_platform = w.platform.settlements().await;
    assert_eq!(on_platform.len(), 1, "{on_platform:?}");
    assert!(on_platform[0].1, "the platform holds it cancelled: {on_platform:?}");
    assert_eq!(w.platform.sent("2208"), 1, "asked once");
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_platform_that_forgets_the_days_sign_in_is_signed_in_again_on_the_next_call() {
    let w = World::new("quirks-sign-in-forgotten").await;
    let visit = w.visit_with("MZ-Q3", &fees_past_the_deductible()).await;
    assert_eq!(w.his.settle(&visit).await.expect("hub").body["state"], "settled");
    assert_eq!(w.platform.sent("9001"), 1, "signed in once in the morning");

    // At noon the platform restarts and forgets the morning's sign-in: the next registration is
    // refused for it, and the hub says to try again.
    w.platform.restart();
    let refused = w.his.register("MZ-Q4", "01", EMPLOYEE_TOKEN).await.expect("hub");
    assert_eq!(refused.status, 503, "{refused:?}");

    // Tried again, the hub signs in anew and the registration goes through; the visit settles.
    let registered = w.his.register("MZ-Q4", "01", EMPLOYEE_TOKEN).await.expect("hub");
    assert!(registered.ok(), "signed in again, not refused until tomorrow: {registered:?}");
    assert_eq!(w.platform.sent("9001"), 2, "one more 9001");
    let visit = registered.body["id"].as_str().expect("visit id").to_string();
    let lines = [fee_line("1", "001102000010000", "25.00", "1", "25.00")];
    assert!(w.his.upload_fees(&visit, &lines).await.expect("hub").ok());
    assert_eq!(w.his.settle(&visit).await.expect("hub").body["state"], "settled");
    assert_eq!(w.platform.sent("9001"), 2, "and the new sign-in holds for the rest of the day");
    w.ledger_balances().await;
}
