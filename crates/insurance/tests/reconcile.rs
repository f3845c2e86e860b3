//! 对账 as a hospital does it: 3201 totals per bucket, then the detail file up with 9101, 3202, and
//! result.txt down with 9102; every class of difference shows in the result.

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;
use wugan_insurance::{
    default_policy, router, sample_persons, CallerCredential, Gateway, GatewayConfig, InsuranceCenter, InsuranceConfig, CALL_SERVICE_PATH,
};

const HOSPITAL: &str = "H44030000001";
const ZHANG_SAN: &str = "44030000000000000001";
const ZHANG_SAN_CERTNO: &str = "440301199001011234";
const ALL_DAYS: (&str, &str) = ("2000-01-01", "2099-12-31");

fn app() -> Router {
    let config = InsuranceConfig { admdvs: "440300".into(), policy: default_policy(), persons: sample_persons() };
    let gateway = GatewayConfig { callers: vec![caller(HOSPITAL), caller(OTHER_HOSPITAL)], ..Default::default() };
    router(Arc::new(InsuranceCenter::new(config).expect("center starts")), Arc::new(Gateway::new(gateway).expect("valid")))
}

/// The second hospital, known to the gateway, asking for the first one's files.
const OTHER_HOSPITAL: &str = "H99999999999";

fn caller(hospital: &str) -> CallerCredential {
    CallerCredential { fixmedins_code: hospital.into(), app_id: format!("app-{hospital}"), secret: format!("secret-{hospital}") }
}

static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

async fn call_as(app: &Router, hospital: &str, infno: &str, msgid: &str, input: Value) -> Value {
    let body = json!({"infno": infno, "msgid": msgid, "fixmedins_code": hospital, "insuplc_admdvs": "440300", "input": input});
    let bytes = body.to_string().into_bytes();
    let nonce = format!("n{}", NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut request = Request::post(CALL_SERVICE_PATH).header("content-type", "application/json");
    for (name, value) in wugan_insurance::auth::signed_headers(&caller(hospital), now, &nonce, &bytes) {
        request = request.header(name, value);
    }
    let response = app.clone().oneshot(request.body(Body::from(bytes)).expect("request")).await.expect("router answers");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    serde_json::from_slice(&bytes).expect("an envelope")
}

async fn ok(app: &Router, infno: &str, msgid: &str, input: Value) -> Value {
    let reply = call_as(app, HOSPITAL, infno, msgid, input).await;
    assert_eq!(reply["infcode"], json!(0), "{infno} {msgid}: {reply}");
    reply["output"].clone()
}

/// Registers a visit, uploads one 25.00 consultation and settles it: the 2207 `setlinfo`.
async fn settled_visit(app: &Router, n: u32) -> Value {
    let reg = json!({"data": {"psn_no": ZHANG_SAN, "insutype": "310", "begntime": "2024-06-01 09:00:00", "mdtrt_cert_type": "02",
        "mdtrt_cert_no": ZHANG_SAN_CERTNO, "ipt_otp_no": format!("MZ{n}"), "atddr_no": "D001", "dept_code": "A01", "dept_name": "内科"}});
    let mdtrt_id = ok(app, "2201", &format!("R{n}"), reg).await["data"]["mdtrt_id"].as_str().expect("mdtrt_id").to_string();
    let fee = json!({"feedetl_sn": "1", "mdtrt_id": mdtrt_id, "psn_no": ZHANG_SAN, "chrg_bchno": "B1", "med_list_codg": "001102000010000",
        "medins_list_codg": "HIS-1", "pric": "25.00", "cnt": "1", "det_item_fee_sumamt": "25.00", "fee_ocur_time": "2024-06-01 09:10:00"});
    ok(app, "2204", &format!("F{n}"), json!({"feedetail": [fee]})).await;
    let settle = json!({"data": {"psn_no": ZHANG_SAN, "mdtrt_cert_type": "02", "mdtrt_cert_no": ZHANG_SAN_CERTNO, "med_type": "11",
        "medfee_sumamt": "25.00", "psn_setlway": "01", "mdtrt_id": mdtrt_id, "chrg_bchno": "B1", "acct_used_flag": "1", "insutype": "310"}});
    ok(app, "2207", &format!("S{n}"), settle).await["setlinfo"].clone()
}

fn totals_input(setlinfo: &Value, count: u32, medfee: &str, fund: &str, acct: &str) -> Value {
    json!({"data": {"insutype": "310", "clr_type": setlinfo["clr_type"], "setl_optins": setlinfo["clr_optins"],
        "stmt_begndate": ALL_DAYS.0, "stmt_enddate": ALL_DAYS.1, "medfee_sumamt": medfee, "fund_pay_sumamt": fund,
        "acct_pay": acct, "fixmedins_setl_cnt": count, "refd_setl_flag": "0"}})
}

fn detail_line(s: &Value, medfee: &str) -> String {
    let t = |k: &str| s[k].as_str().unwrap_or_default().to_string();
    format!("{}\t{}\t{}\t{medfee}\t{}\t{}\t0\n", t("setl_id"), t("mdtrt_id"), t("psn_no"), t("fund_pay_sumamt"), t("acct_pay"))
}

#[tokio::test]
async fn totals_that_agree_are_level_and_a_fen_off_is_not() {
    let app = app();
    let (a, b) = (settled_visit(&app, 1).await, settled_visit(&app, 2).await);
    let sum = |k: &str| {
        let fen = |s: &Value| wugan_domain::Fen::parse_yuan(s[k].as_str().expect("amount")).expect("yuan");
        (fen(&a) + fen(&b)).to_yuan_string()
    };
    let (medfee, fund, acct) = (sum("medfee_sumamt"), sum("fund_pay_sumamt"), sum("acct_pay"));
    let level = ok(&app, "3201", "T1", totals_input(&a, 2, &medfee, &fund, &acct)).await;
    assert_eq!(level["stmtinfo"]["stmt_rslt"], json!("0"), "{level}");
    let short = ok(&app, "3201", "T2", totals_input(&a, 2, "49.99", &fund, &acct)).await;
    assert_eq!(short["stmtinfo"]["stmt_rslt"], json!("1"), "{short}");
    assert_eq!(short["stmtinfo"]["medfee_sumamt"], json!(medfee), "the center says what it has");
    let missing_one = ok(&app, "3201", "T3", totals_input(&a, 1, a["medfee_sumamt"].as_str().unwrap_or_default(), &fund, &acct)).await;
    assert_eq!(missing_one["stmtinfo"]["stmt_rslt"], json!("1"));
}

#[tokio::test]
async fn the_detail_file_round_trip_names_every_difference() {
    let app = app();
    let (level, off_by_a_fen, center_only) = (settled_visit(&app, 1).await, settled_visit(&app, 2).await, settled_visit(&app, 3).await);
    let hospital_only = "S-NEVER\tM-NEVER\tP-NEVER\t10.00\t5.00\t0.00\t0\n";
    let file = format!("{}{}{hospital_only}", detail_line(&level, "25.00"), detail_line(&off_by_a_fen, "24.99"));
    let up = ok(&app, "9101", "U1", json!({"fsUploadIn": {"in": file, "filename": "detail.txt", "fixmedins_code": HOSPITAL}})).await;
    let file_qury_no = up["file_qury_no"].as_str().expect("file_qury_no").to_string();

    let detail = json!({"data": {"setl_optins": level["clr_optins"], "file_qury_no": file_qury_no, "stmt_begndate": ALL_DAYS.0,
        "stmt_enddate": ALL_DAYS.1, "medfee_sumamt": "59.99", "fund_pay_sumamt": "0", "cash_payamt": "0", "fixmedins_setl_cnt": 3}});
    let out = ok(&app, "3202", "D1", detail).await;
    assert_eq!(out["stmtinfo"]["stmt_rslt"], json!("1"));
    let result_no = out["fileinfo"]["file_qury_no"].as_str().expect("result file").to_string();
    let down =
        ok(&app, "9102", "G1", json!({"fsDownloadIn": {"file_qury_no": result_no, "filename": "result.txt", "fixmedins_code": HOSPITAL}}))
            .await;
    let result = down["content"].as_str().expect("content");
    let rslt_of: std::collections::HashMap<&str, &str> =
        result.lines().map(|l| l.split('\t').collect::<Vec<_>>()).map(|f| (f[2], f[4])).collect();
    let id = |s: &Value| s["setl_id"].as_str().expect("setl_id").to_string();
    let expect = [(id(&level), "0"), (id(&off_by_a_fen), "3"), ("S-NEVER".to_string(), "2"), (id(&center_only), "1")];
    for (setl_id, rslt) in &expect {
        assert_eq!(rslt_of.get(setl_id.as_str()), Some(rslt), "{setl_id} in\n{result}");
    }
    assert_eq!(rslt_of.len(), 4, "{result}");

    let stranger =
        call_as(&app, OTHER_HOSPITAL, "9102", "G2", json!({"fsDownloadIn": {"file_qury_no": result_no, "filename": "result.txt"}})).await;
    assert_eq!(stranger["infcode"], json!(-1), "another hospital's file is not found: {stranger}");
    let bad = json!({"fsUploadIn": {"in": "S1\tM1\tP1\t1.001\t0\t0\t0\n", "filename": "d.txt"}});
    let up = ok(&app, "9101", "U2", bad).await;
    let bad_detail = json!({"data": {"setl_optins": level["clr_optins"], "file_qury_no": up["file_qury_no"], "stmt_begndate": ALL_DAYS.0, "stmt_enddate": ALL_DAYS.1}});
    let refused = call_as(&app, HOSPITAL, "3202", "D2", bad_detail).await;
    assert_eq!(refused["infcode"], json!(-1), "a malformed line is refused with its number: {refused}");
}

/// A clock that stays at 2024-06-01 09:00 in Shenzhen.
struct FixedClock;

impl wugan_insurance::Clock for FixedClock {
    fn now_utc(&self) -> time::OffsetDateTime {
        time::macros::datetime!(2024-06-01 01:00:00 UTC)
    }
}

#[tokio::test]
async fn files_survive_a_restart_of_a_persistent_center() {
    let dir = std::env::temp_dir().join(format!("wugan-insurance-recon-{}", time::OffsetDateTime::now_utc().unix_timestamp_nanos()));
    let journal = dir.join("data").join("insurance.db");
    let config = || InsuranceConfig { admdvs: "440300".into(), policy: default_policy(), persons: sample_persons() };
    let body = |infno: &str, msgid: &str, input: Value| {
        json!({"infno": infno, "msgid": msgid, "fixmedins_code": HOSPITAL, "input": input}).to_string().into_bytes()
    };
    let center = InsuranceCenter::open_with_clock(config(), &journal, key(), Arc::new(FixedClock)).await.expect("opens");
    let up = center.call(&body("9101", "U1", json!({"fsUploadIn": {"in": "", "filename": "d.txt"}}))).await.expect("answered");
    let detail = json!({"data": {"setl_optins": "440300", "file_qury_no": up["output"]["file_qury_no"], "stmt_begndate": "2024-06-01", "stmt_enddate": "2024-06-01"}});
    let result = center.call(&body("3202", "D1", detail)).await.expect("answered");
    assert_eq!(result["infcode"], json!(0), "{result}");
    let result_no = result["output"]["fileinfo"]["file_qury_no"].clone();
    drop(center);

    let center = InsuranceCenter::open_with_clock(config(), &journal, key(), Arc::new(FixedClock)).await.expect("reopens");
    let down = center.call(&body("9102", "G1", json!({"fsDownloadIn": {"file_qury_no": result_no, "filename": "result.txt"}}))).await;
    assert_eq!(down.expect("answered")["infcode"], json!(0), "the result file stored before the restart is still there");
    let again = center.call(&body("9101", "U2", json!({"fsUploadIn": {"in": "", "filename": "e.txt"}}))).await.expect("answered");
    assert_ne!(again["output"]["file_qury_no"], up["output"]["file_qury_no"], "file numbers continue");
    drop(center);
    let _ = std::fs::remove_dir_all(&dir);
}

fn key() -> wugan_insurance::SealKey {
    wugan_insurance::SealKey::from_hex(&"5e".repeat(32)).expect("a key")
}

/// The month of today in China time, as 3203 names it, and its first and last day.
fn this_month() -> (String, String, String) {
    let t = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(8, 0, 0).expect("offset"));
    let (y, m) = (t.year(), t.month() as u8);
    let last = time::util::days_in_month(t.month(), y);
    (format!("{y:04}{m:02}"), format!("{y:04}-{m:02}-01"), format!("{y:04}-{m:02}-{last:02}"))
}

#[tokio::test]
async fn a_monthly_clearing_application_is_accepted_only_for_what_the_center_settled_and_may_be_withdrawn() {
    let app = app();
    let (a, b) = (settled_visit(&app, 1).await, settled_visit(&app, 2).await);
    let sum = |k: &str| {
        let fen = |s: &Value| wugan_domain::Fen::parse_yuan(s[k].as_str().expect("amount")).expect("yuan");
        (fen(&a) + fen(&b)).to_yuan_string()
    };
    let (setlym, begin, end) = this_month();
    let application = |psntime: u32, medfee: &str| {
        json!({"data": {"clr_type": a["clr_type"], "clr_way": "1", "setlym": setlym, "psntime": psntime, "medfee_sumamt": medfee,
            "med_sumfee": medfee, "fund_appy_sum": sum("fund_pay_sumamt"), "cash_payamt": sum("psn_cash_pay"),
            "acct_pay": sum("acct_pay"), "begndate": begin, "enddate": end}})
    };
    // One settlement short, or a fen off: refused, with the center's own totals.
    for (n, (count, medfee)) in [(1, sum("medfee_sumamt")), (2, "49.99".to_string())].into_iter().enumerate() {
        let refused = call_as(&app, HOSPITAL, "3203", &format!("C{n}"), application(count, &medfee)).await;
        assert_eq!(refused["infcode"], json!(-1), "{refused}");
        assert!(refused["err_msg"].as_str().unwrap_or_default().contains("中心 2 人次 医疗费 50.00"), "{refused}");
    }
    let accepted = ok(&app, "3203", "C3", application(2, &sum("medfee_sumamt"))).await;
    let evt = accepted["result"]["clr_appy_evt_id"].as_str().expect("an application id").to_string();
    let twice = call_as(&app, HOSPITAL, "3203", "C4", application(2, &sum("medfee_sumamt"))).await;
    assert!(twice["err_msg"].as_str().unwrap_or_default().contains(&evt), "one application a month: {twice}");

    // Another hospital cannot withdraw it; the hospital can, once, and then apply again.
    let foreign = call_as(&app, OTHER_HOSPITAL, "3204", "X1", json!({"data": {"clr_appy_evt_id": evt}})).await;
    assert_eq!(foreign["infcode"], json!(-1), "{foreign}");
    let withdrawn = ok(&app, "3204", "C5", json!({"data": {"clr_appy_evt_id": evt}})).await;
    assert_eq!(withdrawn["result"]["cancelled"], "1");
    let again = call_as(&app, HOSPITAL, "3204", "C6", json!({"data": {"clr_appy_evt_id": evt}})).await;
    assert_eq!(again["infcode"], json!(-1), "withdrawn once: {again}");
    let reapplied = ok(&app, "3203", "C7", application(2, &sum("medfee_sumamt"))).await;
    assert_ne!(reapplied["result"]["clr_appy_evt_id"].as_str(), Some(evt.as_str()));
}
