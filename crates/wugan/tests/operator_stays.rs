//! The operator looks at a stay (review r21 #10), end to end over HTTP: Zhang San is admitted
//! with 690.00 held on his credit line, the ward sends two examinations and returns one, and he is
//! discharged at the bedside. When the hospital calls about it, the operator finds the stay by
//! the hospital or by the insured person and reads it whole: the patient in words (never whole),
//! every fee line with the return, and every ledger transfer it posted, which add up to what the
//! bank captured. A hospital's key reads none of it.

use serde_json::{json, Value};
use wugan::his::{fee_line, HisClient};
use wugan::system;
use wugan_hub::app::staff::{NewStaffRequest, StaffRole};

mod common;

const ZHANG_SAN: &str = "440301199001011234";
const EXAMINATION: &str = "013100000010000"; // 150.00

fn ids(list: &Value) -> Vec<&str> {
    list["stays"].as_array().into_iter().flatten().map(|s| s["id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn an_operator_reads_a_stay_whole_and_finds_it_by_hospital_or_by_person() {
    let (opts, _dir) = common::fresh_options("operator-stays").await;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let hospital = &sys.credentials.hospitals[0];
    let his = HisClient::new(&sys.hub_url, &hospital.api_key);
    let signed = operator.sign_up("02", ZHANG_SAN, false, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(signed.ok(), "{signed:?}");

    let admitted = his
        .post("/api/v1/stays", &json!({"ipt_no": "ZY-OP-1", "mdtrt_cert_type": "02", "mdtrt_cert_no": ZHANG_SAN, "deposit_fen": 69_000}))
        .await
        .unwrap();
    assert_eq!(admitted.body["state"].as_str(), Some("in_ward"), "{admitted:?}");
    let stay = admitted.body["id"].as_str().unwrap().to_string();
    let psn_no = admitted.body["psn_no"].as_str().unwrap().to_string();
    let mut returned = fee_line("P3", EXAMINATION, "150.00", "-1", "-150.00");
    returned["init_feedetl_sn"] = json!("P2");
    for lines in [
        json!([fee_line("P1", EXAMINATION, "150.00", "1", "150.00"), fee_line("P2", EXAMINATION, "150.00", "1", "150.00")]),
        json!([returned]),
    ] {
        let fees = his.post(&format!("/api/v1/stays/{stay}/fees"), &json!({ "lines": lines })).await.unwrap();
        assert!(fees.ok(), "{fees:?}");
    }
    let discharged = his.post(&format!("/api/v1/stays/{stay}/discharge"), &json!({})).await.unwrap();
    assert_eq!(discharged.body["state"].as_str(), Some("settled"), "{discharged:?}");
    let bank_fen = discharged.body["settlement"]["bank_fen"].as_i64().unwrap();

    // Whole: as the ward reads it, with the patient in words.
    let whole = operator.get(&format!("/api/v1/operator/stays/{stay}")).await.unwrap();
    assert_eq!(whole.status, 200, "{whole:?}");
    let w = &whole.body;
    assert_eq!(w["stay"], discharged.body, "the stay as the ward read it");
    assert_eq!(w["patient"], json!({"name": "张*", "sex": "1", "age": 36}), "{w}");
    assert_eq!(w["agreement_id"], signed.body["id"]);
    assert_eq!((w["failed_tries"].as_i64(), w["parked_reason"].clone()), (Some(0), Value::Null));
    let lines: Vec<(&str, i64)> =
        w["fee_lines"].as_array().unwrap().iter().map(|l| (l["feedetl_sn"].as_str().unwrap(), l["amount_fen"].as_i64().unwrap())).collect();
    assert_eq!(lines, [("P1", 15_000), ("P2", 15_000), ("P3", -15_000)]);
    assert!(w["fee_lines"].as_array().unwrap().iter().all(|l| l["uploaded"] == json!(true)), "{w}");
    // Every transfer is the stay's own, and what it posted to the patient's bank account is what
    // the bank captured.
    let transfers = w["transfers"].as_array().unwrap();
    assert!(!transfers.is_empty(), "{w}");
    assert!(transfers.iter().all(|t| t["id"].as_str().unwrap().starts_with(&format!("stay:{stay}:"))), "{transfers:?}");
    let posted: i64 =
        transfers.iter().filter(|t| t["kind"] != "pending" && t["kind"] != "void_pending").map(|t| t["amount_fen"].as_i64().unwrap()).sum();
    assert!(posted >= bank_fen && bank_fen > 0, "{posted} posted, {bank_fen} captured: {transfers:?}");
    let text = serde_json::to_string(w).unwrap();
    assert!(!text.contains(ZHANG_SAN) && !text.contains("张三"), "the ID number and the whole name stay sealed: {text}");

    // Found by the hospital and by the person; neither named is a bad query.
    let by_hospital = operator.get(&format!("/api/v1/operator/stays?hospital_code={}", hospital.code)).await.unwrap();
    assert_eq!(ids(&by_hospital.body), [stay.as_str()], "{by_hospital:?}");
    let by_person = operator.get(&format!("/api/v1/operator/stays?psn_no={psn_no}")).await.unwrap();
    assert_eq!(ids(&by_person.body), [stay.as_str()], "{by_person:?}");
    let open_only = operator.get(&format!("/api/v1/operator/stays?psn_no={psn_no}&open=true")).await.unwrap();
    assert_eq!(ids(&open_only.body), Vec::<&str>::new(), "a settled stay is not open");
    let elsewhere = operator.get(&format!("/api/v1/operator/stays?psn_no={psn_no}&hospital_code=H-NONE")).await.unwrap();
    assert_eq!(ids(&elsewhere.body), Vec::<&str>::new());
    let newest = operator.get("/api/v1/operator/stays").await.unwrap();
    assert_eq!(ids(&newest.body), [stay.as_str()], "neither named: the newest at every hospital {newest:?}");
    // A code with a control character (here U+0095, a C1 control) or a bidirectional override is
    // refused as a bad query, as openapi.json's pattern says; a code with spaces round it is trimmed.
    for bad in ["hospital_code=%C2%95L", "psn_no=%E2%80%AE123", "psn_no=1234567890123456789012345678901"] {
        let refused = operator.get(&format!("/api/v1/operator/stays?{bad}")).await.unwrap();
        assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (400, Some("bad_query")), "{bad}: {refused:?}");
    }
    let padded = operator.get(&format!("/api/v1/operator/stays?psn_no=%20{psn_no}%20")).await.unwrap();
    assert_eq!(ids(&padded.body), [stay.as_str()], "{padded:?}");

    // Nothing for a hospital's key; an unknown stay is named as such.
    let hospital_reads = his.get(&format!("/api/v1/operator/stays/{stay}")).await.unwrap();
    assert_eq!(hospital_reads.status, 403, "{hospital_reads:?}");
    let unknown = operator.get("/api/v1/operator/stays/ipt_nosuch").await.unwrap();
    assert_eq!((unknown.status, unknown.body["error"]["code"].as_str()), (404, Some("stay_not_found")), "{unknown:?}");

    // The operator's console: the hospital's stays, and the stay whole, the patient in words only.
    let login = NewStaffRequest {
        login: "ops1".into(),
        display_name: "运营值班".into(),
        role: StaffRole::Operator.as_str().into(),
        hospital_code: None,
        bank_code: None,
        password: "a long operator password".into(),
        totp: false,
    };
    sys.app.add_staff(login).await.expect("an operator is added");
    let http = reqwest::Client::new();
    let signed_in = http
        .post(format!("{}/api/v1/staff/sessions", sys.hub_url))
        .body(json!({"login": "ops1", "password": "a long operator password"}).to_string())
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = |path: String| {
        let (http, cookie, hub) = (http.clone(), cookie.clone(), sys.hub_url.clone());
        async move {
            let r = http.get(format!("{hub}{path}")).header("cookie", cookie).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "{path}");
            r.text().await.unwrap()
        }
    };
    let list = page(format!("/ops/stays?hospital={}", hospital.code)).await;
    assert!(list.contains(&format!("href=\"/ops/stays/{stay}\">ZY-OP-1</a>")), "{list}");
    let html = page(format!("/ops/stays/{stay}")).await;
    assert!(html.contains(r#"id="stay-patient">张* · 男 · 36岁"#), "{html}");
    assert!(html.contains(r#"id="stay-state">已结算"#), "{html}");
    assert!(html.contains(&format!("stay:{stay}:")), "the transfers are listed: {html}");
    // Each account in words, by the hospital's name, its own name small beside it.
    assert!(html.contains(&format!("{} 收款", hospital.name)) && html.contains(&format!("hospital:{}", hospital.code)), "{html}");
    assert!(html.contains(">冻结<span") && html.contains(">冻结转扣款<span"), "the deposit's hold and its capture in words: {html}");
    assert!(!html.contains(ZHANG_SAN) && !html.contains("张三"), "{html}");
    let by_person = page(format!("/ops/stays?psn_no={psn_no}")).await;
    assert!(by_person.contains(&format!("/ops/stays/{stay}")), "{by_person}");
    sys.stop();
}
