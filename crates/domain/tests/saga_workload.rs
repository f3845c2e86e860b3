//! Thousands of seeded workloads against the pure settlement saga and repayment machine (see
//! `workload/mod.rs`): lost replies, duplicate deliveries, refusals and crashes at any step, an
//! audit after every step, and a resume to the end. The long run is an example:
//! `cargo run --release -p wugan-domain --example saga_workload -- --seeds N [--seed S] [--steps K]`.

mod workload;

use std::time::Instant;
use workload::bank::{self, Bank};
use workload::hub::{Commit, Hub, Item, Patient};
use workload::insurance::{self, Insurance, VisitPolicy};
use workload::network::{FaultRates, Faults, Partners};
use workload::rng::Rng;
use workload::{auditor, run_seed, Report};
use wugan_domain::settlement::saga::Stage;
use wugan_domain::settlement::SettlementState;
use wugan_domain::Fen;

const SEEDS: u64 = 2_500;
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

/// A hand-built world: one patient, faults off, no risk refusals.
fn world(limit: i64, balance: i64) -> (Hub, Partners) {
    let hub = Hub::new(vec![Patient::new(0, Fen(limit), Fen(balance))]).expect("a hub");
    let partners = Partners {
        insurance: Insurance::new(vec![Fen(balance)], insurance::Risk::default(), Rng::new(1)),
        bank: Bank::new(vec![Fen(limit)], false, bank::Risk::default(), Rng::new(2)),
        faults: Faults::new(FaultRates::default(), Rng::new(3)),
    };
    (hub, partners)
}

/// A visit of `fees`, none of it paid by the fund: the personal account first, cash for the rest.
fn visit(hub: &mut Hub, partners: &mut Partners, fees: i64) -> usize {
    let v = hub.add_visit(0, 0);
    let policy = VisitPolicy { patient: 0, hospital_bp: 0, fund_bp: 0, final_drift_fen: 0, uses_account: true };
    partners.insurance.add_visit(policy);
    hub.upload_fee(v, Fen(fees));
    partners.insurance.upload_fee(v, Fen(fees));
    hub.click(v).expect("fees to settle")
}

/// Drives `item` one call at a time, auditing after each, until `until` holds.
fn drive(hub: &mut Hub, partners: &mut Partners, item: Item, until: impl Fn(&Hub) -> bool) -> Vec<Commit> {
    let mut commits = Vec::new();
    while !until(hub) {
        commits.push(hub.drive(item, partners).expect("a step").expect("a call due"));
        auditor::audit(hub, partners).expect("the books hold");
    }
    commits
}

fn state(hub: &Hub, settlement: usize) -> SettlementState {
    hub.settlements[settlement].stage.state()
}

// The hub's ledger learns what a partner did only when the step commits, so it lags the
// partners by at most one step. A cancellation posts insurance's reversal (the personal account's
// share back) as soon as 2208 is done, before the bank refund, so a repayment from the personal
// account right after 2208 is not refused by the ledger. The credit line cannot be limited in the
// ledger at all: see `ledger.rs`.

#[test]
fn a_personal_account_share_is_back_in_the_ledger_as_soon_as_insurance_reverses_it() {
    let (mut hub, mut p) = world(1_000, 1_000);
    let s = visit(&mut hub, &mut p, 1_500); // 1,000 from the personal account, 500 on credit
    drive(&mut hub, &mut p, Item::Settlement(s), |h| state(h, s) == SettlementState::Settled);
    assert!(hub.cancel(s));
    // 2208: insurance gives the 1,000 back at once, and so does the ledger; the refund is still to come.
    drive(&mut hub, &mut p, Item::Settlement(s), |h| matches!(h.settlements[s].stage, Stage::Cancelling { insurance_reversed: true, .. }));
    let r = hub.request_repayment(0, Fen(500), p.bank.lines[0].used);
    let repaid = |h: &Hub| h.repayments[r].stage.is_final();
    assert_eq!(drive(&mut hub, &mut p, Item::Repayment(r), repaid), [Commit::Moved, Commit::Moved], "debited, then posted");
    assert_eq!(hub.repayments[r].stage.state(), "posted");
    drive(&mut hub, &mut p, Item::Settlement(s), |h| state(h, s) == SettlementState::Cancelled);
}

#[test]
fn a_charge_whose_answer_was_lost_is_answered_again_and_never_taken_twice() {
    let (mut hub, mut p) = world(1_000, 0);
    let first = visit(&mut hub, &mut p, 1_000);
    drive(&mut hub, &mut p, Item::Settlement(first), |h| state(h, first) == SettlementState::InsuranceSettled);
    // The bank takes the cash share; the hub crashes before it commits.
    assert_eq!(hub.send(Item::Settlement(first), &mut p), Ok(true));
    hub.crash();
    assert_eq!(p.bank.lines[0].used, Fen(1_000), "the bank took it");
    // Resumed, the charge goes again under its request id, and the bank answers it as before.
    let commits = drive(&mut hub, &mut p, Item::Settlement(first), |h| state(h, first).is_final());
    assert_eq!((state(&hub, first), commits.len()), (SettlementState::Settled, 1));
    assert_eq!((p.bank.lines[0].used, p.bank.captures.len()), (Fen(1_000), 1), "taken once");
    // The line is spent: the next visit's charge is declined and its cash share is a bill.
    let second = visit(&mut hub, &mut p, 1_000);
    drive(&mut hub, &mut p, Item::Settlement(second), |h| state(h, second).is_final());
    assert_eq!(state(&hub, second), SettlementState::SettledUnpaid);
    auditor::audit_end(&hub, &p).expect("the books close");
}
