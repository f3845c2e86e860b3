//! The reader's preferences: the language (zh-CN by default, English) and the elder-friendly mode
//! (适老化: larger type and targets, high contrast). Each is chosen by a link (`?lang=en`,
//! `?elder=1`), works without JavaScript, and is remembered in a cookie for a year.

use crate::i18n::Lang;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::convert::Infallible;

pub const LANG_COOKIE: &str = "lang";
pub const ELDER_COOKIE: &str = "elder";
const YEAR_S: u64 = 365 * 24 * 3600;

/// What a page is rendered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefs {
    pub lang: Lang,
    pub elder: bool,
    /// The request came over TLS (directly or through a proxy that says so): cookies are `Secure`.
    pub secure: bool,
}

impl Prefs {
    /// The query wins over the cookies; unknown values are ignored.
    pub fn of(headers: &HeaderMap, query: Option<&str>) -> (Prefs, Changes) {
        let lang_cookie = cookie(headers, LANG_COOKIE).and_then(Lang::from_code);
        let elder_cookie = cookie(headers, ELDER_COOKIE).and_then(flag);
        let lang_query = query_value(query, "lang").and_then(Lang::from_code);
        let elder_query = query_value(query, "elder").and_then(flag);
        let prefs = Prefs {
            lang: lang_query.or(lang_cookie).unwrap_or(Lang::Zh),
            elder: elder_query.or(elder_cookie).unwrap_or(false),
            secure: came_over_tls(headers),
        };
        let changes =
            Changes { lang: lang_query.filter(|l| Some(*l) != lang_cookie), elder: elder_query.filter(|e| Some(*e) != elder_cookie) };
        (prefs, changes)
    }
}

/// Preferences the query changed, to remember in cookies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub lang: Option<Lang>,
    pub elder: Option<bool>,
}

fn flag(value: &str) -> Option<bool> {
    match value {
        "1" | "on" | "true" => Some(true),
        "0" | "off" | "false" => Some(false),
        _ => None,
    }
}

/// TLS ends at this server (an `https` URI) or at a proxy that says so.
pub fn came_over_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// The value of cookie `name`, if the request sent one.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The value of `name` in a query string (no percent-decoding: our values are plain words).
pub fn query_value<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?.split('&').filter_map(|pair| pair.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, `Secure` over TLS, for the whole site.
pub fn set_cookie(name: &str, value: &str, max_age_s: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Lax{secure}");
    // Names and values are ours (words and hex); a bad one is a bug, answered by no cookie at all.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// Middleware: reads the preferences for the handlers and remembers those the query changed.
pub async fn remember(mut request: Request, next: Next) -> Response {
    let (prefs, changes) = Prefs::of(request.headers(), request.uri().query());
    request.extensions_mut().insert(prefs);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Some(lang) = changes.lang {
        headers.append("set-cookie", set_cookie(LANG_COOKIE, lang.code(), YEAR_S, prefs.secure));
    }
    if let Some(elder) = changes.elder {
        headers.append("set-cookie", set_cookie(ELDER_COOKIE, if elder { "1" } else { "0" }, YEAR_S, prefs.secure));
    }
    response
}

impl<S: Send + Sync> FromRequestParts<S> for Prefs {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Prefs, Infallible> {
        match parts.extensions.get::<Prefs>() {
            Some(prefs) => Ok(*prefs),
            None => Ok(Prefs::of(&parts.headers, parts.uri.query()).0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if !cookie.is_empty() {
            h.insert("cookie", HeaderValue::from_str(cookie).unwrap());
        }
        h
    }

    #[test]
    fn the_query_wins_over_the_cookie_and_only_a_change_is_remembered() {
        // (cookie, query, lang, elder, remembered lang, remembered elder)
        let table = [
            ("", None, Lang::Zh, false, None, None),
            ("lang=en", None, Lang::En, false, None, None),
            ("lang=en; elder=1", Some("lang=zh"), Lang::Zh, true, Some(Lang::Zh), None),
            ("elder=1", Some("elder=1"), Lang::Zh, true, None, None),
            ("elder=1", Some("elder=0&lang=en"), Lang::En, false, Some(Lang::En), Some(false)),
            ("lang=klingon", Some("elder=maybe"), Lang::Zh, false, None, None),
        ];
        for (cookie, query, lang, elder, remembered_lang, remembered_elder) in table {
            let (prefs, changes) = Prefs::of(&headers(cookie), query);
            assert_eq!((prefs.lang, prefs.elder), (lang, elder), "{cookie} {query:?}");
            assert_eq!(changes, Changes { lang: remembered_lang, elder: remembered_elder }, "{cookie} {query:?}");
        }
    }

    #[test]
    fn cookies_are_secure_only_over_tls() {
        let plain = set_cookie("lang", "en", 60, false);
        assert_eq!(plain.to_str().unwrap(), "lang=en; Path=/; Max-Age=60; HttpOnly; SameSite=Lax");
        assert!(set_cookie("lang", "en", 60, true).to_str().unwrap().ends_with("; Secure"));
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(came_over_tls(&h));
        assert!(!came_over_tls(&HeaderMap::new()));
    }
}
