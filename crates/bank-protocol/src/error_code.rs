//! The protocol's error codes: the `code` of every error body ([`crate::wire::ErrorBody`]) a bank
//! answers with, and what each one means for the money.
//!
//! The one question a client must answer about an error is whether the bank *decided* about the
//! money. A business decline is a decision: the request is final under its request id, nothing
//! moved, and the customer's agreement cannot pay this. Every other error is not a decision: the
//! bank did not authenticate, could not read, or could not handle the request. A client must never
//! show such an error as "the bank declined"; it finds out what happened with a status query
//! (`GET /bank/v1/operations/{request_id}`, signed afresh) and sends the request again if absent.

use crate::wire::DeclineCode;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One error code. Unknown codes are kept as [`ErrorCode::Other`] and are never a decline.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ErrorCode {
    // ---- business declines ----
    /// No such agreement: nothing can be held on it, captured from it or repaid to it.
    UnknownAgreement,
    /// The hold is no longer open (declined, voided, already captured).
    AuthorizationNotOpen,
    /// The hold expired at the bank (its `expires_at` passed) before it was captured or voided:
    /// the money is free again and cannot be captured on this hold.
    HoldExpired,
    /// A capture of more than the hold.
    CaptureExceedsAuthorization,
    /// Refunds of more than was captured.
    RefundExceedsCapture,
    /// A repayment of more than the line owes.
    RepaymentExceedsDebt,
    /// A payout of more than the bank collected for the merchant, less what it paid out already.
    PayoutExceedsDue,
    /// A decline reason as an error code. The sandbox answers these as a declined operation
    /// (`200`, `status: declined`, `decline_code`); a bank that answers them as a 4xx error body
    /// is read the same way.
    Declined(DeclineCode),

    // ---- the request, as sent, could not be handled ----
    /// Status query: the bank has no request with this id from this caller.
    UnknownRequest,
    /// The authorization a capture or void names is not known (yet): a retry may succeed.
    UnknownAuthorization,
    /// The capture a refund names is not known (yet): a retry may succeed.
    UnknownCapture,
    /// The request id was already used with a different request: a bug of the caller.
    RequestIdReused,
    /// Malformed: a field missing, misspelt, out of range or of the wrong type.
    BadRequest,
    BodyTooLarge,
    /// No such endpoint.
    NotFound,
    MethodNotAllowed,

    // ---- authentication: the bank did not look at the request ----
    MissingAuth,
    UnknownKey,
    StaleTimestamp,
    BadSignature,
    ReplayedNonce,
    /// The key is known and the signature good, but this key may not do this (a client key
    /// asking for a staff action).
    Forbidden,

    // ---- the bank side ----
    /// Too many requests within the replay window (the nonce cache is full).
    Busy,
    /// Refused before handling; nothing was done.
    Unavailable,
    InternalError,
    /// The outcome is unknown: query the operation.
    Timeout,

    /// A code this client does not know, as received.
    Other(String),
}

/// What an error code says about the money, for logs and for the one decision a client makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// A decision about the money: final for this request id, and nothing moved.
    BusinessDecline,
    /// The request as sent could not be handled (malformed, unknown endpoint or reference,
    /// reused id); nothing moved, but this is not the customer's bank saying no.
    Request,
    /// The caller's key, signature, timestamp or nonce was not accepted.
    Authentication,
    /// The bank could not handle the request now; the outcome may be unknown (`timeout`).
    BankSide,
    /// A code this client does not know.
    Unrecognized,
}

impl ErrorCode {
    /// Every code with a name of its own, for parsing.
    const NAMED: &'static [ErrorCode] = &[
        ErrorCode::UnknownAgreement,
        ErrorCode::AuthorizationNotOpen,
        ErrorCode::HoldExpired,
        ErrorCode::CaptureExceedsAuthorization,
        ErrorCode::RefundExceedsCapture,
        ErrorCode::RepaymentExceedsDebt,
        ErrorCode::PayoutExceedsDue,
        ErrorCode::Declined(DeclineCode::InsufficientCredit),
        ErrorCode::Declined(DeclineCode::InsufficientFunds),
        ErrorCode::Declined(DeclineCode::AgreementClosed),
        ErrorCode::Declined(DeclineCode::AgreementFrozen),
        ErrorCode::Declined(DeclineCode::AgreementOverdue),
        ErrorCode::Declined(DeclineCode::LimitNotIncreased),
        ErrorCode::Declined(DeclineCode::LimitAboveMaximum),
        ErrorCode::Declined(DeclineCode::LimitAboveTwiceCurrent),
        ErrorCode::UnknownRequest,
        ErrorCode::UnknownAuthorization,
        ErrorCode::UnknownCapture,
        ErrorCode::RequestIdReused,
        ErrorCode::BadRequest,
        ErrorCode::BodyTooLarge,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::MissingAuth,
        ErrorCode::UnknownKey,
        ErrorCode::StaleTimestamp,
        ErrorCode::BadSignature,
        ErrorCode::ReplayedNonce,
        ErrorCode::Forbidden,
        ErrorCode::Busy,
        ErrorCode::Unavailable,
        ErrorCode::InternalError,
        ErrorCode::Timeout,
    ];

    /// Reads a code as received; an unknown one becomes [`ErrorCode::Other`].
    pub fn parse(code: &str) -> ErrorCode {
        ErrorCode::NAMED.iter().find(|named| named.as_str() == code).cloned().unwrap_or_else(|| ErrorCode::Other(code.to_string()))
    }

    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::UnknownAgreement => "unknown_agreement",
            ErrorCode::AuthorizationNotOpen => "authorization_not_open",
            ErrorCode::HoldExpired => "hold_expired",
            ErrorCode::CaptureExceedsAuthorization => "capture_exceeds_authorization",
            ErrorCode::RefundExceedsCapture => "refund_exceeds_capture",
            ErrorCode::RepaymentExceedsDebt => "repayment_exceeds_debt",
            ErrorCode::PayoutExceedsDue => "payout_exceeds_due",
            ErrorCode::Declined(reason) => reason.as_str(),
            ErrorCode::UnknownRequest => "unknown_request",
            ErrorCode::UnknownAuthorization => "unknown_authorization",
            ErrorCode::UnknownCapture => "unknown_capture",
            ErrorCode::RequestIdReused => "request_id_reused",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::MissingAuth => "missing_auth",
            ErrorCode::UnknownKey => "unknown_key",
            ErrorCode::StaleTimestamp => "stale_timestamp",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::ReplayedNonce => "replayed_nonce",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Busy => "busy",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Other(code) => code,
        }
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            ErrorCode::UnknownAgreement
            | ErrorCode::AuthorizationNotOpen
            | ErrorCode::HoldExpired
            | ErrorCode::CaptureExceedsAuthorization
            | ErrorCode::RefundExceedsCapture
            | ErrorCode::RepaymentExceedsDebt
            | ErrorCode::PayoutExceedsDue
            | ErrorCode::Declined(_) => ErrorClass::BusinessDecline,
            ErrorCode::UnknownRequest
            | ErrorCode::UnknownAuthorization
            | ErrorCode::UnknownCapture
            | ErrorCode::RequestIdReused
            | ErrorCode::BadRequest
            | ErrorCode::BodyTooLarge
            | ErrorCode::NotFound
            | ErrorCode::MethodNotAllowed => ErrorClass::Request,
            ErrorCode::MissingAuth
            | ErrorCode::UnknownKey
            | ErrorCode::StaleTimestamp
            | ErrorCode::BadSignature
            | ErrorCode::ReplayedNonce
            | ErrorCode::Forbidden => ErrorClass::Authentication,
            ErrorCode::Busy | ErrorCode::Unavailable | ErrorCode::InternalError | ErrorCode::Timeout => ErrorClass::BankSide,
            ErrorCode::Other(_) => ErrorClass::Unrecognized,
        }
    }

    /// Whether the bank decided about the money. Everything else (authentication, a malformed
    /// request, the bank's own trouble, an unknown code) is not a decision, whatever its status.
    pub fn is_business_decline(&self) -> bool {
        self.class() == ErrorClass::BusinessDecline
    }
}

impl From<String> for ErrorCode {
    fn from(code: String) -> ErrorCode {
        ErrorCode::parse(&code)
    }
}

impl From<ErrorCode> for String {
    fn from(code: ErrorCode) -> String {
        code.as_str().to_string()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::*;

    #[test]
    fn every_code_the_bank_answers_is_classified() {
        let check = |code: &str, expect: ErrorClass| {
            let parsed = ErrorCode::parse(code);
            assert_eq!(parsed.class(), expect, "{code}");
            assert_eq!(parsed.is_business_decline(), expect == BusinessDecline, "{code}");
            assert_eq!(parsed.as_str(), code, "{code} reads back as itself");
        };
        // The book's errors (book.rs, BookError::code).
        check("unknown_agreement", BusinessDecline);
        check("authorization_not_open", BusinessDecline);
        check("hold_expired", BusinessDecline);
        check("capture_exceeds_authorization", BusinessDecline);
        check("refund_exceeds_capture", BusinessDecline);
        check("repayment_exceeds_debt", BusinessDecline);
        check("payout_exceeds_due", BusinessDecline);
        check("unknown_authorization", Request);
        check("unknown_capture", Request);
        check("unknown_request", Request);
        check("request_id_reused", Request);
        check("bad_request", Request);
        // Decline reasons, should a bank answer them as an error.
        for reason in [
            "insufficient_credit",
            "insufficient_funds",
            "agreement_closed",
            "agreement_frozen",
            "agreement_overdue",
            "limit_not_increased",
            "limit_above_maximum",
            "limit_above_twice_current",
        ] {
            check(reason, BusinessDecline);
        }
        // Authentication (signing.rs, AuthError::code).
        for code in ["missing_auth", "unknown_key", "stale_timestamp", "bad_signature", "replayed_nonce"] {
            check(code, Authentication);
        }
        // The HTTP layer (http.rs).
        check("body_too_large", Request);
        check("not_found", Request);
        check("method_not_allowed", Request);
        for code in ["busy", "unavailable", "internal_error", "timeout"] {
            check(code, BankSide);
        }
        // Anything else is never a decline.
        check("card_lost", Unrecognized);
        check("", Unrecognized);
    }

    #[test]
    fn named_codes_are_unique_and_match_the_decline_codes_on_the_wire() {
        let mut names: Vec<&str> = ErrorCode::NAMED.iter().map(ErrorCode::as_str).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::NAMED.len(), "two codes share a name");
        for code in ErrorCode::NAMED {
            if let ErrorCode::Declined(reason) = code {
                assert_eq!(serde_json::to_value(reason).unwrap(), serde_json::json!(code.as_str()));
            }
        }
    }

    #[test]
    fn codes_travel_as_plain_strings() {
        let json = serde_json::to_string(&ErrorCode::BadSignature).unwrap();
        assert_eq!(json, r#""bad_signature""#);
        let read: ErrorCode = serde_json::from_str(r#""agreement_frozen""#).unwrap();
        assert_eq!(read, ErrorCode::Declined(DeclineCode::AgreementFrozen));
        let unknown: ErrorCode = serde_json::from_str(r#""card_lost""#).unwrap();
        assert_eq!(unknown, ErrorCode::Other("card_lost".to_string()));
        assert_eq!(unknown.to_string(), "card_lost");
    }
}
