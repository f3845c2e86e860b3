//! How a patient opens `Access::Patient` routes: the session token, as the `wg_session` cookie
//! (the pages) or as `Authorization: Bearer pat_…` (an app). A call made with the cookie that
//! changes anything must also carry the session's CSRF token in `X-CSRF-Token`: another site can
//! make a browser send the cookie, never read the token.

use crate::app::patients::SESSION_TTL;
use crate::app::App;
use crate::error::AppError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "wg_session";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The signed-in patient, as the edge found them.
#[derive(Clone, Debug)]
pub struct PatientCaller {
    pub patient_id: String,
    /// The session's token (to sign out).
    pub token: String,
}

impl PatientCaller {
    /// The idempotency scope and the access log's "key" for this caller.
    pub fn scope(&self) -> String {
        format!("patient:{}", self.patient_id)
    }
}

/// The value of cookie `name`.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let header = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = header.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| t.starts_with("pat_"))
}

/// Both sides equal, compared in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The patient behind the request, or why not.
pub(super) async fn authenticate(app: &App, parts: &Parts) -> Result<PatientCaller, AppError> {
    let unauthorized = |m: &str| AppError::Unauthorized { code: "unauthorized", message: m.to_string() };
    let (token, by_cookie) = match (bearer(&parts.headers), cookie(&parts.headers, SESSION_COOKIE)) {
        (Some(token), _) => (token, false),
        (None, Some(token)) if !token.is_empty() => (token, true),
        _ => return Err(unauthorized("sign in first: the session cookie or Authorization: Bearer pat_…")),
    };
    let session = app.patient_session(token).await?.ok_or_else(|| unauthorized("the session has ended: sign in again"))?;
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if by_cookie && !safe {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !same(sent, &session.csrf_token) {
            return Err(AppError::Http {
                status: axum::http::StatusCode::FORBIDDEN,
                code: "csrf_failed",
                message: "send the session's CSRF token in X-CSRF-Token with every change".into(),
            });
        }
    }
    Ok(PatientCaller { patient_id: session.patient_id, token: token.to_string() })
}

/// The `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Secure when the request came over TLS.
pub fn session_cookie(token: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{SESSION_COOKIE}={token}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}", SESSION_TTL.as_secs());
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("wg_session=; Path=/; Max-Age=0"))
}

/// The `Set-Cookie` that ends the session in the browser.
pub fn cleared_session_cookie() -> HeaderValue {
    HeaderValue::from_static("wg_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
}

/// TLS ends here or at a proxy that says so (`X-Forwarded-Proto: https`).
pub fn came_over_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// A handler on a `Patient` route gets the patient the edge authenticated.
impl<S: Send + Sync> FromRequestParts<S> for PatientCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<PatientCaller, AppError> {
        parts
            .extensions
            .get::<PatientCaller>()
            .cloned()
            .ok_or_else(|| AppError::internal("a patient route without the Patient access rule"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_compare_whole() {
        for (a, b, equal) in [("abc", "abc", true), ("abc", "abd", false), ("abc", "ab", false), ("", "", true)] {
            assert_eq!(super::same(a, b), equal, "{a} {b}");
        }
    }
}
