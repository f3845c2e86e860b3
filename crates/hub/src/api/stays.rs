//! The inpatient routes (住院, `app/inpatient.rs`): admission with the deposit held, the day's
//! fees (and their withdrawal, 2302), the bedside discharge and the cancellations (an interim
//! settlement's too).

use super::*;

/// The stay routes of the table (`routes`): 住院, its fees, deposits and settlements.
pub(super) fn routes() -> Vec<Route> {
    use Access::Hospital;
    use Method as M;
    let (no_body, command) = (NO_BODY_BYTES, COMMAND_BODY_BYTES);
    vec![
        Route::new(M::POST, "/api/v1/stays", Hospital, command, admit),
        Route::new(M::GET, "/api/v1/stays", Hospital, no_body, stays),
        Route::new(M::GET, "/api/v1/stays/{id}", Hospital, no_body, stay),
        Route::new(M::POST, "/api/v1/stays/{id}/fees", Hospital, FEES_BODY_BYTES, upload_stay_fees),
        Route::new(M::POST, "/api/v1/stays/{id}/discharge", Hospital, command, discharge),
        Route::new(M::POST, "/api/v1/stays/{id}/interim_settlement", Hospital, no_body, interim_settlement),
        Route::new(M::POST, "/api/v1/stays/{id}/deposit", Hospital, command, place_deposit),
        Route::new(M::POST, "/api/v1/stays/{id}/discharge/cancel", Hospital, no_body, undo_discharge),
        Route::new(M::POST, "/api/v1/stays/{id}/cancel", Hospital, no_body, cancel_admission),
        Route::new(M::POST, "/api/v1/stays/{id}/admission", Hospital, command, change_admission),
        Route::new(M::POST, "/api/v1/stays/{id}/settlement/cancel", Hospital, no_body, cancel_stay_settlement),
        Route::new(M::POST, "/api/v1/stays/{id}/interim_settlements/{n}/cancel", Hospital, no_body, cancel_interim_settlement),
        Route::new(M::POST, "/api/v1/stays/{id}/fees/withdraw", Hospital, command, withdraw_stay_fees),
    ]
}

/// 入院办理 with the deposit held on the line (app/inpatient.rs).
pub(super) async fn admit(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap, body: Bytes) -> Response {
    let hospital = hospital_of(&caller);
    let key = idempotency_key(&headers);
    idempotent(&app, &caller, &headers, &Method::POST, "/api/v1/stays", &body, || async {
        app.admit(&hospital, parse_json(&body)?, &key).await
    })
    .await
}

pub(super) async fn stay(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> Response {
    respond(app.stay(&hospital_of(&caller), &id).await)
}

pub(super) async fn upload_stay_fees(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let hospital = hospital_of(&caller);
    let path = format!("/api/v1/stays/{id}/fees");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        app.upload_stay_fees(&hospital, &id, parse_json(&body)?).await
    })
    .await
}

/// 病区结算: the bedside click; its body (none, `{}`, or the discharge's information) is
/// `app::DischargeRequest`.
pub(super) async fn discharge(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let hospital = hospital_of(&caller);
    let path = format!("/api/v1/stays/{id}/discharge");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        app.discharge(&hospital, &id, parse_json::<crate::app::DischargeRequest>(&body)?).await
    })
    .await
}

/// 中途结算: the lines uploaded so far settled while the patient stays in the ward (app/stay_interim.rs).
pub(super) async fn interim_settlement(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let hospital = hospital_of(&caller);
    let key = idempotency_key(&headers);
    let path = format!("/api/v1/stays/{id}/interim_settlement");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        let _: EmptyBody = parse_json(&body)?;
        app.interim_settlement(&hospital, &id, &key).await
    })
    .await
}

/// 补交押金: a fresh hold for a stay in the ward that holds nothing (app/stay_holds.rs).
pub(super) async fn place_deposit(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let hospital = hospital_of(&caller);
    let path = format!("/api/v1/stays/{id}/deposit");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        app.place_deposit(&hospital, &id, parse_json::<crate::app::PlaceDepositRequest>(&body)?).await
    })
    .await
}

/// 出院撤销 (2405) and 入院撤销 (2404).
pub(super) async fn undo_discharge(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let hospital = hospital_of(&caller);
    let path = format!("/api/v1/stays/{id}/discharge/cancel");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        let _: EmptyBody = parse_json(&body)?;
        app.undo_discharge(&hospital, &id).await
    })
    .await
}

pub(super) async fn cancel_admission(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let hospital = hospital_of(&caller);
    let path = format!("/api/v1/stays/{id}/cancel");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        let _: EmptyBody = parse_json(&body)?;
        app.cancel_admission(&hospital, &id).await
    })
    .await
}

/// 住院结算撤销 (2305).
pub(super) async fn cancel_stay_settlement(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let hospital = hospital_of(&caller);
    let path = format!("/api/v1/stays/{id}/settlement/cancel");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        let _: EmptyBody = parse_json(&body)?;
        app.cancel_stay_settlement(&hospital, &id).await
    })
    .await
}

/// 中途结算撤销: interim settlement `n` cancelled in the ward (2305, its bank share refunded;
/// app/stay_interim_cancel.rs).
pub(super) async fn cancel_interim_settlement(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path((id, n)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let hospital = hospital_of(&caller);
    let path = format!("/api/v1/stays/{id}/interim_settlements/{n}/cancel");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        let _: EmptyBody = parse_json(&body)?;
        app.cancel_interim_settlement(&hospital, &id, &n).await
    })
    .await
}

/// 住院费用明细撤销 (2302): unsettled fee lines withdrawn in the ward (app/stay_fee_withdrawals.rs).
pub(super) async fn withdraw_stay_fees(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let hospital = hospital_of(&caller);
    let key = idempotency_key(&headers);
    let path = format!("/api/v1/stays/{id}/fees/withdraw");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        app.withdraw_stay_fees(&hospital, &id, parse_json::<crate::app::WithdrawStayFeesRequest>(&body)?, &key).await
    })
    .await
}

/// An operator sends a parked stay round once more (app/stay_exceptions.rs).
pub(super) async fn retry_stay_exception(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/exceptions/stays/{id}/retry");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async { app.retry_stay_exception(&id).await }).await
}

/// 入院信息变更 (2403, `app/stay_changes.rs`).
pub(super) async fn change_admission(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let hospital = hospital_of(&caller);
    let path = format!("/api/v1/stays/{id}/admission");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        app.change_admission(&hospital, &id, parse_json::<crate::app::ChangeAdmissionRequest>(&body)?).await
    })
    .await
}

/// The calling hospital's stays, newest first (`open`, `ipt_no`, `limit`).
pub(super) async fn stays(State(app): State<Arc<App>>, caller: Caller, uri: axum::http::Uri) -> Response {
    let hospital = caller.hospital_code.clone().unwrap_or_default();
    match axum::extract::Query::<crate::app::stay_lists::StayQuery>::try_from_uri(&uri) {
        Ok(q) => respond(app.stays_of_hospital(&hospital, q.0).await),
        Err(e) => AppError::bad_request("bad_query", format!("the query is not understood: {}", e.body_text())).into_response(),
    }
}
