//! 入院信息变更 (2403): the ward changes a stay's admission while the patient is in it: its 医疗类别
//! (21 inpatient ↔ 24 emergency to inpatient), its diagnoses, ward, bed and doctors. No money moves,
//! so it is no step of the stay's machine: 2403 replaces the admission's information at the center
//! (sending it again is harmless), and the hub keeps the new 医疗类别 once the center took it.

use super::inpatient::StayView;
use super::stay_clinical::KeptAdmission;
use super::*;
use wugan_domain::inpatient::StayStage;

/// 2403's admission fields the HIS may change (national names); every one optional.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeAdmissionRequest {
    /// 21 (inpatient) or 24 (emergency to inpatient).
    #[serde(default)]
    #[schema(schema_with = super::commands::optional_text::<2>)]
    pub med_type: Option<String>,
    /// The fields 2401 sends too (`stay_clinical`, `stay_maternity`): department, bed, doctors;
    /// diagnoses; surgery and maternity.
    #[serde(flatten)]
    pub admission: super::stay_clinical::AdmissionDetails,
    #[serde(flatten)]
    pub diagnoses: super::stay_clinical::StayDiagnoses,
    #[serde(flatten)]
    pub maternity: super::stay_maternity::SurgeryAndMaternity,
}

impl ChangeAdmissionRequest {
    /// 2403's input for the admission `mdtrt_id` of `psn_no`: only what the HIS gave, as `kept`
    /// (checked and trimmed) has it.
    fn input(&self, kept: &KeptAdmission, mdtrt_id: &str, psn_no: &str) -> Value {
        let mut adminfo = Map::new();
        adminfo.insert("mdtrt_id".into(), json!(mdtrt_id));
        adminfo.insert("psn_no".into(), json!(psn_no));
        if let Some(med_type) = self.med_type.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            adminfo.insert("med_type".into(), json!(med_type));
        }
        adminfo.extend(kept.fields());
        json!({"adminfo": adminfo, "diseinfo": kept.diagnoses.diseinfo(Some(mdtrt_id), psn_no)})
    }
}

impl App {
    /// 2403 for a stay in the ward; answers the stay as it then stands.
    pub async fn change_admission(&self, hospital: &str, id: &str, req: ChangeAdmissionRequest) -> Result<StayView, AppError> {
        let med_type = req.med_type.as_deref().map(str::trim).filter(|m| !m.is_empty()).map(str::to_string);
        if med_type.as_deref().is_some_and(|m| !matches!(m, "21" | "24")) {
            return Err(AppError::invalid("bad_med_type", "med_type must be an inpatient type: 21, or 24 (emergency to inpatient)"));
        }
        let kept = KeptAdmission::of(&req.admission, &req.diagnoses, &req.maternity)?;
        let s = self.own_stay(hospital, id).await?;
        let stage = super::inpatient::stay_stage(&s)?;
        let mdtrt_id = stage.ward().map(|w| w.mdtrt_id.clone()).unwrap_or_default();
        if !matches!(stage, StayStage::InWard(_)) || mdtrt_id.is_empty() {
            return Err(AppError::conflict(
                "stay_not_open",
                format!("an admission changes while the patient is in the ward, not when a stay is {}", stage.state()),
            ));
        }
        let inst = self.institution(hospital).await?;
        let msgid = self.msgid(hospital).await?;
        self.insurance.call("2403", &msgid, &inst, &s.insuplc_admdvs, req.input(&kept, &mdtrt_id, &s.psn_no)).await?;
        if let Some(med_type) = med_type.filter(|m| *m != s.med_type) {
            self.store.set_stay_med_type(id, &med_type).await?;
        }
        let s = self.own_stay(hospital, id).await?;
        self.stay_view(&s).await
    }
}
