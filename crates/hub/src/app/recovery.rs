use super::*;
use std::sync::Arc;

/// The longest a silent partner makes recovery wait between two tries of one settlement.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long a settlement must sit untouched before the worker takes it (a request may still be on it).
pub const IDLE_BEFORE_RESUME: Duration = Duration::from_secs(30);

/// The recovery worker (差错恢复): every `every`, resumes unfinished settlements and repayments
/// idle for `IDLE_BEFORE_RESUME`, and reads each bank's event feed. Runs beside the server.
pub fn spawn_recovery(app: Arc<App>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = app.resume_unfinished(IDLE_BEFORE_RESUME).await {
                tracing::warn!(code = e.code(), "recovery pass failed");
            }
            if let Err(e) = app.sync_bank_events().await {
                tracing::warn!(code = e.code(), "bank events not read");
            }
        }
    })
}

impl App {
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
                match self.advance(s, &visit, true).await {
                    Ok(_) => resumed += 1,
                    Err(e) => tracing::warn!(code = e.code(), "settlement could not be resumed yet"),
                }
            }
        }
        Ok(resumed)
    }
}
