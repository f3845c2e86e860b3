//! Sealing at rest: what a party writes to disk that may hold personal data (names, ID numbers,
//! phone numbers, birth dates, card numbers) is encrypted with ChaCha20-Poly1305 under the party's
//! own key, a fresh random nonce per value. The hub's `pii` module does the same for its columns;
//! this crate is the partners' (the bank and the insurance center depend on it, never on the hub).
//!
//! A sealed value is text: `s1:` then hex of nonce (12 bytes) and ciphertext with its tag. Opening
//! checks the tag, so a value changed on disk, or read with another key, is refused, never misread.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::fmt;

/// The prefix of a sealed value (its format version).
pub const PREFIX: &str = "s1:";

/// A party's sealing key (32 bytes). Debug never prints it.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(…)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("a sealing key is 64 hex characters")]
    BadKey,
    #[error("a sealed value does not open with this key (another key, or changed on disk)")]
    Unopenable,
    #[error("no system randomness: {0}")]
    Random(String),
}

impl SealKey {
    pub fn from_hex(text: &str) -> Result<SealKey, SealError> {
        let bytes = hex::decode(text.trim()).map_err(|_| SealError::BadKey)?;
        bytes.try_into().map(SealKey).map_err(|_| SealError::BadKey)
    }

    pub fn generate() -> Result<SealKey, SealError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| SealError::Random(e.to_string()))?;
        Ok(SealKey(key))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// `s1:` + hex(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plain: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        // Encryption fails only for inputs beyond 256 GiB.
        let sealed = cipher.encrypt(Nonce::from_slice(&nonce), plain.as_bytes()).map_err(|_| SealError::Unopenable)?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", hex::encode(bytes)))
    }

    pub fn open(&self, sealed: &str) -> Result<String, SealError> {
        let hex_text = sealed.strip_prefix(PREFIX).ok_or(SealError::Unopenable)?;
        let bytes = hex::decode(hex_text).map_err(|_| SealError::Unopenable)?;
        if bytes.len() < 12 + 16 {
            return Err(SealError::Unopenable);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let plain = cipher.decrypt(Nonce::from_slice(nonce), ciphertext).map_err(|_| SealError::Unopenable)?;
        String::from_utf8(plain).map_err(|_| SealError::Unopenable)
    }

    /// Whether a stored text is sealed (a journal of an older format holds plain text).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_with_its_key_only_and_shows_nothing_of_itself() {
        let key = SealKey::generate().expect("randomness");
        let plain = r#"{"psn_name":"张三","certno":"440301199001011234"}"#;
        let sealed = key.seal(plain).expect("seals");
        assert!(SealKey::is_sealed(&sealed));
        assert!(!sealed.contains("440301") && !sealed.contains("张三"));
        assert_ne!(sealed, key.seal(plain).expect("seals"), "a fresh nonce every time");
        assert_eq!(key.open(&sealed).as_deref(), Ok(plain));
        let other = SealKey::generate().expect("randomness");
        assert_eq!(other.open(&sealed), Err(SealError::Unopenable));
        let mut tampered = sealed.clone();
        tampered.replace_range(sealed.len() - 2.., "00");
        assert_eq!(key.open(&tampered), Err(SealError::Unopenable));
        for not_sealed in ["", "s1:", "s1:zz", plain] {
            assert_eq!(key.open(not_sealed), Err(SealError::Unopenable), "{not_sealed}");
        }
        assert_eq!(SealKey::from_hex(&key.to_hex()).map(|k| k.to_hex()), Ok(key.to_hex()));
        assert_eq!(SealKey::from_hex("00").map(|_| ()), Err(SealError::BadKey));
    }
}
