//! The data a request reads and the noisy bodies of its releases: taken
//! from memory or the store when they exist, computed (counted, noised,
//! suppressed) only once the budgets are seen to afford the request.

use super::error::{Cause, ReleaseError};
use super::plan::{Plan, post_process, privacy_err};
use super::{Pipeline, charge_error};
use crate::domain::{Consumer, DataFingerprint};
use crate::engine::Snapshot;
use crate::privacy::{self, Cell};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A release as stored: its cells as published (`null` for a suppressed
/// cell) and the noisy counts they were made from. Only noisy values ever
/// enter this type. The noisy counts are never sent: they are what
/// post-processing across tables (consistent reports) starts from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredRelease {
    pub cells: Vec<Option<i64>>,
    /// Before suppression, clamping and rounding; absent in releases stored
    /// before consistent reports existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noisy: Option<Vec<i64>>,
}

/// The published cells of a stored body, without its noisy counts: what a
/// single release's answer needs (serde skips the rest unbuilt).
#[derive(Deserialize)]
struct PublishedCells {
    cells: Vec<Option<i64>>,
}

impl StoredRelease {
    /// The published cells of a body as stored, in the request's dimension
    /// order; the noisy counts are skipped, not read.
    pub fn read_cells(body: &str, plan: &Plan) -> Result<Vec<Option<i64>>, serde_json::Error> {
        let stored: PublishedCells = serde_json::from_str(body)?;
        Ok(plan.query.cells_in_request_order(&stored.cells))
    }

    /// A body as stored, with its cells in the request's dimension order.
    /// A body that does not read back is an error, never an empty answer.
    pub fn read(body: &str, plan: &Plan) -> Result<StoredRelease, serde_json::Error> {
        let stored: StoredRelease = serde_json::from_str(body)?;
        Ok(StoredRelease {
            cells: plan.query.cells_in_request_order(&stored.cells),
            noisy: stored.noisy.map(|n| plan.query.cells_in_request_order(&n)),
        })
    }
}

/// The data one request reads: a snapshot and its publishable fingerprint.
/// Taken once per request, so every release of the request (a report's
/// tables) is keyed on, and computed from, the same data.
pub struct DataView {
    snapshot: Arc<Snapshot>,
    fingerprint: DataFingerprint,
}

impl DataView {
    /// The current snapshot of `pipeline`.
    pub fn current(pipeline: &Pipeline) -> DataView {
        let snapshot = pipeline.snapshots.current();
        let fingerprint = pipeline.noise_key.fingerprint(snapshot.identity());
        DataView {
            snapshot,
            fingerprint,
        }
    }

    pub fn version(&self) -> i64 {
        self.snapshot.data_version()
    }

    pub fn fingerprint(&self) -> &DataFingerprint {
        &self.fingerprint
    }

    /// The key of the release `plan` asks for on this data: equal for
    /// identical answers (see [`crate::domain::data::release_key`]).
    pub fn release_key(&self, plan: &Plan) -> String {
        crate::domain::data::release_key(&plan.canonical, self.version(), Some(&self.fingerprint))
    }
}

/// Counts, adds keyed noise, suppresses and post-processes: the noisy release.
/// True counts exist only inside this function.
fn compute_release(
    pipeline: &Pipeline,
    plan: &Plan,
    data: &DataView,
) -> Result<StoredRelease, ReleaseError> {
    let policy = &pipeline.policy;
    let snapshot = &data.snapshot;
    let true_counts = snapshot
        .count(&plan.query.group_by(), &plan.query.engine_filters())
        .map_err(|e| ReleaseError::internal("counting on the snapshot", e))?;
    let mut rng = privacy::keyed_rng(
        &pipeline.noise_key,
        &policy.dataset,
        plan.canonical.as_bytes(),
        snapshot.identity(),
    );
    let noisy = plan
        .mechanism
        .noise_counts(&true_counts, &mut rng)
        .map_err(privacy_err)?;
    drop(true_counts);
    let post = post_process(policy);
    let raw = noisy.iter().map(|n| n.value()).collect();
    let cells = noisy
        .into_iter()
        .map(|n| match privacy::release_cell(n, policy.k, &post) {
            Cell::Released(v) => Some(v),
            Cell::Suppressed => None,
        })
        .collect();
    Ok(StoredRelease {
        cells,
        noisy: Some(raw),
    })
}

/// The noisy bodies of the releases `plans` ask for on `data` (keys in
/// `keys`), reading case data only when it must:
/// 1. one read-only statement fetches both budgets and whatever the store
///    holds of these releases, for every request, so that a refusal costs
///    the same work whether or not the release was made before;
/// 2. the request is refused here, before any case is read, if the budgets
///    cannot afford it (the charge's own decision, [`crate::budget::decide`]);
/// 3. a body this process already released is taken from memory, else a
///    stored body is used as it is, else the release is computed.
///
/// A consumer paying for a release someone else made waits for it as if it
/// were new: it is computed again and the copy dropped, so the time to the
/// answer does not say whether another consumer asked first (the residual
/// difference is measured in `docs/benchmarks.md`). A consumer's own free
/// repeats are served without counting.
///
/// Nothing is charged; the atomic charge that follows decides again (and
/// may still refuse in a race).
pub(super) async fn release_bodies(
    pipeline: &Pipeline,
    consumer: &Consumer,
    data: &DataView,
    plans: &[&Plan],
    keys: &[String],
) -> Result<Vec<String>, ReleaseError> {
    let policy = &pipeline.policy;
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let outlook = pipeline
        .store
        .outlook(&policy.dataset, &consumer.id, &key_refs)
        .await?;
    let costs: Vec<_> = plans.iter().map(|p| p.cost).collect();
    outlook
        .decide(&costs, policy.role_budget(consumer.role))
        .map_err(|e| charge_error(policy, e.into(), false))?;
    let mut bodies = Vec::with_capacity(keys.len());
    for ((key, plan), known) in keys.iter().zip(plans).zip(&outlook.releases) {
        let paid_by_me = known.as_ref().is_some_and(|k| k.paid);
        let known_body = pipeline
            .releases
            .get(key)
            .map(|b| b.to_string())
            .or_else(|| known.as_ref().map(|k| k.body.clone()));
        let body = match known_body {
            Some(body) if paid_by_me => body,
            Some(body) => {
                // Someone else's release: the same work as a new one.
                let copy = compute_release(pipeline, plan, data)?;
                std::hint::black_box(
                    serde_json::to_string(&copy)
                        .map_err(|e| ReleaseError::internal("storing a release body", e))?,
                );
                body
            }
            None => serde_json::to_string(&compute_release(pipeline, plan, data)?)
                .map_err(|e| ReleaseError::internal("storing a release body", e))?,
        };
        bodies.push(Some(body));
    }
    bodies
        .into_iter()
        .map(|b| b.ok_or_else(|| ReleaseError::Internal(Cause::bare("a release without its body"))))
        .collect()
}
