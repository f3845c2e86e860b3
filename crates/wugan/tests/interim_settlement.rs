//! 中途结算 over HTTP (issue 13): a long stay is settled in the middle while the patient stays in
//! the ward — insurance settles the lines uploaded so far (mid_setl_flag 1), the cash share is
//! captured from the deposit hold and the rest held again — and the bedside click later settles
//! only the lines that came after. Amounts to the fen, the ledger balanced, the bank's and the
//! insurance center's own books agreeing, the day level in reconciliation. The hub, the center and
//! the bank read one business clock set to noon of a fixed day, so the day's counts do not depend
//! on the hour the test runs at. On SQLite; with WUGAN_TEST_DATABASE_URL, on PostgreSQL.

use serde_json::{json, Value};
use std::sync::Arc;
use wugan::faults::{Fault, FaultPlan, Rule};
use wugan::his::{fee_line, HisClient, Reply};
use wugan::system;

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";
const EMPLOYEE_PSN_NO: &str = "44030000000000000001";
const BED: &str = "110900001000000"; // 甲, 60.00 a day
const AMOXICILLIN: &str = "XJ01CAA040E001010101923"; // 甲, 18.50 a box
const EXAMINATION: &str = "013100000010000"; // 150.00
const DAY: &str = "2026-11-10";

/// The wall clock moved to noon of `DAY`, China time: the business time of all three parties.
struct BusinessClock {
    offset_s: i64,
}

impl BusinessClock {
    fn noon() -> Arc<BusinessClock> {
        let noon = time::macros::datetime!(2026-11-10 12:00 +8);
        Arc::new(BusinessClock { offset_s: noon.unix_timestamp() - time::OffsetDateTime::now_utc().unix_timestamp() })
    }

    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() + time::Duration::seconds(self.offset_s)
    }
}

impl wugan_hub::clock::Clock for BusinessClock {
    fn now_utc(&self) -> time::OffsetDateTime {
        self.now()
    }
}

impl wugan_insurance::Clock for BusinessClock {
    fn now_utc(&self) -> time::OffsetDateTime {
        self.now()
    }
}

impl wugan_bank::Clock for BusinessClock {
    fn now_unix_s(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

struct World {
    sys: system::System,
    his: HisClient,
    operator: HisClient,
    agreement_id: String,
    _dir: common::TempDir,
}

/// A system on the business clock with the employee signed up (credit line, the personal account
/// not used: the cash share is the line's), no recovery worker (the test runs its passes), and `fault` on the bank's wire if any.
async fn world(fault: Option<(&str, Fault)>) -> World {
    let faults = fault.map(|(step, fault)| Rule { step: step.to_string(), nth: 1, fault }).into_iter().collect();
    world_on(faults, json!({"method": "credit_line", "bank_code": "BANK01"})).await
}

/// The same, the employee signed up with `payment`, and the scripted `faults` on the bank's wire.
async fn world_on(faults: Vec<Rule>, payment: Value) -> World {
    let (mut opts, dir) = common::fresh_options("interim").await;
    opts.manual_recovery = true;
    let clock = BusinessClock::noon();
    opts.hub_clock = Some(clock.clone());
    opts.insurance_clock = Some(clock.clone());
    opts.bank_clock = Some(clock);
    if !faults.is_empty() {
        opts.bank_faults = Some(Arc::new(FaultPlan::scripted(faults)));
    }
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let agreement = operator.sign_up("01", EMPLOYEE_TOKEN, false, payment).await.expect("hub");
    assert!(agreement.ok(), "{agreement:?}");
    let agreement_id = agreement.body["id"].as_str().expect("agreement id").to_string();
    World { sys, his, operator, agreement_id, _dir: dir }
}

/// Day `d`'s fees: a bed day, an examination on days 2 and 8, four boxes of amoxicillin on day 3.
fn day(d: u32) -> Vec<Value> {
    let mut lines = vec![fee_line(&format!("D{d}-1"), BED, "60.00", "1", "60.00")];
    match d {
        2 | 8 => lines.push(fee_line(&format!("D{d}-2"), EXAMINATION, "150.00", "1", "150.00")),
        3 => lines.push(fee_line(&format!("D{d}-2"), AMOXICILLIN, "18.50", "4", "74.00")),
        _ => {}
    }
    lines
}

fn fen(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} missing in {v}"))
}

/// What the ledger holds pending (every approved hold not yet captured or released).
fn holds_open_fen(ledger: &Value) -> i64 {
    ledger["accounts"].as_object().into_iter().flatten().map(|(_, a)| a["credits_pending"].as_i64().unwrap_or(0)).sum()
}

/// A settlement's shares as (medfee, fund, personal account, cash, bank, unpaid).
fn shares(s: &Value) -> (i64, i64, i64, i64, i64, i64) {
    (fen(s, "medfee_fen"), fen(s, "fund_fen"), fen(s, "personal_account_fen"), fen(s, "cash_fen"), fen(s, "bank_fen"), fen(s, "unpaid_fen"))
}

impl World {
    /// Admits the employee with a 300-yuan deposit held on the line: the stay's id.
    async fn admit(&self, ipt_no: &str) -> String {
        let body = json!({"ipt_no": ipt_no, "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "deposit_fen": 30_000});
        let stay = self.his.post("/api/v1/stays", &body).await.expect("hub");
        assert!(stay.ok(), "admission: {stay:?}");
        stay.body["id"].as_str().expect("stay id").to_string()
    }

    async fn upload_days(&self, stay: &str, days: std::ops::RangeInclusive<u32>) -> Value {
        let mut last = Value::Null;
        for d in days {
            let r = self.his.post(&format!("/api/v1/stays/{stay}/fees"), &json!({"lines": day(d)})).await.expect("hub");
            assert!(r.ok(), "day {d}: {r:?}");
            last = r.body;
        }
        last
    }

    /// The interim settlement under idempotency key `key` (the same key again is the same request).
    async fn interim(&self, stay: &str, key: &str) -> Reply {
        self.his.post_with_key(&format!("/api/v1/stays/{stay}/interim_settlement"), key, &json!({})).await.expect("hub")
    }

    async fn stay(&self, stay: &str) -> Value {
        self.his.get(&format!("/api/v1/stays/{stay}")).await.expect("hub").body
    }

    /// A stay on a 5,000-yuan line whose 300-yuan deposit an interim settlement used up: 4,500
    /// yuan of examinations on day 1 (the rule's raise to 6,750 yuan is more than the line has
    /// left), their cash share (the deductible and the co-payment) above the hold, raised onto it
    /// and captured whole. Its id and the cash captured.
    async fn used_up_stay(&self, ipt_no: &str) -> (String, i64) {
        let id = self.admit(ipt_no).await;
        let lines = json!({"lines": [fee_line("X1", EXAMINATION, "150.00", "30", "4500.00")]});
        let short = self.his.post(&format!("/api/v1/stays/{id}/fees"), &lines).await.expect("hub");
        assert_eq!((short.body["state"].as_str(), short.body["held_fen"].as_i64()), (Some("deposit_short"), Some(30_000)), "{short:?}");
        let settled = self.interim(&id, "interim-1").await;
        assert!(settled.ok(), "{settled:?}");
        let first = &settled.body["interim_settlements"][0];
        let cash = fen(first, "cash_fen");
        assert!(cash > 30_000, "the share is above the deposit: {first}");
        let taken = (fen(first, "medfee_fen"), fen(first, "bank_fen"), fen(first, "unpaid_fen"), fen(first, "reheld_fen"));
        assert_eq!(taken, (450_000, cash, 0, 0), "{first}");
        let used_up = &settled.body;
        assert_eq!(
            (used_up["state"].as_str(), used_up["deposit_short"].as_str(), fen(used_up, "held_fen")),
            (Some("deposit_short"), Some("deposit_used_up"), 0)
        );
        assert_eq!(self.bank_line().await, (cash, 0));
        (id, cash)
    }

    /// 补交押金 under idempotency key `key`.
    async fn deposit(&self, stay: &str, key: &str, deposit_fen: i64) -> Reply {
        let body = json!({"deposit_fen": deposit_fen});
        self.his.post_with_key(&format!("/api/v1/stays/{stay}/deposit"), key, &body).await.expect("hub")
    }

    /// What the line has captured (used) and holds.
    async fn bank_line(&self) -> (i64, i64) {
        let payment = self.operator.get(&format!("/api/v1/agreements/{}", self.agreement_id)).await.expect("hub").body["payment"].clone();
        (fen(&payment, "used_fen"), fen(&payment, "held_fen"))
    }

    async fn ledger(&self) -> Value {
        let r = self.operator.get("/api/v1/ledger").await.expect("hub");
        assert_eq!(r.body["balanced"], json!(true), "the ledger balances: {}", r.body);
        r.body
    }

    /// The center's own settlements of the employee: (setl_id, mid_setl_flag, medfee in yuan).
    async fn center_settlements(&self) -> Vec<Value> {
        common::center_settlements_of(&self.sys, EMPLOYEE_PSN_NO).await
    }
}

#[tokio::test]
async fn a_ten_day_stay_is_settled_after_day_five_and_the_bedside_click_settles_only_days_six_to_ten() {
    let w = world(None).await;
    let id = w.admit("ZY1001").await;
    // Days 1–5: 5 bed days, an examination, four boxes: 524.00 yuan; the rule raised the hold.
    let fifth = w.upload_days(&id, 1..=5).await;
    assert_eq!((fen(&fifth, "charges_fen"), fen(&fifth, "held_fen")), (52_400, 78_600), "{fifth}");
    assert_eq!(w.bank_line().await, (0, 78_600), "held, not spent");

    // 中途结算: insurance settles days 1–5, the cash share is captured from the hold, the rest
    // held again; the patient stays in the ward.
    let settled = w.interim(&id, "interim-1").await;
    assert!(settled.ok(), "{settled:?}");
    let stay = &settled.body;
    assert_eq!(stay["state"], "in_ward", "{stay}");
    let interims = stay["interim_settlements"].as_array().expect("a list");
    assert_eq!(interims.len(), 1, "{stay}");
    let first = &interims[0];
    // The admission's deductible (起付线) takes the whole of days 1–5: all of it is the cash share,
    // captured from the hold.
    assert_eq!(shares(first), (52_400, 0, 0, 52_400, 52_400, 0), "{first}");
    let cash = 52_400;
    assert_eq!((first["n"].as_u64(), fen(first, "reheld_fen")), (Some(1), 78_600 - cash), "{first}");
    assert_eq!(first["lines"].as_array().map(Vec::len), Some(7), "days 1–5's seven lines: {first}");
    assert_eq!(fen(stay, "held_fen"), 78_600 - cash, "the rest of the hold, held again");
    assert!(stay["settlement"].is_null(), "no final settlement yet: {stay}");
    assert_eq!(w.bank_line().await, (cash, 78_600 - cash), "captured once, the rest held");
    let ledger = w.ledger().await;
    assert_eq!(fen(&ledger, "hospitals_received_fen"), 52_400, "the hospital has days 1–5");
    // The same request again (its answer lost) answers the same; a new one has nothing to settle.
    assert_eq!(w.interim(&id, "interim-1").await.body["interim_settlements"], stay["interim_settlements"]);
    let again = w.interim(&id, "interim-2").await;
    assert_eq!((again.status, again.body["error"]["code"].as_str()), (409, Some("nothing_to_settle")), "{again:?}");
    // The center refuses 2404 with a settlement in force: the hub says so before asking.
    let cancel = w.his.post(&format!("/api/v1/stays/{id}/cancel"), &json!({})).await.expect("hub");
    assert_eq!((cancel.status, cancel.body["error"]["code"].as_str()), (409, Some("stay_not_open")), "{cancel:?}");

    // Days 6–10: 450.00 yuan more; the bedside click settles those only and releases the rest.
    let tenth = w.upload_days(&id, 6..=10).await;
    assert_eq!(fen(&tenth, "charges_fen"), 52_400 + 45_000, "the stay's charges stay whole: {tenth}");
    let click = w.his.post(&format!("/api/v1/stays/{id}/discharge"), &json!({})).await.expect("hub");
    assert!(click.ok(), "{click:?}");
    let done = &click.body;
    assert_eq!((done["state"].as_str(), fen(done, "held_fen")), (Some("settled"), 0), "{done}");
    let last = &done["settlement"];
    // Only days 6–10; the deductible is charged once per admission, so the fund pays its part now.
    assert_eq!(shares(last), (45_000, 6_660, 0, 38_340, 38_340, 0), "{last}");
    let cash2 = 38_340;
    assert_eq!(done["interim_settlements"], stay["interim_settlements"], "the stay reads both settlements");
    assert_eq!(w.bank_line().await, (cash + cash2, 0), "two captures, nothing left held");
    let ledger = w.ledger().await;
    assert_eq!(fen(&ledger, "hospitals_received_fen"), 97_400, "every fen of the stay, once");
    assert_eq!(fen(&ledger, "hospitals_unpaid_fen"), 0);

    // The center's books: an interim settlement and a final one, of the lines each took.
    let center = w.center_settlements().await;
    assert_eq!(center.len(), 2, "{center:?}");
    // Each 2304 sent what the national interface marks required, and carried back its 2303
    // reply's split by policy scope (checked by the center against its own, to the fen).
    // Days 1–5: the examination (150.00, 丙) all self-paid, the rest in scope; days 6–10 alike.
    let scope = |s: &Value| {
        ["medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt"]
            .map(|f| s[f].as_str().unwrap_or_default().to_string())
    };
    let split: Vec<_> = center.iter().map(scope).collect();
    assert_eq!(split, [["524.00", "150.00", "0.00", "0.00", "374.00"], ["450.00", "150.00", "0.00", "0.00", "300.00"]]);
    for settled in &center {
        let sent: Vec<&str> = settled["input_fields"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let required = [
            "psn_no",
            "mdtrt_cert_type",
            "mdtrt_cert_no",
            "medfee_sumamt",
            "psn_setlway",
            "mdtrt_id",
            "acct_used_flag",
            "insutype",
            "mid_setl_flag",
            "fulamt_ownpay_amt",
            "overlmt_selfpay",
            "preselfpay_amt",
            "inscp_scp_amt",
        ];
        assert_eq!(required.iter().filter(|f| !sent.contains(f)).collect::<Vec<_>>(), Vec::<&&str>::new(), "{settled}");
    }
    // One invoice per settlement, each stating the lines it settled.
    let invoices = w.his.get("/api/v1/invoices").await.expect("hub");
    let of_stay = |i: &&Value| i["settlement_id"].as_str().is_some_and(|s| s.starts_with(&format!("{id}:")));
    let mut totals: Vec<i64> =
        invoices.body["invoices"].as_array().into_iter().flatten().filter(of_stay).map(|i| fen(i, "total_fen")).collect();
    totals.sort();
    assert_eq!(totals, [45_000, 52_400], "{invoices:?}");

    // The day is level: both 2304s under 21 at the center, both captures in the bank's file.
    let view = w.sys.app.reconcile_day(DAY, &|_| {}).await.expect("the day reconciles");
    let buckets: Vec<(&str, u64, bool)> = view.insurance_buckets.iter().map(|b| (b.clr_type.as_str(), b.count, b.level)).collect();
    assert_eq!(buckets, [("21", 2, true)], "{buckets:?}");
    let report = serde_json::to_value(&view).expect("json");
    assert_eq!(report["banks"]["mismatches"], json!(0), "{report}");
    assert_eq!(report["banks"]["matched"], json!(2), "{report}");
    assert_eq!(report["exceptions"], json!([]), "{report}");
}

#[tokio::test]
async fn an_interim_settlement_is_refused_outside_the_ward_and_with_nothing_new() {
    let w = world(None).await;
    let id = w.admit("ZY1002").await;
    let empty = w.interim(&id, "interim-1").await;
    assert_eq!((empty.status, empty.body["error"]["code"].as_str()), (409, Some("nothing_to_settle")), "{empty:?}");
    // A drug and its full return (退药): lines that add up to nothing are no settlement (review r25
    // ward F8: the center settled zero under a setl_id of its own). The bedside click takes them.
    let mut returned = fee_line("R2", AMOXICILLIN, "18.50", "-4", "-74.00");
    returned["init_feedetl_sn"] = json!("R1");
    let lines = json!({"lines": [fee_line("R1", AMOXICILLIN, "18.50", "4", "74.00"), returned]});
    assert!(w.his.post(&format!("/api/v1/stays/{id}/fees"), &lines).await.expect("hub").ok());
    let zero = w.interim(&id, "interim-zero").await;
    assert_eq!((zero.status, zero.body["error"]["code"].as_str()), (409, Some("nothing_to_settle")), "{zero:?}");
    w.upload_days(&id, 1..=2).await;
    let click = w.his.post(&format!("/api/v1/stays/{id}/discharge"), &json!({})).await.expect("hub");
    assert_eq!(click.body["state"], "settled", "{click:?}");
    let late = w.interim(&id, "late").await;
    assert_eq!((late.status, late.body["error"]["code"].as_str()), (409, Some("stay_not_open")), "{late:?}");
    assert_eq!(w.stay(&id).await["interim_settlements"], json!([]));
}

#[tokio::test]
async fn an_interim_capture_whose_answer_is_lost_is_resumed_by_recovery_and_never_captured_twice() {
    // The bank captures, and its answer is lost: the hub cannot know, and stops there.
    let w = world(Some(("POST captures", Fault::LoseReply))).await;
    let id = w.admit("ZY1003").await;
    w.upload_days(&id, 1..=3).await;
    let (_, held) = w.bank_line().await;
    let cut = w.interim(&id, "interim-1").await;
    assert_eq!(cut.status, 503, "{cut:?}");
    let stay = w.stay(&id).await;
    assert_eq!((stay["state"].as_str(), stay["interim_settlements"].as_array().map(Vec::len)), (Some("interim_settling"), Some(0)));
    let line = w.bank_line().await;
    // While it is under way, a day's fees and the bedside click are refused before anything is
    // sent: its 2303/2304 cover the lines fixed when it began, on the hold it captures on.
    let fees = w.his.post(&format!("/api/v1/stays/{id}/fees"), &json!({"lines": day(4)})).await.expect("hub");
    assert_eq!((fees.status, fees.body["error"]["code"].as_str()), (409, Some("interim_settlement_in_progress")), "{fees:?}");
    let click = w.his.post(&format!("/api/v1/stays/{id}/discharge"), &json!({})).await.expect("hub");
    assert_eq!((click.status, click.body["error"]["code"].as_str()), (409, Some("interim_settlement_in_progress")), "{click:?}");
    let still = w.stay(&id).await;
    assert_eq!((still["state"].as_str(), still["fee_lines"].as_u64()), (Some("interim_settling"), stay["fee_lines"].as_u64()), "{still}");
    assert_eq!(w.bank_line().await, line, "the bank not asked either: the capture's record waits for recovery");

    // The recovery pass asks the bank for the capture's record, books it, and holds the rest again.
    w.sys.app.resume_unfinished(std::time::Duration::ZERO).await.expect("a recovery pass");
    let stay = w.stay(&id).await;
    assert_eq!(stay["state"], "in_ward", "{stay}");
    let first = &stay["interim_settlements"][0];
    let cash = fen(first, "cash_fen");
    assert_eq!((fen(first, "bank_fen"), fen(first, "reheld_fen"), fen(&stay, "held_fen")), (cash, held - cash, held - cash), "{first}");
    assert_eq!(w.bank_line().await, (cash, held - cash), "captured once");
    // The ward's retry of the same request answers the finished settlement.
    let retried = w.interim(&id, "interim-1").await;
    assert!(retried.ok(), "{retried:?}");
    assert_eq!(retried.body["interim_settlements"], stay["interim_settlements"]);
    // Discharged with nothing uploaded since: the final settlement has no lines of its own.
    w.upload_days(&id, 4..=4).await;
    let click = w.his.post(&format!("/api/v1/stays/{id}/discharge"), &json!({})).await.expect("hub");
    assert_eq!(click.body["state"], "settled", "{click:?}");
    assert_eq!(fen(&click.body["settlement"], "medfee_fen"), 6_000, "day 4 only");
    assert_eq!(w.bank_line().await.1, 0, "nothing left held");
    w.ledger().await;
}

#[tokio::test]
async fn a_hold_an_interim_settlement_used_up_is_placed_afresh_and_the_stay_settles_at_the_bedside_on_it() {
    let w = world_on(vec![], json!({"method": "credit_line", "bank_code": "BANK01", "credit_limit_fen": 500_000})).await;
    let (id, cash) = w.used_up_stay("ZY1004").await;
    assert_eq!(holds_open_fen(&w.ledger().await), 0);

    // The ward asks for a fresh deposit: the whole line is more than it has left (`{stay}:hold:1`,
    // declined), 100 yuan is held (`{stay}:hold:2`): back in the ward.
    let declined = w.deposit(&id, "deposit-1", 500_000).await;
    assert!(declined.ok(), "{declined:?}");
    let d = &declined.body;
    assert_eq!(
        (d["state"].as_str(), d["deposit_short"].as_str(), fen(d, "held_fen")),
        (Some("deposit_short"), Some("insufficient_credit"), 0)
    );
    let bad = w.deposit(&id, "deposit-bad", 0).await;
    assert_eq!((bad.status, bad.body["error"]["code"].as_str()), (422, Some("bad_amount")), "{bad:?}");
    let placed = w.deposit(&id, "deposit-2", 10_000).await;
    assert!(placed.ok(), "{placed:?}");
    let p = &placed.body;
    assert_eq!((p["state"].as_str(), p["deposit_short"].as_str(), fen(p, "held_fen")), (Some("in_ward"), None, 10_000));
    // The same request again answers the same; a new one is refused: the stay holds, and its
    // hold is raised with the fees.
    assert_eq!(w.deposit(&id, "deposit-2", 10_000).await.body["held_fen"], json!(10_000));
    let open = w.deposit(&id, "deposit-3", 5_000).await;
    assert_eq!((open.status, open.body["error"]["code"].as_str()), (409, Some("hold_open")), "{open:?}");
    assert_eq!(w.bank_line().await, (cash, 10_000), "one fresh hold");
    assert_eq!(holds_open_fen(&w.ledger().await), 10_000, "the fresh hold pending in the ledger");

    // Day 6's bed and the bedside click: the final settlement's share is captured on the fresh hold.
    w.upload_days(&id, 6..=6).await;
    let click = w.his.post(&format!("/api/v1/stays/{id}/discharge"), &json!({})).await.expect("hub");
    assert!(click.ok(), "{click:?}");
    let done = &click.body;
    let last = &done["settlement"];
    assert_eq!((done["state"].as_str(), fen(done, "held_fen"), fen(last, "medfee_fen")), (Some("settled"), 0, 6_000), "{done}");
    let cash2 = fen(last, "cash_fen");
    assert!(cash2 > 0 && cash2 <= 6_000, "{last}");
    assert_eq!((fen(last, "bank_fen"), fen(last, "unpaid_fen")), (cash2, 0), "{last}");
    assert_eq!(w.bank_line().await, (cash + cash2, 0), "captured on the fresh hold, the rest released");
    let ledger = w.ledger().await;
    assert_eq!(holds_open_fen(&ledger), 0, "nothing left pending: {ledger}");
    assert_eq!((fen(&ledger, "hospitals_received_fen"), fen(&ledger, "hospitals_unpaid_fen")), (456_000, 0), "{ledger}");
}

#[tokio::test]
async fn a_fresh_hold_whose_answer_is_lost_is_asked_for_and_never_held_twice() {
    // The bank approves the fresh hold (the second authorization after the deposit's), and its answer is lost.
    let lose = Rule { step: "POST authorizations".into(), nth: 2, fault: Fault::LoseReply };
    let w = world_on(vec![lose], json!({"method": "credit_line", "bank_code": "BANK01", "credit_limit_fen": 500_000})).await;
    let (id, cash) = w.used_up_stay("ZY1005").await;
    let lost = w.deposit(&id, "deposit-1", 10_000).await;
    assert_eq!(lost.status, 503, "{lost:?}");
    let stay = w.stay(&id).await;
    assert_eq!((stay["state"].as_str(), fen(&stay, "held_fen")), (Some("raising_deposit"), 0), "in flight: {stay}");
    assert_eq!(w.bank_line().await, (cash, 10_000), "the bank holds it");
    // The ward's retry (the same request) asks the bank for `{stay}:hold:1`'s record first: one hold.
    let retried = w.deposit(&id, "deposit-1", 10_000).await;
    assert!(retried.ok(), "{retried:?}");
    assert_eq!((retried.body["state"].as_str(), fen(&retried.body, "held_fen")), (Some("in_ward"), 10_000), "{retried:?}");
    assert_eq!(w.bank_line().await, (cash, 10_000), "never held twice");
    assert_eq!(holds_open_fen(&w.ledger().await), 10_000);
    // A recovery pass finds nothing left to do; the click settles on the hold.
    w.sys.app.resume_unfinished(std::time::Duration::ZERO).await.expect("a recovery pass");
    w.upload_days(&id, 6..=6).await;
    let click = w.his.post(&format!("/api/v1/stays/{id}/discharge"), &json!({})).await.expect("hub");
    assert_eq!((click.body["state"].as_str(), fen(&click.body, "held_fen")), (Some("settled"), 0), "{click:?}");
    let cash2 = fen(&click.body["settlement"], "bank_fen");
    assert_eq!(w.bank_line().await, (cash + cash2, 0));
    assert_eq!(holds_open_fen(&w.ledger().await), 0);
}

impl World {
    /// The bedside click.
    async fn discharge(&self, stay: &str) -> Reply {
        self.his.post(&format!("/api/v1/stays/{stay}/discharge"), &json!({})).await.expect("hub")
    }

    /// The admission at the center: when it was discharged (2402), and its final settlement.
    async fn center_admission(&self, stay: &Value) -> (bool, Value) {
        let mdtrt_id = stay["mdtrt_id"].as_str().expect("admitted");
        let visit = common::insurance_sandbox(&self.sys, &format!("/sandbox/visits/{mdtrt_id}")).await;
        (visit["discharged"].is_string(), visit["final_setl_id"].clone())
    }

    /// A stay closed at the bedside with nothing left to settle: its view, after checking what
    /// every such stay shows — no final settlement asked of the center, the admission discharged,
    /// nothing held, the interim settlements as they were, the same click again answered the same,
    /// and fees and 2305 refused.
    async fn closed_with_nothing_to_settle(&self, id: &str, interims: &Value) -> Value {
        let click = self.discharge(id).await;
        assert!(click.ok(), "not refused for want of lines: {click:?}");
        let done = click.body;
        assert_eq!(
            (done["state"].as_str(), fen(&done, "held_fen"), done["deposit_short"].as_str()),
            (Some("settled_by_interims"), 0, None)
        );
        assert!(done["settlement"].is_null(), "no final settlement: {done}");
        assert_eq!(&done["interim_settlements"], interims, "the interim settlements stand as they were");
        assert_eq!(self.center_admission(&done).await, (true, Value::Null), "discharged (2402), no final settlement at the center");
        assert_eq!(self.center_settlements().await.len(), interims.as_array().map_or(0, Vec::len), "no 2304 beyond the interims");
        let again = self.discharge(id).await;
        assert_eq!((again.status, again.body["state"].as_str()), (200, Some("settled_by_interims")), "{again:?}");
        let fees = self.his.post(&format!("/api/v1/stays/{id}/fees"), &json!({"lines": day(9)})).await.expect("hub");
        assert_eq!((fees.status, fees.body["error"]["code"].as_str()), (409, Some("stay_not_open")), "{fees:?}");
        let cancel = self.his.post(&format!("/api/v1/stays/{id}/settlement/cancel"), &json!({})).await.expect("hub");
        assert_eq!((cancel.status, cancel.body["error"]["code"].as_str()), (409, Some("stay_not_open")), "{cancel:?}");
        done
    }
}

#[tokio::test]
async fn a_stay_an_interim_settlement_took_whole_is_discharged_the_rest_of_its_hold_released_and_nothing_settled_twice() {
    let w = world(None).await;
    let id = w.admit("ZY1006").await;
    // Days 1–5 (524.00 yuan, the hold raised to 786.00), all of it settled in the middle: the
    // deductible takes it whole, captured from the hold, 262.00 held again.
    w.upload_days(&id, 1..=5).await;
    let settled = w.interim(&id, "interim-1").await;
    assert!(settled.ok(), "{settled:?}");
    let interims = settled.body["interim_settlements"].clone();
    assert_eq!(shares(&interims[0]), (52_400, 0, 0, 52_400, 52_400, 0), "{interims}");
    assert_eq!(w.bank_line().await, (52_400, 26_200));

    // The patient leaves the next morning with no fee since: the click discharges (2402) and
    // releases the 262.00 held again; no 2303/2304 with no lines for the center to refuse.
    w.closed_with_nothing_to_settle(&id, &interims).await;
    assert_eq!(w.bank_line().await, (52_400, 0), "the rest released, not captured: one capture in all");
    let ledger = w.ledger().await;
    assert_eq!(holds_open_fen(&ledger), 0, "nothing pending: {ledger}");
    assert_eq!((fen(&ledger, "hospitals_received_fen"), fen(&ledger, "hospitals_unpaid_fen")), (52_400, 0), "every fen once");
    let open = w.sys.app.stay_list(&w.sys.credentials.hospitals[0].code, true, 50).await.expect("the ward's list");
    assert!(open.iter().all(|s| s.id != id), "the stay is over for the ward: {open:?}");

    // The day is level: one 2304 under 21 at the center, one capture in the bank's file.
    let view = w.sys.app.reconcile_day(DAY, &|_| {}).await.expect("the day reconciles");
    let buckets: Vec<(&str, u64, bool)> = view.insurance_buckets.iter().map(|b| (b.clr_type.as_str(), b.count, b.level)).collect();
    assert_eq!(buckets, [("21", 1, true)], "{buckets:?}");
    let report = serde_json::to_value(&view).expect("json");
    assert_eq!((report["banks"]["mismatches"].clone(), report["banks"]["matched"].clone()), (json!(0), json!(1)), "{report}");
    assert_eq!(report["exceptions"], json!([]), "{report}");
}

#[tokio::test]
async fn a_stay_whose_whole_hold_an_interim_settlement_captured_is_discharged_without_a_bank_call() {
    let w = world_on(vec![], json!({"method": "credit_line", "bank_code": "BANK01", "credit_limit_fen": 500_000})).await;
    let (id, cash) = w.used_up_stay("ZY1007").await;
    let interims = w.stay(&id).await["interim_settlements"].clone();
    w.closed_with_nothing_to_settle(&id, &interims).await;
    assert_eq!(w.bank_line().await, (cash, 0), "captured once, by the interim settlement");
    let ledger = w.ledger().await;
    assert_eq!(holds_open_fen(&ledger), 0);
    assert_eq!((fen(&ledger, "hospitals_received_fen"), fen(&ledger, "hospitals_unpaid_fen")), (450_000, 0), "{ledger}");
}

#[tokio::test]
async fn a_fresh_deposit_placed_after_an_interim_settlement_took_every_line_is_released_at_discharge_not_captured() {
    let w = world_on(vec![], json!({"method": "credit_line", "bank_code": "BANK01", "credit_limit_fen": 500_000})).await;
    let (id, cash) = w.used_up_stay("ZY1008").await;
    // The ward holds a fresh 100-yuan deposit for the days ahead (`{stay}:hold:1`)…
    let placed = w.deposit(&id, "deposit-1", 10_000).await;
    assert_eq!((placed.body["state"].as_str(), fen(&placed.body, "held_fen")), (Some("in_ward"), 10_000), "{placed:?}");
    assert_eq!((w.bank_line().await, holds_open_fen(&w.ledger().await)), ((cash, 10_000), 10_000));
    // …but the patient leaves with no fee since: the fresh hold is released, nothing captured on it.
    let interims = placed.body["interim_settlements"].clone();
    w.closed_with_nothing_to_settle(&id, &interims).await;
    assert_eq!(w.bank_line().await, (cash, 0), "the fresh hold released whole");
    let ledger = w.ledger().await;
    assert_eq!(holds_open_fen(&ledger), 0, "nothing pending: {ledger}");
    assert_eq!((fen(&ledger, "hospitals_received_fen"), fen(&ledger, "hospitals_unpaid_fen")), (450_000, 0), "{ledger}");
}

#[tokio::test]
async fn a_stay_an_earlier_click_left_refused_for_want_of_lines_is_closed_by_the_click_again() {
    let w = world(None).await;
    let id = w.admit("ZY1009").await;
    w.upload_days(&id, 1..=5).await;
    let settled = w.interim(&id, "interim-1").await;
    assert!(settled.ok(), "{settled:?}");
    let interims = settled.body["interim_settlements"].clone();
    // The hub before this fix began the click as for any stay (`discharging`): 2402, then a 2303
    // with no lines, which the center refuses; the stay waited as settlement_refused.
    let row = w.sys.app.store.stay(&id).await.expect("store").expect("the stay");
    let Ok(wugan_domain::inpatient::StayStage::InWard(ward)) = serde_json::from_str(&row.stage_json) else { panic!("{}", row.stage_json) };
    let old_click = wugan_domain::inpatient::StayStage::Discharging(ward);
    let begun = wugan_hub::store::StayRow {
        state: "discharging".into(),
        stage_json: serde_json::to_string(&old_click).expect("json"),
        ..row.clone()
    };
    let saved = w.sys.app.store.save_stay(&begun, &row.stage_json, &[], &[], &Default::default()).await.expect("store");
    assert!(saved);
    let stuck = w.discharge(&id).await;
    assert_eq!((stuck.status, stuck.body["error"]["code"].as_str()), (422, Some("insurance_refused")), "{stuck:?}");
    assert!(stuck.body["error"]["message"].as_str().is_some_and(|m| m.contains("无待结算的费用明细")), "{stuck:?}");
    let waiting = w.stay(&id).await;
    assert_eq!((waiting["state"].as_str(), fen(&waiting, "held_fen")), (Some("settlement_refused"), 26_200), "{waiting}");

    // The click again: discharged already, so only the hold is released; the stay is closed.
    w.closed_with_nothing_to_settle(&id, &interims).await;
    assert_eq!(w.bank_line().await, (52_400, 0));
    let ledger = w.ledger().await;
    assert_eq!((holds_open_fen(&ledger), fen(&ledger, "hospitals_received_fen")), (0, 52_400), "{ledger}");
}

#[tokio::test]
async fn a_charge_after_a_discharge_the_interim_settlements_settled_is_taken_by_undoing_the_discharge() {
    // Review r25 ward F5: `settled_by_interims` was a dead end for a charge entered after the
    // discharge (出院后补录): no 2405, no late fees.
    let w = world(None).await;
    let id = w.admit("ZY1010").await;
    w.upload_days(&id, 1..=5).await;
    let interims = w.interim(&id, "interim-1").await.body["interim_settlements"].clone();
    w.closed_with_nothing_to_settle(&id, &interims).await;
    let undone = w.his.post(&format!("/api/v1/stays/{id}/discharge/cancel"), &json!({})).await.expect("hub");
    assert_eq!((undone.status, undone.body["state"].as_str()), (200, Some("in_ward")), "{undone:?}");
    assert!(!w.center_admission(&undone.body).await.0, "back in hospital at the center (2405)");
    let late = w.his.post(&format!("/api/v1/stays/{id}/fees"), &json!({"lines": day(9)})).await.expect("hub");
    assert!(late.ok(), "{late:?}");
    let click = w.discharge(&id).await;
    assert_eq!(click.body["state"].as_str(), Some("settled"), "{click:?}");
    let share = fen(&click.body["settlement"], "bank_fen");
    assert!(share > 0 && share <= 6_000, "the late bed day's share, charged once: {click:?}");
    assert_eq!(w.bank_line().await, (52_400 + share, 0), "the interim's capture and the late share; nothing held");
    let ledger = w.ledger().await;
    assert_eq!((fen(&ledger, "hospitals_received_fen"), holds_open_fen(&ledger)), (52_400 + 6_000, 0), "{ledger}");
}
