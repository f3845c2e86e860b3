//! `GET /api/v1/patient/stays`: the signed-in patient's inpatient stays and those on their line
//! (`app/patient_stays.rs`).

use super::patient_auth::PatientCaller;
use super::respond;
use crate::app::App;
use axum::extract::State;
use axum::response::Response;
use std::sync::Arc;

pub(super) async fn stays(State(app): State<Arc<App>>, patient: PatientCaller) -> Response {
    respond(app.patient_stays(&patient.patient_id).await)
}
