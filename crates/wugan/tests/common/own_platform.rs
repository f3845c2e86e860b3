//! A hospital on its own insurance platform (a fresh center, strict about sign-in), and between
//! the hub and that platform a rewriter that changes what the platform answers as real
//! deployments write it (review r21): the world of the suites on platforms' replies and quirks.

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;
use wugan::his::{fee_line, HisClient};
use wugan::system;

pub const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";
/// What a lost answer looks like: a proxy's HTML page.
pub const LOST: &str = "<html><body>502 Bad Gateway</body></html>";

/// What the rewriter does with the next message of an `infno`.
pub enum Rule {
    /// Passes it on and rewrites the platform's reply.
    Rewrite(Box<dyn Fn(Value) -> Value + Send>),
    /// Passes it on and rewrites the reply's text (numbers a `Value` cannot hold).
    RewriteText(fn(String) -> String),
    /// Passes it on, then answers this instead (the platform did the work; its answer is lost, or
    /// says little).
    ForwardThenAnswer(u16, &'static str),
    /// Answers this without passing it on (the platform never sees it).
    AnswerAlone(u16, &'static str),
}

type Rules = Arc<Mutex<VecDeque<(&'static str, Rule)>>>;

/// The platform: its URL, the rules queued, the infno of every message it was sent.
pub struct Platform {
    pub url: String,
    hospital: String,
    /// The center now behind the rewriter (a restart puts a fresh one there).
    center: Arc<Mutex<axum::Router>>,
    rules: Rules,
    pub infnos: Arc<Mutex<Vec<String>>>,
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

fn answer(status: u16, body: String) -> axum::response::Response {
    let status = axum::http::StatusCode::from_u16(status).expect("status");
    axum::response::IntoResponse::into_response((status, [("content-type", "application/json")], body))
}

impl Platform {
    pub async fn start(hospital: &str) -> Platform {
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
                if let Some(Rule::AnswerAlone(status, body)) = rule {
                    return answer(status, body.to_string());
                }
                let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
                let reply = center.oneshot(request).await.expect("infallible");
                let status = reply.status().as_u16();
                let bytes = axum::body::to_bytes(reply.into_body(), usize::MAX).await.unwrap_or_default();
                let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
                match rule {
                    Some(Rule::Rewrite(rewrite)) => answer(status, rewrite(serde_json::from_str(&text).expect("a JSON reply")).to_string()),
                    Some(Rule::RewriteText(rewrite)) => answer(status, rewrite(text)),
                    Some(Rule::ForwardThenAnswer(status, body)) => answer(status, body.to_string()),
                    _ => answer(status, text),
                }
            }
        });
        let url = format!("http://{}", system::spawn_server("127.0.0.1:0", rewriter).await.expect("the platform listens"));
        Platform { url, hospital: hospital.to_string(), center, rules, infnos }
    }

    /// The platform restarts: its center starts afresh and knows no sign-in.
    /// Queues `rule` for the next `infno` the platform is sent.
    pub fn next(&self, infno: &'static str, rule: Rule) {
        self.rules.lock().expect("lock").push_back((infno, rule));
    }

    pub fn restart(&self) {
        *self.center.lock().expect("lock") = center_for(&self.hospital);
    }

    pub fn sent(&self, infno: &str) -> usize {
        self.infnos.lock().expect("lock").iter().filter(|i| *i == infno).count()
    }

    /// The platform's own record of its settlements: (setl_id, cancelled).
    pub async fn settlements(&self) -> Vec<(String, bool)> {
        let url = format!("{}/sandbox/settlements", self.url);
        let all: Value =
            reqwest::Client::new().get(url).bearer_auth("own-operator").send().await.expect("sandbox").json().await.expect("json");
        let list = all.as_array().cloned().or_else(|| all["settlements"].as_array().cloned()).unwrap_or_default();
        list.iter().map(|s| (s["setl_id"].as_str().unwrap_or_default().to_string(), s["cancelled"] == json!(true))).collect()
    }
}

impl Platform {
    /// The platform's own record of a visit (`/sandbox/visits/{mdtrt_id}`: number, person,
    /// cancelled); `null` when it has none.
    pub async fn visit(&self, mdtrt_id: &str) -> Value {
        let url = format!("{}/sandbox/visits/{mdtrt_id}", self.url);
        let reply = reqwest::Client::new().get(url).bearer_auth("own-operator").send().await.expect("sandbox");
        match reply.status().is_success() {
            true => reply.json().await.expect("json"),
            false => Value::Null,
        }
    }
}

pub struct World {
    pub sys: system::System,
    pub his: HisClient,
    pub operator: HisClient,
    pub platform: Platform,
    pub agreement: String,
    _dir: super::TempDir,
}

impl World {
    /// A hub whose first hospital settles on its own platform, and 张三 signed up on a credit
    /// line that pays the whole cash share (not the personal account).
    pub async fn new(label: &str) -> World {
        let (mut opts, dir) = super::fresh_options(label).await;
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
        World { sys, his, operator, platform, agreement, _dir: dir }
    }

    pub fn next(&self, infno: &'static str, rule: Rule) {
        self.platform.next(infno, rule);
    }

    /// A registered visit with `lines` of fees: its id.
    pub async fn visit_with(&self, ipt_otp_no: &str, lines: &[Value]) -> String {
        let visit = self.his.register(ipt_otp_no, "01", EMPLOYEE_TOKEN).await.expect("hub");
        assert!(visit.ok(), "{visit:?}");
        let id = visit.body["id"].as_str().expect("visit id").to_string();
        self.fees(&id, lines).await;
        id
    }

    pub async fn fees(&self, visit: &str, lines: &[Value]) {
        let fees = self.his.upload_fees(visit, lines).await.expect("hub");
        assert!(fees.ok(), "{fees:?}");
    }

    /// What the bank says the line owes.
    pub async fn line_used(&self) -> i64 {
        let agreement = self.operator.get(&format!("/api/v1/agreements/{}", self.agreement)).await.expect("hub");
        let used = &agreement.body["payment"]["used_fen"];
        used.as_i64().unwrap_or_else(|| panic!("used_fen: {}", agreement.body))
    }

    pub async fn ledger_balances(&self) {
        let ledger = self.operator.get("/api/v1/ledger").await.expect("hub");
        assert_eq!(ledger.body["balanced"], json!(true), "the ledger balances: {}", ledger.body);
    }
}

/// `"key":"digits"` → `"key":digits` in a reply's text, as a platform writing ids as numbers does.
pub fn unquoted(text: &str, key: &str) -> String {
    let pattern = format!("\"{key}\":\"");
    let Some(at) = text.find(&pattern) else { return text.to_string() };
    let start = at + pattern.len();
    let end = start + text[start..].find('"').expect("closing quote");
    format!("{}\"{key}\":{}{}", &text[..at], &text[start..end], &text[end + 1..])
}

pub fn compact(text: String) -> String {
    serde_json::from_str::<Value>(&text).expect("json").to_string()
}

/// ¥125.00 of fees: two lines under the deductible.
pub fn small_fees() -> Vec<Value> {
    vec![fee_line("1", "XA01AAA0001", "12.50", "2", "25.00"), fee_line("2", "XA01AAA0002", "100.00", "1", "100.00")]
}

/// ¥1,225.00 of fees: past the deductible, so the fund pays a share.
pub fn fees_past_the_deductible() -> Vec<Value> {
    vec![fee_line("1", "001102000010000", "25.00", "1", "25.00"), fee_line("2", "013100000010000", "150.00", "8", "1200.00")]
}
