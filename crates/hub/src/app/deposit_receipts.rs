//! Deposit receipts (押金收据 / 住院预交金收据, issue 16): for a hospital whose deposit policy is
//! `receipts`, every piece of a stay's hold (the deposit at admission, each raise) gets a signed
//! receipt, and the receipts are closed when the hold ends: recovered (收回) by the bedside
//! settlement, whose invoice states the whole charge, or released when the admission is cancelled
//! or the stay is discharged with nothing left to settle (`settled_by_interims`).
//!
//! Receipts run in their own series per hospital and year (票据代码 `YJ{year}{hospital}`,
//! docs/e-invoice.md: 预交金 is its own category of 票据, busType 07), gapless like invoices. What a
//! stage change owes is decided here ([`steps`], pure) and written with the stage (`save_stay`,
//! migration 0023); the receipt is issued from that outbox right after the step and by every
//! recovery pass, claimed and inserted in one transaction: never twice. A receipt is never
//! deleted; its closing is shown beside it (`deposit_state`), the signed document never changes.

use super::invoices::{row_of, timestamp, view_of, InvoiceView};
use super::*;
use crate::store::{DepositReceiptDue, DepositSteps, InvoiceRow};
use wugan_domain::inpatient::{InterimStep, StayStage};
use wugan_invoice::{DepositHeld, Hospital, Numbered};

/// Receipts issued per outbox pass, at most (the next pass takes the rest).
const RECEIPT_OUTBOX_BATCH: i64 = 200;
/// A patient's stay documents listed at most.
const PATIENT_STAY_DOCUMENTS_MAX: i64 = 100;

/// What a stage change means for the stay's receipts: the pieces of the hold it added, and
/// whether the hold ended (the capture at the bedside, or the release after 2404 or at a discharge
/// with nothing left to settle).
pub(crate) fn steps(stay_id: &str, from: &StayStage, to: &StayStage) -> DepositSteps {
    // Pieces are numbered over the whole stay: an interim settlement holds the rest again as new ones.
    let end = |stage: &StayStage| stage.ward().map_or(0, |w| w.piece_base + w.pieces.len());
    let before = end(from);
    let held = to.ward().map_or_else(Vec::new, |w| {
        let numbered = w.pieces.iter().enumerate().map(|(i, amount)| (w.piece_base + i, *amount));
        numbered.filter(|(k, _)| *k >= before).map(|(k, amount)| (k as i64, amount)).collect()
    });
    let settled = |s: &StayStage| matches!(s, StayStage::Settled(_) | StayStage::SettledUnpaid(_));
    let closed_by = match (from, to) {
        // An interim capture (or void) closed the hold: its receipts are recovered by that settlement.
        (StayStage::Interim(i), _) if to.ward().is_some_and(|w| w.piece_base > i.ward.piece_base) => match &i.step {
            InterimStep::Insured { setl_id, .. } => Some(format!("{stay_id}:{setl_id}")),
            _ => None,
        },
        (_, StayStage::Settled(paid) | StayStage::SettledUnpaid(paid)) if !settled(from) => Some(format!("{stay_id}:{}", paid.setl_id)),
        (_, StayStage::Cancelled) if !matches!(from, StayStage::Cancelled) => Some(RELEASED.to_string()),
        // Discharged with nothing left to settle (the interim settlements took every line): the
        // hold still open is released, not recovered.
        (_, StayStage::SettledByInterims(_)) if !matches!(from, StayStage::SettledByInterims(_)) => Some(RELEASED.to_string()),
        _ => None,
    };
    DepositSteps { held, closed_by }
}

/// `closed_by` of receipts whose hold was released without a settlement.
const RELEASED: &str = "released";

impl App {
    /// Issues the receipts owed (of one stay, or all); how many it issued.
    pub(crate) async fn deposit_receipt_outbox_pass(&self, stay_id: Option<&str>) -> usize {
        let due = match self.store.deposit_receipts_due(stay_id, RECEIPT_OUTBOX_BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "deposit receipt outbox not read");
                return 0;
            }
        };
        let mut issued = 0;
        for d in due {
            match self.issue_deposit_receipt(&d).await {
                Ok(Some(_)) => issued += 1,
                Ok(None) => {}
                Err(e) => tracing::warn!(stay = %d.stay_id, piece = d.piece, code = e.code(), error = %e, "deposit receipt not issued yet"),
            }
        }
        issued
    }

    /// Issues one owed receipt (`None`: issued meanwhile).
    pub async fn issue_deposit_receipt(&self, due: &DepositReceiptDue) -> Result<Option<InvoiceRow>, AppError> {
        let now = self.store.clock.now_utc();
        let china = crate::clock::in_china(now);
        let date = format!("{:04}-{:02}-{:02}", china.year(), china.month() as u8, china.day());
        let key = self.invoicing.keys.hospital(&due.hospital_code, &date)?;
        let code = wugan_invoice::deposit_receipt_code(china.year(), &due.hospital_code);
        let stay = self.store.stay(&due.stay_id).await?.ok_or_else(|| AppError::internal("stay vanished"))?;
        let name = self.stay_payer_name(&stay).await?;
        let hospital_name = self.store.hospital_name(&due.hospital_code).await?.unwrap_or_else(|| due.hospital_code.clone());
        let held = DepositHeld {
            hospital: Hospital { code: due.hospital_code.clone(), name: hospital_name },
            payer: mask_name(&name),
            business_id: due.business_id(),
            amount_fen: due.amount,
        };
        let payer_name_enc = self.config.data_key.seal(&name).map_err(|e| AppError::internal(e.to_string()))?;
        let (issued_at, code_on_receipt) = (timestamp(now), code.clone());
        let issued = self
            .store
            .issue_deposit_receipt(due, &code, move |seq| {
                let number = wugan_invoice::invoice_number(seq);
                let check_code = key.check_code(&code_on_receipt, &number);
                let receipt = held.receipt(Numbered { code: code_on_receipt, number, check_code, date, issued_at });
                let signed =
                    wugan_invoice::sign(receipt, &key).map_err(|e| AppError::internal(format!("the receipt cannot be signed: {e}")))?;
                row_of(&signed, seq, payer_name_enc, None)
            })
            .await?;
        if let Some(row) = &issued {
            tracing::info!(invoice = %row.id, stay = %due.stay_id, number = %row.number, "deposit receipt issued");
        }
        Ok(issued)
    }

    /// The views with each deposit receipt's standing: held, recovered (and by which invoice), released.
    pub(crate) async fn with_deposit_states(&self, mut views: Vec<InvoiceView>) -> Result<Vec<InvoiceView>, AppError> {
        for v in views.iter_mut().filter(|v| v.kind == "deposit") {
            let Some(closing) = self.store.deposit_closing(&v.id).await? else { continue };
            let (state, recovered_by_id) = match closing.closed_by.as_deref() {
                None => ("held", None),
                Some(RELEASED) => ("released", None),
                Some(settlement) => ("recovered", self.store.invoice_of_settlement(settlement, "blue").await?.map(|i| i.id)),
            };
            (v.deposit_state, v.recovered_by_id, v.closed_at) = (Some(state.into()), recovered_by_id, closing.closed_at);
        }
        Ok(views)
    }

    /// The documents of the stays of a patient and their family, newest first: the stays'
    /// invoices (blue and red) and deposit receipts, each with its standing.
    pub async fn patient_stay_documents(&self, patient_id: &str) -> Result<Vec<InvoiceView>, AppError> {
        let Some(psn_no) = self.patient_row(patient_id).await?.psn_no else { return Ok(Vec::new()) };
        let persons = self.visible_persons(&psn_no).await?;
        let mut rows = self.store.deposit_receipts_of_persons(&persons, PATIENT_STAY_DOCUMENTS_MAX).await?;
        rows.extend(self.store.stay_invoices_of_persons(&persons, PATIENT_STAY_DOCUMENTS_MAX).await?);
        rows.sort_by(|a, b| b.issued_at.cmp(&a.issued_at).then_with(|| b.invoice_code.cmp(&a.invoice_code)).then(b.seq.cmp(&a.seq)));
        rows.truncate(PATIENT_STAY_DOCUMENTS_MAX as usize);
        let views = rows.iter().map(view_of).collect::<Result<Vec<_>, _>>()?;
        self.with_deposit_states(views).await
    }
}
