//! Refunds in the exceptions queue (migration 0026): parked with their reason when the bank
//! declined or a partner stayed silent through every recovery pass, taken out by an operator.

use super::refunds::{refund_from_row, REFUND_COLUMNS};
use super::*;

impl Store {
    /// Parks a refund at once with `reason` (a decline: sending it again cannot change the answer).
    pub async fn park_refund(&self, id: &str, reason: &str) -> StoreResult<()> {
        let (id, reason) = (id.to_string(), reason.to_string());
        self.write(move |c| {
            Box::pin(async move {
                query("UPDATE refunds SET parked_reason = $1 WHERE id = $2").bind(reason).bind(id).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    /// Counts a resumption that stopped on a partner's silence; the `max_attempts`-th parks it.
    pub async fn note_failed_refund_attempt(&self, id: &str, reason: &str, max_attempts: i64) -> StoreResult<()> {
        let (id, reason) = (id.to_string(), reason.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let sql = "UPDATE refunds SET attempts = attempts + 1, \
                           parked_reason = CASE WHEN attempts + 1 >= $1 THEN $2 ELSE parked_reason END WHERE id = $3";
                query(sql).bind(max_attempts).bind(reason).bind(id).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    /// The parked refunds, oldest first.
    pub async fn parked_refunds(&self, limit: i64) -> StoreResult<Vec<RefundRow>> {
        let sql =
            format!("SELECT {REFUND_COLUMNS}, parked_reason FROM refunds WHERE parked_reason IS NOT NULL ORDER BY updated_at LIMIT $1");
        let rows = query(sql).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(refund_from_row).collect()
    }

    /// Takes a refund out of the queue (its count starts again); false when it was not parked.
    pub async fn unpark_refund(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let sql = "UPDATE refunds SET attempts = 0, parked_reason = NULL WHERE id = $1 AND parked_reason IS NOT NULL";
                Ok(query(sql).bind(id).execute(&mut *c).await?.rows_affected() == 1)
            })
        })
        .await
    }
}
