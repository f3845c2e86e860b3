//! Hospital–bank agreements (医院与银行的合作协议, migration 0024): which banks a hospital
//! accepts, its receiving account at each (sealed), and whether the agreement is in force.

use super::*;

/// An agreement as stored (the account sealed with the data key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HospitalBankRow {
    pub hospital_code: String,
    pub bank_code: String,
    /// The hospital's receiving account at the bank, sealed; `None` for a seeded agreement.
    pub account_enc: Option<String>,
    /// `active` or `suspended`.
    pub status: String,
    /// `seeded` (by `serve` at start) or `operator`.
    pub source: String,
    pub created_at: String,
    pub updated_at: String,
}

impl HospitalBankRow {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

fn hospital_bank_of(r: &SqlRow) -> HospitalBankRow {
    HospitalBankRow {
        hospital_code: r.get("hospital_code"),
        bank_code: r.get("bank_code"),
        account_enc: r.get("account_enc"),
        status: r.get("status"),
        source: r.get("source"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

impl Store {
    /// Stores a new agreement; `false` if the pair has one already (whatever its status).
    pub async fn insert_hospital_bank(&self, row: HospitalBankRow) -> StoreResult<bool> {
        let inserted = self
            .write(move |c| {
                Box::pin(async move {
                    Ok(query(
                        "INSERT INTO hospital_banks (hospital_code, bank_code, account_enc, status, source, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (hospital_code, bank_code) DO NOTHING",
                    )
                    .bind(row.hospital_code)
                    .bind(row.bank_code)
                    .bind(row.account_enc)
                    .bind(row.status)
                    .bind(row.source)
                    .bind(row.created_at)
                    .bind(row.updated_at)
                    .execute(&mut *c)
                    .await?
                    .rows_affected())
                })
            })
            .await?;
        Ok(inserted == 1)
    }

    /// The agreement of a hospital with a bank, if any.
    pub async fn hospital_bank(&self, hospital_code: &str, bank_code: &str) -> StoreResult<Option<HospitalBankRow>> {
        let row = query("SELECT * FROM hospital_banks WHERE hospital_code = $1 AND bank_code = $2")
            .bind(hospital_code)
            .bind(bank_code)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(hospital_bank_of))
    }

    /// Agreements, by hospital and bank, of one hospital and/or one bank when given (at most `limit`).
    pub async fn hospital_banks(
        &self,
        hospital_code: Option<&str>,
        bank_code: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<HospitalBankRow>> {
        let rows = query(
            "SELECT * FROM hospital_banks WHERE ($1 = '' OR hospital_code = $1) AND ($2 = '' OR bank_code = $2) \
             ORDER BY hospital_code, bank_code LIMIT $3",
        )
        .bind(hospital_code.unwrap_or_default())
        .bind(bank_code.unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(hospital_bank_of).collect())
    }

    /// Sets an agreement's status; `None` if the pair has no agreement.
    pub async fn set_hospital_bank_status(
        &self,
        hospital_code: &str,
        bank_code: &str,
        status: &str,
    ) -> StoreResult<Option<HospitalBankRow>> {
        let (h, b, s, now) = (hospital_code.to_string(), bank_code.to_string(), status.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "UPDATE hospital_banks SET status = $3, updated_at = $4 WHERE hospital_code = $1 AND bank_code = $2 AND status <> $3",
                )
                .bind(&h)
                .bind(&b)
                .bind(&s)
                .bind(&now)
                .execute(&mut *c)
                .await?;
                let row = query("SELECT * FROM hospital_banks WHERE hospital_code = $1 AND bank_code = $2")
                    .bind(&h)
                    .bind(&b)
                    .fetch_optional(&mut *c)
                    .await?;
                Ok(row.as_ref().map(hospital_bank_of))
            })
        })
        .await
    }
}
