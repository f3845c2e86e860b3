//! The staff side, end to end over HTTP: staff sign in and act within their role and tenant (the
//! authorization matrix: every staff route and every key route × every role × a foreign
//! hospital), sessions end, the audit log records sign-ins and money-changing actions and its
//! chain finds an edited row, the lookups an HIS needs, and webhooks signed, retried and replayed.

use serde_json::{json, Value};
use std::time::Duration;
use wugan::his::{fee_line, HisClient, Reply};
use wugan::system::{self, System};
use wugan_hub::api::Access;
use wugan_hub::app::staff::{NewStaffRequest, StaffRole};

mod common;

const EMPLOYEE_CERTNO: &str = "440301199001011234";
const PASSWORD: &str = "a long staff password";

/// A signed-in staff member: the cookie and the CSRF token their requests carry.
struct Session {
    role: StaffRole,
    /// Of another hospital than the world's visit.
    foreign: bool,
    cookie: String,
    csrf: String,
}

struct World {
    sys: System,
    http: reqwest::Client,
    /// The world's hospital's HIS (its idempotency keys are unique within this client).
    his: HisClient,
    visit_id: String,
    agreement_id: String,
    _dir: common::TempDir,
}

async fn world(worker_interval: Option<Duration>) -> World {
    let (mut opts, dir) = common::fresh_options("staff").await;
    opts.worker_interval = worker_interval;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let agreement = operator.sign_up("02", EMPLOYEE_CERTNO, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(agreement.ok(), "{agreement:?}");
    let visit = his.register("MZ-STAFF-1", "02", EMPLOYEE_CERTNO).await.unwrap();
    assert!(visit.ok(), "{visit:?}");
    World {
        his,
        http: reqwest::Client::new(),
        visit_id: visit.body["id"].as_str().unwrap().to_string(),
        agreement_id: agreement.body["id"].as_str().unwrap().to_string(),
        sys,
        _dir: dir,
    }
}

impl World {
    fn hospital(&self, i: usize) -> String {
        self.sys.credentials.hospitals[i].code.clone()
    }

    async fn add_staff(&self, login: &str, role: StaffRole, hospital: Option<String>) {
        let request = NewStaffRequest {
            login: login.into(),
            display_name: format!("{login} 同志"),
            role: role.as_str().into(),
            hospital_code: hospital,
            bank_code: (role == StaffRole::Bank).then(|| "BANK01".to_string()),
            password: PASSWORD.into(),
            totp: false,
        };
        self.sys.app.add_staff(request).await.expect("a staff account is added");
    }

    async fn sign_in(&self, login: &str, password: &str) -> (Reply, Option<String>) {
        let response = self
            .http
            .post(format!("{}/api/v1/staff/sessions", self.sys.hub_url))
            .body(json!({"login": login, "password": password}).to_string())
            .send()
            .await
            .expect("the hub answers");
        let cookie =
            response.headers().get("set-cookie").and_then(|v| v.to_str().ok()).and_then(|c| c.split(';').next()).map(str::to_string);
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (Reply { status, body }, cookie)
    }

    async fn session(&self, login: &str, role: StaffRole, foreign: bool) -> Session {
        let (reply, cookie) = self.sign_in(login, PASSWORD).await;
        assert!(reply.ok(), "{login} signs in: {reply:?}");
        let cookie = cookie.expect("a session cookie");
        Session { role, foreign, cookie, csrf: reply.body["csrf_token"].as_str().unwrap().to_string() }
    }

    /// A request as a session (with its CSRF token unless `csrf` is false).
    async fn call(&self, s: &Session, method: &str, path: &str, body: Option<&str>, csrf: bool) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let is_post = method == reqwest::Method::POST;
        let mut request = self.http.request(method, format!("{}{path}", self.sys.hub_url)).header("cookie", &s.cookie);
        if csrf {
            request = request.header("x-csrf-token", &s.csrf);
        }
        if is_post {
            request = request.header("idempotency-key", uuid::Uuid::new_v4().to_string()).body(body.unwrap_or("{}").to_string());
        }
        let response = request.send().await.expect("the hub answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
    }

    fn path_of(&self, template: &str) -> String {
        let id = if template.starts_with("/api/v1/agreements") { self.agreement_id.as_str() } else { self.visit_id.as_str() };
        let id = if template.starts_with("/api/v1/exceptions") || template.starts_with("/api/v1/webhook") { "none" } else { id };
        template
            .replace("{code}", &self.hospital(0))
            .replace("{date}", "2026-12-01")
            .replace("{id}", id)
            .replace("{link}", "fam_none")
            .replace("{key_id}", "key_none")
    }
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Served,
    /// Answered like a visit that does not exist: another hospital's.
    NotFound,
    Refused(u16),
}

/// What a session of `role` gets from a route.
fn expected(access: Access, s: &Session, method: &str, template: &str) -> Outcome {
    use Outcome::*;
    let may = s.role.may(&method.parse().unwrap(), template);
    match access {
        Access::Staff if template.starts_with("/api/v1/staff/bank/") && s.role != StaffRole::Bank => Refused(403),
        Access::Staff => Served,
        Access::Operator | Access::Scraper if s.role == StaffRole::Operator => Served,
        Access::Operator | Access::Scraper => Refused(403),
        Access::Hospital if !s.role.is_hospital_staff() || !may => Refused(403),
        Access::Hospital if s.foreign && template.starts_with("/api/v1/visits/") => NotFound,
        Access::Hospital => Served,
        Access::Public | Access::Bank => Served,
        // A patient's routes open to a patient's session only (tests/patients.rs), never a staff one.
        Access::Patient => Refused(401),
    }
}

#[tokio::test]
async fn every_staff_role_gets_what_its_work_needs_of_every_route_and_nothing_of_another_hospital() {
    let w = world(None).await;
    let roles = [
        ("ops1", StaffRole::Operator, None, false),
        ("doc1", StaffRole::Doctor, Some(w.hospital(0)), false),
        ("cash1", StaffRole::Cashier, Some(w.hospital(0)), false),
        ("fin1", StaffRole::Finance, Some(w.hospital(0)), false),
        ("bank1", StaffRole::Bank, None, false),
        ("cash2", StaffRole::Cashier, Some(w.hospital(1)), true),
        ("doc2", StaffRole::Doctor, Some(w.hospital(1)), true),
    ];
    let mut sessions = Vec::new();
    for (login, role, hospital, foreign) in roles {
        w.add_staff(login, role, hospital).await;
        sessions.push(w.session(login, role, foreign).await);
    }
    let mut wrong = Vec::new();
    for (method, template, rule) in wugan_hub::api::route_table() {
        if matches!(rule.access, Access::Public | Access::Bank) || template.ends_with("/sessions/end") {
            continue;
        }
        // A body the route reads past its shape, so that what is checked is who may call it.
        let fees = json!({"lines": [fee_line("1", "001102000010000", "25.00", "1", "25.00")]}).to_string();
        let body = template.ends_with("/fees").then_some(fees.as_str());
        for s in &sessions {
            let reply = w.call(s, method.as_str(), &w.path_of(template), body, true).await;
            let outcome = match (reply.status, reply.code()) {
                (404, Some("visit_not_found")) => Outcome::NotFound,
                (401 | 403, _) => Outcome::Refused(reply.status),
                _ => Outcome::Served,
            };
            let expect = expected(rule.access, s, method.as_str(), template);
            if outcome != expect {
                wrong.push(format!(
                    "{method} {template} as {:?} (foreign: {}): expected {expect:?}, got {} {}",
                    s.role, s.foreign, reply.status, reply.body
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "the staff authorization matrix does not hold:\n{}", wrong.join("\n"));

    // A change without the session's CSRF token is refused; a signed-out session opens nothing.
    let cashier = &sessions[2];
    let forged = w.call(cashier, "POST", &format!("/api/v1/visits/{}/settlement", w.visit_id), None, false).await;
    assert_eq!((forged.status, forged.code()), (403, Some("forbidden")), "{forged:?}");
    assert!(w.call(cashier, "POST", "/api/v1/staff/sessions/end", None, true).await.ok());
    let after = w.call(cashier, "GET", "/api/v1/staff/me", None, true).await;
    assert_eq!((after.status, after.code()), (401, Some("session_expired")), "{after:?}");
}

#[tokio::test]
async fn sign_ins_and_money_changing_actions_are_audited_and_the_chain_finds_an_edited_row() {
    let w = world(None).await;
    w.add_staff("cash1", StaffRole::Cashier, Some(w.hospital(0))).await;
    let (wrong_password, cookie) = w.sign_in("cash1", "not the password at all").await;
    assert_eq!((wrong_password.status, wrong_password.code(), cookie.is_none()), (401, Some("bad_credentials"), true));
    let (unknown, _) = w.sign_in("nobody", PASSWORD).await;
    assert_eq!(unknown.code(), Some("bad_credentials"), "an unknown login answers like a wrong password");
    let cashier = w.session("cash1", StaffRole::Cashier, false).await;

    // The cashier enters the fees and settles: the click is in the audit log, the fees are not.
    let fees = json!({"lines": [fee_line("S1", "001102000010000", "25.00", "1", "25.00")]}).to_string();
    let uploaded = w.call(&cashier, "POST", &format!("/api/v1/visits/{}/fees", w.visit_id), Some(&fees), true).await;
    assert!(uploaded.ok(), "{uploaded:?}");
    let settled = w.call(&cashier, "POST", &format!("/api/v1/visits/{}/settlement", w.visit_id), None, true).await;
    assert!(settled.ok(), "{settled:?}");
    assert_eq!(settled.body["state"], "settled", "{settled:?}");

    let store = &w.sys.app.store;
    let entries = store.audit_entries(None, 100).await.unwrap();
    let lines: Vec<(String, String, String)> =
        entries.iter().rev().map(|e| (e.actor.clone(), e.action.clone(), e.outcome.clone())).collect();
    let line = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        lines,
        vec![
            // The operator key that signed the patient up (consent): its attempt before it ran, then its outcome.
            (lines[0].0.clone(), "POST /api/v1/agreements".to_string(), "attempt".to_string()),
            (lines[0].0.clone(), "POST /api/v1/agreements".to_string(), "ok".to_string()),
            line("staff:cash1", "sign_in", "bad_credentials"),
            line("staff:nobody", "sign_in", "bad_credentials"),
            line("staff:cash1", "sign_in", "ok"),
            line("staff:cash1", "POST /api/v1/visits/{id}/settlement", "attempt"),
            line("staff:cash1", "POST /api/v1/visits/{id}/settlement", "ok"),
        ]
    );
    assert!(lines[0].0.starts_with("key:") || lines[0].0.starts_with("key_"), "{lines:?}");
    assert_eq!(store.verify_audit_log().await.unwrap(), (7, vec![]));
    let verified = wugan::staff::verify(store).await.expect("an intact chain verifies");
    assert!(verified.contains("7 entries"), "{verified}");

    // Someone edits the sign-in's address in the database: the chain says which row.
    let db = sqlx::AnyPool::connect(&w.sys.database_url).await.unwrap();
    sqlx::query("UPDATE audit_log SET address = '10.0.0.9' WHERE seq = 4").execute(&db).await.unwrap();
    let (count, findings) = store.verify_audit_log().await.unwrap();
    assert_eq!((count, findings.iter().map(|f| f.seq).collect::<Vec<_>>()), (7, vec![4]), "{findings:?}");
    let refused = wugan::staff::verify(store).await.expect_err("an edited chain fails");
    assert!(refused.to_string().contains("entry 4"), "{refused}");
}

#[tokio::test]
async fn an_his_finds_its_visits_by_its_own_number_pages_through_them_and_learns_which_visit_exists() {
    let w = world(None).await;
    let his = &w.his;
    for i in 2..=5 {
        assert!(his.register(&format!("MZ-STAFF-{i}"), "02", EMPLOYEE_CERTNO).await.unwrap().ok());
    }
    let found = his.get("/api/v1/visits?ipt_otp_no=MZ-STAFF-1").await.unwrap();
    assert_eq!(found.body["visits"][0]["id"], w.visit_id.as_str(), "{found:?}");
    assert_eq!(found.body["visits"].as_array().map(Vec::len), Some(1));

    // Five visits, pages of two: newest first, every visit once, the last page says so.
    let (mut seen, mut after) = (Vec::new(), String::new());
    for _ in 0..5 {
        let page = his.get(&format!("/api/v1/visits?limit=2{after}")).await.unwrap();
        assert!(page.ok(), "{page:?}");
        seen.extend(page.body["visits"].as_array().unwrap().iter().map(|v| v["ipt_otp_no"].as_str().unwrap().to_string()));
        match page.body["next_after"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["MZ-STAFF-5", "MZ-STAFF-4", "MZ-STAFF-3", "MZ-STAFF-2", "MZ-STAFF-1"]);
    // A cursor that is no page's: refused, not a page from somewhere.
    for garbage in ["garbage", "vis_zzz"] {
        assert_eq!(his.get(&format!("/api/v1/visits?after={garbage}")).await.unwrap().code(), Some("bad_query"), "{garbage}");
    }
    let first = his.get("/api/v1/visits?after=&limit=2").await.unwrap();
    assert_eq!(first.body["visits"][0]["ipt_otp_no"], "MZ-STAFF-5", "an empty cursor is the first page: {first:?}");

    // A day is the China business day (UTC+8): the visit is on the China date of its UTC time.
    let created = found.body["visits"][0]["created_at"].as_str().unwrap();
    let created = time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339).unwrap();
    let china_day = |t: time::OffsetDateTime| t.to_offset(time::macros::offset!(+8)).date().to_string();
    let on = |day: String| format!("/api/v1/visits?ipt_otp_no=MZ-STAFF-1&day={day}");
    let that_day = his.get(&on(china_day(created))).await.unwrap();
    assert_eq!(that_day.body["visits"][0]["id"], w.visit_id.as_str(), "{that_day:?}");
    for other_day in [created - time::Duration::DAY, created + time::Duration::DAY] {
        assert_eq!(his.get(&on(china_day(other_day))).await.unwrap().body["visits"], json!([]));
    }

    // Another hospital finds none of them; a bad filter is refused.
    let other = HisClient::new(&w.sys.hub_url, &w.sys.credentials.hospitals[1].api_key);
    assert_eq!(other.get("/api/v1/visits?ipt_otp_no=MZ-STAFF-1").await.unwrap().body["visits"], json!([]));
    assert_eq!(his.get("/api/v1/visits?status=paid").await.unwrap().code(), Some("bad_query"));

    // Registering the same number again names the visit that has it.
    let again = his.register("MZ-STAFF-1", "02", EMPLOYEE_CERTNO).await.unwrap();
    assert_eq!((again.status, again.code()), (409, Some("visit_exists")));
    assert_eq!(again.body["error"]["visit_id"], w.visit_id.as_str(), "{again:?}");
}

/// A hospital's webhook receiver: answers 500 until told otherwise, keeps what it was sent.
#[derive(Clone, Default)]
struct Receiver {
    received: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    accept: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

async fn start_receiver() -> (Receiver, String) {
    let receiver = Receiver::default();
    let state = receiver.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let state = state.clone();
            async move {
                let signature = headers.get("wugan-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                state.received.lock().unwrap().push((signature, body));
                if state.accept.load(std::sync::atomic::Ordering::SeqCst) {
                    axum::http::StatusCode::OK
                } else {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (receiver, url)
}

/// Polls `check` until it holds (at most 30 s): the worker runs on its own beat.
async fn eventually<F: Fn() -> Fut, Fut: std::future::Future<Output = bool>>(what: &str, check: F) {
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} never happened");
}

#[tokio::test]
async fn a_settlement_is_posted_to_the_hospital_signed_retried_when_refused_and_replayed() {
    let w = world(Some(Duration::from_millis(200))).await;
    let (receiver, url) = start_receiver().await;
    let his = &w.his;
    let endpoint = his.post("/api/v1/webhook-endpoints", &json!({"url": url})).await.unwrap();
    assert!(endpoint.ok(), "{endpoint:?}");
    let secret = endpoint.body["secret"].as_str().unwrap().to_string();
    assert_eq!(his.post("/api/v1/webhook-endpoints", &json!({"url": "ftp://his.example"})).await.unwrap().code(), Some("bad_url"));

    assert!(his.upload_fees(&w.visit_id, &[fee_line("W1", "001102000010000", "25.00", "1", "25.00")]).await.unwrap().ok());
    let settled = his.settle(&w.visit_id).await.unwrap();
    assert_eq!(settled.body["state"], "settled", "{settled:?}");

    // The first deliveries are refused (500): they stay pending, with their answer, for a retry
    // later. The click made two events: the settlement, and its invoice.
    let deliveries = || async { his.get("/api/v1/webhook-deliveries").await.unwrap().body };
    let of_kind =
        |all: &Value, kind: &str| all.as_array().into_iter().flatten().find(|d| d["kind"] == kind).cloned().unwrap_or(Value::Null);
    eventually("refused attempts", || async {
        let all = deliveries().await;
        of_kind(&all, "settlement.settled")["attempts"] == 1 && of_kind(&all, "invoice.issued")["attempts"] == 1
    })
    .await;
    let d = of_kind(&deliveries().await, "settlement.settled");
    assert_eq!((d["status"].as_str(), d["last_status"].as_i64()), (Some("pending"), Some(500)), "{d}");
    assert!(d["next_attempt_at"].as_str() > d["created_at"].as_str(), "retried later: {d}");

    // The hospital fixes its receiver and replays the settlement's delivery: delivered, signed
    // with its secret.
    receiver.accept.store(true, std::sync::atomic::Ordering::SeqCst);
    let other = HisClient::new(&w.sys.hub_url, &w.sys.credentials.hospitals[1].api_key);
    let replay_path = format!("/api/v1/webhook-deliveries/{}/replay", d["id"].as_str().unwrap());
    assert_eq!(other.post(&replay_path, &json!({})).await.unwrap().code(), Some("delivery_not_found"), "not another hospital's");
    assert!(his.post(&replay_path, &json!({})).await.unwrap().ok());
    eventually("the replayed delivery", || async { of_kind(&deliveries().await, "settlement.settled")["status"] == "delivered" }).await;

    let received = receiver.received.lock().unwrap().clone();
    let mut kinds = Vec::new();
    for (signature, body) in &received {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        wugan_bank_protocol::signing::verify_callback(&secret, signature, body.as_bytes(), now, 300).expect("signed with the secret");
        assert!(wugan_bank_protocol::signing::verify_callback("whsec_other", signature, body.as_bytes(), now, 300).is_err());
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["data"]["visit_id"].as_str(), Some(w.visit_id.as_str()));
        kinds.push((event["type"].as_str().unwrap_or_default().to_string(), event["data"]["invoice_kind"].as_str().map(str::to_string)));
    }
    kinds.sort();
    let settled = ("settlement.settled".to_string(), None);
    assert_eq!(
        kinds,
        vec![("invoice.issued".to_string(), Some("blue".to_string())), settled.clone(), settled],
        "refused, refused, replayed"
    );
    // A delivery's signature is refused once it is older than the 5-minute tolerance.
    let (signature, body) = &received[0];
    let later = time::OffsetDateTime::now_utc().unix_timestamp() + 301;
    assert!(wugan_bank_protocol::signing::verify_callback(&secret, signature, body.as_bytes(), later, 300).is_err());
}

/// RFC 4648 base32 (an authenticator app's reading of the secret).
fn base32_decode(text: &str) -> Vec<u8> {
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {c}"),
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}

#[tokio::test]
async fn an_account_enrolled_in_totp_signs_in_with_its_authenticators_code_only() {
    let w = world(None).await;
    let request = NewStaffRequest {
        login: "ops-totp".into(),
        display_name: "运营".into(),
        role: "operator".into(),
        hospital_code: None,
        bank_code: None,
        password: PASSWORD.into(),
        totp: true,
    };
    let added = w.sys.app.add_staff(request).await.unwrap();
    let secret = base32_decode(added.totp_secret.as_deref().expect("the secret, shown once"));
    assert!(added.otpauth_uri.unwrap().starts_with("otpauth://totp/wugan:ops-totp?secret="));

    let (without, cookie) = w.sign_in("ops-totp", PASSWORD).await;
    assert_eq!((without.status, without.code(), cookie), (401, Some("totp_required"), None));
    let sign_in_with = |code: String| {
        let http = w.http.clone();
        let url = format!("{}/api/v1/staff/sessions", w.sys.hub_url);
        async move {
            let body = json!({"login": "ops-totp", "password": PASSWORD, "totp": code}).to_string();
            http.post(url).body(body).send().await.unwrap().status().as_u16()
        }
    };
    let step = time::OffsetDateTime::now_utc().unix_timestamp() / 30;
    assert_eq!(sign_in_with(wugan_hub::app::staff::totp_code(&secret, step + 5)).await, 401, "a code of another time");
    assert_eq!(sign_in_with(wugan_hub::app::staff::totp_code(&secret, step)).await, 200);
}

#[tokio::test]
async fn five_refused_sign_ins_lock_a_login_for_a_quarter_of_an_hour_even_with_the_right_password() {
    let w = world(None).await;
    w.add_staff("cash1", StaffRole::Cashier, Some(w.hospital(0))).await;
    w.add_staff("cash2", StaffRole::Cashier, Some(w.hospital(0))).await;
    for _ in 0..5 {
        assert_eq!(w.sign_in("cash1", "a guess at the password").await.0.code(), Some("bad_credentials"));
    }
    let (locked, cookie) = w.sign_in("cash1", PASSWORD).await;
    assert_eq!((locked.status, locked.code(), cookie), (429, Some("too_many_attempts"), None));
    assert!(w.sign_in("cash2", PASSWORD).await.0.ok(), "another login is not locked");
}

#[tokio::test]
async fn finance_reads_the_days_statement_in_the_console_and_downloads_it_as_csv() {
    let w = world(None).await;
    w.add_staff("cash1", StaffRole::Cashier, Some(w.hospital(0))).await;
    w.add_staff("fin1", StaffRole::Finance, Some(w.hospital(0))).await;
    w.add_staff("bank1", StaffRole::Bank, None).await;
    let cashier = w.session("cash1", StaffRole::Cashier, false).await;
    let fees = json!({"lines": [fee_line("S1", "001102000010000", "25.00", "1", "25.00")]}).to_string();
    assert!(w.call(&cashier, "POST", &format!("/api/v1/visits/{}/fees", w.visit_id), Some(&fees), true).await.ok());
    let settled = w.call(&cashier, "POST", &format!("/api/v1/visits/{}/settlement", w.visit_id), None, true).await;
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    let bank_fen = settled.body["bank_fen"].as_i64().expect("the bank's share");

    let finance = w.session("fin1", StaffRole::Finance, false).await;
    let page = w.call(&finance, "GET", "/console/statement", None, true).await;
    let html = page.body.as_str().unwrap_or_default();
    assert_eq!(page.status, 200, "{html}");
    assert!(html.contains("日结单") && html.contains(r#"id="statement-settled">1<"#), "one settlement today: {html}");
    let yuan = wugan_web::money::yuan(bank_fen);
    assert!(html.contains(&format!(r#"id="statement-bank">{yuan}"#)), "the bank's {yuan}: {html}");
    let csv = w.call(&finance, "GET", "/console/statement.csv", None, true).await;
    let text = csv.body.as_str().unwrap_or_default();
    assert_eq!(csv.status, 200, "{text}");
    assert!(text.starts_with("settlement_id,visit_id,state,") && text.contains("\nTOTAL,1,settled,"), "{text}");
    // The settlement's e-invoice in the console's list, opened as its printable page (issue 16).
    let invoices = w.call(&cashier, "GET", "/console/invoices", None, true).await;
    let html = invoices.body.as_str().unwrap_or_default();
    assert_eq!(invoices.status, 200, "{html}");
    assert!(html.contains(r#"id="invoice-list""#) && html.contains("蓝票") && html.contains("/html\""), "one blue invoice: {html}");
    let not_a_day = w.call(&finance, "GET", "/console/statement?date=2026-02-30", None, true).await;
    assert!(not_a_day.body.as_str().unwrap_or_default().contains("没有可显示的日结单"), "{not_a_day:?}");

    // The operator's day totals are the store's sums over every visit of the China day (not a
    // page of them): two visits, one settled, its money by source and by bank.
    assert!(w.his.register("MZ-STAFF-2", "02", EMPLOYEE_CERTNO).await.unwrap().ok());
    let today = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8)).date().to_string();
    let rows = w.sys.app.operator_day(&today).await.expect("the day's totals");
    let ours =
        |f: fn(&wugan_hub::store::DayFiguresRow) -> i64| rows.iter().filter(|r| r.hospital_code == w.hospital(0)).map(f).sum::<i64>();
    assert_eq!((ours(|r| r.visits), ours(|r| r.settled), ours(|r| r.bank_fen), ours(|r| r.cancelled)), (2, 1, bank_fen, 0), "{rows:?}");
    assert_eq!(ours(|r| r.medfee_fen), 2500, "{rows:?}");
    let by_bank = rows.iter().find(|r| r.bank_code.as_deref() == Some("BANK01")).expect("the bank's row");
    assert_eq!((by_bank.settled, by_bank.bank_fen), (1, bank_fen), "{rows:?}");

    // A bank's clerk is no hospital's staff: the console asks them to sign in.
    let clerk = w.session("bank1", StaffRole::Bank, false).await;
    let refused = w.call(&clerk, "GET", "/console/statement", None, true).await;
    assert!(!refused.body.as_str().unwrap_or_default().contains("statement-settled"), "{refused:?}");
}

#[tokio::test]
async fn the_ward_admits_with_the_deposit_held_and_a_doctor_discharges_at_the_bedside_from_the_console() {
    let w = world(None).await;
    w.add_staff("cash1", StaffRole::Cashier, Some(w.hospital(0))).await;
    w.add_staff("doc1", StaffRole::Doctor, Some(w.hospital(0))).await;
    w.add_staff("doc2", StaffRole::Doctor, Some(w.hospital(1))).await;
    let cashier = w.session("cash1", StaffRole::Cashier, false).await;

    // The admissions desk admits with a 3,000 yuan deposit held on the patient's line.
    let admit = json!({"ipt_no": "ZY-WARD-1", "mdtrt_cert_type": "02", "mdtrt_cert_no": EMPLOYEE_CERTNO, "deposit_fen": 300_000});
    let stay = w.call(&cashier, "POST", "/api/v1/stays", Some(&admit.to_string()), true).await;
    assert!(stay.ok(), "{stay:?}");
    assert_eq!((stay.body["state"].as_str(), stay.body["held_fen"].as_i64()), (Some("in_ward"), Some(300_000)), "{stay:?}");
    let id = stay.body["id"].as_str().unwrap().to_string();
    let list = w.call(&cashier, "GET", "/console/stays", None, true).await;
    let html = list.body.as_str().unwrap_or_default();
    assert!(html.contains("ZY-WARD-1") && html.contains("在院") && html.contains("¥3,000.00"), "{html}");

    // At the bedside the doctor enters the day's fees and discharges: settled from the hold.
    let doctor = w.session("doc1", StaffRole::Doctor, false).await;
    let fees = json!({"lines": [fee_line("D1", "001102000010000", "25.00", "2", "50.00")]}).to_string();
    let uploaded = w.call(&doctor, "POST", &format!("/api/v1/stays/{id}/fees"), Some(&fees), true).await;
    assert!(uploaded.ok(), "{uploaded:?}");
    let page = w.call(&doctor, "GET", &format!("/console/stays/{id}"), None, true).await;
    let html = page.body.as_str().unwrap_or_default();
    assert!(html.contains(r#"id="discharge-button""#) && !html.contains(r#"id="cancel-admission-button""#), "{html}");
    let settled = w.call(&doctor, "POST", &format!("/api/v1/stays/{id}/discharge"), None, true).await;
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    let split = &settled.body["settlement"];
    let paid = ["fund_fen", "personal_account_fen", "bank_fen"].iter().map(|k| split[k].as_i64().unwrap()).sum::<i64>();
    assert_eq!(paid, 5000, "the 50 yuan by source: {split}");
    let page = w.call(&doctor, "GET", &format!("/console/stays/{id}"), None, true).await;
    let html = page.body.as_str().unwrap_or_default();
    assert!(html.contains(r#"id="stay-split""#) && !html.contains(r#"id="discharge-button""#), "{html}");
    // The operator's day totals count the stay settled at the bedside, with its bank.
    let today = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8)).date().to_string();
    let rows = w.sys.app.operator_day(&today).await.expect("the day's totals");
    let stays: Vec<_> = rows.iter().filter(|r| r.hospital_code == w.hospital(0) && r.settled == 1 && r.visits == 0).collect();
    assert_eq!(stays.iter().map(|r| r.medfee_fen).sum::<i64>(), 5000, "{rows:?}");
    assert_eq!(stays.iter().map(|r| r.bank_fen).sum::<i64>(), split["bank_fen"].as_i64().unwrap(), "{rows:?}");
    assert!(stays.iter().all(|r| r.bank_code.as_deref() == Some("BANK01")), "{rows:?}");

    // Another hospital's doctor finds no such stay.
    let stranger = w.session("doc2", StaffRole::Doctor, true).await;
    assert_eq!(w.call(&stranger, "GET", &format!("/console/stays/{id}"), None, true).await.status, 404);
}

/// Many actions audited at the same moment (64 sign-ups at once, on PostgreSQL from many
/// connections): each gets its entry, none is refused for a taken number, and the chain is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_actions_audited_at_once_all_land_in_one_unbroken_chain() {
    let w = world(None).await;
    let app = w.sys.app.clone();
    let (before, _) = app.store.verify_audit_log().await.expect("the chain reads");
    let mut appends = tokio::task::JoinSet::new();
    for i in 0..64 {
        let app = app.clone();
        appends.spawn(async move {
            let entry = wugan_hub::store::NewAuditEntry {
                actor: format!("staff:desk{i}"),
                action: "sign_in".into(),
                target: String::new(),
                address: "127.0.0.1".into(),
                outcome: "ok".into(),
            };
            app.store.append_audit(entry).await
        });
    }
    while let Some(appended) = appends.join_next().await {
        appended.expect("the task ran").expect("every append lands");
    }
    let (after, findings) = app.store.verify_audit_log().await.expect("the chain reads");
    assert_eq!((after - before, findings.len()), (64, 0), "{findings:?}");
}
