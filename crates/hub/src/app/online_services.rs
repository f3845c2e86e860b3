//! The patient's online services (issue 14 scope 7), for themselves or a consented family member:
//! applying for special-disease outpatient registration (门特/门诊慢特病备案: 2503, revoked by
//! 2504) and claiming a bill paid in full elsewhere (零星报销: the center's sandbox-only 9903).
//! The hub never decides either: the insurance center approves or declines a registration and
//! adjudicates a claim with its benefit engine, paying the fund's share to the patient's card.
//!
//! Each request is written with its msgid before the call (`pending` / `submitted`); an answer
//! lost leaves it there, and reading it asks again under the same msgid — the center replays it,
//! and a claim keyed by its id is paid at most once.

use super::patient_agreements::PATIENT_LIST_MAX;
use super::{check_text, hub_institution, App};
use crate::error::AppError;
use crate::insurance_client::InsuranceError;
use crate::store::{ManualClaimRow, SpecialDiseaseRow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wugan_domain::Fen;

/// Most lines one claimed bill may carry (the center takes as many).
const MAX_CLAIM_LINES: usize = 500;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecialDiseaseApplication {
    /// A consented family member's psn_no; the patient themselves when absent.
    pub psn_no: Option<String>,
    /// 门诊慢特病病种代码 (e.g. M07800).
    pub opsp_dise_code: String,
    /// The designated hospital (定点医疗机构) code.
    pub hospital_code: String,
    /// yyyy-MM-dd.
    pub begndate: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimLine {
    /// 医保目录编码 (national code).
    pub med_list_codg: String,
    /// Quantity as text, e.g. "2" or "0.5".
    pub cnt: String,
    /// Unit price in yuan as text, e.g. "25.00".
    pub pric: String,
    pub amount_fen: i64,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualClaimRequest {
    /// A consented family member's psn_no; the patient themselves when absent.
    pub psn_no: Option<String>,
    /// Where the bill was paid, and its number there.
    pub hospital_code: String,
    pub bill_no: String,
    /// yyyy-MM-dd.
    pub setl_date: String,
    /// 医疗类别: 11 ordinary outpatient (default), 13 emergency, 14 special disease, 19.
    pub med_type: Option<String>,
    /// What was paid in full, in fen; must equal the lines' total.
    pub paid_fen: i64,
    /// The bank card the fund's share is paid to.
    pub bank_card_no: String,
    pub lines: Vec<ClaimLine>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SpecialDiseasesView {
    pub registrations: Vec<SpecialDiseaseRow>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ManualClaimsView {
    pub claims: Vec<ManualClaimRow>,
}

impl App {
    /// The person the request is for: the patient, or a family member they see (亲情付 consent).
    async fn online_person(&self, patient_id: &str, asked: Option<&str>) -> Result<String, AppError> {
        let row = self.patient_row(patient_id).await?;
        let Some(own) = row.psn_no else {
            return Err(AppError::conflict("identity_not_verified", "verify the real name (POST /api/v1/patient/me/identity) first"));
        };
        let Some(asked) = asked.filter(|p| *p != own) else { return Ok(own) };
        if self.visible_persons(&own).await?.iter().any(|p| p == asked) {
            return Ok(asked.to_string());
        }
        Err(AppError::not_found("person_not_found", "no consented family member with that psn_no"))
    }

    /// Applies for a special-disease registration (2503); the center's decision is in the answer.
    /// `idem_key` (the patient's Idempotency-Key) fixes the registration's id: a retry after a
    /// lost answer finds it and asks again under its msgid, never applies twice.
    pub async fn apply_special_disease(
        &self,
        patient_id: &str,
        req: SpecialDiseaseApplication,
        idem_key: &str,
    ) -> Result<SpecialDiseaseRow, AppError> {
        check_text("opsp_dise_code", &req.opsp_dise_code, 20)?;
        check_text("hospital_code", &req.hospital_code, 30)?;
        check_date("begndate", &req.begndate)?;
        self.known_hospital(&req.hospital_code).await?;
        let psn_no = self.online_person(patient_id, req.psn_no.as_deref()).await?;
        let id = fixed_id("opsp", patient_id, idem_key);
        if self.store.special_disease(&id).await?.is_some() {
            return self.patient_special_disease(patient_id, &id).await;
        }
        let row = SpecialDiseaseRow {
            id,
            patient_id: patient_id.to_string(),
            psn_no,
            opsp_dise_code: req.opsp_dise_code.trim().to_string(),
            hospital_code: req.hospital_code.trim().to_string(),
            begndate: req.begndate,
            msgid: self.msgid(&hub_institution().fixmedins_code).await?,
            state: "pending".into(),
            opsp_dise_name: None,
            trt_dcla_detl_sn: None,
            revoke_msgid: None,
            reason: None,
            created_at: String::new(),
            updated_at: String::new(),
        };
        self.store.insert_special_disease(&row).await?;
        self.finish_special_disease(row).await
    }

    /// Sends (or sends again, under the same msgid) a pending registration and keeps the decision.
    async fn finish_special_disease(&self, mut row: SpecialDiseaseRow) -> Result<SpecialDiseaseRow, AppError> {
        let input = json!({"data": {"psn_no": row.psn_no, "opsp_dise_code": row.opsp_dise_code, "begndate": row.begndate,
                                    "fixmedins_code": row.hospital_code}});
        let answer = self.insurance.call("2503", &row.msgid, &hub_institution(), "", input).await;
        match answer {
            Ok(output) => {
                let data = &output["data"];
                row.state = match data["dcla_stas"].as_str() {
                    Some("approved") => "approved".into(),
                    Some("declined") => "declined".into(),
                    other => return Err(AppError::bad_gateway("insurance_bad_reply", format!("2503 answered dcla_stas {other:?}"))),
                };
                row.trt_dcla_detl_sn = data["trt_dcla_detl_sn"].as_str().map(str::to_string);
                row.opsp_dise_name = data["opsp_dise_name"].as_str().map(str::to_string);
                row.reason = data["memo"].as_str().filter(|m| !m.is_empty()).map(str::to_string);
            }
            Err(InsuranceError::Refused { message, .. }) => {
                row.state = "declined".into();
                row.reason = Some(message);
            }
            Err(other) => return Err(other.into()),
        }
        self.store.move_special_disease(&row, "pending").await?;
        self.special_disease_row(&row.id).await
    }

    /// Revokes an approved registration (2504); the msgid is written first.
    pub async fn revoke_special_disease(&self, patient_id: &str, id: &str) -> Result<SpecialDiseaseRow, AppError> {
        let mut row = self.visible_special_disease(patient_id, id).await?;
        if row.state == "approved" {
            let from = row.state.clone();
            row.state = "revoking".into();
            row.revoke_msgid = Some(self.msgid(&hub_institution().fixmedins_code).await?);
            self.store.move_special_disease(&row, &from).await?;
        }
        if row.state != "revoking" {
            return Err(AppError::conflict("registration_not_approved", format!("the registration is {}", row.state)));
        }
        let (Some(msgid), Some(sn)) = (row.revoke_msgid.clone(), row.trt_dcla_detl_sn.clone()) else {
            return Err(AppError::internal("a registration being revoked has no msgid or serial"));
        };
        let input = json!({"data": {"psn_no": row.psn_no, "trt_dcla_detl_sn": sn}});
        match self.insurance.call("2504", &msgid, &hub_institution(), "", input).await {
            Ok(_) => row.state = "revoked".into(),
            Err(InsuranceError::Refused { message, .. }) => {
                // The center no longer holds it approved: keep its word, and the registration as it was.
                row.state = "approved".into();
                row.reason = Some(message);
            }
            Err(other) => return Err(other.into()),
        }
        self.store.move_special_disease(&row, "revoking").await?;
        self.special_disease_row(&row.id).await
    }

    /// One registration; a pending one is asked again first.
    pub async fn patient_special_disease(&self, patient_id: &str, id: &str) -> Result<SpecialDiseaseRow, AppError> {
        let row = self.visible_special_disease(patient_id, id).await?;
        match row.state.as_str() {
            "pending" => self.finish_special_disease(row).await,
            _ => Ok(row),
        }
    }

    pub async fn patient_special_diseases(&self, patient_id: &str) -> Result<SpecialDiseasesView, AppError> {
        let mut registrations = Vec::new();
        for person in self.persons_seen(patient_id).await? {
            registrations.extend(self.store.special_diseases_of_person(&person, PATIENT_LIST_MAX).await?);
        }
        registrations.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        Ok(SpecialDiseasesView { registrations })
    }

    /// Submits a claim for a bill paid in full elsewhere (9903); the decision is in the answer.
    /// `idem_key` fixes the claim's id, which is also the center's claim_no: submitting twice
    /// never pays twice.
    pub async fn submit_manual_claim(&self, patient_id: &str, req: ManualClaimRequest, idem_key: &str) -> Result<ManualClaimRow, AppError> {
        let input = claim_input(&req)?;
        // A bill paid elsewhere (零星报销) may come from any designated institution, not only the
        // hub's: its national code (H or P and 11 digits, as printed on the receipt) is taken too.
        if !national_institution_code(req.hospital_code.trim()) {
            self.known_hospital(&req.hospital_code).await?;
        }
        let psn_no = self.online_person(patient_id, req.psn_no.as_deref()).await?;
        let id = fixed_id("clm", patient_id, idem_key);
        if self.store.manual_claim(&id).await?.is_some() {
            return self.patient_manual_claim(patient_id, &id).await;
        }
        let mut data = input;
        data["claim_no"] = json!(id);
        data["psn_no"] = json!(psn_no);
        let card = req.bank_card_no.trim();
        let row = ManualClaimRow {
            id,
            patient_id: patient_id.to_string(),
            psn_no,
            hospital_code: req.hospital_code.trim().to_string(),
            bill_no: req.bill_no.trim().to_string(),
            setl_date: req.setl_date.clone(),
            medfee_fen: req.paid_fen,
            msgid: self.msgid(&hub_institution().fixmedins_code).await?,
            request_sealed: self.config.data_key.seal(&data.to_string())?,
            bank_card_tail: card.chars().skip(card.chars().count().saturating_sub(4)).collect(),
            state: "submitted".into(),
            fund_fen: None,
            psn_part_fen: None,
            payment_id: None,
            reason: None,
            created_at: String::new(),
            updated_at: String::new(),
        };
        self.store.insert_manual_claim(&row).await?;
        self.finish_manual_claim(row).await
    }

    /// Sends (or sends again) a submitted claim under its msgid and claim id, and keeps the decision.
    async fn finish_manual_claim(&self, mut row: ManualClaimRow) -> Result<ManualClaimRow, AppError> {
        let data: Value = serde_json::from_str(&self.config.data_key.open(&row.request_sealed)?)
            .map_err(|e| AppError::internal(format!("sealed claim: {e}")))?;
        match self.insurance.call("9903", &row.msgid, &hub_institution(), "", json!({ "data": data })).await {
            Ok(output) => {
                let out = &output["data"];
                let fen = |field: &str| Fen::from_json_yuan(&out[field]).ok().flatten().map(|f| f.0);
                row.state = match out["claim_stas"].as_str() {
                    Some("paid") => "paid".into(),
                    Some("adjudicated") => "adjudicated".into(),
                    other => return Err(AppError::bad_gateway("insurance_bad_reply", format!("9903 answered claim_stas {other:?}"))),
                };
                row.fund_fen = fen("fund_pay_sumamt");
                row.psn_part_fen = fen("psn_part_amt");
                row.payment_id = out["payment_id"].as_str().map(str::to_string);
            }
            Err(InsuranceError::Refused { message, .. }) => {
                row.state = "declined".into();
                row.reason = Some(message);
            }
            Err(other) => return Err(other.into()),
        }
        self.store.close_manual_claim(&row).await?;
        self.claim_row(&row.id).await
    }

    /// One claim; a submitted one is asked again first (an answer lost is never a second payment).
    pub async fn patient_manual_claim(&self, patient_id: &str, id: &str) -> Result<ManualClaimRow, AppError> {
        let seen = self.persons_seen(patient_id).await?;
        let row = match self.store.manual_claim(id).await? {
            Some(row) if seen.contains(&row.psn_no) => row,
            _ => return Err(AppError::not_found("claim_not_found", format!("no claim {id}"))),
        };
        match row.state.as_str() {
            "submitted" => self.finish_manual_claim(row).await,
            _ => Ok(row),
        }
    }

    pub async fn patient_manual_claims(&self, patient_id: &str) -> Result<ManualClaimsView, AppError> {
        let mut claims = Vec::new();
        for person in self.persons_seen(patient_id).await? {
            claims.extend(self.store.manual_claims_of_person(&person, PATIENT_LIST_MAX).await?);
        }
        claims.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        Ok(ManualClaimsView { claims })
    }

    /// A hospital on the hub's books: a registration is never kept against a code the hub does not
    /// know (a patient who typed a name, or a typo), which the center would take as given.
    async fn known_hospital(&self, code: &str) -> Result<(), AppError> {
        match self.store.hospital_exists(code.trim()).await? {
            true => Ok(()),
            false => Err(AppError::invalid("unknown_hospital", format!("no hospital {} on this hub", code.trim()))),
        }
    }

    /// The patient's own psn_no and their family members'; nobody before the binding.
    async fn persons_seen(&self, patient_id: &str) -> Result<Vec<String>, AppError> {
        match self.patient_row(patient_id).await?.psn_no {
            Some(own) => self.visible_persons(&own).await,
            None => Ok(Vec::new()),
        }
    }

    async fn visible_special_disease(&self, patient_id: &str, id: &str) -> Result<SpecialDiseaseRow, AppError> {
        let seen = self.persons_seen(patient_id).await?;
        match self.store.special_disease(id).await? {
            Some(row) if seen.contains(&row.psn_no) => Ok(row),
            _ => Err(AppError::not_found("registration_not_found", format!("no registration {id}"))),
        }
    }

    async fn special_disease_row(&self, id: &str) -> Result<SpecialDiseaseRow, AppError> {
        self.store.special_disease(id).await?.ok_or_else(|| AppError::internal("registration vanished"))
    }

    async fn claim_row(&self, id: &str) -> Result<ManualClaimRow, AppError> {
        self.store.manual_claim(id).await?.ok_or_else(|| AppError::internal("claim vanished"))
    }
}

/// The 9903 input from the patient's bill, checked: the center checks the arithmetic again.
fn claim_input(req: &ManualClaimRequest) -> Result<Value, AppError> {
    check_text("hospital_code", &req.hospital_code, 30)?;
    check_text("bill_no", &req.bill_no, 40)?;
    check_date("setl_date", &req.setl_date)?;
    let card = req.bank_card_no.trim();
    if !(12..=19).contains(&card.len()) || !card.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::invalid("invalid_bank_card", "bank_card_no must be 12 to 19 digits"));
    }
    if req.lines.is_empty() || req.lines.len() > MAX_CLAIM_LINES {
        return Err(AppError::invalid("invalid_claim_lines", format!("a claim lists 1 to {MAX_CLAIM_LINES} lines")));
    }
    // Checked: lines of near i64::MAX fen would wrap (or panic) in a plain sum.
    let total = req.lines.iter().try_fold(0i64, |sum, l| sum.checked_add(l.amount_fen));
    if req.lines.iter().any(|l| l.amount_fen <= 0) || total != Some(req.paid_fen) {
        return Err(AppError::invalid(
            "claim_total_mismatch",
            match total {
                Some(total) => format!("paid_fen {} must equal the lines' positive amounts ({total})", req.paid_fen),
                None => "the lines' amounts add up to more than any bill".to_string(),
            },
        ));
    }
    let feedetail: Vec<Value> = req
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            json!({"feedetl_sn": (i + 1).to_string(), "med_list_codg": l.med_list_codg, "cnt": l.cnt, "pric": l.pric,
                   "det_item_fee_sumamt": Fen(l.amount_fen).to_yuan_string()})
        })
        .collect();
    Ok(json!({
        "fixmedins_code": req.hospital_code.trim(), "bill_no": req.bill_no.trim(), "setl_date": req.setl_date,
        "med_type": req.med_type.clone().unwrap_or_else(|| "11".into()), "medfee_sumamt": Fen(req.paid_fen).to_yuan_string(),
        "bank_card_no": card, "feedetail": feedetail,
    }))
}

/// A yyyy-MM-dd date.
fn check_date(field: &str, text: &str) -> Result<(), AppError> {
    let b = text.as_bytes();
    let shaped = b.len() == 10 && b[4] == b'-' && b[7] == b'-' && text.bytes().filter(u8::is_ascii_digit).count() == 8;
    match shaped {
        true => Ok(()),
        false => Err(AppError::invalid("invalid_date", format!("{field} must be yyyy-MM-dd"))),
    }
}

/// An id fixed by the patient and their Idempotency-Key (hex of a SHA-256, 32 digits).
fn fixed_id(prefix: &str, patient_id: &str, idem_key: &str) -> String {
    let digest = Sha256::digest(format!("{patient_id}\n{idem_key}").as_bytes());
    format!("{prefix}_{}", &hex::encode(digest)[..32])
}

/// A national designated-institution code (定点医药机构编码): `H` (a hospital) or `P` (a
/// pharmacy) and 11 digits.
fn national_institution_code(code: &str) -> bool {
    let mut chars = code.chars();
    matches!(chars.next(), Some('H' | 'P')) && code.len() == 12 && chars.all(|c| c.is_ascii_digit())
}
