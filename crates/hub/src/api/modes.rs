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
        // The platform's own refusal in its own words (a gateway's 401 "签名错误", "应用ID未注册")
        // goes back as it came, status and all (review r25 ni F7); a body that is not a national
        // reply (a proxy's HTML page) is summarised by `national_errors` below.
        NationalAnswer::AsItCame { status, body } => {
            let status = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK);
            // Only a refusal is read here (a 2xx passes untouched, unparsed).
            let refused = status.as_u16() >= 400;
            let national =
                || serde_json::from_slice::<serde_json::Value>(crate::without_bom(&body)).is_ok_and(|r| r.get("infcode").is_some());
            if refused && !national() {
                let words = format!("the insurance platform answered HTTP {} without a national reply", status.as_u16());
                let reply = crate::app::national_interface::stamped(
                    crate::app::national_interface::national_error("医保平台返回了非标准应答", words),
                    app.store.clock.now_utc(),
                );
                return (json, reply.to_string()).into_response();
            }
            let mut response = (status, json, body).into_response();
            response.extensions_mut().insert(PlatformsOwn);
            response
        }
        NationalAnswer::Written(value) => {
            let reply = crate::app::national_interface::stamped(value, app.store.clock.now_utc());
            (json, reply.to_string()).into_response()
        }
    }
}

/// A national reply the platform wrote, passed on: not rewritten by `national_errors`.
#[derive(Clone, Copy)]
struct PlatformsOwn;

/// Under `/ni/`, what the hub's edge or router refuses (a body over the limit, an unknown path or
/// method, a rate limit) is answered in the national shape too, `{"infcode": -1, "err_msg"}` with
/// HTTP 200 as platforms answer, naming the hub's code: HIS software reads only that shape.
pub(super) async fn national_errors(
    State(app): State<Arc<App>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let under_prefix = request.uri().path().starts_with("/ni/");
    let response = next.run(request).await;
    let status = response.status();
    if !under_prefix || !(status.is_client_error() || status.is_server_error()) || response.extensions().get::<PlatformsOwn>().is_some() {
        return response;
    }
    // The hub's own error bodies are small JSON; anything longer is summarised by its status.
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    let error = serde_json::from_slice::<serde_json::Value>(&body).ok().map(|v| v["error"].clone()).unwrap_or_default();
    let code = error["code"].as_str().unwrap_or("refused");
    let message = error["message"].as_str().or(status.canonical_reason()).unwrap_or("refused");
    let answer = crate::app::national_interface::national_error("请求未被受理", format!("{message} ({code}, HTTP {})", status.as_u16()));
    let answer = crate::app::national_interface::stamped(answer, app.store.clock.now_utc());
    ([("content-type", "application/json")], answer.to_string()).into_response()
}
