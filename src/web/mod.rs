//! The HTTP layer: handlers parse input into domain types, call the domain and render.

pub mod api;
pub mod auth;
pub mod client_address;
pub mod error;
pub mod format;
pub mod input;
pub mod layout;
pub mod pages;
pub mod request_id;
pub mod session;

use actix_web::web;

use crate::config::Config;
use crate::db::Db;
use std::sync::Arc;

use crate::delivery::destination::DestinationPolicy;
use crate::metrics::Metrics;

/// Shared by every handler.
pub struct AppState {
    pub db: Db,
    pub config: Config,
    pub destinations: DestinationPolicy,
    pub metrics: Arc<Metrics>,
    pub events_rate_limit: api::rate_limit::EventsRateLimit,
    /// Signs the Acknowledge links of emails (`paging::ack_link`).
    pub link_key: std::sync::Arc<[u8]>,
    /// Whether an SMTP server is configured; owners see a warning in Settings when not.
    pub email_configured: bool,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    api::routes(cfg);
    pages::routes(cfg);
}
