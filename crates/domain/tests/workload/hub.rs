//! A tiny hub with no I/O: what its database holds (patients, visits, each settlement's and
//! repayment's stage, the ledger), and an orchestrator that only asks the pure machines
//! (`saga`, `repayment`) what to call, makes the call through the faulty wire, and persists what
//! they answer. A call's result lives in memory until it is committed; a crash forgets it.
//!
//! Request ids are derived from what is stored (`{settlement}:auth`, `:capture`, `:void`,
//! `:refund`, and the msgids `:2206`, `:2207`, `:2208:{attempt}`), so a resumed call is the same
//! request as the one it repeats.

use super::bank;
use super::insurance;
use super::ledger::{Ledger, PostError};
use super::network::Partners;
use wugan_domain::ledger::AccountLimit;
use wugan_domain::repayment::{self, RepaymentCall, RepaymentOutcome, RepaymentParties, RepaymentStage};
use wugan_domain::settlement::saga::{self, Call, Insured, Outcome, Reply, Stage};
use wugan_domain::settlement::{accounts, Parties};
use wugan_domain::Fen;

pub const BANK_CODE: &str = "B";
pub const REGION: &str = "440300";
pub const INSUTYPE: &str = "310";
pub const HOSPITALS: [&str; 2] = ["H1", "H2"];

/// A patient as the hub knows them, with their ledger accounts' names.
#[derive(Clone, Debug)]
pub struct Patient {
    pub psn_no: String,
    pub agreement_id: String,
    pub limit: Fen,
    pub opening_balance: Fen,
    pub bank_account: String,
    pub personal_account: String,
    pub unpaid_account: String,
    pub credit_funding: String,
    pub personal_funding: String,
}

impl Patient {
    pub fn new(index: usize, limit: Fen, opening_balance: Fen) -> Patient {
        let (psn_no, agreement_id) = (format!("P{index}"), format!("A{index}"));
        Patient {
            bank_account: accounts::bank_agreement(BANK_CODE, &agreement_id),
            personal_account: accounts::personal_account(&psn_no),
            unpaid_account: accounts::patient_unpaid(&psn_no),
            credit_funding: format!("credit_facility:{BANK_CODE}:{agreement_id}"),
            personal_funding: format!("personal_account_funding:{psn_no}"),
            psn_no,
            agreement_id,
            limit,
            opening_balance,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Visit {
    pub patient: usize,
    pub hospital: usize,
    /// The fees uploaded so far.
    pub medfee: Fen,
    /// One settlement per visit: a second click continues the first.
    pub settlement: Option<usize>,
}

/// Request ids, fixed when the settlement is written.
#[derive(Clone, Debug)]
pub struct SettlementIds {
    pub presettle: String,
    pub settle: String,
    pub auth: String,
    pub capture: String,
    pub void: String,
    pub refund: String,
}

#[derive(Clone, Debug)]
pub struct StoredSettlement {
    pub id: String,
    pub visit: usize,
    pub patient: usize,
    pub medfee: Fen,
    pub stage: Stage,
    /// Cancellations begun; each has its own 2208 msgid.
    pub cancel_attempts: u32,
    /// Bumped on every write: a commit from a stale read is dropped.
    pub version: u64,
    pub ids: SettlementIds,
}

impl StoredSettlement {
    pub fn cancel_msgid(&self, attempt: u32) -> String {
        format!("{}:2208:{attempt}", self.id)
    }
}

#[derive(Clone, Debug)]
pub struct StoredRepayment {
    pub id: String,
    pub patient: usize,
    pub amount: Fen,
    pub stage: RepaymentStage,
    pub version: u64,
}

impl StoredRepayment {
    pub fn debit_msgid(&self) -> String {
        format!("{}:9901", self.id)
    }
    pub fn post_request_id(&self) -> String {
        format!("{}:repay", self.id)
    }
    pub fn undo_msgid(&self) -> String {
        format!("{}:9902", self.id)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    Settlement(usize),
    Repayment(usize),
}

#[derive(Clone, Debug)]
enum Answer {
    Settlement { call: Call, outcome: Outcome },
    Repayment { outcome: RepaymentOutcome },
}

/// A call made whose result is not yet committed.
#[derive(Clone, Debug)]
struct InFlight {
    item: Item,
    version: u64,
    answer: Answer,
}

/// What a commit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Commit {
    /// A new stage was written with its transfers.
    Moved,
    /// Unknown outcome: nothing to write.
    Unchanged,
    /// Another commit wrote first.
    Stale,
    /// The ledger refused the transfers (the personal account would go below zero): nothing
    /// written, the call is made again later.
    LedgerRefused,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct CommitCounts {
    pub moved: u64,
    pub unchanged: u64,
    pub stale: u64,
    pub ledger_refused: u64,
    pub crashes: u64,
    pub lost_in_crash: u64,
}

impl CommitCounts {
    fn count(&mut self, commit: &Commit) {
        let counter = match commit {
            Commit::Moved => &mut self.moved,
            Commit::Unchanged => &mut self.unchanged,
            Commit::Stale => &mut self.stale,
            Commit::LedgerRefused => &mut self.ledger_refused,
        };
        *counter += 1;
    }
}

/// The hub: its tables (persisted: they survive a crash) and the call results in flight (lost
/// in a crash).
pub struct Hub {
    pub patients: Vec<Patient>,
    pub visits: Vec<Visit>,
    pub settlements: Vec<StoredSettlement>,
    pub repayments: Vec<StoredRepayment>,
    pub ledger: Ledger,
    /// The one insurance fund pool's account name, for the auditor.
    pub fund_account: String,
    /// Per hospital in `HOSPITALS`: (money received, unpaid bills) account names.
    /// Per hospital: received, unpaid, and the write-off's two sides (burden, written off).
    pub hospital_accounts: Vec<(String, String, String, String)>,
    pub counts: CommitCounts,
    inflight: Vec<InFlight>,
}

impl Hub {
    pub fn new(patients: Vec<Patient>) -> Result<Hub, String> {
        let mut ledger = Ledger::default();
        for p in &patients {
            let opened = ledger
                .open(&p.bank_account, AccountLimit::None, &p.credit_funding, p.limit)
                .and_then(|()| ledger.open(&p.personal_account, AccountLimit::DebitsWithinCredits, &p.personal_funding, p.opening_balance));
            opened.map_err(|e| format!("opening {}'s accounts: {e:?}", p.psn_no))?;
        }
        Ok(Hub {
            patients,
            visits: Vec::new(),
            settlements: Vec::new(),
            repayments: Vec::new(),
            ledger,
            fund_account: accounts::insurance_fund(REGION, INSUTYPE),
            hospital_accounts: HOSPITALS
                .iter()
                .map(|h| {
                    (accounts::hospital(h), accounts::hospital_unpaid(h), accounts::hospital_burden(h), accounts::hospital_writeoff(h))
                })
                .collect(),
            counts: CommitCounts::default(),
            inflight: Vec::new(),
        })
    }

    pub fn add_visit(&mut self, patient: usize, hospital: usize) -> usize {
        self.visits.push(Visit { patient, hospital, medfee: Fen::ZERO, settlement: None });
        self.visits.len() - 1
    }

    /// A fee upload; refused once the visit has a settlement.
    pub fn upload_fee(&mut self, visit: usize, amount: Fen) -> bool {
        let v = &mut self.visits[visit];
        if v.settlement.is_some() {
            return false;
        }
        v.medfee += amount;
        true
    }

    /// The doctor's click: writes the settlement (`started`) the first time, finds it after.
    /// `None` when there is nothing to settle.
    pub fn click(&mut self, visit: usize) -> Option<usize> {
        let v = &self.visits[visit];
        if let Some(existing) = v.settlement {
            return Some(existing);
        }
        if !v.medfee.is_positive() {
            return None;
        }
        let id = format!("s{visit}");
        let ids = SettlementIds {
            presettle: format!("{id}:2206"),
            settle: format!("{id}:2207"),
            auth: format!("{id}:auth"),
            capture: format!("{id}:capture"),
            void: format!("{id}:void"),
            refund: format!("{id}:refund"),
        };
        let stored = StoredSettlement {
            id,
            visit,
            patient: v.patient,
            medfee: v.medfee,
            stage: Stage::Started,
            cancel_attempts: 0,
            version: 0,
            ids,
        };
        self.settlements.push(stored);
        self.visits[visit].settlement = Some(self.settlements.len() - 1);
        self.visits[visit].settlement
    }

    /// 结算撤销: writes `cancelling` with a new 2208 msgid; false when it cannot be cancelled.
    pub fn cancel(&mut self, settlement: usize) -> bool {
        let s = &mut self.settlements[settlement];
        let Some(cancelling) = saga::begin_cancel(&s.stage) else { return false };
        s.stage = cancelling;
        s.cancel_attempts += 1;
        s.version += 1;
        true
    }

    /// A repayment request, refused at once when it is more than the `debt` the bank reports.
    pub fn request_repayment(&mut self, patient: usize, amount: Fen, debt: Fen) -> usize {
        let stage = repayment::refuse_over_debt(amount, debt).unwrap_or(RepaymentStage::Started);
        let id = format!("r{}", self.repayments.len());
        self.repayments.push(StoredRepayment { id, patient, amount, stage, version: 0 });
        self.repayments.len() - 1
    }

    /// Everything not in a final stage, in the order it was written.
    pub fn unfinished(&self) -> Vec<Item> {
        let settlements = self.settlements.iter().enumerate().filter(|(_, s)| saga::next_call(&s.stage).is_some());
        let repayments = self.repayments.iter().enumerate().filter(|(_, r)| !r.stage.is_final());
        settlements.map(|(i, _)| Item::Settlement(i)).chain(repayments.map(|(i, _)| Item::Repayment(i))).collect()
    }

    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    /// The process dies: every call result not yet committed is forgotten.
    pub fn crash(&mut self) {
        self.counts.crashes += 1;
        self.counts.lost_in_crash += self.inflight.len() as u64;
        self.inflight.clear();
    }

    /// Makes the item's next call and keeps its result in flight; false when nothing is due.
    pub fn send(&mut self, item: Item, partners: &mut Partners) -> Result<bool, String> {
        let (version, answer) = match item {
            Item::Settlement(i) => {
                let s = &self.settlements[i];
                let Some(call) = saga::next_call(&s.stage) else { return Ok(false) };
                let outcome = self.settlement_call(s, &call, partners)?;
                (s.version, Answer::Settlement { call, outcome })
            }
            Item::Repayment(i) => {
                let r = &self.repayments[i];
                let Some(call) = repayment::next_call(&r.stage) else { return Ok(false) };
                (r.version, Answer::Repayment { outcome: self.repayment_call(r, &call, partners)? })
            }
        };
        self.inflight.push(InFlight { item, version, answer });
        Ok(true)
    }

    /// Commits the `nth` result in flight (any order: several workers).
    pub fn commit(&mut self, nth: usize) -> Result<Commit, String> {
        if self.inflight.is_empty() {
            return Ok(Commit::Unchanged);
        }
        let flight = self.inflight.swap_remove(nth % self.inflight.len());
        let commit = match (flight.item, flight.answer) {
            (Item::Settlement(i), Answer::Settlement { call, outcome }) => self.commit_settlement(i, flight.version, &call, outcome)?,
            (Item::Repayment(i), Answer::Repayment { outcome }) => self.commit_repayment(i, flight.version, outcome)?,
            (item, answer) => return Err(format!("{answer:?} in flight for {item:?}")),
        };
        self.counts.count(&commit);
        Ok(commit)
    }

    /// One step as the orchestrator's loop makes it: call, then commit at once.
    pub fn drive(&mut self, item: Item, partners: &mut Partners) -> Result<Option<Commit>, String> {
        if !self.send(item, partners)? {
            return Ok(None);
        }
        self.commit(self.inflight.len() - 1).map(Some)
    }

    fn settlement_call(&self, s: &StoredSettlement, call: &Call, partners: &mut Partners) -> Result<Outcome, String> {
        use bank::Request as B;
        use insurance::Request as I;
        let (visit, line) = (s.visit, s.patient);
        let ids = &s.ids;
        match call {
            Call::PreSettle => insurance_outcome(partners.call_insurance(&ids.presettle, I::PreSettle { visit })?),
            Call::SettleInsurance => insurance_outcome(partners.call_insurance(&ids.settle, I::Settle { visit })?),
            Call::ReverseInsurance => {
                let setl_id = s.stage.paid().map(|p| p.insured.setl_id.clone()).unwrap_or_default();
                insurance_outcome(partners.call_insurance(&s.cancel_msgid(s.cancel_attempts), I::Reverse { setl_id })?)
            }
            Call::Authorize { amount } => bank_outcome(partners.call_bank(&ids.auth, B::Authorize { line, amount: *amount })?),
            Call::Capture { amount } => {
                bank_outcome(partners.call_bank(&ids.capture, B::Capture { auth: ids.auth.clone(), amount: *amount })?)
            }
            Call::Charge { amount } => bank_outcome(partners.call_bank(&ids.capture, B::Charge { line, amount: *amount })?),
            Call::Void => bank_outcome(partners.call_bank(&ids.void, B::Void { auth: ids.auth.clone() })?),
            Call::Refund { amount } => {
                bank_outcome(partners.call_bank(&ids.refund, B::Refund { capture: ids.capture.clone(), amount: *amount })?)
            }
        }
    }

    fn repayment_call(&self, r: &StoredRepayment, call: &RepaymentCall, partners: &mut Partners) -> Result<RepaymentOutcome, String> {
        let (patient, amount) = (r.patient, r.amount);
        let answer = match call {
            RepaymentCall::DebitAccount => partners.call_insurance(&r.debit_msgid(), insurance::Request::Debit { patient, amount })?,
            RepaymentCall::UndoDebit { txn_id } => {
                partners.call_insurance(&r.undo_msgid(), insurance::Request::Undo { txn_id: txn_id.clone() })?
            }
            RepaymentCall::PostRepayment { txn_id } => {
                let request = bank::Request::Repay { line: patient, amount, reference: txn_id.clone() };
                return Ok(match partners.call_bank(&r.post_request_id(), request)? {
                    None => RepaymentOutcome::Unknown,
                    Some(bank::Answer::Repaid) => RepaymentOutcome::Done,
                    Some(bank::Answer::Refused { code }) => RepaymentOutcome::Refused { message: code },
                    Some(other) => return Err(format!("the bank answered {other:?} to a repayment")),
                });
            }
        };
        Ok(match answer {
            None => RepaymentOutcome::Unknown,
            Some(insurance::Answer::Debited { txn_id }) => RepaymentOutcome::Debited { txn_id },
            Some(insurance::Answer::Undone) => RepaymentOutcome::Done,
            Some(insurance::Answer::Refused { code }) => RepaymentOutcome::Refused { message: code },
            Some(other) => return Err(format!("the insurance center answered {other:?} to {call:?}")),
        })
    }

    fn commit_settlement(&mut self, i: usize, version: u64, call: &Call, outcome: Outcome) -> Result<Commit, String> {
        let s = &self.settlements[i];
        if s.version != version {
            return Ok(Commit::Stale);
        }
        let (visit, patient) = (&self.visits[s.visit], &self.patients[self.visits[s.visit].patient]);
        let parties = Parties {
            settlement_id: &s.id,
            hospital_code: HOSPITALS[visit.hospital],
            psn_no: &patient.psn_no,
            insuplc_admdvs: REGION,
            insutype: INSUTYPE,
            bank_code: BANK_CODE,
            bank_agreement_id: &patient.agreement_id,
            cash_at_hospital: false,
        };
        let step = saga::apply(&s.stage, &parties, s.medfee, call, outcome).map_err(|e| format!("{}: the saga refused: {e}", s.id))?;
        if step.stage == s.stage {
            return match step.transfers.is_empty() {
                true => Ok(Commit::Unchanged),
                false => Err(format!("{}: transfers without a new stage: {:?}", s.id, step.transfers)),
            };
        }
        if let Some(commit) = self.post(&step.transfers)? {
            return Ok(commit);
        }
        let s = &mut self.settlements[i];
        s.stage = step.stage;
        s.version += 1;
        Ok(Commit::Moved)
    }

    fn commit_repayment(&mut self, i: usize, version: u64, outcome: RepaymentOutcome) -> Result<Commit, String> {
        let r = &self.repayments[i];
        if r.version != version {
            return Ok(Commit::Stale);
        }
        let patient = &self.patients[r.patient];
        let parties = RepaymentParties {
            repayment_id: &r.id,
            psn_no: &patient.psn_no,
            bank_code: BANK_CODE,
            bank_agreement_id: &patient.agreement_id,
            amount: r.amount,
        };
        let Some((stage, transfers)) = repayment::apply(&r.stage, &parties, outcome.clone()) else {
            return Err(format!("{}: {outcome:?} does not answer {:?}", r.id, r.stage));
        };
        if stage == r.stage {
            return Ok(Commit::Unchanged);
        }
        if let Some(commit) = self.post(&transfers)? {
            return Ok(commit);
        }
        let r = &mut self.repayments[i];
        r.stage = stage;
        r.version += 1;
        Ok(Commit::Moved)
    }

    /// Posts a step's transfers; `Some` when the ledger refused them (nothing is written then).
    fn post(&mut self, transfers: &[wugan_domain::ledger::Transfer]) -> Result<Option<Commit>, String> {
        match self.ledger.post_all(transfers) {
            Ok(()) => Ok(None),
            Err(PostError::Limit) => Ok(Some(Commit::LedgerRefused)),
            Err(PostError::Broken(e)) => Err(format!("the ledger refused a step: {e}")),
        }
    }
}

fn insurance_outcome(answer: Option<insurance::Answer>) -> Result<Outcome, String> {
    use insurance::Answer as A;
    Ok(match answer {
        None => Outcome::Unknown,
        Some(A::Estimated(split)) => Outcome::Done(Reply::Estimated { split }),
        Some(A::Settled { setl_id, split }) => Outcome::Done(Reply::Insured(Insured { setl_id, split })),
        Some(A::Reversed) => Outcome::Done(Reply::Reversed),
        Some(A::Refused { code }) => Outcome::Refused { code, message: "refused by the insurance center".into() },
        Some(other @ (A::Debited { .. } | A::Undone)) => {
            return Err(format!("the insurance center answered {other:?} to a settlement call"))
        }
    })
}

fn bank_outcome(answer: Option<bank::Answer>) -> Result<Outcome, String> {
    use bank::Answer as A;
    Ok(match answer {
        None => Outcome::Unknown,
        Some(A::Held { amount }) => Outcome::Done(Reply::Held { amount }),
        Some(A::Captured) => Outcome::Done(Reply::Captured),
        Some(A::Charged) => Outcome::Done(Reply::Charged),
        Some(A::Voided) => Outcome::Done(Reply::Voided),
        Some(A::Refunded) => Outcome::Done(Reply::Refunded),
        Some(A::Refused { code }) => Outcome::Refused { code, message: "refused by the bank".into() },
        Some(A::Repaid) => return Err("the bank answered a settlement call with a repayment".into()),
    })
}
