//! The bank's books: agreements, holds, captures, refunds, and the idempotency record.
//!
//! Pure state transitions: no I/O, no clock, no randomness. The HTTP layer passes in the caller's
//! key id, the time and any new agreement id. Each mutating method checks idempotency, applies the
//! change and records the operation in one step, so a request either happened once or not at all.
//!
//! Only successful outcomes (including declines, which are business outcomes) are remembered under
//! their request id. A rejected request changed nothing, and re-running it gives the same answer
//! for every permanent reason (a voided hold stays voided); for the one transient reason, a
//! reference the bank has not seen yet, re-running is exactly what a retry should do.
//!
//! The credit lifecycle (statements, overdue, interest, repayments, limit increases, the event
//! outbox) lives in `book/credit.rs`; every command first brings billing up to its `now`.
//! `book/command.rs` turns every change into a value ([`Command`]) applied by [`BankBook::apply`],
//! which is what the journal stores and replays. Holds expire (`book/expiry.rs`): every command
//! first releases the holds whose `expires_at` has passed.

mod charge;
mod clients;
mod command;
mod credit;
mod expiry;
mod increment;
mod payout;
mod statement;

pub use command::{answer_text, Applied, Command};
pub use credit::{daily_interest, CreditTerms, LIMIT_INCREASE_MAX_FACTOR, MAX_PAGE_ITEMS};
pub use expiry::{rfc3339_china, DEFAULT_HOLD_S, MAX_HOLD_S, MIN_HOLD_S};
pub use statement::parse_day;

use crate::calendar::Day;
use crate::wire::BankEvent;
use crate::wire::{
    Agreement, AgreementKind, AgreementStatus, AuthorizationRequest, CaptureRequest, CloseAgreementRequest, CreateAgreementRequest,
    DeclineCode, Operation, OperationKind, OperationStatus, RefundRequest, VoidRequest,
};
use crate::ErrorCode;
use credit::CreditState;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use wugan_domain::money::Fen;

/// The largest credit limit a line may have: 1,000,000 yuan.
pub const MAX_CREDIT_LIMIT_FEN: Fen = Fen::yuan(1_000_000);
/// The largest single amount or opening balance accepted: 100,000,000 yuan. Keeps every sum far
/// from `i64` overflow.
pub const MAX_AMOUNT_FEN: Fen = Fen::yuan(100_000_000);
const MAX_REQUEST_ID_CHARS: usize = 64;
const MAX_TEXT_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    #[error("{0}")]
    BadRequest(String),
    #[error("no agreement {0}")]
    UnknownAgreement(String),
    #[error("no authorization {0} for this client")]
    UnknownAuthorization(String),
    #[error("no capture {0} for this client")]
    UnknownCapture(String),
    #[error("no request {0} for this client")]
    UnknownRequest(String),
    #[error("authorization {0} is not open (declined, voided or already captured)")]
    AuthorizationNotOpen(String),
    #[error("the hold of authorization {0} expired before it was captured or voided")]
    HoldExpired(String),
    #[error("capture of {amount} exceeds the authorized {authorized}")]
    CaptureExceedsAuthorization { amount: Fen, authorized: Fen },
    #[error("refunds would total {total}, more than the captured {captured}")]
    RefundExceedsCapture { total: Fen, captured: Fen },
    #[error("request id {0} was already used with a different request")]
    RequestIdReused(String),
    #[error("a repayment of {amount} exceeds the debt of {debt}")]
    RepaymentExceedsDebt { amount: Fen, debt: Fen },
    #[error("a payout of {amount} exceeds the {due} collected for the merchant and not yet paid out")]
    PayoutExceedsDue { amount: Fen, due: Fen },
    /// A refund to a debit card whose account is closed: there is no account to credit. (A
    /// closed credit line still takes a refund: it lowers what the patient owes.)
    #[error("the card of agreement {0} is closed: a refund cannot be credited to it")]
    CardClosed(String),
}

impl BookError {
    /// The protocol's code for this error; `ErrorCode::is_business_decline` tells a client which
    /// of them are a decision about the money.
    pub fn code(&self) -> ErrorCode {
        match self {
            BookError::BadRequest(_) => ErrorCode::BadRequest,
            BookError::UnknownAgreement(_) => ErrorCode::UnknownAgreement,
            BookError::UnknownAuthorization(_) => ErrorCode::UnknownAuthorization,
            BookError::UnknownCapture(_) => ErrorCode::UnknownCapture,
            BookError::UnknownRequest(_) => ErrorCode::UnknownRequest,
            BookError::AuthorizationNotOpen(_) => ErrorCode::AuthorizationNotOpen,
            BookError::HoldExpired(_) => ErrorCode::HoldExpired,
            BookError::CaptureExceedsAuthorization { .. } => ErrorCode::CaptureExceedsAuthorization,
            BookError::RefundExceedsCapture { .. } => ErrorCode::RefundExceedsCapture,
            BookError::RequestIdReused(_) => ErrorCode::RequestIdReused,
            BookError::RepaymentExceedsDebt { .. } => ErrorCode::RepaymentExceedsDebt,
            BookError::PayoutExceedsDue { .. } => ErrorCode::PayoutExceedsDue,
            BookError::CardClosed(_) => ErrorCode::Declined(crate::wire::DeclineCode::AgreementClosed),
        }
    }
}

/// The bank's defaults for new agreements, and its credit terms. Journaled (`Command::Configure`):
/// a replay applies the terms that were in force, whatever the bank is started with now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BookConfig {
    pub default_credit_limit_fen: Fen,
    pub default_debit_balance_fen: Fen,
    pub credit_terms: CreditTerms,
    /// Whether approved holds expire (`book/expiry.rs`). Journals written before holds expired
    /// carry no such field and read as `false`, so their holds replay to the same answers; a bank
    /// started on such a journal appends its own configuration, and holds expire from then on.
    #[serde(default)]
    pub holds_expire: bool,
}

impl Default for BookConfig {
    /// The sandbox terms, as in `BankConfig::default()`.
    fn default() -> BookConfig {
        BookConfig {
            default_credit_limit_fen: Fen::yuan(5_000),
            default_debit_balance_fen: Fen::yuan(20_000),
            credit_terms: CreditTerms::default(),
            holds_expire: true,
        }
    }
}

/// A request id as scoped by the bank: each client key has its own namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct RequestKey {
    client: String,
    request_id: String,
}

impl RequestKey {
    fn new(client: &str, request_id: &str) -> RequestKey {
        RequestKey { client: client.to_string(), request_id: request_id.to_string() }
    }
}

/// What a stored request replies with on a retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Agreement(Agreement),
    Operation(Operation),
}

/// Agreement commands answer with the agreement, money commands with the operation.
#[derive(Clone, Copy, Debug)]
enum ReplyShape {
    Agreement,
    Operation,
}

/// What a command did, before the write path stamps it with its request id and time.
#[derive(Debug)]
struct Effect {
    kind: OperationKind,
    status: OperationStatus,
    decline_code: Option<DeclineCode>,
    amount_fen: Fen,
    agreement_id: String,
    reference_request_id: Option<String>,
    /// An approved authorization: when its hold expires.
    expires_at_unix_s: Option<i64>,
}

impl Effect {
    fn new(kind: OperationKind, status: OperationStatus, amount_fen: Fen, agreement_id: &str) -> Effect {
        let agreement_id = agreement_id.to_string();
        Effect { kind, status, decline_code: None, amount_fen, agreement_id, reference_request_id: None, expires_at_unix_s: None }
    }

    /// The authorization a capture or void closes, or the capture a refund returns.
    fn referring_to(self, request_id: &str) -> Effect {
        Effect { reference_request_id: Some(request_id.to_string()), ..self }
    }

    fn into_operation(self, request_id: &str, available_fen_after: Fen, now_unix_s: i64) -> Operation {
        Operation {
            request_id: request_id.to_string(),
            kind: self.kind,
            status: self.status,
            decline_code: self.decline_code,
            amount_fen: self.amount_fen,
            agreement_id: self.agreement_id,
            reference_request_id: self.reference_request_id,
            available_fen_after,
            recorded_at_unix_s: now_unix_s,
            expires_at: self.expires_at_unix_s.map(rfc3339_china),
        }
    }
}

#[derive(Debug)]
struct Record {
    /// Endpoint and canonical request, to tell a retry from a reuse of the id.
    fingerprint: String,
    reply: Reply,
    journal_index: usize,
}

#[derive(Debug)]
struct AgreementState {
    kind: AgreementKind,
    status: AgreementStatus,
    customer_ref: String,
    card_last4: Option<String>,
    /// Kept for the bank's own records; never echoed (personal data).
    #[allow(dead_code)]
    holder_name: Option<String>,
    /// Credit line: the limit. Debit card: zero.
    limit_fen: Fen,
    /// Credit line: captured minus refunded. Debit card: zero.
    used_fen: Fen,
    /// Debit card: the balance. Credit line: zero.
    balance_fen: Fen,
    held_fen: Fen,
    /// Indices into the journal, in order.
    journal: Vec<usize>,
    /// Credit line: statements, repayments, overdue. Debit card: empty.
    credit: CreditState,
}

impl AgreementState {
    fn available_fen(&self) -> Fen {
        match self.kind {
            AgreementKind::CreditLine => self.limit_fen - self.used_fen - self.held_fen,
            AgreementKind::DebitCard => self.balance_fen - self.held_fen,
        }
    }

    fn view(&self, agreement_id: &str) -> Agreement {
        let credit = self.kind == AgreementKind::CreditLine;
        Agreement {
            agreement_id: agreement_id.to_string(),
            kind: self.kind,
            status: self.visible_status(),
            customer_ref: self.customer_ref.clone(),
            limit_fen: credit.then_some(self.limit_fen),
            used_fen: self.used_fen,
            held_fen: self.held_fen,
            available_fen: self.available_fen(),
            balance_fen: (!credit).then_some(self.balance_fen),
            card_last4: self.card_last4.clone(),
        }
    }

    /// Why a new hold of `amount` must be refused, if it must.
    fn decline_reason(&self, amount: Fen) -> Option<DeclineCode> {
        match (self.visible_status(), self.kind) {
            (AgreementStatus::Closed, _) => Some(DeclineCode::AgreementClosed),
            (AgreementStatus::Frozen, _) => Some(DeclineCode::AgreementFrozen),
            (AgreementStatus::Overdue, _) => Some(DeclineCode::AgreementOverdue),
            _ if amount <= self.available_fen() => None,
            (_, AgreementKind::CreditLine) => Some(DeclineCode::InsufficientCredit),
            (_, AgreementKind::DebitCard) => Some(DeclineCode::InsufficientFunds),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HoldState {
    Open,
    Declined,
    Captured,
    Voided,
    /// Released by the bank when its `expires_at` passed (`book/expiry.rs`).
    Expired,
}

#[derive(Debug)]
struct AuthorizationState {
    agreement_id: String,
    /// The hospital the money is for: what a capture owes it (`book/payout.rs`).
    merchant_id: String,
    amount_fen: Fen,
    state: HoldState,
    /// An approved hold: when it expires (`None`: never, on a journal from before expiry).
    expires_at_unix_s: Option<i64>,
}

#[derive(Debug)]
struct CaptureState {
    agreement_id: String,
    /// The hospital the money is for: what the bank owes it (`book/payout.rs`).
    merchant_id: String,
    captured_fen: Fen,
    refunded_fen: Fen,
}

/// All of one bank's state.
#[derive(Debug)]
pub struct BankBook {
    config: BookConfig,
    agreements: BTreeMap<String, AgreementState>,
    authorizations: HashMap<RequestKey, AuthorizationState>,
    captures: HashMap<RequestKey, CaptureState>,
    records: HashMap<RequestKey, Record>,
    /// Every operation, once, in the order recorded (append-only).
    journal: Vec<(String, Operation)>,
    /// The last China-time day billing processed; `None` before the first command.
    billed_through: Option<Day>,
    /// The outbox for the hub (append-only); an event's `seq` is its index + 1.
    events: Vec<BankEvent>,
    /// Open holds by expiry time, soonest first: what the next command may have to release.
    expiring: BTreeSet<(i64, RequestKey)>,
}

impl BankBook {
    pub fn new(config: BookConfig) -> BankBook {
        BankBook {
            config,
            agreements: BTreeMap::new(),
            authorizations: HashMap::new(),
            captures: HashMap::new(),
            records: HashMap::new(),
            journal: Vec::new(),
            billed_through: None,
            events: Vec::new(),
            expiring: BTreeSet::new(),
        }
    }

    // ---- queries ----

    pub fn agreement(&self, agreement_id: &str) -> Result<Agreement, BookError> {
        self.agreement_state(agreement_id).map(|a| a.view(agreement_id))
    }

    pub fn operation(&self, client: &str, request_id: &str) -> Result<Operation, BookError> {
        let key = RequestKey::new(client, request_id);
        let record = self.records.get(&key).ok_or_else(|| BookError::UnknownRequest(request_id.to_string()))?;
        Ok(self.as_it_stands(&key, self.journal[record.journal_index].1.clone()))
    }

    pub fn operations_for(&self, agreement_id: &str) -> Result<Vec<Operation>, BookError> {
        let agreement = self.agreement_state(agreement_id)?;
        Ok(agreement.journal.iter().map(|&i| self.journal[i].1.clone()).collect())
    }

    pub fn journal_len(&self) -> usize {
        self.journal.len()
    }

    // ---- commands ----

    pub fn open_agreement(
        &mut self,
        client: &str,
        req: CreateAgreementRequest,
        new_agreement_id: &str,
        now_unix_s: i64,
    ) -> Result<Reply, BookError> {
        let fingerprint = fingerprint("open_agreement", &req);
        self.idempotent(client, &req.request_id, fingerprint, now_unix_s, ReplyShape::Agreement, |book| {
            let state = book.new_agreement_state(&req)?;
            if book.agreements.contains_key(new_agreement_id) {
                return Err(BookError::BadRequest(format!("agreement id {new_agreement_id} already exists")));
            }
            let amount = match state.kind {
                AgreementKind::CreditLine => state.limit_fen,
                AgreementKind::DebitCard => state.balance_fen,
            };
            book.agreements.insert(new_agreement_id.to_string(), state);
            Ok(Effect::new(OperationKind::OpenAgreement, OperationStatus::Opened, amount, new_agreement_id))
        })
    }

    pub fn close_agreement(
        &mut self,
        client: &str,
        agreement_id: &str,
        req: CloseAgreementRequest,
        now_unix_s: i64,
    ) -> Result<Reply, BookError> {
        let fingerprint = format!("close_agreement {agreement_id} {}", fingerprint("", &req));
        self.idempotent(client, &req.request_id, fingerprint, now_unix_s, ReplyShape::Agreement, |book| {
            // Closing twice is harmless: the agreement is closed either way.
            book.agreement_state_mut(agreement_id)?.status = AgreementStatus::Closed;
            Ok(Effect::new(OperationKind::CloseAgreement, OperationStatus::Closed, Fen::ZERO, agreement_id))
        })
    }

    /// Sandbox and operator action (overdue, risk): refuse new holds until unfrozen.
    /// A closed agreement stays closed.
    /// 冻结 / 解冻. A change is told to the hub through the outbox (`line_frozen`, `line_unfrozen`).
    pub fn set_frozen(&mut self, agreement_id: &str, frozen: bool, now_unix_s: i64) -> Result<Agreement, BookError> {
        let agreement = self.agreement_state_mut(agreement_id)?;
        let before = agreement.status;
        agreement.status = match (before, frozen) {
            (AgreementStatus::Closed, _) => AgreementStatus::Closed,
            (_, true) => AgreementStatus::Frozen,
            (_, false) => AgreementStatus::Active,
        };
        match (before, agreement.status) {
            (AgreementStatus::Frozen, AgreementStatus::Active) => self.record_freeze(agreement_id, false, now_unix_s),
            (b, AgreementStatus::Frozen) if b != AgreementStatus::Frozen => self.record_freeze(agreement_id, true, now_unix_s),
            _ => {}
        }
        self.agreement(agreement_id)
    }

    pub fn authorize(&mut self, client: &str, req: AuthorizationRequest, now_unix_s: i64) -> Result<Reply, BookError> {
        let fingerprint = fingerprint("authorization", &req);
        self.idempotent(client, &req.request_id, fingerprint, now_unix_s, ReplyShape::Operation, |book| {
            check_amount(req.amount_fen)?;
            check_text("merchant_id", &req.merchant_id, 1, MAX_REQUEST_ID_CHARS)?;
            check_optional_text("memo", req.memo.as_deref())?;
            let expires_at = book.hold_expiry(req.expires_in_s, now_unix_s)?;
            let agreement = book.agreement_state_mut(&req.agreement_id)?;
            let decline = agreement.decline_reason(req.amount_fen);
            if decline.is_none() {
                agreement.held_fen += req.amount_fen;
            }
            let (state, status) = match decline {
                None => (HoldState::Open, OperationStatus::Approved),
                Some(_) => (HoldState::Declined, OperationStatus::Declined),
            };
            let key = RequestKey::new(client, &req.request_id);
            let expires_at_unix_s = expires_at.filter(|_| state == HoldState::Open);
            if let Some(at) = expires_at_unix_s {
                book.expiring.insert((at, key.clone()));
            }
            let (agreement_id, amount_fen, merchant_id) = (req.agreement_id.clone(), req.amount_fen, req.merchant_id.clone());
            book.authorizations.insert(key, AuthorizationState { agreement_id, merchant_id, amount_fen, state, expires_at_unix_s });
            let effect = Effect::new(OperationKind::Authorization, status, req.amount_fen, &req.agreement_id);
            Ok(Effect { decline_code: decline, expires_at_unix_s, ..effect })
        })
    }

    pub fn capture(&mut self, client: &str, req: CaptureRequest, now_unix_s: i64) -> Result<Reply, BookError> {
        let fingerprint = fingerprint("capture", &req);
        self.idempotent(client, &req.request_id, fingerprint, now_unix_s, ReplyShape::Operation, |book| {
            check_amount(req.amount_fen)?;
            let (agreement_id, authorized) = book.open_hold(client, &req.authorization_request_id)?;
            if req.amount_fen > authorized {
                return Err(BookError::CaptureExceedsAuthorization { amount: req.amount_fen, authorized });
            }
            let agreement = book.agreement_state_mut(&agreement_id)?;
            // The whole hold is released; only the captured part is spent.
            agreement.held_fen -= authorized;
            match agreement.kind {
                AgreementKind::CreditLine => agreement.spend_on_credit(req.amount_fen),
                AgreementKind::DebitCard => agreement.balance_fen -= req.amount_fen,
            }
            book.close_hold(client, &req.authorization_request_id, HoldState::Captured);
            let key = RequestKey::new(client, &req.request_id);
            let merchant_id = book.merchant_of(client, &req.authorization_request_id);
            let captured =
                CaptureState { agreement_id: agreement_id.clone(), merchant_id, captured_fen: req.amount_fen, refunded_fen: Fen::ZERO };
            book.captures.insert(key, captured);
            Ok(Effect::new(OperationKind::Capture, OperationStatus::Captured, req.amount_fen, &agreement_id)
                .referring_to(&req.authorization_request_id))
        })
    }

    pub fn void(&mut self, client: &str, req: VoidRequest, now_unix_s: i64) -> Result<Reply, BookError> {
        let fingerprint = fingerprint("void", &req);
        self.idempotent(client, &req.request_id, fingerprint, now_unix_s, ReplyShape::Operation, |book| {
            let (agreement_id, authorized) = book.open_hold(client, &req.authorization_request_id)?;
            book.agreement_state_mut(&agreement_id)?.held_fen -= authorized;
            book.close_hold(client, &req.authorization_request_id, HoldState::Voided);
            Ok(Effect::new(OperationKind::Void, OperationStatus::Voided, authorized, &agreement_id)
                .referring_to(&req.authorization_request_id))
        })
    }

    pub fn refund(&mut self, client: &str, req: RefundRequest, now_unix_s: i64) -> Result<Reply, BookError> {
        let fingerprint = fingerprint("refund", &req);
        self.idempotent(client, &req.request_id, fingerprint, now_unix_s, ReplyShape::Operation, |book| {
            check_amount(req.amount_fen)?;
            let capture_key = RequestKey::new(client, &req.capture_request_id);
            let capture = book.captures.get(&capture_key).ok_or_else(|| BookError::UnknownCapture(req.capture_request_id.clone()))?;
            let total = capture.refunded_fen + req.amount_fen;
            if total > capture.captured_fen {
                return Err(BookError::RefundExceedsCapture { total, captured: capture.captured_fen });
            }
            let agreement_id = capture.agreement_id.clone();
            let agreement = book.agreement_state_mut(&agreement_id)?;
            if agreement.kind == AgreementKind::DebitCard && agreement.status == AgreementStatus::Closed {
                return Err(BookError::CardClosed(agreement_id));
            }
            match agreement.kind {
                AgreementKind::CreditLine => agreement.refund_to_credit(req.amount_fen),
                AgreementKind::DebitCard => agreement.balance_fen += req.amount_fen,
            }
            if let Some(capture) = book.captures.get_mut(&capture_key) {
                capture.refunded_fen = total;
            }
            book.after_credit_refund(&agreement_id, now_unix_s, &req.request_id);
            Ok(Effect::new(OperationKind::Refund, OperationStatus::Refunded, req.amount_fen, &agreement_id)
                .referring_to(&req.capture_request_id))
        })
    }

    // ---- the one write path ----

    /// Replays a stored reply, refuses a reused id, or applies `apply` and records its effect as
    /// an operation. `apply` must not change anything when it returns an error.
    fn idempotent(
        &mut self,
        client: &str,
        request_id: &str,
        fingerprint: String,
        now_unix_s: i64,
        shape: ReplyShape,
        apply: impl FnOnce(&mut BankBook) -> Result<Effect, BookError>,
    ) -> Result<Reply, BookError> {
        self.expire_holds(now_unix_s);
        self.run_billing(now_unix_s);
        check_request_id(request_id)?;
        let key = RequestKey::new(client, request_id);
        if let Some(record) = self.records.get(&key) {
            return if record.fingerprint == fingerprint {
                Ok(record.reply.clone())
            } else {
                Err(BookError::RequestIdReused(request_id.to_string()))
            };
        }
        let effect = apply(self)?;
        // Every effect is on an agreement the command just found, and agreements are never removed.
        let agreement = self.agreement(&effect.agreement_id).expect("an effect names an existing agreement");
        let operation = effect.into_operation(request_id, agreement.available_fen, now_unix_s);
        let reply = match shape {
            ReplyShape::Agreement => Reply::Agreement(agreement),
            ReplyShape::Operation => Reply::Operation(operation.clone()),
        };
        self.record(key, fingerprint, reply.clone(), operation);
        Ok(reply)
    }

    /// Appends the operation to the journal, once, and remembers the reply under its request id.
    fn record(&mut self, key: RequestKey, fingerprint: String, reply: Reply, operation: Operation) {
        let journal_index = self.journal.len();
        let agreement_id = operation.agreement_id.clone();
        if let Some(agreement) = self.agreements.get_mut(&agreement_id) {
            agreement.journal.push(journal_index);
        }
        self.journal.push((key.client.clone(), operation));
        let record = Record { fingerprint, reply, journal_index };
        let earlier = self.records.insert(key, record);
        debug_assert!(earlier.is_none(), "a request is recorded once");
        // A payout names a merchant, not an agreement (`book/payout.rs`).
        debug_assert!(!self.agreements.contains_key(&agreement_id) || self.check_agreement(&agreement_id).is_ok());
    }

    // ---- helpers ----

    fn new_agreement_state(&self, req: &CreateAgreementRequest) -> Result<AgreementState, BookError> {
        check_text("customer_ref", &req.customer_ref, 1, MAX_REQUEST_ID_CHARS)?;
        check_optional_text("holder_name", req.holder_name.as_deref())?;
        let (limit_fen, balance_fen, card_last4) = match req.kind {
            AgreementKind::CreditLine => (self.credit_limit_of(req)?, Fen::ZERO, None),
            AgreementKind::DebitCard => {
                let (balance, last4) = self.debit_terms_of(req)?;
                (Fen::ZERO, balance, Some(last4))
            }
        };
        Ok(AgreementState {
            kind: req.kind,
            status: AgreementStatus::Active,
            customer_ref: req.customer_ref.clone(),
            card_last4,
            holder_name: req.holder_name.clone(),
            limit_fen,
            used_fen: Fen::ZERO,
            balance_fen,
            held_fen: Fen::ZERO,
            journal: Vec::new(),
            credit: CreditState::default(),
        })
    }

    fn credit_limit_of(&self, req: &CreateAgreementRequest) -> Result<Fen, BookError> {
        if req.card_no.is_some() || req.opening_balance_fen.is_some() {
            return Err(bad("a credit line takes neither card_no nor opening_balance_fen"));
        }
        let limit = req.limit_fen.unwrap_or(self.config.default_credit_limit_fen);
        if !limit.is_positive() || limit > MAX_CREDIT_LIMIT_FEN {
            return Err(bad(format!("limit_fen must be in 1..={}", MAX_CREDIT_LIMIT_FEN.0)));
        }
        Ok(limit)
    }

    fn debit_terms_of(&self, req: &CreateAgreementRequest) -> Result<(Fen, String), BookError> {
        if req.limit_fen.is_some() {
            return Err(bad("a debit card takes no limit_fen"));
        }
        let card_no = req.card_no.as_deref().ok_or_else(|| bad("a debit card needs card_no"))?;
        // Mainland bank card numbers (PAN) are 12 to 19 digits; most are 16 to 19.
        if !(12..=19).contains(&card_no.len()) || !card_no.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("card_no must be 12 to 19 digits"));
        }
        let balance = req.opening_balance_fen.unwrap_or(self.config.default_debit_balance_fen);
        if balance.is_negative() || balance > MAX_AMOUNT_FEN {
            return Err(bad(format!("opening_balance_fen must be in 0..={}", MAX_AMOUNT_FEN.0)));
        }
        Ok((balance, card_no[card_no.len() - 4..].to_string()))
    }

    fn agreement_state(&self, agreement_id: &str) -> Result<&AgreementState, BookError> {
        self.agreements.get(agreement_id).ok_or_else(|| BookError::UnknownAgreement(agreement_id.to_string()))
    }

    fn agreement_state_mut(&mut self, agreement_id: &str) -> Result<&mut AgreementState, BookError> {
        self.agreements.get_mut(agreement_id).ok_or_else(|| BookError::UnknownAgreement(agreement_id.to_string()))
    }

    /// The agreement and amount of an open hold, or why it cannot be captured or voided.
    fn open_hold(&self, client: &str, authorization_request_id: &str) -> Result<(String, Fen), BookError> {
        let key = RequestKey::new(client, authorization_request_id);
        let auth = self.authorizations.get(&key).ok_or_else(|| BookError::UnknownAuthorization(authorization_request_id.to_string()))?;
        if auth.state == HoldState::Expired {
            return Err(BookError::HoldExpired(authorization_request_id.to_string()));
        }
        if auth.state != HoldState::Open {
            return Err(BookError::AuthorizationNotOpen(authorization_request_id.to_string()));
        }
        Ok((auth.agreement_id.clone(), auth.amount_fen))
    }

    fn close_hold(&mut self, client: &str, authorization_request_id: &str, new_state: HoldState) {
        let key = RequestKey::new(client, authorization_request_id);
        if let Some(auth) = self.authorizations.get_mut(&key) {
            debug_assert_eq!(auth.state, HoldState::Open);
            auth.state = new_state;
            if let Some(at) = auth.expires_at_unix_s {
                self.expiring.remove(&(at, key));
            }
        }
    }

    // ---- invariants ----

    /// Checks every agreement and the journal. O(state): for tests and audits, not per request.
    pub fn check_invariants(&self) -> Result<(), String> {
        for agreement_id in self.agreements.keys() {
            self.check_agreement(agreement_id)?;
        }
        let mut seen = vec![false; self.journal.len()];
        for (key, record) in &self.records {
            let (client, op) = self.journal.get(record.journal_index).ok_or("record points past the journal")?;
            if *client != key.client || op.request_id != key.request_id {
                return Err(format!("record {key:?} points at another operation"));
            }
            if std::mem::replace(&mut seen[record.journal_index], true) {
                return Err(format!("journal entry {} recorded twice", record.journal_index));
            }
        }
        // Expiries are the bank's own doing, under no request of a client's.
        if seen.iter().zip(&self.journal).any(|(seen, (_, op))| !seen && op.kind != OperationKind::Expiry) {
            return Err("a journal entry has no record".to_string());
        }
        Ok(())
    }

    /// Rebuilds one agreement's totals from its journal, independently of the running totals,
    /// and checks both against the limits: the same property on two paths.
    fn check_agreement(&self, agreement_id: &str) -> Result<(), String> {
        let a = self.agreement_state(agreement_id).map_err(|e| e.to_string())?;
        let (mut held, mut spent, mut open) = (Fen::ZERO, Fen::ZERO, HashMap::new());
        // Credit: captured, minus refunds (never below zero: the excess went back to the
        // customer), minus the principal part of repayments.
        let mut used = Fen::ZERO;
        for &i in &a.journal {
            let (client, op) = &self.journal[i];
            if matches!(
                op.kind,
                OperationKind::Authorization
                    | OperationKind::Increment
                    | OperationKind::Capture
                    | OperationKind::Charge
                    | OperationKind::Void
                    | OperationKind::Refund
                    | OperationKind::Repayment
                    | OperationKind::LimitIncrease
                    | OperationKind::Expiry
            ) && !op.amount_fen.is_positive()
            {
                return Err(format!("operation {} has a non-positive amount", op.request_id));
            }
            match (op.kind, op.status) {
                (OperationKind::Authorization, OperationStatus::Approved) => {
                    held += op.amount_fen;
                    open.insert((client.clone(), op.request_id.clone()), op.amount_fen);
                }
                // A raise adds to a hold still open; its capture, void or expiry closes the sum.
                (OperationKind::Increment, OperationStatus::Approved) => {
                    let reference = op.reference_request_id.clone().unwrap_or_default();
                    let hold = open.get_mut(&(client.clone(), reference)).ok_or(format!("{} raises no open hold", op.request_id))?;
                    *hold += op.amount_fen;
                    held += op.amount_fen;
                }
                (OperationKind::Capture | OperationKind::Void | OperationKind::Expiry, _) => {
                    let reference = op.reference_request_id.clone().unwrap_or_default();
                    let hold = open.remove(&(client.clone(), reference)).ok_or(format!("{} closes no open hold", op.request_id))?;
                    held -= hold;
                    if op.kind == OperationKind::Capture {
                        spent += op.amount_fen;
                        used += op.amount_fen;
                    }
                }
                // A charge is a hold and its capture at once: it spends, and holds nothing.
                (OperationKind::Charge, OperationStatus::Captured) => {
                    spent += op.amount_fen;
                    used += op.amount_fen;
                }
                (OperationKind::Refund, _) => {
                    spent -= op.amount_fen;
                    used -= op.amount_fen.min(used);
                }
                (OperationKind::Repayment, _) => {
                    let principal =
                        a.credit.repaid_principal(client, &op.request_id).ok_or(format!("repayment {} has no record", op.request_id))?;
                    if principal > used {
                        return Err(format!("repayment {} exceeds the debt", op.request_id));
                    }
                    used -= principal;
                }
                _ => {}
            }
        }
        let expected_used = if a.kind == AgreementKind::CreditLine { used } else { Fen::ZERO };
        let opening = a.journal.first().map(|&i| self.journal[i].1.amount_fen).unwrap_or_default();
        let expected_balance = if a.kind == AgreementKind::DebitCard { opening - spent } else { Fen::ZERO };
        let rebuilt = (held, expected_used, expected_balance);
        if rebuilt != (a.held_fen, a.used_fen, a.balance_fen) {
            return Err(format!(
                "{agreement_id}: journal gives (held, used, balance) {rebuilt:?}, totals say {:?}",
                (a.held_fen, a.used_fen, a.balance_fen)
            ));
        }
        if a.held_fen.is_negative() || a.used_fen.is_negative() || a.balance_fen.is_negative() {
            return Err(format!("{agreement_id}: a negative total"));
        }
        if a.kind == AgreementKind::CreditLine && a.used_fen + a.held_fen > a.limit_fen {
            return Err(format!("{agreement_id}: used + held exceeds the limit"));
        }
        if a.kind == AgreementKind::DebitCard && a.held_fen > a.balance_fen {
            return Err(format!("{agreement_id}: held exceeds the balance"));
        }
        self.check_credit(agreement_id, a)
    }
}

/// The endpoint and the canonical JSON of the parsed request: two bodies that parse the same
/// (whitespace, key order, an explicit `null`) are the same request.
fn fingerprint<T: serde::Serialize>(endpoint: &str, req: &T) -> String {
    let canonical = serde_json::to_string(req).unwrap_or_default();
    format!("{endpoint} {canonical}")
}

fn bad(message: impl Into<String>) -> BookError {
    BookError::BadRequest(message.into())
}

fn check_request_id(request_id: &str) -> Result<(), BookError> {
    check_text("request_id", request_id, 1, MAX_REQUEST_ID_CHARS)?;
    // It appears in URLs (the status query), so no spaces, slashes or other separators.
    if !request_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) {
        return Err(bad("request_id may hold only letters, digits and - _ . :"));
    }
    Ok(())
}

fn check_text(field: &str, text: &str, min_chars: usize, max_chars: usize) -> Result<(), BookError> {
    let chars = text.chars().count();
    if chars < min_chars || chars > max_chars || text.chars().any(char::is_control) {
        return Err(bad(format!("{field} must be {min_chars} to {max_chars} characters, without control characters")));
    }
    Ok(())
}

fn check_optional_text(field: &str, text: Option<&str>) -> Result<(), BookError> {
    text.map_or(Ok(()), |t| check_text(field, t, 0, MAX_TEXT_CHARS))
}

fn check_amount(amount: Fen) -> Result<(), BookError> {
    if !amount.is_positive() || amount > MAX_AMOUNT_FEN {
        return Err(bad(format!("amount_fen must be in 1..={}", MAX_AMOUNT_FEN.0)));
    }
    Ok(())
}
