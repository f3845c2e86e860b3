//! `/h5/visits`: the patient's visits: before the doctor's click an estimate on request (2206),
//! after it the split (fund, personal account, the credit line), and "nothing to pay at a window";
//! and beside them the inpatient stays (住院, `stays.rs`): in the ward with the deposit held, settled, owing.

use super::{session, HospitalNames, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;
use wugan_hub::app::invoices::InvoiceView;
use wugan_hub::app::patient_stays::PatientStayView;
use wugan_hub::app::{App, VisitView};

#[derive(Template)]
#[template(path = "h5/visits.html")]
struct Visits {
    page: Page,
    visits: Vec<VisitView>,
    /// The patient's stays and those on their line, newest first.
    stays: Vec<PatientStayView>,
    /// (settlement id, its blue invoice's id).
    invoices: Vec<(String, String)>,
    /// The stays' invoices and deposit receipts (押金收据), newest first.
    stay_documents: Vec<InvoiceView>,
    hospitals: HospitalNames,
    /// The older page's link (`?after=`), when there is one.
    older: Option<String>,
}

/// `/h5/visits?after=`: an older page of visits.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct VisitsPage {
    after: Option<String>,
}

/// A settled visit's figures as they stand: the click's, or after a refund its re-settlement's
/// (review r26 patient F2: the page showed the click's total and the whole share as owed after
/// lines were refunded and the line paid back).
pub struct Shown {
    medfee: i64,
    fund: i64,
    personal_account: i64,
    bank: i64,
    at_hospital: i64,
    unpaid: i64,
    collected: i64,
}

impl Visits {
    /// What the visit's settlement stands at now (`None`: not settled, or every line refunded).
    fn shown(&self, v: &VisitView) -> Option<Shown> {
        let s = v.settlement.as_ref().filter(|s| matches!(s.state, "settled" | "settled_unpaid"))?;
        Some(match &s.in_force {
            Some(f) if f.refund_id.is_some() => Shown {
                medfee: f.medfee_fen,
                fund: f.fund_fen,
                personal_account: f.personal_account_fen,
                bank: f.bank_fen,
                at_hospital: f.cash_at_hospital_fen,
                unpaid: f.unpaid_fen,
                collected: f.collected_fen,
            },
            _ => Shown {
                medfee: s.medfee_fen,
                fund: s.fund_fen,
                personal_account: s.personal_account_fen,
                bank: s.bank_fen,
                at_hospital: s.cash_at_hospital_fen,
                unpaid: s.unpaid_fen,
                collected: s.collected_fen,
            },
        })
    }

    /// The visit's state in words.
    fn status(&self, v: &VisitView) -> &str {
        match v.settlement.as_ref().map(|s| s.state) {
            _ if v.status == "refunded" => self.page.t("visit_refunded"),
            Some("settled") if v.refunded_fen > 0 => self.page.t("visit_part_refunded"),
            Some("settled") => self.page.t("visit_settled"),
            Some("settled_unpaid") => self.page.t("visit_unpaid"),
            Some("cancelled") => self.page.t("visit_cancelled"),
            Some("failed") => self.page.t("visit_failed"),
            Some(_) => self.page.t("visit_settling"),
            None => self.page.t("visit_open"),
        }
    }

    /// The estimate is offered while the visit is open and has fees.
    fn can_estimate(&self, v: &VisitView) -> bool {
        v.settlement.is_none() && v.fee_lines > 0
    }

    /// Seamless payment may be switched for this visit: registered on an agreement, not yet
    /// clicked (or its attempt failed or was cancelled).
    fn can_switch(&self, v: &VisitView) -> bool {
        v.status == "registered"
            && v.seamless.agreement_id.is_some()
            && v.settlement.as_ref().is_none_or(|s| matches!(s.state, "failed" | "cancelled"))
    }

    fn switched_off(&self, v: &VisitView) -> bool {
        v.seamless.reason.as_deref() == Some("switched_off")
    }

    /// The id of the visit's invoice, once issued.
    fn invoice_of(&self, v: &VisitView) -> Option<&str> {
        let settlement = v.settlement.as_ref()?;
        self.invoices.iter().find(|(s, _)| *s == settlement.id).map(|(_, i)| i.as_str())
    }

    /// A stay document's kind in words: the stay's invoice, its red-flush, or a deposit receipt
    /// with how its hold ended.
    fn document_kind(&self, d: &InvoiceView) -> &str {
        self.page.t(match (d.kind.as_str(), d.deposit_state.as_deref()) {
            ("red", _) => "deposit_h5_red",
            ("deposit", Some("recovered")) => "deposit_h5_recovered",
            ("deposit", Some("released")) => "deposit_h5_released",
            ("deposit", _) => "deposit_h5_held",
            _ => "deposit_h5_stay_invoice",
        })
    }

    /// Where the stay is, in words.
    fn stay_status(&self, s: &PatientStayView) -> &str {
        self.page.t(match s.phase {
            "admitting" => "stay_h5_admitting",
            "in_ward" => "stay_h5_in_ward",
            "discharging" => "stay_h5_discharging",
            "settled" => "stay_h5_settled",
            "owing" => "stay_h5_owing",
            "cancelled" => "stay_h5_cancelled",
            "refused" => "stay_h5_refused",
            _ => "stay_h5_in_progress",
        })
    }

    /// A family member's stay on the reader's line, said with their masked name.
    fn stay_for_family(&self, s: &PatientStayView) -> String {
        self.page.t("stay_h5_for_family").replace("{name}", &s.patient_name)
    }

    fn stay_held_note(&self, s: &PatientStayView) -> String {
        self.page.t("stay_h5_held_note").replace("{held}", &self.page.yuan(s.held_fen))
    }

    fn stay_owed_note(&self, s: &PatientStayView) -> String {
        self.page.t("stay_h5_owed_note").replace("{owed}", &self.page.yuan(s.owed_fen))
    }

    fn interim_title(&self, n: u32) -> String {
        self.page.t("stay_h5_interim_n").replace("{n}", &n.to_string())
    }

    fn interim_cancelled_title(&self, n: u32) -> String {
        self.page.t("stay_h5_interim_cancelled_n").replace("{n}", &n.to_string())
    }

    /// The day the stay was admitted.
    fn stay_day(&self, s: &PatientStayView) -> String {
        crate::page::china_day(&s.admitted_at)
    }

    /// The date and time of the visit, in China time (to the minute: several visits of one day
    /// read apart).
    fn day(&self, v: &VisitView) -> String {
        let t = crate::page::china_time(&v.created_at);
        t.get(..16).unwrap_or(&t).to_string()
    }
}

pub async fn visits(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap, Query(at): Query<VisitsPage>) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    let (visits, older) = match app.patient_visits(&signed_in.patient_id, at.after.as_deref()).await {
        Ok(list) => (list.visits, list.next_after.map(|after| format!("/h5/visits?after={}", urlencoding(&after)))),
        Err(e) => {
            tracing::warn!(error = %e, "a patient's visits could not be read");
            (Vec::new(), None)
        }
    };
    let mut invoices = Vec::new();
    for (visit, settlement) in visits.iter().filter_map(|v| Some((v, v.settlement.as_ref()?))) {
        if let Ok(Some(invoice)) = app.invoice_in_force_of_settlement(&settlement.id, &visit.id).await {
            invoices.push((settlement.id.clone(), invoice));
        }
    }
    let stay_documents = app.patient_stay_documents(&signed_in.patient_id).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "a patient's stay invoices could not be read");
        Vec::new()
    });
    // The stays on the first page only (an older page is older visits).
    let stays = match at.after {
        Some(_) => Vec::new(),
        None => app.patient_stays(&signed_in.patient_id).await.map(|s| s.stays).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "a patient's stays could not be read");
            Vec::new()
        }),
    };
    let hospitals = HospitalNames::read(&app).await;
    let page = Page::new(prefs, "/h5/visits", HOME).with_csrf(signed_in.csrf_token);
    render(&Visits { page, visits, stays, invoices, stay_documents, hospitals, older })
}

/// A cursor in a query string: its `:`, `+` and `~` kept readable, the rest percent-encoded.
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
#[path = "visits_stays_tests.rs"]
pub(crate) mod stays_tests;
