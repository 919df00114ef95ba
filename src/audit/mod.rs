//! The privacy-budget ledger seen by auditors: the hash chain and its
//! verification. Entries are written by [`crate::budget`] in the same
//! transaction as the charge they record.

pub mod chain;

pub use chain::{ChainError, Entry, EntryBody, GENESIS_HASH, entry_hash, verify_chain};
