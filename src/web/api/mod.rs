//! The JSON API (Zenduty-compatible). Errors are `{"detail": "..."}` with a 4xx status.

pub mod auth;
pub mod error;
pub mod escalation_policies;
pub mod events;
pub mod incidents;
pub mod integrations;
pub mod rate_limit;
pub mod schedules;
pub mod services;
pub mod teams;

use actix_web::web;

use error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    events::routes(cfg);
    teams::routes(cfg);
    services::routes(cfg);
    schedules::routes(cfg);
    escalation_policies::routes(cfg);
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
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}.")))?;
    if holds_nul(&value) {
        // PostgreSQL cannot store it in text; refused on both backends (see `web::input`).
        return Err(ApiError::BadRequest(
            "Strings may not contain NUL characters (\\u0000).".into(),
        ));
    }
    Ok(value)
}

/// Whether any string (or object key) in the value has a NUL character.
fn holds_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    // Iteratively: nesting is bounded by serde_json's recursion limit, but no need to recurse.
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::String(s) if s.contains('\0') => return true,
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return true;
                }
                stack.extend(map.values());
            }
            _ => {}
        }
    }
    false
}

/// An API resource: a method it does not serve answers 405 with a JSON `detail`.
pub fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|req: actix_web::HttpRequest| async move {
        Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed(req.method().to_string()))
    }))
}

/// Largest JSON body of the REST API.
pub const MAX_JSON_BYTES: usize = 512 * 1024;
