//! Privacy-preserving statistics over counter-trafficking case records.
//!
//! # Layout
//! - [`domain`]: validated value types (case fields, countries, privacy budgets).
//! - [`privacy`]: exact discrete noise, sensitivity, suppression, accuracy.

pub mod domain;
pub mod privacy;
