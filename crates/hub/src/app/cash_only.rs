//! Cash-only settlement (setl_type CASH, the 2026 credit-payment model): the hospital settles
//! insurance with its own platform and posts the platform's 2207 output here; the hub checks the
//! national invariants (`cash_only::check_settlement_record`), charges exactly `psn_cash_pay` to
//! the patient's agreement, and books the fund and account shares as paid to the hospital outside
//! the hub, `hosp_part_amt` as its write-off. The platform's 2208 output is refunded exactly.
//!
//! The settlement runs through the same saga and orchestrator as the hub's own mode: the posted
//! records answer the saga's insurance calls (`posted_reply`), the bank calls are made as usual,
//! and recovery resumes it like any other.

use super::*;
use crate::insurance_client::text;
use crate::store::SettlementRecord;
use wugan_domain::settlement::cash_only::{self, RecordError, SetlType};
use wugan_domain::settlement::saga::{Call, Insured, Reply};

/// The HIS posts what its platform answered to 2207 (`setlinfo` + `setldetail`, as it came).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CashSettleRequest {
    /// The hospital's own visit number (院内唯一流水号).
    pub ipt_otp_no: String,
    /// The platform's 2207 `output`: `{"setlinfo": {…}, "setldetail": [...]}`.
    #[schema(value_type = Object)]
    pub output: Value,
}

/// The HIS posts what its platform answered to 2208 (a cancellation record with a new setl_id).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CashCancelRequest {
    /// The platform's 2208 `output`: `{"setlinfo": {…negated amounts, a new setl_id…}}`.
    #[schema(value_type = Object)]
    pub output: Value,
}

fn bad_record(e: impl std::fmt::Display) -> AppError {
    AppError::invalid("bad_settlement_record", format!("the platform's record cannot be taken: {e}"))
}

impl App {
    /// The settlement type a visit settles under: its own (`own`, as read with the visit), else its hospital's.
    pub(super) async fn setl_type_with(&self, hospital: &str, own: Option<SetlType>) -> Result<SetlType, AppError> {
        let hospital_type = self.store.hospital_profile(hospital).await?.map(|h| h.setl_type).unwrap_or_default();
        Ok(SetlType::of_visit(own, hospital_type))
    }

    /// A cash-only settlement: the platform's 2207 output, checked, then the cash share charged.
    pub async fn settle_cash_only(&self, hospital: &str, req: &CashSettleRequest, request: &Keyed) -> Result<SettlementView, AppError> {
        self.settle_cash_only_with_lines(hospital, req, request, Vec::new()).await
    }

    /// [`App::settle_cash_only`], a visit it writes taking `lines` (the drop-in endpoint's, as
    /// its platform accepted them) when it has none of its own.
    pub(super) async fn settle_cash_only_with_lines(
        &self,
        hospital: &str,
        req: &CashSettleRequest,
        request: &Keyed,
        lines: Vec<FeeLineRow>,
    ) -> Result<SettlementView, AppError> {
        check_text("ipt_otp_no", &req.ipt_otp_no, 30)?;
        let settled = InsuranceClient::read_settlement(&req.output).map_err(bad_record)?;
        let setl_id = settled.setl_id.clone().unwrap_or_default();
        cash_only::check_settlement_record(&setl_id, &settled.split).map_err(bad_record)?;
        if let Some(id) = self.store.settlement_of_posted_setl_id(&setl_id).await? {
            return self.posted_again(hospital, &id, request).await;
        }
        let visit = self.cash_only_visit(hospital, &req.ipt_otp_no, &settled.setlinfo, request).await?;
        let Some(agreement_id) = visit.agreement_id.clone() else {
            return Err(AppError::conflict(
                "seamless_not_enabled",
                "the patient has no active agreement: collect the cash share at the window",
            ));
        };
        if let Some(live) = self
            .store
            .settlement_of_visit(&visit.id)
            .await?
            .filter(|s| !matches!(s.state, SettlementState::Failed | SettlementState::Cancelled))
        {
            // One settlement per visit: a second batch's (分批结算) cash share is the window's.
            return Err(AppError::conflict(
                "already_settled",
                format!(
                    "this visit's settlement is {}: one settlement per visit is paid, collect this one's cash share at the window",
                    live.state.as_str()
                ),
            ));
        }
        self.take_noted_lines(&visit.id, lines).await?;
        let row = posted_settlement(&visit, agreement_id, settled.split.medfee, &request.key, self.now());
        let record = SettlementRecord {
            settlement_id: row.id.clone(),
            setl_type: SetlType::Cash,
            posted_setl_id: Some(setl_id),
            // Personal data (the platform writes names and ID numbers into setlinfo): sealed.
            posted_json: Some(self.config.data_key.seal(&req.output.to_string())?),
            cancel_setl_id: None,
            cancel_json: None,
        };
        match self.store.create_posted_settlement(&row, &record).await {
            Ok(()) => {}
            Err(crate::store::StoreError::Conflict(m)) => return Err(AppError::conflict("already_settled", m)),
            Err(e) => return Err(e.into()),
        }
        self.advance(row, &visit, false, Some(request)).await.map(|s| SettlementView::of(&s))
    }

    /// The lines the settlement pays, as the drop-in endpoint noted them, made the visit's: after
    /// a 2208 and new lines, or for another batch, the visit's earlier lines are not this
    /// settlement's (review r25 ni F10: the invoice showed the first settlement's lines, or one
    /// line of other fees). The same lines again change nothing.
    async fn take_noted_lines(&self, visit_id: &str, lines: Vec<FeeLineRow>) -> Result<(), AppError> {
        if lines.is_empty() {
            return Ok(());
        }
        let key = |l: &FeeLineRow| (l.feedetl_sn.clone(), l.chrg_bchno.clone(), l.amount);
        let held: Vec<_> = self.store.fee_lines(visit_id).await?.iter().map(key).collect();
        let mut noted: Vec<_> = lines.iter().map(key).collect();
        noted.sort();
        if held == noted {
            return Ok(());
        }
        match self.store.renote_fee_lines(visit_id, &lines).await {
            // A settlement of the visit under way: it settles what it saw, and this one conflicts.
            Err(crate::store::StoreError::Refused { .. }) => Ok(()),
            other => other.map_err(AppError::from),
        }
    }

    /// The same setl_id posted again: the same request gets its settlement (moved on if
    /// unfinished); another request is refused, since a setl_id is settled once.
    async fn posted_again(&self, hospital: &str, settlement_id: &str, request: &Keyed) -> Result<SettlementView, AppError> {
        let s = self.store.settlement(settlement_id).await?.filter(|s| s.hospital_code == hospital);
        let Some(s) = s.filter(|s| s.idem_key.as_deref() == Some(request.key.as_str())) else {
            return Err(AppError::conflict("already_settled", "this setl_id has been settled already"));
        };
        if s.state.is_final() {
            return Ok(SettlementView::of(&s));
        }
        let visit = self.own_visit(hospital, &s.visit_id).await?;
        self.advance(s, &visit, true, Some(request)).await.map(|s| SettlementView::of(&s))
    }

    /// The hub's record of a visit the hospital settles itself: the one with its visit number,
    /// or a new one from the platform's `setlinfo` (no 2201 is sent: the platform has the visit).
    async fn cash_only_visit(&self, hospital: &str, ipt_otp_no: &str, info: &Value, request: &Keyed) -> Result<VisitRow, AppError> {
        let (psn_no, mdtrt_id) = (text(info, "psn_no"), text(info, "mdtrt_id"));
        if psn_no.is_empty() || mdtrt_id.is_empty() {
            return Err(bad_record("setlinfo names no psn_no or mdtrt_id"));
        }
        if let Some(v) = self.store.visit_by_hospital_no(hospital, ipt_otp_no).await? {
            if v.psn_no != psn_no {
                return Err(AppError::invalid("person_mismatch", "this visit number belongs to another person"));
            }
            return Ok(v);
        }
        let agreement = self.store.paying_agreement_for(&psn_no).await?.map(|(a, _)| a);
        if agreement.as_ref().is_none_or(|a| a.suspended_reason.is_some()) {
            // Nothing to charge: no visit is written for a patient the hub does not pay for.
            return Err(AppError::conflict(
                "seamless_not_enabled",
                "the patient has no active agreement: collect the cash share at the window",
            ));
        }
        let non_empty =
            |field: &str, default: &str| Some(text(info, field)).filter(|t| !t.is_empty()).unwrap_or_else(|| default.to_string());
        let row = VisitRow {
            id: new_id("vis"),
            hospital_code: hospital.to_string(),
            ipt_otp_no: ipt_otp_no.to_string(),
            psn_no,
            insutype: text(info, "insutype"),
            insuplc_admdvs: text(info, "insuplc_admdvs"),
            mdtrt_cert_type: non_empty("mdtrt_cert_type", "02"),
            mdtrt_cert_no_enc: self.config.data_key.seal("")?,
            med_type: non_empty("med_type", "11"),
            register_msgid: String::new(),
            begntime: non_empty("setl_time", ""),
            mdtrt_id,
            agreement_id: agreement.as_ref().filter(|a| a.suspended_reason.is_none()).map(|a| a.id.clone()),
            seamless_reason: match &agreement {
                None => Some("not_signed".into()),
                Some(a) => a.suspended_reason.clone(),
            },
            status: VisitStatus::Registered,
            idem_key: Some(request.key.clone()),
            created_at: self.now(),
            last_estimate: None,
        };
        match self.store.insert_visit(&row).await {
            Ok(()) => {}
            // A concurrent post of the same visit wrote it first: use that one.
            Err(crate::store::StoreError::Conflict(_)) => {
                return self.store.visit_by_hospital_no(hospital, ipt_otp_no).await?.ok_or_else(|| AppError::internal("visit vanished"))
            }
            Err(e) => return Err(e.into()),
        }
        self.store.set_visit_setl_type(&row.id, SetlType::Cash).await?;
        Ok(row)
    }

    /// A cash-only cancellation: the platform's 2208 output, checked against the settlement, then
    /// exactly what was charged refunded. An HIS posting it must post the record.
    pub async fn cancel_cash_only(
        &self,
        hospital: &str,
        visit_id: &str,
        req: &CashCancelRequest,
        request: &Keyed,
    ) -> Result<SettlementView, AppError> {
        self.cancel_cash_only_on(hospital, visit_id, req, request, Seen::Posted).await
    }

    /// `cancel_cash_only` with how the hub came by the 2208's success: `Posted` by the HIS (the
    /// record required), or `Seen` on its way through the drop-in national interface, where the
    /// platform's success is its yes even without a record, as for the hub's own 2208 (review r25
    /// ni F4: a success with `output` {} cancelled insurance and refunded nothing).
    pub(super) async fn cancel_cash_only_on(
        &self,
        hospital: &str,
        visit_id: &str,
        req: &CashCancelRequest,
        request: &Keyed,
        how: Seen,
    ) -> Result<SettlementView, AppError> {
        let visit = self.own_visit(hospital, visit_id).await?;
        let s = self
            .store
            .settlement_of_visit(&visit.id)
            .await?
            .ok_or_else(|| AppError::conflict("not_settled", "this visit has no settlement to cancel"))?;
        let record = self.store.settlement_record(&s.id).await?;
        if record.as_ref().is_none_or(|r| r.setl_type.hub_settles_insurance()) {
            return Err(AppError::conflict("not_settled", "this visit was not settled by the hospital: cancel it through the hub"));
        }
        if s.state.is_cancellable() {
            let setl_type = record.map(|r| r.setl_type).unwrap_or_default();
            let kept = match how {
                // The platform's yes without a record: kept as a record of none (no setl_id of its
                // own), so that the cancellation reads its 2208 as answered and refunds.
                Seen::OnTheWire if without_record(&req.output) => {
                    let none = self.config.data_key.seal("{}")?;
                    self.store.save_cancel_record(&s.id, setl_type, "", &none).await.map_err(AppError::from)
                }
                _ => self.keep_reversal_record(&s, setl_type, &req.output).await,
            };
            kept.map_err(|e| match e.code() {
                "insurance_bad_reply" => bad_record(e),
                _ => e,
            })?;
        }
        self.cancel_settlement(hospital, visit_id, request).await
    }

    /// The hub's own 2208, answered with success: its cancellation record checked against the
    /// settlement it cancels and kept. A success without a record (`output: null`, no `setlinfo`)
    /// is the platform's yes all the same: the settlement is reversed, and nothing is kept (a
    /// refund's 2208 reads nothing either). A record that comes must reverse the settlement.
    pub(super) async fn keep_cancellation_record(&self, s: &SettlementRow, setl_type: SetlType, output: &Value) -> Result<(), AppError> {
        if without_record(output) {
            tracing::info!(settlement = %s.id, "2208 succeeded without a cancellation record: reversed, nothing kept");
            return Ok(());
        }
        self.keep_reversal_record(s, setl_type, output).await
    }

    /// Checks a 2208 cancellation record against the settlement it cancels and keeps it (its own
    /// new setl_id: reconciliation counts it as a record of its own). An HIS posting its
    /// platform's 2208 must post the record.
    async fn keep_reversal_record(&self, s: &SettlementRow, setl_type: SetlType, output: &Value) -> Result<(), AppError> {
        let reversal = InsuranceClient::read_settlement(output)?;
        let (Some(setl_id), Some(split)) = (s.setl_id.as_deref(), s.split.as_ref()) else {
            return Err(AppError::internal("a cancellation of a settlement without its record"));
        };
        let cancel_setl_id = reversal.setl_id.unwrap_or_default();
        cash_only::check_cancellation_record(setl_id, split, &cancel_setl_id, &reversal.split).map_err(|e: RecordError| {
            tracing::warn!(settlement = %s.id, error = %e, "a 2208 record that does not reverse its settlement");
            AppError::bad_gateway("insurance_bad_reply", e.to_string())
        })?;
        let json = json!({"setlinfo": reversal.setlinfo, "setldetail": output.get("setldetail").cloned().unwrap_or(Value::Null)});
        let sealed = self.config.data_key.seal(&json.to_string())?;
        self.store.save_cancel_record(&s.id, setl_type, &cancel_setl_id, &sealed).await?;
        Ok(())
    }

    /// The saga's insurance calls answered from the platform's records the HIS posted (`None`:
    /// a bank call, made as usual).
    pub(super) fn posted_reply(&self, s: &SettlementRow, call: &Call, record: &SettlementRecord) -> Result<Option<Reply>, AppError> {
        let posted = || -> Result<_, AppError> {
            let sealed =
                record.posted_json.as_deref().ok_or_else(|| AppError::internal("a cash-only settlement without its 2207 record"))?;
            let json = self.config.data_key.open(sealed)?;
            let output: Value = serde_json::from_str(&json).map_err(|e| AppError::internal(format!("a stored 2207 record: {e}")))?;
            Ok(InsuranceClient::read_settlement(&output)?)
        };
        Ok(match call {
            Call::PreSettle => Some(Reply::Estimated { split: posted()?.split }),
            Call::SettleInsurance => {
                let settled = posted()?;
                Some(Reply::Insured(Insured { setl_id: settled.setl_id.unwrap_or_default(), split: settled.split }))
            }
            Call::ReverseInsurance => match record.cancel_setl_id {
                Some(_) => Some(Reply::Reversed),
                None => return Err(AppError::internal(format!("settlement {} is cancelling without the platform's 2208 record", s.id))),
            },
            _ => None,
        })
    }
}

/// How the hub came by a platform's 2208 success (`cancel_cash_only_on`).
#[derive(Clone, Copy, Debug)]
pub(super) enum Seen {
    Posted,
    OnTheWire,
}

/// A 2208 `output` that holds no cancellation record: null, or without a `setlinfo` (or an
/// empty one).
fn without_record(output: &Value) -> bool {
    match output.get("setlinfo") {
        None | Some(Value::Null) => output.is_null() || output.is_object(),
        Some(Value::Object(fields)) => fields.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(_) => false,
    }
}

/// A cash-only settlement's first row: no msgid is ever sent for it (the hospital's platform has
/// the insurance side), so its request ids are empty.
fn posted_settlement(visit: &VisitRow, agreement_id: String, medfee: Fen, idem_key: &str, now: String) -> SettlementRow {
    SettlementRow {
        id: new_id("stl"),
        visit_id: visit.id.clone(),
        hospital_code: visit.hospital_code.clone(),
        agreement_id,
        state: SettlementState::Started,
        presettle_msgid: String::new(),
        settle_msgid: String::new(),
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
        created_at: now.clone(),
        updated_at: now,
        insurance_reversed: false,
        cancel_idem_key: None,
        cash_at_hospital: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_2208_success_without_a_record_is_a_reversal_and_a_record_is_read() {
        let check = |output: Value, expect: bool| assert_eq!(without_record(&output), expect, "{output}");
        check(Value::Null, true);
        check(json!({}), true);
        check(json!({"setlinfo": null}), true);
        check(json!({"setlinfo": {}}), true);
        check(json!({"setlinfo": []}), true);
        check(json!({"setlinfo": {"setl_id": "S2"}}), false);
        check(json!({"setlinfo": [{"setl_id": "S2"}]}), false);
        check(json!("reversed"), false);
    }
}
