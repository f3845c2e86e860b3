//! The bank protocol's signature checks: request authentication (headers, nonce, timestamp) and
//! callback verification, on any input. Nothing may panic, nothing unsigned passes, and what is
//! signed with the secret always verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wugan_bank_protocol::signing::{self, AuthError, NonceCache, SignedParts};

const SECRET: &str = "fuzz-secret";
const NOW: i64 = 1_767_225_600;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(6, |b| *b == 0xFF);
    let mut field = || parts.next().map(|p| String::from_utf8_lossy(p).into_owned());
    let (key_id, timestamp, nonce, signature, header) = (field(), field(), field(), field(), field());
    let body = field().unwrap_or_default().into_bytes();
    let secret_of = |key: &str| (key == "hub").then(|| SECRET.to_string());

    let mut nonces = NonceCache::default();
    let signed = SignedParts {
        key_id: key_id.as_deref(),
        timestamp: timestamp.as_deref(),
        nonce: nonce.as_deref(),
        signature: signature.as_deref(),
    };
    if signing::authenticate(signed, secret_of, "POST", "/bank/v1/captures", &body, NOW, &mut nonces).is_ok() {
        // Only a signature made with the secret can pass: the fuzzer cannot forge HMAC-SHA256.
        let (t, n, s) = (timestamp.as_deref().unwrap_or(""), nonce.as_deref().unwrap_or(""), signature.as_deref().unwrap_or(""));
        let t: i64 = t.parse().expect("an accepted timestamp is a number");
        assert_eq!(signing::sign(SECRET, "POST", "/bank/v1/captures", t, n, &body), s.trim().to_ascii_lowercase());
    }
    let _ = signing::verify_callback(SECRET, header.as_deref().unwrap_or(""), &body, NOW, 300);

    // Signed properly, any body passes once, and its replay is refused.
    let nonce = "fuzz-nonce-0000000001";
    let good = signing::sign(SECRET, "POST", "/bank/v1/captures", NOW, nonce, &body);
    let ts = NOW.to_string();
    let parts = || SignedParts { key_id: Some("hub"), timestamp: Some(&ts), nonce: Some(nonce), signature: Some(&good) };
    let mut fresh = NonceCache::default();
    assert_eq!(signing::authenticate(parts(), secret_of, "POST", "/bank/v1/captures", &body, NOW, &mut fresh), Ok("hub".to_string()));
    assert_eq!(
        signing::authenticate(parts(), secret_of, "POST", "/bank/v1/captures", &body, NOW, &mut fresh),
        Err(AuthError::ReplayedNonce)
    );
    let callback = signing::sign_callback(SECRET, NOW, &body);
    assert_eq!(signing::verify_callback(SECRET, &callback, &body, NOW, 300), Ok(()));
});
