//! The invoices a stay's bedside settlements owe (migration 0018): the outbox rows written with the
//! stage that owes them (`save_stay`), the scan, and the issue, which claims its row, numbers the
//! invoice and inserts it in one transaction, so a stay's settlement is invoiced once, without gaps
//! in the numbers (the same shape as `issue_invoice` for visits; the same `invoice_sequences`).

use super::invoices::insert_invoice;
use super::*;

/// An invoice a stay's settlement owes, as the stage change that owes it tells the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StayInvoiceOwed {
    pub setl_id: String,
    /// `blue` (settled at the bedside) or `red` (the settlement reversed by 2305).
    pub kind: &'static str,
    /// The settlement's facts (`inpatient::StayPaid` as JSON): the stay's stage moves on.
    pub paid_json: String,
}

/// An outbox row not yet issued.
#[derive(Clone, Debug)]
pub struct StayInvoiceDue {
    pub stay_id: String,
    pub setl_id: String,
    pub kind: String,
    pub hospital_code: String,
    pub paid_json: String,
}

impl StayInvoiceDue {
    /// The name the invoice gives the settlement it is for: the stay and insurance's settlement.
    pub fn settlement_ref(&self) -> String {
        format!("{}:{}", self.stay_id, self.setl_id)
    }
}

/// Writes what a stage change owes, in the stage's transaction; written once per settlement and kind.
pub(super) async fn owe_stay_invoice(c: &mut Conn, s: &StayRow, owed: &StayInvoiceOwed, now: &str) -> StoreResult<()> {
    query(
        "INSERT INTO stay_invoice_outbox (stay_id, setl_id, kind, hospital_code, paid_json, created_at, issued) \
         VALUES ($1, $2, $3, $4, $5, $6, 0) ON CONFLICT (stay_id, setl_id, kind) DO NOTHING",
    )
    .bind(&s.id)
    .bind(&owed.setl_id)
    .bind(owed.kind)
    .bind(&s.hospital_code)
    .bind(&owed.paid_json)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

impl Store {
    /// The stay invoices owed, oldest first (a blue one before the red that offsets it); only
    /// those of `stay_id` when one is named (the hook right after a click).
    pub async fn stay_invoices_due(&self, stay_id: Option<&str>, limit: i64) -> StoreResult<Vec<StayInvoiceDue>> {
        let rows = query(
            "SELECT stay_id, setl_id, kind, hospital_code, paid_json FROM stay_invoice_outbox WHERE issued = 0 \
             AND ($1 = '' OR stay_id = $1) ORDER BY created_at, kind LIMIT $2",
        )
        .bind(stay_id.unwrap_or("").to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| StayInvoiceDue {
                stay_id: r.get("stay_id"),
                setl_id: r.get("setl_id"),
                kind: r.get("kind"),
                hospital_code: r.get("hospital_code"),
                paid_json: r.get("paid_json"),
            })
            .collect())
    }

    /// Issues one stay invoice: claims its outbox row, takes the code's next number, lets `write`
    /// build and sign the invoice, inserts it. `None` when the row was claimed already. An error
    /// rolls everything back, the number included.
    pub async fn issue_stay_invoice<E: From<StoreError> + Send + 'static>(
        &self,
        due: &StayInvoiceDue,
        invoice_code: &str,
        write: impl FnOnce(i64) -> Result<InvoiceRow, E> + Send + 'static,
    ) -> Result<Option<InvoiceRow>, E> {
        let (stay_id, setl_id, kind) = (due.stay_id.clone(), due.setl_id.clone(), due.kind.clone());
        let (invoice_code, hospital_code) = (invoice_code.to_string(), due.hospital_code.clone());
        let refused: Arc<std::sync::Mutex<Option<E>>> = Arc::new(std::sync::Mutex::new(None));
        let refusal = refused.clone();
        let issued = self
            .write(move |c| {
                Box::pin(async move {
                    let claimed =
                        query("UPDATE stay_invoice_outbox SET issued = 1 WHERE stay_id = $1 AND setl_id = $2 AND kind = $3 AND issued = 0")
                            .bind(stay_id)
                            .bind(setl_id)
                            .bind(kind)
                            .execute(&mut *c)
                            .await?;
                    if claimed.rows_affected() != 1 {
                        return Ok(None);
                    }
                    let seq = super::invoices::next_seq(c, &invoice_code, &hospital_code).await?;
                    let row = match write(seq) {
                        Ok(row) => row,
                        Err(e) => {
                            *refusal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(e);
                            return Err(StoreError::NotCommitted("the invoice could not be built".into()));
                        }
                    };
                    insert_invoice(c, &row).await?;
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

    /// The invoices of the stays of these persons (the patient's and their family's), newest first.
    pub async fn stay_invoices_of_persons(&self, psn_nos: &[String], limit: i64) -> StoreResult<Vec<InvoiceRow>> {
        let mut out = Vec::new();
        for psn_no in psn_nos {
            let rows = query(
                "SELECT i.* FROM invoices i JOIN stay_invoice_outbox o ON i.settlement_id = o.stay_id || ':' || o.setl_id AND i.kind = o.kind \
                 JOIN stays s ON s.id = o.stay_id WHERE s.psn_no = $1 ORDER BY i.issued_at DESC LIMIT $2",
            )
            .bind(psn_no)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            out.extend(rows.iter().map(super::invoices::invoice_from_row));
        }
        out.sort_by(|a, b| b.issued_at.cmp(&a.issued_at));
        out.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(out)
    }
}
