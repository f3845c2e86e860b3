//! The drop-in national-interface endpoint (issue 15): an openhis-style HIS, which already speaks
//! the national interface, changes only its base URL to the hub's `/ni/<token>` prefix and sends
//! its whole outpatient flow (9001, 1101, 2201, 2204, 2206, 2207, 2208) there. The hub forwards
//! every envelope as it came and adds seamless payment after 2207 and 2208; it refuses a wrong
//! prefix or another institution's envelope in the national error shape; a 2207 whose reply is
//! lost after the platform committed it is resolved with 5203, never settled again.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use wugan::faults::{Fault, FaultPlan, Rule};
use wugan::his::HisClient;
use wugan::system;

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";

/// An HIS speaking the national interface, pointed at the hub's drop-in prefix.
struct NationalHis {
    http: reqwest::Client,
    url: String,
    code: String,
    sign_no: String,
    seq: AtomicU64,
}

impl NationalHis {
    fn msgid(&self) -> String {
        format!("{}20261130{:010}", self.code, self.seq.fetch_add(1, Ordering::Relaxed))
    }

    /// One envelope as openhis writes it; returns the HTTP status and the reply.
    async fn call_as(&self, fixmedins_code: &str, infno: &str, msgid: &str, input: Value) -> (u16, Value) {
        let envelope = json!({"infno": infno, "msgid": msgid, "mdtrtarea_admvs": "440300", "insuplc_admdvs": "440300",
            "recer_sys_code": "OPENHIS", "dev_no": "", "dev_safe_info": "", "cainfo": "CA-SIGNATURE-KEPT", "signtype": "SM2",
            "infver": "V1.0", "opter_type": "1", "opter": "0001", "opter_name": "收费员", "inf_time": "2026-11-30 10:00:00",
            "fixmedins_code": fixmedins_code, "fixmedins_name": "示例医院", "sign_no": self.sign_no, "input": input});
        let response = self.http.post(&self.url).json(&envelope).send().await.expect("the hub answers");
        (response.status().as_u16(), response.json().await.expect("a JSON reply"))
    }

    async fn call(&self, infno: &str, input: Value) -> Value {
        let (status, reply) = self.call_as(&self.code.clone(), infno, &self.msgid(), input).await;
        assert_eq!(status, 200, "{infno}: {reply}");
        reply
    }
}

fn ok(infno: &str, reply: &Value) -> Value {
    assert_eq!(reply["infcode"].as_i64(), Some(0), "{infno}: {reply}");
    reply["output"].clone()
}

struct Setup {
    sys: system::System,
    his: NationalHis,
    _dir: common::TempDir,
}

/// A hub with the patient signed, the hospital registered for the drop-in endpoint, and `fault`
/// on the insurance wire, if any.
async fn setup(fault: Option<Rule>) -> Setup {
    setup_on(fault.into_iter().collect(), None).await
}

async fn setup_with_plan(rules: Vec<Rule>) -> Setup {
    setup_on(rules, None).await
}

/// `setup`, the hospital's own platform `platform` (a scripted proxy) where one is given.
async fn setup_on(rules: Vec<Rule>, platform: Option<&common::own_platform::Platform>) -> Setup {
    setup_with_bank(rules, Vec::new(), platform).await
}

/// `setup_on`, with `bank` faults on the bank's wire.
async fn setup_with_bank(rules: Vec<Rule>, bank: Vec<Rule>, platform: Option<&common::own_platform::Platform>) -> Setup {
    let (mut opts, dir) = common::fresh_options("ni").await;
    opts.manual_recovery = true;
    opts.insurance_faults = (!rules.is_empty()).then(|| Arc::new(FaultPlan::scripted(rules)));
    opts.bank_faults = (!bank.is_empty()).then(|| Arc::new(FaultPlan::scripted(bank)));
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    if let Some(platform) = platform {
        let own = json!({"url": platform.url, "app_id": "own-app", "secret": "own-secret"});
        let path = format!("/api/v1/operator/hospitals/{}/platform", sys.credentials.hospitals[0].code);
        assert!(operator.post_with_key(&path, &operator.next_key(), &own).await.expect("hub").ok());
    }
    let signed = operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.expect("hub");
    assert!(signed.ok(), "{signed:?}");
    let hospital = sys.credentials.hospitals[0].clone();
    let added = wugan_hub::app::national_interface::register_hospital(&sys.app.store, &hospital.code, &hospital.name).await.expect("added");
    let url = format!("{}{}/fsi/api/rsfComIfsService/callService", sys.hub_url, added.national_interface_prefix);
    let mut his = NationalHis { http: reqwest::Client::new(), url, code: hospital.code, sign_no: String::new(), seq: AtomicU64::new(1) };
    let signed_in = ok("9001", &his.call("9001", json!({"signIn": {"opter_no": "0001", "mac": "", "ip": "127.0.0.1"}})).await);
    his.sign_no = signed_in["signinoutb"]["sign_no"].as_str().expect("sign_no").to_string();
    Setup { sys, his, _dir: dir }
}

/// 1101, 2201, 2204, 2206 as openhis sends them: the visit's (psn_no, mdtrt_id) and the 2207 input.
async fn outpatient_visit(his: &NationalHis, ipt_otp_no: &str) -> (String, String, Value) {
    let person = ok(
        "1101",
        &his.call(
            "1101",
            json!({"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN,
        "card_sn": "", "begntime": "", "psn_cert_type": "", "certno": "", "psn_name": ""}}),
        )
        .await,
    );
    let psn_no = person["baseinfo"]["psn_no"].as_str().expect("psn_no").to_string();
    let insurance = &person["insuinfo"][0];
    let registered = ok(
        "2201",
        &his.call(
            "2201",
            json!({"data": {"psn_no": psn_no, "insutype": insurance["insutype"],
        "begntime": "2026-11-30 09:30:00", "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "ipt_otp_no": ipt_otp_no,
        "atddr_no": "D001", "dr_name": "王医生", "dept_code": "A03", "dept_name": "内科", "caty": "A03"}}),
        )
        .await,
    );
    let mdtrt_id = registered["data"]["mdtrt_id"].as_str().expect("mdtrt_id").to_string();
    let line = |sn: &str, code: &str, pric: &str, cnt: &str, total: &str| {
        json!({"feedetl_sn": sn, "mdtrt_id": mdtrt_id,
        "psn_no": psn_no, "chrg_bchno": "B1", "fee_ocur_time": "2026-11-30 09:40:00", "med_list_codg": code,
        "medins_list_codg": code, "det_item_fee_sumamt": total, "cnt": cnt, "pric": pric, "bilg_dept_codg": "A03",
        "bilg_dept_name": "内科", "bilg_dr_codg": "D001", "bilg_dr_name": "王医生", "hosp_appr_flag": "1"})
    };
    let fees =
        json!({"feedetail": [line("1", "001102000010000", "25.00", "1", "25.00"), line("2", "013100000010000", "150.00", "8", "1200.00")]});
    ok("2204", &his.call("2204", fees).await);
    // A line of another batch, sent and withdrawn (2205): not the visit's.
    let mut other_batch = line("3", "001102000010000", "25.00", "1", "25.00");
    other_batch["chrg_bchno"] = json!("B2");
    ok("2204", &his.call("2204", json!({"feedetail": [other_batch]})).await);
    ok("2205", &his.call("2205", json!({"data": {"mdtrt_id": mdtrt_id, "chrg_bchno": "B2", "psn_no": psn_no}})).await);
    let settle = json!({"data": {"psn_no": psn_no, "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "med_type": "11",
        "medfee_sumamt": "1225.00", "psn_setlway": "01", "mdtrt_id": mdtrt_id, "chrg_bchno": "B1", "acct_used_flag": "1",
        "insutype": insurance["insutype"]}});
    let estimate = ok("2206", &his.call("2206", settle.clone()).await);
    assert!(estimate.get("wugan_payment").is_none(), "2206 comes back as it came: {estimate}");
    (psn_no, mdtrt_id, settle)
}

#[tokio::test]
async fn an_openhis_outpatient_flow_through_the_drop_in_endpoint_gets_seamless_payment() {
    let Setup { sys, his, _dir } = setup(None).await;
    let (psn_no, mdtrt_id, settle) = outpatient_visit(&his, "MZ0001").await;

    let settled = ok("2207", &his.call("2207", settle).await);
    let info = &settled["setlinfo"];
    let cash = wugan_domain::Fen::from_json_yuan(&info["psn_cash_pay"]).expect("yuan").unwrap_or_default().0;
    assert!(cash > 0, "the patient has a cash share: {info}");
    let payment = &settled["wugan_payment"];
    assert_eq!((payment["status"].as_str(), payment["bank_fen"].as_i64()), (Some("paid"), Some(cash)), "{payment}");

    // The HIS can also read the payment from the hub's API.
    let api = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let visit = api.get(&format!("/api/v1/visits/{}", payment["visit_id"].as_str().expect("visit"))).await.expect("hub");
    assert_eq!(
        (visit.body["mdtrt_id"].as_str(), visit.body["psn_no"].as_str()),
        (Some(mdtrt_id.as_str()), Some(psn_no.as_str())),
        "{visit:?}"
    );
    // Under the HIS's own number, with the lines its platform accepted (less the withdrawn one).
    assert_eq!((visit.body["ipt_otp_no"].as_str(), visit.body["medfee_fen"].as_i64()), (Some("MZ0001"), Some(122_500)), "{visit:?}");
    let found = api.get("/api/v1/visits?ipt_otp_no=MZ0001").await.expect("hub");
    assert_eq!(found.body["visits"][0]["id"], payment["visit_id"], "{found:?}");
    // Its invoice names the lines' categories, not one line of other fees.
    let mut items = Vec::new();
    for _ in 0..50 {
        let listed = api.get("/api/v1/invoices").await.expect("hub").body;
        if let Some(id) = listed["invoices"][0]["id"].as_str() {
            items = api.get(&format!("/api/v1/invoices/{id}")).await.expect("hub").body["invoice"]["items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            break;
        }
        sys.app.invoice_outbox_pass().await;
    }
    let categories: Vec<&str> = items.iter().filter_map(|i| i["category"].as_str()).collect();
    assert!(categories.len() >= 2 && !categories.contains(&"14"), "{items:?}");

    let setl_id = info["setl_id"].as_str().expect("setl_id");
    let cancelled = ok("2208", &his.call("2208", json!({"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": psn_no}})).await);
    assert_ne!(cancelled["setlinfo"]["setl_id"].as_str(), Some(setl_id), "2208 has its own setl_id");
    assert_eq!(cancelled["wugan_payment"]["status"].as_str(), Some("refunded"), "{cancelled}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_wrong_prefix_or_another_institutions_envelope_is_refused_in_the_national_shape() {
    let Setup { sys, his, _dir } = setup(None).await;
    let sent = sys.app.insurance.calls_sent();
    let person = json!({"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN}});
    let (status, reply) = his.call_as("H-SOMEONE-ELSE", "1101", &his.msgid(), person.clone()).await;
    assert_eq!((status, reply["infcode"].as_i64()), (200, Some(-1)), "another institution's envelope: {reply}");
    let his_url = his.url.clone();
    let wrong = NationalHis { url: format!("{}/ni/0000/fsi/api/rsfComIfsService/callService", sys.hub_url), ..his };
    let (status, reply) = wrong.call_as(&wrong.code.clone(), "1101", &wrong.msgid(), person).await;
    assert_eq!((status, reply["infcode"].as_i64()), (200, Some(-1)), "an unknown prefix: {reply}");
    assert!(reply["err_msg"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(sys.app.insurance.calls_sent(), sent, "nothing refused was forwarded");

    // What the hub's own edge refuses under the prefix is in the national shape too: a body over
    // the limit, a method or a path the endpoint does not have.
    let national = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let reply: Value = response.json().await.expect("JSON");
        assert_eq!((status, reply["infcode"].as_i64()), (200, Some(-1)), "{reply}");
        reply["err_msg"].as_str().unwrap_or_default().to_string()
    };
    let huge = format!("{{\"infno\": \"2204\", \"pad\": \"{}\"}}", "x".repeat(1_100_000));
    let too_large = national(wrong.http.post(&his_url).header("content-type", "application/json").body(huge).send().await.unwrap()).await;
    assert!(too_large.contains("body_too_large"), "{too_large}");
    let asked = national(wrong.http.get(&his_url).send().await.unwrap()).await;
    assert!(asked.contains("method_not_allowed"), "{asked}");
    let elsewhere = national(wrong.http.post(his_url.replace("callService", "other")).body("{}").send().await.unwrap()).await;
    assert!(elsewhere.contains("no_such_route"), "{elsewhere}");
    // A message that is JSON but no envelope (the fuzzer's `[null, null]`) is said so.
    let listed =
        national(wrong.http.post(&his_url).header("content-type", "application/json").body("[null, null]").send().await.unwrap()).await;
    assert!(listed.contains("not a JSON object"), "{listed}");
    assert_eq!(sys.app.insurance.calls_sent(), sent, "nothing refused was forwarded");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_2207_committed_but_unanswered_is_resolved_by_5203_and_paid_once() {
    let lose = Rule { step: "2207".into(), nth: 1, fault: Fault::LoseReply };
    let Setup { sys, his, _dir } = setup(Some(lose)).await;
    let (_, _, settle) = outpatient_visit(&his, "MZ0002").await;
    let msgid = his.msgid();
    let (status, reply) = his.call_as(&his.code.clone(), "2207", &msgid, settle.clone()).await;
    assert_eq!(status, 200);
    assert!(reply["warn_msg"].as_str().is_some_and(|w| w.contains("5203")), "the hub wrote this answer from 5203: {reply}");
    assert!(reply["inf_refmsgid"].as_str().is_some_and(|id| id.starts_with("000000")), "the hub's own reply id: {reply}");
    assert!(reply["output"]["setlinfo"].get("refd_setl_flag").is_none(), "a 2207's fields, not 5203's: {reply}");
    let out = ok("2207", &reply);
    assert_eq!(out["wugan_payment"]["status"].as_str(), Some("paid"), "the settlement 5203 found is paid: {out}");
    // The HIS resends its own 2207 with the same msgid: the platform replays, the hub pays once.
    let (_, again) = his.call_as(&his.code.clone(), "2207", &msgid, settle).await;
    assert!(again.get("inf_refmsgid").is_some(), "the platform's replay: {again}");
    let again = ok("2207", &again);
    assert_eq!(again["setlinfo"]["setl_id"], out["setlinfo"]["setl_id"], "the same settlement");
    assert_eq!(again["wugan_payment"]["settlement_id"], out["wugan_payment"]["settlement_id"], "paid once");
    let settlements = common::insurance_sandbox(&sys, "/sandbox/settlements").await;
    let n = settlements.as_array().map(|a| a.len()).unwrap_or_else(|| settlements["settlements"].as_array().map_or(0, |a| a.len()));
    assert_eq!(n, 1, "settled once at the platform: {settlements}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_hospital_set_to_insurance_only_gets_its_platforms_reply_and_no_charge() {
    let Setup { sys, his, _dir } = setup(None).await;
    let code = sys.credentials.hospitals[0].code.clone();
    sys.app.store.set_hospital_mode(&code, None, wugan_domain::settlement::cash_only::SetlType::Hi).await.expect("the mode");
    let (_, mdtrt_id, settle) = outpatient_visit(&his, "MZ-HI-NI").await;
    let settled = ok("2207", &his.call("2207", settle).await);
    let payment = &settled["wugan_payment"];
    assert_eq!((payment["status"].as_str(), payment["code"].as_str()), (Some("not_charged"), Some("insurance_only")), "{payment}");
    // A charge would have written the visit under its mdtrt_id (app/national_interface.rs).
    assert!(sys.app.store.visit_by_hospital_no(&code, &mdtrt_id).await.expect("store").is_none(), "no payment, no record of one");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_2207_lost_before_the_platform_is_never_answered_with_the_visits_earlier_settlement() {
    // Review r25 ni F1: 5203 by the visit found its earlier settlement, answered as this 2207's.
    let refuse_second = Rule { step: "2207".into(), nth: 2, fault: Fault::Refuse };
    let Setup { sys, his, _dir } = setup(Some(refuse_second)).await;
    let (_, _, settle) = outpatient_visit(&his, "MZ0003").await;
    let first = ok("2207", &his.call("2207", settle.clone()).await);
    assert_eq!(first["wugan_payment"]["status"].as_str(), Some("paid"), "{first}");
    let lost = his.call("2207", settle).await;
    assert_eq!(lost["infcode"].as_i64(), Some(-1), "not another settlement's success: {lost}");
    assert!(lost["err_msg"].as_str().is_some_and(|m| m.contains("resend the same message")), "{lost}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_same_2207_sent_three_times_at_once_is_paid_once_and_every_reply_says_so() {
    // Review r25 ni F2: one of three identical concurrent 2207s answered `not_charged`.
    let Setup { sys, his, _dir } = setup(None).await;
    let (_, _, settle) = outpatient_visit(&his, "MZ0004").await;
    let msgid = his.msgid();
    let code = his.code.clone();
    let (a, b, c) = tokio::join!(
        his.call_as(&code, "2207", &msgid, settle.clone()),
        his.call_as(&code, "2207", &msgid, settle.clone()),
        his.call_as(&code, "2207", &msgid, settle.clone())
    );
    let payments: Vec<Value> = [a, b, c].iter().map(|(_, reply)| ok("2207", reply)["wugan_payment"].clone()).collect();
    for p in &payments {
        assert_eq!(p["status"].as_str(), Some("paid"), "{payments:?}");
        assert_eq!(p["settlement_id"], payments[0]["settlement_id"], "one settlement: {payments:?}");
    }
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_2208_the_platform_answers_with_no_record_still_refunds_the_share() {
    // Review r25 ni F4: a success with `output` {} (or null) cancelled insurance and refunded nothing.
    let platform = common::own_platform::Platform::start("H44030600001").await;
    let Setup { sys, his, _dir } = setup_on(Vec::new(), Some(&platform)).await;
    let (psn_no, mdtrt_id, settle) = outpatient_visit(&his, "MZ0005").await;
    let settled = ok("2207", &his.call("2207", settle).await);
    assert_eq!(settled["wugan_payment"]["status"].as_str(), Some("paid"), "{settled}");
    platform.next(
        "2208",
        common::own_platform::Rule::Rewrite(Box::new(|mut reply: Value| {
            reply["output"] = Value::Null;
            reply
        })),
    );
    let setl_id = settled["setlinfo"]["setl_id"].clone();
    let cancelled = ok("2208", &his.call("2208", json!({"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": psn_no}})).await);
    assert_eq!(cancelled["wugan_payment"]["status"].as_str(), Some("refunded"), "told, and refunded: {cancelled}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_2207_resent_while_the_platform_is_down_again_is_answered_with_its_own_settlement() {
    // The first reply lost after the platform settled (the hub answered from 5203 and charged); the
    // HIS, not having that answer either, resends the same msgid while the platform is down: 5203
    // lists the settlement the hub knows, and its 医药机构结算ID is this 2207's msgid, so it is this one's.
    let plan =
        vec![Rule { step: "2207".into(), nth: 1, fault: Fault::LoseReply }, Rule { step: "2207".into(), nth: 2, fault: Fault::Refuse }];
    let Setup { sys, his, _dir } = setup_with_plan(plan).await;
    let (_, _, settle) = outpatient_visit(&his, "MZ0006").await;
    let msgid = his.msgid();
    let first = ok("2207", &his.call_as(&his.code.clone(), "2207", &msgid, settle.clone()).await.1);
    let again = ok("2207", &his.call_as(&his.code.clone(), "2207", &msgid, settle).await.1);
    assert_eq!(again["setlinfo"]["setl_id"], first["setlinfo"]["setl_id"], "{again}");
    assert_eq!(again["wugan_payment"]["settlement_id"], first["wugan_payment"]["settlement_id"], "paid once: {again}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

/// 2207 for the visit, paid; the 2208 input that cancels it.
async fn a_paid_visit(his: &NationalHis, ipt_otp_no: &str) -> (Value, Value) {
    let (psn_no, mdtrt_id, settle) = outpatient_visit(his, ipt_otp_no).await;
    let settled = ok("2207", &his.call("2207", settle).await);
    assert_eq!(settled["wugan_payment"]["status"].as_str(), Some("paid"), "{settled}");
    let cancel = json!({"data": {"setl_id": settled["setlinfo"]["setl_id"], "mdtrt_id": mdtrt_id, "psn_no": psn_no}});
    (settled, cancel)
}

async fn settlement_state(sys: &system::System, settlement_id: &Value) -> String {
    let id = settlement_id.as_str().expect("a settlement id");
    sys.app.store.settlement(id).await.expect("store").expect("the settlement").state.as_str().to_string()
}

#[tokio::test]
async fn a_2208_whose_reply_is_lost_is_checked_with_5203_and_the_share_refunded() {
    // Review r25 ni F3: the platform cancelled, its reply was lost, and the bank share stayed charged.
    let lose = Rule { step: "2208".into(), nth: 1, fault: Fault::LoseReply };
    let Setup { sys, his, _dir } = setup(Some(lose)).await;
    let (settled, cancel) = a_paid_visit(&his, "MZ0007").await;
    let reply = his.call("2208", cancel.clone()).await;
    let out = ok("2208", &reply);
    assert_eq!(out["wugan_payment"]["status"].as_str(), Some("refunded"), "{reply}");
    assert!(reply["warn_msg"].as_str().is_some_and(|w| w.contains("5203")), "the HIS is told how the hub knows: {reply}");
    assert_eq!(reply["inf_refmsgid"].as_str().map(str::len), Some(30), "shaped like a platform's reply: {reply}");
    assert_eq!(reply["respond_time"].as_str().map(str::len), Some(17), "{reply}");
    assert_eq!(settlement_state(&sys, &settled["wugan_payment"]["settlement_id"]).await, "cancelled");
    // The HIS, having had its answer, does not resend; one that does under a new msgid gets the
    // platform's refusal as it came, and nothing is refunded twice.
    let again = his.call("2208", cancel).await;
    assert_eq!(again["infcode"].as_i64(), Some(-1), "{again}");
    assert!(again["output"].get("wugan_payment").is_none(), "{again}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_2208_resent_under_a_new_msgid_and_refused_as_already_cancelled_refunds_the_share() {
    // The first 2208's reply lost and 5203 down too: the HIS is told to resend. It sends a new
    // message, which the platform refuses "already cancelled" (the HIS reads that as done): the
    // hub asks 5203 again, finds the settlement cancelled and refunds.
    let plan =
        vec![Rule { step: "2208".into(), nth: 1, fault: Fault::LoseReply }, Rule { step: "5203".into(), nth: 1, fault: Fault::Refuse }];
    let Setup { sys, his, _dir } = setup_with_plan(plan).await;
    let (settled, cancel) = a_paid_visit(&his, "MZ0008").await;
    let lost = his.call("2208", cancel.clone()).await;
    assert_eq!(lost["infcode"].as_i64(), Some(-1), "{lost}");
    assert!(lost["err_msg"].as_str().is_some_and(|m| m.contains("resend")), "{lost}");
    assert_eq!(settlement_state(&sys, &settled["wugan_payment"]["settlement_id"]).await, "settled", "nothing refunded on no evidence");
    let refused = his.call("2208", cancel).await;
    assert_eq!(refused["infcode"].as_i64(), Some(-1), "the platform's refusal stands: {refused}");
    assert_eq!(refused["output"]["wugan_payment"]["status"].as_str(), Some("refunded"), "{refused}");
    assert_eq!(settlement_state(&sys, &settled["wugan_payment"]["settlement_id"]).await, "cancelled");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_2208_refused_while_the_settlement_stands_is_passed_on_and_changes_nothing() {
    use common::own_platform::Rule as Rewrite;
    let platform = common::own_platform::Platform::start("H44030600001").await;
    let Setup { sys, his, _dir } = setup_on(Vec::new(), Some(&platform)).await;
    let (settled, cancel) = a_paid_visit(&his, "MZ0009").await;
    platform.next("2208", Rewrite::AnswerAlone(200, r#"{"infcode":-1,"err_msg":"系统繁忙","output":null}"#));
    let answer = his.call("2208", cancel.clone()).await;
    assert_eq!(answer["err_msg"].as_str(), Some("系统繁忙"), "as it came: {answer}");
    assert!(answer["output"].is_null(), "{answer}");
    assert_eq!(platform.infnos.lock().expect("infnos").last().map(String::as_str), Some("5203"), "asked before believed");
    assert_eq!(settlement_state(&sys, &settled["wugan_payment"]["settlement_id"]).await, "settled", "5203 shows it standing");
    // Sent again, it cancels and refunds as usual.
    let cancelled = ok("2208", &his.call("2208", cancel).await);
    assert_eq!(cancelled["wugan_payment"]["status"].as_str(), Some("refunded"), "{cancelled}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_setl_id_the_platform_writes_as_a_long_number_comes_back_whole_and_cancels() {
    // Review r25 ni F9: `440300202612030836410057` as a JSON number came back as `4.4030020261203e23`.
    use common::own_platform::{compact, unquoted, Rule as Rewrite};
    let platform = common::own_platform::Platform::start("H44030600001").await;
    let Setup { sys, his, _dir } = setup_on(Vec::new(), Some(&platform)).await;
    let (psn_no, mdtrt_id, settle) = outpatient_visit(&his, "MZ0010").await;
    platform.next("2207", Rewrite::RewriteText(|text| unquoted(&compact(text), "setl_id")));
    let settled = ok("2207", &his.call("2207", settle).await);
    let setl_id = settled["setlinfo"]["setl_id"].as_str().expect("the setl_id as text").to_string();
    assert!(setl_id.len() >= 20 && setl_id.bytes().all(|b| b.is_ascii_digit()), "every digit kept: {setl_id}");
    assert_eq!(settled["wugan_payment"]["status"].as_str(), Some("paid"), "{settled}");
    let cancel = json!({"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": psn_no}});
    let cancelled = ok("2208", &his.call("2208", cancel).await);
    assert_eq!(cancelled["wugan_payment"]["status"].as_str(), Some("refunded"), "the 2208 finds it: {cancelled}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_platforms_own_refusal_reaches_the_his_in_its_own_words() {
    // Review r25 ni F7: a gateway's 401 and a 500 with a national refusal were replaced by the hub's words.
    use common::own_platform::Rule as Rewrite;
    let platform = common::own_platform::Platform::start("H44030600001").await;
    let Setup { sys, his, _dir } = setup_on(Vec::new(), Some(&platform)).await;
    platform.next(
        "1101",
        Rewrite::AnswerAlone(401, r#"{"infcode":-1,"err_msg":"应用ID未注册","inf_refmsgid":"440300202612031000000000000001"}"#),
    );
    let input = json!({"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "card_sn": "", "begntime": "",
        "psn_cert_type": "", "certno": "", "psn_name": ""}});
    let (status, refused) = his.call_as(&his.code.clone(), "1101", &his.msgid(), input.clone()).await;
    assert_eq!(status, 401, "as it came: {refused}");
    assert_eq!(refused["err_msg"].as_str(), Some("应用ID未注册"), "{refused}");
    assert_eq!(refused["inf_refmsgid"].as_str(), Some("440300202612031000000000000001"), "{refused}");
    platform.next("2207", Rewrite::AnswerAlone(500, r#"{"infcode":-1,"err_msg":"人员参保状态异常"}"#));
    let (_, _, settle) = outpatient_visit(&his, "MZ0011").await;
    let failed = his.call("2207", settle).await;
    assert!(failed["err_msg"].as_str().is_some_and(|m| m.contains("人员参保状态异常")), "the platform's words: {failed}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_visit_settled_again_after_a_2208_takes_the_lines_of_its_new_batch() {
    // Review r25 ni F10: the second settlement kept the first's lines (the invoice: one line of other fees).
    let Setup { sys, his, _dir } = setup(None).await;
    let (psn_no, mdtrt_id, mut settle) = outpatient_visit(&his, "MZ0012").await;
    let settled = ok("2207", &his.call("2207", settle.clone()).await);
    let cancel = json!({"data": {"setl_id": settled["setlinfo"]["setl_id"], "mdtrt_id": mdtrt_id, "psn_no": psn_no}});
    ok("2208", &his.call("2208", cancel).await);
    let line = json!({"feedetl_sn": "4", "mdtrt_id": mdtrt_id, "psn_no": psn_no, "chrg_bchno": "B3",
        "fee_ocur_time": "2026-11-30 10:40:00", "med_list_codg": "001102000010000", "medins_list_codg": "001102000010000",
        "det_item_fee_sumamt": "100.00", "cnt": "4", "pric": "25.00", "bilg_dept_codg": "A03", "bilg_dept_name": "内科",
        "bilg_dr_codg": "D001", "bilg_dr_name": "王医生", "hosp_appr_flag": "1"});
    ok("2204", &his.call("2204", json!({"feedetail": [line]})).await);
    settle["data"]["chrg_bchno"] = json!("B3");
    settle["data"]["medfee_sumamt"] = json!("100.00");
    let again = ok("2207", &his.call("2207", settle).await);
    assert_eq!(again["wugan_payment"]["status"].as_str(), Some("paid"), "{again}");
    let visit_id = again["wugan_payment"]["visit_id"].as_str().expect("visit");
    let lines = sys.app.store.fee_lines(visit_id).await.expect("store");
    let held: Vec<(&str, i64)> = lines.iter().map(|l| (l.feedetl_sn.as_str(), l.amount.0)).collect();
    assert_eq!(held, [("4", 10000)], "the new settlement's lines only");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_visit_settled_in_two_batches_has_each_batch_paid_and_refunded_on_its_own() {
    // Review r25 ni F6: the second batch's 2207 (分批结算) was never charged: `already_settled`.
    let Setup { sys, his, _dir } = setup(None).await;
    let (psn_no, mdtrt_id, settle, first) = batch_b1_paid_beside_a_b3_line(&his, "MZ0013").await;
    let mut second = settle;
    second["data"]["chrg_bchno"] = json!("B3");
    second["data"]["medfee_sumamt"] = json!("100.00");
    let batch = ok("2207", &his.call("2207", second).await);
    let paid = &batch["wugan_payment"];
    assert_eq!(paid["status"].as_str(), Some("paid"), "batch B3 paid too: {batch}");
    assert_ne!(paid["settlement_id"], first["wugan_payment"]["settlement_id"], "a settlement of its own");
    let visit = sys.app.store.visit(paid["visit_id"].as_str().expect("visit")).await.expect("store").expect("the batch's visit");
    assert_eq!((visit.ipt_otp_no.as_str(), visit.mdtrt_id.as_str()), ("MZ0013#B3", mdtrt_id.as_str()), "under the HIS's number and batch");
    let lines = sys.app.store.fee_lines(&visit.id).await.expect("store");
    assert_eq!(lines.iter().map(|l| (l.feedetl_sn.as_str(), l.amount.0)).collect::<Vec<_>>(), [("5", 10000)], "its batch's lines");
    // Each batch is cancelled on its own (2208 by its setl_id).
    let cancel = json!({"data": {"setl_id": batch["setlinfo"]["setl_id"], "mdtrt_id": mdtrt_id, "psn_no": psn_no}});
    let cancelled = ok("2208", &his.call("2208", cancel).await);
    assert_eq!(cancelled["wugan_payment"]["settlement_id"], paid["settlement_id"], "{cancelled}");
    assert_eq!(cancelled["wugan_payment"]["status"].as_str(), Some("refunded"), "{cancelled}");
    assert_eq!(settlement_state(&sys, &first["wugan_payment"]["settlement_id"]).await, "settled", "batch B1 stands");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_second_2207_of_every_line_left_is_paid_as_a_settlement_of_its_own() {
    // Session 32's review: a 2207 with chrg_bchno "0000" after batch B1's settled every line left
    // at the platform (infcode 0) and was answered `not_charged`, `already_settled`: the HIS reads
    // infcode 0, and the patient's share of those lines was never collected.
    let Setup { sys, his, _dir } = setup(None).await;
    let (_, _, settle, first) = batch_b1_paid_beside_a_b3_line(&his, "MZ0020").await;
    let mut rest = settle;
    rest["data"]["chrg_bchno"] = json!("0000");
    rest["data"]["medfee_sumamt"] = json!("100.00");
    let second = ok("2207", &his.call("2207", rest).await);
    let cash = wugan_domain::Fen::from_json_yuan(&second["setlinfo"]["psn_cash_pay"]).expect("yuan").unwrap_or_default().0;
    let paid = &second["wugan_payment"];
    assert_eq!((paid["status"].as_str(), paid["bank_fen"].as_i64()), (Some("paid"), Some(cash)), "the lines left, paid: {second}");
    assert_ne!(paid["settlement_id"], first["wugan_payment"]["settlement_id"], "a settlement of its own");
    let visit = sys.app.store.visit(paid["visit_id"].as_str().expect("visit")).await.expect("store").expect("its visit");
    assert_eq!(visit.ipt_otp_no, "MZ0020#2", "under the HIS's number, counted");
    let lines = sys.app.store.fee_lines(&visit.id).await.expect("store");
    assert_eq!(lines.iter().map(|l| (l.feedetl_sn.as_str(), l.amount.0)).collect::<Vec<_>>(), [("5", 10000)], "the line B1 left");
    assert_eq!(settlement_state(&sys, &first["wugan_payment"]["settlement_id"]).await, "settled", "batch B1 stands");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_2208_with_its_fields_bare_in_input_is_refunded_like_one_wrapped_in_data() {
    // Session 32's review: the platform reads `input.data`, else `input` itself; the hub read only
    // `input.data`, so a bare 2208 cancelled insurance and refunded nothing.
    let Setup { sys, his, _dir } = setup(None).await;
    let (settled, cancel) = a_paid_visit(&his, "MZ0021").await;
    let cancelled = ok("2208", &his.call("2208", cancel["data"].clone()).await);
    assert_eq!(cancelled["wugan_payment"]["status"].as_str(), Some("refunded"), "{cancelled}");
    assert_eq!(settlement_state(&sys, &settled["wugan_payment"]["settlement_id"]).await, "cancelled");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_2208_success_whose_record_does_not_reverse_the_settlement_is_checked_with_5203() {
    // Session 32's review: the platform cancelled and answered a record the hub could not match
    // (a bare setl_id, no amounts), and the share stayed charged (`not_charged`).
    use common::own_platform::Rule as Rewrite;
    let platform = common::own_platform::Platform::start("H44030600001").await;
    let Setup { sys, his, _dir } = setup_on(Vec::new(), Some(&platform)).await;
    let (settled, cancel) = a_paid_visit(&his, "MZ0022").await;
    // A success the platform never acted on, with a record of positive amounts: 5203 shows the
    // settlement standing, so nothing is refunded, and the HIS is told so.
    platform.next(
        "2208",
        Rewrite::AnswerAlone(200, r#"{"infcode":0,"err_msg":"","output":{"setlinfo":{"setl_id":"X1","medfee_sumamt":"1225.00"}}}"#),
    );
    let kept = ok("2208", &his.call("2208", cancel.clone()).await);
    assert_eq!(kept["wugan_payment"]["status"].as_str(), Some("not_refunded"), "{kept}");
    assert_eq!(platform.infnos.lock().expect("infnos").last().map(String::as_str), Some("5203"), "asked before refused");
    assert_eq!(settlement_state(&sys, &settled["wugan_payment"]["settlement_id"]).await, "settled");
    // The platform cancels and answers its record cut down to ids: 5203 shows it cancelled.
    platform.next(
        "2208",
        Rewrite::Rewrite(Box::new(|mut reply| {
            let info = &reply["output"]["setlinfo"];
            let ids = json!({"setl_id": info["setl_id"], "mdtrt_id": info["mdtrt_id"], "psn_no": info["psn_no"]});
            reply["output"]["setlinfo"] = ids;
            reply
        })),
    );
    let cancelled = ok("2208", &his.call("2208", cancel).await);
    assert_eq!(cancelled["wugan_payment"]["status"].as_str(), Some("refunded"), "{cancelled}");
    assert_eq!(settlement_state(&sys, &settled["wugan_payment"]["settlement_id"]).await, "cancelled");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_2207_refused_as_a_repeated_message_after_it_took_effect_is_answered_from_5203() {
    // Session 32's review: a platform that refuses a resent msgid ("报文ID重复") rather than
    // replaying it; the refusal went to the HIS as it came, for a visit the platform had settled.
    use common::own_platform::Rule as Rewrite;
    let platform = common::own_platform::Platform::start("H44030600001").await;
    let Setup { sys, his, _dir } = setup_on(Vec::new(), Some(&platform)).await;
    let (_, _, settle) = outpatient_visit(&his, "MZ0023").await;
    platform.next("2207", Rewrite::ForwardThenAnswer(200, r#"{"infcode":-1,"err_msg":"报文ID重复","output":null}"#));
    let answered = ok("2207", &his.call("2207", settle).await);
    assert!(answered["setlinfo"]["setl_id"].as_str().is_some_and(|id| !id.is_empty()), "the platform's settlement: {answered}");
    assert_eq!(answered["wugan_payment"]["status"].as_str(), Some("paid"), "{answered}");
    assert_eq!(settlement_state(&sys, &answered["wugan_payment"]["settlement_id"]).await, "settled");
    // A refusal about the visit itself goes as it came, after the same check found nothing.
    let (_, _, other) = outpatient_visit(&his, "MZ0024").await;
    platform.next("2207", Rewrite::AnswerAlone(200, r#"{"infcode":-1,"err_msg":"报文ID重复","output":null}"#));
    let refused = his.call("2207", other).await;
    assert_eq!((refused["infcode"].as_i64(), refused["err_msg"].as_str()), (Some(-1), Some("报文ID重复")), "{refused}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_base_url_configured_with_a_trailing_slash_still_reaches_the_endpoint() {
    // Session 32's review: `…/ni/<token>//fsi/api/…` was "no such endpoint"; platforms behind nginx
    // merge the slashes, and the HIS worked against them.
    let Setup { sys, mut his, _dir } = setup(None).await;
    his.url = his.url.replace("/fsi/api/", "//fsi/api/");
    let person = his.call("1101", json!({"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN}})).await;
    assert!(ok("1101", &person)["baseinfo"]["psn_no"].is_string(), "{person}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_2207_the_his_reverses_with_2601_has_its_share_refunded() {
    // Session 32's review: 2601 (冲正) is how HIS software undoes a 2207 whose answer it lost; the
    // platform undid the settlement and the hub kept the charge.
    let Setup { sys, his, _dir } = setup(None).await;
    let (psn_no, _, settle) = outpatient_visit(&his, "MZ0025").await;
    let msgid = his.msgid();
    let (_, settled) = his.call_as(&his.code, "2207", &msgid, settle).await;
    let paid = ok("2207", &settled)["wugan_payment"].clone();
    assert_eq!(paid["status"].as_str(), Some("paid"), "{paid}");
    let reversal = json!({"data": {"psn_no": psn_no, "omsgid": msgid, "oinfno": "2207"}});
    let reversed = ok("2601", &his.call("2601", reversal.clone()).await);
    let payment = &reversed["wugan_payment"];
    assert_eq!((payment["status"].as_str(), &payment["settlement_id"]), (Some("refunded"), &paid["settlement_id"]), "{reversed}");
    assert_eq!(settlement_state(&sys, &paid["settlement_id"]).await, "cancelled");
    // Sent again, the platform refuses it (already cancelled): as it came, nothing refunded twice.
    let again = his.call("2601", reversal).await;
    assert_eq!(again["infcode"].as_i64(), Some(-1), "{again}");
    assert!(again["output"].is_null() || again["output"].get("wugan_payment").is_none(), "{again}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_visit_settled_again_after_a_cancellation_the_hub_did_not_see_is_charged_once() {
    // Session 32's review: the platform cancelled the first settlement (a 2208 whose reply was
    // lost and whose check could not be made, and the HIS gave up); the HIS settled the same lines
    // again with "0000", and the hub charged the new settlement beside the old one.
    use common::own_platform::{Rule as Rewrite, LOST};
    let platform = common::own_platform::Platform::start("H44030600001").await;
    let Setup { sys, his, _dir } = setup_on(Vec::new(), Some(&platform)).await;
    let (psn_no, mdtrt_id, settle) = outpatient_visit(&his, "MZ0026").await;
    let first = ok("2207", &his.call("2207", settle.clone()).await)["wugan_payment"].clone();
    let setl_id = platform_setl_id(&sys, &first).await;
    platform.next("2208", Rewrite::ForwardThenAnswer(502, LOST));
    platform.next("5203", Rewrite::AnswerAlone(502, LOST));
    let cancel = json!({"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": psn_no}});
    let lost = his.call("2208", cancel).await;
    assert_eq!(lost["infcode"].as_i64(), Some(-1), "no answer, no check: {lost}");
    assert_eq!(settlement_state(&sys, &first["settlement_id"]).await, "settled", "the hub did not see it");
    // The lines again (the platform cancelled them with the settlement), every one settled anew.
    let lines = json!({"feedetail": [
        fee_line(&mdtrt_id, &psn_no, "11", "B1", "1", "25.00", "25.00"),
        fee_line(&mdtrt_id, &psn_no, "12", "B1", "1", "1200.00", "1200.00")
    ]});
    ok("2204", &his.call("2204", lines).await);
    let mut again = settle;
    again["data"]["chrg_bchno"] = json!("0000");
    let second = ok("2207", &his.call("2207", again).await);
    let paid = &second["wugan_payment"];
    assert_eq!(paid["status"].as_str(), Some("paid"), "{second}");
    assert_eq!(settlement_state(&sys, &first["settlement_id"]).await, "cancelled", "the first refunded before the second was charged");
    let visit = sys.app.store.visit(paid["visit_id"].as_str().expect("visit")).await.expect("store").expect("its visit");
    assert_eq!(visit.ipt_otp_no, "MZ0026", "under the HIS's own number again");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_2601_whose_answer_was_lost_and_whose_resend_is_refused_still_refunds() {
    // Session 32's review: the 2601 reversed the 2207, its answer was lost, and the resend was
    // refused (already cancelled): passed on as it came, the share stayed charged.
    use common::own_platform::{Rule as Rewrite, LOST};
    let platform = common::own_platform::Platform::start("H44030600001").await;
    let Setup { sys, his, _dir } = setup_on(Vec::new(), Some(&platform)).await;
    let (psn_no, _, settle) = outpatient_visit(&his, "MZ0027").await;
    let msgid = his.msgid();
    let (_, settled) = his.call_as(&his.code, "2207", &msgid, settle).await;
    let paid = ok("2207", &settled)["wugan_payment"].clone();
    platform.next("2601", Rewrite::ForwardThenAnswer(502, LOST));
    platform.next("5203", Rewrite::AnswerAlone(502, LOST));
    let reversal = json!({"data": {"psn_no": psn_no, "omsgid": msgid, "oinfno": "2207"}});
    let lost = his.call("2601", reversal.clone()).await;
    assert_eq!(lost["infcode"].as_i64(), Some(-1), "{lost}");
    assert_eq!(settlement_state(&sys, &paid["settlement_id"]).await, "settled", "no evidence yet");
    let refused = his.call("2601", reversal).await;
    assert_eq!(refused["infcode"].as_i64(), Some(-1), "the platform's refusal stands: {refused}");
    assert_eq!(refused["output"]["wugan_payment"]["status"].as_str(), Some("refunded"), "{refused}");
    assert_eq!(settlement_state(&sys, &paid["settlement_id"]).await, "cancelled");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

/// The platform's setl_id of the settlement a `wugan_payment` names.
async fn platform_setl_id(sys: &system::System, payment: &Value) -> String {
    let id = payment["settlement_id"].as_str().expect("a settlement id");
    let record = sys.app.store.settlement_record(id).await.expect("store").expect("a record");
    record.posted_setl_id.expect("the platform's setl_id")
}

/// A fee line of `batch`, one unit of `pric` yuan.
fn fee_line(mdtrt_id: &str, psn_no: &str, sn: &str, batch: &str, cnt: &str, pric: &str, total: &str) -> Value {
    json!({"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": psn_no, "chrg_bchno": batch, "fee_ocur_time": "2026-11-30 11:00:00",
        "med_list_codg": "001102000010000", "medins_list_codg": "001102000010000", "det_item_fee_sumamt": total, "cnt": cnt,
        "pric": pric, "bilg_dept_codg": "A03", "bilg_dept_name": "内科", "bilg_dr_codg": "D001", "bilg_dr_name": "王医生", "hosp_appr_flag": "1"})
}

/// A visit with batch B1 (`outpatient_visit`'s) and a line of batch B3 (100.00), B1 settled and
/// paid: the visit's (psn_no, mdtrt_id), B1's 2207 input and its answer.
async fn batch_b1_paid_beside_a_b3_line(his: &NationalHis, ipt_otp_no: &str) -> (String, String, Value, Value) {
    let (psn_no, mdtrt_id, settle) = outpatient_visit(his, ipt_otp_no).await;
    let line = fee_line(&mdtrt_id, &psn_no, "5", "B3", "4", "25.00", "100.00");
    ok("2204", &his.call("2204", json!({"feedetail": [line]})).await);
    let first = ok("2207", &his.call("2207", settle.clone()).await);
    assert_eq!(first["wugan_payment"]["status"].as_str(), Some("paid"), "batch B1: {first}");
    (psn_no, mdtrt_id, settle, first)
}

#[tokio::test]
async fn a_2601_sent_while_its_2207_is_still_being_charged_waits_and_refunds() {
    // Session 32's second review: the HIS gave up on a 2207 whose bank charge was slow and
    // reversed it; the settlement was not yet final, so it was passed over and stayed charged.
    let slow_charge = Rule { step: "POST charges".into(), nth: 1, fault: Fault::Delay(std::time::Duration::from_secs(3)) };
    let Setup { sys, his, _dir } = setup_with_bank(Vec::new(), vec![slow_charge], None).await;
    let his = Arc::new(his);
    let (psn_no, _, settle) = outpatient_visit(&his, "MZ0028").await;
    let msgid = his.msgid();
    let settling = {
        let (his, msgid) = (his.clone(), msgid.clone());
        tokio::spawn(async move { his.call_as(&his.code, "2207", &msgid, settle).await })
    };
    // The platform has settled and the hub is charging: its settlement is written, not final.
    let mut charging = None;
    for _ in 0..100 {
        let visit = sys.app.store.visit_by_hospital_no(&his.code, "MZ0028").await.expect("store");
        if let Some(visit) = visit {
            charging = sys.app.store.settlement_of_visit(&visit.id).await.expect("store");
        }
        if charging.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(charging.is_some_and(|s| !s.state.is_final()), "the charge is under way");
    let reversal = json!({"data": {"psn_no": psn_no, "omsgid": msgid, "oinfno": "2207"}});
    let reversed = ok("2601", &his.call("2601", reversal).await);
    let payment = &reversed["wugan_payment"];
    assert_eq!(payment["status"].as_str(), Some("refunded"), "waited for the charge, then refunded: {reversed}");
    let (_, settled) = settling.await.expect("the 2207 answers");
    assert_eq!(ok("2207", &settled)["wugan_payment"]["settlement_id"], payment["settlement_id"], "{settled}");
    assert_eq!(settlement_state(&sys, &payment["settlement_id"]).await, "cancelled");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}
