//! Hospital–bank agreements (医院与银行的合作协议): which banks a hospital accepts, with the
//! hospital's receiving account (收款账户) at each, sealed at rest with the data key like a bank's
//! secrets and only ever shown masked, and whether the agreement is in force (active / suspended).
//!
//! Their effects are chosen so that a patient never feels a contract dispute at the doctor's click:
//! - payouts (`clearing`) go only to a pair with an active agreement and name its account; a pair
//!   without one is held (nothing instructed), shown in the clearing report with the reason, and
//!   paid by the first run after the agreement exists (the owed amount is a cumulative fold);
//! - a patient cannot switch seamless payment on for a visit at a hospital whose agreement with
//!   their bank is suspended (`hospital_bank_suspended`); a missing agreement is not refused;
//! - a bank's staff see their own bank's agreements only.
//!
//! What migrates: `serve` seeds an active agreement (no account: the bank pays its own merchant
//! record, as before) between each bank of its configuration and each hospital of its
//! credentials file, at every start, for pairs that have none; a suspended one stays suspended.
//! Hospitals and banks onboarded by API get agreements when an operator adds them.

use super::commands::text_not_blank;
use super::*;
use crate::store::HospitalBankRow;
use serde::Serialize;
use utoipa::PartialSchema;

/// At most this many agreements in one list.
pub const MAX_HOSPITAL_BANKS_PAGE: i64 = 1_000;

/// `POST /api/v1/operator/hospital-banks`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHospitalBankRequest {
    #[schema(schema_with = text_not_blank::<32>)]
    pub hospital_code: String,
    #[schema(schema_with = text_not_blank::<16>)]
    pub bank_code: String,
    /// The hospital's receiving account at the bank: 8 to 32 digits (spaces between groups allowed).
    #[schema(schema_with = text_not_blank::<40>)]
    pub account_no: String,
}

/// An agreement as an operator or a bank's staff see it: the account masked.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HospitalBankView {
    pub hospital_code: String,
    pub bank_code: String,
    /// The receiving account, masked (`****1234`); `None` for an agreement seeded at start.
    pub account_masked: Option<String>,
    /// `active` or `suspended`.
    pub status: String,
    /// `seeded` (by `serve` at start) or `operator`.
    pub source: String,
    pub created_at: String,
    pub updated_at: String,
}

/// `GET /api/v1/operator/hospital-banks` filters.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HospitalBankQuery {
    pub hospital_code: Option<String>,
    pub bank_code: Option<String>,
}

/// A receiving account's digits: 8 to 32 of them, spaces between groups dropped.
pub fn account_digits(text: &str) -> Option<String> {
    let digits: String = text.chars().filter(|c| *c != ' ').collect();
    let ok = (8..=32).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(digits)
}

/// An account as shown: its last four digits only.
pub fn mask_account(account: &str) -> String {
    let tail: String = account.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("****{tail}")
}

impl App {
    /// Adds an agreement between a hospital and a bank, in force at once.
    pub async fn add_hospital_bank(&self, req: NewHospitalBankRequest) -> Result<HospitalBankView, AppError> {
        let (hospital, bank) = (req.hospital_code.trim().to_string(), req.bank_code.trim().to_string());
        if !self.store.hospital_exists(&hospital).await? {
            return Err(AppError::invalid("unknown_hospital", format!("no hospital {hospital} on this hub")));
        }
        if !self.banks.contains_key(&bank) {
            return Err(AppError::invalid("unknown_bank", format!("no contract with bank {bank}")));
        }
        let account = account_digits(&req.account_no)
            .ok_or_else(|| AppError::invalid("bad_account", "account_no is the receiving account's 8 to 32 digits"))?;
        let now = self.now();
        let row = HospitalBankRow {
            hospital_code: hospital.clone(),
            bank_code: bank.clone(),
            account_enc: Some(self.config.data_key.seal(&account)?),
            status: "active".into(),
            source: "operator".into(),
            created_at: now.clone(),
            updated_at: now,
        };
        if !self.store.insert_hospital_bank(row.clone()).await? {
            return Err(AppError::conflict("hospital_bank_exists", format!("{hospital} and {bank} have an agreement already")));
        }
        self.hospital_bank_view(row)
    }

    /// Agreements of one hospital and/or one bank (all when neither is named).
    pub async fn hospital_banks(&self, q: HospitalBankQuery) -> Result<Vec<HospitalBankView>, AppError> {
        let (hospital, bank) = (q.hospital_code.filter(|h| !h.is_empty()), q.bank_code.filter(|b| !b.is_empty()));
        let rows = self.store.hospital_banks(hospital.as_deref(), bank.as_deref(), MAX_HOSPITAL_BANKS_PAGE).await?;
        rows.into_iter().map(|r| self.hospital_bank_view(r)).collect()
    }

    /// Suspends (`active = false`) or resumes an agreement; answers it as it now stands.
    pub async fn set_hospital_bank_active(&self, hospital: &str, bank: &str, active: bool) -> Result<HospitalBankView, AppError> {
        let status = if active { "active" } else { "suspended" };
        match self.store.set_hospital_bank_status(hospital, bank, status).await? {
            Some(row) => self.hospital_bank_view(row),
            None => Err(AppError::not_found("hospital_bank_not_found", format!("{hospital} and {bank} have no agreement"))),
        }
    }

    /// At start (`serve`): an active agreement, without an account, between each configured bank and
    /// each hospital of the credentials file, where the pair has none. Returns how many were added.
    pub async fn seed_hospital_banks(&self, hospitals: &[String], banks: &[String]) -> Result<usize, AppError> {
        let mut added = 0;
        for hospital in hospitals {
            for bank in banks {
                let now = self.now();
                let row = HospitalBankRow {
                    hospital_code: hospital.clone(),
                    bank_code: bank.clone(),
                    account_enc: None,
                    status: "active".into(),
                    source: "seeded".into(),
                    created_at: now.clone(),
                    updated_at: now,
                };
                added += usize::from(self.store.insert_hospital_bank(row).await?);
            }
        }
        Ok(added)
    }

    /// A pair's agreement when it is in force: `Ok(Some(account))` (the account opened, if it has
    /// one), or `Err(reason)` why money may not go to it now.
    pub(super) async fn payee_of(&self, hospital: &str, bank: &str) -> Result<Result<Option<String>, &'static str>, AppError> {
        Ok(match self.store.hospital_bank(hospital, bank).await? {
            None => Err("no agreement between this hospital and bank"),
            Some(row) if !row.is_active() => Err("the agreement between this hospital and bank is suspended"),
            Some(row) => Ok(row.account_enc),
        })
    }

    /// Refuses to switch seamless payment on for a visit whose hospital's agreement with the
    /// paying bank is suspended (a missing agreement is not refused: see the module's note).
    pub(super) async fn refuse_if_hospital_bank_suspended(&self, visit: &VisitRow) -> Result<(), AppError> {
        let agreement = match &visit.agreement_id {
            Some(id) => self.store.agreement(id).await?,
            None => self.store.paying_agreement_for(&visit.psn_no).await?.map(|(a, _)| a),
        };
        let Some(agreement) = agreement else { return Ok(()) };
        match self.store.hospital_bank(&visit.hospital_code, &agreement.bank_code).await? {
            Some(row) if !row.is_active() => Err(AppError::conflict(
                "hospital_bank_suspended",
                "this hospital's agreement with your bank is suspended: seamless payment cannot be switched on here for now",
            )),
            _ => Ok(()),
        }
    }

    fn hospital_bank_view(&self, row: HospitalBankRow) -> Result<HospitalBankView, AppError> {
        let account_masked = match &row.account_enc {
            Some(sealed) => Some(mask_account(&self.config.data_key.open(sealed)?)),
            None => None,
        };
        Ok(HospitalBankView {
            hospital_code: row.hospital_code,
            bank_code: row.bank_code,
            account_masked,
            status: row.status,
            source: row.source,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// This feature's types by the names openapi.json gives them (`openapi_check` compares them).
pub fn schemas() -> Vec<(String, serde_json::Value)> {
    fn one<T: utoipa::ToSchema>(name: &str) -> (String, serde_json::Value) {
        (name.to_string(), serde_json::to_value(T::schema()).unwrap_or(serde_json::Value::Null))
    }
    vec![one::<HospitalBankView>("HospitalBank"), one::<super::clearing::HeldPayoutView>("HeldPayout")]
}

/// This feature's command, by the route that reads it.
pub fn command_schemas() -> Vec<(&'static str, serde_json::Value)> {
    vec![(
        "post /api/v1/operator/hospital-banks",
        serde_json::to_value(NewHospitalBankRequest::schema()).unwrap_or(serde_json::Value::Null),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_digits_and_shown_by_their_last_four() {
        for (typed, read) in [
            ("6222021234567890123", Some("6222021234567890123")),
            ("6222 0212 3456 7890 123", Some("6222021234567890123")),
            ("12345678", Some("12345678")),
            ("1234567", None),
            ("6222-0212-3456", None),
            ("62220212345678901234567890123456789", None),
            ("", None),
        ] {
            assert_eq!(account_digits(typed).as_deref(), read, "{typed}");
        }
        assert_eq!(mask_account("6222021234567890123"), "****0123");
    }
}
