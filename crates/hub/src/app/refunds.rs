//! 退费: fee lines returned after the doctor's click (a drug handed back, an examination not done),
//! run by `wugan_domain::refund` the way the click is run by the saga: persist, call, apply. The
//! insurance center reverses the settlement (2208), the lines kept go up again (2204) and are
//! settled again (2206 then 2207, a new `setl_id`), and the bank refunds exactly the difference against the
//! click's capture (`{refund}:bank`). A full refund returns every line: 2208, then the whole
//! capture. Every msgid is written with the refund before its first call, so an unknown outcome is
//! resolved by sending the same request again (the center replays a msgid, the bank asks its
//! record first): nothing is paid twice. Unfinished refunds are resumed by the recovery worker.
//!
//! 退号 (2202) is here too: a visit not settled is cancelled at the insurance center and closed.
//! A settled visit is refunded in full first (its lines all returned), then its registration may go.

use super::settlement::with_presettle_echo;
use super::*;
use crate::store::{ReconSettlement, RefundRow};
use wugan_domain::refund::{self, Original, RefundCall, RefundError, RefundOutcome, RefundReply, RefundStage, Resettled};
use wugan_domain::settlement::InsuranceSplit;

/// Refunds resumed per recovery pass at most (a backlog drains over several passes).
const RESUME_PER_PASS: i64 = 100;
/// Lines one refund may name at most (an upload holds 500).
const MAX_REFUND_LINES: usize = MAX_LINES_PER_UPLOAD;

/// 退费: the fee lines returned, by their `feedetl_sn`. Naming every line of the visit is a full refund.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Text or whole numbers, read as a fee upload reads `feedetl_sn` (`super::visits::fee_line_number`).
    #[serde(deserialize_with = "super::visits::fee_line_numbers")]
    #[schema(schema_with = super::commands::fee_line_numbers)]
    pub lines: Vec<String>,
}

/// A refund, as it stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Refund)]
pub struct RefundView {
    pub id: String,
    pub visit_id: String,
    pub settlement_id: String,
    /// requested, reversed, reuploaded, resettled (a call outstanding), refunded or refused (final).
    pub state: &'static str,
    /// The lines returned.
    pub lines: Vec<String>,
    /// The lines kept, settled again (empty for a full refund).
    pub remaining_lines: Vec<String>,
    /// The settlement reversed (2208).
    pub original_setl_id: Option<String>,
    /// The re-settlement of the lines kept (2207), once made; absent for a full refund and for a
    /// self-paid visit.
    pub resettled_setl_id: Option<String>,
    /// The lines kept, as insurance settled them again.
    pub resettled: Option<SplitView>,
    /// What the bank gave back to the source that paid, once refunded.
    pub bank_refund_fen: Option<i64>,
    /// Insurance only (setl_type HI), once refunded: the cash the hospital hands back to the
    /// patient itself (the cash share it collected less the remaining lines' new one); the bank
    /// is never called. Absent in the other settlement types.
    pub hospital_returns_fen: Option<i64>,
    pub full: bool,
    /// Why insurance would not reverse the settlement (state refused).
    pub refusal: Option<String>,
    /// Why it waits in the operator's exceptions queue (a bank decline after the reversal, or a
    /// partner silent through every recovery pass); absent while it moves on by itself.
    pub parked_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl RefundView {
    pub(super) fn of(r: &RefundRow, stage: &RefundStage) -> RefundView {
        let (original, resettled, bank_refund, refusal) = match stage {
            RefundStage::Requested { original, .. } | RefundStage::Reversed { original, .. } | RefundStage::Reuploaded { original, .. } => {
                (Some(original), None, None, None)
            }
            RefundStage::Resettled { original, resettled } => (Some(original), Some(resettled), None, None),
            RefundStage::Refunded(done) => (Some(&done.original), done.resettled.as_ref(), Some(done.bank_refund.0), None),
            RefundStage::Refused { code, message } => (None, None, None, Some(format!("({code}) {message}"))),
        };
        RefundView {
            id: r.id.clone(),
            visit_id: r.visit_id.clone(),
            settlement_id: r.settlement_id.clone(),
            state: stage.state(),
            lines: r.lines.clone(),
            remaining_lines: r.remaining.clone(),
            original_setl_id: original.map(|o| o.setl_id.clone()).filter(|s| !s.is_empty()),
            resettled_setl_id: resettled.map(|s| s.setl_id.clone()).filter(|s| !s.is_empty()),
            resettled: resettled.map(|s| SplitView::of(&s.split)),
            bank_refund_fen: bank_refund,
            hospital_returns_fen: None,
            full: r.remaining.is_empty(),
            refusal,
            parked_reason: r.parked_reason.clone(),
            created_at: r.created_at.clone(),
            updated_at: r.updated_at.clone(),
        }
    }
}

pub(super) fn stage_of(r: &RefundRow) -> Result<RefundStage, AppError> {
    serde_json::from_str(&r.stage_json).map_err(|e| AppError::internal(format!("refund {} is stored in no stage: {e}", r.id)))
}

fn stage_json(stage: &RefundStage) -> Result<String, AppError> {
    serde_json::to_string(stage).map_err(|e| AppError::internal(format!("a refund stage as JSON: {e}")))
}

/// What the visit's earlier refunds left: the settlement now in force and the lines already returned.
struct Standing {
    original: Original,
    returned: HashSet<String>,
}

/// The settlement in force after the visit's finished refunds (the click's, or the last
/// re-settlement), or why nothing can be refunded.
fn standing(click: &SettlementRow, refunds: &[RefundRow]) -> Result<Standing, AppError> {
    let split = click.split.ok_or_else(|| AppError::internal("a settled settlement without its split"))?;
    let mut original = Original { setl_id: click.setl_id.clone().unwrap_or_default(), split, captured: click.captured };
    let mut returned = HashSet::new();
    for r in refunds {
        match stage_of(r)? {
            RefundStage::Refused { .. } => continue,
            RefundStage::Refunded(done) => {
                returned.extend(r.lines.iter().cloned());
                let Some(again) = done.resettled else {
                    return Err(AppError::conflict("nothing_to_refund", "every line of this visit is refunded already"));
                };
                original = Original { setl_id: again.setl_id, split: again.split, captured: done.original.captured - done.bank_refund };
            }
            _ => {
                return Err(AppError::conflict(
                    "refund_in_progress",
                    format!("refund {} of this visit is not finished yet; retry shortly", r.id),
                ))
            }
        }
    }
    Ok(Standing { original, returned })
}

/// [`App::bill_in_force`] of a click, given its visit's refunds (oldest first).
pub(super) fn bill_in_force_of(click: &SettlementRow, refunds: &[RefundRow]) -> Result<(Fen, bool), AppError> {
    let (mut owed, mut refunding) = (click.unpaid, false);
    for r in refunds.iter().filter(|r| r.settlement_id == click.id) {
        match stage_of(r)? {
            RefundStage::Refunded(done) => owed = done.owed(),
            RefundStage::Refused { .. } => {}
            _ => refunding = true,
        }
    }
    Ok((owed, refunding))
}

/// Splits the visit's lines still in force into those returned now and those kept; refuses an
/// unknown line, a line named twice or one refunded before.
fn split_lines(
    lines: &[FeeLineRow],
    asked: &[String],
    returned_before: &HashSet<String>,
) -> Result<(Vec<FeeLineRow>, Vec<FeeLineRow>), AppError> {
    if asked.is_empty() || asked.len() > MAX_REFUND_LINES {
        return Err(AppError::invalid("bad_refund_lines", format!("name 1 to {MAX_REFUND_LINES} fee lines to refund")));
    }
    let mut wanted = HashSet::new();
    for sn in asked {
        if !wanted.insert(sn.as_str()) {
            return Err(AppError::invalid("duplicate_fee_line", format!("fee line {sn} is named twice")));
        }
        if returned_before.contains(sn) {
            return Err(AppError::conflict("already_refunded", format!("fee line {sn} was refunded before")));
        }
        if !lines.iter().any(|l| &l.feedetl_sn == sn && l.uploaded) {
            return Err(AppError::invalid("unknown_fee_line", format!("this visit has no settled fee line {sn}")));
        }
    }
    let live = lines.iter().filter(|l| l.uploaded && !returned_before.contains(&l.feedetl_sn)).cloned();
    Ok(live.partition(|l| wanted.contains(l.feedetl_sn.as_str())))
}

impl App {
    /// 退费 of these fee lines of a settled visit (every line still in force: a full refund),
    /// under the caller's `idem_key`: the same key again gets the same refund. The entry point of
    /// the HIS API and of the demo.
    pub async fn refund_lines(&self, hospital: &str, visit_id: &str, lines: &[String], idem_key: &str) -> Result<RefundView, AppError> {
        let visit = self.own_visit(hospital, visit_id).await?;
        if let Some(existing) = self.store.refund_by_key(visit_id, idem_key).await? {
            return self.answer_refund(existing, &visit).await;
        }
        let click = self
            .store
            .settlement_of_visit(visit_id)
            .await?
            .filter(|s| matches!(s.state, SettlementState::Settled | SettlementState::SettledUnpaid))
            .ok_or_else(|| AppError::conflict("not_settled", "only a settled visit's fee lines can be refunded"))?;
        self.refuse_if_bill_collected(&click.id).await?;
        if self.store.settlement_record(&click.id).await?.is_some_and(|r| !r.setl_type.hub_settles_insurance()) {
            return Err(AppError::conflict(
                "settled_by_hospital",
                "this visit's insurance was settled by the hospital's platform: refund it there",
            ));
        }
        let Standing { original, returned } = standing(&click, &self.store.refunds_of_visit(visit_id).await?)?;
        let (back, kept) = split_lines(&self.store.fee_lines(visit_id).await?, lines, &returned)?;
        let remaining: Fen = kept.iter().map(|l| l.amount).sum();
        let stage = refund::begin(original, remaining).map_err(|e| match e {
            RefundError::NothingReturned { .. } => AppError::conflict("nothing_to_refund", "the lines named are worth nothing to refund"),
            other => AppError::internal(other.to_string()),
        })?;
        let now = self.now();
        let row = RefundRow {
            id: new_id("rfd"),
            visit_id: visit_id.to_string(),
            settlement_id: click.id.clone(),
            hospital_code: hospital.to_string(),
            lines: back.iter().map(|l| l.feedetl_sn.clone()).collect(),
            remaining: kept.iter().map(|l| l.feedetl_sn.clone()).collect(),
            state: stage.state().to_string(),
            stage_json: stage_json(&stage)?,
            reverse_msgid: self.msgid(hospital).await?,
            reupload_msgid: self.msgid(hospital).await?,
            resettle_msgid: self.msgid(hospital).await?,
            presettle_msgid: Some(self.msgid(hospital).await?),
            resettle_echo: None,
            idem_key: idem_key.to_string(),
            attempts: 0,
            parked_reason: None,
            created_at: now.clone(),
            updated_at: now,
        };
        if !self.store.insert_refund(&row).await? {
            // A racing request with the same key wrote it, another refund is under way, or the
            // click's unpaid bill began to be charged meanwhile.
            self.refuse_if_bill_collected(&click.id).await?;
            if let Some(existing) = self.store.refund_by_key(visit_id, idem_key).await? {
                return self.answer_refund(existing, &visit).await;
            }
            let cancelling = self.store.settlement(&click.id).await?.is_some_and(|s| s.state == SettlementState::Cancelling);
            if cancelling {
                return Err(AppError::conflict(
                    "not_settled",
                    "this visit's settlement is being cancelled (结算撤销): everything it paid goes back with it, nothing is left to refund",
                ));
            }
            return Err(AppError::conflict("refund_in_progress", "another refund of this visit is not finished yet; retry shortly"));
        }
        self.answer_refund(row, &visit).await
    }

    /// What the patient owes of a settled_unpaid click now, and whether a refund of it is still
    /// under way (which may change that): the click's unpaid share, or after a finished refund
    /// what it left owed (`Refunded::owed`: nothing after a full refund).
    pub(super) async fn bill_in_force(&self, click: &SettlementRow) -> Result<(Fen, bool), AppError> {
        bill_in_force_of(click, &self.store.refunds_of_visit(&click.visit_id).await?)
    }

    /// The refund moved on as far as it goes now, as the caller is answered: a refusal by
    /// insurance is the error `insurance_refused`, every time it is asked.
    async fn answer_refund(&self, r: RefundRow, visit: &VisitRow) -> Result<RefundView, AppError> {
        if let Some(reason) = &r.parked_reason {
            // An operator owns it now (app/refund_exceptions.rs): the HIS's retry does not call again.
            return Err(AppError::conflict("refund_parked", format!("this refund waits in the operator's exceptions queue: {reason}")));
        }
        let in_doubt = r.attempts > 0 || r.updated_at != r.created_at;
        let r = self.drive_refund(r, visit, in_doubt).await?;
        let stage = stage_of(&r)?;
        if matches!(stage, RefundStage::Refunded(_)) {
            self.invoice_refund(&r).await; // app/refund_invoices.rs
        }
        if let RefundStage::Refused { code, message } = &stage {
            return Err(AppError::invalid(
                "insurance_refused",
                format!("the insurance center refused to reverse the settlement ({code}): {message}"),
            ));
        }
        self.refund_view(&r, &stage).await
    }

    /// A refund of one of the hospital's visits.
    pub async fn refund_of_visit(&self, hospital: &str, visit_id: &str, refund_id: &str) -> Result<RefundView, AppError> {
        self.own_visit(hospital, visit_id).await?;
        let r = self
            .store
            .refund(refund_id)
            .await?
            .filter(|r| r.visit_id == visit_id)
            .ok_or_else(|| AppError::not_found("refund_not_found", "no such refund of this visit"))?;
        self.refund_view(&r, &stage_of(&r)?).await
    }

    /// A visit's refunds, oldest first.
    pub async fn refunds_of(&self, hospital: &str, visit_id: &str) -> Result<Vec<RefundView>, AppError> {
        self.own_visit(hospital, visit_id).await?;
        let mut views = Vec::new();
        for r in self.store.refunds_of_visit(visit_id).await? {
            views.push(self.refund_view(&r, &stage_of(&r)?).await?);
        }
        Ok(views)
    }

    /// Moves a refund on until it is final or a partner's answer is unknown (`Err`, counted).
    pub(super) async fn drive_refund(&self, r: RefundRow, visit: &VisitRow, in_doubt: bool) -> Result<RefundRow, AppError> {
        let id = r.id.clone();
        let result = self.refund_loop(r, visit, in_doubt).await;
        match &result {
            // Past 2208 a refusal (the bank declined to give the money back, insurance refused
            // to settle the lines kept) will not change by asking again: a person must look.
            Err(e) if e.code() == "partner_refused" => self.store.park_refund(&id, &e.for_an_operator()).await?,
            Err(e) if e.is_retryable() => self.store.note_failed_refund_attempt(&id, &e.for_an_operator(), MAX_ATTEMPTS).await?,
            _ => {}
        }
        result
    }

    async fn refund_loop(&self, mut r: RefundRow, visit: &VisitRow, mut in_doubt: bool) -> Result<RefundRow, AppError> {
        let click = self.store.settlement(&r.settlement_id).await?.ok_or_else(|| AppError::internal("a refund's settlement vanished"))?;
        let agreement = self.store.agreement(&click.agreement_id).await?.ok_or_else(|| AppError::internal("agreement vanished"))?;
        let refund_id = r.id.clone();
        let parties = Parties {
            settlement_id: &refund_id,
            hospital_code: &visit.hospital_code,
            psn_no: &visit.psn_no,
            insuplc_admdvs: &visit.insuplc_admdvs,
            insutype: &visit.insutype,
            bank_code: &agreement.bank_code,
            bank_agreement_id: &agreement.bank_agreement_id,
            cash_at_hospital: click.cash_at_hospital,
        };
        loop {
            let stage = stage_of(&r)?;
            let step = match refund::next_call(&stage) {
                Some(call) => {
                    let outcome = self.refund_call(&r, &stage, &call, visit, &click, &agreement, in_doubt).await?;
                    refund::apply(&stage, &parties, &call, outcome).map_err(|e| refund_error(&r, e))?
                }
                None => match refund::finish_without_call(&stage, &parties) {
                    Some(step) => step,
                    None => return Ok(r),
                },
            };
            let from = std::mem::replace(&mut r.stage_json, stage_json(&step.stage)?);
            r.state = step.stage.state().to_string();
            r.updated_at = self.now();
            // A bill the click left unpaid is owed, from now on, only for the lines kept; a settled
            // click owes what the re-settlement's cash share is above the capture (the personal
            // account spent meanwhile), or nothing.
            let owed = match &step.stage {
                RefundStage::Refunded(done) if !click.cash_at_hospital => match click.state {
                    SettlementState::SettledUnpaid => Some(done.owed()),
                    SettlementState::Settled if done.owed().is_positive() => Some(done.owed()),
                    _ => None,
                },
                _ => None,
            };
            if !self.store.save_refund(&r, &from, &step.transfers, owed).await? {
                // Another run moved it meanwhile: continue from what it wrote.
                r = self.store.refund(&r.id).await?.ok_or_else(|| AppError::internal("refund vanished"))?;
                in_doubt = true;
                continue;
            }
            in_doubt = false;
            // What is owed is collected on the line at the notifier's next pass: it may have room
            // now (a settled click's line had), and a decline waits for the line's next room.
            if let Some(owed) = owed.filter(|o| o.is_positive()) {
                self.store.want_bill_collected(&click.id, &click.agreement_id, owed).await?;
            }
        }
    }

    /// Makes the refund's call with the request ids fixed for it. `Err` is an unknown outcome.
    #[allow(clippy::too_many_arguments)]
    async fn refund_call(
        &self,
        r: &RefundRow,
        stage: &RefundStage,
        call: &RefundCall,
        visit: &VisitRow,
        click: &SettlementRow,
        agreement: &AgreementRow,
        in_doubt: bool,
    ) -> Result<RefundOutcome, AppError> {
        let done = |reply| Ok(RefundOutcome::Done(reply));
        let refused = |e: InsuranceError| match e {
            InsuranceError::Refused { infcode, message } => Ok(RefundOutcome::Refused { code: infcode.to_string(), message }),
            other => Err(AppError::from(other)),
        };
        if let RefundCall::BankRefund { amount } = call {
            let bank = self.bank(&agreement.bank_code)?;
            let capture = format!("{}:capture", click.id);
            return match bank.refund(&format!("{}:bank", r.id), &capture, *amount, in_doubt).await {
                Ok(()) => done(RefundReply::Refunded),
                Err(BankError::Refused { code, message }) => Ok(RefundOutcome::Refused { code: code.to_string(), message }),
                Err(e) => Err(e.into()),
            };
        }
        let remaining = match stage {
            RefundStage::Requested { remaining, .. }
            | RefundStage::Reversed { remaining, .. }
            | RefundStage::Reuploaded { remaining, .. } => *remaining,
            _ => Fen::ZERO,
        };
        if visit.is_self_pay() {
            // No insurance: the hub's own record is the only settlement there is.
            return done(match call {
                RefundCall::ReverseInsurance => RefundReply::Reversed,
                RefundCall::Reupload => RefundReply::Reuploaded,
                _ => RefundReply::Resettled(Resettled { setl_id: String::new(), split: InsuranceSplit::self_pay(remaining) }),
            });
        }
        let inst = self.institution(&visit.hospital_code).await?;
        let admdvs = &visit.insuplc_admdvs;
        match call {
            RefundCall::ReverseInsurance => {
                let RefundStage::Requested { original, .. } = stage else { return Err(AppError::internal("2208 outside requested")) };
                let input = json!({"data": {"setl_id": original.setl_id, "mdtrt_id": visit.mdtrt_id, "psn_no": visit.psn_no}});
                match self.insurance.call("2208", &r.reverse_msgid, &inst, admdvs, input).await {
                    Ok(_) => done(RefundReply::Reversed),
                    // Asked about before it is believed (app/refusal_checks.rs).
                    Err(e @ InsuranceError::Refused { .. }) => match self.reversal_took_effect(&inst, visit, &original.setl_id).await? {
                        true => done(RefundReply::Reversed),
                        false => refused(e),
                    },
                    Err(e) => refused(e),
                }
            }
            RefundCall::Reupload => {
                let feedetail = self.kept_lines(r).await?;
                match self.insurance.call("2204", &r.reupload_msgid, &inst, admdvs, json!({"feedetail": feedetail})).await {
                    Ok(_) => done(RefundReply::Reuploaded),
                    Err(e) => refused(e),
                }
            }
            RefundCall::Resettle => {
                let original_setl_id = match stage {
                    RefundStage::Reuploaded { original, .. } | RefundStage::Reversed { original, .. } => original.setl_id.clone(),
                    _ => return Err(AppError::internal("2207 outside reuploaded")),
                };
                // "0000": every unsettled line, which after 2208 are exactly the lines re-uploaded.
                let input = self.settle_input(visit, remaining, agreement.use_personal_account, "0000");
                let echo = match self.resettle_echo(r, &inst, admdvs, &input).await? {
                    Ok(echo) => echo,
                    Err(e) => return refused(e),
                };
                let input = with_presettle_echo(input, echo.as_deref());
                let sent = self.insurance.call("2207", &r.resettle_msgid, &inst, admdvs, input).await;
                let sent = match sent {
                    // Asked about before it is believed (app/refusal_checks.rs).
                    Err(e @ InsuranceError::Refused { .. }) => match self.resettled_already(&inst, visit, &original_setl_id).await? {
                        Some(output) => Ok(output),
                        None => Err(e),
                    },
                    sent => sent,
                };
                match sent {
                    Ok(output) => {
                        let settled = InsuranceClient::read_settlement(&output)?;
                        done(RefundReply::Resettled(Resettled { setl_id: settled.setl_id.unwrap_or_default(), split: settled.split }))
                    }
                    Err(e) => refused(e),
                }
            }
            RefundCall::BankRefund { .. } => Err(AppError::internal("the bank refund is made above")),
        }
    }

    /// What the re-settlement's 2207 carries back of a 2206 (`PRESETTLE_ECHO`, required by the
    /// national interface), as kept on the refund. The 2206 (`input`, the 2207's own, under the
    /// refund's `presettle_msgid`) is made inside this step, only while no echo is kept, and its
    /// echo is stored before 2207 is first sent. Why persisted rather than "2206 unless in doubt":
    /// a 2207 whose outcome is unknown is then resent with the same msgid and the same input (the
    /// center replays a msgid only for the same input), and no 2206 of ours follows a 2207 that
    /// may have taken effect (the center refuses to pre-settle lines already settled), whatever
    /// the refund's doubt says. A 2206 lost before that changed nothing: it is made again. A 2206
    /// refused while another run of the same refund kept an echo and sent its 2207 (a request and
    /// the recovery worker racing) is no failure: that echo is used. `Ok(None)`: a refund written
    /// before migration 0031 (no 2206 msgid), whose 2207 may already have gone out, re-settles as
    /// it did. The inner `Err` is the center's answer to the 2206 (a refusal parks the refund).
    async fn resettle_echo(
        &self,
        r: &RefundRow,
        inst: &Institution,
        admdvs: &str,
        input: &Value,
    ) -> Result<Result<Option<String>, InsuranceError>, AppError> {
        if let Some(kept) = &r.resettle_echo {
            return Ok(Ok(Some(kept.clone())));
        }
        let Some(msgid) = &r.presettle_msgid else { return Ok(Ok(None)) };
        let output = match self.insurance.call("2206", msgid, inst, admdvs, input.clone()).await {
            Ok(output) => output,
            Err(e @ InsuranceError::Refused { .. }) => {
                let kept = self.store.refund(&r.id).await?.and_then(|now| now.resettle_echo);
                return Ok(kept.map(Some).ok_or(e));
            }
            Err(e) => return Ok(Err(e)),
        };
        let echo = InsuranceClient::presettle_echo(&output).map_or_else(|| "{}".to_string(), |echo| echo.to_string());
        Ok(Ok(Some(self.store.keep_resettle_echo(&r.id, &echo).await?)))
    }

    /// The `feedetail` entries of the lines a refund keeps, as first sent (2204 takes the same
    /// `feedetl_sn` again once 2208 has released them).
    async fn kept_lines(&self, r: &RefundRow) -> Result<Vec<Value>, AppError> {
        let lines = self.store.fee_lines(&r.visit_id).await?;
        r.remaining
            .iter()
            .map(|sn| {
                let line =
                    lines.iter().find(|l| &l.feedetl_sn == sn).ok_or_else(|| AppError::internal(format!("kept line {sn} vanished")))?;
                serde_json::from_str(&line.detail_json).map_err(|e| AppError::internal(format!("fee line {sn} is stored as no JSON: {e}")))
            })
            .collect()
    }

    /// Resumes the refunds left between steps and idle since `cutoff` (the recovery worker).
    pub(super) async fn resume_refunds(&self, cutoff: &str) -> Result<usize, AppError> {
        let mut resumed = 0;
        for r in self.store.unfinished_refunds(cutoff, RESUME_PER_PASS).await? {
            let Some(visit) = self.store.visit(&r.visit_id).await? else { continue };
            match self.drive_refund(r, &visit, true).await {
                Ok(_) => resumed += 1,
                Err(e) => tracing::warn!(code = e.code(), "refund could not be resumed yet"),
            }
        }
        Ok(resumed + self.refund_invoice_pass().await?)
    }

    /// Registration cancels whose 2202 went unanswered and that nobody retried: sent again under
    /// their msgid (the center replays its answer), so the hub and the center agree without waiting
    /// for the HIS.
    pub(super) async fn resume_registration_cancels(&self, cutoff: &str) -> Result<usize, AppError> {
        let mut resumed = 0;
        for (visit_id, hospital, key) in self.store.unfinished_registration_cancels(cutoff, RESUME_PER_PASS).await? {
            match self.cancel_registration(&hospital, &visit_id, &key).await {
                Ok(_) => resumed += 1,
                // Settled since: the center took a settlement of the visit, so it never cancelled it.
                Err(e) if e.code() == "settled_refund_first" => self.store.drop_registration_cancel(&visit_id).await?,
                Err(e) => tracing::warn!(code = e.code(), "a registration cancel could not be resumed yet"),
            }
        }
        Ok(resumed)
    }

    /// 退号 (2202): cancels the registration of a visit with nothing settled in force (never
    /// settled, a settlement failed or cancelled, or every line refunded). The msgid is written
    /// before the call, so a retry resends it and the center replays its answer.
    pub async fn cancel_registration(&self, hospital: &str, visit_id: &str, idem_key: &str) -> Result<VisitView, AppError> {
        let visit = self.own_visit(hospital, visit_id).await?;
        if visit.status == VisitStatus::Cancelled {
            return self.visit_view(&visit).await;
        }
        self.check_nothing_in_force(&visit).await?;
        let (msgid, done) = self.store.begin_registration_cancel(visit_id, &self.msgid(hospital).await?, idem_key).await?;
        if !done && !visit.is_self_pay() && !visit.mdtrt_id.is_empty() {
            let inst = self.institution(hospital).await?;
            let input = json!({"data": {"mdtrt_id": visit.mdtrt_id, "psn_no": visit.psn_no, "ipt_otp_no": visit.ipt_otp_no}});
            match self.insurance.call("2202", &msgid, &inst, &visit.insuplc_admdvs, input).await {
                Ok(_) => {}
                Err(InsuranceError::Refused { infcode, message }) => {
                    // The visit stays registered: nothing is left for the recovery worker to send.
                    self.store.drop_registration_cancel(visit_id).await?;
                    return Err(AppError::invalid(
                        "insurance_refused",
                        format!("the insurance center refused the registration cancel ({infcode}): {message}"),
                    ));
                }
                Err(other) => return Err(other.into()),
            }
        }
        self.store.finish_registration_cancel(visit_id).await?;
        let visit = self.own_visit(hospital, visit_id).await?;
        self.visit_view(&visit).await
    }

    /// A registration may go only when no settlement of it stands: a settled visit is refunded in
    /// full first (the hospital's money goes back through the refund, never through 2202).
    async fn check_nothing_in_force(&self, visit: &VisitRow) -> Result<(), AppError> {
        if visit.status == VisitStatus::Registering {
            return Err(AppError::conflict("visit_not_open", "the registration has not completed; resend it first"));
        }
        let Some(click) = self.store.settlement_of_visit(&visit.id).await? else { return Ok(()) };
        match click.state {
            SettlementState::Failed | SettlementState::Cancelled => Ok(()),
            SettlementState::Settled | SettlementState::SettledUnpaid => {
                match standing(&click, &self.store.refunds_of_visit(&visit.id).await?) {
                    Err(e) if e.code() == "nothing_to_refund" => Ok(()),
                    Err(e) => Err(e),
                    Ok(_) => Err(AppError::conflict(
                        "settled_refund_first",
                        "this visit is settled: refund every fee line first (POST /api/v1/visits/{id}/refunds), then cancel the registration",
                    )),
                }
            }
            _ => Err(AppError::conflict("settlement_in_progress", "this visit is being settled; retry shortly")),
        }
    }
}

fn refund_error(r: &RefundRow, e: RefundError) -> AppError {
    tracing::warn!(refund = %r.id, error = %e, "a partner's answer cannot be applied to a refund");
    match e {
        RefundError::Figures(_) => AppError::bad_gateway("insurance_bad_reply", e.to_string()),
        RefundError::RefusedUnrefusable { .. } => AppError::bad_gateway("partner_refused", e.to_string()),
        _ => AppError::bad_gateway("partner_bad_reply", e.to_string()),
    }
}

impl App {
    /// The day's settlements as the partners see them after refunds (reconciliation): a settlement
    /// a refund reversed (2208) is cancelled at the insurance center, and each re-settlement (2207)
    /// is a settlement of its own, under its new setl_id, dated when the refund finished. Refunds
    /// finished in `[from, to)` are read in one query; one still under way is in transit. A click
    /// older than the rows (refunded days after it) is read by its id.
    pub(super) async fn with_refunds(
        &self,
        mut rows: Vec<ReconSettlement>,
        from: &str,
        to: &str,
    ) -> Result<Vec<ReconSettlement>, AppError> {
        let mut refunds = self.store.refunds_finished_between(from, to).await?;
        refunds.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        for r in refunds {
            let RefundStage::Refunded(done) = stage_of(&r)? else { continue };
            let click = match rows.iter().find(|row| row.id == r.settlement_id).cloned() {
                Some(click) => click,
                // Clicked before the rows read (refunded days later): its visit's fields, read once.
                None => match self.store.reconciliation_settlement(&r.settlement_id).await? {
                    Some(click) => click,
                    None => continue,
                },
            };
            book_refund(&mut rows, &r, done, click);
        }
        Ok(rows)
    }
}

/// A finished refund as the partners see it, on the day's settlements `rows`: the settlement it
/// reversed (2208) cancelled, and its re-settlement (2207) a settlement of its own under its new
/// setl_id, dated when the refund finished (`click`: the settlement refunded, whose visit's fields
/// it keeps). Also reconciliation's re-read of one visit (`app/reconciliation_recheck.rs`).
pub(super) fn book_refund(rows: &mut Vec<ReconSettlement>, r: &RefundRow, done: wugan_domain::refund::Refunded, click: ReconSettlement) {
    if let Some(reversed) = rows.iter_mut().find(|row| row.setl_id.as_deref() == Some(done.original.setl_id.as_str())) {
        reversed.state = "cancelled".into();
    }
    let Some(again) = done.resettled.filter(|a| !a.setl_id.is_empty()) else { return };
    rows.push(ReconSettlement {
        id: r.id.clone(),
        state: "settled".into(),
        setl_id: Some(again.setl_id),
        medfee_fen: again.split.medfee.0,
        fund_fen: Some(again.split.fund.0),
        acct_fen: Some(again.split.personal_account.0),
        cash_fen: Some(again.split.cash.0),
        hosp_part_fen: Some(again.split.hospital_part.0),
        captured_fen: (done.original.captured - done.bank_refund).0,
        unpaid_fen: 0,
        collected_fen: 0,
        setlinfo_json: None,
        created_at: r.updated_at.clone(),
        ..click
    });
}
