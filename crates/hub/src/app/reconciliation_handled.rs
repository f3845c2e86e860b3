//! 对账差异处理: an operator marks a difference that reconciliation left for them (长款 at a bank,
//! a settlement only the center has, amounts that differ) as dealt with outside the hub — a refund
//! at the bank, a 2208 at the center, a booking by hand — saying how. The difference leaves the
//! exceptions queue, later runs of the day do not bring it back, and the note is kept with it and
//! in the audit log. Nothing moves money here: the hub has no way to know what was done but the
//! operator's word, which is why the word is required and kept.

use super::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/exceptions/reconciliation/handled`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandledRequest {
    /// The business day of the run, `YYYY-MM-DD`.
    pub date: String,
    /// The partner as the exceptions list names it (`insurance`, `bank:BANK01`, …).
    pub partner: String,
    /// The difference's `key` in the exceptions list.
    pub record_key: String,
    /// What was done and by whom (the refund's reference at the bank, the 2208's msgid…).
    pub note: String,
}

/// A difference marked handled.
#[derive(Serialize, ToSchema)]
pub struct HandledView {
    pub date: String,
    pub partner: String,
    pub record_key: String,
    pub note: String,
    pub handled_at: String,
}

const NOTE_MAX_CHARS: u64 = 500;

impl App {
    /// Marks the difference handled; asked again, answers as it was marked (the first note stands).
    pub async fn mark_reconciliation_handled(&self, req: HandledRequest) -> Result<HandledView, AppError> {
        super::reconciliation::business_day(&req.date)?;
        if req.note.trim().is_empty() {
            return Err(AppError::invalid("missing_field", "note: say what was done (a refund's reference, the 2208's msgid, a booking)"));
        }
        super::commands::check_text_value("note", &req.note, Some(NOTE_MAX_CHARS))?;
        let view = |(note, handled_at): (String, String)| HandledView {
            date: req.date.clone(),
            partner: req.partner.clone(),
            record_key: req.record_key.clone(),
            note,
            handled_at,
        };
        let (left, handled) = self.store.reconciliation_difference(&req.date, &req.partner, &req.record_key).await?;
        if let Some(done) = handled {
            return Ok(view(done));
        }
        if !left {
            return Err(AppError::not_found(
                "difference_not_found",
                "the latest reconciliation of that day and partner left no such difference for an operator",
            ));
        }
        let kept = self.store.mark_reconciliation_handled(&req.date, &req.partner, &req.record_key, &req.note).await?;
        let target = format!("{}:{}:{}", req.date, req.partner, req.record_key);
        self.audit("operator", "reconciliation_handled", &target, "", "done").await;
        Ok(view(kept))
    }
}
