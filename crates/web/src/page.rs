//! What the layout (`templates/layout.html`) needs from every page, and rendering a page into a
//! response. Every template struct has a `page: Page` field.

use crate::i18n::{self, Lang};
use crate::money;
use crate::prefs::Prefs;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// The layout's view of a request.
#[derive(Clone, Debug)]
pub struct Page {
    pub lang: Lang,
    pub elder: bool,
    /// The page's path, for the language and elder-mode links (they come back to the same page).
    pub path: String,
    /// The CSRF token for `app.js` to send with each API call; `None` on pages of a signed-out reader.
    pub csrf: Option<String>,
    /// Where the site name in the header leads (the page set's start).
    pub home: &'static str,
}

impl Page {
    pub fn new(prefs: Prefs, path: impl Into<String>, home: &'static str) -> Page {
        Page { lang: prefs.lang, elder: prefs.elder, path: path.into(), csrf: None, home }
    }

    pub fn with_csrf(mut self, token: impl Into<String>) -> Page {
        self.csrf = Some(token.into());
        self
    }

    /// The string `key` in the page's language.
    pub fn t<'k>(&self, key: &'k str) -> &'k str {
        i18n::text(self.lang, key)
    }

    /// The hashed URL of an embedded asset.
    pub fn asset(&self, name: &str) -> String {
        crate::assets::url(name)
    }

    /// The error messages `app.js` shows, as JSON (see `i18n::error_messages_json`).
    pub fn errors_json(&self) -> String {
        i18n::error_messages_json(self.lang)
    }

    /// This page in the other language.
    pub fn lang_switch_href(&self) -> String {
        format!("{}?lang={}", self.path, self.lang.other().code())
    }

    /// This page with the elder-friendly mode switched.
    pub fn elder_switch_href(&self) -> String {
        format!("{}?elder={}", self.path, if self.elder { 0 } else { 1 })
    }

    /// An amount of fen as the pages say it (`12345678` → `¥123,456.78`): [`money::yuan`].
    pub fn yuan(&self, fen: i64) -> String {
        money::yuan(fen)
    }

    /// A yuan decimal as a partner sent it (a unit price, `"1200.00"` → `¥1,200.00`): [`money::yuan_text`].
    pub fn yuan_text(&self, text: &str) -> String {
        money::yuan_text(text)
    }
}

/// The page as an HTML response; a template that fails to render is answered 500 (and logged).
/// A time the hub stored (UTC, RFC 3339) in China time, `YYYY-MM-DD HH:MM:SS`, as every page shows
/// times (a national "yyyy-MM-dd HH:mm:ss" is China time already); as stored if it is neither.
pub fn china_time(stored: &str) -> String {
    wugan_hub::clock::national_datetime(stored).unwrap_or_else(|| stored.to_string())
}

/// The China day of a stored time, `YYYY-MM-DD` (a visit at 01:51 in Beijing is that day's, not
/// the UTC day before: review r26 pages #1).
pub fn china_day(stored: &str) -> String {
    let t = china_time(stored);
    t.get(..10).unwrap_or(&t).to_string()
}

pub fn render<T: Template>(template: &T) -> Response {
    render_with(StatusCode::OK, template)
}

pub fn render_with<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => (status, [("cache-control", "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be drawn").into_response()
        }
    }
}

/// The page set's "not found" page.
#[derive(Template)]
#[template(path = "not_found.html")]
pub struct NotFound {
    pub page: Page,
}

pub fn not_found(page: Page) -> Response {
    render_with(StatusCode::NOT_FOUND, &NotFound { page })
}

/// The hub's front door (`GET /`): where each kind of reader goes.
#[derive(Template)]
#[template(path = "welcome.html")]
pub struct Welcome {
    pub page: Page,
}

pub async fn welcome(prefs: Prefs) -> Response {
    render(&Welcome { page: Page::new(prefs, "/", "/") })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_front_door_leads_to_every_page_set_in_both_languages() {
        use askama::Template;
        for lang in [crate::i18n::Lang::Zh, crate::i18n::Lang::En] {
            let page = super::Page::new(crate::prefs::Prefs { lang, elder: false, secure: false }, "/", "/");
            let html = super::Welcome { page }.render().unwrap();
            for href in ["href=\"/h5/\"", "href=\"/console/\"", "href=\"/ops/\"", "href=\"/docs\""] {
                assert!(html.contains(href), "{lang:?}: {href}");
            }
        }
    }
}

#[cfg(test)]
mod time_tests {
    #[test]
    fn a_stored_time_is_shown_in_china_time_and_its_day_is_chinas() {
        assert_eq!(super::china_time("2026-12-03T17:51:23.123456Z"), "2026-12-04 01:51:23");
        assert_eq!(super::china_day("2026-12-03T17:51:23.123456Z"), "2026-12-04");
        assert_eq!(super::china_day("2026-12-04 01:51:00"), "2026-12-04", "a national time is China time already");
        assert_eq!(super::china_day("soon"), "soon");
    }
}
