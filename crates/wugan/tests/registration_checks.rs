//! A refused registration is asked about before it is believed (review r22, F3): a platform that
//! registered a visit (2201) or admitted a stay (2401) and then answered its own timeout with
//! infcode -1 "系统繁忙" made the hub answer `422 insurance_refused` and forget the visit, while the
//! center held a registration nobody would settle or cancel, and refused the hospital's next
//! registration of that number as "already registered". Now the person's visits at the center
//! (5201) are the answer; what 5201 cannot tell stays in doubt, and the retry with the same
//! Idempotency-Key finishes it, never registering twice.

use serde_json::{json, Value};

mod common;
use common::own_platform::{small_fees, Rule, World, EMPLOYEE_TOKEN, LOST};

const BUSY: &str = r#"{"infcode":-1,"err_msg":"系统繁忙，请稍后重试[服务调用超时]","output":null}"#;
/// A platform that does not replay a msgid refuses the number it registered.
const ALREADY: &str = r#"{"infcode":-1,"err_msg":"该门诊号已登记，请勿重复挂号","output":null}"#;
/// A platform that answers an empty query with a refusal.
const NONE_FOUND: &str = r#"{"infcode":-1,"err_msg":"未查询到就诊信息","output":null}"#;

fn id(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The registration `HisClient::register` sends, to be sent again under one key.
fn registration(ipt_otp_no: &str) -> Value {
    json!({"ipt_otp_no": ipt_otp_no, "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "med_type": "11",
           "dept_code": "A03", "dept_name": "内科", "dr_name": "王医生"})
}

fn admission(ipt_no: &str) -> Value {
    json!({"ipt_no": ipt_no, "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "deposit_fen": 50_000})
}

/// The visit registered under the hub's `mdtrt_id` at the platform is the hospital's number, live.
async fn registered_at_the_platform(w: &World, mdtrt_id: &str, number: &str) {
    let at_center = w.platform.visit(mdtrt_id).await;
    assert_eq!((at_center["ipt_otp_no"].as_str(), at_center["cancelled"].as_bool()), (Some(number), Some(false)), "{at_center}");
}

#[tokio::test]
async fn a_registration_the_platform_made_but_answered_busy_is_the_visit_and_settles() {
    let w = World::new("registration-busy").await;
    w.next("2201", Rule::ForwardThenAnswer(200, BUSY));
    let visit = w.his.register("MZ-R1", "01", EMPLOYEE_TOKEN).await.expect("hub");
    assert_eq!((visit.status, visit.body["status"].as_str()), (200, Some("registered")), "{visit:?}");
    let mdtrt_id = id(&visit.body["mdtrt_id"]);
    registered_at_the_platform(&w, &mdtrt_id, "MZ-R1").await;
    assert_eq!((w.platform.sent("2201"), w.platform.sent("5201")), (1, 1), "one registration, asked about once");

    // The visit goes on as registered: fees, the click, the bank paid.
    let visit = id(&visit.body["id"]);
    w.fees(&visit, &small_fees()).await;
    let settled = w.his.settle(&visit).await.expect("hub");
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    assert!(w.line_used().await > 0);
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_registration_the_platform_really_refused_stands_and_the_number_stays_free() {
    let w = World::new("registration-refused").await;
    let lost_card = r#"{"infcode":-1,"err_msg":"该人员医保凭证已挂失，不能挂号","output":null}"#;
    w.next("2201", Rule::AnswerAlone(200, lost_card));
    let refused = w.his.register("MZ-R2", "01", EMPLOYEE_TOKEN).await.expect("hub");
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (422, Some("insurance_refused")), "{refused:?}");
    assert!(refused.body["error"]["message"].as_str().unwrap_or_default().contains("挂失"), "the center's words: {refused:?}");
    assert_eq!(w.platform.sent("5201"), 1, "asked before it was believed");

    // A platform that says "nothing found" with a refusal of its own: the refusal stands too.
    w.next("2201", Rule::AnswerAlone(200, lost_card));
    w.next("5201", Rule::AnswerAlone(200, NONE_FOUND));
    let again = w.his.register("MZ-R2", "01", EMPLOYEE_TOKEN).await.expect("hub");
    assert_eq!((again.status, again.body["error"]["code"].as_str()), (422, Some("insurance_refused")), "{again:?}");
    // A platform without 5201 never tells: its refusal is believed, as before 5201 was asked.
    w.next("2201", Rule::AnswerAlone(200, lost_card));
    w.next("5201", Rule::AnswerAlone(200, r#"{"infcode":-1,"err_msg":"不支持的交易编号 5201","output":null}"#));
    let unchecked = w.his.register("MZ-R2", "01", EMPLOYEE_TOKEN).await.expect("hub");
    assert_eq!((unchecked.status, unchecked.body["error"]["code"].as_str()), (422, Some("insurance_refused")), "{unchecked:?}");
    let listed = w.his.get("/api/v1/visits?ipt_otp_no=MZ-R2").await.expect("hub");
    assert_eq!(listed.body["visits"].as_array().map(Vec::len), Some(0), "the hub keeps no visit: {listed:?}");

    // Nothing was registered at the center, so the number is free for the next registration.
    let registered = w.his.register("MZ-R2", "01", EMPLOYEE_TOKEN).await.expect("hub");
    assert_eq!(registered.body["status"], "registered", "{registered:?}");
    registered_at_the_platform(&w, &id(&registered.body["mdtrt_id"]), "MZ-R2").await;
}

#[tokio::test]
async fn a_registration_5201_cannot_confirm_is_in_doubt_until_the_retry_with_the_same_key() {
    let w = World::new("registration-in-doubt").await;
    let key = w.his.next_key();
    // Registered, answered busy, and the visits' query lost: not a refusal the hub can pass on.
    w.next("2201", Rule::ForwardThenAnswer(200, BUSY));
    w.next("5201", Rule::AnswerAlone(502, LOST));
    let first = w.his.post_with_key("/api/v1/visits", &key, &registration("MZ-R3")).await.expect("hub");
    assert_eq!((first.status, first.body["error"]["code"].as_str()), (503, Some("insurance_unavailable")), "{first:?}");

    // Asked again and answered busy again, the query too: still in doubt.
    w.next("2201", Rule::AnswerAlone(200, BUSY));
    w.next("5201", Rule::AnswerAlone(200, BUSY));
    let second = w.his.post_with_key("/api/v1/visits", &key, &registration("MZ-R3")).await.expect("hub");
    assert_eq!(second.status, 503, "{second:?}");

    // The same registration again: the platform replays its first answer, the visit is registered.
    let third = w.his.post_with_key("/api/v1/visits", &key, &registration("MZ-R3")).await.expect("hub");
    assert_eq!((third.status, third.body["status"].as_str()), (200, Some("registered")), "{third:?}");
    registered_at_the_platform(&w, &id(&third.body["mdtrt_id"]), "MZ-R3").await;
    let listed = w.his.get("/api/v1/visits?ipt_otp_no=MZ-R3").await.expect("hub");
    assert_eq!(listed.body["visits"].as_array().map(Vec::len), Some(1), "{listed:?}");
}

#[tokio::test]
async fn a_registration_resent_to_a_platform_that_does_not_replay_its_msgid_is_registered_once() {
    let w = World::new("registration-resent").await;
    let key = w.his.next_key();
    // Registered, and the answer lost on the way: the outcome is unknown.
    w.next("2201", Rule::ForwardThenAnswer(502, LOST));
    let first = w.his.post_with_key("/api/v1/visits", &key, &registration("MZ-R4")).await.expect("hub");
    assert_eq!(first.status, 503, "{first:?}");

    // The retry sends the same 2201; this platform does not replay a msgid, and refuses the number
    // as registered. That registration is the visit.
    w.next("2201", Rule::AnswerAlone(200, ALREADY));
    let again = w.his.post_with_key("/api/v1/visits", &key, &registration("MZ-R4")).await.expect("hub");
    assert_eq!((again.status, again.body["status"].as_str()), (200, Some("registered")), "{again:?}");
    let mdtrt_id = id(&again.body["mdtrt_id"]);
    registered_at_the_platform(&w, &mdtrt_id, "MZ-R4").await;
    let replayed = w.his.post_with_key("/api/v1/visits", &key, &registration("MZ-R4")).await.expect("hub");
    assert_eq!((replayed.body["id"].clone(), id(&replayed.body["mdtrt_id"])), (again.body["id"].clone(), mdtrt_id), "{replayed:?}");
    assert_eq!(w.platform.sent("2201"), 2, "the stored answer: nothing sent again");
}

#[tokio::test]
async fn an_admission_the_platform_made_but_answered_busy_is_the_stay_and_a_real_refusal_stands() {
    let w = World::new("admission-busy").await;
    w.next("2401", Rule::AnswerAlone(200, r#"{"infcode":-1,"err_msg":"该人员有未办理出院的住院记录","output":null}"#));
    let refused = w.his.post("/api/v1/stays", &admission("ZY-R5")).await.expect("hub");
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (422, Some("insurance_refused")), "{refused:?}");
    assert_eq!(w.platform.sent("5201"), 1, "asked first");

    w.next("2401", Rule::ForwardThenAnswer(200, BUSY));
    let admitted = w.his.post("/api/v1/stays", &admission("ZY-R5")).await.expect("hub");
    assert_eq!((admitted.status, admitted.body["state"].as_str()), (200, Some("in_ward")), "{admitted:?}");
    registered_at_the_platform(&w, &id(&admitted.body["mdtrt_id"]), "ZY-R5").await;
    assert_eq!(admitted.body["held_fen"].as_i64(), Some(50_000), "the deposit is held: {admitted:?}");

    // The stay goes on: cancelled at the center (2404) with its hold released.
    let out = w.his.post(&format!("/api/v1/stays/{}/cancel", id(&admitted.body["id"])), &json!({})).await.expect("hub");
    assert!(out.ok(), "{out:?}");
    assert_eq!(w.platform.visit(&id(&admitted.body["mdtrt_id"])).await["cancelled"], true);
    w.ledger_balances().await;
}

#[tokio::test]
async fn an_admission_5201_cannot_confirm_is_in_doubt_until_the_retry_with_the_same_key() {
    let w = World::new("admission-in-doubt").await;
    let key = w.his.next_key();
    w.next("2401", Rule::ForwardThenAnswer(200, BUSY));
    w.next("5201", Rule::AnswerAlone(502, LOST));
    let first = w.his.post_with_key("/api/v1/stays", &key, &admission("ZY-R6")).await.expect("hub");
    assert_eq!((first.status, first.body["error"]["code"].as_str()), (503, Some("insurance_unavailable")), "{first:?}");
    let stay = w.his.get("/api/v1/stays?ipt_no=ZY-R6").await.expect("hub");
    assert_eq!(stay.body["stays"][0]["held_fen"], 0, "nothing held while the admission is in doubt: {stay:?}");

    // A platform that does not replay the msgid: "already admitted", and 5201 lists the admission.
    w.next("2401", Rule::AnswerAlone(200, r#"{"infcode":-1,"err_msg":"住院号已办理入院","output":null}"#));
    let again = w.his.post_with_key("/api/v1/stays", &key, &admission("ZY-R6")).await.expect("hub");
    assert_eq!((again.status, again.body["state"].as_str()), (200, Some("in_ward")), "{again:?}");
    registered_at_the_platform(&w, &id(&again.body["mdtrt_id"]), "ZY-R6").await;
    assert_eq!((w.platform.sent("2401"), again.body["held_fen"].as_i64()), (2, Some(50_000)), "{again:?}");
}
