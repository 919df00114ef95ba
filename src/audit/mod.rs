//! The privacy-budget ledger seen by auditors: the hash chain, signed
//! checkpoints, verification (shared by the server and the offline CLI) and
//! the ledger's reads. Entries are written by [`crate::budget`] in the same
//! transaction as the charge they record; nothing here writes an entry.
//!
//! - [`chain`]: canonical encoding and `hash = SHA-256(prev || entry)`.
//! - [`checkpoint`]: the Ed25519 key and signed `(dataset, size, head, time)`.
//! - [`verify`]: chain, accounts and checkpoints, entry by entry; no I/O.
//! - [`store`]: paging, export, checkpoints and the server's own verification.
//! - [`cli`]: `ctm-stats audit keygen | public-key | checkpoint | verify`.

pub mod chain;
pub mod checkpoint;
pub mod cli;
pub mod store;
pub mod verify;

pub use chain::{ChainError, Entry, EntryBody, GENESIS_HASH, entry_hash, verify_chain};
pub use checkpoint::{Checkpoint, PublicKey, Signer};
pub use verify::{Failure, FailureKind, Verifier};
