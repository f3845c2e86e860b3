//! `/h5/home`: the signed-in patient's first page: who they are, the real-name binding (once),
//! and the way out.

use super::{session, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;
use wugan_hub::app::patients::PatientView;
use wugan_hub::app::{AgreementView, App};

#[derive(Template)]
#[template(path = "h5/home.html")]
struct Home {
    page: Page,
    me: PatientView,
    agreements: Vec<AgreementView>,
}

impl Home {
    /// An amount of fen as yuan, or a dash when the bank did not say.
    fn amount(&self, fen: &Option<i64>) -> String {
        fen.map(|f| format!("{} {}", self.page.yuan(f), self.page.t("yuan"))).unwrap_or_else(|| "—".into())
    }

    /// An agreement's status in words.
    fn status(&self, a: &AgreementView) -> &str {
        match (a.status, a.seamless.enabled) {
            ("active", true) => self.page.t("agreement_active"),
            ("active", false) => self.page.t("agreement_suspended"),
            _ => self.page.t("agreement_revoked"),
        }
    }

    fn method(&self, a: &AgreementView) -> &str {
        if a.payment.method == "credit_line" {
            self.page.t("signup_credit_line")
        } else {
            self.page.t("signup_debit_card")
        }
    }

    /// What the active credit line owes, as yuan text for the repayment form; none when nothing.
    fn owed(&self, a: &AgreementView) -> Option<String> {
        let used = a.payment.used_fen.filter(|u| *u > 0 && a.status == "active" && a.payment.method == "credit_line")?;
        Some(self.page.yuan(used))
    }

    fn has_active(&self) -> bool {
        self.agreements.iter().any(|a| a.status == "active")
    }
}

pub async fn home(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    let me = match app.patient_me(&signed_in.patient_id).await {
        Ok(me) => me,
        Err(_) => return session::to_start(),
    };
    let agreements = match app.patient_agreements(&signed_in.patient_id).await {
        Ok(list) => list.agreements,
        Err(e) => {
            tracing::warn!(error = %e, "a patient's agreements could not be read");
            Vec::new()
        }
    };
    let page = Page::new(prefs, "/h5/home", HOME).with_csrf(signed_in.csrf_token);
    render(&Home { page, me, agreements })
}
