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
    wugan_policy::PolicySet::from_path(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Adjudicates one claim (JSON text) and returns the output JSON.
pub fn adjudicate_json(policy: &wugan_policy::PolicySet, claim_text: &str, explain: bool) -> anyhow::Result<serde_json::Value> {
    let claim: wugan_policy::Claim = serde_json::from_str(claim_text).context("the claim is not valid")?;
    let result = wugan_policy::adjudicate(&claim, policy).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = serde_json::json!({
        "setlinfo": result.setlinfo.to_setlinfo(),
        "setldetail": result.setldetail,
        "lines": result.lines,
        "ytd": result.ytd,
    });
    if explain {
        out["explain"] = serde_json::json!({
            "trace": result.trace,
            "steps": result.setldetail.iter().map(|d| format!("{} {}: {}", d.fund_pay_type, d.fund_pay_type_name, d.setl_proc_info)).collect::<Vec<_>>(),
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
