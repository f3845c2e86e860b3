//! `wugan adjudicate --policy NAME_OR_FILE [--explain]`: one claim as JSON on stdin, the settlement
//! as JSON on stdout with the national `setlinfo` / `setldetail` field names (yuan, two decimals).
//! How a region's analysts check a policy without a server.

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

/// Adjudicates one claim (JSON text) and returns the output JSON.
pub fn adjudicate_json(policy: &wugan_policy::PolicySet, claim_text: &str, explain: bool) -> anyhow::Result<serde_json::Value> {
    let claim: wugan_policy::Claim = serde_json::from_str(claim_text).context("the claim is not valid")?;
    // As the hub refuses them at fee upload: a claim adjudicates charges, not returns.
    for (i, line) in claim.fees.iter().enumerate() {
        let negative = line.det_item_fee_sumamt.is_some_and(|a| !a.is_positive())
            || line.pric.is_some_and(|p| p.0 <= 0)
            || line.cnt.is_some_and(|c| c.0 <= 0);
        anyhow::ensure!(!negative, "fees[{i}]: amount, count and price must be positive (a returned item is its own transaction)");
    }
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

pub fn run(policy: &str, explain: bool) -> anyhow::Result<()> {
    let policy = load_policy(policy)?;
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("reading the claim from stdin")?;
    let out = adjudicate_json(&policy, &text, explain)?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
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
     "fees": [{"med_list_codg": "X1", "chrgitm_lv": "02", "pric": "100.00", "cnt": "2", "det_item_fee_sumamt": "200.00", "selfpay_prop": "0.10", "pric_uplmt_amt": null}]}"#;

    #[test]
    fn negative_lines_are_refused_like_the_hub_refuses_them() {
        let policy = load_policy("shenzhen-2024").unwrap();
        for (field, value) in [("det_item_fee_sumamt", "-200.00"), ("cnt", "-2"), ("pric", "0")] {
            let mut claim: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
            claim["fees"][0][field] = serde_json::json!(value);
            let err = adjudicate_json(&policy, &claim.to_string(), false).unwrap_err().to_string();
            assert!(err.contains("must be positive"), "{field}: {err}");
        }
        assert!(adjudicate_json(&policy, SAMPLE, false).is_ok(), "the sample itself passes");
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
            "Line 1 X1: 200.00 乙类",
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
