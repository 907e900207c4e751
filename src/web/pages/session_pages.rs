//! First-run owner sign-up, sign-in and sign-out.

use actix_session::Session;
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;

use super::{redirect_with_flash, render, see_other};
use crate::domain::accounts::{self, AccountForm, AccountsError};
use crate::domain::sessions;
use crate::domain::validation::FieldErrors;
use crate::web::auth::{safe_next, signed_in_user};
use crate::web::client_address;
use crate::web::error::AppError;
use crate::web::layout::{Layout, Nav};
use crate::web::session::{self, CsrfForm, FlashKind};
use crate::web::AppState;

/// Where a signed-in person lands.
pub const HOME: &str = "/incidents";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(setup_page)
        .service(setup_submit)
        .service(signin_page)
        .service(signin_submit)
        .service(signout);
}

#[get("/")]
async fn home(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, AppError> {
    if !accounts::is_installed(&state.db).await? {
        return Ok(see_other("/setup"));
    }
    Ok(match signed_in_user(&state.db, &session).await? {
        Some(_) => see_other(HOME),
        None => see_other("/signin"),
    })
}

#[derive(Template)]
#[template(path = "accounts/setup.html")]
struct SetupPage {
    layout: Layout,
    form: AccountForm,
    errors: FieldErrors,
}

#[get("/setup")]
async fn setup_page(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, AppError> {
    if accounts::is_installed(&state.db).await? {
        return Ok(see_other("/signin"));
    }
    let page = SetupPage {
        layout: Layout::new(&session, None, Nav::None),
        form: AccountForm::default(),
        errors: FieldErrors::new(),
    };
    render(page, StatusCode::OK)
}

#[post("/setup")]
async fn setup_submit(
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<AccountForm>,
) -> Result<HttpResponse, AppError> {
    match accounts::create_first_owner(&state.db, &form).await {
        Ok(owner) => {
            tracing::info!(username = %owner.username, "first owner created");
            let token = sessions::start(&state.db, owner.id).await?;
            session::sign_in(&session, &token)?;
            Ok(redirect_with_flash(
                &session,
                FlashKind::Success,
                "Welcome to Klaxon. Your account is the owner of this install.",
                HOME,
            ))
        }
        Err(AccountsError::Invalid(errors)) => {
            let page = SetupPage {
                layout: Layout::new(&session, None, Nav::None),
                form: AccountForm {
                    password: String::new(),
                    ..form
                },
                errors,
            };
            render(page, StatusCode::BAD_REQUEST)
        }
        Err(AccountsError::AlreadySetUp) => Ok(redirect_with_flash(
            &session,
            FlashKind::Error,
            "Klaxon is already set up. Sign in, or ask an owner for an account.",
            "/signin",
        )),
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "accounts/signin.html")]
struct SignInPage {
    layout: Layout,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(serde::Deserialize)]
struct NextQuery {
    next: Option<String>,
}

#[get("/signin")]
async fn signin_page(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    if !accounts::is_installed(&state.db).await? {
        return Ok(see_other("/setup"));
    }
    let next = safe_next(query.next.as_deref());
    if signed_in_user(&state.db, &session).await?.is_some() {
        return Ok(see_other(&next));
    }
    let page = SignInPage {
        layout: Layout::new(&session, None, Nav::None),
        email: String::new(),
        next,
        error: None,
    };
    render(page, StatusCode::OK)
}

#[derive(serde::Deserialize)]
struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

#[post("/signin")]
async fn signin_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<SignInForm>,
) -> Result<HttpResponse, AppError> {
    let client_ip = client_address::of(&req, &state.config.trusted_proxies);
    let next = safe_next(form.next.as_deref());
    let mut retry_after = None;
    let (status, message) =
        match accounts::sign_in(&state.db, &form.email, &form.password, &client_ip).await {
            Ok(user) => {
                tracing::info!(username = %user.username, "signed in");
                let token = sessions::start(&state.db, user.id).await?;
                session::sign_in(&session, &token)?;
                return Ok(see_other(&next));
            }
            Err(AccountsError::BadCredentials) => {
                tracing::info!(%client_ip, "sign-in failed");
                (
                    StatusCode::UNAUTHORIZED,
                    "Email or password is incorrect.".to_owned(),
                )
            }
            Err(AccountsError::Disabled) => {
                tracing::info!(%client_ip, "sign-in to a disabled account");
                (
                    StatusCode::FORBIDDEN,
                    "Your account is disabled. Ask an owner or admin of this Klaxon to enable it."
                        .to_owned(),
                )
            }
            Err(AccountsError::Throttled { retry_after_secs }) => {
                tracing::warn!(%client_ip, "sign-in throttled");
                retry_after = Some(retry_after_secs);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "Too many failed sign-ins. Try again in {} minutes.",
                        retry_after_secs.div_ceil(60)
                    ),
                )
            }
            Err(other) => return Err(other.into()),
        };
    let page = SignInPage {
        layout: Layout::new(&session, None, Nav::None),
        email: form.email,
        next,
        error: Some(message),
    };
    let mut response = render(page, status)?;
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
    Ok(response)
}

/// Ends this session, for every copy of its cookie.
#[post("/signout")]
async fn signout(
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    if let Some(token) = session::session_token(&session) {
        sessions::end(&state.db, &token).await?;
    }
    session::sign_out(&session);
    Ok(redirect_with_flash(
        &session,
        FlashKind::Success,
        "You have signed out.",
        "/signin",
    ))
}
