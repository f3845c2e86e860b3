//! The patient's own door: sign-in by mobile number and a one-time code sent by text message,
//! sessions (a cookie for the pages, the same token as a bearer for an app), and the real-name
//! binding (1101 checks the ID number and the name, once) that must come before any agreement.
//!
//! Limits: a code has 6 digits, lives 5 minutes and takes 5 guesses; a number gets a new code at
//! most once a minute and 5 an hour, an address 20 an hour. A session lasts 30 days.

use super::{new_id, App};
use crate::clock::timestamp;
use crate::error::AppError;
use crate::pii::{mask, mask_name};
use crate::store::{CodeCheck, PatientCodeRow, PatientRow, PatientSessionRow};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::time::Duration;

pub const CODE_TTL: Duration = Duration::from_secs(5 * 60);
pub const CODE_MAX_ATTEMPTS: i64 = 5;
pub const CODE_RESEND_AFTER: Duration = Duration::from_secs(60);
pub const CODES_PER_NUMBER_PER_HOUR: i64 = 5;
pub const CODES_PER_ADDRESS_PER_HOUR: i64 = 20;
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
const HOUR: Duration = Duration::from_secs(3600);

/// A mainland China mobile number: 11 digits, the first a 1. Parsed, never re-checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mobile(String);

impl Mobile {
    pub fn parse(text: &str) -> Result<Mobile, AppError> {
        let text = text.trim();
        if text.len() == 11 && text.starts_with('1') && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Mobile(text.to_string()))
        } else {
            Err(AppError::invalid("invalid_mobile", "a mobile number is 11 digits and starts with 1"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendCode {
    /// 11 digits.
    pub mobile: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub mobile: String,
    /// The 6 digits of the text message.
    pub code: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindIdentity {
    /// 居民身份证号 (18 characters).
    pub certno: String,
    pub name: String,
    /// The channel's face-check reference (人脸核身流水号), kept with the binding.
    pub face_check_ref: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CodeSentView {
    pub sent: bool,
    pub expires_in_s: u64,
    pub resend_after_s: u64,
}

/// A new session: `token` is the bearer token (and the cookie's value); `csrf_token` goes with
/// every mutating call made with the cookie (header `X-CSRF-Token`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub token: String,
    pub csrf_token: String,
    pub patient_id: String,
    pub expires_at: String,
}

/// The patient as they see themselves; personal data masked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PatientView {
    pub id: String,
    /// Masked (13*******00).
    pub mobile: String,
    /// The real-name binding, once made.
    pub identity: Option<IdentityView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IdentityView {
    pub psn_no: String,
    /// Masked (张*).
    pub name: String,
    /// Masked (440301********1234).
    pub certno: String,
    pub bound_at: String,
}

/// A live session: who is signed in, and the CSRF token their cookie calls must carry.
#[derive(Clone, Debug)]
pub struct PatientSession {
    pub patient_id: String,
    pub csrf_token: String,
}

/// The identity sealed in `patients.identity_enc`.
#[derive(Serialize, Deserialize)]
struct SealedIdentity {
    name: String,
    certno: String,
    face_check_ref: String,
}

fn random_hex(bytes: usize) -> Result<String, AppError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| AppError::internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

/// Six uniformly drawn digits (rejection sampling: no digit is likelier than another).
fn six_digits() -> Result<String, AppError> {
    loop {
        let mut buf = [0u8; 4];
        getrandom::fill(&mut buf).map_err(|e| AppError::internal(format!("no randomness: {e}")))?;
        let n = u32::from_le_bytes(buf);
        if n < 4_294_000_000 {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

/// How a session token is stored.
pub fn session_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn too_many(message: &str) -> AppError {
    AppError::Http { status: StatusCode::TOO_MANY_REQUESTS, code: "code_rate_limited", message: message.to_string() }
}

impl App {
    fn code_hash(&self, code_id: &str, code: &str) -> String {
        self.config.data_key.blind_index(&format!("sign-in-code:{code_id}:{code}"))
    }

    /// Sends a sign-in code to `mobile`, within the limits per number and per address.
    pub async fn send_sign_in_code(&self, req: SendCode, address: Option<IpAddr>) -> Result<CodeSentView, AppError> {
        let mobile = Mobile::parse(&req.mobile)?;
        let key = &self.config.data_key;
        let mobile_index = key.blind_index(&format!("mobile:{}", mobile.as_str()));
        let address_index = key.blind_index(&format!("address:{}", address.map(|a| a.to_string()).unwrap_or_default()));
        let last = self.store.last_patient_code_at(&mobile_index).await?;
        if last.is_some_and(|at| at > self.store.before_now(CODE_RESEND_AFTER)) {
            return Err(too_many("a code was sent to this number less than a minute ago"));
        }
        let hour_ago = self.store.before_now(HOUR);
        let (per_number, per_address) = self.store.patient_codes_since(&mobile_index, &address_index, &hour_ago).await?;
        if per_number >= CODES_PER_NUMBER_PER_HOUR || per_address >= CODES_PER_ADDRESS_PER_HOUR {
            return Err(too_many("too many codes asked for this hour"));
        }
        let (id, code) = (new_id("otp"), six_digits()?);
        let expires_at = timestamp(self.store.clock.now_utc() + CODE_TTL);
        let row = PatientCodeRow { code_hash: self.code_hash(&id, &code), id, attempts: 0, expires_at };
        self.store.insert_patient_code(&mobile_index, &address_index, row).await?;
        let text = format!("【无感支付】您的登录验证码是 {code}，5分钟内有效。请勿告诉他人。");
        if let Err(e) = self.sms.send(mobile.as_str(), &text, &self.store.now()).await {
            tracing::warn!(error = %e, "a sign-in code could not be handed to the SMS sink");
            return Err(AppError::unavailable("sms_unavailable", "the text message could not be sent; try again"));
        }
        Ok(CodeSentView { sent: true, expires_in_s: CODE_TTL.as_secs(), resend_after_s: CODE_RESEND_AFTER.as_secs() })
    }

    /// Checks the code and opens a session; a new number becomes a new patient.
    pub async fn sign_in_with_code(&self, req: SignIn) -> Result<SessionView, AppError> {
        let mobile = Mobile::parse(&req.mobile)?;
        let code = req.code.trim().to_string();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AppError::invalid("wrong_code", "the code is the 6 digits of the text message"));
        }
        let key = self.config.data_key.clone();
        let mobile_index = key.blind_index(&format!("mobile:{}", mobile.as_str()));
        let check = self
            .store
            .check_patient_code(&mobile_index, CODE_MAX_ATTEMPTS, move |id| key.blind_index(&format!("sign-in-code:{id}:{code}")))
            .await?;
        match check {
            CodeCheck::Right => {}
            CodeCheck::Wrong { left } => {
                return Err(AppError::invalid("wrong_code", format!("that is not the code we sent; {left} more tries")))
            }
            CodeCheck::NoCode => {
                return Err(AppError::invalid(
                    "no_live_code",
                    "no live code for this number (expired, used or out of tries): ask for a new one",
                ))
            }
        }
        let sealed = self.config.data_key.seal(mobile.as_str())?;
        let patient = self.store.patient_by_mobile_or_new(&mobile_index, sealed, new_id("pat")).await?;
        let (token, csrf_token) = (format!("pat_{}", random_hex(32)?), random_hex(16)?);
        let expires_at = timestamp(self.store.clock.now_utc() + SESSION_TTL);
        self.store.insert_patient_session(session_token_hash(&token), &patient.id, csrf_token.clone(), expires_at.clone()).await?;
        Ok(SessionView { token, csrf_token, patient_id: patient.id, expires_at })
    }

    /// The live session a token opens, if any.
    pub async fn patient_session(&self, token: &str) -> Result<Option<PatientSession>, AppError> {
        let row = self.store.patient_session(&session_token_hash(token)).await?;
        let now = self.store.now();
        Ok(row
            .filter(|s: &PatientSessionRow| s.revoked_at.is_none() && s.expires_at > now)
            .map(|s| PatientSession { patient_id: s.patient_id, csrf_token: s.csrf_token }))
    }

    pub async fn patient_sign_out(&self, token: &str) -> Result<(), AppError> {
        Ok(self.store.revoke_patient_session(&session_token_hash(token)).await?)
    }

    pub(crate) async fn patient_row(&self, patient_id: &str) -> Result<PatientRow, AppError> {
        self.store
            .patient(patient_id)
            .await?
            .ok_or_else(|| AppError::Unauthorized { code: "unauthorized", message: "no such patient".into() })
    }

    /// The ID number the patient is bound to; refused before the real-name binding.
    pub(crate) fn bound_certno(&self, row: &PatientRow) -> Result<String, AppError> {
        let Some(sealed) = &row.identity_enc else {
            return Err(AppError::conflict("identity_not_verified", "verify the real name (POST /api/v1/patient/me/identity) first"));
        };
        let identity: SealedIdentity =
            serde_json::from_str(&self.config.data_key.open(sealed)?).map_err(|e| AppError::internal(format!("sealed identity: {e}")))?;
        Ok(identity.certno)
    }

    pub async fn patient_me(&self, patient_id: &str) -> Result<PatientView, AppError> {
        let row = self.patient_row(patient_id).await?;
        self.patient_view(&row)
    }

    fn patient_view(&self, row: &PatientRow) -> Result<PatientView, AppError> {
        let key = &self.config.data_key;
        let mobile = key.open(&row.mobile_enc)?;
        let identity = match (&row.psn_no, &row.identity_enc, &row.bound_at) {
            (Some(psn_no), Some(sealed), Some(bound_at)) => {
                let identity: SealedIdentity =
                    serde_json::from_str(&key.open(sealed)?).map_err(|e| AppError::internal(format!("sealed identity: {e}")))?;
                Some(IdentityView {
                    psn_no: psn_no.clone(),
                    name: mask_name(&identity.name),
                    certno: mask(&identity.certno),
                    bound_at: bound_at.clone(),
                })
            }
            _ => None,
        };
        Ok(PatientView { id: row.id.clone(), mobile: mask(&mobile), identity })
    }

    /// The real-name binding: 1101 must know the ID number, under the same name. Once bound, the
    /// same request answers the same; another person is refused.
    pub async fn bind_identity(&self, patient_id: &str, req: BindIdentity) -> Result<PatientView, AppError> {
        for (field, value, max) in [("certno", &req.certno, 18), ("name", &req.name, 64), ("face_check_ref", &req.face_check_ref, 128)] {
            super::check_text(field, value, max)?;
        }
        let row = self.patient_row(patient_id).await?;
        let person = self.identify("02", &req.certno).await?;
        if person.psn_name.trim() != req.name.trim() {
            return Err(AppError::invalid("identity_mismatch", "the name does not match the ID number's holder"));
        }
        if let Some(bound) = &row.psn_no {
            if *bound != person.psn_no {
                return Err(AppError::conflict("identity_already_bound", "this mobile number is bound to another person"));
            }
            return self.patient_view(&row);
        }
        let key = &self.config.data_key;
        let identity = SealedIdentity { name: person.psn_name.clone(), certno: person.certno.clone(), face_check_ref: req.face_check_ref };
        let sealed = key.seal(&serde_json::to_string(&identity).map_err(|e| AppError::internal(e.to_string()))?)?;
        let certno_index = key.blind_index(&person.certno);
        self.store.bind_patient_identity(patient_id, &person.psn_no, &certno_index, sealed).await.map_err(|e| match e {
            crate::store::StoreError::Conflict(m) => AppError::conflict("identity_taken", m),
            other => other.into(),
        })?;
        // 亲情付 invitations made before this person had the app are told now (once each).
        self.tell_waiting_invitations(&person.psn_no).await;
        self.patient_me(patient_id).await
    }

    /// An agreement the patient may see: their own (family links come with consent, later).
    pub async fn patient_agreement(&self, patient_id: &str, agreement_id: &str) -> Result<super::views::AgreementView, AppError> {
        let row = self.patient_row(patient_id).await?;
        let hidden = || AppError::not_found("agreement_not_found", format!("no agreement {agreement_id}"));
        let agreement = self.store.agreement(agreement_id).await?.ok_or_else(hidden)?;
        match &row.psn_no {
            Some(psn_no) if *psn_no == agreement.psn_no => self.agreement(agreement_id).await,
            _ => Err(hidden()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_numbers_are_eleven_digits_starting_with_one() {
        for (text, ok) in [
            ("13800138000", true),
            (" 13800138000 ", true),
            ("23800138000", false),
            ("1380013800", false),
            ("1380013800a", false),
            ("", false),
        ] {
            assert_eq!(Mobile::parse(text).is_ok(), ok, "{text:?}");
        }
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let code = six_digits().unwrap();
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
