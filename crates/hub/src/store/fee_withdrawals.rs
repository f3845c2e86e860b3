//! 门诊费用明细撤销 (2205): a withdrawal of uploaded outpatient fee lines before the click
//! (`app/fee_withdrawals.rs`), migration 0041. Begun in one write that checks the visit is open
//! and marks the lines; closed or reopened in one write once 2205 answers.

use super::*;

/// The batch that means every open line, at the center as here.
pub const ALL_BATCHES: &str = "0000";

/// A withdrawal as stored.
#[derive(Clone, Debug)]
pub struct FeeWithdrawalRow {
    pub id: String,
    pub visit_id: String,
    pub chrg_bchno: String,
    pub msgid: String,
    pub idem_key: String,
    /// `sending` (2205 not answered), `withdrawn` or `refused`.
    pub state: String,
    /// The lines withdrawn (their feedetl_sn), as the begin marked them.
    pub lines: Vec<String>,
    /// The center's words, when it refused.
    pub refusal: Option<String>,
    /// Recovery passes that could not finish it (`fee_withdrawal_exceptions`).
    pub attempts: i64,
    /// Why it waits in the operator's exceptions queue; `None` while it is not parked.
    pub parked_reason: Option<String>,
    /// An operator's note, when they ended a parked withdrawal by hand (migration 0044).
    pub resolution: Option<String>,
    /// When it was begun or last tried.
    pub updated_at: String,
}

/// What `begin_fee_withdrawal` found.
#[derive(Debug)]
pub enum WithdrawalBegun {
    /// This withdrawal, as stored: just begun, or begun before under the same key.
    Row(Box<FeeWithdrawalRow>),
    /// No open line has the batch (nothing written).
    NoLines,
}

impl Store {
    /// Writes the withdrawal (its msgid fixed) and marks its lines, when the visit may have its
    /// lines withdrawn: no live settlement attempt, no registration cancel, no upload nor other
    /// withdrawal under way (`StoreError::Refused` otherwise, nothing written). All checked in this
    /// write, as the click checks the marks in its own (`create_settlement`). The same key again
    /// returns the withdrawal begun under it.
    pub async fn begin_fee_withdrawal(&self, row: &FeeWithdrawalRow) -> StoreResult<WithdrawalBegun> {
        let (row, now) = (row.clone(), self.now());
        self.write(move |c| Box::pin(begin(c, row, now))).await
    }

    /// The withdrawal begun under the HIS's key on a visit, if any.
    pub async fn fee_withdrawal_by_key(&self, visit_id: &str, idem_key: &str) -> StoreResult<Option<FeeWithdrawalRow>> {
        let row = query("SELECT * FROM fee_withdrawals WHERE visit_id = $1 AND idem_key = $2")
            .bind(visit_id)
            .bind(idem_key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| withdrawal_from_row(&r)).transpose()
    }

    /// 2205 answered (or nothing to send): the lines leave the visit, closed under the withdrawal
    /// (so their feedetl_sn may be uploaded again), and the visit's kept estimate is forgotten (its
    /// lines are no longer the visit's).
    pub async fn finish_fee_withdrawal(&self, id: &str, visit_id: &str) -> StoreResult<()> {
        let (id, visit_id, now) = (id.to_string(), visit_id.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let moved = query("UPDATE fee_withdrawals SET state = 'withdrawn', updated_at = $2 WHERE id = $1 AND state = 'sending'")
                    .bind(&id)
                    .bind(now)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
                if moved == 1 {
                    close_lines(c, &id, &visit_id).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// 2205 refused (`refusal` the center's words), or never sent (`None`: the record goes, so the
    /// same key may begin afresh): the lines are open again as they were.
    pub async fn reopen_fee_withdrawal(&self, id: &str, visit_id: &str, refusal: Option<String>) -> StoreResult<()> {
        let (id, visit_id, now) = (id.to_string(), visit_id.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let moved = match &refusal {
                    Some(words) => query(
                        "UPDATE fee_withdrawals SET state = 'refused', refusal = $2, updated_at = $3 WHERE id = $1 AND state = 'sending'",
                    )
                    .bind(&id)
                    .bind(words.clone())
                    .bind(now)
                    .execute(&mut *c)
                    .await?,
                    None => query("DELETE FROM fee_withdrawals WHERE id = $1 AND state = 'sending'").bind(&id).execute(&mut *c).await?,
                };
                if moved.rows_affected() == 1 {
                    reopen_lines(c, &id, &visit_id).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Withdrawals begun before `before` whose 2205 is unanswered and that are not parked (with
    /// their visit's hospital), the least recently tried first (those waiting out a backoff come
    /// last, so they never hide the rest from a pass): for the recovery worker (the partial index
    /// `fee_withdrawals_sending`).
    pub async fn unfinished_fee_withdrawals(&self, before: &str, limit: i64) -> StoreResult<Vec<(FeeWithdrawalRow, String)>> {
        let rows = query(
            "SELECT w.*, v.hospital_code AS hospital_code FROM fee_withdrawals w JOIN visits v ON v.id = w.visit_id \
             WHERE w.state = 'sending' AND w.parked_reason IS NULL AND w.created_at < $1 ORDER BY w.updated_at LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((withdrawal_from_row(r)?, r.get("hospital_code")))).collect()
    }
}

/// A withdrawal of the visit's lines is under way (begun, 2205 unanswered): for the writes that
/// must not pass it (the click's `create_settlement`; a fee upload's insert should call it too).
/// The withdrawal `id` done: its lines leave the visit, closed under it (so their feedetl_sn may
/// be uploaded again), and the visit's kept estimate is forgotten (its lines are no longer the
/// visit's).
pub(super) async fn close_lines(c: &mut Conn, id: &str, visit_id: &str) -> StoreResult<()> {
    query("UPDATE fee_lines SET closed_by = $2 WHERE visit_id = $1 AND withdrawal_id = $3 AND closed_by = ''")
        .bind(visit_id)
        .bind(format!("withdrawn:{id}"))
        .bind(id)
        .execute(&mut *c)
        .await?;
    query("UPDATE visits SET last_estimate = NULL WHERE id = $1").bind(visit_id).execute(&mut *c).await?;
    Ok(())
}

/// The withdrawal `id` not done: its lines are the visit's open lines again, as they were.
pub(super) async fn reopen_lines(c: &mut Conn, id: &str, visit_id: &str) -> StoreResult<()> {
    query("UPDATE fee_lines SET uploaded = 1, withdrawal_id = '' WHERE visit_id = $1 AND withdrawal_id = $2 AND closed_by = ''")
        .bind(visit_id)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub(super) async fn withdrawal_under_way(c: &mut Conn, visit_id: &str) -> StoreResult<()> {
    let marked = query("SELECT 1 AS marked FROM fee_lines WHERE visit_id = $1 AND closed_by = '' AND withdrawal_id <> '' LIMIT 1")
        .bind(visit_id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    match marked {
        Some(_) => Err(StoreError::Refused {
            code: "fee_withdrawal_in_progress",
            message: "fee lines of this visit are being withdrawn (2205): retry once the withdrawal has completed".into(),
        }),
        None => Ok(()),
    }
}

async fn begin(c: &mut Conn, row: FeeWithdrawalRow, now: String) -> StoreResult<WithdrawalBegun> {
    let earlier = query("SELECT * FROM fee_withdrawals WHERE visit_id = $1 AND idem_key = $2")
        .bind(&row.visit_id)
        .bind(&row.idem_key)
        .fetch_optional(&mut *c)
        .await?;
    if let Some(earlier) = earlier {
        return Ok(WithdrawalBegun::Row(Box::new(withdrawal_from_row(&earlier)?)));
    }
    let refused = |code: &'static str, message: &str| Err(StoreError::Refused { code, message: message.into() });
    // A click begun since the caller read the visit: its lines are the center's until it ends.
    let live = query("SELECT 1 AS live FROM settlements WHERE visit_id = $1 AND state NOT IN ('failed', 'cancelled') LIMIT 1")
        .bind(&row.visit_id)
        .fetch_optional(&mut *c)
        .await?;
    if live.is_some() {
        return refused("settlement_in_progress", "the visit is being settled or is settled: withdraw fee lines only before the click");
    }
    let cancelling =
        query("SELECT 1 AS begun FROM registration_cancels WHERE visit_id = $1").bind(&row.visit_id).fetch_optional(&mut *c).await?;
    if cancelling.is_some() {
        return refused("visit_not_open", "the visit's registration is being cancelled (退号)");
    }
    let open = query(
        "SELECT feedetl_sn, chrg_bchno, uploaded, withdrawal_id FROM fee_lines WHERE visit_id = $1 AND closed_by = '' ORDER BY feedetl_sn",
    )
    .bind(&row.visit_id)
    .fetch_all(&mut *c)
    .await?;
    if open.iter().any(|l| !l.get::<String, _>("withdrawal_id").is_empty()) {
        return refused(
            "fee_withdrawal_in_progress",
            "another withdrawal of this visit's fee lines is under way: retry once it has completed",
        );
    }
    // An upload under way may hold lines of the batch: the center may take them before or after 2205.
    if open.iter().any(|l| l.get::<i64, _>("uploaded") == 0) {
        return refused("upload_in_progress", "a fee upload of this visit has not completed: resend it first, then withdraw");
    }
    let all = row.chrg_bchno == ALL_BATCHES;
    let lines: Vec<String> =
        open.iter().filter(|l| all || l.get::<String, _>("chrg_bchno") == row.chrg_bchno).map(|l| l.get("feedetl_sn")).collect();
    if lines.is_empty() {
        return Ok(WithdrawalBegun::NoLines);
    }
    let listed = serde_json::to_string(&lines).map_err(|e| StoreError::Corrupt(format!("a list of fee lines: {e}")))?;
    query(
        "INSERT INTO fee_withdrawals (id, visit_id, chrg_bchno, msgid, idem_key, state, lines, refusal, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'sending', $6, NULL, $7, $7)",
    )
    .bind(&row.id)
    .bind(&row.visit_id)
    .bind(&row.chrg_bchno)
    .bind(&row.msgid)
    .bind(&row.idem_key)
    .bind(listed)
    .bind(now)
    .execute(&mut *c)
    .await?;
    // Marked, and not uploaded again: a fee upload that reads the visit sees an upload unfinished,
    // and the click's write counts them pending (besides finding the mark).
    query(
        "UPDATE fee_lines SET withdrawal_id = $2, uploaded = 0 WHERE visit_id = $1 AND closed_by = '' \
         AND ($3 = 1 OR chrg_bchno = $4)",
    )
    .bind(&row.visit_id)
    .bind(&row.id)
    .bind(all as i64)
    .bind(&row.chrg_bchno)
    .execute(&mut *c)
    .await?;
    Ok(WithdrawalBegun::Row(Box::new(FeeWithdrawalRow {
        lines,
        state: "sending".into(),
        refusal: None,
        attempts: 0,
        parked_reason: None,
        resolution: None,
        ..row
    })))
}

pub(super) fn withdrawal_from_row(r: &SqlRow) -> StoreResult<FeeWithdrawalRow> {
    let listed: String = r.get("lines");
    Ok(FeeWithdrawalRow {
        id: r.get("id"),
        visit_id: r.get("visit_id"),
        chrg_bchno: r.get("chrg_bchno"),
        msgid: r.get("msgid"),
        idem_key: r.get("idem_key"),
        state: r.get("state"),
        lines: serde_json::from_str(&listed).map_err(|e| StoreError::Corrupt(format!("a withdrawal's lines: {e}")))?,
        refusal: r.get("refusal"),
        attempts: r.get("attempts"),
        parked_reason: r.get("parked_reason"),
        resolution: r.get("resolution"),
        updated_at: r.get("updated_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sn: &str, batch: &str, fen: i64, uploaded: bool) -> FeeLineRow {
        let (chrg_bchno, upload_msgid, detail_json) = (batch.into(), format!("upload-{sn}"), "{}".into());
        FeeLineRow { feedetl_sn: sn.into(), chrg_bchno, amount: Fen(fen), upload_msgid, uploaded, detail_json, result_json: None }
    }

    fn withdrawal(id: &str, batch: &str) -> FeeWithdrawalRow {
        FeeWithdrawalRow {
            id: id.into(),
            visit_id: "V1".into(),
            chrg_bchno: batch.into(),
            msgid: format!("{id}-2205"),
            idem_key: format!("key-{id}"),
            state: "sending".into(),
            lines: Vec::new(),
            refusal: None,
            attempts: 0,
            parked_reason: None,
            resolution: None,
            updated_at: String::new(),
        }
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
            presettle_echo: None,
            attempts: 0,
            parked_reason: None,
            idem_key: None,
            created_at: "2026-12-02T08:00:00Z".into(),
            updated_at: "2026-12-02T08:00:00Z".into(),
            insurance_reversed: false,
            cancel_idem_key: None,
            cash_at_hospital: false,
        }
    }

    fn refused<T: std::fmt::Debug>(r: StoreResult<T>) -> &'static str {
        match r {
            Err(StoreError::Refused { code, .. }) => code,
            other => panic!("{other:?}"),
        }
    }

    fn begun(r: WithdrawalBegun) -> FeeWithdrawalRow {
        match r {
            WithdrawalBegun::Row(row) => *row,
            WithdrawalBegun::NoLines => panic!("no lines"),
        }
    }

    async fn open_lines(store: &Store) -> Vec<(String, bool)> {
        store.fee_lines("V1").await.expect("lines").into_iter().map(|l| (l.feedetl_sn, l.uploaded)).collect()
    }

    /// A withdrawal (2205) and the doctor's click on one visit meet: each checks the other in its
    /// own write, so the center is never asked to settle lines it is taking back, nor to take back
    /// lines a click is settling.
    #[tokio::test]
    async fn a_fee_withdrawal_and_a_click_on_one_visit_never_pass_each_other() {
        let (store, dir) = Store::in_fresh_folder("withdrawal-meets-click").await;
        store.insert_fee_lines("V1", &[line("1", "B1", 2_500, true), line("2", "B2", 120_000, true)]).await.expect("uploaded");
        // The click read both lines; the withdrawal of B2 wrote its marks before the click's write.
        let w = begun(store.begin_fee_withdrawal(&withdrawal("W1", "B2")).await.expect("begun"));
        assert_eq!(w.lines, ["2"]);
        assert_eq!(refused(store.create_settlement(&click("S1", 122_500), 2).await), "fee_withdrawal_in_progress");
        // A click that read the visit after the marks (line 1 alone) is refused as well.
        assert_eq!(refused(store.create_settlement(&click("S1", 2_500), 1).await), "fee_withdrawal_in_progress");
        // Meanwhile no other withdrawal begins, and the same key finds its own.
        assert_eq!(refused(store.begin_fee_withdrawal(&withdrawal("W2", "0000")).await), "fee_withdrawal_in_progress");
        let again =
            begun(store.begin_fee_withdrawal(&FeeWithdrawalRow { id: "W9".into(), ..withdrawal("W1", "B2") }).await.expect("the same"));
        assert_eq!((again.id.as_str(), again.msgid.as_str()), ("W1", "W1-2205"), "the msgid written first is resent");
        // 2205 refused: line 2 is open again, as it was; the click goes, and then no withdrawal does.
        store.reopen_fee_withdrawal("W1", "V1", Some("(-1): no".into())).await.expect("reopened");
        assert_eq!(open_lines(&store).await, [("1".to_string(), true), ("2".to_string(), true)]);
        let (_, created) = store.create_settlement(&click("S2", 122_500), 2).await.expect("the click");
        assert!(created);
        assert_eq!(refused(store.begin_fee_withdrawal(&withdrawal("W3", "B1")).await), "settlement_in_progress");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Answered, a withdrawal closes its lines (their numbers free for a new upload) and only
    /// them; an upload under way, or a batch with no open line, begins nothing.
    #[tokio::test]
    async fn a_withdrawal_closes_its_batch_and_waits_for_an_upload_under_way() {
        let (store, dir) = Store::in_fresh_folder("withdrawal-closes").await;
        store.insert_fee_lines("V1", &[line("1", "B1", 2_500, true), line("2", "B2", 120_000, false)]).await.expect("lines");
        assert_eq!(refused(store.begin_fee_withdrawal(&withdrawal("W1", "B1")).await), "upload_in_progress");
        store.mark_fee_lines_uploaded("V1", &[("2".into(), "{}".into())], None).await.expect("accepted");
        assert!(matches!(store.begin_fee_withdrawal(&withdrawal("W0", "B9")).await, Ok(WithdrawalBegun::NoLines)));
        begun(store.begin_fee_withdrawal(&withdrawal("W1", "B2")).await.expect("begun"));
        assert_eq!(open_lines(&store).await, [("1".to_string(), true), ("2".to_string(), false)], "marked: not uploaded");
        store.finish_fee_withdrawal("W1", "V1").await.expect("withdrawn");
        store.finish_fee_withdrawal("W1", "V1").await.expect("twice is once");
        assert_eq!(open_lines(&store).await, [("1".to_string(), true)]);
        assert_eq!(store.fee_withdrawal_by_key("V1", "key-W1").await.expect("read").map(|w| w.state), Some("withdrawn".into()));
        store.insert_fee_lines("V1", &[line("2", "B3", 96_000, true)]).await.expect("line 2 again, its new price");
        let (_, created) = store.create_settlement(&click("S1", 98_500), 2).await.expect("the click on the new total");
        assert!(created);
        let _ = std::fs::remove_dir_all(dir);
    }
}
