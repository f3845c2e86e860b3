//! Partners that time out, refuse or repeat themselves, at every step of the doctor's click:
//! whatever happens on the wire, a retry of the same request finishes the settlement, nobody is
//! charged twice, nothing is lost, and the hub's books match the partners' own.

use serde_json::{json, Value};
use std::sync::Arc;
use wugan::faults::{Fault, FaultPlan, Rule};
use wugan::his::{fee_line, HisClient, Reply};
use wugan::system;

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";
const EMPLOYEE_PSN_NO: &str = "44030000000000000001";

/// The steps of a visit on the wire, in the order the hub takes them.
const STEPS: &[&str] = &["2201", "2204", "2206", "2207", "POST charges"];
const FAULTS: &[Fault] = &[Fault::Refuse, Fault::LoseReply, Fault::Duplicate, Fault::DuplicateLate];

/// Sends a request until it is answered with something other than a partner outage (503/502),
/// with the same Idempotency-Key every time: what a HIS does after a timeout.
async fn until_answered(his: &HisClient, path: &str, key: &str, body: &Value) -> Reply {
    for _ in 0..5 {
        let r = his.post_with_key(path, key, body).await.expect("hub answers");
        if r.status != 503 && r.status != 502 {
            return r;
        }
    }
    panic!("{path} never completed");
}

/// A fresh system whose wire to the partner that handles `step` injects `fault` on its first request.
async fn system_with_fault(step: &str, fault: Fault) -> (system::System, HisClient, HisClient, Arc<FaultPlan>, common::TempDir) {
    let (mut opts, dir) = common::fresh_options("fault").await;
    let plan = Arc::new(FaultPlan::scripted(vec![Rule { step: step.to_string(), nth: 1, fault }]));
    if step.starts_with(|c: char| c.is_ascii_digit()) {
        opts.insurance_faults = Some(plan.clone());
    } else {
        opts.bank_faults = Some(plan.clone());
    }
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    (sys, operator, his, plan, dir)
}

async fn run_case(step: &str, fault: Fault) {
    let (sys, operator, his, plan, _dir) = system_with_fault(step, fault).await;
    let case = format!("{fault:?} at {step}");

    let balc_before = sandbox_person(&sys).await["balc"].clone();
    let agreement = operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(agreement.ok(), "{case}: {agreement:?}");
    let visit = until_answered(
        &his,
        "/api/v1/visits",
        "reg",
        &json!({"ipt_otp_no": "MZ1", "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN}),
    )
    .await;
    assert!(visit.ok(), "{case}: {visit:?}");
    let visit_id = visit.body["id"].as_str().unwrap().to_string();
    // 25 + 1,200 yuan: more than the 800-yuan personal account, so the bank pays too.
    let lines = json!({"lines": [fee_line("1", "001102000010000", "25.00", "1", "25.00"), fee_line("2", "013100000010000", "150.00", "8", "1200.00")]});
    let up = until_answered(&his, &format!("/api/v1/visits/{visit_id}/fees"), "fees", &lines).await;
    assert!(up.ok(), "{case}: {up:?}");
    let s = until_answered(&his, &format!("/api/v1/visits/{visit_id}/settlement"), "click", &json!({})).await;
    assert!(s.ok(), "{case}: {s:?}");
    let b = &s.body;
    assert_eq!(b["state"], "settled", "{case}: {b}");
    let (fund, acct, bank) =
        (b["fund_fen"].as_i64().unwrap(), b["personal_account_fen"].as_i64().unwrap(), b["bank_fen"].as_i64().unwrap());
    assert_eq!(fund + acct + bank, 122_500, "{case}: the whole total is paid");
    assert!(bank > 0, "{case}: the bank paid part");

    // The partners' own records: one settlement at the insurance center, one charge at the bank.
    let settlements = common::insurance_sandbox(&sys, "/sandbox/settlements").await;
    let list = settlements.as_array().or_else(|| settlements["settlements"].as_array()).cloned().unwrap_or_default();
    let live: Vec<&Value> = list.iter().filter(|x| x["cancelled"] != json!(true)).collect();
    assert_eq!(live.len(), 1, "{case}: exactly one insurance settlement: {settlements}");
    let line =
        operator.get(&format!("/api/v1/agreements/{}", agreement.body["id"].as_str().unwrap())).await.unwrap().body["payment"].clone();
    assert_eq!((line["used_fen"].as_i64(), line["held_fen"].as_i64()), (Some(bank), Some(0)), "{case}: charged once, no hold left");
    let balc_after = sandbox_person(&sys).await["balc"].clone();
    assert_ne!(balc_before, balc_after, "{case}");
    let ledger = operator.get("/api/v1/ledger").await.unwrap().body;
    assert_eq!(ledger["balanced"], json!(true), "{case}");
    assert_eq!(ledger["hospitals_received_fen"], json!(122_500), "{case}: the hospital is paid once");
    let (_, injected) = plan.counts();
    assert_eq!(injected, 1, "{case}: the fault was injected");
}

async fn sandbox_person(sys: &system::System) -> Value {
    common::insurance_sandbox(sys, &format!("/sandbox/persons/{EMPLOYEE_PSN_NO}")).await
}

#[tokio::test]
async fn every_fault_at_every_step_ends_settled_once() {
    for step in STEPS {
        for fault in FAULTS {
            run_case(step, *fault).await;
        }
    }
}

fn fen(v: &Value) -> i64 {
    wugan_domain::Fen::from_json_yuan(v).unwrap().unwrap().0
}

/// A patient who kept their personal account for repayments, with a visit on the credit line.
async fn repayment_world(step: &str, fault: Fault) -> (system::System, HisClient, String, Arc<FaultPlan>, common::TempDir) {
    let (sys, operator, his, plan, dir) = system_with_fault(step, fault).await;
    let agreement = operator.sign_up("01", EMPLOYEE_TOKEN, false, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    let id = agreement.body["id"].as_str().unwrap().to_string();
    let visit = his.register("MZ1", "01", EMPLOYEE_TOKEN).await.unwrap();
    let visit_id = visit.body["id"].as_str().unwrap().to_string();
    assert!(his.upload_fees(&visit_id, &[fee_line("1", "013100000010000", "150.00", "8", "1200.00")]).await.unwrap().ok());
    let s = his.settle(&visit_id).await.unwrap();
    assert_eq!(s.body["state"], "settled", "{s:?}");
    (sys, operator, id, plan, dir)
}

async fn debt(operator: &HisClient, id: &str) -> i64 {
    operator.get(&format!("/api/v1/agreements/{id}/statements")).await.unwrap().body["debt_fen"].as_i64().unwrap()
}

#[tokio::test]
async fn a_personal_account_repayment_survives_every_fault_and_moves_the_money_once() {
    for step in ["9901", "POST repayments"] {
        for fault in FAULTS {
            let case = format!("{fault:?} at {step}");
            let (sys, operator, id, plan, _dir) = repayment_world(step, *fault).await;
            let balc_before = fen(&sandbox_person(&sys).await["balc"]);
            let debt_before = debt(&operator, &id).await;
            let path = format!("/api/v1/agreements/{id}/repayments");
            let paid = until_answered(&operator, &path, "repay", &json!({"amount_fen": 50_000, "source": "personal_account"})).await;
            assert!(paid.ok(), "{case}: {paid:?}");
            assert_eq!(plan.counts().1, 1, "{case}: the fault was injected");
            assert_eq!(fen(&sandbox_person(&sys).await["balc"]), balc_before - 50_000, "{case}: debited once");
            assert_eq!(debt(&operator, &id).await, debt_before - 50_000, "{case}: repaid once");
            let ledger = operator.get("/api/v1/ledger").await.unwrap().body;
            assert_eq!(ledger["balanced"], json!(true), "{case}");
            assert_eq!(ledger["accounts"][format!("personal_account:{EMPLOYEE_PSN_NO}")]["debits_posted"], json!(50_000), "{case}");
        }
    }
}

#[tokio::test]
async fn a_repayment_the_bank_refuses_after_the_debit_is_returned_to_the_personal_account() {
    // The bank is down when the hub brings it the personal account's money, or the insurance
    // center's answer to the debit is lost…
    for (step, fault) in [("POST repayments", Fault::Refuse), ("9901", Fault::LoseReply)] {
        let case = format!("{fault:?} at {step}");
        let (sys, operator, id, _plan, _dir) = repayment_world(step, fault).await;
        let balc_before = fen(&sandbox_person(&sys).await["balc"]);
        let owed = debt(&operator, &id).await;
        let path = format!("/api/v1/agreements/{id}/repayments");
        let body = json!({"amount_fen": 50_000, "source": "personal_account"});
        let first = operator.post_with_key(&path, "repay", &body).await.unwrap();
        assert_eq!(first.status, 503, "{case}: {first:?}");
        assert_eq!(fen(&sandbox_person(&sys).await["balc"]), balc_before - 50_000, "{case}: the account was debited");
        // The operator sees the money between the two partners.
        let queue = operator.get("/api/v1/exceptions").await.unwrap().body;
        assert_eq!(queue["repayments"].as_array().map(Vec::len), Some(1), "{case}: {queue}");
        assert_eq!(queue["repayments"][0]["amount_fen"], json!(50_000), "{case}: {queue}");
        // …meanwhile a relative pays the whole bill by bank transfer…
        let transfer = operator.post(&path, &json!({"amount_fen": owed, "source": "bank_transfer"})).await.unwrap();
        assert!(transfer.ok(), "{case}: {transfer:?}");
        // …so the bank refuses the retried repayment, and the hub gives the patient their money back.
        let retried = operator.post_with_key(&path, "repay", &body).await.unwrap();
        assert_eq!(retried.code(), Some("bank_refused"), "{case}: {retried:?}");
        assert!(retried.message().contains("restored"), "{case}: {}", retried.message());
        assert_eq!(fen(&sandbox_person(&sys).await["balc"]), balc_before, "{case}: the debit was undone");
        assert_eq!(debt(&operator, &id).await, 0, "{case}");
        assert_eq!(operator.get("/api/v1/exceptions").await.unwrap().body["repayments"], json!([]), "{case}");
        let ledger = operator.get("/api/v1/ledger").await.unwrap().body;
        assert_eq!(ledger["balanced"], json!(true), "{case}");
        assert!(
            ledger["accounts"].get(format!("personal_account:{EMPLOYEE_PSN_NO}")).is_none(),
            "{case}: nothing moved in the hub's books: {ledger}"
        );
    }
}

/// A hub on `bank_url` and `insurance_url` (the same partners across restarts) that signs its bank
/// requests with `bank_secret`, on the database in `opts`.
async fn hub_signing_with(opts: &system::SystemOptions, bank_secret: &str) -> (system::System, HisClient, HisClient) {
    let opts = system::SystemOptions { bank_key_id: Some("hub".into()), bank_secret: Some(bank_secret.into()), ..opts.clone() };
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    (sys, operator, his)
}

#[tokio::test]
async fn a_bank_that_rejects_the_hubs_signature_has_not_declined_the_patient() {
    // Issue 9. The bank knows the hub by one secret; the patient signs up and sees a doctor.
    let (mut opts, _dir) = common::fresh_options("stale-key").await;
    let bank = system::spawn_server("127.0.0.1:0", system::builtin_bank("BANK01", "hub", "the-current-secret")).await.unwrap();
    opts.bank_url = Some(format!("http://{bank}"));
    let (sys, operator, his) = hub_signing_with(&opts, "the-current-secret").await;
    opts.insurance_url = Some(sys.insurance_url.clone());
    let agreement = operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(agreement.ok(), "{agreement:?}");
    let visit_id = his.register("MZ1", "01", EMPLOYEE_TOKEN).await.unwrap().body["id"].as_str().unwrap().to_string();
    assert!(his.upload_fees(&visit_id, &[fee_line("1", "013100000010000", "150.00", "8", "1200.00")]).await.unwrap().ok());
    sys.stop();
    drop(sys);

    // The hub restarts with a stale secret: the bank rejects every signature (401 bad_signature).
    // That is no decision about the patient's money, so the click waits instead of declining.
    let (sys, _, his) = hub_signing_with(&opts, "a-stale-secret").await;
    // (A restarted HIS client counts its Idempotency-Keys from 1 again: give the click its own.)
    let click = his.post_with_key(&format!("/api/v1/visits/{visit_id}/settlement"), "the-click", &json!({})).await.unwrap();
    assert_eq!((click.status, click.code()), (503, Some("bank_unavailable")), "{click:?}");
    assert!(click.message().contains("bad_signature"), "{}", click.message());
    let settlement = his.get(&format!("/api/v1/visits/{visit_id}")).await.unwrap().body["settlement"].clone();
    assert_eq!(settlement["state"], "insurance_settled", "{settlement}");
    assert_eq!(settlement["bank"]["decline_code"], json!(null), "{settlement}");
    sys.stop();
    drop(sys);

    // With the right secret again, the recovery pass asks the bank (nothing there), sends the
    // charge and finishes the settlement: the bank pays, once.
    // Recovery runs beside the server, which answers at once: wait for it (bounded).
    let (_sys, operator, his) = hub_signing_with(&opts, "the-current-secret").await;
    let mut settlement = Value::Null;
    for _ in 0..100 {
        settlement = his.get(&format!("/api/v1/visits/{visit_id}")).await.unwrap().body["settlement"].clone();
        if settlement["state"] == "settled" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(settlement["state"], "settled", "{settlement}");
    let bank_fen = settlement["bank_fen"].as_i64().unwrap();
    assert!(bank_fen > 0, "{settlement}");
    let line = operator.get(&format!("/api/v1/agreements/{}", agreement.body["id"].as_str().unwrap())).await.unwrap().body;
    assert_eq!((line["payment"]["used_fen"].as_i64(), line["payment"]["held_fen"].as_i64()), (Some(bank_fen), Some(0)), "{line}");
}

#[tokio::test]
async fn a_charge_whose_answer_was_lost_days_ago_is_found_at_the_bank_and_not_taken_again() {
    // The bank takes the cash share and its answer is lost. A hold would have lapsed in the eight
    // days before the click is retried; a charge is money taken: the bank's record of it, asked
    // for by its request id, finishes the settlement, and nothing is sent to the bank again.
    let (mut opts, _dir) = common::fresh_options("charge-lost").await;
    let clock = Arc::new(wugan_bank::ManualClock::new(time::OffsetDateTime::now_utc().unix_timestamp()));
    opts.bank_clock = Some(clock.clone());
    let plan = Arc::new(FaultPlan::scripted(vec![Rule { step: "POST charges".into(), nth: 1, fault: Fault::LoseReply }]));
    opts.bank_faults = Some(plan.clone());
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let agreement = operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(agreement.ok(), "{agreement:?}");
    let agreement_id = agreement.body["id"].as_str().unwrap().to_string();
    let visit_id = his.register("MZ1", "01", EMPLOYEE_TOKEN).await.unwrap().body["id"].as_str().unwrap().to_string();
    assert!(his.upload_fees(&visit_id, &[fee_line("1", "013100000010000", "150.00", "8", "1200.00")]).await.unwrap().ok());

    // Insured, charged, and the bank's answer lost: the click waits, nothing held.
    let path = format!("/api/v1/visits/{visit_id}/settlement");
    let click = his.post_with_key(&path, "the-click", &json!({})).await.unwrap();
    assert_eq!(click.status, 503, "{click:?}");
    let line = operator.get(&format!("/api/v1/agreements/{agreement_id}")).await.unwrap().body["payment"].clone();
    let taken = line["used_fen"].as_i64().unwrap_or_default();
    assert!(taken > 0 && line["held_fen"].as_i64() == Some(0), "taken at once, nothing held: {line}");

    clock.advance(8 * 86_400);
    let click = until_answered(&his, &path, "the-click", &json!({})).await;
    assert!(click.ok(), "{click:?}");
    let b = &click.body;
    assert_eq!((b["state"].as_str(), b["bank_fen"].as_i64(), b["unpaid_fen"].as_i64()), (Some("settled"), Some(taken), Some(0)), "{b}");
    assert_eq!(b["bank"]["authorization"], json!(null), "no hold was asked: {b}");
    let line = operator.get(&format!("/api/v1/agreements/{agreement_id}")).await.unwrap().body["payment"].clone();
    assert_eq!((line["used_fen"].as_i64(), line["held_fen"].as_i64()), (Some(taken), Some(0)), "taken once: {line}");
    let ledger = operator.get("/api/v1/ledger").await.unwrap().body;
    assert_eq!((ledger["balanced"].as_bool(), ledger["hospitals_received_fen"].as_i64()), (Some(true), Some(120_000)), "{ledger}");
    assert_eq!(plan.counts().1, 1, "the fault was injected");
}

#[tokio::test]
async fn an_insurance_gateway_that_rejects_the_hubs_signature_has_not_refused_the_patient() {
    // Issue 12. The insurance center's gateway knows each hospital by its app id and secret.
    let (mut opts, _dir) = common::fresh_options("stale-gateway").await;
    let bank = system::spawn_server("127.0.0.1:0", system::builtin_bank("BANK01", "hub", "bank-secret")).await.unwrap();
    opts.bank_url = Some(format!("http://{bank}"));
    let (sys, operator, his) = hub_signing_with(&opts, "bank-secret").await;
    opts.insurance_url = Some(sys.insurance_url.clone());
    let gateway = sys.credentials.insurance_gateway.clone();
    let agreement = operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(agreement.ok(), "{agreement:?}");
    let visit_id = his.register("MZ1", "01", EMPLOYEE_TOKEN).await.unwrap().body["id"].as_str().unwrap().to_string();
    assert!(his.upload_fees(&visit_id, &[fee_line("1", "013100000010000", "150.00", "8", "1200.00")]).await.unwrap().ok());
    sys.stop();
    drop(sys);

    // The hub restarts with stale gateway secrets: the gateway refuses every call (401, the
    // platform's infcode -1 shape). That is no decision about the patient: the click waits.
    let mut stale = gateway.clone();
    stale.callers.iter_mut().for_each(|c| c.secret = format!("stale-{}", c.secret));
    opts.insurance_gateway = Some(stale);
    let (sys, _, his) = hub_signing_with(&opts, "bank-secret").await;
    let click = his.post_with_key(&format!("/api/v1/visits/{visit_id}/settlement"), "the-click", &json!({})).await.unwrap();
    assert_eq!(click.status, 503, "{click:?}");
    assert!(click.message().contains("gateway"), "{}", click.message());
    let settlement = his.get(&format!("/api/v1/visits/{visit_id}")).await.unwrap().body["settlement"].clone();
    assert_ne!(settlement["state"], "failed", "{settlement}");
    sys.stop();
    drop(sys);

    // With the right secrets again, the same click settles, once.
    opts.insurance_gateway = Some(gateway);
    let (sys, _, his) = hub_signing_with(&opts, "bank-secret").await;
    let click = his.post_with_key(&format!("/api/v1/visits/{visit_id}/settlement"), "the-click", &json!({})).await.unwrap();
    assert!(click.ok(), "{click:?}");
    assert_eq!(click.body["state"], "settled", "{}", click.body);
    let settlements = common::insurance_sandbox(&sys, "/sandbox/settlements").await;
    assert_eq!(settlements.as_array().map(Vec::len), Some(1), "{settlements}");
}

#[tokio::test]
async fn a_settlement_the_recovery_worker_keeps_retrying_stays_in_the_exceptions_queue() {
    // Review r26 pages #5: each retry refreshed the settlement's time, so it left the queue for
    // 30 s of every minute, and the operator's retry button with it.
    let (sys, operator, his, _plan, _dir) = system_with_fault("POST charges", Fault::Refuse).await;
    let agreement = operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(agreement.ok(), "{agreement:?}");
    let visit = his.register("MZ-STUCK", "01", EMPLOYEE_TOKEN).await.unwrap().body["id"].as_str().unwrap().to_string();
    let lines = [fee_line("1", "001102000010000", "25.00", "1", "25.00"), fee_line("2", "013100000010000", "150.00", "8", "1200.00")];
    assert!(his.upload_fees(&visit, &lines).await.unwrap().ok());
    let click = his.settle(&visit).await.unwrap();
    assert_eq!(click.status, 503, "the bank did not answer: {click:?}");
    let settlement = sys.app.store.settlement_of_visit(&visit).await.unwrap().expect("the click's settlement");
    // The recovery worker tried once more, just now, and failed.
    sys.app.store.note_failed_attempt(&settlement.id, "the bank did not answer", 5).await.unwrap();
    let queue = operator.get("/api/v1/exceptions").await.unwrap().body;
    let listed = queue["exceptions"].as_array().into_iter().flatten().any(|e| e["id"] == json!(settlement.id));
    assert!(listed, "a settlement being retried is listed, whenever its last try was: {queue}");
}
