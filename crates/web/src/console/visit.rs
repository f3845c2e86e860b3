//! One visit in the console: who it is for (masked), its fee lines by item name, the estimate,
//! **the settle button** (the doctor's click), the line-level refund (退费) with the refunds made
//! and the figures in force after them, and the cancellation. Every action that moves money asks
//! first, naming the patient and the amount (`data-confirm`, `app.js`).

use super::{
    catalogue, catalogue_name, china_time, hospital_name, hospital_staff, patient_words, said, sign_in_page, state_key, visit_state, Item,
    HOME,
};
use crate::i18n::Lang;
use crate::page::{self, render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use wugan_hub::app::staff::StaffSession;
use wugan_hub::app::{App, RefundView, SplitView, VisitView};
use wugan_hub::model::FeeLineRow;

#[derive(Template)]
#[template(path = "console/visit.html")]
pub(super) struct Visit {
    page: Page,
    staff: StaffSession,
    /// The staff member's hospital by name (`_staff.html`).
    hospital: String,
    visit: VisitView,
    /// The patient in words ("张* · 男 · 36岁"), never the whole name.
    patient: String,
    catalogue: Vec<Item>,
    /// A fresh fee line number for this form (the HIS's feedetl_sn).
    line_no: String,
    may_settle: bool,
    may_cancel: bool,
    may_refund: bool,
    /// The visit's uploaded fee lines, by item name.
    lines: Vec<FeeLine>,
    /// The finished refunds, oldest first.
    refunds: Vec<RefundDone>,
    /// The figures in force after the latest refund (the lines kept, settled again).
    in_force: Option<SplitView>,
    /// The refund just made (`?refund=` after the refund form), said at the top of its card.
    just_refunded: Option<RefundDone>,
}

/// A fee line as the page lists it.
pub(super) struct FeeLine {
    feedetl_sn: String,
    name: String,
    pric: String,
    cnt: String,
    amount_fen: i64,
    /// Returned by a finished refund.
    refunded: bool,
    /// The cashier may tick it for a refund now.
    refundable: bool,
}

/// A finished refund as the page lists it.
#[derive(Clone)]
pub(super) struct RefundDone {
    id: String,
    /// China date and time of the request.
    at: String,
    /// The lines returned, by item name.
    items: String,
    /// Their fees.
    returned_fen: i64,
    /// What the bank gave back to the patient's source.
    bank_fen: i64,
}

#[derive(serde::Deserialize)]
pub(super) struct Shown {
    refund: Option<String>,
}

impl Visit {
    fn state(&self) -> &'static str {
        self.page.t(state_key(visit_state(&self.visit)))
    }

    /// Fees and the estimate are for a visit still open: registered, with no settlement standing
    /// or under way (a failed or cancelled attempt leaves it open for corrected fees).
    fn takes_fees(&self) -> bool {
        self.visit.status == "registered" && self.visit.settlement.as_ref().is_none_or(|s| matches!(s.state, "failed" | "cancelled"))
    }

    /// The click is offered until the visit is settled (a click on an attempt under way resumes it).
    fn takes_click(&self) -> bool {
        self.visit.status == "registered"
    }

    /// A standing settlement may be cancelled (and a cancellation under way resumed).
    fn cancellable(&self) -> bool {
        matches!(self.visit.settlement.as_ref().map(|s| s.state), Some("settled" | "settled_unpaid" | "cancelling"))
    }

    /// The card of actions has something in it for this staff member (a doctor has no
    /// cancellation: no empty card after the click).
    fn has_actions(&self) -> bool {
        self.takes_fees() || (self.may_settle && self.takes_click()) || (self.may_cancel && self.cancellable())
    }

    fn refundable(&self) -> bool {
        self.may_refund && self.lines.iter().any(|l| l.refundable)
    }

    fn settle_confirm(&self) -> String {
        said(self.page.t("settle_confirm"), &self.patient, &[("amount", self.page.yuan(self.visit.medfee_fen))])
    }

    fn cancel_confirm(&self) -> String {
        let (medfee, bank) = self.visit.settlement.as_ref().map(|s| (s.medfee_fen, s.bank_fen)).unwrap_or_default();
        said(self.page.t("cancel_confirm"), &self.patient, &[("amount", self.page.yuan(medfee)), ("bank", self.page.yuan(bank))])
    }

    /// The refund's question: the patient, and the lines ticked with their fees, which `app.js`
    /// fills in when asking (`{checked}`, `{checked|yuan}`: each checkbox's data-label and data-fen).
    fn refund_confirm(&self) -> String {
        said(self.page.t("refund_confirm"), &self.patient, &[])
    }

    /// The refund just made, in words: the lines' fees and what the bank gave back.
    fn refund_done(&self, r: &RefundDone) -> String {
        said(self.page.t("refund_done"), &self.patient, &[("amount", self.page.yuan(r.returned_fen)), ("bank", self.page.yuan(r.bank_fen))])
    }

    /// A line's label for the refund's checkbox: item, count and amount.
    fn line_label(&self, l: &FeeLine) -> String {
        format!("{} × {} · {}", l.name, l.cnt, self.page.yuan(l.amount_fen))
    }
}

/// A JSON field as the HIS sent it (a string, or a number), as text.
fn text_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A decimal as the hub stored it ("25.000000", "0.5000") with its trailing zeros dropped down
/// to `keep` decimals: a price reads "25.00", a count "2" or "0.5". Anything else as it is.
fn decimal(text: &str, keep: usize) -> String {
    let Some((whole, fraction)) = text.split_once('.') else {
        return if keep > 0 && !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
            format!("{text}.{}", "0".repeat(keep))
        } else {
            text.to_string()
        };
    };
    if !fraction.chars().all(|c| c.is_ascii_digit()) {
        return text.to_string();
    }
    let trimmed = fraction.trim_end_matches('0');
    let fraction = if trimmed.len() < keep { &fraction[..keep.min(fraction.len())] } else { trimmed };
    if fraction.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{fraction}")
    }
}

/// A fee line's item as a page lists it, from the detail the HIS sent (2204's or 2301's).
pub(super) struct LineWords {
    /// The catalogue's name in the page's language; else the HIS's own name; else its code.
    pub name: String,
    /// The unit price, "25.00".
    pub pric: String,
    /// The count, "2" or "0.5".
    pub cnt: String,
}

pub(super) fn line_words(detail_json: &str, lang: Lang) -> LineWords {
    let detail: serde_json::Value = serde_json::from_str(detail_json).unwrap_or_default();
    let code = text_of(&detail["med_list_codg"]);
    let his_name = text_of(&detail["medins_list_name"]);
    let name = catalogue_name(&code, lang).unwrap_or(if his_name.is_empty() { code } else { his_name });
    LineWords { name, pric: decimal(&text_of(&detail["pric"]), 2), cnt: decimal(&text_of(&detail["cnt"]), 0) }
}

/// The uploaded lines by item name (`line_words`), with which were returned and which may be
/// ticked now.
fn fee_lines(rows: &[FeeLineRow], refunds: &[RefundView], lang: Lang, refunds_open: bool) -> Vec<FeeLine> {
    let returned: Vec<&String> = refunds.iter().filter(|r| r.state == "refunded").flat_map(|r| &r.lines).collect();
    rows.iter()
        .filter(|l| l.uploaded)
        .map(|l| {
            let LineWords { name, pric, cnt } = line_words(&l.detail_json, lang);
            let refunded = returned.contains(&&l.feedetl_sn);
            FeeLine {
                feedetl_sn: l.feedetl_sn.clone(),
                name,
                pric,
                cnt,
                amount_fen: l.amount.0,
                refunded,
                refundable: refunds_open && !refunded,
            }
        })
        .collect()
}

/// The finished refunds, by item name, with the fees they returned.
fn refunds_done(refunds: &[RefundView], lines: &[FeeLine]) -> Vec<RefundDone> {
    refunds
        .iter()
        .filter(|r| r.state == "refunded")
        .map(|r| {
            let returned: Vec<&FeeLine> = lines.iter().filter(|l| r.lines.contains(&l.feedetl_sn)).collect();
            RefundDone {
                id: r.id.clone(),
                at: china_time(&r.created_at),
                items: returned.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join("、"),
                returned_fen: returned.iter().map(|l| l.amount_fen).sum(),
                bank_fen: r.bank_refund_fen.unwrap_or(0),
            }
        })
        .collect()
}

pub(super) async fn page(
    State(app): State<Arc<App>>,
    prefs: Prefs,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    let path = format!("/console/visits/{id}");
    let Some(staff) = hospital_staff(&app, &headers).await else {
        return sign_in_page(prefs);
    };
    let page = Page::new(prefs, path, HOME).with_csrf(staff.csrf_token.clone());
    let hospital = staff.hospital_code.clone().unwrap_or_default();
    // Another hospital's visit is answered like a missing one, as the API does.
    let Ok(visit) = app.visit(&hospital, &id).await else {
        return page::not_found(page);
    };
    let may = |path| staff.role.may(&Method::POST, path);
    let (may_settle, may_cancel, may_refund) =
        (may("/api/v1/visits/{id}/settlement"), may("/api/v1/visits/{id}/settlement/cancel"), may("/api/v1/visits/{id}/refunds"));
    let rows = app.store.fee_lines(&visit.id).await.unwrap_or_default();
    let refunds = app.refunds_of(&hospital, &visit.id).await.unwrap_or_default();
    // A refund is offered on a settlement that stands, none under way.
    let settled = matches!(visit.settlement.as_ref().map(|s| s.state), Some("settled" | "settled_unpaid"));
    let refunds_open = settled && refunds.iter().all(|r| matches!(r.state, "refunded" | "refused"));
    let lines = fee_lines(&rows, &refunds, page.lang, refunds_open);
    let done = refunds_done(&refunds, &lines);
    let in_force = refunds.iter().rev().filter(|r| r.state == "refunded").find_map(|r| r.resettled);
    let just_refunded = shown.refund.and_then(|id| done.iter().find(|r| r.id == id).cloned());
    let label = app.visit_patient(&hospital, &visit.id).await.unwrap_or_default();
    let patient = patient_words(&page, &label);
    let hospital_words = hospital_name(&app, &staff).await;
    let line_no = format!("C{}", app.now().chars().filter(char::is_ascii_digit).skip(2).take(16).collect::<String>());
    let catalogue = catalogue(page.lang);
    let visit_page = Visit {
        page,
        staff,
        hospital: hospital_words,
        visit,
        patient,
        catalogue,
        line_no,
        may_settle,
        may_cancel,
        may_refund,
        lines,
        refunds: done,
        in_force,
        just_refunded,
    };
    render(&visit_page).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn prices_keep_two_decimals_and_counts_none_they_do_not_need() {
        for (text, keep, shown) in [
            ("25.000000", 2, "25.00"),
            ("12.350000", 2, "12.35"),
            ("2.0000", 0, "2"),
            ("0.5000", 0, "0.5"),
            ("3", 2, "3.00"),
            ("3", 0, "3"),
            ("x.1", 0, "x.1"),
        ] {
            assert_eq!(super::decimal(text, keep), shown, "{text}");
        }
    }
}
