//! Random workloads against the pure book: after every step the invariants hold, a retry replays
//! its first reply, and every operation is recorded exactly once. Time passes in random steps
//! across billing cycles, so statements close, go overdue and accrue interest while repayments,
//! refunds and limit increases come in: used never goes negative, a repayment is accepted
//! exactly when it is at most the debt, and the event feed has no gaps.

use proptest::prelude::*;
use wugan_bank::book::{BankBook, BookConfig, BookError, Reply};
use wugan_bank::wire::{
    AgreementKind, AgreementStatus, AuthorizationRequest, CaptureRequest, CloseAgreementRequest, CreateAgreementRequest,
    LimitIncreaseRequest, OperationStatus, RefundRequest, RepaymentRequest, RepaymentSource, VoidRequest,
};
use wugan_domain::money::Fen;

const AGREEMENTS: usize = 3;
/// 2026-01-25T00:00:00Z: a week before the first statement day.
const START_UNIX_S: i64 = 1_769_299_200;

#[derive(Clone, Debug)]
enum Step {
    Authorize {
        agreement: usize,
        amount: i64,
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
    /// Sends one of the earlier requests again, unchanged.
    Retry {
        step: usize,
    },
    /// Authorizes and captures the whole amount: a visit paid on credit.
    Spend {
        agreement: usize,
        amount: i64,
    },
    /// The clock moves on; billing runs.
    Wait {
        hours: i64,
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
        6 => (agreement.clone(), amount.clone()).prop_map(|(agreement, amount)| Step::Authorize { agreement, amount }),
        2 => (agreement.clone(), -1i64..=1).prop_map(|(agreement, delta)| Step::AuthorizeEdge { agreement, delta }),
        4 => (any::<usize>(), amount.clone()).prop_map(|(hold, amount)| Step::Capture { hold, amount }),
        2 => any::<usize>().prop_map(|hold| Step::Void { hold }),
        3 => (any::<usize>(), amount.clone()).prop_map(|(capture, amount)| Step::Refund { capture, amount }),
        1 => agreement.clone().prop_map(|agreement| Step::Close { agreement }),
        1 => (agreement.clone(), any::<bool>()).prop_map(|(agreement, frozen)| Step::Freeze { agreement, frozen }),
        3 => any::<usize>().prop_map(|step| Step::Retry { step }),
        5 => prop_oneof![1i64..48, 200i64..400, 600i64..1_000].prop_map(|hours| Step::Wait { hours }),
        3 => (agreement.clone(), amount.clone(), any::<bool>()).prop_map(|(agreement, amount, personal_account)| Step::Repay { agreement, amount, personal_account }),
        2 => (agreement.clone(), -1i64..=1, any::<bool>()).prop_map(|(agreement, delta, overdue_only)| Step::RepayEdge { agreement, delta, overdue_only }),
        5 => (agreement.clone(), 1i64..8_000).prop_map(|(agreement, amount)| Step::Spend { agreement, amount }),
        1 => (agreement, prop_oneof![0i64..60_000, 5_000_000i64..5_000_002]).prop_map(|(agreement, requested)| Step::RaiseLimit { agreement, requested }),
    ]
}

/// A request as sent, so it can be sent again.
#[derive(Clone, Debug)]
enum Sent {
    Authorize(AuthorizationRequest),
    Capture(CaptureRequest),
    Void(VoidRequest),
    Refund(RefundRequest),
    Close(String, CloseAgreementRequest),
    Repay(String, RepaymentRequest),
    RaiseLimit(String, LimitIncreaseRequest),
}

struct World {
    book: BankBook,
    agreement_ids: Vec<String>,
    holds: Vec<String>,
    captures: Vec<String>,
    sent: Vec<(Sent, Result<Reply, BookError>)>,
    next_id: usize,
    now: i64,
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
        let (book, now) = (&mut self.book, self.now);
        match sent.clone() {
            Sent::Authorize(req) => book.authorize("hub", req, now),
            Sent::Capture(req) => book.capture("hub", req, now),
            Sent::Void(req) => book.void("hub", req, now),
            Sent::Refund(req) => book.refund("hub", req, now),
            Sent::Close(agreement_id, req) => book.close_agreement("hub", &agreement_id, req, now),
            Sent::Repay(agreement_id, req) => book.repay("hub", &agreement_id, req, now),
            Sent::RaiseLimit(agreement_id, req) => book.request_limit_increase("hub", &agreement_id, req, now),
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
            self.run(Step::Authorize { agreement, amount })?;
            let hold = self.holds.len().saturating_sub(1);
            return self.run(Step::Capture { hold, amount });
        }
        if let Step::Wait { hours } = step {
            self.now += hours * 3600;
            self.book.run_billing(self.now);
            return Ok(());
        }
        let sent = self.request_for(step);
        let available_before = self.available_of(&sent);
        let credit_before = self.credit_of(&sent);
        let journal_before = self.book.journal_len();
        let reply = self.send(&sent);
        let recorded = self.book.journal_len() - journal_before;
        prop_assert_eq!(recorded, usize::from(reply.is_ok()), "one record per accepted request: {:?}", reply);
        self.check_decline(&sent, available_before, &reply)?;
        self.check_repayment(&sent, credit_before, &reply)?;
        self.check_limit(&sent, credit_before, &reply)?;
        self.remember(&sent, &reply);
        self.sent.push((sent, reply));
        Ok(())
    }

    fn request_for(&mut self, step: Step) -> Sent {
        match step {
            Step::Authorize { agreement, amount } => Sent::Authorize(AuthorizationRequest {
                request_id: self.fresh_id("auth"),
                agreement_id: self.agreement_ids[agreement].clone(),
                amount_fen: Fen(amount),
                merchant_id: "H1".to_string(),
                memo: None,
            }),
            Step::AuthorizeEdge { agreement, delta } => {
                let available = self.book.agreement(&self.agreement_ids[agreement]).map(|a| a.available_fen).unwrap_or_default();
                self.request_for(Step::Authorize { agreement, amount: available.0 + delta })
            }
            Step::Capture { hold, amount } => Sent::Capture(CaptureRequest {
                request_id: self.fresh_id("cap"),
                authorization_request_id: World::pick(&self.holds, hold),
                amount_fen: Fen(amount),
            }),
            Step::Void { hold } => {
                Sent::Void(VoidRequest { request_id: self.fresh_id("void"), authorization_request_id: World::pick(&self.holds, hold) })
            }
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
            Step::Freeze { .. } | Step::Retry { .. } | Step::Wait { .. } | Step::Spend { .. } => {
                unreachable!("handled by run")
            }
        }
    }

    fn available_of(&self, sent: &Sent) -> Option<(Fen, bool)> {
        let Sent::Authorize(req) = sent else {
            return None;
        };
        let a = self.book.agreement(&req.agreement_id).ok()?;
        Some((a.available_fen, a.status == wugan_bank::wire::AgreementStatus::Active))
    }

    /// An authorization is declined exactly when the agreement is not active or the amount
    /// exceeds what was available.
    fn check_decline(&self, sent: &Sent, before: Option<(Fen, bool)>, reply: &Result<Reply, BookError>) -> Result<(), TestCaseError> {
        let (Sent::Authorize(req), Some((available, active)), Ok(Reply::Operation(op))) = (sent, before, reply) else {
            return Ok(());
        };
        let should_decline = !active || req.amount_fen > available;
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

    fn remember(&mut self, sent: &Sent, reply: &Result<Reply, BookError>) {
        match (sent, reply) {
            (Sent::Authorize(req), Ok(_)) => self.holds.push(req.request_id.clone()),
            (Sent::Capture(req), Ok(_)) => self.captures.push(req.request_id.clone()),
            _ => {}
        }
    }

    /// A retry of an accepted request replays its reply and records nothing; a retry of a
    /// rejected one is simply run again (it changed nothing the first time).
    fn retry(&mut self, index: usize) -> Result<(), TestCaseError> {
        if self.sent.is_empty() {
            return Ok(());
        }
        let (sent, first) = self.sent[index % self.sent.len()].clone();
        let journal_before = self.book.journal_len();
        let again = self.send(&sent);
        if first.is_ok() {
            prop_assert_eq!(&again, &first);
            prop_assert_eq!(self.book.journal_len(), journal_before);
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
            world.check_amounts_and_feed()?;
        }
        // Nothing hidden: every agreement's operations are in the journal, each exactly once.
        let listed: usize = world.agreement_ids.iter().map(|id| world.book.operations_for(id).map(|ops| ops.len()).unwrap_or(0)).sum();
        prop_assert_eq!(listed, world.book.journal_len());
    }
}
