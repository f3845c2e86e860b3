//! What stands after a refund (退费), as the hospital reads it (review r20, F2 and F5): its daily
//! statement shows what is in force, dated as the insurance center dates it (the 2208 restates the
//! day of the settlement it reverses, the re-settlement is a settlement of the refund's own day),
//! so each day's fund figures are the center's; the operator's day figures read the same; a visit
//! says which settlement is in force (the `setl_id` an HIS keeps for 医保对账) beside the click's.
//! The hub, the insurance center and the bank read one business clock set to noon of a fixed day.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use wugan::his::{fee_line, HisClient};
use wugan::system;

mod common;

const DAY_D: &str = "2026-11-10";
const DAY_AFTER: &str = "2026-11-11";
/// An employee signed with a 5,000-yuan credit line and no personal account.
const EMPLOYEE_CERTNO: &str = "440301199001011234";
const CONSULTATION: &str = "001102000010000"; // 25.00
const EXAMINATION: &str = "013100000010000"; // 150.00

/// The wall clock moved by an offset: the business time of all three parties.
struct BusinessClock {
    offset_s: AtomicI64,
}

impl BusinessClock {
    fn at_noon_of_day_d() -> Arc<BusinessClock> {
        let noon = time::macros::datetime!(2026-11-10 12:00 +8);
        let offset_s = noon.unix_timestamp() - time::OffsetDateTime::now_utc().unix_timestamp();
        Arc::new(BusinessClock { offset_s: AtomicI64::new(offset_s) })
    }

    fn next_day(&self) {
        self.offset_s.fetch_add(86_400, Ordering::SeqCst);
    }

    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() + time::Duration::seconds(self.offset_s.load(Ordering::SeqCst))
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
    hospital: String,
    clock: Arc<BusinessClock>,
    _dir: common::TempDir,
}

async fn world() -> World {
    let (mut opts, dir) = common::fresh_options("inforce").await;
    opts.manual_recovery = true;
    let clock = BusinessClock::at_noon_of_day_d();
    opts.hub_clock = Some(clock.clone());
    opts.insurance_clock = Some(clock.clone());
    opts.bank_clock = Some(clock.clone());
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let terms = json!({"method": "credit_line", "bank_code": "BANK01", "credit_limit_fen": 500_000});
    let signed = operator.sign_up("02", EMPLOYEE_CERTNO, false, terms).await.expect("hub");
    assert!(signed.ok(), "{signed:?}");
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let hospital = sys.credentials.hospitals[0].code.clone();
    World { sys, his, hospital, clock, _dir: dir }
}

fn fen(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} missing in {v}"))
}

fn yuan(v: &Value) -> i64 {
    wugan_domain::Fen::from_json_yuan(v).expect("yuan").expect("an amount").0
}

/// A consultation and an examination (25 + 1,200 yuan): the fund and the bank both pay.
fn two_lines(no: &str) -> Vec<Value> {
    vec![
        fee_line(&format!("{no}-1"), CONSULTATION, "25.00", "1", "25.00"),
        fee_line(&format!("{no}-2"), EXAMINATION, "150.00", "8", "1200.00"),
    ]
}

impl World {
    /// Registers, uploads, clicks: the visit's id and the click's answer.
    async fn click(&self, no: &str, lines: &[Value]) -> (String, Value) {
        let visit = self.his.register(no, "02", EMPLOYEE_CERTNO).await.expect("hub");
        assert!(visit.ok(), "{visit:?}");
        let id = visit.body["id"].as_str().expect("a visit id").to_string();
        assert!(self.his.upload_fees(&id, lines).await.expect("hub").ok());
        let s = self.his.settle(&id).await.expect("hub");
        assert!(s.ok(), "{s:?}");
        (id, s.body)
    }

    async fn refund(&self, visit: &str, lines: &[&str]) -> Value {
        let r = self.his.post(&format!("/api/v1/visits/{visit}/refunds"), &json!({ "lines": lines })).await.expect("hub");
        assert_eq!(r.body["state"], "refunded", "{r:?}");
        r.body
    }

    async fn visit(&self, id: &str) -> Value {
        self.his.get(&format!("/api/v1/visits/{id}")).await.expect("hub").body
    }

    async fn statement(&self, day: &str) -> Value {
        let s = self.his.get(&format!("/api/v1/hospitals/{}/statements/{day}", self.hospital)).await.expect("hub");
        assert_eq!(s.status, 200, "{s:?}");
        s.body
    }

    /// The statement's settlements of the day against the insurance center's own that stand
    /// (refd_setl_flag 0: what 3201 compares), and the operator's day figures against both.
    async fn check_day(&self, day: &str) -> Value {
        let statement = self.statement(day).await;
        let all = common::insurance_sandbox(&self.sys, "/sandbox/settlements").await;
        let center: Vec<Value> = all
            .as_array()
            .cloned()
            .or_else(|| all["settlements"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s["fixmedins_code"] == json!(self.hospital) && s["setl_time"].as_str().is_some_and(|t| t.starts_with(day)))
            .filter(|s| s["cancelled"] != json!(true))
            .collect();
        let sum = |field: &str| center.iter().map(|s| yuan(&s[field])).sum::<i64>();
        assert_eq!(
            (
                fen(&statement, "settled"),
                fen(&statement, "medfee_fen"),
                fen(&statement, "fund_fen"),
                fen(&statement, "personal_account_fen")
            ),
            (center.len() as i64, sum("medfee_sumamt"), sum("fund_pay_sumamt"), sum("acct_pay")),
            "{day}: the statement's settlements in force are the center's standing ones: {statement} against {center:?}"
        );
        let rows = self.sys.app.operator_day(day).await.expect("the day's figures");
        let ours =
            |f: fn(&wugan_hub::store::DayFiguresRow) -> i64| rows.iter().filter(|r| r.hospital_code == self.hospital).map(f).sum::<i64>();
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
            assert_eq!(
                got,
                fen(&statement, key),
                "{day} {key}: the operator's figures read as the statement: {rows:?} against {statement}"
            );
        }
        statement
    }
}

fn line_of<'a>(statement: &'a Value, setl_id: &Value) -> &'a Value {
    let lines = statement["lines"].as_array().expect("lines");
    lines.iter().find(|l| &l["setl_id"] == setl_id).unwrap_or_else(|| panic!("no line {setl_id} in {statement}"))
}

#[tokio::test]
async fn a_visit_refunded_in_full_leaves_nothing_of_it_on_its_days_statement_as_at_the_insurance_center() {
    let w = world().await;
    let (visit, click) = w.click("IF-FULL", &two_lines("IF-FULL")).await;
    assert!(fen(&click, "fund_fen") > 0 && fen(&click, "bank_fen") > 0, "the fund and the bank pay: {click}");
    let before = w.check_day(DAY_D).await;
    assert_eq!((fen(&before, "settled"), fen(&before, "insurance_payout_fen")), (1, fen(&click, "fund_fen")), "{before}");

    // Every line comes back the same day: 2208, the whole capture back to the line.
    let refund = w.refund(&visit, &["IF-FULL-1", "IF-FULL-2"]).await;
    let after = w.check_day(DAY_D).await;
    let figures = |s: &Value| {
        ["settled", "medfee_fen", "fund_fen", "insurance_payout_fen", "bank_fen", "bank_payout_fen", "reversed"].map(|k| fen(s, k))
    };
    assert_eq!(figures(&after), [0, 0, 0, 0, 0, 0, 1], "nothing of the visit stands: {after}");
    assert_eq!(fen(&after, "refunded_fen"), fen(&click, "bank_fen"), "the bank gave the capture back today: {after}");
    // The click's line stays, reversed, under the setl_id the center reversed.
    let reversed = line_of(&after, &click["setl_id"]);
    assert_eq!((reversed["state"].as_str(), &reversed["reversed_by_refund_id"]), (Some("refunded"), &refund["id"]), "{after}");
    assert_eq!(fen(reversed, "fund_fen"), fen(&click, "fund_fen"), "as it was settled: {reversed}");
    // And the refund says what came back, by source.
    let listed = &after["refunds"][0];
    assert_eq!(
        (&listed["refund_id"], &listed["reversed_setl_id"], &listed["resettled_setl_id"]),
        (&refund["id"], &click["setl_id"], &Value::Null)
    );
    assert_eq!(
        (fen(listed, "medfee_fen"), fen(listed, "fund_fen"), fen(listed, "bank_refund_fen")),
        (fen(&click, "medfee_fen"), fen(&click, "fund_fen"), fen(&click, "bank_fen")),
        "{listed}"
    );
}

#[tokio::test]
async fn a_refund_on_the_next_day_restates_the_click_on_its_day_and_re_settles_on_its_own() {
    let w = world().await;
    let lines = [two_lines("IF-NEXT"), vec![fee_line("IF-NEXT-3", "250101001000000", "20.00", "1", "20.00")]].concat();
    let (visit, click) = w.click("IF-NEXT", &lines).await;
    let day_d = w.check_day(DAY_D).await;
    assert_eq!(fen(&day_d, "settled"), 1, "{day_d}");

    // The next day the examination and the blood count come back; the consultation is kept.
    w.clock.next_day();
    let refund = w.refund(&visit, &["IF-NEXT-2", "IF-NEXT-3"]).await;
    let again = &refund["resettled"];

    // Day D, read again: the click is reversed (the center lists its 2208 on the click's day), the
    // bank's money of the day as it was.
    let restated = w.check_day(DAY_D).await;
    assert_eq!((fen(&restated, "settled"), fen(&restated, "fund_fen"), fen(&restated, "reversed")), (0, 0, 1), "{restated}");
    assert_eq!(line_of(&restated, &click["setl_id"])["state"], "refunded", "{restated}");
    assert_eq!(
        (fen(&restated, "bank_payout_fen"), fen(&restated, "refunded_fen")),
        (fen(&day_d, "bank_payout_fen"), 0),
        "the day's bank payout is fixed once the day is over: {restated}"
    );
    assert_eq!(restated["refunds"], json!([]), "the refund is the next day's: {restated}");

    // Day D+1: the re-settlement under its new setl_id, with the fund in force and what the
    // capture still pays; the bank's refund of the day.
    let next = w.check_day(DAY_AFTER).await;
    let line = line_of(&next, &refund["resettled_setl_id"]);
    assert_eq!(
        (line["state"].as_str(), &line["refund_id"], &line["settlement_id"]),
        (Some("settled"), &refund["id"], &click["id"]),
        "{next}"
    );
    assert_eq!((fen(line, "fund_fen"), fen(line, "medfee_fen")), (fen(again, "fund_fen"), 2_500), "{line}");
    assert_eq!(fen(line, "bank_fen"), fen(&click, "bank_fen") - fen(&refund, "bank_refund_fen"), "{line}");
    assert_eq!(
        (fen(&next, "settled"), fen(&next, "refunded_fen"), fen(&next, "insurance_payout_fen")),
        (1, fen(&refund, "bank_refund_fen"), fen(again, "fund_fen") + fen(again, "personal_account_fen")),
        "{next}"
    );
    assert_eq!(next["refunds"][0]["resettled_setl_id"], refund["resettled_setl_id"], "{next}");

    // The visit says the same: the click as it was made, and the settlement in force.
    let read = w.visit(&visit).await;
    let s = &read["settlement"];
    assert_eq!((&s["setl_id"], s["state"].as_str()), (&click["setl_id"], Some("settled")), "{read}");
    let in_force = &s["in_force"];
    assert_eq!((&in_force["setl_id"], &in_force["refund_id"]), (&refund["resettled_setl_id"], &refund["id"]), "{read}");
    assert_eq!(
        (fen(in_force, "fund_fen"), fen(in_force, "cash_fen"), fen(in_force, "bank_fen")),
        (fen(again, "fund_fen"), fen(again, "cash_fen"), fen(line, "bank_fen")),
        "{in_force}"
    );
}

#[tokio::test]
async fn an_unpaid_bill_refunded_is_owed_only_for_the_lines_kept_then_not_at_all_and_the_registration_goes() {
    let w = world().await;
    // 4,500 yuan paid on the 5,000-yuan line, then 4,500 more it cannot take: a bill.
    let (_, paid) = w.click("IF-PAID", &[fee_line("1", EXAMINATION, "150.00", "30", "4500.00")]).await;
    assert_eq!(paid["state"], "settled", "{paid}");
    let lines =
        [fee_line("IF-BILL-1", EXAMINATION, "150.00", "20", "3000.00"), fee_line("IF-BILL-2", EXAMINATION, "150.00", "10", "1500.00")];
    let (visit, billed) = w.click("IF-BILL", &lines).await;
    assert_eq!(billed["state"], "settled_unpaid", "{billed}");
    assert_eq!(fen(&w.check_day(DAY_D).await, "unpaid_fen"), fen(&billed, "unpaid_fen"));

    // A third of it comes back: the visit says what is in force, and every figure adds up.
    let refund = w.refund(&visit, &["IF-BILL-2"]).await;
    let read = w.visit(&visit).await;
    let s = &read["settlement"];
    let in_force = &s["in_force"];
    assert_eq!((&s["setl_id"], fen(s, "cash_fen")), (&billed["setl_id"], fen(&billed, "cash_fen")), "the click as it was made: {read}");
    assert_eq!((&in_force["setl_id"], fen(in_force, "medfee_fen")), (&refund["resettled_setl_id"], 300_000), "{read}");
    assert_eq!(
        fen(in_force, "cash_fen"),
        fen(in_force, "bank_fen") + fen(in_force, "unpaid_fen") + fen(in_force, "collected_fen") + fen(in_force, "cash_at_hospital_fen"),
        "the cash in force is paid or owed: {in_force}"
    );
    assert_eq!(fen(s, "unpaid_fen"), fen(in_force, "unpaid_fen"), "{read}");
    let statement = w.check_day(DAY_D).await;
    assert_eq!((fen(&statement, "unpaid_bills"), fen(&statement, "unpaid_fen")), (1, fen(in_force, "unpaid_fen")), "{statement}");

    // The rest comes back: nothing is owed, nothing stands; then the registration goes (退号).
    w.refund(&visit, &["IF-BILL-1"]).await;
    let statement = w.check_day(DAY_D).await;
    assert_eq!((fen(&statement, "unpaid_bills"), fen(&statement, "unpaid_fen"), fen(&statement, "settled")), (0, 0, 1), "{statement}");
    assert_eq!(fen(&statement, "reversed"), 2, "the click and the first re-settlement: {statement}");
    let cancel = w.his.post(&format!("/api/v1/visits/{visit}/registration/cancel"), &json!({})).await.expect("hub");
    assert!(cancel.ok(), "{cancel:?}");
    let read = w.visit(&visit).await;
    assert_eq!((read["status"].as_str(), read["settlement"]["state"].as_str()), (Some("cancelled"), Some("refunded")), "{read}");
    assert_eq!(read["settlement"]["in_force"], Value::Null, "{read}");
}
