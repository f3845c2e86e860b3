//! The seed stories, end to end over HTTP: a real hub, insurance center and bank on loopback.
//! Runs on SQLite by default; with WUGAN_TEST_DATABASE_URL=postgres://… (an admin URL), each test
//! gets a fresh PostgreSQL database instead.

use serde_json::{json, Value};
use wugan::his::{fee_line, HisClient, Reply};
use wugan::system::{self, System};
use wugan_hub::app::Keyed;

mod common;

/// The sample persons of the built-in insurance center.
const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";
const EMPLOYEE_CERTNO: &str = "440301199001011234";
const EMPLOYEE_PSN_NO: &str = "44030000000000000001";
const RESIDENT_CERTNO: &str = "440304198507203318";
const RETIREE_CERTNO: &str = "440303195803152420";

struct World {
    sys: System,
    operator: HisClient,
    his: HisClient,
    other_hospital: HisClient,
    _dir: common::TempDir,
}

async fn world() -> World {
    let (opts, dir) = common::fresh_options("test").await;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let other_hospital = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[1].api_key);
    World { sys, operator, his, other_hospital, _dir: dir }
}

fn credit_line() -> Value {
    json!({"method": "credit_line", "bank_code": "BANK01"})
}

fn debit_card() -> Value {
    json!({"method": "debit_card", "bank_code": "BANK01", "card_no": "6222020200112233445"})
}

/// An ordinary visit's fees: consultation 25.00, blood count 20.00, two boxes of amoxicillin 37.00.
fn ordinary_fees(visit_no: &str) -> Vec<Value> {
    vec![
        fee_line(&format!("{visit_no}-1"), "001102000010000", "25.00", "1", "25.00"),
        fee_line(&format!("{visit_no}-2"), "250101001000000", "20.00", "1", "20.00"),
        fee_line(&format!("{visit_no}-3"), "XJ01CAA040E001010101923", "18.50", "2", "37.00"),
    ]
}

impl World {
    async fn signed_visit(&self, visit_no: &str, cert_type: &str, cert_no: &str, payment: Value) -> (String, Reply) {
        let agreement = self.operator.sign_up(cert_type, cert_no, true, payment).await.unwrap();
        assert!(agreement.ok(), "sign-up: {agreement:?}");
        let visit = self.his.register(visit_no, cert_type, cert_no).await.unwrap();
        assert!(visit.ok(), "registration: {visit:?}");
        assert_eq!(visit.body["seamless"]["enabled"], json!(true));
        (visit.body["id"].as_str().unwrap().to_string(), agreement)
    }

    async fn ledger(&self) -> Value {
        let r = self.operator.get("/api/v1/ledger").await.unwrap();
        assert!(r.ok(), "{r:?}");
        r.body
    }

    async fn bank_agreement(&self, agreement_id: &str) -> Value {
        self.operator.get(&format!("/api/v1/agreements/{agreement_id}")).await.unwrap().body["payment"].clone()
    }

    async fn insurance_person(&self, psn_no: &str) -> Value {
        common::insurance_sandbox(&self.sys, &format!("/sandbox/persons/{psn_no}")).await
    }
}

fn fen(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} missing in {v}"))
}

#[tokio::test]
async fn a_signed_patient_pays_nothing_at_a_window_and_the_hospital_gets_the_whole_total() {
    let w = world().await;
    let (visit, agreement) = w.signed_visit("MZ0001", "01", EMPLOYEE_TOKEN, credit_line()).await;
    let up = w.his.upload_fees(&visit, &ordinary_fees("MZ0001")).await.unwrap();
    assert!(up.ok(), "{up:?}");
    assert_eq!(fen(&up.body, "medfee_fen"), 8200);

    let estimate = w.his.pre_settle(&visit).await.unwrap();
    assert!(estimate.ok(), "{estimate:?}");

    let s = w.his.settle(&visit).await.unwrap();
    assert!(s.ok(), "{s:?}");
    let b = &s.body;
    assert_eq!(b["state"], "settled");
    assert_eq!(fen(b, "medfee_fen"), 8200);
    assert_eq!(fen(b, "fund_fen") + fen(b, "personal_account_fen") + fen(b, "bank_fen"), 8200, "the shares add up to the visit total");
    assert_eq!(fen(b, "unpaid_fen"), 0);
    assert_eq!(fen(b, "hospital_credited_fen"), 8200);
    assert_eq!(fen(b, "bank_fen"), fen(b, "cash_fen"));
    assert_eq!(estimate.body["estimate"]["cash_fen"], b["cash_fen"], "the estimate was the final figure");

    let ledger = w.ledger().await;
    assert_eq!(ledger["balanced"], json!(true));
    assert_eq!(fen(&ledger, "hospitals_received_fen"), 8200);

    // The bank's own books agree with the hub's: the credit line carries exactly the cash share.
    let line = w.bank_agreement(agreement.body["id"].as_str().unwrap()).await;
    assert_eq!(fen(&line, "used_fen"), fen(b, "bank_fen"));
    assert_eq!(fen(&line, "held_fen"), 0);
}

#[tokio::test]
async fn a_retried_click_returns_the_same_settlement_and_a_second_click_is_refused() {
    let w = world().await;
    let (visit, _) = w.signed_visit("MZ0002", "02", EMPLOYEE_CERTNO, credit_line()).await;
    assert!(w.his.upload_fees(&visit, &ordinary_fees("MZ0002")).await.unwrap().ok());
    let path = format!("/api/v1/visits/{visit}/settlement");
    let first = w.his.post_with_key(&path, "click-1", &json!({})).await.unwrap();
    let retry = w.his.post_with_key(&path, "click-1", &json!({})).await.unwrap();
    assert!(first.ok(), "{first:?}");
    assert_eq!(first.body, retry.body, "a retry with the same key replays the first answer");

    let again = w.his.post_with_key(&path, "click-2", &json!({})).await.unwrap();
    assert_eq!(again.status, 409);
    assert_eq!(again.code(), Some("already_settled"));
    assert_eq!(again.body["error"]["settlement_id"], first.body["id"], "the settlement standing is named: {again:?}");

    let reused = w.his.post_with_key(&path, "click-1", &json!({"extra": 1})).await.unwrap();
    assert_eq!(reused.code(), Some("idempotency_key_reused"));

    // A retry the HIS wrote again (its keys in another order, pretty-printed) is the same request;
    // a value changed is another.
    let sent = r#"{"ipt_otp_no":"MZ0002-B","mdtrt_cert_type":"02","mdtrt_cert_no":"EMPLOYEE","med_type":"11","dept_name":"内科"}"#
        .replace("EMPLOYEE", EMPLOYEE_CERTNO);
    let registered = w.his.raw("POST", "/api/v1/visits", Some("reg-b"), Some(&sent)).await.unwrap();
    assert!(registered.ok(), "{registered:?}");
    let rewritten = format!(
        "{{\n  \"dept_name\": \"内科\",\n  \"med_type\": \"11\",\n  \"mdtrt_cert_no\": \"{EMPLOYEE_CERTNO}\",\n  \"mdtrt_cert_type\": \"02\",\n  \"ipt_otp_no\": \"MZ0002-B\"\n}}"
    );
    let again = w.his.raw("POST", "/api/v1/visits", Some("reg-b"), Some(&rewritten)).await.unwrap();
    assert_eq!((again.status, &again.body), (200, &registered.body), "the same registration, replayed");
    let changed = w.his.raw("POST", "/api/v1/visits", Some("reg-b"), Some(&rewritten.replace("内科", "外科"))).await.unwrap();
    assert_eq!(changed.code(), Some("idempotency_key_reused"), "{changed:?}");

    // A body the hub could not read (400) used nothing up: the corrected request under the same
    // key is worked (review r25 F6).
    let unread = w
        .his
        .raw("POST", "/api/v1/visits", Some("reg-c"), Some(&sent.replace("MZ0002-B", "MZ0002-C").replace("}", ",\"remark\":1}")))
        .await
        .unwrap();
    assert_eq!((unread.status, unread.code()), (400, Some("unknown_field")), "{unread:?}");
    let corrected = w.his.raw("POST", "/api/v1/visits", Some("reg-c"), Some(&sent.replace("MZ0002-B", "MZ0002-C"))).await.unwrap();
    assert_eq!(corrected.status, 200, "{corrected:?}");
    assert_eq!(fen(&w.ledger().await, "hospitals_received_fen"), 8200, "paid once");
}

/// Registration, fee upload, click and cancel store their answer in the same commit as their
/// effect; the answer is the state that commit left, and a retry replays it.
#[tokio::test]
async fn each_step_answers_with_the_state_its_commit_left_and_a_retry_replays_it() {
    let w = world().await;
    assert!(w.operator.sign_up("02", EMPLOYEE_CERTNO, true, credit_line()).await.unwrap().ok());
    let registration = json!({"ipt_otp_no": "MZ0042", "mdtrt_cert_type": "02", "mdtrt_cert_no": EMPLOYEE_CERTNO, "med_type": "11"});
    let visit = w.his.post_with_key("/api/v1/visits", "reg-1", &registration).await.unwrap();
    assert!(visit.ok(), "{visit:?}");
    let id = visit.body["id"].as_str().unwrap().to_string();
    assert_eq!(visit.body, w.his.get(&format!("/api/v1/visits/{id}")).await.unwrap().body, "the answer is the stored visit");

    let fees_path = format!("/api/v1/visits/{id}/fees");
    let fees = json!({"lines": ordinary_fees("MZ0042")});
    let uploaded = w.his.post_with_key(&fees_path, "fees-1", &fees).await.unwrap();
    assert!(uploaded.ok(), "{uploaded:?}");
    let stored = w.his.get(&format!("/api/v1/visits/{id}")).await.unwrap().body;
    assert_eq!(uploaded.body["medfee_fen"], stored["medfee_fen"], "the upload's total is the stored one");

    let click_path = format!("/api/v1/visits/{id}/settlement");
    let settled = w.his.post_with_key(&click_path, "click-1", &json!({})).await.unwrap();
    assert!(settled.ok(), "{settled:?}");
    let stored = w.his.get(&format!("/api/v1/visits/{id}")).await.unwrap().body;
    assert_eq!(settled.body, stored["settlement"], "the click's answer is the stored settlement");

    let cancel_path = format!("/api/v1/visits/{id}/settlement/cancel");
    let cancelled = w.his.post_with_key(&cancel_path, "cancel-1", &json!({})).await.unwrap();
    assert_eq!(cancelled.body["state"], "cancelled", "{cancelled:?}");

    for (path, key, body, first) in [
        ("/api/v1/visits", "reg-1", &registration, &visit),
        (fees_path.as_str(), "fees-1", &fees, &uploaded),
        (click_path.as_str(), "click-1", &json!({}), &settled),
        (cancel_path.as_str(), "cancel-1", &json!({}), &cancelled),
    ] {
        let retry = w.his.post_with_key(path, key, body).await.unwrap();
        assert_eq!((retry.status, &retry.body), (first.status, &first.body), "{path}: a retry replays the first answer");
    }
}

#[tokio::test]
async fn an_unsigned_patient_cannot_be_settled_seamlessly_and_is_told_why() {
    let w = world().await;
    let visit = w.his.register("MZ0003", "02", RETIREE_CERTNO).await.unwrap();
    assert!(visit.ok(), "{visit:?}");
    assert_eq!(visit.body["seamless"]["enabled"], json!(false));
    assert_eq!(visit.body["seamless"]["reason"], json!("not_signed"));
    let id = visit.body["id"].as_str().unwrap();
    assert!(w.his.upload_fees(id, &ordinary_fees("MZ0003")).await.unwrap().ok());
    let s = w.his.settle(id).await.unwrap();
    assert_eq!(s.status, 409);
    assert_eq!(s.code(), Some("seamless_not_enabled"));
    assert!(s.message().contains("not signed up"), "{}", s.message());
    assert_eq!(w.ledger().await["transfers"], json!(0));
}

#[tokio::test]
async fn an_exhausted_credit_line_leaves_an_explicit_unpaid_bill() {
    let w = world().await;
    let (visit, agreement) = w.signed_visit("MZ0004", "02", RESIDENT_CERTNO, credit_line()).await;
    // A 6,000-yuan self-paid item: the cash share exceeds the 5,000-yuan line.
    let lines = vec![fee_line("MZ0004-1", "013100000010000", "150.00", "40", "6000.00")];
    assert!(w.his.upload_fees(&visit, &lines).await.unwrap().ok());
    let s = w.his.settle(&visit).await.unwrap();
    assert!(s.ok(), "{s:?}");
    let b = &s.body;
    assert_eq!(b["state"], "settled_unpaid");
    assert_eq!(b["bank"]["decline_code"], "insufficient_credit");
    assert_eq!(fen(b, "bank_fen"), 0);
    assert_eq!(fen(b, "unpaid_fen"), fen(b, "cash_fen"));
    assert_eq!(fen(b, "fund_fen") + fen(b, "personal_account_fen") + fen(b, "unpaid_fen"), 600_000, "nothing is lost");
    let ledger = w.ledger().await;
    assert_eq!(ledger["balanced"], json!(true));
    assert_eq!(fen(&ledger, "hospitals_unpaid_fen"), fen(b, "unpaid_fen"));
    let line = w.bank_agreement(agreement.body["id"].as_str().unwrap()).await;
    assert_eq!((fen(&line, "used_fen"), fen(&line, "held_fen")), (0, 0), "no hold is left behind");
}

#[tokio::test]
async fn cancelling_a_settlement_reverses_insurance_bank_and_hospital() {
    let w = world().await;
    let before = w.insurance_person(EMPLOYEE_PSN_NO).await;
    let (visit, agreement) = w.signed_visit("MZ0005", "01", EMPLOYEE_TOKEN, credit_line()).await;
    let lines = vec![
        fee_line("MZ0005-1", "001102000010000", "25.00", "1", "25.00"),
        fee_line("MZ0005-2", "013100000010000", "150.00", "8", "1200.00"),
    ];
    assert!(w.his.upload_fees(&visit, &lines).await.unwrap().ok());
    let s = w.his.settle(&visit).await.unwrap();
    assert!(s.ok(), "{s:?}");
    assert!(fen(&s.body, "bank_fen") > 0, "this visit needs the bank: {}", s.body);
    let during = w.insurance_person(EMPLOYEE_PSN_NO).await;
    assert_ne!(before["balc"], during["balc"], "the personal account paid part");

    let c = w.his.cancel(&visit).await.unwrap();
    assert!(c.ok(), "{c:?}");
    assert_eq!(c.body["state"], "cancelled");
    assert_eq!(w.insurance_person(EMPLOYEE_PSN_NO).await["balc"], before["balc"], "personal account restored");
    let line = w.bank_agreement(agreement.body["id"].as_str().unwrap()).await;
    assert_eq!(fen(&line, "used_fen"), 0, "bank refunded");
    let ledger = w.ledger().await;
    assert_eq!(ledger["balanced"], json!(true));
    assert_eq!(fen(&ledger, "hospitals_received_fen"), 0, "hospital debited");
    let again = w.his.cancel(&visit).await.unwrap();
    assert_eq!(again.code(), Some("already_cancelled"));
}

#[tokio::test]
async fn a_cancelled_visit_can_be_corrected_and_settled_again_as_a_new_attempt() {
    let w = world().await;
    let (visit, agreement) = w.signed_visit("MZ0051", "01", EMPLOYEE_TOKEN, credit_line()).await;
    let lines = vec![
        fee_line("MZ0051-1", "001102000010000", "25.00", "1", "25.00"),
        fee_line("MZ0051-2", "013100000010000", "150.00", "8", "1200.00"),
    ];
    assert!(w.his.upload_fees(&visit, &lines).await.unwrap().ok());
    let first = w.his.settle(&visit).await.unwrap();
    assert!(first.ok(), "{first:?}");
    assert_eq!(first.body["bank"]["held_fen"], json!(0), "a settled settlement holds nothing at the bank: {}", first.body);
    let c = w.his.cancel(&visit).await.unwrap();
    assert_eq!(c.body["state"], "cancelled", "{c:?}");

    // The doctor forgot a line: the cancellation closed the attempt's lines at the insurance
    // center, so the hospital sends the corrected list (same line numbers) and the doctor clicks again.
    let mut corrected = lines.clone();
    corrected.push(fee_line("MZ0051-3", "250101001000000", "20.00", "1", "20.00"));
    let up = w.his.upload_fees(&visit, &corrected).await.unwrap();
    assert!(up.ok(), "fees can be sent again after a cancelled attempt: {up:?}");
    assert_eq!(fen(&up.body, "medfee_fen"), 124_500, "only the corrected list counts: {}", up.body);
    let second = w.his.settle(&visit).await.unwrap();
    assert!(second.ok(), "{second:?}");
    assert_eq!(second.body["state"], "settled");
    assert_ne!(second.body["id"], first.body["id"], "each attempt is its own settlement");
    assert_ne!(second.body["setl_id"], first.body["setl_id"], "and its own insurance settlement");
    assert_eq!(fen(&second.body, "medfee_fen"), 124_500);
    let paid = fen(&second.body, "fund_fen") + fen(&second.body, "personal_account_fen") + fen(&second.body, "bank_fen");
    assert_eq!(paid, 124_500, "the whole corrected total is paid: {}", second.body);
    let line = w.bank_agreement(agreement.body["id"].as_str().unwrap()).await;
    assert_eq!(fen(&line, "used_fen"), fen(&second.body, "bank_fen"), "the bank carries only the second attempt");
    assert_eq!(fen(&line, "held_fen"), 0, "no hold outlives its settlement");
    let ledger = w.ledger().await;
    assert_eq!(ledger["balanced"], json!(true));
    assert_eq!(fen(&ledger, "hospitals_received_fen"), 124_500);
    let again = w.his.settle(&visit).await.unwrap();
    assert_eq!(again.code(), Some("already_settled"), "a standing settlement is not settled twice");
}

#[tokio::test]
async fn a_debit_card_pays_the_cash_share() {
    let w = world().await;
    let (visit, agreement) = w.signed_visit("MZ0006", "02", RESIDENT_CERTNO, debit_card()).await;
    let before = fen(&w.bank_agreement(agreement.body["id"].as_str().unwrap()).await, "balance_fen");
    assert!(w.his.upload_fees(&visit, &ordinary_fees("MZ0006")).await.unwrap().ok());
    let s = w.his.settle(&visit).await.unwrap();
    assert!(s.ok(), "{s:?}");
    let after = fen(&w.bank_agreement(agreement.body["id"].as_str().unwrap()).await, "balance_fen");
    assert_eq!(before - after, fen(&s.body, "bank_fen"));
    assert_eq!(fen(&s.body, "hospital_credited_fen"), 8200);
}

#[tokio::test]
async fn bad_input_is_refused_with_a_stable_code_and_nothing_is_written() {
    let w = world().await;
    let (visit, _) = w.signed_visit("MZ0007", "02", EMPLOYEE_CERTNO, credit_line()).await;
    let fees = format!("/api/v1/visits/{visit}/fees");
    let check = |r: Reply, status: u16, code: &str| {
        assert_eq!((r.status, r.code()), (status, Some(code)), "{r:?}");
    };
    check(w.his.raw("POST", &fees, Some("b1"), Some("{not json")).await.unwrap(), 400, "malformed_json");
    check(w.his.post(&fees, &json!({"lines": [], "surprise": true})).await.unwrap(), 400, "unknown_field");
    check(w.his.upload_fees(&visit, &[fee_line("X-1", "001102000010000", "25.00", "1", "-25.00")]).await.unwrap(), 422, "bad_amount");
    check(
        w.his.upload_fees(&visit, &[fee_line("X-2", "001102000010000", "99999999", "1", "99999999.00")]).await.unwrap(),
        422,
        "bad_amount",
    );
    let mismatch = w.his.upload_fees(&visit, &[fee_line("X-3", "001102000010000", "25.00", "2", "25.00")]).await.unwrap();
    assert!(mismatch.message().contains("25.000000 × 2.0000 = 50.00"), "says what pric × cnt comes to: {mismatch:?}");
    check(mismatch, 422, "amount_mismatch");
    check(w.his.upload_fees(&visit, &[fee_line("X-4", "001102000010000", "abc", "1", "25.00")]).await.unwrap(), 422, "bad_amount");
    check(w.his.upload_fees("vis_unknown", &ordinary_fees("X")).await.unwrap(), 404, "visit_not_found");
    check(w.other_hospital.upload_fees(&visit, &ordinary_fees("X")).await.unwrap(), 404, "visit_not_found");
    check(w.other_hospital.settle(&visit).await.unwrap(), 404, "visit_not_found");
    check(w.his.raw("POST", &fees, None, Some("{\"lines\":[]}")).await.unwrap(), 400, "missing_idempotency_key");
    check(HisClient::new(&w.sys.hub_url, "wrong").settle(&visit).await.unwrap(), 401, "unauthorized");
    check(w.operator.settle(&visit).await.unwrap(), 403, "forbidden");
    check(w.his.register("", "02", EMPLOYEE_CERTNO).await.unwrap(), 422, "missing_field");
    check(w.his.register("MZ0008", "09", EMPLOYEE_CERTNO).await.unwrap(), 422, "bad_cert_type");
    check(w.his.register("MZ0009", "02", "000000000000000000").await.unwrap(), 422, "person_not_found");
    check(w.his.settle(&visit).await.unwrap(), 409, "no_fees");
    let huge = format!("{{\"lines\": [\"{}\"]}}", "x".repeat(3 << 20));
    check(w.his.raw("POST", &fees, Some("b2"), Some(&huge)).await.unwrap(), 413, "body_too_large");
    check(w.his.get("/api/v1/visits/%FF%FE").await.unwrap(), 400, "bad_request");
    check(w.his.raw("DELETE", &fees, None, None).await.unwrap(), 405, "method_not_allowed");
    check(w.his.get("/api/v2/nothing").await.unwrap(), 404, "no_such_route");

    let v = w.his.get(&format!("/api/v1/visits/{visit}")).await.unwrap();
    assert_eq!((fen(&v.body, "fee_lines"), fen(&v.body, "medfee_fen")), (0, 0), "nothing was written");
    assert_eq!(w.ledger().await["transfers"], json!(0));
}

#[tokio::test]
async fn a_his_that_puts_a_byte_order_mark_before_its_json_is_understood() {
    // .NET's UTF-8 writers put U+FEFF first; RFC 8259 lets a parser ignore it, and the hub does.
    let w = world().await;
    let (visit, _) = w.signed_visit("MZ0021", "02", EMPLOYEE_CERTNO, credit_line()).await;
    let fees = serde_json::to_string(&json!({"lines": ordinary_fees("MZ0021")})).unwrap();
    let path = format!("/api/v1/visits/{visit}/fees");
    let uploaded = w.his.raw("POST", &path, Some("bom-f1"), Some(&format!("\u{FEFF}{fees}"))).await.unwrap();
    assert_eq!(uploaded.status, 200, "{uploaded:?}");
    let settled = w.his.raw("POST", &format!("/api/v1/visits/{visit}/settlement"), Some("bom-c2"), Some("\u{FEFF}{}")).await.unwrap();
    assert_eq!((settled.status, settled.body["state"].as_str()), (200, Some("settled")), "{settled:?}");
    assert_eq!(fen(&settled.body, "medfee_fen"), fen(&uploaded.body, "medfee_fen"));
    // A body in another encoding (GBK from an older HIS) is told what the API takes.
    let gbk = b"{\"lines\": [{\"memo\": \"\xC4\xDA\xBF\xC6\"}]}";
    let refused = w.his.raw_bytes("POST", &path, Some("gbk-f1"), gbk.to_vec()).await.unwrap();
    assert_eq!((refused.status, refused.code()), (400, Some("malformed_json")), "{refused:?}");
    assert!(refused.message().contains("not UTF-8"), "{refused:?}");
    // Only a mark in front: one anywhere else is still not JSON.
    let inside = w.his.raw("POST", &path, Some("bom-f2"), Some("{\u{FEFF}\"lines\": []}")).await.unwrap();
    assert_eq!((inside.status, inside.code()), (400, Some("malformed_json")), "{inside:?}");
}

#[tokio::test]
async fn times_are_taken_in_the_national_shape_or_iso_8601_and_anything_else_is_refused_before_a_call() {
    let w = world().await;
    let (visit, _) = w.signed_visit("MZ0022", "02", EMPLOYEE_CERTNO, credit_line()).await;
    let register = |no: &str, begntime: &str| json!({"ipt_otp_no": no, "mdtrt_cert_type": "02", "mdtrt_cert_no": EMPLOYEE_CERTNO, "begntime": begntime});
    let refused = w.his.post("/api/v1/visits", &register("MZ0023", "yesterday")).await.unwrap();
    assert_eq!((refused.status, refused.code()), (422, Some("bad_datetime")), "{refused:?}");
    assert!(refused.message().contains("begntime 'yesterday'"), "{refused:?}");
    // MZ0023 registers afresh below (a visit written by the refused request would answer visit_exists).
    for (no, begntime) in [("MZ0023", "2026-12-01 10:00:00"), ("MZ0024", "2026-12-01T02:00:00Z"), ("MZ0025", "2026-12-01T10:00:00+08:00")] {
        let r = w.his.post("/api/v1/visits", &register(no, begntime)).await.unwrap();
        assert_eq!(r.status, 200, "{begntime}: {r:?}");
    }
    let fees = format!("/api/v1/visits/{visit}/fees");
    let mut line = fee_line("T-1", "001102000010000", "25.00", "1", "25.00");
    line["fee_ocur_time"] = json!("2026/12/01 10:00");
    let refused = w.his.post(&fees, &json!({"lines": [line.clone()]})).await.unwrap();
    assert_eq!((refused.status, refused.code()), (422, Some("bad_datetime")), "{refused:?}");
    assert!(refused.message().contains("lines[0].fee_ocur_time"), "{refused:?}");
    line["fee_ocur_time"] = json!("2026-12-01T10:05:00+08:00");
    let taken = w.his.post(&fees, &json!({"lines": [line]})).await.unwrap();
    assert_eq!((taken.status, fen(&taken.body, "medfee_fen")), (200, 2500), "{taken:?}");
}

const CHILD_CERTNO: &str = "440306201205056727";

#[tokio::test]
async fn a_child_without_an_e_voucher_is_paid_for_by_the_parents_credit_line() {
    let w = world().await;
    let parent = w.operator.sign_up("01", EMPLOYEE_TOKEN, true, credit_line()).await.unwrap();
    let agreement_id = parent.body["id"].as_str().unwrap().to_string();
    let family = format!("/api/v1/agreements/{agreement_id}/family");

    // An adult cannot be bound on someone else's word; a minor child can, with guardianship proof.
    let adult = w
        .operator
        .post(
            &family,
            &json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": RESIDENT_CERTNO, "relation": "spouse",
                                                  "consent": {"method": "guardian", "reference": "HK-1"}}),
        )
        .await
        .unwrap();
    assert_eq!(adult.code(), Some("consent_required"), "{adult:?}");
    let child = w
        .operator
        .post(
            &family,
            &json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": CHILD_CERTNO, "relation": "child",
                                                  "consent": {"method": "guardian", "reference": "户口本 HK-2024-001"}}),
        )
        .await
        .unwrap();
    assert!(child.ok(), "{child:?}");
    assert_eq!(child.body["family"][0]["relation"], json!("child"));
    assert!(child.body["family"][0]["name"].as_str().unwrap().ends_with("**"), "names are masked");

    let visit = w.his.register("MZ0010", "02", CHILD_CERTNO).await.unwrap();
    assert!(visit.ok(), "{visit:?}");
    assert_eq!(visit.body["seamless"]["enabled"], json!(true));
    assert_eq!(visit.body["seamless"]["agreement_id"], json!(agreement_id));
    let id = visit.body["id"].as_str().unwrap();
    assert!(w.his.upload_fees(id, &ordinary_fees("MZ0010")).await.unwrap().ok());
    let s = w.his.settle(id).await.unwrap();
    assert!(s.ok(), "{s:?}");
    assert_eq!(fen(&s.body, "hospital_credited_fen"), 8200);
    let line = w.bank_agreement(&agreement_id).await;
    assert_eq!(fen(&line, "used_fen"), fen(&s.body, "bank_fen"), "the parent's line paid the child's cash share");

    // Unlinked, the child's next visit is no longer seamless.
    let link = child.body["family"][0]["id"].as_str().unwrap();
    assert!(w.operator.post(&format!("{family}/{link}/revoke"), &json!({})).await.unwrap().ok());
    let later = w.his.register("MZ0011", "02", CHILD_CERTNO).await.unwrap();
    assert_eq!(later.body["seamless"]["enabled"], json!(false));
}

/// What HIS software sends when it reuses its national-interface records: every 2201 and 2204
/// field present, nulls and empty strings where it knows nothing, numbers with trailing zeros.
#[tokio::test]
async fn a_his_that_sends_every_national_field_with_nulls_is_understood() {
    let w = world().await;
    assert!(w.operator.sign_up("02", EMPLOYEE_CERTNO, true, credit_line()).await.unwrap().ok());
    let registration = |psn_no: Value, insutype: Value, no: &str| {
        json!({"psn_no": psn_no, "insutype": insutype, "begntime": "2026-11-23 09:12:00", "mdtrt_cert_type": "02",
               "mdtrt_cert_no": EMPLOYEE_CERTNO, "ipt_otp_no": no, "atddr_no": null, "dr_name": "", "dept_code": "A03",
               "dept_name": "内科", "caty": null, "med_type": null})
    };
    // Another person's psn_no, or an insurance the person does not hold: refused, nothing kept.
    let wrong = w.his.post("/api/v1/visits", &registration(json!("44030000000000000002"), json!("310"), "MZ-N0")).await.unwrap();
    assert_eq!(wrong.code(), Some("person_mismatch"), "{wrong:?}");
    let wrong = w.his.post("/api/v1/visits", &registration(json!(""), json!("390"), "MZ-N0")).await.unwrap();
    assert_eq!(wrong.code(), Some("insutype_not_held"), "{wrong:?}");

    let visit = w.his.post("/api/v1/visits", &registration(json!(EMPLOYEE_PSN_NO), json!("310"), "MZ-N0")).await.unwrap();
    assert!(visit.ok(), "{visit:?}");
    assert_eq!(visit.body["med_type"], json!("11"));
    assert_eq!(visit.body["seamless"]["enabled"], json!(true));
    let id = visit.body["id"].as_str().unwrap();
    let line = json!({"feedetl_sn": "N0-1", "mdtrt_id": null, "psn_no": EMPLOYEE_PSN_NO, "chrg_bchno": "B1", "dise_codg": "",
        "rxno": null, "rx_circ_flag": "0", "fee_ocur_time": "2026-11-23 09:30:00", "med_list_codg": "001102000010000",
        "medins_list_codg": "Z001", "det_item_fee_sumamt": 25.0, "cnt": 1.0, "pric": "25.000000", "sin_dos_dscr": null,
        "used_frqu_dscr": null, "prd_days": null, "medc_way_dscr": null, "bilg_dept_codg": "A03", "bilg_dept_name": "内科",
        "bilg_dr_codg": "D001", "bilg_dr_name": "王医生", "acord_dept_codg": null, "acord_dept_name": null, "orders_dr_code": null,
        "orders_dr_name": null, "hosp_appr_flag": "1", "tcmdrug_used_way": null, "etip_flag": null, "etip_hosp_code": null,
        "dscg_tkdrug_flag": null, "matn_fee_flag": null, "exp_content": ""});
    let up = w.his.post(&format!("/api/v1/visits/{id}/fees"), &json!({"lines": [line]})).await.unwrap();
    assert!(up.ok(), "{up:?}");
    let s = w.his.settle(id).await.unwrap();
    assert_eq!(s.body["state"], json!("settled"), "{s:?}");
    assert_eq!(fen(&s.body, "fund_fen") + fen(&s.body, "personal_account_fen") + fen(&s.body, "bank_fen"), 2_500);
}

/// The personal-data key can live outside the data folder (WUGAN_DATA_KEY); a hub started with a key
/// that does not open the stored names refuses to start, rather than failing request by request.
#[tokio::test]
async fn the_hub_refuses_to_start_with_a_key_that_does_not_open_its_data() {
    let (mut opts, _dir) = common::fresh_options("key").await;
    let key = "11".repeat(32);
    opts.data_key_hex = Some(key.clone());
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let signed = operator.sign_up("02", EMPLOYEE_CERTNO, true, credit_line()).await.unwrap();
    assert!(signed.ok(), "{signed:?}");
    assert_ne!(sys.credentials.data_key_hex, key, "the key given is not the one in the data folder");
    sys.stop();

    opts.data_key_hex = Some("22".repeat(32));
    let wrong = system::start(&opts).await.err().expect("a wrong key is refused");
    assert!(format!("{wrong:#}").contains("does not open the personal data"), "{wrong:#}");
    opts.data_key_hex = None;
    assert!(system::start(&opts).await.is_err(), "nor does the folder's own key open data sealed with another");
    opts.data_key_hex = Some("not hex".into());
    assert!(format!("{:#}", system::start(&opts).await.err().expect("refused")).contains("not valid"));

    opts.data_key_hex = Some(key);
    let again = system::start(&opts).await.expect("the right key starts");
    let operator = HisClient::new(&again.hub_url, &again.credentials.operator_api_key);
    let id = signed.body["id"].as_str().unwrap();
    let agreement = operator.get(&format!("/api/v1/agreements/{id}")).await.unwrap();
    assert_eq!(agreement.body["name"], signed.body["name"], "names are read back with the key: {agreement:?}");
}

/// The work behind a request and its stored answer are separate commits: a crash between them
/// leaves the work done and the answer unstored, and the HIS retries with its own key. The retry
/// gets the result of its own work, never a conflict with itself.
#[tokio::test]
async fn a_sign_up_or_a_cancel_whose_answer_a_crash_lost_gets_its_own_result_on_retry() {
    let w = world().await;
    let request =
        || serde_json::from_value(json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": EMPLOYEE_CERTNO, "payment": credit_line()})).unwrap();
    // The use case runs twice under one key, as after a crash that lost the stored answer.
    let first = w.sys.app.sign_agreement(request(), "operator", "signup-1").await.expect("signed");
    let again = w.sys.app.sign_agreement(request(), "operator", "signup-1").await.expect("the retry gets its agreement");
    assert_eq!(first.id, again.id);
    assert_eq!(first.payment.bank_agreement_id, again.payment.bank_agreement_id, "one line at the bank, not two");
    let other = w.sys.app.sign_agreement(request(), "operator", "signup-2").await.unwrap_err();
    assert_eq!(other.code(), "already_signed", "another request for the same person is still refused");

    let visit = w.his.register("MZ0061", "02", EMPLOYEE_CERTNO).await.unwrap();
    let visit = visit.body["id"].as_str().unwrap().to_string();
    assert!(w.his.upload_fees(&visit, &ordinary_fees("MZ0061")).await.unwrap().ok());
    assert!(w.his.settle(&visit).await.unwrap().ok());
    let hospital = &w.sys.credentials.hospitals[0].code;
    let cancelled = w.sys.app.cancel_settlement(hospital, &visit, &Keyed::unstored("cancel-1")).await.expect("cancelled");
    let retried =
        w.sys.app.cancel_settlement(hospital, &visit, &Keyed::unstored("cancel-1")).await.expect("the retry gets the cancelled settlement");
    assert_eq!((cancelled.id, retried.state), (retried.id.clone(), "cancelled"));
    let other = w.sys.app.cancel_settlement(hospital, &visit, &Keyed::unstored("cancel-2")).await.unwrap_err();
    assert_eq!(other.code(), "already_cancelled");
}
