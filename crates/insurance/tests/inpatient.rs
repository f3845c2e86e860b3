//! Issue 3 stories, driven through `InsuranceCenter::call` as a hospital HIS would: an admission
//! settled in an interim step and finally, refunds, cancellations in reverse, first and repeat
//! admissions; uninsured persons, medical assistance, family mutual aid; charge batches; faults;
//! concurrent settlements against a cap; and properties (exact reversal, caps over a year).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tower::ServiceExt;
use wugan_insurance::{
    default_policy, parse_persons_jsonl, sample_persons, CallerCredential, Faults, Gateway, GatewayConfig, InsuranceCenter,
    InsuranceConfig, CALL_SERVICE_PATH,
};
use wugan_policy::SetlAmounts;

const HOSPITAL: &str = "H44030000001";
const ZHANG_SAN: &str = "44030000000000000001";
const BED: &str = "110900001000000"; // 甲, cap 60.00 a day
const AMOXICILLIN: &str = "XJ01CAA040E001010101923"; // 甲, no cap

/// Extra persons for these stories (persons-file lines).
const PERSONS: &str = r#"
{"psn_no":"P-NONE","certno":"440301199901010011","psn_name":"未参保","gend":"1","brdy":"1999-01-01","insutype":"","psn_type":"","insuplc_admdvs":"440300","balc":0}
{"psn_no":"P-STOP","certno":"440301199901010022","psn_name":"停保","gend":"1","brdy":"1999-01-01","insutype":"310","psn_type":"1101","insuplc_admdvs":"440300","balc":0,"psn_insu_stas":"4"}
{"psn_no":"P-DIBAO","certno":"440301199901010033","psn_name":"低保","gend":"2","brdy":"1970-01-01","insutype":"390","psn_type":"1501","insuplc_admdvs":"440300","balc":0,"idet_types":["2302"]}
{"psn_no":"P-PARENT","certno":"440301199901010044","psn_name":"家长","gend":"2","brdy":"1980-01-01","insutype":"310","psn_type":"1101","insuplc_admdvs":"440300","balc":"1000.00"}
{"psn_no":"P-KID","certno":"440301199901010055","psn_name":"孩子","gend":"1","brdy":"2014-01-01","insutype":"390","psn_type":"1403","insuplc_admdvs":"440300","balc":0,"mulaid_payer_psn_no":"P-PARENT"}
"#;

fn center() -> InsuranceCenter {
    let mut persons = sample_persons();
    persons.extend(parse_persons_jsonl(PERSONS).expect("test persons parse"));
    InsuranceCenter::new(InsuranceConfig { admdvs: "440300".into(), policy: default_policy(), persons }).expect("center starts")
}

static MSGID: AtomicU64 = AtomicU64::new(1);

fn body(infno: &str, input: Value) -> Vec<u8> {
    let msgid = format!("{HOSPITAL}20240601090000{:06}", MSGID.fetch_add(1, Ordering::Relaxed));
    json!({"infno": infno, "msgid": msgid, "fixmedins_code": HOSPITAL, "infver": "V1.0", "input": input}).to_string().into_bytes()
}

fn call(c: &InsuranceCenter, infno: &str, input: Value) -> Value {
    answer(c, &body(infno, input))
}

/// An in-memory center waits on nothing: the call completes at its first poll.
fn answer(c: &InsuranceCenter, bytes: &[u8]) -> Value {
    use std::future::Future;
    let mut call = std::pin::pin!(c.call(bytes));
    match call.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(reply) => reply.expect("an in-memory center records nothing"),
        std::task::Poll::Pending => panic!("an in-memory center answers at once"),
    }
}

fn ok(reply: &Value) -> &Value {
    assert_eq!(reply["infcode"], json!(0), "expected success: {reply}");
    &reply["output"]
}

fn err(reply: &Value) -> String {
    assert_eq!(reply["infcode"], json!(-1), "expected failure: {reply}");
    reply["err_msg"].as_str().unwrap_or_default().to_string()
}

/// Checks the listed setlinfo fields and invariants 1–4.
fn check(info: &Value, expect: &[(&str, &str)]) {
    for (field, want) in expect {
        assert_eq!(info[*field], json!(want), "setlinfo.{field} in {info}");
    }
    let amounts: SetlAmounts = serde_json::from_value(info.clone()).expect("amounts parse");
    assert_eq!(amounts.check(), Ok(()), "invariants 1-4");
}

fn admit(c: &InsuranceCenter, psn_no: &str, ipt_no: &str, med_type: &str) -> String {
    let input = json!({"mdtrtinfo": {"psn_no": psn_no, "ipt_no": ipt_no, "med_type": med_type, "begntime": "2024-06-01 08:00:00",
        "adm_diag_dscr": "肺炎", "dise_codg": "J18.900", "dise_name": "肺炎"}, "diseinfo": [{"diag_type": "1", "diag_code": "J18.900", "maindiag_flag": "1"}]});
    ok(&call(c, "2401", input))["data"]["mdtrt_id"].as_str().expect("mdtrt_id").to_string()
}

fn fee(mdtrt_id: &str, sn: &str, code: &str, pric: &str, cnt: &str, amount: &str) -> Value {
    json!({"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "med_list_codg": code, "pric": pric, "cnt": cnt, "det_item_fee_sumamt": amount, "fee_ocur_time": "2024-06-02 10:00:00"})
}

fn upload(c: &InsuranceCenter, lines: Vec<Value>) -> Value {
    call(c, "2301", json!({"feedetail": lines}))
}

fn settle_in(c: &InsuranceCenter, infno: &str, psn_no: &str, mdtrt_id: &str, medfee: &str, mid: bool, acct: bool) -> Value {
    let input = json!({"data": {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "medfee_sumamt": medfee, "psn_setlway": "01",
        "mid_setl_flag": if mid { "1" } else { "0" }, "acct_used_flag": if acct { "1" } else { "0" }}});
    call(c, infno, input)
}

fn discharge(c: &InsuranceCenter, psn_no: &str, mdtrt_id: &str) -> Value {
    call(c, "2402", json!({"dscginfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "endtime": "2024-06-10 10:00:00", "dscg_way": "1"}}))
}

fn cancel_in(c: &InsuranceCenter, psn_no: &str, mdtrt_id: &str, setl_id: &str) -> Value {
    call(c, "2305", json!({"data": {"mdtrt_id": mdtrt_id, "setl_id": setl_id, "psn_no": psn_no}}))
}

fn setl_id(reply: &Value) -> String {
    ok(reply)["setlinfo"]["setl_id"].as_str().expect("setl_id").to_string()
}

fn view(c: &InsuranceCenter, psn_no: &str) -> Value {
    serde_json::to_value(c.person(psn_no).expect("known person")).expect("view serializes")
}

#[test]
fn an_admission_settles_in_an_interim_step_then_finally_charging_the_deductible_once() {
    let c = center();
    let id = admit(&c, ZHANG_SAN, "ZY001", "21");
    // Bed 5 days (300) and a drug (100); one bed day refunded (−60): 340 in scope, all 甲.
    ok(&upload(&c, vec![fee(&id, "1", BED, "60", "5", "300"), fee(&id, "2", AMOXICILLIN, "50", "2", "100")]));
    let refund = json!({"feedetl_sn": "3", "init_feedetl_sn": "1", "mdtrt_id": id, "med_list_codg": BED, "pric": "60", "cnt": "-1", "det_item_fee_sumamt": "-60"});
    let result = ok(&upload(&c, vec![refund]))["result"][0].clone();
    assert_eq!(result["inscp_scp_amt"], json!("-60.00"));

    // Interim: 340 all inside the 600 first-admission deductible (grade III).
    let first = settle_in(&c, "2304", ZHANG_SAN, &id, "340", true, false);
    check(
        &ok(&first)["setlinfo"],
        &[("act_pay_dedc", "340.00"), ("hifp_pay", "0.00"), ("psn_cash_pay", "340.00"), ("clr_type", "21"), ("mid_setl_flag", "1")],
    );
    let mid_id = setl_id(&first);

    // The admission stays open: ten more bed days.
    ok(&upload(&c, vec![fee(&id, "4", BED, "60", "10", "600")]));
    assert!(err(&settle_in(&c, "2303", ZHANG_SAN, &id, "600", false, true)).contains("not discharged"));
    ok(&discharge(&c, ZHANG_SAN, &id));
    assert!(err(&settle_in(&c, "2304", ZHANG_SAN, &id, "600", true, true)).contains("discharged"));
    // Final: only the deductible's rest (260) is charged; 340 × 90 % = 306.
    let expect =
        [("act_pay_dedc", "260.00"), ("hifp_pay", "306.00"), ("psn_part_amt", "294.00"), ("acct_pay", "294.00"), ("balc", "506.00")];
    check(&ok(&settle_in(&c, "2303", ZHANG_SAN, &id, "600", false, true))["setlinfo"], &expect);
    let last = settle_in(&c, "2304", ZHANG_SAN, &id, "600", false, true);
    check(&ok(&last)["setlinfo"], &expect);
    let final_id = setl_id(&last);
    let v = view(&c, ZHANG_SAN);
    assert_eq!(
        (v["balc"].clone(), v["ytd"]["2024"]["adm_dedc_paid"].clone(), v["ytd"]["2024"]["hifp_paid"].clone()),
        (json!("506.00"), json!("600.00"), json!("306.00"))
    );
    assert!(err(&upload(&c, vec![fee(&id, "5", BED, "60", "1", "60")])).contains("already settled"));

    // Cancel newest first; each reversal restores exactly.
    assert!(err(&cancel_in(&c, ZHANG_SAN, &id, &mid_id)).contains("newest first"));
    assert!(err(&call(&c, "2208", json!({"data": {"setl_id": final_id, "mdtrt_id": id}}))).contains("2305"));
    check(
        &ok(&cancel_in(&c, ZHANG_SAN, &id, &final_id))["setlinfo"],
        &[("hifp_pay", "-306.00"), ("acct_pay", "-294.00"), ("balc", "800.00")],
    );
    // The lines are unsettled again: settle again, same figures.
    check(&ok(&settle_in(&c, "2304", ZHANG_SAN, &id, "600", false, true))["setlinfo"], &expect);
    let again = c.settlements(None).last().map(|s| s.setl_id.clone()).expect("a settlement");
    ok(&cancel_in(&c, ZHANG_SAN, &id, &again));
    ok(&cancel_in(&c, ZHANG_SAN, &id, &mid_id));
    let v = view(&c, ZHANG_SAN);
    assert_eq!(v["balc"], json!("800.00"));
    assert_eq!(v["ytd"]["2024"]["adm_dedc_paid"], json!("0.00"));
    assert_eq!(v["ytd"]["2024"]["hifp_paid"], json!("0.00"));
}

/// 2304 carries back the four amounts of its 2303 reply (interim and final alike): the center
/// settles when they agree with its own split, to the fen, refuses a 2304 whose amounts differ,
/// and keeps the names of the fields the hospital sent.
#[test]
fn a_2304_carrying_its_2303_amounts_settles_and_one_carrying_other_amounts_is_refused() {
    let c = center();
    let id = admit(&c, ZHANG_SAN, "ZY-ECHO", "21");
    // Five bed days at 80.00 against a 60.00 cap (100.00 over the limit) and a drug (100.00).
    ok(&upload(&c, vec![fee(&id, "1", BED, "80", "5", "400"), fee(&id, "2", AMOXICILLIN, "50", "2", "100")]));
    const ECHO: [&str; 4] = ["fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt"];
    let settle_input = |mid: &str, amounts: &Value| {
        let mut input = json!({"data": {"psn_no": ZHANG_SAN, "mdtrt_cert_type": "02", "mdtrt_cert_no": "440301198001010011",
            "mdtrt_id": id, "medfee_sumamt": "500.00", "psn_setlway": "01", "mid_setl_flag": mid, "acct_used_flag": "0", "insutype": "310"}});
        for field in ECHO {
            input["data"][field] = amounts[field].clone();
        }
        input
    };
    let pre = ok(&call(&c, "2303", settle_input("1", &json!({}))))["setlinfo"].clone();
    let split: Vec<&str> = ECHO.iter().filter_map(|f| pre[*f].as_str()).collect();
    assert_eq!(split, ["0.00", "100.00", "0.00", "400.00"], "{pre}");

    for (field, other) in [("inscp_scp_amt", "399.99"), ("overlmt_selfpay", "100.01")] {
        let mut wrong = pre.clone();
        wrong[field] = json!(other);
        let refused = err(&call(&c, "2304", settle_input("1", &wrong)));
        assert!(refused.contains(field) && refused.contains(other), "{refused}");
    }
    assert!(c.settlements(None).is_empty(), "nothing settled on a wrong split");

    check(&ok(&call(&c, "2304", settle_input("1", &pre)))["setlinfo"], &[("overlmt_selfpay", "100.00"), ("inscp_scp_amt", "400.00")]);
    let kept = serde_json::to_value(c.settlements(None)).expect("summaries serialize");
    let settled = &kept[0];
    assert_eq!((settled["overlmt_selfpay"].as_str(), settled["inscp_scp_amt"].as_str()), (Some("100.00"), Some("400.00")));
    let sent: Vec<&str> = settled["input_fields"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    for field in ECHO.iter().chain(&["mdtrt_cert_type", "mdtrt_cert_no", "mid_setl_flag", "insutype"]) {
        assert!(sent.contains(field), "{field} in {sent:?}");
    }
}

#[test]
fn first_and_repeat_admissions_count_per_person_and_year_without_cancelled_ones() {
    let c = center();
    let settle_whole = |id: &str, amount: &str| {
        ok(&upload(&c, vec![fee(id, "1", AMOXICILLIN, "50", &(amount.parse::<u32>().unwrap_or(0) / 50).to_string(), amount)]));
        ok(&discharge(&c, ZHANG_SAN, id));
        settle_in(&c, "2304", ZHANG_SAN, id, amount, false, false)
    };
    let a = admit(&c, ZHANG_SAN, "ZY100", "21");
    let a_setl = setl_id(&settle_whole(&a, "1000"));
    ok(&cancel_in(&c, ZHANG_SAN, &a, &a_setl));
    // A's settlement was cancelled: B, an emergency admission (24 急诊转住院), is the first.
    let b = admit(&c, ZHANG_SAN, "ZY101", "24");
    check(
        &ok(&settle_whole(&b, "1000"))["setlinfo"],
        &[("act_pay_dedc", "600.00"), ("hifp_pay", "360.00"), ("med_type", "24"), ("clr_type", "21")],
    );
    // A settled again now comes second: the repeat deductible 300; 700 × 90 % = 630.
    check(
        &ok(&settle_in(&c, "2304", ZHANG_SAN, &a, "1000", false, false))["setlinfo"],
        &[("act_pay_dedc", "300.00"), ("hifp_pay", "630.00")],
    );
}

#[test]
fn admission_lifecycle_rules() {
    let c = center();
    let id = admit(&c, ZHANG_SAN, "ZY200", "21");
    assert!(err(&call(&c, "2401", json!({"mdtrtinfo": {"psn_no": ZHANG_SAN, "ipt_no": "ZY200"}}))).contains("already admitted"));
    // Outpatient transactions do not take an admission, and the reverse.
    assert!(err(&call(&c, "2204", json!({"feedetail": [fee(&id, "1", BED, "60", "1", "60")]}))).contains("admission"));
    // Refunds: must name a live charge, same code, not more than charged.
    ok(&upload(&c, vec![fee(&id, "1", BED, "60", "3", "180")]));
    let refund = |sn: &str, init: &str, code: &str, cnt: &str, amount: &str| json!({"feedetl_sn": sn, "init_feedetl_sn": init, "mdtrt_id": id, "med_list_codg": code, "pric": "60", "cnt": cnt, "det_item_fee_sumamt": amount});
    assert!(err(&upload(&c, vec![refund("2", "9", BED, "-1", "-60")])).contains("not a live charge"));
    assert!(err(&upload(&c, vec![refund("2", "1", AMOXICILLIN, "-1", "-60")])).contains("med_list_codg"));
    assert!(err(&upload(&c, vec![refund("2", "1", BED, "-2", "-120"), refund("3", "1", BED, "-2", "-120")])).contains("exceed"));
    assert!(err(&upload(&c, vec![fee(&id, "2", BED, "60", "-1", "-60")])).contains("init_feedetl_sn"));
    ok(&upload(&c, vec![refund("2", "1", BED, "-1", "-60")]));
    // 2302: deleting the charge deletes its refund; "0000" deletes the rest.
    ok(&upload(&c, vec![fee(&id, "4", AMOXICILLIN, "50", "1", "50")]));
    assert_eq!(ok(&call(&c, "2302", json!({"data": [{"feedetl_sn": "1", "mdtrt_id": id, "psn_no": ZHANG_SAN}]})))["deleted"], json!(2));
    assert_eq!(ok(&call(&c, "2302", json!({"data": {"feedetl_sn": "0000", "mdtrt_id": id, "psn_no": ZHANG_SAN}})))["deleted"], json!(1));
    // 2405 needs a discharge; 2404 needs no discharge and no settlement.
    assert!(err(&call(&c, "2405", json!({"data": {"mdtrt_id": id, "psn_no": ZHANG_SAN}}))).contains("not discharged"));
    ok(&discharge(&c, ZHANG_SAN, &id));
    assert!(err(&discharge(&c, ZHANG_SAN, &id)).contains("already discharged"));
    assert!(err(&call(&c, "2404", json!({"data": {"mdtrt_id": id, "psn_no": ZHANG_SAN}}))).contains("2405"));
    ok(&call(&c, "2405", json!({"data": {"mdtrt_id": id, "psn_no": ZHANG_SAN}})));
    ok(&upload(&c, vec![fee(&id, "5", BED, "60", "1", "60")]));
    let mid = settle_in(&c, "2304", ZHANG_SAN, &id, "60", true, false);
    assert!(err(&call(&c, "2302", json!({"data": {"feedetl_sn": "5", "mdtrt_id": id}}))).contains("settled"));
    assert!(err(&call(&c, "2404", json!({"data": {"mdtrt_id": id, "psn_no": ZHANG_SAN}}))).contains("2305"));
    ok(&cancel_in(&c, ZHANG_SAN, &id, &setl_id(&mid)));
    ok(&call(&c, "2404", json!({"data": {"mdtrt_id": id, "psn_no": ZHANG_SAN}})));
    assert!(err(&upload(&c, vec![fee(&id, "6", BED, "60", "1", "60")])).contains("cancelled"));
    admit(&c, ZHANG_SAN, "ZY200", "21"); // the 住院号 is free again
}

#[test]
fn an_admission_keeps_its_main_diagnosis_and_surgery_and_a_discharge_its_death_for_the_sandbox_view() {
    let c = center();
    let input = json!({"mdtrtinfo": {"psn_no": ZHANG_SAN, "ipt_no": "ZY210", "med_type": "21", "begntime": "2024-06-01 08:00:00",
        "dscg_maindiag_code": "O80.000", "dscg_maindiag_name": "单胎顺产", "oprn_oprt_code": "73.5900", "oprn_oprt_name": "人工助产",
        "matn_type": "1", "geso_val": 39, "fetts": 1, "latechb_flag": "0"}, "diseinfo": []});
    let id = ok(&call(&c, "2401", input))["data"]["mdtrt_id"].as_str().expect("mdtrt_id").to_string();
    let seen = c.visit(&id).expect("the admission");
    for (field, value) in
        [("dscg_maindiag_code", "O80.000"), ("dscg_maindiag_name", "单胎顺产"), ("oprn_oprt_code", "73.5900"), ("matn_type", "1")]
    {
        assert_eq!(seen[field], value, "{field}: {seen}");
    }
    // 2403 replaces what it sends and leaves the rest.
    ok(&call(&c, "2403", json!({"adminfo": {"mdtrt_id": id, "psn_no": ZHANG_SAN, "oprn_oprt_code": "74.1x00"}, "diseinfo": []})));
    let seen = c.visit(&id).expect("the admission");
    assert_eq!((seen["oprn_oprt_code"].as_str(), seen["oprn_oprt_name"].as_str()), (Some("74.1x00"), Some("人工助产")), "{seen}");
    // The discharge's 并发症 flag and 死亡日期, kept as sent: nothing a 2402 carried before is refused
    // now (a journal replays), a die_date that is no date included.
    let dscginfo = json!({"mdtrt_id": id, "psn_no": ZHANG_SAN, "endtime": "2024-06-10 10:00:00", "dscg_way": "5", "cop_flag": 1, "die_date": "2024-06-10"});
    ok(&call(&c, "2402", json!({ "dscginfo": dscginfo })));
    let seen = c.visit(&id).expect("the admission");
    let discharge = (seen["discharged"].as_str(), seen["cop_flag"].as_str(), seen["die_date"].as_str());
    assert_eq!(discharge, (Some("2024-06-10 10:00:00"), Some("1"), Some("2024-06-10")), "{seen}");
    ok(&call(&c, "2405", json!({"data": {"mdtrt_id": id, "psn_no": ZHANG_SAN}})));
    assert!(c.visit(&id).expect("the admission")["die_date"].is_null(), "2405 forgets the discharge");
    let odd = json!({"mdtrt_id": id, "psn_no": ZHANG_SAN, "endtime": "2024-06-11 10:00:00", "cop_flag": "x", "die_date": "someday"});
    ok(&call(&c, "2402", json!({ "dscginfo": odd })));
}

#[test]
fn persons_not_insured_cannot_use_insurance() {
    let c = center();
    let none = ok(&call(&c, "1101", json!({"data": {"psn_cert_type": "01", "certno": "440301199901010011"}}))).clone();
    assert_eq!(none["insuinfo"], json!([]));
    let stop = ok(&call(&c, "1101", json!({"data": {"psn_cert_type": "01", "certno": "440301199901010022"}}))).clone();
    assert_eq!(stop["insuinfo"][0]["psn_insu_stas"], json!("4"));
    for psn in ["P-NONE", "P-STOP"] {
        let reg = call(&c, "2201", json!({"data": {"psn_no": psn, "ipt_otp_no": format!("MZ-{psn}")}}));
        assert!(err(&reg).starts_with("未参保"), "{psn}");
        assert!(err(&call(&c, "2401", json!({"mdtrtinfo": {"psn_no": psn, "ipt_no": format!("ZY-{psn}")}}))).contains("not insured"));
    }
}

#[test]
fn medical_assistance_and_family_mutual_aid() {
    let c = center();
    // 低保 resident, grade III first admission, 10,000 甲: 600 deductible, 9,400 × 80 % = 7,520;
    // burden 2,480 × 70 % (example) = 1,736 医疗救助.
    let id = admit(&c, "P-DIBAO", "ZY300", "21");
    ok(&upload(&c, vec![fee(&id, "1", AMOXICILLIN, "100", "100", "10000")]));
    ok(&discharge(&c, "P-DIBAO", &id));
    let out = ok(&settle_in(&c, "2304", "P-DIBAO", &id, "10000", false, false)).clone();
    check(&out["setlinfo"], &[("hifp_pay", "7520.00"), ("maf_pay", "1736.00"), ("fund_pay_sumamt", "9256.00"), ("psn_cash_pay", "744.00")]);
    assert!(out["setldetail"]
        .as_array()
        .is_some_and(|d| d.iter().any(|i| i["fund_pay_type"] == json!("610100") && i["fund_payamt"] == json!("1736.00"))));
    assert_eq!(view(&c, "P-DIBAO")["ytd"]["2024"]["maf_paid"], json!("1736.00"));

    // A pupil with no account of their own: the parent's account pays (家庭共济).
    let reg = call(&c, "2201", json!({"data": {"psn_no": "P-KID", "begntime": "2024-06-01 09:00:00", "ipt_otp_no": "MZ300"}}));
    let visit = ok(&reg)["data"]["mdtrt_id"].as_str().expect("mdtrt_id").to_string();
    let line = json!({"feedetl_sn": "1", "mdtrt_id": visit, "chrg_bchno": "1", "med_list_codg": AMOXICILLIN, "pric": 50, "cnt": 2, "det_item_fee_sumamt": 100});
    ok(&call(&c, "2204", json!({"feedetail": [line]})));
    let settled = call(
        &c,
        "2207",
        json!({"data": {"psn_no": "P-KID", "mdtrt_id": visit, "medfee_sumamt": 100, "acct_used_flag": "1", "chrg_bchno": "0000"}}),
    );
    let info = ok(&settled)["setlinfo"].clone();
    check(&info, &[("hifp_pay", "50.00"), ("acct_pay", "50.00"), ("acct_mulaid_pay", "50.00"), ("psn_cash_pay", "0.00"), ("balc", "0.00")]);
    assert_eq!(view(&c, "P-PARENT")["balc"], json!("950.00"));
    ok(&call(&c, "2208", json!({"data": {"setl_id": info["setl_id"], "mdtrt_id": visit, "psn_no": "P-KID"}})));
    assert_eq!(view(&c, "P-PARENT")["balc"], json!("1000.00"));
}

#[test]
fn outpatient_batches_settle_separately() {
    let c = center();
    let reg = call(&c, "2201", json!({"data": {"psn_no": ZHANG_SAN, "begntime": "2024-06-01 09:00:00", "ipt_otp_no": "MZ400"}}));
    let id = ok(&reg)["data"]["mdtrt_id"].as_str().expect("mdtrt_id").to_string();
    let line = |sn: &str, batch: &str, amount: u32| json!({"feedetl_sn": sn, "mdtrt_id": id, "chrg_bchno": batch, "med_list_codg": AMOXICILLIN, "pric": amount, "cnt": 1, "det_item_fee_sumamt": amount});
    ok(&call(&c, "2204", json!({"feedetail": [line("1", "B1", 100), line("2", "B2", 40), line("3", "B2", 20)]})));
    let settle = |batch: &str, medfee: u32| {
        call(&c, "2207", json!({"data": {"psn_no": ZHANG_SAN, "mdtrt_id": id, "medfee_sumamt": medfee, "chrg_bchno": batch}}))
    };
    assert!(err(&settle("B2", 160)).contains("medfee_sumamt"));
    check(&ok(&settle("B2", 60))["setlinfo"], &[("medfee_sumamt", "60.00"), ("hifp_pay", "30.00")]);
    assert!(err(&settle("B2", 60)).contains("already settled"));
    check(&ok(&settle("0000", 100))["setlinfo"], &[("medfee_sumamt", "100.00"), ("hifp_pay", "50.00")]);
    assert_eq!(view(&c, ZHANG_SAN)["ytd"]["2024"]["otp_hifp_paid"], json!("80.00"));
}

/// The center behind a gateway that knows `HOSPITAL`.
fn router(center: Arc<InsuranceCenter>) -> axum::Router {
    wugan_insurance::router(center, Arc::new(Gateway::new(GatewayConfig { callers: vec![caller()], ..Default::default() }).expect("valid")))
}

fn caller() -> CallerCredential {
    CallerCredential { fixmedins_code: HOSPITAL.into(), app_id: "app-inpatient".into(), secret: "inpatient-secret".into() }
}

/// Signed as `HOSPITAL`, with a fresh nonce every time (a resend is a new request at the gateway).
async fn post(app: &axum::Router, bytes: Vec<u8>) -> (StatusCode, Value) {
    let nonce = format!("n{}", MSGID.fetch_add(1, Ordering::Relaxed));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut request = Request::post(CALL_SERVICE_PATH).header("content-type", "application/json");
    for (name, value) in wugan_insurance::auth::signed_headers(&caller(), now, &nonce, &bytes) {
        request = request.header(name, value);
    }
    let request = request.body(Body::from(bytes)).expect("request");
    let response = app.clone().oneshot(request).await.expect("router answers");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn registration(ipt_otp_no: &str) -> Value {
    json!({"data": {"psn_no": ZHANG_SAN, "begntime": "2024-06-01 09:00:00", "ipt_otp_no": ipt_otp_no}})
}

#[tokio::test]
async fn faults_refuse_before_and_time_out_after_commit() {
    let refusing = Arc::new(center().with_faults(Faults { refuse_rate: 1.0, ..Faults::default() }));
    let (status, _) = post(&router(refusing.clone()), body("2201", registration("MZ500"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    ok(&answer(&refusing, &body("2201", registration("MZ500")))); // nothing was done: the number is free

    let erroring = Arc::new(center().with_faults(Faults { error_rate: 1.0, latency_ms: 5, ..Faults::default() }));
    let (status, _) = post(&router(erroring.clone()), body("2201", registration("MZ501"))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    ok(&answer(&erroring, &body("2201", registration("MZ501"))));

    let hanging = Arc::new(center().with_faults(Faults { timeout_after_commit_rate: 1.0, timeout_hang_ms: 10, ..Faults::default() }));
    let request = body("2201", registration("MZ502"));
    let (status, _) = post(&router(hanging.clone()), request.clone()).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    // It was committed: the same msgid replays the registration, a new one is refused.
    assert!(ok(&answer(&hanging, &request))["data"]["mdtrt_id"].is_string());
    assert!(err(&answer(&hanging, &body("2201", registration("MZ502")))).contains("already registered"));

    let twice = Arc::new(center().with_faults(Faults { duplicate_delivery: true, ..Faults::default() }));
    let (status, reply) = post(&router(twice.clone()), body("2201", registration("MZ503"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply["infcode"], json!(0), "the duplicate replays the first reply: {reply}");

    // Seeded: the same seed gives the same faults.
    let pattern = |seed| {
        let injector = wugan_insurance::faults::FaultInjector::new(Faults { seed, refuse_rate: 0.3, error_rate: 0.3, ..Faults::default() });
        (0..50).map(|_| injector.before_handling()).collect::<Vec<_>>()
    };
    assert_eq!(pattern(7), pattern(7));
    assert_ne!(pattern(7), pattern(8));
}

#[test]
fn concurrent_settlements_of_one_person_never_exceed_the_cap() {
    // Outpatient pooling (example): grade III 50 %, annual cap 3,000. 8 threads × 5 visits of
    // 1,000 would pay 20,000 without the cap.
    let c = Arc::new(center());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut paid = 0i64;
                for v in 0..5 {
                    let reg = call(&c, "2201", json!({"data": {"psn_no": ZHANG_SAN, "begntime": "2024-06-01 09:00:00", "ipt_otp_no": format!("MZ-{t}-{v}")}}));
                    let id = ok(&reg)["data"]["mdtrt_id"].as_str().unwrap_or_default().to_string();
                    let line = json!({"feedetl_sn": "1", "mdtrt_id": id, "med_list_codg": AMOXICILLIN, "pric": 1000, "cnt": 1, "det_item_fee_sumamt": 1000});
                    ok(&call(&c, "2204", json!({"feedetail": [line]})));
                    let out = call(&c, "2207", json!({"data": {"psn_no": ZHANG_SAN, "mdtrt_id": id, "medfee_sumamt": 1000, "acct_used_flag": 1}}));
                    let amounts: SetlAmounts = serde_json::from_value(ok(&out)["setlinfo"].clone()).expect("amounts");
                    assert_eq!(amounts.check(), Ok(()));
                    paid += amounts.hifp_pay.0;
                }
                paid
            })
        })
        .collect();
    let total: i64 = threads.into_iter().map(|t| t.join().expect("thread")).sum();
    assert_eq!(total, 300_000, "exactly the 3,000 cap, in fen");
    let v = view(&c, ZHANG_SAN);
    assert_eq!(v["ytd"]["2024"]["otp_hifp_paid"], json!("3000.00"));
    assert_eq!(v["balc"], json!("0.00"), "the account paid the first 800 of the patient shares");
}

/// One random step of a year of care for 张三 (account 800).
#[derive(Clone, Debug)]
enum Step {
    Outpatient { amount_yuan: u32 },
    Admission { amount_yuan: u32, interim_yuan: Option<u32> },
    CancelLatest,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1u32..3_000).prop_map(|amount_yuan| Step::Outpatient { amount_yuan }),
        (1u32..400_000, prop::option::of(1u32..50_000))
            .prop_map(|(amount_yuan, interim_yuan)| Step::Admission { amount_yuan, interim_yuan }),
        Just(Step::CancelLatest),
    ]
}

/// Runs one step; returns the (setl_id, mdtrt_id, inpatient) settlements it made.
fn run(c: &InsuranceCenter, n: usize, s: &Step) -> Vec<(String, String, bool)> {
    match *s {
        Step::Outpatient { amount_yuan } => {
            let reg =
                call(c, "2201", json!({"data": {"psn_no": ZHANG_SAN, "begntime": "2024-03-01 09:00:00", "ipt_otp_no": format!("MZ{n}")}}));
            let id = ok(&reg)["data"]["mdtrt_id"].as_str().unwrap_or_default().to_string();
            ok(&call(
                c,
                "2204",
                json!({"feedetail": [{"feedetl_sn": "1", "mdtrt_id": id, "med_list_codg": AMOXICILLIN, "det_item_fee_sumamt": amount_yuan}]}),
            ));
            let out =
                call(c, "2207", json!({"data": {"psn_no": ZHANG_SAN, "mdtrt_id": id, "medfee_sumamt": amount_yuan, "acct_used_flag": 1}}));
            vec![(setl_id(&out), id, false)]
        }
        Step::Admission { amount_yuan, interim_yuan } => {
            let id = admit(c, ZHANG_SAN, &format!("ZY{n}"), "21");
            let mut made = vec![];
            if let Some(interim) = interim_yuan {
                ok(&upload(
                    c,
                    vec![json!({"feedetl_sn": "0", "mdtrt_id": id, "med_list_codg": AMOXICILLIN, "det_item_fee_sumamt": interim})],
                ));
                made.push((setl_id(&settle_in(c, "2304", ZHANG_SAN, &id, &interim.to_string(), true, true)), id.clone(), true));
            }
            ok(&upload(
                c,
                vec![json!({"feedetl_sn": "1", "mdtrt_id": id, "med_list_codg": AMOXICILLIN, "det_item_fee_sumamt": amount_yuan})],
            ));
            ok(&discharge(c, ZHANG_SAN, &id));
            made.push((setl_id(&settle_in(c, "2304", ZHANG_SAN, &id, &amount_yuan.to_string(), false, true)), id, true));
            made
        }
        Step::CancelLatest => vec![],
    }
}

fn cancel_one(c: &InsuranceCenter, (setl, id, inpatient): &(String, String, bool)) {
    let infno = if *inpatient { "2305" } else { "2208" };
    let out = call(c, infno, json!({"data": {"setl_id": setl, "mdtrt_id": id, "psn_no": ZHANG_SAN}}));
    check(&ok(&out)["setlinfo"], &[]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// A year of random care never crosses a cap, and cancelling everything (newest first)
    /// restores every accumulator and the balance exactly.
    #[test]
    fn a_year_of_claims_stays_under_the_caps_and_reverses_exactly(steps in prop::collection::vec(step(), 1..14)) {
        let c = center();
        let before = view(&c, ZHANG_SAN);
        let mut made: Vec<(String, String, bool)> = vec![];
        for (n, s) in steps.iter().enumerate() {
            if matches!(s, Step::CancelLatest) {
                if let Some(last) = made.pop() { cancel_one(&c, &last); }
                continue;
            }
            made.extend(run(&c, n, s));
            let ytd = c.person(ZHANG_SAN).expect("person").ytd.get("2024").copied().unwrap_or_default();
            prop_assert!(ytd.hifp_paid.0 <= 50_000_000, "basic cap 500,000: {:?}", ytd.hifp_paid);
            prop_assert!(ytd.hifob_paid.0 <= 40_000_000, "above-cap 400,000: {:?}", ytd.hifob_paid);
            prop_assert!(ytd.otp_hifp_paid.0 <= 300_000, "outpatient cap 3,000: {:?}", ytd.otp_hifp_paid);
            prop_assert!(c.person(ZHANG_SAN).expect("person").balc.0 >= 0);
        }
        while let Some(last) = made.pop() {
            cancel_one(&c, &last);
        }
        let after = view(&c, ZHANG_SAN);
        prop_assert_eq!(&after["balc"], &before["balc"]);
        let zero = serde_json::to_value(wugan_policy::Ytd::ZERO).expect("serializes");
        prop_assert_eq!(after["ytd"].get("2024").cloned().unwrap_or(zero.clone()), zero);
    }
}
