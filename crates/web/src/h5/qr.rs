//! `/h5/qr`: the e-voucher QR code (医保电子凭证) to show at a hospital's scanner. The code is
//! drawn here as inline SVG from a fresh token; `app.js` replaces it every minute from
//! `/h5/qr/code` (the same drawing alone), so the page never shows an expired one for long.
//! `/h5/family/{agreement}/{link}/qr`: the same for a family member the patient's agreement pays
//! for (亲情付: a child with no e-voucher of their own, a parent without a smartphone).

use super::{session, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use qrcode::{EcLevel, QrCode};
use std::sync::Arc;
use wugan_hub::app::App;

#[derive(Template)]
#[template(path = "h5/qr.html")]
struct QrPage {
    page: Page,
    title: String,
    intro: String,
    /// None when the code cannot be offered (a relative added before their card was kept).
    svg: Option<String>,
    refresh_s: u64,
    /// Where the page's refresh fetches the drawing from.
    code_src: String,
    /// A family member's page links back to the family page.
    back: Option<String>,
}

/// The token as an SVG drawing, with a text alternative for screen readers.
fn drawing(token: &str, label: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(token.as_bytes(), EcLevel::M).ok()?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(240, 240).quiet_zone(true).build();
    // The SVG's own XML declaration is not wanted inside HTML. The label may hold a family
    // member's name (as the insurance center wrote it): escaped, as the templates escape.
    let label = label.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let body = svg.split_once("<svg").map(|(_, rest)| format!("<svg role=\"img\" aria-label=\"{label}\"{rest}"))?;
    Some(body)
}

async fn fresh(app: &App, patient_id: &str, label: &str) -> Option<(String, u64)> {
    let voucher = app.patient_qr(patient_id).await.ok()?;
    Some((drawing(&voucher.token, label)?, voucher.refresh_after_s))
}

pub async fn qr(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    let page = Page::new(prefs, "/h5/qr", HOME).with_csrf(signed_in.csrf_token.clone());
    let Some((svg, refresh_s)) = fresh(&app, &signed_in.patient_id, page.t("qr_label")).await else {
        // No verified identity yet: the home page asks for it.
        return Redirect::to("/h5/home").into_response();
    };
    let (title, intro) = (page.t("qr_title").to_string(), page.t("qr_intro").to_string());
    render(&QrPage { page, title, intro, svg: Some(svg), refresh_s, code_src: "/h5/qr/code".into(), back: None })
}

/// The drawing alone, for the page's refresh.
pub async fn code(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let label = crate::i18n::text(prefs.lang, "qr_label");
    match fresh(&app, &signed_in.patient_id, label).await {
        Some((svg, _)) => ([("cache-control", "no-store")], Html(svg)).into_response(),
        None => StatusCode::CONFLICT.into_response(),
    }
}

/// The member's name as the family page shows it, if `link` is on the patient's `agreement`.
async fn member_name(app: &App, patient_id: &str, agreement: &str, link: &str) -> Option<String> {
    let agreements = app.patient_agreements(patient_id).await.ok()?.agreements;
    let member = agreements.iter().filter(|a| a.id == agreement).flat_map(|a| a.family.iter()).find(|m| m.id == link);
    member.map(|m| m.name.clone())
}

/// A family member's drawing, or why there is none: `Err(true)` not offered for this link
/// (`family_qr_unavailable`), `Err(false)` no such link of the patient's.
async fn family_drawing(app: &App, patient_id: &str, agreement: &str, link: &str, label: &str) -> Result<(String, u64), bool> {
    match app.family_qr(patient_id, agreement, link).await {
        Ok(voucher) => drawing(&voucher.token, label).map(|svg| (svg, voucher.refresh_after_s)).ok_or(false),
        Err(e) => Err(e.code() == "family_qr_unavailable"),
    }
}

pub async fn family_qr(
    State(app): State<Arc<App>>,
    prefs: Prefs,
    headers: HeaderMap,
    Path((agreement, link)): Path<(String, String)>,
) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    let path = format!("/h5/family/{agreement}/{link}/qr");
    let page = Page::new(prefs, path.clone(), HOME).with_csrf(signed_in.csrf_token.clone());
    let Some(name) = member_name(&app, &signed_in.patient_id, &agreement, &link).await else { return crate::page::not_found(page) };
    let label = page.t("qr_family_label").replace("{name}", &name);
    let svg = match family_drawing(&app, &signed_in.patient_id, &agreement, &link, &label).await {
        Ok((svg, _)) => Some(svg),
        Err(true) => None,
        Err(false) => return crate::page::not_found(page),
    };
    let title = page.t("qr_family_title").replace("{name}", &name);
    let intro = page.t("qr_family_intro").replace("{name}", &name);
    let refresh_s = wugan_hub::app::qr_voucher::QR_REFRESH_S;
    render(&QrPage { page, title, intro, svg, refresh_s, code_src: format!("{path}/code"), back: Some("/h5/family".into()) })
}

/// A family member's drawing alone, for the page's refresh.
pub async fn family_code(
    State(app): State<Arc<App>>,
    prefs: Prefs,
    headers: HeaderMap,
    Path((agreement, link)): Path<(String, String)>,
) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some(name) = member_name(&app, &signed_in.patient_id, &agreement, &link).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let label = crate::i18n::text(prefs.lang, "qr_family_label").replace("{name}", &name);
    match family_drawing(&app, &signed_in.patient_id, &agreement, &link, &label).await {
        Ok((svg, _)) => ([("cache-control", "no-store")], Html(svg)).into_response(),
        Err(true) => StatusCode::CONFLICT.into_response(),
        Err(false) => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_drawings_label_is_text_never_markup() {
        let svg = super::drawing("WGQF1.x", "陈\"><script>x</script>的医保电子凭证二维码").expect("drawn");
        assert!(
            svg.starts_with("<svg role=\"img\" aria-label=\"陈&quot;&gt;&lt;script&gt;x&lt;/script&gt;的医保电子凭证二维码\""),
            "{svg}"
        );
        assert!(!svg.contains("<script>"), "{svg}");
    }
}
