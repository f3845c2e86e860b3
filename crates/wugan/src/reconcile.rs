//! `wugan reconcile --date YYYY-MM-DD`: asks a running hub (`wugan serve`) to reconcile a business
//! day (`POST /api/v1/reconciliations`, an operator key from the data folder's credentials.json or
//! `WUGAN_API_KEY`) and prints per partner: records, matched, in transit, mismatches, resolved,
//! exceptions, then each exception with its evidence. `--json` prints the hub's answer as it is.
//!
//! `wugan bench reconcile --settlements N`: times the pure matcher (`wugan_domain::reconcile`) on a
//! generated day of N settlements against a partner file in another order, with a few of every
//! kind of difference.

use anyhow::Context;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use wugan_domain::reconcile::{self, Class};

pub struct ReconcileOptions {
    pub date: String,
    pub hub_url: String,
    pub api_key: String,
    /// Draw a bar on stderr while the hub works (a terminal, no `--json`).
    pub progress: bool,
    /// How long to wait for the hub: a day of many settlements takes a while.
    pub timeout: Duration,
}

/// The operator key `wugan serve` wrote into the data folder.
pub fn operator_key(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("credentials.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("no operator key: cannot read {} (--api-key or WUGAN_API_KEY)", path.display()))?;
    let creds: crate::system::Credentials = serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
    Ok(creds.operator_api_key)
}

/// Asks the hub to reconcile the day; answers its report (the API's `Reconciliation`).
pub async fn run(opts: &ReconcileOptions) -> anyhow::Result<Value> {
    let bar = crate::progress::bar(opts.progress, 1, "days");
    bar.set_message(format!("reconciling {}", opts.date));
    let http = reqwest::Client::builder().timeout(opts.timeout).build()?;
    let url = format!("{}/api/v1/reconciliations", opts.hub_url.trim_end_matches('/'));
    let reply = http
        .post(&url)
        .bearer_auth(&opts.api_key)
        .header("idempotency-key", run_key(&opts.date))
        .json(&serde_json::json!({"date": opts.date}))
        .send()
        .await
        .with_context(|| format!("the hub at {} did not answer", opts.hub_url))?;
    let status = reply.status();
    let body: Value = reply.json().await.context("the hub's answer is not JSON")?;
    bar.finish_and_clear();
    anyhow::ensure!(status.is_success(), "the hub refused ({status}): {}", body["error"]);
    Ok(body)
}

/// A fresh Idempotency-Key per run: reconciling a day again is a new run, by design.
fn run_key(date: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("reconcile-{date}-{nanos}-{}", std::process::id())
}

/// The report as a table, then the exceptions.
pub fn render(report: &Value) -> String {
    let mut out = format!("reconciliation of {}\n", report["date"].as_str().unwrap_or("?"));
    out.push_str(&format!(
        "{:<16}{:>9}{:>9}{:>12}{:>12}{:>10}{:>12}\n",
        "partner", "records", "matched", "in transit", "mismatches", "resolved", "exceptions"
    ));
    let mut row = |name: &str, p: &Value| {
        let n = |k: &str| p[k].as_u64().unwrap_or(0);
        out.push_str(&format!(
            "{name:<16}{:>9}{:>9}{:>12}{:>12}{:>10}{:>12}\n",
            n("records"),
            n("matched"),
            n("in_transit"),
            n("mismatches"),
            n("resolved"),
            n("exceptions")
        ));
    };
    row("insurance", &report["insurance"]);
    for (code, bank) in report["banks"]["by_bank"].as_object().into_iter().flatten() {
        row(&format!("bank {code}"), bank);
    }
    row("hospitals", &report["hospitals"]);
    let exceptions = report["exceptions"].as_array().cloned().unwrap_or_default();
    if exceptions.is_empty() {
        out.push_str("no exceptions\n");
    }
    for e in exceptions {
        let text = |k: &str| e[k].as_str().unwrap_or("-").to_string();
        out.push_str(&format!("exception {} {} {}: {}\n", text("partner"), text("class"), text("key"), text("note")));
        out.push_str(&format!("  hub: {}; partner: {}\n", text("hub_evidence"), text("partner_evidence")));
    }
    out
}

/// The reconciliation `wugan simulate` ends with: its day reconciled through the hub's own code
/// path while the faults' traces are still there (before the final recovery), then once more after
/// it, when nothing may be left.
#[derive(Debug, Default, serde::Serialize)]
pub struct SimulatedReconciliation {
    pub insurance: wugan_hub::app::PartnerReconciliation,
    pub banks: wugan_hub::app::PartnerReconciliation,
    pub hospitals: wugan_hub::app::PartnerReconciliation,
    /// Differences the second run, after the final recovery, still finds (must be 0).
    pub left_after_recovery: u64,
    /// Runs at each crash, after the restart and before the hub's recovery pass: what the faults
    /// left in doubt shows up there as differences, and is resolved there (a status query, or the
    /// hub's own in-doubt settlement resumed).
    pub at_crashes: CrashReconciliation,
}

/// The reconciliation runs made at the simulation's crashes, summed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CrashReconciliation {
    pub runs: u64,
    /// Differences found, every partner.
    pub mismatches: u64,
    /// Of those, resolved by that run.
    pub resolved: u64,
    /// Of those, left for an operator by that run (the final runs say what is still left).
    pub exceptions: u64,
}

impl CrashReconciliation {
    pub fn add(&mut self, view: &wugan_hub::app::ReconciliationView) {
        self.runs += 1;
        for p in [&view.insurance, &view.banks.total, &view.hospitals] {
            self.mismatches += p.mismatches;
            self.resolved += p.resolved;
            self.exceptions += p.exceptions;
        }
    }
}

impl SimulatedReconciliation {
    /// The first run; `left_after_recovery` is set from the second.
    pub fn of(view: &wugan_hub::app::ReconciliationView) -> SimulatedReconciliation {
        let (insurance, hospitals) = (view.insurance.clone(), view.hospitals.clone());
        SimulatedReconciliation { insurance, banks: view.banks.total.clone(), hospitals, ..Default::default() }
    }

    /// Differences a run found, whatever became of them.
    pub fn mismatches_of(view: &wugan_hub::app::ReconciliationView) -> u64 {
        view.insurance.mismatches + view.banks.total.mismatches + view.hospitals.mismatches
    }
}

/// Today's business day (China time) by the hub's clock.
pub fn today(app: &wugan_hub::app::App) -> String {
    wugan_hub::clock::china_datetime_of(app.store.clock.now_utc()).get(..10).unwrap_or_default().to_string()
}

/// What `wugan bench reconcile` measured.
#[derive(Debug, serde::Serialize)]
pub struct BenchReport {
    pub settlements: usize,
    pub records: u64,
    pub matched: u64,
    pub mismatches: u64,
    pub in_transit: u64,
    /// The matcher alone (both sorts and the merge), generation excluded.
    pub match_seconds: f64,
    pub settlements_per_second: f64,
    /// The machine's 1-minute load average when the run ended (Linux), to read the figure by.
    pub load_average: Option<f64>,
}

/// Times the matcher on `wugan_domain::reconcile::generated_day` (generation excluded).
pub fn bench(settlements: usize, seed: u64) -> BenchReport {
    let (day, hub, partner) = reconcile::generated_day(settlements, seed);
    let started = Instant::now();
    let report = reconcile::reconcile(day, hub, partner);
    let match_seconds = started.elapsed().as_secs_f64();
    BenchReport {
        settlements,
        records: report.records,
        matched: report.matched,
        mismatches: report.mismatches.len() as u64,
        in_transit: report.count(Class::InTransit),
        match_seconds,
        settlements_per_second: settlements as f64 / match_seconds.max(1e-9),
        load_average: std::fs::read_to_string("/proc/loadavg").ok().and_then(|t| t.split_whitespace().next()?.parse().ok()),
    }
}

impl BenchReport {
    pub fn render(&self) -> String {
        format!(
            "reconciled {} settlements ({} records: {} matched, {} mismatches, {} in transit) in {:.3} s: {:.0} settlements/s (load average {})\n",
            self.settlements,
            self.records,
            self.matched,
            self.mismatches,
            self.in_transit,
            self.match_seconds,
            self.settlements_per_second,
            self.load_average.map_or("unknown".to_string(), |l| format!("{l:.2}"))
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bench_day_has_every_kind_of_record_and_counts_add_up() {
        let r = super::bench(20_000, 7);
        assert_eq!(r.settlements, 20_000);
        assert!(r.mismatches > 0 && r.matched > 19_000, "{r:?}");
        assert!(r.in_transit > 0, "some hub records fall in the last five minutes: {r:?}");
        assert_eq!(r.matched + r.mismatches + r.in_transit, r.records, "{r:?}");
    }
}
