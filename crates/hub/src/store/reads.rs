//! Where the store's reads go: on SQLite, connections of the hub's own used in place by the task
//! that reads (no hand-off to another thread); on PostgreSQL, sqlx's pool.
//!
//! A SQLite read in WAL mode never waits for the writer, and the reads of a visit take a few tens
//! of microseconds each: cheaper done on the calling thread than handed to a worker thread and
//! back (which is what sqlx does, two or three context switches a statement). A read that returns
//! many rows (`fetch_all`: the ledger's fold, a day's reconciliation, a page of a list) may take
//! longer, so it runs with `block_in_place` on a multi-threaded runtime: the runtime moves the
//! other tasks of this worker elsewhere while it runs.

use rusqlite::OpenFlags;
use sqlx::AnyPool;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Idle read connections kept at most; more may be open at once (one per thread reading), the
/// ones beyond this are closed when they are handed back.
const MAX_IDLE: usize = 16;
/// Prepared statements each connection keeps: every statement the store runs, prepared once.
const STATEMENT_CACHE: usize = 512;

pub enum Reads {
    Lite(LiteReads),
    Any(AnyPool),
}

pub struct LiteReads {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    /// Reads running now, each on a connection of its own.
    busy: AtomicUsize,
}

impl LiteReads {
    pub fn new(path: PathBuf) -> LiteReads {
        LiteReads { path, idle: Mutex::new(Vec::new()), busy: AtomicUsize::new(0) }
    }

    /// Runs `read` on an idle connection (opened if none is idle) and hands the connection back.
    pub fn with<T>(&self, read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.path)?,
        };
        self.busy.fetch_add(1, Ordering::Relaxed);
        let result = read(&conn);
        self.busy.fetch_sub(1, Ordering::Relaxed);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        result
    }

    /// Connections idle now, and in use now (the operator's gauges).
    pub fn idle_and_busy(&self) -> (usize, usize) {
        (self.idle.lock().unwrap_or_else(|p| p.into_inner()).len(), self.busy.load(Ordering::Relaxed))
    }
}

/// `sqlite://path[?mode=rwc]` (or `sqlite:path`): the file, and whether it may be created.
pub fn sqlite_path(url: &str) -> (PathBuf, bool) {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let (path, options) = rest.split_once('?').unwrap_or((rest, ""));
    (PathBuf::from(path), options.split('&').any(|o| o == "mode=rwc"))
}

/// The writer's own connection. WAL with synchronous=FULL: every commit is flushed to the WAL file
/// before the hub answers, so an acknowledged settlement survives a power cut (NORMAL flushes only
/// at checkpoints). It is opened first and sets WAL mode on the file before any reader opens it.
/// It checkpoints the WAL back into the file every 10,000 pages (~40 MiB) instead of SQLite's
/// 1,000: a checkpoint runs on the writer's thread, in the commit that crosses the mark, so every
/// write waits for it; a visit writes ~70 pages, so the default checkpointed every ~15 visits
/// (`wugan bench core`: ~15% more visits/s, ~17% less CPU per visit). A larger page cache (64 MiB)
/// was slower, not faster.
pub fn open_writer(url: &str) -> rusqlite::Result<rusqlite::Connection> {
    let (path, create) = sqlite_path(url);
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=10000; PRAGMA temp_store=MEMORY")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// A read connection: `query_only`, so that nothing but the writer ever writes.
fn open_reader(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    conn.execute_batch("PRAGMA busy_timeout=10000; PRAGMA query_only=ON")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Runs a read that may take a while without holding up the other tasks of this runtime worker.
pub fn long_read<T>(read: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(read),
        _ => read(),
    }
}

#[cfg(test)]
mod tests {
    use super::Reads;
    use crate::store::{query, Store};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_see_what_the_writer_committed_and_cannot_write_themselves() {
        let (store, dir) = Store::in_fresh_folder("reads-test").await;
        store.ensure_hospital("H44030600001", "一院").await.unwrap();
        assert!(store.hospital_exists("H44030600001").await.unwrap(), "the commit is seen by the next read");
        let all = query("SELECT code FROM hospitals ORDER BY code").fetch_all(&store.pool).await.unwrap();
        assert_eq!(all.len(), 1, "a long read (block_in_place) reads the same");
        let write = query("INSERT INTO hospitals (code, name, created_at) VALUES ('H2', 'x', 't')").execute(&store.pool).await;
        assert!(write.is_err(), "a read connection is query_only: {write:?}");
        let Reads::Lite(reads) = &store.pool else { panic!("SQLite reads") };
        let (idle, busy) = reads.idle_and_busy();
        assert!(idle >= 1, "the connection is kept for the next read");
        assert_eq!(busy, 0, "no read is running");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
