//! The hub's store: one interface over SQLite (embedded, the default) and PostgreSQL (production),
//! through `sqlx::AnyPool` and common SQL. Money is BIGINT fen; ids and times are TEXT.
//!
//! Every write is a job handed to `Store::write`. On SQLite the jobs go to one writer task that owns
//! the one write connection and commits them in batches (group commit, see `writer`); reads use a
//! pool of read connections (WAL: readers never wait for the writer). On PostgreSQL each job runs
//! in a transaction of its own on the pool, and PostgreSQL's row locks order them.

mod agreements;
mod api_keys;
mod invoices;
pub use invoices::{InvoiceDue, InvoiceNumbering, InvoiceRow, InvoiceWithin};
mod insurance_clearings;
mod journal;
mod modes;
mod platforms;
pub use modes::{HospitalProfile, SettlementRecord};
pub use platforms::PlatformRow;
mod online_services;
pub use online_services::{ManualClaimRow, SpecialDiseaseRow};
mod operator_reads;
mod operator_stays;
pub use insurance_clearings::InsuranceClearingRow;
mod payouts;
pub use payouts::PayoutRow;
mod notifications;
pub use notifications::{NotificationRow, SettledForPatient};
mod patients;
pub use patients::{CodeCheck, ConsentRow, PatientCodeRow, PatientRow, PatientSessionRow};
mod reconciliation;
pub use operator_reads::{DayFiguresRow, JournalEntry, ReconciliationRunRow, MAX_JOURNAL_PAGE};
pub use reconciliation::{BankTransfer, ReconSettlement, ReconciliationItem, ReconciliationRun};
mod family_invitations;
pub use family_invitations::FamilyInvitationRow;
mod refund_exceptions;
mod refunds;
pub use refunds::RefundRow;
mod banks;
mod hospital_banks;
pub use hospital_banks::HospitalBankRow;
mod national_visits;
pub use national_visits::NationalVisitRow;
mod settlements;
mod signups;
mod stay_lists;
pub use stay_lists::MAX_STAY_PAGE;
mod patient_stays;
pub use patient_stays::MAX_PATIENT_STAYS;
mod stay_reconciliation;
pub use stay_reconciliation::StaySettlementRow;
mod stay_fee_withdrawals;
mod stays;
pub use banks::BankRow;
pub use stays::{StayFeeLine, StayRow};
mod deposit_receipts;
mod stay_invoices;
use deposit_receipts::owe_deposit_receipts;
pub use deposit_receipts::{DepositClosing, DepositReceiptDue, DepositSteps};
use stay_invoices::owe_stay_invoice;
pub use stay_invoices::{StayInvoiceDue, StayInvoiceOwed};
mod visits;
pub use visits::VisitForClick;
mod fee_withdrawal_exceptions;
mod fee_withdrawals;
pub use fee_withdrawal_exceptions::ParkedFeeWithdrawal;
pub use fee_withdrawals::{FeeWithdrawalRow, WithdrawalBegun, ALL_BATCHES};
mod idempotency;
use idempotency::Claims;
pub use idempotency::{ClaimGuard, StoredAnswer};
// Issue 18: staff, the audit log, hospital onboarding, visit lookups, webhooks.
mod audit;
mod hospitals;
mod hot_rows;
mod staff;
mod visit_lists;
mod webhooks;
// Issue 14 scopes 4-6, issue 17 scope 4: the patient's switches, unpaid bills collected later.
mod bill_collections;
mod patient_notices;
mod seamless_switches;
pub use audit::{check_chain_after, AuditEntry, AuditFinding, NewAuditEntry, GENESIS_HASH};
pub use bill_collections::{owed_now, BillCollectionRow, UnpaidBill};
pub use hospitals::HospitalRow;
pub use patient_notices::{LineOfPatient, StayReversal, UnpaidForNotice};
pub use seamless_switches::{SeamlessChoice, VisitSwitch};
pub use staff::{BankAgreementRow, SessionRow, StaffRow};
pub use visit_lists::{VisitFilter, MAX_VISIT_PAGE};
pub use webhooks::{EventCandidate, WebhookDelivery, WebhookEndpoint};
pub mod db;
mod pg_writer;
pub use pg_writer::PgWrites;
mod reads;
pub use reads::Reads;
pub mod writer;

use crate::clock::{timestamp, Clock};
use crate::model::*;
pub use api_keys::{key_id_of, ApiKeyRow, KeyOrigin, KeyStatus, LAST_USE_RESOLUTION};
pub use db::{query, Conn, SqlRow};
use journal::post_transfer;
pub use signups::SignupRow;
use sqlx::any::AnyPoolOptions;
use std::collections::BTreeMap;
use std::sync::Arc;
use wugan_domain::ledger::{self, AccountBalance, AccountLimit, Transfer, TransferKind};
use wugan_domain::settlement::SettlementState;
use wugan_domain::Fen;

/// Versioned migrations, applied in order, each once. Never edit one that has shipped: add a new one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/0001_init.sql")),
    (2, "account_repayments", include_str!("../../migrations/0002_account_repayments.sql")),
    (3, "lookup_indexes", include_str!("../../migrations/0003_lookup_indexes.sql")),
    (4, "states_checked", include_str!("../../migrations/0004_states_checked.sql")),
    (5, "api_key_lifecycle", include_str!("../../migrations/0005_api_key_lifecycle.sql")),
    (6, "retention", include_str!("../../migrations/0006_retention.sql")),
    (7, "signups", include_str!("../../migrations/0007_signups.sql")),
    (8, "ledger_balances_folded", include_str!("../../migrations/0008_ledger_balances_folded.sql")),
    (9, "invoices", include_str!("../../migrations/0009_invoices.sql")),
    (10, "reconciliation", include_str!("../../migrations/0010_reconciliation.sql")),
    (11, "stays", include_str!("../../migrations/0011_stays.sql")),
    (12, "patients", include_str!("../../migrations/0012_patients.sql")),
    (13, "deployment_modes", include_str!("../../migrations/0013_deployment_modes.sql")),
    (14, "staff", include_str!("../../migrations/0014_staff.sql")),
    (15, "payouts", include_str!("../../migrations/0015_payouts.sql")),
    (16, "insurance_clearings", include_str!("../../migrations/0016_insurance_clearings.sql")),
    (17, "refunds", include_str!("../../migrations/0017_refunds.sql")),
    (18, "stay_invoices", include_str!("../../migrations/0018_stay_invoices.sql")),
    (19, "platforms", include_str!("../../migrations/0019_platforms.sql")),
    (20, "patient_controls", include_str!("../../migrations/0020_patient_controls.sql")),
    (21, "online_services", include_str!("../../migrations/0021_online_services.sql")),
    (22, "banks", include_str!("../../migrations/0022_banks.sql")),
    (23, "deposit_receipts", include_str!("../../migrations/0023_deposit_receipts.sql")),
    (24, "hospital_banks", include_str!("../../migrations/0024_hospital_banks.sql")),
    (26, "refund_exceptions", include_str!("../../migrations/0026_refund_exceptions.sql")),
    (27, "family_invitations", include_str!("../../migrations/0027_family_invitations.sql")),
    (28, "insurance_only", include_str!("../../migrations/0028_insurance_only.sql")),
    (29, "settlement_indexes_slim", include_str!("../../migrations/0029_settlement_indexes_slim.sql")),
    (30, "presettle_echo", include_str!("../../migrations/0030_presettle_echo.sql")),
    (31, "refund_presettle", include_str!("../../migrations/0031_refund_presettle.sql")),
    (32, "stay_presettle_echo", include_str!("../../migrations/0032_stay_presettle_echo.sql")),
    (33, "visit_estimates", include_str!("../../migrations/0033_visit_estimates.sql")),
    (34, "bill_collection_charges", include_str!("../../migrations/0034_bill_collection_charges.sql")),
    (35, "stay_clinical_info", include_str!("../../migrations/0035_stay_clinical_info.sql")),
    (36, "refunded_bills", include_str!("../../migrations/0036_refunded_bills.sql")),
    (37, "stays_admitted_again", include_str!("../../migrations/0037_stays_admitted_again.sql")),
    (38, "national_visits", include_str!("../../migrations/0038_national_visits.sql")),
    (39, "registration_cancels_open", include_str!("../../migrations/0039_registration_cancels_open.sql")),
    (40, "reconciliation_handled", include_str!("../../migrations/0040_reconciliation_handled.sql")),
    (41, "fee_withdrawals", include_str!("../../migrations/0041_fee_withdrawals.sql")),
    (42, "stays_by_person_and_line", include_str!("../../migrations/0042_stays_by_person_and_line.sql")),
    (43, "fee_withdrawal_exceptions", include_str!("../../migrations/0043_fee_withdrawal_exceptions.sql")),
    (44, "fee_withdrawal_resolution", include_str!("../../migrations/0044_fee_withdrawal_resolution.sql")),
    (45, "reversal_notices", include_str!("../../migrations/0045_reversal_notices.sql")),
    (46, "family_member_certno", include_str!("../../migrations/0046_family_member_certno.sql")),
];

/// How long a request may stay in progress before a retry may take it over. Short, because the
/// work behind every key is itself idempotent and guarded by state (a settlement never moves
/// backwards), so a takeover while the first run still lives costs partner calls, never money.
pub const IDEMPOTENCY_LEASE: std::time::Duration = std::time::Duration::from_secs(5);

/// How long the hub waits for its database to answer a connection before saying so.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("ledger: {0}")]
    Ledger(#[from] ledger::LedgerError),
    #[error("the settlement moved on since it was read")]
    StaleSettlement,
    /// A write refused by what it found in the same transaction (a fee upload and a click on the
    /// same visit, each checking the other): answered as the conflict `code`, nothing written.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("the database cannot be reached: {0}")]
    Unreachable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The write's batch was not committed (the disk refused, the writer stopped): nothing of it
    /// happened.
    #[error("the write was not committed: {0}")]
    NotCommitted(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct Store {
    /// Reads (and, on PostgreSQL, the pool writes take their transactions from).
    pool: Reads,
    pub backend: Backend,
    /// SQLite's one writer (group commit); on PostgreSQL the same when `WUGAN_PG_WRITES=batched`
    /// (`pg_writer`), else `None` (each write a transaction of its own on the pool).
    writer: Option<writer::Writer>,
    /// The hub's one clock (injected): every stored time comes from here.
    pub clock: Arc<dyn Clock>,
    /// Hospital rows read on every visit, kept in memory (`hot_rows`).
    hot: Arc<hot_rows::HotRows>,
    /// The audit chain's last entry as this process's writer appended it (SQLite; `audit`).
    audit_head: Arc<std::sync::Mutex<Option<audit::ChainHead>>>,
    /// Requests in progress in this process (SQLite; `idempotency`).
    claims: Arc<Claims>,
}

/// A store on a fresh SQLite file in a folder of its own under the temp folder, migrated: for the
/// hub's unit tests (the caller removes the folder).
#[cfg(test)]
impl Store {
    pub(crate) async fn in_fresh_folder(label: &str) -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("wugan-{label}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a folder");
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", dir.join("hub.db").display())).await.expect("a store");
        store.migrate().await.expect("migrated");
        (store, dir)
    }
}

pub enum IdempotencyBegin {
    /// First time: process the request, then `finish_idempotency`.
    New,
    /// Seen and finished: replay this response.
    Replay { status: u16, body: String },
    /// Seen, still being processed by another request.
    InProgress,
    /// Seen with a different body.
    Mismatch,
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Store {
    /// Connects to `sqlite://path` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        if backend == Backend::Postgres {
            // One direct attempt first, so that an unreachable server is reported at once with its
            // reason (connection refused, unknown host, bad password), not as a pool timeout.
            use sqlx::Connection;
            match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::AnyConnection::connect(url)).await {
                Err(_) => return Err(StoreError::Unreachable(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))),
                Ok(Err(e)) => return Err(StoreError::Unreachable(e.to_string())),
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                }
            }
        }
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                // The writer's connection first: it sets WAL mode on the file before any reader opens it.
                let conn = reads::open_writer(url).map_err(db::lite_error)?;
                let writer = writer::Writer::start(conn).map_err(|e| StoreError::Unreachable(format!("cannot start the writer: {e}")))?;
                (Reads::Lite(reads::LiteReads::new(reads::sqlite_path(url).0)), Some(writer))
            }
            Backend::Postgres => {
                let writes = PgWrites::from_env().map_err(StoreError::Unreachable)?;
                let pool = AnyPoolOptions::new().acquire_timeout(CONNECT_TIMEOUT).max_connections(16).connect(url).await?;
                let writer = (writes == PgWrites::Batched).then(|| writer::Writer::start_pg(pool.clone()));
                (Reads::Any(pool), writer)
            }
        };
        Ok(Store {
            pool,
            backend,
            writer,
            clock: crate::clock::system(),
            hot: Arc::default(),
            audit_head: Arc::default(),
            claims: Arc::default(),
        })
    }

    /// Runs `job` as one atomic write and answers once it is durable: in the writer's next batch
    /// (inside a savepoint of the batch's transaction) on SQLite and on a batched PostgreSQL, else
    /// in a transaction of its own on the pool. An `Err` from the job undoes everything it wrote.
    /// The job owns what it needs (`'static`): it runs on the writer's thread or task.
    pub async fn write<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> writer::WriteFuture<'c, T> + Send + 'static,
    {
        match &self.writer {
            Some(writer) => writer.submit(job).await,
            None => {
                let Reads::Any(pool) = &self.pool else { unreachable!("SQLite writes go through its writer") };
                let mut conn = Conn::Pg(pool.begin().await?);
                let value = job(&mut conn).await?;
                if let Conn::Pg(tx) = conn {
                    tx.commit().await?;
                }
                Ok(value)
            }
        }
    }

    /// The writer's counts (SQLite), for benchmarks.
    pub fn writer_stats(&self) -> Option<Arc<writer::WriterStats>> {
        self.writer.as_ref().map(|w| w.stats.clone())
    }

    /// The same store, reading time from `clock` (tests, simulations).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Store {
        self.clock = clock;
        self
    }

    /// Now, as the hub stores times.
    pub fn now(&self) -> String {
        timestamp(self.clock.now_utc())
    }

    /// The stored time `ago` before now.
    pub fn before_now(&self, ago: std::time::Duration) -> String {
        timestamp(self.clock.now_utc() - ago)
    }

    /// Applies the migrations not yet applied; returns their versions.
    pub async fn migrate(&self) -> StoreResult<Vec<i64>> {
        self.write(|c| {
            Box::pin(async move {
                let sql = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL)";
                query(sql).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await?;
        let mut applied = Vec::new();
        for (version, name, sql) in MIGRATIONS {
            let (version, name, sql, now) = (*version, *name, *sql, self.now());
            let fresh = self
                .write(move |c| {
                    Box::pin(async move {
                        let done =
                            query("SELECT version FROM schema_migrations WHERE version = $1").bind(version).fetch_optional(&mut *c).await?;
                        if done.is_some() {
                            return Ok(false);
                        }
                        for statement in sql_statements(sql) {
                            query(statement).execute(&mut *c).await?;
                        }
                        query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                            .bind(version)
                            .bind(name)
                            .bind(now)
                            .execute(&mut *c)
                            .await?;
                        Ok(true)
                    })
                })
                .await?;
            if fresh {
                applied.push(version);
            }
        }
        Ok(applied)
    }

    // ---- callers and hospitals -------------------------------------------------------------

    pub async fn ensure_hospital(&self, code: &str, name: &str) -> StoreResult<()> {
        let (code, name, now) = (code.to_string(), name.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query("INSERT INTO hospitals (code, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING")
                    .bind(code)
                    .bind(name)
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn hospital_exists(&self, code: &str) -> StoreResult<bool> {
        Ok(query("SELECT code FROM hospitals WHERE code = $1").bind(code).fetch_optional(&self.pool).await?.is_some())
    }
}

/// A migration's statements: `--` comment lines dropped (they may hold semicolons), then split on
/// `;`. Migrations hold no string literals with semicolons.
fn sql_statements(sql: &str) -> Vec<String> {
    let code: String = sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    code.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

#[cfg(test)]
mod migration_tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_database_is_reported_at_once_with_its_reason() {
        let err = Store::connect("postgres://wugan@127.0.0.1:1/wugan").await.err().expect("nothing listens on port 1");
        assert!(matches!(err, StoreError::Unreachable(_)), "{err}");
        assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
    }

    #[test]
    fn comments_may_hold_semicolons() {
        let sql = "-- one; two\nCREATE TABLE a (x INT);\n  -- three;\nCREATE INDEX b ON a (x);\n";
        assert_eq!(sql_statements(sql), vec!["CREATE TABLE a (x INT)", "CREATE INDEX b ON a (x)"]);
    }

    #[test]
    fn every_file_in_the_migrations_folder_is_on_the_list_in_order() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(folder)
            .expect("the migrations folder")
            .map(|e| e.expect("an entry").file_name().into_string().expect("utf-8"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|(v, name, _)| format!("{v:04}_{name}.sql")).collect();
        assert_eq!(files, listed, "a migration file that is not on MIGRATIONS is never applied");
    }

    #[test]
    fn every_shipped_migration_splits_into_statements() {
        for (version, _, sql) in MIGRATIONS {
            let statements = sql_statements(sql);
            assert!(!statements.is_empty(), "migration {version}");
            let known = ["CREATE", "INSERT", "DROP", "ALTER", "UPDATE"];
            assert!(statements.iter().all(|s| known.iter().any(|k| s.starts_with(k))), "migration {version}: {statements:?}");
        }
    }
}
