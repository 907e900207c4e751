//! The webhook delivery engine: the sender (`engine`), where webhooks may go (`destination`),
//! the HTTP client, the signatures, and cross-instance wake-ups. The bodies it sends were frozen
//! when the deliveries were enqueued (`domain::incidents::outbox`, shaped by `zenduty`).

pub mod client;
pub mod destination;
pub mod engine;
pub mod signing;
