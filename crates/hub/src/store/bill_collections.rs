//! Unpaid bills collected later (migration 0020, issue 17 scope 4): one row per settled_unpaid
//! settlement once a collection is asked for (the patient's pay action, or the line having room
//! again); each attempt's state written before its bank call, `collected` with its transfers.
//! A stay's bill (住院欠费) is collected the same way, its row keyed by the stay's id: what a stay
//! owes is in its stage (`StayStage::owed`), so the stays over are read here and weighed by the app.

use super::stays::STAYS_SETTLED;
use super::*;

/// A collection as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillCollectionRow {
    pub settlement_id: String,
    pub agreement_id: String,
    pub amount: Fen,
    /// 1, 2, …: a new attempt (new request ids) only after the bank declined the last one.
    pub attempt: i64,
    /// `due`, `charging`, `collected` or `declined`; `authorizing` and `capturing` for a collection
    /// begun before charges (migration 0034), as an authorization and a capture.
    pub state: String,
    pub last_decline: Option<String>,
    /// `patient` (the pay action) or `line` (the hub's retry when the line had room again).
    pub collected_by: Option<String>,
}

/// An unpaid bill as the patient's page shows it.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UnpaidBill {
    /// The bill's id, to pay it by: the visit's settlement, or the stay (`kind` says which).
    pub settlement_id: String,
    /// `visit` (an outpatient visit's settlement) or `stay` (an inpatient stay, 住院).
    pub kind: String,
    /// The visit's id, or the stay's.
    pub visit_id: String,
    /// The HIS's visit number, or the stay's 住院号.
    pub hospital_code: String,
    pub ipt_otp_no: String,
    #[serde(skip)]
    pub psn_no: String,
    pub agreement_id: String,
    /// What the bill is for: the share the line did not cover, less any refund since.
    pub unpaid_fen: i64,
    /// What is owed on it now: `unpaid_fen`, or 0 once collected (review r26 patient F8: a client
    /// summing `unpaid_fen` counted paid bills).
    pub owed_fen: i64,
    pub settled_at: String,
    /// None before any collection; else the collection's state.
    pub collection: Option<String>,
    pub last_decline: Option<String>,
}

/// What a bill of `unpaid_fen` owes now, by its collection's state.
pub fn owed_now(unpaid_fen: i64, collection: Option<&str>) -> i64 {
    match collection {
        Some("collected") => 0,
        _ => unpaid_fen,
    }
}

const COLUMNS: &str = "settlement_id, agreement_id, amount_fen, attempt, state, last_decline, collected_by";

fn row_of(r: &SqlRow) -> BillCollectionRow {
    BillCollectionRow {
        settlement_id: r.get("settlement_id"),
        agreement_id: r.get("agreement_id"),
        amount: Fen(r.get("amount_fen")),
        attempt: r.get("attempt"),
        state: r.get("state"),
        last_decline: r.get("last_decline"),
        collected_by: r.get("collected_by"),
    }
}

impl Store {
    /// The unpaid bills of a person, newest first, with their collection's state: what is owed now
    /// (after refunds, migration 0036), those owing nothing left out. A settled_unpaid click's, and
    /// a settled one's whose refund left the patient owing (the re-settlement's cash share above
    /// what the capture pays: the personal account spent meanwhile).
    pub async fn unpaid_bills_of(&self, psn_no: &str, limit: i64) -> StoreResult<Vec<UnpaidBill>> {
        let rows = query(
            "SELECT s.id, s.visit_id, s.hospital_code, v.ipt_otp_no, v.psn_no, s.agreement_id, \
             COALESCE(s.owed_fen, s.unpaid_fen) AS unpaid_fen, s.updated_at, \
             b.state AS collection, b.last_decline FROM settlements s JOIN visits v ON v.id = s.visit_id \
             LEFT JOIN bill_collections b ON b.settlement_id = s.id \
             WHERE v.psn_no = $1 AND s.state IN ('settled', 'settled_unpaid') AND COALESCE(s.owed_fen, s.unpaid_fen) > 0 \
             ORDER BY s.updated_at DESC LIMIT $2",
        )
        .bind(psn_no)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| UnpaidBill {
                settlement_id: r.get("id"),
                kind: "visit".into(),
                visit_id: r.get("visit_id"),
                hospital_code: r.get("hospital_code"),
                ipt_otp_no: r.get("ipt_otp_no"),
                psn_no: r.get("psn_no"),
                agreement_id: r.get("agreement_id"),
                unpaid_fen: r.get("unpaid_fen"),
                owed_fen: owed_now(r.get("unpaid_fen"), r.get::<Option<String>, _>("collection").as_deref()),
                settled_at: r.get("updated_at"),
                collection: r.get("collection"),
                last_decline: r.get("last_decline"),
            })
            .collect())
    }

    /// What each visit bill an agreement carries still owes (its collection not done): the
    /// settlements on it that stand with a share owed.
    pub async fn unpaid_bills_of_agreement(&self, agreement_id: &str) -> StoreResult<Vec<i64>> {
        let rows = query(
            "SELECT COALESCE(s.owed_fen, s.unpaid_fen) AS owed FROM settlements s LEFT JOIN bill_collections b ON b.settlement_id = s.id \
             WHERE s.agreement_id = $1 AND s.state IN ('settled', 'settled_unpaid') AND COALESCE(s.owed_fen, s.unpaid_fen) > 0 \
             AND (b.state IS NULL OR b.state <> 'collected') LIMIT 100",
        )
        .bind(agreement_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| r.get("owed")).collect())
    }

    /// The stays of a person that are over with their settlement standing (the only ones that may
    /// owe: `StayStage::owed`), newest first, each with its collection's state and last decline.
    pub async fn settled_stays_of(&self, psn_no: &str, limit: i64) -> StoreResult<Vec<(StayRow, Option<String>, Option<String>)>> {
        self.settled_stays_where("psn_no", psn_no, limit).await
    }

    /// The same for the stays whose deposit an agreement's line held.
    pub async fn settled_stays_of_agreement(
        &self,
        agreement_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<(StayRow, Option<String>, Option<String>)>> {
        self.settled_stays_where("agreement_id", agreement_id, limit).await
    }

    async fn settled_stays_where(
        &self,
        column: &str,
        value: &str,
        limit: i64,
    ) -> StoreResult<Vec<(StayRow, Option<String>, Option<String>)>> {
        let sql = format!(
            "SELECT {}, (SELECT b.state FROM bill_collections b WHERE b.settlement_id = stays.id) AS collection, \
             (SELECT b.last_decline FROM bill_collections b WHERE b.settlement_id = stays.id) AS last_decline FROM stays \
             WHERE {column} = $1 AND state IN {STAYS_SETTLED} ORDER BY updated_at DESC LIMIT $2",
            stays::STAY_COLUMNS
        );
        let rows = query(sql).bind(value).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| (stays::stay_from_row(r), r.get("collection"), r.get("last_decline"))).collect())
    }

    pub async fn bill_collection(&self, settlement_id: &str) -> StoreResult<Option<BillCollectionRow>> {
        let sql = format!("SELECT {COLUMNS} FROM bill_collections WHERE settlement_id = $1");
        Ok(query(sql).bind(settlement_id).fetch_optional(&self.pool).await?.as_ref().map(row_of))
    }

    /// The collection of a bill, made `due` at attempt 1 if there was none; a declined one is made
    /// `due` again as the next attempt. Returns the row as it now stands.
    pub async fn want_bill_collected(&self, settlement_id: &str, agreement_id: &str, amount: Fen) -> StoreResult<BillCollectionRow> {
        let (sid, agreement_id, now) = (settlement_id.to_string(), agreement_id.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "INSERT INTO bill_collections (settlement_id, agreement_id, amount_fen, attempt, state, created_at, updated_at) \
                     VALUES ($1, $2, $3, 1, 'due', $4, $4) ON CONFLICT (settlement_id) DO NOTHING",
                )
                .bind(&sid)
                .bind(agreement_id)
                .bind(amount.0)
                .bind(&now)
                .execute(&mut *c)
                .await?;
                query(
                    "UPDATE bill_collections SET state = 'due', attempt = attempt + 1, updated_at = $1 WHERE settlement_id = $2 AND state = 'declined'",
                )
                .bind(&now)
                .bind(&sid)
                .execute(&mut *c)
                .await?;
                let sql = format!("SELECT {COLUMNS} FROM bill_collections WHERE settlement_id = $1");
                Ok(row_of(&query(sql).bind(&sid).fetch_one(&mut *c).await?))
            })
        })
        .await
    }

    /// The line of an agreement had room again (a repayment, a reinstatement, a higher limit):
    /// every unpaid bill it carries is made due (its next attempt if the last was declined).
    /// Returns how many.
    pub async fn wake_bills_of_agreement(&self, agreement_id: &str) -> StoreResult<u64> {
        let (agreement_id, now) = (agreement_id.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let made = query(
                    "INSERT INTO bill_collections (settlement_id, agreement_id, amount_fen, attempt, state, created_at, updated_at) \
                     SELECT s.id, s.agreement_id, COALESCE(s.owed_fen, s.unpaid_fen), 1, 'due', $1, $1 FROM settlements s \
                     WHERE s.agreement_id = $2 AND s.state IN ('settled', 'settled_unpaid') AND COALESCE(s.owed_fen, s.unpaid_fen) > 0 \
                     AND NOT EXISTS (SELECT 1 FROM bill_collections b WHERE b.settlement_id = s.id)",
                )
                .bind(&now)
                .bind(&agreement_id)
                .execute(&mut *c)
                .await?
                .rows_affected();
                let again = query(
                    "UPDATE bill_collections SET state = 'due', attempt = attempt + 1, updated_at = $1 \
                     WHERE agreement_id = $2 AND state = 'declined' AND amount_fen > 0",
                )
                .bind(&now)
                .bind(&agreement_id)
                .execute(&mut *c)
                .await?
                .rows_affected();
                Ok(made + again)
            })
        })
        .await
    }

    /// Collections to drive: due ones, and ones left between a call and its answer.
    pub async fn open_bill_collections(&self, limit: i64) -> StoreResult<Vec<BillCollectionRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM bill_collections WHERE state IN ('due', 'charging', 'authorizing', 'capturing') ORDER BY updated_at LIMIT $1"
        );
        Ok(query(sql).bind(limit).fetch_all(&self.pool).await?.iter().map(row_of).collect())
    }

    /// Moves a collection on from `(from, attempt)` as read, with its amount and transfers, in one
    /// write; `StaleSettlement` when another run moved it first or (for a charge about to be
    /// sent) while a refund of the settlement is open (a refund changes what is owed), or when the
    /// stay it is for is no longer settled (its settlement being cancelled).
    pub async fn advance_bill_collection(&self, next: &BillCollectionRow, from: &str, transfers: Vec<Transfer>) -> StoreResult<()> {
        let (next, from, now) = (next.clone(), from.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let moved = query(format!(
                    "UPDATE bill_collections SET state = $1, last_decline = $2, collected_by = $3, updated_at = $4, amount_fen = $8 \
                     WHERE settlement_id = $5 AND state = $6 AND attempt = $7 \
                     AND ($6 <> 'due' OR NOT EXISTS (SELECT 1 FROM refunds r WHERE r.settlement_id = $5 AND r.open_visit_id IS NOT NULL)) \
                     AND ($6 <> 'due' OR NOT EXISTS (SELECT 1 FROM stays st WHERE st.id = $5 AND st.state NOT IN {STAYS_SETTLED}))"
                ))
                .bind(&next.state)
                .bind(next.last_decline.clone())
                .bind(next.collected_by.clone())
                .bind(&now)
                .bind(&next.settlement_id)
                .bind(from)
                .bind(next.attempt)
                .bind(next.amount.0)
                .execute(&mut *c)
                .await?
                .rows_affected();
                if moved == 0 {
                    return Err(StoreError::StaleSettlement);
                }
                for t in &transfers {
                    post_transfer(c, t, &now).await?;
                }
                Ok(())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DepositSteps;

    fn stay(state: &str, stage_json: &str) -> StayRow {
        let text = |s: &str| s.to_string();
        StayRow {
            id: text("ipt_1"),
            hospital_code: text("H1"),
            ipt_no: text("ZY1"),
            psn_no: text("P1"),
            insutype: text("310"),
            insuplc_admdvs: text("440300"),
            mdtrt_cert_type: text("02"),
            mdtrt_cert_no_enc: text("sealed"),
            med_type: text("21"),
            agreement_id: text("agr_1"),
            state: text(state),
            stage_json: text(stage_json),
            admit_msgid: text("m1"),
            discharge_msgid: text("m2"),
            presettle_msgid: text("m3"),
            settle_msgid: text("m4"),
            cancel_msgid: None,
            idem_key: None,
            created_at: text("2026-12-02T08:00:00Z"),
            updated_at: text("2026-12-02T08:00:00Z"),
            presettle_echo: None,
            admission_info: None,
            discharge_info: None,
        }
    }

    /// A stay's bill is charged only while its settlement stands, and the ward's cancellation of
    /// that settlement only while no charge for the bill is out: whichever writes second is refused.
    #[tokio::test]
    async fn a_stays_collection_and_the_cancellation_of_its_settlement_never_pass_each_other() {
        let (store, dir) = Store::in_fresh_folder("stay-bill-meets-cancel").await;
        let no_steps = DepositSteps::default();
        store.insert_stay(&stay("settled_unpaid", "settled-1")).await.expect("a settled stay");
        let due = store.want_bill_collected("ipt_1", "agr_1", Fen(5_000)).await.expect("due");
        let charging = BillCollectionRow { state: "charging".into(), ..due.clone() };
        // The ward's cancellation wrote first: the charge is not sent.
        let cancelling = stay("cancelling_settlement", "cancelling-1");
        assert!(store.save_stay(&cancelling, "settled-1", &[], &[], &no_steps).await.expect("saved"));
        assert!(matches!(store.advance_bill_collection(&charging, "due", Vec::new()).await, Err(StoreError::StaleSettlement)));
        // Settled again (a new bedside click): the charge goes out, and then the ward's second
        // cancellation is refused in its own write.
        assert!(store.save_stay(&stay("settled_unpaid", "settled-2"), "cancelling-1", &[], &[], &no_steps).await.expect("saved"));
        store.advance_bill_collection(&charging, "due", Vec::new()).await.expect("the charge may go");
        assert!(!store.save_stay(&stay("cancelling_settlement", "cancelling-2"), "settled-2", &[], &[], &no_steps).await.expect("read"));
        assert_eq!(store.stay("ipt_1").await.expect("read").map(|s| s.state).as_deref(), Some("settled_unpaid"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
