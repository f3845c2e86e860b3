//! The workload: from one seed, a world of patients (a credit line, a personal account), visits
//! with fees, partners with their own refusal rates, a faulty wire, and a random interleaving of
//! what happens: fee uploads, clicks, several workers' calls in flight at once, cancellations,
//! personal-account repayments, holds expiring at the bank, and crashes. Every step is audited;
//! at the end the hub resumes with the faults off and every settlement must come out as the
//! partners' decisions say.

use super::auditor;
use super::bank::{self, Bank};
use super::hub::{Hub, Item, Patient, HOSPITALS};
use super::insurance::{self, Insurance, VisitPolicy};
use super::network::{FaultRates, Faults, Partners};
use super::rng::Rng;
use super::Report;
use std::collections::VecDeque;
use wugan_domain::Fen;

/// Rounds of the final resume: each unfinished item is driven once a round. A settlement needs
/// at most seven calls; a commit the ledger refuses waits for another item's commit.
const MAX_RESUME_ROUNDS: usize = 64;
/// A seed's visits grow with its steps: up to 14 visits per this many steps.
const VISITS_PER_STEPS: usize = 60;
/// Actions kept for the failure message.
const TRACE_LEN: usize = 24;

#[derive(Clone, Copy, Debug)]
enum Action {
    NewVisit,
    UploadFee {
        visit: usize,
        amount: i64,
    },
    Click {
        visit: usize,
        drive: usize,
    },
    /// One call made and committed at once, as the orchestrator's loop does.
    Drive(Item),
    /// One call made; its result stays in flight (another worker).
    Send(Item),
    /// The `nth` result in flight is committed.
    Commit(usize),
    Cancel {
        settlement: usize,
        drive: usize,
    },
    Repay {
        patient: usize,
        amount: i64,
        drive: usize,
    },
    Crash,
    ExpireHold(usize),
}

/// How often each kind of action is chosen, in `Action`'s order; crashes vary per seed.
const WEIGHTS: [u32; 10] = [3, 6, 6, 10, 5, 6, 1, 3, 0, 1];

pub struct World {
    rng: Rng,
    max_visits: usize,
    weights: [u32; 10],
    pub hub: Hub,
    pub partners: Partners,
    /// A click, cancel or repayment goes on for a few steps: (item, steps left).
    driving: Option<(Item, usize)>,
    trace: VecDeque<Action>,
    pub steps: u64,
}

impl World {
    /// A world for `steps` steps: a longer run sees more visits, so it does not end up only
    /// cancelling and repaying the few it has.
    pub fn new(seed: u64, steps: u64) -> Result<World, String> {
        let mut rng = Rng::new(seed);
        let patients: Vec<Patient> = (0..rng.range(1, 3) as usize).map(|i| Patient::new(i, limit(&mut rng), balance(&mut rng))).collect();
        let faults = match rng.chance(20) {
            true => FaultRates::default(),
            false => FaultRates {
                undelivered_pct: rng.range(0, 15) as u32,
                lost_reply_pct: rng.range(0, 25) as u32,
                duplicate_pct: rng.range(0, 15) as u32,
            },
        };
        let ins_risk = insurance::Risk {
            presettle_pct: rng.range(0, 5) as u32,
            settle_pct: rng.range(0, 10) as u32,
            reverse_pct: rng.range(0, 25) as u32,
            debit_pct: rng.range(0, 10) as u32,
        };
        let bank_risk =
            bank::Risk { authorize_pct: rng.range(0, 10) as u32, capture_pct: rng.range(0, 10) as u32, repay_pct: rng.range(0, 10) as u32 };
        let openings = patients.iter().map(|p| p.opening_balance).collect();
        let limits = patients.iter().map(|p| p.limit).collect();
        let partners = Partners {
            insurance: Insurance::new(openings, ins_risk, rng.fork()),
            bank: Bank::new(limits, rng.chance(50), bank_risk, rng.fork()),
            faults: Faults::new(faults, rng.fork()),
        };
        let mut weights = WEIGHTS;
        weights[8] = rng.range(0, 3) as u32;
        Ok(World {
            max_visits: rng.range(3, 14) as usize * (steps as usize / VISITS_PER_STEPS).max(1),
            weights,
            hub: Hub::new(patients)?,
            partners,
            rng,
            driving: None,
            trace: VecDeque::with_capacity(TRACE_LEN),
            steps: 0,
        })
    }

    /// One action, then the audit.
    pub fn step(&mut self) -> Result<(), String> {
        let action = self.choose();
        self.remember(action);
        self.run(action)?;
        self.steps += 1;
        auditor::audit(&self.hub, &self.partners)
    }

    /// The hub restarts with the faults gone and resumes everything until it is final.
    pub fn resume_to_the_end(&mut self) -> Result<(), String> {
        self.partners.faults.enabled = false;
        self.hub.crash();
        for _ in 0..MAX_RESUME_ROUNDS {
            let unfinished = self.hub.unfinished();
            if unfinished.is_empty() {
                return auditor::audit_end(&self.hub, &self.partners);
            }
            for item in unfinished {
                self.remember(Action::Drive(item));
                self.hub.drive(item, &mut self.partners)?;
                self.steps += 1;
                auditor::audit(&self.hub, &self.partners)?;
            }
        }
        Err(format!("still unfinished after {MAX_RESUME_ROUNDS} rounds of resuming: {:?}", self.hub.unfinished()))
    }

    /// The last actions, oldest first, for a failure message.
    pub fn trace(&self) -> String {
        self.trace.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join("\n  ")
    }

    pub fn report(&self) -> Report {
        let mut report =
            Report { seeds: 1, steps: self.steps, faults: self.partners.faults.counts, commits: self.hub.counts, ..Report::default() };
        for s in &self.hub.settlements {
            report.count_settlement(s.stage.state());
        }
        for r in &self.hub.repayments {
            report.count_repayment(r.stage.state());
        }
        report
    }

    fn remember(&mut self, action: Action) {
        if self.trace.len() == TRACE_LEN {
            self.trace.pop_front();
        }
        self.trace.push_back(action);
    }

    fn choose(&mut self) -> Action {
        if let Some((item, left)) = self.driving.take() {
            self.driving = (left > 1).then_some((item, left - 1));
            return Action::Drive(item);
        }
        loop {
            if let Some(action) = self.try_choose() {
                return action;
            }
        }
    }

    /// An action of a random kind, `None` when that kind has nothing to act on.
    fn try_choose(&mut self) -> Option<Action> {
        let (hub, rng) = (&self.hub, &mut self.rng);
        let visits = hub.visits.len();
        Some(match rng.weighted(&self.weights) {
            0 => (visits < self.max_visits).then_some(Action::NewVisit)?,
            1 => {
                let open: Vec<usize> = (0..visits).filter(|v| hub.visits[*v].settlement.is_none()).collect();
                Action::UploadFee { visit: *pick(rng, &open)?, amount: rng.range(1, 4_000) }
            }
            2 => Action::Click { visit: (visits > 0).then(|| rng.below(visits))?, drive: rng.below(6) },
            3 => Action::Drive(*pick(rng, &hub.unfinished())?),
            4 => Action::Send(*pick(rng, &hub.unfinished())?),
            5 => Action::Commit((hub.inflight_len() > 0).then(|| rng.below(hub.inflight_len()))?),
            6 => {
                let settled: Vec<usize> =
                    (0..hub.settlements.len()).filter(|s| hub.settlements[*s].stage.state().is_cancellable()).collect();
                Action::Cancel { settlement: *pick(rng, &settled)?, drive: rng.below(4) }
            }
            7 => {
                // Mostly a patient who owes something and has something in the personal account.
                let (lines, balances) = (&self.partners.bank.lines, &self.partners.insurance.balances);
                let owing: Vec<usize> = (0..lines.len()).filter(|p| lines[*p].used.is_positive() && balances[*p].is_positive()).collect();
                let patient = match rng.chance(95) {
                    true => *pick(rng, &owing)?,
                    false => rng.below(lines.len()),
                };
                let debt = lines[patient].used.0;
                // As much as the personal account can pay (the hub reads its balance first), the
                // whole debt, half of it, one fen too much, or any amount.
                let balance = self.partners.insurance.balances[patient].0;
                let amount = match rng.weighted(&[30, 30, 25, 5, 10]) {
                    0 => debt.min(balance),
                    1 => debt,
                    2 => debt / 2,
                    3 => debt + 1,
                    _ => rng.range(1, 800),
                };
                Action::Repay { patient, amount: amount.max(1), drive: rng.below(4) }
            }
            8 => Action::Crash,
            _ => Action::ExpireHold(rng.below(64)),
        })
    }

    fn run(&mut self, action: Action) -> Result<(), String> {
        let (hub, partners) = (&mut self.hub, &mut self.partners);
        match action {
            Action::NewVisit => {
                let patient = self.rng.below(hub.patients.len());
                hub.add_visit(patient, self.rng.below(HOSPITALS.len()));
                partners.insurance.add_visit(policy(&mut self.rng, patient));
            }
            Action::UploadFee { visit, amount } => {
                if hub.upload_fee(visit, Fen(amount)) {
                    partners.insurance.upload_fee(visit, Fen(amount));
                }
            }
            Action::Click { visit, drive } => {
                if let Some(settlement) = hub.click(visit) {
                    self.driving = (drive > 0).then_some((Item::Settlement(settlement), drive));
                }
            }
            Action::Drive(item) => {
                hub.drive(item, partners)?;
            }
            Action::Send(item) => {
                hub.send(item, partners)?;
            }
            Action::Commit(nth) => {
                hub.commit(nth)?;
            }
            Action::Cancel { settlement, drive } => {
                if hub.cancel(settlement) {
                    self.driving = (drive > 0).then_some((Item::Settlement(settlement), drive));
                }
            }
            Action::Repay { patient, amount, drive } => {
                // The hub asks the bank for the debt before it writes the request.
                let debt = partners.bank.lines[patient].used;
                let repayment = hub.request_repayment(patient, Fen(amount), debt);
                self.driving = (drive > 0).then_some((Item::Repayment(repayment), drive));
            }
            Action::Crash => hub.crash(),
            Action::ExpireHold(nth) => partners.bank.expire_hold(nth),
        }
        Ok(())
    }
}

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> Option<&'a T> {
    (!items.is_empty()).then(|| &items[rng.below(items.len())])
}

/// A credit limit: none, small enough to decline, or ample.
fn limit(rng: &mut Rng) -> Fen {
    Fen(match rng.below(3) {
        0 => 0,
        1 => rng.range(100, 3_000),
        _ => rng.range(3_000, 30_000),
    })
}

/// A personal account balance: empty, small, or ample.
fn balance(rng: &mut Rng) -> Fen {
    Fen(match rng.below(3) {
        0 => 0,
        1 => rng.range(1, 2_000),
        _ => rng.range(2_000, 20_000),
    })
}

fn policy(rng: &mut Rng, patient: usize) -> VisitPolicy {
    VisitPolicy {
        patient,
        hospital_bp: if rng.chance(50) { 0 } else { rng.range(0, 1_000) },
        fund_bp: rng.range(0, 9_000),
        final_drift_fen: if rng.chance(50) { 0 } else { rng.range(-800, 800) },
        uses_account: rng.chance(70),
    }
}
