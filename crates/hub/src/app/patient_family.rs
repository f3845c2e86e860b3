//! 亲情付 by the patient: adding a family member to their own agreement needs the relative's own
//! consent (an invitation they accept on their own phone, `family_invitations`) or guardian proof (a minor child), at most
//! five (the operator's rules in `agreements`); either side can end the link: the signer on
//! their agreement, the member on a link that names them. The signer sees the members' visits.

use super::{AgreementView, App};
use crate::error::AppError;
use crate::model::AgreementStatus;

impl App {
    /// Ends a family link: the signer may end any on their agreement, a member the one naming them.
    pub async fn patient_revoke_family(&self, patient_id: &str, agreement_id: &str, link_id: &str) -> Result<AgreementView, AppError> {
        let psn_no = self.patient_row(patient_id).await?.psn_no;
        let hidden =
            || AppError::not_found("family_link_not_found", format!("no active family link {link_id} on agreement {agreement_id}"));
        let agreement = self.store.agreement(agreement_id).await?.ok_or_else(hidden)?;
        let signer = psn_no.as_deref() == Some(agreement.psn_no.as_str());
        let links = self.store.family_links(agreement_id).await?;
        let member = links.iter().any(|l| l.id == link_id && Some(l.member_psn_no.as_str()) == psn_no.as_deref());
        if !signer && !member {
            return Err(hidden());
        }
        self.revoke_family_member(agreement_id, link_id).await
    }

    /// The psn_nos whose visits the patient sees: their own, and their active agreements' family members.
    pub(crate) async fn visible_persons(&self, psn_no: &str) -> Result<Vec<String>, AppError> {
        let mut persons = vec![psn_no.to_string()];
        for id in self.store.agreement_ids_of_person(psn_no, super::patient_agreements::PATIENT_LIST_MAX).await? {
            for link in self.store.family_links(&id).await? {
                // A member who signed an agreement of their own pays for themselves from then on
                // (`paying_agreement_for` takes theirs first): their visits, bills and switches
                // are theirs alone, even while the old link stands.
                if link.status == AgreementStatus::Active
                    && !persons.contains(&link.member_psn_no)
                    && self.store.active_agreement_for(&link.member_psn_no).await?.is_none()
                {
                    persons.push(link.member_psn_no);
                }
            }
        }
        Ok(persons)
    }
}
