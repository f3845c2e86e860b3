//! `wugan simulate`: many visits through the HIS API while both partners' wires fail at a rate
//! (refused, reply lost after the work was done, delivered twice), optionally crashing the hub
//! with settlements mid-saga; then the hub's books are compared with the bank's and the insurance
//! center's *own* records, read through their own APIs.
//!
//! A run replays: the same seed and flags give the same faults on the same requests and the same
//! report, apart from its timings. That takes four rules:
//! - every random fault comes from the stream of the actor the request belongs to (a visit, a
//!   sign-up, the background work; `faults::Actors`), never from one generator concurrent visits share;
//! - a patient is in at most one visit at a time, so that what one visit does to the patient's
//!   personal account, deductible or credit line never races another visit;
//! - visits advance in lockstep rounds: each visit in flight makes one HIS call, then all wait for
//!   the slowest. Crashes fall between rounds, once enough steps have completed, and cut short the
//!   settlements whose last partner reply was lost or refused: they are left mid-saga in the
//!   database, as a crash leaves them;
//! - the hub has no timer-driven worker: its recovery runs at fixed points (after every restart,
//!   and at the end).

use crate::faults::{Actors, FaultPlan};
use crate::his::{HisClient, Reply};
use crate::rng::XorShift;
use crate::system::{self, Credentials, SystemOptions};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wugan_bank::wire::{OperationKind, OperationStatus};
use wugan_domain::settlement::{accounts, SettlementState};
use wugan_domain::Fen;
use wugan_hub::bank_client::BankEndpoint;

/// How often a hospital's system sends one call before it gives up on an answer.
const MAX_TRIES: u32 = 60;

pub struct SimulateOptions {
    pub visits: usize,
    pub faults: f64,
    pub seed: u64,
    /// Crash and restart the hub after every this many completed steps (a step is one HIS call
    /// answered for good: a registration, a fee upload or a doctor's click).
    pub crash_every: Option<usize>,
    /// Visits in flight at once.
    pub concurrency: usize,
    pub progress: bool,
}

/// The run's findings. Everything but `seconds` and `settlements_per_second` is fixed by the
/// options: two runs with the same ones give the same report.
#[derive(Serialize, Default, Debug)]
pub struct Report {
    pub visits: usize,
    pub settled: usize,
    pub unpaid_bills: usize,
    /// Visits the hub could not settle: refused by insurance, or given up by the hospital's system.
    pub not_settled: usize,
    /// Hub and partner disagree on an amount, or a hold is left open.
    pub mismatches: usize,
    /// A visit charged (insurance or bank) more than once.
    pub double_charges: usize,
    /// Money a partner moved that the hub does not know of, or the hub booked without the partner.
    pub lost: usize,
    /// Settlements parked in the exceptions queue.
    pub exceptions: usize,
    /// Settlements left between two steps at the end (recovery ran until nothing moved).
    pub unfinished: usize,
    /// Bank lines open for the hub that no agreement of the hub names.
    pub orphan_lines: usize,
    /// Settlements whose recorded decline the bank never gave.
    pub phantom_declines: usize,
    pub ledger_balanced: bool,
    pub crashes: usize,
    /// HIS calls answered for good (what `crash_every` counts).
    pub steps: usize,
    /// Settlements the hub's own recovery moved on (after a crash, and at the end), not a HIS retry.
    pub recovered: usize,
    pub faults_injected: u64,
    pub partner_requests: u64,
    /// Why visits were not settled seamlessly, by step and error code.
    pub not_settled_reasons: BTreeMap<String, usize>,
    pub seconds: f64,
    pub settlements_per_second: f64,
    /// The day reconciled with the partners (`wugan reconcile`'s code path) before the final
    /// recovery, and what a second run after it still finds.
    pub reconciliation: crate::reconcile::SimulatedReconciliation,
    /// What the audit found, naming visits by their number (ids the hub and partners make up
    /// differ from run to run).
    pub details: Vec<String>,
}

/// An insured person of the run, and what tells their requests apart on the partners' wires.
struct Patient {
    certno: String,
    psn_no: String,
    /// The bank's id of their agreement, from their sign-up.
    bank_agreement_id: String,
}

/// Insured persons for the run: employees with accounts, residents without.
fn persons_file(dir: &Path, count: usize, rng: &mut XorShift) -> anyhow::Result<(PathBuf, Vec<Patient>)> {
    let path = dir.join("persons.jsonl");
    let mut file = std::fs::File::create(&path)?;
    let mut patients = Vec::with_capacity(count);
    for i in 0..count {
        let certno = format!("4403011980{:04}{:04}", (i / 10_000) % 10_000, i % 10_000);
        let psn_no = format!("4403009{:013}", i);
        let (insutype, psn_type, balc) = if i % 3 == 2 { ("390", "1501", 0) } else { ("310", "1101", (rng.next_u64() % 200_000) as i64) };
        let line = json!({"psn_no": psn_no, "certno": certno, "psn_name": format!("患者{i}"), "gend": "1",
                          "brdy": "1980-01-01", "insutype": insutype, "psn_type": psn_type, "insuplc_admdvs": "440300",
                          "balc": Fen(balc).to_yuan_string()});
        writeln!(file, "{line}")?;
        patients.push(Patient { certno, psn_no, bank_agreement_id: String::new() });
    }
    Ok((path, patients))
}

/// What one HIS call came to.
enum Attempt {
    Answered(Reply),
    /// The hub could not finish it now (a partner unavailable, the hub gone): send it again.
    Retry,
}

async fn attempt(his: &HisClient, path: &str, key: &str, body: &Value) -> Attempt {
    match his.post_with_key(path, key, body).await {
        Ok(r) if r.status == 409 && r.code() == Some("idempotency_in_progress") => {
            // Only a key a crashed hub left in progress answers this, until its lease ends.
            tokio::time::sleep(Duration::from_millis(250)).await;
            Attempt::Retry
        }
        Ok(r) if r.status == 503 || r.status == 502 => Attempt::Retry,
        Ok(r) => Attempt::Answered(r),
        Err(_) => Attempt::Retry,
    }
}

/// Sends a call with the same Idempotency-Key until the hub answers for good (a HIS's retry loop).
async fn until_answered(his: &HisClient, path: &str, key: &str, body: &Value) -> Option<Reply> {
    for _ in 0..MAX_TRIES {
        if let Attempt::Answered(r) = attempt(his, path, key, body).await {
            return Some(r);
        }
    }
    None
}

/// The calls a hospital's system makes for one visit, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Registration,
    FeeUpload,
    Settlement,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Registration => "registration",
            Step::FeeUpload => "fee upload",
            Step::Settlement => "settlement",
        }
    }
}

/// A visit as the hospital's system drives it: register, upload 3-6 lines, the doctor's click,
/// each call sent again with the same Idempotency-Key while the hub cannot finish it.
struct Visit {
    n: usize,
    patient: usize,
    step: Step,
    /// Tries of the current step so far.
    tries: u32,
    lines: Vec<Value>,
    /// The hub's and the insurance center's ids of the visit, from the registration's answer.
    visit_id: String,
    mdtrt_id: String,
}

/// Where a visit stands after a call.
enum Progress {
    /// The step is done; the next one comes.
    Next,
    /// The step is sent again.
    Again,
    /// The visit is over: settled, or why not.
    Done(Result<(), String>),
}

impl Visit {
    fn new(n: usize, patient: usize, seed: u64) -> Visit {
        let mut rng = XorShift::new(seed ^ (n as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
        let lines = crate::demo::visit_lines(&mut rng, &visit_number(n));
        Visit { n, patient, step: Step::Registration, tries: 0, lines, visit_id: String::new(), mdtrt_id: String::new() }
    }

    /// The current step's call: path, Idempotency-Key, body.
    fn call(&self, patients: &[Patient]) -> (String, String, Value) {
        let number = visit_number(self.n);
        match self.step {
            Step::Registration => (
                "/api/v1/visits".into(),
                format!("{number}-reg"),
                json!({"ipt_otp_no": number, "mdtrt_cert_type": "02", "mdtrt_cert_no": patients[self.patient].certno}),
            ),
            Step::FeeUpload => (format!("/api/v1/visits/{}/fees", self.visit_id), format!("{number}-fees"), json!({"lines": self.lines})),
            Step::Settlement => (format!("/api/v1/visits/{}/settlement", self.visit_id), format!("{number}-click"), json!({})),
        }
    }

    fn after(&mut self, attempt: Attempt) -> Progress {
        let reply = match attempt {
            Attempt::Retry if self.tries + 1 >= MAX_TRIES => return Progress::Done(Err(format!("{}: no answer", self.step.name()))),
            Attempt::Retry => {
                self.tries += 1;
                return Progress::Again;
            }
            Attempt::Answered(r) if !r.ok() => return Progress::Done(Err(format!("{}: {}", self.step.name(), r.code().unwrap_or("?")))),
            Attempt::Answered(r) => r,
        };
        self.tries = 0;
        match self.step {
            Step::Registration => {
                self.visit_id = reply.body["id"].as_str().unwrap_or_default().to_string();
                self.mdtrt_id = reply.body["mdtrt_id"].as_str().unwrap_or_default().to_string();
                self.step = Step::FeeUpload;
                Progress::Next
            }
            Step::FeeUpload => {
                self.step = Step::Settlement;
                Progress::Next
            }
            Step::Settlement => Progress::Done(Ok(())),
        }
    }
}

fn visit_number(n: usize) -> String {
    format!("SIM{n:08}")
}

pub async fn run(opts: SimulateOptions) -> anyhow::Result<Report> {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("wugan-simulate-{}-{}", std::process::id(), opts.seed));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = simulate_in(&dir, &opts, started).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The parties of a run and what the simulator knows of them.
struct Simulation {
    sys_opts: SystemOptions,
    sys: system::System,
    /// The hospital's system, speaking to the hub of the moment.
    his: Arc<HisClient>,
    actors: Arc<Actors>,
    patients: Vec<Patient>,
    /// Hub and partner ids → the visit or agreement they are, for the audit's details.
    names: HashMap<String, String>,
}

async fn simulate_in(dir: &Path, opts: &SimulateOptions, started: Instant) -> anyhow::Result<Report> {
    let mut rng = XorShift::new(opts.seed ^ 0x2545_F491_4F6C_DD1D);
    let (persons, patients) = persons_file(dir, (opts.visits / 10).clamp(10, 2_000), &mut rng)?;
    // The partners run for the whole simulation; only the hub crashes.
    let creds = Credentials::load_or_create(dir)?;
    let insurance_url = format!(
        "http://{}",
        system::spawn_server("127.0.0.1:0", system::builtin_insurance(Some(&persons), "440300", &creds.insurance_gateway)?).await?
    );
    let bank_url = format!(
        "http://{}",
        system::spawn_server("127.0.0.1:0", system::builtin_bank("BANK01", &creds.bank_key_id, &creds.bank_secret)).await?
    );
    let actors = Arc::new(Actors::default());
    let insurance_plan = Arc::new(FaultPlan::random(opts.faults, opts.seed ^ 0x1111).by_actor(actors.clone()));
    let bank_plan = Arc::new(FaultPlan::random(opts.faults, opts.seed ^ 0x2222).by_actor(actors.clone()));
    let mut sys_opts = SystemOptions::local(dir.to_path_buf());
    sys_opts.insurance_url = Some(insurance_url.clone());
    sys_opts.bank_url = Some(bank_url.clone());
    sys_opts.insurance_faults = Some(insurance_plan.clone());
    sys_opts.bank_faults = Some(bank_plan.clone());
    sys_opts.manual_recovery = true;
    let sys = system::start(&sys_opts).await?;
    let his = Arc::new(HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key));
    let mut sim = Simulation { sys_opts, sys, his, actors, patients, names: HashMap::new() };

    sign_up(&mut sim).await?;
    let mut report = Report { visits: opts.visits, ..Default::default() };
    let visits: VecDeque<Visit> =
        (0..opts.visits).map(|n| Visit::new(n, rng.below(sim.patients.len() as u64) as usize, opts.seed)).collect();
    run_visits(&mut sim, opts, visits, &mut report).await?;
    let today = crate::reconcile::today(&sim.sys.app);
    let first = sim.sys.app.reconcile_day(&today, &|_| {}).await.map_err(|e| anyhow::anyhow!("reconciliation: {e:?}"))?;
    let at_crashes = std::mem::take(&mut report.reconciliation.at_crashes);
    report.reconciliation =
        crate::reconcile::SimulatedReconciliation { at_crashes, ..crate::reconcile::SimulatedReconciliation::of(&first) };
    report.recovered += finish(&sim.sys).await?;
    let last = sim.sys.app.reconcile_day(&today, &|_| {}).await.map_err(|e| anyhow::anyhow!("reconciliation: {e:?}"))?;
    report.reconciliation.left_after_recovery = crate::reconcile::SimulatedReconciliation::mismatches_of(&last);
    let elapsed = started.elapsed().as_secs_f64();
    audit(&sim, &insurance_url, &bank_url, &mut report).await?;
    let (ri, fi) = insurance_plan.counts();
    let (rb, fb) = bank_plan.counts();
    report.partner_requests = ri + rb;
    report.faults_injected = fi + fb;
    report.seconds = (elapsed * 1000.0).round() / 1000.0;
    report.settlements_per_second = ((report.settled + report.unpaid_bills) as f64 / elapsed * 10.0).round() / 10.0;
    sim.sys.stop();
    Ok(report)
}

/// Everyone signs up once, one after another; two of three on a credit line, the rest with a debit card.
async fn sign_up(sim: &mut Simulation) -> anyhow::Result<()> {
    let operator = HisClient::new(&sim.sys.hub_url, &sim.sys.credentials.operator_api_key);
    for (i, patient) in sim.patients.iter_mut().enumerate() {
        sim.actors.assign(&[&patient.certno, &patient.psn_no], &format!("sign-up {i}"));
        let payment = if i % 3 == 1 {
            json!({"method": "debit_card", "bank_code": "BANK01", "card_no": format!("62220202{:011}", i)})
        } else {
            json!({"method": "credit_line", "bank_code": "BANK01"})
        };
        let body = json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": patient.certno, "use_personal_account": true, "payment": payment});
        let r = until_answered(&operator, "/api/v1/agreements", &format!("signup-{i}"), &body).await;
        let signed = r.as_ref().filter(|r| r.ok()).ok_or_else(|| anyhow::anyhow!("sign-up {i} failed: {r:?}"))?;
        patient.bank_agreement_id = signed.body["payment"]["bank_agreement_id"].as_str().unwrap_or_default().to_string();
        sim.names.insert(patient.bank_agreement_id.clone(), format!("patient {i}'s bank agreement"));
    }
    Ok(())
}

/// Runs the visits in lockstep rounds, crashing the hub between rounds every `crash_every` steps.
async fn run_visits(sim: &mut Simulation, opts: &SimulateOptions, mut queue: VecDeque<Visit>, report: &mut Report) -> anyhow::Result<()> {
    let mut active: Vec<Visit> = Vec::new();
    let every = opts.crash_every.map(|k| k.max(1));
    let mut finished = 0;
    let bar = crate::progress::bar(opts.progress, opts.visits as u64, "visits");
    while !queue.is_empty() || !active.is_empty() {
        admit(&mut queue, &mut active, opts.concurrency.max(1), sim);
        let attempts = round(&sim.his, &active, &sim.patients).await;
        let mut going = Vec::with_capacity(active.len());
        for (mut visit, attempt) in active.drain(..).zip(attempts) {
            match visit.after(attempt) {
                Progress::Again => going.push(visit),
                Progress::Next => {
                    report.steps += 1;
                    going.push(visit);
                }
                Progress::Done(outcome) => {
                    report.steps += 1;
                    finished += 1;
                    if let Err(reason) = outcome {
                        *report.not_settled_reasons.entry(reason).or_default() += 1;
                    }
                    for id in [&visit.visit_id, &visit.mdtrt_id].into_iter().filter(|id| !id.is_empty()) {
                        sim.names.insert(id.clone(), visit_number(visit.n));
                    }
                }
            }
        }
        active = going;
        crate::progress::advance_to(&bar, finished as u64);
        let work_left = !queue.is_empty() || !active.is_empty();
        if let Some(k) = every.filter(|k| work_left && report.steps / k > report.crashes) {
            report.recovered += crash(sim, report).await?;
            report.crashes = report.steps / k;
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// Starts queued visits in order while there is room. A patient already in a visit waits (their
/// later visits with them): a patient's visits run one after another, in the order queued.
fn admit(queue: &mut VecDeque<Visit>, active: &mut Vec<Visit>, room: usize, sim: &Simulation) {
    let mut i = 0;
    while active.len() < room && i < queue.len() {
        if active.iter().any(|v| v.patient == queue[i].patient) {
            i += 1;
            continue;
        }
        if let Some(visit) = queue.remove(i) {
            let p = &sim.patients[visit.patient];
            sim.actors.assign(&[&p.certno, &p.psn_no, &p.bank_agreement_id], &format!("visit {}", visit.n));
            active.push(visit);
        }
    }
}

/// One round: every visit in flight makes its current call, all at once; the round ends when the
/// last is answered. The answers come back in the visits' order.
async fn round(his: &Arc<HisClient>, active: &[Visit], patients: &[Patient]) -> Vec<Attempt> {
    let calls: Vec<_> = active
        .iter()
        .map(|visit| {
            let (path, key, body) = visit.call(patients);
            let his = his.clone();
            tokio::spawn(async move { attempt(&his, &path, &key, &body).await })
        })
        .collect();
    let mut attempts = Vec::with_capacity(calls.len());
    for call in calls {
        attempts.push(call.await.unwrap_or(Attempt::Retry));
    }
    attempts
}

/// The hub stops at once and starts again on the same database, as after a crash: no call is in
/// flight, but settlements whose last partner reply was lost or refused are left mid-saga. The
/// hospital's system sends those calls again, with the same keys, after the restart's recovery.
/// Before that recovery the day is reconciled, so that what the faults left in doubt shows up as
/// differences and is resolved by the reconciliation itself.
async fn crash(sim: &mut Simulation, report: &mut Report) -> anyhow::Result<usize> {
    sim.sys.stop();
    sim.sys = system::start(&sim.sys_opts).await?;
    sim.his = Arc::new(HisClient::new(&sim.sys.hub_url, &sim.sys.credentials.hospitals[0].api_key));
    let today = crate::reconcile::today(&sim.sys.app);
    let run = sim.sys.app.reconcile_day(&today, &|_| {}).await.map_err(|e| anyhow::anyhow!("reconciliation: {e:?}"))?;
    report.reconciliation.at_crashes.add(&run);
    Ok(recover(&sim.sys).await)
}

/// The hub's recovery pass (what its worker does on a timer), run at a point the seed fixes.
/// Returns how many settlements it moved on.
async fn recover(sys: &system::System) -> usize {
    let resumed = sys.app.resume_unfinished(Duration::ZERO).await.unwrap_or_else(|e| {
        tracing::warn!(code = e.code(), "recovery pass failed");
        0
    });
    if let Err(e) = sys.app.sync_bank_events().await {
        tracing::warn!(code = e.code(), "bank events not read");
    }
    resumed
}

/// Whatever is still between steps is finished by recovery passes, as after an outage.
/// Returns how many settlements they moved on.
async fn finish(sys: &system::System) -> anyhow::Result<usize> {
    let mut recovered = 0;
    for _ in 0..50 {
        recovered += recover(sys).await;
        let left = sys
            .app
            .store
            .settlements_for_audit()
            .await?
            .iter()
            .filter(|(s, _, _)| !s.state.is_final() && s.parked_reason.is_none())
            .count();
        if left == 0 {
            break;
        }
    }
    Ok(recovered)
}

/// Compares the hub's records with each partner's own.
async fn audit(sim: &Simulation, insurance_url: &str, bank_url: &str, report: &mut Report) -> anyhow::Result<()> {
    let sys = &sim.sys;
    let name = |id: &str| sim.names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let hub = sys.app.store.settlements_for_audit().await?;
    let ledger = sys.app.store.ledger_report().await?;
    report.ledger_balanced = ledger.balanced;
    report.exceptions = hub.iter().filter(|(s, _, _)| s.parked_reason.is_some()).count();

    // The insurance center's own settlements (read directly, not through the faulty wire).
    let sandbox = reqwest::Client::new().get(format!("{insurance_url}/sandbox/settlements"));
    let sandbox = sandbox.bearer_auth(&sys.credentials.insurance_gateway.operator_token).send().await?;
    let theirs: Vec<Value> = sandbox.error_for_status()?.json().await?;
    let mut live_by_mdtrt: HashMap<String, Vec<&Value>> = HashMap::new();
    for t in theirs.iter().filter(|t| t["cancelled"] != json!(true)) {
        live_by_mdtrt.entry(t["mdtrt_id"].as_str().unwrap_or_default().to_string()).or_default().push(t);
    }
    let yuan = |v: &Value, f: &str| Fen::from_json_yuan(&v[f]).ok().flatten().unwrap_or_default();
    let mut hub_mdtrt = std::collections::HashSet::new();
    for (s, mdtrt_id, _) in &hub {
        match s.state {
            SettlementState::Settled => report.settled += 1,
            SettlementState::SettledUnpaid => report.unpaid_bills += 1,
            state if !state.is_final() && s.parked_reason.is_none() => {
                report.unfinished += 1;
                report.details.push(format!("the settlement of {} is still {}", name(&s.visit_id), state.as_str()));
            }
            _ => {}
        }
        let live = live_by_mdtrt.get(mdtrt_id).map(Vec::as_slice).unwrap_or(&[]);
        if live.len() > 1 {
            report.double_charges += 1;
            report.details.push(format!("insurance settled {} {} times", name(mdtrt_id), live.len()));
        }
        let booked = matches!(s.state, SettlementState::Settled | SettlementState::SettledUnpaid);
        match (booked, live.first(), s.split) {
            (true, Some(t), Some(split))
                if yuan(t, "fund_pay_sumamt") != split.fund
                    || yuan(t, "acct_pay") != split.personal_account
                    || yuan(t, "psn_cash_pay") != split.cash =>
            {
                report.mismatches += 1;
                report.details.push(format!("the settlement of {} differs from insurance's", name(&s.visit_id)));
            }
            (true, Some(_), Some(_)) => {}
            (true, None, _) => {
                report.lost += 1;
                report.details.push(format!("hub booked {} but insurance has no settlement", name(&s.visit_id)));
            }
            (false, Some(_), _) if s.parked_reason.is_none() => {
                report.lost += 1;
                report.details.push(format!("insurance settled {}; the hub's settlement is {}", name(mdtrt_id), s.state.as_str()));
            }
            _ => {}
        }
        hub_mdtrt.insert(mdtrt_id.clone());
    }
    for mdtrt in live_by_mdtrt.keys().filter(|m| !hub_mdtrt.contains(*m)) {
        report.lost += 1;
        report.details.push(format!("insurance settled {} that the hub never settled", name(mdtrt)));
    }
    report.not_settled = report.visits.saturating_sub(report.settled + report.unpaid_bills);

    // The bank's own operations, per agreement, against the hub's ledger account for it.
    let mut hub_by_agreement: BTreeMap<String, Fen> = BTreeMap::new();
    for (code, agreement) in sys.app.store.bank_agreements().await? {
        let account = accounts::bank_agreement(&code, &agreement);
        let hub_net = ledger.accounts.get(&account).map(|a| a.debits_posted - a.credits_posted).unwrap_or_default();
        hub_by_agreement.insert(agreement.clone(), hub_net);
        // Straight to the bank, not through the faulty wire.
        let endpoint = sys.app.banks.get(&code).ok_or_else(|| anyhow::anyhow!("no bank {code}"))?.endpoint.clone();
        let bank = wugan_hub::bank_client::BankClient::new(BankEndpoint { url: bank_url.to_string(), ..endpoint }, Duration::from_secs(10));
        let ops = bank.operations(&agreement).await.map_err(|e| anyhow::anyhow!("bank operations: {e}"))?;
        let mut captured = Fen::ZERO;
        let mut captures_per_settlement: HashMap<String, usize> = HashMap::new();
        let mut open_holds = 0;
        for op in &ops {
            match (op.kind, op.status) {
                (OperationKind::Capture | OperationKind::Charge, OperationStatus::Captured) => {
                    captured += op.amount_fen;
                    // A capture closes its hold; a charge (a hold and its capture at once) had none.
                    open_holds -= i32::from(op.kind == OperationKind::Capture);
                    let settlement = op.request_id.split(':').next().unwrap_or_default().to_string();
                    *captures_per_settlement.entry(settlement).or_default() += 1;
                }
                (OperationKind::Void, OperationStatus::Voided) | (OperationKind::Expiry, _) => open_holds -= 1,
                (OperationKind::Refund, OperationStatus::Refunded) => captured -= op.amount_fen,
                (OperationKind::Authorization, OperationStatus::Approved) => open_holds += 1,
                _ => {}
            }
        }
        if captured != hub_net {
            report.mismatches += 1;
            report.details.push(format!("{}: bank captured {captured}, hub booked {hub_net}", name(&agreement)));
        }
        if open_holds > 0 {
            report.mismatches += 1;
            report.details.push(format!("{}: {open_holds} hold(s) left open at the bank", name(&agreement)));
        }
        report.double_charges += captures_per_settlement.values().filter(|n| **n > 1).count();
        // Every decline the hub recorded is one the bank gave, on that settlement's own requests.
        for (s, _, _) in hub.iter().filter(|(s, _, _)| s.decline_code.is_some()) {
            let given = ops.iter().any(|op| {
                op.request_id.starts_with(&format!("{}:", s.id)) && op.decline_code.as_ref().map(|c| c.to_string()) == s.decline_code
            });
            let refused_capture = ops.iter().any(|op| op.request_id == format!("{}:capture", s.id));
            if ops.iter().any(|op| op.request_id.starts_with(&format!("{}:", s.id))) && !given && !refused_capture {
                report.phantom_declines += 1;
                report.details.push(format!("{}: declined {:?}, a reason the bank never gave", name(&s.visit_id), s.decline_code));
            }
        }
    }
    // Lines the bank keeps for the hub that no agreement of the hub names (straight to the bank).
    for (code, bank) in sys.app.banks.all() {
        let bank = wugan_hub::bank_client::BankClient::new(
            BankEndpoint { url: bank_url.to_string(), ..bank.endpoint.clone() },
            Duration::from_secs(10),
        );
        let known: std::collections::HashSet<String> =
            sys.app.store.bank_agreements().await?.into_iter().filter(|(c, _)| *c == code).map(|(_, a)| a).collect();
        let mut after: Option<String> = None;
        loop {
            let page = bank.active_agreements(after.as_deref()).await.map_err(|e| anyhow::anyhow!("bank agreements: {e}"))?;
            for line in page.agreements.iter().filter(|l| !known.contains(&l.agreement_id)) {
                report.orphan_lines += 1;
                report.details.push(format!(
                    "bank line {} ({}) belongs to no agreement of the hub",
                    name(&line.agreement_id),
                    line.customer_ref
                ));
            }
            match page.next_after {
                Some(next) if !page.agreements.is_empty() => after = Some(next),
                _ => break,
            }
        }
    }
    // In a fixed order, whatever order the hub and partners list things in.
    report.details.sort();
    report.details.truncate(50);
    Ok(())
}

pub async fn main(opts: SimulateOptions, as_json: bool) -> anyhow::Result<()> {
    let r = run(opts).await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("visits {}  settled {}  unpaid bills {}  not settled {}", r.visits, r.settled, r.unpaid_bills, r.not_settled);
        println!(
            "mismatches {}  double charges {}  lost {}  exceptions {}  ledger balanced {}",
            r.mismatches, r.double_charges, r.lost, r.exceptions, r.ledger_balanced
        );
        println!("unfinished {}  orphan bank lines {}  declines the bank never gave {}", r.unfinished, r.orphan_lines, r.phantom_declines);
        println!("faults injected {} of {} partner requests; crashes {}", r.faults_injected, r.partner_requests, r.crashes);
        println!("{:.1} s, {:.1} settlements/s", r.seconds, r.settlements_per_second);
        for (reason, n) in &r.not_settled_reasons {
            println!("  not settled: {n} × {reason}");
        }
        for d in &r.details {
            println!("  {d}");
        }
        let c = &r.reconciliation;
        println!(
            "reconciliation: insurance {}/{} matched, banks {}/{}, hospitals {}/{}; {} resolved, {} left after recovery; \
             at the {} crashes: {} differences found, {} resolved there",
            c.insurance.matched,
            c.insurance.records,
            c.banks.matched,
            c.banks.records,
            c.hospitals.matched,
            c.hospitals.records,
            c.insurance.resolved + c.banks.resolved + c.hospitals.resolved,
            c.left_after_recovery,
            c.at_crashes.runs,
            c.at_crashes.mismatches,
            c.at_crashes.resolved
        );
    }
    let left = r.reconciliation.left_after_recovery as usize;
    if r.mismatches + r.double_charges + r.lost + r.unfinished + r.orphan_lines + r.phantom_declines + left > 0 || !r.ledger_balanced {
        anyhow::bail!("the books do not agree");
    }
    Ok(())
}
