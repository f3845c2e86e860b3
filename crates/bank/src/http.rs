//! The thin HTTP layer: authentication, fault injection, JSON in and out, and the one mapping of
//! errors to status codes. Every decision about money is in [`crate::book`].

use crate::book::{BookError, Command, Reply};
use crate::faults::BeforeHandling;
use crate::signing::{self, AuthError, SignedParts};
use crate::wire::{self, ErrorBody, Health, OperationList};
use crate::{ApplyError, Bank, ErrorCode, Refusal, Signature};
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// The largest request body read; every bank request is far smaller.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The bank's HTTP interface. `GET /health` is unsigned; everything under `/bank/v1` is signed.
/// The signature covers the path as this router sees it, so mount it at the root, not nested.
///
/// Billing (statements, overdue, interest) is brought up to the clock's day before every signed
/// request is handled, so reads see the same state a command would.
pub fn router(bank: Arc<Bank>) -> Router {
    let signed = Router::new()
        .route("/bank/v1/agreements", post(open_agreement).get(list_agreements))
        .route("/bank/v1/agreements/{agreement_id}", get(get_agreement))
        .route("/bank/v1/agreements/{agreement_id}/close", post(close_agreement))
        .route("/bank/v1/agreements/{agreement_id}/repayments", post(repay))
        .route("/bank/v1/agreements/{agreement_id}/limit-requests", post(request_limit_increase))
        .route("/bank/v1/agreements/{agreement_id}/statements", get(get_statements))
        .route("/bank/v1/agreements/{agreement_id}/freeze", post(freeze))
        .route("/bank/v1/events", get(list_events))
        .route("/bank/v1/authorizations", post(authorize))
        .route("/bank/v1/captures", post(capture))
        .route("/bank/v1/charges", post(charge))
        .route("/bank/v1/increments", post(increment))
        .route("/bank/v1/voids", post(void))
        .route("/bank/v1/refunds", post(refund))
        .route("/bank/v1/payouts", post(payout))
        .route("/bank/v1/operations", get(list_operations))
        .route("/bank/v1/operations/{request_id}", get(get_operation))
        .route("/bank/v1/statements/{date}", get(get_statement_file))
        // Layers run outside in: authenticate first, so faults only touch signed requests;
        // billing last, just before the handler.
        .route_layer(middleware::from_fn_with_state(bank.clone(), bill_before))
        .route_layer(middleware::from_fn_with_state(bank.clone(), inject_faults_before))
        .route_layer(middleware::from_fn_with_state(bank.clone(), authenticate));
    Router::new()
        .route("/health", get(health))
        .merge(signed)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(bank)
}

/// Every error the bank answers with, mapped to status and body in one place.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(code = %self.code, message = %self.message, "bank answers with a server error");
        }
        let body = ErrorBody { code: self.code, message: self.message };
        (self.status, Json(body)).into_response()
    }
}

impl From<BookError> for ApiError {
    fn from(e: BookError) -> ApiError {
        let status = match e {
            BookError::BadRequest(_) => StatusCode::BAD_REQUEST,
            BookError::UnknownAgreement(_)
            | BookError::UnknownAuthorization(_)
            | BookError::UnknownCapture(_)
            | BookError::UnknownRequest(_) => StatusCode::NOT_FOUND,
            BookError::AuthorizationNotOpen(_)
            | BookError::HoldExpired(_)
            | BookError::CaptureExceedsAuthorization { .. }
            | BookError::RefundExceedsCapture { .. }
            | BookError::RepaymentExceedsDebt { .. }
            | BookError::PayoutExceedsDue { .. }
            | BookError::RequestIdReused(_) => StatusCode::CONFLICT,
            BookError::CardClosed(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<ApplyError> for ApiError {
    fn from(e: ApplyError) -> ApiError {
        match e {
            ApplyError::Book(e) => ApiError::from(e),
            ApplyError::NotRecorded(_) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError, e.to_string()),
            ApplyError::Stopped(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, e.to_string()),
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        let (code, message) = match refusal {
            Refusal::SignedBeforeStart => (ErrorCode::StaleTimestamp, "signed before the bank (re)started: sign the request again"),
            Refusal::SeenBeforeRestart => (ErrorCode::ReplayedNonce, "nonce was already used within the replay window"),
        };
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        let status = match e {
            AuthError::NonceCacheFull => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> ApiError {
        ApiError::bad_request(e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::bad_request(e.body_text())
    }
}

fn reply_response(reply: Reply) -> Response {
    match reply {
        Reply::Agreement(a) => Json(a).into_response(),
        Reply::Operation(op) => Json(op).into_response(),
    }
}

/// The caller's signature; request ids are scoped to its key id.
fn signature_of(req: &Request) -> Option<Signature> {
    req.extensions().get::<Signature>().cloned()
}

// ---- who may do what ----

/// Staff actions (freeze, unfreeze) need a staff key; a client key is refused.
fn staff_only(bank: &Bank, caller: &Signature) -> Result<(), ApiError> {
    match bank.is_staff(&caller.key_id) {
        true => Ok(()),
        false => Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, "bank staff only: this key is a client's")),
    }
}

/// A client sees and uses only the agreements it opened: another client's answers exactly like
/// a missing one (404 `unknown_agreement`). Staff may read any.
async fn own_agreement(bank: &Bank, caller: &Signature, agreement_id: &str) -> Result<(), ApiError> {
    if bank.is_staff(&caller.key_id) {
        return Ok(());
    }
    let owner = bank.query(|book| Ok(book.agreement_owner(agreement_id).map(str::to_string))).await?;
    match owner {
        Some(owner) if owner != caller.key_id => Err(ApiError::from(BookError::UnknownAgreement(agreement_id.to_string()))),
        _ => Ok(()),
    }
}

// ---- middleware ----

/// Reads the body (bounded), verifies the signature and nonce (and, after a restart, that the
/// predecessor cannot have accepted them), and hands the body back on.
async fn authenticate(State(bank): State<Arc<Bank>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        let message = format!("the body must be at most {MAX_BODY_BYTES} bytes");
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::BodyTooLarge, message).into_response();
    };
    let verified = {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let signed = SignedParts {
            key_id: header(signing::HEADER_KEY_ID),
            timestamp: header(signing::HEADER_TIMESTAMP),
            nonce: header(signing::HEADER_NONCE),
            signature: header(signing::HEADER_SIGNATURE),
        };
        let path_and_query = parts.uri.path_and_query().map_or(parts.uri.path(), |p| p.as_str());
        let now = bank.wire_now_unix_s();
        let mut nonces = bank.nonces.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let secret_of = |key_id: &str| bank.secret_of(key_id);
        signing::authenticate(signed, secret_of, parts.method.as_str(), path_and_query, &body, now, &mut nonces).map(|key_id| {
            // Both were read and checked by `authenticate`.
            let nonce = header(signing::HEADER_NONCE).unwrap_or_default().to_string();
            let signed_at_unix_s = header(signing::HEADER_TIMESTAMP).and_then(|t| t.parse().ok()).unwrap_or_default();
            Signature { key_id, nonce, signed_at_unix_s }
        })
    };
    let signature = match verified {
        Ok(signature) => signature,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Some(refusal) = bank.refusal_after_restart(&signature) {
        return ApiError::from(refusal).into_response();
    }
    let mut req = Request::from_parts(parts, Body::from(body));
    req.extensions_mut().insert(signature);
    next.run(req).await
}

/// Latency, refusals and errors, before the request touches the book.
async fn inject_faults_before(State(bank): State<Arc<Bank>>, req: Request, next: Next) -> Response {
    if !bank.faults.is_active() {
        return next.run(req).await;
    }
    let latency_ms = bank.faults.faults().latency_ms;
    if latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }
    match bank.faults.before_handling() {
        BeforeHandling::Proceed => next.run(req).await,
        BeforeHandling::Refuse => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, "injected fault: request refused, nothing was done")
                .into_response()
        }
        BeforeHandling::Error => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError, "injected fault: internal error").into_response()
        }
    }
}

/// Brings billing up to the clock's day, so every handler sees today's statements and status;
/// afterwards rings the hub's doorbell if the request (or the calendar) produced events.
async fn bill_before(State(bank): State<Arc<Bank>>, req: Request, next: Next) -> Response {
    if let Err(e) = bank.apply(Command::Bill, signature_of(&req).as_ref()).await {
        return ApiError::from(e).into_response();
    }
    let response = next.run(req).await;
    bank.push_events();
    response
}

// ---- the write path shared by every POST ----

impl Bank {
    /// Parses the body ourselves (so a bad body is our JSON 400, not axum's text), turns it into
    /// a command for the caller, applies it (journaled before the answer), and applies the
    /// after-commit faults.
    async fn execute<Req: DeserializeOwned>(
        &self,
        caller: &Signature,
        body: &[u8],
        command: impl FnOnce(String, Req) -> Command,
    ) -> Response {
        let req: Req = match serde_json::from_slice(body) {
            Ok(req) => req,
            Err(e) => return ApiError::bad_request(format!("invalid request body: {e}")).into_response(),
        };
        let command = command(caller.key_id.clone(), req);
        let first = self.apply(command.clone(), Some(caller)).await;
        if self.faults.faults().duplicate_delivery && first.is_ok() {
            let second = self.apply(command, Some(caller)).await;
            if let (Ok(first), Ok(second)) = (&first, &second) {
                debug_assert_eq!(first, second, "a duplicate delivery must replay the first reply");
            }
        }
        match first {
            Ok(Some(reply)) if self.faults.timeout_after_commit() => self.time_out_after_commit(reply).await,
            Ok(Some(reply)) => reply_response(reply),
            // Only billing and configuration answer nothing, and neither comes from a request body.
            Ok(None) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError, "no reply").into_response(),
            Err(e) => ApiError::from(e).into_response(),
        }
    }

    async fn time_out_after_commit(&self, reply: Reply) -> Response {
        tracing::debug!(?reply, "injected fault: committed, answering with a timeout");
        let hang_ms = self.faults.faults().timeout_hang_ms;
        if hang_ms > 0 {
            tokio::time::sleep(Duration::from_millis(hang_ms)).await;
        }
        ApiError::new(StatusCode::GATEWAY_TIMEOUT, ErrorCode::Timeout, "injected fault: the outcome is unknown; query the operation")
            .into_response()
    }
}

// ---- handlers ----

async fn health(State(bank): State<Arc<Bank>>) -> Json<Health> {
    Json(Health { status: "ok".to_string(), bank_code: bank.config.bank_code.clone() })
}

async fn open_agreement(State(bank): State<Arc<Bank>>, Extension(caller): Extension<Signature>, body: Bytes) -> Response {
    let new_agreement_id = format!("agr-{}", uuid::Uuid::new_v4().simple());
    bank.execute(&caller, &body, |client, request| Command::OpenAgreement { client, new_agreement_id, request }).await
}

async fn close_agreement(
    State(bank): State<Arc<Bank>>,
    Extension(caller): Extension<Signature>,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let agreement_id = match path {
        Ok(Path(id)) => id,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Err(e) = own_agreement(&bank, &caller, &agreement_id).await {
        return e.into_response();
    }
    bank.execute(&caller, &body, |client, request| Command::CloseAgreement { client, agreement_id, request }).await
}

async fn authorize(State(bank): State<Arc<Bank>>, Extension(caller): Extension<Signature>, body: Bytes) -> Response {
    // A hold names its agreement in the body; a body that does not parse is answered by `execute`.
    if let Ok(request) = serde_json::from_slice::<wire::AuthorizationRequest>(&body) {
        if let Err(e) = own_agreement(&bank, &caller, &request.agreement_id).await {
            return e.into_response();
        }
    }
    bank.execute(&caller, &body, |client, request| Command::Authorize { client, request }).await
}

async fn capture(State(bank): State<Arc<Bank>>, Extension(caller): Extension<Signature>, body: Bytes) -> Response {
    bank.execute(&caller, &body, |client, request| Command::Capture { client, request }).await
}

async fn charge(State(bank): State<Arc<Bank>>, Extension(caller): Extension<Signature>, body: Bytes) -> Response {
    // A charge names its agreement in the body, as a hold does.
    if let Ok(request) = serde_json::from_slice::<wire::ChargeRequest>(&body) {
        if let Err(e) = own_agreement(&bank, &caller, &request.agreement_id).await {
            return e.into_response();
        }
    }
    bank.execute(&caller, &body, |client, request| Command::Charge { client, request }).await
}

async fn increment(State(bank): State<Arc<Bank>>, Extension(caller): Extension<Signature>, body: Bytes) -> Response {
    bank.execute(&caller, &body, |client, request| Command::Increment { client, request }).await
}

async fn void(State(bank): State<Arc<Bank>>, Extension(caller): Extension<Signature>, body: Bytes) -> Response {
    bank.execute(&caller, &body, |client, request| Command::Void { client, request }).await
}

async fn refund(State(bank): State<Arc<Bank>>, Extension(caller): Extension<Signature>, body: Bytes) -> Response {
    bank.execute(&caller, &body, |client, request| Command::Refund { client, request }).await
}

async fn payout(State(bank): State<Arc<Bank>>, Extension(caller): Extension<Signature>, body: Bytes) -> Response {
    bank.execute(&caller, &body, |client, request| Command::Payout { client, request }).await
}

async fn repay(
    State(bank): State<Arc<Bank>>,
    Extension(caller): Extension<Signature>,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let agreement_id = match path {
        Ok(Path(id)) => id,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Err(e) = own_agreement(&bank, &caller, &agreement_id).await {
        return e.into_response();
    }
    bank.execute(&caller, &body, |client, request| Command::Repay { client, agreement_id, request }).await
}

async fn request_limit_increase(
    State(bank): State<Arc<Bank>>,
    Extension(caller): Extension<Signature>,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let agreement_id = match path {
        Ok(Path(id)) => id,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Err(e) = own_agreement(&bank, &caller, &agreement_id).await {
        return e.into_response();
    }
    bank.execute(&caller, &body, |client, request| Command::IncreaseLimit { client, agreement_id, request }).await
}

async fn get_statements(
    State(bank): State<Arc<Bank>>,
    Extension(caller): Extension<Signature>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<wire::CreditAccount>, ApiError> {
    let Path(agreement_id) = path?;
    own_agreement(&bank, &caller, &agreement_id).await?;
    Ok(Json(bank.query(|book| book.credit_account(&agreement_id)).await?))
}

/// The caller's T+1 statement file (对账单) for a settlement date, as CSV (`book/statement.rs`).
async fn get_statement_file(
    State(bank): State<Arc<Bank>>,
    Extension(caller): Extension<Signature>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(date) = path?;
    let day = crate::book::parse_day(&date).ok_or_else(|| ApiError::bad_request(format!("'{date}' is not a date YYYY-MM-DD")))?;
    let csv = bank.query(|book| Ok(book.statement(&caller.key_id, day).to_csv())).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}

/// Bank staff: 冻结 / 解冻 an agreement; the hub hears of it through the event feed.
async fn freeze(
    State(bank): State<Arc<Bank>>,
    Extension(caller): Extension<Signature>,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Json<wire::Agreement>, ApiError> {
    staff_only(&bank, &caller)?;
    let Path(agreement_id) = path?;
    let req: wire::FreezeRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))?;
    match bank.apply(Command::SetFrozen { agreement_id, frozen: req.frozen }, Some(&caller)).await? {
        Some(Reply::Agreement(agreement)) => Ok(Json(agreement)),
        _ => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError, "no agreement in the reply")),
    }
}

/// The default page size of the bank staff's and the hub's lists.
const DEFAULT_PAGE_ITEMS: usize = 100;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AgreementListQuery {
    #[serde(default)]
    status: Option<wire::AgreementStatus>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// Agreements in id order, optionally by status (`?status=overdue`), paged: every one for bank
/// staff, a client's own for a client (the hub closes lines it has no agreement for).
async fn list_agreements(
    State(bank): State<Arc<Bank>>,
    Extension(caller): Extension<Signature>,
    query: Result<Query<AgreementListQuery>, QueryRejection>,
) -> Result<Json<wire::AgreementList>, ApiError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE_ITEMS);
    let (status, after) = (q.status, q.after.as_deref());
    match bank.is_staff(&caller.key_id) {
        true => Ok(Json(bank.query(|book| Ok(book.agreements(status, after, limit))).await?)),
        false => Ok(Json(bank.query(|book| Ok(book.agreements_of(&caller.key_id, status, after, limit))).await?)),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: Option<usize>,
}

/// The outbox: events after sequence number `after`, oldest first; a client's own agreements'
/// only (staff: all).
async fn list_events(
    State(bank): State<Arc<Bank>>,
    Extension(caller): Extension<Signature>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<wire::EventList>, ApiError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE_ITEMS);
    match bank.is_staff(&caller.key_id) {
        true => Ok(Json(bank.events_after(q.after, limit).await?)),
        false => Ok(Json(bank.events_of(&caller.key_id, q.after, limit).await?)),
    }
}

async fn get_agreement(
    State(bank): State<Arc<Bank>>,
    Extension(caller): Extension<Signature>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<wire::Agreement>, ApiError> {
    let Path(agreement_id) = path?;
    own_agreement(&bank, &caller, &agreement_id).await?;
    Ok(Json(bank.query(|book| book.agreement(&agreement_id)).await?))
}

async fn get_operation(
    State(bank): State<Arc<Bank>>,
    Extension(caller): Extension<Signature>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<wire::Operation>, ApiError> {
    let Path(request_id) = path?;
    Ok(Json(bank.query(|book| book.operation(&caller.key_id, &request_id)).await?))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    agreement_id: String,
}

async fn list_operations(
    State(bank): State<Arc<Bank>>,
    Extension(caller): Extension<Signature>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<OperationList>, ApiError> {
    let Query(ListQuery { agreement_id }) = query?;
    own_agreement(&bank, &caller, &agreement_id).await?;
    let operations = bank.query(|book| book.operations_for(&agreement_id)).await?;
    Ok(Json(OperationList { agreement_id, operations }))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed, "method not allowed on this endpoint")
}
