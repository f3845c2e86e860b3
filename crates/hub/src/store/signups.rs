//! Sign-ups (签约) as they stand between steps (`wugan_domain::signup`), for the orchestrator in
//! `app/agreements.rs` and the recovery worker. Every write is guarded by the state it was read
//! in, so a sign-up never goes backwards when a request and the worker race.

use super::*;

/// A sign-up as stored. The request and the person are personal data, sealed by the caller
/// (`pii::DataKey`); the stage's other facts are plain columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignupRow {
    /// The agreement id the sign-up makes.
    pub id: String,
    /// `wugan_domain::signup::SignupStage::state`.
    pub state: String,
    pub bank_code: String,
    /// The HIS's request (`SignRequest` as JSON), sealed.
    pub request_enc: String,
    /// `wugan_domain::signup::Person` as JSON, sealed; from `identity_checked` on.
    pub person_enc: Option<String>,
    pub bank_agreement_id: Option<String>,
    pub refusal_code: Option<String>,
    pub refusal_message: Option<String>,
    /// Failed resumptions; at the limit the sign-up is parked (`parked_reason`) for an operator.
    pub attempts: i64,
    pub parked_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Store {
    /// Writes a new sign-up; if one with its id exists (a retry), returns that one instead.
    pub async fn create_signup(&self, s: &SignupRow) -> StoreResult<(SignupRow, bool)> {
        let row = s.clone();
        let inserted = self
            .write(move |c| {
                Box::pin(async move {
                    let sql = "INSERT INTO signups (id, state, bank_code, request_enc, created_at, updated_at) \
                               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING";
                    let done = query(sql)
                        .bind(&row.id)
                        .bind(&row.state)
                        .bind(&row.bank_code)
                        .bind(&row.request_enc)
                        .bind(&row.created_at)
                        .bind(&row.updated_at)
                        .execute(&mut *c)
                        .await?;
                    Ok(done.rows_affected())
                })
            })
            .await?;
        if inserted == 1 {
            return Ok((s.clone(), true));
        }
        let existing = self.signup(&s.id).await?.ok_or_else(|| StoreError::Corrupt(format!("sign-up {} vanished", s.id)))?;
        Ok((existing, false))
    }

    pub async fn signup(&self, id: &str) -> StoreResult<Option<SignupRow>> {
        let row = query("SELECT * FROM signups WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(signup_from_row))
    }

    /// Saves a sign-up's new stage, only if the row still holds `from` (the state it was read in).
    /// `false`: another run moved it on meanwhile; reload it and continue from there.
    pub async fn save_signup(&self, s: &SignupRow, from: &str) -> StoreResult<bool> {
        let (row, from, now) = (s.clone(), from.to_string(), self.now());
        let updated = self
            .write(move |c| {
                Box::pin(async move {
                    let sql = "UPDATE signups SET state = $1, person_enc = $2, bank_agreement_id = $3, refusal_code = $4, \
                               refusal_message = $5, updated_at = $6 WHERE id = $7 AND state = $8";
                    let done = query(sql)
                        .bind(&row.state)
                        .bind(row.person_enc.clone())
                        .bind(row.bank_agreement_id.clone())
                        .bind(row.refusal_code.clone())
                        .bind(row.refusal_message.clone())
                        .bind(now)
                        .bind(&row.id)
                        .bind(from)
                        .execute(&mut *c)
                        .await?;
                    Ok(done.rows_affected())
                })
            })
            .await?;
        Ok(updated == 1)
    }

    /// Sign-ups left between steps, not parked, untouched since `before` (RFC 3339): for the
    /// recovery worker.
    pub async fn unfinished_signups(&self, before: &str) -> StoreResult<Vec<SignupRow>> {
        let rows = query(
            "SELECT * FROM signups WHERE state IN ('requested', 'identity_checked', 'bank_line_opened', 'releasing') \
             AND parked_reason IS NULL AND updated_at < $1 ORDER BY created_at LIMIT 1000",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(signup_from_row).collect())
    }

    /// Counts a failed resumption; after `max_attempts` the sign-up is parked for an operator.
    pub async fn note_failed_signup_attempt(&self, id: &str, reason: &str, max_attempts: i64) -> StoreResult<()> {
        let (id, reason, now) = (id.to_string(), reason.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let sql = "UPDATE signups SET attempts = attempts + 1, updated_at = $1, \
                           parked_reason = CASE WHEN attempts + 1 >= $2 THEN $3 ELSE parked_reason END WHERE id = $4";
                query(sql).bind(now).bind(max_attempts).bind(reason).bind(id).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    /// Unfinished sign-ups the worker gave up on (parked), oldest first: part of the exceptions queue.
    pub async fn parked_signups(&self) -> StoreResult<Vec<SignupRow>> {
        let rows = query(
            "SELECT * FROM signups WHERE parked_reason IS NOT NULL \
             AND state IN ('requested', 'identity_checked', 'bank_line_opened', 'releasing') ORDER BY created_at LIMIT 1000",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(signup_from_row).collect())
    }

    /// Takes a sign-up out of the exceptions queue, for another try. `false`: it was not parked.
    pub async fn unpark_signup(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let sql = "UPDATE signups SET attempts = 0, parked_reason = NULL WHERE id = $1 AND parked_reason IS NOT NULL";
                Ok(query(sql).bind(id).execute(&mut *c).await?.rows_affected() == 1)
            })
        })
        .await
    }
}

fn signup_from_row(r: &SqlRow) -> SignupRow {
    SignupRow {
        id: r.get("id"),
        state: r.get("state"),
        bank_code: r.get("bank_code"),
        request_enc: r.get("request_enc"),
        person_enc: r.get("person_enc"),
        bank_agreement_id: r.get("bank_agreement_id"),
        refusal_code: r.get("refusal_code"),
        refusal_message: r.get("refusal_message"),
        attempts: r.get("attempts"),
        parked_reason: r.get("parked_reason"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}
