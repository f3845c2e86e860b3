use super::*;
use crate::store::SettlementRecord;
use wugan_domain::ledger::Transfer;
use wugan_domain::seamless::Suspension;
use wugan_domain::settlement::cash_only::{self, SetlType};
use wugan_domain::settlement::saga::{self, Call, Insured, Outcome, Reply, SagaError, Stage};

impl App {
    /// The 2206/2207 `chrg_bchno`: the batch the visit's open fee lines went up in (2204 names the
    /// same), or "0000", every unsettled line, when they went up in several.
    async fn settle_batch(&self, visit: &VisitRow) -> Result<String, AppError> {
        Ok(batch_of(&self.store.fee_lines(&visit.id).await?))
    }

    pub(super) fn settle_input(&self, visit: &VisitRow, medfee: Fen, acct_used: bool, batch: &str) -> Value {
        json!({"data": {
            "psn_no": visit.psn_no, "mdtrt_cert_type": visit.mdtrt_cert_type,
            "mdtrt_cert_no": self.config.data_key.open(&visit.mdtrt_cert_no_enc).unwrap_or_default(),
            "med_type": visit.med_type, "medfee_sumamt": medfee.to_yuan_string(), "psn_setlway": "01", "mdtrt_id": visit.mdtrt_id,
            "chrg_bchno": batch, "acct_used_flag": if acct_used { "1" } else { "0" }, "insutype": visit.insutype,
        }})
    }

    /// The HIS's pre-settlement: the estimate, told to the patient as well (`estimate_ready`).
    pub async fn pre_settle(&self, hospital: &str, visit_id: &str) -> Result<EstimateView, AppError> {
        let visit = self.own_visit(hospital, visit_id).await?;
        let view = self.estimate_of(&visit).await?;
        self.notify_estimate(&visit, &view).await;
        Ok(view)
    }

    /// The estimate (2206) of a visit's open fees; changes nothing.
    pub(super) async fn estimate(&self, hospital: &str, visit_id: &str) -> Result<EstimateView, AppError> {
        self.estimate_of(&self.own_visit(hospital, visit_id).await?).await
    }

    async fn estimate_of(&self, visit: &VisitRow) -> Result<EstimateView, AppError> {
        let (hospital, visit_id) = (visit.hospital_code.as_str(), visit.id.as_str());
        if visit.status != VisitStatus::Registered {
            return Err(AppError::conflict(
                "visit_not_open",
                format!("there is nothing to estimate on a visit that is {}", visit.status.as_str()),
            ));
        }
        let (lines, medfee) = open_lines(self.store.fee_lines(&visit.id).await?)?;
        if !visit.is_self_pay() && visit.mdtrt_id.is_empty() {
            return Err(AppError::conflict(
                "settled_by_hospital",
                "this visit's insurance is settled by the hospital's own platform (CASH): ask it for the estimate",
            ));
        }
        if visit.is_self_pay() {
            let split = wugan_domain::settlement::InsuranceSplit::self_pay(medfee);
            return Ok(EstimateView {
                visit_id: visit_id.to_string(),
                estimate: SplitView::of(&split),
                seamless: visit.agreement_id.is_some(),
            });
        }
        let acct_used = self.agreement_of(visit).await?.map(|a| a.use_personal_account).unwrap_or(false);
        let inst = self.institution(hospital).await?;
        let input = self.settle_input(visit, medfee, acct_used, &batch_of(&lines));
        let digest = estimates::digest(&input, &lines, &self.china_datetime()[..10]);
        let output = self.insurance.call("2206", &self.msgid(hospital).await?, &inst, &visit.insuplc_admdvs, input).await?;
        let estimate = InsuranceClient::read_settlement(&output)?;
        estimate.split.validate(medfee).map_err(|e| AppError::bad_gateway("insurance_bad_reply", e.to_string()))?;
        // Kept for the click, which stands on it while these fees stand (预结算复用).
        let echo = InsuranceClient::presettle_echo(&output);
        let at_unix_s = self.store.clock.now_utc().unix_timestamp();
        let kept = estimates::KeptEstimate { digest, split: estimate.split, echo, at_unix_s };
        // Keeping it only saves the click a call: an estimate that could not be kept still stands.
        let kept = serde_json::to_string(&kept).map_err(|e| e.to_string());
        if let Err(e) = match kept {
            Ok(text) => self.store.keep_estimate(&visit.id, text).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        } {
            tracing::warn!(visit = %visit.id, error = %e, "the estimate was not kept: the click will send its own 2206");
        }
        Ok(EstimateView {
            visit_id: visit_id.to_string(),
            estimate: SplitView::of(&estimate.split),
            seamless: visit.agreement_id.is_some() && !self.switched_off(visit_id).await?,
        })
    }

    /// The visit's kept estimate, if it was asked on exactly what the click's 2206 would send.
    fn kept_estimate(&self, visit: &VisitRow, medfee: Fen, acct_used: bool, lines: &[FeeLineRow]) -> Option<estimates::KeptEstimate> {
        let input = self.settle_input(visit, medfee, acct_used, &batch_of(lines));
        let digest = estimates::digest(&input, lines, &self.china_datetime()[..10]);
        estimates::reusable(visit.last_estimate.as_deref(), &digest, self.store.clock.now_utc().unix_timestamp())
    }

    async fn agreement_of(&self, visit: &VisitRow) -> Result<Option<AgreementRow>, AppError> {
        match &visit.agreement_id {
            Some(id) => Ok(self.store.agreement(id).await?),
            None => Ok(None),
        }
    }

    /// The doctor's click (医生点击结算): insurance settles at once, the patient's cash share is
    /// charged to their bank agreement, the hospital is credited, the ledger records it all. A
    /// visit whose last attempt failed or was cancelled is settled again as a new attempt.
    pub async fn settle(&self, hospital: &str, visit_id: &str, request: &Keyed) -> Result<SettlementView, AppError> {
        let idem_key = request.key.as_str();
        // The visit, its settlement type and the patient's switch, read at once.
        let click = self.own_visit_for_click(hospital, visit_id).await?;
        let under_way = click.has_live_settlement();
        let visit = click.visit;
        if visit.status == VisitStatus::Cancelled {
            return Err(AppError::conflict(
                "visit_not_open",
                "this visit's registration was cancelled (退号): it can no longer be settled",
            ));
        }
        let setl_type = self.setl_type_with(hospital, click.setl_type).await?;
        if setl_type == SetlType::Cash {
            return Err(AppError::conflict(
                "settled_by_hospital",
                "this visit's insurance is settled by the hospital's own platform: post its 2207 output to /api/v1/cash-settlements",
            ));
        }
        let Some(agreement_id) = visit.agreement_id.clone() else {
            let reason = visit.seamless_reason.as_deref().and_then(Suspension::parse).unwrap_or(Suspension::NotSigned);
            let message = match reason {
                Suspension::NotSigned => reason.message().to_string(),
                other => {
                    format!("seamless payment was suspended when this visit was registered: {}; settle at the window", other.message())
                }
            };
            return Err(AppError::conflict("seamless_not_enabled", message));
        };
        // Switched off by the patient before the click: paid at the window. (An attempt already
        // under way is finished whatever the switch says: the switch closes at the click.)
        if !under_way && click.switch.is_some_and(|s| !s.enabled) {
            return Err(AppError::conflict(
                "seamless_switched_off",
                "the patient switched seamless payment off for this visit: it is paid at the window",
            ));
        }
        // The attempt itself is read only when there is one (a first click has none).
        let existing = match click.last_settlement {
            Some(_) => self.store.settlement_of_visit(visit_id).await?,
            None => None,
        };
        if let Some(existing) = existing {
            if let Some(answer) = self.existing_attempt(existing, &visit, request).await? {
                return answer.map(|s| SettlementView::of(&s));
            }
        }
        let agreement = self.store.agreement(&agreement_id).await?.ok_or_else(|| AppError::internal("agreement vanished"))?;
        if agreement.status != AgreementStatus::Active {
            return Err(AppError::conflict("agreement_not_active", "the patient's agreement was revoked after registration"));
        }
        let (lines, medfee) = open_lines(self.store.fee_lines(&visit.id).await?)?;
        let row = SettlementRow {
            id: new_id("stl"),
            visit_id: visit.id.clone(),
            hospital_code: hospital.to_string(),
            agreement_id,
            state: SettlementState::Started,
            presettle_msgid: self.msgid(hospital).await?,
            settle_msgid: self.msgid(hospital).await?,
            cancel_msgid: None,
            medfee,
            estimate_cash: None,
            setl_id: None,
            split: None,
            auth_request_id: None,
            auth_status: None,
            held: Fen::ZERO,
            decline_code: None,
            captured: Fen::ZERO,
            unpaid: Fen::ZERO,
            failure_code: None,
            failure_message: None,
            setlinfo_json: None,
            presettle_echo: None,
            attempts: 0,
            parked_reason: None,
            idem_key: Some(idem_key.to_string()),
            created_at: self.now(),
            updated_at: self.now(),
            insurance_reversed: false,
            cancel_idem_key: None,
            // Insurance only: the hospital collects the cash share itself (app/insurance_only.rs).
            cash_at_hospital: setl_type == SetlType::Hi,
        };
        let (row, created) = self.store.create_settlement(&row, lines.len()).await?;
        if !created {
            if let Some(answer) = self.existing_attempt(row, &visit, request).await? {
                return answer.map(|s| SettlementView::of(&s));
            }
            return Err(AppError::conflict("settlement_in_progress", "another click on this visit is being settled; retry shortly"));
        }
        // A settlement created just now has no platform record (only a posted 2207 has one).
        let known = Known { agreement: Some(agreement), lines: Some(lines), record: Some(None) };
        self.advance_known(row, &visit, false, Some(request), known).await.map(|s| SettlementView::of(&s))
    }

    /// What a click answers when the visit already has an attempt: the same click again gets its
    /// settlement; an unfinished one is moved on; a standing one refuses a second; a failed or
    /// cancelled one lets a new attempt start (`None`).
    async fn existing_attempt(
        &self,
        existing: SettlementRow,
        visit: &VisitRow,
        request: &Keyed,
    ) -> Result<Option<Result<SettlementRow, AppError>>, AppError> {
        let state = existing.state;
        if existing.idem_key.as_deref() == Some(request.key.as_str()) && state.is_final() {
            return Ok(Some(Ok(existing)));
        }
        Ok(match state {
            s if !s.is_final() => Some(self.advance(existing, visit, true, Some(request)).await),
            SettlementState::Settled | SettlementState::SettledUnpaid => {
                // Named, so that an HIS that lost the first click's answer (and retried with a new
                // key) reads the settlement with GET /api/v1/visits/{id}.
                Some(Err(AppError::Exists {
                    code: "already_settled",
                    message: format!("this visit's settlement {} is {}", existing.id, state.as_str()),
                    field: "settlement_id",
                    id: existing.id.clone(),
                }))
            }
            _ => None,
        })
    }

    /// Moves a settlement on from wherever it stands until it is final or a partner's answer is
    /// unknown. `in_doubt` says an earlier run may have left a call with an unknown outcome, so the
    /// partner's record is asked before that call is sent again. A run that stops on a partner's
    /// silence is counted; after `MAX_ATTEMPTS` the settlement is parked in the exceptions queue.
    /// `request`: the click or cancellation being answered, whose answer (the settlement's view)
    /// is stored with the save that makes the settlement final.
    pub async fn advance(
        &self,
        s: SettlementRow,
        visit: &VisitRow,
        in_doubt: bool,
        request: Option<&Keyed>,
    ) -> Result<SettlementRow, AppError> {
        self.advance_known(s, visit, in_doubt, request, Known::default()).await
    }

    /// `advance`, with what the caller has read already (the click: the agreement and the lines).
    async fn advance_known(
        &self,
        s: SettlementRow,
        visit: &VisitRow,
        in_doubt: bool,
        request: Option<&Keyed>,
        mut known: Known,
    ) -> Result<SettlementRow, AppError> {
        let id = s.id.clone();
        if known.agreement.is_none() {
            known.agreement = Some(self.store.agreement(&s.agreement_id).await?.ok_or_else(|| AppError::internal("agreement vanished"))?);
        }
        let was_final = s.state.is_final();
        let mut invoiced = false;
        let result = self.drive(s, visit, in_doubt, request, &known, &mut invoiced).await;
        // The invoice it now owes, if any (app/invoices.rs), unless its last save issued it; a run
        // that made it final has read what the invoice needs.
        match &result {
            _ if invoiced => {}
            Ok(s) if !was_final => self.invoice_after_known(&result, Some((s, visit, &known))).await,
            _ => self.invoice_after(&result).await,
        }
        if let Err(e) = &result {
            if e.is_retryable() {
                self.store.note_failed_attempt(&id, &e.for_an_operator(), MAX_ATTEMPTS).await?;
            }
        }
        result
    }

    /// The orchestrator: persist, call, apply. Every decision is the saga's. `invoiced`: the save
    /// that settled it issued its blue invoice too, in the same commit.
    async fn drive(
        &self,
        mut s: SettlementRow,
        visit: &VisitRow,
        mut in_doubt: bool,
        request: Option<&Keyed>,
        known: &Known,
        invoiced: &mut bool,
    ) -> Result<SettlementRow, AppError> {
        let agreement = known.agreement.as_ref().ok_or_else(|| AppError::internal("a run without its agreement"))?;
        let settlement_id = s.id.clone();
        let parties = Parties {
            settlement_id: &settlement_id,
            hospital_code: &visit.hospital_code,
            psn_no: &visit.psn_no,
            insuplc_admdvs: &visit.insuplc_admdvs,
            insutype: &visit.insutype,
            bank_code: &agreement.bank_code,
            bank_agreement_id: &agreement.bank_agreement_id,
            cash_at_hospital: s.cash_at_hospital,
        };
        // Read once a run: the platform's record (cash only) is written before the run, and the
        // lines cannot change while a settlement is live (fees are refused then).
        let record = match &known.record {
            Some(record) => record.clone(),
            None => self.store.settlement_record(&s.id).await?,
        };
        let mut batch = known.lines.as_deref().map(batch_of);
        // 预结算复用: an estimate asked on these very fees stands in for the click's own 2206.
        let kept = match (&known.lines, &visit.last_estimate) {
            (Some(lines), Some(_)) if !in_doubt && s.state == SettlementState::Started => {
                self.kept_estimate(visit, s.medfee, agreement.use_personal_account, lines)
            }
            _ => None,
        };
        // What is stored: the state the next save updates from, and the transfers of the steps
        // taken since (a stage the saga lets a run skip is kept in memory until the next save).
        let (mut stored, mut unsaved, mut dirty) = (s.state, Vec::new(), false);
        loop {
            let stage = s.stage().ok_or_else(|| AppError::internal(format!("settlement {} is stored in no stage the saga knows", s.id)))?;
            let Some(call) = saga::next_call(&stage) else { return Ok(s) };
            if matches!(call, Call::PreSettle | Call::SettleInsurance) && batch.is_none() {
                batch = Some(self.settle_batch(visit).await?);
            }
            // Err: the outcome is unknown; the stage stays as it is (saga::apply of Unknown).
            let run = Run { visit, agreement, record: record.as_ref(), batch: batch.as_deref().unwrap_or_default(), kept: kept.as_ref() };
            let outcome = match self.make_call(&mut s, &call, run, in_doubt).await {
                Ok(outcome) => outcome,
                Err(e) => return Err(self.keep_progress(&s, stored, &unsaved, dirty, e).await),
            };
            let refusal = match &outcome {
                Outcome::Refused { code, message } => Some(format!("({code}): {message}")),
                _ => None,
            };
            let mut step = match saga::apply(&stage, &parties, s.medfee, &call, outcome) {
                Ok(step) => step,
                Err(e) => return Err(self.keep_progress(&s, stored, &unsaved, dirty, self.saga_error(&s, e)).await),
            };
            if record.as_ref().is_some_and(|r| !r.setl_type.hub_settles_insurance()) {
                step.transfers = cash_only::settled_outside(&visit.hospital_code, step.transfers);
            }
            s.set_stage(&step.stage);
            s.updated_at = self.now();
            unsaved.append(&mut step.transfers);
            dirty = true;
            if matches!(call, Call::Authorize { .. }) {
                s.auth_request_id = Some(format!("{}:auth", s.id));
            }
            let cancel_refused = call == Call::ReverseInsurance && refusal.is_some();
            if cancel_refused {
                s.cancel_msgid = None; // the next cancellation is a new request
            }
            let next = saga::next_call(&step.stage);
            if !cancel_refused && next.as_ref().is_some_and(|next| !saga::durable_before(next)) {
                continue; // a bank call next: no commit before it (saga::durable_before)
            }
            // The save that ends the run (a final stage, nothing refused) carries the answer.
            let ends = next.is_none() && !cancel_refused;
            let answer = match request {
                Some(request) if ends => request.answer_for(&SettlementView::of(&s))?,
                _ => None,
            };
            let invoice = match s.state {
                SettlementState::Settled | SettlementState::SettledUnpaid if ends => self.blue_invoice_within(&s, visit, known).await,
                _ => None,
            };
            match self.store.save_settlement_invoiced(&s, stored, &unsaved, answer.clone(), invoice).await {
                Ok(issued) => {
                    if let Some(row) = &issued {
                        super::invoices::log_issued(row);
                        *invoiced = true;
                    }
                    self.note_settlement_saved(stored, &s);
                    (stored, unsaved, dirty) = (s.state, Vec::new(), false);
                    if let Some(request) = request {
                        request.stored(&answer);
                    }
                }
                Err(crate::store::StoreError::StaleSettlement) => {
                    // Another run advanced it meanwhile: continue from what it wrote.
                    s = self.store.settlement(&s.id).await?.ok_or_else(|| AppError::internal("settlement vanished"))?;
                    (stored, unsaved, dirty, in_doubt) = (s.state, Vec::new(), false, true);
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            if cancel_refused {
                let reason = refusal.unwrap_or_default();
                return Err(AppError::invalid("insurance_refused", format!("the insurance center refused the cancellation {reason}")));
            }
            // Every call since the stored stage is now on record: none is in doubt any more.
            in_doubt = false;
        }
    }

    /// A run that stops before its next save keeps what it did (the stages the saga let it skip
    /// saving), so that the next run resumes from there; `e` is why it stopped.
    async fn keep_progress(&self, s: &SettlementRow, stored: SettlementState, unsaved: &[Transfer], dirty: bool, e: AppError) -> AppError {
        if dirty {
            if let Err(save) = self.store.save_settlement_answered(s, stored, unsaved, None).await {
                tracing::warn!(settlement = %s.id, error = %save, "a stopped run's progress was not kept; the next run redoes it");
            }
        }
        e
    }

    fn saga_error(&self, s: &SettlementRow, e: SagaError) -> AppError {
        tracing::warn!(settlement = %s.id, error = %e, "a partner's answer cannot be applied");
        match e {
            SagaError::Figures(_) => AppError::bad_gateway("insurance_bad_reply", e.to_string()),
            SagaError::RefusedUnrefusable { .. } => AppError::bad_gateway("partner_refused", e.to_string()),
            _ => AppError::bad_gateway("partner_bad_reply", e.to_string()),
        }
    }

    /// Makes the saga's call with the request ids fixed for it. `Err` is an unknown outcome.
    /// A pre-settlement keeps, on `s`, what of its reply 2207 must carry back, and the settlement
    /// the center's `setlinfo` (both saved with the stage).
    async fn make_call(&self, s: &mut SettlementRow, call: &Call, run: Run<'_>, in_doubt: bool) -> Result<Outcome, AppError> {
        let Run { visit, agreement, record, batch, kept } = run;
        let inst = self.institution(&visit.hospital_code).await?;
        let bank = self.bank(&agreement.bank_code)?;
        let (auth, capture) = (format!("{}:auth", s.id), format!("{}:capture", s.id));
        let input = || self.settle_input(visit, s.medfee, agreement.use_personal_account, batch);
        let insurance_refused = |e: InsuranceError| match e {
            InsuranceError::Refused { infcode, message } => Ok(Outcome::Refused { code: infcode.to_string(), message }),
            other => Err(AppError::from(other)),
        };
        let bank_refused = |e: BankError| match e {
            BankError::Refused { code, message } => Ok(Outcome::Refused { code: code.to_string(), message }),
            other => Err(AppError::from(other)),
        };
        let done = |r: Reply| Ok(Outcome::Done(r));
        if let Some(record) = record.filter(|r| !r.setl_type.hub_settles_insurance()) {
            // The hospital settled insurance itself: its platform's records answer for it.
            if let Some(reply) = self.posted_reply(s, call, record)? {
                return done(reply);
            }
        }
        if visit.is_self_pay() {
            if let Some(outcome) = saga::self_pay_outcome(call, s.medfee) {
                return Ok(outcome);
            }
        }
        if let (Call::PreSettle, Some(kept)) = (call, kept) {
            s.presettle_echo = kept.echo.as_ref().map(Value::to_string);
            return done(Reply::Estimated { split: kept.split });
        }
        match call {
            Call::PreSettle => match self.insurance.call("2206", &s.presettle_msgid, &inst, &visit.insuplc_admdvs, input()).await {
                Ok(output) => {
                    let split = InsuranceClient::read_settlement(&output)?.split;
                    s.presettle_echo = InsuranceClient::presettle_echo(&output).map(|echo| echo.to_string());
                    done(Reply::Estimated { split })
                }
                Err(e) => insurance_refused(e),
            },
            Call::Authorize { amount } => {
                match bank.authorize(&auth, &agreement.bank_agreement_id, *amount, &visit.hospital_code, in_doubt).await {
                    Ok(Authorization::Approved { amount }) => done(Reply::Held { amount }),
                    Ok(Authorization::Declined { code }) => Ok(Outcome::Refused { code: code.to_string(), message: "declined".into() }),
                    Err(e) => bank_refused(e),
                }
            }
            Call::SettleInsurance => {
                let outcome = match self.settled_already(s, visit, &inst, in_doubt).await? {
                    Some(output) => Ok(output),
                    None => {
                        let input = with_presettle_echo(input(), s.presettle_echo.as_deref());
                        let sent = self.insurance.call("2207", &s.settle_msgid, &inst, &visit.insuplc_admdvs, input).await;
                        // A refusal is asked about before it is believed: platforms answer a
                        // timeout inside their own chain ("系统繁忙…超时") with infcode -1 after
                        // the settlement took effect. What 5203 finds in force is the answer.
                        match sent {
                            Err(InsuranceError::Refused { .. }) if !in_doubt => match self.settled_already(s, visit, &inst, true).await? {
                                Some(output) => Ok(output),
                                None => sent,
                            },
                            sent => sent,
                        }
                    }
                };
                match outcome {
                    Ok(output) => {
                        let settled = InsuranceClient::read_settlement(&output)?;
                        // The center's record as it answered it: reconciliation's 清算类别 (an
                        // emergency that became an inpatient case is 21) and the clearing's month.
                        s.setlinfo_json = InsuranceClient::setlinfo_fields(&output, &SETTLEMENT_RECORD).map(|r| r.to_string());
                        done(Reply::Insured(Insured { setl_id: settled.setl_id.unwrap_or_default(), split: settled.split }))
                    }
                    Err(e) => insurance_refused(e),
                }
            }
            Call::Capture { amount } => {
                bank.capture(&capture, &auth, *amount, in_doubt).await.map_or_else(bank_refused, |_| done(Reply::Captured))
            }
            // Under the capture's id: a refund or a cancellation names it as the capture.
            Call::Charge { amount } => {
                match bank.charge(&capture, &agreement.bank_agreement_id, *amount, &visit.hospital_code, in_doubt).await {
                    Ok(Authorization::Approved { amount: taken }) if taken == *amount => done(Reply::Charged),
                    Ok(Authorization::Approved { amount: taken }) => {
                        Err(AppError::bad_gateway("partner_bad_reply", format!("the bank charged {taken} of {amount}")))
                    }
                    Ok(Authorization::Declined { code }) => Ok(Outcome::Refused { code: code.to_string(), message: "declined".into() }),
                    Err(e) => bank_refused(e),
                }
            }
            Call::Void => bank.void(&format!("{}:void", s.id), &auth, in_doubt).await.map_or_else(bank_refused, |_| done(Reply::Voided)),
            Call::ReverseInsurance => {
                let msgid = s.cancel_msgid.clone().ok_or_else(|| AppError::internal("cancelling without a msgid"))?;
                let input = json!({"data": {"setl_id": s.setl_id, "mdtrt_id": visit.mdtrt_id, "psn_no": visit.psn_no}});
                match self.insurance.call("2208", &msgid, &inst, &visit.insuplc_admdvs, input).await {
                    Ok(output) => {
                        let setl_type = if s.cash_at_hospital { SetlType::Hi } else { SetlType::All };
                        self.keep_cancellation_record(s, setl_type, &output).await?;
                        done(Reply::Reversed)
                    }
                    // Asked about before it is believed (app/refusal_checks.rs).
                    Err(e @ InsuranceError::Refused { .. }) => match s.setl_id.as_deref() {
                        Some(setl_id) if self.reversal_took_effect(&inst, visit, setl_id).await? => done(Reply::Reversed),
                        _ => insurance_refused(e),
                    },
                    Err(e) => insurance_refused(e),
                }
            }
            Call::Refund { amount } => bank
                .refund(&format!("{}:refund", s.id), &capture, *amount, in_doubt)
                .await
                .map_or_else(bank_refused, |_| done(Reply::Refunded)),
        }
    }

    /// After an unknown outcome, asks the insurance center (5203 结算信息查询, by mdtrt_id) whether
    /// the visit is already settled, before 2207 is sent again. `None`: not settled (or not in doubt).
    /// A settlement in force that this visit's earlier attempts hold as cancelled is not this
    /// attempt's, whatever the platform's flags say (some mark a reversal only by a separate record).
    async fn settled_already(
        &self,
        s: &SettlementRow,
        visit: &VisitRow,
        inst: &Institution,
        in_doubt: bool,
    ) -> Result<Option<Value>, AppError> {
        if !in_doubt {
            return Ok(None);
        }
        let input = json!({"data": {"mdtrt_id": visit.mdtrt_id, "psn_no": visit.psn_no, "setl_id": ""}});
        // "No settlement on record" ("该就诊无结算记录"): 2207 never took effect, so sending it (again,
        // under its msgid) is safe; a platform without 5203 leaves only that, as before the hub
        // asked. Any other refusal ("系统繁忙") says nothing: read as "no record", it sent 2207 again
        // after one that had settled, or believed a refusal that had not (app/queries.rs).
        let in_doubt =
            |why: String| AppError::from(InsuranceError::Unreachable(format!("whether the visit is settled could not be read ({why})")));
        let output = match self.ask_query("5203", &visit.hospital_code, inst, &visit.insuplc_admdvs, input, in_doubt).await? {
            super::queries::Read::Answered(output) => output,
            super::queries::Read::NoneFound | super::queries::Read::NotOffered => return Ok(None),
        };
        let earlier = self.store.settlements_of_visit(&visit.id).await?;
        let dead: Vec<String> =
            earlier.into_iter().filter(|e| e.id != s.id && e.state == SettlementState::Cancelled).filter_map(|e| e.setl_id).collect();
        Ok(crate::insurance_reply::settlement_in_force(&output, &dead)?)
    }

    /// 结算撤销: reverses insurance (2208), refunds the bank, and posts the reversing transfers.
    pub async fn cancel_settlement(&self, hospital: &str, visit_id: &str, request: &Keyed) -> Result<SettlementView, AppError> {
        let idem_key = request.key.as_str();
        let visit = self.own_visit(hospital, visit_id).await?;
        let s = self
            .store
            .settlement_of_visit(visit_id)
            .await?
            .ok_or_else(|| AppError::conflict("not_settled", "this visit has no settlement to cancel"))?;
        let stage = s.stage().ok_or_else(|| AppError::internal("a settlement in no stage"))?;
        match stage {
            // The same cancellation again, whose answer a crash lost: the settlement it cancelled.
            Stage::Cancelled(_) if s.cancel_idem_key.as_deref() == Some(idem_key) => Ok(SettlementView::of(&s)),
            Stage::Cancelled(_) => Err(AppError::conflict("already_cancelled", "this settlement is already cancelled")),
            Stage::Cancelling { .. } => self.advance(s, &visit, true, Some(request)).await.map(|s| SettlementView::of(&s)),
            stage => {
                self.refuse_if_bill_collected(&s.id).await?;
                // After a refund the insurance settlement in force is the refund's, not this one's:
                // what is left is given back by refunding the remaining lines.
                if !self.store.refunds_of_visit(visit_id).await?.is_empty() {
                    return Err(AppError::conflict(
                        "settlement_refunded",
                        "this settlement was refunded (in part or in full): refund any remaining lines instead of cancelling it",
                    ));
                }
                let Some(cancelling) = saga::begin_cancel(&stage) else {
                    return Err(AppError::conflict(
                        "not_settled",
                        format!("a settlement that is {} cannot be cancelled", s.state.as_str()),
                    ));
                };
                let mut s = s;
                let from = s.state;
                s.cancel_msgid = Some(self.msgid(hospital).await?);
                s.cancel_idem_key = Some(idem_key.to_string());
                s.set_stage(&cancelling);
                s.updated_at = self.now();
                self.store.save_settlement(&s, from, &[]).await?;
                self.advance(s, &visit, false, Some(request)).await.map(|s| SettlementView::of(&s))
            }
        }
    }
}

/// What a settlement's run has read already, so that it is not read again (`advance_known`).
#[derive(Default)]
pub(super) struct Known {
    pub(super) agreement: Option<AgreementRow>,
    /// The visit's fee lines, all uploaded (the click checked them).
    pub(super) lines: Option<Vec<FeeLineRow>>,
    /// The settlement's platform record (`Some(None)`: known to have none).
    pub(super) record: Option<Option<SettlementRecord>>,
}

/// What one call of a run is made with.
#[derive(Clone, Copy)]
struct Run<'a> {
    visit: &'a VisitRow,
    agreement: &'a AgreementRow,
    record: Option<&'a SettlementRecord>,
    /// The 2206/2207 `chrg_bchno` (the insurance calls' only).
    batch: &'a str,
    /// An estimate that stands in for this click's 2206 (`app::estimates`).
    kept: Option<&'a estimates::KeptEstimate>,
}

/// The 2206/2207 `chrg_bchno` of a visit's lines: their one batch, or "0000" when there are several.
fn batch_of(lines: &[FeeLineRow]) -> String {
    let mut batches = lines.iter().map(|l| l.chrg_bchno.as_str()).collect::<Vec<_>>();
    batches.dedup();
    match batches.as_slice() {
        [one] => one.to_string(),
        _ => "0000".to_string(),
    }
}

/// A visit's fee lines when they can be settled (every upload complete, at least one line), with their total.
fn open_lines(lines: Vec<FeeLineRow>) -> Result<(Vec<FeeLineRow>, Fen), AppError> {
    if lines.iter().any(|l| !l.uploaded) {
        return Err(AppError::conflict(
            "upload_in_progress",
            "an earlier fee upload, or a withdrawal of fee lines (2205), has not completed: resend it first",
        ));
    }
    if lines.is_empty() {
        return Err(AppError::conflict("no_fees", "no fee lines have been uploaded for this visit"));
    }
    let total = lines.iter().map(|l| l.amount).sum();
    Ok((lines, total))
}

/// What of a 2207 reply's `setlinfo` the settlement keeps: the clearing facts reconciliation and
/// the 3203 clearing read, never the person it names (psn_name, certno, brdy are in the reply).
const SETTLEMENT_RECORD: [&str; 5] = ["setl_id", "clr_type", "clr_way", "clr_optins", "setl_time"];

/// 2207's input: 2206's, plus the amounts of the 2206 reply it must carry back (`echo`, as kept
/// on the settlement, or on a refund for its re-settlement), each exactly as the platform sent it.
pub(super) fn with_presettle_echo(mut input: Value, echo: Option<&str>) -> Value {
    let echoed: Option<Map<String, Value>> = echo.and_then(|e| serde_json::from_str(e).ok());
    if let (Some(data), Some(echoed)) = (input.get_mut("data").and_then(Value::as_object_mut), echoed) {
        data.extend(echoed);
    }
    input
}

#[cfg(test)]
mod tests {
    use super::with_presettle_echo;
    use serde_json::json;

    #[test]
    fn the_settlement_input_carries_the_pre_settlement_amounts_back() {
        let input = json!({"data": {"psn_no": "P1", "medfee_sumamt": "1225.00"}});
        let echo = r#"{"fulamt_ownpay_amt":"0.00","overlmt_selfpay":"0.00","preselfpay_amt":"120.00","inscp_scp_amt":"1105.00"}"#;
        let sent = with_presettle_echo(input.clone(), Some(echo));
        assert_eq!(sent["data"]["psn_no"], "P1");
        assert_eq!((sent["data"]["preselfpay_amt"].as_str(), sent["data"]["inscp_scp_amt"].as_str()), (Some("120.00"), Some("1105.00")));
        assert_eq!(with_presettle_echo(input.clone(), None), input, "pre-settled before the column: as before");
        assert_eq!(with_presettle_echo(input.clone(), Some("not json")), input);
    }
}
