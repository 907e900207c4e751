//! The webhook delivery engine: the sender (`engine`), where webhooks may go (`destination`),
//! the HTTP client, the signatures, the payload's shape, and cross-instance wake-ups.

pub mod client;
pub mod destination;
pub mod engine;
pub mod listener;
pub mod payload;
pub mod signing;
