use super::*;
use std::sync::Arc;

/// The longest a silent partner makes recovery wait between two tries of one settlement.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long a settlement must sit untouched before the worker takes it (a request may still be on it).
pub const IDLE_BEFORE_RESUME: Duration = Duration::from_secs(30);

/// How long the answer to an idempotent request is kept for replay by default (Stripe keeps keys
/// 24 h); `wugan serve --idempotency-retention-hours` sets it (`App::with_idempotency_retention`).
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
/// time it also reads each bank's event feed and looks for orphan lines. Runs beside the server
/// until `stop` says so (or its sender is gone): it then ends between two passes, never inside one.
pub fn spawn_recovery(app: Arc<App>, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut idle = Duration::ZERO;
        let mut last_prune: Option<std::time::Instant> = None;
        while !*stop.borrow() {
            match app.resume_unfinished(idle).await {
                Ok(0) => {}
                Ok(resumed) => tracing::info!(resumed, "resumed unfinished work"),
                Err(e) => tracing::warn!(code = e.code(), "recovery pass failed"),
            }
            app.invoice_outbox_pass().await; // invoices owed (app/invoices.rs): logs its own failures
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
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                changed = stop.changed() => {
                    if changed.is_err() {
                        break; // no one left to say stop: the system is gone
                    }
                }
            }
            idle = IDLE_BEFORE_RESUME;
        }
        tracing::info!("recovery worker stopped between passes");
    })
}

/// How long the drop-in endpoint's notes of a visit (`national_visits`) are kept.
const NATIONAL_VISIT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

impl App {
    /// Drops what is kept only for a while: answers to idempotent requests past the retention,
    /// msgid blocks of past days. Keeps the hub's tables from growing without bound.
    pub async fn prune(&self) -> Result<(u64, u64), AppError> {
        let answers = self.store.prune_idempotency(&self.store.before_now(self.idempotency_retention)).await?;
        let day_ago = crate::clock::in_china(self.store.clock.now_utc() - Duration::from_secs(24 * 3600));
        let stamp = format!("{:04}{:02}{:02}000000", day_ago.year(), day_ago.month() as u8, day_ago.day());
        let blocks = self.store.prune_msgid_blocks(&stamp).await?;
        // A drop-in visit's notes serve its 2207, the same day as a rule: a month is plenty.
        let noted = self.store.prune_national_visits(&self.store.before_now(NATIONAL_VISIT_RETENTION)).await?;
        if answers + blocks + noted > 0 {
            tracing::info!(answers, blocks, noted, "pruned stored answers, msgid blocks and drop-in visit notes past their time");
        }
        Ok((answers, blocks))
    }

    /// Finds credit lines and card agreements a bank holds for the hub that no agreement of the hub
    /// names, and closes each that is the hub's own leftover once it has been an orphan for
    /// `ORPHAN_GRACE`: a sign-up of this hub's records that ended without an agreement, and a line
    /// with nothing on it (no debt, no hold). A line no sign-up of the hub names, or one carrying
    /// money, is never closed here: it is the sign of a hub restored from an older backup or
    /// pointed at the wrong database, where closing would take patients' lines (and deposits held
    /// on them) away; it is logged for an operator instead. Returns how many it closed.
    pub async fn close_orphan_lines(&self) -> Result<usize, AppError> {
        let now = self.store.clock.now_utc();
        // Every bank is walked even when one is down (its own lines wait for its return).
        let (mut closed, mut failed) = (0, None);
        for (code, bank) in self.banks.all() {
            match self.close_orphans_at(&code, &bank, now).await {
                Ok(n) => closed += n,
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        failed.map_or(Ok(closed), Err)
    }

    async fn close_orphans_at(&self, code: &str, bank: &BankClient, now: time::OffsetDateTime) -> Result<usize, AppError> {
        let (mut closed, mut unknown) = (0, 0);
        let mut after: Option<String> = None;
        loop {
            let page = bank.active_agreements(after.as_deref()).await?;
            for line in &page.agreements {
                if self.store.agreement(&line.customer_ref).await?.is_some() {
                    continue;
                }
                match self.signup_ended_without_agreement(&line.customer_ref).await? {
                    // A sign-up still on its way: it will name the line.
                    Some(false) => continue,
                    Some(true) if line.used_fen == Fen::ZERO && line.held_fen == Fen::ZERO => {}
                    _ => {
                        unknown += 1;
                        continue;
                    }
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
        if unknown > 0 {
            tracing::warn!(
                bank = code,
                lines = unknown,
                "active bank lines that no agreement of this hub names, left open for an operator: \
                 is this hub restored from an older backup, or pointed at the wrong database?"
            );
        }
        Ok(closed)
    }

    /// Whether a bank line's hub reference is a sign-up of this hub that ended without an
    /// agreement (`Some(true)`: its line is the hub's own leftover) or is still on its way
    /// (`Some(false)`, parked ones included: the sign-up will name it); `None` when the hub has no
    /// such sign-up on record.
    async fn signup_ended_without_agreement(&self, id: &str) -> Result<Option<bool>, AppError> {
        let Some(signup) = self.store.signup(id).await? else { return Ok(None) };
        Ok(Some(self.signup_stage(&signup)?.is_final()))
    }

    /// Resumes every sign-up, settlement and repayment left between steps (after a crash or a
    /// partner outage) and idle for at least `idle`, so that the worker does not race requests
    /// still in flight.
    pub async fn resume_unfinished(&self, idle: Duration) -> Result<usize, AppError> {
        let cutoff = self.store.before_now(idle);
        let mut resumed = 0;
        for s in self.store.unfinished_signups(&cutoff).await? {
            // The same capped backoff as settlements; after MAX_ATTEMPTS failed tries it is parked.
            if s.attempts > 0 && s.updated_at > self.store.before_now(backoff(idle, s.attempts)) {
                continue;
            }
            match self.advance_signup(s).await {
                Ok(_) => resumed += 1,
                Err(e) => tracing::warn!(code = e.code(), "sign-up could not be resumed yet"),
            }
        }
        for r in self.store.unfinished_account_repayments(&cutoff).await? {
            if let Some(agreement) = self.store.agreement(&r.agreement_id).await? {
                match self.drive_account_repayment(r, &agreement, false).await {
                    Ok(_) => resumed += 1,
                    Err(e) => tracing::warn!(code = e.code(), "repayment could not be resumed yet"),
                }
            }
        }
        for s in self.store.unfinished_settlements(&cutoff).await? {
            if s.attempts > 0 && s.updated_at > self.store.before_now(backoff(idle, s.attempts)) {
                continue;
            }
            if let Some(visit) = self.store.visit(&s.visit_id).await? {
                match self.advance(s, &visit, true, None).await {
                    Ok(_) => resumed += 1,
                    Err(e) => tracing::warn!(code = e.code(), "settlement could not be resumed yet"),
                }
            }
        }
        // Payout instructions whose answer was lost (app/clearing.rs): the same id again.
        resumed += self.resume_payouts().await?;
        resumed += self.resume_stays(&cutoff).await?; // app/inpatient.rs
        resumed += self.resume_refunds(&cutoff).await?; // app/refunds.rs
        resumed += self.resume_registration_cancels(&cutoff).await?; // app/refunds.rs
        resumed += self.resume_fee_withdrawals(&cutoff, idle).await?; // app/fee_withdrawals.rs
        Ok(resumed)
    }
}

/// How long to leave work a partner keeps silent on before the next try: idle × 2^attempts, at
/// most MAX_BACKOFF, so recovery converges soon after the partner is back.
pub(super) fn backoff(idle: Duration, attempts: i64) -> Duration {
    (idle * 2u32.pow(attempts.clamp(0, 5) as u32)).min(MAX_BACKOFF)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An app on a fresh SQLite store in its own folder (the caller removes it), with no partner
    /// that answers: for what the hub decides and stores on its own.
    pub(in crate::app) async fn an_app_without_partners(label: &str) -> (Arc<App>, std::path::PathBuf) {
        let (store, dir) = Store::in_fresh_folder(&format!("recovery-{label}")).await;
        let config = HubConfig {
            admdvs: "440300".into(),
            insurance_url: "http://127.0.0.1:9".into(),
            insurance_credentials: Vec::new(),
            banks: Vec::new(),
            default_credit_limit: Fen::yuan(5_000),
            partner_timeout: Duration::from_secs(1),
            data_key: DataKey::from_hex(&"07".repeat(32)).expect("a key"),
        };
        (Arc::new(App::new(store, config)), dir)
    }

    #[tokio::test]
    async fn told_to_stop_the_worker_ends_between_passes_by_itself() {
        let (app, dir) = an_app_without_partners("stop").await;
        let (stop, told) = tokio::sync::watch::channel(false);
        let worker = spawn_recovery(app.clone(), Duration::from_secs(3600), told);
        stop.send(true).expect("the worker listens");
        // Ended on its own: an aborted task would answer a cancelled JoinError.
        let ended = tokio::time::timeout(Duration::from_secs(60), worker).await.expect("it ends without waiting an hour");
        assert!(ended.is_ok(), "{ended:?}");

        let (_, gone) = tokio::sync::watch::channel(false);
        let orphaned = spawn_recovery(app, Duration::from_secs(3600), gone);
        let ended = tokio::time::timeout(Duration::from_secs(60), orphaned).await.expect("ends when no one can tell it to stop");
        assert!(ended.is_ok(), "{ended:?}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
