//! Deployment modes (issue 15): a hospital's envelope fields and settlement type, its drop-in
//! national-interface token (hashed), a visit's own settlement type, and the platform's records of
//! a settlement (the 2207 output a cash-only HIS posted; the 2208 cancellation record).

use super::*;
use wugan_domain::settlement::cash_only::SetlType;

/// A hospital as the envelopes and the settlement types need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HospitalProfile {
    pub code: String,
    pub name: String,
    /// 就医地医保区划 its envelopes carry; `None`: the hub's region.
    pub mdtrtarea_admvs: Option<String>,
    pub setl_type: SetlType,
}

/// The platform's records of one settlement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementRecord {
    pub settlement_id: String,
    pub setl_type: SetlType,
    /// Cash only: the 2207 output the HIS posted (sealed: it names the person), and its setl_id
    /// (settled once).
    pub posted_setl_id: Option<String>,
    pub posted_json: Option<String>,
    /// The 2208 cancellation record (its own new setl_id; the record sealed), once checked.
    pub cancel_setl_id: Option<String>,
    pub cancel_json: Option<String>,
}

fn profile_from_row(r: &SqlRow) -> StoreResult<HospitalProfile> {
    let setl_type: String = r.get("setl_type");
    Ok(HospitalProfile {
        code: r.get("code"),
        name: r.get("name"),
        mdtrtarea_admvs: r.get::<Option<String>, _>("mdtrtarea_admvs").filter(|a| !a.trim().is_empty()),
        setl_type: SetlType::parse(&setl_type).ok_or_else(|| StoreError::Corrupt(format!("hospital setl_type {setl_type}")))?,
    })
}

fn record_from_row(r: &SqlRow) -> StoreResult<SettlementRecord> {
    let setl_type: String = r.get("setl_type");
    Ok(SettlementRecord {
        settlement_id: r.get("settlement_id"),
        setl_type: SetlType::parse(&setl_type).ok_or_else(|| StoreError::Corrupt(format!("settlement setl_type {setl_type}")))?,
        posted_setl_id: r.get("posted_setl_id"),
        posted_json: r.get("posted_json"),
        cancel_setl_id: r.get("cancel_setl_id"),
        cancel_json: r.get("cancel_json"),
    })
}

impl Store {
    pub async fn hospital_profile(&self, code: &str) -> StoreResult<Option<HospitalProfile>> {
        if let Some(kept) = self.hot.profile(code) {
            return Ok(Some(kept));
        }
        let ticket = self.hot.ticket();
        let sql = "SELECT code, name, mdtrtarea_admvs, setl_type FROM hospitals WHERE code = $1";
        let row = query(sql).bind(code).fetch_optional(&self.pool).await?;
        let profile = row.map(|r| profile_from_row(&r)).transpose()?;
        if let Some(p) = &profile {
            self.hot.keep_profile(ticket, p);
        }
        Ok(profile)
    }

    /// Sets a hospital's envelope region and settlement type (the hospital must exist).
    pub async fn set_hospital_mode(&self, code: &str, mdtrtarea_admvs: Option<&str>, setl_type: SetlType) -> StoreResult<bool> {
        let (code, admvs) = (code.to_string(), mdtrtarea_admvs.map(str::to_string));
        let changed = self
            .write(move |c| {
                Box::pin(async move {
                    let sql = "UPDATE hospitals SET mdtrtarea_admvs = $1, setl_type = $2 WHERE code = $3";
                    let done = query(sql).bind(admvs).bind(setl_type.as_str()).bind(code).execute(&mut *c).await?;
                    Ok(done.rows_affected() == 1)
                })
            })
            .await;
        self.hot.forget();
        changed
    }

    /// Records the hash of a hospital's drop-in token (replacing any earlier one).
    pub async fn set_ni_token_hash(&self, code: &str, token_hash: &str) -> StoreResult<bool> {
        let (code, hash) = (code.to_string(), token_hash.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let done = query("UPDATE hospitals SET ni_token_hash = $1 WHERE code = $2").bind(hash).bind(code).execute(&mut *c).await?;
                Ok(done.rows_affected() == 1)
            })
        })
        .await
    }

    pub async fn hospital_by_ni_token(&self, token_hash: &str) -> StoreResult<Option<HospitalProfile>> {
        let sql = "SELECT code, name, mdtrtarea_admvs, setl_type FROM hospitals WHERE ni_token_hash = $1";
        let row = query(sql).bind(token_hash).fetch_optional(&self.pool).await?;
        row.map(|r| profile_from_row(&r)).transpose()
    }

    pub async fn set_visit_setl_type(&self, visit_id: &str, setl_type: SetlType) -> StoreResult<()> {
        let visit_id = visit_id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let sql = "INSERT INTO visit_setl_types (visit_id, setl_type) VALUES ($1, $2) \
                           ON CONFLICT (visit_id) DO UPDATE SET setl_type = excluded.setl_type";
                query(sql).bind(visit_id).bind(setl_type.as_str()).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn visit_setl_type(&self, visit_id: &str) -> StoreResult<Option<SetlType>> {
        let row = query("SELECT setl_type FROM visit_setl_types WHERE visit_id = $1").bind(visit_id).fetch_optional(&self.pool).await?;
        Ok(row.and_then(|r| SetlType::parse(&r.get::<String, _>("setl_type"))))
    }

    pub async fn settlement_record(&self, settlement_id: &str) -> StoreResult<Option<SettlementRecord>> {
        let row = query("SELECT * FROM settlement_records WHERE settlement_id = $1").bind(settlement_id).fetch_optional(&self.pool).await?;
        row.map(|r| record_from_row(&r)).transpose()
    }

    /// The settlement that took a posted setl_id, if any (a setl_id is settled once).
    pub async fn settlement_of_posted_setl_id(&self, setl_id: &str) -> StoreResult<Option<String>> {
        let row = query("SELECT settlement_id FROM settlement_records WHERE posted_setl_id = $1")
            .bind(setl_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get("settlement_id")))
    }

    /// Writes a cash-only settlement's first row and the 2207 output it came with, in one write.
    /// `Conflict`: the visit has a live attempt, or the setl_id was settled already.
    pub async fn create_posted_settlement(&self, s: &SettlementRow, record: &SettlementRecord) -> StoreResult<()> {
        let (row, record, now) = (s.clone(), record.clone(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                if !super::settlements::insert_settlement(c, row).await? {
                    return Err(StoreError::Conflict("the visit has a settlement in progress".into()));
                }
                insert_record(c, &record, &now).await
            })
        })
        .await
    }

    /// Keeps a checked 2208 cancellation record (the same record again is a no-op).
    pub async fn save_cancel_record(&self, settlement_id: &str, setl_type: SetlType, cancel_setl_id: &str, json: &str) -> StoreResult<()> {
        let record = SettlementRecord {
            settlement_id: settlement_id.to_string(),
            setl_type,
            posted_setl_id: None,
            posted_json: None,
            cancel_setl_id: Some(cancel_setl_id.to_string()),
            cancel_json: Some(json.to_string()),
        };
        let now = self.now();
        self.write(move |c| {
            Box::pin(async move {
                let sql = "INSERT INTO settlement_records (settlement_id, setl_type, cancel_setl_id, cancel_json, created_at) \
                           VALUES ($1, $2, $3, $4, $5) \
                           ON CONFLICT (settlement_id) DO UPDATE SET cancel_setl_id = excluded.cancel_setl_id, cancel_json = excluded.cancel_json";
                let result = query(sql)
                    .bind(&record.settlement_id)
                    .bind(record.setl_type.as_str())
                    .bind(&record.cancel_setl_id)
                    .bind(&record.cancel_json)
                    .bind(now)
                    .execute(&mut *c)
                    .await;
                match result {
                    Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("that cancellation record is another settlement's".into())),
                    other => other.map(|_| ()).map_err(StoreError::from),
                }
            })
        })
        .await
    }
}

async fn insert_record(c: &mut Conn, r: &SettlementRecord, now: &str) -> StoreResult<()> {
    let sql =
        "INSERT INTO settlement_records (settlement_id, setl_type, posted_setl_id, posted_json, created_at) VALUES ($1, $2, $3, $4, $5)";
    let result = query(sql)
        .bind(&r.settlement_id)
        .bind(r.setl_type.as_str())
        .bind(&r.posted_setl_id)
        .bind(&r.posted_json)
        .bind(now)
        .execute(&mut *c)
        .await;
    match result {
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("this setl_id was settled already".into())),
        other => other.map(|_| ()).map_err(StoreError::from),
    }
}
