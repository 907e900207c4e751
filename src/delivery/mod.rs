//! The webhook delivery engine. For now: where webhooks may be sent.

pub mod client;
pub mod destination;
pub mod engine;
pub mod payload;
pub mod signing;
