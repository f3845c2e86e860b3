//! Electronic invoices (医疗收费电子票据, docs/e-invoice.md): issued by the hub on the hospital's
//! behalf from the settlement it holds, signed with the hospital's invoice key, red-flushed (冲红)
//! when the settlement is cancelled.
//!
//! Issued from an outbox: the settlements that owe an invoice are found by a scan (an index holds
//! exactly them), run after every click that reaches a final state and by every recovery pass, so a
//! crash between the settlement's commit and the invoice's costs a delay, never an invoice. A
//! `settled_unpaid` settlement is invoiced too: the hospital's charge is final and the insurance
//! shares are paid; the patient's unpaid cash shows as 个人自付（待缴）, owed to the bank's collection.

use super::settlement::Known;
use super::*;
use crate::store::{InvoiceDue, InvoiceNumbering, InvoiceRow, InvoiceWithin};
use serde::Serialize;
use std::path::{Path, PathBuf};
use wugan_invoice::render::{PdfFont, RenderError};
use wugan_invoice::{Hospital, Invoice, Kind, Numbered, SignedInvoice, Split, Verified};

pub use super::invoice_keys::InvoiceKeys;

/// Settlements invoiced per outbox scan, at most (the next scan takes the rest).
const OUTBOX_BATCH: i64 = 200;
/// Invoices per page of a hospital's list, at most.
pub const MAX_INVOICE_PAGE: i64 = 200;

/// Where a CJK font is looked for when none is configured: WenQuanYi Micro Hei (face 0) and Noto
/// Sans CJK SC (face 2 of the collection), as Debian installs them.
pub const FONT_CANDIDATES: &[(&str, u32)] =
    &[("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0), ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2)];

/// An invoice as a hospital's list shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Invoice)]
pub struct InvoiceView {
    pub id: String,
    /// `blue`, or `red` for a red-flush (冲红).
    pub kind: String,
    /// 票据代码.
    pub code: String,
    /// 票据号码.
    pub number: String,
    /// 校验码.
    pub check_code: String,
    pub date: String,
    pub issued_at: String,
    pub settlement_id: String,
    pub total_fen: i64,
    /// The payer, masked.
    pub payer: String,
    /// For a red invoice: the id of the blue one it offsets.
    pub offsets_id: Option<String>,
    /// The signing key's id.
    pub key_id: String,
    /// A deposit receipt's (kind `deposit`) standing: `held`, `recovered` (收回 by the stay's
    /// settlement) or `released` (the admission cancelled); absent for invoices.
    pub deposit_state: Option<String>,
    /// For a recovered receipt: the id of the settlement's invoice that recovers it, once issued.
    pub recovered_by_id: Option<String>,
    /// For a recovered or released receipt: when the hold ended.
    pub closed_at: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = InvoiceList)]
pub struct InvoiceListView {
    pub invoices: Vec<InvoiceView>,
    /// Pass as `before` for the next page; absent on the last.
    pub next_before: Option<String>,
}

/// The answer of the public verify endpoint: only what the QR code holds, and whether the hub has
/// red-flushed the invoice since.
#[derive(Debug, Serialize)]
pub struct VerifyView {
    pub genuine: bool,
    #[serde(flatten)]
    pub verified: Option<Verified>,
    /// Set when the invoice is not genuine: `bad_signature`, `untrusted_key`, …
    pub reason: Option<String>,
    pub message: Option<String>,
    /// Whether the hub has issued a red invoice offsetting this one.
    pub red_flushed: bool,
}

/// The invoice part of the hub: its keys and its PDF font (found at the first PDF asked for).
pub struct Invoicing {
    pub keys: InvoiceKeys,
    font_path: Option<PathBuf>,
    font: tokio::sync::OnceCell<Result<PdfFont, String>>,
}

impl Invoicing {
    /// The invoicing of a hub with a data folder: keys in `DATA_DIR/invoice-keys/`, the PDF font
    /// from `WUGAN_INVOICE_FONT` (a path, `path#face` for a collection) or the Debian locations.
    pub fn in_data_dir(data_dir: &Path) -> Result<Invoicing, AppError> {
        let font = std::env::var_os("WUGAN_INVOICE_FONT").filter(|p| !p.is_empty()).map(PathBuf::from);
        Ok(Invoicing::new(InvoiceKeys::in_folder(&data_dir.join("invoice-keys"))?, font))
    }

    pub fn new(keys: InvoiceKeys, font_path: Option<PathBuf>) -> Invoicing {
        Invoicing { keys, font_path, font: tokio::sync::OnceCell::new() }
    }

    /// The configured font, or the first Debian location that holds one; a clear error otherwise.
    async fn font(&self) -> Result<PdfFont, AppError> {
        let font = self.font.get_or_init(|| async { load_font(self.font_path.as_deref()) }).await;
        font.clone().map_err(|message| AppError::unavailable("no_pdf_font", message))
    }
}

/// Reads a font: `path` (a `.ttc` path may name its face as `path#2`), or the first candidate.
pub fn load_font(path: Option<&Path>) -> Result<PdfFont, String> {
    let candidates: Vec<(PathBuf, u32)> = match path {
        Some(p) => {
            let text = p.to_string_lossy();
            match text.rsplit_once('#').and_then(|(file, face)| Some((file.to_string(), face.parse().ok()?))) {
                Some((file, face)) => vec![(PathBuf::from(file), face)],
                None => vec![(p.to_path_buf(), 0)],
            }
        }
        None => FONT_CANDIDATES.iter().map(|(p, face)| (PathBuf::from(p), *face)).collect(),
    };
    for (file, face) in &candidates {
        if let Ok(bytes) = std::fs::read(file) {
            return PdfFont::new(bytes, *face).ok_or_else(|| format!("{} holds no font face {face}", file.display()));
        }
    }
    let tried: Vec<String> = candidates.iter().map(|(p, _)| p.display().to_string()).collect();
    Err(format!(
        "no CJK font for invoice PDFs (tried {}); install fonts-wqy-microhei or set WUGAN_INVOICE_FONT; JSON and HTML invoices still work",
        tried.join(", ")
    ))
}

/// What a settlement's run knows when it ends: the settlement as it left it, its visit, and what it read.
pub(super) type Facts<'a> = (&'a SettlementRow, &'a VisitRow, &'a Known);

impl App {
    /// The same hub, with its invoice keys and PDF font from the data folder (`wugan serve`);
    /// `App::new` derives keys from the data key, in memory.
    pub fn with_invoicing(mut self, invoicing: Invoicing) -> App {
        self.invoicing = invoicing;
        self
    }

    /// The hook after a click or a cancellation reached its final state: issues what the settlement
    /// now owes. Never fails the click: what goes wrong is logged and left to the outbox scan.
    pub async fn invoice_after(&self, advanced: &Result<SettlementRow, AppError>) {
        self.invoice_after_known(advanced, None).await
    }

    /// `invoice_after` by a run that has read the settlement's visit, agreement and lines: the
    /// invoice is built from them instead of reading them again.
    pub(super) async fn invoice_after_known(&self, advanced: &Result<SettlementRow, AppError>, known: Option<Facts<'_>>) {
        let Ok(s) = advanced else { return };
        let due = match s.state {
            SettlementState::Settled | SettlementState::SettledUnpaid => InvoiceDue::Blue,
            SettlementState::Cancelled => InvoiceDue::Red,
            _ => return,
        };
        if let Err(e) = self.issue_known(due, &s.id, known).await {
            tracing::warn!(settlement = %s.id, code = e.code(), error = %e, "invoice not issued yet; the outbox will");
        }
    }

    /// The outbox scan (the recovery worker's pass): every invoice owed, blue ones first. Returns how
    /// many it issued; logs what failed (the next pass tries again).
    pub async fn invoice_outbox_pass(&self) -> usize {
        let mut issued = 0;
        for due in [InvoiceDue::Blue, InvoiceDue::Red] {
            let ids = match self.store.settlements_awaiting_invoice(due, OUTBOX_BATCH).await {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::warn!(error = %e, "invoice outbox not read");
                    return issued;
                }
            };
            for id in ids {
                match self.issue(due, &id).await {
                    Ok(Some(_)) => issued += 1,
                    Ok(None) => {}
                    Err(e) => tracing::warn!(settlement = %id, code = e.code(), error = %e, "invoice not issued yet"),
                }
            }
        }
        // The stays' bedside settlements and their 2305 reversals (app/stay_invoices.rs).
        issued += self.stay_invoice_outbox_pass(None).await;
        // The stays' deposit receipts (app/deposit_receipts.rs).
        issued += self.deposit_receipt_outbox_pass(None).await;
        if issued > 0 {
            tracing::info!(issued, "invoices issued from the outbox");
        }
        issued
    }

    /// Issues the invoice `due` for a settlement, if it still owes it (`None` otherwise).
    pub async fn issue(&self, due: InvoiceDue, settlement_id: &str) -> Result<Option<InvoiceRow>, AppError> {
        self.issue_known(due, settlement_id, None).await
    }

    /// `issue`, from the rows a run has just read and written when it has them (`known`: the
    /// settlement as its run left it, final; no invoice issued for it yet, as it only now became
    /// final — and should one be, the claim in `issue_invoice` refuses a second).
    async fn issue_known(&self, due: InvoiceDue, settlement_id: &str, known: Option<Facts<'_>>) -> Result<Option<InvoiceRow>, AppError> {
        let kind = if matches!(due, InvoiceDue::Blue | InvoiceDue::RefundBlue) { "blue" } else { "red" };
        let s = match known {
            Some((s, _, _)) => s.clone(),
            None => {
                if self.store.invoice_of_settlement(settlement_id, kind).await?.is_some() {
                    return Ok(None); // issued already: the claim below would say so, after more reads
                }
                self.store.settlement(settlement_id).await?.ok_or_else(|| AppError::internal("settlement vanished"))?
            }
        };
        let Some(invoice) = self.prepare(due, &s, known.map(|(_, v, k)| (v, k))).await? else { return Ok(None) };
        let numbering =
            InvoiceNumbering { due, settlement_id: &s.id, hospital_code: &invoice.hospital_code, invoice_code: &invoice.invoice_code };
        let build = invoice.build;
        let issued = self.store.issue_invoice(numbering, move |seq| build(seq).map_err(AppError::internal)).await?;
        if let Some(row) = &issued {
            log_issued(row);
        }
        Ok(issued)
    }

    /// The blue invoice a run that settles `s` issues with its last save, in the same commit
    /// (`Store::save_settlement_invoiced`); `None` when it cannot be prepared now (logged: the
    /// run's `invoice_after` or the outbox issues it).
    pub(super) async fn blue_invoice_within(&self, s: &SettlementRow, visit: &VisitRow, known: &Known) -> Option<InvoiceWithin> {
        match self.prepare(InvoiceDue::Blue, s, Some((visit, known))).await {
            Ok(invoice) => invoice,
            Err(e) => {
                tracing::warn!(settlement = %s.id, code = e.code(), error = %e, "invoice not prepared with its settlement");
                None
            }
        }
    }

    /// Everything an invoice of `due` needs but its number: its template, key and code, and the
    /// closure that numbers, signs and writes it. `None`: nothing to offset (no blue invoice).
    async fn prepare(
        &self,
        due: InvoiceDue,
        s: &SettlementRow,
        known: Option<(&VisitRow, &Known)>,
    ) -> Result<Option<InvoiceWithin>, AppError> {
        let now = self.store.clock.now_utc();
        let china = crate::clock::in_china(now);
        let date = format!("{:04}-{:02}-{:02}", china.year(), china.month() as u8, china.day());
        let key = self.invoicing.keys.hospital(&s.hospital_code, &date)?;
        let code = wugan_invoice::invoice_code(china.year(), &s.hospital_code);
        let (template, payer_name_enc, offsets_id) = match due {
            InvoiceDue::Blue | InvoiceDue::RefundBlue => {
                let (invoice, payer) = self.blue_template(s, known).await?;
                (invoice, payer, None)
            }
            InvoiceDue::Red | InvoiceDue::RefundRed => {
                let Some(blue) = self.store.invoice_of_settlement(&s.id, "blue").await? else { return Ok(None) };
                let original: SignedInvoice = parse_signed(&blue.signed_json)?;
                (original.invoice, blue.payer_name_enc.clone(), Some(blue.id))
            }
        };
        let issued_at = timestamp(now);
        let code_on_invoice = code.clone();
        let build = move |seq: i64| {
            let number = wugan_invoice::invoice_number(seq);
            let numbered =
                Numbered { check_code: key.check_code(&code_on_invoice, &number), code: code_on_invoice, number, date, issued_at };
            let invoice = numbered_invoice(template, numbered, matches!(due, InvoiceDue::Red | InvoiceDue::RefundRed));
            let signed = wugan_invoice::sign(invoice, &key).map_err(|e| format!("the invoice cannot be signed: {e}"))?;
            row_of(&signed, seq, payer_name_enc, offsets_id).map_err(|e| e.to_string())
        };
        Ok(Some(InvoiceWithin {
            settlement_id: s.id.clone(),
            hospital_code: s.hospital_code.clone(),
            invoice_code: code,
            build: Box::new(build),
        }))
    }

    /// The blue invoice of a settled settlement, not yet numbered; and the payer's sealed name.
    async fn blue_template(&self, s: &SettlementRow, known: Option<(&VisitRow, &Known)>) -> Result<(Invoice, String), AppError> {
        let visit = match known {
            Some((visit, _)) => visit.clone(),
            None => self.store.visit(&s.visit_id).await?.ok_or_else(|| AppError::internal("visit vanished"))?,
        };
        let split = s.split.ok_or_else(|| AppError::internal(format!("settlement {} is settled without a split", s.id)))?;
        let name = self.payer_name(s, &visit, known.and_then(|(_, k)| k.agreement.as_ref())).await?;
        let hospital_name = self.store.hospital_name(&s.hospital_code).await?.unwrap_or_else(|| s.hospital_code.clone());
        let read;
        let lines: &[FeeLineRow] = match known.and_then(|(_, k)| k.lines.as_deref()) {
            Some(lines) => lines,
            None => {
                read = self.store.fee_lines(&visit.id).await?;
                &read
            }
        };
        let lines: Vec<(String, Fen)> =
            lines.iter().filter(|l| l.uploaded).map(|l| (category_of(l.result_json.as_deref()), l.amount)).collect();
        let mut items = wugan_invoice::items_by_category(&lines);
        if items.iter().map(|i| i.amount_fen).sum::<Fen>() != s.medfee {
            // The insurance center settled another total than the lines the hub holds (it validates
            // against them, so this is a bug elsewhere): the invoice still states what was charged.
            tracing::warn!(settlement = %s.id, "fee lines do not add up to the settled total; one line of other fees");
            items = wugan_invoice::items_by_category(&[("14".to_string(), s.medfee)]);
        }
        // Insurance only (setl_type HI): the cash share was paid at the hospital's own window.
        let at_hospital = if s.cash_at_hospital { split.cash - s.captured } else { Fen::ZERO };
        let invoice = Invoice {
            kind: Kind::Blue,
            code: String::new(),
            number: String::new(),
            check_code: String::new(),
            date: String::new(),
            issued_at: String::new(),
            hospital: Hospital { code: s.hospital_code.clone(), name: hospital_name },
            payer: mask_name(&name),
            settlement_id: s.id.clone(),
            bus_type: if visit.med_type.starts_with('2') { "01".into() } else { "02".into() },
            items,
            total_fen: s.medfee,
            split: Split {
                fund_fen: split.fund,
                personal_account_fen: split.personal_account,
                self_paid_fen: split.cash - s.captured - at_hospital,
                bank_fen: s.captured,
                hospital_part_fen: split.hospital_part,
                hospital_collected_fen: at_hospital,
            },
            offsets: None,
        };
        Ok((invoice, self.config.data_key.seal(&name).map_err(|e| AppError::internal(e.to_string()))?))
    }

    /// The patient's name: the agreement holder's, or the family member's the visit is for.
    async fn payer_name(&self, s: &SettlementRow, visit: &VisitRow, known: Option<&AgreementRow>) -> Result<String, AppError> {
        let agreement = match known {
            Some(a) => a.clone(),
            None => self.store.agreement(&s.agreement_id).await?.ok_or_else(|| AppError::internal("agreement vanished"))?,
        };
        let sealed = if agreement.psn_no == visit.psn_no {
            agreement.name_enc
        } else {
            let links = self.store.family_links(&agreement.id).await?;
            links.into_iter().find(|l| l.member_psn_no == visit.psn_no).map(|l| l.member_name_enc).unwrap_or(agreement.name_enc)
        };
        self.config.data_key.open(&sealed).map_err(|e| AppError::internal(e.to_string()))
    }

    /// A hospital's invoices, newest first.
    pub async fn invoices(&self, hospital: &str, before: Option<&str>, limit: i64) -> Result<InvoiceListView, AppError> {
        self.invoices_of_kind(hospital, None, before, limit).await
    }

    /// A hospital's documents of one kind (blue, red, deposit), newest first; `None`: all.
    pub async fn invoices_of_kind(
        &self,
        hospital: &str,
        kind: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<InvoiceListView, AppError> {
        if kind.is_some_and(|k| !matches!(k, "blue" | "red" | "deposit")) {
            return Err(AppError::bad_request("bad_query", "kind is blue, red or deposit"));
        }
        let limit = limit.clamp(1, MAX_INVOICE_PAGE);
        let rows = self.store.invoices_of_hospital(hospital, kind, before, limit).await?;
        // A page is full, or longer when it ends with invoices stamped alike (all of them are on it).
        let next_before = (rows.len() as i64 >= limit).then(|| rows.last().map(|r| r.issued_at.clone())).flatten();
        let invoices = rows.iter().map(view_of).collect::<Result<_, _>>()?;
        Ok(InvoiceListView { invoices: self.with_deposit_states(invoices).await?, next_before })
    }

    /// One invoice, signed, for its hospital (`Some(code)`) or an operator (`None`). Another
    /// hospital's invoice is answered exactly like a missing one.
    pub async fn invoice(&self, hospital: Option<&str>, id: &str) -> Result<SignedInvoice, AppError> {
        match self.store.invoice(id).await? {
            Some(row) if hospital.is_none_or(|h| h == row.hospital_code) => parse_signed(&row.signed_json),
            _ => Err(AppError::not_found("invoice_not_found", format!("no invoice {id}"))),
        }
    }

    pub async fn invoice_pdf(&self, hospital: Option<&str>, id: &str) -> Result<Vec<u8>, AppError> {
        let doc = self.invoice(hospital, id).await?;
        let font = self.invoicing.font().await?;
        wugan_invoice::render::pdf(&doc, &font).map_err(render_error)
    }

    pub async fn invoice_html(&self, hospital: Option<&str>, id: &str) -> Result<String, AppError> {
        wugan_invoice::render::html(&self.invoice(hospital, id).await?).map_err(render_error)
    }

    /// The public verification: a signed invoice's JSON or a QR code's text, checked with the root
    /// public key alone; then whether the hub has red-flushed it.
    pub async fn verify_invoice(&self, text: &str) -> Result<VerifyView, AppError> {
        let root = self.invoicing.keys.root_public();
        let trimmed = text.trim();
        let result = if trimmed.starts_with(wugan_invoice::QR_PREFIX) {
            wugan_invoice::verify_qr(trimmed, &root)
        } else {
            wugan_invoice::verify_json(trimmed, &root)
        };
        Ok(match result {
            Ok(verified) => {
                let red_flushed = match self.store.invoice_by_number(&verified.code, &verified.number).await? {
                    Some(row) if row.kind == "blue" => self.store.red_invoice_of(&row.id).await?.is_some(),
                    _ => false,
                };
                VerifyView { genuine: true, verified: Some(verified), reason: None, message: None, red_flushed }
            }
            Err(rejected) => VerifyView {
                genuine: false,
                verified: None,
                reason: Some(rejected.reason.code().to_string()),
                message: Some(rejected.to_string()),
                red_flushed: false,
            },
        })
    }
}

fn render_error(e: RenderError) -> AppError {
    AppError::internal(e.to_string())
}

pub(super) fn parse_signed(json: &str) -> Result<SignedInvoice, AppError> {
    serde_json::from_str(json).map_err(|e| AppError::internal(format!("a stored invoice cannot be read: {e}")))
}

pub(super) fn timestamp(t: time::OffsetDateTime) -> String {
    crate::clock::timestamp(t)
}

/// A fee line's 医疗收费项目类别, from the insurance center's 2204 answer (`14` other fees when absent).
pub(super) fn category_of(result_json: Option<&str>) -> String {
    /// The one field read, the rest skipped unread (not built into a `Value`).
    #[derive(serde::Deserialize)]
    struct Category {
        #[serde(default)]
        med_chrgitm_type: Value,
    }
    super::views::fields_of::<Category>(result_json)
        .and_then(|c| c.med_chrgitm_type.as_str().map(str::to_string))
        .unwrap_or_else(|| "14".into())
}

/// `template` under its number: a blue invoice takes it; a red one flushes the template (the blue
/// invoice it offsets) under it.
pub(super) fn numbered_invoice(template: Invoice, numbered: Numbered, red: bool) -> Invoice {
    match red {
        false => Invoice {
            code: numbered.code,
            number: numbered.number,
            check_code: numbered.check_code,
            date: numbered.date,
            issued_at: numbered.issued_at,
            ..template
        },
        true => template.red_flush(numbered),
    }
}

/// The log line of an issued invoice.
pub(super) fn log_issued(row: &InvoiceRow) {
    tracing::info!(invoice = %row.id, code = %row.invoice_code, number = %row.number, kind = %row.kind, "invoice issued");
}

pub(super) fn row_of(signed: &SignedInvoice, seq: i64, payer_name_enc: String, offsets_id: Option<String>) -> Result<InvoiceRow, AppError> {
    let inv = &signed.invoice;
    Ok(InvoiceRow {
        id: new_id("inv"),
        hospital_code: inv.hospital.code.clone(),
        settlement_id: inv.settlement_id.clone(),
        kind: inv.kind.as_str().into(),
        invoice_code: inv.code.clone(),
        seq,
        number: inv.number.clone(),
        check_code: inv.check_code.clone(),
        total: inv.total_fen,
        payer_name_enc,
        offsets_id,
        key_id: signed.certificate.key_id.clone(),
        signed_json: serde_json::to_string(signed).map_err(|e| AppError::internal(e.to_string()))?,
        issued_at: inv.issued_at.clone(),
    })
}

pub(super) fn view_of(row: &InvoiceRow) -> Result<InvoiceView, AppError> {
    let signed = parse_signed(&row.signed_json)?;
    Ok(InvoiceView {
        id: row.id.clone(),
        kind: row.kind.clone(),
        code: row.invoice_code.clone(),
        number: row.number.clone(),
        check_code: row.check_code.clone(),
        date: signed.invoice.date,
        issued_at: row.issued_at.clone(),
        settlement_id: row.settlement_id.clone(),
        total_fen: row.total.0,
        payer: signed.invoice.payer,
        offsets_id: row.offsets_id.clone(),
        key_id: row.key_id.clone(),
        deposit_state: None,
        recovered_by_id: None,
        closed_at: None,
    })
}

/// The list's schemas, for the openapi.json drift test.
pub fn schemas() -> Vec<(String, Value)> {
    fn one<T: utoipa::ToSchema>() -> (String, Value) {
        (T::name().to_string(), serde_json::to_value(T::schema()).unwrap_or(Value::Null))
    }
    vec![one::<InvoiceView>(), one::<InvoiceListView>()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_lines_category_is_the_centers_text_else_other_fees() {
        let category = |json: Option<&str>| super::category_of(json);
        assert_eq!(category(Some(r#"{"feedetl_sn":"1","med_chrgitm_type":"09","memo":{"x":[1]}}"#)), "09");
        let others = [
            None,
            Some("{}"),
            Some(r#"{"med_chrgitm_type":9}"#),
            Some("not json"),
            Some(r#"["09"]"#),
            Some(r#"{"med_chrgitm_type":null}"#),
        ];
        for other in others {
            assert_eq!(category(other), "14", "{other:?}");
        }
    }
}
