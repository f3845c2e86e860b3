//! 签约 by the patient themselves, with the consent recorded: the agreement text's version (and
//! its hash), the channel, the sources and limits accepted; revocation likewise, refused while the
//! credit line carries debt. The sign-up itself is the operator's machine (`agreements`), keyed by
//! the patient and their Idempotency-Key, so a retry resumes it.

use super::consent::{current_text, AGREEMENT_VERSION};
use super::{new_id, AgreementView, App, PaymentRequest, SignRequest};
use crate::error::AppError;
use crate::store::ConsentRow;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// How many agreements and consent lines a patient's lists show at most.
pub const PATIENT_LIST_MAX: i64 = 50;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientSignUp {
    /// The version of the agreement text the patient was shown and accepted.
    pub agreement_version: String,
    /// Where the patient signed (h5, wechat, app, ...).
    pub channel: String,
    #[serde(default = "yes")]
    pub use_personal_account: bool,
    pub payment: PaymentRequest,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientRevoke {
    pub channel: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PatientAgreementsView {
    pub agreements: Vec<AgreementView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConsentsView {
    pub consents: Vec<ConsentRow>,
}

impl App {
    /// Signs the patient up (签约) under the text in force, and records their consent once the
    /// agreement is active.
    /// Signs the patient up; `true` beside the agreement when this request (its key) had already
    /// made it, so that the door marks the answer a replay, as the HIS API does.
    pub async fn patient_sign_up(&self, patient_id: &str, req: PatientSignUp, idem_key: &str) -> Result<(AgreementView, bool), AppError> {
        super::check_text("channel", &req.channel, 32)?;
        let row = self.patient_row(patient_id).await?;
        let certno = self.bound_certno(&row)?;
        if req.agreement_version != AGREEMENT_VERSION {
            return Err(AppError::conflict(
                "agreement_text_outdated",
                format!("the agreement text in force is {AGREEMENT_VERSION}: show it and ask again"),
            ));
        }
        let terms = json!({
            "use_personal_account": req.use_personal_account,
            "payment": {
                "method": req.payment.method,
                "bank_code": req.payment.bank_code,
                "credit_limit_fen": req.payment.credit_limit_fen,
            },
        });
        let sign = SignRequest {
            mdtrt_cert_type: "02".into(),
            mdtrt_cert_no: certno,
            use_personal_account: req.use_personal_account,
            payment: req.payment,
        };
        let scope = format!("patient:{patient_id}");
        let replayed = self.signed_already(&scope, idem_key).await?;
        let view = self.sign_agreement(sign, &scope, idem_key).await?;
        if view.status == "active" {
            self.record_consent(patient_id, &view.id, "accepted", &req.channel, terms).await?;
        }
        Ok((view, replayed))
    }

    async fn record_consent(
        &self,
        patient_id: &str,
        agreement_id: &str,
        kind: &str,
        channel: &str,
        terms: serde_json::Value,
    ) -> Result<(), AppError> {
        let text = current_text();
        let consent = ConsentRow {
            id: new_id("con"),
            patient_id: patient_id.to_string(),
            agreement_id: agreement_id.to_string(),
            kind: kind.to_string(),
            text_version: text.version.to_string(),
            text_sha256: text.sha256,
            channel: channel.to_string(),
            terms,
            created_at: String::new(),
        };
        Ok(self.store.insert_consent(consent).await?)
    }

    /// The agreements of the person the patient is bound to, newest first.
    pub async fn patient_agreements(&self, patient_id: &str) -> Result<PatientAgreementsView, AppError> {
        let row = self.patient_row(patient_id).await?;
        let Some(psn_no) = &row.psn_no else {
            return Ok(PatientAgreementsView { agreements: Vec::new() });
        };
        let mut agreements = Vec::new();
        for id in self.store.agreement_ids_of_person(psn_no, PATIENT_LIST_MAX).await? {
            agreements.push(self.agreement(&id).await?);
        }
        Ok(PatientAgreementsView { agreements })
    }

    /// Ends the patient's own agreement, unless it still owes (`revoke_agreement`: repay first).
    pub async fn patient_revoke(&self, patient_id: &str, agreement_id: &str, req: PatientRevoke) -> Result<AgreementView, AppError> {
        let channel = req.channel.unwrap_or_else(|| "h5".to_string());
        super::check_text("channel", &channel, 32)?;
        let view = self.patient_agreement(patient_id, agreement_id).await?;
        if view.status != "active" {
            return Err(AppError::conflict("agreement_not_active", "the agreement is already revoked"));
        }
        let revoked = self.revoke_agreement(agreement_id).await?;
        self.record_consent(patient_id, agreement_id, "revoked", &channel, json!({})).await?;
        Ok(revoked)
    }

    pub async fn patient_consents(&self, patient_id: &str) -> Result<ConsentsView, AppError> {
        Ok(ConsentsView { consents: self.store.consents_of_patient(patient_id, PATIENT_LIST_MAX).await? })
    }

    /// An agreement's consent record, for an operator.
    pub async fn agreement_consents(&self, agreement_id: &str) -> Result<ConsentsView, AppError> {
        if self.store.agreement(agreement_id).await?.is_none() {
            return Err(AppError::not_found("agreement_not_found", format!("no agreement {agreement_id}")));
        }
        Ok(ConsentsView { consents: self.store.consents_of_agreement(agreement_id).await? })
    }
}
