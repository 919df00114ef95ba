//! The release core: one path from a planned query to a charged, recorded
//! answer, free of HTTP. Read this first.
//!
//! ```text
//! (edge: authenticate, rate limit, read the body)
//!   -> validate the query (policy, no data)          query.rs
//!   -> plan: cost, mechanism, margin                 plan.rs
//!   -> [counts only] idempotent retry? replay the stored bytes
//!   -> Pipeline::release, for one plan or a report's several:
//!        release already made? (memory, then one read-only store statement)
//!        -> else: do the budgets afford it? (budget::decide, read-only)
//!             -> count on the snapshot, keyed noise, suppression   compute.rs
//!        -> charge both budgets, store, append the ledger entry
//!           (one transaction, through the group committer)
//!        -> render from the receipts                 counts.rs, national/
//!   -> a refusal after authentication is ledgered (ledger_if_refused)
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
//! and a new one is counted only after a read-only look at both budgets. A
//! refused request therefore does no data-dependent work, and its timing
//! cannot depend on the data.
//!
//! Errors are [`ReleaseError`]s; the HTTP edge maps them to problem+json.

pub mod admin;
mod compute;
pub mod consistent;
pub mod counts;
pub mod error;
mod plan;
pub mod query;
pub mod views;
pub mod workload;

pub use compute::{DataView, StoredRelease};
pub use counts::{Estimate, estimate, parse_request, release_counts};
pub use error::ReleaseError;
pub use plan::{Plan, plan, post_process};
pub use views::{
    ApproxDp, BudgetApproxDp, BudgetView, CellKey, CellOut, CountResponse, EstimateResponse,
    MechanismView, approx_dp, budget_view, mechanism_view,
};

use crate::audit::chain::{EntryBody, Event, Outcome};
use crate::budget::{Charge, Idempotency, Receipt, ReleaseCharge, RenderResult};
use crate::cache::ReleaseCache;
use crate::domain::Consumer;
use crate::engine::SnapshotCell;
use crate::metrics::Served;
use crate::policy::Policy;
use crate::privacy::NoiseKey;
use crate::store::{ChargeError, Committer, Store};
use error::Cause;
use std::sync::Arc;

/// The release core: everything a release needs and nothing of the web
/// server. The composition root (`startup`) builds one; it can be driven
/// without HTTP.
pub struct Pipeline {
    pub policy: Arc<Policy>,
    pub store: Store,
    /// Commits charges and refusals of concurrent requests together (group commit).
    pub committer: Committer,
    /// Bodies released by this process, so repeats skip the store and the count.
    pub releases: ReleaseCache,
    pub snapshots: Arc<SnapshotCell>,
    pub noise_key: NoiseKey,
}

/// Response formats of a count release.
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

/// A finished response: media type and the exact bytes to send.
#[derive(Debug, Clone)]
pub struct Released {
    pub content_type: String,
    pub body: Vec<u8>,
    /// An idempotent retry answered with the stored bytes.
    pub replayed: bool,
}

/// What a renderer gets once its releases are charged and recorded.
pub struct Charged<'a> {
    /// In the order of the plans.
    pub receipts: &'a [Receipt],
    /// The release ids (keys), in the same order.
    pub release_ids: &'a [String],
    pub data_version: i64,
}

impl Charged<'_> {
    /// The receipt and release id of a single-plan release.
    pub fn single(&self) -> Result<(&Receipt, &str), Box<dyn std::error::Error + Send + Sync>> {
        match (self.receipts, self.release_ids) {
            ([receipt], [id]) => Ok((receipt, id.as_str())),
            _ => Err(format!("{} receipts for a single release", self.receipts.len()).into()),
        }
    }
}

impl Pipeline {
    /// The one release path, for a count, a national table or a whole
    /// report: on one snapshot, takes each release from memory or the store
    /// or (once the budgets are seen to afford them all) computes it, charges
    /// them all or none to `consumer` in one transaction, and renders the
    /// response from the receipts with `render`.
    ///
    /// A render failure after the charge is an error ([`ReleaseError::RenderFailed`]:
    /// the charge stands and a repeat is free), never an empty answer; with
    /// an idempotency key the bytes belong to the transaction, so nothing is
    /// charged.
    pub async fn release(
        &self,
        consumer: &Consumer,
        plans: &[&Plan],
        idempotency: Option<Idempotency<'_>>,
        render: impl FnOnce(&Charged<'_>) -> RenderResult,
    ) -> Result<(Vec<Receipt>, Vec<u8>), ReleaseError> {
        let policy = &self.policy;
        let data = DataView::current(self);
        let data_version = data.version();
        let keys: Vec<String> = plans.iter().map(|p| data.release_key(p)).collect();
        let bodies = compute::release_bodies(self, consumer, &data, plans, &keys).await?;
        let charge = Charge {
            dataset: &policy.dataset,
            consumer,
            new_consumer_limit: policy.role_budget(consumer.role),
            releases: plans
                .iter()
                .zip(&keys)
                .zip(&bodies)
                .map(|((plan, key), body)| ReleaseCharge {
                    release_key: key,
                    canonical_query: &plan.canonical,
                    query_hash: &plan.query_id,
                    data_version,
                    data_fingerprint: data.fingerprint().as_str(),
                    cost: plan.cost,
                    body,
                })
                .collect(),
            idempotency,
        };
        let idempotent = idempotency.is_some();
        let (receipts, bytes) = self
            .committer
            .commit(&charge, |receipts| {
                render(&Charged {
                    receipts,
                    release_ids: &keys,
                    data_version,
                })
            })
            .await
            .map_err(|e| charge_error(policy, e, idempotent))?;
        for (key, receipt) in keys.iter().zip(&receipts) {
            self.releases.insert(key, &receipt.release_body);
        }
        let repeats = receipts.iter().filter(|r| r.replay).count();
        crate::metrics::METRICS.released(Served::Repeat, repeats);
        crate::metrics::METRICS.released(Served::Fresh, receipts.len() - repeats);
        Ok((receipts, bytes))
    }
}

/// The release error of a charge that was refused or failed.
/// `rolled_back` says whether a render failure undid the charge.
pub(crate) fn charge_error(policy: &Policy, err: ChargeError, rolled_back: bool) -> ReleaseError {
    use crate::budget::Refusal;
    let unit = policy.budget_unit();
    match err {
        ChargeError::Refused(Refusal::Consumer {
            remaining,
            requested,
        }) => ReleaseError::BudgetExhausted {
            remaining: remaining.to_f64(),
            requested: requested.to_f64(),
            unit,
        },
        ChargeError::Refused(Refusal::Global { requested }) => {
            ReleaseError::GlobalBudgetExhausted {
                requested: requested.to_f64(),
                unit,
            }
        }
        ChargeError::Refused(Refusal::IdempotencyRace) => ReleaseError::IdempotencyKeyReused,
        ChargeError::Arithmetic(e) => ReleaseError::internal("budget arithmetic", e),
        ChargeError::RoleChanged { stored, token } => ReleaseError::RoleChanged { stored, token },
        ChargeError::Store(e) => e.into(),
        ChargeError::Render(e) if rolled_back => {
            ReleaseError::Internal(Cause::boxed("rendering a response", e))
        }
        ChargeError::Render(e) => {
            let cause = Cause::boxed("rendering a charged response", e);
            tracing::error!(%cause, "a charged release could not be rendered");
            ReleaseError::RenderFailed(cause)
        }
    }
}

/// A refusal, with the canonical query and its hash when the request got
/// that far (the ledger entry names them).
pub struct Refused {
    pub error: ReleaseError,
    pub query: Option<(String, String)>,
}

impl Refused {
    /// A refusal before the query was understood.
    pub fn bare(error: ReleaseError) -> Refused {
        Refused { error, query: None }
    }

    /// A refusal of the query `canonical` (hash `query_id`).
    pub fn naming(error: ReleaseError, canonical: &str, query_id: &str) -> Refused {
        Refused {
            error,
            query: Some((canonical.to_owned(), query_id.to_owned())),
        }
    }
}

/// Writes a refusal that happened after authentication to the ledger.
/// `code` is the refusal's stable error code.
pub async fn ledger_refusal(
    pipeline: &Pipeline,
    consumer: &Consumer,
    code: &str,
    query: Option<(&str, &str)>,
) {
    let mut entry = EntryBody::about(
        &pipeline.policy.dataset,
        consumer,
        Event::Refusal,
        Outcome::Refused(code.to_owned()),
    );
    if let Some((canonical, hash)) = query {
        entry.canonical_query = Some(canonical.into());
        entry.query_hash = Some(hash.into());
    }
    match pipeline.committer.record_refusal(entry).await {
        Ok(_) => {}
        // The store's outage is logged where it is noticed; the refusal stands.
        Err(e @ crate::store::StoreError::Unavailable(_)) => {
            tracing::warn!(error = %crate::store::Chain(&e), "could not ledger a refusal")
        }
        Err(e) => tracing::error!(error = %crate::store::Chain(&e), "could not ledger a refusal"),
    }
}

/// The one refusal-ledger wrapper: writes a refusal that happened after
/// authentication to the ledger (not internal failures: nothing about the
/// request was decided), and hands the result on.
pub async fn ledger_if_refused<T>(
    pipeline: &Pipeline,
    consumer: &Consumer,
    result: Result<T, Refused>,
) -> Result<T, ReleaseError> {
    match result {
        Ok(v) => Ok(v),
        Err(Refused { error, query }) => {
            if error.is_ledgered() {
                ledger_refusal(
                    pipeline,
                    consumer,
                    error.code(),
                    query.as_ref().map(|(c, h)| (c.as_str(), h.as_str())),
                )
                .await;
            }
            Err(error)
        }
    }
}
