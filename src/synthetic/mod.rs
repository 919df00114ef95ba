//! Differentially private synthetic microdata, after MST (McKenna, Miklau
//! and Sheldon): `POST /v1/synthetic` and its free estimate.
//!
//! The release is the noisy one-way marginal of every attribute and the
//! noisy two-way marginal of every edge of a tree over the attributes,
//! released as ONE request through [`Pipeline::release`]: each marginal is
//! an ordinary count release at an equal share of the cost (the same
//! release, with the same free repeats, as the equivalent `POST
//! /v1/counts`), all charged in one transaction or none, and nothing is
//! counted before the budgets are seen to afford them. The marginals are
//! then made consistent ([`crate::release::consistent`]: one total,
//! agreeing on shared attributes, non-negative integers), and records are
//! drawn along the tree ([`sample`]) so that they reproduce every published
//! marginal exactly. The records are post-processing of the published
//! marginals: free, and no case is read to make them.
//!
//! Defaults hard-coded here (not yet policy fields): an attribute is
//! synthesizable when it is a single-valued, stored (not derived)
//! dimension with at most [`MAX_DOMAIN`] values; at most [`MAX_ATTRIBUTES`]
//! attributes; the default tree is the chain in the order given.

mod render;
pub mod sample;
pub mod tree;

pub use render::{SyntheticEstimate, SyntheticResponse};

use crate::domain::budget::{Amount, compose_amounts};
use crate::domain::{Consumer, Field, FieldKind};
use crate::policy::Policy;
use crate::release::consistent::{self, Input};
use crate::release::counts::{Answer, global_affordable, release_or_replay};
use crate::release::query::{CountQuery, CountRequest, cost_micro, sha256_hex};
use crate::release::{
    CellKey, Format, Pipeline, Plan, Refused, ReleaseError, Released, approx_dp, budget_view,
    ledger_if_refused, plan,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tree::Tree;

/// The method's name and version, as the description states them; a new
/// version changes the query id, so its releases are new releases.
pub const METHOD: &str = "mst_tree_marginals";
pub const METHOD_VERSION: &str = "1";

/// Most values of a synthesizable attribute (a small public domain).
pub const MAX_DOMAIN: usize = 300;

/// Most attributes of one synthetic data set.
pub const MAX_ATTRIBUTES: usize = 8;

/// Body of `POST /v1/synthetic` and `POST /v1/synthetic/estimate`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyntheticRequest {
    /// The attributes (columns) of the records, from the synthesizable
    /// dimensions of `GET /v1/catalog`; the first is the tree's root.
    #[schema(min_items = 1, max_items = 8)]
    pub attributes: Vec<String>,
    /// The tree's edges as pairs of attributes; default: the chain in the
    /// order of `attributes` (each tied to the one before it).
    #[serde(default)]
    #[schema(schema_with = tree_schema)]
    pub tree: Option<Vec<[String; 2]>>,
    /// As for `POST /v1/counts`: per dimension, a list of values, or
    /// `{"from": Y1, "to": Y2}` for registration_year.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub filters: BTreeMap<String, Value>,
    /// The whole release's cost in epsilon (pure accounting), shared
    /// equally by its marginals. Omit both for the policy default per marginal.
    pub epsilon: Option<f64>,
    /// The whole release's cost in rho (zCDP accounting).
    pub rho: Option<f64>,
    /// Confidence of the margins of error.
    pub confidence: Option<f64>,
}

/// What a marginal is in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    OneWay(usize),
    Edge(usize, usize),
}

/// A synthetic release planned: its marginals in the order of the
/// consistent estimate (the root's one-way table first, then the edges in
/// breadth-first order, then the other attributes' one-way tables).
pub struct SyntheticPlan {
    pub attributes: Vec<String>,
    pub tree: Tree,
    pub marginals: Vec<(Role, Plan)>,
    pub canonical: String,
    pub query_id: String,
}

impl SyntheticPlan {
    /// What the release costs: the sum of its marginals.
    pub fn cost(&self) -> Result<Amount, ReleaseError> {
        compose_amounts(self.marginals.iter().map(|(_, p)| p.cost))
            .map_err(|e| ReleaseError::internal("adding up a synthetic release's cost", e))
    }

    fn plans(&self) -> Vec<&Plan> {
        self.marginals.iter().map(|(_, p)| p).collect()
    }
}

/// The schema of `tree`: null, or a list of edges, each exactly two
/// attribute names (what `[String; 2]` reads; the derive says only "array").
fn tree_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    let name = ObjectBuilder::new().schema_type(Type::String);
    let edge = ArrayBuilder::new()
        .items(name)
        .min_items(Some(2))
        .max_items(Some(2));
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(edge)
        .build()
        .into()
}

/// The names of the dimensions a synthetic data set may hold, in policy order.
pub fn synthesizable(policy: &Policy) -> Vec<String> {
    policy
        .dimensions
        .iter()
        .filter(|d| {
            d.field.kind() == FieldKind::Single
                && d.field != Field::IsInternal
                && d.values.len() <= MAX_DOMAIN
        })
        .map(|d| d.name.clone())
        .collect()
}

fn invalid(message: impl Into<String>) -> ReleaseError {
    ReleaseError::InvalidQuery(message.into())
}

/// Validates and plans a synthetic release (policy only, no data).
pub fn plan_synthetic(
    policy: &Policy,
    consumer: &Consumer,
    request: &SyntheticRequest,
) -> Result<SyntheticPlan, ReleaseError> {
    let attrs = &request.attributes;
    if attrs.is_empty() || attrs.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!(
            "name from 1 to {MAX_ATTRIBUTES} attributes; {} were given",
            attrs.len()
        )));
    }
    let valid = synthesizable(policy);
    for a in attrs {
        if !valid.contains(a) {
            return Err(ReleaseError::NotSynthesizable {
                name: a.clone(),
                valid,
            });
        }
    }
    for (i, a) in attrs.iter().enumerate() {
        if attrs[..i].contains(a) {
            return Err(invalid(format!(
                "the attribute \"{}\" is named twice",
                crate::release::error::bounded(a)
            )));
        }
    }
    let tree = match &request.tree {
        None => Tree::chain(attrs.len()),
        Some(edges) => {
            let at = |name: &str| {
                attrs.iter().position(|a| a == name).ok_or_else(|| {
                    invalid(format!(
                        "the tree names \"{}\", which is not among the attributes",
                        crate::release::error::bounded(name)
                    ))
                })
            };
            let edges: Vec<(usize, usize)> = edges
                .iter()
                .map(|[a, b]| Ok((at(a)?, at(b)?)))
                .collect::<Result<_, ReleaseError>>()?;
            Tree::from_edges(attrs.len(), &edges)
                .map_err(|e| invalid(format!("the tree is not a tree: {e}")))?
        }
    };
    let mut roles: Vec<Role> = vec![Role::OneWay(tree.order[0])];
    roles.extend(tree.edges.iter().map(|&(p, c)| Role::Edge(p, c)));
    roles.extend(tree.order[1..].iter().map(|&a| Role::OneWay(a)));
    // The cost, shared equally (rounded down to a micro-unit), as a workload's.
    let n = roles.len() as u64;
    let name = if request.epsilon.is_some() {
        "epsilon"
    } else {
        "rho"
    };
    let per = match request.epsilon.or(request.rho) {
        Some(total) => {
            let micro = cost_micro(total, name, || {
                invalid(format!("the cost {total} is not a positive number"))
            })?;
            Some((micro / n) as f64 / 1e6)
        }
        None => None,
    };
    let mut marginals = Vec::with_capacity(roles.len());
    for role in roles {
        let dimensions = match role {
            Role::OneWay(a) => vec![attrs[a].clone()],
            Role::Edge(p, c) => vec![attrs[p].clone(), attrs[c].clone()],
        };
        let sub = CountRequest {
            dimensions,
            workload: None,
            filters: request.filters.clone(),
            epsilon: request.epsilon.and(per),
            rho: request.rho.and(per),
            accuracy: None,
            confidence: request.confidence,
            perspective: None,
        };
        let query = CountQuery::parse(policy, consumer, &sub)?;
        if query.cells > policy.limits.max_cells {
            return Err(ReleaseError::TooManyCells {
                cells: query.cells,
                max: policy.limits.max_cells,
            });
        }
        marginals.push((role, plan(policy, query)?));
    }
    let canonical = json!({
        "synthetic": {"method": METHOD, "version": METHOD_VERSION},
        "attributes": attrs,
        "tree": tree.edges.iter().map(|&(p, c)| [&attrs[p], &attrs[c]]).collect::<Vec<_>>(),
        "marginals": marginals.iter().map(|(_, p)| p.query_id.as_str()).collect::<Vec<_>>(),
    })
    .to_string();
    let query_id = sha256_hex(canonical.as_bytes());
    Ok(SyntheticPlan {
        attributes: attrs.clone(),
        tree,
        marginals,
        canonical,
        query_id,
    })
}

fn parse_request(body: &[u8]) -> Result<SyntheticRequest, ReleaseError> {
    serde_json::from_slice(body)
        .map_err(|e| ReleaseError::InvalidBody(format!("invalid JSON body: {e}")))
}

/// `POST /v1/synthetic`: validate, plan, replay an idempotent retry, or
/// release the marginals and draw the records.
pub async fn release_synthetic(
    pipeline: &Pipeline,
    consumer: &Consumer,
    body: &[u8],
    idempotency_key: Option<&str>,
    format: Format,
) -> Result<Released, ReleaseError> {
    let result = release_inner(pipeline, consumer, body, idempotency_key, format).await;
    ledger_if_refused(pipeline, consumer, result).await
}

async fn release_inner(
    pipeline: &Pipeline,
    consumer: &Consumer,
    body: &[u8],
    idempotency_key: Option<&str>,
    format: Format,
) -> Result<Released, Refused> {
    let policy = &pipeline.policy;
    let request = parse_request(body).map_err(Refused::bare)?;
    let sp = plan_synthetic(policy, consumer, &request).map_err(Refused::bare)?;
    let plans = sp.plans();
    let answer = release_or_replay(
        pipeline,
        consumer,
        &plans,
        (&sp.canonical, &sp.query_id),
        body,
        idempotency_key,
        format,
        |charged| render::render(policy, &sp, charged, format),
    )
    .await?;
    let bytes = match answer {
        Answer::Replayed(done) => return Ok(done),
        Answer::Released(receipts, bytes) => {
            tracing::info!(
                consumer = %consumer.id,
                query_id = %sp.query_id,
                marginals = receipts.len(),
                charged_micro = receipts.iter().map(|r| r.charged.micro()).sum::<u64>(),
                "synthetic"
            );
            bytes
        }
    };
    Ok(Released {
        content_type: format.content_type().into(),
        body: bytes,
        replayed: false,
    })
}

/// The consistent estimate of the marginals from their noisy counts, with
/// nothing suppressed (the records reproduce every cell anyway).
fn reconcile(
    sp: &SyntheticPlan,
    keys: &[Vec<CellKey>],
    noisy: &[Vec<i64>],
) -> Result<Vec<consistent::Output>, consistent::Error> {
    let inputs: Vec<Input<'_>> = sp
        .marginals
        .iter()
        .zip(keys)
        .zip(noisy)
        .map(|(((_, plan), keys), noisy)| Input { plan, keys, noisy })
        .collect();
    consistent::estimate(&inputs, 0)
}

/// `POST /v1/synthetic/estimate`: cost, cells, margins and
/// affordability; charges nothing, reads no case.
pub async fn estimate(
    pipeline: &Pipeline,
    consumer: &Consumer,
    body: &[u8],
) -> Result<SyntheticEstimate, ReleaseError> {
    let policy = &pipeline.policy;
    let request = parse_request(body)?;
    let sp = plan_synthetic(policy, consumer, &request)?;
    let data = crate::release::DataView::current(pipeline);
    let ids: Vec<String> = sp
        .marginals
        .iter()
        .map(|(_, p)| data.release_key(p))
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let outlook = pipeline
        .store
        .outlook(&policy.dataset, &consumer.id, &refs)
        .await?;
    let costs: Vec<Amount> = sp.marginals.iter().map(|(_, p)| p.cost).collect();
    let items = outlook.charges(&costs);
    let arithmetic = |e| ReleaseError::internal("adding up an estimate", e);
    let would_charge = compose_amounts(items.iter().map(|i| i.consumer)).map_err(arithmetic)?;
    let budget = outlook.consumer_budget(policy.role_budget(consumer.role));
    // The margins of the consistent estimate depend on the structure only.
    let keys: Vec<Vec<CellKey>> = sp
        .marginals
        .iter()
        .map(|(_, p)| CellKey::all(&p.query))
        .collect();
    let zeros: Vec<Vec<i64>> = keys.iter().map(|k| vec![0; k.len()]).collect();
    let outputs = reconcile(&sp, &keys, &zeros)
        .map_err(|e| ReleaseError::internal("estimating consistent margins", e))?;
    let cost = sp.cost()?;
    Ok(render::estimate_view(
        policy,
        &sp,
        &outputs,
        render::EstimateFigures {
            cost,
            cost_approx_dp: approx_dp(policy, cost),
            would_charge,
            affordable: budget.try_debit(would_charge).is_ok(),
            global_affordable: global_affordable(&outlook.global, cost),
            budget: budget_view(policy, budget),
        },
    ))
}
