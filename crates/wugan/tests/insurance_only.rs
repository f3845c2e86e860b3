//! Insurance only (setl_type HI, issue 15), end to end through the hub's HTTP API.
//!
//! A hospital that takes the patient's cash share at its own window still wants 秒报销: the hub
//! settles insurance exactly as in its own mode (2201, 2204, 2206, 2207; the fund and the personal
//! account pay), tells the HIS the cash to collect, and never calls the bank for the visit — not at
//! the click, not for a refund, not for a cancellation. The ledger books the cash share as
//! collected at the hospital, the day reconciles level at both partners, the invoice is issued.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use wugan::his::{fee_line, HisClient, Reply};
use wugan::system;
use wugan_domain::settlement::cash_only::SetlType;

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";

/// Today in China time, the business day the visits fall on.
fn today() -> String {
    let t = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(8, 0, 0).expect("offset"));
    format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day())
}

/// A test day that starts within minutes of midnight (China time) waits for the new day, so its
/// reconciliation counts do not depend on the hour it runs at (as in tests/reconciliation.rs).
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
    operator: HisClient,
    hospital: String,
    agreement_id: String,
    _dir: common::TempDir,
}

/// A hub with one patient signed (credit line, personal account used), no recovery worker (so
/// nothing but the test calls the bank).
async fn signed_day() -> Day {
    away_from_midnight().await;
    let (mut opts, dir) = common::fresh_options("insurance-only").await;
    opts.manual_recovery = true;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let hospital = sys.credentials.hospitals[0].code.clone();
    let agreement =
        operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.expect("hub");
    assert!(agreement.ok(), "{agreement:?}");
    let agreement_id = agreement.body["id"].as_str().expect("agreement id").to_string();
    Day { sys, his, operator, hospital, agreement_id, _dir: dir }
}

/// Consultation 25.00, an examination 1,200.00 (more than the personal account holds, so there
/// is a cash share), blood count 20.00.
fn fees(visit_no: &str) -> Vec<Value> {
    vec![
        fee_line(&format!("{visit_no}-1"), "001102000010000", "25.00", "1", "25.00"),
        fee_line(&format!("{visit_no}-2"), "013100000010000", "150.00", "8", "1200.00"),
        fee_line(&format!("{visit_no}-3"), "250101001000000", "20.00", "1", "20.00"),
    ]
}

fn fen(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} missing in {v}"))
}

impl Day {
    /// Registers `visit_no` (with `setl_type` if given), uploads its fees: the visit id.
    async fn registered(&self, visit_no: &str, setl_type: Option<&str>) -> String {
        let mut body = json!({"ipt_otp_no": visit_no, "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN});
        if let Some(t) = setl_type {
            body["setl_type"] = json!(t);
        }
        let visit = self.his.post_with_key("/api/v1/visits", &self.his.next_key(), &body).await.expect("hub");
        assert!(visit.ok(), "{visit:?}");
        let id = visit.body["id"].as_str().expect("visit id").to_string();
        let up = self.his.upload_fees(&id, &fees(visit_no)).await.expect("hub");
        assert!(up.ok(), "{up:?}");
        id
    }

    /// The doctor's click on a registered visit.
    async fn click(&self, visit_id: &str) -> Value {
        let s = self.his.settle(visit_id).await.expect("hub");
        assert!(s.ok(), "{s:?}");
        assert_eq!(s.body["state"], "settled", "{s:?}");
        s.body
    }

    async fn refund(&self, visit_id: &str, lines: &[&str]) -> Reply {
        self.his
            .post_with_key(&format!("/api/v1/visits/{visit_id}/refunds"), &self.his.next_key(), &json!({"lines": lines}))
            .await
            .expect("hub")
    }

    /// Every call the hub made to the bank that moves money (holds, captures, charges, voids, refunds),
    /// whatever its result, counted by `/metrics`.
    async fn bank_money_calls(&self) -> f64 {
        let scrape = self.operator.raw("GET", "/metrics", None, None).await.expect("a scrape");
        let text = scrape.body.as_str().expect("text").to_string();
        let moving = ["authorize", "capture", "charge", "void", "refund"].map(|op| format!(r#"partner="bank:BANK01",operation="{op}""#));
        text.lines()
            .filter(|l| l.starts_with("wugan_partner_calls_total{") && moving.iter().any(|m| l.contains(m.as_str())))
            .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
            .sum()
    }

    /// The bank's own record of the patient's line: (used, held).
    async fn bank_line(&self) -> (i64, i64) {
        let payment = self.operator.get(&format!("/api/v1/agreements/{}", self.agreement_id)).await.expect("hub").body["payment"].clone();
        (fen(&payment, "used_fen"), fen(&payment, "held_fen"))
    }

    /// The ledger's posted balances (credits − debits) of this hospital's accounts, by name
    /// without the hospital code; the ledger must balance.
    async fn books(&self) -> BTreeMap<String, i64> {
        let ledger = self.operator.get("/api/v1/ledger").await.expect("hub");
        assert_eq!(ledger.body["balanced"], json!(true), "{ledger:?}");
        let suffix = format!(":{}", self.hospital);
        let accounts = ledger.body["accounts"].as_object().cloned().unwrap_or_default();
        accounts
            .iter()
            .filter_map(|(name, a)| {
                let net = a["credits_posted"].as_i64().unwrap_or(0) - a["debits_posted"].as_i64().unwrap_or(0);
                name.strip_suffix(&suffix).map(|n| (n.to_string(), net))
            })
            .collect()
    }

    /// The signed invoice's split (who paid what).
    async fn split_of(&self, invoice: &Value) -> Value {
        let id = invoice["id"].as_str().expect("invoice id");
        self.his.get(&format!("/api/v1/invoices/{id}")).await.expect("hub").body["invoice"]["split"].clone()
    }

    async fn reconcile(&self) -> Value {
        let view = self.sys.app.reconcile_day(&today(), &|_| {}).await.expect("the day reconciles");
        serde_json::to_value(view).expect("json")
    }
}

fn counts(partner: &Value) -> [u64; 6] {
    ["records", "matched", "in_transit", "mismatches", "resolved", "exceptions"].map(|k| partner[k].as_u64().unwrap_or(u64::MAX))
}

#[tokio::test]
async fn an_insurance_only_visit_is_settled_by_insurance_and_the_hospital_collects_the_cash() {
    let day = signed_day().await;
    let (bank_calls, line) = (day.bank_money_calls().await, day.bank_line().await);

    // The doctor's click: insurance settles (the fund and the personal account pay), and the
    // answer names the cash share the hospital collects at its own window.
    let visit = day.registered("MZ-HI-1", Some("HI")).await;
    let s = day.click(&visit).await;
    let (medfee, fund, acct, cash) = (fen(&s, "medfee_fen"), fen(&s, "fund_fen"), fen(&s, "personal_account_fen"), fen(&s, "cash_fen"));
    assert_eq!(medfee, 124_500);
    assert!(fund > 0 && acct > 0 && cash > 0, "every share is there to be paid: {s}");
    assert_eq!(fen(&s, "cash_at_hospital_fen"), cash, "the cash to collect at the hospital: {s}");
    assert_eq!((fen(&s, "bank_fen"), fen(&s, "unpaid_fen")), (0, 0), "nothing charged, nothing owed to the hub: {s}");
    assert_eq!(s["bank"]["authorization"], Value::Null, "no hold was asked: {s}");
    assert!(s["setl_id"].as_str().is_some_and(|id| !id.is_empty()), "the insurance center settled it: {s}");

    // The bank never heard of it: no call, and its book of the line is as it was.
    assert_eq!(day.bank_money_calls().await, bank_calls);
    assert_eq!(day.bank_line().await, line);

    // Every fen booked once: the hospital received the whole total (insurance through the hub,
    // the cash at its window); no bill; the cash collected outside the hub.
    let books = day.books().await;
    assert_eq!(books.get("hospital").copied(), Some(medfee), "{books:?}");
    assert_eq!(books.get("cash_outside").copied(), Some(-cash), "{books:?}");
    assert_eq!(books.get("hospital_unpaid").copied().unwrap_or(0), 0, "{books:?}");

    // The hospital's e-invoice is issued as for any click.
    let invoices = day.his.get("/api/v1/invoices").await.expect("hub").body["invoices"].as_array().cloned().unwrap_or_default();
    let blue: Vec<&Value> = invoices.iter().filter(|i| i["settlement_id"] == s["id"] && i["kind"] == "blue").collect();
    assert_eq!(blue.len(), 1, "{invoices:?}");
    assert_eq!(fen(blue[0], "total_fen"), medfee);
    // It says the cash was paid at the hospital, not that the patient still owes it.
    let split = day.split_of(blue[0]).await;
    assert_eq!((fen(&split, "hospital_collected_fen"), fen(&split, "self_paid_fen"), fen(&split, "bank_fen")), (cash, 0, 0), "{split}");

    // A visit of a hospital whose own setting is HI settles the same way without naming it.
    day.sys.app.store.set_hospital_mode(&day.hospital, None, SetlType::Hi).await.expect("the hospital's mode");
    let by_hospital = day.click(&day.registered("MZ-HI-2", None).await).await;
    assert_eq!(fen(&by_hospital, "cash_at_hospital_fen"), fen(&by_hospital, "cash_fen"), "{by_hospital}");
    assert_eq!(day.bank_money_calls().await, bank_calls);

    // A registration naming a type the hub does not know is refused plainly (a blank one is absent).
    for bad in ["XX", "hi", "CSH"] {
        let body = json!({"ipt_otp_no": "MZ-HI-X", "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "setl_type": bad});
        let refused = day.his.post_with_key("/api/v1/visits", &day.his.next_key(), &body).await.expect("hub");
        assert_eq!((refused.status, refused.code()), (422, Some("bad_setl_type")), "{bad:?}: {refused:?}");
    }
    day.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn refunds_and_a_cancellation_of_an_insurance_only_visit_never_call_the_bank() {
    let day = signed_day().await;
    let visit = day.registered("MZ-HI-R", Some("HI")).await;
    let s = day.click(&visit).await;
    let bank_calls = day.bank_money_calls().await;

    // Two lines come back: insurance re-settles the rest; the HIS hands back the difference.
    let partial = day.refund(&visit, &["MZ-HI-R-1", "MZ-HI-R-3"]).await;
    assert!(partial.ok(), "{partial:?}");
    let r = &partial.body;
    assert_eq!((r["state"].as_str(), r["bank_refund_fen"].as_i64()), (Some("refunded"), Some(0)), "{r}");
    let kept_cash = fen(&r["resettled"], "cash_fen");
    assert!(kept_cash > 0, "the examination kept still has a cash share: {r}");
    assert_eq!(fen(r, "hospital_returns_fen"), fen(&s, "cash_fen") - kept_cash, "the cash the hospital hands back: {r}");
    // The lines kept are invoiced again, their cash still paid at the hospital.
    let invoices = day.his.get("/api/v1/invoices").await.expect("hub").body["invoices"].as_array().cloned().unwrap_or_default();
    let reissue = invoices.iter().find(|i| i["settlement_id"] == r["id"] && i["kind"] == "blue").expect("the reissue");
    assert_eq!(fen(&day.split_of(reissue).await, "hospital_collected_fen"), kept_cash);

    // The last line comes back too: a full refund, all the cash still held handed back.
    let full = day.refund(&visit, &["MZ-HI-R-2"]).await;
    assert!(full.ok(), "{full:?}");
    assert_eq!((fen(&full.body, "hospital_returns_fen"), fen(&full.body, "bank_refund_fen")), (kept_cash, 0), "{full:?}");
    let books = day.books().await;
    assert_eq!(
        (books.get("hospital").copied(), books.get("cash_outside").copied()),
        (Some(0), Some(0)),
        "everything returned, every share undone: {books:?}"
    );

    // Another visit, cancelled whole: 2208 alone, the cash handed back at the hospital.
    let other = day.registered("MZ-HI-C", Some("HI")).await;
    let settled = day.click(&other).await;
    let cancelled = day.his.cancel(&other).await.expect("hub");
    assert!(cancelled.ok(), "{cancelled:?}");
    assert_eq!(cancelled.body["state"], "cancelled");
    assert_eq!(fen(&cancelled.body, "cash_at_hospital_fen"), fen(&settled, "cash_fen"), "what the hospital hands back: {cancelled:?}");
    assert_eq!(day.bank_money_calls().await, bank_calls, "no bank refund, ever");
    let books = day.books().await;
    assert_eq!((books.get("hospital").copied(), books.get("cash_outside").copied()), (Some(0), Some(0)), "{books:?}");

    // The day's reconciliation after all that: level, and nothing at the bank to match.
    let report = day.reconcile().await;
    assert_eq!(report["exceptions"], json!([]), "{report}");
    assert_eq!(counts(&report["banks"])[0], 0, "no bank line for an insurance-only visit: {report}");
    assert_eq!(counts(&report["insurance"])[3], 0, "{report}");
    day.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_day_with_an_all_visit_and_an_insurance_only_visit_reconciles_level_at_both_partners() {
    let day = signed_day().await;
    let before = day.bank_money_calls().await;
    let all = day.click(&day.registered("MZ-ALL", None).await).await;
    assert!(fen(&all, "bank_fen") > 0, "the bank paid the ALL visit's cash share: {all}");
    let after_all = day.bank_money_calls().await;
    assert_eq!(after_all - before, 1.0, "ALL: one charge, no hold");
    let hi = day.click(&day.registered("MZ-HI", Some("HI")).await).await;
    assert_eq!(fen(&hi, "bank_fen"), 0);
    assert_eq!(day.bank_money_calls().await, after_all, "HI: nothing");

    let report = day.reconcile().await;
    // The hub settled both with the insurance center: both are in its 3201/3202 lists.
    assert_eq!(counts(&report["insurance"]), [2, 2, 0, 0, 0, 0], "{report}");
    // The bank's statement has the ALL visit's capture only, and the hub expects nothing more.
    assert_eq!(counts(&report["banks"]), [1, 1, 0, 0, 0, 0], "{report}");
    // Each settlement's own arithmetic: the HI one's cash is accounted as collected at the hospital.
    assert_eq!(counts(&report["hospitals"]), [2, 2, 0, 0, 0, 0], "{report}");
    assert_eq!(report["exceptions"], json!([]), "{report}");

    // The hospital's statement of the day: every fen by its source, the HI cash at its own window.
    let statement = day.his.get(&format!("/api/v1/hospitals/{}/statements/{}", day.hospital, today())).await.expect("hub").body;
    assert_eq!(fen(&statement, "cash_at_hospital_fen"), fen(&hi, "cash_fen"), "{statement}");
    assert_eq!(fen(&statement, "bank_payout_fen"), fen(&all, "bank_fen"), "the bank pays only what it captured: {statement}");
    let sources = ["fund_fen", "personal_account_fen", "bank_fen", "hospital_part_fen", "unpaid_fen", "cash_at_hospital_fen"];
    assert_eq!(sources.map(|k| fen(&statement, k)).iter().sum::<i64>(), fen(&statement, "medfee_fen"), "{statement}");
    day.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

/// Every call the hub made to the insurance center, whatever its result, counted by `/metrics`.
async fn insurance_calls(operator: &HisClient) -> f64 {
    let scrape = operator.raw("GET", "/metrics", None, None).await.expect("a scrape");
    let text = scrape.body.as_str().expect("text").to_string();
    text.lines()
        .filter(|l| l.starts_with("wugan_partner_calls_total{") && l.contains(r#"partner="insurance""#))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// A stay holds its deposit on the patient's line, so a hospital that collects the cash share
/// itself (HI), or settles insurance with its own platform (CASH), is not offered one: the
/// admission is refused before anything reaches the center or the bank, and nothing is kept.
/// Under ALL the same admission goes through.
#[tokio::test]
async fn a_hospital_that_settles_itself_is_not_offered_a_deposit_hold() {
    let day = signed_day().await;
    let (bank_calls, center_calls) = (day.bank_money_calls().await, insurance_calls(&day.operator).await);
    let admit = |ipt_no: &str| json!({"ipt_no": ipt_no, "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "deposit_fen": 30_000});
    for (setl_type, says) in [(SetlType::Hi, "collects the patient's cash share itself"), (SetlType::Cash, "its own platform")] {
        day.sys.app.store.set_hospital_mode(&day.hospital, None, setl_type).await.expect("the hospital's mode");
        let refused = day.his.post("/api/v1/stays", &admit("ZY-SELF-1")).await.expect("hub");
        assert_eq!((refused.status, refused.code()), (409, Some("hospital_settles_itself")), "{setl_type:?}: {refused:?}");
        assert!(refused.body["error"]["message"].as_str().unwrap_or_default().contains(says), "{refused:?}");
    }
    assert_eq!(insurance_calls(&day.operator).await, center_calls, "no 1101 or 2401 was sent");
    assert_eq!(day.bank_money_calls().await, bank_calls, "no hold was asked for");
    assert_eq!(day.bank_line().await, (0, 0), "nothing held on the line");

    // The same 住院号 is free, not taken by a half-made stay: under ALL it is admitted.
    day.sys.app.store.set_hospital_mode(&day.hospital, None, SetlType::All).await.expect("the hospital's mode");
    // An insurance the person does not hold is refused, as for a visit; nothing is held.
    let mut other = admit("ZY-SELF-1");
    other["insutype"] = json!("320");
    let refused = day.his.post("/api/v1/stays", &other).await.expect("hub");
    assert_eq!((refused.status, refused.code()), (422, Some("insutype_not_held")), "{refused:?}");
    assert_eq!(day.bank_line().await, (0, 0), "nothing held on the line");
    let admitted = day.his.post("/api/v1/stays", &admit("ZY-SELF-1")).await.expect("hub");
    assert!(admitted.ok(), "{admitted:?}");
    assert_eq!((admitted.body["state"].as_str(), admitted.body["held_fen"].as_i64()), (Some("in_ward"), Some(30_000)), "{admitted:?}");
    day.sys.shutdown(std::time::Duration::from_secs(5)).await;
}
