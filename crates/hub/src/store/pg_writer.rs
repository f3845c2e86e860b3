//! Group commit on PostgreSQL (`WUGAN_PG_WRITES=batched`): the SQLite writer's batching (see
//! `writer`) on one PostgreSQL connection, as an async task. Each job runs inside a `SAVEPOINT` of
//! the batch's transaction (a job that fails is rolled back alone), the jobs already queued join it
//! (at most `MAX_BATCH_JOBS`, none after `MAX_BATCH_WAIT`), and the batch commits once: one WAL
//! flush for all of them, and every job answered only after that commit.
//!
//! Why it is not the default (`pooled`: each job a transaction of its own on the pool): with
//! several hubs on one database, two hubs' batches can each hold a lock the other's next job
//! wants; PostgreSQL then aborts one of those jobs (a deadlock), which the caller sees as a failed
//! write (the click resumes by recovery; nothing is half written). One hub per database has no
//! such cycle: its jobs run one at a time. Measured figures for both are in ARCHITECTURE.md.

use super::db::Conn;
use super::writer::{answer_batch, Answer, Job, WriterStats, MAX_BATCH_JOBS, MAX_BATCH_WAIT};
use sqlx::AnyPool;
use sqlx::AssertSqlSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// How the hub writes to PostgreSQL. SQLite always batches through its one writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgWrites {
    /// Each write job a transaction of its own on the pool, concurrently; row locks order them.
    Pooled,
    /// Group commit through one connection (this module).
    Batched,
}

impl PgWrites {
    /// `WUGAN_PG_WRITES`: `pooled` (the default) or `batched`; anything else is refused, so that a
    /// misspelt setting is not silently the other mode.
    pub fn from_env() -> Result<PgWrites, String> {
        PgWrites::parse(std::env::var("WUGAN_PG_WRITES").ok().as_deref())
    }

    /// The setting's word, as `WUGAN_PG_WRITES` takes it.
    pub fn label(self) -> &'static str {
        match self {
            PgWrites::Pooled => "pooled",
            PgWrites::Batched => "batched",
        }
    }

    fn parse(setting: Option<&str>) -> Result<PgWrites, String> {
        match setting.map(str::trim) {
            None | Some("") | Some("pooled") => Ok(PgWrites::Pooled),
            Some("batched") => Ok(PgWrites::Batched),
            Some(other) => Err(format!("WUGAN_PG_WRITES is {other:?}: say pooled or batched")),
        }
    }
}

/// The writer's loop: a batch at a time, each job answered once its batch's fate is known.
pub(super) async fn run(pool: AnyPool, mut queue: mpsc::Receiver<Job>, stats: Arc<WriterStats>) {
    while let Some(first) = queue.recv().await {
        let mut answers = Vec::new();
        // On an error the transaction was dropped, which rolls it back.
        let committed = batch(&pool, first, &mut queue, &mut answers, &stats).await;
        answer_batch(committed, answers, &stats);
    }
}

/// `first` and the jobs queued behind it in one transaction. On an error the transaction is
/// dropped (rolled back) and every job of the batch is answered with it; a job whose answer is not
/// in `answers` yet (the one that could not start) is dropped, which its caller reads as failed.
async fn batch(
    pool: &AnyPool,
    first: Job,
    queue: &mut mpsc::Receiver<Job>,
    answers: &mut Vec<Answer>,
    stats: &WriterStats,
) -> Result<(), sqlx::Error> {
    let started = Instant::now();
    let mut conn = Conn::Pg(pool.begin().await?);
    control(&mut conn, "SAVEPOINT job").await?;
    let mut next = Some(first);
    while let Some(job) = next.take() {
        let (ok, answer) = job(&mut conn).await;
        answers.push(answer);
        if answers.len() < MAX_BATCH_JOBS && started.elapsed() < MAX_BATCH_WAIT {
            next = queue.try_recv().ok();
        }
        if !ok {
            stats.failed_jobs.fetch_add(1, Ordering::Relaxed);
        }
        // One round trip between two jobs (the simple protocol takes several statements).
        let between = match (ok, next.is_some()) {
            (true, true) => "RELEASE job; SAVEPOINT job",
            (false, true) => "ROLLBACK TO job; RELEASE job; SAVEPOINT job",
            (true, false) => "RELEASE job",
            (false, false) => "ROLLBACK TO job; RELEASE job",
        };
        control(&mut conn, between).await?;
    }
    let Conn::Pg(tx) = conn else { unreachable!("the PostgreSQL writer holds a PostgreSQL transaction") };
    tx.commit().await
}

async fn control(conn: &mut Conn, statements: &'static str) -> Result<(), sqlx::Error> {
    let Conn::Pg(tx) = conn else { unreachable!("the PostgreSQL writer holds a PostgreSQL transaction") };
    sqlx::raw_sql(AssertSqlSafe(statements)).execute(&mut **tx).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::PgWrites;

    #[test]
    fn the_setting_is_one_of_two_words() {
        for (value, expected) in [
            (None, PgWrites::Pooled),
            (Some(""), PgWrites::Pooled),
            (Some("pooled"), PgWrites::Pooled),
            (Some(" batched"), PgWrites::Batched),
        ] {
            assert_eq!(PgWrites::parse(value), Ok(expected), "{value:?}");
        }
        assert!(PgWrites::parse(Some("batch")).unwrap_err().contains("pooled or batched"));
    }
}
