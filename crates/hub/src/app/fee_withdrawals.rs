//! 门诊费用明细撤销 (national 2205): uploaded outpatient fee lines withdrawn before the doctor's
//! click, by batch (`chrg_bchno`) or every open line (`"0000"`), so that a changed prescription
//! (改处方) can be uploaded again under the same `feedetl_sn` with its new price.
//!
//! Order of writes, each before the call it leads to: the withdrawal with its msgid and the marks
//! on its lines (`Store::begin_fee_withdrawal`, which refuses a visit being settled, an upload or
//! another withdrawal under way), then 2205, then the lines closed (answered) or open again
//! (refused: once the center's fee lines (5204) show it did not take effect, `undo_checks`). A 2205
//! whose answer is lost, or whose refusal 5204 cannot confirm, leaves the withdrawal `sending`: the same key again, or
//! the recovery worker, sends it again under the same msgid, and the center replays its answer.
//! While it is `sending` the click is refused in its own write (`create_settlement`), and a fee
//! upload finds the marked lines unfinished. A visit with no insurance visit (self-paid, or no
//! `mdtrt_id`) withdraws at the hub only: nothing is sent.

use super::*;
use crate::store::{FeeWithdrawalRow, WithdrawalBegun, ALL_BATCHES};

/// Withdrawals resumed per recovery pass at most.
const RESUME_PER_PASS: i64 = 100;

/// The batch to withdraw: one `chrg_bchno` as the lines were uploaded under it, or `"0000"` for
/// every line not yet settled.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawFeesRequest {
    /// 收费批次号 as the 2204 upload gave it (a line sent without one is in batch "1"), or "0000".
    #[schema(schema_with = super::commands::text_not_blank::<30>)]
    pub chrg_bchno: String,
}

impl App {
    /// Withdraws the visit's open lines of `req.chrg_bchno` (2205) and answers the visit without them.
    pub async fn withdraw_fees(
        &self,
        hospital: &str,
        visit_id: &str,
        req: WithdrawFeesRequest,
        idem_key: &str,
    ) -> Result<VisitView, AppError> {
        let batch = super::visits::trimmed_id(&req.chrg_bchno);
        check_text("chrg_bchno", &batch, 30)?;
        let read = self.own_visit_for_click(hospital, visit_id).await?;
        let visit = read.visit.clone();
        let withdrawal = match self.store.fee_withdrawal_by_key(visit_id, idem_key).await? {
            Some(earlier) => earlier,
            None => {
                if visit.status != VisitStatus::Registered {
                    return Err(AppError::conflict(
                        "visit_not_open",
                        "fee lines can only be withdrawn from a registered visit before the click",
                    ));
                }
                if read.has_live_settlement() {
                    return Err(AppError::conflict(
                        "settlement_in_progress",
                        "the visit is being settled or is settled: withdraw fee lines only before the click (after it: cancel or refund)",
                    ));
                }
                self.begin_withdrawal(&visit, &batch, idem_key).await?
            }
        };
        if withdrawal.chrg_bchno != batch {
            return Err(AppError::invalid("idempotency_key_reused", "this Idempotency-Key withdrew another batch of this visit"));
        }
        self.drive_withdrawal(&visit, withdrawal).await?;
        self.visit(hospital, visit_id).await
    }

    /// Writes the withdrawal and marks its lines (`unknown_batch` when no open line has the batch).
    async fn begin_withdrawal(&self, visit: &VisitRow, batch: &str, idem_key: &str) -> Result<FeeWithdrawalRow, AppError> {
        let row = FeeWithdrawalRow {
            id: new_id("fwd"),
            visit_id: visit.id.clone(),
            chrg_bchno: batch.to_string(),
            msgid: self.msgid(&visit.hospital_code).await?,
            idem_key: idem_key.to_string(),
            state: "sending".into(),
            lines: Vec::new(),
            refusal: None,
            attempts: 0,
            parked_reason: None,
            resolution: None,
            updated_at: self.now(),
        };
        match self.store.begin_fee_withdrawal(&row).await? {
            WithdrawalBegun::Row(row) => Ok(*row),
            WithdrawalBegun::NoLines if batch == ALL_BATCHES => {
                Err(AppError::not_found("unknown_batch", "this visit has no open fee line to withdraw"))
            }
            WithdrawalBegun::NoLines => {
                Err(AppError::not_found("unknown_batch", format!("no open fee line of this visit is in batch {batch}")))
            }
        }
    }

    /// Sends 2205 for a withdrawal still `sending` (again, under its msgid), and closes or reopens
    /// its lines by the answer; a finished one answers as it ended.
    pub(super) async fn drive_withdrawal(&self, visit: &VisitRow, w: FeeWithdrawalRow) -> Result<(), AppError> {
        match w.state.as_str() {
            "withdrawn" => return Ok(()),
            "refused" => return Err(refused(w.refusal.as_deref().unwrap_or_default())),
            _ => {}
        }
        if let Some(reason) = &w.parked_reason {
            // An operator sends it round again (app/fee_withdrawal_exceptions.rs); until then the
            // HIS's retry would only ask the same question the worker gave up on.
            return Err(AppError::conflict(
                "fee_withdrawal_parked",
                format!("this fee withdrawal waits in the operator's exceptions queue: {reason}"),
            ));
        }
        if !visit.is_self_pay() && !visit.mdtrt_id.is_empty() {
            let inst = self.institution(&visit.hospital_code).await?;
            let input = json!({"data": {"mdtrt_id": visit.mdtrt_id, "chrg_bchno": w.chrg_bchno, "psn_no": visit.psn_no}});
            match self.insurance.call("2205", &w.msgid, &inst, &visit.insuplc_admdvs, input).await {
                Ok(_) => {}
                // Asked about (5204) before it is believed: app/undo_checks.rs. In doubt (`Err`):
                // still `sending`, as after a lost answer.
                Err(InsuranceError::Refused { .. }) if self.fee_withdrawal_took_effect(&inst, visit, &w).await? => {}
                Err(InsuranceError::Refused { infcode, message }) => {
                    let words = format!("({infcode}): {message}");
                    self.store.reopen_fee_withdrawal(&w.id, &visit.id, Some(words.clone())).await?;
                    return Err(refused(&words));
                }
                // Nothing was sent: the lines are open again, and the same key may begin afresh.
                Err(e @ InsuranceError::NotConfigured(_)) => {
                    self.store.reopen_fee_withdrawal(&w.id, &visit.id, None).await?;
                    return Err(e.into());
                }
                // The answer lost or unreadable: still `sending`, resent by the retry or the worker.
                Err(e) => return Err(e.into()),
            }
        }
        self.store.finish_fee_withdrawal(&w.id, &visit.id).await?;
        Ok(())
    }

    /// Withdrawals whose 2205 went unanswered and that nobody retried: sent again under their msgid
    /// (the recovery worker), so the visit's lines and the center agree without waiting for the HIS.
    /// Each pass that cannot finish one is counted and the next waits longer (as for settlements);
    /// after `MAX_ATTEMPTS` it is parked for an operator (app/fee_withdrawal_exceptions.rs).
    pub(super) async fn resume_fee_withdrawals(&self, cutoff: &str, idle: std::time::Duration) -> Result<usize, AppError> {
        let mut resumed = 0;
        for (w, hospital) in self.store.unfinished_fee_withdrawals(cutoff, RESUME_PER_PASS).await? {
            if w.attempts > 0 && w.updated_at > self.store.before_now(super::recovery::backoff(idle, w.attempts)) {
                continue;
            }
            let Ok(visit) = self.own_visit(&hospital, &w.visit_id).await else { continue };
            let id = w.id.clone();
            match self.drive_withdrawal(&visit, w).await {
                Ok(()) => resumed += 1,
                Err(e) => {
                    tracing::warn!(code = e.code(), "a fee withdrawal could not be resumed yet");
                    // Counts only a withdrawal still unanswered (a refusal has ended it).
                    self.store.note_failed_fee_withdrawal_attempt(&id, &e.for_an_operator(), MAX_ATTEMPTS).await?;
                }
            }
        }
        Ok(resumed)
    }
}

/// The center's refusal of a 2205, in its words.
fn refused(words: &str) -> AppError {
    AppError::invalid("insurance_refused", format!("the insurance center refused the fee withdrawal {words}"))
}
