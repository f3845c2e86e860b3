use super::*;

impl App {
    /// The exceptions queue (差错处理): what the recovery worker could not finish.
    pub async fn exceptions(&self) -> Result<Value, AppError> {
        let items: Vec<Value> = self
            .store
            .exceptions()
            .await?
            .iter()
            .map(|s| {
                let mut v = settlement_view(s);
                v["attempts"] = json!(s.attempts);
                v["parked_reason"] = json!(s.parked_reason);
                v
            })
            .collect();
        // Personal-account repayments left unfinished by a silent partner (normally there are none
        // for more than a moment): the patient's money may sit between insurance and bank meanwhile.
        let stuck = self.store.unfinished_account_repayments(&self.now()).await?;
        let repayments: Vec<Value> = stuck
            .iter()
            .map(|r| {
                json!({"id": r.id, "agreement_id": r.agreement_id, "amount_fen": r.amount.0, "state": r.stage.state(),
                       "insurance_txn_id": r.stage.txn_id(), "failure": r.stage.failure(), "created_at": r.created_at})
            })
            .collect();
        Ok(json!({"exceptions": items, "repayments": repayments}))
    }

    /// An operator sends a parked settlement round once more.
    pub async fn retry_exception(&self, settlement_id: &str) -> Result<Value, AppError> {
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
        self.advance(s, &visit, true).await.map(|s| settlement_view(&s))
    }

    pub async fn ledger(&self) -> Result<Value, AppError> {
        let report = self.store.ledger_report().await?;
        Ok(json!({
            "balanced": report.balanced, "transfers": report.transfer_count,
            "hospitals_received_fen": report.net_posted("hospital:").0,
            "hospitals_unpaid_fen": report.net_posted("hospital_unpaid:").0,
            "accounts": report.accounts,
        }))
    }
}
