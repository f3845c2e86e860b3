//! A deposit receipt (住院预交金收据) is signed and verified like an invoice, in its own series:
//! its code is `YJ` + year + hospital, and a document may not borrow the other kind's code.

use wugan_domain::Fen;
use wugan_invoice::*;

fn key() -> HospitalKey {
    RootKey::from_seed([1; 32]).certify("H001", [2; 32], "2026-01-01")
}

fn numbered(key: &HospitalKey, code: String) -> Numbered {
    let number = invoice_number(1);
    Numbered {
        check_code: key.check_code(&code, &number),
        code,
        number,
        date: "2026-03-05".into(),
        issued_at: "2026-03-05T02:03:04Z".into(),
    }
}

fn held(amount: i64) -> DepositHeld {
    DepositHeld {
        hospital: Hospital { code: "H001".into(), name: "深圳市第一人民医院".into() },
        payer: "张**".into(),
        business_id: "stay_1:hold:0".into(),
        amount_fen: Fen(amount),
    }
}

#[test]
fn a_deposit_receipt_verifies_by_json_and_qr_with_the_root_key_alone() {
    let key = key();
    let receipt = held(300_000).receipt(numbered(&key, deposit_receipt_code(2026, "H001")));
    assert_eq!((receipt.code.as_str(), receipt.bus_type.as_str(), receipt.total_fen), ("YJ2026H001", "07", Fen(300_000)));
    let doc = sign(receipt, &key).expect("a consistent receipt signs");
    let root = RootKey::from_seed([1; 32]).public();
    let verified = verify_json(&serde_json::to_string(&doc).expect("json"), &root).expect("genuine");
    assert_eq!((verified.kind, verified.amount_fen), (Kind::Deposit, Fen(300_000)));
    assert_eq!(verify_qr(&qr_text(&doc), &root).expect("genuine QR").kind, Kind::Deposit);
}

#[test]
fn a_receipt_and_an_invoice_never_share_a_code() {
    let key = key();
    let root = RootKey::from_seed([1; 32]).public();
    // A receipt under the invoices' code, and an invoice under the receipts' code: both refused.
    let receipt_in_invoice_series = sign(held(100).receipt(numbered(&key, invoice_code(2026, "H001"))), &key).expect("signs");
    let mut blue = held(100).receipt(numbered(&key, deposit_receipt_code(2026, "H001")));
    blue.kind = Kind::Blue;
    let invoice_in_receipt_series = sign(blue, &key).expect("signs");
    for (label, doc) in
        [("receipt under an invoice code", receipt_in_invoice_series), ("invoice under a receipt code", invoice_in_receipt_series)]
    {
        let got = verify(&doc, &root).map(|_| ()).map_err(|r| r.reason.code());
        assert_eq!(got, Err("unknown_key"), "{label}");
    }
}

#[test]
fn a_changed_amount_on_a_receipt_fails() {
    let key = key();
    let doc = sign(held(300_000).receipt(numbered(&key, deposit_receipt_code(2026, "H001"))), &key).expect("signs");
    let text = serde_json::to_string(&doc).expect("json").replace("300000", "300001");
    let root = RootKey::from_seed([1; 32]).public();
    assert!(verify_json(&text, &root).is_err(), "a changed amount is not genuine");
}
