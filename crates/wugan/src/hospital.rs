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
