//! 亲情付 at the hospital's scanner: Zhang San pays for his son Chen Xiaoming, who has no
//! e-voucher of his own. At registration Zhang San shows his son's QR code on his own phone; the
//! hospital scans it (`mdtrt_cert_type` 01), the hub registers the son by the card kept on the
//! family link, and his visit is paid by his father's agreement (so is a stay's deposit, admitted
//! the same way). A code is good once, only while the link stands, and only Zhang San can show it.

use serde_json::{json, Value};
use wugan::his::HisClient;
use wugan::system::{self, System};

mod common;

const ZHANG_SAN: (&str, &str) = ("440301199001011234", "张三");
const ZHAO_LIU: (&str, &str) = ("440305199208084567", "赵六");
/// Born 2012: a minor, linked by guardian proof.
const CHEN_XIAOMING: &str = "440306201205056727";

struct Phone {
    token: String,
    csrf: String,
}

struct World {
    sys: System,
    http: reqwest::Client,
    _dir: common::TempDir,
}

impl World {
    async fn call(&self, method: &str, path: &str, phone: &Phone, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.sys.hub_url);
        let mut request = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
            .header("cookie", format!("wg_session={}", phone.token))
            .header("x-csrf-token", &phone.csrf);
        if method == "POST" {
            request = request.header("idempotency-key", uuid::Uuid::new_v4().to_string()).json(&body.unwrap_or_else(|| json!({})));
        }
        let response = request.send().await.expect("the hub answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Signed in by the texted code, their real name bound.
    async fn phone(&self, mobile: &str, (certno, name): (&str, &str)) -> Phone {
        let post = |path: &str, body: Value| {
            self.http
                .post(format!("{}{path}", self.sys.hub_url))
                .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                .json(&body)
                .send()
        };
        assert_eq!(post("/api/v1/patient/sign-in-codes", json!({"mobile": mobile})).await.unwrap().status().as_u16(), 202);
        let outbox = std::fs::read_to_string(self._dir.0.join("sms-outbox.log")).expect("the SMS outbox");
        let text = outbox.lines().rev().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|m| m["to"] == mobile).unwrap();
        let code: String = text["text"].as_str().unwrap().chars().filter(char::is_ascii_digit).take(6).collect();
        let session: Value = post("/api/v1/patient/sessions", json!({"mobile": mobile, "code": code})).await.unwrap().json().await.unwrap();
        let phone = Phone { token: session["token"].as_str().unwrap().into(), csrf: session["csrf_token"].as_str().unwrap().into() };
        let bound = self
            .call("POST", "/api/v1/patient/me/identity", &phone, Some(json!({"certno": certno, "name": name, "face_check_ref": "FACE-1"})))
            .await;
        assert_eq!(bound.0, 200, "{bound:?}");
        phone
    }
}

#[tokio::test]
async fn a_father_shows_his_sons_qr_code_and_the_son_is_registered_and_paid_for_by_his_agreement() {
    let (opts, dir) = common::fresh_options("family-qr").await;
    let w = World { sys: system::start(&opts).await.expect("system starts"), http: reqwest::Client::new(), _dir: dir };
    let father = w.phone("13700137001", ZHANG_SAN).await;
    let (_, text) = w.call("GET", "/api/v1/patient/agreement-text", &father, None).await;
    let sign_up = json!({"agreement_version": text["version"], "channel": "h5", "use_personal_account": true,
                         "payment": {"method": "credit_line", "bank_code": "BANK01", "credit_limit_fen": 800000}});
    let (status, agreement) = w.call("POST", "/api/v1/patient/agreements", &father, Some(sign_up)).await;
    assert_eq!(status, 200, "{agreement}");
    let agreement_id = agreement["id"].as_str().unwrap().to_string();
    let son = json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": CHEN_XIAOMING, "relation": "child",
                     "consent": {"method": "guardian", "reference": "出生医学证明 O440000001"}});
    let (status, linked) = w.call("POST", &format!("/api/v1/patient/agreements/{agreement_id}/family"), &father, Some(son)).await;
    assert_eq!(status, 200, "{linked}");
    let link_id = linked["family"][0]["id"].as_str().unwrap().to_string();
    let qr_path = format!("/api/v1/patient/agreements/{agreement_id}/family/{link_id}/qr");

    // The son's code: the national field's 64 characters, good for two minutes.
    let (status, qr) = w.call("GET", &qr_path, &father, None).await;
    assert_eq!(status, 200, "{qr}");
    let token = qr["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("WGQF1.") && token.len() == 64, "{token}");

    // The hospital scans it: the son is registered, and his father's agreement pays.
    let his = HisClient::new(&w.sys.hub_url, &w.sys.credentials.hospitals[0].api_key);
    let visit = his.register("MZ-SON-1", "01", &token).await.unwrap();
    assert!(visit.ok(), "{visit:?}");
    assert_eq!(visit.body["seamless"]["agreement_id"].as_str(), Some(agreement_id.as_str()), "{visit:?}");
    let son_visit = w.sys.app.store.visit(visit.body["id"].as_str().unwrap()).await.unwrap().expect("stored");
    let by_card = his.register("MZ-SON-2", "02", CHEN_XIAOMING).await.unwrap();
    assert_eq!(
        w.sys.app.store.visit(by_card.body["id"].as_str().unwrap()).await.unwrap().map(|v| v.psn_no),
        Some(son_visit.psn_no.clone()),
        "the QR registered the son himself"
    );
    // Shown twice: refused, nothing registered.
    let again = his.register("MZ-SON-3", "01", &token).await.unwrap();
    assert_eq!((again.status, again.code()), (422, Some("qr_token_used")), "{again:?}");

    // Only the father: another patient asks in vain, as for a link that does not exist.
    let stranger = w.phone("13700137002", ZHAO_LIU).await;
    let (status, refused) = w.call("GET", &qr_path, &stranger, None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (404, Some("family_link_not_found")), "{refused}");

    // His phone's page draws it, named, refreshed from its own address.
    let page = w.call("GET", &format!("/h5/family/{agreement_id}/{link_id}/qr"), &father, None).await.1;
    let html = page.as_str().unwrap_or_default();
    assert!(
        html.contains("<svg role=\"img\" aria-label=\"")
            && html.contains(&format!("data-src=\"/h5/family/{agreement_id}/{link_id}/qr/code\"")),
        "{html}"
    );
    let family = w.call("GET", "/h5/family", &father, None).await.1;
    assert!(family.as_str().unwrap_or_default().contains(&format!("href=\"/h5/family/{agreement_id}/{link_id}/qr\"")), "{family}");

    // A code taken before the link ends is refused once it has ended.
    let (_, qr) = w.call("GET", &qr_path, &father, None).await;
    let before = qr["token"].as_str().unwrap().to_string();
    let (status, _) = w.call("POST", &format!("/api/v1/patient/agreements/{agreement_id}/family/{link_id}/revoke"), &father, None).await;
    assert_eq!(status, 200);
    let ended = his.register("MZ-SON-4", "01", &before).await.unwrap();
    assert_eq!((ended.status, ended.code()), (422, Some("qr_token_invalid")), "{ended:?}");
    let (status, gone) = w.call("GET", &qr_path, &father, None).await;
    assert_eq!((status, gone["error"]["code"].as_str()), (404, Some("family_link_not_found")), "{gone}");

    // Linked again; admitted to a ward the same way.
    let son = json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": CHEN_XIAOMING, "relation": "child",
                     "consent": {"method": "guardian", "reference": "出生医学证明 O440000001"}});
    let (status, linked) = w.call("POST", &format!("/api/v1/patient/agreements/{agreement_id}/family"), &father, Some(son)).await;
    assert_eq!(status, 200, "{linked}");
    let link_id =
        linked["family"].as_array().unwrap().iter().find(|l| l["status"] == "active").unwrap()["id"].as_str().unwrap().to_string();
    // The son's stay: its deposit held on his father's line.
    let (_, qr) = w.call("GET", &format!("/api/v1/patient/agreements/{agreement_id}/family/{link_id}/qr"), &father, None).await;
    let admission = json!({"ipt_no": "ZY-SON-1", "mdtrt_cert_type": "01", "mdtrt_cert_no": qr["token"], "deposit_fen": 30_000});
    let stay = his.post("/api/v1/stays", &admission).await.unwrap();
    assert!(stay.ok(), "{stay:?}");
    assert_eq!(stay.body["psn_no"].as_str(), Some(son_visit.psn_no.as_str()), "{stay:?}");
    let row = w.sys.app.store.stay(stay.body["id"].as_str().unwrap()).await.unwrap().expect("stored");
    assert_eq!(row.agreement_id, agreement_id, "the father's agreement holds the deposit");
    let again = his
        .post("/api/v1/stays", &json!({"ipt_no": "ZY-SON-2", "mdtrt_cert_type": "01", "mdtrt_cert_no": qr["token"], "deposit_fen": 30_000}))
        .await
        .unwrap();
    assert_eq!((again.status, again.code()), (422, Some("qr_token_used")), "{again:?}");

    // A link made before the hub kept the member's card has no code: said so, on the page too.
    let pool = sqlx::AnyPool::connect(&w.sys.database_url).await.expect("the hub's database");
    sqlx::query("UPDATE family_links SET member_certno_enc = NULL").execute(&pool).await.expect("as before migration 0046");
    pool.close().await;
    let (status, unavailable) =
        w.call("GET", &format!("/api/v1/patient/agreements/{agreement_id}/family/{link_id}/qr"), &father, None).await;
    assert_eq!((status, unavailable["error"]["code"].as_str()), (409, Some("family_qr_unavailable")), "{unavailable}");
    let page = w.call("GET", &format!("/h5/family/{agreement_id}/{link_id}/qr"), &father, None).await.1;
    let html = page.as_str().unwrap_or_default();
    assert!(html.contains("id=\"qr-unavailable\"") && !html.contains("<svg"), "{html}");
}
