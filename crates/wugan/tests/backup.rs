//! `wugan backup` and `wugan restore`: the hub's database and the built-in partners' journals
//! copied while they serve; a hub started on the restored folder shows the same agreements and
//! debts.

use serde_json::json;
use std::path::Path;
use std::time::Duration;
use wugan::backup::{backup, restore, Scope};
use wugan::his::{fee_line, HisClient, Reply};
use wugan::system::{self, System, SystemOptions};

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";

/// A signed-up patient with one settled visit on credit: the agreement's id.
async fn a_patient_owing_the_bank(sys: &System) -> String {
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let signed = operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(signed.ok(), "{signed:?}");
    let visit = his.register("V-1", "01", EMPLOYEE_TOKEN).await.unwrap();
    let visit_id = visit.body["id"].as_str().unwrap().to_string();
    let lines = [fee_line("1", "001102000010000", "25.00", "1", "25.00"), fee_line("2", "013100000010000", "150.00", "8", "1200.00")];
    assert!(his.upload_fees(&visit_id, &lines).await.unwrap().ok());
    assert!(his.settle(&visit_id).await.unwrap().ok());
    signed.body["id"].as_str().unwrap().to_string()
}

/// The agreement and its statements, as the operator sees them.
async fn books_of(sys: &System, agreement_id: &str) -> (Reply, Reply) {
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let agreement = operator.get(&format!("/api/v1/agreements/{agreement_id}")).await.unwrap();
    let statements = operator.get(&format!("/api/v1/agreements/{agreement_id}/statements")).await.unwrap();
    assert!(agreement.ok() && statements.ok(), "{agreement:?} {statements:?}");
    assert_eq!(statements.body["agreement_id"].as_str(), Some(agreement_id), "the hub's id, not the bank's");
    (agreement, statements)
}

fn sqlite_only(opts: &SystemOptions) -> bool {
    opts.database_url.is_none() // a hub on PostgreSQL is backed up with pg_dump
}

#[tokio::test]
async fn the_hub_backed_up_while_serving_restores_into_a_fresh_folder_that_shows_the_same_agreements() {
    let (opts, dir) = common::fresh_options("backup-online").await;
    if !sqlite_only(&opts) {
        return;
    }
    // The partners here play external ones: they outlive the hub, as a real bank does.
    let sys = system::start(&opts).await.expect("system starts");
    let agreement_id = a_patient_owing_the_bank(&sys).await;
    let (agreement, statements) = books_of(&sys, &agreement_id).await;
    assert!(statements.body["debt_fen"].as_i64() > Some(0), "{statements:?}");

    // Taken while the hub serves, its WAL not checkpointed: the copy is whole on its own.
    let copy = opts.data_dir.join("backup");
    let copied = backup(&opts.data_dir, &copy, Scope::Everything).await.expect("backup while serving");
    assert_eq!(copied, ["hub.db", "credentials.json", "invoice-keys/"]);
    assert!(backup(&opts.data_dir, &copy, Scope::Everything).await.is_err(), "a backup never lands on another");
    // A copy of the hub alone (its partners backed up on their side) holds the invoice keys too.
    let hub_only = backup(&opts.data_dir, &opts.data_dir.join("backup-hub-only"), Scope::HubOnly).await.expect("hub only");
    assert_eq!(hub_only, ["hub.db", "credentials.json", "invoice-keys/"]);
    sys.stop();

    let fresh = opts.data_dir.join("restored");
    assert_eq!(restore(&copy, &fresh).expect("restore"), ["credentials.json", "hub.db", "invoice-keys/"]);
    let root_key = |dir: &std::path::Path| std::fs::read(dir.join("invoice-keys").join("root.key")).expect("the invoices' root key");
    assert_eq!(root_key(&fresh), root_key(&opts.data_dir), "invoices issued after a restore verify with the same root.pub");
    let refused = restore(&copy, &fresh).expect_err("the folder holds data now");
    assert!(refused.to_string().contains("not empty"), "{refused}");

    let mut again = SystemOptions::local(fresh);
    (again.insurance_url, again.bank_url) = (Some(sys.insurance_url.clone()), Some(sys.bank_url.clone()));
    let restored = system::start(&again).await.expect("the restored folder starts");
    assert_eq!(restored.credentials.operator_api_key, sys.credentials.operator_api_key);
    let (agreement_again, statements_again) = books_of(&restored, &agreement_id).await;
    assert_eq!(agreement_again.body, agreement.body);
    assert_eq!(statements_again.body, statements.body);
    restored.shutdown(Duration::from_secs(5)).await;
    // Restored without its invoice keys, the hub refuses to start rather than sign under a new root.
    std::fs::remove_dir_all(again.data_dir.join("invoice-keys")).expect("keys removed");
    let refused = system::start(&again).await.err().expect("no invoice keys for the invoices on record");
    assert!(refused.to_string().contains("invoice-keys/"), "{refused}");
    drop(dir);
}

#[tokio::test]
async fn the_built_in_partners_journals_are_copied_during_traffic_and_restore_whole() {
    let (mut opts, dir) = common::fresh_options("backup-partners").await;
    if !sqlite_only(&opts) {
        return;
    }
    (opts.persist_bank, opts.insurance_in_data_dir) = (true, true);
    let sys = system::start(&opts).await.expect("system starts");
    let agreement_id = a_patient_owing_the_bank(&sys).await;
    let (agreement, statements) = books_of(&sys, &agreement_id).await;

    // Another patient keeps the hub, the bank and the insurance center writing while the copy is
    // taken: visit after visit, registered, billed and settled.
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let sign_up = json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": RESIDENT_CERTNO, "use_personal_account": false,
                         "payment": {"method": "credit_line", "bank_code": "BANK01"}});
    let other = operator.post_with_key("/api/v1/agreements", "traffic-sign-up", &sign_up).await.unwrap();
    assert!(other.ok(), "{other:?}");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let traffic = tokio::spawn(visits_until(sys.hub_url.clone(), sys.credentials.hospitals[0].api_key.clone(), stopped));
    tokio::time::sleep(Duration::from_millis(300)).await; // a few visits in
    let copy = opts.data_dir.join("backup");
    let copied = backup(&opts.data_dir, &copy, Scope::Everything).await.expect("backup while serving, partners included");
    assert_eq!(
        copied,
        ["hub.db", "bank.db", "insurance.db", "bank.key", "credentials.json", "insurance.key", "invoice-keys/"],
        "a partner's key goes with its journal"
    );
    let _ = stop.send(true);
    let settled_during = traffic.await.expect("the traffic ran");
    assert!(settled_during > 0, "visits were settled around the backup");
    let report = sys.shutdown(Duration::from_secs(5)).await;
    assert!(report.drained && report.closed, "{report:?}");

    // A new folder from the copy, a new `serve` on it: its partners replay their journals
    // (refusing to start on any answer that would differ), and the books are as they were.
    let fresh = opts.data_dir.join("restored");
    restore(&copy, &fresh).expect("restore");
    let mut again = SystemOptions::local(fresh.clone());
    (again.persist_bank, again.insurance_in_data_dir) = (true, true);
    let restored = system::start(&again).await.expect("the restored folder starts");
    let (agreement_again, statements_again) = books_of(&restored, &agreement_id).await;
    assert_eq!(agreement_again.body, agreement.body);
    assert_eq!(statements_again.body, statements.body);
    // What the traffic left in the copy finishes as after a crash (the hub was copied first, so a
    // partner may be a step ahead), and the ledger balances.
    restored.app.resume_unfinished(Duration::ZERO).await.expect("recovery runs");
    let ledger = operator_of(&restored).get("/api/v1/ledger").await.unwrap();
    assert_eq!(ledger.body["balanced"], true, "{ledger:?}");
    restored.shutdown(Duration::from_secs(5)).await;
    assert_private(&fresh);
    drop(dir);
}

const RESIDENT_CERTNO: &str = "440304198507203318";

fn operator_of(sys: &System) -> HisClient {
    HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key)
}

/// Settles visit after visit for the resident until told to stop; how many were settled. (Keys of
/// its own: `HisClient::next_key` is unique per client only.)
async fn visits_until(hub_url: String, hospital_key: String, stop: tokio::sync::watch::Receiver<bool>) -> usize {
    let his = HisClient::new(&hub_url, &hospital_key);
    let mut settled = 0;
    for n in 0.. {
        if *stop.borrow() {
            break;
        }
        let register = json!({"ipt_otp_no": format!("T-{n}"), "mdtrt_cert_type": "02", "mdtrt_cert_no": RESIDENT_CERTNO, "med_type": "11",
                              "dept_code": "A03", "dept_name": "内科", "dr_name": "王医生"});
        let visit = his.post_with_key("/api/v1/visits", &format!("traffic-{n}-visit"), &register).await.unwrap();
        let Some(visit_id) = visit.body["id"].as_str() else { panic!("{visit:?}") };
        let fees = json!({"lines": [fee_line("1", "001102000010000", "25.00", "1", "25.00")]});
        assert!(his.post_with_key(&format!("/api/v1/visits/{visit_id}/fees"), &format!("traffic-{n}-fees"), &fees).await.unwrap().ok());
        let click = his.post_with_key(&format!("/api/v1/visits/{visit_id}/settlement"), &format!("traffic-{n}-click"), &json!({})).await;
        settled += usize::from(click.unwrap().ok());
    }
    settled
}

#[tokio::test]
async fn a_restore_into_a_folder_in_use_is_refused() {
    let (opts, dir) = common::fresh_options("restore-in-use").await;
    let copy = opts.data_dir.join("backup");
    std::fs::create_dir_all(&copy).expect("folder");
    std::fs::write(copy.join("credentials.json"), "{}").expect("a file");
    let live = opts.data_dir.join("live");
    std::fs::create_dir_all(&live).expect("folder");
    let _serving = wugan::lock::lock_data_dir(&live).expect("a hub holds it");
    let refused = restore(&copy, &live).expect_err("in use");
    assert!(refused.to_string().contains("in use"), "{refused}");
    drop(dir);
}

fn assert_private(folder: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(folder), 0o700);
        for file in ["hub.db", "bank.db", "insurance.db", "credentials.json"] {
            assert_eq!(mode(&folder.join(file)), 0o600, "{file}");
        }
    }
    #[cfg(not(unix))]
    let _ = folder;
}
