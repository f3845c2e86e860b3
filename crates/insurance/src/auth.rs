//! Who may call the center: the gateway in front of the national interface, as a provincial
//! platform runs one. Every hospital (fixmedins_code) has an app id and a secret; every request
//! carries the app id, a Unix timestamp (seconds), a nonce and an HMAC-SHA256 signature over them
//! and the envelope body, in headers named as the national platform's gateway names them
//! (`x-tif-paasid`, `x-tif-timestamp`, `x-tif-nonce`, `x-tif-signature`). The TIF gateway's own
//! signature is a plain SHA-256 of timestamp, token and nonce, which does not bind the body; ours
//! does (docs/national-interface-profile.md §Gateway). Sandbox views need an operator's bearer token.
//!
//! The gateway refuses, before the center sees the request (so nothing changes): an unknown app
//! id, a bad signature, a timestamp more than [`MAX_SKEW_S`] away, a nonce already used, and an
//! envelope whose `fixmedins_code` is not the caller's.

use crate::clock::{Clock, SystemClock};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

pub const HEADER_APP_ID: &str = "x-tif-paasid";
pub const HEADER_TIMESTAMP: &str = "x-tif-timestamp";
pub const HEADER_NONCE: &str = "x-tif-nonce";
pub const HEADER_SIGNATURE: &str = "x-tif-signature";

/// How far a request's timestamp may be from the gateway's clock, either way.
pub const MAX_SKEW_S: i64 = 300;

/// Nonces remembered at most; beyond that (a flood within the window) requests are turned away
/// as busy rather than letting memory grow or forgetting a nonce early.
const MAX_NONCES: usize = 500_000;

/// One hospital's gateway credential.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallerCredential {
    pub fixmedins_code: String,
    pub app_id: String,
    pub secret: String,
}

impl std::fmt::Debug for CallerCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerCredential").field("fixmedins_code", &self.fixmedins_code).field("app_id", &self.app_id).finish()
    }
}

/// Everything the gateway knows: the hospitals' credentials and the operator's token for the
/// sandbox views. The same document is what `wugan` keeps in its data folder and what
/// `WUGAN_INSURANCE_GATEWAY_FILE` names.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GatewayConfig {
    #[serde(default)]
    pub callers: Vec<CallerCredential>,
    /// `Authorization: Bearer …` for `/sandbox/*`; without one the views answer 401 to everyone.
    #[serde(default)]
    pub operator_token: String,
}

impl GatewayConfig {
    pub fn validate(&self) -> Result<(), String> {
        let mut app_ids = std::collections::HashSet::new();
        for c in &self.callers {
            if c.app_id.is_empty() || c.secret.is_empty() || c.fixmedins_code.is_empty() {
                return Err(format!("the caller of {} needs an app id, a secret and a fixmedins_code", c.fixmedins_code));
            }
            if !app_ids.insert(c.app_id.as_str()) {
                return Err(format!("app id {} is listed twice", c.app_id));
            }
        }
        Ok(())
    }
}

/// Why the gateway turned a request away. Each maps to an HTTP status and an infcode -1 reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    MissingHeaders,
    UnknownApp,
    StaleTimestamp,
    BadSignature,
    ReplayedNonce,
    /// The envelope speaks for another hospital than the caller.
    WrongInstitution,
    /// Too many nonces within the window: try again later.
    Busy,
}

impl Refusal {
    /// The `err_msg`: Chinese, then English; every one names the gateway, so a client can tell a
    /// refusal of its message from a decision about the business.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::MissingHeaders => {
                "网关鉴权失败: 缺少x-tif请求头 / gateway: missing x-tif-paasid, x-tif-timestamp, x-tif-nonce or x-tif-signature"
            }
            Refusal::UnknownApp => "网关鉴权失败: 应用ID未注册 / gateway: unknown x-tif-paasid",
            Refusal::StaleTimestamp => {
                "网关鉴权失败: 时间戳超出允许范围 / gateway: x-tif-timestamp more than 300 s from the gateway's clock"
            }
            Refusal::BadSignature => "网关鉴权失败: 签名验证失败 / gateway: x-tif-signature does not verify",
            Refusal::ReplayedNonce => "网关鉴权失败: 随机串重复 / gateway: x-tif-nonce already used",
            Refusal::WrongInstitution => "网关鉴权失败: 定点机构编号与应用ID不符 / gateway: fixmedins_code is not the caller's",
            Refusal::Busy => "网关繁忙 / gateway: too many requests in the replay window, retry later",
        }
    }

    /// 401 for who-are-you failures, 403 for a caller speaking for another hospital, 503 busy.
    pub fn http_status(self) -> u16 {
        match self {
            Refusal::WrongInstitution => 403,
            Refusal::Busy => 503,
            _ => 401,
        }
    }
}

/// The headers of one request, as text (a header that is not text counts as missing).
pub struct SignedParts<'a> {
    pub app_id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// The bytes signed: `{timestamp}\n{nonce}\n{app_id}\n` then the body exactly as sent.
pub fn string_to_sign(app_id: &str, timestamp: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut text = format!("{timestamp}\n{nonce}\n{app_id}\n").into_bytes();
    text.extend_from_slice(body);
    text
}

/// `x-tif-signature`: lower-case hex of HMAC-SHA256(secret, [`string_to_sign`]).
pub fn sign(secret: &str, app_id: &str, timestamp: i64, nonce: &str, body: &[u8]) -> String {
    hex::encode(mac(secret, app_id, timestamp, nonce, body).finalize().into_bytes())
}

/// The four gateway headers of a request `credential` sends: what a hospital's client adds.
pub fn signed_headers(credential: &CallerCredential, timestamp: i64, nonce: &str, body: &[u8]) -> [(&'static str, String); 4] {
    [
        (HEADER_APP_ID, credential.app_id.clone()),
        (HEADER_TIMESTAMP, timestamp.to_string()),
        (HEADER_NONCE, nonce.to_string()),
        (HEADER_SIGNATURE, sign(&credential.secret, &credential.app_id, timestamp, nonce, body)),
    ]
}

fn mac(secret: &str, app_id: &str, timestamp: i64, nonce: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(&string_to_sign(app_id, timestamp, nonce, body));
    mac
}

/// Checks a signature in constant time; any malformed input is simply "does not verify".
pub fn verify(secret: &str, app_id: &str, timestamp: i64, nonce: &str, body: &[u8], signature_hex: &str) -> bool {
    match hex::decode(signature_hex.trim()) {
        Ok(signature) => mac(secret, app_id, timestamp, nonce, body).verify_slice(&signature).is_ok(),
        Err(_) => false,
    }
}

/// The nonces seen within the window, per app id, forgotten once their timestamp is out of it.
#[derive(Default)]
struct Nonces {
    seen: HashMap<(String, String), i64>,
    order: VecDeque<(i64, String, String)>,
}

impl Nonces {
    fn forget_before(&mut self, oldest_s: i64) {
        while self.order.front().is_some_and(|(at, _, _)| *at < oldest_s) {
            if let Some((at, app, nonce)) = self.order.pop_front() {
                if self.seen.get(&(app.clone(), nonce.clone())) == Some(&at) {
                    self.seen.remove(&(app, nonce));
                }
            }
        }
    }
}

/// The gateway: credentials, the replay window, and its clock. `Send + Sync`.
pub struct Gateway {
    by_app_id: HashMap<String, CallerCredential>,
    operator_token: String,
    nonces: Mutex<Nonces>,
    clock: Arc<dyn Clock>,
}

impl Gateway {
    pub fn new(config: GatewayConfig) -> Result<Gateway, String> {
        Gateway::with_clock(config, Arc::new(SystemClock))
    }

    pub fn with_clock(config: GatewayConfig, clock: Arc<dyn Clock>) -> Result<Gateway, String> {
        config.validate()?;
        let by_app_id = config.callers.into_iter().map(|c| (c.app_id.clone(), c)).collect();
        Ok(Gateway { by_app_id, operator_token: config.operator_token, nonces: Mutex::default(), clock })
    }

    /// Authenticates one call: who sent it (the credential), or why it is refused. Only a request
    /// that passes every check uses up its nonce. `fixmedins_code` is the envelope's (`None` when
    /// the body is not an envelope: the center then answers it as malformed).
    pub fn check(&self, parts: &SignedParts, body: &[u8], fixmedins_code: Option<&str>) -> Result<&CallerCredential, Refusal> {
        let (Some(app_id), Some(timestamp), Some(nonce), Some(signature)) = (parts.app_id, parts.timestamp, parts.nonce, parts.signature)
        else {
            return Err(Refusal::MissingHeaders);
        };
        if nonce.is_empty() || nonce.len() > 128 {
            return Err(Refusal::MissingHeaders);
        }
        let caller = self.by_app_id.get(app_id).ok_or(Refusal::UnknownApp)?;
        let now_s = self.clock.now_utc().unix_timestamp();
        let signed_at = timestamp.trim().parse::<i64>().map_err(|_| Refusal::StaleTimestamp)?;
        if (now_s - signed_at).abs() > MAX_SKEW_S {
            return Err(Refusal::StaleTimestamp);
        }
        if !verify(&caller.secret, app_id, signed_at, nonce, body, signature) {
            return Err(Refusal::BadSignature);
        }
        if fixmedins_code.is_some_and(|code| code != caller.fixmedins_code) {
            return Err(Refusal::WrongInstitution);
        }
        self.use_nonce(app_id, nonce, signed_at, now_s)?;
        Ok(caller)
    }

    fn use_nonce(&self, app_id: &str, nonce: &str, signed_at: i64, now_s: i64) -> Result<(), Refusal> {
        let mut nonces = self.nonces.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A timestamp older than this is refused as stale, so its nonce need not be kept.
        nonces.forget_before(now_s - MAX_SKEW_S);
        let key = (app_id.to_string(), nonce.to_string());
        if nonces.seen.contains_key(&key) {
            return Err(Refusal::ReplayedNonce);
        }
        if nonces.seen.len() >= MAX_NONCES {
            return Err(Refusal::Busy);
        }
        // Kept until the latest moment the same timestamp could still pass, in arrival order.
        let keep_until = signed_at.max(now_s);
        nonces.seen.insert(key.clone(), keep_until);
        nonces.order.push_back((keep_until, key.0, key.1));
        Ok(())
    }

    /// The operator's bearer token for the sandbox views, compared in constant time.
    pub fn is_operator(&self, authorization: Option<&str>) -> bool {
        let Some(token) = authorization.and_then(bearer) else { return false };
        !self.operator_token.is_empty() && constant_time_eq(token.as_bytes(), self.operator_token.as_bytes())
    }
}

fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    struct At(i64);
    impl Clock for At {
        fn now_utc(&self) -> OffsetDateTime {
            OffsetDateTime::from_unix_timestamp(self.0).unwrap_or(OffsetDateTime::UNIX_EPOCH)
        }
    }

    const NOW: i64 = 1_717_200_000;

    fn gateway() -> Gateway {
        let callers = vec![
            CallerCredential { fixmedins_code: "H1".into(), app_id: "app-h1".into(), secret: "s1".into() },
            CallerCredential { fixmedins_code: "H2".into(), app_id: "app-h2".into(), secret: "s2".into() },
        ];
        Gateway::with_clock(GatewayConfig { callers, operator_token: "op-token".into() }, Arc::new(At(NOW))).expect("valid")
    }

    /// The documented vector (docs/national-interface-profile.md §Gateway): the hub's client
    /// checks the same one.
    #[test]
    fn the_documented_test_vector() {
        let body = br#"{"infno":"1101","msgid":"H1202406010900000000001","fixmedins_code":"H1","input":{}}"#;
        assert_eq!(sign("s1", "app-h1", NOW, "n-0001", body), "b0f43632d58a38aa7b13c2b8b6a324b749cd341137d4d534f208b5eae90be9a5");
    }

    #[test]
    fn every_refusal_and_what_passes() {
        let body = br#"{"fixmedins_code":"H1"}"#;
        let good = sign("s1", "app-h1", NOW, "n1", body);
        let other = sign("s2", "app-h2", NOW, "n1", body);
        let stale = sign("s1", "app-h1", NOW - 301, "n2", body);
        // (case, [app id, timestamp, nonce, signature], the envelope's fixmedins_code, outcome)
        type Case<'a> = (&'a str, [Option<&'a str>; 4], Option<&'a str>, Result<&'a str, Refusal>);
        let cases: &[Case] = &[
            ("no headers", [None, None, None, None], Some("H1"), Err(Refusal::MissingHeaders)),
            ("unknown app", [Some("app-x"), Some("1717200000"), Some("n1"), Some(&good)], Some("H1"), Err(Refusal::UnknownApp)),
            ("stale", [Some("app-h1"), Some("1717199699"), Some("n2"), Some(&stale)], Some("H1"), Err(Refusal::StaleTimestamp)),
            ("not a number", [Some("app-h1"), Some("soon"), Some("n1"), Some(&good)], Some("H1"), Err(Refusal::StaleTimestamp)),
            ("tampered", [Some("app-h1"), Some("1717200001"), Some("n1"), Some(&good)], Some("H1"), Err(Refusal::BadSignature)),
            ("not hex", [Some("app-h1"), Some("1717200000"), Some("n1"), Some("zz")], Some("H1"), Err(Refusal::BadSignature)),
            ("H2 for H1", [Some("app-h2"), Some("1717200000"), Some("n1"), Some(&other)], Some("H1"), Err(Refusal::WrongInstitution)),
            ("good", [Some("app-h1"), Some("1717200000"), Some("n1"), Some(&good)], Some("H1"), Ok("H1")),
            ("replayed", [Some("app-h1"), Some("1717200000"), Some("n1"), Some(&good)], Some("H1"), Err(Refusal::ReplayedNonce)),
        ];
        let gateway = gateway();
        for (case, [app_id, timestamp, nonce, signature], code, expect) in cases {
            let parts = SignedParts { app_id: *app_id, timestamp: *timestamp, nonce: *nonce, signature: *signature };
            let got = gateway.check(&parts, body, *code).map(|c| c.fixmedins_code.as_str());
            assert_eq!(got, *expect, "{case}");
        }
    }

    #[test]
    fn the_operator_token_opens_the_sandbox_and_nothing_else_does() {
        let gateway = gateway();
        for (header, expect) in
            [(Some("Bearer op-token"), true), (Some("bearer op-token"), true), (Some("Bearer op-tokem"), false), (None, false)]
        {
            assert_eq!(gateway.is_operator(header), expect, "{header:?}");
        }
        let closed = Gateway::new(GatewayConfig::default()).expect("valid");
        assert!(!closed.is_operator(Some("Bearer ")));
    }
}
