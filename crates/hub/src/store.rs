//! The hub's store: one interface over SQLite (embedded, the default) and PostgreSQL (production),
//! through `sqlx::AnyPool` and common SQL. Money is BIGINT fen; ids and times are TEXT.
//!
//! Write transactions on SQLite are serialized by an in-process lock, so that two writers never
//! deadlock upgrading read locks; PostgreSQL takes row locks itself.

use crate::model::*;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::collections::BTreeMap;
use tokio::sync::Mutex;
use wugan_domain::ledger::{self, AccountBalance, AccountLimit, Transfer, TransferKind};
use wugan_domain::settlement::SettlementState;
use wugan_domain::Fen;

/// Versioned migrations, applied in order, each once. Never edit one that has shipped: add a new one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (2, "account_repayments", include_str!("../migrations/0002_account_repayments.sql")),
    (3, "lookup_indexes", include_str!("../migrations/0003_lookup_indexes.sql")),
];

/// How long a request may stay in progress before a retry may take it over. Short, because the
/// work behind every key is itself idempotent and guarded by state (a settlement never moves
/// backwards), so a takeover while the first run still lives costs partner calls, never money.
pub const IDEMPOTENCY_LEASE: std::time::Duration = std::time::Duration::from_secs(5);

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
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct Store {
    pool: AnyPool,
    pub backend: Backend,
    /// Serializes write transactions on SQLite (single writer); unused on PostgreSQL.
    write_lock: Mutex<()>,
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

use crate::clock::now;

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Store {
    /// Connects to `sqlite://path` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        let mut options = AnyPoolOptions::new().max_connections(if backend == Backend::Sqlite { 4 } else { 16 });
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    for pragma in
                        ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=10000", "PRAGMA foreign_keys=ON"]
                    {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await?;
        Ok(Store { pool, backend, write_lock: Mutex::new(()) })
    }

    async fn write_guard(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(self.write_lock.lock().await),
            Backend::Postgres => None,
        }
    }

    /// Applies the migrations not yet applied; returns their versions.
    pub async fn migrate(&self) -> StoreResult<Vec<i64>> {
        let _guard = self.write_guard().await;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
            .execute(&self.pool)
            .await?;
        let mut applied = Vec::new();
        for (version, name, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await?;
            let done =
                sqlx::query("SELECT version FROM schema_migrations WHERE version = $1").bind(*version).fetch_optional(&mut *tx).await?;
            if done.is_some() {
                continue;
            }
            for statement in sql_statements(sql) {
                sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(*version)
                .bind(*name)
                .bind(now())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            applied.push(*version);
        }
        Ok(applied)
    }

    // ---- callers and hospitals -------------------------------------------------------------

    pub async fn ensure_hospital(&self, code: &str, name: &str) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        sqlx::query("INSERT INTO hospitals (code, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING")
            .bind(code)
            .bind(name)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn ensure_api_key(&self, key_hash: &str, role: Role, hospital_code: Option<&str>) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        sqlx::query(
            "INSERT INTO api_keys (key_hash, role, hospital_code, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (key_hash) DO NOTHING",
        )
        .bind(key_hash)
        .bind(role.as_str())
        .bind(hospital_code.map(str::to_string))
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn find_caller(&self, key_hash: &str) -> StoreResult<Option<Caller>> {
        let row =
            sqlx::query("SELECT role, hospital_code FROM api_keys WHERE key_hash = $1").bind(key_hash).fetch_optional(&self.pool).await?;
        Ok(row.and_then(|r| {
            let role = Role::parse(&r.get::<String, _>("role"))?;
            Some(Caller { role, hospital_code: r.get::<Option<String>, _>("hospital_code") })
        }))
    }

    pub async fn hospital_exists(&self, code: &str) -> StoreResult<bool> {
        Ok(sqlx::query("SELECT code FROM hospitals WHERE code = $1").bind(code).fetch_optional(&self.pool).await?.is_some())
    }

    // ---- idempotency ------------------------------------------------------------------------

    pub async fn begin_idempotency(&self, caller: &str, key: &str, request_hash: &str) -> StoreResult<IdempotencyBegin> {
        let _guard = self.write_guard().await;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (caller, idem_key, request_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (caller, idem_key) DO NOTHING",
        )
        .bind(caller)
        .bind(key)
        .bind(request_hash)
        .bind(now())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(IdempotencyBegin::New);
        }
        let row = sqlx::query(
            "SELECT request_hash, status_code, response_body, created_at FROM idempotency_keys WHERE caller = $1 AND idem_key = $2",
        )
        .bind(caller)
        .bind(key)
        .fetch_one(&self.pool)
        .await?;
        if row.get::<String, _>("request_hash") != request_hash {
            return Ok(IdempotencyBegin::Mismatch);
        }
        match (row.get::<Option<i64>, _>("status_code"), row.get::<Option<String>, _>("response_body")) {
            (Some(status), Some(body)) => Ok(IdempotencyBegin::Replay { status: status as u16, body }),
            _ => {
                // A request still "in progress" after the lease was abandoned by a crashed process:
                // the first retry after the lease takes it over (the work it resumes is idempotent).
                let started: String = row.get("created_at");
                let lease_end = crate::clock::before_now(IDEMPOTENCY_LEASE);
                if started >= lease_end {
                    return Ok(IdempotencyBegin::InProgress);
                }
                let taken = sqlx::query("UPDATE idempotency_keys SET created_at = $1 WHERE caller = $2 AND idem_key = $3 AND created_at = $4 AND status_code IS NULL")
                    .bind(now())
                    .bind(caller)
                    .bind(key)
                    .bind(&started)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(if taken == 1 { IdempotencyBegin::New } else { IdempotencyBegin::InProgress })
            }
        }
    }

    pub async fn finish_idempotency(&self, caller: &str, key: &str, status: u16, body: &str) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        sqlx::query("UPDATE idempotency_keys SET status_code = $1, response_body = $2 WHERE caller = $3 AND idem_key = $4")
            .bind(status as i64)
            .bind(body)
            .bind(caller)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets a key whose request ended in a retryable failure, so that the retry runs again.
    pub async fn abandon_idempotency(&self, caller: &str, key: &str) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        sqlx::query("DELETE FROM idempotency_keys WHERE caller = $1 AND idem_key = $2 AND status_code IS NULL")
            .bind(caller)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- agreements -------------------------------------------------------------------------

    pub async fn insert_agreement(&self, a: &AgreementRow) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        let result = sqlx::query(
            "INSERT INTO agreements (id, psn_no, insutype, insuplc_admdvs, name_enc, certno_enc, certno_index, use_personal_account, \
             payment_method, bank_code, bank_agreement_id, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&a.id)
        .bind(&a.psn_no)
        .bind(&a.insutype)
        .bind(&a.insuplc_admdvs)
        .bind(&a.name_enc)
        .bind(&a.certno_enc)
        .bind(&a.certno_index)
        .bind(a.use_personal_account as i64)
        .bind(a.payment_method.as_str())
        .bind(&a.bank_code)
        .bind(&a.bank_agreement_id)
        .bind(a.status.as_str())
        .bind(&a.created_at)
        .execute(&self.pool)
        .await;
        match result {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("this person already has an active agreement".into())),
            other => other.map(|_| ()).map_err(StoreError::from),
        }
    }

    /// One encrypted value from the store, if any, to check at start-up that the key opens it.
    pub async fn some_sealed_value(&self) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT name_enc FROM agreements LIMIT 1").fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.get("name_enc")))
    }

    pub async fn agreement(&self, id: &str) -> StoreResult<Option<AgreementRow>> {
        let row = sqlx::query("SELECT * FROM agreements WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| agreement_from_row(&r)).transpose()
    }

    pub async fn active_agreement_for(&self, psn_no: &str) -> StoreResult<Option<AgreementRow>> {
        let row =
            sqlx::query("SELECT * FROM agreements WHERE psn_no = $1 AND status = 'active'").bind(psn_no).fetch_optional(&self.pool).await?;
        row.map(|r| agreement_from_row(&r)).transpose()
    }

    /// The agreement that pays for this person's visits: their own, or the one a family member
    /// signed and linked them to (亲情付).
    pub async fn paying_agreement_for(&self, psn_no: &str) -> StoreResult<Option<(AgreementRow, Option<String>)>> {
        if let Some(own) = self.active_agreement_for(psn_no).await? {
            return Ok(Some((own, None)));
        }
        let link = sqlx::query("SELECT id, agreement_id FROM family_links WHERE member_psn_no = $1 AND status = 'active'")
            .bind(psn_no)
            .fetch_optional(&self.pool)
            .await?;
        let Some(link) = link else { return Ok(None) };
        let agreement_id: String = link.get("agreement_id");
        Ok(self.agreement(&agreement_id).await?.filter(|a| a.status == AgreementStatus::Active).map(|a| (a, Some(link.get("id")))))
    }

    pub async fn insert_family_link(&self, l: &FamilyLinkRow, max_links: i64) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM family_links WHERE agreement_id = $1 AND status = 'active'")
            .bind(&l.agreement_id)
            .fetch_one(&mut *tx)
            .await?
            .get("n");
        if count >= max_links {
            return Err(StoreError::Conflict(format!("an agreement may pay for at most {max_links} family members")));
        }
        let result = sqlx::query(
            "INSERT INTO family_links (id, agreement_id, member_psn_no, member_name_enc, relation, consent_method, consent_reference, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&l.id)
        .bind(&l.agreement_id)
        .bind(&l.member_psn_no)
        .bind(&l.member_name_enc)
        .bind(l.relation.as_str())
        .bind(&l.consent_method)
        .bind(&l.consent_reference)
        .bind(l.status.as_str())
        .bind(&l.created_at)
        .execute(&mut *tx)
        .await;
        match result {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict("this person is already linked to an agreement".into())),
            other => {
                other?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn family_links(&self, agreement_id: &str) -> StoreResult<Vec<FamilyLinkRow>> {
        let rows = sqlx::query("SELECT * FROM family_links WHERE agreement_id = $1 ORDER BY created_at")
            .bind(agreement_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let relation: String = r.get("relation");
                let status: String = r.get("status");
                Ok(FamilyLinkRow {
                    id: r.get("id"),
                    agreement_id: r.get("agreement_id"),
                    member_psn_no: r.get("member_psn_no"),
                    member_name_enc: r.get("member_name_enc"),
                    relation: Relation::parse(&relation).ok_or_else(|| StoreError::Corrupt(format!("relation {relation}")))?,
                    consent_method: r.get("consent_method"),
                    consent_reference: r.get("consent_reference"),
                    status: AgreementStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("link status {status}")))?,
                    created_at: r.get("created_at"),
                })
            })
            .collect()
    }

    pub async fn revoke_family_link(&self, agreement_id: &str, link_id: &str) -> StoreResult<bool> {
        let _guard = self.write_guard().await;
        let n = sqlx::query(
            "UPDATE family_links SET status = 'revoked', revoked_at = $1 WHERE id = $2 AND agreement_id = $3 AND status = 'active'",
        )
        .bind(now())
        .bind(link_id)
        .bind(agreement_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn revoke_agreement(&self, id: &str) -> StoreResult<bool> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("UPDATE agreements SET status = 'revoked', revoked_at = $1 WHERE id = $2 AND status = 'active'")
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE family_links SET status = 'revoked', revoked_at = $1 WHERE agreement_id = $2 AND status = 'active'")
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Suspends (`Some(reason)`) or reinstates (`None`) seamless payment for a bank agreement.
    pub async fn set_suspension(&self, bank_code: &str, bank_agreement_id: &str, reason: Option<&str>) -> StoreResult<u64> {
        let _guard = self.write_guard().await;
        Ok(sqlx::query("UPDATE agreements SET suspended_reason = $1 WHERE bank_code = $2 AND bank_agreement_id = $3")
            .bind(reason.map(str::to_string))
            .bind(bank_code)
            .bind(bank_agreement_id)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// The repayment a request (agreement, Idempotency-Key) started, creating it if new.
    pub async fn account_repayment(&self, r: &AccountRepaymentRow) -> StoreResult<AccountRepaymentRow> {
        {
            let _guard = self.write_guard().await;
            sqlx::query(
                "INSERT INTO account_repayments (id, agreement_id, idem_key, amount_fen, state, debit_msgid, cancel_msgid, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (agreement_id, idem_key) DO NOTHING",
            )
            .bind(&r.id)
            .bind(&r.agreement_id)
            .bind(&r.idem_key)
            .bind(r.amount.0)
            .bind(&r.state)
            .bind(&r.debit_msgid)
            .bind(&r.cancel_msgid)
            .bind(&r.created_at)
            .bind(&r.created_at)
            .execute(&self.pool)
            .await?;
        }
        let row = sqlx::query("SELECT * FROM account_repayments WHERE agreement_id = $1 AND idem_key = $2")
            .bind(&r.agreement_id)
            .bind(&r.idem_key)
            .fetch_one(&self.pool)
            .await?;
        Ok(account_repayment_from_row(&row))
    }

    /// Repayments left between their two calls (a crash, a silent partner), idle since `before`.
    pub async fn unfinished_account_repayments(&self, before: &str) -> StoreResult<Vec<AccountRepaymentRow>> {
        let rows = sqlx::query(
            "SELECT * FROM account_repayments WHERE state IN ('started', 'account_debited', 'returning') AND updated_at < $1 ORDER BY created_at LIMIT 1000",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(account_repayment_from_row).collect())
    }

    /// Moves a repayment to `state` (from `from`), posting its transfers in the same transaction.
    pub async fn advance_account_repayment(&self, r: &AccountRepaymentRow, from: &str, transfers: &[Transfer]) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE account_repayments SET state = $1, txn_id = $2, failure = $3, updated_at = $4 WHERE id = $5 AND state = $6",
        )
        .bind(&r.state)
        .bind(r.txn_id.clone())
        .bind(r.failure.clone())
        .bind(now())
        .bind(&r.id)
        .bind(from)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(StoreError::StaleSettlement);
        }
        for t in transfers {
            post_transfer(&mut tx, t).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn bank_event_cursor(&self, bank_code: &str) -> StoreResult<i64> {
        let row =
            sqlx::query("SELECT last_seq FROM bank_event_cursors WHERE bank_code = $1").bind(bank_code).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.get("last_seq")).unwrap_or(0))
    }

    pub async fn set_bank_event_cursor(&self, bank_code: &str, last_seq: i64) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        sqlx::query(
            "INSERT INTO bank_event_cursors (bank_code, last_seq) VALUES ($1, $2) ON CONFLICT (bank_code) DO UPDATE SET last_seq = excluded.last_seq",
        )
        .bind(bank_code)
        .bind(last_seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- visits and fees --------------------------------------------------------------------

    pub async fn insert_visit(&self, v: &VisitRow) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        let result = sqlx::query(
            "INSERT INTO visits (id, hospital_code, ipt_otp_no, psn_no, insutype, insuplc_admdvs, mdtrt_cert_type, mdtrt_cert_no_enc, \
             med_type, register_msgid, begntime, mdtrt_id, agreement_id, seamless_reason, status, idem_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(&v.id)
        .bind(&v.hospital_code)
        .bind(&v.ipt_otp_no)
        .bind(&v.psn_no)
        .bind(&v.insutype)
        .bind(&v.insuplc_admdvs)
        .bind(&v.mdtrt_cert_type)
        .bind(&v.mdtrt_cert_no_enc)
        .bind(&v.med_type)
        .bind(&v.register_msgid)
        .bind(&v.begntime)
        .bind(&v.mdtrt_id)
        .bind(v.agreement_id.clone())
        .bind(v.seamless_reason.clone())
        .bind(v.status.as_str())
        .bind(v.idem_key.clone())
        .bind(&v.created_at)
        .execute(&self.pool)
        .await;
        match result {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!("visit {} is already registered", v.ipt_otp_no))),
            other => other.map(|_| ()).map_err(StoreError::from),
        }
    }

    pub async fn visit(&self, id: &str) -> StoreResult<Option<VisitRow>> {
        let row = sqlx::query("SELECT * FROM visits WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| visit_from_row(&r)).transpose()
    }

    pub async fn visit_by_hospital_no(&self, hospital_code: &str, ipt_otp_no: &str) -> StoreResult<Option<VisitRow>> {
        let row = sqlx::query("SELECT * FROM visits WHERE hospital_code = $1 AND ipt_otp_no = $2")
            .bind(hospital_code)
            .bind(ipt_otp_no)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| visit_from_row(&r)).transpose()
    }

    /// Records the insurance center's visit id once 2201 has answered.
    pub async fn complete_registration(&self, id: &str, mdtrt_id: &str) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        sqlx::query("UPDATE visits SET mdtrt_id = $1, status = 'registered' WHERE id = $2 AND status = 'registering'")
            .bind(mdtrt_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets a registration the insurance center refused, so the hospital can correct and resend it.
    pub async fn delete_unregistered_visit(&self, id: &str) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        sqlx::query("DELETE FROM visits WHERE id = $1 AND status = 'registering'").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Stores fee lines before they are sent (uploaded = false); a line number already on the visit
    /// is a conflict and nothing is written.
    pub async fn insert_fee_lines(&self, visit_id: &str, lines: &[FeeLineRow]) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        for line in lines {
            let n = sqlx::query(
                "INSERT INTO fee_lines (visit_id, feedetl_sn, chrg_bchno, amount_fen, upload_msgid, uploaded, detail_json, result_json) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (visit_id, feedetl_sn) DO NOTHING",
            )
            .bind(visit_id)
            .bind(&line.feedetl_sn)
            .bind(&line.chrg_bchno)
            .bind(line.amount.0)
            .bind(&line.upload_msgid)
            .bind(line.uploaded as i64)
            .bind(&line.detail_json)
            .bind(line.result_json.clone())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(StoreError::Conflict(format!("fee line {} is already uploaded", line.feedetl_sn)));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks a batch accepted by 2204, with the insurance center's classification of each line.
    pub async fn mark_fee_lines_uploaded(&self, visit_id: &str, results: &[(String, String)]) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        for (sn, result) in results {
            sqlx::query("UPDATE fee_lines SET uploaded = 1, result_json = $1 WHERE visit_id = $2 AND feedetl_sn = $3")
                .bind(result)
                .bind(visit_id)
                .bind(sn)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Forgets a batch the insurance center refused (nothing of it was accepted).
    pub async fn delete_fee_batch(&self, visit_id: &str, upload_msgid: &str) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        sqlx::query("DELETE FROM fee_lines WHERE visit_id = $1 AND upload_msgid = $2 AND uploaded = 0")
            .bind(visit_id)
            .bind(upload_msgid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn fee_lines(&self, visit_id: &str) -> StoreResult<Vec<FeeLineRow>> {
        let rows = sqlx::query(
            "SELECT feedetl_sn, chrg_bchno, amount_fen, upload_msgid, uploaded, detail_json, result_json FROM fee_lines WHERE visit_id = $1 ORDER BY feedetl_sn",
        )
            .bind(visit_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| FeeLineRow {
                feedetl_sn: r.get("feedetl_sn"),
                chrg_bchno: r.get("chrg_bchno"),
                amount: Fen(r.get("amount_fen")),
                upload_msgid: r.get("upload_msgid"),
                uploaded: r.get::<i64, _>("uploaded") != 0,
                detail_json: r.get("detail_json"),
                result_json: r.get("result_json"),
            })
            .collect())
    }

    // ---- settlements and the ledger ---------------------------------------------------------

    /// Creates the settlement of a visit; if the visit already has one, returns that instead.
    pub async fn create_settlement(&self, s: &SettlementRow) -> StoreResult<(SettlementRow, bool)> {
        {
            let _guard = self.write_guard().await;
            let n = sqlx::query(
                "INSERT INTO settlements (id, visit_id, hospital_code, agreement_id, state, presettle_msgid, settle_msgid, medfee_fen, idem_key, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (visit_id) DO NOTHING",
            )
            .bind(&s.id)
            .bind(&s.visit_id)
            .bind(&s.hospital_code)
            .bind(&s.agreement_id)
            .bind(s.state.as_str())
            .bind(&s.presettle_msgid)
            .bind(&s.settle_msgid)
            .bind(s.medfee.0)
            .bind(s.idem_key.clone())
            .bind(&s.created_at)
            .bind(&s.updated_at)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if n == 1 {
                return Ok((s.clone(), true));
            }
        }
        let existing = self.settlement_of_visit(&s.visit_id).await?.ok_or_else(|| StoreError::Corrupt("settlement vanished".into()))?;
        Ok((existing, false))
    }

    pub async fn settlement_of_visit(&self, visit_id: &str) -> StoreResult<Option<SettlementRow>> {
        let row = sqlx::query("SELECT * FROM settlements WHERE visit_id = $1").bind(visit_id).fetch_optional(&self.pool).await?;
        row.map(|r| settlement_from_row(&r)).transpose()
    }

    /// Settlements left between steps (for the recovery worker).
    /// Settlements left between steps and untouched since `before` (RFC 3339), for the recovery worker.
    pub async fn unfinished_settlements(&self, before: &str) -> StoreResult<Vec<SettlementRow>> {
        // The unfinished states by name, so that settlements_by_state serves the query: it runs
        // every few seconds, and finished settlements are nearly all of the table.
        let unfinished: Vec<String> = SettlementState::ALL.iter().filter(|s| !s.is_final()).map(|s| format!("'{}'", s.as_str())).collect();
        let sql = format!(
            "SELECT * FROM settlements WHERE state IN ({}) AND parked_reason IS NULL AND updated_at < $1 ORDER BY created_at LIMIT 1000",
            unfinished.join(", ")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(before).fetch_all(&self.pool).await?;
        rows.iter().map(settlement_from_row).collect()
    }

    /// Counts a failed resumption; after `max_attempts` the settlement is parked for an operator.
    pub async fn note_failed_attempt(&self, id: &str, reason: &str, max_attempts: i64) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        sqlx::query(
            "UPDATE settlements SET attempts = attempts + 1, updated_at = $1, \
             parked_reason = CASE WHEN attempts + 1 >= $2 THEN $3 ELSE parked_reason END WHERE id = $4",
        )
        .bind(now())
        .bind(max_attempts)
        .bind(reason)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes a settlement out of the exceptions queue, for another try.
    pub async fn unpark(&self, id: &str) -> StoreResult<bool> {
        let _guard = self.write_guard().await;
        let n = sqlx::query("UPDATE settlements SET attempts = 0, parked_reason = NULL WHERE id = $1 AND parked_reason IS NOT NULL")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// The exceptions queue: parked settlements, and those stopped on a partner's unusable answer.
    pub async fn exceptions(&self) -> StoreResult<Vec<SettlementRow>> {
        let rows = sqlx::query(
            "SELECT * FROM settlements WHERE parked_reason IS NOT NULL OR (failure_code IS NOT NULL AND state NOT IN ('failed', 'cancelled')) \
             ORDER BY created_at LIMIT 1000",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(settlement_from_row).collect()
    }

    /// Every settlement with its visit's insurance id and its bank agreement, for reconciliation.
    pub async fn settlements_for_audit(&self) -> StoreResult<Vec<(SettlementRow, String, String)>> {
        let rows = sqlx::query(
            "SELECT s.*, v.mdtrt_id AS v_mdtrt_id, a.bank_agreement_id AS a_bank_agreement_id FROM settlements s \
             JOIN visits v ON v.id = s.visit_id JOIN agreements a ON a.id = s.agreement_id ORDER BY s.created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((settlement_from_row(r)?, r.get::<Option<String>, _>("v_mdtrt_id").unwrap_or_default(), r.get("a_bank_agreement_id")))
            })
            .collect()
    }

    /// Bank agreement ids of every agreement ever signed.
    pub async fn bank_agreements(&self) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT bank_code, bank_agreement_id FROM agreements ORDER BY created_at").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| (r.get("bank_code"), r.get("bank_agreement_id"))).collect())
    }

    pub async fn settlement(&self, id: &str) -> StoreResult<Option<SettlementRow>> {
        let row = sqlx::query("SELECT * FROM settlements WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| settlement_from_row(&r)).transpose()
    }

    /// Saves a settlement's new state and posts its transfers, in one transaction: the state and the
    /// money it implies are never apart.
    ///
    /// `from` is the state the caller read: if the row has moved on since (another worker advanced
    /// it), nothing is written and `StaleSettlement` is returned, so no state ever goes backwards.
    pub async fn save_settlement(&self, s: &SettlementRow, from: SettlementState, transfers: &[Transfer]) -> StoreResult<()> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE settlements SET state = $1, cancel_msgid = $2, estimate_cash_fen = $3, setl_id = $4, fund_fen = $5, acct_fen = $6, \
             cash_fen = $7, hosp_part_fen = $8, auth_request_id = $9, auth_status = $10, held_fen = $11, decline_code = $12, \
             captured_fen = $13, unpaid_fen = $14, failure_code = $15, failure_message = $16, setlinfo_json = $17, updated_at = $18 \
             WHERE id = $19 AND state = $20",
        )
        .bind(s.state.as_str())
        .bind(s.cancel_msgid.clone())
        .bind(s.estimate_cash.map(|f| f.0))
        .bind(s.setl_id.clone())
        .bind(s.split.map(|x| x.fund.0))
        .bind(s.split.map(|x| x.personal_account.0))
        .bind(s.split.map(|x| x.cash.0))
        .bind(s.split.map(|x| x.hospital_part.0))
        .bind(s.auth_request_id.clone())
        .bind(s.auth_status.clone())
        .bind(s.held.0)
        .bind(s.decline_code.clone())
        .bind(s.captured.0)
        .bind(s.unpaid.0)
        .bind(s.failure_code.clone())
        .bind(s.failure_message.clone())
        .bind(s.setlinfo_json.clone())
        .bind(now())
        .bind(&s.id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Err(StoreError::StaleSettlement);
        }
        // The visit follows its settlement in the same commit, so a crash cannot leave a settled
        // visit looking open (nothing would ever come back to fix it: the settlement is final).
        let visit_status = match s.state {
            SettlementState::Settled | SettlementState::SettledUnpaid => Some(VisitStatus::Settled),
            SettlementState::Cancelled => Some(VisitStatus::Cancelled),
            _ => None,
        };
        if let Some(status) = visit_status {
            sqlx::query("UPDATE visits SET status = $1 WHERE id = $2").bind(status.as_str()).bind(&s.visit_id).execute(&mut *tx).await?;
        }
        for t in transfers {
            post_transfer(&mut tx, t).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The whole ledger: every account's totals, checked against a recomputation from the transfers.
    pub async fn ledger_report(&self) -> StoreResult<LedgerReport> {
        let rows = sqlx::query("SELECT * FROM ledger_accounts ORDER BY id").fetch_all(&self.pool).await?;
        let mut accounts = BTreeMap::new();
        for r in &rows {
            accounts.insert(
                r.get::<String, _>("id"),
                AccountBalance {
                    debits_pending: Fen(r.get("debits_pending")),
                    debits_posted: Fen(r.get("debits_posted")),
                    credits_pending: Fen(r.get("credits_pending")),
                    credits_posted: Fen(r.get("credits_posted")),
                },
            );
        }
        let transfers = sqlx::query("SELECT * FROM ledger_transfers ORDER BY created_at, id").fetch_all(&self.pool).await?;
        let mut recomputed: BTreeMap<String, AccountBalance> = BTreeMap::new();
        let mut pending: BTreeMap<String, Fen> = BTreeMap::new();
        for r in &transfers {
            let t = transfer_from_row(r)?;
            let held = t.pending_id.as_ref().and_then(|p| pending.remove(p));
            let mut debit = recomputed.remove(&t.debit_account).unwrap_or_default();
            let mut credit = recomputed.remove(&t.credit_account).unwrap_or_default();
            ledger::apply(&t, &mut debit, AccountLimit::None, &mut credit, held)?;
            if t.kind == TransferKind::Pending {
                pending.insert(t.id.clone(), t.amount);
            }
            recomputed.insert(t.debit_account.clone(), debit);
            recomputed.insert(t.credit_account.clone(), credit);
        }
        let balanced = ledger::is_balanced(accounts.values()) && recomputed == accounts;
        Ok(LedgerReport { balanced, transfer_count: transfers.len() as i64, accounts })
    }
}

/// Writes one transfer and moves the two accounts' totals, inside the caller's transaction.
/// A transfer id already in the ledger is skipped if identical (a retried step) and refused if not.
async fn post_transfer(tx: &mut sqlx::Transaction<'_, sqlx::Any>, t: &Transfer) -> StoreResult<()> {
    ledger::validate(t)?;
    let inserted = sqlx::query(
        "INSERT INTO ledger_transfers (id, debit_account, credit_account, amount_fen, kind, pending_id, code, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&t.id)
    .bind(&t.debit_account)
    .bind(&t.credit_account)
    .bind(t.amount.0)
    .bind(t.kind.as_str())
    .bind(t.pending_id.clone())
    .bind(&t.code)
    .bind(now())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        let existing = sqlx::query("SELECT * FROM ledger_transfers WHERE id = $1").bind(&t.id).fetch_one(&mut **tx).await?;
        let existing = transfer_from_row(&existing)?;
        if &existing == t {
            return Ok(());
        }
        return Err(StoreError::Conflict(format!("transfer {} was already posted with other values", t.id)));
    }
    for account in [&t.debit_account, &t.credit_account] {
        sqlx::query("INSERT INTO ledger_accounts (id) VALUES ($1) ON CONFLICT (id) DO NOTHING").bind(account).execute(&mut **tx).await?;
    }
    let held = match &t.pending_id {
        Some(pending_id) => {
            let row = sqlx::query("SELECT amount_fen FROM ledger_transfers WHERE id = $1 AND kind = 'pending'")
                .bind(pending_id)
                .fetch_optional(&mut **tx)
                .await?;
            let closed = sqlx::query("SELECT id FROM ledger_transfers WHERE pending_id = $1 AND id <> $2")
                .bind(pending_id)
                .bind(&t.id)
                .fetch_optional(&mut **tx)
                .await?;
            match (row, closed) {
                (Some(r), None) => Some(Fen(r.get("amount_fen"))),
                _ => return Err(ledger::LedgerError::PendingNotOpen(t.id.clone()).into()),
            }
        }
        None => None,
    };
    let (posted, pending_delta) = match t.kind {
        TransferKind::Posted => (t.amount.0, 0),
        TransferKind::Pending => (0, t.amount.0),
        TransferKind::PostPending => {
            let held = held.unwrap_or_default();
            if t.amount > held {
                return Err(ledger::LedgerError::PostExceedsPending(t.id.clone()).into());
            }
            (t.amount.0, -held.0)
        }
        TransferKind::VoidPending => (0, -held.unwrap_or_default().0),
    };
    sqlx::query("UPDATE ledger_accounts SET debits_posted = debits_posted + $1, debits_pending = debits_pending + $2 WHERE id = $3")
        .bind(posted)
        .bind(pending_delta)
        .bind(&t.debit_account)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE ledger_accounts SET credits_posted = credits_posted + $1, credits_pending = credits_pending + $2 WHERE id = $3")
        .bind(posted)
        .bind(pending_delta)
        .bind(&t.credit_account)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn transfer_from_row(r: &AnyRow) -> StoreResult<Transfer> {
    let kind: String = r.get("kind");
    Ok(Transfer {
        id: r.get("id"),
        debit_account: r.get("debit_account"),
        credit_account: r.get("credit_account"),
        amount: Fen(r.get("amount_fen")),
        kind: TransferKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("transfer kind {kind}")))?,
        pending_id: r.get("pending_id"),
        code: r.get("code"),
    })
}

fn agreement_from_row(r: &AnyRow) -> StoreResult<AgreementRow> {
    let method: String = r.get("payment_method");
    let status: String = r.get("status");
    Ok(AgreementRow {
        id: r.get("id"),
        psn_no: r.get("psn_no"),
        insutype: r.get("insutype"),
        insuplc_admdvs: r.get("insuplc_admdvs"),
        name_enc: r.get("name_enc"),
        certno_enc: r.get("certno_enc"),
        certno_index: r.get("certno_index"),
        use_personal_account: r.get::<i64, _>("use_personal_account") != 0,
        payment_method: PaymentMethod::parse(&method).ok_or_else(|| StoreError::Corrupt(format!("payment method {method}")))?,
        bank_code: r.get("bank_code"),
        bank_agreement_id: r.get("bank_agreement_id"),
        status: AgreementStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("agreement status {status}")))?,
        suspended_reason: r.get("suspended_reason"),
        created_at: r.get("created_at"),
    })
}

fn visit_from_row(r: &AnyRow) -> StoreResult<VisitRow> {
    let status: String = r.get("status");
    Ok(VisitRow {
        id: r.get("id"),
        hospital_code: r.get("hospital_code"),
        ipt_otp_no: r.get("ipt_otp_no"),
        psn_no: r.get("psn_no"),
        insutype: r.get("insutype"),
        insuplc_admdvs: r.get("insuplc_admdvs"),
        mdtrt_cert_type: r.get("mdtrt_cert_type"),
        mdtrt_cert_no_enc: r.get("mdtrt_cert_no_enc"),
        med_type: r.get("med_type"),
        register_msgid: r.get("register_msgid"),
        begntime: r.get("begntime"),
        mdtrt_id: r.get::<Option<String>, _>("mdtrt_id").unwrap_or_default(),
        agreement_id: r.get("agreement_id"),
        seamless_reason: r.get("seamless_reason"),
        status: VisitStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("visit status {status}")))?,
        idem_key: r.get("idem_key"),
        created_at: r.get("created_at"),
    })
}

fn settlement_from_row(r: &AnyRow) -> StoreResult<SettlementRow> {
    let state: String = r.get("state");
    let split = match (
        r.get::<Option<i64>, _>("fund_fen"),
        r.get::<Option<i64>, _>("acct_fen"),
        r.get::<Option<i64>, _>("cash_fen"),
        r.get::<Option<i64>, _>("hosp_part_fen"),
    ) {
        (Some(fund), Some(acct), Some(cash), Some(hosp)) => Some(wugan_domain::settlement::InsuranceSplit {
            medfee: Fen(r.get("medfee_fen")),
            fund: Fen(fund),
            personal_account: Fen(acct),
            cash: Fen(cash),
            hospital_part: Fen(hosp),
        }),
        _ => None,
    };
    Ok(SettlementRow {
        id: r.get("id"),
        visit_id: r.get("visit_id"),
        hospital_code: r.get("hospital_code"),
        agreement_id: r.get("agreement_id"),
        state: SettlementState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("settlement state {state}")))?,
        presettle_msgid: r.get("presettle_msgid"),
        settle_msgid: r.get("settle_msgid"),
        cancel_msgid: r.get("cancel_msgid"),
        medfee: Fen(r.get("medfee_fen")),
        estimate_cash: r.get::<Option<i64>, _>("estimate_cash_fen").map(Fen),
        setl_id: r.get("setl_id"),
        split,
        auth_request_id: r.get("auth_request_id"),
        auth_status: r.get("auth_status"),
        held: Fen(r.get("held_fen")),
        decline_code: r.get("decline_code"),
        captured: Fen(r.get("captured_fen")),
        unpaid: Fen(r.get("unpaid_fen")),
        failure_code: r.get("failure_code"),
        failure_message: r.get("failure_message"),
        setlinfo_json: r.get("setlinfo_json"),
        attempts: r.get("attempts"),
        parked_reason: r.get("parked_reason"),
        idem_key: r.get("idem_key"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    })
}

fn account_repayment_from_row(row: &AnyRow) -> AccountRepaymentRow {
    AccountRepaymentRow {
        id: row.get("id"),
        agreement_id: row.get("agreement_id"),
        idem_key: row.get("idem_key"),
        amount: Fen(row.get("amount_fen")),
        state: row.get("state"),
        debit_msgid: row.get("debit_msgid"),
        cancel_msgid: row.get("cancel_msgid"),
        txn_id: row.get("txn_id"),
        failure: row.get("failure"),
        created_at: row.get("created_at"),
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

    #[test]
    fn comments_may_hold_semicolons() {
        let sql = "-- one; two\nCREATE TABLE a (x INT);\n  -- three;\nCREATE INDEX b ON a (x);\n";
        assert_eq!(sql_statements(sql), vec!["CREATE TABLE a (x INT)", "CREATE INDEX b ON a (x)"]);
    }

    #[test]
    fn every_shipped_migration_splits_into_statements() {
        for (version, _, sql) in MIGRATIONS {
            let statements = sql_statements(sql);
            assert!(!statements.is_empty(), "migration {version}");
            assert!(statements.iter().all(|s| s.starts_with("CREATE")), "migration {version}: {statements:?}");
        }
    }
}
