//! Refunds (`wugan_domain::refund`, 退费) of settled visits through the same faulty wire as the
//! saga: partial refunds (2208, the kept lines uploaded again and settled again, the bank refunds
//! the difference) and full ones (2208, the whole capture back), with lost replies, duplicate
//! deliveries, refusals of 2208 and crashes before a step commits. The visits are settled when
//! they are made (the saga's own workload drives settlement; here it only sets the scene): the
//! settlement's transfers are posted and the bank records its capture. All refund usage of the
//! domain's API is in this file. After every step `audit` checks the books against the partners.

use super::ledger::{Ledger, PostError};
use super::network::{FaultRates, Faults};
use super::rng::Rng;
use std::collections::BTreeMap;
use wugan_domain::ledger::{is_balanced, AccountLimit};
use wugan_domain::refund::{self, Original, RefundCall, RefundOutcome, RefundReply, RefundStage, Resettled};
use wugan_domain::settlement::{accounts, InsuranceSplit, Parties};
use wugan_domain::Fen;

const HOSPITAL: &str = "H1";
const BANK: &str = "B";
const ADMDVS: &str = "440300";
const INSUTYPE: &str = "310";

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// A settled visit, and its refund once one is asked for (one per visit).
pub struct Visit {
    pub id: String,
    pub patient: usize,
    pub original: Original,
    pub refund: Option<RefundStage>,
    /// What the hub's committed steps refunded at the bank.
    pub refunded: Fen,
}

impl Visit {
    fn refund_id(&self) -> String {
        format!("{}:refund", self.id)
    }
}

/// The bank: one line per patient, one capture per visit, answers kept by request id.
pub struct RefundBank {
    pub limits: Vec<Fen>,
    /// Per visit: (patient, captured, refunded).
    pub captures: BTreeMap<usize, (usize, Fen, Fen)>,
    answers: BTreeMap<String, RefundOutcome>,
}

impl RefundBank {
    pub fn used(&self, patient: usize) -> Fen {
        self.captures.values().filter(|(p, ..)| *p == patient).map(|(_, captured, refunded)| *captured - *refunded).sum()
    }

    fn refund(&mut self, request_id: &str, visit: usize, amount: Fen) -> RefundOutcome {
        if let Some(answer) = self.answers.get(request_id) {
            return answer.clone();
        }
        let answer = match self.captures.get_mut(&visit) {
            Some((_, captured, refunded)) if amount.is_positive() && amount <= *captured - *refunded => {
                *refunded += amount;
                RefundOutcome::Done(RefundReply::Refunded)
            }
            _ => RefundOutcome::Refused { code: "exceeds_capture".into(), message: "more than was captured".into() },
        };
        self.answers.insert(request_id.to_string(), answer.clone());
        answer
    }
}

/// The insurance center: personal accounts, settlements in force, answers kept by message id.
pub struct RefundInsurance {
    pub balances: Vec<Fen>,
    /// setl_id → visit.
    pub settled: BTreeMap<String, usize>,
    pub fund_bp: Vec<i64>,
    pub refusing: bool,
    answers: BTreeMap<String, RefundOutcome>,
    rng: Rng,
}

impl RefundInsurance {
    /// The split of `medfee` for a visit: the fund's share, then the personal account, then cash.
    fn split(&mut self, visit: usize, patient: usize, medfee: Fen) -> InsuranceSplit {
        let fund = Fen(medfee.0 * self.fund_bp[visit] / 10_000);
        let personal_account = (medfee - fund).min(self.balances[patient]);
        self.balances[patient] -= personal_account;
        InsuranceSplit { medfee, fund, personal_account, cash: medfee - fund - personal_account, hospital_part: Fen::ZERO }
    }

    fn handle(&mut self, msgid: &str, visit: &Visit, v: usize, call: &RefundCall) -> RefundOutcome {
        if let Some(answer) = self.answers.get(msgid) {
            return answer.clone();
        }
        let answer = match (call, &visit.refund) {
            (RefundCall::ReverseInsurance, _) if self.refusing && self.rng.chance(10) => {
                RefundOutcome::Refused { code: "already_cleared".into(), message: "the month is closed".into() }
            }
            (RefundCall::ReverseInsurance, _) => {
                self.settled.remove(&visit.original.setl_id);
                self.balances[visit.patient] += visit.original.split.personal_account;
                RefundOutcome::Done(RefundReply::Reversed)
            }
            (RefundCall::Reupload, _) => RefundOutcome::Done(RefundReply::Reuploaded),
            (RefundCall::Resettle, Some(RefundStage::Reuploaded { remaining, .. })) => {
                let split = self.split(v, visit.patient, *remaining);
                self.settled.insert(msgid.to_string(), v);
                RefundOutcome::Done(RefundReply::Resettled(Resettled { setl_id: msgid.to_string(), split }))
            }
            _ => RefundOutcome::Refused { code: "unexpected".into(), message: format!("{call:?}") },
        };
        self.answers.insert(msgid.to_string(), answer.clone());
        answer
    }
}

/// What happened, to see that the workload reaches every corner: events and endings by name.
#[derive(Clone, Debug, Default)]
pub struct RefundCounts {
    pub events: BTreeMap<String, u64>,
    pub crashes: u64,
    pub lost_in_crash: u64,
    pub ledger_refused: u64,
}

impl RefundCounts {
    fn count(&mut self, event: &str) {
        *self.events.entry(event.to_string()).or_default() += 1;
    }

    pub fn get(&self, event: &str) -> u64 {
        self.events.get(event).copied().unwrap_or(0)
    }
}

pub struct RefundWorld {
    pub visits: Vec<Visit>,
    pub ledger: Ledger,
    pub bank: RefundBank,
    pub insurance: RefundInsurance,
    pub faults: Faults,
    pub counts: RefundCounts,
    rng: Rng,
}

fn agreement(patient: usize) -> String {
    accounts::bank_agreement(BANK, &format!("A{patient}"))
}

fn parties<'a>(visit: &'a Visit, psn_no: &'a str, agreement_id: &'a str) -> Parties<'a> {
    Parties {
        settlement_id: &visit.id,
        hospital_code: HOSPITAL,
        psn_no,
        insuplc_admdvs: ADMDVS,
        insutype: INSUTYPE,
        bank_code: BANK,
        bank_agreement_id: agreement_id,
        cash_at_hospital: false,
    }
}

impl RefundWorld {
    pub fn new(seed: u64) -> Result<RefundWorld, String> {
        let mut rng = Rng::new(seed);
        let limits: Vec<Fen> = (0..3).map(|_| Fen(rng.range(5_000, 60_000))).collect();
        let balances: Vec<Fen> = (0..3).map(|_| Fen(rng.range(0, 8_000))).collect();
        let mut ledger = Ledger::default();
        for p in 0..limits.len() {
            let open = |ledger: &mut Ledger, account: &str, limit, funding: &str, amount| {
                ledger.open(account, limit, funding, amount).map_err(|e| format!("{e:?}"))
            };
            open(&mut ledger, &agreement(p), AccountLimit::None, "bank_funding", limits[p])?;
            open(
                &mut ledger,
                &accounts::personal_account(&format!("P{p}")),
                AccountLimit::DebitsWithinCredits,
                "account_funding",
                balances[p],
            )?;
        }
        let rates = FaultRates { undelivered_pct: 8, lost_reply_pct: 8, duplicate_pct: 8 };
        let insurance = RefundInsurance {
            balances,
            settled: BTreeMap::new(),
            fund_bp: Vec::new(),
            refusing: true,
            answers: BTreeMap::new(),
            rng: rng.fork(),
        };
        Ok(RefundWorld {
            visits: Vec::new(),
            ledger,
            bank: RefundBank { limits, captures: BTreeMap::new(), answers: BTreeMap::new() },
            insurance,
            faults: Faults::new(rates, rng.fork()),
            counts: RefundCounts::default(),
            rng,
        })
    }

    pub fn step(&mut self) -> Result<(), String> {
        let n = self.visits.len();
        let pick = if n > 0 { self.rng.below(n) } else { 0 };
        match self.rng.weighted(&[8, 8, 40]) {
            0 => self.settle_visit(),
            1 if n > 0 => self.ask_refund(pick),
            2 if n > 0 => self.drive(pick),
            _ => Ok(()),
        }
    }

    /// A visit settled in full: insurance splits it, the bank captures the cash share if the
    /// line has room (otherwise it is a bill), and the ledger posts it all.
    fn settle_visit(&mut self) -> Result<(), String> {
        let (v, patient) = (self.visits.len(), self.rng.below(self.bank.limits.len()));
        // While a refund of the patient's is under way insurance's account may be ahead of the
        // ledger's; the saga's workload covers settling into that lag, so the scene waits.
        if (0..v).any(|other| self.visits[other].patient == patient && self.visits[other].refund.is_some() && !self.is_done(other)) {
            return Ok(());
        }
        self.insurance.fund_bp.push(self.rng.range(0, 9_000));
        let medfee = Fen(self.rng.range(200, 12_000));
        let split = self.insurance.split(v, patient, medfee);
        let room = self.bank.limits[patient] - self.bank.used(patient);
        let captured = if split.cash <= room { split.cash } else { Fen::ZERO };
        let original = Original { setl_id: format!("S{v}"), split, captured };
        let visit = Visit { id: format!("v{v}"), patient, original, refund: None, refunded: Fen::ZERO };
        let (psn_no, agreement_id) = (format!("P{patient}"), format!("A{patient}"));
        let parties = parties(&visit, &psn_no, &agreement_id);
        let mut transfers = Vec::new();
        if captured.is_positive() {
            transfers.push(parties.hold(captured));
        }
        transfers.extend(parties.settlement_transfers(&split, captured, captured));
        self.ledger.post_all(&transfers).map_err(|e| format!("{}: settling: {e:?}", visit.id))?;
        self.insurance.settled.insert(visit.original.setl_id.clone(), v);
        self.bank.captures.insert(v, (patient, captured, Fen::ZERO));
        self.visits.push(visit);
        Ok(())
    }

    /// Returns some lines (or all, a third of the time) of a visit not refunded yet.
    fn ask_refund(&mut self, v: usize) -> Result<(), String> {
        let visit = &mut self.visits[v];
        if visit.refund.is_some() {
            return Ok(());
        }
        let medfee = visit.original.split.medfee.0;
        let remaining = if self.rng.chance(33) { Fen::ZERO } else { Fen(self.rng.range(0, medfee - 1)) };
        visit.refund = Some(refund::begin(visit.original.clone(), remaining).map_err(|e| format!("{}: {e}", visit.id))?);
        Ok(())
    }

    /// Sends the refund's next call (or finishes it without one), applies the outcome, and
    /// commits it with its transfers unless the hub crashes first.
    pub fn drive(&mut self, v: usize) -> Result<(), String> {
        let visit = &self.visits[v];
        let Some(stage) = &visit.refund else { return Ok(()) };
        let (psn_no, agreement_id) = (format!("P{}", visit.patient), format!("A{}", visit.patient));
        let parties = parties(visit, &psn_no, &agreement_id);
        let (step, outcome) = match refund::next_call(stage) {
            None => match refund::finish_without_call(stage, &parties) {
                Some(step) => (step, None),
                None => return Ok(()),
            },
            Some(call) => {
                let msgid = format!("{}:{call:?}", visit.refund_id());
                let msgid = match call {
                    RefundCall::BankRefund { .. } => format!("{}:bank", visit.refund_id()),
                    _ => msgid,
                };
                let RefundWorld { faults, bank, insurance, .. } = self;
                let delivered = match call {
                    RefundCall::BankRefund { amount } => faults.deliver(|| bank.refund(&msgid, v, amount))?,
                    _ => faults.deliver(|| insurance.handle(&msgid, visit, v, &call))?,
                };
                let outcome = delivered.unwrap_or(RefundOutcome::Unknown);
                let step = refund::apply(stage, &parties, &call, outcome.clone())
                    .map_err(|e| format!("{}: {call:?} → {outcome:?}: {e}", visit.id))?;
                (step, Some(outcome))
            }
        };
        if self.faults.enabled && self.rng.chance(3) {
            self.counts.crashes += 1;
            self.counts.lost_in_crash += u64::from(outcome.is_some_and(|o| o != RefundOutcome::Unknown));
            return Ok(());
        }
        match self.ledger.post_all(&step.transfers) {
            Ok(()) => {}
            Err(PostError::Limit) => {
                self.counts.ledger_refused += 1;
                return Ok(());
            }
            Err(PostError::Broken(e)) => return Err(format!("{}: {e}", self.visits[v].id)),
        }
        let visit = &mut self.visits[v];
        visit.refunded += step.transfers.iter().filter(|t| t.code == "bank_refund").map(|t| t.amount).sum::<Fen>();
        let ending = match &step.stage {
            RefundStage::Refunded(done) => Some(match (&done.resettled, done.bank_refund.is_positive()) {
                (None, true) => "ended:full",
                (None, false) => "ended:full_nothing_captured",
                (Some(_), true) => "ended:partial",
                (Some(_), false) => "ended:partial_nothing_back",
            }),
            RefundStage::Refused { .. } => Some("ended:refused"),
            _ => None,
        };
        visit.refund = Some(step.stage);
        if let Some(ending) = ending {
            self.counts.count(ending);
        }
        Ok(())
    }

    /// Faults and refusals off: a refund is asked for every visit still without one, and every
    /// refund is driven to its end.
    pub fn resume_to_the_end(&mut self) -> Result<(), String> {
        self.faults.enabled = false;
        self.insurance.refusing = false;
        for v in 0..self.visits.len() {
            self.ask_refund(v)?;
        }
        for round in 0.. {
            let open: Vec<usize> = (0..self.visits.len()).filter(|v| !self.is_done(*v)).collect();
            if open.is_empty() {
                return audit_end(self);
            }
            ensure!(round < 20, "refunds never ended: {open:?}");
            for v in open {
                self.drive(v)?;
                audit(self)?;
            }
        }
        Ok(())
    }

    fn is_done(&self, v: usize) -> bool {
        matches!(self.visits[v].refund, Some(RefundStage::Refunded(_) | RefundStage::Refused { .. }))
    }
}

/// After every step: the trial balance; the bank has refunded each visit what the hub committed,
/// or that plus the one refund in flight, never more than it captured (so no refund pays twice);
/// each personal account is what insurance says once its uncommitted answers are counted; no
/// line is overdrawn at the bank, and the ledger never shows less lent than the bank.
pub fn audit(world: &RefundWorld) -> Result<(), String> {
    ensure!(is_balanced(world.ledger.accounts.values()), "the trial balance fails");
    let mut insurance_ahead = vec![Fen::ZERO; world.bank.limits.len()];
    for (v, visit) in world.visits.iter().enumerate() {
        let (_, captured, refunded) = world.bank.captures[&v];
        ensure!(refunded <= captured, "{}: the bank refunded {refunded} of a {captured} capture", visit.id);
        let in_flight = match visit.refund.as_ref().and_then(refund::next_call) {
            Some(RefundCall::BankRefund { amount }) if world.bank.answers.contains_key(&format!("{}:bank", visit.refund_id())) => amount,
            _ => Fen::ZERO,
        };
        ensure!(refunded == visit.refunded + in_flight, "{}: the bank refunded {refunded}, the hub {}", visit.id, visit.refunded);
        insurance_ahead[visit.patient] += personal_account_in_flight(world, visit);
    }
    for (p, limit) in world.bank.limits.iter().enumerate() {
        let used = world.bank.used(p);
        ensure!(used <= *limit, "the bank lent {used} on patient {p}'s line of {limit}");
        let line = &world.ledger.accounts[&agreement(p)];
        let in_ledger = line.debits_posted + line.debits_pending - (line.credits_posted - *limit);
        ensure!(in_ledger >= used && in_ledger <= *limit, "patient {p}: the ledger says {in_ledger} lent, the bank {used}");
        let account = &world.ledger.accounts.get(&accounts::personal_account(&format!("P{p}"))).cloned().unwrap_or_default();
        let in_ledger = account.credits_posted - account.debits_posted - account.debits_pending;
        let at_insurance = world.insurance.balances[p];
        ensure!(
            !in_ledger.is_negative() && in_ledger + insurance_ahead[p] == at_insurance,
            "patient {p}'s personal account: the ledger {in_ledger}, insurance {at_insurance} ({} in flight)",
            insurance_ahead[p]
        );
    }
    Ok(())
}

/// What insurance did to the personal account for this refund that the hub has not committed:
/// 2208 gives the account's share back, 2207 takes the kept lines' share again.
fn personal_account_in_flight(world: &RefundWorld, visit: &Visit) -> Fen {
    let answered = |call: &RefundCall| world.insurance.answers.get(&format!("{}:{call:?}", visit.refund_id())).cloned();
    match &visit.refund {
        Some(RefundStage::Requested { original, .. }) => match answered(&RefundCall::ReverseInsurance) {
            Some(RefundOutcome::Done(_)) => original.split.personal_account,
            _ => Fen::ZERO,
        },
        // The machine posts the new shares with the bank refund, so the ledger lags 2207 till then.
        Some(RefundStage::Resettled { resettled, .. }) => Fen::ZERO - resettled.split.personal_account,
        Some(RefundStage::Reuploaded { .. }) => match answered(&RefundCall::Resettle) {
            Some(RefundOutcome::Done(RefundReply::Resettled(r))) => Fen::ZERO - r.split.personal_account,
            _ => Fen::ZERO,
        },
        _ => Fen::ZERO,
    }
}

/// At the end: every refund final; the bank gave back exactly the capture less what the kept
/// lines' cash share still takes, the ledger's lines and accounts equal the partners', and
/// insurance keeps in force exactly the settlements the hub says stand.
pub fn audit_end(world: &RefundWorld) -> Result<(), String> {
    audit(world)?;
    for (v, visit) in world.visits.iter().enumerate() {
        let (_, captured, refunded) = world.bank.captures[&v];
        let standing = match &visit.refund {
            Some(RefundStage::Refunded(done)) => {
                let still_paid = done.resettled.as_ref().map_or(Fen::ZERO, |r| r.split.cash.min(captured));
                ensure!(
                    refunded == captured - still_paid,
                    "{}: the bank refunded {refunded}, {} expected",
                    visit.id,
                    captured - still_paid
                );
                ensure!(done.bank_refund == refunded, "{}: the hub says {} was refunded, the bank {refunded}", visit.id, done.bank_refund);
                done.resettled.as_ref().map(|r| r.setl_id.clone())
            }
            Some(RefundStage::Refused { .. }) => {
                ensure!(refunded == Fen::ZERO, "{}: refused, yet the bank refunded {refunded}", visit.id);
                Some(visit.original.setl_id.clone())
            }
            other => return Err(format!("{} ended as {:?}", visit.id, other.as_ref().map(RefundStage::state))),
        };
        let at_insurance: Vec<&String> = world.insurance.settled.iter().filter(|(_, x)| **x == v).map(|(s, _)| s).collect();
        ensure!(
            at_insurance == standing.iter().collect::<Vec<_>>(),
            "{}: insurance keeps {at_insurance:?}, the hub {standing:?}",
            visit.id
        );
    }
    for p in 0..world.bank.limits.len() {
        let line = &world.ledger.accounts[&agreement(p)];
        let in_ledger = line.debits_posted + line.debits_pending - (line.credits_posted - world.bank.limits[p]);
        ensure!(in_ledger == world.bank.used(p), "patient {p}: the ledger says {in_ledger} lent, the bank {}", world.bank.used(p));
    }
    Ok(())
}
