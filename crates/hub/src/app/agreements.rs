use super::*;
use wugan_bank_protocol::wire;
use wugan_domain::seamless::Suspension;

impl App {
    /// 签约. The agreement's id comes from the caller and its Idempotency-Key, so a sign-up retried
    /// after a lost answer or a crash names the same agreement and sends the bank the same request
    /// id (`{id}:open`): the bank answers with the line it already opened, never a second one, and
    /// the retry gets the agreement it made instead of `already_signed`.
    pub async fn sign_agreement(&self, req: SignRequest, caller_scope: &str, idem_key: &str) -> Result<AgreementView, AppError> {
        let id = format!("agr_{}", short_hash(&format!("{caller_scope}\n{idem_key}")));
        if let Some(done) = self.store.agreement(&id).await? {
            return self.agreement_view(&done).await;
        }
        check_cert_type(&req.mdtrt_cert_type)?;
        check_text("mdtrt_cert_no", &req.mdtrt_cert_no, 64)?;
        let method = PaymentMethod::parse(&req.payment.method)
            .ok_or_else(|| AppError::invalid("bad_payment_method", "payment.method must be credit_line or debit_card"))?;
        let bank = self.bank(&req.payment.bank_code)?;
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
            None => self.config.default_credit_limit,
        };
        let person = self.identify(&req.mdtrt_cert_type, &req.mdtrt_cert_no).await?;
        let insurance = person
            .insurances
            .first()
            .ok_or_else(|| AppError::invalid("not_insured", "the insurance center has no insurance for this person"))?;
        if self.store.active_agreement_for(&person.psn_no).await?.is_some() {
            return Err(AppError::conflict("already_signed", "this person already has an active agreement; revoke it first"));
        }
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
        if opened.status == wire::AgreementStatus::Closed {
            // The line this key opened long ago was closed as an orphan (the sign-up was never
            // finished): this key cannot sign up again.
            return Err(AppError::conflict(
                "sign_up_expired",
                "this sign-up was abandoned and its bank line closed; sign up again with a new Idempotency-Key",
            ));
        }
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
            // Asked for, and there is an account to pay from: a resident has none.
            use_personal_account: req.use_personal_account && has_personal_account(&insurance.insutype),
            payment_method: method,
            bank_code: req.payment.bank_code.clone(),
            bank_agreement_id: bank_agreement_id.to_string(),
            status: AgreementStatus::Active,
            suspended_reason: None,
            created_at: self.now(),
        };
        if let Err(e) = self.store.insert_agreement(&row).await {
            // Lost a race with a concurrent signing: release the line we just opened.
            let _ = bank.close_agreement(&format!("{id}:close"), bank_agreement_id).await;
            return Err(match e {
                crate::store::StoreError::Conflict(_) => {
                    AppError::conflict("already_signed", "this person already has an active agreement")
                }
                other => other.into(),
            });
        }
        self.agreement_view(&row).await
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
        self.bank(&row.bank_code)?.close_agreement(&format!("{id}:close"), &row.bank_agreement_id).await?;
        self.store.revoke_agreement(id).await?;
        let row = self.store.agreement(id).await?.ok_or_else(|| AppError::internal("agreement vanished"))?;
        self.agreement_view(&row).await
    }

    /// 1101 on the hub's own behalf: who the certificate names, as the insurance center knows them.
    async fn identify(&self, cert_type: &str, cert_no: &str) -> Result<crate::insurance_client::PersonInfo, AppError> {
        let msgid = self.msgid(&hub_institution().fixmedins_code).await?;
        self.insurance.person_info(&msgid, &hub_institution(), cert_type, cert_no.trim()).await.map_err(person_error)
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
        };
        match self.store.insert_family_link(&link, MAX_FAMILY_MEMBERS).await {
            Ok(()) => {}
            Err(crate::store::StoreError::Conflict(m)) => return Err(AppError::conflict("family_link_refused", m)),
            Err(e) => return Err(e.into()),
        }
        self.agreement(agreement_id).await
    }

    pub async fn revoke_family_member(&self, agreement_id: &str, link_id: &str) -> Result<AgreementView, AppError> {
        if !self.store.revoke_family_link(agreement_id, link_id).await? {
            return Err(AppError::not_found(
                "family_link_not_found",
                format!("no active family link {link_id} on agreement {agreement_id}"),
            ));
        }
        self.agreement(agreement_id).await
    }
}

/// Whether an insurance type comes with a personal account (个人账户): only the employees' basic
/// medical insurance (310) has one; residents' insurance (390) and the rest do not
/// (docs/policy-rules.md). A resident whose family's employee account pays for them (家庭共济) is not
/// told apart by 1101, so the hub does not ask the insurance center to use an account for them.
fn has_personal_account(insutype: &str) -> bool {
    insutype == "310"
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
