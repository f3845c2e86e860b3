//! What the disk can do and what the hub asks of it: the machine's durable-flush rate, and the
//! writes and flushes the hub's database makes, read before and after the timed visits.

use super::sqlite_io;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Upper bound on probe flushes, whatever the disk (a RAM disk answers in microseconds).
const MAX_PROBE_FLUSHES: u64 = 1_000_000;
const PROBE_BLOCK: [u8; 4096] = [0x5a; 4096];

/// Durable flushes per second this machine gives: 4 KiB appended then `fdatasync`ed, for
/// `duration`, in `dir` (the data folder, so that it is the disk the database is on).
pub fn fsync_per_s(dir: &Path, duration: Duration) -> anyhow::Result<f64> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    let started = Instant::now();
    let mut flushes = 0u64;
    while started.elapsed() < duration && flushes < MAX_PROBE_FLUSHES {
        file.write_all(&PROBE_BLOCK)?;
        file.sync_data()?;
        flushes += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(flushes as f64 / elapsed)
}

/// The database's disk work, summed since some start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskWork {
    pub writes: u64,
    pub bytes: u64,
    pub flushes: u64,
}

impl DiskWork {
    pub fn since(self, before: DiskWork) -> DiskWork {
        DiskWork {
            writes: self.writes.saturating_sub(before.writes),
            bytes: self.bytes.saturating_sub(before.bytes),
            flushes: self.flushes.saturating_sub(before.flushes),
        }
    }
}

/// Where the hub's disk work is read from.
pub enum Meter {
    /// SQLite in this process: its VFS calls, counted exactly (see `sqlite_io`).
    Sqlite,
    /// PostgreSQL's own WAL statistics (`pg_stat_wal`: WAL writes, bytes, fsyncs), server-wide.
    Postgres(sqlx::PgPool),
}

/// Backends publish their statistics at most once a second, and when idle: wait that out.
const PG_STATS_DELAY: Duration = Duration::from_millis(1_500);

impl Meter {
    pub fn what_it_counts(&self) -> &'static str {
        match self {
            Meter::Sqlite => "SQLite VFS calls in this process: writes = xWrite (pwrite) calls, flushes = xSync (fsync) calls",
            Meter::Postgres(_) => "PostgreSQL pg_stat_wal, whole server: writes = WAL write calls, flushes = WAL fsyncs",
        }
    }

    pub async fn read(&self) -> anyhow::Result<DiskWork> {
        match self {
            Meter::Sqlite => {
                let io = sqlite_io::counts();
                Ok(DiskWork { writes: io.writes, bytes: io.bytes, flushes: io.syncs })
            }
            Meter::Postgres(pool) => {
                tokio::time::sleep(PG_STATS_DELAY).await;
                pg_wal_work(pool).await
            }
        }
    }
}

/// PostgreSQL 14-17 keep WAL write and sync counts in `pg_stat_wal`; 18 moved them to `pg_stat_io`.
async fn pg_wal_work(pool: &sqlx::PgPool) -> anyhow::Result<DiskWork> {
    let up_to_17 = "SELECT wal_write::BIGINT, wal_bytes::BIGINT, wal_sync::BIGINT FROM pg_stat_wal";
    let from_18 = "SELECT COALESCE(SUM(writes), 0)::BIGINT, COALESCE(SUM(write_bytes), 0)::BIGINT, \
                   COALESCE(SUM(fsyncs), 0)::BIGINT FROM pg_stat_io WHERE object = 'wal'";
    let row: (i64, i64, i64) = match sqlx::query_as(up_to_17).fetch_one(pool).await {
        Ok(row) => row,
        Err(_) => sqlx::query_as(from_18).fetch_one(pool).await?,
    };
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(DiskWork { writes: count(row.0), bytes: count(row.1), flushes: count(row.2) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_flushes_and_leaves_nothing_behind() {
        let dir = std::env::temp_dir().join(format!("wugan-fsync-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let rate = fsync_per_s(&dir, Duration::from_millis(50)).expect("the probe runs");
        assert!(rate > 0.0);
        assert!(!dir.join("fsync-probe").exists());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn work_since_a_reading_is_the_difference() {
        let before = DiskWork { writes: 10, bytes: 4096, flushes: 2 };
        let after = DiskWork { writes: 25, bytes: 8192, flushes: 2 };
        assert_eq!(after.since(before), DiskWork { writes: 15, bytes: 4096, flushes: 0 });
    }
}
