//! Reads of budgets, stored releases and stored responses. Read-only, and
//! outside the serialised transaction: a charge decides again under the lock.

use super::amount;
use crate::budget::{KnownRelease, Outlook};
use crate::domain::budget::{Amount, Budget};
use crate::store::{SqliteStore, Store, StoreError, with_pool};

/// A stored idempotent response.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub request_hash: String,
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Store {
    /// The dataset's global budget (zero of zero before the first start).
    pub async fn global_budget(&self, dataset: &str) -> Result<Budget<Amount>, StoreError> {
        self.bounded(async move {
            let row: Option<(i64, i64)> = with_pool!(self, p => {
                sqlx::query_as("SELECT limit_micro, spent_micro FROM global_budgets WHERE dataset = $1")
                    .bind(dataset)
                    .fetch_optional(p)
                    .await?
            });
            match row {
                None => Ok(Budget::new(Amount::ZERO)),
                Some((l, s)) => Ok(Budget {
                    limit: amount(l)?,
                    spent: amount(s)?,
                }),
            }
        })
        .await
    }

    /// The consumer's budget, or `None` if it never used the service.
    pub async fn consumer_budget(
        &self,
        dataset: &str,
        consumer_id: &str,
    ) -> Result<Option<Budget<Amount>>, StoreError> {
        self.bounded(async move {
            let row: Option<(i64, i64)> = with_pool!(self, p => {
                sqlx::query_as("SELECT limit_micro, spent_micro FROM consumers WHERE dataset = $1 AND consumer_id = $2")
                    .bind(dataset)
                    .bind(consumer_id)
                    .fetch_optional(p)
                    .await?
            });
            row.map(|(l, s)| {
                Ok(Budget {
                    limit: amount(l)?,
                    spent: amount(s)?,
                })
            })
            .transpose()
        })
        .await
    }

    /// The stored body of a release, if any consumer already received it.
    pub async fn find_release(&self, release_key: &str) -> Result<Option<String>, StoreError> {
        self.bounded(async move {
            let body: Option<String> = with_pool!(self, p => {
                sqlx::query_scalar("SELECT body FROM releases WHERE release_key = $1")
                    .bind(release_key)
                    .fetch_optional(p)
                    .await?
            });
            Ok(body)
        })
        .await
    }

    /// What a request for the releases `release_keys` would meet, read in
    /// one statement before anything is computed: both budgets and, per key,
    /// the stored body and whether `consumer_id` paid for it. Read-only and
    /// outside the serialised transaction, so it may be stale by the time of
    /// the charge; the charge decides again.
    ///
    /// On an SQLite file the statement runs on this thread
    /// ([`crate::store::readers`]); otherwise through the pool.
    pub async fn outlook(
        &self,
        dataset: &str,
        consumer_id: &str,
        release_keys: &[&str],
    ) -> Result<Outlook, StoreError> {
        self.bounded(async move {
            let sql = outlook_sql(release_keys.len());
            let rows: Vec<OutlookRow> = match self {
                Store::Sqlite(SqliteStore {
                    readers: Some(readers),
                    ..
                }) => readers.with(|conn| {
                    let mut stmt = conn.prepare_cached(&sql)?;
                    let params = [dataset, consumer_id]
                        .into_iter()
                        .chain(release_keys.iter().copied())
                        .chain([consumer_id]);
                    let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                        ))
                    })?;
                    Ok(rows.collect::<Result<_, _>>()?)
                })?,
                _ => with_pool!(self, p => {
                    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                        .bind(dataset)
                        .bind(consumer_id);
                    for k in release_keys {
                        q = q.bind(*k);
                    }
                    q.bind(consumer_id).fetch_all(p).await?
                }),
            };
            outlook_of(rows, dataset, release_keys)
        })
        .await
    }

    /// Number of ledger entries per event for a consumer, and the time of the last one.
    pub async fn consumer_history(
        &self,
        dataset: &str,
        consumer_id: &str,
    ) -> Result<(Vec<(String, i64)>, Option<String>), StoreError> {
        self.bounded(async move {
            let (rows, last): (Vec<(String, i64)>, Option<String>) = with_pool!(self, p => {
                let rows = sqlx::query_as("SELECT event, COUNT(*) FROM ledger WHERE dataset = $1 AND consumer_id = $2 GROUP BY event ORDER BY event")
                    .bind(dataset)
                    .bind(consumer_id)
                    .fetch_all(p)
                    .await?;
                let last = sqlx::query_scalar("SELECT at FROM ledger WHERE dataset = $1 AND consumer_id = $2 ORDER BY seq DESC LIMIT 1")
                    .bind(dataset)
                    .bind(consumer_id)
                    .fetch_optional(p)
                    .await?;
                (rows, last)
            });
            Ok((rows, last))
        })
        .await
    }

    pub async fn find_idempotent(
        &self,
        consumer_id: &str,
        key: &str,
    ) -> Result<Option<StoredResponse>, StoreError> {
        self.bounded(async move {
            let row: Option<(String, i32, String, Vec<u8>)> = with_pool!(self, p => {
                sqlx::query_as("SELECT request_hash, status, content_type, body FROM idempotency_keys WHERE consumer_id = $1 AND idempotency_key = $2")
                    .bind(consumer_id)
                    .bind(key)
                    .fetch_optional(p)
                    .await?
            });
            row.map(|(request_hash, status, content_type, body)| {
                Ok(StoredResponse {
                    request_hash,
                    status: u16::try_from(status).map_err(|_| {
                        StoreError::Conflict(format!("a stored response has status {status}"))
                    })?,
                    content_type,
                    body,
                })
            })
            .transpose()
        })
        .await
    }
}

/// A row of the outlook statement: the global budget (spent, limit), the
/// consumer's (absent for a new consumer), and one stored release named
/// (key, body, paid for by the consumer).
type OutlookRow = (
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    bool,
);

/// The outlook statement for `keys` release keys. Parameters: `$1` the
/// dataset, `$2` the consumer, then the keys, then the consumer again; each
/// used once and in order, so both drivers bind them by position.
fn outlook_sql(keys: usize) -> String {
    let mut sql = String::from(
        "SELECT g.spent_micro, g.limit_micro, c.spent_micro, c.limit_micro, l.release_key, l.body, \
         p.release_id IS NOT NULL \
         FROM (SELECT dataset, spent_micro, limit_micro FROM global_budgets WHERE dataset = $1) g \
         LEFT JOIN consumers c ON c.dataset = g.dataset AND c.consumer_id = $2 \
         LEFT JOIN releases l ON l.release_key IN (",
    );
    let placeholders: Vec<String> = (3..keys + 3).map(|i| format!("${i}")).collect();
    sql.push_str(&placeholders.join(", "));
    sql.push_str(
        ") LEFT JOIN release_receipts p ON p.release_id = l.release_id AND p.consumer_id = $",
    );
    sql.push_str(&(keys + 3).to_string());
    sql
}

fn outlook_of(
    rows: Vec<OutlookRow>,
    dataset: &str,
    release_keys: &[&str],
) -> Result<Outlook, StoreError> {
    let Some(first) = rows.first() else {
        return Err(StoreError::Conflict(format!(
            "the dataset {dataset} has no global budget"
        )));
    };
    let global = Budget {
        spent: amount(first.0)?,
        limit: amount(first.1)?,
    };
    let consumer = match (first.2, first.3) {
        (Some(s), Some(l)) => Some(Budget {
            spent: amount(s)?,
            limit: amount(l)?,
        }),
        _ => None,
    };
    let mut releases: Vec<Option<KnownRelease>> = vec![None; release_keys.len()];
    for (_, _, _, _, key, body, paid) in rows {
        if let (Some(key), Some(body)) = (key, body)
            && let Some(i) = release_keys.iter().position(|k| *k == key)
        {
            releases[i] = Some(KnownRelease { body, paid });
        }
    }
    Ok(Outlook {
        consumer,
        global,
        releases,
    })
}

impl Store {
    /// The role a consumer holds for life, as the store knows it: its
    /// budget row's, or for a consumer without one (refused so far, or an
    /// auditor) the role of its first ledger entry. `None` for a consumer
    /// the store has never seen.
    pub async fn known_role(
        &self,
        dataset: &str,
        consumer_id: &str,
    ) -> Result<Option<String>, StoreError> {
        self.bounded(async move {
            let role: Option<String> = with_pool!(self, p => {
                sqlx::query_scalar(
                    "SELECT role FROM consumers WHERE dataset = $1 AND consumer_id = $2 \
                     UNION ALL \
                     SELECT role FROM (SELECT role FROM ledger WHERE consumer_id = $2 AND dataset = $1 \
                                       ORDER BY seq LIMIT 1) first \
                     LIMIT 1",
                )
                .bind(dataset)
                .bind(consumer_id)
                .fetch_optional(p)
                .await?
            });
            Ok(role)
        })
        .await
    }
}
