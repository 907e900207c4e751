//! Confirmation before an action that cannot simply be taken back: its button is a link to a
//! page that asks, whose form does it. Without JavaScript that page is the confirmation; with
//! it, `static/confirm.js` asks in a dialog and posts the same form.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

use super::render;
use crate::domain::users::User;
use crate::web::error::AppError;
use crate::web::layout::{Layout, Nav};

/// What the page asks, and what confirming posts.
pub struct Confirmation {
    pub question: String,
    /// What happens, and what does not, in a sentence or two.
    pub detail: String,
    /// Where the form posts.
    pub action: String,
    /// Fields the action reads besides the CSRF token.
    pub fields: Vec<(&'static str, &'static str)>,
    pub button: &'static str,
    /// Where Cancel goes.
    pub back: String,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    layout: Layout,
    question: String,
    detail: String,
    action: String,
    fields: Vec<(&'static str, &'static str)>,
    button: &'static str,
    back: String,
}

pub fn page(
    session: &Session,
    me: &User,
    nav: Nav,
    confirmation: Confirmation,
) -> Result<HttpResponse, AppError> {
    render(
        ConfirmPage {
            layout: Layout::new(session, Some(me), nav),
            question: confirmation.question,
            detail: confirmation.detail,
            action: confirmation.action,
            fields: confirmation.fields,
            button: confirmation.button,
            back: confirmation.back,
        },
        StatusCode::OK,
    )
}
