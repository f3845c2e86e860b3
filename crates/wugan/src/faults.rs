//! A fault-injecting HTTP proxy placed between the hub and a partner. It works on the wire, so the
//! same faults hit the insurance center and the bank alike, whatever their internals:
//! - `Refuse`: the partner never sees the request; the caller gets 503.
//! - `LoseReply`: the partner does the work, the reply is lost; the caller gets 504 (to the hub, a
//!   timeout: an unknown outcome).
//! - `Duplicate`: the request is delivered twice; the caller gets the second reply.
//! - `Delay`: the reply comes late.
//!
//! Faults are either scripted (the n-th request matching a step) for tests that hit each step, or
//! random at a rate from a seed for `wugan simulate`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Refuse,
    LoseReply,
    Duplicate,
    Delay(Duration),
}

/// A scripted fault: on the `nth` (1-based) request whose step is `step`, do `fault`.
#[derive(Clone, Debug)]
pub struct Rule {
    pub step: String,
    pub nth: u32,
    pub fault: Fault,
}

#[derive(Default)]
struct PlanState {
    seen: std::collections::HashMap<String, u32>,
    rng: Option<crate::rng::XorShift>,
    injected: u64,
    requests: u64,
}

/// What the proxy does to the requests it forwards.
pub struct FaultPlan {
    rules: Vec<Rule>,
    /// Random faults: probability in parts per million, spread over Refuse / LoseReply / Duplicate.
    rate_ppm: u32,
    state: Mutex<PlanState>,
}

impl FaultPlan {
    pub fn scripted(rules: Vec<Rule>) -> FaultPlan {
        FaultPlan { rules, rate_ppm: 0, state: Mutex::new(PlanState::default()) }
    }

    pub fn random(rate: f64, seed: u64) -> FaultPlan {
        let rate_ppm = (rate.clamp(0.0, 1.0) * 1_000_000.0).round() as u32;
        FaultPlan {
            rules: Vec::new(),
            rate_ppm,
            state: Mutex::new(PlanState { rng: Some(crate::rng::XorShift::new(seed)), ..Default::default() }),
        }
    }

    /// (requests seen, faults injected)
    pub fn counts(&self) -> (u64, u64) {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (s.requests, s.injected)
    }

    fn decide(&self, step: &str) -> Option<Fault> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.requests += 1;
        let n = {
            let count = s.seen.entry(step.to_string()).or_insert(0);
            *count += 1;
            *count
        };
        let scripted = self.rules.iter().find(|r| r.step == step && r.nth == n).map(|r| r.fault);
        let fault = scripted.or_else(|| {
            let x = match (&mut s.rng, self.rate_ppm) {
                (Some(rng), rate) if rate > 0 => rng.next_u64(),
                _ => return None,
            };
            if (x % 1_000_000) as u32 >= self.rate_ppm {
                return None;
            }
            Some(match (x >> 32) % 3 {
                0 => Fault::Refuse,
                1 => Fault::LoseReply,
                _ => Fault::Duplicate,
            })
        });
        if fault.is_some() {
            s.injected += 1;
        }
        fault
    }
}

/// The step a request is: the national interface's `infno` for the insurance center, the last
/// path segment for the bank ("authorizations", "captures", ...), with the method.
pub fn step_of(method: &Method, uri: &Uri, body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(infno) = v.get("infno").and_then(|i| i.as_str()) {
            return infno.to_string();
        }
    }
    let path = uri.path();
    let last = path.rsplit('/').find(|seg| !seg.is_empty()).unwrap_or("");
    if path.starts_with("/bank/v1/operations") {
        return format!("{method} operations");
    }
    format!("{method} {last}")
}

struct Proxy {
    target: String,
    http: reqwest::Client,
    plan: Arc<FaultPlan>,
}

/// A router that forwards everything to `target` through `plan`.
pub fn proxy(target: &str, plan: Arc<FaultPlan>) -> axum::Router {
    let state = Arc::new(Proxy { target: target.trim_end_matches('/').to_string(), http: reqwest::Client::new(), plan });
    axum::Router::new().fallback(forward).with_state(state)
}

async fn forward(State(p): State<Arc<Proxy>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let step = step_of(&method, &uri, &body);
    let fault = p.plan.decide(&step);
    if fault == Some(Fault::Refuse) {
        return (StatusCode::SERVICE_UNAVAILABLE, "fault injected: refused").into_response();
    }
    if let Some(Fault::Delay(d)) = fault {
        tokio::time::sleep(d).await;
    }
    let reply = send(&p, &method, &uri, &headers, &body).await;
    if fault == Some(Fault::Duplicate) {
        // The partner gets the request again; the caller sees the first answer, as on a network
        // that duplicated the packet.
        let _ = send(&p, &method, &uri, &headers, &body).await;
    }
    if fault == Some(Fault::LoseReply) {
        return (StatusCode::GATEWAY_TIMEOUT, "fault injected: reply lost").into_response();
    }
    match reply {
        Ok(r) => r,
        Err(e) => (StatusCode::BAD_GATEWAY, format!("proxy: {e}")).into_response(),
    }
}

async fn send(p: &Proxy, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Result<Response, String> {
    let path = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    let mut req = p.http.request(method.clone(), format!("{}{}", p.target, path)).body(body.clone());
    for (name, value) in headers {
        if name != "host" && name != "content-length" {
            req = req.header(name, value);
        }
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let content_type = resp.headers().get("content-type").cloned();
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    let mut out = (status, bytes).into_response();
    if let Some(ct) = content_type {
        out.headers_mut().insert("content-type", ct);
    }
    Ok(out)
}
