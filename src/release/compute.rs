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
/// 1. a body this process already released is taken from memory;
/// 2. otherwise one read-only statement fetches both budgets and whatever
///    the store holds of these releases; a stored body is used as it is;
/// 3. releases found nowhere are computed, but only once the budgets are
///    seen to afford the whole request (the charge's own decision,
///    [`crate::budget::decide`]). If they cannot, the request is refused
///    here and no case is read.
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
    let cached: Vec<Option<Arc<str>>> = keys.iter().map(|k| pipeline.releases.get(k)).collect();
    if cached.iter().all(Option::is_some) {
        return Ok(cached
            .into_iter()
            .flatten()
            .map(|b| b.to_string())
            .collect());
    }
    let policy = &pipeline.policy;
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let outlook = pipeline
        .store
        .outlook(&policy.dataset, &consumer.id, &key_refs)
        .await?;
    let mut bodies: Vec<Option<String>> = cached
        .into_iter()
        .zip(&outlook.releases)
        .map(|(c, known)| {
            c.map(|b| b.to_string())
                .or_else(|| known.as_ref().map(|k| k.body.clone()))
        })
        .collect();
    if bodies.iter().any(Option::is_none) {
        let costs: Vec<_> = plans.iter().map(|p| p.cost).collect();
        outlook
            .decide(&costs, policy.role_budget(consumer.role))
            .map_err(|e| charge_error(policy, e.into(), false))?;
        for (body, plan) in bodies.iter_mut().zip(plans) {
            if body.is_none() {
                let computed = compute_release(pipeline, plan, data)?;
                *body = Some(
                    serde_json::to_string(&computed)
                        .map_err(|e| ReleaseError::internal("storing a release body", e))?,
                );
            }
        }
    }
    bodies
        .into_iter()
        .map(|b| b.ok_or_else(|| ReleaseError::Internal(Cause::bare("a release without its body"))))
        .collect()
}
