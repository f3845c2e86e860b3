//! The hub's client for a bank's signed protocol (see `wugan_bank`): agreements, holds, captures,
//! voids, refunds and status queries. Every money call carries a request id derived from the
//! settlement and step; the bank answers a repeated id with its first answer, so a retry is safe.

use serde_json::{json, Value};
use std::time::Duration;
use wugan_domain::Fen;

#[derive(Debug, thiserror::Error)]
pub enum BankError {
    /// The bank answered with a 4xx error.
    #[error("bank refused ({code}): {message}")]
    Refused { code: String, message: String },
    /// No answer: the outcome is unknown until queried.
    #[error("bank unreachable: {0}")]
    Unreachable(String),
    #[error("bank reply unreadable: {0}")]
    BadReply(String),
}

/// A bank the hub has a contract with.
#[derive(Clone, Debug)]
pub struct BankEndpoint {
    pub bank_code: String,
    pub url: String,
    pub key_id: String,
    pub secret: String,
}

pub struct BankClient {
    http: reqwest::Client,
    pub endpoint: BankEndpoint,
}

/// What the bank said about an authorization (hold).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authorization {
    Approved { amount: Fen },
    Declined { code: String },
}

impl BankClient {
    pub fn new(endpoint: BankEndpoint, timeout: Duration) -> BankClient {
        let http = reqwest::Client::builder().timeout(timeout).build().unwrap_or_default();
        BankClient { http, endpoint }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value, BankError> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let nonce = wugan_bank::signing::new_nonce();
        let headers = wugan_bank::signing::signed_headers(
            &self.endpoint.key_id,
            &self.endpoint.secret,
            method.as_str(),
            path,
            &bytes,
            timestamp,
            &nonce,
        );
        let url = format!("{}{}", self.endpoint.url.trim_end_matches('/'), path);
        let mut request = self.http.request(method, url).header("content-type", "application/json").body(bytes);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| BankError::Unreachable(e.to_string()))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(BankError::Unreachable(format!("HTTP {status}")));
        }
        let value: Value = response.json().await.map_err(|e| BankError::BadReply(e.to_string()))?;
        if status.is_client_error() {
            let code = value.get("code").and_then(Value::as_str).unwrap_or("unknown").to_string();
            let message = value.get("message").and_then(Value::as_str).unwrap_or("").to_string();
            return Err(BankError::Refused { code, message });
        }
        Ok(value)
    }

    /// Opens a credit line or a debit-card agreement for a hub agreement; returns the bank's id.
    pub async fn open_agreement(&self, request_id: &str, body: Value) -> Result<Value, BankError> {
        let mut body = body;
        body["request_id"] = json!(request_id);
        self.send(reqwest::Method::POST, "/bank/v1/agreements", Some(&body)).await
    }

    pub async fn agreement(&self, bank_agreement_id: &str) -> Result<Value, BankError> {
        self.send(reqwest::Method::GET, &format!("/bank/v1/agreements/{bank_agreement_id}"), None).await
    }

    pub async fn close_agreement(&self, request_id: &str, bank_agreement_id: &str) -> Result<Value, BankError> {
        let path = format!("/bank/v1/agreements/{bank_agreement_id}/close");
        self.send(reqwest::Method::POST, &path, Some(&json!({"request_id": request_id}))).await
    }

    /// The bank's outbox after `after`: repayments posted, lines overdue or reinstated, limits changed.
    pub async fn events(&self, after: i64) -> Result<Vec<Value>, BankError> {
        let reply = self.send(reqwest::Method::GET, &format!("/bank/v1/events?after={after}&limit=500"), None).await?;
        Ok(reply.get("events").and_then(Value::as_array).cloned().unwrap_or_default())
    }

    /// 还款: a repayment of a credit line, from a bank transfer or the insurance personal account.
    /// `reference` names the insurance center's debit when the personal account pays; without it,
    /// the patient paid by bank transfer.
    pub async fn repay(&self, request_id: &str, bank_agreement_id: &str, amount: Fen, reference: Option<&str>) -> Result<Value, BankError> {
        let body = match reference {
            Some(reference) => {
                json!({"request_id": request_id, "amount_fen": amount.0, "source": "personal_account", "reference": reference})
            }
            None => json!({"request_id": request_id, "amount_fen": amount.0, "source": "bank_transfer"}),
        };
        self.send(reqwest::Method::POST, &format!("/bank/v1/agreements/{bank_agreement_id}/repayments"), Some(&body)).await
    }

    /// 账单: the line's statements, repayments, debt and overdue amount.
    pub async fn statements(&self, bank_agreement_id: &str) -> Result<Value, BankError> {
        self.send(reqwest::Method::GET, &format!("/bank/v1/agreements/{bank_agreement_id}/statements"), None).await
    }

    /// 提额: asks the bank to raise the line's limit.
    pub async fn request_limit(&self, request_id: &str, bank_agreement_id: &str, requested: Fen) -> Result<Value, BankError> {
        let body = json!({"request_id": request_id, "requested_limit_fen": requested.0});
        self.send(reqwest::Method::POST, &format!("/bank/v1/agreements/{bank_agreement_id}/limit-requests"), Some(&body)).await
    }

    /// The bank's own record of every operation on an agreement, for reconciliation.
    pub async fn operations(&self, bank_agreement_id: &str) -> Result<Vec<Value>, BankError> {
        let reply = self.send(reqwest::Method::GET, &format!("/bank/v1/operations?agreement_id={bank_agreement_id}"), None).await?;
        Ok(reply.get("operations").and_then(Value::as_array).cloned().unwrap_or_default())
    }

    /// The bank's record of an operation, or `None` if it never received the request.
    pub async fn operation(&self, request_id: &str) -> Result<Option<Value>, BankError> {
        match self.send(reqwest::Method::GET, &format!("/bank/v1/operations/{request_id}"), None).await {
            Ok(op) => Ok(Some(op)),
            Err(BankError::Refused { code, .. }) if code == "unknown_request" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends a money operation. When `resumed` (an earlier attempt may have reached the bank with an
    /// unknown outcome), the bank's record is queried first and the request is sent only if absent.
    async fn operate(&self, path: &str, body: Value, resumed: bool) -> Result<Value, BankError> {
        if resumed {
            let request_id = body.get("request_id").and_then(Value::as_str).unwrap_or_default();
            if let Some(op) = self.operation(request_id).await? {
                return Ok(op);
            }
        }
        self.send(reqwest::Method::POST, path, Some(&body)).await
    }

    /// Places a hold for `amount` on the agreement.
    pub async fn authorize(
        &self,
        request_id: &str,
        bank_agreement_id: &str,
        amount: Fen,
        merchant_id: &str,
        resumed: bool,
    ) -> Result<Authorization, BankError> {
        let body = json!({"request_id": request_id, "agreement_id": bank_agreement_id, "amount_fen": amount.0, "merchant_id": merchant_id, "memo": "seamless payment"});
        let reply = self.operate("/bank/v1/authorizations", body, resumed).await?;
        match reply.get("status").and_then(Value::as_str) {
            Some("approved") => Ok(Authorization::Approved { amount }),
            Some("declined") => {
                let code = reply.get("decline_code").and_then(Value::as_str).unwrap_or("declined").to_string();
                Ok(Authorization::Declined { code })
            }
            other => Err(BankError::BadReply(format!("authorization status {other:?}"))),
        }
    }

    /// Captures `amount` (≤ the hold) of an authorization; the rest of the hold is released.
    pub async fn capture(&self, request_id: &str, authorization_request_id: &str, amount: Fen, resumed: bool) -> Result<(), BankError> {
        let body = json!({"request_id": request_id, "authorization_request_id": authorization_request_id, "amount_fen": amount.0});
        self.expect_status(self.operate("/bank/v1/captures", body, resumed).await?, "captured")
    }

    pub async fn void(&self, request_id: &str, authorization_request_id: &str, resumed: bool) -> Result<(), BankError> {
        let body = json!({"request_id": request_id, "authorization_request_id": authorization_request_id});
        self.expect_status(self.operate("/bank/v1/voids", body, resumed).await?, "voided")
    }

    pub async fn refund(&self, request_id: &str, capture_request_id: &str, amount: Fen, resumed: bool) -> Result<(), BankError> {
        let body = json!({"request_id": request_id, "capture_request_id": capture_request_id, "amount_fen": amount.0});
        self.expect_status(self.operate("/bank/v1/refunds", body, resumed).await?, "refunded")
    }

    fn expect_status(&self, reply: Value, expected: &str) -> Result<(), BankError> {
        match reply.get("status").and_then(Value::as_str) {
            Some(s) if s == expected => Ok(()),
            other => Err(BankError::BadReply(format!("expected status {expected}, got {other:?}"))),
        }
    }
}
