//! Keys: the root (the issuing authority's; the operator's here, standing in for the finance
//! bureau's) certifies each hospital's invoice key, and the hospital key signs invoices. The
//! certificate travels in every invoice, so a reader needs only the root public key, and a rotated
//! hospital key leaves the invoices it signed verifiable. Seeds come from the caller: no randomness
//! and no files here.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a certificate's root signature covers starts with this, so that no other message signed by
/// the root can pass for a certificate.
const CERT_DOMAIN: &str = "wugan-invoice-cert-v1";

/// The root key: kept by the operator, used only to certify hospital keys.
pub struct RootKey(SigningKey);

/// The root public key, all a verifier needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RootPublicKey(VerifyingKey);

/// A hospital's invoice key with the certificate the root gave it.
pub struct HospitalKey {
    key: SigningKey,
    pub certificate: Certificate,
}

/// The root's statement "this public key signs invoices of this hospital from this date".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub hospital_code: String,
    /// The first 8 bytes of SHA-256 of the public key, in hex: names the key in lists and the QR.
    pub key_id: String,
    /// The hospital's Ed25519 public key, hex.
    pub public_key: String,
    /// The first date (China, `YYYY-MM-DD`) the key signs on.
    pub valid_from: String,
    /// The root's Ed25519 signature over [`Certificate::message`], hex.
    pub root_signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a key is 64 hex characters")]
    BadKey,
    #[error("the certificate is not one the root signed")]
    Untrusted,
    #[error("the certificate's fields are malformed")]
    Malformed,
}

fn key_id(public: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(public.as_bytes())[..8])
}

fn parse_signature(text: &str) -> Option<Signature> {
    let bytes: [u8; 64] = hex::decode(text).ok()?.try_into().ok()?;
    Some(Signature::from_bytes(&bytes))
}

pub(crate) fn parse_public(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

fn parse_seed(text: &str) -> Result<[u8; 32], KeyError> {
    hex::decode(text.trim()).ok().and_then(|b| b.try_into().ok()).ok_or(KeyError::BadKey)
}

impl RootKey {
    pub fn from_seed(seed: [u8; 32]) -> RootKey {
        RootKey(SigningKey::from_bytes(&seed))
    }

    pub fn from_hex(text: &str) -> Result<RootKey, KeyError> {
        parse_seed(text).map(RootKey::from_seed)
    }

    /// The seed, hex: what the key file holds.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    pub fn public(&self) -> RootPublicKey {
        RootPublicKey(self.0.verifying_key())
    }

    /// Gives a hospital key from `seed` its certificate, valid from `valid_from`.
    pub fn certify(&self, hospital_code: &str, seed: [u8; 32], valid_from: &str) -> HospitalKey {
        let key = SigningKey::from_bytes(&seed);
        let public = key.verifying_key();
        let mut certificate = Certificate {
            hospital_code: hospital_code.to_string(),
            key_id: key_id(&public),
            public_key: hex::encode(public.as_bytes()),
            valid_from: valid_from.to_string(),
            root_signature: String::new(),
        };
        certificate.root_signature = hex::encode(self.0.sign(certificate.message().as_bytes()).to_bytes());
        HospitalKey { key, certificate }
    }
}

impl RootPublicKey {
    pub fn from_hex(text: &str) -> Result<RootPublicKey, KeyError> {
        parse_public(text).map(RootPublicKey).ok_or(KeyError::BadKey)
    }

    /// Hex, as `root.pub` holds it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// The certificate's hospital key, if and only if this root signed the certificate.
    pub(crate) fn check(&self, certificate: &Certificate) -> Result<VerifyingKey, KeyError> {
        let fields = [&certificate.hospital_code, &certificate.key_id, &certificate.public_key, &certificate.valid_from];
        if fields.iter().any(|f| f.contains('|')) {
            return Err(KeyError::Malformed);
        }
        let public = parse_public(&certificate.public_key).ok_or(KeyError::Malformed)?;
        let signature = parse_signature(&certificate.root_signature).ok_or(KeyError::Malformed)?;
        if key_id(&public) != certificate.key_id {
            return Err(KeyError::Malformed);
        }
        self.0.verify_strict(certificate.message().as_bytes(), &signature).map_err(|_| KeyError::Untrusted)?;
        Ok(public)
    }
}

impl Certificate {
    /// What the root signs: every field but the signature, `|`-separated (no field may hold one).
    fn message(&self) -> String {
        format!("{CERT_DOMAIN}|{}|{}|{}|{}", self.hospital_code, self.key_id, self.public_key, self.valid_from)
    }
}

impl HospitalKey {
    /// A hospital key read back from its seed and the certificate saved beside it. Refuses a pair
    /// that does not belong together, or a certificate this root did not sign.
    pub fn from_parts(seed_hex: &str, certificate: Certificate, root: &RootPublicKey) -> Result<HospitalKey, KeyError> {
        let key = SigningKey::from_bytes(&parse_seed(seed_hex)?);
        let certified = root.check(&certificate)?;
        if certified != key.verifying_key() {
            return Err(KeyError::Untrusted);
        }
        Ok(HospitalKey { key, certificate })
    }

    /// The seed, hex: what the key file holds.
    pub fn to_hex(&self) -> String {
        hex::encode(self.key.to_bytes())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.key.sign(message).to_bytes())
    }

    /// The 校验码 of an invoice: derived from the key and the invoice's identity, so it needs no
    /// randomness and cannot be guessed without the key.
    pub fn check_code(&self, code: &str, number: &str) -> String {
        let mut hash = Sha256::new();
        hash.update(b"wugan-invoice-check-code|");
        hash.update(self.key.to_bytes());
        hash.update(format!("|{code}|{number}").as_bytes());
        hex::encode(&hash.finalize()[..3]).to_uppercase()
    }
}

pub(crate) fn verify_with(public: &VerifyingKey, message: &[u8], signature_hex: &str) -> bool {
    parse_signature(signature_hex).is_some_and(|s| public.verify_strict(message, &s).is_ok())
}
