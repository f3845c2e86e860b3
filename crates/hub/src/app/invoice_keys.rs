//! The invoice keys: the root key (the operator's, standing in for the finance bureau's) and one
//! certified key per hospital. Kept in `DATA_DIR/invoice-keys/` (owner-only files: `root.key` and
//! `root.pub` made at the first start, `HOSPITAL.key` (seed and certificate) at the hospital's
//! first invoice), or derived in memory from the data key when the hub has no folder. A rotated
//! hospital key is kept beside the new one as `HOSPITAL.KEYID.retired`: the invoices it signed
//! carry its certificate and stay verifiable with the root public key alone.

use crate::error::AppError;
use crate::pii::DataKey;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wugan_invoice::{Certificate, HospitalKey, RootKey, RootPublicKey};

/// Where the keys come from.
enum Source {
    /// Files in this folder.
    Folder(PathBuf),
    /// Derived from this secret (no folder): the same data key gives the same keys.
    Derived([u8; 32]),
}

pub struct InvoiceKeys {
    root: RootKey,
    source: Source,
    /// Hospital keys in use, by hospital code (loaded or made once).
    hospitals: Mutex<HashMap<String, Arc<HospitalKey>>>,
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> AppError {
    AppError::internal(format!("invoice keys: {what} {}: {e}", path.display()))
}

fn random_seed() -> Result<[u8; 32], AppError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| AppError::internal(format!("no system randomness for an invoice key: {e}")))?;
    Ok(seed)
}

/// Writes an owner-only file whole or not at all: into `NAME.tmp`, flushed, then renamed over
/// `path`, so that a crash (the hub is kill -9'd in CI) never leaves half a key behind.
fn write_private(path: &Path, text: &str) -> Result<(), AppError> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(|e| io_error("cannot create", &tmp, e))?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(|e| io_error("cannot write", &tmp, e))?;
    file.sync_all().map_err(|e| io_error("cannot flush", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_error("cannot rename", &tmp, e))
}

/// A hospital key's file: the seed and its certificate, together (one rename writes both).
#[derive(serde::Serialize, serde::Deserialize)]
struct KeyFile {
    seed: String,
    certificate: Certificate,
}

fn read(path: &Path) -> Result<String, AppError> {
    std::fs::read_to_string(path).map_err(|e| io_error("cannot read", path, e))
}

/// A hospital code as a file name: letters, digits, `-` and `_` only.
fn file_stem(hospital_code: &str) -> Result<&str, AppError> {
    let safe = !hospital_code.is_empty() && hospital_code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    safe.then_some(hospital_code).ok_or_else(|| AppError::internal(format!("hospital code {hospital_code:?} cannot name a key file")))
}

impl InvoiceKeys {
    /// Keys derived from the data key, in memory: for a hub without a data folder.
    pub fn derived(data_key: &DataKey) -> InvoiceKeys {
        let secret: [u8; 32] = Sha256::digest(format!("wugan-invoice-keys|{}", data_key.to_hex()).as_bytes()).into();
        let root_seed: [u8; 32] = Sha256::digest([&secret[..], b"|root"].concat()).into();
        InvoiceKeys { root: RootKey::from_seed(root_seed), source: Source::Derived(secret), hospitals: Mutex::default() }
    }

    /// Keys in `dir` (created owner-only if missing); the root key is made at the first start.
    pub fn in_folder(dir: &Path) -> Result<InvoiceKeys, AppError> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| io_error("cannot create", dir, e))?;
        let root_path = dir.join("root.key");
        if !root_path.exists() {
            write_private(&root_path, &RootKey::from_seed(random_seed()?).to_hex())?;
        }
        let root = RootKey::from_hex(&read(&root_path)?).map_err(|e| AppError::internal(format!("{}: {e}", root_path.display())))?;
        // The public half, for readers: written again whenever it is missing.
        let public_path = dir.join("root.pub");
        if !public_path.exists() {
            write_private(&public_path, &format!("{}\n", root.public().to_hex()))?;
        }
        Ok(InvoiceKeys { root, source: Source::Folder(dir.to_path_buf()), hospitals: Mutex::default() })
    }

    pub fn root_public(&self) -> RootPublicKey {
        self.root.public()
    }

    /// The hospital's current key; made and certified (valid from `today`) at its first use.
    pub fn hospital(&self, hospital_code: &str, today: &str) -> Result<Arc<HospitalKey>, AppError> {
        let mut keys = self.hospitals.lock().map_err(|_| AppError::internal("invoice keys lock poisoned"))?;
        if let Some(key) = keys.get(hospital_code) {
            return Ok(key.clone());
        }
        let key = Arc::new(self.load_or_make(hospital_code, today)?);
        keys.insert(hospital_code.to_string(), key.clone());
        Ok(key)
    }

    /// Replaces a hospital's key with a new one valid from `today`; the old one is kept under its
    /// key id. Returns the new key's certificate.
    pub fn rotate(&self, hospital_code: &str, today: &str) -> Result<Certificate, AppError> {
        let mut keys = self.hospitals.lock().map_err(|_| AppError::internal("invoice keys lock poisoned"))?;
        let old = match keys.get(hospital_code) {
            Some(current) => current.clone(),
            None => Arc::new(self.load_or_make(hospital_code, today)?),
        };
        let new = match &self.source {
            Source::Folder(dir) => {
                let stem = file_stem(hospital_code)?;
                let (current, retired) = (dir.join(format!("{stem}.key")), dir.join(format!("{stem}.{}.retired", old.certificate.key_id)));
                std::fs::rename(&current, &retired).map_err(|e| io_error("cannot retire", &current, e))?;
                self.make_in(dir, hospital_code, today)?
            }
            Source::Derived(secret) => {
                let generation = old.certificate.key_id.clone();
                self.root.certify(hospital_code, derive(secret, hospital_code, &generation), today)
            }
        };
        let certificate = new.certificate.clone();
        keys.insert(hospital_code.to_string(), Arc::new(new));
        Ok(certificate)
    }

    fn load_or_make(&self, hospital_code: &str, today: &str) -> Result<HospitalKey, AppError> {
        match &self.source {
            Source::Derived(secret) => Ok(self.root.certify(hospital_code, derive(secret, hospital_code, "first"), "2000-01-01")),
            Source::Folder(dir) => {
                let key_path = dir.join(format!("{}.key", file_stem(hospital_code)?));
                if !key_path.exists() {
                    return self.make_in(dir, hospital_code, today);
                }
                let file: KeyFile = serde_json::from_str(&read(&key_path)?)
                    .map_err(|e| AppError::internal(format!("{} is not an invoice key: {e}", key_path.display())))?;
                HospitalKey::from_parts(&file.seed, file.certificate, &self.root.public())
                    .map_err(|e| AppError::internal(format!("{}: {e}", key_path.display())))
            }
        }
    }

    fn make_in(&self, dir: &Path, hospital_code: &str, today: &str) -> Result<HospitalKey, AppError> {
        let path = dir.join(format!("{}.key", file_stem(hospital_code)?));
        let key = self.root.certify(hospital_code, random_seed()?, today);
        let file = KeyFile { seed: key.to_hex(), certificate: key.certificate.clone() };
        write_private(&path, &serde_json::to_string_pretty(&file).map_err(|e| AppError::internal(e.to_string()))?)?;
        Ok(key)
    }
}

fn derive(secret: &[u8; 32], hospital_code: &str, generation: &str) -> [u8; 32] {
    Sha256::digest(format!("{}|{hospital_code}|{generation}", hex::encode(secret)).as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_made_at_the_first_start_are_found_again_and_a_rotation_keeps_the_old_one() {
        let dir = std::env::temp_dir().join(format!("wugan-invoice-keys-{}", uuid::Uuid::new_v4().simple()));
        let keys = InvoiceKeys::in_folder(&dir).expect("made");
        let first = keys.hospital("H001", "2026-03-01").expect("made at first use");
        #[cfg(unix)]
        for file in ["root.key", "H001.key"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(file)).expect("exists").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{file}");
        }

        let again = InvoiceKeys::in_folder(&dir).expect("read back");
        assert_eq!(again.root_public(), keys.root_public());
        assert_eq!(again.hospital("H001", "2026-04-01").expect("read back").certificate, first.certificate);

        let rotated = again.rotate("H001", "2026-05-01").expect("rotated");
        assert_ne!(rotated.key_id, first.certificate.key_id);
        assert_eq!(again.hospital("H001", "2026-05-02").expect("current").certificate, rotated);
        assert!(dir.join(format!("H001.{}.retired", first.certificate.key_id)).exists(), "the old key is kept");

        // A crash before a key's rename leaves a temporary file, never half a key.
        std::fs::write(dir.join("H002.tmp"), "half").expect("written");
        assert!(again.hospital("H002", "2026-05-02").is_ok(), "made over the leftover");
        assert!(keys.hospital("../etc", "2026-05-02").is_err(), "a code that is no file name");
        let _ = std::fs::remove_dir_all(dir);
    }
}
