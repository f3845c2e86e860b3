//! 中途结算 when the insurance center refuses it: the ward hears why (422 `insurance_refused`, the
//! center's answer), nothing is settled, the deposit stays held as it was, and the stay keeps the
//! reason (`interim_refusal`) for the ward page and the HIS after the fact — until the next
//! interim settlement, or the bedside click, goes through. The center refuses of its own accord
//! here: another desk of the hospital, speaking the national interface through the hub's drop-in
//! prefix, has discharged the admission at the center (an admission discharged there takes only
//! its final settlement). On SQLite; with WUGAN_TEST_DATABASE_URL, on PostgreSQL.

use common::national_desk::NationalDesk;
use common::ward::{fen, world, BED, EMPLOYEE_PSN_NO, EXAMINATION};
use wugan::his::fee_line;

mod common;

#[tokio::test]
async fn an_interim_settlement_the_center_refuses_leaves_the_deposit_held_and_the_reason_on_the_stay_until_one_goes_through() {
    let w = world("imref").await;
    let admitted = w.admit("ZY3001").await;
    let id = admitted["id"].as_str().expect("stay id").to_string();
    let mdtrt_id = admitted["mdtrt_id"].as_str().expect("admitted").to_string();
    assert!(admitted["interim_refusal"].is_null(), "{admitted}");
    // Day 1, a bed day and an examination: 210.00 yuan, under the 300.00 held.
    let day1 =
        w.fees(&id, vec![fee_line("D1-1", BED, "60.00", "1", "60.00"), fee_line("D1-2", EXAMINATION, "150.00", "1", "150.00")]).await;
    assert_eq!((fen(&day1, "charges_fen"), fen(&day1, "held_fen")), (21_000, 30_000), "{day1}");

    // Another desk has discharged the admission at the center: it refuses the interim 2303.
    let desk = NationalDesk::open(&w.sys).await;
    desk.discharge(&mdtrt_id, EMPLOYEE_PSN_NO).await;
    let refused = w.interim(&id, "interim-1").await;
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (422, Some("insurance_refused")), "{refused:?}");
    let said = refused.body["error"]["message"].as_str().expect("a message").to_string();
    assert!(said.contains("2303") && said.contains("已出院"), "the center's own answer: {said}");

    // Nothing settled, the hold untouched at the bank and in the ledger; the stay says why.
    let waiting = w.stay(&id).await;
    assert_eq!((waiting["state"].as_str(), fen(&waiting, "held_fen")), (Some("in_ward"), 30_000), "{waiting}");
    assert_eq!(waiting["interim_refusal"].as_str(), Some(said.as_str()), "{waiting}");
    assert!(waiting["discharge_refusal"].is_null() && waiting["interim_settlements"] == serde_json::json!([]), "{waiting}");
    assert_eq!(w.bank_line().await, (0, 30_000), "the hold untouched at the bank");
    assert_eq!(w.ledger().await, (0, 30_000), "and in the ledger: pending, nothing posted");
    assert!(w.center_settlements().await.is_empty(), "nothing settled at the center");

    // The desk undoes its discharge; the next interim settlement goes through and clears the reason.
    desk.undo_discharge(&mdtrt_id, EMPLOYEE_PSN_NO).await;
    let settled = w.interim(&id, "interim-2").await;
    assert!(settled.ok(), "{settled:?}");
    let stay = &settled.body;
    assert!(stay["interim_refusal"].is_null(), "cleared by the interim settlement that went through: {stay}");
    let first = &stay["interim_settlements"][0];
    // The admission's deductible (起付线) is above 210.00: the whole of it is the cash share,
    // captured from the hold; the 90.00 left held again.
    let taken =
        (fen(first, "medfee_fen"), fen(first, "cash_fen"), fen(first, "bank_fen"), fen(first, "unpaid_fen"), fen(first, "reheld_fen"));
    assert_eq!(taken, (21_000, 21_000, 21_000, 0, 9_000), "{first}");
    assert_eq!((stay["state"].as_str(), fen(stay, "held_fen")), (Some("in_ward"), 9_000), "{stay}");
    assert_eq!(w.bank_line().await, (21_000, 9_000));
    assert_eq!(w.ledger().await, (21_000, 9_000));
    assert_eq!(w.center_settlements().await.len(), 1);

    // Refused once more (day 2's bed, the admission discharged at the center again): the bedside
    // click, once the desk has undone it, settles the stay and clears the reason too.
    let day2 = w.fees(&id, vec![fee_line("D2-1", BED, "60.00", "1", "60.00")]).await;
    let held = fen(&day2, "held_fen");
    desk.discharge(&mdtrt_id, EMPLOYEE_PSN_NO).await;
    let refused = w.interim(&id, "interim-3").await;
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (422, Some("insurance_refused")), "{refused:?}");
    let waiting = w.stay(&id).await;
    assert_eq!((waiting["interim_refusal"].as_str(), fen(&waiting, "held_fen")), (refused.body["error"]["message"].as_str(), held));
    desk.undo_discharge(&mdtrt_id, EMPLOYEE_PSN_NO).await;
    let click = w.discharge(&id).await;
    assert!(click.ok(), "{click:?}");
    let done = &click.body;
    assert_eq!((done["state"].as_str(), fen(done, "held_fen")), (Some("settled"), 0), "{done}");
    assert!(done["interim_refusal"].is_null() && done["discharge_refusal"].is_null(), "{done}");
    let s = &done["settlement"];
    assert_eq!((fen(s, "medfee_fen"), fen(s, "cash_fen"), fen(s, "bank_fen"), fen(s, "unpaid_fen")), (6_000, 6_000, 6_000, 0), "{s}");
    assert_eq!(w.bank_line().await, (27_000, 0), "every fen of the stay captured once, nothing left held");
    assert_eq!(w.ledger().await, (27_000, 0));
    assert_eq!(w.center_settlements().await.len(), 2);
}
