//! The group commit's writer for SQLite: a dedicated thread with its own
//! synchronous connection to the store's file.
//!
//! Why not the sqlx pool: sqlx runs each SQLite connection on a worker
//! thread and every statement is a round trip between two threads. A charge
//! is several statements, and under load each hop waits for a core, so the
//! single writer (which everything else queues behind) spent most of its
//! time waiting: about 450 µs per charge measured at 32 clients, where the
//! statements themselves take a few microseconds each. On its own thread with
//! a synchronous connection the same statements run back to back.
//!
//! The SQL and the charge logic are the same as everywhere else: this module
//! only implements [`LedgerSql`] for a `rusqlite` connection, and drives the
//! shared (async) logic to completion in place, since none of its calls ever
//! waits.

use super::batch::{BatchFailure, Counters, Job, answer, run_jobs};
use super::sql::{self, Budgets, LedgerSql};
use crate::audit::chain::EntryBody;
use crate::budget::ReleaseCharge;
use crate::domain::Consumer;
use crate::store::{StoreCause, StoreError, now_rfc3339};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::sync::mpsc;

/// A file still locked after the busy timeout (another process writing, or
/// recovering the log), or a full disk, is a store that cannot serve for a
/// while (503 with `Retry-After`), as with the sqlx pool; anything else is
/// an error.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(
                rusqlite::ErrorCode::DatabaseBusy
                | rusqlite::ErrorCode::DatabaseLocked
                | rusqlite::ErrorCode::DiskFull,
            ) => StoreError::Unavailable(StoreCause::new("the SQLite file is busy or full", e)),
            _ => StoreError::Embedded(e),
        }
    }
}

impl From<rusqlite::Error> for BatchFailure {
    fn from(e: rusqlite::Error) -> Self {
        BatchFailure::whole(e.into())
    }
}

/// Opens the writer's connection with the settings of the sqlx pool: WAL,
/// `synchronous=FULL` (a committed debit survives power loss), foreign keys,
/// and a busy timeout for other processes writing the same file.
pub fn open(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// How often the checkpointer copies the write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Runs the writer on its own thread until every sender is gone, with a
/// checkpointer thread beside it.
///
/// SQLite checkpoints inside the commit that crosses the log's size threshold
/// (1000 pages): it copies the log into the database file and fsyncs it,
/// stalling the writer 5-15 ms while every waiting request queues behind it.
/// A second connection runs passive checkpoints (they never block the writer
/// or readers) every [`CHECKPOINT_EVERY`], so that the writer's own
/// checkpoint finds most pages already copied. The writer keeps its automatic
/// checkpoint: a passive checkpoint cannot finish while the writer appends,
/// and the log only starts over after one finishes. Measured at 32 clients
/// (p99 of three 10 s runs each): writer alone 18.3-19.7 ms; with the
/// checkpointer 16.7-17.8 ms; checkpointer alone, with the writer finishing a
/// checkpoint past 8192 pages, 41-44 ms.
pub fn spawn(
    path: &Path,
    mut conn: rusqlite::Connection,
    mut queue: mpsc::Receiver<Job>,
    stats: Arc<Counters>,
) -> Result<(), StoreError> {
    let checkpointer = open(path)?;
    let running = Arc::new(AtomicBool::new(true));
    {
        let running = Arc::clone(&running);
        std::thread::Builder::new()
            .name("ledger-checkpoint".into())
            .spawn(move || {
                while running.load(Ordering::Relaxed) {
                    std::thread::sleep(CHECKPOINT_EVERY);
                    if let Err(e) = passive_checkpoint(&checkpointer) {
                        tracing::warn!(error = %e, "WAL checkpoint failed; retrying later");
                    }
                }
            })
            .map_err(|e| {
                StoreError::Unavailable(StoreCause::new("cannot start the WAL checkpointer", e))
            })?;
    }
    std::thread::Builder::new()
        .name("ledger-writer".into())
        .spawn(move || {
            let mut jobs = Vec::with_capacity(super::batch::MAX_BATCH);
            while queue.blocking_recv_many(&mut jobs, super::batch::MAX_BATCH) > 0 {
                let jobs = super::batch::still_awaited(std::mem::take(&mut jobs));
                if jobs.is_empty() {
                    continue;
                }
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats.jobs.fetch_add(jobs.len() as u64, Ordering::Relaxed);
                // Writers of this process (direct commits) queue on the same turn.
                let turn = crate::store::SQLITE_WRITER.blocking_lock();
                let started = std::time::Instant::now();
                // A panic in one batch (a bug, or a library that panics on
                // an I/O error) fails that batch, rolled back as its
                // transaction unwinds; the writer goes on with the next.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    commit(&mut conn, &jobs)
                }))
                .unwrap_or_else(|_| {
                    Err(BatchFailure::whole(StoreError::Unavailable(
                        StoreCause::bare(
                            "the ledger batch was interrupted; nothing of it was committed",
                        ),
                    )))
                });
                drop(turn);
                let elapsed = started.elapsed();
                crate::metrics::METRICS.ledger_batch(jobs.len(), elapsed.as_secs_f64());
                tracing::debug!(
                    size = jobs.len(),
                    micros = elapsed.as_micros() as u64,
                    "ledger batch"
                );
                answer(jobs, result);
            }
            running.store(false, Ordering::Relaxed);
        })
        .map_err(|e| {
            StoreError::Unavailable(StoreCause::new("cannot start the ledger writer", e))
        })?;
    Ok(())
}

/// Copies what it can of the log into the database without waiting for anyone.
fn passive_checkpoint(conn: &rusqlite::Connection) -> Result<(), rusqlite::Error> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

pub(super) fn commit(
    conn: &mut rusqlite::Connection,
    jobs: &[Job],
) -> Result<Vec<super::batch::Outcome>, BatchFailure> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let outcomes = run_in_place(run_jobs(&mut Sync(&tx), jobs))?;
    tx.commit()?;
    Ok(outcomes)
}

/// Drives a future whose every await is ready at once (the statements of a
/// synchronous connection) to its end on this thread.
fn run_in_place<T>(fut: impl Future<Output = Result<T, BatchFailure>>) -> Result<T, BatchFailure> {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => Err(BatchFailure::whole(StoreError::Conflict(
            "the ledger writer's statements unexpectedly waited".into(),
        ))),
    }
}

/// The statements of [`sql`] on the writer's synchronous connection.
struct Sync<'a>(&'a rusqlite::Connection);

impl LedgerSql for Sync<'_> {
    async fn release_and_receipt(
        &mut self,
        release_key: &str,
        consumer_id: &str,
    ) -> Result<Option<(i64, String, bool)>, StoreError> {
        Ok(self
            .0
            .prepare_cached(sql::RELEASE_AND_RECEIPT)?
            .query_row(params![release_key, consumer_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?)
    }

    async fn budgets(
        &mut self,
        dataset: &str,
        consumer_id: &str,
    ) -> Result<Option<Budgets>, StoreError> {
        Ok(self
            .0
            .prepare_cached(sql::BUDGETS)?
            .query_row(params![dataset, consumer_id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .optional()?)
    }

    async fn insert_consumer(
        &mut self,
        dataset: &str,
        consumer: &Consumer,
        limit: i64,
        spent: i64,
    ) -> Result<(), StoreError> {
        self.0
            .prepare_cached(sql::INSERT_CONSUMER)?
            .execute(params![
                dataset,
                consumer.id,
                consumer.role.code(),
                limit,
                spent,
                now_rfc3339()
            ])?;
        Ok(())
    }

    async fn debit_consumer(
        &mut self,
        dataset: &str,
        consumer_id: &str,
        amount: i64,
    ) -> Result<u64, StoreError> {
        let n = self
            .0
            .prepare_cached(sql::DEBIT_CONSUMER)?
            .execute(params![amount, dataset, consumer_id])?;
        Ok(n as u64)
    }

    async fn debit_global(&mut self, dataset: &str, amount: i64) -> Result<u64, StoreError> {
        let n = self
            .0
            .prepare_cached(sql::DEBIT_GLOBAL)?
            .execute(params![amount, dataset])?;
        Ok(n as u64)
    }

    async fn insert_release(
        &mut self,
        dataset: &str,
        r: &ReleaseCharge<'_>,
    ) -> Result<i64, StoreError> {
        Ok(self.0.prepare_cached(sql::INSERT_RELEASE)?.query_row(
            params![
                dataset,
                r.release_key,
                r.canonical_query,
                r.data_version,
                r.cost.to_i64()?,
                r.body,
                now_rfc3339()
            ],
            |row| row.get(0),
        )?)
    }

    async fn insert_receipt(
        &mut self,
        release_id: i64,
        dataset: &str,
        consumer_id: &str,
        charged: i64,
    ) -> Result<(), StoreError> {
        self.0
            .prepare_cached(sql::INSERT_RECEIPT)?
            .execute(params![
                release_id,
                dataset,
                consumer_id,
                charged,
                now_rfc3339()
            ])?;
        Ok(())
    }

    async fn ledger_last(&mut self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(self
            .0
            .prepare_cached(sql::LEDGER_LAST)?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    async fn insert_entry(
        &mut self,
        body: &EntryBody,
        prev_hash: &str,
        hash: &str,
    ) -> Result<(), StoreError> {
        self.0.prepare_cached(sql::INSERT_ENTRY)?.execute(params![
            body.seq,
            body.at,
            body.dataset,
            body.consumer_id,
            body.role.code(),
            body.event.code(),
            body.outcome.as_str(),
            body.canonical_query,
            body.query_hash,
            body.cost_micro,
            body.consumer_spent_micro,
            body.consumer_limit_micro,
            body.global_spent_micro,
            body.data_version,
            body.idempotency_key,
            prev_hash,
            hash,
            body.data_fingerprint
        ])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_locked_past_the_timeout_is_unavailable_and_other_errors_are_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("locked.db");
        let holder = rusqlite::Connection::open(&path).expect("open");
        // A rollback journal (not WAL): an exclusive lock keeps readers out.
        holder
            .execute_batch("CREATE TABLE t (x); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);")
            .expect("lock");
        let reader = rusqlite::Connection::open(&path).expect("open");
        reader
            .busy_timeout(Duration::from_millis(10))
            .expect("timeout");
        let busy = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
            .expect_err("locked out");
        assert!(
            matches!(StoreError::from(busy), StoreError::Unavailable(_)),
            "a busy file answers 503"
        );
        let wrong = rusqlite::Connection::open_in_memory()
            .expect("open")
            .execute("SELECT * FROM no_such_table", [])
            .expect_err("no such table");
        assert!(matches!(StoreError::from(wrong), StoreError::Embedded(_)));
    }
}
