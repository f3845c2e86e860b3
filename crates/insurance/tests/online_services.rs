//! The patient's online services at the center (issue 14 scope 7), over HTTP in-process: a
//! special-disease registration (2503) approved by the region's list opens med_type 14, to the fen;
//! one declined stays shut until the operator approves it on review; revocation (2504) shuts it
//! again; a manual claim (零星报销, 9903) is adjudicated by the same engine and paid once, however
//! often it is sent.

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

const HOSPITAL: &str = "H44030000001";
/// 李秀英, retired (1201): the chronic benefit pays 95 %.
const LI_XIUYING: &str = "44030000000000000002";
/// 赵六, in service (1101): the chronic benefit pays 90 %; personal account empty.
const ZHAO_LIU: &str = "44030000000000000004";
const OPERATOR_TOKEN: &str = "operator-token";
/// A 甲类 consultation: fully in scope, no deductible under the chronic benefit.
const CONSULTATION: &str = "001102000010000";

fn app() -> Router {
    let config = InsuranceConfig { admdvs: "440300".into(), policy: default_policy(), persons: sample_persons() };
    let gateway = GatewayConfig { callers: vec![caller()], operator_token: OPERATOR_TOKEN.into() };
    router(Arc::new(InsuranceCenter::new(config).expect("center starts")), Arc::new(Gateway::new(gateway).expect("valid")))
}

fn caller() -> CallerCredential {
    CallerCredential { fixmedins_code: HOSPITAL.into(), app_id: "app-online".into(), secret: "online-secret".into() }
}

static SERIAL: AtomicU64 = AtomicU64::new(1);

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.expect("router answers");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// One transaction signed as `HOSPITAL`, under `msgid`.
async fn call_as(app: &Router, infno: &str, msgid: &str, data: Value) -> (StatusCode, Value) {
    let body = json!({"infno": infno, "msgid": msgid, "mdtrtarea_admvs": "440300", "insuplc_admdvs": "440300",
        "inf_time": "2024-06-01 09:00:00", "fixmedins_code": HOSPITAL, "fixmedins_name": "示例医院", "input": {"data": data}})
    .to_string()
    .into_bytes();
    let nonce = format!("n{}", SERIAL.fetch_add(1, Ordering::Relaxed));
    let mut request = Request::post(CALL_SERVICE_PATH).header("content-type", "application/json");
    for (name, value) in signed_headers(&caller(), time::OffsetDateTime::now_utc().unix_timestamp(), &nonce, &body) {
        request = request.header(name, value);
    }
    send(app, request.body(Body::from(body)).expect("request")).await
}

/// One transaction under a fresh msgid; the reply envelope.
async fn call(app: &Router, infno: &str, data: Value) -> Value {
    let msgid = format!("M{infno}-{}", SERIAL.fetch_add(1, Ordering::Relaxed));
    let (status, reply) = call_as(app, infno, &msgid, data).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    reply
}

fn ok(reply: &Value) -> &Value {
    assert_eq!(reply["infcode"], json!(0), "expected success: {reply}");
    &reply["output"]
}

fn refused(reply: &Value) -> String {
    assert_eq!(reply["infcode"], json!(-1), "expected a refusal: {reply}");
    reply["err_msg"].as_str().unwrap_or_default().to_string()
}

async fn apply(app: &Router, psn_no: &str, code: &str) -> Value {
    let data = json!({"psn_no": psn_no, "insutype": "310", "opsp_dise_code": code, "opsp_dise_name": "申请的病种",
        "begndate": "2024-05-01", "fixmedins_code": HOSPITAL});
    ok(&call(app, "2503", data).await)["data"].clone()
}

/// A med_type 14 visit of one consultation (25.00); the reply of its 2207.
async fn chronic_visit(app: &Router, psn_no: &str, ipt_otp_no: &str) -> Value {
    let registered = call(
        app,
        "2201",
        json!({"psn_no": psn_no, "insutype": "310", "begntime": "2024-06-01 09:00:00",
        "mdtrt_cert_type": "02", "mdtrt_cert_no": "x", "ipt_otp_no": ipt_otp_no, "med_type": "14"}),
    )
    .await;
    let mdtrt_id = ok(&registered)["data"]["mdtrt_id"].as_str().expect("mdtrt_id").to_string();
    let line = json!({"feedetl_sn": "1", "mdtrt_id": mdtrt_id, "chrg_bchno": "B1", "med_list_codg": CONSULTATION,
        "pric": "25.00", "cnt": "1", "det_item_fee_sumamt": "25.00"});
    let msgid = format!("M2204-{}", SERIAL.fetch_add(1, Ordering::Relaxed));
    let (_, uploaded) = call_as_input(app, "2204", &msgid, json!({"feedetail": [line]})).await;
    ok(&uploaded);
    call(
        app,
        "2207",
        json!({"psn_no": psn_no, "mdtrt_id": mdtrt_id, "med_type": "14", "medfee_sumamt": "25.00",
        "chrg_bchno": "B1", "acct_used_flag": "0", "insutype": "310", "psn_setlway": "01"}),
    )
    .await
}

/// 2204 takes `input.feedetail`, not `input.data`.
async fn call_as_input(app: &Router, infno: &str, msgid: &str, input: Value) -> (StatusCode, Value) {
    let body = json!({"infno": infno, "msgid": msgid, "fixmedins_code": HOSPITAL, "input": input}).to_string().into_bytes();
    let nonce = format!("n{}", SERIAL.fetch_add(1, Ordering::Relaxed));
    let mut request = Request::post(CALL_SERVICE_PATH).header("content-type", "application/json");
    for (name, value) in signed_headers(&caller(), time::OffsetDateTime::now_utc().unix_timestamp(), &nonce, &body) {
        request = request.header(name, value);
    }
    send(app, request.body(Body::from(body)).expect("request")).await
}

async fn operator_decides(app: &Router, sn: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::post(format!("/sandbox/special-diseases/{sn}/decision"))
        .header("authorization", format!("Bearer {OPERATOR_TOKEN}"))
        .header("content-type", "application/json");
    send(app, request.body(Body::from(body.to_string())).expect("request")).await
}

#[tokio::test]
async fn an_approved_registration_opens_the_special_disease_benefit_and_revocation_shuts_it() {
    let app = app();
    // Without a registration a med_type 14 visit does not settle.
    let before = chronic_visit(&app, ZHAO_LIU, "MT-0").await;
    assert!(refused(&before).contains("未办理门诊慢特病备案"), "{before}");

    let registration = apply(&app, ZHAO_LIU, "M07800").await;
    assert_eq!((registration["dcla_stas"].as_str(), registration["opsp_dise_name"].as_str()), (Some("approved"), Some("糖尿病")));
    let again = call(&app, "2503", json!({"psn_no": ZHAO_LIU, "opsp_dise_code": "M07800", "begndate": "2024-05-01"})).await;
    assert!(refused(&again).contains("已备案"), "one approved registration per disease: {again}");

    // 25.00 in scope, no deductible, 90 %: the fund pays 22.50, the patient 2.50.
    let settled = chronic_visit(&app, ZHAO_LIU, "MT-1").await;
    let info = &ok(&settled)["setlinfo"];
    let shares = (&info["medfee_sumamt"], &info["hifp_pay"], &info["fund_pay_sumamt"], &info["psn_cash_pay"]);
    assert_eq!(shares, (&json!("25.00"), &json!("22.50"), &json!("22.50"), &json!("2.50")), "{info}");

    let listed = call(&app, "5301", json!({"psn_no": ZHAO_LIU})).await;
    assert_eq!(ok(&listed)["feedetail"].as_array().map(Vec::len), Some(1));
    let sn = registration["trt_dcla_detl_sn"].as_str().expect("sn");
    let revoked = call(&app, "2504", json!({"psn_no": ZHAO_LIU, "trt_dcla_detl_sn": sn})).await;
    assert_eq!(ok(&revoked)["data"]["dcla_stas"], json!("revoked"));
    let after = chronic_visit(&app, ZHAO_LIU, "MT-2").await;
    assert!(refused(&after).contains("未办理门诊慢特病备案"), "{after}");
    let twice = call(&app, "2504", json!({"psn_no": ZHAO_LIU, "trt_dcla_detl_sn": sn})).await;
    assert!(refused(&twice).contains("不能撤销"));
}

#[tokio::test]
async fn a_declined_registration_stays_shut_until_the_operator_approves_it_on_review() {
    let app = app();
    let registration = apply(&app, LI_XIUYING, "M99999").await;
    assert_eq!(registration["dcla_stas"], json!("declined"));
    assert!(registration["memo"].as_str().is_some_and(|m| m.contains("不在本统筹区门诊慢特病病种目录")), "{registration}");
    let shut = chronic_visit(&app, LI_XIUYING, "MT-L0").await;
    assert!(refused(&shut).contains("未办理门诊慢特病备案"));

    let sn = registration["trt_dcla_detl_sn"].as_str().expect("sn");
    // Only the operator decides by hand: a hospital's key cannot send 9905, nobody without the token.
    let (status, _) = call_as(&app, "9905", "M9905-x", json!({"trt_dcla_detl_sn": sn, "decision": "approve"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let request = Request::post(format!("/sandbox/special-diseases/{sn}/decision")).header("content-type", "application/json");
    let (status, _) = send(&app, request.body(Body::from(json!({"decision": "approve"}).to_string())).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, no_reason) = operator_decides(&app, sn, json!({"decision": "decline"})).await;
    assert!(refused(&no_reason).contains("reason"));

    let (status, approved) = operator_decides(&app, sn, json!({"decision": "approve"})).await;
    assert_eq!((status, &ok(&approved)["data"]["decided_by"]), (StatusCode::OK, &json!("operator")));
    // Retired: 95 % of 25.00 is 23.75.
    let settled = chronic_visit(&app, LI_XIUYING, "MT-L1").await;
    assert_eq!(ok(&settled)["setlinfo"]["fund_pay_sumamt"], json!("23.75"));
}

fn claim(claim_no: &str, bill_no: &str) -> Value {
    json!({"claim_no": claim_no, "psn_no": ZHAO_LIU, "fixmedins_code": "H44190000009", "bill_no": bill_no,
        "med_type": "14", "setl_date": "2024-06-03", "medfee_sumamt": "75.00", "bank_card_no": "6222020200001234567",
        "feedetail": [{"feedetl_sn": "1", "med_list_codg": CONSULTATION, "pric": "25.00", "cnt": "3", "det_item_fee_sumamt": "75.00"}]})
}

#[tokio::test]
async fn a_manual_claim_is_adjudicated_by_the_engine_and_paid_once_however_often_it_is_sent() {
    let app = app();
    let unregistered = call(&app, "9903", claim("CLM-0", "FP-0")).await;
    assert!(refused(&unregistered).contains("未办理门诊慢特病备案"), "a med_type 14 bill needs the registration too");
    apply(&app, ZHAO_LIU, "M07800").await;

    // 75.00 paid in full elsewhere; 90 % of it is the fund's: 67.50 to the card ending 4567.
    let first = call(&app, "9903", claim("CLM-1", "FP-1")).await;
    let data = ok(&first)["data"].clone();
    let figures = (&data["claim_stas"], &data["fund_pay_sumamt"], &data["psn_part_amt"], &data["bank_card_tail"]);
    assert_eq!(figures, (&json!("paid"), &json!("67.50"), &json!("7.50"), &json!("4567")), "{data}");
    let payment_id = data["payment_id"].as_str().expect("a payment id").to_string();

    // The same claim again (a retry under a new msgid): the first record, no second payment.
    let second = call(&app, "9903", claim("CLM-1", "FP-1")).await;
    assert_eq!(ok(&second)["data"]["payment_id"], json!(payment_id));
    // The same bill under another claim id is refused; the record reads back.
    let other = call(&app, "9903", claim("CLM-2", "FP-1")).await;
    assert!(refused(&other).contains("已申请报销"), "{other}");
    let read = call(&app, "9904", json!({"claim_no": "CLM-1", "psn_no": ZHAO_LIU})).await;
    assert_eq!(ok(&read)["data"]["payment_id"], json!(payment_id));

    // The accumulators moved once: the fund's 67.50, not twice that.
    let request = Request::get(format!("/sandbox/persons/{ZHAO_LIU}")).header("authorization", format!("Bearer {OPERATOR_TOKEN}"));
    let (_, person) = send(&app, request.body(Body::empty()).unwrap()).await;
    assert_eq!(person["ytd"]["2024"]["hifp_paid"], json!("67.50"), "{person}");
}

#[tokio::test]
async fn a_claim_with_bad_figures_is_refused_with_the_reason() {
    let app = app();
    let cases = [
        ("medfee_sumamt", json!("80.00"), "医疗费总额与明细合计不符"),
        ("bank_card_no", json!("12ab"), "银行卡号格式错误"),
        ("med_type", json!("21"), "零星报销仅限门诊费用"),
        ("setl_date", json!("June"), "setl_date 格式错误"),
    ];
    for (field, value, expect) in cases {
        let mut body = claim(&format!("CLM-{field}"), &format!("FP-{field}"));
        body["med_type"] = json!("11");
        body[field] = value;
        let reply = call(&app, "9903", body).await;
        assert!(refused(&reply).contains(expect), "{field}: {reply}");
    }
}
