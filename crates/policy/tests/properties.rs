//! Properties of the engine over random claims against the shipped Shenzhen set: the invariants
//! always hold, the fund never pays more than the in-scope amount, and adding a fee line never
//! lowers what the patient pays.

use proptest::prelude::*;
use wugan_domain::money::Fen;
use wugan_policy::{adjudicate, builtin, Acct, Claim, ClaimPerson, ClaimVisit, Date, FeeLine, PolicySet, Price, Qty, Ytd};

fn shenzhen() -> &'static PolicySet {
    static SET: std::sync::OnceLock<PolicySet> = std::sync::OnceLock::new();
    SET.get_or_init(|| builtin("shenzhen-2024").expect("built-in set loads"))
}

const CODES: &[&str] = &[
    "001102000010000",
    "110900001000000",
    "XJ01CAA040E001010101923",
    "XC10AAA005A001010104389",
    "XL04AXL150E001010100136",
    "013100000010000",
    "UNLISTED",
];

/// 人员身份类别 sets: none, 特困, 低保 + 低保边缘 (the Shenzhen set's example assistance codes).
const IDENTITIES: &[&[&str]] = &[&[], &["2301"], &["2302", "2303"]];

/// A fee line as the center builds it: the code, price and quantity; class, ratio and cap are the
/// catalogue's.
fn fee_line() -> impl Strategy<Value = FeeLine> {
    (
        prop::sample::select(CODES),
        1i64..2_000_000, // price in fen
        1i64..50,        // whole units
    )
        .prop_map(|(code, price_fen, units)| FeeLine {
            feedetl_sn: None,
            med_list_codg: Some(code.to_string()),
            chrgitm_lv: None,
            pric: Some(Price::from_fen(Fen(price_fen))),
            cnt: Some(Qty(units * 10_000)),
            det_item_fee_sumamt: Some(Fen(price_fen * units)),
            selfpay_prop: None,
            pric_uplmt_amt: None,
        })
}

/// A line that repeats its catalogue entry's class, ratio and cap, as a 2204 `result[]` does: it
/// splits exactly as the bare line.
fn repeated(line: &FeeLine, set: &PolicySet) -> FeeLine {
    let r = wugan_policy::split_line(0, line, set).expect("valid line");
    FeeLine {
        chrgitm_lv: Some(r.chrgitm_lv.to_string()),
        selfpay_prop: Some(r.selfpay_prop),
        pric_uplmt_amt: Some(r.pric_uplmt_amt.unwrap_or(Price(0))),
        ..line.clone()
    }
}

fn claim() -> impl Strategy<Value = Claim> {
    (
        prop::sample::select(&[("310", "1101"), ("310", "1201"), ("390", "1501"), ("390", "1403")][..]),
        prop::sample::select(&["11", "14", "21"][..]),
        0u32..=3,
        1u32..=3,
        (0i64..60_000_000, 0i64..45_000_000, 0i64..2_000_000, 0i64..400_000),
        (any::<bool>(), 0i64..2_000_000, prop::sample::select(&[0i64, 0, 5_000, 3_000_000][..])),
        (prop::collection::vec(fee_line(), 0..8), prop::sample::select(IDENTITIES)),
    )
        .prop_map(
            |((insutype, psn_type), med_type, grade, admission, (hifp, hifob, dedc, otp), (used, balc, mulaid), (fees, idet))| Claim {
                person: ClaimPerson {
                    insutype: insutype.into(),
                    psn_type: psn_type.into(),
                    age: Some(40),
                    insuplc_admdvs: Some("440300".into()),
                    idet_types: idet.iter().map(|t| t.to_string()).collect(),
                },
                visit: ClaimVisit {
                    med_type: med_type.into(),
                    hosp_grade: grade,
                    mdtrtarea_admvs: Some("440300".into()),
                    date: Date::new(2024, 6, 1).expect("valid date"),
                    admissions_this_year: Some(admission),
                    admission_dedc_paid: Fen::ZERO,
                },
                ytd: Ytd {
                    hifp_paid: Fen(hifp),
                    hifob_paid: Fen(hifob),
                    hifmi_paid: Fen(hifob),
                    hifmi_base: Fen(hifob % 12_000_000),
                    dedc_paid: Fen(dedc),
                    adm_dedc_paid: Fen::ZERO,
                    otp_hifp_paid: Fen(otp),
                    otp_dedc_paid: Fen::ZERO,
                    maf_paid: Fen(hifob % 6_000_000),
                },
                // Residents (390) have no personal account of their own: 家庭共济 only.
                acct: Acct { used, balc: Fen(if insutype == "390" { 0 } else { balc }), mulaid_balc: Fen(mulaid) },
                fees,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold(claim in claim()) {
        let adj = adjudicate(&claim, shenzhen()).expect("every generated claim is valid");
        let s = adj.setlinfo;
        prop_assert_eq!(s.check(), Ok(()));
        for line in &adj.lines {
            prop_assert_eq!(line.check(), Ok(()));
        }
        prop_assert!(s.fund_pay_sumamt <= s.inscp_scp_amt, "fund {:?} > inscp {:?}", s.fund_pay_sumamt, s.inscp_scp_amt);
        prop_assert!(s.fund_pay_sumamt >= Fen::ZERO);
        prop_assert!(s.act_pay_dedc <= s.inscp_scp_amt);
        prop_assert!(s.acct_pay >= Fen::ZERO && s.acct_pay - s.acct_mulaid_pay <= claim.acct.balc);
        prop_assert!(s.acct_mulaid_pay >= Fen::ZERO && s.acct_mulaid_pay <= claim.acct.mulaid_balc);
        prop_assert!(s.acct_mulaid_pay == Fen::ZERO || s.balc == Fen::ZERO, "mutual aid only once the own account is empty");
        prop_assert!(s.psn_cash_pay >= Fen::ZERO);
        prop_assert_eq!(s.balc, claim.acct.balc - (s.acct_pay - s.acct_mulaid_pay));
        prop_assert!(s.maf_pay >= Fen::ZERO);
        prop_assert!(!wugan_policy::explain(&adj).is_empty());
        prop_assert_eq!(s.hosp_part_amt, Fen::ZERO);
        // The accumulators move by exactly what was paid.
        let moved = adj.ytd.minus(&claim.ytd);
        prop_assert_eq!(moved.hifp_paid + moved.otp_hifp_paid, s.hifp_pay);
        prop_assert_eq!(moved.hifob_paid, s.hifob_pay);
        prop_assert_eq!(moved.hifmi_paid, s.hifmi_pay);
        prop_assert_eq!(moved.dedc_paid + moved.otp_dedc_paid + moved.adm_dedc_paid, s.act_pay_dedc);
        // setldetail: the account items are acct_pay, the others fund_pay_sumamt.
        let acct_items: Fen = adj.setldetail.iter().filter(|d| d.fund_pay_type == "310200").map(|d| d.fund_payamt).sum();
        let fund_items: Fen = adj.setldetail.iter().filter(|d| d.fund_pay_type != "310200").map(|d| d.fund_payamt).sum();
        prop_assert_eq!(acct_items, s.acct_pay);
        prop_assert_eq!(fund_items, s.fund_pay_sumamt);
        prop_assert_eq!(moved.maf_paid, s.maf_pay);
    }

    #[test]
    fn adding_a_fee_line_never_lowers_the_patient_share(claim in claim(), extra in fee_line()) {
        let before = adjudicate(&claim, shenzhen()).expect("valid claim").setlinfo;
        let mut bigger = claim.clone();
        bigger.fees.push(extra);
        let after = adjudicate(&bigger, shenzhen()).expect("valid claim").setlinfo;
        prop_assert!(after.psn_part_amt >= before.psn_part_amt, "patient share fell: {:?} → {:?}", before.psn_part_amt, after.psn_part_amt);
        prop_assert!(after.fund_pay_sumamt >= before.fund_pay_sumamt, "fund share fell");
    }

    #[test]
    fn fee_lines_split_exactly(line in fee_line()) {
        let r = wugan_policy::split_line(0, &line, shenzhen()).expect("valid line");
        prop_assert_eq!(r.fulamt_ownpay_amt + r.overlmt_amt + r.preselfpay_amt + r.inscp_scp_amt, r.det_item_fee_sumamt);
        prop_assert!(r.inscp_scp_amt >= Fen::ZERO && r.preselfpay_amt >= Fen::ZERO && r.overlmt_amt >= Fen::ZERO);
        let again = wugan_policy::split_line(0, &repeated(&line, shenzhen()), shenzhen()).expect("a line agreeing with the catalogue");
        prop_assert_eq!(again, r);
    }

    #[test]
    fn claims_round_trip_through_json(claim in claim()) {
        let text = serde_json::to_string(&claim).expect("serializes");
        let back: Claim = serde_json::from_str(&text).expect("parses back");
        prop_assert_eq!(back, claim);
    }
}
