//! Idempotency keys: a mutating request runs once per `(caller, Idempotency-Key)`; a repeat gets
//! the stored answer. The answer is stored with the request's effect where the use case can
//! (`StoredAnswer`, zero2prod's pattern), else by the edge once the request is done.
//!
//! A request in progress holds a claim. On SQLite one hub process owns the data folder, so the
//! claim lives in that process's memory: a crash ends every request it held, and a write that only
//! said "in progress" would cost each request a commit (an fsync) for nothing. The durable row is
//! written once, with the answer. On PostgreSQL several hubs may share the keys: the claim is a row,
//! taken over by a retry after [`IDEMPOTENCY_LEASE`] (its hub presumed gone).

use super::*;
use std::collections::HashMap;
use std::sync::Mutex;

/// Requests in progress in this process (SQLite): `(caller, key)` → the request's hash and when
/// it was claimed. Bounded by the requests in flight; each leaves when its answer is stored, when
/// it is abandoned, or when its future is dropped (`ClaimGuard`).
#[derive(Default)]
pub struct Claims(Mutex<HashMap<(String, String), (String, std::time::Instant)>>);

impl Claims {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), (String, std::time::Instant)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims the key, or says who holds it. A claim older than the lease is taken over, as the
    /// durable claim is on PostgreSQL (a request cut short without its guard running).
    fn claim(&self, caller: &str, key: &str, request_hash: &str) -> Option<IdempotencyBegin> {
        let mut claims = self.lock();
        let slot = (caller.to_string(), key.to_string());
        match claims.get(&slot) {
            Some((hash, _)) if hash != request_hash => Some(IdempotencyBegin::Mismatch),
            Some((_, at)) if at.elapsed() < IDEMPOTENCY_LEASE => Some(IdempotencyBegin::InProgress),
            _ => {
                claims.insert(slot, (request_hash.to_string(), std::time::Instant::now()));
                None
            }
        }
    }

    fn release(&self, caller: &str, key: &str) {
        self.lock().remove(&(caller.to_string(), key.to_string()));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Releases a request's claim when the request ends, however it ends (its answer stored, a
/// failure, or its future dropped when the caller hung up): a retry then finds the stored answer,
/// or runs again and resumes the work.
pub struct ClaimGuard {
    claims: Arc<Claims>,
    caller: String,
    key: String,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        self.claims.release(&self.caller, &self.key);
    }
}

impl Store {
    pub async fn begin_idempotency(&self, caller: &str, key: &str, request_hash: &str) -> StoreResult<IdempotencyBegin> {
        if self.backend != Backend::Sqlite {
            let (caller, key, request_hash) = (caller.to_string(), key.to_string(), request_hash.to_string());
            let (now, lease_end) = (self.now(), self.before_now(IDEMPOTENCY_LEASE));
            return self.write(move |c| Box::pin(claim_in_database(c, caller, key, request_hash, now, lease_end))).await;
        }
        if let Some(held) = self.claims.claim(caller, key, request_hash) {
            return Ok(held);
        }
        // Claimed here; an answer stored earlier (or by a process before this one) wins.
        let sql = "SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE caller = $1 AND idem_key = $2";
        let row = match query(sql).bind(caller).bind(key).fetch_optional(&self.pool).await {
            Ok(row) => row,
            Err(e) => {
                self.claims.release(caller, key);
                return Err(e.into());
            }
        };
        let Some(row) = row else { return Ok(IdempotencyBegin::New) };
        let answer = match (row.get::<Option<i64>, _>("status_code"), row.get::<Option<String>, _>("response_body")) {
            _ if row.get::<String, _>("request_hash") != request_hash => IdempotencyBegin::Mismatch,
            (Some(status), Some(body)) => IdempotencyBegin::Replay { status: status as u16, body },
            // A claim row a process before this one left (`release_requests_of_a_dead_process`
            // removes them at start-up): ours now.
            _ => return Ok(IdempotencyBegin::New),
        };
        self.claims.release(caller, key);
        Ok(answer)
    }

    /// The guard that releases the claim `begin_idempotency` took when the request ends (SQLite).
    pub fn claim_guard(&self, caller: &str, key: &str) -> ClaimGuard {
        ClaimGuard { claims: self.claims.clone(), caller: caller.to_string(), key: key.to_string() }
    }

    /// Stores a request's answer under its key, and ends its claim.
    pub async fn finish_idempotency(&self, caller: &str, key: &str, request_hash: &str, status: u16, body: &str) -> StoreResult<()> {
        let answer = StoredAnswer {
            caller: caller.to_string(),
            key: key.to_string(),
            request_hash: request_hash.to_string(),
            at: self.now(),
            status,
            body: body.to_string(),
        };
        let stored = self.write(move |c| Box::pin(answer.write(c))).await;
        self.claims.release(caller, key);
        stored
    }

    /// At start-up on SQLite (one hub process per data folder), requests left in progress were cut
    /// short by the previous process's end: their keys are released at once, so a retry does not
    /// wait out the lease. On PostgreSQL other hubs may still be working on theirs: nothing is
    /// released. Safe either way: the work behind every key is idempotent and state-guarded.
    pub async fn release_requests_of_a_dead_process(&self) -> StoreResult<u64> {
        if self.backend != Backend::Sqlite {
            return Ok(0);
        }
        self.write(|c| {
            Box::pin(
                async move { Ok(query("DELETE FROM idempotency_keys WHERE status_code IS NULL").execute(&mut *c).await?.rows_affected()) },
            )
        })
        .await
    }

    /// Forgets the stored answers of requests finished before `before` (RFC 3339). A retry with such
    /// an old key runs the request again, which is safe: every use case finds its own earlier work
    /// (the settlement a click made, the agreement a sign-up made, the bank's replay of a request id).
    pub async fn prune_idempotency(&self, before: &str) -> StoreResult<u64> {
        let before = before.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let sql = "DELETE FROM idempotency_keys WHERE created_at < $1 AND status_code IS NOT NULL";
                Ok(query(sql).bind(before).execute(&mut *c).await?.rows_affected())
            })
        })
        .await
    }

    /// Forgets a key whose request ended in a retryable failure, so that the retry runs again.
    pub async fn abandon_idempotency(&self, caller: &str, key: &str) -> StoreResult<()> {
        if self.backend == Backend::Sqlite {
            self.claims.release(caller, key);
            return Ok(());
        }
        let (caller, key) = (caller.to_string(), key.to_string());
        self.write(move |c| {
            Box::pin(async move {
                query("DELETE FROM idempotency_keys WHERE caller = $1 AND idem_key = $2 AND status_code IS NULL")
                    .bind(caller)
                    .bind(key)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }
}

/// Claims `(caller, key)` in the database for a new request (PostgreSQL, where several hubs share
/// the keys), or says what became of an earlier one.
async fn claim_in_database(
    c: &mut Conn,
    caller: String,
    key: String,
    request_hash: String,
    now: String,
    lease_end: String,
) -> StoreResult<IdempotencyBegin> {
    let inserted = query(
        "INSERT INTO idempotency_keys (caller, idem_key, request_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (caller, idem_key) DO NOTHING",
    )
    .bind(&caller)
    .bind(&key)
    .bind(&request_hash)
    .bind(&now)
    .execute(&mut *c)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(IdempotencyBegin::New);
    }
    let row =
        query("SELECT request_hash, status_code, response_body, created_at FROM idempotency_keys WHERE caller = $1 AND idem_key = $2")
            .bind(&caller)
            .bind(&key)
            .fetch_one(&mut *c)
            .await?;
    if row.get::<String, _>("request_hash") != request_hash {
        return Ok(IdempotencyBegin::Mismatch);
    }
    match (row.get::<Option<i64>, _>("status_code"), row.get::<Option<String>, _>("response_body")) {
        (Some(status), Some(body)) => Ok(IdempotencyBegin::Replay { status: status as u16, body }),
        _ => {
            // A request still "in progress" after the lease was abandoned by a crashed process:
            // the first retry after the lease takes it over (the work it resumes is idempotent).
            let started: String = row.get("created_at");
            if started >= lease_end {
                return Ok(IdempotencyBegin::InProgress);
            }
            let taken = query(
                "UPDATE idempotency_keys SET created_at = $1 WHERE caller = $2 AND idem_key = $3 AND created_at = $4 AND status_code IS NULL",
            )
            .bind(&now)
            .bind(&caller)
            .bind(&key)
            .bind(&started)
            .execute(&mut *c)
            .await?
            .rows_affected();
            Ok(if taken == 1 { IdempotencyBegin::New } else { IdempotencyBegin::InProgress })
        }
    }
}

/// A request's answer, stored under its `(caller, Idempotency-Key)` by the same write as the
/// request's effect, so that a crash cannot leave one without the other.
#[derive(Clone, Debug)]
pub struct StoredAnswer {
    pub caller: String,
    pub key: String,
    /// The request's hash, so that the key reused with another request is told apart.
    pub request_hash: String,
    /// When the request came (RFC 3339): the retention counts from here.
    pub at: String,
    pub status: u16,
    pub body: String,
}

impl StoredAnswer {
    /// Writes the answer inside the caller's write: the row itself on SQLite (the claim was in
    /// memory), the answer onto the claim's row on PostgreSQL.
    pub(crate) async fn write(self, c: &mut Conn) -> StoreResult<()> {
        query(
            "INSERT INTO idempotency_keys (caller, idem_key, request_hash, created_at, status_code, response_body) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (caller, idem_key) \
             DO UPDATE SET status_code = excluded.status_code, response_body = excluded.response_body",
        )
        .bind(self.caller)
        .bind(self.key)
        .bind(self.request_hash)
        .bind(self.at)
        .bind(self.status as i64)
        .bind(self.body)
        .execute(&mut *c)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is(begin: StoreResult<IdempotencyBegin>) -> &'static str {
        match begin.unwrap() {
            IdempotencyBegin::New => "new",
            IdempotencyBegin::Replay { .. } => "replay",
            IdempotencyBegin::InProgress => "in progress",
            IdempotencyBegin::Mismatch => "mismatch",
        }
    }

    #[tokio::test]
    async fn a_key_in_progress_is_held_in_memory_and_its_answer_written_once() {
        let (store, dir) = Store::in_fresh_folder("claims-test").await;
        assert_eq!(is(store.begin_idempotency("hospital:H1", "k1", "h1").await), "new");
        let guard = store.claim_guard("hospital:H1", "k1");
        assert_eq!(is(store.begin_idempotency("hospital:H1", "k1", "h1").await), "in progress", "the same request again");
        assert_eq!(is(store.begin_idempotency("hospital:H1", "k1", "h2").await), "mismatch", "the key with another request");
        assert_eq!(is(store.begin_idempotency("hospital:H2", "k1", "h2").await), "new", "another caller's key of the same name");
        let rows = query("SELECT COUNT(*) AS n FROM idempotency_keys").fetch_one(&store.pool).await.unwrap().get::<i64, _>("n");
        assert_eq!(rows, 0, "a claim writes nothing");

        store.finish_idempotency("hospital:H1", "k1", "h1", 200, r#"{"ok":true}"#).await.unwrap();
        drop(guard);
        match store.begin_idempotency("hospital:H1", "k1", "h1").await.unwrap() {
            IdempotencyBegin::Replay { status, body } => assert_eq!((status, body.as_str()), (200, r#"{"ok":true}"#)),
            _ => panic!("the stored answer is replayed"),
        }
        assert_eq!(is(store.begin_idempotency("hospital:H1", "k1", "h2").await), "mismatch", "and the key stays tied to its request");
        assert_eq!(store.claims.len(), 1, "only H2's claim is left, which nothing released");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_request_that_ends_without_an_answer_frees_its_key() {
        let (store, dir) = Store::in_fresh_folder("claims-test").await;
        // Cut short (its future dropped): the guard frees the key.
        assert_eq!(is(store.begin_idempotency("hospital:H1", "k1", "h1").await), "new");
        drop(store.claim_guard("hospital:H1", "k1"));
        assert_eq!(is(store.begin_idempotency("hospital:H1", "k1", "h1").await), "new", "the retry runs");
        // A retryable failure: abandoned, the retry runs again.
        store.abandon_idempotency("hospital:H1", "k1").await.unwrap();
        assert_eq!(is(store.begin_idempotency("hospital:H1", "k1", "h1").await), "new");
        store.abandon_idempotency("hospital:H1", "k1").await.unwrap();
        assert_eq!(store.claims.len(), 0);
        let _ = std::fs::remove_dir_all(dir);
    }
}
