use super::*;
use std::sync::Arc;

/// The longest a silent partner makes recovery wait between two tries of one settlement.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long a settlement must sit untouched before the worker takes it (a request may still be on it).
pub const IDLE_BEFORE_RESUME: Duration = Duration::from_secs(30);

/// How long the answer to an idempotent request is kept for replay (Stripe keeps keys 24 h).
pub const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How often stored answers and msgid blocks past their time are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How long a bank line may stay without a hub agreement before it is taken for an orphan: a
/// sign-up whose bank call succeeded and whose hub row is not yet written is not one.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(600);
/// Orphan candidates remembered between sweeps, at most (a bound on memory, not on correctness:
/// a candidate forgotten is found again by the next sweep).
const MAX_ORPHAN_CANDIDATES: usize = 10_000;

/// The recovery worker (差错恢复): at once, everything a previous process left between steps;
/// then every `every`, unfinished settlements and repayments idle for `IDLE_BEFORE_RESUME`; each
/// time it also reads each bank's event feed and looks for orphan lines. Runs beside the server.
pub fn spawn_recovery(app: Arc<App>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut idle = Duration::ZERO;
        let mut last_prune: Option<std::time::Instant> = None;
        loop {
            match app.resume_unfinished(idle).await {
                Ok(0) => {}
                Ok(resumed) => tracing::info!(resumed, "resumed unfinished work"),
                Err(e) => tracing::warn!(code = e.code(), "recovery pass failed"),
            }
            if let Err(e) = app.sync_bank_events().await {
                tracing::warn!(code = e.code(), "bank events not read");
            }
            match app.close_orphan_lines().await {
                Ok(0) => {}
                Ok(closed) => tracing::warn!(closed, "closed bank lines no agreement of the hub names"),
                Err(e) => tracing::warn!(code = e.code(), "orphan bank lines not checked"),
            }
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                if let Err(e) = app.prune().await {
                    tracing::warn!(code = e.code(), "pruning failed");
                }
                last_prune = Some(std::time::Instant::now());
            }
            tokio::time::sleep(every).await;
            idle = IDLE_BEFORE_RESUME;
        }
    })
}

impl App {
    /// Drops what is kept only for a while: answers to idempotent requests past the retention,
    /// msgid blocks of past days. Keeps the hub's tables from growing without bound.
    pub async fn prune(&self) -> Result<(u64, u64), AppError> {
        let answers = self.store.prune_idempotency(&self.store.before_now(IDEMPOTENCY_RETENTION)).await?;
        let day_ago = crate::clock::in_china(self.store.clock.now_utc() - Duration::from_secs(24 * 3600));
        let stamp = format!("{:04}{:02}{:02}000000", day_ago.year(), day_ago.month() as u8, day_ago.day());
        let blocks = self.store.prune_msgid_blocks(&stamp).await?;
        if answers + blocks > 0 {
            tracing::info!(answers, blocks, "pruned stored answers and msgid blocks past their time");
        }
        Ok((answers, blocks))
    }

    /// Finds credit lines and card agreements a bank holds for the hub that no agreement of the hub
    /// names (a sign-up whose answer was lost and never retried), and closes each once it has been
    /// an orphan for `ORPHAN_GRACE`. Returns how many it closed.
    pub async fn close_orphan_lines(&self) -> Result<usize, AppError> {
        let now = self.store.clock.now_utc();
        let mut closed = 0;
        for (code, bank) in &self.banks {
            let mut after: Option<String> = None;
            loop {
                let page = bank.active_agreements(after.as_deref()).await?;
                for line in &page.agreements {
                    if self.store.agreement(&line.customer_ref).await?.is_some() {
                        continue;
                    }
                    let key = format!("{code}:{}", line.agreement_id);
                    let first_seen = {
                        let mut seen = self.orphans.lock().await;
                        if seen.len() >= MAX_ORPHAN_CANDIDATES && !seen.contains_key(&key) {
                            continue;
                        }
                        *seen.entry(key.clone()).or_insert(now)
                    };
                    if now - first_seen >= ORPHAN_GRACE {
                        bank.close_agreement(&format!("{}:close", line.customer_ref), &line.agreement_id).await?;
                        self.orphans.lock().await.remove(&key);
                        closed += 1;
                    }
                }
                match page.next_after {
                    Some(next) if !page.agreements.is_empty() => after = Some(next),
                    _ => break,
                }
            }
        }
        Ok(closed)
    }

    /// Resumes every settlement left between steps (after a crash or a partner outage) and idle for
    /// at least `idle`, so that the worker does not race requests still in flight.
    pub async fn resume_unfinished(&self, idle: Duration) -> Result<usize, AppError> {
        let cutoff = self.store.before_now(idle);
        let mut resumed = 0;
        for r in self.store.unfinished_account_repayments(&cutoff).await? {
            if let Some(agreement) = self.store.agreement(&r.agreement_id).await? {
                match self.drive_account_repayment(r, &agreement, false).await {
                    Ok(_) => resumed += 1,
                    Err(e) => tracing::warn!(code = e.code(), "repayment could not be resumed yet"),
                }
            }
        }
        for s in self.store.unfinished_settlements(&cutoff).await? {
            // Back off exponentially while a partner stays silent: idle × 2^attempts, at most
            // MAX_BACKOFF, so recovery converges soon after the partner is back.
            let backoff = (idle * 2u32.pow(s.attempts.clamp(0, 5) as u32)).min(MAX_BACKOFF);
            if s.attempts > 0 && s.updated_at > self.store.before_now(backoff) {
                continue;
            }
            if let Some(visit) = self.store.visit(&s.visit_id).await? {
                match self.advance(s, &visit, true, None).await {
                    Ok(_) => resumed += 1,
                    Err(e) => tracing::warn!(code = e.code(), "settlement could not be resumed yet"),
                }
            }
        }
        Ok(resumed)
    }
}
