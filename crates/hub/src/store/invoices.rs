//! Invoices (migration 0009): the outbox scan, numbering without gaps, the insert, the reads.

use super::*;

/// A stored invoice. `signed_json` is the signed document as issued (the legal original); the
/// other columns are what lists and look-ups need without parsing it.
#[derive(Clone, Debug)]
pub struct InvoiceRow {
    pub id: String,
    pub hospital_code: String,
    pub settlement_id: String,
    /// `blue` or `red`.
    pub kind: String,
    pub invoice_code: String,
    pub seq: i64,
    pub number: String,
    pub check_code: String,
    pub total: Fen,
    /// The payer's name, sealed with the data key (the document holds it masked).
    pub payer_name_enc: String,
    /// For a red invoice: the id of the blue one it offsets.
    pub offsets_id: Option<String>,
    pub key_id: String,
    pub signed_json: String,
    pub issued_at: String,
}

/// Which invoice a settlement is owed, as the outbox sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvoiceDue {
    /// Settled (or settled_unpaid) and not invoiced yet.
    Blue,
    /// Cancelled after its blue invoice was issued: a red one offsets it.
    Red,
    /// A refund finished (`app/refunds.rs`): the invoice in force is red-flushed.
    RefundRed,
    /// A partial refund red-flushed: the lines kept are invoiced again.
    RefundBlue,
}

impl InvoiceDue {
    /// The settlements' `invoice_stage` before and after this invoice, and the states it is due in.
    fn claim_sql(self) -> &'static str {
        match self {
            InvoiceDue::Blue => {
                "UPDATE settlements SET invoice_stage = 1 WHERE id = $1 AND invoice_stage = 0 AND state IN ('settled', 'settled_unpaid')"
            }
            InvoiceDue::Red => "UPDATE settlements SET invoice_stage = 2 WHERE id = $1 AND invoice_stage = 1 AND state = 'cancelled'",
            InvoiceDue::RefundRed => "UPDATE refunds SET invoice_stage = 1 WHERE id = $1 AND invoice_stage = 0 AND state = 'refunded'",
            InvoiceDue::RefundBlue => {
                "UPDATE refunds SET invoice_stage = 2 WHERE id = $1 AND invoice_stage = 1 AND state = 'refunded' AND remaining_json <> '[]'"
            }
        }
    }

    /// The scan, with the same predicate as its partial index (migration 0009). SQLite is told the
    /// index: without statistics its planner prefers `settlements_by_state`, which would read every
    /// settled settlement on every pass; PostgreSQL's planner finds the partial index itself.
    fn scan_sql(self, backend: Backend) -> &'static str {
        match (self, backend) {
            (InvoiceDue::Blue, Backend::Sqlite) => {
                "SELECT id FROM settlements INDEXED BY settlements_awaiting_invoice \
                 WHERE invoice_stage = 0 AND state IN ('settled', 'settled_unpaid') ORDER BY created_at LIMIT $1"
            }
            (InvoiceDue::Blue, Backend::Postgres) => {
                "SELECT id FROM settlements WHERE invoice_stage = 0 AND state IN ('settled', 'settled_unpaid') ORDER BY created_at LIMIT $1"
            }
            (InvoiceDue::Red, Backend::Sqlite) => {
                "SELECT id FROM settlements INDEXED BY settlements_awaiting_red_flush \
                 WHERE invoice_stage = 1 AND state = 'cancelled' ORDER BY created_at LIMIT $1"
            }
            (InvoiceDue::Red, Backend::Postgres) => {
                "SELECT id FROM settlements WHERE invoice_stage = 1 AND state = 'cancelled' ORDER BY created_at LIMIT $1"
            }
            (InvoiceDue::RefundRed, _) => "SELECT id FROM refunds WHERE invoice_stage = 0 AND state = 'refunded' ORDER BY created_at LIMIT $1",
            (InvoiceDue::RefundBlue, _) => {
                "SELECT id FROM refunds WHERE invoice_stage = 1 AND state = 'refunded' AND remaining_json <> '[]' ORDER BY created_at LIMIT $1"
            }
        }
    }
}

/// What the issuer needs to know to write an invoice, given its sequence number.
pub struct InvoiceNumbering<'a> {
    pub due: InvoiceDue,
    pub settlement_id: &'a str,
    pub hospital_code: &'a str,
    pub invoice_code: &'a str,
}

/// A blue invoice issued inside the save that makes its settlement owe it (the doctor's click's
/// last save), so that one commit carries both: `build` writes and signs it given its number.
pub struct InvoiceWithin {
    pub settlement_id: String,
    pub hospital_code: String,
    pub invoice_code: String,
    pub build: Box<dyn FnOnce(i64) -> Result<InvoiceRow, String> + Send>,
}

/// Claims the settlement for `claim_sql`'s invoice and takes the code's next number; `None` when
/// the settlement does not owe it (any more).
async fn claim_and_number(
    c: &mut Conn,
    claim_sql: &'static str,
    settlement_id: &str,
    invoice_code: &str,
    hospital_code: &str,
) -> StoreResult<Option<i64>> {
    if query(claim_sql).bind(settlement_id).execute(&mut *c).await?.rows_affected() != 1 {
        return Ok(None);
    }
    Ok(Some(next_seq(c, invoice_code, hospital_code).await?))
}

/// The next number under a code: one series per code, shared by invoices, a stay's invoices and
/// deposit receipts (`invoice_sequences`), taken in the transaction that writes the document, so
/// numbers have no gaps.
pub(super) async fn next_seq(c: &mut Conn, code: &str, hospital_code: &str) -> StoreResult<i64> {
    Ok(query(
        "INSERT INTO invoice_sequences (invoice_code, hospital_code, last_seq) VALUES ($1, $2, 1) \
         ON CONFLICT (invoice_code) DO UPDATE SET last_seq = invoice_sequences.last_seq + 1 RETURNING last_seq",
    )
    .bind(code)
    .bind(hospital_code)
    .fetch_one(&mut *c)
    .await?
    .get("last_seq"))
}

/// Issues `invoice` inside the write `c` is in, under a savepoint of its own: an invoice that
/// cannot be issued undoes only itself (claim and number too, so numbers keep no gaps) and never
/// the write it rides on; the outbox issues it later. `None`: not issued here.
pub(super) async fn issue_within(c: &mut Conn, invoice: InvoiceWithin) -> StoreResult<Option<InvoiceRow>> {
    query("SAVEPOINT invoice").execute(&mut *c).await?;
    let issued: Result<Option<InvoiceRow>, String> = async {
        let claim = InvoiceDue::Blue.claim_sql();
        let numbered = claim_and_number(c, claim, &invoice.settlement_id, &invoice.invoice_code, &invoice.hospital_code).await;
        let Some(seq) = numbered.map_err(|e| e.to_string())? else { return Ok(None) };
        let row = (invoice.build)(seq)?;
        insert_invoice(c, &row).await.map_err(|e| e.to_string())?;
        Ok(Some(row))
    }
    .await;
    match issued {
        Ok(Some(row)) => {
            query("RELEASE invoice").execute(&mut *c).await?;
            Ok(Some(row))
        }
        other => {
            if let Err(e) = other {
                tracing::warn!(settlement = %invoice.settlement_id, error = %e, "invoice not issued with its settlement; the outbox will");
            }
            query("ROLLBACK TO invoice").execute(&mut *c).await?;
            query("RELEASE invoice").execute(&mut *c).await?;
            Ok(None)
        }
    }
}

/// At most this many invoices stamped with one time are listed on one page (a clock that never
/// moves could stamp more; the list then stops there, said in the API's description).
const MAX_SAME_TIME_GROUP: i64 = 10_000;

impl Store {
    /// Ids of the settlements owed an invoice of `due`'s kind, oldest first, at most `limit`.
    pub async fn settlements_awaiting_invoice(&self, due: InvoiceDue, limit: i64) -> StoreResult<Vec<String>> {
        let rows = query(due.scan_sql(self.backend)).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| r.get("id")).collect())
    }

    /// Issues one invoice in one transaction: claims the settlement (its `invoice_stage` moves on,
    /// only if it still owes this invoice), takes the code's next number, lets `write` build and
    /// sign the invoice with it, inserts it. `None` when the settlement no longer owes the invoice
    /// (another process issued it, or the settlement moved on). Any error rolls everything back,
    /// the number included: numbers have no gaps.
    pub async fn issue_invoice<E: From<StoreError> + Send + 'static>(
        &self,
        numbering: InvoiceNumbering<'_>,
        write: impl FnOnce(i64) -> Result<InvoiceRow, E> + Send + 'static,
    ) -> Result<Option<InvoiceRow>, E> {
        let (claim_sql, settlement_id) = (numbering.due.claim_sql(), numbering.settlement_id.to_string());
        let (invoice_code, hospital_code) = (numbering.invoice_code.to_string(), numbering.hospital_code.to_string());
        // An invoice that cannot be built must undo its claim and number: the job fails (its
        // savepoint rolls back) and its own error waits here for the caller.
        let refused: Arc<std::sync::Mutex<Option<E>>> = Arc::new(std::sync::Mutex::new(None));
        let refusal = refused.clone();
        let issued = self
            .write(move |c| {
                Box::pin(async move {
                    let Some(seq) = claim_and_number(c, claim_sql, &settlement_id, &invoice_code, &hospital_code).await? else {
                        return Ok(None);
                    };
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

    pub async fn invoice(&self, id: &str) -> StoreResult<Option<InvoiceRow>> {
        let row = query("SELECT * FROM invoices WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(invoice_from_row))
    }

    /// The invoice of a settlement, of one kind (`blue` or `red`).
    pub async fn invoice_of_settlement(&self, settlement_id: &str, kind: &str) -> StoreResult<Option<InvoiceRow>> {
        let row = query("SELECT * FROM invoices WHERE settlement_id = $1 AND kind = $2")
            .bind(settlement_id)
            .bind(kind)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(invoice_from_row))
    }

    /// The invoice a (code, number) pair names.
    pub async fn invoice_by_number(&self, invoice_code: &str, number: &str) -> StoreResult<Option<InvoiceRow>> {
        let Ok(seq) = number.parse::<i64>() else { return Ok(None) };
        let row = query("SELECT * FROM invoices WHERE invoice_code = $1 AND seq = $2")
            .bind(invoice_code)
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(invoice_from_row).filter(|r| r.number == number))
    }

    /// A red invoice offsetting `blue_id`, if one was issued.
    pub async fn red_invoice_of(&self, blue_id: &str) -> StoreResult<Option<InvoiceRow>> {
        let row = query("SELECT * FROM invoices WHERE offsets_id = $1").bind(blue_id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(invoice_from_row))
    }

    /// A hospital's invoices, newest first, issued before `before` (RFC 3339): a page of `limit`,
    /// and, when the page would end inside a group of invoices issued at the same time, the rest of
    /// that group too, so that the next page (`before` = the last one's time) skips none.
    /// A page of a hospital's documents, newest first; `kind` (blue, red, deposit) keeps one kind.
    pub async fn invoices_of_hospital(
        &self,
        hospital_code: &str,
        kind: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<InvoiceRow>> {
        let kind = kind.unwrap_or_default().to_string();
        let page = |before: String, at: Option<String>, limit: i64| {
            let sql = match at {
                Some(_) => {
                    "SELECT * FROM invoices WHERE hospital_code = $1 AND issued_at = $2 AND ($4 = '' OR kind = $4) \
                            ORDER BY invoice_code DESC, seq DESC LIMIT $3"
                }
                None => {
                    "SELECT * FROM invoices WHERE hospital_code = $1 AND issued_at < $2 AND ($4 = '' OR kind = $4) \
                         ORDER BY issued_at DESC, invoice_code DESC, seq DESC LIMIT $3"
                }
            };
            query(sql).bind(hospital_code.to_string()).bind(at.unwrap_or(before)).bind(limit).bind(kind.clone()).fetch_all(&self.pool)
        };
        let mut rows: Vec<InvoiceRow> =
            page(before.unwrap_or("9999").to_string(), None, limit + 1).await?.iter().map(invoice_from_row).collect();
        if rows.len() as i64 <= limit {
            return Ok(rows);
        }
        let beyond = rows.pop().map(|r| r.issued_at).unwrap_or_default();
        if rows.last().is_some_and(|last| last.issued_at == beyond) {
            // The page ends inside a group stamped alike: take the whole group (bounded).
            rows.retain(|r| r.issued_at != beyond);
            rows.extend(page(String::new(), Some(beyond), MAX_SAME_TIME_GROUP).await?.iter().map(invoice_from_row));
        }
        Ok(rows)
    }

    /// Every sequence number issued under a code, in order (the no-gaps audit).
    pub async fn invoice_seqs(&self, invoice_code: &str) -> StoreResult<Vec<i64>> {
        let rows = query("SELECT seq FROM invoices WHERE invoice_code = $1 ORDER BY seq").bind(invoice_code).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| r.get("seq")).collect())
    }

    /// A hospital's name, as invoices print it.
    pub async fn hospital_name(&self, code: &str) -> StoreResult<Option<String>> {
        Ok(self.hospital_profile(code).await?.map(|p| p.name))
    }
}

pub(super) fn invoice_from_row(r: &SqlRow) -> InvoiceRow {
    InvoiceRow {
        id: r.get("id"),
        hospital_code: r.get("hospital_code"),
        settlement_id: r.get("settlement_id"),
        kind: r.get("kind"),
        invoice_code: r.get("invoice_code"),
        seq: r.get("seq"),
        number: r.get("number"),
        check_code: r.get("check_code"),
        total: Fen(r.get("total_fen")),
        payer_name_enc: r.get("payer_name_enc"),
        offsets_id: r.get("offsets_id"),
        key_id: r.get("key_id"),
        signed_json: r.get("signed_json"),
        issued_at: r.get("issued_at"),
    }
}

pub(super) async fn insert_invoice(c: &mut Conn, row: &InvoiceRow) -> StoreResult<()> {
    query(
        "INSERT INTO invoices (id, hospital_code, settlement_id, kind, invoice_code, seq, number, check_code, total_fen, \
         payer_name_enc, offsets_id, key_id, signed_json, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&row.id)
    .bind(&row.hospital_code)
    .bind(&row.settlement_id)
    .bind(&row.kind)
    .bind(&row.invoice_code)
    .bind(row.seq)
    .bind(&row.number)
    .bind(&row.check_code)
    .bind(row.total.0)
    .bind(&row.payer_name_enc)
    .bind(row.offsets_id.clone())
    .bind(&row.key_id)
    .bind(&row.signed_json)
    .bind(&row.issued_at)
    .execute(&mut *c)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn on_sqlite_the_outbox_scan_reads_only_its_partial_index() {
        let (store, dir) = Store::in_fresh_folder("invoice-scan").await;
        for (due, index) in [(InvoiceDue::Blue, "settlements_awaiting_invoice"), (InvoiceDue::Red, "settlements_awaiting_red_flush")] {
            let sql = format!("EXPLAIN QUERY PLAN {}", due.scan_sql(Backend::Sqlite));
            let plan = query(sql).bind(200_i64).fetch_all(&store.pool).await.expect("a plan");
            let steps: Vec<String> = plan.iter().map(|r| r.get::<String, _>("detail")).collect();
            assert!(steps.iter().any(|s| s.contains(index)) && !steps.iter().any(|s| s.contains("by_state")), "{due:?}: {steps:?}");
        }
        assert!(store.settlements_awaiting_invoice(InvoiceDue::Blue, 10).await.expect("scanned").is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Seven invoices of one hospital, three of them stamped alike (a clock that did not move).
    async fn seven_invoices(store: &Store) {
        let at = ["2026-11-30T10:00:05Z", "2026-11-30T10:00:04Z", "2026-11-30T10:00:03Z", "2026-11-30T10:00:03Z", "2026-11-30T10:00:03Z"];
        let times = at.iter().chain(["2026-11-30T10:00:02Z", "2026-11-30T10:00:01Z"].iter()).copied().collect::<Vec<_>>();
        for (n, issued_at) in times.into_iter().enumerate() {
            store
                .write(move |c| {
                    Box::pin(async move {
                        query(
                            "INSERT INTO invoices (id, hospital_code, settlement_id, kind, invoice_code, seq, number, check_code, total_fen, \
                             payer_name_enc, offsets_id, key_id, signed_json, issued_at) \
                             VALUES ($1, 'H1', $1, 'blue', 'C1', $2, $3, 'x', 100, 'sealed', NULL, 'k', '{}', $4)",
                        )
                        .bind(format!("inv{n}"))
                        .bind(n as i64 + 1)
                        .bind(format!("{:010}", n + 1))
                        .bind(issued_at)
                        .execute(&mut *c)
                        .await?;
                        Ok(())
                    })
                })
                .await
                .expect("written");
        }
    }

    #[tokio::test]
    async fn paging_through_a_hospitals_invoices_skips_none_stamped_alike() {
        let (store, dir) = Store::in_fresh_folder("invoice-pages").await;
        seven_invoices(&store).await;
        let (mut seen, mut before, mut pages) = (Vec::new(), None::<String>, 0);
        loop {
            let page = store.invoices_of_hospital("H1", None, before.as_deref(), 3).await.expect("a page");
            pages += 1;
            seen.extend(page.iter().map(|r| r.id.clone()));
            match page.last() {
                Some(last) if page.len() >= 3 => before = Some(last.issued_at.clone()),
                _ => break,
            }
        }
        seen.sort();
        assert_eq!(seen, (0..7).map(|n| format!("inv{n}")).collect::<Vec<_>>(), "every invoice once, in {pages} pages");
        let _ = std::fs::remove_dir_all(dir);
    }
}
