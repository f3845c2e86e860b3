//! wugan's bank: credit lines and debit-card agreements, authorizations (holds), captures, voids,
//! refunds and status queries, spoken over a signed HTTP/JSON protocol.
//!
//! It is the sandbox a hub is tested against and the reference for what the hub expects from a
//! real bank. The protocol itself (wire types, error codes, signing) is `wugan-bank-protocol`,
//! which the hub's client speaks too; it is re-exported here as [`wire`] and [`signing`]. Layout:
//! - [`book`]: the pure state machine (`BankBook`), with the idempotency record and invariants;
//! - [`faults`]: seeded fault injection (latency, errors, timeouts after commit, duplicates);
//! - [`calendar`]: China-time (UTC+8) calendar days, the days the bank bills by;
//! - `http` (private): the thin axum layer, see [`router`].
//!
//! The credit lifecycle (book/credit.rs): monthly statements (账单) with an interest-free period
//! (免息期), overdue (逾期) status and simple daily interest, repayments (还款) from a bank transfer
//! or the insurance personal account, limit increases (提额), freezing by bank staff (冻结,
//! `POST /bank/v1/agreements/{id}/freeze`), and an outbox of events for the hub
//! (`GET /bank/v1/events`, signed pushes via [`signing::sign_callback`]). Billing is lazy: every
//! command, and the HTTP layer before every request, brings it up to the clock's day.
//!
//! Architecture invariant: the book does no I/O and reads no clock; [`Bank`] owns the clock, the
//! locks and the randomness (agreement ids, faults) and passes them in.

pub mod book;
pub mod calendar;
pub mod faults;
mod http;

pub use wugan_bank_protocol::{signing, wire, ErrorCode};

pub use book::{BankBook, BookError, CreditTerms};
pub use faults::Faults;
pub use http::router;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use wugan_domain::money::Fen;

/// One caller's signing key. Request ids are scoped to the key id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientKey {
    pub key_id: String,
    pub secret: String,
}

#[derive(Clone, Debug)]
pub struct BankConfig {
    /// The bank's code as the hub knows it.
    pub bank_code: String,
    pub clients: Vec<ClientKey>,
    /// A new credit line's limit when the request names none.
    pub default_credit_limit_fen: Fen,
    /// Sandbox: a new debit card's opening balance when the request names none.
    pub default_debit_balance_fen: Fen,
    /// Credit lines' billing cycle, interest-free period, overdue interest and limit-increase
    /// ceiling (账单日, 免息期, 逾期利息, 提额上限); see [`book::CreditTerms`].
    pub credit_terms: CreditTerms,
    /// Where to ring the hub's doorbell when new events are in the outbox (signed with
    /// `signing::sign_callback`). The feed at `/bank/v1/events` stays the source of truth.
    pub callback: Option<Callback>,
}

/// The hub's callback endpoint and the secret the bank signs pushes with.
#[derive(Clone, Debug)]
pub struct Callback {
    pub url: String,
    pub secret: String,
}

impl Default for BankConfig {
    fn default() -> BankConfig {
        BankConfig {
            bank_code: "BANK01".to_string(),
            clients: vec![ClientKey { key_id: "hub".to_string(), secret: "dev-secret-change-me".to_string() }],
            default_credit_limit_fen: Fen::yuan(5_000),
            default_debit_balance_fen: Fen::yuan(20_000),
            credit_terms: CreditTerms::default(),
            callback: None,
        }
    }
}

impl BankConfig {
    /// Checks what `Bank::new` relies on; call it to report a bad configuration as an error.
    pub fn validate(&self) -> Result<(), String> {
        let limit = self.default_credit_limit_fen;
        if !limit.is_positive() || limit > book::MAX_CREDIT_LIMIT_FEN {
            return Err(format!("default_credit_limit_fen must be in 1..={}", book::MAX_CREDIT_LIMIT_FEN.0));
        }
        let balance = self.default_debit_balance_fen;
        if balance.is_negative() || balance > book::MAX_AMOUNT_FEN {
            return Err(format!("default_debit_balance_fen must be in 0..={}", book::MAX_AMOUNT_FEN.0));
        }
        if self.clients.iter().any(|c| c.key_id.is_empty() || c.secret.is_empty()) {
            return Err("every client key needs a key id and a secret".to_string());
        }
        self.credit_terms.validate()
    }
}

/// Where the bank reads the time: injected so tests can move through replay windows.
pub trait Clock: Send + Sync {
    fn now_unix_s(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_s(&self) -> i64 {
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        since_epoch.map(|d| d.as_secs() as i64).unwrap_or(0)
    }
}

/// A clock that moves only when told to, for tests and simulations.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_unix_s: i64) -> ManualClock {
        ManualClock(AtomicI64::new(now_unix_s))
    }

    pub fn set(&self, now_unix_s: i64) {
        self.0.store(now_unix_s, Ordering::SeqCst)
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix_s(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A running bank: the book behind a lock, the nonce cache, the clock and the fault knobs.
pub struct Bank {
    config: BankConfig,
    /// Business time: billing days, statements, overdue.
    clock: Arc<dyn Clock>,
    /// Wire time: the signature replay window. The same clock as `clock` unless a test moves
    /// business time alone (`with_billing_clock`) while its callers sign with real time.
    wire_clock: Arc<dyn Clock>,
    book: Mutex<BankBook>,
    /// The last event sequence number pushed to the hub's callback.
    pushed_seq: std::sync::atomic::AtomicU64,
    nonces: Mutex<signing::NonceCache>,
    faults: faults::FaultInjector,
}

impl Bank {
    /// # Panics
    /// If the configuration is invalid (see [`BankConfig::validate`]).
    pub fn new(config: BankConfig) -> Bank {
        Bank::with_clock(config, Arc::new(SystemClock))
    }

    /// # Panics
    /// If the configuration is invalid (see [`BankConfig::validate`]).
    pub fn with_clock(config: BankConfig, clock: Arc<dyn Clock>) -> Bank {
        if let Err(problem) = config.validate() {
            panic!("invalid bank configuration: {problem}");
        }
        let book = BankBook::new(book::BookConfig {
            default_credit_limit_fen: config.default_credit_limit_fen,
            default_debit_balance_fen: config.default_debit_balance_fen,
            credit_terms: config.credit_terms.clone(),
        });
        Bank {
            config,
            wire_clock: clock.clone(),
            clock,
            book: Mutex::new(book),
            pushed_seq: std::sync::atomic::AtomicU64::new(0),
            nonces: Mutex::new(signing::NonceCache::default()),
            faults: faults::FaultInjector::new(Faults::default()),
        }
    }

    /// A bank whose business days follow `clock` while signatures are checked against real time:
    /// how a sandbox walks a billing cycle in milliseconds with real clients signing requests.
    ///
    /// # Panics
    /// If the configuration is invalid (see [`BankConfig::validate`]).
    pub fn with_billing_clock(config: BankConfig, clock: Arc<dyn Clock>) -> Bank {
        let mut bank = Bank::with_clock(config, clock);
        bank.wire_clock = Arc::new(SystemClock);
        bank
    }

    /// Now, for the signature replay window.
    pub fn wire_now_unix_s(&self) -> i64 {
        self.wire_clock.now_unix_s()
    }

    /// Turns on fault injection (off by default).
    pub fn with_faults(mut self, faults: Faults) -> Bank {
        self.faults = faults::FaultInjector::new(faults);
        self
    }

    pub fn config(&self) -> &BankConfig {
        &self.config
    }

    pub fn now_unix_s(&self) -> i64 {
        self.clock.now_unix_s()
    }

    /// Sandbox and operator action: freeze (overdue, risk) or unfreeze an agreement.
    pub fn set_frozen(&self, agreement_id: &str, frozen: bool) -> Result<wire::Agreement, BookError> {
        self.run_billing();
        let now = self.now_unix_s();
        self.with_book(|book| book.set_frozen(agreement_id, frozen, now))
    }

    /// Brings statements, overdue interest and overdue status up to the clock's day (China
    /// time). The HTTP layer runs it before every signed request, and every command runs it
    /// first too; it is idempotent, so calling it more often is harmless.
    pub fn run_billing(&self) {
        let now = self.now_unix_s();
        self.with_book(|book| book.run_billing(now))
    }

    /// The outbox after sequence number `after`, oldest first: the pull feed for the hub.
    pub fn events_after(&self, after: u64, limit: usize) -> wire::EventList {
        self.run_billing();
        self.with_book(|book| book.events_after(after, limit))
    }

    /// Pushes the events not yet pushed to the configured callback, in the background. Best
    /// effort: a failed push is tried again after the next request, and the hub also polls.
    pub fn push_events(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        let Some(callback) = self.config.callback.clone() else { return };
        let after = self.pushed_seq.load(Ordering::Relaxed);
        let list = self.with_book(|book| book.events_after(after, 500));
        let Some(last) = list.events.last().map(|e| e.seq) else { return };
        let bank = self.clone();
        tokio::spawn(async move {
            let Ok(body) = serde_json::to_vec(&list) else { return };
            let signature = signing::sign_callback(&callback.secret, bank.wire_now_unix_s(), &body);
            let sent = reqwest::Client::new()
                .post(&callback.url)
                .header("content-type", "application/json")
                .header(signing::HEADER_CALLBACK_SIGNATURE, signature)
                .body(body)
                .send()
                .await;
            if sent.map(|r| r.status().is_success()).unwrap_or(false) {
                bank.pushed_seq.fetch_max(last, Ordering::Relaxed);
            }
        });
    }

    /// Checks every invariant of the books; for tests, simulations and audits.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.with_book(|book| book.check_invariants())
    }

    /// Runs `f` on the book under its lock. A poisoned lock means a bug panicked mid-change; the
    /// bank keeps serving rather than failing every later request, and `check_invariants` shows
    /// any damage.
    pub(crate) fn with_book<R>(&self, f: impl FnOnce(&mut BankBook) -> R) -> R {
        let mut book = self.book.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut book)
    }

    fn secret_of(&self, key_id: &str) -> Option<String> {
        self.config.clients.iter().find(|c| c.key_id == key_id).map(|c| c.secret.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn the_bank_is_shareable_across_tasks() {
        assert_send_sync::<Bank>();
    }

    #[test]
    fn defaults_are_the_sandbox_terms() {
        let config = BankConfig::default();
        assert_eq!(config.bank_code, "BANK01");
        assert_eq!(config.default_credit_limit_fen, Fen(500_000));
        assert_eq!(config.default_debit_balance_fen, Fen(2_000_000));
        assert_eq!(config.clients, vec![ClientKey { key_id: "hub".into(), secret: "dev-secret-change-me".into() }]);
        assert_eq!(config.validate(), Ok(()));
        let terms = config.credit_terms;
        assert_eq!(
            (terms.statement_day, terms.interest_free_days, terms.overdue_interest_bp_per_day, terms.max_requested_limit_fen),
            (1, 10, 5, Fen(5_000_000))
        );
    }

    #[test]
    fn a_bad_configuration_is_reported() {
        let zero_limit = BankConfig { default_credit_limit_fen: Fen::ZERO, ..BankConfig::default() };
        assert!(zero_limit.validate().is_err());
        let negative = BankConfig { default_debit_balance_fen: Fen(-1), ..BankConfig::default() };
        assert!(negative.validate().is_err());
        let keyless = BankConfig { clients: vec![ClientKey { key_id: "hub".into(), secret: String::new() }], ..BankConfig::default() };
        assert!(keyless.validate().is_err());
        let late_statement =
            BankConfig { credit_terms: CreditTerms { statement_day: 31, ..CreditTerms::default() }, ..BankConfig::default() };
        assert!(late_statement.validate().is_err());
    }
}
