//! `wugan simulate`: many visits through the HIS API while both partners' wires fail at a rate
//! (refused, reply lost after the work was done, delivered twice), optionally crashing the hub
//! mid-flight; then the hub's books are compared with the bank's and the insurance center's *own*
//! records, read through their own APIs.

use crate::faults::FaultPlan;
use crate::his::{HisClient, Reply};
use crate::rng::XorShift;
use crate::system::{self, Credentials, SystemOptions};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wugan_bank::wire::{OperationKind, OperationStatus};
use wugan_domain::settlement::{accounts, SettlementState};
use wugan_domain::Fen;
use wugan_hub::bank_client::BankEndpoint;

pub struct SimulateOptions {
    pub visits: usize,
    pub faults: f64,
    pub seed: u64,
    /// Restart the hub (as a crash) after every this many visits.
    pub crash_every: Option<usize>,
    /// Visits in flight at once.
    pub concurrency: usize,
    pub progress: bool,
}

#[derive(Serialize, Default, Debug)]
pub struct Report {
    pub visits: usize,
    pub settled: usize,
    pub unpaid_bills: usize,
    /// Visits the hub could not settle: refused by insurance, or cut short by a crash before settling.
    pub not_settled: usize,
    /// Hub and partner disagree on an amount, or a hold is left open.
    pub mismatches: usize,
    /// A visit charged (insurance or bank) more than once.
    pub double_charges: usize,
    /// Money a partner moved that the hub does not know of, or the hub booked without the partner.
    pub lost: usize,
    /// Settlements parked in the exceptions queue.
    pub exceptions: usize,
    pub ledger_balanced: bool,
    pub crashes: usize,
    pub faults_injected: u64,
    pub partner_requests: u64,
    /// Why visits were not settled seamlessly, by step and error code.
    pub not_settled_reasons: BTreeMap<String, usize>,
    pub seconds: f64,
    pub settlements_per_second: f64,
    pub details: Vec<String>,
}

/// Insured persons for the run: employees with accounts, residents without.
fn persons_file(dir: &std::path::Path, count: usize, rng: &mut XorShift) -> anyhow::Result<(std::path::PathBuf, Vec<String>)> {
    let path = dir.join("persons.jsonl");
    let mut file = std::fs::File::create(&path)?;
    let mut certnos = Vec::with_capacity(count);
    for i in 0..count {
        let certno = format!("4403011980{:04}{:04}", (i / 10_000) % 10_000, i % 10_000);
        let (insutype, psn_type, balc) = if i % 3 == 2 { ("390", "1501", 0) } else { ("310", "1101", (rng.next_u64() % 200_000) as i64) };
        let line = json!({"psn_no": format!("4403009{:013}", i), "certno": certno, "psn_name": format!("患者{i}"), "gend": "1",
                          "brdy": "1980-01-01", "insutype": insutype, "psn_type": psn_type, "insuplc_admdvs": "440300",
                          "balc": Fen(balc).to_yuan_string()});
        writeln!(file, "{line}")?;
        certnos.push(certno);
    }
    Ok((path, certnos))
}

/// Retries with the same Idempotency-Key while the hub answers "partner unavailable" (a HIS's retry loop).
/// A request left in progress by a crashed hub is taken over after the hub's idempotency lease.
async fn until_answered(his: &HisClient, path: &str, key: &str, body: &Value) -> Option<Reply> {
    for attempt in 0..60u64 {
        let pause = match his.post_with_key(path, key, body).await {
            Ok(r) if r.status == 409 && r.code() == Some("idempotency_in_progress") => Duration::from_millis(250),
            Ok(r) if r.status == 503 || r.status == 502 => Duration::from_millis((2 * attempt).min(50)),
            Ok(r) => return Some(r),
            Err(_) => return None, // the hub is gone (a crash): the visit is retried after the restart
        };
        tokio::time::sleep(pause).await;
    }
    None
}

/// One visit: register, upload 3-6 lines, the doctor's click. `Err` says where and why it stopped.
async fn one_visit(his: Arc<HisClient>, n: usize, certno: String, seed: u64) -> Result<(), String> {
    let mut rng = XorShift::new(seed ^ (n as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let visit_no = format!("SIM{n:08}");
    let answered = |step: &str, r: Option<Reply>| match r {
        Some(r) if r.ok() => Ok(r),
        Some(r) => Err(format!("{step}: {}", r.code().unwrap_or("?"))),
        None => Err(format!("{step}: no answer")),
    };
    let reg = until_answered(
        &his,
        "/api/v1/visits",
        &format!("{visit_no}-reg"),
        &json!({"ipt_otp_no": visit_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": certno}),
    )
    .await;
    let reg = answered("registration", reg)?;
    let visit_id = reg.body["id"].as_str().unwrap_or_default().to_string();
    let lines = crate::demo::visit_lines(&mut rng, &visit_no);
    let up = until_answered(&his, &format!("/api/v1/visits/{visit_id}/fees"), &format!("{visit_no}-fees"), &json!({"lines": lines})).await;
    answered("fee upload", up)?;
    let settled = until_answered(&his, &format!("/api/v1/visits/{visit_id}/settlement"), &format!("{visit_no}-click"), &json!({})).await;
    answered("settlement", settled).map(|_| ())
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

async fn simulate_in(dir: &std::path::Path, opts: &SimulateOptions, started: Instant) -> anyhow::Result<Report> {
    let mut rng = XorShift::new(opts.seed ^ 0x2545_F491_4F6C_DD1D);
    let patients = (opts.visits / 10).clamp(10, 2_000);
    let (persons, certnos) = persons_file(dir, patients, &mut rng)?;
    // The partners run for the whole simulation; only the hub crashes.
    let creds = Credentials::load_or_create(dir)?;
    let insurance_url =
        format!("http://{}", system::spawn_server("127.0.0.1:0", system::builtin_insurance(Some(&persons), "440300")?).await?);
    let bank_url = format!(
        "http://{}",
        system::spawn_server("127.0.0.1:0", system::builtin_bank("BANK01", &creds.bank_key_id, &creds.bank_secret)).await?
    );
    let insurance_plan = Arc::new(FaultPlan::random(opts.faults, opts.seed ^ 0x1111));
    let bank_plan = Arc::new(FaultPlan::random(opts.faults, opts.seed ^ 0x2222));
    let mut sys_opts = SystemOptions::local(dir.to_path_buf());
    sys_opts.insurance_url = Some(insurance_url.clone());
    sys_opts.bank_url = Some(bank_url.clone());
    sys_opts.insurance_faults = Some(insurance_plan.clone());
    sys_opts.bank_faults = Some(bank_plan.clone());
    let mut sys = system::start(&sys_opts).await?;

    // Everyone signs up once; two of three on a credit line, the rest with a debit card.
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    for (i, certno) in certnos.iter().enumerate() {
        let payment = if i % 3 == 1 {
            json!({"method": "debit_card", "bank_code": "BANK01", "card_no": format!("62220202{:011}", i)})
        } else {
            json!({"method": "credit_line", "bank_code": "BANK01"})
        };
        let body = json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": certno, "use_personal_account": true, "payment": payment});
        let r = until_answered(&operator, "/api/v1/agreements", &format!("signup-{i}"), &body).await;
        anyhow::ensure!(r.as_ref().map(|r| r.ok()).unwrap_or(false), "sign-up {i} failed: {r:?}");
    }

    let mut report = Report { visits: opts.visits, ..Default::default() };
    let completed = Arc::new(AtomicUsize::new(0));
    let mut queue: std::collections::VecDeque<(usize, String)> =
        (0..opts.visits).map(|n| (n, certnos[(rng.next_u64() % certnos.len() as u64) as usize].clone())).collect();
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    let max_crashes = opts.crash_every.map(|k| opts.visits / k.max(1)).unwrap_or(0);
    while !queue.is_empty() {
        let take = opts.crash_every.unwrap_or(queue.len()).clamp(1, queue.len());
        let batch: Vec<(usize, String)> = queue.drain(..take).collect();
        let finished = Arc::new(std::sync::Mutex::new(HashMap::new()));
        let his = Arc::new(HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key));
        let semaphore = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for (n, certno) in batch.iter().cloned() {
            let (his, completed, finished, semaphore) = (his.clone(), completed.clone(), finished.clone(), semaphore.clone());
            let seed = opts.seed;
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                let outcome = one_visit(his, n, certno, seed).await;
                finished.lock().unwrap_or_else(|p| p.into_inner()).insert(n, outcome);
                completed.fetch_add(1, Ordering::Relaxed);
            });
        }
        if opts.crash_every.is_some() && !queue.is_empty() && report.crashes < max_crashes {
            // Let about half the batch through, then crash the hub with the rest in flight.
            while finished.lock().unwrap_or_else(|p| p.into_inner()).len() < batch.len() / 2 {
                tokio::time::sleep(Duration::from_millis(2)).await;
                show_progress(opts, &completed);
            }
            sys.stop();
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            report.crashes += 1;
            sys = system::start(&sys_opts).await?; // resumes what the crash left between steps
                                                   // The hospital's system retries what the crash cut short, with the same keys.
            let mut finished = finished.lock().unwrap_or_else(|p| p.into_inner());
            finished.retain(|_, outcome| !matches!(outcome, Err(e) if e.ends_with("no answer")));
            for visit in batch.into_iter().rev().filter(|(n, _)| !finished.contains_key(n)) {
                queue.push_front(visit);
            }
            collect_failures(&finished, &mut failures);
        } else {
            while tasks.join_next().await.is_some() {
                show_progress(opts, &completed);
            }
            collect_failures(&finished.lock().unwrap_or_else(|p| p.into_inner()), &mut failures);
        }
    }
    report.not_settled_reasons = failures;
    if opts.progress {
        eprintln!();
    }

    // Whatever is still between steps is finished by the recovery worker, as after an outage.
    for _ in 0..50 {
        sys.app.resume_unfinished(Duration::ZERO).await.ok();
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
    let elapsed = started.elapsed().as_secs_f64();
    audit(&sys, &insurance_url, &bank_url, &mut report).await?;
    let (ri, fi) = insurance_plan.counts();
    let (rb, fb) = bank_plan.counts();
    report.partner_requests = ri + rb;
    report.faults_injected = fi + fb;
    report.seconds = (elapsed * 1000.0).round() / 1000.0;
    report.settlements_per_second = ((report.settled + report.unpaid_bills) as f64 / elapsed * 10.0).round() / 10.0;
    sys.stop();
    Ok(report)
}

fn collect_failures(finished: &HashMap<usize, Result<(), String>>, into: &mut BTreeMap<String, usize>) {
    for reason in finished.values().filter_map(|o| o.as_ref().err()) {
        *into.entry(reason.clone()).or_default() += 1;
    }
}

fn show_progress(opts: &SimulateOptions, done: &AtomicUsize) {
    if opts.progress {
        let d = done.load(Ordering::Relaxed);
        let width = 40;
        let filled = d * width / opts.visits.max(1);
        eprint!("\r[{}{}] {d}/{}", "#".repeat(filled), ".".repeat(width - filled), opts.visits);
    }
}

/// Compares the hub's records with each partner's own.
async fn audit(sys: &system::System, insurance_url: &str, bank_url: &str, report: &mut Report) -> anyhow::Result<()> {
    let hub = sys.app.store.settlements_for_audit().await?;
    let ledger = sys.app.store.ledger_report().await?;
    report.ledger_balanced = ledger.balanced;
    report.exceptions = hub.iter().filter(|(s, _, _)| s.parked_reason.is_some()).count();

    // The insurance center's own settlements (read directly, not through the faulty wire).
    let theirs: Vec<Value> = reqwest::get(format!("{insurance_url}/sandbox/settlements")).await?.json().await?;
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
            _ => {}
        }
        let live = live_by_mdtrt.get(mdtrt_id).map(Vec::as_slice).unwrap_or(&[]);
        if live.len() > 1 {
            report.double_charges += 1;
            report.details.push(format!("insurance settled visit {mdtrt_id} {} times", live.len()));
        }
        let booked = matches!(s.state, SettlementState::Settled | SettlementState::SettledUnpaid);
        match (booked, live.first(), s.split) {
            (true, Some(t), Some(split))
                if yuan(t, "fund_pay_sumamt") != split.fund
                    || yuan(t, "acct_pay") != split.personal_account
                    || yuan(t, "psn_cash_pay") != split.cash =>
            {
                report.mismatches += 1;
                report.details.push(format!("settlement {} differs from insurance {}", s.id, t["setl_id"]));
            }
            (true, Some(_), Some(_)) => {}
            (true, None, _) => {
                report.lost += 1;
                report.details.push(format!("hub booked {} but insurance has no settlement", s.id));
            }
            (false, Some(_), _) if s.parked_reason.is_none() => {
                report.lost += 1;
                report.details.push(format!("insurance settled visit {mdtrt_id}; the hub's settlement is {}", s.state.as_str()));
            }
            _ => {}
        }
        hub_mdtrt.insert(mdtrt_id.clone());
    }
    for mdtrt in live_by_mdtrt.keys().filter(|m| !hub_mdtrt.contains(*m)) {
        report.lost += 1;
        report.details.push(format!("insurance settled visit {mdtrt} that the hub never settled"));
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
                (OperationKind::Capture, OperationStatus::Captured) => {
                    captured += op.amount_fen;
                    open_holds -= 1;
                    let settlement = op.request_id.split(':').next().unwrap_or_default().to_string();
                    *captures_per_settlement.entry(settlement).or_default() += 1;
                }
                (OperationKind::Void, OperationStatus::Voided) => open_holds -= 1,
                (OperationKind::Refund, OperationStatus::Refunded) => captured -= op.amount_fen,
                (OperationKind::Authorization, OperationStatus::Approved) => open_holds += 1,
                _ => {}
            }
        }
        if captured != hub_net {
            report.mismatches += 1;
            report.details.push(format!("agreement {agreement}: bank captured {captured}, hub booked {hub_net}"));
        }
        if open_holds > 0 {
            report.mismatches += 1;
            report.details.push(format!("agreement {agreement}: {open_holds} hold(s) left open at the bank"));
        }
        report.double_charges += captures_per_settlement.values().filter(|n| **n > 1).count();
    }
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
        println!("faults injected {} of {} partner requests; crashes {}", r.faults_injected, r.partner_requests, r.crashes);
        println!("{:.1} s, {:.1} settlements/s", r.seconds, r.settlements_per_second);
        for (reason, n) in &r.not_settled_reasons {
            println!("  not settled: {n} × {reason}");
        }
        for d in &r.details {
            println!("  {d}");
        }
    }
    if r.mismatches + r.double_charges + r.lost > 0 || !r.ledger_balanced {
        anyhow::bail!("the books do not agree");
    }
    Ok(())
}
