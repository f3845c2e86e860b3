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

/// Today, as the stored times' UTC date (`YYYY-MM-DD`).
pub fn today(app: &App) -> String {
    app.now().get(..10).unwrap_or_default().to_string()
}
