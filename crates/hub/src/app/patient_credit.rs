//! The patient's own credit line on the phone pages (issue 14 scope 6): its statements, and a
//! limit-increase request (提额), as the operator's routes do for the patient's agreement only.

use super::*;
use wugan_bank_protocol::wire;
/// The bank's view of a line, as the pages show it.
pub use wugan_bank_protocol::wire::{CreditAccount, Statement, StatementStatus};

impl App {
    /// The statements of the patient's own credit line; another's answers as missing.
    pub async fn patient_statements(&self, patient_id: &str, agreement_id: &str) -> Result<wire::CreditAccount, AppError> {
        self.patient_agreement(patient_id, agreement_id).await?;
        self.statements(agreement_id).await
    }

    /// 提额 by the patient; `key` (the caller's Idempotency-Key) names the request at the bank,
    /// kept apart from an operator's by the patient's id.
    pub async fn patient_request_limit(
        &self,
        patient_id: &str,
        agreement_id: &str,
        req: LimitRequest,
        key: &str,
    ) -> Result<wire::Operation, AppError> {
        self.patient_agreement(patient_id, agreement_id).await?;
        self.request_limit(agreement_id, req.requested_limit_fen, &format!("patient:{patient_id}:{key}")).await
    }
}
