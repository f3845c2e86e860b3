//! `wugan crashloop`: the hub as its own process, kill -9'd at random moments under load and
//! restarted on the same data folder, many times; the insurance center and the bank run as their
//! own processes through it all and keep their state. At the end, an audit: every settlement the
//! hub acknowledged is still there as it was answered, no visit was settled twice at the
//! insurance center or charged twice at the bank, no hold is left open, the ledger balances.
//!
//! `simulate --crash-every` stops the hub's tasks inside one process; this kills the process, so
//! whatever the hub had not written to its database is gone, as after a power cut.

mod audit;
mod load;
mod procs;

use crate::his::HisClient;
use crate::rng::XorShift;
use crate::system::Credentials;
use anyhow::Context;
use audit::Findings;
use load::{AgreementRecord, Client, ClientLog, Patient, Shared, VisitRecord};
use procs::{Launch, Proc, WorkDir};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wugan_domain::Fen;
use wugan_hub::bank_client::{BankClient, BankEndpoint};

/// The hub is killed this long after it is up again, at random within the range.
const KILL_AFTER_MS: (u64, u64) = (300, 1_500);
/// One kill in this many is followed by another while the hub starts again: in the moments when
/// it resumes the settlements the first kill cut short.
const STARTUP_KILL_ONE_IN: u64 = 5;
/// A kill during startup comes this soon after the process started (a restart takes some 20 ms).
const STARTUP_KILL_WITHIN_MS: u64 = 40;
/// Patients per client; each client signs its own up as it first meets them.
const PATIENTS_PER_CLIENT: usize = 5;
/// How long a party may take to answer `/health` after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the audit waits for settlements left between two steps to be finished.
const SETTLE_DOWN_TIMEOUT: Duration = Duration::from_secs(60);
const BANK_CODE: &str = "BANK01";

pub struct CrashloopOptions {
    /// How many times the hub is killed.
    pub kills: usize,
    /// Hospital systems sending requests at once.
    pub clients: usize,
    pub seed: u64,
    /// The `wugan` executable the parties are started from.
    pub exe: PathBuf,
    /// Keep the run's folder (databases, logs) instead of removing it.
    pub keep: bool,
    /// A bar of the kills on stderr (the caller checks that it is a terminal and no --json).
    pub progress: bool,
    /// After the kills, the load goes on this long against one hub process while its memory is
    /// read (`soak` in the report); zero for none.
    pub soak: Duration,
}

#[derive(Serialize, Default, Debug)]
pub struct Report {
    pub kills: usize,
    pub clients: usize,
    pub seed: u64,
    pub sign_ups: usize,
    pub visits: usize,
    /// Settlement answers (clicks and cancels) the hub acknowledged with 2xx.
    pub acknowledged: usize,
    /// The visits' settlements as the hub shows them at the end.
    pub settled: usize,
    pub settled_unpaid: usize,
    pub cancelled: usize,
    pub failed: usize,
    /// Settlements still between two steps when the audit stopped waiting. Must be 0.
    pub unfinished: usize,
    /// Requests never answered before the run's deadline. Must be 0.
    pub unanswered: usize,
    /// Final refusals (4xx), which this workload never provokes. Must be 0.
    pub refused: usize,
    /// Must be 0.
    pub mismatches: usize,
    /// Must be 0.
    pub double_charges: usize,
    /// Must be 0.
    pub lost: usize,
    pub ledger_balanced: bool,
    /// Requests that found the hub dead at least once and were sent again.
    pub requests_interrupted: u64,
    /// Requests the restarted hub answered "in progress" until it took them over.
    pub requests_taken_over: u64,
    /// Kills while the hub was starting again (resuming what the kill before cut short).
    pub kills_during_startup: usize,
    /// Requests the clients had sent and not yet had answered at the moments of the kills, summed.
    pub requests_in_flight_at_kills: u64,
    /// From starting the hub's process to its `/health` answering.
    pub restart_ms_max: u64,
    pub restart_ms_mean: u64,
    /// Lines the hub logged at ERROR level (what should never happen), across all its runs. Must be 0.
    pub hub_error_lines: usize,
    pub seconds: f64,
    /// The soak after the kills, if one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soak: Option<Soak>,
    pub refusals: BTreeMap<String, usize>,
    /// 5xx answers that were retried, by status and code.
    pub server_errors: BTreeMap<String, usize>,
    pub details: Vec<String>,
}

impl Report {
    /// The counters that must be zero (or true) and are not.
    pub fn failures(&self) -> Vec<String> {
        let must_be_zero = [
            ("unfinished", self.unfinished),
            ("unanswered", self.unanswered),
            ("refused", self.refused),
            ("mismatches", self.mismatches),
            ("double charges", self.double_charges),
            ("lost", self.lost),
            ("hub ERROR log lines", self.hub_error_lines),
        ];
        let mut failures: Vec<String> = must_be_zero.iter().filter(|(_, n)| *n > 0).map(|(name, n)| format!("{name} {n}")).collect();
        if !self.ledger_balanced {
            failures.push("the ledger does not balance".into());
        }
        if self.acknowledged == 0 {
            failures.push("no settlement was acknowledged: there was no load".into());
        }
        failures
    }
}

pub async fn main(opts: CrashloopOptions, as_json: bool) -> anyhow::Result<()> {
    // Ctrl-C or SIGTERM drops the run: every child is killed and the folder removed on the way out.
    let report = tokio::select! {
        report = run(opts) => report?,
        signal = crate::server::shutdown_signal() => {
            signal?;
            anyhow::bail!("interrupted")
        }
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report);
    }
    let failures = report.failures();
    anyhow::ensure!(failures.is_empty(), "the audit failed: {}", failures.join(", "));
    Ok(())
}

fn print_summary(r: &Report) {
    println!("kills {}  clients {}  seed {}  {:.1} s", r.kills, r.clients, r.seed, r.seconds);
    println!(
        "kills during startup {}  requests in flight at the kills {}  restart ms: max {}  mean {}",
        r.kills_during_startup, r.requests_in_flight_at_kills, r.restart_ms_max, r.restart_ms_mean
    );
    println!("sign-ups {}  visits {}  acknowledged {}", r.sign_ups, r.visits, r.acknowledged);
    println!("settled {}  settled unpaid {}  cancelled {}  failed {}", r.settled, r.settled_unpaid, r.cancelled, r.failed);
    println!("requests interrupted by a kill {}  taken over after one {}", r.requests_interrupted, r.requests_taken_over);
    println!(
        "unfinished {}  unanswered {}  refused {}  mismatches {}  double charges {}  lost {}  ledger balanced {}",
        r.unfinished, r.unanswered, r.refused, r.mismatches, r.double_charges, r.lost, r.ledger_balanced
    );
    println!("hub ERROR log lines {}", r.hub_error_lines);
    if let Some(s) = &r.soak {
        println!(
            "soak {} s: {} clicks after the warm-up ({}/s); hub RSS MiB after the warm-up {}  max {}  end {}",
            s.seconds, s.clicks, s.clicks_per_s, s.hub_rss_mib_after_warmup, s.hub_rss_mib_max, s.hub_rss_mib_end
        );
    }
    for (what, n) in r.server_errors.iter().chain(&r.refusals) {
        println!("  {n} × {what}");
    }
    for d in &r.details {
        println!("  {d}");
    }
}

/// The parties' addresses and the secrets the run shares with them.
struct Parties {
    insurance_url: String,
    bank_url: String,
    bank_secret: String,
    /// The bank staff's key the audit lists every line with (the hub's key may not).
    bank_staff_secret: String,
    hub_url: String,
}

pub async fn run(opts: CrashloopOptions) -> anyhow::Result<Report> {
    let started = Instant::now();
    // Declared first, so dropped last: after every child is dead.
    let work = WorkDir::create(opts.seed, opts.keep)?;
    let mut rng = XorShift::new(opts.seed);
    let (persons, patients) = persons_file(&work.path, opts.clients.max(1) * PATIENTS_PER_CLIENT, &mut rng)?;
    let parties = Parties {
        insurance_url: format!("http://127.0.0.1:{}", procs::free_port()?),
        bank_url: format!("http://127.0.0.1:{}", procs::free_port()?),
        bank_secret: format!("bank_{}", wugan_hub::pii::DataKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?.to_hex()),
        bank_staff_secret: format!("staff_{}", wugan_hub::pii::DataKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?.to_hex()),
        hub_url: format!("http://127.0.0.1:{}", procs::free_port()?),
    };
    let http = reqwest::Client::new();
    // The installation's credentials first: the insurance center's gateway reads its callers there.
    Credentials::load_or_create(&work.path.join("data"))?;
    let (_insurance, _bank) = start_partners(&opts.exe, &work.path, &persons, &parties, &http).await?;
    let mut hub = Hub::new(&opts.exe, &work.path, &parties);
    hub.start(&http).await?;
    let creds: Credentials = serde_json::from_str(&std::fs::read_to_string(work.path.join("data").join("credentials.json"))?)
        .context("the hub's credentials.json")?;

    let shared = Arc::new(Shared::new(Instant::now() + Duration::from_secs(120 + 5 * opts.kills as u64) + opts.soak));
    let mut clients = start_clients(&parties.hub_url, &creds, &patients, opts.seed, &shared)?;
    let bar = crate::progress::bar(opts.progress, opts.kills as u64, "kills");
    let kills = kill_loop(&mut hub, &http, &shared, opts.kills, &mut rng, &bar).await?;
    bar.finish_and_clear();
    let soaked = match opts.soak.is_zero() {
        true => None,
        false => Some(soak(&hub, &shared, opts.soak).await?),
    };
    shared.stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    while let Some(log) = clients.join_next().await {
        logs.push(log.context("a client task failed")?);
    }

    let mut report = Report { clients: opts.clients, seed: opts.seed, soak: soaked, ..Default::default() };
    kills.tally(&mut report);
    tally_load(&mut report, &logs, &shared);
    let evidence = Evidence {
        visits: logs.iter().flat_map(|l| l.visits.iter().cloned()).collect(),
        agreements: logs.iter().flat_map(|l| l.agreements.iter().cloned()).collect(),
    };
    audit(&parties, &creds, &evidence, &mut report).await?;
    report.hub_error_lines = procs::log_grep(&hub.launch.log, " ERROR ", usize::MAX).len();
    report.details.extend(procs::log_grep(&hub.launch.log, " ERROR ", 5).into_iter().map(|line| format!("hub log: {line}")));
    report.seconds = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    if opts.keep {
        report.details.push(format!("the run's folder is kept: {}", work.path.display()));
    }
    Ok(report)
}

/// The hub's memory under steady load, in its own process: read once a second. The first fifth
/// of the soak is its warm-up (connection pools, SQLite's page caches, the allocator's arenas
/// fill); after it, a hub that keeps nothing per request stays level however many visits pass.
#[derive(Serialize, Default, Debug, Clone, PartialEq)]
pub struct Soak {
    pub seconds: u64,
    /// Clicks the hub answered after the warm-up, and their rate.
    pub clicks: u64,
    pub clicks_per_s: f64,
    pub hub_rss_mib_after_warmup: f64,
    pub hub_rss_mib_max: f64,
    pub hub_rss_mib_end: f64,
}

async fn soak(hub: &Hub, shared: &Shared, length: Duration) -> anyhow::Result<Soak> {
    let proc = hub.proc.as_ref().context("no hub process to soak")?;
    let rss = || proc.rss_mib().context("cannot read the hub's resident memory (/proc/<pid>/status, Linux only)");
    tokio::time::sleep(length / 5).await;
    let (warm, clicks_then, started) = (rss()?, shared.clicks.load(Ordering::Relaxed), Instant::now());
    let mut max = warm;
    while started.elapsed() < length * 4 / 5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        max = max.max(rss()?);
    }
    let clicks = shared.clicks.load(Ordering::Relaxed) - clicks_then;
    let end = rss()?;
    let clicks_per_s = (clicks as f64 / started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    Ok(Soak {
        seconds: length.as_secs(),
        clicks,
        clicks_per_s,
        hub_rss_mib_after_warmup: warm,
        hub_rss_mib_max: max.max(end),
        hub_rss_mib_end: end,
    })
}

/// One client per chunk of patients, spread over the hospitals in credentials.json.
fn start_clients(
    hub_url: &str,
    creds: &Credentials,
    patients: &[Patient],
    seed: u64,
    shared: &Arc<Shared>,
) -> anyhow::Result<tokio::task::JoinSet<ClientLog>> {
    let mut clients = tokio::task::JoinSet::new();
    for (n, own) in patients.chunks(PATIENTS_PER_CLIENT).enumerate() {
        let hospital = n % creds.hospitals.len().max(1);
        let api_key = &creds.hospitals.get(hospital).context("no hospital in credentials.json")?.api_key;
        let client = Client {
            n,
            hospital,
            his: HisClient::new(hub_url, api_key),
            operator: HisClient::new(hub_url, &creds.operator_api_key),
            patients: own.to_vec(),
            seed,
            shared: shared.clone(),
        };
        clients.spawn(client.run());
    }
    Ok(clients)
}

/// What the kills did.
#[derive(Default)]
struct Kills {
    /// Every restart that was let come up: from starting the process to `/health` answering.
    restarts: Vec<Duration>,
    during_startup: usize,
    /// Requests in flight at each kill, summed.
    requests_cut: u64,
}

impl Kills {
    fn tally(&self, report: &mut Report) {
        report.kills = self.restarts.len() + self.during_startup;
        report.kills_during_startup = self.during_startup;
        report.requests_in_flight_at_kills = self.requests_cut;
        let ms: Vec<u64> = self.restarts.iter().map(|d| d.as_millis() as u64).collect();
        report.restart_ms_max = ms.iter().copied().max().unwrap_or(0);
        report.restart_ms_mean = ms.iter().sum::<u64>() / (ms.len().max(1) as u64);
    }
}

/// Kills the hub `kills` times at seeded random moments while the clients keep sending, and
/// starts it again each time; it is up (healthy) when this returns.
async fn kill_loop(
    hub: &mut Hub,
    http: &reqwest::Client,
    shared: &Shared,
    kills: usize,
    rng: &mut XorShift,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Kills> {
    let mut done = Kills::default();
    let mut starting = false;
    for k in 0..kills {
        let wait_ms =
            if starting { rng.below(STARTUP_KILL_WITHIN_MS) } else { KILL_AFTER_MS.0 + rng.below(KILL_AFTER_MS.1 - KILL_AFTER_MS.0) };
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        done.requests_cut += shared.in_flight.load(Ordering::Relaxed);
        hub.kill();
        done.during_startup += usize::from(starting);
        hub.spawn()?;
        // The last kill is always followed by a full restart.
        starting = k + 1 < kills && rng.below(STARTUP_KILL_ONE_IN) == 0;
        if !starting {
            let restart =
                hub.wait_healthy(http).await.context("the hub did not come back after a kill (--keep keeps its log and database)")?;
            done.restarts.push(restart);
        }
        crate::progress::advance_to(bar, k as u64 + 1);
    }
    Ok(done)
}

fn tally_load(report: &mut Report, logs: &[ClientLog], shared: &Shared) {
    for log in logs {
        report.sign_ups += log.agreements.len();
        report.visits += log.visits.len();
        report.acknowledged += log.acknowledged;
        report.unanswered += log.unanswered;
        for (why, n) in &log.refusals {
            report.refused += n;
            *report.refusals.entry(why.clone()).or_default() += n;
        }
    }
    report.requests_interrupted = shared.interrupted.load(Ordering::Relaxed);
    report.requests_taken_over = shared.in_progress.load(Ordering::Relaxed);
    report.server_errors = shared.server_errors.lock().unwrap_or_else(|p| p.into_inner()).clone();
}

/// Insured persons of the run's insurance center: employees with a personal account, residents
/// without one; two of three pay through a credit line, the rest with a debit card.
fn persons_file(dir: &Path, count: usize, rng: &mut XorShift) -> anyhow::Result<(PathBuf, Vec<Patient>)> {
    let path = dir.join("persons.jsonl");
    let mut file = std::fs::File::create(&path)?;
    let mut patients = Vec::with_capacity(count);
    for i in 0..count {
        let certno = format!("44030119800101{i:04}");
        let (insutype, psn_type, balance) = if i % 3 == 2 { ("390", "1501", 0) } else { ("310", "1101", rng.below(200_000) as i64) };
        let person = json!({"psn_no": format!("4403009{i:013}"), "certno": certno, "psn_name": format!("患者{i}"), "gend": "1",
                            "brdy": "1980-01-01", "insutype": insutype, "psn_type": psn_type, "insuplc_admdvs": "440300",
                            "balc": Fen(balance).to_yuan_string()});
        writeln!(file, "{person}")?;
        let payment = if i % 3 == 1 {
            json!({"method": "debit_card", "bank_code": BANK_CODE, "card_no": format!("62220202{i:011}")})
        } else {
            json!({"method": "credit_line", "bank_code": BANK_CODE})
        };
        patients.push(Patient { certno, payment, use_personal_account: i % 4 != 3 });
    }
    Ok((path, patients))
}

fn port_of(url: &str) -> String {
    format!("127.0.0.1:{}", url.rsplit(':').next().unwrap_or_default())
}

async fn start_partners(exe: &Path, dir: &Path, persons: &Path, p: &Parties, http: &reqwest::Client) -> anyhow::Result<(Proc, Proc)> {
    let insurance = Launch {
        name: "insurance center",
        exe: exe.to_path_buf(),
        args: vec![
            "insurance".into(),
            "serve".into(),
            "--listen".into(),
            port_of(&p.insurance_url),
            "--persons".into(),
            path(persons),
            "--data-dir".into(),
            path(&dir.join("data")),
        ],
        env: vec![],
        log: dir.join("insurance.log"),
    };
    let bank = Launch {
        name: "bank",
        exe: exe.to_path_buf(),
        args: ["bank", "serve", "--listen", &port_of(&p.bank_url), "--bank-code", BANK_CODE, "--data-dir", &path(&dir.join("bank"))]
            .map(String::from)
            .to_vec(),
        env: vec![("WUGAN_BANK_SECRET".into(), p.bank_secret.clone()), ("WUGAN_BANK_STAFF_SECRET".into(), p.bank_staff_secret.clone())],
        log: dir.join("bank.log"),
    };
    let (mut insurance, mut bank) = (insurance.spawn()?, bank.spawn()?);
    insurance.wait_healthy(http, &p.insurance_url, START_TIMEOUT).await?;
    bank.wait_healthy(http, &p.bank_url, START_TIMEOUT).await?;
    Ok((insurance, bank))
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// The hub's process: always started the same way, on the same data folder and port.
struct Hub {
    launch: Launch,
    url: String,
    proc: Option<Proc>,
}

impl Hub {
    fn new(exe: &Path, dir: &Path, p: &Parties) -> Hub {
        let args = [
            "serve",
            "--data-dir",
            &path(&dir.join("data")),
            "--listen",
            &port_of(&p.hub_url),
            "--insurance-url",
            &p.insurance_url,
            "--bank-url",
            &p.bank_url,
            "--bank-code",
            BANK_CODE,
        ];
        let launch = Launch {
            name: "hub",
            exe: exe.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
            // No rate limits: the load and the audit's reads are as fast as they can be, and a
            // 429 is not what this run tests.
            env: vec![
                ("WUGAN_BANK_SECRET".into(), p.bank_secret.clone()),
                ("WUGAN_RATE_PER_KEY".into(), "0".into()),
                ("WUGAN_RATE_PER_ADDRESS".into(), "0".into()),
            ],
            log: dir.join("hub.log"),
        };
        Hub { launch, url: p.hub_url.clone(), proc: None }
    }

    /// Starts the hub and waits for its `/health`.
    async fn start(&mut self, http: &reqwest::Client) -> anyhow::Result<Duration> {
        self.spawn()?;
        self.wait_healthy(http).await
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        self.proc = Some(self.launch.spawn()?);
        Ok(())
    }

    /// Waits for the started hub's `/health`: the time since it was started.
    async fn wait_healthy(&mut self, http: &reqwest::Client) -> anyhow::Result<Duration> {
        let proc = self.proc.as_mut().context("the hub was not started")?;
        proc.wait_healthy(http, &self.url, START_TIMEOUT).await
    }

    /// kill -9.
    fn kill(&mut self) {
        if let Some(proc) = self.proc.take() {
            proc.kill();
        }
    }
}

/// What the clients saw acknowledged.
struct Evidence {
    visits: Vec<VisitRecord>,
    agreements: Vec<AgreementRecord>,
}

async fn audit(p: &Parties, creds: &Credentials, e: &Evidence, report: &mut Report) -> anyhow::Result<()> {
    let hospitals: Vec<HisClient> = creds.hospitals.iter().map(|h| HisClient::new(&p.hub_url, &h.api_key)).collect();
    let shown = settled_down(&hospitals, &e.visits, report).await?;
    let mut f = Findings::default();
    audit::check_acknowledged(&e.visits, &shown, &mut f);

    let operator = HisClient::new(&p.hub_url, &creds.operator_api_key);
    let ledger = operator.get("/api/v1/ledger").await?;
    anyhow::ensure!(ledger.ok(), "the hub's ledger: {} {}", ledger.status, ledger.body);
    report.ledger_balanced = ledger.body["balanced"] == json!(true);

    let by_mdtrt = shown.values().map(|v| (text(&v["mdtrt_id"]), Some(v["settlement"].clone()).filter(|s| !s.is_null()))).collect();
    let sandbox = reqwest::Client::new().get(format!("{}/sandbox/settlements", p.insurance_url));
    let sandbox = sandbox.bearer_auth(&creds.insurance_gateway.operator_token).send().await?;
    let insurance: Vec<Value> = sandbox.error_for_status()?.json().await?;
    audit::check_insurance(&by_mdtrt, &insurance, &mut f);

    let by_id: HashMap<String, Value> =
        shown.values().map(|v| &v["settlement"]).filter(|s| !s.is_null()).map(|s| (text(&s["id"]), s.clone())).collect();
    let endpoint = BankEndpoint {
        bank_code: BANK_CODE.into(),
        url: p.bank_url.clone(),
        key_id: creds.bank_key_id.clone(),
        secret: p.bank_secret.clone(),
        callback_secret: creds.bank_callback_secret.clone(),
    };
    let bank = BankClient::new(endpoint, Duration::from_secs(10));
    audit::check_bank_lines(&e.agreements, &bank_lines(&bank, &p.bank_staff_secret).await?, &mut f);
    for agreement in &e.agreements {
        let ops = bank.operations(&agreement.bank_agreement_id).await.map_err(|e| anyhow::anyhow!("bank operations: {e}"))?;
        let ops: Vec<Value> = ops.iter().map(|o| serde_json::to_value(o).unwrap_or_default()).collect();
        audit::check_bank_agreement(agreement, &ops, &by_id, audit::ledger_net(&ledger.body, agreement), &mut f);
    }
    (report.mismatches, report.double_charges, report.lost) = (f.mismatches, f.double_charges, f.lost);
    report.details.extend(f.details);
    Ok(())
}

/// Every line the bank keeps (agreement id → status), page by page: a staff listing, signed with
/// the staff key the run gave the bank.
async fn bank_lines(bank: &BankClient, staff_secret: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let mut lines = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(id) => format!("/bank/v1/agreements?after={id}"),
            None => "/bank/v1/agreements".to_string(),
        };
        let (endpoint, timestamp) = (&bank.endpoint, time_now_unix_s());
        let nonce = wugan_bank::signing::new_nonce();
        let key_id = crate::system::BANK_STAFF_KEY_ID;
        let headers = wugan_bank::signing::signed_headers(key_id, staff_secret, "GET", &path, b"", timestamp, &nonce);
        let mut request = http.get(format!("{}{path}", endpoint.url));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let page: Value = request.send().await?.error_for_status()?.json().await?;
        for a in page["agreements"].as_array().into_iter().flatten() {
            lines.insert(text(&a["agreement_id"]), text(&a["status"]));
        }
        match page["next_after"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => return Ok(lines),
        }
    }
}

fn time_now_unix_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Every acknowledged visit as the hub shows it, once no settlement is between two steps (or
/// [`SETTLE_DOWN_TIMEOUT`] passed); counts the settlements by state.
async fn settled_down(hospitals: &[HisClient], visits: &[VisitRecord], report: &mut Report) -> anyhow::Result<HashMap<String, Value>> {
    let started = Instant::now();
    let mut shown = HashMap::new();
    loop {
        for v in visits {
            let his = hospitals.get(v.hospital).context("a visit of an unknown hospital")?;
            let reply = his.get(&format!("/api/v1/visits/{}", v.visit_id)).await?;
            if reply.ok() {
                shown.insert(v.visit_id.clone(), reply.body);
            }
        }
        let state = |v: &Value| text(&v["settlement"]["state"]);
        let unfinished = shown.values().filter(|v| !v["settlement"].is_null() && !audit::is_final(&state(v))).count();
        if unfinished == 0 || started.elapsed() > SETTLE_DOWN_TIMEOUT {
            report.unfinished = unfinished;
            for v in shown.values() {
                match state(v).as_str() {
                    "settled" => report.settled += 1,
                    "settled_unpaid" => report.settled_unpaid += 1,
                    "cancelled" => report.cancelled += 1,
                    "failed" => report.failed += 1,
                    _ => {}
                }
            }
            return Ok(shown);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}
