//! The patient sees their own inpatient stay (review r21 #10), end to end over HTTP: Zhang San in
//! the ward with 690.00 held on his credit line reads the stay on `GET /api/v1/patient/stays`,
//! on `/h5/visits` and, as what the line holds, on `/h5/credit`; so does the stay of his wife,
//! whose deposit his line holds (亲情付). She sees her own stay, not his; another patient sees
//! nothing. Discharged and settled, the stay reads settled with nothing held. A refund of a visit
//! is told to the patient and to the signer who paid for it, once.

use serde_json::{json, Value};
use wugan::his::{fee_line, HisClient};
use wugan::system::{self, System};

mod common;

const ZHANG_SAN: (&str, &str) = ("440301199001011234", "张三");
const WANG_WU: (&str, &str) = ("440304198507203318", "王五");
const ZHAO_LIU: (&str, &str) = ("440305199208084567", "赵六");
const EXAMINATION: &str = "013100000010000"; // 150.00

struct Ward {
    sys: System,
    his: HisClient,
    http: reqwest::Client,
    agreement_id: String,
    dir: common::TempDir,
}

impl Ward {
    /// Zhang San signed up on a credit line, paying for his wife Wang Wu.
    async fn open() -> Ward {
        let (opts, dir) = common::fresh_options("patient-stays").await;
        let sys = system::start(&opts).await.expect("system starts");
        let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
        let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
        let signed = operator.sign_up("02", ZHANG_SAN.0, false, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
        assert!(signed.ok(), "{signed:?}");
        let agreement_id = signed.body["id"].as_str().unwrap().to_string();
        let spouse = json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": WANG_WU.0, "relation": "spouse",
                            "consent": {"method": "face", "reference": "FACE-WW"}});
        let linked = operator.post(&format!("/api/v1/agreements/{agreement_id}/family"), &spouse).await.unwrap();
        assert!(linked.ok(), "{linked:?}");
        Ward { sys, his, http: reqwest::Client::new(), agreement_id, dir }
    }

    /// Admitted with `deposit_fen` held on the line: the stay's id.
    async fn admit(&self, ipt_no: &str, certno: &str, deposit_fen: i64) -> String {
        let body = json!({"ipt_no": ipt_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": certno, "deposit_fen": deposit_fen});
        let stay = self.his.post("/api/v1/stays", &body).await.unwrap();
        assert_eq!((stay.status, stay.body["state"].as_str()), (200, Some("in_ward")), "{stay:?}");
        stay.body["id"].as_str().unwrap().to_string()
    }

    /// Signs in by the texted code and binds the real name: the bearer token (also the cookie).
    async fn patient(&self, mobile: &str, (certno, name): (&str, &str)) -> String {
        let post = |path: &str, body: Value| {
            self.http.post(format!("{}{path}", self.sys.hub_url)).header("idempotency-key", uuid::Uuid::new_v4().to_string()).json(&body)
        };
        assert_eq!(post("/api/v1/patient/sign-in-codes", json!({"mobile": mobile})).send().await.unwrap().status(), 202);
        let outbox = std::fs::read_to_string(self.dir.0.join("sms-outbox.log")).expect("the SMS outbox");
        let text = outbox.lines().rev().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|m| m["to"] == mobile).unwrap();
        let code: String = text["text"].as_str().unwrap().chars().filter(char::is_ascii_digit).take(6).collect();
        let session: Value =
            post("/api/v1/patient/sessions", json!({"mobile": mobile, "code": code})).send().await.unwrap().json().await.unwrap();
        let token = session["token"].as_str().expect("a session").to_string();
        let identity = json!({"certno": certno, "name": name, "face_check_ref": "FACE-0001"});
        let bound = post("/api/v1/patient/me/identity", identity).bearer_auth(&token).send().await.unwrap();
        assert_eq!(bound.status(), 200);
        token
    }

    /// `GET /api/v1/patient/stays` as `token`: the status and the body's text.
    async fn stays_text(&self, token: &str) -> (u16, String) {
        let r = self.http.get(format!("{}/api/v1/patient/stays", self.sys.hub_url)).bearer_auth(token).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn stays(&self, token: &str) -> Vec<Value> {
        let (status, text) = self.stays_text(token).await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str::<Value>(&text).unwrap()["stays"].as_array().cloned().unwrap_or_default()
    }

    /// A page as the phone reads it, by the session cookie.
    async fn page(&self, path: &str, token: &str) -> String {
        let r = self.http.get(format!("{}{path}", self.sys.hub_url)).header("cookie", format!("wg_session={token}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        r.text().await.unwrap()
    }
}

fn ids(stays: &[Value]) -> Vec<&str> {
    stays.iter().map(|s| s["id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_patient_in_the_ward_sees_the_stay_and_the_deposit_held_and_nobody_else_does() {
    let w = Ward::open().await;
    let own = w.admit("ZY-PS-1", ZHANG_SAN.0, 69_000).await;
    let wifes = w.admit("ZY-PS-2", WANG_WU.0, 20_000).await;
    let zhang = w.patient("13600136000", ZHANG_SAN).await;
    let wang = w.patient("13600136001", WANG_WU).await;
    let stranger = w.patient("13600136002", ZHAO_LIU).await;

    // Zhang San: his own stay and his wife's, whose deposit his line holds; newest first.
    let seen = w.stays(&zhang).await;
    assert_eq!(ids(&seen), [wifes.as_str(), own.as_str()], "{seen:?}");
    let mine = &seen[1];
    let expected = [
        ("ipt_no", json!("ZY-PS-1")),
        ("whose", json!("self")),
        ("patient_name", json!("张*")),
        ("state", json!("in_ward")),
        ("phase", json!("in_ward")),
        ("phase_text", json!("在院")),
        ("held_fen", json!(69_000)),
        ("charges_fen", json!(0)),
        ("settlement", Value::Null),
        ("owed_fen", json!(0)),
        ("agreement_id", json!(w.agreement_id)),
    ];
    for (field, value) in &expected {
        assert_eq!(&mine[field], value, "{field}: {mine}");
    }
    assert!(!mine["hospital_name"].as_str().unwrap_or_default().is_empty() && mine["admitted_at"].is_string(), "{mine}");
    let theirs = &seen[0];
    assert_eq!(
        (theirs["whose"].as_str(), theirs["patient_name"].as_str(), theirs["held_fen"].as_i64()),
        (Some("family"), Some("王*"), Some(20_000))
    );
    // No certificate number, psn_no or insurance id on the wire.
    let (_, text) = w.stays_text(&zhang).await;
    for never in [ZHANG_SAN.0, WANG_WU.0, "psn_no", "mdtrt_id", "mdtrt_cert_no"] {
        assert!(!text.contains(never), "{never} in {text}");
    }

    // Wang Wu sees her own stay (on her husband's line: no agreement of hers), not his.
    let hers = w.stays(&wang).await;
    assert_eq!(ids(&hers), [wifes.as_str()], "{hers:?}");
    assert_eq!((hers[0]["whose"].as_str(), hers[0]["agreement_id"].clone()), (Some("self"), Value::Null));
    // Another patient sees none; nobody signed in is turned away; a hospital's key is not a patient.
    assert_eq!(w.stays(&stranger).await, Vec::<Value>::new());
    let nobody = w.http.get(format!("{}/api/v1/patient/stays", w.sys.hub_url)).send().await.unwrap();
    assert_eq!(nobody.status().as_u16(), 401);
    assert_eq!(w.stays_text(&w.sys.credentials.hospitals[0].api_key).await.0, 401);

    // The pages: the stay beside the visits, the deposit held; on the credit page, what is held and for what.
    let visits = w.page("/h5/visits", &zhang).await;
    for said in ["住院号 ZY-PS-1", "在院", "押金（信用额度上冻结）", "¥690.00", "家人 王* 的住院，由您的信用额度支付。"]
    {
        assert!(visits.contains(said), "{said}: {visits}");
    }
    assert!(!visits.contains("还没有就诊记录"), "{visits}");
    let credit = w.page("/h5/credit", &zhang).await;
    for said in ["冻结中（不是欠款）", "¥890.00", "住院押金（住院号 ZY-PS-1）", "¥690.00", "王* 的住院押金（住院号 ZY-PS-2）", "¥200.00"]
    {
        assert!(credit.contains(said), "{said}: {credit}");
    }
    let strangers = w.page("/h5/visits?lang=en", &stranger).await;
    assert!(!strangers.contains("ZY-PS-1") && !strangers.contains("ZY-PS-2"), "{strangers}");

    // Discharged and settled at the bedside: settled, nothing held, the split said.
    let fees =
        w.his.post(&format!("/api/v1/stays/{own}/fees"), &json!({"lines": [fee_line("P1", EXAMINATION, "150.00", "1", "150.00")]})).await;
    assert!(fees.as_ref().is_ok_and(|f| f.ok()), "{fees:?}");
    assert_eq!(w.stays(&zhang).await[1]["charges_fen"], json!(15_000));
    // An interim settlement the ward cancels (中途结算撤销) stays on the patient's page, said
    // cancelled, with what went back to the line; its fees are settled at the bedside.
    let interim = w.his.post(&format!("/api/v1/stays/{own}/interim_settlement"), &json!({})).await.unwrap();
    assert!(interim.ok() && interim.body["interim_settlements"][0]["n"] == json!(1), "{interim:?}");
    let cancel = w.his.post(&format!("/api/v1/stays/{own}/interim_settlements/1/cancel"), &json!({})).await.unwrap();
    assert!(cancel.ok(), "{cancel:?}");
    let seen = w.stays(&zhang).await.into_iter().find(|s| s["id"] == json!(own)).unwrap();
    let returned = &seen["cancelled_interim_settlements"];
    assert_eq!((seen["interim_settlements"].clone(), returned[0]["n"].as_u64()), (json!([]), Some(1)), "{seen}");
    assert_eq!(returned[0]["medfee_fen"].as_i64(), Some(15_000), "{seen}");
    let visits = w.page("/h5/visits", &zhang).await;
    assert!(visits.contains("第 1 次中途结算（已撤销）") && visits.contains("重新结算"), "{visits}");
    let discharged = w.his.post(&format!("/api/v1/stays/{own}/discharge"), &json!({})).await.unwrap();
    assert_eq!(discharged.body["state"].as_str(), Some("settled"), "{discharged:?}");
    let settled = w.stays(&zhang).await.into_iter().find(|s| s["id"] == json!(own)).unwrap();
    assert_eq!(
        (settled["phase"].as_str(), settled["held_fen"].as_i64(), settled["owed_fen"].as_i64()),
        (Some("settled"), Some(0), Some(0))
    );
    let split = &settled["settlement"];
    let parts = ["fund_fen", "personal_account_fen", "bank_fen", "unpaid_fen"].map(|f| split[f].as_i64().unwrap());
    assert_eq!((split["medfee_fen"].as_i64(), parts.iter().sum::<i64>()), (Some(15_000), 15_000), "{split}");
    let visits = w.page("/h5/visits", &zhang).await;
    assert!(visits.contains("已出院，已结清") && visits.contains("¥150.00"), "{visits}");
}

#[tokio::test]
async fn a_patient_sees_what_stands_of_a_visit_after_part_of_it_is_refunded() {
    // Review r26 patient F2: the card kept the click's ¥1,225.00 and its whole share as owed on the
    // line after ¥1,200.00 of items were refunded and the line paid back.
    let w = Ward::open().await;
    let zhang = w.patient("13800138001", ZHANG_SAN).await;
    let visit = w.his.register("MZ-PART", "02", ZHANG_SAN.0).await.unwrap().body["id"].as_str().unwrap().to_string();
    let lines = [fee_line("1", "001102000010000", "25.00", "1", "25.00"), fee_line("2", "013100000010000", "150.00", "8", "1200.00")];
    assert!(w.his.upload_fees(&visit, &lines).await.unwrap().ok());
    assert_eq!(w.his.settle(&visit).await.unwrap().body["state"], "settled");
    let refund = w.his.post(&format!("/api/v1/visits/{visit}/refunds"), &json!({"lines": ["2"]})).await.unwrap();
    assert_eq!(refund.body["state"], "refunded", "{refund:?}");
    let page = w.page("/h5/visits", &zhang).await;
    let card = page.split(r#"id="visit-MZ-PART""#).nth(1).and_then(|rest| rest.split("</li>").next()).expect("the visit's card");
    assert!(card.contains("部分项目已退费") && card.contains("已退费项目") && card.contains("¥1,200.00"), "{card}");
    assert!(card.contains("¥25.00") && !card.contains("¥1,225.00"), "the total in force, not the click's: {card}");
}

#[tokio::test]
async fn a_refund_is_told_once_to_the_patient_and_to_the_signer_who_paid() {
    // Review: a refund sent the patient no message. Wang Wu's visit, paid on her husband's line
    // (亲情付), is refunded in part; Zhang San's own visit in full.
    let ward = Ward::open().await;
    let w = &ward;
    let (zhang_mobile, wang_mobile) = ("13800138011", "13800138012");
    let zhang = w.patient(zhang_mobile, ZHANG_SAN).await;
    let wang = w.patient(wang_mobile, WANG_WU).await;
    let settled_visit = |no: &'static str, certno: &'static str| async move {
        let visit = w.his.register(no, "02", certno).await.unwrap().body["id"].as_str().unwrap().to_string();
        let lines = [fee_line("1", "001102000010000", "25.00", "1", "25.00"), fee_line("2", EXAMINATION, "150.00", "8", "1200.00")];
        assert!(w.his.upload_fees(&visit, &lines).await.unwrap().ok());
        assert_eq!(w.his.settle(&visit).await.unwrap().body["state"], "settled");
        visit
    };
    let hers = settled_visit("MZ-RF-WANG", WANG_WU.0).await;
    let his = settled_visit("MZ-RF-ZHANG", ZHANG_SAN.0).await;
    let part = w.his.post(&format!("/api/v1/visits/{hers}/refunds"), &json!({"lines": ["2"]})).await.unwrap();
    assert_eq!(part.body["state"], "refunded", "{part:?}");
    let full = w.his.post(&format!("/api/v1/visits/{his}/refunds"), &json!({"lines": ["1", "2"]})).await.unwrap();
    assert_eq!(full.body["state"], "refunded", "{full:?}");
    // However often the notifier passes, each refund is told once to each person.
    for _ in 0..3 {
        w.sys.app.notify_patients().await.expect("a notification pass");
    }
    let refunds_told = |token: String| async move {
        let r = w.http.get(format!("{}/api/v1/patient/notifications", w.sys.hub_url)).bearer_auth(&token).send().await.unwrap();
        let body: Value = r.json().await.unwrap();
        let notes = body["notifications"].as_array().cloned().unwrap_or_default();
        notes.into_iter().filter(|n| n["kind"] == "visit_refunded").map(|n| n["facts"].clone()).collect::<Vec<Value>>()
    };
    let to_wang = refunds_told(wang.clone()).await;
    assert_eq!(to_wang.len(), 1, "{to_wang:?}");
    let f = &to_wang[0];
    assert_eq!(
        (f["ipt_otp_no"].as_str(), f["full"].as_bool(), f["member"].as_bool()),
        (Some("MZ-RF-WANG"), Some(false), Some(false)),
        "{f}"
    );
    assert_eq!(
        (f["refunded_fen"].as_i64(), f["to"].as_str(), f["refund_id"].clone()),
        (Some(120_000), Some("credit_line"), part.body["id"].clone())
    );
    let to_zhang = refunds_told(zhang.clone()).await;
    assert_eq!(to_zhang.len(), 2, "his own refund and his wife's: {to_zhang:?}");
    let wifes = to_zhang.iter().find(|f| f["ipt_otp_no"] == "MZ-RF-WANG").expect("his wife's refund, told to the payer");
    assert_eq!(wifes["member"].as_bool(), Some(true), "{wifes}");
    let own = to_zhang.iter().find(|f| f["ipt_otp_no"] == "MZ-RF-ZHANG").expect("his own refund");
    assert_eq!(
        (own["full"].as_bool(), own["refunded_fen"].as_i64(), own["member"].as_bool()),
        (Some(true), Some(122_500), Some(false)),
        "{own}"
    );

    // And as text messages: one per notification, saying where, how much and to where.
    let outbox = std::fs::read_to_string(w.dir.0.join("sms-outbox.log")).expect("the SMS outbox");
    let texts = |mobile: &str| -> Vec<String> {
        outbox
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|m| m["to"] == mobile && m["text"].as_str().is_some_and(|t| t.contains("退费")))
            .map(|m| m["text"].as_str().unwrap().to_string())
            .collect()
    };
    let wang_texts = texts(wang_mobile);
    assert_eq!(wang_texts.len(), 1, "{wang_texts:?}");
    assert!(
        wang_texts[0].contains("您在") && wang_texts[0].contains("的就诊（MZ-RF-WANG）部分项目已退费，退费金额1200.00元"),
        "{wang_texts:?}"
    );
    assert!(wang_texts[0].contains("退回信用额度") || wang_texts[0].contains("退回医保"), "{wang_texts:?}");
    let zhang_texts = texts(zhang_mobile);
    assert_eq!(zhang_texts.len(), 2, "{zhang_texts:?}");
    assert!(zhang_texts.iter().any(|t| t.contains("您的家人在") && t.contains("MZ-RF-WANG")), "{zhang_texts:?}");
    assert!(zhang_texts.iter().any(|t| t.contains("（MZ-RF-ZHANG）已全部退费，退费金额1225.00元")), "{zhang_texts:?}");

    // The inbox page says it in words, in either language.
    let inbox = w.page("/h5/notifications", &wang).await;
    assert!(inbox.contains("部分项目已退费") && inbox.contains("¥1,200.00"), "{inbox}");
    let inbox = w.page("/h5/notifications?lang=en", &zhang).await;
    assert!(inbox.contains("Refunded in full") && inbox.contains("visit were refunded"), "{inbox}");
}
