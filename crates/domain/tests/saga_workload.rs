//! Thousands of seeded workloads against the pure settlement saga and repayment machine (see
//! `workload/mod.rs`): lost replies, duplicate deliveries, refusals and crashes at any step, an
//! audit after every step, and a resume to the end. The long run is an example:
//! `cargo run --release -p wugan-domain --example saga_workload -- --seeds N [--seed S] [--steps K]`.

mod workload;

use std::time::Instant;
use workload::{run_seed, Report};
use wugan_domain::settlement::SettlementState;

const SEEDS: u64 = 2_000;
const STEPS_PER_SEED: u64 = 60;

fn run(seeds: std::ops::Range<u64>, steps: u64) -> Report {
    let mut total = Report::default();
    for seed in seeds {
        match run_seed(seed, steps) {
            Ok(report) => total.add(&report),
            Err(e) => panic!("{e}\nreplay: cargo run -p wugan-domain --example saga_workload -- --seed {seed} --seeds 1 --steps {steps}"),
        }
    }
    total
}

#[test]
fn every_seeded_workload_keeps_the_books_and_ends_as_the_partners_decided() {
    let started = Instant::now();
    let total = run(0..SEEDS, STEPS_PER_SEED);
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("saga workload: {} ({:.0} steps/s)", total.summary(), total.steps as f64 / seconds);

    // The workload reaches every ending and every fault, or it proves little.
    use SettlementState::*;
    for state in [Settled, SettledUnpaid, Failed, Cancelled] {
        assert!(total.settled_as(state) > 0, "no settlement ended {state:?}: {}", total.summary());
    }
    assert!(total.repayments.iter().all(|n| *n > 0), "a repayment ending never reached: {}", total.summary());
    let (f, c) = (&total.faults, &total.commits);
    assert!(f.undelivered > 0 && f.lost_replies > 0 && f.duplicates > 0, "a fault never happened: {}", total.summary());
    assert!(c.crashes > 0 && c.lost_in_crash > 0 && c.stale > 0, "no crash lost a result: {}", total.summary());
}

#[test]
fn a_seed_replays_exactly() {
    let (a, b) = (run(7..8, 200), run(7..8, 200));
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}
