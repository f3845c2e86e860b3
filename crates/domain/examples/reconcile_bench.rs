//! The reconciliation matcher on a generated day, timed (the figure `wugan bench reconcile`
//! reports, without building the whole binary):
//! `cargo run --release -p wugan-domain --example reconcile_bench -- 1000000`.

use std::time::Instant;
use wugan_domain::reconcile::{generated_day, reconcile, Class};

fn main() {
    let settlements: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let (day, hub, partner) = generated_day(settlements, 1);
    let started = Instant::now();
    let report = reconcile(day, hub, partner);
    let seconds = started.elapsed().as_secs_f64();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "reconciled {settlements} settlements ({} records: {} matched, {} mismatches, {} in transit) in {seconds:.3} s; load average {}",
        report.records,
        report.matched,
        report.mismatches.len(),
        report.count(Class::InTransit),
        load.split_whitespace().next().unwrap_or("unknown")
    );
}
