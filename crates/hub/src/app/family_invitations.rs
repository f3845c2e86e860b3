//! 亲情付 with an adult relative's own consent (issue 14): the signer's phone cannot speak for an
//! adult, so adding one from the patient's door writes an invitation, and the relative accepts or
//! declines it signed in on their own phone (their identity bound by 1101 and the channel's face
//! check). Only the acceptance makes the family link, recorded as consented `own_phone` by that
//! patient. A minor child is still bound by the signer with guardian proof. Invitations lapse
//! after [`INVITATION_DAYS`].

use super::{App, FamilyRequest};
use crate::error::AppError;
use crate::model::{AgreementStatus, FamilyLinkRow, Relation};
use crate::store::FamilyInvitationRow;
use serde::Serialize;

/// Days an invitation waits for the relative.
pub const INVITATION_DAYS: i64 = 7;
/// Family members one agreement pays for at most (as `agreements::MAX_FAMILY_MEMBERS`).
const MAX_FAMILY_MEMBERS: i64 = 5;

/// An invitation as either side sees it: names masked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FamilyInvitationView {
    pub id: String,
    pub agreement_id: String,
    /// spouse, parent or child: what the relative is to the signer.
    pub relation: String,
    /// The relative invited (masked).
    pub member_name: String,
    pub expires_at: String,
    pub created_at: String,
}

/// The patient's invitations: those sent on their agreements, and those naming them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FamilyInvitationsView {
    pub sent: Vec<FamilyInvitationView>,
    pub received: Vec<FamilyInvitationView>,
}

impl App {
    /// 亲情付 from the patient's door: a minor child by guardian proof at once; anyone else by an
    /// invitation the relative accepts on their own phone.
    pub async fn patient_add_family(
        &self,
        patient_id: &str,
        agreement_id: &str,
        req: FamilyRequest,
    ) -> Result<super::AgreementView, AppError> {
        self.patient_agreement(patient_id, agreement_id).await?;
        if req.consent.method == "guardian" {
            return self.add_family_member(agreement_id, req).await; // refuses an adult (consent_required)
        }
        if req.consent.method != "face" {
            return Err(AppError::invalid("bad_consent", "consent.method must be face or guardian"));
        }
        let (member, relation) = self.family_candidate(agreement_id, &req).await?;
        let now = self.now();
        let expires = self.store.clock.now_utc() + time::Duration::days(INVITATION_DAYS);
        let invitation = FamilyInvitationRow {
            id: super::new_id("fin"),
            agreement_id: agreement_id.to_string(),
            member_psn_no: member.psn_no.clone(),
            member_name_enc: self.config.data_key.seal(&member.psn_name)?,
            relation: relation.as_str().to_string(),
            status: "pending".into(),
            link_id: None,
            created_at: now.clone(),
            expires_at: crate::clock::timestamp(expires),
        };
        // The same relative invited again while one waits: that one stands (nothing new is written).
        self.store.insert_family_invitation(&invitation, &now).await?;
        self.agreement(agreement_id).await
    }

    /// The invitations the patient sent and received, pending and not expired.
    pub async fn patient_family_invitations(&self, patient_id: &str) -> Result<FamilyInvitationsView, AppError> {
        let Some(psn_no) = self.patient_row(patient_id).await?.psn_no else {
            return Ok(FamilyInvitationsView { sent: Vec::new(), received: Vec::new() });
        };
        let now = self.now();
        let mut sent = Vec::new();
        for id in self.store.agreement_ids_of_person(&psn_no, super::patient_agreements::PATIENT_LIST_MAX).await? {
            for i in self.store.family_invitations_of(&id, &now).await? {
                sent.push(self.invitation_view(&i)?);
            }
        }
        let received =
            self.store.family_invitations_to(&psn_no, &now).await?.iter().map(|i| self.invitation_view(i)).collect::<Result<_, _>>()?;
        Ok(FamilyInvitationsView { sent, received })
    }

    /// The relative says yes: the family link is made, consented by them on their own phone.
    pub async fn accept_family_invitation(&self, patient_id: &str, id: &str) -> Result<FamilyInvitationsView, AppError> {
        let invitation = self.own_invitation(patient_id, id).await?;
        let link = FamilyLinkRow {
            id: super::new_id("fam"),
            agreement_id: invitation.agreement_id.clone(),
            member_psn_no: invitation.member_psn_no.clone(),
            member_name_enc: invitation.member_name_enc.clone(),
            relation: Relation::parse(&invitation.relation).ok_or_else(|| AppError::internal("an invitation's relation"))?,
            consent_method: "own_phone".into(),
            consent_reference: format!("patient:{patient_id} invitation:{id}"),
            status: AgreementStatus::Active,
            created_at: self.now(),
        };
        let agreement = self.store.agreement(&invitation.agreement_id).await?;
        if agreement.is_none_or(|a| a.status != AgreementStatus::Active) {
            return Err(AppError::conflict("agreement_not_active", "the signer's agreement has ended"));
        }
        match self.store.insert_family_link(&link, MAX_FAMILY_MEMBERS).await {
            Ok(()) => {}
            Err(crate::store::StoreError::Conflict(m)) => return Err(AppError::conflict("family_link_refused", m)),
            Err(e) => return Err(e.into()),
        }
        self.store.decide_family_invitation(id, "accepted", Some(&link.id), &self.now()).await?;
        self.patient_family_invitations(patient_id).await
    }

    /// The relative says no: nothing is linked.
    pub async fn decline_family_invitation(&self, patient_id: &str, id: &str) -> Result<FamilyInvitationsView, AppError> {
        self.own_invitation(patient_id, id).await?;
        self.store.decide_family_invitation(id, "declined", None, &self.now()).await?;
        self.patient_family_invitations(patient_id).await
    }

    /// A pending invitation naming the patient; anyone else's answers as missing.
    async fn own_invitation(&self, patient_id: &str, id: &str) -> Result<FamilyInvitationRow, AppError> {
        let psn_no = self.patient_row(patient_id).await?.psn_no;
        let now = self.now();
        self.store
            .family_invitation(id)
            .await?
            .filter(|i| Some(&i.member_psn_no) == psn_no.as_ref() && i.status == "pending" && i.expires_at > now)
            .ok_or_else(|| AppError::not_found("invitation_not_found", format!("no pending invitation {id} for you")))
    }

    fn invitation_view(&self, i: &FamilyInvitationRow) -> Result<FamilyInvitationView, AppError> {
        Ok(FamilyInvitationView {
            id: i.id.clone(),
            agreement_id: i.agreement_id.clone(),
            relation: i.relation.clone(),
            member_name: crate::pii::mask_name(&self.config.data_key.open(&i.member_name_enc)?),
            expires_at: i.expires_at.clone(),
            created_at: i.created_at.clone(),
        })
    }
}
