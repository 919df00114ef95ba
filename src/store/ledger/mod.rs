//! The privacy-budget ledger in the database: the one place where a release
//! becomes releasable. A charge debits the consumer and the dataset's global
//! budget, stores the noisy release and appends the hash-chained ledger
//! entry in one transaction, and only then hands out a
//! [`Receipt`](crate::budget::Receipt).
//!
//! Concurrency: on SQLite the transaction starts with `BEGIN IMMEDIATE` (the
//! write lock is taken first, so read-then-write cannot race); on PostgreSQL
//! it takes a transaction-scoped advisory lock that serialises ledger appends
//! across replicas. Inside it a charge reads both budgets, asks the pure
//! decision ([`crate::budget::decide`]), and only then writes; the debits
//! stay conditional updates (`spent + cost <= limit`) and CHECK constraints
//! forbid overspending, so a bug elsewhere still cannot overspend.
//!
//! - [`sql`]: the statements, and one way to run each per driver;
//! - [`charge`]: a charge carried out over them (written once);
//! - [`group_commit`]: the [`Committer`] every release and refusal goes
//!   through, which commits concurrent charges in one transaction;
//!   [`sqlite_writer`] is its SQLite thread, [`pg_batch`] its batch on
//!   PostgreSQL;
//! - [`commit`]: direct transactions (idempotent responses, replays, limit
//!   changes, the start-up sync);
//! - [`reads`]: budgets, stored releases and stored responses.

mod batch;
mod charge;
mod commit;
mod group_commit;
mod pg_batch;
mod reads;
mod sql;
mod sqlite_writer;

pub use batch::MAX_BATCH;
pub use group_commit::{CommitStats, Committer};
pub use reads::StoredResponse;

use crate::budget::{Decline, Refusal};
use crate::domain::budget::{Amount, BudgetError};
use crate::store::StoreError;

/// Begins a transaction holding the advisory lock that serialises ledger
/// appends on PostgreSQL, in one round trip (a simple query may hold two
/// statements). The key is `0x6374_6d5f_6c65_6467` ("ctm_ledg"), written
/// out in decimal.
const BEGIN_LOCKED: &str = "BEGIN; SELECT pg_advisory_xact_lock(7166473163661206631)";

/// Begins the serialised write transaction of the backend.
macro_rules! begin_serialised {
    ($store:expr, $pool:expr) => {{
        let turn = $crate::store::writer_turn($store).await;
        let tx = match $store {
            $crate::store::Store::Sqlite(_) => $pool.begin_with("BEGIN IMMEDIATE").await?,
            $crate::store::Store::Postgres(_) => {
                $pool
                    .begin_with($crate::store::ledger::BEGIN_LOCKED)
                    .await?
            }
        };
        (turn, tx)
    }};
}
pub(crate) use begin_serialised;

/// The last ledger entry as seen inside the open serialised transaction:
/// read once, then carried from append to append, since nobody else can
/// append while the transaction holds the ledger lock.
pub(crate) type LedgerHead = Option<(i64, String)>;

/// A stored amount, read back exactly: a negative one is an error.
pub(crate) fn amount(stored: i64) -> Result<Amount, StoreError> {
    Ok(Amount::try_from(stored)?)
}

/// Why a charge did not happen, or (for `Render`) why its response could
/// not be built after it did.
#[derive(Debug, thiserror::Error)]
pub enum ChargeError {
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// The consumer is stored with another role than the charge's token
    /// names; nothing was written.
    #[error("the consumer holds the role {stored}, not {token}")]
    RoleChanged { stored: String, token: String },
    /// Budget arithmetic that cannot be carried out exactly (an overflow, or
    /// a stored amount that is not one); nothing was charged.
    #[error("budget arithmetic: {0}")]
    Arithmetic(#[from] BudgetError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The response of a charged release could not be built. With an
    /// idempotency key nothing was charged (the bytes belong to the
    /// transaction); without one the charge stands and a repeat is free.
    #[error("rendering the response failed: {0}")]
    Render(Box<dyn std::error::Error + Send + Sync>),
}

impl From<Decline> for ChargeError {
    fn from(d: Decline) -> Self {
        match d {
            Decline::Refused(r) => ChargeError::Refused(r),
            Decline::Arithmetic(e) => ChargeError::Arithmetic(e),
        }
    }
}

impl From<sqlx::Error> for ChargeError {
    fn from(e: sqlx::Error) -> Self {
        ChargeError::Store(e.into())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_locking_begin_takes_the_ledger_lock() {
        assert_eq!(
            super::BEGIN_LOCKED,
            format!(
                "BEGIN; SELECT pg_advisory_xact_lock({})",
                0x6374_6d5f_6c65_6467_i64
            )
        );
    }
}
