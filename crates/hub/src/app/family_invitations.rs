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
    /// Who invites: the signer of the agreement that would pay (masked), so the relative knows
    /// whose line they consent to (review r26 pages #3).
    pub inviter_name: String,
    pub expires_at: String,
    pub created_at: String,
}

/// The patient's invitations: those sent on their agreements, and those naming them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FamilyInvitationsView {
    pub sent: Vec<FamilyInvitationView>,
    pub received: Vec<FamilyInvitationView>,
    /// The relative's agreement that pays for the patient (亲情付), when one does and the patient
    /// has none of their own: after accepting, their pages say who pays.
    pub paid_by: Option<PaidByView>,
}

/// The agreement that pays for a family member: its signer (masked) and what the member is to them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaidByView {
    pub agreement_id: String,
    /// The family link: the member may end it (`POST …/agreements/{agreement_id}/family/{link_id}/revoke`).
    pub link_id: String,
    pub signer_name: String,
    /// spouse, parent or child: what the patient is to the signer.
    pub relation: String,
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
        // An invitation needs no document: the relative consents on their own phone, and the link
        // records that (review r26 pages #4: the form asked an adult for a birth certificate number).
        let mut req = req;
        if req.consent.reference.trim().is_empty() {
            req.consent.reference = "invitation".into();
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
        if self.store.insert_family_invitation(&invitation, &now).await? {
            self.tell_invited(&invitation).await;
        }
        self.agreement(agreement_id).await
    }

    /// The invitations waiting for `psn_no`, told (a person who binds their identity after being
    /// invited learns of it then; one told already is not told again: the notice's key is the
    /// invitation's).
    pub(super) async fn tell_waiting_invitations(&self, psn_no: &str) {
        match self.store.family_invitations_to(psn_no, &self.now()).await {
            Ok(waiting) => {
                for i in &waiting {
                    self.tell_invited(i).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "the invitations waiting could not be read"),
        }
    }

    /// 亲情付: the relative invited is told, in the inbox and by text message, that someone waits
    /// for their answer (they were not: the invitation waited unseen until they opened the family
    /// page). Once per invitation. A notice that could not be written is logged, not an error: the
    /// invitation stands and the family page shows it.
    async fn tell_invited(&self, i: &FamilyInvitationRow) {
        let inviter = match self.store.agreement(&i.agreement_id).await {
            Ok(Some(a)) => self.config.data_key.open(&a.name_enc).map(|n| crate::pii::mask_name(&n)).unwrap_or_default(),
            _ => String::new(),
        };
        let facts = serde_json::json!({"invitation_id": i.id, "inviter_name": inviter, "relation": i.relation, "expires_at": i.expires_at});
        if let Err(e) = self.notify_person(&i.member_psn_no, &format!("invite:{}", i.id), "family_invited", facts).await {
            tracing::warn!(invitation = %i.id, code = e.code(), "the invitation's notice was not made");
        }
    }

    /// The invitations the patient sent and received, pending and not expired.
    pub async fn patient_family_invitations(&self, patient_id: &str) -> Result<FamilyInvitationsView, AppError> {
        let Some(psn_no) = self.patient_row(patient_id).await?.psn_no else {
            return Ok(FamilyInvitationsView { sent: Vec::new(), received: Vec::new(), paid_by: None });
        };
        let now = self.now();
        let mut sent = Vec::new();
        for id in self.store.agreement_ids_of_person(&psn_no, super::patient_agreements::PATIENT_LIST_MAX).await? {
            for i in self.store.family_invitations_of(&id, &now).await? {
                sent.push(self.invitation_view(&i).await?);
            }
        }
        let mut received = Vec::new();
        for i in self.store.family_invitations_to(&psn_no, &now).await? {
            received.push(self.invitation_view(&i).await?);
        }
        Ok(FamilyInvitationsView { sent, received, paid_by: self.paid_by(&psn_no).await? })
    }

    /// A relative's agreement paying for `psn_no` through a family link, if any (their own
    /// agreement, when they have one, pays instead).
    async fn paid_by(&self, psn_no: &str) -> Result<Option<PaidByView>, AppError> {
        let Some((agreement, Some(link_id))) = self.store.paying_agreement_for(psn_no).await? else {
            return Ok(None);
        };
        let relation = self.store.family_links(&agreement.id).await?.into_iter().find(|l| l.id == link_id).map(|l| l.relation);
        Ok(Some(PaidByView {
            agreement_id: agreement.id.clone(),
            link_id,
            signer_name: crate::pii::mask_name(&self.config.data_key.open(&agreement.name_enc)?),
            relation: relation.map(|r| r.as_str().to_string()).unwrap_or_default(),
        }))
    }

    /// The relative says yes: the family link is made, consented by them on their own phone.
    pub async fn accept_family_invitation(&self, patient_id: &str, id: &str) -> Result<FamilyInvitationsView, AppError> {
        // Accepted already (the answer to the first accept was lost): answered as it stands, as an
        // Idempotency-Key's replay is (review r26 patient F6: it answered 404).
        let psn_no = self.patient_row(patient_id).await?.psn_no;
        if let Some(done) = self.store.family_invitation(id).await?.filter(|i| i.status == "accepted") {
            if Some(&done.member_psn_no) == psn_no.as_ref() {
                return self.patient_family_invitations(patient_id).await;
            }
        }
        let invitation = self.own_invitation(patient_id, id).await?;
        // Their own bound name's card: what the QR the signer may show for them registers them by.
        let certno = self.bound_certno(&self.patient_row(patient_id).await?).ok();
        let member_certno_enc = certno.map(|c| self.config.data_key.seal(&c)).transpose()?;
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
            member_certno_enc,
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

    async fn invitation_view(&self, i: &FamilyInvitationRow) -> Result<FamilyInvitationView, AppError> {
        let inviter = match self.store.agreement(&i.agreement_id).await? {
            Some(a) => crate::pii::mask_name(&self.config.data_key.open(&a.name_enc)?),
            None => String::new(),
        };
        Ok(FamilyInvitationView {
            id: i.id.clone(),
            agreement_id: i.agreement_id.clone(),
            relation: i.relation.clone(),
            member_name: crate::pii::mask_name(&self.config.data_key.open(&i.member_name_enc)?),
            inviter_name: inviter,
            expires_at: i.expires_at.clone(),
            created_at: i.created_at.clone(),
        })
    }
}
