//! Grouped counts for researchers: `POST /v1/counts` (a release through
//! [`Pipeline::release`]) and `POST /v1/counts/estimate` (what it would
//! cost; charges nothing, reads no case).

use super::compute::StoredRelease;
use super::error::ReleaseError;
use super::plan::{Plan, plan};
use super::views::{
    CellKey, CellOut, CountResponse, EstimateResponse, approx_dp, budget_view, mechanism_view,
};
use super::workload::{self, WorkloadEstimate, WorkloadEstimateTable};
use super::{Charged, Format, Pipeline, Refused, Released, ledger_if_refused};
use crate::audit::chain::{EntryBody, Event, Outcome};
use crate::budget::{Idempotency, RenderResult};
use crate::domain::Consumer;
use crate::domain::budget::compose_amounts;
use crate::release::query::{CountQuery, CountRequest, sha256_hex};

/// Parses the body of a count request; a refusal is ledgered by the caller.
pub fn parse_request(body: &[u8]) -> Result<CountRequest, ReleaseError> {
    serde_json::from_slice(body)
        .map_err(|e| ReleaseError::InvalidBody(format!("invalid JSON body: {e}")))
}

/// `POST /v1/counts`: validate, plan, replay an idempotent retry, or release.
pub async fn release_counts(
    pipeline: &Pipeline,
    consumer: &Consumer,
    body: &[u8],
    idempotency_key: Option<&str>,
    format: Format,
) -> Result<Released, ReleaseError> {
    let result = release_counts_inner(pipeline, consumer, body, idempotency_key, format).await;
    ledger_if_refused(pipeline, consumer, result).await
}

async fn release_counts_inner(
    pipeline: &Pipeline,
    consumer: &Consumer,
    body: &[u8],
    idempotency_key: Option<&str>,
    format: Format,
) -> Result<Released, Refused> {
    let policy = &pipeline.policy;
    // 1. Validate and plan: policy only, no data.
    let request = parse_request(body).map_err(Refused::bare)?;
    if request.workload.is_some() {
        return release_workload(pipeline, consumer, &request, body, idempotency_key, format).await;
    }
    let query = CountQuery::parse(policy, consumer, &request).map_err(Refused::bare)?;
    let plan = plan(policy, query).map_err(Refused::bare)?;

    // 2. An idempotent retry, or the release: made, charged, rendered from its receipt.
    let (receipts, bytes) = match release_or_replay(
        pipeline,
        consumer,
        &[&plan],
        (&plan.canonical, &plan.query_id),
        body,
        idempotency_key,
        format,
        |charged| render(pipeline, &plan, charged, format),
    )
    .await?
    {
        Answer::Replayed(done) => return Ok(done),
        Answer::Released(receipts, bytes) => (receipts, bytes),
    };
    if let Some(receipt) = receipts.first() {
        tracing::info!(
            consumer = %consumer.id,
            query_id = %plan.query_id,
            charged_micro = receipt.charged.micro(),
            repeat = receipt.replay,
            ledger_seq = receipt.ledger_seq,
            "release"
        );
    }
    Ok(Released {
        content_type: format.content_type().into(),
        body: bytes,
        replayed: false,
    })
}

/// What a count request got: the stored bytes of an idempotent retry, or a
/// release with its receipts and rendered bytes.
pub(crate) enum Answer {
    Replayed(Released),
    Released(Vec<crate::budget::Receipt>, Vec<u8>),
}

/// The one way a count request (one grouping or a workload) is answered:
/// an idempotent retry replays its stored bytes (a reused key with another
/// request is refused); otherwise `plans` are released through
/// [`Pipeline::release`], the bytes stored with the key when there is one.
/// `named` is the canonical query and its hash, for a refusal's ledger entry.
#[expect(
    clippy::too_many_arguments,
    reason = "one request's parts, passed through once"
)]
pub(crate) async fn release_or_replay(
    pipeline: &Pipeline,
    consumer: &Consumer,
    plans: &[&Plan],
    named: (&str, &str),
    body: &[u8],
    idempotency_key: Option<&str>,
    format: Format,
    render: impl FnOnce(&Charged<'_>) -> RenderResult,
) -> Result<Answer, Refused> {
    let (canonical, query_id) = named;
    let request_hash = sha256_hex(&[body, format.content_type().as_bytes()].concat());
    if let Some(key) = idempotency_key
        && let Some(done) =
            replay(pipeline, consumer, key, &request_hash, canonical, query_id).await?
    {
        return Ok(Answer::Replayed(done));
    }
    let idempotency = idempotency_key.map(|key| Idempotency {
        key,
        request_hash: &request_hash,
        content_type: format.content_type(),
    });
    let (receipts, bytes) = pipeline
        .release(consumer, plans, idempotency, render)
        .await
        .map_err(|e| Refused::naming(e, canonical, query_id))?;
    Ok(Answer::Released(receipts, bytes))
}

/// An idempotent retry: the stored bytes of the first answer, or a refusal
/// when the key was used with another request. `None` when the key is new.
async fn replay(
    pipeline: &Pipeline,
    consumer: &Consumer,
    key: &str,
    request_hash: &str,
    canonical: &str,
    query_id: &str,
) -> Result<Option<Released>, Refused> {
    let named = |e: ReleaseError| Refused::naming(e, canonical, query_id);
    let Some(stored) = pipeline
        .store
        .find_idempotent(&consumer.id, key)
        .await
        .map_err(|e| Refused::bare(e.into()))?
    else {
        return Ok(None);
    };
    if stored.request_hash != request_hash {
        return Err(named(ReleaseError::IdempotencyKeyReused));
    }
    let mut entry = EntryBody::about(
        &pipeline.policy.dataset,
        consumer,
        Event::Replay,
        Outcome::IdempotentReplay,
    );
    entry.canonical_query = Some(canonical.to_owned());
    entry.query_hash = Some(query_id.to_owned());
    entry.idempotency_key = Some(key.to_owned());
    pipeline
        .store
        .record_replay(entry)
        .await
        .map_err(|e| Refused::bare(e.into()))?;
    crate::metrics::METRICS.released(crate::metrics::Served::Repeat, 1);
    Ok(Some(Released {
        content_type: stored.content_type,
        body: stored.body,
        replayed: true,
    }))
}

/// A workload: its groupings released together, answered as consistent tables.
async fn release_workload(
    pipeline: &Pipeline,
    consumer: &Consumer,
    request: &CountRequest,
    body: &[u8],
    idempotency_key: Option<&str>,
    format: Format,
) -> Result<Released, Refused> {
    let policy = &pipeline.policy;
    let wp = workload::plan_workload(policy, consumer, request).map_err(Refused::bare)?;
    let plans: Vec<&Plan> = wp.groupings.iter().collect();
    let (receipts, bytes) = match release_or_replay(
        pipeline,
        consumer,
        &plans,
        (&wp.canonical, &wp.query_id),
        body,
        idempotency_key,
        format,
        |charged| workload::render(policy, &wp, charged, format),
    )
    .await?
    {
        Answer::Replayed(done) => return Ok(done),
        Answer::Released(receipts, bytes) => (receipts, bytes),
    };
    tracing::info!(
        consumer = %consumer.id,
        query_id = %wp.query_id,
        groupings = receipts.len(),
        charged_micro = receipts.iter().map(|r| r.charged.micro()).sum::<u64>(),
        "workload"
    );
    Ok(Released {
        content_type: format.content_type().into(),
        body: bytes,
        replayed: false,
    })
}

/// Builds the response body from the receipt; a body that cannot be read
/// or written is an error, never an empty answer.
fn render(pipeline: &Pipeline, plan: &Plan, charged: &Charged<'_>, format: Format) -> RenderResult {
    let policy = &pipeline.policy;
    let (receipt, release_id) = charged.single()?;
    let cells = StoredRelease::read_cells(&receipt.release_body, plan)?;
    let keys = CellKey::all(&plan.query);
    if keys.len() != cells.len() {
        return Err(format!(
            "a release of {} cells for a query of {}",
            cells.len(),
            keys.len()
        )
        .into());
    }
    let names: Vec<String> = plan
        .query
        .dimensions
        .iter()
        .map(|d| d.name.clone())
        .collect();
    match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let mut header: Vec<&str> = names.iter().map(String::as_str).collect();
            header.extend(["count", "suppressed", "margin_of_error"]);
            w.write_record(&header)?;
            let margin = plan.margin.to_string();
            for (key, cell) in keys.iter().zip(&cells) {
                let count = cell.map(|v| v.to_string()).unwrap_or_default();
                let suppressed = if cell.is_none() { "true" } else { "false" };
                let row = key
                    .values()
                    .chain([count.as_str(), suppressed, margin.as_str()]);
                w.write_record(row)?;
            }
            Ok(w.into_inner().map_err(|e| e.into_error())?)
        }
        Format::Json => {
            let cells = keys
                .into_iter()
                .zip(&cells)
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
                data_version: charged.data_version,
                dimensions: names,
                cells,
                cost: plan.cost.to_f64(),
                cost_approx_dp: approx_dp(policy, plan.cost),
                unit_of_privacy: policy.unit,
                charged: receipt.charged.to_f64(),
                repeat: receipt.replay,
                mechanism: mechanism_view(&plan.mechanism, plan.sensitivity),
                confidence: plan.query.confidence,
                k: policy.k,
                clamp_negative: policy.output.clamp_negative,
                round_to: policy.output.round_to,
                budget: budget_view(policy, receipt.budget),
                ledger_seq: receipt.ledger_seq,
                notes,
            };
            Ok(resp.to_json()?)
        }
    }
}

/// What `POST /v1/counts/estimate` answers: for one grouping or a workload.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Estimate {
    Single(EstimateResponse),
    Workload(WorkloadEstimate),
}

/// `POST /v1/counts/estimate`: cost, margins and affordability; charges nothing, reads no case.
pub async fn estimate(
    pipeline: &Pipeline,
    consumer: &Consumer,
    body: &[u8],
) -> Result<Estimate, ReleaseError> {
    let request = parse_request(body)?;
    if request.workload.is_some() {
        return estimate_workload(pipeline, consumer, &request)
            .await
            .map(Estimate::Workload);
    }
    estimate_single(pipeline, consumer, &request)
        .await
        .map(Estimate::Single)
}

async fn estimate_workload(
    pipeline: &Pipeline,
    consumer: &Consumer,
    request: &CountRequest,
) -> Result<WorkloadEstimate, ReleaseError> {
    let policy = &pipeline.policy;
    let wp = workload::plan_workload(policy, consumer, request)?;
    let data = super::DataView::current(pipeline);
    let keys: Vec<String> = wp.groupings.iter().map(|p| data.release_key(p)).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let outlook = pipeline
        .store
        .outlook(&policy.dataset, &consumer.id, &refs)
        .await?;
    let costs: Vec<_> = wp.groupings.iter().map(|p| p.cost).collect();
    let items = outlook.charges(&costs);
    let arithmetic = |e| ReleaseError::internal("adding up an estimate", e);
    let would_charge = compose_amounts(items.iter().map(|i| i.consumer)).map_err(arithmetic)?;
    let budget = outlook.consumer_budget(policy.role_budget(consumer.role));
    let margins = workload::consistent_margins(&wp)
        .map_err(|e| ReleaseError::internal("estimating consistent margins", e))?;
    let cost = wp.cost()?;
    Ok(WorkloadEstimate {
        dataset: policy.dataset.clone(),
        query_id: wp.query_id.clone(),
        tables: wp
            .groupings
            .iter()
            .zip(margins)
            .map(|(p, consistent)| WorkloadEstimateTable {
                dimensions: p.query.dimensions.iter().map(|d| d.name.clone()).collect(),
                query_id: p.query_id.clone(),
                cells: p.query.cells,
                cost: p.cost.to_f64(),
                margin_of_error: p.margin,
                consistent_margin_of_error: consistent,
            })
            .collect(),
        cost: cost.to_f64(),
        cost_approx_dp: approx_dp(policy, cost),
        unit_of_privacy: policy.unit,
        would_charge: would_charge.to_f64(),
        unit: policy.budget_unit(),
        confidence: wp.groupings.first().map_or(0.95, |p| p.query.confidence),
        affordable: budget.try_debit(would_charge).is_ok(),
        global_affordable: global_affordable(&outlook.global, cost),
        budget: budget_view(policy, budget),
    })
}

/// Bands the dataset's budget is read in by estimates: a tenth of its limit.
const GLOBAL_BANDS: u64 = 10;

/// Whether the dataset's remaining budget covers `cost`, read in bands of
/// a tenth of its limit: the cost is rounded up to a whole band, so asking
/// with ever finer costs locates what everyone else spent no closer than a
/// band. It assumes the release is new (as if nobody had asked for it), so
/// it does not say whether someone did; a release already made may still
/// be served when this says false.
pub(crate) fn global_affordable(
    global: &crate::domain::budget::Budget<crate::domain::budget::Amount>,
    cost: crate::domain::budget::Amount,
) -> bool {
    let band = (global.limit.micro() / GLOBAL_BANDS).max(1);
    let rounded = cost.micro().div_ceil(band).max(1).saturating_mul(band);
    global.remaining().micro() >= rounded
}

async fn estimate_single(
    pipeline: &Pipeline,
    consumer: &Consumer,
    request: &CountRequest,
) -> Result<EstimateResponse, ReleaseError> {
    let policy = &pipeline.policy;
    let query = CountQuery::parse(policy, consumer, request)?;
    let cells = query.cells;
    let plan = plan(policy, query)?;
    let release_id = super::DataView::current(pipeline).release_key(&plan);
    let outlook = pipeline
        .store
        .outlook(&policy.dataset, &consumer.id, &[&release_id])
        .await?;
    let items = outlook.charges(&[plan.cost]);
    let arithmetic = |e| ReleaseError::internal("adding up an estimate", e);
    let would_charge = compose_amounts(items.iter().map(|i| i.consumer)).map_err(arithmetic)?;
    let budget = outlook.consumer_budget(policy.role_budget(consumer.role));
    Ok(EstimateResponse {
        dataset: policy.dataset.clone(),
        query_id: plan.query_id.clone(),
        cost: plan.cost.to_f64(),
        cost_approx_dp: approx_dp(policy, plan.cost),
        unit_of_privacy: policy.unit,
        would_charge: would_charge.to_f64(),
        unit: policy.budget_unit(),
        cells,
        mechanism: mechanism_view(&plan.mechanism, plan.sensitivity),
        margin_of_error: plan.margin,
        confidence: plan.query.confidence,
        k: policy.k,
        affordable: budget.try_debit(would_charge).is_ok(),
        global_affordable: global_affordable(&outlook.global, plan.cost),
        budget: budget_view(policy, budget),
    })
}
