//! What a charge asks for, and what it gives back.

use crate::domain::Consumer;
use crate::domain::budget::{Amount, Budget, BudgetError};

/// One release of a [`Charge`]: what it is, what it costs, its noisy body.
#[derive(Debug, Clone)]
pub struct ReleaseCharge<'a> {
    pub release_key: &'a str,
    pub canonical_query: &'a str,
    pub query_hash: &'a str,
    pub data_version: i64,
    /// Keyed fingerprint of the data the release was computed on (ledgered).
    pub data_fingerprint: &'a str,
    pub cost: Amount,
    /// The noisy release computed before the transaction (noise is
    /// deterministic, so a concurrent twin computes the same body); a body
    /// already stored wins.
    pub body: &'a str,
}

/// Releases charged to one consumer together, all or none: one count, one
/// national table, or every table of a report.
#[derive(Debug, Clone)]
pub struct Charge<'a> {
    pub dataset: &'a str,
    pub consumer: &'a Consumer,
    /// Lifetime budget given to this consumer if it is new (policy, by role).
    pub new_consumer_limit: Amount,
    pub releases: Vec<ReleaseCharge<'a>>,
    /// Set when the request carries an `Idempotency-Key`: its response bytes
    /// are stored in the charge's transaction.
    pub idempotency: Option<Idempotency<'a>>,
}

#[derive(Debug, Clone, Copy)]
pub struct Idempotency<'a> {
    pub key: &'a str,
    pub request_hash: &'a str,
    pub content_type: &'a str,
}

/// Proof that a release was charged and recorded. Only the store's charge
/// makes one ([`Receipt::issue`] is crate-private), inside the transaction
/// that writes the debit and the ledger entry; the request hears of it only
/// once that transaction is durable. Without a receipt no response can be
/// built, so numbers cannot leave without a charge.
#[derive(Debug, Clone)]
#[expect(
    clippy::manual_non_exhaustive,
    reason = "the private field seals construction to Receipt::issue; #[non_exhaustive] would not seal it inside this crate"
)]
pub struct Receipt {
    /// The stored noisy release body (as first stored; identical for every consumer).
    pub release_body: String,
    /// What this request paid for this release (zero for a repeat).
    pub charged: Amount,
    pub replay: bool,
    /// The consumer's budget after the whole charge.
    pub budget: Budget<Amount>,
    pub ledger_seq: i64,
    _sealed: (),
}

impl Receipt {
    pub(crate) fn issue(
        release_body: String,
        charged: Amount,
        replay: bool,
        budget: Budget<Amount>,
        ledger_seq: i64,
    ) -> Receipt {
        Receipt {
            release_body,
            charged,
            replay,
            budget,
            ledger_seq,
            _sealed: (),
        }
    }
}

/// Why a charge was refused. Nothing was charged or stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The consumer's budget cannot pay `requested` (the whole charge).
    Consumer {
        remaining: Amount,
        requested: Amount,
    },
    /// The dataset's global budget cannot pay for the new releases; the
    /// consumer would have paid `requested`.
    Global { requested: Amount },
    /// The idempotency key was used concurrently by another request.
    IdempotencyRace,
}

/// Why the charge decision declined. Nothing was charged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Decline {
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// Budget arithmetic that cannot be carried out exactly (an overflow);
    /// never a clamp.
    #[error("budget arithmetic: {0}")]
    Arithmetic(#[from] BudgetError),
}

/// Renders the response of a charge from its receipts (in the order of the
/// charge's releases).
pub type RenderResult = Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>;
