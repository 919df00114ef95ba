//! The group commit's batch on PostgreSQL: four round trips per batch,
//! whatever its size, instead of about seven per charge.
//!
//! Why: the writer is the one place every fresh release queues behind. A
//! charge is about seven statements, and one by one over the network each
//! waits a round trip (client, server and, on a busy machine, the
//! scheduler): at 32 clients the writer committed batches of 15 charges in
//! 9.8 ms each and was busy all the time, capping fresh releases near 940 a
//! second on a durable server. Here the writer:
//!
//! 1. begins and takes the ledger lock (one simple query holding both
//!    statements), then reads in one statement everything the batch's
//!    charges can ask about: the releases they name with the receipts of
//!    their consumers, the budgets of their consumers and datasets, and the
//!    ledger head;
//! 2. runs the same charge logic ([`charge`](super::charge)), in queue
//!    order, against [`BatchState`], an in-memory copy that answers those
//!    reads and applies each write to itself, so a later charge of the batch
//!    sees an earlier one's debits exactly as it would in the database (a
//!    question about anything step 1 did not read is an error, never a
//!    guess);
//! 3. writes the outcome back in one statement (a data-modifying `WITH` per
//!    table: new consumers, debits, global budgets, releases, receipts,
//!    ledger entries), the debits conditional on the budgets step 1 read
//!    (any difference fails the batch), and commits.
//!
//! The guarantees of the group commit stay as they are: nobody hears of a
//! receipt before the commit that holds it; a refused charge writes nothing;
//! any other failure rolls the whole batch back; the CHECK constraints still
//! forbid an overspent budget, and the advisory lock still orders the hash
//! chain across replicas.

use super::batch::{BatchFailure, Job, Outcome, run_jobs};
use super::sql::{Budgets, LedgerSql};
use crate::audit::chain::EntryBody;
use crate::budget::ReleaseCharge;
use crate::domain::Consumer;
use crate::store::StoreError;
use std::collections::{HashMap, HashSet};

mod statements;

/// What the batch's charges may read, read once, then kept up to date with
/// their writes; and the writes, to be flushed in bulk.
#[derive(Debug, Default)]
pub(super) struct BatchState {
    /// Release key to (id, body). New releases get negative placeholder ids
    /// until the flush learns their real ones.
    releases: HashMap<String, (i64, String)>,
    /// (release key, consumer) pairs read in step 1: a question about any
    /// other pair is a bug, answered with an error rather than a guess.
    asked_releases: HashSet<(String, String)>,
    /// (release id, consumer) of every receipt known.
    receipts: HashSet<(i64, String)>,
    /// Dataset to its global budget.
    globals: HashMap<String, Row>,
    /// (dataset, consumer) to the consumer's budget, `None` when unknown to
    /// the store.
    consumers: HashMap<(String, String), Option<Row>>,
    /// The stored role of every (dataset, consumer) with a row.
    roles: HashMap<(String, String), String>,
    /// (dataset, consumer) pairs without a row that the ledger has charged.
    lost: HashSet<(String, String)>,
    head: Option<(i64, String)>,
    new_releases: Vec<NewRelease>,
    new_receipts: Vec<NewReceipt>,
    entries: Vec<(EntryBody, String, String)>,
}

/// A budget as it stands now, and where it came from.
#[derive(Debug, Clone, Copy)]
struct Row {
    origin: Origin,
    spent: i64,
    limit: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Read in step 1, with what was spent then.
    Stored { spent: i64 },
    /// A consumer this batch creates, with its role.
    Created { role: &'static str },
}

impl Row {
    fn stored(spent: i64, limit: i64) -> Row {
        Row {
            origin: Origin::Stored { spent },
            spent,
            limit,
        }
    }

    /// What was spent when step 1 read it, if it changed since.
    fn debited_from(&self) -> Option<i64> {
        match self.origin {
            Origin::Stored { spent } if spent != self.spent => Some(spent),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct NewRelease {
    dataset: String,
    key: String,
    canonical_query: String,
    data_version: i64,
    cost: i64,
    body: String,
}

#[derive(Debug)]
struct NewReceipt {
    release_id: i64,
    dataset: String,
    consumer_id: String,
    charged: i64,
}

fn unread(what: &str) -> StoreError {
    StoreError::Conflict(format!(
        "the ledger batch asked for {what} it did not read first"
    ))
}

impl LedgerSql for BatchState {
    async fn release_and_receipt(
        &mut self,
        release_key: &str,
        consumer_id: &str,
    ) -> Result<Option<(i64, String, bool)>, StoreError> {
        if !self
            .asked_releases
            .contains(&(release_key.to_owned(), consumer_id.to_owned()))
        {
            return Err(unread("a release"));
        }
        Ok(self.releases.get(release_key).map(|(id, body)| {
            let paid = self.receipts.contains(&(*id, consumer_id.to_owned()));
            (*id, body.clone(), paid)
        }))
    }

    async fn budgets(
        &mut self,
        dataset: &str,
        consumer_id: &str,
    ) -> Result<Option<Budgets>, StoreError> {
        let consumer = self
            .consumers
            .get(&(dataset.to_owned(), consumer_id.to_owned()))
            .ok_or_else(|| unread("a budget"))?;
        let pair = (dataset.to_owned(), consumer_id.to_owned());
        let role = match consumer.map(|c| c.origin) {
            Some(Origin::Created { role }) => Some(role.to_owned()),
            _ => self.roles.get(&pair).cloned(),
        };
        let lost = consumer.is_none() && self.lost.contains(&pair);
        Ok(self.globals.get(dataset).map(|g| {
            (
                consumer.map(|c| c.spent),
                consumer.map(|c| c.limit),
                g.spent,
                g.limit,
                role,
                lost,
            )
        }))
    }

    async fn insert_consumer(
        &mut self,
        dataset: &str,
        consumer: &Consumer,
        limit: i64,
        spent: i64,
    ) -> Result<(), StoreError> {
        let pair = (dataset.to_owned(), consumer.id.clone());
        match self.consumers.get_mut(&pair) {
            Some(slot @ None) => {
                *slot = Some(Row {
                    origin: Origin::Created {
                        role: consumer.role.code(),
                    },
                    spent,
                    limit,
                });
                Ok(())
            }
            Some(Some(_)) => Err(StoreError::Conflict(format!(
                "consumer {} exists already",
                consumer.id
            ))),
            None => Err(unread("a consumer")),
        }
    }

    async fn debit_consumer(
        &mut self,
        dataset: &str,
        consumer_id: &str,
        amount: i64,
    ) -> Result<u64, StoreError> {
        let Some(Some(row)) = self
            .consumers
            .get_mut(&(dataset.to_owned(), consumer_id.to_owned()))
        else {
            return Ok(0);
        };
        Ok(debit(row, amount))
    }

    async fn debit_global(&mut self, dataset: &str, amount: i64) -> Result<u64, StoreError> {
        Ok(self
            .globals
            .get_mut(dataset)
            .map_or(0, |row| debit(row, amount)))
    }

    async fn insert_release(
        &mut self,
        dataset: &str,
        r: &ReleaseCharge<'_>,
    ) -> Result<i64, StoreError> {
        if self.releases.contains_key(r.release_key) {
            return Err(StoreError::Conflict("a release stored twice".into()));
        }
        // The release's place in `new_releases`, as -(index + 1).
        let placeholder = -(self.new_releases.len() as i64) - 1;
        self.new_releases.push(NewRelease {
            dataset: dataset.to_owned(),
            key: r.release_key.to_owned(),
            canonical_query: r.canonical_query.to_owned(),
            data_version: r.data_version,
            cost: r.cost.to_i64()?,
            body: r.body.to_owned(),
        });
        self.releases
            .insert(r.release_key.to_owned(), (placeholder, r.body.to_owned()));
        Ok(placeholder)
    }

    async fn insert_receipt(
        &mut self,
        release_id: i64,
        dataset: &str,
        consumer_id: &str,
        charged: i64,
    ) -> Result<(), StoreError> {
        if !self.receipts.insert((release_id, consumer_id.to_owned())) {
            return Err(StoreError::Conflict("a receipt stored twice".into()));
        }
        self.new_receipts.push(NewReceipt {
            release_id,
            dataset: dataset.to_owned(),
            consumer_id: consumer_id.to_owned(),
            charged,
        });
        Ok(())
    }

    async fn ledger_last(&mut self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(self.head.clone())
    }

    async fn insert_entry(
        &mut self,
        body: &EntryBody,
        prev_hash: &str,
        hash: &str,
    ) -> Result<(), StoreError> {
        self.head = Some((body.seq, hash.to_owned()));
        self.entries
            .push((body.clone(), prev_hash.to_owned(), hash.to_owned()));
        Ok(())
    }
}

/// The conditional debit of the SQL (`spent + amount <= limit`), in memory.
fn debit(row: &mut Row, amount: i64) -> u64 {
    match row.spent.checked_add(amount) {
        Some(after) if after <= row.limit => {
            row.spent = after;
            1
        }
        _ => 0,
    }
}

/// The writer's own connection, taken from the pool once and kept.
///
/// Why: a connection taken from the pool for every batch costs a round trip
/// more (the pool checks it with a ping before handing it out), and the
/// batch waits behind requests holding the pool's connections. A batch that
/// fails for any reason drops the connection, whatever state the failure
/// left it in, and the next batch takes a new one; so does a batch after
/// [`MAX_AGE`], as the pool would retire it.
pub(super) struct PgWriter {
    pool: sqlx::PgPool,
    conn: Option<(sqlx::PgConnection, std::time::Instant)>,
    /// The ledger's length after the last batch, when known.
    length: Option<i64>,
}

/// Ledger lengths at which the writer has the ledger tables analysed.
///
/// Why: a new store's tables start empty and are never analysed until
/// autovacuum gets to them, up to a minute after the first releases. Until
/// then the plans the server caches for prepared statements are the plans
/// for tiny tables (a scan of every stored release per key), kept while the
/// tables grow: a new store's first minute ran 2 to 3 times slower. An
/// `ANALYZE` makes the server plan again with the tables' real sizes. Past
/// the last step autovacuum's own analyses keep up.
const ANALYZE_AT: [i64; 3] = [1_000, 10_000, 100_000];

/// Whether the ledger growing from `before` to `after` entries crossed one
/// of [`ANALYZE_AT`] (`before` unknown: the writer's first batch, which
/// crosses nothing, so that a restart on a grown store analyses nothing).
fn analysis_due(before: Option<i64>, after: i64) -> bool {
    before.is_some_and(|b| ANALYZE_AT.iter().any(|&at| b < at && at <= after))
}

/// How long the writer keeps one connection: the pool's own lifetime, so a
/// server's per-session memory is given back now and then.
const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

impl PgWriter {
    pub(super) fn new(pool: sqlx::PgPool) -> PgWriter {
        PgWriter {
            pool,
            conn: None,
            length: None,
        }
    }

    /// One batch: lock, read, run the charges in memory, write, commit.
    pub(super) async fn commit(&mut self, jobs: &[Job]) -> Result<Vec<Outcome>, BatchFailure> {
        let kept = match self.conn.take() {
            Some((old, since)) if since.elapsed() >= MAX_AGE => {
                // Closed politely (the server logs a dropped socket); a
                // failure to say goodbye changes nothing.
                let _ = sqlx::Connection::close(old).await;
                None
            }
            kept => kept,
        };
        let reused = kept.is_some();
        let (mut conn, mut since) = match kept {
            Some(kept) => kept,
            None => self.fresh().await?,
        };
        let first = match begin_locked(&mut conn).await {
            Ok(tx) => Some(in_transaction(tx, jobs).await),
            // A connection kept since the last batch may have been lost in
            // between (a restarted or failed-over server). Failing at BEGIN,
            // nothing of the batch reached the database: it runs on a new
            // connection instead of failing, as it would have on a pool
            // connection (the pool checks one before handing it out).
            Err(e) if reused && crate::store::is_transient(&e) => None,
            Err(e) => return Err(e.into()),
        };
        let (outcomes, length) = match first {
            Some(result) => result?,
            None => {
                (conn, since) = self.fresh().await?;
                in_transaction(begin_locked(&mut conn).await?, jobs).await?
            }
        };
        self.conn = Some((conn, since));
        if analysis_due(self.length, length) {
            // Beside the writer, on a pooled connection: ANALYZE takes a lock
            // that lets writes go on, and its failure (a role that does not
            // own the tables) only leaves the planning to autovacuum.
            let pool = self.pool.clone();
            tokio::spawn(async move {
                if let Err(error) = sqlx::query(
                    "ANALYZE releases, release_receipts, ledger, consumers, global_budgets",
                )
                .execute(&pool)
                .await
                {
                    tracing::warn!(%error, "could not analyse the ledger tables; autovacuum will");
                }
            });
        }
        self.length = Some(length);
        Ok(outcomes)
    }

    /// A new connection, acquired within the pool's timeout (an unreachable
    /// database is Unavailable quickly), then detached: the writer's alone.
    async fn fresh(&self) -> Result<(sqlx::PgConnection, std::time::Instant), BatchFailure> {
        Ok((
            self.pool.acquire().await?.detach(),
            std::time::Instant::now(),
        ))
    }
}

/// Reads, runs the charges in memory, writes and commits, in `tx`; with the
/// ledger's length after the commit.
async fn in_transaction(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    jobs: &[Job],
) -> Result<(Vec<Outcome>, i64), BatchFailure> {
    let mut state = BatchState::read(&mut tx, jobs)
        .await
        .map_err(BatchFailure::whole)?;
    let outcomes = run_jobs(&mut state, jobs).await?;
    let length = state.head.as_ref().map_or(0, |(seq, _)| *seq);
    state.write(&mut tx).await.map_err(BatchFailure::whole)?;
    tx.commit().await?;
    Ok((outcomes, length))
}

/// BEGIN and the ledger lock in one round trip.
async fn begin_locked(
    conn: &mut sqlx::PgConnection,
) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, sqlx::Error> {
    sqlx::Connection::begin_with(conn, super::BEGIN_LOCKED).await
}

#[cfg(test)]
mod tests {
    use super::super::charge::charge;
    use super::*;
    use crate::budget::Charge;
    use crate::domain::budget::Amount;
    use crate::domain::{Consumer, Role};

    fn consumer(id: &str) -> Consumer {
        Consumer {
            id: id.into(),
            role: Role::Researcher,
            country: None,
            region: None,
        }
    }

    fn release(key: &str) -> ReleaseCharge<'_> {
        ReleaseCharge {
            release_key: key,
            canonical_query: "{}",
            query_hash: "h",
            data_version: 1,
            data_fingerprint: "f",
            cost: Amount::from_micro(1_000_000),
            body: "{\"cells\":[]}",
        }
    }

    /// What step 1 would have read: a global budget of 10, consumer `a`
    /// with a limit of 5, consumer `b` unknown, release `k1` not stored.
    fn state() -> BatchState {
        let mut s = BatchState::default();
        s.globals.insert("ctm".into(), Row::stored(0, 10_000_000));
        s.consumers
            .insert(("ctm".into(), "a".into()), Some(Row::stored(0, 5_000_000)));
        s.consumers.insert(("ctm".into(), "b".into()), None);
        for who in ["a", "b"] {
            s.asked_releases.insert(("k1".into(), who.into()));
        }
        s
    }

    #[tokio::test]
    async fn later_charges_of_a_batch_see_the_earlier_ones_writes() {
        let mut s = state();
        let mut head = None;
        let (a, b) = (consumer("a"), consumer("b"));
        for who in [&a, &b] {
            let c = Charge {
                dataset: "ctm",
                consumer: who,
                new_consumer_limit: Amount::from_micro(2_000_000),
                releases: vec![release("k1")],
                idempotency: None,
            };
            let receipts = charge(&mut s, &c, &mut head).await.expect("charged");
            assert_eq!(receipts[0].charged.micro(), 1_000_000);
        }
        // One release stored, paid by both; the dataset paid for it once.
        assert_eq!(s.new_releases.len(), 1);
        assert_eq!(s.new_receipts.len(), 2);
        assert_eq!(s.globals["ctm"].spent, 1_000_000);
        let a_row = s.consumers[&("ctm".into(), "a".into())].expect("a");
        assert_eq!(
            (a_row.origin, a_row.spent),
            (Origin::Stored { spent: 0 }, 1_000_000)
        );
        let b_row = s.consumers[&("ctm".into(), "b".into())].expect("b");
        assert_eq!(
            (b_row.origin, b_row.spent, b_row.limit),
            (Origin::Created { role: "researcher" }, 1_000_000, 2_000_000)
        );
        // The entries are chained: the second's previous hash is the first's hash.
        assert_eq!(s.entries.len(), 2);
        assert_eq!(s.entries[0].0.seq, 1);
        assert_eq!(s.entries[1].0.seq, 2);
        assert_eq!(s.entries[1].1, s.entries[0].2);
        // A second charge of b's overspends its limit of 2 and is refused
        // without a write.
        let c = Charge {
            dataset: "ctm",
            consumer: &b,
            new_consumer_limit: Amount::from_micro(2_000_000),
            releases: vec![ReleaseCharge {
                cost: Amount::from_micro(1_500_000),
                ..release("k1")
            }],
            idempotency: None,
        };
        // k1 is paid by b already: free.
        let receipts = charge(&mut s, &c, &mut head).await.expect("repeat");
        assert!(receipts[0].replay);
        assert_eq!(s.new_receipts.len(), 2);
    }

    #[test]
    fn the_ledger_tables_are_analysed_when_the_ledger_crosses_a_step() {
        // Crossing 1,000 and 10,000 (once each, however large the batch).
        assert!(analysis_due(Some(999), 1_000));
        assert!(analysis_due(Some(990), 1_030));
        assert!(analysis_due(Some(9_999), 10_063));
        assert!(analysis_due(Some(99_990), 100_000));
        // Between steps, at a step already passed, and beyond the last.
        assert!(!analysis_due(Some(1_000), 1_050));
        assert!(!analysis_due(Some(500), 999));
        assert!(!analysis_due(Some(100_000), 100_064));
        assert!(!analysis_due(Some(5_000_000), 5_000_010));
        // The first batch after a start: nothing known before it.
        assert!(!analysis_due(None, 1_000));
    }

    #[tokio::test]
    async fn a_question_step_1_did_not_read_is_an_error_not_a_guess() {
        let mut s = state();
        assert!(s.release_and_receipt("k2", "a").await.is_err());
        assert!(s.budgets("ctm", "c").await.is_err());
        assert!(
            s.insert_consumer("ctm", &consumer("c"), 1, 0)
                .await
                .is_err()
        );
        // A dataset without a global budget: no budgets, as in the database.
        s.consumers.insert(("other".into(), "a".into()), None);
        assert_eq!(s.budgets("other", "a").await.expect("read"), None);
    }
}
