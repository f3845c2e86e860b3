//! The invoices a refund owes (`app/refunds.rs`): the invoice in force (the click's, or the last
//! refund's reissue) is red-flushed (冲红), and for a partial refund the lines kept are invoiced
//! again (a new blue invoice with the re-settlement's split), each under its own number from the
//! same gapless sequence (`store::issue_invoice`). Both carry the refund's id as their 业务流水号,
//! and the refund's `invoice_stage` (0 → 1 → 2) is their claim, so each is issued once. Issued
//! right after the refund ends, and by the recovery pass for any left behind.

use super::invoices::{category_of, parse_signed, row_of, timestamp};
use super::*;
use crate::store::{InvoiceDue, InvoiceNumbering, InvoiceRow, RefundRow};
use wugan_domain::refund::{RefundStage, Refunded};
use wugan_invoice::{Invoice, Numbered, Split};

/// Refunds whose invoices one recovery pass issues at most.
const INVOICE_BATCH: i64 = 100;

impl App {
    /// Issues what a finished refund owes; never fails the refund (the recovery pass retries).
    pub(super) async fn invoice_refund(&self, r: &RefundRow) {
        for due in [InvoiceDue::RefundRed, InvoiceDue::RefundBlue] {
            if let Err(e) = self.issue_for_refund(due, r).await {
                tracing::warn!(refund = %r.id, code = e.code(), error = %e, "refund invoice not issued yet; the recovery pass will");
            }
        }
    }

    /// The recovery pass: every refund invoice owed, red-flushes first.
    pub(super) async fn refund_invoice_pass(&self) -> Result<usize, AppError> {
        let mut issued = 0;
        for due in [InvoiceDue::RefundRed, InvoiceDue::RefundBlue] {
            for id in self.store.settlements_awaiting_invoice(due, INVOICE_BATCH).await? {
                let Some(r) = self.store.refund(&id).await? else { continue };
                match self.issue_for_refund(due, &r).await {
                    Ok(Some(_)) => issued += 1,
                    Ok(None) => {}
                    Err(e) => tracing::warn!(refund = %r.id, code = e.code(), error = %e, "refund invoice not issued yet"),
                }
            }
        }
        Ok(issued)
    }

    /// The refund's red-flush, or its reissue; `None` when not owed (yet): the invoice it offsets
    /// is not issued yet, or this one is.
    async fn issue_for_refund(&self, due: InvoiceDue, r: &RefundRow) -> Result<Option<InvoiceRow>, AppError> {
        let RefundStage::Refunded(done) = super::refunds::stage_of(r)? else { return Ok(None) };
        let Some(in_force) = self.invoice_in_force(r).await? else { return Ok(None) };
        let kind = if due == InvoiceDue::RefundRed { "red" } else { "blue" };
        if self.store.invoice_of_settlement(&r.id, kind).await?.is_some() {
            return Ok(None);
        }
        let blue: Invoice = parse_signed(&in_force.signed_json)?.invoice;
        let template = match due {
            InvoiceDue::RefundRed => blue,
            _ => match self.reissue_template(r, &done, blue).await? {
                Some(template) => template,
                None => return Ok(None),
            },
        };
        let now = self.store.clock.now_utc();
        let china = crate::clock::in_china(now);
        let date = format!("{:04}-{:02}-{:02}", china.year(), china.month() as u8, china.day());
        let key = self.invoicing.keys.hospital(&r.hospital_code, &date)?;
        let code = wugan_invoice::invoice_code(china.year(), &r.hospital_code);
        let numbering = InvoiceNumbering { due, settlement_id: &r.id, hospital_code: &r.hospital_code, invoice_code: &code };
        let (refund_id, payer, offsets) =
            (r.id.clone(), in_force.payer_name_enc.clone(), (due == InvoiceDue::RefundRed).then(|| in_force.id.clone()));
        let (issued_at, code_on_invoice) = (timestamp(now), code.clone());
        let issued = self
            .store
            .issue_invoice(numbering, move |seq| {
                let number = wugan_invoice::invoice_number(seq);
                let check_code = key.check_code(&code_on_invoice, &number);
                let numbered = Numbered { code: code_on_invoice, number, check_code, date, issued_at };
                let invoice = match due {
                    InvoiceDue::RefundRed => Invoice { settlement_id: refund_id, ..template.red_flush(numbered) },
                    _ => Invoice {
                        code: numbered.code,
                        number: numbered.number,
                        check_code: numbered.check_code,
                        date: numbered.date,
                        issued_at: numbered.issued_at,
                        settlement_id: refund_id,
                        ..template
                    },
                };
                let signed =
                    wugan_invoice::sign(invoice, &key).map_err(|e| AppError::internal(format!("the invoice cannot be signed: {e}")))?;
                row_of(&signed, seq, payer, offsets)
            })
            .await?;
        if let Some(row) = &issued {
            tracing::info!(refund = %r.id, invoice = %row.id, number = %row.number, kind = %row.kind, "refund invoice issued");
        }
        Ok(issued)
    }

    /// The blue invoice this refund offsets: the reissue of the visit's last finished refund
    /// before it, or the click's own.
    async fn invoice_in_force(&self, r: &RefundRow) -> Result<Option<InvoiceRow>, AppError> {
        let refunds = self.store.refunds_of_visit(&r.visit_id).await?;
        let before = refunds.iter().take_while(|x| x.id != r.id).filter(|x| x.state == "refunded").last();
        let subject = before.map_or(r.settlement_id.as_str(), |b| b.id.as_str());
        Ok(self.store.invoice_of_settlement(subject, "blue").await?)
    }

    /// The lines kept, invoiced again with the re-settlement's split; `None` for a full refund or
    /// before the red-flush is issued.
    async fn reissue_template(&self, r: &RefundRow, done: &Refunded, blue: Invoice) -> Result<Option<Invoice>, AppError> {
        let Some(again) = &done.resettled else { return Ok(None) };
        if self.store.invoice_of_settlement(&r.id, "red").await?.is_none() {
            return Ok(None);
        }
        let lines = self.store.fee_lines(&r.visit_id).await?;
        let kept: Vec<(String, Fen)> = lines
            .iter()
            .filter(|l| r.remaining.contains(&l.feedetl_sn))
            .map(|l| (category_of(l.result_json.as_deref()), l.amount))
            .collect();
        let bank = done.original.captured - done.bank_refund;
        // Insurance only: the invoice replaced says the cash was collected at the hospital; so
        // is the kept lines' cash.
        let at_hospital = if blue.split.hospital_collected_fen.is_positive() { again.split.cash - bank } else { Fen::ZERO };
        Ok(Some(Invoice {
            items: wugan_invoice::items_by_category(&kept),
            total_fen: again.split.medfee,
            split: Split {
                fund_fen: again.split.fund,
                personal_account_fen: again.split.personal_account,
                self_paid_fen: again.split.cash - bank - at_hospital,
                bank_fen: bank,
                hospital_part_fen: again.split.hospital_part,
                hospital_collected_fen: at_hospital,
            },
            offsets: None,
            ..blue
        }))
    }
}
