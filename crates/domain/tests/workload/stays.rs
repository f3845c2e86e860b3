//! Inpatient stays (`wugan_domain::inpatient`) through the same faulty wire as the saga: admissions
//! (2401) with a deposit held on the credit line, fee uploads that raise the hold by the deposit
//! rule, bedside clicks (2402 → 2303 → 2304 → capture or void), discharges undone (2405),
//! admissions cancelled (2404, the hold released), settlements cancelled (2305, the capture
//! refunded; a stay clicked again after it holds nothing, its cash share charged to the line in
//! one call under the new settlement's own request ids), and holds the bank lets expire. The partners are small in-memory models that answer
//! a repeated request id as they first did; a crash loses a step's result before it commits.
//! After every step `audit` checks the books against the bank's own records.

use super::ledger::{Ledger, PostError};
use super::network::{FaultRates, Faults};
use super::rng::Rng;
use std::collections::BTreeMap;
use wugan_domain::inpatient::{self, DepositRule, StayCall, StayOutcome, StayParties, StayReply, StayStage};
use wugan_domain::ledger::{is_balanced, AccountLimit, TransferKind};
use wugan_domain::settlement::{accounts, InsuranceSplit};
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

/// A stay as the hub stores it, with what its committed steps posted at the bank's account.
pub struct Stay {
    pub id: String,
    pub patient: usize,
    pub stage: StayStage,
    pub charges: Fen,
    /// Bumped by every ward action, so a new round of insurance calls gets new message ids.
    pub round: u32,
    pub captured: Fen,
    pub refunded: Fen,
}

/// The bank's record of one stay: its authorization, and what was captured or charged and
/// refunded over all its settlements.
#[derive(Clone, Debug, Default)]
pub struct Auth {
    pub patient: usize,
    pub held: Fen,
    pub captured: Fen,
    pub refunded: Fen,
    pub open: bool,
    pub expired: bool,
}

/// The bank: one credit line per patient, one authorization per stay, answers kept by request id.
pub struct StayBank {
    pub limits: Vec<Fen>,
    pub auths: BTreeMap<usize, Auth>,
    answers: BTreeMap<String, StayOutcome>,
}

impl StayBank {
    /// Held, captured and not refunded: what the patient's line carries.
    pub fn used(&self, patient: usize) -> Fen {
        let of = |a: &Auth| {
            let held = if a.open { a.held } else { Fen::ZERO };
            held + a.captured - a.refunded
        };
        self.auths.values().filter(|a| a.patient == patient).map(of).sum()
    }

    fn handle(&mut self, request_id: &str, stay: usize, patient: usize, call: &StayCall) -> StayOutcome {
        if let Some(answer) = self.answers.get(request_id) {
            return answer.clone();
        }
        let answer = self.decide(stay, patient, call);
        self.answers.insert(request_id.to_string(), answer.clone());
        answer
    }

    fn decide(&mut self, stay: usize, patient: usize, call: &StayCall) -> StayOutcome {
        let available = self.limits[patient] - self.used(patient);
        let auth = self.auths.entry(stay).or_insert_with(|| Auth { patient, ..Auth::default() });
        match call {
            StayCall::HoldDeposit { amount } | StayCall::RaiseHold { amount, .. } => {
                let first = matches!(call, StayCall::HoldDeposit { .. });
                if !first && !auth.open {
                    return refused("no_open_hold");
                }
                // Half the line or more is lent; less than half of what was asked is declined.
                let lent = (*amount).min(available);
                if (lent.0 * 2) < amount.0 || !lent.is_positive() {
                    return refused("credit_insufficient");
                }
                auth.held += lent;
                auth.open = true;
                done(StayReply::Held { amount: lent })
            }
            StayCall::Capture { amount } if auth.open && *amount <= auth.held => {
                auth.captured += *amount;
                auth.open = false;
                done(StayReply::Captured)
            }
            // A hold and its capture at once, judged as a hold of the amount would be.
            StayCall::Charge { amount } if *amount <= available => {
                auth.captured += *amount;
                done(StayReply::Captured)
            }
            StayCall::Charge { .. } => refused("credit_insufficient"),
            StayCall::Void if auth.open => {
                auth.open = false;
                done(StayReply::Voided)
            }
            StayCall::Refund { amount } if *amount <= auth.captured - auth.refunded => {
                auth.refunded += *amount;
                done(StayReply::Refunded)
            }
            _ => refused("no_open_hold"),
        }
    }

    /// The hold's time runs out: the line is free again, whatever the hub believes.
    pub fn expire(&mut self, stay: usize) -> bool {
        match self.auths.get_mut(&stay) {
            Some(auth) if auth.open => {
                auth.open = false;
                auth.expired = true;
                true
            }
            _ => false,
        }
    }
}

/// The insurance center, for stays: it refuses some admissions, settlements and cancellations.
pub struct StayInsurance {
    pub fund_bp: BTreeMap<usize, i64>,
    /// Settlements in force: setl_id → stay.
    pub settled: BTreeMap<String, usize>,
    pub refusing: bool,
    answers: BTreeMap<String, StayOutcome>,
    rng: Rng,
}

impl StayInsurance {
    fn handle(&mut self, msgid: &str, stay: usize, charges: Fen, call: &StayCall) -> StayOutcome {
        if let Some(answer) = self.answers.get(msgid) {
            return answer.clone();
        }
        let answer = self.decide(msgid, stay, charges, call);
        self.answers.insert(msgid.to_string(), answer.clone());
        answer
    }

    fn decide(&mut self, msgid: &str, stay: usize, charges: Fen, call: &StayCall) -> StayOutcome {
        let refuse_pct = match call {
            StayCall::Admit => 8,
            StayCall::PreSettle | StayCall::Settle | StayCall::Discharge => 4,
            _ => 15,
        };
        if self.refusing && self.rng.chance(refuse_pct) {
            return refused("insurance_says_no");
        }
        let fund = Fen(charges.0 * self.fund_bp.get(&stay).copied().unwrap_or(0) / 10_000);
        let split = InsuranceSplit { medfee: charges, fund, personal_account: Fen::ZERO, cash: charges - fund, hospital_part: Fen::ZERO };
        done(match call {
            StayCall::Admit => StayReply::Admitted { mdtrt_id: format!("M{stay}") },
            StayCall::Discharge => StayReply::Discharged,
            StayCall::PreSettle => StayReply::Estimated { split },
            StayCall::Settle => {
                self.settled.insert(msgid.to_string(), stay);
                StayReply::Insured { setl_id: msgid.to_string(), split }
            }
            StayCall::CancelSettlement => {
                self.settled.retain(|_, s| *s != stay);
                StayReply::SettlementCancelled
            }
            StayCall::UndoDischarge => StayReply::DischargeUndone,
            _ => StayReply::AdmissionCancelled,
        })
    }
}

fn refused(code: &str) -> StayOutcome {
    StayOutcome::Refused { code: code.into(), message: "refused".into() }
}

fn done(reply: StayReply) -> StayOutcome {
    StayOutcome::Done(reply)
}

/// What happened, to see that the workload reaches every corner.
#[derive(Clone, Debug, Default)]
pub struct StayCounts {
    /// Events: "captured", "voided", "raised", "deposit_short", "refunded", "expired", ...; and the
    /// final states as "ended:{state}".
    pub events: BTreeMap<String, u64>,
    pub crashes: u64,
    pub lost_in_crash: u64,
    pub ledger_refused: u64,
}

impl StayCounts {
    pub fn count(&mut self, event: &str) {
        *self.events.entry(event.to_string()).or_default() += 1;
    }

    pub fn get(&self, event: &str) -> u64 {
        self.events.get(event).copied().unwrap_or(0)
    }
}

pub struct StayWorld {
    pub stays: Vec<Stay>,
    pub ledger: Ledger,
    pub bank: StayBank,
    pub insurance: StayInsurance,
    pub faults: Faults,
    pub counts: StayCounts,
    rule: DepositRule,
    rng: Rng,
}

fn agreement(patient: usize) -> String {
    accounts::bank_agreement(BANK, &format!("A{patient}"))
}

impl StayWorld {
    pub fn new(seed: u64) -> Result<StayWorld, String> {
        let mut rng = Rng::new(seed);
        let limits: Vec<Fen> = (0..3).map(|_| Fen(rng.range(5_000, 60_000))).collect();
        let mut ledger = Ledger::default();
        for (p, limit) in limits.iter().enumerate() {
            ledger.open(&agreement(p), AccountLimit::None, "bank_funding", *limit).map_err(|e| format!("{e:?}"))?;
        }
        let rates = FaultRates { undelivered_pct: 8, lost_reply_pct: 8, duplicate_pct: 8 };
        Ok(StayWorld {
            stays: Vec::new(),
            ledger,
            bank: StayBank { limits, auths: BTreeMap::new(), answers: BTreeMap::new() },
            insurance: StayInsurance {
                fund_bp: BTreeMap::new(),
                settled: BTreeMap::new(),
                refusing: true,
                answers: BTreeMap::new(),
                rng: rng.fork(),
            },
            faults: Faults::new(rates, rng.fork()),
            counts: StayCounts::default(),
            rule: DepositRule::default(),
            rng,
        })
    }

    /// One action: a ward's, the bank's, or a call of the hub's.
    pub fn step(&mut self) -> Result<(), String> {
        let n = self.stays.len();
        let pick = if n > 0 { self.rng.below(n) } else { 0 };
        match self.rng.weighted(&[6, 10, 5, 2, 2, 2, 2, 40]) {
            0 => self.admit(),
            1 if n > 0 => self.upload_fee(pick),
            2 if n > 0 => self.ward_action(pick, |stage| inpatient::begin_discharge(stage, &[])),
            3 if n > 0 => self.ward_action(pick, inpatient::begin_undo_discharge),
            4 if n > 0 => self.ward_action(pick, inpatient::begin_cancel_admission),
            5 if n > 0 => self.ward_action(pick, inpatient::begin_cancel_settlement),
            // The bank lets the stay's hold run out (if it has one open).
            6 if n > 0 && self.bank.expire(pick) => self.counts.count("expired"),
            7 if n > 0 => return self.drive(pick),
            _ => {}
        }
        Ok(())
    }

    fn admit(&mut self) {
        let (s, patient) = (self.stays.len(), self.rng.below(self.bank.limits.len()));
        self.insurance.fund_bp.insert(s, self.rng.range(0, 9_000));
        let deposit = Fen(self.rng.range(1_000, 20_000));
        let stage = StayStage::Admitting { deposit };
        self.stays.push(Stay {
            id: format!("st{s}"),
            patient,
            stage,
            charges: Fen::ZERO,
            round: 0,
            captured: Fen::ZERO,
            refunded: Fen::ZERO,
        });
    }

    /// Fees come only while the stay is in the ward; the rule may call for a raise.
    fn upload_fee(&mut self, s: usize) {
        let stay = &mut self.stays[s];
        if !matches!(stay.stage, StayStage::InWard(_)) {
            return;
        }
        stay.charges += Fen(self.rng.range(500, 9_000));
        if let Some(stage) = inpatient::plan_raise(&stay.stage, &self.rule, stay.charges) {
            stay.stage = stage;
        }
    }

    fn ward_action(&mut self, s: usize, begin: fn(&StayStage) -> Result<StayStage, inpatient::StayError>) {
        let stay = &mut self.stays[s];
        if let Ok(stage) = begin(&stay.stage) {
            stay.stage = stage;
            stay.round += 1;
        }
    }

    /// Sends the stay's next call, applies the outcome, and commits it with its transfers
    /// unless the hub crashes first.
    pub fn drive(&mut self, s: usize) -> Result<(), String> {
        let Some(call) = inpatient::next_call(&self.stays[s].stage) else { return Ok(()) };
        let stay = &self.stays[s];
        let (patient, charges) = (stay.patient, stay.charges);
        let request_id = request_id(stay, &call);
        let StayWorld { faults, bank, insurance, .. } = self;
        let outcome = match call {
            StayCall::HoldDeposit { .. }
            | StayCall::RaiseHold { .. }
            | StayCall::Capture { .. }
            | StayCall::Charge { .. }
            | StayCall::Void
            | StayCall::Refund { .. } => faults.deliver(|| bank.handle(&request_id, s, patient, &call))?,
            _ => faults.deliver(|| insurance.handle(&request_id, s, charges, &call))?,
        };
        let outcome = outcome.unwrap_or(StayOutcome::Unknown);
        let agreement_id = format!("A{patient}");
        let psn_no = format!("P{patient}");
        let parties = StayParties {
            stay_id: &stay.id,
            hospital_code: HOSPITAL,
            psn_no: &psn_no,
            insuplc_admdvs: ADMDVS,
            insutype: INSUTYPE,
            bank_code: BANK,
            bank_agreement_id: &agreement_id,
        };
        let step = inpatient::apply(&stay.stage, &parties, charges, &call, outcome.clone())
            .map_err(|e| format!("{}: {call:?} → {outcome:?}: {e}", stay.id))?;
        if self.faults.enabled && self.rng.chance(3) {
            self.counts.crashes += 1;
            self.counts.lost_in_crash += u64::from(outcome != StayOutcome::Unknown);
            return Ok(());
        }
        match self.ledger.post_all(&step.transfers) {
            Ok(()) => {}
            Err(PostError::Limit) => {
                self.counts.ledger_refused += 1;
                return Ok(());
            }
            Err(PostError::Broken(e)) => return Err(format!("{}: {e}", self.stays[s].id)),
        }
        self.count_events(&call, &outcome);
        let stay = &mut self.stays[s];
        for t in &step.transfers {
            match (t.kind, t.code.as_str()) {
                (TransferKind::PostPending, _) => stay.captured += t.amount,
                (_, "bank_refund") => stay.refunded += t.amount,
                _ => {}
            }
        }
        stay.stage = step.stage;
        Ok(())
    }

    fn count_events(&mut self, call: &StayCall, outcome: &StayOutcome) {
        let name = match (call, outcome) {
            (_, StayOutcome::Unknown) => return,
            (StayCall::RaiseHold { .. }, StayOutcome::Done(_)) => "raised",
            (StayCall::HoldDeposit { .. } | StayCall::RaiseHold { .. }, StayOutcome::Refused { .. }) => "deposit_short",
            (StayCall::Capture { .. }, StayOutcome::Done(_)) => "captured",
            (StayCall::Capture { .. }, StayOutcome::Refused { .. }) => "capture_declined",
            (StayCall::Charge { .. }, StayOutcome::Done(_)) => "charged",
            (StayCall::Charge { .. }, StayOutcome::Refused { .. }) => "charge_declined",
            (StayCall::Void, StayOutcome::Done(_)) => "voided",
            (StayCall::Void, StayOutcome::Refused { .. }) => "void_found_nothing_held",
            (StayCall::Refund { .. }, _) => "refunded",
            (StayCall::UndoDischarge, StayOutcome::Done(_)) => "discharge_undone",
            (StayCall::CancelSettlement, StayOutcome::Refused { .. }) => "settlement_kept",
            _ => "",
        };
        if !name.is_empty() {
            self.counts.count(name);
        }
    }

    /// Faults and refusals off; every stay the ward still holds is clicked out at the bedside and
    /// driven until it ends.
    pub fn resume_to_the_end(&mut self) -> Result<(), String> {
        self.faults.enabled = false;
        self.insurance.refusing = false;
        for round in 0.. {
            ensure!(round < 100, "stays never ended: {:?}", self.stays.iter().map(|s| s.stage.state()).collect::<Vec<_>>());
            if self.stays.iter().all(|s| s.stage.is_final()) {
                for state in self.stays.iter().map(|s| s.stage.state()) {
                    self.counts.count(&format!("ended:{state}"));
                }
                return audit_end(self);
            }
            for s in 0..self.stays.len() {
                if inpatient::next_call(&self.stays[s].stage).is_none() {
                    self.ward_action(s, |stage| inpatient::begin_discharge(stage, &[]));
                }
                self.drive(s)?;
                audit(self)?;
            }
        }
        Ok(())
    }
}

/// The hub's request ids: each bedside settlement's bank requests scoped by the settlement
/// (`Ward::settle_scope`), a charge under the capture's id.
fn request_id(stay: &Stay, call: &StayCall) -> String {
    let (id, round) = (&stay.id, stay.round);
    let scope = stay.stage.ward().map(|w| w.settle_scope()).unwrap_or_default();
    match call {
        StayCall::HoldDeposit { .. } => format!("{id}:hold"),
        StayCall::RaiseHold { n, .. } => format!("{id}:raise:{n}"),
        StayCall::Capture { .. } | StayCall::Charge { .. } => format!("{id}:{scope}capture"),
        StayCall::Void => format!("{id}:{scope}void"),
        StayCall::Refund { .. } => format!("{id}:{scope}refund"),
        other => format!("{id}:{round}:{other:?}"),
    }
}

/// After every step: the trial balance; each stay's open pieces in the ledger are exactly what its
/// stage holds (so no hold outlives its stay's end); the bank's hold, capture and refund for the
/// stay are the hub's, or one uncommitted step ahead; no refund exceeds its capture; no line is
/// overdrawn at the bank, nor in the ledger beyond what the bank released unseen (lent again).
pub fn audit(world: &StayWorld) -> Result<(), String> {
    ensure!(is_balanced(world.ledger.accounts.values()), "the trial balance fails");
    let patients = world.bank.limits.len();
    // Per patient: what the hub's stages say is lent, and what the bank released that the hub
    // has not learnt yet (the bank may lend it again).
    let (mut hub_lent, mut released_unseen) = (vec![Fen::ZERO; patients], vec![Fen::ZERO; patients]);
    for (s, stay) in world.stays.iter().enumerate() {
        let in_ledger = world.ledger.held_under(&format!("stay:{}:hold:", stay.id));
        ensure!(in_ledger == stay.stage.open_hold(), "{}: the ledger holds {in_ledger}, the stage {:?}", stay.id, stay.stage);
        let auth = world.bank.auths.get(&s).cloned().unwrap_or_default();
        bank_follows_stay(stay, &auth)?;
        let by_hub = stay.stage.open_hold() + stay.captured - stay.refunded;
        let by_bank = if auth.open { auth.held } else { Fen::ZERO } + auth.captured - auth.refunded;
        hub_lent[stay.patient] += by_hub;
        released_unseen[stay.patient] += (by_hub - by_bank).max(Fen::ZERO);
    }
    for (p, limit) in world.bank.limits.iter().enumerate() {
        let used = world.bank.used(p);
        ensure!(used <= *limit && !used.is_negative(), "the bank lent {used} on patient {p}'s line of {limit}");
        let line = &world.ledger.accounts[&agreement(p)];
        let in_ledger = line.debits_posted + line.debits_pending - (line.credits_posted - *limit);
        ensure!(in_ledger == hub_lent[p], "patient {p}: the ledger lends {in_ledger}, the stays {}", hub_lent[p]);
        ensure!(in_ledger <= *limit + released_unseen[p], "the ledger lends {in_ledger} on patient {p}'s line of {limit}");
    }
    Ok(())
}

/// The bank's record of one stay against the hub's: equal, or ahead by the one call in flight.
fn bank_follows_stay(stay: &Stay, auth: &Auth) -> Result<(), String> {
    let id = &stay.id;
    ensure!(auth.refunded <= auth.captured, "{id}: the bank refunded {} of a {} capture", auth.refunded, auth.captured);
    let call = inpatient::next_call(&stay.stage);
    let capturing =
        matches!(call, Some(StayCall::Capture { amount } | StayCall::Charge { amount }) if auth.captured == stay.captured + amount);
    ensure!(auth.captured == stay.captured || capturing, "{id}: the bank captured {}, the hub {}", auth.captured, stay.captured);
    let refunding = matches!(call, Some(StayCall::Refund { amount }) if auth.refunded == stay.refunded + amount);
    ensure!(auth.refunded == stay.refunded || refunding, "{id}: the bank refunded {}, the hub {}", auth.refunded, stay.refunded);
    let bank_holds = if auth.open { auth.held } else { Fen::ZERO };
    let hub_holds = stay.stage.open_hold();
    let asking = match call {
        Some(StayCall::HoldDeposit { amount } | StayCall::RaiseHold { amount, .. }) => amount,
        _ => Fen::ZERO,
    };
    let growing = bank_holds > hub_holds && bank_holds <= hub_holds + asking;
    let closing = bank_holds == Fen::ZERO && (auth.expired || matches!(call, Some(StayCall::Capture { .. } | StayCall::Void)));
    ensure!(
        bank_holds == hub_holds || growing || closing,
        "{id}: the bank holds {bank_holds}, the hub {hub_holds} ({})",
        stay.stage.state()
    );
    Ok(())
}

/// At the end: every stay final, nothing held anywhere, the bank's and the ledger's lines agree,
/// and insurance keeps a settlement exactly for the stays that ended settled.
pub fn audit_end(world: &StayWorld) -> Result<(), String> {
    audit(world)?;
    ensure!(world.ledger.held_under("stay:") == Fen::ZERO, "holds outlive their stays");
    for (p, limit) in world.bank.limits.iter().enumerate() {
        let line = &world.ledger.accounts[&agreement(p)];
        let in_ledger = line.debits_posted + line.debits_pending - (line.credits_posted - *limit);
        ensure!(in_ledger == world.bank.used(p), "patient {p}: the ledger says {in_ledger} lent, the bank {}", world.bank.used(p));
    }
    for (s, stay) in world.stays.iter().enumerate() {
        ensure!(stay.stage.is_final(), "{} ended {}", stay.id, stay.stage.state());
        ensure!(world.bank.auths.get(&s).is_none_or(|a| !a.open), "{}: the bank still holds for it", stay.id);
        let settled = matches!(stay.stage, StayStage::Settled(_) | StayStage::SettledUnpaid(_));
        let at_insurance = world.insurance.settled.values().filter(|x| **x == s).count();
        ensure!(
            at_insurance == usize::from(settled),
            "{}: insurance keeps {at_insurance} settlements, the hub is {}",
            stay.id,
            stay.stage.state()
        );
    }
    Ok(())
}
