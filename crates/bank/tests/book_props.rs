//! Random workloads against the pure book: after every step the invariants hold, a retry replays
//! its first reply, and every operation is recorded exactly once. Time passes in random steps
//! across billing cycles, so statements close, go overdue and accrue interest while repayments,
//! refunds and limit increases come in: used never goes negative, a repayment is accepted
//! exactly when it is at most the debt, and the event feed has no gaps. Holds expire: the clock
//! also jumps to just before, at or after a hold's expiry, and a model of the open holds says what
//! every agreement holds after each step; no expired hold is ever captured. Holds are raised
//! (增量授权): a raise is approved exactly when a new hold of its amount would be, and then the
//! hold, and what its capture may take, is the sum.

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use wugan_bank::book::{rfc3339_china, BankBook, BookConfig, BookError, Command, Reply, DEFAULT_HOLD_S, MAX_HOLD_S, MIN_HOLD_S};
use wugan_bank::wire::{
    AgreementKind, AgreementStatus, AuthorizationRequest, CaptureRequest, ChargeRequest, CloseAgreementRequest, CreateAgreementRequest,
    IncrementRequest, LimitIncreaseRequest, OperationKind, OperationStatus, PayoutRequest, RefundRequest, RepaymentRequest,
    RepaymentSource, VoidRequest,
};
use wugan_bank::ErrorCode;
use wugan_domain::money::Fen;

const AGREEMENTS: usize = 3;
/// 2026-01-25T00:00:00Z: a week before the first statement day.
const START_UNIX_S: i64 = 1_769_299_200;

#[derive(Clone, Debug)]
enum Step {
    Authorize {
        agreement: usize,
        amount: i64,
        /// The hold's duration asked for; `None`: the bank's default.
        expires_in_s: Option<i64>,
    },
    /// Authorizes what is available plus `delta`, to probe the edge of the limit.
    AuthorizeEdge {
        agreement: usize,
        delta: i64,
    },
    /// `hold` picks one of the authorizations sent so far.
    Capture {
        hold: usize,
        amount: i64,
    },
    Void {
        hold: usize,
    },
    /// 扣款: a hold and its capture in one request.
    Charge {
        agreement: usize,
        amount: i64,
    },
    /// Raises one of the holds sent so far.
    Increment {
        hold: usize,
        amount: i64,
    },
    /// `capture` picks one of the captures sent so far.
    Refund {
        capture: usize,
        amount: i64,
    },
    Close {
        agreement: usize,
    },
    Freeze {
        agreement: usize,
        frozen: bool,
    },
    /// 结算划付 to the one merchant: what is owed plus `delta` (probing the edge), or `amount`.
    Payout {
        delta: i64,
        amount: Option<i64>,
    },
    /// Sends one of the earlier requests again, unchanged.
    Retry {
        step: usize,
    },
    /// Authorizes and captures the whole amount: a visit paid on credit.
    Spend {
        agreement: usize,
        amount: i64,
    },
    /// The clock moves on; billing runs (and expires what is due).
    Wait {
        hours: i64,
    },
    /// The clock jumps to `offset_s` around the expiry of one of the holds sent so far; nothing
    /// runs until the next step, which must release it first if it is due.
    Jump {
        hold: usize,
        offset_s: i64,
    },
    Repay {
        agreement: usize,
        amount: i64,
        personal_account: bool,
    },
    /// Repays the debt (or only what is overdue) plus `delta`, to probe the edges of
    /// over-repayment and of reinstatement.
    RepayEdge {
        agreement: usize,
        delta: i64,
        overdue_only: bool,
    },
    RaiseLimit {
        agreement: usize,
        requested: i64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let agreement = 0..AGREEMENTS;
    let amount = prop_oneof![1i64..5_000, 0i64..=0, -10i64..0, 4_000i64..30_000];
    prop_oneof![
        6 => (agreement.clone(), amount.clone(), hold_duration()).prop_map(|(agreement, amount, expires_in_s)| Step::Authorize { agreement, amount, expires_in_s }),
        2 => (agreement.clone(), -1i64..=1).prop_map(|(agreement, delta)| Step::AuthorizeEdge { agreement, delta }),
        4 => (any::<usize>(), amount.clone()).prop_map(|(hold, amount)| Step::Capture { hold, amount }),
        2 => any::<usize>().prop_map(|hold| Step::Void { hold }),
        4 => (agreement.clone(), amount.clone()).prop_map(|(agreement, amount)| Step::Charge { agreement, amount }),
        3 => (any::<usize>(), amount.clone()).prop_map(|(hold, amount)| Step::Increment { hold, amount }),
        3 => (any::<usize>(), amount.clone()).prop_map(|(capture, amount)| Step::Refund { capture, amount }),
        1 => agreement.clone().prop_map(|agreement| Step::Close { agreement }),
        1 => (agreement.clone(), any::<bool>()).prop_map(|(agreement, frozen)| Step::Freeze { agreement, frozen }),
        2 => (-1i64..=1, prop_oneof![Just(None), (-5i64..5_000).prop_map(Some)]).prop_map(|(delta, amount)| Step::Payout { delta, amount }),
        3 => any::<usize>().prop_map(|step| Step::Retry { step }),
        5 => prop_oneof![1i64..48, 200i64..400, 600i64..1_000].prop_map(|hours| Step::Wait { hours }),
        3 => (any::<usize>(), -1i64..=1).prop_map(|(hold, offset_s)| Step::Jump { hold, offset_s }),
        3 => (agreement.clone(), amount.clone(), any::<bool>()).prop_map(|(agreement, amount, personal_account)| Step::Repay { agreement, amount, personal_account }),
        2 => (agreement.clone(), -1i64..=1, any::<bool>()).prop_map(|(agreement, delta, overdue_only)| Step::RepayEdge { agreement, delta, overdue_only }),
        5 => (agreement.clone(), 1i64..8_000).prop_map(|(agreement, amount)| Step::Spend { agreement, amount }),
        1 => (agreement, prop_oneof![0i64..60_000, 5_000_000i64..5_000_002]).prop_map(|(agreement, requested)| Step::RaiseLimit { agreement, requested }),
    ]
}

/// Mostly the default; sometimes a bound, inside or one second outside it.
fn hold_duration() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        6 => Just(None),
        2 => prop_oneof![Just(MIN_HOLD_S), Just(MAX_HOLD_S), MIN_HOLD_S..3 * MIN_HOLD_S].prop_map(Some),
        1 => prop_oneof![Just(MIN_HOLD_S - 1), Just(MAX_HOLD_S + 1), Just(0)].prop_map(Some),
    ]
}

/// A hold the bank approved, as the test expects it to stand.
#[derive(Clone, Debug)]
struct ModelHold {
    agreement_id: String,
    amount: Fen,
    expires_at_unix_s: i64,
}

/// A request as sent, so it can be sent again.
#[derive(Clone, Debug)]
enum Sent {
    Authorize(AuthorizationRequest),
    Capture(CaptureRequest),
    Charge(ChargeRequest),
    Void(VoidRequest),
    Increment(IncrementRequest),
    Refund(RefundRequest),
    Close(String, CloseAgreementRequest),
    Repay(String, RepaymentRequest),
    RaiseLimit(String, LimitIncreaseRequest),
    Payout(PayoutRequest),
}

struct World {
    book: BankBook,
    agreement_ids: Vec<String>,
    holds: Vec<String>,
    captures: Vec<String>,
    sent: Vec<(Sent, Result<Reply, BookError>)>,
    next_id: usize,
    now: i64,
    /// The time of the last command applied: holds due by then are released.
    applied_at: i64,
    /// Approved holds not yet captured or voided (expired ones included until released).
    open_holds: BTreeMap<String, ModelHold>,
    /// Holds released by expiry.
    expired: BTreeSet<String>,
    /// What the bank owes merchant H1 by the test's count: captured, less refunded, less paid out.
    merchant_due: Fen,
}

impl World {
    fn new() -> World {
        let config = BookConfig { default_credit_limit_fen: Fen(20_000), default_debit_balance_fen: Fen(15_000), ..BookConfig::default() };
        let mut world = World {
            book: BankBook::new(config),
            agreement_ids: vec![],
            holds: vec![],
            captures: vec![],
            sent: vec![],
            next_id: 0,
            now: START_UNIX_S,
            applied_at: START_UNIX_S,
            open_holds: BTreeMap::new(),
            expired: BTreeSet::new(),
            merchant_due: Fen::ZERO,
        };
        for (i, kind) in [AgreementKind::CreditLine, AgreementKind::DebitCard, AgreementKind::CreditLine].into_iter().enumerate() {
            let card_no = (kind == AgreementKind::DebitCard).then(|| "6222020000001234".to_string());
            let req = CreateAgreementRequest {
                request_id: format!("open-{i}"),
                kind,
                customer_ref: format!("c{i}"),
                holder_name: None,
                card_no,
                limit_fen: None,
                opening_balance_fen: None,
            };
            let id = format!("agr-{i}");
            world.book.open_agreement("hub", req, &id, START_UNIX_S).expect("open");
            world.agreement_ids.push(id);
        }
        world
    }

    fn fresh_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    fn send(&mut self, sent: &Sent) -> Result<Reply, BookError> {
        self.applied_at = self.now;
        let (book, now) = (&mut self.book, self.now);
        match sent.clone() {
            Sent::Authorize(req) => book.authorize("hub", req, now),
            Sent::Capture(req) => book.capture("hub", req, now),
            Sent::Charge(req) => book.charge("hub", req, now),
            Sent::Void(req) => book.void("hub", req, now),
            Sent::Increment(req) => book.increment("hub", req, now),
            Sent::Refund(req) => book.refund("hub", req, now),
            Sent::Close(agreement_id, req) => book.close_agreement("hub", &agreement_id, req, now),
            Sent::Repay(agreement_id, req) => book.repay("hub", &agreement_id, req, now),
            Sent::RaiseLimit(agreement_id, req) => book.request_limit_increase("hub", &agreement_id, req, now),
            Sent::Payout(req) => book.payout("hub", req, now),
        }
    }

    fn pick(list: &[String], index: usize) -> String {
        if list.is_empty() {
            "nothing".to_string()
        } else {
            list[index % list.len()].clone()
        }
    }

    fn run(&mut self, step: Step) -> Result<(), TestCaseError> {
        if let Step::Freeze { agreement, frozen } = step {
            self.book.set_frozen(&self.agreement_ids[agreement], frozen, self.now).map_err(|e| TestCaseError::fail(e.to_string()))?;
            return Ok(());
        }
        if let Step::Retry { step } = step {
            return self.retry(step);
        }
        if let Step::Spend { agreement, amount } = step {
            self.run(Step::Authorize { agreement, amount, expires_in_s: None })?;
            let hold = self.holds.len().saturating_sub(1);
            return self.run(Step::Capture { hold, amount });
        }
        if let Step::Wait { hours } = step {
            self.now += hours * 3600;
            self.applied_at = self.now;
            self.book.apply(&Command::Bill, self.now);
            return Ok(());
        }
        if let Step::Jump { hold, offset_s } = step {
            let target = self.open_holds.values().nth(hold % self.open_holds.len().max(1)).map(|h| h.expires_at_unix_s + offset_s);
            self.now = self.now.max(target.unwrap_or(self.now));
            // Billing only, so the checks of repayments see today's debt; holds stay for the
            // next request to release.
            self.book.run_billing(self.now);
            return Ok(());
        }
        self.release_due_in_model();
        let sent = self.request_for(step);
        let available_before = self.available_of(&sent);
        let credit_before = self.credit_of(&sent);
        let (journal_before, expiries_before) = (self.book.journal_len(), self.expiries());
        // Released by the request below, before it is handled.
        let due: usize = self.open_holds.values().filter(|h| h.expires_at_unix_s <= self.now).count();
        let reply = self.send(&sent);
        let (recorded, released) = (self.book.journal_len() - journal_before, self.expiries() - expiries_before);
        prop_assert_eq!(released, due, "every hold due is released by the next request, once");
        prop_assert_eq!(recorded - released, usize::from(reply.is_ok()), "one record per accepted request: {:?}", reply);
        self.check_hold_closing(&sent, &reply)?;
        self.check_decline(&sent, available_before, &reply)?;
        self.check_repayment(&sent, credit_before, &reply)?;
        self.check_limit(&sent, credit_before, &reply)?;
        self.check_payout(&sent, &reply)?;
        self.remember(&sent, &reply);
        self.sent.push((sent, reply));
        Ok(())
    }

    fn request_for(&mut self, step: Step) -> Sent {
        match step {
            Step::Authorize { agreement, amount, expires_in_s } => Sent::Authorize(AuthorizationRequest {
                request_id: self.fresh_id("auth"),
                agreement_id: self.agreement_ids[agreement].clone(),
                amount_fen: Fen(amount),
                merchant_id: "H1".to_string(),
                memo: None,
                expires_in_s,
            }),
            Step::AuthorizeEdge { agreement, delta } => {
                let available = self.book.agreement(&self.agreement_ids[agreement]).map(|a| a.available_fen).unwrap_or_default();
                self.request_for(Step::Authorize { agreement, amount: available.0 + delta, expires_in_s: None })
            }
            Step::Capture { hold, amount } => Sent::Capture(CaptureRequest {
                request_id: self.fresh_id("cap"),
                authorization_request_id: World::pick(&self.holds, hold),
                amount_fen: Fen(amount),
            }),
            Step::Charge { agreement, amount } => Sent::Charge(ChargeRequest {
                request_id: self.fresh_id("charge"),
                agreement_id: self.agreement_ids[agreement].clone(),
                amount_fen: Fen(amount),
                merchant_id: "H1".to_string(),
                memo: None,
            }),
            Step::Void { hold } => {
                Sent::Void(VoidRequest { request_id: self.fresh_id("void"), authorization_request_id: World::pick(&self.holds, hold) })
            }
            Step::Increment { hold, amount } => Sent::Increment(IncrementRequest {
                request_id: self.fresh_id("inc"),
                authorization_request_id: World::pick(&self.holds, hold),
                amount_fen: Fen(amount),
                memo: None,
            }),
            Step::Refund { capture, amount } => Sent::Refund(RefundRequest {
                request_id: self.fresh_id("ref"),
                capture_request_id: World::pick(&self.captures, capture),
                amount_fen: Fen(amount),
            }),
            Step::Close { agreement } => {
                let req = CloseAgreementRequest { request_id: self.fresh_id("close") };
                Sent::Close(self.agreement_ids[agreement].clone(), req)
            }
            Step::Repay { agreement, amount, personal_account } => {
                let req = RepaymentRequest {
                    request_id: self.fresh_id("repay"),
                    amount_fen: Fen(amount),
                    source: match personal_account {
                        true => RepaymentSource::PersonalAccount,
                        false => RepaymentSource::BankTransfer,
                    },
                    reference: personal_account.then(|| "INS-1".to_string()),
                };
                Sent::Repay(self.agreement_ids[agreement].clone(), req)
            }
            Step::RepayEdge { agreement, delta, overdue_only } => {
                let account = self.book.credit_account(&self.agreement_ids[agreement]);
                let target = account.map(|a| if overdue_only { a.overdue_fen } else { a.debt_fen }).unwrap_or_default();
                self.request_for(Step::Repay { agreement, amount: target.0 + delta, personal_account: false })
            }
            Step::RaiseLimit { agreement, requested } => {
                let req = LimitIncreaseRequest { request_id: self.fresh_id("limit"), requested_limit_fen: Fen(requested) };
                Sent::RaiseLimit(self.agreement_ids[agreement].clone(), req)
            }
            Step::Payout { delta, amount } => Sent::Payout(PayoutRequest {
                request_id: self.fresh_id("payout"),
                merchant_id: "H1".to_string(),
                amount_fen: Fen(amount.unwrap_or(self.merchant_due.0 + delta)),
                business_date: "2026-01-25".to_string(),
                payee_account: None,
            }),
            Step::Freeze { .. } | Step::Retry { .. } | Step::Wait { .. } | Step::Jump { .. } | Step::Spend { .. } => {
                unreachable!("handled by run")
            }
        }
    }

    fn available_of(&self, sent: &Sent) -> Option<(Fen, bool)> {
        let agreement_id = match sent {
            Sent::Authorize(req) => req.agreement_id.clone(),
            Sent::Charge(req) => req.agreement_id.clone(),
            // A raise is judged on the agreement of its hold, if that hold is still open.
            Sent::Increment(req) => {
                let hold = self.open_holds.get(&req.authorization_request_id).filter(|h| h.expires_at_unix_s > self.now)?;
                hold.agreement_id.clone()
            }
            _ => return None,
        };
        let a = self.book.agreement(&agreement_id).ok()?;
        // The request first releases the holds due by now.
        let due = self.open_holds.values().filter(|h| h.agreement_id == agreement_id && h.expires_at_unix_s <= self.now);
        let released: Fen = due.map(|h| h.amount).sum();
        Some((a.available_fen + released, a.status == wugan_bank::wire::AgreementStatus::Active))
    }

    /// An authorization or a raise is declined exactly when the agreement is not active or the
    /// amount exceeds what was available; a raise of a hold not open is refused outright.
    fn check_decline(&self, sent: &Sent, before: Option<(Fen, bool)>, reply: &Result<Reply, BookError>) -> Result<(), TestCaseError> {
        let amount = match (sent, before) {
            (Sent::Authorize(req), _) => req.amount_fen,
            (Sent::Charge(req), _) => req.amount_fen,
            (Sent::Increment(req), Some(_)) => req.amount_fen,
            (Sent::Increment(req), None) => {
                prop_assert!(reply.is_err(), "{:?} raised a hold that is not open", req);
                return Ok(());
            }
            _ => return Ok(()),
        };
        let (Some((available, active)), Ok(Reply::Operation(op))) = (before, reply) else {
            return Ok(());
        };
        let should_decline = !active || amount > available;
        prop_assert_eq!(op.status == OperationStatus::Declined, should_decline, "{:?} with {:?} available", op, available);
        Ok(())
    }

    /// (debt, limit, status) of the credit line a repayment or limit request names.
    fn credit_of(&self, sent: &Sent) -> Option<(Fen, Fen, AgreementStatus)> {
        let (Sent::Repay(agreement_id, _) | Sent::RaiseLimit(agreement_id, _)) = sent else {
            return None;
        };
        let account = self.book.credit_account(agreement_id).ok()?;
        Some((account.debt_fen, account.limit_fen, account.status))
    }

    /// A valid repayment is accepted exactly when it is at most the debt, and lowers the debt by
    /// its amount.
    fn check_repayment(
        &self,
        sent: &Sent,
        before: Option<(Fen, Fen, AgreementStatus)>,
        reply: &Result<Reply, BookError>,
    ) -> Result<(), TestCaseError> {
        let (Sent::Repay(agreement_id, req), Some((debt, _, _))) = (sent, before) else {
            return Ok(());
        };
        if !req.amount_fen.is_positive() {
            prop_assert!(matches!(reply, Err(BookError::BadRequest(_))), "{:?}", reply);
            return Ok(());
        }
        let after = self.book.credit_account(agreement_id).map(|a| a.debt_fen);
        match reply {
            Ok(_) => {
                prop_assert!(req.amount_fen <= debt, "{:?} repaid on {:?}", req, debt);
                prop_assert_eq!(after, Ok(debt - req.amount_fen));
            }
            Err(e) => {
                prop_assert!(req.amount_fen > debt, "{:?} refused on {:?}: {}", req, debt, e);
                prop_assert_eq!(e.code(), wugan_bank::ErrorCode::RepaymentExceedsDebt);
                prop_assert_eq!(after, Ok(debt));
            }
        }
        Ok(())
    }

    /// A limit increase is approved exactly when the simple rule says so.
    fn check_limit(
        &self,
        sent: &Sent,
        before: Option<(Fen, Fen, AgreementStatus)>,
        reply: &Result<Reply, BookError>,
    ) -> Result<(), TestCaseError> {
        let (Sent::RaiseLimit(_, req), Some((_, limit, status)), Ok(Reply::Operation(op))) = (sent, before, reply) else {
            return Ok(());
        };
        let requested = req.requested_limit_fen;
        let allowed =
            status == AgreementStatus::Active && requested > limit && requested <= Fen::yuan(50_000) && requested.0 <= 2 * limit.0;
        prop_assert_eq!(op.status == OperationStatus::Approved, allowed, "{:?}", op);
        Ok(())
    }

    /// Nothing negative, and the outbox numbered 1, 2, 3, … without gaps.
    fn check_amounts_and_feed(&self) -> Result<(), TestCaseError> {
        for id in &self.agreement_ids {
            let a = self.book.agreement(id).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(!a.used_fen.is_negative() && !a.held_fen.is_negative(), "{:?}", a);
            if let Ok(account) = self.book.credit_account(id) {
                prop_assert!(account.debt_fen >= account.used_fen, "{:?}", account);
                prop_assert!(!account.unbilled_fen.is_negative(), "{:?}", account);
            }
        }
        let feed = self.book.events_after(0, usize::MAX);
        let seqs: Vec<u64> = feed.events.iter().map(|e| e.seq).collect();
        prop_assert_eq!(seqs, (1..=feed.last_seq).collect::<Vec<_>>());
        Ok(())
    }

    /// Expiry operations recorded so far, over every agreement.
    fn expiries(&self) -> usize {
        let ops = self.agreement_ids.iter().flat_map(|id| self.book.operations_for(id).unwrap_or_default());
        ops.filter(|op| op.kind == OperationKind::Expiry).count()
    }

    /// A capture or void succeeds only on a hold that has not expired, and one that has expired
    /// is refused as `hold_expired`, a business decline. Updates the model of open holds.
    fn check_hold_closing(&mut self, sent: &Sent, reply: &Result<Reply, BookError>) -> Result<(), TestCaseError> {
        let (Sent::Capture(CaptureRequest { authorization_request_id: auth, .. })
        | Sent::Void(VoidRequest { authorization_request_id: auth, .. })) = sent
        else {
            return Ok(());
        };
        let expired = match self.open_holds.get(auth) {
            Some(hold) => hold.expires_at_unix_s <= self.now,
            None if self.expired.contains(auth) => true,
            None => {
                prop_assert!(reply.is_err(), "{:?} closed a hold that is not open", sent);
                return Ok(());
            }
        };
        match reply {
            Ok(_) => {
                prop_assert!(!expired, "{:?} closed a hold that had expired", sent);
                self.open_holds.remove(auth);
            }
            // A malformed request is refused as such before the hold is looked at.
            Err(e) if expired => prop_assert!(matches!(e.code(), ErrorCode::HoldExpired | ErrorCode::BadRequest), "{:?}", e),
            Err(e) => prop_assert_ne!(e.code(), ErrorCode::HoldExpired),
        }
        Ok(())
    }

    /// Every agreement holds exactly its open holds not yet due at the last command's time, and
    /// a credit line's limit is split exactly into available, held and used; each hold due was
    /// released once, as one expiry.
    fn check_holds(&mut self) -> Result<(), TestCaseError> {
        self.release_due_in_model();
        prop_assert_eq!(self.expiries(), self.expired.len());
        for id in &self.agreement_ids {
            let a = self.book.agreement(id).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let held: Fen = self.open_holds.values().filter(|h| &h.agreement_id == id).map(|h| h.amount).sum();
            prop_assert_eq!(a.held_fen, held, "{} holds what the model holds", id);
            if let Some(limit) = a.limit_fen {
                prop_assert_eq!(a.available_fen + a.held_fen + a.used_fen, limit, "{:?}", a);
            }
        }
        Ok(())
    }

    /// The model's side of expiry: holds due by the last command's time are gone.
    fn release_due_in_model(&mut self) {
        let applied_at = self.applied_at;
        let due: Vec<String> =
            self.open_holds.iter().filter(|(_, h)| h.expires_at_unix_s <= applied_at).map(|(id, _)| id.clone()).collect();
        for id in due {
            self.open_holds.remove(&id);
            self.expired.insert(id);
        }
    }

    fn remember(&mut self, sent: &Sent, reply: &Result<Reply, BookError>) {
        if let (Sent::Increment(req), Ok(Reply::Operation(op))) = (sent, reply) {
            if op.status == OperationStatus::Approved {
                let hold = self.open_holds.get_mut(&req.authorization_request_id).expect("a raise approved on a hold the model holds open");
                hold.amount += req.amount_fen;
            }
        }
        if let (Sent::Authorize(req), Ok(Reply::Operation(op))) = (sent, reply) {
            if op.status == OperationStatus::Approved {
                let expires_at_unix_s = self.now + req.expires_in_s.unwrap_or(DEFAULT_HOLD_S);
                assert_eq!(op.expires_at, Some(rfc3339_china(expires_at_unix_s)), "the hold's expiry as asked");
                let hold = ModelHold { agreement_id: req.agreement_id.clone(), amount: req.amount_fen, expires_at_unix_s };
                self.open_holds.insert(req.request_id.clone(), hold);
            }
        }
        match (sent, reply) {
            (Sent::Authorize(req), Ok(_)) => self.holds.push(req.request_id.clone()),
            (Sent::Capture(req), Ok(_)) => self.captures.push(req.request_id.clone()),
            (Sent::Charge(req), Ok(Reply::Operation(op))) if op.status == OperationStatus::Captured => {
                self.captures.push(req.request_id.clone())
            }
            _ => {}
        }
    }

    /// A payout is paid exactly when it is within what the bank owes the merchant; and the bank's
    /// count of what it owes equals the test's after every step. It may go below zero: a refund
    /// of a visit already paid out is owed back by the merchant, and netted from its next payout.
    fn check_payout(&mut self, sent: &Sent, reply: &Result<Reply, BookError>) -> Result<(), TestCaseError> {
        match (sent, reply) {
            (Sent::Capture(_), Ok(Reply::Operation(op))) => self.merchant_due += op.amount_fen,
            (Sent::Charge(_), Ok(Reply::Operation(op))) if op.status == OperationStatus::Captured => self.merchant_due += op.amount_fen,
            (Sent::Refund(req), Ok(_)) => self.merchant_due -= req.amount_fen,
            (Sent::Payout(req), Ok(Reply::Operation(op))) => {
                prop_assert!(req.amount_fen <= self.merchant_due, "paid {:?} of {:?} owed", req.amount_fen, self.merchant_due);
                prop_assert_eq!((op.kind, op.status), (OperationKind::Payout, OperationStatus::PaidOut));
                self.merchant_due -= req.amount_fen;
                prop_assert_eq!(op.available_fen_after, self.merchant_due);
            }
            (Sent::Payout(req), Err(e)) => {
                let within = req.amount_fen.is_positive() && req.amount_fen <= self.merchant_due;
                prop_assert!(!within, "a payout within what is owed was refused: {:?}", e);
                if req.amount_fen.is_positive() {
                    prop_assert_eq!(e.code(), ErrorCode::PayoutExceedsDue);
                }
            }
            _ => {}
        }
        prop_assert_eq!(self.book.merchant_due("hub", "H1"), self.merchant_due);
        Ok(())
    }

    /// A retry of an accepted request replays its reply and records nothing; a retry of a
    /// rejected one is simply run again (it changed nothing the first time).
    fn retry(&mut self, index: usize) -> Result<(), TestCaseError> {
        if self.sent.is_empty() {
            return Ok(());
        }
        let (sent, first) = self.sent[index % self.sent.len()].clone();
        let expiries_before = self.expiries();
        let journal_before = self.book.journal_len();
        let again = self.send(&sent);
        let released = self.expiries() - expiries_before;
        if first.is_ok() {
            prop_assert_eq!(&again, &first);
            prop_assert_eq!(self.book.journal_len() - released, journal_before);
        } else {
            // Run again; a hold it closes now must be one it may close.
            self.check_hold_closing(&sent, &again)?;
            // And what it moves now counts toward what the merchant is owed (once: a later retry
            // that only replays this answer records nothing).
            if again.is_err() || self.book.journal_len() - released > journal_before {
                self.check_payout(&sent, &again)?;
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_workloads_keep_the_books_straight(steps in proptest::collection::vec(step(), 1..80)) {
        let mut world = World::new();
        for step in steps {
            world.run(step)?;
            prop_assert_eq!(world.book.check_invariants(), Ok(()));
            world.check_holds()?;
            world.check_amounts_and_feed()?;
        }
        // Nothing hidden: every agreement's operations are in the journal, each exactly once; the
        // rest are payouts, which are on no agreement.
        let listed: usize = world.agreement_ids.iter().map(|id| world.book.operations_for(id).map(|ops| ops.len()).unwrap_or(0)).sum();
        let paid = |sent: &Sent| matches!(sent, Sent::Payout(req) if world.book.operation("hub", &req.request_id).is_ok());
        let payouts = world.sent.iter().filter(|(sent, _)| paid(sent)).count();
        prop_assert_eq!(listed + payouts, world.book.journal_len());
    }
}
