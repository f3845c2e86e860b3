//! 门诊费用明细撤销 (2205) through the HIS API: the doctor changes a prescription before the click
//! (改处方), the HIS withdraws the batch it uploaded, uploads the line again with its new price, and
//! the click settles the new total, which the insurance center's own record agrees with. A
//! withdrawal is refused while a click is under way, the same key answers the same, and a 2205
//! whose answer is lost stays pending until the retry or the recovery worker sends it again.

use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use wugan::faults::{Fault, FaultPlan, Rule};
use wugan::his::{fee_line, HisClient, Reply};
use wugan::system;

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";
const EMPLOYEE_PSN_NO: &str = "44030000000000000001";

struct World {
    sys: system::System,
    operator: HisClient,
    his: HisClient,
    visit_id: String,
    plan: Option<Arc<FaultPlan>>,
    _dir: common::TempDir,
}

/// A line as the HIS uploads it, under its batch (收费批次号).
fn line_in(batch: &str, sn: &str, code: &str, price: &str, count: &str, total: &str) -> Value {
    let mut line = fee_line(sn, code, price, count, total);
    line["chrg_bchno"] = json!(batch);
    line
}

/// A signed employee registered at the hospital, with line 1 (registration, 25.00) in batch B1 and
/// line 2 (a drug, 150.00 × 8) in batch B2 uploaded; `fault` on the insurance center's wire.
async fn a_visit_with_two_batches(fault: Option<(&str, Fault)>) -> World {
    let (mut opts, dir) = common::fresh_options("fee-withdrawals").await;
    opts.manual_recovery = true;
    let plan = fault.map(|(step, fault)| Arc::new(FaultPlan::scripted(vec![Rule { step: step.into(), nth: 1, fault }])));
    opts.insurance_faults = plan.clone();
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let agreement = operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(agreement.ok(), "{agreement:?}");
    let visit = his.register("MZ1", "01", EMPLOYEE_TOKEN).await.unwrap();
    assert!(visit.ok(), "{visit:?}");
    let visit_id = visit.body["id"].as_str().unwrap().to_string();
    let lines =
        [line_in("B1", "1", "001102000010000", "25.00", "1", "25.00"), line_in("B2", "2", "013100000010000", "150.00", "8", "1200.00")];
    let up = his.upload_fees(&visit_id, &lines).await.unwrap();
    assert!(up.ok(), "{up:?}");
    assert_eq!(up.body["medfee_fen"], 122_500);
    World { sys, operator, his, visit_id, plan, _dir: dir }
}

impl World {
    async fn withdraw(&self, key: &str, batch: &str) -> Reply {
        let path = format!("/api/v1/visits/{}/fees/withdraw", self.visit_id);
        self.his.post_with_key(&path, key, &json!({"chrg_bchno": batch})).await.unwrap()
    }

    async fn visit(&self) -> Value {
        self.his.get(&format!("/api/v1/visits/{}", self.visit_id)).await.unwrap().body
    }

    /// Line 2 again, as the new prescription has it: 120.00 × 8, in batch B3.
    async fn upload_the_new_line_2(&self) -> Reply {
        self.his.upload_fees(&self.visit_id, &[line_in("B3", "2", "013100000010000", "120.00", "8", "960.00")]).await.unwrap()
    }

    /// The click, then what the insurance center and the ledger say of it.
    async fn click_settles(&self, medfee_fen: i64) {
        let s = self.his.settle(&self.visit_id).await.unwrap();
        assert_eq!((s.status, s.body["state"].as_str()), (200, Some("settled")), "{s:?}");
        assert_eq!(s.fen("medfee_fen"), medfee_fen, "{s:?}");
        assert_eq!(s.fen("fund_fen") + s.fen("personal_account_fen") + s.fen("bank_fen"), medfee_fen, "{s:?}");
        // The center settled exactly the lines the hub kept: its 2207 total is the hub's.
        let center = common::center_settlements_of(&self.sys, EMPLOYEE_PSN_NO).await;
        assert_eq!(center.len(), 1, "{center:?}");
        assert_eq!(wugan_domain::Fen::from_json_yuan(&center[0]["medfee_sumamt"]).unwrap().unwrap().0, medfee_fen, "{center:?}");
        assert_eq!(center[0]["setl_id"], s.body["setl_id"]);
        let ledger = self.operator.get("/api/v1/ledger").await.unwrap().body;
        assert_eq!(ledger["balanced"], json!(true), "{ledger}");
        assert_eq!(ledger["hospitals_received_fen"], json!(medfee_fen), "{ledger}");
    }
}

#[tokio::test]
async fn the_doctor_changes_a_prescription_before_the_click_and_the_new_total_is_settled() {
    let w = a_visit_with_two_batches(None).await;
    // Before: line 2 cannot simply be sent again with its new price.
    let again = w.upload_the_new_line_2().await;
    assert_eq!((again.status, again.code()), (409, Some("duplicate_fee_line")), "{again:?}");

    // 改处方: batch B2 is withdrawn (2205); the answer is the visit without line 2.
    let withdrawn = w.withdraw("withdraw-b2", "B2").await;
    assert_eq!(withdrawn.status, 200, "{withdrawn:?}");
    assert_eq!((withdrawn.body["id"].as_str(), withdrawn.body["status"].as_str()), (Some(w.visit_id.as_str()), Some("registered")));
    assert_eq!((withdrawn.body["fee_lines"].as_u64(), withdrawn.fen("medfee_fen")), (Some(1), 2_500), "{withdrawn:?}");
    assert_eq!(withdrawn.body, w.visit().await, "answered as GET /api/v1/visits/{{id}} reads");

    // The same request again answers the same; the batch is gone, so a new key finds nothing.
    let replayed = w.withdraw("withdraw-b2", "B2").await;
    assert_eq!((replayed.status, &replayed.body), (200, &withdrawn.body), "{replayed:?}");
    let gone = w.withdraw("withdraw-b2-again", "B2").await;
    assert_eq!((gone.status, gone.code()), (404, Some("unknown_batch")), "{gone:?}");
    let reused = w.withdraw("withdraw-b2", "B1").await;
    assert_eq!((reused.status, reused.code()), (422, Some("idempotency_key_reused")), "{reused:?}");

    // Line 2 again under its number, with the new price; the click settles 25 + 960 yuan.
    let up = w.upload_the_new_line_2().await;
    assert!(up.ok(), "{up:?}");
    assert_eq!(up.body["medfee_fen"], 98_500, "{up:?}");
    w.click_settles(98_500).await;

    // Settled: nothing more is withdrawn (a cancellation or a refund is the way now).
    let late = w.withdraw("withdraw-late", "0000").await;
    assert_eq!((late.status, late.code()), (409, Some("visit_not_open")), "{late:?}");
}

#[tokio::test]
async fn every_open_line_is_withdrawn_with_0000_and_the_visit_is_refilled() {
    let w = a_visit_with_two_batches(None).await;
    let all = w.withdraw("withdraw-all", "0000").await;
    assert_eq!((all.status, all.body["fee_lines"].as_u64(), all.fen("medfee_fen")), (200, Some(0), 0), "{all:?}");
    let nothing = w.his.settle(&w.visit_id).await.unwrap();
    assert_eq!((nothing.status, nothing.code()), (409, Some("no_fees")), "{nothing:?}");
    let empty = w.withdraw("withdraw-all-again", "0000").await;
    assert_eq!((empty.status, empty.code()), (404, Some("unknown_batch")), "{empty:?}");
    let path = format!("/api/v1/visits/{}/fees/withdraw", w.visit_id);
    for (bad, status, code) in [
        (json!({"chrg_bchno": ""}), 422, "missing_field"),
        (json!({"chrg_bchno": "B".repeat(31)}), 422, "field_too_long"),
        (json!({}), 422, "invalid_request"),
        (json!({"chrg_bchno": "B1", "extra": 1}), 400, "unknown_field"),
    ] {
        let r = w.his.post(&path, &bad).await.unwrap();
        assert_eq!((r.status, r.code()), (status, Some(code)), "{bad}: {r:?}");
    }
    let lines =
        [line_in("B1", "1", "001102000010000", "25.00", "1", "25.00"), line_in("B3", "2", "013100000010000", "120.00", "8", "960.00")];
    assert!(w.his.upload_fees(&w.visit_id, &lines).await.unwrap().ok());
    w.click_settles(98_500).await;
}

#[tokio::test]
async fn a_withdrawal_is_refused_while_a_click_is_under_way() {
    // The click's 2207 answer is lost: the settlement stays under way until its retry.
    let w = a_visit_with_two_batches(Some(("2207", Fault::LoseReply))).await;
    let click = w.his.post_with_key(&format!("/api/v1/visits/{}/settlement", w.visit_id), "click", &json!({})).await.unwrap();
    assert_eq!(click.status, 503, "{click:?}");
    let refused = w.withdraw("withdraw-b2", "B2").await;
    assert_eq!((refused.status, refused.code()), (409, Some("settlement_in_progress")), "{refused:?}");
    let s = w.his.post_with_key(&format!("/api/v1/visits/{}/settlement", w.visit_id), "click", &json!({})).await.unwrap();
    assert_eq!((s.status, s.body["state"].as_str(), s.fen("medfee_fen")), (200, Some("settled"), 122_500), "{s:?}");
    assert_eq!(w.visit().await["fee_lines"], 2, "nothing was withdrawn");
}

#[tokio::test]
async fn a_lost_2205_answer_is_resumed_by_the_retry_or_by_the_recovery_worker() {
    for by_worker in [false, true] {
        let case = if by_worker { "the recovery worker" } else { "the retry" };
        let w = a_visit_with_two_batches(Some(("2205", Fault::LoseReply))).await;
        let lost = w.withdraw("withdraw-b2", "B2").await;
        assert_eq!((lost.status, lost.code()), (503, Some("insurance_unavailable")), "{case}: {lost:?}");
        assert_eq!(w.plan.as_ref().unwrap().counts().1, 1, "{case}: the fault was injected");

        // Pending: neither the click nor an upload passes it, nor another withdrawal.
        let click = w.his.settle(&w.visit_id).await.unwrap();
        assert_eq!(click.status, 409, "{case}: {click:?}");
        let up = w.upload_the_new_line_2().await;
        assert_eq!(up.status, 409, "{case}: {up:?}");
        let other = w.withdraw("withdraw-all", "0000").await;
        assert_eq!((other.status, other.code()), (409, Some("fee_withdrawal_in_progress")), "{case}: {other:?}");

        if by_worker {
            let resumed = w.sys.app.resume_unfinished(Duration::ZERO).await.expect("recovery runs");
            assert!(resumed >= 1, "{case}: {resumed}");
            assert_eq!(w.visit().await["fee_lines"], 1, "{case}");
        }
        // The retry (after the worker: its answer) is the visit without line 2.
        let retried = w.withdraw("withdraw-b2", "B2").await;
        assert_eq!((retried.status, retried.fen("medfee_fen")), (200, 2_500), "{case}: {retried:?}");
        assert!(w.upload_the_new_line_2().await.ok(), "{case}");
        w.click_settles(98_500).await;
    }
}

#[tokio::test]
async fn a_corrected_line_under_an_old_number_is_refused_not_taken_for_the_old_one_sent_again() {
    // Review r25 F1: line 1 (registration, 25.00) sent again as a drug of the same total under a new
    // key was answered 200, nothing sent, and the click settled the registration.
    let w = a_visit_with_two_batches(None).await;
    let drug = line_in("B1", "1", "XL04AXL150E001010100136", "12.50", "2", "25.00");
    let corrected = w.his.upload_fees(&w.visit_id, &[drug]).await.unwrap();
    assert_eq!((corrected.status, corrected.code()), (409, Some("duplicate_fee_line")), "{corrected:?}");
    // The same line sent again (its answer lost), under a new key and another time, is still the
    // same line: answered as taken, nothing sent twice.
    let mut same = line_in("B1", "1", "001102000010000", "25.000", "1.0", "25.00");
    same["fee_ocur_time"] = json!("2026-12-01 09:30:00");
    let resent = w.his.upload_fees(&w.visit_id, &[same]).await.unwrap();
    assert_eq!((resent.status, resent.fen("medfee_fen")), (200, 122_500), "{resent:?}");
    w.click_settles(122_500).await;
}

#[tokio::test]
async fn a_batch_sent_padded_by_a_fixed_width_column_is_withdrawn_by_its_name() {
    // Review r25 F2: "B3 " was kept padded, the withdrawal trimmed "B3": never found.
    let w = a_visit_with_two_batches(None).await;
    let up = w.his.upload_fees(&w.visit_id, &[line_in("B3  ", "3", "013100000010000", "10.00", "1", "10.00")]).await.unwrap();
    assert!(up.ok(), "{up:?}");
    let withdrawn = w.withdraw("withdraw-b3", "B3").await;
    assert_eq!((withdrawn.status, withdrawn.fen("medfee_fen")), (200, 122_500), "{withdrawn:?}");
}
