//! `wugan invoice verify`: checks an invoice offline, with only the root public key. The invoice is
//! its JSON (as the API serves it), its PDF (the signed JSON is attached), or its QR code's text.
//! Exit 0 for a genuine invoice; otherwise an error that names the reason.

use anyhow::Context;
use std::path::{Path, PathBuf};
use wugan_invoice::{RootPublicKey, Verified};

/// What to verify.
pub enum Input {
    File(PathBuf),
    Qr(String),
}

/// Where the root public key is when `--trust` is not given: the hub's own data folder.
pub fn default_trust(data_dir: &Path) -> PathBuf {
    data_dir.join("invoice-keys").join("root.pub")
}

pub fn read_root(path: &Path) -> anyhow::Result<RootPublicKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the root public key {}", path.display()))?;
    RootPublicKey::from_hex(&text).map_err(|e| anyhow::anyhow!("{} is not a root public key: {e}", path.display()))
}

/// Verifies `input` against `root`; the error's text is the reason.
pub fn verify(input: &Input, root: &RootPublicKey) -> anyhow::Result<Verified> {
    let result = match input {
        Input::Qr(text) => wugan_invoice::verify_qr(text, root),
        Input::File(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let json = if bytes.starts_with(b"%PDF") {
                wugan_invoice::render::extract_signed_json(&bytes)
                    .ok_or_else(|| anyhow::anyhow!("not genuine (malformed): {} carries no signed invoice", path.display()))?
            } else {
                String::from_utf8(bytes)
                    .map_err(|_| anyhow::anyhow!("not genuine (malformed): {} is neither JSON nor PDF", path.display()))?
            };
            wugan_invoice::verify_json(&json, root)
        }
    };
    result.map_err(|rejected| anyhow::anyhow!("not genuine ({}): {rejected}", rejected.reason.code()))
}

/// `wugan invoice verify`: prints what the invoice says when it is genuine.
pub fn run(input: Input, trust: &Path) -> anyhow::Result<()> {
    let root = read_root(trust)?;
    let v = verify(&input, &root)?;
    println!(
        "genuine {} invoice {} {} (check code {}), {}, ¥{}, hospital {}, key {}",
        v.kind.as_str(),
        v.code,
        v.number,
        v.check_code,
        v.date,
        v.amount_fen.to_yuan_string(),
        v.hospital_code,
        v.key_id
    );
    Ok(())
}
