//! wugan's pages: the patient's phone pages under `/h5/`, and the foundation every page set shares
//! (the staff consoles build on it too): one layout (`templates/layout.html`), the strings of each
//! language (`i18n`), the reader's preferences (`prefs`: language, elder-friendly mode), how every
//! amount is said (`money`: `¥123,456.78`, and the plain number a form field posts), the embedded
//! assets (`assets`), and the security headers every page carries (`security`).
//!
//! Architecture Invariant: presentation only. Pages read through the hub's `App` (the use cases
//! the API handlers call); every action a page offers is a `fetch` to the JSON API by
//! `assets/app.js`, as an integrator would call it. The hub never depends on this crate.

pub mod assets;
pub mod i18n;
pub mod money;
pub mod page;
pub mod prefs;
pub mod security;

mod console;
mod h5;
mod ops;
mod staff;
mod visit_totals;

use axum::Router;
use std::sync::Arc;
use wugan_hub::app::App;

/// Every page and asset, to merge into the hub's router (`wugan serve`, `System::start`).
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", axum::routing::get(page::welcome))
        .merge(assets::router())
        .merge(h5::router())
        .merge(console::router())
        .merge(ops::router())
        .layer(axum::middleware::from_fn(prefs::remember))
        .layer(axum::middleware::map_response(security::headers))
        .with_state(app)
}
