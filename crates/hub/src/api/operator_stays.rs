//! The operator's look at the stays (住院, `app/operator_stays.rs`): one stay whole at any
//! hospital, and the stays of one hospital or one insured person.

use super::*;
use crate::app::operator_stays::OperatorStayQuery;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api/v1/operator/stays", Access::Operator, NO_BODY_BYTES, stays),
        Route::new(Method::GET, "/api/v1/operator/stays/{id}", Access::Operator, NO_BODY_BYTES, stay),
    ]
}

async fn stays(State(app): State<Arc<App>>, _: Caller, uri: axum::http::Uri) -> Response {
    match axum::extract::Query::<OperatorStayQuery>::try_from_uri(&uri) {
        Ok(q) => respond(app.operator_stays(q.0).await),
        Err(e) => AppError::bad_request("bad_query", format!("the query is not understood: {}", e.body_text())).into_response(),
    }
}

async fn stay(State(app): State<Arc<App>>, _: Caller, Path(id): Path<String>) -> Response {
    respond(app.operator_stay(&id).await)
}
