//! The ward undoing in the ward (review r22): a drug returned after an interim settlement
//! (中途结算) is refunded once that settlement is cancelled (2305 in the ward, its bank share
//! refunded, its lines unsettled again), and fee lines no settlement took are withdrawn (2302).
//! Money checked at the bank, at the insurance center and in the hub's ledger (balanced); a lost
//! answer of the 2305, of the bank's refund or of the 2302 is resumed into exactly one of each.
//! On SQLite; with WUGAN_TEST_DATABASE_URL, on PostgreSQL.

use common::ward::{fen, world, world_with, World, BED, EMPLOYEE_PSN_NO};
use serde_json::{json, Value};
use std::sync::Arc;
use wugan::faults::{Fault, FaultPlan, Rule};
use wugan::his::{fee_line, Reply};

mod common;

const AMOXICILLIN: &str = "XJ01CAA040E001010101923";

/// Line 1, the drug: 1,380.00 yuan (20 boxes at 69.00); line 2: 50.00 yuan.
fn the_review_s_fees() -> Vec<Value> {
    vec![fee_line("1", AMOXICILLIN, "69.00", "20", "1380.00"), fee_line("2", BED, "50.00", "1", "50.00")]
}

/// Line `sn` returning the drug of line 1 (退药).
fn the_drug_returned(sn: &str) -> Value {
    let mut line = fee_line(sn, AMOXICILLIN, "69.00", "-20", "-1380.00");
    line["init_feedetl_sn"] = json!("1");
    line
}

fn faulty(label: &'static str, insurance: Option<&str>, bank: Option<&str>) -> impl std::future::Future<Output = World> {
    let plan =
        |step: Option<&str>| step.map(|s| Arc::new(FaultPlan::scripted(vec![Rule { step: s.into(), nth: 1, fault: Fault::LoseReply }])));
    let (insurance, bank) = (plan(insurance), plan(bank));
    world_with(label, move |opts| {
        opts.insurance_faults = insurance;
        opts.bank_faults = bank;
    })
}

impl World {
    async fn cancel_interim(&self, id: &str, n: u32, key: &str) -> Reply {
        self.his.post_with_key(&format!("/api/v1/stays/{id}/interim_settlements/{n}/cancel"), key, &json!({})).await.expect("hub")
    }

    async fn upload(&self, id: &str, lines: Vec<Value>) -> Reply {
        self.his.post(&format!("/api/v1/stays/{id}/fees"), &json!({ "lines": lines })).await.expect("hub")
    }

    async fn withdraw(&self, id: &str, key: &str, lines: Value) -> Reply {
        self.his.post_with_key(&format!("/api/v1/stays/{id}/fees/withdraw"), key, &json!({ "lines": lines })).await.expect("hub")
    }

    /// The center's settlements of the employee: (medfee in yuan, cancelled).
    async fn center_books(&self) -> Vec<(String, bool)> {
        let all = self.center_settlements().await;
        all.iter().map(|s| (s["medfee_sumamt"].as_str().unwrap_or_default().to_string(), s["cancelled"] == json!(true))).collect()
    }

    /// The stay's invoices: (kind, total) in the order issued.
    async fn invoices_of(&self, id: &str) -> Vec<(String, i64)> {
        let list = self.his.get("/api/v1/invoices").await.expect("hub").body;
        let of_stay = |i: &&Value| i["settlement_id"].as_str().is_some_and(|s| s.starts_with(&format!("{id}:")));
        let mut found: Vec<(String, String, i64)> = list["invoices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(of_stay)
            .map(|i| {
                (
                    i["number"].as_str().unwrap_or_default().to_string(),
                    i["kind"].as_str().unwrap_or_default().to_string(),
                    fen(i, "total_fen"),
                )
            })
            .collect();
        found.sort();
        found.into_iter().map(|(_, kind, total)| (kind, total)).collect()
    }

    /// Admitted, the review's two lines uploaded and settled in the middle: the stay's id, what
    /// the bank holds for it, and the cash share the interim settlement captured.
    async fn settled_in_the_middle(&self, ipt_no: &str) -> (String, i64, i64) {
        let id = self.admit(ipt_no).await["id"].as_str().expect("stay id").to_string();
        let held = fen(&self.fees(&id, the_review_s_fees()).await, "held_fen");
        let settled = self.interim(&id, "interim-1").await;
        assert!(settled.ok(), "{settled:?}");
        let first = &settled.body["interim_settlements"][0];
        assert_eq!((first["n"].as_u64(), first["lines"].clone()), (Some(1), json!(["1", "2"])), "{first}");
        let cash = fen(first, "bank_fen");
        assert!(cash > 0 && fen(first, "unpaid_fen") == 0, "the share captured from the hold: {first}");
        assert_eq!(self.bank_line().await, (cash, held - cash), "captured, the rest held again");
        (id, held, cash)
    }
}

#[tokio::test]
async fn a_drug_returned_after_an_interim_settlement_is_refunded_once_the_settlement_is_cancelled_and_settled_with_the_rest() {
    let w = world("interim-cancel-story").await;
    let (id, held, cash) = w.settled_in_the_middle("ZY0050").await;

    // The review's repro: the return is refused while line 1 is settled, and so is its withdrawal.
    let refused = w.upload(&id, vec![the_drug_returned("3")]).await;
    assert_eq!((refused.status, refused.code()), (422, Some("insurance_refused")), "{refused:?}");
    assert!(refused.body["error"]["message"].as_str().is_some_and(|m| m.contains("2305")), "{refused:?}");
    let settled_line = w.withdraw(&id, "withdraw-1", json!(["1"])).await;
    assert_eq!((settled_line.status, settled_line.code()), (409, Some("fee_line_settled")), "{settled_line:?}");

    // The ward cancels the interim settlement: 2305, the share refunded to the line, its lines unsettled.
    let cancelled = w.cancel_interim(&id, 1, "cancel-1").await;
    assert!(cancelled.ok(), "{cancelled:?}");
    let stay = &cancelled.body;
    assert_eq!((stay["state"].as_str(), fen(stay, "held_fen")), (Some("in_ward"), held - cash), "the hold now untouched: {stay}");
    assert_eq!((stay["interim_settlements"].clone(), stay["cancelled_interim_settlements"][0]["n"].as_u64()), (json!([]), Some(1)));
    assert_eq!(w.bank_line().await, (0, held - cash), "the capture refunded once");
    assert_eq!(w.ledger().await, (0, held - cash), "nothing received, the rest held pending");
    assert_eq!(w.center_books().await, [("1430.00".to_string(), true)], "the center reversed it");
    // Asked again: the same key replays; a new one finds it done; another number is none.
    assert_eq!(w.cancel_interim(&id, 1, "cancel-1").await.body, cancelled.body);
    assert!(w.cancel_interim(&id, 1, "cancel-again").await.ok());
    let none = w.cancel_interim(&id, 2, "cancel-2").await;
    assert_eq!((none.status, none.code()), (404, Some("interim_settlement_not_found")), "{none:?}");
    assert_eq!(w.bank_line().await, (0, held - cash), "still refunded once");

    // The return goes up now; the next interim settlement takes lines 1, 2 and 3: 50.00 yuan.
    let returned = w.upload(&id, vec![the_drug_returned("3")]).await;
    assert!(returned.ok(), "{returned:?}");
    assert_eq!(fen(&returned.body, "charges_fen"), 5_000);
    let again = w.interim(&id, "interim-2").await;
    assert!(again.ok(), "{again:?}");
    let second = &again.body["interim_settlements"][0];
    assert_eq!((second["n"].as_u64(), second["lines"].clone(), fen(second, "medfee_fen")), (Some(2), json!(["1", "2", "3"]), 5_000));
    let cash2 = fen(second, "bank_fen");
    assert!(cash2 <= 5_000);
    // Nothing since: the bedside click closes the stay and releases the rest of the hold.
    let click = w.discharge(&id).await;
    assert_eq!((click.body["state"].as_str(), fen(&click.body, "held_fen")), (Some("settled_by_interims"), 0), "{click:?}");
    assert_eq!(w.bank_line().await, (cash2, 0), "the line paid the 50.00 yuan's share, once");
    let (received, pending) = w.ledger().await;
    assert_eq!((received + fen(second, "unpaid_fen"), pending), (5_000, 0), "every fen of the 50.00 yuan once, nothing pending");
    assert_eq!(w.center_books().await, [("1430.00".to_string(), true), ("50.00".to_string(), false)]);
    // One blue invoice per settlement, and the red of the one cancelled.
    assert_eq!(w.invoices_of(&id).await, [("blue".to_string(), 143_000), ("red".into(), -143_000), ("blue".into(), 5_000)]);
    let center = w.center_settlements().await;
    assert!(center.iter().all(|s| s["psn_no"] == json!(EMPLOYEE_PSN_NO)));
}

#[tokio::test]
async fn only_the_latest_interim_settlement_is_cancelled_and_a_concurrent_click_waits() {
    let w = world("interim-cancel-latest").await;
    let (id, _, _) = w.settled_in_the_middle("ZY0051").await;
    assert!(w.upload(&id, vec![fee_line("4", BED, "50.00", "1", "50.00")]).await.ok());
    assert!(w.interim(&id, "interim-2").await.ok());
    let first = w.cancel_interim(&id, 1, "cancel-1").await;
    assert_eq!((first.status, first.code()), (409, Some("interim_not_latest")), "{first:?}");
    // The cancellation and the bedside click sent at once: one goes, the other waits (409).
    let (cancel, click) = tokio::join!(w.cancel_interim(&id, 2, "cancel-2"), w.discharge(&id));
    assert!(cancel.ok() || click.ok(), "{cancel:?} {click:?}");
    let stay = w.stay(&id).await;
    if !click.ok() {
        assert_eq!((click.status, click.code()), (409, Some("stay_in_progress")), "{click:?}");
    }
    if !cancel.ok() {
        // Refused while the click was under way, or after it was over (a stay no longer in the
        // ward): which one depends on when it read the stay, not on the state read afterwards.
        assert_eq!(cancel.status, 409, "{cancel:?}");
        assert!(matches!(cancel.code(), Some("stay_in_progress" | "stay_not_open")), "{cancel:?}");
    }
    assert!(matches!(stay["state"].as_str(), Some("in_ward" | "settled_by_interims" | "settled")), "{stay}");
    let (_, pending) = w.ledger().await;
    assert_eq!(pending, fen(&stay, "held_fen"));
}

#[tokio::test]
async fn a_lost_answer_of_the_2305_or_of_the_refund_is_resumed_into_exactly_one_refund() {
    // 2305's answer lost: the stay waits `cancelling_interim`; the ward's other requests wait too.
    let w = faulty("interim-cancel-lost-2305", Some("2305"), None).await;
    let (id, held, cash) = w.settled_in_the_middle("ZY0052").await;
    let lost = w.cancel_interim(&id, 1, "cancel-1").await;
    assert_eq!(lost.status, 503, "{lost:?}");
    assert_eq!(w.stay(&id).await["state"], "cancelling_interim");
    for busy in [w.discharge(&id).await, w.upload(&id, vec![the_drug_returned("3")]).await, w.interim(&id, "interim-2").await] {
        assert_eq!((busy.status, busy.code()), (409, Some("stay_in_progress")), "{busy:?}");
    }
    let retried = w.cancel_interim(&id, 1, "cancel-1").await;
    assert!(retried.ok(), "the same request resumes it: {retried:?}");
    assert_eq!((w.bank_line().await, w.ledger().await), ((0, held - cash), (0, held - cash)));
    assert_eq!(w.center_books().await, [("1430.00".to_string(), true)], "reversed once");

    // The bank's answer to the refund lost: the recovery worker asks for its record and books it.
    let w = faulty("interim-cancel-lost-refund", None, Some("POST refunds")).await;
    let (id, held, cash) = w.settled_in_the_middle("ZY0053").await;
    let lost = w.cancel_interim(&id, 1, "cancel-1").await;
    assert_eq!(lost.status, 503, "{lost:?}");
    assert_eq!((w.stay(&id).await["state"].as_str(), w.bank_line().await), (Some("cancelling_interim"), (0, held - cash)), "refunded");
    w.sys.app.resume_unfinished(std::time::Duration::ZERO).await.expect("a recovery pass");
    let stay = w.stay(&id).await;
    assert_eq!((stay["state"].as_str(), stay["cancelled_interim_settlements"][0]["bank_fen"].as_i64()), (Some("in_ward"), Some(cash)));
    assert_eq!(w.bank_line().await, (0, held - cash), "refunded once");
    assert_eq!(w.ledger().await, (0, held - cash), "the refund booked once");
    let retried = w.cancel_interim(&id, 1, "cancel-1").await;
    assert_eq!((retried.status, retried.body["state"].as_str()), (200, Some("in_ward")), "{retried:?}");
    assert_eq!(w.bank_line().await, (0, held - cash));
}

#[tokio::test]
async fn unsettled_fee_lines_are_withdrawn_with_their_returns_and_uploaded_again() {
    // 2302's first answer lost: the withdrawal waits, a day's fees wait for it, the retry finishes it.
    let w = faulty("stay-withdraw", Some("2302"), None).await;
    let id = w.admit("ZY0054").await["id"].as_str().expect("stay id").to_string();
    let mut lines = the_review_s_fees();
    lines.push(the_drug_returned("3"));
    lines.push(fee_line("4", BED, "50.00", "1", "50.00"));
    assert_eq!(fen(&w.fees(&id, lines).await, "charges_fen"), 10_000);
    let unknown = w.withdraw(&id, "w-0", json!(["9"])).await;
    assert_eq!((unknown.status, unknown.code()), (422, Some("unknown_fee_line")), "{unknown:?}");
    let mixed = w.withdraw(&id, "w-00", json!(["0000", "1"])).await;
    assert_eq!((mixed.status, mixed.code()), (422, Some("bad_lines")), "{mixed:?}");

    let lost = w.withdraw(&id, "w-1", json!([1])).await;
    assert_eq!(lost.status, 503, "{lost:?}");
    assert_eq!(w.stay(&id).await["state"], "withdrawing_fees");
    let busy = w.upload(&id, vec![fee_line("5", BED, "50.00", "1", "50.00")]).await;
    assert_eq!((busy.status, busy.code()), (409, Some("fee_withdrawal_in_progress")), "{busy:?}");
    let done = w.withdraw(&id, "w-1", json!([1])).await;
    assert!(done.ok(), "{done:?}");
    // Line 1 went, and its return (line 3) with it: lines 2 and 4 are left.
    assert_eq!(
        (done.body["state"].as_str(), fen(&done.body, "charges_fen"), done.body["fee_lines"].as_u64()),
        (Some("in_ward"), 10_000, Some(2))
    );
    assert_eq!(w.withdraw(&id, "w-1", json!([1])).await.body, done.body, "the same request replays");
    // Line 1 again, at another price: taken.
    let again = w.upload(&id, vec![fee_line("1", AMOXICILLIN, "18.50", "4", "74.00")]).await;
    assert!(again.ok(), "{again:?}");
    assert_eq!(fen(&again.body, "charges_fen"), 17_400);

    // Lines 1, 2 and 4 settled in the middle; line 6 after: every unsettled line ("0000") is line 6.
    assert!(w.interim(&id, "interim-1").await.ok());
    assert!(w.upload(&id, vec![fee_line("6", BED, "50.00", "1", "50.00")]).await.ok());
    let all = w.withdraw(&id, "w-2", json!(["0000"])).await;
    assert!(all.ok(), "{all:?}");
    assert_eq!((fen(&all.body, "charges_fen"), all.body["fee_lines"].as_u64()), (17_400, Some(3)), "line 6 gone: {all:?}");
    let nothing = w.withdraw(&id, "w-3", json!(["0000"])).await;
    assert_eq!((nothing.status, nothing.code()), (422, Some("unknown_fee_line")), "{nothing:?}");
    // The bedside click settles nothing more: the interim settlement took every line left.
    let click = w.discharge(&id).await;
    assert_eq!(click.body["state"], "settled_by_interims", "{click:?}");
    let medfees: Vec<String> = w.center_books().await.into_iter().map(|(medfee, _)| medfee).collect();
    assert_eq!(medfees, ["174.00"], "the center settled exactly the lines left");
    assert_eq!(w.ledger().await.1, 0);
}
