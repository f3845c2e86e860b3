//! The patient's inpatient stays (住院), as the patient (or the relative who signed and pays,
//! 亲情付) reads them: the hospital by name, the 住院号, where the stay is in words, the deposit
//! held on the line, the charges so far, and once settled the split and what is still owed.
//!
//! Authorization is per row: the bound person's own stays, and the stays whose deposit one of the
//! person's own agreements holds (a family member's on their line). Nothing else, whichever way
//! it was found: the store's query and the check below say the same thing twice. No certificate
//! number, no psn_no, no insurance ids (mdtrt_id) leave here; the person's name is masked.

use super::patient_agreements::PATIENT_LIST_MAX;
use super::{App, InterimSettlementView, StaySettlementView, StayView};
use crate::error::AppError;
use crate::store::{StayRow, MAX_PATIENT_STAYS};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// One stay as its patient sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = PatientStay)]
pub struct PatientStayView {
    pub id: String,
    pub hospital_code: String,
    /// The hospital's name on the hub's books; its code when it has none.
    pub hospital_name: String,
    /// The hospital's 住院号.
    pub ipt_no: String,
    /// `self` (the caller's own stay) or `family` (a family member's, on the caller's line).
    pub whose: &'static str,
    /// The masked name of the person in the ward (`张*`).
    pub patient_name: String,
    /// The stay's state as the HIS reads it (`Stay.state`).
    pub state: &'static str,
    /// Where the stay is, for the patient: admitting, in_ward, discharging, settled, owing,
    /// cancelled, refused, in_progress (a state this version does not name).
    pub phase: &'static str,
    /// `phase` in words (zh-CN).
    pub phase_text: &'static str,
    /// When the hub admitted the stay (2401 asked).
    pub admitted_at: String,
    /// The deposit the bank holds on the line for the stay now (0 once settled or released).
    pub held_fen: i64,
    /// Why the last deposit or raise could not be held (`insufficient_credit`, `deposit_used_up`, ...).
    pub deposit_short: Option<String>,
    /// The fees uploaded so far (returns deducted).
    pub charges_fen: i64,
    pub fee_lines: usize,
    /// The bedside settlement: fund, personal account, bank (the line), unpaid.
    pub settlement: Option<StaySettlementView>,
    /// The interim settlements (中途结算) made in the ward, oldest first.
    pub interim_settlements: Vec<InterimSettlementView>,
    /// The interim settlements the ward cancelled (中途结算撤销), oldest first: each one's bank
    /// share (`bank_fen`) went back to the line, and its fees are settled again later.
    pub cancelled_interim_settlements: Vec<InterimSettlementView>,
    /// What is still owed once the stay is over, less what was collected since.
    pub owed_fen: i64,
    /// What of the stay's bill was collected from the line later.
    pub collected_fen: i64,
    /// The caller's agreement whose line holds the deposit; null when the line is another's
    /// (a relative who pays for the caller).
    pub agreement_id: Option<String>,
}

/// `GET /api/v1/patient/stays`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = PatientStays)]
pub struct PatientStaysView {
    /// Newest first, at most 50.
    pub stays: Vec<PatientStayView>,
}

/// Where a stay is, for its patient: (phase, in words).
pub fn phase_of(state: &str, owed_fen: i64) -> (&'static str, &'static str) {
    match state {
        "admitting" | "admitted" => ("admitting", "入院办理中"),
        "in_ward" | "raising_deposit" | "deposit_short" | "interim_settling" | "undoing_discharge" | "cancelling_interim"
        | "withdrawing_fees" => ("in_ward", "在院"),
        "discharging"
        | "releasing"
        | "settlement_refused"
        | "discharged"
        | "pre_settled"
        | "insurance_settled"
        | "cancelling_settlement"
        | "settlement_cancelled" => ("discharging", "出院结算中"),
        "settled" | "settled_unpaid" | "settled_by_interims" if owed_fen > 0 => ("owing", "已出院，尚有欠费"),
        "settled" | "settled_unpaid" | "settled_by_interims" => ("settled", "已出院，已结清"),
        "cancelled" | "cancelling_admission" => ("cancelled", "入院已取消"),
        "refused" => ("refused", "医保未受理入院"),
        _ => ("in_progress", "办理中"),
    }
}

impl App {
    /// The patient's stays and those on their line, newest first (at most 50).
    pub async fn patient_stays(&self, patient_id: &str) -> Result<PatientStaysView, AppError> {
        let Some(psn_no) = self.patient_row(patient_id).await?.psn_no else {
            return Ok(PatientStaysView { stays: Vec::new() });
        };
        let lines = self.store.agreement_ids_of_person(&psn_no, PATIENT_LIST_MAX).await?;
        let rows = self.store.stays_of_patient(&psn_no, &lines, MAX_PATIENT_STAYS).await?;
        let mut hospitals: Vec<(String, String)> = Vec::new();
        let mut stays = Vec::with_capacity(rows.len());
        // The same rule as the query, checked again on what came back.
        for row in rows.iter().filter(|r| r.psn_no == psn_no || lines.contains(&r.agreement_id)) {
            let hospital_name = match hospitals.iter().find(|(code, _)| *code == row.hospital_code) {
                Some((_, name)) => name.clone(),
                None => {
                    let name = self.store.hospital(&row.hospital_code).await?.map(|h| h.name).filter(|n| !n.trim().is_empty());
                    let name = name.unwrap_or_else(|| row.hospital_code.clone());
                    hospitals.push((row.hospital_code.clone(), name.clone()));
                    name
                }
            };
            let view = self.stay_view(row).await?;
            let patient_name = self.name_in_ward(row).await?;
            let on_own_line = lines.contains(&row.agreement_id);
            stays.push(patient_stay(
                view,
                hospital_name,
                patient_name,
                row.psn_no == psn_no,
                on_own_line.then(|| row.agreement_id.clone()),
            ));
        }
        Ok(PatientStaysView { stays })
    }

    /// The masked name of the stay's person: the agreement holder's, or the family member's it
    /// pays for; empty when the hub has neither.
    async fn name_in_ward(&self, s: &StayRow) -> Result<String, AppError> {
        let Some(agreement) = self.store.agreement(&s.agreement_id).await? else {
            return Ok(String::new());
        };
        let sealed = if agreement.psn_no == s.psn_no {
            agreement.name_enc
        } else {
            match self.store.family_links(&agreement.id).await?.into_iter().find(|l| l.member_psn_no == s.psn_no) {
                Some(link) => link.member_name_enc,
                None => return Ok(String::new()),
            }
        };
        let name = self.config.data_key.open(&sealed).map_err(|e| AppError::internal(e.to_string()))?;
        Ok(crate::pii::mask_name(&name))
    }
}

fn patient_stay(v: StayView, hospital_name: String, patient_name: String, own: bool, agreement_id: Option<String>) -> PatientStayView {
    let (phase, phase_text) = phase_of(v.state, v.owed_fen);
    PatientStayView {
        id: v.id,
        hospital_code: v.hospital_code,
        hospital_name,
        ipt_no: v.ipt_no,
        whose: if own { "self" } else { "family" },
        patient_name,
        state: v.state,
        phase,
        phase_text,
        admitted_at: v.created_at,
        held_fen: v.held_fen,
        deposit_short: v.deposit_short,
        charges_fen: v.charges_fen,
        fee_lines: v.fee_lines,
        settlement: v.settlement,
        interim_settlements: v.interim_settlements,
        cancelled_interim_settlements: v.cancelled_interim_settlements,
        owed_fen: v.owed_fen,
        collected_fen: v.collected_fen,
        agreement_id,
    }
}

/// This feature's response types, for the openapi.json check.
pub fn schemas() -> Vec<(String, Value)> {
    fn one<T: ToSchema>() -> (String, Value) {
        (T::name().to_string(), serde_json::to_value(T::schema()).unwrap_or(Value::Null))
    }
    vec![one::<PatientStayView>(), one::<PatientStaysView>()]
}

#[cfg(test)]
mod tests {
    use super::phase_of;

    #[test]
    fn every_state_reads_as_a_phase_a_patient_understands() {
        // (state, owed, phase)
        let cases = [
            ("admitting", 0, "admitting"),
            ("in_ward", 0, "in_ward"),
            ("deposit_short", 0, "in_ward"),
            ("interim_settling", 0, "in_ward"),
            ("cancelling_interim", 0, "in_ward"),
            ("withdrawing_fees", 0, "in_ward"),
            ("discharging", 0, "discharging"),
            ("settlement_refused", 0, "discharging"),
            ("settlement_cancelled", 0, "discharging"),
            ("settled", 0, "settled"),
            ("settled_by_interims", 0, "settled"),
            ("settled_unpaid", 12_345, "owing"),
            ("settled_unpaid", 0, "settled"),
            ("cancelled", 0, "cancelled"),
            ("refused", 0, "refused"),
            ("something_new", 0, "in_progress"),
        ];
        for (state, owed, phase) in cases {
            assert_eq!(phase_of(state, owed).0, phase, "{state}");
        }
    }
}
