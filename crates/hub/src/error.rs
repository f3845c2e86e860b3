//! The one error type of the hub's use cases, [`AppError`], and its one mapping to HTTP: a status
//! and `{"error": {"code": "...", "message": "..."}}`. Codes are stable and documented in
//! openapi.json; messages are for people. Use cases decide on variants, never on codes or statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppError {
    /// The request is malformed (400).
    BadRequest { code: &'static str, message: String },
    /// No valid credentials (401).
    Unauthorized { code: &'static str, message: String },
    /// Valid credentials, wrong kind of caller (403).
    Forbidden { message: String },
    /// The thing named does not exist, or is not the caller's (404).
    NotFound { code: &'static str, message: String },
    /// The request conflicts with the current state (409).
    Conflict { code: &'static str, message: String },
    /// A conflict with a thing that exists, named in the error's body (`visit_exists` carries
    /// `visit_id`, so that an HIS that lost the first answer finds its visit) (409).
    Exists { code: &'static str, message: String, field: &'static str, id: String },
    /// Well-formed but not acceptable, including a partner's business refusal (422).
    Invalid { code: &'static str, message: String },
    /// A partner's answer is unknown (no answer, a 5xx, our own request not accepted by its
    /// gateway): the work may be retried with the same Idempotency-Key and resumes (503).
    Unavailable { code: &'static str, message: String },
    /// A partner answered something that cannot be trusted or read (502). Also retried: nothing
    /// was posted on it.
    BadGateway { code: &'static str, message: String },
    /// The settlement or repayment moved on since it was read: reload and continue.
    Stale,
    /// A rejection produced below the handlers, already an HTTP status (unknown route, body too large).
    Http { status: StatusCode, code: &'static str, message: String },
    /// A fault of the hub itself (500); details are logged, never shown.
    Internal(String),
}

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::BadRequest { code, message: message.into() }
    }
    pub fn invalid(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::Invalid { code, message: message.into() }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::Conflict { code, message: message.into() }
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::NotFound { code, message: message.into() }
    }
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::Unavailable { code, message: message.into() }
    }
    pub fn bad_gateway(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::BadGateway { code, message: message.into() }
    }
    pub fn internal(message: impl Into<String>) -> AppError {
        AppError::Internal(message.into())
    }

    /// The outcome of the work is not known yet (a partner did not answer, or answered nonsense):
    /// the answer is not stored against the Idempotency-Key, and a retry resumes the work.
    pub fn is_retryable(&self) -> bool {
        match self {
            AppError::Unavailable { .. } | AppError::BadGateway { .. } | AppError::Internal(_) => true,
            AppError::Http { status, .. } => status.is_server_error(),
            _ => false,
        }
    }

    /// Whether the answer is kept against the Idempotency-Key. Not while the outcome is unknown
    /// (`is_retryable`), nor when the request was only turned away for now: "another request is
    /// working on this, retry shortly" (`…_in_progress`, sent with Retry-After) or "waiting in
    /// the operator's exceptions queue" (`…_parked`). Kept, those would answer the same request
    /// again with the same 409 for good, though it says to retry; the same key is worked afresh.
    pub fn is_kept_against_the_key(&self) -> bool {
        let for_now = matches!(self, AppError::Conflict { code, .. } if code.ends_with("_in_progress") || code.ends_with("_parked"));
        // Nor a request the hub could not read (400: malformed JSON, an unknown field): nothing
        // was begun, and the HIS that corrects its body keeps its key (Stripe does the same).
        let unread = matches!(self, AppError::BadRequest { .. });
        !(self.is_retryable() || for_now || unread)
    }

    /// Seconds after which the same request (same Idempotency-Key) is worth sending again: while a
    /// partner's answer is unknown, or another request is still working on the same thing.
    pub fn retry_after_s(&self) -> Option<u32> {
        match self {
            AppError::Unavailable { .. } | AppError::BadGateway { .. } => Some(2),
            AppError::Conflict { code, .. } if code.ends_with("_in_progress") => Some(1),
            _ => None,
        }
    }

    /// The one mapping from a use case's error to HTTP.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } | AppError::Exists { .. } | AppError::Stale => StatusCode::CONFLICT,
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            AppError::Http { status, .. } => *status,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest { code, .. }
            | AppError::Unauthorized { code, .. }
            | AppError::NotFound { code, .. }
            | AppError::Conflict { code, .. }
            | AppError::Exists { code, .. }
            | AppError::Invalid { code, .. }
            | AppError::Unavailable { code, .. }
            | AppError::BadGateway { code, .. }
            | AppError::Http { code, .. } => code,
            AppError::Forbidden { .. } => "forbidden",
            AppError::Stale => "stale_settlement",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn message(&self) -> String {
        match self {
            AppError::BadRequest { message, .. }
            | AppError::Unauthorized { message, .. }
            | AppError::Forbidden { message }
            | AppError::NotFound { message, .. }
            | AppError::Conflict { message, .. }
            | AppError::Exists { message, .. }
            | AppError::Invalid { message, .. }
            | AppError::Unavailable { message, .. }
            | AppError::BadGateway { message, .. }
            | AppError::Http { message, .. } => message.clone(),
            AppError::Stale => "the settlement was advanced by another request; read it again".into(),
            AppError::Internal(_) => "the hub could not complete the request; it is safe to retry with the same Idempotency-Key".into(),
        }
    }

    /// The failure in an operator's words, as a parked item's reason (`/ops/exceptions`): the code
    /// and the message without the HIS's instruction to retry with its Idempotency-Key (the
    /// operator retries with a button), and a fault of the hub's own with its detail.
    pub fn for_an_operator(&self) -> String {
        let message = match self {
            AppError::Internal(detail) => detail.clone(),
            _ => self.message(),
        };
        let message = RETRY_INSTRUCTIONS.iter().fold(message, |m, tail| m.strip_suffix(tail).map(str::to_string).unwrap_or(m));
        format!("{}: {}", self.code(), message)
    }

    pub fn body(&self) -> serde_json::Value {
        if let AppError::Exists { field, id, .. } = self {
            return json!({"error": {"code": self.code(), "message": self.message(), *field: id}});
        }
        json!({"error": {"code": self.code(), "message": self.message()}})
    }
}

/// How a retryable error's message ends for the HIS; `for_an_operator` leaves it out.
const RETRY_INSTRUCTIONS: [&str; 2] = ["; then retry with the same Idempotency-Key", "; retry with the same Idempotency-Key"];

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(detail) = &self {
            // Internal details never carry personal data (store and crypto errors only).
            tracing::error!(error = %detail, "internal error");
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after_s() {
            response.headers_mut().insert("retry-after", axum::http::HeaderValue::from(seconds));
        }
        response
    }
}

impl From<crate::store::StoreError> for AppError {
    fn from(e: crate::store::StoreError) -> AppError {
        match e {
            crate::store::StoreError::Conflict(message) => AppError::conflict("conflict", message),
            crate::store::StoreError::StaleSettlement => AppError::Stale,
            crate::store::StoreError::Refused { code, message } => AppError::conflict(code, message),
            other => {
                tracing::error!(error = %other, "store failure");
                AppError::internal(other.to_string())
            }
        }
    }
}

impl From<crate::pii::PiiError> for AppError {
    fn from(e: crate::pii::PiiError) -> AppError {
        tracing::error!(error = %e, "personal-data encryption failure");
        AppError::internal("personal data could not be processed")
    }
}

/// A partner failure's own words for the caller: the hub's internal partner addresses left out
/// (a transport error names the URL it could not reach: " for url (http://…)").
fn without_addresses(m: &str) -> String {
    let mut out = m.to_string();
    while let Some(at) = out.find(" for url (") {
        let end = out[at..].find(')').map_or(out.len(), |close| at + close + 1);
        out.replace_range(at..end, "");
    }
    while let Some(at) = out.find("http://").or_else(|| out.find("https://")) {
        let end = out[at..].find([')', ' ', ',']).map_or(out.len(), |stop| at + stop);
        out.replace_range(at..end, "the partner");
    }
    out
}

/// A partner failure in the log, for the operator: personal data a reply may quote (names in
/// Chinese, ID and account numbers) masked, the length bounded.
fn for_the_log(m: &str) -> String {
    let mut out = String::new();
    let mut digits = 0;
    for c in m.chars().take(300) {
        digits = if c.is_ascii_digit() { digits + 1 } else { 0 };
        match c {
            _ if ('\u{4e00}'..='\u{9fff}').contains(&c) => out.push('*'),
            _ if digits > 6 => {}
            _ => out.push(c),
        }
    }
    out
}

impl From<crate::insurance_client::InsuranceError> for AppError {
    fn from(e: crate::insurance_client::InsuranceError) -> AppError {
        use crate::insurance_client::InsuranceError::*;
        match e {
            Refused { infcode, message } => {
                AppError::invalid("insurance_refused", format!("the insurance center refused ({infcode}): {message}"))
            }
            Unreachable(m) => {
                tracing::warn!(partner = "insurance", reason = %for_the_log(&m), "the insurance center did not answer");
                AppError::unavailable(
                    "insurance_unavailable",
                    format!("the insurance center did not answer ({}); retry with the same Idempotency-Key", without_addresses(&m)),
                )
            }
            NotConfigured(m) => {
                tracing::warn!(partner = "insurance", reason = %m, "a call to the insurance center was not made");
                AppError::unavailable("insurance_not_configured", format!("{m}; then retry with the same Idempotency-Key"))
            }
            BadReply(m) => {
                tracing::warn!(partner = "insurance", reason = %for_the_log(&m), "the insurance center's reply could not be read");
                AppError::bad_gateway(
                    "insurance_bad_reply",
                    format!("the insurance center's reply could not be read: {}", without_addresses(&m)),
                )
            }
        }
    }
}

impl From<crate::bank_client::BankError> for AppError {
    fn from(e: crate::bank_client::BankError) -> AppError {
        use crate::bank_client::BankError::*;
        match e {
            Refused { code, message } => AppError::invalid("bank_refused", format!("the bank refused ({code}): {message}")),
            // Not a decision about the money (issue 9): a partner outage to the caller, never a refusal.
            Unknown { status, code, message } => {
                tracing::warn!(partner = "bank", status, code = %code, reason = %for_the_log(&message), "the bank gave no decision");
                AppError::unavailable(
                    "bank_unavailable",
                    format!("the bank gave no decision (HTTP {status}, {code}); retry with the same Idempotency-Key"),
                )
            }
            Unreachable(m) => {
                tracing::warn!(partner = "bank", reason = %for_the_log(&m), "the bank did not answer");
                AppError::unavailable(
                    "bank_unavailable",
                    format!("the bank did not answer ({}); retry with the same Idempotency-Key", without_addresses(&m)),
                )
            }
            BadReply(m) => {
                tracing::warn!(partner = "bank", reason = %for_the_log(&m), "the bank's reply could not be read");
                AppError::bad_gateway("bank_bad_reply", format!("the bank's reply could not be read: {}", without_addresses(&m)))
            }
        }
    }
}

#[cfg(test)]
mod partner_words {
    use super::{for_the_log, without_addresses};

    #[test]
    fn an_operator_reads_the_reason_without_the_his_instruction() {
        use super::AppError;
        use crate::bank_client::BankError;
        let silent = AppError::from(BankError::Unreachable("timed out".into()));
        assert!(silent.message().ends_with("; retry with the same Idempotency-Key"));
        assert_eq!(silent.for_an_operator(), "bank_unavailable: the bank did not answer (timed out)");
        assert_eq!(AppError::internal("disk I/O error").for_an_operator(), "internal: disk I/O error");
        let refused = AppError::invalid("bank_refused", "the bank refused (closed): the line is closed");
        assert_eq!(refused.for_an_operator(), refused.to_string());
    }

    #[test]
    fn a_partner_failure_tells_the_caller_no_address_and_the_log_no_personal_data() {
        assert_eq!(
            without_addresses("error sending request for url (http://127.0.0.1:18111/fsi/api/rsfComIfsService/call)"),
            "error sending request"
        );
        assert_eq!(without_addresses("connect to https://bank.internal:8443 refused"), "connect to the partner refused");
        assert_eq!(without_addresses("timed out"), "timed out");
        assert_eq!(for_the_log("unknown person 张三 440301199001011234"), "unknown person ** 440301");
    }
}
