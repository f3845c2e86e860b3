//! The ward's console (住院): the hospital's stays, admission with the deposit held on the
//! patient's line (住院押金), a day's fees, the interim settlement (中途结算) of a long stay with its
//! record and its cancellation (中途结算撤销), the fee lines with the withdrawal of those no
//! settlement took (2302), and the bedside discharge (病区结算) at the doctor's or nurse's click;
//! cancelling a discharge, its settlement or the admission. Every button is the HIS API's
//! `/api/v1/stays…` through `app.js`, within the staff member's role.

use super::stay_lines::{stay_lines, StayLine};
use super::{catalogue, hospital_name, hospital_staff, patient_words, said, sign_in_page, Item, HOME};
use crate::page::{self, render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use wugan_hub::app::staff::StaffSession;
use wugan_hub::app::{App, StayView};

pub const LIST: &str = "/console/stays";

/// The stays a list shows (the newest; a ward's open stays fit).
const LISTED: i64 = 200;

#[derive(Template)]
#[template(path = "console/stays.html")]
struct Stays {
    page: Page,
    staff: StaffSession,
    hospital: String,
    /// Each stay with its patient in words (masked name, sex, age).
    stays: Vec<(StayView, String)>,
    may_admit: bool,
}

#[derive(Template)]
#[template(path = "console/stay.html")]
struct Stay {
    page: Page,
    staff: StaffSession,
    hospital: String,
    stay: StayView,
    /// The patient in words ("张* · 男 · 36岁"), never the whole name.
    patient: String,
    catalogue: Vec<Item>,
    line_no: String,
    may_upload: bool,
    may_discharge: bool,
    may_cancel: bool,
    may_interim: bool,
    may_deposit: bool,
    may_cancel_interim: bool,
    may_withdraw: bool,
    /// The uploaded fee lines by item name, with the interim settlement that took each.
    lines: Vec<StayLine>,
}

/// The words for a stay's state (`StayView::state`).
pub(crate) fn state_key(state: &str) -> &'static str {
    match state {
        "admitting" | "admitted" => "ward_state_admitting",
        "in_ward" => "ward_state_in_ward",
        "raising_deposit" => "ward_state_raising",
        "deposit_short" => "ward_state_deposit_short",
        "discharging" | "discharged" | "pre_settled" | "insurance_settled" | "releasing" => "ward_state_discharging",
        "settlement_refused" => "ward_state_refused",
        "interim_settling" => "ward_state_interim",
        "cancelling_interim" => "ward_state_cancelling_interim",
        "withdrawing_fees" => "ward_state_withdrawing_fees",
        "undoing_discharge" => "ward_state_undoing_discharge",
        "cancelling_settlement" => "ward_state_cancelling_settlement",
        "settlement_cancelled" => "ward_state_settlement_cancelled",
        "cancelling_admission" => "ward_state_cancelling_admission",
        "settled" => "state_settled",
        "settled_unpaid" => "state_settled_unpaid",
        "settled_by_interims" => "ward_state_settled_by_interims",
        "cancelled" => "state_cancelled",
        "refused" => "ward_state_refused",
        _ => "state_in_progress",
    }
}

impl Stays {
    fn state_of(&self, s: &StayView) -> &'static str {
        self.page.t(state_key(s.state))
    }
}

impl Stay {
    fn state(&self) -> &'static str {
        self.page.t(state_key(self.stay.state))
    }

    /// The center's own words in a refusal the page names in its own (`ward_*_refused`).
    fn center_words<'a>(&self, refusal: &'a str) -> &'a str {
        StayView::center_words(refusal)
    }

    /// Still in the ward: fees may come and the bedside discharge may start.
    fn in_ward(&self) -> bool {
        matches!(self.stay.state, "in_ward" | "deposit_short" | "settlement_refused")
    }

    /// A day's fees are taken while the patient is in the ward (not once discharge began).
    fn takes_fees(&self) -> bool {
        matches!(self.stay.state, "in_ward" | "deposit_short")
    }

    /// 中途结算 is offered in the ward while some uploaded line is not settled by an earlier one.
    fn takes_interim(&self) -> bool {
        let settled: usize = self.stay.interim_settlements.iter().map(|i| i.lines.len()).sum();
        self.takes_fees() && self.stay.fee_lines > settled
    }

    /// 中途结算撤销 (2305, its bank share refunded) is offered in the ward on the latest interim
    /// settlement in force only: the center cancels newest first (`409 interim_not_latest`). A
    /// cancellation cut short (`cancelling_interim`) is offered again, and resumed.
    fn cancels_interim(&self, n: u32) -> bool {
        let open = matches!(self.stay.state, "in_ward" | "deposit_short" | "cancelling_interim");
        self.may_cancel_interim && open && self.stay.interim_settlements.last().is_some_and(|latest| latest.n == n)
    }

    /// 住院费用明细撤销 (2302) is offered in the ward while some line is not settled by an
    /// interim settlement in force (a settled one is refused: its settlement is cancelled first).
    fn withdraws_fees(&self) -> bool {
        self.may_withdraw && self.takes_fees() && self.lines.iter().any(StayLine::unsettled)
    }

    /// A line's label for the withdrawal's checkbox: item, count and amount.
    fn line_label(&self, l: &StayLine) -> String {
        format!("{} × {} · {}", l.name, l.cnt, self.page.yuan(l.amount_fen))
    }

    /// Which interim settlement in force took the line, in words.
    fn line_interim(&self, n: u32) -> String {
        self.page.t("ward_line_interim").replace("{n}", &n.to_string())
    }

    /// The cancellation's question: the patient, the interim settlement's number, its fees and
    /// what the bank gives back.
    fn cancel_interim_confirm(&self, n: u32) -> String {
        let Some(i) = self.stay.interim_settlements.iter().find(|i| i.n == n) else { return String::new() };
        let y = |fen: i64| self.page.yuan(fen);
        let values = [("n", n.to_string()), ("amount", y(i.medfee_fen)), ("bank", y(i.bank_fen))];
        said(self.page.t("ward_cancel_interim_confirm"), &self.patient, &values)
    }

    /// The withdrawal's question: the patient, and the lines ticked with their fees (`app.js`
    /// fills in `{checked}` and `{checked|yuan}` when asking).
    fn withdraw_confirm(&self) -> String {
        said(self.page.t("ward_withdraw_confirm"), &self.patient, &[])
    }

    /// 补交押金: a fresh hold for a stay in the ward that holds nothing (declined, or used up).
    fn takes_deposit(&self) -> bool {
        self.takes_fees() && self.stay.held_fen == 0
    }

    fn settled(&self) -> bool {
        matches!(self.stay.state, "settled" | "settled_unpaid")
    }

    /// 入院撤销 (2404) is offered in the ward until an interim settlement stands: the center
    /// refuses it then (the stay is discharged and settled instead).
    fn admission_cancellable(&self) -> bool {
        self.in_ward() && self.stay.interim_settlements.is_empty()
    }

    /// Some discharge or cancellation is offered: a stay that is over (cancelled, or settled by
    /// its interim settlements) shows no empty card of actions.
    fn any_action(&self) -> bool {
        let cancels = self.settled() || self.stay.state == "settlement_refused" || self.admission_cancellable();
        (self.in_ward() && self.may_discharge) || (self.may_cancel && cancels)
    }

    /// The deposit could not be held (declined at admission, or a raise the line could not
    /// cover): said in words, with what to do, never the bank's code.
    fn deposit_short_words(&self, code: &str) -> &'static str {
        match (code, self.stay.held_fen) {
            ("deposit_used_up", _) => self.page.t("ward_deposit_used_up"),
            (_, 0) => self.page.t("ward_deposit_not_held"),
            _ => self.page.t("ward_deposit_short"),
        }
    }

    fn confirm(&self, key: &str) -> String {
        let y = |fen: i64| self.page.yuan(fen);
        let medfee = self.stay.settlement.as_ref().map(|s| s.medfee_fen).unwrap_or(self.stay.charges_fen);
        said(
            self.page.t(key),
            &self.patient,
            &[("charges", y(self.stay.charges_fen)), ("held", y(self.stay.held_fen)), ("amount", y(medfee))],
        )
    }
}

pub(super) async fn list(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(staff) = hospital_staff(&app, &headers).await else {
        return sign_in_page(prefs);
    };
    let hospital = staff.hospital_code.clone().unwrap_or_default();
    let listed = app.stay_list(&hospital, false, LISTED).await.unwrap_or_default();
    let may_admit = staff.role.may(&Method::POST, "/api/v1/stays");
    let page = Page::new(prefs, LIST, HOME).with_csrf(staff.csrf_token.clone());
    let mut stays = Vec::with_capacity(listed.len());
    for s in listed {
        let label = app.stay_patient(&hospital, &s.id).await.unwrap_or_default();
        let words = patient_words(&page, &label);
        stays.push((s, words));
    }
    let hospital = hospital_name(&app, &staff).await;
    render(&Stays { page, staff, hospital, stays, may_admit }).into_response()
}

pub(super) async fn stay(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(staff) = hospital_staff(&app, &headers).await else {
        return sign_in_page(prefs);
    };
    let page = Page::new(prefs, format!("{LIST}/{id}"), HOME).with_csrf(staff.csrf_token.clone());
    // Another hospital's stay is answered like a missing one, as the API does.
    let Ok(stay) = app.stay(staff.hospital_code.as_deref().unwrap_or_default(), &id).await else {
        return page::not_found(page);
    };
    let may = |path| staff.role.may(&Method::POST, path);
    let (may_upload, may_discharge, may_cancel) =
        (may("/api/v1/stays/{id}/fees"), may("/api/v1/stays/{id}/discharge"), may("/api/v1/stays/{id}/cancel"));
    let (may_interim, may_deposit) = (may("/api/v1/stays/{id}/interim_settlement"), may("/api/v1/stays/{id}/deposit"));
    let may_cancel_interim = may("/api/v1/stays/{id}/interim_settlements/{n}/cancel");
    let may_withdraw = may("/api/v1/stays/{id}/fees/withdraw");
    let rows = app.store.stay_fee_lines(&stay.id).await.unwrap_or_default();
    let lines = stay_lines(&rows, &stay, page.lang);
    let line_no = format!("W{}", app.now().chars().filter(char::is_ascii_digit).skip(2).take(16).collect::<String>());
    let catalogue = catalogue(page.lang);
    let label = app.stay_patient(staff.hospital_code.as_deref().unwrap_or_default(), &stay.id).await.unwrap_or_default();
    let patient = patient_words(&page, &label);
    let hospital = hospital_name(&app, &staff).await;
    let stay_page = Stay {
        page,
        staff,
        hospital,
        stay,
        patient,
        catalogue,
        line_no,
        may_upload,
        may_discharge,
        may_cancel,
        may_interim,
        may_deposit,
        may_cancel_interim,
        may_withdraw,
        lines,
    };
    render(&stay_page).into_response()
}

#[cfg(test)]
mod tests {
    /// Every state a stay reads (`StayView::state`) in its own words: none of the ward's undoings
    /// (an interim settlement's cancellation, a withdrawal of fee lines) reads as a bare "in progress".
    #[test]
    fn each_state_of_a_stay_has_its_own_words() {
        for (state, key) in [
            ("in_ward", "ward_state_in_ward"),
            ("deposit_short", "ward_state_deposit_short"),
            ("interim_settling", "ward_state_interim"),
            ("cancelling_interim", "ward_state_cancelling_interim"),
            ("withdrawing_fees", "ward_state_withdrawing_fees"),
            ("settled_by_interims", "ward_state_settled_by_interims"),
            ("settled", "state_settled"),
        ] {
            assert_eq!(super::state_key(state), key, "{state}");
        }
        for lang in [crate::i18n::Lang::Zh, crate::i18n::Lang::En] {
            let words = |key: &'static str| -> &'static str { crate::i18n::text(lang, key) };
            let in_progress = words("state_in_progress");
            // Every state `StayStage::state` names (crates/domain/src/inpatient.rs).
            let every = [
                "admitting",
                "admitted",
                "raising_deposit",
                "deposit_short",
                "in_ward",
                "interim_settling",
                "cancelling_interim",
                "withdrawing_fees",
                "discharging",
                "releasing",
                "settled_by_interims",
                "settlement_refused",
                "discharged",
                "pre_settled",
                "insurance_settled",
                "settled",
                "settled_unpaid",
                "cancelling_settlement",
                "settlement_cancelled",
                "undoing_discharge",
                "cancelling_admission",
                "cancelled",
                "refused",
            ];
            for state in every {
                let said = words(super::state_key(state));
                assert!(said != in_progress && !said.is_empty() && said != super::state_key(state), "{state} ({lang:?}): {said}");
            }
        }
    }
}
