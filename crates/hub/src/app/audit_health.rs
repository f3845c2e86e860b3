//! The audit log's health as the operator's page and API show it, checked incrementally: only the
//! entries after the last verified one (its sequence number and hash, kept in memory on the `App`)
//! are read and chained on from it, so a page load costs the entries written since the last one,
//! not the whole log. The checkpoint's own row is read again each time (one row), so editing it is
//! still seen. A row edited before the checkpoint is found by the full walk, `wugan audit verify`
//! (`Store::verify_audit_log`), which every operator should run on a schedule; a fresh process
//! starts from no checkpoint, so its first check walks the whole chain once.

use super::*;
use crate::store::{check_chain_after, AuditFinding, GENESIS_HASH};
use std::sync::{Mutex, PoisonError};

/// Entries read per step of an incremental check (a bound on one query's size).
const CHECK_BATCH: i64 = 5_000;

/// The last verified entry: `(seq, hash)`; none before the first check.
#[derive(Default)]
pub struct Checkpoint(Mutex<Option<(i64, String)>>);

/// What the incremental check found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditHealth {
    /// Entries in the log (the last sequence number checked).
    pub entries: i64,
    /// Entries read by this check (those after the checkpoint).
    pub checked: usize,
    pub intact: bool,
    pub findings: Vec<AuditFinding>,
}

impl App {
    /// Checks the entries written since the last check; moves the checkpoint on when they chain.
    pub async fn audit_health(&self) -> Result<AuditHealth, AppError> {
        let start = self.audit_checkpoint.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let (mut seq, mut hash) = start.clone().unwrap_or((0, GENESIS_HASH.to_string()));
        let mut findings = Vec::new();
        if seq > 0 && self.store.audit_hash(seq).await?.as_deref() != Some(hash.as_str()) {
            findings.push(AuditFinding { seq, problem: "the last verified entry was changed or removed".into() });
        }
        let mut checked = 0;
        while findings.is_empty() {
            let batch = self.store.audit_entries_after(seq, CHECK_BATCH).await?;
            let Some(last) = batch.last() else { break };
            findings = check_chain_after(seq, &hash, &batch);
            checked += batch.len();
            (seq, hash) = (last.seq, last.hash.clone());
            if (batch.len() as i64) < CHECK_BATCH {
                break;
            }
        }
        if findings.is_empty() {
            let mut checkpoint = self.audit_checkpoint.0.lock().unwrap_or_else(PoisonError::into_inner);
            // Another check may have moved it further meanwhile: never move it back.
            if checkpoint.as_ref().is_none_or(|(s, _)| *s < seq) {
                *checkpoint = Some((seq, hash));
            }
        }
        Ok(AuditHealth { entries: seq, checked, intact: findings.is_empty(), findings })
    }
}
