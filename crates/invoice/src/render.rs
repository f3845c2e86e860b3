//! The invoice's two faces: a PDF (A5 landscape, Chinese text in a CJK font the caller loads, a
//! vector QR code, the signed JSON attached as `invoice.json` so the PDF verifies too) and an HTML
//! page (the same fields, the QR code as SVG, a print layout for kiosks). Font bytes in, bytes out.

use crate::document::{Invoice, Kind};
use crate::signed::{qr_text, SignedInvoice};
use krilla::color::rgb;
use krilla::embed::{AssociationKind, EmbeddedFile, MimeType};
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule, Stroke};
use krilla::text::{Font, TextDirection};
use krilla::Document;
use qrcode::{EcLevel, QrCode};
use wugan_domain::Fen;

/// The name under which the signed JSON is attached to the PDF; `extract_signed_json` finds it.
pub const ATTACHMENT_NAME: &str = "invoice.json";

/// A CJK font face, loaded once and shared by every PDF (krilla subsets it into each).
#[derive(Clone)]
pub struct PdfFont(Font);

impl PdfFont {
    /// `None` when the bytes hold no font face at `index` (a `.ttc` holds several).
    pub fn new(bytes: Vec<u8>, index: u32) -> Option<PdfFont> {
        Font::new(bytes.into(), index).map(PdfFont)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the QR code cannot hold the invoice: {0}")]
    Qr(String),
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
}

/// The page: A5 landscape, in points; y grows downwards.
const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 420.0;
const MARGIN: f32 = 36.0;

fn yuan(fen: Fen) -> String {
    fen.to_yuan_string()
}

fn title(invoice: &Invoice) -> &'static str {
    match invoice.kind {
        Kind::Blue => "医疗收费电子票据",
        Kind::Red => "医疗收费电子票据（红字冲红）",
        Kind::Deposit => "住院预交金收据（押金）",
    }
}

fn bus_type_name(code: &str) -> &'static str {
    match code {
        "01" => "住院",
        "07" => "住院预交金",
        _ => "门诊",
    }
}

/// The split's rows as printed: label and amount.
fn split_rows(invoice: &Invoice) -> Vec<(&'static str, Fen)> {
    let s = &invoice.split;
    if invoice.kind == Kind::Deposit {
        // Nothing is paid yet: the deposit is held (预授权) on the patient's credit line.
        return vec![("信用额度预授权（押金）", s.bank_fen)];
    }
    let rows = [
        ("医保统筹基金支付", s.fund_fen),
        ("个人账户支付", s.personal_account_fen),
        ("银行代付（个人现金）", s.bank_fen),
        ("个人自付（待缴）", s.self_paid_fen),
        ("个人现金（医院收取）", s.hospital_collected_fen),
        ("医院负担", s.hospital_part_fen),
    ];
    // Zero rows other than the three every invoice shows are left out.
    rows.into_iter().enumerate().filter(|(i, (_, amount))| *i < 3 || *amount != Fen::ZERO).map(|(_, row)| row).collect()
}

fn qr(doc: &SignedInvoice) -> Result<QrCode, RenderError> {
    QrCode::with_error_correction_level(qr_text(doc), EcLevel::M).map_err(|e| RenderError::Qr(e.to_string()))
}

struct Pen<'a, 'b> {
    surface: krilla::surface::Surface<'a>,
    font: &'b Font,
}

impl Pen<'_, '_> {
    fn text(&mut self, x: f32, y: f32, size: f32, text: &str) {
        self.surface.draw_text(Point::from_xy(x, y), self.font.clone(), size, text, false, TextDirection::Auto);
    }

    fn color(&mut self, color: rgb::Color) {
        self.surface.set_fill(Some(Fill { paint: color.into(), opacity: NormalizedF32::ONE, rule: FillRule::NonZero }));
    }

    fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, color: rgb::Color) {
        let mut path = PathBuilder::new();
        path.move_to(x1, y1);
        path.line_to(x2, y2);
        if let Some(path) = path.finish() {
            self.surface.set_stroke(Some(Stroke { paint: color.into(), width: 0.8, ..Stroke::default() }));
            let fill = self.surface.get_fill().cloned();
            self.surface.set_fill(None);
            self.surface.draw_path(&path);
            self.surface.set_fill(fill);
            self.surface.set_stroke(None);
        }
    }

    /// The QR code as one path of dark modules, `size` points wide, at (x, y).
    fn qr(&mut self, code: &QrCode, x: f32, y: f32, size: f32) {
        let width = code.width();
        let module = size / width as f32;
        let mut path = PathBuilder::new();
        for (i, color) in code.to_colors().into_iter().enumerate() {
            if color == qrcode::Color::Dark {
                let (col, row) = ((i % width) as f32, (i / width) as f32);
                if let Some(rect) = Rect::from_xywh(x + col * module, y + row * module, module, module) {
                    path.push_rect(rect);
                }
            }
        }
        if let Some(path) = path.finish() {
            self.color(rgb::Color::new(0, 0, 0));
            self.surface.draw_path(&path);
        }
    }
}

/// The invoice as a PDF with the signed JSON attached.
pub fn pdf(doc: &SignedInvoice, font: &PdfFont) -> Result<Vec<u8>, RenderError> {
    let code = qr(doc)?;
    let json = serde_json::to_vec(doc).map_err(|e| RenderError::Pdf(e.to_string()))?;
    let mut document = Document::new();
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| RenderError::Pdf("page size".into()))?;
    {
        let mut page = document.start_page_with(settings);
        {
            let mut pen = Pen { surface: page.surface(), font: &font.0 };
            draw(&mut pen, doc, &code);
            pen.surface.finish();
        }
        page.finish();
    }
    let attached = EmbeddedFile {
        path: ATTACHMENT_NAME.into(),
        mime_type: MimeType::new("application/json"),
        description: Some("签名的票据数据 the signed invoice (wugan invoice verify)".into()),
        association_kind: AssociationKind::Data,
        data: json.into(),
        modification_date: None,
        // Stored as is, so that a verifier finds the JSON without inflating streams.
        compress: Some(false),
        location: None,
    };
    document.embed_file(attached).ok_or_else(|| RenderError::Pdf("the invoice could not be attached".into()))?;
    document.finish().map_err(|e| RenderError::Pdf(format!("{e:?}")))
}

fn draw(pen: &mut Pen<'_, '_>, doc: &SignedInvoice, code: &QrCode) {
    let inv = &doc.invoice;
    let (ink, accent) =
        (rgb::Color::new(30, 30, 30), if inv.kind == Kind::Red { rgb::Color::new(190, 20, 20) } else { rgb::Color::new(20, 60, 140) });
    let right = PAGE_W - MARGIN;
    pen.color(accent);
    pen.text(MARGIN + 130.0, 52.0, 20.0, title(inv));
    pen.line(MARGIN, 64.0, right - 100.0, 64.0, accent);
    pen.color(ink);
    let head = [
        format!("票据代码：{}", inv.code),
        format!("票据号码：{}", inv.number),
        format!("校  验  码：{}", inv.check_code),
        format!("开票日期：{}", inv.date),
    ];
    for (i, line) in head.iter().enumerate() {
        pen.text(MARGIN, 86.0 + 15.0 * i as f32, 10.0, line);
    }
    pen.text(MARGIN + 220.0, 86.0, 10.0, &format!("交款人：{}", inv.payer));
    pen.text(MARGIN + 220.0, 101.0, 10.0, &format!("业务类型：{}", bus_type_name(&inv.bus_type)));
    // The settlement id is long: on its own line, under the QR code's lower edge.
    pen.text(MARGIN, 146.0, 10.0, &format!("业务流水号：{}", inv.settlement_id));
    pen.qr(code, right - 92.0, 24.0, 92.0);

    let table_top = 158.0;
    pen.line(MARGIN, table_top, right, table_top, ink);
    pen.text(MARGIN + 4.0, table_top + 14.0, 10.0, "项目名称");
    pen.text(MARGIN + 180.0, table_top + 14.0, 10.0, "金额（元）");
    pen.text(MARGIN + 290.0, table_top + 14.0, 10.0, "支付方式");
    pen.text(MARGIN + 430.0, table_top + 14.0, 10.0, "金额（元）");
    pen.line(MARGIN, table_top + 20.0, right, table_top + 20.0, ink);
    let mut y = table_top + 34.0;
    for item in &inv.items {
        pen.text(MARGIN + 4.0, y, 10.0, &item.name);
        pen.text(MARGIN + 180.0, y, 10.0, &yuan(item.amount_fen));
        y += 14.0;
    }
    let mut y2 = table_top + 34.0;
    for (label, amount) in split_rows(inv) {
        pen.text(MARGIN + 290.0, y2, 10.0, label);
        pen.text(MARGIN + 430.0, y2, 10.0, &yuan(amount));
        y2 += 14.0;
    }
    let bottom = y.max(y2) + 2.0;
    pen.line(MARGIN, bottom, right, bottom, ink);
    pen.text(MARGIN + 4.0, bottom + 16.0, 11.0, &format!("合计（小写）：¥{}", yuan(inv.total_fen)));
    pen.line(MARGIN, bottom + 24.0, right, bottom + 24.0, ink);
    let mut notes = bottom + 42.0;
    if let Some(original) = &inv.offsets {
        pen.color(accent);
        pen.text(MARGIN, notes, 10.0, &format!("冲红原票据：代码 {} 号码 {}", original.code, original.number));
        pen.color(ink);
        notes += 15.0;
    }
    pen.text(MARGIN, notes, 10.0, &format!("收款单位（章）：{}", inv.hospital.name));
    pen.text(MARGIN, notes + 15.0, 8.0, &format!("开票单位代码 {}，签名密钥 {}", inv.hospital.code, doc.certificate.key_id));
    pen.text(MARGIN, PAGE_H - 24.0, 8.0, "扫码或以 wugan invoice verify 查验：本票据附有签名数据 invoice.json");
}

/// Finds the signed JSON attached to an invoice PDF (stored uncompressed by [`pdf`]).
pub fn extract_signed_json(pdf_bytes: &[u8]) -> Option<String> {
    let start = pdf_bytes.windows(11).position(|w| w == b"{\"invoice\":")?;
    let mut stream = serde_json::Deserializer::from_slice(&pdf_bytes[start..]).into_iter::<serde_json::Value>();
    let value = stream.next()?.ok()?;
    Some(value.to_string())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The invoice as an HTML page: phone and kiosk (its print layout fills an A5 sheet).
pub fn html(doc: &SignedInvoice) -> Result<String, RenderError> {
    let inv = &doc.invoice;
    let svg = qr(doc)?.render::<qrcode::render::svg::Color>().min_dimensions(160, 160).build();
    let items: String =
        inv.items.iter().map(|i| format!("<tr><td>{}</td><td class=n>{}</td></tr>", escape(&i.name), yuan(i.amount_fen))).collect();
    let split: String =
        split_rows(inv).iter().map(|(label, amount)| format!("<tr><td>{label}</td><td class=n>{}</td></tr>", yuan(*amount))).collect();
    let offsets = inv
        .offsets
        .as_ref()
        .map(|o| format!("<p class=red>冲红原票据：代码 {} 号码 {}</p>", escape(&o.code), escape(&o.number)))
        .unwrap_or_default();
    Ok(format!(
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} {code}-{number}</title><style>
body{{font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC",sans-serif;max-width:40rem;margin:1rem auto;padding:0 1rem;color:#1e1e1e}}
h1{{font-size:1.3rem;color:{accent}}} table{{width:100%;border-collapse:collapse;margin:.5rem 0}} td,th{{border-bottom:1px solid #ccc;padding:.25rem;text-align:left}}
.n{{text-align:right;font-variant-numeric:tabular-nums}} .red{{color:#be1414}} .qr{{float:right}} .qr svg{{width:9rem;height:9rem}} small{{color:#666}}
@media print{{@page{{size:A5 landscape;margin:10mm}} body{{margin:0;max-width:none}} a{{display:none}}}}
</style></head><body>
<div class=qr>{svg}</div><h1>{title}</h1>
<p>票据代码：{code}<br>票据号码：{number}<br>校验码：{check}<br>开票日期：{date}</p>
<p>交款人：{payer}<br>收款单位：{hospital}</p>
<table><tr><th>项目名称</th><th class=n>金额（元）</th></tr>{items}</table>
<table><tr><th>支付方式</th><th class=n>金额（元）</th></tr>{split}</table>
<p><b>合计：¥{total}</b></p>{offsets}
<p><small>签名密钥 {key_id}；用二维码或 <a href="/invoices/verify">/invoices/verify</a> 查验。</small></p>
</body></html>"#,
        title = title(inv),
        accent = if inv.kind == Kind::Red { "#be1414" } else { "#143c8c" },
        code = escape(&inv.code),
        number = escape(&inv.number),
        check = escape(&inv.check_code),
        date = escape(&inv.date),
        payer = escape(&inv.payer),
        hospital = escape(&inv.hospital.name),
        total = yuan(inv.total_fen),
        key_id = escape(&doc.certificate.key_id),
    ))
}
