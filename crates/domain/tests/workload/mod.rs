//! A workload and an auditor for the pure settlement saga and the personal-account repayment,
//! after TigerBeetle's workload.zig / auditor.zig: a seeded generator of visits, fee uploads,
//! clicks, cancellations and repayments, with lost replies, duplicate deliveries, refusals and
//! crashes at any step, driven against in-memory partner models (no HTTP, no tokio). After every
//! step the auditor checks the ledger, the limits, that no visit is charged twice, and that every
//! stage claims only what the partners did; at the end, after a resume with the faults off, every
//! settlement must be final and be what the partners' decisions predict.
//!
//! Shared by `tests/saga_workload.rs` (thousands of seeds in the normal test suite) and
//! `examples/saga_workload.rs` (the long run).

pub mod auditor;
pub mod bank;
pub mod generator;
pub mod hub;
pub mod insurance;
pub mod ledger;
pub mod network;
// Used by `tests/stay_refund_workload.rs` only.
#[allow(dead_code)]
pub mod refunds;
pub mod rng;
#[allow(dead_code)]
pub mod stays;

use hub::CommitCounts;
use network::FaultCounts;
use wugan_domain::settlement::SettlementState;

/// Runs one seed for `steps` steps, then resumes to the end. The error names the seed, the
/// step, the broken invariant and the last actions, so the seed can be replayed.
pub fn run_seed(seed: u64, steps: u64) -> Result<Report, String> {
    let mut world = generator::World::new(seed, steps).map_err(|e| format!("seed {seed}: {e}"))?;
    let mut run = || {
        for _ in 0..steps {
            world.step()?;
        }
        world.resume_to_the_end()
    };
    if let Err(e) = run() {
        return Err(format!("seed {seed} failed at step {}: {e}\n  last actions, oldest first:\n  {}", world.steps, world.trace()));
    }
    Ok(world.report())
}

/// What a run did, to see that the workload reaches every corner.
#[derive(Clone, Copy, Debug, Default)]
pub struct Report {
    pub seeds: u64,
    pub steps: u64,
    pub faults: FaultCounts,
    pub commits: CommitCounts,
    /// Settlements by state at the end, in `SettlementState::ALL`'s order.
    pub settlements: [u64; 9],
    /// Repayments at the end: posted, returned, failed.
    pub repayments: [u64; 3],
}

impl Report {
    pub fn count_settlement(&mut self, state: SettlementState) {
        if let Some(i) = SettlementState::ALL.iter().position(|s| *s == state) {
            self.settlements[i] += 1;
        }
    }

    pub fn count_repayment(&mut self, state: &str) {
        if let Some(i) = ["posted", "returned", "failed"].iter().position(|s| *s == state) {
            self.repayments[i] += 1;
        }
    }

    pub fn settled_as(&self, state: SettlementState) -> u64 {
        SettlementState::ALL.iter().position(|s| *s == state).map_or(0, |i| self.settlements[i])
    }

    pub fn add(&mut self, other: &Report) {
        self.seeds += other.seeds;
        self.steps += other.steps;
        let (f, o) = (&mut self.faults, &other.faults);
        f.calls += o.calls;
        f.undelivered += o.undelivered;
        f.lost_replies += o.lost_replies;
        f.duplicates += o.duplicates;
        let (c, o) = (&mut self.commits, &other.commits);
        c.moved += o.moved;
        c.unchanged += o.unchanged;
        c.stale += o.stale;
        c.ledger_refused += o.ledger_refused;
        c.crashes += o.crashes;
        c.lost_in_crash += o.lost_in_crash;
        for (mine, theirs) in self.settlements.iter_mut().zip(other.settlements) {
            *mine += theirs;
        }
        for (mine, theirs) in self.repayments.iter_mut().zip(other.repayments) {
            *mine += theirs;
        }
    }

    pub fn summary(&self) -> String {
        let states: Vec<String> = SettlementState::ALL
            .iter()
            .map(|s| (s, self.settled_as(*s)))
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| format!("{} {n}", s.as_str()))
            .collect();
        let (f, c, r) = (&self.faults, &self.commits, &self.repayments);
        format!(
            "{} seeds, {} steps, {} calls ({} undelivered, {} replies lost, {} delivered twice), \
             {} crashes ({} results lost), commits: {} moved, {} unknown, {} stale, {} refused by the ledger; \
             settlements: {}; repayments: posted {}, returned {}, failed {}",
            self.seeds,
            self.steps,
            f.calls,
            f.undelivered,
            f.lost_replies,
            f.duplicates,
            c.crashes,
            c.lost_in_crash,
            c.moved,
            c.unchanged,
            c.stale,
            c.ledger_refused,
            states.join(", "),
            r[0],
            r[1],
            r[2]
        )
    }
}
