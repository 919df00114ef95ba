//! Privacy-preserving statistics over counter-trafficking case records.
//!
//! Start with [`release`]: the release core's one path from a query to a
//! charged, recorded answer. `docs/architecture.md` draws the request flow
//! and states the dependency rules, which `tests/architecture.rs` checks.
//!
//! # Crate map
//!
//! The core decides what may be released and computes it; it names no HTTP
//! item and no database driver:
//! - [`release`]: the release core: the [`release::Pipeline`], query
//!   validation ([`release::query`]), planning, computing and rendering
//!   counts, the one refusal-ledger wrapper, and [`release::ReleaseError`]
//!   (every refusal and failure, free of HTTP).
//! - [`national`]: national figures for government partners (tables,
//!   reports, CSV and SDMX-CSV), released through the same pipeline.
//! - [`synthetic`]: differentially private synthetic microdata: tree
//!   marginals released through the same pipeline, records drawn from them.
//! - [`sdmx`]: the SDMX 2.1 REST interface's structures, queries and
//!   message writers; its data are national reports released by [`national`].
//! - [`budget`]: what a charge is, the pure charge decision, receipts, and
//!   the read-only outlook of a request.
//! - [`cache`]: released bodies kept in memory.
//! - [`engine`]: the in-memory snapshot of the cases and grouped counting.
//! - [`privacy`]: exact discrete noise, sensitivity, suppression, accuracy.
//! - [`policy`]: the dataset policy file, loaded and validated at start-up.
//! - [`domain`]: validated value types (case fields, countries, roles,
//!   consumers, privacy budgets, the data's identity).
//! - [`audit`]: the ledger's hash chain, signed checkpoints and the verifier
//!   (shared by the server and the offline CLI).
//!
//! The store speaks SQL, to SQLite or PostgreSQL:
//! - [`store`]: cases, the privacy-budget ledger's transactions and group
//!   commit ([`store::ledger`]), and the auditors' reads ([`store::audit`]).
//!
//! The HTTP edge adapts requests to the core and errors to responses:
//! - [`api`]: routes, handlers, [`api::AppState`] and the OpenAPI document.
//! - [`auth`]: bearer tokens to [`domain::Consumer`]s.
//! - [`error`]: [`error::ApiError`] as RFC 9457 problem+json.
//! - [`rate`]: the per-consumer request rate.
//! - [`telemetry`]: structured logs, never a case.
//!
//! Composition and tools:
//! - [`startup`]: the composition root (store, policy, snapshot, keys, server).
//! - [`snapshots`]: where the case snapshot comes from: the file this replica
//!   saved, verified and current, or the store (then saved).
//! - [`settings`]: configuration from file and environment.
//! - [`audit_cli`]: the `audit` commands (keys, checkpoints, offline verification).
//! - [`import`]: loading cases from CSV; [`synth`]: synthetic demo data.
//! - [`files`]: secret files, written readable by their owner only.

pub mod api;
pub mod audit;
pub mod audit_cli;
pub mod auth;
pub mod budget;
pub mod cache;
pub mod domain;
pub mod engine;
pub mod error;
pub mod files;
pub mod import;
pub mod metrics;
pub mod national;
pub mod policy;
pub mod privacy;
pub mod rate;
pub mod release;
pub mod sdmx;
pub mod settings;
pub mod snapshots;
pub mod startup;
pub mod store;
pub mod synth;
pub mod synthetic;
pub mod telemetry;
#[cfg(test)]
mod testing;
