//! The credit lifecycle of a credit line: statements (账单), the interest-free period (免息期),
//! overdue (逾期) and its interest, repayments (还款), limit increases (提额), and the outbox of
//! events for the hub. Pure, like the rest of the book: the time comes in as a value.
//!
//! The rules, all on China-time calendar days ([`Day`], UTC+8):
//! - **Billing is lazy and idempotent.** [`BankBook::run_billing`] (run first by every command,
//!   and by the HTTP layer before every request) processes the days since the last day it
//!   processed. Running it again on the same day, or with a clock moved back, changes nothing.
//!   Between two runs no request changed anything, so a gap of many days is processed in O(1)
//!   per line, not day by day.
//! - **Statement (账单).** At 00:00 on the statement day of each month a line's unbilled spending
//!   (captured minus refunded since the last statement, minus what was repaid of it) becomes a
//!   statement, when positive. Its period is the month up to the day before; it is due at the
//!   end of `statement day + interest_free_days` (the 免息期).
//! - **Overdue (逾期).** From 00:00 of the day after the due date, a statement with anything owed
//!   is overdue; a line with an overdue statement reads status `overdue` (unless closed or frozen)
//!   and declines new holds with `agreement_overdue`, until every overdue statement is paid.
//! - **Interest.** Simple interest on the overdue statement's outstanding principal, never on
//!   interest: for each day overdue, counted at 00:00 of that day (so the day of repayment
//!   counts), `round_half_up(principal × bp / 10,000)` fen. Interest does not occupy the limit.
//!   A statement's interest is capped at [`MAX_AMOUNT_FEN`], a bound against overflow only.
//! - **Repayment (还款).** Oldest statement first, within a statement interest before principal,
//!   then unbilled spending. At most the whole debt; partial repayment is allowed. The principal
//!   part lowers `used_fen` and so frees credit.
//! - **Refund.** Lowers unbilled spending first, then the principal of statements oldest first;
//!   what exceeds the principal still owed (the line was already repaid) is returned to the
//!   customer, so `used_fen` never goes negative.
//! - **Limit increase (提额).** Approved when the line is active (not overdue, frozen or closed)
//!   and `current < requested ≤ min(max_requested_limit, 2 × current)`; otherwise declined with
//!   the first failing reason.

use super::{
    bad, check_amount, check_optional_text, fingerprint, AgreementState, BankBook, BookError, Effect, Reply, ReplyShape, MAX_AMOUNT_FEN,
    MAX_CREDIT_LIMIT_FEN,
};
use crate::calendar::Day;
use crate::wire::{
    Agreement, AgreementKind, AgreementList, AgreementStatus, BankEvent, BankEventType, CreditAccount, DeclineCode, EventList,
    LimitIncreaseRequest, OperationKind, OperationStatus, RepaymentRecord, RepaymentRequest, RepaymentSource, Statement, StatementStatus,
};
use wugan_domain::money::Fen;

/// A limit increase may at most double the current limit.
pub const LIMIT_INCREASE_MAX_FACTOR: i64 = 2;
/// The most items one page of a list or of the event feed holds.
pub const MAX_PAGE_ITEMS: usize = 1_000;

/// A bank's credit terms: the billing cycle, the interest-free period, overdue interest and the
/// limit-increase ceiling.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreditTerms {
    /// 账单日: the day of the month (1..=28) a statement closes, at 00:00 China time.
    pub statement_day: u32,
    /// 免息期: days after the statement day within which the statement may be repaid without
    /// interest; the due date is `statement day + interest_free_days`.
    pub interest_free_days: u32,
    /// Overdue interest per day, in basis points of the overdue principal: 5 is 0.05 % a day.
    pub overdue_interest_bp_per_day: u32,
    /// 提额: the highest limit a limit-increase request can be granted.
    pub max_requested_limit_fen: Fen,
}

impl Default for CreditTerms {
    fn default() -> CreditTerms {
        CreditTerms { statement_day: 1, interest_free_days: 10, overdue_interest_bp_per_day: 5, max_requested_limit_fen: Fen::yuan(50_000) }
    }
}

impl CreditTerms {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=28).contains(&self.statement_day) {
            return Err("statement_day must be in 1..=28, a day every month has".to_string());
        }
        if self.interest_free_days > 90 {
            return Err("interest_free_days must be at most 90".to_string());
        }
        if self.overdue_interest_bp_per_day > 1_000 {
            return Err("overdue_interest_bp_per_day must be at most 1000 (10 % a day)".to_string());
        }
        let max = self.max_requested_limit_fen;
        if !max.is_positive() || max > MAX_CREDIT_LIMIT_FEN {
            return Err(format!("max_requested_limit_fen must be in 1..={}", MAX_CREDIT_LIMIT_FEN.0));
        }
        Ok(())
    }
}

/// One closed statement (账单) and what has been paid or credited on it.
#[derive(Debug)]
pub(super) struct StatementState {
    id: String,
    statement_day: Day,
    period_start: Day,
    due_day: Day,
    /// Billed principal: the cycle's spending.
    principal_fen: Fen,
    principal_paid_fen: Fen,
    /// Refunds credited after the statement closed.
    credited_fen: Fen,
    interest_fen: Fen,
    interest_paid_fen: Fen,
    /// The last day interest was charged for (the due day until it is overdue).
    interest_through: Day,
}

impl StatementState {
    fn principal_outstanding(&self) -> Fen {
        self.principal_fen - self.principal_paid_fen - self.credited_fen
    }

    fn interest_outstanding(&self) -> Fen {
        self.interest_fen - self.interest_paid_fen
    }

    fn outstanding(&self) -> Fen {
        self.principal_outstanding() + self.interest_outstanding()
    }

    fn is_overdue(&self, today: Day) -> bool {
        today > self.due_day && self.outstanding().is_positive()
    }

    fn status(&self, today: Day) -> StatementStatus {
        match self.outstanding().is_positive() {
            false => StatementStatus::Paid,
            true if today > self.due_day => StatementStatus::Overdue,
            true => StatementStatus::Open,
        }
    }

    /// Charges interest for each day after `interest_through` up to `today`, on the principal
    /// outstanding now (it has not changed since the last run).
    fn accrue_interest(&mut self, today: Day, bp_per_day: u32) {
        let start = self.interest_through.max(self.due_day);
        if today <= start {
            return;
        }
        let days = today.0 - start.0;
        let per_day = daily_interest(self.principal_outstanding(), bp_per_day);
        let charged = Fen(per_day.0.saturating_mul(days));
        self.interest_fen = Fen(self.interest_fen.0.saturating_add(charged.0)).min(MAX_AMOUNT_FEN);
        self.interest_through = today;
    }

    fn view(&self, today: Day) -> Statement {
        Statement {
            statement_id: self.id.clone(),
            statement_date: self.statement_day.to_string(),
            period_start: self.period_start.to_string(),
            period_end: self.statement_day.plus_days(-1).to_string(),
            due_date: self.due_day.to_string(),
            amount_due_fen: self.principal_fen,
            refunded_fen: self.credited_fen,
            interest_fen: self.interest_fen,
            paid_fen: self.principal_paid_fen + self.interest_paid_fen,
            outstanding_fen: self.outstanding(),
            status: self.status(today),
        }
    }
}

/// `round_half_up(principal × bp / 10,000)` for a non-negative principal.
pub fn daily_interest(principal: Fen, bp_per_day: u32) -> Fen {
    if !principal.is_positive() {
        return Fen::ZERO;
    }
    let scaled = principal.0.saturating_mul(i64::from(bp_per_day));
    Fen(scaled.saturating_add(5_000) / 10_000)
}

/// A posted repayment, with the client whose request id it carries.
#[derive(Debug)]
pub(super) struct RepaymentState {
    client: String,
    record: RepaymentRecord,
}

/// The credit side of a credit line (empty for a debit card).
#[derive(Debug, Default)]
pub(super) struct CreditState {
    /// Spending not yet on a statement.
    unbilled_fen: Fen,
    /// Oldest first.
    statements: Vec<StatementState>,
    repayments: Vec<RepaymentState>,
    /// Whether a statement was overdue when last looked at; events fire when it flips.
    overdue: bool,
    /// Refunds beyond the principal owed, returned to the customer.
    returned_fen: Fen,
}

impl CreditState {
    fn interest_outstanding(&self) -> Fen {
        self.statements.iter().map(StatementState::interest_outstanding).sum()
    }

    fn overdue_fen(&self, today: Day) -> Fen {
        self.statements.iter().filter(|s| s.is_overdue(today)).map(StatementState::outstanding).sum()
    }

    fn any_overdue(&self, today: Day) -> bool {
        self.statements.iter().any(|s| s.is_overdue(today))
    }

    /// The principal part of a repayment's allocation, for rebuilding `used` from the journal.
    pub(super) fn repaid_principal(&self, client: &str, request_id: &str) -> Option<Fen> {
        self.repayments
            .iter()
            .find(|r| r.client == client && r.record.request_id == request_id)
            .map(|r| r.record.to_statements_fen + r.record.to_unbilled_fen)
    }

    /// Applies a repayment no larger than the debt: oldest statement first, interest before
    /// principal, then unbilled spending. Returns (to interest, to statements, to unbilled).
    fn apply_repayment(&mut self, amount: Fen) -> (Fen, Fen, Fen) {
        let (mut left, mut to_interest, mut to_statements) = (amount, Fen::ZERO, Fen::ZERO);
        for s in self.statements.iter_mut().filter(|s| s.outstanding().is_positive()) {
            let interest = left.min(s.interest_outstanding());
            s.interest_paid_fen += interest;
            let principal = (left - interest).min(s.principal_outstanding());
            s.principal_paid_fen += principal;
            to_interest += interest;
            to_statements += principal;
            left -= interest + principal;
        }
        let to_unbilled = left.min(self.unbilled_fen);
        self.unbilled_fen -= to_unbilled;
        debug_assert_eq!(to_interest + to_statements + to_unbilled, amount);
        (to_interest, to_statements, to_unbilled)
    }

    /// Credits a refund: unbilled first, then statements' principal oldest first. Returns the
    /// principal it cleared; the rest is returned to the customer.
    fn apply_refund(&mut self, amount: Fen) -> Fen {
        let from_unbilled = amount.min(self.unbilled_fen);
        self.unbilled_fen -= from_unbilled;
        let mut left = amount - from_unbilled;
        for s in &mut self.statements {
            let credit = left.min(s.principal_outstanding());
            s.credited_fen += credit;
            left -= credit;
        }
        self.returned_fen += left;
        amount - left
    }
}

/// What a credit command records in its event beyond the line's amounts.
#[derive(Debug, Default)]
struct EventDetail {
    amount_fen: Option<Fen>,
    previous_limit_fen: Option<Fen>,
    source: Option<RepaymentSource>,
    reference: Option<String>,
    request_id: Option<String>,
}

impl AgreementState {
    /// The status a caller sees: an active credit line with an overdue statement is `overdue`.
    pub(super) fn visible_status(&self) -> AgreementStatus {
        match self.status {
            AgreementStatus::Active if self.credit.overdue => AgreementStatus::Overdue,
            status => status,
        }
    }

    fn debt_fen(&self) -> Fen {
        self.used_fen + self.credit.interest_outstanding()
    }

    /// Spending that reached a capture: unbilled until the next statement.
    pub(super) fn spend_on_credit(&mut self, amount: Fen) {
        self.used_fen += amount;
        self.credit.unbilled_fen += amount;
    }

    /// A refund on a credit line; see the module rules.
    pub(super) fn refund_to_credit(&mut self, amount: Fen) {
        let cleared = self.credit.apply_refund(amount);
        self.used_fen -= cleared;
    }

    fn limit_decline_reason(&self, requested: Fen, terms: &CreditTerms) -> Option<DeclineCode> {
        let twice = Fen(self.limit_fen.0.saturating_mul(LIMIT_INCREASE_MAX_FACTOR));
        match self.visible_status() {
            AgreementStatus::Closed => Some(DeclineCode::AgreementClosed),
            AgreementStatus::Frozen => Some(DeclineCode::AgreementFrozen),
            AgreementStatus::Overdue => Some(DeclineCode::AgreementOverdue),
            AgreementStatus::Active if requested <= self.limit_fen => Some(DeclineCode::LimitNotIncreased),
            AgreementStatus::Active if requested > terms.max_requested_limit_fen => Some(DeclineCode::LimitAboveMaximum),
            AgreementStatus::Active if requested > twice => Some(DeclineCode::LimitAboveTwiceCurrent),
            AgreementStatus::Active => None,
        }
    }

    fn credit_view(&self, agreement_id: &str, today: Day) -> CreditAccount {
        let credit = &self.credit;
        CreditAccount {
            agreement_id: agreement_id.to_string(),
            status: self.visible_status(),
            limit_fen: self.limit_fen,
            used_fen: self.used_fen,
            unbilled_fen: credit.unbilled_fen,
            interest_outstanding_fen: credit.interest_outstanding(),
            debt_fen: self.debt_fen(),
            overdue_fen: credit.overdue_fen(today),
            returned_fen: credit.returned_fen,
            statements: credit.statements.iter().map(|s| s.view(today)).collect(),
            repayments: credit.repayments.iter().map(|r| r.record.clone()).collect(),
        }
    }

    /// Closes the first statement day in `(last, today]`, if there is spending to bill. Later
    /// statement days in the gap would bill nothing: no request came in between.
    fn close_statement(&mut self, agreement_id: &str, last: Day, today: Day, terms: &CreditTerms) {
        let statement_day = last.plus_days(1).next_day_of_month(terms.statement_day);
        if statement_day > today || !self.credit.unbilled_fen.is_positive() {
            return;
        }
        let (y, m, d) = statement_day.ymd();
        let due_day = statement_day.plus_days(i64::from(terms.interest_free_days));
        self.credit.statements.push(StatementState {
            id: format!("{agreement_id}-s{y:04}{m:02}{d:02}"),
            statement_day,
            period_start: statement_day.plus_months(-1, terms.statement_day),
            due_day,
            principal_fen: self.credit.unbilled_fen,
            principal_paid_fen: Fen::ZERO,
            credited_fen: Fen::ZERO,
            interest_fen: Fen::ZERO,
            interest_paid_fen: Fen::ZERO,
            interest_through: due_day,
        });
        self.credit.unbilled_fen = Fen::ZERO;
    }
}

impl BankBook {
    // ---- billing ----

    /// Brings every credit line's statements, interest and overdue status up to the China-time
    /// day of `now_unix_s`. Deterministic and idempotent; see the module rules.
    pub fn run_billing(&mut self, now_unix_s: i64) {
        let today = Day::of_unix_s(now_unix_s);
        let last = match self.billed_through {
            Some(last) if today > last => last,
            Some(_) => return,
            None => {
                self.billed_through = Some(today);
                return;
            }
        };
        self.billed_through = Some(today);
        let lines: Vec<String> =
            self.agreements.iter().filter(|(_, a)| a.kind == AgreementKind::CreditLine).map(|(id, _)| id.clone()).collect();
        for agreement_id in lines {
            self.bill_line(&agreement_id, last, today, now_unix_s);
        }
    }

    fn bill_line(&mut self, agreement_id: &str, last: Day, today: Day, now_unix_s: i64) {
        let terms = self.config.credit_terms.clone();
        if let Some(line) = self.agreements.get_mut(agreement_id) {
            line.close_statement(agreement_id, last, today, &terms);
            for statement in &mut line.credit.statements {
                statement.accrue_interest(today, terms.overdue_interest_bp_per_day);
            }
        }
        self.refresh_overdue(agreement_id, now_unix_s, None);
    }

    /// The last day billing processed: "today" for every credit rule.
    fn today(&self, now_unix_s: i64) -> Day {
        self.billed_through.unwrap_or_else(|| Day::of_unix_s(now_unix_s))
    }

    /// Re-reads whether the line has an overdue statement and records an event if that changed.
    fn refresh_overdue(&mut self, agreement_id: &str, now_unix_s: i64, request_id: Option<&str>) {
        let today = self.today(now_unix_s);
        let Some(line) = self.agreements.get_mut(agreement_id) else {
            return;
        };
        let overdue = line.credit.any_overdue(today);
        if overdue == std::mem::replace(&mut line.credit.overdue, overdue) {
            return;
        }
        let event_type = match overdue {
            true => BankEventType::LineOverdue,
            false => BankEventType::LineReinstated,
        };
        let detail = EventDetail { request_id: request_id.map(str::to_string), ..EventDetail::default() };
        self.emit(event_type, agreement_id, now_unix_s, detail);
    }

    /// `line_frozen` / `line_unfrozen`, after the status changed.
    pub(super) fn record_freeze(&mut self, agreement_id: &str, frozen: bool, now: i64) {
        let event_type = if frozen { BankEventType::LineFrozen } else { BankEventType::LineUnfrozen };
        self.emit(event_type, agreement_id, now, EventDetail::default());
    }

    /// Appends one event to the outbox, with the line's amounts as they are now.
    fn emit(&mut self, event_type: BankEventType, agreement_id: &str, now: i64, d: EventDetail) {
        let today = self.today(now);
        let Some(line) = self.agreements.get(agreement_id) else {
            return;
        };
        let event = BankEvent {
            seq: self.events.len() as u64 + 1,
            event_type,
            agreement_id: agreement_id.to_string(),
            customer_ref: line.customer_ref.clone(),
            status: line.visible_status(),
            limit_fen: line.limit_fen,
            used_fen: line.used_fen,
            available_fen: line.available_fen(),
            debt_fen: line.debt_fen(),
            overdue_fen: line.credit.overdue_fen(today),
            amount_fen: d.amount_fen,
            previous_limit_fen: d.previous_limit_fen,
            source: d.source,
            reference: d.reference,
            request_id: d.request_id,
            recorded_at_unix_s: now,
        };
        self.events.push(event);
    }

    /// After a refund: a credited overdue statement may reinstate the line.
    pub(super) fn after_credit_refund(&mut self, agreement_id: &str, now: i64, request_id: &str) {
        self.refresh_overdue(agreement_id, now, Some(request_id));
    }

    // ---- commands ----

    /// 还款: see the module rules. Answers with the operation.
    pub fn repay(&mut self, client: &str, agreement_id: &str, req: RepaymentRequest, now_unix_s: i64) -> Result<Reply, BookError> {
        let fingerprint = format!("repayment {agreement_id} {}", fingerprint("", &req));
        self.idempotent(client, &req.request_id, fingerprint, now_unix_s, ReplyShape::Operation, |book| {
            check_amount(req.amount_fen)?;
            check_optional_text("reference", req.reference.as_deref())?;
            let line = book.credit_line_mut(agreement_id)?;
            let debt = line.debt_fen();
            if req.amount_fen > debt {
                return Err(BookError::RepaymentExceedsDebt { amount: req.amount_fen, debt });
            }
            let (to_interest, to_statements, to_unbilled) = line.credit.apply_repayment(req.amount_fen);
            line.used_fen -= to_statements + to_unbilled;
            let record = RepaymentRecord {
                request_id: req.request_id.clone(),
                amount_fen: req.amount_fen,
                source: req.source,
                reference: req.reference.clone(),
                to_interest_fen: to_interest,
                to_statements_fen: to_statements,
                to_unbilled_fen: to_unbilled,
                recorded_at_unix_s: now_unix_s,
            };
            let client = client.to_string();
            line.credit.repayments.push(RepaymentState { client, record });
            book.record_repayment_events(agreement_id, &req, now_unix_s);
            Ok(Effect::new(OperationKind::Repayment, OperationStatus::Posted, req.amount_fen, agreement_id))
        })
    }

    /// `repayment_posted`, then `line_reinstated` if it paid the last overdue statement.
    fn record_repayment_events(&mut self, agreement_id: &str, req: &RepaymentRequest, now: i64) {
        let today = self.today(now);
        let Some(line) = self.agreements.get_mut(agreement_id) else {
            return;
        };
        // Refreshed before the event, so the event shows the status after the repayment.
        let was_overdue = line.credit.overdue;
        line.credit.overdue = line.credit.any_overdue(today);
        let reinstated = was_overdue && !line.credit.overdue;
        let posted = EventDetail {
            amount_fen: Some(req.amount_fen),
            source: Some(req.source),
            reference: req.reference.clone(),
            request_id: Some(req.request_id.clone()),
            ..EventDetail::default()
        };
        self.emit(BankEventType::RepaymentPosted, agreement_id, now, posted);
        if reinstated {
            let detail = EventDetail { request_id: Some(req.request_id.clone()), ..EventDetail::default() };
            self.emit(BankEventType::LineReinstated, agreement_id, now, detail);
        }
    }

    /// 提额: see the module rules. Answers with the operation, approved or declined.
    pub fn request_limit_increase(
        &mut self,
        client: &str,
        agreement_id: &str,
        req: LimitIncreaseRequest,
        now_unix_s: i64,
    ) -> Result<Reply, BookError> {
        let fingerprint = format!("limit_increase {agreement_id} {}", fingerprint("", &req));
        self.idempotent(client, &req.request_id, fingerprint, now_unix_s, ReplyShape::Operation, |book| {
            let requested = req.requested_limit_fen;
            if !requested.is_positive() || requested > MAX_CREDIT_LIMIT_FEN {
                return Err(bad(format!("requested_limit_fen must be in 1..={}", MAX_CREDIT_LIMIT_FEN.0)));
            }
            let terms = book.config.credit_terms.clone();
            let line = book.credit_line_mut(agreement_id)?;
            let decline = line.limit_decline_reason(requested, &terms);
            let previous = line.limit_fen;
            let status = match decline {
                None => OperationStatus::Approved,
                Some(_) => OperationStatus::Declined,
            };
            if decline.is_none() {
                line.limit_fen = requested;
                let detail =
                    EventDetail { previous_limit_fen: Some(previous), request_id: Some(req.request_id.clone()), ..EventDetail::default() };
                book.emit(BankEventType::LimitChanged, agreement_id, now_unix_s, detail);
            }
            let effect = Effect::new(OperationKind::LimitIncrease, status, requested, agreement_id);
            Ok(Effect { decline_code: decline, ..effect })
        })
    }

    // ---- queries ----

    /// A credit line's debt, statements and repayments, as of the last billing run.
    pub fn credit_account(&self, agreement_id: &str) -> Result<CreditAccount, BookError> {
        let line = self.agreement_state(agreement_id)?;
        if line.kind != AgreementKind::CreditLine {
            return Err(bad("statements exist only for credit lines"));
        }
        let today = self.billed_through.unwrap_or_default();
        Ok(line.credit_view(agreement_id, today))
    }

    /// Agreements in id order after `after`, optionally only those with `status`; at most
    /// `limit` (capped at [`MAX_PAGE_ITEMS`]).
    pub fn agreements(&self, status: Option<AgreementStatus>, after: Option<&str>, limit: usize) -> AgreementList {
        let limit = limit.clamp(1, MAX_PAGE_ITEMS);
        let start = match after {
            Some(after) => std::ops::Bound::Excluded(after.to_string()),
            None => std::ops::Bound::Unbounded,
        };
        let mut matching = self
            .agreements
            .range((start, std::ops::Bound::Unbounded))
            .filter(|(_, a)| status.is_none_or(|s| a.visible_status() == s))
            .map(|(id, a)| a.view(id));
        let agreements: Vec<Agreement> = matching.by_ref().take(limit).collect();
        let more = matching.next().is_some();
        let next_after = more.then(|| agreements.last().map(|a| a.agreement_id.clone())).flatten();
        AgreementList { agreements, next_after }
    }

    /// Events with a sequence number above `after`, oldest first, at most `limit` (capped at
    /// [`MAX_PAGE_ITEMS`]).
    pub fn events_after(&self, after: u64, limit: usize) -> EventList {
        let limit = limit.clamp(1, MAX_PAGE_ITEMS);
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(self.events.len());
        EventList { events: self.events[start..].iter().take(limit).cloned().collect(), last_seq: self.events.len() as u64 }
    }

    // ---- helpers and invariants ----

    fn credit_line_mut(&mut self, agreement_id: &str) -> Result<&mut AgreementState, BookError> {
        let line = self.agreement_state_mut(agreement_id)?;
        if line.kind != AgreementKind::CreditLine {
            return Err(bad("repayments and limit increases are for credit lines"));
        }
        Ok(line)
    }

    /// The credit side of one agreement, checked against its own parts.
    pub(super) fn check_credit(&self, agreement_id: &str, a: &AgreementState) -> Result<(), String> {
        let credit = &a.credit;
        if a.kind == AgreementKind::DebitCard {
            let empty = credit.statements.is_empty() && credit.repayments.is_empty();
            if !empty || credit.unbilled_fen != Fen::ZERO {
                return Err(format!("{agreement_id}: a debit card with credit state"));
            }
            return Ok(());
        }
        for s in &credit.statements {
            let paid_and_credited = s.principal_paid_fen + s.credited_fen;
            let sane = s.principal_fen.is_positive()
                && !s.principal_paid_fen.is_negative()
                && !s.credited_fen.is_negative()
                && paid_and_credited <= s.principal_fen
                && !s.interest_paid_fen.is_negative()
                && s.interest_paid_fen <= s.interest_fen;
            if !sane {
                return Err(format!("{agreement_id}: statement {} out of bounds", s.id));
            }
        }
        let billed: Fen = credit.statements.iter().map(StatementState::principal_outstanding).sum();
        if credit.unbilled_fen.is_negative() || credit.unbilled_fen + billed != a.used_fen {
            return Err(format!("{agreement_id}: unbilled {:?} + billed {billed:?} != used {:?}", credit.unbilled_fen, a.used_fen));
        }
        self.check_repayments(agreement_id, credit)?;
        let today = self.billed_through.unwrap_or_default();
        if credit.overdue != credit.any_overdue(today) {
            return Err(format!("{agreement_id}: stale overdue flag"));
        }
        Ok(())
    }

    /// Each repayment splits exactly; the statements were paid what the repayments say.
    fn check_repayments(&self, agreement_id: &str, credit: &CreditState) -> Result<(), String> {
        let (mut interest, mut principal) = (Fen::ZERO, Fen::ZERO);
        for r in credit.repayments.iter().map(|r| &r.record) {
            let parts = [r.to_interest_fen, r.to_statements_fen, r.to_unbilled_fen];
            if parts.iter().any(|p| p.is_negative()) || parts.into_iter().sum::<Fen>() != r.amount_fen {
                return Err(format!("{agreement_id}: repayment {} splits wrongly", r.request_id));
            }
            interest += r.to_interest_fen;
            principal += r.to_statements_fen;
        }
        let paid = |f: fn(&StatementState) -> Fen| credit.statements.iter().map(f).sum::<Fen>();
        if (interest, principal) != (paid(|s| s.interest_paid_fen), paid(|s| s.principal_paid_fen)) {
            return Err(format!("{agreement_id}: repayments disagree with statements"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_interest_rounds_half_up_to_the_fen() {
        let check =
            |principal: i64, bp: u32, expect: i64| assert_eq!(daily_interest(Fen(principal), bp), Fen(expect), "{principal} × {bp} bp");
        check(100_000, 5, 50);
        check(1_000, 5, 1); // 0.5 fen rounds up
        check(999, 5, 0); // 0.4995 fen rounds down
        check(40_050, 5, 20); // 20.025
        check(40_100, 5, 20); // 20.05
        check(41_000, 5, 21); // 20.5 rounds up
        check(0, 5, 0);
        check(-100, 5, 0);
        check(100_000, 0, 0);
        check(MAX_CREDIT_LIMIT_FEN.0, 1_000, MAX_CREDIT_LIMIT_FEN.0 / 10);
    }

    #[test]
    fn terms_are_validated() {
        assert_eq!(CreditTerms::default().validate(), Ok(()));
        let bad = [
            CreditTerms { statement_day: 0, ..CreditTerms::default() },
            CreditTerms { statement_day: 29, ..CreditTerms::default() },
            CreditTerms { interest_free_days: 91, ..CreditTerms::default() },
            CreditTerms { overdue_interest_bp_per_day: 1_001, ..CreditTerms::default() },
            CreditTerms { max_requested_limit_fen: Fen::ZERO, ..CreditTerms::default() },
        ];
        for terms in bad {
            assert!(terms.validate().is_err(), "{terms:?}");
        }
    }
}
