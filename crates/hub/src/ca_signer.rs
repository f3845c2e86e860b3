//! The envelope's `cainfo` / `signtype` (数字签名信息 / 签名类型): a pluggable signer per hospital.
//! Real platforms ask for an SM2/SM3 signature made with a CA-issued certificate, which the hub
//! does not have; it signs with what a hospital's record names: nothing (`cainfo` and `signtype`
//! empty, the default, as most sandboxes and many regions accept), or an HMAC-SHA256 over the
//! canonical input with a key of the hospital's own, sent as `signtype` "HMAC-SHA256" so that no
//! platform mistakes it for an SM2 signature.

use hmac::{Hmac, Mac};
use serde_json::Value;

/// Signs one envelope: `signtype` names the scheme, `sign` returns `cainfo`.
pub trait CaSigner: Send + Sync + std::fmt::Debug {
    fn signtype(&self) -> &'static str;
    fn sign(&self, canonical: &[u8]) -> String;
}

/// The envelope fields a signature covers, in a fixed order, one per line, then the input as
/// serde_json writes it: `infno`, `msgid`, `fixmedins_code`, `inf_time`, `sign_no`, `input`.
pub fn canonical_input(infno: &str, msgid: &str, fixmedins_code: &str, inf_time: &str, sign_no: &str, input: &Value) -> Vec<u8> {
    let mut text = format!("{infno}\n{msgid}\n{fixmedins_code}\n{inf_time}\n{sign_no}\n").into_bytes();
    text.extend_from_slice(input.to_string().as_bytes());
    text
}

/// HMAC-SHA256 with the hospital's key, lower-case hex.
pub struct HmacSha256Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for HmacSha256Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSha256Signer { key: <redacted> }")
    }
}

impl HmacSha256Signer {
    pub const NAME: &'static str = "hmac-sha256";

    pub fn new(key: &str) -> HmacSha256Signer {
        HmacSha256Signer { key: key.as_bytes().to_vec() }
    }
}

impl CaSigner for HmacSha256Signer {
    fn signtype(&self) -> &'static str {
        "HMAC-SHA256"
    }

    fn sign(&self, canonical: &[u8]) -> String {
        // HMAC takes a key of any length: this cannot fail.
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(canonical);
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signs_the_canonical_input_with_the_hospitals_key() {
        let canonical = canonical_input("2207", "H1-1", "H1", "2026-01-01 09:00:00", "S1", &json!({"data": {"mdtrt_id": "M1"}}));
        let text = String::from_utf8(canonical.clone()).expect("utf-8");
        assert_eq!(text, "2207\nH1-1\nH1\n2026-01-01 09:00:00\nS1\n{\"data\":{\"mdtrt_id\":\"M1\"}}");
        let (a, b) = (HmacSha256Signer::new("key-a"), HmacSha256Signer::new("key-b"));
        assert_eq!(a.sign(&canonical), a.sign(&canonical), "deterministic");
        assert_ne!(a.sign(&canonical), b.sign(&canonical), "the key matters");
        assert_eq!(a.sign(&canonical).len(), 64);
        assert!(!format!("{a:?}").contains("key-a"), "the key never shows in logs");
    }
}
