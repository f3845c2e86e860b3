//! Money going back when a settlement is reversed is told to the patient, and to the signer whose
//! agreement paid for them (亲情付), once, however often the notifier passes: Zhang San signed up on
//! a credit line and pays for his wife Wang Wu. A settlement of hers made through the drop-in
//! national interface and cancelled there (2208); her stay's interim settlement cancelled in the
//! ward and its bedside settlement cancelled (2305), then settled again; each is told to both of
//! them, in the inbox and by text, with what went back where. A cancellation whose bank refund
//! has not come back yet is not told until it has; the hub's own cancellation of a visit is told
//! the same way.

use serde_json::{json, Value};
use std::sync::Arc;
use wugan::faults::{Fault, FaultPlan, Rule};
use wugan::his::{fee_line, HisClient};
use wugan::system::{self, System};

mod common;

const ZHANG_SAN: (&str, &str) = ("440301199001011234", "张三");
const WANG_WU: (&str, &str) = ("440304198507203318", "王五");
const ZHANG_MOBILE: &str = "13900139001";
const WANG_MOBILE: &str = "13900139002";
const EXAMINATION: &str = "013100000010000"; // 150.00
const CONSULTATION: &str = "001102000010000"; // 25.00

struct Family {
    sys: System,
    his: HisClient,
    http: reqwest::Client,
    dir: common::TempDir,
    /// Zhang San's and Wang Wu's sessions on their phones.
    zhang: String,
    wang: String,
}

impl Family {
    /// Zhang San signed up on a credit line, paying for Wang Wu; both signed in on their phones.
    /// No recovery worker and no notifier run by themselves: the test makes their passes.
    async fn open(label: &str, bank_faults: Option<Arc<FaultPlan>>) -> Family {
        let (mut opts, dir) = common::fresh_options(label).await;
        opts.manual_recovery = true;
        opts.bank_faults = bank_faults;
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
        let mut family = Family { sys, his, http: reqwest::Client::new(), dir, zhang: String::new(), wang: String::new() };
        family.zhang = family.patient(ZHANG_MOBILE, ZHANG_SAN).await;
        family.wang = family.patient(WANG_MOBILE, WANG_WU).await;
        family
    }

    /// Signs in by the texted code and binds the real name: the bearer token (also the cookie).
    async fn patient(&self, mobile: &str, (certno, name): (&str, &str)) -> String {
        let post = |path: &str, body: Value| {
            self.http.post(format!("{}{path}", self.sys.hub_url)).header("idempotency-key", uuid::Uuid::new_v4().to_string()).json(&body)
        };
        assert_eq!(post("/api/v1/patient/sign-in-codes", json!({"mobile": mobile})).send().await.unwrap().status(), 202);
        let text = self.texts_to(mobile).pop().expect("the sign-in code");
        let code: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
        let session: Value =
            post("/api/v1/patient/sessions", json!({"mobile": mobile, "code": code})).send().await.unwrap().json().await.unwrap();
        let token = session["token"].as_str().expect("a session").to_string();
        let identity = json!({"certno": certno, "name": name, "face_check_ref": "FACE-0001"});
        assert_eq!(post("/api/v1/patient/me/identity", identity).bearer_auth(&token).send().await.unwrap().status(), 200);
        token
    }

    /// Every text message sent to `mobile`, oldest first.
    fn texts_to(&self, mobile: &str) -> Vec<String> {
        let outbox = std::fs::read_to_string(self.dir.0.join("sms-outbox.log")).unwrap_or_default();
        outbox
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|m| m["to"] == mobile)
            .map(|m| m["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The text messages to `mobile` that tell a settlement cancelled.
    fn cancellation_texts(&self, mobile: &str) -> Vec<String> {
        self.texts_to(mobile).into_iter().filter(|t| t.contains("结算已撤销")).collect()
    }

    /// The notifier, passing `n` times.
    async fn notifier_passes(&self, n: usize) {
        for _ in 0..n {
            self.sys.app.notify_patients().await.expect("a notification pass");
        }
    }

    /// The facts of the `settlement_cancelled` notifications in `token`'s inbox, with their event keys.
    async fn told(&self, token: &str) -> Vec<(String, Value)> {
        let r = self.http.get(format!("{}/api/v1/patient/notifications", self.sys.hub_url)).bearer_auth(token).send().await.unwrap();
        let body: Value = r.json().await.unwrap();
        let notes = body["notifications"].as_array().cloned().unwrap_or_default();
        let cancelled = notes.into_iter().filter(|n| n["kind"] == "settlement_cancelled");
        cancelled.map(|n| (n["event_key"].as_str().unwrap_or_default().to_string(), n["facts"].clone())).collect()
    }

    /// A page as the phone reads it, by the session cookie.
    async fn page(&self, path: &str, token: &str) -> String {
        let r = self.http.get(format!("{}{path}", self.sys.hub_url)).header("cookie", format!("wg_session={token}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        r.text().await.unwrap()
    }

    /// Admitted with `deposit_fen` held on Zhang San's line, an examination charged: the stay's id.
    async fn stay_with_fees(&self, ipt_no: &str, certno: &str, deposit_fen: i64) -> String {
        let body = json!({"ipt_no": ipt_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": certno, "deposit_fen": deposit_fen});
        let stay = self.his.post("/api/v1/stays", &body).await.unwrap();
        assert_eq!(stay.body["state"].as_str(), Some("in_ward"), "{stay:?}");
        let id = stay.body["id"].as_str().unwrap().to_string();
        let lines = json!({"lines": [fee_line("P1", EXAMINATION, "150.00", "1", "150.00")]});
        let fees = self.his.post(&format!("/api/v1/stays/{id}/fees"), &lines).await.unwrap();
        assert!(fees.ok(), "{fees:?}");
        id
    }

    /// A step of the ward on stay `id` (`/api/v1/stays/{id}/{step}`), which must succeed: the stay.
    async fn ward(&self, id: &str, step: &str) -> Value {
        let r = self.his.post(&format!("/api/v1/stays/{id}/{step}"), &json!({})).await.unwrap();
        assert!(r.ok(), "{step}: {r:?}");
        r.body
    }
}

/// What a notice says went back, in fen: (the settlement's total, the line's, the fund's).
fn amounts(f: &Value) -> (i64, i64, i64) {
    let fen = |k: &str| f[k].as_i64().unwrap_or_else(|| panic!("{k} in {f}"));
    (fen("refunded_fen"), fen("bank_fen"), fen("fund_fen"))
}

#[tokio::test]
async fn a_cancelled_national_interface_settlement_tells_the_patient_and_her_payer_once_what_came_back() {
    let family = Family::open("reversal-ni", None).await;
    let f = &family;
    // The hospital's own HIS speaks the national interface at the hub's drop-in prefix.
    let desk = common::national_desk::NationalDesk::open(&f.sys).await;
    let ok = |infno: &str, reply: Value| {
        assert_eq!(reply["infcode"].as_i64(), Some(0), "{infno}: {reply}");
        reply["output"].clone()
    };
    let person = json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": WANG_WU.0, "card_sn": "", "begntime": "",
                                 "psn_cert_type": "", "certno": "", "psn_name": ""}});
    let person = ok("1101", desk.call("1101", person).await);
    let (psn_no, insutype) = (person["baseinfo"]["psn_no"].clone(), person["insuinfo"][0]["insutype"].clone());
    let visit = json!({"data": {"psn_no": psn_no, "insutype": insutype, "begntime": "2026-11-30 09:30:00", "mdtrt_cert_type": "02",
        "mdtrt_cert_no": WANG_WU.0, "ipt_otp_no": "MZ-NI-WANG", "atddr_no": "D001", "dr_name": "王医生", "dept_code": "A03",
        "dept_name": "内科", "caty": "A03"}});
    let mdtrt_id = ok("2201", desk.call("2201", visit).await)["data"]["mdtrt_id"].clone();
    let line = |sn: &str, code: &str, pric: &str, cnt: &str, total: &str| {
        json!({"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": psn_no, "chrg_bchno": "B1", "fee_ocur_time": "2026-11-30 09:40:00",
               "med_list_codg": code, "medins_list_codg": code, "det_item_fee_sumamt": total, "cnt": cnt, "pric": pric,
               "bilg_dept_codg": "A03", "bilg_dept_name": "内科", "bilg_dr_codg": "D001", "bilg_dr_name": "王医生", "hosp_appr_flag": "1"})
    };
    let fees = json!({"feedetail": [line("1", CONSULTATION, "25.00", "1", "25.00"), line("2", EXAMINATION, "150.00", "8", "1200.00")]});
    ok("2204", desk.call("2204", fees).await);
    let settle = json!({"data": {"psn_no": psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": WANG_WU.0, "med_type": "11",
        "medfee_sumamt": "1225.00", "psn_setlway": "01", "mdtrt_id": mdtrt_id, "chrg_bchno": "B1", "acct_used_flag": "0",
        "insutype": insutype}});
    ok("2206", desk.call("2206", settle.clone()).await);
    // Settled at the hospital's platform; her share charged to her husband's line.
    let settled = ok("2207", desk.call("2207", settle).await);
    let paid = &settled["wugan_payment"];
    assert_eq!(paid["status"].as_str(), Some("paid"), "{settled}");
    let cash = paid["bank_fen"].as_i64().expect("the share charged");
    assert!(cash > 0, "{paid}");
    f.notifier_passes(1).await;
    assert!(f.told(&f.wang).await.is_empty(), "nothing cancelled yet");

    // The HIS cancels the settlement at its platform (2208): the share comes back to the line.
    let setl_id = settled["setlinfo"]["setl_id"].clone();
    let cancelled = ok("2208", desk.call("2208", json!({"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": psn_no}})).await);
    assert_eq!(cancelled["wugan_payment"]["status"].as_str(), Some("refunded"), "{cancelled}");
    let settlement_id = paid["settlement_id"].as_str().unwrap().to_string();

    // However often the notifier passes, the cancellation is told once to each of them.
    f.notifier_passes(3).await;
    let hers = f.told(&f.wang).await;
    assert_eq!(hers.len(), 1, "{hers:?}");
    let (key, facts) = &hers[0];
    assert_eq!(key, &format!("cancelled:{settlement_id}"));
    assert_eq!(
        (facts["kind"].as_str(), facts["ipt_otp_no"].as_str(), facts["member"].as_bool(), facts["to"].as_str()),
        (Some("visit"), Some("MZ-NI-WANG"), Some(false), Some("credit_line")),
        "{facts}"
    );
    let fen = |field: &str| wugan_domain::Fen::from_json_yuan(&settled["setlinfo"][field]).expect("yuan").unwrap_or_default().0;
    assert_eq!(amounts(facts), (122_500, cash, fen("fund_pay_sumamt")), "what the 2207 took, each share back: {facts}");
    assert_eq!(facts["account_fen"].as_i64(), Some(fen("acct_pay")), "{facts}");
    let his = f.told(&f.zhang).await;
    assert_eq!(his.len(), 1, "{his:?}");
    assert_eq!((his[0].0.as_str(), his[0].1["member"].as_bool()), (key.as_str(), Some(true)), "told to the payer as his wife's");
    assert_eq!(amounts(&his[0].1), amounts(facts));

    // And by text: one each, saying where, how much and to where.
    let yuan = |fen: i64| format!("{}.{:02}", fen / 100, fen % 100);
    let wang_texts = f.cancellation_texts(WANG_MOBILE);
    assert_eq!(wang_texts.len(), 1, "{wang_texts:?}");
    assert!(wang_texts[0].starts_with("【无感支付】您在"), "{wang_texts:?}");
    assert!(wang_texts[0].contains("的就诊（MZ-NI-WANG）结算已撤销（总费用1225.00元）"), "{wang_texts:?}");
    assert!(wang_texts[0].contains(&format!("{}元退回信用额度", yuan(cash))), "{wang_texts:?}");
    let zhang_texts = f.cancellation_texts(ZHANG_MOBILE);
    assert_eq!(zhang_texts.len(), 1, "{zhang_texts:?}");
    assert!(zhang_texts[0].contains("您的家人在") && zhang_texts[0].contains("MZ-NI-WANG"), "{zhang_texts:?}");

    // The inbox says it in words, in either language.
    let inbox = f.page("/h5/notifications", &f.wang).await;
    assert!(inbox.contains("就诊结算已撤销") && inbox.contains("¥1,225.00") && inbox.contains("退回信用额度"), "{inbox}");
    let inbox = f.page("/h5/notifications?lang=en", &f.zhang).await;
    assert!(inbox.contains("The settlement of a family member&#39;s visit was cancelled"), "{inbox}");
    family.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_stays_interim_and_bedside_settlements_cancelled_are_each_told_once_and_settling_again_is_not() {
    let family = Family::open("reversal-stay", None).await;
    let f = &family;
    let stay = f.stay_with_fees("ZY-RV-WANG", WANG_WU.0, 20_000).await;

    // Settled in the middle, then that interim settlement cancelled in the ward (2305).
    let interim = f.ward(&stay, "interim_settlement").await;
    let first = &interim["interim_settlements"][0];
    let interim_cash = first["bank_fen"].as_i64().expect("the share captured");
    assert!(interim_cash > 0, "{first}");
    f.ward(&stay, "interim_settlements/1/cancel").await;
    f.notifier_passes(3).await;
    let hers = f.told(&f.wang).await;
    assert_eq!(hers.len(), 1, "{hers:?}");
    let (interim_key, facts) = &hers[0];
    assert!(interim_key.starts_with(&format!("stay_cancelled:{stay}:")), "{interim_key}");
    assert_eq!(
        (facts["kind"].as_str(), facts["stay_id"].as_str(), facts["interim_n"].as_u64(), facts["ipt_otp_no"].as_str()),
        (Some("stay"), Some(stay.as_str()), Some(1), Some("ZY-RV-WANG")),
        "{facts}"
    );
    assert_eq!((amounts(facts).0, amounts(facts).1), (15_000, interim_cash), "{facts}");

    // Discharged and settled at the bedside, then that settlement cancelled (2305): its capture
    // comes back to the line; settled again at the bedside, which is no cancellation.
    let settled = f.ward(&stay, "discharge").await;
    assert_eq!(settled["state"].as_str(), Some("settled"), "{settled}");
    let bedside_cash = settled["settlement"]["bank_fen"].as_i64().expect("the share captured");
    let cancelled = f.ward(&stay, "settlement/cancel").await;
    assert_eq!(cancelled["state"].as_str(), Some("settlement_cancelled"), "{cancelled}");
    f.notifier_passes(2).await;
    let again = f.ward(&stay, "discharge").await;
    assert_eq!(again["state"].as_str(), Some("settled"), "{again}");
    f.notifier_passes(3).await;

    for (token, member) in [(&f.wang, false), (&f.zhang, true)] {
        let told = f.told(token).await;
        assert_eq!(told.len(), 2, "the interim settlement's and the bedside one's: {told:?}");
        assert!(told.iter().all(|(_, facts)| facts["member"].as_bool() == Some(member)), "{told:?}");
        let bedside = told.iter().find(|(key, _)| key != interim_key).expect("the bedside settlement's");
        assert_eq!(bedside.1["interim_n"], Value::Null, "{bedside:?}");
        assert_eq!((amounts(&bedside.1).0, amounts(&bedside.1).1), (15_000, bedside_cash), "{bedside:?}");
    }
    for (mobile, who) in [(WANG_MOBILE, "您在"), (ZHANG_MOBILE, "您的家人在")] {
        let texts = f.cancellation_texts(mobile);
        assert_eq!(texts.len(), 2, "{texts:?}");
        assert!(texts.iter().all(|t| t.starts_with(&format!("【无感支付】{who}"))), "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("的住院（ZY-RV-WANG）第1次中途结算已撤销（总费用150.00元）")), "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("的住院（ZY-RV-WANG）结算已撤销（总费用150.00元）")), "{texts:?}");
    }
    let inbox = f.page("/h5/notifications", &f.zhang).await;
    assert!(inbox.contains("家人住院中途结算已撤销") && inbox.contains("家人住院结算已撤销"), "{inbox}");
    family.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_cancellation_is_told_only_once_its_refund_has_come_back() {
    // The bank's answer to the first refund is lost after it refunded: the hub does not know yet.
    let lose = Rule { step: "POST refunds".into(), nth: 1, fault: Fault::LoseReply };
    let family = Family::open("reversal-lost-refund", Some(Arc::new(FaultPlan::scripted(vec![lose])))).await;
    let f = &family;
    let stay = f.stay_with_fees("ZY-RV-ZHANG", ZHANG_SAN.0, 30_000).await;
    assert_eq!(f.ward(&stay, "discharge").await["state"].as_str(), Some("settled"));
    let lost = f.his.post(&format!("/api/v1/stays/{stay}/settlement/cancel"), &json!({})).await.unwrap();
    assert_eq!(lost.status, 503, "{lost:?}");
    assert_eq!(f.his.get(&format!("/api/v1/stays/{stay}")).await.unwrap().body["state"].as_str(), Some("cancelling_settlement"));
    // 2305 is booked, the refund not: nothing is told yet.
    f.notifier_passes(3).await;
    assert!(f.told(&f.zhang).await.is_empty(), "told before the refund came back");

    // The recovery worker asks the bank for its record and books the refund: now it is told, once.
    f.sys.app.resume_unfinished(std::time::Duration::ZERO).await.expect("a recovery pass");
    assert_eq!(f.his.get(&format!("/api/v1/stays/{stay}")).await.unwrap().body["state"].as_str(), Some("settlement_cancelled"));
    f.notifier_passes(3).await;
    let told = f.told(&f.zhang).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!((told[0].1["kind"].as_str(), told[0].1["member"].as_bool()), (Some("stay"), Some(false)), "{told:?}");
    assert!(f.told(&f.wang).await.is_empty(), "his own stay is not told to his wife");

    // The hub's own cancellation of a visit (结算撤销 through the HIS API) is told the same way.
    let visit = f.his.register("MZ-RV-ZHANG", "02", ZHANG_SAN.0).await.unwrap().body["id"].as_str().unwrap().to_string();
    let lines = [fee_line("1", CONSULTATION, "25.00", "1", "25.00"), fee_line("2", EXAMINATION, "150.00", "8", "1200.00")];
    assert!(f.his.upload_fees(&visit, &lines).await.unwrap().ok());
    assert_eq!(f.his.settle(&visit).await.unwrap().body["state"], "settled");
    let cancelled = f.his.cancel(&visit).await.unwrap();
    assert_eq!(cancelled.body["state"], "cancelled", "{cancelled:?}");
    f.notifier_passes(3).await;
    let told = f.told(&f.zhang).await;
    assert_eq!(told.len(), 2, "{told:?}");
    let own = told.iter().find(|(_, facts)| facts["kind"] == "visit").expect("the visit's cancellation");
    assert_eq!((own.1["ipt_otp_no"].as_str(), amounts(&own.1).0), (Some("MZ-RV-ZHANG"), 122_500), "{own:?}");
    assert_eq!(f.cancellation_texts(ZHANG_MOBILE).len(), 2);
    family.sys.shutdown(std::time::Duration::from_secs(5)).await;
}
