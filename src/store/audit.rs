//! The ledger's reads and the checkpoints table: paging with filters, export
//! in sequence order, consumer summaries, making checkpoints, and the server's
//! own verification over one consistent snapshot. Ledger entries are only
//! ever written by [`crate::budget`]; this module never writes one.

use crate::audit::chain::{Entry, EntryBody, EntryRole, Event, GENESIS_HASH, Outcome};
use crate::audit::checkpoint::{Checkpoint, PublicKey, Signer};
use crate::audit::verify::{
    ConsumerRow, Failure, FailureKind, Summary, Verifier, reconcile_tables,
};
use crate::store::{Store, StoreError, now_rfc3339, with_pool};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

macro_rules! entry_columns {
    () => {
        "seq, at, dataset, consumer_id, role, event, outcome, canonical_query, query_hash, cost_micro, \
         consumer_spent_micro, consumer_limit_micro, global_spent_micro, data_version, idempotency_key, prev_hash, hash, data_fingerprint"
    };
}

#[derive(sqlx::FromRow)]
struct LedgerRow {
    seq: i64,
    at: String,
    dataset: String,
    consumer_id: String,
    role: String,
    event: String,
    outcome: String,
    canonical_query: Option<String>,
    query_hash: Option<String>,
    cost_micro: i64,
    consumer_spent_micro: Option<i64>,
    consumer_limit_micro: Option<i64>,
    global_spent_micro: Option<i64>,
    data_version: Option<i64>,
    idempotency_key: Option<String>,
    prev_hash: String,
    hash: String,
    data_fingerprint: Option<String>,
}

/// A stored row as an entry; a role, event or outcome the service never
/// writes makes the row unreadable (the message says which and where).
impl TryFrom<LedgerRow> for Entry {
    type Error = Failure;
    fn try_from(r: LedgerRow) -> Result<Entry, Failure> {
        let malformed = |what: &str, value: &str| Failure {
            seq: r.seq,
            kind: FailureKind::Malformed,
            detail: format!("unknown {what} \"{value}\""),
        };
        let role = EntryRole::parse(&r.role).ok_or_else(|| malformed("role", &r.role))?;
        let event = Event::parse(&r.event).ok_or_else(|| malformed("event", &r.event))?;
        let outcome = Outcome::parse(&r.outcome).ok_or_else(|| malformed("outcome", &r.outcome))?;
        Ok(Entry {
            body: EntryBody {
                seq: r.seq,
                at: r.at,
                dataset: r.dataset,
                consumer_id: r.consumer_id,
                role,
                event,
                outcome,
                canonical_query: r.canonical_query,
                query_hash: r.query_hash,
                cost_micro: r.cost_micro,
                consumer_spent_micro: r.consumer_spent_micro,
                consumer_limit_micro: r.consumer_limit_micro,
                global_spent_micro: r.global_spent_micro,
                data_version: r.data_version,
                idempotency_key: r.idempotency_key,
                data_fingerprint: r.data_fingerprint,
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}

/// Rows as entries for a reader: an unreadable row is a store error.
fn entries(rows: Vec<LedgerRow>) -> Result<Vec<Entry>, StoreError> {
    rows.into_iter()
        .map(|r| {
            Entry::try_from(r)
                .map_err(|f| StoreError::Conflict(format!("ledger entry {}: {}", f.seq, f.detail)))
        })
        .collect()
}

type CheckpointRow = (String, i64, String, String, String, String);

fn checkpoint_of(r: CheckpointRow) -> Checkpoint {
    Checkpoint {
        dataset: r.0,
        size: r.1,
        head_hash: r.2,
        at: r.3,
        key_id: r.4,
        signature: r.5,
    }
}

/// Which entries an auditor asks for. All conditions must hold.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    pub consumer: Option<String>,
    pub event: Option<Event>,
    pub outcome: Option<String>,
    /// Inclusive.
    pub from: Option<OffsetDateTime>,
    /// Exclusive.
    pub to: Option<OffsetDateTime>,
}

impl EntryFilter {
    fn time_matches(&self, at: &str) -> bool {
        if self.from.is_none() && self.to.is_none() {
            return true;
        }
        let Ok(t) = OffsetDateTime::parse(at, &Rfc3339) else {
            return false;
        };
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|u| t < u)
    }
}

/// The first 19 characters of an RFC 3339 UTC time (`YYYY-MM-DDTHH:MM:SS`):
/// fixed width, so it compares correctly as text, unlike the full stamp whose
/// fractional digits vary.
fn second_prefix(t: OffsetDateTime) -> Option<String> {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .ok()
        .map(|s| s.chars().take(19).collect())
}

/// One page of entries.
#[derive(Debug, Clone)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// Sequence number to continue after, when more entries match.
    pub next_cursor: Option<i64>,
}

/// A consumer's budget row with its role and creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub dataset: String,
    pub consumer_id: String,
    pub role: String,
    pub limit_micro: i64,
    pub spent_micro: i64,
    pub created_at: String,
}

/// Ledger activity of one consumer, from the entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    pub role: String,
    pub charges: i64,
    pub replays: i64,
    pub refusals: i64,
    pub budget_changes: i64,
    pub last_activity: Option<String>,
}

/// The server's verification of its own ledger.
#[derive(Debug, Clone)]
pub struct LedgerCheck {
    /// Entries in the snapshot that was checked.
    pub size: i64,
    pub head_hash: String,
    pub checkpoints_checked: usize,
    pub latest_checkpoint: Option<Checkpoint>,
    pub consumers_reconciled: usize,
    /// What the chain says, when it verified.
    pub summary: Option<Summary>,
    /// The first problem, if any.
    pub failure: Option<Failure>,
}

/// Entries read per query when streaming the whole ledger.
pub const BATCH: i64 = 1000;

impl Store {
    /// Size of the ledger and the hash of its last entry.
    pub async fn ledger_head(&self) -> Result<(i64, String), StoreError> {
        self.bounded(async move {
            let row: Option<(i64, String)> = with_pool!(self, p => {
                sqlx::query_as("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(p)
                    .await?
            });
            Ok(row.unwrap_or((0, GENESIS_HASH.to_owned())))
        })
        .await
    }

    /// Entries with `after < seq <= upto`, at most `limit`, in sequence order.
    pub async fn ledger_range(
        &self,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<Entry>, StoreError> {
        self.bounded(async move {
            let rows: Vec<LedgerRow> = with_pool!(self, p => {
                sqlx::query_as(concat!("SELECT ", entry_columns!(), " FROM ledger WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"))
                    .bind(after)
                    .bind(upto)
                    .bind(limit)
                    .fetch_all(p)
                    .await?
            });
            entries(rows)
        })
        .await
    }

    /// Up to `limit` entries after `cursor` that match `filter`, in sequence order.
    pub async fn ledger_entries(
        &self,
        filter: &EntryFilter,
        cursor: i64,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.bounded(async move {
            // SQL narrows the time range to whole seconds; the exact bounds are applied here.
            let from = filter.from.and_then(second_prefix);
            let to = filter.to.and_then(second_prefix);
            let batch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
            let mut out: Vec<Entry> = Vec::new();
            let mut after = cursor;
            'fetch: loop {
                let rows: Vec<LedgerRow> = with_pool!(self, p => {
                    sqlx::query_as(concat!(
                        "SELECT ", entry_columns!(), " FROM ledger WHERE seq > $1 \
                         AND ($2 IS NULL OR consumer_id = $2) AND ($3 IS NULL OR event = $3) \
                         AND ($4 IS NULL OR outcome = $4) AND ($5 IS NULL OR substr(at, 1, 19) >= $5) \
                         AND ($6 IS NULL OR substr(at, 1, 19) <= $6) ORDER BY seq LIMIT $7"
                    ))
                    .bind(after)
                    .bind(&filter.consumer)
                    .bind(filter.event.map(Event::code))
                    .bind(&filter.outcome)
                    .bind(&from)
                    .bind(&to)
                    .bind(batch)
                    .fetch_all(p)
                    .await?
                });
                let fetched = rows.len();
                for row in rows {
                    after = row.seq;
                    if filter.time_matches(&row.at) {
                        out.extend(entries(vec![row])?);
                        if out.len() > limit {
                            break 'fetch;
                        }
                    }
                }
                if i64::try_from(fetched).unwrap_or(0) < batch {
                    break;
                }
            }
            let next_cursor = if out.len() > limit {
                out.truncate(limit);
                out.last().map(|e| e.body.seq)
            } else {
                None
            };
            Ok(Page {
                entries: out,
                next_cursor,
            })
        })
        .await
    }

    pub async fn insert_checkpoint(&self, cp: &Checkpoint) -> Result<(), StoreError> {
        self.bounded(async move {
            with_pool!(self, p => {
                sqlx::query(
                    "INSERT INTO checkpoints (dataset, size, head_hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (dataset, size, at) DO NOTHING",
                )
                .bind(&cp.dataset)
                .bind(cp.size)
                .bind(&cp.head_hash)
                .bind(&cp.at)
                .bind(&cp.key_id)
                .bind(&cp.signature)
                .execute(p)
                .await?;
            });
            Ok(())
        })
        .await
    }

    /// The newest `limit` checkpoints of `dataset`, newest first.
    pub async fn checkpoints(
        &self,
        dataset: &str,
        limit: i64,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        self.bounded(async move {
            let rows: Vec<CheckpointRow> = with_pool!(self, p => {
                sqlx::query_as(
                    "SELECT dataset, size, head_hash, at, key_id, signature FROM checkpoints WHERE dataset = $1 \
                     ORDER BY size DESC, at DESC LIMIT $2",
                )
                .bind(dataset)
                .bind(limit)
                .fetch_all(p)
                .await?
            });
            Ok(rows.into_iter().map(checkpoint_of).collect())
        })
        .await
    }

    /// The checkpoint of `dataset` with the largest size not above `max_size`.
    pub async fn latest_checkpoint(
        &self,
        dataset: &str,
        max_size: Option<i64>,
    ) -> Result<Option<Checkpoint>, StoreError> {
        self.bounded(async move {
            let row: Option<CheckpointRow> = with_pool!(self, p => {
                sqlx::query_as(
                    "SELECT dataset, size, head_hash, at, key_id, signature FROM checkpoints \
                     WHERE dataset = $1 AND ($2 IS NULL OR size <= $2) ORDER BY size DESC, at DESC LIMIT 1",
                )
                .bind(dataset)
                .bind(max_size)
                .fetch_optional(p)
                .await?
            });
            Ok(row.map(checkpoint_of))
        })
        .await
    }

    /// Signs the current head and stores the checkpoint.
    pub async fn make_checkpoint(
        &self,
        signer: &Signer,
        dataset: &str,
    ) -> Result<Checkpoint, StoreError> {
        self.bounded(async move {
            let (size, head) = self.ledger_head().await?;
            let cp = signer.sign(dataset, size, &head, &now_rfc3339());
            self.insert_checkpoint(&cp).await?;
            Ok(cp)
        })
        .await
    }

    /// Makes a checkpoint only if the ledger grew since the latest one (the periodic task).
    pub async fn checkpoint_if_grown(
        &self,
        signer: &Signer,
        dataset: &str,
    ) -> Result<Option<Checkpoint>, StoreError> {
        self.bounded(async move {
            let covered = self
                .latest_checkpoint(dataset, None)
                .await?
                .map_or(0, |c| c.size);
            let (size, _) = self.ledger_head().await?;
            if size <= covered {
                return Ok(None);
            }
            self.make_checkpoint(signer, dataset).await.map(Some)
        })
        .await
    }

    /// Budget rows of `dataset` (all datasets when `None`), by consumer id.
    pub async fn consumer_records(
        &self,
        dataset: Option<&str>,
    ) -> Result<Vec<ConsumerRecord>, StoreError> {
        self.bounded(async move {
            let rows: Vec<(String, String, String, i64, i64, String)> = with_pool!(self, p => {
                sqlx::query_as(
                    "SELECT dataset, consumer_id, role, limit_micro, spent_micro, created_at FROM consumers \
                     WHERE ($1 IS NULL OR dataset = $1) ORDER BY dataset, consumer_id",
                )
                .bind(dataset)
                .fetch_all(p)
                .await?
            });
            Ok(rows
                .into_iter()
                .map(
                    |(dataset, consumer_id, role, limit_micro, spent_micro, created_at)| {
                        ConsumerRecord {
                            dataset,
                            consumer_id,
                            role,
                            limit_micro,
                            spent_micro,
                            created_at,
                        }
                    },
                )
                .collect())
        })
        .await
    }

    /// Budget spent in `dataset`, summed per role (micro-units): the only
    /// per-consumer figures operators' metrics carry, and only as sums.
    pub async fn spent_by_role(&self, dataset: &str) -> Result<Vec<(String, i64)>, StoreError> {
        self.bounded(async move {
            let rows: Vec<(String, i64)> = with_pool!(self, p => {
                sqlx::query_as(
                    "SELECT role, CAST(COALESCE(SUM(spent_micro), 0) AS BIGINT) FROM consumers \
                     WHERE dataset = $1 GROUP BY role ORDER BY role",
                )
                .bind(dataset)
                .fetch_all(p)
                .await?
            });
            Ok(rows)
        })
        .await
    }

    /// One consumer's budget row.
    pub async fn consumer_record(
        &self,
        dataset: &str,
        consumer_id: &str,
    ) -> Result<Option<ConsumerRecord>, StoreError> {
        self.bounded(async move {
            let row: Option<(String, String, String, i64, i64, String)> = with_pool!(self, p => {
                sqlx::query_as(
                    "SELECT dataset, consumer_id, role, limit_micro, spent_micro, created_at FROM consumers \
                     WHERE dataset = $1 AND consumer_id = $2",
                )
                .bind(dataset)
                .bind(consumer_id)
                .fetch_optional(p)
                .await?
            });
            Ok(row.map(
                |(dataset, consumer_id, role, limit_micro, spent_micro, created_at)| ConsumerRecord {
                    dataset,
                    consumer_id,
                    role,
                    limit_micro,
                    spent_micro,
                    created_at,
                },
            ))
        })
        .await
    }

    /// Per consumer of `dataset`: entries by event, latest role and time.
    pub async fn ledger_activity(
        &self,
        dataset: &str,
    ) -> Result<std::collections::BTreeMap<String, Activity>, StoreError> {
        self.bounded(async move {
            type Counts = Vec<(String, String, i64)>;
            type Latest = Vec<(String, String, String)>;
            let (counts, last): (Counts, Latest) = with_pool!(self, p => {
                let counts = sqlx::query_as(
                    "SELECT consumer_id, event, COUNT(*) FROM ledger WHERE dataset = $1 GROUP BY consumer_id, event",
                )
                .bind(dataset)
                .fetch_all(p)
                .await?;
                let last = sqlx::query_as(
                    "SELECT consumer_id, role, at FROM ledger WHERE seq IN \
                     (SELECT MAX(seq) FROM ledger WHERE dataset = $1 GROUP BY consumer_id)",
                )
                .bind(dataset)
                .fetch_all(p)
                .await?;
                (counts, last)
            });
            let mut out: std::collections::BTreeMap<String, Activity> = Default::default();
            for (id, ev, n) in counts {
                let a = out.entry(id).or_default();
                match ev.as_str() {
                    e if e == Event::Charge.code() => a.charges = n,
                    e if e == Event::Replay.code() => a.replays = n,
                    e if e == Event::Refusal.code() => a.refusals = n,
                    e if e == Event::BudgetChange.code() => a.budget_changes = n,
                    _ => {}
                }
            }
            for (id, role, at) in last {
                let a = out.entry(id).or_default();
                a.role = role;
                a.last_activity = Some(at);
            }
            Ok(out)
        })
        .await
    }

    /// Recomputes the whole chain, checks every stored checkpoint against it
    /// and `key`, and reconciles the budgets tables, all in one read snapshot
    /// (REPEATABLE READ on PostgreSQL, a read transaction on SQLite), so that
    /// concurrent charges cannot make the tables and the ledger look apart.
    /// (It reads the whole ledger in one statement, so its deadline is 15
    /// times a request's, [`crate::store::db_timeout`].)
    pub async fn verify_ledger(&self, key: &PublicKey) -> Result<LedgerCheck, StoreError> {
        self.bounded_times(15, async move {
            let is_postgres = matches!(self, Store::Postgres(_));
            let (checkpoints, verifier, failure, consumers, globals) = with_pool!(self, pool => {
                let mut tx = pool.begin().await?;
                if is_postgres {
                    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                        .execute(&mut *tx)
                        .await?;
                }
                let rows: Vec<CheckpointRow> = sqlx::query_as(
                    "SELECT dataset, size, head_hash, at, key_id, signature FROM checkpoints ORDER BY size, at",
                )
                .fetch_all(&mut *tx)
                .await?;
                let checkpoints: Vec<Checkpoint> = rows.into_iter().map(checkpoint_of).collect();
                let mut verifier = Verifier::new();
                let mut failure: Option<Failure> = None;
                for cp in &checkpoints {
                    if let Err(f) = verifier.expect_head(cp.size, &cp.head_hash, &format!("the checkpoint of {}", cp.at)) {
                        failure.get_or_insert(f);
                    }
                }
                let mut after = 0i64;
                while failure.is_none() {
                    let batch: Vec<LedgerRow> = sqlx::query_as(concat!("SELECT ", entry_columns!(), " FROM ledger WHERE seq > $1 ORDER BY seq LIMIT $2"))
                        .bind(after)
                        .bind(BATCH)
                        .fetch_all(&mut *tx)
                        .await?;
                    let n = batch.len();
                    for row in batch {
                        after = row.seq;
                        if let Err(f) = Entry::try_from(row).and_then(|e| verifier.push(&e)) {
                            failure = Some(f);
                            break;
                        }
                    }
                    if i64::try_from(n).unwrap_or(0) < BATCH {
                        break;
                    }
                }
                let consumers: Vec<(String, String, i64, i64)> = sqlx::query_as(
                    "SELECT dataset, consumer_id, limit_micro, spent_micro FROM consumers ORDER BY dataset, consumer_id",
                )
                .fetch_all(&mut *tx)
                .await?;
                let globals: Vec<(String, i64)> = sqlx::query_as("SELECT dataset, spent_micro FROM global_budgets ORDER BY dataset")
                    .fetch_all(&mut *tx)
                    .await?;
                tx.rollback().await?;
                (checkpoints, verifier, failure, consumers, globals)
            });
            let consumers: Vec<ConsumerRow> = consumers
                .into_iter()
                .map(
                    |(dataset, consumer_id, limit_micro, spent_micro)| ConsumerRow {
                        dataset,
                        consumer_id,
                        limit_micro,
                        spent_micro,
                    },
                )
                .collect();
            let mut check = LedgerCheck {
                size: verifier.size(),
                head_hash: verifier.head_hash().to_owned(),
                checkpoints_checked: checkpoints.len(),
                latest_checkpoint: checkpoints.last().cloned(),
                consumers_reconciled: 0,
                summary: None,
                failure,
            };
            if check.failure.is_some() {
                return Ok(check);
            }
            let summary = match verifier.finish() {
                Ok(s) => s,
                Err(f) => {
                    check.failure = Some(f);
                    return Ok(check);
                }
            };
            check.size = summary.size;
            check.head_hash = summary.head_hash.clone();
            check.failure = checkpoints
                .iter()
                .find_map(|cp| {
                    key.verify(cp).err().map(|e| Failure {
                        seq: cp.size,
                        kind: FailureKind::Checkpoint,
                        detail: format!("the checkpoint of {}: {e}", cp.at),
                    })
                })
                .or_else(|| reconcile_tables(&summary, &consumers, &globals).err());
            check.consumers_reconciled = consumers.len();
            check.summary = Some(summary);
            Ok(check)
        })
        .await
    }
}
