//! Reads for operators and the metrics: counts over the settlements and repayments, the pool's
//! connections. Read-only; nothing here takes the write lock.

use super::settlements::UNFINISHED_SETTLEMENTS;
use super::*;
use crate::metrics::Gauges;

impl Store {
    /// The gauges `/metrics` reads from the database and the pool at each scrape.
    pub async fn operations_gauges(&self) -> StoreResult<Gauges> {
        let sql = format!(
            "SELECT COUNT(*) AS backlog, COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0) AS unknown \
             FROM settlements WHERE state IN {UNFINISHED_SETTLEMENTS} AND parked_reason IS NULL"
        );
        let row = query(sql).fetch_one(&self.pool).await?;
        let (settlements, unknown): (i64, i64) = (row.get("backlog"), row.get("unknown"));
        let repayments: i64 =
            query("SELECT COUNT(*) AS n FROM account_repayments WHERE state IN ('started', 'account_debited', 'returning')")
                .fetch_one(&self.pool)
                .await?
                .get("n");
        let exceptions: i64 = query(
            "SELECT COUNT(*) AS n FROM settlements WHERE parked_reason IS NOT NULL \
             OR (failure_code IS NOT NULL AND state NOT IN ('failed', 'cancelled'))",
        )
        .fetch_one(&self.pool)
        .await?
        .get("n");
        let (in_use, idle) = match &self.pool {
            Reads::Any(pool) => {
                let (size, idle) = (u64::from(pool.size()), pool.num_idle() as u64);
                (size.saturating_sub(idle), idle)
            }
            // SQLite's read connections are in use only while a statement runs.
            Reads::Lite(reads) => {
                let (idle, busy) = reads.idle_and_busy();
                (busy as u64, idle as u64)
            }
        };
        let differences = self.open_reconciliation_exceptions(10_000).await?.len() as i64;
        Ok(Gauges {
            reconciliation_differences_open: differences,
            unknown_outcomes_in_flight: unknown,
            recovery_backlog: settlements + repayments,
            exceptions_open: exceptions,
            pool_in_use: in_use,
            pool_idle: idle,
        })
    }
}

/// One ledger transfer as the journal shows it, with the time it was posted.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct JournalEntry {
    pub id: String,
    pub debit_account: String,
    pub credit_account: String,
    pub amount_fen: i64,
    /// `posted`, `pending`, `post_pending` or `void_pending`.
    pub kind: String,
    pub pending_id: Option<String>,
    pub code: String,
    pub created_at: String,
}

/// The journal's page size, at most.
pub const MAX_JOURNAL_PAGE: i64 = 500;

impl Store {
    /// Every settlement attempt of a visit, oldest first.
    pub async fn settlements_of_visit(&self, visit_id: &str) -> StoreResult<Vec<SettlementRow>> {
        let ids = query("SELECT id FROM settlements WHERE visit_id = $1 ORDER BY created_at, id LIMIT 100")
            .bind(visit_id)
            .fetch_all(&self.pool)
            .await?;
        let mut attempts = Vec::with_capacity(ids.len());
        for row in &ids {
            let id: String = row.get("id");
            attempts.extend(self.settlement(&id).await?);
        }
        Ok(attempts)
    }

    /// The transfers a settlement posted (their ids are `settle:{settlement}:{step}`), in order.
    pub async fn transfers_of_settlement(&self, settlement_id: &str) -> StoreResult<Vec<JournalEntry>> {
        let prefix = format!("settle:{settlement_id}:%");
        let rows = query("SELECT * FROM ledger_transfers WHERE id LIKE $1 ORDER BY created_at, id LIMIT 1000")
            .bind(prefix)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(journal_entry).collect())
    }

    /// The ledger's journal: transfers posted at `from` or later and before `to` (stored times),
    /// after the transfer `after` (a cursor from the previous page), at most `limit`, in order.
    pub async fn journal(&self, from: &str, to: &str, after: Option<&str>, limit: i64) -> StoreResult<Vec<JournalEntry>> {
        let limit = limit.clamp(1, MAX_JOURNAL_PAGE);
        let rows = match after {
            None => {
                query("SELECT * FROM ledger_transfers WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at, id LIMIT $3")
                    .bind(from)
                    .bind(to)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            Some(after) => {
                query(
                    "SELECT t.* FROM ledger_transfers t, ledger_transfers c WHERE c.id = $3 \
                     AND t.created_at >= $1 AND t.created_at < $2 \
                     AND (t.created_at > c.created_at OR (t.created_at = c.created_at AND t.id > c.id)) \
                     ORDER BY t.created_at, t.id LIMIT $4",
                )
                .bind(from)
                .bind(to)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows.iter().map(journal_entry).collect())
    }
}

pub(super) fn journal_entry(r: &SqlRow) -> JournalEntry {
    JournalEntry {
        id: r.get("id"),
        debit_account: r.get("debit_account"),
        credit_account: r.get("credit_account"),
        amount_fen: r.get("amount_fen"),
        kind: r.get("kind"),
        pending_id: r.get("pending_id"),
        code: r.get("code"),
        created_at: r.get("created_at"),
    }
}

/// One hospital's (and one bank's) business day as the hospital's statement (日结单) counts it,
/// summed in the database: settlements by the time they were made, a bill collected since no
/// longer owed, and the bank's refunds of the day (of this day's settlements or earlier ones).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayFiguresRow {
    pub hospital_code: String,
    /// The bank of the agreement that paid (`None` on the visits-only rows, on settlements
    /// without an agreement, and on refunds whose bank account is not `bank:{code}:…`).
    pub bank_code: Option<String>,
    /// Outpatient visits registered in the day.
    pub visits: i64,
    /// Settlements made in the day that stand (settled, settled unpaid): visits' and stays'.
    pub settled: i64,
    /// Of `settled`, inpatient stays settled at the bedside.
    pub stays_settled: i64,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub account_fen: i64,
    pub bank_fen: i64,
    /// Bills still owed by patients, and how much (collected ones are not counted).
    pub unpaid_bills: i64,
    pub unpaid_fen: i64,
    /// Billed at the click and collected from the patient's line since (补扣).
    pub collected_fen: i64,
    /// Settlements made in the day and cancelled since (结算撤销).
    pub cancelled: i64,
    /// The bank's refunds posted in the day, and their sum.
    pub refunds: i64,
    pub refunded_fen: i64,
}

impl Store {
    /// The figures of `[from, before)` (stored times) for outpatient visits: a row per hospital
    /// with its visits registered, a row per hospital and bank with the settlements' sums, and a
    /// row per hospital and bank account with the bank's refunds. Stays are the caller's
    /// (`App::operator_day`): they live in the stay invoice outbox.
    pub async fn day_figures(&self, from: &str, before: &str) -> StoreResult<Vec<DayFiguresRow>> {
        let mut rows = Vec::new();
        let visits = query(
            "SELECT hospital_code, CAST(COUNT(*) AS BIGINT) AS n FROM visits WHERE created_at >= $1 AND created_at < $2 GROUP BY hospital_code",
        )
        .bind(from)
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        for r in visits {
            rows.push(DayFiguresRow { hospital_code: r.get("hospital_code"), visits: r.get("n"), ..DayFiguresRow::default() });
        }
        // As `reconciliation_settlements` reads them for the statement: made in the day, with the
        // collection of their bill (one row per settlement: bill_collections is keyed by it).
        let standing = "s.state IN ('settled', 'settled_unpaid')";
        let owed = "(s.unpaid_fen - COALESCE(b.amount_fen, 0))";
        let sums = query(format!(
            "SELECT s.hospital_code AS hospital_code, a.bank_code AS bank_code, \
             CAST(COALESCE(SUM(CASE WHEN {standing} THEN 1 ELSE 0 END), 0) AS BIGINT) AS settled, \
             CAST(COALESCE(SUM(CASE WHEN {standing} THEN s.medfee_fen ELSE 0 END), 0) AS BIGINT) AS medfee, \
             CAST(COALESCE(SUM(CASE WHEN {standing} THEN COALESCE(s.fund_fen, 0) ELSE 0 END), 0) AS BIGINT) AS fund, \
             CAST(COALESCE(SUM(CASE WHEN {standing} THEN COALESCE(s.acct_fen, 0) ELSE 0 END), 0) AS BIGINT) AS acct, \
             CAST(COALESCE(SUM(CASE WHEN {standing} THEN s.captured_fen ELSE 0 END), 0) AS BIGINT) AS bank, \
             CAST(COALESCE(SUM(CASE WHEN {standing} AND {owed} > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS unpaid_bills, \
             CAST(COALESCE(SUM(CASE WHEN {standing} THEN {owed} ELSE 0 END), 0) AS BIGINT) AS unpaid, \
             CAST(COALESCE(SUM(CASE WHEN {standing} THEN COALESCE(b.amount_fen, 0) ELSE 0 END), 0) AS BIGINT) AS collected, \
             CAST(COALESCE(SUM(CASE WHEN s.state = 'cancelled' THEN 1 ELSE 0 END), 0) AS BIGINT) AS cancelled \
             FROM settlements s LEFT JOIN agreements a ON a.id = s.agreement_id \
             LEFT JOIN bill_collections b ON b.settlement_id = s.id AND b.state = 'collected' \
             WHERE s.created_at >= $1 AND s.created_at < $2 GROUP BY s.hospital_code, a.bank_code"
        ))
        .bind(from)
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        for r in sums {
            rows.push(DayFiguresRow {
                hospital_code: r.get("hospital_code"),
                bank_code: r.get("bank_code"),
                settled: r.get("settled"),
                medfee_fen: r.get("medfee"),
                fund_fen: r.get("fund"),
                account_fen: r.get("acct"),
                bank_fen: r.get("bank"),
                unpaid_bills: r.get("unpaid_bills"),
                unpaid_fen: r.get("unpaid"),
                collected_fen: r.get("collected"),
                cancelled: r.get("cancelled"),
                ..DayFiguresRow::default()
            });
        }
        // The bank's refunds of the day, as the statement's `refunded_fen`: a `bank_refund`
        // transfer debits `hospital:{code}` and credits the patient's `bank:{bank}:{agreement}`.
        let refunds = query(
            "SELECT debit_account, credit_account, CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS fen \
             FROM ledger_transfers WHERE code = 'bank_refund' AND debit_account LIKE 'hospital:%' \
             AND created_at >= $1 AND created_at < $2 GROUP BY debit_account, credit_account",
        )
        .bind(from)
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        for r in refunds {
            let (debit, credit): (String, String) = (r.get("debit_account"), r.get("credit_account"));
            let Some(hospital_code) = debit.strip_prefix("hospital:") else { continue };
            let bank_code = credit.strip_prefix("bank:").and_then(|rest| rest.split(':').next()).map(str::to_string);
            rows.push(DayFiguresRow {
                hospital_code: hospital_code.to_string(),
                bank_code,
                refunds: r.get("n"),
                refunded_fen: r.get("fen"),
                ..DayFiguresRow::default()
            });
        }
        Ok(rows)
    }
}

/// One partner's reconciliation run of a business day, as stored (migration 0010).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconciliationRunRow {
    pub business_date: String,
    /// `insurance`, `bank:<code>` or `hospitals`.
    pub partner: String,
    pub records: i64,
    pub matched: i64,
    pub in_transit: i64,
    pub mismatches: i64,
    pub resolved: i64,
    pub exceptions: i64,
    /// When it ran (stored time, UTC).
    pub created_at: String,
}

impl Store {
    /// The latest run of each partner for `business_date` (`YYYY-MM-DD`), by partner; empty
    /// when the day was never reconciled. A later run of a date supersedes an earlier one, as in
    /// `open_reconciliation_exceptions`.
    pub async fn latest_reconciliation_runs(&self, business_date: &str) -> StoreResult<Vec<ReconciliationRunRow>> {
        let rows = query(
            "SELECT r.business_date, r.partner, r.records, r.matched, r.in_transit, r.mismatches, r.resolved, r.exceptions, r.created_at \
             FROM reconciliation_runs r WHERE r.business_date = $1 AND r.created_at = (SELECT MAX(r2.created_at) \
             FROM reconciliation_runs r2 WHERE r2.business_date = r.business_date AND r2.partner = r.partner) \
             ORDER BY r.partner LIMIT 100",
        )
        .bind(business_date)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ReconciliationRunRow {
                business_date: r.get("business_date"),
                partner: r.get("partner"),
                records: r.get("records"),
                matched: r.get("matched"),
                in_transit: r.get("in_transit"),
                mismatches: r.get("mismatches"),
                resolved: r.get("resolved"),
                exceptions: r.get("exceptions"),
                created_at: r.get("created_at"),
            })
            .collect())
    }
}
