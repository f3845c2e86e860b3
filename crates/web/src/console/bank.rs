//! A bank's staff in the console (issue 18): their bank's patient agreements (no name, no ID
//! number) and the hospitals their bank has agreements with, read-only; the same as
//! `GET /api/v1/staff/bank/agreements` and `GET /api/v1/staff/bank/hospitals`.

use super::{sign_in_page, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use wugan_hub::app::hospital_banks::{HospitalBankQuery, HospitalBankView};
use wugan_hub::app::staff::{StaffRole, StaffSession};
use wugan_hub::app::App;
use wugan_hub::store::BankAgreementRow;

pub(super) const PATH: &str = "/console/bank";
/// Agreements listed at most.
const AGREEMENTS_SHOWN: i64 = 500;

#[derive(Template)]
#[template(path = "console/bank.html")]
struct BankPage {
    page: Page,
    staff: StaffSession,
    bank_code: String,
    /// The bank's name (its code if the hub has none).
    bank_name: String,
    agreements: Vec<BankAgreementRow>,
    /// Each hospital agreement with the hospital's name.
    hospitals: Vec<(HospitalBankView, String)>,
}

impl BankPage {
    /// A patient agreement's status in words (`AgreementStatus`).
    fn status_words(&self, a: &BankAgreementRow) -> &'static str {
        self.page.t(match a.status.as_str() {
            "active" => "bk_active",
            "suspended" => "bk_suspended",
            "revoked" => "bk_revoked",
            _ => "state_in_progress",
        })
    }

    /// A suspension's reason in words (the bank's code when it is one the page has no words for).
    fn reason_words<'a>(&self, reason: &'a str) -> &'a str {
        match reason {
            "credit_overdue" => self.page.t("bk_reason_overdue"),
            "credit_frozen" | "frozen" => self.page.t("bk_reason_frozen"),
            "patient_switched_off" | "switched_off" => self.page.t("bk_reason_switched_off"),
            other => other,
        }
    }

    fn time(&self, stored: &str) -> String {
        super::china_time(stored)
    }
}

/// The signed-in member of a bank's staff, if that is who this is.
pub(super) async fn bank_staff(app: &Arc<App>, headers: &HeaderMap) -> Option<StaffSession> {
    crate::staff::session(app, headers).await.filter(|s| s.role == StaffRole::Bank && s.bank_code.is_some())
}

pub(super) async fn page(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(staff) = bank_staff(&app, &headers).await else {
        return sign_in_page(prefs);
    };
    let bank_code = staff.bank_code.clone().unwrap_or_default();
    let agreements = app.store.agreements_of_bank(&bank_code, AGREEMENTS_SHOWN).await.unwrap_or_default();
    let query = HospitalBankQuery { hospital_code: None, bank_code: Some(bank_code.clone()) };
    let mut hospitals = Vec::new();
    for h in app.hospital_banks(query).await.unwrap_or_default() {
        let name = app.store.hospital_name(&h.hospital_code).await.ok().flatten().unwrap_or_else(|| h.hospital_code.clone());
        hospitals.push((h, name));
    }
    let page = Page::new(prefs, PATH, HOME).with_csrf(staff.csrf_token.clone());
    let bank_name = app.banks.name(&bank_code);
    render(&BankPage { page, staff, bank_code, bank_name, agreements, hospitals }).into_response()
}
