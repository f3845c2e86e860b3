//! Hospitals as the operator onboards them: code, name, grade, region, the insurance platform they
//! use and their deposit policy (migration 0014 added all but the first two).

use super::*;

/// A hospital as stored.
#[derive(Clone, Debug)]
pub struct HospitalRow {
    pub code: String,
    pub name: String,
    pub grade: Option<String>,
    pub region: Option<String>,
    pub insurance_platform: Option<String>,
    pub deposit_policy: Option<String>,
    pub created_at: String,
}

fn hospital_of(r: &SqlRow) -> HospitalRow {
    HospitalRow {
        code: r.get("code"),
        name: r.get("name"),
        grade: r.get("grade"),
        region: r.get("region"),
        insurance_platform: r.get("insurance_platform"),
        deposit_policy: r.get("deposit_policy"),
        created_at: r.get("created_at"),
    }
}

impl Store {
    /// Onboards a hospital; `Conflict` when its code is taken.
    pub async fn insert_hospital(&self, row: HospitalRow) -> StoreResult<()> {
        let code = row.code.clone();
        let inserted = self
            .write(move |c| {
                Box::pin(async move {
                    Ok(query(
                        "INSERT INTO hospitals (code, name, grade, region, insurance_platform, deposit_policy, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (code) DO NOTHING",
                    )
                    .bind(row.code)
                    .bind(row.name)
                    .bind(row.grade)
                    .bind(row.region)
                    .bind(row.insurance_platform)
                    .bind(row.deposit_policy)
                    .bind(row.created_at)
                    .execute(&mut *c)
                    .await?
                    .rows_affected())
                })
            })
            .await?;
        if inserted == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!("hospital {code}")))
        }
    }

    pub async fn hospital(&self, code: &str) -> StoreResult<Option<HospitalRow>> {
        Ok(query("SELECT * FROM hospitals WHERE code = $1").bind(code).fetch_optional(&self.pool).await?.as_ref().map(hospital_of))
    }

    /// Every hospital, by code.
    pub async fn hospitals(&self) -> StoreResult<Vec<HospitalRow>> {
        Ok(query("SELECT * FROM hospitals ORDER BY code").fetch_all(&self.pool).await?.iter().map(hospital_of).collect())
    }
}
