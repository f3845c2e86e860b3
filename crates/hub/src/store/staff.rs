//! Staff accounts and their sessions. A password is kept as its argon2id PHC string, a TOTP
//! secret sealed with the data key, a session as the SHA-256 of its token (the cookie holds the
//! token; a stolen database does not sign anyone in).

use super::*;

/// A staff account as stored.
#[derive(Clone, Debug)]
pub struct StaffRow {
    pub id: String,
    pub login: String,
    pub display_name: String,
    /// `operator`, `doctor`, `cashier`, `finance` or `bank` (see `app::staff::StaffRole`).
    pub role: String,
    pub hospital_code: Option<String>,
    pub bank_code: Option<String>,
    pub password_hash: String,
    pub totp_secret_enc: Option<String>,
    pub disabled_at: Option<String>,
    pub created_at: String,
}

/// A session as stored.
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub staff_id: String,
    pub created_at: String,
    pub expires_at: String,
    pub ended_at: Option<String>,
}

fn staff_of(r: &SqlRow) -> StaffRow {
    StaffRow {
        id: r.get("id"),
        login: r.get("login"),
        display_name: r.get("display_name"),
        role: r.get("role"),
        hospital_code: r.get("hospital_code"),
        bank_code: r.get("bank_code"),
        password_hash: r.get("password_hash"),
        totp_secret_enc: r.get("totp_secret_enc"),
        disabled_at: r.get("disabled_at"),
        created_at: r.get("created_at"),
    }
}

impl Store {
    /// Adds an account; `Conflict` when the login is taken.
    pub async fn insert_staff(&self, row: StaffRow) -> StoreResult<()> {
        let login = row.login.clone();
        self.write(move |c| {
            Box::pin(async move {
                let inserted = query(
                    "INSERT INTO staff (id, login, display_name, role, hospital_code, bank_code, password_hash, totp_secret_enc, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (login) DO NOTHING",
                )
                .bind(row.id)
                .bind(row.login)
                .bind(row.display_name)
                .bind(row.role)
                .bind(row.hospital_code)
                .bind(row.bank_code)
                .bind(row.password_hash)
                .bind(row.totp_secret_enc)
                .bind(row.created_at)
                .execute(&mut *c)
                .await?
                .rows_affected();
                Ok(inserted)
            })
        })
        .await
        .and_then(|inserted| if inserted == 1 { Ok(()) } else { Err(StoreError::Conflict(format!("staff login {login}"))) })
    }

    pub async fn staff_by_login(&self, login: &str) -> StoreResult<Option<StaffRow>> {
        Ok(query("SELECT * FROM staff WHERE login = $1").bind(login).fetch_optional(&self.pool).await?.as_ref().map(staff_of))
    }

    /// Every account, or a hospital's, by login.
    pub async fn staff_list(&self, hospital_code: Option<&str>) -> StoreResult<Vec<StaffRow>> {
        let rows = match hospital_code {
            Some(code) => query("SELECT * FROM staff WHERE hospital_code = $1 ORDER BY login").bind(code).fetch_all(&self.pool).await?,
            None => query("SELECT * FROM staff ORDER BY login").fetch_all(&self.pool).await?,
        };
        Ok(rows.iter().map(staff_of).collect())
    }

    /// Starts a session for `staff_id` until `expires_at`.
    pub async fn insert_session(&self, token_hash: &str, staff_id: &str, expires_at: &str, address: &str) -> StoreResult<()> {
        let (token_hash, staff_id, expires_at, address, now) =
            (token_hash.to_string(), staff_id.to_string(), expires_at.to_string(), address.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query("INSERT INTO staff_sessions (token_hash, staff_id, created_at, expires_at, address) VALUES ($1, $2, $3, $4, $5)")
                    .bind(token_hash)
                    .bind(staff_id)
                    .bind(now)
                    .bind(expires_at)
                    .bind(address)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// The session with this token hash and its account, whatever their state.
    pub async fn session(&self, token_hash: &str) -> StoreResult<Option<(SessionRow, StaffRow)>> {
        let row = query(
            "SELECT s.created_at AS s_created_at, s.expires_at, s.ended_at, staff.* FROM staff_sessions s JOIN staff ON staff.id = s.staff_id WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| {
            let session = SessionRow {
                staff_id: r.get("id"),
                created_at: r.get("s_created_at"),
                expires_at: r.get("expires_at"),
                ended_at: r.get("ended_at"),
            };
            (session, staff_of(&r))
        }))
    }

    /// Signs a session out now; false when it had ended already.
    pub async fn end_session(&self, token_hash: &str) -> StoreResult<bool> {
        let (token_hash, now) = (token_hash.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let ended = query("UPDATE staff_sessions SET ended_at = $1 WHERE token_hash = $2 AND ended_at IS NULL")
                    .bind(now)
                    .bind(token_hash)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
                Ok(ended == 1)
            })
        })
        .await
    }
}

/// One of a bank's agreements, as its staff see it: no name, no ID number.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BankAgreementRow {
    pub id: String,
    pub payment_method: String,
    pub status: String,
    pub suspended_reason: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl Store {
    /// A bank's agreements, newest first.
    pub async fn agreements_of_bank(&self, bank_code: &str, limit: i64) -> StoreResult<Vec<BankAgreementRow>> {
        let rows = query(
            "SELECT id, payment_method, status, suspended_reason, created_at, revoked_at FROM agreements WHERE bank_code = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(bank_code)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| BankAgreementRow {
                id: r.get("id"),
                payment_method: r.get("payment_method"),
                status: r.get("status"),
                suspended_reason: r.get("suspended_reason"),
                created_at: r.get("created_at"),
                revoked_at: r.get("revoked_at"),
            })
            .collect())
    }
}

impl Store {
    /// The newest agreements' ids (the operator's list of signed patients, shown masked).
    pub async fn recent_agreement_ids(&self, limit: i64) -> StoreResult<Vec<String>> {
        let rows = query("SELECT id FROM agreements ORDER BY created_at DESC, id DESC LIMIT $1").bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| r.get("id")).collect())
    }
}
