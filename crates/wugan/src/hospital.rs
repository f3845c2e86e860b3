//! `wugan hospital add`: registers a hospital on the hub's database (the record the API and the
//! console use) and prints, once, its HIS API key and its drop-in national-interface prefix.

use wugan_domain::settlement::cash_only::SetlType;
use wugan_hub::store::Store;

/// How a hospital settles and which region its envelopes name.
pub struct HospitalMode {
    pub setl_type: SetlType,
    /// 就医地医保区划; `None`: the hub's.
    pub mdtrtarea_admvs: Option<String>,
}

/// Registers `code` and returns what to print (text, or JSON with `json`).
pub async fn add(store: &Store, code: &str, name: &str, mode: &HospitalMode, json: bool) -> anyhow::Result<String> {
    let registration =
        wugan_hub::app::national_interface::register_hospital(store, code, name).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    store.set_hospital_mode(code, mode.mdtrtarea_admvs.as_deref(), mode.setl_type).await?;
    if json {
        let mut value = serde_json::to_value(&registration)?;
        value["setl_type"] = serde_json::json!(mode.setl_type.as_str());
        return Ok(format!("{value}\n"));
    }
    Ok(format!(
        "hospital {} ({}) registered, settlement type {}.\n\
         HIS API key {} (shown this once; only its hash is kept):\n{}\n\
         national_interface_prefix (the HIS's base URL is the hub's address followed by it; keep it secret):\n{}\n",
        registration.code,
        registration.name,
        mode.setl_type.as_str(),
        registration.key_id,
        registration.api_key,
        registration.national_interface_prefix
    ))
}
