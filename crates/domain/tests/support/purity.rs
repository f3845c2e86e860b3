//! The check behind "Architecture Invariant: `wugan-domain` and `wugan-policy` do no I/O, no async,
//! no clock reads": the crate's sources name none of the ways in, and its dependencies are a short
//! list that a reviewer extends on purpose. Shared by both crates' `tests/purity.rs`.

use std::path::Path;

/// What pure code never names: files, sockets, processes, the environment, threads, stdout, clocks,
/// entropy, async runtimes. (`include_str!` is fine: embedded data is read at compile time.)
pub const FORBIDDEN: &[&str] = &[
    "std::fs",
    "std::net",
    "std::io",
    "std::path",
    "std::process",
    "std::env",
    "std::thread",
    "File::",
    "read_to_string",
    "print!",
    "println!",
    "dbg!",
    "SystemTime",
    "Instant",
    "UNIX_EPOCH",
    "now_utc",
    "now_local",
    "Utc::now",
    "Local::now",
    "thread_rng",
    "getrandom",
    "tokio",
    "async_std",
    "futures",
    "async ",
    ".await",
];

/// The forbidden names used in `source`, comments aside (a doc comment may say "no I/O").
pub fn forbidden_in(source: &str) -> Vec<&'static str> {
    let code: String = source.lines().map(|line| line.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
    FORBIDDEN.iter().copied().filter(|name| code.contains(name)).collect()
}

/// Every `.rs` file under `dir` with the forbidden names it uses; empty when the crate is pure.
pub fn impure_files(dir: &Path) -> Vec<(String, Vec<&'static str>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("source directory is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).expect("source file is readable");
                let names = forbidden_in(&source);
                if !names.is_empty() {
                    found.push((path.display().to_string(), names));
                }
            }
        }
    }
    found
}

/// The crate names in the manifest's `[dependencies]` table.
pub fn dependencies(manifest: &str) -> Vec<String> {
    let mut in_table = false;
    let mut names = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == "[dependencies]";
        } else if let (true, Some((name, _))) = (in_table, line.split_once('=')) {
            names.push(name.trim().to_string());
        }
    }
    names
}

/// Asserts the crate at `crate_dir` is pure and depends on `allowed` crates only.
pub fn assert_pure(crate_dir: &str, allowed: &[&str]) {
    let crate_dir = Path::new(crate_dir);
    let impure = impure_files(&crate_dir.join("src"));
    assert!(impure.is_empty(), "pure code must not do I/O, async work or read a clock: {impure:?}");
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).expect("Cargo.toml is readable");
    let extra: Vec<String> = dependencies(&manifest).into_iter().filter(|d| !allowed.contains(&d.as_str())).collect();
    assert!(extra.is_empty(), "a pure crate takes new dependencies only on purpose (extend the list in tests/purity.rs): {extra:?}");
}
