//! A stay settled at the bedside, its settlement cancelled by the ward (2305), and clicked again:
//! the first capture closed the deposit hold and went back to the line, so the stay holds nothing,
//! and the new cash share is charged to the line in one call (扣款) under the new settlement's own
//! request id — once, nothing owed, the ledger balanced. The same after the discharge is undone
//! (2405) and a corrected fee sent. On SQLite; with WUGAN_TEST_DATABASE_URL, on PostgreSQL.

use common::ward::{fen, world, World, BED, EXAMINATION};
use serde_json::{json, Value};
use wugan::his::fee_line;

mod common;

/// Admitted with the 300-yuan deposit, 210.00 yuan of fees, clicked out: settled on the hold.
async fn settled_at_the_bedside(w: &World, ipt_no: &str) -> String {
    let admitted = w.admit(ipt_no).await;
    let id = admitted["id"].as_str().expect("stay id").to_string();
    let fees =
        w.fees(&id, vec![fee_line("D1-1", BED, "60.00", "1", "60.00"), fee_line("D1-2", EXAMINATION, "150.00", "1", "150.00")]).await;
    assert_eq!((fen(&fees, "charges_fen"), fen(&fees, "held_fen")), (21_000, 30_000), "{fees}");
    let click = w.discharge(&id).await;
    assert!(click.ok(), "{click:?}");
    assert_eq!(click.body["state"].as_str(), Some("settled"), "{click:?}");
    // The admission's deductible is above 210.00: the whole stay is the cash share.
    assert_eq!(fen(&click.body["settlement"], "bank_fen"), 21_000, "captured from the hold: {click:?}");
    assert_eq!(w.bank_line().await, (21_000, 0), "captured, the rest released");
    id
}

/// The ward cancels the settlement (2305): the capture goes back to the line, nothing held.
async fn ward_cancels_the_settlement(w: &World, id: &str) {
    let cancel = w.his.post(&format!("/api/v1/stays/{id}/settlement/cancel"), &json!({})).await.expect("hub");
    assert!(cancel.ok(), "{cancel:?}");
    assert_eq!((cancel.body["state"].as_str(), fen(&cancel.body, "held_fen")), (Some("settlement_cancelled"), 0), "{cancel:?}");
    assert_eq!(w.bank_line().await, (0, 0), "refunded to the line, nothing held");
    assert_eq!(w.ledger().await, (0, 0), "every share went back");
}

/// The click's answer: settled, the whole cash share `cash` taken from the line, nothing owed.
fn charged_whole(click: &Value, cash: i64) {
    assert_eq!((click["state"].as_str(), fen(click, "held_fen"), fen(click, "owed_fen")), (Some("settled"), 0, 0), "{click}");
    let s = &click["settlement"];
    assert_eq!((fen(s, "cash_fen"), fen(s, "bank_fen"), fen(s, "unpaid_fen")), (cash, cash, 0), "{s}");
    assert!(s["decline_code"].is_null(), "{s}");
}

#[tokio::test]
async fn a_stay_clicked_again_after_the_ward_cancelled_its_settlement_charges_the_line_once() {
    let w = world("resettle").await;
    let id = settled_at_the_bedside(&w, "ZY3001").await;
    ward_cancels_the_settlement(&w, &id).await;

    // Clicked again: the line is charged once for the new cash share; nothing owed.
    let click = w.discharge(&id).await;
    assert!(click.ok(), "{click:?}");
    charged_whole(&click.body, 21_000);
    assert_eq!(w.bank_line().await, (21_000, 0), "charged once, nothing held");
    assert_eq!(w.ledger().await, (21_000, 0), "the hospital has every fen of the stay, once; the ledger balances");

    // The same click again answers the settled stay: the line is not charged twice.
    let again = w.discharge(&id).await;
    assert_eq!((again.status, &again.body["settlement"]), (200, &click.body["settlement"]), "{again:?}");
    assert_eq!(w.bank_line().await, (21_000, 0), "still charged once");

    // Cancelled again, the charge goes back to the line under the second settlement's own names.
    ward_cancels_the_settlement(&w, &id).await;
}

#[tokio::test]
async fn a_stay_whose_discharge_is_undone_after_a_cancelled_settlement_charges_the_corrected_share() {
    let w = world("resettle2405").await;
    let id = settled_at_the_bedside(&w, "ZY3002").await;
    ward_cancels_the_settlement(&w, &id).await;

    // The ward undoes the discharge (2405), back in the ward holding nothing, and sends the fee it forgot.
    let undo = w.his.post(&format!("/api/v1/stays/{id}/discharge/cancel"), &json!({})).await.expect("hub");
    assert!(undo.ok(), "{undo:?}");
    assert_eq!((undo.body["state"].as_str(), fen(&undo.body, "held_fen")), (Some("in_ward"), 0), "{undo:?}");
    let fees = w.fees(&id, vec![fee_line("D2-1", BED, "60.00", "1", "60.00")]).await;
    assert_eq!((fen(&fees, "charges_fen"), fen(&fees, "held_fen")), (27_000, 0), "{fees}");

    // Clicked: 2402, 2303, 2304, and the corrected share charged to the line.
    let click = w.discharge(&id).await;
    assert!(click.ok(), "{click:?}");
    charged_whole(&click.body, 27_000);
    assert_eq!(w.bank_line().await, (27_000, 0), "charged once for the corrected share");
    assert_eq!(w.ledger().await, (27_000, 0), "the ledger balances");
}
