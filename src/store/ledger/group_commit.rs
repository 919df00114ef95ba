//! Group commit: one writer task turns the charges of concurrent requests
//! into a single durable transaction.
//!
//! Every released answer is first a committed, fsync'd ledger entry. Committed
//! one by one, those commits are serialised (SQLite has one writer; on
//! PostgreSQL an advisory lock orders the hash chain), so throughput is capped
//! at one fsync per answer. Here requests hand their charge to a queue; the
//! writer takes everything waiting (up to [`MAX_BATCH`]), opens one serialised
//! transaction, runs the charges one after the other (a refused charge writes
//! nothing, so the others go on; any other error fails the whole transaction),
//! commits once, and only then answers each request. So:
//!
//! - "charged before released" holds: no request hears of its receipt before
//!   the commit that holds it is durable; if the commit fails, every request of
//!   the batch gets an error and nothing of the batch was charged;
//! - the charges run the same statements as a direct commit
//!   ([`charge`](super::charge)), in queue order, so budgets and the
//!   hash chain read exactly as if they had committed one by one;
//! - under no load a batch holds one charge and costs what a direct commit
//!   costs: nothing waits for a batch to fill.
//!
//! Requests with an `Idempotency-Key` commit directly, because their response
//! bytes, rendered from the receipt, are stored in the same transaction.

use super::ChargeError;
use super::batch::{
    BatchFailure, Counters, Job, MAX_BATCH, Outcome, OwnedCharge, Work, answer, run_jobs,
    still_awaited,
};
use crate::audit::chain::EntryBody;
use crate::budget::{Charge, Receipt, RenderResult};
use crate::store::{Store, StoreCause, StoreError};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, oneshot};

/// The handle requests commit through. Cheap to clone; the writer task stops
/// when the last handle is dropped.
#[derive(Clone, Debug)]
pub struct Committer {
    store: Store,
    queue: mpsc::Sender<Job>,
    stats: Arc<Counters>,
}

/// How well commits are being grouped, since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    /// Transactions committed (or attempted) by the writer.
    pub batches: u64,
    /// Charges and refusal entries they held.
    pub jobs: u64,
}

impl Committer {
    /// Starts the writer: for an SQLite file, a thread with its own
    /// synchronous connection ([`super::sqlite_writer`]); otherwise a task on
    /// the current Tokio runtime that uses the store's pool.
    pub fn spawn(store: Store) -> Result<Committer, StoreError> {
        let (queue, jobs) = mpsc::channel(4 * MAX_BATCH);
        let stats = Arc::new(Counters::default());
        match store.sqlite_file() {
            Some(path) => {
                let conn = super::sqlite_writer::open(&path)?;
                super::sqlite_writer::spawn(&path, conn, jobs, Arc::clone(&stats))?;
            }
            None => {
                tokio::spawn(run(store.clone(), jobs, Arc::clone(&stats)));
            }
        }
        Ok(Committer {
            store,
            queue,
            stats,
        })
    }

    /// Whether the writer still takes work (its task or thread has not stopped).
    pub fn is_alive(&self) -> bool {
        !self.queue.is_closed()
    }

    pub fn stats(&self) -> CommitStats {
        CommitStats {
            batches: self.stats.batches.load(Ordering::Relaxed),
            jobs: self.stats.jobs.load(Ordering::Relaxed),
        }
    }

    /// Charges `charge` and records it, like [`Store::commit`], through the
    /// group commit (directly when it carries an idempotency key, whose
    /// response bytes belong to the transaction). The response is rendered
    /// from the receipts after the commit.
    pub async fn commit(
        &self,
        charge: &Charge<'_>,
        render: impl FnOnce(&[Receipt]) -> RenderResult,
    ) -> Result<(Vec<Receipt>, Vec<u8>), ChargeError> {
        if charge.idempotency.is_some() {
            return self.store.commit(charge, render).await;
        }
        match self.submit(Work::Release(OwnedCharge::new(charge))).await? {
            Outcome::Release(r) => {
                let receipts = r?;
                let bytes = render(&receipts).map_err(ChargeError::Render)?;
                Ok((receipts, bytes))
            }
            Outcome::Refusal(_) | Outcome::Ping(_) => Err(ChargeError::Store(mismatch())),
        }
    }

    /// Records a refusal in the ledger, like [`Store::record_refusal`].
    pub async fn record_refusal(&self, entry: EntryBody) -> Result<i64, StoreError> {
        match self.submit(Work::Refusal(entry)).await? {
            Outcome::Refusal(r) => r,
            Outcome::Release(_) | Outcome::Ping(_) => Err(mismatch()),
        }
    }

    /// Whether the writer commits a batch now, within `within`: the
    /// readiness probe. A writer waiting on a hung database, or whose
    /// database refuses it, is not ready, even though its task runs.
    pub async fn probe(&self, within: std::time::Duration) -> bool {
        let ping = async {
            match self.submit(Work::Ping).await? {
                Outcome::Ping(r) => r,
                _ => Err(mismatch()),
            }
        };
        matches!(tokio::time::timeout(within, ping).await, Ok(Ok(())))
    }

    /// Hands `work` to the writer and waits for its outcome, on PostgreSQL
    /// no longer than the store's deadline ([`crate::store::db_timeout`]).
    /// A request that stops waiting is dropped from its batch if the batch
    /// has not started; if it has, the charge may stand unanswered, which
    /// costs the consumer budget but never releases anything unpaid (a
    /// retry is free).
    async fn submit(&self, work: Work) -> Result<Outcome, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.store
            .bounded(async {
                self.queue
                    .send(Job { work, reply })
                    .await
                    .map_err(|_| writer_gone())?;
                outcome.await.map_err(|_| writer_gone())
            })
            .await
    }
}

fn mismatch() -> StoreError {
    StoreError::Conflict("the ledger writer answered another kind of work".into())
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable(StoreCause::bare("the ledger writer has stopped"))
}

/// The writer: waits for work, then commits everything waiting as one batch.
async fn run(store: Store, mut queue: mpsc::Receiver<Job>, stats: Arc<Counters>) {
    let mut writer = BatchWriter::new(store);
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let batch = still_awaited(std::mem::take(&mut jobs));
        if batch.is_empty() {
            continue;
        }
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
        let size = batch.len();
        let started = std::time::Instant::now();
        // A hung database must not hold the writer: past the deadline the
        // batch's future is dropped, closing its connection (the server
        // rolls back what it did not commit), and the batch is answered
        // 503. If the COMMIT had reached the server, charges stand
        // unanswered: never an answer without its debit.
        let result = match crate::store::deadline::bounded_on(
            matches!(writer, BatchWriter::Postgres(_)),
            1,
            async { writer.commit(&batch).await.map_err(Timed::Failed) },
        )
        .await
        {
            Ok(outcomes) => Ok(outcomes),
            Err(Timed::Failed(failure)) => Err(failure),
            Err(Timed::Out(error)) => {
                tracing::warn!(error = %crate::store::Chain(&error), size, "ledger batch timed out; nothing of it is answered");
                Err(BatchFailure::whole(error))
            }
        };
        answer(batch, result);
        let elapsed = started.elapsed();
        crate::metrics::METRICS.ledger_batch(size, elapsed.as_secs_f64());
        tracing::debug!(size, micros = elapsed.as_micros() as u64, "ledger batch");
    }
}

/// A batch's failure, or its deadline passing.
enum Timed {
    Failed(BatchFailure),
    Out(StoreError),
}

impl From<StoreError> for Timed {
    fn from(e: StoreError) -> Self {
        Timed::Out(e)
    }
}

/// What the writer task commits through.
enum BatchWriter {
    /// A connection of its own, a batch in a constant number of round
    /// trips ([`super::pg_batch`]).
    Postgres(super::pg_batch::PgWriter),
    /// The store's pool, one statement at a time: SQLite in memory (tests);
    /// an SQLite file has a writer thread of its own
    /// ([`super::sqlite_writer`]).
    Pool(Store),
}

impl BatchWriter {
    fn new(store: Store) -> BatchWriter {
        match store {
            Store::Postgres(pool) => BatchWriter::Postgres(super::pg_batch::PgWriter::new(pool)),
            store @ Store::Sqlite(_) => BatchWriter::Pool(store),
        }
    }

    async fn commit(&mut self, jobs: &[Job]) -> Result<Vec<Outcome>, BatchFailure> {
        match self {
            BatchWriter::Postgres(writer) => writer.commit(jobs).await,
            BatchWriter::Pool(store) => {
                crate::store::with_pool!(&*store, pool => {
                    let (_turn, mut tx) = super::begin_serialised!(&*store, pool);
                    let outcomes = run_jobs(&mut *tx, jobs).await?;
                    tx.commit().await?;
                    Ok(outcomes)
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::batch::OwnedRelease;
    use super::*;
    use crate::audit::chain::{Event, Outcome as EntryOutcome};
    use crate::budget::Refusal;
    use crate::domain::budget::Amount;
    use crate::domain::{Consumer, Role};
    use crate::store::with_pool;

    const DATASET: &str = "ctm";

    async fn store(dir: &std::path::Path) -> Store {
        let url = format!("sqlite:{}", dir.join("ledger.db").display());
        ready(Store::connect(&url).await.expect("connect")).await
    }

    async fn ready(store: Store) -> Store {
        store.migrate().await.expect("migrate");
        store
            .sync_global_budget(DATASET, Amount::from_micro(1_000_000_000))
            .await
            .expect("global budget");
        store
    }

    /// A store in a new database of `CTM_TEST_POSTGRES_URL`; `None` (the
    /// test skipped) without it, unless `CTM_REQUIRE_POSTGRES=1`.
    async fn postgres_store() -> Option<Store> {
        let url = crate::store::scratch::scratch_postgres("ctm_unit")
            .await
            .expect("a test database on CTM_TEST_POSTGRES_URL")?;
        let store = Store::connect(&url).await.expect("connect");
        Some(ready(store).await)
    }

    fn consumer(id: &str) -> Consumer {
        Consumer {
            id: id.into(),
            role: Role::Researcher,
            country: None,
            region: None,
        }
    }

    fn charge(who: &Consumer, key: &str, cost_micro: u64, limit_micro: u64) -> OwnedCharge {
        OwnedCharge {
            dataset: DATASET.into(),
            consumer: who.clone(),
            new_consumer_limit: Amount::from_micro(limit_micro),
            releases: vec![OwnedRelease {
                release_key: key.into(),
                canonical_query: format!("{{\"q\":\"{key}\"}}"),
                query_hash: format!("hash-{key}"),
                data_version: 1,
                data_fingerprint: "f".repeat(32),
                cost: Amount::from_micro(cost_micro),
                body: "{\"cells\":[1]}".into(),
            }],
        }
    }

    fn refusal(who: &Consumer, code: &str) -> EntryBody {
        EntryBody::about(
            DATASET,
            who,
            Event::Refusal,
            EntryOutcome::Refused(code.into()),
        )
    }

    /// Commits one batch as the writer task does, with a writer of its own.
    async fn commit_batch(store: &Store, jobs: Vec<Job>) {
        let result = BatchWriter::new(store.clone()).commit(&jobs).await;
        answer(jobs, result);
    }

    /// Commits one batch through the pool's writer task, or through the
    /// SQLite writer thread's synchronous connection.
    async fn commit_with(writer: Writer, store: &Store, dir: &std::path::Path, jobs: Vec<Job>) {
        match writer {
            Writer::Pool => commit_batch(store, jobs).await,
            Writer::Sync => {
                let mut conn =
                    super::super::sqlite_writer::open(&dir.join("ledger.db")).expect("open");
                let result = super::super::sqlite_writer::commit(&mut conn, &jobs);
                answer(jobs, result);
            }
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Writer {
        Pool,
        Sync,
    }

    async fn assert_ledger_verifies(store: &Store) -> i64 {
        let key = crate::audit::Signer::generate().expect("key").public_key();
        let check = store.verify_ledger(&key).await.expect("verify");
        assert!(check.failure.is_none(), "{:?}", check.failure);
        check.size
    }

    #[tokio::test]
    async fn concurrent_charges_are_grouped_and_never_overspend() {
        let dir = tempfile::tempdir().expect("dir");
        grouped_and_never_overspent(store(dir.path()).await).await;
    }

    #[tokio::test]
    async fn concurrent_charges_are_grouped_and_never_overspend_on_postgres() {
        if let Some(store) = postgres_store().await {
            grouped_and_never_overspent(store).await;
        }
    }

    async fn grouped_and_never_overspent(store: Store) {
        let committer = Committer::spawn(store.clone()).expect("writer");
        let who = consumer("researcher-1");
        // The limit fits exactly 7 charges of 0.1.
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let committer = committer.clone();
                let charge = charge(&who, &format!("release-{i}"), 100_000, 700_000);
                tokio::spawn(async move {
                    let (reply, outcome) = oneshot::channel();
                    let job = Job {
                        work: Work::Release(charge),
                        reply,
                    };
                    committer.queue.send(job).await.expect("queue");
                    match outcome.await.expect("answer") {
                        Outcome::Release(r) => r.map(|mut receipts| receipts.remove(0)),
                        Outcome::Refusal(_) | Outcome::Ping(_) => {
                            panic!("another outcome for a charge")
                        }
                    }
                })
            })
            .collect();
        let mut charged = 0;
        let mut refused = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(r) => {
                    assert_eq!(r.charged.micro(), 100_000);
                    charged += 1;
                }
                Err(ChargeError::Refused(Refusal::Consumer { remaining, .. })) => {
                    assert_eq!(remaining.micro(), 0);
                    refused += 1;
                }
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!((charged, refused), (7, 33));
        let budget = store
            .consumer_budget(DATASET, &who.id)
            .await
            .expect("budget")
            .expect("consumer exists");
        assert_eq!(budget.spent.micro(), 700_000);
        assert_eq!(assert_ledger_verifies(&store).await, 7);
        let stats = committer.stats();
        assert_eq!(stats.jobs, 40);
        assert!(
            stats.batches < stats.jobs,
            "40 concurrent charges were committed one by one ({} batches)",
            stats.batches
        );
    }

    /// The outlook of an SQLite file is read on the caller's thread
    /// ([`crate::store::readers`]); it must read what the pool reads.
    #[tokio::test]
    async fn an_sqlite_file_outlook_reads_what_the_pool_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path()).await;
        let Store::Sqlite(sqlite) = &store else {
            panic!("an SQLite store");
        };
        assert!(sqlite.readers.is_some(), "a file store has its readers");
        let through_pool = Store::Sqlite(crate::store::SqliteStore {
            pool: sqlite.pool.clone(),
            readers: None,
        });
        let committer = Committer::spawn(store.clone()).expect("writer");
        let (alice, bob) = (consumer("alice"), consumer("bob"));
        for (who, key) in [(&alice, "k1"), (&alice, "k2"), (&bob, "k2")] {
            let (reply, outcome) = oneshot::channel();
            let work = Work::Release(charge(who, key, 100_000, 5_000_000));
            committer
                .queue
                .send(Job { work, reply })
                .await
                .expect("queue");
            assert!(matches!(
                outcome.await.expect("answer"),
                Outcome::Release(Ok(_))
            ));
        }
        for (who, keys) in [
            ("alice", vec!["k1", "k2", "k3"]),
            ("bob", vec!["k1", "k2"]),
            ("carol", vec!["k3"]),
            ("carol", vec![]),
        ] {
            let fast = store.outlook(DATASET, who, &keys).await.expect("readers");
            let pool = through_pool
                .outlook(DATASET, who, &keys)
                .await
                .expect("pool");
            assert_eq!(fast.consumer, pool.consumer, "{who} {keys:?}");
            assert_eq!(fast.global, pool.global);
            assert_eq!(fast.releases, pool.releases);
        }
        let alice = store
            .outlook(DATASET, "alice", &["k1", "k3"])
            .await
            .expect("readers");
        assert_eq!(alice.consumer.map(|b| b.spent.micro()), Some(200_000));
        // The dataset pays for a release once: bob's k2 is alice's.
        assert_eq!(alice.global.spent.micro(), 200_000);
        assert!(alice.releases[0].as_ref().is_some_and(|r| r.paid));
        assert!(alice.releases[1].is_none());
        let bob = store
            .outlook(DATASET, "bob", &["k1"])
            .await
            .expect("readers");
        assert!(bob.releases[0].as_ref().is_some_and(|r| !r.paid));
    }

    #[tokio::test]
    async fn a_refused_charge_rolls_back_alone_inside_its_batch() {
        for writer in [Writer::Pool, Writer::Sync] {
            let dir = tempfile::tempdir().expect("dir");
            let store = store(dir.path()).await;
            a_refused_charge_rolls_back_alone(writer, store, dir.path()).await;
        }
        // On PostgreSQL the batch runs in memory and is written in one statement.
        if let Some(store) = postgres_store().await {
            let dir = tempfile::tempdir().expect("dir");
            a_refused_charge_rolls_back_alone(Writer::Pool, store, dir.path()).await;
        }
    }

    async fn a_refused_charge_rolls_back_alone(
        writer: Writer,
        store: Store,
        dir: &std::path::Path,
    ) {
        let a = consumer("a");
        let b = consumer("b");
        let mut answers = Vec::new();
        let mut jobs = Vec::new();
        for work in [
            Work::Release(charge(&a, "r1", 100_000, 1_000_000)),
            // b is new: its row is created in this charge, which is refused.
            Work::Release(charge(&b, "r2", 2_000_000, 1_000_000)),
            Work::Refusal(refusal(&b, "budget.exhausted")),
            Work::Release(charge(&b, "r3", 300_000, 1_000_000)),
        ] {
            let (reply, outcome) = oneshot::channel();
            jobs.push(Job { work, reply });
            answers.push(outcome);
        }
        commit_with(writer, &store, dir, jobs).await;
        let mut outcomes = Vec::new();
        for answer in answers {
            outcomes.push(answer.await.expect("answered"));
        }
        assert!(matches!(&outcomes[0], Outcome::Release(Ok(r)) if r[0].ledger_seq == 1));
        assert!(matches!(
            &outcomes[1],
            Outcome::Release(Err(ChargeError::Refused(Refusal::Consumer { .. })))
        ));
        assert!(matches!(&outcomes[2], Outcome::Refusal(Ok(2))));
        assert!(
            matches!(&outcomes[3], Outcome::Release(Ok(r)) if r[0].ledger_seq == 3 && r[0].budget.spent.micro() == 300_000)
        );
        assert!(store.find_release("r2").await.expect("read").is_none());
        assert!(store.find_release("r3").await.expect("read").is_some());
        assert_eq!(assert_ledger_verifies(&store).await, 3);
    }

    #[tokio::test]
    async fn an_error_in_one_charge_fails_the_whole_batch_and_commits_nothing() {
        for writer in [Writer::Pool, Writer::Sync] {
            let dir = tempfile::tempdir().expect("dir");
            let store = store(dir.path()).await;
            an_error_in_one_charge_fails_the_batch(writer, store, dir.path()).await;
        }
        if let Some(store) = postgres_store().await {
            let dir = tempfile::tempdir().expect("dir");
            an_error_in_one_charge_fails_the_batch(Writer::Pool, store, dir.path()).await;
        }
    }

    async fn an_error_in_one_charge_fails_the_batch(
        writer: Writer,
        store: Store,
        dir: &std::path::Path,
    ) {
        let a = consumer("a");
        // Without the receipts table a new charge fails in SQL after its
        // consumer row and release were written.
        with_pool!(&store, p => {
            sqlx::query("DROP TABLE release_receipts").execute(p).await.expect("drop");
        });
        let (reply, first) = oneshot::channel();
        let (reply2, second) = oneshot::channel();
        commit_with(
            writer,
            &store,
            dir,
            vec![
                Job {
                    work: Work::Refusal(refusal(&a, "x")),
                    reply,
                },
                Job {
                    work: Work::Release(charge(&a, "r1", 100_000, 1_000_000)),
                    reply: reply2,
                },
            ],
        )
        .await;
        assert!(matches!(
            first.await.expect("answered"),
            Outcome::Refusal(Err(StoreError::Unavailable(_)))
        ));
        assert!(matches!(
            second.await.expect("answered"),
            Outcome::Release(Err(ChargeError::Store(StoreError::Unavailable(_))))
        ));
        assert!(store.find_release("r1").await.expect("read").is_none());
        assert_eq!(
            store.consumer_budget(DATASET, "a").await.expect("read"),
            None
        );
        assert_eq!(store.ledger_head().await.expect("head").0, 0);
    }

    /// On PostgreSQL the writer keeps a connection of its own: when the
    /// server dropped it between batches (a restart), the next batch runs
    /// on a new one instead of failing.
    #[tokio::test]
    async fn the_postgres_writer_replaces_a_connection_lost_between_batches() {
        let Some(store) = postgres_store().await else {
            return;
        };
        let mut writer = BatchWriter::new(store.clone());
        let a = consumer("a");
        let mut commit = async |key: &str| {
            let (reply, outcome) = oneshot::channel();
            let jobs = vec![Job {
                work: Work::Release(charge(&a, key, 100_000, 1_000_000)),
                reply,
            }];
            let result = writer.commit(&jobs).await;
            answer(jobs, result);
            outcome.await.expect("answered")
        };
        assert!(matches!(commit("r1").await, Outcome::Release(Ok(_))));
        with_pool!(&store, p => {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .execute(p)
            .await
            .expect("terminate the other sessions");
        });
        assert!(
            matches!(commit("r2").await, Outcome::Release(Ok(r)) if r[0].ledger_seq == 2 && r[0].budget.spent.micro() == 200_000)
        );
        assert_eq!(assert_ledger_verifies(&store).await, 2);
    }

    /// A new store's ledger tables are analysed once the ledger passes
    /// 1,000 entries, without waiting for autovacuum.
    #[tokio::test]
    async fn the_postgres_writer_has_a_growing_ledger_analysed() {
        let Some(store) = postgres_store().await else {
            return;
        };
        let last_analysed = async || -> Option<String> {
            with_pool!(&store, p => {
                sqlx::query_scalar::<_, Option<String>>(
                    "SELECT last_analyze::text FROM pg_stat_user_tables WHERE relname = 'ledger'",
                )
                .fetch_one(p)
                .await
                .expect("statistics")
            })
        };
        assert_eq!(last_analysed().await, None);
        let mut writer = BatchWriter::new(store.clone());
        let a = consumer("a");
        for _ in 0..17 {
            let mut jobs = Vec::new();
            let mut answers = Vec::new();
            for _ in 0..60 {
                let (reply, outcome) = oneshot::channel();
                jobs.push(Job {
                    work: Work::Refusal(refusal(&a, "budget.exhausted")),
                    reply,
                });
                answers.push(outcome);
            }
            let result = writer.commit(&jobs).await;
            answer(jobs, result);
            for outcome in answers {
                assert!(matches!(outcome.await, Ok(Outcome::Refusal(Ok(_)))));
            }
        }
        assert_eq!(store.ledger_head().await.expect("head").0, 1_020);
        // The analysis runs beside the writer: wait for it a while.
        let mut analysed = None;
        for _ in 0..100 {
            analysed = last_analysed().await;
            if analysed.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(analysed.is_some(), "the ledger was not analysed");
    }

    #[tokio::test]
    async fn a_failed_transaction_answers_every_request_with_an_error() {
        let dir = tempfile::tempdir().expect("dir");
        let store = store(dir.path()).await;
        let a = consumer("a");
        store.close().await;
        let (reply, answer) = oneshot::channel();
        let (reply2, answer2) = oneshot::channel();
        commit_batch(
            &store,
            vec![
                Job {
                    work: Work::Release(charge(&a, "r1", 100_000, 1_000_000)),
                    reply,
                },
                Job {
                    work: Work::Refusal(refusal(&a, "x")),
                    reply: reply2,
                },
            ],
        )
        .await;
        assert!(matches!(
            answer.await.expect("answered"),
            Outcome::Release(Err(ChargeError::Store(StoreError::Unavailable(_))))
        ));
        assert!(matches!(
            answer2.await.expect("answered"),
            Outcome::Refusal(Err(StoreError::Unavailable(_)))
        ));
    }
}
