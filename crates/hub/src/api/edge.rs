//! The hub's edge: what every request passes before a handler runs, in this order, each step
//! refusing as early and as cheaply as it can:
//!
//! 1. the client address's rate limit (429 `rate_limited`),
//! 2. the route's access rule: the API key (401 `unauthorized` / `key_revoked`, 403), then the
//!    key's rate limit; nothing of the body has been read yet,
//! 3. path parameters: short text without control characters (400 `bad_path_parameter`),
//! 4. the body, refused by its declared length before a byte is buffered and read up to the
//!    route's limit (413 `body_too_large`), within the server's body timeout (408 `body_timeout`).
//!
//! A staff session (cookie) stands in for the key in step 2 (`staff_auth`); a money- or
//! consent-changing request that passed every step gets an `attempt` entry in the audit log
//! before its handler runs (a refusal to write it refuses the request), and its outcome after.
//!
//! Every request then leaves one access log line: method, route (the template, no ids), status,
//! the key id that made it (never the key), duration. No personal data.

use super::auth::{authenticate, Access};
use super::limits::{Limiter, Rate};
use super::staff_auth;
use super::Route;
use crate::app::App;
use crate::error::AppError;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The edge's settings (the rest of its limits are per route, in `api::routes`).
#[derive(Clone, Debug, Default)]
pub struct EdgeConfig {
    /// Requests per API key; `None`: no limit.
    pub rate_per_key: Option<Rate>,
    /// Requests per client address (before the key is looked at); `None`: no limit.
    pub rate_per_address: Option<Rate>,
    /// `/metrics` answers a loopback address without an API key (a scraper on the same host);
    /// off, it takes an operator's key like every operator route.
    pub metrics_from_loopback: bool,
}

/// What a route lets in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub access: Access,
    /// The largest body the route reads, in bytes.
    pub body_limit_bytes: usize,
}

/// Path parameters (ids) are at most this many characters.
pub const PATH_PARAMETER_MAX_CHARS: usize = 64;

pub(super) struct Edge {
    app: Arc<App>,
    rules: Vec<(Method, &'static str, Rule)>,
    per_key: Option<Limiter<String>>,
    per_address: Option<Limiter<IpAddr>>,
    metrics_from_loopback: bool,
}

impl Edge {
    pub(super) fn new(app: Arc<App>, routes: &[Route], config: &EdgeConfig) -> Edge {
        Edge {
            app,
            rules: routes.iter().map(|r| (r.method.clone(), r.path, r.rule)).collect(),
            per_key: config.rate_per_key.map(Limiter::new),
            per_address: config.rate_per_address.map(Limiter::new),
            metrics_from_loopback: config.metrics_from_loopback,
        }
    }

    /// The rule of the route `request` was matched to; none for an unknown route or method, whose
    /// fallbacks read nothing.
    fn rule_for(&self, request: &Request) -> Option<Rule> {
        let path = request.extensions().get::<MatchedPath>()?.as_str();
        // axum answers HEAD with the GET handler.
        let method = if request.method() == Method::HEAD { Method::GET } else { request.method().clone() };
        self.rules.iter().find(|(m, p, _)| *m == method && *p == path).map(|(_, _, rule)| *rule)
    }

    /// Lets `request` in or refuses it; returns the response and the key id that made it.
    async fn admit(&self, request: Request, next: Next, audited: Option<&staff_auth::Audited>) -> (Response, Option<String>) {
        if let Some(limiter) = &self.per_address {
            let address = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
            if let Some(Err(wait)) = address.map(|a| limiter.check(&a, now())) {
                return (too_many_requests("this address", wait), None);
            }
        }
        let Some(rule) = self.rule_for(&request) else {
            return (next.run(request).await, None);
        };
        let template = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_default();
        let (mut parts, body) = request.into_parts();
        let mut key_id = None;
        if rule.access == Access::Patient {
            let patient = match super::patient_auth::authenticate(&self.app, &parts).await {
                Ok(patient) => patient,
                Err(e) => return (e.into_response(), None),
            };
            key_id = Some(patient.scope());
            if let Some(Err(wait)) = self.per_key.as_ref().map(|limiter| limiter.check(&patient.scope(), now())) {
                return (too_many_requests("this patient", wait), key_id);
            }
            parts.extensions.insert(patient);
        }
        let local_scraper = rule.access == Access::Scraper && self.metrics_from_loopback && from_loopback(&parts);
        let role = rule.access.role().filter(|_| !local_scraper);
        // A staff session (cookie, no API key) on a route for keys or for staff (api/staff_auth.rs).
        let session = if parts.headers.contains_key("authorization") { None } else { staff_auth::session_cookie(&parts.headers) };
        if let Some(token) = session.filter(|_| role.is_some() || rule.access == Access::Staff) {
            let actor = match staff_auth::admit_session(&self.app, &mut parts, &token, role, &template).await {
                Ok(actor) => actor,
                Err(e) => return (e.into_response(), None),
            };
            if let Some(Err(wait)) = self.per_key.as_ref().map(|limiter| limiter.check(&actor, now())) {
                return (too_many_requests("this session", wait), Some(actor));
            }
            key_id = Some(actor);
        } else if rule.access == Access::Staff {
            return (AppError::Unauthorized { code: "unauthorized", message: "sign in first".into() }.into_response(), None);
        } else if let Some(role) = role {
            let key = match authenticate(&self.app, &parts.headers, role).await {
                Ok(key) => key,
                Err(e) => return (e.into_response(), None),
            };
            key_id = Some(key.key_id.clone());
            if let Some(Err(wait)) = self.per_key.as_ref().map(|limiter| limiter.check(&key.key_id, now())) {
                return (too_many_requests("this API key", wait), key_id);
            }
            parts.extensions.insert(key.caller());
        }
        let body = match check_path_parameters(&mut parts).await {
            Ok(()) => read_body(body, &parts.headers, rule.body_limit_bytes).await,
            Err(e) => Err(e),
        };
        let body = match body {
            Ok(body) => body,
            Err(e) => return (e.into_response(), key_id),
        };
        // Audit before the action: its `attempt` entry is on disk before the handler runs, so no
        // action happens without a trace even if the hub dies at once; without it, no action.
        if let (Some(audited), Some(actor)) = (audited, key_id.as_deref()) {
            if let Err(e) = audited.attempt(&self.app, actor).await {
                return (e.into_response(), key_id);
            }
        }
        (next.run(Request::from_parts(parts, Body::from(body))).await, key_id)
    }
}

/// The request came from this host (the server records each connection's peer).
fn from_loopback(parts: &Parts) -> bool {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().is_some_and(|c| c.0.ip().is_loopback())
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// The edge, as middleware around every route.
pub(super) async fn guard(State(edge): State<Arc<Edge>>, request: Request, next: Next) -> Response {
    let started = tokio::time::Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let request_id = new_request_id();
    let address = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let audited = staff_auth::Audited::of(&method, route.as_deref(), request.uri().path(), address);
    let (mut response, key_id) = edge.admit(request, next, audited.as_ref()).await;
    if let (Some(audited), Some(actor)) = (audited, key_id.as_deref()) {
        let replayed = response.headers().contains_key("idempotent-replayed");
        audited.record(&edge.app, actor, response.status().as_u16(), replayed).await;
    }
    edge.app.metrics.http_request(method.as_str(), route.as_deref(), response.status().as_u16(), started.elapsed());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    tracing::info!(
        target: "wugan_hub::access",
        request_id = %request_id,
        method = %method,
        route = %route.as_deref().unwrap_or("-"),
        status = response.status().as_u16(),
        key = %key_id.as_deref().unwrap_or("-"),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// The header that carries a request's id back to its caller, who quotes it to the operator: the
/// access log's line for that request has the same id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Always the hub's own: a caller's id is not taken, since a caller could put anything in it
/// (an ID number) and the access log must never hold personal data.
fn new_request_id() -> String {
    format!("req_{}", uuid::Uuid::now_v7().simple())
}

fn too_many_requests(who: &str, wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let error = AppError::Http {
        status: StatusCode::TOO_MANY_REQUESTS,
        code: "rate_limited",
        message: format!("too many requests from {who}; retry after {seconds} s"),
    };
    let mut response = error.into_response();
    response.headers_mut().insert("retry-after", HeaderValue::from(seconds.max(1)));
    response
}

/// Ids in the path are echoed in answers and logs: short text, no control characters.
async fn check_path_parameters(parts: &mut Parts) -> Result<(), AppError> {
    let params = RawPathParams::from_request_parts(parts, &()).await.map_err(|e| AppError::bad_request("bad_request", e.body_text()))?;
    for (name, value) in &params {
        if crate::app::check_text_value(name, value, Some(PATH_PARAMETER_MAX_CHARS as u64)).is_err() {
            return Err(AppError::bad_request(
                "bad_path_parameter",
                format!("{name} must be at most {PATH_PARAMETER_MAX_CHARS} characters, without control characters"),
            ));
        }
    }
    Ok(())
}

/// Reads a body of at most `limit` bytes: a larger declared length is refused unread.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, AppError> {
    let too_large = || AppError::Http {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "body_too_large",
        message: format!("this endpoint takes bodies of at most {limit} bytes"),
    };
    let declared = headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(e) if caused_by(&e, |e| e.is::<http_body_util::LengthLimitError>()) => Err(too_large()),
        Err(e) if caused_by(&e, |e| e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)) => {
            Err(AppError::Http {
                status: StatusCode::REQUEST_TIMEOUT,
                code: "body_timeout",
                message: "the body did not arrive in time".into(),
            })
        }
        Err(_) => Err(AppError::bad_request("bad_body", "the request body could not be read")),
    }
}

/// Whether `error` or one of its sources satisfies `test`.
fn caused_by(error: &(dyn std::error::Error + 'static), test: impl Fn(&(dyn std::error::Error + 'static)) -> bool) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if test(e) {
            return true;
        }
        current = e.source();
    }
    false
}
