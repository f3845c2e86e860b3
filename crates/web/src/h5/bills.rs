//! `/h5/bills`: the patient's unpaid bills (issue 17 scope 4) with a pay action each: the bill
//! is collected on the agreement at once, or the bank's refusal is said in words.

use super::{session, HospitalNames, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;
use wugan_hub::app::App;
use wugan_hub::store::UnpaidBill;

#[derive(Template)]
#[template(path = "h5/bills.html")]
struct Bills {
    page: Page,
    bills: Vec<UnpaidBill>,
    hospitals: HospitalNames,
}

impl Bills {
    fn yuan(&self, fen: &i64) -> String {
        format!("{} {}", self.page.yuan(*fen), self.page.t("yuan"))
    }

    fn paid(&self, b: &UnpaidBill) -> bool {
        b.collection.as_deref() == Some("collected")
    }

    /// The bill's collection in words, when there is something to say.
    fn state(&self, b: &UnpaidBill) -> Option<&str> {
        match b.collection.as_deref() {
            Some("collected") => Some(self.page.t("p2_bill_paid")),
            Some("declined") => Some(self.page.t("p2_bill_declined")),
            Some("charging" | "authorizing" | "capturing") => Some(self.page.t("p2_bill_in_progress")),
            _ => None,
        }
    }

    fn day<'a>(&self, b: &'a UnpaidBill) -> &'a str {
        b.settled_at.get(..10).unwrap_or(&b.settled_at)
    }
}

pub async fn bills(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    let bills = match app.patient_unpaid_bills(&signed_in.patient_id).await {
        Ok(view) => view.bills,
        Err(e) => {
            tracing::warn!(error = %e, "a patient's bills could not be read");
            Vec::new()
        }
    };
    let hospitals = HospitalNames::read(&app).await;
    let page = Page::new(prefs, "/h5/bills", HOME).with_csrf(signed_in.csrf_token);
    render(&Bills { page, bills, hospitals })
}
