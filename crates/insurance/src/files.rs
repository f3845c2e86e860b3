//! The files the center is started with: the persons file and a policy set. The only module of this
//! crate that touches the file system; the policy engine (`wugan-policy`) reads no files and gets
//! their text from here.

use crate::person::{parse_persons_jsonl, Person};
use anyhow::Context;
use std::path::Path;
use wugan_policy::{PolicyError, PolicySet};

/// Reads a persons file: one JSON object per line; blank lines ignored.
pub fn load_persons_jsonl(path: &Path) -> anyhow::Result<Vec<Person>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading persons file {}", path.display()))?;
    parse_persons_jsonl(&text).with_context(|| format!("persons file {}", path.display()))
}

/// Reads a policy file; a `catalogue_file` it names is read from the same directory.
pub fn load_policy_file(path: &Path) -> Result<PolicySet, PolicyError> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| PolicyError::Load(format!("{}: {e}", p.display())));
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    PolicySet::parse(&path.display().to_string(), &read(path)?, |catalogue_file| read(&dir.join(catalogue_file)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn shipped_policies() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy/policies")
    }

    #[test]
    fn a_policy_file_loads_with_the_catalogue_next_to_it() {
        let from_disk = load_policy_file(&shipped_policies().join("shenzhen-2024.json")).unwrap();
        assert_eq!(from_disk, wugan_policy::builtin("shenzhen-2024").unwrap());
    }

    #[test]
    fn a_missing_policy_file_or_catalogue_is_named() {
        let missing = load_policy_file(&shipped_policies().join("missing.json")).unwrap_err();
        assert!(missing.to_string().contains("missing.json"), "{missing}");
        // The policy alone, copied where its catalogue is not.
        let dir = std::env::temp_dir().join(format!("wugan-policy-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(shipped_policies().join("shenzhen-2024.json"), dir.join("shenzhen-2024.json")).unwrap();
        let no_catalogue = load_policy_file(&dir.join("shenzhen-2024.json")).unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(no_catalogue.to_string().contains("catalogue-sandbox.json"), "{no_catalogue}");
    }
}
