//! `wugan adjudicate [--policy NAME_OR_FILE]… [--explain]`: one claim as JSON on stdin, the
//! settlement as JSON on stdout with the national `setlinfo` / `setldetail` field names (yuan, two
//! decimals). How a region's analysts check a policy without a server.
//!
//! It settles what the insurance center settles, with the same engine and the same set: by default
//! the center's own (`wugan_insurance::default_policy`: Shenzhen, plus the Guangzhou example schemes
//! for persons insured there, 异地就医). `--policy` given more than once builds such a set: the first
//! is the treatment place's (its catalogue, 医疗类别 and 乙类 ratio), each next one adds the schemes
//! of an insured place. Refund lines (negative `cnt` and amount, settled with their charge) and
//! zero-amount lines are taken, as the center takes them. What the center knows and a claim must
//! say: `visit.hosp_grade` (no default), every field spelt right, at least one fee line.

use anyhow::Context;
use std::io::Read;
use std::path::Path;

/// A built-in policy by name, or a policy file.
pub fn load_policy(name_or_file: &str) -> anyhow::Result<wugan_policy::PolicySet> {
    if wugan_policy::BUILTIN_POLICIES.contains(&name_or_file) {
        return wugan_policy::builtin(name_or_file).map_err(|e| anyhow::anyhow!("{e}"));
    }
    let path = Path::new(name_or_file);
    anyhow::ensure!(
        path.exists(),
        "no built-in policy or file named '{name_or_file}' (built in: {})",
        wugan_policy::BUILTIN_POLICIES.join(", ")
    );
    wugan_insurance::load_policy_file(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The first set with the insured-place schemes of the others (异地就医: 参保地政策, 就医地目录),
/// as the insurance center builds its default set. A region twice is refused.
pub fn load_policies(names_or_files: &[String]) -> anyhow::Result<wugan_policy::PolicySet> {
    let (first, others) = names_or_files.split_first().ok_or_else(|| anyhow::anyhow!("--policy names no policy"))?;
    let mut set = load_policy(first)?;
    for other in others {
        set = set.with_insured_place_schemes(&load_policy(other)?).map_err(|e| anyhow::anyhow!("--policy {other}: {e}"))?;
    }
    Ok(set)
}

/// The fields of a national 2204 fee line (feedetail) that say nothing about the money: a line
/// copied from a HIS's upload carries them, and they are set aside before the claim is read. Any
/// other field the claim's format does not know is still refused (a misspelt one must not pass).
const NATIONAL_LINE_FIELDS: &[&str] = &[
    "mdtrt_id",
    "psn_no",
    "chrg_bchno",
    "dise_codg",
    "rxno",
    "rx_circ_flag",
    "fee_ocur_time",
    "medins_list_codg",
    "sin_dos_dscr",
    "used_frqu_dscr",
    "prd_days",
    "medc_way_dscr",
    "bilg_dept_codg",
    "bilg_dept_name",
    "bilg_dr_codg",
    "bilg_dr_name",
    "acord_dept_codg",
    "acord_dept_name",
    "orders_dr_code",
    "orders_dr_name",
    "hosp_appr_flag",
    "tcmdrug_used_way",
    "etip_flag",
    "etip_hosp_code",
    "dscg_tkdrug_flag",
    "matn_fee_flag",
    "init_feedetl_sn",
    "drord_no",
    "med_type",
    "memo",
    "expContent",
    "med_list_name",
    "medins_list_name",
    "spec",
    "dosform_name",
    "lmt_used_flag",
    "list_type",
];

/// Adjudicates one claim (JSON text) and returns the output JSON.
pub fn adjudicate_json(policy: &wugan_policy::PolicySet, claim_text: &str, explain: bool) -> anyhow::Result<serde_json::Value> {
    let mut claim: serde_json::Value = serde_json::from_str(claim_text).context("the claim is not JSON")?;
    for line in claim.get_mut("fees").and_then(|f| f.as_array_mut()).into_iter().flatten() {
        if let Some(fields) = line.as_object_mut() {
            fields.retain(|name, _| !NATIONAL_LINE_FIELDS.contains(&name.as_str()));
        }
    }
    let claim: wugan_policy::Claim = serde_json::from_value(claim).context("the claim is not valid")?;
    // The center settles an admission whose lines interim settlements already paid with no line
    // left; a claim on the command line with no fee line is a mistake, not a settlement of nothing.
    anyhow::ensure!(!claim.fees.is_empty(), "the claim has no fee lines (fees is empty): nothing to adjudicate");
    let result = wugan_policy::adjudicate(&claim, policy).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = serde_json::json!({
        "setlinfo": result.setlinfo.to_setlinfo(),
        "setldetail": result.setldetail,
        "lines": result.lines,
        "ytd": result.ytd,
    });
    if explain {
        // One sentence per step: line classes → deductible → ratio → cap → above-cap layer →
        // assistance → personal account → cash (wugan_policy::explain).
        out["explain"] = serde_json::json!({
            "trace": result.trace,
            "steps": wugan_policy::explain(&result),
        });
    }
    Ok(out)
}

pub fn run(policies: &[String], explain: bool) -> anyhow::Result<()> {
    let policy = load_policies(policies)?;
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("reading the claim from stdin")?;
    let out = adjudicate_json(&policy, &text, explain)?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// The built-in insurance center's configuration (`wugan insurance serve`): its insured persons
/// (a JSON-lines file, or the samples), its policy set (a built-in name or a file, or the center's
/// own set), and the region whose parameters serve regions with none of their own.
pub fn center_config(
    persons: Option<&std::path::Path>,
    admdvs: String,
    policy: Option<&str>,
    default_region: Option<&str>,
) -> anyhow::Result<wugan_insurance::InsuranceConfig> {
    let persons = match persons {
        Some(path) => wugan_insurance::load_persons_jsonl(path)?,
        None => wugan_insurance::sample_persons(),
    };
    let policy = match policy {
        Some(name) => load_policy(name)?,
        None => wugan_insurance::default_policy(),
    };
    let policy = match default_region {
        Some(region) => policy.with_default_region(region)?,
        None => policy,
    };
    Ok(wugan_insurance::InsuranceConfig { admdvs, policy, persons })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The issue's sample claim: a 乙 line of 200.00 for an in-service employee, first admission,
    /// grade III, paying from an account of 300.00.
    const SAMPLE: &str = r#"{"person": {"insutype": "310", "psn_type": "1101", "age": 45, "insuplc_admdvs": "440300", "idet_types": []},
     "visit": {"med_type": "21", "hosp_grade": 3, "mdtrtarea_admvs": "440300", "date": "2024-06-01", "admissions_this_year": 1},
     "ytd": {"dedc_paid": "0.00", "hifp_paid": "0.00", "hifob_paid": "0.00", "hifmi_paid": "0.00"},
     "acct": {"used": true, "balc": "300.00"},
     "fees": [{"med_list_codg": "XC10AAA005A001010104389", "chrgitm_lv": "02", "pric": "100.00", "cnt": "2", "det_item_fee_sumamt": "200.00", "selfpay_prop": "0.10", "pric_uplmt_amt": null}]}"#;

    fn sample_with(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut claim: serde_json::Value = serde_json::from_str(SAMPLE).expect("sample JSON");
        edit(&mut claim);
        claim.to_string()
    }

    #[test]
    fn a_line_copied_from_a_national_fee_upload_is_read_and_a_misspelt_field_is_refused() {
        let policy = load_policies(&["shenzhen-2024".into()]).expect("built-in policy");
        let plain = adjudicate_json(&policy, SAMPLE, false).expect("the sample settles");
        let copied = sample_with(|c| {
            let line = &mut c["fees"][0];
            for (name, value) in [("feedetl_sn", "1"), ("bilg_dept_codg", "A03"), ("bilg_dr_name", "王医生"), ("hosp_appr_flag", "1")] {
                line[name] = serde_json::json!(value);
            }
        });
        let settled = adjudicate_json(&policy, &copied, false).expect("a 2204 line settles");
        assert_eq!(settled["setlinfo"], plain["setlinfo"], "the national fields change no figure");
        let misspelt = sample_with(|c| c["fees"][0]["pric_uplmt"] = serde_json::json!("50.00"));
        let refused = adjudicate_json(&policy, &misspelt, false).expect_err("a misspelt field is refused");
        assert!(format!("{refused:#}").contains("pric_uplmt"), "{refused:#}");
    }

    #[test]
    fn refund_and_zero_lines_settle_as_the_center_settles_them() {
        let policy = load_policies(&["shenzhen-2024".into()]).expect("built-in policy");
        // Two boxes charged, one returned, and a zero-amount line: 100.00 乙, 10.00 first self-paid.
        let claim = sample_with(|c| {
            let refund = serde_json::json!({"med_list_codg": "XC10AAA005A001010104389", "pric": "100.00", "cnt": "-1", "det_item_fee_sumamt": "-100.00"});
            let zero = serde_json::json!({"med_list_codg": "XJ01CAA040E001010101923", "pric": "0", "cnt": "1", "det_item_fee_sumamt": "0"});
            c["fees"].as_array_mut().expect("fees").extend([refund, zero]);
        });
        let out = adjudicate_json(&policy, &claim, false).expect("adjudicates");
        assert_eq!(out["setlinfo"]["medfee_sumamt"], "100.00");
        assert_eq!(out["setlinfo"]["preselfpay_amt"], "10.00");
        // A refund alone is not a settlement.
        let alone = sample_with(|c| c["fees"][0]["cnt"] = serde_json::json!("-2"));
        let alone = alone.replace("\"200.00\"", "\"-200.00\"");
        let err = adjudicate_json(&policy, &alone, false).unwrap_err().to_string();
        assert!(err.contains("never alone"), "{err}");
    }

    #[test]
    fn a_claim_with_no_fee_lines_is_refused() {
        let policy = load_policy("shenzhen-2024").expect("built-in policy");
        let err = adjudicate_json(&policy, &sample_with(|c| c["fees"] = serde_json::json!([])), false).unwrap_err().to_string();
        assert!(err.contains("no fee lines"), "{err}");
    }

    #[test]
    fn a_person_insured_elsewhere_settles_under_their_insured_place_with_two_policies() {
        let guangzhou_insured = sample_with(|c| c["person"]["insuplc_admdvs"] = serde_json::json!("440100"));
        let shenzhen_only = load_policies(&["shenzhen-2024".into()]).expect("built-in policy");
        assert!(adjudicate_json(&shenzhen_only, &guangzhou_insured, false)
            .unwrap_err()
            .to_string()
            .contains("no policy scheme for admdvs 440100"));
        let both = load_policies(&["shenzhen-2024".into(), "guangzhou-example".into()]).expect("two sets");
        assert_eq!(both, wugan_insurance::default_policy(), "the insurance center's own set");
        let out = adjudicate_json(&both, &guangzhou_insured, true).expect("adjudicates");
        // Guangzhou's grade III deductible (1,000.00, example numbers) takes the whole 180.00.
        assert_eq!(out["setlinfo"]["act_pay_dedc"], "180.00");
        assert_eq!(out["explain"]["trace"]["admdvs"], "440100");
        assert!(load_policies(&["shenzhen-2024".into(), "shenzhen-2024".into()]).is_err(), "a region twice");
    }

    #[test]
    fn the_sample_claim_settles_to_the_fen_and_explains_each_step() {
        let policy = load_policy("shenzhen-2024").expect("built-in policy");
        let out = adjudicate_json(&policy, SAMPLE, true).expect("adjudicates");
        let info = &out["setlinfo"];
        // 乙 200: 20 first self-paid, 180 in scope, all inside the 600 deductible; the account pays all.
        let expect = [
            ("medfee_sumamt", "200.00"),
            ("preselfpay_amt", "20.00"),
            ("inscp_scp_amt", "180.00"),
            ("act_pay_dedc", "180.00"),
            ("hifp_pay", "0.00"),
            ("fund_pay_sumamt", "0.00"),
            ("psn_part_amt", "200.00"),
            ("acct_pay", "200.00"),
            ("psn_cash_pay", "0.00"),
            ("balc", "100.00"),
        ];
        for (field, want) in expect {
            assert_eq!(info[field], serde_json::json!(want), "setlinfo.{field}");
        }
        let steps: Vec<String> = serde_json::from_value(out["explain"]["steps"].clone()).expect("steps are text");
        let text = steps.join("\n");
        for needle in [
            "Line 1 XC10AAA005A001010104389: 200.00 乙类",
            "first self-paid 20.00 (10 %",
            "first admission this year, standard 600.00",
            "charged now 180.00",
            "× 90 %",
            "pays 200.00, leaving 100.00",
            "= 0.00 to pay",
        ] {
            assert!(text.contains(needle), "'{needle}' missing from:\n{text}");
        }
        assert!(adjudicate_json(&policy, SAMPLE, false).expect("adjudicates").get("explain").is_none());
        assert!(adjudicate_json(&policy, "{}", false).is_err());
    }
}
