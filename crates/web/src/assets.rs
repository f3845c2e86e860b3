//! The assets every page uses, embedded in the binary (no CDN, no external font) and served under
//! `/assets/{name}`, where the name carries the first 10 hex digits of the content's SHA-256
//! (`app.3fa8c01b2d.css`): a changed file gets a new name, so each can be cached for a year.
//! Templates ask for the hashed name with `page.asset("app.css")`.

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use std::sync::{Arc, LazyLock};
use wugan_hub::app::App;

/// (name, content type, bytes). A page set that needs another file (a vendored library) adds it here.
const FILES: &[(&str, &str, &[u8])] = &[
    ("app.css", "text/css; charset=utf-8", include_bytes!("../assets/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../assets/app.js")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../assets/favicon.svg")),
    // Apache ECharts (assets/vendor/README.md), for the operator console's chart only.
    ("echarts.js", "text/javascript; charset=utf-8", include_bytes!("../assets/vendor/echarts.common.min.js")),
    ("ops-chart.js", "text/javascript; charset=utf-8", include_bytes!("../assets/ops-chart.js")),
];

struct Asset {
    name: &'static str,
    hashed: String,
    etag: String,
    content_type: &'static str,
    bytes: &'static [u8],
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(name, content_type, bytes)| {
            let digest = hex::encode(Sha256::digest(bytes));
            let hash = &digest[..10];
            let hashed = match name.rsplit_once('.') {
                Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
                None => format!("{name}.{hash}"),
            };
            Asset { name, hashed, etag: format!("\"{hash}\""), content_type, bytes }
        })
        .collect()
});

/// The URL of asset `name` (as listed in `FILES`); an unknown name is a bug a page test finds as a 404.
pub fn url(name: &str) -> String {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => format!("/assets/{}", asset.hashed),
        None => format!("/assets/{name}"),
    }
}

pub fn router() -> Router<Arc<App>> {
    Router::new().route("/assets/{name}", get(serve))
}

async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.hashed == name) else {
        return (StatusCode::NOT_FOUND, [("content-type", "text/plain; charset=utf-8")], "no such asset").into_response();
    };
    let cache = [("cache-control", "public, max-age=31536000, immutable"), ("etag", asset.etag.as_str())];
    let unchanged = headers.get("if-none-match").and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains(asset.etag.as_str()));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (cache, [("content-type", asset.content_type)], asset.bytes).into_response()
}
