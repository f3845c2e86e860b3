//! The module layering written at the top of `src/lib.rs`: each module uses only modules of a lower
//! layer (`use crate::…` and `crate::…` paths, read from the sources). In particular nothing below
//! `tx` uses `tx`, and the transaction modules never use one another.

use std::collections::BTreeSet;
use std::path::Path;

/// Module → layer, bottom up. A module may use modules of a strictly lower layer only.
const LAYERS: &[(&str, u32)] = &[
    ("person", 0),
    ("clock", 0),
    ("error", 0),
    ("faults", 0),
    ("online", 0),
    ("auth", 1),
    ("state", 1),
    ("input", 1),
    ("envelope", 1),
    ("files", 1),
    ("journal", 1),
    ("ctx", 2),
    ("lookup", 3),
    ("fees", 4),
    ("identify", 5),
    ("outpatient", 5),
    ("inpatient", 5),
    ("settle", 5),
    ("repayment", 5),
    ("reconcile", 5),
    ("clearing", 5),
    ("special_disease", 5),
    ("manual_claim", 5),
    ("visit_query", 5),
    ("fee_query", 5),
    ("tx", 6),
    ("center", 7),
    ("http", 8),
];

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(name, _)| *name == module).map(|(_, layer)| *layer)
}

/// The crate modules a source names: `crate::a`, `crate::{a, b::c}`; comments are skipped.
fn crate_modules_used(source: &str) -> BTreeSet<String> {
    let code: String = source.lines().map(|line| line.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
    let ident = |text: &str| -> String { text.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    let mut used = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => used.extend(group[..group.find('}').unwrap_or(group.len())].split(',').map(ident)),
            None => {
                used.insert(ident(rest));
            }
        }
    }
    used.retain(|name| !name.is_empty());
    used
}

#[test]
fn each_module_uses_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    for entry in std::fs::read_dir(&src).expect("src is readable") {
        let path = entry.expect("directory entry").path();
        let module = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        if module == "lib" {
            continue; // the root declares and re-exports every module
        }
        let own = layer(&module).unwrap_or_else(|| panic!("src/{module}.rs has no layer: add it to LAYERS and to lib.rs"));
        let source = std::fs::read_to_string(&path).expect("source is readable");
        for used in crate_modules_used(&source) {
            match layer(&used) {
                Some(l) if l < own => {}
                // The same or a higher layer, or a name the root re-exports (name its module instead).
                _ => broken.push(format!("{module} (layer {own}) uses crate::{used}")),
            }
        }
    }
    assert!(broken.is_empty(), "layering broken (see src/lib.rs):\n{}", broken.join("\n"));
}

#[test]
fn the_check_reads_plain_and_grouped_paths_but_not_comments() {
    let source =
        "use crate::ctx::{Ctx, Kind};\nuse crate::{inpatient, settle::cancel};\nlet n = crate::lookup::not_found();\n// crate::tx\n";
    let used: Vec<String> = crate_modules_used(source).into_iter().collect();
    assert_eq!(used, ["ctx", "inpatient", "lookup", "settle"]);
}
