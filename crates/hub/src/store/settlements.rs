use super::*;

/// The settlements left between steps, as SQL: the predicate of the partial index
/// `settlements_unfinished` (migration 0029), which the planners use only for a query that names
/// the same list. A test checks it against `SettlementState::is_final` and the migration.
pub(super) const UNFINISHED_SETTLEMENTS: &str = "('started', 'pre_settled', 'authorized', 'insurance_settled', 'cancelling')";

impl Store {
    /// Reserves the next block of 100 msgid sequence numbers for `prefix` (a hospital's code) in
    /// the second `stamp` (yyyyMMddHHmmss); `None` when the second's 100 blocks are used up.
    pub async fn reserve_msgid_block(&self, prefix: &str, stamp: &str) -> StoreResult<Option<i64>> {
        let (prefix, stamp) = (prefix.to_string(), stamp.to_string());
        let next: i64 = self
            .write(move |c| {
                Box::pin(async move {
                    let row = query(
                        "INSERT INTO msgid_blocks (prefix, stamp, next_block) VALUES ($1, $2, 1) \
                         ON CONFLICT (prefix, stamp) DO UPDATE SET next_block = msgid_blocks.next_block + 1 RETURNING next_block",
                    )
                    .bind(prefix)
                    .bind(stamp)
                    .fetch_one(&mut *c)
                    .await?;
                    Ok(row.get("next_block"))
                })
            })
            .await?;
        let block = next - 1;
        Ok((block < 100).then_some(block))
    }

    /// Forgets msgid blocks of seconds before `stamp`: no msgid of theirs can be issued again.
    pub async fn prune_msgid_blocks(&self, before_stamp: &str) -> StoreResult<u64> {
        let before_stamp = before_stamp.to_string();
        self.write(move |c| {
            Box::pin(async move {
                Ok(query("DELETE FROM msgid_blocks WHERE stamp < $1").bind(before_stamp).execute(&mut *c).await?.rows_affected())
            })
        })
        .await
    }

    // ---- settlements and the ledger ---------------------------------------------------------

    /// Creates the settlement of a visit; if the visit already has one, returns that instead.
    /// Creates a click's attempt if the visit has no live one, and only on the fee lines it read
    /// (`lines`: their number, every one uploaded; `StoreError::Refused` `upload_in_progress` when
    /// an upload began or finished since): checked in the same transaction as the insert, as a fee
    /// upload checks for a live attempt in its own, so one of the two is refused before anything
    /// is sent.
    pub async fn create_settlement(&self, s: &SettlementRow, lines: usize) -> StoreResult<(SettlementRow, bool)> {
        let row = s.clone();
        let created = self
            .write(move |c| {
                Box::pin(async move {
                    let seen = query(
                        "SELECT COUNT(*) AS lines, CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS total, \
                         CAST(COALESCE(SUM(CASE WHEN uploaded = 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS pending \
                         FROM fee_lines WHERE visit_id = $1 AND closed_by = ''",
                    )
                    .bind(&row.visit_id)
                    .fetch_one(&mut *c)
                    .await?;
                    let (count, total, pending): (i64, i64, i64) = (seen.get("lines"), seen.get("total"), seen.get("pending"));
                    // A registration cancel (退号, 2202) begun meanwhile: the center is cancelling the visit.
                    let cancelling = query("SELECT 1 AS begun FROM registration_cancels WHERE visit_id = $1")
                        .bind(&row.visit_id)
                        .fetch_optional(&mut *c)
                        .await?;
                    if cancelling.is_some() {
                        return Err(StoreError::Refused {
                            code: "visit_not_open",
                            message: "the visit's registration is being cancelled (退号): it can no longer be settled".into(),
                        });
                    }
                    // A withdrawal of its lines (2205) begun meanwhile: the center is taking them back.
                    super::fee_withdrawals::withdrawal_under_way(c, &row.visit_id).await?;
                    if pending > 0 || count != lines as i64 || total != row.medfee.0 {
                        return Err(StoreError::Refused {
                            code: "upload_in_progress",
                            message: "a fee upload came in meanwhile: click again once it has completed".into(),
                        });
                    }
                    insert_settlement(c, row).await
                })
            })
            .await?;
        if created {
            return Ok((s.clone(), true));
        }
        let existing = self.settlement_of_visit(&s.visit_id).await?.ok_or_else(|| StoreError::Corrupt("settlement vanished".into()))?;
        Ok((existing, false))
    }

    /// The visit's latest settlement attempt (a visit may be settled again after a cancelled or
    /// failed attempt; at most one attempt is live).
    pub async fn settlement_of_visit(&self, visit_id: &str) -> StoreResult<Option<SettlementRow>> {
        let row = query("SELECT * FROM settlements WHERE visit_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1")
            .bind(visit_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| settlement_from_row(&r)).transpose()
    }

    /// Settlements left between steps (for the recovery worker).
    /// Settlements left between steps and untouched since `before` (RFC 3339), for the recovery worker.
    pub async fn unfinished_settlements(&self, before: &str) -> StoreResult<Vec<SettlementRow>> {
        // The partial index `settlements_unfinished` serves it: it runs every few seconds, and
        // finished settlements are nearly all of the table.
        let rows = query(unfinished_scan()).bind(before).fetch_all(&self.pool).await?;
        rows.iter().map(settlement_from_row).collect()
    }

    /// Counts a failed resumption; after `max_attempts` the settlement is parked for an operator.
    pub async fn note_failed_attempt(&self, id: &str, reason: &str, max_attempts: i64) -> StoreResult<()> {
        let (id, reason, now) = (id.to_string(), reason.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "UPDATE settlements SET attempts = attempts + 1, updated_at = $1, \
                     parked_reason = CASE WHEN attempts + 1 >= $2 THEN $3 ELSE parked_reason END WHERE id = $4",
                )
                .bind(now)
                .bind(max_attempts)
                .bind(reason)
                .bind(id)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Takes a settlement out of the exceptions queue, for another try.
    pub async fn unpark(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let sql = "UPDATE settlements SET attempts = 0, parked_reason = NULL WHERE id = $1 AND parked_reason IS NOT NULL";
                Ok(query(sql).bind(id).execute(&mut *c).await?.rows_affected() == 1)
            })
        })
        .await
    }

    /// The exceptions queue: parked settlements, and those stopped on a partner's unusable answer.
    /// Settlements an operator should look at: parked, failed between steps, or unfinished and
    /// idle since `before` (a partner silent past the click: its outcome is still unknown) or
    /// already retried by the recovery worker (each retry refreshes `updated_at`: review r26 pages
    /// #5, it left the queue for half of every minute).
    pub async fn exceptions(&self, before: &str) -> StoreResult<Vec<SettlementRow>> {
        let unfinished: Vec<String> = SettlementState::ALL.iter().filter(|s| !s.is_final()).map(|s| format!("'{}'", s.as_str())).collect();
        let sql = format!(
            "SELECT * FROM settlements WHERE parked_reason IS NOT NULL OR (failure_code IS NOT NULL AND state NOT IN ('failed', 'cancelled')) \
             OR (state IN ({}) AND (updated_at < $1 OR attempts > 0)) ORDER BY created_at LIMIT 1000",
            unfinished.join(", ")
        );
        let rows = query(sql).bind(before).fetch_all(&self.pool).await?;
        rows.iter().map(settlement_from_row).collect()
    }

    /// Every settlement with its visit's insurance id and its bank agreement, for reconciliation.
    pub async fn settlements_for_audit(&self) -> StoreResult<Vec<(SettlementRow, String, String)>> {
        let rows = query(
            "SELECT s.*, v.mdtrt_id AS v_mdtrt_id, a.bank_agreement_id AS a_bank_agreement_id FROM settlements s \
             JOIN visits v ON v.id = s.visit_id JOIN agreements a ON a.id = s.agreement_id ORDER BY s.created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((settlement_from_row(r)?, r.get::<Option<String>, _>("v_mdtrt_id").unwrap_or_default(), r.get("a_bank_agreement_id")))
            })
            .collect()
    }

    /// Bank agreement ids of every agreement ever signed.
    pub async fn bank_agreements(&self) -> StoreResult<Vec<(String, String)>> {
        let rows = query("SELECT bank_code, bank_agreement_id FROM agreements ORDER BY created_at").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| (r.get("bank_code"), r.get("bank_agreement_id"))).collect())
    }

    pub async fn settlement(&self, id: &str) -> StoreResult<Option<SettlementRow>> {
        let row = query("SELECT * FROM settlements WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| settlement_from_row(&r)).transpose()
    }

    /// Saves a settlement's new state and posts its transfers, in one transaction: the state and the
    /// money it implies are never apart.
    ///
    /// `from` is the state the caller read: if the row has moved on since (another worker advanced
    /// it), nothing is written and `StaleSettlement` is returned, so no state ever goes backwards.
    /// `updated_at` is written as the caller stamped it (now), so that its copy is the stored row.
    pub async fn save_settlement(&self, s: &SettlementRow, from: SettlementState, transfers: &[Transfer]) -> StoreResult<()> {
        self.save_settlement_answered(s, from, transfers, None).await
    }

    /// `save_settlement`, storing a request's answer in the same write (the click or cancellation
    /// that this save finishes).
    pub async fn save_settlement_answered(
        &self,
        s: &SettlementRow,
        from: SettlementState,
        transfers: &[Transfer],
        answer: Option<StoredAnswer>,
    ) -> StoreResult<()> {
        self.save_settlement_invoiced(s, from, transfers, answer, None).await.map(|_| ())
    }

    /// `save_settlement_answered`, issuing in the same commit the blue invoice the save makes the
    /// settlement owe (`invoices::issue_within`: an invoice that fails undoes only itself).
    /// The invoice, when it was issued here.
    pub async fn save_settlement_invoiced(
        &self,
        s: &SettlementRow,
        from: SettlementState,
        transfers: &[Transfer],
        answer: Option<StoredAnswer>,
        invoice: Option<InvoiceWithin>,
    ) -> StoreResult<Option<InvoiceRow>> {
        let (row, transfers, now) = (s.clone(), transfers.to_vec(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                save_settlement(c, row, from, transfers, now).await?;
                if let Some(answer) = answer {
                    answer.write(c).await?;
                }
                match invoice {
                    Some(invoice) => invoices::issue_within(c, invoice).await,
                    None => Ok(None),
                }
            })
        })
        .await
    }
}

/// Inserts a settlement unless its visit has a live one; true when inserted.
pub(super) async fn insert_settlement(c: &mut Conn, s: SettlementRow) -> StoreResult<bool> {
    let n = query(
        "INSERT INTO settlements (id, visit_id, hospital_code, agreement_id, state, presettle_msgid, settle_msgid, medfee_fen, idem_key, created_at, \
         updated_at, cash_at_hospital) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (visit_id) WHERE state NOT IN ('failed', 'cancelled') DO NOTHING",
    )
    .bind(&s.id)
    .bind(&s.visit_id)
    .bind(&s.hospital_code)
    .bind(&s.agreement_id)
    .bind(s.state.as_str())
    .bind(&s.presettle_msgid)
    .bind(&s.settle_msgid)
    .bind(s.medfee.0)
    .bind(s.idem_key.clone())
    .bind(&s.created_at)
    .bind(&s.updated_at)
    .bind(s.cash_at_hospital as i64)
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A cancellation (结算撤销) may begin only on a click no refund touched: after a refund the
/// insurance settlement in force is the refund's. Checked in the cancellation's own write, as a
/// refund's insert checks that no cancellation began, so the two never both send a 2208.
async fn refuse_cancel_after_refund(c: &mut Conn, settlement_id: &str) -> StoreResult<()> {
    let refunds = query("SELECT open_visit_id FROM refunds WHERE settlement_id = $1").bind(settlement_id).fetch_all(&mut *c).await?;
    if refunds.iter().any(|r| r.get::<Option<String>, _>("open_visit_id").is_some_and(|v| !v.is_empty())) {
        return Err(StoreError::Refused {
            code: "refund_in_progress",
            message: "a refund of this visit is under way: wait for it, then refund the remaining lines instead of cancelling".into(),
        });
    }
    if !refunds.is_empty() {
        return Err(StoreError::Refused {
            code: "settlement_refunded",
            message: "this settlement was refunded (in part or in full): refund any remaining lines instead of cancelling it".into(),
        });
    }
    Ok(())
}

/// `Store::save_settlement`'s write: the state, the visit that follows it, the transfers.
pub(super) async fn save_settlement(
    c: &mut Conn,
    s: SettlementRow,
    from: SettlementState,
    transfers: Vec<Transfer>,
    now: String,
) -> StoreResult<()> {
    if s.state == SettlementState::Cancelling && matches!(from, SettlementState::Settled | SettlementState::SettledUnpaid) {
        refuse_cancel_after_refund(c, &s.id).await?;
    }
    let updated = query(
        "UPDATE settlements SET state = $1, cancel_msgid = $2, estimate_cash_fen = $3, setl_id = $4, fund_fen = $5, acct_fen = $6, \
         cash_fen = $7, hosp_part_fen = $8, auth_request_id = $9, auth_status = $10, held_fen = $11, decline_code = $12, \
         captured_fen = $13, unpaid_fen = $14, failure_code = $15, failure_message = $16, setlinfo_json = $17, updated_at = $18, \
         insurance_reversed = $19, cancel_idem_key = $20, presettle_echo = $21 WHERE id = $22 AND state = $23",
    )
    .bind(s.state.as_str())
    .bind(s.cancel_msgid.clone())
    .bind(s.estimate_cash.map(|f| f.0))
    .bind(s.setl_id.clone())
    .bind(s.split.map(|x| x.fund.0))
    .bind(s.split.map(|x| x.personal_account.0))
    .bind(s.split.map(|x| x.cash.0))
    .bind(s.split.map(|x| x.hospital_part.0))
    .bind(s.auth_request_id.clone())
    .bind(s.auth_status.clone())
    .bind(s.held.0)
    .bind(s.decline_code.clone())
    .bind(s.captured.0)
    .bind(s.unpaid.0)
    .bind(s.failure_code.clone())
    .bind(s.failure_message.clone())
    .bind(s.setlinfo_json.clone())
    .bind(&s.updated_at)
    .bind(s.insurance_reversed as i64)
    .bind(s.cancel_idem_key.clone())
    .bind(s.presettle_echo.clone())
    .bind(&s.id)
    .bind(from.as_str())
    .execute(&mut *c)
    .await?
    .rows_affected();
    if updated != 1 {
        return Err(StoreError::StaleSettlement);
    }
    // The visit follows its settlement in the same commit, so a crash cannot leave a settled
    // visit looking open (nothing would ever come back to fix it: the settlement is final).
    // A cancelled or failed attempt leaves the visit open: the hospital may correct the fees
    // and settle again, as a new attempt.
    let visit_status = match s.state {
        SettlementState::Settled | SettlementState::SettledUnpaid => Some(VisitStatus::Settled),
        SettlementState::Cancelled | SettlementState::Failed => Some(VisitStatus::Registered),
        _ => None,
    };
    if s.state == SettlementState::Cancelled {
        // 2208 closed the attempt's fee lines at the insurance center: close them here too.
        query("UPDATE fee_lines SET closed_by = $1 WHERE visit_id = $2 AND closed_by = ''")
            .bind(&s.id)
            .bind(&s.visit_id)
            .execute(&mut *c)
            .await?;
    }
    if let Some(status) = visit_status {
        // A visit whose registration was cancelled stays cancelled whatever an attempt ends in.
        query("UPDATE visits SET status = $1 WHERE id = $2 AND status <> 'cancelled'")
            .bind(status.as_str())
            .bind(&s.visit_id)
            .execute(&mut *c)
            .await?;
    }
    for t in &transfers {
        post_transfer(c, t, &now).await?;
    }
    Ok(())
}

pub(super) fn settlement_from_row(r: &SqlRow) -> StoreResult<SettlementRow> {
    let state: String = r.get("state");
    let split = match (
        r.get::<Option<i64>, _>("fund_fen"),
        r.get::<Option<i64>, _>("acct_fen"),
        r.get::<Option<i64>, _>("cash_fen"),
        r.get::<Option<i64>, _>("hosp_part_fen"),
    ) {
        (Some(fund), Some(acct), Some(cash), Some(hosp)) => Some(wugan_domain::settlement::InsuranceSplit {
            medfee: Fen(r.get("medfee_fen")),
            fund: Fen(fund),
            personal_account: Fen(acct),
            cash: Fen(cash),
            hospital_part: Fen(hosp),
        }),
        _ => None,
    };
    Ok(SettlementRow {
        id: r.get("id"),
        visit_id: r.get("visit_id"),
        hospital_code: r.get("hospital_code"),
        agreement_id: r.get("agreement_id"),
        state: SettlementState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("settlement state {state}")))?,
        presettle_msgid: r.get("presettle_msgid"),
        settle_msgid: r.get("settle_msgid"),
        cancel_msgid: r.get("cancel_msgid"),
        medfee: Fen(r.get("medfee_fen")),
        estimate_cash: r.get::<Option<i64>, _>("estimate_cash_fen").map(Fen),
        setl_id: r.get("setl_id"),
        split,
        auth_request_id: r.get("auth_request_id"),
        auth_status: r.get("auth_status"),
        held: Fen(r.get("held_fen")),
        decline_code: r.get("decline_code"),
        captured: Fen(r.get("captured_fen")),
        unpaid: Fen(r.get("unpaid_fen")),
        failure_code: r.get("failure_code"),
        failure_message: r.get("failure_message"),
        setlinfo_json: r.get("setlinfo_json"),
        attempts: r.get("attempts"),
        parked_reason: r.get("parked_reason"),
        idem_key: r.get("idem_key"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        insurance_reversed: r.get::<i64, _>("insurance_reversed") != 0,
        cancel_idem_key: r.get("cancel_idem_key"),
        cash_at_hospital: r.get::<i64, _>("cash_at_hospital") != 0,
        presettle_echo: r.get("presettle_echo"),
    })
}

/// The recovery worker's scan: settlements left between steps and untouched since `$1`.
fn unfinished_scan() -> String {
    format!(
        "SELECT * FROM settlements WHERE state IN {UNFINISHED_SETTLEMENTS} AND parked_reason IS NULL AND updated_at < $1 \
         ORDER BY created_at LIMIT 1000"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unfinished_list_is_every_state_not_final_and_the_partial_index_names_it() {
        let unfinished: Vec<String> = SettlementState::ALL.iter().filter(|s| !s.is_final()).map(|s| format!("'{}'", s.as_str())).collect();
        assert_eq!(UNFINISHED_SETTLEMENTS, format!("({})", unfinished.join(", ")));
        let migration = include_str!("../../migrations/0029_settlement_indexes_slim.sql");
        assert!(migration.contains(&format!("WHERE state IN {UNFINISHED_SETTLEMENTS};")), "the index and the queries must name one list");
    }

    async fn plan(store: &Store, sql: String) -> String {
        let rows = query(format!("EXPLAIN QUERY PLAN {sql}")).bind("2026-01-01").bind(10).fetch_all(&store.pool).await.expect("a plan");
        rows.iter().map(|r| r.get::<String, _>("detail")).collect::<Vec<_>>().join("; ")
    }

    fn line(sn: &str, fen: i64, uploaded: bool) -> FeeLineRow {
        let (chrg_bchno, upload_msgid, detail_json) = ("1".into(), format!("batch-{sn}"), "{}".into());
        FeeLineRow { feedetl_sn: sn.into(), chrg_bchno, amount: Fen(fen), upload_msgid, uploaded, detail_json, result_json: None }
    }

    fn click(id: &str, medfee: i64) -> SettlementRow {
        SettlementRow {
            id: id.into(),
            visit_id: "V1".into(),
            hospital_code: "H1".into(),
            agreement_id: "agr-1".into(),
            state: SettlementState::Started,
            presettle_msgid: format!("{id}-2206"),
            settle_msgid: format!("{id}-2207"),
            cancel_msgid: None,
            medfee: Fen(medfee),
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
            idem_key: None,
            created_at: "2026-12-02T08:00:00Z".into(),
            updated_at: "2026-12-02T08:00:00Z".into(),
            insurance_reversed: false,
            cancel_idem_key: None,
            cash_at_hospital: false,
            presettle_echo: None,
        }
    }

    /// A fee upload and the doctor's click on one visit meet: each read the visit before the
    /// other wrote, and each checks again in its own write, so the click never settles lines the
    /// center holds more of, and no line reaches the center behind a click's back.
    #[tokio::test]
    async fn a_fee_upload_and_a_click_on_one_visit_never_pass_each_other() {
        let (store, dir) = Store::in_fresh_folder("upload-meets-click").await;
        let refused = |e: StoreError| match e {
            StoreError::Refused { code, .. } => code,
            other => panic!("{other}"),
        };
        store.insert_fee_lines("V1", &[line("1", 10_000, true)]).await.expect("line 1 uploaded");
        // The click read line 1; an upload of line 2 wrote it (its 2204 under way) before the click's write.
        store.insert_fee_lines("V1", &[line("2", 20_000, false)]).await.expect("line 2 on its way");
        assert_eq!(refused(store.create_settlement(&click("S1", 10_000), 1).await.unwrap_err()), "upload_in_progress");
        // Its 2204 answered: the click on line 1 alone is still refused; on both it goes.
        store.mark_fee_lines_uploaded("V1", &[("2".into(), "{}".into())], None).await.expect("accepted");
        assert_eq!(refused(store.create_settlement(&click("S1", 10_000), 1).await.unwrap_err()), "upload_in_progress");
        let (row, created) = store.create_settlement(&click("S2", 30_000), 2).await.expect("the click");
        assert!(created && row.id == "S2");
        // An upload that read the visit before that click: refused in its write, nothing kept.
        assert_eq!(refused(store.insert_fee_lines("V1", &[line("3", 5_000, false)]).await.unwrap_err()), "visit_not_open");
        let kept: Vec<String> = store.fee_lines("V1").await.expect("lines").into_iter().map(|l| l.feedetl_sn).collect();
        assert_eq!(kept, ["1", "2"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn refused(e: StoreError) -> &'static str {
        match e {
            StoreError::Refused { code, .. } => code,
            other => panic!("{other}"),
        }
    }

    /// 退号 and the doctor's click on one visit meet: each checks the other in its own write, so
    /// the center is never asked to cancel a registration a click is settling, and a click never
    /// starts on a registration the center is cancelling.
    #[tokio::test]
    async fn a_registration_cancel_and_a_click_on_one_visit_never_pass_each_other() {
        let (store, dir) = Store::in_fresh_folder("cancel-meets-click").await;
        store.insert_fee_lines("V1", &[line("1", 10_000, true)]).await.expect("line 1 uploaded");
        // The cancel wrote first: the click is refused, its 2206 never sent.
        store.begin_registration_cancel("V1", "m-2202", "k-cancel").await.expect("the cancel begins");
        assert_eq!(refused(store.create_settlement(&click("S1", 10_000), 1).await.unwrap_err()), "visit_not_open");
        // The center refused the cancel: the visit is open again, and the click goes.
        store.drop_registration_cancel("V1").await.expect("dropped");
        let (_, created) = store.create_settlement(&click("S2", 10_000), 1).await.expect("the click");
        assert!(created);
        // A cancel that read the visit before that click is refused in its write while the click runs.
        assert_eq!(refused(store.begin_registration_cancel("V1", "m-2202b", "k-cancel-2").await.unwrap_err()), "settlement_in_progress");
        let _ = std::fs::remove_dir_all(dir);
    }

    fn refund_of(settlement: &str) -> RefundRow {
        let text = |s: &str| s.to_string();
        RefundRow {
            id: text("rfd_1"),
            visit_id: text("V1"),
            settlement_id: text(settlement),
            hospital_code: text("H1"),
            lines: vec![text("1")],
            remaining: vec![text("2")],
            state: text("reversing"),
            stage_json: text("{}"),
            reverse_msgid: text("r-2208"),
            reupload_msgid: text("r-2204"),
            resettle_msgid: text("r-2207"),
            presettle_msgid: Some(text("r-2206")),
            resettle_echo: None,
            idem_key: text("k-refund"),
            attempts: 0,
            parked_reason: None,
            created_at: text("2026-12-02T09:00:00Z"),
            updated_at: text("2026-12-02T09:00:00Z"),
        }
    }

    /// A refund (退费) and a cancellation (结算撤销) of one click meet: whichever writes second is
    /// refused in its own write, so the center never gets two 2208s for one settlement.
    #[tokio::test]
    async fn a_refund_and_a_cancellation_of_one_click_never_pass_each_other() {
        let (store, dir) = Store::in_fresh_folder("refund-meets-cancel").await;
        store.insert_fee_lines("V1", &[line("1", 10_000, true), line("2", 20_000, true)]).await.expect("lines");
        let (mut s, _) = store.create_settlement(&click("S1", 30_000), 2).await.expect("the click");
        s.state = SettlementState::Settled;
        store.save_settlement(&s, SettlementState::Started, &[]).await.expect("settled");
        let mut cancelling = s.clone();
        cancelling.state = SettlementState::Cancelling;
        // The refund wrote first: the cancellation is refused while it runs.
        assert!(store.insert_refund(&refund_of("S1")).await.expect("the refund begins"));
        let refusal = store.save_settlement(&cancelling, SettlementState::Settled, &[]).await.unwrap_err();
        assert_eq!(refused(refusal), "refund_in_progress");
        assert_eq!(store.settlement("S1").await.expect("read").map(|s| s.state), Some(SettlementState::Settled));
        // Another visit, whose cancellation wrote first: the refund is not begun.
        store.insert_fee_lines("V2", &[line("1", 10_000, true), line("2", 20_000, true)]).await.expect("lines");
        let (mut other, _) =
            store.create_settlement(&SettlementRow { visit_id: "V2".into(), ..click("S2", 30_000) }, 2).await.expect("the click");
        other.state = SettlementState::Settled;
        store.save_settlement(&other, SettlementState::Started, &[]).await.expect("settled");
        let cancelling = SettlementRow { state: SettlementState::Cancelling, ..other };
        store.save_settlement(&cancelling, SettlementState::Settled, &[]).await.expect("the cancellation begins");
        let refund = RefundRow { id: "rfd_2".into(), visit_id: "V2".into(), idem_key: "k-refund-2".into(), ..refund_of("S2") };
        assert!(!store.insert_refund(&refund).await.expect("read"), "no refund of a click being cancelled");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn the_recovery_scan_and_the_unpaid_notices_read_their_partial_indexes() {
        let (store, dir) = Store::in_fresh_folder("partial-indexes").await;
        let recovery = plan(&store, unfinished_scan()).await;
        assert!(recovery.contains("settlements_unfinished"), "{recovery}");
        let unpaid = plan(&store, super::super::patient_notices::UNPAID_SINCE.to_string()).await;
        assert!(unpaid.contains("settlements_unpaid"), "{unpaid}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
