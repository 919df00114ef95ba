//! How long a request may wait on PostgreSQL.
//!
//! A database that stops answering without closing its sockets (a frozen
//! server, a network path that drops packets) would hold a request for as
//! long as the kernel keeps the connection, minutes or more: neither sqlx
//! nor the PostgreSQL protocol bounds a statement on the client side, and a
//! server-side `statement_timeout` is never applied by a server that is not
//! running. So every store operation a request makes, and the ledger
//! writer's batches, run under one client-side deadline; past it the
//! request is answered 503 (`service.unavailable`, `Retry-After`) and
//! nothing is released. Dropping the future closes or resets its
//! connection, so an open transaction is never committed after the answer.
//!
//! SQLite is in-process: its waits are bounded by its busy timeout, and a
//! slow disk is not a hung peer, so it is left out.

use super::{Store, StoreCause, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The deadline in milliseconds; set once at start from `DB_TIMEOUT_MS`.
static DB_TIMEOUT_MS: AtomicU64 = AtomicU64::new(DEFAULT_DB_TIMEOUT_MS);

/// The default deadline: long enough for a batch of 64 charges on a slow
/// disk, short enough that a client's retry comes soon.
pub const DEFAULT_DB_TIMEOUT_MS: u64 = 2_000;

/// Sets the deadline for this process (at least 100 ms).
pub fn set_db_timeout(ms: u64) {
    DB_TIMEOUT_MS.store(ms.max(100), Ordering::Relaxed);
}

/// The deadline every PostgreSQL wait of a request is held to.
pub fn db_timeout() -> Duration {
    Duration::from_millis(DB_TIMEOUT_MS.load(Ordering::Relaxed))
}

pub(crate) fn timed_out() -> StoreError {
    StoreError::Unavailable(StoreCause::new(
        "the database did not answer in time",
        format!("no answer within {} ms", db_timeout().as_millis()),
    ))
}

/// Runs `fut` under `times` [`db_timeout`] on PostgreSQL (as is on SQLite).
pub(crate) async fn bounded_on<T, E: From<StoreError>>(
    backend_is_postgres: bool,
    times: u32,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    if !backend_is_postgres {
        return fut.await;
    }
    match tokio::time::timeout(db_timeout() * times, fut).await {
        Ok(result) => result,
        Err(_) => Err(timed_out().into()),
    }
}

impl Store {
    /// Runs one store operation of a request under the deadline.
    pub(crate) async fn bounded<T, E: From<StoreError>>(
        &self,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.bounded_times(1, fut).await
    }

    /// Runs an operation that reads a whole table under `times` the deadline.
    pub(crate) async fn bounded_times<T, E: From<StoreError>>(
        &self,
        times: u32,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        bounded_on(matches!(self, Store::Postgres(_)), times, fut).await
    }
}
