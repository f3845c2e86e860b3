//! The headers every page and asset carries: a content security policy that admits this origin's
//! own scripts, styles and images only (no inline script: `app.js` does everything), no framing,
//! no MIME sniffing, and no full URL leaked to another site.

use axum::http::header::{HeaderName, HeaderValue};
use axum::response::Response;

/// The policy. `img-src data:` is for QR codes drawn as data URLs; inline `<svg>` needs nothing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub async fn headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    response
}
