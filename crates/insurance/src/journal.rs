//! The journal of a persistent center, in SQLite: every request that may change state (all but the
//! reads, `tx::changes_state`) in the order the center ran it, with the clock reading it ran at and
//! the reply it got, and the hospital grades set. A restart replays it through the same handlers
//! (`center`); nothing else is stored, so the journal is the state.
//!
//! Durability: a reply leaves only once its entry, and every entry before it, is committed with
//! `synchronous=FULL` in WAL mode (each commit is fsynced). The hub trusts a reply for good: a center
//! that forgot a settlement after a power cut would leave the hub with a `setl_id` nobody can cancel.
//! The other way round (the hub forgets, the center remembers) heals by msgid replay and 5203.
//!
//! Entries are appended under the center's lock, so the queue's order is the order the state
//! changed; one writer task commits whatever has queued in one transaction (group commit) and
//! publishes how far the journal is durable. When a write fails the journal stops for good: later
//! calls are refused (`Unrecorded`) until a restart replays what reached the disk.
//!
//! One center per file: the journal holds an OS lock (`flock`) on `<file>.lock` while its writer
//! runs, and a second center on the same file is refused at start instead of interleaving its own
//! history. SQLite's own locking stays normal, so another process may read the file meanwhile
//! (`wugan backup` copies it with `VACUUM INTO` while the center serves).
//!
//! Sealed (format 2): a request and its reply name persons (1101's name, ID number, birth date;
//! a 2201's psn_no…), so both are stored sealed with the center's key (`wugan_seal`); a journal
//! of format 1 (plain text) is sealed in place when first opened, then vacuumed.

use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteLockingMode, SqliteSynchronous};
use sqlx::{Connection, Row};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use wugan_seal::SealKey;

/// The journal's layout; a file of another format is refused rather than misread.
const FORMAT: &str = "2";
/// The plain-text layout of earlier versions, sealed in place at open.
const FORMAT_PLAIN: &str = "1";

/// Entries committed together at most (a bound on one transaction's size).
const MAX_BATCH: usize = 1_000;

/// A request the center could not record durably: nothing was answered, the outcome is unknown
/// until the center is restarted (it replays what was recorded; the same msgid then answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the insurance center could not record the request in its journal; restart it and retry with the same msgid")]
pub struct Unrecorded;

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A request body as received, the clock reading it ran at, and the reply sent.
    Request { infno: String, msgid: String, body: String, at_unix_ns: i64, response: String },
    /// `InsuranceCenter::set_hospital_grade`.
    HospitalGrade { fixmedins_code: String, grade: u32 },
}

/// What a journal keeps about itself, fixed when the file is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The center's region; a file is never reopened for another.
    pub admdvs: String,
    /// The id serial the first run started from (replay starts there, so ids come out the same).
    pub seq_start: u64,
}

/// How far the journal is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Every entry up to this position is committed.
    Durable(u64),
    /// A write failed; nothing more is recorded.
    Failed,
}

/// How long an open waits for another center on the same file to let go (its writer finishing).
const OWNER_PATIENCE: Duration = Duration::from_secs(2);

/// An opened journal file, read at start-up before the writer starts.
pub struct Opened {
    conn: SqliteConnection,
    /// The owner lock (see `hold_owner_lock`), held until the writer has closed `conn`.
    owner: std::fs::File,
    pub meta: Meta,
    key: SealKey,
}

/// Opens (or creates: folder 0700, file 0600) the journal at `path`, sealed with `key`. `fresh` is
/// the meta of a new file; an existing file keeps its own.
pub async fn open(path: &Path, fresh: Meta, key: SealKey) -> anyhow::Result<Opened> {
    prepare_files(path)?;
    let owner = hold_owner_lock(path, OWNER_PATIENCE).await?;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .locking_mode(SqliteLockingMode::Normal)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(2));
    let mut conn = SqliteConnection::connect_with(&options).await.map_err(|e| locked_or(e, path))?;
    for statement in [
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS journal (pos INTEGER PRIMARY KEY, kind TEXT NOT NULL, infno TEXT NOT NULL, \
         msgid TEXT NOT NULL, at_unix_ns INTEGER NOT NULL, request TEXT NOT NULL, response TEXT NOT NULL)",
    ] {
        sqlx::query(statement).execute(&mut conn).await.map_err(|e| locked_or(e, path))?;
    }
    let meta = meta_or_init(&mut conn, fresh, &key).await?;
    Ok(Opened { conn, owner, meta, key })
}

/// Takes the lock that makes this the file's one center: `flock` on `<path>.lock`, released when
/// the returned file closes. A lock apart from the database itself, because closing any other
/// descriptor of a SQLite file would drop SQLite's own locks on it.
async fn hold_owner_lock(path: &Path, patience: Duration) -> anyhow::Result<std::fs::File> {
    use anyhow::Context;
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = std::path::PathBuf::from(name);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&lock_path).with_context(|| format!("cannot open {}", lock_path.display()))?;
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) if tokio::time::Instant::now() < deadline => {
                // An owner closing (its writer finishing) lets go soon.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            result => break finish_owner_lock(file, result, path, &lock_path),
        }
    }
}

fn finish_owner_lock(
    file: std::fs::File,
    result: Result<(), std::fs::TryLockError>,
    path: &Path,
    lock_path: &Path,
) -> anyhow::Result<std::fs::File> {
    match result {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            anyhow::bail!("{} is in use by another insurance center (one process per journal)", path.display())
        }
        Err(std::fs::TryLockError::Error(e)) => Err(anyhow::Error::new(e).context(format!("cannot lock {}", lock_path.display()))),
    }
}

/// The folder (0700 when this creates it; an existing one is left as it is) and the file (0600).
fn prepare_files(path: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir.filter(|d| !d.exists()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new();
    file.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    file.open(path).with_context(|| format!("cannot open {}", path.display()))?;
    // SQLite gives the -wal and -shm files the database file's mode.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn locked_or(e: sqlx::Error, path: &Path) -> anyhow::Error {
    let busy = matches!(&e, sqlx::Error::Database(d) if d.message().contains("locked") || d.message().contains("busy"));
    if busy {
        anyhow::anyhow!("{} is in use by another insurance center (one process per journal)", path.display())
    } else {
        anyhow::Error::new(e).context(format!("cannot open the insurance journal {}", path.display()))
    }
}

/// Writes the meta of a new file, then reads it back.
async fn meta_or_init(conn: &mut SqliteConnection, fresh: Meta, key: &SealKey) -> anyhow::Result<Meta> {
    let mut tx = conn.begin().await?;
    let rows = [("format", FORMAT.to_string()), ("admdvs", fresh.admdvs), ("seq_start", fresh.seq_start.to_string())];
    for (key, value) in rows {
        sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)").bind(key).bind(value).execute(&mut *tx).await?;
    }
    let read = |key: &'static str| sqlx::query("SELECT value FROM meta WHERE key = ?").bind(key);
    let format: String = read("format").fetch_one(&mut *tx).await?.try_get(0)?;
    let plain = format == FORMAT_PLAIN;
    if plain {
        seal_in_place(&mut tx, key).await?;
    }
    let format: String = read("format").fetch_one(&mut *tx).await?.try_get(0)?;
    anyhow::ensure!(format == FORMAT, "the insurance journal has format {format}; this build reads format {FORMAT}");
    let admdvs: String = read("admdvs").fetch_one(&mut *tx).await?.try_get(0)?;
    let seq_start: String = read("seq_start").fetch_one(&mut *tx).await?.try_get(0)?;
    tx.commit().await?;
    if plain {
        // The plain text is gone from the table; VACUUM rewrites the file without its old pages.
        sqlx::query("VACUUM").execute(&mut *conn).await?;
        tracing::info!("the insurance journal was sealed (format 1 → 2)");
    }
    let seq_start = seq_start.parse().map_err(|_| anyhow::anyhow!("the insurance journal's seq_start '{seq_start}' is not a number"))?;
    Ok(Meta { admdvs, seq_start })
}

/// Format 1 → 2: every request and reply sealed, in the transaction that opens the file.
async fn seal_in_place(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, key: &SealKey) -> anyhow::Result<()> {
    let rows = sqlx::query("SELECT pos, request, response FROM journal ORDER BY pos").fetch_all(&mut **tx).await?;
    for row in rows {
        let (pos, request, response): (i64, String, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        sqlx::query("UPDATE journal SET request = ?, response = ? WHERE pos = ?")
            .bind(key.seal(&request)?)
            .bind(key.seal(&response)?)
            .bind(pos)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("UPDATE meta SET value = ? WHERE key = 'format'").bind(FORMAT).execute(&mut **tx).await?;
    Ok(())
}

impl Opened {
    /// Up to `limit` entries after position `after`, in order.
    pub async fn page(&mut self, after: u64, limit: u32) -> anyhow::Result<Vec<(u64, Entry)>> {
        let rows =
            sqlx::query("SELECT pos, kind, infno, msgid, at_unix_ns, request, response FROM journal WHERE pos > ? ORDER BY pos LIMIT ?")
                .bind(i64::try_from(after)?)
                .bind(limit)
                .fetch_all(&mut self.conn)
                .await?;
        rows.iter().map(|row| entry_of(row, &self.key)).collect()
    }

    /// Starts the writer; `last` is the position of the last entry on file.
    pub fn start(self, last: u64) -> Journal {
        let (queue, pending) = mpsc::unbounded_channel();
        let (progress, durable) = watch::channel(Progress::Durable(last));
        let owner = self.owner;
        tokio::spawn(async move {
            write_loop(self.conn, pending, progress, self.key).await;
            drop(owner);
        });
        Journal { queue, appended: AtomicU64::new(last), durable }
    }
}

fn entry_of(row: &sqlx::sqlite::SqliteRow, key: &SealKey) -> anyhow::Result<(u64, Entry)> {
    let pos: i64 = row.try_get("pos")?;
    let kind: String = row.try_get("kind")?;
    let open = |column: &str| -> anyhow::Result<String> {
        let sealed: String = row.try_get(column)?;
        key.open(&sealed).map_err(|e| anyhow::anyhow!("journal entry {pos}: {column}: {e}"))
    };
    let request = open("request")?;
    let entry = match kind.as_str() {
        "request" => Entry::Request {
            infno: row.try_get("infno")?,
            msgid: row.try_get("msgid")?,
            body: request,
            at_unix_ns: row.try_get("at_unix_ns")?,
            response: open("response")?,
        },
        "hospital_grade" => {
            let value: serde_json::Value = serde_json::from_str(&request)?;
            let code = value["fixmedins_code"].as_str().unwrap_or_default().to_string();
            let grade = value["grade"].as_u64().and_then(|g| u32::try_from(g).ok());
            let grade = grade.ok_or_else(|| anyhow::anyhow!("journal entry {pos}: hospital grade is not a number"))?;
            Entry::HospitalGrade { fixmedins_code: code, grade }
        }
        other => anyhow::bail!("journal entry {pos} has an unknown kind '{other}'"),
    };
    Ok((u64::try_from(pos)?, entry))
}

/// The running journal: append under the center's lock, then wait for `flushed` before replying.
pub struct Journal {
    queue: mpsc::UnboundedSender<(u64, Entry)>,
    /// Position of the last entry appended (under the center's lock).
    appended: AtomicU64,
    durable: watch::Receiver<Progress>,
}

impl Journal {
    /// Queues an entry. Call it under the center's lock, so positions follow the state's changes.
    pub fn append(&self, entry: Entry) {
        let pos = self.appended.fetch_add(1, Ordering::SeqCst) + 1;
        // A writer that has stopped has published `Failed` (or is gone): `flushed` reports it.
        let _ = self.queue.send((pos, entry));
    }

    /// True once a write has failed: the center refuses everything until restarted.
    pub fn failed(&self) -> bool {
        *self.durable.borrow() == Progress::Failed
    }

    /// Waits until every entry appended so far is on disk.
    pub async fn flushed(&self) -> Result<(), Unrecorded> {
        let target = self.appended.load(Ordering::SeqCst);
        let mut durable = self.durable.clone();
        loop {
            let progress = *durable.borrow_and_update();
            match progress {
                Progress::Durable(at) if at >= target => return Ok(()),
                Progress::Durable(_) => {}
                Progress::Failed => return Err(Unrecorded),
            }
            durable.changed().await.map_err(|_| Unrecorded)?;
        }
    }
}

/// The one writer: commits what has queued, in order, and publishes the durable position. Ends
/// when the center is dropped (closing the file and its lock) or after a failed write.
async fn write_loop(
    mut conn: SqliteConnection,
    mut pending: mpsc::UnboundedReceiver<(u64, Entry)>,
    progress: watch::Sender<Progress>,
    key: SealKey,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let last = batch.last().map_or(0, |(pos, _)| *pos);
        if let Err(e) = write_batch(&mut conn, &batch, &key).await {
            tracing::error!(error = %e, "the insurance journal cannot be written: refusing every request until restarted");
            progress.send_replace(Progress::Failed);
            return;
        }
        progress.send_replace(Progress::Durable(last));
        batch.clear();
    }
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the insurance journal");
    }
}

async fn write_batch(conn: &mut SqliteConnection, batch: &[(u64, Entry)], key: &SealKey) -> anyhow::Result<()> {
    let mut tx = conn.begin().await?;
    for (pos, entry) in batch {
        let pos = i64::try_from(*pos).unwrap_or(i64::MAX);
        let insert =
            sqlx::query("INSERT INTO journal (pos, kind, infno, msgid, at_unix_ns, request, response) VALUES (?, ?, ?, ?, ?, ?, ?)")
                .bind(pos);
        let insert = match entry {
            Entry::Request { infno, msgid, body, at_unix_ns, response } => {
                insert.bind("request").bind(infno).bind(msgid).bind(*at_unix_ns).bind(key.seal(body)?).bind(key.seal(response)?)
            }
            Entry::HospitalGrade { fixmedins_code, grade } => {
                let request = json!({"fixmedins_code": fixmedins_code, "grade": grade}).to_string();
                insert.bind("hospital_grade").bind("").bind("").bind(0i64).bind(key.seal(&request)?).bind(key.seal("")?)
            }
        };
        insert.execute(&mut *tx).await?;
    }
    Ok(tx.commit().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32) -> Entry {
        Entry::HospitalGrade { fixmedins_code: format!("H{n}"), grade: 1 }
    }

    fn key() -> SealKey {
        SealKey::from_hex(&"07".repeat(32)).expect("a key")
    }

    async fn opened(label: &str) -> (Opened, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("wugan-journal-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let meta = Meta { admdvs: "440300".into(), seq_start: 7 };
        (open(&dir.join("j.db"), meta, key()).await.expect("opens"), dir)
    }

    /// Reopens, retrying while the previous writer is still closing the file (and its lock).
    async fn reopen(path: &Path, key: SealKey) -> Opened {
        for _ in 0..20 {
            if let Ok(opened) = open(path, Meta { admdvs: "440300".into(), seq_start: 99 }, key.clone()).await {
                return opened;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the journal does not reopen")
    }

    #[tokio::test]
    async fn requests_are_sealed_and_a_plain_journal_is_sealed_when_opened() {
        let (opened, dir) = opened("sealed").await;
        let journal = opened.start(0);
        let request = |n: u32| Entry::Request {
            infno: "1101".into(),
            msgid: format!("M{n}"),
            body: format!(r#"{{"certno":"44030119900101123{n}"}}"#),
            at_unix_ns: 1,
            response: r#"{"psn_name":"张三"}"#.into(),
        };
        journal.append(request(1));
        journal.flushed().await.expect("on disk");
        drop(journal);
        let mut again = reopen(&dir.join("j.db"), key()).await;
        let raw: Vec<(String, String)> =
            sqlx::query_as("SELECT request, response FROM journal").fetch_all(&mut again.conn).await.expect("reads");
        assert!(raw.iter().all(|(q, r)| SealKey::is_sealed(q) && SealKey::is_sealed(r) && !q.contains("440301")), "{raw:?}");
        assert_eq!(again.page(0, 10).await.expect("opens"), vec![(1, request(1))]);
        // A journal of format 1 kept plain text: it is sealed in place on its next opening.
        sqlx::query("UPDATE journal SET request = ?, response = ?")
            .bind(r#"{"certno":"440301199001011231"}"#)
            .bind(r#"{"psn_name":"张三"}"#)
            .execute(&mut again.conn)
            .await
            .expect("written plain");
        sqlx::query("UPDATE meta SET value = '1' WHERE key = 'format'").execute(&mut again.conn).await.expect("format 1");
        drop(again);
        let mut sealed = reopen(&dir.join("j.db"), key()).await;
        assert_eq!(sealed.page(0, 10).await.expect("opens"), vec![(1, request(1))]);
        let raw: Vec<(String,)> = sqlx::query_as("SELECT request FROM journal").fetch_all(&mut sealed.conn).await.expect("reads");
        assert!(SealKey::is_sealed(&raw[0].0), "{raw:?}");
        // Another key opens nothing.
        drop(sealed);
        let other = SealKey::from_hex(&"08".repeat(32)).expect("a key");
        assert!(reopen(&dir.join("j.db"), other).await.page(0, 10).await.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn entries_come_back_in_order_and_the_meta_of_the_first_open_stays() {
        let (opened, dir) = opened("order").await;
        let journal = opened.start(0);
        for n in 1..=3 {
            journal.append(entry(n));
        }
        journal.flushed().await.expect("on disk");
        drop(journal);
        // The writer closes the file as it ends, and the lock goes with it.
        let mut again = reopen(&dir.join("j.db"), key()).await;
        assert_eq!(again.meta.seq_start, 7);
        let read = again.page(1, 10).await.expect("reads");
        assert_eq!(read, vec![(2, entry(2)), (3, entry(3))]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_failed_write_stops_the_journal_for_good() {
        let (mut opened, dir) = opened("failed").await;
        sqlx::query("DROP TABLE journal").execute(&mut opened.conn).await.expect("dropped");
        let journal = opened.start(0);
        journal.append(entry(1));
        assert_eq!(journal.flushed().await, Err(Unrecorded));
        assert!(journal.failed());
        journal.append(entry(2));
        assert_eq!(journal.flushed().await, Err(Unrecorded), "nothing is recorded after a failure");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
