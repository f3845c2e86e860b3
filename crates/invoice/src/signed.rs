//! Signing and verifying. An invoice is signed twice by its hospital's key: the whole document as
//! canonical JSON, and the short QR message (code, number, check code, date, amount), so that the QR
//! alone verifies offline too. Both checks need only the root public key: the hospital's
//! certificate travels with the invoice and in the QR.

use crate::canonical::canonical_json;
use crate::document::{AmountError, Invoice, Kind};
use crate::keys::{verify_with, Certificate, HospitalKey, KeyError, RootPublicKey};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use wugan_domain::Fen;

/// What the document signature covers starts with this (no other signed message can pass for one).
const DOC_DOMAIN: &str = "wugan-invoice-v1\n";
/// The QR text's first field, and the start of what its signature covers.
pub const QR_PREFIX: &str = "WGINV1";

/// The invoice as it is stored, served, attached to the PDF and verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInvoice {
    pub invoice: Invoice,
    pub certificate: Certificate,
    /// The hospital key's Ed25519 signature over the invoice's canonical JSON, hex.
    pub signature: String,
    /// The hospital key's signature over the QR message, hex.
    pub qr_signature: String,
}

/// What a verifier learns from a genuine invoice (or QR): no more than the QR holds, and the
/// hospital the certificate names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    pub kind: Kind,
    pub code: String,
    pub number: String,
    pub check_code: String,
    pub date: String,
    pub amount_fen: Fen,
    pub hospital_code: String,
    pub key_id: String,
}

/// Why an invoice is not genuine.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("not an invoice: {0}")]
    Malformed(String),
    #[error("the signing key's certificate is not signed by the trusted root")]
    UntrustedKey,
    #[error("the signing key is not one of this hospital's, or not yet valid on the invoice's date")]
    UnknownKey,
    #[error("the signature does not match: the invoice was changed after it was signed")]
    BadSignature,
    #[error("the amounts do not add up: {0}")]
    Amounts(AmountError),
}

impl Reason {
    /// A stable code for APIs and exit messages.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Malformed(_) => "malformed",
            Reason::UntrustedKey => "untrusted_key",
            Reason::UnknownKey => "unknown_key",
            Reason::BadSignature => "bad_signature",
            Reason::Amounts(_) => "amounts_do_not_add_up",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Rejected {
    pub reason: Reason,
}

impl From<Reason> for Rejected {
    fn from(reason: Reason) -> Rejected {
        Rejected { reason }
    }
}

/// Signs an invoice with its hospital's key. Refuses an invoice whose amounts do not add up, or
/// that is not the key's hospital's: the hub never issues what a verifier would reject.
pub fn sign(invoice: Invoice, key: &HospitalKey) -> Result<SignedInvoice, Reason> {
    invoice.check_amounts().map_err(Reason::Amounts)?;
    if invoice.hospital.code != key.certificate.hospital_code || invoice.date < key.certificate.valid_from {
        return Err(Reason::UnknownKey);
    }
    let signature = key.sign(&document_message(&invoice)?);
    let qr_signature = key.sign(qr_message(&QrFields::of(&invoice)).as_bytes());
    Ok(SignedInvoice { invoice, certificate: key.certificate.clone(), signature, qr_signature })
}

fn document_message(invoice: &Invoice) -> Result<Vec<u8>, Reason> {
    let value = serde_json::to_value(invoice).map_err(|e| Reason::Malformed(e.to_string()))?;
    Ok(format!("{DOC_DOMAIN}{}", canonical_json(&value)).into_bytes())
}

/// The hospital key a certificate names, if the root signed it and it belongs to `hospital_code`
/// on `date`.
fn certified_key(root: &RootPublicKey, certificate: &Certificate, hospital_code: &str, date: &str) -> Result<VerifyingKey, Reason> {
    let public = root.check(certificate).map_err(|e| match e {
        KeyError::Untrusted => Reason::UntrustedKey,
        other => Reason::Malformed(other.to_string()),
    })?;
    if certificate.hospital_code != hospital_code || date < certificate.valid_from.as_str() {
        return Err(Reason::UnknownKey);
    }
    Ok(public)
}

/// Verifies a signed invoice with only the root public key: the certificate, the key's hospital
/// and date, both signatures, and the arithmetic.
pub fn verify(doc: &SignedInvoice, root: &RootPublicKey) -> Result<Verified, Rejected> {
    let invoice = &doc.invoice;
    let public = certified_key(root, &doc.certificate, &invoice.hospital.code, &invoice.date)?;
    if !code_names_hospital(invoice.kind, &invoice.code, &invoice.hospital.code) {
        return Err(Reason::UnknownKey.into());
    }
    if !verify_with(&public, &document_message(invoice)?, &doc.signature) {
        return Err(Reason::BadSignature.into());
    }
    let qr = QrFields::of(invoice);
    if !verify_with(&public, qr_message(&qr).as_bytes(), &doc.qr_signature) {
        return Err(Reason::BadSignature.into());
    }
    invoice.check_amounts().map_err(Reason::Amounts)?;
    Ok(qr.verified(&doc.certificate))
}

/// Verifies an invoice's JSON text (as served, saved or attached to the PDF).
pub fn verify_json(text: &str, root: &RootPublicKey) -> Result<Verified, Rejected> {
    let doc: SignedInvoice = serde_json::from_str(text).map_err(|e| Reason::Malformed(e.to_string()))?;
    verify(&doc, root)
}

/// 票据代码 is the year and the hospital's code (see `document::invoice_code`); a deposit
/// receipt's has the `YJ` prefix before them (`document::deposit_receipt_code`), and only its.
fn code_names_hospital(kind: Kind, code: &str, hospital_code: &str) -> bool {
    let code = match (kind, code.strip_prefix(crate::document::DEPOSIT_CODE_PREFIX)) {
        (Kind::Deposit, Some(rest)) => rest,
        (Kind::Deposit, None) | (_, Some(_)) => return false,
        (_, None) => code,
    };
    code.len() == 4 + hospital_code.len()
        && code.is_char_boundary(4)
        && code[..4].bytes().all(|b| b.is_ascii_digit())
        && &code[4..] == hospital_code
}

/// The fields a QR code carries about the invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
struct QrFields {
    kind: Kind,
    code: String,
    number: String,
    check_code: String,
    /// `YYYYMMDD`.
    date: String,
    amount_fen: Fen,
}

impl QrFields {
    fn of(invoice: &Invoice) -> QrFields {
        QrFields {
            kind: invoice.kind,
            code: invoice.code.clone(),
            number: invoice.number.clone(),
            check_code: invoice.check_code.clone(),
            date: invoice.date.replace('-', ""),
            amount_fen: invoice.total_fen,
        }
    }

    fn verified(&self, certificate: &Certificate) -> Verified {
        let d = &self.date;
        let date = if d.len() == 8 && d.is_ascii() { format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]) } else { d.clone() };
        Verified {
            kind: self.kind,
            code: self.code.clone(),
            number: self.number.clone(),
            check_code: self.check_code.clone(),
            date,
            amount_fen: self.amount_fen,
            hospital_code: certificate.hospital_code.clone(),
            key_id: certificate.key_id.clone(),
        }
    }
}

fn qr_message(f: &QrFields) -> String {
    format!("{QR_PREFIX}|{}|{}|{}|{}|{}|{}", f.kind.as_str(), f.code, f.number, f.check_code, f.date, f.amount_fen.0)
}

/// The QR code's text: the signed fields, then the certificate, then the signature, `|`-separated.
/// About 400 ASCII characters: a version 15 QR code at level M.
pub fn qr_text(doc: &SignedInvoice) -> String {
    let c = &doc.certificate;
    format!(
        "{}|{}|{}|{}|{}|{}|{}",
        qr_message(&QrFields::of(&doc.invoice)),
        c.hospital_code,
        c.key_id,
        c.public_key,
        c.valid_from,
        c.root_signature,
        doc.qr_signature
    )
}

/// Verifies a QR code's text offline with only the root public key.
pub fn verify_qr(text: &str, root: &RootPublicKey) -> Result<Verified, Rejected> {
    let fields: Vec<&str> = text.trim().split('|').collect();
    let [prefix, kind, code, number, check_code, date, amount, hospital_code, key_id, public_key, valid_from, root_signature, signature] =
        fields[..]
    else {
        return Err(Reason::Malformed(format!("a QR text has 13 fields, this one {}", fields.len())).into());
    };
    let kind = Kind::parse(kind).filter(|_| prefix == QR_PREFIX).ok_or_else(|| Reason::Malformed("not an invoice QR code".into()))?;
    let amount_fen = Fen(amount.parse().map_err(|_| Reason::Malformed(format!("amount {amount} is not a number of fen")))?);
    let qr = QrFields { kind, code: code.into(), number: number.into(), check_code: check_code.into(), date: date.into(), amount_fen };
    let certificate = Certificate {
        hospital_code: hospital_code.into(),
        key_id: key_id.into(),
        public_key: public_key.into(),
        valid_from: valid_from.into(),
        root_signature: root_signature.into(),
    };
    let dashed = qr.verified(&certificate).date;
    let public = certified_key(root, &certificate, hospital_code, &dashed)?;
    if !code_names_hospital(kind, code, hospital_code) {
        return Err(Reason::UnknownKey.into());
    }
    if !verify_with(&public, qr_message(&qr).as_bytes(), signature) {
        return Err(Reason::BadSignature.into());
    }
    Ok(qr.verified(&certificate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{Hospital, Item, Split};
    use crate::keys::RootKey;

    /// A hospital whose own software signed bad arithmetic: the signature is good, the invoice is not.
    #[test]
    fn a_validly_signed_invoice_whose_amounts_do_not_add_up_is_rejected() {
        let root = RootKey::from_seed([1; 32]);
        let key = root.certify("H001", [2; 32], "2026-01-01");
        let invoice = Invoice {
            kind: Kind::Blue,
            code: "2026H001".into(),
            number: "0000000001".into(),
            check_code: "ABCDEF".into(),
            date: "2026-03-05".into(),
            issued_at: "2026-03-05T00:00:00Z".into(),
            hospital: Hospital { code: "H001".into(), name: "医院".into() },
            payer: "张*".into(),
            settlement_id: "stl".into(),
            bus_type: "02".into(),
            items: vec![Item { category: "09".into(), name: "西药费".into(), amount_fen: Fen(100) }],
            total_fen: Fen(100),
            split: Split { fund_fen: Fen(60), bank_fen: Fen(30), ..Split::default() },
            offsets: None,
        };
        assert!(matches!(sign(invoice.clone(), &key), Err(Reason::Amounts(AmountError::SplitDoesNotAddUp { .. }))));
        let doc = SignedInvoice {
            signature: key.sign(&document_message(&invoice).expect("serializes")),
            qr_signature: key.sign(qr_message(&QrFields::of(&invoice)).as_bytes()),
            certificate: key.certificate.clone(),
            invoice,
        };
        let rejected = verify(&doc, &root.public()).expect_err("does not add up");
        assert_eq!(rejected.reason.code(), "amounts_do_not_add_up");
        assert_eq!(rejected.to_string(), "the amounts do not add up: the split adds up to ¥0.90, the total says ¥1.00");
    }

    /// Insurance only: the cash paid at the hospital's window is a part of the split of its own,
    /// and a document without it keeps the bytes (and so the signature) it always had.
    #[test]
    fn cash_collected_at_the_hospital_adds_up_and_is_left_out_when_zero() {
        let with = Split { fund_fen: Fen(60), hospital_collected_fen: Fen(40), ..Split::default() };
        assert_eq!(with.sum(), Some(Fen(100)));
        let without = serde_json::to_value(Split { fund_fen: Fen(100), ..Split::default() }).expect("serializes");
        assert!(without.get("hospital_collected_fen").is_none(), "{without}");
        let read: Split = serde_json::from_value(without).expect("a document from before reads");
        assert_eq!(read.hospital_collected_fen, Fen(0));
        assert_eq!(serde_json::to_value(with).expect("serializes")["hospital_collected_fen"], 40);
    }
}
