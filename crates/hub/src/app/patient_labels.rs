//! Who a visit or stay is for, as a hospital's staff page may show it beside the actions that
//! move money (the doctor's click, the bedside discharge): the masked name (张*), and the sex and
//! age an 18-digit ID number tells. Only what the hub holds already: the agreement's (or the
//! family member's) sealed name, and the sealed document number the visit was registered with,
//! opened here and never returned or logged whole.

use super::*;
use crate::pii::mask_name;

/// The patient as a staff page names them: never the whole name or the ID number.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PatientLabel {
    /// The name's first character and a star for each other one ("张*"); empty when the hub
    /// holds no name (a visit of a patient who did not sign up).
    pub name: String,
    /// `"1"` male, `"2"` female (GB/T 2261.1, as the insurance center writes `gend`), from an ID
    /// card's number; `None` for other documents.
    pub sex: Option<&'static str>,
    /// Whole years at `today`, from an ID card's number.
    pub age: Option<u32>,
}

impl PatientLabel {
    /// Sex and age from an 18-digit resident ID number (digits 7–14 the birth date, digit 17
    /// odd for a man), at `today` (`YYYY-MM-DD`); nothing from anything else.
    pub fn of_certno(name: String, cert_type: &str, certno: &str, today: &str) -> PatientLabel {
        let digits: Vec<char> = certno.trim().chars().collect();
        let id_card = cert_type == "02" && digits.len() == 18 && digits[..17].iter().all(char::is_ascii_digit);
        if !id_card {
            return PatientLabel { name, sex: None, age: None };
        }
        let number = |from: usize, to: usize| digits[from..to].iter().collect::<String>().parse::<u32>().ok();
        let sex = digits[16].to_digit(10).map(|d| if d % 2 == 1 { "1" } else { "2" });
        let born = (number(6, 10), number(10, 12), number(12, 14));
        let now = (
            today.get(0..4).and_then(|y| y.parse::<u32>().ok()),
            today.get(5..7).and_then(|m| m.parse::<u32>().ok()),
            today.get(8..10).and_then(|d| d.parse::<u32>().ok()),
        );
        let age = match (born, now) {
            ((Some(by), Some(bm), Some(bd)), (Some(ty), Some(tm), Some(td))) if (1..=12).contains(&bm) && ty >= by => {
                let before_birthday = (tm, td) < (bm, bd);
                (ty - by).checked_sub(u32::from(before_birthday)).filter(|a| *a < 150)
            }
            _ => None,
        };
        PatientLabel { name, sex, age }
    }
}

impl App {
    /// The patient of one of the hospital's visits.
    pub async fn visit_patient(&self, hospital: &str, visit_id: &str) -> Result<PatientLabel, AppError> {
        let v = self.own_visit(hospital, visit_id).await?;
        let name = match &v.agreement_id {
            Some(agreement) => self.patient_name(agreement, &v.psn_no).await?,
            None => String::new(),
        };
        self.label(name, &v.mdtrt_cert_type, &v.mdtrt_cert_no_enc)
    }

    /// The patient of one of the hospital's stays.
    pub async fn stay_patient(&self, hospital: &str, stay_id: &str) -> Result<PatientLabel, AppError> {
        let s = match self.store.stay(stay_id).await? {
            Some(s) if s.hospital_code == hospital => s,
            _ => return Err(AppError::not_found("stay_not_found", "no such stay")),
        };
        let name = self.patient_name(&s.agreement_id, &s.psn_no).await?;
        self.label(name, &s.mdtrt_cert_type, &s.mdtrt_cert_no_enc)
    }

    fn label(&self, name: String, cert_type: &str, certno_enc: &str) -> Result<PatientLabel, AppError> {
        let certno = self.config.data_key.open(certno_enc).map_err(|e| AppError::internal(e.to_string()))?;
        let today = crate::clock::china_datetime_of(self.store.clock.now_utc());
        Ok(PatientLabel::of_certno(name, cert_type, &certno, &today))
    }

    /// The masked name of `psn_no`: the agreement holder's, or the family member's it pays for.
    async fn patient_name(&self, agreement_id: &str, psn_no: &str) -> Result<String, AppError> {
        let Some(agreement) = self.store.agreement(agreement_id).await? else {
            return Ok(String::new());
        };
        let sealed = if agreement.psn_no == psn_no {
            agreement.name_enc
        } else {
            match self.store.family_links(&agreement.id).await?.into_iter().find(|l| l.member_psn_no == psn_no) {
                Some(link) => link.member_name_enc,
                None => return Ok(String::new()),
            }
        };
        let name = self.config.data_key.open(&sealed).map_err(|e| AppError::internal(e.to_string()))?;
        Ok(mask_name(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::PatientLabel;

    #[test]
    fn sex_and_age_come_from_an_id_cards_number_only() {
        let at = |cert_type: &str, certno: &str, today: &str| {
            let l = PatientLabel::of_certno("张*".into(), cert_type, certno, today);
            (l.sex, l.age)
        };
        // Born 1990-01-01, digit 17 odd: a man, 36 on his birthday in 2026 and 35 the day before.
        assert_eq!(at("02", "440301199001011234", "2026-01-01 08:00:00"), (Some("1"), Some(36)));
        assert_eq!(at("02", "440301199001011234", "2025-12-31 23:59:59"), (Some("1"), Some(35)));
        // Born 1958-03-15, digit 17 even: a woman.
        assert_eq!(at("02", "440303195803152420", "2026-12-02 10:00:00"), (Some("2"), Some(68)));
        assert_eq!(at("02", "44030319580315242X", "2026-12-02 10:00:00"), (Some("2"), Some(68)));
        // An e-voucher or social security card number tells nothing; nor a malformed number.
        assert_eq!(at("01", "440301199001011234", "2026-12-02 10:00:00"), (None, None));
        assert_eq!(at("02", "4403011990010112", "2026-12-02 10:00:00"), (None, None));
        assert_eq!(at("02", "440301199013011234", "2026-12-02 10:00:00"), (Some("1"), None));
    }
}
