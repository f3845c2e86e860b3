//! The edges of the engine (review r22): where a claim or a policy set used to be taken and a
//! wrong figure came back, the engine now pays what the rules say or refuses with a reason.
//! Shenzhen numbers: employee inpatient grade III, first admission = 600.00 deductible, 90 %;
//! resident = 600.00, 80 %; outpatient grade III = 50 %, no deductible (docs/policy-rules.md §2,
//! and the set's example values).

mod common;

use common::{adjudicated, check, claim, class_a, refused, scheme_at, shenzhen, shenzhen_with, with};
use serde_json::{json, Value};
use wugan_policy::{Claim, PolicyError};

/// Amoxicillin, 甲 with no price cap in the catalogue.
const AMOXICILLIN: &str = "XJ01CAA040E001010101923";
/// Atorvastatin, 乙 (the set's 10 % first self-pay).
const ATORVASTATIN: &str = "XC10AAA005A001010104389";
/// Ward bed, 甲, price cap 60.00 a day.
const BED: &str = "110900001000000";
/// Health check-up, 丙.
const CHECK_UP: &str = "013100000010000";

#[test]
fn a_price_cap_of_zero_is_no_cap_on_the_line_and_in_the_catalogue() {
    let sz = shenzhen();
    // A 100.00 甲 drug at an outpatient visit, the line carrying the 2204 reply's "no cap".
    let line = json!({"feedetl_sn": "1", "med_list_codg": AMOXICILLIN, "det_item_fee_sumamt": "100.00", "pric": "50", "cnt": "2", "pric_uplmt_amt": "0.000000"});
    let expect = [("overlmt_selfpay", "0.00"), ("inscp_scp_amt", "100.00"), ("hifp_pay", "50.00"), ("psn_part_amt", "50.00")];
    check("the line says 0.000000: no cap", &sz, claim("1101", "11", 3, 1, json!([line])), &expect);
    // A catalogue download writes 0.00 for an item without a cap.
    let zero_cap = shenzhen_with(|set| {
        set["catalogue"] = json!({"entries": [{"med_list_codg": "ZEROCAP01", "chrgitm_lv": "01", "pric_uplmt_amt": "0.00"}]});
    })
    .expect("a catalogue entry with a zero cap is valid");
    let line = json!({"med_list_codg": "ZEROCAP01", "det_item_fee_sumamt": "100.00", "pric": "50", "cnt": "2"});
    check("the catalogue says 0.00: no cap", &zero_cap, claim("1101", "11", 3, 1, json!([line])), &expect);
    // A real cap still holds: ten days in a bed at 80.00 against the 60.00 cap.
    let bed = json!({"med_list_codg": BED, "pric": "80", "cnt": 10, "det_item_fee_sumamt": "800.00", "pric_uplmt_amt": "60.00"});
    check("a real cap", &sz, claim("1101", "11", 3, 1, json!([bed])), &[("overlmt_selfpay", "200.00"), ("inscp_scp_amt", "600.00")]);
    // The cap is per unit: ten bed-days sent without cnt would escape it, so the line is refused.
    let no_count = json!({"med_list_codg": BED, "det_item_fee_sumamt": "800.00"});
    assert!(refused(&sz, claim("1101", "11", 3, 1, json!([no_count]))).contains("cnt is missing"));
    // An item with no cap needs no count.
    let uncapped = json!({"med_list_codg": AMOXICILLIN, "det_item_fee_sumamt": "100.00"});
    check("no cap, no count", &sz, claim("1101", "11", 3, 1, json!([uncapped])), &[("inscp_scp_amt", "100.00")]);
    // A negative cap is not a cap at all.
    let negative = json!({"med_list_codg": AMOXICILLIN, "det_item_fee_sumamt": "100.00", "pric": "100", "cnt": 1, "pric_uplmt_amt": "-1"});
    assert!(refused(&sz, claim("1101", "11", 3, 1, json!([negative]))).contains("pric_uplmt_amt must not be negative"));
}

#[test]
fn the_catalogue_decides_class_ratio_and_cap_and_a_line_that_contradicts_it_is_refused() {
    let sz = shenzhen();
    let inpatient = |line: Value| claim("1101", "21", 3, 1, json!([line]));
    // (case, line) — each says something the catalogue does not, and would have been paid by it.
    let contradictions = [
        ("a 丙 health check-up sent as 甲", json!({"med_list_codg": CHECK_UP, "chrgitm_lv": "01", "det_item_fee_sumamt": "1000.00"})),
        (
            "a code not in the catalogue sent as 甲",
            json!({"med_list_codg": "UNLISTED01", "chrgitm_lv": "01", "det_item_fee_sumamt": "1000.00"}),
        ),
        ("a 乙 drug sent as 甲", json!({"med_list_codg": ATORVASTATIN, "chrgitm_lv": "01", "det_item_fee_sumamt": "1000.00"})),
        (
            "a bed sent with a 300.00 cap against the catalogue's 60.00",
            json!({"med_list_codg": BED, "pric": "250", "cnt": 2, "det_item_fee_sumamt": "500.00", "pric_uplmt_amt": "300"}),
        ),
        (
            "a 甲 drug sent with a 20 % first self-pay",
            json!({"med_list_codg": AMOXICILLIN, "selfpay_prop": "0.2", "det_item_fee_sumamt": "1000.00"}),
        ),
        (
            "an unlisted code sent with a 乙 ratio",
            json!({"med_list_codg": "UNLISTED01", "selfpay_prop": "0.1", "det_item_fee_sumamt": "1000.00"}),
        ),
    ];
    for (case, line) in contradictions {
        let err = refused(&sz, inpatient(line));
        assert!(err.contains("contradicts the catalogue") && err.contains("the catalogue decides"), "{case}: {err}");
    }
    // A line repeating its catalogue entry, as a 2204 `result[]` does, settles as the bare line.
    let repeated = json!([
        {"med_list_codg": ATORVASTATIN, "chrgitm_lv": "02", "selfpay_prop": "0.1000", "pric_uplmt_amt": "0.00", "det_item_fee_sumamt": "1000.00"},
        {"med_list_codg": BED, "chrgitm_lv": "01", "selfpay_prop": "0", "pric_uplmt_amt": "60.00", "pric": "80", "cnt": 10, "det_item_fee_sumamt": "800.00"},
        {"med_list_codg": "UNLISTED01", "chrgitm_lv": "03", "selfpay_prop": "1", "det_item_fee_sumamt": "1000.00"}
    ]);
    let bare = json!([
        {"med_list_codg": ATORVASTATIN, "det_item_fee_sumamt": "1000.00"},
        {"med_list_codg": BED, "pric": "80", "cnt": 10, "det_item_fee_sumamt": "800.00"},
        {"med_list_codg": "UNLISTED01", "det_item_fee_sumamt": "1000.00"}
    ]);
    let expect =
        [("fulamt_ownpay_amt", "1000.00"), ("overlmt_selfpay", "200.00"), ("preselfpay_amt", "100.00"), ("inscp_scp_amt", "1500.00")];
    check("lines repeating the catalogue", &sz, claim("1101", "21", 3, 1, repeated), &expect);
    check("the same lines bare", &sz, claim("1101", "21", 3, 1, bare), &expect);
    // A set whose catalogue is not written yet may let lines say what an unlisted code is; a
    // listed code stays the catalogue's.
    let analyst = shenzhen_with(|set| set["line_class_for_unlisted"] = json!(true)).expect("valid set");
    let unlisted = json!({"med_list_codg": "X1", "chrgitm_lv": "02", "selfpay_prop": "0.05", "det_item_fee_sumamt": "10000.00"});
    check("line_class_for_unlisted", &analyst, inpatient(unlisted), &[("preselfpay_amt", "500.00"), ("hifp_pay", "8010.00")]);
    let silent = json!({"med_list_codg": "X1", "det_item_fee_sumamt": "10000.00"});
    check("an unlisted code with no class is 丙", &analyst, inpatient(silent), &[("fulamt_ownpay_amt", "10000.00")]);
    let listed = json!({"med_list_codg": CHECK_UP, "chrgitm_lv": "01", "det_item_fee_sumamt": "1000.00"});
    assert!(refused(&analyst, inpatient(listed)).contains("contradicts the catalogue"));
}

#[test]
fn the_above_cap_layer_never_pays_what_the_per_visit_cap_held_back() {
    let per_visit = |cap: &str| {
        shenzhen_with(|set| {
            let at = scheme_at(set, "310", "in_service");
            set["schemes"][at]["benefits"]["inpatient"]["per_visit_cap"] = json!(cap);
        })
        .expect("valid set")
    };
    let bill = claim("1101", "21", 3, 1, json!([class_a("10000.00")]));
    // 0.9 × (10000 − 600) = 8460 held to 1000 a visit; the annual cap is far away, so 大额 owes nothing.
    check(
        "per-visit cap only",
        &per_visit("1000.00"),
        bill.clone(),
        &[("hifp_pay", "1000.00"), ("hifob_pay", "0.00"), ("fund_pay_sumamt", "1000.00"), ("psn_part_amt", "9000.00")],
    );
    // Both caps: 5000 a visit, 2000 left this year. 大额 pays what the annual cap held back of the
    // 5000 (3000), not what the per-visit cap held back (3460).
    check(
        "per-visit and annual caps",
        &per_visit("5000.00"),
        with(bill, &["ytd", "hifp_paid"], json!("498000.00")),
        &[("hifp_pay", "2000.00"), ("hifob_pay", "3000.00"), ("fund_pay_sumamt", "5000.00"), ("ytd.hifob_paid", "3000.00")],
    );
}

#[test]
fn impossible_accumulators_balances_admissions_and_grades_are_refused() {
    let sz = shenzhen();
    let bill = claim("1101", "21", 3, 1, json!([class_a("10000.00")]));
    // (where, value, what the refusal names)
    let table: [(&[&str], Value, &str); 11] = [
        (&["ytd", "hifp_paid"], json!("-1000000.00"), "ytd.hifp_paid -1000000.00 is negative"),
        (&["ytd", "dedc_paid"], json!("-1"), "ytd.dedc_paid -1.00 is negative"),
        (&["ytd", "otp_hifp_paid"], json!("-0.01"), "ytd.otp_hifp_paid"),
        (&["ytd", "maf_paid"], json!("-5"), "ytd.maf_paid"),
        (&["ytd", "hifmi_base"], json!("-5"), "ytd.hifmi_base"),
        (&["visit", "admission_dedc_paid"], json!("-1000.00"), "visit.admission_dedc_paid -1000.00 is negative"),
        (&["acct", "balc"], json!("-50.00"), "acct.balc -50.00 is negative"),
        (&["acct", "mulaid_balc"], json!("-1"), "acct.mulaid_balc"),
        (&["visit", "admissions_this_year"], json!(0), "at least 1"),
        (&["visit", "hosp_grade"], json!(4), "hosp_grade 4 is not a hospital grade"),
        (&["visit", "hosp_grade"], json!("11"), "hosp_grade 11 is not a hospital grade"),
    ];
    for (path, value, needle) in table {
        let err = refused(&sz, with(bill.clone(), path, value));
        assert!(err.contains(needle), "{path:?}: {err}");
    }
}

#[test]
fn amounts_beyond_the_largest_are_refused_never_wrapped_or_clamped() {
    let sz = shenzhen();
    let lines = |n: usize, amount: &str| json!(vec![class_a(amount); n]);
    // 93 lines of the largest amount the parser takes once wrapped the total to a negative one.
    let err = refused(&sz, claim("1101", "21", 3, 1, lines(93, "999999999999999.99")));
    assert!(err.contains("beyond the largest amount the engine takes (10000000000.00)"), "{err}");
    assert!(refused(&sz, claim("1101", "21", 3, 1, lines(1, "10000000000.01"))).contains("beyond the largest amount"));
    // The lines' total is held to the same bound.
    assert!(refused(&sz, claim("1101", "21", 3, 1, lines(2, "6000000000.00"))).contains("the fee lines total 12000000000.00"));
    // pric × cnt was clamped to i64::MAX fen.
    let huge = json!({"med_list_codg": AMOXICILLIN, "pric": "100000000", "cnt": "1000000000"});
    assert!(refused(&sz, claim("1101", "21", 3, 1, json!([huge]))).contains("pric × cnt is beyond the largest amount"));
    // The largest amount itself settles, exactly.
    check("the largest bill", &sz, claim("1101", "21", 3, 1, lines(1, "10000000000.00")), &[("medfee_sumamt", "10000000000.00")]);
    // Accumulators and policy amounts have the same bound.
    let ytd = with(claim("1101", "21", 3, 1, lines(1, "1")), &["ytd", "hifp_paid"], json!("10000000000.01"));
    assert!(refused(&sz, ytd).contains("ytd.hifp_paid 10000000000.01 is beyond the largest amount"));
    let set = shenzhen_with(|set| set["schemes"][0]["benefits"]["inpatient"]["annual_cap"] = json!("10000000000.01"));
    assert!(matches!(set, Err(PolicyError::InvalidPolicy(msg)) if msg.contains("amounts must be within")));
}

#[test]
fn setldetail_carries_every_fund_share_and_the_account_payment() {
    let sz = shenzhen();
    let items = |claim: Value| -> Vec<(String, String)> {
        let adj = adjudicated(&sz, claim).expect("adjudicates");
        adj.setldetail.iter().map(|d| (d.fund_pay_type.clone(), d.fund_payamt.to_yuan_string())).collect()
    };
    let pair = |code: &str, amount: &str| (code.to_string(), amount.to_string());
    // A resident child's share paid by a parent's employee account (家庭共济): a minor, grade III,
    // 600 deductible, 85 % of 400 = 340; of the child's 660 the parent's account pays 500.
    let child = with(
        claim("1403", "21", 3, 1, json!([class_a("1000.00")])),
        &["acct"],
        json!({"used": true, "balc": "0", "mulaid_balc": "500.00"}),
    );
    check(
        "family account pays for a resident child",
        &sz,
        child.clone(),
        &[("acct_pay", "500.00"), ("acct_mulaid_pay", "500.00"), ("psn_cash_pay", "160.00")],
    );
    assert_eq!(items(child.clone()), [pair("390100", "340.00"), pair("310200", "500.00")]);
    // A resident has no personal account of their own.
    let own = with(child.clone(), &["acct", "balc"], json!("100.00"));
    assert!(refused(&sz, own).contains("has no personal account of its own, so acct.balc must be 0"));
    // An employee's own account and a family member's are the same fund: one item.
    let employee =
        with(claim("1101", "11", 3, 1, json!([class_a("100.00")])), &["acct"], json!({"used": true, "balc": "20", "mulaid_balc": "100"}));
    assert_eq!(items(employee), [pair("310100", "50.00"), pair("310200", "50.00")]);
    // A resident scheme that names no fund for 家庭共济 cannot pay by it.
    let no_mulaid = shenzhen_with(|set| {
        let at = scheme_at(set, "390", "minor");
        set["schemes"][at]["funds"].as_object_mut().expect("funds").remove("mulaid");
    })
    .expect("valid set");
    let claim: Claim = serde_json::from_value(child).expect("claim");
    let err = wugan_policy::adjudicate(&claim, &no_mulaid).expect_err("no fund for 家庭共济").to_string();
    assert!(err.contains("names no fund for 家庭共济"), "{err}");
}

#[test]
fn a_policy_set_whose_layers_have_no_fund_code_is_refused() {
    let without = |insutype: &'static str, group: &'static str, fund: &'static str| {
        shenzhen_with(|set| {
            let at = scheme_at(set, insutype, group);
            set["schemes"][at]["funds"].as_object_mut().expect("funds").remove(fund);
        })
    };
    // (scheme, fund removed, what the refusal says)
    let table = [
        ("310", "in_service", "hifob", "above_cap pays from hifob, but the scheme's funds have no hifob code"),
        ("390", "resident_adult", "hifmi", "big_illness pays as hifmi, but the scheme's funds have no hifmi code"),
    ];
    for (insutype, group, fund, needle) in table {
        match without(insutype, group, fund) {
            Err(PolicyError::InvalidPolicy(msg)) => assert!(msg.contains(needle), "{msg}"),
            other => panic!("{insutype} {group} without {fund}: {other:?}"),
        }
    }
}

#[test]
fn an_inpatient_deductible_never_counts_toward_a_per_year_chronic_one() {
    // A city whose 门诊慢特病 has a yearly 1,000 deductible of its own.
    let set = shenzhen_with(|set| {
        let at = scheme_at(set, "310", "in_service");
        let amount = json!({"grade1": "1000.00", "grade2": "1000.00", "grade3": "1000.00"});
        set["schemes"][at]["benefits"]["chronic"]["deductible"] = json!({"kind": "per_year", "amount": amount});
    })
    .expect("valid set");
    let stay = adjudicated(&set, claim("1101", "21", 3, 1, json!([class_a("5000.00")]))).expect("adjudicates");
    assert_eq!(stay.setlinfo.act_pay_dedc.to_yuan_string(), "600.00");
    let ytd = serde_json::to_value(stay.ytd).expect("ytd");
    assert_eq!((&ytd["dedc_paid"], &ytd["adm_dedc_paid"]), (&json!("0.00"), &json!("600.00")), "kept apart");
    // The next 门特 visit still meets its whole 1,000: 0.9 × (3000 − 1000).
    let chronic = with(claim("1101", "14", 3, 1, json!([class_a("3000.00")])), &["ytd"], ytd);
    check("chronic after a stay", &set, chronic, &[("act_pay_dedc", "1000.00"), ("hifp_pay", "1800.00"), ("ytd.dedc_paid", "1000.00")]);
}

#[test]
fn a_claim_says_everything_it_means_or_is_refused() {
    let parse = |claim: Value| serde_json::from_value::<Claim>(claim).map(|_| ()).map_err(|e| e.to_string());
    let base = claim("1101", "21", 3, 1, json!([class_a("100.00")]));
    assert_eq!(parse(base.clone()), Ok(()));
    let mut no_grade = base.clone();
    no_grade["visit"].as_object_mut().expect("visit").remove("hosp_grade");
    // (case, claim, what the error names)
    let table = [
        ("no hospital grade (grade I is the most generous)", no_grade, "hosp_grade"),
        ("a null hospital grade", with(base.clone(), &["visit", "hosp_grade"], Value::Null), "hosp_grade is required"),
        ("a misspelt grade", with(base.clone(), &["visit", "hosp_lv"], json!("3")), "hosp_lv"),
        ("a flag outside acct", with(base.clone(), &["acct_used_flag"], json!("1")), "acct_used_flag"),
        ("a misspelt accumulator", with(base.clone(), &["ytd", "hifp_pay"], json!("500000")), "hifp_pay"),
        (
            "a 2204 result field on a line",
            with(base.clone(), &["fees"], json!([{"det_item_fee_sumamt": "1", "fulamt_ownpay_amt": "0"}])),
            "fulamt_ownpay_amt",
        ),
        ("a date with trailing text", with(base.clone(), &["visit", "date"], json!("2024-06-01junk")), "is not a date"),
    ];
    for (case, claim, needle) in table {
        match parse(claim) {
            Err(e) => assert!(e.contains(needle), "{case}: {e}"),
            Ok(()) => panic!("{case}: parsed"),
        }
    }
}

#[test]
fn a_refund_line_settles_with_its_charge_as_its_mirror() {
    let sz = shenzhen();
    // Ten days at 80.00 against the 60.00 cap, two of them returned, a zero-amount line, and a
    // 10,000 甲 bill: over the cap 200 − 40, in scope 10000 + 600 − 120.
    let lines = json!([
        class_a("10000.00"),
        {"feedetl_sn": "1", "med_list_codg": BED, "pric": "80", "cnt": 10, "det_item_fee_sumamt": "800.00"},
        {"feedetl_sn": "2", "med_list_codg": BED, "pric": "80", "cnt": -2, "det_item_fee_sumamt": "-160.00"},
        {"feedetl_sn": "3", "med_list_codg": AMOXICILLIN, "pric": "0", "cnt": 1, "det_item_fee_sumamt": "0"}
    ]);
    check(
        "charge, refund and a zero line",
        &sz,
        claim("1101", "21", 3, 1, lines),
        &[("medfee_sumamt", "10640.00"), ("overlmt_selfpay", "160.00"), ("inscp_scp_amt", "10480.00"), ("hifp_pay", "8892.00")],
    );
    let alone = json!([{"med_list_codg": BED, "pric": "80", "cnt": -2, "det_item_fee_sumamt": "-160.00"}]);
    assert!(refused(&sz, claim("1101", "21", 3, 1, alone)).contains("never alone"));
    let mixed = json!([{"med_list_codg": BED, "pric": "80", "cnt": 2, "det_item_fee_sumamt": "-160.00"}]);
    assert!(refused(&sz, claim("1101", "21", 3, 1, mixed)).contains("opposite signs"));
    let negative_price = json!([{"med_list_codg": BED, "pric": "-80", "cnt": 2, "det_item_fee_sumamt": "160.00"}]);
    assert!(refused(&sz, claim("1101", "21", 3, 1, negative_price)).contains("pric must not be negative"));
    // A line is its price × count, to the fen of rounding the platform allows.
    let rounded = json!([{"med_list_codg": BED, "pric": "0.333333", "cnt": 3, "det_item_fee_sumamt": "1.01"}]);
    check("a fen of rounding", &sz, claim("1101", "21", 3, 1, rounded), &[("medfee_sumamt", "1.01")]);
    let inconsistent = json!([{"med_list_codg": BED, "pric": "10", "cnt": 2, "det_item_fee_sumamt": "500.00"}]);
    assert!(refused(&sz, claim("1101", "21", 3, 1, inconsistent)).contains("det_item_fee_sumamt 500.00 differs from pric × cnt 20.00"));
}

#[test]
fn a_misspelt_field_in_a_policy_set_is_refused_never_ignored() {
    // A cap written under a wrong name would silently leave the fund without its cap.
    let misspelt = shenzhen_with(|set| {
        let at = scheme_at(set, "310", "in_service");
        set["schemes"][at]["anual_cap"] = json!("500000.00");
    });
    let err = misspelt.expect_err("an unknown scheme field").to_string();
    assert!(err.contains("anual_cap"), "{err}");
    let top = shenzhen_with(|set| set["catalog"] = json!({"entries": []}));
    assert!(top.expect_err("an unknown top-level field").to_string().contains("catalog"));
}

#[test]
fn a_refused_line_is_named_by_its_place_counted_from_one() {
    let sz = shenzhen();
    // The second line of the claim is the bad one: a person reads "line 2", not "line 1".
    let good = json!({"feedetl_sn": "1", "med_list_codg": AMOXICILLIN, "det_item_fee_sumamt": "100.00", "pric": "50", "cnt": "2"});
    let no_count = json!({"feedetl_sn": "2", "med_list_codg": BED, "det_item_fee_sumamt": "800.00"});
    let said = refused(&sz, claim("1101", "11", 3, 1, json!([good, no_count])));
    assert!(said.starts_with("第2条费用明细错误 / fee line 2: "), "{said}");
}
