//! Numbers as a real HIS sends them (review r20, F6 and F10): a 门诊号 read from an Oracle CHAR
//! column comes padded with spaces, and a fee line's number (feedetl_sn) comes as a JSON number,
//! written as the HIS's JSON library likes (`13.0`, `1e1`). The hub reads each as the hospital
//! means it, the way the insurance center does, everywhere it compares them.

use serde_json::{json, Value};
use wugan::his::{fee_line, HisClient};
use wugan::system;

mod common;

const EMPLOYEE_CERTNO: &str = "440301199001011234";
const CONSULTATION: &str = "001102000010000"; // 25.00

async fn his() -> (system::System, HisClient, common::TempDir) {
    let (opts, dir) = common::fresh_options("padded").await;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let signed = operator.sign_up("02", EMPLOYEE_CERTNO, false, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(signed.ok(), "{signed:?}");
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    (sys, his, dir)
}

#[tokio::test]
async fn a_visit_number_padded_by_a_char_column_is_the_same_visit_everywhere() {
    let (_sys, his, _dir) = his().await;
    let first = his.register("MZ5001", "02", EMPLOYEE_CERTNO).await.unwrap();
    assert!(first.ok(), "{first:?}");
    let id = first.body["id"].clone();

    // The same number from a CHAR(10) column: the visit that exists, not a refusal from the center.
    let padded = his.register("MZ5001    ", "02", EMPLOYEE_CERTNO).await.unwrap();
    assert_eq!((padded.status, padded.code()), (409, Some("visit_exists")), "{padded:?}");
    assert_eq!(padded.body["error"]["visit_id"], id, "{padded:?}");
    let found = his.get("/api/v1/visits?ipt_otp_no=MZ5001%20%20").await.unwrap();
    assert_eq!(found.body["visits"].as_array().map(|v| v.iter().map(|v| v["id"].clone()).collect::<Vec<_>>()), Some(vec![id]), "{found:?}");

    // A number registered padded is kept as the hospital means it, and found by it.
    let second = his.register(" MZ5002 ", "02", EMPLOYEE_CERTNO).await.unwrap();
    assert!(second.ok(), "{second:?}");
    assert_eq!(second.body["ipt_otp_no"], "MZ5002", "{second:?}");
    let found = his.get("/api/v1/visits?ipt_otp_no=MZ5002").await.unwrap();
    assert_eq!(found.body["visits"][0]["id"], second.body["id"], "{found:?}");
    let again = his.register("MZ5002", "02", EMPLOYEE_CERTNO).await.unwrap();
    assert_eq!(again.code(), Some("visit_exists"), "{again:?}");
}

#[tokio::test]
async fn fee_line_numbers_sent_as_json_numbers_are_read_as_their_integers_and_answered_in_the_order_sent() {
    let (_sys, his, _dir) = his().await;
    let visit = his.register("MZ6001", "02", EMPLOYEE_CERTNO).await.unwrap();
    let id = visit.body["id"].as_str().expect("a visit").to_string();
    let line = |sn: &str| {
        let mut l = fee_line("X", CONSULTATION, "25.00", "1", "25.00");
        l.as_object_mut().expect("a line").remove("feedetl_sn");
        let text = l.to_string();
        format!("{{\"feedetl_sn\": {sn}, {}", &text[1..])
    };
    let upload = |sns: &[&str]| format!("{{\"lines\": [{}]}}", sns.iter().map(|sn| line(sn)).collect::<Vec<_>>().join(", "));

    // A number with a fraction is no line number: refused, saying why.
    let fraction = his.raw("POST", &format!("/api/v1/visits/{id}/fees"), Some("fees-0"), Some(&upload(&["13.5"]))).await.unwrap();
    assert_eq!((fraction.status, fraction.code()), (422, Some("invalid_request")), "{fraction:?}");
    assert!(fraction.message().contains("whole number"), "{fraction:?}");

    // A time that is an object (the fuzzer's): refused, not taken as absent (and so "now").
    let mut timed = fee_line("T1", CONSULTATION, "25.00", "1", "25.00");
    timed["fee_ocur_time"] = json!({});
    let body = json!({"lines": [timed]}).to_string();
    let refused = his.raw("POST", &format!("/api/v1/visits/{id}/fees"), Some("fees-t"), Some(&body)).await.unwrap();
    assert_eq!((refused.status, refused.code()), (422, Some("invalid_request")), "{refused:?}");
    assert!(refused.message().contains("fee_ocur_time must be text"), "{refused:?}");

    // One line named twice, however its number is written: refused before anything is sent.
    let twice = his.raw("POST", &format!("/api/v1/visits/{id}/fees"), Some("fees-2x"), Some(&upload(&["13", "13.0"]))).await.unwrap();
    assert_eq!((twice.status, twice.code()), (422, Some("duplicate_fee_line")), "{twice:?}");

    let sent = upload(&["13.0", "1e1", "2", "\"1\"", "\" 7 \""]);
    let uploaded = his.raw("POST", &format!("/api/v1/visits/{id}/fees"), Some("fees-1"), Some(&sent)).await.unwrap();
    assert!(uploaded.ok(), "{uploaded:?}");
    let numbers: Vec<Value> = uploaded.body["lines"].as_array().expect("lines").iter().map(|l| l["feedetl_sn"].clone()).collect();
    assert_eq!(numbers, [json!("13"), json!("10"), json!("2"), json!("1"), json!("7")], "as sent, each as its integer: {uploaded:?}");
    let settled = his.settle(&id).await.unwrap();
    assert!(settled.ok(), "{settled:?}");

    // A refund names the lines the same ways: a number, a padded text.
    let refund =
        his.raw("POST", &format!("/api/v1/visits/{id}/refunds"), Some("rf-1"), Some(r#"{"lines": [13, 1e1, " 2 "]}"#)).await.unwrap();
    assert_eq!(refund.body["state"], "refunded", "{refund:?}");
    let mut returned: Vec<&str> = refund.body["lines"].as_array().expect("lines").iter().filter_map(Value::as_str).collect();
    returned.sort_unstable();
    assert_eq!(returned, ["10", "13", "2"], "{refund:?}");
    let bad = his.raw("POST", &format!("/api/v1/visits/{id}/refunds"), Some("rf-2"), Some(r#"{"lines": [1.5]}"#)).await.unwrap();
    assert_eq!((bad.status, bad.code()), (422, Some("invalid_request")), "{bad:?}");
    assert!(bad.message().contains("whole number"), "{bad:?}");
}

#[tokio::test]
async fn a_registration_mapped_one_to_one_from_the_national_2201_message_is_taken() {
    // Review r25 F3: `exp_content` (a 2201 field) was 400 unknown_field; med_type and insutype as
    // JSON numbers were 422.
    let (_sys, his, _dir) = his().await;
    let body = json!({"ipt_otp_no": "MZ7001", "mdtrt_cert_type": "02", "mdtrt_cert_no": EMPLOYEE_CERTNO, "med_type": 11,
        "insutype": 310, "begntime": "2026-12-03 08:30:00", "atddr_no": "D001", "dr_name": "王医生", "dept_code": "0101",
        "dept_name": "内科", "caty": "A03", "exp_content": ""});
    let visit = his.post("/api/v1/visits", &body).await.unwrap();
    assert_eq!(
        (visit.status, visit.body["med_type"].as_str(), visit.body["insutype"].as_str()),
        (200, Some("11"), Some("310")),
        "{visit:?}"
    );
    let odd = his
        .post(
            "/api/v1/visits",
            &json!({"ipt_otp_no": "MZ7002", "mdtrt_cert_type": "02", "mdtrt_cert_no": EMPLOYEE_CERTNO, "med_type": 11.5}),
        )
        .await
        .unwrap();
    assert_eq!((odd.status, odd.code()), (422, Some("invalid_request")), "{odd:?}");
}
