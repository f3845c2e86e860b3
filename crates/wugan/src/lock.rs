//! One process per data folder: `wugan serve` holds an advisory lock on `DATA_DIR/.lock` for as
//! long as it runs, with its pid written in the file so that a second one can say who holds it.
//! Two processes writing one SQLite file, one bank.db, one credentials.json would each believe
//! they own the books. The kernel lets the lock go when the process ends, however it ends.

use anyhow::Context;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock on a data folder, held until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    /// Kept open: closing the file releases the lock.
    _file: File,
    pub path: PathBuf,
}

/// The lock file in `data_dir`.
pub fn lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join(".lock")
}

/// Takes the lock on `data_dir` (which must exist), or says which process holds it.
pub fn lock_data_dir(data_dir: &Path) -> anyhow::Result<DataDirLock> {
    let path = lock_path(data_dir);
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    if !try_lock(&file)? {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        let who = if holder.is_empty() { "another process".to_string() } else { format!("another process (pid {holder})") };
        anyhow::bail!(
            "the data folder {} is in use by {who}: one wugan per data folder; stop it first or choose another --data-dir",
            data_dir.display()
        );
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    file.sync_all()?;
    Ok(DataDirLock { _file: file, path })
}

/// `flock(LOCK_EX | LOCK_NB)`: false when another open file holds it.
#[cfg(unix)]
fn try_lock(file: &File) -> anyhow::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor this function's caller keeps open; it touches nothing else.
    let status = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if status == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        Some(code) if code == libc::EWOULDBLOCK => Ok(false),
        _ => Err(error).context("cannot lock the data folder"),
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> anyhow::Result<bool> {
    Ok(true) // no advisory lock here: one process per folder is the operator's to keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_folder_in_use_is_refused_naming_the_holder_then_granted_once_released() {
        let dir = std::env::temp_dir().join(format!("wugan-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("folder");
        let first = lock_data_dir(&dir).expect("a free folder locks");
        let pid = std::process::id().to_string();
        assert_eq!(std::fs::read_to_string(&first.path).expect("lock file").trim(), pid);
        let refused = lock_data_dir(&dir).expect_err("the folder is in use");
        let message = refused.to_string();
        assert!(message.contains(&dir.display().to_string()) && message.contains(&format!("pid {pid}")), "{message}");
        drop(first);
        let again = lock_data_dir(&dir).expect("released with its holder");
        drop(again);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
