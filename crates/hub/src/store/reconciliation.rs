//! What the daily reconciliation reads (the hub's side of a day, in bulk: one query per side,
//! never one per record) and what it writes (its runs and their differences, migration 0010).

use super::refunds::{refund_from_row, REFUND_COLUMNS};
use super::*;

/// A settlement of the day as reconciliation sees it, with its visit's bucket fields.
#[derive(Clone, Debug)]
pub struct ReconSettlement {
    pub id: String,
    pub visit_id: String,
    pub hospital_code: String,
    pub state: String,
    pub setl_id: Option<String>,
    pub medfee_fen: i64,
    pub fund_fen: Option<i64>,
    pub acct_fen: Option<i64>,
    pub cash_fen: Option<i64>,
    pub hosp_part_fen: Option<i64>,
    pub captured_fen: i64,
    pub unpaid_fen: i64,
    /// The part of `unpaid_fen` collected from the line later (补扣, `bill_collections`).
    pub collected_fen: i64,
    pub setlinfo_json: Option<String>,
    pub created_at: String,
    pub mdtrt_id: String,
    pub psn_no: String,
    pub insutype: String,
    pub insuplc_admdvs: String,
    /// Who settled its insurance: `ALL`/`HI` the hub, `CASH` the hospital with its own platform.
    /// `HI` (insurance only, `settlements.cash_at_hospital`): the hospital collected the cash
    /// share itself, so the bank has no line for it.
    pub setl_type: String,
}

/// A ledger transfer that moved money at a bank (a capture posted, a refund).
#[derive(Clone, Debug)]
pub struct BankTransfer {
    pub id: String,
    pub code: String,
    pub debit_account: String,
    pub credit_account: String,
    pub amount_fen: i64,
    pub created_at: String,
}

/// One partner's run, as stored.
#[derive(Clone, Debug)]
pub struct ReconciliationRun {
    pub id: String,
    pub business_date: String,
    pub partner: String,
    pub records: i64,
    pub matched: i64,
    pub in_transit: i64,
    pub resolved: i64,
    pub exceptions: i64,
}

/// One difference, with both sides' evidence and what became of it.
#[derive(Clone, Debug)]
pub struct ReconciliationItem {
    pub record_key: String,
    /// `partner_only`, `hub_only`, `amounts_differ` or `in_transit`.
    pub class: &'static str,
    /// `resolved`, `exception` or `in_transit`.
    pub resolution: &'static str,
    pub hub_evidence: Option<String>,
    pub partner_evidence: Option<String>,
    pub note: String,
}

/// Settlements with their visits' bucket fields.
const RECON_SELECT: &str = "SELECT s.id, s.visit_id, s.hospital_code, s.state, s.setl_id, s.medfee_fen, s.fund_fen, s.acct_fen, \
     s.cash_fen, s.hosp_part_fen, s.captured_fen, s.unpaid_fen, s.setlinfo_json, s.created_at, v.mdtrt_id, v.psn_no, v.insutype, \
     v.insuplc_admdvs, CASE WHEN s.cash_at_hospital <> 0 THEN 'HI' ELSE COALESCE(m.setl_type, 'ALL') END AS setl_type, COALESCE(b.amount_fen, 0) AS collected_fen \
     FROM settlements s JOIN visits v ON v.id = s.visit_id LEFT JOIN settlement_records m ON m.settlement_id = s.id \
     LEFT JOIN bill_collections b ON b.settlement_id = s.id AND b.state = 'collected'";
/// A day's settlements; `$1`, `$2`: the stored-time range.
const RECON_SETTLEMENTS: &str = "WHERE s.created_at >= $1 AND s.created_at < $2";

impl Store {
    /// Settlements created in `[from, to)` (stored times), with their visits.
    pub async fn reconciliation_settlements(&self, from: &str, to: &str) -> StoreResult<Vec<ReconSettlement>> {
        let sql = format!("{RECON_SELECT} {RECON_SETTLEMENTS} ORDER BY s.created_at");
        let rows = query(sql).bind(from).bind(to).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(recon_settlement_from_row).collect())
    }

    /// One hospital's settlements created in `[from, to)`.
    pub async fn hospital_settlements(&self, hospital_code: &str, from: &str, to: &str) -> StoreResult<Vec<ReconSettlement>> {
        let sql = format!("{RECON_SELECT} {RECON_SETTLEMENTS} AND s.hospital_code = $3 ORDER BY s.created_at");
        let rows = query(sql).bind(from).bind(to).bind(hospital_code).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(recon_settlement_from_row).collect())
    }

    /// One settlement by id, as a day's read has it (a click refunded days later, app/refunds.rs).
    pub async fn reconciliation_settlement(&self, id: &str) -> StoreResult<Option<ReconSettlement>> {
        let sql = format!("{RECON_SELECT} WHERE s.id = $1");
        let row = query(sql).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(recon_settlement_from_row))
    }

    /// The settlements of one visit of `hospital_code` (its `mdtrt_id`), read again when the
    /// day's read and a partner's file differ on it (app/reconciliation_recheck.rs).
    pub async fn reconciliation_settlements_of_visit(&self, hospital_code: &str, mdtrt_id: &str) -> StoreResult<Vec<ReconSettlement>> {
        let sql = format!("{RECON_SELECT} WHERE s.hospital_code = $1 AND v.mdtrt_id = $2 ORDER BY s.created_at");
        let rows = query(sql).bind(hospital_code).bind(mdtrt_id).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(recon_settlement_from_row).collect())
    }

    /// Refunds finished (`refunded`) in `[from, to)` (their last change), of one hospital or of
    /// all, oldest first: the hospital statement's and the operator's day figures' (a refund
    /// reverses a settlement of its own day or an earlier one, and re-settles on its own day).
    pub async fn refunds_finished_of(&self, hospital_code: Option<&str>, from: &str, to: &str) -> StoreResult<Vec<RefundRow>> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS}, parked_reason FROM refunds WHERE state = 'refunded' AND updated_at >= $1 AND updated_at < $2 \
             AND ($3 = '' OR hospital_code = $3) ORDER BY updated_at, id"
        );
        let rows = query(sql).bind(from).bind(to).bind(hospital_code.unwrap_or_default()).fetch_all(&self.pool).await?;
        rows.iter().map(refund_from_row).collect()
    }

    /// The captures and refunds the ledger posted in `[from, to)`.
    pub async fn bank_transfers(&self, from: &str, to: &str) -> StoreResult<Vec<BankTransfer>> {
        let rows = query(
            "SELECT id, code, debit_account, credit_account, amount_fen, created_at FROM ledger_transfers \
             WHERE code IN ('bank_share', 'bank_refund', 'hold_post') AND created_at >= $1 AND created_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(bank_transfer_from_row).collect())
    }

    /// The captures and refunds posted in `[from, to)` whose ids start with `prefix` (one
    /// settlement's `settle:{id}:`, one stay's `stay:{id}:`), read again for one bank difference.
    pub async fn bank_transfers_under(&self, prefix: &str, from: &str, to: &str) -> StoreResult<Vec<BankTransfer>> {
        let rows = query(
            "SELECT id, code, debit_account, credit_account, amount_fen, created_at FROM ledger_transfers \
             WHERE id LIKE $1 ESCAPE '\\' AND code IN ('bank_share', 'bank_refund', 'hold_post') AND created_at >= $2 AND created_at < $3",
        )
        .bind(super::operator_stays::starting_with(prefix))
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        // LIKE ignores case in SQLite: the prefix is held exactly here.
        Ok(rows.iter().map(bank_transfer_from_row).filter(|t| t.id.starts_with(prefix)).collect())
    }

    /// Writes one run and its differences in one transaction.
    pub async fn save_reconciliation(&self, run: &ReconciliationRun, items: &[ReconciliationItem]) -> StoreResult<()> {
        let (run, items, now) = (run.clone(), items.to_vec(), self.now());
        self.write(move |c| Box::pin(async move { insert_reconciliation(c, &run, &items, now).await })).await
    }

    /// Whether the latest run of `date` with `partner` left the difference `record_key` for an
    /// operator; and the note it was marked handled with, if it was.
    pub async fn reconciliation_difference(&self, date: &str, partner: &str, key: &str) -> StoreResult<(bool, Option<(String, String)>)> {
        let left = query(
            "SELECT 1 AS one FROM reconciliation_mismatches m JOIN reconciliation_runs r ON r.id = m.run_id \
             WHERE r.business_date = $1 AND r.partner = $2 AND m.record_key = $3 AND m.resolution = 'exception' \
             AND r.created_at = (SELECT MAX(r2.created_at) FROM reconciliation_runs r2 WHERE r2.business_date = $1 AND r2.partner = $2)",
        )
        .bind(date)
        .bind(partner)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?
        .is_some();
        let handled =
            query("SELECT note, created_at FROM reconciliation_handled WHERE business_date = $1 AND partner = $2 AND record_key = $3")
                .bind(date)
                .bind(partner)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| (r.get("note"), r.get("created_at")));
        Ok((left, handled))
    }

    /// Marks a difference handled with the operator's note (the first note stands); returns the
    /// note and time kept.
    pub async fn mark_reconciliation_handled(&self, date: &str, partner: &str, key: &str, note: &str) -> StoreResult<(String, String)> {
        let (date, partner, key, note, now) = (date.to_string(), partner.to_string(), key.to_string(), note.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "INSERT INTO reconciliation_handled (business_date, partner, record_key, note, created_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (business_date, partner, record_key) DO NOTHING",
                )
                .bind(&date)
                .bind(&partner)
                .bind(&key)
                .bind(&note)
                .bind(&now)
                .execute(&mut *c)
                .await?;
                let row = query(
                    "SELECT note, created_at FROM reconciliation_handled WHERE business_date = $1 AND partner = $2 AND record_key = $3",
                )
                .bind(&date)
                .bind(&partner)
                .bind(&key)
                .fetch_one(&mut *c)
                .await?;
                Ok((row.get("note"), row.get("created_at")))
            })
        })
        .await
    }

    /// The differences left for an operator by the latest run of each date and partner (a later
    /// run of the same date supersedes an earlier one), those marked handled left out, newest
    /// date first, at most `limit`.
    pub async fn open_reconciliation_exceptions(&self, limit: i64) -> StoreResult<Vec<(String, String, ReconciliationItem)>> {
        let rows = query(
            "SELECT r.business_date, r.partner, m.record_key, m.class, m.hub_evidence, m.partner_evidence, m.note \
             FROM reconciliation_mismatches m JOIN reconciliation_runs r ON r.id = m.run_id \
             WHERE m.resolution = 'exception' AND r.created_at = (SELECT MAX(r2.created_at) FROM reconciliation_runs r2 \
             WHERE r2.business_date = r.business_date AND r2.partner = r.partner) \
             AND NOT EXISTS (SELECT 1 FROM reconciliation_handled h WHERE h.business_date = r.business_date \
             AND h.partner = r.partner AND h.record_key = m.record_key) \
             ORDER BY r.business_date DESC, r.partner, m.n LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let class_of = |text: String| ["partner_only", "hub_only", "amounts_differ", "in_transit"].into_iter().find(|c| *c == text);
        rows.into_iter()
            .map(|r| {
                let class = class_of(r.get("class")).ok_or_else(|| StoreError::Corrupt("reconciliation class".into()))?;
                let item = ReconciliationItem {
                    record_key: r.get("record_key"),
                    class,
                    resolution: "exception",
                    hub_evidence: r.get("hub_evidence"),
                    partner_evidence: r.get("partner_evidence"),
                    note: r.get("note"),
                };
                Ok((r.get("business_date"), r.get("partner"), item))
            })
            .collect()
    }
}

fn bank_transfer_from_row(r: &SqlRow) -> BankTransfer {
    BankTransfer {
        id: r.get("id"),
        code: r.get("code"),
        debit_account: r.get("debit_account"),
        credit_account: r.get("credit_account"),
        amount_fen: r.get("amount_fen"),
        created_at: r.get("created_at"),
    }
}

fn recon_settlement_from_row(r: &SqlRow) -> ReconSettlement {
    ReconSettlement {
        id: r.get("id"),
        visit_id: r.get("visit_id"),
        hospital_code: r.get("hospital_code"),
        state: r.get("state"),
        setl_id: r.get("setl_id"),
        medfee_fen: r.get("medfee_fen"),
        fund_fen: r.get("fund_fen"),
        acct_fen: r.get("acct_fen"),
        cash_fen: r.get("cash_fen"),
        hosp_part_fen: r.get("hosp_part_fen"),
        captured_fen: r.get("captured_fen"),
        unpaid_fen: r.get("unpaid_fen"),
        collected_fen: r.get("collected_fen"),
        setlinfo_json: r.get("setlinfo_json"),
        created_at: r.get("created_at"),
        mdtrt_id: r.get::<Option<String>, _>("mdtrt_id").unwrap_or_default(),
        psn_no: r.get("psn_no"),
        insutype: r.get("insutype"),
        insuplc_admdvs: r.get("insuplc_admdvs"),
        setl_type: r.get("setl_type"),
    }
}

/// One run and its differences, inside the caller's write.
async fn insert_reconciliation(c: &mut Conn, run: &ReconciliationRun, items: &[ReconciliationItem], now: String) -> StoreResult<()> {
    let mismatches = run.resolved + run.exceptions;
    query(
        "INSERT INTO reconciliation_runs (id, business_date, partner, records, matched, in_transit, mismatches, resolved, exceptions, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&run.id)
    .bind(&run.business_date)
    .bind(&run.partner)
    .bind(run.records)
    .bind(run.matched)
    .bind(run.in_transit)
    .bind(mismatches)
    .bind(run.resolved)
    .bind(run.exceptions)
    .bind(now)
    .execute(&mut *c)
    .await?;
    for (n, item) in items.iter().enumerate() {
        query(
            "INSERT INTO reconciliation_mismatches (run_id, n, record_key, class, resolution, hub_evidence, partner_evidence, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&run.id)
        .bind(n as i64)
        .bind(&item.record_key)
        .bind(item.class)
        .bind(item.resolution)
        .bind(item.hub_evidence.clone())
        .bind(item.partner_evidence.clone())
        .bind(&item.note)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}
