//! A regional platform's quirks (review r21), end to end through the hub's HTTP API: a hospital on
//! its own platform, and between the hub and that platform a rewriter that changes what the
//! platform answers the way real deployments do — a compact settlement time, a cancellation
//! answered with success and nothing else — and a platform that restarts mid-day, forgetting the
//! day's sign-in.

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;
use wugan::his::{fee_line, HisClient};
use wugan::system;

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";

/// What the rewriter does with the next message of an `infno`.
enum Rule {
    /// Passes it on and rewrites the platform's reply.
    Rewrite(Box<dyn Fn(Value) -> Value + Send>),
    /// Passes it on, then answers this instead (the platform did the work; it said little).
    ForwardThenAnswer(&'static str),
}

type Rules = Arc<Mutex<VecDeque<(&'static str, Rule)>>>;

/// The hospital's own platform: a center strict about sign-in behind a rewriter that keeps the
/// infno of every message it is sent.
struct Platform {
    url: String,
    hospital: String,
    /// The center now behind the rewriter (a restart puts a fresh one there).
    center: Arc<Mutex<axum::Router>>,
    rules: Rules,
    infnos: Arc<Mutex<Vec<String>>>,
}

fn center_for(hospital: &str) -> axum::Router {
    let config = wugan_insurance::InsuranceConfig {
        admdvs: "440300".into(),
        policy: wugan_insurance::default_policy(),
        persons: wugan_insurance::sample_persons(),
    };
    let center = wugan_insurance::InsuranceCenter::new(config).expect("center").with_strict_sign_in();
    let caller =
        wugan_insurance::CallerCredential { fixmedins_code: hospital.into(), app_id: "own-app".into(), secret: "own-secret".into() };
    let gateway = wugan_insurance::GatewayConfig { callers: vec![caller], operator_token: "own-operator".into() };
    wugan_insurance::router(Arc::new(center), Arc::new(wugan_insurance::Gateway::new(gateway).expect("gateway")))
}

impl Platform {
    async fn start(hospital: &str) -> Platform {
        let (rules, infnos): (Rules, Arc<Mutex<Vec<String>>>) = Default::default();
        let center = Arc::new(Mutex::new(center_for(hospital)));
        let (kept_rules, kept_infnos, kept_center) = (rules.clone(), infnos.clone(), center.clone());
        let rewriter = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (rules, infnos) = (kept_rules.clone(), kept_infnos.clone());
            let center = kept_center.lock().expect("lock").clone();
            async move {
                let (parts, body) = request.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
                let infno = serde_json::from_slice::<Value>(&bytes).ok().and_then(|e| e["infno"].as_str().map(str::to_string));
                infnos.lock().expect("lock").push(infno.clone().unwrap_or_default());
                let rule = {
                    let mut rules = rules.lock().expect("lock");
                    let at = rules.iter().position(|(i, _)| Some(*i) == infno.as_deref());
                    at.and_then(|at| rules.remove(at)).map(|(_, rule)| rule)
                };
                let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
                let reply = center.oneshot(request).await.expect("infallible");
                let status = reply.status();
                let text = axum::body::to_bytes(reply.into_body(), usize::MAX).await.unwrap_or_default();
                let body = match rule {
                    Some(Rule::Rewrite(rewrite)) => rewrite(serde_json::from_slice(&text).expect("a JSON reply")).to_string(),
                    Some(Rule::ForwardThenAnswer(body)) => body.to_string(),
                    None => String::from_utf8(text.to_vec()).expect("utf-8"),
                };
                axum::response::IntoResponse::into_response((status, [("content-type", "application/json")], body))
            }
        });
        let url = format!("http://{}", system::spawn_server("127.0.0.1:0", rewriter).await.expect("the platform listens"));
        Platform { url, hospital: hospital.to_string(), center, rules, infnos }
    }

    /// The platform restarts: its center starts afresh and knows no sign-in.
    fn restart(&self) {
        *self.center.lock().expect("lock") = center_for(&self.hospital);
    }

    fn sign_ins(&self) -> usize {
        self.infnos.lock().expect("lock").iter().filter(|i| *i == "9001").count()
    }

    /// The platform's own record of its settlements: (setl_id, cancelled).
    async fn settlements(&self) -> Vec<(String, bool)> {
        let url = format!("{}/sandbox/settlements", self.url);
        let all: Value =
            reqwest::Client::new().get(url).bearer_auth("own-operator").send().await.expect("sandbox").json().await.expect("json");
        let list = all.as_array().cloned().or_else(|| all["settlements"].as_array().cloned()).unwrap_or_default();
        list.iter().map(|s| (s["setl_id"].as_str().unwrap_or_default().to_string(), s["cancelled"] == json!(true))).collect()
    }
}

struct World {
    _sys: system::System,
    his: HisClient,
    operator: HisClient,
    platform: Platform,
    agreement: String,
    _dir: common::TempDir,
}

impl World {
    /// A hub whose first hospital settles on its own platform, and 张三 signed up on a credit
    /// line that pays the whole cash share.
    async fn new(label: &str) -> World {
        let (mut opts, dir) = common::fresh_options(label).await;
        opts.manual_recovery = true;
        let sys = system::start(&opts).await.expect("system starts");
        let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
        let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
        let hospital = sys.credentials.hospitals[0].code.clone();
        let platform = Platform::start(&hospital).await;
        let own = json!({"url": platform.url, "app_id": "own-app", "secret": "own-secret"});
        let path = format!("/api/v1/operator/hospitals/{hospital}/platform");
        assert!(operator.post_with_key(&path, &operator.next_key(), &own).await.expect("hub").ok());
        let signed = operator.sign_up("01", EMPLOYEE_TOKEN, false, json!({"method": "credit_line", "bank_code": "BANK01"}));
        let signed = signed.await.expect("hub");
        assert!(signed.ok(), "{signed:?}");
        let agreement = signed.body["id"].as_str().expect("agreement id").to_string();
        World { _sys: sys, his, operator, platform, agreement, _dir: dir }
    }

    fn next(&self, infno: &'static str, rule: Rule) {
        self.platform.rules.lock().expect("lock").push_back((infno, rule));
    }

    /// A registered visit with ¥1,225.00 of fees: past the deductible, so the fund pays a share.
    async fn visit_with_fees(&self, ipt_otp_no: &str) -> String {
        let visit = self.his.register(ipt_otp_no, "01", EMPLOYEE_TOKEN).await.expect("hub");
        assert!(visit.ok(), "{visit:?}");
        let id = visit.body["id"].as_str().expect("visit id").to_string();
        let lines = [fee_line("1", "001102000010000", "25.00", "1", "25.00"), fee_line("2", "013100000010000", "150.00", "8", "1200.00")];
        let fees = self.his.upload_fees(&id, &lines).await.expect("hub");
        assert!(fees.ok(), "{fees:?}");
        id
    }

    /// What the bank says the line owes.
    async fn line_used(&self) -> i64 {
        let agreement = self.operator.get(&format!("/api/v1/agreements/{}", self.agreement)).await.expect("hub");
        let used = &agreement.body["payment"]["used_fen"];
        used.as_i64().unwrap_or_else(|| panic!("used_fen: {}", agreement.body))
    }

    async fn ledger_balances(&self) {
        let ledger = self.operator.get("/api/v1/ledger").await.expect("hub");
        assert_eq!(ledger.body["balanced"], json!(true), "the ledger balances: {}", ledger.body);
    }
}

/// "2026-12-03 10:00:00" → "20261203100000".
fn compact(time: &str) -> String {
    time.chars().filter(char::is_ascii_digit).collect()
}

#[tokio::test]
async fn a_settlement_whose_time_the_platform_writes_compact_is_claimed_in_its_months_clearing() {
    let w = World::new("quirks-compact-time").await;
    let visit = w.visit_with_fees("MZ-Q1").await;

    // The platform settles, and writes the time compact and the clearing type as a number.
    let month = Arc::new(Mutex::new(String::new()));
    let seen = month.clone();
    w.next(
        "2207",
        Rule::Rewrite(Box::new(move |mut reply| {
            let info = &mut reply["output"]["setlinfo"];
            let time = info["setl_time"].as_str().expect("the platform's setl_time").to_string();
            *seen.lock().expect("lock") = time[..7].to_string();
            info["setl_time"] = json!(compact(&time));
            info["clr_type"] = json!(11);
            reply
        })),
    );
    let settled = w.his.settle(&visit).await.expect("hub");
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    let claim = settled.fen("fund_fen") + settled.fen("personal_account_fen");
    assert!(claim > 0, "{settled:?}");

    // At the month's end the hospital applies for the fund's share: this settlement is in it,
    // and the platform, checking the application against its own records, accepts it.
    let month = month.lock().expect("lock").clone();
    let cleared = w.operator.post_with_key("/api/v1/clearings/insurance", "clear-1", &json!({"month": month})).await.expect("hub");
    assert!(cleared.ok(), "{cleared:?}");
    let applications = cleared.body["applications"].as_array().cloned().unwrap_or_default();
    assert_eq!(applications.len(), 1, "the month has one application: {cleared:?}");
    let a = &applications[0];
    assert_eq!((a["clr_type"].as_str(), a["psntime"].as_i64(), a["state"].as_str()), (Some("11"), Some(1), Some("applied")), "{a}");
    assert_eq!(cleared.fen("applied_fen"), claim, "the fund's and the account's share, claimed: {cleared:?}");
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_cancellation_the_platform_confirms_with_nothing_but_success_is_finished() {
    let w = World::new("quirks-bare-2208").await;
    let visit = w.visit_with_fees("MZ-Q2").await;
    let settled = w.his.settle(&visit).await.expect("hub");
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    assert!(settled.fen("bank_fen") > 0, "{settled:?}");
    assert_eq!(w.line_used().await, settled.fen("bank_fen"));

    // The platform reverses the settlement and answers success with no record at all.
    w.next("2208", Rule::ForwardThenAnswer(r#"{"infcode": 0, "err_msg": "成功", "output": null}"#));
    let cancelled = w.his.cancel(&visit).await.expect("hub");
    assert_eq!(cancelled.body["state"], "cancelled", "the platform said yes: {cancelled:?}");
    assert_eq!(w.line_used().await, 0, "the bank's share was refunded to the line");
    let on_platform = w.platform.settlements().await;
    assert_eq!(on_platform.len(), 1, "{on_platform:?}");
    assert!(on_platform[0].1, "the platform holds it cancelled: {on_platform:?}");
    assert_eq!(w.platform.infnos.lock().expect("lock").iter().filter(|i| *i == "2208").count(), 1, "asked once");
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_platform_that_forgets_the_days_sign_in_is_signed_in_again_on_the_next_call() {
    let w = World::new("quirks-sign-in-forgotten").await;
    let visit = w.visit_with_fees("MZ-Q3").await;
    assert_eq!(w.his.settle(&visit).await.expect("hub").body["state"], "settled");
    assert_eq!(w.platform.sign_ins(), 1, "signed in once in the morning");

    // At noon the platform restarts and forgets the morning's sign-in: the next registration is
    // refused for it, and the hub says to try again.
    w.platform.restart();
    let refused = w.his.register("MZ-Q4", "01", EMPLOYEE_TOKEN).await.expect("hub");
    assert_eq!(refused.status, 503, "{refused:?}");

    // Tried again, the hub signs in anew and the registration goes through; the visit settles.
    let registered = w.his.register("MZ-Q4", "01", EMPLOYEE_TOKEN).await.expect("hub");
    assert!(registered.ok(), "signed in again, not refused until tomorrow: {registered:?}");
    assert_eq!(w.platform.sign_ins(), 2, "one more 9001");
    let visit = registered.body["id"].as_str().expect("visit id").to_string();
    let lines = [fee_line("1", "001102000010000", "25.00", "1", "25.00")];
    assert!(w.his.upload_fees(&visit, &lines).await.expect("hub").ok());
    assert_eq!(w.his.settle(&visit).await.expect("hub").body["state"], "settled");
    assert_eq!(w.platform.sign_ins(), 2, "and the new sign-in holds for the rest of the day");
    w.ledger_balances().await;
}
