//! A charge carried out inside a serialised transaction: read what the
//! store knows, ask the pure decision ([`crate::budget::decide`]), and only
//! then write. Written once over [`LedgerSql`], so the sqlx connections of
//! both backends and the SQLite ledger writer's own connection run the same
//! logic.

use super::ChargeError;
use super::sql::{Budgets, LedgerSql};
use super::{LedgerHead, amount};
use crate::audit::chain::{EntryBody, Event, GENESIS_HASH, Outcome, entry_hash};
use crate::budget::{Charge, ItemCost, Known, Receipt, Refusal, decide};
use crate::domain::budget::{Amount, Budget, compose_amounts};
use crate::store::StoreError;

/// Appends a ledger entry after the head `head` (read from the table when
/// unknown) and moves the head to it; returns its sequence number.
pub(crate) async fn append_entry(
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
pub(crate) async fn append_refusal(
    db: &mut impl LedgerSql,
    mut entry: EntryBody,
    head: &mut LedgerHead,
) -> Result<i64, StoreError> {
    entry.event = Event::Refusal;
    if let Some((spent, limit, global, ..)) = db.budgets(&entry.dataset, &entry.consumer_id).await?
    {
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

/// The budgets of one read, typed; `None` for a consumer without a row.
fn typed_budgets(raw: &Budgets) -> Result<(Option<Budget<Amount>>, Budget<Amount>), StoreError> {
    let (consumer_spent, consumer_limit, global_spent, global_limit, ..) = *raw;
    let consumer = match (consumer_spent, consumer_limit) {
        (Some(s), Some(l)) => Some(Budget {
            spent: amount(s)?,
            limit: amount(l)?,
        }),
        _ => None,
    };
    let global = Budget {
        spent: amount(global_spent)?,
        limit: amount(global_limit)?,
    };
    Ok((consumer, global))
}

/// Charges `charge` to its consumer inside a serialised transaction the
/// caller owns: finds what the store knows of each release (a release this
/// consumer paid for is free, the dataset pays once per release, a release
/// named twice in one charge is paid once), asks [`decide`], and only if it
/// accepts debits both budgets by the sums (creating the consumer on first
/// use), stores new releases and receipts, and appends one ledger entry per
/// release, showing the budgets as if the releases had been charged one by
/// one. Receipts come back in order, each with the budget after the whole
/// charge.
///
/// A refusal returns before anything is written, so the transaction can go
/// on with other work. Any other error may come after writes: the caller
/// must then roll the whole transaction back.
pub(crate) async fn charge(
    db: &mut impl LedgerSql,
    charge: &Charge<'_>,
    head: &mut LedgerHead,
) -> Result<Vec<Receipt>, ChargeError> {
    // 1. What the store knows of each release.
    let consumer_id = &charge.consumer.id;
    let mut found: Vec<Found> = Vec::with_capacity(charge.releases.len());
    for (i, r) in charge.releases.iter().enumerate() {
        let earlier = charge.releases[..i]
            .iter()
            .position(|o| o.release_key == r.release_key);
        found.push(match earlier {
            Some(j) => Found::SameAs(j),
            None => match db.release_and_receipt(r.release_key, consumer_id).await? {
                Some((id, body, paid)) => Found::Stored { id, body, paid },
                None => Found::New,
            },
        });
    }
    let items: Vec<ItemCost> = charge
        .releases
        .iter()
        .zip(&found)
        .map(|(r, f)| ItemCost::of(r.cost, f.known()))
        .collect();

    // 2. Both budgets in one read; the pure decision; refuse before any write.
    let Some(raw) = db.budgets(charge.dataset, consumer_id).await? else {
        // No global budget row: the dataset takes no releases at all.
        let requested = compose_amounts(items.iter().map(|i| i.consumer))?;
        return Err(ChargeError::Refused(Refusal::Global { requested }));
    };
    let (stored_consumer, global) = typed_budgets(&raw)?;
    let (.., stored_role, lost) = raw;
    // One role for life: the edge refuses a token of another role before
    // anything is read; this catches two first requests of one new
    // consumer with different roles, racing.
    if let Some(stored) = stored_role
        && stored != charge.consumer.role.code()
    {
        return Err(ChargeError::RoleChanged {
            stored,
            token: charge.consumer.role.code().into(),
        });
    }
    // A consumer the ledger has charged but the budgets table no longer
    // holds: its row was deleted behind the service. Recreating it would
    // hand out a fresh budget.
    if lost {
        return Err(ChargeError::Store(StoreError::LostBudget(
            consumer_id.clone(),
        )));
    }
    let consumer = stored_consumer.unwrap_or(Budget::new(charge.new_consumer_limit));
    let decision = decide(consumer, global, items)?;

    // 3. Debit both by the sums; the conditions and CHECK constraints stay
    //    as a second line of defence.
    if stored_consumer.is_none() {
        db.insert_consumer(
            charge.dataset,
            charge.consumer,
            consumer.limit.to_i64()?,
            decision.consumer_total.to_i64()?,
        )
        .await?;
    } else if !decision.consumer_total.is_zero() {
        let n = db
            .debit_consumer(
                charge.dataset,
                consumer_id,
                decision.consumer_total.to_i64()?,
            )
            .await?;
        one_row(n, "consumer's budget")?;
    }
    if !decision.global_total.is_zero() {
        let n = db
            .debit_global(charge.dataset, decision.global_total.to_i64()?)
            .await?;
        one_row(n, "global budget")?;
    }

    // 4. Store, receipt and ledger entry per release.
    let mut consumer_running = consumer.spent;
    let mut global_running = global.spent;
    let mut stored: Vec<(i64, String)> = Vec::with_capacity(found.len());
    let mut receipts: Vec<Receipt> = Vec::with_capacity(found.len());
    for ((r, f), cost) in charge.releases.iter().zip(found).zip(&decision.items) {
        let paid = f.known() == Known::Paid;
        let (release_id, release_body) = match f {
            Found::SameAs(j) => stored.get(j).cloned().ok_or_else(|| {
                ChargeError::Store(StoreError::Conflict("charge release out of order".into()))
            })?,
            Found::Stored { id, body, .. } => (id, body),
            Found::New => (
                db.insert_release(charge.dataset, r).await?,
                r.body.to_owned(),
            ),
        };
        if !paid {
            db.insert_receipt(
                release_id,
                charge.dataset,
                consumer_id,
                cost.consumer.to_i64()?,
            )
            .await?;
        }
        consumer_running = consumer_running.checked_add(cost.consumer)?;
        global_running = global_running.checked_add(cost.global)?;
        let event = if paid { Event::Replay } else { Event::Charge };
        let mut entry = EntryBody::about(charge.dataset, charge.consumer, event, Outcome::Ok);
        entry.canonical_query = Some(r.canonical_query.into());
        entry.query_hash = Some(r.query_hash.into());
        entry.cost_micro = cost.consumer.to_i64()?;
        entry.consumer_spent_micro = Some(consumer_running.to_i64()?);
        entry.consumer_limit_micro = Some(consumer.limit.to_i64()?);
        entry.global_spent_micro = Some(global_running.to_i64()?);
        entry.data_version = Some(r.data_version);
        entry.data_fingerprint = Some(r.data_fingerprint.into());
        entry.idempotency_key = charge.idempotency.map(|i| i.key.to_owned());
        let seq = append_entry(db, entry, head).await?;
        receipts.push(Receipt::issue(
            release_body.clone(),
            cost.consumer,
            paid,
            decision.consumer_after,
            seq,
        ));
        stored.push((release_id, release_body));
    }
    Ok(receipts)
}

/// What the store holds of one release of a charge.
enum Found {
    New,
    Stored {
        id: i64,
        body: String,
        paid: bool,
    },
    /// Named earlier in the same charge, which pays for it once.
    SameAs(usize),
}

impl Found {
    fn known(&self) -> Known {
        match self {
            Found::New => Known::New,
            Found::Stored { paid: true, .. } | Found::SameAs(_) => Known::Paid,
            Found::Stored { paid: false, .. } => Known::Stored,
        }
    }
}
