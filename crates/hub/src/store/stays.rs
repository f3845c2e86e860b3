//! Inpatient stays (住院, `wugan_domain::inpatient`) as they stand between steps, with their fee
//! lines (2301), for the orchestrator in `app/inpatient.rs` and the recovery worker (migration
//! 0011). A save is guarded by the stage it was read in (the stored JSON), so a stay never goes
//! backwards when a request and the worker race, and it posts the stage's transfers in the same
//! commit.

use super::*;

/// A stay as stored. The certificate number is sealed by the caller (`pii::DataKey`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StayRow {
    pub id: String,
    pub hospital_code: String,
    /// The hospital's 住院号.
    pub ipt_no: String,
    pub psn_no: String,
    pub insutype: String,
    pub insuplc_admdvs: String,
    pub mdtrt_cert_type: String,
    pub mdtrt_cert_no_enc: String,
    pub med_type: String,
    /// The agreement whose line holds the deposit.
    pub agreement_id: String,
    /// `StayStage::state`.
    pub state: String,
    /// `StayStage` as JSON.
    pub stage_json: String,
    /// The insurance msgids, fixed before their calls: 2401, 2402, 2303, 2304.
    pub admit_msgid: String,
    pub discharge_msgid: String,
    pub presettle_msgid: String,
    pub settle_msgid: String,
    /// 2405 (undo a discharge) or 2404 (cancel the admission), fixed when the ward asks.
    pub cancel_msgid: Option<String>,
    pub idem_key: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The last 2303 reply's amounts its 2304 carries back (`PRESETTLE_ECHO`, migration 0032): a
    /// JSON object, `{}` when it had none; `None` when pre-settled before the column.
    pub presettle_echo: Option<String>,
    /// The admission's clinical information the HIS gave (`app::stay_clinical`, migration 0035):
    /// a JSON object, written with the stay before 2401; `None` when none was given or the stay is
    /// older than the column.
    pub admission_info: Option<String>,
    /// The discharge's (with its time), written by the bedside click with the 2402 msgid it fixes;
    /// `None` before a click, or on a stay older than the column.
    pub discharge_info: Option<String>,
}

/// One fee line of a stay: `amount` negative for a returned drug.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StayFeeLine {
    pub feedetl_sn: String,
    pub amount: Fen,
    pub upload_msgid: String,
    pub uploaded: bool,
    pub detail_json: String,
    /// 医疗收费项目类别 from 2301's answer (migration 0018); `None` before it or when not named.
    pub category: Option<String>,
}

pub(super) const STAY_COLUMNS: &str = "id, hospital_code, ipt_no, psn_no, insutype, insuplc_admdvs, mdtrt_cert_type, mdtrt_cert_no_enc, \
     med_type, agreement_id, state, stage_json, admit_msgid, discharge_msgid, presettle_msgid, settle_msgid, cancel_msgid, idem_key, \
     created_at, updated_at, presettle_echo, admission_info, discharge_info";

/// The states of a stay that is over (`StayStage::is_final`): its 住院号 may be admitted again
/// (migration 0037's partial index `stays_live_per_number` names the same list).
pub const STAYS_OVER: &str = "('cancelled', 'refused', 'settled', 'settled_unpaid', 'settled_by_interims')";

/// The states of a stay over with its settlement standing: the only ones that may owe a bill
/// (`StayStage::owed` is zero in the others).
pub(super) const STAYS_SETTLED: &str = "('settled', 'settled_unpaid', 'settled_by_interims')";

impl Store {
    /// Writes a new stay; `Conflict` when the hospital's 住院号 is taken by a stay still under way.
    pub async fn insert_stay(&self, s: &StayRow) -> StoreResult<()> {
        let s = s.clone();
        self.write(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "INSERT INTO stays ({STAY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
                     $21, $22, $23) \
                     ON CONFLICT (hospital_code, ipt_no) WHERE state NOT IN {STAYS_OVER} DO NOTHING"
                );
                let n = query(sql)
                    .bind(&s.id)
                    .bind(&s.hospital_code)
                    .bind(&s.ipt_no)
                    .bind(&s.psn_no)
                    .bind(&s.insutype)
                    .bind(&s.insuplc_admdvs)
                    .bind(&s.mdtrt_cert_type)
                    .bind(&s.mdtrt_cert_no_enc)
                    .bind(&s.med_type)
                    .bind(&s.agreement_id)
                    .bind(&s.state)
                    .bind(&s.stage_json)
                    .bind(&s.admit_msgid)
                    .bind(&s.discharge_msgid)
                    .bind(&s.presettle_msgid)
                    .bind(&s.settle_msgid)
                    .bind(s.cancel_msgid.clone())
                    .bind(s.idem_key.clone())
                    .bind(&s.created_at)
                    .bind(&s.updated_at)
                    .bind(s.presettle_echo.clone())
                    .bind(s.admission_info.clone())
                    .bind(s.discharge_info.clone())
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
                match n {
                    1 => Ok(()),
                    _ => Err(StoreError::Conflict(format!("stay {} is already admitted", s.ipt_no))),
                }
            })
        })
        .await
    }

    pub async fn stay(&self, id: &str) -> StoreResult<Option<StayRow>> {
        let sql = format!("SELECT {STAY_COLUMNS} FROM stays WHERE id = $1");
        let row = query(sql).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(stay_from_row))
    }

    /// The hospital's latest stay under its 住院号 (a number admitted again names several).
    pub async fn stay_by_hospital_no(&self, hospital: &str, ipt_no: &str) -> StoreResult<Option<StayRow>> {
        let sql =
            format!("SELECT {STAY_COLUMNS} FROM stays WHERE hospital_code = $1 AND ipt_no = $2 ORDER BY created_at DESC, id DESC LIMIT 1");
        let row = query(sql).bind(hospital).bind(ipt_no).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(stay_from_row))
    }

    /// Stays a step of which may be unfinished (a call named and not answered), idle since `before`.
    pub async fn unfinished_stays(&self, before: &str, limit: i64) -> StoreResult<Vec<StayRow>> {
        let sql = format!(
            "SELECT {STAY_COLUMNS} FROM stays WHERE state IN ('admitting', 'admitted', 'raising_deposit', 'discharging', 'discharged', 'pre_settled', \
             'insurance_settled', 'undoing_discharge', 'cancelling_admission', 'releasing', 'cancelling_settlement', \
             'interim_settling', 'cancelling_interim', 'withdrawing_fees') \
             AND updated_at < $1 AND parked_reason IS NULL \
             ORDER BY updated_at LIMIT $2"
        );
        let rows = query(sql).bind(before).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(stay_from_row).collect())
    }

    /// Saves a stay's new stage (and the msgids fixed for the calls ahead, with the discharge's
    /// information the click gave: migration 0035) if it still holds `from_json`, with the
    /// transfers it posts and the invoices it owes (the outbox, migration 0018) and the deposit
    /// receipts it owes or closes (migration 0023); false when another run moved it meanwhile, or
    /// when it is settled and its bill is being collected or was (a settlement cancelled then
    /// would not give that charge back: `App::refuse_if_bill_collected`).
    pub async fn save_stay(
        &self,
        s: &StayRow,
        from_json: &str,
        transfers: &[Transfer],
        owed: &[StayInvoiceOwed],
        deposits: &DepositSteps,
    ) -> StoreResult<bool> {
        let (s, from, transfers, owed, now) = (s.clone(), from_json.to_string(), transfers.to_vec(), owed.to_vec(), self.now());
        let deposits = deposits.clone();
        self.write(move |c| {
            Box::pin(async move {
                let n = query(format!(
                    "UPDATE stays SET state = $1, stage_json = $2, updated_at = $3, discharge_msgid = $6, presettle_msgid = $7, \
                     settle_msgid = $8, cancel_msgid = $9, presettle_echo = $10, discharge_info = $11 WHERE id = $4 AND stage_json = $5 \
                     AND (state NOT IN {STAYS_SETTLED} OR NOT EXISTS (SELECT 1 FROM bill_collections b \
                     WHERE b.settlement_id = stays.id AND b.state IN ('charging', 'authorizing', 'capturing', 'collected')))"
                ))
                .bind(&s.state)
                .bind(&s.stage_json)
                .bind(&s.updated_at)
                .bind(&s.id)
                .bind(&from)
                .bind(&s.discharge_msgid)
                .bind(&s.presettle_msgid)
                .bind(&s.settle_msgid)
                .bind(s.cancel_msgid.clone())
                .bind(s.presettle_echo.clone())
                .bind(s.discharge_info.clone())
                .execute(&mut *c)
                .await?
                .rows_affected();
                if n != 1 {
                    return Ok(false);
                }
                for t in &transfers {
                    post_transfer(c, t, &now).await?;
                }
                for o in &owed {
                    owe_stay_invoice(c, &s, o, &now).await?;
                }
                owe_deposit_receipts(c, &s, &deposits, &now).await?;
                Ok(true)
            })
        })
        .await
    }

    /// Counts a failed resumption; after `max_attempts` the stay is parked for an operator, with
    /// the last error as its evidence.
    pub async fn note_failed_stay_attempt(&self, id: &str, reason: &str, max_attempts: i64) -> StoreResult<()> {
        let (id, reason) = (id.to_string(), reason.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let sql = "UPDATE stays SET attempts = attempts + 1, \
                           parked_reason = CASE WHEN attempts + 1 >= $1 THEN $2 ELSE parked_reason END WHERE id = $3";
                query(sql).bind(max_attempts).bind(reason).bind(id).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    /// Keeps a stay's new 医疗类别 after the center took it (2403).
    pub async fn set_stay_med_type(&self, id: &str, med_type: &str) -> StoreResult<()> {
        let (id, med_type, now) = (id.to_string(), med_type.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query("UPDATE stays SET med_type = $1, updated_at = $2 WHERE id = $3")
                    .bind(med_type)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// The parked stays, with their attempts and reason, oldest first.
    pub async fn parked_stays(&self, limit: i64) -> StoreResult<Vec<(StayRow, i64, String)>> {
        let sql = format!(
            "SELECT {STAY_COLUMNS}, attempts, parked_reason FROM stays WHERE parked_reason IS NOT NULL ORDER BY updated_at LIMIT $1"
        );
        let rows = query(sql).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| (stay_from_row(r), r.get("attempts"), r.get("parked_reason"))).collect())
    }

    /// Takes a stay out of the exceptions queue (its count starts again); false when it was not parked.
    pub async fn unpark_stay(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let sql = "UPDATE stays SET attempts = 0, parked_reason = NULL WHERE id = $1 AND parked_reason IS NOT NULL";
                Ok(query(sql).bind(id).execute(&mut *c).await?.rows_affected() == 1)
            })
        })
        .await
    }

    pub async fn stay_fee_lines(&self, stay_id: &str) -> StoreResult<Vec<StayFeeLine>> {
        let rows = query(
            "SELECT feedetl_sn, amount_fen, upload_msgid, uploaded, detail_json, category FROM stay_fee_lines WHERE stay_id = $1 ORDER BY feedetl_sn",
        )
        .bind(stay_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| StayFeeLine {
                feedetl_sn: r.get("feedetl_sn"),
                amount: Fen(r.get("amount_fen")),
                upload_msgid: r.get("upload_msgid"),
                uploaded: r.get::<i64, _>("uploaded") != 0,
                detail_json: r.get("detail_json"),
                category: r.get("category"),
            })
            .collect())
    }

    /// Writes a batch of lines before 2301 is sent (with its msgid); `Conflict` on a line already there.
    pub async fn insert_stay_fee_lines(&self, stay_id: &str, lines: &[StayFeeLine]) -> StoreResult<()> {
        let (stay_id, lines) = (stay_id.to_string(), lines.to_vec());
        self.write(move |c| {
            Box::pin(async move {
                for l in &lines {
                    let n = query(
                        "INSERT INTO stay_fee_lines (stay_id, feedetl_sn, amount_fen, upload_msgid, uploaded, detail_json) \
                         VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (stay_id, feedetl_sn) DO NOTHING",
                    )
                    .bind(&stay_id)
                    .bind(&l.feedetl_sn)
                    .bind(l.amount.0)
                    .bind(&l.upload_msgid)
                    .bind(&l.detail_json)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
                    if n != 1 {
                        return Err(StoreError::Conflict(format!("fee line {} is already on this stay", l.feedetl_sn)));
                    }
                }
                Ok(())
            })
        })
        .await
    }

    /// Marks a batch accepted by 2301, with each line's 医疗收费项目类别 as 2301 answered it
    /// (`(feedetl_sn, category)`; a line 2301 did not name keeps none: "other fees" on the invoice).
    pub async fn mark_stay_fee_lines_uploaded(&self, stay_id: &str, msgid: &str, categories: &[(String, String)]) -> StoreResult<()> {
        let (stay_id, msgid, categories) = (stay_id.to_string(), msgid.to_string(), categories.to_vec());
        self.write(move |c| {
            Box::pin(async move {
                query("UPDATE stay_fee_lines SET uploaded = 1 WHERE stay_id = $1 AND upload_msgid = $2")
                    .bind(&stay_id)
                    .bind(&msgid)
                    .execute(&mut *c)
                    .await?;
                for (sn, category) in &categories {
                    query("UPDATE stay_fee_lines SET category = $3 WHERE stay_id = $1 AND feedetl_sn = $2")
                        .bind(&stay_id)
                        .bind(sn)
                        .bind(category)
                        .execute(&mut *c)
                        .await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// A batch 2301 refused: its lines go, so corrected ones can be sent.
    pub async fn delete_stay_fee_batch(&self, stay_id: &str, msgid: &str) -> StoreResult<()> {
        let (stay_id, msgid) = (stay_id.to_string(), msgid.to_string());
        self.write(move |c| {
            Box::pin(async move {
                query("DELETE FROM stay_fee_lines WHERE stay_id = $1 AND upload_msgid = $2 AND uploaded = 0")
                    .bind(&stay_id)
                    .bind(&msgid)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }
}

pub(super) fn stay_from_row(r: &SqlRow) -> StayRow {
    StayRow {
        id: r.get("id"),
        hospital_code: r.get("hospital_code"),
        ipt_no: r.get("ipt_no"),
        psn_no: r.get("psn_no"),
        insutype: r.get("insutype"),
        insuplc_admdvs: r.get("insuplc_admdvs"),
        mdtrt_cert_type: r.get("mdtrt_cert_type"),
        mdtrt_cert_no_enc: r.get("mdtrt_cert_no_enc"),
        med_type: r.get("med_type"),
        agreement_id: r.get("agreement_id"),
        state: r.get("state"),
        stage_json: r.get("stage_json"),
        admit_msgid: r.get("admit_msgid"),
        discharge_msgid: r.get("discharge_msgid"),
        presettle_msgid: r.get("presettle_msgid"),
        settle_msgid: r.get("settle_msgid"),
        cancel_msgid: r.get("cancel_msgid"),
        idem_key: r.get("idem_key"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        presettle_echo: r.get("presettle_echo"),
        admission_info: r.get("admission_info"),
        discharge_info: r.get("discharge_info"),
    }
}

#[cfg(test)]
mod tests {
    use super::STAYS_OVER;

    #[test]
    fn the_stays_whose_number_may_be_admitted_again_are_the_final_ones_and_the_partial_index_names_them() {
        let migration = include_str!("../../migrations/0037_stays_admitted_again.sql");
        assert!(migration.contains(&format!("WHERE state NOT IN {STAYS_OVER};")), "the index and the insert must name one list");
        // StayStage::is_final: Settled, SettledUnpaid, SettledByInterims, Cancelled, Refused.
        for state in ["settled", "settled_unpaid", "settled_by_interims", "cancelled", "refused"] {
            assert!(STAYS_OVER.contains(&format!("'{state}'")), "{state}");
        }
    }
}
