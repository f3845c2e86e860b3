//! Patients, their one-time sign-in codes and their sessions (migration 0012). Every write is one
//! job for `Store::write`; counting and checking a code happen inside the job that changes it, so
//! two guesses at once cannot both pass the attempt limit.

use super::*;

/// A patient as stored: the mobile number sealed, the identity (once bound) sealed.
#[derive(Clone, Debug)]
pub struct PatientRow {
    pub id: String,
    pub mobile_enc: String,
    pub psn_no: Option<String>,
    pub identity_enc: Option<String>,
    pub bound_at: Option<String>,
    pub created_at: String,
}

/// A one-time code as stored (its hash only).
#[derive(Clone, Debug)]
pub struct PatientCodeRow {
    pub id: String,
    pub code_hash: String,
    pub attempts: i64,
    pub expires_at: String,
}

#[derive(Clone, Debug)]
pub struct PatientSessionRow {
    pub patient_id: String,
    pub csrf_token: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

/// What a guess at a code came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right: the code is used up now.
    Right,
    /// Wrong; `left` more guesses at this code.
    Wrong { left: i64 },
    /// No live code for this number (none asked, expired, used, or out of guesses).
    NoCode,
}

/// One line of the consent record.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ConsentRow {
    pub id: String,
    pub patient_id: String,
    pub agreement_id: String,
    /// `accepted` or `revoked`.
    pub kind: String,
    pub text_version: String,
    pub text_sha256: String,
    pub channel: String,
    /// The sources and limits accepted, as JSON.
    pub terms: serde_json::Value,
    pub created_at: String,
}

const CONSENT_COLUMNS: &str = "id, patient_id, agreement_id, kind, text_version, text_sha256, channel, terms, created_at";

fn consent_of(r: &SqlRow) -> ConsentRow {
    let terms: String = r.get("terms");
    ConsentRow {
        id: r.get("id"),
        patient_id: r.get("patient_id"),
        agreement_id: r.get("agreement_id"),
        kind: r.get("kind"),
        text_version: r.get("text_version"),
        text_sha256: r.get("text_sha256"),
        channel: r.get("channel"),
        terms: serde_json::from_str(&terms).unwrap_or(serde_json::Value::Null),
        created_at: r.get("created_at"),
    }
}

const PATIENT_COLUMNS: &str = "id, mobile_enc, psn_no, identity_enc, bound_at, created_at";

fn patient_of(r: &SqlRow) -> PatientRow {
    PatientRow {
        id: r.get("id"),
        mobile_enc: r.get("mobile_enc"),
        psn_no: r.get("psn_no"),
        identity_enc: r.get("identity_enc"),
        bound_at: r.get("bound_at"),
        created_at: r.get("created_at"),
    }
}

impl Store {
    /// How many codes were asked for this number, and from this address, since `since`.
    pub async fn patient_codes_since(&self, mobile_index: &str, address_index: &str, since: &str) -> StoreResult<(i64, i64)> {
        let count = |column: &'static str, value: &str| {
            let sql = format!("SELECT COUNT(*) AS n FROM patient_codes WHERE {column} = $1 AND created_at >= $2");
            let (value, since) = (value.to_string(), since.to_string());
            async move {
                let row = query(sql).bind(value).bind(since).fetch_one(&self.pool).await?;
                StoreResult::Ok(row.get::<i64, _>("n"))
            }
        };
        Ok((count("mobile_index", mobile_index).await?, count("address_index", address_index).await?))
    }

    /// When the last code for this number was asked for.
    pub async fn last_patient_code_at(&self, mobile_index: &str) -> StoreResult<Option<String>> {
        let row = query("SELECT MAX(created_at) AS at FROM patient_codes WHERE mobile_index = $1")
            .bind(mobile_index)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.get("at"))
    }

    /// Records a new code; any earlier live code for the number stops working.
    pub async fn insert_patient_code(&self, mobile_index: &str, address_index: &str, code: PatientCodeRow) -> StoreResult<()> {
        let (mobile_index, address_index, now) = (mobile_index.to_string(), address_index.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query("UPDATE patient_codes SET used_at = $1 WHERE mobile_index = $2 AND used_at IS NULL")
                    .bind(&now)
                    .bind(&mobile_index)
                    .execute(&mut *c)
                    .await?;
                query(
                    "INSERT INTO patient_codes (id, mobile_index, address_index, code_hash, attempts, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, 0, $5, $6)",
                )
                .bind(code.id)
                .bind(mobile_index)
                .bind(address_index)
                .bind(code.code_hash)
                .bind(now)
                .bind(code.expires_at)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Checks a guess against the number's live code, counting it; `hash_of(code id)` is the
    /// guess's hash as that code's was made.
    pub async fn check_patient_code(
        &self,
        mobile_index: &str,
        max_attempts: i64,
        hash_of: impl Fn(&str) -> String + Send + 'static,
    ) -> StoreResult<CodeCheck> {
        let (mobile_index, now) = (mobile_index.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let row = query(
                    "SELECT id, code_hash, attempts, expires_at FROM patient_codes \
                     WHERE mobile_index = $1 AND used_at IS NULL AND expires_at > $2 AND attempts < $3 \
                     ORDER BY created_at DESC LIMIT 1",
                )
                .bind(&mobile_index)
                .bind(&now)
                .bind(max_attempts)
                .fetch_optional(&mut *c)
                .await?;
                let Some(row) = row else { return Ok(CodeCheck::NoCode) };
                let code = PatientCodeRow {
                    id: row.get("id"),
                    code_hash: row.get("code_hash"),
                    attempts: row.get("attempts"),
                    expires_at: row.get("expires_at"),
                };
                if hash_of(&code.id) == code.code_hash {
                    query("UPDATE patient_codes SET used_at = $1, attempts = attempts + 1 WHERE id = $2")
                        .bind(&now)
                        .bind(&code.id)
                        .execute(&mut *c)
                        .await?;
                    return Ok(CodeCheck::Right);
                }
                query("UPDATE patient_codes SET attempts = attempts + 1 WHERE id = $1").bind(&code.id).execute(&mut *c).await?;
                Ok(CodeCheck::Wrong { left: max_attempts - code.attempts - 1 })
            })
        })
        .await
    }

    /// The patient with this mobile number, made now if they are new.
    pub async fn patient_by_mobile_or_new(&self, mobile_index: &str, mobile_enc: String, new_id: String) -> StoreResult<PatientRow> {
        let (index, now) = (mobile_index.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query("INSERT INTO patients (id, mobile_index, mobile_enc, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (mobile_index) DO NOTHING")
                    .bind(new_id)
                    .bind(&index)
                    .bind(mobile_enc)
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                let sql = format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE mobile_index = $1");
                let row = query(sql).bind(index).fetch_one(&mut *c).await?;
                Ok(patient_of(&row))
            })
        })
        .await
    }

    pub async fn patient(&self, id: &str) -> StoreResult<Option<PatientRow>> {
        let sql = format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE id = $1");
        Ok(query(sql).bind(id).fetch_optional(&self.pool).await?.as_ref().map(patient_of))
    }

    /// Binds the patient to the person 1101 named, once. False when the patient was bound already;
    /// a person bound to another patient is a conflict.
    pub async fn bind_patient_identity(&self, id: &str, psn_no: &str, certno_index: &str, identity_enc: String) -> StoreResult<bool> {
        let (id, psn_no, certno_index, now) = (id.to_string(), psn_no.to_string(), certno_index.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let taken = query("SELECT id FROM patients WHERE (psn_no = $1 OR certno_index = $2) AND id <> $3")
                    .bind(&psn_no)
                    .bind(&certno_index)
                    .bind(&id)
                    .fetch_optional(&mut *c)
                    .await?;
                if taken.is_some() {
                    return Err(StoreError::Conflict("this person is bound to another mobile number".into()));
                }
                let bound = query(
                    "UPDATE patients SET psn_no = $1, certno_index = $2, identity_enc = $3, bound_at = $4 WHERE id = $5 AND psn_no IS NULL",
                )
                .bind(psn_no)
                .bind(certno_index)
                .bind(identity_enc)
                .bind(now)
                .bind(id)
                .execute(&mut *c)
                .await?
                .rows_affected();
                Ok(bound == 1)
            })
        })
        .await
    }

    pub async fn insert_patient_session(
        &self,
        token_hash: String,
        patient_id: &str,
        csrf_token: String,
        expires_at: String,
    ) -> StoreResult<()> {
        let (patient_id, now) = (patient_id.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "INSERT INTO patient_sessions (token_hash, patient_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token_hash)
                .bind(patient_id)
                .bind(csrf_token)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn patient_session(&self, token_hash: &str) -> StoreResult<Option<PatientSessionRow>> {
        let row = query("SELECT patient_id, csrf_token, expires_at, revoked_at FROM patient_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| PatientSessionRow {
            patient_id: r.get("patient_id"),
            csrf_token: r.get("csrf_token"),
            expires_at: r.get("expires_at"),
            revoked_at: r.get("revoked_at"),
        }))
    }

    /// Ends a session now (signing out).
    pub async fn revoke_patient_session(&self, token_hash: &str) -> StoreResult<()> {
        let (token_hash, now) = (token_hash.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query("UPDATE patient_sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(token_hash)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// Records a line of consent once per agreement and kind; a repeat (a retried call) keeps the first.
    pub async fn insert_consent(&self, consent: ConsentRow) -> StoreResult<()> {
        let now = self.now();
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "INSERT INTO consents (id, patient_id, agreement_id, kind, text_version, text_sha256, channel, terms, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (agreement_id, kind) DO NOTHING",
                )
                .bind(consent.id)
                .bind(consent.patient_id)
                .bind(consent.agreement_id)
                .bind(consent.kind)
                .bind(consent.text_version)
                .bind(consent.text_sha256)
                .bind(consent.channel)
                .bind(consent.terms.to_string())
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// A patient's consent record, oldest first (at most `limit` lines).
    pub async fn consents_of_patient(&self, patient_id: &str, limit: i64) -> StoreResult<Vec<ConsentRow>> {
        let sql = format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE patient_id = $1 ORDER BY created_at, id LIMIT $2");
        Ok(query(sql).bind(patient_id).bind(limit).fetch_all(&self.pool).await?.iter().map(consent_of).collect())
    }

    /// An agreement's consent record (accepted, and revoked if it was).
    pub async fn consents_of_agreement(&self, agreement_id: &str) -> StoreResult<Vec<ConsentRow>> {
        let sql = format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE agreement_id = $1 ORDER BY created_at, id");
        Ok(query(sql).bind(agreement_id).fetch_all(&self.pool).await?.iter().map(consent_of).collect())
    }

    /// The ids of a person's agreements, newest first (at most `limit`).
    pub async fn agreement_ids_of_person(&self, psn_no: &str, limit: i64) -> StoreResult<Vec<String>> {
        let rows = query("SELECT id FROM agreements WHERE psn_no = $1 ORDER BY created_at DESC, id LIMIT $2")
            .bind(psn_no)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.get("id")).collect())
    }

    /// The ids of a person's visits, newest first (at most `limit`).
    /// A person's visits, newest first (ties by id), after the page that ended at `after`
    /// (its last visit's `(created_at, id)`), at most `limit`.
    pub async fn visit_ids_of_person(&self, psn_no: &str, after: Option<(&str, &str)>, limit: i64) -> StoreResult<Vec<String>> {
        let rows = match after {
            None => {
                query("SELECT id FROM visits WHERE psn_no = $1 ORDER BY created_at DESC, id LIMIT $2")
                    .bind(psn_no)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            Some((at, id)) => {
                query(
                    "SELECT id FROM visits WHERE psn_no = $1 AND (created_at < $2 OR (created_at = $2 AND id > $3)) \
                     ORDER BY created_at DESC, id LIMIT $4",
                )
                .bind(psn_no)
                .bind(at)
                .bind(id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows.iter().map(|r| r.get("id")).collect())
    }

    /// Marks an e-voucher token used; false when it was used before.
    pub async fn use_qr_token(&self, token_hash: &str, patient_id: &str, hospital_code: &str) -> StoreResult<bool> {
        let (token_hash, patient_id, hospital_code, now) =
            (token_hash.to_string(), patient_id.to_string(), hospital_code.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let inserted = query(
                    "INSERT INTO qr_tokens_used (token_hash, patient_id, hospital_code, used_at) VALUES ($1, $2, $3, $4) ON CONFLICT (token_hash) DO NOTHING",
                )
                .bind(token_hash)
                .bind(patient_id)
                .bind(hospital_code)
                .bind(now)
                .execute(&mut *c)
                .await?
                .rows_affected();
                Ok(inserted == 1)
            })
        })
        .await
    }
}
