//! The insurance center driven over HTTP in-process (tower `oneshot`), as a hospital HIS or the hub
//! would drive it.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tower::ServiceExt;
use wugan_insurance::auth::signed_headers;
use wugan_insurance::{
    default_policy, router, sample_persons, CallerCredential, Gateway, GatewayConfig, InsuranceCenter, InsuranceConfig, CALL_SERVICE_PATH,
};
use wugan_policy::SetlAmounts;

const HOSPITAL: &str = "H44030000001";
const ZHANG_SAN: &str = "44030000000000000001";
const ZHANG_SAN_CERTNO: &str = "440301199001011234";

const OPERATOR_TOKEN: &str = "operator-token";

fn app() -> Router {
    let config = InsuranceConfig { admdvs: "440300".into(), policy: default_policy(), persons: sample_persons() };
    let gateway = GatewayConfig { callers: vec![caller()], operator_token: OPERATOR_TOKEN.into() };
    router(Arc::new(InsuranceCenter::new(config).expect("center starts")), Arc::new(Gateway::new(gateway).expect("valid")))
}

fn caller() -> CallerCredential {
    CallerCredential { fixmedins_code: HOSPITAL.into(), app_id: "app-service".into(), secret: "service-secret".into() }
}

static NONCE: AtomicU64 = AtomicU64::new(1);

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.expect("router answers");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({"not_json": String::from_utf8_lossy(&bytes)}));
    (status, value)
}

/// Signed as `HOSPITAL` through the gateway, with a fresh nonce.
async fn post_raw(app: &Router, body: impl Into<Vec<u8>>) -> Value {
    let body = body.into();
    let (now, nonce) = (time::OffsetDateTime::now_utc().unix_timestamp(), format!("n{}", NONCE.fetch_add(1, Ordering::Relaxed)));
    let mut request = Request::post(CALL_SERVICE_PATH).header("content-type", "application/json");
    for (name, value) in signed_headers(&caller(), now, &nonce, &body) {
        request = request.header(name, value);
    }
    let request = request.body(Body::from(body)).expect("request");
    let (status, value) = send(app, request).await;
    assert_eq!(status, StatusCode::OK, "{value}");
    value
}

/// A sandbox view, as the operator.
async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    let request = Request::get(uri).header("authorization", format!("Bearer {OPERATOR_TOKEN}"));
    send(app, request.body(Body::empty()).expect("request")).await
}

fn envelope(infno: &str, msgid: &str, input: Value) -> Value {
    json!({
        "infno": infno, "msgid": msgid, "mdtrtarea_admvs": "440300", "insuplc_admdvs": "440300", "recer_sys_code": "FSI_LOCAL",
        "dev_no": "", "dev_safe_info": null, "cainfo": "", "signtype": "SM3", "infver": "V1.0", "opter_type": "1",
        "opter": "001", "opter_name": "收费员", "inf_time": "2024-06-01 09:00:00", "fixmedins_code": HOSPITAL,
        "fixmedins_name": "示例医院", "sign_no": "", "input": input
    })
}

async fn call(app: &Router, infno: &str, msgid: &str, input: Value) -> Value {
    post_raw(app, envelope(infno, msgid, input).to_string()).await
}

/// Asserts success and returns `output`.
fn ok(reply: &Value) -> &Value {
    assert_eq!(reply["infcode"], json!(0), "expected success: {reply}");
    assert!(reply["err_msg"].is_null());
    &reply["output"]
}

/// Asserts failure and returns `err_msg`.
fn err(reply: &Value) -> String {
    assert_eq!(reply["infcode"], json!(-1), "expected failure: {reply}");
    reply["err_msg"].as_str().expect("err_msg is text").to_string()
}

#[tokio::test]
async fn person_info_by_every_identity_kind() {
    let app = app();
    let token = format!("EC{ZHANG_SAN}");
    let card = format!("SC{ZHANG_SAN}");
    let cases = [
        ("e-voucher token", json!({"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": token}})),
        ("ID card as 就诊凭证", json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": ZHANG_SAN_CERTNO}})),
        ("social security card", json!({"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": card, "card_sn": "X1"}})),
        (
            "psn_cert_type + certno, as the spec sample",
            json!({"data": {"psn_cert_type": "01", "certno": ZHANG_SAN_CERTNO, "psn_name": "张三"}}),
        ),
        (
            "a real HIS: every field, empty where unknown",
            json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": ZHANG_SAN_CERTNO, "card_sn": "", "begntime": "", "psn_cert_type": "", "certno": "", "psn_name": ""}}),
        ),
        (
            "empty 就诊凭证, certno given",
            json!({"data": {"mdtrt_cert_type": "", "mdtrt_cert_no": null, "card_sn": "", "psn_cert_type": "", "certno": ZHANG_SAN_CERTNO}}),
        ),
    ];
    for (i, (name, input)) in cases.into_iter().enumerate() {
        let reply = call(&app, "1101", &format!("M1101-{i}"), input).await;
        let out = ok(&reply);
        assert_eq!(out["baseinfo"]["psn_no"], json!(ZHANG_SAN), "{name}");
        assert_eq!(out["baseinfo"]["certno"], json!(ZHANG_SAN_CERTNO), "{name}");
        assert_eq!(out["baseinfo"]["psn_cert_type"], json!("01"), "{name}");
        let insu = &out["insuinfo"][0];
        assert_eq!(insu["balc"], json!("800.00"), "{name}");
        assert_eq!(insu["insutype"], json!("310"), "{name}");
        assert_eq!(insu["psn_type"], json!("1101"), "{name}");
        assert_eq!(insu["psn_insu_stas"], json!("1"), "{name}");
        assert_eq!(insu["insuplc_admdvs"], json!("440300"), "{name}");
        assert!(insu["paus_insu_date"].is_null(), "{name}");
        assert_eq!(out["idetinfo"], json!([]), "{name}");
    }
    let unknown = call(&app, "1101", "M1101-x", json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "110101199003074258"}})).await;
    assert_eq!(err(&unknown), "未查询到参保人员信息 / person not found");
    let nothing = call(&app, "1101", "M1101-y", json!({"data": {"mdtrt_cert_type": "", "mdtrt_cert_no": "", "certno": ""}})).await;
    assert!(err(&nothing).contains("certno"));
}

/// Five demo lines: 甲 consultation (amounts as JSON numbers), 乙 drug, 丙 check-up, an infusion set
/// above its 3.50 cap, and a code the catalogue does not know.
fn demo_fees(mdtrt_id: &str) -> Value {
    let line = |sn: &str, code: &str, pric: Value, cnt: Value, amount: Value| {
        json!({"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": ZHANG_SAN, "chrg_bchno": "B1", "med_list_codg": code,
               "medins_list_codg": format!("HIS-{code}"), "pric": pric, "cnt": cnt, "det_item_fee_sumamt": amount,
               "fee_ocur_time": "2024-06-01 09:10:00", "rxno": "", "rx_circ_flag": "0", "bilg_dept_codg": "A01", "extra_field": {"ignored": true}})
    };
    json!({"feedetail": [
        line("1", "001102000010000", json!(25.0), json!(1), json!(25.0)),
        line("2", "XC10AAA005A001010104389", json!("50.00"), json!("2"), json!("100.00")),
        line("3", "013100000010000", json!(200), json!(1), json!("200")),
        line("4", "C14020107700200160001", json!("5.00"), json!("2.0000"), json!("10.00")),
        line("5", "HOSP-LOCAL-1", json!(12.34), json!(1), json!(12.34)),
    ]})
}

async fn register(app: &Router, msgid: &str, ipt_otp_no: &str) -> String {
    let reply = call(
        app,
        "2201",
        msgid,
        json!({"data": {"psn_no": ZHANG_SAN, "insutype": "310", "begntime": "2024-06-01 09:00:00", "mdtrt_cert_type": "02",
            "mdtrt_cert_no": ZHANG_SAN_CERTNO, "ipt_otp_no": ipt_otp_no, "atddr_no": "D001", "dr_name": "李医生",
            "dept_code": "A01", "dept_name": "内科", "caty": "A03"}}),
    )
    .await;
    let out = ok(&reply);
    assert_eq!(out["data"]["psn_no"], json!(ZHANG_SAN));
    assert_eq!(out["data"]["ipt_otp_no"], json!(ipt_otp_no));
    out["data"]["mdtrt_id"].as_str().expect("mdtrt_id").to_string()
}

fn settle_input(mdtrt_id: &str, medfee: Value) -> Value {
    json!({"data": {"psn_no": ZHANG_SAN, "mdtrt_cert_type": "02", "mdtrt_cert_no": ZHANG_SAN_CERTNO, "med_type": "11",
        "medfee_sumamt": medfee, "psn_setlway": "01", "mdtrt_id": mdtrt_id, "chrg_bchno": "B1", "acct_used_flag": "1", "insutype": "310"}})
}

fn check_setlinfo(setlinfo: &Value, expect: &[(&str, &str)]) {
    for (field, want) in expect {
        assert_eq!(setlinfo[*field], json!(want), "setlinfo.{field}");
    }
    let amounts: SetlAmounts = serde_json::from_value(setlinfo.clone()).expect("setlinfo amounts parse");
    assert_eq!(amounts.check(), Ok(()), "invariants 1-4");
}

async fn person(app: &Router, psn_no: &str) -> Value {
    let (status, view) = get(app, &format!("/sandbox/persons/{psn_no}")).await;
    assert_eq!(status, StatusCode::OK);
    view
}

#[tokio::test]
async fn outpatient_visit_from_registration_to_cancelled_settlement() {
    let app = app();
    let sign = call(&app, "9001", "M9001", json!({"signIn": {"opter_no": "001", "mac": "00-11-22-33-44-55", "ip": "10.0.0.8"}})).await;
    assert!(ok(&sign)["signinoutb"]["sign_no"].as_str().is_some_and(|s| !s.is_empty()));

    let mdtrt_id = register(&app, "M2201", "MZ0001").await;
    let upload = call(&app, "2204", "M2204", demo_fees(&mdtrt_id)).await;
    let result = ok(&upload)["result"].as_array().expect("result list").clone();
    assert_eq!(result.len(), 5);
    // (sn, class, selfpay_prop, fulamt, overlmt, preselfpay, inscp)
    let expect = [
        ("1", "01", "0.0000", "0.00", "0.00", "0.00", "25.00"),
        ("2", "02", "0.1000", "0.00", "0.00", "10.00", "90.00"),
        ("3", "03", "1.0000", "200.00", "0.00", "0.00", "0.00"),
        ("4", "01", "0.0000", "0.00", "3.00", "0.00", "7.00"),
        ("5", "03", "1.0000", "12.34", "0.00", "0.00", "0.00"),
    ];
    for (line, (sn, lv, prop, fulamt, overlmt, pre, inscp)) in result.iter().zip(expect) {
        assert_eq!(line["feedetl_sn"], json!(sn));
        assert_eq!(line["chrgitm_lv"], json!(lv), "line {sn}");
        assert_eq!(line["selfpay_prop"], json!(prop), "line {sn}");
        assert_eq!(line["fulamt_ownpay_amt"], json!(fulamt), "line {sn}");
        assert_eq!(line["overlmt_amt"], json!(overlmt), "line {sn}");
        assert_eq!(line["preselfpay_amt"], json!(pre), "line {sn}");
        assert_eq!(line["inscp_scp_amt"], json!(inscp), "line {sn}");
    }
    assert_eq!(result[3]["pric_uplmt_amt"], json!("3.50"));
    assert_eq!(result[0]["det_item_fee_sumamt"], json!("25.00"));

    // Outpatient pooling (example numbers): grade III 50 % of 122.00 in scope = 61.00.
    let expected = [
        ("medfee_sumamt", "347.34"),
        ("fulamt_ownpay_amt", "212.34"),
        ("overlmt_selfpay", "3.00"),
        ("preselfpay_amt", "10.00"),
        ("inscp_scp_amt", "122.00"),
        ("act_pay_dedc", "0.00"),
        ("hifp_pay", "61.00"),
        ("pool_prop_selfpay", "0.5000"),
        ("fund_pay_sumamt", "61.00"),
        ("psn_part_amt", "286.34"),
        ("acct_pay", "286.34"),
        ("psn_cash_pay", "0.00"),
        ("hosp_part_amt", "0.00"),
        ("balc", "513.66"),
    ];
    let pre = call(&app, "2206", "M2206", settle_input(&mdtrt_id, json!(347.34))).await;
    let pre_info = &ok(&pre)["setlinfo"];
    check_setlinfo(pre_info, &expected);
    assert!(pre_info["setl_id"].is_null(), "pre-settlement issues no setl_id");
    assert_eq!(person(&app, ZHANG_SAN).await["balc"], json!("800.00"), "pre-settlement changes nothing");

    let mut input = settle_input(&mdtrt_id, json!("347.34"));
    input["data"]["invono"] = json!("");
    input["data"]["fulamt_ownpay_amt"] = json!("212.34");
    input["data"]["inscp_scp_amt"] = json!(122);
    let settled = call(&app, "2207", "M2207", input).await;
    let out = ok(&settled);
    let info = &out["setlinfo"];
    check_setlinfo(info, &expected);
    for field in [
        "psn_name",
        "certno",
        "gend",
        "naty",
        "brdy",
        "age",
        "insutype",
        "psn_type",
        "cvlserv_flag",
        "setl_time",
        "med_type",
        "medins_setl_id",
        "clr_optins",
        "clr_way",
        "clr_type",
        "hifob_pay",
        "hifmi_pay",
        "cvlserv_pay",
        "hifes_pay",
        "maf_pay",
        "oth_pay",
        "acct_mulaid_pay",
    ] {
        assert!(!info[field].is_null(), "setlinfo.{field} present");
    }
    assert_eq!(info["medins_setl_id"], json!("M2207"));
    assert_eq!(info["clr_type"], json!("11"));
    assert_eq!(info["mdtrt_cert_type"], json!("02"));
    let setl_id = info["setl_id"].as_str().expect("setl_id").to_string();
    let detail = out["setldetail"].as_array().expect("setldetail");
    let fund = |code: &str| detail.iter().find(|d| d["fund_pay_type"] == json!(code)).map(|d| d["fund_payamt"].clone());
    assert_eq!(fund("310100"), Some(json!("61.00")));
    assert_eq!(fund("310200"), Some(json!("286.34")));

    let view = person(&app, ZHANG_SAN).await;
    assert_eq!(view["balc"], json!("513.66"));
    assert_eq!(view["ytd"]["2024"]["otp_hifp_paid"], json!("61.00"));
    let (_, list) = get(&app, &format!("/sandbox/settlements?fixmedins_code={HOSPITAL}")).await;
    assert_eq!(
        list,
        json!([{"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": ZHANG_SAN, "fixmedins_code": HOSPITAL,
        "setl_time": info["setl_time"], "medfee_sumamt": "347.34", "fund_pay_sumamt": "61.00", "acct_pay": "286.34", "psn_cash_pay": "0.00",
        "fulamt_ownpay_amt": "212.34", "overlmt_selfpay": "3.00", "preselfpay_amt": "10.00", "inscp_scp_amt": "122.00", "cancelled": false,
        "input_fields": ["acct_used_flag", "chrg_bchno", "fulamt_ownpay_amt", "inscp_scp_amt", "insutype", "invono", "mdtrt_cert_no",
            "mdtrt_cert_type", "mdtrt_id", "med_type", "medfee_sumamt", "psn_no", "psn_setlway"]}])
    );
    let (_, other) = get(&app, "/sandbox/settlements?fixmedins_code=H99").await;
    assert_eq!(other, json!([]));

    // A settled visit takes no more fees and no second settlement.
    let more = json!({"feedetail": [{"feedetl_sn": "9", "mdtrt_id": mdtrt_id, "med_list_codg": "X", "det_item_fee_sumamt": 1}]});
    assert!(err(&call(&app, "2204", "M2204-late", more).await).contains("already settled"));
    assert!(err(&call(&app, "2207", "M2207-again", settle_input(&mdtrt_id, json!("347.34"))).await).contains("already settled"));

    // 2208 reverses exactly.
    let cancel = call(&app, "2208", "M2208", json!({"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": ZHANG_SAN}})).await;
    let out = ok(&cancel);
    check_setlinfo(
        &out["setlinfo"],
        &[
            ("medfee_sumamt", "-347.34"),
            ("hifp_pay", "-61.00"),
            ("fund_pay_sumamt", "-61.00"),
            ("acct_pay", "-286.34"),
            ("psn_part_amt", "-286.34"),
            ("psn_cash_pay", "0.00"),
            ("balc", "800.00"),
        ],
    );
    assert_eq!(out["setlinfo"]["init_setl_id"], json!(setl_id));
    assert_ne!(out["setlinfo"]["setl_id"], json!(setl_id));
    assert!(out["setldetail"].as_array().is_some_and(|d| d.iter().any(|i| i["fund_payamt"] == json!("-61.00"))));
    let view = person(&app, ZHANG_SAN).await;
    assert_eq!(view["balc"], json!("800.00"));
    assert_eq!(view["ytd"]["2024"]["otp_hifp_paid"], json!("0.00"));
    let (_, list) = get(&app, "/sandbox/settlements").await;
    assert_eq!(list[0]["cancelled"], json!(true));
    let twice = call(&app, "2208", "M2208-again", json!({"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": ZHANG_SAN}})).await;
    assert!(err(&twice).contains("already cancelled"));

    // The cancelled lines are gone: the HIS uploads again (same serial numbers) and settles again.
    assert!(err(&call(&app, "2206", "M2206-empty", settle_input(&mdtrt_id, json!(0))).await).contains("no unsettled fee lines"));
    ok(&call(&app, "2204", "M2204-again", demo_fees(&mdtrt_id)).await);
    let again = call(&app, "2207", "M2207-second", settle_input(&mdtrt_id, json!("347.34"))).await;
    check_setlinfo(&ok(&again)["setlinfo"], &[("acct_pay", "286.34"), ("balc", "513.66")]);
}

/// A refund's re-settlement (2208, the lines kept uploaded again, 2207): the four amounts 2207
/// carries back are checked against the center's own for the lines it settles now, so the click's
/// (of every line) are refused and those of a 2206 of the lines kept are taken.
#[tokio::test]
async fn a_resettlement_carrying_the_clicks_amounts_instead_of_its_own_is_refused() {
    let app = app();
    let echo_of = |reply: &Value| {
        let info = &ok(reply)["setlinfo"];
        ["fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt"].map(|f| (f, info[f].clone()))
    };
    let with_echo = |mut input: Value, echo: &[(&str, Value)]| {
        echo.iter().for_each(|(f, v)| input["data"][*f] = v.clone());
        input
    };
    let mdtrt_id = register(&app, "E-2201", "MZ0400").await;
    ok(&call(&app, "2204", "E-2204", demo_fees(&mdtrt_id)).await);
    let click_echo = echo_of(&call(&app, "2206", "E-2206", settle_input(&mdtrt_id, json!("347.34"))).await);
    let click = call(&app, "2207", "E-2207", with_echo(settle_input(&mdtrt_id, json!("347.34")), &click_echo)).await;
    let setl_id = ok(&click)["setlinfo"]["setl_id"].clone();
    ok(&call(&app, "2208", "E-2208", json!({"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": ZHANG_SAN}})).await);
    // Lines 1 (25.00 in scope) and 3 (200.00 own pay) are kept.
    let mut kept = demo_fees(&mdtrt_id);
    kept["feedetail"].as_array_mut().expect("lines").retain(|l| l["feedetl_sn"] == json!("1") || l["feedetl_sn"] == json!("3"));
    ok(&call(&app, "2204", "E-2204-kept", kept).await);

    let stale = call(&app, "2207", "E-2207-stale", with_echo(settle_input(&mdtrt_id, json!("225.00")), &click_echo)).await;
    assert!(err(&stale).contains("differs from the center's"), "{stale}");
    let own = echo_of(&call(&app, "2206", "E-2206-kept", settle_input(&mdtrt_id, json!("225.00"))).await);
    assert_ne!(own, click_echo);
    let again = call(&app, "2207", "E-2207-kept", with_echo(settle_input(&mdtrt_id, json!("225.00")), &own)).await;
    check_setlinfo(&ok(&again)["setlinfo"], &[("medfee_sumamt", "225.00"), ("fulamt_ownpay_amt", "200.00"), ("inscp_scp_amt", "25.00")]);
}

#[tokio::test]
async fn a_repeated_msgid_returns_the_first_reply() {
    let app = app();
    let first = register(&app, "M-REG", "MZ0100").await;
    let body = envelope(
        "2201",
        "M-REG",
        json!({"data": {"psn_no": ZHANG_SAN, "insutype": "310", "begntime": "2024-06-01 09:00:00", "mdtrt_cert_type": "02",
        "mdtrt_cert_no": ZHANG_SAN_CERTNO, "ipt_otp_no": "MZ0100", "atddr_no": "D001", "dr_name": "李医生", "dept_code": "A01", "dept_name": "内科", "caty": "A03"}}),
    );
    let replay = post_raw(&app, body.to_string()).await;
    let replay_again = post_raw(&app, body.to_string()).await;
    assert_eq!(replay, replay_again, "identical, including inf_refmsgid and times");
    assert_eq!(ok(&replay)["data"]["mdtrt_id"], json!(first));

    // Same ipt_otp_no under a new msgid: a second registration, refused.
    let again = call(&app, "2201", "M-REG-2", body["input"].clone()).await;
    assert!(err(&again).contains("already registered"));
    // Same msgid, different content: refused, and the stored reply is kept.
    let mut changed = body.clone();
    changed["input"]["data"]["ipt_otp_no"] = json!("MZ0101");
    assert!(err(&post_raw(&app, changed.to_string()).await).contains("msgid"));
    let mut other_infno = body.clone();
    other_infno["infno"] = json!("1101");
    assert!(err(&post_raw(&app, other_infno.to_string()).await).contains("msgid"));
    assert_eq!(post_raw(&app, body.to_string()).await, replay);

    // A replayed settlement debits the account once.
    ok(&call(&app, "2204", "M-FEE", demo_fees(&first)).await);
    let settle = envelope("2207", "M-SETL", settle_input(&first, json!("347.34")));
    let one = post_raw(&app, settle.to_string()).await;
    let two = post_raw(&app, settle.to_string()).await;
    assert_eq!(one, two);
    assert_eq!(person(&app, ZHANG_SAN).await["balc"], json!("513.66"));
    let (_, list) = get(&app, "/sandbox/settlements").await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn malformed_requests_get_an_envelope_not_a_bare_error() {
    let app = app();
    for body in ["{not json", "", "[1,2]", "null", r#"{"msgid": "M1", "input": {}}"#, r#"{"infno": "1101", "input": {}}"#] {
        let reply = post_raw(&app, body.to_string()).await;
        let msg = err(&reply);
        assert!(!msg.is_empty(), "{body}: {reply}");
        assert!(reply["inf_refmsgid"].as_str().is_some_and(|s| s.starts_with("440300")));
    }
    assert!(err(&call(&app, "9999", "M-9999", json!({})).await).contains("unsupported transaction"));
    assert!(err(&call(&app, "2201", "M-no-data", json!(null)).await).contains("input"));
    // Numbers where text is expected are read as text.
    let reply = post_raw(
        &app,
        json!({"infno": 1101, "msgid": 42, "fixmedins_code": HOSPITAL, "input": {"data": {"psn_cert_type": "01", "certno": ZHANG_SAN_CERTNO}}}).to_string(),
    )
    .await;
    assert_eq!(ok(&reply)["baseinfo"]["psn_no"], json!(ZHANG_SAN));
}

#[tokio::test]
async fn refusals_name_the_problem() {
    let app = app();
    let mdtrt_id = register(&app, "R-2201", "MZ0200").await;
    let line = |sn: &str, amount: Value| json!({"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": ZHANG_SAN, "chrg_bchno": "B1", "med_list_codg": "001102000010000", "det_item_fee_sumamt": amount, "pric": null, "cnt": 1});
    let negative = call(&app, "2204", "R-neg", json!({"feedetail": [line("1", json!("-5.00"))]})).await;
    assert!(err(&negative).contains("negative"));
    let duplicate = call(&app, "2204", "R-dup", json!({"feedetail": [line("1", json!(5)), line("1", json!(6))]})).await;
    assert!(err(&duplicate).contains("duplicate feedetl_sn 1"));
    let bad_amount = call(&app, "2204", "R-bad", json!({"feedetail": [line("1", json!("5.001"))]})).await;
    assert!(err(&bad_amount).contains("det_item_fee_sumamt"));
    let product = json!({"feedetail": [{"feedetl_sn": "1", "mdtrt_id": mdtrt_id, "med_list_codg": "X", "pric": "2.00", "cnt": 3, "det_item_fee_sumamt": "7.00"}]});
    assert!(err(&call(&app, "2204", "R-prod", product).await).contains("pric × cnt"));
    let unknown = json!({"feedetail": [{"feedetl_sn": "1", "mdtrt_id": "NOPE", "med_list_codg": "X", "det_item_fee_sumamt": 1}]});
    assert!(err(&call(&app, "2204", "R-unk", unknown).await).contains("unknown mdtrt_id NOPE"));
    // Nothing of the refused uploads was kept: the visit is still empty.
    ok(&call(&app, "2204", "R-ok", json!({"feedetail": [line("1", json!(25)), line("2", json!("25.0"))]})).await);
    let stored_dup = call(&app, "2204", "R-dup2", json!({"feedetail": [line("2", json!(1))]})).await;
    assert!(err(&stored_dup).contains("duplicate"));

    let mismatch = call(&app, "2206", "R-2206", settle_input(&mdtrt_id, json!("49.99"))).await;
    let msg = err(&mismatch);
    assert!(msg.contains("49.99") && msg.contains("50.00"), "{msg}");
    let wrong_split = {
        let mut input = settle_input(&mdtrt_id, json!("50.00"));
        input["data"]["inscp_scp_amt"] = json!("40.00");
        call(&app, "2207", "R-2207", input).await
    };
    assert!(err(&wrong_split).contains("inscp_scp_amt"));

    // 2205 "0000" deletes every unsettled line; a named empty batch is refused.
    assert!(err(&call(&app, "2205", "R-2205-x", json!({"data": {"mdtrt_id": mdtrt_id, "chrg_bchno": "NOPE", "psn_no": ZHANG_SAN}})).await)
        .contains("NOPE"));
    ok(&call(&app, "2205", "R-2205", json!({"data": {"mdtrt_id": mdtrt_id, "chrg_bchno": "0000", "psn_no": ZHANG_SAN}})).await);
    assert!(err(&call(&app, "2206", "R-2206-b", settle_input(&mdtrt_id, json!("50.00"))).await).contains("no unsettled"));

    // 2202 cancels the registration; the number can be registered again.
    ok(&call(&app, "2202", "R-2202", json!({"data": {"psn_no": ZHANG_SAN, "mdtrt_id": mdtrt_id, "ipt_otp_no": "MZ0200"}})).await);
    assert!(err(&call(&app, "2204", "R-after", json!({"feedetail": [line("3", json!(1))]})).await).contains("cancelled"));
    register(&app, "R-2201-b", "MZ0200").await;
    let stranger = call(&app, "2201", "R-2201-c", json!({"data": {"psn_no": "NOBODY", "ipt_otp_no": "MZ0300"}})).await;
    assert_eq!(err(&stranger), "未查询到参保人员信息 / person not found");
}

#[tokio::test]
async fn health_and_sandbox_views() {
    let app = app();
    let (status, health) = get(&app, "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], json!("ok"));
    assert_eq!(health["policy"], json!("shenzhen-2024"));
    let (status, _) = get(&app, "/sandbox/persons/NOBODY").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let view = person(&app, "44030000000000000004").await;
    assert_eq!(view["balc"], json!("0.00"));
}

#[test]
fn config_is_checked() {
    let bad = InsuranceConfig { admdvs: "4403".into(), policy: default_policy(), persons: vec![] };
    assert!(InsuranceCenter::new(bad).is_err());
    let mut twins = sample_persons();
    twins.push(twins[0].clone());
    let dup = InsuranceConfig { admdvs: "440300".into(), policy: default_policy(), persons: twins };
    assert!(InsuranceCenter::new(dup).is_err());
    fn send_sync<T: Send + Sync>() {}
    send_sync::<InsuranceCenter>();
}

#[tokio::test]
async fn visit_info_and_settlement_query() {
    let app = app();
    let mdtrt_id = register(&app, "Q-2201", "MZ0400").await;
    let info = json!({"mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": ZHANG_SAN, "med_type": "13", "begntime": "2024-06-01 09:00:00",
        "main_cond_dscr": "", "dise_codg": "J06.900", "dise_name": "急性上呼吸道感染"}, "diseinfo": [{"diag_type": "1", "diag_code": "J06.900"}]});
    ok(&call(&app, "2203", "Q-2203", info).await);
    let bad = json!({"mdtrtinfo": {"mdtrt_id": mdtrt_id, "med_type": "77"}});
    assert!(err(&call(&app, "2203", "Q-2203-bad", bad).await).contains("77"));
    ok(&call(&app, "2204", "Q-2204", demo_fees(&mdtrt_id)).await);
    let mut input = settle_input(&mdtrt_id, json!("347.34"));
    input["data"]["med_type"] = json!("");
    let settled = call(&app, "2207", "Q-2207", input).await;
    let info = ok(&settled)["setlinfo"].clone();
    assert_eq!(info["med_type"], json!("13"), "the med_type of 2203 applies");
    let setl_id = info["setl_id"].clone();

    // A caller that lost the 2207 reply asks by mdtrt_id, or by setl_id.
    for (msgid, query) in
        [("Q-5203-a", json!({"data": {"mdtrt_id": mdtrt_id, "psn_no": ZHANG_SAN}})), ("Q-5203-b", json!({"data": {"setl_id": setl_id}}))]
    {
        let found = call(&app, "5203", msgid, query).await;
        let out = ok(&found);
        assert_eq!(out["setlinfo"]["setl_id"], setl_id);
        assert_eq!(out["setlinfo"]["psn_cash_pay"], info["psn_cash_pay"]);
        assert_eq!(out["setlinfo"]["refd_setl_flag"], json!("0"));
        assert_eq!(out["setldetail"], ok(&settled)["setldetail"]);
    }
    ok(&call(&app, "2208", "Q-2208", json!({"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": ZHANG_SAN}})).await);
    let after = call(&app, "5203", "Q-5203-c", json!({"data": {"setl_id": setl_id}})).await;
    assert_eq!(ok(&after)["setlinfo"]["refd_setl_flag"], json!("1"));
    let none = call(&app, "5203", "Q-5203-d", json!({"data": {"mdtrt_id": "NOPE"}})).await;
    assert!(err(&none).contains("no settlement"));
}

#[tokio::test]
async fn an_out_of_area_person_settles_under_the_insured_place_policy() {
    let app = app();
    let huang = "44010000000000000006";
    let who = call(&app, "1101", "O-1101", json!({"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": format!("EC{huang}")}})).await;
    assert_eq!(ok(&who)["insuinfo"][0]["insuplc_admdvs"], json!("440100"));
    let reg = call(
        &app,
        "2201",
        "O-2201",
        json!({"data": {"psn_no": huang, "insutype": "310", "begntime": "2024-06-01 10:00:00", "ipt_otp_no": "MZ0500"}}),
    )
    .await;
    let mdtrt_id = ok(&reg)["data"]["mdtrt_id"].as_str().expect("mdtrt_id").to_string();
    let fees = json!({"feedetail": [
        {"feedetl_sn": "1", "mdtrt_id": mdtrt_id, "med_list_codg": "001102000010000", "pric": 25, "cnt": 1, "det_item_fee_sumamt": 25},
        {"feedetl_sn": "2", "mdtrt_id": mdtrt_id, "med_list_codg": "XC10AAA005A001010104389", "pric": 100, "cnt": 1, "det_item_fee_sumamt": 100}]});
    ok(&call(&app, "2204", "O-2204", fees).await);
    let input = json!({"data": {"psn_no": huang, "mdtrt_id": mdtrt_id, "med_type": "11", "medfee_sumamt": 125, "acct_used_flag": 1}});
    let settled = call(&app, "2207", "O-2207", input).await;
    // Guangzhou outpatient pooling (example numbers), grade III: 65 % of 115.00 in scope.
    check_setlinfo(
        &ok(&settled)["setlinfo"],
        &[
            ("inscp_scp_amt", "115.00"),
            ("hifp_pay", "74.75"),
            ("psn_part_amt", "50.25"),
            ("acct_pay", "50.25"),
            ("balc", "449.75"),
            ("clr_optins", "440100"),
        ],
    );
}

/// 9901/9902, the sandbox's local extension: a credit line repaid from the personal account, and
/// the debit undone when the bank refuses. A resent msgid repeats nothing.
#[tokio::test]
async fn a_personal_account_repayment_debits_once_and_is_undone_once() {
    let app = app();
    let balc = |v: &Value| v["balc"].as_str().unwrap().to_string();
    let (_, before) = get(&app, &format!("/sandbox/persons/{ZHANG_SAN}")).await;
    assert_eq!(balc(&before), "800.00");

    let too_much = call(&app, "9901", "R1", json!({"data": {"psn_no": ZHANG_SAN, "amount": "800.01", "payee_ref": "BANK01:a1"}})).await;
    assert!(err(&too_much).contains("余额不足"), "{too_much}");
    let negative = call(&app, "9901", "R2", json!({"data": {"psn_no": ZHANG_SAN, "amount": -1, "payee_ref": "BANK01:a1"}})).await;
    err(&negative);

    let debit = json!({"data": {"psn_no": ZHANG_SAN, "amount": 300.0, "payee_ref": "BANK01:a1"}});
    let first = call(&app, "9901", "R3", debit.clone()).await;
    let txn_id = ok(&first)["data"]["txn_id"].as_str().unwrap().to_string();
    assert_eq!(ok(&first)["data"]["balc"], json!("500.00"));
    let resent = call(&app, "9901", "R3", debit).await;
    assert_eq!(resent["output"], first["output"], "a resent msgid is answered, not applied again");
    let (_, after) = get(&app, &format!("/sandbox/persons/{ZHANG_SAN}")).await;
    assert_eq!(balc(&after), "500.00");

    let undo = json!({"data": {"psn_no": ZHANG_SAN, "txn_id": txn_id}});
    assert_eq!(ok(&call(&app, "9902", "R4", undo.clone()).await)["data"]["balc"], json!("800.00"));
    assert!(err(&call(&app, "9902", "R5", undo).await).contains("已撤销"));
    let (_, restored) = get(&app, &format!("/sandbox/persons/{ZHANG_SAN}")).await;
    assert_eq!(balc(&restored), "800.00");
    assert_eq!(restored["account_repayments"].as_array().map(Vec::len), Some(1), "{restored}");
}

/// 5201 就诊信息查询: the person's live visits at this hospital begun within the window, each with
/// its number, so that a caller who lost a 2201's or 2401's answer finds what it registered.
#[tokio::test]
async fn visit_query_lists_the_persons_live_visits_in_the_window() {
    let app = app();
    let first = register(&app, "Q-5201-r1", "MZ-Q1").await;
    let cancelled = register(&app, "Q-5201-r2", "MZ-Q2").await;
    let cancel = json!({"data": {"psn_no": ZHANG_SAN, "mdtrt_id": cancelled, "ipt_otp_no": "MZ-Q2"}});
    ok(&call(&app, "2202", "Q-5201-c", cancel).await);
    let admitted = json!({"mdtrtinfo": {"psn_no": ZHANG_SAN, "ipt_no": "ZY-Q3", "begntime": "2024-06-01 10:30", "adm_dept_codg": "A03"}});
    let admission = ok(&call(&app, "2401", "Q-5201-a", admitted).await)["data"]["mdtrt_id"].as_str().expect("mdtrt_id").to_string();

    let query = |msgid: &'static str, data: Value| {
        let app = app.clone();
        async move { call(&app, "5201", msgid, json!({"data": data})).await }
    };
    let day = json!({"psn_no": ZHANG_SAN, "begntime": "2024-06-01 00:00:00", "endtime": "2024-06-01 23:59:59"});
    let listed = query("Q-5201-1", day.clone()).await;
    let records = ok(&listed)["mdtrtinfo"].as_array().cloned().expect("mdtrtinfo is a list");
    let seen: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| (r["mdtrt_id"].as_str().unwrap_or(""), r["ipt_otp_no"].as_str().unwrap_or(""), r["begntime"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        seen,
        [(first.as_str(), "MZ-Q1", "2024-06-01 09:00:00"), (admission.as_str(), "ZY-Q3", "2024-06-01 10:30:00")],
        "the cancelled registration is not listed, oldest first: {listed}"
    );
    assert_eq!((records[0]["psn_no"].as_str(), records[0]["inhosp_stas"].is_null()), (Some(ZHANG_SAN), true));
    assert_eq!((records[1]["med_type"].as_str(), records[1]["inhosp_stas"].as_str()), (Some("21"), Some("1")));
    assert_eq!(records[1]["adm_dept_codg"], "A03");

    // The window, the visit and the 医疗类别 narrow the list; none found is an empty list.
    let after = json!({"psn_no": ZHANG_SAN, "begntime": "2024-06-01 10:00:00", "endtime": "20240601235959"});
    assert_eq!(ok(&query("Q-5201-2", after).await)["mdtrtinfo"].as_array().map(Vec::len), Some(1));
    let one = json!({"psn_no": ZHANG_SAN, "begntime": "2024-06-01", "mdtrt_id": first});
    assert_eq!(ok(&query("Q-5201-3", one).await)["mdtrtinfo"][0]["mdtrt_id"], json!(first));
    let inpatient = json!({"psn_no": ZHANG_SAN, "begntime": "2024-06-01", "med_type": "21"});
    assert_eq!(ok(&query("Q-5201-4", inpatient).await)["mdtrtinfo"][0]["mdtrt_id"], json!(admission));
    let before = json!({"psn_no": ZHANG_SAN, "begntime": "2024-05-01 00:00:00", "endtime": "2024-05-31 23:59:59"});
    assert_eq!(ok(&query("Q-5201-5", before).await)["mdtrtinfo"], json!([]));
    let someone_else = json!({"psn_no": "44030000000000000002", "begntime": "2024-06-01"});
    assert_eq!(ok(&query("Q-5201-6", someone_else).await)["mdtrtinfo"], json!([]));

    // The window's start is required, and a bound that is not a time is refused.
    assert!(err(&query("Q-5201-7", json!({"psn_no": ZHANG_SAN})).await).contains("begntime"));
    assert!(err(&query("Q-5201-8", json!({"psn_no": ZHANG_SAN, "begntime": "June"})).await).contains("begntime"));
    // The sandbox view names the visit's number and begin time too.
    let (status, view) = get(&app, &format!("/sandbox/visits/{first}")).await;
    assert_eq!(
        (status, view["ipt_otp_no"].as_str(), view["begntime"].as_str()),
        (StatusCode::OK, Some("MZ-Q1"), Some("2024-06-01 09:00:00"))
    );
}

/// 5204 费用明细查询: a visit's live fee lines, so that a caller refused a withdrawal (2205) reads
/// whether the lines are gone; a line withdrawn is not listed, a settled one names its settlement.
#[tokio::test]
async fn fee_query_lists_the_visits_live_lines() {
    let app = app();
    let mdtrt_id = register(&app, "Q-5204-r", "MZ-Q5204").await;
    ok(&call(&app, "2204", "Q-5204-u", demo_fees(&mdtrt_id)).await);
    let query = |msgid: &'static str, data: Value| {
        let app = app.clone();
        async move { call(&app, "5204", msgid, json!({"data": data})).await }
    };
    let listed = |reply: &Value| -> Vec<(String, String)> {
        let records = ok(reply)["feedetail"].as_array().cloned().expect("feedetail is a list");
        records.iter().map(|r| (r["feedetl_sn"].as_str().unwrap_or("").into(), r["setl_id"].as_str().unwrap_or("?").into())).collect()
    };
    let all = query("Q-5204-1", json!({"psn_no": ZHANG_SAN, "mdtrt_id": mdtrt_id})).await;
    let unsettled: Vec<(String, String)> = (1..=5).map(|n| (n.to_string(), String::new())).collect();
    assert_eq!(listed(&all), unsettled, "{all}");
    let first = &ok(&all)["feedetail"][1];
    assert_eq!((first["mdtrt_id"].as_str(), first["det_item_fee_sumamt"].as_str()), (Some(mdtrt_id.as_str()), Some("100.00")));
    assert_eq!((first["med_list_codg"].as_str(), first["chrgitm_lv"].as_str()), (Some("XC10AAA005A001010104389"), Some("02")));

    // Withdrawn (2205, every open line): none is listed any more.
    let withdraw = json!({"data": {"mdtrt_id": mdtrt_id, "chrg_bchno": "0000", "psn_no": ZHANG_SAN}});
    ok(&call(&app, "2205", "Q-5204-w", withdraw).await);
    assert_eq!(listed(&query("Q-5204-2", json!({"psn_no": ZHANG_SAN, "mdtrt_id": mdtrt_id})).await), Vec::<(String, String)>::new());

    // Uploaded again and settled: each line names its settlement, and setl_id narrows to it.
    ok(&call(&app, "2204", "Q-5204-u2", demo_fees(&mdtrt_id)).await);
    let settled = call(&app, "2207", "Q-5204-s", settle_input(&mdtrt_id, json!("347.34"))).await;
    let setl_id = ok(&settled)["setlinfo"]["setl_id"].as_str().expect("setl_id").to_string();
    let mine = query("Q-5204-3", json!({"psn_no": ZHANG_SAN, "mdtrt_id": mdtrt_id, "setl_id": setl_id})).await;
    assert_eq!(listed(&mine), (1..=5).map(|n| (n.to_string(), setl_id.clone())).collect::<Vec<_>>());
    let other = query("Q-5204-4", json!({"psn_no": ZHANG_SAN, "mdtrt_id": mdtrt_id, "setl_id": "S-OTHER"})).await;
    assert_eq!(listed(&other), Vec::<(String, String)>::new());

    // Another person's number, an unknown visit, or no visit named: refused.
    assert!(err(&query("Q-5204-5", json!({"psn_no": "44030000000000000002", "mdtrt_id": mdtrt_id})).await).contains("psn_no"));
    assert!(err(&query("Q-5204-6", json!({"psn_no": ZHANG_SAN, "mdtrt_id": "M-UNKNOWN"})).await).contains("未查询到"));
    assert!(err(&query("Q-5204-7", json!({"psn_no": ZHANG_SAN})).await).contains("mdtrt_id"));
}

/// 2601 冲正交易: an HIS that lost a 2207's answer reverses it by its msgid; the settlement is
/// cancelled exactly as a 2208 would (the account's money back, the record reads cancelled), once.
#[tokio::test]
async fn a_2207_reversed_by_its_msgid_is_cancelled_once() {
    let app = app();
    let mdtrt_id = register(&app, "R-2201", "MZ0601").await;
    ok(&call(&app, "2204", "R-2204", demo_fees(&mdtrt_id)).await);
    let settled = call(&app, "2207", "R-2207", settle_input(&mdtrt_id, json!("347.34"))).await;
    let setl_id = ok(&settled)["setlinfo"]["setl_id"].as_str().expect("setl_id").to_string();
    assert_eq!(person(&app, ZHANG_SAN).await["balc"], json!("513.66"));
    let reverse = |omsgid: &str, oinfno: &str| json!({"data": {"psn_no": ZHANG_SAN, "omsgid": omsgid, "oinfno": oinfno}});

    ok(&call(&app, "2601", "R-2601", reverse("R-2207", "2207")).await);
    assert_eq!(person(&app, ZHANG_SAN).await["balc"], json!("800.00"), "the account's share back");
    let record = call(&app, "5203", "R-5203", json!({"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": ZHANG_SAN}})).await;
    assert_eq!(ok(&record)["setlinfo"]["refd_setl_flag"], json!("1"), "{record}");

    assert!(err(&call(&app, "2601", "R-2601-again", reverse("R-2207", "2207")).await).contains("already cancelled"));
    assert!(err(&call(&app, "2601", "R-2601-unknown", reverse("R-none", "2207")).await).contains("nothing to reverse"));
    assert!(err(&call(&app, "2601", "R-2601-2204", reverse("R-2204", "2204")).await).contains("only a 2207"));
    assert_eq!(person(&app, ZHANG_SAN).await["balc"], json!("800.00"), "reversed once");
}
