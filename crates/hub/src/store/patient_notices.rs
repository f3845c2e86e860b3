//! What the further notifications are made from (issue 14 scope 5): the patients a bank line or a
//! person belongs to, unpaid bills since a cursor, and the cursors themselves (migration 0020);
//! the settlements cancelled and the stays' reversals (2305) since theirs (migration 0045).

use super::*;

/// A settled_unpaid settlement, as its `bill_unpaid` notification tells it.
#[derive(Clone, Debug)]
pub struct UnpaidForNotice {
    pub settlement_id: String,
    pub psn_no: String,
    pub payer_psn_no: String,
    pub hospital_code: String,
    pub ipt_otp_no: String,
    pub unpaid_fen: i64,
    pub updated_at: String,
}

/// A credit line whose statements a patient is told of.
#[derive(Clone, Debug)]
pub struct LineOfPatient {
    pub agreement_id: String,
    pub psn_no: String,
    pub bank_code: String,
    pub bank_agreement_id: String,
}

/// A stay's settlement reversed by 2305 (the bedside one or an interim one), as the red invoice
/// its reversal owes records it, with the stay as it stands now.
#[derive(Clone, Debug)]
pub struct StayReversal {
    pub stay: StayRow,
    /// The reversed settlement's insurance id.
    pub setl_id: String,
    /// The reversed settlement's facts (`inpatient::StayPaid` as JSON).
    pub paid_json: String,
}

/// The settlements cancelled since a cursor (`settlements.updated_at`: a settlement reaches
/// `cancelled` once its bank share is refunded, and never changes after); the partial index
/// `settlements_cancelled` (migration 0045) holds exactly these rows.
pub(super) const CANCELLED_SINCE: &str =
    "SELECT * FROM settlements WHERE state = 'cancelled' AND updated_at >= $1 ORDER BY updated_at, id LIMIT $2";

/// The unpaid bills changed since a cursor; the partial index `settlements_unpaid` (migration
/// 0029) holds exactly these rows.
pub(super) const UNPAID_SINCE: &str =
    "SELECT s.id, v.psn_no, a.psn_no AS payer_psn_no, s.hospital_code, v.ipt_otp_no, s.unpaid_fen, s.updated_at \
     FROM settlements s JOIN visits v ON v.id = s.visit_id JOIN agreements a ON a.id = s.agreement_id \
     WHERE s.state = 'settled_unpaid' AND s.updated_at >= $1 ORDER BY s.updated_at, s.id LIMIT $2";

impl Store {
    /// The hub's agreement (id, signer's psn_no) of a bank's line.
    pub async fn agreement_of_bank_line(&self, bank_code: &str, bank_agreement_id: &str) -> StoreResult<Option<(String, String)>> {
        let row = query("SELECT id, psn_no FROM agreements WHERE bank_code = $1 AND bank_agreement_id = $2")
            .bind(bank_code)
            .bind(bank_agreement_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get("id"), r.get("psn_no"))))
    }

    /// The patients (accounts on the phone pages) bound to a person.
    pub async fn patients_of_person(&self, psn_no: &str) -> StoreResult<Vec<String>> {
        let rows = query("SELECT id FROM patients WHERE psn_no = $1 ORDER BY id LIMIT 5").bind(psn_no).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| r.get("id")).collect())
    }

    /// Active credit lines of bound patients, in agreement id order after `after` (a page).
    pub async fn lines_of_patients(&self, after: &str, limit: i64) -> StoreResult<Vec<LineOfPatient>> {
        let rows = query(
            "SELECT a.id, a.psn_no, a.bank_code, a.bank_agreement_id FROM agreements a \
             WHERE a.status = 'active' AND a.payment_method = 'credit_line' AND a.id > $1 \
             AND EXISTS (SELECT 1 FROM patients p WHERE p.psn_no = a.psn_no) ORDER BY a.id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| LineOfPatient {
                agreement_id: r.get("id"),
                psn_no: r.get("psn_no"),
                bank_code: r.get("bank_code"),
                bank_agreement_id: r.get("bank_agreement_id"),
            })
            .collect())
    }

    /// Unpaid bills whose settlement changed at or after `since`, oldest first: an incremental
    /// scan (a cursor on `updated_at`), not the whole table each pass.
    pub async fn unpaid_since(&self, since: &str, limit: i64) -> StoreResult<Vec<UnpaidForNotice>> {
        let rows = query(UNPAID_SINCE).bind(since).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| UnpaidForNotice {
                settlement_id: r.get("id"),
                psn_no: r.get("psn_no"),
                payer_psn_no: r.get("payer_psn_no"),
                hospital_code: r.get("hospital_code"),
                ipt_otp_no: r.get("ipt_otp_no"),
                unpaid_fen: r.get("unpaid_fen"),
                updated_at: r.get("updated_at"),
            })
            .collect())
    }

    /// Stays over with their settlement standing (the only ones that may owe: `StayStage::owed`)
    /// changed at or after `since`, oldest first, each with the psn_no of its agreement's signer:
    /// the same incremental scan as `unpaid_since`, on `stays_by_state`.
    pub async fn settled_stays_since(&self, since: &str, limit: i64) -> StoreResult<Vec<(StayRow, String)>> {
        let columns = stays::STAY_COLUMNS.split(", ").map(|c| format!("s.{}", c.trim())).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {columns}, a.psn_no AS payer_psn_no FROM stays s JOIN agreements a ON a.id = s.agreement_id \
             WHERE s.state IN {} AND s.updated_at >= $1 \
             ORDER BY s.updated_at, s.id LIMIT $2",
            stays::STAYS_SETTLED
        );
        let rows = query(sql).bind(since).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| (stays::stay_from_row(r), r.get("payer_psn_no"))).collect())
    }

    pub async fn notification_cursor(&self, name: &str) -> StoreResult<Option<String>> {
        let row = query("SELECT reached FROM notification_cursors WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.get("reached")))
    }

    pub async fn set_notification_cursor(&self, name: &str, reached: &str) -> StoreResult<()> {
        let (name, reached) = (name.to_string(), reached.to_string());
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "INSERT INTO notification_cursors (name, reached) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET reached = excluded.reached",
                )
                .bind(name)
                .bind(reached)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Settlements cancelled at or after `since`, oldest first: an incremental scan, as
    /// `unpaid_since`.
    pub async fn settlements_cancelled_since(&self, since: &str, limit: i64) -> StoreResult<Vec<SettlementRow>> {
        let rows = query(CANCELLED_SINCE).bind(since).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(super::settlements::settlement_from_row).collect()
    }

    /// The reversals (2305) of the stays changed at or after `since` (`stays_by_update`, migration
    /// 0045), each booked at or after `booked_from`, oldest change first. A reversal's refund moves
    /// its stay on, so a reversal read while its refund was still to come is read again once it came.
    pub async fn stay_reversals_since(&self, since: &str, booked_from: &str, limit: i64) -> StoreResult<Vec<StayReversal>> {
        let rows = query(stay_reversals_scan(self.backend)).bind(since).bind(booked_from).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| StayReversal { stay: stays::stay_from_row(r), setl_id: r.get("reversed_setl_id"), paid_json: r.get("reversed_json") })
            .collect())
    }
}

/// The scan of the stays changed since `$1`, joined to their reversals booked since `$2`. SQLite is
/// told the index (as `InvoiceDue::scan_sql`): without statistics its planner reads every red
/// invoice owed, and its stay, on every pass; PostgreSQL's planner finds the index itself.
fn stay_reversals_scan(backend: Backend) -> String {
    let columns = stays::STAY_COLUMNS.split(", ").map(|c| format!("s.{}", c.trim())).collect::<Vec<_>>().join(", ");
    let indexed = match backend {
        Backend::Sqlite => " INDEXED BY stays_by_update",
        Backend::Postgres => "",
    };
    format!(
        "SELECT {columns}, o.setl_id AS reversed_setl_id, o.paid_json AS reversed_json FROM stays s{indexed} \
         JOIN stay_invoice_outbox o ON o.stay_id = s.id AND o.kind = 'red' WHERE s.updated_at >= $1 AND o.created_at >= $2 \
         ORDER BY s.updated_at, s.id, o.setl_id LIMIT $3"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn plan(store: &Store, sql: &str, times: usize) -> String {
        let q = (0..times).fold(query(format!("EXPLAIN QUERY PLAN {sql}")), |q, _| q.bind("2026-01-01"));
        let rows = q.bind(10).fetch_all(&store.pool).await.expect("a plan");
        rows.iter().map(|r| r.get::<String, _>("detail")).collect::<Vec<_>>().join("; ")
    }

    /// The notifier looks every two seconds: its scans of the settlements cancelled and of the
    /// stays changed read their indexes, never the whole table.
    #[tokio::test]
    async fn the_reversal_notices_read_their_indexes() {
        let (store, dir) = Store::in_fresh_folder("reversal-indexes").await;
        let cancelled = plan(&store, CANCELLED_SINCE, 1).await;
        assert!(cancelled.contains("SEARCH settlements USING INDEX settlements_cancelled"), "{cancelled}");
        let reversals = plan(&store, &stay_reversals_scan(Backend::Sqlite), 2).await;
        assert!(reversals.contains("SEARCH s USING INDEX stays_by_update"), "{reversals}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
