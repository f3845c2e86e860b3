//! The patient's seamless-payment switches (migration 0020): standing choices (a default and one
//! per hospital) read at registration, and each visit's own switch.

use super::*;

/// A standing choice: `hospital_code` empty is the patient's default.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SeamlessChoice {
    pub hospital_code: String,
    pub enabled: bool,
    pub updated_at: String,
}

/// A visit's own switch, where one was written (no row: on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisitSwitch {
    pub enabled: bool,
    /// `default` or `hospital` (from a standing choice at registration), or `visit`.
    pub source: String,
    /// How many times the patient changed it; names each change's webhook event.
    pub changes: i64,
}

impl Store {
    /// The person's standing choices, the default first.
    pub async fn seamless_choices(&self, psn_no: &str) -> StoreResult<Vec<SeamlessChoice>> {
        let rows = query("SELECT hospital_code, enabled, updated_at FROM seamless_choices WHERE psn_no = $1 ORDER BY hospital_code")
            .bind(psn_no)
            .fetch_few(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| SeamlessChoice {
                hospital_code: r.get("hospital_code"),
                enabled: r.get::<i64, _>("enabled") == 1,
                updated_at: r.get("updated_at"),
            })
            .collect())
    }

    pub async fn set_seamless_choice(&self, psn_no: &str, hospital_code: &str, enabled: bool) -> StoreResult<()> {
        let (psn_no, hospital_code, now) = (psn_no.to_string(), hospital_code.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "INSERT INTO seamless_choices (psn_no, hospital_code, enabled, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (psn_no, hospital_code) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
                )
                .bind(psn_no)
                .bind(hospital_code)
                .bind(i64::from(enabled))
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn visit_switch(&self, visit_id: &str) -> StoreResult<Option<VisitSwitch>> {
        let row = query("SELECT enabled, source, changes FROM visit_seamless_switches WHERE visit_id = $1")
            .bind(visit_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| VisitSwitch { enabled: r.get::<i64, _>("enabled") == 1, source: r.get("source"), changes: r.get("changes") }))
    }

    /// Writes a visit's switch as registration found it; an existing one is kept (a resent
    /// registration does not undo the patient's change).
    pub async fn snapshot_visit_switch(&self, visit_id: &str, enabled: bool, source: &str) -> StoreResult<()> {
        let (visit_id, source, now) = (visit_id.to_string(), source.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "INSERT INTO visit_seamless_switches (visit_id, enabled, source, changes, updated_at) VALUES ($1, $2, $3, 0, $4) \
                     ON CONFLICT (visit_id) DO NOTHING",
                )
                .bind(visit_id)
                .bind(i64::from(enabled))
                .bind(source)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// The patient switches a visit: `Some(changes)` (the new count) when the state changed,
    /// `None` when it already was so. Only while the visit has no live settlement attempt (checked
    /// in the same transaction, so a doctor's click that started meanwhile wins).
    pub async fn switch_visit(&self, visit_id: &str, enabled: bool) -> StoreResult<Option<i64>> {
        let (visit_id, now) = (visit_id.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let live = query("SELECT 1 FROM settlements WHERE visit_id = $1 AND state NOT IN ('failed', 'cancelled')")
                    .bind(&visit_id)
                    .fetch_optional(&mut *c)
                    .await?;
                if live.is_some() {
                    return Err(StoreError::Conflict("the visit is being or has been settled".into()));
                }
                let current = query("SELECT enabled, changes FROM visit_seamless_switches WHERE visit_id = $1")
                    .bind(&visit_id)
                    .fetch_optional(&mut *c)
                    .await?;
                let (was, changes) = current.map_or((true, 0), |r| (r.get::<i64, _>("enabled") == 1, r.get::<i64, _>("changes")));
                if was == enabled {
                    return Ok(None);
                }
                query(
                    "INSERT INTO visit_seamless_switches (visit_id, enabled, source, changes, updated_at) VALUES ($1, $2, 'visit', $3, $4) \
                     ON CONFLICT (visit_id) DO UPDATE SET enabled = excluded.enabled, source = 'visit', changes = excluded.changes, updated_at = excluded.updated_at",
                )
                .bind(&visit_id)
                .bind(i64::from(enabled))
                .bind(changes + 1)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(Some(changes + 1))
            })
        })
        .await
    }
}
