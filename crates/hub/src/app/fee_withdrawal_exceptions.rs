//! A visit's fee withdrawals (门诊费用明细撤销, 2205) in the exceptions queue (差错处理): one the
//! recovery worker could not finish through `MAX_ATTEMPTS` passes (the center silent, or 5204
//! listing some of the withdrawn lines and not others: an answer the hub cannot act on) is parked
//! with its reason, shown beside the parked settlements, stays and refunds, and sent round once
//! more by an operator, under its msgid. Until then the visit's click is refused (its lines are
//! marked), as while any withdrawal is unanswered. An operator who finds at the center what
//! became of it (its record of the visit's lines) ends it by hand instead: withdrawn or refused,
//! with a note saying how they know (`resolve_fee_withdrawal_exception`).

use super::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Parked withdrawals listed at most.
const PARKED_WITHDRAWALS_MAX: i64 = 500;

/// A visit's fee withdrawal as the operator sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = FeeWithdrawal)]
pub struct FeeWithdrawalView {
    pub id: String,
    pub visit_id: String,
    pub hospital_code: String,
    /// The batch withdrawn (收费批次号), or "0000" for every open line.
    pub chrg_bchno: String,
    /// `sending` (2205 unanswered or in doubt), `withdrawn` or `refused`.
    pub state: String,
    /// The lines withdrawn (`feedetl_sn`).
    pub lines: Vec<String>,
    /// The center's words, when it refused.
    pub refusal: Option<String>,
    pub attempts: i64,
    /// Why it waits for an operator; absent once it does not.
    pub parked_reason: Option<String>,
    /// The operator's note, when one ended it by hand.
    pub resolution: Option<String>,
}

/// `POST /api/v1/exceptions/fee_withdrawals/{id}/resolve`: what the operator found at the center.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveWithdrawalRequest {
    /// `withdrawn`: the center no longer has the lines (its console, 5204), they leave the visit;
    /// `refused`: the center still has them all, they are the visit's again.
    pub outcome: String,
    /// How the operator knows, and what they did (the center's reference, whom they called).
    pub note: String,
}

const NOTE_MAX_CHARS: u64 = 500;

impl FeeWithdrawalView {
    fn of(w: &crate::store::FeeWithdrawalRow, hospital_code: &str) -> FeeWithdrawalView {
        FeeWithdrawalView {
            id: w.id.clone(),
            visit_id: w.visit_id.clone(),
            hospital_code: hospital_code.to_string(),
            chrg_bchno: w.chrg_bchno.clone(),
            state: w.state.clone(),
            lines: w.lines.clone(),
            refusal: w.refusal.clone(),
            attempts: w.attempts,
            parked_reason: w.parked_reason.clone(),
            resolution: w.resolution.clone(),
        }
    }
}

impl App {
    /// The parked withdrawals, oldest first.
    pub(crate) async fn stuck_fee_withdrawals(&self) -> Result<Vec<FeeWithdrawalView>, AppError> {
        let parked = self.store.parked_fee_withdrawals(PARKED_WITHDRAWALS_MAX).await?;
        Ok(parked.iter().map(|p| FeeWithdrawalView::of(&p.withdrawal, &p.hospital_code)).collect())
    }

    /// An operator sends a parked withdrawal round once more: 2205 under its msgid (the center
    /// replays its answer), and a refusal asked about again (5204). Answers how it stands after.
    pub async fn retry_fee_withdrawal_exception(&self, id: &str) -> Result<FeeWithdrawalView, AppError> {
        let not_found = || AppError::not_found("fee_withdrawal_not_found", format!("no fee withdrawal {id}"));
        let (w, hospital) = self.store.fee_withdrawal(id).await?.ok_or_else(not_found)?;
        if !self.store.unpark_fee_withdrawal(id).await? {
            return Err(AppError::conflict("not_parked", "this fee withdrawal is not waiting in the exceptions queue"));
        }
        let visit = self.own_visit(&hospital, &w.visit_id).await?;
        let unparked = crate::store::FeeWithdrawalRow { attempts: 0, parked_reason: None, ..w };
        if let Err(e) = self.drive_withdrawal(&visit, unparked).await {
            // Still unanswered: counted from 0 again, so the worker tries on and parks it anew.
            self.store.note_failed_fee_withdrawal_attempt(id, &e.for_an_operator(), MAX_ATTEMPTS).await?;
            if e.is_retryable() {
                return Err(e);
            }
        }
        let (w, hospital) = self.store.fee_withdrawal(id).await?.ok_or_else(not_found)?;
        Ok(FeeWithdrawalView::of(&w, &hospital))
    }

    /// An operator ends a parked withdrawal by hand (see the module's doc). Nothing is sent to the
    /// center: the operator has settled it there. Asked again once ended, answers as it ended.
    pub async fn resolve_fee_withdrawal_exception(&self, id: &str, req: ResolveWithdrawalRequest) -> Result<FeeWithdrawalView, AppError> {
        let refusal = match req.outcome.as_str() {
            "withdrawn" => None,
            "refused" => Some(format!("refused, as an operator found at the center: {}", req.note.trim())),
            _ => {
                return Err(AppError::invalid(
                    "bad_outcome",
                    "outcome: withdrawn (the center has none of the lines) or refused (it has them all)",
                ))
            }
        };
        if req.note.trim().is_empty() {
            return Err(AppError::invalid("missing_field", "note: say how you know (the center's record, its reference, whom you asked)"));
        }
        super::commands::check_text_value("note", &req.note, Some(NOTE_MAX_CHARS))?;
        let not_found = || AppError::not_found("fee_withdrawal_not_found", format!("no fee withdrawal {id}"));
        let (w, hospital) = self.store.fee_withdrawal(id).await?.ok_or_else(not_found)?;
        if !self.store.resolve_fee_withdrawal(id, &w.visit_id, refusal, req.note.trim()).await? {
            let (w, hospital) = self.store.fee_withdrawal(id).await?.ok_or_else(not_found)?;
            if w.state == "sending" {
                return Err(AppError::conflict("not_parked", "this fee withdrawal is not waiting in the exceptions queue"));
            }
            return Ok(FeeWithdrawalView::of(&w, &hospital));
        }
        self.audit("operator", "fee_withdrawal_resolved", id, "", &req.outcome).await;
        let (w, _) = self.store.fee_withdrawal(id).await?.ok_or_else(not_found)?;
        Ok(FeeWithdrawalView::of(&w, &hospital))
    }
}
