//! `/h5/notifications`: the patient's inbox: each visit settled, with its split, in words.

use super::{session, HospitalNames, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;
use wugan_hub::app::App;
use wugan_hub::store::NotificationRow;

#[derive(Template)]
#[template(path = "h5/notifications.html")]
struct Inbox {
    page: Page,
    notifications: Vec<NotificationRow>,
    hospitals: HospitalNames,
}

impl Inbox {
    fn fen(&self, n: &NotificationRow, field: &str) -> String {
        format!("{} {}", self.page.yuan(n.facts[field].as_i64().unwrap_or(0)), self.page.t("yuan"))
    }

    fn text<'a>(&self, n: &'a NotificationRow, field: &str) -> &'a str {
        n.facts[field].as_str().unwrap_or("")
    }

    fn headline(&self, n: &NotificationRow) -> &str {
        if n.facts["member"].as_bool().unwrap_or(false) {
            self.page.t("note_member_settled")
        } else {
            self.page.t("note_settled")
        }
    }

    /// A further kind's headline (`patient_notices`), or None for a visit settled.
    fn p2_headline(&self, n: &NotificationRow) -> Option<&str> {
        let key = match n.kind.as_str() {
            "visit_settled" => return None,
            "estimate_ready" => "p2_note_estimate_ready",
            "bill_unpaid" => "p2_note_bill_unpaid",
            "line_overdue" => "p2_note_line_overdue",
            "line_reinstated" => "p2_note_line_reinstated",
            "statement_ready" => "p2_note_statement_ready",
            _ => "p2_note_payment_due",
        };
        Some(self.page.t(key))
    }

    /// The amount a further kind is about, if any.
    fn p2_amount(&self, n: &NotificationRow) -> Option<String> {
        ["unpaid_fen", "cash_fen", "outstanding_fen", "overdue_fen"]
            .into_iter()
            .find(|k| n.facts[*k].as_i64().is_some_and(|f| f > 0))
            .map(|k| self.fen(n, k))
    }

    fn unpaid(&self, n: &NotificationRow) -> bool {
        n.facts["unpaid_fen"].as_i64().unwrap_or(0) > 0
    }

    /// When, to the minute (UTC, as stored).
    fn day(&self, n: &NotificationRow) -> String {
        n.created_at.get(..16).unwrap_or(&n.created_at).replace('T', " ")
    }
}

pub async fn inbox(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    let notifications = match app.patient_notifications(&signed_in.patient_id).await {
        Ok(view) => view.notifications,
        Err(e) => {
            tracing::warn!(error = %e, "a patient's notifications could not be read");
            Vec::new()
        }
    };
    let hospitals = HospitalNames::read(&app).await;
    let page = Page::new(prefs, "/h5/notifications", HOME).with_csrf(signed_in.csrf_token);
    render(&Inbox { page, notifications, hospitals })
}
