//! Starting the parties: the hub, and (when no external partner is configured) a built-in insurance
//! center and bank in the same process, each on its own loopback port, spoken to over HTTP exactly
//! as external ones would be.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wugan_domain::Fen;
use wugan_hub::bank_client::BankEndpoint;
use wugan_hub::insurance_client::GatewayCredential;
use wugan_hub::model::Role;
use wugan_hub::pii::DataKey;
use wugan_hub::store::Store;
use wugan_hub::{App, HubConfig};

use crate::data_dir::{owner_only, prepare_sqlite_file, private_dir, sqlite_path};
use crate::faults::{self, FaultPlan};
use crate::server::ServerLimits;
use wugan_hub::api::EdgeConfig;

/// Binds `listen` and serves `router` in the background, within the default limits (see
/// `server`); returns the bound address.
pub async fn spawn_server(listen: &str, router: axum::Router) -> anyhow::Result<SocketAddr> {
    spawn_server_with(listen, router, ServerLimits::default()).await
}

/// Like [`spawn_server`], within `limits`.
pub async fn spawn_server_with(listen: &str, router: axum::Router, limits: ServerLimits) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    serve_on_with(listener, router, limits).map(|(addr, _)| addr)
}

/// Like [`spawn_server`], with the task's handle so that the server can be stopped.
pub async fn spawn_server_task(listen: &str, router: axum::Router) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    serve_on(listener, router)
}

/// Like [`spawn_server`], stopping gracefully once `stop` turns true (see
/// `server::serve_until`): the task ends when the requests in progress are answered.
pub async fn spawn_server_until(
    listen: &str,
    router: axum::Router,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    Ok((addr, crate::server::serve_until(listener, router, ServerLimits::default(), stop)))
}

/// Serves `router` on an already bound listener, in the background, within the default limits.
pub fn serve_on(listener: tokio::net::TcpListener, router: axum::Router) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    serve_on_with(listener, router, ServerLimits::default())
}

/// Serves `router` on an already bound listener, in the background, within `limits`. Stopping the
/// task stops accepting; connections already open are served to their end.
pub fn serve_on_with(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: ServerLimits,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let addr = listener.local_addr()?;
    Ok((addr, crate::server::serve(listener, router, limits)))
}

/// Secrets and keys of a local installation, kept in the data folder (mode 0600) so that a restart
/// finds the same ones. Never logged.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub data_key_hex: String,
    pub operator_api_key: String,
    pub hospitals: Vec<HospitalCredential>,
    pub bank_key_id: String,
    pub bank_secret: String,
    /// What the bank signs its callbacks with: not the request secret, so that one who learns
    /// either cannot forge the other direction. Missing in files of older versions: generated.
    #[serde(default)]
    pub bank_callback_secret: String,
    /// The built-in bank's staff key (key id `staff`: freeze, unfreeze, list every line), which
    /// the hub never holds or uses. Missing in files of older versions: generated.
    #[serde(default)]
    pub bank_staff_secret: String,
    /// The insurance gateway's credentials (an app id and secret per hospital and for the hub, and
    /// the sandbox operator's token), shared by the built-in center and the hub. Missing in files
    /// of older versions: generated.
    #[serde(default)]
    pub insurance_gateway: wugan_insurance::GatewayConfig,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct HospitalCredential {
    pub code: String,
    pub name: String,
    pub api_key: String,
}

fn random_token(prefix: &str) -> anyhow::Result<String> {
    Ok(format!("{prefix}_{}", DataKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?.to_hex()))
}

impl Credentials {
    pub fn generate() -> anyhow::Result<Credentials> {
        Ok(Credentials {
            data_key_hex: DataKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?.to_hex(),
            operator_api_key: random_token("op")?,
            hospitals: vec![
                HospitalCredential {
                    code: "H44030600001".into(),
                    name: "示范三甲医院 Demo Grade-III Hospital".into(),
                    api_key: random_token("his")?,
                },
                HospitalCredential {
                    code: "H44030600002".into(),
                    name: "示范社区医院 Demo Community Hospital".into(),
                    api_key: random_token("his")?,
                },
            ],
            bank_key_id: "hub".into(),
            bank_secret: random_token("bank")?,
            bank_callback_secret: random_token("bankcb")?,
            bank_staff_secret: random_token("bankstaff")?,
            insurance_gateway: wugan_insurance::GatewayConfig::default(),
        })
        .and_then(|mut creds| {
            creds.complete()?;
            Ok(creds)
        })
    }

    /// Generates what a file of an older version lacks: the bank's callback secret, the gateway's
    /// operator token, and a gateway credential for every hospital and the hub. Whether anything was added.
    fn complete(&mut self) -> anyhow::Result<bool> {
        let mut added = false;
        for (secret, prefix) in [(&mut self.bank_callback_secret, "bankcb"), (&mut self.bank_staff_secret, "bankstaff")] {
            if secret.is_empty() {
                *secret = random_token(prefix)?;
                added = true;
            }
        }
        let gateway = &mut self.insurance_gateway;
        if gateway.operator_token.is_empty() {
            gateway.operator_token = random_token("insop")?;
            added = true;
        }
        let codes: Vec<String> =
            self.hospitals.iter().map(|h| h.code.clone()).chain([wugan_hub::insurance_client::HUB_FIXMEDINS_CODE.to_string()]).collect();
        Ok(self.admit_gateway_callers(&codes)? || added)
    }

    /// Gives every hospital of `codes` that has none a credential at the built-in insurance
    /// center's gateway (an app id and a secret). Whether any was added.
    fn admit_gateway_callers(&mut self, codes: &[String]) -> anyhow::Result<bool> {
        let gateway = &mut self.insurance_gateway;
        let mut added = false;
        for code in codes {
            if !gateway.callers.iter().any(|c| &c.fixmedins_code == code) {
                let (app_id, secret) = (format!("app_{code}"), random_token("ins")?);
                gateway.callers.push(wugan_insurance::CallerCredential { fixmedins_code: code.clone(), app_id, secret });
                added = true;
            }
        }
        Ok(added)
    }

    /// Writes the file again: aside, then renamed, so a crash leaves the old file or the new one,
    /// never half.
    fn save(&self, data_dir: &Path) -> anyhow::Result<()> {
        let (path, aside) = (data_dir.join("credentials.json"), data_dir.join("credentials.json.new"));
        let _ = std::fs::remove_file(&aside);
        write_private(&aside, self)?;
        std::fs::rename(&aside, &path).with_context(|| format!("cannot replace {}", path.display()))
    }

    /// The hub's side of the insurance gateway's credentials.
    pub fn hub_gateway_credentials(gateway: &wugan_insurance::GatewayConfig) -> Vec<GatewayCredential> {
        let callers = gateway.callers.iter();
        callers
            .map(|c| GatewayCredential { fixmedins_code: c.fixmedins_code.clone(), app_id: c.app_id.clone(), secret: c.secret.clone() })
            .collect()
    }

    /// Loads `credentials.json` from the data folder, creating it on first run.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Credentials> {
        let path = data_dir.join("credentials.json");
        if path.exists() {
            owner_only(&path, 0o600)?;
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let mut creds: Credentials = serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
            if creds.complete()? {
                creds.save(data_dir)?;
            }
            return Ok(creds);
        }
        let creds = Credentials::generate()?;
        private_dir(data_dir)?;
        write_private(&path, &creds)?;
        Ok(creds)
    }

    /// The insurance gateway's credentials in a data folder's credentials.json, if there is one
    /// (`wugan insurance serve` on the hub's folder); nothing is created.
    pub fn insurance_gateway_in(data_dir: &Path) -> anyhow::Result<Option<wugan_insurance::GatewayConfig>> {
        let path = data_dir.join("credentials.json");
        if !path.exists() {
            return Ok(None);
        }
        owner_only(&path, 0o600)?;
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let creds: Credentials = serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
        Ok(Some(creds.insurance_gateway).filter(|g| !g.callers.is_empty()))
    }
}

/// Owner-only from its creation: there is no moment at which another user could read it.
fn write_private(path: &Path, value: &impl Serialize) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut file, serde_json::to_string_pretty(value)?.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Reads an insurance gateway file (`WUGAN_INSURANCE_GATEWAY_FILE`: the same document as the
/// `insurance_gateway` of credentials.json); it holds secrets, so it must be the owner's only.
pub fn load_insurance_gateway(path: &Path) -> anyhow::Result<wugan_insurance::GatewayConfig> {
    owner_only(path, 0o600)?;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let gateway: wugan_insurance::GatewayConfig =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
    gateway.validate().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(gateway)
}

/// The key id of the built-in bank's staff key.
pub const BANK_STAFF_KEY_ID: &str = "staff";

/// Where the hub finds its partners and its database. `None` means "start a built-in one".
#[derive(Clone, Default)]
pub struct SystemOptions {
    pub hub_listen: String,
    pub database_url: Option<String>,
    pub insurance_url: Option<String>,
    pub bank_url: Option<String>,
    pub bank_code: String,
    pub data_dir: PathBuf,
    pub persons_file: Option<PathBuf>,
    pub admdvs: String,
    /// The built-in insurance center serves regions with no parameter set of their own by this
    /// region's (example numbers), like `wugan insurance serve --default-region`.
    pub default_region: Option<String>,
    /// The built-in insurance center keeps its journal in the data folder (`wugan serve`);
    /// otherwise it lives in memory (tests, `demo`, `simulate`).
    pub insurance_in_data_dir: bool,
    /// Key id and secret the hub signs bank requests with, for an external bank.
    pub bank_key_id: Option<String>,
    pub bank_secret: Option<String>,
    /// The secret an external bank signs its callbacks with (`WUGAN_BANK_CALLBACK_SECRET`).
    pub bank_callback_secret: Option<String>,
    /// The insurance gateway's credentials for an external center (`WUGAN_INSURANCE_GATEWAY_FILE`);
    /// `None` uses credentials.json's.
    pub insurance_gateway: Option<wugan_insurance::GatewayConfig>,
    /// The personal-data key (`WUGAN_DATA_KEY`, hex); `None` uses the one in credentials.json.
    pub data_key_hex: Option<String>,
    /// Faults injected on the wire between the hub and each partner (tests and `simulate`).
    pub insurance_faults: Option<Arc<FaultPlan>>,
    pub bank_faults: Option<Arc<FaultPlan>>,
    /// The built-in bank's clock (tests walk billing cycles with a manual one).
    pub bank_clock: Option<Arc<dyn wugan_bank::Clock>>,
    /// The hub's and the built-in insurance center's business clocks (a test walks them from one
    /// business day to the next with the bank's); request signatures keep the wall clock.
    pub hub_clock: Option<Arc<dyn wugan_hub::clock::Clock>>,
    pub insurance_clock: Option<Arc<dyn wugan_insurance::Clock>>,
    /// Keep the built-in bank in `data_dir/bank.db`, so that a restart changes nothing (`wugan
    /// serve`); off, it lives in memory (tests, `demo`). One bank per file: while a built-in bank
    /// runs (`System::stop` leaves it running), another `start` on the same folder is refused.
    pub persist_bank: bool,
    /// How often the recovery worker and the bank-event feed run.
    pub worker_interval: Option<Duration>,
    /// No recovery pass at start-up and no periodic worker: the caller runs
    /// `App::resume_unfinished` and `App::sync_bank_events` itself, at moments it chooses rather
    /// than the clock (`wugan simulate`, so that a seed replays).
    pub manual_recovery: bool,
    /// The limits of every server started (the hub and built-in partners) and the hub's rate limits.
    pub edge: EdgeOptions,
    /// Further banks the hub has contracts with, beside the first (`bank_url`/built-in): each
    /// agreement is routed to its own bank, so a bank that is down affects only its patients.
    pub extra_banks: Vec<BankEndpoint>,
    /// The configured banks' names by code (`bank_name`, `banks[].name`); a bank without one is
    /// shown by its code, except the built-in bank: [`BUILTIN_BANK_NAME`].
    pub bank_names: std::collections::BTreeMap<String, String>,
    /// The hub calls the built-in partners' routers in this process, not over loopback HTTP
    /// (`wugan bench core`). Needs both partners built in and no fault wire.
    pub partners_in_process: bool,
    /// How long idempotent requests' answers are kept for replay; `None`: the hub's default (24 h).
    pub idempotency_retention: Option<Duration>,
}

/// What clients may hold of the servers (`server`) and how often they may call the hub (`api`).
/// The default has no rate limits; `wugan serve` sets its own.
#[derive(Clone, Debug, Default)]
pub struct EdgeOptions {
    pub server: ServerLimits,
    pub api: EdgeConfig,
}

/// The built-in bank's name when the configuration gives it none: a demonstration bank.
pub const BUILTIN_BANK_NAME: &str = "示范银行";

impl SystemOptions {
    pub fn local(data_dir: PathBuf) -> SystemOptions {
        SystemOptions {
            hub_listen: "127.0.0.1:0".into(),
            data_dir,
            bank_code: "BANK01".into(),
            admdvs: "440300".into(),
            ..Default::default()
        }
    }
}

pub struct System {
    pub app: Arc<App>,
    /// The hub's recovery worker: aborted by `stop` (a crash), told to stop by `shutdown`.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// What [`System::shutdown`] stops gracefully, in order.
    graceful: Graceful,
    pub hub_url: String,
    pub insurance_url: String,
    pub bank_url: String,
    pub credentials: Credentials,
    pub database_url: String,
}

/// A built-in insurance center in memory (a restart forgets it: `simulate`, tests).
pub fn builtin_insurance(
    persons_file: Option<&Path>,
    admdvs: &str,
    gateway: &wugan_insurance::GatewayConfig,
) -> anyhow::Result<axum::Router> {
    builtin_insurance_serving(persons_file, admdvs, None, gateway)
}

/// A built-in insurance center in memory, serving regions without a parameter set of their own
/// by `default_region`'s when one is given.
pub fn builtin_insurance_serving(
    persons_file: Option<&Path>,
    admdvs: &str,
    default_region: Option<&str>,
    gateway: &wugan_insurance::GatewayConfig,
) -> anyhow::Result<axum::Router> {
    builtin_insurance_at(persons_file, admdvs, default_region, gateway, Arc::new(wugan_insurance::SystemClock))
}

/// [`builtin_insurance_serving`] on a clock of the caller's (its business time; the gateway keeps the wall clock).
fn builtin_insurance_at(
    persons_file: Option<&Path>,
    admdvs: &str,
    default_region: Option<&str>,
    gateway: &wugan_insurance::GatewayConfig,
    clock: Arc<dyn wugan_insurance::Clock>,
) -> anyhow::Result<axum::Router> {
    let config = builtin_insurance_config(persons_file, admdvs, default_region)?;
    let center = wugan_insurance::InsuranceCenter::new_with_clock(config, clock)?;
    Ok(wugan_insurance::router(Arc::new(center), insurance_gateway(gateway)?))
}

fn insurance_gateway(gateway: &wugan_insurance::GatewayConfig) -> anyhow::Result<Arc<wugan_insurance::Gateway>> {
    let gateway = wugan_insurance::Gateway::new(gateway.clone()).map_err(|e| anyhow::anyhow!("insurance gateway: {e}"))?;
    Ok(Arc::new(gateway))
}

/// A built-in insurance center on its journal in `data_dir` ([`insurance_journal`]), which it
/// replays at start: a restart changes nothing a caller can see.
pub async fn builtin_insurance_in(
    data_dir: &Path,
    persons_file: Option<&Path>,
    admdvs: &str,
    default_region: Option<&str>,
    gateway: &wugan_insurance::GatewayConfig,
) -> anyhow::Result<axum::Router> {
    let config = builtin_insurance_config(persons_file, admdvs, default_region)?;
    let key = partner_key(data_dir, INSURANCE_KEY_FILE)?;
    let center = wugan_insurance::InsuranceCenter::open(config, &insurance_journal(data_dir), key).await?;
    Ok(wugan_insurance::router(Arc::new(center), insurance_gateway(gateway)?))
}

/// The files of a data folder holding the partners' sealing keys (hex, 0600).
pub const INSURANCE_KEY_FILE: &str = "insurance.key";
pub const BANK_KEY_FILE: &str = "bank.key";

/// A built-in partner's key for sealing its journal, kept in `data_dir/file` (created 0600 with a
/// fresh key at the first start; a copy of the folder, `wugan backup`, takes it along). Apart from
/// the hub's data key: a partner is another party.
pub fn partner_key(data_dir: &Path, file: &str) -> anyhow::Result<wugan_seal::SealKey> {
    let path = data_dir.join(file);
    if !path.exists() {
        private_dir(data_dir)?;
        let key = wugan_seal::SealKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(&path).with_context(|| format!("cannot create {}", path.display()))?;
        std::io::Write::write_all(&mut out, key.to_hex().as_bytes())?;
        out.sync_all()?;
    }
    owner_only(&path, 0o600)?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    wugan_seal::SealKey::from_hex(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Where an insurance center keeps its journal in a data folder.
pub fn insurance_journal(data_dir: &Path) -> PathBuf {
    data_dir.join("insurance.db")
}

fn builtin_insurance_config(
    persons_file: Option<&Path>,
    admdvs: &str,
    default_region: Option<&str>,
) -> anyhow::Result<wugan_insurance::InsuranceConfig> {
    let persons = match persons_file {
        Some(path) => wugan_insurance::load_persons_jsonl(path)?,
        None => wugan_insurance::sample_persons(),
    };
    let policy = match default_region {
        Some(region) => wugan_insurance::default_policy().with_default_region(region)?,
        None => wugan_insurance::default_policy(),
    };
    Ok(wugan_insurance::InsuranceConfig { admdvs: admdvs.to_string(), policy, persons })
}

pub fn builtin_bank(bank_code: &str, key_id: &str, secret: &str) -> axum::Router {
    builtin_bank_with_clock(bank_code, key_id, secret, Arc::new(wugan_bank::SystemClock))
}

pub fn builtin_bank_with_clock(bank_code: &str, key_id: &str, secret: &str, clock: Arc<dyn wugan_bank::Clock>) -> axum::Router {
    builtin_bank_full(bank_code, key_id, secret, clock, None)
}

/// A built-in bank that also rings the hub's doorbell when its events change (signed with the
/// callback's own secret).
pub fn builtin_bank_full(
    bank_code: &str,
    key_id: &str,
    secret: &str,
    clock: Arc<dyn wugan_bank::Clock>,
    callback: Option<wugan_bank::Callback>,
) -> axum::Router {
    let config = builtin_bank_config(bank_code, key_id, secret, callback, Vec::new());
    wugan_bank::router(Arc::new(wugan_bank::Bank::with_billing_clock(config, clock)))
}

/// [`builtin_bank_full`], kept in its journal at `db_path` (see `wugan_bank::Bank::with_journal`).
pub async fn builtin_bank_on_disk(
    bank_code: &str,
    key_id: &str,
    secret: &str,
    clock: Arc<dyn wugan_bank::Clock>,
    callback: Option<wugan_bank::Callback>,
    db_path: &Path,
    key: wugan_seal::SealKey,
) -> anyhow::Result<axum::Router> {
    let config = builtin_bank_config(bank_code, key_id, secret, callback, Vec::new());
    let bank = wugan_bank::Bank::with_billing_clock(config, clock).with_journal(db_path, key).await?;
    Ok(wugan_bank::router(Arc::new(bank)))
}

/// The built-in bank: the hub its one client; staff keys only where given (`wugan serve`:
/// credentials.json's `bank_staff_secret`).
fn builtin_bank_config(
    bank_code: &str,
    key_id: &str,
    secret: &str,
    callback: Option<wugan_bank::Callback>,
    staff: Vec<wugan_bank::ClientKey>,
) -> wugan_bank::BankConfig {
    wugan_bank::BankConfig {
        bank_code: bank_code.to_string(),
        clients: vec![wugan_bank::ClientKey { key_id: key_id.to_string(), secret: secret.to_string() }],
        staff,
        callback,
        ..Default::default()
    }
}

/// Starts the hub, with built-in partners for any not given, on the store the options name.
pub async fn start(opts: &SystemOptions) -> anyhow::Result<System> {
    private_dir(&opts.data_dir)?;
    let mut credentials = Credentials::load_or_create(&opts.data_dir)?;
    if let Some(key_id) = &opts.bank_key_id {
        credentials.bank_key_id = key_id.clone();
    }
    if let Some(secret) = &opts.bank_secret {
        credentials.bank_secret = secret.clone();
    }
    if let Some(secret) = &opts.bank_callback_secret {
        credentials.bank_callback_secret = secret.clone();
    }
    if let Some(gateway) = &opts.insurance_gateway {
        credentials.insurance_gateway = gateway.clone();
    }
    let database_url = match &opts.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}?mode=rwc", opts.data_dir.join("hub.db").display()),
    };
    prepare_sqlite_file(&database_url)?;
    let mut store = Store::connect(&database_url).await.context("cannot open the hub's database")?;
    if let Some(clock) = &opts.hub_clock {
        store = store.with_clock(clock.clone());
    }
    store.migrate().await.context("cannot migrate the hub's database")?;
    if opts.insurance_url.is_none() && opts.insurance_gateway.is_none() {
        // The built-in insurance center knows every hospital on the hub's books, also those added
        // since the file was written (`wugan hospital add`, the operator's API): each gets its
        // gateway credential here, kept in credentials.json.
        let codes: Vec<String> = store.hospitals().await?.into_iter().map(|h| h.code).collect();
        if credentials.admit_gateway_callers(&codes)? {
            credentials.save(&opts.data_dir)?;
        }
    }
    // The hub's address is fixed first, so that a built-in bank knows where to ring its doorbell.
    let hub_listener =
        tokio::net::TcpListener::bind(&opts.hub_listen).await.with_context(|| format!("cannot listen on {}", opts.hub_listen))?;
    let hub_addr = hub_listener.local_addr()?;
    let mut graceful = Graceful::new();
    // The built-in partners' routers, for a hub that calls them in process.
    let (mut insurance_router, mut bank_router) = (None, None);
    let insurance_url = match &opts.insurance_url {
        Some(url) => url.clone(),
        None => {
            let (persons, admdvs, default_region) = (opts.persons_file.as_deref(), &opts.admdvs, opts.default_region.as_deref());
            let gateway = &credentials.insurance_gateway;
            let insurance = match opts.insurance_in_data_dir {
                true => builtin_insurance_in(&opts.data_dir, persons, admdvs, default_region, gateway).await?,
                false => {
                    let clock = opts.insurance_clock.clone().unwrap_or_else(|| Arc::new(wugan_insurance::SystemClock));
                    builtin_insurance_at(persons, admdvs, default_region, gateway, clock)?
                }
            };
            insurance_router = Some(insurance.clone());
            format!("http://{}", graceful.partner("127.0.0.1:0", insurance, opts.edge.server).await?)
        }
    };
    let bank_url = match &opts.bank_url {
        Some(url) => url.clone(),
        None => {
            let clock = opts.bank_clock.clone().unwrap_or_else(|| Arc::new(wugan_bank::SystemClock));
            let url = format!("http://{hub_addr}/api/v1/bank-callbacks/{}", opts.bank_code);
            let callback = Some(wugan_bank::Callback { url, secret: credentials.bank_callback_secret.clone() });
            let (code, key_id, secret) = (&opts.bank_code, &credentials.bank_key_id, &credentials.bank_secret);
            let staff = vec![wugan_bank::ClientKey { key_id: BANK_STAFF_KEY_ID.into(), secret: credentials.bank_staff_secret.clone() }];
            let bank = match opts.persist_bank {
                true => {
                    let db = opts.data_dir.join("bank.db");
                    let config = builtin_bank_config(code, key_id, secret, callback, staff);
                    let key = partner_key(&opts.data_dir, BANK_KEY_FILE)?;
                    let bank = wugan_bank::Bank::with_billing_clock(config, clock).with_journal(&db, key).await;
                    let bank = Arc::new(bank.context("cannot start the built-in bank")?);
                    graceful.bank = Some(bank.clone());
                    wugan_bank::router(bank)
                }
                false => {
                    let config = builtin_bank_config(code, key_id, secret, callback, staff);
                    wugan_bank::router(Arc::new(wugan_bank::Bank::with_billing_clock(config, clock)))
                }
            };
            bank_router = Some(bank.clone());
            format!("http://{}", graceful.partner("127.0.0.1:0", bank, opts.edge.server).await?)
        }
    };
    // The hub speaks to the partners through a faulty wire when asked to.
    let hub_insurance_url = match &opts.insurance_faults {
        Some(plan) => format!("http://{}", spawn_server("127.0.0.1:0", faults::proxy(&insurance_url, plan.clone())).await?),
        None => insurance_url.clone(),
    };
    let hub_bank_url = match &opts.bank_faults {
        Some(plan) => format!("http://{}", spawn_server("127.0.0.1:0", faults::proxy(&bank_url, plan.clone())).await?),
        None => bank_url.clone(),
    };
    graceful.sqlite_files.extend(sqlite_path(&database_url));
    if opts.insurance_url.is_none() && opts.insurance_in_data_dir {
        graceful.sqlite_files.push(insurance_journal(&opts.data_dir));
    }
    let released = store.release_requests_of_a_dead_process().await?;
    if released > 0 {
        tracing::info!(released, "requests cut short by the previous run may be retried at once");
    }
    for h in &credentials.hospitals {
        store.ensure_hospital(&h.code, &h.name).await?;
        store.ensure_api_key(&wugan_hub::api::hash_api_key(&h.api_key), Role::Hospital, Some(&h.code)).await?;
    }
    store.ensure_api_key(&wugan_hub::api::hash_api_key(&credentials.operator_api_key), Role::Operator, None).await?;
    check_listed_keys(&store, &credentials).await?;
    let config = HubConfig {
        admdvs: opts.admdvs.clone(),
        insurance_url: hub_insurance_url,
        insurance_credentials: Credentials::hub_gateway_credentials(&credentials.insurance_gateway),
        banks: std::iter::once(BankEndpoint {
            bank_code: opts.bank_code.clone(),
            url: hub_bank_url,
            key_id: credentials.bank_key_id.clone(),
            secret: credentials.bank_secret.clone(),
            callback_secret: credentials.bank_callback_secret.clone(),
        })
        .chain(opts.extra_banks.iter().cloned())
        .collect(),
        default_credit_limit: Fen::yuan(5_000),
        partner_timeout: Duration::from_secs(10),
        data_key: DataKey::from_hex(opts.data_key_hex.as_deref().unwrap_or(&credentials.data_key_hex))
            .map_err(|e| anyhow::anyhow!("the personal-data key (WUGAN_DATA_KEY or credentials.json) is not valid: {e}"))?,
    };
    // A wrong key would only show later, as requests that cannot read a name: refuse to start.
    if let Some(sealed) = store.some_sealed_value().await? {
        config.data_key.open(&sealed).map_err(|_| {
            anyhow::anyhow!("the personal-data key (WUGAN_DATA_KEY or credentials.json) does not open the personal data in this database")
        })?;
    }
    // Invoices issued before verify only against the root key that signed them: a folder without
    // it (a restore that left `invoice-keys/` behind) must not mint a new root silently.
    let root_key = opts.data_dir.join("invoice-keys").join("root.key");
    if !root_key.exists() && store.any_invoice().await? && std::env::var_os("WUGAN_NEW_INVOICE_KEYS").is_none() {
        anyhow::bail!(
            "this database holds invoices, but {} is missing: restore invoice-keys/ from the backup (or the hub folder) it came from. \
             Set WUGAN_NEW_INVOICE_KEYS=1 to make a new root key instead: the invoices issued before will no longer verify against it.",
            root_key.display()
        );
    }
    let invoicing = wugan_hub::app::invoices::Invoicing::in_data_dir(&opts.data_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Text messages to patients (sign-in codes) land in DATA_DIR/sms-outbox.log.
    let sms = Arc::new(wugan_hub::app::sms::FileSms::in_data_dir(&opts.data_dir));
    let mut app = App::new(store, config).with_invoicing(invoicing).with_sms(sms);
    if let Some(retention) = opts.idempotency_retention {
        app = app.with_idempotency_retention(retention);
    }
    if opts.partners_in_process {
        let faultless = opts.insurance_faults.is_none() && opts.bank_faults.is_none();
        let (Some(insurance), Some(bank), true) = (insurance_router, bank_router, faultless) else {
            anyhow::bail!("partners in process need both partners built in and no fault wire");
        };
        app = app.with_in_process_partners(insurance, vec![(opts.bank_code.clone(), bank)]);
    }
    // The configured banks by name (an onboarded bank is named by its terms, loaded next).
    if opts.bank_url.is_none() && !opts.bank_names.contains_key(&opts.bank_code) {
        app.banks.set_name(&opts.bank_code, BUILTIN_BANK_NAME);
    }
    for (code, name) in &opts.bank_names {
        app.banks.set_name(code, name);
    }
    // Banks an operator onboarded on an earlier run are routed to again.
    app.load_onboarded_banks().await.map_err(|e| anyhow::anyhow!("the onboarded banks cannot be loaded: {e}"))?;
    // Hospital–bank agreements (app/hospital_banks.rs): the configured banks serve the credentials
    // file's hospitals as before, unless an operator suspended the pair.
    let seeded_hospitals: Vec<String> = credentials.hospitals.iter().map(|h| h.code.clone()).collect();
    let configured_banks: Vec<String> = app.config.banks.iter().map(|b| b.bank_code.clone()).collect();
    app.seed_hospital_banks(&seeded_hospitals, &configured_banks).await.map_err(|e| anyhow::anyhow!("hospital–bank agreements: {e}"))?;
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    if !opts.manual_recovery {
        // Whatever a previous run left between steps is resumed at once, beside the server (a
        // silent partner does not delay the start), then checked again periodically.
        let interval = opts.worker_interval.unwrap_or(Duration::from_secs(15));
        tasks.push(wugan_hub::app::spawn_recovery(app.clone(), interval, graceful.hub_stop.subscribe()));
        // Webhooks to the HIS (app/webhooks.rs), beside it and on the same beat.
        tasks.push(wugan_hub::app::webhooks::spawn_webhooks(app.clone(), interval, graceful.hub_stop.subscribe()));
        // Patients' notifications (inbox and text messages), soon after each settlement.
        let notify_every = Duration::from_secs(2);
        tasks.push(wugan_hub::app::notifications::spawn_notifier(app.clone(), notify_every, graceful.hub_stop.subscribe()));
    }
    // The API and the pages (`/h5/`, `/assets/`) on one port; the pages act through the API.
    let hub_router = wugan_hub::api::router_with(app.clone(), &opts.edge.api).merge(wugan_web::router(app.clone()));
    graceful.hub = Some(crate::server::serve_until(hub_listener, hub_router, opts.edge.server, graceful.hub_stop.subscribe()));
    Ok(System { app, tasks, graceful, hub_url: format!("http://{hub_addr}"), insurance_url, bank_url, credentials, database_url })
}

/// The keys credentials.json lists are the installation's own keys: one it no longer lists (a
/// hospital removed, a key replaced in the file) stops working now, unless a rotation's grace
/// period is running for it. A listed key that was revoked stays revoked.
async fn check_listed_keys(store: &Store, credentials: &Credentials) -> anyhow::Result<()> {
    let listed: Vec<String> = std::iter::once(&credentials.operator_api_key)
        .chain(credentials.hospitals.iter().map(|h| &h.api_key))
        .map(|key| wugan_hub::api::hash_api_key(key))
        .collect();
    for key_id in store.revoke_unlisted_keys(&listed).await? {
        tracing::warn!(key = %key_id, "revoked: credentials.json no longer lists this key");
    }
    let now = store.now();
    for hash in &listed {
        if let Some(key) = store.api_key_by_hash(hash).await?.filter(|k| !k.opens_the_api(&now)) {
            tracing::warn!(key = %key.key_id, "credentials.json lists a key that was revoked or expired; it stays so");
        }
    }
    Ok(())
}

impl System {
    /// Stops the hub at once, as a crash would: its server and recovery worker end mid-flight.
    /// Built-in partners keep running.
    pub fn stop(&self) {
        for task in self.tasks.iter().chain(&self.graceful.hub) {
            task.abort();
        }
    }

    /// Stops everything gracefully within `deadline` (SIGTERM, Ctrl-C): the hub stops accepting and
    /// answers the requests in progress; the recovery worker, told at the same moment, ends after
    /// the pass it is in (cut at the deadline if it is still in one: every step of it is safe to
    /// cut, as a crash is); then the built-in partners, which those requests were calling,
    /// drain too; the bank's journal and the SQLite files are checkpointed and closed. What is
    /// still running at the deadline is cut off, as a crash would: nothing answered is lost.
    pub async fn shutdown(mut self, deadline: Duration) -> ShutdownReport {
        let until = tokio::time::Instant::now() + deadline;
        let mut report = ShutdownReport { drained: true, closed: true };
        let _ = self.graceful.hub_stop.send(true);
        if let Some(hub) = self.graceful.hub.as_mut() {
            report.drained &= tokio::time::timeout_at(until, hub).await.is_ok();
        }
        for worker in self.tasks.iter_mut() {
            let _ = tokio::time::timeout_at(until, worker).await; // stops between passes
        }
        for task in self.tasks.iter().chain(&self.graceful.hub) {
            task.abort(); // what is still running at the deadline
        }
        let _ = self.graceful.partners_stop.send(true);
        for partner in self.graceful.partners {
            report.drained &= tokio::time::timeout_at(until, partner).await.is_ok();
        }
        if let Some(bank) = self.graceful.bank {
            if let Err(e) = bank.close().await {
                tracing::warn!(error = %e, "the bank's journal did not close cleanly");
                report.closed = false;
            }
        }
        for file in self.graceful.sqlite_files {
            if let Err(e) = checkpoint(&file).await {
                tracing::warn!(file = %file.display(), error = %e, "no checkpoint at shutdown; the next start folds the WAL in");
                report.closed = false;
            }
        }
        report
    }
}

/// How a graceful shutdown went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every request in progress was answered before the deadline.
    pub drained: bool,
    /// The databases were checkpointed and closed.
    pub closed: bool,
}

/// The servers and stores a graceful shutdown stops.
struct Graceful {
    hub_stop: tokio::sync::watch::Sender<bool>,
    partners_stop: tokio::sync::watch::Sender<bool>,
    /// Ends when the hub's server has drained.
    hub: Option<tokio::task::JoinHandle<()>>,
    partners: Vec<tokio::task::JoinHandle<()>>,
    bank: Option<Arc<wugan_bank::Bank>>,
    /// SQLite files whose WAL is folded in at the end.
    sqlite_files: Vec<PathBuf>,
}

impl Graceful {
    fn new() -> Graceful {
        let (hub_stop, _) = tokio::sync::watch::channel(false);
        let (partners_stop, _) = tokio::sync::watch::channel(false);
        Graceful { hub_stop, partners_stop, hub: None, partners: Vec::new(), bank: None, sqlite_files: Vec::new() }
    }

    /// Serves a built-in partner, stopped after the hub.
    async fn partner(&mut self, listen: &str, router: axum::Router, limits: ServerLimits) -> anyhow::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        self.partners.push(crate::server::serve_until(listener, router, limits, self.partners_stop.subscribe()));
        Ok(addr)
    }
}

/// Folds a SQLite file's WAL into it, so that the file alone is the whole database.
async fn checkpoint(file: &Path) -> anyhow::Result<()> {
    use sqlx::{ConnectOptions, Connection};
    // A journal still held by a partner cut off at the deadline stays held: do not wait long.
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(file).busy_timeout(Duration::from_secs(1));
    let mut connection = options.connect().await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut connection).await?;
    connection.close().await?;
    Ok(())
}
