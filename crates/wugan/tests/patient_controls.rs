//! The patient's controls and bills, end to end over HTTP (issue 14 scopes 4-6, issue 17 scope 4):
//! seamless payment switched off for a visit, a hospital or by default, seen by the HIS at
//! registration and at the click; an unpaid bill paid on the phone once, after a repayment made
//! room on the line; the bank's line events and statements told to the patient once each.

use serde_json::{json, Value};
use std::sync::Arc;
use wugan::his::{fee_line, HisClient};
use wugan::system::{self, System};

mod common;

const ZHANG_SAN: (&str, &str) = ("440301199001011234", "张三");
const ZHAO_LIU: (&str, &str) = ("440305199208084567", "赵六");
const DAY: i64 = 86_400;

struct Phone {
    sys: System,
    http: reqwest::Client,
    operator: HisClient,
    his: HisClient,
    _dir: common::TempDir,
}

#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }
}

impl Phone {
    async fn open(bank_clock: Option<Arc<wugan_bank::ManualClock>>) -> Phone {
        let (mut opts, dir) = common::fresh_options("patient-controls").await;
        opts.bank_clock = bank_clock.map(|c| c as Arc<dyn wugan_bank::Clock>);
        let sys = system::start(&opts).await.expect("system starts");
        let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
        let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
        Phone { sys, http: reqwest::Client::new(), operator, his, _dir: dir }
    }

    /// A call with the patient's bearer token (`None`: nobody).
    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Answer {
        let url = format!("{}{path}", self.sys.hub_url);
        let mut request = self.http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url).bearer_auth(token);
        if method == "POST" {
            request = request.header("idempotency-key", uuid::Uuid::new_v4().to_string()).json(&body.unwrap_or_else(|| json!({})));
        }
        let response = request.send().await.expect("the hub answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
    }

    /// Signs in by the texted code and binds the real name; the bearer token.
    async fn patient(&self, mobile: &str, (certno, name): (&str, &str)) -> String {
        let url = format!("{}/api/v1/patient/sign-in-codes", self.sys.hub_url);
        let sent = self.http.post(url).json(&json!({"mobile": mobile})).send().await.unwrap();
        assert_eq!(sent.status().as_u16(), 202);
        let outbox = std::fs::read_to_string(self._dir.0.join("sms-outbox.log")).expect("the SMS outbox");
        let line = outbox.lines().rev().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|m| m["to"] == mobile).unwrap();
        let code: String = line["text"].as_str().unwrap().chars().filter(char::is_ascii_digit).take(6).collect();
        let url = format!("{}/api/v1/patient/sessions", self.sys.hub_url);
        let session: Value = self.http.post(url).json(&json!({"mobile": mobile, "code": code})).send().await.unwrap().json().await.unwrap();
        let token = session["token"].as_str().expect("a session").to_string();
        let bound = self
            .call("POST", "/api/v1/patient/me/identity", &token, Some(json!({"certno": certno, "name": name, "face_check_ref": "FACE-9"})))
            .await;
        assert_eq!(bound.status, 200, "{bound:?}");
        token
    }

    /// A visit registered with `count` × 150 yuan of a self-paid item.
    async fn visit_with_fees(&self, no: &str, count: u32) -> String {
        let visit = self.his.register(no, "02", ZHANG_SAN.0).await.unwrap();
        assert!(visit.ok(), "{visit:?}");
        let id = visit.body["id"].as_str().unwrap().to_string();
        let total = format!("{}.00", 150 * count);
        let lines = [fee_line("1", "013100000010000", "150.00", &count.to_string(), &total)];
        assert!(self.his.upload_fees(&id, &lines).await.unwrap().ok());
        id
    }

    async fn used_fen(&self, agreement_id: &str) -> i64 {
        self.operator.get(&format!("/api/v1/agreements/{agreement_id}")).await.unwrap().body["payment"]["used_fen"].as_i64().unwrap()
    }

    /// The hub's calls of one bank operation so far, answered or not (its metrics).
    async fn bank_calls(&self, operation: &str) -> f64 {
        let scrape = self.operator.raw("GET", "/metrics", None, None).await.expect("a scrape");
        let labels = format!(r#"wugan_partner_calls_total{{partner="bank:BANK01",operation="{operation}""#);
        let text = scrape.body.as_str().unwrap_or_default().to_string();
        text.lines().filter(|l| l.starts_with(&labels)).filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok()).sum()
    }

    /// Zhang San on a 5,000-yuan line, with a first visit paid (what the bank took) and a second
    /// left unpaid (its settlement and what is owed).
    async fn an_unpaid_second_visit(&self) -> (String, i64, serde_json::Value) {
        let terms = json!({"method": "credit_line", "bank_code": "BANK01", "credit_limit_fen": 500000});
        let signed = self.operator.sign_up("02", ZHANG_SAN.0, false, terms).await.unwrap();
        let agreement = signed.body["id"].as_str().unwrap().to_string();
        // 4,500 yuan of fees on the 5,000-yuan line, then 4,500 more: the second is left unpaid.
        let first = self.visit_with_fees("MZ-B1", 30).await;
        let first = self.his.settle(&first).await.unwrap();
        assert_eq!(first.body["state"], json!("settled"), "{first:?}");
        let spent = first.body["bank_fen"].as_i64().unwrap();
        let second = self.visit_with_fees("MZ-B2", 30).await;
        let unpaid = self.his.settle(&second).await.unwrap();
        assert_eq!(unpaid.body["state"], json!("settled_unpaid"), "{unpaid:?}");
        assert!(unpaid.body["unpaid_fen"].as_i64().unwrap() > 500_000 - spent, "more than the line's room: {unpaid:?}");
        (agreement, spent, unpaid.body)
    }

    async fn inbox_kinds(&self, token: &str) -> Vec<String> {
        let inbox = self.call("GET", "/api/v1/patient/notifications", token, None).await;
        inbox.body["notifications"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap().to_string()).collect()
    }
}

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

#[tokio::test]
async fn a_visit_switched_off_is_paid_at_the_window_and_the_hospital_is_told() {
    let phone = Phone::open(None).await;
    let signed = phone.operator.sign_up("02", ZHANG_SAN.0, false, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(signed.ok(), "{signed:?}");
    let zhang = phone.patient("13900139000", ZHANG_SAN).await;
    let stranger = phone.patient("13900139001", ZHAO_LIU).await;
    let endpoint = phone.his.post("/api/v1/webhook-endpoints", &json!({"url": "http://127.0.0.1:9/hooks"})).await.unwrap();
    assert!(endpoint.ok(), "{endpoint:?}");

    // Registered seamless; the patient switches this visit off before the doctor's click.
    let visit = phone.visit_with_fees("MZ-S1", 1).await;
    let switch = format!("/api/v1/patient/visits/{visit}/seamless");
    let theirs = phone.call("POST", &switch, &stranger, Some(json!({"enabled": false}))).await;
    assert_eq!((theirs.status, theirs.code()), (404, Some("visit_not_found")), "a stranger cannot switch it");
    let off = phone.call("POST", &switch, &zhang, Some(json!({"enabled": false}))).await;
    assert_eq!(
        (off.status, off.body["seamless"]["enabled"].as_bool(), off.body["seamless"]["reason"].as_str()),
        (200, Some(false), Some("switched_off")),
        "{off:?}"
    );
    let seen = phone.his.get(&format!("/api/v1/visits/{visit}")).await.unwrap();
    assert_eq!(seen.body["seamless"]["reason"], json!("switched_off"), "the HIS sees it");
    let estimate = phone.his.pre_settle(&visit).await.unwrap();
    assert_eq!(estimate.body["seamless"], json!(false), "{estimate:?}");
    let refused = phone.his.settle(&visit).await.unwrap();
    assert_eq!((refused.status, refused.code()), (409, Some("seamless_switched_off")), "{refused:?}");
    assert!(refused.message().contains("window"), "{}", refused.message());

    // Switched on again, the click goes through; after it the switch is closed.
    let on = phone.call("POST", &switch, &zhang, Some(json!({"enabled": true}))).await;
    assert_eq!(on.body["seamless"]["enabled"], json!(true), "{on:?}");
    let same = phone.call("POST", &switch, &zhang, Some(json!({"enabled": true}))).await;
    assert_eq!(same.status, 200, "switching to the state it is in changes nothing");
    let settled = phone.his.settle(&visit).await.unwrap();
    assert_eq!(settled.body["state"], json!("settled"), "{settled:?}");
    let late = phone.call("POST", &switch, &zhang, Some(json!({"enabled": false}))).await;
    assert_eq!((late.status, late.code()), (409, Some("visit_not_open")), "{late:?}");

    // Each change was one event to the hospital (two changes, not three calls).
    phone.sys.app.webhook_outbox_pass().await.unwrap();
    let deliveries = phone.his.get("/api/v1/webhook-deliveries").await.unwrap();
    let changes = deliveries
        .body
        .as_array()
        .or(deliveries.body["deliveries"].as_array())
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "visit.seamless_state_changed")
        .count();
    assert_eq!(changes, 2, "{deliveries:?}");

    // Standing choices: off by default, on at the first hospital; read at registration.
    let default_off = phone.call("POST", "/api/v1/patient/seamless", &zhang, Some(json!({"enabled": false}))).await;
    assert_eq!(default_off.body["default_enabled"], json!(false), "{default_off:?}");
    let hospital = phone.sys.credentials.hospitals[0].code.clone();
    let here_on = phone.call("POST", "/api/v1/patient/seamless", &zhang, Some(json!({"hospital_code": hospital, "enabled": true}))).await;
    assert_eq!((here_on.status, here_on.body["hospitals"][0]["enabled"].as_bool()), (200, Some(true)), "{here_on:?}");
    let unknown = phone.call("POST", "/api/v1/patient/seamless", &zhang, Some(json!({"hospital_code": "NOPE", "enabled": true}))).await;
    assert_eq!((unknown.status, unknown.code()), (422, Some("unknown_hospital")));
    let here = phone.his.register("MZ-S2", "02", ZHANG_SAN.0).await.unwrap();
    assert_eq!(here.body["seamless"]["enabled"], json!(true), "this hospital's own choice wins: {here:?}");
    phone.call("POST", "/api/v1/patient/seamless", &zhang, Some(json!({"hospital_code": hospital, "enabled": false}))).await;
    let off_here = phone.his.register("MZ-S3", "02", ZHANG_SAN.0).await.unwrap();
    assert_eq!(
        (off_here.body["seamless"]["enabled"].as_bool(), off_here.body["seamless"]["reason"].as_str()),
        (Some(false), Some("switched_off"))
    );
    let earlier = phone.his.get(&format!("/api/v1/visits/{}", here.body["id"].as_str().unwrap())).await.unwrap();
    assert_eq!(earlier.body["seamless"]["enabled"], json!(true), "a visit registered earlier keeps its own switch");
    // Switched off at this hospital, a stay holds nothing on the line: its deposit is paid at the window.
    let admission = json!({"ipt_no": "ZY-S1", "mdtrt_cert_type": "02", "mdtrt_cert_no": ZHANG_SAN.0, "deposit_fen": 20_000});
    let stay = phone.his.post("/api/v1/stays", &admission).await.unwrap();
    assert_eq!((stay.status, stay.body["error"]["code"].as_str()), (409, Some("seamless_switched_off")), "{stay:?}");
    phone.call("POST", "/api/v1/patient/seamless", &zhang, Some(json!({"hospital_code": hospital, "enabled": true}))).await;
    let stay = phone.his.post("/api/v1/stays", &admission).await.unwrap();
    assert_eq!((stay.status, stay.body["state"].as_str()), (200, Some("in_ward")), "switched on again: {stay:?}");
}

#[tokio::test]
async fn an_unpaid_bill_is_paid_on_the_phone_once_after_a_repayment_made_room() {
    let phone = Phone::open(None).await;
    let (agreement, spent, unpaid) = phone.an_unpaid_second_visit().await;
    let zhang = phone.patient("13700137000", ZHANG_SAN).await;
    let stranger = phone.patient("13700137001", ZHAO_LIU).await;
    let (settlement, owed) = (unpaid["id"].as_str().unwrap().to_string(), unpaid["unpaid_fen"].as_i64().unwrap());
    let holds_and_charges = || async { (phone.bank_calls("authorize").await, phone.bank_calls("capture").await) };
    let (holds_before, charges_before) = (holds_and_charges().await, phone.bank_calls("charge").await);

    let bills = phone.call("GET", "/api/v1/patient/bills", &zhang, None).await;
    let bill = &bills.body["bills"][0];
    assert_eq!((bill["settlement_id"].as_str(), bill["unpaid_fen"].as_i64()), (Some(settlement.as_str()), Some(owed)), "{bills:?}");
    assert_eq!(phone.call("GET", "/api/v1/patient/bills", &stranger, None).await.body["bills"], json!([]));
    phone.sys.app.notify_patients().await.unwrap();
    phone.sys.app.notify_patients().await.unwrap();
    let kinds = phone.inbox_kinds(&zhang).await;
    assert_eq!(count(&kinds, "bill_unpaid"), 1, "told once: {kinds:?}");

    // Paid on the phone while the line has no room: declined, said so, nothing moved.
    let pay = format!("/api/v1/patient/bills/{settlement}/pay");
    let not_theirs = phone.call("POST", &pay, &stranger, None).await;
    assert_eq!((not_theirs.status, not_theirs.code()), (404, Some("bill_not_found")));
    let declined = phone.call("POST", &pay, &zhang, None).await;
    assert_eq!((declined.status, declined.code()), (422, Some("bill_declined")), "{declined:?}");
    // It says what the patient can do: the window, or a higher limit; not "repay" (which helps
    // only a line that owes, and the page says that when it does).
    let message = declined.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("window") && message.contains("higher limit") && !message.contains("repay"), "{message}");
    assert_eq!(phone.used_fen(&agreement).await, spent);

    // A repayment makes room: the hub retries the bill on the line, once, whoever asks first.
    let repaid = phone
        .call(
            "POST",
            &format!("/api/v1/patient/agreements/{agreement}/repayments"),
            &zhang,
            Some(json!({"amount_fen": spent, "source": "bank_transfer"})),
        )
        .await;
    assert_eq!(repaid.status, 200, "{repaid:?}");
    let (paid, again) = tokio::join!(phone.call("POST", &pay, &zhang, None), phone.sys.app.collect_due_bills());
    again.unwrap();
    assert_eq!((paid.status, paid.body["state"].as_str(), paid.body["attempt"].as_i64()), (200, Some("collected"), Some(2)), "{paid:?}");
    let twice = phone.call("POST", &pay, &zhang, None).await;
    assert_eq!((twice.status, twice.body["state"].as_str()), (200, Some("collected")), "paying again changes nothing");
    phone.sys.app.notify_patients().await.unwrap();
    assert_eq!(phone.used_fen(&agreement).await, owed, "collected exactly once: the first visit repaid, the bill collected");
    let listed = phone.call("GET", "/api/v1/patient/bills", &zhang, None).await;
    assert_eq!(listed.body["bills"][0]["collection"], json!("collected"));
    // Each attempt was one charge (扣款), the declined one and the collected one: no hold, no capture.
    assert_eq!(holds_and_charges().await, holds_before, "a bill is collected by a charge, not a hold and its capture");
    assert!(phone.bank_calls("charge").await >= charges_before + 2.0, "two attempts, each a charge");

    // The ledger: the receivable closed, the hospital paid, everything balanced.
    let ledger = phone.operator.get("/api/v1/ledger").await.unwrap().body;
    assert_eq!(ledger["balanced"], json!(true), "{ledger}");
    let hospital = phone.sys.credentials.hospitals[0].code.clone();
    let net = |account: &str| {
        let a = &ledger["accounts"][account];
        a["debits_posted"].as_i64().unwrap_or(0) - a["credits_posted"].as_i64().unwrap_or(0)
    };
    assert_eq!(net(&format!("hospital_unpaid:{hospital}")), 0, "{ledger}");
    let patients_owe: i64 =
        ledger["accounts"].as_object().unwrap().keys().filter(|k| k.starts_with("patient_unpaid:")).map(|k| net(k)).sum();
    assert_eq!(patients_owe, 0, "{ledger}");

    // The collected bill is its own capture: the hospital cannot cancel or refund the visit here
    // (nothing would give that capture back), and nothing moves.
    let second_visit = unpaid["visit_id"].as_str().unwrap().to_string();
    let cancel = phone.his.post(&format!("/api/v1/visits/{second_visit}/settlement/cancel"), &json!({})).await.unwrap();
    assert_eq!((cancel.status, cancel.code()), (409, Some("bill_collected")), "{cancel:?}");
    assert_eq!(phone.used_fen(&agreement).await, owed);

    // The hospital reads it paid: nothing owed on the visit, nor on its day's statement.
    let visit = phone.his.get(&format!("/api/v1/visits/{second_visit}")).await.unwrap().body;
    let s = &visit["settlement"];
    assert_eq!((s["unpaid_fen"].as_i64(), s["collected_fen"].as_i64()), (Some(0), Some(owed)), "{s}");
    let clicked = time::OffsetDateTime::parse(s["created_at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
    let day = wugan_hub::clock::china_datetime_of(clicked)[..10].to_string();
    let hospital = &phone.sys.credentials.hospitals[0].code;
    let statement = phone.his.get(&format!("/api/v1/hospitals/{hospital}/statements/{day}")).await.unwrap().body;
    assert_eq!((statement["unpaid_bills"].as_i64(), statement["unpaid_fen"].as_i64()), (Some(0), Some(0)), "{statement}");
    assert_eq!(statement["collected_fen"].as_i64(), Some(owed), "{statement}");
}

#[tokio::test]
async fn a_collection_an_older_hub_began_as_a_hold_finishes_as_one_and_takes_the_bill_once() {
    let phone = Phone::open(None).await;
    let (agreement, spent, unpaid) = phone.an_unpaid_second_visit().await;
    let (settlement, owed) = (unpaid["id"].as_str().unwrap().to_string(), unpaid["unpaid_fen"].as_i64().unwrap());
    // An older hub (before migration 0034) wrote its first attempt as a hold and stopped before
    // the bank answered it.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&phone.sys.database_url).await.expect("hub database");
    let written = format!(
        "INSERT INTO bill_collections (settlement_id, agreement_id, amount_fen, attempt, state, created_at, updated_at) \
         VALUES ('{settlement}', '{agreement}', {owed}, 1, 'authorizing', '2026-12-02T00:00:00Z', '2026-12-02T00:00:00Z')"
    );
    sqlx::query(sqlx::AssertSqlSafe(written)).execute(&pool).await.expect("an attempt of the hold path");
    let zhang = phone.patient("13700137000", ZHANG_SAN).await;
    let repayments = format!("/api/v1/patient/agreements/{agreement}/repayments");
    let repaid = phone.call("POST", &repayments, &zhang, Some(json!({"amount_fen": spent, "source": "bank_transfer"}))).await;
    assert_eq!(repaid.status, 200, "{repaid:?}");
    let calls = || async { (phone.bank_calls("authorize").await, phone.bank_calls("capture").await, phone.bank_calls("charge").await) };
    let (holds, captures, charges) = calls().await;

    assert_eq!(phone.sys.app.collect_due_bills().await.unwrap(), 1, "the pass finishes it");
    assert_eq!(calls().await, (holds + 1.0, captures + 1.0, charges), "as it began: its hold, then its capture, and no charge");
    assert_eq!(phone.sys.app.collect_due_bills().await.unwrap(), 0, "nothing left to collect");
    assert_eq!(phone.used_fen(&agreement).await, owed, "the first visit repaid, the bill taken once");
    let listed = phone.call("GET", "/api/v1/patient/bills", &zhang, None).await;
    assert_eq!(listed.body["bills"][0]["collection"], json!("collected"), "{listed:?}");
    assert_eq!(phone.operator.get("/api/v1/ledger").await.unwrap().body["balanced"], json!(true));
}

#[tokio::test]
async fn the_lines_events_and_statements_reach_the_patient_once_each() {
    // 2026-11-20, noon in China: the first statement comes on 1 December, due 11 December.
    let clock = Arc::new(wugan_bank::ManualClock::new(time::macros::datetime!(2026-11-20 04:00 UTC).unix_timestamp()));
    let phone = Phone::open(Some(clock.clone())).await;
    let signed = phone.operator.sign_up("02", ZHANG_SAN.0, false, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    let agreement = signed.body["id"].as_str().unwrap().to_string();
    let zhang = phone.patient("13500135000", ZHANG_SAN).await;
    let visit = phone.visit_with_fees("MZ-N1", 2).await;
    assert!(phone.his.pre_settle(&visit).await.unwrap().ok());
    assert_eq!(phone.his.settle(&visit).await.unwrap().body["state"], json!("settled"));

    // 12 December: the statement is past due; the hub reads the bank's events.
    clock.advance(22 * DAY);
    let statements = phone.call("GET", &format!("/api/v1/patient/agreements/{agreement}/statements"), &zhang, None).await;
    assert_eq!(statements.status, 200, "{statements:?}");
    assert!(statements.body["statements"][0]["outstanding_fen"].as_i64().unwrap() > 0, "{statements:?}");
    phone.sys.app.sync_bank_events().await.unwrap();
    phone.sys.app.statement_notices().await.unwrap();
    let debt = statements.body["debt_fen"].as_i64().unwrap();
    let repay = json!({"amount_fen": debt, "source": "bank_transfer"});
    let repaid = phone.call("POST", &format!("/api/v1/patient/agreements/{agreement}/repayments"), &zhang, Some(repay)).await;
    assert_eq!(repaid.status, 200, "{repaid:?}");
    for _ in 0..2 {
        phone.sys.app.sync_bank_events().await.unwrap();
        phone.sys.app.statement_notices().await.unwrap();
        phone.sys.app.notify_patients().await.unwrap();
    }
    let kinds = phone.inbox_kinds(&zhang).await;
    for kind in ["estimate_ready", "visit_settled", "line_overdue", "statement_ready", "line_reinstated"] {
        assert_eq!(count(&kinds, kind), 1, "{kind} once: {kinds:?}");
    }
    let outbox = std::fs::read_to_string(phone._dir.0.join("sms-outbox.log")).unwrap();
    let texts: Vec<&str> = outbox.lines().filter(|l| l.contains("13500135000") && !l.contains("验证码")).collect();
    assert_eq!(texts.len(), kinds.len(), "one text message per notification: {texts:?}");
    assert!(texts.iter().any(|t| t.contains("无感支付已暂停")) && texts.iter().any(|t| t.contains("无感支付已恢复")), "{texts:?}");

    // A higher limit asked for from the phone.
    let raise = phone
        .call(
            "POST",
            &format!("/api/v1/patient/agreements/{agreement}/limit-requests"),
            &zhang,
            Some(json!({"requested_limit_fen": 1_000_000})),
        )
        .await;
    assert_eq!(raise.status, 200, "{raise:?}");
}

#[tokio::test]
async fn a_refunded_line_is_never_collected_the_bill_shrinks_to_the_lines_kept() {
    let phone = Phone::open(None).await;
    let terms = json!({"method": "credit_line", "bank_code": "BANK01", "credit_limit_fen": 500000});
    let agreement = phone.operator.sign_up("02", ZHANG_SAN.0, false, terms).await.unwrap().body["id"].as_str().unwrap().to_string();
    let zhang = phone.patient("13700137000", ZHANG_SAN).await;
    let first = phone.visit_with_fees("MZ-R1", 30).await;
    let spent = phone.his.settle(&first).await.unwrap().body["bank_fen"].as_i64().unwrap();
    // Two visits the line cannot pay: one of two lines (3,000 + 1,500 yuan), one of a single line.
    let two_lines = phone.his.register("MZ-R2", "02", ZHANG_SAN.0).await.unwrap().body["id"].as_str().unwrap().to_string();
    let lines = [fee_line("1", "013100000010000", "150.00", "20", "3000.00"), fee_line("2", "013100000010000", "150.00", "10", "1500.00")];
    assert!(phone.his.upload_fees(&two_lines, &lines).await.unwrap().ok());
    let kept_bill = phone.his.settle(&two_lines).await.unwrap().body;
    let whole = phone.visit_with_fees("MZ-R3", 10).await;
    let gone_bill = phone.his.settle(&whole).await.unwrap().body;
    for bill in [&kept_bill, &gone_bill] {
        assert_eq!(bill["state"], json!("settled_unpaid"), "{bill}");
    }
    let his = &phone.his;
    let refund = |visit: String, lines: Value| async move {
        let r = his.post(&format!("/api/v1/visits/{visit}/refunds"), &json!({"lines": lines})).await.unwrap();
        assert_eq!((r.status, r.body["state"].as_str()), (200, Some("refunded")), "{r:?}");
        r.body
    };

    // Line 2 comes back: what the patient owes is the kept line's cash share, not the click's bill.
    let partial = refund(two_lines.clone(), json!(["2"])).await;
    let owed = partial["resettled"]["cash_fen"].as_i64().unwrap();
    assert!(owed > 0 && owed < kept_bill["unpaid_fen"].as_i64().unwrap(), "{partial}");
    assert_eq!(partial["bank_refund_fen"].as_i64(), Some(0), "the bank took nothing for it");
    // The other visit comes back whole: nothing is owed for it.
    refund(whole.clone(), json!(["1"])).await;
    let bills = phone.call("GET", "/api/v1/patient/bills", &zhang, None).await.body;
    assert_eq!(bills["bills"].as_array().unwrap().len(), 1, "the refunded visit owes nothing: {bills}");
    assert_eq!((bills["bills"][0]["visit_id"].as_str(), bills["bills"][0]["unpaid_fen"].as_i64()), (Some(two_lines.as_str()), Some(owed)));
    let seen = phone.his.get(&format!("/api/v1/visits/{two_lines}")).await.unwrap().body;
    assert_eq!(seen["settlement"]["unpaid_fen"].as_i64(), Some(owed), "{seen}");
    // The refund's red offset and its reissue for the kept line are the patient's to read.
    let refund_id = partial["id"].as_str().unwrap().to_string();
    let mut of_refund = Vec::new();
    for _ in 0..50 {
        let list = phone.his.get("/api/v1/invoices").await.unwrap().body;
        of_refund = list["invoices"].as_array().unwrap().iter().filter(|i| i["settlement_id"] == json!(refund_id)).cloned().collect();
        if of_refund.len() == 2 {
            break;
        }
        phone.sys.app.invoice_outbox_pass().await;
    }
    assert_eq!(of_refund.len(), 2, "a red offset and a reissue: {of_refund:?}");
    for invoice in &of_refund {
        let html = phone.call("GET", &format!("/api/v1/patient/invoices/{}/html", invoice["id"].as_str().unwrap()), &zhang, None).await;
        assert_eq!(html.status, 200, "{invoice}: {html:?}");
    }
    let reissue = of_refund.iter().find(|i| i["kind"] == json!("blue")).unwrap()["id"].as_str().unwrap().to_string();
    let in_force = phone.sys.app.invoice_in_force_of_settlement(kept_bill["id"].as_str().unwrap(), &two_lines).await.unwrap();
    assert_eq!(in_force, Some(reissue), "the visit's page links the reissue, not the click's invoice");
    let gone = format!("/api/v1/patient/bills/{}/pay", gone_bill["id"].as_str().unwrap());
    let nothing = phone.call("POST", &gone, &zhang, None).await;
    assert_eq!((nothing.status, nothing.code()), (409, Some("bill_not_unpaid")), "{nothing:?}");

    // The line has room again: the pass collects the kept line's share, once, and nothing else.
    let repaid = phone
        .call(
            "POST",
            &format!("/api/v1/patient/agreements/{agreement}/repayments"),
            &zhang,
            Some(json!({"amount_fen": spent, "source": "bank_transfer"})),
        )
        .await;
    assert_eq!(repaid.status, 200, "{repaid:?}");
    assert_eq!(phone.sys.app.collect_due_bills().await.unwrap(), 1);
    assert_eq!(phone.sys.app.collect_due_bills().await.unwrap(), 0, "nothing left to collect");
    assert_eq!(phone.used_fen(&agreement).await, owed, "the line carries the kept line's share, no refunded line");
    let seen = phone.his.get(&format!("/api/v1/visits/{two_lines}")).await.unwrap().body;
    assert_eq!((seen["settlement"]["unpaid_fen"].as_i64(), seen["settlement"]["collected_fen"].as_i64()), (Some(0), Some(owed)), "{seen}");

    // The ledger agrees: every receivable closed, nothing owed by anyone, balanced.
    let ledger = phone.operator.get("/api/v1/ledger").await.unwrap().body;
    assert_eq!(ledger["balanced"], json!(true), "{ledger}");
    let net = |account: &str| {
        let a = &ledger["accounts"][account];
        a["debits_posted"].as_i64().unwrap_or(0) - a["credits_posted"].as_i64().unwrap_or(0)
    };
    let owing: i64 = ledger["accounts"].as_object().unwrap().keys().filter(|k| k.contains("_unpaid:")).map(|k| net(k)).sum();
    assert_eq!(owing, 0, "{ledger}");
}

#[tokio::test]
async fn a_stays_bill_the_line_could_not_cover_is_collected_once_the_line_has_room_and_the_ward_cannot_undo_it() {
    let phone = Phone::open(None).await;
    let terms = json!({"method": "credit_line", "bank_code": "BANK01", "credit_limit_fen": 500000});
    let agreement = phone.operator.sign_up("02", ZHANG_SAN.0, false, terms).await.unwrap().body["id"].as_str().unwrap().to_string();
    let zhang = phone.patient("13700137000", ZHANG_SAN).await;
    // A visit takes 4,500 yuan of the 5,000-yuan line; then a stay with a 100-yuan deposit and
    // 3,000 yuan of fees: the raises are declined, the bedside click captures the hold and bills the rest.
    let first = phone.visit_with_fees("MZ-S1", 30).await;
    let spent = phone.his.settle(&first).await.unwrap().body["bank_fen"].as_i64().unwrap();
    let admit = json!({"ipt_no": "ZY-B1", "mdtrt_cert_type": "02", "mdtrt_cert_no": ZHANG_SAN.0, "deposit_fen": 10_000});
    let stay = phone.his.post("/api/v1/stays", &admit).await.unwrap();
    assert!(stay.ok(), "{stay:?}");
    let stay_id = stay.body["id"].as_str().unwrap().to_string();
    let lines = json!({"lines": [fee_line("Z1", "013100000010000", "150.00", "20", "3000.00")]});
    assert!(phone.his.post(&format!("/api/v1/stays/{stay_id}/fees"), &lines).await.unwrap().ok());
    let settled = phone.his.post(&format!("/api/v1/stays/{stay_id}/discharge"), &json!({})).await.unwrap().body;
    assert_eq!(settled["state"], json!("settled_unpaid"), "{settled}");
    let owed = settled["settlement"]["unpaid_fen"].as_i64().unwrap();
    assert_eq!((settled["owed_fen"].as_i64(), settled["collected_fen"].as_i64()), (Some(owed), Some(0)), "{settled}");

    // The patient sees the stay's bill beside the visits', and cannot pay it while the line is full.
    let bills = phone.call("GET", "/api/v1/patient/bills", &zhang, None).await.body;
    let bill = &bills["bills"][0];
    assert_eq!(
        (bill["kind"].as_str(), bill["settlement_id"].as_str(), bill["unpaid_fen"].as_i64()),
        (Some("stay"), Some(stay_id.as_str()), Some(owed)),
        "{bills}"
    );
    assert_eq!(bill["ipt_otp_no"], json!("ZY-B1"));
    phone.sys.app.notify_patients().await.unwrap();
    phone.sys.app.notify_patients().await.unwrap();
    assert_eq!(count(&phone.inbox_kinds(&zhang).await, "bill_unpaid"), 1, "the stay's bill is told, once");
    let pay = format!("/api/v1/patient/bills/{stay_id}/pay");
    let declined = phone.call("POST", &pay, &zhang, None).await;
    assert_eq!((declined.status, declined.code()), (422, Some("bill_declined")), "{declined:?}");
    let used = phone.used_fen(&agreement).await;
    assert_eq!(used, spent + 10_000, "the visit and the captured deposit, nothing more");

    // A repayment makes room: the pass collects the stay's bill, once.
    let repayment = json!({"amount_fen": spent, "source": "bank_transfer"});
    let repaid = phone.call("POST", &format!("/api/v1/patient/agreements/{agreement}/repayments"), &zhang, Some(repayment)).await;
    assert_eq!(repaid.status, 200, "{repaid:?}");
    assert_eq!(phone.sys.app.collect_due_bills().await.unwrap(), 1);
    assert_eq!(phone.sys.app.collect_due_bills().await.unwrap(), 0, "nothing left to collect");
    assert_eq!(phone.used_fen(&agreement).await, 10_000 + owed, "the deposit captured and the bill collected, each once");
    let paid = phone.call("POST", &pay, &zhang, None).await;
    assert_eq!(
        (paid.status, paid.body["state"].as_str(), paid.body["collected_by"].as_str()),
        (200, Some("collected"), Some("line")),
        "{paid:?}"
    );
    let seen = phone.his.get(&format!("/api/v1/stays/{stay_id}")).await.unwrap().body;
    assert_eq!((seen["owed_fen"].as_i64(), seen["collected_fen"].as_i64()), (Some(0), Some(owed)), "{seen}");
    // Paid since: the stay reads settled, nothing unpaid, as a visit whose bill was collected.
    assert_eq!((seen["state"].as_str(), seen["settlement"]["unpaid_fen"].as_i64()), (Some("settled"), Some(0)), "{seen}");
    // The hospital's statement of the day reads it collected, as a visit's bill collected later.
    let day = wugan_hub::clock::china_datetime_of(time::OffsetDateTime::now_utc())[..10].to_string();
    let hospital = &phone.sys.credentials.hospitals[0].code;
    let statement = phone.his.get(&format!("/api/v1/hospitals/{hospital}/statements/{day}")).await.unwrap().body;
    assert_eq!((statement["unpaid_fen"].as_i64(), statement["collected_fen"].as_i64()), (Some(0), Some(owed)), "{statement}");

    // The collection is a charge of its own: the ward cannot cancel the settlement now.
    let cancel = phone.his.post(&format!("/api/v1/stays/{stay_id}/settlement/cancel"), &json!({})).await.unwrap();
    assert_eq!((cancel.status, cancel.code()), (409, Some("bill_collected")), "{cancel:?}");
    assert_eq!(phone.used_fen(&agreement).await, 10_000 + owed);

    // The ledger: the receivable closed, the hospital paid, balanced.
    let ledger = phone.operator.get("/api/v1/ledger").await.unwrap().body;
    assert_eq!(ledger["balanced"], json!(true), "{ledger}");
    let net = |account: &str| {
        let a = &ledger["accounts"][account];
        a["debits_posted"].as_i64().unwrap_or(0) - a["credits_posted"].as_i64().unwrap_or(0)
    };
    let owing: i64 = ledger["accounts"].as_object().unwrap().keys().filter(|k| k.contains("_unpaid:")).map(|k| net(k)).sum();
    assert_eq!(owing, 0, "{ledger}");
}

#[tokio::test]
async fn a_patient_with_more_visits_than_a_page_reads_the_older_ones_page_by_page() {
    let phone = Phone::open(None).await;
    let terms = json!({"method": "credit_line", "bank_code": "BANK01"});
    assert!(phone.operator.sign_up("02", ZHANG_SAN.0, false, terms).await.unwrap().ok());
    let zhang = phone.patient("13700137000", ZHANG_SAN).await;
    let mut registered = Vec::new();
    for n in 0..51 {
        let visit = phone.his.register(&format!("MZ-P{n:02}"), "02", ZHANG_SAN.0).await.unwrap();
        registered.push(visit.body["id"].as_str().unwrap().to_string());
    }
    let first = phone.call("GET", "/api/v1/patient/visits", &zhang, None).await.body;
    let ids = |page: &Value| page["visits"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&first).len(), 50, "a page");
    assert_eq!(ids(&first)[0], registered[50], "newest first");
    let after = first["next_after"].as_str().expect("an older page follows").to_string();
    let older = phone.call("GET", &format!("/api/v1/patient/visits?after={}", after.replace(':', "%3A")), &zhang, None).await.body;
    assert_eq!(ids(&older), [registered[0].clone()], "the oldest, on its own page: {older}");
    assert!(older.get("next_after").is_none(), "the last page says so: {older}");
    let bad = phone.call("GET", "/api/v1/patient/visits?after=nothing", &zhang, None).await;
    assert_eq!((bad.status, bad.code()), (400, Some("bad_query")), "{bad:?}");
}
