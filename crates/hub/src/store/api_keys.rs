//! API keys. A key is stored as its SHA-256 hash, never itself, and named by a key id derived from
//! the hash (`key_` and its first 16 hex digits), which access logs and `wugan key` show instead of
//! the key. A key stops opening the API when it is revoked, or when the grace period after its
//! rotation ends (`expires_at`).

use super::*;

/// How often a key's `last_used_at` is written at most: once a minute is enough to tell a key in
/// use from a forgotten one, and keeps reads from turning into writes.
pub const LAST_USE_RESOLUTION: std::time::Duration = std::time::Duration::from_secs(60);

/// Where a key comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Listed in the data folder's credentials.json (a local installation's keys): a key the file
    /// no longer lists is revoked at start-up.
    Credentials,
    /// Minted by `wugan key issue|rotate`, shown once, kept only as its hash.
    Issued,
}

impl KeyOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyOrigin::Credentials => "credentials",
            KeyOrigin::Issued => "issued",
        }
    }
}

/// An API key as stored (never the key itself).
#[derive(Clone, Debug)]
pub struct ApiKeyRow {
    pub key_id: String,
    pub role: Role,
    pub hospital_code: Option<String>,
    pub label: Option<String>,
    pub origin: KeyOrigin,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// The end of the grace period of a rotated key.
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// Whether a key opens the API now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    /// Rotated: works until the grace period ends.
    Expiring {
        until: String,
    },
    Revoked {
        at: String,
    },
    Expired {
        at: String,
    },
}

impl ApiKeyRow {
    pub fn caller(&self) -> Caller {
        Caller { role: self.role, hospital_code: self.hospital_code.clone() }
    }

    /// The key's status at `now` (a stored time, as `Store::now` writes it).
    pub fn status(&self, now: &str) -> KeyStatus {
        match (&self.revoked_at, &self.expires_at) {
            (Some(at), _) => KeyStatus::Revoked { at: at.clone() },
            (None, Some(at)) if at.as_str() <= now => KeyStatus::Expired { at: at.clone() },
            (None, Some(until)) => KeyStatus::Expiring { until: until.clone() },
            (None, None) => KeyStatus::Active,
        }
    }

    pub fn opens_the_api(&self, now: &str) -> bool {
        matches!(self.status(now), KeyStatus::Active | KeyStatus::Expiring { .. })
    }
}

/// The id a key is known by, derived from its hash so that it is the same in every database.
pub fn key_id_of(key_hash: &str) -> String {
    format!("key_{}", key_hash.get(..16).unwrap_or(key_hash))
}

const COLUMNS: &str = "key_id, role, hospital_code, label, origin, created_at, revoked_at, expires_at, last_used_at";

fn key_of(r: &SqlRow) -> StoreResult<ApiKeyRow> {
    let role: String = r.get("role");
    let origin: String = r.get("origin");
    Ok(ApiKeyRow {
        key_id: r.get("key_id"),
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("api key role {role}")))?,
        hospital_code: r.get("hospital_code"),
        label: r.get("label"),
        origin: match origin.as_str() {
            "credentials" => KeyOrigin::Credentials,
            "issued" => KeyOrigin::Issued,
            other => return Err(StoreError::Corrupt(format!("api key origin {other}"))),
        },
        created_at: r.get("created_at"),
        revoked_at: r.get("revoked_at"),
        expires_at: r.get("expires_at"),
        last_used_at: r.get("last_used_at"),
    })
}

impl Store {
    /// Records a key credentials.json lists, once. A key already known keeps its state: listing a
    /// revoked or expired key again does not bring it back.
    pub async fn ensure_api_key(&self, key_hash: &str, role: Role, hospital_code: Option<&str>) -> StoreResult<()> {
        self.insert_api_key(key_hash, role, hospital_code, None, KeyOrigin::Credentials).await.map(|_| ())
    }

    /// Records a key `wugan key` minted; returns its key id.
    pub async fn issue_api_key(&self, key_hash: &str, role: Role, hospital_code: Option<&str>, label: Option<&str>) -> StoreResult<String> {
        let key_id = self.insert_api_key(key_hash, role, hospital_code, label, KeyOrigin::Issued).await?;
        key_id.ok_or_else(|| StoreError::Conflict(format!("key {} exists already", key_id_of(key_hash))))
    }

    /// Inserts a key unless its hash is known; returns its key id when it was inserted.
    async fn insert_api_key(
        &self,
        key_hash: &str,
        role: Role,
        hospital_code: Option<&str>,
        label: Option<&str>,
        origin: KeyOrigin,
    ) -> StoreResult<Option<String>> {
        let (key_hash, hospital_code, label, now) =
            (key_hash.to_string(), hospital_code.map(str::to_string), label.map(str::to_string), self.now());
        self.write(move |c| Box::pin(async move {
        let key_id = key_id_of(&key_hash);
        let inserted = query(
            "INSERT INTO api_keys (key_hash, key_id, role, hospital_code, label, origin, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key_hash) DO NOTHING",
        )
        .bind(key_hash)
        .bind(&key_id)
        .bind(role.as_str())
        .bind(hospital_code)
        .bind(label)
        .bind(origin.as_str())
        .bind(&now)
        .execute(&mut *c)
        .await?
        .rows_affected();
        Ok((inserted == 1).then_some(key_id))
        })).await
    }

    /// The key with this hash, whatever its state.
    pub async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRow>> {
        if let Some(kept) = self.hot.key(key_hash) {
            return Ok(Some(kept));
        }
        let ticket = self.hot.ticket();
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1");
        let key = query(sql).bind(key_hash).fetch_optional(&self.pool).await?.as_ref().map(key_of).transpose()?;
        if let Some(k) = &key {
            self.hot.keep_key(ticket, key_hash, k);
        }
        Ok(key)
    }

    pub async fn api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRow>> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE key_id = $1");
        query(sql).bind(key_id).fetch_optional(&self.pool).await?.as_ref().map(key_of).transpose()
    }

    /// Every key, oldest first.
    pub async fn api_keys(&self) -> StoreResult<Vec<ApiKeyRow>> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at, key_id");
        query(sql).fetch_all(&self.pool).await?.iter().map(key_of).collect()
    }

    /// Notes that `key` opened the API now, unless that was noted less than a
    /// [`LAST_USE_RESOLUTION`] ago.
    pub async fn note_key_use(&self, key: &ApiKeyRow) -> StoreResult<()> {
        let recently = self.before_now(LAST_USE_RESOLUTION);
        if key.last_used_at.as_deref().is_some_and(|at| at > recently.as_str()) {
            return Ok(());
        }
        let (key_id, now) = (key.key_id.clone(), self.now());
        let noted = self
            .write(move |c| {
                Box::pin(async move {
                    query("UPDATE api_keys SET last_used_at = $1 WHERE key_id = $2").bind(&now).bind(key_id).execute(&mut *c).await?;
                    Ok(())
                })
            })
            .await;
        self.hot.forget();
        noted
    }

    /// Revokes a key now; false when there is no such key or it was revoked already.
    pub async fn revoke_api_key(&self, key_id: &str) -> StoreResult<bool> {
        let (key_id, now) = (key_id.to_string(), self.now());
        let revoked = self
            .write(move |c| {
                Box::pin(async move {
                    let revoked = query("UPDATE api_keys SET revoked_at = $1 WHERE key_id = $2 AND revoked_at IS NULL")
                        .bind(&now)
                        .bind(key_id)
                        .execute(&mut *c)
                        .await?
                        .rows_affected();
                    Ok(revoked == 1)
                })
            })
            .await;
        self.hot.forget();
        revoked
    }

    /// Ends a working key's life at `at` (a rotation's grace period), or earlier if it was to end
    /// earlier already; false when there is no such key or it no longer works.
    pub async fn expire_api_key(&self, key_id: &str, at: &str) -> StoreResult<bool> {
        let (key_id, at, now) = (key_id.to_string(), at.to_string(), self.now());
        let expired = self.write(move |c| Box::pin(async move {
        let changed = query(
            "UPDATE api_keys SET expires_at = $1 WHERE key_id = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR (expires_at > $3 AND expires_at > $1))",
        )
        .bind(at)
        .bind(key_id)
        .bind(&now)
        .execute(&mut *c)
        .await?
        .rows_affected();
        Ok(changed == 1)
        })).await;
        self.hot.forget();
        expired
    }

    /// Revokes the keys that came from credentials.json but are no longer listed there (`listed`:
    /// the hashes it lists now); returns their key ids. A key in its grace period after a
    /// rotation keeps it: dropping it from the file was part of the rotation.
    pub async fn revoke_unlisted_keys(&self, listed: &[String]) -> StoreResult<Vec<String>> {
        let rows =
            query("SELECT key_hash, key_id FROM api_keys WHERE origin = 'credentials' AND revoked_at IS NULL AND expires_at IS NULL")
                .fetch_all(&self.pool)
                .await?;
        let mut revoked = Vec::new();
        for row in rows {
            let (hash, key_id): (String, String) = (row.get("key_hash"), row.get("key_id"));
            if !listed.contains(&hash) && self.revoke_api_key(&key_id).await? {
                revoked.push(key_id);
            }
        }
        Ok(revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(revoked_at: Option<&str>, expires_at: Option<&str>) -> ApiKeyRow {
        ApiKeyRow {
            key_id: "key_0123456789abcdef".into(),
            role: Role::Hospital,
            hospital_code: Some("H1".into()),
            label: None,
            origin: KeyOrigin::Issued,
            created_at: "2026-01-01T00:00:00.000000Z".into(),
            revoked_at: revoked_at.map(str::to_string),
            expires_at: expires_at.map(str::to_string),
            last_used_at: None,
        }
    }

    #[test]
    fn a_key_opens_the_api_until_it_is_revoked_or_its_grace_period_ends() {
        let now = "2026-06-01T12:00:00.000000Z";
        let check = |revoked_at, expires_at, opens| {
            assert_eq!(key(revoked_at, expires_at).opens_the_api(now), opens, "{revoked_at:?} {expires_at:?}")
        };
        check(None, None, true);
        check(None, Some("2026-06-02T12:00:00.000000Z"), true);
        check(None, Some(now), false);
        check(None, Some("2026-05-01T00:00:00.000000Z"), false);
        check(Some("2026-05-01T00:00:00.000000Z"), None, false);
        check(Some("2026-05-01T00:00:00.000000Z"), Some("2026-07-01T00:00:00.000000Z"), false);
    }

    #[test]
    fn key_ids_name_the_hash_not_the_key() {
        let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(key_id_of(hash), "key_9f86d081884c7d65");
    }
}
