//! The operator's console under `/ops/`, one page per section reachable from its nav: the day's
//! totals by hospital and bank with a chart (the same figures as each hospital's statement) and
//! partner health; reconciliation (对账: run a business day through the integrators' API, the
//! latest results per partner, the differences left with both sides' evidence); the exceptions
//! queue with retry; the visits of a day with filters, and one visit whole; hospitals and their
//! onboarding; banks and hospital–bank agreements; signed patients (masked); staff; the audit
//! log; HIS keys (issue, rotate, revoke). Actions go through the operator API with the operator's
//! session, as every page's do; those that cannot be undone ask first (`data-confirm`).

mod figures;
mod ledger_words;
mod stays;
pub(crate) mod strings;
mod words;

use crate::page::{not_found, render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use figures::{Bar, PartnerHealth, Totals};
use std::sync::Arc;
use wugan_hub::app::bank_onboarding::BankView;
use wugan_hub::app::hospitals::{ApiKeyView, HospitalView};
use wugan_hub::app::platform_settings::PlatformView;
use wugan_hub::app::staff::{StaffRole, StaffSession, StaffView};
use wugan_hub::app::visit_lists::VisitQuery;
use wugan_hub::app::{
    AgreementView, App, ExceptionView, FeeWithdrawalView, OperatorVisitView, ReconciliationExceptionView, RefundView, StuckStayView,
    VisitView,
};
use wugan_hub::store::{AuditEntry, ReconciliationRunRow};

pub use figures::partner_health;

pub const HOME: &str = "/ops/";

/// The queue-time model (the Shanghai seed's measure): a patient spends 3 hours in hospital for a
/// visit, 75% of it queueing, and the payment queues seamless payment removes are that share.
pub const MINUTES_SAVED_PER_SEAMLESS_VISIT: i64 = 3 * 60 * 75 / 100;

/// The console's sections: (path segment, nav label). The first is `/ops/` itself.
pub const SECTIONS: [(&str, &str); 11] = [
    ("", "ops_nav_totals"),
    ("reconciliation", "ops_nav_reconciliation"),
    ("exceptions", "exceptions"),
    ("visits", "ops_nav_visits"),
    ("stays", "ops_nav_stays"),
    ("hospitals", "hospitals"),
    ("banks", "ops_nav_banks"),
    ("patients", "ops_nav_patients"),
    ("staff", "ops_nav_staff"),
    ("audit", "ops_nav_audit"),
    ("keys", "ops_nav_keys"),
];

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/ops", get(|| async { Redirect::permanent(HOME) }))
        .route("/ops/", get(first_page))
        .route("/ops/visits/{id}", get(visit_page))
        .route("/ops/stays/{id}", get(stays::stay_page))
        .route("/ops/{section}", get(section_page))
}

/// The filters of the visits list, the day of the totals and of reconciliation, the patient search.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Filters {
    pub day: Option<String>,
    pub hospital: Option<String>,
    pub bank: Option<String>,
    /// A visit's status, or `settled_unpaid` (a settlement's state: the bills patients owe).
    pub status: Option<String>,
    /// Part of a signed patient's masked name or ID number (e.g. the last four digits).
    pub patient: Option<String>,
    /// The stays section: one insured person's stays at any hospital (人员编号).
    pub psn_no: Option<String>,
    /// The stays section: only those still under way.
    pub open: Option<String>,
}

/// An entry of the exceptions queue with what an operator needs to act on it.
pub struct ExceptionEntry {
    pub e: ExceptionView,
    pub visit: Option<VisitView>,
    /// Masked (张*).
    pub patient: Option<String>,
    pub bank_code: Option<String>,
}

/// A reconciliation difference, with the visit its key names when the hub knows it.
pub struct ReconEntry {
    pub x: ReconciliationExceptionView,
    pub visit_id: Option<String>,
}

#[derive(Template)]
#[template(path = "ops/home.html")]
struct Home {
    page: Page,
    staff: StaffSession,
    /// The section shown: a path segment of [`SECTIONS`].
    section: &'static str,
    day: String,
    filters: Filters,
    totals: Vec<Totals>,
    bank_totals: Vec<Totals>,
    bars: Vec<Bar>,
    chart_height: i64,
    minutes_saved: i64,
    partners: Vec<PartnerHealth>,
    /// Counts for the first page's pointers to the queues.
    waiting: usize,
    recon_open: usize,
    hospitals: Vec<HospitalView>,
    /// Each hospital's own insurance platform (which secrets are set, never the secrets).
    platforms: Vec<PlatformView>,
    banks: Vec<BankView>,
    hospital_banks: Vec<wugan_hub::app::hospital_banks::HospitalBankView>,
    keys: Vec<ApiKeyView>,
    visits: Vec<VisitView>,
    stays: Vec<wugan_hub::app::StayView>,
    exceptions: Vec<ExceptionEntry>,
    /// Parked stays, refunds and fee withdrawals (each retried through its own operator route).
    parked_stays: Vec<StuckStayView>,
    parked_refunds: Vec<RefundView>,
    parked_withdrawals: Vec<FeeWithdrawalView>,
    /// The hospital's visit number (门诊号) of each parked refund's and withdrawal's visit, by visit id.
    visit_numbers: std::collections::HashMap<String, String>,
    /// The latest reconciliation run of `day` per partner, and the differences waiting.
    runs: Vec<ReconciliationRunRow>,
    recon: Vec<ReconEntry>,
    patients: Vec<AgreementView>,
    staff_accounts: Vec<StaffView>,
    audit: Vec<AuditEntry>,
    /// The audit chain's check: entries walked, and whether none was altered.
    audit_entries: usize,
    audit_intact: bool,
}

impl Home {
    fn new(page: Page, staff: StaffSession, section: &'static str, day: String, filters: Filters) -> Home {
        Home {
            page,
            staff,
            section,
            day,
            filters,
            totals: Vec::new(),
            bank_totals: Vec::new(),
            bars: Vec::new(),
            chart_height: 28,
            minutes_saved: 0,
            partners: Vec::new(),
            waiting: 0,
            recon_open: 0,
            hospitals: Vec::new(),
            platforms: Vec::new(),
            banks: Vec::new(),
            hospital_banks: Vec::new(),
            keys: Vec::new(),
            visits: Vec::new(),
            stays: Vec::new(),
            exceptions: Vec::new(),
            parked_stays: Vec::new(),
            parked_refunds: Vec::new(),
            parked_withdrawals: Vec::new(),
            visit_numbers: Default::default(),
            runs: Vec::new(),
            recon: Vec::new(),
            patients: Vec::new(),
            staff_accounts: Vec::new(),
            audit: Vec::new(),
            audit_entries: 0,
            audit_intact: false,
        }
    }

    /// The chart's data for `ops-chart.js`: hospitals by name and, per source, their settled fen
    /// (safe inside a `<script>`: no `</` survives).
    fn chart_json(&self) -> String {
        let t = |key| self.page.t(key);
        let series =
            |key, of: fn(&Totals) -> i64| serde_json::json!({"name": t(key), "fen": self.totals.iter().map(of).collect::<Vec<_>>()});
        serde_json::json!({
            "title": t("chart_label"),
            "hospitals": self.totals.iter().map(|x| self.hospital_name(&x.code)).collect::<Vec<_>>(),
            "series": [
                series("fund", |x| x.fund_fen),
                series("personal_account", |x| x.account_fen),
                series("bank_share", |x| x.bank_fen),
                series("unpaid_amount", |x| x.unpaid_fen),
            ],
        })
        .to_string()
        .replace("</", "<\\/")
    }

    fn hours_saved(&self) -> String {
        format!("{}.{}", self.minutes_saved / 60, self.minutes_saved % 60 * 10 / 60)
    }

    fn is_selected(&self, field: &Option<String>, value: &str) -> bool {
        field.as_deref() == Some(value)
    }

    /// Whether `section` is the one shown.
    fn is(&self, section: &str) -> bool {
        self.section == section
    }

    fn sections(&self) -> &'static [(&'static str, &'static str)] {
        &SECTIONS
    }

    fn section_href(&self, section: &str) -> String {
        format!("{HOME}{section}")
    }
}

/// A section's own address, where signing in leads back to.
fn section_path(section: &str) -> &'static str {
    match section {
        "reconciliation" => "/ops/reconciliation",
        "exceptions" => "/ops/exceptions",
        "visits" => "/ops/visits",
        "stays" => "/ops/stays",
        "hospitals" => "/ops/hospitals",
        "banks" => "/ops/banks",
        "patients" => "/ops/patients",
        "staff" => "/ops/staff",
        "audit" => "/ops/audit",
        "keys" => "/ops/keys",
        _ => HOME,
    }
}

/// The operator signed in, or the sign-in page (leading back to `path`'s section).
async fn operator(app: &Arc<App>, prefs: Prefs, headers: &HeaderMap, path: &str) -> Result<(StaffSession, Page), Response> {
    let Some(staff) = crate::staff::session(app, headers).await.filter(|s| s.role == StaffRole::Operator) else {
        let next = section_path(path.trim_start_matches(HOME));
        let page = Page::new(prefs, next, HOME);
        return Err(render(&crate::console::SignIn { page, title_key: "ops_title", next }).into_response());
    };
    let page = Page::new(prefs, path.to_string(), HOME).with_csrf(staff.csrf_token.clone());
    Ok((staff, page))
}

/// `/ops/`: the day's totals. The one long page's filter links (`/ops/?status=…`,
/// `/ops/?patient=…`) lead to their sections.
async fn first_page(
    State(app): State<Arc<App>>,
    prefs: Prefs,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    Query(filters): Query<Filters>,
) -> Response {
    let query = raw.map(|q| format!("?{q}")).unwrap_or_default();
    if filters.patient.is_some() {
        return Redirect::to(&format!("{HOME}patients{query}")).into_response();
    }
    if filters.hospital.is_some() || filters.bank.is_some() || filters.status.is_some() {
        return Redirect::to(&format!("{HOME}visits{query}")).into_response();
    }
    show(app, prefs, headers, "", filters).await
}

async fn section_page(
    State(app): State<Arc<App>>,
    prefs: Prefs,
    headers: HeaderMap,
    Path(section): Path<String>,
    Query(filters): Query<Filters>,
) -> Response {
    match SECTIONS.iter().find(|(s, _)| !s.is_empty() && *s == section) {
        Some((section, _)) => show(app, prefs, headers, section, filters).await,
        None => not_found(Page::new(prefs, format!("{HOME}{section}"), HOME)),
    }
}

async fn show(app: Arc<App>, prefs: Prefs, headers: HeaderMap, section: &'static str, filters: Filters) -> Response {
    let (staff, page) = match operator(&app, prefs, &headers, &format!("{HOME}{section}")).await {
        Ok(signed_in) => signed_in,
        Err(sign_in) => return sign_in,
    };
    let day = filters.day.clone().filter(|d| words::is_date(d)).unwrap_or_else(|| crate::staff::today(&app));
    let mut home = Home::new(page, staff, section, day, filters);
    // Names for codes wherever they appear.
    home.hospitals = app.hospitals().await.unwrap_or_default();
    home.banks = app.bank_views();
    match section {
        "" => load_totals(&app, &mut home).await,
        "reconciliation" => {
            home.runs = app.store.latest_reconciliation_runs(&home.day).await.unwrap_or_default();
            home.recon = recon_entries(&app).await;
        }
        "exceptions" => load_exceptions(&app, &mut home).await,
        "visits" => home.visits = visits(&app, &home.day, &home.filters).await,
        "stays" => stays::load(&app, &mut home).await,
        "hospitals" => home.platforms = platforms_of(&app, &home.hospitals).await,
        "banks" => home.hospital_banks = app.hospital_banks(Default::default()).await.unwrap_or_default(),
        "patients" => home.patients = signed_patients(&app, home.filters.patient.as_deref().unwrap_or_default()).await,
        "staff" => home.staff_accounts = app.staff_list().await.unwrap_or_default(),
        "audit" => {
            // Only the entries since the last check (`App::audit_health`); the whole chain is `wugan audit verify`'s.
            (home.audit_entries, home.audit_intact) = match app.audit_health().await {
                Ok(health) => (health.entries as usize, health.intact),
                Err(_) => (0, false),
            };
            home.audit = app.store.audit_entries(None, 20).await.unwrap_or_default();
        }
        "keys" => home.keys = app.api_keys().await.unwrap_or_default(),
        _ => {}
    }
    render(&home).into_response()
}

async fn load_totals(app: &Arc<App>, home: &mut Home) {
    let rows = app.operator_day(&home.day).await.unwrap_or_default();
    home.totals = figures::totals(&rows);
    home.bank_totals = figures::bank_totals(&rows);
    let bars = figures::bars(&home.totals, |code| home.hospital_name(code));
    home.bars = bars;
    home.chart_height = (home.bars.len() as i64 * 28).max(28);
    home.minutes_saved = home.totals.iter().map(|t| t.settled).sum::<i64>() * MINUTES_SAVED_PER_SEAMLESS_VISIT;
    home.partners = app.metrics_text().await.map(|t| partner_health(&t)).unwrap_or_default();
    if let Ok(q) = app.exceptions().await {
        home.waiting = q.exceptions.len() + q.stays.len() + q.refunds.len() + q.fee_withdrawals.len();
        home.recon_open = q.reconciliation.len();
    }
}

async fn load_exceptions(app: &Arc<App>, home: &mut Home) {
    let Ok(q) = app.exceptions().await else { return };
    home.recon_open = q.reconciliation.len();
    (home.parked_stays, home.parked_refunds, home.parked_withdrawals) = (q.stays, q.refunds, q.fee_withdrawals);
    let parked_visits = home.parked_refunds.iter().map(|r| &r.visit_id).chain(home.parked_withdrawals.iter().map(|w| &w.visit_id));
    for visit_id in parked_visits.cloned().collect::<Vec<_>>() {
        if let Ok(v) = app.operator_visit(&visit_id).await {
            home.visit_numbers.insert(visit_id, v.visit.ipt_otp_no);
        }
    }
    for e in q.exceptions {
        let visit = app.operator_visit(&e.settlement.visit_id).await.ok().map(|v| v.visit);
        let agreement = match visit.as_ref().and_then(|v| v.seamless.agreement_id.clone()) {
            Some(id) => app.agreement(&id).await.ok(),
            None => None,
        };
        let (patient, bank_code) = agreement.map(|a| (a.name, a.payment.bank_code)).unzip();
        home.exceptions.push(ExceptionEntry { e, visit, patient, bank_code });
    }
}

/// The reconciliation differences waiting, each with its visit when its key names a settlement
/// (`stl_…`, a bank request id `stl_…:capture`) the hub has.
async fn recon_entries(app: &Arc<App>) -> Vec<ReconEntry> {
    let open = app.exceptions().await.map(|q| q.reconciliation).unwrap_or_default();
    let mut out = Vec::with_capacity(open.len());
    for x in open {
        let settlement = x.key.split(':').next().filter(|k| k.starts_with("stl_")).map(str::to_string);
        let visit_id = match settlement {
            Some(id) => app.store.settlement(&id).await.ok().flatten().map(|s| s.visit_id),
            None => None,
        };
        out.push(ReconEntry { x, visit_id });
    }
    out
}

/// A page of the day's visits. `settled_unpaid` is a settlement's state, not a visit's: the
/// settled visits are read and those whose bill is owed or was collected kept.
async fn visits(app: &Arc<App>, day: &str, filters: &Filters) -> Vec<VisitView> {
    let status = filters.status.clone().filter(|s| !s.is_empty());
    let unpaid = status.as_deref() == Some("settled_unpaid");
    let query = VisitQuery {
        day: Some(day.to_string()),
        hospital_code: filters.hospital.clone().filter(|h| !h.is_empty()),
        bank_code: filters.bank.clone().filter(|b| !b.is_empty()),
        status: if unpaid { Some("settled".into()) } else { status },
        limit: Some(if unpaid { 500 } else { 50 }),
        ..VisitQuery::default()
    };
    let visits = app.visit_list(None, query).await.map(|l| l.visits).unwrap_or_default();
    match unpaid {
        true => visits.into_iter().filter(|v| v.settlement.as_ref().is_some_and(|s| s.state == "settled_unpaid")).take(50).collect(),
        false => visits,
    }
}

/// The newest signed patients, masked (张*, 440301********1234), those whose masked name or ID
/// number holds `search` when one is given.
async fn signed_patients(app: &App, search: &str) -> Vec<AgreementView> {
    let ids = app.store.recent_agreement_ids(200).await.unwrap_or_default();
    let mut found = Vec::new();
    for id in ids {
        match app.agreement(&id).await {
            Ok(a) if search.is_empty() || a.certno.contains(search) || a.name.contains(search) => found.push(a),
            _ => {}
        }
        if found.len() == 20 {
            break;
        }
    }
    found
}

/// The platform settings of every hospital listed (one read each; a hospital vanished meanwhile is skipped).
async fn platforms_of(app: &Arc<App>, hospitals: &[HospitalView]) -> Vec<PlatformView> {
    let mut out = Vec::with_capacity(hospitals.len());
    for h in hospitals {
        if let Ok(p) = app.hospital_platform_view(&h.code).await {
            out.push(p);
        }
    }
    out
}

/// One visit whole, as an operator looks at it when a hospital or a patient calls.
#[derive(Template)]
#[template(path = "ops/visit.html")]
struct VisitPage {
    page: Page,
    staff: StaffSession,
    whole: OperatorVisitView,
    hospital: String,
    /// Masked (张*).
    patient: Option<String>,
    /// The hospitals and banks its transfers' accounts name.
    names: ledger_words::Names,
}

async fn visit_page(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (staff, page) = match operator(&app, prefs, &headers, &format!("{HOME}visits/{id}")).await {
        Ok(signed_in) => signed_in,
        Err(sign_in) => return sign_in,
    };
    let Ok(whole) = app.operator_visit(&id).await else { return not_found(page) };
    let hospitals = app.hospitals().await.unwrap_or_default();
    let hospital = words::name_of(&hospitals, &whole.visit.hospital_code);
    let patient = match whole.visit.seamless.agreement_id.as_deref() {
        Some(agreement) => app.agreement(agreement).await.ok().map(|a| a.name),
        None => None,
    };
    let names = ledger_words::Names { hospitals, banks: app.bank_views() };
    render(&VisitPage { page, staff, whole, hospital, patient, names }).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_model_saves_two_hours_and_a_quarter_per_seamless_visit() {
        assert_eq!(MINUTES_SAVED_PER_SEAMLESS_VISIT, 135);
    }
}
