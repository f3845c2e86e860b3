//! `wugan`: one binary for every party. See `wugan --help`.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use wugan::system::{self, SystemOptions};
use wugan_hub::api::limits::Rate;

/// mimalloc instead of the system allocator: allocation and freeing were a fifth of the CPU of a visit
/// under glibc's malloc (`wugan bench core` under perf), spread over short-lived requests and rows.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "wugan", version, about = "wugan (无感): queue-free, pay-later hospital payments")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum InvoiceArgs {
    /// Exit 0 for a genuine invoice; otherwise fail with the reason (changed, wrong amount, unknown
    /// or untrusted key).
    Verify {
        /// The root public key to trust (hex, as `wugan demo --out` and the data folder hold it);
        /// default: DATA_DIR/invoice-keys/root.pub.
        #[arg(long)]
        trust: Option<PathBuf>,
        /// The QR code's text instead of a file.
        #[arg(long, conflicts_with = "file")]
        qr: Option<String>,
        /// The invoice: its JSON or its PDF.
        file: Option<PathBuf>,
        #[arg(long, env = "WUGAN_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub. With no partner URLs, a built-in insurance center and bank start beside it.
    Serve(Box<ServeArgs>),
    /// The insurance center (national interface) on its own.
    Insurance {
        #[command(subcommand)]
        command: InsuranceCommand,
    },
    /// The bank on its own.
    Bank {
        #[command(subcommand)]
        command: BankCommand,
    },
    /// Run the seed story on a fresh embedded instance and print what happened.
    Demo {
        /// Print one JSON object (amounts in fen) instead of a table.
        #[arg(long)]
        json: bool,
        /// Number of outpatient visits.
        #[arg(long, default_value_t = 36)]
        visits: usize,
        /// Seed for the visit generator.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Write each invoice (PDF and JSON) and the root public key (root.pub) into this folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Adjudicate one claim (JSON on stdin) against a policy and print the settlement (setlinfo + setldetail).
    ///
    /// The claim must give visit.hosp_grade (0 ungraded, 1, 2, 3) and at least one fee line;
    /// unknown fields, negative accumulators or balances and amounts beyond 10,000,000,000.00 are
    /// refused. Class, ratio and price cap are the catalogue's: a line may repeat them (as a 2204
    /// result does) but not contradict them. Refund lines (negative cnt and amount, with their
    /// charge) and zero-amount lines are taken, as the insurance center takes them.
    Adjudicate {
        /// A built-in policy (shenzhen-2024, guangzhou-example) or a policy file. Given more than
        /// once, the first is the treatment place's (catalogue, med_types) and each next one adds
        /// its insured-place schemes, for persons insured elsewhere (异地就医). The default is the
        /// insurance center's own set: shenzhen-2024 with the guangzhou-example schemes.
        #[arg(long, default_values_t = ["shenzhen-2024".to_string(), "guangzhou-example".to_string()])]
        policy: Vec<String>,
        /// Explain each step in words.
        #[arg(long)]
        explain: bool,
    },
    /// Run many visits with faults injected into both partners (and hub crashes), then compare the
    /// hub's books with the bank's and the insurance center's own records.
    Simulate {
        #[arg(long, default_value_t = 1000)]
        visits: usize,
        /// Fault rate on each partner wire, 0 to 1 (refused, reply lost after commit, duplicated).
        #[arg(long, default_value_t = 0.2)]
        faults: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Crash and restart the hub after every K completed steps (HIS calls answered for good),
        /// with settlements left mid-saga.
        #[arg(long)]
        crash_every: Option<usize>,
        /// Visits in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long)]
        json: bool,
    },
    /// kill -9 the hub (its own process) at random moments under load, restart it on the same data
    /// folder, many times, with the insurance center and the bank as their own processes; then audit
    /// what the hub acknowledged against its books and the partners' own records.
    Crashloop {
        /// How many times the hub is killed.
        #[arg(long, default_value_t = 20)]
        kills: usize,
        /// Hospital systems sending requests at once.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Seed of the kill moments and the visits.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Keep the run's folder (databases and logs of every party) for a look afterwards.
        #[arg(long)]
        keep: bool,
        /// After the kills, keep the load on one hub process this many seconds and report its
        /// resident memory (after a warm-up, highest, at the end). `--kills 0` makes it a pure soak.
        #[arg(long, default_value_t = 0)]
        soak_seconds: u64,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Visits per second on fresh data: over HTTP with the partners on their own listeners (e2e),
    /// and with the HIS calling the hub in-process (core), beside this machine's fsync rate; then
    /// check that the ledger balances and every acknowledged settlement is stored.
    Bench {
        /// Which measurement.
        #[arg(value_enum, default_value_t = wugan::bench::Phases::All)]
        phases: wugan::bench::Phases,
        /// Visits per measurement [default: 3000, or no limit but time with --seconds].
        #[arg(long)]
        visits: Option<usize>,
        /// Stop each measurement after this many seconds.
        #[arg(long)]
        seconds: Option<f64>,
        /// Visits in flight at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// A PostgreSQL server (postgres://…): each measurement runs on a fresh database created
        /// there and dropped after. Default: SQLite in a fresh data folder.
        #[arg(long)]
        database_url: Option<String>,
        /// Print one JSON object instead of a table (and no progress bar).
        #[arg(long)]
        json: bool,
        /// `reconcile` only: settlements in the generated day.
        #[arg(long, default_value_t = 1_000_000)]
        settlements: usize,
    },
    /// 对账: reconcile a business day with the insurance center and every bank, through a running
    /// hub (`wugan serve`): per partner, records, matched, in transit, mismatches, resolved and
    /// exceptions, then each exception with its evidence (docs/reconciliation.md).
    Reconcile {
        /// The business day, YYYY-MM-DD (China time).
        #[arg(long)]
        date: String,
        /// Print the hub's answer as JSON (keys date, insurance, banks, hospitals, exceptions).
        #[arg(long)]
        json: bool,
        /// The hub's address.
        #[arg(long, env = "WUGAN_HUB_URL", default_value = "http://127.0.0.1:8080")]
        hub_url: String,
        /// An operator API key; default: the one in the data folder's credentials.json.
        #[arg(long, env = "WUGAN_API_KEY")]
        api_key: Option<String>,
        #[arg(long, env = "WUGAN_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// How long to wait for the hub, in seconds.
        #[arg(long, default_value_t = 600)]
        timeout_s: u64,
    },
    /// The hub's API keys: list them, issue one, rotate one (the old key keeps working for a grace
    /// period), revoke one. A new key is printed once; only its hash is kept.
    Key {
        #[command(subcommand)]
        command: KeyArgs,
        #[arg(long, env = "WUGAN_DATABASE_URL", global = true)]
        database_url: Option<String>,
        #[arg(long, env = "WUGAN_DATA_DIR", default_value = "data", global = true)]
        data_dir: PathBuf,
    },
    /// Hospitals: `add` registers one and prints its HIS API key and its drop-in
    /// national-interface prefix (`/ni/<token>`), once.
    Hospital {
        #[command(subcommand)]
        command: wugan::hospital::HospitalArgs,
    },
    /// Electronic invoices: `verify` checks one offline (JSON, PDF or QR text) with the root public key.
    Invoice {
        #[command(subcommand)]
        command: InvoiceArgs,
    },
    /// A consistent copy of a data folder: each SQLite database as of one moment (VACUUM INTO, its
    /// -wal folded in), the hub's first, then the built-in partners' journals, and
    /// credentials.json, all while `wugan serve` runs. A hub on PostgreSQL is backed up with
    /// pg_dump (see the README).
    Backup {
        /// A folder for the copy, new or empty.
        #[arg(long)]
        to: PathBuf,
        #[arg(long, env = "WUGAN_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// Leave out the built-in partners' journals (bank.db, insurance.db): for partners that
        /// keep their own backups.
        #[arg(long)]
        hub_only: bool,
    },
    /// Put a backup into a fresh data folder, which no process may be using.
    Restore {
        /// The backup's folder (made by `wugan backup`).
        #[arg(long)]
        from: PathBuf,
        #[arg(long, env = "WUGAN_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
    /// Staff accounts for the consoles: add one (the first operator), list them.
    Staff {
        #[command(subcommand)]
        command: wugan::staff::StaffArgs,
        #[arg(long, env = "WUGAN_DATABASE_URL", global = true)]
        database_url: Option<String>,
        #[arg(long, env = "WUGAN_DATA_DIR", default_value = "data", global = true)]
        data_dir: PathBuf,
    },
    /// The audit log: `verify` walks its hash chain and fails on any edited, removed or inserted entry.
    Audit {
        #[command(subcommand)]
        command: wugan::staff::AuditArgs,
        #[arg(long, env = "WUGAN_DATABASE_URL", global = true)]
        database_url: Option<String>,
        #[arg(long, env = "WUGAN_DATA_DIR", default_value = "data", global = true)]
        data_dir: PathBuf,
    },
    /// Apply the hub's database migrations and exit.
    Migrate {
        #[arg(long, env = "WUGAN_DATABASE_URL")]
        database_url: Option<String>,
        #[arg(long, env = "WUGAN_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeyArgs {
    /// Every key: id, caller, origin, status, created, last used (never the key).
    List,
    /// A new key for an operator or a hospital.
    Issue {
        #[arg(long, value_parser = ["operator", "hospital"])]
        role: String,
        /// The hospital's code, for a hospital key.
        #[arg(long)]
        hospital: Option<String>,
        #[arg(long)]
        label: Option<String>,
    },
    /// A new key for the same caller; the old one keeps working for the grace period, then stops.
    Rotate {
        key_id: String,
        #[arg(long, default_value_t = 24)]
        grace_hours: u64,
    },
    /// The key stops working now.
    Revoke { key_id: String },
}

impl KeyArgs {
    fn command(self) -> anyhow::Result<wugan::keys::KeyCommand> {
        use wugan::keys::KeyCommand;
        Ok(match self {
            KeyArgs::List => KeyCommand::List,
            KeyArgs::Issue { role, hospital, label } => {
                let role = wugan_hub::model::Role::parse(&role).ok_or_else(|| anyhow::anyhow!("--role is operator or hospital"))?;
                KeyCommand::Issue { role, hospital, label }
            }
            KeyArgs::Rotate { key_id, grace_hours } => {
                KeyCommand::Rotate { key_id, grace: std::time::Duration::from_secs(grace_hours.saturating_mul(3600)) }
            }
            KeyArgs::Revoke { key_id } => KeyCommand::Revoke { key_id },
        })
    }
}

#[derive(Subcommand)]
enum InsuranceCommand {
    Serve {
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: String,
        /// Insured persons, one JSON object per line.
        #[arg(long)]
        persons: Option<PathBuf>,
        /// 医保区划 of this insurance center.
        #[arg(long, default_value = "440300")]
        admdvs: String,
        /// A built-in policy (shenzhen-2024, guangzhou-example) or a policy file; default: the
        /// Shenzhen set with the Guangzhou example schemes for insured-elsewhere persons.
        #[arg(long)]
        policy: Option<String>,
        /// A sandbox any region can use: regions with no parameter set of their own are served by
        /// this region's (example numbers), instead of refusing every settlement.
        #[arg(long)]
        default_region: Option<String>,
        /// Refuse messages without the sender's 9001 sign_no of the day (off: any sign_no passes).
        #[arg(long)]
        strict_sign_in: bool,
        /// Folder of the center's journal (insurance.db), replayed at start so that a restart
        /// forgets nothing; the same default as `wugan serve`, whose built-in center keeps it there.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Keep the state in memory only: a restart forgets every visit and settlement.
        #[arg(long, conflicts_with = "data_dir")]
        in_memory: bool,
        #[command(flatten)]
        faults: FaultArgs,
    },
}

/// Faults a partner injects into its own answers (all off by default), for testing the hub.
#[derive(Args, Clone, Debug)]
struct FaultArgs {
    /// Seed of the fault generator (same seed, same faults for the same requests).
    #[arg(long, default_value_t = 1)]
    fault_seed: u64,
    /// Added latency on every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Rate of 500 errors before anything is done.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Rate of requests that are done, then answered 504 after --timeout-hang-ms (reply lost).
    #[arg(long, default_value_t = 0.0)]
    timeout_after_commit_rate: f64,
    #[arg(long, default_value_t = 0)]
    timeout_hang_ms: u64,
    /// Apply every request twice, as a network that duplicates deliveries.
    #[arg(long)]
    duplicate_delivery: bool,
    /// Rate of 503 refusals before anything is done.
    #[arg(long, default_value_t = 0.0)]
    refuse_rate: f64,
}

impl FaultArgs {
    /// The same knobs for either partner.
    fn faults(&self) -> wugan_faults::Faults {
        wugan_faults::Faults {
            seed: self.fault_seed,
            latency_ms: self.latency_ms,
            error_rate: self.error_rate,
            timeout_after_commit_rate: self.timeout_after_commit_rate,
            timeout_hang_ms: self.timeout_hang_ms,
            duplicate_delivery: self.duplicate_delivery,
            refuse_rate: self.refuse_rate,
        }
    }
}

#[derive(Subcommand)]
enum BankCommand {
    Serve {
        #[arg(long, default_value = "127.0.0.1:9200")]
        listen: String,
        /// Credit limit granted at signing when the hub asks for none, in yuan.
        #[arg(long, default_value_t = 5_000)]
        default_credit_limit_yuan: i64,
        #[command(flatten)]
        faults: FaultArgs,
        #[arg(long, default_value = "BANK01")]
        bank_code: String,
        /// Key id of the hub's signing key. The shared HMAC secret the hub signs with is read from
        /// WUGAN_BANK_SECRET only: a flag would show it in the process list.
        #[arg(long, default_value = "hub")]
        key_id: String,
        /// Folder of the bank's database (bank.db): agreements, holds, statements and events
        /// survive a restart. The same default as `wugan serve`, whose built-in bank it is.
        #[arg(long, env = "WUGAN_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// Keep nothing on disk: a restart forgets every agreement (tests, throwaway sandboxes).
        #[arg(long, conflicts_with = "data_dir")]
        in_memory: bool,
    },
}

#[derive(Args, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ServeArgs {
    /// Where the hub listens.
    #[arg(long)]
    listen: Option<String>,
    /// PostgreSQL URL (postgres://…) or sqlite://PATH; default: SQLite in the data folder.
    #[arg(long, env = "WUGAN_DATABASE_URL")]
    database_url: Option<String>,
    /// An external insurance center (national interface); default: a built-in one.
    #[arg(long, env = "WUGAN_INSURANCE_URL")]
    insurance_url: Option<String>,
    /// An external bank; default: a built-in one.
    #[arg(long, env = "WUGAN_BANK_URL")]
    bank_url: Option<String>,
    #[arg(long, env = "WUGAN_BANK_CODE")]
    bank_code: Option<String>,
    /// The bank's name as patients and staff read it (default: its code; built in: 示范银行).
    #[arg(long, env = "WUGAN_BANK_NAME")]
    bank_name: Option<String>,
    #[arg(long, env = "WUGAN_BANK_KEY_ID")]
    bank_key_id: Option<String>,
    /// The secret the hub signs bank requests with: WUGAN_BANK_SECRET or the config file, never a
    /// flag (it would show in the process list).
    #[arg(skip)]
    bank_secret: Option<String>,
    /// The key personal data is encrypted with at rest (64 hex digits), kept apart from the
    /// database; without it, a key is generated into the data folder's credentials.json.
    #[arg(skip)]
    #[serde(skip)]
    data_key: Option<String>,
    /// Folder for the SQLite databases (the hub's, and the built-in bank's bank.db), keys and credentials.
    #[arg(long, env = "WUGAN_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Insured persons for the built-in insurance center.
    #[arg(long)]
    persons: Option<PathBuf>,
    /// The built-in insurance center serves regions without a parameter set by this one's.
    #[arg(long, env = "WUGAN_DEFAULT_REGION")]
    default_region: Option<String>,
    /// Connections served at once (default 4096, and at most half the descriptor limit): one more
    /// evicts the connection idle the longest; when every one is busy it is answered 503.
    #[arg(long, env = "WUGAN_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Requests handled at once (default 256); more wait up to 2 s for a place, then get 503 with Retry-After.
    #[arg(long, env = "WUGAN_MAX_IN_FLIGHT")]
    max_in_flight: Option<usize>,
    /// Seconds a client may take to send a request's head, and a kept-alive connection may sit
    /// idle (default 10).
    #[arg(long, env = "WUGAN_HEADER_TIMEOUT_S")]
    header_timeout_s: Option<u64>,
    /// Seconds a client may take to send a request's body (default 30).
    #[arg(long, env = "WUGAN_BODY_TIMEOUT_S")]
    body_timeout_s: Option<u64>,
    /// Requests per second per API key, in bursts of up to twice that (default 100; 0: no limit).
    #[arg(long, env = "WUGAN_RATE_PER_KEY")]
    rate_per_key: Option<u32>,
    /// Requests per second per client address, before the key is read (default 200; 0: no limit).
    #[arg(long, env = "WUGAN_RATE_PER_ADDRESS")]
    rate_per_address: Option<u32>,
    /// Hours an idempotent request's answer is kept for a retry to replay (default 24, as Stripe
    /// keeps keys); a retry after that runs the request again, which finds its own earlier work.
    #[arg(long, env = "WUGAN_IDEMPOTENCY_RETENTION_HOURS")]
    idempotency_retention_hours: Option<u64>,
    /// Serve /metrics to this host (loopback) without an API key, for a Prometheus beside the hub
    /// (default false: an operator's key, like every operator route).
    #[arg(long, env = "WUGAN_METRICS_FROM_LOOPBACK")]
    metrics_from_loopback: Option<bool>,
    /// Further banks, from the config file only: `[{bank_code, name, url, key_id, secret,
    /// callback_secret}]` (`name` optional); each agreement is routed to its own bank.
    #[arg(skip)]
    banks: Vec<wugan::banks::BankConfig>,
    /// A JSON file with any of these options (snake_case keys); flags and environment win.
    #[arg(long, env = "WUGAN_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
}

impl ServeArgs {
    /// Flags and environment first, then the config file, then defaults.
    fn resolve(self) -> anyhow::Result<SystemOptions> {
        let file: ServeArgs = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                serde_json::from_str(&text).with_context(|| format!("{} is not a valid config file", path.display()))?
            }
            None => ServeArgs::default(),
        };
        let mut opts = SystemOptions::local(self.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("data")));
        opts.persist_bank = true;
        opts.hub_listen = self.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
        opts.database_url = self.database_url.or(file.database_url);
        opts.insurance_url = self.insurance_url.or(file.insurance_url);
        opts.bank_url = self.bank_url.or(file.bank_url);
        if let Some(code) = self.bank_code.or(file.bank_code) {
            opts.bank_code = code;
        }
        opts.bank_key_id = self.bank_key_id.or(file.bank_key_id);
        opts.bank_names = wugan::banks::names(&opts.bank_code, self.bank_name.or(file.bank_name), &file.banks)?;
        opts.extra_banks = file.banks.into_iter().map(Into::into).collect();
        opts.bank_secret = std::env::var("WUGAN_BANK_SECRET").ok().filter(|s| !s.is_empty()).or(file.bank_secret);
        // An external bank's callback secret and an external insurance center's gateway
        // credentials: from the environment only, like every secret.
        opts.bank_callback_secret = std::env::var("WUGAN_BANK_CALLBACK_SECRET").ok().filter(|s| !s.is_empty());
        if let Some(path) = std::env::var_os("WUGAN_INSURANCE_GATEWAY_FILE").filter(|p| !p.is_empty()) {
            opts.insurance_gateway = Some(system::load_insurance_gateway(std::path::Path::new(&path))?);
        }
        opts.persons_file = self.persons.or(file.persons);
        opts.default_region = self.default_region.or(file.default_region);
        opts.insurance_in_data_dir = true;
        // Only from the environment: a flag would show in the process list, a config file sits
        // beside the data it protects.
        opts.data_key_hex = self.data_key.or_else(|| std::env::var("WUGAN_DATA_KEY").ok()).filter(|k| !k.trim().is_empty());
        let server = wugan::server::ServerLimits::default();
        opts.edge.server = wugan::server::ServerLimits {
            max_connections: self.max_connections.or(file.max_connections).unwrap_or(server.max_connections).max(1),
            max_in_flight: self.max_in_flight.or(file.max_in_flight).unwrap_or(server.max_in_flight).max(1),
            header_read_timeout: self.header_timeout_s.or(file.header_timeout_s).map_or(server.header_read_timeout, seconds),
            body_read_timeout: self.body_timeout_s.or(file.body_timeout_s).map_or(server.body_read_timeout, seconds),
        };
        opts.idempotency_retention = match self.idempotency_retention_hours.or(file.idempotency_retention_hours) {
            Some(hours @ 0) | Some(hours @ 8761..) => anyhow::bail!("idempotency_retention_hours is {hours}: keep answers 1 to 8760 hours"),
            hours => hours.map(|h| seconds(h * 3600)),
        };
        opts.edge.api = wugan_hub::api::EdgeConfig {
            rate_per_key: Rate::per_second(self.rate_per_key.or(file.rate_per_key).unwrap_or(DEFAULT_RATE_PER_KEY)),
            rate_per_address: Rate::per_second(self.rate_per_address.or(file.rate_per_address).unwrap_or(DEFAULT_RATE_PER_ADDRESS)),
            metrics_from_loopback: self.metrics_from_loopback.or(file.metrics_from_loopback).unwrap_or(false),
        };
        Ok(opts)
    }
}

/// The gateway of `wugan insurance serve`: the file `WUGAN_INSURANCE_GATEWAY_FILE` names, else
/// the `insurance_gateway` of credentials.json in the data folder (a center beside `wugan serve`'s
/// hub); without either the center would let nobody in, so it does not start.
fn insurance_gateway(data_dir: &std::path::Path) -> anyhow::Result<wugan_insurance::Gateway> {
    let config = match std::env::var_os("WUGAN_INSURANCE_GATEWAY_FILE").filter(|p| !p.is_empty()) {
        Some(path) => system::load_insurance_gateway(std::path::Path::new(&path))?,
        None => system::Credentials::insurance_gateway_in(data_dir)?.with_context(|| {
            format!(
                "no callers: set WUGAN_INSURANCE_GATEWAY_FILE, or start `wugan serve` once on {} to create credentials.json",
                data_dir.display()
            )
        })?,
    };
    wugan_insurance::Gateway::new(config).map_err(|e| anyhow::anyhow!("insurance gateway: {e}"))
}

/// A standalone partner's journal key: `env` (hex, from a secret store) when set, else the key
/// file in its data folder (`insurance.key`, `bank.key`), created at the first start.
fn sealing_key(data_dir: &std::path::Path, env: &str, file: &str) -> anyhow::Result<wugan_insurance::SealKey> {
    if let Some(hex) = std::env::var(env).ok().filter(|k| !k.trim().is_empty()) {
        return wugan_insurance::SealKey::from_hex(&hex).map_err(|e| anyhow::anyhow!("{env}: {e}"));
    }
    system::partner_key(data_dir, file)
}

/// `wugan serve`'s rate limits, requests per second: well above what one hospital's HIS sends at its
/// busiest, well below what a runaway client or a flood would.
const DEFAULT_RATE_PER_KEY: u32 = 100;
const DEFAULT_RATE_PER_ADDRESS: u32 = 200;

fn seconds(s: u64) -> std::time::Duration {
    std::time::Duration::from_secs(s.max(1))
}

#[tokio::main]
async fn main() {
    wugan::sqlite_without_memory_statistics();
    let huge_pages_off = wugan::without_transparent_huge_pages();
    let cli = Cli::parse();
    // Servers log warnings; one-shot commands that print a report keep stderr for errors only.
    let default_filter = match cli.command {
        Command::Serve(_) | Command::Insurance { .. } | Command::Bank { .. } => "warn,wugan=info",
        _ => "error",
    };
    wugan::logging::init(default_filter);
    if !huge_pages_off {
        tracing::debug!("transparent huge pages could not be turned off for this process");
    }
    // Before any server starts: each keeps its connections under half of this limit.
    if let Some(descriptors) = wugan::server::raise_descriptor_limit() {
        tracing::debug!(descriptors, "descriptor limit (ulimit -n) in force");
    }
    wugan::warn_of_secrets_in_flags();
    if let Err(e) = run(cli).await {
        eprintln!("wugan: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args.resolve()?).await,
        Command::Insurance {
            command:
                InsuranceCommand::Serve { listen, persons, admdvs, policy, default_region, strict_sign_in, data_dir, in_memory, faults },
        } => {
            let config = wugan::adjudicate::center_config(persons.as_deref(), admdvs, policy.as_deref(), default_region.as_deref())?;
            let gateway = insurance_gateway(&data_dir)?;
            let journal = system::insurance_journal(&data_dir);
            let center = match in_memory {
                true => wugan_insurance::InsuranceCenter::new(config)?,
                false => {
                    wugan_insurance::InsuranceCenter::open(
                        config,
                        &journal,
                        sealing_key(&data_dir, "WUGAN_INSURANCE_DATA_KEY", system::INSURANCE_KEY_FILE)?,
                    )
                    .await?
                }
            };
            let (stop, stopping) = tokio::sync::watch::channel(false);
            let center = if strict_sign_in { center.with_strict_sign_in() } else { center };
            let router = wugan_insurance::router(Arc::new(center.with_faults(faults.faults())), Arc::new(gateway));
            let (addr, server) = system::spawn_server_until(&listen, router, stopping).await?;
            println!("insurance center (national interface) on http://{addr}{}", wugan_hub::insurance_client::CALL_SERVICE_PATH);
            println!("state            {}", if in_memory { "in memory".to_string() } else { journal.display().to_string() });
            wugan::server::shutdown_signal().await?;
            drain(stop, server).await;
            Ok(())
        }
        Command::Bank {
            command: BankCommand::Serve { listen, default_credit_limit_yuan, faults, bank_code, key_id, data_dir, in_memory },
        } => {
            let secret = std::env::var("WUGAN_BANK_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
                .context("set WUGAN_BANK_SECRET to the HMAC secret the hub signs with")?;
            // Bank staff (freeze, every line listed) only with a staff secret; the hub never has one.
            let staff = std::env::var("WUGAN_BANK_STAFF_SECRET").ok().filter(|s| !s.is_empty()).map(|secret| {
                let key_id = std::env::var("WUGAN_BANK_STAFF_KEY_ID").ok().filter(|s| !s.is_empty());
                wugan_bank::ClientKey { key_id: key_id.unwrap_or_else(|| system::BANK_STAFF_KEY_ID.into()), secret }
            });
            let config = wugan_bank::BankConfig {
                bank_code: bank_code.clone(),
                clients: vec![wugan_bank::ClientKey { key_id, secret }],
                staff: staff.into_iter().collect(),
                default_credit_limit_fen: wugan_domain::Fen::yuan(default_credit_limit_yuan),
                ..Default::default()
            };
            config.validate().map_err(|e| anyhow::anyhow!("bank configuration: {e}"))?;
            let mut bank = wugan_bank::Bank::new(config).with_faults(faults.faults());
            let db = data_dir.join("bank.db");
            if !in_memory {
                let key = sealing_key(&data_dir, "WUGAN_BANK_DATA_KEY", system::BANK_KEY_FILE)?;
                bank = bank.with_journal(&db, key).await.context("cannot open the bank's database")?;
            }
            let bank = Arc::new(bank);
            let (stop, stopping) = tokio::sync::watch::channel(false);
            let (addr, server) = system::spawn_server_until(&listen, wugan_bank::router(bank.clone()), stopping).await?;
            let kept = if in_memory { "in memory only".to_string() } else { format!("kept in {}", db.display()) };
            println!("bank {bank_code} on http://{addr}/bank/v1 ({kept})");
            wugan::server::shutdown_signal().await?;
            drain(stop, server).await;
            Ok(bank.close().await?)
        }
        Command::Demo { json, visits, seed, out } => wugan::demo::run(visits, seed, json, out.as_deref()).await,
        Command::Adjudicate { policy, explain } => wugan::adjudicate::run(&policy, explain),
        Command::Simulate { visits, faults, seed, crash_every, concurrency, json } => {
            anyhow::ensure!((0.0..=1.0).contains(&faults), "--faults must be between 0 and 1");
            let progress = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let opts = wugan::simulate::SimulateOptions { visits, faults, seed, crash_every, concurrency, progress };
            wugan::simulate::main(opts, json).await
        }
        Command::Crashloop { kills, clients, seed, keep, soak_seconds, json } => {
            let exe = std::env::current_exe().context("cannot find the wugan executable to start the parties from")?;
            let progress = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
            wugan::crashloop::main(
                wugan::crashloop::CrashloopOptions {
                    kills,
                    clients,
                    seed,
                    exe,
                    keep,
                    progress,
                    soak: std::time::Duration::from_secs(soak_seconds),
                },
                json,
            )
            .await
        }
        Command::Bench { phases: wugan::bench::Phases::Reconcile, settlements, json, .. } => {
            anyhow::ensure!(settlements > 0, "--settlements must be at least 1");
            let report = wugan::reconcile::bench(settlements, 1);
            match json {
                true => println!("{}", serde_json::to_string(&report)?),
                false => print!("{}", report.render()),
            }
            Ok(())
        }
        Command::Reconcile { date, json, hub_url, api_key, data_dir, timeout_s } => {
            let api_key = match api_key {
                Some(key) => key,
                None => wugan::reconcile::operator_key(&data_dir)?,
            };
            let progress = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let timeout = std::time::Duration::from_secs(timeout_s.max(1));
            let report = wugan::reconcile::run(&wugan::reconcile::ReconcileOptions { date, hub_url, api_key, progress, timeout }).await?;
            match json {
                true => println!("{}", serde_json::to_string_pretty(&report)?),
                false => print!("{}", wugan::reconcile::render(&report)),
            }
            Ok(())
        }
        Command::Bench { phases, visits, seconds, concurrency, database_url, json, .. } => {
            anyhow::ensure!(concurrency > 0, "--concurrency must be at least 1");
            anyhow::ensure!(seconds.is_none_or(|s| s > 0.0 && s.is_finite()), "--seconds must be a positive number");
            let default_visits = if seconds.is_some() { wugan::bench::MAX_VISITS } else { 3_000 };
            let mut opts = wugan::bench::BenchOptions::new(visits.unwrap_or(default_visits));
            opts.phases = phases;
            (opts.seconds, opts.concurrency, opts.database_url) = (seconds, concurrency, database_url);
            opts.progress = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
            wugan::bench::main(opts, json).await
        }
        Command::Key { command, database_url, data_dir } => {
            let url = match database_url {
                Some(url) => url,
                None => {
                    let path = data_dir.join("hub.db");
                    anyhow::ensure!(path.exists(), "no hub database at {} (--data-dir, or --database-url)", path.display());
                    format!("sqlite://{}", path.display())
                }
            };
            let store = wugan_hub::store::Store::connect(&url).await.context("cannot open the hub's database")?;
            store.migrate().await?;
            print!("{}", wugan::keys::run(&store, command.command()?).await?);
            Ok(())
        }
        Command::Hospital {
            command: wugan::hospital::HospitalArgs::Add { code, name, setl_type, mdtrtarea_admvs, json, database_url, data_dir },
        } => {
            let place = wugan::hospital::Place { database_url, data_dir };
            print!("{}", wugan::hospital::add_on(&place, &code, &name, &setl_type, mdtrtarea_admvs, json).await?);
            Ok(())
        }
        Command::Staff { command, database_url, data_dir } => {
            print!("{}", wugan::staff::run_staff(command, database_url, &data_dir).await?);
            Ok(())
        }
        Command::Audit { command, database_url, data_dir } => {
            print!("{}", wugan::staff::run_audit(command, database_url, &data_dir).await?);
            Ok(())
        }
        Command::Invoice { command: InvoiceArgs::Verify { trust, qr, file, data_dir } } => {
            let input = match (qr, file) {
                (Some(text), None) => wugan::invoice::Input::Qr(text),
                (None, Some(path)) => wugan::invoice::Input::File(path),
                _ => anyhow::bail!("give a FILE (JSON or PDF) or --qr TEXT"),
            };
            wugan::invoice::run(input, &trust.unwrap_or_else(|| wugan::invoice::default_trust(&data_dir)))
        }
        Command::Backup { to, data_dir, hub_only } => {
            let scope = if hub_only { wugan::backup::Scope::HubOnly } else { wugan::backup::Scope::Everything };
            let copied = wugan::backup::backup(&data_dir, &to, scope).await?;
            println!("backed up {} into {}: {}", data_dir.display(), to.display(), copied.join(", "));
            Ok(())
        }
        Command::Restore { from, data_dir } => {
            let restored = wugan::backup::restore(&from, &data_dir)?;
            println!("restored {} into {}: {}", from.display(), data_dir.display(), restored.join(", "));
            Ok(())
        }
        Command::Migrate { database_url, data_dir } => {
            wugan::data_dir::private_dir(&data_dir)?;
            let url = database_url.unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("hub.db").display()));
            wugan::data_dir::prepare_sqlite_file(&url)?;
            let store = wugan_hub::store::Store::connect(&url).await?;
            let applied = store.migrate().await?;
            println!("migrations applied: {applied:?}");
            Ok(())
        }
    }
}

/// How long requests in progress may take to finish once a stop is asked for. systemd waits 90 s
/// and Docker 10 s before SIGKILL (`docker stop -t 30` or `stop_grace_period` for more).
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

async fn serve(opts: SystemOptions) -> anyhow::Result<()> {
    wugan::data_dir::private_dir(&opts.data_dir)?;
    let _lock = wugan::lock::lock_data_dir(&opts.data_dir)?;
    let sys = system::start(&opts).await?;
    let db = if sys.database_url.starts_with("sqlite:") { sys.database_url.clone() } else { "PostgreSQL".to_string() };
    println!("wugan hub        {}   (HIS API: {}/openapi.json)", sys.hub_url, sys.hub_url);
    println!("insurance center {}", sys.insurance_url);
    println!("bank             {}\ndatabase         {db}", sys.bank_url);
    println!("API keys         {}", opts.data_dir.join("credentials.json").display());
    println!("rate limits      {}", wugan::server::rate_limits_line(&opts.edge.api));
    wugan::server::shutdown_signal().await?;
    tracing::info!(deadline_s = DRAIN_DEADLINE.as_secs(), "stopping: finishing the requests in progress");
    let report = sys.shutdown(DRAIN_DEADLINE).await;
    if !report.drained {
        tracing::warn!("requests still in progress at the deadline were cut off (each is safe to retry)");
    }
    tracing::info!(closed = report.closed, "stopped");
    Ok(())
}

/// A partner's server stops accepting and answers the requests in progress, within the deadline.
async fn drain(stop: tokio::sync::watch::Sender<bool>, server: tokio::task::JoinHandle<()>) {
    let _ = stop.send(true);
    if tokio::time::timeout(DRAIN_DEADLINE, server).await.is_err() {
        tracing::warn!("requests still in progress at the deadline were cut off");
    }
}
