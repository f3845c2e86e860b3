//! Onboarding hospitals (code, name, grade, region, insurance platform, deposit policy) and
//! managing their HIS API keys from the operator's console: issue, rotate (the old key keeps
//! working for a grace period), revoke. Keys are minted here and shown once; only their hash is
//! kept (`store::api_keys`).

use super::commands::{hospital_code, optional_text, text_not_blank};
use super::*;
use crate::store::{ApiKeyRow, HospitalRow, KeyStatus};
use serde::Serialize;

/// How long a rotated key keeps working when the operator names no grace period.
pub const DEFAULT_ROTATION_GRACE: Duration = Duration::from_secs(24 * 3600);
/// The longest grace period: a week.
const MAX_ROTATION_GRACE_HOURS: u64 = 7 * 24;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnboardHospitalRequest {
    /// The hospital's national institution code (定点医药机构编号), e.g. H44030600001.
    #[schema(schema_with = hospital_code)]
    pub code: String,
    #[schema(schema_with = text_not_blank::<100>)]
    pub name: String,
    /// 医院等级, e.g. 三级甲等.
    #[serde(default)]
    #[schema(schema_with = optional_text::<20>)]
    pub grade: Option<String>,
    /// The region's division code (行政区划).
    #[serde(default)]
    #[schema(schema_with = optional_text::<12>)]
    pub region: Option<String>,
    /// The insurance platform the hospital is connected to.
    #[serde(default)]
    #[schema(schema_with = optional_text::<64>)]
    pub insurance_platform: Option<String>,
    /// The deposit policy: `no_receipts` (the default) or `receipts` (押金收据 for deposits held on
    /// the line); another value is `unknown_deposit_policy` (app/deposit_policy.rs).
    #[serde(default)]
    #[schema(schema_with = optional_text::<64>)]
    pub deposit_policy: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HospitalView {
    pub code: String,
    pub name: String,
    pub grade: Option<String>,
    pub region: Option<String>,
    pub insurance_platform: Option<String>,
    /// `no_receipts` or `receipts`.
    pub deposit_policy: Option<String>,
    pub created_at: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueKeyRequest {
    /// The hospital the key is for.
    #[schema(schema_with = text_not_blank::<32>)]
    pub hospital_code: String,
    #[serde(default)]
    #[schema(schema_with = optional_text::<64>)]
    pub label: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyRequest {
    /// How long the old key keeps working (default 24, at most 168).
    #[serde(default)]
    pub grace_hours: Option<u64>,
}

/// A key as the console shows it (never the key).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub key_id: String,
    pub role: &'static str,
    pub hospital_code: Option<String>,
    pub label: Option<String>,
    /// active, expiring, revoked or expired.
    pub status: &'static str,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// A key just minted: `api_key` is shown this once.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedKeyView {
    pub key: ApiKeyView,
    pub api_key: String,
}

pub(super) fn hospital_view(h: &HospitalRow) -> HospitalView {
    HospitalView {
        code: h.code.clone(),
        name: h.name.clone(),
        grade: h.grade.clone(),
        region: h.region.clone(),
        insurance_platform: h.insurance_platform.clone(),
        deposit_policy: Some(super::deposit_policy::DepositPolicy::of_stored(h.deposit_policy.as_deref()).as_str().into()),
        created_at: h.created_at.clone(),
    }
}

fn key_view(k: &ApiKeyRow, now: &str) -> ApiKeyView {
    ApiKeyView {
        key_id: k.key_id.clone(),
        role: k.role.as_str(),
        hospital_code: k.hospital_code.clone(),
        label: k.label.clone(),
        status: match k.status(now) {
            KeyStatus::Active => "active",
            KeyStatus::Expiring { .. } => "expiring",
            KeyStatus::Revoked { .. } => "revoked",
            KeyStatus::Expired { .. } => "expired",
        },
        created_at: k.created_at.clone(),
        revoked_at: k.revoked_at.clone(),
        expires_at: k.expires_at.clone(),
        last_used_at: k.last_used_at.clone(),
    }
}

/// A hospital's code is its national designated-institution code (定点医药机构编码, 12
/// characters such as H44030600001): letters and digits (a local code's `-` or `_` too). It names
/// the hospital in every envelope, key and drop-down, so "bad code!" is refused (review r26 pages #6).
pub(crate) fn check_hospital_code(code: &str) -> Result<(), AppError> {
    if (1..=30).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Ok(());
    }
    Err(AppError::invalid("bad_hospital_code", "code must be the national institution code: letters and digits, as H44030600001"))
}

fn trimmed(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

impl App {
    pub async fn onboard_hospital(&self, req: OnboardHospitalRequest) -> Result<HospitalView, AppError> {
        check_text("code", &req.code, 32)?;
        check_text("name", &req.name, 100)?;
        check_hospital_code(req.code.trim())?;
        let deposit_policy = super::deposit_policy::DepositPolicy::of_request(req.deposit_policy.as_deref())?;
        let row = HospitalRow {
            code: req.code.trim().to_string(),
            name: req.name.trim().to_string(),
            grade: trimmed(req.grade),
            region: trimmed(req.region),
            insurance_platform: trimmed(req.insurance_platform),
            deposit_policy: Some(deposit_policy.as_str().into()),
            created_at: self.now(),
        };
        match self.store.insert_hospital(row.clone()).await {
            Err(crate::store::StoreError::Conflict(_)) => {
                Err(AppError::conflict("hospital_exists", format!("hospital {} is onboarded already", row.code)))
            }
            Err(e) => Err(e.into()),
            Ok(()) => Ok(hospital_view(&row)),
        }
    }

    pub async fn hospitals(&self) -> Result<Vec<HospitalView>, AppError> {
        Ok(self.store.hospitals().await?.iter().map(hospital_view).collect())
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKeyView>, AppError> {
        let now = self.now();
        Ok(self.store.api_keys().await?.iter().map(|k| key_view(k, &now)).collect())
    }

    /// Mints a hospital's HIS key.
    pub async fn issue_hospital_key(&self, req: IssueKeyRequest) -> Result<IssuedKeyView, AppError> {
        let code = req.hospital_code.trim();
        if code.is_empty() || !self.store.hospital_exists(code).await? {
            return Err(AppError::invalid("unknown_hospital", format!("no hospital {code} on this hub")));
        }
        self.mint_key(Role::Hospital, Some(code), trimmed(req.label).as_deref()).await
    }

    async fn mint_key(&self, role: Role, hospital: Option<&str>, label: Option<&str>) -> Result<IssuedKeyView, AppError> {
        let prefix = if role == Role::Hospital { "his" } else { "op" };
        let mut secret = [0u8; 24];
        getrandom::fill(&mut secret).map_err(|e| AppError::internal(format!("no randomness: {e}")))?;
        let api_key = format!("{prefix}_{}", hex::encode(secret));
        let key_id = self.store.issue_api_key(&crate::api::hash_api_key(&api_key), role, hospital, label).await?;
        let row = self.store.api_key(&key_id).await?.ok_or_else(|| AppError::internal("a key just issued is missing"))?;
        Ok(IssuedKeyView { key: key_view(&row, &self.now()), api_key })
    }

    /// A new key for the same caller; the old one works `grace_hours` more, then stops.
    pub async fn rotate_key(&self, key_id: &str, req: RotateKeyRequest) -> Result<IssuedKeyView, AppError> {
        let hours = req.grace_hours.unwrap_or(DEFAULT_ROTATION_GRACE.as_secs() / 3600);
        if hours > MAX_ROTATION_GRACE_HOURS {
            return Err(AppError::invalid("bad_grace_period", format!("grace_hours is at most {MAX_ROTATION_GRACE_HOURS}")));
        }
        let old = self.store.api_key(key_id).await?.ok_or_else(|| AppError::not_found("key_not_found", format!("no key {key_id}")))?;
        if !old.opens_the_api(&self.now()) {
            return Err(AppError::conflict("key_not_working", format!("key {key_id} no longer works; issue a new one")));
        }
        let label = old.label.clone().unwrap_or_else(|| format!("rotated from {key_id}"));
        let issued = self.mint_key(old.role, old.hospital_code.as_deref(), Some(&label)).await?;
        let until = crate::clock::timestamp(self.store.clock.now_utc() + Duration::from_secs(hours * 3600));
        self.store.expire_api_key(key_id, &until).await?;
        Ok(issued)
    }

    pub async fn revoke_key(&self, key_id: &str) -> Result<ApiKeyView, AppError> {
        self.store.api_key(key_id).await?.ok_or_else(|| AppError::not_found("key_not_found", format!("no key {key_id}")))?;
        self.store.revoke_api_key(key_id).await?;
        let row = self.store.api_key(key_id).await?.ok_or_else(|| AppError::internal("a key just revoked is missing"))?;
        Ok(key_view(&row, &self.now()))
    }
}

#[cfg(test)]
mod code_tests {
    #[test]
    fn a_hospital_code_is_letters_and_digits() {
        assert!(super::check_hospital_code("H44030600001").is_ok());
        assert!(super::check_hospital_code("H-YJ_1").is_ok(), "a local code's dash or underscore");
        for bad in ["", "bad code!", "H4403 06", "医院1", "H1/2", &"H".repeat(31)] {
            assert_eq!(super::check_hospital_code(bad).map_err(|e| e.code()), Err("bad_hospital_code"), "{bad}");
        }
    }
}
