//! `wugan backup` and `wugan restore`: a consistent copy of a data folder, taken while the hub
//! serves, and put back into a fresh folder.
//!
//! Each SQLite database is copied with `VACUUM INTO`: one read transaction, so the copy is the
//! database as of one moment, with what is still only in its `-wal` file folded in (a plain copy
//! of `hub.db` alone misses that). The hub's database is copied first and the partners' after:
//! a restored hub may then find a partner ahead of it (a step it had not yet recorded as done),
//! which its recovery finishes as after a crash, never a partner behind it. The other files
//! (`credentials.json`, which holds the personal-data key) are copied as they are.
//!
//! The built-in bank's and insurance center's journals (`bank.db`, `insurance.db`) are copied the
//! same way while `wugan serve` runs: each partner keeps its file to itself with an OS lock on
//! `<file>.lock` (one writer), and SQLite's own locking is normal, so a reader in another process
//! sees a committed moment (ARCHITECTURE.md, "Backups"). [`Scope::HubOnly`] leaves them out, for
//! partners that are backed up on their side. A raw copy of a journal is never taken: a
//! checkpoint running meanwhile would tear it.
//!
//! A hub on PostgreSQL is not in the folder: back it up with `pg_dump` (or WAL archiving for
//! point-in-time recovery), taken before the folder's copy for the same reason.

use crate::data_dir::{owner_only, private_dir, private_file};
use crate::lock::lock_data_dir;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The SQLite databases of a data folder, in the order they are copied: the hub's first.
pub const DATABASES: [&str; 3] = ["hub.db", "bank.db", "insurance.db"];
/// The hub's own database.
const HUB_DB: &str = "hub.db";
/// How long a copy waits for a database's lock (a checkpoint, a writer's commit).
const PATIENCE: Duration = Duration::from_secs(10);

/// What a backup holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every database of the folder, the partners' journals included.
    Everything,
    /// The hub's database and files; the partners' journals are left out.
    HubOnly,
}

/// Files of a data folder a copy leaves out: the locks (the folder's, the journals' owners'), and
/// SQLite's companions (folded into the copy of their database).
fn left_out(name: &str) -> bool {
    name == ".lock" || ["-wal", "-shm", "-journal", ".lock"].iter().any(|suffix| name.ends_with(suffix))
}

/// Copies the data folder `data_dir` into `to` (which must not exist, or be empty) while it may
/// be in use; the names of the files copied.
pub async fn backup(data_dir: &Path, to: &Path, scope: Scope) -> anyhow::Result<Vec<String>> {
    anyhow::ensure!(data_dir.is_dir(), "no data folder at {}", data_dir.display());
    ensure_empty(to, "the backup's folder")?;
    private_dir(to)?;
    let mut copied = Vec::new();
    for name in DATABASES.into_iter().filter(|name| scope == Scope::Everything || *name == HUB_DB) {
        let source = data_dir.join(name);
        if !source.exists() {
            continue;
        }
        if let Err(e) = vacuum_into(&source, &to.join(name), PATIENCE).await {
            let _ = std::fs::remove_dir_all(to); // no half backup left to be mistaken for one
            return Err(match is_locked(&e) {
                true => anyhow::anyhow!(
                    "{} stayed locked for {} s (a partner of an older wugan holds its journal exclusively: stop it, or back up the hub alone with --hub-only)",
                    source.display(),
                    PATIENCE.as_secs()
                ),
                false => e.context(format!("cannot copy {}", source.display())),
            });
        }
        copied.push(name.to_string());
    }
    // A partner's key goes with its journal: a hub-only copy holds neither.
    let partner_key = |name: &str| [crate::system::BANK_KEY_FILE, crate::system::INSURANCE_KEY_FILE].contains(&name);
    for (name, source) in other_files(data_dir)?.into_iter().filter(|(name, _)| scope == Scope::Everything || !partner_key(name)) {
        let target = to.join(&name);
        std::fs::copy(&source, &target).with_context(|| format!("cannot copy {}", source.display()))?;
        owner_only(&target, 0o600)?;
        copied.push(name);
    }
    // The invoice keys are the hub's own, copied in every scope: without the root key, readers
    // holding the old `root.pub` would reject every invoice issued after a restore.
    if copy_folder(&data_dir.join(INVOICE_KEYS), &to.join(INVOICE_KEYS))? {
        copied.push(format!("{INVOICE_KEYS}/"));
    }
    anyhow::ensure!(!copied.is_empty(), "{} holds nothing to back up", data_dir.display());
    Ok(copied)
}

/// The folder of the hub's invoice keys (`wugan_hub::app::invoices`), copied whole.
const INVOICE_KEYS: &str = "invoice-keys";

/// Copies the regular files of `from` (if it is a folder) into a new owner-only folder `to`;
/// whether there was anything to copy.
fn copy_folder(from: &Path, to: &Path) -> anyhow::Result<bool> {
    if !from.is_dir() {
        return Ok(false);
    }
    private_dir(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let target = to.join(entry.file_name());
            private_file(&target)?;
            std::fs::copy(entry.path(), &target).with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(true)
}

/// Puts the backup in `from` into `data_dir`, which must be free (no process on it) and hold no
/// data yet; the names of the files restored.
pub fn restore(from: &Path, data_dir: &Path) -> anyhow::Result<Vec<String>> {
    anyhow::ensure!(
        from.join("credentials.json").exists() || from.join("hub.db").exists(),
        "{} is not a wugan backup (no hub.db, no credentials.json)",
        from.display()
    );
    private_dir(data_dir)?;
    let _lock = lock_data_dir(data_dir)?;
    ensure_empty(data_dir, "the data folder to restore into")?;
    let mut restored = Vec::new();
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type()?.is_file() || left_out(&name) {
            continue;
        }
        let target = data_dir.join(&name);
        private_file(&target)?;
        std::fs::copy(entry.path(), &target).with_context(|| format!("cannot restore {name}"))?;
        restored.push(name);
    }
    if copy_folder(&from.join(INVOICE_KEYS), &data_dir.join(INVOICE_KEYS))? {
        restored.push(format!("{INVOICE_KEYS}/"));
    }
    restored.sort();
    Ok(restored)
}

/// Refuses a folder that holds anything but a lock file: nothing is overwritten.
fn ensure_empty(dir: &Path, what: &str) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(()); // does not exist yet
    };
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        anyhow::ensure!(name == ".lock", "{what} {} is not empty ({name}); choose a fresh one", dir.display());
    }
    Ok(())
}

/// The regular files of `data_dir` other than its databases and what [`left_out`] names.
fn other_files(data_dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(data_dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && !left_out(&name) && !DATABASES.contains(&name.as_str()) {
            files.push((name, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// SQLite's "database is locked" (`SQLITE_BUSY`): another connection holds the file.
fn is_locked(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| match cause.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(db)) => db.code().as_deref() == Some("5"),
        _ => false,
    })
}

/// `VACUUM INTO`: the database as of one read transaction, into a new owner-only file.
async fn vacuum_into(source: &Path, target: &Path, patience: Duration) -> anyhow::Result<()> {
    use sqlx::{ConnectOptions, Connection};
    private_file(target)?; // empty: VACUUM INTO fills an empty file, and keeps its mode
    let mut connection =
        sqlx::sqlite::SqliteConnectOptions::new().filename(source).read_only(true).busy_timeout(patience).connect().await?;
    let target_name = target.to_str().context("the backup's path is not valid UTF-8")?;
    sqlx::query("VACUUM INTO ?").bind(target_name).execute(&mut connection).await?;
    connection.close().await?;
    Ok(())
}
