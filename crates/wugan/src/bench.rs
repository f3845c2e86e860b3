//! `wugan bench`: how many visits a second the hub settles on this machine, measured on a fresh
//! data folder (or a fresh PostgreSQL database), beside the machine's own durable-flush rate, so
//! that the figures read as ratios that hold on a noisy machine.
//!
//! - `e2e`: a hospital's HIS over HTTP (register + fees + the doctor's click), the hub, and the
//!   built-in insurance center and bank on their own loopback listeners, durable storage.
//! - `core`: the same visits with no socket anywhere: the HIS calls the hub's router in this
//!   process, and the hub calls its partners' routers in this process too (`Wire::InProcess`: the
//!   same envelopes, signatures and gateway checks, no HTTP). The partners' own work (the
//!   insurance center's adjudication, the bank's book) is still in the figure: on this machine
//!   they share the two cores with the hub.
//!
//! Both end with a check: the ledger balances, and every settlement the hub acknowledged is read
//! back, settled, through the HIS API.

mod disk;
mod load;
mod process;
mod sqlite_io;
mod sqlite_statements;

use crate::his::HisClient;
use crate::system::{self, SystemOptions};
use disk::{DiskWork, Meter};
use load::{Channel, Sample};
use process::ProcessWork;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most visits one measurement runs, whatever the options.
pub const MAX_VISITS: usize = 1_000_000;
/// Patients are set up once per measurement; visits spread over them.
const MAX_PATIENTS: usize = 2_000;
/// Workers for the untimed work (sign-ups, the end check).
const SETUP_WORKERS: usize = 16;
/// Personal data in a bench database is synthetic: one fixed key, so that the run needs no secret.
const BENCH_DATA_KEY: &str = "62656e63682d6f6e6c792d73796e7468657469632d646174612d6b6579212121";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Phases {
    /// e2e, then core.
    All,
    E2e,
    Core,
    /// The daily reconciliation's matcher on a generated day (`--settlements`; `wugan::reconcile`).
    Reconcile,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    E2e,
    Core,
}

impl Phase {
    fn label(self) -> &'static str {
        match self {
            Phase::E2e => "e2e",
            Phase::Core => "core",
        }
    }
}

pub struct BenchOptions {
    pub phases: Phases,
    /// Visits per measurement (at most `MAX_VISITS`).
    pub visits: usize,
    /// Stop each measurement after this long, if it has not done `visits` yet.
    pub seconds: Option<f64>,
    /// Visits in flight at once.
    pub concurrency: usize,
    /// A PostgreSQL server; `None` is SQLite in the data folder.
    pub database_url: Option<String>,
    pub progress: bool,
    /// How long the fsync probe runs.
    pub fsync_probe: Duration,
}

impl BenchOptions {
    pub fn new(visits: usize) -> BenchOptions {
        BenchOptions {
            phases: Phases::All,
            visits,
            seconds: None,
            concurrency: 64,
            database_url: None,
            progress: false,
            fsync_probe: Duration::from_secs(1),
        }
    }
}

/// One measurement, and its end check.
struct PhaseResult {
    attempted: usize,
    settled: usize,
    errors: usize,
    error_reasons: BTreeMap<String, usize>,
    seconds: f64,
    p50: Duration,
    p99: Duration,
    work: DiskWork,
    ledger_balanced: bool,
    acknowledged: usize,
    missing: usize,
    hub: HubWork,
    /// Resident memory when the timed visits began and when they ended.
    rss_mib: (Option<f64>, Option<f64>),
    /// This process's CPU time and context switches during the timed visits.
    process: Option<ProcessWork>,
}

/// What the hub itself did during a measurement.
#[derive(Clone, Copy, Debug, Default)]
struct HubWork {
    /// SQL statements on the hub's database (SQLite only: counted by a trace on its connections).
    statements: Option<u64>,
    /// Calls the hub sent to the insurance center and the bank.
    partner_calls: u64,
    /// Write jobs (`Store::write`) and the commits they shared (a writer's: SQLite's, or PostgreSQL's when batched).
    write_jobs: Option<u64>,
    commits: Option<u64>,
}

impl HubWork {
    fn read(app: &wugan_hub::app::App, sqlite: bool) -> HubWork {
        let writer = app.store.writer_stats();
        let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
        HubWork {
            statements: sqlite.then(sqlite_statements::count),
            partner_calls: app.partner_calls(),
            write_jobs: writer.as_ref().map(|w| load(&w.jobs)),
            commits: writer.as_ref().map(|w| load(&w.batches)),
        }
    }

    fn since(self, before: HubWork) -> HubWork {
        let minus = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
        HubWork {
            statements: minus(self.statements, before.statements),
            partner_calls: self.partner_calls.saturating_sub(before.partner_calls),
            write_jobs: minus(self.write_jobs, before.write_jobs),
            commits: minus(self.commits, before.commits),
        }
    }
}

/// This process's resident memory (`VmRSS` in /proc/self/status), in MiB; `None` where there is none.
fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(round(kib / 1024.0, 1))
}

impl PhaseResult {
    fn visits_per_s(&self) -> f64 {
        round(self.settled as f64 / self.seconds.max(1e-9), 1)
    }
    fn per_visit(&self, n: u64) -> f64 {
        round(n as f64 / self.attempted.max(1) as f64, 3)
    }
}

/// One JSON object: the e2e figures under the tracker's names, the core ones prefixed `core_`.
/// A measurement not run leaves its fields null.
#[derive(Serialize, Debug, Default)]
pub struct BenchReport {
    pub database: &'static str,
    /// PostgreSQL only: how the hub wrote (`WUGAN_PG_WRITES`: `pooled` or `batched`).
    pub pg_writes: Option<&'static str>,
    pub concurrency: usize,
    pub visits: Option<usize>,
    pub visits_per_s: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub errors: Option<usize>,
    pub core_visits: Option<usize>,
    pub core_visits_per_s: Option<f64>,
    pub core_p50_ms: Option<f64>,
    pub core_p99_ms: Option<f64>,
    pub core_errors: Option<usize>,
    /// 4 KiB appends made durable (fdatasync) per second in the data folder, in this run.
    pub fsync_per_s: f64,
    /// Disk writes and flushes of the database per visit (e2e, or core when only core ran).
    pub writes_per_visit: Option<f64>,
    pub flushes_per_visit: Option<f64>,
    pub kib_written_per_visit: Option<f64>,
    pub core_writes_per_visit: Option<f64>,
    pub core_flushes_per_visit: Option<f64>,
    /// The visit rate at which the database's flushes alone would use up the disk's fsync rate.
    pub fsync_bound_visits_per_s: Option<f64>,
    /// What `writes` and `flushes` count.
    pub disk_counts: &'static str,
    /// SQL statements the hub ran per visit (SQLite; e2e, or core when only core ran).
    pub statements_per_visit: Option<f64>,
    /// Calls the hub sent to its partners per visit.
    pub partner_calls_per_visit: Option<f64>,
    /// Write jobs per visit, and jobs per commit (group commit's batch size), on SQLite.
    pub write_jobs_per_visit: Option<f64>,
    pub jobs_per_commit: Option<f64>,
    /// This process's resident memory (hub, partners and load generator) when the first timed
    /// run began and when the last ended.
    pub rss_mib_start: Option<f64>,
    pub rss_mib_end: Option<f64>,
    /// CPU time per visit of this process (hub, partners and load generator together), the share
    /// of it in the kernel, and context switches per visit: a ratio that holds on a noisy machine.
    pub cpu_ms_per_visit: Option<f64>,
    pub kernel_cpu_share: Option<f64>,
    pub context_switches_per_visit: Option<f64>,
    pub ledger_balanced: bool,
    pub settlements_acknowledged: usize,
    pub settlements_missing: usize,
    pub error_reasons: BTreeMap<String, usize>,
    pub seconds: f64,
}

impl BenchReport {
    /// The end check passed: every book balances and nothing acknowledged was lost.
    pub fn books_hold(&self) -> bool {
        self.ledger_balanced && self.settlements_missing == 0
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0, 2)
}

pub async fn run(opts: &BenchOptions) -> anyhow::Result<BenchReport> {
    // Before any SQLite connection opens, so that the hub's are counted.
    sqlite_io::install().map_err(|e| anyhow::anyhow!("cannot count SQLite's disk work: {e}"))?;
    sqlite_statements::install().map_err(|e| anyhow::anyhow!("cannot count the hub's statements: {e}"))?;
    let sql_top: Option<usize> = std::env::var("WUGAN_BENCH_SQL_TOP").ok().and_then(|n| n.parse().ok());
    if sql_top.is_some() {
        sqlite_statements::count_texts();
    }
    let started = Instant::now();
    let root = std::env::temp_dir().join(format!("wugan-bench-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    let result = run_in(&root, opts, started).await;
    let _ = std::fs::remove_dir_all(&root);
    if let Some(n) = sql_top {
        // A profile for whoever cuts statements: counts over the whole run (sign-ups included).
        for (count, sql) in sqlite_statements::top(n) {
            eprintln!("{count:>8}  {sql}");
        }
    }
    result
}

async fn run_in(root: &Path, opts: &BenchOptions, started: Instant) -> anyhow::Result<BenchReport> {
    let probe_time = opts.fsync_probe;
    let probe_dir = root.to_path_buf();
    let fsync_per_s = tokio::task::spawn_blocking(move || disk::fsync_per_s(&probe_dir, probe_time)).await??;
    let phases: &[Phase] = match opts.phases {
        Phases::All => &[Phase::E2e, Phase::Core],
        Phases::E2e => &[Phase::E2e],
        Phases::Core => &[Phase::Core],
        Phases::Reconcile => &[],
    };
    let mut report = BenchReport {
        database: if opts.database_url.is_some() { "postgresql" } else { "sqlite" },
        pg_writes: match &opts.database_url {
            Some(_) => Some(wugan_hub::store::PgWrites::from_env().map_err(anyhow::Error::msg)?.label()),
            None => None,
        },
        concurrency: opts.concurrency,
        fsync_per_s: round(fsync_per_s, 1),
        ledger_balanced: true,
        ..Default::default()
    };
    for phase in phases {
        let result = run_phase(*phase, root, opts, &mut report).await?;
        record(&mut report, *phase, &result);
    }
    let flushes = report.flushes_per_visit.unwrap_or(0.0);
    report.fsync_bound_visits_per_s = (flushes > 0.0).then(|| round(fsync_per_s / flushes, 1));
    report.seconds = round(started.elapsed().as_secs_f64(), 2);
    Ok(report)
}

fn record(report: &mut BenchReport, phase: Phase, r: &PhaseResult) {
    let (writes, flushes) = (Some(r.per_visit(r.work.writes)), Some(r.per_visit(r.work.flushes)));
    match phase {
        Phase::E2e => {
            (report.visits, report.visits_per_s, report.errors) = (Some(r.attempted), Some(r.visits_per_s()), Some(r.errors));
            (report.p50_ms, report.p99_ms) = (Some(ms(r.p50)), Some(ms(r.p99)));
        }
        Phase::Core => {
            (report.core_visits, report.core_visits_per_s, report.core_errors) =
                (Some(r.attempted), Some(r.visits_per_s()), Some(r.errors));
            (report.core_p50_ms, report.core_p99_ms) = (Some(ms(r.p50)), Some(ms(r.p99)));
            (report.core_writes_per_visit, report.core_flushes_per_visit) = (writes, flushes);
        }
    }
    if phase == Phase::E2e || report.writes_per_visit.is_none() {
        (report.writes_per_visit, report.flushes_per_visit) = (writes, flushes);
        report.statements_per_visit = r.hub.statements.map(|n| r.per_visit(n));
        report.partner_calls_per_visit = Some(r.per_visit(r.hub.partner_calls));
        report.write_jobs_per_visit = r.hub.write_jobs.map(|n| r.per_visit(n));
        report.jobs_per_commit = match (r.hub.write_jobs, r.hub.commits) {
            (Some(jobs), Some(commits)) if commits > 0 => Some(round(jobs as f64 / commits as f64, 2)),
            _ => None,
        };
        report.kib_written_per_visit = Some(round(r.work.bytes as f64 / 1024.0 / r.attempted.max(1) as f64, 2));
        if let Some(p) = r.process {
            report.cpu_ms_per_visit = Some(round((p.user_us + p.system_us) as f64 / 1000.0 / r.attempted.max(1) as f64, 3));
            report.kernel_cpu_share = Some(round(p.kernel_share(), 3));
            report.context_switches_per_visit = Some(r.per_visit(p.switches));
        }
    }
    report.rss_mib_start = report.rss_mib_start.or(r.rss_mib.0);
    report.rss_mib_end = r.rss_mib.1;
    report.ledger_balanced &= r.ledger_balanced;
    report.settlements_acknowledged += r.acknowledged;
    report.settlements_missing += r.missing;
    for (reason, n) in &r.error_reasons {
        *report.error_reasons.entry(format!("{}: {reason}", phase.label())).or_default() += n;
    }
}

/// A fresh hub with built-in partners, its patients signed up, then the timed visits and the check.
async fn run_phase(phase: Phase, root: &Path, opts: &BenchOptions, report: &mut BenchReport) -> anyhow::Result<PhaseResult> {
    let dir = root.join(phase.label());
    std::fs::create_dir_all(&dir)?;
    let database = match &opts.database_url {
        Some(server) => Some(pg::FreshDatabase::create(server).await?),
        None => None,
    };
    let result = measure(phase, &dir, opts, database.as_ref()).await;
    if let Some(db) = database {
        db.drop_database().await;
    }
    let (result, meter) = result?;
    report.disk_counts = meter;
    Ok(result)
}

async fn measure(
    phase: Phase,
    dir: &Path,
    opts: &BenchOptions,
    database: Option<&pg::FreshDatabase>,
) -> anyhow::Result<(PhaseResult, &'static str)> {
    let limit = opts.visits.min(MAX_VISITS);
    let patients = (limit / 10).clamp(opts.concurrency.clamp(10, MAX_PATIENTS), MAX_PATIENTS);
    let (persons, certnos) = load::persons_file(dir, patients)?;
    let mut sys_opts = SystemOptions::local(dir.to_path_buf());
    sys_opts.persons_file = Some(persons);
    sys_opts.data_key_hex = Some(BENCH_DATA_KEY.into());
    sys_opts.database_url = database.map(|db| db.url.clone());
    // core: the hub's own ceiling, its partners called in this process (no sockets anywhere).
    sys_opts.partners_in_process = phase == Phase::Core;
    let meter = match database {
        Some(db) => Meter::Postgres(db.server.clone()),
        None => Meter::Sqlite,
    };
    let sys = system::start(&sys_opts).await?;
    let operator = Arc::new(HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key));
    let hospital_key = sys.credentials.hospitals[0].api_key.clone();
    let his = Arc::new(HisClient::new(&sys.hub_url, &hospital_key));
    load::sign_up_all(operator.clone(), &certnos, SETUP_WORKERS).await?;
    let channel = match phase {
        Phase::E2e => Channel::Http(his.clone()),
        Phase::Core => Channel::InProcess { router: wugan_hub::api::router(sys.app.clone()), api_key: hospital_key },
    };

    let bar = progress_bar(opts.progress, phase.label(), opts.seconds.is_none().then_some(limit));
    let sqlite = database.is_none();
    let hub_before = HubWork::read(&sys.app, sqlite);
    let rss_start = rss_mib();
    let process_before = ProcessWork::read();
    let before = meter.read().await?;
    let started = Instant::now();
    let deadline = opts.seconds.map(|s| started + Duration::from_secs_f64(s.max(0.0)));
    let ticker = bar.clone();
    let samples = load::run_visits(channel, Arc::new(certnos), opts.concurrency, limit, deadline, move || ticker.inc(1)).await;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let work = meter.read().await?.since(before);
    let hub = HubWork::read(&sys.app, sqlite).since(hub_before);
    let rss_end = rss_mib();
    let process = ProcessWork::read().zip(process_before).map(|(after, before)| after.since(before));

    let mut result = summarize(samples, seconds, work);
    (result.0.hub, result.0.rss_mib, result.0.process) = (hub, (rss_start, rss_end), process);
    let acks: Vec<load::Ack> = result.1;
    let ledger = operator.get("/api/v1/ledger").await?;
    result.0.ledger_balanced = ledger.ok() && ledger.body["balanced"].as_bool() == Some(true);
    result.0.acknowledged = acks.len();
    result.0.missing = load::missing_settlements(his, acks, SETUP_WORKERS).await;
    sys.stop();
    Ok((result.0, meter.what_it_counts()))
}

fn summarize(samples: Vec<Sample>, seconds: f64, work: DiskWork) -> (PhaseResult, Vec<load::Ack>) {
    let attempted = samples.len();
    let mut latencies = Vec::with_capacity(attempted);
    let mut acks = Vec::with_capacity(attempted);
    let mut error_reasons = BTreeMap::new();
    for sample in samples {
        match sample.outcome {
            Ok(ack) => {
                latencies.push(sample.latency);
                acks.push(ack);
            }
            Err(reason) => *error_reasons.entry(reason).or_default() += 1,
        }
    }
    latencies.sort_unstable();
    let result = PhaseResult {
        attempted,
        settled: acks.len(),
        errors: attempted - acks.len(),
        error_reasons,
        seconds,
        p50: load::quantile(&latencies, 0.50),
        p99: load::quantile(&latencies, 0.99),
        work,
        ledger_balanced: false,
        acknowledged: 0,
        missing: 0,
        hub: HubWork::default(),
        rss_mib: (None, None),
        process: None,
    };
    (result, acks)
}

/// A bar on stderr (only when asked: the caller checks that stderr is a terminal); with no
/// length (a timed run), a counter with the rate.
fn progress_bar(show: bool, label: &str, len: Option<usize>) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    if !show {
        return ProgressBar::hidden();
    }
    let (bar, template) = match len {
        Some(n) => (ProgressBar::new(n as u64), "{prefix:>4} [{bar:32}] {pos}/{len} visits  {rate}  eta {eta}"),
        None => (ProgressBar::new_spinner(), "{prefix:>4} {spinner} {pos} visits  {rate}  {elapsed}"),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    let rate = |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = write!(w, "{:>6.0} visits/s", state.per_sec());
    };
    bar.set_style(style.with_key("rate", rate).progress_chars("=> "));
    bar.set_prefix(label.to_string());
    bar
}

/// The report as a table.
pub fn print_table(r: &BenchReport) {
    let num = |v: Option<f64>| v.map(|v| format!("{v:>12}")).unwrap_or_else(|| format!("{:>12}", "-"));
    let int = |v: Option<usize>| num(v.map(|v| v as f64));
    let writes = r.pg_writes.map(|w| format!(" ({w} writes)")).unwrap_or_default();
    println!("wugan bench: {} database{writes}, {} visits in flight, fresh data\n", r.database, r.concurrency);
    println!("                              e2e (HTTP)   core (in-process)");
    println!("  visits                    {}  {}", int(r.visits), int(r.core_visits));
    println!("  visits per second         {}  {}", num(r.visits_per_s), num(r.core_visits_per_s));
    println!("  latency p50 (ms)          {}  {}", num(r.p50_ms), num(r.core_p50_ms));
    println!("  latency p99 (ms)          {}  {}", num(r.p99_ms), num(r.core_p99_ms));
    println!("  errors                    {}  {}", int(r.errors), int(r.core_errors));
    println!("  disk writes per visit     {}  {}", num(r.writes_per_visit), num(r.core_writes_per_visit));
    println!("  disk flushes per visit    {}  {}", num(r.flushes_per_visit), num(r.core_flushes_per_visit));
    println!();
    println!("  SQL statements per visit  {}", num(r.statements_per_visit));
    println!("  partner calls per visit   {}", num(r.partner_calls_per_visit));
    println!("  write jobs per visit      {}", num(r.write_jobs_per_visit));
    println!("  write jobs per commit     {}", num(r.jobs_per_commit));
    println!("  RSS MiB start → end       {} → {}", num(r.rss_mib_start), num(r.rss_mib_end));
    println!("  CPU ms per visit          {}   (kernel share {})", num(r.cpu_ms_per_visit), num(r.kernel_cpu_share));
    println!("  context switches / visit  {}", num(r.context_switches_per_visit));
    println!("  KiB written per visit     {}", num(r.kib_written_per_visit));
    println!("  machine fsync per second  {}", num(Some(r.fsync_per_s)));
    println!("  fsync-bound visits/s      {}", num(r.fsync_bound_visits_per_s));
    println!("  ledger balances           {:>12}", if r.ledger_balanced { "yes" } else { "NO" });
    println!("  settlements read back     {:>12}   ({} missing)", r.settlements_acknowledged, r.settlements_missing);
    println!("\n  writes and flushes: {}", r.disk_counts);
    println!("  core: the HIS calls the hub's router, and the hub its partners' routers, in this process (no sockets)");
    if !r.error_reasons.is_empty() {
        println!("\n  errors by step:");
        for (reason, n) in &r.error_reasons {
            println!("    {n:>6} × {reason}");
        }
    }
}

pub async fn main(opts: BenchOptions, as_json: bool) -> anyhow::Result<()> {
    let report = run(&opts).await?;
    if as_json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    anyhow::ensure!(
        report.books_hold(),
        "the end check failed: ledger balanced {}, {} settlements missing",
        report.ledger_balanced,
        report.settlements_missing
    );
    Ok(())
}

mod pg {
    //! A fresh database on a PostgreSQL server for one measurement, dropped after it.

    pub struct FreshDatabase {
        /// The server, as given (for creating, dropping, and reading its statistics).
        pub server: sqlx::PgPool,
        pub name: String,
        pub url: String,
    }

    impl FreshDatabase {
        pub async fn create(server_url: &str) -> anyhow::Result<FreshDatabase> {
            let server = sqlx::PgPool::connect(server_url).await.map_err(|e| anyhow::anyhow!("cannot connect to {server_url}: {e}"))?;
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
            let name = format!("wugan_bench_{}_{nanos}", std::process::id());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&server)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create a fresh database (the user needs CREATEDB): {e}"))?;
            Ok(FreshDatabase { url: with_database(server_url, &name), server, name })
        }

        pub async fn drop_database(self) {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&self.server).await {
                eprintln!("wugan bench: could not drop database {}: {e}", self.name);
            }
            self.server.close().await;
        }
    }

    /// `url` with its database name replaced by `name` (or added, if it names none).
    pub fn with_database(url: &str, name: &str) -> String {
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (url, String::new()),
        };
        let authority = base.find("://").map(|i| i + 3).unwrap_or(0);
        let path = base[authority..].find('/').map(|i| authority + i).unwrap_or(base.len());
        format!("{}/{name}{query}", &base[..path])
    }

    #[cfg(test)]
    #[test]
    fn a_fresh_database_keeps_the_server_and_its_options() {
        let check = |url: &str, expect: &str| assert_eq!(with_database(url, "b1"), expect, "{url}");
        check("postgres://u@h:5432/postgres", "postgres://u@h:5432/b1");
        check("postgres://u@h:5432", "postgres://u@h:5432/b1");
        check("postgres://u:p@h/db?sslmode=disable", "postgres://u:p@h/b1?sslmode=disable");
        check("postgresql://h?host=/tmp", "postgresql://h/b1?host=/tmp");
    }
}
