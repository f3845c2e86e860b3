//! A refusal is asked about before it is believed (review r22, F1): a platform that reversed a
//! settlement (2208) and then answered its own timeout with infcode -1 "系统繁忙" made the hub
//! answer the hospital `422 insurance_refused` and keep the settlement: the cancellation never
//! refunded the bank, and a line refund was never made while the center had given the fund back.
//! Now the settlement's record (5203) is the answer; what 5203 cannot tell stays in doubt.

use serde_json::{json, Value};

mod common;
use common::own_platform::{fees_past_the_deductible, small_fees, Rule, World, LOST};

const BUSY: &str = r#"{"infcode":-1,"err_msg":"系统繁忙，请稍后重试[服务调用超时]","output":null}"#;

fn id(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_cancellation_the_platform_made_but_answered_busy_refunds_the_bank() {
    let w = World::new("refusal-cancel").await;
    let visit = w.visit_with("MZ-F1", &small_fees()).await;
    let settled = w.his.settle(&visit).await.expect("hub");
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    assert!(w.line_used().await > 0);

    // The platform reverses the settlement, then answers as its gateway does on a timeout inside.
    w.next("2208", Rule::ForwardThenAnswer(200, BUSY));
    let cancelled = w.his.cancel(&visit).await.expect("hub");
    assert_eq!((cancelled.status, cancelled.body["state"].as_str()), (200, Some("cancelled")), "{cancelled:?}");
    assert_eq!(w.platform.settlements().await, vec![(id(&settled.body["setl_id"]), true)]);
    assert_eq!(w.line_used().await, 0, "the bank gave the charge back");
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_cancellation_the_platform_really_refused_stands_and_one_it_cannot_confirm_stays_in_doubt() {
    let w = World::new("refusal-cancel-real").await;
    let visit = w.visit_with("MZ-F2", &small_fees()).await;
    let settled = w.his.settle(&visit).await.expect("hub");
    let charged = w.line_used().await;

    // Refused, and 5203 shows the settlement standing: the refusal is the answer.
    w.next("2208", Rule::AnswerAlone(200, r#"{"infcode":-1,"err_msg":"该结算已申报清算，不允许撤销","output":null}"#));
    let refused = w.his.cancel(&visit).await.expect("hub");
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (422, Some("insurance_refused")), "{refused:?}");
    let read = w.his.get(&format!("/api/v1/visits/{visit}")).await.expect("hub");
    assert_eq!(read.body["settlement"]["state"], "settled", "{read:?}");
    assert_eq!(w.line_used().await, charged);

    // Refused, and 5203 unanswered: not a refusal the hub can pass on; the next try finishes.
    w.next("2208", Rule::ForwardThenAnswer(200, BUSY));
    w.next("5203", Rule::AnswerAlone(502, LOST));
    let unknown = w.his.cancel(&visit).await.expect("hub");
    assert_eq!(unknown.status, 503, "{unknown:?}");
    assert_eq!(w.platform.settlements().await, vec![(id(&settled.body["setl_id"]), true)], "the platform did reverse it");
    let again = w.his.cancel(&visit).await.expect("hub");
    assert_eq!((again.status, again.body["state"].as_str()), (200, Some("cancelled")), "{again:?}");
    assert_eq!(w.line_used().await, 0);
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_line_refund_whose_reversal_and_resettlement_were_answered_busy_is_made() {
    let w = World::new("refusal-refund").await;
    let visit = w.visit_with("MZ-F3", &fees_past_the_deductible()).await;
    let settled = w.his.settle(&visit).await.expect("hub");
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    let before = w.line_used().await;

    // Line 2 returned: the platform reverses (2208) and settles line 1 again (2207), and answers
    // both with its gateway's timeout.
    w.next("2208", Rule::ForwardThenAnswer(200, BUSY));
    w.next("2207", Rule::ForwardThenAnswer(200, BUSY));
    let refund = w.his.post(&format!("/api/v1/visits/{visit}/refunds"), &json!({"lines": ["2"]})).await.expect("hub");
    assert_eq!((refund.status, refund.body["state"].as_str()), (200, Some("refunded")), "{refund:?}");
    let resettled = id(&refund.body["resettled_setl_id"]);
    let on_platform = w.platform.settlements().await;
    assert!(on_platform.contains(&(id(&settled.body["setl_id"]), true)), "{on_platform:?}");
    assert!(on_platform.contains(&(resettled.clone(), false)), "the hub holds the settlement that stands: {on_platform:?}");
    let given_back = refund.body["bank_refund_fen"].as_i64().expect("a bank refund");
    assert!(given_back > 0, "{refund:?}");
    assert_eq!(w.line_used().await, before - given_back);
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_stays_settlement_cancelled_by_the_platform_but_answered_busy_is_cancelled_and_refunded() {
    let w = World::new("refusal-stay").await;
    let admit =
        json!({"ipt_no": "ZY-F4", "mdtrt_cert_type": "01", "mdtrt_cert_no": common::own_platform::EMPLOYEE_TOKEN, "deposit_fen": 200_000});
    let admitted = w.his.post("/api/v1/stays", &admit).await.expect("hub");
    assert_eq!(admitted.body["state"], "in_ward", "{admitted:?}");
    let stay = id(&admitted.body["id"]);
    let fees = w.his.post(&format!("/api/v1/stays/{stay}/fees"), &json!({"lines": fees_past_the_deductible()})).await.expect("hub");
    assert!(fees.ok(), "{fees:?}");

    // An interim settlement, cancelled: the platform does it and answers busy.
    let interim = w.his.post(&format!("/api/v1/stays/{stay}/interim_settlement"), &json!({})).await.expect("hub");
    assert_eq!(interim.body["interim_settlements"][0]["n"], 1, "{interim:?}");
    let interim_setl = id(&interim.body["interim_settlements"][0]["setl_id"]);
    let held_before = w.line_used().await;
    w.next("2305", Rule::ForwardThenAnswer(200, BUSY));
    let undone = w.his.post(&format!("/api/v1/stays/{stay}/interim_settlements/1/cancel"), &json!({})).await.expect("hub");
    assert_eq!((undone.status, undone.body["interim_settlements"].as_array().map(Vec::len)), (200, Some(0)), "{undone:?}");
    assert!(w.platform.settlements().await.contains(&(interim_setl, true)));
    assert!(w.line_used().await < held_before, "the interim's bank share was given back");

    // Discharged and settled at the bedside, then that settlement cancelled the same way.
    let settled = w.his.post(&format!("/api/v1/stays/{stay}/discharge"), &json!({})).await.expect("hub");
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    let setl_id = id(&settled.body["settlement"]["setl_id"]);
    w.next("2305", Rule::ForwardThenAnswer(200, BUSY));
    let cancelled = w.his.post(&format!("/api/v1/stays/{stay}/settlement/cancel"), &json!({})).await.expect("hub");
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    assert_ne!(cancelled.body["state"], "settled", "{cancelled:?}");
    assert!(w.platform.settlements().await.contains(&(setl_id, true)));
    let undone_discharge = w.his.post(&format!("/api/v1/stays/{stay}/discharge/cancel"), &json!({})).await.expect("hub");
    assert!(undone_discharge.ok(), "{undone_discharge:?}");
    let out = w.his.post(&format!("/api/v1/stays/{stay}/cancel"), &json!({})).await.expect("hub");
    assert!(out.ok(), "{out:?}");
    assert_eq!(w.line_used().await, 0, "nothing charged or held for a stay whose settlements were all cancelled");
    w.ledger_balances().await;
}

/// 5203 itself answered busy: it says nothing of whether the visit is settled, so it is never read
/// as "no settlement on record".
#[tokio::test]
async fn a_settlement_query_answered_busy_neither_resends_2207_nor_believes_its_refusal() {
    let w = World::new("refusal-5203-busy").await;
    // The click's 2207 settles at the platform but its answer is lost: in doubt. On the retry the
    // platform's 5203 is busy: the hub does not send 2207 again on the strength of it.
    let visit = w.visit_with("MZ-F9", &small_fees()).await;
    w.next("2207", Rule::ForwardThenAnswer(502, LOST));
    assert_eq!(w.his.settle(&visit).await.expect("hub").status, 503);
    w.next("5203", Rule::AnswerAlone(200, BUSY));
    let sent = w.platform.sent("2207");
    let busy = w.his.settle(&visit).await.expect("hub");
    assert_eq!((busy.status, busy.body["error"]["code"].as_str()), (503, Some("insurance_unavailable")), "{busy:?}");
    assert_eq!(w.platform.sent("2207"), sent, "2207 was not sent again on a busy 5203");
    // 5203 answers: the settlement found, taken once.
    let settled = w.his.settle(&visit).await.expect("hub");
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    assert_eq!(w.platform.settlements().await.len(), 1);
    assert_eq!(w.line_used().await, settled.fen("bank_fen"), "charged once");

    // A 2207 refused after it took effect, and 5203 busy when asked: in doubt, not a refusal.
    let other = w.visit_with("MZ-F10", &small_fees()).await;
    w.next("2207", Rule::ForwardThenAnswer(200, BUSY));
    w.next("5203", Rule::AnswerAlone(200, BUSY));
    let unknown = w.his.settle(&other).await.expect("hub");
    assert_eq!(unknown.status, 503, "not insurance_refused: {unknown:?}");
    let again = w.his.settle(&other).await.expect("hub");
    assert_eq!(again.body["state"], "settled", "{again:?}");
    assert_eq!(w.platform.settlements().await.len(), 2, "each visit settled once");
    w.ledger_balances().await;
}
