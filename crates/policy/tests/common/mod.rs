//! Helpers shared by the engine's test files: the Shenzhen set, a claim with sensible defaults,
//! and `check`, which compares `setlinfo` (or `ytd.`) fields to the fen.
#![allow(dead_code)]

use serde_json::{json, Value};
use wugan_policy::{adjudicate, builtin, Adjudication, Claim, PolicyError, PolicySet};

pub fn shenzhen() -> PolicySet {
    builtin("shenzhen-2024").expect("built-in set loads")
}

/// A claim with sensible defaults; `fees` are fee-line JSON objects.
pub fn claim(psn_type: &str, med_type: &str, grade: u32, admission: u32, fees: Value) -> Value {
    let insutype = if psn_type.starts_with('1') && !psn_type.starts_with("14") && !psn_type.starts_with("15") { "310" } else { "390" };
    json!({
        "person": {"insutype": insutype, "psn_type": psn_type, "age": 45, "insuplc_admdvs": "440300", "idet_types": []},
        "visit": {"med_type": med_type, "hosp_grade": grade, "mdtrtarea_admvs": "440300", "date": "2024-06-01", "admissions_this_year": admission},
        "ytd": {"dedc_paid": "0.00", "hifp_paid": "0.00", "hifob_paid": "0.00", "hifmi_paid": "0.00"},
        "acct": {"used": false, "balc": "0.00"},
        "fees": fees
    })
}

/// A 甲 line: amoxicillin, 甲 in the sandbox catalogue, no price cap.
pub fn class_a(amount: &str) -> Value {
    json!({"med_list_codg": "XJ01CAA040E001010101923", "det_item_fee_sumamt": amount})
}

pub fn with(mut claim: Value, path: &[&str], value: Value) -> Value {
    let mut at = &mut claim;
    for key in &path[..path.len() - 1] {
        at = &mut at[*key];
    }
    at[path[path.len() - 1]] = value;
    claim
}

/// Adjudicates `claim` and compares the listed `setlinfo` (or `ytd.` prefixed) fields.
pub fn check(name: &str, policy: &PolicySet, claim: Value, expect: &[(&str, &str)]) {
    let claim: Claim = serde_json::from_value(claim).unwrap_or_else(|e| panic!("{name}: claim does not parse: {e}"));
    let adj = adjudicate(&claim, policy).unwrap_or_else(|e| panic!("{name}: {e}"));
    let setl = serde_json::to_value(adj.setlinfo).unwrap();
    let ytd = serde_json::to_value(adj.ytd).unwrap();
    for (field, want) in expect {
        let got = match field.strip_prefix("ytd.") {
            Some(f) => &ytd[f],
            None => &setl[*field],
        };
        assert_eq!(got, &json!(want), "{name}: {field}");
    }
    adj.setlinfo.check().unwrap_or_else(|b| panic!("{name}: invariants {b:?}"));
}

/// Adjudicates a claim given as JSON (it must parse).
pub fn adjudicated(policy: &PolicySet, claim: Value) -> Result<Adjudication, PolicyError> {
    let claim: Claim = serde_json::from_value(claim).unwrap_or_else(|e| panic!("claim does not parse: {e}"));
    adjudicate(&claim, policy)
}

/// The error a claim is refused with, as text (it must be refused).
pub fn refused(policy: &PolicySet, claim: Value) -> String {
    match adjudicated(policy, claim) {
        Ok(adj) => panic!("adjudicated, but should be refused: {:?}", adj.setlinfo),
        Err(e) => e.to_string(),
    }
}

/// The Shenzhen set with `edit` applied to its JSON (its sandbox catalogue as shipped).
pub fn shenzhen_with(edit: impl FnOnce(&mut Value)) -> Result<PolicySet, PolicyError> {
    let mut set: Value = serde_json::from_str(include_str!("../../policies/shenzhen-2024.json")).expect("shipped JSON");
    edit(&mut set);
    let catalogue = include_str!("../../policies/catalogue-sandbox.json");
    PolicySet::parse("shenzhen-2024 (edited)", &set.to_string(), |_| Ok::<_, PolicyError>(catalogue))
}

/// The index of the scheme of `insutype` and `group` in the Shenzhen set's JSON.
pub fn scheme_at(set: &Value, insutype: &str, group: &str) -> usize {
    let schemes = set["schemes"].as_array().expect("schemes");
    schemes.iter().position(|s| s["insutype"] == insutype && s["psn_group"] == group).expect("scheme")
}
