//! Replies shaped like real insurance platforms' (review r21), end to end: a hospital on its own
//! platform, and between the hub and that platform a rewriter that changes what the platform
//! answers as real deployments write it — ids as long JSON numbers, flags as numbers, `setlinfo`
//! as an array, a refusal sent after the settlement took effect, an HTML page for a lost answer.
//! Each story checks what counts: what the platform holds, what the bank took, the ledger.

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;
use wugan::his::{fee_line, HisClient};
use wugan::system;

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";
const LOST: &str = "<html><body>502 Bad Gateway</body></html>";

/// What the rewriter does with the next message of an `infno`.
enum Rule {
    /// Passes it on and rewrites the platform's reply text.
    Rewrite(fn(String) -> String),
    /// Passes it on, then answers this instead (the platform did the work; its answer is lost).
    ForwardThenAnswer(u16, &'static str),
    /// Answers this without passing it on (the platform never sees it).
    AnswerAlone(u16, &'static str),
}

type Rules = Arc<Mutex<VecDeque<(&'static str, Rule)>>>;

/// The hospital's own platform (a fresh center) behind the rewriter; its URL.
async fn rewritten_platform(hospital: &str, rules: Rules) -> String {
    let config = wugan_insurance::InsuranceConfig {
        admdvs: "440300".into(),
        policy: wugan_insurance::default_policy(),
        persons: wugan_insurance::sample_persons(),
    };
    let center = wugan_insurance::InsuranceCenter::new(config).expect("center");
    let caller =
        wugan_insurance::CallerCredential { fixmedins_code: hospital.into(), app_id: "own-app".into(), secret: "own-secret".into() };
    let gateway = wugan_insurance::GatewayConfig { callers: vec![caller], operator_token: "own-operator".into() };
    let platform = wugan_insurance::router(Arc::new(center), Arc::new(wugan_insurance::Gateway::new(gateway).expect("gateway")));
    let rewriter = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (rules, platform) = (rules.clone(), platform.clone());
        async move {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let infno = serde_json::from_slice::<Value>(&bytes).ok().and_then(|e| e["infno"].as_str().map(str::to_string));
            let rule = {
                let mut rules = rules.lock().expect("lock");
                let at = rules.iter().position(|(i, _)| Some(*i) == infno.as_deref());
                at.and_then(|at| rules.remove(at)).map(|(_, rule)| rule)
            };
            let answer = |status: u16, body: String| {
                let status = axum::http::StatusCode::from_u16(status).expect("status");
                axum::response::IntoResponse::into_response((status, [("content-type", "application/json")], body))
            };
            if let Some(Rule::AnswerAlone(status, body)) = rule {
                return answer(status, body.to_string());
            }
            let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
            let reply = platform.oneshot(request).await.expect("infallible");
            let status = reply.status().as_u16();
            let text = String::from_utf8(axum::body::to_bytes(reply.into_body(), usize::MAX).await.unwrap_or_default().to_vec());
            match rule {
                Some(Rule::Rewrite(rewrite)) => answer(status, rewrite(text.expect("utf-8"))),
                Some(Rule::ForwardThenAnswer(status, body)) => answer(status, body.to_string()),
                _ => answer(status, text.expect("utf-8")),
            }
        }
    });
    format!("http://{}", system::spawn_server("127.0.0.1:0", rewriter).await.expect("the platform listens"))
}

struct World {
    sys: system::System,
    his: HisClient,
    operator: HisClient,
    platform: String,
    rules: Rules,
    agreement: String,
    _dir: common::TempDir,
}

impl World {
    /// A hub whose first hospital settles on its own (rewritten) platform, and 张三 signed up on
    /// a credit line that pays the whole cash share (not the personal account).
    async fn new(label: &str) -> World {
        let (mut opts, dir) = common::fresh_options(label).await;
        opts.manual_recovery = true;
        let sys = system::start(&opts).await.expect("system starts");
        let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
        let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
        let hospital = sys.credentials.hospitals[0].code.clone();
        let rules: Rules = Default::default();
        let platform = rewritten_platform(&hospital, rules.clone()).await;
        let own = json!({"url": platform, "app_id": "own-app", "secret": "own-secret"});
        let path = format!("/api/v1/operator/hospitals/{hospital}/platform");
        assert!(operator.post_with_key(&path, &operator.next_key(), &own).await.expect("hub").ok());
        let signed = operator.sign_up("01", EMPLOYEE_TOKEN, false, json!({"method": "credit_line", "bank_code": "BANK01"}));
        let signed = signed.await.expect("hub");
        assert!(signed.ok(), "{signed:?}");
        let agreement = signed.body["id"].as_str().expect("agreement id").to_string();
        World { sys, his, operator, platform, rules, agreement, _dir: dir }
    }

    fn next(&self, infno: &'static str, rule: Rule) {
        self.rules.lock().expect("lock").push_back((infno, rule));
    }

    async fn visit_with_fees(&self, ipt_otp_no: &str) -> String {
        let visit = self.his.register(ipt_otp_no, "01", EMPLOYEE_TOKEN).await.expect("hub");
        assert!(visit.ok(), "{visit:?}");
        let id = visit.body["id"].as_str().expect("visit id").to_string();
        self.fees(&id).await;
        id
    }

    async fn fees(&self, visit: &str) {
        let lines = [fee_line("1", "XA01AAA0001", "12.50", "2", "25.00"), fee_line("2", "XA01AAA0002", "100.00", "1", "100.00")];
        let fees = self.his.upload_fees(visit, &lines).await.expect("hub");
        assert!(fees.ok(), "{fees:?}");
    }

    /// The platform's own record of this hospital's settlements: (setl_id, cancelled).
    async fn on_the_platform(&self) -> Vec<(String, bool)> {
        let url = format!("{}/sandbox/settlements", self.platform);
        let all: Value =
            reqwest::Client::new().get(url).bearer_auth("own-operator").send().await.expect("sandbox").json().await.expect("json");
        let list = all.as_array().cloned().or_else(|| all["settlements"].as_array().cloned()).unwrap_or_default();
        list.iter().map(|s| (s["setl_id"].as_str().unwrap_or_default().to_string(), s["cancelled"] == json!(true))).collect()
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

/// `"key":"digits"` → `"key":digits` in a reply's text, as a platform writing ids as numbers does.
fn unquoted(text: &str, key: &str) -> String {
    let pattern = format!("\"{key}\":\"");
    let Some(at) = text.find(&pattern) else { return text.to_string() };
    let start = at + pattern.len();
    let end = start + text[start..].find('"').expect("closing quote");
    format!("{}\"{key}\":{}{}", &text[..at], &text[start..end], &text[end + 1..])
}

fn compact(text: String) -> String {
    serde_json::from_str::<Value>(&text).expect("json").to_string()
}

#[tokio::test]
async fn a_settlement_lost_on_the_way_back_is_found_by_5203_written_as_an_array_with_numeric_ids_and_cancelled_once() {
    let w = World::new("replies-found").await;
    let visit = w.visit_with_fees("MZ-R1").await;
    // The platform settles, but its answer is lost on the way back.
    w.next("2207", Rule::ForwardThenAnswer(502, LOST));
    let lost = w.his.settle(&visit).await.expect("hub");
    assert_eq!(lost.status, 503, "an unknown outcome: {lost:?}");
    // 5203 answers as some platforms write it: one record in an array, the ids as numbers.
    w.next(
        "5203",
        Rule::Rewrite(|text| {
            let mut reply: Value = serde_json::from_str(&text).expect("json");
            let record = reply["output"]["setlinfo"].take();
            reply["output"]["setlinfo"] = json!([record]);
            unquoted(&unquoted(&reply.to_string(), "setl_id"), "psn_no")
        }),
    );
    let found = w.his.settle(&visit).await.expect("hub");
    assert_eq!(found.body["state"], "settled", "{found:?}");
    let on_platform = w.on_the_platform().await;
    assert_eq!(on_platform.len(), 1, "settled once: {on_platform:?}");
    assert_eq!(found.body["setl_id"], json!(on_platform[0].0), "every digit of the platform's setl_id: {found:?}");
    let split = ["fund_fen", "personal_account_fen", "bank_fen"].map(|f| found.fen(f));
    assert_eq!(split.iter().sum::<i64>(), 12500, "the record read, not zeros: {found:?}");
    assert!(found.fen("bank_fen") > 0, "{found:?}");
    assert_eq!(w.line_used().await, found.fen("bank_fen"), "the line paid the cash share once");

    // The settlement the hub holds is the platform's: its cancellation is taken.
    let cancelled = w.his.cancel(&visit).await.expect("hub");
    assert_eq!(cancelled.body["state"], "cancelled", "{cancelled:?}");
    assert_eq!(w.on_the_platform().await, vec![(on_platform[0].0.clone(), true)]);
    assert_eq!(w.line_used().await, 0, "the cash share went back");
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_cancelled_settlement_that_5203_flags_with_a_number_is_not_taken_for_the_next_click() {
    let w = World::new("replies-cancelled").await;
    let visit = w.visit_with_fees("MZ-R2").await;
    let first = w.his.settle(&visit).await.expect("hub");
    assert_eq!(first.body["state"], "settled", "{first:?}");
    assert_eq!(w.his.cancel(&visit).await.expect("hub").body["state"], "cancelled");
    // The same fees again, and a click whose 2207 never reaches the platform.
    w.fees(&visit).await;
    w.next("2207", Rule::AnswerAlone(502, LOST));
    assert_eq!(w.his.settle(&visit).await.expect("hub").status, 503);
    // Asked, the platform lists the cancelled settlement, flagged with a number.
    w.next("5203", Rule::Rewrite(|text| compact(text).replace("\"refd_setl_flag\":\"1\"", "\"refd_setl_flag\":1")));
    let second = w.his.settle(&visit).await.expect("hub");
    assert_eq!(second.body["state"], "settled", "{second:?}");
    assert_ne!(second.body["setl_id"], first.body["setl_id"], "a settlement of its own, not the cancelled one: {second:?}");
    let on_platform = w.on_the_platform().await;
    let standing: Vec<_> = on_platform.iter().filter(|(_, cancelled)| !cancelled).collect();
    assert_eq!(standing.len(), 1, "one settlement in force at the platform: {on_platform:?}");
    assert_eq!(second.body["setl_id"], json!(standing[0].0));
    assert_eq!(w.line_used().await, second.fen("bank_fen"), "charged once, for the settlement that stands");
    w.ledger_balances().await;
}

#[tokio::test]
async fn a_refusal_sent_after_the_settlement_took_effect_is_asked_about_before_it_is_believed() {
    let w = World::new("replies-busy").await;
    let visit = w.visit_with_fees("MZ-R3").await;
    // The platform settles, then answers as its gateway does when a service inside it timed out.
    let busy = r#"{"infcode":-1,"err_msg":"系统繁忙，请稍后重试[服务调用超时]","output":null}"#;
    w.next("2207", Rule::ForwardThenAnswer(200, busy));
    let settled = w.his.settle(&visit).await.expect("hub");
    assert_eq!(settled.body["state"], "settled", "5203 found it in force: {settled:?}");
    assert!(settled.fen("bank_fen") > 0, "{settled:?}");
    let on_platform = w.on_the_platform().await;
    assert_eq!(on_platform, vec![(settled.body["setl_id"].as_str().unwrap_or_default().to_string(), false)]);
    assert_eq!(w.line_used().await, settled.fen("bank_fen"));
    w.ledger_balances().await;

    // A refusal that 5203 confirms (nothing in force) stands: the click fails and nothing moves.
    let other = w.visit_with_fees("MZ-R4").await;
    w.next("2207", Rule::AnswerAlone(200, r#"{"infcode":-1,"err_msg":"参保人待遇已暂停","output":null}"#));
    let refused = w.his.settle(&other).await.expect("hub");
    assert_eq!((refused.body["state"].as_str(), refused.body["failure"]["code"].as_str()), (Some("failed"), Some("insurance_refused")));
    assert_eq!(w.on_the_platform().await.len(), 1);
    assert_eq!(w.line_used().await, settled.fen("bank_fen"), "nothing more was taken");
    w.ledger_balances().await;
}

#[tokio::test]
async fn ids_written_as_long_numbers_keep_every_digit() {
    let w = World::new("replies-ids").await;
    // The person's number (1101) and the visit's (2201) as JSON numbers of 20 digits or more.
    w.next("1101", Rule::Rewrite(|text| unquoted(&compact(text), "psn_no")));
    w.next("2201", Rule::Rewrite(|text| unquoted(&compact(text), "mdtrt_id")));
    let visit = w.his.register("MZ-R5", "01", EMPLOYEE_TOKEN).await.expect("hub");
    assert!(visit.ok(), "{visit:?}");
    let mdtrt_id = visit.body["mdtrt_id"].as_str().unwrap_or_default();
    assert!(mdtrt_id.len() >= 19 && mdtrt_id.bytes().all(|b| b.is_ascii_digit()), "every digit: {visit:?}");
    assert_eq!(visit.body["psn_no"], "44030000000000000001", "{visit:?}");
    let id = visit.body["id"].as_str().expect("visit id").to_string();
    w.fees(&id).await;
    let settled = w.his.settle(&id).await.expect("hub");
    assert_eq!(settled.body["state"], "settled", "the platform knows the visit by its number: {settled:?}");
    drop(w.sys);
}
