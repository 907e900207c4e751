//! Checks on raw input that hold for every route, before any handler runs.
//!
//! NUL characters: PostgreSQL cannot store them in text (`invalid byte sequence for encoding
//! "UTF8": 0x00`) nor compare text with them, so a `%00` in a path, a query string or a form
//! answered 500 there (and was stored on SQLite). No field of Klaxon has a use for one: they are
//! refused here, in the address and in the forms of the pages, for both backends alike (JSON
//! bodies: `api::read_json`).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use futures_util::StreamExt;

use super::api::error::ApiError;
use super::error::AppError;
use super::session::MAX_FORM_BYTES;

/// The message for a NUL character in a body or a query string.
pub const NUL_REFUSED: &str = "Text may not contain NUL characters (%00).";

/// True when url-encoded text decodes to something with a NUL character in it.
pub fn encodes_nul(raw: &[u8]) -> bool {
    raw.contains(&0) || raw.windows(3).any(|w| w == b"%00")
}

pub async fn refuse_nul(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, actix_web::Error> {
    let api = req.path().starts_with("/api/");
    let refuse = |req: ServiceRequest, not_found: bool| {
        let response = match (api, not_found) {
            (true, true) => ApiError::NotFound("Not found.".into()).error_response(),
            (true, false) => ApiError::BadRequest(NUL_REFUSED.into()).error_response(),
            (false, true) => AppError::NotFound.error_response(),
            (false, false) => AppError::BadRequest(NUL_REFUSED.into()).error_response(),
        };
        Ok(req.into_response(response).map_into_right_body())
    };
    // Nothing is named with a NUL character: such a path finds nothing.
    if encodes_nul(req.uri().path().as_bytes()) {
        return refuse(req, true);
    }
    if req
        .uri()
        .query()
        .is_some_and(|query| encodes_nul(query.as_bytes()))
    {
        return refuse(req, false);
    }
    // Pages read their forms whatever the content type says (`CsrfForm`); JSON is checked
    // once parsed (`api::read_json`).
    let form = !api && matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    if form {
        // Read the form (at most the size `CsrfForm` accepts), look, and hand it on unchanged.
        let mut payload = req.take_payload();
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > MAX_FORM_BYTES {
                let response = AppError::PayloadTooLarge.error_response();
                return Ok(req.into_response(response).map_into_right_body());
            }
            body.extend_from_slice(&chunk);
        }
        if encodes_nul(&body) {
            return refuse(req, false);
        }
        req.set_payload(actix_web::dev::Payload::from(body.freeze()));
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nul_however_it_is_written() {
        for raw in ["a%00b", "%00", "name=x%00", "a\0b"] {
            assert!(encodes_nul(raw.as_bytes()), "{raw:?}");
        }
        for raw in ["", "a%2500b", "%0", "%01%0a", "100", "%C3%A9"] {
            assert!(!encodes_nul(raw.as_bytes()), "{raw:?}");
        }
    }
}
