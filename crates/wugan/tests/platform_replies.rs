//! Replies shaped like real insurance platforms' (review r21), end to end: a hospital on its own
//! platform, and between the hub and that platform a rewriter that changes what the platform
//! answers as real deployments write it — ids as long JSON numbers, flags as numbers, `setlinfo`
//! as an array, a refusal sent after the settlement took effect, an HTML page for a lost answer.
//! Each story checks what counts: what the platform holds, what the bank took, the ledger.

use common::own_platform::{compact, small_fees, unquoted, Rule, World, EMPLOYEE_TOKEN, LOST};
use serde_json::{json, Value};

mod common;

#[tokio::test]
async fn a_settlement_lost_on_the_way_back_is_found_by_5203_written_as_an_array_with_numeric_ids_and_cancelled_once() {
    let w = World::new("replies-found").await;
    let visit = w.visit_with("MZ-R1", &small_fees()).await;
    // The platform settles, but its answer is lost on the way back.
    w.next("2207", Rule::ForwardThenAnswer(502, LOST));
    let lost = w.his.settle(&visit).await.expect("hub");
    assert_eq!(lost.status, 503, "an unknown outcome: {lost:?}");
    // 5203 answers as some platforms write it: one record in an array, the ids as numbers.
    w.next(
        "5203",
        Rule::RewriteText(|text| {
            let mut reply: Value = serde_json::from_str(&text).expect("json");
            let record = reply["output"]["setlinfo"].take();
            reply["output"]["setlinfo"] = json!([record]);
            unquoted(&unquoted(&reply.to_string(), "setl_id"), "psn_no")
        }),
    );
    let found = w.his.settle(&visit).await.expect("hub");
    assert_eq!(found.body["state"], "settled", "{found:?}");
    let on_platform = w.platform.settlements().await;
    assert_eq!(on_platform.len(), 1, "settled once: {on_platform:?}");
    assert_eq!(found.body["setl_id"], json!(on_platform[0].0), "every digit of the platform's setl_id: {found:?}");
    let split = ["fund_fen", "personal_account_fen", "bank_fen"].map(|f| found.fen(f));
    assert_eq!(split.iter().sum::<i64>(), 12500, "the record read, not zeros: {found:?}");
    assert!(found.fen("bank_fen") > 0, "{found:?}");
    assert_eq!(w.line_used().await, found.fen("bank_fen"), "the line paid the cash share once");

    // The settlement the hub holds is the platform's: its cancellation is taken.
    let cancelled = w.his.cancel(&visit).await.expect("hub");
    assert_eq!(cancelled.body["state"], "cancelled", "{cancelled:?}");
    assert_eq!(w.platform.settlements().await, vec![(on_platform[0].0.clone(), true)]);
    assert_eq!(w.line_used().await, 0, "the cash share went back");
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_cancelled_settlement_that_5203_flags_with_a_number_is_not_taken_for_the_next_click() {
    let w = World::new("replies-cancelled").await;
    let visit = w.visit_with("MZ-R2", &small_fees()).await;
    let first = w.his.settle(&visit).await.expect("hub");
    assert_eq!(first.body["state"], "settled", "{first:?}");
    assert_eq!(w.his.cancel(&visit).await.expect("hub").body["state"], "cancelled");
    // The same fees again, and a click whose 2207 never reaches the platform.
    w.fees(&visit, &small_fees()).await;
    w.next("2207", Rule::AnswerAlone(502, LOST));
    assert_eq!(w.his.settle(&visit).await.expect("hub").status, 503);
    // Asked, the platform lists the cancelled settlement, flagged with a number.
    w.next("5203", Rule::RewriteText(|text| compact(text).replace("\"refd_setl_flag\":\"1\"", "\"refd_setl_flag\":1")));
    let second = w.his.settle(&visit).await.expect("hub");
    assert_eq!(second.body["state"], "settled", "{second:?}");
    assert_ne!(second.body["setl_id"], first.body["setl_id"], "a settlement of its own, not the cancelled one: {second:?}");
    let on_platform = w.platform.settlements().await;
    let standing: Vec<_> = on_platform.iter().filter(|(_, cancelled)| !cancelled).collect();
    assert_eq!(standing.len(), 1, "one settlement in force at the platform: {on_platform:?}");
    assert_eq!(second.body["setl_id"], json!(standing[0].0));
    assert_eq!(w.line_used().await, second.fen("bank_fen"), "charged once, for the settlement that stands");
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_refusal_sent_after_the_settlement_took_effect_is_asked_about_before_it_is_believed() {
    let w = World::new("replies-busy").await;
    let visit = w.visit_with("MZ-R3", &small_fees()).await;
    // The platform settles, then answers as its gateway does when a service inside it timed out.
    let busy = r#"{"infcode":-1,"err_msg":"系统繁忙，请稍后重试[服务调用超时]","output":null}"#;
    w.next("2207", Rule::ForwardThenAnswer(200, busy));
    let settled = w.his.settle(&visit).await.expect("hub");
    assert_eq!(settled.body["state"], "settled", "5203 found it in force: {settled:?}");
    assert!(settled.fen("bank_fen") > 0, "{settled:?}");
    let on_platform = w.platform.settlements().await;
    assert_eq!(on_platform, vec![(settled.body["setl_id"].as_str().unwrap_or_default().to_string(), false)]);
    assert_eq!(w.line_used().await, settled.fen("bank_fen"));
    w.ledger_balances().await;

    // A refusal that 5203 confirms (nothing in force) stands: the click fails and nothing moves.
    let other = w.visit_with("MZ-R4", &small_fees()).await;
    w.next("2207", Rule::AnswerAlone(200, r#"{"infcode":-1,"err_msg":"参保人待遇已暂停","output":null}"#));
    let refused = w.his.settle(&other).await.expect("hub");
    assert_eq!((refused.body["state"].as_str(), refused.body["failure"]["code"].as_str()), (Some("failed"), Some("insurance_refused")));
    assert_eq!(w.platform.settlements().await.len(), 1);
    assert_eq!(w.line_used().await, settled.fen("bank_fen"), "nothing more was taken");
    w.ledger_balances().await;
}

#[tokio::test]
async fn ids_written_as_long_numbers_keep_every_digit() {
    let w = World::new("replies-ids").await;
    // The person's number (1101) and the visit's (2201) as JSON numbers of 20 digits or more.
    w.next("1101", Rule::RewriteText(|text| unquoted(&compact(text), "psn_no")));
    w.next("2201", Rule::RewriteText(|text| unquoted(&compact(text), "mdtrt_id")));
    let visit = w.his.register("MZ-R5", "01", EMPLOYEE_TOKEN).await.expect("hub");
    assert!(visit.ok(), "{visit:?}");
    let mdtrt_id = visit.body["mdtrt_id"].as_str().unwrap_or_default();
    assert!(mdtrt_id.len() >= 19 && mdtrt_id.bytes().all(|b| b.is_ascii_digit()), "every digit: {visit:?}");
    assert_eq!(visit.body["psn_no"], "44030000000000000001", "{visit:?}");
    let id = visit.body["id"].as_str().expect("visit id").to_string();
    w.fees(&id, &small_fees()).await;
    let settled = w.his.settle(&id).await.expect("hub");
    assert_eq!(settled.body["state"], "settled", "the platform knows the visit by its number: {settled:?}");
}
