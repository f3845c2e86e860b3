//! The doctor's and cashier's console under `/console/`, for hospitals without HIS integration:
//! today's visits and their seamless-payment state, registering a visit, fee entry from the
//! catalogue, the estimate, **the settle button** (the doctor's click), cancel, and unpaid bills.
//! Pages read through the hub's `App`; every button is a `fetch` to the HIS API (`app.js`) with
//! the staff session, within the role's rights (a doctor settles, a cashier also cancels).

mod bank;
mod invoices;
mod statement;
mod stay_lines;
pub(crate) mod stays;
pub(crate) mod strings;
mod visit;

use crate::i18n::Lang;
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use wugan_hub::app::patient_labels::PatientLabel;
use wugan_hub::app::staff::{StaffRole, StaffSession};
use wugan_hub::app::visit_lists::VisitQuery;
use wugan_hub::app::{App, VisitView};
use wugan_hub::store::{WebhookDelivery, WebhookEndpoint};

pub const HOME: &str = "/console/";

/// The sandbox catalogue the fee form offers (a hospital's own catalogue in production).
const CATALOGUE_JSON: &str = include_str!("../../../policy/policies/catalogue-sandbox.json");

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/console", get(|| async { Redirect::permanent(HOME) }))
        .route("/console/", get(home))
        .route("/console/visits/{id}", get(visit::page))
        .route("/console/stays", get(stays::list))
        .route("/console/stays/{id}", get(stays::stay))
        .route("/console/statement", get(statement::page))
        .route("/console/statement.csv", get(statement::csv))
        .route("/console/invoices", get(invoices::page))
        .route(bank::PATH, get(bank::page))
}

/// One catalogue item as the fee form lists it.
pub struct Item {
    pub code: String,
    /// In the page's language (`item_name`).
    pub name: String,
    /// The price cap in yuan, the form's default price; empty when the item has none.
    pub price: String,
}

/// The catalogue in the page's language.
fn catalogue(lang: Lang) -> Vec<Item> {
    let parsed: serde_json::Value = serde_json::from_str(CATALOGUE_JSON).unwrap_or_default();
    let entries = parsed["entries"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .map(|e| Item {
            code: e["med_list_codg"].as_str().unwrap_or_default().to_string(),
            name: item_name(e["name"].as_str().unwrap_or_default(), lang),
            price: e["pric_uplmt_amt"].as_str().unwrap_or_default().to_string(),
        })
        .filter(|i| !i.code.is_empty())
        .collect()
}

/// A catalogue name ("普通门诊诊查费 (general outpatient consultation)") in one language: the
/// Chinese part, or the gloss in brackets in English (the Chinese when there is none).
fn item_name(name: &str, lang: Lang) -> String {
    let (zh, en) = match name.strip_suffix(')').and_then(|n| n.rsplit_once(" (")) {
        Some((zh, en)) => (zh.trim(), en.trim()),
        None => (name.trim(), name.trim()),
    };
    match lang {
        Lang::Zh => zh.to_string(),
        Lang::En => en.to_string(),
    }
}

/// The name of the catalogue item `code` in the page's language; `None` for a code not in it.
fn catalogue_name(code: &str, lang: Lang) -> Option<String> {
    catalogue(lang).into_iter().find(|i| i.code == code).map(|i| i.name)
}

/// The staff member's role in words.
fn role_key(role: StaffRole) -> &'static str {
    match role {
        StaffRole::Operator => "staff_role_operator",
        StaffRole::Doctor => "staff_role_doctor",
        StaffRole::Cashier => "staff_role_cashier",
        StaffRole::Finance => "staff_role_finance",
        StaffRole::Bank => "staff_role_bank",
    }
}

/// The whoami line's role in words (`_whoami.html`, the operator console's too).
pub(crate) fn role_words(page: &Page, staff: &StaffSession) -> String {
    page.t(role_key(staff.role)).to_string()
}

/// The hospital's name as the hub has it on record, else its code.
async fn hospital_name(app: &App, staff: &StaffSession) -> String {
    let code = staff.hospital_code.clone().unwrap_or_default();
    app.store.hospital_name(&code).await.ok().flatten().unwrap_or(code)
}

/// The patient as a staff page names them ("张* · 男 · 36岁"): masked name, sex and age when
/// known; "—" when the hub holds none of them.
pub(crate) fn patient_words(page: &Page, p: &PatientLabel) -> String {
    let mut parts = Vec::new();
    if !p.name.is_empty() {
        parts.push(p.name.clone());
    }
    match p.sex {
        Some("1") => parts.push(page.t("sex_male").to_string()),
        Some("2") => parts.push(page.t("sex_female").to_string()),
        _ => {}
    }
    if let Some(age) = p.age {
        parts.push(page.t("age_years").replace("{n}", &age.to_string()));
    }
    if parts.is_empty() {
        page.t("patient_unknown").to_string()
    } else {
        parts.join(" · ")
    }
}

use crate::page::china_time;

/// `template` with `{patient}` and each `{name}` of `values` filled in (a confirmation's words).
fn said(template: &str, patient: &str, values: &[(&str, String)]) -> String {
    let mut text = template.replace("{patient}", patient);
    for (name, value) in values {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

#[derive(Template)]
#[template(path = "console/signin.html")]
pub struct SignIn {
    pub page: Page,
    pub title_key: &'static str,
    pub next: &'static str,
}

#[derive(Template)]
#[template(path = "console/home.html")]
struct Home {
    page: Page,
    staff: StaffSession,
    visits: Vec<VisitView>,
    unpaid: Vec<VisitView>,
    /// The hospital's webhook endpoints and the newest deliveries, replayable by a cashier.
    endpoints: Vec<WebhookEndpoint>,
    deliveries: Vec<WebhookDelivery>,
    may_manage_webhooks: bool,
    /// Finance and cashiers read the day's statement (`console/statement.rs`).
    may_read_statement: bool,
    /// The hospital's invoices (`console/invoices.rs`).
    may_read_invoices: bool,
    /// Registering a visit (a doctor's or cashier's; finance only reads).
    may_register: bool,
    hospital: String,
}

fn state_key(state: &str) -> &'static str {
    match state {
        "settled" => "state_settled",
        "settled_unpaid" => "state_settled_unpaid",
        "settled_collected" => "state_settled_collected",
        "cancelled" => "state_cancelled",
        "refunded" => "state_refunded",
        "failed" => "state_failed",
        "registered" => "state_registered",
        "registering" => "state_registering",
        "settling" => "state_settling",
        _ => "state_in_progress",
    }
}

impl Home {
    fn state_of(&self, v: &VisitView) -> &'static str {
        self.page.t(state_key(visit_state(v)))
    }

    /// The fees in force after the visit's refunds, and what they gave back (`visit_totals`).
    fn standing_fen(&self, v: &VisitView) -> i64 {
        crate::visit_totals::standing_fen(v)
    }

    fn refund_mark(&self, v: &VisitView) -> Option<String> {
        crate::visit_totals::refund_mark(&self.page, v)
    }

    /// The console's title for this role: finance reads, it does not see patients.
    fn title_key(&self) -> &'static str {
        if self.staff.role == StaffRole::Finance {
            "console_title_finance"
        } else {
            "console_title"
        }
    }
}

/// What a visit's row reads: fully refunded or its registration cancelled (退号) first, else its
/// latest settlement's state, else the visit's. (A cancelled visit keeps the settlement its refund
/// reversed, which still reads `settled`.)
fn visit_state(v: &VisitView) -> &'static str {
    let settlement = v.settlement.as_ref().map(|s| settlement_state(s.state, s.unpaid_fen, s.collected_fen));
    state_of_row(v.status, settlement)
}

fn state_of_row(status: &'static str, settlement: Option<&'static str>) -> &'static str {
    match status {
        "refunded" => "refunded",
        "cancelled" => "cancelled",
        status => settlement.unwrap_or(status),
    }
}

/// A settlement's state as a row reads it: a bill the bank did not pay at the click and
/// collected since (补缴) is `settled_collected`, no longer 待缴.
fn settlement_state(state: &str, unpaid_fen: i64, collected_fen: i64) -> &str {
    if state == "settled_unpaid" && unpaid_fen == 0 && collected_fen > 0 {
        "settled_collected"
    } else {
        state
    }
}

/// The console's staff member: a hospital's; anyone else sees the sign-in form.
pub(super) async fn hospital_staff(app: &Arc<App>, headers: &HeaderMap) -> Option<StaffSession> {
    crate::staff::session(app, headers).await.filter(|s| s.role.is_hospital_staff())
}

pub(super) fn sign_in_page(prefs: Prefs) -> Response {
    render(&SignIn { page: Page::new(prefs, HOME, HOME), title_key: "console_title", next: HOME }).into_response()
}

async fn home(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(staff) = hospital_staff(&app, &headers).await else {
        // A bank's staff sign in here too, and read their bank's page.
        if bank::bank_staff(&app, &headers).await.is_some() {
            return Redirect::to(bank::PATH).into_response();
        }
        return sign_in_page(prefs);
    };
    let hospital = staff.hospital_code.clone().unwrap_or_default();
    let query = VisitQuery { day: Some(crate::staff::today(&app)), limit: Some(200), ..VisitQuery::default() };
    let visits = app.visit_list(Some(&hospital), query).await.map(|l| l.visits).unwrap_or_default();
    let unpaid = visits.iter().filter(|v| v.settlement.as_ref().is_some_and(|s| s.unpaid_fen > 0)).cloned().collect();
    let endpoints = app.webhook_endpoints(Some(&hospital)).await.unwrap_or_default();
    let mut deliveries = app.webhook_deliveries(Some(&hospital)).await.unwrap_or_default();
    deliveries.truncate(20);
    let may_manage_webhooks = staff.role.may(&axum::http::Method::POST, "/api/v1/webhook-endpoints");
    let may_read_statement = staff.role.may(&axum::http::Method::GET, "/api/v1/hospitals/{code}/statements/{date}");
    let may_read_invoices = staff.role.may(&axum::http::Method::GET, "/api/v1/invoices");
    let may_register = staff.role.may(&axum::http::Method::POST, "/api/v1/visits");
    let hospital = hospital_name(&app, &staff).await;
    let page = Page::new(prefs, HOME, HOME).with_csrf(staff.csrf_token.clone());
    let home = Home {
        page,
        staff,
        visits,
        unpaid,
        endpoints,
        deliveries,
        may_manage_webhooks,
        may_read_statement,
        may_read_invoices,
        may_register,
        hospital,
    };
    render(&home).into_response()
}

#[cfg(test)]
mod row_tests {
    #[test]
    fn a_visit_refunded_in_full_and_its_registration_cancelled_reads_cancelled_not_settled() {
        assert_eq!(super::state_of_row("cancelled", Some("settled")), "cancelled");
        assert_eq!(super::state_of_row("refunded", Some("settled")), "refunded");
        assert_eq!(super::state_of_row("settled", Some("settled_unpaid")), "settled_unpaid");
        assert_eq!(super::state_of_row("registered", None), "registered");
    }

    #[test]
    fn a_bill_collected_later_reads_collected_and_one_still_owed_reads_unpaid() {
        assert_eq!(super::settlement_state("settled_unpaid", 0, 300_000), "settled_collected");
        assert_eq!(super::settlement_state("settled_unpaid", 300_000, 0), "settled_unpaid");
        assert_eq!(super::settlement_state("settled", 0, 0), "settled");
    }

    #[test]
    fn catalogue_names_are_in_the_pages_language_only() {
        use crate::i18n::Lang;
        let name = "普通门诊诊查费 (general outpatient consultation)";
        assert_eq!(super::item_name(name, Lang::Zh), "普通门诊诊查费");
        assert_eq!(super::item_name(name, Lang::En), "general outpatient consultation");
        assert_eq!(super::item_name("阿莫西林胶囊 0.25g×24 (amoxicillin capsules)", Lang::Zh), "阿莫西林胶囊 0.25g×24");
        assert_eq!(super::item_name("无英文名", Lang::En), "无英文名");
        for lang in [Lang::Zh, Lang::En] {
            assert!(super::catalogue(lang).iter().all(|i| !i.name.contains(" (")), "{lang:?}");
        }
    }
}
