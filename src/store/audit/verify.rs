//! The server's verification of its own ledger: the chain recomputed, every
//! checkpoint checked and the budget tables reconciled, in one read snapshot.

use super::checkpoints::{CheckpointRow, checkpoint_of};
use super::{BATCH, LedgerRow};
use crate::audit::chain::Entry;
use crate::audit::checkpoint::{Checkpoint, PublicKey};
use crate::audit::verify::{
    ConsumerRow, Failure, FailureKind, Summary, Verifier, reconcile_tables,
};
use crate::store::{Store, StoreError, with_pool};

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

impl Store {
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
                let rows: Vec<CheckpointRow> = sqlx::query_as(concat!(
                    "SELECT ", checkpoint_columns!(), " FROM checkpoints ORDER BY size, at",
                ))
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
