//! What the staff consoles share: the signed-in staff member behind a page (the session cookie
//! the hub's `/api/v1/staff/sessions` set), and the sign-in form both consoles show first.

use std::sync::Arc;
use wugan_hub::app::staff::{StaffSession, SESSION_COOKIE};
use wugan_hub::app::App;

/// The staff member the request's session cookie signs in now, if any.
pub async fn session(app: &Arc<App>, headers: &axum::http::HeaderMap) -> Option<StaffSession> {
    let token = crate::prefs::cookie(headers, SESSION_COOKIE)?;
    match app.staff_session(token).await {
        Ok(session) => session,
        Err(e) => {
            tracing::warn!(code = e.code(), "a staff session could not be read");
            None
        }
    }
}

/// Today, the business day in China time (`YYYY-MM-DD`): the cut-off is 00:00 China time, as in
/// statements, reconciliation and clearing.
pub fn today(app: &App) -> String {
    wugan_hub::clock::china_datetime_of(app.store.clock.now_utc()).get(..10).unwrap_or_default().to_string()
}
