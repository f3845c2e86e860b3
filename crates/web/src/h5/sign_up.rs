//! `/h5/sign-up`: 签约 as the patient: the agreement text in force, the sources (personal account
//! first or not; a credit line at a bank with its limit, or a debit card), and the acceptance.
//! The form posts to `POST /api/v1/patient/agreements` with the text's version.

use super::{session, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::Arc;
use wugan_hub::app::consent::{current_text, AgreementTextView};
use wugan_hub::app::App;

#[derive(Template)]
#[template(path = "h5/sign_up.html")]
struct SignUp {
    page: Page,
    text: AgreementTextView,
    /// The banks to choose from: code and name.
    banks: Vec<(String, String)>,
}

impl SignUp {
    /// The agreement's paragraphs in the page's language (the Chinese text binds).
    fn paragraphs(&self) -> Vec<&'static str> {
        let text = match self.page.lang {
            crate::i18n::Lang::Zh => self.text.text_zh,
            crate::i18n::Lang::En => self.text.text_en,
        };
        text.lines().filter(|l| !l.trim().is_empty()).collect()
    }
}

pub async fn sign_up(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    // The real name comes first: the home page asks for it.
    match app.patient_me(&signed_in.patient_id).await {
        Ok(me) if me.identity.is_some() => {}
        _ => return Redirect::to("/h5/home").into_response(),
    }
    let banks = app.config.banks.iter().map(|b| (b.bank_code.clone(), app.banks.name(&b.bank_code))).collect();
    let page = Page::new(prefs, "/h5/sign-up", HOME).with_csrf(signed_in.csrf_token);
    render(&SignUp { page, text: current_text(), banks })
}
