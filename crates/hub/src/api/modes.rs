//! The HIS API of the deployment modes (issue 15): a cash-only settlement posted from the
//! hospital's own platform's 2207 output, and its cancellation from the 2208 output.

use super::*;

pub(super) async fn settle_cash_only(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, body: Bytes) -> Response {
    let hospital = hospital_of(&caller);
    let request = Keyed::new(&caller.scope(), &idempotency_key(&headers));
    idempotent_keyed(&app, &caller, &headers, &Method::POST, "/api/v1/cash-settlements", &body, &request, || async {
        let req: crate::app::CashSettleRequest = parse_json(&body)?;
        app.settle_cash_only(&hospital, &req, &request).await
    })
    .await
}

pub(super) async fn cancel_cash_only(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let hospital = hospital_of(&caller);
    let path = format!("/api/v1/visits/{id}/cash-settlement/cancel");
    let request = Keyed::new(&caller.scope(), &idempotency_key(&headers));
    idempotent_keyed(&app, &caller, &headers, &Method::POST, &path, &body, &request, || async {
        // Another hospital's visit answers like a missing one, whatever the body.
        app.visit(&hospital, &id).await?;
        let req: crate::app::CashCancelRequest = parse_json(&body)?;
        app.cancel_cash_only(&hospital, &id, &req, &request).await
    })
    .await
}

/// The drop-in national-interface endpoint: the HIS's own envelope under its secret prefix,
/// answered in the national shape (never an HTTP error of the hub's).
pub(super) async fn national_call(State(app): State<Arc<App>>, Path(token): Path<String>, body: Bytes) -> Response {
    use crate::app::national_interface::NationalAnswer;
    let json = [("content-type", "application/json")];
    match app.national_call(&token, &body).await {
        NationalAnswer::AsItCame { status, body } => {
            let status = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK);
            (status, json, body).into_response()
        }
        NationalAnswer::Written(value) => (json, value.to_string()).into_response(),
    }
}
