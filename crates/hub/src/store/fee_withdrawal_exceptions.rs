//! A visit's fee withdrawals (2205) in the exceptions queue (migration 0043): counted by the
//! recovery worker, parked with their reason after the last pass, taken out by an operator.

use super::fee_withdrawals::{close_lines, reopen_lines, withdrawal_from_row};
use super::*;

/// A parked withdrawal with what the operator needs to find its visit.
#[derive(Clone, Debug)]
pub struct ParkedFeeWithdrawal {
    pub withdrawal: FeeWithdrawalRow,
    pub hospital_code: String,
}

impl Store {
    /// Counts a pass that could not finish the withdrawal `id` (its reason kept for the parking);
    /// the `max_attempts`-th parks it. The try's time starts the next backoff.
    pub async fn note_failed_fee_withdrawal_attempt(&self, id: &str, reason: &str, max_attempts: i64) -> StoreResult<()> {
        let (id, reason, now) = (id.to_string(), reason.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let sql = "UPDATE fee_withdrawals SET attempts = attempts + 1, updated_at = $4, \
                           parked_reason = CASE WHEN attempts + 1 >= $1 THEN $2 ELSE parked_reason END \
                           WHERE id = $3 AND state = 'sending'";
                query(sql).bind(max_attempts).bind(reason).bind(id).bind(now).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    /// The parked withdrawals still unanswered, oldest first.
    pub async fn parked_fee_withdrawals(&self, limit: i64) -> StoreResult<Vec<ParkedFeeWithdrawal>> {
        let rows = query(
            "SELECT w.*, v.hospital_code AS hospital_code FROM fee_withdrawals w \
             JOIN visits v ON v.id = w.visit_id WHERE w.state = 'sending' AND w.parked_reason IS NOT NULL \
             ORDER BY w.updated_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        (rows.iter())
            .map(|r| Ok(ParkedFeeWithdrawal { withdrawal: withdrawal_from_row(r)?, hospital_code: r.get("hospital_code") }))
            .collect()
    }

    /// The withdrawal `id`, with its visit's hospital.
    pub async fn fee_withdrawal(&self, id: &str) -> StoreResult<Option<(FeeWithdrawalRow, String)>> {
        let row =
            query("SELECT w.*, v.hospital_code AS hospital_code FROM fee_withdrawals w JOIN visits v ON v.id = w.visit_id WHERE w.id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| Ok((withdrawal_from_row(&r)?, r.get("hospital_code")))).transpose()
    }

    /// Takes a withdrawal out of the queue (its count starts again); false when it was not parked.
    pub async fn unpark_fee_withdrawal(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let sql = "UPDATE fee_withdrawals SET attempts = 0, parked_reason = NULL WHERE id = $1 AND parked_reason IS NOT NULL";
                Ok(query(sql).bind(id).execute(&mut *c).await?.rows_affected() == 1)
            })
        })
        .await
    }

    /// An operator ends a parked withdrawal by hand, on what the center's own record shows:
    /// `withdrawn` (its lines leave the visit, as when 2205 answers) or refused (`refusal` its
    /// words; the lines are the visit's open lines again). `note` is kept with it. False when it
    /// was not parked and unanswered (ended meanwhile, or never parked): nothing written.
    pub async fn resolve_fee_withdrawal(&self, id: &str, visit_id: &str, refusal: Option<String>, note: &str) -> StoreResult<bool> {
        let (id, visit_id, note, now) = (id.to_string(), visit_id.to_string(), note.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let state = if refusal.is_some() { "refused" } else { "withdrawn" };
                let sql = "UPDATE fee_withdrawals SET state = $2, refusal = $3, resolution = $4, parked_reason = NULL, updated_at = $5 \
                           WHERE id = $1 AND state = 'sending' AND parked_reason IS NOT NULL";
                let moved = query(sql).bind(&id).bind(state).bind(refusal.clone()).bind(note).bind(now).execute(&mut *c).await?;
                if moved.rows_affected() != 1 {
                    return Ok(false);
                }
                match refusal {
                    Some(_) => reopen_lines(c, &id, &visit_id).await?,
                    None => close_lines(c, &id, &visit_id).await?,
                }
                Ok(true)
            })
        })
        .await
    }
}
