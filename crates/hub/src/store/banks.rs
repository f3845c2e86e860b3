//! Banks onboarded by an operator (migration 0022): their endpoint, sealed secrets and terms.

use super::*;

/// A bank as stored (secrets sealed with the data key).
#[derive(Clone, Debug)]
pub struct BankRow {
    pub code: String,
    pub name: String,
    pub url: String,
    pub key_id: String,
    pub secret_enc: String,
    pub callback_secret_enc: String,
    pub default_credit_limit_fen: i64,
    pub interest_free_days: i64,
    pub created_at: String,
    pub updated_at: String,
}

fn bank_of(r: &SqlRow) -> BankRow {
    BankRow {
        code: r.get("code"),
        name: r.get("name"),
        url: r.get("url"),
        key_id: r.get("key_id"),
        secret_enc: r.get("secret_enc"),
        callback_secret_enc: r.get("callback_secret_enc"),
        default_credit_limit_fen: r.get("default_credit_limit_fen"),
        interest_free_days: r.get("interest_free_days"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

impl Store {
    /// Stores a newly onboarded bank; `Conflict` if its code is taken.
    pub async fn insert_bank(&self, row: BankRow) -> StoreResult<()> {
        let code = row.code.clone();
        let inserted = self
            .write(move |c| {
                Box::pin(async move {
                    Ok(query(
                        "INSERT INTO banks (code, name, url, key_id, secret_enc, callback_secret_enc, default_credit_limit_fen, \
                         interest_free_days, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                         ON CONFLICT (code) DO NOTHING",
                    )
                    .bind(row.code)
                    .bind(row.name)
                    .bind(row.url)
                    .bind(row.key_id)
                    .bind(row.secret_enc)
                    .bind(row.callback_secret_enc)
                    .bind(row.default_credit_limit_fen)
                    .bind(row.interest_free_days)
                    .bind(row.created_at)
                    .bind(row.updated_at)
                    .execute(&mut *c)
                    .await?
                    .rows_affected())
                })
            })
            .await?;
        if inserted == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!("bank {code}")))
        }
    }

    /// Every onboarded bank, by code.
    pub async fn banks(&self) -> StoreResult<Vec<BankRow>> {
        Ok(query("SELECT * FROM banks ORDER BY code").fetch_all(&self.pool).await?.iter().map(bank_of).collect())
    }
}
