use super::*;

impl App {
    /// The exceptions queue (差错处理): what the recovery worker could not finish, and settlements
    /// left unfinished longer than the recovery worker waits before resuming them.
    pub async fn exceptions(&self) -> Result<ExceptionsView, AppError> {
        let idle_since = self.store.before_now(super::recovery::IDLE_BEFORE_RESUME);
        let exceptions = self
            .store
            .exceptions(&idle_since)
            .await?
            .iter()
            .map(|s| ExceptionView { settlement: SettlementView::of(s), attempts: s.attempts, parked_reason: s.parked_reason.clone() })
            .collect();
        // Personal-account repayments left unfinished by a silent partner (normally there are none
        // for more than a moment): the patient's money may sit between insurance and bank meanwhile.
        let stuck = self.store.unfinished_account_repayments(&self.now()).await?;
        let signups = self
            .store
            .parked_signups()
            .await?
            .into_iter()
            .map(|s| StuckSignupView {
                id: s.id,
                state: s.state,
                bank_code: s.bank_code,
                attempts: s.attempts,
                parked_reason: s.parked_reason,
                created_at: s.created_at,
            })
            .collect();
        let reconciliation = self.open_reconciliation_exceptions().await?;
        let (stays, refunds) = (self.stuck_stays().await?, self.stuck_refunds().await?);
        let repayments = stuck.iter().map(StuckRepaymentView::of).collect();
        let fee_withdrawals = self.stuck_fee_withdrawals().await?;
        Ok(ExceptionsView { exceptions, repayments, signups, reconciliation, stays, refunds, fee_withdrawals })
    }

    /// An operator sends a parked settlement round once more.
    pub async fn retry_exception(&self, settlement_id: &str) -> Result<SettlementView, AppError> {
        let s = self
            .store
            .settlement(settlement_id)
            .await?
            .ok_or_else(|| AppError::not_found("settlement_not_found", format!("no settlement {settlement_id}")))?;
        if !self.store.unpark(settlement_id).await? && s.state.is_final() {
            return Err(AppError::conflict("not_parked", "this settlement is not waiting in the exceptions queue"));
        }
        let visit = self.store.visit(&s.visit_id).await?.ok_or_else(|| AppError::internal("visit vanished"))?;
        let s = self.store.settlement(settlement_id).await?.ok_or_else(|| AppError::internal("settlement vanished"))?;
        self.advance(s, &visit, true, None).await.map(|s| SettlementView::of(&s))
    }

    pub async fn ledger(&self) -> Result<LedgerView, AppError> {
        let report = self.store.ledger_report().await?;
        Ok(LedgerView {
            balanced: report.balanced,
            transfers: report.transfer_count,
            hospitals_received_fen: report.net_posted("hospital:").0,
            hospitals_unpaid_fen: report.net_posted("hospital_unpaid:").0,
            accounts: report.accounts,
        })
    }
}
