//! `/h5/family`: 亲情付: the members of the patient's active agreement, adding one (a minor child
//! by guardian proof, an adult by an invitation they accept on their own phone), ending a link,
//! and the invitations the patient sent and received (accept or decline).

use super::{session, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;
use wugan_hub::app::family_invitations::FamilyInvitationsView;
use wugan_hub::app::{AgreementView, App};

#[derive(Template)]
#[template(path = "h5/family.html")]
struct Family {
    page: Page,
    /// The patient's active agreement, whose family this is.
    agreement: Option<AgreementView>,
    /// Invitations pending: sent on the agreement, and received from a relative's.
    invitations: FamilyInvitationsView,
}

impl Family {
    fn relation(&self, relation: &str) -> &str {
        match relation {
            "child" => self.page.t("relation_child"),
            "parent" => self.page.t("relation_parent"),
            _ => self.page.t("relation_spouse"),
        }
    }
}

pub async fn family(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    let agreement = match app.patient_agreements(&signed_in.patient_id).await {
        Ok(list) => list.agreements.into_iter().find(|a| a.status == "active"),
        Err(e) => {
            tracing::warn!(error = %e, "a patient's agreements could not be read");
            None
        }
    };
    let invitations = app.patient_family_invitations(&signed_in.patient_id).await.unwrap_or(FamilyInvitationsView {
        sent: Vec::new(),
        received: Vec::new(),
        paid_by: None,
    });
    let page = Page::new(prefs, "/h5/family", HOME).with_csrf(signed_in.csrf_token);
    render(&Family { page, agreement, invitations })
}
