//! The invoice routes: a hospital's list, one invoice as signed JSON, PDF or HTML (its hospital or an
//! operator), and the public verification (JSON or a QR code's text; an HTML form), which needs no
//! key and tells nothing the QR code does not hold.

use super::{respond, AppError};
use crate::app::invoices::{VerifyView, MAX_INVOICE_PAGE};
use crate::app::App;
use crate::model::Caller;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// blue, red or deposit (押金收据).
    kind: Option<String>,
    before: Option<String>,
    limit: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyQuery {
    qr: Option<String>,
    /// `?lang=` (`zh`, `en`) and `?elder=` (`1`) as every page takes them; else the `lang` and
    /// `elder` cookies the pages keep.
    lang: Option<String>,
    elder: Option<String>,
}

/// The verify page's words, Chinese first (review r26 pages #7: both languages on every line).
struct VerifyWords {
    html_lang: &'static str,
    title: &'static str,
    intro: &'static str,
    label: &'static str,
    button: &'static str,
    genuine: &'static str,
    flushed: &'static str,
    rejected: &'static str,
    /// Before the machine code of a refusal, kept small for support.
    code_label: &'static str,
    /// "：" or ": ".
    colon: &'static str,
    fields: [&'static str; 6],
    /// Why an invoice is not genuine, by `wugan_invoice::Reason::code` (review: the Chinese page
    /// said the hub's English reason).
    reasons: [(&'static str, &'static str); 5],
    /// A reason this page does not know (a newer code).
    other_reason: &'static str,
}

const ZH: VerifyWords = VerifyWords {
    html_lang: "zh-CN",
    title: "电子票据查验",
    intro: "粘贴或扫描票据二维码的内容（以 WGINV1 开头），查验票据是否真实有效。",
    label: "票据二维码内容",
    button: "查验",
    genuine: "真实有效：签名来自开票单位的认证密钥。",
    flushed: "此票据已冲红。",
    rejected: "查验未通过",
    code_label: "错误代码（供客服查询）",
    colon: "：",
    fields: ["票据代码", "票据号码", "校验码", "开票日期", "金额", "开票单位代码"],
    reasons: [
        ("malformed", "这不是一张有效的电子票据，请检查二维码内容是否完整。"),
        ("untrusted_key", "签名证书不是受信任的根证书签发的，票据不可信。"),
        ("unknown_key", "签名密钥不属于该开票单位，或在开票日期尚未生效。"),
        ("bad_signature", "签名不符：票据在签发后被改动过。"),
        ("amounts_do_not_add_up", "票据金额不能相互核对。"),
    ],
    other_reason: "票据未能通过查验。",
};

const EN: VerifyWords = VerifyWords {
    html_lang: "en",
    title: "Invoice verification",
    intro: "Paste or scan the text of the invoice's QR code (it starts with WGINV1) to check that the invoice is genuine.",
    label: "The QR code's text",
    button: "Verify",
    genuine: "Genuine: signed by the hospital's certified key.",
    flushed: "This invoice has been red-flushed (offset).",
    rejected: "Not verified",
    code_label: "Error code (for support)",
    colon: ": ",
    fields: ["Invoice code", "Invoice number", "Check code", "Date", "Amount", "Hospital code"],
    reasons: [
        ("malformed", "This is not a valid e-invoice: check that the QR code's text is complete."),
        ("untrusted_key", "The signing key's certificate is not signed by the trusted root: the invoice cannot be trusted."),
        ("unknown_key", "The signing key is not the hospital's, or was not yet valid on the invoice's date."),
        ("bad_signature", "The signature does not match: the invoice was changed after it was signed."),
        ("amounts_do_not_add_up", "The invoice's amounts do not add up."),
    ],
    other_reason: "The invoice did not pass verification.",
};

impl VerifyWords {
    /// A refusal's reason in the page's language (the hub's own message is English, for APIs).
    fn reason(&self, code: &str) -> &'static str {
        self.reasons.iter().find(|(c, _)| *c == code).map_or(self.other_reason, |(_, text)| text)
    }
}

/// A cookie's value from the request's Cookie header.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let header = headers.get("cookie")?.to_str().ok()?;
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// The longest QR text the verify page reads (a genuine one is about 420 characters).
const MAX_QR_CHARS: usize = 2_000;

fn query<T: serde::de::DeserializeOwned>(uri: &Uri) -> Result<T, AppError> {
    axum::extract::Query::<T>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| AppError::bad_request("bad_query", format!("the query is not understood: {}", e.body_text())))
}

fn hospital_of(caller: &Caller) -> String {
    caller.hospital_code.clone().unwrap_or_default()
}

pub(super) async fn list(State(app): State<Arc<App>>, caller: Caller, uri: Uri) -> Response {
    let q = match list_query(&uri) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    respond(app.invoices_of_kind(&hospital_of(&caller), q.kind.as_deref(), q.before.as_deref(), q.limit.unwrap_or(50)).await)
}

/// The list's query as openapi.json states it: `before` short text, `limit` 1 to 200.
fn list_query(uri: &Uri) -> Result<ListQuery, AppError> {
    let q: ListQuery = query(uri)?;
    if let Some(before) = &q.before {
        crate::app::check_text_value("before", before, Some(64))
            .map_err(|_| AppError::bad_request("bad_query", "before must be at most 64 characters, without control characters"))?;
    }
    if q.limit.is_some_and(|l| !(1..=MAX_INVOICE_PAGE).contains(&l)) {
        return Err(AppError::invalid("bad_limit", format!("limit must be 1 to {MAX_INVOICE_PAGE}")));
    }
    Ok(q)
}

pub(super) async fn hospital_json(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> Response {
    respond(app.invoice(Some(&hospital_of(&caller)), &id).await)
}

pub(super) async fn hospital_pdf(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> Response {
    pdf(app.invoice_pdf(Some(&hospital_of(&caller)), &id).await, &id)
}

pub(super) async fn hospital_html(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> Response {
    html(app.invoice_html(Some(&hospital_of(&caller)), &id).await)
}

pub(super) async fn operator_json(State(app): State<Arc<App>>, _: Caller, Path(id): Path<String>) -> Response {
    respond(app.invoice(None, &id).await)
}

pub(super) async fn operator_pdf(State(app): State<Arc<App>>, _: Caller, Path(id): Path<String>) -> Response {
    pdf(app.invoice_pdf(None, &id).await, &id)
}

pub(super) async fn operator_html(State(app): State<Arc<App>>, _: Caller, Path(id): Path<String>) -> Response {
    html(app.invoice_html(None, &id).await)
}

pub(super) fn pdf(result: Result<Vec<u8>, AppError>, id: &str) -> Response {
    match result {
        Ok(bytes) => {
            let disposition = format!("inline; filename=\"{id}.pdf\"");
            ([("content-type", "application/pdf".to_string()), ("content-disposition", disposition)], bytes).into_response()
        }
        Err(e) => e.into_response(),
    }
}

pub(super) fn html(result: Result<String, AppError>) -> Response {
    match result {
        Ok(page) => ([("content-type", "text/html; charset=utf-8")], page).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /verify`: the body is `{"qr": "<QR text>"}` or a signed invoice's JSON.
pub(super) async fn verify(State(app): State<Arc<App>>, body: Bytes) -> Response {
    match verify_input(&body) {
        Ok(text) => respond(app.verify_invoice(&text).await),
        Err(e) => e.into_response(),
    }
}

/// The text to verify, from a body of the shape openapi.json states: `{"qr": text}` (1 to
/// [`MAX_QR_CHARS`] characters), or an object with exactly a signed invoice's four fields.
fn verify_input(body: &Bytes) -> Result<String, AppError> {
    let value: Value = serde_json::from_slice(crate::without_bom(body))
        .map_err(|e| AppError::bad_request("malformed_json", format!("the body is not valid JSON: {e}")))?;
    let shape_error = || AppError::invalid("invalid_request", "send {\"qr\": \"<the QR code's text>\"} or a signed invoice's JSON");
    let fields = value.as_object().ok_or_else(shape_error)?;
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    match names[..] {
        ["qr"] => match fields.get("qr").and_then(Value::as_str) {
            Some(qr) if (1..=MAX_QR_CHARS).contains(&qr.chars().count()) => Ok(qr.to_string()),
            _ => Err(shape_error()),
        },
        ["certificate", "invoice", "qr_signature", "signature"] => {
            let typed = fields.get("invoice").is_some_and(Value::is_object)
                && fields.get("certificate").is_some_and(is_certificate)
                && fields.get("signature").is_some_and(Value::is_string)
                && fields.get("qr_signature").is_some_and(Value::is_string);
            typed.then(|| value.to_string()).ok_or_else(shape_error)
        }
        _ => Err(shape_error()),
    }
}

/// A certificate's shape: exactly its five text fields (openapi.json's `Certificate`).
fn is_certificate(value: &Value) -> bool {
    const FIELDS: [&str; 5] = ["hospital_code", "key_id", "public_key", "root_signature", "valid_from"];
    value.as_object().is_some_and(|c| c.len() == FIELDS.len() && FIELDS.iter().all(|f| c.get(*f).is_some_and(Value::is_string)))
}

/// `GET /invoices/verify`: a form for the QR code's text; with `?qr=…`, the answer under it.
pub(super) async fn verify_page(State(app): State<Arc<App>>, uri: Uri, headers: HeaderMap) -> Response {
    let q = match query::<VerifyQuery>(&uri) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let qr = q.qr.unwrap_or_default();
    if qr.chars().count() > MAX_QR_CHARS {
        return AppError::bad_request("bad_query", format!("qr is longer than {MAX_QR_CHARS} characters")).into_response();
    }
    let english = q.lang.as_deref().or(cookie(&headers, "lang")) == Some("en");
    let elder = q.elder.as_deref().or(cookie(&headers, "elder")) == Some("1");
    let words = if english { &EN } else { &ZH };
    let answer = match qr.trim() {
        "" => String::new(),
        text => match app.verify_invoice(text).await {
            Ok(view) => answer_html(&view, words),
            Err(e) => return e.into_response(),
        },
    };
    // Readable on a 360 px phone; the elder-friendly mode's type (>= 20 px) and targets (>= 60 px).
    let (font, target) = if elder { (20, 60) } else { (16, 44) };
    let page = format!(
        r#"<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>body{{font-family:sans-serif;font-size:{font}px;line-height:1.5;max-width:40rem;margin:1rem auto;padding:0 1rem;color:#111}}
label{{display:block;font-weight:bold;margin:0 0 4px}} textarea{{box-sizing:border-box;width:100%;height:8rem;font:inherit;border:2px solid #555;border-radius:6px;padding:8px}}
button{{min-height:{target}px;min-width:{target}px;padding:0 24px;font:inherit;font-weight:bold;color:#fff;background:#0b5394;border:0;border-radius:6px}}
a{{display:inline-flex;align-items:center;min-height:{target}px}} .ok{{color:#146414}} .bad{{color:#a00000}} .code{{color:#555}} dt{{font-weight:bold}}</style></head><body>
<main><h1>{title}</h1>
<p id="qr-hint">{intro}</p>
<form method="get" action="/invoices/verify">{keep}<label for="qr">{label}</label><textarea id="qr" name="qr" maxlength="{MAX_QR_CHARS}" aria-describedby="qr-hint">{qr}</textarea><p><button type="submit">{button}</button></p></form>
{answer}<p><a href="/invoices/verify?lang={other_lang}">{other}</a></p></main></body></html>"#,
        lang = words.html_lang,
        title = words.title,
        intro = words.intro,
        label = words.label,
        button = words.button,
        keep = match (english, elder) {
            (true, true) => r#"<input type="hidden" name="lang" value="en"><input type="hidden" name="elder" value="1">"#,
            (true, false) => r#"<input type="hidden" name="lang" value="en">"#,
            (false, true) => r#"<input type="hidden" name="elder" value="1">"#,
            (false, false) => "",
        },
        other_lang = if english { "zh" } else { "en" },
        other = if english { "中文" } else { "English" },
        qr = escape(&qr)
    );
    ([("content-type", "text/html; charset=utf-8")], page).into_response()
}

fn answer_html(view: &VerifyView, words: &VerifyWords) -> String {
    match (&view.verified, &view.reason) {
        (Some(v), _) => {
            let flushed = if view.red_flushed { format!("<p class=bad>{}</p>", words.flushed) } else { String::new() };
            let [code, number, check, date, amount, hospital] = words.fields;
            format!(
                "<p class=ok role=status>{}</p>{flushed}<dl>\
                 <dt>{code}</dt><dd>{}</dd><dt>{number}</dt><dd>{}</dd><dt>{check}</dt><dd>{}</dd><dt>{date}</dt><dd>{}</dd>\
                 <dt>{amount}</dt><dd>¥{}</dd><dt>{hospital}</dt><dd>{}</dd></dl>",
                words.genuine,
                escape(&v.code),
                escape(&v.number),
                escape(&v.check_code),
                escape(&v.date),
                v.amount_fen.to_yuan_string(),
                escape(&v.hospital_code)
            )
        }
        (None, reason) => {
            let code = reason.as_deref().unwrap_or("rejected");
            format!(
                "<p class=bad role=status>{}{}{}</p><p class=code><small>{}{}<code>{}</code></small></p>",
                words.rejected,
                words.colon,
                words.reason(code),
                words.code_label,
                words.colon,
                escape(code)
            )
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(body: &str) -> Result<(), &'static str> {
        verify_input(&Bytes::from(body.to_string())).map(|_| ()).map_err(|e| e.code())
    }

    /// A refusal in the page's language, the machine code kept small beside it (review: the
    /// Chinese page said the hub's English message).
    #[test]
    fn a_refusal_is_said_in_the_pages_language_with_its_code() {
        use wugan_invoice::document::AmountError;
        use wugan_invoice::Reason;
        let reasons = [
            Reason::Malformed("x".into()),
            Reason::UntrustedKey,
            Reason::UnknownKey,
            Reason::BadSignature,
            Reason::Amounts(AmountError::Overflow),
        ];
        for reason in reasons {
            let view = VerifyView {
                genuine: false,
                verified: None,
                reason: Some(reason.code().into()),
                message: Some(reason.to_string()),
                red_flushed: false,
            };
            for words in [&ZH, &EN] {
                assert_ne!(words.reason(reason.code()), words.other_reason, "{} has no {} text", reason.code(), words.html_lang);
                let html = answer_html(&view, words);
                assert!(html.contains(words.reason(reason.code())) && html.contains(&format!("<code>{}</code>", reason.code())), "{html}");
            }
            let zh = answer_html(&view, &ZH);
            // What the reader is told, between the tags: no English in it.
            let said = zh.split("role=status>").nth(1).and_then(|t| t.split("</p>").next()).unwrap_or_default();
            assert!(
                !zh.contains(&escape(&reason.to_string())) && !said.bytes().any(|b| b.is_ascii_alphabetic()),
                "the hub's English message on the Chinese page: {zh}"
            );
        }
        let forged = VerifyView {
            genuine: false,
            verified: None,
            reason: Some("bad_signature".into()),
            message: Some("the signature does not match".into()),
            red_flushed: false,
        };
        assert_eq!(
            answer_html(&forged, &ZH),
            "<p class=bad role=status>查验未通过：签名不符：票据在签发后被改动过。</p>\
             <p class=code><small>错误代码（供客服查询）：<code>bad_signature</code></small></p>"
        );
        let newer = VerifyView { reason: Some("revoked_key".into()), ..forged };
        assert!(answer_html(&newer, &ZH).contains("票据未能通过查验。") && answer_html(&newer, &EN).contains("<code>revoked_key</code>"));
    }

    #[test]
    fn the_verify_endpoint_reads_exactly_the_shapes_openapi_json_states() {
        let cert = json!({"hospital_code": "H1", "key_id": "k", "public_key": "p", "valid_from": "2026-01-01", "root_signature": "s"});
        let signed = json!({"invoice": {}, "certificate": cert, "signature": "", "qr_signature": ""});
        let mut odd_cert = signed.clone();
        odd_cert["certificate"]["root_signature"] = json!({});
        let mut extra = signed.clone();
        extra["note"] = json!(1);
        let cases: Vec<(String, Result<(), &str>)> = vec![
            (json!({"qr": "WGINV1|blue"}).to_string(), Ok(())),
            (signed.to_string(), Ok(())),
            (json!({"qr": ""}).to_string(), Err("invalid_request")),
            (json!({"qr": "x".repeat(MAX_QR_CHARS + 1)}).to_string(), Err("invalid_request")),
            (json!({"qr": 1}).to_string(), Err("invalid_request")),
            (odd_cert.to_string(), Err("invalid_request")),
            (extra.to_string(), Err("invalid_request")),
            ("[]".into(), Err("invalid_request")),
            ("WGINV1|blue".into(), Err("malformed_json")),
        ];
        for (body, expect) in cases {
            assert_eq!(check(&body), expect, "{body}");
        }
    }
}
