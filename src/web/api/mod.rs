//! The JSON API (Zenduty-compatible). Errors are `{"detail": "..."}` with a 4xx status.

pub mod auth;
pub mod error;
pub mod events;
pub mod incidents;
pub mod integrations;
pub mod rate_limit;
pub mod services;
pub mod teams;

use actix_web::web;

use error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    events::routes(cfg);
    teams::routes(cfg);
    services::routes(cfg);
    incidents::routes(cfg);
    integrations::routes(cfg);
}

/// Reads a JSON body of at most `limit` bytes (stopping as soon as it is larger).
pub async fn read_json(
    mut payload: web::Payload,
    limit: usize,
) -> Result<serde_json::Value, ApiError> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::BadRequest("The body could not be read.".into()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit / 1024));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}.")))
}

/// An API resource: a method it does not serve answers 405 with a JSON `detail`.
pub fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|req: actix_web::HttpRequest| async move {
        Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed(req.method().to_string()))
    }))
}

/// Largest JSON body of the REST API.
pub const MAX_JSON_BYTES: usize = 512 * 1024;
