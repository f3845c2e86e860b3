//! Payout instructions (结算划付, migration 0015): written before the bank is called, closed with
//! their ledger transfer in one transaction when it answers.

use super::journal::post_transfer;
use super::{query, SqlRow, Store, StoreResult};
use wugan_domain::clearing::{self, Moved};
use wugan_domain::money::Fen;

/// One instruction as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutRow {
    /// The bank request id, `payout:{bank}:{hospital}:{date}`.
    pub id: String,
    pub bank_code: String,
    pub hospital_code: String,
    pub business_date: String,
    pub amount_fen: i64,
    /// `instructed`, `paid` or `declined`.
    pub state: String,
    pub note: Option<String>,
    /// The hospital's receiving account the instruction names (sealed; migration 0024), fixed when
    /// it is written; `None` for a seeded agreement (the bank pays its merchant record).
    pub payee_account_enc: Option<String>,
}

fn payout_of(r: &SqlRow) -> PayoutRow {
    PayoutRow {
        id: r.get("id"),
        bank_code: r.get("bank_code"),
        hospital_code: r.get("hospital_code"),
        business_date: r.get("business_date"),
        amount_fen: r.get("amount_fen"),
        state: r.get("state"),
        note: r.get("note"),
        payee_account_enc: r.get("payee_account_enc"),
    }
}

impl Store {
    /// What each bank owes each hospital from the transfers created before `before` and every
    /// payout so far (`wugan_domain::clearing::owed`).
    pub async fn owed_by_banks(&self, before: &str) -> StoreResult<std::collections::BTreeMap<clearing::Pair, Fen>> {
        let rows = query(
            "SELECT code, debit_account, credit_account, amount_fen FROM ledger_transfers \
             WHERE (code IN ('bank_share', 'hold_post', 'bank_refund') AND created_at < $1) OR code = 'bank_payout'",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        let moved: Vec<(String, String, String, i64)> =
            rows.iter().map(|r| (r.get("code"), r.get("debit_account"), r.get("credit_account"), r.get("amount_fen"))).collect();
        Ok(clearing::owed(moved.iter().map(|(code, debit, credit, amount)| Moved {
            code,
            debit_account: debit,
            credit_account: credit,
            amount: Fen(*amount),
        })))
    }

    /// The instruction of a bank, hospital and day, if one was written.
    pub async fn payout(&self, id: &str) -> StoreResult<Option<PayoutRow>> {
        let row = query(
            "SELECT id, bank_code, hospital_code, business_date, amount_fen, state, note, payee_account_enc FROM payouts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(payout_of))
    }

    /// A day's instructions, by bank and hospital.
    pub async fn payouts_of_day(&self, business_date: &str) -> StoreResult<Vec<PayoutRow>> {
        let rows = query(
            "SELECT id, bank_code, hospital_code, business_date, amount_fen, state, note, payee_account_enc FROM payouts \
             WHERE business_date = $1 ORDER BY bank_code, hospital_code",
        )
        .bind(business_date)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(payout_of).collect())
    }

    /// Instructions sent and not yet answered (a lost answer, a crash): the recovery pass sends
    /// them again under their id.
    pub async fn unanswered_payouts(&self) -> StoreResult<Vec<PayoutRow>> {
        let rows = query(
            "SELECT id, bank_code, hospital_code, business_date, amount_fen, state, note, payee_account_enc FROM payouts \
             WHERE state = 'instructed' ORDER BY business_date, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(payout_of).collect())
    }

    /// Writes a new instruction before its call; an instruction already written for the same
    /// bank, hospital and day is kept as it is (a second run of the day sends that one).
    pub async fn instruct_payout(&self, p: &PayoutRow) -> StoreResult<()> {
        let (p, now) = (p.clone(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "INSERT INTO payouts (id, bank_code, hospital_code, business_date, amount_fen, state, created_at, updated_at, \
                     payee_account_enc) VALUES ($1, $2, $3, $4, $5, 'instructed', $6, $6, $7) ON CONFLICT (id) DO NOTHING",
                )
                .bind(p.id)
                .bind(p.bank_code)
                .bind(p.hospital_code)
                .bind(p.business_date)
                .bind(p.amount_fen)
                .bind(now)
                .bind(p.payee_account_enc)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// The bank paid: the instruction is closed and the receivable moved to paid, together.
    pub async fn payout_paid(&self, p: &PayoutRow) -> StoreResult<()> {
        let (p, now) = (p.clone(), self.now());
        let transfer = clearing::payout_transfer(&p.bank_code, &p.hospital_code, &p.business_date, Fen(p.amount_fen));
        self.write(move |c| {
            Box::pin(async move {
                let changed =
                    query("UPDATE payouts SET state = 'paid', note = NULL, updated_at = $2 WHERE id = $1 AND state = 'instructed'")
                        .bind(&p.id)
                        .bind(&now)
                        .execute(&mut *c)
                        .await?
                        .rows_affected();
                if changed == 1 {
                    post_transfer(c, &transfer, &now).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// The bank refused (its book owes the hospital less): closed, nothing posted, the reason kept.
    pub async fn payout_declined(&self, id: &str, note: &str) -> StoreResult<()> {
        let (id, note, now) = (id.to_string(), note.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query("UPDATE payouts SET state = 'declined', note = $2, updated_at = $3 WHERE id = $1 AND state = 'instructed'")
                    .bind(id)
                    .bind(note)
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// An attempt whose outcome is unknown: the instruction stays open, with why.
    pub async fn payout_in_doubt(&self, id: &str, note: &str) -> StoreResult<()> {
        let (id, note, now) = (id.to_string(), note.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query("UPDATE payouts SET note = $2, updated_at = $3 WHERE id = $1 AND state = 'instructed'")
                    .bind(id)
                    .bind(note)
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }
}
