//! The webhook delivery engine. For now: where webhooks may be sent.

pub mod destination;
pub mod payload;
