//! 住院: an inpatient stay with its deposit held on the patient's credit line, the orchestrator of
//! `wugan_domain::inpatient` (persist, call, apply; every decision is the machine's). Admission
//! (2401) holds the deposit (bank request `{stay}:hold`); each day's fees (2301, negative lines
//! for returned drugs) may raise the hold by the configured `DepositRule` (`{stay}:raise:{n}`, bank
//! protocol 1.3.0); a raise the line cannot cover leaves the stay `deposit_short`; the bedside
//! click discharges (2402), pre-settles (2303), settles (2304) and captures the patient's share
//! from the hold (`{stay}:capture`, the bank releases the rest) or releases it (`{stay}:void`), or,
//! the stay holding nothing (a settlement cancelled, the deposit declined or used up), charged to
//! the line in one call under the capture's id; a settlement after a cancelled one (2305) names
//! its requests `{stay}:resettle:{n}:…` (`stay_interim::settle_request_id`);
//! when interim settlements took every fee line it only discharges (2402) and releases the hold
//! still open (`{stay}:void`), ending `settled_by_interims`. The insurance msgids are fixed when the stay is written, the bank ids derive from the stay, so
//! a step resumed after a crash or an unknown outcome is the same request again.

use super::stay_clinical::KeptAdmission;
use super::stay_fee_lines::{same_lines_on_record, stay_fee_lines};
use super::*;
use crate::store::{StayFeeLine, StayRow, StoreError};
use serde::Serialize;
use utoipa::ToSchema;
use wugan_domain::inpatient::{self, StayCall, StayOutcome, StayParties, StayReply, StayStage};
use wugan_domain::settlement::cash_only::SetlType;

/// The largest deposit the hub holds at admission: 100,000 yuan.
pub(super) const MAX_DEPOSIT_FEN: i64 = 10_000_000;

/// A stay holds its deposit on the patient's line and settles through the hub end to end, so only
/// a hospital of settlement type ALL is offered one. A CASH hospital settles insurance with its own
/// platform (the hub sending 2401 for it would be a second admission there), and an HI hospital
/// collects the cash share itself (a hold on the line would collect it twice); both are refused
/// before anything is sent or written. A stay admitted earlier goes on whatever the type is now.
fn refuse_unless_hub_settles_all(setl_type: SetlType) -> Result<(), AppError> {
    let why = match setl_type {
        SetlType::All => return Ok(()),
        SetlType::Cash => "this hospital settles insurance with its own platform (settlement type CASH)",
        SetlType::Hi => "this hospital collects the patient's cash share itself (settlement type HI)",
    };
    Err(AppError::conflict(
        "hospital_settles_itself",
        format!("{why}: the hub holds no inpatient deposit for it; admit the patient at the hospital's own desk"),
    ))
}

/// A stay as the HIS sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Stay)]
pub struct StayView {
    pub id: String,
    pub ipt_no: String,
    pub hospital_code: String,
    pub psn_no: String,
    pub insutype: String,
    pub med_type: String,
    /// The insurance center's admission (2401); empty until admitted.
    pub mdtrt_id: String,
    /// admitting, admitted, in_ward, raising_deposit, deposit_short, interim_settling, cancelling_interim, withdrawing_fees, discharging, discharged,
    /// settlement_refused, pre_settled, insurance_settled, releasing, settled, settled_unpaid,
    /// settled_by_interims (discharged with every fee settled by the interim settlements, the hold
    /// released: no final settlement), cancelled, refused.
    pub state: &'static str,
    /// What the bank holds for the stay now.
    pub held_fen: i64,
    /// The decline of the last deposit, raise or fresh hold the line could not cover
    /// (`deposit_short`); `deposit_used_up` when an interim settlement captured the whole hold.
    pub deposit_short: Option<String>,
    /// Why insurance refused the last bedside discharge (2402), the stay back in the ward with its
    /// hold: the center's answer, until the next click.
    pub discharge_refusal: Option<String>,
    /// Why insurance refused the last interim settlement (中途结算: 2303 or 2304 with
    /// mid_setl_flag 1), the stay still in the ward with its hold: the center's answer, as the
    /// refused request was told, until the next interim settlement or the bedside click.
    pub interim_refusal: Option<String>,
    /// The fees uploaded so far (returns deducted).
    pub charges_fen: i64,
    pub fee_lines: usize,
    /// Once settled at the bedside (the lines no interim settlement took); none when the interim
    /// settlements took every line (`settled_by_interims`).
    pub settlement: Option<StaySettlementView>,
    /// The interim settlements (中途结算) made while in the ward and in force, oldest first.
    pub interim_settlements: Vec<super::stay_interim::InterimSettlementView>,
    /// The interim settlements the ward cancelled (2305, the bank share refunded), oldest first.
    pub cancelled_interim_settlements: Vec<super::stay_interim::InterimSettlementView>,
    /// What the patient still owes once the stay is over (住院欠费: `StayStage::owed`), less what
    /// was collected later; 0 while it is open.
    pub owed_fen: i64,
    /// What of the stay's bill was collected from the line later (`app/unpaid_bills.rs`).
    pub collected_fen: i64,
    pub created_at: String,
}

impl StayView {
    /// The center's own words in `discharge_refusal` or `interim_refusal`, for a page that names
    /// the refused call in its own words.
    pub fn center_words(refusal: &str) -> &str {
        inpatient::Failure::center_words(refusal)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = StaySettlement)]
pub struct StaySettlementView {
    pub setl_id: String,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub personal_account_fen: i64,
    pub cash_fen: i64,
    /// Captured on the hold.
    pub bank_fen: i64,
    /// The share nobody paid yet: an explicit bill.
    pub unpaid_fen: i64,
    pub decline_code: Option<String>,
}

impl App {
    /// 入院办理 with the deposit held on the patient's line instead of paid at a window.
    pub async fn admit(&self, hospital: &str, req: AdmitRequest, idem_key: &str) -> Result<StayView, AppError> {
        // A 住院号 from a CHAR column comes padded: the same stay, as for a visit's 门诊号.
        let mdtrt_cert_no = super::cert_no_as_read(&req.mdtrt_cert_type, &req.mdtrt_cert_no);
        let req = AdmitRequest { ipt_no: super::visits::trimmed_id(&req.ipt_no), mdtrt_cert_no, ..req };
        check_text("ipt_no", &req.ipt_no, 30)?;
        check_cert_type(&req.mdtrt_cert_type)?;
        if let Some(insutype) = &req.insutype {
            check_text("insutype", insutype, 6)?;
        }
        let med_type = req.med_type.clone().unwrap_or_else(|| "21".into());
        if !matches!(med_type.as_str(), "21" | "24") {
            return Err(AppError::invalid("bad_med_type", "med_type must be an inpatient type: 21, or 24 (emergency to inpatient)"));
        }
        if !(1..=MAX_DEPOSIT_FEN).contains(&req.deposit_fen) {
            return Err(AppError::invalid("bad_amount", "deposit_fen must be between 1 and 10000000 (100,000 yuan)"));
        }
        // Checked before anything is sent or kept; kept with the stay before 2401 goes.
        let kept = KeptAdmission::of(&req.admission, &req.diagnoses, &req.maternity)?;
        let admission_info = kept.admitted_at(req.begntime.as_deref(), self.store.clock.now_utc())?.stored()?;
        let row = match self.store.stay_by_hospital_no(hospital, &req.ipt_no).await? {
            Some(s) if s.idem_key.as_deref() == Some(idem_key) => s,
            // A 住院号 whose stay is over (cancelled, refused, settled) is admitted again.
            Some(s) if !stay_stage(&s)?.is_final() => return Err(stay_exists(&s)),
            // The hub's own e-voucher QR token (type 01; the patient's, or a family member's on the
            // signer's phone): resolved once, then the ID card stands in, as at a visit's registration.
            _ if req.mdtrt_cert_type == "01" && super::qr_voucher::is_hub_token(&req.mdtrt_cert_no) => {
                let voucher = self.resolve_qr(&req.mdtrt_cert_no, hospital).await?;
                let by_card = AdmitRequest { mdtrt_cert_type: "02".into(), mdtrt_cert_no: voucher.certno, ..req };
                self.new_stay(hospital, &by_card, &med_type, idem_key, admission_info).await?
            }
            _ => self.new_stay(hospital, &req, &med_type, idem_key, admission_info).await?,
        };
        let row = self.advance_stay(row, false).await?;
        self.invoice_stay_after(&row.id).await; // the deposit receipt, where the policy says so
        if let StayStage::Refused(refusal) = stay_stage(&row)? {
            return Err(AppError::invalid("insurance_refused", refusal.message));
        }
        self.stay_view(&row).await
    }

    async fn new_stay(
        &self,
        hospital: &str,
        req: &AdmitRequest,
        med_type: &str,
        idem_key: &str,
        admission_info: Option<String>,
    ) -> Result<StayRow, AppError> {
        refuse_unless_hub_settles_all(self.setl_type_with(hospital, None).await?)?;
        let inst = self.institution(hospital).await?;
        let person = self
            .insurance
            .person_info(&self.msgid(hospital).await?, &inst, &req.mdtrt_cert_type, req.mdtrt_cert_no.trim())
            .await
            .map_err(person_error)?;
        let not_insured = || AppError::invalid("not_insured", "an inpatient stay settles with insurance: this person has none in force");
        if person.insurances.is_empty() {
            return Err(not_insured());
        }
        let agreement = match self.store.paying_agreement_for(&person.psn_no).await?.map(|(a, _)| a) {
            Some(a) if a.suspended_reason.is_none() && a.status == AgreementStatus::Active => a,
            _ => {
                return Err(AppError::conflict("seamless_not_enabled", "the deposit needs an active agreement: sign the patient up first"))
            }
        };
        // The patient's standing choice (by default, or for this hospital) holds for a stay as for
        // a visit: switched off, nothing is held on their line.
        let choices = self.store.seamless_choices(&person.psn_no).await?;
        if super::seamless_switch::standing_choice(&choices, hospital).is_some_and(|(enabled, _)| !enabled) {
            return Err(AppError::conflict(
                "seamless_switched_off",
                "the patient switched seamless payment off for this hospital: the deposit is paid at the window",
            ));
        }
        // As for a visit: the one the HIS names, else the one signed with, else their basic one.
        let signed = Some(agreement.insutype.as_str()).filter(|_| agreement.psn_no == person.psn_no);
        let insurance = super::visits::choose_insurance(&person.insurances, req.insutype.as_deref(), signed)?.ok_or_else(not_insured)?;
        let stage = StayStage::Admitting { deposit: Fen(req.deposit_fen) };
        let row = StayRow {
            id: new_id("ipt"),
            hospital_code: hospital.to_string(),
            ipt_no: req.ipt_no.clone(),
            psn_no: person.psn_no.clone(),
            insutype: insurance.insutype.clone(),
            insuplc_admdvs: insurance.insuplc_admdvs.clone(),
            mdtrt_cert_type: req.mdtrt_cert_type.clone(),
            mdtrt_cert_no_enc: self.config.data_key.seal(req.mdtrt_cert_no.trim())?,
            med_type: med_type.to_string(),
            agreement_id: agreement.id.clone(),
            state: stage.state().to_string(),
            stage_json: stage_text(&stage)?,
            admit_msgid: self.msgid(hospital).await?,
            discharge_msgid: self.msgid(hospital).await?,
            presettle_msgid: self.msgid(hospital).await?,
            settle_msgid: self.msgid(hospital).await?,
            cancel_msgid: None,
            idem_key: Some(idem_key.to_string()),
            created_at: self.now(),
            updated_at: self.now(),
            // Kept from each 2303's reply for the 2304 after it.
            presettle_echo: None,
            // 2401's clinical fields, kept before it is sent; the discharge's come with the click.
            admission_info,
            discharge_info: None,
        };
        match self.store.insert_stay(&row).await {
            Ok(()) => Ok(row),
            // Another admission under the number came first: name it.
            Err(StoreError::Conflict(m)) => match self.store.stay_by_hospital_no(hospital, &req.ipt_no).await? {
                Some(s) => Err(stay_exists(&s)),
                None => Err(AppError::conflict("stay_exists", m)),
            },
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn own_stay(&self, hospital: &str, id: &str) -> Result<StayRow, AppError> {
        match self.store.stay(id).await? {
            // Another hospital's stay is answered exactly like a missing one.
            Some(s) if s.hospital_code == hospital => Ok(s),
            _ => Err(AppError::not_found("stay_not_found", format!("no stay {id} at this hospital"))),
        }
    }

    pub async fn stay(&self, hospital: &str, id: &str) -> Result<StayView, AppError> {
        let s = self.own_stay(hospital, id).await?;
        self.stay_view(&s).await
    }

    /// A day's fees (2301): lines may be negative for returned drugs, naming `init_feedetl_sn`.
    /// After they are accepted, the deposit rule may raise the hold.
    pub async fn upload_stay_fees(&self, hospital: &str, id: &str, req: FeeUploadRequest) -> Result<StayView, AppError> {
        let s = self.own_stay(hospital, id).await?;
        let stage = stay_stage(&s)?;
        if matches!(stage, StayStage::Interim(_)) {
            return Err(super::stay_interim::interim_in_progress());
        }
        super::stay_interim_cancel::refuse_while_undoing(&stage)?;
        let Some(ward) = stage.ward().filter(|_| matches!(stage, StayStage::InWard(_))) else {
            return Err(AppError::conflict("stay_not_open", format!("fees are taken in the ward, not when a stay is {}", stage.state())));
        };
        if req.lines.is_empty() || req.lines.len() > MAX_LINES_PER_UPLOAD {
            return Err(AppError::invalid("bad_lines", format!("send 1 to {MAX_LINES_PER_UPLOAD} fee lines")));
        }
        super::visits::refuse_repeated_lines(&req.lines)?;
        let existing = self.store.stay_fee_lines(id).await?;
        let pending: Vec<&StayFeeLine> = existing.iter().filter(|l| !l.uploaded).collect();
        let batch = match pending.first() {
            // An earlier upload whose 2301 outcome is unknown: resend it, with its msgid, when
            // this is that upload again; any other waits for it.
            Some(first) => {
                let same = pending.len() == req.lines.len() && same_lines_on_record(&req.lines, &pending, false);
                if !same {
                    return Err(AppError::conflict(
                        "upload_in_progress",
                        "an earlier fee upload has not completed; resend exactly those lines first",
                    ));
                }
                let msgid = first.upload_msgid.clone();
                existing.iter().filter(|l| l.upload_msgid == msgid).cloned().collect::<Vec<_>>()
            }
            // The same upload again, whose answer was lost: the lines are on record already.
            None if same_lines_on_record(&req.lines, &existing.iter().collect::<Vec<_>>(), true) => return self.stay_view(&s).await,
            None => {
                let msgid = self.msgid(hospital).await?;
                let lines = stay_fee_lines(&req.lines, &ward.mdtrt_id, &s.psn_no, &msgid, &self.china_datetime())?;
                match self.store.insert_stay_fee_lines(id, &lines).await {
                    Ok(()) => {}
                    Err(StoreError::Conflict(m)) => return Err(AppError::conflict("duplicate_fee_line", m)),
                    Err(e) => return Err(e.into()),
                }
                // An interim settlement begun since the stage was read settles without these lines,
                // and a bedside click that found nothing to settle closes the stay without them
                // (each withdraws itself if it sees them first): nothing is sent.
                match self.store.stay(id).await?.as_ref().map(stay_stage).transpose()? {
                    Some(StayStage::Interim(_)) => {
                        self.store.delete_stay_fee_batch(id, &msgid).await?;
                        return Err(super::stay_interim::interim_in_progress());
                    }
                    // An interim settlement's cancellation or a withdrawal (a return of a line it takes) begun since.
                    Some(undoing @ (StayStage::CancellingInterim(_) | StayStage::WithdrawingFees(_))) => {
                        self.store.delete_stay_fee_batch(id, &msgid).await?;
                        super::stay_interim_cancel::refuse_while_undoing(&undoing)?;
                        // refuses: nothing sent
                    }
                    // The ward's stay only: a bedside click (or any other step) begun since settles
                    // or undoes it on the lines it read, and these would reach the center after it
                    // (review r25 ward F1: the click's 2303 refused for a total it did not send).
                    Some(StayStage::InWard(_)) | None => {}
                    Some(moved) => {
                        self.store.delete_stay_fee_batch(id, &msgid).await?;
                        let state = moved.state();
                        return Err(AppError::conflict("stay_not_open", format!("fees are taken in the ward, not when a stay is {state}")));
                    }
                }
                lines
            }
        };
        let msgid = batch[0].upload_msgid.clone();
        let feedetail: Vec<Value> = batch.iter().map(|l| serde_json::from_str(&l.detail_json).unwrap_or(Value::Null)).collect();
        let inst = self.institution(hospital).await?;
        match self.insurance.call("2301", &msgid, &inst, &s.insuplc_admdvs, json!({"feedetail": feedetail})).await {
            Ok(out) => self.store.mark_stay_fee_lines_uploaded(id, &msgid, &line_categories(&out)).await?,
            Err(e @ InsuranceError::Refused { .. }) => {
                self.store.delete_stay_fee_batch(id, &msgid).await?;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        }
        // 2301 took the lines: from here the fees are accepted, whatever else happens. Another
        // request (an upload's raise, the click) may have moved the stay while 2301 was out; then
        // that request carries the deposit on (the click raises the share above the hold itself),
        // and this one answers with the stay as it is, never a refusal of fees on record.
        let s = self.store.stay(id).await?.unwrap_or(s);
        if s.stage_json != stage_text(&stage)? {
            return self.stay_view(&s).await;
        }
        // The rule weighs what the next settlement takes: an interim one captured the rest.
        let charges = inpatient::unsettled_charges(&stage, self.stay_charges(id).await?);
        let s = match inpatient::plan_raise(&stage, &self.deposit_rule, charges) {
            Some(raising) => match self.move_stay(s.clone(), &stage, raising).await {
                Ok(s) => s,
                Err(e) if e.code() == "stay_in_progress" => return self.stay_view(&self.store.stay(id).await?.unwrap_or(s)).await,
                Err(e) => return Err(e),
            },
            None => s,
        };
        // The fees are accepted whatever the bank says: a raise whose answer is lost stays in
        // flight (`raising_deposit`), for the recovery worker or the bedside click to finish.
        // One already in flight when the fees came (its answer lost) is asked for its record first.
        let in_doubt = ward.deposit_in_flight();
        let s = match self.advance_stay(s.clone(), in_doubt).await {
            Ok(s) => s,
            Err(e) if e.is_retryable() => {
                tracing::warn!(stay = %s.id, code = e.code(), "the deposit raise is in doubt; it will be resumed");
                self.store.stay(&s.id).await?.unwrap_or(s)
            }
            Err(e) => return Err(e),
        };
        self.invoice_stay_after(&s.id).await; // a raise's deposit receipt
        self.stay_view(&s).await
    }

    /// 病区结算: the bedside click discharges (2402) and settles (2303, 2304) the stay, and the
    /// patient's share is captured from the hold. The click's discharge information goes with the
    /// 2402 it begins (kept with its msgid); a click that resumes one begun earlier sends that one's.
    pub async fn discharge(&self, hospital: &str, id: &str, req: DischargeRequest) -> Result<StayView, AppError> {
        req.check()?;
        let mut s = self.own_stay(hospital, id).await?;
        // 2402's 出院时间: the HIS's, checked against the stay (after its admission, not ahead of
        // the clock), else the click's.
        let endtime = req.endtime(&s, self.store.clock.now_utc())?;
        match stay_stage(&s)? {
            // Its lines and the hold it captures on are not the click's: the interim's own request
            // (or the recovery worker) finishes it first.
            StayStage::Interim(_) => return Err(super::stay_interim::interim_in_progress()),
            undoing @ (StayStage::CancellingInterim(_) | StayStage::WithdrawingFees(_)) => {
                super::stay_interim_cancel::refuse_while_undoing(&undoing)?
            }
            // A raise or fresh hold whose answer was lost is finished first: the click settles on the hold as it stands.
            StayStage::InWard(ward) if ward.deposit_in_flight() => s = self.advance_stay(s, true).await?,
            _ => {}
        }
        let stage = stay_stage(&s)?;
        let s = match stage {
            // The same click again (its answer lost), or one cut short: move it on.
            StayStage::Settled(_) | StayStage::SettledUnpaid(_) | StayStage::SettledByInterims(_) => s,
            StayStage::Discharging(_)
            | StayStage::Discharged { refusal: None, .. }
            | StayStage::PreSettled { .. }
            | StayStage::InsuranceSettled { .. }
            | StayStage::Closing { .. } => s,
            // Another of the ward's steps under way (an admission in doubt, 2404, 2405, 2305): not
            // the click's to finish, nor to answer as if it had settled (review r25 ward F2).
            _ if inpatient::next_call(&stage).is_some() && !matches!(stage, StayStage::InWard(_)) => {
                let state = stage.state();
                return Err(AppError::conflict(
                    "stay_in_progress",
                    format!("the stay is {state}: another request is working on it; click once it is answered"),
                ));
            }
            _ => {
                // Every line on record, uploaded: the machine closes the stay instead of settling it
                // when the interim settlements took them all. A line still with the center (an
                // upload under way, or one whose answer was lost) is not the click's to settle yet.
                let lines = self.store.stay_fee_lines(id).await?;
                if lines.iter().any(|l| !l.uploaded) {
                    return Err(AppError::conflict(
                        "upload_in_progress",
                        "a fee upload of this stay has not completed (under way, or its answer lost: send it again); click once it is answered",
                    ));
                }
                let on_record: Vec<String> = lines.into_iter().map(|l| l.feedetl_sn).collect();
                if on_record.is_empty() {
                    // The center refuses a settlement with no lines (2303), and a stay with none
                    // has nothing to discharge it for: refused before anything is sent.
                    return Err(AppError::conflict(
                        "no_fees",
                        "this stay has no fee lines: upload its fees first, or cancel the admission (2404; after a discharge, undo it first with 2405)",
                    ));
                }
                let discharging =
                    inpatient::begin_discharge(&stage, &on_record).map_err(|e| AppError::conflict("stay_not_open", e.to_string()))?;
                // New requests for the steps ahead: after an undone discharge or a refusal, the
                // earlier msgids would only replay their first answers.
                let mut s = s;
                if matches!(stage, StayStage::InWard(_)) {
                    (s.discharge_msgid, s.discharge_info) = (self.msgid(hospital).await?, Some(req.stored(&endtime)?));
                }
                (s.presettle_msgid, s.settle_msgid) = (self.msgid(hospital).await?, self.msgid(hospital).await?);
                let s = self.move_stay(s, &stage, discharging.clone()).await?;
                // A line that got in before the move is not in the figures the click rests on.
                self.withdraw_if_a_line_came(s, &stage, &discharging, &on_record, "click again to settle it").await?
            }
        };
        let discharging = matches!(stay_stage(&s)?, StayStage::Discharging(_) | StayStage::Closing { discharged: false, .. });
        let s = self.advance_stay(s, false).await?;
        self.invoice_stay_after(&s.id).await;
        if let Some(inpatient::Failure { message, .. }) = match stay_stage(&s)? {
            StayStage::Discharged { refusal, .. } => refusal,
            // 2402 refused: back in the ward, the hold as it was (a stale reason is not this click's).
            StayStage::InWard(ward) if discharging => ward.discharge_refusal,
            _ => None,
        } {
            return Err(AppError::invalid("insurance_refused", message));
        }
        self.stay_view(&s).await
    }

    /// After `moved` was written over `was` from the fee lines read before (`known`): a fee upload
    /// that read the ward first writes its lines before it looks at the stage again (and refuses
    /// itself on seeing `moved`), so any line not among `known` means one got in meanwhile and the
    /// figures `moved` rests on are not the center's. Nothing was sent: the stay is put back as it
    /// was and the caller is told to send `again`. Used by the interim settlement and the bedside click.
    pub(super) async fn withdraw_if_a_line_came(
        &self,
        s: StayRow,
        was: &StayStage,
        moved: &StayStage,
        known: &[String],
        again: &str,
    ) -> Result<StayRow, AppError> {
        let known: std::collections::HashSet<&str> = known.iter().map(String::as_str).collect();
        let now = self.store.stay_fee_lines(&s.id).await?;
        if now.iter().any(|l| !known.contains(l.feedetl_sn.as_str())) {
            self.move_stay(s, moved, was.clone()).await?;
            return Err(AppError::conflict("upload_in_progress", format!("a fee upload came in meanwhile; {again}")));
        }
        Ok(s)
    }

    /// Saves a stage the ward's request began (no call made yet).
    pub(super) async fn move_stay(&self, mut s: StayRow, from: &StayStage, to: StayStage) -> Result<StayRow, AppError> {
        let from_json = stage_text(from)?;
        (s.state, s.stage_json, s.updated_at) = (to.state().to_string(), stage_text(&to)?, self.now());
        let owed = super::stay_invoices::owed_by(from, &to)?;
        let deposits = super::deposit_receipts::steps(&s.id, from, &to);
        if !self.store.save_stay(&s, &from_json, &[], &owed, &deposits).await? {
            return Err(AppError::conflict("stay_in_progress", "the stay moved meanwhile; retry"));
        }
        Ok(s)
    }

    /// The fees a stay has on record (accepted by 2301).
    async fn stay_charges(&self, id: &str) -> Result<Fen, AppError> {
        Ok(self.store.stay_fee_lines(id).await?.iter().filter(|l| l.uploaded).map(|l| l.amount).sum())
    }

    /// The orchestrator: persist, call, apply, until the stay waits for the ward or a partner's
    /// answer is unknown (`Err`, retryable: the recovery worker or a retry resumes it).
    pub(crate) async fn advance_stay(&self, mut s: StayRow, mut in_doubt: bool) -> Result<StayRow, AppError> {
        let agreement = self.store.agreement(&s.agreement_id).await?.ok_or_else(|| AppError::internal("agreement vanished"))?;
        loop {
            let stage = stay_stage(&s)?;
            let Some(call) = inpatient::next_call(&stage) else { return Ok(s) };
            let charges = inpatient::unsettled_charges(&stage, self.stay_charges(&s.id).await?);
            let outcome = self.make_stay_call(&mut s, &stage, &call, &agreement, charges, in_doubt).await?;
            let parties = StayParties {
                stay_id: &s.id,
                hospital_code: &s.hospital_code,
                psn_no: &s.psn_no,
                insuplc_admdvs: &s.insuplc_admdvs,
                insutype: &s.insutype,
                bank_code: &agreement.bank_code,
                bank_agreement_id: &agreement.bank_agreement_id,
            };
            let step = inpatient::apply(&stage, &parties, charges, &call, outcome)
                .map_err(|e| AppError::bad_gateway("partner_bad_reply", e.to_string()))?;
            let from_json = s.stage_json.clone();
            let owed = super::stay_invoices::owed_by(&stage, &step.stage)?;
            let deposits = super::deposit_receipts::steps(&s.id, &stage, &step.stage);
            (s.state, s.stage_json, s.updated_at) = (step.stage.state().to_string(), stage_text(&step.stage)?, self.now());
            if !self.save_stay_step(&s, &from_json, &stage, &step, &owed, &deposits).await? {
                // Another run moved it meanwhile: continue from what it wrote.
                s = self.store.stay(&s.id).await?.ok_or_else(|| AppError::internal("stay vanished"))?;
                in_doubt = true;
                continue;
            }
            in_doubt = false;
        }
    }

    /// Makes the machine's call with the request ids fixed for it. `Err` is an unknown outcome.
    async fn make_stay_call(
        &self,
        s: &mut StayRow,
        stage: &StayStage,
        call: &StayCall,
        agreement: &AgreementRow,
        charges: Fen,
        in_doubt: bool,
    ) -> Result<StayOutcome, AppError> {
        let inst = self.institution(&s.hospital_code).await?;
        let bank = self.bank(&agreement.bank_code)?;
        let hold = super::stay_interim::hold_request_id(&s.id, stage.ward());
        // This bedside settlement's own capture (or charge), void and refund.
        let named = |op: &str| super::stay_interim::settle_request_id(&s.id, stage.ward(), op);
        let mdtrt_id = stage.ward().map(|w| w.mdtrt_id.clone()).unwrap_or_default();
        let insurance = |e: InsuranceError| match e {
            InsuranceError::Refused { infcode, message } => Ok(StayOutcome::Refused { code: infcode.to_string(), message }),
            other => Err(AppError::from(other)),
        };
        let banked = |e: BankError| match e {
            BankError::Refused { code, message } => Ok(StayOutcome::Refused { code: code.to_string(), message }),
            other => Err(AppError::from(other)),
        };
        let authorized = |a: Authorization| match a {
            Authorization::Approved { amount } => StayOutcome::Done(StayReply::Held { amount }),
            Authorization::Declined { code } => StayOutcome::Refused { code: code.to_string(), message: "declined".into() },
        };
        let done = |r: StayReply| Ok(StayOutcome::Done(r));
        if matches!(stage, StayStage::Interim(_)) && !matches!(call, StayCall::RaiseHold { .. }) {
            return self.make_interim_call(s, stage, call, agreement, charges, in_doubt).await;
        }
        if matches!(stage, StayStage::CancellingInterim(_) | StayStage::WithdrawingFees(_)) {
            return self.make_undo_call(s, stage, call, agreement, in_doubt).await;
        }
        // `charges` is what this settlement covers: the lines no interim settlement took.
        let settle_input = |settle: bool| self.stay_settle_input(s, stage, charges, agreement, settle);
        let (admdvs, ins) = (&s.insuplc_admdvs, &self.insurance);
        match call {
            // A refusal is asked about (5201) before it is believed: app/registration_checks.rs.
            StayCall::Admit => self.send_admission(&inst, s).await,
            StayCall::HoldDeposit { amount } => bank
                .authorize_stay(&hold, &agreement.bank_agreement_id, *amount, &s.hospital_code, in_doubt)
                .await
                .map_or_else(banked, |a| Ok(authorized(a))),
            StayCall::RaiseHold { n, amount } => {
                let id = format!("{}:raise:{n}", s.id);
                bank.increment(&id, &hold, *amount, in_doubt).await.map_or_else(banked, |a| Ok(authorized(a)))
            }
            // A fresh hold for a stay that held nothing: a new authorization of its own.
            StayCall::PlaceHold { n, amount } => bank
                .authorize_stay(&format!("{}:hold:{n}", s.id), &agreement.bank_agreement_id, *amount, &s.hospital_code, in_doubt)
                .await
                .map_or_else(banked, |a| Ok(authorized(a))),
            StayCall::Discharge => {
                let input = super::stay_clinical::discharge_input(s, &mdtrt_id, &self.china_datetime())?;
                ins.call("2402", &s.discharge_msgid, &inst, admdvs, input).await.map_or_else(insurance, |_| done(StayReply::Discharged))
            }
            StayCall::PreSettle => match ins.call("2303", &s.presettle_msgid, &inst, admdvs, settle_input(false)?).await {
                Ok(out) => {
                    let split = InsuranceClient::read_settlement(&out)?.split;
                    s.presettle_echo = Some(super::stay_settle_input::kept_echo(&out));
                    done(StayReply::Estimated { split })
                }
                Err(e) => insurance(e),
            },
            StayCall::Settle => match ins.call("2304", &s.settle_msgid, &inst, admdvs, settle_input(true)?).await {
                Ok(out) => {
                    let settled = InsuranceClient::read_settlement(&out)?;
                    done(StayReply::Insured { setl_id: settled.setl_id.unwrap_or_default(), split: settled.split })
                }
                Err(e) => insurance(e),
            },
            StayCall::Capture { amount } => {
                bank.capture(&named("capture"), &hold, *amount, in_doubt).await.map_or_else(banked, |_| done(StayReply::Captured))
            }
            // Nothing held: the cash share charged in one call, under the capture's id.
            StayCall::Charge { amount } => {
                let charged = bank.charge(&named("capture"), &agreement.bank_agreement_id, *amount, &s.hospital_code, in_doubt).await;
                super::stay_interim::charge_outcome(charged, *amount)
            }
            StayCall::Void => bank.void(&named("void"), &hold, in_doubt).await.map_or_else(banked, |_| done(StayReply::Voided)),
            StayCall::CancelSettlement => {
                let StayStage::CancellingSettlement { paid, .. } = stage else {
                    return Err(AppError::internal("2305 outside a cancellation"));
                };
                let msgid = s.cancel_msgid.clone().ok_or_else(|| AppError::internal("a cancellation without its msgid"))?;
                let input = json!({"data": {"mdtrt_id": mdtrt_id, "setl_id": paid.setl_id, "psn_no": s.psn_no}});
                match ins.call("2305", &msgid, &inst, admdvs, input).await {
                    // Asked about before it is believed (app/refusal_checks.rs).
                    Err(e @ InsuranceError::Refused { .. })
                        if !self.stay_cancellation_took_effect(&inst, s, &mdtrt_id, &paid.setl_id).await? =>
                    {
                        insurance(e)
                    }
                    Err(InsuranceError::Refused { .. }) | Ok(_) => done(StayReply::SettlementCancelled),
                    Err(e) => insurance(e),
                }
            }
            // The settlement's capture (or charge) refunded, both named by the settlement.
            StayCall::Refund { amount } => {
                bank.refund(&named("refund"), &named("capture"), *amount, in_doubt).await.map_or_else(banked, |_| done(StayReply::Refunded))
            }
            // 2405 / 2404: a refusal is asked about (5201) before it is believed: app/undo_checks.rs.
            StayCall::UndoDischarge | StayCall::CancelAdmission => self.send_stay_undo(&inst, s, call, &mdtrt_id).await,
            StayCall::InterimPreSettle
            | StayCall::InterimSettle
            | StayCall::InterimCapture { .. }
            | StayCall::InterimVoid { .. }
            | StayCall::InterimCharge { .. }
            | StayCall::InterimHold { .. } => Err(AppError::internal("an interim call outside an interim settlement")),
            StayCall::CancelInterim { .. } | StayCall::RefundInterim { .. } | StayCall::WithdrawFees => {
                Err(AppError::internal("a call of the ward's undoing outside it"))
            }
        }
    }

    /// Stays cut short by a crash or a silent partner, resumed by the recovery worker.
    pub(crate) async fn resume_stays(&self, idle_since: &str) -> Result<usize, AppError> {
        let mut resumed = 0;
        for s in self.store.unfinished_stays(idle_since, 100).await? {
            let id = s.id.clone();
            match self.advance_stay(s, true).await {
                Ok(s) => {
                    resumed += 1;
                    self.invoice_stay_after(&s.id).await;
                }
                Err(e) => {
                    tracing::warn!(code = e.code(), "a stay could not be resumed yet");
                    // Counted; after MAX_ATTEMPTS silent passes it waits in the exceptions queue.
                    self.store.note_failed_stay_attempt(&id, &e.for_an_operator(), MAX_ATTEMPTS).await?;
                }
            }
        }
        Ok(resumed)
    }

    pub(crate) async fn stay_view(&self, s: &StayRow) -> Result<StayView, AppError> {
        let stage = stay_stage(s)?;
        let lines = self.store.stay_fee_lines(&s.id).await?;
        let uploaded: Vec<&StayFeeLine> = lines.iter().filter(|l| l.uploaded).collect();
        let paid = match &stage {
            StayStage::Settled(p) | StayStage::SettledUnpaid(p) => Some(p),
            _ => None,
        };
        let collection = self.store.bill_collection(&s.id).await?;
        let collected = collection.filter(|c| c.state == "collected").map_or(Fen::ZERO, |c| c.amount);
        let owed = (stage.owed() - collected).max(Fen::ZERO);
        // A bill collected from the line since reads paid, as a visit's does.
        let paid_since = collected.is_positive() && owed == Fen::ZERO;
        Ok(StayView {
            id: s.id.clone(),
            ipt_no: s.ipt_no.clone(),
            hospital_code: s.hospital_code.clone(),
            psn_no: s.psn_no.clone(),
            insutype: s.insutype.clone(),
            med_type: s.med_type.clone(),
            mdtrt_id: stage.ward().map(|w| w.mdtrt_id.clone()).unwrap_or_default(),
            state: match &stage {
                StayStage::SettledUnpaid(_) if paid_since => "settled",
                stage => stage.state(),
            },
            held_fen: stage.open_hold().0,
            deposit_short: stage.ward().and_then(|w| w.short.clone()),
            // 2402 refused (back in the ward), or the settlement (2303/2304) refused after it.
            discharge_refusal: match &stage {
                StayStage::Discharged { refusal: Some(f), .. } => Some(f.message.clone()),
                stage => stage.ward().and_then(|w| w.discharge_refusal.as_ref()).map(|f| f.message.clone()),
            },
            interim_refusal: stage.ward().and_then(|w| w.interim_refusal.as_ref()).map(|f| f.message.clone()),
            charges_fen: uploaded.iter().map(|l| l.amount).sum::<Fen>().0,
            fee_lines: uploaded.len(),
            settlement: paid.map(|p| StaySettlementView {
                setl_id: p.setl_id.clone(),
                medfee_fen: p.split.medfee.0,
                fund_fen: p.split.fund.0,
                personal_account_fen: p.split.personal_account.0,
                cash_fen: p.split.cash.0,
                bank_fen: p.captured.0,
                unpaid_fen: if paid_since { 0 } else { p.unpaid().0 },
                decline_code: p.decline_code.clone(),
            }),
            interim_settlements: stage
                .ward()
                .map_or_else(Vec::new, |w| w.interims.iter().map(super::stay_interim::InterimSettlementView::of).collect()),
            cancelled_interim_settlements: stage.ward().map_or_else(Vec::new, |w| {
                w.undone.cancelled_interims.iter().map(super::stay_interim::InterimSettlementView::of).collect()
            }),
            owed_fen: owed.0,
            collected_fen: collected.0,
            created_at: s.created_at.clone(),
        })
    }
}

#[cfg(test)]
#[path = "inpatient_withdraw_tests.rs"]
mod withdraw_tests;

/// Each line's 医疗收费项目类别 from 2301's answer (`result[]`), for the stay's invoice.
fn line_categories(out: &Value) -> Vec<(String, String)> {
    let lines = out.get("result").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    lines
        .iter()
        .filter_map(|l| Some((l.get("feedetl_sn")?.as_str()?.to_string(), l.get("med_chrgitm_type")?.as_str()?.to_string())))
        .collect()
}

fn stage_text(stage: &StayStage) -> Result<String, AppError> {
    serde_json::to_string(stage).map_err(|e| AppError::internal(format!("a stay's stage cannot be written: {e}")))
}

pub(super) fn stay_stage(s: &StayRow) -> Result<StayStage, AppError> {
    serde_json::from_str(&s.stage_json)
        .map_err(|e| AppError::internal(format!("stay {} is stored in no stage the machine knows: {e}", s.id)))
}

/// `stay_exists`, naming the stay under way under the hospital's 住院号 (a HIS that lost the
/// admission's answer finds it by this id).
fn stay_exists(s: &StayRow) -> AppError {
    AppError::Exists {
        code: "stay_exists",
        message: format!("stay {} is under way as {} ({})", s.ipt_no, s.id, s.state),
        field: "stay_id",
        id: s.id.clone(),
    }
}
