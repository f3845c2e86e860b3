use super::*;
use wugan_domain::settlement::cash_only::SetlType;

/// `Store::visit_for_click`'s answer.
#[derive(Clone, Debug)]
pub struct VisitForClick {
    pub visit: VisitRow,
    /// The visit's own settlement type; `None`: its hospital's.
    pub setl_type: Option<SetlType>,
    /// The patient's switch for the visit; `None`: on.
    pub switch: Option<VisitSwitch>,
    /// The state of the visit's latest settlement attempt; `None`: it has none.
    pub last_settlement: Option<SettlementState>,
}

impl VisitForClick {
    /// A settlement attempt stands or is under way (a failed or cancelled one leaves the visit open).
    pub fn has_live_settlement(&self) -> bool {
        self.last_settlement.is_some_and(|s| !matches!(s, SettlementState::Failed | SettlementState::Cancelled))
    }
}

impl Store {
    // ---- visits and fees --------------------------------------------------------------------

    pub async fn insert_visit(&self, v: &VisitRow) -> StoreResult<()> {
        let v = v.clone();
        self.write(move |c| {
            Box::pin(async move {
                let result = query(
            "INSERT INTO visits (id, hospital_code, ipt_otp_no, psn_no, insutype, insuplc_admdvs, mdtrt_cert_type, mdtrt_cert_no_enc, \
             med_type, register_msgid, begntime, mdtrt_id, agreement_id, seamless_reason, status, idem_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(&v.id)
        .bind(&v.hospital_code)
        .bind(v.ipt_otp_no.trim())
        .bind(&v.psn_no)
        .bind(&v.insutype)
        .bind(&v.insuplc_admdvs)
        .bind(&v.mdtrt_cert_type)
        .bind(&v.mdtrt_cert_no_enc)
        .bind(&v.med_type)
        .bind(&v.register_msgid)
        .bind(&v.begntime)
        .bind(&v.mdtrt_id)
        .bind(v.agreement_id.clone())
        .bind(v.seamless_reason.clone())
        .bind(v.status.as_str())
        .bind(v.idem_key.clone())
        .bind(&v.created_at)
        .execute(&mut *c)
        .await;
                match result {
                    Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!("visit {} is already registered", v.ipt_otp_no))),
                    other => other.map(|_| ()).map_err(StoreError::from),
                }
            })
        })
        .await
    }

    pub async fn visit(&self, id: &str) -> StoreResult<Option<VisitRow>> {
        let row = query("SELECT * FROM visits WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| visit_from_row(&r)).transpose()
    }

    /// A visit with what the doctor's click also reads about it, in one statement: its own
    /// settlement type (if the HIS set one), the patient's switch for it (if one was written) and
    /// the state of its latest settlement attempt (if any).
    pub async fn visit_for_click(&self, id: &str) -> StoreResult<Option<VisitForClick>> {
        let row = query(
            "SELECT v.*, st.setl_type AS own_setl_type, sw.enabled AS switch_enabled, sw.source AS switch_source, \
             sw.changes AS switch_changes, (SELECT s.state FROM settlements s WHERE s.visit_id = v.id \
             ORDER BY s.created_at DESC, s.id DESC LIMIT 1) AS last_settlement_state FROM visits v \
             LEFT JOIN visit_setl_types st ON st.visit_id = v.id LEFT JOIN visit_seamless_switches sw ON sw.visit_id = v.id WHERE v.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let switch = r.get::<Option<i64>, _>("switch_enabled").map(|enabled| VisitSwitch {
            enabled: enabled == 1,
            source: r.get::<Option<String>, _>("switch_source").unwrap_or_default(),
            changes: r.get::<Option<i64>, _>("switch_changes").unwrap_or_default(),
        });
        let setl_type = r.get::<Option<String>, _>("own_setl_type").and_then(|t| SetlType::parse(&t));
        let last_settlement = r
            .get::<Option<String>, _>("last_settlement_state")
            .map(|state| SettlementState::parse(&state))
            .map(|s| s.ok_or_else(|| StoreError::Corrupt("a settlement in no known state".into())));
        Ok(Some(VisitForClick { visit: visit_from_row(&r)?, setl_type, switch, last_settlement: last_settlement.transpose()? }))
    }

    pub async fn visit_by_hospital_no(&self, hospital_code: &str, ipt_otp_no: &str) -> StoreResult<Option<VisitRow>> {
        // Kept and compared trimmed (`app::visits::trimmed_id`): a padded number is the same visit.
        let row = query("SELECT * FROM visits WHERE hospital_code = $1 AND ipt_otp_no = $2")
            .bind(hospital_code)
            .bind(ipt_otp_no.trim())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| visit_from_row(&r)).transpose()
    }

    /// Records the insurance center's visit id once 2201 has answered, with the request's answer.
    pub async fn complete_registration(&self, id: &str, mdtrt_id: &str, answer: Option<StoredAnswer>) -> StoreResult<()> {
        let (id, mdtrt_id) = (id.to_string(), mdtrt_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                query("UPDATE visits SET mdtrt_id = $1, status = 'registered' WHERE id = $2 AND status = 'registering'")
                    .bind(mdtrt_id)
                    .bind(id)
                    .execute(&mut *c)
                    .await?;
                if let Some(answer) = answer {
                    answer.write(c).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Forgets a registration the insurance center refused, so the hospital can correct and resend it.
    pub async fn delete_unregistered_visit(&self, id: &str) -> StoreResult<()> {
        let id = id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                query("DELETE FROM visits WHERE id = $1 AND status = 'registering'").bind(id).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    /// Stores fee lines before they are sent (uploaded = false); a line number already on the visit
    /// is a conflict and nothing is written. One statement for the whole batch.
    pub async fn insert_fee_lines(&self, visit_id: &str, lines: &[FeeLineRow]) -> StoreResult<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let (visit_id, lines) = (visit_id.to_string(), lines.to_vec());
        self.write(move |c| Box::pin(insert_fee_lines(c, visit_id, lines))).await
    }

    /// Marks a batch accepted by 2204, with the insurance center's classification of each line, and
    /// stores the request's answer in the same write. One statement for the whole batch.
    pub async fn mark_fee_lines_uploaded(
        &self,
        visit_id: &str,
        results: &[(String, String)],
        answer: Option<StoredAnswer>,
    ) -> StoreResult<()> {
        let (visit_id, results) = (visit_id.to_string(), results.to_vec());
        self.write(move |c| {
            Box::pin(async move {
                if !results.is_empty() {
                    mark_fee_lines_uploaded(c, &visit_id, &results).await?;
                }
                if let Some(answer) = answer {
                    answer.write(c).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Forgets a batch the insurance center refused (nothing of it was accepted).
    pub async fn delete_fee_batch(&self, visit_id: &str, upload_msgid: &str) -> StoreResult<()> {
        let (visit_id, upload_msgid) = (visit_id.to_string(), upload_msgid.to_string());
        self.write(move |c| {
            Box::pin(async move {
                query("DELETE FROM fee_lines WHERE visit_id = $1 AND upload_msgid = $2 AND uploaded = 0 AND closed_by = ''")
                    .bind(&visit_id)
                    .bind(upload_msgid)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn fee_lines(&self, visit_id: &str) -> StoreResult<Vec<FeeLineRow>> {
        let rows = query(
            "SELECT feedetl_sn, chrg_bchno, amount_fen, upload_msgid, uploaded, detail_json, result_json FROM fee_lines WHERE visit_id = $1 AND closed_by = '' ORDER BY feedetl_sn",
        )
            .bind(visit_id)
            .fetch_few(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| FeeLineRow {
                feedetl_sn: r.get("feedetl_sn"),
                chrg_bchno: r.get("chrg_bchno"),
                amount: Fen(r.get("amount_fen")),
                upload_msgid: r.get("upload_msgid"),
                uploaded: r.get::<i64, _>("uploaded") != 0,
                detail_json: r.get("detail_json"),
                result_json: r.get("result_json"),
            })
            .collect())
    }
}

/// `$first, $first+1, …` for `count` values of `width` parameters each, as `(…), (…)`.
fn value_rows(first: usize, count: usize, width: usize) -> String {
    let row = |i: usize| (0..width).map(|k| format!("${}", first + i * width + k)).collect::<Vec<_>>().join(", ");
    (0..count).map(|i| format!("({})", row(i))).collect::<Vec<_>>().join(", ")
}

pub(super) async fn insert_fee_lines(c: &mut Conn, visit_id: String, lines: Vec<FeeLineRow>) -> StoreResult<()> {
    // A click that began since the upload read the visit settles the lines it saw: these would
    // reach the center behind its back (its 2206 total no longer the center's). Checked in the
    // same transaction as the lines' insert; the click checks the lines in its own.
    let live = query("SELECT 1 AS live FROM settlements WHERE visit_id = $1 AND state NOT IN ('failed', 'cancelled') LIMIT 1")
        .bind(&visit_id)
        .fetch_optional(&mut *c)
        .await?;
    if live.is_some() {
        return Err(StoreError::Refused {
            code: "visit_not_open",
            message: "the visit is being settled: fees can only be added before the click".into(),
        });
    }
    // Nor while lines are being withdrawn (2205): the center may withdraw these with them.
    super::fee_withdrawals::withdrawal_under_way(c, &visit_id).await?;
    let sql = format!(
        "INSERT INTO fee_lines (visit_id, feedetl_sn, chrg_bchno, amount_fen, upload_msgid, uploaded, detail_json, result_json) \
         VALUES {} ON CONFLICT (visit_id, feedetl_sn, closed_by) DO NOTHING RETURNING feedetl_sn",
        value_rows(1, lines.len(), 8)
    );
    let mut query = query(sql);
    for line in &lines {
        query = query
            .bind(visit_id.clone())
            .bind(line.feedetl_sn.clone())
            .bind(line.chrg_bchno.clone())
            .bind(line.amount.0)
            .bind(line.upload_msgid.clone())
            .bind(line.uploaded as i64)
            .bind(line.detail_json.clone())
            .bind(line.result_json.clone());
    }
    let inserted: Vec<String> = query.fetch_all(&mut *c).await?.iter().map(|r| r.get("feedetl_sn")).collect();
    match lines.iter().find(|l| !inserted.contains(&l.feedetl_sn)) {
        // The job fails, so its savepoint undoes the lines that were inserted.
        Some(line) => Err(StoreError::Conflict(format!("fee line {} is already uploaded", line.feedetl_sn))),
        None => Ok(()),
    }
}

async fn mark_fee_lines_uploaded(c: &mut Conn, visit_id: &str, results: &[(String, String)]) -> StoreResult<()> {
    // $1 the visit; then each line's number and result: $2k and $2k+1.
    let cases: Vec<String> = (0..results.len()).map(|k| format!("WHEN ${} THEN ${}", 2 + 2 * k, 3 + 2 * k)).collect();
    let numbers: Vec<String> = (0..results.len()).map(|k| format!("${}", 2 + 2 * k)).collect();
    let sql = format!(
        "UPDATE fee_lines SET uploaded = 1, result_json = CASE feedetl_sn {} END \
         WHERE visit_id = $1 AND closed_by = '' AND feedetl_sn IN ({})",
        cases.join(" "),
        numbers.join(", ")
    );
    let mut query = query(sql).bind(visit_id.to_string());
    for (sn, result) in results {
        query = query.bind(sn.clone()).bind(result.clone());
    }
    query.execute(&mut *c).await?;
    Ok(())
}

impl Store {
    /// Keeps a visit's last estimate (`app::estimates`), while it is open for the click.
    pub async fn keep_estimate(&self, visit_id: &str, estimate: String) -> StoreResult<()> {
        let visit_id = visit_id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let sql = "UPDATE visits SET last_estimate = $2 WHERE id = $1 AND status = 'registered'";
                query(sql).bind(visit_id).bind(estimate).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }
}

pub(super) fn visit_from_row(r: &SqlRow) -> StoreResult<VisitRow> {
    let status: String = r.get("status");
    Ok(VisitRow {
        id: r.get("id"),
        hospital_code: r.get("hospital_code"),
        ipt_otp_no: r.get("ipt_otp_no"),
        psn_no: r.get("psn_no"),
        insutype: r.get("insutype"),
        insuplc_admdvs: r.get("insuplc_admdvs"),
        mdtrt_cert_type: r.get("mdtrt_cert_type"),
        mdtrt_cert_no_enc: r.get("mdtrt_cert_no_enc"),
        med_type: r.get("med_type"),
        register_msgid: r.get("register_msgid"),
        begntime: r.get("begntime"),
        mdtrt_id: r.get::<Option<String>, _>("mdtrt_id").unwrap_or_default(),
        agreement_id: r.get("agreement_id"),
        seamless_reason: r.get("seamless_reason"),
        status: VisitStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("visit status {status}")))?,
        idem_key: r.get("idem_key"),
        created_at: r.get("created_at"),
        last_estimate: r.get("last_estimate"),
    })
}

#[cfg(test)]
#[test]
fn rows_of_parameters_are_numbered_on_from_the_first() {
    assert_eq!(value_rows(1, 2, 3), "($1, $2, $3), ($4, $5, $6)");
    assert_eq!(value_rows(2, 1, 2), "($2, $3)");
}
