//! Staff sessions at the edge: a request without `Authorization` but with the session cookie acts
//! as its staff member: the operator, or their hospital, limited to what their role may do
//! (`StaffRole::may`); bank staff only reach the staff routes. A state-changing request also
//! carries the session's CSRF token in `x-csrf-token` (a cross-site form cannot set a header).
//! Every sign-in and every money- or consent-changing request, whoever made it, is appended to the
//! audit log (`audit`).

use crate::app::staff::{audited_action, StaffSession, CSRF_HEADER, SESSION_COOKIE};
use crate::app::App;
use crate::error::AppError;
use crate::model::Role;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};

/// The session token in the request's cookies, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Lets a session in on a route opened to `role` (`None`: a staff route); puts its `Caller` (when
/// it acts as one) and its `StaffSession` in the request; returns the actor's name for logs.
pub(super) async fn admit_session(
    app: &App,
    parts: &mut Parts,
    token: &str,
    role: Option<Role>,
    template: &str,
) -> Result<String, AppError> {
    let session = app
        .staff_session(token)
        .await?
        .ok_or_else(|| AppError::Unauthorized { code: "session_expired", message: "the session has ended; sign in again".into() })?;
    if parts.method != Method::GET && parts.method != Method::HEAD {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if sent != session.csrf_token {
            return Err(AppError::Forbidden { message: format!("send the session's {CSRF_HEADER} header with every change") });
        }
    }
    let actor = format!("staff:{}", session.login);
    if let Some(role) = role {
        let caller = session.role.caller_of(&session).filter(|c| c.role == role);
        let Some(caller) = caller.filter(|_| session.role.may(&parts.method, template)) else {
            return Err(AppError::Forbidden { message: format!("a {} may not do this", session.role.as_str()) });
        };
        parts.extensions.insert(caller);
    }
    parts.extensions.insert(session);
    Ok(actor)
}

/// What the audit log needs of a request, taken before it runs.
pub(super) struct Audited {
    action: String,
    target: String,
    address: String,
}

impl Audited {
    /// The request, if it is one the audit log records.
    pub(super) fn of(method: &Method, template: Option<&str>, path: &str, address: Option<std::net::IpAddr>) -> Option<Audited> {
        let template = template?;
        audited_action(method, template).then(|| Audited {
            action: format!("{method} {template}"),
            target: path.to_string(),
            address: address.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
        })
    }

    /// Appends the write-ahead entry (outcome `attempt`) before the handler runs; an error when it
    /// could not be written, and then the action must not run.
    pub(super) async fn attempt(&self, app: &App, actor: &str) -> Result<(), AppError> {
        app.audit_attempt(actor, &self.action, &self.target, &self.address).await
    }

    /// Appends the request's outcome entry: `actor` did it, and it answered `status`.
    pub(super) async fn record(self, app: &App, actor: &str, status: u16, replayed: bool) {
        let outcome = match (status, replayed) {
            (_, true) => "replayed".to_string(),
            (200..=299, _) => "ok".to_string(),
            (status, _) => format!("refused {status}"),
        };
        app.audit(actor, &self.action, &self.target, &self.address, &outcome).await;
    }
}

/// The signed-in staff member of a staff route (the edge put it there).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for StaffSession {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<StaffSession, AppError> {
        parts.extensions.get::<StaffSession>().cloned().ok_or_else(|| AppError::internal("a staff route without a session"))
    }
}

/// The client's address as the server recorded it ("-" when the router runs without one, as in
/// tests that call it in-process).
pub(super) struct PeerAddress(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PeerAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<PeerAddress, std::convert::Infallible> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip().to_string());
        Ok(PeerAddress(peer.unwrap_or_else(|| "-".into())))
    }
}
