//! A simple in-memory bank: credit lines (available = limit − used − held), holds, captures,
//! charges (a hold and its capture at once), voids, refunds and repayments. A repeated request id is answered with the first answer; holds
//! are kept with their state so an auditor can see the open ones.

use super::rng::Rng;
use std::collections::BTreeMap;
use wugan_domain::Fen;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Authorize { line: usize, amount: Fen },
    Capture { auth: String, amount: Fen },
    Charge { line: usize, amount: Fen },
    Void { auth: String },
    Refund { capture: String, amount: Fen },
    Repay { line: usize, amount: Fen, reference: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Held { amount: Fen },
    Captured,
    Charged,
    Voided,
    Refunded,
    Repaid,
    Refused { code: String },
}

#[derive(Clone, Debug, Default)]
pub struct Line {
    pub limit: Fen,
    /// Spent and not yet repaid or refunded; below zero is a credit balance (溢缴款).
    pub used: Fen,
    pub held: Fen,
}

impl Line {
    pub fn available(&self) -> Fen {
        self.limit - self.used - self.held
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldState {
    Open,
    Captured,
    Voided,
    /// Released by the bank itself after its hold time.
    Expired,
}

#[derive(Clone, Debug)]
pub struct Hold {
    pub line: usize,
    pub amount: Fen,
    pub state: HoldState,
}

#[derive(Clone, Debug)]
pub struct Capture {
    /// The hold captured; `None` for a charge, which had none.
    pub auth: Option<String>,
    pub line: usize,
    pub amount: Fen,
    pub refunded: Fen,
}

/// Kept per request id, so the auditor can rebuild every line from the operations.
#[derive(Clone, Debug)]
pub struct Repayment {
    pub line: usize,
    pub amount: Fen,
}

/// Percent chances of a refusal the bank decides for reasons of its own.
#[derive(Clone, Copy, Debug, Default)]
pub struct Risk {
    pub authorize_pct: u32,
    pub capture_pct: u32,
    pub repay_pct: u32,
}

pub struct Bank {
    pub lines: Vec<Line>,
    /// By authorization request id.
    pub holds: BTreeMap<String, Hold>,
    /// By capture request id.
    pub captures: BTreeMap<String, Capture>,
    /// By refund request id: (capture request id, amount).
    pub refunds: BTreeMap<String, (String, Fen)>,
    pub repayments: BTreeMap<String, Repayment>,
    replies: BTreeMap<String, (Request, Answer)>,
    /// Requests that reused an id with other content: a hub bug.
    pub misuse: Vec<String>,
    /// Approve what is available when less than asked, instead of declining.
    pub partial_holds: bool,
    pub risk: Risk,
    rng: Rng,
}

impl Bank {
    pub fn new(limits: Vec<Fen>, partial_holds: bool, risk: Risk, rng: Rng) -> Bank {
        Bank {
            lines: limits.into_iter().map(|limit| Line { limit, ..Line::default() }).collect(),
            holds: BTreeMap::new(),
            captures: BTreeMap::new(),
            refunds: BTreeMap::new(),
            repayments: BTreeMap::new(),
            replies: BTreeMap::new(),
            misuse: Vec::new(),
            partial_holds,
            risk,
            rng,
        }
    }

    /// The first answer given to `request_id`, if it was ever delivered.
    pub fn answer_to(&self, request_id: &str) -> Option<&Answer> {
        self.replies.get(request_id).map(|(_, answer)| answer)
    }

    /// The first request delivered under `request_id`.
    pub fn request_of(&self, request_id: &str) -> Option<&Request> {
        self.replies.get(request_id).map(|(request, _)| request)
    }

    /// Handles one delivered request: a repeated id gets its first answer.
    pub fn handle(&mut self, request_id: &str, request: Request) -> Answer {
        if let Some((first, answer)) = self.replies.get(request_id) {
            if *first != request {
                self.misuse.push(format!("request id {request_id} reused: first {first:?}, now {request:?}"));
            }
            return answer.clone();
        }
        let answer = self.decide(request_id, &request);
        self.replies.insert(request_id.to_string(), (request, answer.clone()));
        answer
    }

    /// The bank's hold time runs out: the `nth` open hold (in id order) is released.
    pub fn expire_hold(&mut self, nth: usize) {
        let open: Vec<String> = self.holds.iter().filter(|(_, h)| h.state == HoldState::Open).map(|(id, _)| id.clone()).collect();
        if open.is_empty() {
            return;
        }
        let id = &open[nth % open.len()];
        if let Some(hold) = self.holds.get_mut(id) {
            hold.state = HoldState::Expired;
            self.lines[hold.line].held -= hold.amount;
        }
    }

    fn decide(&mut self, request_id: &str, request: &Request) -> Answer {
        match request {
            Request::Authorize { line, amount } => self.authorize(request_id, *line, *amount),
            Request::Capture { auth, amount } => self.capture(request_id, auth, *amount),
            Request::Charge { line, amount } => self.charge(request_id, *line, *amount),
            Request::Void { auth } => self.close_hold(auth, HoldState::Voided).map_or_else(refused, |_| Answer::Voided),
            Request::Refund { capture, amount } => self.refund(request_id, capture, *amount),
            Request::Repay { line, amount, .. } => self.repay(request_id, *line, *amount),
        }
    }

    fn authorize(&mut self, request_id: &str, line: usize, asked: Fen) -> Answer {
        let available = self.lines[line].available();
        if self.rng.chance(self.risk.authorize_pct) {
            return refused("risk");
        }
        let amount = match (available >= asked, self.partial_holds && available.is_positive()) {
            (true, _) => asked,
            (false, true) => available,
            (false, false) => return refused("insufficient_limit"),
        };
        if !amount.is_positive() {
            return refused("bad_amount");
        }
        self.lines[line].held += amount;
        self.holds.insert(request_id.to_string(), Hold { line, amount, state: HoldState::Open });
        Answer::Held { amount }
    }

    fn capture(&mut self, request_id: &str, auth: &str, amount: Fen) -> Answer {
        let Some(hold) = self.holds.get(auth).filter(|h| h.state == HoldState::Open) else {
            return refused("hold_not_open");
        };
        if amount > hold.amount || !amount.is_positive() {
            return refused("capture_exceeds_hold");
        }
        if self.rng.chance(self.risk.capture_pct) {
            return refused("agreement_frozen");
        }
        let Ok(line) = self.close_hold(auth, HoldState::Captured) else {
            return refused("hold_not_open");
        };
        self.lines[line].used += amount;
        self.captures.insert(request_id.to_string(), Capture { auth: Some(auth.to_string()), line, amount, refunded: Fen::ZERO });
        Answer::Captured
    }

    /// A hold and its capture at once: all of `amount` or a decline, never a part.
    fn charge(&mut self, request_id: &str, line: usize, amount: Fen) -> Answer {
        if self.rng.chance(self.risk.authorize_pct) {
            return refused("risk");
        }
        if !amount.is_positive() {
            return refused("bad_amount");
        }
        if self.lines[line].available() < amount {
            return refused("insufficient_limit");
        }
        self.lines[line].used += amount;
        self.captures.insert(request_id.to_string(), Capture { auth: None, line, amount, refunded: Fen::ZERO });
        Answer::Charged
    }

    /// Releases an open hold; the line it was on, or the refusal's code.
    fn close_hold(&mut self, auth: &str, to: HoldState) -> Result<usize, String> {
        let hold = self.holds.get_mut(auth).filter(|h| h.state == HoldState::Open).ok_or("hold_not_open")?;
        hold.state = to;
        self.lines[hold.line].held -= hold.amount;
        Ok(hold.line)
    }

    fn refund(&mut self, request_id: &str, capture_id: &str, amount: Fen) -> Answer {
        let Some(capture) = self.captures.get_mut(capture_id) else {
            return refused("unknown_capture");
        };
        if capture.refunded + amount > capture.amount || !amount.is_positive() {
            return refused("refund_exceeds_capture");
        }
        capture.refunded += amount;
        self.lines[capture.line].used -= amount;
        self.refunds.insert(request_id.to_string(), (capture_id.to_string(), amount));
        Answer::Refunded
    }

    fn repay(&mut self, request_id: &str, line: usize, amount: Fen) -> Answer {
        if amount > self.lines[line].used || !amount.is_positive() {
            return refused("repayment_exceeds_debt");
        }
        if self.rng.chance(self.risk.repay_pct) {
            return refused("agreement_frozen");
        }
        self.lines[line].used -= amount;
        self.repayments.insert(request_id.to_string(), Repayment { line, amount });
        Answer::Repaid
    }
}

fn refused(code: impl Into<String>) -> Answer {
    Answer::Refused { code: code.into() }
}
