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
            owner_only(&path, 0o600)?;
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            return serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()));
        }
        let creds = Credentials::generate()?;
        private_dir(data_dir)?;
        // Owner-only from its creation: there is no moment at which another user could read it.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).with_context(|| format!("cannot create {}", path.display()))?;
        std::io::Write::write_all(&mut file, serde_json::to_string_pretty(&creds)?.as_bytes())?;
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
}

/// What clients may hold of the servers (`server`) and how often they may call the hub (`api`).
/// The default has no rate limits; `wugan serve` sets its own.
#[derive(Clone, Debug, Default)]
pub struct EdgeOptions {
    pub server: ServerLimits,
    pub api: EdgeConfig,
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
    let config = builtin_bank_config(bank_code, key_id, secret, callback_url);
    wugan_bank::router(Arc::new(wugan_bank::Bank::with_billing_clock(config, clock)))
}

/// [`builtin_bank_full`], kept in its journal at `db_path` (see `wugan_bank::Bank::with_journal`).
pub async fn builtin_bank_on_disk(
    bank_code: &str,
    key_id: &str,
    secret: &str,
    clock: Arc<dyn wugan_bank::Clock>,
    callback_url: Option<String>,
    db_path: &Path,
) -> anyhow::Result<axum::Router> {
    let config = builtin_bank_config(bank_code, key_id, secret, callback_url);
    let bank = wugan_bank::Bank::with_billing_clock(config, clock).with_journal(db_path).await?;
    Ok(wugan_bank::router(Arc::new(bank)))
}

fn builtin_bank_config(bank_code: &str, key_id: &str, secret: &str, callback_url: Option<String>) -> wugan_bank::BankConfig {
    wugan_bank::BankConfig {
        bank_code: bank_code.to_string(),
        clients: vec![wugan_bank::ClientKey { key_id: key_id.to_string(), secret: secret.to_string() }],
        callback: callback_url.map(|url| wugan_bank::Callback { url, secret: secret.to_string() }),
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
    // The hub's address is fixed first, so that a built-in bank knows where to ring its doorbell.
    let hub_listener =
        tokio::net::TcpListener::bind(&opts.hub_listen).await.with_context(|| format!("cannot listen on {}", opts.hub_listen))?;
    let hub_addr = hub_listener.local_addr()?;
    let mut graceful = Graceful::new();
    let insurance_url = match &opts.insurance_url {
        Some(url) => url.clone(),
        None => {
            let (persons, admdvs) = (opts.persons_file.as_deref(), &opts.admdvs);
            let insurance = match opts.insurance_in_data_dir {
                true => builtin_insurance_in(&opts.data_dir, persons, admdvs).await?,
                false => builtin_insurance(persons, admdvs)?,
            };
            format!("http://{}", graceful.partner("127.0.0.1:0", insurance, opts.edge.server).await?)
        }
    };
    let bank_url = match &opts.bank_url {
        Some(url) => url.clone(),
        None => {
            let clock = opts.bank_clock.clone().unwrap_or_else(|| Arc::new(wugan_bank::SystemClock));
            let callback = Some(format!("http://{hub_addr}/api/v1/bank-callbacks/{}", opts.bank_code));
            let (code, key_id, secret) = (&opts.bank_code, &credentials.bank_key_id, &credentials.bank_secret);
            let bank = match opts.persist_bank {
                true => {
                    let db = opts.data_dir.join("bank.db");
                    let config = builtin_bank_config(code, key_id, secret, callback);
                    let bank = wugan_bank::Bank::with_billing_clock(config, clock).with_journal(&db).await;
                    let bank = Arc::new(bank.context("cannot start the built-in bank")?);
                    graceful.bank = Some(bank.clone());
                    wugan_bank::router(bank)
                }
                false => builtin_bank_full(code, key_id, secret, clock, callback),
            };
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
    let database_url = match &opts.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}?mode=rwc", opts.data_dir.join("hub.db").display()),
    };
    prepare_sqlite_file(&database_url)?;
    graceful.sqlite_files.extend(sqlite_path(&database_url));
    if opts.insurance_url.is_none() && opts.insurance_in_data_dir {
        graceful.sqlite_files.push(insurance_journal(&opts.data_dir));
    }
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
    check_listed_keys(&store, &credentials).await?;
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
    let invoicing = wugan_hub::app::invoices::Invoicing::in_data_dir(&opts.data_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = Arc::new(App::new(store, config).with_invoicing(invoicing));
    let mut tasks = Vec::new();
    if !opts.manual_recovery {
        // Whatever a previous run left between steps is resumed at once, beside the server (a
        // silent partner does not delay the start), then checked again periodically.
        let interval = opts.worker_interval.unwrap_or(Duration::from_secs(15));
        tasks.push(wugan_hub::app::spawn_recovery(app.clone(), interval, graceful.hub_stop.subscribe()));
    }
    let hub_router = wugan_hub::api::router_with(app.clone(), &opts.edge.api);
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
