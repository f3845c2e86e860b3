//! A hospital's own insurance platform, set by the operator through the API and `/ops/` (issue 15):
//! its endpoint, gateway credential and envelope signer (`app::institution` uses them on every
//! message). Secrets are sealed at rest and never shown again; a change signs the hospital in
//! afresh at its new platform on the next call.

use super::institution::HospitalPlatform;
use super::*;

/// A hospital's platform settings as shown: which secrets are set, never the secrets.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformView {
    pub hospital_code: String,
    /// Its own platform's base URL; absent: the hub's.
    pub url: Option<String>,
    pub app_id: Option<String>,
    pub has_secret: bool,
    /// `none` or `hmac-sha256`.
    pub ca_signer: String,
    pub has_ca_key: bool,
}

/// Why these settings cannot be kept, if they cannot.
fn check(p: &HospitalPlatform) -> Result<(), AppError> {
    if let Some(url) = p.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        let parsed = reqwest::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if parsed.is_none() {
            return Err(AppError::invalid("bad_platform_url", "the platform's url is an http or https address"));
        }
    }
    let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
    if blank(&p.app_id) != blank(&p.secret) {
        return Err(AppError::invalid("bad_platform_credential", "give the gateway's app_id and secret together, or neither"));
    }
    Ok(())
}

impl App {
    /// The platform settings of a hospital (`hospital_not_found` when there is none).
    pub async fn hospital_platform_view(&self, code: &str) -> Result<PlatformView, AppError> {
        let row = self.store.hospital_platform(code).await?.ok_or_else(|| no_hospital(code))?;
        Ok(PlatformView {
            hospital_code: code.to_string(),
            url: row.platform_url,
            app_id: row.platform_app_id,
            has_secret: row.platform_secret_enc.is_some(),
            ca_signer: row.ca_signer,
            has_ca_key: row.ca_key_enc.is_some(),
        })
    }

    /// Replaces a hospital's platform settings (every field: what is left out goes back to the
    /// hub's own), then forgets its sign-ins so the next call signs in where it now goes.
    pub async fn update_hospital_platform(&self, code: &str, p: HospitalPlatform) -> Result<PlatformView, AppError> {
        check(&p)?;
        let keep = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        let p = HospitalPlatform {
            url: keep(p.url).map(|u| u.trim().trim_end_matches('/').to_string()),
            app_id: keep(p.app_id),
            secret: keep(p.secret),
            ca_signer: keep(p.ca_signer),
            ca_key: keep(p.ca_key),
        };
        if !self.set_hospital_platform(code, &p).await? {
            return Err(no_hospital(code));
        }
        self.sign_ins.forget(code);
        self.store.forget_sign_ins(code).await?;
        tracing::info!(hospital = code, own_platform = p.url.is_some(), "hospital platform set");
        self.hospital_platform_view(code).await
    }
}

fn no_hospital(code: &str) -> AppError {
    AppError::not_found("hospital_not_found", format!("no hospital {code} on this hub"))
}
