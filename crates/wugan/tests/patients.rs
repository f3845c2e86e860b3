//! The patient's own door, end to end over HTTP: a code by text message (read from the data
//! folder's SMS outbox, as a developer would), its limits, a session as cookie (with CSRF) or
//! bearer token, the real-name binding once, and the authorization matrix of every patient route
//! × own / family-consented / stranger / nobody / hospital key / operator key / cookie without its
//! CSRF token.

use serde_json::{json, Value};
use wugan::his::HisClient;
use wugan::system::{self, System};

mod common;

const ZHANG_SAN: (&str, &str) = ("440301199001011234", "张三");
const ZHAO_LIU: (&str, &str) = ("440305199208084567", "赵六");
/// Born 2012: a minor, linked by guardian proof.
const CHEN_XIAOMING: &str = "440306201205056727";
/// An adult whose visits Zhang San's agreement pays (亲情付, with Wang Wu's own consent).
const WANG_WU: (&str, &str) = ("440304198507203318", "王五");

struct Door {
    sys: System,
    http: reqwest::Client,
    _dir: common::TempDir,
}

#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    set_cookie: Option<String>,
}

impl Answer {
    fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }
}

/// How a call presents itself.
#[derive(Clone, Copy, Debug)]
enum As<'a> {
    Nobody,
    Bearer(&'a str),
    /// The session cookie, with or without its CSRF token.
    Cookie(&'a Session, bool),
}

#[derive(Debug, Clone)]
struct Session {
    token: String,
    csrf: String,
}

impl Door {
    async fn open() -> Door {
        let (opts, dir) = common::fresh_options("patients").await;
        let sys = system::start(&opts).await.expect("system starts");
        Door { sys, http: reqwest::Client::new(), _dir: dir }
    }

    async fn call(&self, method: &str, path: &str, who: As<'_>, body: Option<Value>) -> Answer {
        let url = format!("{}{path}", self.sys.hub_url);
        let mut request = self.http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
        match who {
            As::Nobody => {}
            As::Bearer(key) => request = request.bearer_auth(key),
            As::Cookie(session, with_csrf) => {
                request = request.header("cookie", format!("wg_session={}", session.token));
                if with_csrf {
                    request = request.header("x-csrf-token", &session.csrf);
                }
            }
        }
        if method == "POST" {
            let body = body.unwrap_or_else(|| json!({}));
            request = request.header("idempotency-key", uuid::Uuid::new_v4().to_string()).json(&body);
        }
        let response = request.send().await.expect("the hub answers");
        let status = response.status().as_u16();
        let set_cookie = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()).map(str::to_string);
        let text = response.text().await.unwrap_or_default();
        Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)), set_cookie }
    }

    /// The last code texted to `mobile`, from DATA_DIR/sms-outbox.log.
    fn texted_code(&self, mobile: &str) -> String {
        let outbox = std::fs::read_to_string(self.sys_data_dir().join("sms-outbox.log")).expect("the SMS outbox exists");
        let line = outbox
            .lines()
            .rev()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|m| m["to"] == mobile)
            .expect("a text to the number");
        let text = line["text"].as_str().unwrap();
        text.chars().filter(char::is_ascii_digit).collect::<String>().chars().take(6).collect()
    }

    fn sys_data_dir(&self) -> std::path::PathBuf {
        self._dir.0.clone()
    }

    async fn sign_in(&self, mobile: &str) -> Session {
        let sent = self.call("POST", "/api/v1/patient/sign-in-codes", As::Nobody, Some(json!({"mobile": mobile}))).await;
        assert_eq!(sent.status, 202, "{sent:?}");
        let code = self.texted_code(mobile);
        let session = self.call("POST", "/api/v1/patient/sessions", As::Nobody, Some(json!({"mobile": mobile, "code": code}))).await;
        assert_eq!(session.status, 201, "{session:?}");
        Session { token: session.body["token"].as_str().unwrap().into(), csrf: session.body["csrf_token"].as_str().unwrap().into() }
    }

    async fn bind(&self, session: &Session, (certno, name): (&str, &str)) -> Answer {
        let body = json!({"certno": certno, "name": name, "face_check_ref": "FACE-0001"});
        self.call("POST", "/api/v1/patient/me/identity", As::Bearer(&session.token), Some(body)).await
    }
}

#[tokio::test]
async fn a_patient_signs_in_with_the_texted_code_and_binds_their_real_name_once() {
    let door = Door::open().await;
    let mobile = "13800138000";
    let sent = door.call("POST", "/api/v1/patient/sign-in-codes", As::Nobody, Some(json!({"mobile": mobile}))).await;
    assert_eq!((sent.status, sent.body["expires_in_s"].as_u64()), (202, Some(300)), "{sent:?}");
    let code = door.texted_code(mobile);
    assert_eq!(code.len(), 6);

    // Another code within the minute is refused; a malformed number is said so.
    let again = door.call("POST", "/api/v1/patient/sign-in-codes", As::Nobody, Some(json!({"mobile": mobile}))).await;
    assert_eq!((again.status, again.code()), (429, Some("code_rate_limited")), "{again:?}");
    let bad = door.call("POST", "/api/v1/patient/sign-in-codes", As::Nobody, Some(json!({"mobile": "12345"}))).await;
    assert_eq!((bad.status, bad.code()), (422, Some("invalid_mobile")));

    // A wrong guess counts; the right code opens a session, as cookie and as token.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let guess = door.call("POST", "/api/v1/patient/sessions", As::Nobody, Some(json!({"mobile": mobile, "code": wrong}))).await;
    assert_eq!((guess.status, guess.code()), (422, Some("wrong_code")), "{guess:?}");
    let signed = door.call("POST", "/api/v1/patient/sessions", As::Nobody, Some(json!({"mobile": mobile, "code": code}))).await;
    assert_eq!(signed.status, 201, "{signed:?}");
    let cookie = signed.set_cookie.clone().expect("a session cookie");
    assert!(cookie.starts_with("wg_session=pat_") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "not over TLS here: {cookie}");
    // The code is used up.
    let replay = door.call("POST", "/api/v1/patient/sessions", As::Nobody, Some(json!({"mobile": mobile, "code": code}))).await;
    assert_eq!((replay.status, replay.code()), (422, Some("no_live_code")));

    let session =
        Session { token: signed.body["token"].as_str().unwrap().into(), csrf: signed.body["csrf_token"].as_str().unwrap().into() };
    let me = door.call("GET", "/api/v1/patient/me", As::Cookie(&session, false), None).await;
    assert_eq!((me.status, me.body["mobile"].as_str(), &me.body["identity"]), (200, Some("13*******00"), &Value::Null), "{me:?}");

    // The real name: a wrong name is refused, the right one binds once, another person never.
    let mismatch = door.bind(&session, (ZHANG_SAN.0, "李四")).await;
    assert_eq!((mismatch.status, mismatch.code()), (422, Some("identity_mismatch")), "{mismatch:?}");
    let bound = door.bind(&session, ZHANG_SAN).await;
    assert_eq!((bound.status, bound.body["identity"]["name"].as_str()), (200, Some("张*")), "{bound:?}");
    assert_eq!(door.bind(&session, ZHANG_SAN).await.status, 200, "the same binding again answers the same");
    let other = door.bind(&session, ZHAO_LIU).await;
    assert_eq!((other.status, other.code()), (409, Some("identity_already_bound")));
    let stranger = door.sign_in("13900139000").await;
    let taken = door.bind(&stranger, ZHANG_SAN).await;
    assert_eq!((taken.status, taken.code()), (409, Some("identity_taken")), "{taken:?}");

    // Signing out ends the session for cookie and token alike.
    let out = door.call("POST", "/api/v1/patient/sessions/current/revoke", As::Cookie(&session, true), None).await;
    assert_eq!(out.status, 200, "{out:?}");
    assert!(out.set_cookie.unwrap_or_default().contains("Max-Age=0"));
    assert_eq!(door.call("GET", "/api/v1/patient/me", As::Bearer(&session.token), None).await.status, 401);
}

#[tokio::test]
async fn five_wrong_guesses_use_a_code_up() {
    let door = Door::open().await;
    let mobile = "13700137000";
    door.call("POST", "/api/v1/patient/sign-in-codes", As::Nobody, Some(json!({"mobile": mobile}))).await;
    let code = door.texted_code(mobile);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mut codes = Vec::new();
    for _ in 0..5 {
        let guess = door.call("POST", "/api/v1/patient/sessions", As::Nobody, Some(json!({"mobile": mobile, "code": wrong}))).await;
        codes.push(guess.code().map(str::to_string));
    }
    assert!(codes.iter().all(|c| c.as_deref() == Some("wrong_code")), "{codes:?}");
    let right_too_late = door.call("POST", "/api/v1/patient/sessions", As::Nobody, Some(json!({"mobile": mobile, "code": code}))).await;
    assert_eq!(right_too_late.code(), Some("no_live_code"), "the sixth guess meets no code, right or not");
}

/// Who calls, for the matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Nobody,
    /// The patient the data belongs to (bearer token).
    Own,
    /// The same patient by cookie, without the CSRF token.
    OwnCookieWithoutCsrf,
    /// Another signed-in patient, bound to another person.
    Stranger,
    /// A family member who consented to Zhang San's agreement paying their visits: their own
    /// visit is seen and switched by both; nothing of Zhang San's is theirs.
    Family,
    HospitalKey,
    OperatorKey,
}

#[tokio::test]
async fn every_patient_route_serves_only_its_own_patient() {
    let door = Door::open().await;
    let operator = HisClient::new(&door.sys.hub_url, &door.sys.credentials.operator_api_key);
    let agreement = operator.sign_up("02", ZHANG_SAN.0, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(agreement.ok(), "{agreement:?}");
    let agreement_id = agreement.body["id"].as_str().unwrap().to_string();
    let own = door.sign_in("13800138001").await;
    assert_eq!(door.bind(&own, ZHANG_SAN).await.status, 200);
    let stranger = door.sign_in("13800138002").await;
    assert_eq!(door.bind(&stranger, ZHAO_LIU).await.status, 200);
    let member = json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": WANG_WU.0, "relation": "spouse",
                        "consent": {"method": "face", "reference": "FACE-WW"}});
    let linked = operator.post(&format!("/api/v1/agreements/{agreement_id}/family"), &member).await.unwrap();
    assert!(linked.ok(), "{linked:?}");
    let family = door.sign_in("13800138003").await;
    assert_eq!(door.bind(&family, WANG_WU).await.status, 200);
    let (hospital_key, operator_key) = (door.sys.credentials.hospitals[0].api_key.clone(), door.sys.credentials.operator_api_key.clone());

    let his = HisClient::new(&door.sys.hub_url, &door.sys.credentials.hospitals[0].api_key);
    let visit = his.register("MZ-M1", "02", ZHANG_SAN.0).await.unwrap();
    let visit_id = visit.body["id"].as_str().unwrap().to_string();
    assert!(his.upload_fees(&visit_id, &[wugan::his::fee_line("1", "001102000010000", "25.00", "1", "25.00")]).await.unwrap().ok());
    let estimate_path = format!("/api/v1/patient/visits/{visit_id}/estimate");
    let repay_path = format!("/api/v1/patient/agreements/{agreement_id}/repayments");
    let agreement_path = format!("/api/v1/patient/agreements/{agreement_id}");
    let family_path = format!("/api/v1/patient/agreements/{agreement_id}/family");
    let family_revoke_path = format!("/api/v1/patient/agreements/{agreement_id}/family/fam_none/revoke");
    let family_qr_path = format!("/api/v1/patient/agreements/{agreement_id}/family/fam_none/qr");
    let switch_path = format!("/api/v1/patient/visits/{visit_id}/seamless");
    let member_visit = his.register("MZ-M2", "02", WANG_WU.0).await.unwrap();
    let member_visit_id = member_visit.body["id"].as_str().unwrap().to_string();
    assert!(his.upload_fees(&member_visit_id, &[wugan::his::fee_line("1", "001102000010000", "25.00", "1", "25.00")]).await.unwrap().ok());
    let member_estimate_path = format!("/api/v1/patient/visits/{member_visit_id}/estimate");
    let member_switch_path = format!("/api/v1/patient/visits/{member_visit_id}/seamless");
    let statements_path = format!("/api/v1/patient/agreements/{agreement_id}/statements");
    let limit_path = format!("/api/v1/patient/agreements/{agreement_id}/limit-requests");
    let child = json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": CHEN_XIAOMING, "relation": "child",
                       "consent": {"method": "guardian", "reference": "出生医学证明 O440000001"}});
    // (method, path, body, what each caller gets: status and code)
    let identity = json!({"certno": ZHANG_SAN.0, "name": ZHANG_SAN.1, "face_check_ref": "FACE-2"});
    let revoke_path = format!("/api/v1/patient/agreements/{agreement_id}/revoke");
    // Every patient route; the revocation last (it ends the agreement), by a caller that may not
    // for all but the own patient, who comes after the stranger in the loop below.
    let routes: Vec<(&str, &str, Option<Value>)> = vec![
        ("GET", "/api/v1/patient/me", None),
        ("POST", "/api/v1/patient/me/identity", Some(identity)),
        ("GET", agreement_path.as_str(), None),
        ("GET", "/api/v1/patient/agreements", None),
        ("GET", "/api/v1/patient/consents", None),
        ("GET", "/api/v1/patient/visits", None),
        ("GET", "/api/v1/patient/stay_invoices", None),
        ("GET", "/api/v1/patient/notifications", None),
        ("GET", "/api/v1/patient/qr", None),
        ("POST", estimate_path.as_str(), None),
        ("GET", "/api/v1/patient/seamless", None),
        ("POST", "/api/v1/patient/seamless", Some(json!({"enabled": true}))),
        ("POST", switch_path.as_str(), Some(json!({"enabled": true}))),
        ("POST", member_estimate_path.as_str(), None),
        ("POST", member_switch_path.as_str(), Some(json!({"enabled": true}))),
        ("GET", "/api/v1/patient/bills", None),
        ("POST", "/api/v1/patient/bills/stl_none/pay", None),
        ("GET", statements_path.as_str(), None),
        ("POST", limit_path.as_str(), Some(json!({"requested_limit_fen": 1_000_000}))),
        ("POST", repay_path.as_str(), Some(json!({"amount_fen": 100, "source": "bank_transfer"}))),
        ("POST", family_path.as_str(), Some(child.clone())),
        ("POST", family_revoke_path.as_str(), None),
        ("GET", family_qr_path.as_str(), None),
        ("GET", "/api/v1/patient/family-invitations", None),
        ("POST", "/api/v1/patient/family-invitations/fin_none/accept", None),
        ("POST", "/api/v1/patient/family-invitations/fin_none/decline", None),
        (
            "POST",
            "/api/v1/patient/agreements",
            Some(json!({"agreement_version": "0", "channel": "h5", "payment": {"method": "credit_line", "bank_code": "BANK01"}})),
        ),
        ("POST", revoke_path.as_str(), Some(json!({}))),
        ("POST", "/api/v1/patient/sessions/current/revoke", None),
    ];
    let expected = |method: &str, path: &str, who: Who| -> (u16, Option<&'static str>) {
        match who {
            Who::Nobody | Who::HospitalKey | Who::OperatorKey => (401, Some("unauthorized")),
            Who::OwnCookieWithoutCsrf if method == "POST" => (403, Some("csrf_failed")),
            // A sign-up under a text that is not in force (the version "0"): past the door, refused.
            Who::Own | Who::Stranger | Who::Family if path == "/api/v1/patient/agreements" && method == "POST" => {
                (409, Some("agreement_text_outdated"))
            }
            // No such bill, for anyone.
            Who::Own | Who::Stranger | Who::Family if path.starts_with("/api/v1/patient/bills/") => (404, Some("bill_not_found")),
            // No such invitation, for anyone.
            Who::Own | Who::Stranger | Who::Family if path.starts_with("/api/v1/patient/family-invitations/") => {
                (404, Some("invitation_not_found"))
            }
            // The member's own visit: theirs, and the signer's who pays for it (Own, below).
            Who::Family if path.starts_with("/api/v1/patient/visits/") && path.contains(&member_visit_id) => (200, None),
            // Nothing owed yet: the bank says so (past the door, which is what is checked here).
            Who::Own if path.ends_with("/repayments") => (422, Some("more_than_owed")),
            Who::Own | Who::OwnCookieWithoutCsrf if path.contains("/family/") => (404, Some("family_link_not_found")),
            Who::Own | Who::OwnCookieWithoutCsrf => (200, None),
            Who::Stranger | Who::Family if path.contains("/family/") => (404, Some("family_link_not_found")),
            Who::Stranger | Who::Family if path.starts_with("/api/v1/patient/agreements/") => (404, Some("agreement_not_found")),
            Who::Stranger | Who::Family if path.starts_with("/api/v1/patient/visits/") => (404, Some("visit_not_found")),
            // Their own record; binding Zhang San's name to them is refused.
            Who::Stranger | Who::Family if path.ends_with("/identity") => (409, Some("identity_already_bound")),
            Who::Stranger | Who::Family => (200, None),
        }
    };
    // The own patient sees the agreement as the operator does.
    let seen = door.call("GET", &agreement_path, As::Bearer(&own.token), None).await;
    assert_eq!(seen.body["id"].as_str(), Some(agreement_id.as_str()));
    let mut wrong = Vec::new();
    for (method, path, body) in &routes {
        for who in [Who::Nobody, Who::HospitalKey, Who::OperatorKey, Who::OwnCookieWithoutCsrf, Who::Stranger, Who::Family, Who::Own] {
            let caller = match who {
                Who::Nobody => As::Nobody,
                Who::Own => As::Bearer(&own.token),
                Who::OwnCookieWithoutCsrf => As::Cookie(&own, false),
                Who::Stranger => As::Bearer(&stranger.token),
                Who::Family => As::Bearer(&family.token),
                Who::HospitalKey => As::Bearer(&hospital_key),
                Who::OperatorKey => As::Bearer(&operator_key),
            };
            let answer = door.call(method, path, caller, body.clone()).await;
            let got = (answer.status, answer.code().map(|c| &*Box::leak(c.to_string().into_boxed_str())));
            if got != expected(method, path, who) {
                wrong.push(format!(
                    "{method} {path} as {who:?}: expected {:?}, got {} {}",
                    expected(method, path, who),
                    answer.status,
                    answer.body
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "the patients' authorization matrix does not hold:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn a_patient_signs_up_under_the_text_shown_and_cannot_revoke_while_owing() {
    let door = Door::open().await;
    let text = door.call("GET", "/api/v1/patient/agreement-text", As::Nobody, None).await;
    let version = text.body["version"].as_str().unwrap().to_string();
    assert!(text.body["text_zh"].as_str().unwrap().contains("医保无感支付服务协议"), "{text:?}");
    let patient = door.sign_in("13600136000").await;
    let sign_up = |version: &str| {
        json!({"agreement_version": version, "channel": "h5", "use_personal_account": false,
               "payment": {"method": "credit_line", "bank_code": "BANK01", "credit_limit_fen": 800000}})
    };

    // Before the real-name binding, and under an outdated text: refused, nothing signed.
    let early = door.call("POST", "/api/v1/patient/agreements", As::Cookie(&patient, true), Some(sign_up(&version))).await;
    assert_eq!((early.status, early.code()), (409, Some("identity_not_verified")), "{early:?}");
    assert_eq!(door.bind(&patient, ZHANG_SAN).await.status, 200);
    let old = door.call("POST", "/api/v1/patient/agreements", As::Cookie(&patient, true), Some(sign_up("2020-01-v0"))).await;
    assert_eq!((old.status, old.code()), (409, Some("agreement_text_outdated")));

    let signed = door.call("POST", "/api/v1/patient/agreements", As::Cookie(&patient, true), Some(sign_up(&version))).await;
    assert_eq!((signed.status, signed.body["status"].as_str()), (200, Some("active")), "{signed:?}");
    let agreement_id = signed.body["id"].as_str().unwrap().to_string();
    assert_eq!(signed.body["payment"]["limit_fen"].as_i64(), Some(800000));
    let mine = door.call("GET", "/api/v1/patient/agreements", As::Bearer(&patient.token), None).await;
    assert_eq!(mine.body["agreements"][0]["id"].as_str(), Some(agreement_id.as_str()));

    // 亲情付: a minor child by guardian proof; an adult only by their own consent.
    let family_path = format!("/api/v1/patient/agreements/{agreement_id}/family");
    let adult = json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": ZHAO_LIU.0, "relation": "parent",
                       "consent": {"method": "guardian", "reference": "户口簿"}});
    let refused = door.call("POST", &family_path, As::Cookie(&patient, true), Some(adult)).await;
    assert_eq!((refused.status, refused.code()), (422, Some("consent_required")), "{refused:?}");
    let child = json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": CHEN_XIAOMING, "relation": "child",
                       "consent": {"method": "guardian", "reference": "出生医学证明 O440000001"}});
    let linked = door.call("POST", &family_path, As::Cookie(&patient, true), Some(child)).await;
    assert_eq!((linked.status, linked.body["family"][0]["relation"].as_str()), (200, Some("child")), "{linked:?}");
    let link_id = linked.body["family"][0]["id"].as_str().unwrap().to_string();
    let his = HisClient::new(&door.sys.hub_url, &door.sys.credentials.hospitals[0].api_key);
    let child_visit = his.register("MZ-CHILD-1", "02", CHEN_XIAOMING).await.unwrap();
    assert!(child_visit.ok(), "{child_visit:?}");
    let stranger = door.sign_in("13600136001").await;
    assert_eq!(door.bind(&stranger, ZHAO_LIU).await.status, 200);
    let theirs = door.call("GET", "/api/v1/patient/visits", As::Bearer(&stranger.token), None).await;
    assert_eq!(theirs.body["visits"], json!([]), "a stranger sees none of the family's visits");
    let unlink = format!("/api/v1/patient/agreements/{agreement_id}/family/{link_id}/revoke");
    let not_theirs = door.call("POST", &unlink, As::Bearer(&stranger.token), None).await;
    assert_eq!((not_theirs.status, not_theirs.code()), (404, Some("family_link_not_found")));

    // An adult is invited from the signer's phone, and linked only once they accept on their own.
    let spouse = json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": WANG_WU.0, "relation": "spouse",
                        "consent": {"method": "face", "reference": "not the signer's to give"}});
    let invited = door.call("POST", &family_path, As::Cookie(&patient, true), Some(spouse.clone())).await;
    assert_eq!((invited.status, invited.body["family"].as_array().map(Vec::len)), (200, Some(1)), "not linked yet: {invited:?}");
    assert_eq!(door.call("POST", &family_path, As::Cookie(&patient, true), Some(spouse)).await.status, 200, "asked twice");
    let sent = door.call("GET", "/api/v1/patient/family-invitations", As::Bearer(&patient.token), None).await;
    assert_eq!(
        (sent.body["sent"].as_array().map(Vec::len), sent.body["sent"][0]["relation"].as_str()),
        (Some(1), Some("spouse")),
        "{sent:?}"
    );
    assert!(sent.body["sent"][0]["member_name"].as_str().unwrap_or_default().ends_with('*'), "masked: {sent:?}");
    let accept = format!("/api/v1/patient/family-invitations/{}/accept", sent.body["sent"][0]["id"].as_str().unwrap_or_default());
    let by_signer = door.call("POST", &accept, As::Cookie(&patient, true), None).await;
    assert_eq!((by_signer.status, by_signer.code()), (404, Some("invitation_not_found")), "the signer cannot accept for them");
    let relative = door.sign_in("13700137001").await;
    assert_eq!(door.bind(&relative, WANG_WU).await.status, 200);
    let received = door.call("GET", "/api/v1/patient/family-invitations", As::Bearer(&relative.token), None).await;
    assert_eq!(received.body["received"].as_array().map(Vec::len), Some(1), "{received:?}");
    assert_eq!(received.body["received"][0]["inviter_name"], json!("张*"), "who invites them, masked: {received:?}");
    let accepted = door.call("POST", &accept, As::Cookie(&relative, true), None).await;
    assert_eq!((accepted.status, accepted.body["received"].as_array().map(Vec::len)), (200, Some(0)), "{accepted:?}");
    assert_eq!(accepted.body["paid_by"]["signer_name"], json!("张*"), "whose agreement pays for them now: {accepted:?}");
    assert_eq!(accepted.body["paid_by"]["relation"], json!("spouse"), "{accepted:?}");
    // Accepted again (the first answer lost): the same answer, linked once.
    let again = door.call("POST", &accept, As::Cookie(&relative, true), None).await;
    assert_eq!((again.status, again.body["paid_by"].clone()), (200, accepted.body["paid_by"].clone()), "{again:?}");
    let agreement = door.call("GET", &format!("/api/v1/patient/agreements/{agreement_id}"), As::Bearer(&patient.token), None).await;
    let spouse_link = agreement.body["family"].as_array().unwrap().iter().find(|m| m["relation"] == "spouse").cloned().unwrap_or_default();
    assert_eq!(spouse_link["status"], "active", "linked by their own consent: {agreement:?}");
    let spouse_visit = his.register("MZ-SPOUSE-1", "02", WANG_WU.0).await.unwrap();
    assert_eq!(spouse_visit.body["seamless"]["agreement_id"], json!(agreement_id), "the signer's agreement pays: {spouse_visit:?}");

    // A visit on the credit line: the line owes, and the patient cannot walk away from it.
    let visit = his.register("MZ-P1", "02", ZHANG_SAN.0).await.unwrap();
    let visit_id = visit.body["id"].as_str().unwrap().to_string();
    assert!(his.upload_fees(&visit_id, &[wugan::his::fee_line("1", "001102000010000", "25.00", "1", "25.00")]).await.unwrap().ok());
    // The estimate before the click, asked by the patient; the split after it, in their visits.
    let estimate = door.call("POST", &format!("/api/v1/patient/visits/{visit_id}/estimate"), As::Cookie(&patient, true), None).await;
    assert_eq!((estimate.status, estimate.body["estimate"]["medfee_fen"].as_i64()), (200, Some(2500)), "{estimate:?}");
    let settled = his.settle(&visit_id).await.unwrap();
    assert!(settled.ok(), "{settled:?}");
    let visits = door.call("GET", "/api/v1/patient/visits", As::Bearer(&patient.token), None).await;
    let numbers: Vec<&str> = visits.body["visits"].as_array().unwrap().iter().map(|v| v["ipt_otp_no"].as_str().unwrap()).collect();
    assert_eq!(numbers, ["MZ-P1", "MZ-SPOUSE-1", "MZ-CHILD-1"], "the signer sees their own visit and their family's, newest first");
    // The spouse signs an agreement of her own at the counter: she pays for herself from then on,
    // and her visits, their switches and estimates are hers alone, though the old link stands.
    let counter = HisClient::new(&door.sys.hub_url, &door.sys.credentials.operator_api_key);
    let own = counter.sign_up("02", WANG_WU.0, false, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(own.ok(), "{own:?}");
    let visits = door.call("GET", "/api/v1/patient/visits", As::Bearer(&patient.token), None).await;
    let numbers: Vec<&str> = visits.body["visits"].as_array().unwrap().iter().map(|v| v["ipt_otp_no"].as_str().unwrap()).collect();
    assert_eq!(numbers, ["MZ-P1", "MZ-CHILD-1"], "{visits:?}");
    let spouse_switch = format!("/api/v1/patient/visits/{}/seamless", spouse_visit.body["id"].as_str().unwrap());
    let overridden = door.call("POST", &spouse_switch, As::Cookie(&patient, true), Some(json!({"enabled": false}))).await;
    assert_eq!(overridden.status, 404, "not the signer's to switch: {overridden:?}");
    let split = &visits.body["visits"][0]["settlement"];
    assert_eq!(
        (split["state"].as_str(), split["cash_fen"].as_i64()),
        (Some("settled"), estimate.body["estimate"]["cash_fen"].as_i64()),
        "{visits:?}"
    );
    // The notification: in the inbox and as one text message, however often the pass runs.
    let outbox = door.sys_data_dir().join("sms-outbox.log");
    let texts_to_patient = || {
        let outbox = std::fs::read_to_string(&outbox).unwrap_or_default();
        outbox.lines().filter(|l| l.contains("13600136000") && l.contains("已结算")).map(str::to_string).collect::<Vec<_>>()
    };
    door.sys.app.notify_patients().await.expect("a notification pass");
    door.sys.app.notify_patients().await.expect("another pass");
    let inbox = door.call("GET", "/api/v1/patient/notifications", As::Bearer(&patient.token), None).await;
    let notes = inbox.body["notifications"].as_array().unwrap().clone();
    assert_eq!(notes.len(), 1, "{inbox:?}");
    assert_eq!((notes[0]["kind"].as_str(), notes[0]["facts"]["cash_fen"].as_i64()), (Some("visit_settled"), split["cash_fen"].as_i64()));
    assert!(notes[0]["sms_sent_at"].is_string(), "{inbox:?}");
    let texts = texts_to_patient();
    assert_eq!(texts.len(), 1, "one text message per event: {texts:?}");
    assert!(texts[0].contains("本次无需到窗口付款"), "{texts:?}");
    assert!(texts[0].contains("在示范三甲医院") && !texts[0].contains("H4403"), "the hospital by its name: {texts:?}");
    let stranger_inbox = door.call("GET", "/api/v1/patient/notifications", As::Bearer(&stranger.token), None).await;
    assert_eq!(stranger_inbox.body["notifications"], json!([]));

    // The e-invoice of the visit: the patient's to read, as HTML and PDF; not the stranger's.
    let settlement_id = split["id"].as_str().unwrap().to_string();
    let mut invoice_id = door.sys.app.invoice_id_of_settlement(&settlement_id).await.unwrap();
    for _ in 0..50 {
        if invoice_id.is_some() {
            break;
        }
        door.sys.app.invoice_outbox_pass().await;
        invoice_id = door.sys.app.invoice_id_of_settlement(&settlement_id).await.unwrap();
    }
    let invoice_id = invoice_id.expect("the visit's invoice is issued");
    // The notification links it (issue 16 scope 4), and the text message says it is there.
    assert_eq!(notes[0]["facts"]["invoice_id"].as_str(), Some(invoice_id.as_str()), "{notes:?}");
    assert_eq!(notes[0]["facts"]["invoice_url"], json!(format!("/api/v1/patient/invoices/{invoice_id}/html")));
    assert!(texts[0].contains("电子票据已开具"), "{texts:?}");
    let html = door.call("GET", &format!("/api/v1/patient/invoices/{invoice_id}/html"), As::Bearer(&patient.token), None).await;
    assert_eq!(html.status, 200, "{html:?}");
    assert!(html.body.as_str().unwrap_or_default().contains("<html"), "{html:?}");
    let not_theirs = door.call("GET", &format!("/api/v1/patient/invoices/{invoice_id}/html"), As::Bearer(&stranger.token), None).await;
    assert_eq!((not_theirs.status, not_theirs.code()), (404, Some("invoice_not_found")));

    let revoke_path = format!("/api/v1/patient/agreements/{agreement_id}/revoke");
    let owing = door.call("POST", &revoke_path, As::Cookie(&patient, true), Some(json!({"channel": "h5"}))).await;
    assert_eq!((owing.status, owing.code()), (409, Some("credit_debt_outstanding")), "{owing:?}");

    // The signer ends the child's link.
    let unlinked = door.call("POST", &unlink, As::Cookie(&patient, true), None).await;
    assert_eq!((unlinked.status, unlinked.body["family"][0]["status"].as_str()), (200, Some("revoked")), "{unlinked:?}");

    // Repaid in full, the revocation goes through and is recorded beside the acceptance.
    let operator = HisClient::new(&door.sys.hub_url, &door.sys.credentials.operator_api_key);
    let agreement = operator.get(&format!("/api/v1/agreements/{agreement_id}")).await.unwrap();
    let debt = agreement.body["payment"]["used_fen"].as_i64().unwrap();
    assert!(debt > 0, "{agreement:?}");
    // The patient repays from their personal account, themselves.
    let repay = json!({"amount_fen": debt, "source": "personal_account"});
    let repaid =
        door.call("POST", &format!("/api/v1/patient/agreements/{agreement_id}/repayments"), As::Cookie(&patient, true), Some(repay)).await;
    assert_eq!((repaid.status, repaid.body["personal_account_debit"]["amount_fen"].as_i64()), (200, Some(debt)), "{repaid:?}");
    let revoked = door.call("POST", &revoke_path, As::Cookie(&patient, true), Some(json!({"channel": "h5"}))).await;
    assert_eq!((revoked.status, revoked.body["status"].as_str()), (200, Some("revoked")), "{revoked:?}");

    let record = door.call("GET", "/api/v1/patient/consents", As::Bearer(&patient.token), None).await;
    let lines = record.body["consents"].as_array().unwrap().clone();
    let kinds: Vec<&str> = lines.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["accepted", "revoked"], "{record:?}");
    assert_eq!(lines[0]["text_version"].as_str(), Some(version.as_str()));
    assert_eq!(lines[0]["text_sha256"], text.body["sha256"]);
    assert_eq!((lines[0]["channel"].as_str(), lines[0]["terms"]["payment"]["credit_limit_fen"].as_i64()), (Some("h5"), Some(800000)));
    // The operator shows the same record.
    let shown = operator.get(&format!("/api/v1/agreements/{agreement_id}/consents")).await.unwrap();
    assert_eq!(shown.body["consents"], record.body["consents"]);
}

#[tokio::test]
async fn the_qr_e_voucher_registers_a_visit_once_and_a_tampered_one_never() {
    let door = Door::open().await;
    let patient = door.sign_in("13500135000").await;
    let early = door.call("GET", "/api/v1/patient/qr", As::Bearer(&patient.token), None).await;
    assert_eq!((early.status, early.code()), (409, Some("identity_not_verified")));
    assert_eq!(door.bind(&patient, ZHANG_SAN).await.status, 200);
    let qr = door.call("GET", "/api/v1/patient/qr", As::Bearer(&patient.token), None).await;
    assert_eq!((qr.status, qr.body["refresh_after_s"].as_u64()), (200, Some(60)), "{qr:?}");
    let token = qr.body["token"].as_str().unwrap().to_string();

    // The hospital's scanner sends it as type 01: the visit is the patient's.
    let his = HisClient::new(&door.sys.hub_url, &door.sys.credentials.hospitals[0].api_key);
    let visit = his.register("MZ-QR-1", "01", &token).await.unwrap();
    assert!(visit.ok(), "{visit:?}");
    assert_eq!(visit.body["psn_no"].as_str(), Some("44030000000000000001"));
    // The same request again (a lost answer) is the same visit; another registration with the token is refused.
    let again = his.register("MZ-QR-1", "01", &token).await.unwrap();
    assert_eq!(again.status, 409, "{again:?}");
    let replay = his.register("MZ-QR-2", "01", &token).await.unwrap();
    assert_eq!((replay.status, replay.code()), (422, Some("qr_token_used")), "{replay:?}");
    // A token changed by a single character is not the hub's.
    let fresh = door.call("GET", "/api/v1/patient/qr", As::Bearer(&patient.token), None).await;
    let mut tampered = fresh.body["token"].as_str().unwrap().to_string();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let forged = his.register("MZ-QR-3", "01", &tampered).await.unwrap();
    assert_eq!((forged.status, forged.code()), (422, Some("qr_token_invalid")), "{forged:?}");
}

#[tokio::test]
async fn a_sign_up_key_used_again_for_another_limit_is_refused_not_answered_with_the_first_line() {
    // Review r26 patient F6: the second request, for 9,000.00, was answered with the 5,000.00 line.
    let door = Door::open().await;
    let session = door.sign_in("13800138009").await;
    assert_eq!(door.bind(&session, ZHANG_SAN).await.status, 200);
    let sign = |limit: i64| {
        let body = json!({"agreement_version": "2026-11-v1", "channel": "h5",
                          "payment": {"method": "credit_line", "bank_code": "BANK01", "credit_limit_fen": limit}});
        door.http
            .post(format!("{}/api/v1/patient/agreements", door.sys.hub_url))
            .bearer_auth(&session.token)
            .header("idempotency-key", "sign-once")
            .json(&body)
            .send()
    };
    let first = sign(500_000).await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none(), "the first answer is no replay");
    let first: Value = first.json().await.unwrap();
    let other = sign(900_000).await.unwrap();
    assert_eq!(other.status(), 422);
    let other: Value = other.json().await.unwrap();
    assert_eq!(other["error"]["code"], "idempotency_key_reused", "{other}");
    let again = sign(500_000).await.unwrap();
    assert_eq!(
        again.headers().get("idempotent-replayed").map(|v| v.as_bytes()),
        Some(&b"true"[..]),
        "a replay says so, as the HIS API's do"
    );
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"], "the same request again is answered with its agreement");
}

#[tokio::test]
async fn an_invoice_opened_in_a_browser_without_a_session_goes_to_sign_in() {
    // Review r26 pages #10: the browser showed the API's JSON refusal.
    let door = Door::open().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let url = format!("{}/api/v1/patient/invoices/inv_x/html", door.sys.hub_url);
    let browser = http.get(&url).header("accept", "text/html,application/xhtml+xml,*/*;q=0.8").send().await.unwrap();
    assert_eq!(browser.status().as_u16(), 303);
    assert_eq!(browser.headers().get("location").and_then(|v| v.to_str().ok()), Some("/h5/"));
    let api = http.get(&url).send().await.unwrap();
    assert_eq!(api.status().as_u16(), 401, "an API client gets the JSON refusal");
}

/// A relative invited to 亲情付 is told so, and leaves the link from their own phone (review r26: the page named
/// who pays but offered no way out), through the link the family page names.
#[tokio::test]
async fn a_relative_invited_to_family_payment_is_told_once_and_can_leave_it_from_their_own_phone() {
    let door = Door::open().await;
    let version = door.call("GET", "/api/v1/patient/agreement-text", As::Nobody, None).await.body["version"].as_str().unwrap().to_string();
    let signer = door.sign_in("13600136000").await;
    assert_eq!(door.bind(&signer, ZHANG_SAN).await.status, 200);
    let body = json!({"agreement_version": version, "channel": "h5", "use_personal_account": false,
                      "payment": {"method": "credit_line", "bank_code": "BANK01"}});
    let signed = door.call("POST", "/api/v1/patient/agreements", As::Cookie(&signer, true), Some(body)).await;
    let agreement_id = signed.body["id"].as_str().unwrap().to_string();
    // A parent invited before they have the app is told when they bind their name.
    let family = format!("/api/v1/patient/agreements/{agreement_id}/family");
    let parent =
        json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": ZHAO_LIU.0, "relation": "parent", "consent": {"method": "face", "reference": ""}});
    assert_eq!(door.call("POST", &family, As::Cookie(&signer, true), Some(parent)).await.status, 200);
    let later = door.sign_in("13900139001").await;
    assert_eq!(door.bind(&later, ZHAO_LIU).await.status, 200);
    let told = door.call("GET", "/api/v1/patient/notifications", As::Bearer(&later.token), None).await;
    assert_eq!(told.body["notifications"][0]["kind"], json!("family_invited"), "{told:?}");
    assert_eq!(told.body["notifications"][0]["facts"]["relation"], json!("parent"), "{told:?}");

    // The spouse has the app already: told at once, once (inviting again is the first one standing),
    // and the inbox sends them to the family page.
    let relative = door.sign_in("13700137001").await;
    assert_eq!(door.bind(&relative, WANG_WU).await.status, 200);
    let spouse =
        json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": WANG_WU.0, "relation": "spouse", "consent": {"method": "face", "reference": ""}});
    for _ in 0..2 {
        assert_eq!(door.call("POST", &family, As::Cookie(&signer, true), Some(spouse.clone())).await.status, 200);
    }
    let told = door.call("GET", "/api/v1/patient/notifications", As::Bearer(&relative.token), None).await;
    let invites: Vec<&Value> = told.body["notifications"].as_array().unwrap().iter().filter(|n| n["kind"] == "family_invited").collect();
    assert_eq!(invites.len(), 1, "{told:?}");
    assert_eq!((invites[0]["facts"]["inviter_name"].as_str(), invites[0]["facts"]["relation"].as_str()), (Some("张*"), Some("spouse")));
    let inbox = door.call("GET", "/h5/notifications", As::Cookie(&relative, false), None).await;
    let html = inbox.body.as_str().unwrap_or_default();
    assert!(html.contains("家人邀请您加入亲情付") && html.contains("邀请人：张*") && html.contains("href=\"/h5/family\""), "{html}");
    let received = door.call("GET", "/api/v1/patient/family-invitations", As::Bearer(&relative.token), None).await;
    let accept = format!("/api/v1/patient/family-invitations/{}/accept", received.body["received"][0]["id"].as_str().unwrap());
    let accepted = door.call("POST", &accept, As::Cookie(&relative, true), None).await;
    let link_id = accepted.body["paid_by"]["link_id"].as_str().unwrap_or_else(|| panic!("the link named: {accepted:?}")).to_string();
    // The signer may show the relative's QR at registration (their card kept from their own binding).
    let qr =
        door.call("GET", &format!("/api/v1/patient/agreements/{agreement_id}/family/{link_id}/qr"), As::Bearer(&signer.token), None).await;
    assert!(qr.status == 200 && qr.body["token"].as_str().is_some_and(|t| t.starts_with("WGQF1.")), "{qr:?}");

    // The family page offers the way out, with the question asked first.
    let page = door.call("GET", "/h5/family", As::Cookie(&relative, false), None).await;
    let html = page.body.as_str().unwrap_or_default();
    let leave = format!("/api/v1/patient/agreements/{agreement_id}/family/{link_id}/revoke");
    assert!(html.contains(&format!("data-api=\"{leave}\"")), "{html}");
    assert!(html.contains("不再由 张* 的签约为您付款"), "{html}");

    let left = door.call("POST", &leave, As::Cookie(&relative, true), None).await;
    assert_eq!(left.status, 200, "{left:?}");
    let after = door.call("GET", "/api/v1/patient/family-invitations", As::Bearer(&relative.token), None).await;
    assert_eq!(after.body["paid_by"], Value::Null, "nobody pays for them now: {after:?}");
    let his = HisClient::new(&door.sys.hub_url, &door.sys.credentials.hospitals[0].api_key);
    let visit = his.register("MZ-LEFT-1", "02", WANG_WU.0).await.unwrap();
    assert_eq!(visit.body["seamless"]["enabled"], json!(false), "the signer's line no longer pays: {visit:?}");
    let agreement = door.call("GET", &format!("/api/v1/patient/agreements/{agreement_id}"), As::Bearer(&signer.token), None).await;
    assert_eq!(agreement.body["family"][0]["status"], json!("revoked"), "the signer sees it ended: {agreement:?}");
}

#[tokio::test]
async fn a_patient_chooses_a_bank_by_its_name_and_reads_it_on_their_agreement() {
    // The built-in bank is named 示范银行 unless the configuration names it.
    let built_in = Door::open().await;
    let patient = built_in.sign_in("13600136009").await;
    assert_eq!(built_in.bind(&patient, ZHANG_SAN).await.status, 200);
    let page = built_in.call("GET", "/h5/sign-up", As::Cookie(&patient, false), None).await;
    let html = page.body.as_str().unwrap_or_default().to_string();
    assert!(html.contains(r#"<option value="BANK01">示范银行</option>"#), "{html}");

    let (mut opts, dir) = common::fresh_options("patients-bank-name").await;
    opts.bank_names.insert("BANK01".into(), "广州农商银行".into());
    let door = Door { sys: system::start(&opts).await.expect("system starts"), http: reqwest::Client::new(), _dir: dir };
    let patient = door.sign_in("13600136010").await;
    assert_eq!(door.bind(&patient, ZHANG_SAN).await.status, 200);
    let page = door.call("GET", "/h5/sign-up", As::Cookie(&patient, false), None).await;
    let html = page.body.as_str().unwrap_or_default().to_string();
    assert!(html.contains(r#"<option value="BANK01">广州农商银行</option>"#), "the name, the code as the value sent: {html}");
    let text = door.call("GET", "/api/v1/patient/agreement-text", As::Nobody, None).await;
    let sign_up = json!({"agreement_version": text.body["version"], "channel": "h5", "use_personal_account": true,
                         "payment": {"method": "credit_line", "bank_code": "BANK01", "credit_limit_fen": 500000}});
    let signed = door.call("POST", "/api/v1/patient/agreements", As::Cookie(&patient, true), Some(sign_up)).await;
    assert_eq!(signed.status, 200, "{signed:?}");
    let home = door.call("GET", "/h5/home", As::Cookie(&patient, false), None).await;
    let html = home.body.as_str().unwrap_or_default().to_string();
    assert!(html.contains("· 广州农商银行</dd>") && !html.contains("· BANK01"), "{html}");
}
