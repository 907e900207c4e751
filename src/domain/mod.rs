//! The domain: rules and use cases, independent of HTTP.

pub mod accounts;
pub mod ids;
pub mod validation;
