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
        Ok(Gauges {
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

fn journal_entry(r: &SqlRow) -> JournalEntry {
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

/// One hospital's (and one bank's) settlements of a day, summed in the database: a city's day is
/// millions of visits, never read row by row into a page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayTotalsRow {
    pub hospital_code: String,
    /// The bank of the agreement that paid (`None` on the visits-only rows).
    pub bank_code: Option<String>,
    pub visits: i64,
    pub settled: i64,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub account_fen: i64,
    pub bank_fen: i64,
    pub unpaid_fen: i64,
    /// Settlements cancelled (their money refunded).
    pub cancelled: i64,
}

impl Store {
    /// The totals of the visits registered in `[from, before)` (stored times): a row per hospital
    /// with its visit count, and a row per hospital and bank with the settlements' sums.
    pub async fn day_totals(&self, from: &str, before: &str) -> StoreResult<Vec<DayTotalsRow>> {
        let mut rows = Vec::new();
        let visits = query(
            "SELECT hospital_code, CAST(COUNT(*) AS BIGINT) AS n FROM visits WHERE created_at >= $1 AND created_at < $2 GROUP BY hospital_code",
        )
        .bind(from)
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        for r in visits {
            rows.push(DayTotalsRow { hospital_code: r.get("hospital_code"), visits: r.get("n"), ..DayTotalsRow::default() });
        }
        let sums = query(
            "SELECT v.hospital_code AS hospital_code, a.bank_code AS bank_code, \
             CAST(COALESCE(SUM(CASE WHEN s.state IN ('settled', 'settled_unpaid') THEN 1 ELSE 0 END), 0) AS BIGINT) AS settled, \
             CAST(COALESCE(SUM(CASE WHEN s.state IN ('settled', 'settled_unpaid') THEN s.medfee_fen ELSE 0 END), 0) AS BIGINT) AS medfee, \
             CAST(COALESCE(SUM(CASE WHEN s.state IN ('settled', 'settled_unpaid') THEN COALESCE(s.fund_fen, 0) ELSE 0 END), 0) AS BIGINT) AS fund, \
             CAST(COALESCE(SUM(CASE WHEN s.state IN ('settled', 'settled_unpaid') THEN COALESCE(s.acct_fen, 0) ELSE 0 END), 0) AS BIGINT) AS acct, \
             CAST(COALESCE(SUM(CASE WHEN s.state IN ('settled', 'settled_unpaid') THEN s.captured_fen ELSE 0 END), 0) AS BIGINT) AS bank, \
             CAST(COALESCE(SUM(CASE WHEN s.state IN ('settled', 'settled_unpaid') THEN s.unpaid_fen ELSE 0 END), 0) AS BIGINT) AS unpaid, \
             CAST(COALESCE(SUM(CASE WHEN s.state = 'cancelled' THEN 1 ELSE 0 END), 0) AS BIGINT) AS cancelled \
             FROM settlements s JOIN visits v ON v.id = s.visit_id LEFT JOIN agreements a ON a.id = s.agreement_id \
             WHERE v.created_at >= $1 AND v.created_at < $2 GROUP BY v.hospital_code, a.bank_code",
        )
        .bind(from)
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        for r in sums {
            rows.push(DayTotalsRow {
                hospital_code: r.get("hospital_code"),
                bank_code: r.get("bank_code"),
                visits: 0,
                settled: r.get("settled"),
                medfee_fen: r.get("medfee"),
                fund_fen: r.get("fund"),
                account_fen: r.get("acct"),
                bank_fen: r.get("bank"),
                unpaid_fen: r.get("unpaid"),
                cancelled: r.get("cancelled"),
            });
        }
        Ok(rows)
    }
}
