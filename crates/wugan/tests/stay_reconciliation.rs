//! Inpatient stays and refunds finished on a later day, in the daily reconciliation (3201 / 3202
//! and the bank's T+1 file) and the monthly clearing (3203). The hub, the insurance center and
//! the bank read one business clock that the test sets to noon of a fixed day and walks to the
//! next (request signatures keep the wall clock), so a day's counts do not depend on the hour the
//! test runs at. Runs on SQLite, and on PostgreSQL with `WUGAN_TEST_DATABASE_URL` like the others.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use wugan::faults::{Fault, FaultPlan, Rule};
use wugan::his::{fee_line, HisClient, Reply};
use wugan::system;
use wugan_hub::app::InsuranceBucket;

mod common;

/// Day D, and the days after.
const DAY_D: &str = "2026-11-10";
const DAY_AFTER: &str = "2026-11-11";
const DAY_TWO_AFTER: &str = "2026-11-12";
const MONTH: &str = "2026-11";
const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";
/// A sample insured person admitted to the ward, by 身份证.
const INPATIENT_CERTNO: &str = "440304198507203318";
const EXAMINATION: &str = "013100000010000"; // 150.00

/// The wall clock moved by an offset: the business time of all three parties.
struct BusinessClock {
    offset_s: AtomicI64,
}

impl BusinessClock {
    /// A clock reading noon of `DAY_D`, China time, now.
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
    operator: HisClient,
    clock: Arc<BusinessClock>,
    _dir: common::TempDir,
}

/// A system on one business clock at noon of day D, with `fault` on the first `step` to the
/// insurance center (an infno) or the bank (if any), no recovery worker, and two signed patients: the employee for
/// outpatient visits, the inpatient for stays.
async fn world(fault: Option<(&str, Fault)>) -> World {
    let (mut opts, dir) = common::fresh_options("stayrecon").await;
    opts.manual_recovery = true;
    let clock = BusinessClock::at_noon_of_day_d();
    opts.hub_clock = Some(clock.clone());
    opts.insurance_clock = Some(clock.clone());
    opts.bank_clock = Some(clock.clone());
    if let Some((step, fault)) = fault {
        let plan = Arc::new(FaultPlan::scripted(vec![Rule { step: step.to_string(), nth: 1, fault }]));
        match step.starts_with(|c: char| c.is_ascii_digit()) {
            true => opts.insurance_faults = Some(plan),
            false => opts.bank_faults = Some(plan),
        }
    }
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    for (cert_type, cert_no) in [("01", EMPLOYEE_TOKEN), ("02", INPATIENT_CERTNO)] {
        let payment = json!({"method": "credit_line", "bank_code": "BANK01"});
        let agreement = operator.sign_up(cert_type, cert_no, true, payment).await.expect("hub");
        assert!(agreement.ok(), "{agreement:?}");
    }
    World { sys, his, operator, clock, _dir: dir }
}

impl World {
    /// An outpatient visit of 1,245 yuan in three lines (`{no}-1..3`), clicked: the settlement.
    async fn visit(&self, no: &str) -> Value {
        let visit = self.his.register(no, "01", EMPLOYEE_TOKEN).await.expect("hub");
        assert!(visit.ok(), "{visit:?}");
        let id = visit.body["id"].as_str().expect("visit id");
        let lines = [
            fee_line(&format!("{no}-1"), "001102000010000", "25.00", "1", "25.00"),
            fee_line(&format!("{no}-2"), EXAMINATION, "150.00", "8", "1200.00"),
            fee_line(&format!("{no}-3"), "250101001000000", "20.00", "1", "20.00"),
        ];
        assert!(self.his.upload_fees(id, &lines).await.expect("hub").ok());
        let s = self.his.settle(id).await.expect("hub");
        assert_eq!(s.body["state"], "settled", "{s:?}");
        s.body
    }

    /// Admits the inpatient with a 500-yuan deposit and uploads two examinations: the stay's id.
    async fn stay_in_ward(&self, ipt_no: &str) -> String {
        let body = json!({"ipt_no": ipt_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": INPATIENT_CERTNO, "deposit_fen": 50_000});
        let stay = self.his.post("/api/v1/stays", &body).await.expect("hub");
        assert!(stay.ok(), "admission: {stay:?}");
        let id = stay.body["id"].as_str().expect("stay id").to_string();
        let lines = json!({"lines": [fee_line(&format!("{ipt_no}-1"), EXAMINATION, "150.00", "2", "300.00")]});
        let fees = self.his.post(&format!("/api/v1/stays/{id}/fees"), &lines).await.expect("hub");
        assert!(fees.ok(), "fees: {fees:?}");
        id
    }

    async fn bedside_click(&self, stay: &str) -> Reply {
        self.his.post(&format!("/api/v1/stays/{stay}/discharge"), &json!({})).await.expect("hub")
    }

    async fn reconcile(&self, date: &str) -> (Value, Vec<InsuranceBucket>) {
        let view = self.sys.app.reconcile_day(date, &|_| {}).await.expect("the day reconciles");
        let buckets = view.insurance_buckets.clone();
        (serde_json::to_value(view).expect("json"), buckets)
    }

    /// The month's 3203 applications over the API, by clearing type: (state, psntime, fund, acct).
    async fn clear_month(&self) -> Vec<(String, String, i64, i64, i64)> {
        let r = self.operator.post_with_key("/api/v1/clearings/insurance", "clear-1", &json!({"month": MONTH})).await.expect("hub");
        assert!(r.ok(), "{r:?}");
        let mut out: Vec<_> = (r.body["applications"].as_array().into_iter().flatten())
            .map(|a| {
                let text = |k: &str| a[k].as_str().unwrap_or_default().to_string();
                let fen = |k: &str| a[k].as_i64().unwrap_or(i64::MIN);
                (text("id"), text("state"), fen("psntime"), fen("fund_fen"), fen("personal_account_fen"))
            })
            .collect();
        out.sort();
        out
    }

    fn hospital(&self) -> String {
        self.sys.credentials.hospitals[0].code.clone()
    }
}

fn counts(partner: &Value) -> [u64; 6] {
    ["records", "matched", "in_transit", "mismatches", "resolved", "exceptions"].map(|k| partner[k].as_u64().unwrap_or(u64::MAX))
}

/// Each bucket as (clr_type, refunded, count, level).
fn shape(buckets: &[InsuranceBucket]) -> Vec<(&str, bool, u64, bool)> {
    buckets.iter().map(|b| (b.clr_type.as_str(), b.refunded, b.count, b.level)).collect()
}

fn fen(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} missing in {v}"))
}

#[tokio::test]
async fn a_day_with_a_visit_and_a_stay_is_level_under_11_and_21_and_the_month_is_cleared_for_both() {
    let w = world(None).await;
    w.visit("MZ1").await;
    let stay = w.stay_in_ward("ZY1").await;
    let settled = w.bedside_click(&stay).await;
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    let split = settled.body["settlement"].clone();

    // The stay's settlement is reconciled in a bucket of its own, its capture in the bank's file.
    let (report, buckets) = w.reconcile(DAY_D).await;
    assert_eq!(counts(&report["insurance"]), [2, 2, 0, 0, 0, 0], "{report}");
    assert_eq!(shape(&buckets), [("11", false, 1, true), ("21", false, 1, true)], "{buckets:?}");
    let stay_bucket = &buckets[1];
    assert_eq!((stay_bucket.medfee_fen, stay_bucket.fund_fen), (30_000, fen(&split, "fund_fen")), "{buckets:?}");
    assert_eq!(counts(&report["banks"]), [2, 2, 0, 0, 0, 0], "the visit's capture and the stay's: {report}");
    assert_eq!(report["exceptions"], json!([]), "{report}");
    let keys: Vec<&str> =
        ["date", "insurance", "banks", "hospitals", "exceptions"].into_iter().filter(|k| report.get(k).is_some()).collect();
    assert_eq!(keys.len(), 5, "the JSON keeps its shape: {report}");
    assert!(report.get("insurance_buckets").is_none(), "{report}");

    // The month's clearing applies for the stay under 21 beside the visit under 11; the center
    // checks both against its own settlements and accepts them.
    let h = w.hospital();
    let applications = w.clear_month().await;
    let ids: Vec<(&str, &str, i64)> = applications.iter().map(|a| (a.0.as_str(), a.1.as_str(), a.2)).collect();
    let (outpatient, inpatient) = (format!("clearing:{h}:202611:11"), format!("clearing:{h}:202611:21"));
    assert_eq!(ids, [(outpatient.as_str(), "applied", 1), (inpatient.as_str(), "applied", 1)], "{applications:?}");
    assert_eq!((applications[1].3, applications[1].4), (fen(&split, "fund_fen"), fen(&split, "personal_account_fen")));

    // The hospital's statement of the day counts the stay beside the visit.
    let statement = w.his.get(&format!("/api/v1/hospitals/{h}/statements/{DAY_D}")).await.expect("hub").body;
    assert_eq!(statement["settled"].as_i64(), Some(2), "the visit and the stay: {statement}");
    let line = statement["lines"].as_array().unwrap().iter().find(|l| l["visit_id"] == json!(stay)).cloned().unwrap_or_default();
    assert_eq!((fen(&line, "medfee_fen"), fen(&line, "bank_fen")), (30_000, fen(&split, "bank_fen")), "{statement}");

    // 2305 the same day: the stay's settlement moves to the refunded bucket, the refund to the file.
    let cancelled = w.his.post(&format!("/api/v1/stays/{stay}/settlement/cancel"), &json!({})).await.expect("hub");
    assert_eq!(cancelled.body["state"], "settlement_cancelled", "{cancelled:?}");
    let (report, buckets) = w.reconcile(DAY_D).await;
    assert_eq!(counts(&report["insurance"]), [2, 2, 0, 0, 0, 0], "{report}");
    assert_eq!(shape(&buckets), [("11", false, 1, true), ("21", true, 1, true)], "{buckets:?}");
    assert_eq!(counts(&report["banks"]), [3, 3, 0, 0, 0, 0], "the stay's refund too: {report}");
    assert_eq!(report["exceptions"], json!([]), "{report}");
    w.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_stay_the_center_settled_while_the_hub_lost_the_answer_is_found_and_booked() {
    let w = world(Some(("2304", Fault::LoseReply))).await;
    let stay = w.stay_in_ward("ZY2").await;
    let click = w.bedside_click(&stay).await;
    assert!(!click.ok(), "the 2304 answer is lost: {click:?}");
    let before = w.his.get(&format!("/api/v1/stays/{stay}")).await.expect("hub");
    assert_eq!(before.body["state"], "pre_settled", "{before:?}");

    // 3201 has nothing of the hub's (no setl_id); the stay in doubt sends the group to 3202, whose
    // file shows the center's settlement (医保单边); resuming the stay sends 2304 again under its
    // msgid, the center replays its answer, and the capture follows.
    let (report, buckets) = w.reconcile(DAY_D).await;
    assert_eq!(counts(&report["insurance"]), [1, 0, 0, 1, 1, 0], "{report}");
    assert!(buckets.is_empty(), "{buckets:?}");
    assert_eq!(counts(&report["banks"]), [1, 1, 0, 0, 0, 0], "the capture followed: {report}");
    assert_eq!(report["exceptions"], json!([]), "{report}");
    let after = w.his.get(&format!("/api/v1/stays/{stay}")).await.expect("hub");
    assert_eq!(after.body["state"], "settled", "{after:?}");

    // Run again, the day is level under 21.
    let (report, buckets) = w.reconcile(DAY_D).await;
    assert_eq!(counts(&report["insurance"]), [1, 1, 0, 0, 0, 0], "{report}");
    assert_eq!(shape(&buckets), [("21", false, 1, true)], "{buckets:?}");

    // The hub's record drifts a fen from the center's: found in the detail, parked with both sides.
    let pool = sqlx::AnyPool::connect(&w.sys.database_url).await.expect("hub database");
    let outbox: (String,) =
        sqlx::query_as("SELECT paid_json FROM stay_invoice_outbox WHERE stay_id = $1").bind(&stay).fetch_one(&pool).await.expect("blue");
    let mut paid: Value = serde_json::from_str(&outbox.0).expect("json");
    paid["split"]["fund"] = json!(paid["split"]["fund"].as_i64().expect("fund") + 1);
    sqlx::query("UPDATE stay_invoice_outbox SET paid_json = $1 WHERE stay_id = $2")
        .bind(paid.to_string())
        .bind(&stay)
        .execute(&pool)
        .await
        .expect("update");
    pool.close().await;
    let (report, buckets) = w.reconcile(DAY_D).await;
    assert_eq!(counts(&report["insurance"]), [1, 0, 0, 1, 0, 1], "{report}");
    assert_eq!(shape(&buckets), [("21", false, 1, false)], "{buckets:?}");
    let parked = &report["exceptions"][0];
    assert_eq!((parked["partner"].as_str(), parked["class"].as_str()), (Some("insurance"), Some("amounts_differ")), "{report}");
    assert!(parked["hub_evidence"].is_string() && parked["partner_evidence"].is_string(), "{parked}");
    w.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_stays_capture_the_hub_never_heard_back_from_is_a_long_resolved_by_resuming_the_stay() {
    let w = world(Some(("POST captures", Fault::LoseReply))).await;
    let stay = w.stay_in_ward("ZY4").await;
    let click = w.bedside_click(&stay).await;
    assert!(!click.ok(), "the capture's answer is lost after 2304: {click:?}");
    let before = w.his.get(&format!("/api/v1/stays/{stay}")).await.expect("hub");
    assert_eq!(before.body["state"], "insurance_settled", "{before:?}");

    // The center and the hub agree on the settlement; the bank's file has a capture the hub's
    // ledger lacks (长款): resuming the stay asks the bank, which answers its record, and it is booked.
    let (report, buckets) = w.reconcile(DAY_D).await;
    assert_eq!(counts(&report["insurance"]), [1, 1, 0, 0, 0, 0], "{report}");
    assert_eq!(shape(&buckets), [("21", false, 1, true)], "{buckets:?}");
    assert_eq!(counts(&report["banks"]), [1, 0, 0, 1, 1, 0], "{report}");
    assert_eq!(report["exceptions"], json!([]), "{report}");
    let after = w.his.get(&format!("/api/v1/stays/{stay}")).await.expect("hub");
    assert_eq!(after.body["state"], "settled", "{after:?}");
    let (report, _) = w.reconcile(DAY_D).await;
    assert_eq!(counts(&report["banks"]), [1, 1, 0, 0, 0, 0], "run again, level: {report}");
    w.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_visit_refunded_on_the_next_day_leaves_both_days_level() {
    let w = world(None).await;
    let settled = w.visit("MZ3").await;
    let visit = settled["visit_id"].as_str().expect("visit id").to_string();
    let (report, _) = w.reconcile(DAY_D).await;
    assert_eq!((counts(&report["insurance"]), counts(&report["banks"])), ([1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]), "{report}");

    // The next day the blood count comes back: 2208 reverses the click, the rest is settled again
    // under a new setl_id, and the bank refunds the difference.
    w.clock.next_day();
    let refund = w.his.post_with_key(&format!("/api/v1/visits/{visit}/refunds"), "rf-1", &json!({"lines": ["MZ3-3"]})).await.expect("hub");
    assert_eq!(refund.body["state"], "refunded", "{refund:?}");

    // Day D+1: the re-settlement, and the bank's refund line.
    let (report, buckets) = w.reconcile(DAY_AFTER).await;
    assert_eq!(counts(&report["insurance"]), [1, 1, 0, 0, 0, 0], "{report}");
    assert_eq!(shape(&buckets), [("11", false, 1, true)], "{buckets:?}");
    assert_eq!(counts(&report["banks"]), [1, 1, 0, 0, 0, 0], "the refund of the difference: {report}");
    assert_eq!(report["exceptions"], json!([]), "{report}");

    // Day D run again: the center now lists the original as reversed (refd_setl_flag 1) under
    // its own day, and so does the hub; the capture stays on D.
    let (report, buckets) = w.reconcile(DAY_D).await;
    assert_eq!(counts(&report["insurance"]), [1, 1, 0, 0, 0, 0], "{report}");
    assert_eq!(shape(&buckets), [("11", true, 1, true)], "{buckets:?}");
    assert_eq!(counts(&report["banks"]), [1, 1, 0, 0, 0, 0], "{report}");
    assert_eq!(report["exceptions"], json!([]), "{report}");

    // Two days on, the consultation comes back too: a refund of the re-settlement, its click
    // older than the day's read. D+2 has the second re-settlement; D+1 run again, the first reversed.
    w.clock.next_day();
    let second = w.his.post_with_key(&format!("/api/v1/visits/{visit}/refunds"), "rf-2", &json!({"lines": ["MZ3-1"]})).await.expect("hub");
    assert_eq!(second.body["state"], "refunded", "{second:?}");
    let (report, buckets) = w.reconcile(DAY_TWO_AFTER).await;
    assert_eq!((counts(&report["insurance"]), counts(&report["banks"])), ([1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]), "{report}");
    assert_eq!(shape(&buckets), [("11", false, 1, true)], "{buckets:?}");
    let (report, buckets) = w.reconcile(DAY_AFTER).await;
    assert_eq!(counts(&report["insurance"]), [1, 1, 0, 0, 0, 0], "{report}");
    assert_eq!(shape(&buckets), [("11", true, 1, true)], "{buckets:?}");
    assert_eq!(report["exceptions"], json!([]), "{report}");

    // The month claims the last re-settlement only, and the center agrees.
    let applications = w.clear_month().await;
    assert_eq!(applications.iter().map(|a| (a.1.as_str(), a.2)).collect::<Vec<_>>(), [("applied", 1)], "{applications:?}");
    w.sys.shutdown(std::time::Duration::from_secs(5)).await;
}
