//! The bank protocol's JSON shapes, shared by the bank (server) and the hub's bank client.
//!
//! Every amount is integer fen in a field named `*_fen`. Requests reject unknown fields, so a
//! misspelt field is a `400 bad_request`, never silently ignored. Replies accept unknown fields,
//! and the open-ended enums a client reads (decline reasons, event types) have an `Other` case,
//! so a bank that adds one does not make its replies unreadable.

use crate::ErrorCode;
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
    /// 逾期: a credit line with a statement unpaid past its due date; refuses new authorizations
    /// (`agreement_overdue`) and becomes `active` again once every overdue statement is paid.
    /// Derived, never set: `closed` and `frozen` take precedence over it.
    Overdue,
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
    /// How long the hold may stay open, in seconds; absent means the bank's default (the
    /// reference bank: 7 days, within 1 hour ..= 90 days). Not sent when absent, so a request
    /// without it reads (and is fingerprinted) as before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_s: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    pub request_id: String,
    pub authorization_request_id: String,
    pub amount_fen: Fen,
}

/// 扣款 (since 1.5.0): takes `amount_fen` from the agreement for the merchant in one request, a hold
/// and its capture at once, for an amount that is already final (the doctor's click, after
/// insurance has settled). Judged as a hold of that amount would be: approved, it is `captured`
/// (a refund names it as its `capture_request_id`); otherwise `declined` with a `decline_code`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    pub request_id: String,
    pub agreement_id: String,
    pub amount_fen: Fen,
    /// The hospital (merchant) the money is for.
    pub merchant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
}

/// 增量授权 (since 1.3.0): raises an open hold by `amount_fen`, e.g. an inpatient deposit as the
/// charges approach it. Approved when the agreement could take a new hold of that amount, and
/// then the hold is the sum (a capture may take up to it); declined as a hold would be
/// otherwise, leaving the hold as it was. The hold keeps its `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncrementRequest {
    pub request_id: String,
    pub authorization_request_id: String,
    pub amount_fen: Fen,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
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

/// 结算划付: the bank pays a hospital (its merchant) what it collected for it, captures less
/// refunds, by the clearing day's instruction. At most what the bank's own book says it owes the
/// merchant (`payout_exceeds_due` otherwise). Since 1.3.0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutRequest {
    pub request_id: String,
    /// The hospital, as `merchant_id` named it on the authorizations.
    pub merchant_id: String,
    pub amount_fen: Fen,
    /// The clearing day the payout settles, `YYYY-MM-DD` (China time).
    pub business_date: String,
    /// The hospital's receiving account (收款账户) from its agreement with the bank; absent when the
    /// agreement names none (the bank pays the merchant's account on its own record). Since 1.4.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payee_account: Option<String>,
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
    /// 还款: money paid back on a credit line.
    Repayment,
    /// 提额: a request to raise a credit line's limit, approved or declined.
    LimitIncrease,
    /// 增量授权: an open hold raised (`reference_request_id` names the authorization), approved
    /// or declined. Since 1.3.0.
    Increment,
    /// The bank released a hold whose `expires_at` passed (`reference_request_id` names the
    /// authorization); recorded by the bank itself, under no request of the client's.
    Expiry,
    /// 结算划付: money paid to a merchant (`agreement_id` is `merchant:<merchant_id>`). Since 1.3.0.
    Payout,
    /// 扣款: a hold and its capture in one request (`captured` or `declined`). Since 1.5.0.
    Charge,
    /// A kind this client does not know. The reference bank never sends it.
    #[serde(other)]
    Other,
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
    /// A repayment, applied to the debt.
    Posted,
    /// An expiry; and, in a status query of an approved authorization, a hold that expired
    /// before it was captured or voided.
    Expired,
    /// A payout, sent to the merchant's account. Since 1.3.0.
    PaidOut,
    /// A status this client does not know. The reference bank never sends it.
    #[serde(other)]
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineCode {
    InsufficientCredit,
    InsufficientFunds,
    AgreementClosed,
    AgreementFrozen,
    /// The credit line has a statement unpaid past its due date (逾期).
    AgreementOverdue,
    /// Limit increase: the requested limit is not above the current one.
    LimitNotIncreased,
    /// Limit increase: above the bank's maximum for a requested limit.
    LimitAboveMaximum,
    /// Limit increase: more than twice the current limit.
    LimitAboveTwiceCurrent,
    /// A reason this client does not know: still a decline. The sandbox never sends it.
    #[serde(other)]
    Other,
}

impl DeclineCode {
    /// The reason as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineCode::InsufficientCredit => "insufficient_credit",
            DeclineCode::InsufficientFunds => "insufficient_funds",
            DeclineCode::AgreementClosed => "agreement_closed",
            DeclineCode::AgreementFrozen => "agreement_frozen",
            DeclineCode::AgreementOverdue => "agreement_overdue",
            DeclineCode::LimitNotIncreased => "limit_not_increased",
            DeclineCode::LimitAboveMaximum => "limit_above_maximum",
            DeclineCode::LimitAboveTwiceCurrent => "limit_above_twice_current",
            DeclineCode::Other => "other",
        }
    }
}

impl std::fmt::Display for DeclineCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// An approved authorization (and its expiry): when the hold lapses unless captured or voided
    /// first, RFC 3339 (e.g. `2026-12-08T09:30:00+08:00`). Absent on every other operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationList {
    pub agreement_id: String,
    /// In the order the bank recorded them.
    pub operations: Vec<Operation>,
}

/// Every error the bank returns, with a 4xx or 5xx status. Only a 4xx whose code is a business
/// decline ([`ErrorCode::is_business_decline`]) is a decision about the money.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub bank_code: String,
}

// ---- the credit lifecycle: statements, repayments, limit increases, events ----

/// Where a repayment's money came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepaymentSource {
    /// The patient (or a relative) transferred money to the bank.
    BankTransfer,
    /// Paid from the medical-insurance personal account (个人账户); `reference` names the
    /// insurance center's transaction.
    PersonalAccount,
}

/// `POST /bank/v1/agreements/{id}/repayments` (还款).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepaymentRequest {
    pub request_id: String,
    pub amount_fen: Fen,
    pub source: RepaymentSource,
    /// The payer side's transaction id, e.g. the insurance center's for a personal-account payment.
    #[serde(default)]
    pub reference: Option<String>,
}

/// `POST /bank/v1/agreements/{id}/freeze` (bank staff: 冻结 / 解冻). Setting the state the
/// agreement already has changes nothing, so a repeated request is harmless.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    pub frozen: bool,
}

/// `POST /bank/v1/agreements/{id}/limit-requests` (提额).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitIncreaseRequest {
    pub request_id: String,
    pub requested_limit_fen: Fen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementStatus {
    /// Not yet due, something still owed.
    Open,
    /// Nothing owed.
    Paid,
    /// 逾期: past its due date with something still owed.
    Overdue,
}

/// One statement (账单) of a credit line: what the cycle spent, due on `due_date`.
/// Dates are `YYYY-MM-DD` in China time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub statement_id: String,
    /// The day the statement closed (账单日); the period ends the day before.
    pub statement_date: String,
    pub period_start: String,
    pub period_end: String,
    /// The last day of the interest-free period (免息期); from the next day it is overdue.
    pub due_date: String,
    /// Captured minus refunded within the period, as billed.
    pub amount_due_fen: Fen,
    /// Refunds credited to this statement after it closed.
    pub refunded_fen: Fen,
    /// Overdue interest charged so far.
    pub interest_fen: Fen,
    /// Repaid so far, interest and principal.
    pub paid_fen: Fen,
    /// `amount_due + interest − refunded − paid`.
    pub outstanding_fen: Fen,
    pub status: StatementStatus,
}

/// One posted repayment and how it was applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepaymentRecord {
    pub request_id: String,
    pub amount_fen: Fen,
    pub source: RepaymentSource,
    pub reference: Option<String>,
    /// The part that paid overdue interest.
    pub to_interest_fen: Fen,
    /// The part that paid billed principal (statements).
    pub to_statements_fen: Fen,
    /// The part that paid spending not yet billed.
    pub to_unbilled_fen: Fen,
    pub recorded_at_unix_s: i64,
}

/// `GET /bank/v1/agreements/{id}/statements`: a credit line's debt, statements and repayments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditAccount {
    pub agreement_id: String,
    pub status: AgreementStatus,
    pub limit_fen: Fen,
    /// Principal owed (billed and unbilled): what occupies the limit.
    pub used_fen: Fen,
    /// Spending since the last statement.
    pub unbilled_fen: Fen,
    /// Overdue interest charged and not yet paid; it does not occupy the limit.
    pub interest_outstanding_fen: Fen,
    /// Everything owed: `used + interest_outstanding`; the most a repayment may be.
    pub debt_fen: Fen,
    /// Owed on statements past their due date.
    pub overdue_fen: Fen,
    /// Refunds that arrived after the spending was already repaid, returned to the customer
    /// (溢缴款退回) rather than left as a negative debt.
    pub returned_fen: Fen,
    /// Oldest first.
    pub statements: Vec<Statement>,
    /// Oldest first.
    pub repayments: Vec<RepaymentRecord>,
}

/// `GET /bank/v1/agreements` (bank staff): agreements in id order, one page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementList {
    pub agreements: Vec<Agreement>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BankEventType {
    RepaymentPosted,
    LineOverdue,
    LineReinstated,
    LimitChanged,
    /// 冻结: bank staff froze the agreement (risk, fraud, the customer's request); no new holds.
    LineFrozen,
    /// 解冻: the freeze was lifted (the line may still be overdue: see `status`).
    LineUnfrozen,
    /// A type this client does not know; the rest of the event still reads. The sandbox never
    /// sends it.
    #[serde(other)]
    Other,
}

/// One entry of the bank's outbox, for the hub: what changed on a credit line, with the line's
/// amounts after the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankEvent {
    /// 1, 2, 3, … in the order recorded, without gaps.
    pub seq: u64,
    #[serde(rename = "type")]
    pub event_type: BankEventType,
    pub agreement_id: String,
    pub customer_ref: String,
    pub status: AgreementStatus,
    pub limit_fen: Fen,
    pub used_fen: Fen,
    pub available_fen: Fen,
    pub debt_fen: Fen,
    pub overdue_fen: Fen,
    /// `repayment_posted`: the amount repaid.
    pub amount_fen: Option<Fen>,
    /// `limit_changed`: the limit before.
    pub previous_limit_fen: Option<Fen>,
    /// `repayment_posted`.
    pub source: Option<RepaymentSource>,
    /// `repayment_posted`: the payer side's transaction id, if given.
    pub reference: Option<String>,
    /// The request that caused the event; absent for `line_overdue`, which the calendar causes.
    pub request_id: Option<String>,
    /// The bank's clock when recorded. Billing is lazy, so a `line_overdue` carries the time of
    /// the first request on or after the day the line fell overdue.
    pub recorded_at_unix_s: i64,
}

/// `GET /bank/v1/events?after=N`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventList {
    pub events: Vec<BankEvent>,
    /// The last sequence number in the outbox, to tell whether more pages follow.
    pub last_seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(event_type: &str) -> serde_json::Value {
        json!({"seq": 7, "type": event_type, "agreement_id": "agr-1", "customer_ref": "hub-1", "status": "overdue",
               "limit_fen": 500_000, "used_fen": 1_000, "available_fen": 499_000, "debt_fen": 1_010, "overdue_fen": 1_000,
               "amount_fen": null, "previous_limit_fen": null, "source": null, "reference": null, "request_id": null,
               "recorded_at_unix_s": 1_800_000_000})
    }

    #[test]
    fn a_bank_event_reads_with_its_type_and_an_unknown_type_still_reads() {
        let known: BankEvent = serde_json::from_value(event("line_overdue")).unwrap();
        assert_eq!((known.seq, known.event_type, known.overdue_fen), (7, BankEventType::LineOverdue, Fen(1_000)));
        let unknown: BankEvent = serde_json::from_value(event("card_reissued")).unwrap();
        assert_eq!((unknown.seq, unknown.event_type), (7, BankEventType::Other));
    }

    #[test]
    fn a_decline_for_an_unknown_reason_is_still_a_decline() {
        let op = json!({"request_id": "s1:auth", "kind": "authorization", "status": "declined", "decline_code": "card_lost",
                        "amount_fen": 100, "agreement_id": "agr-1", "reference_request_id": null, "available_fen_after": 0,
                        "recorded_at_unix_s": 0});
        let op: Operation = serde_json::from_value(op).unwrap();
        assert_eq!((op.status, op.decline_code), (OperationStatus::Declined, Some(DeclineCode::Other)));
    }

    #[test]
    fn an_expiry_reads_and_an_unknown_kind_or_status_still_reads() {
        let op = json!({"request_id": "s1:auth:expired", "kind": "expiry", "status": "expired", "decline_code": null,
                        "amount_fen": 100, "agreement_id": "agr-1", "reference_request_id": "s1:auth", "available_fen_after": 100,
                        "recorded_at_unix_s": 0, "expires_at": "2026-01-08T08:00:00+08:00"});
        let read: Operation = serde_json::from_value(op.clone()).unwrap();
        assert_eq!(
            (read.kind, read.status, read.expires_at.as_deref()),
            (OperationKind::Expiry, OperationStatus::Expired, Some("2026-01-08T08:00:00+08:00"))
        );
        assert_eq!(serde_json::to_value(&read).unwrap(), op);
        let mut newer = op;
        newer["kind"] = json!("chargeback");
        newer["status"] = json!("disputed");
        let read: Operation = serde_json::from_value(newer).unwrap();
        assert_eq!((read.kind, read.status), (OperationKind::Other, OperationStatus::Other));
    }

    #[test]
    fn an_operation_without_an_expiry_is_written_as_before() {
        let op = Operation {
            request_id: "s1:capture".into(),
            kind: OperationKind::Capture,
            status: OperationStatus::Captured,
            decline_code: None,
            amount_fen: Fen(100),
            agreement_id: "agr-1".into(),
            reference_request_id: Some("s1:auth".into()),
            available_fen_after: Fen(0),
            recorded_at_unix_s: 0,
            expires_at: None,
        };
        assert!(!serde_json::to_string(&op).unwrap().contains("expires_at"));
        let request = AuthorizationRequest {
            request_id: "s1:auth".into(),
            agreement_id: "agr-1".into(),
            amount_fen: Fen(100),
            merchant_id: "H1".into(),
            memo: None,
            expires_in_s: None,
        };
        assert!(!serde_json::to_string(&request).unwrap().contains("expires_in_s"));
    }

    #[test]
    fn an_error_body_carries_a_typed_code() {
        let body: ErrorBody = serde_json::from_value(json!({"code": "replayed_nonce", "message": "again"})).unwrap();
        assert_eq!(body.code, ErrorCode::ReplayedNonce);
        assert!(!body.code.is_business_decline());
        assert_eq!(serde_json::to_value(&body).unwrap(), json!({"code": "replayed_nonce", "message": "again"}));
    }
}
