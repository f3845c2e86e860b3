//! Group commit on SQLite: one task owns the one write connection and commits many callers' writes
//! in one transaction, answering each caller only once that transaction is on disk.
//!
//! The writer is a thread of its own that owns the connection (rusqlite, see `db`) and runs every
//! statement in place: no hand-off to another thread per statement, only one per job (the job in,
//! its answer out), and a batch's jobs run back to back without waking anyone.
//!
//! A caller hands a *job* (an async closure over the connection) to `Writer::submit` and waits.
//! The writer takes the first job as soon as one is queued (it never sleeps while work waits),
//! opens `BEGIN IMMEDIATE`, runs each job inside a `SAVEPOINT` (a job that fails is rolled back
//! alone, the others stand), keeps taking the jobs already queued — at most `MAX_BATCH_JOBS`, and
//! none after `MAX_BATCH_WAIT` from the batch's start — then commits once. With
//! `synchronous=FULL` in WAL mode that commit is one flush of the WAL, shared by the whole batch.
//! Only then is every job answered: nothing is acknowledged before it is durable. If the commit
//! fails, every job of the batch is answered with that failure (none of them happened).
//!
//! Architecture Invariant: every write to the hub's SQLite database goes through this writer
//! (`Store::write`); the read pool only reads.

use super::db::Conn;
use super::{StoreError, StoreResult};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Jobs in one batch at most: bounds the work a commit waits for, and so a caller's latency.
pub const MAX_BATCH_JOBS: usize = 256;
/// After this long since a batch began, no more jobs join it: it commits with what it has.
pub const MAX_BATCH_WAIT: Duration = Duration::from_millis(2);
/// Jobs waiting for the writer at most; a caller beyond that waits to enqueue (back-pressure).
const QUEUE_CAPACITY: usize = 4 * MAX_BATCH_JOBS;

/// A job's future, borrowing the write connection for its run.
pub type WriteFuture<'c, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'c>>;

/// Answers a job's caller once the batch's fate is known (`Err`: the commit failed).
pub(super) type Answer = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A job as the writer runs it: whether it succeeded (so its savepoint is kept), and its answer.
pub(super) type Job = Box<dyn for<'c> FnOnce(&'c mut Conn) -> Pin<Box<dyn Future<Output = (bool, Answer)> + Send + 'c>> + Send>;

/// Counts since start, for `wugan bench` and tests.
#[derive(Default, Debug)]
pub struct WriterStats {
    pub jobs: AtomicU64,
    pub batches: AtomicU64,
    pub failed_jobs: AtomicU64,
    /// Batches whose commit failed (everything they wrote undone): what a job remembered of the
    /// database from before such a failure may be gone (`audit`'s chain head).
    pub failed_batches: AtomicU64,
}

pub struct Writer {
    pub(super) jobs: mpsc::Sender<Job>,
    pub stats: Arc<WriterStats>,
}

impl Writer {
    /// Starts the writer thread on `conn`, which it owns from now on. The thread ends when the
    /// last `Writer` handle is gone and the queue is drained.
    pub fn start(conn: rusqlite::Connection) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        let stats = Arc::new(WriterStats::default());
        let counts = stats.clone();
        std::thread::Builder::new().name("wugan-writer".into()).spawn(move || run(Conn::Lite(conn), queue, counts))?;
        Ok(Writer { jobs, stats })
    }

    /// Starts the PostgreSQL writer (`pg_writer`, `WUGAN_PG_WRITES=batched`) on a connection of
    /// `pool`, a task on the current runtime; it ends like the SQLite writer.
    pub fn start_pg(pool: sqlx::AnyPool) -> Writer {
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        let stats = Arc::new(WriterStats::default());
        tokio::spawn(super::pg_writer::run(pool, queue, stats.clone()));
        Writer { jobs, stats }
    }

    /// Runs `job` in the next batch and answers once that batch is committed. A caller that stops
    /// waiting does not stop its job: once queued, it runs (and commits) like the others.
    pub async fn submit<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> WriteFuture<'c, T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<StoreResult<T>>();
        self.jobs.send(wrap(job, reply)).await.map_err(|_| StoreError::NotCommitted("the writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::NotCommitted("the batch was abandoned".into()))?
    }
}

/// The caller's job, with its reply deferred until the batch's commit.
fn wrap<T, F>(job: F, reply: oneshot::Sender<StoreResult<T>>) -> Job
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut Conn) -> WriteFuture<'c, T> + Send + 'static,
{
    Box::new(move |conn: &mut Conn| {
        Box::pin(async move {
            let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(conn))) {
                Ok(future) => unwinding(future).await,
                Err(_) => Err(panicked()),
            };
            let ok = result.is_ok();
            let answer: Answer = Box::new(move |commit: Result<(), String>| {
                let outcome = match (result, commit) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Ok(_), Err(e)) => Err(StoreError::NotCommitted(e)),
                    (Err(e), _) => Err(e),
                };
                // The caller may have stopped waiting: its write stands all the same.
                let _ = reply.send(outcome);
            });
            (ok, answer)
        }) as Pin<Box<dyn Future<Output = (bool, Answer)> + Send + '_>>
    })
}

/// The job's future, a panic in it read as the job's failure: its savepoint is rolled back like
/// any failed job's, and the writer (every later write) goes on.
async fn unwinding<T>(mut job: WriteFuture<'_, T>) -> StoreResult<T> {
    std::future::poll_fn(move |cx| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.as_mut().poll(cx)))
            .unwrap_or_else(|_| std::task::Poll::Ready(Err(panicked())))
    })
    .await
}

fn panicked() -> StoreError {
    StoreError::NotCommitted("the write failed on a bug (a panic) and was undone".into())
}

fn run(mut conn: Conn, mut queue: mpsc::Receiver<Job>, stats: Arc<WriterStats>) {
    while let Some(first) = queue.blocking_recv() {
        let mut answers: Vec<Answer> = Vec::new();
        let committed = batch(&mut conn, first, &mut queue, &mut answers, &stats);
        if committed.is_err() {
            // Whatever the batch left open is undone, so that the next batch starts clean.
            let _ = lite(&conn).execute_batch("ROLLBACK");
        }
        answer_batch(committed, answers, &stats);
    }
}

/// Counts a batch and answers each of its jobs with its fate (the same for SQLite's writer and
/// PostgreSQL's, `pg_writer`).
pub(super) fn answer_batch<E: std::fmt::Display>(committed: Result<(), E>, answers: Vec<Answer>, stats: &WriterStats) {
    let committed = committed.map_err(|e| {
        stats.failed_batches.fetch_add(1, Ordering::SeqCst);
        tracing::error!(error = %e, jobs = answers.len(), "a write batch could not be committed");
        e.to_string()
    });
    stats.batches.fetch_add(1, Ordering::Relaxed);
    stats.jobs.fetch_add(answers.len() as u64, Ordering::Relaxed);
    for answer in answers {
        answer(committed.clone());
    }
}

fn lite(conn: &Conn) -> &rusqlite::Connection {
    match conn {
        Conn::Lite(c) => c,
        Conn::Pg(_) => unreachable!("the writer runs on SQLite only"),
    }
}

/// Runs `first` and the jobs queued behind it in one transaction; their answers go to `answers`.
/// A job whose answer is not there when this fails is dropped, which its caller reads as failed.
fn batch(
    conn: &mut Conn,
    first: Job,
    queue: &mut mpsc::Receiver<Job>,
    answers: &mut Vec<Answer>,
    stats: &WriterStats,
) -> rusqlite::Result<()> {
    let started = Instant::now();
    control(conn, &["BEGIN IMMEDIATE", "SAVEPOINT job"])?;
    let mut next = Some(first);
    while let Some(job) = next.take() {
        let (ok, answer) = block_on(job(&mut *conn));
        answers.push(answer);
        if answers.len() < MAX_BATCH_JOBS && started.elapsed() < MAX_BATCH_WAIT {
            next = queue.try_recv().ok();
        }
        if !ok {
            stats.failed_jobs.fetch_add(1, Ordering::Relaxed);
        }
        let between: &[&str] = match (ok, next.is_some()) {
            (true, true) => &["RELEASE job", "SAVEPOINT job"],
            (false, true) => &["ROLLBACK TO job", "RELEASE job", "SAVEPOINT job"],
            (true, false) => &["RELEASE job", "COMMIT"],
            (false, false) => &["ROLLBACK TO job", "RELEASE job", "COMMIT"],
        };
        control(conn, between)?;
    }
    Ok(())
}

/// Transaction control, each statement prepared once: two of them run around every job, and
/// parsing them afresh (`execute_batch`) cost the writer a tenth of its time.
fn control(conn: &Conn, statements: &[&str]) -> rusqlite::Result<()> {
    statements.iter().try_for_each(|sql| lite(conn).prepare_cached(sql)?.execute([]).map(drop))
}

/// Runs a job's future to its end on this thread. On SQLite every statement completes in place, so
/// a job is ready at its first poll; the parking is for a job that awaits something else.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use crate::store::db::{query, Conn};
    use crate::store::{Store, StoreError, StoreResult};

    async fn add_hospital(c: &mut Conn, code: &str, then_fail: bool) -> StoreResult<()> {
        query("INSERT INTO hospitals (code, name, created_at) VALUES ($1, $1, '2026-01-01T00:00:00Z')").bind(code).execute(&mut *c).await?;
        if then_fail {
            return Err(StoreError::Conflict(format!("{code} changed its mind")));
        }
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_job_is_undone_alone_and_the_others_of_its_batch_stand() {
        let (store, dir) = Store::in_fresh_folder("writer-test").await;
        let jobs = (0..64).map(|i| {
            let (code, fail) = (format!("H{i:02}"), i % 3 == 0);
            store.write(move |c| Box::pin(async move { add_hospital(c, &code, fail).await }))
        });
        let results = futures_join_all(jobs).await;
        for (i, result) in results.iter().enumerate() {
            assert_eq!(result.is_ok(), i % 3 != 0, "job {i}: {result:?}");
            assert_eq!(store.hospital_exists(&format!("H{i:02}")).await.unwrap(), i % 3 != 0, "hospital {i}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_that_panics_is_undone_and_the_writer_goes_on() {
        let (store, dir) = Store::in_fresh_folder("writer-panic").await;
        let faulty = store
            .write(|c| {
                Box::pin(async move {
                    add_hospital(c, "H-PANIC", false).await?;
                    let lines: Vec<i64> = Vec::new();
                    Ok(lines[3]) // a bug, out of bounds
                })
            })
            .await;
        assert!(matches!(faulty, Err(StoreError::NotCommitted(_))), "{faulty:?}");
        assert!(!store.hospital_exists("H-PANIC").await.unwrap(), "the panicking job's write is undone");
        store.write(|c| Box::pin(async move { add_hospital(c, "H-AFTER", false).await })).await.expect("the writer goes on");
        assert!(store.hospital_exists("H-AFTER").await.unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Runs the futures at once, answers in order (no extra dependency for one test).
    async fn futures_join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
        let mut pinned: Vec<_> = futures.map(Box::pin).collect();
        let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
                if output.is_none() {
                    match future.as_mut().poll(cx) {
                        std::task::Poll::Ready(value) => *output = Some(value),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        outputs.into_iter().map(|o| o.expect("every future finished")).collect()
    }
}
