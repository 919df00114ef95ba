//! Privacy-preserving statistics over counter-trafficking case records.
//!
//! # Layout
//! - [`domain`]: validated value types (case fields, countries, roles, privacy budgets).
//! - [`privacy`]: exact discrete noise, sensitivity, suppression, accuracy.
//! - [`policy`]: the dataset policy file, loaded and validated at start-up.
//! - [`store`]: SQLite / PostgreSQL persistence of cases, budgets and the ledger.
//! - [`audit`]: the hash-chained budget ledger, signed checkpoints and their verification.
//! - [`national`]: national figures for government partners (tables, reports, SDMX-CSV).
//! - [`release`]: the release pipeline over a [`release::Pipeline`]; read it first.
//! - [`release_error`]: every refusal and failure of the release core, free of HTTP.
//! - [`api`], [`auth`], [`error`]: the HTTP edge (routes and their shared state,
//!   tokens, problem+json); [`startup`] composes everything.
//!
//! Dependencies point inward: the core (`domain`, `privacy`, `engine`,
//! `policy`, `query`, `release`, `national`, `budget`, `store`, `audit`)
//! names no HTTP item, and the edge maps its errors to responses.

pub mod api;
pub mod audit;
pub mod auth;
pub mod budget;
pub mod cache;
pub mod domain;
pub mod engine;
pub mod error;
pub mod import;
pub mod national;
pub mod policy;
pub mod privacy;
pub mod query;
pub mod rate;
pub mod release;
pub mod release_error;
pub mod settings;
pub mod startup;
pub mod store;
pub mod synth;
pub mod telemetry;
