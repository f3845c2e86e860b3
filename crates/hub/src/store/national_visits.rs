//! What a drop-in HIS told its platform about a visit before its 2207 (migration 0038): the
//! HIS's own visit number and the fee lines the platform accepted (`app::national_visits`).

use super::*;

/// A visit as noted from the drop-in traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NationalVisitRow {
    pub mdtrt_id: String,
    pub hospital_code: String,
    /// The HIS's own visit number (院内唯一流水号), from 2201.
    pub ipt_otp_no: String,
    /// The accepted fee lines, as `app::national_visits::NotedLine`s (JSON).
    pub lines_json: String,
}

impl Store {
    /// Notes the visit a 2201 opened (a 2201 answered again changes nothing).
    pub async fn note_national_visit(&self, hospital: &str, mdtrt_id: &str, ipt_otp_no: &str) -> StoreResult<()> {
        let (hospital, mdtrt_id, ipt_otp_no, now) = (hospital.to_string(), mdtrt_id.to_string(), ipt_otp_no.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "INSERT INTO national_visits (mdtrt_id, hospital_code, ipt_otp_no, lines_json, created_at, updated_at) \
                     VALUES ($1, $2, $3, '[]', $4, $4) ON CONFLICT (mdtrt_id) DO NOTHING",
                )
                .bind(mdtrt_id)
                .bind(hospital)
                .bind(ipt_otp_no)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn national_visit(&self, mdtrt_id: &str) -> StoreResult<Option<NationalVisitRow>> {
        let row = query("SELECT mdtrt_id, hospital_code, ipt_otp_no, lines_json FROM national_visits WHERE mdtrt_id = $1")
            .bind(mdtrt_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| NationalVisitRow {
            mdtrt_id: r.get("mdtrt_id"),
            hospital_code: r.get("hospital_code"),
            ipt_otp_no: r.get("ipt_otp_no"),
            lines_json: r.get("lines_json"),
        }))
    }

    /// Replaces a noted visit's lines with `change(lines)` in one write (a 2204 adds, a 2205
    /// withdraws); nothing when the visit was not noted (its 2201 went elsewhere).
    pub async fn change_national_lines(&self, mdtrt_id: &str, change: impl FnOnce(&str) -> String + Send + 'static) -> StoreResult<()> {
        let (mdtrt_id, now) = (mdtrt_id.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let Some(row) =
                    query("SELECT lines_json FROM national_visits WHERE mdtrt_id = $1").bind(&mdtrt_id).fetch_optional(&mut *c).await?
                else {
                    return Ok(());
                };
                let lines = change(&row.get::<String, _>("lines_json"));
                query("UPDATE national_visits SET lines_json = $1, updated_at = $2 WHERE mdtrt_id = $3")
                    .bind(lines)
                    .bind(now)
                    .bind(&mdtrt_id)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// Forgets notes untouched since `before` (RFC 3339). Returns how many.
    pub async fn prune_national_visits(&self, before: &str) -> StoreResult<u64> {
        let before = before.to_string();
        self.write(move |c| {
            Box::pin(async move {
                Ok(query("DELETE FROM national_visits WHERE updated_at < $1").bind(before).execute(&mut *c).await?.rows_affected())
            })
        })
        .await
    }
}

impl Store {
    /// A drop-in visit's fee lines made `lines` (those of the settlement its 2207 is paying: after a
    /// 2208 the HIS may settle other lines under the same visit, 分批结算 or a re-settlement): the
    /// open lines noted before are closed (kept, as a withdrawal keeps them) and these written, in
    /// one write. Nothing changes on a visit with lines the hub uploaded itself, and a visit being
    /// settled refuses (`visit_not_open`), as any upload does.
    pub async fn renote_fee_lines(&self, visit_id: &str, lines: &[FeeLineRow]) -> StoreResult<()> {
        let (visit_id, lines, closed_by) = (visit_id.to_string(), lines.to_vec(), format!("renoted:{}", uuid::Uuid::now_v7().simple()));
        self.write(move |c| {
            Box::pin(async move {
                let own = query("SELECT 1 AS own FROM fee_lines WHERE visit_id = $1 AND closed_by = '' AND upload_msgid <> '' LIMIT 1")
                    .bind(&visit_id)
                    .fetch_optional(&mut *c)
                    .await?;
                if own.is_some() {
                    return Ok(());
                }
                query("UPDATE fee_lines SET closed_by = $2 WHERE visit_id = $1 AND closed_by = ''")
                    .bind(&visit_id)
                    .bind(closed_by)
                    .execute(&mut *c)
                    .await?;
                super::visits::insert_fee_lines(c, visit_id, lines).await
            })
        })
        .await
    }
}
