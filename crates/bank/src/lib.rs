//! wugan's bank: credit lines and debit-card agreements, authorizations (holds), captures, voids,
//! refunds and status queries, spoken over a signed HTTP/JSON protocol.
//!
//! It is the sandbox a hub is tested against and the reference for what the hub expects from a
//! real bank. The protocol itself (wire types, error codes, signing) is `wugan-bank-protocol`,
//! which the hub's client speaks too; it is re-exported here as [`wire`] and [`signing`]. Layout:
//! - [`book`]: the pure state machine (`BankBook`), with the idempotency record and invariants;
//! - [`faults`]: seeded fault injection (latency, errors, timeouts after commit, duplicates);
//! - [`calendar`]: China-time (UTC+8) calendar days, the days the bank bills by;
//! - [`journal`]: the book's changes in embedded SQLite, replayed at start-up ([`Bank::with_journal`]);
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
//! locks, the journal and the randomness (agreement ids, faults) and passes them in. Every change
//! is a [`Command`] applied at a time, so the journal of the commands that changed the book is the
//! book: a bank restarted on its journal answers exactly as before.

pub mod book;
pub mod calendar;
pub mod faults;
mod http;
pub mod journal;

pub use wugan_bank_protocol::{signing, wire, ErrorCode};

pub use book::{BankBook, BookError, Command, CreditTerms};
pub use faults::Faults;
pub use http::router;
pub use journal::{JournalError, Signature};
pub use wugan_seal::SealKey;

use journal::Journal;
use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
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
    /// Clients (the hub): their own agreements, holds and reads, nobody else's.
    pub clients: Vec<ClientKey>,
    /// Bank staff: freeze and unfreeze lines, list every agreement, read any. A client key
    /// cannot do these; a staff key signs the same way.
    pub staff: Vec<ClientKey>,
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
            staff: vec![ClientKey { key_id: "staff".to_string(), secret: "dev-staff-secret-change-me".to_string() }],
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
        if self.clients.iter().chain(&self.staff).any(|c| c.key_id.is_empty() || c.secret.is_empty()) {
            return Err("every client and staff key needs a key id and a secret".to_string());
        }
        let mut key_ids = std::collections::HashSet::new();
        if let Some(twice) = self.clients.iter().chain(&self.staff).find(|c| !key_ids.insert(c.key_id.as_str())) {
            return Err(format!("key id {} is listed twice", twice.key_id));
        }
        if let Some(callback) = self.callback.as_ref().filter(|c| c.secret.is_empty()) {
            return Err(format!("the callback to {} needs a secret", callback.url));
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

/// A running bank: the book and its journal behind one lock, the nonce cache, the clocks and the
/// fault knobs.
pub struct Bank {
    config: BankConfig,
    /// Business time: billing days, statements, overdue.
    clock: Arc<dyn Clock>,
    /// Wire time: the signature replay window. The same clock as `clock` unless a test moves
    /// business time alone (`with_billing_clock`) while its callers sign with real time.
    wire_clock: Arc<dyn Clock>,
    /// Held until a change is on disk, so no request ever sees a change a crash could take back;
    /// the order changes are applied in is the order they are journaled in.
    /// Behind an `Arc` so that a change and its journaling run on their own task, holding the
    /// lock, to the end: a caller that hangs up (the hub killed mid-request) cannot cancel a change
    /// between memory and disk.
    ledger: Arc<tokio::sync::Mutex<Ledger>>,
    /// The last event sequence number pushed to the hub's callback.
    pushed_seq: AtomicU64,
    nonces: Mutex<signing::NonceCache>,
    /// Set when the bank was started on a journal: what its predecessor accepted stays refused.
    restart: Option<RestartGuard>,
    faults: faults::FaultInjector,
}

/// The book, and the journal that makes it survive a restart (`None`: in memory only).
struct Ledger {
    book: BankBook,
    journal: Option<Journal>,
    /// Why the bank no longer serves: closed, or a journal that could not be read back.
    stopped: Option<String>,
}

/// Why the bank did not answer a request from its book.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Book(#[from] BookError),
    /// The change could not be written to the journal (or the book failed while applying it).
    /// The book was rebuilt from the journal, which alone says whether it happened: query it.
    #[error("the bank could not record the request, its outcome is unknown: {0}")]
    NotRecorded(String),
    /// Closed, or its journal could not be read back after a failed write: a restart is needed.
    #[error("the bank is not serving: {0}")]
    Stopped(String),
}

/// What a bank started on a journal refuses so that no request its predecessor accepted can be
/// replayed: every signature made before it started (the nonce cache did not survive, and a
/// signature that old may have been seen), and the nonces of the journaled requests signed
/// within the replay window (those signed in the very second it started included). A request
/// that changed nothing (a read, a retry, a refusal) is not journaled; one signed in that very
/// second could be sent again once, and would be answered as its own retry would be.
struct RestartGuard {
    started_at_unix_s: i64,
    recent_nonces: HashSet<(String, String)>,
}

/// Why a restarted bank refuses a signature that is otherwise valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    SignedBeforeStart,
    SeenBeforeRestart,
}

impl Bank {
    /// A bank in memory only: a restart forgets everything. See [`Bank::with_journal`].
    ///
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
        let book = BankBook::new(book_config(&config));
        Bank {
            config,
            wire_clock: clock.clone(),
            clock,
            ledger: Arc::new(tokio::sync::Mutex::new(Ledger { book, journal: None, stopped: None })),
            pushed_seq: AtomicU64::new(0),
            nonces: Mutex::new(signing::NonceCache::default()),
            restart: None,
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

    /// The same bank, kept in the journal at `db_path` (created if missing): the book is rebuilt
    /// from it now, and every change is on disk before it is answered. A bank restarted on the
    /// same file answers exactly as before. The configured terms apply from now on; what the
    /// journal holds was applied under the terms of its time. Call it on a new bank: the
    /// journal's book replaces whatever this one holds. The journal names holders and card
    /// numbers, so it is sealed with `key` (the same key every time the file is opened).
    pub async fn with_journal(mut self, db_path: &std::path::Path, key: SealKey) -> Result<Bank, JournalError> {
        let started = std::time::Instant::now();
        let mut journal = Journal::open(db_path, key).await?;
        let started_at_unix_s = self.wire_now_unix_s();
        let replayed = journal.replay(started_at_unix_s - signing::REPLAY_WINDOW_S).await?;
        let mut book = replayed.book;
        let wanted = book_config(&self.config);
        if journal.is_empty() || *book.config() != wanted {
            let command = Command::Configure { config: wanted };
            let now = self.now_unix_s();
            let applied = book.apply(&command, now);
            journal.append(now, &command, &applied.answer, None).await?;
        }
        tracing::info!(entries = replayed.entries, ms = started.elapsed().as_millis() as u64, path = %db_path.display(), "bank journal replayed");
        // Pushes resume with the next new event: the hub reads the feed itself after a restart.
        self.pushed_seq = AtomicU64::new(book.last_event_seq());
        // A bank on a new journal has no predecessor whose requests could be replayed.
        if replayed.entries > 0 {
            self.restart = Some(RestartGuard { started_at_unix_s, recent_nonces: replayed.recent_nonces });
        }
        self.ledger = Arc::new(tokio::sync::Mutex::new(Ledger { book, journal: Some(journal), stopped: None }));
        Ok(self)
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

    /// Applies one command at the clock's time, and journals it if it changed the book, before
    /// answering. `signature` is the request's, kept with the entry (replay protection).
    pub async fn apply(&self, command: Command, signature: Option<&Signature>) -> Result<Option<book::Reply>, ApplyError> {
        let mut ledger = self.ledger.clone().lock_owned().await;
        ledger.check_serving()?;
        let now = self.now_unix_s();
        let signature = signature.cloned();
        // On its own task: once the book has changed, the change reaches the journal (or the
        // book is rebuilt from it) even if this future is dropped by a caller that hung up.
        let change = tokio::spawn(async move {
            let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ledger.book.apply(&command, now)));
            let Ok(applied) = applied else {
                // A bug panicked mid-change: the book may be half changed; the journal is not.
                ledger.rebuild().await;
                return Err(ApplyError::NotRecorded("the bank failed while applying the request".to_string()));
            };
            if applied.changed {
                ledger.record(now, &command, &applied.answer, signature.as_ref()).await?;
            }
            Ok(applied.answer?)
        });
        change.await.map_err(|e| ApplyError::NotRecorded(format!("the change did not finish: {e}")))?
    }

    /// Reads the book (after any change in progress is on disk).
    pub async fn query<R>(&self, read: impl FnOnce(&BankBook) -> Result<R, BookError>) -> Result<R, ApplyError> {
        let ledger = self.ledger.lock().await;
        ledger.check_serving()?;
        Ok(read(&ledger.book)?)
    }

    /// Sandbox and operator action: freeze (overdue, risk) or unfreeze an agreement.
    pub async fn set_frozen(&self, agreement_id: &str, frozen: bool) -> Result<wire::Agreement, ApplyError> {
        self.run_billing().await?;
        match self.apply(Command::SetFrozen { agreement_id: agreement_id.to_string(), frozen }, None).await? {
            Some(book::Reply::Agreement(agreement)) => Ok(agreement),
            other => unreachable!("freezing answers with the agreement, not {other:?}"),
        }
    }

    /// Brings statements, overdue interest and overdue status up to the clock's day (China
    /// time). The HTTP layer runs it before every signed request, and every command runs it
    /// first too; it is idempotent, so calling it more often is harmless.
    pub async fn run_billing(&self) -> Result<(), ApplyError> {
        self.apply(Command::Bill, None).await.map(|_| ())
    }

    /// The outbox after sequence number `after`, oldest first: the pull feed for the hub.
    pub async fn events_after(&self, after: u64, limit: usize) -> Result<wire::EventList, ApplyError> {
        self.run_billing().await?;
        self.query(|book| Ok(book.events_after(after, limit))).await
    }

    /// [`Bank::events_after`] of the agreements `client` opened only.
    pub async fn events_of(&self, client: &str, after: u64, limit: usize) -> Result<wire::EventList, ApplyError> {
        self.run_billing().await?;
        self.query(|book| Ok(book.events_of(client, after, limit))).await
    }

    /// Pushes the events not yet pushed to the configured callback, in the background. Best
    /// effort: a failed push is tried again after the next request, and the hub also polls.
    pub fn push_events(self: &Arc<Self>) {
        let Some(callback) = self.config.callback.clone() else { return };
        let bank = self.clone();
        tokio::spawn(async move {
            let after = bank.pushed_seq.load(Ordering::Relaxed);
            let Ok(list) = bank.query(|book| Ok(book.events_after(after, 500))).await else { return };
            let Some(last) = list.events.last().map(|e| e.seq) else { return };
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
    pub async fn check_invariants(&self) -> Result<(), String> {
        self.query(|book| Ok(book.check_invariants())).await.unwrap_or_else(|e| Err(e.to_string()))
    }

    /// The whole book as canonical text ([`BankBook::state_dump`]), for comparing two banks.
    pub async fn state_dump(&self) -> Result<String, ApplyError> {
        self.query(|book| Ok(book.state_dump())).await
    }

    /// Stops serving and closes the journal cleanly (its WAL folded into the file). Without it,
    /// a stopped process loses nothing either: every answered change is already on disk.
    pub async fn close(&self) -> Result<(), JournalError> {
        let mut ledger = self.ledger.lock().await;
        ledger.stopped = Some("the bank was closed".to_string());
        match ledger.journal.take() {
            Some(journal) => journal.close().await,
            None => Ok(()),
        }
    }

    /// Why a valid signature must still be refused by a restarted bank, if it must.
    pub(crate) fn refusal_after_restart(&self, signature: &Signature) -> Option<Refusal> {
        let guard = self.restart.as_ref()?;
        if signature.signed_at_unix_s < guard.started_at_unix_s {
            return Some(Refusal::SignedBeforeStart);
        }
        let key = (signature.key_id.clone(), signature.nonce.clone());
        guard.recent_nonces.contains(&key).then_some(Refusal::SeenBeforeRestart)
    }

    fn secret_of(&self, key_id: &str) -> Option<String> {
        self.config.clients.iter().chain(&self.config.staff).find(|c| c.key_id == key_id).map(|c| c.secret.clone())
    }

    /// Whether `key_id` is a bank staff key (see [`BankConfig::staff`]).
    pub fn is_staff(&self, key_id: &str) -> bool {
        self.config.staff.iter().any(|c| c.key_id == key_id)
    }
}

impl Ledger {
    fn check_serving(&self) -> Result<(), ApplyError> {
        match &self.stopped {
            Some(why) => Err(ApplyError::Stopped(why.clone())),
            None => Ok(()),
        }
    }

    /// Journals a change that was just applied. If that fails, the book is rebuilt from the
    /// journal, so that memory never holds what the disk does not.
    async fn record(
        &mut self,
        now: i64,
        command: &Command,
        answer: &Result<Option<book::Reply>, BookError>,
        signature: Option<&Signature>,
    ) -> Result<(), ApplyError> {
        let Some(journal) = self.journal.as_mut() else { return Ok(()) };
        let Err(e) = journal.append(now, command, answer, signature).await else { return Ok(()) };
        tracing::error!(error = %e, "the bank could not journal a change; rebuilding its book from the journal");
        self.rebuild().await;
        Err(ApplyError::NotRecorded(e.to_string()))
    }

    /// Replaces the book with the journal's. In memory there is nothing to rebuild from: the
    /// book is kept, as it always was, and `check_invariants` shows any damage.
    async fn rebuild(&mut self) {
        let Some(journal) = self.journal.as_mut() else { return };
        match journal.replay(i64::MAX).await {
            Ok(replayed) => self.book = replayed.book,
            Err(e) => {
                tracing::error!(error = %e, "the bank's journal cannot be read back; the bank stops serving");
                self.stopped = Some(format!("its journal cannot be read back ({e}); restart the bank"));
            }
        }
    }
}

/// The part of the configuration the book itself follows.
fn book_config(config: &BankConfig) -> book::BookConfig {
    book::BookConfig {
        default_credit_limit_fen: config.default_credit_limit_fen,
        default_debit_balance_fen: config.default_debit_balance_fen,
        credit_terms: config.credit_terms.clone(),
        holds_expire: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key the journal is sealed with (the same at every opening).
    fn journal_key() -> crate::SealKey {
        crate::SealKey::from_hex(&"b4".repeat(32)).expect("a key")
    }

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

    /// A bank on a fresh journal in a folder of its own, removed by the caller.
    async fn journaled_bank(label: &str) -> (Bank, std::path::PathBuf) {
        let folder = std::env::temp_dir().join(format!("wugan-bank-{label}-{}", uuid::Uuid::new_v4().simple()));
        let clock = Arc::new(ManualClock::new(1_767_225_600));
        let bank =
            Bank::with_clock(BankConfig::default(), clock).with_journal(&folder.join("bank.db"), journal_key()).await.expect("opens");
        (bank, folder)
    }

    fn open_line(request_id: &str) -> Command {
        let request = wire::CreateAgreementRequest {
            request_id: request_id.into(),
            kind: wire::AgreementKind::CreditLine,
            customer_ref: "c1".into(),
            holder_name: None,
            card_no: None,
            limit_fen: None,
            opening_balance_fen: None,
        };
        Command::OpenAgreement { client: "hub".into(), new_agreement_id: format!("agr-{request_id}"), request }
    }

    async fn run_on_journal(bank: &Bank, sql: &'static str) {
        let mut ledger = bank.ledger.lock().await;
        ledger.journal.as_mut().expect("a journal").execute_raw(sql).await.expect("runs");
    }

    #[tokio::test]
    async fn a_change_that_cannot_be_journaled_did_not_happen() {
        let (bank, folder) = journaled_bank("unwritable").await;
        bank.apply(open_line("open-1"), None).await.expect("opens");
        // The next entry's place is taken (a billing entry that changes nothing on replay).
        let mut ledger = bank.ledger.lock().await;
        let journal = ledger.journal.as_mut().expect("a journal");
        journal.insert_raw(3, 1_767_225_600, r#"{"command":"bill"}"#, "null").await.expect("written");
        drop(ledger);
        let failed = bank.apply(open_line("open-2"), None).await;
        assert!(matches!(failed, Err(ApplyError::NotRecorded(_))), "{failed:?}");
        // The book was rebuilt from the journal: the agreement is not there, and a retry opens it.
        assert!(bank.query(|book| book.agreement("agr-open-2")).await.is_err());
        bank.apply(open_line("open-2"), None).await.expect("the retry is recorded");
        assert!(bank.query(|book| book.agreement("agr-open-2")).await.is_ok());
        assert_eq!(bank.check_invariants().await, Ok(()));
        bank.close().await.expect("closes");
        let _ = std::fs::remove_dir_all(folder);
    }

    /// The hub killed mid-request drops the request's future wherever it waits. A change already
    /// made to the book must still reach the journal, or a later rebuild takes back an answer
    /// the bank may have given to a retry (found by `wugan crashloop`: a capture answered, then lost).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_whose_caller_hangs_up_is_journaled_all_the_same() {
        let (bank, folder) = journaled_bank("hang-up").await;
        for i in 0..300u64 {
            // Polled once or a few times, then dropped: wherever the change stood.
            let wait = std::time::Duration::from_micros((i * 7) % 120);
            let _ = tokio::time::timeout(wait, bank.apply(open_line(&format!("open-{i}")), None)).await;
        }
        // Let the last changes finish, then compare memory with what the journal replays.
        let live = loop {
            let dump = bank.state_dump().await.expect("serving");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            if dump == bank.state_dump().await.expect("serving") {
                break dump;
            }
        };
        let replayed = {
            let mut ledger = bank.ledger.lock().await;
            ledger.journal.as_mut().expect("a journal").replay(i64::MAX).await.expect("replays").book.state_dump()
        };
        assert_eq!(live, replayed, "every change the book holds is in the journal");
        bank.close().await.expect("closes");
        let _ = std::fs::remove_dir_all(folder);
    }

    #[tokio::test]
    async fn a_journal_that_cannot_be_read_back_stops_the_bank() {
        let (bank, folder) = journaled_bank("unreadable").await;
        run_on_journal(&bank, "DROP TABLE journal").await;
        assert!(matches!(bank.apply(open_line("open-1"), None).await, Err(ApplyError::NotRecorded(_))));
        assert!(matches!(bank.apply(open_line("open-1"), None).await, Err(ApplyError::Stopped(_))));
        assert!(matches!(bank.query(|book| Ok(book.journal_len())).await, Err(ApplyError::Stopped(_))));
        let _ = std::fs::remove_dir_all(folder);
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
