//! A simple in-memory insurance center: 2206 estimate, 2207 settle, 2208 reverse, and the
//! personal account's 9901 debit and 9902 undo. Like the real one, it answers a repeated msgid
//! with its first answer, and it refuses by its own business decision: a visit settled already,
//! a personal account too small, or a seeded "risk" refusal.

use super::rng::Rng;
use std::collections::BTreeMap;
use wugan_domain::settlement::InsuranceSplit;
use wugan_domain::Fen;

/// How the insurance center prices one visit.
#[derive(Clone, Debug)]
pub struct VisitPolicy {
    pub patient: usize,
    /// Share of the visit the hospital bears (医院负担), in basis points.
    pub hospital_bp: i64,
    /// Share of the rest the fund pays, in basis points.
    pub fund_bp: i64,
    /// How much the fund share at 2207 differs from the estimate at 2206.
    pub final_drift_fen: i64,
    /// Whether the patient lets the personal account pay.
    pub uses_account: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    PreSettle { visit: usize },
    Settle { visit: usize },
    Reverse { setl_id: String },
    Debit { patient: usize, amount: Fen },
    Undo { txn_id: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Estimated(InsuranceSplit),
    Settled { setl_id: String, split: InsuranceSplit },
    Reversed,
    Debited { txn_id: String },
    Undone,
    Refused { code: String },
}

/// A 2207 settlement on record.
#[derive(Clone, Debug)]
pub struct Record {
    pub setl_id: String,
    pub visit: usize,
    pub split: InsuranceSplit,
    pub reversed: bool,
}

/// A 9901 debit on record.
#[derive(Clone, Debug)]
pub struct Debit {
    pub txn_id: String,
    pub patient: usize,
    pub amount: Fen,
    pub undone: bool,
}

/// Percent chances of a refusal the center decides for reasons of its own.
#[derive(Clone, Copy, Debug, Default)]
pub struct Risk {
    pub presettle_pct: u32,
    pub settle_pct: u32,
    pub reverse_pct: u32,
    pub debit_pct: u32,
}

pub struct Insurance {
    pub opening: Vec<Fen>,
    /// Personal account balances: never below zero.
    pub balances: Vec<Fen>,
    pub policies: Vec<VisitPolicy>,
    /// The fees uploaded (2204) per visit.
    pub medfee: Vec<Fen>,
    pub records: Vec<Record>,
    pub debits: Vec<Debit>,
    /// First request and first answer per msgid.
    replies: BTreeMap<String, (Request, Answer)>,
    /// Requests that reused a msgid with other content: a hub bug.
    pub misuse: Vec<String>,
    pub risk: Risk,
    rng: Rng,
}

impl Insurance {
    pub fn new(opening: Vec<Fen>, risk: Risk, rng: Rng) -> Insurance {
        Insurance {
            balances: opening.clone(),
            opening,
            policies: Vec::new(),
            medfee: Vec::new(),
            records: Vec::new(),
            debits: Vec::new(),
            replies: BTreeMap::new(),
            misuse: Vec::new(),
            risk,
            rng,
        }
    }

    pub fn add_visit(&mut self, policy: VisitPolicy) {
        self.policies.push(policy);
        self.medfee.push(Fen::ZERO);
    }

    /// 2204: a fee line for the visit.
    pub fn upload_fee(&mut self, visit: usize, amount: Fen) {
        self.medfee[visit] += amount;
    }

    /// The first answer given to `msgid`, if it was ever delivered.
    pub fn answer_to(&self, msgid: &str) -> Option<&Answer> {
        self.replies.get(msgid).map(|(_, answer)| answer)
    }

    pub fn record(&self, setl_id: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.setl_id == setl_id)
    }

    pub fn debit(&self, txn_id: &str) -> Option<&Debit> {
        self.debits.iter().find(|d| d.txn_id == txn_id)
    }

    /// Handles one delivered request: a repeated msgid gets its first answer.
    pub fn handle(&mut self, msgid: &str, request: Request) -> Answer {
        if let Some((first, answer)) = self.replies.get(msgid) {
            if *first != request {
                self.misuse.push(format!("msgid {msgid} reused: first {first:?}, now {request:?}"));
            }
            return answer.clone();
        }
        let answer = self.decide(&request);
        self.replies.insert(msgid.to_string(), (request, answer.clone()));
        answer
    }

    fn decide(&mut self, request: &Request) -> Answer {
        match request {
            Request::PreSettle { visit } => self.presettle(*visit),
            Request::Settle { visit } => self.settle(*visit),
            Request::Reverse { setl_id } => self.reverse(setl_id),
            Request::Debit { patient, amount } => self.debit_account(*patient, *amount),
            Request::Undo { txn_id } => self.undo(txn_id),
        }
    }

    fn refused(code: &str) -> Answer {
        Answer::Refused { code: code.to_string() }
    }

    fn settled_already(&self, visit: usize) -> bool {
        self.records.iter().any(|r| r.visit == visit && !r.reversed)
    }

    fn presettle(&mut self, visit: usize) -> Answer {
        if self.settled_already(visit) {
            return Self::refused("visit_settled");
        }
        if self.rng.chance(self.risk.presettle_pct) {
            return Self::refused("risk");
        }
        Answer::Estimated(self.split(visit, 0))
    }

    fn settle(&mut self, visit: usize) -> Answer {
        if self.settled_already(visit) {
            return Self::refused("visit_settled");
        }
        if self.rng.chance(self.risk.settle_pct) {
            return Self::refused("risk");
        }
        let split = self.split(visit, self.policies[visit].final_drift_fen);
        self.balances[self.policies[visit].patient] -= split.personal_account;
        let setl_id = format!("SETL{}", self.records.len() + 1);
        self.records.push(Record { setl_id: setl_id.clone(), visit, split, reversed: false });
        Answer::Settled { setl_id, split }
    }

    fn reverse(&mut self, setl_id: &str) -> Answer {
        let Some(index) = self.records.iter().position(|r| r.setl_id == setl_id && !r.reversed) else {
            return Self::refused("not_settled");
        };
        if self.rng.chance(self.risk.reverse_pct) {
            return Self::refused("risk");
        }
        let record = &mut self.records[index];
        record.reversed = true;
        self.balances[self.policies[record.visit].patient] += record.split.personal_account;
        Answer::Reversed
    }

    fn debit_account(&mut self, patient: usize, amount: Fen) -> Answer {
        if amount > self.balances[patient] || !amount.is_positive() {
            return Self::refused("insufficient_balance");
        }
        if self.rng.chance(self.risk.debit_pct) {
            return Self::refused("risk");
        }
        self.balances[patient] -= amount;
        let txn_id = format!("T{}", self.debits.len() + 1);
        self.debits.push(Debit { txn_id: txn_id.clone(), patient, amount, undone: false });
        Answer::Debited { txn_id }
    }

    /// 9902 is never refused for a debit on record: the patient's money comes back.
    fn undo(&mut self, txn_id: &str) -> Answer {
        let Some(debit) = self.debits.iter_mut().find(|d| d.txn_id == txn_id) else {
            return Self::refused("unknown_txn");
        };
        if !debit.undone {
            debit.undone = true;
            self.balances[debit.patient] += debit.amount;
        }
        Answer::Undone
    }

    /// The center's split of a visit now: the hospital's part, the fund's share (moved by
    /// `drift_fen` at 2207), the personal account as far as its balance goes, cash for the rest.
    fn split(&self, visit: usize, drift_fen: i64) -> InsuranceSplit {
        let policy = &self.policies[visit];
        let medfee = self.medfee[visit];
        let hospital_part = Fen(medfee.0 * policy.hospital_bp / 10_000);
        let base = medfee - hospital_part;
        let fund = Fen((base.0 * policy.fund_bp / 10_000 + drift_fen).clamp(0, base.0));
        let rest = base - fund;
        let personal_account = if policy.uses_account { rest.min(self.balances[policy.patient]) } else { Fen::ZERO };
        InsuranceSplit { medfee, fund, personal_account, cash: rest - personal_account, hospital_part }
    }
}
