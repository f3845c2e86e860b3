//! The patient's online services over HTTP (issue 14 scope 7): 赵六 applies online for his
//! diabetes' special-disease registration, the insurance center approves it, and his next med_type
//! 14 visit is settled at the click with the special-disease benefit, to the fen; 李秀英's
//! application for a disease off the region's list is declined with the reason, and her med_type
//! 14 visit is not settled as one; 赵六 claims a bill he paid in full elsewhere (零星报销), the center
//! adjudicates it and pays the fund's share to his card once, though he submits it twice; a
//! stranger sees none of it.

use serde_json::{json, Value};
use wugan::his::{fee_line, HisClient};
use wugan::system::{self, System};

mod common;

const ZHAO_LIU: (&str, &str) = ("440305199208084567", "赵六");
const ZHAO_LIU_PSN_NO: &str = "44030000000000000004";
const LI_XIUYING: (&str, &str) = ("440303195803152420", "李秀英");
const ZHANG_SAN: (&str, &str) = ("440301199001011234", "张三");
/// The demo hospital the hub onboards on first start (a registration names a hospital on its books).
const HOSPITAL: &str = "H44030600001";

struct Door {
    sys: System,
    operator: HisClient,
    his: HisClient,
    _dir: common::TempDir,
}

impl Door {
    async fn open() -> Door {
        let (opts, dir) = common::fresh_options("online").await;
        let sys = system::start(&opts).await.expect("system starts");
        let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
        let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
        Door { sys, operator, his, _dir: dir }
    }

    /// A patient signed in with the texted code and bound to `who`: their bearer client.
    async fn patient(&self, mobile: &str, (certno, name): (&str, &str)) -> HisClient {
        let nobody = HisClient::new(&self.sys.hub_url, "");
        let sent = nobody.post("/api/v1/patient/sign-in-codes", &json!({"mobile": mobile})).await.unwrap();
        assert_eq!(sent.status, 202, "{sent:?}");
        let code = self.texted_code(mobile);
        let session = nobody.post("/api/v1/patient/sessions", &json!({"mobile": mobile, "code": code})).await.unwrap();
        assert_eq!(session.status, 201, "{session:?}");
        let patient = HisClient::new(&self.sys.hub_url, session.body["token"].as_str().unwrap());
        let bound = patient.post("/api/v1/patient/me/identity", &json!({"certno": certno, "name": name, "face_check_ref": "FACE-1"})).await;
        assert!(bound.as_ref().unwrap().ok(), "{bound:?}");
        patient
    }

    fn texted_code(&self, mobile: &str) -> String {
        let outbox = std::fs::read_to_string(self._dir.0.join("sms-outbox.log")).expect("the SMS outbox exists");
        let line = outbox.lines().rev().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|m| m["to"] == mobile).expect("a text");
        line["text"].as_str().unwrap().chars().filter(char::is_ascii_digit).take(6).collect()
    }

    async fn sign_up(&self, certno: &str) {
        let payment = json!({"method": "credit_line", "bank_code": "BANK01"});
        let agreement = self.operator.sign_up("02", certno, true, payment).await.unwrap();
        assert!(agreement.ok(), "sign-up: {agreement:?}");
    }

    /// A med_type 14 visit of one consultation (25.00), clicked: the settlement's reply.
    async fn special_disease_visit(&self, visit_no: &str, certno: &str) -> wugan::his::Reply {
        let registration = json!({"ipt_otp_no": visit_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": certno,
                                  "med_type": "14", "dept_code": "A03", "dept_name": "内科"});
        let visit = self.his.post("/api/v1/visits", &registration).await.unwrap();
        assert!(visit.ok(), "registration: {visit:?}");
        let id = visit.body["id"].as_str().unwrap().to_string();
        let fees = [fee_line(&format!("{visit_no}-1"), "001102000010000", "25.00", "1", "25.00")];
        assert!(self.his.upload_fees(&id, &fees).await.unwrap().ok());
        self.his.settle(&id).await.unwrap()
    }
}

fn apply(code: &str) -> Value {
    json!({"opsp_dise_code": code, "hospital_code": HOSPITAL, "begndate": "2024-01-01"})
}

/// A designated hospital the hub does not serve: bills paid there are claimed all the same.
const ELSEWHERE: &str = "H44190000009";

/// 75.00 paid in full for three consultations elsewhere, claimed as a special-disease bill.
fn bill(bill_no: &str) -> Value {
    json!({"hospital_code": ELSEWHERE, "bill_no": bill_no, "setl_date": "2024-06-03", "med_type": "14", "paid_fen": 7500,
           "bank_card_no": "6222020200001234567",
           "lines": [{"med_list_codg": "001102000010000", "cnt": "3", "pric": "25.00", "amount_fen": 7500}]})
}

#[tokio::test]
async fn an_approved_registration_gives_the_next_special_disease_visit_its_benefit_to_the_fen() {
    let door = Door::open().await;
    door.sign_up(ZHAO_LIU.0).await;
    let zhao = door.patient("13800138004", ZHAO_LIU).await;

    let applied = zhao.post("/api/v1/patient/special-diseases", &apply("M07800")).await.unwrap();
    assert!(applied.ok(), "{applied:?}");
    let body = &applied.body;
    assert_eq!((body["state"].as_str(), body["opsp_dise_name"].as_str()), (Some("approved"), Some("糖尿病")), "{body}");
    assert!(body["trt_dcla_detl_sn"].as_str().is_some_and(|sn| !sn.is_empty()));

    // 25.00 in scope, no deductible, 90 %: the fund 22.50, 赵六 2.50 (his personal account is empty).
    let settled = door.special_disease_visit("MT-Z1", ZHAO_LIU.0).await;
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    let s = &settled.body;
    assert_eq!(
        (s["medfee_fen"].as_i64(), s["fund_fen"].as_i64(), s["personal_account_fen"].as_i64()),
        (Some(2500), Some(2250), Some(0)),
        "{s}"
    );

    // Revoked, the next med_type 14 visit is no longer settled as one.
    let id = body["id"].as_str().unwrap();
    let revoked = zhao.post(&format!("/api/v1/patient/special-diseases/{id}/revoke"), &json!({})).await.unwrap();
    assert_eq!(revoked.body["state"], "revoked", "{revoked:?}");
    let refused = door.special_disease_visit("MT-Z2", ZHAO_LIU.0).await;
    assert_ne!(refused.body["state"], "settled", "{refused:?}");
}

#[tokio::test]
async fn a_declined_registration_says_why_and_opens_nothing() {
    let door = Door::open().await;
    door.sign_up(LI_XIUYING.0).await;
    let li = door.patient("13800138002", LI_XIUYING).await;
    let applied = li.post("/api/v1/patient/special-diseases", &apply("M99999")).await.unwrap();
    assert!(applied.ok(), "{applied:?}");
    assert_eq!(applied.body["state"], "declined");
    assert!(applied.body["reason"].as_str().is_some_and(|r| r.contains("不在本统筹区门诊慢特病病种目录")), "{applied:?}");
    let listed = li.get("/api/v1/patient/special-diseases").await.unwrap();
    assert_eq!(listed.body["registrations"].as_array().map(Vec::len), Some(1));

    let visit = door.special_disease_visit("MT-L1", LI_XIUYING.0).await;
    assert_ne!(visit.body["state"], "settled", "{visit:?}");
}

#[tokio::test]
async fn a_claim_is_adjudicated_and_paid_once_though_submitted_twice_and_a_stranger_sees_none_of_it() {
    let door = Door::open().await;
    let zhao = door.patient("13800138004", ZHAO_LIU).await;
    assert!(zhao.post("/api/v1/patient/special-diseases", &apply("M07800")).await.unwrap().ok());

    // 90 % of 75.00 is the fund's: 67.50 to the card ending 4567.
    let first = zhao.post_with_key("/api/v1/patient/claims", "claim-FP-1", &bill("FP-1")).await.unwrap();
    assert!(first.ok(), "{first:?}");
    let c = &first.body;
    assert_eq!((c["state"].as_str(), c["fund_fen"].as_i64(), c["psn_part_fen"].as_i64()), (Some("paid"), Some(6750), Some(750)), "{c}");
    assert_eq!(c["bank_card_tail"], "4567");
    let (id, payment_id) = (c["id"].as_str().unwrap().to_string(), c["payment_id"].as_str().unwrap().to_string());

    // Submitted again (the same key): the same claim, the same payment.
    let again = zhao.post_with_key("/api/v1/patient/claims", "claim-FP-1", &bill("FP-1")).await.unwrap();
    assert_eq!((again.body["id"].as_str(), again.body["payment_id"].as_str()), (Some(id.as_str()), Some(payment_id.as_str())));
    // The same bill under another key: declined, with the center's reason.
    let other = zhao.post_with_key("/api/v1/patient/claims", "claim-FP-1-again", &bill("FP-1")).await.unwrap();
    assert_eq!(other.body["state"], "declined", "{other:?}");
    assert!(other.body["reason"].as_str().is_some_and(|r| r.contains("已申请报销")), "{other:?}");
    // The fund paid once: its accumulator moved by 67.50, not twice that.
    let person = common::insurance_sandbox(&door.sys, &format!("/sandbox/persons/{ZHAO_LIU_PSN_NO}")).await;
    assert_eq!(person["ytd"]["2024"]["hifp_paid"], "67.50", "{person}");

    let mine = zhao.get(&format!("/api/v1/patient/claims/{id}")).await.unwrap();
    assert_eq!(mine.body["state"], "paid");
    let stranger = door.patient("13800138001", ZHANG_SAN).await;
    let seen = stranger.get(&format!("/api/v1/patient/claims/{id}")).await.unwrap();
    assert_eq!((seen.status, seen.code()), (404, Some("claim_not_found")), "{seen:?}");
    let listed = stranger.get("/api/v1/patient/claims").await.unwrap();
    assert_eq!(listed.body["claims"], json!([]));
    let hospital = door.his.get(&format!("/api/v1/patient/claims/{id}")).await.unwrap();
    assert_eq!(hospital.status, 401, "a hospital's key is not a patient: {hospital:?}");
}

#[tokio::test]
async fn a_claim_with_figures_that_do_not_add_up_is_refused_before_the_center() {
    let door = Door::open().await;
    let zhao = door.patient("13800138004", ZHAO_LIU).await;
    let cases = [
        ("paid_fen", json!(8000), "claim_total_mismatch"),
        ("bank_card_no", json!("12ab"), "invalid_bank_card"),
        ("setl_date", json!("June 3rd"), "invalid_date"),
        ("lines", json!([]), "invalid_claim_lines"),
        // Amounts whose sum passes i64 (the fuzzer's): refused, not a dropped connection.
        ("lines", json!([line(i64::MAX - 1), line(7_700_073)]), "claim_total_mismatch"),
        // A hospital the hub does not know (its name typed for its code): refused, never sent on.
        ("hospital_code", json!("示范三甲医院"), "unknown_hospital"),
    ];
    fn line(amount_fen: i64) -> serde_json::Value {
        json!({"med_list_codg": "X01", "cnt": "1", "pric": "1.00", "amount_fen": amount_fen})
    }
    for (field, value, code) in cases {
        let mut body = bill("FP-X");
        body[field] = value;
        let reply = zhao.post("/api/v1/patient/claims", &body).await.unwrap();
        assert_eq!((reply.status, reply.code()), (422, Some(code)), "{field}: {reply:?}");
    }
}

#[tokio::test]
async fn a_registration_at_a_hospital_the_hub_does_not_know_is_refused_and_kept_nowhere() {
    let door = Door::open().await;
    let li = door.patient("13800138002", LI_XIUYING).await;
    for code in ["示范三甲医院", "H00000000000", " "] {
        let body = json!({"opsp_dise_code": "M07800", "hospital_code": code, "begndate": "2024-01-01"});
        let refused = li.post("/api/v1/patient/special-diseases", &body).await.unwrap();
        let expected = if code.trim().is_empty() { "missing_field" } else { "unknown_hospital" };
        assert_eq!((refused.status, refused.code()), (422, Some(expected)), "{code}: {refused:?}");
    }
    let listed = li.get("/api/v1/patient/special-diseases").await.unwrap();
    assert_eq!(listed.body["registrations"], json!([]), "{listed:?}");
}
