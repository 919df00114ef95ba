//! The checkpoints table: signed heads of the ledger, stored, listed and
//! made when the ledger has grown.

use crate::audit::checkpoint::{Checkpoint, Signer};
use crate::store::{Store, StoreError, now_rfc3339, with_pool};

pub(super) type CheckpointRow = (String, i64, String, String, String, String);

pub(super) fn checkpoint_of(r: CheckpointRow) -> Checkpoint {
    Checkpoint {
        dataset: r.0,
        size: r.1,
        head_hash: r.2,
        at: r.3,
        key_id: r.4,
        signature: r.5,
    }
}

impl Store {
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
                sqlx::query_as(concat!(
                    "SELECT ", checkpoint_columns!(), " FROM checkpoints WHERE dataset = $1 \
                     ORDER BY size DESC, at DESC LIMIT $2",
                ))
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
                sqlx::query_as(concat!(
                    "SELECT ", checkpoint_columns!(), " FROM checkpoints \
                     WHERE dataset = $1 AND ($2 IS NULL OR size <= $2) ORDER BY size DESC, at DESC LIMIT 1",
                ))
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
}
