//! Architecture Invariant: `wugan-domain` does no I/O, no async, no clock reads (ARCHITECTURE.md).

#[path = "support/purity.rs"]
mod purity;

#[test]
fn the_domain_does_no_io_no_async_and_reads_no_clock() {
    purity::assert_pure(env!("CARGO_MANIFEST_DIR"), &["serde", "serde_json", "thiserror"]);
}

#[test]
fn the_check_catches_each_way_out_and_ignores_comments() {
    let check = |source: &str, expect: &[&str]| assert_eq!(purity::forbidden_in(source), expect, "{source}");
    check("let t = std::fs::read_to_string(p)?;", &["std::fs", "read_to_string"]);
    check("let started = std::time::Instant::now();", &["Instant"]);
    check("use tokio::net::TcpStream;", &["tokio"]);
    check("pub async fn settle() {}", &["async "]);
    check("let x = fetch().await;", &[".await"]);
    check("println!(\"{x}\");", &["println!"]);
    check("/// Nothing here touches std::fs or reads SystemTime.", &[]);
    check("let fen = a + b; // not tokio", &[]);
    check("const TABLE: &str = include_str!(\"table.json\");", &[]);
}

#[test]
fn the_check_reads_the_dependency_table_only() {
    let manifest =
        "[package]\nname = \"x\"\n\n[dependencies]\nserde = { workspace = true }\ntokio = \"1\"\n\n[dev-dependencies]\nproptest = \"1\"\n";
    assert_eq!(purity::dependencies(manifest), ["serde", "tokio"]);
}
