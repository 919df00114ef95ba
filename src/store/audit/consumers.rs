//! The consumers' budget rows and their ledger activity, as auditors and
//! the admin see them (sums per role for the metrics).

use crate::audit::chain::Event;
use crate::store::{Store, StoreError, with_pool};

/// The columns of a [`ConsumerRecord`].
macro_rules! consumer_columns {
    () => {
        "dataset, consumer_id, role, limit_micro, spent_micro, created_at"
    };
}

/// A consumer's budget row with its role and creation time.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
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

impl Store {
    /// Budget rows of `dataset` (all datasets when `None`), by consumer id.
    pub async fn consumer_records(
        &self,
        dataset: Option<&str>,
    ) -> Result<Vec<ConsumerRecord>, StoreError> {
        self.bounded(async move {
            let rows: Vec<ConsumerRecord> = with_pool!(self, p => {
                sqlx::query_as(concat!(
                    "SELECT ", consumer_columns!(), " FROM consumers \
                     WHERE ($1 IS NULL OR dataset = $1) ORDER BY dataset, consumer_id",
                ))
                .bind(dataset)
                .fetch_all(p)
                .await?
            });
            Ok(rows)
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
            let row: Option<ConsumerRecord> = with_pool!(self, p => {
                sqlx::query_as(concat!(
                    "SELECT ", consumer_columns!(), " FROM consumers WHERE dataset = $1 AND consumer_id = $2",
                ))
                .bind(dataset)
                .bind(consumer_id)
                .fetch_optional(p)
                .await?
            });
            Ok(row)
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
}
