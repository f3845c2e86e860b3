//! Unpaid bills collected later (migration 0020, issue 17 scope 4): one row per settled_unpaid
//! settlement once a collection is asked for (the patient's pay action, or the line having room
//! again); each attempt's state written before its bank call, `collected` with its transfers.

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
    pub settlement_id: String,
    pub visit_id: String,
    pub hospital_code: String,
    pub ipt_otp_no: String,
    #[serde(skip)]
    pub psn_no: String,
    pub agreement_id: String,
    pub unpaid_fen: i64,
    pub settled_at: String,
    /// None before any collection; else the collection's state.
    pub collection: Option<String>,
    pub last_decline: Option<String>,
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
    /// The settled_unpaid bills of a person, newest first, with their collection's state: what is
    /// owed now (after refunds, migration 0036), those owing nothing left out.
    pub async fn unpaid_bills_of(&self, psn_no: &str, limit: i64) -> StoreResult<Vec<UnpaidBill>> {
        let rows = query(
            "SELECT s.id, s.visit_id, s.hospital_code, v.ipt_otp_no, v.psn_no, s.agreement_id, \
             COALESCE(s.owed_fen, s.unpaid_fen) AS unpaid_fen, s.updated_at, \
             b.state AS collection, b.last_decline FROM settlements s JOIN visits v ON v.id = s.visit_id \
             LEFT JOIN bill_collections b ON b.settlement_id = s.id \
             WHERE v.psn_no = $1 AND s.state = 'settled_unpaid' AND COALESCE(s.owed_fen, s.unpaid_fen) > 0 \
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
                visit_id: r.get("visit_id"),
                hospital_code: r.get("hospital_code"),
                ipt_otp_no: r.get("ipt_otp_no"),
                psn_no: r.get("psn_no"),
                agreement_id: r.get("agreement_id"),
                unpaid_fen: r.get("unpaid_fen"),
                settled_at: r.get("updated_at"),
                collection: r.get("collection"),
                last_decline: r.get("last_decline"),
            })
            .collect())
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
                     WHERE s.agreement_id = $2 AND s.state = 'settled_unpaid' AND COALESCE(s.owed_fen, s.unpaid_fen) > 0 \
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
    /// sent) while a refund of the settlement is open: a refund changes what is owed.
    pub async fn advance_bill_collection(&self, next: &BillCollectionRow, from: &str, transfers: Vec<Transfer>) -> StoreResult<()> {
        let (next, from, now) = (next.clone(), from.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let moved = query(
                    "UPDATE bill_collections SET state = $1, last_decline = $2, collected_by = $3, updated_at = $4, amount_fen = $8 \
                     WHERE settlement_id = $5 AND state = $6 AND attempt = $7 \
                     AND ($6 <> 'due' OR NOT EXISTS (SELECT 1 FROM refunds r WHERE r.settlement_id = $5 AND r.open_visit_id IS NOT NULL))",
                )
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
