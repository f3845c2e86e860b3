//! The hub's client for a bank's signed protocol (`wugan_bank_protocol`): agreements, holds,
//! captures, voids, refunds, repayments, statements, the event feed and status queries, built from
//! and read into the protocol's wire types. Every money call carries a request id derived from the
//! settlement and step; the bank answers a repeated id with its first answer, so a retry is safe.
//!
//! Errors are read honestly (issue 9): [`BankError::Refused`] means only that the bank declined,
//! a 4xx whose code is a business decline ([`ErrorCode::is_business_decline`]). Everything else
//! is an unknown outcome: no answer, a 5xx, a timeout, an unreadable reply, and a 4xx that is not
//! a decision about the money (our signature, key, timestamp or nonce rejected, a malformed
//! request). The hub never shows those as the bank declining; it leaves the step where it is and
//! resolves it later by a status query, signed with a fresh nonce like every request.

use crate::metrics::{CallResult, Metrics};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use wugan_bank_protocol::wire::{self, DeclineCode, OperationStatus};
use wugan_bank_protocol::{signing, ErrorCode};
use wugan_domain::Fen;

#[derive(Debug, thiserror::Error)]
pub enum BankError {
    /// A business decline: the bank decided about the money, and this request id is final.
    #[error("bank refused ({code}): {message}")]
    Refused { code: ErrorCode, message: String },
    /// The bank answered, but not with a decision about the money: a 4xx that is not a business
    /// decline, or a 5xx. The outcome is unknown until queried (a 504 `timeout` may have committed).
    #[error("bank gave no decision (HTTP {status}, {code}): {message}")]
    Unknown { status: u16, code: ErrorCode, message: String },
    /// No answer (connection failed, timed out, or the reply was cut short): the outcome is
    /// unknown until queried.
    #[error("bank unreachable: {0}")]
    Unreachable(String),
    /// An answer that could not be read: the outcome is unknown until queried.
    #[error("bank reply unreadable: {0}")]
    BadReply(String),
}

impl BankError {
    /// Everything but a decline leaves the outcome unknown: resolve it by a status query.
    pub fn is_unknown_outcome(&self) -> bool {
        !matches!(self, BankError::Refused { .. })
    }
}

/// A bank the hub has a contract with.
#[derive(Clone, Debug)]
pub struct BankEndpoint {
    pub bank_code: String,
    pub url: String,
    pub key_id: String,
    /// What the hub signs its requests with.
    pub secret: String,
    /// What the bank signs its callbacks with: another secret, so that neither direction can be
    /// forged by one who learns the other's.
    pub callback_secret: String,
}

pub struct BankClient {
    wire: crate::partner_wire::Wire,
    pub endpoint: BankEndpoint,
    /// Where calls are counted, as `partner` (see `crate::metrics`).
    metrics: Arc<Metrics>,
    partner: String,
    /// Requests sent since start (`wugan bench` reports them per visit).
    sent: std::sync::atomic::AtomicU64,
}

/// How long an inpatient stay's hold is asked for: 90 days, the longest the bank protocol allows
/// (`expires_in_s` within 3,600..=7,776,000, docs/bank-protocol.md "Holds expire"). The bank's
/// default, 7 days, is an outpatient visit's; a stay lasts 9–10 days on average and its deposit is
/// held from admission to the bedside settlement, and a raise does not move the hold's expiry. A
/// stay that outlasts even this finds the hold expired (`hold_expired`): the stay machine then
/// takes the cash share in one charge (`wugan_domain::inpatient`, `inpatient_expiry.rs`).
pub const STAY_HOLD_S: i64 = 90 * 86_400;

/// What the bank said about an authorization (hold).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authorization {
    Approved {
        amount: Fen,
    },
    /// A declined operation without a reason reads as `DeclineCode::Other`: it is still a decline.
    Declined {
        code: DeclineCode,
    },
}

impl BankClient {
    pub fn new(endpoint: BankEndpoint, timeout: Duration) -> BankClient {
        let partner = crate::metrics::bank_partner(&endpoint.bank_code);
        let metrics = Arc::new(Metrics::new(&[], &[]));
        BankClient { wire: crate::partner_wire::Wire::http(timeout), endpoint, metrics, partner, sent: Default::default() }
    }

    /// The same client, counting its calls in `metrics`.
    pub fn metered(self, metrics: Arc<Metrics>) -> BankClient {
        BankClient { metrics, ..self }
    }

    /// The same client, handing its requests to the bank's router in this process.
    pub fn in_process(self, router: axum::Router, timeout: Duration) -> BankClient {
        BankClient { wire: crate::partner_wire::Wire::InProcess { router, timeout }, ..self }
    }

    /// Requests sent since start, retries and status queries included.
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, BankError> {
        self.send(Method::GET, path, Vec::new()).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, request: &impl Serialize) -> Result<T, BankError> {
        // Serializing the protocol's own structs cannot fail; if it did, nothing was sent.
        let body = serde_json::to_vec(request).map_err(|e| BankError::Unreachable(format!("request not sent: {e}")))?;
        self.send(Method::POST, path, body).await
    }

    /// Signs and sends one request, with a fresh nonce every time (a retry and a status query
    /// included), and reads the reply.
    async fn send<T: DeserializeOwned>(&self, method: Method, path: &str, body: Vec<u8>) -> Result<T, BankError> {
        let call = self.metrics.call(&self.partner, crate::metrics::bank_operation(method.as_str(), path));
        let (status, reply) = self.exchange(method, path, body).await?;
        call.finish(result_of(status, &reply));
        read_reply(status, &reply)
    }

    /// One signed request and its reply's status and bytes; `Err`: no (whole) answer.
    async fn exchange(&self, method: Method, path: &str, body: Vec<u8>) -> Result<(u16, axum::body::Bytes), BankError> {
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let nonce = signing::new_nonce();
        let headers =
            signing::signed_headers(&self.endpoint.key_id, &self.endpoint.secret, method.as_str(), path, &body, timestamp, &nonce);
        let url = format!("{}{}", self.endpoint.url.trim_end_matches('/'), path);
        let headers: Vec<(String, String)> = headers.into_iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let reply = self.wire.send(method, &url, &headers, body).await.map_err(BankError::Unreachable)?;
        Ok((reply.status, reply.body))
    }

    /// Opens a credit line or a debit-card agreement for a hub agreement.
    pub async fn open_agreement(&self, request: &wire::CreateAgreementRequest) -> Result<wire::Agreement, BankError> {
        self.post("/bank/v1/agreements", request).await
    }

    pub async fn agreement(&self, bank_agreement_id: &str) -> Result<wire::Agreement, BankError> {
        self.get(&format!("/bank/v1/agreements/{bank_agreement_id}")).await
    }

    pub async fn close_agreement(&self, request_id: &str, bank_agreement_id: &str) -> Result<wire::Agreement, BankError> {
        let request = wire::CloseAgreementRequest { request_id: request_id.to_string() };
        self.post(&format!("/bank/v1/agreements/{bank_agreement_id}/close"), &request).await
    }

    /// The bank's outbox after `after`: repayments posted, lines overdue, reinstated, frozen or
    /// unfrozen, limits changed. Event types this hub does not know read as `BankEventType::Other`.
    pub async fn events(&self, after: i64) -> Result<Vec<wire::BankEvent>, BankError> {
        let list: wire::EventList = self.get(&format!("/bank/v1/events?after={}&limit=500", after.max(0))).await?;
        Ok(list.events)
    }

    /// 还款: a repayment of a credit line, from a bank transfer or the insurance personal account.
    /// `reference` names the insurance center's debit when the personal account pays; without it,
    /// the patient paid by bank transfer.
    pub async fn repay(
        &self,
        request_id: &str,
        bank_agreement_id: &str,
        amount: Fen,
        reference: Option<&str>,
    ) -> Result<wire::Operation, BankError> {
        let source = match reference {
            Some(_) => wire::RepaymentSource::PersonalAccount,
            None => wire::RepaymentSource::BankTransfer,
        };
        let request = wire::RepaymentRequest {
            request_id: request_id.to_string(),
            amount_fen: amount,
            source,
            reference: reference.map(str::to_string),
        };
        self.post(&format!("/bank/v1/agreements/{bank_agreement_id}/repayments"), &request).await
    }

    /// 账单: the line's statements, repayments, debt and overdue amount.
    pub async fn statements(&self, bank_agreement_id: &str) -> Result<wire::CreditAccount, BankError> {
        self.get(&format!("/bank/v1/agreements/{bank_agreement_id}/statements")).await
    }

    /// 提额: asks the bank to raise the line's limit; a refusal is a declined operation.
    pub async fn request_limit(&self, request_id: &str, bank_agreement_id: &str, requested: Fen) -> Result<wire::Operation, BankError> {
        let request = wire::LimitIncreaseRequest { request_id: request_id.to_string(), requested_limit_fen: requested };
        self.post(&format!("/bank/v1/agreements/{bank_agreement_id}/limit-requests"), &request).await
    }

    /// The bank's own record of every operation on an agreement, for reconciliation.
    pub async fn operations(&self, bank_agreement_id: &str) -> Result<Vec<wire::Operation>, BankError> {
        let list: wire::OperationList = self.get(&format!("/bank/v1/operations?agreement_id={bank_agreement_id}")).await?;
        Ok(list.operations)
    }

    /// One page of the bank's active agreements for this client, after `after` (an agreement id).
    pub async fn active_agreements(&self, after: Option<&str>) -> Result<wire::AgreementList, BankError> {
        match after {
            Some(after) => self.get(&format!("/bank/v1/agreements?status=active&after={after}")).await,
            None => self.get("/bank/v1/agreements?status=active").await,
        }
    }

    /// The T+1 statement file (对账单) of this client for `date` (`YYYY-MM-DD`), read and checked
    /// against its trailer (docs/bank-protocol.md §6).
    pub async fn statement_file(&self, date: &str) -> Result<wugan_bank_protocol::statement::Statement, BankError> {
        let path = format!("/bank/v1/statements/{date}");
        let call = self.metrics.call(&self.partner, crate::metrics::bank_operation("GET", &path));
        let (status, reply) = self.exchange(Method::GET, &path, Vec::new()).await?;
        let result = match (200..300).contains(&status) {
            true => std::str::from_utf8(&reply).map_err(|e| BankError::BadReply(format!("statement file: {e}"))).and_then(|text| {
                wugan_bank_protocol::statement::Statement::parse_csv(text).map_err(|e| BankError::BadReply(format!("statement file: {e}")))
            }),
            false => read_reply::<serde_json::Value>(status, &reply).map(|_| Default::default()),
        };
        call.finish(if result.is_ok() { CallResult::Done } else { CallResult::Unknown });
        result
    }

    /// The bank's record of an operation, or `None` if it never received the request.
    pub async fn operation(&self, request_id: &str) -> Result<Option<wire::Operation>, BankError> {
        match self.get(&format!("/bank/v1/operations/{request_id}")).await {
            Ok(op) => Ok(Some(op)),
            Err(BankError::Unknown { code: ErrorCode::UnknownRequest, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends a money operation. When `resumed` (an earlier attempt may have reached the bank with an
    /// unknown outcome), the bank's record is queried first and the request is sent only if absent.
    async fn operate(&self, path: &str, request_id: &str, request: &impl Serialize, resumed: bool) -> Result<wire::Operation, BankError> {
        if resumed {
            if let Some(op) = self.operation(request_id).await? {
                return Ok(op);
            }
        }
        self.post(path, request).await
    }

    /// Places a hold for `amount` on the agreement, for the bank's default time (7 days: a visit's
    /// hold is captured at the doctor's click, or released).
    pub async fn authorize(
        &self,
        request_id: &str,
        bank_agreement_id: &str,
        amount: Fen,
        merchant_id: &str,
        resumed: bool,
    ) -> Result<Authorization, BankError> {
        self.authorize_for(request_id, bank_agreement_id, amount, merchant_id, None, resumed).await
    }

    /// Places an inpatient stay's deposit hold (the deposit, a fresh one, the rest held again after
    /// an interim settlement) for [`STAY_HOLD_S`], so an ordinary stay never outlives its hold. A
    /// raise (增量授权) keeps the hold's `expires_at`.
    pub async fn authorize_stay(
        &self,
        request_id: &str,
        bank_agreement_id: &str,
        amount: Fen,
        merchant_id: &str,
        resumed: bool,
    ) -> Result<Authorization, BankError> {
        self.authorize_for(request_id, bank_agreement_id, amount, merchant_id, Some(STAY_HOLD_S), resumed).await
    }

    async fn authorize_for(
        &self,
        request_id: &str,
        bank_agreement_id: &str,
        amount: Fen,
        merchant_id: &str,
        expires_in_s: Option<i64>,
        resumed: bool,
    ) -> Result<Authorization, BankError> {
        let request = wire::AuthorizationRequest {
            request_id: request_id.to_string(),
            agreement_id: bank_agreement_id.to_string(),
            amount_fen: amount,
            merchant_id: merchant_id.to_string(),
            memo: Some("seamless payment".to_string()),
            expires_in_s,
        };
        authorization_of(&self.operate("/bank/v1/authorizations", request_id, &request, resumed).await?, amount)
    }

    /// 扣款 (bank protocol 1.5.0): takes `amount`, already final, from the agreement in one call,
    /// a hold and its capture at once. `Approved` is what was taken (all of it); a decline takes
    /// nothing. Made under the settlement's capture id, so a refund names it as its capture.
    pub async fn charge(
        &self,
        request_id: &str,
        bank_agreement_id: &str,
        amount: Fen,
        merchant_id: &str,
        resumed: bool,
    ) -> Result<Authorization, BankError> {
        let request = wire::ChargeRequest {
            request_id: request_id.to_string(),
            agreement_id: bank_agreement_id.to_string(),
            amount_fen: amount,
            merchant_id: merchant_id.to_string(),
            memo: Some("seamless payment".to_string()),
        };
        let op = self.operate("/bank/v1/charges", request_id, &request, resumed).await?;
        match op.status {
            OperationStatus::Captured => Ok(Authorization::Approved { amount: op.amount_fen }),
            OperationStatus::Declined => Ok(Authorization::Declined { code: op.decline_code.unwrap_or(DeclineCode::Other) }),
            other => Err(BankError::BadReply(format!("charge status {other:?}"))),
        }
    }

    /// 增量授权 (bank protocol 1.3.0): raises an open hold by `amount`, e.g. an inpatient deposit
    /// as the charges approach it. Declined (`Authorization::Declined`) leaves the hold as it was.
    pub async fn increment(
        &self,
        request_id: &str,
        authorization_request_id: &str,
        amount: Fen,
        resumed: bool,
    ) -> Result<Authorization, BankError> {
        let request = wire::IncrementRequest {
            request_id: request_id.to_string(),
            authorization_request_id: authorization_request_id.to_string(),
            amount_fen: amount,
            memo: Some("deposit raised".to_string()),
        };
        authorization_of(&self.operate("/bank/v1/increments", request_id, &request, resumed).await?, amount)
    }

    /// Captures `amount` (≤ the hold) of an authorization; the rest of the hold is released.
    pub async fn capture(&self, request_id: &str, authorization_request_id: &str, amount: Fen, resumed: bool) -> Result<(), BankError> {
        let request = wire::CaptureRequest {
            request_id: request_id.to_string(),
            authorization_request_id: authorization_request_id.to_string(),
            amount_fen: amount,
        };
        expect_status(self.operate("/bank/v1/captures", request_id, &request, resumed).await?, OperationStatus::Captured)
    }

    pub async fn void(&self, request_id: &str, authorization_request_id: &str, resumed: bool) -> Result<(), BankError> {
        let request =
            wire::VoidRequest { request_id: request_id.to_string(), authorization_request_id: authorization_request_id.to_string() };
        expect_status(self.operate("/bank/v1/voids", request_id, &request, resumed).await?, OperationStatus::Voided)
    }

    pub async fn refund(&self, request_id: &str, capture_request_id: &str, amount: Fen, resumed: bool) -> Result<(), BankError> {
        let request = wire::RefundRequest {
            request_id: request_id.to_string(),
            capture_request_id: capture_request_id.to_string(),
            amount_fen: amount,
        };
        expect_status(self.operate("/bank/v1/refunds", request_id, &request, resumed).await?, OperationStatus::Refunded)
    }

    /// 结算划付: pays the hospital `merchant_id` what the bank collected for it (clearing). A
    /// resumed instruction is queried first; a repeat under the same id is answered, not paid twice.
    pub async fn payout(
        &self,
        request_id: &str,
        merchant_id: &str,
        amount: Fen,
        business_date: &str,
        payee_account: Option<&str>,
        resumed: bool,
    ) -> Result<(), BankError> {
        let request = wire::PayoutRequest {
            request_id: request_id.to_string(),
            merchant_id: merchant_id.to_string(),
            amount_fen: amount,
            business_date: business_date.to_string(),
            payee_account: payee_account.map(str::to_string),
        };
        expect_status(self.operate("/bank/v1/payouts", request_id, &request, resumed).await?, OperationStatus::PaidOut)
    }
}

/// What an authorization's record (its reply, or a status query after an unknown outcome) says.
fn authorization_of(op: &wire::Operation, amount: Fen) -> Result<Authorization, BankError> {
    match op.status {
        // Approved, and expired since (a status query long after): the hold was given; the
        // capture will be declined as `hold_expired`, and the saga bills the patient.
        OperationStatus::Approved | OperationStatus::Expired => Ok(Authorization::Approved { amount }),
        OperationStatus::Declined => Ok(Authorization::Declined { code: op.decline_code.unwrap_or(DeclineCode::Other) }),
        other => Err(BankError::BadReply(format!("authorization status {other:?}"))),
    }
}

/// How a reply reads for the metrics: a decline (an error that is one, or an operation declined) is
/// refused; "no such request" answers a status query; anything else that is not a success is unknown.
fn result_of(status: u16, reply: &[u8]) -> CallResult {
    match read_reply::<serde_json::Value>(status, reply) {
        Ok(body) if body.get("status").and_then(|s| s.as_str()) == Some("declined") => CallResult::Refused,
        Ok(_) | Err(BankError::Unknown { code: ErrorCode::UnknownRequest, .. }) => CallResult::Done,
        Err(BankError::Refused { .. }) => CallResult::Refused,
        Err(_) => CallResult::Unknown,
    }
}

fn expect_status(op: wire::Operation, expected: OperationStatus) -> Result<(), BankError> {
    match op.status {
        status if status == expected => Ok(()),
        other => Err(BankError::BadReply(format!("expected status {expected:?}, got {other:?}"))),
    }
}

/// Reads one reply. A 2xx must parse as `T`. An error is a refusal only when it is a 4xx whose
/// code is a business decline; any other error, readable or not, leaves the outcome unknown.
fn read_reply<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, BankError> {
    let body = crate::without_bom(body);
    if (200..300).contains(&status) {
        return serde_json::from_slice(body).map_err(|e| BankError::BadReply(format!("HTTP {status}: {e}")));
    }
    match serde_json::from_slice::<wire::ErrorBody>(body) {
        Ok(error) if (400..500).contains(&status) && error.code.is_business_decline() => {
            Err(BankError::Refused { code: error.code, message: error.message })
        }
        Ok(error) => Err(BankError::Unknown { status, code: error.code, message: error.message }),
        // A gateway or proxy in front of the bank answered for it: as good as no answer.
        Err(_) if status >= 500 => Err(BankError::Unreachable(format!("HTTP {status}"))),
        Err(_) => Err(BankError::BadReply(format!("HTTP {status} with an unreadable error body"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How the hub reads a reply: `ok`, `refused` (the bank declined) or `unknown` (query it).
    fn check(status: u16, body: &str, expect: &str) {
        let got = match read_reply::<wire::Health>(status, body.as_bytes()) {
            Ok(_) => "ok",
            Err(e @ BankError::Refused { .. }) => {
                assert!(!e.is_unknown_outcome());
                "refused"
            }
            Err(e) => {
                assert!(e.is_unknown_outcome(), "{e}");
                "unknown"
            }
        };
        assert_eq!(got, expect, "HTTP {status} {body}");
    }

    fn error(code: &str) -> String {
        format!(r#"{{"code":"{code}","message":"…"}}"#)
    }

    #[test]
    fn only_a_business_decline_is_a_refusal() {
        check(200, r#"{"status":"ok","bank_code":"BANK01"}"#, "ok");
        check(200, "\u{FEFF}{\"status\":\"ok\",\"bank_code\":\"BANK01\"}", "ok");
        check(402, &format!("\u{FEFF}{}", error("insufficient_funds")), "refused");
        // The bank decided about the money.
        for code in
            ["unknown_agreement", "authorization_not_open", "hold_expired", "capture_exceeds_authorization", "refund_exceeds_capture"]
        {
            check(409, &error(code), "refused");
        }
        check(404, &error("unknown_agreement"), "refused");
        check(409, &error("repayment_exceeds_debt"), "refused");
        check(402, &error("insufficient_credit"), "refused");
        check(403, &error("agreement_frozen"), "refused");
        // Our own request was not taken up: the bank said nothing about the money.
        for code in ["bad_signature", "replayed_nonce", "stale_timestamp", "unknown_key", "missing_auth"] {
            check(401, &error(code), "unknown");
        }
        check(400, &error("bad_request"), "unknown");
        check(413, &error("body_too_large"), "unknown");
        check(404, &error("not_found"), "unknown");
        check(409, &error("request_id_reused"), "unknown");
        check(404, &error("unknown_authorization"), "unknown");
        check(404, &error("unknown_request"), "unknown");
        check(422, &error("a_code_nobody_told_us_about"), "unknown");
        // The bank's own trouble, even if it names a decline.
        check(500, &error("internal_error"), "unknown");
        check(503, &error("unavailable"), "unknown");
        check(504, &error("timeout"), "unknown");
        check(500, &error("insufficient_credit"), "unknown");
        // Unreadable replies.
        check(200, "<html>", "unknown");
        check(402, "", "unknown");
        check(502, "<html>bad gateway</html>", "unknown");
    }

    #[test]
    fn an_authorization_reads_as_approved_declined_or_unreadable() {
        let check = |status: &str, decline: Option<&str>, expect: &str| {
            let op = serde_json::json!({"request_id": "s1:auth", "kind": "authorization", "status": status, "decline_code": decline,
                "amount_fen": 100, "agreement_id": "agr-1", "reference_request_id": null, "available_fen_after": 0, "recorded_at_unix_s": 0});
            let op: wire::Operation = serde_json::from_value(op).expect("reads");
            let got = match authorization_of(&op, Fen(100)) {
                Ok(Authorization::Approved { amount }) => format!("approved {}", amount.0),
                Ok(Authorization::Declined { code }) => format!("declined {code}"),
                Err(e) => format!("unknown: {}", e.is_unknown_outcome()),
            };
            assert_eq!(got, expect, "{status}");
        };
        check("approved", None, "approved 100");
        // Found by a status query after the hold expired: given, and the capture will say so.
        check("expired", None, "approved 100");
        check("declined", Some("insufficient_credit"), "declined insufficient_credit");
        check("declined", None, "declined other");
        check("captured", None, "unknown: true");
        check("a_status_from_a_newer_bank", None, "unknown: true");
    }

    #[test]
    fn an_unknown_request_keeps_its_code_for_the_status_query() {
        let read = read_reply::<wire::Operation>(404, error("unknown_request").as_bytes());
        assert!(matches!(read, Err(BankError::Unknown { status: 404, code: ErrorCode::UnknownRequest, .. })), "{read:?}");
    }
}
