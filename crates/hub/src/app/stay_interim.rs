//! 中途结算: the interim settlement of a long stay (`POST /api/v1/stays/{id}/interim_settlement`),
//! the orchestrator of `wugan_domain::inpatient::interim` (every decision is the machine's). While
//! the patient is in the ward it settles every fee line uploaded since the last settlement with
//! `mid_setl_flag` 1 (2303, then 2304, under msgids fixed in the stage before the first is sent),
//! captures the cash share from the deposit hold (`{stay}:interim:{n}:capture`) and, because a
//! capture closes the bank's authorization, holds the rest again (`{stay}:interim:{n}:hold`,
//! the stay's hold from then on: raises, the final capture and the release name it). A stay that
//! holds nothing has the interim's cash share charged to the line in one call instead, under the
//! same capture id. The stay stays in the ward; the final bedside settlement covers only the lines left.

use super::inpatient::stay_stage;
use super::*;
use crate::store::StayRow;
use serde::Serialize;
use utoipa::ToSchema;
use wugan_domain::inpatient::{self, InterimPaid, InterimStep, StayCall, StayOutcome, StayReply, StayStage, Ward};

/// One interim settlement of a stay, as the HIS sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = StayInterimSettlement)]
pub struct InterimSettlementView {
    /// 1 for the stay's first.
    pub n: u32,
    pub setl_id: String,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub personal_account_fen: i64,
    pub cash_fen: i64,
    /// Captured on the hold.
    pub bank_fen: i64,
    /// The share nobody paid yet: an explicit bill.
    pub unpaid_fen: i64,
    /// Held again after the capture.
    pub reheld_fen: i64,
    pub decline_code: Option<String>,
    /// The fee lines it settled (`feedetl_sn`).
    pub lines: Vec<String>,
}

impl InterimSettlementView {
    pub(super) fn of(p: &InterimPaid) -> InterimSettlementView {
        InterimSettlementView {
            n: p.n,
            setl_id: p.setl_id.clone(),
            medfee_fen: p.split.medfee.0,
            fund_fen: p.split.fund.0,
            personal_account_fen: p.split.personal_account.0,
            cash_fen: p.split.cash.0,
            bank_fen: p.captured.0,
            unpaid_fen: p.unpaid().0,
            reheld_fen: p.reheld.0,
            decline_code: p.decline_code.clone(),
            lines: p.lines.clone(),
        }
    }
}

/// The bank authorization that is the stay's hold now: the deposit's (`{stay}:hold`), the one
/// the last interim settlement held again (cancelled since or not: a cancellation leaves the hold
/// as it is), or a fresh one the ward placed (`{stay}:hold:{n}`).
pub(super) fn hold_request_id(stay_id: &str, ward: Option<&Ward>) -> String {
    // A fresh hold the ward placed (stay_holds.rs) since.
    if let Some(n) = ward.and_then(|w| w.placed) {
        return format!("{stay_id}:hold:{n}");
    }
    let reheld = ward.and_then(Ward::last_reheld);
    match reheld {
        Some(i) => format!("{stay_id}:interim:{}:hold", i.n),
        None => format!("{stay_id}:hold"),
    }
}

/// The bank request `op` (`capture`, which a charge shares, `void`, `refund`) of the stay's bedside
/// settlement now: `{stay}:{op}` for its first, `{stay}:resettle:{n}:{op}` after the `n`-th
/// cancelled one (`Ward::settle_scope`), so a settlement after a 2305 never reuses the first's ids.
pub(super) fn settle_request_id(stay_id: &str, ward: Option<&Ward>, op: &str) -> String {
    format!("{stay_id}:{}{op}", ward.map(Ward::settle_scope).unwrap_or_default())
}

/// A stay's charge (扣款) as the machine reads it: the whole amount taken, or the bank's decline.
/// A charge of another amount is a bad reply; an unknown outcome is `Err`, resolved by the bank's
/// record of the same request id.
pub(super) fn charge_outcome(charged: Result<Authorization, BankError>, amount: Fen) -> Result<StayOutcome, AppError> {
    match charged {
        Ok(Authorization::Approved { amount: taken }) if taken == amount => Ok(StayOutcome::Done(StayReply::Captured)),
        Ok(Authorization::Approved { amount: taken }) => {
            Err(AppError::bad_gateway("partner_bad_reply", format!("the bank charged {taken} of {amount}")))
        }
        Ok(Authorization::Declined { code }) => Ok(StayOutcome::Refused { code: code.to_string(), message: "declined".into() }),
        Err(BankError::Refused { code, message }) => Ok(StayOutcome::Refused { code: code.to_string(), message }),
        Err(e) => Err(AppError::from(e)),
    }
}

/// The refusal of a fee upload or a bedside discharge that arrives while an interim settlement of
/// the stay is under way (`interim_settling`): its 2303/2304 cover the lines fixed when it began.
pub(super) fn interim_in_progress() -> AppError {
    AppError::conflict(
        "interim_settlement_in_progress",
        "an interim settlement (中途结算) of this stay is under way: wait for it to finish (or resend it), then try again",
    )
}

impl App {
    /// 中途结算: settles the lines uploaded so far while the patient stays in the ward.
    pub async fn interim_settlement(&self, hospital: &str, id: &str, idem_key: &str) -> Result<StayView, AppError> {
        let mut s = self.own_stay(hospital, id).await?;
        if matches!(stay_stage(&s)?, StayStage::InWard(ward) if ward.deposit_in_flight()) {
            // A raise whose answer was lost is answered first: the settlement captures on the hold as it stands.
            s = self.advance_stay(s, true).await?;
        }
        let stage = stay_stage(&s)?;
        let ward = stage.ward();
        if ward.is_some_and(|w| w.interims.iter().any(|i| i.request == idem_key)) {
            // The same request again, its settlement finished (its answer lost to a 503).
            return self.stay_view(&s).await;
        }
        let before = ward.map_or(0, |w| w.interims.len());
        super::stay_interim_cancel::refuse_while_undoing(&stage)?;
        let s = match stage {
            // One cut short: move it on.
            StayStage::Interim(_) => s,
            _ => self.begin_interim(s, &stage, idem_key).await?,
        };
        let s = self.advance_stay(s, false).await?;
        self.invoice_stay_after(&s.id).await;
        match stay_stage(&s)? {
            StayStage::InWard(w) if w.interims.len() <= before => {
                let why = w.interim_refusal.map(|f| f.message).unwrap_or_else(|| "insurance refused the interim settlement".into());
                Err(AppError::invalid("insurance_refused", why))
            }
            _ => self.stay_view(&s).await,
        }
    }

    /// Fixes the interim's lines and msgids in the stage before 2303 is sent.
    async fn begin_interim(&self, s: StayRow, stage: &StayStage, idem_key: &str) -> Result<StayRow, AppError> {
        let lines = self.store.stay_fee_lines(&s.id).await?;
        if lines.iter().any(|l| !l.uploaded) {
            // A 2301 whose outcome is unknown: the center may or may not count its lines.
            return Err(AppError::conflict("upload_in_progress", "an earlier fee upload has not completed; resend it first"));
        }
        let with_amounts: Vec<(String, Fen)> = lines.into_iter().map(|l| (l.feedetl_sn, l.amount)).collect();
        let uploaded: Vec<String> = with_amounts.iter().map(|(sn, _)| sn.clone()).collect();
        let ids = inpatient::InterimIds {
            request: idem_key.to_string(),
            presettle_msgid: self.msgid(&s.hospital_code).await?,
            settle_msgid: self.msgid(&s.hospital_code).await?,
        };
        let next = inpatient::begin_interim(stage, &with_amounts, ids).map_err(|e| match e {
            inpatient::StayError::NothingToSettle => AppError::conflict("nothing_to_settle", e.to_string()),
            other => AppError::conflict("stay_not_open", other.to_string()),
        })?;
        let s = self.move_stay(s, stage, next.clone()).await?;
        // Every line read above was uploaded: a line that is not among them came in meanwhile.
        self.withdraw_if_a_line_came(s, stage, &next, &uploaded, "send the interim settlement again").await
    }

    /// Makes an interim settlement's call with the request ids fixed for it. `Err` is an unknown outcome.
    pub(super) async fn make_interim_call(
        &self,
        s: &mut StayRow,
        stage: &StayStage,
        call: &StayCall,
        agreement: &AgreementRow,
        charges: Fen,
        in_doubt: bool,
    ) -> Result<StayOutcome, AppError> {
        let StayStage::Interim(interim) = stage else { return Err(AppError::internal("an interim call outside an interim settlement")) };
        let inst = self.institution(&s.hospital_code).await?;
        let bank = self.bank(&agreement.bank_code)?;
        let hold = hold_request_id(&s.id, Some(&interim.ward));
        let insurance = |e: InsuranceError| match e {
            InsuranceError::Refused { infcode, message } => Ok(StayOutcome::Refused { code: infcode.to_string(), message }),
            other => Err(AppError::from(other)),
        };
        let banked = |e: BankError| match e {
            BankError::Refused { code, message } => Ok(StayOutcome::Refused { code: code.to_string(), message }),
            other => Err(AppError::from(other)),
        };
        let done = |r: StayReply| Ok(StayOutcome::Done(r));
        let (admdvs, ins, n) = (&s.insuplc_admdvs, &self.insurance, interim.n);
        match call {
            StayCall::InterimPreSettle => {
                let input = self.stay_settle_input(s, stage, charges, agreement, false)?;
                match ins.call("2303", &interim.presettle_msgid, &inst, admdvs, input).await {
                    Ok(out) => {
                        let split = InsuranceClient::read_settlement(&out)?.split;
                        s.presettle_echo = Some(super::stay_settle_input::kept_echo(&out));
                        done(StayReply::Estimated { split })
                    }
                    Err(e) => insurance(e),
                }
            }
            StayCall::InterimSettle => match ins
                .call("2304", &interim.settle_msgid, &inst, admdvs, self.stay_settle_input(s, stage, charges, agreement, true)?)
                .await
            {
                Ok(out) => {
                    let settled = InsuranceClient::read_settlement(&out)?;
                    done(StayReply::Insured { setl_id: settled.setl_id.unwrap_or_default(), split: settled.split })
                }
                Err(e) => insurance(e),
            },
            StayCall::InterimCapture { amount, .. } => bank
                .capture(&format!("{}:interim:{n}:capture", s.id), &hold, *amount, in_doubt)
                .await
                .map_or_else(banked, |_| done(StayReply::Captured)),
            // Nothing held: the interim's cash share charged in one call, under its capture's id;
            // after a capture that found the hold expired (that id spent), under `:charge`.
            StayCall::InterimCharge { amount, .. } => {
                let op = match &interim.step {
                    InterimStep::Insured { capture_declined: Some(_), .. } => "charge",
                    _ => "capture",
                };
                let id = format!("{}:interim:{n}:{op}", s.id);
                charge_outcome(bank.charge(&id, &agreement.bank_agreement_id, *amount, &s.hospital_code, in_doubt).await, *amount)
            }
            StayCall::InterimVoid { .. } => {
                bank.void(&format!("{}:interim:{n}:void", s.id), &hold, in_doubt).await.map_or_else(banked, |_| done(StayReply::Voided))
            }
            StayCall::InterimHold { amount, .. } => {
                let id = format!("{}:interim:{n}:hold", s.id);
                match bank.authorize_stay(&id, &agreement.bank_agreement_id, *amount, &s.hospital_code, in_doubt).await {
                    Ok(Authorization::Approved { amount }) => done(StayReply::Held { amount }),
                    Ok(Authorization::Declined { code }) => Ok(StayOutcome::Refused { code: code.to_string(), message: "declined".into() }),
                    Err(e) => banked(e),
                }
            }
            other => Err(AppError::internal(format!("{other:?} is not an interim settlement's call"))),
        }
    }
}
