//! The one place where errors become HTTP responses.

use actix_session::SessionExt;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};
use askama::Template;

use super::auth::signed_in_user;
use super::layout::Layout;
use super::request_id;
use super::AppState;
use crate::db::DbError;
use crate::domain::accounts::AccountsError;
use crate::domain::DomainError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("page not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("CSRF token missing or wrong")]
    CsrfRejected,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("too many requests: {0}")]
    TooManyRequests(String),
    #[error("sign-in required")]
    SignInRequired { next: String },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<DbError> for AppError {
    fn from(error: DbError) -> Self {
        AppError::Internal(error.into())
    }
}

impl From<DomainError> for AppError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid(errors) => AppError::BadRequest(errors.to_string()),
            DomainError::NotFound => AppError::NotFound,
            DomainError::Forbidden(message) => AppError::Forbidden(message),
            DomainError::Conflict(message) => AppError::Conflict(message),
            DomainError::Db(e) => AppError::Internal(e.into()),
            error @ (DomainError::Data(_) | DomainError::Serialize(_)) => {
                AppError::Internal(error.into())
            }
        }
    }
}

impl From<AccountsError> for AppError {
    fn from(error: AccountsError) -> Self {
        match error {
            AccountsError::NotFound => AppError::NotFound,
            AccountsError::InUse(message) => AppError::Conflict(message),
            AccountsError::Forbidden(message) => AppError::Forbidden(message.to_owned()),
            AccountsError::Disabled => AppError::Forbidden(error.to_string()),
            AccountsError::Throttled { .. } => AppError::TooManyRequests(error.to_string()),
            AccountsError::Invalid(errors) => AppError::BadRequest(errors.to_string()),
            AccountsError::AlreadySetUp | AccountsError::BadCredentials => {
                AppError::BadRequest(error.to_string())
            }
            AccountsError::Db(e) => AppError::Internal(e.into()),
            AccountsError::Hashing(e) => AppError::Internal(anyhow::anyhow!(e)),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    heading: &'a str,
    message: String,
    request_id: String,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden(_) | AppError::CsrfRejected => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::SignInRequired { .. } => StatusCode::SEE_OTHER,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::SignInRequired { next } = self {
            let location = format!("/signin?next={}", url_encode(next));
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish();
        }
        if let AppError::Internal(cause) = self {
            tracing::error!(request_id = %request_id::current(), error = format!("{cause:#}"), "request failed");
        }
        self.page(Layout::bare())
    }
}

impl AppError {
    /// The heading and message of this error's page.
    fn words(&self) -> (&'static str, String) {
        match self {
            AppError::SignInRequired { .. } => ("Sign in", "Sign in to see this page.".to_owned()),
            AppError::NotFound => ("Not found", "There is nothing here, or you do not have access to it.".to_owned()),
            AppError::Forbidden(message) => ("Not allowed", message.clone()),
            AppError::BadRequest(message) => ("Bad request", message.clone()),
            AppError::Conflict(message) => ("Not possible right now", message.clone()),
            AppError::CsrfRejected => (
                "Form expired",
                "This form has expired or was not sent from Klaxon. Go back, reload the page and try again."
                    .to_owned(),
            ),
            AppError::PayloadTooLarge => ("Too large", "The request is larger than 1 MiB.".to_owned()),
            AppError::TooManyRequests(message) => ("Slow down", message.clone()),
            AppError::Internal(_) => (
                "Something went wrong",
                "Klaxon could not complete this request. The error has been logged; quote the request id to your administrator."
                    .to_owned(),
            ),
        }
    }

    /// This error's page inside `layout`.
    fn page(&self, layout: Layout) -> HttpResponse {
        self.shown().page(layout)
    }

    /// What this error's page says, owned: a middleware renders it again after an await.
    fn shown(&self) -> ShownError {
        let (heading, message) = self.words();
        ShownError {
            status: self.status_code(),
            heading,
            message,
        }
    }
}

/// An error as its page states it.
struct ShownError {
    status: StatusCode,
    heading: &'static str,
    message: String,
}

impl ShownError {
    fn page(self, layout: Layout) -> HttpResponse {
        let page = ErrorPage {
            layout,
            status: self.status.as_u16(),
            heading: self.heading,
            message: self.message,
            request_id: request_id::current(),
        };
        match page.render() {
            Ok(body) => HttpResponse::build(self.status)
                .content_type("text/html; charset=utf-8")
                .body(body),
            Err(_) => HttpResponse::build(self.status)
                .content_type("text/plain; charset=utf-8")
                .body(self.heading.to_owned()),
        }
    }
}

/// Error pages shown to someone signed in keep the navigation and "Sign out": a 404 or 403 is
/// a wrong turn, not the end of the session. Pages only; the API answers JSON.
pub async fn keep_navigation(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, actix_web::Error> {
    let api = req.path().starts_with("/api/");
    let response = next.call(req).await?;
    let shown = match response.response().error() {
        // Signing in is a redirect, not a page.
        Some(error) if !api => error
            .as_error::<AppError>()
            .filter(|error| !matches!(error, AppError::SignInRequired { .. }))
            .map(AppError::shown),
        _ => None,
    };
    let Some(error) = shown else {
        return Ok(response.map_into_left_body());
    };
    let session = response.request().get_session();
    let user = match response.request().app_data::<web::Data<AppState>>() {
        Some(state) => signed_in_user(&state.db, &session).await.ok().flatten(),
        None => None,
    };
    let Some(user) = user else {
        return Ok(response.map_into_left_body());
    };
    let page = error.page(Layout::for_error(&session, &user));
    Ok(response.into_response(page).map_into_right_body())
}

pub fn url_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
