//! The release pipeline, top to bottom. Read this first.
//!
//! ```text
//! authenticate (extractor) -> rate limit -> validate query (policy, no data)
//!   -> idempotency check -> resolve cost (epsilon, or accuracy on the policy grid)
//!   -> release already made? (memory, then store) -> else: budgets afford it? (read-only)
//!        -> count on the snapshot -> add keyed noise -> suppress on noisy values -> post-process
//!   -> charge consumer + global budget, store release, append ledger entry (one transaction)
//!   -> respond (only with the Receipt the transaction produced)
//! ```
//!
//! Noise is keyed on (server secret, canonical query, data identity: the
//! store, its data version and a digest of the content), so the same release
//! computed twice is identical; a repeat is served from the stored release
//! and costs a consumer nothing if it already paid. Refusals after
//! authentication are written to the ledger and charge nothing.
//!
//! No case is read before the budgets are seen to afford the request: a
//! release already made is taken from memory or the store, never recounted,
//! and a new one is counted only after a read-only look at both budgets
//! ([`release_bodies`]). A refused request therefore does no data-dependent
//! work, and its timing cannot depend on the data.

use crate::budget::Committer;
use crate::budget::{
    BudgetState, ChargeError, ChargeRequest, Idempotency, Receipt, Refusal, entry_for,
};
use crate::cache::ReleaseCache;
use crate::domain::Consumer;
use crate::domain::DataFingerprint;
use crate::domain::budget::{Epsilon, Rho};
use crate::engine::{Snapshot, SnapshotCell};
use crate::policy::{Accounting, Policy, PrivacyUnit};
use crate::privacy::NoiseKey;
use crate::privacy::{self, Cell, Confidence, CountMechanism, DimShape, PostProcess, PrivacyError};
use crate::query::{CostChoice, CountQuery, CountRequest, sha256_hex};
use crate::rate::RateLimiter;
use crate::release_error::ReleaseError;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;
use std::sync::Arc;

/// What the release pipeline works with. The composition root (`startup`)
/// builds one; the pipeline sees nothing else of the application, so it can
/// be driven without a web server.
pub struct Pipeline {
    pub policy: Arc<Policy>,
    pub store: Store,
    /// Commits charges and refusals of concurrent requests together (group commit).
    pub committer: Committer,
    /// Bodies released by this process, so repeats skip the store and the count.
    pub releases: ReleaseCache,
    pub snapshots: Arc<SnapshotCell>,
    pub noise_key: NoiseKey,
    pub rate: RateLimiter,
}

/// Response formats of a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// A finished response: status, media type and the exact bytes to send.
#[derive(Debug, Clone)]
pub struct Released {
    pub content_type: String,
    pub body: Vec<u8>,
    pub replayed: bool,
}

/// The noisy cells of a release as stored: `null` for a suppressed cell.
/// Only noisy, post-processed values ever enter this type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredRelease {
    pub cells: Vec<Option<i64>>,
}

/// The dimension values of one cell, serialised as a JSON object
/// `{dimension: value}` with dimensions in alphabetical order. Cells share
/// the strings: a response of many cells allocates one small vector each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellKey(Vec<(Arc<str>, Arc<str>)>);

impl Serialize for CellKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (dimension, value) in &self.0 {
            map.serialize_entry(&**dimension, &**value)?;
        }
        map.end()
    }
}

impl CellKey {
    /// The keys of every cell of `query`, row-major in dimension order (the
    /// engine's order, as [`cell_keys`]).
    pub fn all(query: &CountQuery) -> Vec<CellKey> {
        let dims: Vec<(Arc<str>, Vec<Arc<str>>)> = query
            .dimensions
            .iter()
            .map(|d| {
                let values = d.values.iter().map(|v| Arc::from(v.as_str())).collect();
                (Arc::from(d.name.as_str()), values)
            })
            .collect();
        let mut order: Vec<usize> = (0..dims.len()).collect();
        order.sort_by(|&a, &b| dims[a].0.cmp(&dims[b].0));
        cell_positions(query)
            .map(|positions| {
                CellKey(
                    order
                        .iter()
                        .map(|&d| (Arc::clone(&dims[d].0), Arc::clone(&dims[d].1[positions[d]])))
                        .collect(),
                )
            })
            .collect()
    }
}

/// For every cell, row-major, the position of its value in each dimension.
fn cell_positions(query: &CountQuery) -> impl Iterator<Item = Vec<usize>> + '_ {
    let sizes: Vec<usize> = query.dimensions.iter().map(|d| d.values.len()).collect();
    let cells: usize = sizes.iter().product();
    (0..cells).map(move |mut i| {
        let mut positions = vec![0; sizes.len()];
        for (d, &n) in sizes.iter().enumerate().rev() {
            positions[d] = i % n;
            i /= n;
        }
        positions
    })
}

/// One cell of a count response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CellOut {
    /// The cell's value of each requested dimension.
    #[schema(value_type = Object, example = json!({"gender": "woman", "age_broad": "18-20"}))]
    pub key: CellKey,
    /// Noisy count, or null when suppressed.
    pub count: Option<i64>,
    /// True when the noisy count was below k; no number is shown.
    pub suppressed: bool,
    /// With probability `confidence`, |count - true count| <= margin_of_error (rounding included).
    pub margin_of_error: u64,
}

/// The caller's budget after the request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BudgetView {
    /// `epsilon` (pure DP) or `rho` (zCDP).
    pub unit: &'static str,
    pub spent: f64,
    pub limit: f64,
    pub remaining: f64,
    /// zCDP only: what spent and limit mean as (epsilon, delta)-DP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approx_dp: Option<BudgetApproxDp>,
}

/// A zCDP budget read as (ε, δ)-DP at the policy's δ: `ε = ρ + 2·sqrt(ρ·ln(1/δ))`.
/// For citing only; budgets are kept and charged in ρ.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BudgetApproxDp {
    pub delta: f64,
    pub spent_epsilon: f64,
    pub limit_epsilon: f64,
}

/// A zCDP cost read as (ε, δ)-DP at the policy's δ (for citing only).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApproxDp {
    pub delta: f64,
    pub epsilon: f64,
}

/// The (ε, δ) reading of `micro` ρ under a zCDP policy; `None` under pure DP.
pub fn approx_dp(policy: &Policy, micro: u64) -> Option<ApproxDp> {
    approx_epsilon(policy, micro).map(|epsilon| ApproxDp {
        delta: policy.delta,
        epsilon,
    })
}

fn approx_epsilon(policy: &Policy, micro: u64) -> Option<f64> {
    match policy.accounting {
        Accounting::Pure => None,
        Accounting::Zcdp => {
            crate::domain::budget::zcdp_to_approx_dp(Rho::from_micro(micro), policy.delta)
        }
    }
}

/// How the noise was made.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MechanismView {
    /// `discrete_laplace` or `discrete_gaussian`.
    pub name: &'static str,
    /// Laplace scale b = sensitivity / epsilon, or Gaussian sigma squared, as an exact fraction.
    pub scale: String,
    /// L1 sensitivity (Laplace) or squared L2 sensitivity (Gaussian) of the query.
    pub sensitivity: u64,
}

/// Answer of `POST /v1/counts`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CountResponse {
    pub dataset: String,
    /// SHA-256 of the canonical query: equal for equal questions.
    pub query_id: String,
    /// SHA-256 of the canonical query and the data version: equal for identical answers.
    pub release_id: String,
    pub data_version: i64,
    pub dimensions: Vec<String>,
    pub cells: Vec<CellOut>,
    /// Cost of this release, in `budget.unit` per unit of privacy.
    pub cost: f64,
    /// zCDP only: the cost read as (epsilon, delta)-DP at the policy's delta.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_approx_dp: Option<ApproxDp>,
    /// Whose privacy the cost is per: `person` (with all of their cases) or `case` (one record).
    pub unit_of_privacy: PrivacyUnit,
    /// What this request charged you (0 for a repeat you already paid for).
    pub charged: f64,
    pub repeat: bool,
    pub mechanism: MechanismView,
    pub confidence: f64,
    /// Cells whose noisy count is below k are suppressed.
    pub k: u64,
    pub clamp_negative: bool,
    pub round_to: u64,
    pub budget: BudgetView,
    /// Position of this request's entry in the audit ledger.
    pub ledger_seq: i64,
    pub notes: Vec<String>,
}

/// Answer of `POST /v1/counts/estimate`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EstimateResponse {
    pub dataset: String,
    pub query_id: String,
    /// What the release costs.
    pub cost: f64,
    /// zCDP only: the cost read as (epsilon, delta)-DP at the policy's delta.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_approx_dp: Option<ApproxDp>,
    /// Whose privacy the cost is per: `person` or `case`.
    pub unit_of_privacy: PrivacyUnit,
    /// What you would be charged now (0 if you already paid for this release).
    pub would_charge: f64,
    pub unit: &'static str,
    pub cells: usize,
    pub mechanism: MechanismView,
    pub margin_of_error: u64,
    pub confidence: f64,
    pub k: u64,
    pub affordable: bool,
    pub global_affordable: bool,
    pub budget: BudgetView,
}

/// A query with its cost resolved and its mechanism built.
pub struct Plan {
    pub query: CountQuery,
    pub cost_micro: u64,
    pub mechanism: CountMechanism,
    pub sensitivity: u64,
    pub margin: u64,
    pub canonical: String,
    pub query_id: String,
}

fn privacy_err(e: PrivacyError) -> ReleaseError {
    match e {
        PrivacyError::Entropy(_) => ReleaseError::EntropyUnavailable,
        other => ReleaseError::Internal(other.to_string()),
    }
}

/// Micro-units as the decimal amount shown to people.
pub fn micro_to_f64(m: u64) -> f64 {
    m as f64 / 1e6
}

/// The post-processing of the policy.
pub fn post_process(policy: &Policy) -> PostProcess {
    PostProcess {
        clamp_at_zero: policy.output.clamp_negative,
        round_to: u32::try_from(policy.output.round_to)
            .ok()
            .filter(|&b| b > 1)
            .and_then(NonZeroU32::new),
    }
}

/// Resolves cost, sensitivity, mechanism and margin of a validated query.
pub fn plan(policy: &Policy, query: CountQuery) -> Result<Plan, ReleaseError> {
    let shapes: Vec<DimShape> = query
        .dimensions
        .iter()
        .map(|d| match d.field.kind() {
            crate::domain::FieldKind::Single => DimShape::SingleValued,
            crate::domain::FieldKind::Multi => DimShape::MultiValued {
                max_values_per_case: d.max_values_per_case,
            },
        })
        .collect();
    let confidence = Confidence::new(query.confidence).map_err(|_| {
        ReleaseError::InvalidQuery("confidence must lie strictly between 0.5 and 1".into())
    })?;
    let c = &policy.cost;
    let (mechanism, sensitivity) = match policy.accounting {
        Accounting::Pure => {
            let l1 = privacy::l1_sensitivity(&shapes, policy.max_cases_per_person)
                .map_err(privacy_err)?;
            let eps = match query.cost {
                CostChoice::Fixed(m) => Epsilon::from_micro(m),
                CostChoice::Accuracy(a) => {
                    let conf = Confidence::new(a.confidence).map_err(|_| {
                        ReleaseError::InvalidQuery(
                            "accuracy.confidence must lie strictly between 0.5 and 1".into(),
                        )
                    })?;
                    let found = privacy::epsilon_for_margin(
                        a.margin.saturating_sub(policy.output.round_to / 2),
                        conf,
                        l1,
                        Epsilon::from_micro(c.grid_micro),
                        Epsilon::from_micro(c.min_micro),
                        Epsilon::from_micro(c.max_micro),
                    )
                    .map_err(privacy_err)?;
                    match found {
                        Some(e) => e,
                        None => {
                            let best = CountMechanism::discrete_laplace(
                                Epsilon::from_micro(c.max_micro),
                                l1,
                            )
                            .and_then(|m| m.margin_of_error(conf))
                            .map_err(privacy_err)?;
                            return Err(ReleaseError::AccuracyUnreachable {
                                margin: a.margin,
                                best_margin: best + policy.output.round_to / 2,
                            });
                        }
                    }
                }
            };
            (
                CountMechanism::discrete_laplace(eps, l1).map_err(privacy_err)?,
                l1,
            )
        }
        Accounting::Zcdp => {
            let l2sq = privacy::l2_sensitivity_squared(&shapes, policy.max_cases_per_person)
                .map_err(privacy_err)?;
            let rho = match query.cost {
                CostChoice::Fixed(m) => Rho::from_micro(m),
                CostChoice::Accuracy(a) => {
                    let conf = Confidence::new(a.confidence).map_err(|_| {
                        ReleaseError::InvalidQuery(
                            "accuracy.confidence must lie strictly between 0.5 and 1".into(),
                        )
                    })?;
                    let found = privacy::rho_for_margin(
                        a.margin.saturating_sub(policy.output.round_to / 2),
                        conf,
                        l2sq,
                        Rho::from_micro(c.grid_micro),
                        Rho::from_micro(c.min_micro),
                        Rho::from_micro(c.max_micro),
                    )
                    .map_err(privacy_err)?;
                    match found {
                        Some(r) => r,
                        None => {
                            let best = CountMechanism::discrete_gaussian(
                                Rho::from_micro(c.max_micro),
                                l2sq,
                            )
                            .and_then(|m| m.margin_of_error(conf))
                            .map_err(privacy_err)?;
                            return Err(ReleaseError::AccuracyUnreachable {
                                margin: a.margin,
                                best_margin: best + policy.output.round_to / 2,
                            });
                        }
                    }
                }
            };
            (
                CountMechanism::discrete_gaussian(rho, l2sq).map_err(privacy_err)?,
                l2sq,
            )
        }
    };
    let cost_micro = match mechanism.cost() {
        privacy::PrivacyCost::Epsilon(e) => e.micro(),
        privacy::PrivacyCost::Rho(r) => r.micro(),
    };
    // Rounding moves a value by at most half the base; the margin includes it.
    let margin =
        mechanism.margin_of_error(confidence).map_err(privacy_err)? + policy.output.round_to / 2;
    let canonical = query.canonical(policy, cost_micro);
    let query_id = sha256_hex(canonical.as_bytes());
    Ok(Plan {
        query,
        cost_micro,
        mechanism,
        sensitivity,
        margin,
        canonical,
        query_id,
    })
}

/// How the noise of a release was made, for a response.
pub fn mechanism_view(m: &CountMechanism, sensitivity: u64) -> MechanismView {
    MechanismView {
        name: match m {
            CountMechanism::DiscreteLaplace(_) => "discrete_laplace",
            CountMechanism::DiscreteGaussian(_) => "discrete_gaussian",
        },
        scale: match m.scale() {
            privacy::NoiseScale::Laplace { scale } => scale.to_string(),
            privacy::NoiseScale::Gaussian { sigma_squared } => sigma_squared.to_string(),
        },
        sensitivity,
    }
}

/// A consumer's budget, for a response.
pub fn budget_view(policy: &Policy, spent: u64, limit: u64) -> BudgetView {
    BudgetView {
        unit: policy.budget_unit(),
        spent: micro_to_f64(spent),
        limit: micro_to_f64(limit),
        remaining: micro_to_f64(limit.saturating_sub(spent)),
        approx_dp: match (approx_epsilon(policy, spent), approx_epsilon(policy, limit)) {
            (Some(spent_epsilon), Some(limit_epsilon)) => Some(BudgetApproxDp {
                delta: policy.delta,
                spent_epsilon,
                limit_epsilon,
            }),
            _ => None,
        },
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
        .map_err(|e| ReleaseError::Internal(e.to_string()))?;
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
    let cells = noisy
        .into_iter()
        .map(|n| match privacy::release_cell(n, policy.k, &post) {
            Cell::Released(v) => Some(v),
            Cell::Suppressed => None,
        })
        .collect();
    Ok(StoredRelease { cells })
}

/// The noisy bodies of the releases `plans` ask for on `data` (keys in
/// `keys`), reading case data only when it must:
/// 1. a body this process already released is taken from memory;
/// 2. otherwise one read-only statement fetches both budgets and whatever
///    the store holds of these releases; a stored body is used as it is;
/// 3. releases found nowhere are computed, but only once the budgets are
///    seen to afford the whole request (by the rules of the charge). If they
///    cannot, the request is refused here and no case is read.
///
/// Nothing is charged; the atomic charge that follows decides again (and
/// may still refuse in a race).
pub async fn release_bodies(
    pipeline: &Pipeline,
    consumer: &Consumer,
    data: &DataView,
    plans: &[&Plan],
    keys: &[&str],
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
    let outlook = pipeline
        .store
        .outlook(&policy.dataset, &consumer.id, keys)
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
        let costs: Vec<u64> = plans.iter().map(|p| p.cost_micro).collect();
        let new_limit = policy.role_budget_micro(consumer.role);
        if let Some(refusal) = outlook.refusal(&costs, new_limit) {
            let requested = outlook.totals(&costs).0;
            return Err(charge_error(
                ChargeError::Refused(refusal),
                requested,
                policy.budget_unit(),
            ));
        }
        for (body, plan) in bodies.iter_mut().zip(plans) {
            if body.is_none() {
                let computed = compute_release(pipeline, plan, data)?;
                *body = Some(
                    serde_json::to_string(&computed)
                        .map_err(|e| ReleaseError::Internal(e.to_string()))?,
                );
            }
        }
    }
    Ok(bodies.into_iter().flatten().collect())
}

/// Keys of every cell, row-major in dimension order (the engine's order).
pub fn cell_keys(query: &CountQuery) -> Vec<Vec<&str>> {
    let mut keys: Vec<Vec<&str>> = vec![Vec::new()];
    for d in &query.dimensions {
        keys = keys
            .iter()
            .flat_map(|k| {
                d.values.iter().map(move |v| {
                    let mut k = k.clone();
                    k.push(v.as_str());
                    k
                })
            })
            .collect();
    }
    keys
}

/// Builds the response body; needs the receipt, so it only runs after the charge.
fn render(
    pipeline: &Pipeline,
    plan: &Plan,
    data_version: i64,
    release_id: &str,
    receipt: &Receipt,
    format: Format,
) -> Vec<u8> {
    let policy = &pipeline.policy;
    let stored: StoredRelease =
        serde_json::from_str(&receipt.release_body).unwrap_or(StoredRelease { cells: Vec::new() });
    let stored = StoredRelease {
        cells: plan.query.cells_in_request_order(&stored.cells),
    };
    let names: Vec<&str> = plan
        .query
        .dimensions
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    match format {
        Format::Csv => {
            let keys = cell_keys(&plan.query);
            let mut w = csv::Writer::from_writer(Vec::new());
            let mut header: Vec<&str> = names.clone();
            header.extend(["count", "suppressed", "margin_of_error"]);
            let _ = w.write_record(&header);
            for (key, cell) in keys.iter().zip(&stored.cells) {
                let mut row: Vec<String> = key.iter().map(|s| s.to_string()).collect();
                row.push(cell.map(|v| v.to_string()).unwrap_or_default());
                row.push(cell.is_none().to_string());
                row.push(plan.margin.to_string());
                let _ = w.write_record(&row);
            }
            w.into_inner().unwrap_or_default()
        }
        Format::Json => {
            let cells = CellKey::all(&plan.query)
                .into_iter()
                .zip(&stored.cells)
                .map(|(key, cell)| CellOut {
                    key,
                    count: *cell,
                    suppressed: cell.is_none(),
                    margin_of_error: plan.margin,
                })
                .collect();
            let mut notes = vec![
                "counts are noisy; cells whose noisy count is below k are suppressed".to_string(),
            ];
            if policy.output.round_to > 1 {
                notes.push(format!(
                    "counts are rounded to multiples of {}; totals are not additive",
                    policy.output.round_to
                ));
            }
            let resp = CountResponse {
                dataset: policy.dataset.clone(),
                query_id: plan.query_id.clone(),
                release_id: release_id.to_owned(),
                data_version,
                dimensions: names.iter().map(|s| s.to_string()).collect(),
                cells,
                cost: micro_to_f64(plan.cost_micro),
                cost_approx_dp: approx_dp(policy, plan.cost_micro),
                unit_of_privacy: policy.unit,
                charged: micro_to_f64(receipt.charged_micro),
                repeat: receipt.replay,
                mechanism: mechanism_view(&plan.mechanism, plan.sensitivity),
                confidence: plan.query.confidence,
                k: policy.k,
                clamp_negative: policy.output.clamp_negative,
                round_to: policy.output.round_to,
                budget: budget_view(policy, receipt.spent_micro, receipt.limit_micro),
                ledger_seq: receipt.ledger_seq,
                notes,
            };
            serde_json::to_vec(&resp).unwrap_or_default()
        }
    }
}

/// Parses the body of a count request; a refusal is ledgered by the caller.
pub fn parse_request(body: &[u8]) -> Result<CountRequest, ReleaseError> {
    serde_json::from_slice(body)
        .map_err(|e| ReleaseError::InvalidBody(format!("invalid JSON body: {e}")))
}

/// Writes a refusal that happened after authentication to the ledger.
/// `code` is the refusal's stable error code.
pub async fn ledger_refusal(
    pipeline: &Pipeline,
    consumer: &Consumer,
    code: &str,
    query: Option<(&str, &str)>,
) {
    let mut entry = entry_for(
        &pipeline.policy.dataset,
        consumer,
        crate::audit::chain::event::REFUSAL,
        code,
    );
    if let Some((canonical, hash)) = query {
        entry.canonical_query = Some(canonical.into());
        entry.query_hash = Some(hash.into());
    }
    if let Err(e) = pipeline.committer.record_refusal(entry).await {
        tracing::error!(error = %e, "could not ledger a refusal");
    }
}

/// `POST /v1/counts`: the whole pipeline.
pub async fn release_counts(
    pipeline: &Pipeline,
    consumer: &Consumer,
    body: &[u8],
    idempotency_key: Option<&str>,
    format: Format,
) -> Result<Released, ReleaseError> {
    pipeline.rate.check(&consumer.id)?;
    let result = release_counts_inner(pipeline, consumer, body, idempotency_key, format).await;
    ledger_if_refused(pipeline, consumer, result).await
}

/// A refusal, with the canonical query and its hash when the request got
/// that far (the ledger entry names them).
pub type Refused = (ReleaseError, Option<(String, String)>);

/// Writes a refusal that happened after authentication to the ledger (not
/// internal failures: nothing about the request was decided), and hands the
/// result on.
pub async fn ledger_if_refused<T>(
    pipeline: &Pipeline,
    consumer: &Consumer,
    result: Result<T, Refused>,
) -> Result<T, ReleaseError> {
    if let Err((err, query)) = &result
        && !err.is_internal()
    {
        ledger_refusal(
            pipeline,
            consumer,
            err.code(),
            query.as_ref().map(|(c, h)| (c.as_str(), h.as_str())),
        )
        .await;
    }
    result.map_err(|(e, _)| e)
}

async fn release_counts_inner(
    pipeline: &Pipeline,
    consumer: &Consumer,
    body: &[u8],
    idempotency_key: Option<&str>,
    format: Format,
) -> Result<Released, Refused> {
    let policy = &pipeline.policy;
    // 1. Validate: policy only, no data.
    let request = parse_request(body).map_err(|e| (e, None))?;
    let query = CountQuery::parse(policy, consumer, &request).map_err(|e| (e, None))?;
    let plan = plan(policy, query).map_err(|e| (e, None))?;
    let with_query = |e: ReleaseError| (e, Some((plan.canonical.clone(), plan.query_id.clone())));

    // 2. Idempotency: a retry gets the stored bytes; a reused key with another body is refused.
    let request_hash = sha256_hex(&[body, format.content_type().as_bytes()].concat());
    if let Some(key) = idempotency_key
        && let Some(stored) = pipeline
            .store
            .find_idempotent(&consumer.id, key)
            .await
            .map_err(|e| (e.into(), None))?
    {
        if stored.request_hash != request_hash {
            return Err(with_query(ReleaseError::IdempotencyKeyReused));
        }
        let mut entry = entry_for(
            &policy.dataset,
            consumer,
            crate::audit::chain::event::REPLAY,
            "idempotent_replay",
        );
        entry.canonical_query = Some(plan.canonical.clone());
        entry.query_hash = Some(plan.query_id.clone());
        entry.idempotency_key = Some(key.to_owned());
        pipeline
            .store
            .record_replay(entry)
            .await
            .map_err(|e| (e.into(), None))?;
        return Ok(Released {
            content_type: stored.content_type,
            body: stored.body,
            replayed: true,
        });
    }

    // 3. One snapshot for the whole release; its identity keys the noise.
    let data = DataView::current(pipeline);
    let data_version = data.version();
    let release_id = data.release_key(&plan);

    // 4. The noisy release: already made (memory or store), or computed now
    //    if the budgets can pay for it; deterministic either way, and a
    //    stored body wins at the charge.
    let release_body = release_bodies(pipeline, consumer, &data, &[&plan], &[&release_id])
        .await
        .map_err(with_query)?
        .pop()
        .ok_or_else(|| with_query(ReleaseError::Internal("a release without its body".into())))?;

    // 5. Charge, store, ledger: one transaction. Only then is there a receipt to render.
    let charge = ChargeRequest {
        dataset: &policy.dataset,
        consumer,
        new_consumer_limit_micro: policy.role_budget_micro(consumer.role),
        release_key: &release_id,
        canonical_query: &plan.canonical,
        query_hash: &plan.query_id,
        data_version,
        data_fingerprint: data.fingerprint().as_str(),
        cost_micro: plan.cost_micro,
        idempotency: idempotency_key.map(|key| Idempotency {
            key,
            request_hash: &request_hash,
            content_type: format.content_type(),
        }),
    };
    let unit = policy.budget_unit();
    match pipeline
        .committer
        .commit_release(&charge, &release_body, |receipt| {
            render(pipeline, &plan, data_version, &release_id, receipt, format)
        })
        .await
    {
        Ok((receipt, bytes)) => {
            pipeline.releases.insert(&release_id, &receipt.release_body);
            tracing::info!(
                consumer = %consumer.id,
                query_id = %plan.query_id,
                charged_micro = receipt.charged_micro,
                repeat = receipt.replay,
                ledger_seq = receipt.ledger_seq,
                "release"
            );
            Ok(Released {
                content_type: format.content_type().into(),
                body: bytes,
                replayed: false,
            })
        }
        Err(ChargeError::Refused(Refusal::Consumer { remaining_micro })) => {
            Err(with_query(ReleaseError::BudgetExhausted {
                remaining: micro_to_f64(remaining_micro),
                requested: micro_to_f64(plan.cost_micro),
                unit,
            }))
        }
        Err(ChargeError::Refused(Refusal::Global)) => {
            Err(with_query(ReleaseError::GlobalBudgetExhausted {
                requested: micro_to_f64(plan.cost_micro),
                unit,
            }))
        }
        Err(ChargeError::Refused(Refusal::IdempotencyRace)) => {
            Err(with_query(ReleaseError::IdempotencyKeyReused))
        }
        Err(ChargeError::Store(e)) => Err((e.into(), None)),
    }
}

/// `POST /v1/counts/estimate`: cost, margin and affordability; charges nothing, reads no case.
pub async fn estimate(
    pipeline: &Pipeline,
    consumer: &Consumer,
    body: &[u8],
) -> Result<EstimateResponse, ReleaseError> {
    pipeline.rate.check(&consumer.id)?;
    let policy = &pipeline.policy;
    let request = parse_request(body)?;
    let query = CountQuery::parse(policy, consumer, &request)?;
    let cells = query.cells;
    let plan = plan(policy, query)?;
    let release_id = DataView::current(pipeline).release_key(&plan);
    let outlook = pipeline
        .store
        .outlook(&policy.dataset, &consumer.id, &[&release_id])
        .await?;
    let (would_charge, global_charge) = outlook.totals(&[plan.cost_micro]);
    let BudgetState {
        spent_micro: spent,
        limit_micro: limit,
    } = outlook.consumer_budget(policy.role_budget_micro(consumer.role));
    let global = outlook.global;
    Ok(EstimateResponse {
        dataset: policy.dataset.clone(),
        query_id: plan.query_id.clone(),
        cost: micro_to_f64(plan.cost_micro),
        cost_approx_dp: approx_dp(policy, plan.cost_micro),
        unit_of_privacy: policy.unit,
        would_charge: micro_to_f64(would_charge),
        unit: policy.budget_unit(),
        cells,
        mechanism: mechanism_view(&plan.mechanism, plan.sensitivity),
        margin_of_error: plan.margin,
        confidence: plan.query.confidence,
        k: policy.k,
        affordable: spent.saturating_add(would_charge) <= limit,
        global_affordable: global.spent_micro.saturating_add(global_charge) <= global.limit_micro,
        budget: budget_view(policy, spent, limit),
    })
}

/// The API error for a charge that was refused or failed; `requested_micro`
/// is what the request would have charged.
pub fn charge_error(err: ChargeError, requested_micro: u64, unit: &'static str) -> ReleaseError {
    match err {
        ChargeError::Refused(Refusal::Consumer { remaining_micro }) => {
            ReleaseError::BudgetExhausted {
                remaining: micro_to_f64(remaining_micro),
                requested: micro_to_f64(requested_micro),
                unit,
            }
        }
        ChargeError::Refused(Refusal::Global) => ReleaseError::GlobalBudgetExhausted {
            requested: micro_to_f64(requested_micro),
            unit,
        },
        ChargeError::Refused(Refusal::IdempotencyRace) => ReleaseError::IdempotencyKeyReused,
        ChargeError::Store(e) => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    #[test]
    fn cell_keys_show_every_cell_in_engine_order_with_sorted_dimensions() {
        let policy =
            crate::policy::parse_policy("default.toml", include_str!("../policy/default.toml"))
                .expect("default policy");
        let consumer = Consumer {
            id: "r".into(),
            role: Role::Researcher,
            country: None,
        };
        let request: CountRequest = serde_json::from_str(
            r#"{"dimensions":["gender","age_broad","type_of_exploitation"],"epsilon":0.5}"#,
        )
        .expect("request");
        let query = CountQuery::parse(&policy, &consumer, &request).expect("query");
        let keys = CellKey::all(&query);
        let plain = cell_keys(&query);
        assert_eq!(keys.len(), plain.len());
        for (key, values) in keys.iter().zip(&plain) {
            // The same object the JSON map of names to values gives (sorted keys).
            let expected: serde_json::Map<String, serde_json::Value> = query
                .dimensions
                .iter()
                .zip(values)
                .map(|(d, v)| (d.name.clone(), serde_json::Value::String((*v).to_owned())))
                .collect();
            assert_eq!(
                serde_json::to_string(key).expect("json"),
                serde_json::to_string(&expected).expect("json")
            );
        }
    }
}
