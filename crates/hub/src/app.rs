//! The hub's use cases: sign a patient up, register a visit, upload fees, pre-settle, settle at the
//! doctor's click, cancel. Each talks to the insurance center and the bank through their clients and
//! records everything in the store; the money rules themselves live in `wugan_domain`.

use crate::bank_client::{Authorization, BankClient, BankEndpoint, BankError};
use crate::error::ApiError;
use crate::insurance_client::{new_msgid, Institution, InsuranceClient, InsuranceError};
use crate::model::*;
use crate::pii::{mask, mask_name, DataKey};
use crate::store::Store;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use wugan_bank_protocol::wire;
use wugan_domain::settlement::{InsuranceSplit, Parties, SettlementState};
use wugan_domain::Fen;

/// Largest amount accepted on one fee line: 1,000,000 yuan. Anything above is a typing error.
const MAX_LINE_FEN: Fen = Fen::yuan(1_000_000);
const MAX_LINES_PER_UPLOAD: usize = 500;
/// Failed resumptions before a settlement is parked for an operator (with the worker's 15 s pass,
/// about five minutes of a partner's silence).
pub const MAX_ATTEMPTS: i64 = 20;
/// Family members one agreement may pay for (the practice in Guangzhou's family accounts).
pub const MAX_FAMILY_MEMBERS: i64 = 5;

pub struct HubConfig {
    /// 就医地医保区划 of the region this hub serves.
    pub admdvs: String,
    pub insurance_url: String,
    pub banks: Vec<BankEndpoint>,
    /// Credit limit asked for at signing when the patient names none (5,000 yuan).
    pub default_credit_limit: Fen,
    pub partner_timeout: Duration,
    pub data_key: DataKey,
}

pub struct App {
    pub store: Store,
    pub insurance: InsuranceClient,
    pub banks: BTreeMap<String, BankClient>,
    pub config: HubConfig,
}

use crate::clock::now;

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// The hub's own identity in envelopes it sends without a hospital (signing up a patient).
fn hub_institution() -> Institution {
    Institution { fixmedins_code: "WUGANHUB0000".into(), fixmedins_name: "wugan hub".into() }
}

fn hospital_institution(code: &str) -> Institution {
    Institution { fixmedins_code: code.to_string(), fixmedins_name: code.to_string() }
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::unprocessable("missing_field", format!("{field} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(ApiError::unprocessable("field_too_long", format!("{field} is longer than {max} characters")));
    }
    Ok(())
}

fn check_cert_type(value: &str) -> Result<(), ApiError> {
    match value {
        "01" | "02" | "03" => Ok(()),
        _ => Err(ApiError::unprocessable(
            "bad_cert_type",
            "mdtrt_cert_type must be 01 (e-voucher token), 02 (ID card) or 03 (social security card)",
        )),
    }
}

/// Parses a yuan amount as HIS systems send it (number or string) into fen.
fn yuan_field(line: &Map<String, Value>, field: &str, index: usize) -> Result<Fen, ApiError> {
    let raw = line.get(field).unwrap_or(&Value::Null);
    match Fen::from_json_yuan(raw) {
        Ok(Some(f)) => Ok(f),
        Ok(None) => Err(ApiError::unprocessable("missing_field", format!("lines[{index}].{field} is required"))),
        Err(e) => Err(ApiError::unprocessable("bad_amount", format!("lines[{index}].{field}: {e}"))),
    }
}

fn scaled_field(line: &Map<String, Value>, field: &str, scale: u32, index: usize) -> Result<i64, ApiError> {
    let raw = line.get(field).unwrap_or(&Value::Null);
    match wugan_domain::money::scaled_from_json(raw, scale) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(ApiError::unprocessable("missing_field", format!("lines[{index}].{field} is required"))),
        Err(e) => Err(ApiError::unprocessable("bad_amount", format!("lines[{index}].{field}: {e}"))),
    }
}

fn text_field(line: &Map<String, Value>, field: &str) -> Option<String> {
    match line.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// 01 e-voucher token (医保电子凭证), 02 ID card, 03 social security card.
    pub mdtrt_cert_type: String,
    pub mdtrt_cert_no: String,
    /// Pay the patient's share from the insurance personal account (个人账户) first.
    #[serde(default = "yes")]
    pub use_personal_account: bool,
    pub payment: PaymentRequest,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub method: String,
    pub bank_code: String,
    pub card_no: Option<String>,
    pub credit_limit_fen: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterVisitRequest {
    /// The hospital's own visit number (院内唯一流水号).
    pub ipt_otp_no: String,
    pub mdtrt_cert_type: String,
    pub mdtrt_cert_no: String,
    /// 医疗类别; absent, null or empty means 11 (general outpatient), as HIS software sends it.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub med_type: Option<String>,
    /// 2201's own fields, which HIS software fills from an earlier 1101: when given, the person
    /// must be this one, and the visit is paid by this insurance of theirs (险种类型).
    #[serde(default, deserialize_with = "blank_as_none")]
    pub psn_no: Option<String>,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub insutype: Option<String>,
    pub begntime: Option<String>,
    pub dept_code: Option<String>,
    pub dept_name: Option<String>,
    pub atddr_no: Option<String>,
    pub dr_name: Option<String>,
    pub caty: Option<String>,
}

/// Real HIS software sends every field, with null or "" where it knows nothing.
fn blank_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    Ok(v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
}

impl RegisterVisitRequest {
    fn med_type(&self) -> &str {
        self.med_type.as_deref().unwrap_or("11")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeUploadRequest {
    /// Fee lines with the national 2204 field names; amounts in yuan as numbers or strings.
    pub lines: Vec<Map<String, Value>>,
}

impl App {
    pub fn new(store: Store, config: HubConfig) -> App {
        let insurance = InsuranceClient::new(&config.insurance_url, &config.admdvs, config.partner_timeout);
        let banks = config.banks.iter().map(|b| (b.bank_code.clone(), BankClient::new(b.clone(), config.partner_timeout))).collect();
        App { store, insurance, banks, config }
    }

    fn bank(&self, bank_code: &str) -> Result<&BankClient, ApiError> {
        self.banks.get(bank_code).ok_or_else(|| ApiError::unprocessable("unknown_bank", format!("no contract with bank {bank_code}")))
    }

    // ---- agreements (签约) -------------------------------------------------------------------

    pub async fn sign_agreement(&self, req: SignRequest) -> Result<Value, ApiError> {
        check_cert_type(&req.mdtrt_cert_type)?;
        check_text("mdtrt_cert_no", &req.mdtrt_cert_no, 64)?;
        let method = PaymentMethod::parse(&req.payment.method)
            .ok_or_else(|| ApiError::unprocessable("bad_payment_method", "payment.method must be credit_line or debit_card"))?;
        let bank = self.bank(&req.payment.bank_code)?;
        let card_no = match (method, req.payment.card_no.as_deref()) {
            (PaymentMethod::DebitCard, Some(card)) if (12..=19).contains(&card.len()) && card.bytes().all(|b| b.is_ascii_digit()) => {
                Some(card.to_string())
            }
            (PaymentMethod::DebitCard, _) => {
                return Err(ApiError::unprocessable("bad_card_no", "payment.card_no must be 12 to 19 digits for a debit card"))
            }
            (PaymentMethod::CreditLine, None) => None,
            (PaymentMethod::CreditLine, Some(_)) => {
                return Err(ApiError::unprocessable("bad_card_no", "payment.card_no is for a debit card, not a credit line"))
            }
        };
        let limit = match req.payment.credit_limit_fen {
            Some(_) if method == PaymentMethod::DebitCard => {
                return Err(ApiError::unprocessable("bad_credit_limit", "payment.credit_limit_fen is for a credit line, not a debit card"));
            }
            Some(l) if !(Fen::yuan(5_000).0..=Fen::yuan(1_000_000).0).contains(&l) => {
                return Err(ApiError::unprocessable(
                    "bad_credit_limit",
                    "payment.credit_limit_fen must be between 500000 (5,000 yuan) and 100000000",
                ));
            }
            Some(l) => Fen(l),
            None => self.config.default_credit_limit,
        };
        let person =
            self.insurance.person_info(&hub_institution(), &req.mdtrt_cert_type, req.mdtrt_cert_no.trim()).await.map_err(person_error)?;
        let insurance = person
            .insurances
            .first()
            .ok_or_else(|| ApiError::unprocessable("not_insured", "the insurance center has no insurance for this person"))?;
        if self.store.active_agreement_for(&person.psn_no).await?.is_some() {
            return Err(ApiError::conflict("already_signed", "this person already has an active agreement; revoke it first"));
        }
        let id = new_id("agr");
        let (kind, limit_fen) = match method {
            PaymentMethod::CreditLine => (wire::AgreementKind::CreditLine, Some(limit)),
            PaymentMethod::DebitCard => (wire::AgreementKind::DebitCard, None),
        };
        let open = wire::CreateAgreementRequest {
            request_id: format!("{id}:open"),
            kind,
            customer_ref: id.clone(),
            holder_name: Some(person.psn_name.clone()),
            card_no,
            limit_fen,
            opening_balance_fen: None,
        };
        let opened = bank.open_agreement(&open).await?;
        let bank_agreement_id = opened.agreement_id.as_str();
        let key = &self.config.data_key;
        let row = AgreementRow {
            id: id.clone(),
            psn_no: person.psn_no.clone(),
            insutype: insurance.insutype.clone(),
            insuplc_admdvs: insurance.insuplc_admdvs.clone(),
            name_enc: key.seal(&person.psn_name)?,
            certno_enc: key.seal(&person.certno)?,
            certno_index: key.blind_index(&person.certno),
            use_personal_account: req.use_personal_account,
            payment_method: method,
            bank_code: req.payment.bank_code.clone(),
            bank_agreement_id: bank_agreement_id.to_string(),
            status: AgreementStatus::Active,
            suspended_reason: None,
            created_at: now(),
        };
        if let Err(e) = self.store.insert_agreement(&row).await {
            // Lost a race with a concurrent signing: release the line we just opened.
            let _ = bank.close_agreement(&format!("{id}:close"), bank_agreement_id).await;
            return Err(match e {
                crate::store::StoreError::Conflict(_) => {
                    ApiError::conflict("already_signed", "this person already has an active agreement")
                }
                other => other.into(),
            });
        }
        self.agreement_view(&row).await
    }

    pub async fn agreement(&self, id: &str) -> Result<Value, ApiError> {
        let row =
            self.store.agreement(id).await?.ok_or_else(|| ApiError::not_found("agreement_not_found", format!("no agreement {id}")))?;
        self.agreement_view(&row).await
    }

    pub async fn revoke_agreement(&self, id: &str) -> Result<Value, ApiError> {
        let row =
            self.store.agreement(id).await?.ok_or_else(|| ApiError::not_found("agreement_not_found", format!("no agreement {id}")))?;
        if row.status != AgreementStatus::Active {
            return Err(ApiError::conflict("agreement_not_active", "the agreement is already revoked"));
        }
        self.bank(&row.bank_code)?.close_agreement(&format!("{id}:close"), &row.bank_agreement_id).await?;
        self.store.revoke_agreement(id).await?;
        let row = self.store.agreement(id).await?.ok_or_else(|| ApiError::internal("agreement vanished"))?;
        self.agreement_view(&row).await
    }

    async fn agreement_view(&self, a: &AgreementRow) -> Result<Value, ApiError> {
        let key = &self.config.data_key;
        let mut payment = json!({"method": a.payment_method.as_str(), "bank_code": a.bank_code, "bank_agreement_id": a.bank_agreement_id});
        // The bank is the source of truth for the line; show it when it answers.
        if let Ok(bank) = self.bank(&a.bank_code) {
            if let Ok(live) = bank.agreement(&a.bank_agreement_id).await {
                payment["limit_fen"] = json!(live.limit_fen);
                payment["used_fen"] = json!(live.used_fen);
                payment["held_fen"] = json!(live.held_fen);
                payment["available_fen"] = json!(live.available_fen);
                payment["balance_fen"] = json!(live.balance_fen);
            }
        }
        Ok(json!({
            "id": a.id, "status": a.status.as_str(), "psn_no": a.psn_no, "insutype": a.insutype, "insuplc_admdvs": a.insuplc_admdvs,
            "name": mask_name(&key.open(&a.name_enc)?), "certno": mask(&key.open(&a.certno_enc)?),
            "use_personal_account": a.use_personal_account, "payment": payment, "created_at": a.created_at,
            "seamless": {"enabled": a.status == AgreementStatus::Active && a.suspended_reason.is_none(), "suspended_reason": a.suspended_reason,
                         "message": a.suspended_reason.as_deref().map(suspension_message)},
            "family": self.store.family_links(&a.id).await?.iter().map(|l| Ok(json!({
                "id": l.id, "psn_no": l.member_psn_no, "name": mask_name(&key.open(&l.member_name_enc)?), "relation": l.relation.as_str(),
                "consent": l.consent_method, "status": l.status.as_str(), "created_at": l.created_at,
            }))).collect::<Result<Vec<Value>, ApiError>>()?,
        }))
    }

    /// Reads each bank's event feed and suspends or reinstates seamless payment accordingly:
    /// an overdue credit line stops new seamless visits until it is repaid (逾期暂停, 还款恢复).
    pub async fn sync_bank_events(&self) -> Result<usize, ApiError> {
        let mut applied = 0;
        for (code, bank) in &self.banks {
            let after = self.store.bank_event_cursor(code).await?;
            let events = bank.events(after).await?;
            for event in &events {
                if let Some(suspension) = suspension_after(event) {
                    applied += self.store.set_suspension(code, &event.agreement_id, suspension).await?;
                }
            }
            if let Some(last) = events.last().and_then(|e| i64::try_from(e.seq).ok()) {
                self.store.set_bank_event_cursor(code, last).await?;
            }
        }
        Ok(applied as usize)
    }

    /// 亲情付: the signer's agreement also pays for a spouse, parent or child, with their consent
    /// (their own face verification) or, for a minor, the signer's guardianship proof.
    pub async fn add_family_member(&self, agreement_id: &str, req: FamilyRequest) -> Result<Value, ApiError> {
        let agreement = self
            .store
            .agreement(agreement_id)
            .await?
            .ok_or_else(|| ApiError::not_found("agreement_not_found", format!("no agreement {agreement_id}")))?;
        if agreement.status != AgreementStatus::Active {
            return Err(ApiError::conflict("agreement_not_active", "the agreement is revoked"));
        }
        check_cert_type(&req.mdtrt_cert_type)?;
        check_text("mdtrt_cert_no", &req.mdtrt_cert_no, 64)?;
        check_text("consent.reference", &req.consent.reference, 128)?;
        let relation = Relation::parse(&req.relation)
            .ok_or_else(|| ApiError::unprocessable("bad_relation", "relation must be spouse, parent or child"))?;
        let member =
            self.insurance.person_info(&hub_institution(), &req.mdtrt_cert_type, req.mdtrt_cert_no.trim()).await.map_err(person_error)?;
        if member.psn_no == agreement.psn_no {
            return Err(ApiError::unprocessable("self_link", "the signer is already covered by their own agreement"));
        }
        if self.store.active_agreement_for(&member.psn_no).await?.is_some() {
            return Err(ApiError::conflict("already_signed", "this family member has an agreement of their own"));
        }
        let minor = member.age.map(|a| a < 18).unwrap_or(false);
        match (req.consent.method.as_str(), minor) {
            ("face", _) => {}
            ("guardian", true) if relation == Relation::Child => {}
            ("guardian", _) => {
                return Err(ApiError::unprocessable(
                    "consent_required",
                    "an adult family member must consent by their own face verification",
                ))
            }
            _ => return Err(ApiError::unprocessable("bad_consent", "consent.method must be face or guardian")),
        }
        let link = FamilyLinkRow {
            id: new_id("fam"),
            agreement_id: agreement_id.to_string(),
            member_psn_no: member.psn_no.clone(),
            member_name_enc: self.config.data_key.seal(&member.psn_name)?,
            relation,
            consent_method: req.consent.method.clone(),
            consent_reference: req.consent.reference.clone(),
            status: AgreementStatus::Active,
            created_at: now(),
        };
        match self.store.insert_family_link(&link, MAX_FAMILY_MEMBERS).await {
            Ok(()) => {}
            Err(crate::store::StoreError::Conflict(m)) => return Err(ApiError::conflict("family_link_refused", m)),
            Err(e) => return Err(e.into()),
        }
        self.agreement(agreement_id).await
    }

    pub async fn revoke_family_member(&self, agreement_id: &str, link_id: &str) -> Result<Value, ApiError> {
        if !self.store.revoke_family_link(agreement_id, link_id).await? {
            return Err(ApiError::not_found(
                "family_link_not_found",
                format!("no active family link {link_id} on agreement {agreement_id}"),
            ));
        }
        self.agreement(agreement_id).await
    }

    async fn active_agreement_row(&self, id: &str) -> Result<AgreementRow, ApiError> {
        let row =
            self.store.agreement(id).await?.ok_or_else(|| ApiError::not_found("agreement_not_found", format!("no agreement {id}")))?;
        if row.payment_method != PaymentMethod::CreditLine {
            return Err(ApiError::conflict("not_a_credit_line", "this agreement pays by debit card; there is nothing to repay"));
        }
        Ok(row)
    }

    /// 还款: the patient repays their credit line (bank transfer, or the personal account where the
    /// region allows it). The bank applies it and, when nothing is overdue any more, reinstates
    /// the line; the hub follows the bank's event at once.
    pub async fn repay(&self, id: &str, req: RepayRequest, key: &str) -> Result<Value, ApiError> {
        let row = self.active_agreement_row(id).await?;
        if req.amount_fen <= 0 || req.amount_fen > Fen::yuan(1_000_000).0 {
            return Err(ApiError::unprocessable("bad_amount", "amount_fen must be positive and at most 100000000"));
        }
        if !matches!(req.source.as_str(), "bank_transfer" | "personal_account") {
            return Err(ApiError::unprocessable("bad_source", "source must be bank_transfer or personal_account"));
        }
        if req.source == "personal_account" {
            return self.repay_from_personal_account(&row, Fen(req.amount_fen), key).await;
        }
        let bank = self.bank(&row.bank_code)?;
        let request_id = format!("{id}:repay:{}", short_hash(key));
        let op = bank.repay(&request_id, &row.bank_agreement_id, Fen(req.amount_fen), None).await?;
        self.sync_bank_events().await?;
        let agreement = self.agreement(id).await?;
        Ok(json!({"repayment": op, "agreement": agreement}))
    }

    /// 个人账户还款: the insurance center debits the personal account (9901), then the bank posts
    /// the repayment naming that debit. Both calls are idempotent (the msgid, the request id), and
    /// the row records how far it got, so a retry or the recovery worker finishes it; if the bank
    /// refuses, the debit is undone (9902) and the patient keeps their money.
    async fn repay_from_personal_account(&self, agreement: &AgreementRow, amount: Fen, key: &str) -> Result<Value, ApiError> {
        let fresh = AccountRepaymentRow {
            id: format!("{}:repay:{}", agreement.id, short_hash(key)),
            agreement_id: agreement.id.clone(),
            idem_key: key.to_string(),
            amount,
            state: "started".into(),
            debit_msgid: new_msgid(&hub_institution().fixmedins_code),
            cancel_msgid: new_msgid(&hub_institution().fixmedins_code),
            txn_id: None,
            failure: None,
            created_at: now(),
        };
        let r = self.store.account_repayment(&fresh).await?;
        if r.amount != amount {
            return Err(ApiError::unprocessable(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a repayment of another amount",
            ));
        }
        // Only a repayment this request created may be refused on the line's debt without a call
        // to the insurance center: an older one may have a 9901 in flight whose outcome is unknown,
        // so it is sent (replayed) and, if the bank then refuses, undone by 9902.
        let created_now = r.debit_msgid == fresh.debit_msgid;
        let r = self.drive_account_repayment(r, agreement, created_now).await?;
        match r.state.as_str() {
            "posted" => {
                self.sync_bank_events().await?;
                let op = self.bank(&agreement.bank_code)?.operation(&r.id).await?;
                let view = self.agreement(&agreement.id).await?;
                Ok(json!({"repayment": op, "personal_account_debit": {"txn_id": r.txn_id, "amount_fen": r.amount.0}, "agreement": view}))
            }
            "failed" => Err(ApiError::unprocessable("personal_account_refused", r.failure.unwrap_or_default())),
            "returned" => Err(ApiError::unprocessable(
                "bank_refused",
                format!("{}; the personal account was debited and has been restored", r.failure.unwrap_or_default()),
            )),
            other => Err(ApiError::internal(format!("repayment left in state {other}"))),
        }
    }

    /// Moves a personal-account repayment as far as the partners allow; an unanswered call leaves
    /// it where it is (a 503 to the caller) for a retry with the same ids.
    async fn drive_account_repayment(
        &self,
        mut r: AccountRepaymentRow,
        agreement: &AgreementRow,
        check_debt: bool,
    ) -> Result<AccountRepaymentRow, ApiError> {
        let inst = hub_institution();
        let bank = self.bank(&agreement.bank_code)?;
        loop {
            let from = r.state.clone();
            let mut transfers = Vec::new();
            match from.as_str() {
                "started" => {
                    let debt = match check_debt {
                        true => bank.statements(&agreement.bank_agreement_id).await?.debt_fen.0,
                        false => i64::MAX,
                    };
                    let input = json!({"data": {"psn_no": agreement.psn_no, "amount": r.amount.to_yuan_string(),
                                                "payee_ref": format!("{}:{}", agreement.bank_code, agreement.bank_agreement_id)}});
                    if r.amount.0 > debt {
                        r.state = "failed".into();
                        r.failure = Some(format!("the credit line owes {} fen; a repayment of {} fen is more than that", debt, r.amount.0));
                    } else {
                        match self.insurance.call("9901", &r.debit_msgid, &inst, &agreement.insuplc_admdvs, input).await {
                            Ok(output) => {
                                let txn_id = output.pointer("/data/txn_id").and_then(Value::as_str).unwrap_or_default();
                                if txn_id.is_empty() {
                                    return Err(ApiError::bad_gateway("insurance_bad_reply", "9901 answered without a txn_id"));
                                }
                                r.state = "account_debited".into();
                                r.txn_id = Some(txn_id.to_string());
                            }
                            Err(InsuranceError::Refused { message, .. }) => {
                                r.state = "failed".into();
                                r.failure = Some(format!("the insurance center refused the debit: {message}"));
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                "account_debited" => {
                    let txn_id = r.txn_id.clone().unwrap_or_default();
                    match bank.repay(&r.id, &agreement.bank_agreement_id, r.amount, Some(&txn_id)).await {
                        Ok(_) => {
                            r.state = "posted".into();
                            let t = wugan_domain::settlement::account_repayment_transfer(
                                &r.id,
                                &agreement.psn_no,
                                &agreement.bank_code,
                                &agreement.bank_agreement_id,
                                r.amount,
                            );
                            transfers.push(t);
                        }
                        Err(BankError::Refused { code, message }) => {
                            r.state = "returning".into();
                            r.failure = Some(format!("the bank refused the repayment ({code}): {message}"));
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                "returning" => {
                    let input = json!({"data": {"psn_no": agreement.psn_no, "txn_id": r.txn_id}});
                    self.insurance.call("9902", &r.cancel_msgid, &inst, &agreement.insuplc_admdvs, input).await?;
                    r.state = "returned".into();
                }
                _ => return Ok(r),
            }
            match self.store.advance_account_repayment(&r, &from, &transfers).await {
                Ok(()) => {}
                Err(crate::store::StoreError::StaleSettlement) => {
                    return Err(ApiError::conflict(
                        "repayment_in_progress",
                        "this repayment is being finished by another request; retry shortly",
                    ))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub async fn statements(&self, id: &str) -> Result<Value, ApiError> {
        let row = self.active_agreement_row(id).await?;
        let account = self.bank(&row.bank_code)?.statements(&row.bank_agreement_id).await?;
        Ok(json!(account))
    }

    /// 提额: asks the bank for a higher limit.
    pub async fn request_limit(&self, id: &str, requested_fen: i64, key: &str) -> Result<Value, ApiError> {
        let row = self.active_agreement_row(id).await?;
        if !(Fen::yuan(5_000).0..=Fen::yuan(1_000_000).0).contains(&requested_fen) {
            return Err(ApiError::unprocessable(
                "bad_credit_limit",
                "requested_limit_fen must be between 500000 (5,000 yuan) and 100000000",
            ));
        }
        let request_id = format!("{id}:limit:{}", short_hash(key));
        let op = self.bank(&row.bank_code)?.request_limit(&request_id, &row.bank_agreement_id, Fen(requested_fen)).await?;
        Ok(json!(op))
    }

    // ---- visits (挂号) ------------------------------------------------------------------------

    pub async fn register_visit(&self, hospital: &str, req: RegisterVisitRequest, idem_key: &str) -> Result<Value, ApiError> {
        check_text("ipt_otp_no", &req.ipt_otp_no, 30)?;
        check_cert_type(&req.mdtrt_cert_type)?;
        check_text("mdtrt_cert_no", &req.mdtrt_cert_no, 64)?;
        if !matches!(req.med_type(), "11" | "12" | "13" | "14" | "19" | "51") {
            return Err(ApiError::unprocessable("bad_med_type", "med_type must be an outpatient type: 11, 12, 13, 14, 19 or 51"));
        }
        let row = match self.store.visit_by_hospital_no(hospital, &req.ipt_otp_no).await? {
            // A registration whose 2201 outcome is unknown: resend it with the same msgid.
            Some(v) if v.status == VisitStatus::Registering => v,
            // The same request again, whose answer was lost: the visit it registered.
            Some(v) if v.idem_key.as_deref() == Some(idem_key) => return self.visit_view(&v).await,
            Some(_) => return Err(ApiError::conflict("visit_exists", format!("visit {} is already registered", req.ipt_otp_no))),
            None => self.new_visit(hospital, &req, idem_key).await?,
        };
        let cert_no = self.config.data_key.open(&row.mdtrt_cert_no_enc)?;
        let input = json!({"data": {
            "psn_no": row.psn_no, "insutype": row.insutype, "begntime": row.begntime,
            "mdtrt_cert_type": row.mdtrt_cert_type, "mdtrt_cert_no": cert_no, "ipt_otp_no": row.ipt_otp_no,
            "atddr_no": req.atddr_no.clone().unwrap_or_default(), "dr_name": req.dr_name.clone().unwrap_or_default(),
            "dept_code": req.dept_code.clone().unwrap_or_default(), "dept_name": req.dept_name.clone().unwrap_or_default(),
            "caty": req.caty.clone().unwrap_or_default(),
        }});
        let inst = hospital_institution(hospital);
        let output = match self.insurance.call("2201", &row.register_msgid, &inst, &row.insuplc_admdvs, input).await {
            Ok(output) => output,
            Err(e @ InsuranceError::Refused { .. }) => {
                self.store.delete_unregistered_visit(&row.id).await?;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        let mdtrt_id = output
            .get("data")
            .and_then(|d| d.get("mdtrt_id"))
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_gateway("insurance_bad_reply", "2201 without mdtrt_id"))?;
        self.store.complete_registration(&row.id, mdtrt_id).await?;
        let row = self.store.visit(&row.id).await?.ok_or_else(|| ApiError::internal("visit vanished"))?;
        self.visit_view(&row).await
    }

    /// Identifies the patient (1101), finds their agreement, and writes the visit before 2201 is sent.
    async fn new_visit(&self, hospital: &str, req: &RegisterVisitRequest, idem_key: &str) -> Result<VisitRow, ApiError> {
        let inst = hospital_institution(hospital);
        let person = self.insurance.person_info(&inst, &req.mdtrt_cert_type, req.mdtrt_cert_no.trim()).await.map_err(person_error)?;
        if req.psn_no.as_deref().is_some_and(|p| p != person.psn_no) {
            return Err(ApiError::unprocessable("person_mismatch", "psn_no is not the person this certificate identifies"));
        }
        // Their own agreement, or the one a family member signed for them (亲情付).
        let agreement = self.store.paying_agreement_for(&person.psn_no).await?.map(|(a, _)| a);
        // The insurance the HIS names; else the one they signed with; else their first.
        let wanted = req.insutype.clone().or_else(|| agreement.as_ref().filter(|a| a.psn_no == person.psn_no).map(|a| a.insutype.clone()));
        let insurance = match wanted {
            Some(t) if req.insutype.is_some() => Some(person.insurances.iter().find(|i| i.insutype == t).ok_or_else(|| {
                ApiError::unprocessable("insutype_not_held", format!("the insurance center has no insurance {t} for this person"))
            })?),
            Some(t) => person.insurances.iter().find(|i| i.insutype == t).or(person.insurances.first()),
            None => person.insurances.first(),
        }
        .ok_or_else(|| ApiError::unprocessable("not_insured", "the insurance center has no insurance for this person"))?;
        let row = VisitRow {
            id: new_id("vis"),
            hospital_code: hospital.to_string(),
            ipt_otp_no: req.ipt_otp_no.clone(),
            psn_no: person.psn_no.clone(),
            insutype: insurance.insutype.clone(),
            insuplc_admdvs: insurance.insuplc_admdvs.clone(),
            mdtrt_cert_type: req.mdtrt_cert_type.clone(),
            mdtrt_cert_no_enc: self.config.data_key.seal(req.mdtrt_cert_no.trim())?,
            med_type: req.med_type().to_string(),
            register_msgid: new_msgid(hospital),
            begntime: req.begntime.clone().filter(|b| !b.trim().is_empty()).unwrap_or_else(crate::clock::china_datetime),
            mdtrt_id: String::new(),
            agreement_id: agreement.as_ref().filter(|a| a.suspended_reason.is_none()).map(|a| a.id.clone()),
            seamless_reason: match &agreement {
                None => Some("not_signed".into()),
                Some(a) => a.suspended_reason.clone(),
            },
            status: VisitStatus::Registering,
            idem_key: Some(idem_key.to_string()),
            created_at: now(),
        };
        match self.store.insert_visit(&row).await {
            Ok(()) => Ok(row),
            Err(crate::store::StoreError::Conflict(_)) => {
                Err(ApiError::conflict("visit_exists", format!("visit {} is already registered", req.ipt_otp_no)))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn own_visit(&self, hospital: &str, visit_id: &str) -> Result<VisitRow, ApiError> {
        match self.store.visit(visit_id).await? {
            // Another hospital's visit is answered exactly like a missing one: nothing leaks.
            Some(v) if v.hospital_code == hospital => Ok(v),
            _ => Err(ApiError::not_found("visit_not_found", format!("no visit {visit_id} at this hospital"))),
        }
    }

    pub async fn visit(&self, hospital: &str, visit_id: &str) -> Result<Value, ApiError> {
        let v = self.own_visit(hospital, visit_id).await?;
        self.visit_view(&v).await
    }

    async fn visit_view(&self, v: &VisitRow) -> Result<Value, ApiError> {
        let lines: Vec<FeeLineRow> = self.store.fee_lines(&v.id).await?.into_iter().filter(|l| l.uploaded).collect();
        let medfee: Fen = lines.iter().map(|l| l.amount).sum();
        let settlement = self.store.settlement_of_visit(&v.id).await?;
        Ok(json!({
            "id": v.id, "ipt_otp_no": v.ipt_otp_no, "hospital_code": v.hospital_code, "psn_no": v.psn_no, "insutype": v.insutype,
            "med_type": v.med_type, "mdtrt_id": v.mdtrt_id, "status": v.status.as_str(),
            "seamless": {"enabled": v.agreement_id.is_some(), "agreement_id": v.agreement_id, "reason": v.seamless_reason},
            "fee_lines": lines.len(), "medfee_fen": medfee.0,
            "settlement": settlement.as_ref().map(settlement_view),
            "created_at": v.created_at,
        }))
    }

    // ---- fees (费用明细上传) --------------------------------------------------------------------

    pub async fn upload_fees(&self, hospital: &str, visit_id: &str, req: FeeUploadRequest) -> Result<Value, ApiError> {
        let visit = self.own_visit(hospital, visit_id).await?;
        if visit.status != VisitStatus::Registered || self.store.settlement_of_visit(visit_id).await?.is_some() {
            return Err(ApiError::conflict("visit_not_open", "fees can only be added to a registered visit before it is settled"));
        }
        if req.lines.is_empty() || req.lines.len() > MAX_LINES_PER_UPLOAD {
            return Err(ApiError::unprocessable("bad_lines", format!("send 1 to {MAX_LINES_PER_UPLOAD} fee lines")));
        }
        let mut details = Vec::with_capacity(req.lines.len());
        let mut seen = HashSet::new();
        for (i, line) in req.lines.iter().enumerate() {
            let (detail, amount) = fee_detail(line, i, &visit)?;
            let sn = detail["feedetl_sn"].as_str().unwrap_or_default().to_string();
            if !seen.insert(sn.clone()) {
                return Err(ApiError::unprocessable("duplicate_fee_line", format!("fee line {sn} appears twice in this upload")));
            }
            details.push((sn, amount, detail));
        }
        let batch = self.fee_batch(&visit, details).await?;
        let inst = hospital_institution(hospital);
        let feedetail: Vec<Value> = batch.iter().map(|l| serde_json::from_str(&l.detail_json).unwrap_or(Value::Null)).collect();
        let msgid = batch[0].upload_msgid.clone();
        let output = match self.insurance.call("2204", &msgid, &inst, &visit.insuplc_admdvs, json!({"feedetail": feedetail})).await {
            Ok(output) => output,
            Err(e @ InsuranceError::Refused { .. }) => {
                self.store.delete_fee_batch(visit_id, &msgid).await?;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        let results = output.get("result").and_then(Value::as_array).cloned().unwrap_or_default();
        let by_sn: BTreeMap<String, String> =
            results.iter().filter_map(|r| Some((text_field(r.as_object()?, "feedetl_sn")?, r.to_string()))).collect();
        let marks: Vec<(String, String)> =
            batch.iter().map(|l| (l.feedetl_sn.clone(), by_sn.get(&l.feedetl_sn).cloned().unwrap_or_else(|| "{}".into()))).collect();
        self.store.mark_fee_lines_uploaded(visit_id, &marks).await?;
        let all = self.store.fee_lines(visit_id).await?;
        let lines: Vec<Value> = all.iter().filter(|l| l.upload_msgid == msgid).map(fee_line_view).collect();
        let total: Fen = all.iter().filter(|l| l.uploaded).map(|l| l.amount).sum();
        Ok(json!({"visit_id": visit_id, "lines": lines, "medfee_fen": total.0}))
    }

    /// The batch to send: the lines just written, or — when an earlier upload of exactly these lines
    /// ended with an unknown outcome — that batch again, with its request id.
    async fn fee_batch(&self, visit: &VisitRow, details: Vec<(String, Fen, Value)>) -> Result<Vec<FeeLineRow>, ApiError> {
        let existing = self.store.fee_lines(&visit.id).await?;
        let pending: Vec<&FeeLineRow> = existing.iter().filter(|l| !l.uploaded).collect();
        if !pending.is_empty() {
            let same = pending.len() == details.len()
                && details.iter().all(|(sn, amount, _)| pending.iter().any(|p| &p.feedetl_sn == sn && p.amount == *amount));
            if same {
                return Ok(pending.into_iter().cloned().collect());
            }
            return Err(ApiError::conflict(
                "upload_in_progress",
                "an earlier fee upload has not completed; resend exactly those lines first",
            ));
        }
        // The same upload again, whose answer was lost: the lines it uploaded, if they match exactly.
        let same_batch =
            details.iter().all(|(sn, amount, _)| existing.iter().any(|l| &l.feedetl_sn == sn && l.amount == *amount && l.uploaded));
        if same_batch {
            let msgids: HashSet<&str> = details
                .iter()
                .filter_map(|(sn, _, _)| existing.iter().find(|l| &l.feedetl_sn == sn))
                .map(|l| l.upload_msgid.as_str())
                .collect();
            if msgids.len() == 1 {
                return Ok(existing.iter().filter(|l| details.iter().any(|(sn, _, _)| sn == &l.feedetl_sn)).cloned().collect());
            }
        }
        if let Some((sn, _, _)) = details.iter().find(|(sn, _, _)| existing.iter().any(|l| &l.feedetl_sn == sn)) {
            return Err(ApiError::conflict("duplicate_fee_line", format!("fee line {sn} is already on this visit")));
        }
        let msgid = new_msgid(&visit.hospital_code);
        let rows: Vec<FeeLineRow> = details
            .into_iter()
            .map(|(sn, amount, detail)| FeeLineRow {
                chrg_bchno: detail["chrg_bchno"].as_str().unwrap_or("1").to_string(),
                feedetl_sn: sn,
                amount,
                upload_msgid: msgid.clone(),
                uploaded: false,
                detail_json: detail.to_string(),
                result_json: None,
            })
            .collect();
        match self.store.insert_fee_lines(&visit.id, &rows).await {
            Ok(()) => Ok(rows),
            Err(crate::store::StoreError::Conflict(m)) => Err(ApiError::conflict("duplicate_fee_line", m)),
            Err(e) => Err(e.into()),
        }
    }

    // ---- pre-settlement and the doctor's click ---------------------------------------------------

    fn settle_input(&self, visit: &VisitRow, medfee: Fen, acct_used: bool) -> Value {
        json!({"data": {
            "psn_no": visit.psn_no, "mdtrt_cert_type": visit.mdtrt_cert_type,
            "mdtrt_cert_no": self.config.data_key.open(&visit.mdtrt_cert_no_enc).unwrap_or_default(),
            "med_type": visit.med_type, "medfee_sumamt": medfee.to_yuan_string(), "psn_setlway": "01", "mdtrt_id": visit.mdtrt_id,
            "chrg_bchno": "0000", "acct_used_flag": if acct_used { "1" } else { "0" }, "insutype": visit.insutype,
        }})
    }

    pub async fn pre_settle(&self, hospital: &str, visit_id: &str) -> Result<Value, ApiError> {
        let visit = self.own_visit(hospital, visit_id).await?;
        if visit.status != VisitStatus::Registered {
            return Err(ApiError::conflict(
                "visit_not_open",
                format!("there is nothing to estimate on a visit that is {}", visit.status.as_str()),
            ));
        }
        let medfee = self.open_medfee(&visit).await?;
        let acct_used = self.agreement_of(&visit).await?.map(|a| a.use_personal_account).unwrap_or(false);
        let inst = hospital_institution(hospital);
        let output = self
            .insurance
            .call("2206", &new_msgid(hospital), &inst, &visit.insuplc_admdvs, self.settle_input(&visit, medfee, acct_used))
            .await?;
        let estimate = InsuranceClient::read_settlement(&output)?;
        estimate.split.validate(medfee).map_err(|e| ApiError::bad_gateway("insurance_bad_reply", e.to_string()))?;
        Ok(json!({"visit_id": visit_id, "estimate": split_view(&estimate.split), "seamless": visit.agreement_id.is_some()}))
    }

    async fn open_medfee(&self, visit: &VisitRow) -> Result<Fen, ApiError> {
        let lines = self.store.fee_lines(&visit.id).await?;
        if lines.iter().any(|l| !l.uploaded) {
            return Err(ApiError::conflict("upload_in_progress", "an earlier fee upload has not completed; resend it first"));
        }
        if lines.is_empty() {
            return Err(ApiError::conflict("no_fees", "no fee lines have been uploaded for this visit"));
        }
        Ok(lines.iter().map(|l| l.amount).sum())
    }

    async fn agreement_of(&self, visit: &VisitRow) -> Result<Option<AgreementRow>, ApiError> {
        match &visit.agreement_id {
            Some(id) => Ok(self.store.agreement(id).await?),
            None => Ok(None),
        }
    }

    /// The doctor's click (医生点击结算): insurance settles at once, the patient's cash share is
    /// charged to their bank agreement, the hospital is credited, the ledger records it all.
    pub async fn settle(&self, hospital: &str, visit_id: &str, idem_key: &str) -> Result<Value, ApiError> {
        let visit = self.own_visit(hospital, visit_id).await?;
        let Some(agreement_id) = visit.agreement_id.clone() else {
            let message = match visit.seamless_reason.as_deref() {
                Some(reason) if reason != "not_signed" => format!(
                    "seamless payment was suspended when this visit was registered: {}; settle at the window",
                    suspension_message(reason)
                ),
                _ => {
                    "this patient has not signed up for seamless payment (无感支付未签约); settle at the window or have the patient sign up"
                        .to_string()
                }
            };
            return Err(ApiError::conflict("seamless_not_enabled", message));
        };
        if let Some(existing) = self.store.settlement_of_visit(visit_id).await? {
            return match existing.state {
                // The same click again, whose answer was lost (a crash): the settlement it made.
                s if s.is_final() && existing.idem_key.as_deref() == Some(idem_key) => Ok(settlement_view(&existing)),
                s if s.is_final() => Err(ApiError::conflict("already_settled", format!("this visit's settlement is {}", s.as_str()))),
                _ => self.advance(existing, &visit, true).await.map(|s| settlement_view(&s)),
            };
        }
        let agreement = self.store.agreement(&agreement_id).await?.ok_or_else(|| ApiError::internal("agreement vanished"))?;
        if agreement.status != AgreementStatus::Active {
            return Err(ApiError::conflict("agreement_not_active", "the patient's agreement was revoked after registration"));
        }
        let medfee = self.open_medfee(&visit).await?;
        let stamp = now();
        let row = SettlementRow {
            id: new_id("stl"),
            visit_id: visit.id.clone(),
            hospital_code: hospital.to_string(),
            agreement_id,
            state: SettlementState::Started,
            presettle_msgid: new_msgid(hospital),
            settle_msgid: new_msgid(hospital),
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
            attempts: 0,
            parked_reason: None,
            idem_key: Some(idem_key.to_string()),
            created_at: stamp.clone(),
            updated_at: stamp,
        };
        let (row, created) = self.store.create_settlement(&row).await?;
        if !created && row.state.is_final() && row.idem_key.as_deref() == Some(idem_key) {
            return Ok(settlement_view(&row));
        }
        if !created && row.state.is_final() {
            return Err(ApiError::conflict("already_settled", format!("this visit's settlement is {}", row.state.as_str())));
        }
        self.advance(row, &visit, !created).await.map(|s| settlement_view(&s))
    }

    /// Moves a settlement forward step by step from wherever it stands, writing each state before
    /// the call it leads to. Re-running it after a crash or timeout resends the same request ids;
    /// `resumed` says an earlier run may have left a call with an unknown outcome, so the partner's
    /// record is queried before that call is sent again. A run that stops on a partner's silence
    /// is counted; after `MAX_ATTEMPTS` the settlement is parked in the exceptions queue.
    pub async fn advance(&self, s: SettlementRow, visit: &VisitRow, resumed: bool) -> Result<SettlementRow, ApiError> {
        let id = s.id.clone();
        let result = self.advance_inner(s, visit, resumed).await;
        if let Err(e) = &result {
            if e.status.is_server_error() {
                self.store.note_failed_attempt(&id, &format!("{}: {}", e.code, e.message), MAX_ATTEMPTS).await?;
            }
        }
        result
    }

    async fn advance_inner(&self, mut s: SettlementRow, visit: &VisitRow, mut resumed: bool) -> Result<SettlementRow, ApiError> {
        let agreement = self.store.agreement(&s.agreement_id).await?.ok_or_else(|| ApiError::internal("agreement vanished"))?;
        let bank = self.bank(&agreement.bank_code)?;
        let inst = hospital_institution(&visit.hospital_code);
        let settlement_id = s.id.clone();
        let parties = Parties {
            settlement_id: &settlement_id,
            hospital_code: &visit.hospital_code,
            psn_no: &visit.psn_no,
            insuplc_admdvs: &visit.insuplc_admdvs,
            insutype: &visit.insutype,
            bank_code: &agreement.bank_code,
            bank_agreement_id: &agreement.bank_agreement_id,
        };
        let input = self.settle_input(visit, s.medfee, agreement.use_personal_account);
        loop {
            let step = self.step(&mut s, visit, &agreement, bank, &inst, &parties, &input, resumed).await;
            resumed = false;
            match step {
                Err(ApiError { code: "stale_settlement", .. }) => {
                    // Another worker advanced it meanwhile: continue from what it wrote.
                    s = self.store.settlement_of_visit(&visit.id).await?.ok_or_else(|| ApiError::internal("settlement vanished"))?;
                }
                Err(e) => return Err(e),
                Ok(true) => continue,
                Ok(false) => return Ok(s),
            }
        }
    }

    /// One step of the settlement from its current state; `Ok(false)` when there is nothing more to do.
    #[allow(clippy::too_many_arguments)]
    async fn step(
        &self,
        s: &mut SettlementRow,
        visit: &VisitRow,
        agreement: &AgreementRow,
        bank: &BankClient,
        inst: &Institution,
        parties: &Parties<'_>,
        input: &Value,
        resumed: bool,
    ) -> Result<bool, ApiError> {
        let from = s.state;
        {
            match s.state {
                SettlementState::Started => {
                    match self.insurance.call("2206", &s.presettle_msgid, inst, &visit.insuplc_admdvs, input.clone()).await {
                        Ok(output) => {
                            let estimate = InsuranceClient::read_settlement(&output)?;
                            s.estimate_cash = Some(estimate.split.cash);
                            s.state = SettlementState::PreSettled;
                        }
                        Err(InsuranceError::Refused { infcode, message }) => {
                            s.state = SettlementState::Failed;
                            s.failure_code = Some("insurance_refused".into());
                            s.failure_message = Some(format!("pre-settlement refused ({infcode}): {message}"));
                        }
                        Err(other) => return Err(other.into()),
                    }
                    self.store.save_settlement(s, from, &[]).await?;
                }
                SettlementState::PreSettled => {
                    let estimate = s.estimate_cash.unwrap_or_default();
                    let mut transfers = Vec::new();
                    if estimate.is_positive() {
                        let request_id = format!("{}:auth", s.id);
                        s.auth_request_id = Some(request_id.clone());
                        match bank.authorize(&request_id, &agreement.bank_agreement_id, estimate, &visit.hospital_code, resumed).await {
                            Ok(Authorization::Approved { amount }) => {
                                s.auth_status = Some("approved".into());
                                s.held = amount;
                                transfers.push(parties.hold(amount));
                            }
                            Ok(Authorization::Declined { code }) => {
                                s.auth_status = Some("declined".into());
                                s.decline_code = Some(code.to_string());
                            }
                            Err(BankError::Refused { code, .. }) => {
                                s.auth_status = Some("declined".into());
                                s.decline_code = Some(code.to_string());
                            }
                            Err(other) => return Err(other.into()),
                        }
                    }
                    s.state = SettlementState::Authorized;
                    self.store.save_settlement(s, from, &transfers).await?;
                }
                SettlementState::Authorized => {
                    let outcome = match self.settled_already(visit, inst, resumed).await? {
                        Some(output) => Ok(output),
                        None => self.insurance.call("2207", &s.settle_msgid, inst, &visit.insuplc_admdvs, input.clone()).await,
                    };
                    match outcome {
                        Ok(output) => {
                            let settled = InsuranceClient::read_settlement(&output)?;
                            if let Err(e) = settled.split.validate(s.medfee) {
                                // Insurance settled with arithmetic we cannot trust: stop here, visibly.
                                s.failure_code = Some("insurance_split_invalid".into());
                                s.failure_message = Some(e.to_string());
                                s.setlinfo_json = Some(settled.setlinfo.to_string());
                                self.store.save_settlement(s, from, &[]).await?;
                                return Err(ApiError::bad_gateway("insurance_bad_reply", e.to_string()));
                            }
                            s.setl_id = settled.setl_id;
                            s.split = Some(settled.split);
                            s.setlinfo_json = Some(settled.setlinfo.to_string());
                            s.state = SettlementState::InsuranceSettled;
                            self.store.save_settlement(s, from, &[]).await?;
                        }
                        Err(InsuranceError::Refused { infcode, message }) => {
                            let mut transfers = Vec::new();
                            if s.held.is_positive() {
                                bank.void(&format!("{}:void", s.id), s.auth_request_id.as_deref().unwrap_or_default(), resumed).await?;
                                transfers.push(parties.void_hold());
                            }
                            s.state = SettlementState::Failed;
                            s.failure_code = Some("insurance_refused".into());
                            s.failure_message = Some(format!("settlement refused ({infcode}): {message}"));
                            self.store.save_settlement(s, from, &transfers).await?;
                        }
                        Err(other) => return Err(other.into()),
                    }
                }
                SettlementState::InsuranceSettled => {
                    let split = s.split.ok_or_else(|| ApiError::internal("settled without a split"))?;
                    let auth = s.auth_request_id.clone().unwrap_or_default();
                    let to_capture = split.cash.min(s.held);
                    if to_capture.is_positive() {
                        match bank.capture(&format!("{}:capture", s.id), &auth, to_capture, resumed).await {
                            Ok(()) => s.captured = to_capture,
                            Err(BankError::Refused { code, .. }) => {
                                s.decline_code = Some(code.to_string());
                                bank.void(&format!("{}:void", s.id), &auth, false).await?;
                            }
                            Err(other) => return Err(other.into()),
                        }
                    } else if s.held.is_positive() {
                        bank.void(&format!("{}:void", s.id), &auth, resumed).await?;
                    }
                    s.unpaid = split.cash - s.captured;
                    s.state = if s.unpaid.is_positive() { SettlementState::SettledUnpaid } else { SettlementState::Settled };
                    let transfers = parties.settlement_transfers(&split, s.held, s.captured);
                    self.store.save_settlement(s, from, &transfers).await?;
                }
                SettlementState::Cancelling => {
                    self.cancel_step(s, visit, agreement, parties, resumed).await?;
                    return Ok(false);
                }
                SettlementState::Settled | SettlementState::SettledUnpaid | SettlementState::Failed | SettlementState::Cancelled => {
                    return Ok(false)
                }
            }
        }
        Ok(true)
    }

    /// After an unknown outcome, asks the insurance center (5203 结算信息查询, by mdtrt_id) whether
    /// the visit is already settled, before 2207 is sent again. `None`: not settled (or not resumed).
    async fn settled_already(&self, visit: &VisitRow, inst: &Institution, resumed: bool) -> Result<Option<Value>, ApiError> {
        if !resumed {
            return Ok(None);
        }
        let input = json!({"data": {"mdtrt_id": visit.mdtrt_id, "psn_no": visit.psn_no, "setl_id": ""}});
        match self.insurance.call("5203", &new_msgid(&visit.hospital_code), inst, &visit.insuplc_admdvs, input).await {
            Ok(output) => {
                let cancelled = output.get("setlinfo").and_then(|i| i.get("refd_setl_flag")).and_then(Value::as_str) == Some("1");
                Ok(if cancelled { None } else { Some(output) })
            }
            // No settlement on record: 2207 never took effect, so sending it is safe.
            Err(InsuranceError::Refused { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// 结算撤销: reverses insurance (2208), refunds the bank, and posts the reversing transfers.
    pub async fn cancel_settlement(&self, hospital: &str, visit_id: &str) -> Result<Value, ApiError> {
        let visit = self.own_visit(hospital, visit_id).await?;
        let s = self
            .store
            .settlement_of_visit(visit_id)
            .await?
            .ok_or_else(|| ApiError::conflict("not_settled", "this visit has no settlement to cancel"))?;
        match s.state {
            SettlementState::Cancelled => return Err(ApiError::conflict("already_cancelled", "this settlement is already cancelled")),
            SettlementState::Cancelling => {}
            state if state.is_cancellable() => {
                let mut s = s;
                s.cancel_msgid = Some(new_msgid(hospital));
                s.state = SettlementState::Cancelling;
                self.store.save_settlement(&s, state, &[]).await?;
                return self.advance(s, &visit, false).await.map(|s| settlement_view(&s));
            }
            state => return Err(ApiError::conflict("not_settled", format!("a settlement that is {} cannot be cancelled", state.as_str()))),
        }
        self.advance(s, &visit, true).await.map(|s| settlement_view(&s))
    }

    async fn cancel_step(
        &self,
        s: &mut SettlementRow,
        visit: &VisitRow,
        agreement: &AgreementRow,
        parties: &Parties<'_>,
        resumed: bool,
    ) -> Result<(), ApiError> {
        let from = s.state;
        let split = s.split.ok_or_else(|| ApiError::internal("cancelling without a split"))?;
        let inst = hospital_institution(&visit.hospital_code);
        let msgid = s.cancel_msgid.clone().ok_or_else(|| ApiError::internal("cancelling without a msgid"))?;
        let input = json!({"data": {"setl_id": s.setl_id, "mdtrt_id": visit.mdtrt_id, "psn_no": visit.psn_no}});
        if let Err(e) = self.insurance.call("2208", &msgid, &inst, &visit.insuplc_admdvs, input).await {
            if let InsuranceError::Refused { .. } = e {
                // Insurance keeps the settlement: so do we.
                s.state = if s.unpaid.is_positive() { SettlementState::SettledUnpaid } else { SettlementState::Settled };
                s.cancel_msgid = None;
                self.store.save_settlement(s, from, &[]).await?;
            }
            return Err(e.into());
        }
        if s.captured.is_positive() {
            let bank = self.bank(&agreement.bank_code)?;
            bank.refund(&format!("{}:refund", s.id), &format!("{}:capture", s.id), s.captured, resumed).await?;
        }
        s.state = SettlementState::Cancelled;
        let transfers = parties.cancellation_transfers(&split, s.captured);
        self.store.save_settlement(s, from, &transfers).await?;
        Ok(())
    }

    /// Resumes every settlement left between steps (after a crash or a partner outage) and idle for
    /// at least `idle`, so that the worker does not race requests still in flight.
    pub async fn resume_unfinished(&self, idle: Duration) -> Result<usize, ApiError> {
        let cutoff = crate::clock::before_now(idle);
        let mut resumed = 0;
        for r in self.store.unfinished_account_repayments(&cutoff).await? {
            if let Some(agreement) = self.store.agreement(&r.agreement_id).await? {
                match self.drive_account_repayment(r, &agreement, false).await {
                    Ok(_) => resumed += 1,
                    Err(e) => tracing::warn!(code = e.code, "repayment could not be resumed yet"),
                }
            }
        }
        for s in self.store.unfinished_settlements(&cutoff).await? {
            // Back off exponentially while a partner stays silent: idle × 2^attempts, at most ×32.
            let backoff = idle * 2u32.pow(s.attempts.clamp(0, 5) as u32);
            if s.attempts > 0 && s.updated_at > crate::clock::before_now(backoff) {
                continue;
            }
            if let Some(visit) = self.store.visit(&s.visit_id).await? {
                match self.advance(s, &visit, true).await {
                    Ok(_) => resumed += 1,
                    Err(e) => tracing::warn!(code = e.code, "settlement could not be resumed yet"),
                }
            }
        }
        Ok(resumed)
    }

    /// The exceptions queue (差错处理): what the recovery worker could not finish.
    pub async fn exceptions(&self) -> Result<Value, ApiError> {
        let items: Vec<Value> = self
            .store
            .exceptions()
            .await?
            .iter()
            .map(|s| {
                let mut v = settlement_view(s);
                v["attempts"] = json!(s.attempts);
                v["parked_reason"] = json!(s.parked_reason);
                v
            })
            .collect();
        // Personal-account repayments left unfinished by a silent partner (normally there are none
        // for more than a moment): the patient's money may sit between insurance and bank meanwhile.
        let stuck = self.store.unfinished_account_repayments(&now()).await?;
        let repayments: Vec<Value> = stuck
            .iter()
            .map(|r| {
                json!({"id": r.id, "agreement_id": r.agreement_id, "amount_fen": r.amount.0, "state": r.state,
                       "insurance_txn_id": r.txn_id, "failure": r.failure, "created_at": r.created_at})
            })
            .collect();
        Ok(json!({"exceptions": items, "repayments": repayments}))
    }

    /// An operator sends a parked settlement round once more.
    pub async fn retry_exception(&self, settlement_id: &str) -> Result<Value, ApiError> {
        let s = self
            .store
            .settlement(settlement_id)
            .await?
            .ok_or_else(|| ApiError::not_found("settlement_not_found", format!("no settlement {settlement_id}")))?;
        if !self.store.unpark(settlement_id).await? && s.state.is_final() {
            return Err(ApiError::conflict("not_parked", "this settlement is not waiting in the exceptions queue"));
        }
        let visit = self.store.visit(&s.visit_id).await?.ok_or_else(|| ApiError::internal("visit vanished"))?;
        let s = self.store.settlement(settlement_id).await?.ok_or_else(|| ApiError::internal("settlement vanished"))?;
        self.advance(s, &visit, true).await.map(|s| settlement_view(&s))
    }

    pub async fn ledger(&self) -> Result<Value, ApiError> {
        let report = self.store.ledger_report().await?;
        Ok(json!({
            "balanced": report.balanced, "transfers": report.transfer_count,
            "hospitals_received_fen": report.net_posted("hospital:").0,
            "hospitals_unpaid_fen": report.net_posted("hospital_unpaid:").0,
            "accounts": report.accounts,
        }))
    }
}

/// What a bank event means for seamless payment: `None` leaves it as it is, `Some(None)` lifts a
/// suspension, `Some(Some(reason))` suspends. A frozen line stays suspended whatever else happens
/// to it; lifting a freeze leaves the line suspended if it is still overdue.
fn suspension_after(event: &wire::BankEvent) -> Option<Option<&'static str>> {
    let frozen = event.status == wire::AgreementStatus::Frozen;
    let overdue = event.overdue_fen.is_positive();
    let standing = match (frozen, overdue) {
        (true, _) => Some("credit_frozen"),
        (false, true) => Some("credit_overdue"),
        (false, false) => None,
    };
    match event.event_type {
        wire::BankEventType::LineOverdue => Some(standing.or(Some("credit_overdue"))),
        wire::BankEventType::LineReinstated | wire::BankEventType::LineFrozen | wire::BankEventType::LineUnfrozen => Some(standing),
        wire::BankEventType::RepaymentPosted | wire::BankEventType::LimitChanged | wire::BankEventType::Other => None,
    }
}

fn suspension_message(reason: &str) -> String {
    match reason {
        "credit_overdue" => "your credit line has an overdue bill (逾期); seamless payment resumes as soon as it is repaid".into(),
        "credit_frozen" => {
            "your bank has frozen the credit line or card (冻结); contact the bank, seamless payment resumes when it is lifted".into()
        }
        other => format!("seamless payment is suspended: {other}"),
    }
}

/// A short, stable digest of a caller's idempotency key, for request ids the bank accepts.
fn short_hash(key: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(key.as_bytes())[..8])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepayRequest {
    pub amount_fen: i64,
    #[serde(default = "bank_transfer")]
    pub source: String,
}

fn bank_transfer() -> String {
    "bank_transfer".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyRequest {
    pub mdtrt_cert_type: String,
    pub mdtrt_cert_no: String,
    pub relation: String,
    pub consent: Consent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// `face` (the member's own face verification) or `guardian` (a minor child).
    pub method: String,
    /// The verification's transaction id, or the guardianship document's reference.
    pub reference: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRequest {
    pub requested_limit_fen: i64,
}

fn person_error(e: InsuranceError) -> ApiError {
    match e {
        InsuranceError::Refused { message, .. } => {
            ApiError::unprocessable("person_not_found", format!("the insurance center does not know this person: {message}"))
        }
        other => other.into(),
    }
}

/// Checks one HIS fee line and turns it into a 2204 `feedetail` entry; returns it with its amount.
fn fee_detail(line: &Map<String, Value>, i: usize, visit: &VisitRow) -> Result<(Value, Fen), ApiError> {
    let sn = text_field(line, "feedetl_sn")
        .ok_or_else(|| ApiError::unprocessable("missing_field", format!("lines[{i}].feedetl_sn is required")))?;
    check_text(&format!("lines[{i}].feedetl_sn"), &sn, 30)?;
    let code = text_field(line, "med_list_codg")
        .ok_or_else(|| ApiError::unprocessable("missing_field", format!("lines[{i}].med_list_codg is required")))?;
    // Text fields the hub reads or defaults; they go to the insurance center as sent, so only text passes.
    for field in ["medins_list_codg", "chrg_bchno", "fee_ocur_time"] {
        if !matches!(line.get(field), None | Some(Value::Null) | Some(Value::String(_))) {
            return Err(ApiError::unprocessable("invalid_request", format!("lines[{i}].{field} must be a string")));
        }
    }
    let amount = yuan_field(line, "det_item_fee_sumamt", i)?;
    let cnt = scaled_field(line, "cnt", 4, i)?;
    let pric = scaled_field(line, "pric", 6, i)?;
    if !amount.is_positive() || amount > MAX_LINE_FEN || cnt <= 0 || pric <= 0 {
        return Err(ApiError::unprocessable(
            "bad_amount",
            format!("lines[{i}]: amount, count and price must be positive and at most 1,000,000 yuan"),
        ));
    }
    let product = wugan_domain::money::price_times_quantity(pric, cnt);
    if (product - amount).0.abs() > 1 {
        return Err(ApiError::unprocessable(
            "amount_mismatch",
            format!("lines[{i}]: det_item_fee_sumamt {} is not pric × cnt", amount.to_yuan_string()),
        ));
    }
    let mut detail = line.clone();
    detail.insert("feedetl_sn".into(), json!(sn));
    detail.insert("med_list_codg".into(), json!(code));
    detail.insert("mdtrt_id".into(), json!(visit.mdtrt_id));
    detail.insert("psn_no".into(), json!(visit.psn_no));
    detail.insert("det_item_fee_sumamt".into(), json!(amount.to_yuan_string()));
    detail.insert("cnt".into(), json!(wugan_domain::money::format_scaled(cnt, 4)));
    detail.insert("pric".into(), json!(wugan_domain::money::format_scaled(pric, 6)));
    if text_field(line, "chrg_bchno").is_none() {
        detail.insert("chrg_bchno".into(), json!("1"));
    }
    if text_field(line, "fee_ocur_time").is_none() {
        detail.insert("fee_ocur_time".into(), json!(crate::clock::china_datetime()));
    }
    Ok((Value::Object(detail), amount))
}

fn fee_line_view(r: &FeeLineRow) -> Value {
    let result: Value = r.result_json.as_deref().and_then(|j| serde_json::from_str(j).ok()).unwrap_or(Value::Null);
    let fen = |field: &str| Fen::from_json_yuan(result.get(field).unwrap_or(&Value::Null)).ok().flatten().unwrap_or_default().0;
    json!({
        "feedetl_sn": r.feedetl_sn, "amount_fen": r.amount.0,
        "chrgitm_lv": result.get("chrgitm_lv").cloned().unwrap_or(Value::Null),
        "fulamt_ownpay_fen": fen("fulamt_ownpay_amt"), "overlmt_fen": fen("overlmt_amt"),
        "preselfpay_fen": fen("preselfpay_amt"), "inscp_scp_fen": fen("inscp_scp_amt"),
    })
}

fn split_view(s: &InsuranceSplit) -> Value {
    json!({
        "medfee_fen": s.medfee.0, "fund_fen": s.fund.0, "personal_account_fen": s.personal_account.0,
        "cash_fen": s.cash.0, "hospital_part_fen": s.hospital_part.0,
    })
}

pub fn settlement_view(s: &SettlementRow) -> Value {
    let split = s.split.unwrap_or_default();
    let hospital_credited = match s.state {
        SettlementState::Settled | SettlementState::SettledUnpaid => split.fund + split.personal_account + s.captured,
        _ => Fen::ZERO,
    };
    json!({
        "id": s.id, "visit_id": s.visit_id, "state": s.state.as_str(), "setl_id": s.setl_id,
        "medfee_fen": s.medfee.0, "fund_fen": split.fund.0, "personal_account_fen": split.personal_account.0,
        "cash_fen": split.cash.0, "bank_fen": s.captured.0, "unpaid_fen": s.unpaid.0, "hospital_part_fen": split.hospital_part.0,
        "hospital_credited_fen": hospital_credited.0,
        "bank": {"authorization": s.auth_status, "held_fen": s.held.0, "decline_code": s.decline_code},
        "failure": s.failure_code.as_ref().map(|code| json!({"code": code, "message": s.failure_message})),
        "created_at": s.created_at, "updated_at": s.updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event as the bank sends it, read from its wire names.
    fn event(kind: &str, status: &str, overdue_fen: i64) -> wire::BankEvent {
        wire::BankEvent {
            seq: 1,
            event_type: serde_json::from_value(json!(kind)).expect("any event type reads"),
            agreement_id: "agr-1".into(),
            customer_ref: "hub-1".into(),
            status: serde_json::from_value(json!(status)).expect("a known status"),
            limit_fen: Fen(500_000),
            used_fen: Fen(overdue_fen),
            available_fen: Fen(500_000 - overdue_fen),
            debt_fen: Fen(overdue_fen),
            overdue_fen: Fen(overdue_fen),
            amount_fen: None,
            previous_limit_fen: None,
            source: None,
            reference: None,
            request_id: None,
            recorded_at_unix_s: 0,
        }
    }

    #[test]
    fn bank_events_suspend_and_reinstate_seamless_payment() {
        let cases = [
            (event("line_overdue", "overdue", 100), Some(Some("credit_overdue"))),
            (event("line_reinstated", "active", 0), Some(None)),
            (event("line_frozen", "frozen", 0), Some(Some("credit_frozen"))),
            (event("line_frozen", "frozen", 100), Some(Some("credit_frozen"))),
            // Repaying a frozen line does not lift the freeze.
            (event("line_reinstated", "frozen", 0), Some(Some("credit_frozen"))),
            (event("line_overdue", "frozen", 100), Some(Some("credit_frozen"))),
            // Unfrozen but still overdue: still suspended, for the other reason.
            (event("line_unfrozen", "overdue", 100), Some(Some("credit_overdue"))),
            (event("line_unfrozen", "active", 0), Some(None)),
            (event("repayment_posted", "active", 0), None),
            (event("limit_changed", "active", 0), None),
            // A type this hub does not know changes nothing.
            (event("card_reissued", "frozen", 100), None),
        ];
        for (e, expected) in cases {
            assert_eq!(suspension_after(&e), expected, "{e:?}");
        }
    }
}
