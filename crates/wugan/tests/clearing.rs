//! Clearing and payout (清算 / 结算划付) end to end: a day of visits at one hospital, then
//! `App::clear_day` instructs the bank to pay the hospital what it collected, captures less
//! refunds. The bank checks each instruction against its own book; a lost answer is sent again
//! under the same id and paid once; an instruction for more than the bank collected is declined.

use serde_json::json;
use std::sync::Arc;
use wugan::faults::{Fault, FaultPlan, Rule};
use wugan::his::{fee_line, HisClient};
use wugan::system;
use wugan_domain::Fen;

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";
const BANK: &str = "BANK01";

/// A business day far from any real one: clearing pays what was collected through its end, so a
/// day in the future covers every visit of the test.
const DAY: &str = "2099-01-01";
const NEXT_DAY: &str = "2099-01-02";

struct Hospital {
    sys: system::System,
    his: HisClient,
    code: String,
    _dir: common::TempDir,
}

/// A system with `fault` on the first payout (if any), no recovery worker, and one signed patient.
async fn hospital_with(fault: Option<Fault>) -> Hospital {
    let (mut opts, dir) = common::fresh_options("clearing").await;
    opts.manual_recovery = true;
    if let Some(fault) = fault {
        opts.bank_faults = Some(Arc::new(FaultPlan::scripted(vec![Rule { step: "POST payouts".into(), nth: 1, fault }])));
    }
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let code = sys.credentials.hospitals[0].code.clone();
    let agreement = operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": BANK})).await.expect("hub");
    assert!(agreement.ok(), "{agreement:?}");
    Hospital { sys, his, code, _dir: dir }
}

impl Hospital {
    /// Registers visit `n`, uploads 1,225 yuan of fees and clicks: the visit id and what the bank
    /// captured for it.
    async fn visit(&self, n: u32) -> (String, i64) {
        let reg = json!({"ipt_otp_no": format!("MZ{n}"), "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN});
        let visit = self.his.post_with_key("/api/v1/visits", &format!("reg{n}"), &reg).await.expect("hub");
        assert!(visit.ok(), "{visit:?}");
        let id = visit.body["id"].as_str().expect("visit id").to_string();
        let lines = json!({"lines": [fee_line("1", "001102000010000", "25.00", "1", "25.00"), fee_line("2", "013100000010000", "150.00", "8", "1200.00")]});
        let up = self.his.post_with_key(&format!("/api/v1/visits/{id}/fees"), &format!("fees{n}"), &lines).await.expect("hub");
        assert!(up.ok(), "{up:?}");
        let click =
            self.his.post_with_key(&format!("/api/v1/visits/{id}/settlement"), &format!("click{n}"), &json!({})).await.expect("hub");
        assert_eq!(click.body["state"], "settled", "{click:?}");
        let bank = click.body["bank_fen"].as_i64();
        (id, bank.unwrap_or_else(|| panic!("the click names the bank's share: {click:?}")))
    }

    /// What the ledger says the bank paid the hospital, and whether the ledger balances.
    async fn paid_in_ledger(&self) -> (Fen, bool) {
        let report = self.sys.app.store.ledger_report().await.expect("ledger");
        let account = format!("hospital_paid:{}:bank:{BANK}", self.code);
        (report.accounts.get(&account).map(|a| a.net_posted()).unwrap_or_default(), report.balanced)
    }

    /// The bank's own record of an instruction.
    async fn bank_record(&self, id: &str) -> Option<wugan_bank::wire::Operation> {
        self.sys.app.banks.get(BANK).expect("the bank").operation(id).await.expect("the bank answers")
    }
}

#[tokio::test]
async fn a_day_of_visits_is_paid_to_the_hospital_once_captures_less_refunds() {
    let h = hospital_with(None).await;
    let (_, first) = h.visit(1).await;
    let (second_visit, second) = h.visit(2).await;
    assert!(first > 0 && second > 0, "the bank paid part of each visit");
    let cancel = h.his.cancel(&second_visit).await.expect("hub");
    assert!(cancel.ok(), "{cancel:?}");

    let view = h.sys.app.clear_day(DAY).await.expect("the day clears");
    assert_eq!(view.payouts.len(), 1, "one bank, one hospital: {view:?}");
    let payout = &view.payouts[0];
    let id = format!("payout:{BANK}:{}:{DAY}", h.code);
    assert_eq!((payout.id.as_str(), payout.state.as_str(), payout.amount_fen), (id.as_str(), "paid", first), "the refunded visit nets out");
    assert_eq!((view.paid_fen, view.in_doubt, view.declined), (first, 0, 0));
    assert_eq!(h.paid_in_ledger().await, (Fen(first), true), "the receivable moved to paid, and the ledger balances");
    let record = h.bank_record(&id).await.expect("the bank recorded the payout");
    assert_eq!((record.amount_fen, record.agreement_id.as_str()), (Fen(first), format!("merchant:{}", h.code).as_str()));

    // Clearing the day again sends nothing new and pays nothing twice.
    let again = h.sys.app.clear_day(DAY).await.expect("the day clears again");
    assert_eq!((again.payouts.len(), again.paid_fen), (1, first));
    assert_eq!(h.paid_in_ledger().await, (Fen(first), true));

    // What is collected after the day was cleared is the next day's payout.
    let (_, third) = h.visit(3).await;
    let next = h.sys.app.clear_day(NEXT_DAY).await.expect("the next day clears");
    assert_eq!(next.payouts.iter().map(|p| (p.state.as_str(), p.amount_fen)).collect::<Vec<_>>(), [("paid", third)]);
    assert_eq!(h.paid_in_ledger().await, (Fen(first + third), true));
    h.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_payout_whose_answer_was_lost_is_sent_again_and_paid_once() {
    let h = hospital_with(Some(Fault::LoseReply)).await;
    let (_, captured) = h.visit(1).await;
    let view = h.sys.app.clear_day(DAY).await.expect("the day clears");
    assert_eq!((view.in_doubt, view.paid_fen), (1, 0), "the bank paid, the hub does not know: {view:?}");
    assert_eq!(h.paid_in_ledger().await, (Fen::ZERO, true), "nothing is booked on an unknown outcome");
    let id = format!("payout:{BANK}:{}:{DAY}", h.code);
    assert!(h.bank_record(&id).await.is_some(), "the bank did pay");

    // Another day's clearing does not ask again for what is in doubt; the recovery pass settles it.
    let next = h.sys.app.clear_day(NEXT_DAY).await.expect("the next day clears");
    assert!(next.payouts.is_empty(), "nothing more is owed: {next:?}");
    let settled = h.sys.app.clear_day(DAY).await.expect("the day again");
    assert_eq!((settled.in_doubt, settled.paid_fen), (0, captured), "{settled:?}");
    assert_eq!(h.paid_in_ledger().await, (Fen(captured), true));
    assert_eq!(h.sys.app.resume_payouts().await.expect("recovery"), 0, "nothing left to resume");
    h.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_instruction_for_more_than_the_bank_collected_is_declined_and_books_nothing() {
    let h = hospital_with(None).await;
    let (_, captured) = h.visit(1).await;
    // The hub's books claim one yuan the bank never collected (a corrupted ledger, say).
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&h.sys.database_url).await.expect("hub database");
    let forged = format!(
        "INSERT INTO ledger_transfers (id, debit_account, credit_account, amount_fen, kind, pending_id, code, created_at) \
         VALUES ('forged', 'bank:{BANK}:nobody', 'hospital:{}', 100, 'posted', NULL, 'bank_share', '2026-01-01T00:00:00Z')",
        h.code
    );
    sqlx::query(sqlx::AssertSqlSafe(forged)).execute(&pool).await.expect("forged");
    pool.close().await;

    let view = h.sys.app.clear_day(DAY).await.expect("the day clears");
    let payout = &view.payouts[0];
    assert_eq!((payout.state.as_str(), payout.amount_fen), ("declined", captured + 100), "{view:?}");
    assert!(payout.note.as_deref().unwrap_or_default().contains("payout_exceeds_due"), "{payout:?}");
    assert_eq!(h.paid_in_ledger().await.0, Fen::ZERO, "nothing paid, nothing booked");
    h.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn operators_clear_over_the_api_and_hospitals_may_not() {
    let h = hospital_with(None).await;
    let (_, captured) = h.visit(1).await;
    let refused = h.his.post_with_key("/api/v1/clearings", "clear-h", &json!({"date": DAY})).await.expect("hub");
    assert_eq!(refused.status, 403, "{refused:?}");
    let operator = HisClient::new(&h.sys.hub_url, &h.sys.credentials.operator_api_key);
    let bad = operator.post_with_key("/api/v1/clearings", "clear-bad", &json!({"date": "2099-02-30"})).await.expect("hub");
    assert_eq!((bad.status, bad.body["error"]["code"].as_str()), (422, Some("bad_date")), "{bad:?}");
    let cleared = operator.post_with_key("/api/v1/clearings", "clear-1", &json!({"date": DAY})).await.expect("hub");
    assert!(cleared.ok(), "{cleared:?}");
    assert_eq!(cleared.body["paid_fen"], captured, "{cleared:?}");
    assert_eq!(cleared.body["payouts"][0]["state"], "paid");
    h.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

/// This month in China time, `YYYY-MM`.
fn this_month() -> String {
    let t = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(8, 0, 0).expect("offset"));
    format!("{:04}-{:02}", t.year(), t.month() as u8)
}

/// The fund's and personal accounts' shares of the visits, from the hub's own view of them.
async fn insurance_share(h: &Hospital, visits: &[&str]) -> i64 {
    let mut total = 0;
    for id in visits {
        let v = h.his.get(&format!("/api/v1/visits/{id}")).await.expect("hub");
        let s = &v.body["settlement"];
        total += s["fund_fen"].as_i64().expect("fund") + s["personal_account_fen"].as_i64().expect("acct");
    }
    total
}

async fn insurance_paid_in_ledger(h: &Hospital) -> Fen {
    let report = h.sys.app.store.ledger_report().await.expect("ledger");
    report.accounts.get(&format!("hospital_paid:{}:insurance", h.code)).map(|a| a.net_posted()).unwrap_or_default()
}

#[tokio::test]
async fn a_months_insurance_shares_are_applied_for_once_and_may_be_withdrawn_and_applied_again() {
    let h = hospital_with(None).await;
    let (a, _) = h.visit(1).await;
    let (b, _) = h.visit(2).await;
    let share = insurance_share(&h, &[&a, &b]).await;
    assert!(share > 0, "the fund paid part of the visits");
    let month = this_month();

    let view = h.sys.app.clear_insurance_month(&month).await.expect("the month clears");
    assert_eq!(view.applications.len(), 1, "one hospital, one clearing type: {view:?}");
    let app = &view.applications[0];
    assert_eq!((app.state.as_str(), app.psntime, app.clr_type.as_str()), ("applied", 2, "11"), "{app:?}");
    assert_eq!(view.applied_fen, share);
    assert_eq!(insurance_paid_in_ledger(&h).await, Fen(share));
    let again = h.sys.app.clear_insurance_month(&month).await.expect("again");
    assert_eq!(again.applications[0].clr_appy_evt_id, app.clr_appy_evt_id, "never applied twice");
    assert_eq!(insurance_paid_in_ledger(&h).await, Fen(share));

    let withdrawn = h.sys.app.withdraw_insurance_clearing(&app.id).await.expect("withdrawn");
    assert_eq!(withdrawn.state, "withdrawn");
    assert_eq!(insurance_paid_in_ledger(&h).await, Fen::ZERO, "the transfer is reversed");
    let refused = h.sys.app.withdraw_insurance_clearing(&app.id).await.expect_err("withdrawn once");
    assert_eq!(refused.code(), "not_withdrawable");

    let reapplied = h.sys.app.clear_insurance_month(&month).await.expect("applied again");
    assert_eq!(reapplied.applications[0].state, "applied");
    assert_ne!(reapplied.applications[0].clr_appy_evt_id, app.clr_appy_evt_id, "a new application");
    assert_eq!(insurance_paid_in_ledger(&h).await, Fen(share));
    assert!(h.sys.app.store.ledger_report().await.expect("ledger").balanced);
    h.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_month_the_center_settled_differently_is_refused_with_its_totals_and_a_lost_answer_is_asked_again() {
    let (mut opts, _dir) = common::fresh_options("clearing-lost").await;
    opts.manual_recovery = true;
    opts.insurance_faults = Some(Arc::new(FaultPlan::scripted(vec![Rule { step: "3203".into(), nth: 1, fault: Fault::LoseReply }])));
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let agreement = operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": BANK})).await.expect("hub");
    assert!(agreement.ok(), "{agreement:?}");
    let h = Hospital {
        his: HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key),
        code: sys.credentials.hospitals[0].code.clone(),
        sys,
        _dir,
    };
    h.visit(1).await;
    let month = this_month();

    // The answer is lost: the application waits, and the next run asks under the same msgid.
    let lost = h.sys.app.clear_insurance_month(&month).await.expect("the month runs");
    assert_eq!(lost.applications[0].state, "applying", "{lost:?}");
    assert_eq!(insurance_paid_in_ledger(&h).await, Fen::ZERO);
    let applied = h.sys.app.clear_insurance_month(&month).await.expect("the month runs again");
    assert_eq!(applied.applications[0].state, "applied", "the center's one application, replayed: {applied:?}");

    // Withdrawn, then the hub's records drift a fen from the center's: the center refuses.
    h.sys.app.withdraw_insurance_clearing(&applied.applications[0].id).await.expect("withdrawn");
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&h.sys.database_url).await.expect("hub database");
    sqlx::query("UPDATE settlements SET fund_fen = fund_fen + 1").execute(&pool).await.expect("drift");
    pool.close().await;
    let refused = h.sys.app.clear_insurance_month(&month).await.expect("the month runs");
    let a = &refused.applications[0];
    assert_eq!(a.state, "refused", "{a:?}");
    assert!(a.note.as_deref().unwrap_or_default().contains("中心 1 人次"), "the center names its own totals: {a:?}");
    assert_eq!(insurance_paid_in_ledger(&h).await, Fen::ZERO);
    h.sys.shutdown(std::time::Duration::from_secs(5)).await;
}
