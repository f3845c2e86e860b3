//! The hub's metrics, served at `GET /metrics` in Prometheus' text exposition format (version
//! 0.0.4). One [`Metrics`] per `App`, no global registry: every series is made when the `App` is,
//! from the route table and the partners it was given, and counted with atomics (no lock on the
//! request path). Labels are bounded by construction: a route is its template in `api::routes`
//! (never the raw path: no ids, no personal data), a status is one of [`STATUSES`] or `other`, an
//! operation one of a partner's fixed list or `other`.
//!
//! Counted here: requests, partner calls, settlements reaching a final state, idempotency replays.
//! Read from the database at each scrape (so that they are the same whichever process of several
//! hubs is scraped): unknown outcomes in flight, the recovery backlog, the exceptions queue; and
//! from the pool, its connections. Every series is documented in docs/operations.md.

use crate::app::App;
use crate::model::SettlementRow;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use wugan_domain::settlement::SettlementState;

/// Upper bounds of the latency histograms, in seconds: from a cached answer to a partner's timeout.
pub const DURATION_BUCKETS_S: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The statuses the hub answers with (openapi.json); any other is counted as `other`.
pub const STATUSES: [u16; 17] = [200, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 500, 502, 503, 504, 201];

/// The route label of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The national-interface transactions the hub sends; any other is `other`.
pub const INSURANCE_OPERATIONS: [&str; 36] = [
    "1101", "2201", "2202", "2203", "2204", "2205", "2206", "2207", "2208", "5201", "5203", "5204", "9901", "9902", "9903", "3201", "3202",
    "3203", "3204", "9101", "9102", "9001", "2301", "2302", "2303", "2304", "2305", "2401", "2402", "2403", "2404", "2405", "2503", "2504",
    "4101", "other",
];

/// A bank protocol call, named by what it does (its path without ids).
pub const BANK_OPERATIONS: [&str; 17] = [
    "open_agreement",
    "agreement",
    "close_agreement",
    "events",
    "repay",
    "statements",
    "limit_request",
    "operations",
    "active_agreements",
    "status_query",
    "authorize",
    "capture",
    "charge",
    "void",
    "refund",
    "statement_file",
    "other",
];

/// How a partner call ended, in the saga's words (ARCHITECTURE.md): done, refused (a business
/// decision), or unknown (no answer, a 5xx, an unreadable reply, our own request rejected).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallResult {
    Done,
    Refused,
    Unknown,
}

impl CallResult {
    const ALL: [CallResult; 3] = [CallResult::Done, CallResult::Refused, CallResult::Unknown];

    fn as_str(self) -> &'static str {
        match self {
            CallResult::Done => "done",
            CallResult::Refused => "refused",
            CallResult::Unknown => "unknown",
        }
    }
}

/// A latency histogram with fixed buckets. Counts are kept per bucket and summed at rendering.
struct Histogram {
    /// One per bound of `DURATION_BUCKETS_S`, then +Inf.
    buckets: [AtomicU64; DURATION_BUCKETS_S.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram { buckets: std::array::from_fn(|_| AtomicU64::new(0)), sum_us: AtomicU64::new(0) }
    }

    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = DURATION_BUCKETS_S.iter().position(|bound| seconds <= *bound).unwrap_or(DURATION_BUCKETS_S.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    /// `name_bucket{labels,le=…}` lines, then `_sum` and `_count`; `labels` is `k="v",…` or empty.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, count) in self.buckets.iter().enumerate() {
            cumulative += count.load(Relaxed);
            let le = DURATION_BUCKETS_S.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}");
        }
        let sum_s = self.sum_us.load(Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {sum_s}");
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// One route's requests.
struct RouteSeries {
    method: String,
    route: &'static str,
    /// One per entry of `STATUSES`, then `other`.
    statuses: [AtomicU64; STATUSES.len() + 1],
    duration: Histogram,
}

/// One partner's calls, per operation.
struct PartnerSeries {
    partner: String,
    operations: &'static [&'static str],
    /// Per operation, per `CallResult::ALL`.
    results: Vec<[AtomicU64; 3]>,
    durations: Vec<Histogram>,
}

impl PartnerSeries {
    fn new(partner: String, operations: &'static [&'static str]) -> PartnerSeries {
        PartnerSeries {
            partner,
            operations,
            results: operations.iter().map(|_| std::array::from_fn(|_| AtomicU64::new(0))).collect(),
            durations: operations.iter().map(|_| Histogram::new()).collect(),
        }
    }

    fn index_of(&self, operation: &str) -> usize {
        self.operations.iter().position(|o| *o == operation).unwrap_or(self.operations.len() - 1)
    }
}

/// The settlement outcomes counted: every final state.
const OUTCOMES: [SettlementState; 4] =
    [SettlementState::Settled, SettlementState::SettledUnpaid, SettlementState::Failed, SettlementState::Cancelled];

/// The hub's counters and histograms (see the module's documentation).
pub struct Metrics {
    routes: Vec<RouteSeries>,
    /// Read on every partner call; written only when a bank is onboarded while running.
    partners: std::sync::RwLock<Vec<std::sync::Arc<PartnerSeries>>>,
    settlements: [AtomicU64; OUTCOMES.len()],
    settlement_duration: Histogram,
    idempotency_replays: AtomicU64,
}

/// The insurance center's partner label.
pub const INSURANCE_PARTNER: &str = "insurance";

/// A bank's partner label: `bank:` and its code.
pub fn bank_partner(bank_code: &str) -> String {
    format!("bank:{bank_code}")
}

impl Metrics {
    /// Series for every route of `routes` (method, template) and for the insurance center and
    /// each of `bank_codes`.
    pub fn new(routes: &[(String, &'static str)], bank_codes: &[String]) -> Metrics {
        let route_series = |method: &str, route: &'static str| RouteSeries {
            method: method.to_string(),
            route,
            statuses: std::array::from_fn(|_| AtomicU64::new(0)),
            duration: Histogram::new(),
        };
        let mut series: Vec<RouteSeries> = routes.iter().map(|(m, r)| route_series(m, r)).collect();
        series.push(route_series("other", UNMATCHED_ROUTE));
        let mut partners = vec![std::sync::Arc::new(PartnerSeries::new(INSURANCE_PARTNER.into(), &INSURANCE_OPERATIONS))];
        partners.extend(bank_codes.iter().map(|code| std::sync::Arc::new(PartnerSeries::new(bank_partner(code), &BANK_OPERATIONS))));
        Metrics {
            routes: series,
            partners: std::sync::RwLock::new(partners),
            settlements: std::array::from_fn(|_| AtomicU64::new(0)),
            settlement_duration: Histogram::new(),
            idempotency_replays: AtomicU64::new(0),
        }
    }

    /// A request answered: `route` is the matched template (`None`: no route matched).
    pub fn http_request(&self, method: &str, route: Option<&str>, status: u16, elapsed: Duration) {
        // axum answers HEAD with the GET route.
        let method = if method == "HEAD" { "GET" } else { method };
        let unmatched = self.routes.len() - 1;
        let series = route
            .and_then(|r| self.routes[..unmatched].iter().find(|s| s.route == r && s.method == method))
            .unwrap_or(&self.routes[unmatched]);
        let status = STATUSES.iter().position(|s| *s == status).unwrap_or(STATUSES.len());
        series.statuses[status].fetch_add(1, Relaxed);
        series.duration.observe(elapsed);
    }

    /// A stored answer replayed for a repeated Idempotency-Key.
    pub fn idempotency_replay(&self) {
        self.idempotency_replays.fetch_add(1, Relaxed);
    }

    /// Series for a bank onboarded while the hub runs (nothing if it has them already).
    pub fn add_bank(&self, bank_code: &str) {
        let partner = bank_partner(bank_code);
        let mut partners = self.partners.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !partners.iter().any(|p| p.partner == partner) {
            partners.push(std::sync::Arc::new(PartnerSeries::new(partner, &BANK_OPERATIONS)));
        }
    }

    fn partners(&self) -> Vec<std::sync::Arc<PartnerSeries>> {
        self.partners.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// A partner call that ended with `result` after `elapsed`. Unknown partners are not counted
    /// (a client made outside `App::new`, in a test).
    pub fn partner_call(&self, partner: &str, operation: &str, result: CallResult, elapsed: Duration) {
        let found = self.partners.read().unwrap_or_else(std::sync::PoisonError::into_inner).iter().find(|p| p.partner == partner).cloned();
        let Some(series) = found else { return };
        let op = series.index_of(operation);
        let r = CallResult::ALL.iter().position(|c| *c == result).unwrap_or(2);
        series.results[op][r].fetch_add(1, Relaxed);
        series.durations[op].observe(elapsed);
    }

    /// A settlement saved in state `to`, coming from `from`: counted when it becomes final. The
    /// click's own outcomes (not a cancellation) also give the time from the click to the end.
    pub fn settlement_saved(&self, from: SettlementState, to: SettlementState, since_click: Option<Duration>) {
        if from.is_final() || !to.is_final() {
            return;
        }
        if let Some(i) = OUTCOMES.iter().position(|o| *o == to) {
            self.settlements[i].fetch_add(1, Relaxed);
        }
        if let (false, Some(elapsed)) = (from == SettlementState::Cancelling, since_click) {
            self.settlement_duration.observe(elapsed);
        }
    }

    /// The counted series in the text format, with the gauges read at this scrape.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(16 * 1024);
        self.render_http(&mut out);
        self.render_settlements(&mut out);
        self.render_partners(&mut out);
        header(&mut out, "wugan_idempotency_replays_total", "counter", "Stored answers replayed for a repeated Idempotency-Key.");
        let _ = writeln!(out, "wugan_idempotency_replays_total {}", self.idempotency_replays.load(Relaxed));
        gauges.render(&mut out);
        out
    }

    fn render_http(&self, out: &mut String) {
        header(out, "wugan_http_requests_total", "counter", "Requests answered, by route template, method and status.");
        for s in &self.routes {
            for (i, count) in s.statuses.iter().enumerate() {
                let status = STATUSES.get(i).map_or("other".to_string(), u16::to_string);
                let (route, method) = (s.route, &s.method);
                let _ = writeln!(
                    out,
                    "wugan_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}",
                    count.load(Relaxed)
                );
            }
        }
        header(out, "wugan_http_request_duration_seconds", "histogram", "Time from a request's arrival to its answer, by route.");
        for s in &self.routes {
            s.duration.render(out, "wugan_http_request_duration_seconds", &format!("route=\"{}\",method=\"{}\"", s.route, s.method));
        }
    }

    fn render_settlements(&self, out: &mut String) {
        header(out, "wugan_settlements_total", "counter", "Settlements that reached a final state, by that state.");
        for (outcome, count) in OUTCOMES.iter().zip(&self.settlements) {
            let _ = writeln!(out, "wugan_settlements_total{{outcome=\"{}\"}} {}", outcome.as_str(), count.load(Relaxed));
        }
        header(
            out,
            "wugan_settlement_duration_seconds",
            "histogram",
            "Time from the doctor's click to the settlement's final state (settled, settled_unpaid, failed).",
        );
        self.settlement_duration.render(out, "wugan_settlement_duration_seconds", "");
    }

    fn render_partners(&self, out: &mut String) {
        header(
            out,
            "wugan_partner_calls_total",
            "counter",
            "Calls to a partner, by partner, operation and result (done, refused, unknown).",
        );
        let partners = self.partners();
        for p in &partners {
            for (op, results) in p.operations.iter().zip(&p.results) {
                for (result, count) in CallResult::ALL.iter().zip(results) {
                    let _ = writeln!(
                        out,
                        "wugan_partner_calls_total{{partner=\"{}\",operation=\"{op}\",result=\"{}\"}} {}",
                        p.partner,
                        result.as_str(),
                        count.load(Relaxed)
                    );
                }
            }
        }
        header(out, "wugan_partner_call_duration_seconds", "histogram", "Time a partner call took, by partner and operation.");
        for p in &partners {
            for (op, histogram) in p.operations.iter().zip(&p.durations) {
                histogram.render(out, "wugan_partner_call_duration_seconds", &format!("partner=\"{}\",operation=\"{op}\"", p.partner));
            }
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// What a scrape reads from the database and the pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Unfinished settlements whose last call's outcome is unknown (a failed try counted), not parked.
    pub unknown_outcomes_in_flight: i64,
    /// Unfinished settlements (not parked) and personal-account repayments: the recovery worker's work.
    pub recovery_backlog: i64,
    /// Settlements in the exceptions queue.
    pub exceptions_open: i64,
    /// Reconciliation differences left for an operator and not yet marked dealt with.
    pub reconciliation_differences_open: i64,
    /// The database pool's connections in use and idle.
    pub pool_in_use: u64,
    pub pool_idle: u64,
}

impl Gauges {
    fn render(&self, out: &mut String) {
        let gauges = [
            (
                "wugan_unknown_outcomes_in_flight",
                "Unfinished settlements whose last partner call's outcome is unknown.",
                self.unknown_outcomes_in_flight,
            ),
            (
                "wugan_recovery_backlog",
                "Unfinished settlements and personal-account repayments the recovery worker has to move on.",
                self.recovery_backlog,
            ),
            ("wugan_exceptions_open", "Settlements in the exceptions queue, waiting for an operator.", self.exceptions_open),
            (
                "wugan_reconciliation_differences_open",
                "Reconciliation differences the latest run of a day left for an operator, not yet marked dealt with.",
                self.reconciliation_differences_open,
            ),
        ];
        for (name, help, value) in gauges {
            header(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
        header(out, "wugan_db_pool_connections", "gauge", "The database pool's connections, by state.");
        let _ = writeln!(out, "wugan_db_pool_connections{{state=\"in_use\"}} {}", self.pool_in_use);
        let _ = writeln!(out, "wugan_db_pool_connections{{state=\"idle\"}} {}", self.pool_idle);
    }
}

/// The bank protocol operation a request is, from its method and path (ids dropped).
pub fn bank_operation(method: &str, path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.trim_start_matches("/bank/v1/").split('/').collect();
    match (method, parts.as_slice()) {
        ("POST", ["agreements"]) => "open_agreement",
        ("GET", ["agreements"]) => "active_agreements",
        ("GET", ["agreements", _]) => "agreement",
        ("POST", ["agreements", _, "close"]) => "close_agreement",
        ("POST", ["agreements", _, "repayments"]) => "repay",
        ("GET", ["agreements", _, "statements"]) => "statements",
        ("POST", ["agreements", _, "limit-requests"]) => "limit_request",
        ("GET", ["events"]) => "events",
        ("GET", ["operations"]) => "operations",
        ("GET", ["operations", _]) => "status_query",
        ("POST", ["authorizations"]) => "authorize",
        ("POST", ["captures"]) => "capture",
        ("POST", ["charges"]) => "charge",
        ("POST", ["voids"]) => "void",
        ("POST", ["refunds"]) => "refund",
        ("GET", ["statements", _]) => "statement_file",
        _ => "other",
    }
}

/// A partner call being timed: dropped without [`PartnerCall::finish`] (an error returned early,
/// the caller's future dropped mid-call) it counts as an unknown outcome, which it is.
pub struct PartnerCall<'a> {
    metrics: &'a Metrics,
    partner: &'a str,
    operation: &'a str,
    started: std::time::Instant,
    result: Option<CallResult>,
}

impl Metrics {
    /// Starts timing a call to `partner`.
    pub fn call<'a>(&'a self, partner: &'a str, operation: &'a str) -> PartnerCall<'a> {
        PartnerCall { metrics: self, partner, operation, started: std::time::Instant::now(), result: None }
    }
}

impl PartnerCall<'_> {
    pub fn finish(mut self, result: CallResult) {
        self.result = Some(result);
    }
}

impl Drop for PartnerCall<'_> {
    fn drop(&mut self) {
        let result = self.result.unwrap_or(CallResult::Unknown);
        self.metrics.partner_call(self.partner, self.operation, result, self.started.elapsed());
    }
}

impl App {
    /// Counts a settlement saved from `from` (see [`Metrics::settlement_saved`]).
    pub(crate) fn note_settlement_saved(&self, from: SettlementState, s: &SettlementRow) {
        let click = time::OffsetDateTime::parse(&s.created_at, &time::format_description::well_known::Rfc3339).ok();
        let since_click = click.and_then(|at| Duration::try_from(self.store.clock.now_utc() - at).ok());
        self.metrics.settlement_saved(from, s.state, since_click);
    }

    /// The text a scrape of `/metrics` answers.
    pub async fn metrics_text(&self) -> Result<String, crate::error::AppError> {
        let gauges = self.store.operations_gauges().await?;
        Ok(self.metrics.render(&gauges))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bank_operations_are_named_without_their_ids() {
        for (method, path, expect) in [
            ("POST", "/bank/v1/agreements", "open_agreement"),
            ("GET", "/bank/v1/agreements?status=active&after=ag_1", "active_agreements"),
            ("GET", "/bank/v1/agreements/ag_1", "agreement"),
            ("POST", "/bank/v1/agreements/ag_1/close", "close_agreement"),
            ("POST", "/bank/v1/agreements/ag_1/repayments", "repay"),
            ("GET", "/bank/v1/agreements/ag_1/statements", "statements"),
            ("POST", "/bank/v1/agreements/ag_1/limit-requests", "limit_request"),
            ("GET", "/bank/v1/events?after=3&limit=500", "events"),
            ("GET", "/bank/v1/operations?agreement_id=ag_1", "operations"),
            ("GET", "/bank/v1/operations/stl_1:auth", "status_query"),
            ("POST", "/bank/v1/authorizations", "authorize"),
            ("POST", "/bank/v1/captures", "capture"),
            ("POST", "/bank/v1/charges", "charge"),
            ("POST", "/bank/v1/voids", "void"),
            ("POST", "/bank/v1/refunds", "refund"),
            ("DELETE", "/bank/v1/agreements/ag_1", "other"),
        ] {
            assert_eq!(bank_operation(method, path), expect, "{method} {path}");
            assert!(BANK_OPERATIONS.contains(&expect));
        }
    }

    fn metrics() -> Metrics {
        Metrics::new(&[("GET".into(), "/api/v1/visits/{id}")], &["BANK01".into()])
    }

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no line {prefix} in\n{text}"))
    }

    #[test]
    fn requests_are_counted_by_template_and_status_and_histograms_are_cumulative() {
        let m = metrics();
        m.http_request("GET", Some("/api/v1/visits/{id}"), 200, Duration::from_millis(3));
        m.http_request("HEAD", Some("/api/v1/visits/{id}"), 200, Duration::from_millis(40));
        m.http_request("GET", Some("/api/v1/visits/{id}"), 418, Duration::from_secs(60));
        m.http_request("GET", None, 404, Duration::from_millis(1));
        let text = m.render(&Gauges::default());
        let visits = r#"route="/api/v1/visits/{id}",method="GET""#;
        assert!(line(&text, &format!(r#"wugan_http_requests_total{{{visits},status="200"}}"#)).ends_with(" 2"));
        assert!(line(&text, &format!(r#"wugan_http_requests_total{{{visits},status="other"}}"#)).ends_with(" 1"));
        assert!(line(&text, r#"wugan_http_requests_total{route="unmatched",method="other",status="404"}"#).ends_with(" 1"));
        let bucket = |le: &str| line(&text, &format!(r#"wugan_http_request_duration_seconds_bucket{{{visits},le="{le}"}}"#)).to_string();
        assert!(bucket("0.005").ends_with(" 1"));
        assert!(bucket("0.05").ends_with(" 2"));
        assert!(bucket("30").ends_with(" 2"));
        assert!(bucket("+Inf").ends_with(" 3"));
        assert!(line(&text, &format!("wugan_http_request_duration_seconds_count{{{visits}}}")).ends_with(" 3"));
    }

    #[test]
    fn a_settlement_is_counted_once_when_it_becomes_final() {
        use SettlementState as S;
        let m = metrics();
        m.settlement_saved(S::Started, S::PreSettled, None);
        m.settlement_saved(S::Authorized, S::Settled, Some(Duration::from_millis(80)));
        m.settlement_saved(S::Settled, S::Cancelling, None);
        m.settlement_saved(S::Cancelling, S::Cancelled, Some(Duration::from_secs(5)));
        let text = m.render(&Gauges::default());
        assert!(line(&text, r#"wugan_settlements_total{outcome="settled"}"#).ends_with(" 1"));
        assert!(line(&text, r#"wugan_settlements_total{outcome="cancelled"}"#).ends_with(" 1"));
        assert!(line(&text, r#"wugan_settlements_total{outcome="failed"}"#).ends_with(" 0"));
        assert!(line(&text, "wugan_settlement_duration_seconds_count").ends_with(" 1"), "a cancellation is not a click's duration");
    }

    #[test]
    fn a_partner_call_dropped_unfinished_is_an_unknown_outcome() {
        let m = metrics();
        m.call("bank:BANK01", "authorize").finish(CallResult::Refused);
        drop(m.call("bank:BANK01", "capture"));
        m.call(INSURANCE_PARTNER, "2207").finish(CallResult::Done);
        m.call(INSURANCE_PARTNER, "1234").finish(CallResult::Done);
        let text = m.render(&Gauges::default());
        let calls = |labels: &str| line(&text, &format!("wugan_partner_calls_total{{{labels}}}")).to_string();
        assert!(calls(r#"partner="bank:BANK01",operation="authorize",result="refused""#).ends_with(" 1"));
        assert!(calls(r#"partner="bank:BANK01",operation="capture",result="unknown""#).ends_with(" 1"));
        assert!(calls(r#"partner="insurance",operation="2207",result="done""#).ends_with(" 1"));
        assert!(calls(r#"partner="insurance",operation="other",result="done""#).ends_with(" 1"));
    }
}
