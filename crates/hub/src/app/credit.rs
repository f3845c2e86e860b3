use super::*;
use wugan_bank_protocol::wire;
use wugan_domain::repayment::{self, RepaymentCall, RepaymentOutcome, RepaymentParties, RepaymentStage};
use wugan_domain::seamless::{self, LineEvent, LineStanding};

/// The kind of a bank event, as far as seamless payment cares.
fn line_event(event: &wire::BankEvent) -> LineEvent {
    match event.event_type {
        wire::BankEventType::LineOverdue => LineEvent::Overdue,
        wire::BankEventType::LineReinstated => LineEvent::Reinstated,
        wire::BankEventType::LineFrozen => LineEvent::Frozen,
        wire::BankEventType::LineUnfrozen => LineEvent::Unfrozen,
        wire::BankEventType::RepaymentPosted | wire::BankEventType::LimitChanged | wire::BankEventType::Other => LineEvent::Other,
    }
}

/// The line's standing the event reports.
fn line_standing(event: &wire::BankEvent) -> LineStanding {
    LineStanding { frozen: event.status == wire::AgreementStatus::Frozen, overdue: event.overdue_fen.is_positive() }
}

/// 转账还款: a repayment the patient made at the bank, booked in the ledger (the bank agreement's
/// balance then follows the line's debt however it was repaid). A repayment from the personal
/// account is not: the hub booked it when it posted it (`repayment`). An event that does not
/// say where the money came from is not booked either: the hub cannot tell it from its own.
fn repaid_at_bank(bank_code: &str, event: &wire::BankEvent) -> Option<wugan_domain::ledger::Transfer> {
    let amount = event.amount_fen.filter(|a| a.is_positive())?;
    let at_bank = event.event_type == wire::BankEventType::RepaymentPosted && event.source == Some(wire::RepaymentSource::BankTransfer);
    at_bank.then(|| wugan_domain::settlement::bank_transfer_repayment_transfer(bank_code, event.seq, &event.agreement_id, amount))
}

impl App {
    /// Reads each bank's event feed and suspends or reinstates seamless payment accordingly:
    /// an overdue credit line stops new seamless visits until it is repaid (逾期暂停, 还款恢复).
    /// Every bank's feed is read even when one bank is down: a bank's silence delays only its
    /// own patients' events (the first failure is returned after the others are read).
    pub async fn sync_bank_events(&self) -> Result<usize, AppError> {
        let (mut applied, mut failed) = (0, None);
        for (code, bank) in self.banks.all() {
            match self.sync_events_of(&code, &bank).await {
                Ok(n) => applied += n,
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        failed.map_or(Ok(applied), Err)
    }

    async fn sync_events_of(&self, code: &str, bank: &BankClient) -> Result<usize, AppError> {
        let mut applied = 0;
        let after = self.store.bank_event_cursor(code).await?;
        let events = bank.events(after).await?;
        for event in &events {
            if let Some(suspension) = seamless::suspension_after(line_event(event), line_standing(event)) {
                applied += self.store.set_suspension(code, &event.agreement_id, suspension).await?;
            }
            // Only lines the hub signed: the patient told, unpaid bills made due when the line has
            // room (patient_notices), a repayment made at the bank booked.
            let Some((agreement_id, psn_no)) = self.store.agreement_of_bank_line(code, &event.agreement_id).await? else {
                continue;
            };
            self.after_line_event(code, event, &agreement_id, &psn_no).await?;
            if let Some(t) = repaid_at_bank(code, event) {
                self.store.post_one_transfer(&t).await?;
            }
        }
        if let Some(last) = events.last().and_then(|e| i64::try_from(e.seq).ok()) {
            self.store.set_bank_event_cursor(code, last).await?;
        }
        Ok(applied as usize)
    }

    async fn active_agreement_row(&self, id: &str) -> Result<AgreementRow, AppError> {
        let row =
            self.store.agreement(id).await?.ok_or_else(|| AppError::not_found("agreement_not_found", format!("no agreement {id}")))?;
        if row.payment_method != PaymentMethod::CreditLine {
            return Err(AppError::conflict("not_a_credit_line", "this agreement pays by debit card; there is nothing to repay"));
        }
        Ok(row)
    }

    /// 还款: the patient repays their credit line (bank transfer, or the personal account where the
    /// region allows it). The bank applies it and, when nothing is overdue any more, reinstates
    /// the line; the hub follows the bank's event at once.
    pub async fn repay(&self, id: &str, req: RepayRequest, key: &str) -> Result<RepaymentView, AppError> {
        let row = self.active_agreement_row(id).await?;
        if req.amount_fen <= 0 || req.amount_fen > Fen::yuan(1_000_000).0 {
            return Err(AppError::invalid("bad_amount", "amount_fen must be positive and at most 100000000"));
        }
        if !matches!(req.source.as_str(), "bank_transfer" | "personal_account") {
            return Err(AppError::invalid("bad_source", "source must be bank_transfer or personal_account"));
        }
        if req.source == "personal_account" {
            return self.repay_from_personal_account(&row, Fen(req.amount_fen), key).await;
        }
        let bank = self.bank(&row.bank_code)?;
        let request_id = format!("{id}:repay:{}", short_hash(key));
        let op = match bank.repay(&request_id, &row.bank_agreement_id, Fen(req.amount_fen), None).await {
            // The same answer as from the personal account (review r26 patient F7: `bank_refused` one
            // way, `more_than_owed` the other, for one condition).
            Err(BankError::Refused { code, message }) if code.to_string() == "repayment_exceeds_debt" => {
                return Err(AppError::invalid("more_than_owed", message));
            }
            other => other?,
        };
        self.sync_bank_events().await?;
        let agreement = self.agreement(id).await?;
        Ok(RepaymentView { repayment: json!(op), personal_account_debit: None, agreement })
    }

    /// 个人账户还款: the insurance center debits the personal account (9901), then the bank posts
    /// the repayment naming that debit. Both calls are idempotent (the msgid, the request id), and
    /// the row records how far it got, so a retry or the recovery worker finishes it; if the bank
    /// refuses, the debit is undone (9902) and the patient keeps their money.
    async fn repay_from_personal_account(&self, agreement: &AgreementRow, amount: Fen, key: &str) -> Result<RepaymentView, AppError> {
        let fresh = AccountRepaymentRow {
            id: format!("{}:repay:{}", agreement.id, short_hash(key)),
            agreement_id: agreement.id.clone(),
            idem_key: key.to_string(),
            amount,
            stage: RepaymentStage::Started,
            debit_msgid: self.msgid(&hub_institution().fixmedins_code).await?,
            cancel_msgid: self.msgid(&hub_institution().fixmedins_code).await?,
            created_at: self.now(),
        };
        let r = self.store.account_repayment(&fresh).await?;
        if r.amount != amount {
            return Err(AppError::invalid("idempotency_key_reused", "this Idempotency-Key was used for a repayment of another amount"));
        }
        // Only a repayment this request created may be refused on the line's debt without a call
        // to the insurance center: an older one may have a 9901 in flight whose outcome is unknown,
        // so it is sent (replayed) and, if the bank then refuses, undone by 9902.
        let created_now = r.debit_msgid == fresh.debit_msgid;
        let r = self.drive_account_repayment(r, agreement, created_now).await?;
        match &r.stage {
            RepaymentStage::Posted { txn_id } => {
                self.sync_bank_events().await?;
                let op = self.bank(&agreement.bank_code)?.operation(&r.id).await?;
                let view = self.agreement(&agreement.id).await?;
                let debit = AccountDebitView { txn_id: txn_id.clone(), amount_fen: r.amount.0 };
                Ok(RepaymentView { repayment: json!(op), personal_account_debit: Some(debit), agreement: view })
            }
            RepaymentStage::Failed { failure } if wugan_domain::repayment::failed_over_debt(&r.stage) => {
                Err(AppError::invalid("more_than_owed", failure.clone()))
            }
            RepaymentStage::Failed { failure } => Err(AppError::invalid("personal_account_refused", failure.clone())),
            RepaymentStage::Returned { failure, .. } => {
                Err(AppError::invalid("bank_refused", format!("{failure}; the personal account was debited and has been restored")))
            }
            other => Err(AppError::internal(format!("repayment left in state {}", other.state()))),
        }
    }

    /// The orchestrator of a personal-account repayment: persist, call, apply; the machine in
    /// `wugan_domain::repayment` decides. An unanswered call leaves it where it is (a 503 to the
    /// caller) for a retry with the same ids.
    pub(super) async fn drive_account_repayment(
        &self,
        mut r: AccountRepaymentRow,
        agreement: &AgreementRow,
        check_debt: bool,
    ) -> Result<AccountRepaymentRow, AppError> {
        let parties = RepaymentParties {
            repayment_id: &r.id.clone(),
            psn_no: &agreement.psn_no,
            bank_code: &agreement.bank_code,
            bank_agreement_id: &agreement.bank_agreement_id,
            amount: r.amount,
        };
        loop {
            let Some(call) = repayment::next_call(&r.stage) else { return Ok(r) };
            let (stage, transfers) = match (&call, check_debt) {
                (RepaymentCall::DebitAccount, true) => {
                    let debt = self.bank(&agreement.bank_code)?.statements(&agreement.bank_agreement_id).await?;
                    let debt = debt.debt_fen;
                    match repayment::refuse_over_debt(r.amount, debt) {
                        Some(refused) => (refused, Vec::new()),
                        None => self.repayment_step(&r, &call, agreement, &parties).await?,
                    }
                }
                _ => self.repayment_step(&r, &call, agreement, &parties).await?,
            };
            let from = r.stage.state();
            r.stage = stage;
            match self.store.advance_account_repayment(&r, from, &transfers).await {
                Ok(()) => {}
                Err(crate::store::StoreError::StaleSettlement) => {
                    return Err(AppError::conflict(
                        "repayment_in_progress",
                        "this repayment is being finished by another request; retry shortly",
                    ))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Makes one repayment call and applies its outcome. `Err`: the outcome is unknown.
    async fn repayment_step(
        &self,
        r: &AccountRepaymentRow,
        call: &RepaymentCall,
        agreement: &AgreementRow,
        parties: &RepaymentParties<'_>,
    ) -> Result<(RepaymentStage, Vec<wugan_domain::ledger::Transfer>), AppError> {
        let inst = self.signed_hub_institution().await?;
        let outcome = match call {
            RepaymentCall::DebitAccount => {
                let input = json!({"data": {"psn_no": agreement.psn_no, "amount": r.amount.to_yuan_string(),
                                            "payee_ref": format!("{}:{}", agreement.bank_code, agreement.bank_agreement_id)}});
                match self.insurance.call("9901", &r.debit_msgid, &inst, &agreement.insuplc_admdvs, input).await {
                    Ok(output) => {
                        let txn_id = output.pointer("/data/txn_id").and_then(Value::as_str).unwrap_or_default().to_string();
                        RepaymentOutcome::Debited { txn_id }
                    }
                    Err(InsuranceError::Refused { message, .. }) => RepaymentOutcome::Refused { message },
                    Err(e) => return Err(e.into()),
                }
            }
            RepaymentCall::PostRepayment { txn_id } => {
                match self.bank(&agreement.bank_code)?.repay(&r.id, &agreement.bank_agreement_id, r.amount, Some(txn_id)).await {
                    Ok(_) => RepaymentOutcome::Done,
                    Err(BankError::Refused { code, message }) => RepaymentOutcome::Refused { message: format!("({code}) {message}") },
                    Err(e) => return Err(e.into()),
                }
            }
            RepaymentCall::UndoDebit { txn_id } => {
                let input = json!({"data": {"psn_no": agreement.psn_no, "txn_id": txn_id}});
                self.insurance.call("9902", &r.cancel_msgid, &inst, &agreement.insuplc_admdvs, input).await?;
                RepaymentOutcome::Done
            }
        };
        repayment::apply(&r.stage, parties, outcome).ok_or_else(|| {
            AppError::bad_gateway(
                "partner_bad_reply",
                format!("the answer to {call:?} cannot be applied to a repayment that is {}", r.stage.state()),
            )
        })
    }

    pub async fn statements(&self, id: &str) -> Result<wire::CreditAccount, AppError> {
        let row = self.active_agreement_row(id).await?;
        let mut account = self.bank(&row.bank_code)?.statements(&row.bank_agreement_id).await?;
        // The caller asked by the hub's agreement id: it is answered with that one, not the bank's.
        account.agreement_id = row.id;
        Ok(account)
    }

    /// 提额: asks the bank for a higher limit.
    pub async fn request_limit(&self, id: &str, requested_fen: i64, key: &str) -> Result<wire::Operation, AppError> {
        let row = self.active_agreement_row(id).await?;
        if !(Fen::yuan(5_000).0..=Fen::yuan(1_000_000).0).contains(&requested_fen) {
            return Err(AppError::invalid("bad_credit_limit", "requested_limit_fen must be between 500000 (5,000 yuan) and 100000000"));
        }
        let request_id = format!("{id}:limit:{}", short_hash(key));
        Ok(self.bank(&row.bank_code)?.request_limit(&request_id, &row.bank_agreement_id, Fen(requested_fen)).await?)
    }
}
