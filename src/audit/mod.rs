//! The privacy-budget ledger seen by auditors: the hash chain, signed
//! checkpoints and verification (shared by the server and the offline CLI).
//! Entries are written by [`crate::store::ledger`] in the same transaction
//! as the charge they record, and read by [`crate::store::audit`]; nothing
//! here touches the database.
//!
//! - [`chain`]: canonical encoding and `hash = SHA-256(prev || entry)`.
//! - [`checkpoint`]: the Ed25519 key and signed `(dataset, size, head, time)`.
//! - [`verify`]: chain, accounts and checkpoints, entry by entry; no I/O.

pub mod chain;
pub mod checkpoint;
pub mod verify;

pub use chain::{ChainError, Entry, EntryBody, GENESIS_HASH, entry_hash, verify_chain};
pub use checkpoint::{Checkpoint, PublicKey, Signer};
pub use verify::{Failure, FailureKind, Verifier};
