//! The one error shape of the hub's API: `{"error": {"code": "...", "message": "..."}}` with an HTTP
//! status. Codes are stable and documented in openapi.json; messages are for people.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }
    /// A partner did not answer: the request may be retried with the same idempotency key.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }
    pub fn bad_gateway(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_GATEWAY, code, message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        match e {
            crate::store::StoreError::Conflict(message) => ApiError::conflict("conflict", message),
            crate::store::StoreError::StaleSettlement => {
                ApiError::conflict("stale_settlement", "the settlement was advanced by another request; read it again")
            }
            other => {
                // Logged without request data: store errors never carry personal data.
                tracing::error!(error = %other, "store failure");
                ApiError::internal("the hub could not complete the request; it is safe to retry with the same Idempotency-Key")
            }
        }
    }
}

impl From<crate::pii::PiiError> for ApiError {
    fn from(e: crate::pii::PiiError) -> ApiError {
        tracing::error!(error = %e, "personal-data encryption failure");
        ApiError::internal("personal data could not be processed")
    }
}

impl From<crate::insurance_client::InsuranceError> for ApiError {
    fn from(e: crate::insurance_client::InsuranceError) -> ApiError {
        use crate::insurance_client::InsuranceError::*;
        match e {
            Refused { infcode, message } => {
                ApiError::unprocessable("insurance_refused", format!("the insurance center refused ({infcode}): {message}"))
            }
            Unreachable(m) => ApiError::unavailable(
                "insurance_unavailable",
                format!("the insurance center did not answer ({m}); retry with the same Idempotency-Key"),
            ),
            BadReply(m) => ApiError::bad_gateway("insurance_bad_reply", format!("the insurance center's reply could not be read: {m}")),
        }
    }
}

impl From<crate::bank_client::BankError> for ApiError {
    fn from(e: crate::bank_client::BankError) -> ApiError {
        use crate::bank_client::BankError::*;
        match e {
            Refused { code, message } => ApiError::unprocessable("bank_refused", format!("the bank refused ({code}): {message}")),
            // Not a decision about the money (issue 9): a partner outage to the caller, never a refusal.
            Unknown { status, code, message } => ApiError::unavailable(
                "bank_unavailable",
                format!("the bank gave no decision (HTTP {status}, {code}: {message}); retry with the same Idempotency-Key"),
            ),
            Unreachable(m) => {
                ApiError::unavailable("bank_unavailable", format!("the bank did not answer ({m}); retry with the same Idempotency-Key"))
            }
            BadReply(m) => ApiError::bad_gateway("bank_bad_reply", format!("the bank's reply could not be read: {m}")),
        }
    }
}
