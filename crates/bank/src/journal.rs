//! The bank's journal: every command that changed the book, in the order applied, with the time it
//! was applied at, the answer it gave and the signature it came with, in embedded SQLite. The book
//! is rebuilt at start-up by replaying the journal through [`BankBook::apply`], the same code that
//! applied it live, and every replayed answer is checked against the one that was given: a bank
//! that would answer differently after a restart refuses to start instead.
//!
//! Durability: WAL with `synchronous=FULL`, so a commit is on disk (the WAL is fsynced) before the
//! bank answers; the hub acts on the bank's answers (a hold approved, a capture made) and may never
//! ask again, so an answer a power cut could take back is not an answer. A commit is atomic: a
//! write torn by a crash is a transaction SQLite never committed, dropped when the file is next
//! opened, and its request was never answered. One bank per file: the journal holds an OS lock
//! (`flock`) on `<file>.lock` while open, and a second bank (in this process or another) is refused.
//! SQLite's own locking stays normal, so another process may read the file meanwhile (`wugan backup`
//! copies it with `VACUUM INTO` while the bank serves); only this bank writes it.
//!
//! Layout (`PRAGMA user_version` = [`FORMAT`]): one table, `journal(seq, applied_at_unix_s,
//! command, answer, key_id, nonce, signed_at_unix_s)`; `seq` counts 1, 2, 3, … without gaps,
//! `command` and `answer` are JSON ([`Command`], [`answer_text`]) sealed with the bank's key
//! (`wugan_seal`): an agreement's command names its holder and card number. A journal of format 1
//! (plain JSON) is sealed in place when first opened, then vacuumed.

use crate::book::{answer_text, BankBook, BookConfig, BookError, Command, Reply};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteLockingMode, SqliteSynchronous};
use sqlx::{Connection, Row, SqliteConnection};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use wugan_seal::SealKey;

/// How long an open waits for another bank on the same file to let go (as SQLite's busy timeout did).
const OWNER_PATIENCE: Duration = Duration::from_millis(500);

/// The journal's layout version, kept in `PRAGMA user_version`.
pub const FORMAT: i64 = 2;
/// The plain-JSON layout of earlier versions, sealed in place at open.
const FORMAT_PLAIN: i64 = 1;
/// Entries read per query at start-up: bounds the memory a replay holds at once.
const REPLAY_PAGE_ENTRIES: i64 = 4_096;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY NOT NULL,
    applied_at_unix_s INTEGER NOT NULL,
    command TEXT NOT NULL,
    answer TEXT NOT NULL,
    key_id TEXT,
    nonce TEXT,
    signed_at_unix_s INTEGER
) STRICT";

/// Who signed a request: the key id (request ids are scoped to it), and the nonce and time of the
/// signature, kept with a journaled request so that a restarted bank still refuses its replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub key_id: String,
    pub nonce: String,
    pub signed_at_unix_s: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot prepare {path}")]
    File { path: PathBuf, source: std::io::Error },
    #[error("cannot open {path} (is another bank using it?)")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("{path} is in use by another bank (one bank per journal)")]
    InUse { path: PathBuf },
    #[error("{path} has journal format {found}; this bank reads format {FORMAT}")]
    Format { path: PathBuf, found: i64 },
    #[error("the bank's journal: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("journal entry {seq} cannot be read: {reason}")]
    Unreadable { seq: i64, reason: String },
    #[error("journal entry {seq} cannot be written: {reason}")]
    Unwritable { seq: i64, reason: String },
    #[error("journal entry {seq} follows entry {previous}: entries are missing")]
    Gap { seq: i64, previous: i64 },
    #[error("journal entry {seq} now answers {replayed}, but answered {recorded}: this bank would not restart where it stopped")]
    Diverged { seq: i64, recorded: String, replayed: String },
}

/// The book as the journal left it.
pub struct Replayed {
    pub book: BankBook,
    /// Entries replayed.
    pub entries: i64,
    /// (key id, nonce) of the journaled requests signed at or after the cutoff.
    pub recent_nonces: HashSet<(String, String)>,
}

/// An open journal: the one connection, and the sequence number the next entry gets.
pub struct Journal {
    conn: SqliteConnection,
    next_seq: i64,
    key: SealKey,
    /// The owner lock (see `hold_owner_lock`); after `conn`, so it is released last.
    _owner: std::fs::File,
}

impl Journal {
    /// Opens (creating if missing) the journal at `path`: the folder is created mode 0700, the
    /// file is mode 0600; entries are sealed with `key`. Call [`Journal::replay`] before appending.
    pub async fn open(path: &Path, key: SealKey) -> Result<Journal, JournalError> {
        prepare_private_file(path).map_err(|source| JournalError::File { path: path.to_path_buf(), source })?;
        let owner = hold_owner_lock(path, OWNER_PATIENCE).await?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .locking_mode(SqliteLockingMode::Normal)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_millis(500));
        let open_error = |source| JournalError::Open { path: path.to_path_buf(), source };
        let mut conn = SqliteConnection::connect_with(&options).await.map_err(open_error)?;
        let found: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut conn).await.map_err(open_error)?;
        match found {
            0 => {
                sqlx::query(SCHEMA).execute(&mut conn).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA user_version = {FORMAT}"))).execute(&mut conn).await?;
            }
            FORMAT => {}
            FORMAT_PLAIN => seal_in_place(&mut conn, &key).await?,
            found => return Err(JournalError::Format { path: path.to_path_buf(), found }),
        }
        Ok(Journal { conn, next_seq: 1, key, _owner: owner })
    }

    /// Rebuilds the book from the first entry to the last, checking every answer. Nonces of
    /// requests signed at or after `nonce_cutoff_unix_s` are collected.
    pub async fn replay(&mut self, nonce_cutoff_unix_s: i64) -> Result<Replayed, JournalError> {
        let mut replayed = Replayed { book: BankBook::new(BookConfig::default()), entries: 0, recent_nonces: HashSet::new() };
        loop {
            let rows = sqlx::query(
                "SELECT seq, applied_at_unix_s, command, answer, key_id, nonce, signed_at_unix_s
                 FROM journal WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .bind(replayed.entries)
            .bind(REPLAY_PAGE_ENTRIES)
            .fetch_all(&mut self.conn)
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let entry = Entry::read(&row, &self.key)?;
                if entry.seq != replayed.entries + 1 {
                    return Err(JournalError::Gap { seq: entry.seq, previous: replayed.entries });
                }
                entry.replay_into(&mut replayed.book)?;
                if let Some(signature) = entry.signature.filter(|s| s.signed_at_unix_s >= nonce_cutoff_unix_s) {
                    replayed.recent_nonces.insert((signature.key_id, signature.nonce));
                }
                replayed.entries = entry.seq;
            }
        }
        self.next_seq = replayed.entries + 1;
        Ok(replayed)
    }

    /// Appends one entry and returns once it is on disk. On an error nothing was appended.
    pub async fn append(
        &mut self,
        applied_at_unix_s: i64,
        command: &Command,
        answer: &Result<Option<Reply>, BookError>,
        signature: Option<&Signature>,
    ) -> Result<(), JournalError> {
        let unwritable = |reason: String| JournalError::Unwritable { seq: self.next_seq, reason };
        let command_text = serde_json::to_string(command).map_err(|e| unwritable(e.to_string()))?;
        let command_text = self.key.seal(&command_text).map_err(|e| unwritable(e.to_string()))?;
        let answer = self.key.seal(&answer_text(answer)).map_err(|e| unwritable(e.to_string()))?;
        sqlx::query(
            "INSERT INTO journal (seq, applied_at_unix_s, command, answer, key_id, nonce, signed_at_unix_s)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(self.next_seq)
        .bind(applied_at_unix_s)
        .bind(command_text)
        .bind(answer)
        .bind(signature.map(|s| s.key_id.clone()))
        .bind(signature.map(|s| s.nonce.clone()))
        .bind(signature.map(|s| s.signed_at_unix_s))
        .execute(&mut self.conn)
        .await?;
        self.next_seq += 1;
        Ok(())
    }

    /// The number of entries (after a replay, and every append since).
    pub fn len(&self) -> i64 {
        self.next_seq - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes the file cleanly: the WAL is checkpointed into it and removed.
    pub async fn close(self) -> Result<(), JournalError> {
        Ok(self.conn.close().await?)
    }

    /// Runs a statement on the journal's own connection (a damaged journal, a conflicting row).
    #[cfg(test)]
    pub(crate) async fn execute_raw(&mut self, sql: &'static str) -> Result<(), JournalError> {
        sqlx::query(sql).execute(&mut self.conn).await?;
        Ok(())
    }

    /// Writes an unsigned entry at `seq` behind the bank's back, sealed as the journal seals.
    #[cfg(test)]
    pub(crate) async fn insert_raw(&mut self, seq: i64, at_unix_s: i64, command: &str, answer: &str) -> Result<(), JournalError> {
        let seal = |text: &str| self.key.seal(text).map_err(|e| JournalError::Unwritable { seq, reason: e.to_string() });
        sqlx::query("INSERT INTO journal (seq, applied_at_unix_s, command, answer) VALUES (?1, ?2, ?3, ?4)")
            .bind(seq)
            .bind(at_unix_s)
            .bind(seal(command)?)
            .bind(seal(answer)?)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }
}

/// One stored entry.
struct Entry {
    seq: i64,
    applied_at_unix_s: i64,
    command: Command,
    answer: String,
    signature: Option<Signature>,
}

impl Entry {
    fn read(row: &sqlx::sqlite::SqliteRow, key: &SealKey) -> Result<Entry, JournalError> {
        let seq: i64 = row.try_get("seq")?;
        let unreadable = |reason: String| JournalError::Unreadable { seq, reason };
        let open = |column: &str| -> Result<String, JournalError> {
            let sealed: String = row.try_get(column)?;
            key.open(&sealed).map_err(|e| unreadable(format!("{column}: {e}")))
        };
        let command_text = open("command")?;
        // The command names its holder: an error shows the reason only.
        let command = serde_json::from_str(&command_text).map_err(|e| unreadable(e.to_string()))?;
        let key_id: Option<String> = row.try_get("key_id")?;
        let nonce: Option<String> = row.try_get("nonce")?;
        let signed_at_unix_s: Option<i64> = row.try_get("signed_at_unix_s")?;
        let signature = match (key_id, nonce, signed_at_unix_s) {
            (Some(key_id), Some(nonce), Some(signed_at_unix_s)) => Some(Signature { key_id, nonce, signed_at_unix_s }),
            (None, None, None) => None,
            _ => return Err(unreadable("a partial signature".to_string())),
        };
        Ok(Entry { seq, applied_at_unix_s: row.try_get("applied_at_unix_s")?, command, answer: open("answer")?, signature })
    }

    /// Applies the entry as it was applied live, and checks it answers as it answered then.
    fn replay_into(&self, book: &mut BankBook) -> Result<(), JournalError> {
        let replayed = answer_text(&book.apply(&self.command, self.applied_at_unix_s).answer);
        if replayed != self.answer {
            return Err(JournalError::Diverged { seq: self.seq, recorded: self.answer.clone(), replayed });
        }
        Ok(())
    }
}

/// Format 1 → 2: every command and answer sealed in one transaction, then the file vacuumed so
/// that no page keeps the plain text.
async fn seal_in_place(conn: &mut SqliteConnection, key: &SealKey) -> Result<(), JournalError> {
    let mut tx = conn.begin().await?;
    let rows = sqlx::query("SELECT seq, command, answer FROM journal ORDER BY seq").fetch_all(&mut *tx).await?;
    for row in rows {
        let (seq, command, answer): (i64, String, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let seal = |text: &str| key.seal(text).map_err(|e| JournalError::Unwritable { seq, reason: e.to_string() });
        sqlx::query("UPDATE journal SET command = ?1, answer = ?2 WHERE seq = ?3")
            .bind(seal(&command)?)
            .bind(seal(&answer)?)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA user_version = {FORMAT}"))).execute(&mut *tx).await?;
    tx.commit().await?;
    sqlx::query("VACUUM").execute(&mut *conn).await?;
    tracing::info!("the bank's journal was sealed (format 1 → 2)");
    Ok(())
}

/// Creates the folder (mode 0700) if missing, and the file (mode 0600) before SQLite does, so that
/// it is never readable by others, not even for a moment; an existing file is set to 0600. SQLite
/// gives its WAL file the database file's mode. An existing folder is left as it is.
/// Takes the lock that makes this the file's one bank: `flock` on `<path>.lock`, released when the
/// returned file closes (with the journal, or the process). A lock apart from the database itself,
/// because closing any other descriptor of a SQLite file would drop SQLite's own locks on it.
async fn hold_owner_lock(path: &Path, patience: Duration) -> Result<std::fs::File, JournalError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&lock_path).map_err(|source| JournalError::File { path: lock_path.clone(), source })?;
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
) -> Result<std::fs::File, JournalError> {
    match result {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::InUse { path: path.to_path_buf() }),
        Err(std::fs::TryLockError::Error(source)) => Err(JournalError::File { path: lock_path.to_path_buf(), source }),
    }
}

fn prepare_private_file(path: &Path) -> std::io::Result<()> {
    if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty() && !f.exists()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(folder)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    drop(file);
    Ok(())
}
