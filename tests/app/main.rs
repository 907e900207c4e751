//! Integration tests: the real server on port 0 with a fresh database, on SQLite always and on
//! PostgreSQL when `KLAXON_TEST_POSTGRES_URL` is set. One test binary, so it links once.
//!
//! One file (or folder, `browser/`) per feature, holding its tests; what they share is in
//! `helpers/` (see the top of `helpers/mod.rs`), and no test file imports from another.

mod accounts;
mod api;
mod auto_resolve;
mod browser;
mod contacts;
mod deliveries;
mod deployment;
mod durability;
mod escalation_policies;
mod events;
mod finding;
mod fuzz;
mod hardening;
mod helpers;
mod incidents;
mod instances;
mod integrations;
mod paging;
mod platform;
mod query_plans;
mod roles;
mod schedules;
mod sdk;
mod services;
mod sessions;
mod transfer;
mod users;
mod wake_ups;
