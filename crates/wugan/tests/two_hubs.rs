//! Two hubs on one PostgreSQL database (each with its own data folder, the same credentials): a
//! visit settled through both at the same moment is settled once, paid once, charged once. Runs
//! when WUGAN_TEST_DATABASE_URL names a PostgreSQL server; on SQLite there is one hub per file.

use serde_json::json;
use wugan::his::{fee_line, HisClient, Reply};
use wugan::system::{self, SystemOptions};

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";

fn fen(body: &serde_json::Value, field: &str) -> i64 {
    body[field].as_i64().unwrap_or_else(|| panic!("{field} in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_settled_through_two_hubs_at_once_is_settled_and_charged_once() {
    let (first_opts, dir) = common::fresh_options("two-hubs").await;
    let Some(database_url) = first_opts.database_url.clone() else {
        return; // SQLite: one hub per data folder, by the folder's lock
    };
    let first = system::start(&first_opts).await.expect("the first hub starts");
    // The second hub: its own folder with the same credentials, the same partners and database.
    let second_dir = first_opts.data_dir.join("second");
    wugan::data_dir::private_dir(&second_dir).expect("folder");
    std::fs::copy(first_opts.data_dir.join("credentials.json"), second_dir.join("credentials.json")).expect("credentials");
    // The invoice keys too: both hubs sign under the one root that readers trust.
    wugan::data_dir::private_dir(&second_dir.join("invoice-keys")).expect("folder");
    for entry in std::fs::read_dir(first_opts.data_dir.join("invoice-keys")).expect("the first hub's invoice keys") {
        let entry = entry.expect("an entry");
        std::fs::copy(entry.path(), second_dir.join("invoice-keys").join(entry.file_name())).expect("a key");
    }
    let mut second_opts = SystemOptions::local(second_dir);
    second_opts.database_url = Some(database_url);
    (second_opts.insurance_url, second_opts.bank_url) = (Some(first.insurance_url.clone()), Some(first.bank_url.clone()));
    let second = system::start(&second_opts).await.expect("the second hub starts");

    let hospital_key = &first.credentials.hospitals[0].api_key;
    let operator = HisClient::new(&first.hub_url, &first.credentials.operator_api_key);
    let (his_one, his_two) = (HisClient::new(&first.hub_url, hospital_key), HisClient::new(&second.hub_url, hospital_key));
    let signed = operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(signed.ok(), "{signed:?}");
    let agreement_id = signed.body["id"].as_str().unwrap().to_string();
    // Four visits (within the credit line), each clicked through both hubs at once.
    let (mut paid, mut charged) = (0, 0);
    for round in 1..=4 {
        let visit = his_one.register(&format!("MZ-TWO-{round}"), "01", EMPLOYEE_TOKEN).await.unwrap();
        let visit_id = visit.body["id"].as_str().unwrap().to_string();
        let lines = [fee_line("1", "001102000010000", "25.00", "1", "25.00"), fee_line("2", "013100000010000", "150.00", "8", "1200.00")];
        assert!(his_one.upload_fees(&visit_id, &lines).await.unwrap().ok());

        // The doctor's click arrives twice, through each hub, at the same moment.
        let (path, empty) = (format!("/api/v1/visits/{visit_id}/settlement"), json!({}));
        let (key_a, key_b) = (format!("click-{round}-a"), format!("click-{round}-b"));
        let (one, two) = tokio::join!(his_one.post_with_key(&path, &key_a, &empty), his_two.post_with_key(&path, &key_b, &empty));
        let answers: Vec<Reply> = vec![one.expect("an answer"), two.expect("an answer")];
        // Each answer is the one settlement (a click that found it under way waits for it) or a
        // refusal; never two settlements.
        let settled: Vec<&Reply> = answers.iter().filter(|r| r.ok()).collect();
        assert!(!settled.is_empty(), "{answers:?}");
        assert!(answers.iter().all(|r| r.ok() || r.status == 409), "{answers:?}");
        assert!(settled.iter().all(|r| r.body["id"] == settled[0].body["id"]), "one settlement: {answers:?}");
        let settlement = &settled[0].body;
        assert_eq!(settlement["state"], "settled");
        (paid, charged) = (paid + fen(settlement, "medfee_fen"), charged + fen(settlement, "bank_fen"));
    }
    let ledger = operator.get("/api/v1/ledger").await.unwrap().body;
    assert_eq!(ledger["balanced"], json!(true));
    assert_eq!(fen(&ledger, "hospitals_received_fen"), paid, "paid once");
    let statements = operator.get(&format!("/api/v1/agreements/{agreement_id}/statements")).await.unwrap().body;
    assert_eq!(fen(&statements, "used_fen"), charged, "charged once: {statements}");
    second.shutdown(std::time::Duration::from_secs(5)).await;
    first.shutdown(std::time::Duration::from_secs(5)).await;
    drop(dir);
}
