//! Monthly clearing applications with the insurance center (3203 / 3204, migration 0016): each
//! written with its msgid before the call, closed with its ledger transfer in one transaction.

use super::journal::post_transfer;
use super::{query, SqlRow, Store, StoreResult};
use wugan_domain::clearing;
use wugan_domain::money::Fen;

/// One application as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsuranceClearingRow {
    /// `clearing:{hospital}:{setlym}:{clr_type}`.
    pub id: String,
    pub hospital_code: String,
    pub setlym: String,
    pub clr_type: String,
    /// The 3203 msgid, kept so that a lost answer is asked again under it (the center replays).
    pub msgid: String,
    pub psntime: i64,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub acct_fen: i64,
    pub cash_fen: i64,
    /// `applying`, `applied`, `refused`, `withdrawing`, `withdrawn`.
    pub state: String,
    pub clr_appy_evt_id: Option<String>,
    /// The 3204 msgid while withdrawing.
    pub withdraw_msgid: Option<String>,
    pub note: Option<String>,
}

impl InsuranceClearingRow {
    fn insurance_share(&self) -> Fen {
        Fen(self.fund_fen + self.acct_fen)
    }
}

fn row_of(r: &SqlRow) -> InsuranceClearingRow {
    InsuranceClearingRow {
        id: r.get("id"),
        hospital_code: r.get("hospital_code"),
        setlym: r.get("setlym"),
        clr_type: r.get("clr_type"),
        msgid: r.get("msgid"),
        psntime: r.get("psntime"),
        medfee_fen: r.get("medfee_fen"),
        fund_fen: r.get("fund_fen"),
        acct_fen: r.get("acct_fen"),
        cash_fen: r.get("cash_fen"),
        state: r.get("state"),
        clr_appy_evt_id: r.get("clr_appy_evt_id"),
        withdraw_msgid: r.get("withdraw_msgid"),
        note: r.get("note"),
    }
}

impl Store {
    pub async fn insurance_clearing(&self, id: &str) -> StoreResult<Option<InsuranceClearingRow>> {
        let row = query("SELECT * FROM insurance_clearings WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(row_of))
    }

    pub async fn insurance_clearings_of_month(&self, setlym: &str) -> StoreResult<Vec<InsuranceClearingRow>> {
        let rows = query("SELECT * FROM insurance_clearings WHERE setlym = $1 ORDER BY hospital_code, clr_type")
            .bind(setlym)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(row_of).collect())
    }

    /// Writes an application before its 3203: new, or a refused or withdrawn one applied again
    /// with new totals and a new msgid. An application in any other state is left as it is.
    pub async fn begin_insurance_clearing(&self, a: &InsuranceClearingRow) -> StoreResult<()> {
        let (a, now) = (a.clone(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "INSERT INTO insurance_clearings (id, hospital_code, setlym, clr_type, msgid, psntime, medfee_fen, fund_fen, \
                     acct_fen, cash_fen, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'applying', $11, $11) \
                     ON CONFLICT (id) DO UPDATE SET msgid = excluded.msgid, psntime = excluded.psntime, medfee_fen = excluded.medfee_fen, \
                     fund_fen = excluded.fund_fen, acct_fen = excluded.acct_fen, cash_fen = excluded.cash_fen, state = 'applying', \
                     note = NULL, clr_appy_evt_id = NULL, withdraw_msgid = NULL, updated_at = excluded.updated_at \
                     WHERE insurance_clearings.state IN ('refused', 'withdrawn')",
                )
                .bind(a.id)
                .bind(a.hospital_code)
                .bind(a.setlym)
                .bind(a.clr_type)
                .bind(a.msgid)
                .bind(a.psntime)
                .bind(a.medfee_fen)
                .bind(a.fund_fen)
                .bind(a.acct_fen)
                .bind(a.cash_fen)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// The center accepted: the application and its transfer, together.
    pub async fn insurance_clearing_applied(&self, a: &InsuranceClearingRow, evt: &str) -> StoreResult<()> {
        let transfer = clearing::insurance_clearing_transfer(evt, &a.hospital_code, a.insurance_share());
        self.close_insurance_clearing(
            &a.id,
            "applying",
            "applied",
            Some(evt.to_string()),
            None,
            transfer.amount.is_positive().then_some(transfer),
        )
        .await
    }

    /// The center refused (its settlements differ): kept with its reason; a later run applies again.
    pub async fn insurance_clearing_refused(&self, id: &str, note: &str) -> StoreResult<()> {
        self.close_insurance_clearing(id, "applying", "refused", None, Some(note.to_string()), None).await
    }

    /// Writes the withdrawal's msgid before its 3204.
    pub async fn begin_insurance_clearing_withdrawal(&self, id: &str, msgid: &str) -> StoreResult<()> {
        let (id, msgid, now) = (id.to_string(), msgid.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "UPDATE insurance_clearings SET state = 'withdrawing', withdraw_msgid = $2, updated_at = $3 WHERE id = $1 AND state = 'applied'",
                )
                .bind(id)
                .bind(msgid)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// The center withdrew it: the transfer reversed, together.
    pub async fn insurance_clearing_withdrawn(&self, a: &InsuranceClearingRow) -> StoreResult<()> {
        let evt = a.clr_appy_evt_id.clone().unwrap_or_default();
        let reversal = clearing::insurance_clearing_withdrawal(&evt, &a.hospital_code, a.insurance_share());
        self.close_insurance_clearing(
            &a.id,
            "withdrawing",
            "withdrawn",
            a.clr_appy_evt_id.clone(),
            None,
            reversal.amount.is_positive().then_some(reversal),
        )
        .await
    }

    /// The center refused the withdrawal: the application stands.
    pub async fn insurance_clearing_withdrawal_refused(&self, id: &str, note: &str) -> StoreResult<()> {
        let row = self.insurance_clearing(id).await?;
        let evt = row.and_then(|r| r.clr_appy_evt_id);
        self.close_insurance_clearing(id, "withdrawing", "applied", evt, Some(note.to_string()), None).await
    }

    async fn close_insurance_clearing(
        &self,
        id: &str,
        from: &'static str,
        to: &'static str,
        evt: Option<String>,
        note: Option<String>,
        transfer: Option<wugan_domain::ledger::Transfer>,
    ) -> StoreResult<()> {
        let (id, now) = (id.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                let changed = query(
                    "UPDATE insurance_clearings SET state = $3, clr_appy_evt_id = $4, note = $5, updated_at = $6 WHERE id = $1 AND state = $2",
                )
                .bind(&id)
                .bind(from)
                .bind(to)
                .bind(evt)
                .bind(note)
                .bind(&now)
                .execute(&mut *c)
                .await?
                .rows_affected();
                if let (1, Some(t)) = (changed, transfer) {
                    post_transfer(c, &t, &now).await?;
                }
                Ok(())
            })
        })
        .await
    }
}
