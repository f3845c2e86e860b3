//! 住院费用明细撤销 (national 2302): `POST /api/v1/stays/{id}/fees/withdraw` withdraws fee lines a
//! stay uploaded (2301) and no settlement took, while the patient is in the ward: the lines named,
//! or `["0000"]` every unsettled line, as the visit's 2205 takes a batch or `"0000"`. The
//! orchestrator of `wugan_domain::inpatient::withdrawals`: the machine picks the lines (a charge's
//! returns go with it, as the center deletes them) and refuses a line an interim settlement in
//! force took (`409 fee_line_settled`: cancel that interim settlement first), a line not on the
//! stay (`404 unknown_fee_line`) and an upload still in doubt, before anything is sent. The 2302
//! msgid and the lines are fixed in the stage (`withdrawing_fees`) before 2302 is sent; once it is
//! answered the lines leave the stay in the commit of the stage (`App::save_stay_step`), so their
//! `feedetl_sn` may be uploaded again. A lost answer leaves the stay `withdrawing_fees`: the same
//! request, or the recovery worker, sends 2302 again under its msgid; meanwhile a day's fees, an
//! interim settlement and the bedside click answer `409 fee_withdrawal_in_progress`.

use super::inpatient::{stay_stage, StayView};
use super::*;
use wugan_domain::inpatient::{self, LineOnRecord, StayStage, WithdrawFees, WithdrawRefusal};

/// The national "every unsettled line" (2302's `feedetl_sn` "0000", as 2205's `chrg_bchno`).
const EVERY_UNSETTLED_LINE: &str = "0000";

/// The lines to withdraw from a stay.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawStayFeesRequest {
    /// The lines' `feedetl_sn` as the upload named them (text, or the same whole numbers), or
    /// `["0000"]` alone for every line no settlement took. A charge withdrawn takes its returns
    /// (lines naming it in `init_feedetl_sn`) with it.
    #[serde(deserialize_with = "super::visits::fee_line_numbers")]
    #[schema(schema_with = super::commands::fee_line_numbers)]
    pub lines: Vec<String>,
}

impl App {
    /// Withdraws the stay's unsettled lines (2302) and answers the stay without them.
    pub async fn withdraw_stay_fees(
        &self,
        hospital: &str,
        id: &str,
        req: WithdrawStayFeesRequest,
        idem_key: &str,
    ) -> Result<StayView, AppError> {
        let asked = asked(&req.lines)?;
        let mut s = self.own_stay(hospital, id).await?;
        if matches!(stay_stage(&s)?, StayStage::InWard(ward) if ward.deposit_in_flight()) {
            // A raise or fresh hold whose answer was lost is answered first.
            s = self.advance_stay(s, true).await?;
        }
        let stage = stay_stage(&s)?;
        match &stage {
            // This withdrawal, cut short (its answer lost): sent again.
            StayStage::WithdrawingFees(w) if w.withdrawal.request == idem_key => {}
            // Done already (a retry after a 503 the recovery worker finished): the stay as it is.
            StayStage::InWard(w) if w.undone.withdrawn_by.as_deref() == Some(idem_key) => return self.stay_view(&s).await,
            StayStage::Interim(_) => return Err(super::stay_interim::interim_in_progress()),
            _ => {
                super::stay_interim_cancel::refuse_while_undoing(&stage)?;
                let lines = self.store.stay_fee_lines(id).await?;
                let on_record: Vec<LineOnRecord> = lines.iter().map(on_record).collect();
                let msgid = self.msgid(hospital).await?;
                let next =
                    inpatient::begin_withdraw_fees(&stage, &on_record, &asked, idem_key.to_string(), msgid).map_err(|e| match e {
                        WithdrawRefusal::NotNow(_) => super::stay_interim_cancel::not_now(&stage, e.to_string()),
                        e => refusal(e),
                    })?;
                s = self.move_stay(s, &stage, next.clone()).await?;
                // A fee upload that read the ward first may have written a line meanwhile (a
                // return of a line withdrawn): put back, nothing sent.
                let known: Vec<String> = lines.into_iter().map(|l| l.feedetl_sn).collect();
                s = self.withdraw_if_a_line_came(s, &stage, &next, &known, "send the withdrawal again").await?;
            }
        }
        let s = self.advance_stay(s, false).await?;
        match stay_stage(&s)? {
            StayStage::InWard(w) if w.undone.withdrawn_by.as_deref() == Some(idem_key) => self.stay_view(&s).await,
            StayStage::InWard(w) if w.undone.refusal.is_some() => {
                Err(AppError::invalid("insurance_refused", w.undone.refusal.map(|f| f.message).unwrap_or_default()))
            }
            other => Err(AppError::conflict("stay_in_progress", format!("the stay moved meanwhile ({}); retry", other.state()))),
        }
    }
}

/// The request's lines as the machine reads them: `["0000"]` alone is every unsettled line.
fn asked(lines: &[String]) -> Result<WithdrawFees, AppError> {
    match lines {
        [] => Err(AppError::invalid("bad_lines", "name the lines to withdraw, or [\"0000\"] for every unsettled line")),
        [only] if only == EVERY_UNSETTLED_LINE => Ok(WithdrawFees::Unsettled),
        _ if lines.iter().any(|sn| sn == EVERY_UNSETTLED_LINE) => {
            Err(AppError::invalid("bad_lines", "\"0000\" (every unsettled line) is sent alone, not beside other lines"))
        }
        _ => {
            for (i, sn) in lines.iter().enumerate() {
                check_text(&format!("lines[{i}]"), sn, 30)?;
            }
            Ok(WithdrawFees::Lines(lines.to_vec()))
        }
    }
}

/// A stay's fee line as the withdrawal reads it: the charge a return names, from its 2301 detail.
fn on_record(line: &crate::store::StayFeeLine) -> LineOnRecord {
    let detail: Option<Map<String, Value>> = serde_json::from_str(&line.detail_json).ok();
    let returns = detail.as_ref().and_then(|d| super::visits::text_field(d, "init_feedetl_sn"));
    LineOnRecord { feedetl_sn: line.feedetl_sn.clone(), returns, uploaded: line.uploaded }
}

fn refusal(e: WithdrawRefusal) -> AppError {
    let words = e.to_string();
    match e {
        WithdrawRefusal::Settled { .. } => AppError::conflict("fee_line_settled", words),
        WithdrawRefusal::UnknownLine(_) | WithdrawRefusal::NothingToWithdraw => AppError::invalid("unknown_fee_line", words),
        WithdrawRefusal::UploadInProgress => AppError::conflict("upload_in_progress", words),
        WithdrawRefusal::NotNow(_) => AppError::conflict("stay_not_open", words),
    }
}
