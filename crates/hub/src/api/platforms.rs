//! A hospital's own insurance platform, read and set by operators (`app::platform_settings`).

use super::{idempotent, parse_json, respond};
use crate::app::App;
use crate::app::HospitalPlatform;
use crate::model::Caller;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use std::sync::Arc;

pub(super) async fn platform(State(app): State<Arc<App>>, _: Caller, Path(code): Path<String>) -> Response {
    respond(app.hospital_platform_view(&code).await)
}

pub(super) async fn set_platform(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(code): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/operator/hospitals/{code}/platform");
    idempotent(&app, &caller, &headers, &Method::POST, &path, &body, || async {
        app.update_hospital_platform(&code, parse_json::<HospitalPlatform>(&body)?).await
    })
    .await
}
