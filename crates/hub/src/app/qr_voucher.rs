//! The e-voucher QR (医保电子凭证, 脱卡): the patient's page shows a short-lived signed token as a
//! QR code, refreshed every minute; a hospital's scanner sends it at registration as
//! `mdtrt_cert_type` 01; the hub resolves it to the person (once: a token is never resolved
//! twice) and registers the visit by their ID card, so later calls (2206/2207) name the person by
//! psn_no, long after the token expired.
//!
//! A token fits the national field's 64 characters: `WGQR1.<the patient id's 32 hex digits>.<issued,
//! unix s, 8 hex digits>.<the first 64 bits of an HMAC-SHA256, 16 hex digits>` under a key derived
//! from the data key. Guessing the MAC is a 2^64 search against a rate-limited online check, for a
//! token that lives two minutes and is resolved once. Expired, replayed and tampered tokens are
//! refused with their own codes.
//!
//! A family member the signer's agreement pays for (亲情付: a child with no e-voucher of their own,
//! a parent without a smartphone) has a QR of their own on the signer's phone: `WGQF1.<the family
//! link id's 32 hex digits>.<issued>.<MAC>`, the same length and the same rules, resolved to the
//! member's ID card number kept (sealed) on the link; only while the link stands.

use super::App;
use crate::error::AppError;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub const QR_PREFIX: &str = "WGQR1.";
/// A family member's QR, shown on the signer's phone.
pub const FAMILY_QR_PREFIX: &str = "WGQF1.";
/// How long a token is good for: two refreshes of the page (every 60 s).
pub const QR_TTL_S: i64 = 120;
pub const QR_REFRESH_S: u64 = 60;
/// The MAC's length in the token: 8 bytes, 16 hex digits (see above).
const MAC_BYTES: usize = 8;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QrVoucherView {
    pub token: String,
    pub expires_at_unix: i64,
    pub refresh_after_s: u64,
}

/// Whose token it was (its `Debug` leaves the card number out: it may reach a log).
pub struct ResolvedVoucher {
    /// The patient whose phone showed it (the signer, for a family member's).
    pub shown_by: String,
    /// The person's ID card number, as the insurance center knows them.
    pub certno: String,
}

impl std::fmt::Debug for ResolvedVoucher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedVoucher").field("shown_by", &self.shown_by).field("certno", &"<sealed>").finish()
    }
}

/// Whether a registration's `mdtrt_cert_no` is one of the hub's own QR tokens.
pub fn is_hub_token(cert_no: &str) -> bool {
    let no = cert_no.trim();
    no.starts_with(QR_PREFIX) || no.starts_with(FAMILY_QR_PREFIX)
}

fn refused(code: &'static str, message: &str) -> AppError {
    AppError::invalid(code, message.to_string())
}

impl App {
    fn qr_mac(&self, payload: &str) -> String {
        let key = self.config.data_key.blind_index("wugan-qr-voucher-key-v1");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..MAC_BYTES])
    }

    /// A fresh token for the patient; only after the real-name binding.
    pub async fn patient_qr(&self, patient_id: &str) -> Result<QrVoucherView, AppError> {
        let row = self.patient_row(patient_id).await?;
        self.bound_certno(&row)?;
        let issued = self.store.clock.now_utc().unix_timestamp();
        let id_hex = patient_id.strip_prefix("pat_").ok_or_else(|| AppError::internal("a patient id without its prefix"))?;
        let payload = format!("{QR_PREFIX}{id_hex}.{issued:08x}");
        let token = format!("{payload}.{}", self.qr_mac(&payload));
        Ok(QrVoucherView { token, expires_at_unix: issued + QR_TTL_S, refresh_after_s: QR_REFRESH_S })
    }

    /// A fresh token for a family member of the patient's own agreement, while the link stands;
    /// refused for a link made before the member's card was kept (`family_qr_unavailable`).
    pub async fn family_qr(&self, patient_id: &str, agreement_id: &str, link_id: &str) -> Result<QrVoucherView, AppError> {
        let link = self.signers_link(patient_id, agreement_id, link_id).await?;
        if link.member_certno_enc.is_none() {
            return Err(AppError::conflict(
                "family_qr_unavailable",
                "this family member was added before their QR code was offered: the hospital registers them by their ID card",
            ));
        }
        let id_hex = link.id.strip_prefix("fam_").ok_or_else(|| AppError::internal("a family link id without its prefix"))?;
        let issued = self.store.clock.now_utc().unix_timestamp();
        let payload = format!("{FAMILY_QR_PREFIX}{id_hex}.{issued:08x}");
        let token = format!("{payload}.{}", self.qr_mac(&payload));
        Ok(QrVoucherView { token, expires_at_unix: issued + QR_TTL_S, refresh_after_s: QR_REFRESH_S })
    }

    /// The active family link `link_id` of the patient's own active agreement `agreement_id`;
    /// anything else is not found (not told apart: a patient learns nothing of others' links).
    async fn signers_link(&self, patient_id: &str, agreement_id: &str, link_id: &str) -> Result<crate::model::FamilyLinkRow, AppError> {
        let hidden =
            || AppError::not_found("family_link_not_found", format!("no active family link {link_id} on your agreement {agreement_id}"));
        let psn_no = self.patient_row(patient_id).await?.psn_no.ok_or_else(hidden)?;
        let agreement = self.store.agreement(agreement_id).await?.filter(|a| a.psn_no == psn_no).ok_or_else(hidden)?;
        if agreement.status != crate::model::AgreementStatus::Active {
            return Err(hidden());
        }
        let links = self.store.family_links(agreement_id).await?;
        links.into_iter().find(|l| l.id == link_id && l.status == crate::model::AgreementStatus::Active).ok_or_else(hidden)
    }

    /// Resolves a token a hospital's registration sent, once.
    pub async fn resolve_qr(&self, token: &str, hospital: &str) -> Result<ResolvedVoucher, AppError> {
        let token = token.trim();
        let now = self.store.clock.now_utc().unix_timestamp();
        let mac = |payload: &str| self.qr_mac(payload);
        let resolved = match check_token(token, QR_PREFIX, now, mac) {
            Ok(id_hex) => self.patients_own(&format!("pat_{id_hex}")).await?,
            Err(_) if token.starts_with(FAMILY_QR_PREFIX) => {
                let id_hex = check_token(token, FAMILY_QR_PREFIX, now, mac).map_err(|(code, message)| refused(code, message))?;
                self.family_members(&format!("fam_{id_hex}")).await?
            }
            Err((code, message)) => return Err(refused(code, message)),
        };
        let token_hash = hex::encode(Sha256::digest(token.as_bytes()));
        if !self.store.use_qr_token(&token_hash, &resolved.shown_by, hospital).await? {
            return Err(refused("qr_token_used", "this e-voucher QR code was used already: ask the patient to show it again"));
        }
        Ok(resolved)
    }

    /// A patient's own token: their bound card.
    async fn patients_own(&self, patient_id: &str) -> Result<ResolvedVoucher, AppError> {
        let row = self.patient_row(patient_id).await.map_err(|_| refused("qr_token_invalid", "no such patient"))?;
        let certno = self.bound_certno(&row).map_err(|_| refused("qr_token_invalid", "the patient has no verified identity"))?;
        Ok(ResolvedVoucher { shown_by: patient_id.to_string(), certno })
    }

    /// A family member's token: the card kept on the link, while the link and its agreement stand.
    async fn family_members(&self, link_id: &str) -> Result<ResolvedVoucher, AppError> {
        let ended = || refused("qr_token_invalid", "the family payment this QR code was shown for has ended");
        let (agreement_id, certno_enc) = self.store.family_link_card(link_id).await?.ok_or_else(ended)?;
        let agreement = self.store.agreement(&agreement_id).await?.filter(|a| a.status == crate::model::AgreementStatus::Active);
        let (Some(agreement), Some(certno_enc)) = (agreement, certno_enc) else { return Err(ended()) };
        let shown_by = self.store.patients_of_person(&agreement.psn_no).await?.into_iter().next().ok_or_else(ended)?;
        Ok(ResolvedVoucher { shown_by, certno: self.config.data_key.open(&certno_enc)? })
    }
}

/// The id (hex digits after `prefix`) a token names, if it is genuine and not expired at `now`
/// (unix s); else the code and message to refuse it with. `mac` signs a payload as
/// `App::qr_mac` does (over the prefix too: a patient's token is never a family member's).
fn check_token(token: &str, prefix: &str, now: i64, mac: impl Fn(&str) -> String) -> Result<String, (&'static str, &'static str)> {
    let invalid = ("qr_token_invalid", "the e-voucher token is not one the hub signed");
    let (payload, signature) = token.rsplit_once('.').ok_or(invalid)?;
    let expected = mac(payload);
    let genuine = expected.len() == signature.len() && expected.bytes().zip(signature.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0;
    let fields = payload.strip_prefix(prefix).and_then(|rest| rest.split_once('.'));
    let (Some((id_hex, issued)), true) = (fields, genuine) else {
        return Err(invalid);
    };
    let issued = i64::from_str_radix(issued, 16).map_err(|_| invalid)?;
    if now > issued + QR_TTL_S {
        return Err(("qr_token_expired", "the e-voucher QR code has expired: ask the patient to show it again"));
    }
    Ok(id_hex.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(payload: &str) -> String {
        hex::encode(&Sha256::digest(format!("k:{payload}").as_bytes())[..MAC_BYTES])
    }

    const ID: &str = "019ad5e5e68772200a0afa802b29b0f3";

    fn token(issued: i64) -> String {
        let payload = format!("{QR_PREFIX}{ID}.{issued:08x}");
        format!("{payload}.{}", mac(&payload))
    }

    #[test]
    fn a_token_fits_the_field_and_is_good_for_its_two_minutes_only_as_signed() {
        let good = token(1_764_000_000);
        assert_eq!(good.len(), 64, "{good}");
        let tampered = good.replacen("019ad", "019ae", 1);
        let unsigned = format!("{QR_PREFIX}{ID}.{:08x}", 1_764_000_000);
        let patient = ID.to_string();
        // (token, now, expected)
        let table: [(&str, i64, Result<&str, &str>); 6] = [
            (&good, 1_764_000_000, Ok(patient.as_str())),
            (&good, 1_764_000_000 + QR_TTL_S, Ok(patient.as_str())),
            (&good, 1_764_000_001 + QR_TTL_S, Err("qr_token_expired")),
            (&tampered, 1_764_000_000, Err("qr_token_invalid")),
            (&unsigned, 1_764_000_000, Err("qr_token_invalid")),
            ("440301199001011234", 1_764_000_000, Err("qr_token_invalid")),
        ];
        for (t, now, expected) in table {
            let got = check_token(t, QR_PREFIX, now, mac);
            assert_eq!(got.as_deref().map_err(|(code, _)| *code), expected, "{t} at {now}");
        }
    }

    #[test]
    fn a_family_members_token_is_never_a_patients_and_expires_alike() {
        let payload = format!("{FAMILY_QR_PREFIX}{ID}.{:08x}", 1_764_000_000);
        let family = format!("{payload}.{}", mac(&payload));
        assert_eq!(family.len(), 64, "{family}");
        assert!(is_hub_token(&family) && is_hub_token(&format!(" {} ", token(1))) && !is_hub_token("440301199001011234"));
        assert_eq!(check_token(&family, FAMILY_QR_PREFIX, 1_764_000_000, mac).as_deref(), Ok(ID));
        let expired = check_token(&family, FAMILY_QR_PREFIX, 1_764_000_001 + QR_TTL_S, mac);
        assert_eq!(expired.map_err(|(code, _)| code), Err("qr_token_expired"));
        // Read under the other prefix, or with the prefix swapped (the signature covers it): refused.
        assert_eq!(check_token(&family, QR_PREFIX, 1_764_000_000, mac).map_err(|(c, _)| c), Err("qr_token_invalid"));
        let swapped = family.replacen(FAMILY_QR_PREFIX, QR_PREFIX, 1);
        assert_eq!(check_token(&swapped, QR_PREFIX, 1_764_000_000, mac).map_err(|(c, _)| c), Err("qr_token_invalid"));
    }
}
