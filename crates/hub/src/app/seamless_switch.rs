//! Per-visit control (issue 14 scope 4): the patient switches seamless payment on or off for a
//! visit before the doctor's click, for a hospital, and by default. The standing choices are read
//! once, when a visit is registered, into the visit's own switch (`store::seamless_switches`), so
//! the HIS sees the resulting state in the registration's reply and a later choice never changes
//! a visit already registered behind the patient's back; the visit's switch is the patient's to
//! change until the click. A visit switched off is paid at the window: the click is refused
//! (`seamless_switched_off`). Each change of a visit's switch is a `visit.seamless_state_changed`
//! webhook event to its hospital.

use super::commands::optional_text;
use super::*;
use crate::store::{EventCandidate, SeamlessChoice};
use serde::Serialize;

/// The reason a visit shows when the patient switched it off.
pub const SWITCHED_OFF: &str = "switched_off";
/// How many per-hospital choices a patient may keep.
const CHOICES_MAX: usize = 50;

/// A standing choice: for one hospital, or (no `hospital_code`) the default.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeamlessChoiceRequest {
    #[serde(default)]
    #[schema(schema_with = optional_text::<20>)]
    pub hospital_code: Option<String>,
    pub enabled: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitSwitchRequest {
    pub enabled: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SeamlessChoicesView {
    /// For hospitals without a choice of their own.
    pub default_enabled: bool,
    pub hospitals: Vec<SeamlessChoice>,
}

/// Which standing choice applies at a hospital: its own, else the default, else on.
pub fn standing_choice(choices: &[SeamlessChoice], hospital_code: &str) -> Option<(bool, &'static str)> {
    let find = |code: &str| choices.iter().find(|c| c.hospital_code == code).map(|c| c.enabled);
    match (find(hospital_code).filter(|_| !hospital_code.is_empty()), find("")) {
        (Some(enabled), _) => Some((enabled, "hospital")),
        (None, Some(enabled)) => Some((enabled, "default")),
        (None, None) => None,
    }
}

impl App {
    pub async fn patient_seamless_choices(&self, patient_id: &str) -> Result<SeamlessChoicesView, AppError> {
        let psn_no = self.bound_person(patient_id).await?;
        let choices = self.store.seamless_choices(&psn_no).await?;
        let default_enabled = choices.iter().find(|c| c.hospital_code.is_empty()).is_none_or(|c| c.enabled);
        let hospitals = choices.into_iter().filter(|c| !c.hospital_code.is_empty()).collect();
        Ok(SeamlessChoicesView { default_enabled, hospitals })
    }

    /// Sets the default (no hospital) or one hospital's choice, for visits registered from now on.
    pub async fn patient_set_seamless_choice(&self, patient_id: &str, req: SeamlessChoiceRequest) -> Result<SeamlessChoicesView, AppError> {
        let psn_no = self.bound_person(patient_id).await?;
        let hospital = req.hospital_code.as_deref().map(str::trim).unwrap_or_default().to_string();
        if !hospital.is_empty() {
            if self.store.hospital(&hospital).await?.is_none() {
                return Err(AppError::invalid("unknown_hospital", format!("no hospital {hospital}")));
            }
            let choices = self.store.seamless_choices(&psn_no).await?;
            if choices.len() >= CHOICES_MAX && !choices.iter().any(|c| c.hospital_code == hospital) {
                return Err(AppError::invalid(
                    "too_many_choices",
                    format!("at most {CHOICES_MAX} hospitals may have a choice of their own"),
                ));
            }
        }
        self.store.set_seamless_choice(&psn_no, &hospital, req.enabled).await?;
        self.patient_seamless_choices(patient_id).await
    }

    /// Switches one visit (the patient's own or a family member's they pay for) before the click.
    pub async fn patient_switch_visit(&self, patient_id: &str, visit_id: &str, req: VisitSwitchRequest) -> Result<VisitView, AppError> {
        let psn_no = self.bound_person(patient_id).await.map_err(|_| visit_missing(visit_id))?;
        let visit = match self.store.visit(visit_id).await? {
            Some(v) if self.visible_persons(&psn_no).await?.contains(&v.psn_no) => v,
            _ => return Err(visit_missing(visit_id)),
        };
        if visit.status != VisitStatus::Registered {
            return Err(AppError::conflict("visit_not_open", "only a registered visit before the doctor's click can be switched"));
        }
        if req.enabled {
            self.refuse_if_hospital_bank_suspended(&visit).await?;
        }
        let changed = match self.store.switch_visit(visit_id, req.enabled).await {
            Ok(changed) => changed,
            Err(crate::store::StoreError::Conflict(_)) => {
                return Err(AppError::conflict(
                    "visit_already_settled",
                    "the doctor has settled this visit already; it can no longer be switched",
                ))
            }
            Err(e) => return Err(e.into()),
        };
        let view = self.visit_view(&visit).await?;
        if let Some(changes) = changed {
            self.seamless_state_changed(&visit, &view, changes).await?;
        }
        Ok(view)
    }

    /// At registration (before the visit is written): the visit's switch from the standing choices.
    pub(super) async fn snapshot_seamless_switch(&self, visit: &VisitRow) -> Result<(), AppError> {
        let choices = self.store.seamless_choices(&visit.psn_no).await?;
        if let Some((enabled, source)) = standing_choice(&choices, &visit.hospital_code) {
            self.store.snapshot_visit_switch(&visit.id, enabled, source).await?;
        }
        Ok(())
    }

    /// Whether the patient switched the visit off.
    pub(super) async fn switched_off(&self, visit_id: &str) -> Result<bool, AppError> {
        Ok(self.store.visit_switch(visit_id).await?.is_some_and(|s| !s.enabled))
    }

    /// A visit's view as the HIS and the patient see it: off when switched off.
    pub(super) async fn with_switch(&self, mut view: VisitView) -> Result<VisitView, AppError> {
        if view.seamless.enabled && self.switched_off(&view.id).await? {
            view.seamless.enabled = false;
            view.seamless.reason = Some(SWITCHED_OFF.to_string());
        }
        Ok(view)
    }

    /// The event to the visit's hospital, once per change (`{visit}:switch:{n}`).
    async fn seamless_state_changed(&self, visit: &VisitRow, view: &VisitView, changes: i64) -> Result<(), AppError> {
        let event_id = new_id("evt");
        let candidate = EventCandidate {
            kind: "visit.seamless_state_changed".into(),
            subject_id: format!("{}:switch:{changes}", visit.id),
            hospital_code: visit.hospital_code.clone(),
            visit_id: visit.id.clone(),
            state: if view.seamless.enabled { "on" } else { "off" }.into(),
            medfee_fen: view.medfee_fen,
            cash_fen: None,
            captured_fen: 0,
            unpaid_fen: 0,
            settlement_id: String::new(),
            invoice_kind: None,
        };
        let payload = json!({
            "id": event_id, "type": candidate.kind, "created": self.now(),
            "data": {"hospital_code": visit.hospital_code, "visit_id": visit.id, "ipt_otp_no": visit.ipt_otp_no, "seamless": view.seamless},
        });
        self.store.insert_webhook_event(&event_id, &candidate, &payload.to_string()).await?;
        Ok(())
    }

    async fn bound_person(&self, patient_id: &str) -> Result<String, AppError> {
        self.patient_row(patient_id).await?.psn_no.ok_or_else(|| AppError::conflict("identity_not_verified", "bind your real name first"))
    }
}

fn visit_missing(visit_id: &str) -> AppError {
    AppError::not_found("visit_not_found", format!("no visit {visit_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hospitals_own_choice_wins_over_the_default_and_none_means_on() {
        let choice = |code: &str, enabled| SeamlessChoice { hospital_code: code.into(), enabled, updated_at: String::new() };
        let both = [choice("", false), choice("H1", true)];
        let check = |choices: &[SeamlessChoice], hospital, expect| assert_eq!(standing_choice(choices, hospital), expect, "{hospital}");
        check(&both, "H1", Some((true, "hospital")));
        check(&both, "H2", Some((false, "default")));
        check(&[choice("H1", false)], "H2", None);
        check(&[choice("H1", false)], "H1", Some((false, "hospital")));
        check(&[], "H1", None);
    }
}
