//! Stays longer than a week (review r21, finding 1). The hub asks the bank to hold a stay's
//! deposit for 90 days, the longest the bank allows, instead of its 7-day default, so an ordinary
//! stay keeps its deposit held to the bedside. A stay that outlasts even that finds the hold
//! expired: the hub forgets it (`held_fen` 0, `deposit_short` `hold_expired`, a fresh deposit
//! allowed) and takes the cash share from the line in one charge, a bill only if the line declines.
//! The hub, the insurance center and the bank read one business clock the test moves by days.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use wugan::his::fee_line;

mod common;
use common::ward::{fen, world_with, World, BED, EXAMINATION};

const DAY_S: i64 = 86_400;

/// The wall clock moved on by whole days, as all three parties read it.
#[derive(Default)]
struct DaysLater {
    offset_s: AtomicI64,
}

impl DaysLater {
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() + time::Duration::seconds(self.offset_s.load(Ordering::SeqCst))
    }

    fn advance_days(&self, days: i64) {
        self.offset_s.fetch_add(days * DAY_S, Ordering::SeqCst);
    }
}

impl wugan_hub::clock::Clock for DaysLater {
    fn now_utc(&self) -> time::OffsetDateTime {
        self.now()
    }
}

impl wugan_insurance::Clock for DaysLater {
    fn now_utc(&self) -> time::OffsetDateTime {
        self.now()
    }
}

impl wugan_bank::Clock for DaysLater {
    fn now_unix_s(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

async fn ward_on(clock: Arc<DaysLater>, label: &str) -> World {
    world_with(label, move |opts| {
        opts.hub_clock = Some(clock.clone());
        opts.insurance_clock = Some(clock.clone());
        opts.bank_clock = Some(clock);
    })
    .await
}

async fn post(w: &World, path: &str, body: Value) -> Value {
    let r = w.his.post(path, &body).await.expect("hub");
    assert!(r.ok(), "{path}: {r:?}");
    r.body
}

/// What the line has captured (used) and holds, as the bank says.
async fn bank_line(w: &World) -> (i64, i64) {
    let payment = w.operator.get(&format!("/api/v1/agreements/{}", w.agreement_id)).await.expect("hub").body["payment"].clone();
    (fen(&payment, "used_fen"), fen(&payment, "held_fen"))
}

async fn ledger(w: &World) -> Value {
    let r = w.operator.get("/api/v1/ledger").await.expect("hub");
    assert_eq!(r.body["balanced"], json!(true), "the ledger balances: {}", r.body);
    r.body
}

#[tokio::test]
async fn a_twenty_day_stay_keeps_its_deposit_held_and_is_captured_at_the_bedside() {
    let clock = Arc::new(DaysLater::default());
    let w = ward_on(clock.clone(), "stay-long-20").await;
    let id = w.admit("ZYL001").await["id"].as_str().expect("stay id").to_string();
    post(&w, &format!("/api/v1/stays/{id}/fees"), json!({"lines": [fee_line("D1", BED, "60.00", "1", "60.00")]})).await;
    // Twenty days: long past the bank's 7-day default, well within the 90 days asked for.
    clock.advance_days(20);
    assert_eq!(bank_line(&w).await, (0, 30_000), "the bank still holds the deposit");
    let day = post(&w, &format!("/api/v1/stays/{id}/fees"), json!({"lines": [fee_line("D20", BED, "60.00", "1", "60.00")]})).await;
    assert_eq!((day["state"].as_str(), fen(&day, "held_fen")), (Some("in_ward"), 30_000), "{day}");
    let settled = post(&w, &format!("/api/v1/stays/{id}/discharge"), json!({})).await;
    let s = &settled["settlement"];
    assert_eq!((settled["state"].as_str(), s["decline_code"].as_str()), (Some("settled"), None), "{settled}");
    assert!(fen(s, "cash_fen") > 0, "{s}");
    assert_eq!((fen(s, "bank_fen"), fen(s, "unpaid_fen")), (fen(s, "cash_fen"), 0), "captured on the hold: {s}");
    assert_eq!(bank_line(&w).await, (fen(s, "cash_fen"), 0));
    assert_eq!(fen(&ledger(&w).await, "hospitals_unpaid_fen"), 0);
}

#[tokio::test]
async fn a_stay_longer_than_its_hold_takes_a_fresh_deposit_once_its_raise_finds_the_hold_expired() {
    let clock = Arc::new(DaysLater::default());
    let w = ward_on(clock.clone(), "stay-long-91").await;

    // The first stay outlasts the 90-day hold; its next raise finds it expired.
    let id = w.admit("ZYL002").await["id"].as_str().expect("stay id").to_string();
    post(&w, &format!("/api/v1/stays/{id}/fees"), json!({"lines": [fee_line("A1", BED, "60.00", "1", "60.00")]})).await;
    clock.advance_days(91);
    assert_eq!(bank_line(&w).await, (0, 0), "the bank let the hold expire");
    let lines = json!({"lines": [fee_line("A91", EXAMINATION, "150.00", "2", "300.00")]});
    let short = post(&w, &format!("/api/v1/stays/{id}/fees"), lines).await;
    assert_eq!(
        (short["state"].as_str(), short["deposit_short"].as_str(), fen(&short, "held_fen")),
        (Some("deposit_short"), Some("hold_expired"), 0),
        "the hub no longer says it holds anything: {short}"
    );
    // The ward places a fresh deposit (补交押金), held for 90 days again and captured at the bedside.
    let fresh = post(&w, &format!("/api/v1/stays/{id}/deposit"), json!({"deposit_fen": 50_000})).await;
    assert_eq!((fresh["state"].as_str(), fen(&fresh, "held_fen")), (Some("in_ward"), 50_000), "{fresh}");
    assert_eq!(bank_line(&w).await, (0, 50_000));
    let settled = post(&w, &format!("/api/v1/stays/{id}/discharge"), json!({})).await;
    let s = &settled["settlement"];
    assert_eq!(
        (settled["state"].as_str(), fen(s, "bank_fen"), fen(s, "unpaid_fen")),
        (Some("settled"), fen(s, "cash_fen"), 0),
        "{settled}"
    );
    assert_eq!(bank_line(&w).await, (fen(s, "cash_fen"), 0), "captured on the fresh hold, nothing left held");
    assert_eq!(fen(&ledger(&w).await, "hospitals_unpaid_fen"), 0);
}

#[tokio::test]
async fn a_stay_whose_hold_expired_before_the_bedside_has_its_share_charged_not_billed() {
    let clock = Arc::new(DaysLater::default());
    let w = ward_on(clock.clone(), "stay-long-95").await;
    // The stay outlasts its hold and goes straight to the bedside: the capture finds the hold
    // expired, and the share is charged to the line in one call (under an id of its own).
    let id = w.admit("ZYL003").await["id"].as_str().expect("stay id").to_string();
    post(&w, &format!("/api/v1/stays/{id}/fees"), json!({"lines": [fee_line("B1", BED, "60.00", "1", "60.00")]})).await;
    clock.advance_days(95);
    let second = post(&w, &format!("/api/v1/stays/{id}/discharge"), json!({})).await;
    let s2 = &second["settlement"];
    assert_eq!((second["state"].as_str(), s2["decline_code"].as_str()), (Some("settled"), None), "{second}");
    assert!(fen(s2, "cash_fen") > 0, "{s2}");
    assert_eq!((fen(s2, "bank_fen"), fen(s2, "unpaid_fen"), fen(&second, "owed_fen")), (fen(s2, "cash_fen"), 0, 0), "{second}");
    assert_eq!(bank_line(&w).await, (fen(s2, "cash_fen"), 0), "taken once, nothing left held");
    let ledger = ledger(&w).await;
    assert_eq!((fen(&ledger, "hospitals_unpaid_fen"), ledger["pending_fen"].as_i64().unwrap_or(0)), (0, 0), "{ledger}");
}
