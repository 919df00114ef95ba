//! The ledger's reads for auditors: this file pages entries with filters and
//! exports them in sequence order; `checkpoints.rs` keeps the checkpoints
//! table, `consumers.rs` the consumer summaries, `verify.rs` the server's
//! own verification over one consistent snapshot. Ledger entries are only
//! ever written by [`crate::budget`]; this module never writes one.

use crate::audit::chain::{Entry, EntryBody, EntryRole, Event, GENESIS_HASH, Outcome};
use crate::audit::verify::{Failure, FailureKind};
use crate::store::{Store, StoreError, with_pool};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The columns of a ledger entry, in [`LedgerRow`]'s order (a macro, so
/// that `concat!` can put them into statement text).
macro_rules! entry_columns {
    () => {
        "seq, at, dataset, consumer_id, role, event, outcome, canonical_query, query_hash, cost_micro, \
         consumer_spent_micro, consumer_limit_micro, global_spent_micro, data_version, idempotency_key, prev_hash, hash, data_fingerprint"
    };
}

/// The columns of a checkpoint, in `checkpoints::CheckpointRow`'s order.
macro_rules! checkpoint_columns {
    () => {
        "dataset, size, head_hash, at, key_id, signature"
    };
}

mod checkpoints;
mod consumers;
mod verify;

pub use consumers::{Activity, ConsumerRecord};
pub use verify::LedgerCheck;

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
}
