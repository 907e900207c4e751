//! The one place where API errors become JSON responses.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::domain::DomainError;
use crate::web::request_id;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Method \"{0}\" not allowed.")]
    MethodNotAllowed(String),
    #[error("Too many events for this integration key; retry after {} s.", .0.as_secs().max(1))]
    TooManyRequests(std::time::Duration),
    #[error("Too many unknown integration keys from this address; retry after {} s.", retry_after_secs(.0))]
    UnknownKeysThrottled(std::time::Duration),
    #[error("The body is larger than {0} KiB.")]
    PayloadTooLarge(usize),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Whole seconds, rounded up, at least 1: what `Retry-After` says.
fn retry_after_secs(wait: &std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid(errors) => ApiError::BadRequest(errors.to_string()),
            DomainError::NotFound => ApiError::NotFound("Not found.".into()),
            DomainError::Forbidden(message) => ApiError::Forbidden(message),
            DomainError::Conflict(message) => ApiError::Conflict(message),
            DomainError::Db(e) => ApiError::Internal(e.into()),
            error @ (DomainError::Data(_) | DomainError::Serialize(_)) => {
                ApiError::Internal(error.into())
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests(_) | ApiError::UnknownKeysThrottled(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let detail = match self {
            ApiError::Internal(cause) => {
                let id = request_id::current();
                tracing::error!(request_id = %id, error = format!("{cause:#}"), "API request failed");
                format!("Klaxon could not complete this request (request id {id}).")
            }
            other => other.to_string(),
        };
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::TooManyRequests(wait) | ApiError::UnknownKeysThrottled(wait) = self {
            // Whole seconds, rounded up, as Retry-After needs.
            response.insert_header((
                "retry-after",
                wait.as_secs_f64().ceil().max(1.0).to_string(),
            ));
        }
        response.json(serde_json::json!({ "detail": detail }))
    }
}
