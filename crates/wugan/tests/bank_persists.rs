//! `wugan serve` keeps its built-in bank in the data folder (`bank.db`): what the hub was told by
//! the bank is on disk before the hub hears it, and a bank started on that file (here: on a copy
//! of it as a crash leaves it) holds the same lines, holds and debts.

use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use wugan::his::{fee_line, HisClient};
use wugan::system;

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";

/// Copies `bank.db` and its WAL as a kill -9 would leave them.
fn crash_image(data_dir: &Path, into: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(into).expect("folder");
    let copy = into.join("bank.db");
    std::fs::copy(data_dir.join("bank.db"), &copy).expect("copy the database");
    let wal = data_dir.join("bank.db-wal");
    if wal.exists() {
        std::fs::copy(wal, into.join("bank.db-wal")).expect("copy the WAL");
    }
    copy
}

#[tokio::test]
async fn the_built_in_bank_of_wugan_serve_is_kept_in_the_data_folder() {
    let (mut opts, dir) = common::fresh_options("bank-db").await;
    opts.persist_bank = true;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let signed = operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(signed.ok(), "{signed:?}");
    let agreement_id = signed.body["id"].as_str().unwrap().to_string();
    let visit = his.register("V-1", "01", EMPLOYEE_TOKEN).await.unwrap();
    let visit_id = visit.body["id"].as_str().unwrap().to_string();
    let lines = [fee_line("1", "001102000010000", "25.00", "1", "25.00"), fee_line("2", "013100000010000", "150.00", "8", "1200.00")];
    assert!(his.upload_fees(&visit_id, &lines).await.unwrap().ok());
    let settled = his.settle(&visit_id).await.unwrap();
    assert!(settled.ok(), "{settled:?}");
    let statements = operator.get(&format!("/api/v1/agreements/{agreement_id}/statements")).await.unwrap();
    assert!(statements.ok(), "{statements:?}");

    let image = crash_image(&opts.data_dir, &opts.data_dir.join("crash-image"));
    let key = wugan::system::partner_key(&opts.data_dir, wugan::system::BANK_KEY_FILE).expect("the bank's key");
    let bank = wugan_bank::Bank::new(wugan_bank::BankConfig::default()).with_journal(&image, key).await.expect("the copy opens");
    let lines = bank.query(|book| Ok(book.agreements(None, None, 10))).await.expect("lines").agreements;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let account = bank.query(|book| book.credit_account(&lines[0].agreement_id)).await.expect("the line's account");
    assert_eq!(account.debt_fen.0, statements.body["debt_fen"].as_i64().expect("debt"), "{}", statements.body);
    assert!(account.debt_fen.0 > 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&opts.data_dir.join("bank.db")), 0o600);
        assert_eq!(mode(&opts.data_dir), 0o700);
    }
    let _keep: Arc<_> = sys.app.clone();
    drop(dir);
}
