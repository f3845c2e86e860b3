//! The credit lifecycle over HTTP, in-process, on a manual clock: statements (账单), the
//! interest-free period (免息期), overdue (逾期) and its interest, repayments (还款), limit
//! increases (提额), the bank staff's lists and the event feed for the hub.
//!
//! Default terms: statement on the 1st at 00:00 China time, due ten days later, 5 bp a day of
//! overdue principal, limit increases up to 50,000 yuan and at most double.

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;
use wugan_bank::calendar::Day;
use wugan_bank::{router, signing, Bank, BankConfig, ManualClock};

const HUB: (&str, &str) = ("hub", "dev-secret-change-me");
const STAFF: (&str, &str) = ("staff", "dev-staff-secret-change-me");

struct TestBank {
    bank: Arc<Bank>,
    app: Router,
    clock: Arc<ManualClock>,
}

struct Reply {
    status: StatusCode,
    json: Value,
}

impl TestBank {
    fn new() -> TestBank {
        let clock = Arc::new(ManualClock::new(china(2026, 1, 1, 9)));
        let bank = Arc::new(Bank::with_clock(BankConfig::default(), clock.clone()));
        TestBank { app: router(bank.clone()), bank, clock }
    }

    /// Moves the clock to `hour`:00 China time on the date.
    fn at(&self, year: i64, month: u32, day: u32, hour: i64) {
        self.clock.set(china(year, month, day, hour));
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.call_as(HUB, method, path, body).await
    }

    /// As bank staff (freeze, every agreement listed).
    async fn staff_ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.call_as(STAFF, method, path, body).await;
        assert_eq!(r.status, StatusCode::OK, "{method} {path}: {}", r.json);
        r.json
    }

    async fn call_as(&self, key: (&str, &str), method: &str, path: &str, body: Option<Value>) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let now = self.bank.now_unix_s();
        let nonce = signing::new_nonce();
        let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
        for (name, value) in signing::signed_headers(key.0, key.1, method, path, &bytes, now, &nonce) {
            req = req.header(name, value);
        }
        let req = req.body(Body::from(bytes)).expect("request");
        let res = self.app.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let body = to_bytes(res.into_body(), 1 << 20).await.expect("body");
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!(self.bank.check_invariants().await, Ok(()));
        Reply { status, json }
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.call(method, path, body).await;
        assert_eq!(r.status, StatusCode::OK, "{method} {path}: {}", r.json);
        r.json
    }

    async fn open_credit(&self, customer_ref: &str, limit_fen: i64) -> String {
        let body = json!({"request_id": format!("open-{customer_ref}"), "kind": "credit_line",
            "customer_ref": customer_ref, "limit_fen": limit_fen});
        let r = self.ok("POST", "/bank/v1/agreements", Some(body)).await;
        r["agreement_id"].as_str().expect("id").to_string()
    }

    async fn authorize(&self, request_id: &str, agreement_id: &str, amount_fen: i64) -> Value {
        let body = json!({"request_id": request_id, "agreement_id": agreement_id,
            "amount_fen": amount_fen, "merchant_id": "H44010600001"});
        self.ok("POST", "/bank/v1/authorizations", Some(body)).await
    }

    /// A hold, captured whole: the hospital is paid, the patient owes the bank.
    async fn spend(&self, request_id: &str, agreement_id: &str, amount_fen: i64) {
        let auth = self.authorize(request_id, agreement_id, amount_fen).await;
        assert_eq!(auth["status"], "approved", "{auth}");
        let body = json!({"request_id": format!("{request_id}-cap"),
            "authorization_request_id": request_id, "amount_fen": amount_fen});
        self.ok("POST", "/bank/v1/captures", Some(body)).await;
    }

    async fn repay(&self, agreement_id: &str, body: Value) -> Reply {
        let path = format!("/bank/v1/agreements/{agreement_id}/repayments");
        self.call("POST", &path, Some(body)).await
    }

    async fn repay_ok(&self, agreement_id: &str, request_id: &str, amount_fen: i64) -> Value {
        let body = json!({"request_id": request_id, "amount_fen": amount_fen, "source": "bank_transfer"});
        let r = self.repay(agreement_id, body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        r.json
    }

    async fn request_limit(&self, agreement_id: &str, request_id: &str, limit_fen: i64) -> Reply {
        let path = format!("/bank/v1/agreements/{agreement_id}/limit-requests");
        let body = json!({"request_id": request_id, "requested_limit_fen": limit_fen});
        self.call("POST", &path, Some(body)).await
    }

    async fn account(&self, agreement_id: &str) -> Value {
        let path = format!("/bank/v1/agreements/{agreement_id}/statements");
        self.ok("GET", &path, None).await
    }

    async fn agreement(&self, agreement_id: &str) -> Value {
        self.ok("GET", &format!("/bank/v1/agreements/{agreement_id}"), None).await
    }

    /// (type, agreement, request id) of every event after `after`.
    async fn events(&self, after: u64) -> Vec<(String, String, Value)> {
        let feed = self.ok("GET", &format!("/bank/v1/events?after={after}"), None).await;
        let events = feed["events"].as_array().expect("events").clone();
        events
            .iter()
            .map(|e| {
                let kind = e["type"].as_str().expect("type").to_string();
                let agreement = e["agreement_id"].as_str().expect("agreement").to_string();
                (kind, agreement, e["request_id"].clone())
            })
            .collect()
    }
}

/// `hour`:00 China time (UTC+8) on the date, as unix seconds.
fn china(year: i64, month: u32, day: u32, hour: i64) -> i64 {
    Day::from_ymd(year, month, day).start_unix_s() + hour * 3600
}

fn event(kind: &str, agreement: &str, request_id: Value) -> (String, String, Value) {
    (kind.to_string(), agreement.to_string(), request_id)
}

#[tokio::test]
async fn a_cycle_repaid_on_time_costs_no_interest() {
    let t = TestBank::new();
    let line = t.open_credit("hub-agr-1", 500_000).await;
    t.at(2026, 1, 5, 10);
    t.spend("visit-1", &line, 25_000).await;
    t.at(2026, 1, 20, 10);
    let refund = json!({"request_id": "refund-1", "capture_request_id": "visit-1-cap", "amount_fen": 5_000});
    t.ok("POST", "/bank/v1/refunds", Some(refund)).await;

    // The last evening of the cycle: nothing billed yet.
    t.at(2026, 1, 31, 23);
    let account = t.account(&line).await;
    assert_eq!(account["statements"], json!([]));
    assert_eq!(account["unbilled_fen"], 20_000);

    // 00:00 China time on the 1st (16:00 UTC the day before) closes the statement.
    t.at(2026, 2, 1, 0);
    let account = t.account(&line).await;
    let statement = &account["statements"][0];
    assert_eq!(statement["statement_id"], format!("{line}-s20260201"));
    assert_eq!(
        (&statement["period_start"], &statement["period_end"], &statement["due_date"]),
        (&json!("2026-01-01"), &json!("2026-01-31"), &json!("2026-02-11"))
    );
    assert_eq!(statement["amount_due_fen"], 20_000);
    assert_eq!(statement["status"], "open");
    assert_eq!(account["unbilled_fen"], 0);
    assert_eq!(account["used_fen"], 20_000);

    // A new visit in the next cycle, then the statement paid late on its due date.
    t.at(2026, 2, 3, 10);
    t.spend("visit-2", &line, 10_000).await;
    t.at(2026, 2, 11, 23);
    let op = t.repay_ok(&line, "repay-1", 20_000).await;
    assert_eq!((&op["kind"], &op["status"], &op["amount_fen"]), (&json!("repayment"), &json!("posted"), &json!(20_000)));
    assert_eq!(op["available_fen_after"], 500_000 - 10_000);

    t.at(2026, 2, 12, 9);
    let account = t.account(&line).await;
    let statement = &account["statements"][0];
    assert_eq!((&statement["status"], &statement["interest_fen"]), (&json!("paid"), &json!(0)));
    assert_eq!(account["debt_fen"], 10_000);
    assert_eq!(t.agreement(&line).await["status"], "active");

    t.at(2026, 3, 1, 9);
    let account = t.account(&line).await;
    let second = &account["statements"][1];
    assert_eq!((&second["period_start"], &second["period_end"]), (&json!("2026-02-01"), &json!("2026-02-28")));
    assert_eq!(second["amount_due_fen"], 10_000);
    // Only the repayment is news for the hub: the line was never overdue.
    assert_eq!(t.events(0).await, vec![event("repayment_posted", &line, json!("repay-1"))]);
}

#[tokio::test]
async fn an_overdue_line_declines_until_repaid_with_interest() {
    let t = TestBank::new();
    let line = t.open_credit("hub-agr-1", 500_000).await;
    t.spend("visit-1", &line, 100_000).await;

    // The day after the due date: overdue, with one day of interest (0.05 % of 1,000 yuan).
    t.at(2026, 2, 12, 0);
    let agreement = t.agreement(&line).await;
    assert_eq!(agreement["status"], "overdue");
    let account = t.account(&line).await;
    assert_eq!(account["statements"][0]["status"], "overdue");
    assert_eq!(account["statements"][0]["interest_fen"], 50);
    assert_eq!(account["overdue_fen"], 100_050);
    let declined = t.authorize("visit-2", &line, 1_000).await;
    assert_eq!((&declined["status"], &declined["decline_code"]), (&json!("declined"), &json!("agreement_overdue")));
    let staff = t.staff_ok("GET", "/bank/v1/agreements?status=overdue", None).await;
    assert_eq!(staff["agreements"][0]["agreement_id"], json!(line));
    assert_eq!(staff["agreements"].as_array().map(Vec::len), Some(1));

    // Three days overdue; more than the debt is refused, the debt itself reinstates the line.
    t.at(2026, 2, 14, 10);
    assert_eq!(t.account(&line).await["debt_fen"], 100_150);
    let too_much = json!({"request_id": "repay-1", "amount_fen": 100_151, "source": "bank_transfer"});
    let r = t.repay(&line, too_much).await;
    assert_eq!((r.status, &r.json["code"]), (StatusCode::CONFLICT, &json!("repayment_exceeds_debt")));
    t.repay_ok(&line, "repay-1", 100_150).await;
    assert_eq!(t.agreement(&line).await["status"], "active");
    let approved = t.authorize("visit-3", &line, 1_000).await;
    assert_eq!(approved["status"], "approved");
    let none_overdue = t.staff_ok("GET", "/bank/v1/agreements?status=overdue", None).await;
    assert_eq!(none_overdue["agreements"], json!([]));

    // Paid: no more interest.
    t.at(2026, 3, 20, 10);
    let account = t.account(&line).await;
    assert_eq!(account["statements"][0]["interest_fen"], 150);
    assert_eq!(account["statements"][0]["status"], "paid");
    assert_eq!(
        t.events(0).await,
        vec![
            event("line_overdue", &line, Value::Null),
            event("repayment_posted", &line, json!("repay-1")),
            event("line_reinstated", &line, json!("repay-1")),
        ]
    );
}

#[tokio::test]
async fn a_partial_repayment_leaves_the_line_overdue() {
    let t = TestBank::new();
    let line = t.open_credit("hub-agr-1", 500_000).await;
    t.spend("visit-1", &line, 100_000).await;
    t.at(2026, 2, 5, 10);
    t.spend("visit-2", &line, 30_000).await;
    t.at(2026, 2, 12, 8);
    // Interest first, then the statement's principal.
    t.repay_ok(&line, "repay-1", 60_000).await;
    assert_eq!(t.agreement(&line).await["status"], "overdue");
    let declined = t.authorize("visit-3", &line, 1_000).await;
    assert_eq!(declined["decline_code"], "agreement_overdue");
    let account = t.account(&line).await;
    let repayment = &account["repayments"][0];
    assert_eq!(
        (&repayment["to_interest_fen"], &repayment["to_statements_fen"], &repayment["to_unbilled_fen"]),
        (&json!(50), &json!(59_950), &json!(0))
    );
    assert_eq!(account["statements"][0]["outstanding_fen"], 40_050);

    // A day later: 40,050 × 0.05 % = 20.025, rounded half up per day to 20 fen.
    t.at(2026, 2, 13, 8);
    let account = t.account(&line).await;
    assert_eq!(account["statements"][0]["outstanding_fen"], 40_070);
    assert_eq!(account["used_fen"], 40_050 + 30_000);
    // Paying the overdue statement and part of the unbilled spending reinstates the line.
    t.repay_ok(&line, "repay-2", 50_070).await;
    let account = t.account(&line).await;
    assert_eq!(account["repayments"][1]["to_unbilled_fen"], 10_000);
    assert_eq!(account["unbilled_fen"], 20_000);
    assert_eq!(account["status"], "active");
    assert_eq!(t.agreement(&line).await["available_fen"], 500_000 - 20_000);
}

#[tokio::test]
async fn a_repayment_from_the_personal_account_is_recorded_with_its_source() {
    let t = TestBank::new();
    let line = t.open_credit("hub-agr-7", 500_000).await;
    t.spend("visit-1", &line, 8_800).await;
    let body = json!({"request_id": "repay-pa-1", "amount_fen": 8_800, "source": "personal_account",
        "reference": "INS-2026-0000123"});
    let first = t.repay(&line, body.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json);
    // A retry replays; the same id with another amount is refused.
    let again = t.repay(&line, body.clone()).await;
    assert_eq!(again.json, first.json);
    let mut changed = body;
    changed["amount_fen"] = json!(100);
    let reused = t.repay(&line, changed).await;
    assert_eq!((reused.status, &reused.json["code"]), (StatusCode::CONFLICT, &json!("request_id_reused")));

    let account = t.account(&line).await;
    let repayment = &account["repayments"][0];
    assert_eq!((&repayment["source"], &repayment["reference"]), (&json!("personal_account"), &json!("INS-2026-0000123")));
    assert_eq!(repayment["to_unbilled_fen"], 8_800);
    let feed = t.ok("GET", "/bank/v1/events", None).await;
    assert_eq!(feed["last_seq"], 1, "one event despite the retry");
    let e = &feed["events"][0];
    assert_eq!((&e["seq"], &e["type"], &e["customer_ref"]), (&json!(1), &json!("repayment_posted"), &json!("hub-agr-7")));
    assert_eq!((&e["amount_fen"], &e["source"], &e["reference"]), (&json!(8_800), &json!("personal_account"), &json!("INS-2026-0000123")));
    assert_eq!((&e["used_fen"], &e["debt_fen"]), (&json!(0), &json!(0)));
    let op = t.ok("GET", "/bank/v1/operations/repay-pa-1", None).await;
    assert_eq!(op["kind"], "repayment");

    // Nothing owed: any repayment exceeds the debt. Bad bodies are 400s.
    let r = t.repay(&line, json!({"request_id": "repay-pa-2", "amount_fen": 1, "source": "bank_transfer"})).await;
    assert_eq!(r.json["code"], "repayment_exceeds_debt");
    for bad in [
        json!({"request_id": "r", "amount_fen": 0, "source": "bank_transfer"}),
        json!({"request_id": "r", "amount_fen": 1, "source": "cash"}),
        json!({"request_id": "r", "amount_fen": 1}),
    ] {
        let r = t.repay(&line, bad.clone()).await;
        assert_eq!((r.status, &r.json["code"]), (StatusCode::BAD_REQUEST, &json!("bad_request")), "{bad}");
    }
    let r = t.repay("agr-missing", json!({"request_id": "r", "amount_fen": 1, "source": "bank_transfer"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_refund_after_repayment_goes_back_to_the_customer() {
    let t = TestBank::new();
    let line = t.open_credit("hub-agr-1", 500_000).await;
    t.spend("visit-1", &line, 10_000).await;
    t.repay_ok(&line, "repay-1", 10_000).await;
    let refund = json!({"request_id": "refund-1", "capture_request_id": "visit-1-cap", "amount_fen": 10_000});
    t.ok("POST", "/bank/v1/refunds", Some(refund)).await;
    let account = t.account(&line).await;
    assert_eq!((&account["used_fen"], &account["debt_fen"], &account["returned_fen"]), (&json!(0), &json!(0), &json!(10_000)));
    assert_eq!(t.agreement(&line).await["available_fen"], 500_000);
}

#[tokio::test]
async fn a_refund_of_an_overdue_visit_leaves_the_interest_owed() {
    let t = TestBank::new();
    let line = t.open_credit("hub-agr-1", 500_000).await;
    t.spend("visit-1", &line, 10_000).await;
    t.at(2026, 2, 12, 9);
    assert_eq!(t.agreement(&line).await["status"], "overdue");
    // The refund clears the principal; the day's interest (5 fen) is still owed.
    let refund = json!({"request_id": "refund-1", "capture_request_id": "visit-1-cap", "amount_fen": 10_000});
    t.ok("POST", "/bank/v1/refunds", Some(refund)).await;
    let account = t.account(&line).await;
    assert_eq!((&account["status"], &account["debt_fen"]), (&json!("overdue"), &json!(5)));
    t.repay_ok(&line, "repay-1", 5).await;
    assert_eq!(t.agreement(&line).await["status"], "active");
}

#[tokio::test]
async fn a_long_silence_is_billed_once_with_simple_interest() {
    let t = TestBank::new();
    let line = t.open_credit("hub-agr-1", 500_000).await;
    t.spend("visit-1", &line, 1_000).await;
    t.at(2027, 1, 1, 9);
    let account = t.account(&line).await;
    // One statement: the later statement days had nothing to bill.
    assert_eq!(account["statements"].as_array().map(Vec::len), Some(1));
    // 1,000 fen × 0.05 % = 0.5 fen, half up to 1 fen for each day from 2026-02-12 to 2027-01-01.
    let days = Day::from_ymd(2027, 1, 1).0 - Day::from_ymd(2026, 2, 11).0;
    assert_eq!(account["statements"][0]["interest_fen"], days);
    assert_eq!(account["debt_fen"], 1_000 + days);
    // Billing twice on the same day, or with the clock moved back, changes nothing.
    t.bank.run_billing().await.expect("billing");
    t.at(2026, 6, 1, 9);
    assert_eq!(t.account(&line).await, account);
}

#[tokio::test]
async fn limit_increases_are_approved_within_the_rules() {
    let t = TestBank::new();
    let line = t.open_credit("hub-agr-1", 500_000).await;
    let approved = t.request_limit(&line, "limit-1", 800_000).await;
    assert_eq!((&approved.json["kind"], &approved.json["status"]), (&json!("limit_increase"), &json!("approved")));
    assert_eq!(approved.json["available_fen_after"], 800_000);
    assert_eq!(t.agreement(&line).await["limit_fen"], 800_000);

    let check = |request_id: &'static str, limit: i64, code: &'static str| {
        let (t, line) = (&t, &line);
        async move {
            let r = t.request_limit(line, request_id, limit).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.json);
            assert_eq!((&r.json["status"], &r.json["decline_code"]), (&json!("declined"), &json!(code)), "{request_id}");
        }
    };
    check("limit-2", 800_000, "limit_not_increased").await;
    check("limit-3", 1_600_001, "limit_above_twice_current").await;
    t.request_limit(&line, "limit-4", 1_600_000).await;
    check("limit-5", 5_000_001, "limit_above_maximum").await;
    assert_eq!(t.agreement(&line).await["limit_fen"], 1_600_000);

    // An overdue line gets no increase.
    t.spend("visit-1", &line, 1_000).await;
    t.at(2026, 2, 12, 9);
    check("limit-6", 2_000_000, "agreement_overdue").await;
    let r = t.request_limit(&line, "limit-7", 0).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let ops = t.ok("GET", &format!("/bank/v1/operations?agreement_id={line}"), None).await;
    let kinds = ops["operations"].as_array().expect("ops").iter();
    let increases = kinds.filter(|op| op["kind"] == "limit_increase").count();
    assert_eq!(increases, 6, "declines are recorded too");
    let changes: Vec<_> = t.events(0).await.into_iter().filter(|e| e.0 == "limit_changed").map(|e| e.2).collect();
    assert_eq!(changes, vec![json!("limit-1"), json!("limit-4")]);
    let feed = t.ok("GET", "/bank/v1/events", None).await;
    assert_eq!(feed["events"][0]["previous_limit_fen"], 500_000);
    assert_eq!(feed["events"][0]["limit_fen"], 800_000);
}

#[tokio::test]
async fn the_event_feed_pages_in_order_and_signs_for_the_hub() {
    let t = TestBank::new();
    let a = t.open_credit("hub-agr-a", 500_000).await;
    let b = t.open_credit("hub-agr-b", 500_000).await;
    t.spend("visit-a", &a, 2_000).await;
    t.spend("visit-b", &b, 3_000).await;
    t.request_limit(&b, "limit-b", 600_000).await;
    t.at(2026, 2, 12, 9);
    t.account(&a).await;
    t.repay_ok(&a, "repay-a", 2_001).await;

    let (first, second) = if a < b { (&a, &b) } else { (&b, &a) };
    let all = t.events(0).await;
    assert_eq!(
        all,
        vec![
            event("limit_changed", &b, json!("limit-b")),
            // Overdue lines in agreement id order, as billing visits them.
            event("line_overdue", first, Value::Null),
            event("line_overdue", second, Value::Null),
            event("repayment_posted", &a, json!("repay-a")),
            event("line_reinstated", &a, json!("repay-a")),
        ]
    );
    assert_eq!(t.events(3).await, all[3..].to_vec());
    let page = t.ok("GET", "/bank/v1/events?after=1&limit=2", None).await;
    let seqs: Vec<_> = page["events"].as_array().expect("events").iter().map(|e| e["seq"].clone()).collect();
    assert_eq!(seqs, vec![json!(2), json!(3)]);
    assert_eq!(page["last_seq"], 5);
    assert_eq!(t.events(5).await, vec![]);
    assert_eq!(t.events(99).await, vec![]);
    let bad = t.call("GET", "/bank/v1/events?after=-1", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // A push of one event, as the hub would verify it.
    let body = serde_json::to_vec(&page["events"][0]).expect("json");
    let now = t.bank.now_unix_s();
    let header = signing::sign_callback("hub-callback-secret", now, &body);
    let verify = |secret: &str, body: &[u8], at: i64| signing::verify_callback(secret, &header, body, at, signing::CALLBACK_TOLERANCE_S);
    assert_eq!(verify("hub-callback-secret", &body, now), Ok(()));
    assert_eq!(verify("wrong", &body, now), Err(signing::AuthError::BadSignature));
    assert_eq!(verify("hub-callback-secret", b"{}", now), Err(signing::AuthError::BadSignature));
    assert_eq!(verify("hub-callback-secret", &body, now + 301), Err(signing::AuthError::StaleTimestamp));
}

#[tokio::test]
async fn bank_staff_list_agreements_and_statements() {
    let t = TestBank::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(t.open_credit(&format!("hub-agr-{i}"), 500_000).await);
    }
    let debit = json!({"request_id": "open-debit", "kind": "debit_card", "customer_ref": "hub-agr-d",
        "card_no": "6222020000001234"});
    let debit = t.ok("POST", "/bank/v1/agreements", Some(debit)).await["agreement_id"].clone();
    ids.push(debit.as_str().expect("id").to_string());
    ids.sort();

    let page = t.staff_ok("GET", "/bank/v1/agreements?limit=3", None).await;
    let listed: Vec<_> =
        page["agreements"].as_array().expect("list").iter().map(|a| a["agreement_id"].as_str().expect("id").to_string()).collect();
    assert_eq!(listed, ids[..3].to_vec());
    assert_eq!(page["next_after"], json!(ids[2]));
    let rest = t.staff_ok("GET", &format!("/bank/v1/agreements?after={}", ids[2]), None).await;
    assert_eq!(rest["agreements"][0]["agreement_id"], json!(ids[3]));
    assert_eq!(rest["next_after"], Value::Null);
    let active = t.staff_ok("GET", "/bank/v1/agreements?status=active", None).await;
    assert_eq!(active["agreements"].as_array().map(Vec::len), Some(4));

    for (path, status, code) in [
        ("/bank/v1/agreements?status=late", 400, "bad_request"),
        ("/bank/v1/agreements?colour=red", 400, "bad_request"),
        ("/bank/v1/agreements/agr-missing/statements", 404, "unknown_agreement"),
    ] {
        let r = t.call_as(STAFF, "GET", path, None).await;
        assert_eq!((r.status.as_u16(), &r.json["code"]), (status, &json!(code)), "{path}");
    }
    let debit_statements = format!("/bank/v1/agreements/{}/statements", debit.as_str().expect("id"));
    let r = t.call("GET", &debit_statements, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn frozen_and_closed_take_precedence_over_overdue() {
    let t = TestBank::new();
    let line = t.open_credit("hub-agr-1", 500_000).await;
    t.spend("visit-1", &line, 1_000).await;
    t.at(2026, 2, 12, 9);
    let before = t.events(0).await.len() as u64;
    // Bank staff freeze over HTTP; freezing again changes nothing and tells nobody twice.
    let frozen = t.staff_ok("POST", &format!("/bank/v1/agreements/{line}/freeze"), Some(json!({"frozen": true}))).await;
    assert_eq!(frozen["status"], "frozen");
    t.staff_ok("POST", &format!("/bank/v1/agreements/{line}/freeze"), Some(json!({"frozen": true}))).await;
    assert_eq!(t.agreement(&line).await["status"], "frozen");
    t.bank.set_frozen(&line, false).await.expect("unfreeze");
    assert_eq!(t.agreement(&line).await["status"], "overdue");
    let told: Vec<String> = t.events(before).await.into_iter().map(|(kind, _, _)| kind).collect();
    assert_eq!(told, ["line_frozen", "line_unfrozen"], "the hub is told of each change once");
    let bad = t.call_as(STAFF, "POST", &format!("/bank/v1/agreements/{line}/freeze"), Some(json!({"frozen": "yes"}))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let close = json!({"request_id": "close-1"});
    t.ok("POST", &format!("/bank/v1/agreements/{line}/close"), Some(close)).await;
    assert_eq!(t.agreement(&line).await["status"], "closed");
    // A closed line still owes, and may still be repaid.
    t.repay_ok(&line, "repay-1", 1_001).await;
    assert_eq!(t.account(&line).await["debt_fen"], 0);
}
