//! Medical e-invoices (医疗收费电子票据), pure: the document, its canonical JSON, Ed25519 signing
//! by a hospital key the root certified, the QR payload, verification and red-flush (冲红). No I/O,
//! no clock, no randomness: times, seeds and numbers are passed in. See docs/e-invoice.md.

pub mod canonical;
pub mod document;
pub mod keys;
pub mod signed;

pub use document::{
    category_name, deposit_receipt_code, invoice_code, invoice_number, items_by_category, AmountError, DepositHeld, Hospital, Invoice,
    InvoiceRef, Item, Kind, Numbered, Split, DEPOSIT_CATEGORY, DEPOSIT_CODE_PREFIX,
};
pub use keys::{Certificate, HospitalKey, KeyError, RootKey, RootPublicKey};
pub use signed::{qr_text, sign, verify, verify_json, verify_qr, Reason, Rejected, SignedInvoice, Verified, QR_PREFIX};
#[cfg(feature = "render")]
pub mod render;
