//! Personal data at rest (ID numbers, names, e-voucher tokens): encrypted with ChaCha20-Poly1305,
//! found again through a keyed blind index, and masked whenever shown.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// The hub's data key (32 bytes). Debug never prints it.
#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(…)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PiiError {
    #[error("data key must be 64 hex characters")]
    BadKey,
    #[error("stored personal data cannot be decrypted with this data key")]
    Undecryptable,
    #[error("no system randomness: {0}")]
    Random(String),
}

impl DataKey {
    pub fn from_hex(text: &str) -> Result<DataKey, PiiError> {
        let bytes = hex::decode(text.trim()).map_err(|_| PiiError::BadKey)?;
        let array: [u8; 32] = bytes.try_into().map_err(|_| PiiError::BadKey)?;
        Ok(DataKey(array))
    }

    pub fn generate() -> Result<DataKey, PiiError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| PiiError::Random(e.to_string()))?;
        Ok(DataKey(key))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Encrypts to `hex(nonce || ciphertext)`.
    pub fn seal(&self, plain: &str) -> Result<String, PiiError> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| PiiError::Random(e.to_string()))?;
        let sealed = cipher.encrypt(Nonce::from_slice(&nonce), plain.as_bytes()).map_err(|_| PiiError::Undecryptable)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(hex::encode(out))
    }

    pub fn open(&self, sealed_hex: &str) -> Result<String, PiiError> {
        let bytes = hex::decode(sealed_hex).map_err(|_| PiiError::Undecryptable)?;
        if bytes.len() < 12 {
            return Err(PiiError::Undecryptable);
        }
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let plain = cipher.decrypt(Nonce::from_slice(&bytes[..12]), &bytes[12..]).map_err(|_| PiiError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| PiiError::Undecryptable)
    }

    /// A keyed hash that finds a record by an ID number without storing the number in clear.
    pub fn blind_index(&self, plain: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"wugan-blind-index:");
        mac.update(plain.trim().to_uppercase().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Shows the first and last few characters only: "440301********1234".
pub fn mask(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    match chars.len() {
        0 => String::new(),
        1..=2 => "*".repeat(chars.len()),
        3..=7 => format!("{}{}", chars[0], "*".repeat(chars.len() - 1)),
        n => {
            let (head, tail) = if n >= 14 { (6, 4) } else { (2, 2) };
            let middle = "*".repeat(n - head - tail);
            format!("{}{}{}", chars[..head].iter().collect::<String>(), middle, chars[n - tail..].iter().collect::<String>())
        }
    }
}

/// A name shown as its first character: "张**".
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count())),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_its_key() {
        let key = DataKey::generate().unwrap();
        let sealed = key.seal("440301199001011234").unwrap();
        assert!(!sealed.contains("440301199001011234"));
        assert_eq!(key.open(&sealed).unwrap(), "440301199001011234");
        let other = DataKey::generate().unwrap();
        assert!(other.open(&sealed).is_err());
        assert_eq!(key.blind_index("44030119900101123x"), key.blind_index(" 44030119900101123X"));
    }

    #[test]
    fn masks_keep_only_the_ends() {
        assert_eq!(mask("440301199001011234"), "440301********1234");
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask("abc"), "a**");
    }
}
