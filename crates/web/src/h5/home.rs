//! `/h5/home`: the signed-in patient's first page: who they are, the real-name binding (once),
//! and the way out.

use super::{session, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;
use wugan_hub::app::patients::PatientView;
use wugan_hub::app::App;

#[derive(Template)]
#[template(path = "h5/home.html")]
struct Home {
    page: Page,
    me: PatientView,
}

pub async fn home(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    let me = match app.patient_me(&signed_in.patient_id).await {
        Ok(me) => me,
        Err(_) => return session::to_start(),
    };
    let page = Page::new(prefs, "/h5/home", HOME).with_csrf(signed_in.csrf_token);
    render(&Home { page, me })
}
