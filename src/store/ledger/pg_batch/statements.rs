//! The batch's two statements on PostgreSQL: step 1, the one read under
//! the ledger lock of everything the batch's charges can ask about, into a
//! [`BatchState`]; step 3, the one write of what they did (a
//! data-modifying `WITH` per table), conditional on what step 1 read.

use super::{BatchState, Origin, Row, unread};
use crate::store::ledger::batch::{Job, Work};
use crate::store::{StoreError, now_rfc3339};

/// Checks that the parallel arrays of one aggregate have one length: a
/// difference means the statement and this code disagree, an error rather
/// than a guess.
fn same_length(lengths: &[usize]) -> Result<(), StoreError> {
    match lengths.split_first() {
        Some((n, rest)) if rest.iter().any(|m| m != n) => Err(misread()),
        _ => Ok(()),
    }
}

fn misread() -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(
        "the ledger batch's read returned arrays of different lengths".into(),
    ))
}

impl BatchState {
    /// Step 1: reads, under the ledger lock, everything `jobs` can ask about.
    pub(in crate::store::ledger) async fn read(
        conn: &mut sqlx::PgConnection,
        jobs: &[Job],
    ) -> Result<BatchState, StoreError> {
        let mut state = BatchState::default();
        let mut pair_keys = Vec::new();
        let mut pair_consumers = Vec::new();
        let mut budget_datasets = Vec::new();
        let mut budget_consumers = Vec::new();
        for job in jobs {
            let (dataset, consumer_id) = match &job.work {
                Work::Release(c) => {
                    for r in &c.releases {
                        if state
                            .asked_releases
                            .insert((r.release_key.clone(), c.consumer.id.clone()))
                        {
                            pair_keys.push(r.release_key.clone());
                            pair_consumers.push(c.consumer.id.clone());
                        }
                    }
                    (&c.dataset, &c.consumer.id)
                }
                Work::Refusal(entry) => (&entry.dataset, &entry.consumer_id),
                Work::Ping => continue,
            };
            let pair = (dataset.clone(), consumer_id.clone());
            if let std::collections::hash_map::Entry::Vacant(slot) = state.consumers.entry(pair) {
                slot.insert(None);
                budget_datasets.push(dataset.clone());
                budget_consumers.push(consumer_id.clone());
            }
        }
        // One statement, one row: the ledger head, the releases named (with
        // whether each consumer holds a receipt) and the budgets of every
        // (dataset, consumer), the last two as parallel arrays: one round
        // trip where a read per kind took two. An aggregate
        // without GROUP BY yields its row even when nothing matches (NULL
        // arrays), so the head always comes back.
        type ReadRow = (
            Option<i64>,
            Option<String>,
            Option<Vec<String>>,
            Option<Vec<String>>,
            Option<Vec<i64>>,
            Option<Vec<String>>,
            Option<Vec<bool>>,
            Option<Vec<String>>,
            Option<Vec<String>>,
            Option<Vec<Option<i64>>>,
            Option<Vec<Option<i64>>>,
            Option<Vec<i64>>,
            Option<Vec<i64>>,
            Option<Vec<Option<String>>>,
            Option<Vec<bool>>,
        );
        let (seq, hash, keys, payers, ids, bodies, paid, datasets, consumers, c_spent, c_limit, g_spent, g_limit, c_role, lost): ReadRow =
            sqlx::query_as(
                // LATERAL: one index lookup per release key. A plain join of
                // the array was planned as a scan of every stored release
                // (2.5 ms a batch at 1,600 batches, growing with the table).
                "SELECT h.seq, h.hash, r.keys, r.payers, r.ids, r.bodies, r.paid, \
                        b.datasets, b.consumers, b.c_spent, b.c_limit, b.g_spent, b.g_limit, b.c_role, b.lost \
                 FROM (SELECT array_agg(u.release_key) AS keys, array_agg(u.consumer_id) AS payers, \
                              array_agg(r.release_id) AS ids, array_agg(r.body) AS bodies, \
                              array_agg(EXISTS (SELECT 1 FROM release_receipts p \
                                                WHERE p.release_id = r.release_id \
                                                  AND p.consumer_id = u.consumer_id)) AS paid \
                       FROM unnest($1::text[], $2::text[]) AS u(release_key, consumer_id) \
                       CROSS JOIN LATERAL (SELECT release_id, body FROM releases \
                                           WHERE release_key = u.release_key) r) r \
                 CROSS JOIN (SELECT array_agg(u.dataset) AS datasets, array_agg(u.consumer_id) AS consumers, \
                                    array_agg(c.spent_micro) AS c_spent, array_agg(c.limit_micro) AS c_limit, \
                                    array_agg(g.spent_micro) AS g_spent, array_agg(g.limit_micro) AS g_limit, \
                                    array_agg(c.role) AS c_role, \
                                    array_agg(c.consumer_id IS NULL AND EXISTS \
                                        (SELECT 1 FROM ledger l WHERE l.dataset = u.dataset \
                                           AND l.consumer_id = u.consumer_id AND l.event <> 'refusal')) AS lost \
                             FROM unnest($3::text[], $4::text[]) AS u(dataset, consumer_id) \
                             JOIN global_budgets g ON g.dataset = u.dataset \
                             LEFT JOIN consumers c ON c.dataset = u.dataset AND c.consumer_id = u.consumer_id) b \
                 LEFT JOIN LATERAL (SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1) h ON true",
            )
            .bind(&pair_keys)
            .bind(&pair_consumers)
            .bind(&budget_datasets)
            .bind(&budget_consumers)
            .fetch_one(&mut *conn)
            .await?;
        if let (Some(seq), Some(hash)) = (seq, hash) {
            state.head = Some((seq, hash));
        }
        // No rows aggregated: NULL arrays.
        let (keys, payers, ids, bodies, paid) = (
            keys.unwrap_or_default(),
            payers.unwrap_or_default(),
            ids.unwrap_or_default(),
            bodies.unwrap_or_default(),
            paid.unwrap_or_default(),
        );
        same_length(&[
            keys.len(),
            payers.len(),
            ids.len(),
            bodies.len(),
            paid.len(),
        ])?;
        let releases = keys.into_iter().zip(payers).zip(ids).zip(bodies).zip(paid);
        for ((((key, consumer), id), body), paid) in releases {
            if paid {
                state.receipts.insert((id, consumer));
            }
            state.releases.insert(key, (id, body));
        }
        let (datasets, consumers, c_spent, c_limit, g_spent, g_limit, c_role, lost) = (
            datasets.unwrap_or_default(),
            consumers.unwrap_or_default(),
            c_spent.unwrap_or_default(),
            c_limit.unwrap_or_default(),
            g_spent.unwrap_or_default(),
            g_limit.unwrap_or_default(),
            c_role.unwrap_or_default(),
            lost.unwrap_or_default(),
        );
        same_length(&[
            datasets.len(),
            consumers.len(),
            c_spent.len(),
            c_limit.len(),
            g_spent.len(),
            g_limit.len(),
            c_role.len(),
            lost.len(),
        ])?;
        let budgets = datasets
            .into_iter()
            .zip(consumers)
            .zip(c_spent.into_iter().zip(c_limit))
            .zip(g_spent.into_iter().zip(g_limit))
            .zip(c_role.into_iter().zip(lost));
        for ((((dataset, consumer), (c_spent, c_limit)), (g_spent, g_limit)), (role, lost)) in
            budgets
        {
            let pair = (dataset.clone(), consumer.clone());
            if let Some(role) = role {
                state.roles.insert(pair.clone(), role);
            }
            if lost {
                state.lost.insert(pair);
            }
            if let (Some(spent), Some(limit)) = (c_spent, c_limit) {
                state
                    .consumers
                    .insert((dataset.clone(), consumer), Some(Row::stored(spent, limit)));
            }
            state
                .globals
                .entry(dataset)
                .or_insert(Row::stored(g_spent, g_limit));
        }
        Ok(state)
    }

    /// Step 3: writes what the charges did in one statement (a data-modifying
    /// `WITH` per table), and fails when a budget is not what step 1 read.
    pub(in crate::store::ledger) async fn write(
        self,
        conn: &mut sqlx::PgConnection,
    ) -> Result<(), StoreError> {
        let now = now_rfc3339();
        // Consumers created by the batch (dataset, id, role, limit, spent).
        type Created<'a> = (Vec<&'a str>, Vec<&'a str>, Vec<&'a str>, Vec<i64>, Vec<i64>);
        let mut created: Created<'_> = Default::default();
        // Consumers debited: (dataset, id, spent before, spent after).
        let mut debited: (Vec<&str>, Vec<&str>, Vec<i64>, Vec<i64>) = Default::default();
        for ((dataset, id), row) in &self.consumers {
            let Some(row) = row else { continue };
            if let Origin::Created { role } = row.origin {
                created.0.push(dataset);
                created.1.push(id);
                created.2.push(role);
                created.3.push(row.limit);
                created.4.push(row.spent);
            } else if let Some(before) = row.debited_from() {
                debited.0.push(dataset);
                debited.1.push(id);
                debited.2.push(before);
                debited.3.push(row.spent);
            }
        }
        let mut globals: (Vec<&str>, Vec<i64>, Vec<i64>) = Default::default();
        for (dataset, row) in &self.globals {
            if let Some(before) = row.debited_from() {
                globals.0.push(dataset);
                globals.1.push(before);
                globals.2.push(row.spent);
            }
        }
        macro_rules! column {
            ($rows:expr, $f:expr) => {
                $rows.iter().map($f).collect::<Vec<_>>()
            };
        }
        let releases = &self.new_releases;
        // A receipt names a release stored before by its id, and one of
        // this batch (a negative placeholder) by its key.
        let mut receipt_ids = Vec::with_capacity(self.new_receipts.len());
        let mut receipt_keys = Vec::with_capacity(self.new_receipts.len());
        for r in &self.new_receipts {
            if r.release_id < 0 {
                let key = usize::try_from(-r.release_id - 1)
                    .ok()
                    .and_then(|i| releases.get(i))
                    .map(|n| n.key.as_str())
                    .ok_or_else(|| unread("a release a receipt names"))?;
                receipt_ids.push(None);
                receipt_keys.push(Some(key));
            } else {
                receipt_ids.push(Some(r.release_id));
                receipt_keys.push(None);
            }
        }
        let entries = &self.entries;
        let (debits, global_debits): (i64, i64) = sqlx::query_as(
            "WITH new_consumers AS ( \
               INSERT INTO consumers (dataset, consumer_id, role, limit_micro, spent_micro, created_at) \
               SELECT u.*, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[]) AS u \
             ), debits AS ( \
               UPDATE consumers c SET spent_micro = u.after \
               FROM unnest($7::text[], $8::text[], $9::int8[], $10::int8[]) AS u(dataset, consumer_id, before, after) \
               WHERE c.dataset = u.dataset AND c.consumer_id = u.consumer_id \
                 AND c.spent_micro = u.before AND u.after <= c.limit_micro \
               RETURNING 1 \
             ), global_debits AS ( \
               UPDATE global_budgets g SET spent_micro = u.after \
               FROM unnest($11::text[], $12::int8[], $13::int8[]) AS u(dataset, before, after) \
               WHERE g.dataset = u.dataset AND g.spent_micro = u.before AND u.after <= g.limit_micro \
               RETURNING 1 \
             ), new_releases AS ( \
               INSERT INTO releases (dataset, release_key, canonical_query, data_version, cost_micro, body, created_at) \
               SELECT u.*, $6 FROM unnest($14::text[], $15::text[], $16::text[], $17::int8[], $18::int8[], $19::text[]) AS u \
               RETURNING release_key, release_id \
             ), new_receipts AS ( \
               INSERT INTO release_receipts (release_id, dataset, consumer_id, charged_micro, created_at) \
               SELECT coalesce(u.release_id, n.release_id), u.dataset, u.consumer_id, u.charged, $6 \
               FROM unnest($20::int8[], $21::text[], $22::text[], $23::text[], $24::int8[]) \
                 AS u(release_id, release_key, dataset, consumer_id, charged) \
               LEFT JOIN new_releases n ON n.release_key = u.release_key \
             ), new_entries AS ( \
               INSERT INTO ledger (seq, at, dataset, consumer_id, role, event, outcome, canonical_query, query_hash, \
                 cost_micro, consumer_spent_micro, consumer_limit_micro, global_spent_micro, data_version, \
                 idempotency_key, prev_hash, hash, data_fingerprint) \
               SELECT * FROM unnest($25::int8[], $26::text[], $27::text[], $28::text[], $29::text[], $30::text[], \
                 $31::text[], $32::text[], $33::text[], $34::int8[], $35::int8[], $36::int8[], $37::int8[], \
                 $38::int8[], $39::text[], $40::text[], $41::text[], $42::text[]) \
             ) \
             SELECT (SELECT count(*) FROM debits), (SELECT count(*) FROM global_debits)",
        )
        .bind(&created.0)
        .bind(&created.1)
        .bind(&created.2)
        .bind(&created.3)
        .bind(&created.4)
        .bind(&now)
        .bind(&debited.0)
        .bind(&debited.1)
        .bind(&debited.2)
        .bind(&debited.3)
        .bind(&globals.0)
        .bind(&globals.1)
        .bind(&globals.2)
        .bind(column!(releases, |r| r.dataset.as_str()))
        .bind(column!(releases, |r| r.key.as_str()))
        .bind(column!(releases, |r| r.canonical_query.as_str()))
        .bind(column!(releases, |r| r.data_version))
        .bind(column!(releases, |r| r.cost))
        .bind(column!(releases, |r| r.body.as_str()))
        .bind(&receipt_ids)
        .bind(&receipt_keys)
        .bind(column!(self.new_receipts, |r| r.dataset.as_str()))
        .bind(column!(self.new_receipts, |r| r.consumer_id.as_str()))
        .bind(column!(self.new_receipts, |r| r.charged))
        .bind(column!(entries, |(b, _, _)| b.seq))
        .bind(column!(entries, |(b, _, _)| b.at.as_str()))
        .bind(column!(entries, |(b, _, _)| b.dataset.as_str()))
        .bind(column!(entries, |(b, _, _)| b.consumer_id.as_str()))
        .bind(column!(entries, |(b, _, _)| b.role.code()))
        .bind(column!(entries, |(b, _, _)| b.event.code()))
        .bind(column!(entries, |(b, _, _)| b.outcome.as_str()))
        .bind(column!(entries, |(b, _, _)| b.canonical_query.as_deref()))
        .bind(column!(entries, |(b, _, _)| b.query_hash.as_deref()))
        .bind(column!(entries, |(b, _, _)| b.cost_micro))
        .bind(column!(entries, |(b, _, _)| b.consumer_spent_micro))
        .bind(column!(entries, |(b, _, _)| b.consumer_limit_micro))
        .bind(column!(entries, |(b, _, _)| b.global_spent_micro))
        .bind(column!(entries, |(b, _, _)| b.data_version))
        .bind(column!(entries, |(b, _, _)| b.idempotency_key.as_deref()))
        .bind(column!(entries, |(_, prev, _)| prev.as_str()))
        .bind(column!(entries, |(_, _, hash)| hash.as_str()))
        .bind(column!(entries, |(b, _, _)| b.data_fingerprint.as_deref()))
        .fetch_one(&mut *conn)
        .await?;
        changed_behind_the_lock(debits, debited.0.len(), "consumers' budgets")?;
        changed_behind_the_lock(global_debits, globals.0.len(), "global budget")?;
        Ok(())
    }
}

fn changed_behind_the_lock(rows: i64, expected: usize, what: &str) -> Result<(), StoreError> {
    if usize::try_from(rows).ok() == Some(expected) {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "the {what} changed while the ledger was locked"
        )))
    }
}
