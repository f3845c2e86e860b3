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
use wugan_hub::model::Role;
use wugan_hub::pii::DataKey;
use wugan_hub::store::Store;
use wugan_hub::{App, HubConfig};

use crate::faults::{self, FaultPlan};

/// Binds `listen` and serves `router` in the background; returns the bound address.
pub async fn spawn_server(listen: &str, router: axum::Router) -> anyhow::Result<SocketAddr> {
    spawn_server_task(listen, router).await.map(|(addr, _)| addr)
}

/// Like [`spawn_server`], with the task's handle so that the server can be stopped.
pub async fn spawn_server_task(listen: &str, router: axum::Router) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    serve_on(listener, router)
}

/// Serves `router` on an already bound listener, in the background.
pub fn serve_on(listener: tokio::net::TcpListener, router: axum::Router) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok((addr, task))
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
        })
    }

    /// Loads `credentials.json` from the data folder, creating it on first run.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Credentials> {
        let path = data_dir.join("credentials.json");
        if path.exists() {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            return serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()));
        }
        let creds = Credentials::generate()?;
        std::fs::create_dir_all(data_dir)?;
        std::fs::write(&path, serde_json::to_string_pretty(&creds)?)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(creds)
    }
}

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
    /// The built-in insurance center keeps its journal in the data folder (`wugan serve`);
    /// otherwise it lives in memory (tests, `demo`, `simulate`).
    pub insurance_in_data_dir: bool,
    /// Key id and secret the hub signs bank requests with, for an external bank.
    pub bank_key_id: Option<String>,
    pub bank_secret: Option<String>,
    /// The personal-data key (`WUGAN_DATA_KEY`, hex); `None` uses the one in credentials.json.
    pub data_key_hex: Option<String>,
    /// Faults injected on the wire between the hub and each partner (tests and `simulate`).
    pub insurance_faults: Option<Arc<FaultPlan>>,
    pub bank_faults: Option<Arc<FaultPlan>>,
    /// The built-in bank's clock (tests walk billing cycles with a manual one).
    pub bank_clock: Option<Arc<dyn wugan_bank::Clock>>,
    /// How often the recovery worker and the bank-event feed run.
    pub worker_interval: Option<Duration>,
}

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
    /// The hub's own tasks (its server and recovery worker), stopped by `stop`.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub hub_url: String,
    pub insurance_url: String,
    pub bank_url: String,
    pub credentials: Credentials,
    pub database_url: String,
}

/// A built-in insurance center in memory (a restart forgets it: `simulate`, tests).
pub fn builtin_insurance(persons_file: Option<&Path>, admdvs: &str) -> anyhow::Result<axum::Router> {
    let center = wugan_insurance::InsuranceCenter::new(builtin_insurance_config(persons_file, admdvs)?)?;
    Ok(wugan_insurance::router(Arc::new(center)))
}

/// A built-in insurance center on its journal in `data_dir` ([`insurance_journal`]), which it
/// replays at start: a restart changes nothing a caller can see.
pub async fn builtin_insurance_in(data_dir: &Path, persons_file: Option<&Path>, admdvs: &str) -> anyhow::Result<axum::Router> {
    let config = builtin_insurance_config(persons_file, admdvs)?;
    let center = wugan_insurance::InsuranceCenter::open(config, &insurance_journal(data_dir)).await?;
    Ok(wugan_insurance::router(Arc::new(center)))
}

/// Where an insurance center keeps its journal in a data folder.
pub fn insurance_journal(data_dir: &Path) -> PathBuf {
    data_dir.join("insurance.db")
}

fn builtin_insurance_config(persons_file: Option<&Path>, admdvs: &str) -> anyhow::Result<wugan_insurance::InsuranceConfig> {
    let persons = match persons_file {
        Some(path) => wugan_insurance::load_persons_jsonl(path)?,
        None => wugan_insurance::sample_persons(),
    };
    Ok(wugan_insurance::InsuranceConfig { admdvs: admdvs.to_string(), policy: wugan_insurance::default_policy(), persons })
}

pub fn builtin_bank(bank_code: &str, key_id: &str, secret: &str) -> axum::Router {
    builtin_bank_with_clock(bank_code, key_id, secret, Arc::new(wugan_bank::SystemClock))
}

pub fn builtin_bank_with_clock(bank_code: &str, key_id: &str, secret: &str, clock: Arc<dyn wugan_bank::Clock>) -> axum::Router {
    builtin_bank_full(bank_code, key_id, secret, clock, None)
}

/// A built-in bank that also rings the hub's doorbell at `callback_url` when its events change.
pub fn builtin_bank_full(
    bank_code: &str,
    key_id: &str,
    secret: &str,
    clock: Arc<dyn wugan_bank::Clock>,
    callback_url: Option<String>,
) -> axum::Router {
    let config = wugan_bank::BankConfig {
        bank_code: bank_code.to_string(),
        clients: vec![wugan_bank::ClientKey { key_id: key_id.to_string(), secret: secret.to_string() }],
        callback: callback_url.map(|url| wugan_bank::Callback { url, secret: secret.to_string() }),
        ..Default::default()
    };
    wugan_bank::router(Arc::new(wugan_bank::Bank::with_billing_clock(config, clock)))
}

/// Starts the hub, with built-in partners for any not given, on the store the options name.
pub async fn start(opts: &SystemOptions) -> anyhow::Result<System> {
    std::fs::create_dir_all(&opts.data_dir).with_context(|| format!("cannot create {}", opts.data_dir.display()))?;
    let mut credentials = Credentials::load_or_create(&opts.data_dir)?;
    if let Some(key_id) = &opts.bank_key_id {
        credentials.bank_key_id = key_id.clone();
    }
    if let Some(secret) = &opts.bank_secret {
        credentials.bank_secret = secret.clone();
    }
    // The hub's address is fixed first, so that a built-in bank knows where to ring its doorbell.
    let hub_listener =
        tokio::net::TcpListener::bind(&opts.hub_listen).await.with_context(|| format!("cannot listen on {}", opts.hub_listen))?;
    let hub_addr = hub_listener.local_addr()?;
    let insurance_url = match &opts.insurance_url {
        Some(url) => url.clone(),
        None => {
            let (persons, admdvs) = (opts.persons_file.as_deref(), &opts.admdvs);
            let insurance = match opts.insurance_in_data_dir {
                true => builtin_insurance_in(&opts.data_dir, persons, admdvs).await?,
                false => builtin_insurance(persons, admdvs)?,
            };
            format!("http://{}", spawn_server("127.0.0.1:0", insurance).await?)
        }
    };
    let bank_url = match &opts.bank_url {
        Some(url) => url.clone(),
        None => {
            let clock = opts.bank_clock.clone().unwrap_or_else(|| Arc::new(wugan_bank::SystemClock));
            let callback = format!("http://{hub_addr}/api/v1/bank-callbacks/{}", opts.bank_code);
            let bank = builtin_bank_full(&opts.bank_code, &credentials.bank_key_id, &credentials.bank_secret, clock, Some(callback));
            format!("http://{}", spawn_server("127.0.0.1:0", bank).await?)
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
    let database_url = match &opts.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}?mode=rwc", opts.data_dir.join("hub.db").display()),
    };
    let store = Store::connect(&database_url).await.context("cannot open the hub's database")?;
    store.migrate().await.context("cannot migrate the hub's database")?;
    let released = store.release_requests_of_a_dead_process().await?;
    if released > 0 {
        tracing::info!(released, "requests cut short by the previous run may be retried at once");
    }
    for h in &credentials.hospitals {
        store.ensure_hospital(&h.code, &h.name).await?;
        store.ensure_api_key(&wugan_hub::api::hash_api_key(&h.api_key), Role::Hospital, Some(&h.code)).await?;
    }
    store.ensure_api_key(&wugan_hub::api::hash_api_key(&credentials.operator_api_key), Role::Operator, None).await?;
    let config = HubConfig {
        admdvs: opts.admdvs.clone(),
        insurance_url: hub_insurance_url,
        banks: vec![BankEndpoint {
            bank_code: opts.bank_code.clone(),
            url: hub_bank_url,
            key_id: credentials.bank_key_id.clone(),
            secret: credentials.bank_secret.clone(),
        }],
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
    let app = Arc::new(App::new(store, config));
    // Whatever a previous run left between steps is resumed now, then checked again periodically.
    let resumed = app.resume_unfinished(Duration::ZERO).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if resumed > 0 {
        tracing::info!(resumed, "resumed unfinished settlements");
    }
    if let Err(e) = app.sync_bank_events().await {
        tracing::warn!(code = e.code(), "bank events not read yet");
    }
    let interval = opts.worker_interval.unwrap_or(Duration::from_secs(15));
    let worker_task = wugan_hub::app::spawn_recovery(app.clone(), interval);
    let (hub_addr, server_task) = serve_on(hub_listener, wugan_hub::api::router(app.clone()))?;
    Ok(System {
        app,
        tasks: vec![worker_task, server_task],
        hub_url: format!("http://{hub_addr}"),
        insurance_url,
        bank_url,
        credentials,
        database_url,
    })
}

impl System {
    /// Stops the hub at once, as a crash would: its server and recovery worker end mid-flight.
    /// Built-in partners keep running.
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
