//! The hub's HTTP surface: the HIS API for hospitals, the agreement API for the patient channel and
//! operators. Every route is in [`routes`] with its access rule and body limit, and the router is
//! built from that table alone, so no route exists without a rule. The edge (`edge`) authenticates
//! callers (`Authorization: Bearer <api key>`, `auth`) and applies the limits before a handler
//! runs; every mutating call takes an `Idempotency-Key` and replays the stored response for a repeat.

mod auth;
mod banks;
mod body;
mod deposits;
mod docs;
mod edge;
mod hospital_banks;
mod invoices;
pub mod limits;
mod modes;
mod online_services;
mod operator_stays;
pub mod patient_auth;
mod patient_controls;
mod patient_stays;
mod patients;
mod platforms;
mod ready;
mod refunds;
mod staff;
mod staff_auth;
mod stays;

pub use auth::{hash_api_key, Access};
pub use edge::{EdgeConfig, Rule, PATH_PARAMETER_MAX_CHARS, REQUEST_ID_HEADER};
pub use staff_auth::session_cookie;

use crate::app::{App, Keyed};
use crate::error::AppError;
use crate::model::Caller;
use crate::store::IdempotencyBegin;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use body::{parse_json, parse_object};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::Arc;
use wugan_bank_protocol::signing;

pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// Body limits, in bytes: what a route reads at most (checked before a byte is buffered).
/// GETs and commands without fields (`{}` or nothing).
pub const NO_BODY_BYTES: usize = 1024;
/// One JSON command.
pub const COMMAND_BODY_BYTES: usize = 16 * 1024;
/// A fee upload: up to 500 lines with the national fields.
pub const FEES_BODY_BYTES: usize = 1024 * 1024;
/// A bank's doorbell.
pub const CALLBACK_BODY_BYTES: usize = 64 * 1024;

/// A route: its method and path, who may call it, the largest body it reads, its handler.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub rule: Rule,
    endpoint: MethodRouter<Arc<App>>,
}

impl Route {
    fn new<H: Handler<T, Arc<App>>, T: 'static>(
        method: Method,
        path: &'static str,
        access: Access,
        body_limit_bytes: usize,
        h: H,
    ) -> Route {
        // The table is ours, not a caller's: a method axum cannot route is a bug found at start-up.
        let filter = axum::routing::MethodFilter::try_from(method.clone()).expect("a route's method is one axum routes");
        let endpoint = axum::routing::on(filter, h);
        Route { method, path, rule: Rule { access, body_limit_bytes }, endpoint }
    }
}

/// Every route of the hub's API, with its access rule and body limit.
pub fn routes() -> Vec<Route> {
    use Access::{Bank, Hospital, Operator, Patient, Public, Scraper};
    use Method as M;
    let (no_body, command) = (NO_BODY_BYTES, COMMAND_BODY_BYTES);
    let mut table = vec![
        Route::new(M::GET, "/health", Public, no_body, || async { axum::Json(serde_json::json!({"status": "ok"})) }),
        Route::new(M::GET, "/ready", Public, no_body, ready::ready),
        Route::new(M::GET, "/openapi.json", Public, no_body, || async { ([("content-type", "application/json")], OPENAPI_JSON) }),
        Route::new(M::GET, "/docs", Public, no_body, || async { ([("content-type", "text/html; charset=utf-8")], docs::page()) }),
        Route::new(M::GET, "/docs/openapi.json", Public, no_body, || async { ([("content-type", "application/json")], OPENAPI_JSON) }),
        Route::new(M::POST, "/api/v1/agreements", Operator, command, sign_agreement),
        Route::new(M::GET, "/api/v1/agreements/{id}", Operator, no_body, agreement),
        Route::new(M::POST, "/api/v1/agreements/{id}/revoke", Operator, no_body, revoke_agreement),
        Route::new(M::POST, "/api/v1/agreements/{id}/family", Operator, command, add_family_member),
        Route::new(M::POST, "/api/v1/agreements/{id}/family/{link}/revoke", Operator, no_body, revoke_family_member),
        Route::new(M::POST, "/api/v1/agreements/{id}/repayments", Operator, command, repay),
        Route::new(M::GET, "/api/v1/agreements/{id}/statements", Operator, no_body, statements),
        Route::new(M::POST, "/api/v1/agreements/{id}/limit-requests", Operator, command, request_limit),
        Route::new(M::POST, "/api/v1/visits", Hospital, command, register_visit),
        Route::new(M::GET, "/api/v1/visits/{id}", Hospital, no_body, visit),
        Route::new(M::POST, "/api/v1/visits/{id}/fees", Hospital, FEES_BODY_BYTES, upload_fees),
        Route::new(M::POST, "/api/v1/visits/{id}/fees/withdraw", Hospital, command, withdraw_fees),
        Route::new(M::POST, "/api/v1/visits/{id}/pre-settlement", Hospital, no_body, pre_settle),
        Route::new(M::POST, "/api/v1/visits/{id}/settlement", Hospital, no_body, settle),
        Route::new(M::POST, "/api/v1/visits/{id}/settlement/cancel", Hospital, no_body, cancel_settlement),
        Route::new(M::POST, "/api/v1/visits/{id}/refunds", Hospital, command, refunds::refund),
        Route::new(M::GET, "/api/v1/visits/{id}/refunds", Hospital, no_body, refunds::refunds),
        Route::new(M::GET, "/api/v1/visits/{id}/refunds/{refund_id}", Hospital, no_body, refunds::refund_of_visit),
        Route::new(M::POST, "/api/v1/visits/{id}/registration/cancel", Hospital, no_body, refunds::cancel_registration),
        Route::new(M::POST, "/api/v1/cash-settlements", Hospital, FEES_BODY_BYTES, modes::settle_cash_only),
        Route::new(M::POST, "/api/v1/visits/{id}/cash-settlement/cancel", Hospital, FEES_BODY_BYTES, modes::cancel_cash_only),
        // The secret in the path is the caller's credential (the national envelope has none of ours).
        Route::new(M::POST, "/ni/{token}/fsi/api/rsfComIfsService/callService", Public, FEES_BODY_BYTES, modes::national_call),
        // The stays (住院) and their deposits: `stays::routes`.
        Route::new(M::GET, "/api/v1/ledger", Operator, no_body, ledger),
        Route::new(M::GET, "/api/v1/ledger/journal", Operator, no_body, journal),
        Route::new(M::GET, "/api/v1/operator/visits/{id}", Operator, no_body, operator_visit),
        Route::new(M::GET, "/api/v1/exceptions", Operator, no_body, exceptions),
        Route::new(M::POST, "/api/v1/bank-callbacks/{bank_code}", Bank, CALLBACK_BODY_BYTES, bank_callback),
        Route::new(M::POST, "/api/v1/exceptions/{id}/retry", Operator, no_body, retry_exception),
        Route::new(M::POST, "/api/v1/exceptions/stays/{id}/retry", Operator, no_body, stays::retry_stay_exception),
        Route::new(M::POST, "/api/v1/exceptions/refunds/{id}/retry", Operator, no_body, refunds::retry_refund_exception),
        Route::new(M::POST, "/api/v1/exceptions/fee_withdrawals/{id}/retry", Operator, no_body, refunds::retry_fee_withdrawal_exception),
        Route::new(
            M::POST,
            "/api/v1/exceptions/fee_withdrawals/{id}/resolve",
            Operator,
            command,
            refunds::resolve_fee_withdrawal_exception,
        ),
        Route::new(M::POST, "/api/v1/reconciliations", Operator, command, reconcile),
        Route::new(M::POST, "/api/v1/exceptions/reconciliation/handled", Operator, command, refunds::reconciliation_handled),
        Route::new(M::POST, "/api/v1/clearings", Operator, command, clear_day),
        Route::new(M::POST, "/api/v1/clearings/insurance", Operator, command, clear_insurance_month),
        Route::new(M::POST, "/api/v1/clearings/insurance/{id}/withdraw", Operator, no_body, withdraw_insurance_clearing),
        Route::new(M::GET, "/api/v1/hospitals/{code}/statements/{date}", Hospital, no_body, hospital_statement),
        Route::new(M::GET, "/api/v1/operator/hospitals/{code}/statements/{date}", Operator, no_body, operator_hospital_statement),
        Route::new(M::GET, "/metrics", Scraper, no_body, metrics),
        Route::new(M::GET, "/api/v1/invoices", Hospital, no_body, invoices::list),
        Route::new(M::GET, "/api/v1/invoices/{id}", Hospital, no_body, invoices::hospital_json),
        Route::new(M::GET, "/api/v1/invoices/{id}/pdf", Hospital, no_body, invoices::hospital_pdf),
        Route::new(M::GET, "/api/v1/invoices/{id}/html", Hospital, no_body, invoices::hospital_html),
        Route::new(M::GET, "/api/v1/operator/invoices/{id}", Operator, no_body, invoices::operator_json),
        Route::new(M::GET, "/api/v1/operator/invoices/{id}/pdf", Operator, no_body, invoices::operator_pdf),
        Route::new(M::GET, "/api/v1/operator/invoices/{id}/html", Operator, no_body, invoices::operator_html),
        Route::new(M::POST, "/verify", Public, command, invoices::verify),
        Route::new(M::GET, "/invoices/verify", Public, no_body, invoices::verify_page),
        // Issue 18: staff sessions, the operator's console, visit lists, webhooks (api/staff.rs).
        Route::new(M::POST, "/api/v1/staff/sessions", Public, command, staff::sign_in),
        Route::new(M::POST, "/api/v1/staff/sessions/end", Access::Staff, no_body, staff::sign_out),
        Route::new(M::GET, "/api/v1/staff/me", Access::Staff, no_body, staff::me),
        Route::new(M::GET, "/api/v1/staff/bank/agreements", Access::Staff, no_body, staff::bank_agreements),
        Route::new(M::GET, "/api/v1/operator/staff", Operator, no_body, staff::staff_list),
        Route::new(M::POST, "/api/v1/operator/staff", Operator, command, staff::add_staff),
        Route::new(M::GET, "/api/v1/operator/audit", Operator, no_body, staff::audit_log),
        Route::new(M::GET, "/api/v1/operator/hospitals", Operator, no_body, staff::hospitals),
        Route::new(M::POST, "/api/v1/operator/hospitals", Operator, command, staff::onboard_hospital),
        Route::new(M::POST, "/api/v1/operator/hospitals/{code}/deposit_policy", Operator, command, deposits::set_policy),
        Route::new(M::GET, "/api/v1/operator/banks", Operator, no_body, banks::banks),
        Route::new(M::POST, "/api/v1/operator/banks", Operator, command, banks::onboard_bank),
        Route::new(M::GET, "/api/v1/operator/hospitals/{code}/platform", Operator, no_body, platforms::platform),
        Route::new(M::POST, "/api/v1/operator/hospitals/{code}/platform", Operator, command, platforms::set_platform),
        Route::new(M::GET, "/api/v1/operator/hospital-banks", Operator, no_body, hospital_banks::list),
        Route::new(M::POST, "/api/v1/operator/hospital-banks", Operator, command, hospital_banks::add),
        Route::new(M::POST, "/api/v1/operator/hospital-banks/{hospital}/{bank}/suspend", Operator, no_body, hospital_banks::suspend),
        Route::new(M::POST, "/api/v1/operator/hospital-banks/{hospital}/{bank}/resume", Operator, no_body, hospital_banks::resume),
        Route::new(M::GET, "/api/v1/staff/bank/hospitals", Access::Staff, no_body, hospital_banks::of_my_bank),
        Route::new(M::GET, "/api/v1/operator/keys", Operator, no_body, staff::keys),
        Route::new(M::POST, "/api/v1/operator/keys", Operator, command, staff::issue_key),
        Route::new(M::POST, "/api/v1/operator/keys/{key_id}/rotate", Operator, command, staff::rotate_key),
        Route::new(M::POST, "/api/v1/operator/keys/{key_id}/revoke", Operator, no_body, staff::revoke_key),
        Route::new(M::GET, "/api/v1/operator/visits", Operator, no_body, staff::operator_visits),
        Route::new(M::GET, "/api/v1/operator/webhook-deliveries", Operator, no_body, staff::operator_deliveries),
        Route::new(M::GET, "/api/v1/visits", Hospital, no_body, staff::visits),
        Route::new(M::GET, "/api/v1/webhook-endpoints", Hospital, no_body, staff::endpoints),
        Route::new(M::POST, "/api/v1/webhook-endpoints", Hospital, command, staff::add_endpoint),
        Route::new(M::GET, "/api/v1/webhook-deliveries", Hospital, no_body, staff::deliveries),
        Route::new(M::POST, "/api/v1/webhook-deliveries/{id}/replay", Hospital, no_body, staff::replay),
        Route::new(M::POST, "/api/v1/patient/sign-in-codes", Public, command, patients::send_code),
        Route::new(M::POST, "/api/v1/patient/sessions", Public, command, patients::sign_in),
        Route::new(M::POST, "/api/v1/patient/sessions/current/revoke", Patient, no_body, patients::sign_out),
        Route::new(M::GET, "/api/v1/patient/me", Patient, no_body, patients::me),
        Route::new(M::POST, "/api/v1/patient/me/identity", Patient, command, patients::bind_identity),
        Route::new(M::GET, "/api/v1/patient/agreements/{id}", Patient, no_body, patients::agreement),
        Route::new(M::GET, "/api/v1/patient/agreement-text", Public, no_body, patients::agreement_text),
        Route::new(M::POST, "/api/v1/patient/agreements", Patient, command, patients::sign_up),
        Route::new(M::GET, "/api/v1/patient/agreements", Patient, no_body, patients::agreements),
        Route::new(M::POST, "/api/v1/patient/agreements/{id}/revoke", Patient, command, patients::revoke),
        Route::new(M::GET, "/api/v1/patient/consents", Patient, no_body, patients::consents),
        Route::new(M::GET, "/api/v1/agreements/{id}/consents", Operator, no_body, patients::operator_consents),
        Route::new(M::GET, "/api/v1/patient/visits", Patient, no_body, patients::visits),
        Route::new(M::GET, "/api/v1/patient/stays", Patient, no_body, patient_stays::stays),
        Route::new(M::POST, "/api/v1/patient/visits/{id}/estimate", Patient, no_body, patients::estimate),
        Route::new(M::POST, "/api/v1/patient/agreements/{id}/repayments", Patient, command, patients::repay),
        Route::new(M::POST, "/api/v1/patient/agreements/{id}/family", Patient, command, patients::add_family),
        Route::new(M::POST, "/api/v1/patient/agreements/{id}/family/{link}/revoke", Patient, no_body, patients::revoke_family),
        Route::new(M::GET, "/api/v1/patient/agreements/{id}/family/{link}/qr", Patient, no_body, patients::family_qr),
        Route::new(M::GET, "/api/v1/patient/family-invitations", Patient, no_body, patients::family_invitations),
        Route::new(M::POST, "/api/v1/patient/family-invitations/{id}/accept", Patient, no_body, patients::accept_family_invitation),
        Route::new(M::POST, "/api/v1/patient/family-invitations/{id}/decline", Patient, no_body, patients::decline_family_invitation),
        Route::new(M::GET, "/api/v1/patient/notifications", Patient, no_body, patients::notifications),
        Route::new(M::GET, "/api/v1/patient/qr", Patient, no_body, patients::qr),
        Route::new(M::GET, "/api/v1/patient/stay_invoices", Patient, no_body, deposits::patient_stay_documents),
        Route::new(M::GET, "/api/v1/patient/invoices/{id}/html", Patient, no_body, patients::invoice_html),
        Route::new(M::GET, "/api/v1/patient/invoices/{id}/pdf", Patient, no_body, patients::invoice_pdf),
        Route::new(M::GET, "/api/v1/patient/seamless", Patient, no_body, patient_controls::seamless_choices),
        Route::new(M::POST, "/api/v1/patient/seamless", Patient, command, patient_controls::set_seamless_choice),
        Route::new(M::POST, "/api/v1/patient/visits/{id}/seamless", Patient, command, patient_controls::switch_visit),
        Route::new(M::GET, "/api/v1/patient/bills", Patient, no_body, patient_controls::bills),
        Route::new(M::POST, "/api/v1/patient/bills/{id}/pay", Patient, no_body, patient_controls::pay_bill),
        Route::new(M::GET, "/api/v1/patient/agreements/{id}/statements", Patient, no_body, patient_controls::statements),
        Route::new(M::POST, "/api/v1/patient/agreements/{id}/limit-requests", Patient, command, patient_controls::request_limit),
        // Issue 14 scope 7: the patient's online services (api/online_services.rs).
        Route::new(M::POST, "/api/v1/patient/special-diseases", Patient, command, online_services::apply_special_disease),
        Route::new(M::GET, "/api/v1/patient/special-diseases", Patient, no_body, online_services::special_diseases),
        Route::new(M::GET, "/api/v1/patient/special-diseases/{id}", Patient, no_body, online_services::special_disease),
        Route::new(M::POST, "/api/v1/patient/special-diseases/{id}/revoke", Patient, no_body, online_services::revoke_special_disease),
        // Up to 500 lines: a fee upload's limit, not a command's.
        Route::new(M::POST, "/api/v1/patient/claims", Patient, FEES_BODY_BYTES, online_services::submit_claim),
        Route::new(M::GET, "/api/v1/patient/claims", Patient, no_body, online_services::claims),
        Route::new(M::GET, "/api/v1/patient/claims/{id}", Patient, no_body, online_services::claim),
    ];
    table.extend(stays::routes());
    table.extend(operator_stays::routes());
    table
}

/// Every route's method, path and rule (the authorization matrix test walks these).
pub fn route_table() -> Vec<(Method, &'static str, Rule)> {
    routes().into_iter().map(|r| (r.method, r.path, r.rule)).collect()
}

/// The API with the edge's defaults: no rate limits.
pub fn router(app: Arc<App>) -> Router {
    router_with(app, &EdgeConfig::default())
}

pub fn router_with(app: Arc<App>, config: &EdgeConfig) -> Router {
    let routes = routes();
    let edge = Arc::new(edge::Edge::new(app.clone(), &routes, config));
    let largest_body = routes.iter().map(|r| r.rule.body_limit_bytes).max().unwrap_or(NO_BODY_BYTES);
    let mut router = Router::new();
    for route in routes {
        router = router.route(route.path, route.endpoint);
    }
    router
        .fallback(|| async { AppError::not_found("no_such_route", "no such endpoint; see /openapi.json") })
        .method_not_allowed_fallback(|| async {
            AppError::Http {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: "method_not_allowed",
                message: "method not allowed on this endpoint".into(),
            }
        })
        .layer(axum::middleware::from_fn_with_state(edge, edge::guard))
        .layer(DefaultBodyLimit::max(largest_body))
        // Inside `national_errors`: a panic under /ni/ is answered in the national shape too.
        .layer(axum::middleware::from_fn(answer_panics))
        .layer(axum::middleware::map_response(json_errors_only))
        .layer(axum::middleware::from_fn_with_state(app.clone(), modes::national_errors))
        .layer(axum::middleware::from_fn(browsers_sign_in))
        .with_state(app)
}

/// A bug that panics in a request (an overflow: release builds check them) answers 500 in the
/// API's error shape; without this, the connection was closed with no answer at all, which a
/// client cannot tell from a network fault. The panic is logged by the panic hook as before.
async fn answer_panics(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut answer = std::pin::pin!(next.run(request));
    std::future::poll_fn(|cx| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| answer.as_mut().poll(cx)))
            .unwrap_or_else(|_| std::task::Poll::Ready(AppError::internal("the request failed on a bug (a panic)").into_response()))
    })
    .await
}

/// Rejections produced below our handlers (a path that is not UTF-8, a body over the size limit)
/// come out of axum as plain text; callers get our JSON error shape for those too.
/// A patient's invoice opened in a browser (the visits page's links) without a session, or with
/// one that ended, goes to the sign-in page rather than showing the API's JSON refusal (review r26
/// pages #10); an API client (no `text/html` in Accept) gets the JSON as before.
async fn browsers_sign_in(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = request.uri().path();
    let invoice_page = path.starts_with("/api/v1/patient/invoices/") && (path.ends_with("/html") || path.ends_with("/pdf"));
    let browser = request.headers().get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    let response = next.run(request).await;
    if invoice_page && browser && response.status() == StatusCode::UNAUTHORIZED {
        return (StatusCode::SEE_OTHER, [("location", "/h5/")]).into_response();
    }
    response
}

async fn json_errors_only(response: Response) -> Response {
    let status = response.status();
    let is_json = response.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("application/json"));
    if !status.is_client_error() && !status.is_server_error() || is_json {
        return response;
    }
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::NOT_FOUND => "no_such_route",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = status.canonical_reason().unwrap_or("request refused").to_string();
    AppError::Http { status, code, message }.into_response()
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

/// The request's Idempotency-Key: 1-128 visible ASCII characters (openapi.json's `IdempotencyKey`).
fn idempotency_key_of(headers: &HeaderMap) -> Result<&str, AppError> {
    match headers.get("idempotency-key").map(|v| v.as_bytes().trim_ascii()) {
        None | Some(b"") => Err(AppError::bad_request(
            "missing_idempotency_key",
            "send an Idempotency-Key header (1-128 visible ASCII characters) with every mutating request",
        )),
        Some(key) if key.len() > 128 => Err(AppError::bad_request("bad_idempotency_key", "Idempotency-Key is longer than 128 characters")),
        Some(key) if key.iter().all(u8::is_ascii_graphic) => Ok(std::str::from_utf8(key).expect("visible ASCII is UTF-8")),
        Some(_) => Err(AppError::bad_request("bad_idempotency_key", "Idempotency-Key must be visible ASCII characters without spaces")),
    }
}

/// Runs a mutating request once per (caller, Idempotency-Key): a repeat with the same body gets the
/// stored response; the same key with another body is refused. Failures a retry could cure (a
/// partner that did not answer) are not stored, so the retry runs again and resumes the work.
async fn idempotent<F, Fut, T>(
    app: &App,
    caller: &Caller,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    body: &Bytes,
    work: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
    T: serde::Serialize,
{
    // The use case behind it does not store its answer: this edge does.
    let request = Keyed::unstored("");
    idempotent_keyed(app, caller, headers, method, path, body, &request, work).await
}

/// `idempotent` for a use case that stores its answer with its effect through `request` (then the
/// answer is not stored a second time here).
#[allow(clippy::too_many_arguments)]
async fn idempotent_keyed<F, Fut, T>(
    app: &App,
    caller: &Caller,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    body: &Bytes,
    request: &Keyed,
    work: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
    T: serde::Serialize,
{
    let key = match idempotency_key_of(headers) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    let request_hash = hash_of_request(method, path, &canonical_body(body));
    let scope = caller.scope();
    let mut begun = app.store.begin_idempotency(&scope, key, &request_hash).await;
    if matches!(begun, Ok(IdempotencyBegin::Mismatch)) {
        // Kept by a hub that hashed the body's bytes as sent (before 2026-12-02): the same bytes
        // are still the same request.
        let as_sent = hash_of_request(method, path, body);
        if as_sent != request_hash {
            begun = app.store.begin_idempotency(&scope, key, &as_sent).await;
        }
    }
    match begun {
        Err(e) => return AppError::from(e).into_response(),
        Ok(IdempotencyBegin::Replay { status, body }) => {
            app.metrics.idempotency_replay();
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = (status, [("content-type", "application/json")], body).into_response();
            response.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
            return response;
        }
        Ok(IdempotencyBegin::InProgress) => {
            return AppError::conflict(
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still being processed; retry shortly",
            )
            .into_response()
        }
        Ok(IdempotencyBegin::Mismatch) => {
            return AppError::invalid("idempotency_key_reused", "this Idempotency-Key was used with a different request").into_response()
        }
        Ok(IdempotencyBegin::New) => request.claimed(&request_hash, app.store.now()),
    }
    let _claim = app.store.claim_guard(&scope, key);
    let result = work().await;
    if let (Ok(_), Some(body)) = (&result, request.answer_body()) {
        // Stored with the effect: these bytes, as a replay will send them.
        return (StatusCode::OK, [("content-type", "application/json")], body.to_string()).into_response();
    }
    let (status, value) = match result.and_then(to_body) {
        Ok(value) => (StatusCode::OK, value),
        Err(e) if !e.is_kept_against_the_key() => {
            if let Err(store_error) = app.store.abandon_idempotency(&scope, key).await {
                tracing::error!(error = %store_error, "could not release an idempotency key");
            }
            return e.into_response();
        }
        Err(e) => (e.status(), e.body()),
    };
    if let Err(e) = app.store.finish_idempotency(&scope, key, &request_hash, status.as_u16(), &value.to_string()).await {
        return AppError::from(e).into_response();
    }
    json_response(status, &value)
}

/// What identifies a request under its Idempotency-Key: its method, path and body.
fn hash_of_request(method: &Method, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hex::encode(hasher.finalize())
}

/// A JSON body as its content, not its bytes: keys sorted, no spacing. A HIS whose retry writes
/// the same request again (its map in another order, another serializer, pretty-printed) sends
/// the same request, not `idempotency_key_reused`. Anything else is compared as sent.
fn canonical_body(body: &Bytes) -> std::borrow::Cow<'_, [u8]> {
    match serde_json::from_slice::<Value>(body) {
        Ok(json) => std::borrow::Cow::Owned(json.to_string().into_bytes()),
        Err(_) => std::borrow::Cow::Borrowed(body.as_ref()),
    }
}

/// A use case's typed result as the response body.
fn to_body<T: serde::Serialize>(result: T) -> Result<Value, AppError> {
    serde_json::to_value(result).map_err(|e| AppError::internal(format!("a result could not be written as JSON: {e}")))
}

fn respond<T: serde::Serialize>(result: Result<T, AppError>) -> Response {
    match result.and_then(to_body) {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

async fn sign_agreement(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, body: Bytes) -> Response {
    idempotent(&app, &caller, &headers, &Method::POST, "/api/v1/agreements", &body, || async {
        app.sign_agreement(parse_object(&body, &["payment"])?, &caller.scope(), &idempotency_key(&headers)).await
    })
    .await
}

async fn agreement(State(app): State<Arc<App>>, _: Caller, Path(id): Path<String>) -> Response {
    respond(app.agreement(&id).await)
}

async fn revoke_agreement(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/agreements/{id}/revoke");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async { app.revoke_agreement(&id).await }).await
}

fn hospital_of(caller: &Caller) -> String {
    caller.hospital_code.clone().unwrap_or_default()
}

async fn register_visit(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, body: Bytes) -> Response {
    let hospital = hospital_of(&caller);
    let request = Keyed::new(&caller.scope(), &idempotency_key(&headers));
    idempotent_keyed(&app, &caller, &headers, &Method::POST, "/api/v1/visits", &body, &request, || async {
        app.register_visit(&hospital, parse_json(&body)?, &request).await
    })
    .await
}

async fn visit(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> Response {
    respond(app.visit(&hospital_of(&caller), &id).await)
}

async fn upload_fees(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let hospital = hospital_of(&caller);
    let path = format!("/api/v1/visits/{id}/fees");
    let request = Keyed::new(&caller.scope(), &idempotency_key(&headers));
    idempotent_keyed(&app, &caller, &headers, &Method::POST, &path, &body, &request, || async {
        app.upload_fees(&hospital, &id, parse_json(&body)?, &request).await
    })
    .await
}

/// 门诊费用明细撤销 (2205): a batch of uploaded lines, or every open one, withdrawn before the click
/// (`app/fee_withdrawals.rs`).
async fn withdraw_fees(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let hospital = hospital_of(&caller);
    let path = format!("/api/v1/visits/{id}/fees/withdraw");
    let key = idempotency_key(&headers);
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        // Another hospital's visit answers like a missing one, whatever the body holds.
        app.visit(&hospital, &id).await?;
        app.withdraw_fees(&hospital, &id, parse_json(&body)?, &key).await
    })
    .await
}

/// Pre-settlement changes nothing, so it needs no Idempotency-Key.
async fn pre_settle(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> Response {
    respond(app.pre_settle(&hospital_of(&caller), &id).await)
}

async fn settle(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let hospital = hospital_of(&caller);
    let path = format!("/api/v1/visits/{id}/settlement");
    let request = Keyed::new(&caller.scope(), &idempotency_key(&headers));
    idempotent_keyed(&app, &caller, &headers, &Method::POST, &path, &body, &request, || async {
        let _: EmptyBody = parse_json(&body)?;
        app.settle(&hospital, &id, &request).await
    })
    .await
}

async fn cancel_settlement(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let hospital = hospital_of(&caller);
    let path = format!("/api/v1/visits/{id}/settlement/cancel");
    let request = Keyed::new(&caller.scope(), &idempotency_key(&headers));
    idempotent_keyed(&app, &caller, &headers, &Method::POST, &path, &body, &request, || async {
        let _: EmptyBody = parse_json(&body)?;
        app.cancel_settlement(&hospital, &id, &request).await
    })
    .await
}

async fn ledger(State(app): State<Arc<App>>, _: Caller) -> Response {
    respond(app.ledger().await)
}

/// The ledger's journal between two times, paged (`from`, `to`, `after`, `limit` in the query).
async fn journal(State(app): State<Arc<App>>, _: Caller, uri: axum::http::Uri) -> Response {
    let query = axum::extract::Query::<crate::app::JournalQuery>::try_from_uri(&uri)
        .map_err(|e| AppError::bad_request("bad_query", format!("the query is not from, to, after and limit: {}", e.body_text())));
    match query {
        Ok(axum::extract::Query(query)) => respond(app.journal(query).await),
        Err(e) => e.into_response(),
    }
}

/// Any hospital's visit, whole: fee lines, every attempt, the transfers (operators only).
async fn operator_visit(State(app): State<Arc<App>>, _: Caller, Path(id): Path<String>) -> Response {
    respond(app.operator_visit(&id).await)
}

/// Settle and cancel take no parameters today; an empty object (or no body) is required so that a
/// caller sending fields we would ignore learns it at once.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EmptyBody {}

/// The daily reconciliation of a business day (docs/reconciliation.md).
async fn reconcile(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, body: Bytes) -> Response {
    idempotent(&app, &caller, &headers, &Method::POST, "/api/v1/reconciliations", &body, || async {
        let request: crate::app::ReconcileRequest = parse_json(&body)?;
        app.reconcile_day(&request.date, &|_| {}).await
    })
    .await
}

/// 清算: the day's payout instructions to the banks (docs/reconciliation.md).
async fn clear_day(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, body: Bytes) -> Response {
    idempotent(&app, &caller, &headers, &Method::POST, "/api/v1/clearings", &body, || async {
        let request: crate::app::ClearingRequest = parse_json(&body)?;
        app.clear_day(&request.date).await
    })
    .await
}

/// 清算申请 (3203): a month's applications to the insurance center.
async fn clear_insurance_month(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, body: Bytes) -> Response {
    idempotent(&app, &caller, &headers, &Method::POST, "/api/v1/clearings/insurance", &body, || async {
        let request: crate::app::InsuranceClearingRequest = parse_json(&body)?;
        app.clear_insurance_month(&request.month).await
    })
    .await
}

/// 清算撤销 (3204).
async fn withdraw_insurance_clearing(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/clearings/insurance/{id}/withdraw");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async { app.withdraw_insurance_clearing(&id).await }).await
}

/// A hospital's daily statement, its own only (another hospital's answers as unknown); JSON, or
/// CSV with `Accept: text/csv`.
async fn hospital_statement(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path((code, date)): Path<(String, String)>,
) -> Response {
    if caller.hospital_code.as_deref() != Some(code.as_str()) {
        return AppError::not_found("hospital_not_found", format!("no hospital {code} for this key")).into_response();
    }
    statement_response(&app, &headers, &code, &date).await
}

/// Any hospital's daily statement, for operators.
async fn operator_hospital_statement(
    State(app): State<Arc<App>>,
    _: Caller,
    headers: HeaderMap,
    Path((code, date)): Path<(String, String)>,
) -> Response {
    statement_response(&app, &headers, &code, &date).await
}

async fn statement_response(app: &App, headers: &HeaderMap, code: &str, date: &str) -> Response {
    let wants_csv = headers.get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv"));
    match app.hospital_statement(code, date).await {
        Ok(statement) if wants_csv => ([("content-type", "text/csv; charset=utf-8")], statement.to_csv()).into_response(),
        result => respond(result),
    }
}

async fn exceptions(State(app): State<Arc<App>>, _: Caller) -> Response {
    respond(app.exceptions().await)
}

async fn retry_exception(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let path = format!("/api/v1/exceptions/{id}/retry");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async { app.retry_exception(&id).await }).await
}

/// The key `idempotent` accepted (the work behind it runs only with a valid one).
fn idempotency_key(headers: &HeaderMap) -> String {
    idempotency_key_of(headers).unwrap_or_default().to_string()
}

async fn repay(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let path = format!("/api/v1/agreements/{id}/repayments");
    let key = idempotency_key(&headers);
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async { app.repay(&id, parse_json(&body)?, &key).await }).await
}

async fn statements(State(app): State<Arc<App>>, _: Caller, Path(id): Path<String>) -> Response {
    respond(app.statements(&id).await)
}

async fn request_limit(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let path = format!("/api/v1/agreements/{id}/limit-requests");
    let key = idempotency_key(&headers);
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        let req: crate::app::LimitRequest = parse_json(&body)?;
        app.request_limit(&id, req.requested_limit_fen, &key).await
    })
    .await
}

async fn add_family_member(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/agreements/{id}/family");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        app.add_family_member(&id, parse_object(&body, &["consent"])?).await
    })
    .await
}

async fn revoke_family_member(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path((id, link)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/agreements/{id}/family/{link}/revoke");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async { app.revoke_family_member(&id, &link).await }).await
}

/// Prometheus' text format (see `crate::metrics`). No `Caller`: a local scraper may have no key.
async fn metrics(State(app): State<Arc<App>>) -> Response {
    match app.metrics_text().await {
        Ok(text) => ([("content-type", "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A bank rings the doorbell (signed like a Stripe webhook); the hub then reads the bank's event
/// feed, which stays the source of truth. No API key: the signature authenticates the bank.
async fn bank_callback(State(app): State<Arc<App>>, headers: HeaderMap, Path(bank_code): Path<String>, body: Bytes) -> Response {
    let Some(bank) = app.banks.get(&bank_code) else {
        return AppError::not_found("unknown_bank", format!("no contract with bank {bank_code}")).into_response();
    };
    let signature = headers.get(signing::HEADER_CALLBACK_SIGNATURE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if signing::verify_callback(&bank.endpoint.callback_secret, signature, &body, now, signing::CALLBACK_TOLERANCE_S).is_err() {
        return AppError::Unauthorized { code: "bad_signature", message: "the callback's signature does not verify".into() }
            .into_response();
    }
    respond(app.sync_bank_events().await.map(|applied| serde_json::json!({"status": "ok", "applied": applied})))
}

#[cfg(test)]
mod route_tests;
