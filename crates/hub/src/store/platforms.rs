//! A hospital's own insurance platform (its endpoint, gateway credential and envelope signer, the
//! secrets sealed) and the 9001 sign-ins of each institution, operator and China business day
//! (migration 0019).

use super::*;

/// What a hospital's record says about its insurance platform; every secret sealed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlatformRow {
    /// Its own platform's base URL; `None`: the hub's.
    pub platform_url: Option<String>,
    /// Its own gateway credential there (app id, and the secret sealed); `None`: the hub's.
    pub platform_app_id: Option<String>,
    pub platform_secret_enc: Option<String>,
    /// `none` or `hmac-sha256`.
    pub ca_signer: String,
    /// The signer's key, sealed.
    pub ca_key_enc: Option<String>,
}

impl Store {
    /// The hospital's platform settings; `None` when there is no such hospital.
    pub async fn hospital_platform(&self, code: &str) -> StoreResult<Option<PlatformRow>> {
        if let Some(kept) = self.hot.platform(code) {
            return Ok(Some(kept));
        }
        let ticket = self.hot.ticket();
        let sql = "SELECT platform_url, platform_app_id, platform_secret_enc, ca_signer, ca_key_enc FROM hospitals WHERE code = $1";
        let row = query(sql).bind(code).fetch_optional(&self.pool).await?;
        let platform = row.map(|r| PlatformRow {
            platform_url: r.get("platform_url"),
            platform_app_id: r.get("platform_app_id"),
            platform_secret_enc: r.get("platform_secret_enc"),
            ca_signer: r.get("ca_signer"),
            ca_key_enc: r.get("ca_key_enc"),
        });
        if let Some(p) = &platform {
            self.hot.keep_platform(ticket, code, p);
        }
        Ok(platform)
    }

    /// Sets a hospital's platform settings (the hospital must exist).
    pub async fn set_hospital_platform(&self, code: &str, platform: PlatformRow) -> StoreResult<bool> {
        let code = code.to_string();
        let changed = self.write(move |c| {
            Box::pin(async move {
                let sql = "UPDATE hospitals SET platform_url = $1, platform_app_id = $2, platform_secret_enc = $3, ca_signer = $4, ca_key_enc = $5 WHERE code = $6";
                let done = query(sql)
                    .bind(platform.platform_url)
                    .bind(platform.platform_app_id)
                    .bind(platform.platform_secret_enc)
                    .bind(platform.ca_signer)
                    .bind(platform.ca_key_enc)
                    .bind(code)
                    .execute(&mut *c)
                    .await?;
                Ok(done.rows_affected() == 1)
            })
        })
        .await;
        self.hot.forget();
        changed
    }

    /// Forgets every sign_no kept for an institution (its platform changed).
    pub async fn forget_sign_ins(&self, fixmedins_code: &str) -> StoreResult<()> {
        let code = fixmedins_code.to_string();
        self.write(move |c| {
            Box::pin(async move {
                query("DELETE FROM insurance_sign_ins WHERE fixmedins_code = $1").bind(code).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    /// Forgets one sign_no of an institution's operator on a business day (the platform no longer
    /// takes it); a newer one kept since stays.
    pub async fn forget_sign_in(&self, fixmedins_code: &str, opter: &str, business_day: &str, sign_no: &str) -> StoreResult<()> {
        let key = [fixmedins_code, opter, business_day, sign_no].map(str::to_string);
        self.write(move |c| {
            Box::pin(async move {
                let sql = "DELETE FROM insurance_sign_ins WHERE fixmedins_code = $1 AND opter = $2 AND business_day = $3 AND sign_no = $4";
                query(sql).bind(&key[0]).bind(&key[1]).bind(&key[2]).bind(&key[3]).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    /// The sign_no kept for an institution's operator on a business day (yyyy-MM-dd, China time).
    pub async fn sign_in_of(&self, fixmedins_code: &str, opter: &str, business_day: &str) -> StoreResult<Option<String>> {
        let sql = "SELECT sign_no FROM insurance_sign_ins WHERE fixmedins_code = $1 AND opter = $2 AND business_day = $3";
        let row = query(sql).bind(fixmedins_code).bind(opter).bind(business_day).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.get("sign_no")))
    }

    /// Keeps a sign-in; when another process kept one for the same day first, that one stays and
    /// is returned, so every process sends the same sign_no.
    pub async fn keep_sign_in(&self, fixmedins_code: &str, opter: &str, business_day: &str, sign_no: &str) -> StoreResult<String> {
        let key = (fixmedins_code.to_string(), opter.to_string(), business_day.to_string());
        let (sign_no, now) = (sign_no.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let insert =
                    "INSERT INTO insurance_sign_ins (fixmedins_code, opter, business_day, sign_no, signed_at) VALUES ($1, $2, $3, $4, $5)
                              ON CONFLICT (fixmedins_code, opter, business_day) DO NOTHING";
                query(insert).bind(&key.0).bind(&key.1).bind(&key.2).bind(&sign_no).bind(now).execute(&mut *c).await?;
                let read = "SELECT sign_no FROM insurance_sign_ins WHERE fixmedins_code = $1 AND opter = $2 AND business_day = $3";
                let row = query(read).bind(&key.0).bind(&key.1).bind(&key.2).fetch_one(&mut *c).await?;
                Ok(row.get("sign_no"))
            })
        })
        .await
    }
}
