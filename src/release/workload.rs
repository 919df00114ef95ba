//! Workloads: several groupings over the same filters in one `POST
//! /v1/counts` (for example `gender × age_broad`, `gender ×
//! registration_year` and `age_broad`), charged as one release and answered
//! as consistent tables.
//!
//! Each grouping is an ordinary release at an equal share of the workload's
//! cost (the same release, and the same free repeats, as the equivalent
//! single `POST /v1/counts`); the workload costs their sum, charged in one
//! transaction or not at all. The groupings of single-valued dimensions
//! count one population (the one the filters select), so they are
//! reconciled ([`super::consistent`]): one total, equal marginals where
//! they share dimensions, non-negative integers. A grouping with a
//! multi-valued dimension has no sum to agree on; it may stand alone in a
//! workload but may not share a dimension with another grouping. Shared
//! marginals are reconciled along a tree: each grouping may share
//! dimensions with at most one earlier grouping.

use super::consistent::{self, Input};
use super::error::ReleaseError;
use super::plan::{Plan, plan};
use super::query::{CountQuery, CountRequest, sha256_hex};
use super::views::{
    ApproxDp, BudgetView, CellKey, CellOut, MechanismView, approx_dp, budget_view, mechanism_view,
};
use super::{Charged, Format};
use crate::domain::budget::{Amount, compose_amounts};
use crate::domain::{Consumer, FieldKind};
use crate::policy::{Policy, PrivacyUnit};
use crate::privacy::consistency::ConsistencyError;
use serde::Serialize;
use serde_json::json;
use std::collections::HashSet;

/// Most groupings in one workload.
pub const MAX_GROUPINGS: usize = 8;

/// A workload with every grouping planned.
pub struct WorkloadPlan {
    pub groupings: Vec<Plan>,
    /// Which groupings take part in the consistent estimate.
    pub consistent: Vec<bool>,
    /// Names the workload in the ledger when it is refused.
    pub canonical: String,
    pub query_id: String,
}

impl WorkloadPlan {
    /// What the workload costs: the sum of its groupings.
    pub fn cost(&self) -> Result<Amount, ReleaseError> {
        compose_amounts(self.groupings.iter().map(|p| p.cost))
            .map_err(|e| ReleaseError::internal("adding up a workload's cost", e))
    }
}

fn invalid(message: impl Into<String>) -> ReleaseError {
    ReleaseError::InvalidQuery(message.into())
}

/// Validates and plans the workload of `request` (policy only, no data).
pub fn plan_workload(
    policy: &Policy,
    consumer: &Consumer,
    request: &CountRequest,
) -> Result<WorkloadPlan, ReleaseError> {
    let Some(groupings) = &request.workload else {
        return Err(invalid("a workload needs the workload field"));
    };
    if !request.dimensions.is_empty() {
        return Err(invalid(
            "give dimensions (one grouping) or workload (several), not both",
        ));
    }
    if groupings.is_empty() {
        return Err(invalid("a workload names at least one grouping"));
    }
    if groupings.len() > MAX_GROUPINGS {
        return Err(ReleaseError::TooManyGroupings {
            count: groupings.len(),
            max: MAX_GROUPINGS,
        });
    }
    if request.accuracy.is_some() {
        return Err(invalid(
            "a workload takes a cost (epsilon or rho), which its groupings share equally; an accuracy target applies to a single grouping",
        ));
    }
    let mut seen = HashSet::new();
    for g in groupings {
        let mut sorted = g.clone();
        sorted.sort();
        if !seen.insert(sorted) {
            return Err(invalid(format!(
                "the grouping {g:?} is listed twice in the workload"
            )));
        }
    }
    // The workload's cost, shared equally (rounded down to a micro-unit).
    let given = request.epsilon.or(request.rho);
    let n = groupings.len() as u64;
    let share = |total: f64| -> Result<f64, ReleaseError> {
        let name = if request.epsilon.is_some() {
            "epsilon"
        } else {
            "rho"
        };
        let micro = super::query::cost_micro(total, name, || {
            invalid(format!(
                "the workload's cost {total} is not a positive number"
            ))
        })?;
        Ok((micro / n) as f64 / 1e6)
    };
    let per = match given {
        Some(total) => Some(share(total)?),
        None => None,
    };
    let mut plans = Vec::with_capacity(groupings.len());
    let mut cells = 0usize;
    for g in groupings {
        let sub = CountRequest {
            dimensions: g.clone(),
            workload: None,
            filters: request.filters.clone(),
            epsilon: request.epsilon.and(per),
            rho: request.rho.and(per),
            accuracy: None,
            confidence: request.confidence,
            perspective: request.perspective,
        };
        let query = CountQuery::parse(policy, consumer, &sub)?;
        cells = cells.saturating_add(query.cells);
        plans.push(plan(policy, query)?);
    }
    if cells > policy.limits.max_cells {
        return Err(ReleaseError::TooManyCells {
            cells,
            max: policy.limits.max_cells,
        });
    }
    let single: Vec<bool> = plans
        .iter()
        .map(|p| {
            p.query
                .dimensions
                .iter()
                .all(|d| d.field.kind() == FieldKind::Single)
        })
        .collect();
    for (i, p) in plans.iter().enumerate() {
        if single[i] {
            continue;
        }
        for (j, q) in plans.iter().enumerate() {
            if i != j
                && p.query
                    .dimensions
                    .iter()
                    .any(|d| q.query.dimensions.iter().any(|e| e.field == d.field))
            {
                return Err(invalid(format!(
                    "the grouping {:?} has a multi-valued dimension (a case may be in several of its cells), so its marginals cannot agree with the grouping {:?}; ask for it in a separate request",
                    groupings[i], groupings[j]
                )));
            }
        }
    }
    // Marginals are reconciled along a tree: each grouping agrees with the
    // one earlier grouping it shares dimensions with. Sharing with two would
    // close a cycle that controlled rounding cannot keep exact.
    for (t, p) in plans.iter().enumerate() {
        let sharing: Vec<usize> = (0..t)
            .filter(|&u| {
                single[u]
                    && p.query
                        .dimensions
                        .iter()
                        .any(|d| plans[u].query.dimensions.iter().any(|e| e.field == d.field))
            })
            .collect();
        if single[t] && sharing.len() > 1 {
            return Err(invalid(format!(
                "the grouping {:?} shares dimensions with {} earlier groupings ({:?}); consistent tables need each grouping to share dimensions with at most one earlier grouping: split the workload or drop a grouping",
                groupings[t],
                sharing.len(),
                sharing.iter().map(|&u| &groupings[u]).collect::<Vec<_>>()
            )));
        }
    }
    let canonical = json!({
        "workload": plans.iter().map(|p| p.query_id.as_str()).collect::<Vec<_>>(),
    })
    .to_string();
    let query_id = sha256_hex(canonical.as_bytes());
    Ok(WorkloadPlan {
        groupings: plans,
        consistent: single,
        canonical,
        query_id,
    })
}

/// One grouping of a workload's answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkloadTable {
    pub dimensions: Vec<String>,
    /// The grouping's own query and release: the same as the equivalent single `POST /v1/counts`.
    pub query_id: String,
    pub release_id: String,
    pub cells: Vec<CellOut>,
    /// True when the cells are the workload's consistent estimate.
    pub consistent: bool,
    /// The one total the consistent groupings add up to (suppressed cells
    /// included), and its margin; null for a grouping that is not consistent.
    pub total: Option<WorkloadTotal>,
    pub cost: f64,
    pub charged: f64,
    pub repeat: bool,
    pub mechanism: MechanismView,
    pub ledger_seq: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkloadTotal {
    /// Null when withheld: below k, or the only figure left that would let
    /// a suppressed cell be computed from the published ones.
    pub count: Option<i64>,
    pub margin_of_error: u64,
}

/// Answer of `POST /v1/counts` with a workload.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkloadResponse {
    pub dataset: String,
    /// SHA-256 of the workload's canonical form (its groupings' query ids).
    pub query_id: String,
    pub data_version: i64,
    /// True when the groupings of single-valued dimensions were reconciled.
    pub consistent: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency_method: Option<&'static str>,
    pub tables: Vec<WorkloadTable>,
    /// The workload's cost: the sum of its groupings'.
    pub cost: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_approx_dp: Option<ApproxDp>,
    pub unit_of_privacy: PrivacyUnit,
    /// What this request charged you (groupings you had paid for are free).
    pub charged: f64,
    pub repeat: bool,
    pub confidence: f64,
    pub k: u64,
    pub budget: BudgetView,
    pub notes: Vec<String>,
}

/// A grouping of a workload estimate.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkloadEstimateTable {
    pub dimensions: Vec<String>,
    pub query_id: String,
    pub cells: usize,
    pub cost: f64,
    /// The margin of one cell of this grouping released alone.
    pub margin_of_error: u64,
    /// The largest margin of a cell of the consistent estimate (smaller or
    /// equal: the other groupings help); null when not consistent.
    pub consistent_margin_of_error: Option<u64>,
}

/// Answer of `POST /v1/counts/estimate` with a workload.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkloadEstimate {
    pub dataset: String,
    pub query_id: String,
    pub tables: Vec<WorkloadEstimateTable>,
    pub cost: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_approx_dp: Option<ApproxDp>,
    pub unit_of_privacy: PrivacyUnit,
    /// What you would be charged now (groupings you already paid for are free).
    pub would_charge: f64,
    pub unit: &'static str,
    pub confidence: f64,
    pub affordable: bool,
    /// Whether the dataset's remaining budget covers the cost rounded up to
    /// a tenth of its limit (read in bands, as if the release were new).
    pub global_affordable: bool,
    pub budget: BudgetView,
}

/// The consistent estimate of the workload's single-valued groupings from
/// their noisy counts (`None` for the others), suppressed below `k`.
pub(super) fn reconcile(
    wp: &WorkloadPlan,
    keys: &[Vec<CellKey>],
    noisy: &[Option<Vec<i64>>],
    k: u64,
) -> Result<Vec<Option<consistent::Output>>, consistent::Error> {
    let taking_part: Vec<usize> = (0..wp.groupings.len())
        .filter(|&i| wp.consistent[i] && noisy[i].is_some())
        .collect();
    let inputs: Vec<Input<'_>> = taking_part
        .iter()
        .filter_map(|&i| {
            noisy[i].as_deref().map(|n| Input {
                plan: &wp.groupings[i],
                keys: &keys[i],
                noisy: n,
            })
        })
        .collect();
    let outputs = consistent::estimate(&inputs, k)?;
    let mut out: Vec<Option<consistent::Output>> = wp.groupings.iter().map(|_| None).collect();
    for (&i, o) in taking_part.iter().zip(outputs) {
        out[i] = Some(o);
    }
    Ok(out)
}

/// The largest consistent margin of each grouping, from the structure
/// alone: the variances of the estimate do not depend on the values.
pub(super) fn consistent_margins(wp: &WorkloadPlan) -> Result<Vec<Option<u64>>, consistent::Error> {
    let keys: Vec<Vec<CellKey>> = wp
        .groupings
        .iter()
        .map(|p| CellKey::all(&p.query))
        .collect();
    let zeros: Vec<Option<Vec<i64>>> = keys.iter().map(|k| Some(vec![0; k.len()])).collect();
    Ok(reconcile(wp, &keys, &zeros, 0)?
        .into_iter()
        .map(|o| o.and_then(|o| o.margins.into_iter().max()))
        .collect())
}

/// Builds a workload's answer from the receipts of its charge.
pub(super) fn render(
    policy: &Policy,
    wp: &WorkloadPlan,
    charged: &Charged<'_>,
    format: Format,
) -> crate::budget::RenderResult {
    if charged.receipts.len() != wp.groupings.len() {
        return Err(format!(
            "{} receipts for {} groupings",
            charged.receipts.len(),
            wp.groupings.len()
        )
        .into());
    }
    let keys: Vec<Vec<CellKey>> = wp
        .groupings
        .iter()
        .map(|p| CellKey::all(&p.query))
        .collect();
    let stored: Vec<super::StoredRelease> = charged
        .receipts
        .iter()
        .zip(&wp.groupings)
        .map(|(r, p)| super::StoredRelease::read(&r.release_body, p))
        .collect::<Result<_, _>>()?;
    let noisy: Vec<Option<Vec<i64>>> = stored.iter().map(|s| s.noisy.clone()).collect();
    let reconciled = if policy.output.round_to <= 1 {
        reconcile(wp, &keys, &noisy, policy.k)?
    } else {
        wp.groupings.iter().map(|_| None).collect()
    };
    let consistent = reconciled.iter().any(Option::is_some);
    let mut tables = Vec::with_capacity(wp.groupings.len());
    for (i, plan) in wp.groupings.iter().enumerate() {
        let (cells, margins, total): (Vec<Option<i64>>, Vec<u64>, Option<WorkloadTotal>) =
            match &reconciled[i] {
                Some(o) => (
                    o.cells.clone(),
                    o.margins.clone(),
                    Some(WorkloadTotal {
                        count: o.total,
                        margin_of_error: o.total_margin,
                    }),
                ),
                None => (
                    stored[i].cells.clone(),
                    vec![plan.margin; stored[i].cells.len()],
                    None,
                ),
            };
        if cells.len() != keys[i].len() {
            return Err(
                ConsistencyError::Infeasible("a grouping's cells do not match its keys").into(),
            );
        }
        let receipt = &charged.receipts[i];
        tables.push((plan, i, cells, margins, total, receipt));
    }
    match format {
        Format::Json => {
            let cost = wp.cost()?;
            let paid = compose_amounts(charged.receipts.iter().map(|r| r.charged))?;
            let out = WorkloadResponse {
                dataset: policy.dataset.clone(),
                query_id: wp.query_id.clone(),
                data_version: charged.data_version,
                consistent,
                consistency_method: consistent.then_some(consistent::METHOD),
                tables: tables
                    .into_iter()
                    .map(|(plan, i, cells, margins, total, receipt)| WorkloadTable {
                        dimensions: plan.query.dimensions.iter().map(|d| d.name.clone()).collect(),
                        query_id: plan.query_id.clone(),
                        release_id: charged.release_ids[i].clone(),
                        cells: keys[i]
                            .iter()
                            .cloned()
                            .zip(cells)
                            .zip(margins)
                            .map(|((key, count), margin)| CellOut {
                                key,
                                count,
                                suppressed: count.is_none(),
                                margin_of_error: margin,
                            })
                            .collect(),
                        consistent: reconciled[i].is_some(),
                        total,
                        cost: plan.cost.to_f64(),
                        charged: receipt.charged.to_f64(),
                        repeat: receipt.replay,
                        mechanism: mechanism_view(&plan.mechanism, plan.sensitivity),
                        ledger_seq: receipt.ledger_seq,
                    })
                    .collect(),
                cost: cost.to_f64(),
                cost_approx_dp: approx_dp(policy, cost),
                unit_of_privacy: policy.unit,
                charged: paid.to_f64(),
                repeat: charged.receipts.iter().all(|r| r.replay),
                confidence: wp.groupings.first().map_or(0.95, |p| p.query.confidence),
                k: policy.k,
                budget: budget_view(
                    policy,
                    charged.receipts.first().map(|r| r.budget).ok_or("no receipt")?,
                ),
                notes: vec![
                    "counts are noisy; cells whose value is below k are suppressed".into(),
                    "groupings of single-valued dimensions are consistent: estimated together from all the groupings' noisy counts, they add up to one total and agree on the dimensions they share, in non-negative integers; this is post-processing, free".into(),
                    "each grouping is measured by the same release as a single POST /v1/counts of it at its share of the cost (repeats through either route are free); the workload publishes the consistent estimate made from them".into(),
                ],
            };
            Ok(serde_json::to_vec(&out)?)
        }
        Format::Csv => {
            let mut dims: Vec<&str> = Vec::new();
            for p in &wp.groupings {
                for d in &p.query.dimensions {
                    if !dims.contains(&d.name.as_str()) {
                        dims.push(d.name.as_str());
                    }
                }
            }
            let mut w = csv::Writer::from_writer(Vec::new());
            let mut header = vec!["grouping"];
            header.extend(dims.iter().copied());
            header.extend(["count", "suppressed", "margin_of_error"]);
            w.write_record(&header)?;
            for (plan, i, cells, margins, total, _) in &tables {
                let name = plan
                    .query
                    .dimensions
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join("*");
                for ((key, count), margin) in keys[*i].iter().zip(cells).zip(margins) {
                    let mut row = vec![name.clone()];
                    for d in &dims {
                        let pos = plan.query.dimensions.iter().position(|q| q.name == *d);
                        row.push(pos.and_then(|p| key.value(p)).unwrap_or("").to_owned());
                    }
                    row.push(count.map(|v| v.to_string()).unwrap_or_default());
                    row.push(count.is_none().to_string());
                    row.push(margin.to_string());
                    w.write_record(&row)?;
                }
                if let Some(t) = total {
                    let mut row = vec![name.clone()];
                    for d in &dims {
                        let grouped = plan.query.dimensions.iter().any(|q| q.name == *d);
                        row.push(if grouped { "total" } else { "" }.to_owned());
                    }
                    row.push(t.count.map(|v| v.to_string()).unwrap_or_default());
                    row.push(t.count.is_none().to_string());
                    row.push(t.margin_of_error.to_string());
                    w.write_record(&row)?;
                }
            }
            Ok(w.into_inner().map_err(|e| e.into_error())?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_body(body: &str) -> Result<WorkloadPlan, ReleaseError> {
        let policy = crate::testing::shipped_policy();
        let request: CountRequest =
            serde_json::from_str(body).map_err(|e| ReleaseError::InvalidBody(e.to_string()))?;
        plan_workload(&policy, &crate::testing::researcher(), &request)
    }

    #[test]
    fn a_workload_cost_finer_than_a_micro_unit_is_refused_not_rounded() {
        let e = plan_body(r#"{"workload":[["gender"],["age_broad"]],"epsilon":0.2000005}"#);
        match e {
            Err(ReleaseError::InvalidQuery(m)) => {
                assert!(m.contains("epsilon must be a multiple of 0.000001"), "{m}")
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("a cost of 0.2000005 was accepted"),
        }
        let ok = plan_body(r#"{"workload":[["gender"],["age_broad"]],"epsilon":0.2}"#);
        assert!(ok.is_ok_and(|w| w.cost().is_ok_and(|c| c.micro() == 200_000)));
    }
}
