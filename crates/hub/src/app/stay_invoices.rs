//! The e-invoices of inpatient stays (住院收费票据, issue 16): a blue invoice for every bedside
//! settlement (items by category from the stay's fee lines, the split), a red one (冲红) when 2305
//! reverses it. What a stay owes is written to its outbox with the stage that owes it
//! (`owed_by`, saved by `save_stay`), and issued right after the click and by the same recovery
//! pass as the visits' invoices (`invoice_outbox_pass` calls `stay_invoice_outbox_pass`); the
//! claim of the outbox row and the invoice's insert share one transaction: never twice.
//!
//! The invoice names its settlement `{stay_id}:{setl_id}`: a stay settled again after a
//! cancellation is a new settlement with its own invoice. An interim settlement (中途结算) is a
//! settlement of its own too: its invoice lists the lines it settled, and the final one the rest;
//! the ward's cancellation of it (2305 in the ward) owes its red invoice the same way.

use super::invoices::{parse_signed, row_of, timestamp, view_of, InvoiceView};
use super::*;
use crate::store::{InvoiceRow, StayInvoiceDue, StayInvoiceOwed, StayRow};
use wugan_domain::inpatient::{InterimCancel, InterimPaid, StayPaid, StayStage, Ward};
use wugan_invoice::{Hospital, Invoice, Kind, Numbered, SignedInvoice, Split};

/// Stay invoices issued per outbox pass, at most (the next pass takes the rest).
const STAY_OUTBOX_BATCH: i64 = 200;
/// A patient's stay invoices listed at most.
const PATIENT_STAY_INVOICES_MAX: i64 = 100;

/// The invoices a stage change owes: a blue one when a bedside click reaches its settlement, a red
/// one when 2305 reversed a settled one. Nothing for any other change (a refused cancellation that
/// leaves the stay settled owes nothing new).
pub(crate) fn owed_by(from: &StayStage, to: &StayStage) -> Result<Vec<StayInvoiceOwed>, AppError> {
    let owed = |kind: &'static str, paid: &StayPaid| -> Result<StayInvoiceOwed, AppError> {
        let paid_json =
            serde_json::to_string(paid).map_err(|e| AppError::internal(format!("a stay's settlement cannot be written: {e}")))?;
        Ok(StayInvoiceOwed { setl_id: paid.setl_id.clone(), kind, paid_json })
    };
    let was_settled = matches!(from, StayStage::Settled(_) | StayStage::SettledUnpaid(_) | StayStage::CancellingSettlement { .. });
    match (from, to) {
        (_, StayStage::Settled(paid) | StayStage::SettledUnpaid(paid)) if !was_settled => Ok(vec![owed("blue", paid)?]),
        // An interim settlement booked: the ward it leaves keeps it as its last.
        (StayStage::Interim(interim), StayStage::InWard(ward)) if ward.interims.len() > interim.ward.interims.len() => {
            let Some(last) = ward.interims.last() else { return Ok(Vec::new()) };
            Ok(vec![owed("blue", &interim_paid(ward, last))?])
        }
        (
            StayStage::CancellingSettlement { paid, insurance_reversed: false },
            StayStage::CancellingSettlement { insurance_reversed: true, .. } | StayStage::SettlementCancelled(_),
        ) => Ok(vec![owed("red", paid)?]),
        // 2305 reversed an interim settlement in the ward (`stay_interim_cancel.rs`): red, in the
        // commit that books it (not when insurance refused it: the stay is back in the ward as it was).
        (StayStage::CancellingInterim(c), to) if !c.insurance_reversed && interim_reversed(c, to) => match c.paid() {
            Some(interim) => Ok(vec![owed("red", &interim_paid(&c.ward, interim))?]),
            None => Ok(Vec::new()),
        },
        _ => Ok(Vec::new()),
    }
}

/// An interim settlement's facts as its invoice reads them: the ward that holds it, and its split.
fn interim_paid(ward: &Ward, interim: &InterimPaid) -> StayPaid {
    StayPaid {
        ward: ward.clone(),
        setl_id: interim.setl_id.clone(),
        split: interim.split,
        captured: interim.captured,
        decline_code: interim.decline_code.clone(),
    }
}

/// The step from `c` booked its 2305: the refund is next, or (nothing to refund) it is cancelled.
fn interim_reversed(c: &InterimCancel, to: &StayStage) -> bool {
    match to {
        StayStage::CancellingInterim(next) => next.insurance_reversed,
        StayStage::InWard(w) => w.undone.cancelled_interims.iter().any(|i| i.n == c.n),
        _ => false,
    }
}

impl App {
    /// The hook after a bedside click or a 2305: issues what the stay owes now. Never fails the
    /// ward's request: what goes wrong is logged and left to the outbox pass.
    pub(crate) async fn invoice_stay_after(&self, stay_id: &str) {
        self.deposit_receipt_outbox_pass(Some(stay_id)).await;
        self.stay_invoice_outbox_pass(Some(stay_id)).await;
    }

    /// Issues the stay invoices owed (of one stay, or all); how many it issued.
    pub(crate) async fn stay_invoice_outbox_pass(&self, stay_id: Option<&str>) -> usize {
        let due = match self.store.stay_invoices_due(stay_id, STAY_OUTBOX_BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "stay invoice outbox not read");
                return 0;
            }
        };
        let mut issued = 0;
        for d in due {
            match self.issue_stay_invoice(&d).await {
                Ok(Some(_)) => issued += 1,
                Ok(None) => {}
                Err(e) => tracing::warn!(stay = %d.stay_id, kind = %d.kind, code = e.code(), error = %e, "stay invoice not issued yet"),
            }
        }
        issued
    }

    /// Issues one owed stay invoice (`None`: issued meanwhile, or a red one whose blue one is not
    /// issued yet, which the same pass issues first).
    pub async fn issue_stay_invoice(&self, due: &StayInvoiceDue) -> Result<Option<InvoiceRow>, AppError> {
        let settlement = due.settlement_ref();
        let now = self.store.clock.now_utc();
        let china = crate::clock::in_china(now);
        let date = format!("{:04}-{:02}-{:02}", china.year(), china.month() as u8, china.day());
        let key = self.invoicing.keys.hospital(&due.hospital_code, &date)?;
        let code = wugan_invoice::invoice_code(china.year(), &due.hospital_code);
        let (template, payer_name_enc, offsets_id) = match due.kind.as_str() {
            "blue" => {
                let (invoice, payer) = self.stay_blue_template(due).await?;
                (invoice, payer, None)
            }
            _ => {
                let Some(blue) = self.store.invoice_of_settlement(&settlement, "blue").await? else { return Ok(None) };
                let original: SignedInvoice = parse_signed(&blue.signed_json)?;
                (original.invoice, blue.payer_name_enc.clone(), Some(blue.id))
            }
        };
        let (issued_at, code_on_invoice, red) = (timestamp(now), code.clone(), offsets_id.is_some());
        let issued = self
            .store
            .issue_stay_invoice(due, &code, move |seq| {
                let number = wugan_invoice::invoice_number(seq);
                let numbered =
                    Numbered { check_code: key.check_code(&code_on_invoice, &number), code: code_on_invoice, number, date, issued_at };
                let invoice = super::invoices::numbered_invoice(template, numbered, red);
                let signed =
                    wugan_invoice::sign(invoice, &key).map_err(|e| AppError::internal(format!("the invoice cannot be signed: {e}")))?;
                row_of(&signed, seq, payer_name_enc, offsets_id)
            })
            .await?;
        if let Some(row) = &issued {
            tracing::info!(invoice = %row.id, stay = %due.stay_id, number = %row.number, kind = %row.kind, "stay invoice issued");
        }
        Ok(issued)
    }

    /// The blue invoice of a stay's settlement, not yet numbered; and the payer's sealed name.
    async fn stay_blue_template(&self, due: &StayInvoiceDue) -> Result<(Invoice, String), AppError> {
        let paid: StayPaid =
            serde_json::from_str(&due.paid_json).map_err(|e| AppError::internal(format!("a stay's owed invoice cannot be read: {e}")))?;
        let stay = self.store.stay(&due.stay_id).await?.ok_or_else(|| AppError::internal("stay vanished"))?;
        let name = self.stay_payer_name(&stay).await?;
        let hospital_name = self.store.hospital_name(&stay.hospital_code).await?.unwrap_or_else(|| stay.hospital_code.clone());
        // An interim settlement's lines, or — the final one — those no interim settlement took.
        let interim = paid.ward.interims.iter().find(|i| i.setl_id == paid.setl_id);
        let settled_here = |sn: &String| match interim {
            Some(i) => i.lines.contains(sn),
            None => !paid.ward.interims.iter().any(|i| i.lines.contains(sn)),
        };
        let lines: Vec<(String, Fen)> = self
            .store
            .stay_fee_lines(&stay.id)
            .await?
            .into_iter()
            .filter(|l| l.uploaded && settled_here(&l.feedetl_sn))
            .map(|l| (l.category.unwrap_or_else(|| "14".into()), l.amount))
            .collect();
        let split = paid.split;
        let mut items = wugan_invoice::items_by_category(&lines);
        if items.iter().map(|i| i.amount_fen).sum::<Fen>() != split.medfee || items.iter().any(|i| i.amount_fen.is_negative()) {
            // Insurance settled another total than the lines on record (or a category was returned
            // whole): the invoice still states what was charged.
            tracing::warn!(stay = %stay.id, "stay fee lines do not add up to the settled total; one line of other fees");
            items = wugan_invoice::items_by_category(&[("14".to_string(), split.medfee)]);
        }
        let invoice = Invoice {
            kind: Kind::Blue,
            code: String::new(),
            number: String::new(),
            check_code: String::new(),
            date: String::new(),
            issued_at: String::new(),
            hospital: Hospital { code: stay.hospital_code.clone(), name: hospital_name },
            payer: mask_name(&name),
            settlement_id: due.settlement_ref(),
            // 住院: the inpatient invoice (business type 01).
            bus_type: "01".into(),
            items,
            total_fen: split.medfee,
            split: Split {
                fund_fen: split.fund,
                personal_account_fen: split.personal_account,
                self_paid_fen: paid.unpaid(),
                bank_fen: paid.captured,
                hospital_part_fen: split.hospital_part,
                hospital_collected_fen: Fen::ZERO,
            },
            offsets: None,
        };
        Ok((invoice, self.config.data_key.seal(&name).map_err(|e| AppError::internal(e.to_string()))?))
    }

    /// The patient's name: the agreement holder's, or the family member's the stay is for.
    pub(super) async fn stay_payer_name(&self, stay: &StayRow) -> Result<String, AppError> {
        let agreement = self.store.agreement(&stay.agreement_id).await?.ok_or_else(|| AppError::internal("agreement vanished"))?;
        let sealed = if agreement.psn_no == stay.psn_no {
            agreement.name_enc
        } else {
            let links = self.store.family_links(&agreement.id).await?;
            links.into_iter().find(|l| l.member_psn_no == stay.psn_no).map(|l| l.member_name_enc).unwrap_or(agreement.name_enc)
        };
        self.config.data_key.open(&sealed).map_err(|e| AppError::internal(e.to_string()))
    }

    /// The invoices of a stay's settlements, oldest first (blue, and red for a reversed one).
    pub async fn stay_invoices(&self, hospital: &str, stay_id: &str) -> Result<Vec<InvoiceView>, AppError> {
        let stay = match self.store.stay(stay_id).await? {
            Some(s) if s.hospital_code == hospital => s,
            _ => return Err(AppError::not_found("stay_not_found", format!("no stay {stay_id} at this hospital"))),
        };
        let rows = self.store.stay_invoices_of_persons(std::slice::from_ref(&stay.psn_no), PATIENT_STAY_INVOICES_MAX).await?;
        let prefix = format!("{}:", stay.id);
        let mut views: Vec<InvoiceView> =
            rows.iter().filter(|r| r.settlement_id.starts_with(&prefix)).map(view_of).collect::<Result<_, _>>()?;
        views.reverse();
        Ok(views)
    }

    /// The invoices of the stays of a patient and their family, newest first.
    pub async fn patient_stay_invoices(&self, patient_id: &str) -> Result<Vec<InvoiceView>, AppError> {
        let Some(psn_no) = self.patient_row(patient_id).await?.psn_no else { return Ok(Vec::new()) };
        let persons = self.visible_persons(&psn_no).await?;
        let rows = self.store.stay_invoices_of_persons(&persons, PATIENT_STAY_INVOICES_MAX).await?;
        rows.iter().map(view_of).collect()
    }

    /// Whether an invoice is of a stay of one of these persons (the patient's door).
    pub(crate) async fn is_stay_invoice_of(&self, invoice: &InvoiceRow, persons: &[String]) -> Result<bool, AppError> {
        let Some((stay_id, _)) = invoice.settlement_id.split_once(':') else { return Ok(false) };
        Ok(self.store.stay(stay_id).await?.is_some_and(|s| persons.contains(&s.psn_no)))
    }
}
