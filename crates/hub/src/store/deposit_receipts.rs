//! Deposit receipts (押金收据, migration 0023): the outbox rows written with the stage that holds a
//! piece of a stay's deposit (`save_stay`, only for a hospital whose policy is `receipts`), their
//! closing (收回 by the settlement, or released) in the stage's own transaction, the issue (claim,
//! number in the receipts' own series, insert: one transaction) and the reads.

use super::invoices::{insert_invoice, invoice_from_row};
use super::*;

/// What a stay's stage change means for its deposit receipts (`app::deposit_receipts::steps`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DepositSteps {
    /// Pieces of the hold the change added: (index, amount); the deposit is piece 0.
    pub held: Vec<(i64, Fen)>,
    /// The hold ended: the settlement (`{stay}:{setl_id}`) that recovers the receipts, or `released`.
    pub closed_by: Option<String>,
}

/// A receipt owed and not yet issued.
#[derive(Clone, Debug)]
pub struct DepositReceiptDue {
    pub stay_id: String,
    pub piece: i64,
    pub hospital_code: String,
    pub amount: Fen,
}

impl DepositReceiptDue {
    /// The receipt's 业务流水号: the stay and the piece of its hold.
    pub fn business_id(&self) -> String {
        format!("{}:hold:{}", self.stay_id, self.piece)
    }
}

/// How a receipt's deposit ended, if it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepositClosing {
    pub closed_by: Option<String>,
    pub closed_at: Option<String>,
}

/// Writes the receipts a stage change owes (only when the hospital's policy is `receipts`, read in
/// the same transaction) and closes the open ones when the hold ended.
pub(super) async fn owe_deposit_receipts(c: &mut Conn, s: &StayRow, steps: &DepositSteps, now: &str) -> StoreResult<()> {
    for (piece, amount) in &steps.held {
        query(
            "INSERT INTO deposit_receipts (stay_id, piece, hospital_code, amount_fen, created_at) \
             SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM hospitals WHERE code = $3 AND deposit_policy = 'receipts') \
             ON CONFLICT (stay_id, piece) DO NOTHING",
        )
        .bind(&s.id)
        .bind(*piece)
        .bind(&s.hospital_code)
        .bind(amount.0)
        .bind(now)
        .execute(&mut *c)
        .await?;
    }
    if let Some(closed_by) = &steps.closed_by {
        query("UPDATE deposit_receipts SET closed_by = $1, closed_at = $2 WHERE stay_id = $3 AND closed_by IS NULL")
            .bind(closed_by)
            .bind(now)
            .bind(&s.id)
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

impl Store {
    /// The receipts owed, oldest first; only those of `stay_id` when one is named.
    pub async fn deposit_receipts_due(&self, stay_id: Option<&str>, limit: i64) -> StoreResult<Vec<DepositReceiptDue>> {
        let rows = query(
            "SELECT stay_id, piece, hospital_code, amount_fen FROM deposit_receipts WHERE invoice_id IS NULL \
             AND ($1 = '' OR stay_id = $1) ORDER BY created_at, piece LIMIT $2",
        )
        .bind(stay_id.unwrap_or("").to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| DepositReceiptDue {
                stay_id: r.get("stay_id"),
                piece: r.get("piece"),
                hospital_code: r.get("hospital_code"),
                amount: Fen(r.get("amount_fen")),
            })
            .collect())
    }

    /// Issues one receipt: claims its row, takes the receipt code's next number, lets `write` build
    /// and sign it, inserts it and links the row to it. `None` when the row was claimed already.
    /// An error rolls everything back, the number included.
    pub async fn issue_deposit_receipt<E: From<StoreError> + Send + 'static>(
        &self,
        due: &DepositReceiptDue,
        receipt_code: &str,
        write: impl FnOnce(i64) -> Result<InvoiceRow, E> + Send + 'static,
    ) -> Result<Option<InvoiceRow>, E> {
        let (stay_id, piece) = (due.stay_id.clone(), due.piece);
        let (receipt_code, hospital_code) = (receipt_code.to_string(), due.hospital_code.clone());
        let refused: Arc<std::sync::Mutex<Option<E>>> = Arc::new(std::sync::Mutex::new(None));
        let refusal = refused.clone();
        let issued = self
            .write(move |c| {
                Box::pin(async move {
                    let claim = "UPDATE deposit_receipts SET invoice_id = '' WHERE stay_id = $1 AND piece = $2 AND invoice_id IS NULL";
                    if query(claim).bind(&stay_id).bind(piece).execute(&mut *c).await?.rows_affected() != 1 {
                        return Ok(None);
                    }
                    let seq = super::invoices::next_seq(c, &receipt_code, &hospital_code).await?;
                    let row = match write(seq) {
                        Ok(row) => row,
                        Err(e) => {
                            *refusal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(e);
                            return Err(StoreError::NotCommitted("the receipt could not be built".into()));
                        }
                    };
                    insert_invoice(c, &row).await?;
                    query("UPDATE deposit_receipts SET invoice_id = $1 WHERE stay_id = $2 AND piece = $3")
                        .bind(&row.id)
                        .bind(&stay_id)
                        .bind(piece)
                        .execute(&mut *c)
                        .await?;
                    Ok(Some(row))
                })
            })
            .await;
        let refusal = refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        match refusal {
            Some(e) => Err(e),
            None => issued.map_err(E::from),
        }
    }

    /// How the deposit of an issued receipt ended (`None`: not a receipt).
    pub async fn deposit_closing(&self, invoice_id: &str) -> StoreResult<Option<DepositClosing>> {
        let row = query("SELECT closed_by, closed_at FROM deposit_receipts WHERE invoice_id = $1")
            .bind(invoice_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| DepositClosing { closed_by: r.get("closed_by"), closed_at: r.get("closed_at") }))
    }

    /// The receipts of the stays of these persons, newest first.
    pub async fn deposit_receipts_of_persons(&self, psn_nos: &[String], limit: i64) -> StoreResult<Vec<InvoiceRow>> {
        let mut out = Vec::new();
        for psn_no in psn_nos {
            let rows = query(
                "SELECT i.* FROM invoices i JOIN deposit_receipts d ON d.invoice_id = i.id JOIN stays s ON s.id = d.stay_id \
                 WHERE s.psn_no = $1 ORDER BY i.issued_at DESC LIMIT $2",
            )
            .bind(psn_no)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            out.extend(rows.iter().map(invoice_from_row));
        }
        out.sort_by(|a, b| b.issued_at.cmp(&a.issued_at));
        out.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(out)
    }

    /// Sets a hospital's deposit policy; false when there is no such hospital.
    pub async fn set_deposit_policy(&self, code: &str, policy: &'static str) -> StoreResult<bool> {
        let code = code.to_string();
        let n = self
            .write(move |c| {
                Box::pin(async move {
                    let sql = "UPDATE hospitals SET deposit_policy = $1 WHERE code = $2";
                    Ok(query(sql).bind(policy).bind(code).execute(&mut *c).await?.rows_affected())
                })
            })
            .await?;
        Ok(n == 1)
    }
}
