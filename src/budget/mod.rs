//! Privacy budgets: what a charge asks for ([`Charge`]), the decision that
//! accepts or refuses it ([`decide`]), what it proves ([`Receipt`]), and
//! what a request would meet before anything is computed ([`Outlook`]).
//!
//! Everything here is pure and unit-tested without a database. The store
//! (`store::ledger`) carries a charge out: inside one serialised
//! transaction it reads both budgets, asks [`decide`], and only then debits
//! both, stores the release and appends the ledger entry; the request hears
//! of its receipt once that transaction is durable. Amounts are
//! [`Amount`](crate::domain::budget::Amount)s in the store's accounting,
//! and all arithmetic on them is checked: an overflow is an error, never a
//! clamp.

mod decide;
mod outlook;
mod types;

pub use decide::{Decision, ItemCost, Known, decide};
pub use outlook::{KnownRelease, Outlook};
pub use types::{Charge, Decline, Idempotency, Receipt, Refusal, ReleaseCharge, RenderResult};

/// The ledger's name for the dataset itself, in entries about its global budget.
pub const GLOBAL_CONSUMER: &str = "(global)";

/// What the start-up sync did to the dataset's global limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalLimit {
    /// First start: the limit was written.
    Created,
    /// The stored limit already was the policy's.
    Unchanged,
    /// The policy's limit replaced another; `effective` is what is now
    /// stored: the policy's limit, or what is already spent when the policy
    /// asks for less (the dataset is then exhausted).
    Changed {
        from: crate::domain::budget::Amount,
        policy: crate::domain::budget::Amount,
        effective: crate::domain::budget::Amount,
        spent: crate::domain::budget::Amount,
    },
}

impl GlobalLimit {
    /// Whether no new release can be made any more.
    pub fn exhausted(&self) -> bool {
        matches!(self, GlobalLimit::Changed { effective, spent, .. } if effective <= spent)
    }
}
