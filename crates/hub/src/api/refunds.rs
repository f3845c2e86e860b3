//! The refund routes (退费, `app/refunds.rs`): fee lines returned after the click, a visit's
//! refunds, and the registration cancel (退号, 2202).

use super::*;

/// 退费: the lines returned (every line still in force: a full refund).
pub(super) async fn refund(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let hospital = hospital_of(&caller);
    let path = format!("/api/v1/visits/{id}/refunds");
    let key = idempotency_key(&headers);
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        // Another hospital's visit answers like a missing one, whatever the body holds.
        app.visit(&hospital, &id).await?;
        let request: crate::app::RefundRequest = parse_json(&body)?;
        app.refund_lines(&hospital, &id, &request.lines, &key).await
    })
    .await
}

pub(super) async fn refunds(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> Response {
    respond(app.refunds_of(&hospital_of(&caller), &id).await)
}

pub(super) async fn refund_of_visit(State(app): State<Arc<App>>, caller: Caller, Path((id, refund)): Path<(String, String)>) -> Response {
    respond(app.refund_of_visit(&hospital_of(&caller), &id, &refund).await)
}

/// 退号 (2202) of a visit with nothing settled in force.
pub(super) async fn cancel_registration(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let hospital = hospital_of(&caller);
    let path = format!("/api/v1/visits/{id}/registration/cancel");
    let key = idempotency_key(&headers);
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        let _: EmptyBody = parse_json(&body)?;
        app.cancel_registration(&hospital, &id, &key).await
    })
    .await
}

/// An operator sends a parked refund round once more (app/refund_exceptions.rs).
pub(super) async fn retry_refund_exception(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/exceptions/refunds/{id}/retry");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async { app.retry_refund_exception(&id).await }).await
}

/// An operator sends a parked fee withdrawal (2205) round once more (app/fee_withdrawal_exceptions.rs).
pub(super) async fn retry_fee_withdrawal_exception(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/exceptions/fee_withdrawals/{id}/retry");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async { app.retry_fee_withdrawal_exception(&id).await }).await
}

/// An operator ends a parked fee withdrawal by hand, on what the center's record shows
/// (app/fee_withdrawal_exceptions.rs).
pub(super) async fn resolve_fee_withdrawal_exception(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/exceptions/fee_withdrawals/{id}/resolve");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        app.resolve_fee_withdrawal_exception(&id, parse_json(&body)?).await
    })
    .await
}

/// 对账差异处理: a difference reconciliation left for an operator, marked dealt with outside the
/// hub (`app/reconciliation_handled.rs`).
pub(super) async fn reconciliation_handled(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, body: Bytes) -> Response {
    idempotent(&app, &caller, &headers, &Method::POST, "/api/v1/exceptions/reconciliation/handled", &body, || async {
        let request: crate::app::reconciliation_handled::HandledRequest = parse_json(&body)?;
        app.mark_reconciliation_handled(request).await
    })
    .await
}
