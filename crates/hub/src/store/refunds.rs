//! Refunds after settlement (退费, `wugan_domain::refund`) as they stand between steps, for the
//! orchestrator in `app/refunds.rs` and the recovery worker (migration 0017), and the registration
//! cancels (退号, 2202). A save is guarded by the stage it was read in (the stored JSON), so a
//! refund never goes backwards when a request and the worker race, and it posts the stage's
//! transfers in the same commit.

use super::*;

/// A refund as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRow {
    pub id: String,
    pub visit_id: String,
    /// The click's settlement whose capture the bank refunds against.
    pub settlement_id: String,
    pub hospital_code: String,
    /// The fee lines returned (`feedetl_sn`).
    pub lines: Vec<String>,
    /// The fee lines kept, uploaded again (2204) and settled again (2207).
    pub remaining: Vec<String>,
    /// `RefundStage::state`.
    pub state: String,
    /// `RefundStage` as JSON.
    pub stage_json: String,
    /// The insurance msgids, fixed before their calls: 2208, 2204, 2207.
    pub reverse_msgid: String,
    pub reupload_msgid: String,
    pub resettle_msgid: String,
    /// The 2206 made right before the re-settlement's 2207 (migration 0031); `None` on a refund
    /// written before it, which re-settles without one.
    pub presettle_msgid: Option<String>,
    /// What of that 2206's reply the 2207 carries (a JSON object as the platform sent it, "{}"
    /// when it sent none of the four amounts), kept before 2207 is first sent.
    pub resettle_echo: Option<String>,
    pub idem_key: String,
    /// Resumptions that stopped on a partner's silence.
    pub attempts: i64,
    /// Why it waits in the exceptions queue (a bank decline, or silence through every pass).
    pub parked_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Stages a refund may stop in with a call still to make.
const UNFINISHED: &str = "('requested', 'reversed', 'reuploaded', 'resettled')";

pub(super) const REFUND_COLUMNS: &str = "id, visit_id, settlement_id, hospital_code, lines_json, remaining_json, state, stage_json, \
     reverse_msgid, reupload_msgid, resettle_msgid, idem_key, attempts, created_at, updated_at, presettle_msgid, resettle_echo";

/// Whether a refund in `state` still has a step to make.
fn is_open(state: &str) -> bool {
    UNFINISHED.contains(&format!("'{state}'"))
}

impl Store {
    /// Writes a new refund; false when the visit already has a refund in progress or this key
    /// was used on the visit before (the caller reads which).
    pub async fn insert_refund(&self, r: &RefundRow) -> StoreResult<bool> {
        let r = r.clone();
        let lines = json_list(&r.lines)?;
        let remaining = json_list(&r.remaining)?;
        self.write(move |c| {
            Box::pin(async move {
                // Not while the click's unpaid bill is being charged or was collected: checked in
                // the same write as the collection's own start checks for an open refund. Nor once a
                // cancellation of the click began (its save checks for refunds in its own write).
                let sql = format!(
                    "INSERT INTO refunds ({REFUND_COLUMNS}, open_visit_id) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $2 \
                     WHERE NOT EXISTS (SELECT 1 FROM bill_collections b WHERE b.settlement_id = $3 \
                     AND b.state IN ('charging', 'authorizing', 'capturing', 'collected')) \
                     AND EXISTS (SELECT 1 FROM settlements s WHERE s.id = $3 AND s.state IN ('settled', 'settled_unpaid')) \
                     ON CONFLICT DO NOTHING"
                );
                let n = query(sql)
                    .bind(&r.id)
                    .bind(&r.visit_id)
                    .bind(&r.settlement_id)
                    .bind(&r.hospital_code)
                    .bind(&lines)
                    .bind(&remaining)
                    .bind(&r.state)
                    .bind(&r.stage_json)
                    .bind(&r.reverse_msgid)
                    .bind(&r.reupload_msgid)
                    .bind(&r.resettle_msgid)
                    .bind(&r.idem_key)
                    .bind(r.attempts)
                    .bind(&r.created_at)
                    .bind(&r.updated_at)
                    .bind(&r.presettle_msgid)
                    .bind(&r.resettle_echo)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
                Ok(n == 1)
            })
        })
        .await
    }

    pub async fn refund(&self, id: &str) -> StoreResult<Option<RefundRow>> {
        let sql = format!("SELECT {REFUND_COLUMNS}, parked_reason FROM refunds WHERE id = $1");
        let row = query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(refund_from_row).transpose()
    }

    /// The refund a request with this key made on the visit, if any.
    pub async fn refund_by_key(&self, visit_id: &str, idem_key: &str) -> StoreResult<Option<RefundRow>> {
        let sql = format!("SELECT {REFUND_COLUMNS}, parked_reason FROM refunds WHERE visit_id = $1 AND idem_key = $2");
        let row = query(sql).bind(visit_id).bind(idem_key).fetch_optional(&self.pool).await?;
        row.as_ref().map(refund_from_row).transpose()
    }

    /// A visit's refunds, oldest first.
    pub async fn refunds_of_visit(&self, visit_id: &str) -> StoreResult<Vec<RefundRow>> {
        let sql = format!("SELECT {REFUND_COLUMNS}, parked_reason FROM refunds WHERE visit_id = $1 ORDER BY created_at, id");
        let rows = query(sql).bind(visit_id).fetch_few(&self.pool).await?;
        rows.iter().map(refund_from_row).collect()
    }

    /// Refunds finished (`refunded`) whose records fall in `[from, to)` (their last change), for
    /// reconciliation.
    pub async fn refunds_finished_between(&self, from: &str, to: &str) -> StoreResult<Vec<RefundRow>> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS}, parked_reason FROM refunds WHERE state = 'refunded' AND updated_at >= $1 AND updated_at < $2 ORDER BY updated_at"
        );
        let rows = query(sql).bind(from).bind(to).fetch_all(&self.pool).await?;
        rows.iter().map(refund_from_row).collect()
    }

    /// Refunds finished (`refunded`) at or after `since`, oldest first, `limit` at most: the
    /// notifier's incremental scan (`app/refund_notices.rs`), on the index `refunds_by_state`.
    pub async fn refunds_finished_since(&self, since: &str, limit: i64) -> StoreResult<Vec<RefundRow>> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS}, parked_reason FROM refunds WHERE state = 'refunded' AND updated_at >= $1 ORDER BY updated_at, id LIMIT $2"
        );
        let rows = query(sql).bind(since).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(refund_from_row).collect()
    }

    /// Refunds with a step still to make, idle since `before`.
    /// Parked ones wait for an operator (`store/refund_exceptions.rs`).
    pub async fn unfinished_refunds(&self, before: &str, limit: i64) -> StoreResult<Vec<RefundRow>> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS}, parked_reason FROM refunds WHERE state IN {UNFINISHED} AND parked_reason IS NULL AND updated_at < $1 \
             ORDER BY updated_at LIMIT $2"
        );
        let rows = query(sql).bind(before).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(refund_from_row).collect()
    }

    /// Saves a refund's new stage if it still holds `from_json`, with the transfers it posts; a
    /// final stage frees the visit for the next refund. False when another run moved it meanwhile.
    /// `owed`: for a refund that finishes a settled_unpaid click's refund, what the patient owes
    /// of it now; kept on the click (`owed_fen`) and on a collection not begun, in the same write,
    /// so no bill is ever collected for lines given back.
    pub async fn save_refund(&self, r: &RefundRow, from_json: &str, transfers: &[Transfer], owed: Option<Fen>) -> StoreResult<bool> {
        let (r, from, transfers, now) = (r.clone(), from_json.to_string(), transfers.to_vec(), self.now());
        let open = is_open(&r.state).then(|| r.visit_id.clone());
        self.write(move |c| {
            Box::pin(async move {
                let n = query(
                    "UPDATE refunds SET state = $1, stage_json = $2, updated_at = $3, open_visit_id = $4, attempts = 0 \
                     WHERE id = $5 AND stage_json = $6",
                )
                .bind(&r.state)
                .bind(&r.stage_json)
                .bind(&r.updated_at)
                .bind(open)
                .bind(&r.id)
                .bind(&from)
                .execute(&mut *c)
                .await?
                .rows_affected();
                if n != 1 {
                    return Ok(false);
                }
                for t in &transfers {
                    post_transfer(c, t, &now).await?;
                }
                if let Some(owed) = owed {
                    query("UPDATE settlements SET owed_fen = $1 WHERE id = $2")
                        .bind(owed.0)
                        .bind(&r.settlement_id)
                        .execute(&mut *c)
                        .await?;
                    // A collection due or declined (not sent, or sent and refused) asks for the new
                    // amount, or for nothing: one with a charge out stopped the refund at its start.
                    query(
                        "UPDATE bill_collections SET amount_fen = $1, \
                         state = CASE WHEN $1 > 0 THEN state ELSE 'declined' END, \
                         last_decline = CASE WHEN $1 > 0 THEN last_decline ELSE 'not_owed' END \
                         WHERE settlement_id = $2 AND state IN ('due', 'declined')",
                    )
                    .bind(owed.0)
                    .bind(&r.settlement_id)
                    .execute(&mut *c)
                    .await?;
                }
                Ok(true)
            })
        })
        .await
    }

    /// Keeps what the re-settlement's 2207 carries back of its 2206 reply, before 2207 is first
    /// sent; returns the one stored (another run's, when it kept one first: the same 2206 msgid,
    /// the same reply), so every 2207 of the refund is sent with the same input.
    pub async fn keep_resettle_echo(&self, id: &str, echo: &str) -> StoreResult<String> {
        let (id, echo) = (id.to_string(), echo.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let row = query("UPDATE refunds SET resettle_echo = COALESCE(resettle_echo, $1) WHERE id = $2 RETURNING resettle_echo")
                    .bind(&echo)
                    .bind(&id)
                    .fetch_one(&mut *c)
                    .await?;
                Ok(row.get::<Option<String>, _>("resettle_echo").unwrap_or(echo))
            })
        })
        .await
    }

    /// 退号: the registration cancel of a visit, written with its msgid before 2202 is sent;
    /// returns the one stored (the first request's, when this is a retry).
    pub async fn begin_registration_cancel(&self, visit_id: &str, msgid: &str, idem_key: &str) -> StoreResult<(String, bool)> {
        let (visit_id, msgid, key, now) = (visit_id.to_string(), msgid.to_string(), idem_key.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let begun = query("SELECT 1 AS begun FROM registration_cancels WHERE visit_id = $1").bind(&visit_id).fetch_optional(&mut *c).await?;
                // A click that started after the caller's check: the cancel waits for its outcome
                // (the click checks for a begun cancel in its own write, so one of them is refused).
                let live = query("SELECT 1 AS live FROM settlements WHERE visit_id = $1 AND state NOT IN ('failed', 'cancelled', 'settled', 'settled_unpaid')")
                    .bind(&visit_id)
                    .fetch_optional(&mut *c)
                    .await?;
                if begun.is_none() && live.is_some() {
                    return Err(StoreError::Refused { code: "settlement_in_progress", message: "this visit is being settled; retry shortly".into() });
                }
                query(
                    "INSERT INTO registration_cancels (visit_id, msgid, idem_key, done, created_at) VALUES ($1, $2, $3, 0, $4) \
                     ON CONFLICT (visit_id) DO NOTHING",
                )
                .bind(&visit_id)
                .bind(&msgid)
                .bind(&key)
                .bind(&now)
                .execute(&mut *c)
                .await?;
                let row =
                    query("SELECT msgid, done FROM registration_cancels WHERE visit_id = $1").bind(&visit_id).fetch_one(&mut *c).await?;
                Ok((row.get("msgid"), row.get::<i64, _>("done") != 0))
            })
        })
        .await
    }

    /// Registration cancels begun before `before` and not answered (visit id, hospital, the HIS's
    /// key), oldest first: for the recovery worker (the partial index `registration_cancels_open`).
    pub async fn unfinished_registration_cancels(&self, before: &str, limit: i64) -> StoreResult<Vec<(String, String, String)>> {
        let rows = query(
            "SELECT r.visit_id, v.hospital_code, r.idem_key FROM registration_cancels r JOIN visits v ON v.id = r.visit_id \
             WHERE r.done = 0 AND r.created_at < $1 ORDER BY r.created_at LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get("visit_id"), r.get("hospital_code"), r.get("idem_key"))).collect())
    }

    /// The center refused the 2202: the visit stays registered, and the cancel's record goes (a
    /// new request begins afresh, under a new msgid).
    pub async fn drop_registration_cancel(&self, visit_id: &str) -> StoreResult<()> {
        let visit_id = visit_id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                query("DELETE FROM registration_cancels WHERE visit_id = $1 AND done = 0").bind(&visit_id).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    /// 2202 answered: the visit is cancelled, in the same commit as the cancel's record.
    pub async fn finish_registration_cancel(&self, visit_id: &str) -> StoreResult<()> {
        let visit_id = visit_id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                query("UPDATE registration_cancels SET done = 1 WHERE visit_id = $1").bind(&visit_id).execute(&mut *c).await?;
                query("UPDATE visits SET status = 'cancelled' WHERE id = $1").bind(&visit_id).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }
}

fn json_list(list: &[String]) -> StoreResult<String> {
    serde_json::to_string(list).map_err(|e| StoreError::Corrupt(format!("a list of fee lines: {e}")))
}

pub(super) fn refund_from_row(r: &SqlRow) -> StoreResult<RefundRow> {
    let list = |column: &str| -> StoreResult<Vec<String>> {
        serde_json::from_str(&r.get::<String, _>(column)).map_err(|e| StoreError::Corrupt(format!("refund {column}: {e}")))
    };
    Ok(RefundRow {
        id: r.get("id"),
        visit_id: r.get("visit_id"),
        settlement_id: r.get("settlement_id"),
        hospital_code: r.get("hospital_code"),
        lines: list("lines_json")?,
        remaining: list("remaining_json")?,
        state: r.get("state"),
        stage_json: r.get("stage_json"),
        reverse_msgid: r.get("reverse_msgid"),
        reupload_msgid: r.get("reupload_msgid"),
        resettle_msgid: r.get("resettle_msgid"),
        presettle_msgid: r.get("presettle_msgid"),
        resettle_echo: r.get("resettle_echo"),
        idem_key: r.get("idem_key"),
        attempts: r.get("attempts"),
        parked_reason: r.get("parked_reason"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    })
}
