//! `/h5/credit`: the patient's seamless-payment settings (a default and per hospital, issue 14
//! scope 4), and their credit line: its statements (the bank's) and a limit-increase request.
//! Repayment stays on the home page beside the line's amounts.

use super::{session, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;
use wugan_hub::app::patient_credit::{CreditAccount, Statement, StatementStatus};
use wugan_hub::app::App;

#[derive(Template)]
#[template(path = "h5/credit.html")]
struct Credit {
    page: Page,
    default_enabled: bool,
    /// (agreement id, its line), for each active credit line whose statements the bank gave.
    lines: Vec<(String, CreditAccount)>,
}

impl Credit {
    fn yuan(&self, fen: &i64) -> String {
        format!("{} {}", self.page.yuan(*fen), self.page.t("yuan"))
    }

    fn status(&self, s: &Statement) -> &str {
        match s.status {
            StatementStatus::Open => self.page.t("p2_statement_open"),
            StatementStatus::Paid => self.page.t("p2_statement_paid"),
            StatementStatus::Overdue => self.page.t("p2_statement_overdue"),
        }
    }
}

pub async fn credit(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    let patient = signed_in.patient_id.as_str();
    let default_enabled = app.patient_seamless_choices(patient).await.map(|c| c.default_enabled).unwrap_or(true);
    let agreements = app.patient_agreements(patient).await.map(|list| list.agreements).unwrap_or_default();
    let mut lines = Vec::new();
    for a in agreements.iter().filter(|a| a.status == "active" && a.payment.method == "credit_line") {
        match app.patient_statements(patient, &a.id).await {
            Ok(account) => lines.push((a.id.clone(), account)),
            Err(e) => tracing::warn!(error = %e, "a credit line's statements could not be read"),
        }
    }
    let page = Page::new(prefs, "/h5/credit", HOME).with_csrf(signed_in.csrf_token);
    render(&Credit { page, default_enabled, lines })
}
