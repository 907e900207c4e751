//! The JSON API (Zenduty-compatible). Errors are `{"detail": "..."}` with a 4xx status.

pub mod error;
pub mod events;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    events::routes(cfg);
}
