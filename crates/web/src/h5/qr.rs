//! `/h5/qr`: the e-voucher QR code (医保电子凭证) to show at a hospital's scanner. The code is
//! drawn here as inline SVG from a fresh token; `app.js` replaces it every minute from
//! `/h5/qr/code` (the same drawing alone), so the page never shows an expired one for long.

use super::{session, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use qrcode::{EcLevel, QrCode};
use std::sync::Arc;
use wugan_hub::app::App;

#[derive(Template)]
#[template(path = "h5/qr.html")]
struct QrPage {
    page: Page,
    svg: String,
    refresh_s: u64,
}

/// The token as an SVG drawing, with a text alternative for screen readers.
fn drawing(token: &str, label: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(token.as_bytes(), EcLevel::M).ok()?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(240, 240).quiet_zone(true).build();
    // The SVG's own XML declaration is not wanted inside HTML; the label is ours (no markup).
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
    render(&QrPage { page, svg, refresh_s })
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
