//! The bedside click (病区结算) when the insurance center refuses the discharge (2402): the ward
//! hears why (422 `insurance_refused`, the center's answer), the patient stays in the ward with the
//! deposit held as it was — nothing captured, nothing released — and the stay shows the reason
//! until a later click goes through and settles the stay to the fen. The center refuses 2402 of
//! its own accord here: another desk of the hospital, speaking the national interface through the
//! hub's drop-in prefix, has discharged the admission at the center already. On SQLite; with
//! WUGAN_TEST_DATABASE_URL, on PostgreSQL.

use common::national_desk::NationalDesk;
use common::ward::{fen, world, BED, EMPLOYEE_PSN_NO, EXAMINATION};
use serde_json::json;
use wugan::his::fee_line;

mod common;

#[tokio::test]
async fn a_discharge_the_center_refuses_leaves_the_patient_in_the_ward_with_the_deposit_and_the_reason_until_a_click_goes_through() {
    let w = world("dscg").await;
    let admitted = w.admit("ZY2001").await;
    let id = admitted["id"].as_str().expect("stay id").to_string();
    let mdtrt_id = admitted["mdtrt_id"].as_str().expect("admitted").to_string();
    // A bed day and an examination: 210.00 yuan, under the 300.00 held (the rule raises at 240.00).
    let lines = json!({"lines": [fee_line("D1-1", BED, "60.00", "1", "60.00"), fee_line("D1-2", EXAMINATION, "150.00", "1", "150.00")]});
    let fees = w.his.post(&format!("/api/v1/stays/{id}/fees"), &lines).await.expect("hub");
    assert!(fees.ok(), "{fees:?}");
    assert_eq!((fen(&fees.body, "charges_fen"), fen(&fees.body, "held_fen")), (21_000, 30_000), "{fees:?}");
    assert_eq!(w.bank_line().await, (0, 30_000), "held, not spent");

    // Another desk has discharged the admission at the center: the center refuses the click's 2402.
    let desk = NationalDesk::open(&w.sys).await;
    desk.discharge(&mdtrt_id, EMPLOYEE_PSN_NO).await;
    let click = w.discharge(&id).await;
    assert_eq!((click.status, click.body["error"]["code"].as_str()), (422, Some("insurance_refused")), "{click:?}");
    let said = click.body["error"]["message"].as_str().expect("a message").to_string();
    assert!(said.contains("2402") && said.contains("已办理出院"), "the center's own answer: {said}");

    // The patient is still in the ward: the deposit held as it was, nothing captured or released,
    // nothing settled at the center, and the stay says why until a click goes through.
    let waiting = w.stay(&id).await;
    assert_eq!((waiting["state"].as_str(), fen(&waiting, "held_fen")), (Some("in_ward"), 30_000), "{waiting}");
    assert_eq!(waiting["discharge_refusal"].as_str(), Some(said.as_str()), "{waiting}");
    assert!(waiting["settlement"].is_null(), "{waiting}");
    assert_eq!(w.bank_line().await, (0, 30_000), "the hold untouched at the bank");
    assert_eq!(w.ledger().await, (0, 30_000), "and in the ledger: pending, nothing posted");
    assert!(w.center_settlements().await.is_empty(), "no 2303/2304 after a refused 2402");
    // The ward may still add the day's fees; the reason stays until the next click.
    let more = json!({"lines": [fee_line("D2-1", BED, "60.00", "1", "60.00")]});
    let fees = w.his.post(&format!("/api/v1/stays/{id}/fees"), &more).await.expect("hub");
    assert!(fees.ok(), "{fees:?}");
    assert_eq!(fees.body["discharge_refusal"].as_str(), Some(said.as_str()), "{fees:?}");
    // 270.00 reached 80% of the hold: the rule raised it to 150% of the charges.
    assert_eq!((fen(&fees.body, "charges_fen"), fen(&fees.body, "held_fen")), (27_000, 40_500), "{fees:?}");

    // The desk undoes its discharge; the click goes through: discharged, settled, the cash share
    // captured from the hold, the rest released.
    desk.undo_discharge(&mdtrt_id, EMPLOYEE_PSN_NO).await;
    let click = w.discharge(&id).await;
    assert!(click.ok(), "{click:?}");
    let done = &click.body;
    assert_eq!((done["state"].as_str(), fen(done, "held_fen")), (Some("settled"), 0), "{done}");
    assert!(done["discharge_refusal"].is_null(), "cleared by the click that went through: {done}");
    let s = &done["settlement"];
    let split = (fen(s, "medfee_fen"), fen(s, "fund_fen"), fen(s, "personal_account_fen"), fen(s, "cash_fen"));
    // The admission's deductible (起付线) is above 270.00: the whole stay is the cash share.
    assert_eq!(split, (27_000, 0, 0, 27_000), "{s}");
    assert_eq!((fen(s, "bank_fen"), fen(s, "unpaid_fen")), (27_000, 0), "captured whole from the hold: {s}");
    assert_eq!(w.bank_line().await, (27_000, 0), "captured once, nothing left held");
    assert_eq!(w.ledger().await, (27_000, 0), "the hospital has every fen of the stay, once");
    let center = w.center_settlements().await;
    assert_eq!(center.len(), 1, "one settlement at the center: {center:?}");
    // The same click again answers the settled stay.
    let again = w.discharge(&id).await;
    assert_eq!((again.status, again.body["settlement"].clone()), (200, s.clone()), "{again:?}");
}
