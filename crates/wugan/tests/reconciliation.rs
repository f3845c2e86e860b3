//! The daily reconciliation end to end: a hub, the insurance center and the bank settle a day of
//! visits, then `App::reconcile_day` compares the hub's books with 3201/3202 and the bank's T+1
//! statement file. A clean day has nothing to report; each kind of difference the issue names is
//! found, and resolved by a status query where that is safe, or parked with the evidence.

use serde_json::{json, Value};
use std::sync::Arc;
use wugan::faults::{Fault, FaultPlan, Rule};
use wugan::his::{fee_line, HisClient, Reply};
use wugan::system;

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";

/// Today in China time, the business day the visits fall on.
fn today() -> String {
    let t = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(8, 0, 0).expect("offset"));
    format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day())
}

/// The cut-off is midnight China time, and what the hub books in its last 300 s is in transit: a
/// test day that starts within minutes of it waits for the new day, so its counts do not depend on
/// the hour it runs at.
async fn away_from_midnight() {
    let china = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(8, 0, 0).expect("offset"));
    let left = 86_400 - (u64::from(china.hour()) * 3_600 + u64::from(china.minute()) * 60 + u64::from(china.second()));
    if left <= 8 * 60 {
        tokio::time::sleep(std::time::Duration::from_secs(left + 5)).await;
    }
}

struct Day {
    sys: system::System,
    his: HisClient,
    dir: common::TempDir,
}

/// A system with `fault` on the first request of `step` (if any), no recovery worker, and one
/// signed patient whose visits the bank pays part of.
async fn day_with(fault: Option<(&str, Fault)>) -> Day {
    away_from_midnight().await;
    let (mut opts, dir) = common::fresh_options("recon").await;
    opts.manual_recovery = true;
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
    let agreement =
        operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.expect("hub");
    assert!(agreement.ok(), "{agreement:?}");
    Day { sys, his, dir }
}

impl Day {
    /// Registers visit `n`, uploads 1,225 yuan of fees and clicks once: the click's reply.
    async fn visit(&self, n: u32) -> Reply {
        let reg = json!({"ipt_otp_no": format!("MZ{n}"), "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN});
        let visit = self.his.post_with_key("/api/v1/visits", &format!("reg{n}"), &reg).await.expect("hub");
        assert!(visit.ok(), "{visit:?}");
        let id = visit.body["id"].as_str().expect("visit id").to_string();
        let lines = json!({"lines": [fee_line("1", "001102000010000", "25.00", "1", "25.00"), fee_line("2", "013100000010000", "150.00", "8", "1200.00")]});
        let up = self.his.post_with_key(&format!("/api/v1/visits/{id}/fees"), &format!("fees{n}"), &lines).await.expect("hub");
        assert!(up.ok(), "{up:?}");
        self.his.post_with_key(&format!("/api/v1/visits/{id}/settlement"), &format!("click{n}"), &json!({})).await.expect("hub")
    }

    async fn reconcile(&self) -> Value {
        let view = self.sys.app.reconcile_day(&today(), &|_| {}).await.expect("the day reconciles");
        serde_json::to_value(view).expect("json")
    }

    async fn sql(&self, statement: &str) {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.sys.database_url).await.expect("hub database");
        sqlx::query(sqlx::AssertSqlSafe(statement.to_string())).execute(&pool).await.expect(statement);
        pool.close().await;
    }
}

fn counts(partner: &Value) -> [u64; 6] {
    ["records", "matched", "in_transit", "mismatches", "resolved", "exceptions"].map(|k| partner[k].as_u64().unwrap_or(u64::MAX))
}

fn classes(report: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = (report["exceptions"].as_array().into_iter().flatten())
        .map(|e| (e["partner"].as_str().unwrap_or_default().to_string(), e["class"].as_str().unwrap_or_default().to_string()))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_clean_day_reports_no_mismatches() {
    let day = day_with(None).await;
    for n in 1..=2 {
        let s = day.visit(n).await;
        assert_eq!(s.body["state"], "settled", "{s:?}");
    }
    let report = day.reconcile().await;
    assert_eq!(counts(&report["insurance"]), [2, 2, 0, 0, 0, 0], "{report}");
    assert_eq!(counts(&report["banks"]), [2, 2, 0, 0, 0, 0], "two captures: {report}");
    assert_eq!(counts(&report["banks"]["by_bank"]["BANK01"]), [2, 2, 0, 0, 0, 0], "{report}");
    assert_eq!(counts(&report["hospitals"]), [2, 2, 0, 0, 0, 0], "{report}");
    assert_eq!(report["exceptions"], json!([]));
    day.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_operator_reconciles_over_the_api_and_a_hospital_reads_its_statement() {
    let day = day_with(None).await;
    let s = day.visit(1).await;
    assert_eq!(s.body["state"], "settled", "{s:?}");
    let operator = HisClient::new(&day.sys.hub_url, &day.sys.credentials.operator_api_key);
    let report = operator.post_with_key("/api/v1/reconciliations", "recon-1", &json!({"date": today()})).await.expect("hub");
    assert!(report.ok(), "{report:?}");
    assert_eq!(counts(&report.body["banks"]), [1, 1, 0, 0, 0, 0], "{report:?}");
    assert!(wugan::reconcile::render(&report.body).contains("no exceptions"));
    // `wugan reconcile` does the same with the operator key it finds in the data folder.
    let api_key = wugan::reconcile::operator_key(&day.dir.0).expect("credentials.json");
    let timeout = std::time::Duration::from_secs(60);
    let options = wugan::reconcile::ReconcileOptions { date: today(), hub_url: day.sys.hub_url.clone(), api_key, progress: false, timeout };
    let cli = wugan::reconcile::run(&options).await.expect("the hub reconciles");
    assert_eq!(counts(&cli["insurance"]), [1, 1, 0, 0, 0, 0], "{cli}");
    let table = wugan::reconcile::render(&cli);
    assert!(table.lines().any(|l| l.starts_with("bank BANK01") && l.split_whitespace().nth(2) == Some("1")), "{table}");
    let bad = operator.post_with_key("/api/v1/reconciliations", "recon-2", &json!({"date": "2026-02-30"})).await.expect("hub");
    assert_eq!((bad.status, bad.body["error"]["code"].as_str()), (422, Some("bad_date")), "{bad:?}");
    let hospital_only = day.his.post_with_key("/api/v1/reconciliations", "recon-3", &json!({"date": today()})).await.expect("hub");
    assert_eq!(hospital_only.status, 403);

    let code = day.sys.credentials.hospitals[0].code.clone();
    let statement = day.his.get(&format!("/api/v1/hospitals/{code}/statements/{}", today())).await.expect("hub");
    assert!(statement.ok(), "{statement:?}");
    let b = &statement.body;
    assert_eq!((b["settled"].as_u64(), b["medfee_fen"].as_i64()), (Some(1), Some(122_500)), "{b}");
    let shares = ["fund_fen", "personal_account_fen", "bank_fen", "hospital_part_fen", "unpaid_fen"].map(|k| b[k].as_i64().unwrap_or(0));
    assert_eq!(shares.iter().sum::<i64>(), 122_500, "the sources add up to the visit total: {b}");
    assert_eq!(b["bank_payout_fen"], b["bank_fen"]);
    assert_eq!(b["refunded_fen"], json!(0));
    let other = &day.sys.credentials.hospitals[1].code;
    let refused = day.his.get(&format!("/api/v1/hospitals/{other}/statements/{}", today())).await.expect("hub");
    assert_eq!(refused.status, 404, "another hospital's statement is not found: {refused:?}");
    let by_operator = operator.get(&format!("/api/v1/operator/hospitals/{code}/statements/{}", today())).await.expect("hub");
    assert_eq!(by_operator.body, statement.body, "an operator reads the same statement");
    let url = format!("{}/api/v1/hospitals/{code}/statements/{}", day.sys.hub_url, today());
    let csv = reqwest::Client::new()
        .get(url)
        .bearer_auth(&day.sys.credentials.hospitals[0].api_key)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("hub")
        .text()
        .await
        .expect("text");
    assert!(csv.starts_with("settlement_id,") && csv.lines().count() == 3, "header, one settlement, the total:\n{csv}");
    assert!(csv.lines().last().unwrap_or_default().starts_with("TOTAL,1,"), "{csv}");

    // The visit is cancelled the same day: the bank refunds what it captured, and the day's
    // payout is the captures less that refund.
    let visit_id = s.body["visit_id"].as_str().expect("the settlement names its visit");
    let cancel = day.his.cancel(visit_id).await.expect("hub");
    assert!(cancel.ok(), "{cancel:?}");
    let after = day.his.get(&format!("/api/v1/hospitals/{code}/statements/{}", today())).await.expect("hub").body;
    assert_eq!((after["cancelled"].as_u64(), after["settled"].as_u64()), (Some(1), Some(0)), "{after}");
    assert_eq!(after["refunded_fen"], b["bank_fen"], "{after}");
    assert_eq!(after["bank_payout_fen"], json!(0), "captured and refunded on the same day: {after}");

    day.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_2207_that_succeeded_after_a_timeout_is_found_at_the_center_and_resolved() {
    let day = day_with(Some(("2207", Fault::LoseReply))).await;
    let s = day.visit(1).await;
    assert!(!s.ok(), "the click times out: {s:?}");
    let report = day.reconcile().await;
    // 3201 sees nothing of the hub's (no setl_id), 3202 finds the center's settlement (医保单边);
    // resuming the hub's in-doubt settlement asks 5203 and completes it, capture included.
    assert_eq!(counts(&report["insurance"]), [1, 0, 0, 1, 1, 0], "{report}");
    assert_eq!(counts(&report["banks"]), [1, 1, 0, 0, 0, 0], "the capture followed: {report}");
    assert_eq!(report["exceptions"], json!([]));
    let settled = day.sys.app.store.reconciliation_settlements("0", "9").await.expect("read");
    assert_eq!(settled[0].state, "settled");
    day.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_charge_the_hub_never_heard_back_from_is_a_long_and_resolved_by_the_status_query() {
    let day = day_with(Some(("POST charges", Fault::LoseReply))).await;
    let s = day.visit(1).await;
    assert!(!s.ok(), "the click times out after 2207: {s:?}");
    let report = day.reconcile().await;
    assert_eq!(counts(&report["insurance"]), [1, 1, 0, 0, 0, 0], "{report}");
    // 长款: the bank's file has the charge (as a capture line), the hub's ledger not; resuming
    // queries the bank by the charge's request id.
    assert_eq!(counts(&report["banks"]), [1, 0, 0, 1, 1, 0], "{report}");
    assert_eq!(report["exceptions"], json!([]));
    day.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_cancellation_the_center_did_while_the_hub_lost_the_reply_is_finished_by_reconciliation() {
    let day = day_with(Some(("2208", Fault::LoseReply))).await;
    let s = day.visit(1).await;
    assert_eq!(s.body["state"], "settled", "{s:?}");
    let visit_id = s.body["visit_id"].as_str().expect("visit id").to_string();
    let cancel = day.his.post_with_key(&format!("/api/v1/visits/{visit_id}/settlement/cancel"), "cancel1", &json!({})).await.expect("hub");
    assert!(!cancel.ok(), "the 2208 reply is lost: {cancel:?}");
    let report = day.reconcile().await;
    // The center says cancelled, the hub's books not yet: resuming the cancellation settles it.
    assert_eq!(counts(&report["insurance"]), [1, 0, 0, 1, 1, 0], "{report}");
    assert_eq!(counts(&report["banks"]), [2, 2, 0, 0, 0, 0], "the capture and the refund that followed: {report}");
    assert_eq!(report["exceptions"], json!([]), "{report}");
    let settled = day.sys.app.store.reconciliation_settlements("0", "9").await.expect("read");
    assert_eq!(settled[0].state, "cancelled");
    day.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_missing_capture_a_fen_off_and_a_straddler_are_each_classed() {
    let day = day_with(None).await;
    let mut ids = Vec::new();
    for n in 1..=3 {
        let s = day.visit(n).await;
        assert_eq!(s.body["state"], "settled", "{s:?}");
        ids.push(s.body["id"].as_str().expect("settlement id").to_string());
    }
    // The hub's books drift from the partners': a fen more booked for one capture, a fen more of
    // fund share on another settlement, a capture the bank never made (短款), and one booked two
    // minutes before midnight that the bank will list tomorrow (在途).
    day.sql(&format!("UPDATE ledger_transfers SET amount_fen = amount_fen + 1 WHERE id = 'settle:{}:bank_share'", ids[0])).await;
    day.sql(&format!("UPDATE settlements SET fund_fen = fund_fen + 1 WHERE id = '{}'", ids[1])).await;
    let ghost = |id: &str, at: &str| {
        format!(
            "INSERT INTO ledger_transfers (id, debit_account, credit_account, amount_fen, kind, pending_id, code, created_at) \
             VALUES ('settle:{id}:bank_share', 'bank:BANK01:AGX', 'hospital:H1', 500, 'post_pending', NULL, 'bank_share', '{at}')"
        )
    };
    let now = time::OffsetDateTime::now_utc();
    day.sql(&ghost("ghost", &wugan_hub::clock::timestamp(now))).await;
    let china = now.to_offset(time::UtcOffset::from_hms(8, 0, 0).expect("offset"));
    let before_midnight = china.replace_time(time::Time::from_hms(23, 58, 0).expect("time"));
    day.sql(&ghost("late", &wugan_hub::clock::timestamp(before_midnight))).await;

    let report = day.reconcile().await;
    assert_eq!(counts(&report["insurance"]), [3, 2, 0, 1, 0, 1], "{report}");
    assert_eq!(counts(&report["banks"]), [5, 2, 1, 2, 0, 2], "{report}");
    assert_eq!(counts(&report["hospitals"]), [3, 2, 0, 1, 0, 1], "the fund fen breaks the settlement's own sum: {report}");
    let expected =
        [("bank:BANK01", "amounts_differ"), ("bank:BANK01", "hub_only"), ("hospitals", "amounts_differ"), ("insurance", "amounts_differ")];
    assert_eq!(classes(&report), expected.map(|(p, c)| (p.to_string(), c.to_string())), "{report}");
    let short = report["exceptions"].as_array().into_iter().flatten().find(|e| e["class"] == "hub_only").expect("短款");
    assert_eq!(short["key"], "ghost:capture");
    assert!(short["note"].as_str().unwrap_or_default().contains("短款"), "{short}");

    // They wait in the exceptions queue; a run of the same day again supersedes the first.
    let operator = HisClient::new(&day.sys.hub_url, &day.sys.credentials.operator_api_key);
    let queue = operator.get("/api/v1/exceptions").await.expect("hub");
    assert_eq!(queue.body["reconciliation"].as_array().map(Vec::len), Some(4), "{queue:?}");
    day.reconcile().await;
    let queue = operator.get("/api/v1/exceptions").await.expect("hub");
    assert_eq!(queue.body["reconciliation"].as_array().map(Vec::len), Some(4), "listed once: {queue:?}");

    let open_differences = || async {
        let scrape = operator.raw("GET", "/metrics", None, None).await.expect("a scrape");
        let text = scrape.body.as_str().unwrap_or_default().to_string();
        text.lines().find_map(|l| l.strip_prefix("wugan_reconciliation_differences_open ")?.parse::<i64>().ok())
    };
    assert_eq!(open_differences().await, Some(4));

    // The operator deals with the 短款 outside the hub and says how: it leaves the queue for good.
    let date = queue.body["reconciliation"][0]["date"].as_str().expect("the day").to_string();
    let handled = |key: &str, note: &str| json!({"date": date, "partner": "bank:BANK01", "record_key": key, "note": note});
    let empty = operator.post("/api/v1/exceptions/reconciliation/handled", &handled("ghost:capture", " ")).await.expect("hub");
    assert_eq!((empty.status, empty.body["error"]["code"].as_str()), (422, Some("missing_field")), "{empty:?}");
    let unknown = operator.post("/api/v1/exceptions/reconciliation/handled", &handled("nothing:capture", "x")).await.expect("hub");
    assert_eq!((unknown.status, unknown.body["error"]["code"].as_str()), (404, Some("difference_not_found")), "{unknown:?}");
    let done =
        operator.post("/api/v1/exceptions/reconciliation/handled", &handled("ghost:capture", "charged at the counter, ref C-7")).await;
    let done = done.expect("hub");
    assert_eq!((done.status, done.body["note"].as_str()), (200, Some("charged at the counter, ref C-7")), "{done:?}");
    let again = operator.post("/api/v1/exceptions/reconciliation/handled", &handled("ghost:capture", "another word")).await.expect("hub");
    assert_eq!(again.body["note"], done.body["note"], "the first note stands");
    let his = HisClient::new(&day.sys.hub_url, &day.sys.credentials.hospitals[0].api_key);
    let refused = his.post("/api/v1/exceptions/reconciliation/handled", &handled("ghost:capture", "x")).await.expect("hub");
    assert_eq!(refused.status, 403, "operators only: {refused:?}");
    day.reconcile().await;
    let queue = operator.get("/api/v1/exceptions").await.expect("hub");
    let left: Vec<&str> = queue.body["reconciliation"].as_array().into_iter().flatten().filter_map(|e| e["key"].as_str()).collect();
    assert_eq!(left.len(), 3, "{queue:?}");
    assert!(!left.contains(&"ghost:capture"), "a run of the day again does not bring it back: {left:?}");
    assert_eq!(open_differences().await, Some(3));
    let audit = operator.get("/api/v1/operator/audit").await.expect("hub");
    assert!(audit.body.to_string().contains("reconciliation_handled"), "{audit:?}");
    day.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

/// The hub keeps the center's `setlinfo` from 2207 with the settlement: reconciliation buckets it
/// by the center's 清算类别 and the insurance clearing (3203) by its `setl_time`, not by the hub's
/// guesses (11 and the hub's own clock; the record was never kept before).
#[tokio::test]
async fn the_centers_settlement_record_is_kept_for_reconciliation_and_clearing() {
    let day = day_with(None).await;
    let s = day.visit(1).await;
    assert_eq!(s.body["state"], "settled", "{s:?}");
    let visit_id = s.body["visit_id"].as_str().expect("visit id").to_string();
    let kept = day.sys.app.store.settlement_of_visit(&visit_id).await.expect("store").expect("the settlement");
    let setlinfo: Value = serde_json::from_str(kept.setlinfo_json.as_deref().expect("the center's setlinfo kept")).expect("json");
    assert_eq!(setlinfo["setl_id"].as_str(), kept.setl_id.as_deref(), "{setlinfo}");
    assert_eq!(setlinfo["clr_type"], "11", "{setlinfo}");
    assert!(setlinfo["setl_time"].as_str().is_some_and(|t| t.starts_with(&today())), "{setlinfo}");
    let report = day.reconcile().await;
    assert_eq!(report["exceptions"], json!([]), "{report}");
    assert_eq!(counts(&report["insurance"]), [1, 1, 0, 0, 0, 0], "{report}");
    day.sys.shutdown(std::time::Duration::from_secs(5)).await;
}
