//! The example files the README and the packaging name still read the way the commands read them,
//! so a reader who copies a command from the README gets what it promises.

use std::path::PathBuf;

fn repo_path(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn repo_file(path: &str) -> String {
    let full = repo_path(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn the_example_claim_adjudicates_as_the_readme_says() {
    let policy = wugan::adjudicate::load_policy("shenzhen-2024").expect("built-in policy");
    let out = wugan::adjudicate::adjudicate_json(&policy, &repo_file("examples/claim.json"), true).expect("adjudicates");
    // 乙 200.00: 20.00 first self-paid, 180.00 inside the deductible; the account pays it all.
    assert_eq!(out["setlinfo"]["medfee_sumamt"], "200.00");
    assert_eq!(out["setlinfo"]["acct_pay"], "200.00");
    assert_eq!(out["setlinfo"]["psn_cash_pay"], "0.00");
    assert!(out["explain"]["steps"].as_array().is_some_and(|steps| !steps.is_empty()));
}

#[test]
fn the_example_persons_file_is_the_built_in_sample() {
    let persons = wugan_insurance::load_persons_jsonl(&repo_path("examples/persons.jsonl")).expect("a valid persons file");
    assert_eq!(persons, wugan_insurance::sample_persons());
}

#[test]
fn the_sample_config_names_only_keys_serve_takes() {
    let config: serde_json::Value = serde_json::from_str(&repo_file("packaging/wugan.json")).expect("JSON");
    let keys: Vec<&str> = config.as_object().expect("an object").keys().map(String::as_str).collect();
    let documented = repo_file("packaging/README.md");
    for key in keys {
        assert!(documented.contains(&format!("| `{key}` |")), "packaging/README.md does not document `{key}`");
    }
}
