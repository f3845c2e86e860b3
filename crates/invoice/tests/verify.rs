//! A hospital issues an invoice; anyone holding the root public key checks it. Each case changes one
//! thing about a genuine invoice and names the answer a verifier must give.

use wugan_domain::Fen;
use wugan_invoice::*;

const ROOT_SEED: [u8; 32] = [1; 32];
const KEY_2026: [u8; 32] = [2; 32];
const KEY_2027: [u8; 32] = [3; 32];

fn root() -> RootKey {
    RootKey::from_seed(ROOT_SEED)
}

fn hospital_key(seed: [u8; 32], valid_from: &str) -> HospitalKey {
    root().certify("H001", seed, valid_from)
}

/// A visit of 125.50 yuan: 80 yuan from the fund, 20 from the personal account, 25.50 paid by the bank.
fn visit_invoice(key: &HospitalKey, number: i64, date: &str) -> Invoice {
    let code = invoice_code(2026, "H001");
    let number = invoice_number(number);
    let lines = [("09".to_string(), Fen(10_050)), ("02".to_string(), Fen(1_500)), ("04".to_string(), Fen(1_000))];
    Invoice {
        kind: Kind::Blue,
        check_code: key.check_code(&code, &number),
        code,
        number,
        date: date.into(),
        issued_at: format!("{date}T02:03:04Z"),
        hospital: Hospital { code: "H001".into(), name: "深圳市第一人民医院".into() },
        payer: "张**".into(),
        settlement_id: "stl_1".into(),
        bus_type: "02".into(),
        items: items_by_category(&lines),
        total_fen: Fen(12_550),
        split: Split { fund_fen: Fen(8_000), personal_account_fen: Fen(2_000), bank_fen: Fen(2_550), ..Split::default() },
        offsets: None,
    }
}

fn genuine() -> SignedInvoice {
    let key = hospital_key(KEY_2026, "2026-01-01");
    sign(visit_invoice(&key, 1, "2026-03-05"), &key).expect("a consistent invoice signs")
}

fn json(doc: &SignedInvoice) -> String {
    serde_json::to_string_pretty(doc).expect("serializes")
}

fn check(label: &str, text: &str, trusted: &RootPublicKey, expect: Result<(), &str>) {
    let got = verify_json(text, trusted).map(|_| ()).map_err(|r| r.reason.code());
    assert_eq!(got, expect, "{label}");
}

#[test]
fn a_verifier_tells_genuine_invoices_from_changed_or_foreign_ones() {
    let trusted = root().public();
    let doc = genuine();
    let text = json(&doc);
    let other_root = RootKey::from_seed([9; 32]);
    let other_public = other_root.public();
    let foreign_key = other_root.certify("H001", KEY_2026, "2026-01-01");
    let forged = sign(visit_invoice(&foreign_key, 1, "2026-03-05"), &foreign_key).expect("signs");
    let neighbour_key = root().certify("H002", [4; 32], "2026-01-01");
    let mut neighbour = doc.clone();
    neighbour.certificate = neighbour_key.certificate.clone();

    let cases: Vec<(&str, String, &RootPublicKey, Result<(), &str>)> = vec![
        ("genuine", text.clone(), &trusted, Ok(())),
        ("reformatted, same content", serde_json::to_string(&doc).expect("json"), &trusted, Ok(())),
        ("one character of the hospital's name changed", text.replace("第一", "第二"), &trusted, Err("bad_signature")),
        ("the total and an item raised together", text.replace("12550", "12650").replace("10050", "10150"), &trusted, Err("bad_signature")),
        (
            "the bank's share moved to the fund",
            text.replace("\"bank_fen\": 2550", "\"bank_fen\": 0").replace("\"fund_fen\": 8000", "\"fund_fen\": 10550"),
            &trusted,
            Err("bad_signature"),
        ),
        ("the signature's last byte changed", text.replace(&doc.signature, &flip_last(&doc.signature)), &trusted, Err("bad_signature")),
        ("signed under another root", json(&forged), &trusted, Err("untrusted_key")),
        ("genuine, checked against another root", text.clone(), &other_public, Err("untrusted_key")),
        ("carries a certificate of another hospital", json(&neighbour), &trusted, Err("unknown_key")),
        ("not an invoice at all", "{\"hello\": 1}".into(), &trusted, Err("malformed")),
    ];
    for (label, text, root, expect) in cases {
        check(label, &text, root, expect);
    }
}

fn flip_last(hex_text: &str) -> String {
    let (head, last) = hex_text.split_at(hex_text.len() - 1);
    format!("{head}{}", if last == "0" { "1" } else { "0" })
}

#[test]
fn after_a_key_rotation_old_and_new_invoices_both_verify() {
    let trusted = root().public();
    let old_key = hospital_key(KEY_2026, "2026-01-01");
    let old = sign(visit_invoice(&old_key, 1, "2026-03-05"), &old_key).expect("signs");
    let new_key = hospital_key(KEY_2027, "2026-06-01");
    let new = sign(visit_invoice(&new_key, 2, "2026-06-02"), &new_key).expect("signs");

    assert_ne!(old.certificate.key_id, new.certificate.key_id);
    assert_eq!(verify(&old, &trusted).expect("the old invoice stays genuine").key_id, old.certificate.key_id);
    assert_eq!(verify(&new, &trusted).expect("the new one is genuine").number, "0000000002");
    // A key does not sign before its certificate's date, and a verifier refuses one that did.
    assert_eq!(sign(visit_invoice(&new_key, 3, "2026-05-31"), &new_key).err(), Some(Reason::UnknownKey));
    let mut backdated = new.clone();
    backdated.invoice.date = "2026-05-31".into();
    assert_eq!(verify(&backdated, &trusted).map_err(|r| r.reason), Err(Reason::UnknownKey));
}

#[test]
fn a_red_flush_offsets_the_original_and_verifies_on_its_own() {
    let trusted = root().public();
    let key = hospital_key(KEY_2026, "2026-01-01");
    let blue = sign(visit_invoice(&key, 1, "2026-03-05"), &key).expect("signs");
    let number = invoice_number(2);
    let red_doc = blue.invoice.red_flush(Numbered {
        check_code: key.check_code(&blue.invoice.code, &number),
        code: blue.invoice.code.clone(),
        number,
        date: "2026-03-06".into(),
        issued_at: "2026-03-06T01:00:00Z".into(),
    });
    let red = sign(red_doc, &key).expect("a red invoice signs");

    let verified = verify(&red, &trusted).expect("genuine");
    assert_eq!((verified.kind, verified.amount_fen), (Kind::Red, Fen(-12_550)));
    assert_eq!(red.invoice.offsets, Some(blue.invoice.reference()));
    assert_eq!(red.invoice.split.bank_fen, Fen(-2_550));
    let together: i64 = [&blue, &red].iter().map(|d| d.invoice.total_fen.0).sum();
    assert_eq!(together, 0, "the pair offsets to nothing");

    // A red invoice that names nothing, or a blue one with a negative line, is never signed.
    let mut orphan_red = red.invoice.clone();
    orphan_red.offsets = None;
    assert!(matches!(sign(orphan_red, &key), Err(Reason::Amounts(AmountError::OffsetsMismatch))));
}

#[test]
fn the_qr_code_alone_verifies_offline() {
    let trusted = root().public();
    let doc = genuine();
    let qr = qr_text(&doc);
    assert!(qr.starts_with("WGINV1|blue|2026H001|0000000001|"), "{qr}");
    assert!(qr.len() < 500, "fits a QR code: {} characters", qr.len());

    let verified = verify_qr(&qr, &trusted).expect("genuine");
    assert_eq!(
        (verified.amount_fen, verified.date.as_str(), verified.check_code.as_str()),
        (Fen(12_550), "2026-03-05", doc.invoice.check_code.as_str())
    );

    let wrong_amount = qr.replacen("|12550|", "|12551|", 1);
    let other_root = RootKey::from_seed([9; 32]).public();
    let cases: Vec<(&str, &str, &RootPublicKey, Result<(), &str>)> = vec![
        ("genuine", &qr, &trusted, Ok(())),
        ("the amount changed by one fen", &wrong_amount, &trusted, Err("bad_signature")),
        ("checked against another root", &qr, &other_root, Err("untrusted_key")),
        ("cut short", &qr[..qr.len() / 2], &trusted, Err("malformed")),
        ("another kind of QR code", "https://example.org/", &trusted, Err("malformed")),
    ];
    for (label, text, root, expect) in cases {
        let got = verify_qr(text, root).map(|_| ()).map_err(|r| r.reason.code());
        assert_eq!(got, expect, "{label}");
    }
}

#[test]
fn items_are_summed_by_category_and_unknown_categories_are_other_fees() {
    let lines = [("09".to_string(), Fen(100)), ("99".to_string(), Fen(5)), ("09".to_string(), Fen(50)), ("14".to_string(), Fen(1))];
    let items = items_by_category(&lines);
    let seen: Vec<(&str, &str, i64)> = items.iter().map(|i| (i.category.as_str(), i.name.as_str(), i.amount_fen.0)).collect();
    assert_eq!(seen, [("09", "西药费", 150), ("14", "其他费", 6)]);
}

#[test]
fn a_root_and_a_hospital_key_read_back_from_their_files_sign_alike() {
    let key = hospital_key(KEY_2026, "2026-01-01");
    let again = HospitalKey::from_parts(&key.to_hex(), key.certificate.clone(), &root().public()).expect("the pair belongs together");
    assert_eq!(again.check_code("2026H001", "0000000001"), key.check_code("2026H001", "0000000001"));
    let other = hospital_key([5; 32], "2026-01-01");
    assert!(
        HospitalKey::from_parts(&other.to_hex(), key.certificate.clone(), &root().public()).is_err(),
        "a seed with another's certificate"
    );
    assert_eq!(RootKey::from_hex(&root().to_hex()).expect("hex").public(), root().public());
    assert_eq!(RootPublicKey::from_hex(&root().public().to_hex()), Ok(root().public()));
}
