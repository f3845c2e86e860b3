//! The auditor (TigerBeetle's auditor.zig idea): after every step it rebuilds, independently of
//! the code under test, what must be true, from the hub's stored stages and from the partners'
//! own records, and compares. It never asks the saga: it reads the partners' first answers and
//! says what the saga must have made of them.

use super::bank::{self, Bank, HoldState};
use super::hub::{Hub, StoredRepayment, StoredSettlement};
use super::insurance::{self, Insurance};
use super::network::Partners;
use std::collections::BTreeMap;
use wugan_domain::ledger::{is_balanced, AccountBalance};
use wugan_domain::repayment::RepaymentStage;
use wugan_domain::settlement::saga::{Hold, Insured, Paid, Stage};
use wugan_domain::settlement::SettlementState;
use wugan_domain::Fen;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Everything that must hold after every step.
pub fn audit(hub: &Hub, partners: &Partners) -> Result<(), String> {
    ensure!(is_balanced(hub.ledger.accounts.values()), "the trial balance fails");
    ledger_follows_stages(hub)?;
    limits_hold(hub, partners)?;
    bank_adds_up(&partners.bank)?;
    insurance_adds_up(&partners.insurance)?;
    charged_once(hub, partners)?;
    ensure!(partners.insurance.misuse.is_empty(), "insurance: {:?}", partners.insurance.misuse);
    ensure!(partners.bank.misuse.is_empty(), "bank: {:?}", partners.bank.misuse);
    for s in &hub.settlements {
        settlement_agrees(s, partners).map_err(|e| format!("{}: {e}; stored {:?}", s.id, s.stage))?;
    }
    for r in &hub.repayments {
        repayment_agrees(r, partners).map_err(|e| format!("{}: {e}; stored {:?}", r.id, r.stage))?;
    }
    Ok(())
}

/// After the final resume: everything is final, no hold is open anywhere, and the hub's ledger
/// says of each patient what the bank and the insurance center say.
pub fn audit_end(hub: &Hub, partners: &Partners) -> Result<(), String> {
    audit(hub, partners)?;
    let unfinished = hub.unfinished();
    ensure!(unfinished.is_empty(), "not final after the resume: {unfinished:?}");
    ensure!(hub.ledger.open_holds() == 0, "{} holds still open in the ledger", hub.ledger.open_holds());
    let open = partners.bank.holds.iter().find(|(_, h)| h.state == HoldState::Open);
    ensure!(open.is_none(), "a hold still open at the bank: {open:?}");
    for (i, p) in hub.patients.iter().enumerate() {
        let line = &partners.bank.lines[i];
        let bank = net(hub, &p.bank_account);
        ensure!(
            bank == line.limit - line.used,
            "{}: the ledger has {bank} left on the line, the bank {}",
            p.psn_no,
            line.limit - line.used
        );
        let personal = net(hub, &p.personal_account);
        let balance = partners.insurance.balances[i];
        ensure!(personal == balance, "{}: the ledger has {personal} in the personal account, insurance {balance}", p.psn_no);
    }
    Ok(())
}

fn net(hub: &Hub, account: &str) -> Fen {
    hub.ledger.accounts.get(account).map(AccountBalance::net_posted).unwrap_or_default()
}

/// The ledger as the stored stages say it must be, built from the domain's rules in words: a
/// hold is pending on the bank agreement; a settlement pays the hospital from the fund, the
/// personal account and the bank, and bills the rest; a cancellation moves it all back.
#[derive(Default)]
struct Book<'a>(BTreeMap<&'a str, AccountBalance>);

impl<'a> Book<'a> {
    fn posted(&mut self, debit: &'a str, credit: &'a str, amount: Fen) {
        if amount.is_positive() {
            self.0.entry(debit).or_default().debits_posted += amount;
            self.0.entry(credit).or_default().credits_posted += amount;
        }
    }

    fn pending(&mut self, debit: &'a str, credit: &'a str, amount: Fen) {
        if amount.is_positive() {
            self.0.entry(debit).or_default().debits_pending += amount;
            self.0.entry(credit).or_default().credits_pending += amount;
        }
    }
}

struct Names<'a> {
    fund: &'a str,
    personal: &'a str,
    bank: &'a str,
    patient_unpaid: &'a str,
    hospital: &'a str,
    hospital_unpaid: &'a str,
    burden: &'a str,
    writeoff: &'a str,
}

impl<'a> Book<'a> {
    fn settled(&mut self, n: &Names<'a>, paid: &Paid) {
        let split = &paid.insured.split;
        self.posted(n.fund, n.hospital, split.fund);
        self.posted(n.personal, n.hospital, split.personal_account);
        self.posted(n.bank, n.hospital, paid.captured);
        self.posted(n.patient_unpaid, n.hospital_unpaid, split.cash - paid.captured);
        self.posted(n.burden, n.writeoff, split.hospital_part);
    }

    /// 2208 done: insurance's shares and the unpaid bill go back at once.
    fn reversed(&mut self, n: &Names<'a>, paid: &Paid) {
        let split = &paid.insured.split;
        self.posted(n.hospital, n.fund, split.fund);
        self.posted(n.hospital, n.personal, split.personal_account);
        self.posted(n.hospital_unpaid, n.patient_unpaid, split.cash - paid.captured);
        self.posted(n.writeoff, n.burden, split.hospital_part);
    }

    /// The bank refund done.
    fn refunded(&mut self, n: &Names<'a>, paid: &Paid) {
        self.posted(n.hospital, n.bank, paid.captured);
    }
}

fn ledger_follows_stages(hub: &Hub) -> Result<(), String> {
    let mut book = Book::default();
    for p in &hub.patients {
        book.posted(&p.credit_funding, &p.bank_account, p.limit);
        book.posted(&p.personal_funding, &p.personal_account, p.opening_balance);
    }
    let mut holds = 0;
    for s in &hub.settlements {
        let visit = &hub.visits[s.visit];
        let p = &hub.patients[visit.patient];
        let (hospital, hospital_unpaid, burden, writeoff) = &hub.hospital_accounts[visit.hospital];
        let n = Names {
            fund: &hub.fund_account,
            personal: &p.personal_account,
            bank: &p.bank_account,
            patient_unpaid: &p.unpaid_account,
            hospital,
            hospital_unpaid,
            burden,
            writeoff,
        };
        match &s.stage {
            Stage::Authorized { hold, .. } | Stage::InsuranceSettled { hold, .. } => {
                book.pending(n.bank, n.hospital, hold.held());
                holds += usize::from(hold.held().is_positive());
            }
            Stage::Settled(paid) | Stage::SettledUnpaid(paid) | Stage::Cancelling { paid, insurance_reversed: false } => {
                book.settled(&n, paid)
            }
            Stage::Cancelling { paid, insurance_reversed: true } => {
                book.settled(&n, paid);
                book.reversed(&n, paid);
            }
            Stage::Cancelled(paid) => {
                book.settled(&n, paid);
                book.reversed(&n, paid);
                book.refunded(&n, paid);
            }
            Stage::Started | Stage::PreSettled { .. } | Stage::Failed { .. } => {}
        }
    }
    for r in hub.repayments.iter().filter(|r| matches!(r.stage, RepaymentStage::Posted { .. })) {
        let p = &hub.patients[r.patient];
        book.posted(&p.personal_account, &p.bank_account, r.amount);
    }
    ensure!(hub.ledger.open_holds() == holds, "{} holds open in the ledger, {holds} in the stages", hub.ledger.open_holds());
    let zero = AccountBalance::default();
    for (account, got) in &hub.ledger.accounts {
        let want = book.0.get(account.as_str()).unwrap_or(&zero);
        ensure!(got == want, "ledger account {account} is {got:?}; the stages say {want:?}");
    }
    let missing = book.0.iter().find(|(account, want)| **want != zero && !hub.ledger.accounts.contains_key(**account));
    ensure!(missing.is_none(), "the stages say {missing:?}, the ledger has no such account");
    Ok(())
}

/// No account beyond its limit: at the bank, at the insurance center, in the hub's ledger (its
/// credit lines with the lag allowed).
fn limits_hold(hub: &Hub, partners: &Partners) -> Result<(), String> {
    for account in hub.ledger.limited_accounts() {
        let a = hub.ledger.accounts.get(account).cloned().unwrap_or_default();
        ensure!(a.debits_posted + a.debits_pending <= a.credits_posted, "ledger account {account} below zero: {a:?}");
    }
    let unlearned = released_but_not_committed(hub, &partners.bank);
    for (p, unlearned) in hub.patients.iter().zip(unlearned) {
        let a = hub.ledger.accounts.get(&p.bank_account).cloned().unwrap_or_default();
        let beyond = a.debits_posted + a.debits_pending - a.credits_posted;
        ensure!(beyond <= unlearned, "ledger account {} beyond its limit by {beyond}, the lag explains {unlearned}: {a:?}", p.bank_account);
    }
    for (i, line) in partners.bank.lines.iter().enumerate() {
        ensure!(line.used + line.held <= line.limit, "bank line {i} beyond its limit: {line:?}");
        ensure!(!line.held.is_negative(), "bank line {i} holds less than nothing: {line:?}");
    }
    for (i, balance) in partners.insurance.balances.iter().enumerate() {
        ensure!(!balance.is_negative(), "personal account {i} below zero: {balance}");
    }
    Ok(())
}

/// Per patient: what the bank has released or been paid back and the hub has not committed yet.
/// The ledger's credit line may stand beyond its limit by this much and no more: its holds the
/// bank no longer holds (voided, expired, captured), refunds and repayments no stage records yet.
fn released_but_not_committed(hub: &Hub, bank: &Bank) -> Vec<Fen> {
    let mut unlearned = vec![Fen::ZERO; hub.patients.len()];
    for s in &hub.settlements {
        if let Stage::Authorized { hold, .. } | Stage::InsuranceSettled { hold, .. } = &s.stage {
            if bank.holds.get(&s.ids.auth).is_some_and(|h| h.state != HoldState::Open) {
                unlearned[s.patient] += hold.held();
            }
        }
        if let (false, Some((_, refunded))) = (matches!(s.stage, Stage::Cancelled(_)), bank.refunds.get(&s.ids.refund)) {
            unlearned[s.patient] += *refunded;
        }
    }
    for r in &hub.repayments {
        if let (false, Some(repaid)) = (matches!(r.stage, RepaymentStage::Posted { .. }), bank.repayments.get(&r.post_request_id())) {
            unlearned[r.patient] += repaid.amount;
        }
    }
    unlearned
}

/// Every bank line, rebuilt from the holds, captures, refunds and repayments on record.
fn bank_adds_up(bank: &Bank) -> Result<(), String> {
    let mut lines = vec![(Fen::ZERO, Fen::ZERO); bank.lines.len()];
    for hold in bank.holds.values().filter(|h| h.state == HoldState::Open) {
        lines[hold.line].1 += hold.amount;
    }
    for (id, c) in &bank.captures {
        let refunded: Fen = bank.refunds.values().filter(|(capture, _)| capture == id).map(|(_, amount)| *amount).sum();
        ensure!(refunded == c.refunded && c.refunded <= c.amount, "capture {id} refunded {refunded} on record: {c:?}");
        if let Some(auth) = &c.auth {
            let hold = bank.holds.get(auth);
            ensure!(hold.is_some_and(|h| h.state == HoldState::Captured && c.amount <= h.amount), "capture {id} on {hold:?}");
        }
        lines[c.line].0 += c.amount - c.refunded;
    }
    for r in bank.repayments.values() {
        lines[r.line].0 -= r.amount;
    }
    for (i, (used, held)) in lines.into_iter().enumerate() {
        let line = &bank.lines[i];
        ensure!((line.used, line.held) == (used, held), "bank line {i} is {line:?}; its operations say used {used}, held {held}");
    }
    Ok(())
}

/// Every personal account, rebuilt from the settlements and debits on record.
fn insurance_adds_up(ins: &Insurance) -> Result<(), String> {
    let mut balances = ins.opening.clone();
    for r in ins.records.iter().filter(|r| !r.reversed) {
        balances[ins.policies[r.visit].patient] -= r.split.personal_account;
    }
    for d in ins.debits.iter().filter(|d| !d.undone) {
        balances[d.patient] -= d.amount;
    }
    ensure!(balances == ins.balances, "personal accounts are {:?}; the records say {balances:?}", ins.balances);
    Ok(())
}

/// One settlement per visit at the hub, one 2207 per visit at insurance, one capture per hold.
fn charged_once(hub: &Hub, partners: &Partners) -> Result<(), String> {
    for (i, s) in hub.settlements.iter().enumerate() {
        ensure!(hub.visits[s.visit].settlement == Some(i), "visit {} has two settlements", s.visit);
    }
    let mut per_visit = vec![0; partners.insurance.policies.len()];
    for r in &partners.insurance.records {
        per_visit[r.visit] += 1;
        ensure!(per_visit[r.visit] == 1, "insurance settled visit {} twice", r.visit);
    }
    let mut captured = BTreeMap::new();
    for (id, auth) in partners.bank.captures.iter().filter_map(|(id, c)| Some((id, c.auth.as_ref()?))) {
        let earlier = captured.insert(auth, id);
        ensure!(earlier.is_none(), "hold {auth} captured twice: {earlier:?} and {id}");
    }
    // A charge is made under the settlement's capture id: one per settlement by construction,
    // and a second request under it would be a reuse the bank reports as misuse.
    Ok(())
}

/// How a settlement came out before any cancellation, by the partners' first answers.
#[derive(Debug, PartialEq)]
enum Ending {
    Failed { hold: Hold },
    Paid { hold: Hold, insured: Insured, captured: Fen, decline_code: Option<String> },
}

/// The bank was asked for exactly what the rules say, under the settlement's request id.
fn asked(bank: &Bank, request_id: &str, want: bank::Request) -> Result<(), String> {
    let got = bank.request_of(request_id);
    ensure!(got == Some(&want), "the bank was asked {got:?} under {request_id}, the rules say {want:?}");
    Ok(())
}

fn estimate(s: &StoredSettlement, ins: &Insurance) -> Result<Option<Fen>, String> {
    match ins.answer_to(&s.ids.presettle) {
        Some(insurance::Answer::Estimated(split)) => Ok(Some(split.cash)),
        Some(insurance::Answer::Refused { .. }) => Ok(None),
        answer => Err(format!("2206 answered {answer:?}")),
    }
}

fn insured(s: &StoredSettlement, ins: &Insurance) -> Result<Option<Insured>, String> {
    match ins.answer_to(&s.ids.settle) {
        Some(insurance::Answer::Settled { setl_id, split }) => Ok(Some(Insured { setl_id: setl_id.clone(), split: *split })),
        Some(insurance::Answer::Refused { .. }) => Ok(None),
        answer => Err(format!("2207 answered {answer:?}")),
    }
}

/// What the partners' decisions make of a settlement that went all the way: nothing is held,
/// and once 2207 has settled the bank is charged the cash share, in full or not at all.
fn ending_per_partners(s: &StoredSettlement, partners: &Partners) -> Result<Ending, String> {
    let (ins, bank) = (&partners.insurance, &partners.bank);
    ensure!(bank.request_of(&s.ids.auth).is_none(), "a hold was asked: {:?}", bank.request_of(&s.ids.auth));
    if estimate(s, ins)?.is_none() {
        return Ok(Ending::Failed { hold: Hold::NotAsked });
    }
    let Some(insured) = insured(s, ins)? else { return Ok(Ending::Failed { hold: Hold::NotAsked }) };
    let cash = insured.split.cash;
    if cash.is_positive() {
        asked(bank, &s.ids.capture, bank::Request::Charge { line: s.patient, amount: cash })?;
    }
    let (captured, decline_code) = match (cash.is_positive(), bank.answer_to(&s.ids.capture)) {
        (true, Some(bank::Answer::Charged)) => (cash, None),
        (true, Some(bank::Answer::Refused { code })) => (Fen::ZERO, Some(code.clone())),
        (false, None) => (Fen::ZERO, None),
        (_, answer) => return Err(format!("{cash} to charge, the bank answered {answer:?}")),
    };
    Ok(Ending::Paid { hold: Hold::NotAsked, insured, captured, decline_code })
}

fn ending_of(paid: &Paid) -> Ending {
    Ending::Paid {
        hold: paid.hold.clone(),
        insured: paid.insured.clone(),
        captured: paid.captured,
        decline_code: paid.decline_code.clone(),
    }
}

/// The stored stage claims only what the partners did, and a final stage is exactly what their
/// decisions predict.
fn settlement_agrees(s: &StoredSettlement, partners: &Partners) -> Result<(), String> {
    let ins = &partners.insurance;
    match &s.stage {
        Stage::Started => Ok(()),
        Stage::PreSettled { .. } => Err("a hold path stage: nothing is held before 2207".into()),
        Stage::Authorized { hold, refusal } => {
            estimate(s, ins)?.ok_or("authorized on a refused 2206")?;
            ensure!(*hold == Hold::NotAsked && refusal.is_none(), "authorized with {hold:?}, {refusal:?}");
            Ok(())
        }
        Stage::InsuranceSettled { hold, insured: stored, capture_declined } => {
            estimate(s, ins)?.ok_or("insurance-settled on a refused 2206")?;
            ensure!(*hold == Hold::NotAsked && capture_declined.is_none(), "insurance-settled with {hold:?}, {capture_declined:?}");
            ensure!(insured(s, ins)?.as_ref() == Some(stored), "the settlement is not insurance's");
            Ok(())
        }
        Stage::Cancelling { paid, insurance_reversed } => {
            ensure!(ending_per_partners(s, partners)? == ending_of(paid), "the settlement cancelled is not the partners'");
            cancellations_agree(s, ins, *insurance_reversed)
        }
        Stage::Failed { .. } | Stage::Settled(_) | Stage::SettledUnpaid(_) | Stage::Cancelled(_) => final_agrees(s, partners),
    }
}

/// Every earlier 2208 was refused; the last was answered `Reversed` exactly when `reversed`.
fn cancellations_agree(s: &StoredSettlement, ins: &Insurance, reversed: bool) -> Result<(), String> {
    for attempt in 1..s.cancel_attempts {
        let answer = ins.answer_to(&s.cancel_msgid(attempt));
        ensure!(matches!(answer, Some(insurance::Answer::Refused { .. })), "cancellation {attempt} answered {answer:?}, yet another began");
    }
    if reversed {
        let answer = ins.answer_to(&s.cancel_msgid(s.cancel_attempts));
        ensure!(answer == Some(&insurance::Answer::Reversed), "reversed, but 2208 answered {answer:?}");
    }
    Ok(())
}

fn final_agrees(s: &StoredSettlement, partners: &Partners) -> Result<(), String> {
    let (ins, bank) = (&partners.insurance, &partners.bank);
    let ending = ending_per_partners(s, partners)?;
    let hold = bank.holds.get(&s.ids.auth);
    ensure!(hold.is_none_or(|h| h.state != HoldState::Open), "final, but the bank still holds {hold:?}");
    let (paid, cancelled) = match &s.stage {
        Stage::Failed { hold, failure } => {
            ensure!(ending == Ending::Failed { hold: hold.clone() }, "the partners' decisions say {ending:?}");
            ensure!(failure.code == "insurance_refused" && s.cancel_attempts == 0, "failed as {failure:?}");
            ensure!(!ins.records.iter().any(|r| r.visit == s.visit), "failed, but insurance settled the visit");
            return Ok(());
        }
        Stage::Settled(paid) | Stage::SettledUnpaid(paid) => (paid, false),
        Stage::Cancelled(paid) => (paid, true),
        other => return Err(format!("{:?} is not final", other.state())),
    };
    ensure!(ending == ending_of(paid), "the partners' decisions say {ending:?}");
    let unpaid = paid.insured.split.cash - paid.captured;
    let state = match (cancelled, unpaid.is_positive()) {
        (true, _) => SettlementState::Cancelled,
        (false, true) => SettlementState::SettledUnpaid,
        (false, false) => SettlementState::Settled,
    };
    ensure!(s.stage.state() == state, "with {unpaid} unpaid the state is {state:?}");
    cancellations_agree(s, ins, cancelled)?;
    if !cancelled && s.cancel_attempts > 0 {
        let last = ins.answer_to(&s.cancel_msgid(s.cancel_attempts));
        ensure!(matches!(last, Some(insurance::Answer::Refused { .. })), "settled after a cancellation answered {last:?}");
    }
    let record = ins.record(&paid.insured.setl_id);
    ensure!(record.is_some_and(|r| r.visit == s.visit && r.reversed == cancelled), "insurance's record is {record:?}");
    let capture = bank.captures.get(&s.ids.capture);
    let refunded = if cancelled { paid.captured } else { Fen::ZERO };
    match capture {
        Some(c) => ensure!(c.amount == paid.captured && c.refunded == refunded, "the bank's capture is {c:?}"),
        None => ensure!(paid.captured == Fen::ZERO, "the bank captured nothing"),
    }
    if refunded.is_positive() {
        asked(bank, &s.ids.refund, bank::Request::Refund { capture: s.ids.capture.clone(), amount: refunded })?;
    }
    Ok(())
}

/// A repayment's stage claims only what the partners did.
fn repayment_agrees(r: &StoredRepayment, partners: &Partners) -> Result<(), String> {
    let (ins, bank) = (&partners.insurance, &partners.bank);
    let debit_answer = ins.answer_to(&r.debit_msgid());
    let post_answer = bank.answer_to(&r.post_request_id());
    let Some(txn_id) = r.stage.txn_id() else {
        if let RepaymentStage::Failed { .. } = r.stage {
            ensure!(matches!(debit_answer, None | Some(insurance::Answer::Refused { .. })), "failed, but 9901 answered {debit_answer:?}");
            ensure!(post_answer.is_none(), "failed, but the bank was asked");
        }
        return Ok(());
    };
    ensure!(debit_answer == Some(&insurance::Answer::Debited { txn_id: txn_id.to_string() }), "9901 answered {debit_answer:?}");
    let debit = ins.debit(txn_id);
    ensure!(debit.is_some_and(|d| d.amount == r.amount && d.patient == r.patient), "insurance's debit is {debit:?}");
    let undone = debit.is_some_and(|d| d.undone);
    match &r.stage {
        RepaymentStage::Posted { .. } => {
            ensure!(post_answer == Some(&bank::Answer::Repaid), "posted, but the bank answered {post_answer:?}");
            let repaid = bank.repayments.get(&r.post_request_id());
            ensure!(repaid.is_some_and(|p| p.amount == r.amount && p.line == r.patient), "the bank's repayment is {repaid:?}");
            ensure!(!undone, "posted, but insurance undid the debit");
        }
        RepaymentStage::Returning { .. } | RepaymentStage::Returned { .. } => {
            ensure!(matches!(post_answer, Some(bank::Answer::Refused { .. })), "returning, but the bank answered {post_answer:?}");
            if let RepaymentStage::Returned { .. } = r.stage {
                ensure!(undone && ins.answer_to(&r.undo_msgid()) == Some(&insurance::Answer::Undone), "returned, but the debit stands");
            }
        }
        _ => {}
    }
    Ok(())
}
