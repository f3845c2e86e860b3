//! Hospital–bank agreements (医院与银行的合作协议, issue 18) end to end, and the audit log written
//! before the action. An operator adds, lists, suspends and resumes agreements over the API with
//! stable codes; the receiving account never leaves the hub unmasked; a day's payout to a pair
//! without an agreement is held, then paid once after the operator adds one, naming its account;
//! a patient cannot switch seamless payment on at a hospital whose agreement with their bank is
//! suspended; every audited action has its `attempt` entry before its outcome; the operator's
//! chain check reads only what is new, and the full walk still finds a row edited before it.
//!
//! SQLite here; every query is the store's own (no dialect of its own), so the file is ready for
//! the PostgreSQL suite (`.ci/run`) as it is.

use serde_json::{json, Value};
use wugan::his::{fee_line, HisClient};
use wugan::system::{self, System};

mod common;

const BANK: &str = "BANK01";
const ACCOUNT: &str = "6222021234567890123";
const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";
const ZHANG_SAN: (&str, &str) = ("440301199001011234", "张三");
/// Far in the future, so that every visit of the test is before its end.
const DAY: &str = "2099-01-01";

struct Hub {
    sys: System,
    operator: HisClient,
    his: HisClient,
    hospital: String,
    dir: common::TempDir,
}

async fn hub(label: &str) -> Hub {
    let (mut opts, dir) = common::fresh_options(label).await;
    opts.manual_recovery = true;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let hospital = sys.credentials.hospitals[0].code.clone();
    Hub { sys, operator, his, hospital, dir }
}

impl Hub {
    async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        let reply = self.operator.post_with_key(path, key, &body).await.expect("the hub answers");
        (reply.status, reply.body)
    }

    async fn list(&self, query: &str) -> Vec<Value> {
        let reply = self.operator.get(&format!("/api/v1/operator/hospital-banks{query}")).await.expect("the hub answers");
        assert!(reply.ok(), "{reply:?}");
        reply.body.as_array().cloned().unwrap_or_default()
    }

    /// A signed patient's visit at the hospital, settled by the doctor's click; the bank's share.
    async fn settled_visit(&self, n: u32) -> i64 {
        let reg = json!({"ipt_otp_no": format!("HB{n}"), "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN});
        let visit = self.his.post_with_key("/api/v1/visits", &format!("reg{n}"), &reg).await.expect("hub");
        let id = visit.body["id"].as_str().expect("visit id").to_string();
        let lines = json!({"lines": [fee_line("1", "013100000010000", "150.00", "8", "1200.00")]});
        assert!(self.his.post_with_key(&format!("/api/v1/visits/{id}/fees"), &format!("fees{n}"), &lines).await.expect("hub").ok());
        let click =
            self.his.post_with_key(&format!("/api/v1/visits/{id}/settlement"), &format!("click{n}"), &json!({})).await.expect("hub");
        assert_eq!(click.body["state"], "settled", "{click:?}");
        click.body["bank_fen"].as_i64().expect("the bank's share")
    }
}

fn code(body: &Value) -> Option<&str> {
    body["error"]["code"].as_str()
}

#[tokio::test]
async fn an_operator_adds_lists_suspends_and_resumes_agreements_and_the_account_stays_sealed() {
    let h = hub("hospital-banks-crud").await;
    // What migrates: serve's bank serves the credentials file's hospitals as before.
    let seeded = h.list(&format!("?hospital_code={}", h.hospital)).await;
    assert_eq!(seeded.len(), 1, "{seeded:?}");
    assert_eq!(
        (seeded[0]["bank_code"].as_str(), seeded[0]["status"].as_str(), seeded[0]["source"].as_str()),
        (Some(BANK), Some("active"), Some("seeded"))
    );

    let onboarded = h.post("/api/v1/operator/hospitals", "h-new", json!({"code": "H900", "name": "新院"})).await;
    assert_eq!(onboarded.0, 200, "{onboarded:?}");
    let path = "/api/v1/operator/hospital-banks";
    let added = h.post(path, "hb-1", json!({"hospital_code": "H900", "bank_code": BANK, "account_no": "6222 0212 3456 7890 123"})).await;
    assert_eq!(added.0, 200, "{added:?}");
    assert_eq!(
        (added.1["account_masked"].as_str(), added.1["status"].as_str(), added.1["source"].as_str()),
        (Some("****0123"), Some("active"), Some("operator"))
    );
    let replayed = h.post(path, "hb-1", json!({"hospital_code": "H900", "bank_code": BANK, "account_no": "6222 0212 3456 7890 123"})).await;
    assert_eq!(replayed, added, "the same Idempotency-Key answers the same");

    // Refusals of schema-valid requests, each with its stable code.
    for (key, body, expect) in [
        ("hb-2", json!({"hospital_code": "H900", "bank_code": BANK, "account_no": ACCOUNT}), (409, "hospital_bank_exists")),
        ("hb-3", json!({"hospital_code": "NOPE", "bank_code": BANK, "account_no": ACCOUNT}), (422, "unknown_hospital")),
        ("hb-4", json!({"hospital_code": "H900", "bank_code": "BANK99", "account_no": ACCOUNT}), (422, "unknown_bank")),
        ("hb-5", json!({"hospital_code": "H900", "bank_code": BANK, "account_no": "6222-0212"}), (422, "bad_account")),
        ("hb-6", json!({"hospital_code": "H900", "bank_code": BANK, "account_no": "1234567"}), (422, "bad_account")),
    ] {
        let (status, answer) = h.post(path, key, body.clone()).await;
        assert_eq!((status, code(&answer)), (expect.0, Some(expect.1)), "{body}: {answer}");
    }
    let missing = h.post("/api/v1/operator/hospital-banks/NOPE/BANK01/suspend", "hb-7", json!({})).await;
    assert_eq!((missing.0, code(&missing.1)), (404, Some("hospital_bank_not_found")));

    let suspended = h.post("/api/v1/operator/hospital-banks/H900/BANK01/suspend", "hb-8", json!({})).await;
    assert_eq!((suspended.0, suspended.1["status"].as_str()), (200, Some("suspended")), "{suspended:?}");
    let of_bank = h.list(&format!("?bank_code={BANK}")).await;
    let statuses: Vec<(&str, &str)> =
        of_bank.iter().map(|a| (a["hospital_code"].as_str().unwrap_or_default(), a["status"].as_str().unwrap_or_default())).collect();
    assert!(statuses.contains(&("H900", "suspended")) && statuses.contains(&(h.hospital.as_str(), "active")), "{statuses:?}");
    let resumed = h.post("/api/v1/operator/hospital-banks/H900/BANK01/resume", "hb-9", json!({})).await;
    assert_eq!((resumed.0, resumed.1["status"].as_str()), (200, Some("active")));

    // The account is in no answer, no audit entry and not in the database file unsealed.
    let everything = format!("{:?}{:?}", h.list("").await, h.operator.get("/api/v1/operator/audit").await.expect("hub").body);
    assert!(!everything.contains(ACCOUNT) && !everything.contains("6222 0212"), "the account leaked: {everything}");
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&h.sys.database_url).await.expect("the hub's database");
    let stored: Vec<(String,)> =
        sqlx::query_as("SELECT COALESCE(account_enc, '') FROM hospital_banks").fetch_all(&pool).await.expect("the agreements");
    pool.close().await;
    assert_eq!(stored.iter().filter(|(sealed,)| !sealed.is_empty()).count(), 1, "H900's account is stored: {stored:?}");
    assert!(stored.iter().all(|(sealed,)| !sealed.contains(ACCOUNT)), "sealed, on either database");
    // SQLite's files too (the write-ahead log holds recent pages).
    for file in ["hub.db", "hub.db-wal"] {
        let bytes = std::fs::read(h.dir.0.join(file)).unwrap_or_default();
        assert!(!bytes.windows(ACCOUNT.len()).any(|w| w == ACCOUNT.as_bytes()), "the account is sealed at rest ({file})");
    }

    // The operator's page shows the table masked; a bank's clerk reads their bank's agreements.
    for (login, role, bank) in [("ops1", "operator", None), ("bank1", "bank", Some(BANK))] {
        let request = serde_json::from_value(json!({"login": login, "display_name": login, "role": role, "bank_code": bank,
            "password": "correct horse battery staple", "totp": false}));
        h.sys.app.add_staff(request.expect("a staff request")).await.expect("staff added");
    }
    let page = staff_get(&h, "ops1", "/ops/banks").await;
    assert!(page.contains("id=\"hospital-banks\"") && page.contains("****0123") && !page.contains(ACCOUNT), "the /ops/ table");
    let mine: Value = serde_json::from_str(&staff_get(&h, "bank1", "/api/v1/staff/bank/hospitals").await).expect("json");
    let banks: Vec<&str> = mine.as_array().into_iter().flatten().filter_map(|a| a["bank_code"].as_str()).collect();
    assert!(banks.len() >= 2 && banks.iter().all(|b| *b == BANK), "{mine}");
    // Their desk in the console: /console/ leads a bank's clerk there; their bank's hospitals and
    // agreements, the account masked.
    let desk = staff_get(&h, "bank1", "/console/").await;
    assert!(desk.contains("id=\"bank-hospitals\"") && desk.contains(BANK) && desk.contains("****0123"), "the bank desk: {desk}");
    assert!(!desk.contains(ACCOUNT), "the account masked on the desk");
    let hospital_page = staff_get(&h, "ops1", "/console/bank").await;
    assert!(!hospital_page.contains("bank-hospitals"), "only a bank's staff read the desk");
    h.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_payout_without_an_agreement_is_held_then_paid_once_to_the_account_after_one_is_added() {
    let h = hub("hospital-banks-payout").await;
    let signed = h.operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": BANK})).await.expect("hub");
    assert!(signed.ok(), "{signed:?}");
    let captured = h.settled_visit(1).await;
    // The seeded agreement is removed, as for a hospital the operator has not contracted yet.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&h.sys.database_url).await.expect("the hub's database");
    sqlx::query("DELETE FROM hospital_banks").execute(&pool).await.expect("deleted");
    pool.close().await;

    let held = h.sys.app.clear_day(DAY).await.expect("the day clears");
    assert!(held.payouts.is_empty(), "nothing instructed: {held:?}");
    assert_eq!(held.held.len(), 1, "{held:?}");
    assert_eq!((held.held[0].hospital_code.as_str(), held.held[0].amount_fen), (h.hospital.as_str(), captured));
    assert!(held.held[0].reason.contains("no agreement"), "{:?}", held.held[0]);

    let body = json!({"hospital_code": h.hospital, "bank_code": BANK, "account_no": ACCOUNT});
    assert_eq!(h.post("/api/v1/operator/hospital-banks", "hb-add", body).await.0, 200);
    let paid = h.sys.app.clear_day(DAY).await.expect("the day clears again");
    assert!(paid.held.is_empty(), "{paid:?}");
    let payouts: Vec<(&str, i64, Option<&str>)> =
        paid.payouts.iter().map(|p| (p.state.as_str(), p.amount_fen, p.payee_account.as_deref())).collect();
    assert_eq!(payouts, [("paid", captured, Some("****0123"))], "paid once, to the account the agreement names");
    let again = h.sys.app.clear_day(DAY).await.expect("and again");
    assert_eq!((again.payouts.len(), again.paid_fen, again.held.len()), (1, captured, 0), "never paid twice");
    assert!(!format!("{again:?}").contains(ACCOUNT));
    h.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_suspended_agreement_refuses_switching_seamless_on_and_the_audit_log_has_the_attempt_first() {
    let h = hub("hospital-banks-switch").await;
    let signed = h.operator.sign_up("02", ZHANG_SAN.0, false, json!({"method": "credit_line", "bank_code": BANK})).await.expect("hub");
    assert!(signed.ok(), "{signed:?}");
    let zhang = patient_token(&h, "13900139000").await;
    let visit = h.his.register("SW1", "02", ZHANG_SAN.0).await.expect("hub");
    let visit = visit.body["id"].as_str().expect("visit id").to_string();
    let switch = format!("/api/v1/patient/visits/{visit}/seamless");
    let off = patient_call(&h, &switch, &zhang, json!({"enabled": false})).await;
    assert_eq!(off.0, 200, "{off:?}");

    let suspend = format!("/api/v1/operator/hospital-banks/{}/{BANK}/suspend", h.hospital);
    assert_eq!(h.post(&suspend, "sus-1", json!({})).await.0, 200);
    let on = patient_call(&h, &switch, &zhang, json!({"enabled": true})).await;
    assert_eq!((on.0, code(&on.1)), (409, Some("hospital_bank_suspended")), "{on:?}");
    let still_off = patient_call(&h, &switch, &zhang, json!({"enabled": false})).await;
    assert_eq!(still_off.0, 200, "switching off is never refused: {still_off:?}");
    let resume = format!("/api/v1/operator/hospital-banks/{}/{BANK}/resume", h.hospital);
    assert_eq!(h.post(&resume, "res-1", json!({})).await.0, 200);
    let on = patient_call(&h, &switch, &zhang, json!({"enabled": true})).await;
    assert_eq!(on.0, 200, "{on:?}");

    // Audit before the action: the suspension's `attempt` entry comes before its outcome.
    let entries = h.sys.app.store.audit_entries(None, 500).await.expect("the audit log");
    let of_suspend: Vec<(i64, &str)> = entries.iter().filter(|e| e.target == suspend).map(|e| (e.seq, e.outcome.as_str())).rev().collect();
    assert_eq!(of_suspend.iter().map(|(_, o)| *o).collect::<Vec<_>>(), ["attempt", "ok"], "{of_suspend:?}");
    assert!(of_suspend[0].0 < of_suspend[1].0);
    let refused: Vec<&str> = entries.iter().filter(|e| e.target == switch).map(|e| e.outcome.as_str()).rev().collect();
    assert_eq!(
        refused,
        ["attempt", "ok", "attempt", "refused 409", "attempt", "ok", "attempt", "ok"],
        "a refused action keeps its attempt"
    );
    h.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_chain_check_reads_only_new_entries_and_the_full_walk_finds_an_edit_before_the_checkpoint() {
    let h = hub("hospital-banks-audit").await;
    for n in 0..3 {
        let body = json!({"code": format!("H8{n}"), "name": "院"});
        assert_eq!(h.post("/api/v1/operator/hospitals", &format!("h{n}"), body).await.0, 200);
    }
    let first = h.sys.app.audit_health().await.expect("checked");
    assert!(first.intact && first.entries == 6 && first.checked == 6, "attempt and outcome of three onboardings: {first:?}");
    let quiet = h.sys.app.audit_health().await.expect("checked");
    assert_eq!((quiet.entries, quiet.checked, quiet.intact), (6, 0, true), "nothing new, nothing read");
    assert_eq!(h.post("/api/v1/operator/hospitals", "h3", json!({"code": "H83", "name": "院"})).await.0, 200);
    let next = h.sys.app.audit_health().await.expect("checked");
    assert_eq!((next.entries, next.checked, next.intact), (8, 2, true), "only the two new entries");

    // An edit before the checkpoint: the incremental check does not read it; the full walk finds it.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&h.sys.database_url).await.expect("the hub's database");
    sqlx::query("UPDATE audit_log SET outcome = 'refused 403' WHERE seq = 2").execute(&pool).await.expect("edited");
    pool.close().await;
    assert!(h.sys.app.audit_health().await.expect("checked").intact, "before the checkpoint: for the full walk");
    let verdict = wugan::staff::verify(&h.sys.app.store).await;
    assert!(verdict.is_err_and(|e| e.to_string().contains("entry 2")), "wugan audit verify finds it");
    h.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

/// Signs `login` in and reads `path` with the session cookie; the body as text.
async fn staff_get(h: &Hub, login: &str, path: &str) -> String {
    let http = reqwest::Client::new();
    let body = json!({"login": login, "password": "correct horse battery staple"}).to_string();
    let signed = http.post(format!("{}/api/v1/staff/sessions", h.sys.hub_url)).body(body).send().await.expect("hub");
    let cookie = signed.headers().get("set-cookie").and_then(|v| v.to_str().ok()).and_then(|c| c.split(';').next()).map(str::to_string);
    let cookie = cookie.unwrap_or_else(|| panic!("{login} signs in"));
    let page = http.get(format!("{}{path}", h.sys.hub_url)).header("cookie", cookie).send().await.expect("hub");
    assert_eq!(page.status().as_u16(), 200, "{login} reads {path}");
    page.text().await.unwrap_or_default()
}

/// Signs a patient in by the texted code and binds Zhang San's real name; the bearer token.
async fn patient_token(h: &Hub, mobile: &str) -> String {
    let http = reqwest::Client::new();
    let sent = http.post(format!("{}/api/v1/patient/sign-in-codes", h.sys.hub_url)).json(&json!({"mobile": mobile})).send().await;
    assert_eq!(sent.expect("hub").status().as_u16(), 202);
    let outbox = std::fs::read_to_string(h.dir.0.join("sms-outbox.log")).expect("the SMS outbox");
    let line = outbox.lines().rev().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|m| m["to"] == mobile).expect("a code");
    let code: String = line["text"].as_str().unwrap_or_default().chars().filter(char::is_ascii_digit).take(6).collect();
    let session =
        http.post(format!("{}/api/v1/patient/sessions", h.sys.hub_url)).json(&json!({"mobile": mobile, "code": code})).send().await;
    let session: Value = session.expect("hub").json().await.expect("json");
    let token = session["token"].as_str().expect("a session").to_string();
    let identity = json!({"certno": ZHANG_SAN.0, "name": ZHANG_SAN.1, "face_check_ref": "FACE-9"});
    assert_eq!(patient_call(h, "/api/v1/patient/me/identity", &token, identity).await.0, 200);
    token
}

async fn patient_call(h: &Hub, path: &str, token: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", h.sys.hub_url))
        .bearer_auth(token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .expect("the hub answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
