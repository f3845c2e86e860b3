//! The hub's edge, end to end over HTTP: who may call what (every route, every kind of caller, and a
//! hospital that is not the visit's), keys revoked, rotated and dropped from credentials.json, text
//! rules, body limits before a byte is read, rate limits, owner-only files.

use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wugan::his::{HisClient, Reply};
use wugan::keys::{self, KeyCommand};
use wugan::system::{self, System};
use wugan_hub::api::limits::Rate;
use wugan_hub::api::Access::{self, Bank, Hospital, Operator, Patient, Public, Scraper, Staff};
use wugan_hub::model::Role;

mod common;

const EMPLOYEE_CERTNO: &str = "440301199001011234";

/// The authorization matrix: every route of the hub with the access this test expects of it. A
/// route added to `api::routes` without its line here fails `every_route_is_in_the_matrix`.
const MATRIX: &[(&str, &str, Access)] = &[
    ("GET", "/health", Public),
    ("GET", "/ready", Public),
    ("GET", "/openapi.json", Public),
    ("GET", "/docs", Public),
    ("GET", "/docs/openapi.json", Public),
    ("POST", "/api/v1/agreements", Operator),
    ("GET", "/api/v1/agreements/{id}", Operator),
    ("POST", "/api/v1/agreements/{id}/revoke", Operator),
    ("POST", "/api/v1/agreements/{id}/family", Operator),
    ("POST", "/api/v1/agreements/{id}/family/{link}/revoke", Operator),
    ("POST", "/api/v1/agreements/{id}/repayments", Operator),
    ("GET", "/api/v1/agreements/{id}/statements", Operator),
    ("POST", "/api/v1/agreements/{id}/limit-requests", Operator),
    ("POST", "/api/v1/visits", Hospital),
    ("GET", "/api/v1/visits/{id}", Hospital),
    ("POST", "/api/v1/visits/{id}/fees", Hospital),
    ("POST", "/api/v1/visits/{id}/pre-settlement", Hospital),
    ("POST", "/api/v1/visits/{id}/settlement", Hospital),
    ("POST", "/api/v1/visits/{id}/settlement/cancel", Hospital),
    ("POST", "/api/v1/visits/{id}/refunds", Hospital),
    ("GET", "/api/v1/visits/{id}/refunds", Hospital),
    ("GET", "/api/v1/visits/{id}/refunds/{refund_id}", Hospital),
    ("POST", "/api/v1/visits/{id}/registration/cancel", Hospital),
    ("POST", "/api/v1/visits/{id}/fees/withdraw", Hospital),
    ("POST", "/api/v1/cash-settlements", Hospital),
    ("POST", "/api/v1/visits/{id}/cash-settlement/cancel", Hospital),
    ("POST", "/ni/{token}/fsi/api/rsfComIfsService/callService", Public),
    ("POST", "/api/v1/stays", Hospital),
    ("GET", "/api/v1/stays", Hospital),
    ("GET", "/api/v1/stays/{id}", Hospital),
    ("POST", "/api/v1/stays/{id}/fees", Hospital),
    ("POST", "/api/v1/stays/{id}/discharge", Hospital),
    ("POST", "/api/v1/stays/{id}/interim_settlement", Hospital),
    ("POST", "/api/v1/stays/{id}/deposit", Hospital),
    ("POST", "/api/v1/stays/{id}/discharge/cancel", Hospital),
    ("POST", "/api/v1/stays/{id}/cancel", Hospital),
    ("POST", "/api/v1/stays/{id}/settlement/cancel", Hospital),
    ("POST", "/api/v1/stays/{id}/interim_settlements/{n}/cancel", Hospital),
    ("POST", "/api/v1/stays/{id}/fees/withdraw", Hospital),
    ("GET", "/api/v1/ledger", Operator),
    ("GET", "/api/v1/ledger/journal", Operator),
    ("GET", "/api/v1/operator/visits/{id}", Operator),
    ("GET", "/api/v1/exceptions", Operator),
    ("POST", "/api/v1/bank-callbacks/{bank_code}", Bank),
    ("POST", "/api/v1/exceptions/{id}/retry", Operator),
    ("POST", "/api/v1/exceptions/stays/{id}/retry", Operator),
    ("GET", "/api/v1/operator/stays", Operator),
    ("GET", "/api/v1/operator/stays/{id}", Operator),
    ("POST", "/api/v1/exceptions/refunds/{id}/retry", Operator),
    ("POST", "/api/v1/exceptions/fee_withdrawals/{id}/retry", Operator),
    ("POST", "/api/v1/exceptions/fee_withdrawals/{id}/resolve", Operator),
    ("POST", "/api/v1/stays/{id}/admission", Hospital),
    ("GET", "/api/v1/patient/family-invitations", Patient),
    ("POST", "/api/v1/patient/family-invitations/{id}/accept", Patient),
    ("POST", "/api/v1/patient/family-invitations/{id}/decline", Patient),
    ("GET", "/api/v1/operator/hospitals/{code}/platform", Operator),
    ("POST", "/api/v1/operator/hospitals/{code}/platform", Operator),
    ("POST", "/api/v1/reconciliations", Operator),
    ("POST", "/api/v1/clearings", Operator),
    ("POST", "/api/v1/exceptions/reconciliation/handled", Operator),
    ("POST", "/api/v1/clearings/insurance", Operator),
    ("POST", "/api/v1/clearings/insurance/{id}/withdraw", Operator),
    ("GET", "/api/v1/hospitals/{code}/statements/{date}", Hospital),
    ("GET", "/api/v1/operator/hospitals/{code}/statements/{date}", Operator),
    ("GET", "/metrics", Scraper),
    ("GET", "/api/v1/invoices", Hospital),
    ("GET", "/api/v1/invoices/{id}", Hospital),
    ("GET", "/api/v1/invoices/{id}/pdf", Hospital),
    ("GET", "/api/v1/invoices/{id}/html", Hospital),
    ("GET", "/api/v1/operator/invoices/{id}", Operator),
    ("GET", "/api/v1/operator/invoices/{id}/pdf", Operator),
    ("GET", "/api/v1/operator/invoices/{id}/html", Operator),
    ("POST", "/verify", Public),
    ("GET", "/invoices/verify", Public),
    ("POST", "/api/v1/staff/sessions", Public),
    ("POST", "/api/v1/staff/sessions/end", Staff),
    ("GET", "/api/v1/staff/me", Staff),
    ("GET", "/api/v1/staff/bank/agreements", Staff),
    ("GET", "/api/v1/operator/staff", Operator),
    ("POST", "/api/v1/operator/staff", Operator),
    ("GET", "/api/v1/operator/audit", Operator),
    ("GET", "/api/v1/operator/hospitals", Operator),
    ("POST", "/api/v1/operator/hospitals", Operator),
    ("POST", "/api/v1/operator/hospitals/{code}/deposit_policy", Operator),
    ("GET", "/api/v1/operator/banks", Operator),
    ("POST", "/api/v1/operator/banks", Operator),
    ("GET", "/api/v1/operator/hospital-banks", Operator),
    ("POST", "/api/v1/operator/hospital-banks", Operator),
    ("POST", "/api/v1/operator/hospital-banks/{hospital}/{bank}/suspend", Operator),
    ("POST", "/api/v1/operator/hospital-banks/{hospital}/{bank}/resume", Operator),
    ("GET", "/api/v1/staff/bank/hospitals", Staff),
    ("GET", "/api/v1/operator/keys", Operator),
    ("POST", "/api/v1/operator/keys", Operator),
    ("POST", "/api/v1/operator/keys/{key_id}/rotate", Operator),
    ("POST", "/api/v1/operator/keys/{key_id}/revoke", Operator),
    ("GET", "/api/v1/operator/visits", Operator),
    ("GET", "/api/v1/operator/webhook-deliveries", Operator),
    ("GET", "/api/v1/visits", Hospital),
    ("GET", "/api/v1/webhook-endpoints", Hospital),
    ("POST", "/api/v1/webhook-endpoints", Hospital),
    ("GET", "/api/v1/webhook-deliveries", Hospital),
    ("POST", "/api/v1/webhook-deliveries/{id}/replay", Hospital),
    ("POST", "/api/v1/patient/sign-in-codes", Public),
    ("POST", "/api/v1/patient/sessions", Public),
    ("POST", "/api/v1/patient/sessions/current/revoke", Patient),
    ("GET", "/api/v1/patient/me", Patient),
    ("POST", "/api/v1/patient/me/identity", Patient),
    ("GET", "/api/v1/patient/agreements/{id}", Patient),
    ("GET", "/api/v1/patient/agreement-text", Public),
    ("POST", "/api/v1/patient/agreements", Patient),
    ("GET", "/api/v1/patient/agreements", Patient),
    ("POST", "/api/v1/patient/agreements/{id}/revoke", Patient),
    ("GET", "/api/v1/patient/consents", Patient),
    ("GET", "/api/v1/agreements/{id}/consents", Operator),
    ("GET", "/api/v1/patient/visits", Patient),
    ("GET", "/api/v1/patient/stays", Patient),
    ("GET", "/api/v1/patient/stay_invoices", Patient),
    ("POST", "/api/v1/patient/visits/{id}/estimate", Patient),
    ("POST", "/api/v1/patient/agreements/{id}/repayments", Patient),
    ("POST", "/api/v1/patient/agreements/{id}/family", Patient),
    ("POST", "/api/v1/patient/agreements/{id}/family/{link}/revoke", Patient),
    ("GET", "/api/v1/patient/agreements/{id}/family/{link}/qr", Patient),
    ("GET", "/api/v1/patient/notifications", Patient),
    ("GET", "/api/v1/patient/qr", Patient),
    ("GET", "/api/v1/patient/invoices/{id}/html", Patient),
    ("GET", "/api/v1/patient/invoices/{id}/pdf", Patient),
    ("GET", "/api/v1/patient/seamless", Patient),
    ("POST", "/api/v1/patient/seamless", Patient),
    ("POST", "/api/v1/patient/visits/{id}/seamless", Patient),
    ("GET", "/api/v1/patient/bills", Patient),
    ("POST", "/api/v1/patient/bills/{id}/pay", Patient),
    ("GET", "/api/v1/patient/agreements/{id}/statements", Patient),
    ("POST", "/api/v1/patient/agreements/{id}/limit-requests", Patient),
    ("POST", "/api/v1/patient/special-diseases", Patient),
    ("GET", "/api/v1/patient/special-diseases", Patient),
    ("GET", "/api/v1/patient/special-diseases/{id}", Patient),
    ("POST", "/api/v1/patient/special-diseases/{id}/revoke", Patient),
    ("POST", "/api/v1/patient/claims", Patient),
    ("GET", "/api/v1/patient/claims", Patient),
    ("GET", "/api/v1/patient/claims/{id}", Patient),
];

#[test]
fn every_route_is_in_the_matrix() {
    let mut routes: Vec<String> = wugan_hub::api::route_table().iter().map(|(m, p, rule)| format!("{m} {p} {:?}", rule.access)).collect();
    let mut matrix: Vec<String> = MATRIX.iter().map(|(m, p, a)| format!("{m} {p} {a:?}")).collect();
    routes.sort();
    matrix.sort();
    assert_eq!(routes, matrix, "api::routes and this test's MATRIX differ: give every route its line");
}

/// The kinds of caller.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Nobody,
    UnknownKey,
    /// A hospital key that was revoked.
    RevokedKey,
    /// An operator key rotated, whose grace period is over.
    ExpiredKey,
    Operator,
    /// The hospital whose visit the paths name.
    OwnHospital,
    /// Another hospital (another tenant).
    OtherHospital,
}

const EVERYONE: [Who; 7] =
    [Who::Nobody, Who::UnknownKey, Who::RevokedKey, Who::ExpiredKey, Who::Operator, Who::OwnHospital, Who::OtherHospital];

/// What a caller may get from a route of this access.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Past the edge (whatever the use case answers then, but never 401, 403 or a missing visit).
    Served,
    /// 404 as for a visit that does not exist: another hospital's visit.
    NotFound,
    Refused(u16, &'static str),
}

fn expected(access: Access, who: Who, names_a_visit: bool) -> Outcome {
    use Outcome::*;
    match (access, who) {
        (Public, _) => Served,
        (Bank, _) => Refused(401, "bad_signature"),
        // Staff routes take a session (tests/staff.rs walks them with every role); no key opens them.
        (Staff, _) => Refused(401, "unauthorized"),
        // No API key opens a patient's routes: only a patient's session (tests/patients.rs).
        (Patient, _) => Refused(401, "unauthorized"),
        (_, Who::Nobody | Who::UnknownKey) => Refused(401, "unauthorized"),
        (_, Who::RevokedKey | Who::ExpiredKey) => Refused(401, "key_revoked"),
        (Operator | Scraper, Who::Operator) => Served,
        (Operator | Scraper, _) => Refused(403, "forbidden"),
        (Hospital, Who::Operator) => Refused(403, "forbidden"),
        (Hospital, Who::OtherHospital) if names_a_visit => NotFound,
        (Hospital, _) => Served,
    }
}

struct World {
    sys: System,
    http: reqwest::Client,
    revoked_key: String,
    expired_key: String,
    agreement_id: String,
    visit_id: String,
    _dir: common::TempDir,
}

async fn world_with(opts_edit: impl FnOnce(&mut system::SystemOptions)) -> World {
    let (mut opts, dir) = common::fresh_options("security").await;
    opts_edit(&mut opts);
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let agreement = operator.sign_up("02", EMPLOYEE_CERTNO, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(agreement.ok(), "{agreement:?}");
    let visit = his.register("MZ-SEC-1", "02", EMPLOYEE_CERTNO).await.unwrap();
    assert!(visit.ok(), "{visit:?}");
    let store = &sys.app.store;
    let revoked_key = "his_revoked_for_the_matrix".to_string();
    let hash = wugan_hub::api::hash_api_key(&revoked_key);
    let key_id = store.issue_api_key(&hash, Role::Hospital, Some(&sys.credentials.hospitals[0].code), None).await.unwrap();
    assert!(store.revoke_api_key(&key_id).await.unwrap());
    let expired_key = "op_rotated_for_the_matrix".to_string();
    let key_id = store.issue_api_key(&wugan_hub::api::hash_api_key(&expired_key), Role::Operator, None, None).await.unwrap();
    assert!(store.expire_api_key(&key_id, &store.now()).await.unwrap());
    World {
        http: reqwest::Client::new(),
        revoked_key,
        expired_key,
        agreement_id: agreement.body["id"].as_str().unwrap().to_string(),
        visit_id: visit.body["id"].as_str().unwrap().to_string(),
        sys,
        _dir: dir,
    }
}

impl World {
    fn key_of(&self, who: Who) -> Option<String> {
        let c = &self.sys.credentials;
        match who {
            Who::Nobody => None,
            Who::UnknownKey => Some("his_0000000000000000".into()),
            Who::RevokedKey => Some(self.revoked_key.clone()),
            Who::ExpiredKey => Some(self.expired_key.clone()),
            Who::Operator => Some(c.operator_api_key.clone()),
            Who::OwnHospital => Some(c.hospitals[0].api_key.clone()),
            Who::OtherHospital => Some(c.hospitals[1].api_key.clone()),
        }
    }

    /// The route's path with its parameters filled in: the world's agreement and visit.
    fn path_of(&self, template: &str, visit_id: &str) -> String {
        let id = if template.starts_with("/api/v1/agreements") { self.agreement_id.as_str() } else { visit_id };
        let id = if template.starts_with("/api/v1/exceptions") { "set_none" } else { id };
        let hospital = self.sys.credentials.hospitals[0].code.as_str();
        let template = template.replace("{code}", hospital).replace("{date}", "2026-12-01");
        template.replace("{id}", id).replace("{link}", "fam_none").replace("{bank_code}", "BANK01").replace("{key_id}", "key_none")
    }

    async fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<&str>) -> Reply {
        let url = format!("{}{path}", self.sys.hub_url);
        let mut request = self.http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if method == "POST" {
            request = request.header("idempotency-key", uuid::Uuid::new_v4().to_string()).body(body.unwrap_or("{}").to_string());
        }
        let response = request.send().await.expect("the hub answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
    }
}

#[tokio::test]
async fn every_caller_gets_what_the_matrix_says_of_every_route() {
    let w = world_with(|_| {}).await;
    let mut wrong = Vec::new();
    for (method, template, access) in MATRIX {
        let names_a_visit = template.starts_with("/api/v1/visits/");
        for who in EVERYONE {
            let key = w.key_of(who);
            let body = body_for(template);
            let reply = w.call(method, &w.path_of(template, &w.visit_id), key.as_deref(), body.as_deref()).await;
            let outcome = match (reply.status, reply.code()) {
                (404, Some("visit_not_found")) => Outcome::NotFound,
                (401 | 403, code) => Outcome::Refused(reply.status, code.map(leak).unwrap_or("")),
                _ => Outcome::Served,
            };
            let expect = expected(*access, who, names_a_visit);
            if outcome != expect {
                wrong.push(format!("{method} {template} as {who:?}: expected {expect:?}, got {} {}", reply.status, reply.body));
            }
            if expect == Outcome::NotFound {
                // Another hospital's visit answers exactly like a visit that does not exist.
                let missing_visit = w.path_of(template, "vis_00000000000000000000000000000000");
                let missing = w.call(method, &missing_visit, key.as_deref(), body.as_deref()).await;
                if (missing.status, missing.code()) != (reply.status, reply.code()) {
                    wrong.push(format!("{method} {template}: another hospital's visit answers {reply:?}, a missing one {missing:?}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "the authorization matrix does not hold:\n{}", wrong.join("\n"));
}

/// A body the route reads past its shape, so that what is checked is who may call it.
fn body_for(template: &str) -> Option<String> {
    template.ends_with("/fees").then(|| json!({"lines": [wugan::his::fee_line("1", "001102000010000", "25.00", "1", "25.00")]}).to_string())
}

fn leak(code: &str) -> &'static str {
    Box::leak(code.to_string().into_boxed_str())
}

#[tokio::test]
async fn a_rotated_key_works_through_its_grace_period_and_a_revoked_one_stops_at_once() {
    let w = &world_with(|_| {}).await;
    let store = &w.sys.app.store;
    let hospital_key = w.sys.credentials.hospitals[0].api_key.clone();
    let key_id = wugan_hub::store::key_id_of(&wugan_hub::api::hash_api_key(&hospital_key));
    let get_visit = |key: String| {
        let path = format!("/api/v1/visits/{}", w.visit_id);
        async move { w.call("GET", &path, Some(&key), None).await }
    };
    assert_eq!(get_visit(hospital_key.clone()).await.status, 200);

    // Rotation: a new key, printed once; the old one keeps working through the grace period.
    let printed = keys::run(store, KeyCommand::Rotate { key_id: key_id.clone(), grace: Duration::from_secs(3600) }).await.unwrap();
    let new_key = printed.lines().find(|l| l.starts_with("his_")).expect("the new key is printed").to_string();
    assert_eq!(get_visit(new_key.clone()).await.status, 200, "the new key works");
    assert_eq!(get_visit(hospital_key.clone()).await.status, 200, "the old key works during its grace period");

    // The listing names keys, never shows them, and says who used them.
    let listing = keys::run(store, KeyCommand::List).await.unwrap();
    assert!(!listing.contains(&new_key) && !listing.contains(&hospital_key), "{listing}");
    assert!(listing.lines().any(|l| l.starts_with(&key_id) && l.contains("active until")), "{listing}");

    // Revoked: at once, with its own code.
    keys::run(store, KeyCommand::Revoke { key_id: key_id.clone() }).await.unwrap();
    let refused = get_visit(hospital_key.clone()).await;
    assert_eq!((refused.status, refused.code()), (401, Some("key_revoked")), "{refused:?}");
    assert_eq!(get_visit(new_key.clone()).await.status, 200);

    // A rotation with no grace period ends the old key now.
    let new_id = wugan_hub::store::key_id_of(&wugan_hub::api::hash_api_key(&new_key));
    keys::run(store, KeyCommand::Rotate { key_id: new_id, grace: Duration::ZERO }).await.unwrap();
    assert_eq!(get_visit(new_key).await.code(), Some("key_revoked"));
}

#[tokio::test]
async fn keys_credentials_json_no_longer_lists_stop_working_at_the_next_start() {
    let (opts, _dir) = common::fresh_options("unlisted").await;
    let sys = system::start(&opts).await.expect("system starts");
    let dropped = sys.credentials.hospitals[1].api_key.clone();
    sys.stop();
    // The operator replaces the second hospital's key in credentials.json.
    let path = opts.data_dir.join("credentials.json");
    let mut credentials: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    credentials["hospitals"][1]["api_key"] = json!("his_a_new_key_for_the_second_hospital");
    std::fs::write(&path, credentials.to_string()).unwrap();
    let sys = system::start(&opts).await.expect("system restarts");
    let old = visit_with(&sys, &dropped).await;
    assert_eq!((old.status, old.code()), (401, Some("key_revoked")), "{old:?}");
    assert_eq!(visit_with(&sys, "his_a_new_key_for_the_second_hospital").await.code(), Some("visit_not_found"));
    // Listing it again does not bring it back.
    credentials["hospitals"][1]["api_key"] = json!(dropped);
    std::fs::write(&path, credentials.to_string()).unwrap();
    sys.stop();
    let sys = system::start(&opts).await.expect("system restarts");
    assert_eq!(visit_with(&sys, &dropped).await.code(), Some("key_revoked"));
}

async fn visit_with(sys: &System, key: &str) -> Reply {
    HisClient::new(&sys.hub_url, key).raw("GET", "/api/v1/visits/vis_none", None, None).await.expect("the hub answers")
}

#[tokio::test]
async fn text_fields_and_path_ids_take_no_control_characters_and_no_more_than_their_length() {
    let w = &world_with(|_| {}).await;
    let his = w.key_of(Who::OwnHospital);
    let register = |extra: Value| {
        let mut body = json!({"ipt_otp_no": "MZ-TXT-1", "mdtrt_cert_type": "02", "mdtrt_cert_no": EMPLOYEE_CERTNO});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let his = his.clone();
        async move { w.call("POST", "/api/v1/visits", his.as_deref(), Some(&body.to_string())).await }
    };
    for (extra, code) in [
        (json!({"dr_name": "Dr\u{0}Evil"}), "bad_characters"),
        (json!({"dept_name": "ward\r\nX-Injected: 1"}), "bad_characters"),
        (json!({"dr_name": "\u{1b}]0;pwned\u{7}"}), "bad_characters"),
        (json!({"dr_name": "\u{202e}gnp.exe"}), "bad_characters"),
        (json!({"dept_name": "科".repeat(101)}), "field_too_long"),
        (json!({"ipt_otp_no": "9".repeat(31)}), "field_too_long"),
    ] {
        let reply = register(extra.clone()).await;
        assert_eq!((reply.status, reply.code()), (422, Some(code)), "{extra}: {reply:?}");
    }
    assert!(register(json!({"dr_name": "王医生", "dept_name": "内科"})).await.ok());
    for bad_id in ["vis%00x", "vis%1b%5b2J", "%E2%80%AEvis", &"v".repeat(65)] {
        let reply = w.call("GET", &format!("/api/v1/visits/{bad_id}"), his.as_deref(), None).await;
        assert_eq!((reply.status, reply.code()), (400, Some("bad_path_parameter")), "{bad_id}: {reply:?}");
    }
}

/// Sends `head` on a fresh connection, then nothing; returns the status line of the answer.
async fn answer_to_head(hub_url: &str, head: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(hub_url.trim_start_matches("http://")).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await.expect("answered before the body came").unwrap();
    String::from_utf8_lossy(&answer[..n]).lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn large_bodies_are_refused_unread_and_only_after_the_key() {
    let w = world_with(|_| {}).await;
    let host = w.sys.hub_url.trim_start_matches("http://").to_string();
    // Unauthenticated, with a 2 MB body announced: refused for the key, without waiting for the body.
    let anonymous =
        format!("POST /api/v1/visits HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: 2000000\r\n\r\n");
    assert!(answer_to_head(&w.sys.hub_url, &anonymous).await.contains("401"));
    // Authenticated: over the route's limit, refused before it is read.
    let key = w.key_of(Who::OwnHospital).unwrap();
    let head = |length: usize, path: &str| {
        format!("POST {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {key}\r\nidempotency-key: k1\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n")
    };
    assert!(answer_to_head(&w.sys.hub_url, &head(2_000_000, "/api/v1/visits")).await.contains("413"));
    assert!(answer_to_head(&w.sys.hub_url, &head(17 * 1024, "/api/v1/visits")).await.contains("413"));
    // A fee upload may be larger than a command, not without end.
    let fees = format!("/api/v1/visits/{}/fees", w.visit_id);
    assert!(answer_to_head(&w.sys.hub_url, &head(2 * 1024 * 1024, &fees)).await.contains("413"));
    // A body without a length, larger than the limit as it streams in.
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let chunked = format!("POST /api/v1/visits HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {key}\r\nidempotency-key: k2\r\ntransfer-encoding: chunked\r\n\r\n");
    stream.write_all(chunked.as_bytes()).await.unwrap();
    for _ in 0..5 {
        stream.write_all(format!("1000\r\n{}\r\n", "x".repeat(4096)).as_bytes()).await.unwrap();
    }
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 413"), "{}", String::from_utf8_lossy(&answer[..n]));
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_per_key_and_per_address() {
    let w = world_with(|opts| opts.edge.api.rate_per_key = Some(Rate { per_second: 1, burst: 5 })).await;
    let path = format!("/api/v1/visits/{}", w.visit_id);
    let own = w.key_of(Who::OwnHospital);
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(w.call("GET", &path, own.as_deref(), None).await.status);
    }
    // The world's registration took one already: four more pass, then 429.
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429, 429]);
    let limited = w.http.get(format!("{}{path}", w.sys.hub_url)).bearer_auth(own.unwrap()).send().await.unwrap();
    assert!(limited.headers().get("retry-after").is_some_and(|v| v == "1"));
    // Another key has a bucket of its own.
    assert_eq!(w.call("GET", &path, w.key_of(Who::OtherHospital).as_deref(), None).await.code(), Some("visit_not_found"));

    let w = world_with(|opts| opts.edge.api.rate_per_address = Some(Rate { per_second: 1, burst: 30 })).await;
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(w.call("GET", "/health", None, None).await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_and_its_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (mut opts, _dir) = common::fresh_options("modes").await;
    opts.database_url = None; // the SQLite database in the data folder, whatever the environment says
                              // A folder someone made readable by all is tightened.
    std::fs::create_dir_all(&opts.data_dir).unwrap();
    std::fs::set_permissions(&opts.data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    operator.sign_up("02", EMPLOYEE_CERTNO, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    let mode = |name: &str| std::fs::metadata(opts.data_dir.join(name)).map(|m| m.permissions().mode() & 0o777).ok();
    assert_eq!(std::fs::metadata(&opts.data_dir).unwrap().permissions().mode() & 0o777, 0o700);
    for file in ["credentials.json", "hub.db", "hub.db-wal", "hub.db-shm"] {
        assert_eq!(mode(file), Some(0o600), "{file}");
    }
}
