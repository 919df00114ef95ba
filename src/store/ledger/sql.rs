//! The statements of a charge and one way to run each per driver.
//!
//! Placeholders are `$N`, and each first appears after `$N-1`: SQLite numbers
//! `$`-parameters in order of first appearance, and the ledger writer's
//! connection binds them by position (a test checks the order).

use crate::audit::chain::EntryBody;
use crate::budget::ReleaseCharge;
use crate::domain::Consumer;
use crate::store::{StoreError, now_rfc3339};

/// (release_receipts has one row per release and consumer.)
pub(crate) const RELEASE_AND_RECEIPT: &str = "SELECT l.release_id, l.body, p.release_id IS NOT NULL \
     FROM (SELECT release_id, body FROM releases WHERE release_key = $1) l \
     LEFT JOIN release_receipts p ON p.release_id = l.release_id AND p.consumer_id = $2";
/// With the consumer's stored role, and whether the ledger holds a charge,
/// replay or budget change of a consumer that has no row (a row deleted
/// behind the service: see [`super::charge`]).
pub(crate) const BUDGETS: &str = "SELECT c.spent_micro, c.limit_micro, g.spent_micro, g.limit_micro, c.role, \
     (c.consumer_id IS NULL AND EXISTS (SELECT 1 FROM ledger l WHERE l.dataset = $1 AND l.consumer_id = $2 \
                                         AND l.event <> 'refusal')) \
     FROM (SELECT dataset, spent_micro, limit_micro FROM global_budgets WHERE dataset = $1) g \
     LEFT JOIN consumers c ON c.dataset = g.dataset AND c.consumer_id = $2";
pub(crate) const INSERT_CONSUMER: &str = "INSERT INTO consumers (dataset, consumer_id, role, limit_micro, spent_micro, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
pub(crate) const DEBIT_CONSUMER: &str = "UPDATE consumers SET spent_micro = spent_micro + $1 \
     WHERE dataset = $2 AND consumer_id = $3 AND spent_micro + $1 <= limit_micro";
pub(crate) const DEBIT_GLOBAL: &str = "UPDATE global_budgets SET spent_micro = spent_micro + $1 \
     WHERE dataset = $2 AND spent_micro + $1 <= limit_micro";
pub(crate) const INSERT_RELEASE: &str = "INSERT INTO releases (dataset, release_key, canonical_query, data_version, cost_micro, body, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING release_id";
pub(crate) const INSERT_RECEIPT: &str = "INSERT INTO release_receipts (release_id, dataset, consumer_id, charged_micro, created_at) \
     VALUES ($1, $2, $3, $4, $5)";
pub(crate) const LEDGER_LAST: &str = "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1";
pub(crate) const INSERT_ENTRY: &str = "INSERT INTO ledger (seq, at, dataset, consumer_id, role, event, outcome, canonical_query, query_hash, \
     cost_micro, consumer_spent_micro, consumer_limit_micro, global_spent_micro, data_version, idempotency_key, \
     prev_hash, hash, data_fingerprint) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";

#[cfg(test)]
pub(crate) const ALL: [&str; 9] = [
    RELEASE_AND_RECEIPT,
    BUDGETS,
    INSERT_CONSUMER,
    DEBIT_CONSUMER,
    DEBIT_GLOBAL,
    INSERT_RELEASE,
    INSERT_RECEIPT,
    LEDGER_LAST,
    INSERT_ENTRY,
];

#[cfg(test)]
mod tests {
    /// Placeholder numbers in order of first appearance.
    fn first_appearances(sql: &str) -> Vec<u32> {
        let mut seen = Vec::new();
        for piece in sql.split('$').skip(1) {
            let digits: String = piece.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse::<u32>()
                && !seen.contains(&n)
            {
                seen.push(n);
            }
        }
        seen
    }

    #[test]
    fn placeholders_first_appear_in_numeric_order() {
        for sql in super::ALL {
            let seen = first_appearances(sql);
            let expected: Vec<u32> = (1..=seen.len() as u32).collect();
            assert_eq!(seen, expected, "{sql}");
        }
        assert_eq!(first_appearances("a = $2 AND b = $1"), vec![2, 1]);
    }
}

/// A consumer's and the dataset's budgets as read in one statement
/// (`None` for a consumer without a row), the consumer's stored role, and
/// whether the ledger vouches for a row that is missing.
pub(crate) type Budgets = (Option<i64>, Option<i64>, i64, i64, Option<String>, bool);

/// One method per statement of [`sql`], for each way of reaching the
/// database inside a serialised transaction: sqlx connections of both
/// backends, and the SQLite ledger writer's own connection. The charge logic
/// ([`super::charge`]) is written once over it.
pub(crate) trait LedgerSql {
    async fn release_and_receipt(
        &mut self,
        release_key: &str,
        consumer_id: &str,
    ) -> Result<Option<(i64, String, bool)>, StoreError>;
    async fn budgets(
        &mut self,
        dataset: &str,
        consumer_id: &str,
    ) -> Result<Option<Budgets>, StoreError>;
    async fn insert_consumer(
        &mut self,
        dataset: &str,
        consumer: &Consumer,
        limit: i64,
        spent: i64,
    ) -> Result<(), StoreError>;
    /// Rows changed (1, or 0 when the condition failed).
    async fn debit_consumer(
        &mut self,
        dataset: &str,
        consumer_id: &str,
        amount: i64,
    ) -> Result<u64, StoreError>;
    async fn debit_global(&mut self, dataset: &str, amount: i64) -> Result<u64, StoreError>;
    async fn insert_release(
        &mut self,
        dataset: &str,
        r: &ReleaseCharge<'_>,
    ) -> Result<i64, StoreError>;
    async fn insert_receipt(
        &mut self,
        release_id: i64,
        dataset: &str,
        consumer_id: &str,
        charged: i64,
    ) -> Result<(), StoreError>;
    async fn ledger_last(&mut self) -> Result<Option<(i64, String)>, StoreError>;
    async fn insert_entry(
        &mut self,
        body: &EntryBody,
        prev_hash: &str,
        hash: &str,
    ) -> Result<(), StoreError>;
}

macro_rules! impl_ledger_sql_for_sqlx {
    ($conn:ty) => {
        impl LedgerSql for $conn {
            async fn release_and_receipt(
                &mut self,
                release_key: &str,
                consumer_id: &str,
            ) -> Result<Option<(i64, String, bool)>, StoreError> {
                Ok(sqlx::query_as(RELEASE_AND_RECEIPT)
                    .bind(release_key)
                    .bind(consumer_id)
                    .fetch_optional(&mut *self)
                    .await?)
            }
            async fn budgets(
                &mut self,
                dataset: &str,
                consumer_id: &str,
            ) -> Result<Option<Budgets>, StoreError> {
                Ok(sqlx::query_as(BUDGETS)
                    .bind(dataset)
                    .bind(consumer_id)
                    .fetch_optional(&mut *self)
                    .await?)
            }
            async fn insert_consumer(
                &mut self,
                dataset: &str,
                consumer: &Consumer,
                limit: i64,
                spent: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(INSERT_CONSUMER)
                    .bind(dataset)
                    .bind(&consumer.id)
                    .bind(consumer.role.code())
                    .bind(limit)
                    .bind(spent)
                    .bind(now_rfc3339())
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }
            async fn debit_consumer(
                &mut self,
                dataset: &str,
                consumer_id: &str,
                amount: i64,
            ) -> Result<u64, StoreError> {
                Ok(sqlx::query(DEBIT_CONSUMER)
                    .bind(amount)
                    .bind(dataset)
                    .bind(consumer_id)
                    .execute(&mut *self)
                    .await?
                    .rows_affected())
            }
            async fn debit_global(
                &mut self,
                dataset: &str,
                amount: i64,
            ) -> Result<u64, StoreError> {
                Ok(sqlx::query(DEBIT_GLOBAL)
                    .bind(amount)
                    .bind(dataset)
                    .execute(&mut *self)
                    .await?
                    .rows_affected())
            }
            async fn insert_release(
                &mut self,
                dataset: &str,
                r: &ReleaseCharge<'_>,
            ) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar(INSERT_RELEASE)
                    .bind(dataset)
                    .bind(r.release_key)
                    .bind(r.canonical_query)
                    .bind(r.data_version)
                    .bind(r.cost.to_i64()?)
                    .bind(r.body)
                    .bind(now_rfc3339())
                    .fetch_one(&mut *self)
                    .await?)
            }
            async fn insert_receipt(
                &mut self,
                release_id: i64,
                dataset: &str,
                consumer_id: &str,
                charged: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(INSERT_RECEIPT)
                    .bind(release_id)
                    .bind(dataset)
                    .bind(consumer_id)
                    .bind(charged)
                    .bind(now_rfc3339())
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }
            async fn ledger_last(&mut self) -> Result<Option<(i64, String)>, StoreError> {
                Ok(sqlx::query_as(LEDGER_LAST)
                    .fetch_optional(&mut *self)
                    .await?)
            }
            async fn insert_entry(
                &mut self,
                body: &EntryBody,
                prev_hash: &str,
                hash: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(INSERT_ENTRY)
                    .bind(body.seq)
                    .bind(&body.at)
                    .bind(&body.dataset)
                    .bind(&body.consumer_id)
                    .bind(body.role.code())
                    .bind(body.event.code())
                    .bind(body.outcome.as_str())
                    .bind(&body.canonical_query)
                    .bind(&body.query_hash)
                    .bind(body.cost_micro)
                    .bind(body.consumer_spent_micro)
                    .bind(body.consumer_limit_micro)
                    .bind(body.global_spent_micro)
                    .bind(body.data_version)
                    .bind(&body.idempotency_key)
                    .bind(prev_hash)
                    .bind(hash)
                    .bind(&body.data_fingerprint)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }
        }
    };
}

impl_ledger_sql_for_sqlx!(sqlx::SqliteConnection);
impl_ledger_sql_for_sqlx!(sqlx::PgConnection);
