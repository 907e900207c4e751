//! Your contact methods and notification rules (on the Settings page, drawn by `users.rs`), and
//! the confirmation link of an added address: GET shows one button, POST confirms, no sign-in
//! needed (the link stands for the address it was sent to).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

use super::users::{settings, SettingsInput};
use super::{redirect_with_flash, render};
use crate::domain::contacts::{self, AddressForm, ConfirmRefusal, RuleForm, ToConfirm};
use crate::domain::DomainError;
use crate::web::auth::{signed_in_user, CurrentUser};
use crate::web::error::AppError;
use crate::web::layout::{Layout, Nav};
use crate::web::session::{CsrfForm, FlashKind};
use crate::web::AppState;

const SETTINGS: &str = "/settings#contact-methods";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(add_address)
        .service(resend)
        .service(remove_method)
        .service(add_rule)
        .service(remove_rule)
        .service(set_notify_on_resolve)
        .service(confirm_page)
        .service(confirm);
}

#[post("/settings/contact-methods")]
async fn add_address(
    state: web::Data<AppState>,
    CurrentUser(me): CurrentUser,
    session: Session,
    CsrfForm(form): CsrfForm<AddressForm>,
) -> Result<HttpResponse, AppError> {
    match contacts::add_address(&state.db, &me, &state.link_key, &form).await {
        Ok(address) => {
            tracing::info!(username = %me.username, "contact method added");
            let message = if state.email_configured {
                format!("We sent a confirmation link to {address}: it is used once you open it.")
            } else {
                format!("{address} is added, but email is not configured on this Klaxon, so its confirmation email cannot be sent. Ask an owner to set KLAXON_SMTP_URL, then send it again.")
            };
            Ok(redirect_with_flash(
                &session,
                if state.email_configured {
                    FlashKind::Success
                } else {
                    FlashKind::Error
                },
                message,
                SETTINGS,
            ))
        }
        Err(DomainError::Invalid(errors)) => {
            let input = SettingsInput {
                address: form,
                ..SettingsInput::default()
            };
            settings(&state, &session, me, errors, input, StatusCode::BAD_REQUEST).await
        }
        Err(other) => Err(other.into()),
    }
}

#[post("/settings/contact-methods/{id}/resend")]
async fn resend(
    state: web::Data<AppState>,
    CurrentUser(me): CurrentUser,
    session: Session,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let (kind, message) = match contacts::resend(&state.db, &me, &state.link_key, &path).await {
        Ok(address) if state.email_configured => (
            FlashKind::Success,
            format!("We sent a new confirmation link to {address}; earlier links no longer work."),
        ),
        Ok(_) => (
            FlashKind::Error,
            "Email is not configured on this Klaxon: the confirmation email cannot be sent."
                .to_owned(),
        ),
        Err(DomainError::Conflict(message)) => (FlashKind::Error, message),
        Err(other) => return Err(other.into()),
    };
    Ok(redirect_with_flash(&session, kind, message, SETTINGS))
}

#[post("/settings/contact-methods/{id}/remove")]
async fn remove_method(
    state: web::Data<AppState>,
    CurrentUser(me): CurrentUser,
    session: Session,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let (kind, message) = match contacts::remove_method(&state.db, &me, &path).await {
        Ok(removed) => {
            tracing::info!(username = %me.username, rules = removed.rules, "contact method removed");
            let rules = match removed.rules {
                0 => String::new(),
                1 => " and the notification rule that used it".to_owned(),
                n => format!(" and the {n} notification rules that used it"),
            };
            let cancelled = match removed.cancelled {
                0 => String::new(),
                1 => "; the email waiting to be sent to it was cancelled".to_owned(),
                n => format!("; the {n} emails waiting to be sent to it were cancelled"),
            };
            (
                FlashKind::Success,
                format!("Removed {}{rules}{cancelled}.", removed.address),
            )
        }
        Err(DomainError::Conflict(message)) => (FlashKind::Error, message),
        Err(other) => return Err(other.into()),
    };
    Ok(redirect_with_flash(&session, kind, message, SETTINGS))
}

#[post("/settings/notification-rules")]
async fn add_rule(
    state: web::Data<AppState>,
    CurrentUser(me): CurrentUser,
    session: Session,
    CsrfForm(form): CsrfForm<RuleForm>,
) -> Result<HttpResponse, AppError> {
    match contacts::add_rule(&state.db, &me, &form).await {
        Ok(rule) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            format!("Added the rule “{}”.", rule.sentence()),
            "/settings#notification-rules",
        )),
        Err(DomainError::Invalid(errors)) => {
            let input = SettingsInput {
                rule: form,
                ..SettingsInput::default()
            };
            settings(&state, &session, me, errors, input, StatusCode::BAD_REQUEST).await
        }
        Err(other) => Err(other.into()),
    }
}

#[post("/settings/notification-rules/{id}/remove")]
async fn remove_rule(
    state: web::Data<AppState>,
    CurrentUser(me): CurrentUser,
    session: Session,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    contacts::remove_rule(&state.db, &me, &path).await?;
    Ok(redirect_with_flash(
        &session,
        FlashKind::Success,
        "The notification rule is removed.",
        "/settings#notification-rules",
    ))
}

#[derive(serde::Deserialize)]
struct ResolvedEmails {
    /// A checkbox: present when ticked.
    #[serde(default)]
    notify_on_resolve: Option<String>,
}

#[post("/settings/resolved-emails")]
async fn set_notify_on_resolve(
    state: web::Data<AppState>,
    CurrentUser(me): CurrentUser,
    session: Session,
    CsrfForm(form): CsrfForm<ResolvedEmails>,
) -> Result<HttpResponse, AppError> {
    let on = form.notify_on_resolve.is_some();
    contacts::set_notify_on_resolve(&state.db, &me, on).await?;
    let message = if on {
        "You are emailed when an incident you were paged for is resolved."
    } else {
        "You are no longer emailed when an incident you were paged for is resolved."
    };
    Ok(redirect_with_flash(
        &session,
        FlashKind::Success,
        message,
        "/settings#notification-rules",
    ))
}

#[derive(Template)]
#[template(path = "settings/confirm_contact.html")]
struct ConfirmPage {
    layout: Layout,
    action: String,
    address: Option<String>,
    confirmed: bool,
    refusal: Option<String>,
}

async fn confirm_outcome(
    state: &AppState,
    session: &Session,
    token: &str,
    outcome: Result<ToConfirm, ConfirmRefusal>,
    confirmed: bool,
) -> Result<HttpResponse, AppError> {
    let user = signed_in_user(&state.db, session).await?;
    let (address, refusal, status) = match outcome {
        Ok(to_confirm) => (Some(to_confirm.address), None, StatusCode::OK),
        Err(refusal) => {
            let status = match refusal {
                ConfirmRefusal::Invalid => StatusCode::NOT_FOUND,
                ConfirmRefusal::Used | ConfirmRefusal::Expired => StatusCode::CONFLICT,
            };
            (None, Some(refusal.message()), status)
        }
    };
    let page = ConfirmPage {
        layout: Layout::new(session, user.as_ref(), Nav::None),
        action: format!("/contact-methods/confirm/{token}"),
        address,
        confirmed,
        refusal,
    };
    render(page, status)
}

#[get("/contact-methods/confirm/{token}")]
async fn confirm_page(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let looked = contacts::look_confirmation(&state.db, &path).await?;
    confirm_outcome(&state, &session, &path, looked, false).await
}

#[derive(serde::Deserialize)]
struct Confirmation {}

#[post("/contact-methods/confirm/{token}")]
async fn confirm(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    _form: CsrfForm<Confirmation>,
) -> Result<HttpResponse, AppError> {
    let done = contacts::confirm(&state.db, &path).await?;
    let confirmed = done.is_ok();
    if confirmed {
        tracing::info!("contact method confirmed");
    }
    confirm_outcome(&state, &session, &path, done, confirmed).await
}
