//! The operator's console under `/ops/`: a day's totals by hospital with a chart (an SVG drawn
//! here, with the same figures as a table beside it) and the queue time saved, hospitals and their
//! onboarding, the banks the hub routes to, HIS keys (issue, rotate, revoke), the visits of a day
//! with filters, and the exceptions queue with retry. Actions go through the operator API with the
//! operator's session, as every page's do.

pub(crate) mod strings;

use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::collections::BTreeMap;
use std::sync::Arc;
use wugan_hub::app::bank_onboarding::BankView;
use wugan_hub::app::hospitals::{ApiKeyView, HospitalView};
use wugan_hub::app::platform_settings::PlatformView;
use wugan_hub::app::staff::{StaffRole, StaffSession, StaffView};
use wugan_hub::app::visit_lists::VisitQuery;
use wugan_hub::app::{AgreementView, App, ExceptionView, RefundView, StuckStayView, VisitView};
use wugan_hub::store::{AuditEntry, DayTotalsRow};

pub const HOME: &str = "/ops/";

/// The queue-time model (the Shanghai seed's measure): a patient spends 3 hours in hospital for a
/// visit, 75% of it queueing, and the payment queues seamless payment removes are that share.
pub const MINUTES_SAVED_PER_SEAMLESS_VISIT: i64 = 3 * 60 * 75 / 100;

pub fn router() -> Router<Arc<App>> {
    Router::new().route("/ops", get(|| async { Redirect::permanent(HOME) })).route("/ops/", get(home))
}

/// The filters of the visits list (the query of `/ops/`).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Filters {
    pub day: Option<String>,
    pub hospital: Option<String>,
    pub bank: Option<String>,
    pub status: Option<String>,
    /// Part of a signed patient's masked name or ID number (e.g. the last four digits).
    pub patient: Option<String>,
}

/// One partner's calls since the hub started, from its metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartnerHealth {
    pub partner: String,
    pub calls: u64,
    pub refused: u64,
    /// Calls whose outcome is unknown (no answer): resolved by a status query or the recovery worker.
    pub unknown: u64,
    pub mean_ms: u64,
}

/// Partner health from the `/metrics` text: calls by result, and the mean call time.
pub fn partner_health(metrics: &str) -> Vec<PartnerHealth> {
    let mut by_partner: BTreeMap<String, (PartnerHealth, f64, u64)> = BTreeMap::new();
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let label = |name: &str| series.split(&format!("{name}=\"")).nth(1).and_then(|rest| rest.split('"').next()).map(str::to_string);
        let Some(partner) = label("partner") else { continue };
        let entry = by_partner.entry(partner.clone()).or_insert_with(|| (PartnerHealth { partner, ..PartnerHealth::default() }, 0.0, 0));
        let count = value.parse::<f64>().unwrap_or(0.0);
        if series.starts_with("wugan_partner_calls_total{") {
            entry.0.calls += count as u64;
            match label("result").as_deref() {
                Some("refused") => entry.0.refused += count as u64,
                Some("unknown") => entry.0.unknown += count as u64,
                _ => {}
            }
        } else if series.starts_with("wugan_partner_call_duration_seconds_sum{") {
            entry.1 += count;
        } else if series.starts_with("wugan_partner_call_duration_seconds_count{") {
            entry.2 += count as u64;
        }
    }
    by_partner
        .into_values()
        .map(|(mut h, seconds, count)| {
            h.mean_ms = if count == 0 { 0 } else { (seconds * 1000.0 / count as f64) as u64 };
            h
        })
        .collect()
}

/// One bank's day: settlements paid through its agreements, in fen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BankTotals {
    pub bank: String,
    pub settled: i64,
    pub bank_fen: i64,
    pub unpaid_fen: i64,
}

/// The day's settlements by bank, from the store's sums.
fn bank_totals(rows: &[DayTotalsRow]) -> Vec<BankTotals> {
    let mut by_bank: BTreeMap<String, BankTotals> = BTreeMap::new();
    for r in rows {
        let Some(bank) = &r.bank_code else { continue };
        let t = by_bank.entry(bank.clone()).or_insert_with(|| BankTotals { bank: bank.clone(), ..BankTotals::default() });
        t.settled += r.settled;
        t.bank_fen += r.bank_fen;
        t.unpaid_fen += r.unpaid_fen;
    }
    by_bank.into_values().filter(|t| t.settled > 0).collect()
}

/// One hospital's day, in fen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub hospital: String,
    pub visits: i64,
    pub settled: i64,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub account_fen: i64,
    pub bank_fen: i64,
    pub unpaid_fen: i64,
    /// Settlements cancelled (their money refunded).
    pub refunds: i64,
    /// Settled seamlessly: no payment queue.
    pub seamless_settled: i64,
}

/// The day's totals by hospital, from the store's sums over every visit of the day. Every
/// settlement comes from the doctor's click on a seamless visit: settled = settled seamlessly.
pub fn totals(rows: &[DayTotalsRow]) -> Vec<Totals> {
    let mut by_hospital: BTreeMap<String, Totals> = BTreeMap::new();
    for r in rows {
        let h = &r.hospital_code;
        let t = by_hospital.entry(h.clone()).or_insert_with(|| Totals { hospital: h.clone(), ..Totals::default() });
        t.visits += r.visits;
        t.settled += r.settled;
        t.seamless_settled += r.settled;
        t.medfee_fen += r.medfee_fen;
        t.fund_fen += r.fund_fen;
        t.account_fen += r.account_fen;
        t.bank_fen += r.bank_fen;
        t.unpaid_fen += r.unpaid_fen;
        t.refunds += r.cancelled;
    }
    by_hospital.into_values().collect()
}

/// A bar of the chart: its label, value and length (of 100).
pub struct Bar {
    pub label: String,
    pub value_fen: i64,
    pub width: i64,
    pub y: i64,
}

fn bars(totals: &[Totals]) -> Vec<Bar> {
    let largest = totals.iter().map(|t| t.medfee_fen).max().unwrap_or(0).max(1);
    totals
        .iter()
        .enumerate()
        .map(|(i, t)| Bar { label: t.hospital.clone(), value_fen: t.medfee_fen, width: t.medfee_fen * 100 / largest, y: i as i64 * 28 })
        .collect()
}

#[derive(Template)]
#[template(path = "ops/home.html")]
struct Home {
    page: Page,
    staff: StaffSession,
    day: String,
    filters: Filters,
    totals: Vec<Totals>,
    bars: Vec<Bar>,
    chart_height: i64,
    minutes_saved: i64,
    hospitals: Vec<HospitalView>,
    /// Each hospital's own insurance platform (which secrets are set, never the secrets).
    platforms: Vec<PlatformView>,
    banks: Vec<BankView>,
    hospital_banks: Vec<wugan_hub::app::hospital_banks::HospitalBankView>,
    keys: Vec<ApiKeyView>,
    visits: Vec<VisitView>,
    exceptions: Vec<ExceptionView>,
    /// Parked stays and refunds (each retried through its own operator route).
    parked_stays: Vec<StuckStayView>,
    parked_refunds: Vec<RefundView>,
    partners: Vec<PartnerHealth>,
    bank_totals: Vec<BankTotals>,
    patients: Vec<AgreementView>,
    staff_accounts: Vec<StaffView>,
    audit: Vec<AuditEntry>,
    /// The audit chain's check: entries walked, and whether none was altered.
    audit_entries: usize,
    audit_intact: bool,
}

impl Home {
    /// The chart's data for `ops-chart.js`: hospitals and, per source, their settled fen (safe
    /// inside a `<script>`: no `</` survives).
    fn chart_json(&self) -> String {
        let t = |key| self.page.t(key);
        let series =
            |key, of: fn(&Totals) -> i64| serde_json::json!({"name": t(key), "fen": self.totals.iter().map(of).collect::<Vec<_>>()});
        serde_json::json!({
            "title": t("chart_label"),
            "unit": t("ops_yuan"),
            "hospitals": self.totals.iter().map(|x| x.hospital.clone()).collect::<Vec<_>>(),
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
}

async fn home(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap, Query(filters): Query<Filters>) -> Response {
    let Some(staff) = crate::staff::session(&app, &headers).await.filter(|s| s.role == StaffRole::Operator) else {
        let page = Page::new(prefs, HOME, HOME);
        return render(&crate::console::SignIn { page, title_key: "ops_title", next: HOME }).into_response();
    };
    let day = filters.day.clone().filter(|d| d.len() == 10).unwrap_or_else(|| crate::staff::today(&app));
    let day_rows = app.day_totals(&day).await.unwrap_or_default();
    let totals = totals(&day_rows);
    let filtered = VisitQuery {
        day: Some(day.clone()),
        hospital_code: filters.hospital.clone().filter(|h| !h.is_empty()),
        bank_code: filters.bank.clone().filter(|b| !b.is_empty()),
        status: filters.status.clone().filter(|s| !s.is_empty()),
        limit: Some(50),
        ..VisitQuery::default()
    };
    let visits = app.visit_list(None, filtered).await.map(|l| l.visits).unwrap_or_default();
    let bank_totals = bank_totals(&day_rows);
    let patients = signed_patients(&app, filters.patient.as_deref().unwrap_or_default()).await;
    let partners = app.metrics_text().await.map(|t| partner_health(&t)).unwrap_or_default();
    // Only the entries since the last check (`App::audit_health`); the whole chain is `wugan audit verify`'s.
    let (audit_entries, audit_intact) = match app.audit_health().await {
        Ok(health) => (health.entries as usize, health.intact),
        Err(_) => (0, false),
    };
    let minutes_saved = totals.iter().map(|t| t.seamless_settled).sum::<i64>() * MINUTES_SAVED_PER_SEAMLESS_VISIT;
    let bars = bars(&totals);
    let page = Page::new(prefs, HOME, HOME).with_csrf(staff.csrf_token.clone());
    let hospitals = app.hospitals().await.unwrap_or_default();
    let queue = app.exceptions().await.ok();
    let (exceptions, parked_stays, parked_refunds) = match queue {
        Some(q) => (q.exceptions, q.stays, q.refunds),
        None => Default::default(),
    };
    let home = Home {
        page,
        staff,
        day,
        filters,
        chart_height: (bars.len() as i64 * 28).max(28),
        bars,
        totals,
        minutes_saved,
        platforms: platforms_of(&app, &hospitals).await,
        hospitals,
        banks: app.bank_views(),
        hospital_banks: app.hospital_banks(Default::default()).await.unwrap_or_default(),
        keys: app.api_keys().await.unwrap_or_default(),
        visits,
        exceptions,
        parked_stays,
        parked_refunds,
        partners,
        bank_totals,
        patients,
        staff_accounts: app.staff_list().await.unwrap_or_default(),
        audit: app.store.audit_entries(None, 20).await.unwrap_or_default(),
        audit_entries,
        audit_intact,
    };
    render(&home).into_response()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_model_saves_two_hours_and_a_quarter_per_seamless_visit() {
        assert_eq!(MINUTES_SAVED_PER_SEAMLESS_VISIT, 135);
    }

    #[test]
    fn partner_health_is_read_from_the_metrics_text() {
        let text = "# HELP x\n\
wugan_partner_calls_total{partner=\"insurance\",operation=\"2207\",result=\"done\"} 8\n\
wugan_partner_calls_total{partner=\"insurance\",operation=\"2207\",result=\"unknown\"} 2\n\
wugan_partner_calls_total{partner=\"bank:BANK01\",operation=\"capture\",result=\"refused\"} 1\n\
wugan_partner_call_duration_seconds_sum{partner=\"insurance\",operation=\"2207\"} 0.5\n\
wugan_partner_call_duration_seconds_count{partner=\"insurance\",operation=\"2207\"} 10\n\
wugan_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"} 3\n";
        let health = partner_health(text);
        let row =
            |partner: &str, calls, refused, unknown, mean_ms| PartnerHealth { partner: partner.into(), calls, refused, unknown, mean_ms };
        assert_eq!(health, vec![row("bank:BANK01", 1, 1, 0, 0), row("insurance", 10, 0, 2, 50)]);
    }
}
