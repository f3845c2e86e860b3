//! Data-driven checks of the benefit engine: each case is a claim and the `setlinfo` fields it must
//! produce, to the fen. Shenzhen inpatient numbers are the verified table (docs/policy-rules.md §2).

mod common;

use common::{check, claim, class_a, shenzhen, with};
use serde_json::{json, Value};
use wugan_policy::{adjudicate, builtin, Claim, PolicyError, PolicySet};

#[test]
fn shenzhen_inpatient_deductible_and_ratio_by_grade_admission_and_group() {
    let sz = shenzhen();
    // (case, psn_type, grade, admission, deductible, hifp, psn_part) for a 10,000 yuan 甲 bill.
    let table = [
        ("in service, grade I, first", "1101", 1, 1, "200.00", "9016.00", "984.00"),
        ("in service, grade II, first", "1101", 2, 1, "400.00", "8736.00", "1264.00"),
        ("in service, grade III, first", "1101", 3, 1, "600.00", "8460.00", "1540.00"),
        ("in service, ungraded counts as grade I", "1101", 0, 1, "200.00", "9016.00", "984.00"),
        ("in service, grade I, repeat", "1101", 1, 2, "100.00", "9108.00", "892.00"),
        ("in service, grade II, repeat", "1101", 2, 2, "200.00", "8918.00", "1082.00"),
        ("in service, grade III, third", "1101", 3, 3, "300.00", "8730.00", "1270.00"),
        ("retired, grade I, first", "1201", 1, 1, "200.00", "9310.00", "690.00"),
        ("retired, grade II, first", "1201", 2, 1, "400.00", "9120.00", "880.00"),
        ("retired, grade III, first", "1201", 3, 1, "600.00", "8930.00", "1070.00"),
        ("retired, grade III, repeat", "1201", 3, 2, "300.00", "9215.00", "785.00"),
    ];
    for (name, psn_type, grade, admission, dedc, hifp, psn_part) in table {
        let c = claim(psn_type, "21", grade, admission, json!([class_a("10000.00")]));
        check(
            name,
            &sz,
            c,
            &[
                ("medfee_sumamt", "10000.00"),
                ("inscp_scp_amt", "10000.00"),
                ("act_pay_dedc", dedc),
                ("hifp_pay", hifp),
                ("fund_pay_sumamt", hifp),
                ("psn_part_amt", psn_part),
                ("psn_cash_pay", psn_part),
                ("acct_pay", "0.00"),
                ("hosp_part_amt", "0.00"),
                ("ytd.hifp_paid", hifp),
                ("ytd.adm_dedc_paid", dedc),
                ("ytd.dedc_paid", "0.00"),
            ],
        );
    }
}

#[test]
fn line_classes_and_price_caps() {
    let sz = shenzhen();
    let a = class_a("10000.00");
    check(
        "丙 line (unknown code) is fully self-paid",
        &sz,
        claim("1101", "21", 3, 1, json!([a, {"med_list_codg": "NOT-IN-CATALOGUE", "det_item_fee_sumamt": "1000.00"}])),
        &[
            ("medfee_sumamt", "11000.00"),
            ("fulamt_ownpay_amt", "1000.00"),
            ("inscp_scp_amt", "10000.00"),
            ("hifp_pay", "8460.00"),
            ("psn_part_amt", "2540.00"),
        ],
    );
    check(
        "丙 line from the catalogue",
        &sz,
        claim("1101", "21", 3, 1, json!([a, {"med_list_codg": "013100000010000", "pric": 500, "cnt": 1, "det_item_fee_sumamt": 500}])),
        &[("fulamt_ownpay_amt", "500.00"), ("hifp_pay", "8460.00"), ("psn_part_amt", "2040.00")],
    );
    check(
        "乙 drug: 10 % first self-paid (catalogue, set default ratio)",
        &sz,
        claim(
            "1101",
            "21",
            3,
            1,
            json!([{"med_list_codg": "XC10AAA005A001010104389", "pric": "100", "cnt": "100", "det_item_fee_sumamt": "10000.00"}]),
        ),
        &[
            ("preselfpay_amt", "1000.00"),
            ("inscp_scp_amt", "9000.00"),
            ("act_pay_dedc", "600.00"),
            ("hifp_pay", "7560.00"),
            ("psn_part_amt", "2440.00"),
        ],
    );
    check(
        "乙 drug with its own ratio in the catalogue (谈判药 20 %)",
        &sz,
        claim("1101", "21", 3, 1, json!([{"med_list_codg": "XL04AXL150E001010100136", "det_item_fee_sumamt": "10000.00"}])),
        &[("preselfpay_amt", "2000.00"), ("inscp_scp_amt", "8000.00"), ("hifp_pay", "6660.00")],
    );
    check(
        "bed above its price cap: 10 days at 80 against a 60 cap",
        &sz,
        claim(
            "1101",
            "21",
            3,
            1,
            json!([a, {"med_list_codg": "110900001000000", "pric": "80.00", "cnt": 10, "det_item_fee_sumamt": "800.00"}]),
        ),
        &[("overlmt_selfpay", "200.00"), ("inscp_scp_amt", "10600.00"), ("hifp_pay", "9000.00"), ("psn_part_amt", "1800.00")],
    );
}

#[test]
fn annual_cap_and_above_cap_layer() {
    let sz = shenzhen();
    let bill = json!([class_a("10000.00")]);
    let c = with(claim("1101", "21", 3, 1, bill.clone()), &["ytd", "hifp_paid"], json!("499000.00"));
    check(
        "basic cap reached mid-visit: the rest goes to 大额 (hifob)",
        &sz,
        c,
        &[
            ("hifp_pay", "1000.00"),
            ("hifob_pay", "7460.00"),
            ("fund_pay_sumamt", "8460.00"),
            ("psn_part_amt", "1540.00"),
            ("ytd.hifp_paid", "500000.00"),
            ("ytd.hifob_paid", "7460.00"),
        ],
    );
    let c = with(claim("1101", "21", 3, 1, bill.clone()), &["ytd", "hifp_paid"], json!("500000.00"));
    let c = with(c, &["ytd", "hifob_paid"], json!("399000.00"));
    check(
        "both caps reached",
        &sz,
        c,
        &[
            ("hifp_pay", "0.00"),
            ("hifob_pay", "1000.00"),
            ("fund_pay_sumamt", "1000.00"),
            ("psn_part_amt", "9000.00"),
            ("ytd.hifob_paid", "400000.00"),
        ],
    );
    // Residents: 大病保险 on the year's in-scope personal burden above 15,000 (example numbers).
    // Basic cap room 1,000 → hifp 1,000; burden 10,000 − 1,000 = 9,000.
    let resident = with(claim("1501", "21", 3, 1, bill), &["ytd", "hifp_paid"], json!("299000.00"));
    check(
        "resident below the 大病 threshold",
        &sz,
        resident.clone(),
        &[("hifp_pay", "1000.00"), ("hifmi_pay", "0.00"), ("ytd.hifmi_base", "9000.00")],
    );
    check(
        "resident crossing the threshold: 4,000 × 60 %",
        &sz,
        with(resident.clone(), &["ytd", "hifmi_base"], json!("10000.00")),
        &[("hifmi_pay", "2400.00"), ("fund_pay_sumamt", "3400.00"), ("ytd.hifmi_base", "19000.00"), ("ytd.hifmi_paid", "2400.00")],
    );
    check(
        "resident crossing into the second layer: 5,000 × 60 % + 4,000 × 70 %",
        &sz,
        with(resident, &["ytd", "hifmi_base"], json!("95000.00")),
        &[("hifmi_pay", "5800.00"), ("hifob_pay", "0.00"), ("psn_part_amt", "3200.00")],
    );
}

#[test]
fn personal_account_pays_first_when_chosen() {
    let sz = shenzhen();
    // Outpatient (example numbers): grade III 50 %, no deductible. 25 甲 consultation + 100 乙 drug:
    // inscp 25 + 90 = 115, preselfpay 10, hifp 57.50, patient 67.50.
    let fees = json!([
        {"feedetl_sn": "1", "med_list_codg": "001102000010000", "pric": 25, "cnt": 1, "det_item_fee_sumamt": 25.0},
        {"feedetl_sn": "2", "med_list_codg": "XC10AAA005A001010104389", "pric": "50.00", "cnt": "2", "det_item_fee_sumamt": "100"}
    ]);
    let base = claim("1101", "11", 3, 1, fees);
    let acct = |used: bool, balc: &str| with(base.clone(), &["acct"], json!({"used": used, "balc": balc}));
    check(
        "account short: 50 from the account, the rest in cash",
        &sz,
        acct(true, "50.00"),
        &[
            ("hifp_pay", "57.50"),
            ("psn_part_amt", "67.50"),
            ("acct_pay", "50.00"),
            ("psn_cash_pay", "17.50"),
            ("balc", "0.00"),
            ("ytd.otp_hifp_paid", "57.50"),
            ("ytd.hifp_paid", "0.00"),
        ],
    );
    check("account enough", &sz, acct(true, "800.00"), &[("acct_pay", "67.50"), ("psn_cash_pay", "0.00"), ("balc", "732.50")]);
    check("account not chosen", &sz, acct(false, "800.00"), &[("acct_pay", "0.00"), ("psn_cash_pay", "67.50"), ("balc", "800.00")]);
    let flag_as_text = with(base.clone(), &["acct"], json!({"used": "1", "balc": 800}));
    check("account flag as \"1\", balance as a number", &sz, flag_as_text, &[("acct_pay", "67.50")]);
    check("empty account", &sz, acct(true, "0"), &[("acct_pay", "0.00"), ("psn_cash_pay", "67.50")]);
}

#[test]
fn the_brief_sample_claim() {
    let c = json!({"person": {"insutype": "310", "psn_type": "1101", "age": 45, "insuplc_admdvs": "440300", "idet_types": []},
     "visit": {"med_type": "21", "hosp_grade": 3, "mdtrtarea_admvs": "440300", "date": "2024-06-01", "admissions_this_year": 1},
     "ytd": {"dedc_paid": "0.00", "hifp_paid": "0.00", "hifob_paid": "0.00", "hifmi_paid": "0.00"},
     "acct": {"used": true, "balc": "300.00"},
     "fees": [{"med_list_codg": "XC10AAA005A001010104389", "chrgitm_lv": "02", "pric": "100.00", "cnt": "2", "det_item_fee_sumamt": "200.00", "selfpay_prop": "0.10", "pric_uplmt_amt": null}]});
    // 乙 200: 20 first self-paid, 180 in scope, all inside the 600 deductible; the account pays it all.
    check(
        "brief sample",
        &shenzhen(),
        c,
        &[
            ("preselfpay_amt", "20.00"),
            ("inscp_scp_amt", "180.00"),
            ("act_pay_dedc", "180.00"),
            ("hifp_pay", "0.00"),
            ("acct_pay", "200.00"),
            ("psn_cash_pay", "0.00"),
            ("balc", "100.00"),
            ("pool_prop_selfpay", "0.9000"),
        ],
    );
}

/// A test-only set exercising the per-year deductible, the per-visit cap and date versions.
fn test_set() -> PolicySet {
    let text = r#"{
      "name": "test", "status": "test numbers", "b_class_selfpay_prop": "0.2",
      "med_types": {"11": "outpatient"},
      "catalogue": {"entries": [{"med_list_codg": "B", "chrgitm_lv": "02"}]},
      "schemes": [
        {"admdvs": "999999", "insutype": "310", "psn_group": "in_service", "effective_from": "2023-01-01", "effective_to": "2023-12-31",
         "funds": {"hifp": {"code": "310100", "name": "统筹"}},
         "benefits": {"outpatient": {"deductible": {"kind": "none"}, "ratio": {"grade1": "1", "grade2": "1", "grade3": "1"}, "accumulator": "outpatient"}}},
        {"admdvs": "999999", "insutype": "310", "psn_group": "in_service", "effective_from": "2024-01-01",
         "funds": {"hifp": {"code": "310100", "name": "统筹"}},
         "benefits": {"outpatient": {"deductible": {"kind": "per_year", "amount": {"grade1": "100", "grade2": "100", "grade3": "100"}},
            "ratio": {"grade1": "0.5", "grade2": "0.5", "grade3": "0.5"}, "per_visit_cap": "30", "annual_cap": "1000", "accumulator": "outpatient"}}}
      ]}"#;
    PolicySet::from_json_str(text).expect("test set parses")
}

fn test_claim(date: &str, otp_dedc_paid: &str, amount: &str) -> Value {
    json!({"person": {"insutype": "310", "psn_type": "1101", "insuplc_admdvs": "999999"},
           "visit": {"med_type": "11", "hosp_grade": "2", "date": date},
           "ytd": {"otp_dedc_paid": otp_dedc_paid},
           "fees": [{"med_list_codg": "B", "det_item_fee_sumamt": amount}]})
}

#[test]
fn per_year_deductible_per_visit_cap_and_versions_by_date() {
    let set = test_set();
    check(
        "2023 version: 100 %, no deductible",
        &set,
        test_claim("2023-06-01", "0", "100"),
        &[("preselfpay_amt", "20.00"), ("hifp_pay", "80.00")],
    );
    check(
        "2024: the yearly deductible is met first",
        &set,
        test_claim("2024-06-01", "0", "100"),
        &[("act_pay_dedc", "80.00"), ("hifp_pay", "0.00"), ("ytd.otp_dedc_paid", "80.00"), ("ytd.dedc_paid", "0.00")],
    );
    check(
        "2024: the rest of the deductible, then 50 %",
        &set,
        test_claim("2024-06-02", "80", "100"),
        &[("act_pay_dedc", "20.00"), ("hifp_pay", "30.00"), ("psn_part_amt", "70.00")],
    );
    check("2024: per-visit cap 30", &set, test_claim("2024-06-03", "100", "1000"), &[("act_pay_dedc", "0.00"), ("hifp_pay", "30.00")]);
    let early: Claim = serde_json::from_value(test_claim("2022-12-31", "0", "1")).unwrap();
    assert!(matches!(adjudicate(&early, &set), Err(PolicyError::NoScheme { .. })));
}

#[test]
fn errors_name_the_problem() {
    let sz = shenzhen();
    let parse = |v: Value| -> Claim { serde_json::from_value(v).unwrap() };
    let unknown_type = parse(claim("9901", "21", 3, 1, json!([class_a("1")])));
    assert!(matches!(adjudicate(&unknown_type, &sz), Err(PolicyError::UnknownPsnType(_))));
    let unknown_med = parse(claim("1101", "77", 3, 1, json!([class_a("1")])));
    assert!(matches!(adjudicate(&unknown_med, &sz), Err(PolicyError::UnknownMedType(_))));
    let bad_class = parse(claim("1101", "21", 3, 1, json!([{"chrgitm_lv": "09", "det_item_fee_sumamt": "1"}])));
    assert!(matches!(adjudicate(&bad_class, &sz), Err(PolicyError::BadLine { index: 0, .. })));
    let no_amount = parse(claim("1101", "21", 3, 1, json!([{"chrgitm_lv": "01"}])));
    assert!(matches!(adjudicate(&no_amount, &sz), Err(PolicyError::BadLine { .. })));
    let elsewhere = parse(with(claim("1101", "21", 3, 1, json!([class_a("1")])), &["person", "insuplc_admdvs"], json!("110000")));
    assert!(matches!(adjudicate(&elsewhere, &sz), Err(PolicyError::NoScheme { .. })));
    assert!(serde_json::from_value::<Claim>(with(claim("1101", "21", 3, 1, json!([])), &["visit", "date"], json!("2024-13-01"))).is_err());
    assert!(serde_json::from_value::<Claim>(claim("1101", "21", 3, 1, json!([{"det_item_fee_sumamt": "1.234"}]))).is_err());
}

#[test]
fn built_in_sets_load_and_say_what_is_verified() {
    let gz = builtin("guangzhou-example").unwrap();
    assert!(gz.status.contains("example numbers, to be confirmed"));
    assert!(gz.catalogue.get("XJ01CAA040E001010101923").is_some());
    let sz = shenzhen();
    assert!(sz.status.contains("verified"));
    assert!(builtin("atlantis").is_err());
    // Guangzhou employee inpatient, grade III first: 1,000 deductible, 80 %.
    let c = json!({"person": {"insutype": "310", "psn_type": "1101", "insuplc_admdvs": "440100"},
                   "visit": {"med_type": "21", "hosp_grade": 3, "date": "2024-03-01"},
                   "fees": [class_a("10000")]});
    check("guangzhou example", &gz, c, &[("act_pay_dedc", "1000.00"), ("hifp_pay", "7200.00")]);
}

#[test]
fn a_policy_file_names_its_catalogue_and_the_caller_supplies_the_text() {
    let policy = include_str!("../policies/shenzhen-2024.json");
    let catalogue = include_str!("../policies/catalogue-sandbox.json");
    let mut asked = None;
    let parsed = PolicySet::parse("shenzhen-2024.json", policy, |file| {
        asked = Some(file.to_string());
        Ok::<_, PolicyError>(catalogue)
    });
    assert_eq!(parsed.unwrap(), shenzhen());
    assert_eq!(asked.as_deref(), Some("catalogue-sandbox.json"));
    // A catalogue the caller cannot find is the caller's error, passed through.
    let missing = PolicySet::parse("shenzhen-2024.json", policy, |file| Err::<&str, _>(PolicyError::Load(format!("no {file}"))));
    assert_eq!(missing, Err(PolicyError::Load("no catalogue-sandbox.json".into())));
    // Text that is not a policy set names its source.
    let broken = PolicySet::parse("broken.json", "{", |_| Ok::<_, PolicyError>(""));
    assert!(matches!(broken, Err(PolicyError::Load(msg)) if msg.starts_with("broken.json: ")));
}

#[test]
fn invalid_sets_are_refused() {
    let bad_ratio = r#"{"name": "x", "status": "x", "b_class_selfpay_prop": "1.5", "med_types": {}, "schemes": []}"#;
    assert!(matches!(PolicySet::from_json_str(bad_ratio), Err(PolicyError::InvalidPolicy(_))));
    let dangling = r#"{"name": "x", "status": "x", "b_class_selfpay_prop": "0.1", "med_types": {"11": "nothing"}, "schemes": []}"#;
    assert!(matches!(PolicySet::from_json_str(dangling), Err(PolicyError::InvalidPolicy(_))));
}

#[test]
fn setlinfo_check_reports_each_broken_invariant() {
    let claim: Claim = serde_json::from_value(claim("1101", "21", 3, 1, json!([class_a("10000")]))).unwrap();
    let good = adjudicate(&claim, &shenzhen()).unwrap().setlinfo;
    assert!(good.check().is_ok());
    let mut bad = good;
    bad.hifp_pay.0 += 1;
    let broken = bad.check().unwrap_err();
    assert_eq!(broken.len(), 1, "{broken:?}"); // invariant 4 only
    bad.psn_cash_pay.0 += 1;
    bad.overlmt_selfpay.0 += 1;
    assert_eq!(bad.check().unwrap_err().len(), 3);
    // A real reply with numbers and nulls parses and checks.
    let reply = json!({"medfee_sumamt": 100.5, "fulamt_ownpay_amt": 0, "overlmt_selfpay": null, "preselfpay_amt": "0.5",
        "inscp_scp_amt": "100", "fund_pay_sumamt": 90, "hifp_pay": 90, "psn_part_amt": 10.5, "acct_pay": 10.5, "psn_cash_pay": 0,
        "hosp_part_amt": null});
    let parsed: wugan_policy::SetlAmounts = serde_json::from_value(reply).unwrap();
    assert_eq!(parsed.check(), Ok(()));
    let negated = good.negated();
    assert_eq!(negated.check(), Ok(()));
    assert_eq!(negated.medfee_sumamt, -good.medfee_sumamt);
}

#[test]
fn out_of_area_persons_get_their_insured_place_policy_and_the_local_catalogue() {
    let combined = shenzhen().with_insured_place_schemes(&builtin("guangzhou-example").unwrap()).unwrap();
    assert!(shenzhen().with_insured_place_schemes(&shenzhen()).is_err());
    // A Guangzhou employee in a Shenzhen grade III hospital: Guangzhou's 1,000 deductible and 80 %,
    // Shenzhen's catalogue (the 乙 drug's 10 % first self-pay).
    let c = json!({"person": {"insutype": "310", "psn_type": "1101", "insuplc_admdvs": "440100"},
                   "visit": {"med_type": "21", "hosp_grade": 3, "mdtrtarea_admvs": "440300", "date": "2024-06-01"},
                   "fees": [{"med_list_codg": "XC10AAA005A001010104389", "det_item_fee_sumamt": "10000"}]});
    check("out of area", &combined, c.clone(), &[("inscp_scp_amt", "9000.00"), ("act_pay_dedc", "1000.00"), ("hifp_pay", "6400.00")]);
    let claim: Claim = serde_json::from_value(c).unwrap();
    let adj = adjudicate(&claim, &combined).unwrap();
    assert_eq!(adj.trace.admdvs, "440100");
    assert!(adj.trace.policy_status.contains("example"));
}

#[test]
fn interim_settlements_charge_the_admission_deductible_once() {
    let sz = shenzhen();
    // (case, admission, deductible already paid in this admission, bill, act_pay_dedc, hifp) — grade III 90 %.
    let table = [
        ("first interim settlement, bill below the 600 deductible", 1, "0", "400.00", "400.00", "0.00"),
        ("next settlement of the same admission: 200 of the 600 left", 1, "400", "1000.00", "200.00", "720.00"),
        ("deductible already met in this admission", 1, "600", "1000.00", "0.00", "900.00"),
        ("repeat admission, 300 standard, 100 already paid", 2, "100", "1000.00", "200.00", "720.00"),
        ("paid more than a repeat standard (was first when charged)", 2, "600", "1000.00", "0.00", "900.00"),
    ];
    for (name, admission, paid, bill, dedc, hifp) in table {
        let c = with(claim("1101", "21", 3, admission, json!([class_a(bill)])), &["visit", "admission_dedc_paid"], json!(paid));
        check(name, &sz, c, &[("act_pay_dedc", dedc), ("hifp_pay", hifp), ("ytd.adm_dedc_paid", dedc), ("ytd.dedc_paid", "0.00")]);
    }
}

#[test]
fn medical_assistance_pays_a_share_of_the_in_scope_personal_burden() {
    let sz = shenzhen();
    let inpatient = |idet: Value| {
        with(
            claim(
                "1501",
                "21",
                3,
                1,
                json!([class_a("10000.00"), {"med_list_codg": "ZZ0000000000000001", "det_item_fee_sumamt": "500.00"}]),
            ),
            &["person", "idet_types"],
            idet,
        )
    };
    // Resident grade III first admission: 600 deductible, 80 % → hifp 7,520; in-scope burden 2,480.
    // (case, identities, ytd.maf_paid, maf_pay, psn_part_amt) — example assistance numbers.
    let table = [
        ("no identity", json!([]), "0", "0.00", "2980.00"),
        ("特困 100 %", json!(["2301"]), "0", "2480.00", "500.00"),
        ("低保 70 %", json!(["2302"]), "0", "1736.00", "1244.00"),
        ("低保 and 低保边缘: the higher ratio", json!(["2303", "低保"]), "0", "1736.00", "1244.00"),
        ("低保 with 49,000 of the 50,000 cap used", json!(["2302"]), "49000.00", "1000.00", "1980.00"),
        ("unknown identity", json!(["9999"]), "0", "0.00", "2980.00"),
    ];
    for (name, idet, used, maf, psn_part) in table {
        let c = with(inpatient(idet), &["ytd", "maf_paid"], json!(used));
        check(name, &sz, c, &[("hifp_pay", "7520.00"), ("maf_pay", maf), ("psn_part_amt", psn_part), ("fulamt_ownpay_amt", "500.00")]);
    }
    // Outpatient is not an assistance benefit in the example set.
    let otp = with(claim("1501", "11", 3, 1, json!([class_a("100.00")])), &["person", "idet_types"], json!(["2301"]));
    check("outpatient: no assistance", &sz, otp, &[("maf_pay", "0.00")]);
}

#[test]
fn family_mutual_aid_pays_when_the_own_account_is_short() {
    let sz = shenzhen();
    // Outpatient grade III 50 % of a 100 甲 bill: patient share 50.00.
    let base = claim("1101", "11", 3, 1, json!([class_a("100.00")]));
    let acct = |acct: Value| with(base.clone(), &["acct"], acct);
    // (case, acct, acct_pay, acct_mulaid_pay, psn_cash_pay, balc)
    let table = [
        ("own account enough", json!({"used": 1, "balc": "80", "mulaid_balc": "100"}), "50.00", "0.00", "0.00", "30.00"),
        ("own 20, family 30", json!({"used": 1, "balc": "20", "mulaid_balc": "100"}), "50.00", "30.00", "0.00", "0.00"),
        ("own 20, family 10, cash 20", json!({"used": 1, "balc": "20", "mulaid_balc": "10"}), "30.00", "10.00", "20.00", "0.00"),
        ("account not chosen", json!({"used": 0, "balc": "20", "mulaid_balc": "100"}), "0.00", "0.00", "50.00", "20.00"),
    ];
    for (name, a, acct_pay, mulaid, cash, balc) in table {
        check(name, &sz, acct(a), &[("acct_pay", acct_pay), ("acct_mulaid_pay", mulaid), ("psn_cash_pay", cash), ("balc", balc)]);
    }
}

#[test]
fn the_explanation_walks_every_step() {
    let c = with(
        with(claim("1501", "21", 3, 1, json!([class_a("10000.00")])), &["person", "idet_types"], json!(["2302"])),
        &["acct"],
        json!({"used": 1, "balc": "0", "mulaid_balc": "1000"}),
    );
    let claim: Claim = serde_json::from_value(c).unwrap();
    let adj = adjudicate(&claim, &shenzhen()).unwrap();
    let text = wugan_policy::explain(&adj).join("\n");
    for needle in ["Line 1", "甲类", "standard 600.00", "× 80 %", "Cap", "医疗救助, 低保对象", "家庭共济", "Cash"] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}
