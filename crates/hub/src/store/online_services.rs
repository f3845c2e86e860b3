//! The patient's online services (migration 0021): special-disease registrations and manual
//! claims, each written with its msgid before the insurance center's call and moved on from the
//! state it was read in (a row never moves backwards, so two runs cannot both close it).

use super::{query, SqlRow, Store, StoreResult};
use serde::Serialize;

/// One special-disease registration as the patient applied for it and the center decided it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SpecialDiseaseRow {
    pub id: String,
    #[serde(skip)]
    pub patient_id: String,
    pub psn_no: String,
    pub opsp_dise_code: String,
    pub hospital_code: String,
    /// yyyy-MM-dd.
    pub begndate: String,
    #[serde(skip)]
    pub msgid: String,
    /// `pending` (asked, no answer yet), `approved`, `declined`, `revoking`, `revoked`.
    pub state: String,
    pub opsp_dise_name: Option<String>,
    /// The center's 待遇申报明细流水号.
    pub trt_dcla_detl_sn: Option<String>,
    #[serde(skip)]
    pub revoke_msgid: Option<String>,
    /// The center's reason for a decline, in its words.
    pub reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// One manual claim (零星报销).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ManualClaimRow {
    /// Also the center's claim_no: a claim is paid at most once under it.
    pub id: String,
    #[serde(skip)]
    pub patient_id: String,
    pub psn_no: String,
    pub hospital_code: String,
    pub bill_no: String,
    pub setl_date: String,
    pub medfee_fen: i64,
    #[serde(skip)]
    pub msgid: String,
    #[serde(skip)]
    pub request_sealed: String,
    pub bank_card_tail: String,
    /// `submitted`, `adjudicated` (nothing to pay), `paid`, `declined`.
    pub state: String,
    pub fund_fen: Option<i64>,
    pub psn_part_fen: Option<i64>,
    pub payment_id: Option<String>,
    pub reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

fn special_disease_of(r: &SqlRow) -> SpecialDiseaseRow {
    SpecialDiseaseRow {
        id: r.get("id"),
        patient_id: r.get("patient_id"),
        psn_no: r.get("psn_no"),
        opsp_dise_code: r.get("opsp_dise_code"),
        hospital_code: r.get("hospital_code"),
        begndate: r.get("begndate"),
        msgid: r.get("msgid"),
        state: r.get("state"),
        opsp_dise_name: r.get("opsp_dise_name"),
        trt_dcla_detl_sn: r.get("trt_dcla_detl_sn"),
        revoke_msgid: r.get("revoke_msgid"),
        reason: r.get("reason"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

fn claim_of(r: &SqlRow) -> ManualClaimRow {
    ManualClaimRow {
        id: r.get("id"),
        patient_id: r.get("patient_id"),
        psn_no: r.get("psn_no"),
        hospital_code: r.get("hospital_code"),
        bill_no: r.get("bill_no"),
        setl_date: r.get("setl_date"),
        medfee_fen: r.get("medfee_fen"),
        msgid: r.get("msgid"),
        request_sealed: r.get("request_sealed"),
        bank_card_tail: r.get("bank_card_tail"),
        state: r.get("state"),
        fund_fen: r.get("fund_fen"),
        psn_part_fen: r.get("psn_part_fen"),
        payment_id: r.get("payment_id"),
        reason: r.get("reason"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

impl Store {
    pub async fn insert_special_disease(&self, row: &SpecialDiseaseRow) -> StoreResult<()> {
        let (a, now) = (row.clone(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "INSERT INTO special_disease_applications (id, patient_id, psn_no, opsp_dise_code, hospital_code, begndate, msgid, \
                     state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8)",
                )
                .bind(a.id)
                .bind(a.patient_id)
                .bind(a.psn_no)
                .bind(a.opsp_dise_code)
                .bind(a.hospital_code)
                .bind(a.begndate)
                .bind(a.msgid)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn special_disease(&self, id: &str) -> StoreResult<Option<SpecialDiseaseRow>> {
        let row = query("SELECT * FROM special_disease_applications WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(special_disease_of))
    }

    pub async fn special_diseases_of_person(&self, psn_no: &str, limit: i64) -> StoreResult<Vec<SpecialDiseaseRow>> {
        let rows = query("SELECT * FROM special_disease_applications WHERE psn_no = $1 ORDER BY created_at DESC, id LIMIT $2")
            .bind(psn_no)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(special_disease_of).collect())
    }

    /// Moves a registration from `from` to the row's state with what the center said; false when
    /// it was no longer in `from` (another run moved it).
    pub async fn move_special_disease(&self, row: &SpecialDiseaseRow, from: &str) -> StoreResult<bool> {
        let (a, from, now) = (row.clone(), from.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let done = query(
                    "UPDATE special_disease_applications SET state = $3, opsp_dise_name = $4, trt_dcla_detl_sn = $5, revoke_msgid = $6, \
                     reason = $7, updated_at = $8 WHERE id = $1 AND state = $2",
                )
                .bind(a.id)
                .bind(from)
                .bind(a.state)
                .bind(a.opsp_dise_name)
                .bind(a.trt_dcla_detl_sn)
                .bind(a.revoke_msgid)
                .bind(a.reason)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(done.rows_affected() == 1)
            })
        })
        .await
    }

    pub async fn insert_manual_claim(&self, row: &ManualClaimRow) -> StoreResult<()> {
        let (a, now) = (row.clone(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "INSERT INTO manual_claims (id, patient_id, psn_no, hospital_code, bill_no, setl_date, medfee_fen, msgid, request_sealed, \
                     bank_card_tail, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'submitted', $11, $11)",
                )
                .bind(a.id)
                .bind(a.patient_id)
                .bind(a.psn_no)
                .bind(a.hospital_code)
                .bind(a.bill_no)
                .bind(a.setl_date)
                .bind(a.medfee_fen)
                .bind(a.msgid)
                .bind(a.request_sealed)
                .bind(a.bank_card_tail)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn manual_claim(&self, id: &str) -> StoreResult<Option<ManualClaimRow>> {
        let row = query("SELECT * FROM manual_claims WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(claim_of))
    }

    pub async fn manual_claims_of_person(&self, psn_no: &str, limit: i64) -> StoreResult<Vec<ManualClaimRow>> {
        let rows = query("SELECT * FROM manual_claims WHERE psn_no = $1 ORDER BY created_at DESC, id LIMIT $2")
            .bind(psn_no)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(claim_of).collect())
    }

    /// Closes a submitted claim with the center's decision; false when it was already closed.
    pub async fn close_manual_claim(&self, row: &ManualClaimRow) -> StoreResult<bool> {
        let (a, now) = (row.clone(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let done = query(
                    "UPDATE manual_claims SET state = $2, fund_fen = $3, psn_part_fen = $4, payment_id = $5, reason = $6, updated_at = $7 \
                     WHERE id = $1 AND state = 'submitted'",
                )
                .bind(a.id)
                .bind(a.state)
                .bind(a.fund_fen)
                .bind(a.psn_part_fen)
                .bind(a.payment_id)
                .bind(a.reason)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(done.rows_affected() == 1)
            })
        })
        .await
    }
}
