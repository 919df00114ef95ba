//! Direct serialised transactions: idempotent charges (their response bytes
//! are stored with them), replays, limit changes and the start-up sync of
//! the global limit. Everything else commits through the group committer.

use super::ChargeError;
use super::charge::{append_entry, append_refusal, charge};
use super::{amount, begin_serialised};
use crate::audit::chain::{EntryBody, EntryRole, Event, Outcome};
use crate::budget::{Charge, GLOBAL_CONSUMER, GlobalLimit, Receipt, Refusal, RenderResult};
use crate::domain::Consumer;
use crate::domain::budget::{Amount, Budget};
use crate::store::{Store, StoreError, now_rfc3339, with_pool};

impl Store {
    /// Makes the dataset's global limit the policy's: written at first start,
    /// changed (with a `budget_change` ledger entry under the consumer
    /// [`GLOBAL_CONSUMER`]) when the policy's differs. A limit below what is
    /// already spent cannot be stored (nothing spent is ever given back): the
    /// limit becomes what is spent, and the dataset is exhausted.
    pub async fn sync_global_budget(
        &self,
        dataset: &str,
        limit: Amount,
    ) -> Result<GlobalLimit, StoreError> {
        with_pool!(self, pool => {
            let (_turn, mut tx) = begin_serialised!(self, pool);
            let row: Option<(i64, i64)> = sqlx::query_as(
                "SELECT limit_micro, spent_micro FROM global_budgets WHERE dataset = $1",
            )
            .bind(dataset)
            .fetch_optional(&mut *tx)
            .await?;
            let outcome = match row {
                None => {
                    sqlx::query("INSERT INTO global_budgets (dataset, limit_micro, spent_micro) VALUES ($1, $2, 0)")
                        .bind(dataset)
                        .bind(limit.to_i64()?)
                        .execute(&mut *tx)
                        .await?;
                    GlobalLimit::Created
                }
                Some((from, _)) if amount(from)? == limit => GlobalLimit::Unchanged,
                Some((from_stored, spent_stored)) => {
                    let (from, spent) = (amount(from_stored)?, amount(spent_stored)?);
                    let effective = limit.max(spent);
                    if from == effective {
                        GlobalLimit::Unchanged
                    } else {
                        sqlx::query("UPDATE global_budgets SET limit_micro = $1 WHERE dataset = $2")
                            .bind(effective.to_i64()?)
                            .bind(dataset)
                            .execute(&mut *tx)
                            .await?;
                        let system = Consumer {
                            id: GLOBAL_CONSUMER.into(),
                            role: crate::domain::Role::Admin,
                            country: None,
                            region: None,
                        };
                        let mut entry = EntryBody::about(dataset, &system, Event::BudgetChange, Outcome::Ok);
                        // Nobody asked: the policy file changed.
                        entry.role = EntryRole::System;
                        entry.canonical_query = Some(
                            serde_json::json!({
                                "action": "set_global_limit",
                                "by": "policy",
                                "from_micro": from_stored,
                                "policy_limit_micro": limit.micro(),
                                "limit_micro": effective.micro(),
                                "exhausted": effective <= spent,
                            })
                            .to_string(),
                        );
                        entry.global_spent_micro = Some(spent_stored);
                        append_entry(&mut *tx, entry, &mut None).await?;
                        GlobalLimit::Changed {
                            from,
                            policy: limit,
                            effective,
                            spent,
                        }
                    }
                }
            };
            tx.commit().await?;
            Ok(outcome)
        })
    }

    /// Records `accounting` as the store's at its first start and returns
    /// the one recorded (which may be another: budgets in ε and ρ cannot be
    /// added, so the caller must then refuse to start).
    pub async fn record_accounting(&self, accounting: &str) -> Result<String, StoreError> {
        self.record_once(MetaOnce::Accounting, accounting).await
    }

    /// Records `unit` as the store's unit of privacy if it has none yet, and
    /// returns the one recorded (which the caller compares with its own).
    pub async fn record_privacy_unit(&self, unit: &str) -> Result<String, StoreError> {
        self.record_once(MetaOnce::PrivacyUnit, unit).await
    }

    /// Sets a `store_meta` column that is written once, at the first start,
    /// and returns what it holds.
    async fn record_once(&self, column: MetaOnce, value: &str) -> Result<String, StoreError> {
        let (set, get, what) = column.statements();
        with_pool!(self, p => {
            sqlx::query(set).bind(value).execute(p).await?;
            let recorded: Option<String> = sqlx::query_scalar(get).fetch_one(p).await?;
            recorded.ok_or_else(|| StoreError::Conflict(format!("the store's {what} could not be recorded")))
        })
    }

    /// Charges `charge` and records it, atomically (see the module doc),
    /// then builds the response with `render` from the receipts (in the
    /// order of the charge's releases).
    ///
    /// With an idempotency key the response bytes are rendered and stored
    /// inside the transaction, so a retry replays them byte for byte, and a
    /// render failure rolls the charge back. Without one they are rendered
    /// after the commit; a render failure then leaves the charge standing
    /// ([`ChargeError::Render`]), and a repeat is free.
    pub async fn commit(
        &self,
        charge_: &Charge<'_>,
        render: impl FnOnce(&[Receipt]) -> RenderResult,
    ) -> Result<(Vec<Receipt>, Vec<u8>), ChargeError> {
        self.bounded(async move {
            let mut render = Some(render);
            let mut render_now = |receipts: &[Receipt]| match render.take() {
                Some(f) => f(receipts).map_err(ChargeError::Render),
                None => Err(ChargeError::Store(StoreError::Conflict(
                    "a response rendered twice".into(),
                ))),
            };
            with_pool!(self, pool => {
                let (_turn, mut tx) = begin_serialised!(self, pool);
                let receipts = match charge(&mut *tx, charge_, &mut None).await {
                    Ok(r) => r,
                    Err(e) => {
                        tx.rollback().await?;
                        return Err(e);
                    }
                };
                let mut bytes = None;
                if let Some(idem) = charge_.idempotency {
                    let rendered = match render_now(&receipts) {
                        Ok(b) => b,
                        Err(e) => {
                            tx.rollback().await?;
                            return Err(e);
                        }
                    };
                    let inserted = sqlx::query(
                        "INSERT INTO idempotency_keys (consumer_id, idempotency_key, request_hash, status, content_type, body, created_at) \
                         VALUES ($1, $2, $3, 200, $4, $5, $6) ON CONFLICT (consumer_id, idempotency_key) DO NOTHING",
                    )
                    .bind(&charge_.consumer.id)
                    .bind(idem.key)
                    .bind(idem.request_hash)
                    .bind(idem.content_type)
                    .bind(&rendered)
                    .bind(now_rfc3339())
                    .execute(&mut *tx)
                    .await?;
                    if inserted.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Err(ChargeError::Refused(Refusal::IdempotencyRace));
                    }
                    bytes = Some(rendered);
                }
                tx.commit().await?;
                let bytes = match bytes {
                    Some(b) => b,
                    None => render_now(&receipts)?,
                };
                Ok((receipts, bytes))
            })
        })
        .await
    }

    /// Records a refusal (budget, scope or validation) in the ledger.
    pub async fn record_refusal(&self, entry: EntryBody) -> Result<i64, StoreError> {
        self.bounded(async move {
            let seq = with_pool!(self, pool => {
                let (_turn, mut tx) = begin_serialised!(self, pool);
                let seq = append_refusal(&mut *tx, entry, &mut None).await?;
                tx.commit().await?;
                seq
            });
            Ok(seq)
        })
        .await
    }

    /// Records an idempotent replay (a retry answered with the stored bytes).
    pub async fn record_replay(&self, mut entry: EntryBody) -> Result<i64, StoreError> {
        self.bounded(async move {
            entry.event = Event::Replay;
            let seq = with_pool!(self, pool => {
                let (_turn, mut tx) = begin_serialised!(self, pool);
                let seq = append_entry(&mut *tx, entry, &mut None).await?;
                tx.commit().await?;
                seq
            });
            Ok(seq)
        })
        .await
    }

    /// Sets a consumer's lifetime limit (never below what it already spent), as a ledger event.
    /// Returns the new state, or `None` if the limit would be below spent.
    pub async fn set_consumer_limit(
        &self,
        dataset: &str,
        admin: &Consumer,
        target_id: &str,
        target_role_if_new: crate::domain::Role,
        limit: Amount,
    ) -> Result<Option<Budget<Amount>>, StoreError> {
        self.bounded(async move {
            let res = with_pool!(self, pool => {
                let (_turn, mut tx) = begin_serialised!(self, pool);
                // A row the ledger vouches for but the table lost is not
                // recreated at zero spent (see `StoreError::LostBudget`).
                let lost: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM ledger WHERE dataset = $1 AND consumer_id = $2 \
                                    AND event <> 'refusal') \
                     AND NOT EXISTS (SELECT 1 FROM consumers WHERE dataset = $1 AND consumer_id = $2)",
                )
                .bind(dataset)
                .bind(target_id)
                .fetch_one(&mut *tx)
                .await?;
                if lost {
                    return Err(StoreError::LostBudget(target_id.to_owned()));
                }
                sqlx::query(
                    "INSERT INTO consumers (dataset, consumer_id, role, limit_micro, spent_micro, created_at) \
                     VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (dataset, consumer_id) DO NOTHING",
                )
                .bind(dataset)
                .bind(target_id)
                .bind(target_role_if_new.code())
                .bind(limit.to_i64()?)
                .bind(now_rfc3339())
                .execute(&mut *tx)
                .await?;
                let row: Option<(i64, i64)> = sqlx::query_as(
                    "UPDATE consumers SET limit_micro = $1 WHERE dataset = $2 AND consumer_id = $3 AND spent_micro <= $1 \
                     RETURNING spent_micro, limit_micro",
                )
                .bind(limit.to_i64()?)
                .bind(dataset)
                .bind(target_id)
                .fetch_optional(&mut *tx)
                .await?;
                match row {
                    None => {
                        tx.rollback().await?;
                        None
                    }
                    Some((spent, stored_limit)) => {
                        let limit = stored_limit;
                        let global: Option<i64> = sqlx::query_scalar("SELECT spent_micro FROM global_budgets WHERE dataset = $1")
                            .bind(dataset)
                            .fetch_optional(&mut *tx)
                            .await?;
                        // The entry is the target consumer's; the acting admin is named in the query field.
                        let stored_role: String = sqlx::query_scalar("SELECT role FROM consumers WHERE dataset = $1 AND consumer_id = $2")
                            .bind(dataset)
                            .bind(target_id)
                            .fetch_one(&mut *tx)
                            .await?;
                        let role = crate::domain::Role::parse(&stored_role).ok_or_else(|| {
                            StoreError::Conflict(format!("consumer {target_id} has an unknown stored role \"{stored_role}\""))
                        })?;
                        let mut entry = EntryBody::about(dataset, admin, Event::BudgetChange, Outcome::Ok);
                        entry.consumer_id = target_id.to_owned();
                        entry.role = EntryRole::Consumer(role);
                        entry.canonical_query = Some(
                            serde_json::json!({"action": "set_limit", "by": admin.id, "by_role": admin.role.code(), "limit_micro": limit}).to_string(),
                        );
                        entry.consumer_spent_micro = Some(spent);
                        entry.consumer_limit_micro = Some(limit);
                        entry.global_spent_micro = global;
                        append_entry(&mut *tx, entry, &mut None).await?;
                        tx.commit().await?;
                        Some(Budget { limit: amount(limit)?, spent: amount(spent)? })
                    }
                }
            });
            Ok(res)
        })
        .await
    }
}

/// The `store_meta` columns written once.
#[derive(Debug, Clone, Copy)]
enum MetaOnce {
    Accounting,
    PrivacyUnit,
}

impl MetaOnce {
    /// The statement that sets it if unset, the one that reads it, and
    /// what it is in words.
    fn statements(self) -> (&'static str, &'static str, &'static str) {
        match self {
            MetaOnce::Accounting => (
                "UPDATE store_meta SET accounting = $1 WHERE id = 1 AND accounting IS NULL",
                "SELECT accounting FROM store_meta WHERE id = 1",
                "accounting",
            ),
            MetaOnce::PrivacyUnit => (
                "UPDATE store_meta SET privacy_unit = $1 WHERE id = 1 AND privacy_unit IS NULL",
                "SELECT privacy_unit FROM store_meta WHERE id = 1",
                "unit of privacy",
            ),
        }
    }
}
