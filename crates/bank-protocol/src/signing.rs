//! Request signing for the bank protocol (HMAC-SHA256), used by both the bank and the hub.
//!
//! The signed text is `METHOD \n PATH_AND_QUERY \n timestamp \n nonce \n hex(SHA-256(body))`.
//! The timestamp bounds how long a captured request stays usable; the nonce makes it usable once.
//! Everything here is pure: the caller passes the current time.

use crate::ErrorCode;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashSet};

type HmacSha256 = Hmac<Sha256>;

pub const HEADER_KEY_ID: &str = "X-Wugan-Key-Id";
pub const HEADER_TIMESTAMP: &str = "X-Wugan-Timestamp";
pub const HEADER_NONCE: &str = "X-Wugan-Nonce";
pub const HEADER_SIGNATURE: &str = "X-Wugan-Signature";

/// How far a request's timestamp may be from the bank's clock, either way.
pub const REPLAY_WINDOW_S: i64 = 300;

/// A bound on remembered nonces, so a flood of signed requests cannot exhaust memory.
/// At the window's length this allows about 3,000 requests per second per bank.
pub const MAX_REMEMBERED_NONCES: usize = 1_000_000;

/// Lowercase hex HMAC-SHA256 over the canonical request text.
pub fn sign(secret: &str, method: &str, path_and_query: &str, timestamp: i64, nonce: &str, body: &[u8]) -> String {
    hex::encode(mac_over(secret, method, path_and_query, timestamp, nonce, body).finalize().into_bytes())
}

/// The four headers a signed request carries, ready to add to an HTTP request.
pub fn signed_headers(
    key_id: &str,
    secret: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    timestamp: i64,
    nonce: &str,
) -> Vec<(&'static str, String)> {
    vec![
        (HEADER_KEY_ID, key_id.to_string()),
        (HEADER_TIMESTAMP, timestamp.to_string()),
        (HEADER_NONCE, nonce.to_string()),
        (HEADER_SIGNATURE, sign(secret, method, path_and_query, timestamp, nonce, body)),
    ]
}

/// A fresh random nonce in the accepted alphabet (a UUID's 32 hex digits).
pub fn new_nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Checks a signature in constant time (through `Mac::verify_slice`).
pub fn verify(secret: &str, method: &str, path_and_query: &str, timestamp: i64, nonce: &str, body: &[u8], signature_hex: &str) -> bool {
    let Ok(signature) = hex::decode(signature_hex) else {
        return false;
    };
    mac_over(secret, method, path_and_query, timestamp, nonce, body).verify_slice(&signature).is_ok()
}

fn mac_over(secret: &str, method: &str, path_and_query: &str, timestamp: i64, nonce: &str, body: &[u8]) -> HmacSha256 {
    let body_hash = hex::encode(Sha256::digest(body));
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{body_hash}").as_bytes());
    mac
}

// ---- callbacks: the bank signing what it pushes to the hub ----

/// The header a bank callback (push to the hub) carries: `t=<unix>,v1=<hex>`, Stripe style.
pub const HEADER_CALLBACK_SIGNATURE: &str = "X-Wugan-Bank-Signature";

/// How old (or how far ahead) a callback's timestamp may be; Stripe's default.
pub const CALLBACK_TOLERANCE_S: i64 = 300;

/// The value of [`HEADER_CALLBACK_SIGNATURE`] for `body` sent at `timestamp`:
/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign_callback(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = callback_mac(secret, timestamp, body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Verifies a callback's signature header against its raw body, then its age. Several `v1`
/// entries are allowed (one per secret while a secret is rotated); one matching is enough.
/// Unlike requests there is no nonce: a callback is an event the hub applies by its sequence
/// number, so a replay inside the tolerance changes nothing.
pub fn verify_callback(secret: &str, header: &str, body: &[u8], now_unix_s: i64, tolerance_s: i64) -> Result<(), AuthError> {
    let (timestamp, signatures) = parse_callback_header(header)?;
    let matches = signatures
        .iter()
        .any(|signature| hex::decode(signature).is_ok_and(|bytes| callback_mac(secret, timestamp, body).verify_slice(&bytes).is_ok()));
    if !matches {
        return Err(AuthError::BadSignature);
    }
    if now_unix_s.abs_diff(timestamp) > tolerance_s.max(0) as u64 {
        return Err(AuthError::StaleTimestamp);
    }
    Ok(())
}

/// `t=…` once and at least one `v1=…`; other schemes are ignored, as Stripe does.
fn parse_callback_header(header: &str) -> Result<(i64, Vec<&str>), AuthError> {
    let (mut timestamp, mut signatures) = (None, Vec::new());
    for item in header.split(',').map(str::trim).take(16) {
        match item.split_once('=') {
            Some(("t", t)) if timestamp.is_none() => timestamp = t.parse::<i64>().ok(),
            Some(("t", _)) => return Err(AuthError::MissingAuth),
            Some(("v1", signature)) => signatures.push(signature),
            _ => {}
        }
    }
    match (timestamp, signatures.is_empty()) {
        (Some(t), false) => Ok((t, signatures)),
        _ => Err(AuthError::MissingAuth),
    }
}

fn callback_mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac
}

/// 16–64 characters of `[A-Za-z0-9-]`: long enough to be unique, short enough to store.
pub fn is_valid_nonce(nonce: &str) -> bool {
    (16..=64).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a signature header is missing or malformed")]
    MissingAuth,
    #[error("unknown key id")]
    UnknownKey,
    #[error("timestamp is outside the replay window of {REPLAY_WINDOW_S} s")]
    StaleTimestamp,
    #[error("signature does not match")]
    BadSignature,
    #[error("nonce was already used within the replay window")]
    ReplayedNonce,
    #[error("too many requests within the replay window")]
    NonceCacheFull,
}

impl AuthError {
    /// The code the bank answers with; never a business decline.
    pub fn code(self) -> ErrorCode {
        match self {
            AuthError::MissingAuth => ErrorCode::MissingAuth,
            AuthError::UnknownKey => ErrorCode::UnknownKey,
            AuthError::StaleTimestamp => ErrorCode::StaleTimestamp,
            AuthError::BadSignature => ErrorCode::BadSignature,
            AuthError::ReplayedNonce => ErrorCode::ReplayedNonce,
            AuthError::NonceCacheFull => ErrorCode::Busy,
        }
    }
}

/// The signature headers of one request, as received.
#[derive(Clone, Copy, Debug)]
pub struct SignedParts<'a> {
    pub key_id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Verifies one request and remembers its nonce; returns the caller's key id.
/// Order matters: the signature is checked before the nonce is remembered, so an unsigned caller
/// can neither fill the nonce cache nor burn a legitimate client's nonce.
pub fn authenticate(
    parts: SignedParts<'_>,
    secret_of: impl Fn(&str) -> Option<String>,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now_unix_s: i64,
    nonces: &mut NonceCache,
) -> Result<String, AuthError> {
    let (Some(key_id), Some(timestamp), Some(nonce), Some(signature)) = (parts.key_id, parts.timestamp, parts.nonce, parts.signature)
    else {
        return Err(AuthError::MissingAuth);
    };
    let timestamp: i64 = timestamp.parse().map_err(|_| AuthError::MissingAuth)?;
    if !is_valid_nonce(nonce) {
        return Err(AuthError::MissingAuth);
    }
    let secret = secret_of(key_id).ok_or(AuthError::UnknownKey)?;
    if now_unix_s.abs_diff(timestamp) > REPLAY_WINDOW_S as u64 {
        return Err(AuthError::StaleTimestamp);
    }
    if !verify(&secret, method, path_and_query, timestamp, nonce, body, signature) {
        return Err(AuthError::BadSignature);
    }
    nonces.remember(key_id, nonce, timestamp, now_unix_s)?;
    Ok(key_id.to_string())
}

/// Nonces seen within the replay window, per key id. Memory is bounded twice: a nonce is
/// forgotten once its timestamp has left the window (a replay would then be stale anyway),
/// and the cache never holds more than [`MAX_REMEMBERED_NONCES`].
#[derive(Debug, Default)]
pub struct NonceCache {
    seen: HashSet<(String, String)>,
    /// Ordered by timestamp, to forget the oldest first.
    by_time: BTreeSet<(i64, String, String)>,
}

impl NonceCache {
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn remember(&mut self, key_id: &str, nonce: &str, timestamp: i64, now_unix_s: i64) -> Result<(), AuthError> {
        self.forget_before(now_unix_s - REPLAY_WINDOW_S);
        let key = (key_id.to_string(), nonce.to_string());
        if self.seen.contains(&key) {
            return Err(AuthError::ReplayedNonce);
        }
        if self.seen.len() >= MAX_REMEMBERED_NONCES {
            return Err(AuthError::NonceCacheFull);
        }
        self.by_time.insert((timestamp, key.0.clone(), key.1.clone()));
        self.seen.insert(key);
        debug_assert_eq!(self.seen.len(), self.by_time.len());
        Ok(())
    }

    fn forget_before(&mut self, oldest_kept_unix_s: i64) {
        while let Some(first) = self.by_time.first() {
            if first.0 >= oldest_kept_unix_s {
                break;
            }
            if let Some((_, key_id, nonce)) = self.by_time.pop_first() {
                self.seen.remove(&(key_id, nonce));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "0123456789abcdef";

    fn parts<'a>(key: &'a str, ts: &'a str, nonce: &'a str, sig: &'a str) -> SignedParts<'a> {
        SignedParts { key_id: Some(key), timestamp: Some(ts), nonce: Some(nonce), signature: Some(sig) }
    }

    fn secret_of(key: &str) -> Option<String> {
        (key == "hub").then(|| "s3cret".to_string())
    }

    fn check(now: i64, ts: i64, nonce: &str, sig_secret: &str, key: &str, expect: Result<(), AuthError>) {
        let mut cache = NonceCache::default();
        let sig = sign(sig_secret, "POST", "/bank/v1/captures", ts, nonce, b"{}");
        let ts_text = ts.to_string();
        let got = authenticate(parts(key, &ts_text, nonce, &sig), secret_of, "POST", "/bank/v1/captures", b"{}", now, &mut cache);
        assert_eq!(got.map(|_| ()), expect, "now={now} ts={ts} nonce={nonce} key={key}");
    }

    #[test]
    fn signatures_windows_and_keys() {
        check(1_000, 1_000, NONCE, "s3cret", "hub", Ok(()));
        check(1_000, 1_300, NONCE, "s3cret", "hub", Ok(()));
        check(1_000, 700, NONCE, "s3cret", "hub", Ok(()));
        check(1_000, 1_301, NONCE, "s3cret", "hub", Err(AuthError::StaleTimestamp));
        check(1_000, 699, NONCE, "s3cret", "hub", Err(AuthError::StaleTimestamp));
        check(1_000, 1_000, NONCE, "wrong", "hub", Err(AuthError::BadSignature));
        check(1_000, 1_000, NONCE, "s3cret", "other", Err(AuthError::UnknownKey));
        check(1_000, 1_000, "short", "s3cret", "hub", Err(AuthError::MissingAuth));
        check(1_000, 1_000, "0123456789abcdef_", "s3cret", "hub", Err(AuthError::MissingAuth));
    }

    #[test]
    fn the_signed_text_covers_method_path_body() {
        let base = sign("k", "POST", "/a?x=1", 5, NONCE, b"body");
        assert_ne!(base, sign("k", "GET", "/a?x=1", 5, NONCE, b"body"));
        assert_ne!(base, sign("k", "POST", "/a?x=2", 5, NONCE, b"body"));
        assert_ne!(base, sign("k", "POST", "/a?x=1", 6, NONCE, b"body"));
        assert_ne!(base, sign("k", "POST", "/a?x=1", 5, NONCE, b"bodY"));
        assert_eq!(base.len(), 64);
        assert!(base.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert!(!verify("k", "POST", "/a?x=1", 5, NONCE, b"body", "not hex"));
        assert!(verify("k", "POST", "/a?x=1", 5, NONCE, b"body", &base));
    }

    #[test]
    fn callbacks_are_signed_stripe_style() {
        let body = br#"{"seq":1}"#;
        let header = sign_callback("whsec", 1_000, body);
        assert!(header.starts_with("t=1000,v1="), "{header}");
        assert_eq!(header.len(), "t=1000,v1=".len() + 64);
        let check = |secret: &str, header: &str, body: &[u8], now: i64, expect| {
            assert_eq!(verify_callback(secret, header, body, now, CALLBACK_TOLERANCE_S), expect, "{header} at {now}")
        };
        check("whsec", &header, body, 1_000, Ok(()));
        check("whsec", &header, body, 1_300, Ok(()));
        check("whsec", &header, body, 700, Ok(()));
        check("whsec", &header, body, 1_301, Err(AuthError::StaleTimestamp));
        check("other", &header, body, 1_000, Err(AuthError::BadSignature));
        check("whsec", &header, br#"{"seq":2}"#, 1_000, Err(AuthError::BadSignature));
        // The timestamp is signed: moving it forward breaks the signature.
        let moved = header.replacen("t=1000", "t=1200", 1);
        check("whsec", &moved, body, 1_200, Err(AuthError::BadSignature));
        // Rotation: any matching v1 is enough; unknown schemes are ignored.
        let rotated = format!("t=1000,v0=abc,v1={},{}", "00".repeat(32), &header[7..]);
        check("whsec", &rotated, body, 1_000, Ok(()));
        for malformed in ["", "t=1000", "v1=ab", "t=x,v1=ab", "t=1,t=1,v1=ab"] {
            check("whsec", malformed, body, 1_000, Err(AuthError::MissingAuth));
        }
        check("whsec", "t=1000,v1=not-hex", body, 1_000, Err(AuthError::BadSignature));
    }

    #[test]
    fn a_nonce_is_usable_once_within_the_window_then_forgotten() {
        let mut cache = NonceCache::default();
        let sig = sign("s3cret", "GET", "/x", 1_000, NONCE, b"");
        let mut call = |now: i64| authenticate(parts("hub", "1000", NONCE, &sig), secret_of, "GET", "/x", b"", now, &mut cache);
        assert!(call(1_000).is_ok());
        assert_eq!(call(1_100), Err(AuthError::ReplayedNonce));
        // Past the window the replay is stale, and the nonce has been forgotten.
        assert_eq!(call(1_301), Err(AuthError::StaleTimestamp));
        let other = sign("s3cret", "GET", "/x", 1_400, "fedcba9876543210", b"");
        let res = authenticate(parts("hub", "1400", "fedcba9876543210", &other), secret_of, "GET", "/x", b"", 1_400, &mut cache);
        assert!(res.is_ok());
        assert_eq!(cache.len(), 1, "the old nonce was forgotten");
    }
}
