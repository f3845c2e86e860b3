use super::*;
use crate::store::{SignupRow, StoreError};
use wugan_bank_protocol::wire;
use wugan_domain::seamless::Suspension;
use wugan_domain::signup::{self, Person, Refusal, SignupCall, SignupOutcome, SignupReply, SignupStage};

/// What a sign-up asks of the bank, read from its request before anything is written.
struct LineTerms {
    method: PaymentMethod,
    card_no: Option<String>,
    limit: Fen,
}

impl App {
    /// 签约, as a persisted state machine (`wugan_domain::signup`): the sign-up is written with its
    /// request before the first call, each step before the call it leads to, and the recovery
    /// worker finishes one that a crash or a silent partner cut short. Its id (the agreement's)
    /// comes from the caller and the Idempotency-Key, and so does its bank request id
    /// (`{id}:open`): a retry, or the worker, resumes the same sign-up, the bank replays the line
    /// it already opened, and the retry gets the agreement it made. While a partner's answer is
    /// unknown the caller is told 503 (retry with the same key), never a refusal.
    /// Whether the sign-up under `(caller_scope, idem_key)` has already made its agreement: the
    /// same request again is then a replay (answered as `sign_agreement` answers it).
    pub async fn signed_already(&self, caller_scope: &str, idem_key: &str) -> Result<bool, AppError> {
        Ok(self.store.agreement(&signup_id(caller_scope, idem_key)).await?.is_some())
    }

    pub async fn sign_agreement(&self, req: SignRequest, caller_scope: &str, idem_key: &str) -> Result<AgreementView, AppError> {
        let req = SignRequest { mdtrt_cert_no: super::cert_no_as_read(&req.mdtrt_cert_type, &req.mdtrt_cert_no), ..req };
        let id = signup_id(caller_scope, idem_key);
        let earlier = self.store.signup(&id).await?;
        if let Some(earlier) = &earlier {
            // The same key with another request (another limit, bank or card) is not this one
            // again (review r26 patient F6: a patient asking for 9,000.00 was shown the 5,000.00
            // line of an earlier sign-up under the key, as if done).
            let asked = serde_json::to_string(&req).map_err(|e| AppError::internal(format!("a sign-up request: {e}")))?;
            if self.config.data_key.open(&earlier.request_enc)? != asked {
                return Err(AppError::invalid("idempotency_key_reused", "this Idempotency-Key was used for another sign-up request"));
            }
        }
        if let Some(done) = self.store.agreement(&id).await? {
            return self.agreement_view(&done).await;
        }
        let signup = match earlier {
            // The caller sends it again: a parked sign-up gets a fresh count of tries.
            Some(earlier) if earlier.parked_reason.is_some() && self.store.unpark_signup(&id).await? => {
                self.store.signup(&id).await?.ok_or_else(|| AppError::internal("sign-up vanished"))?
            }
            Some(earlier) => earlier,
            None => self.store.create_signup(&self.new_signup(&id, &req)?).await?.0,
        };
        let signup = self.advance_signup(signup).await?;
        self.signup_answer(&signup).await
    }

    /// A sign-up about to be written: its request checked (nothing is written for a bad one) and sealed.
    fn new_signup(&self, id: &str, req: &SignRequest) -> Result<SignupRow, AppError> {
        check_sign_request(req, self.default_credit_limit(&req.payment.bank_code))?;
        self.bank(&req.payment.bank_code)?;
        let request = serde_json::to_string(req).map_err(|e| AppError::internal(format!("a sign-up request cannot be kept: {e}")))?;
        let now = self.now();
        Ok(SignupRow {
            id: id.to_string(),
            state: SignupStage::Requested.state().to_string(),
            bank_code: req.payment.bank_code.clone(),
            request_enc: self.config.data_key.seal(&request)?,
            person_enc: None,
            bank_agreement_id: None,
            refusal_code: None,
            refusal_message: None,
            attempts: 0,
            parked_reason: None,
            created_at: now.clone(),
            updated_at: now,
        })
    }

    /// Moves a sign-up on until it is final or a partner's answer is unknown; a run that stops on
    /// a partner's silence is counted, and after `MAX_ATTEMPTS` the sign-up is parked in the
    /// exceptions queue, as a settlement is.
    pub(crate) async fn advance_signup(&self, s: SignupRow) -> Result<SignupRow, AppError> {
        let id = s.id.clone();
        let result = self.drive_signup(s).await;
        if let Err(e) = &result {
            if e.is_retryable() {
                self.store.note_failed_signup_attempt(&id, &e.for_an_operator(), MAX_ATTEMPTS).await?;
            }
        }
        result
    }

    /// The orchestrator: persist, call, apply. Every decision is `signup::apply`'s.
    async fn drive_signup(&self, mut s: SignupRow) -> Result<SignupRow, AppError> {
        let request = self.config.data_key.open(&s.request_enc)?;
        let req: SignRequest = serde_json::from_str(&request)
            .map_err(|e| AppError::internal(format!("sign-up {} keeps a request that cannot be read: {e}", s.id)))?;
        loop {
            let stage = self.signup_stage(&s)?;
            let Some(call) = signup::next_call(&stage) else { return Ok(s) };
            // Err: the outcome is unknown; the stage stays as it is, to be tried again.
            let outcome = self.make_signup_call(&s, &req, &call).await?;
            let next = signup::apply(&stage, &call, outcome).map_err(|e| AppError::bad_gateway("partner_bad_reply", e.to_string()))?;
            let from = s.state.clone();
            self.set_signup_stage(&mut s, &next)?;
            if !self.store.save_signup(&s, &from).await? {
                // Another run moved it on meanwhile: continue from what it wrote.
                s = self.store.signup(&s.id).await?.ok_or_else(|| AppError::internal("sign-up vanished"))?;
            }
        }
    }

    /// Makes the machine's call with the request ids fixed by the sign-up. `Err` is an unknown outcome.
    async fn make_signup_call(&self, s: &SignupRow, req: &SignRequest, call: &SignupCall) -> Result<SignupOutcome, AppError> {
        let bank = self.bank(&s.bank_code)?;
        let bank_refused = |e: BankError| match e {
            BankError::Refused { code, message } => Ok(SignupOutcome::Refused { code: code.to_string(), message }),
            other => Err(AppError::from(other)),
        };
        let done = |reply: SignupReply| Ok(SignupOutcome::Done(reply));
        match call {
            SignupCall::Identify => {
                let msgid = self.msgid(&hub_institution().fixmedins_code).await?;
                let cert_no = req.mdtrt_cert_no.trim();
                let inst = self.signed_hub_institution().await?;
                let info = match self.insurance.person_info(&msgid, &inst, &req.mdtrt_cert_type, cert_no).await {
                    Ok(info) => info,
                    Err(InsuranceError::Refused { infcode, message }) => {
                        return Ok(SignupOutcome::Refused { code: infcode.to_string(), message })
                    }
                    Err(e) => return Err(e.into()),
                };
                let other = self.store.active_agreement_for(&info.psn_no).await?.filter(|a| a.id != s.id);
                let still_owes = match other {
                    Some(_) => None,
                    None => self.owed_by_person(&info.psn_no, &s.id).await?.map(|owed| Refusal {
                        code: owed.code().to_string(),
                        message: format!("an earlier agreement of this person still owes: {}", owed.message()),
                    }),
                };
                // No insurance in force: the person signs up all the same, to pay self. Several
                // and no basic one among them: no default; each visit names its own (insutype).
                let insurance = super::visits::choose_insurance(&info.insurances, None, None).ok().flatten();
                let person = Person {
                    psn_no: info.psn_no.clone(),
                    name: info.psn_name.clone(),
                    certno: info.certno.clone(),
                    insutype: insurance.map(|i| i.insutype.clone()).unwrap_or_default(),
                    insuplc_admdvs: insurance.map(|i| i.insuplc_admdvs.clone()).unwrap_or_default(),
                };
                done(SignupReply::Identified { person, already_signed: other.is_some(), still_owes })
            }
            SignupCall::OpenLine { person } => {
                let terms = check_sign_request(req, self.default_credit_limit(&req.payment.bank_code))?;
                let (kind, limit_fen) = match terms.method {
                    PaymentMethod::CreditLine => (wire::AgreementKind::CreditLine, Some(terms.limit)),
                    PaymentMethod::DebitCard => (wire::AgreementKind::DebitCard, None),
                };
                let open = wire::CreateAgreementRequest {
                    request_id: format!("{}:open", s.id),
                    kind,
                    customer_ref: s.id.clone(),
                    holder_name: Some(person.name.clone()),
                    card_no: terms.card_no,
                    limit_fen,
                    opening_balance_fen: None,
                };
                match bank.open_agreement(&open).await {
                    Ok(line) => {
                        let closed = line.status == wire::AgreementStatus::Closed;
                        done(SignupReply::LineOpened { bank_agreement_id: line.agreement_id, closed })
                    }
                    Err(e) => bank_refused(e),
                }
            }
            SignupCall::Activate { person, bank_agreement_id } => {
                let row = self.agreement_row(s, req, person, bank_agreement_id)?;
                match self.store.insert_agreement(&row).await {
                    Ok(()) => {
                        // Their own agreement pays for them from now on: a family link that paid
                        // for them ends (review r26 patient F4: it read active and paid nothing).
                        for payer in self.store.end_family_links_of_member(&row.psn_no).await? {
                            tracing::info!(agreement = %payer, "a linked family member signed up on their own: the link ended");
                        }
                        done(SignupReply::Activated)
                    }
                    // Written by an earlier run of this very sign-up, cut short before its stage was saved.
                    Err(StoreError::Conflict(_)) if self.store.agreement(&s.id).await?.is_some() => done(SignupReply::Activated),
                    Err(StoreError::Conflict(message)) => Ok(SignupOutcome::Refused { code: "already_signed".into(), message }),
                    Err(e) => Err(e.into()),
                }
            }
            SignupCall::CloseLine { bank_agreement_id } => bank
                .close_agreement(&format!("{}:close", s.id), bank_agreement_id)
                .await
                .map_or_else(bank_refused, |_| done(SignupReply::LineClosed)),
        }
    }

    fn agreement_row(&self, s: &SignupRow, req: &SignRequest, person: &Person, bank_agreement_id: &str) -> Result<AgreementRow, AppError> {
        let key = &self.config.data_key;
        Ok(AgreementRow {
            id: s.id.clone(),
            psn_no: person.psn_no.clone(),
            insutype: person.insutype.clone(),
            insuplc_admdvs: person.insuplc_admdvs.clone(),
            name_enc: key.seal(&person.name)?,
            certno_enc: key.seal(&person.certno)?,
            certno_index: key.blind_index(&person.certno),
            // Asked for, and there is an account to pay from: a resident has none.
            use_personal_account: req.use_personal_account && has_personal_account(&person.insutype),
            payment_method: check_sign_request(req, self.default_credit_limit(&req.payment.bank_code))?.method,
            bank_code: s.bank_code.clone(),
            bank_agreement_id: bank_agreement_id.to_string(),
            status: AgreementStatus::Active,
            suspended_reason: None,
            created_at: self.now(),
        })
    }

    /// The stage a stored sign-up is in (its person unsealed).
    pub(crate) fn signup_stage(&self, s: &SignupRow) -> Result<SignupStage, AppError> {
        let person = match &s.person_enc {
            Some(sealed) => Some(
                serde_json::from_str::<Person>(&self.config.data_key.open(sealed)?)
                    .map_err(|e| AppError::internal(format!("sign-up {} keeps a person that cannot be read: {e}", s.id)))?,
            ),
            None => None,
        };
        let refusal = match (&s.refusal_code, &s.refusal_message) {
            (Some(code), message) => Some(Refusal { code: code.clone(), message: message.clone().unwrap_or_default() }),
            _ => None,
        };
        SignupStage::from_parts(&s.state, person, s.bank_agreement_id.clone(), refusal)
            .ok_or_else(|| AppError::internal(format!("sign-up {} is stored in no stage the machine knows", s.id)))
    }

    fn set_signup_stage(&self, s: &mut SignupRow, stage: &SignupStage) -> Result<(), AppError> {
        s.state = stage.state().to_string();
        s.person_enc = match stage.person() {
            Some(person) => {
                let text = serde_json::to_string(person).map_err(|e| AppError::internal(format!("a person cannot be kept: {e}")))?;
                Some(self.config.data_key.seal(&text)?)
            }
            None => None,
        };
        s.bank_agreement_id = stage.bank_agreement_id().map(str::to_string);
        s.refusal_code = stage.refusal().map(|r| r.code.clone());
        s.refusal_message = stage.refusal().map(|r| r.message.clone());
        Ok(())
    }

    /// What a finished sign-up answers: its agreement, or the refusal it ended in.
    async fn signup_answer(&self, s: &SignupRow) -> Result<AgreementView, AppError> {
        match self.signup_stage(s)? {
            SignupStage::Active { .. } => {
                let row =
                    self.store.agreement(&s.id).await?.ok_or_else(|| AppError::internal("an active sign-up without its agreement"))?;
                self.agreement_view(&row).await
            }
            SignupStage::Refused(refusal) | SignupStage::Failed(refusal) => Err(refusal_error(refusal)),
            other => Err(AppError::internal(format!("sign-up {} answered in state {}", s.id, other.state()))),
        }
    }

    pub async fn agreement(&self, id: &str) -> Result<AgreementView, AppError> {
        let row =
            self.store.agreement(id).await?.ok_or_else(|| AppError::not_found("agreement_not_found", format!("no agreement {id}")))?;
        self.agreement_view(&row).await
    }

    pub async fn revoke_agreement(&self, id: &str) -> Result<AgreementView, AppError> {
        let row =
            self.store.agreement(id).await?.ok_or_else(|| AppError::not_found("agreement_not_found", format!("no agreement {id}")))?;
        if row.status != AgreementStatus::Active {
            return Err(AppError::conflict("agreement_not_active", "the agreement is already revoked"));
        }
        self.refuse_while_a_stay_holds(id, None).await?;
        // On every door, the patient's own and the operator's (review r26 patient F1: a line
        // revoked with debt went overdue, and its holder signed up again at once).
        if let Some(owed) = self.owed_on(&row).await? {
            return Err(owed);
        }
        self.bank(&row.bank_code)?.close_agreement(&format!("{id}:close"), &row.bank_agreement_id).await?;
        self.store.revoke_agreement(id).await?;
        let row = self.store.agreement(id).await?.ok_or_else(|| AppError::internal("agreement vanished"))?;
        self.agreement_view(&row).await
    }

    /// What an agreement still owes, as the refusal of its revocation (or of its holder's new
    /// sign-up): a credit line's debt or hold at the bank, or a bill the line or card did not
    /// cover (its collection needs the agreement). `None`: nothing is owed.
    async fn owed_on(&self, row: &AgreementRow) -> Result<Option<AppError>, AppError> {
        let view = self.agreement_view(row).await?;
        if view.payment.method == "credit_line" {
            match (view.payment.used_fen, view.payment.held_fen) {
                (Some(used), held) if used + held.unwrap_or(0) > 0 => {
                    let owed = Fen(used + held.unwrap_or(0)).to_yuan_string();
                    let words = format!("the credit line carries ¥{owed} of debt or holds: repay it first");
                    return Ok(Some(AppError::conflict("credit_debt_outstanding", words)));
                }
                (Some(_), _) => {}
                (None, _) => {
                    let words = "the bank did not say whether the line carries debt; try again";
                    return Ok(Some(AppError::unavailable("bank_unavailable", words)));
                }
            }
        }
        let mut bills = self.store.unpaid_bills_of_agreement(&row.id).await?;
        for (stay, collection, _) in self.store.settled_stays_of_agreement(&row.id, 100).await? {
            let owed = super::inpatient::stay_stage(&stay)?.owed();
            if owed.is_positive() && collection.as_deref() != Some("collected") {
                bills.push(owed.0);
            }
        }
        let owed: i64 = bills.iter().sum();
        if owed > 0 {
            let words = format!("{} unpaid bill(s) of ¥{} on this agreement: pay them first", bills.len(), Fen(owed).to_yuan_string());
            return Ok(Some(AppError::conflict("bills_outstanding", words)));
        }
        Ok(None)
    }

    /// A person's earlier agreements that still owe (revoked with debt or a bill): their new
    /// sign-up is refused until it is repaid, as an overdue line suspends their visits.
    pub(super) async fn owed_by_person(&self, psn_no: &str, signing: &str) -> Result<Option<AppError>, AppError> {
        for id in self.store.agreement_ids_of_person(psn_no, 20).await? {
            let Some(row) = self.store.agreement(&id).await?.filter(|a| a.id != signing && a.status != AgreementStatus::Active) else {
                continue;
            };
            match self.owed_on(&row).await? {
                // Only what the bank says is owed stops a sign-up: a bank that cannot say (down, or
                // no longer the hub's) must not shut the person out for good.
                Some(unknown) if unknown.is_retryable() => {
                    tracing::warn!(agreement = %row.id, error = %unknown, "an earlier line's debt is unknown; the sign-up goes on");
                }
                Some(owed) => return Ok(Some(owed)),
                None => {}
            }
        }
        Ok(None)
    }

    /// A stay in the ward holds its deposit on the line and settles on it at the bedside: the
    /// line (or a family member's use of it) is not revoked under it. A visit's click checks the
    /// agreement itself; a stay, admitted on it, goes on with it until it is over.
    async fn refuse_while_a_stay_holds(&self, agreement_id: &str, member_psn_no: Option<&str>) -> Result<(), AppError> {
        if let Some(stay) = self.store.open_stays_on_agreement(agreement_id, member_psn_no).await?.first() {
            return Err(AppError::conflict(
                "stay_open",
                format!(
                    "stay {} at hospital {} is {} on this line: revoke once it is settled or its admission cancelled",
                    stay.ipt_no, stay.hospital_code, stay.state
                ),
            ));
        }
        Ok(())
    }

    /// 1101 on the hub's own behalf: who the certificate names, as the insurance center knows them.
    pub(crate) async fn identify(&self, cert_type: &str, cert_no: &str) -> Result<crate::insurance_client::PersonInfo, AppError> {
        let msgid = self.msgid(&hub_institution().fixmedins_code).await?;
        let inst = self.signed_hub_institution().await?;
        self.insurance.person_info(&msgid, &inst, cert_type, cert_no.trim()).await.map_err(person_error)
    }

    async fn agreement_view(&self, a: &AgreementRow) -> Result<AgreementView, AppError> {
        let key = &self.config.data_key;
        let mut payment = PaymentView {
            method: a.payment_method.as_str(),
            bank_code: a.bank_code.clone(),
            bank_agreement_id: a.bank_agreement_id.clone(),
            limit_fen: None,
            used_fen: None,
            held_fen: None,
            available_fen: None,
            balance_fen: None,
        };
        // The bank is the source of truth for the line; show it when it answers.
        if let Ok(bank) = self.bank(&a.bank_code) {
            if let Ok(live) = bank.agreement(&a.bank_agreement_id).await {
                payment.limit_fen = live.limit_fen.map(|f| f.0);
                payment.used_fen = Some(live.used_fen.0);
                payment.held_fen = Some(live.held_fen.0);
                payment.available_fen = Some(live.available_fen.0);
                payment.balance_fen = live.balance_fen.map(|f| f.0);
            }
        }
        let mut family = Vec::new();
        for l in self.store.family_links(&a.id).await? {
            family.push(FamilyMemberView {
                id: l.id.clone(),
                psn_no: l.member_psn_no.clone(),
                name: mask_name(&key.open(&l.member_name_enc)?),
                relation: l.relation.as_str(),
                consent: l.consent_method.clone(),
                status: l.status.as_str(),
                created_at: l.created_at.clone(),
            });
        }
        Ok(AgreementView {
            id: a.id.clone(),
            status: a.status.as_str(),
            psn_no: a.psn_no.clone(),
            insutype: a.insutype.clone(),
            insuplc_admdvs: a.insuplc_admdvs.clone(),
            name: mask_name(&key.open(&a.name_enc)?),
            certno: mask(&key.open(&a.certno_enc)?),
            use_personal_account: a.use_personal_account,
            payment,
            created_at: a.created_at.clone(),
            seamless: AgreementSeamlessView {
                enabled: a.status == AgreementStatus::Active && a.suspended_reason.is_none(),
                suspended_reason: a.suspended_reason.clone(),
                message: a.suspended_reason.as_deref().and_then(Suspension::parse).map(Suspension::message),
            },
            family,
        })
    }

    /// 亲情付: the signer's agreement also pays for a spouse, parent or child, with their consent
    /// (their own face verification) or, for a minor, the signer's guardianship proof.
    pub async fn add_family_member(&self, agreement_id: &str, req: FamilyRequest) -> Result<AgreementView, AppError> {
        let (member, relation) = self.family_candidate(agreement_id, &req).await?;
        let minor = member.age.map(|a| a < 18).unwrap_or(false);
        match (req.consent.method.as_str(), minor) {
            ("face", _) => {}
            ("guardian", true) if relation == Relation::Child => {}
            ("guardian", _) => {
                return Err(AppError::invalid("consent_required", "an adult family member must consent by their own face verification"))
            }
            _ => return Err(AppError::invalid("bad_consent", "consent.method must be face or guardian")),
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
            created_at: self.now(),
            // The card the member's QR registers them by; a platform that named none (1101's
            // certno is optional) leaves the QR unoffered (`family_qr_unavailable`).
            member_certno_enc: match member.certno.trim() {
                "" => None,
                certno => Some(self.config.data_key.seal(certno)?),
            },
        };
        match self.store.insert_family_link(&link, MAX_FAMILY_MEMBERS).await {
            Ok(()) => {}
            Err(crate::store::StoreError::Conflict(m)) => return Err(AppError::conflict("family_link_refused", m)),
            Err(e) => return Err(e.into()),
        }
        self.agreement(agreement_id).await
    }

    /// A relative the agreement may pay for, checked: the agreement active, the certificate and
    /// relation well formed, the person identified (1101), neither the signer nor signed themselves.
    pub(super) async fn family_candidate(
        &self,
        agreement_id: &str,
        req: &FamilyRequest,
    ) -> Result<(crate::insurance_client::PersonInfo, Relation), AppError> {
        let agreement = self
            .store
            .agreement(agreement_id)
            .await?
            .ok_or_else(|| AppError::not_found("agreement_not_found", format!("no agreement {agreement_id}")))?;
        if agreement.status != AgreementStatus::Active {
            return Err(AppError::conflict("agreement_not_active", "the agreement is revoked"));
        }
        check_cert_type(&req.mdtrt_cert_type)?;
        check_text("mdtrt_cert_no", &req.mdtrt_cert_no, 64)?;
        check_text("consent.reference", &req.consent.reference, 128)?;
        let relation =
            Relation::parse(&req.relation).ok_or_else(|| AppError::invalid("bad_relation", "relation must be spouse, parent or child"))?;
        let member = self.identify(&req.mdtrt_cert_type, &req.mdtrt_cert_no).await?;
        if member.psn_no == agreement.psn_no {
            return Err(AppError::invalid("self_link", "the signer is already covered by their own agreement"));
        }
        if self.store.active_agreement_for(&member.psn_no).await?.is_some() {
            return Err(AppError::conflict("already_signed", "this family member has an agreement of their own"));
        }
        Ok((member, relation))
    }

    pub async fn revoke_family_member(&self, agreement_id: &str, link_id: &str) -> Result<AgreementView, AppError> {
        let links = self.store.family_links(agreement_id).await?;
        if let Some(link) = links.iter().find(|l| l.id == link_id && l.status == AgreementStatus::Active) {
            self.refuse_while_a_stay_holds(agreement_id, Some(&link.member_psn_no)).await?;
        }
        if !self.store.revoke_family_link(agreement_id, link_id).await? {
            return Err(AppError::not_found(
                "family_link_not_found",
                format!("no active family link {link_id} on agreement {agreement_id}"),
            ));
        }
        self.agreement(agreement_id).await
    }
}

/// Checks a sign-up request as the HIS sent it (no I/O): certificate, payment method, card, limit.
fn check_sign_request(req: &SignRequest, default_limit: Fen) -> Result<LineTerms, AppError> {
    check_cert_type(&req.mdtrt_cert_type)?;
    check_text("mdtrt_cert_no", &req.mdtrt_cert_no, 64)?;
    let method = PaymentMethod::parse(&req.payment.method)
        .ok_or_else(|| AppError::invalid("bad_payment_method", "payment.method must be credit_line or debit_card"))?;
    let card_no = match (method, req.payment.card_no.as_deref()) {
        (PaymentMethod::DebitCard, Some(card)) if (12..=19).contains(&card.len()) && card.bytes().all(|b| b.is_ascii_digit()) => {
            Some(card.to_string())
        }
        (PaymentMethod::DebitCard, _) => {
            return Err(AppError::invalid("bad_card_no", "payment.card_no must be 12 to 19 digits for a debit card"))
        }
        (PaymentMethod::CreditLine, None) => None,
        (PaymentMethod::CreditLine, Some(_)) => {
            return Err(AppError::invalid("bad_card_no", "payment.card_no is for a debit card, not a credit line"))
        }
    };
    let limit = match req.payment.credit_limit_fen {
        Some(_) if method == PaymentMethod::DebitCard => {
            return Err(AppError::invalid("bad_credit_limit", "payment.credit_limit_fen is for a credit line, not a debit card"));
        }
        Some(l) if !(Fen::yuan(5_000).0..=Fen::yuan(1_000_000).0).contains(&l) => {
            return Err(AppError::invalid(
                "bad_credit_limit",
                "payment.credit_limit_fen must be between 500000 (5,000 yuan) and 100000000",
            ));
        }
        Some(l) => Fen(l),
        None => default_limit,
    };
    Ok(LineTerms { method, card_no, limit })
}

/// A sign-up's refusal as the HIS is told it (the codes openapi.json lists for sign-up).
fn refusal_error(refusal: Refusal) -> AppError {
    let Refusal { code, message } = refusal;
    match code.as_str() {
        "already_signed" => AppError::conflict("already_signed", message),
        "sign_up_expired" => AppError::conflict("sign_up_expired", message),
        "credit_debt_outstanding" => AppError::conflict("credit_debt_outstanding", message),
        "bills_outstanding" => AppError::conflict("bills_outstanding", message),
        "person_not_found" => AppError::invalid("person_not_found", message),
        "not_insured" => AppError::invalid("not_insured", message),
        _ => AppError::invalid("bank_refused", message),
    }
}

/// Whether an insurance type comes with a personal account (个人账户): only the employees' basic
/// medical insurance (310) has one; residents' insurance (390) and the rest do not
/// (docs/policy-rules.md). A resident whose family's employee account pays for them (家庭共济) is not
/// told apart by 1101, so the hub does not ask the insurance center to use an account for them.
fn has_personal_account(insutype: &str) -> bool {
    insutype == "310"
}

/// A sign-up's (and its agreement's) id: one per caller and Idempotency-Key.
fn signup_id(caller_scope: &str, idem_key: &str) -> String {
    format!("agr_{}", short_hash(&format!("{caller_scope}\n{idem_key}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_employees_insurance_has_a_personal_account() {
        for (insutype, has) in [("310", true), ("390", false), ("320", false), ("510", false), ("", false)] {
            assert_eq!(super::has_personal_account(insutype), has, "{insutype}");
        }
    }
}
