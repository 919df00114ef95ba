//! Charging privacy budgets: the one place where a release becomes
//! releasable. [`Store::commit_release`] debits the consumer and the dataset's
//! global budget, stores the noisy release and appends the ledger entry in one
//! transaction, and only then hands out a [`Receipt`]. Without a receipt no
//! response can be built, so numbers cannot leave without a charge.
//!
//! Concurrency: on SQLite the transaction starts with `BEGIN IMMEDIATE` (the
//! write lock is taken first, so read-then-write cannot race); on PostgreSQL it
//! takes a transaction-scoped advisory lock that serialises ledger appends
//! across replicas. Inside it a charge reads both budgets, decides, and only
//! then writes; the debits stay conditional updates (`spent + cost <= limit`)
//! and CHECK constraints forbid overspending, so a bug elsewhere still cannot
//! overspend.
//!
//! The charge logic is written once ([`charge`]) over one method per SQL
//! statement ([`LedgerSql`]), implemented for both sqlx connections and for
//! the SQLite ledger writer's own connection. Answers to `/v1/counts` and
//! refusals go through [`Committer`], which commits the charges of
//! concurrent requests in one transaction ([`group_commit`]); idempotent
//! requests, national reports and budget changes commit directly here.

use crate::audit::chain::{EntryBody, GENESIS_HASH, entry_hash, event};
use crate::domain::Consumer;
use crate::store::{Store, StoreError, now_rfc3339, with_pool};

/// Advisory lock key serialising ledger appends on PostgreSQL.
const LEDGER_LOCK: i64 = 0x6374_6d5f_6c65_6467;

/// What a release costs and where it belongs.
#[derive(Debug, Clone)]
pub struct ChargeRequest<'a> {
    pub dataset: &'a str,
    pub consumer: &'a Consumer,
    /// Lifetime budget given to this consumer if it is new (policy, by role).
    pub new_consumer_limit_micro: u64,
    pub release_key: &'a str,
    pub canonical_query: &'a str,
    pub query_hash: &'a str,
    pub data_version: i64,
    /// Keyed fingerprint of the data the release was computed on (ledgered).
    pub data_fingerprint: &'a str,
    pub cost_micro: u64,
    pub idempotency: Option<Idempotency<'a>>,
}

#[derive(Debug, Clone, Copy)]
pub struct Idempotency<'a> {
    pub key: &'a str,
    pub request_hash: &'a str,
    pub content_type: &'a str,
}

/// Proof that a release was charged and recorded. Only [`Store::commit_release`] makes one.
#[derive(Debug, Clone)]
#[expect(
    clippy::manual_non_exhaustive,
    reason = "the private field seals construction to this module; #[non_exhaustive] would only seal it to this crate"
)]
pub struct Receipt {
    /// The stored noisy release body (as first stored; identical for every consumer).
    pub release_body: String,
    /// Micro-units charged by this request (0 for a repeat).
    pub charged_micro: u64,
    pub replay: bool,
    pub spent_micro: u64,
    pub limit_micro: u64,
    pub ledger_seq: i64,
    _sealed: (),
}

/// Why a charge was refused. Nothing was charged or stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Consumer {
        remaining_micro: u64,
    },
    Global,
    /// The idempotency key was used concurrently by another request.
    IdempotencyRace,
}

#[derive(Debug, thiserror::Error)]
pub enum ChargeError {
    #[error("refused: {0:?}")]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ChargeError {
    fn from(e: sqlx::Error) -> Self {
        ChargeError::Store(StoreError::Database(e))
    }
}

/// A consumer's budget as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetState {
    pub limit_micro: u64,
    pub spent_micro: u64,
}

/// A stored idempotent response.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub request_hash: String,
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// A release already stored, as [`Store::outlook`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownRelease {
    pub body: String,
    /// Whether the asking consumer already paid for it (a repeat is free).
    pub paid: bool,
}

/// Both budgets and the stored releases a request names, read before any
/// case is counted (see [`Store::outlook`]).
#[derive(Debug, Clone)]
pub struct Outlook {
    /// `None` for a consumer that never used the service.
    pub consumer: Option<BudgetState>,
    pub global: BudgetState,
    /// In the order of the keys asked for.
    pub releases: Vec<Option<KnownRelease>>,
}

impl Outlook {
    /// What the releases at `costs` (in the order of the keys) would charge
    /// now, by the rules of the charge: per release, the consumer pays unless
    /// it already paid, and the dataset pays only for releases not yet stored.
    pub fn charges(&self, costs: &[u64]) -> Vec<(u64, u64)> {
        costs
            .iter()
            .zip(&self.releases)
            .map(|(&cost, known)| match known {
                Some(k) if k.paid => (0, 0),
                Some(_) => (cost, 0),
                None => (cost, cost),
            })
            .collect()
    }

    /// What the releases at `costs` would charge the consumer and the
    /// dataset together (see [`Outlook::charges`]).
    pub fn totals(&self, costs: &[u64]) -> (u64, u64) {
        self.charges(costs)
            .into_iter()
            .fold((0u64, 0u64), |(c, g), (dc, dg)| {
                (c.saturating_add(dc), g.saturating_add(dg))
            })
    }

    /// The consumer's budget (a consumer new to the service starts at
    /// `new_limit_micro`): spent and limit.
    pub fn consumer_budget(&self, new_limit_micro: u64) -> BudgetState {
        self.consumer.unwrap_or(BudgetState {
            limit_micro: new_limit_micro,
            spent_micro: 0,
        })
    }

    /// Why the budgets cannot pay for the releases at `costs`, if they cannot.
    pub fn refusal(&self, costs: &[u64], new_limit_micro: u64) -> Option<Refusal> {
        let (consumer_needed, global_needed) = self.totals(costs);
        let (spent, limit) = self
            .consumer
            .map_or((0, new_limit_micro), |b| (b.spent_micro, b.limit_micro));
        if spent
            .checked_add(consumer_needed)
            .is_none_or(|after| after > limit)
        {
            return Some(Refusal::Consumer {
                remaining_micro: limit.saturating_sub(spent),
            });
        }
        if self
            .global
            .spent_micro
            .checked_add(global_needed)
            .is_none_or(|after| after > self.global.limit_micro)
        {
            return Some(Refusal::Global);
        }
        None
    }
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Begins the serialised write transaction of the backend.
macro_rules! begin_serialised {
    ($store:expr, $pool:expr) => {{
        let turn = $crate::store::writer_turn($store).await;
        let tx = match $store {
            Store::Sqlite(_) => $pool.begin_with("BEGIN IMMEDIATE").await?,
            Store::Postgres(_) => {
                let mut tx = $pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind($crate::budget::LEDGER_LOCK)
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };
        (turn, tx)
    }};
}

/// The last ledger entry as seen inside the open serialised transaction:
/// read once, then carried from append to append, since nobody else can
/// append while the transaction holds the ledger lock.
pub(crate) type LedgerHead = Option<(i64, String)>;

/// The statements of a charge, shared by every driver that runs them.
/// Placeholders are `$N`, and each first appears after `$N-1`: SQLite numbers
/// `$`-parameters in order of first appearance, and the ledger writer's
/// connection binds them by position (a test checks the order).
mod sql {
    /// (release_receipts has one row per release and consumer.)
    pub const RELEASE_AND_RECEIPT: &str = "SELECT l.release_id, l.body, p.release_id IS NOT NULL \
         FROM (SELECT release_id, body FROM releases WHERE release_key = $1) l \
         LEFT JOIN release_receipts p ON p.release_id = l.release_id AND p.consumer_id = $2";
    pub const BUDGETS: &str = "SELECT c.spent_micro, c.limit_micro, g.spent_micro, g.limit_micro \
         FROM (SELECT dataset, spent_micro, limit_micro FROM global_budgets WHERE dataset = $1) g \
         LEFT JOIN consumers c ON c.dataset = g.dataset AND c.consumer_id = $2";
    pub const INSERT_CONSUMER: &str = "INSERT INTO consumers (dataset, consumer_id, role, limit_micro, spent_micro, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)";
    pub const DEBIT_CONSUMER: &str = "UPDATE consumers SET spent_micro = spent_micro + $1 \
         WHERE dataset = $2 AND consumer_id = $3 AND spent_micro + $1 <= limit_micro";
    pub const DEBIT_GLOBAL: &str = "UPDATE global_budgets SET spent_micro = spent_micro + $1 \
         WHERE dataset = $2 AND spent_micro + $1 <= limit_micro";
    pub const INSERT_RELEASE: &str = "INSERT INTO releases (dataset, release_key, canonical_query, data_version, cost_micro, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING release_id";
    pub const INSERT_RECEIPT: &str = "INSERT INTO release_receipts (release_id, dataset, consumer_id, charged_micro, created_at) \
         VALUES ($1, $2, $3, $4, $5)";
    pub const LEDGER_LAST: &str = "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1";
    pub const INSERT_ENTRY: &str = "INSERT INTO ledger (seq, at, dataset, consumer_id, role, event, outcome, canonical_query, query_hash, \
         cost_micro, consumer_spent_micro, consumer_limit_micro, global_spent_micro, data_version, idempotency_key, \
         prev_hash, hash, data_fingerprint) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";

    #[cfg(test)]
    pub const ALL: [&str; 9] = [
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
}

/// A consumer's and the dataset's budgets as read in one statement
/// (`None` for a consumer that never used the service).
type Budgets = (Option<i64>, Option<i64>, i64, i64);

/// One method per statement of [`sql`], for each way of reaching the
/// database inside a serialised transaction: sqlx connections of both
/// backends, and the SQLite ledger writer's own connection. The charge logic
/// ([`charge`], [`append_entry`], [`append_refusal`]) is written once over it.
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
        r: &BatchRelease<'_>,
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
                Ok(sqlx::query_as(sql::RELEASE_AND_RECEIPT)
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
                Ok(sqlx::query_as(sql::BUDGETS)
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
                sqlx::query(sql::INSERT_CONSUMER)
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
                Ok(sqlx::query(sql::DEBIT_CONSUMER)
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
                Ok(sqlx::query(sql::DEBIT_GLOBAL)
                    .bind(amount)
                    .bind(dataset)
                    .execute(&mut *self)
                    .await?
                    .rows_affected())
            }
            async fn insert_release(
                &mut self,
                dataset: &str,
                r: &BatchRelease<'_>,
            ) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar(sql::INSERT_RELEASE)
                    .bind(dataset)
                    .bind(r.release_key)
                    .bind(r.canonical_query)
                    .bind(r.data_version)
                    .bind(to_i64(r.cost_micro))
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
                sqlx::query(sql::INSERT_RECEIPT)
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
                Ok(sqlx::query_as(sql::LEDGER_LAST)
                    .fetch_optional(&mut *self)
                    .await?)
            }
            async fn insert_entry(
                &mut self,
                body: &EntryBody,
                prev_hash: &str,
                hash: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(sql::INSERT_ENTRY)
                    .bind(body.seq)
                    .bind(&body.at)
                    .bind(&body.dataset)
                    .bind(&body.consumer_id)
                    .bind(&body.role)
                    .bind(&body.event)
                    .bind(&body.outcome)
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

/// Appends a ledger entry after the head `head` (read from the table when
/// unknown) and moves the head to it; returns its sequence number.
async fn append_entry(
    db: &mut impl LedgerSql,
    mut body: EntryBody,
    head: &mut LedgerHead,
) -> Result<i64, StoreError> {
    let (prev_seq, prev_hash) = match head.take() {
        Some(known) => known,
        None => db
            .ledger_last()
            .await?
            .unwrap_or_else(|| (0, GENESIS_HASH.to_owned())),
    };
    body.seq = prev_seq + 1;
    let hash = entry_hash(&prev_hash, &body)
        .ok_or_else(|| StoreError::Conflict("ledger head hash is malformed".into()))?;
    db.insert_entry(&body, &prev_hash, &hash).await?;
    *head = Some((body.seq, hash));
    Ok(body.seq)
}

/// Appends a refusal entry, filling in the budgets it does not state.
async fn append_refusal(
    db: &mut impl LedgerSql,
    mut entry: EntryBody,
    head: &mut LedgerHead,
) -> Result<i64, StoreError> {
    entry.event = event::REFUSAL.into();
    if let Some((spent, limit, global, _)) = db.budgets(&entry.dataset, &entry.consumer_id).await? {
        if entry.consumer_spent_micro.is_none() {
            entry.consumer_spent_micro = spent;
            entry.consumer_limit_micro = limit;
        }
        entry.global_spent_micro.get_or_insert(global);
    }
    append_entry(db, entry, head).await
}

/// An update that must hit its row: under the ledger lock, with the budgets
/// just read, anything else means the tables changed behind the lock, and
/// the whole transaction must fail.
fn one_row(affected: u64, what: &str) -> Result<(), ChargeError> {
    if affected == 1 {
        Ok(())
    } else {
        Err(ChargeError::Store(StoreError::Conflict(format!(
            "the {what} changed while the ledger was locked"
        ))))
    }
}

/// Charges `batch` to its consumer inside a serialised transaction the caller
/// owns: decides what each release costs this consumer and the dataset (a
/// release already paid for is free, the global budget pays once per
/// release), refuses when either budget cannot pay the sum, else debits both
/// by the sums (creating the consumer on first use), stores new releases and
/// receipts, and appends one ledger entry per release, showing the budgets
/// as if the releases had been charged one by one. Receipts come back in
/// order, each with the budget after the whole batch.
///
/// It reads first and decides: a refusal returns before anything is written,
/// so the transaction can go on with other work. Any other error may come
/// after writes: the caller must then roll the whole transaction back.
async fn charge(
    db: &mut impl LedgerSql,
    batch: &BatchCharge<'_>,
    idempotency_key: Option<&str>,
    head: &mut LedgerHead,
) -> Result<Vec<Receipt>, ChargeError> {
    // 1. What each release costs this consumer and the dataset.
    let mut items: Vec<BatchItemCost> = Vec::with_capacity(batch.releases.len());
    for (i, r) in batch.releases.iter().enumerate() {
        if let Some(j) = batch.releases[..i]
            .iter()
            .position(|o| o.release_key == r.release_key)
        {
            items.push(BatchItemCost {
                existing: None,
                already_paid: true,
                same_as: Some(j),
                cost: 0,
                global_cost: 0,
            });
            continue;
        }
        let (existing, already_paid) = match db
            .release_and_receipt(r.release_key, &batch.consumer.id)
            .await?
        {
            Some((id, body, paid)) => (Some((id, body)), paid),
            None => (None, false),
        };
        let cost = if already_paid { 0 } else { r.cost_micro };
        let global_cost = if existing.is_some() { 0 } else { cost };
        items.push(BatchItemCost {
            existing,
            already_paid,
            same_as: None,
            cost,
            global_cost,
        });
    }
    let overflow = || ChargeError::Store(StoreError::Conflict("batch cost overflows".into()));
    let total = items
        .iter()
        .try_fold(0u64, |a, it| a.checked_add(it.cost))
        .ok_or_else(overflow)?;
    let global_total = items
        .iter()
        .try_fold(0u64, |a, it| a.checked_add(it.global_cost))
        .ok_or_else(overflow)?;

    // 2. Both budgets in one read; refuse before anything is written.
    let Some((consumer_spent, consumer_limit, global_spent, global_limit)) =
        db.budgets(batch.dataset, &batch.consumer.id).await?
    else {
        return Err(ChargeError::Refused(Refusal::Global));
    };
    let (spent, limit, new_consumer) = match (consumer_spent, consumer_limit) {
        (Some(s), Some(l)) => (to_u64(s), to_u64(l), false),
        _ => (0, batch.new_consumer_limit_micro, true),
    };
    if spent.checked_add(total).is_none_or(|after| after > limit) {
        return Err(ChargeError::Refused(Refusal::Consumer {
            remaining_micro: limit.saturating_sub(spent),
        }));
    }
    let global_spent = to_u64(global_spent);
    if global_spent
        .checked_add(global_total)
        .is_none_or(|after| after > to_u64(global_limit))
    {
        return Err(ChargeError::Refused(Refusal::Global));
    }

    // 3. Debit both by the sums; the conditions and CHECK constraints stay
    //    as a second line of defence.
    if new_consumer {
        db.insert_consumer(batch.dataset, batch.consumer, to_i64(limit), to_i64(total))
            .await?;
    } else if total > 0 {
        let n = db
            .debit_consumer(batch.dataset, &batch.consumer.id, to_i64(total))
            .await?;
        one_row(n, "consumer's budget")?;
    }
    if global_total > 0 {
        let n = db.debit_global(batch.dataset, to_i64(global_total)).await?;
        one_row(n, "global budget")?;
    }

    // 4. Store, receipt and ledger entry per release.
    let mut consumer_after = spent;
    let mut global_after = global_spent;
    let mut stored: Vec<(i64, String)> = Vec::with_capacity(items.len());
    let mut receipts: Vec<Receipt> = Vec::with_capacity(items.len());
    for (r, it) in batch.releases.iter().zip(items) {
        let (release_id, release_body) = match (it.same_as, it.existing) {
            (Some(j), _) => stored.get(j).cloned().ok_or_else(|| {
                ChargeError::Store(StoreError::Conflict("batch release out of order".into()))
            })?,
            (None, Some(found)) => found,
            (None, None) => (
                db.insert_release(batch.dataset, r).await?,
                r.body.to_owned(),
            ),
        };
        if !it.already_paid {
            db.insert_receipt(
                release_id,
                batch.dataset,
                &batch.consumer.id,
                to_i64(it.cost),
            )
            .await?;
        }
        consumer_after += it.cost;
        global_after += it.global_cost;
        let ev = if it.already_paid {
            event::REPLAY
        } else {
            event::CHARGE
        };
        let mut entry = entry_for(batch.dataset, batch.consumer, ev, "ok");
        entry.canonical_query = Some(r.canonical_query.into());
        entry.query_hash = Some(r.query_hash.into());
        entry.cost_micro = to_i64(it.cost);
        entry.consumer_spent_micro = Some(to_i64(consumer_after));
        entry.consumer_limit_micro = Some(to_i64(limit));
        entry.global_spent_micro = Some(to_i64(global_after));
        entry.data_version = Some(r.data_version);
        entry.data_fingerprint = Some(r.data_fingerprint.into());
        entry.idempotency_key = idempotency_key.map(str::to_owned);
        let seq = append_entry(db, entry, head).await?;
        receipts.push(Receipt {
            release_body: release_body.clone(),
            charged_micro: it.cost,
            replay: it.already_paid,
            spent_micro: spent + total,
            limit_micro: limit,
            ledger_seq: seq,
            _sealed: (),
        });
        stored.push((release_id, release_body));
    }
    Ok(receipts)
}

// Declared after the macros above, which it uses.
mod group_commit;
mod sqlite_writer;
pub use group_commit::{CommitStats, Committer, MAX_BATCH};

/// Everything a ledger entry says about a consumer, with the amounts filled in later.
pub fn entry_for(dataset: &str, consumer: &Consumer, ev: &str, outcome: &str) -> EntryBody {
    EntryBody {
        seq: 0,
        at: now_rfc3339(),
        dataset: dataset.into(),
        consumer_id: consumer.id.clone(),
        role: consumer.role.code().into(),
        event: ev.into(),
        outcome: outcome.into(),
        canonical_query: None,
        query_hash: None,
        cost_micro: 0,
        consumer_spent_micro: None,
        consumer_limit_micro: None,
        global_spent_micro: None,
        data_version: None,
        idempotency_key: None,
        data_fingerprint: None,
    }
}

/// What [`Store::sync_global_budget`] did to the dataset's global limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalLimit {
    /// First start: the limit was written.
    Created,
    /// The stored limit already was the policy's.
    Unchanged,
    /// The policy's limit replaced another; `effective_micro` is what is now
    /// stored: the policy's limit, or what is already spent when the policy
    /// asks for less (the dataset is then exhausted).
    Changed {
        from_micro: u64,
        policy_micro: u64,
        effective_micro: u64,
        spent_micro: u64,
    },
}

impl GlobalLimit {
    /// Whether no new release can be made any more.
    pub fn exhausted(&self) -> bool {
        matches!(self, GlobalLimit::Changed { effective_micro, spent_micro, .. } if effective_micro <= spent_micro)
    }
}

/// The ledger's name for the dataset itself, in entries about its global budget.
pub const GLOBAL_CONSUMER: &str = "(global)";

impl Store {
    /// Makes the dataset's global limit the policy's: written at first start,
    /// changed (with a `budget_change` ledger entry under the consumer
    /// [`GLOBAL_CONSUMER`]) when the policy's differs. A limit below what is
    /// already spent cannot be stored (nothing spent is ever given back): the
    /// limit becomes what is spent, and the dataset is exhausted.
    pub async fn sync_global_budget(
        &self,
        dataset: &str,
        limit_micro: u64,
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
                        .bind(to_i64(limit_micro))
                        .execute(&mut *tx)
                        .await?;
                    GlobalLimit::Created
                }
                Some((from, _)) if to_u64(from) == limit_micro => GlobalLimit::Unchanged,
                Some((from, spent)) => {
                    let effective = limit_micro.max(to_u64(spent));
                    if to_u64(from) == effective {
                        GlobalLimit::Unchanged
                    } else {
                        sqlx::query("UPDATE global_budgets SET limit_micro = $1 WHERE dataset = $2")
                            .bind(to_i64(effective))
                            .bind(dataset)
                            .execute(&mut *tx)
                            .await?;
                        let system = Consumer {
                            id: GLOBAL_CONSUMER.into(),
                            role: crate::domain::Role::Admin,
                            country: None,
                        };
                        let mut entry = entry_for(dataset, &system, event::BUDGET_CHANGE, "ok");
                        // Nobody asked: the policy file changed.
                        entry.role = "system".into();
                        entry.canonical_query = Some(
                            serde_json::json!({
                                "action": "set_global_limit",
                                "by": "policy",
                                "from_micro": from,
                                "policy_limit_micro": limit_micro,
                                "limit_micro": effective,
                                "exhausted": effective <= to_u64(spent),
                            })
                            .to_string(),
                        );
                        entry.global_spent_micro = Some(spent);
                        append_entry(&mut *tx, entry, &mut None).await?;
                        GlobalLimit::Changed {
                            from_micro: to_u64(from),
                            policy_micro: limit_micro,
                            effective_micro: effective,
                            spent_micro: to_u64(spent),
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
        with_pool!(self, p => {
            sqlx::query("UPDATE store_meta SET accounting = $1 WHERE id = 1 AND accounting IS NULL")
                .bind(accounting)
                .execute(p)
                .await?;
            let recorded: Option<String> = sqlx::query_scalar("SELECT accounting FROM store_meta WHERE id = 1")
                .fetch_one(p)
                .await?;
            recorded.ok_or_else(|| StoreError::Conflict("the store's accounting could not be recorded".into()))
        })
    }

    pub async fn global_budget(&self, dataset: &str) -> Result<BudgetState, StoreError> {
        let row: Option<(i64, i64)> = with_pool!(self, p => {
            sqlx::query_as("SELECT limit_micro, spent_micro FROM global_budgets WHERE dataset = $1")
                .bind(dataset)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map_or(
            BudgetState {
                limit_micro: 0,
                spent_micro: 0,
            },
            |(l, s)| BudgetState {
                limit_micro: to_u64(l),
                spent_micro: to_u64(s),
            },
        ))
    }

    /// The consumer's budget, or `None` if it never used the service.
    pub async fn consumer_budget(
        &self,
        dataset: &str,
        consumer_id: &str,
    ) -> Result<Option<BudgetState>, StoreError> {
        let row: Option<(i64, i64)> = with_pool!(self, p => {
            sqlx::query_as("SELECT limit_micro, spent_micro FROM consumers WHERE dataset = $1 AND consumer_id = $2")
                .bind(dataset)
                .bind(consumer_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|(l, s)| BudgetState {
            limit_micro: to_u64(l),
            spent_micro: to_u64(s),
        }))
    }

    /// The stored body of a release, if any consumer already received it.
    pub async fn find_release(&self, release_key: &str) -> Result<Option<String>, StoreError> {
        let body: Option<String> = with_pool!(self, p => {
            sqlx::query_scalar("SELECT body FROM releases WHERE release_key = $1")
                .bind(release_key)
                .fetch_optional(p)
                .await?
        });
        Ok(body)
    }

    /// What a request for the releases `release_keys` would meet, read in
    /// one statement before anything is computed: both budgets and, per key,
    /// the stored body and whether `consumer_id` paid for it. Read-only and
    /// outside the serialised transaction, so it may be stale by the time of
    /// the charge; the charge decides again.
    pub async fn outlook(
        &self,
        dataset: &str,
        consumer_id: &str,
        release_keys: &[&str],
    ) -> Result<Outlook, StoreError> {
        type Row = (
            i64,
            i64,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<String>,
            bool,
        );
        let rows: Vec<Row> = with_pool!(self, p => {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT g.spent_micro, g.limit_micro, c.spent_micro, c.limit_micro, l.release_key, l.body, \
                 p.release_id IS NOT NULL \
                 FROM (SELECT dataset, spent_micro, limit_micro FROM global_budgets WHERE dataset = ",
            );
            qb.push_bind(dataset);
            qb.push(") g LEFT JOIN consumers c ON c.dataset = g.dataset AND c.consumer_id = ");
            qb.push_bind(consumer_id);
            qb.push(" LEFT JOIN releases l ON l.release_key IN (");
            let mut keys = qb.separated(", ");
            for k in release_keys {
                keys.push_bind(*k);
            }
            qb.push(") LEFT JOIN release_receipts p ON p.release_id = l.release_id AND p.consumer_id = ");
            qb.push_bind(consumer_id);
            qb.build_query_as().fetch_all(p).await?
        });
        let Some(first) = rows.first() else {
            return Err(StoreError::Conflict(format!(
                "the dataset {dataset} has no global budget"
            )));
        };
        let global = BudgetState {
            spent_micro: to_u64(first.0),
            limit_micro: to_u64(first.1),
        };
        let consumer = match (first.2, first.3) {
            (Some(s), Some(l)) => Some(BudgetState {
                spent_micro: to_u64(s),
                limit_micro: to_u64(l),
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

    /// Number of ledger entries per event for a consumer, and the time of the last one.
    pub async fn consumer_history(
        &self,
        dataset: &str,
        consumer_id: &str,
    ) -> Result<(Vec<(String, i64)>, Option<String>), StoreError> {
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
    }

    pub async fn find_idempotent(
        &self,
        consumer_id: &str,
        key: &str,
    ) -> Result<Option<StoredResponse>, StoreError> {
        let row: Option<(String, i32, String, Vec<u8>)> = with_pool!(self, p => {
            sqlx::query_as("SELECT request_hash, status, content_type, body FROM idempotency_keys WHERE consumer_id = $1 AND idempotency_key = $2")
                .bind(consumer_id)
                .bind(key)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(
            |(request_hash, status, content_type, body)| StoredResponse {
                request_hash,
                status: u16::try_from(status).unwrap_or(200),
                content_type,
                body,
            },
        ))
    }

    /// Charges `req` and records it, atomically; see the module doc.
    ///
    /// `body` is the noisy release, computed before the transaction (noise is
    /// deterministic, so a concurrent twin computes the same body); if the
    /// release is already stored, the stored body wins. `render` builds the
    /// response bytes from the receipt: inside the transaction when the
    /// request has an idempotency key (the bytes are stored with it, so a
    /// retry replays them byte for byte), after the commit otherwise.
    pub async fn commit_release(
        &self,
        req: &ChargeRequest<'_>,
        body: &str,
        render: impl FnOnce(&Receipt) -> Vec<u8>,
    ) -> Result<(Receipt, Vec<u8>), ChargeError> {
        let mut render = Some(render);
        with_pool!(self, pool => {
            let (_turn, mut tx) = begin_serialised!(self, pool);
            let batch = BatchCharge {
                dataset: req.dataset,
                consumer: req.consumer,
                new_consumer_limit_micro: req.new_consumer_limit_micro,
                releases: vec![BatchRelease {
                    release_key: req.release_key,
                    canonical_query: req.canonical_query,
                    query_hash: req.query_hash,
                    data_version: req.data_version,
                    data_fingerprint: req.data_fingerprint,
                    cost_micro: req.cost_micro,
                    body,
                }],
            };
            let receipts = match charge(&mut *tx, &batch, req.idempotency.map(|i| i.key), &mut None).await {
                Ok(r) => r,
                Err(e) => {
                    tx.rollback().await?;
                    return Err(e);
                }
            };
            let Some(receipt) = receipts.into_iter().next() else {
                return Err(ChargeError::Store(StoreError::Conflict("no receipt for a single release".into())));
            };
            // Without an idempotency key the response is rendered after the
            // commit, outside the serialised section; with one, its exact bytes
            // must be stored in the same transaction.
            let mut bytes = None;
            if let Some(idem) = req.idempotency {
                let rendered = render.take().map(|f| f(&receipt)).unwrap_or_default();
                let inserted = sqlx::query(
                    "INSERT INTO idempotency_keys (consumer_id, idempotency_key, request_hash, status, content_type, body, created_at) \
                     VALUES ($1, $2, $3, 200, $4, $5, $6) ON CONFLICT (consumer_id, idempotency_key) DO NOTHING",
                )
                .bind(&req.consumer.id)
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
                None => render.take().map(|f| f(&receipt)).unwrap_or_default(),
            };
            Ok((receipt, bytes))
        })
    }

    /// Records a refusal (budget, scope or validation) in the ledger.
    pub async fn record_refusal(&self, entry: EntryBody) -> Result<i64, StoreError> {
        let seq = with_pool!(self, pool => {
            let (_turn, mut tx) = begin_serialised!(self, pool);
            let seq = append_refusal(&mut *tx, entry, &mut None).await?;
            tx.commit().await?;
            seq
        });
        Ok(seq)
    }

    /// Records an idempotent replay (a retry answered with the stored bytes).
    pub async fn record_replay(&self, mut entry: EntryBody) -> Result<i64, StoreError> {
        entry.event = event::REPLAY.into();
        let seq = with_pool!(self, pool => {
            let (_turn, mut tx) = begin_serialised!(self, pool);
            let seq = append_entry(&mut *tx, entry, &mut None).await?;
            tx.commit().await?;
            seq
        });
        Ok(seq)
    }

    /// Sets a consumer's lifetime limit (never below what it already spent), as a ledger event.
    /// Returns the new state, or `None` if the limit would be below spent.
    pub async fn set_consumer_limit(
        &self,
        dataset: &str,
        admin: &Consumer,
        target_id: &str,
        target_role_if_new: crate::domain::Role,
        limit_micro: u64,
    ) -> Result<Option<BudgetState>, StoreError> {
        let res = with_pool!(self, pool => {
            let (_turn, mut tx) = begin_serialised!(self, pool);
            sqlx::query(
                "INSERT INTO consumers (dataset, consumer_id, role, limit_micro, spent_micro, created_at) \
                 VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (dataset, consumer_id) DO NOTHING",
            )
            .bind(dataset)
            .bind(target_id)
            .bind(target_role_if_new.code())
            .bind(to_i64(limit_micro))
            .bind(now_rfc3339())
            .execute(&mut *tx)
            .await?;
            let row: Option<(i64, i64)> = sqlx::query_as(
                "UPDATE consumers SET limit_micro = $1 WHERE dataset = $2 AND consumer_id = $3 AND spent_micro <= $1 \
                 RETURNING spent_micro, limit_micro",
            )
            .bind(to_i64(limit_micro))
            .bind(dataset)
            .bind(target_id)
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                None => {
                    tx.rollback().await?;
                    None
                }
                Some((spent, limit)) => {
                    let global: Option<i64> = sqlx::query_scalar("SELECT spent_micro FROM global_budgets WHERE dataset = $1")
                        .bind(dataset)
                        .fetch_optional(&mut *tx)
                        .await?;
                    // The entry is the target consumer's; the acting admin is named in the query field.
                    let role: String = sqlx::query_scalar("SELECT role FROM consumers WHERE dataset = $1 AND consumer_id = $2")
                        .bind(dataset)
                        .bind(target_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let mut entry = entry_for(dataset, admin, event::BUDGET_CHANGE, "ok");
                    entry.consumer_id = target_id.to_owned();
                    entry.role = role;
                    entry.canonical_query = Some(
                        serde_json::json!({"action": "set_limit", "by": admin.id, "by_role": admin.role.code(), "limit_micro": limit}).to_string(),
                    );
                    entry.consumer_spent_micro = Some(spent);
                    entry.consumer_limit_micro = Some(limit);
                    entry.global_spent_micro = global;
                    append_entry(&mut *tx, entry, &mut None).await?;
                    tx.commit().await?;
                    Some(BudgetState { limit_micro: to_u64(limit), spent_micro: to_u64(spent) })
                }
            }
        });
        Ok(res)
    }
}

/// One release of a [`BatchCharge`]: what it is, what it costs, its noisy body.
#[derive(Debug, Clone)]
pub struct BatchRelease<'a> {
    pub release_key: &'a str,
    pub canonical_query: &'a str,
    pub query_hash: &'a str,
    pub data_version: i64,
    pub data_fingerprint: &'a str,
    pub cost_micro: u64,
    /// The noisy release computed before the transaction; a stored body wins.
    pub body: &'a str,
}

/// Several releases charged to one consumer together (a national report).
#[derive(Debug, Clone)]
pub struct BatchCharge<'a> {
    pub dataset: &'a str,
    pub consumer: &'a Consumer,
    /// Lifetime budget given to this consumer if it is new (policy, by role).
    pub new_consumer_limit_micro: u64,
    pub releases: Vec<BatchRelease<'a>>,
}

/// What one release of a batch costs, decided inside the transaction.
struct BatchItemCost {
    existing: Option<(i64, String)>,
    already_paid: bool,
    /// Index of an earlier release of the same batch with the same key.
    same_as: Option<usize>,
    cost: u64,
    global_cost: u64,
}

impl Store {
    /// Charges every release of `batch` or none, in one transaction, with the
    /// rules of [`Store::commit_release`]: a release this consumer already
    /// paid for is free, the global budget pays once per release, each
    /// release is stored once, and each gets its own ledger entry (`charge`
    /// or `replay`), in order. The consumer and the global budget are debited
    /// once, by the sum, with the same conditional updates, so a refusal
    /// names the whole amount and leaves nothing charged or stored.
    ///
    /// Receipts come back in the order of `batch.releases`; each carries the
    /// budget after the whole batch.
    pub async fn commit_releases(
        &self,
        batch: &BatchCharge<'_>,
    ) -> Result<Vec<Receipt>, ChargeError> {
        with_pool!(self, pool => {
            let (_turn, mut tx) = begin_serialised!(self, pool);
            let receipts = match charge(&mut *tx, batch, None, &mut None).await {
                Ok(r) => r,
                Err(e) => {
                    tx.rollback().await?;
                    return Err(e);
                }
            };
            tx.commit().await?;
            Ok(receipts)
        })
    }
}
