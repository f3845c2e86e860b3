use super::*;

impl Store {
    // ---- agreements -------------------------------------------------------------------------

    pub async fn insert_agreement(&self, a: &AgreementRow) -> StoreResult<()> {
        let a = a.clone();
        self.write(move |c| Box::pin(async move {
        let result = query(
            "INSERT INTO agreements (id, psn_no, insutype, insuplc_admdvs, name_enc, certno_enc, certno_index, use_personal_account, \
             payment_method, bank_code, bank_agreement_id, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&a.id)
        .bind(&a.psn_no)
        .bind(&a.insutype)
        .bind(&a.insuplc_admdvs)
        .bind(&a.name_enc)
        .bind(&a.certno_enc)
        .bind(&a.certno_index)
        .bind(a.use_personal_account as i64)
        .bind(a.payment_method.as_str())
        .bind(&a.bank_code)
        .bind(&a.bank_agreement_id)
        .bind(a.status.as_str())
        .bind(&a.created_at)
        .execute(&mut *c)
        .await;
        match result {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("this person already has an active agreement".into())),
            other => other.map(|_| ()).map_err(StoreError::from),
        }
        })).await
    }

    /// One encrypted value from the store, if any, to check at start-up that the key opens it.
    pub async fn some_sealed_value(&self) -> StoreResult<Option<String>> {
        let row = query("SELECT name_enc FROM agreements LIMIT 1").fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.get("name_enc")))
    }

    /// Whether any invoice was issued: a hub that holds some must find the keys that signed them.
    pub async fn any_invoice(&self) -> StoreResult<bool> {
        Ok(query("SELECT 1 AS one FROM invoices LIMIT 1").fetch_optional(&self.pool).await?.is_some())
    }

    pub async fn agreement(&self, id: &str) -> StoreResult<Option<AgreementRow>> {
        let row = query("SELECT * FROM agreements WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| agreement_from_row(&r)).transpose()
    }

    pub async fn active_agreement_for(&self, psn_no: &str) -> StoreResult<Option<AgreementRow>> {
        let row = query("SELECT * FROM agreements WHERE psn_no = $1 AND status = 'active'").bind(psn_no).fetch_optional(&self.pool).await?;
        row.map(|r| agreement_from_row(&r)).transpose()
    }

    /// The agreement that pays for this person's visits: their own, or the one a family member
    /// signed and linked them to (亲情付).
    pub async fn paying_agreement_for(&self, psn_no: &str) -> StoreResult<Option<(AgreementRow, Option<String>)>> {
        if let Some(own) = self.active_agreement_for(psn_no).await? {
            return Ok(Some((own, None)));
        }
        let link = query("SELECT id, agreement_id FROM family_links WHERE member_psn_no = $1 AND status = 'active'")
            .bind(psn_no)
            .fetch_optional(&self.pool)
            .await?;
        let Some(link) = link else { return Ok(None) };
        let agreement_id: String = link.get("agreement_id");
        Ok(self.agreement(&agreement_id).await?.filter(|a| a.status == AgreementStatus::Active).map(|a| (a, Some(link.get("id")))))
    }

    pub async fn insert_family_link(&self, l: &FamilyLinkRow, max_links: i64) -> StoreResult<()> {
        let l = l.clone();
        self.write(move |c| Box::pin(async move {
        let count: i64 = query("SELECT COUNT(*) AS n FROM family_links WHERE agreement_id = $1 AND status = 'active'")
            .bind(&l.agreement_id)
            .fetch_one(&mut *c)
            .await?
            .get("n");
        if count >= max_links {
            return Err(StoreError::Conflict(format!("an agreement may pay for at most {max_links} family members")));
        }
        if l.relation == Relation::Spouse {
            let spouse = query("SELECT 1 AS one FROM family_links WHERE agreement_id = $1 AND status = 'active' AND relation = 'spouse'")
                .bind(&l.agreement_id)
                .fetch_optional(&mut *c)
                .await?;
            if spouse.is_some() {
                return Err(StoreError::Conflict("the agreement pays for a spouse already: revoke that link first".into()));
            }
        }
        let result = query(
            "INSERT INTO family_links (id, agreement_id, member_psn_no, member_name_enc, relation, consent_method, consent_reference, status, created_at, \
             member_certno_enc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&l.id)
        .bind(&l.agreement_id)
        .bind(&l.member_psn_no)
        .bind(&l.member_name_enc)
        .bind(l.relation.as_str())
        .bind(&l.consent_method)
        .bind(&l.consent_reference)
        .bind(l.status.as_str())
        .bind(&l.created_at)
        .bind(&l.member_certno_enc)
        .execute(&mut *c)
        .await;
        match result {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict("this person is already linked to an agreement".into())),
            other => {
                other?;
            }
        }
        Ok(())
        })).await
    }

    /// An active family link's agreement and its member's sealed card (none on links made before
    /// migration 0046): what a family member's QR resolves to.
    pub async fn family_link_card(&self, link_id: &str) -> StoreResult<Option<(String, Option<String>)>> {
        let row = query("SELECT agreement_id, member_certno_enc FROM family_links WHERE id = $1 AND status = 'active'")
            .bind(link_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get("agreement_id"), r.get("member_certno_enc"))))
    }

    pub async fn family_links(&self, agreement_id: &str) -> StoreResult<Vec<FamilyLinkRow>> {
        let rows = query("SELECT * FROM family_links WHERE agreement_id = $1 ORDER BY created_at")
            .bind(agreement_id)
            .fetch_few(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let relation: String = r.get("relation");
                let status: String = r.get("status");
                Ok(FamilyLinkRow {
                    id: r.get("id"),
                    agreement_id: r.get("agreement_id"),
                    member_psn_no: r.get("member_psn_no"),
                    member_name_enc: r.get("member_name_enc"),
                    relation: Relation::parse(&relation).ok_or_else(|| StoreError::Corrupt(format!("relation {relation}")))?,
                    consent_method: r.get("consent_method"),
                    consent_reference: r.get("consent_reference"),
                    status: AgreementStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("link status {status}")))?,
                    created_at: r.get("created_at"),
                    member_certno_enc: r.get("member_certno_enc"),
                })
            })
            .collect()
    }

    /// Ends the family links that paid for `psn_no` (who has just signed an agreement of their
    /// own, which pays for them from now on); answers the agreements that linked them.
    pub async fn end_family_links_of_member(&self, psn_no: &str) -> StoreResult<Vec<String>> {
        let (psn_no, now) = (psn_no.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let rows = query("SELECT agreement_id FROM family_links WHERE member_psn_no = $1 AND status = 'active'")
                    .bind(&psn_no)
                    .fetch_all(&mut *c)
                    .await?;
                query("UPDATE family_links SET status = 'revoked', revoked_at = $1 WHERE member_psn_no = $2 AND status = 'active'")
                    .bind(&now)
                    .bind(&psn_no)
                    .execute(&mut *c)
                    .await?;
                Ok(rows.iter().map(|r| r.get("agreement_id")).collect())
            })
        })
        .await
    }

    pub async fn revoke_family_link(&self, agreement_id: &str, link_id: &str) -> StoreResult<bool> {
        let (agreement_id, link_id, now) = (agreement_id.to_string(), link_id.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let n = query(
                    "UPDATE family_links SET status = 'revoked', revoked_at = $1 WHERE id = $2 AND agreement_id = $3 AND status = 'active'",
                )
                .bind(&now)
                .bind(link_id)
                .bind(agreement_id)
                .execute(&mut *c)
                .await?
                .rows_affected();
                Ok(n == 1)
            })
        })
        .await
    }

    pub async fn revoke_agreement(&self, id: &str) -> StoreResult<bool> {
        let (id, now) = (id.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let n = query("UPDATE agreements SET status = 'revoked', revoked_at = $1 WHERE id = $2 AND status = 'active'")
                    .bind(&now)
                    .bind(&id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
                query("UPDATE family_links SET status = 'revoked', revoked_at = $1 WHERE agreement_id = $2 AND status = 'active'")
                    .bind(&now)
                    .bind(&id)
                    .execute(&mut *c)
                    .await?;
                Ok(n == 1)
            })
        })
        .await
    }

    /// Suspends (`Some(reason)`) or reinstates (`None`) seamless payment for a bank agreement.
    pub async fn set_suspension(
        &self,
        bank_code: &str,
        bank_agreement_id: &str,
        reason: Option<wugan_domain::seamless::Suspension>,
    ) -> StoreResult<u64> {
        let (bank_code, bank_agreement_id) = (bank_code.to_string(), bank_agreement_id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                Ok(query("UPDATE agreements SET suspended_reason = $1 WHERE bank_code = $2 AND bank_agreement_id = $3")
                    .bind(reason.map(|r| r.as_str().to_string()))
                    .bind(bank_code)
                    .bind(bank_agreement_id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected())
            })
        })
        .await
    }

    /// The repayment a request (agreement, Idempotency-Key) started, creating it if new.
    pub async fn account_repayment(&self, r: &AccountRepaymentRow) -> StoreResult<AccountRepaymentRow> {
        let row = r.clone();
        self.write(move |c| {
            let r = row;
            Box::pin(async move {
            query(
                "INSERT INTO account_repayments (id, agreement_id, idem_key, amount_fen, state, debit_msgid, cancel_msgid, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (agreement_id, idem_key) DO NOTHING",
            )
            .bind(&r.id)
            .bind(&r.agreement_id)
            .bind(&r.idem_key)
            .bind(r.amount.0)
            .bind(r.stage.state())
            .bind(&r.debit_msgid)
            .bind(&r.cancel_msgid)
            .bind(&r.created_at)
            .bind(&r.created_at)
            .execute(&mut *c)
            .await?;
            Ok(())
        })}).await?;
        let row = query("SELECT * FROM account_repayments WHERE agreement_id = $1 AND idem_key = $2")
            .bind(&r.agreement_id)
            .bind(&r.idem_key)
            .fetch_one(&self.pool)
            .await?;
        account_repayment_from_row(&row)
    }

    /// Repayments left between their two calls (a crash, a silent partner), idle since `before`.
    pub async fn unfinished_account_repayments(&self, before: &str) -> StoreResult<Vec<AccountRepaymentRow>> {
        let rows = query(
            "SELECT * FROM account_repayments WHERE state IN ('started', 'account_debited', 'returning') AND updated_at < $1 ORDER BY created_at LIMIT 1000",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(account_repayment_from_row).collect()
    }

    /// Moves a repayment to `state` (from `from`), posting its transfers in the same transaction.
    pub async fn advance_account_repayment(&self, r: &AccountRepaymentRow, from: &str, transfers: &[Transfer]) -> StoreResult<()> {
        let (r, from, transfers, now) = (r.clone(), from.to_string(), transfers.to_vec(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let n = query(
                    "UPDATE account_repayments SET state = $1, txn_id = $2, failure = $3, updated_at = $4 WHERE id = $5 AND state = $6",
                )
                .bind(r.stage.state())
                .bind(r.stage.txn_id().map(str::to_string))
                .bind(r.stage.failure().map(str::to_string))
                .bind(&now)
                .bind(&r.id)
                .bind(from)
                .execute(&mut *c)
                .await?
                .rows_affected();
                if n != 1 {
                    return Err(StoreError::StaleSettlement);
                }
                for t in transfers {
                    post_transfer(c, &t, &now).await?;
                }
                Ok(())
            })
        })
        .await
    }

    pub async fn bank_event_cursor(&self, bank_code: &str) -> StoreResult<i64> {
        let row = query("SELECT last_seq FROM bank_event_cursors WHERE bank_code = $1").bind(bank_code).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.get("last_seq")).unwrap_or(0))
    }

    pub async fn set_bank_event_cursor(&self, bank_code: &str, last_seq: i64) -> StoreResult<()> {
        let bank_code = bank_code.to_string();
        self.write(move |c| Box::pin(async move {
        query(
            "INSERT INTO bank_event_cursors (bank_code, last_seq) VALUES ($1, $2) ON CONFLICT (bank_code) DO UPDATE SET last_seq = excluded.last_seq",
        )
        .bind(bank_code)
        .bind(last_seq)
        .execute(&mut *c)
        .await?;
        Ok(())
        })).await
    }
}

fn agreement_from_row(r: &SqlRow) -> StoreResult<AgreementRow> {
    let method: String = r.get("payment_method");
    let status: String = r.get("status");
    Ok(AgreementRow {
        id: r.get("id"),
        psn_no: r.get("psn_no"),
        insutype: r.get("insutype"),
        insuplc_admdvs: r.get("insuplc_admdvs"),
        name_enc: r.get("name_enc"),
        certno_enc: r.get("certno_enc"),
        certno_index: r.get("certno_index"),
        use_personal_account: r.get::<i64, _>("use_personal_account") != 0,
        payment_method: PaymentMethod::parse(&method).ok_or_else(|| StoreError::Corrupt(format!("payment method {method}")))?,
        bank_code: r.get("bank_code"),
        bank_agreement_id: r.get("bank_agreement_id"),
        status: AgreementStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("agreement status {status}")))?,
        suspended_reason: r.get("suspended_reason"),
        created_at: r.get("created_at"),
    })
}

fn account_repayment_from_row(row: &SqlRow) -> StoreResult<AccountRepaymentRow> {
    let state: String = row.get("state");
    let stage = wugan_domain::repayment::RepaymentStage::from_parts(&state, row.get("txn_id"), row.get("failure"))
        .ok_or_else(|| StoreError::Corrupt(format!("repayment state {state} without its facts")))?;
    Ok(AccountRepaymentRow {
        id: row.get("id"),
        agreement_id: row.get("agreement_id"),
        idem_key: row.get("idem_key"),
        amount: Fen(row.get("amount_fen")),
        stage,
        debit_msgid: row.get("debit_msgid"),
        cancel_msgid: row.get("cancel_msgid"),
        created_at: row.get("created_at"),
    })
}
