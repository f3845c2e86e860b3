//! The audit log: who did what, when, from where, for every staff sign-in and every money- or
//! consent-changing action. Append-only and hash-chained: each entry's hash covers its fields and
//! the previous entry's hash, so editing, removing or inserting a row breaks the chain from there
//! on, which `verify_audit_log` (and `wugan audit verify`) finds.

use super::*;
use sha2::{Digest, Sha256};

/// The previous hash of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How many times an append is tried when another hub took the same sequence number (PostgreSQL;
/// SQLite's one writer never races).
const APPEND_TRIES: usize = 8;
/// PostgreSQL's advisory lock key for the audit chain's head (any fixed number no other lock uses).
const AUDIT_CHAIN_LOCK: i64 = 0x7775_6761_6e41;

/// The chain's last entry as this process's SQLite writer appended it, so that the next append
/// need not read it back (one statement less in the writer, which every write waits behind). Valid
/// only while no batch has failed since (`failed_batches`, a failed commit undoes the entry); an
/// entry appended by another process (a CLI command on the same folder) makes the next append's
/// sequence number taken, and the retry reads the head again.
#[derive(Clone, Debug)]
pub(super) struct ChainHead {
    seq: i64,
    hash: String,
    failed_batches: u64,
}

fn lock(head: &std::sync::Mutex<Option<ChainHead>>) -> std::sync::MutexGuard<'_, Option<ChainHead>> {
    head.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    /// `staff:<login>` or `key:<key id>`.
    pub actor: String,
    /// What was done: `sign_in`, or the route (`POST /api/v1/visits/{id}/settlement`).
    pub action: String,
    /// What it was done to (ids; never personal data).
    pub target: String,
    /// The client's address.
    pub address: String,
    /// `ok`, or the error code.
    pub outcome: String,
    pub prev_hash: String,
    pub hash: String,
}

/// What `verify_audit_log` found wrong with an entry.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditFinding {
    pub seq: i64,
    pub problem: String,
}

/// An entry's hash: SHA-256 over the previous hash and every field, each on its own line (fields
/// hold no newline: they are ids, codes, addresses and times).
pub fn entry_hash(prev_hash: &str, seq: i64, at: &str, e: &NewAuditEntry) -> String {
    let mut hasher = Sha256::new();
    for field in [prev_hash, &seq.to_string(), at, &e.actor, &e.action, &e.target, &e.address, &e.outcome] {
        hasher.update(field.replace('\n', " ").as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// Checks a chain read in order of `seq`: numbers without gaps from 1, each entry naming the one
/// before, each hash the hash of its fields.
pub fn check_chain(entries: &[AuditEntry]) -> Vec<AuditFinding> {
    check_chain_after(0, GENESIS_HASH, entries)
}

/// Checks entries that follow the entry `after_seq` whose hash is `after_hash` (0 and the genesis
/// hash: the whole chain), in order of `seq`.
pub fn check_chain_after(after_seq: i64, after_hash: &str, entries: &[AuditEntry]) -> Vec<AuditFinding> {
    let mut findings = Vec::new();
    let mut prev = after_hash.to_string();
    for (i, e) in entries.iter().enumerate() {
        let finding = |problem: &str| AuditFinding { seq: e.seq, problem: problem.to_string() };
        if e.seq != after_seq + i as i64 + 1 {
            findings.push(finding("a gap in the sequence: entries were removed or inserted"));
        }
        if e.prev_hash != prev {
            findings.push(finding("does not name the entry before it"));
        }
        if entry_hash(&e.prev_hash, e.seq, &e.at, &e.what()) != e.hash {
            findings.push(finding("its fields do not match its hash: the row was edited"));
        }
        prev = e.hash.clone();
    }
    findings
}

impl AuditEntry {
    /// What the entry records, without its place in the chain.
    fn what(&self) -> NewAuditEntry {
        NewAuditEntry {
            actor: self.actor.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            address: self.address.clone(),
            outcome: self.outcome.clone(),
        }
    }
}

fn entry_of(r: &SqlRow) -> AuditEntry {
    AuditEntry {
        seq: r.get("seq"),
        at: r.get("at"),
        actor: r.get("actor"),
        action: r.get("action"),
        target: r.get("target"),
        address: r.get("address"),
        outcome: r.get("outcome"),
        prev_hash: r.get("prev_hash"),
        hash: r.get("hash"),
    }
}

/// An entry to append (the store numbers, times and chains it).
#[derive(Clone, Debug)]
pub struct NewAuditEntry {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub address: String,
    pub outcome: String,
}

impl Store {
    /// Appends `entry` at the end of the chain; returns its sequence number.
    pub async fn append_audit(&self, entry: NewAuditEntry) -> StoreResult<i64> {
        let mut last_error = None;
        // SQLite: the writer runs one job at a time, so the head it left is the head (see ChainHead).
        let remembered = self.writer_stats().filter(|_| self.backend == Backend::Sqlite).map(|writer| (writer, self.audit_head.clone()));
        for _ in 0..APPEND_TRIES {
            let (entry, now, remembered) = (entry.clone(), self.now(), remembered.clone());
            let appended = self
                .write(move |c| {
                    Box::pin(async move {
                        let failed_batches =
                            remembered.as_ref().map(|(w, _)| w.failed_batches.load(std::sync::atomic::Ordering::SeqCst)).unwrap_or_default();
                        let cache = remembered.as_ref().map(|(_, head)| head);
                        let known = cache.and_then(|h| lock(h).clone()).filter(|h| h.failed_batches == failed_batches);
                        if matches!(c, Conn::Pg(_)) {
                            // Appends from many connections (and hubs) queue here for the chain's
                            // head, until this transaction ends, instead of racing for the same
                            // number: 64 sign-ups at once used up the tries below.
                            query("SELECT 1 AS locked FROM pg_advisory_xact_lock($1)").bind(AUDIT_CHAIN_LOCK).fetch_one(&mut *c).await?;
                        }
                        let (seq, prev) = match known {
                            Some(head) => (head.seq + 1, head.hash),
                            None => {
                                let last =
                                    query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *c).await?;
                                match last {
                                    Some(r) => (r.get::<i64, _>("seq") + 1, r.get::<String, _>("hash")),
                                    None => (1, GENESIS_HASH.to_string()),
                                }
                            }
                        };
                        // Forgotten until this append is written: a failure below leaves no head.
                        if let Some(h) = cache {
                            *lock(h) = None;
                        }
                        let hash = entry_hash(&prev, seq, &now, &entry);
                        query(
                            "INSERT INTO audit_log (seq, at, actor, action, target, address, outcome, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        )
                        .bind(seq)
                        .bind(now)
                        .bind(entry.actor)
                        .bind(entry.action)
                        .bind(entry.target)
                        .bind(entry.address)
                        .bind(entry.outcome)
                        .bind(prev)
                        .bind(&hash)
                        .execute(&mut *c)
                        .await?;
                        if let Some(h) = cache {
                            *lock(h) = Some(ChainHead { seq, hash, failed_batches });
                        }
                        Ok(seq)
                    })
                })
                .await;
            match appended {
                Err(StoreError::Db(e)) if is_unique_violation(&e) => last_error = Some(StoreError::Db(e)),
                other => return other,
            }
        }
        Err(last_error.unwrap_or_else(|| StoreError::Conflict("the audit log's next entry".into())))
    }

    /// The newest entries, newest first, before `before` (a sequence number) when given.
    pub async fn audit_entries(&self, before: Option<i64>, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        let rows = query("SELECT * FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2")
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(entry_of).collect())
    }

    /// How many of `actor`'s sign-ins since `since` were refused.
    pub async fn refused_sign_ins(&self, actor: &str, since: &str) -> StoreResult<i64> {
        let row = query("SELECT COUNT(*) AS n FROM audit_log WHERE actor = $1 AND action = 'sign_in' AND outcome <> 'ok' AND at >= $2")
            .bind(actor)
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.get("n"))
    }

    /// The entries after `after_seq`, in order (at most `limit`).
    pub async fn audit_entries_after(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        let rows =
            query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2").bind(after_seq).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(entry_of).collect())
    }

    /// One entry's hash, if the entry is there.
    pub async fn audit_hash(&self, seq: i64) -> StoreResult<Option<String>> {
        let row = query("SELECT hash FROM audit_log WHERE seq = $1").bind(seq).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.get("hash")))
    }

    /// Walks the whole chain; returns the number of entries and what is wrong with them.
    pub async fn verify_audit_log(&self) -> StoreResult<(usize, Vec<AuditFinding>)> {
        let rows = query("SELECT * FROM audit_log ORDER BY seq").fetch_all(&self.pool).await?;
        let entries: Vec<AuditEntry> = rows.iter().map(entry_of).collect();
        Ok((entries.len(), check_chain(&entries)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let at = format!("2026-11-30T10:00:0{seq}Z");
                let what = NewAuditEntry {
                    actor: "staff:cashier1".into(),
                    action: "sign_in".into(),
                    target: "-".into(),
                    address: "127.0.0.1".into(),
                    outcome: "ok".into(),
                };
                let hash = entry_hash(&prev, seq, &at, &what);
                let e = AuditEntry {
                    seq,
                    at,
                    actor: "staff:cashier1".into(),
                    action: "sign_in".into(),
                    target: "-".into(),
                    address: "127.0.0.1".into(),
                    outcome: "ok".into(),
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn an_untouched_chain_verifies_and_any_edit_removal_or_insertion_is_found() {
        assert_eq!(check_chain(&chain(4)), vec![]);
        let mut edited = chain(4);
        edited[1].target = "vis_someone_else".into();
        assert_eq!(check_chain(&edited).iter().map(|f| f.seq).collect::<Vec<_>>(), vec![2]);
        let mut removed = chain(4);
        removed.remove(1);
        assert_eq!(check_chain(&removed).iter().map(|f| f.seq).collect::<Vec<_>>(), vec![3, 3, 4]);
        let mut rehashed = chain(4);
        rehashed[1].outcome = "refused".into();
        let r = &rehashed[1];
        rehashed[1].hash = entry_hash(&r.prev_hash, r.seq, &r.at, &r.what());
        // Rehashing the edited row still breaks the next one's link.
        assert_eq!(check_chain(&rehashed).iter().map(|f| f.seq).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn a_check_from_a_checkpoint_reads_on_from_its_hash_and_misses_nothing_after_it() {
        let whole = chain(5);
        let (seq, hash) = (whole[1].seq, whole[1].hash.clone());
        assert_eq!(check_chain_after(seq, &hash, &whole[2..]), vec![], "entries 3 to 5 chain on from entry 2");
        assert_eq!(check_chain_after(seq, GENESIS_HASH, &whole[2..]).iter().map(|f| f.seq).collect::<Vec<_>>(), vec![3]);
        assert_eq!(check_chain_after(seq + 1, &hash, &whole[2..]).len(), 3, "numbers that do not follow the checkpoint");
        let mut edited = whole.clone();
        edited[3].actor = "staff:someone".into();
        assert_eq!(check_chain_after(seq, &hash, &edited[2..]).iter().map(|f| f.seq).collect::<Vec<_>>(), vec![4]);
    }

    fn entry(actor: &str) -> NewAuditEntry {
        NewAuditEntry {
            actor: actor.into(),
            action: "POST /api/v1/x".into(),
            target: "-".into(),
            address: "-".into(),
            outcome: "ok".into(),
        }
    }

    /// The writer remembers the chain's head between appends; another process appending to the same
    /// file (a CLI command beside `wugan serve`) must not fork the chain: the remembered number is
    /// taken, and the append reads the head again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appends_from_two_processes_on_one_file_make_one_unbroken_chain() {
        let dir = std::env::temp_dir().join(format!("wugan-audit-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("hub.db").display());
        let serve = Store::connect(&url).await.unwrap();
        serve.migrate().await.unwrap();
        let cli = Store::connect(&url).await.unwrap();
        let mut seqs = Vec::new();
        for round in 0..4 {
            seqs.push(serve.append_audit(entry("key:serve")).await.unwrap());
            seqs.push(serve.append_audit(entry("key:serve")).await.unwrap());
            if round % 2 == 0 {
                seqs.push(cli.append_audit(entry("staff:cli")).await.unwrap());
            }
        }
        assert_eq!(seqs, (1..=10).collect::<Vec<i64>>(), "one number after another, none twice");
        assert_eq!(serve.verify_audit_log().await.unwrap(), (10, vec![]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
