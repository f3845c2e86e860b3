//! `wugan hospital add`: registers a hospital on the hub's database (the record the API and the
//! console use) and prints, once, its HIS API key and its drop-in national-interface prefix.

use anyhow::Context;
use std::path::PathBuf;
use wugan_domain::settlement::cash_only::SetlType;
use wugan_hub::store::Store;

/// How a hospital settles and which region its envelopes name.
pub struct HospitalMode {
    pub setl_type: SetlType,
    /// 就医地医保区划; `None`: the hub's.
    pub mdtrtarea_admvs: Option<String>,
}

/// Registers `code` and returns what to print (text, or JSON with `json`).
/// A code registered before keeps its name (the operator renames on the console), gets one more
/// HIS key, and a new national-interface prefix that replaces the old one: both said plainly.
pub async fn add(store: &Store, code: &str, name: &str, mode: &HospitalMode, json: bool) -> anyhow::Result<String> {
    let before = store.hospital_profile(code).await?.map(|p| p.name);
    let registration =
        wugan_hub::app::national_interface::register_hospital(store, code, name).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    store.set_hospital_mode(code, mode.mdtrtarea_admvs.as_deref(), mode.setl_type).await?;
    if json {
        let mut value = serde_json::to_value(&registration)?;
        value["setl_type"] = serde_json::json!(mode.setl_type.as_str());
        value["existed"] = serde_json::json!(before.is_some());
        return Ok(format!("{value}\n"));
    }
    let again = match &before {
        None => String::new(),
        Some(old) => format!(
            "hospital {code} was registered already{}: one more HIS API key was issued (the earlier keys still work; \
             revoke them with `wugan key revoke`), and the national-interface prefix below replaces the old one, \
             which no longer answers.\n",
            if old == name { String::new() } else { format!(" as {old} (its name is kept; --name {name} was not applied)") }
        ),
    };
    Ok(format!(
        "{again}hospital {} ({}) registered, settlement type {}.\n\
         HIS API key {} (shown this once; only its hash is kept):\n{}\n\
         national_interface_prefix (the HIS's base URL is the hub's address followed by it; keep it secret):\n{}\n\
         Still to do before its patients pay seamlessly: its agreement with each bank it is paid through \
         (POST /api/v1/operator/hospital-banks; until then its payouts are held), and, with an external insurance \
         platform, its gateway credential there (POST /api/v1/operator/hospitals/{}/platform; until then its visits \
         answer insurance_not_configured). The built-in insurance center admits it at the next start of `wugan serve` \
         (until then its visits answer insurance_not_configured too).\n",
        registration.code,
        registration.name,
        mode.setl_type.as_str(),
        registration.key_id,
        registration.api_key,
        registration.national_interface_prefix,
        registration.code
    ))
}

/// Where the hub's database is: a URL, or the data folder's hub.db (created if new).
pub struct Place {
    pub database_url: Option<String>,
    pub data_dir: PathBuf,
}

/// `wugan hospital add` on the database at `place`.
pub async fn add_on(
    place: &Place,
    code: &str,
    name: &str,
    setl_type: &str,
    mdtrtarea_admvs: Option<String>,
    json: bool,
) -> anyhow::Result<String> {
    let setl_type = SetlType::parse(setl_type).with_context(|| format!("--setl-type {setl_type}: ALL, CASH or HI"))?;
    let url = match &place.database_url {
        Some(url) => url.clone(),
        None => {
            std::fs::create_dir_all(&place.data_dir).with_context(|| format!("cannot create {}", place.data_dir.display()))?;
            format!("sqlite://{}?mode=rwc", place.data_dir.join("hub.db").display())
        }
    };
    let store = Store::connect(&url).await.context("cannot open the hub's database")?;
    store.migrate().await?;
    add(&store, code, name, &HospitalMode { setl_type, mdtrtarea_admvs }, json).await
}

/// `wugan hospital …`.
#[derive(clap::Subcommand)]
pub enum HospitalArgs {
    Add {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        /// ALL (the hub settles insurance and charges the cash share), CASH (the hospital settles
        /// insurance itself; the hub charges the cash share) or HI (insurance only).
        #[arg(long, default_value = "ALL")]
        setl_type: String,
        /// 就医地医保区划 for this hospital's envelopes (default: the hub's region).
        #[arg(long)]
        mdtrtarea_admvs: Option<String>,
        #[arg(long)]
        json: bool,
        #[arg(long, env = "WUGAN_DATABASE_URL")]
        database_url: Option<String>,
        #[arg(long, env = "WUGAN_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn adding_a_registered_code_again_says_what_it_kept_and_what_it_replaced() {
        let dir = std::env::temp_dir().join(format!("wugan-hospital-add-{}", uuid::Uuid::new_v4().simple()));
        let place = Place { database_url: None, data_dir: dir.clone() };
        let first = add_on(&place, "H1", "第一医院", "ALL", None, false).await.expect("added");
        assert!(first.starts_with("hospital H1 (第一医院) registered"), "{first}");
        let again = add_on(&place, "H1", "改名医院", "ALL", None, false).await.expect("added again");
        assert!(again.contains("registered already as 第一医院 (its name is kept; --name 改名医院 was not applied)"), "{again}");
        assert!(again.contains("replaces the old one"), "{again}");
        let json: serde_json::Value =
            serde_json::from_str(&add_on(&place, "H1", "第一医院", "ALL", None, true).await.expect("json")).unwrap();
        assert_eq!((json["existed"].as_bool(), json["name"].as_str()), (Some(true), Some("第一医院")));
        let _ = std::fs::remove_dir_all(dir);
    }
}
