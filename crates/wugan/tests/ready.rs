//! `/ready`, beside `/health`: the hub can do its work (database and partners answer), for a load
//! balancer's or an orchestrator's readiness probe.

use serde_json::json;
use wugan::system::{self, SystemOptions};

mod common;

#[tokio::test]
async fn ready_when_the_database_and_every_partner_answer_and_says_which_does_not() {
    let (opts, dir) = common::fresh_options("ready").await;
    let sys = system::start(&opts).await.expect("system starts");
    let ready = reqwest::get(format!("{}/ready", sys.hub_url)).await.expect("answer");
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.expect("JSON");
    assert_eq!(body, json!({"status": "ready", "database": "ok", "insurance": "ok", "banks": {"BANK01": "ok"}}));

    // A bank nobody answers at: not ready, and which part is named (no address).
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let silent = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let mut without_bank = SystemOptions::local(opts.data_dir.join("no-bank"));
    (without_bank.insurance_url, without_bank.bank_url) = (Some(sys.insurance_url.clone()), Some(silent));
    let lonely = system::start(&without_bank).await.expect("starts without its bank");
    let not_ready = reqwest::get(format!("{}/ready", lonely.hub_url)).await.expect("answer");
    assert_eq!(not_ready.status(), 503);
    let body: serde_json::Value = not_ready.json().await.expect("JSON");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["banks"]["BANK01"], "unreachable");
    assert_eq!(body["database"], "ok");
    drop(dir);
}
