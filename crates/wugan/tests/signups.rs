//! A sign-up (签约) is a persisted state machine: a hub that dies between the bank's opening of
//! the line and its own record of it, or a bank that does not answer, leaves the sign-up where it
//! stood; the recovery worker (or the caller's retry with its own Idempotency-Key) finishes it,
//! and the patient ends with exactly one bank line, the one their agreement names.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use wugan::system::{builtin_bank, builtin_insurance, spawn_server};
use wugan_domain::Fen;
use wugan_hub::app::{IDLE_BEFORE_RESUME, MAX_BACKOFF};
use wugan_hub::bank_client::{BankClient, BankEndpoint};
use wugan_hub::clock::Clock;
use wugan_hub::pii::DataKey;
use wugan_hub::store::Store;
use wugan_hub::{App, HubConfig};

const CERTNO: &str = "440301199001011234";

/// A clock the test moves by hand.
struct HandClock(Mutex<time::OffsetDateTime>);

impl Clock for HandClock {
    fn now_utc(&self) -> time::OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

impl HandClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

/// The partners and the hub's database, which outlive any one hub process.
struct World {
    bank_url: String,
    insurance_url: String,
    db: std::path::PathBuf,
    clock: Arc<HandClock>,
    data_key: String,
    gateway: wugan_insurance::GatewayConfig,
}

impl World {
    async fn new() -> World {
        let bank_url = format!("http://{}", spawn_server("127.0.0.1:0", builtin_bank("BANK01", "hub", "s3cret")).await.unwrap());
        let hub = wugan_insurance::CallerCredential {
            fixmedins_code: wugan_hub::insurance_client::HUB_FIXMEDINS_CODE.into(),
            app_id: "app-hub".into(),
            secret: "hub-gateway-secret".into(),
        };
        let gateway = wugan_insurance::GatewayConfig { callers: vec![hub], operator_token: String::new() };
        let insurance = builtin_insurance(None, "440300", &gateway).unwrap();
        let insurance_url = format!("http://{}", spawn_server("127.0.0.1:0", insurance).await.unwrap());
        let db = std::env::temp_dir().join(format!("wugan-signups-{}.db", uuid::Uuid::new_v4().simple()));
        let clock = Arc::new(HandClock(Mutex::new(time::OffsetDateTime::now_utc())));
        World { bank_url, insurance_url, db, clock, data_key: DataKey::generate().unwrap().to_hex(), gateway }
    }

    fn endpoint(&self, url: &str) -> BankEndpoint {
        BankEndpoint {
            bank_code: "BANK01".into(),
            url: url.to_string(),
            key_id: "hub".into(),
            secret: "s3cret".into(),
            callback_secret: "no-callbacks-here".into(),
        }
    }

    /// A hub process on the world's database, reaching the bank at `bank_url`.
    async fn hub(&self, bank_url: &str) -> App {
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", self.db.display())).await.unwrap().with_clock(self.clock.clone());
        store.migrate().await.unwrap();
        let config = HubConfig {
            admdvs: "440300".into(),
            insurance_url: self.insurance_url.clone(),
            insurance_credentials: wugan::system::Credentials::hub_gateway_credentials(&self.gateway),
            banks: vec![self.endpoint(bank_url)],
            default_credit_limit: Fen::yuan(5_000),
            partner_timeout: Duration::from_secs(5),
            data_key: DataKey::from_hex(&self.data_key).unwrap(),
        };
        App::new(store, config)
    }

    /// The bank's lines that name `customer_ref`, straight from the bank.
    async fn lines_of(&self, customer_ref: &str) -> Vec<String> {
        let bank = BankClient::new(self.endpoint(&self.bank_url), Duration::from_secs(5));
        let page = bank.active_agreements(None).await.unwrap();
        page.agreements.into_iter().filter(|a| a.customer_ref == customer_ref).map(|a| a.agreement_id).collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.db);
    }
}

fn sign_request() -> wugan_hub::app::SignRequest {
    serde_json::from_value(serde_json::json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": CERTNO,
        "payment": {"method": "credit_line", "bank_code": "BANK01"}}))
    .unwrap()
}

/// Forwards to the bank; once the bank has opened a line, tells the test and never answers.
#[derive(Clone)]
struct HangAfterOpening {
    bank_url: String,
    opened: Arc<Notify>,
}

async fn forward(State(p): State<HangAfterOpening>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap();
    let url = format!("{}{}", p.bank_url, parts.uri.path_and_query().map_or("/", |x| x.as_str()));
    let mut out = reqwest::Client::new().request(parts.method.clone(), url).body(body.to_vec());
    for (name, value) in &parts.headers {
        out = out.header(name, value);
    }
    let reply = out.send().await.unwrap();
    let status = reply.status();
    let bytes = reply.bytes().await.unwrap();
    if parts.method == "POST" && parts.uri.path() == "/bank/v1/agreements" && status.is_success() {
        p.opened.notify_one();
        std::future::pending::<()>().await;
    }
    (status, Body::from(bytes)).into_response()
}

#[tokio::test]
async fn a_hub_that_dies_after_the_bank_opened_the_line_is_finished_by_recovery_with_one_line() {
    let world = World::new().await;
    let opened = Arc::new(Notify::new());
    let proxy =
        axum::Router::new().fallback(forward).with_state(HangAfterOpening { bank_url: world.bank_url.clone(), opened: opened.clone() });
    let proxy_url = format!("http://{}", spawn_server("127.0.0.1:0", proxy).await.unwrap());

    // The hub asks the bank to open the line; the bank does, and the hub dies before it hears so.
    let hub = world.hub(&proxy_url).await;
    tokio::select! {
        answered = hub.sign_agreement(sign_request(), "operator", "k1") => panic!("the sign-up was answered: {answered:?}"),
        _ = opened.notified() => {}
    }
    drop(hub);

    // A new hub process on the same database. The sign-up stands where it was written: the
    // person checked, the bank asked; the bank holds one line for it.
    let hub = world.hub(&world.bank_url).await;
    world.clock.advance(Duration::from_secs(1));
    let stuck = hub.store.unfinished_signups(&hub.store.now()).await.unwrap();
    assert_eq!(stuck.iter().map(|s| s.state.as_str()).collect::<Vec<_>>(), ["identity_checked"]);
    let id = stuck[0].id.clone();
    let line = world.lines_of(&id).await;
    assert_eq!(line.len(), 1, "the bank opened the line");
    assert_eq!(hub.close_orphan_lines().await.unwrap(), 0);
    world.clock.advance(ORPHAN_GRACE_AND_A_BIT);
    assert_eq!(hub.close_orphan_lines().await.unwrap(), 0, "a line its sign-up will name is no orphan");

    // Recovery resumes it: the bank replays the line it opened (same request id), the agreement
    // is written, and the patient has exactly one line, the one the agreement names.
    assert_eq!(hub.resume_unfinished(IDLE_BEFORE_RESUME).await.unwrap(), 1);
    let signup = hub.store.signup(&id).await.unwrap().unwrap();
    assert_eq!(signup.state, "active");
    let agreement = hub.agreement(&id).await.unwrap();
    assert_eq!(agreement.status, "active");
    assert_eq!(world.lines_of(&id).await, std::slice::from_ref(&agreement.payment.bank_agreement_id));
    assert_eq!(line, std::slice::from_ref(&agreement.payment.bank_agreement_id));
    // The caller's retry with its own key gets the agreement it made.
    let retried = hub.sign_agreement(sign_request(), "operator", "k1").await.unwrap();
    assert_eq!((retried.id, retried.payment.bank_agreement_id), (id.clone(), line[0].clone()));
    assert!(hub.store.unfinished_signups(&hub.store.now()).await.unwrap().is_empty());
}

const ORPHAN_GRACE_AND_A_BIT: Duration = Duration::from_secs(11 * 60);

#[tokio::test]
async fn a_sign_up_the_bank_does_not_answer_is_told_to_retry_and_finished_by_recovery() {
    let world = World::new().await;
    // Nothing listens there: the bank is unreachable, the outcome unknown.
    let hub = world.hub("http://127.0.0.1:1").await;
    let first = hub.sign_agreement(sign_request(), "operator", "k2").await.expect_err("no answer from the bank");
    assert_eq!((first.status().as_u16(), first.code()), (503, "bank_unavailable"), "{first:?}");
    assert!(first.retry_after_s().is_some(), "a retry hint: {first:?}");
    world.clock.advance(Duration::from_secs(1));
    let stuck = hub.store.unfinished_signups(&hub.store.now()).await.unwrap();
    assert_eq!(stuck.iter().map(|s| (s.state.as_str(), s.attempts)).collect::<Vec<_>>(), [("identity_checked", 1)]);
    let id = stuck[0].id.clone();
    drop(hub);

    // The bank is back. A failed try waits out its backoff (capped), then recovery finishes it.
    let hub = world.hub(&world.bank_url).await;
    world.clock.advance(IDLE_BEFORE_RESUME);
    assert_eq!(hub.resume_unfinished(IDLE_BEFORE_RESUME).await.unwrap(), 0, "still backing off");
    world.clock.advance(MAX_BACKOFF);
    assert_eq!(hub.resume_unfinished(IDLE_BEFORE_RESUME).await.unwrap(), 1);
    let agreement = hub.agreement(&id).await.unwrap();
    assert_eq!(world.lines_of(&id).await, std::slice::from_ref(&agreement.payment.bank_agreement_id), "one line");
    let retried = hub.sign_agreement(sign_request(), "operator", "k2").await.unwrap();
    assert_eq!(retried.id, id);
}

#[tokio::test]
async fn a_sign_up_whose_bank_stays_silent_is_parked_in_the_exceptions_queue() {
    let world = World::new().await;
    let hub = world.hub("http://127.0.0.1:1").await;
    assert!(hub.sign_agreement(sign_request(), "operator", "k3").await.is_err());
    for _ in 1..wugan_hub::app::MAX_ATTEMPTS {
        world.clock.advance(MAX_BACKOFF + Duration::from_secs(1));
        hub.resume_unfinished(IDLE_BEFORE_RESUME).await.unwrap();
    }
    let queue = hub.exceptions().await.unwrap();
    assert_eq!(queue.signups.len(), 1, "parked after {} tries", wugan_hub::app::MAX_ATTEMPTS);
    assert_eq!((queue.signups[0].state.as_str(), queue.signups[0].attempts), ("identity_checked", wugan_hub::app::MAX_ATTEMPTS));
    world.clock.advance(MAX_BACKOFF + Duration::from_secs(1));
    assert_eq!(hub.resume_unfinished(IDLE_BEFORE_RESUME).await.unwrap(), 0, "a parked sign-up waits for a person");
    // The caller sends it again once the bank is back: it resumes and ends active.
    let hub = world.hub(&world.bank_url).await;
    let agreement = hub.sign_agreement(sign_request(), "operator", "k3").await.unwrap();
    assert_eq!(agreement.id, queue.signups[0].id);
    assert!(hub.exceptions().await.unwrap().signups.is_empty());
}
