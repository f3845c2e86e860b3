//! A hospital's envelope identity, from its record (issue 15): its name, not its code, its own
//! 就医地医保区划 where it has one, its own platform and envelope signer where it names them, and
//! the day's 9001 sign-in of the hub's operator.

use super::*;
use crate::ca_signer::{CaSigner, HmacSha256Signer};
use crate::insurance_client::{GatewayCredential, OwnPlatform, HUB_OPTER};
use crate::store::PlatformRow;

/// The sign_no of each institution on each China business day, kept in memory beside the store's
/// copy (`insurance_sign_ins`), so that a call costs no read. Each institution and day has its own
/// cell, locked across its 9001 (one sign-in, not one per concurrent call); the map itself is
/// locked only to find the cell, so a platform that hangs on 9001 delays only its own hospital.
#[derive(Default)]
pub struct SignIns {
    by_day: std::sync::Mutex<std::collections::HashMap<(String, String), SignInCell>>,
}

type SignInCell = std::sync::Arc<tokio::sync::Mutex<Option<String>>>;

impl SignIns {
    /// The cell of `key`, made on first use; cells of other days are dropped.
    fn cell(&self, key: &(String, String)) -> SignInCell {
        let mut by_day = self.by_day.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        by_day.retain(|(_, d), _| *d == key.1);
        by_day.entry(key.clone()).or_default().clone()
    }

    /// Forgets an institution's sign-ins (its platform changed: the next call signs in there).
    pub(crate) fn forget(&self, fixmedins_code: &str) {
        self.by_day.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|(code, _), _| code != fixmedins_code);
    }
}

/// How a hospital's platform may be set (`App::set_hospital_platform`); the secrets in clear here,
/// sealed in the record.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HospitalPlatform {
    /// Its own platform's base URL (http or https); absent: the hub's.
    #[serde(default)]
    #[schema(schema_with = super::commands::optional_text::<300>)]
    pub url: Option<String>,
    /// Its own gateway credential there, both or neither; absent: the hub's for its code.
    #[serde(default)]
    #[schema(schema_with = super::commands::optional_text::<64>)]
    pub app_id: Option<String>,
    #[serde(default)]
    #[schema(schema_with = super::commands::optional_text::<128>)]
    pub secret: Option<String>,
    /// "none" (the default) or "hmac-sha256".
    #[serde(default)]
    #[schema(schema_with = super::commands::optional_text::<16>)]
    pub ca_signer: Option<String>,
    #[serde(default)]
    #[schema(schema_with = super::commands::optional_text::<128>)]
    pub ca_key: Option<String>,
}

impl App {
    /// The institution a hospital's messages go out as, signed in for the day. A hospital without
    /// a record (none is authenticated without one) is sent under its code.
    pub(crate) async fn institution(&self, hospital: &str) -> Result<Institution, AppError> {
        let inst = self.platform_institution(hospital).await?;
        self.signed_in(inst).await
    }

    /// The hub's own identity (a sign-up's 1101, repayments), signed in for the day.
    pub(crate) async fn signed_hub_institution(&self) -> Result<Institution, AppError> {
        self.signed_in(hub_institution()).await
    }

    /// The institution without a sign-in: where its messages go and how they are signed (the
    /// drop-in endpoint forwards the HIS's own sign_no and cainfo untouched).
    pub(crate) async fn platform_institution(&self, hospital: &str) -> Result<Institution, AppError> {
        let Some(p) = self.store.hospital_profile(hospital).await? else {
            return Ok(Institution { fixmedins_code: hospital.to_string(), fixmedins_name: hospital.to_string(), ..Default::default() });
        };
        let row = self.store.hospital_platform(hospital).await?.unwrap_or_default();
        let (signer, platform) = (self.signer_of(&row)?, self.own_platform(&p.code, &row)?);
        Ok(Institution {
            fixmedins_code: p.code,
            fixmedins_name: p.name,
            mdtrtarea_admvs: p.mdtrtarea_admvs,
            signer,
            platform,
            ..Default::default()
        })
    }

    fn signer_of(&self, row: &PlatformRow) -> Result<Option<std::sync::Arc<dyn CaSigner>>, AppError> {
        match (row.ca_signer.as_str(), &row.ca_key_enc) {
            (HmacSha256Signer::NAME, Some(sealed)) => {
                Ok(Some(std::sync::Arc::new(HmacSha256Signer::new(&self.config.data_key.open(sealed)?))))
            }
            _ => Ok(None),
        }
    }

    fn own_platform(&self, code: &str, row: &PlatformRow) -> Result<Option<OwnPlatform>, AppError> {
        let Some(url) = row.platform_url.as_deref().map(crate::insurance_client::call_service_url) else { return Ok(None) };
        let credential = match (&row.platform_app_id, &row.platform_secret_enc) {
            (Some(app_id), Some(sealed)) => Some(GatewayCredential {
                fixmedins_code: code.to_string(),
                app_id: app_id.clone(),
                secret: self.config.data_key.open(sealed)?,
            }),
            _ => None,
        };
        Ok(Some(OwnPlatform { url, credential }))
    }

    /// Names a hospital's own platform and envelope signer (`false`: no such hospital).
    pub async fn set_hospital_platform(&self, hospital: &str, platform: &HospitalPlatform) -> Result<bool, AppError> {
        let ca_signer = platform.ca_signer.clone().unwrap_or_else(|| "none".into());
        if !matches!(ca_signer.as_str(), "none" | HmacSha256Signer::NAME) || (ca_signer != "none" && platform.ca_key.is_none()) {
            return Err(AppError::invalid("bad_ca_signer", "ca_signer is none, or hmac-sha256 with a ca_key"));
        }
        let seal = |s: &Option<String>| s.as_deref().map(|s| self.config.data_key.seal(s)).transpose();
        let row = PlatformRow {
            platform_url: platform.url.clone().filter(|u| !u.trim().is_empty()),
            platform_app_id: platform.app_id.clone(),
            platform_secret_enc: seal(&platform.secret)?,
            ca_signer,
            ca_key_enc: seal(&platform.ca_key)?,
        };
        Ok(self.store.set_hospital_platform(hospital, row).await?)
    }

    /// `inst` with its operator's sign_no of the China business day: kept in memory, else in the
    /// store, else asked for by 9001 and kept. A platform that refuses 9001 (one without sign-in)
    /// gets "" for the day; one that does not answer gets "" for this call, and is asked again on
    /// the next. A sign_no the platform has since refused a message for (it expired it, or
    /// restarted and forgot it) is forgotten, in memory and in the store, and 9001 asked again:
    /// otherwise every call of the hospital would be refused until the next day.
    async fn signed_in(&self, mut inst: Institution) -> Result<Institution, AppError> {
        let day = crate::clock::in_china(self.store.clock.now_utc()).date().to_string();
        let key = (inst.fixmedins_code.clone(), day.clone());
        // Held across the sign-in: one 9001 per institution and day, not one per concurrent call.
        let cell = self.sign_ins.cell(&key);
        let mut kept = cell.lock().await;
        if let Some(sign_no) = kept.take() {
            if !self.insurance.take_refused_sign_in(&inst.fixmedins_code, &sign_no) {
                inst.sign_no = sign_no.clone();
                *kept = Some(sign_no);
                return Ok(inst);
            }
            tracing::warn!(fixmedins_code = %inst.fixmedins_code, "the platform no longer takes the day's sign_no: signing in again");
            // Only this sign_no: another process may have signed in anew already, and that one stands.
            self.store.forget_sign_in(&inst.fixmedins_code, HUB_OPTER, &day, &sign_no).await?;
        }
        let sign_no = match self.store.sign_in_of(&inst.fixmedins_code, HUB_OPTER, &day).await? {
            Some(kept) => kept,
            None => {
                let msgid = self.msgid(&inst.fixmedins_code).await?;
                match self.insurance.sign_in(&msgid, &inst).await {
                    Ok(sign_no) => self.store.keep_sign_in(&inst.fixmedins_code, HUB_OPTER, &day, &sign_no).await?,
                    Err(InsuranceError::Refused { message, .. }) => {
                        tracing::warn!(fixmedins_code = %inst.fixmedins_code, %message, "the platform refused 9001: no sign_no today");
                        String::new()
                    }
                    Err(e) => {
                        tracing::warn!(fixmedins_code = %inst.fixmedins_code, error = %e, "9001 unanswered: this call goes without a sign_no");
                        return Ok(inst);
                    }
                }
            }
        };
        *kept = Some(sign_no.clone());
        inst.sign_no = sign_no;
        Ok(inst)
    }
}
