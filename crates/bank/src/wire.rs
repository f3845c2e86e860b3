//! The bank protocol's JSON shapes, shared by the bank (server) and the hub's bank client.
//!
//! Every amount is integer fen in a field named `*_fen`. Requests reject unknown fields, so a
//! misspelt field is a `400 bad_request`, never silently ignored.

use serde::{Deserialize, Serialize};
use wugan_domain::money::Fen;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementKind {
    /// A credit line (授信额度): the bank pays now, the patient repays the bank later.
    CreditLine,
    /// A debit card agreement (签约扣款): the card's balance pays at once.
    DebitCard,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementStatus {
    Active,
    /// Set by the bank (overdue, risk); refuses new authorizations.
    Frozen,
    /// Closed by the hub; refuses new authorizations, but captures and refunds of existing
    /// authorizations still work, because the hospital has already been promised the money.
    Closed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAgreementRequest {
    pub request_id: String,
    pub kind: AgreementKind,
    /// The hub's own agreement id, echoed back so both sides can be reconciled.
    pub customer_ref: String,
    #[serde(default)]
    pub holder_name: Option<String>,
    /// Debit card only: the card number, digits.
    #[serde(default)]
    pub card_no: Option<String>,
    /// Credit line only; absent means the bank's default limit.
    #[serde(default)]
    pub limit_fen: Option<Fen>,
    /// Debit card only, sandbox: the card's opening balance; absent means the bank's default.
    #[serde(default)]
    pub opening_balance_fen: Option<Fen>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseAgreementRequest {
    pub request_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    pub agreement_id: String,
    pub kind: AgreementKind,
    pub status: AgreementStatus,
    pub customer_ref: String,
    /// Credit line only.
    pub limit_fen: Option<Fen>,
    /// Credit line: captured and not yet refunded (or repaid). Debit card: always zero.
    pub used_fen: Fen,
    /// Open authorizations (holds).
    pub held_fen: Fen,
    /// What a new authorization may take: `limit − used − held` (credit), `balance − held` (debit).
    pub available_fen: Fen,
    /// Debit card only.
    pub balance_fen: Option<Fen>,
    /// Debit card only: the last four digits, never the whole number (personal data).
    pub card_last4: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationRequest {
    pub request_id: String,
    pub agreement_id: String,
    pub amount_fen: Fen,
    /// The hospital (merchant) the money is for.
    pub merchant_id: String,
    #[serde(default)]
    pub memo: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    pub request_id: String,
    pub authorization_request_id: String,
    pub amount_fen: Fen,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    pub request_id: String,
    pub authorization_request_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    pub request_id: String,
    pub capture_request_id: String,
    pub amount_fen: Fen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    OpenAgreement,
    CloseAgreement,
    Authorization,
    Capture,
    Void,
    Refund,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    Opened,
    Closed,
    Approved,
    Declined,
    Captured,
    Voided,
    Refunded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineCode {
    InsufficientCredit,
    InsufficientFunds,
    AgreementClosed,
    AgreementFrozen,
}

/// One recorded operation. Declines are operations too: a business outcome, recorded and
/// replayable, so the hub's status query after a timeout sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub request_id: String,
    pub kind: OperationKind,
    pub status: OperationStatus,
    pub decline_code: Option<DeclineCode>,
    /// Authorization: the amount asked; capture/refund: the amount moved; void: the hold
    /// released; open agreement: the limit or opening balance; close: zero.
    pub amount_fen: Fen,
    pub agreement_id: String,
    /// The authorization a capture or void refers to, or the capture a refund refers to.
    pub reference_request_id: Option<String>,
    pub available_fen_after: Fen,
    /// The bank's clock when the operation was recorded.
    pub recorded_at_unix_s: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationList {
    pub agreement_id: String,
    /// In the order the bank recorded them.
    pub operations: Vec<Operation>,
}

/// Every error the bank returns, with a 4xx or 5xx status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub bank_code: String,
}
