//! The data folder and the files in it hold personal data and keys: created readable by their
//! owner only (the folder 0700, files 0600) from the first moment, and tightened, with a warning,
//! when found looser.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// Creates `dir` (and its parents) readable by its owner only, and takes the other users' access
/// away from one that exists: it holds personal data and keys.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    owner_only(dir, 0o700)
}

/// Creates `path` empty and readable by its owner only (0600) unless it exists, and takes the
/// other users' access away from one that exists.
pub fn private_file(path: &Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    owner_only(path, 0o600)
}

/// Sets `mode` on `path` when others than its owner may read or write it.
pub fn owner_only(path: &Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = std::fs::metadata(path)?.permissions().mode();
        if current & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", current & 0o777), "others could read this; now owner only");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Before SQLite opens `database_url`: the database file created owner-only, so that its -wal and
/// -shm files (which SQLite creates with the database's mode) are too; existing ones tightened.
pub fn prepare_sqlite_file(database_url: &str) -> anyhow::Result<()> {
    let Some(path) = sqlite_path(database_url) else {
        return Ok(()); // PostgreSQL, or in memory
    };
    let path = path.as_path();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        private_dir(dir)?;
    }
    private_file(path)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let companion = PathBuf::from(format!("{}{suffix}", path.display()));
        if companion.exists() {
            owner_only(&companion, 0o600)?;
        }
    }
    Ok(())
}

/// The file a `sqlite:` URL names; none for another database or one in memory.
pub fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(':')).then(|| PathBuf::from(path))
}
