//! 退费 through the hub, end to end over HTTP (issue 13 scope 5, issue 16 scope 3, issue 18): after
//! the doctor's click some lines come back; insurance reverses (2208), the lines kept are settled
//! again (2204, 2207, a new setl_id) and the bank refunds exactly the difference to the source that
//! paid. A full refund, a lost bank reply, a crash between 2208 and the re-settlement, the refusals,
//! and 退号 (2202). On SQLite by default; with WUGAN_TEST_DATABASE_URL=postgres://… (an admin
//! URL), on a fresh PostgreSQL database.

use serde_json::{json, Value};
use std::sync::Arc;
use wugan::faults::{Exchange, Fault, FaultPlan, Rule};
use wugan::his::{fee_line, HisClient, Reply};
use wugan::system::{self, System};

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";
const EMPLOYEE_PSN_NO: &str = "44030000000000000001";
/// A person with no insurance: the line pays the whole bill, insurance never hears of it.
const UNINSURED_CERTNO: &str = "440307199503031114";
const UNINSURED_PSN_NO: &str = "44030000000000000007";

struct World {
    sys: System,
    operator: HisClient,
    his: HisClient,
    _dir: common::TempDir,
}

async fn world() -> World {
    world_with(|_| {}).await
}

/// A fresh system whose insurance center also knows a person with no insurance.
async fn world_with(adjust: impl FnOnce(&mut system::SystemOptions)) -> World {
    let (mut opts, dir) = common::fresh_options("refunds").await;
    adjust(&mut opts);
    std::fs::create_dir_all(&dir.0).expect("a data folder");
    let persons_file = dir.0.join("persons.jsonl");
    let mut lines: Vec<String> = wugan_insurance::sample_persons().iter().map(|p| serde_json::to_string(p).expect("JSON")).collect();
    lines.push(
        json!({"psn_no": UNINSURED_PSN_NO, "certno": UNINSURED_CERTNO, "psn_name": "孙七", "gend": "1",
               "brdy": "1995-03-03", "insutype": "", "psn_type": "", "insuplc_admdvs": "440300", "balc": 0})
        .to_string(),
    );
    std::fs::write(&persons_file, lines.join("\n")).expect("the persons file");
    opts.persons_file = Some(persons_file);
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    World { sys, operator, his, _dir: dir }
}

fn credit_line() -> Value {
    json!({"method": "credit_line", "bank_code": "BANK01"})
}

fn debit_card() -> Value {
    json!({"method": "debit_card", "bank_code": "BANK01", "card_no": "6222020200112233445"})
}

/// Consultation 25.00, an examination 1,200.00 (more than the personal account holds, so the bank
/// pays too), blood count 20.00.
fn big_fees(visit_no: &str) -> Vec<Value> {
    vec![
        fee_line(&format!("{visit_no}-1"), "001102000010000", "25.00", "1", "25.00"),
        fee_line(&format!("{visit_no}-2"), "013100000010000", "150.00", "8", "1200.00"),
        fee_line(&format!("{visit_no}-3"), "250101001000000", "20.00", "1", "20.00"),
    ]
}

fn fen(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} missing in {v}"))
}

impl World {
    /// Signs the person up, registers, uploads, clicks: (visit id, agreement id, the settlement).
    async fn settled(&self, visit_no: &str, cert_type: &str, cert_no: &str, payment: Value, fees: &[Value]) -> (String, String, Value) {
        let agreement = self.operator.sign_up(cert_type, cert_no, true, payment).await.unwrap();
        assert!(agreement.ok(), "sign-up: {agreement:?}");
        let visit = self.his.register(visit_no, cert_type, cert_no).await.unwrap();
        assert!(visit.ok(), "registration: {visit:?}");
        let id = visit.body["id"].as_str().unwrap().to_string();
        assert!(self.his.upload_fees(&id, fees).await.unwrap().ok());
        let s = self.his.settle(&id).await.unwrap();
        assert!(s.ok(), "{s:?}");
        assert_eq!(s.body["state"], "settled", "{s:?}");
        (id, agreement.body["id"].as_str().unwrap().to_string(), s.body)
    }

    async fn refund(&self, visit: &str, key: &str, lines: &[&str]) -> Reply {
        self.his.post_with_key(&format!("/api/v1/visits/{visit}/refunds"), key, &json!({"lines": lines})).await.unwrap()
    }

    async fn ledger(&self) -> Value {
        let r = self.operator.get("/api/v1/ledger").await.unwrap();
        assert_eq!(r.body["balanced"], json!(true), "the ledger balances: {}", r.body);
        r.body
    }

    /// The bank's own record of the line: (used, held).
    async fn bank_line(&self, agreement_id: &str) -> (i64, i64) {
        let payment = self.operator.get(&format!("/api/v1/agreements/{agreement_id}")).await.unwrap().body["payment"].clone();
        (fen(&payment, "used_fen"), fen(&payment, "held_fen"))
    }

    /// The hospital's invoices, oldest first, each verified offline with the root public key.
    async fn invoices_verified(&self) -> Vec<Value> {
        let list = self.his.get("/api/v1/invoices").await.unwrap();
        let mut invoices = list.body["invoices"].as_array().cloned().unwrap_or_default();
        invoices.sort_by(|a, b| a["number"].as_str().cmp(&b["number"].as_str()));
        let root = wugan::invoice::read_root(&wugan::invoice::default_trust(&self._dir.0)).expect("root.pub");
        for invoice in &invoices {
            let doc = self.his.get(&format!("/api/v1/invoices/{}", invoice["id"].as_str().unwrap())).await.unwrap();
            let path = self._dir.0.join(format!("{}.json", invoice["number"].as_str().unwrap()));
            std::fs::write(&path, doc.body.to_string()).expect("written");
            let verified = wugan::invoice::verify(&wugan::invoice::Input::File(path), &root);
            assert!(verified.is_ok(), "invoice {}: {verified:?}", invoice["number"]);
        }
        invoices
    }

    async fn balc(&self, psn_no: &str) -> Value {
        common::insurance_sandbox(&self.sys, &format!("/sandbox/persons/{psn_no}")).await["balc"].clone()
    }

    /// The insurance center's settlements of this person still in force.
    async fn live_settlements(&self, psn_no: &str) -> Vec<Value> {
        common::center_settlements_of(&self.sys, psn_no).await.into_iter().filter(|s| s["cancelled"] != json!(true)).collect()
    }
}

fn yuan(v: &Value) -> i64 {
    wugan_domain::Fen::from_json_yuan(v).unwrap().unwrap().0
}

/// A ledger account's posted balance (credits − debits).
fn posted(ledger: &Value, account: &str) -> i64 {
    let a = &ledger["accounts"][account];
    a["credits_posted"].as_i64().unwrap_or(0) - a["debits_posted"].as_i64().unwrap_or(0)
}

#[tokio::test]
async fn two_lines_come_back_and_every_party_is_settled_again_to_the_fen() {
    let w = world().await;
    let balc_before = w.balc(EMPLOYEE_PSN_NO).await;
    let (visit, agreement, click) = w.settled("TF0001", "01", EMPLOYEE_TOKEN, credit_line(), &big_fees("TF0001")).await;
    assert_eq!(fen(&click, "medfee_fen"), 124_500);
    let paid_by_bank = fen(&click, "bank_fen");
    assert!(paid_by_bank > 0, "the bank paid part: {click}");

    // The examination and the blood count come back; the consultation (25.00) stays.
    let r = w.refund(&visit, "rf-1", &["TF0001-2", "TF0001-3"]).await;
    assert!(r.ok(), "{r:?}");
    let b = &r.body;
    assert_eq!((b["state"].as_str(), b["full"].as_bool()), (Some("refunded"), Some(false)), "{b}");
    assert_eq!(b["remaining_lines"], json!(["TF0001-1"]));
    assert_eq!(b["original_setl_id"], click["setl_id"]);
    let again = &b["resettled"];
    assert_eq!(fen(again, "medfee_fen"), 2_500, "the lines kept, settled again: {b}");
    assert_ne!(b["resettled_setl_id"], click["setl_id"], "a new settlement id");
    let kept_cash = fen(again, "cash_fen").min(paid_by_bank);
    assert_eq!(fen(b, "bank_refund_fen"), paid_by_bank - kept_cash, "the bank refunds exactly the difference");

    // The bank: the line carries only what the lines kept still cost in cash.
    assert_eq!(w.bank_line(&agreement).await, (kept_cash, 0));
    // Insurance: one settlement in force, of the 25.00 kept; the account debited for it only.
    let live = w.live_settlements(EMPLOYEE_PSN_NO).await;
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(Some(live[0]["setl_id"].clone()), Some(b["resettled_setl_id"].clone()));
    let (balc_before, balc_after) = (yuan(&balc_before), yuan(&w.balc(EMPLOYEE_PSN_NO).await));
    assert_eq!(balc_before - balc_after, fen(again, "personal_account_fen"), "the account restored, then debited for the kept line");
    // The ledger: the hospital keeps exactly the kept line, every fen balanced.
    let ledger = w.ledger().await;
    assert_eq!(fen(&ledger, "hospitals_received_fen"), 2_500);
    assert_eq!(posted(&ledger, "hospital:H44030600001") + posted(&ledger, "hospital_unpaid:H44030600001"), 2_500);

    // Invoices: the click's is red-flushed, the line kept invoiced again, each with its own number,
    // every one verified offline as `wugan invoice verify` does.
    let invoices = w.invoices_verified().await;
    let numbered: Vec<(&str, i64, &str)> =
        invoices.iter().map(|i| (i["kind"].as_str().unwrap(), i["total_fen"].as_i64().unwrap(), i["number"].as_str().unwrap())).collect();
    assert_eq!(numbered, [("blue", 124_500, "0000000001"), ("red", -124_500, "0000000002"), ("blue", 2_500, "0000000003")]);
    assert_eq!(invoices[1]["offsets_id"], invoices[0]["id"]);

    // The visit still stands settled, with what came back.
    let read = w.his.get(&format!("/api/v1/visits/{visit}")).await.unwrap();
    assert_eq!((read.body["status"].as_str(), fen(&read.body, "refunded_fen")), (Some("settled"), 122_000), "{}", read.body);

    // The same request again is the same refund; the visit lists it; the lines cannot come back twice.
    let replay = w.refund(&visit, "rf-1", &["TF0001-2", "TF0001-3"]).await;
    assert_eq!(replay.body["id"], b["id"], "{replay:?}");
    let listed = w.his.get(&format!("/api/v1/visits/{visit}/refunds")).await.unwrap();
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1), "{listed:?}");
    let one = w.his.get(&format!("/api/v1/visits/{visit}/refunds/{}", b["id"].as_str().unwrap())).await.unwrap();
    assert_eq!(one.body["state"], "refunded", "{one:?}");
    assert_eq!(w.refund(&visit, "rf-2", &["TF0001-2"]).await.code(), Some("already_refunded"));

    // The last line comes back too: a second refund against the re-settlement, the rest of the capture.
    let last = w.refund(&visit, "rf-3", &["TF0001-1"]).await;
    assert!(last.ok(), "{last:?}");
    assert_eq!((last.body["full"].as_bool(), last.body["original_setl_id"].clone()), (Some(true), b["resettled_setl_id"].clone()));
    assert_eq!(fen(&last.body, "bank_refund_fen"), kept_cash);
    assert_eq!(w.bank_line(&agreement).await, (0, 0));
    assert!(w.live_settlements(EMPLOYEE_PSN_NO).await.is_empty());
    assert_eq!(yuan(&w.balc(EMPLOYEE_PSN_NO).await), balc_before, "the personal account whole again");
    assert_eq!(fen(&w.ledger().await, "hospitals_received_fen"), 0);
    assert_eq!(w.refund(&visit, "rf-4", &["TF0001-1"]).await.code(), Some("nothing_to_refund"));
    let read = w.his.get(&format!("/api/v1/visits/{visit}")).await.unwrap();
    assert_eq!((read.body["status"].as_str(), fen(&read.body, "refunded_fen")), (Some("refunded"), 124_500), "{}", read.body);
    // The reissue is red-flushed in turn; a full refund reissues nothing.
    let invoices = w.invoices_verified().await;
    assert_eq!(invoices.iter().map(|i| i["total_fen"].as_i64().unwrap()).collect::<Vec<_>>(), [124_500, -124_500, 2_500, -2_500]);
    assert_eq!(invoices[3]["offsets_id"], invoices[2]["id"]);
}

#[tokio::test]
async fn a_full_refund_of_a_debit_card_visit_gives_the_whole_capture_back_and_then_the_registration_may_go() {
    let w = world().await;
    let balc_before = yuan(&w.balc(EMPLOYEE_PSN_NO).await);
    let (visit, agreement, click) = w.settled("TF0002", "01", EMPLOYEE_TOKEN, debit_card(), &big_fees("TF0002")).await;
    // A settled visit's registration is not cancelled while its money stands.
    let early = w.his.post(&format!("/api/v1/visits/{visit}/registration/cancel"), &json!({})).await.unwrap();
    assert_eq!(early.code(), Some("settled_refund_first"), "{early:?}");

    let r = w.refund(&visit, "full-1", &["TF0002-1", "TF0002-2", "TF0002-3"]).await;
    assert!(r.ok(), "{r:?}");
    assert_eq!((r.body["state"].as_str(), r.body["full"].as_bool()), (Some("refunded"), Some(true)), "{}", r.body);
    assert_eq!(fen(&r.body, "bank_refund_fen"), fen(&click, "bank_fen"), "the whole capture back to the card");
    assert!(r.body["resettled"].is_null());
    assert_eq!(w.bank_line(&agreement).await, (0, 0));
    assert!(w.live_settlements(EMPLOYEE_PSN_NO).await.is_empty());
    assert_eq!(yuan(&w.balc(EMPLOYEE_PSN_NO).await), balc_before);
    let ledger = w.ledger().await;
    assert_eq!(fen(&ledger, "hospitals_received_fen"), 0);
    let read = w.his.get(&format!("/api/v1/visits/{visit}")).await.unwrap();
    assert_eq!(read.body["status"], "refunded", "a visit refunded in full no longer reads settled: {}", read.body);

    // 退号: nothing stands now, so the registration goes (2202), once.
    let cancel = w.his.post(&format!("/api/v1/visits/{visit}/registration/cancel"), &json!({})).await.unwrap();
    assert!(cancel.ok(), "{cancel:?}");
    assert_eq!(cancel.body["status"], "cancelled", "{}", cancel.body);
    let read = w.his.get(&format!("/api/v1/visits/{visit}")).await.unwrap();
    assert_eq!(fen(&read.body, "refunded_fen"), fen(&click, "medfee_fen"), "a cancelled registration keeps its refunds: {}", read.body);
}

#[tokio::test]
async fn a_visit_paid_by_the_personal_account_alone_is_refunded_without_the_bank() {
    let w = world().await;
    let balc_before = yuan(&w.balc(EMPLOYEE_PSN_NO).await);
    let fees =
        [fee_line("TF0003-1", "001102000010000", "25.00", "1", "25.00"), fee_line("TF0003-2", "250101001000000", "20.00", "1", "20.00")];
    let (visit, agreement, click) = w.settled("TF0003", "01", EMPLOYEE_TOKEN, credit_line(), &fees).await;
    assert_eq!(fen(&click, "bank_fen"), 0, "the account paid the cash share: {click}");
    let r = w.refund(&visit, "pa-1", &["TF0003-2"]).await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(fen(&r.body, "bank_refund_fen"), 0);
    let again = &r.body["resettled"];
    assert_eq!(fen(again, "medfee_fen"), 2_500);
    assert_eq!(balc_before - yuan(&w.balc(EMPLOYEE_PSN_NO).await), fen(again, "personal_account_fen"));
    assert_eq!(w.bank_line(&agreement).await, (0, 0), "the bank never heard of it");
    assert_eq!(fen(&w.ledger().await, "hospitals_received_fen"), 2_500);
}

#[tokio::test]
async fn a_self_paid_visit_is_refunded_by_the_bank_alone() {
    let w = world().await;
    let (visit, agreement, click) = w.settled("TF0004", "02", UNINSURED_CERTNO, credit_line(), &big_fees("TF0004")).await;
    assert_eq!(fen(&click, "bank_fen"), 124_500);
    let r = w.refund(&visit, "sp-1", &["TF0004-2"]).await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(fen(&r.body, "bank_refund_fen"), 120_000, "exactly the line returned");
    assert!(r.body["resettled_setl_id"].is_null(), "no insurance settlement: {}", r.body);
    assert_eq!(w.bank_line(&agreement).await, (4_500, 0));
    assert!(w.live_settlements(UNINSURED_PSN_NO).await.is_empty(), "the insurance center saw nothing");
    assert_eq!(fen(&w.ledger().await, "hospitals_received_fen"), 4_500);
}

#[tokio::test]
async fn refunds_that_cannot_be_made_are_refused_with_a_stable_code() {
    let w = world().await;
    let agreement = w.operator.sign_up("01", EMPLOYEE_TOKEN, true, credit_line()).await.unwrap();
    assert!(agreement.ok());
    let open = w.his.register("TF0005", "01", EMPLOYEE_TOKEN).await.unwrap().body["id"].as_str().unwrap().to_string();
    assert!(w.his.upload_fees(&open, &big_fees("TF0005")).await.unwrap().ok());
    let not_settled = w.refund(&open, "x-1", &["TF0005-1"]).await;
    assert_eq!((not_settled.status, not_settled.code()), (409, Some("not_settled")), "{not_settled:?}");
    assert!(w.his.settle(&open).await.unwrap().ok());
    for (lines, code) in
        [(vec!["nope"], "unknown_fee_line"), (vec!["TF0005-1", "TF0005-1"], "duplicate_fee_line"), (vec![], "bad_refund_lines")]
    {
        let r = w.refund(&open, &format!("x-{code}"), &lines).await;
        assert_eq!(r.code(), Some(code), "{lines:?}: {r:?}");
    }
    assert!(w.his.get(&format!("/api/v1/visits/{open}/refunds")).await.unwrap().body.as_array().is_some_and(Vec::is_empty));

    // Once partly refunded, the settlement is not cancelled whole: the rest is refunded instead.
    assert!(w.refund(&open, "x-part", &["TF0005-1"]).await.ok());
    let cancel = w.his.post(&format!("/api/v1/visits/{open}/settlement/cancel"), &json!({})).await.unwrap();
    assert_eq!((cancel.status, cancel.code()), (409, Some("settlement_refunded")), "{cancel:?}");

    // 退号 of a visit never settled: 2202, the visit closed.
    let other = w.his.register("TF0006", "01", EMPLOYEE_TOKEN).await.unwrap().body["id"].as_str().unwrap().to_string();
    let cancel = w.his.post(&format!("/api/v1/visits/{other}/registration/cancel"), &json!({})).await.unwrap();
    assert_eq!(cancel.body["status"], "cancelled", "{cancel:?}");
    assert_eq!(w.refund(&other, "x-2", &["a"]).await.code(), Some("not_settled"));
    // A click that comes after 退号 is refused before anything is sent, and the visit stays cancelled.
    let late = w.his.post(&format!("/api/v1/visits/{other}/settlement"), &json!({})).await.unwrap();
    assert_eq!((late.status, late.code()), (409, Some("visit_not_open")), "{late:?}");
    let visit = w.his.get(&format!("/api/v1/visits/{other}")).await.unwrap();
    assert_eq!(visit.body["status"], "cancelled", "{visit:?}");
}

#[tokio::test]
async fn a_lost_bank_reply_is_resolved_by_asking_and_the_patient_is_refunded_once() {
    let plan = Arc::new(FaultPlan::scripted(vec![Rule { step: "POST refunds".into(), nth: 1, fault: Fault::LoseReply }]));
    let bank_plan = plan.clone();
    let w = world_with(move |opts| {
        opts.bank_faults = Some(bank_plan);
        opts.manual_recovery = true;
    })
    .await;
    let (visit, agreement, click) = w.settled("TF0007", "01", EMPLOYEE_TOKEN, credit_line(), &big_fees("TF0007")).await;
    let first = w.refund(&visit, "lost-1", &["TF0007-2"]).await;
    assert_eq!(first.status, 503, "the bank's answer never came: {first:?}");
    assert_eq!(plan.counts().1, 1, "the fault was injected");
    // Meanwhile no other refund of the visit starts.
    assert_eq!(w.refund(&visit, "lost-other", &["TF0007-3"]).await.code(), Some("refund_in_progress"));

    let retry = w.refund(&visit, "lost-1", &["TF0007-2"]).await;
    assert!(retry.ok(), "{retry:?}");
    let kept_cash = fen(&retry.body["resettled"], "cash_fen").min(fen(&click, "bank_fen"));
    assert_eq!(fen(&retry.body, "bank_refund_fen"), fen(&click, "bank_fen") - kept_cash);
    assert_eq!(w.bank_line(&agreement).await, (kept_cash, 0), "refunded once, not twice");
    assert_eq!(fen(&w.ledger().await, "hospitals_received_fen"), 4_500);
}

#[tokio::test]
async fn a_crash_between_the_reversal_and_the_resettlement_is_finished_by_a_fresh_hub() {
    // 2204 (the kept lines again) takes effect and its answer is lost: the refund stops reversed.
    let plan = Arc::new(FaultPlan::scripted(vec![Rule { step: "2204".into(), nth: 2, fault: Fault::LoseReply }]));
    let insurance_plan = plan.clone();
    let w = world_with(move |opts| {
        opts.insurance_faults = Some(insurance_plan);
        opts.manual_recovery = true;
    })
    .await;
    let (visit, agreement, click) = w.settled("TF0008", "01", EMPLOYEE_TOKEN, credit_line(), &big_fees("TF0008")).await;
    let cut = w.refund(&visit, "crash-1", &["TF0008-2"]).await;
    assert_eq!(cut.status, 503, "{cut:?}");
    assert_eq!(plan.counts().1, 1, "the fault was injected");
    let listed = w.his.get(&format!("/api/v1/visits/{visit}/refunds")).await.unwrap().body;
    assert_eq!(listed[0]["state"], "reversed", "{listed}");

    // A fresh hub on the same database resends the same 2204 (replayed), settles, refunds.
    let config = &w.sys.app.config;
    let store = wugan_hub::store::Store::connect(&w.sys.database_url).await.expect("the same database");
    let fresh = wugan_hub::app::App::new(
        store,
        wugan_hub::app::HubConfig {
            admdvs: config.admdvs.clone(),
            insurance_url: config.insurance_url.clone(),
            insurance_credentials: config.insurance_credentials.clone(),
            banks: config.banks.clone(),
            default_credit_limit: config.default_credit_limit,
            partner_timeout: config.partner_timeout,
            data_key: config.data_key.clone(),
        },
    );
    fresh.resume_unfinished(std::time::Duration::ZERO).await.expect("a recovery pass");
    let hospital = &w.sys.credentials.hospitals[0].code;
    let done = fresh.refunds_of(hospital, &visit).await.expect("the refunds");
    assert_eq!(done[0].state, "refunded", "{done:?}");
    let kept_cash = done[0].resettled.as_ref().map(|s| s.cash_fen).unwrap().min(fen(&click, "bank_fen"));
    assert_eq!(w.bank_line(&agreement).await, (kept_cash, 0));
    assert_eq!(w.live_settlements(EMPLOYEE_PSN_NO).await.len(), 1);
    assert_eq!(fen(&w.ledger().await, "hospitals_received_fen"), 4_500);
}

/// The four amounts the national interface's 2207 requires of its 2206 reply.
const PRESETTLE_ECHO: [&str; 4] = ["fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt"];

/// A fresh system whose insurance wire records every exchange, with these faults on it.
async fn recorded_world(rules: Vec<Rule>) -> (World, Arc<FaultPlan>) {
    let plan = Arc::new(FaultPlan::scripted(rules).recording());
    let wire = plan.clone();
    let w = world_with(move |opts| {
        opts.insurance_faults = Some(wire);
        opts.manual_recovery = true;
    })
    .await;
    (w, plan)
}

/// An exchange's `input.data`, and its msgid.
fn sent(e: &Exchange) -> (&Value, &str) {
    (&e.request["input"]["data"], e.request["msgid"].as_str().unwrap_or(""))
}

#[tokio::test]
async fn the_resettlement_carries_back_the_four_amounts_of_its_own_pre_settlement() {
    let (w, plan) = recorded_world(Vec::new()).await;
    let (visit, _, _) = w.settled("TF0011", "01", EMPLOYEE_TOKEN, credit_line(), &big_fees("TF0011")).await;
    let r = w.refund(&visit, "echo-1", &["TF0011-2"]).await;
    assert_eq!(r.body["state"], "refunded", "{r:?}");

    // The click's 2206 and 2207, then the refund's: a 2206 of the lines kept right before its 2207.
    let (pre, settle) = (plan.exchanges("2206"), plan.exchanges("2207"));
    assert_eq!((pre.len(), settle.len()), (2, 2), "{pre:?} {settle:?}");
    let (click_estimate, estimate) = (&pre[0].reply["output"]["setlinfo"], &pre[1].reply["output"]["setlinfo"]);
    let ((estimated, pre_msgid), (resettled, msgid)) = (sent(&pre[1]), sent(&settle[1]));
    assert_eq!(estimated["medfee_sumamt"], "45.00", "the lines kept: {estimated}");
    assert_ne!(pre_msgid, msgid, "the 2206 has a msgid of its own");
    for field in PRESETTLE_ECHO {
        assert!(estimate[field].is_string(), "the 2206 reply names {field}: {estimate}");
        assert_eq!(resettled[field], estimate[field], "2207 carries {field} as the platform sent it: {resettled}");
    }
    // The refund's own estimate, not the click's (its examination is gone).
    let four = |info: &Value| PRESETTLE_ECHO.map(|field| info[field].clone());
    assert_ne!(four(estimate), four(click_estimate), "{estimate} {click_estimate}");
    // Otherwise the 2207 input is the 2206's.
    let mut rest = resettled.clone();
    PRESETTLE_ECHO.iter().for_each(|field| _ = rest.as_object_mut().map(|m| m.remove(*field)));
    assert_eq!(&rest, estimated);
    assert_eq!(settle[1].reply["output"]["setlinfo"]["setl_id"], r.body["resettled_setl_id"]);
}

#[tokio::test]
async fn a_resettlement_whose_answer_is_lost_is_sent_again_as_it_was_and_nothing_is_charged_twice() {
    // The click's 2207 is the first; the refund's takes effect and its answer is lost.
    let (w, plan) = recorded_world(vec![Rule { step: "2207".into(), nth: 2, fault: Fault::LoseReply }]).await;
    let (visit, agreement, click) = w.settled("TF0012", "01", EMPLOYEE_TOKEN, credit_line(), &big_fees("TF0012")).await;
    let balc_after_click = yuan(&w.balc(EMPLOYEE_PSN_NO).await);
    let lost = w.refund(&visit, "echo-lost", &["TF0012-2"]).await;
    assert_eq!(lost.status, 503, "the 2207's answer never came: {lost:?}");
    assert_eq!(plan.counts().1, 1, "the fault was injected");
    let listed = w.his.get(&format!("/api/v1/visits/{visit}/refunds")).await.unwrap().body;
    assert_eq!(listed[0]["state"], "reuploaded", "{listed}");

    let retry = w.refund(&visit, "echo-lost", &["TF0012-2"]).await;
    assert_eq!(retry.body["state"], "refunded", "{retry:?}");
    // No second 2206 after a 2207 that took effect: the same 2207 again, msgid and input, replayed.
    let (pre, settle) = (plan.exchanges("2206"), plan.exchanges("2207"));
    assert_eq!((pre.len(), settle.len()), (2, 3), "{pre:?} {settle:?}");
    assert_eq!(settle[2].request["input"], settle[1].request["input"]);
    assert_eq!(settle[2].request["msgid"], settle[1].request["msgid"]);
    for field in PRESETTLE_ECHO {
        assert_eq!(sent(&settle[2]).0[field], pre[1].reply["output"]["setlinfo"][field], "{field}");
    }
    // Settled once at the center, refunded once at the bank, the account debited once.
    let live = w.live_settlements(EMPLOYEE_PSN_NO).await;
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0]["setl_id"], retry.body["resettled_setl_id"]);
    let again = &retry.body["resettled"];
    let kept_cash = fen(again, "cash_fen").min(fen(&click, "bank_fen"));
    assert_eq!(fen(&retry.body, "bank_refund_fen"), fen(&click, "bank_fen") - kept_cash);
    assert_eq!(w.bank_line(&agreement).await, (kept_cash, 0), "refunded once, not twice");
    let balc = yuan(&w.balc(EMPLOYEE_PSN_NO).await);
    assert_eq!(balc_after_click + fen(&click, "personal_account_fen") - balc, fen(again, "personal_account_fen"));
    assert_eq!(fen(&w.ledger().await, "hospitals_received_fen"), 4_500);
}

#[tokio::test]
async fn a_pre_settlement_whose_answer_is_lost_is_made_again_before_the_resettlement() {
    // The click's 2206 is the first; the refund's answer is lost, nothing sent after it.
    let (w, plan) = recorded_world(vec![Rule { step: "2206".into(), nth: 2, fault: Fault::LoseReply }]).await;
    let (visit, agreement, click) = w.settled("TF0013", "01", EMPLOYEE_TOKEN, credit_line(), &big_fees("TF0013")).await;
    let lost = w.refund(&visit, "pre-lost", &["TF0013-2"]).await;
    assert_eq!(lost.status, 503, "{lost:?}");
    assert_eq!(plan.exchanges("2207").len(), 1, "no 2207 without the amounts it carries back");

    let retry = w.refund(&visit, "pre-lost", &["TF0013-2"]).await;
    assert_eq!(retry.body["state"], "refunded", "{retry:?}");
    let (pre, settle) = (plan.exchanges("2206"), plan.exchanges("2207"));
    assert_eq!((pre.len(), settle.len()), (3, 2));
    assert_eq!(sent(&pre[2]), sent(&pre[1]), "the same 2206 again, under its msgid");
    for field in PRESETTLE_ECHO {
        assert_eq!(sent(&settle[1]).0[field], pre[2].reply["output"]["setlinfo"][field], "{field}");
    }
    assert_eq!(w.live_settlements(EMPLOYEE_PSN_NO).await.len(), 1);
    let kept_cash = fen(&retry.body["resettled"], "cash_fen").min(fen(&click, "bank_fen"));
    assert_eq!(w.bank_line(&agreement).await, (kept_cash, 0), "refunded once");
    assert_eq!(fen(&w.ledger().await, "hospitals_received_fen"), 4_500);
}

/// Today in China time, the business day the visits fall on.
fn today() -> String {
    let t = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(8, 0, 0).expect("offset"));
    format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day())
}

#[tokio::test]
async fn a_day_with_a_partial_refund_reconciles_with_both_partners_without_a_mismatch() {
    let w = world().await;
    let (visit, _, _) = w.settled("TF0009", "01", EMPLOYEE_TOKEN, credit_line(), &big_fees("TF0009")).await;
    let r = w.refund(&visit, "day-1", &["TF0009-2", "TF0009-3"]).await;
    assert!(r.ok(), "{r:?}");
    let report = w.operator.post_with_key("/api/v1/reconciliations", "recon-1", &json!({"date": today()})).await.unwrap();
    assert!(report.ok(), "{report:?}");
    let body = &report.body;
    assert_eq!(body["exceptions"], json!([]), "{body}");
    for partner in [&body["insurance"], &body["banks"], &body["hospitals"]] {
        assert_eq!((partner["mismatches"].as_u64(), partner["exceptions"].as_u64()), (Some(0), Some(0)), "{body}");
    }
    // The center's records: the click's settlement (cancelled) and the re-settlement; the bank's:
    // the capture and the refund.
    let seen = |p: &Value| p["records"].as_u64().unwrap_or(0);
    assert!(seen(&body["insurance"]) >= 2 && seen(&body["banks"]) >= 2, "{body}");
}

#[tokio::test]
async fn a_refund_the_bank_declines_waits_for_an_operator_and_is_never_sent_round_by_itself() {
    let w = world_with(|opts| opts.manual_recovery = true).await;
    let (visit, agreement, click) = w.settled("TF0010", "01", EMPLOYEE_TOKEN, debit_card(), &big_fees("TF0010")).await;
    // The patient closes the card (解约) before the examination is refunded: the bank has no account to credit.
    let closed = w.operator.post(&format!("/api/v1/agreements/{agreement}/revoke"), &json!({})).await.unwrap();
    assert!(closed.ok(), "{closed:?}");

    let declined = w.refund(&visit, "closed-1", &["TF0010-2"]).await;
    assert_eq!((declined.status, declined.code()), (502, Some("partner_refused")), "{declined:?}");
    // It waits in the operator's queue with the bank's reason; the HIS's retry does not call again.
    let queue = w.operator.get("/api/v1/exceptions").await.unwrap().body;
    let parked = queue["refunds"].as_array().cloned().unwrap_or_default();
    assert_eq!(parked.len(), 1, "{queue}");
    assert_eq!(parked[0]["visit_id"], visit.as_str());
    assert!(parked[0]["parked_reason"].as_str().is_some_and(|r| r.contains("closed")), "{}", parked[0]);
    let refund_id = parked[0]["id"].as_str().unwrap().to_string();
    assert_eq!(w.refund(&visit, "closed-1", &["TF0010-2"]).await.code(), Some("refund_parked"));
    assert_eq!(w.refund(&visit, "closed-2", &["TF0010-3"]).await.code(), Some("refund_in_progress"), "one refund at a time");

    // Recovery passes leave it alone: the refund stays where the decline stopped it.
    let before = w.his.get(&format!("/api/v1/visits/{visit}/refunds/{refund_id}")).await.unwrap().body;
    w.sys.app.resume_unfinished(std::time::Duration::ZERO).await.expect("a recovery pass");
    let after = w.his.get(&format!("/api/v1/visits/{visit}/refunds/{refund_id}")).await.unwrap().body;
    assert_eq!((after["state"].clone(), after["updated_at"].clone()), (before["state"].clone(), before["updated_at"].clone()));
    assert_ne!(after["state"], "refunded");

    // The operator sends it round: the same bank refund id, declined again, parked again; never paid twice.
    let retry = w.operator.post(&format!("/api/v1/exceptions/refunds/{refund_id}/retry"), &json!({})).await.unwrap();
    assert_eq!(retry.code(), Some("partner_refused"), "{retry:?}");
    let queue = w.operator.get("/api/v1/exceptions").await.unwrap().body;
    assert_eq!(queue["refunds"].as_array().map(Vec::len), Some(1), "parked again: {queue}");
    let not_parked = w.operator.post("/api/v1/exceptions/refunds/rfd_none/retry", &json!({})).await.unwrap();
    assert_eq!(not_parked.code(), Some("refund_not_found"));
    // Insurance reversed and re-settled the lines kept; nothing came back from the bank, so the
    // hospital still holds the whole capture in the ledger until a person acts.
    assert_eq!(w.live_settlements(EMPLOYEE_PSN_NO).await.len(), 1);
    let stands = w.his.get(&format!("/api/v1/visits/{visit}/refunds/{refund_id}")).await.unwrap().body;
    assert_eq!((stands["state"].as_str(), stands["bank_refund_fen"].as_i64()), (Some("resettled"), None), "{stands}");
    assert_eq!(fen(&w.ledger().await, "hospitals_received_fen"), fen(&click, "bank_fen"), "{click}");
}

#[tokio::test]
async fn a_registration_cancel_whose_answer_was_lost_is_finished_by_the_recovery_worker() {
    // 2202 takes effect at the center and its answer is lost; the HIS gives up.
    let plan = Arc::new(FaultPlan::scripted(vec![Rule { step: "2202".into(), nth: 1, fault: Fault::LoseReply }]));
    let insurance_plan = plan.clone();
    let w = world_with(move |opts| {
        opts.insurance_faults = Some(insurance_plan);
        opts.manual_recovery = true;
    })
    .await;
    let visit = w.his.register("TF0099", "01", EMPLOYEE_TOKEN).await.unwrap().body["id"].as_str().unwrap().to_string();
    let cut = w.his.post(&format!("/api/v1/visits/{visit}/registration/cancel"), &json!({})).await.unwrap();
    assert_eq!(cut.status, 503, "{cut:?}");
    assert_eq!(plan.counts().1, 1, "the fault was injected");
    assert_eq!(w.his.get(&format!("/api/v1/visits/{visit}")).await.unwrap().body["status"], "registered");
    // The worker sends the same 2202 again (the center replays it): the hub agrees with the center.
    w.sys.app.resume_unfinished(std::time::Duration::ZERO).await.expect("a recovery pass");
    assert_eq!(w.his.get(&format!("/api/v1/visits/{visit}")).await.unwrap().body["status"], "cancelled");
    assert_eq!(w.sys.app.resume_unfinished(std::time::Duration::ZERO).await.expect("another pass"), 0, "nothing left to resume");
}

#[tokio::test]
async fn a_refund_that_finds_the_personal_account_spent_meanwhile_bills_the_rest_and_the_line_pays_it() {
    // The refund's re-upload (2204) takes effect and its answer is lost: it stops reversed, the
    // personal account given back its share.
    let plan = Arc::new(FaultPlan::scripted(vec![Rule { step: "2204".into(), nth: 2, fault: Fault::LoseReply }]));
    let insurance_plan = plan.clone();
    let w = world_with(move |opts| {
        opts.insurance_faults = Some(insurance_plan);
        opts.manual_recovery = true;
    })
    .await;
    let ordinary = [
        fee_line("TF0031-1", "001102000010000", "25.00", "1", "25.00"),
        fee_line("TF0031-2", "250101001000000", "20.00", "1", "20.00"),
        fee_line("TF0031-3", "XJ01CAA040E001010101923", "18.50", "2", "37.00"),
    ];
    let (visit, agreement, click) = w.settled("TF0031", "01", EMPLOYEE_TOKEN, credit_line(), &ordinary).await;
    assert_eq!(fen(&click, "bank_fen"), 0, "the fund and the personal account paid it all: {click}");
    assert_eq!(w.refund(&visit, "drained-1", &["TF0031-3"]).await.status, 503);
    assert_eq!(plan.counts().1, 1, "the fault was injected");
    // Meanwhile a big visit spends the whole personal account.
    let big = w.his.register("TF0032", "01", EMPLOYEE_TOKEN).await.unwrap().body["id"].as_str().unwrap().to_string();
    assert!(w.his.upload_fees(&big, &big_fees("TF0032")).await.unwrap().ok());
    let spent = fen(&w.his.settle(&big).await.unwrap().body, "bank_fen");

    // The worker finishes the refund: the kept lines' share now falls on the patient, and the line pays it.
    w.sys.app.resume_unfinished(std::time::Duration::ZERO).await.expect("a recovery pass");
    let done = w.his.get(&format!("/api/v1/visits/{visit}/refunds")).await.unwrap().body;
    assert_eq!(done[0]["state"], "refunded", "{done}");
    let owed = fen(&done[0]["resettled"], "cash_fen");
    assert!(owed > 0, "the account had nothing left for the kept lines: {done}");
    assert_eq!(w.sys.app.collect_due_bills().await.expect("a pass"), 1, "the bill is collected at once");
    assert_eq!(w.bank_line(&agreement).await, (spent + owed, 0), "the line carries the big visit and the bill, once each");
    let owing: i64 = {
        let ledger = w.ledger().await;
        let net = |a: &Value| a["debits_posted"].as_i64().unwrap_or(0) - a["credits_posted"].as_i64().unwrap_or(0);
        ledger["accounts"].as_object().unwrap().iter().filter(|(k, _)| k.contains("_unpaid:")).map(|(_, a)| net(a)).sum()
    };
    assert_eq!(owing, 0, "every receivable closed");
}
