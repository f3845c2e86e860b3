//! The patient's e-invoices (医疗收费电子票据): the invoice of their own visits and their family
//! members', as the hospital and the operator see it (HTML, PDF); another's answers as missing.

use super::App;
use crate::error::AppError;

impl App {
    /// The blue invoice of a settlement, if one was issued.
    pub async fn invoice_id_of_settlement(&self, settlement_id: &str) -> Result<Option<String>, AppError> {
        Ok(self.store.invoice_of_settlement(settlement_id, "blue").await?.map(|i| i.id))
    }

    /// The invoice that stands for a visit's settlement now: after refunds, the last one's reissue
    /// for the lines kept (or its red offset, when nothing was kept); else the click's own.
    pub async fn invoice_in_force_of_settlement(&self, settlement_id: &str, visit_id: &str) -> Result<Option<String>, AppError> {
        let refunds = self.store.refunds_of_visit(visit_id).await?;
        for refund in refunds.iter().rev().filter(|r| r.settlement_id == settlement_id && r.state == "refunded") {
            for kind in ["blue", "red"] {
                if let Some(invoice) = self.store.invoice_of_settlement(&refund.id, kind).await? {
                    return Ok(Some(invoice.id));
                }
            }
        }
        self.invoice_id_of_settlement(settlement_id).await
    }

    /// The invoice's id, when it is of a visit the patient may see.
    async fn patient_invoice_id(&self, patient_id: &str, invoice_id: &str) -> Result<String, AppError> {
        let hidden = || AppError::not_found("invoice_not_found", format!("no invoice {invoice_id}"));
        let Some(psn_no) = self.patient_row(patient_id).await?.psn_no else {
            return Err(hidden());
        };
        let invoice = self.store.invoice(invoice_id).await?.ok_or_else(hidden)?;
        // A stay's invoice (app/stay_invoices.rs) names `{stay}:{setl_id}`, not a visit's settlement.
        if self.is_stay_invoice_of(&invoice, &self.visible_persons(&psn_no).await?).await? {
            return Ok(invoice.id);
        }
        // A click's invoice names its settlement; a refund's red offset and its reissue, the refund.
        let visit_id = match self.store.settlement(&invoice.settlement_id).await? {
            Some(settlement) => settlement.visit_id,
            None => self.store.refund(&invoice.settlement_id).await?.ok_or_else(hidden)?.visit_id,
        };
        let visit = self.store.visit(&visit_id).await?.ok_or_else(hidden)?;
        if !self.visible_persons(&psn_no).await?.contains(&visit.psn_no) {
            return Err(hidden());
        }
        Ok(invoice.id)
    }

    pub async fn patient_invoice_html(&self, patient_id: &str, invoice_id: &str) -> Result<String, AppError> {
        let id = self.patient_invoice_id(patient_id, invoice_id).await?;
        self.invoice_html(None, &id).await
    }

    pub async fn patient_invoice_pdf(&self, patient_id: &str, invoice_id: &str) -> Result<Vec<u8>, AppError> {
        let id = self.patient_invoice_id(patient_id, invoice_id).await?;
        self.invoice_pdf(None, &id).await
    }
}
