//! Klaxon: self-hosted incident management whose every state change reaches the webhooks its
//! teams configured, signed, in order, and never lost.

pub mod config;
pub mod db;
pub mod delivery;
pub mod domain;
pub mod jobs;
pub mod metrics;
pub mod paging;
pub mod startup;
pub mod telemetry;
pub mod time_format;
pub mod transfer;
pub mod web;
pub mod zenduty;
