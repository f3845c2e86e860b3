//! A fault-injecting HTTP proxy placed between the hub and a partner. It works on the wire, so the
//! same faults hit the insurance center and the bank alike, whatever their internals:
//! - `Refuse`: the partner never sees the request; the caller gets 503.
//! - `LoseReply`: the partner does the work, the reply is lost; the caller gets 504 (to the hub, a
//!   timeout: an unknown outcome).
//! - `Duplicate`: the request is delivered twice, byte for byte (the same nonce); the caller gets
//!   the first reply.
//! - `DuplicateLate`: delivered twice the same way; the caller gets the second reply, which is the
//!   partner's answer to a repeat (a bank's `replayed_nonce`, an insurance center's replay).
//! - `Delay`: the reply comes late.
//!
//! Faults are either scripted (the n-th request matching a step) for tests that hit each step, or
//! random at a rate from a seed for `wugan simulate`. Random faults are drawn per actor (a visit, a
//! sign-up, the background work): each actor has its own stream derived from the seed, and a request
//! is told to its actor by what it carries (see [`Actors`]), so that the faults a visit meets do not
//! depend on how concurrent visits interleave.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::rng::XorShift;

/// The stream of requests no actor claims: the simulator makes them one at a time (sign-ups,
/// bank-event polls), so their order is fixed even though they share one stream.
pub const UNATTRIBUTED: &str = "unattributed";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Refuse,
    LoseReply,
    Duplicate,
    DuplicateLate,
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
    seen: HashMap<String, u32>,
    /// Random faults: one generator per actor, created on the actor's first request.
    streams: HashMap<String, XorShift>,
    injected: u64,
    requests: u64,
    /// With `recording`: every request's step, body and the answer its caller got, in order.
    exchanges: Vec<Exchange>,
}

/// A request the proxy forwarded, as its caller sent it, and the answer the caller got (`Null`
/// when it got none: a refusal or a lost reply).
#[derive(Clone, Debug)]
pub struct Exchange {
    pub step: String,
    pub request: Value,
    pub reply: Value,
}

/// What the proxy does to the requests it forwards.
pub struct FaultPlan {
    rules: Vec<Rule>,
    /// Random faults: probability in parts per million, spread over Refuse / LoseReply / Duplicate / DuplicateLate.
    rate_ppm: u32,
    /// Random faults: every actor's stream is derived from this seed and the actor's name.
    seed: u64,
    /// Who is who; without it every request is [`UNATTRIBUTED`].
    actors: Option<Arc<Actors>>,
    /// Keep every exchange for a test to read (`exchanges`).
    recording: bool,
    state: Mutex<PlanState>,
}

impl FaultPlan {
    pub fn scripted(rules: Vec<Rule>) -> FaultPlan {
        FaultPlan { rules, rate_ppm: 0, seed: 0, actors: None, recording: false, state: Mutex::new(PlanState::default()) }
    }

    pub fn random(rate: f64, seed: u64) -> FaultPlan {
        let rate_ppm = (rate.clamp(0.0, 1.0) * 1_000_000.0).round() as u32;
        FaultPlan { rules: Vec::new(), rate_ppm, seed, actors: None, recording: false, state: Mutex::new(PlanState::default()) }
    }

    /// Draws each request's fault from the stream of the actor `actors` says it belongs to.
    pub fn by_actor(self, actors: Arc<Actors>) -> FaultPlan {
        FaultPlan { actors: Some(actors), ..self }
    }

    /// Keeps every exchange through the proxy, for a test to read what a partner was sent
    /// (`exchanges`); a long run would hold them all, so only tests ask.
    pub fn recording(self) -> FaultPlan {
        FaultPlan { recording: true, ..self }
    }

    /// The exchanges of `step` ("2207", "POST refunds"), oldest first (with `recording`).
    pub fn exchanges(&self, step: &str) -> Vec<Exchange> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.exchanges.iter().filter(|e| e.step == step).cloned().collect()
    }

    fn record(&self, step: &str, request: Option<&Value>, reply: Value) {
        if self.recording {
            let exchange = Exchange { step: step.to_string(), request: request.cloned().unwrap_or(Value::Null), reply };
            self.state.lock().unwrap_or_else(|p| p.into_inner()).exchanges.push(exchange);
        }
    }

    /// (requests seen, faults injected)
    pub fn counts(&self) -> (u64, u64) {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (s.requests, s.injected)
    }

    fn decide(&self, step: &str, clues: &Clues) -> Option<Fault> {
        let actor = self.actors.as_ref().and_then(|a| a.actor_of(clues)).unwrap_or_else(|| UNATTRIBUTED.to_string());
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.requests += 1;
        let n = {
            let count = s.seen.entry(step.to_string()).or_insert(0);
            *count += 1;
            *count
        };
        let scripted = self.rules.iter().find(|r| r.step == step && r.nth == n).map(|r| r.fault);
        let fault = scripted.or_else(|| {
            if self.rate_ppm == 0 {
                return None;
            }
            let seed = self.seed;
            let x = s.streams.entry(actor).or_insert_with_key(|name| XorShift::for_stream(seed, name)).next_u64();
            if (x % 1_000_000) as u32 >= self.rate_ppm {
                return None;
            }
            Some(match (x >> 32) % 4 {
                0 => Fault::Refuse,
                1 => Fault::LoseReply,
                2 => Fault::Duplicate,
                _ => Fault::DuplicateLate,
            })
        });
        if fault.is_some() {
            s.injected += 1;
        }
        fault
    }
}

/// Who each request is for, as the simulator names them ("visit 17", "sign-up 3"). The simulator
/// says which identities a request may carry belong to whom (a person's certificate number and
/// psn_no, their bank agreement id); the proxy reads them from the request. Partner- and hub-made
/// ids (mdtrt_id, settlement ids) change from run to run, so they are only ever a way to one of
/// those identities, never a key themselves.
#[derive(Default)]
pub struct Actors {
    state: Mutex<ActorsState>,
}

#[derive(Default)]
struct ActorsState {
    /// An identity a request carries → the actor it belongs to now.
    actor_of_identity: HashMap<String, String>,
    /// A hub settlement id (the prefix of its bank request ids) → the bank agreement it charges,
    /// learned from the authorization that names both (every later bank call of the settlement
    /// names only the settlement).
    agreement_of_settlement: HashMap<String, String>,
}

impl Actors {
    /// From now on, requests carrying any of `identities` belong to `actor`.
    pub fn assign(&self, identities: &[&str], actor: &str) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for identity in identities.iter().filter(|i| !i.is_empty()) {
            s.actor_of_identity.insert(identity.to_string(), actor.to_string());
        }
    }

    fn actor_of(&self, clues: &Clues) -> Option<String> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(settlement), Some(identity)) = (&clues.settlement, &clues.identity) {
            s.agreement_of_settlement.insert(settlement.clone(), identity.clone());
        }
        let identity = clues.identity.as_ref().or_else(|| clues.settlement.as_ref().and_then(|id| s.agreement_of_settlement.get(id)))?;
        s.actor_of_identity.get(identity).cloned()
    }
}

/// What in a request tells whose it is.
#[derive(Default, Debug, PartialEq)]
struct Clues {
    /// A person's identity (insurance: psn_no or certificate number) or a bank agreement id.
    identity: Option<String>,
    /// The hub id a bank request id starts with (`{settlement}:{auth|capture|void|refund}`).
    settlement: Option<String>,
}

fn clues_of(uri: &Uri, body: Option<&Value>) -> Clues {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let body = body.unwrap_or(&Value::Null);
    // The national interface: the person, in the envelope's input (2204 names them on each fee line).
    let input = &body["input"];
    let insured = text(input["data"].get("psn_no"))
        .or_else(|| text(input["feedetail"][0].get("psn_no")))
        .or_else(|| text(input["data"].get("mdtrt_cert_no")));
    if insured.is_some() {
        return Clues { identity: insured, settlement: None };
    }
    // The bank (`/bank/v1/{resource}/{id}/...`): the agreement, by body or path; the settlement, by
    // the request id the body or path names.
    let segments: Vec<&str> = uri.path().split('/').filter(|seg| !seg.is_empty()).collect();
    let (resource, id) = match segments.as_slice() {
        ["bank", "v1", resource, id, ..] => (*resource, Some(id.to_string())),
        _ => ("", None),
    };
    let identity = text(body.get("agreement_id")).or_else(|| id.clone().filter(|_| resource == "agreements"));
    let request_id = ["authorization_request_id", "capture_request_id", "request_id"]
        .iter()
        .find_map(|field| text(body.get(*field)))
        .or_else(|| id.filter(|_| resource == "operations"));
    let settlement = request_id.and_then(|r| r.split_once(':').map(|(settlement, _)| settlement.to_string()));
    Clues { identity, settlement }
}

/// The step a request is: the national interface's `infno` for the insurance center, the last
/// path segment for the bank ("authorizations", "captures", ...), with the method.
pub fn step_of(method: &Method, uri: &Uri, body: &[u8]) -> String {
    step_in(method, uri, serde_json::from_slice::<Value>(body).ok().as_ref())
}

fn step_in(method: &Method, uri: &Uri, body: Option<&Value>) -> String {
    if let Some(infno) = body.and_then(|v| v.get("infno")).and_then(|i| i.as_str()) {
        return infno.to_string();
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
    let json = serde_json::from_slice::<Value>(&body).ok();
    let step = step_in(&method, &uri, json.as_ref());
    let fault = p.plan.decide(&step, &clues_of(&uri, json.as_ref()));
    if fault == Some(Fault::Refuse) {
        p.plan.record(&step, json.as_ref(), Value::Null);
        return (StatusCode::SERVICE_UNAVAILABLE, "fault injected: refused").into_response();
    }
    if let Some(Fault::Delay(d)) = fault {
        tokio::time::sleep(d).await;
    }
    let mut reply = send(&p, &method, &uri, &headers, &body).await;
    match fault {
        // The partner gets the request again; the caller sees the first answer, as on a network
        // that duplicated the packet.
        Some(Fault::Duplicate) => {
            let _ = send(&p, &method, &uri, &headers, &body).await;
        }
        // Or it sees the answer to the copy: what a partner says to a repeat of a signed request.
        Some(Fault::DuplicateLate) => reply = send(&p, &method, &uri, &headers, &body).await,
        _ => {}
    }
    if fault == Some(Fault::LoseReply) {
        p.plan.record(&step, json.as_ref(), Value::Null);
        return (StatusCode::GATEWAY_TIMEOUT, "fault injected: reply lost").into_response();
    }
    match reply {
        Ok((status, content_type, bytes)) => {
            p.plan.record(&step, json.as_ref(), serde_json::from_slice(&bytes).unwrap_or(Value::Null));
            let mut out = (status, bytes).into_response();
            if let Some(ct) = content_type {
                out.headers_mut().insert("content-type", ct);
            }
            out
        }
        Err(e) => {
            p.plan.record(&step, json.as_ref(), Value::Null);
            (StatusCode::BAD_GATEWAY, format!("proxy: {e}")).into_response()
        }
    }
}

/// A partner's answer: its status, content type and body.
type Answer = (StatusCode, Option<axum::http::HeaderValue>, Bytes);

async fn send(p: &Proxy, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Result<Answer, String> {
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
    Ok((status, content_type, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_tells_whose_it_is_by_what_it_carries() {
        let check = |uri: &str, body: Value, identity: Option<&str>, settlement: Option<&str>| {
            let c = clues_of(&uri.parse().expect("a uri"), Some(&body));
            assert_eq!((c.identity.as_deref(), c.settlement.as_deref()), (identity, settlement), "{uri} {body}");
        };
        let insurance = "/fsi/api/rsfComIfsService/callService";
        check(insurance, json!({"infno": "2207", "input": {"data": {"psn_no": "P1", "mdtrt_id": "M9"}}}), Some("P1"), None);
        check(insurance, json!({"infno": "2204", "input": {"feedetail": [{"psn_no": "P1"}]}}), Some("P1"), None);
        check(insurance, json!({"infno": "1101", "input": {"data": {"mdtrt_cert_no": "C1", "psn_no": ""}}}), Some("C1"), None);
        check("/bank/v1/authorizations", json!({"request_id": "stl_1:auth", "agreement_id": "B1"}), Some("B1"), Some("stl_1"));
        check("/bank/v1/captures", json!({"request_id": "stl_1:capture", "authorization_request_id": "stl_1:auth"}), None, Some("stl_1"));
        check("/bank/v1/refunds", json!({"request_id": "stl_1:refund", "capture_request_id": "stl_1:capture"}), None, Some("stl_1"));
        check("/bank/v1/operations/stl_1:auth", Value::Null, None, Some("stl_1"));
        check("/bank/v1/agreements/B1", Value::Null, Some("B1"), None);
        check("/bank/v1/agreements", json!({"request_id": "agr_1:open"}), None, Some("agr_1"));
        check("/bank/v1/events?after=0&limit=500", Value::Null, None, None);
    }

    /// Two visits' requests (insurance by psn_no; a bank hold by agreement, then its capture by
    /// settlement only): each visit meets the same faults whichever order the requests arrive in.
    #[test]
    fn each_actor_draws_from_its_own_stream() {
        let visit = |n: u32| {
            let requests = [
                ("/fsi", json!({"infno": "2207", "input": {"data": {"psn_no": format!("P{n}")}}})),
                ("/bank/v1/authorizations", json!({"request_id": format!("stl_{n}:auth"), "agreement_id": format!("B{n}")})),
                (
                    "/bank/v1/captures",
                    json!({"request_id": format!("stl_{n}:capture"), "authorization_request_id": format!("stl_{n}:auth")}),
                ),
            ];
            (0..20).flat_map(move |_| requests.clone().map(|(uri, body)| (n, uri, body)))
        };
        let faults_by_visit = |order: &[(u32, &str, Value)]| {
            let actors = Arc::new(Actors::default());
            actors.assign(&["P1", "B1"], "visit 1");
            actors.assign(&["P2", "B2"], "visit 2");
            let plan = FaultPlan::random(0.5, 7).by_actor(actors);
            let mut faults: HashMap<u32, Vec<Option<Fault>>> = HashMap::new();
            for (n, uri, body) in order {
                faults.entry(*n).or_default().push(plan.decide("step", &clues_of(&uri.parse().expect("a uri"), Some(body))));
            }
            faults
        };
        let one_then_two: Vec<_> = visit(1).chain(visit(2)).collect();
        let interleaved: Vec<_> = visit(1).zip(visit(2)).flat_map(|(a, b)| [a, b]).collect();
        let faults = faults_by_visit(&one_then_two);
        assert_eq!(faults, faults_by_visit(&interleaved));
        assert_ne!(faults[&1], faults[&2], "two visits, two streams");
        assert!(faults[&1].iter().any(Option::is_some) && faults[&1].iter().any(Option::is_none));
    }
}
