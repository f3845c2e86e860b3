//! Who may call what: each route's [`Access`], and the API key check that runs before a byte of the
//! request's body is read.

use crate::app::App;
use crate::error::AppError;
use crate::model::{Caller, Role};
use crate::store::{ApiKeyRow, KeyStatus};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone: liveness and the API's own document.
    Public,
    /// An operator's API key (the patient channel and the hub's operators).
    Operator,
    /// A hospital's API key; the route sees only that hospital's visits.
    Hospital,
    /// A metrics scraper: an operator's API key, or none from a loopback address when the edge is
    /// told so (`EdgeConfig::metrics_from_loopback`, for a Prometheus on the same host).
    Scraper,
    /// A bank, by the HMAC signature of its callback (checked by the handler, which needs the body).
    Bank,
    /// A signed-in staff member (session cookie), whatever their role; no API key opens it.
    Staff,
    /// A signed-in patient, by session cookie (with CSRF on changes) or bearer token
    /// (`patient_auth`); the route sees only that patient's own data.
    Patient,
}

impl Access {
    /// The role whose API key opens a route, for the routes that take one.
    pub fn role(self) -> Option<Role> {
        match self {
            Access::Operator | Access::Scraper => Some(Role::Operator),
            Access::Hospital => Some(Role::Hospital),
            Access::Public | Access::Bank | Access::Staff | Access::Patient => None,
        }
    }
}

/// Hashes an API key as stored: keys themselves are never kept.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The token of an `Authorization: Bearer <token>` header, whatever the scheme's case.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The key behind `Authorization: Bearer <key>`, if it opens the API for `role` now.
pub(super) async fn authenticate(app: &App, headers: &HeaderMap, role: Role) -> Result<ApiKeyRow, AppError> {
    let unauthorized = |m: &str| AppError::Unauthorized { code: "unauthorized", message: m.to_string() };
    let header =
        headers.get("authorization").and_then(|v| v.to_str().ok()).ok_or_else(|| unauthorized("send Authorization: Bearer <api key>"))?;
    // The scheme is case-insensitive (RFC 9110 §11.1): "bearer", "BEARER" and "Bearer" alike.
    let key = bearer_token(header).ok_or_else(|| unauthorized("send Authorization: Bearer <api key>"))?;
    let row = app.store.api_key_by_hash(&hash_api_key(key.trim())).await?.ok_or_else(|| unauthorized("unknown API key"))?;
    let revoked = |message: String| AppError::Unauthorized { code: "key_revoked", message };
    match row.status(&app.store.now()) {
        KeyStatus::Active | KeyStatus::Expiring { .. } => {}
        KeyStatus::Revoked { at } => return Err(revoked(format!("this API key ({}) was revoked at {at}", row.key_id))),
        KeyStatus::Expired { at } => {
            return Err(revoked(format!("this API key ({}) was rotated; its grace period ended at {at}", row.key_id)))
        }
    }
    if row.role != role {
        return Err(AppError::Forbidden { message: format!("this endpoint is for {} callers", role.as_str()) });
    }
    if let Err(e) = app.store.note_key_use(&row).await {
        // Attribution is in the access log already; a missed "last used" costs nothing else.
        tracing::warn!(key = %row.key_id, error = %e, "could not note a key's use");
    }
    Ok(row)
}

/// The caller the edge authenticated (see `edge::guard`). A handler that takes one on a route
/// without an access rule answers 500 rather than run unauthenticated.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Caller, AppError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| AppError::internal("a route that needs a caller has no access rule"))
    }
}

#[cfg(test)]
mod bearer_tests {
    #[test]
    fn the_scheme_is_case_insensitive() {
        for (header, token) in [
            ("Bearer k1", Some("k1")),
            ("bearer k1", Some("k1")),
            ("BEARER  k1 ", Some("k1")),
            ("Basic k1", None),
            ("Bearer", None),
            ("Bearer ", None),
        ] {
            assert_eq!(super::bearer_token(header), token, "{header}");
        }
    }
}
