//! A refused undoing is asked about before it is believed (review r22, F3, last paragraph): a
//! platform that withdrew a visit's fee lines (2205), cancelled an admission (2404) or undid a
//! discharge (2405) and then answered its own timeout with infcode -1 "系统繁忙" made the hub answer
//! `422 insurance_refused` and keep the lines, the stay in the ward with its deposit held, or the
//! stay discharged, while the center had made the change. Now what the center shows is the answer
//! (5204 the visit's fee lines; 5201 the admission); what it cannot tell stays in doubt (503), and
//! the retry or the recovery worker finishes it under the same msgid.

use serde_json::{json, Value};
use std::time::Duration;
use wugan::his::{fee_line, Reply};

mod common;
use common::own_platform::{small_fees, Rule, World, EMPLOYEE_TOKEN, LOST};

const BUSY: &str = r#"{"infcode":-1,"err_msg":"系统繁忙，请稍后重试[服务调用超时]","output":null}"#;
const NOT_OFFERED: &str = r#"{"infcode":-1,"err_msg":"不支持的交易编号","output":null}"#;

fn id(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// What the bank holds on the line.
async fn held(w: &World) -> i64 {
    let agreement = w.operator.get(&format!("/api/v1/agreements/{}", w.agreement)).await.expect("hub");
    agreement.body["payment"]["held_fen"].as_i64().unwrap_or_else(|| panic!("held_fen: {}", agreement.body))
}

async fn withdraw(w: &World, visit: &str, key: &str) -> Reply {
    let path = format!("/api/v1/visits/{visit}/fees/withdraw");
    w.his.post_with_key(&path, key, &json!({"chrg_bchno": "0000"})).await.expect("hub")
}

/// The visit's fee lines again, under their numbers, at a new price: the center takes them only if
/// the withdrawal took effect there.
fn new_prescription() -> Vec<Value> {
    vec![fee_line("1", "XA01AAA0001", "10.00", "2", "20.00"), fee_line("2", "XA01AAA0002", "90.00", "1", "90.00")]
}

#[tokio::test]
async fn a_withdrawal_the_platform_made_but_answered_busy_is_withdrawn() {
    let w = World::new("undo-2205-busy").await;
    let visit = w.visit_with("MZ-U1", &small_fees()).await;

    // The platform withdraws every open line, then answers as its gateway does on a timeout inside.
    w.next("2205", Rule::ForwardThenAnswer(200, BUSY));
    let withdrawn = withdraw(&w, &visit, &w.his.next_key()).await;
    assert_eq!((withdrawn.status, withdrawn.body["fee_lines"].as_u64()), (200, Some(0)), "{withdrawn:?}");
    assert_eq!((w.platform.sent("2205"), w.platform.sent("5204")), (1, 1), "one withdrawal, asked about once");

    // The hub and the center agree: the lines go up again under their numbers, and the click
    // settles the new prescription's total.
    w.fees(&visit, &new_prescription()).await;
    let settled = w.his.settle(&visit).await.expect("hub");
    assert_eq!((settled.body["state"].as_str(), settled.fen("medfee_fen")), (Some("settled"), 11_000), "{settled:?}");
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_withdrawal_the_platform_really_refused_stands() {
    let w = World::new("undo-2205-refused").await;
    let visit = w.visit_with("MZ-U2", &small_fees()).await;
    let refusal = r#"{"infcode":-1,"err_msg":"该就诊费用已上传审核，不允许撤销","output":null}"#;

    // Refused, and 5204 lists every line: the refusal is the answer, the lines are the visit's.
    w.next("2205", Rule::AnswerAlone(200, refusal));
    let refused = withdraw(&w, &visit, &w.his.next_key()).await;
    assert_eq!((refused.status, refused.code()), (422, Some("insurance_refused")), "{refused:?}");
    assert!(refused.message().contains("不允许撤销"), "the center's words: {refused:?}");
    assert_eq!(w.platform.sent("5204"), 1, "asked before it was believed");

    // A platform without 5204 never tells: its refusal is believed, as before 5204 was asked.
    w.next("2205", Rule::AnswerAlone(200, refusal));
    w.next("5204", Rule::AnswerAlone(200, NOT_OFFERED));
    let unchecked = withdraw(&w, &visit, &w.his.next_key()).await;
    assert_eq!((unchecked.status, unchecked.code()), (422, Some("insurance_refused")), "{unchecked:?}");

    // The lines stand at both ends: the click settles them.
    let settled = w.his.settle(&visit).await.expect("hub");
    assert_eq!((settled.body["state"].as_str(), settled.fen("medfee_fen")), (Some("settled"), 12_500), "{settled:?}");
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_withdrawal_5204_cannot_confirm_is_in_doubt_until_the_retry_with_the_same_key() {
    let w = World::new("undo-2205-in-doubt").await;
    let visit = w.visit_with("MZ-U3", &small_fees()).await;
    let key = w.his.next_key();
    // Withdrawn, answered busy, and the fee query lost: not a refusal the hub can pass on.
    w.next("2205", Rule::ForwardThenAnswer(200, BUSY));
    w.next("5204", Rule::AnswerAlone(502, LOST));
    let first = withdraw(&w, &visit, &key).await;
    assert_eq!((first.status, first.code()), (503, Some("insurance_unavailable")), "{first:?}");
    let (click_path, click_key) = (format!("/api/v1/visits/{visit}/settlement"), w.his.next_key());
    let click = w.his.post_with_key(&click_path, &click_key, &json!({})).await.expect("hub");
    assert_eq!((click.status, click.code()), (409, Some("upload_in_progress")), "no click while the withdrawal is in doubt: {click:?}");
    assert!(click.message().contains("withdrawal of fee lines (2205)"), "said in words: {click:?}");

    // The same request again: 2205 under its msgid, answered busy again; 5204 now answers.
    w.next("2205", Rule::AnswerAlone(200, BUSY));
    let again = withdraw(&w, &visit, &key).await;
    assert_eq!((again.status, again.body["fee_lines"].as_u64()), (200, Some(0)), "{again:?}");
    assert_eq!(w.platform.sent("2205"), 2, "sent again, never under a new msgid nor a third time");
    w.fees(&visit, &new_prescription()).await;
    // The click refused "in progress, retry shortly" is worked afresh under its key, not
    // answered the same 409 again.
    let settled = w.his.post_with_key(&click_path, &click_key, &json!({})).await.expect("hub");
    assert_eq!((settled.body["state"].as_str(), settled.fen("medfee_fen")), (Some("settled"), 11_000), "{settled:?}");
}

/// A stay of 张三 admitted on the platform with ¥500.00 held on the line: its id and mdtrt_id.
async fn admitted(w: &World, ipt_no: &str) -> (String, String) {
    let admit = json!({"ipt_no": ipt_no, "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "deposit_fen": 50_000});
    let stay = w.his.post("/api/v1/stays", &admit).await.expect("hub");
    assert_eq!((stay.body["state"].as_str(), stay.fen("held_fen")), (Some("in_ward"), 50_000), "{stay:?}");
    assert_eq!(held(w).await, 50_000, "held on the line");
    (id(&stay.body["id"]), id(&stay.body["mdtrt_id"]))
}

async fn cancel_admission(w: &World, stay: &str) -> Reply {
    w.his.post(&format!("/api/v1/stays/{stay}/cancel"), &json!({})).await.expect("hub")
}

async fn stay_state(w: &World, stay: &str) -> Value {
    let read = w.his.get(&format!("/api/v1/stays/{stay}")).await.expect("hub");
    read.body["state"].clone()
}

#[tokio::test]
async fn an_admission_cancel_the_platform_made_but_answered_busy_releases_the_deposit() {
    let w = World::new("undo-2404-busy").await;
    let (stay, mdtrt_id) = admitted(&w, "ZY-U4").await;
    w.next("2404", Rule::ForwardThenAnswer(200, BUSY));
    let cancelled = cancel_admission(&w, &stay).await;
    assert_eq!((cancelled.status, cancelled.body["state"].as_str()), (200, Some("cancelled")), "{cancelled:?}");
    assert_eq!(w.platform.visit(&mdtrt_id).await["cancelled"], true);
    assert_eq!((w.platform.sent("2404"), w.platform.sent("5201")), (1, 1), "one cancellation, asked about once");
    assert_eq!(held(&w).await, 0, "the deposit's hold released");
    w.ledger_balances().await;
}

#[tokio::test]
async fn an_admission_cancel_the_platform_really_refused_stands_with_the_deposit_held() {
    let w = World::new("undo-2404-refused").await;
    let (stay, mdtrt_id) = admitted(&w, "ZY-U5").await;
    w.next("2404", Rule::AnswerAlone(200, r#"{"infcode":-1,"err_msg":"该住院已上传费用明细，请先撤销","output":null}"#));
    let refused = cancel_admission(&w, &stay).await;
    assert_eq!((refused.status, refused.code()), (422, Some("insurance_refused")), "{refused:?}");
    assert_eq!(w.platform.sent("5201"), 1, "asked before it was believed");
    assert_eq!(stay_state(&w, &stay).await, "in_ward");
    assert_eq!(w.platform.visit(&mdtrt_id).await["cancelled"], false);
    assert_eq!(held(&w).await, 50_000, "the deposit still held");

    // Asked again, refused again, and the platform without 5201: believed unchecked.
    w.next("2404", Rule::AnswerAlone(200, r#"{"infcode":-1,"err_msg":"该住院已上传费用明细，请先撤销","output":null}"#));
    w.next("5201", Rule::AnswerAlone(200, NOT_OFFERED));
    let unchecked = cancel_admission(&w, &stay).await;
    assert_eq!((unchecked.status, unchecked.code()), (422, Some("insurance_refused")), "{unchecked:?}");
    assert_eq!((stay_state(&w, &stay).await, held(&w).await), (json!("in_ward"), 50_000));
}

#[tokio::test]
async fn an_admission_cancel_5201_cannot_confirm_is_in_doubt_until_the_recovery_worker_resolves_it() {
    let w = World::new("undo-2404-in-doubt").await;
    let (stay, mdtrt_id) = admitted(&w, "ZY-U6").await;
    w.next("2404", Rule::ForwardThenAnswer(200, BUSY));
    w.next("5201", Rule::AnswerAlone(502, LOST));
    let first = cancel_admission(&w, &stay).await;
    assert_eq!((first.status, first.code()), (503, Some("insurance_unavailable")), "{first:?}");
    assert_eq!(stay_state(&w, &stay).await, "cancelling_admission", "neither refused nor cancelled");
    assert_eq!(held(&w).await, 50_000, "nothing released while in doubt");
    // The bedside click meanwhile neither finishes the cancellation nor answers 200 as if it had
    // settled: it is not the click's step (review r25 ward F2).
    let click = w.his.post(&format!("/api/v1/stays/{stay}/discharge"), &json!({})).await.expect("hub");
    assert_eq!((click.status, click.code()), (409, Some("stay_in_progress")), "{click:?}");
    assert_eq!(w.platform.sent("2404"), 1, "the click sent nothing");

    // The recovery worker sends 2404 again under its msgid; answered busy again, it asks 5201,
    // which no longer lists the admission: cancelled, and the hold released.
    w.next("2404", Rule::AnswerAlone(200, BUSY));
    let resumed = w.sys.app.resume_unfinished(Duration::ZERO).await.expect("recovery runs");
    assert!(resumed >= 1, "{resumed}");
    assert_eq!(stay_state(&w, &stay).await, "cancelled");
    assert_eq!((w.platform.sent("2404"), w.platform.visit(&mdtrt_id).await["cancelled"].clone()), (2, json!(true)));
    assert_eq!(held(&w).await, 0, "the deposit's hold released");
    w.ledger_balances().await;
}

/// A stay whose bedside click was discharged at the center (2402) but refused its pre-settlement
/// (2303): `settlement_refused`, the discharge to undo.
async fn discharged(w: &World, ipt_no: &str) -> (String, String) {
    let (stay, mdtrt_id) = admitted(w, ipt_no).await;
    let fees = w.his.post(&format!("/api/v1/stays/{stay}/fees"), &json!({"lines": small_fees()})).await.expect("hub");
    assert!(fees.ok(), "{fees:?}");
    w.next("2303", Rule::AnswerAlone(200, r#"{"infcode":-1,"err_msg":"结算信息不完整","output":null}"#));
    let click = w.his.post(&format!("/api/v1/stays/{stay}/discharge"), &json!({})).await.expect("hub");
    assert_eq!(click.status, 422, "{click:?}");
    assert_eq!(stay_state(w, &stay).await, "settlement_refused");
    // Why it waits, on the stay itself, once the click's 422 is gone (review r25 ward F4).
    let read = w.his.get(&format!("/api/v1/stays/{stay}")).await.expect("hub");
    assert!(read.body["discharge_refusal"].as_str().is_some_and(|r| r.contains("结算信息不完整")), "{read:?}");
    assert!(w.platform.visit(&mdtrt_id).await["discharged"].is_string(), "discharged at the center");
    (stay, mdtrt_id)
}

async fn undo_discharge(w: &World, stay: &str) -> Reply {
    w.his.post(&format!("/api/v1/stays/{stay}/discharge/cancel"), &json!({})).await.expect("hub")
}

#[tokio::test]
async fn a_discharge_undone_by_the_platform_but_answered_busy_is_back_in_the_ward_and_settles() {
    let w = World::new("undo-2405-busy").await;
    let (stay, mdtrt_id) = discharged(&w, "ZY-U7").await;
    w.next("2405", Rule::ForwardThenAnswer(200, BUSY));
    let undone = undo_discharge(&w, &stay).await;
    assert_eq!((undone.status, undone.body["state"].as_str()), (200, Some("in_ward")), "{undone:?}");
    assert!(w.platform.visit(&mdtrt_id).await["discharged"].is_null(), "in hospital at the center");
    assert_eq!((w.platform.sent("2405"), w.platform.sent("5201")), (1, 1));

    // The hub and the center agree: the next click discharges and settles the stay.
    let settled = w.his.post(&format!("/api/v1/stays/{stay}/discharge"), &json!({})).await.expect("hub");
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_discharge_undo_the_platform_really_refused_stands() {
    let w = World::new("undo-2405-refused").await;
    let (stay, mdtrt_id) = discharged(&w, "ZY-U8").await;
    w.next("2405", Rule::AnswerAlone(200, r#"{"infcode":-1,"err_msg":"出院已超过24小时，不允许撤销","output":null}"#));
    let refused = undo_discharge(&w, &stay).await;
    assert_eq!((refused.status, refused.code()), (422, Some("insurance_refused")), "{refused:?}");
    assert!(refused.message().contains("不允许撤销"), "the center's words: {refused:?}");
    assert_eq!(w.platform.sent("5201"), 1, "asked before it was believed");
    assert_eq!(stay_state(&w, &stay).await, "settlement_refused");
    assert!(w.platform.visit(&mdtrt_id).await["discharged"].is_string(), "still discharged at the center");
}

#[tokio::test]
async fn a_discharge_undo_5201_cannot_confirm_is_in_doubt_until_the_wards_retry() {
    let w = World::new("undo-2405-in-doubt").await;
    let (stay, _) = discharged(&w, "ZY-U9").await;
    w.next("2405", Rule::ForwardThenAnswer(200, BUSY));
    w.next("5201", Rule::AnswerAlone(200, BUSY));
    let first = undo_discharge(&w, &stay).await;
    assert_eq!((first.status, first.code()), (503, Some("insurance_unavailable")), "{first:?}");
    assert_eq!(stay_state(&w, &stay).await, "undoing_discharge", "neither refused nor undone");

    // The ward asks again: 2405 under its msgid (the platform replays its answer): in the ward.
    let again = undo_discharge(&w, &stay).await;
    assert_eq!((again.status, again.body["state"].as_str()), (200, Some("in_ward")), "{again:?}");
    assert_eq!(w.platform.sent("2405"), 2);
}

async fn withdraw_from_stay(w: &World, stay: &str, key: &str) -> Reply {
    w.his.post_with_key(&format!("/api/v1/stays/{stay}/fees/withdraw"), key, &json!({"lines": ["2"]})).await.expect("hub")
}

/// A stay in the ward with `small_fees` (lines 1 and 2, ¥125.00) on record.
async fn in_ward_with_fees(w: &World, ipt_no: &str) -> String {
    let (stay, _) = admitted(w, ipt_no).await;
    let fees = w.his.post(&format!("/api/v1/stays/{stay}/fees"), &json!({"lines": small_fees()})).await.expect("hub");
    assert_eq!(fees.fen("charges_fen"), 12_500, "{fees:?}");
    stay
}

#[tokio::test]
async fn a_stays_fee_withdrawal_the_platform_made_but_answered_busy_is_withdrawn() {
    let w = World::new("undo-2302-busy").await;
    let stay = in_ward_with_fees(&w, "ZY-U10").await;
    w.next("2302", Rule::ForwardThenAnswer(200, BUSY));
    let withdrawn = withdraw_from_stay(&w, &stay, &w.his.next_key()).await;
    assert_eq!((withdrawn.status, withdrawn.fen("charges_fen")), (200, 2_500), "{withdrawn:?}");
    assert_eq!((w.platform.sent("2302"), w.platform.sent("5204")), (1, 1), "one withdrawal, asked about once");

    // Line 2 goes up again under its number, and the bedside click settles what both ends hold.
    let again = json!({"lines": [fee_line("2", "XA01AAA0002", "90.00", "1", "90.00")]});
    let fees = w.his.post(&format!("/api/v1/stays/{stay}/fees"), &again).await.expect("hub");
    assert_eq!((fees.status, fees.fen("charges_fen")), (200, 11_500), "{fees:?}");
    let settled = w.his.post(&format!("/api/v1/stays/{stay}/discharge"), &json!({})).await.expect("hub");
    assert_eq!((settled.body["state"].as_str(), settled.body["settlement"]["medfee_fen"].as_i64()), (Some("settled"), Some(11_500)));
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_stays_fee_withdrawal_the_platform_really_refused_stands_and_one_5204_cannot_confirm_waits() {
    let w = World::new("undo-2302-refused").await;
    let stay = in_ward_with_fees(&w, "ZY-U11").await;
    w.next("2302", Rule::AnswerAlone(200, r#"{"infcode":-1,"err_msg":"费用明细已审核，不允许撤销","output":null}"#));
    let refused = withdraw_from_stay(&w, &stay, &w.his.next_key()).await;
    assert_eq!((refused.status, refused.code()), (422, Some("insurance_refused")), "{refused:?}");
    assert_eq!(w.platform.sent("5204"), 1, "asked before it was believed");
    let read = w.his.get(&format!("/api/v1/stays/{stay}")).await.expect("hub");
    assert_eq!((read.body["state"].as_str(), read.fen("charges_fen")), (Some("in_ward"), 12_500), "{read:?}");

    // Withdrawn, answered busy, and the fee query lost: in doubt, until the same key again.
    let key = w.his.next_key();
    w.next("2302", Rule::ForwardThenAnswer(200, BUSY));
    w.next("5204", Rule::AnswerAlone(502, LOST));
    let first = withdraw_from_stay(&w, &stay, &key).await;
    assert_eq!((first.status, first.code()), (503, Some("insurance_unavailable")), "{first:?}");
    assert_eq!(stay_state(&w, &stay).await, "withdrawing_fees");
    let again = withdraw_from_stay(&w, &stay, &key).await;
    assert_eq!((again.status, again.fen("charges_fen")), (200, 2_500), "{again:?}");
}

/// 5204 listing some of the withdrawn lines and not others: no withdrawal the hub sent.
const HALF_GONE: &str = r#"{"infcode":0,"err_msg":"成功","output":{"feedetail":[{"feedetl_sn":"2","setl_id":""}]}}"#;

/// A visit `ipt_otp_no` whose withdrawal of both lines (under the key returned) the platform made
/// and answered busy, its fee query (5204) still listing line 2 through every recovery pass: each
/// pass sends 2205 again under its msgid and asks again, to the same half answer; it is counted,
/// and the last pass parks it instead of asking for ever.
async fn a_parked_withdrawal(w: &World, ipt_otp_no: &str) -> (String, String) {
    let visit = w.visit_with(ipt_otp_no, &small_fees()).await;
    let key = w.his.next_key();
    w.next("2205", Rule::ForwardThenAnswer(200, BUSY));
    w.next("5204", Rule::AnswerAlone(200, HALF_GONE));
    let first = withdraw(w, &visit, &key).await;
    assert_eq!((first.status, first.code()), (503, Some("insurance_unavailable")), "{first:?}");
    for _ in 0..wugan_hub::app::MAX_ATTEMPTS {
        w.next("2205", Rule::AnswerAlone(200, BUSY));
        w.next("5204", Rule::AnswerAlone(200, HALF_GONE));
        w.sys.app.resume_unfinished(Duration::ZERO).await.expect("recovery runs");
    }
    (visit, key)
}

#[tokio::test]
async fn a_withdrawal_5204_shows_half_done_is_parked_for_an_operator_who_finishes_it() {
    let w = World::new("undo-2205-parked").await;
    let (visit, key) = a_parked_withdrawal(&w, "MZ-U9").await;
    let queue = w.operator.get("/api/v1/exceptions").await.expect("hub");
    let parked = &queue.body["fee_withdrawals"];
    assert_eq!(parked.as_array().map(Vec::len), Some(1), "{queue:?}");
    assert_eq!((parked[0]["visit_id"].as_str(), parked[0]["state"].as_str()), (Some(visit.as_str()), Some("sending")));
    assert_eq!(parked[0]["attempts"].as_i64(), Some(wugan_hub::app::MAX_ATTEMPTS), "{parked}");
    let reason = parked[0]["parked_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("5204 still lists 1 of the 2"), "{parked}");
    // Told to an operator, who retries with a button: neither "did not answer" (the center did) nor
    // the HIS's instruction about its Idempotency-Key.
    assert!(!reason.contains("did not answer") && !reason.contains("Idempotency-Key"), "{reason}");
    let page = ops_exceptions_page(&w).await;
    let entry = page.split(&format!("id=\"parked-withdrawal-{}\"", id(&parked[0]["id"]))).nth(1).expect("listed on the operator's page");
    let entry = entry.split("</li>").next().unwrap_or_default();
    assert!(entry.contains("费用明细撤销差错") && entry.contains("5204 still lists") && entry.contains("1, 2"), "{entry}");
    assert!(entry.contains(&format!("href=\"/ops/visits/{visit}\">MZ-U9</a>")), "a link to the visit, by its number: {entry}");
    assert!(entry.contains(&format!("data-api=\"/api/v1/exceptions/fee_withdrawals/{}/retry\"", id(&parked[0]["id"]))), "{entry}");
    let sent = w.platform.sent("2205");
    w.sys.app.resume_unfinished(Duration::ZERO).await.expect("recovery runs");
    assert_eq!(w.platform.sent("2205"), sent, "a parked withdrawal waits for the operator");

    // The HIS's retry is told where it waits; the click stays refused meanwhile.
    let again = withdraw(&w, &visit, &key).await;
    assert_eq!((again.status, again.code()), (409, Some("fee_withdrawal_parked")), "{again:?}");
    assert!(again.message().contains("5204 still lists"), "{again:?}");
    let click = w.his.settle(&visit).await.expect("hub");
    assert_eq!(click.status, 409, "{click:?}");

    // The operator, once the center's record is whole, sends it round again: 2205 under its msgid,
    // and 5204 (the center itself now) lists neither line: withdrawn.
    w.next("2205", Rule::AnswerAlone(200, BUSY));
    let id = id(&parked[0]["id"]);
    let retried = w.operator.post(&format!("/api/v1/exceptions/fee_withdrawals/{id}/retry"), &json!({})).await.expect("hub");
    assert_eq!((retried.status, retried.body["state"].as_str()), (200, Some("withdrawn")), "{retried:?}");
    assert_eq!(retried.body["parked_reason"], Value::Null, "{retried:?}");
    let queue = w.operator.get("/api/v1/exceptions").await.expect("hub");
    assert_eq!(queue.body["fee_withdrawals"], json!([]), "{queue:?}");
    let twice = w.operator.post(&format!("/api/v1/exceptions/fee_withdrawals/{id}/retry"), &json!({})).await.expect("hub");
    assert_eq!((twice.status, twice.code()), (409, Some("not_parked")), "{twice:?}");
    // The HIS's request told it waited for an operator gets its answer under its key now.
    let answered = withdraw(&w, &visit, &key).await;
    assert_eq!((answered.status, answered.body["fee_lines"].as_u64()), (200, Some(0)), "{answered:?}");

    // The hub and the center agree: the new prescription goes up under the old numbers and settles.
    w.fees(&visit, &new_prescription()).await;
    let settled = w.his.settle(&visit).await.expect("hub");
    assert_eq!((settled.body["state"].as_str(), settled.fen("medfee_fen")), (Some("settled"), 11_000), "{settled:?}");
    w.ledger_balances().await;
}

#[tokio::test]
async fn an_operator_who_finds_the_withdrawal_done_at_the_center_ends_it_by_hand() {
    let w = World::new("undo-2205-resolved").await;
    let (visit, key) = a_parked_withdrawal(&w, "MZ-U12").await;
    let queue = w.operator.get("/api/v1/exceptions").await.expect("hub");
    let id = id(&queue.body["fee_withdrawals"][0]["id"]);
    let page = ops_exceptions_page(&w).await;
    assert!(page.contains(&format!("data-api=\"/api/v1/exceptions/fee_withdrawals/{id}/resolve\"")), "the operator's form is on the page");

    // The operator's word is required, and must say one of the two things the center can show.
    let resolve = format!("/api/v1/exceptions/fee_withdrawals/{id}/resolve");
    let vague = w.operator.post(&resolve, &json!({"outcome": "partly", "note": "looked"})).await.expect("hub");
    assert_eq!((vague.status, vague.code()), (422, Some("bad_outcome")), "{vague:?}");
    let silent = w.operator.post(&resolve, &json!({"outcome": "withdrawn", "note": "  "})).await.expect("hub");
    assert_eq!((silent.status, silent.code()), (422, Some("missing_field")), "{silent:?}");

    // The center's console shows both lines withdrawn: the operator says so. Nothing is sent.
    let sent = (w.platform.sent("2205"), w.platform.sent("5204"));
    let note = "中心系统显示两条明细均已撤销 (ticket GZ-1203-11)";
    let ended = w.operator.post(&resolve, &json!({"outcome": "withdrawn", "note": note})).await.expect("hub");
    assert_eq!(
        (ended.status, ended.body["state"].as_str(), ended.body["resolution"].as_str()),
        (200, Some("withdrawn"), Some(note)),
        "{ended:?}"
    );
    assert_eq!(ended.body["parked_reason"], Value::Null, "{ended:?}");
    assert_eq!((w.platform.sent("2205"), w.platform.sent("5204")), sent, "nothing sent to the center");
    let queue = w.operator.get("/api/v1/exceptions").await.expect("hub");
    assert_eq!(queue.body["fee_withdrawals"], json!([]), "{queue:?}");
    let audit = w.sys.app.store.audit_entries(None, 50).await.expect("the audit log");
    assert!(audit.iter().any(|e| e.action == "fee_withdrawal_resolved" && e.target == id && e.outcome == "withdrawn"), "{audit:?}");
    // Asked again, it answers as it ended; the HIS's own request gets its answer under its key.
    let again = w.operator.post(&resolve, &json!({"outcome": "refused", "note": "second thoughts"})).await.expect("hub");
    assert_eq!((again.status, again.body["state"].as_str()), (200, Some("withdrawn")), "{again:?}");
    let answered = withdraw(&w, &visit, &key).await;
    assert_eq!((answered.status, answered.body["fee_lines"].as_u64()), (200, Some(0)), "{answered:?}");

    // The visit is free: the new prescription goes up under the old numbers and settles.
    w.fees(&visit, &new_prescription()).await;
    let settled = w.his.settle(&visit).await.expect("hub");
    assert_eq!((settled.body["state"].as_str(), settled.fen("medfee_fen")), (Some("settled"), 11_000), "{settled:?}");
    w.ledger_balances().await;
}

/// The operator's exceptions page (`/ops/exceptions`), signed in as an operator.
async fn ops_exceptions_page(w: &World) -> String {
    use wugan_hub::app::staff::{NewStaffRequest, StaffRole};
    let (login, password) = ("ops-undo", "a long operator password");
    let staff = NewStaffRequest {
        login: login.into(),
        display_name: "运营值班".into(),
        role: StaffRole::Operator.as_str().into(),
        hospital_code: None,
        bank_code: None,
        password: password.into(),
        totp: false,
    };
    w.sys.app.add_staff(staff).await.expect("an operator is added");
    let http = reqwest::Client::new();
    let session = json!({"login": login, "password": password}).to_string();
    let signed_in = http.post(format!("{}/api/v1/staff/sessions", w.sys.hub_url)).body(session).send().await.expect("hub");
    let cookie = signed_in.headers()["set-cookie"].to_str().expect("cookie").split(';').next().unwrap_or_default().to_string();
    let page = http.get(format!("{}/ops/exceptions", w.sys.hub_url)).header("cookie", cookie).send().await.expect("hub");
    assert_eq!(page.status().as_u16(), 200);
    page.text().await.expect("a page")
}

/// A Guangzhou HIS reads 5204's `output` as the list of lines itself, with no node around it.
const LINES_1_AND_2: &str = r#"{"infcode":0,"err_msg":"成功","output":[{"mdtrt_id":"M","setl_id":"","feedetl_sn":"1"},{"mdtrt_id":"M","setl_id":"","feedetl_sn":"2"}]}"#;
const ONLY_ANOTHER_LINE: &str = r#"{"infcode":0,"err_msg":"成功","output":[{"mdtrt_id":"M","setl_id":"","feedetl_sn":"9"}]}"#;

#[tokio::test]
async fn a_5204_whose_output_is_the_list_itself_is_read_both_ways() {
    let w = World::new("undo-2205-list").await;
    let refusal = r#"{"infcode":-1,"err_msg":"该就诊费用已上传审核，不允许撤销","output":null}"#;
    // Refused, and the list holds both lines: the refusal stands.
    let kept = w.visit_with("MZ-U10", &small_fees()).await;
    w.next("2205", Rule::AnswerAlone(200, refusal));
    w.next("5204", Rule::AnswerAlone(200, LINES_1_AND_2));
    let refused = withdraw(&w, &kept, &w.his.next_key()).await;
    assert_eq!((refused.status, refused.code()), (422, Some("insurance_refused")), "{refused:?}");
    // Withdrawn and answered busy, and the list holds neither: withdrawn.
    let gone = w.visit_with("MZ-U11", &small_fees()).await;
    w.next("2205", Rule::ForwardThenAnswer(200, BUSY));
    w.next("5204", Rule::AnswerAlone(200, ONLY_ANOTHER_LINE));
    let withdrawn = withdraw(&w, &gone, &w.his.next_key()).await;
    assert_eq!((withdrawn.status, withdrawn.body["fee_lines"].as_u64()), (200, Some(0)), "{withdrawn:?}");
}

#[tokio::test]
async fn a_bedside_click_waits_for_a_days_upload_still_with_the_center() {
    // Review r25 ward F1: a click while a day's 2301 was out settled on the lines already taken; the
    // center, holding the new ones too, refused its 2303 for the total, and the stay sat
    // `settlement_refused` with its deposit held.
    let w = World::new("ward-click-waits").await;
    let (stay, _) = admitted(&w, "ZY-U20").await;
    let path = format!("/api/v1/stays/{stay}/fees");
    let key = w.his.next_key();
    w.next("2301", Rule::ForwardThenAnswer(502, LOST));
    let lost = w.his.post_with_key(&path, &key, &json!({"lines": small_fees()})).await.expect("hub");
    assert_eq!(lost.status, 503, "{lost:?}");
    let click = w.his.post(&format!("/api/v1/stays/{stay}/discharge"), &json!({})).await.expect("hub");
    assert_eq!((click.status, click.code()), (409, Some("upload_in_progress")), "{click:?}");
    assert_eq!((w.platform.sent("2402"), stay_state(&w, &stay).await), (0, json!("in_ward")), "nothing sent, still in the ward");
    // A corrected line under the same number is not that upload sent again: it waits for it.
    let mut corrected = small_fees();
    corrected[0]["med_list_codg"] = json!("XL04AXL150E001010100136");
    let other = w.his.post(&path, &json!({"lines": corrected})).await.expect("hub");
    assert_eq!((other.status, other.code()), (409, Some("upload_in_progress")), "{other:?}");
    // The upload sent again (its msgid; the center replays), then the click settles every line.
    let again = w.his.post_with_key(&path, &key, &json!({"lines": small_fees()})).await.expect("hub");
    assert!(again.ok(), "{again:?}");
    let click = w.his.post(&format!("/api/v1/stays/{stay}/discharge"), &json!({})).await.expect("hub");
    assert_eq!((click.status, click.body["state"].as_str()), (200, Some("settled")), "{click:?}");
    assert_eq!(click.body["settlement"]["medfee_fen"], again.body["charges_fen"], "{click:?}");
    w.ledger_balances().await;
}
