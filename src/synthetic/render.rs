//! The answer of a synthetic release and of its estimate: the records
//! (CSV) drawn from the consistent marginals, and the description of how
//! they were made (the tree, the budget split, the published marginals
//! with their margins, the unit of privacy, the method).

use super::sample::{self, EdgeTable};
use super::{METHOD, METHOD_VERSION, Role, SyntheticPlan, reconcile};
use crate::domain::budget::{Amount, compose_amounts};
use crate::policy::{Policy, PrivacyUnit};
use crate::release::views::{ApproxDp, BudgetView, MechanismView};
use crate::release::{
    CellKey, Charged, Format, StoredRelease, approx_dp, budget_view, consistent, mechanism_view,
    query::sha256_hex,
};
use serde::Serialize;

/// A rendering step's result: a failure after the charge is an error, never an empty answer.
type Rendered<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// An edge of the tree.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TreeEdge {
    pub parent: String,
    pub child: String,
}

/// How the cost was shared.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BudgetSplit {
    /// `epsilon` (pure DP) or `rho` (zCDP).
    pub unit: &'static str,
    /// The sum of the marginals' costs (the requested cost, rounded down
    /// to a multiple of the marginals' number of micro-units).
    pub total: f64,
    pub marginals: usize,
    /// Each marginal's equal share.
    pub per_marginal: f64,
}

/// One cell of a published marginal.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SyntheticCell {
    #[schema(value_type = Object, example = json!({"gender": "woman", "age_broad": "18-20"}))]
    pub key: CellKey,
    /// The consistent count: the records hold exactly this many.
    pub count: i64,
    /// With probability `confidence`, |count - true count| <= margin_of_error.
    pub margin_of_error: u64,
}

/// One published marginal: a one-way table or a tree edge's two-way table.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SyntheticMarginal {
    pub attributes: Vec<String>,
    /// `one_way` or `tree_edge`.
    pub kind: &'static str,
    /// The marginal's own query and release: the same as the equivalent `POST /v1/counts`.
    pub query_id: String,
    pub release_id: String,
    pub cost: f64,
    pub mechanism: MechanismView,
    pub cells: Vec<SyntheticCell>,
}

/// The method, for citation and reproduction.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MethodView {
    pub name: &'static str,
    pub version: &'static str,
    /// How the noisy marginals were made consistent.
    pub consistency: &'static str,
}

/// Answer of `POST /v1/synthetic` (JSON).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SyntheticResponse {
    pub dataset: String,
    /// SHA-256 of the request's canonical form.
    pub query_id: String,
    /// Identifies this data set: the same for the same request on the same data.
    pub release_id: String,
    pub data_version: i64,
    pub attributes: Vec<String>,
    pub tree: Vec<TreeEdge>,
    /// The number of records: the consistent noisy total, never the true one.
    pub records: u64,
    /// The records as CSV, one column per attribute (value codes of `GET /v1/catalog`).
    pub records_csv: String,
    /// The published marginals (the release; the records are their post-processing).
    pub marginals: Vec<SyntheticMarginal>,
    pub total_margin_of_error: u64,
    pub budget_split: BudgetSplit,
    pub cost: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_approx_dp: Option<ApproxDp>,
    pub unit_of_privacy: PrivacyUnit,
    /// What this request charged you (marginals you had paid for are free).
    pub charged: f64,
    pub repeat: bool,
    pub confidence: f64,
    pub method: MethodView,
    pub budget: BudgetView,
    pub notes: Vec<String>,
}

/// A marginal of a synthetic estimate.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SyntheticEstimateMarginal {
    pub attributes: Vec<String>,
    pub kind: &'static str,
    pub cells: usize,
    pub cost: f64,
    /// The margin of one cell of this marginal released alone.
    pub margin_of_error: u64,
    /// The largest margin of a cell of the consistent estimate.
    pub consistent_margin_of_error: Option<u64>,
}

/// Answer of `POST /v1/synthetic/estimate`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SyntheticEstimate {
    pub dataset: String,
    pub query_id: String,
    pub attributes: Vec<String>,
    pub tree: Vec<TreeEdge>,
    pub marginals: Vec<SyntheticEstimateMarginal>,
    /// Cells of all marginals together.
    pub cells: usize,
    pub budget_split: BudgetSplit,
    pub cost: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_approx_dp: Option<ApproxDp>,
    pub unit_of_privacy: PrivacyUnit,
    /// What you would be charged now (marginals you already paid for are free).
    pub would_charge: f64,
    pub unit: &'static str,
    pub confidence: f64,
    pub affordable: bool,
    /// Whether the dataset's remaining budget covers the cost, read in bands
    /// of a tenth of its limit (as for counts).
    pub global_affordable: bool,
    pub budget: BudgetView,
}

/// The figures of an estimate that come from the budgets.
pub(super) struct EstimateFigures {
    pub cost: Amount,
    pub cost_approx_dp: Option<ApproxDp>,
    pub would_charge: Amount,
    pub affordable: bool,
    pub global_affordable: bool,
    pub budget: BudgetView,
}

fn kind(role: Role) -> &'static str {
    match role {
        Role::OneWay(_) => "one_way",
        Role::Edge(..) => "tree_edge",
    }
}

fn tree_view(sp: &SyntheticPlan) -> Vec<TreeEdge> {
    sp.tree
        .edges
        .iter()
        .map(|&(p, c)| TreeEdge {
            parent: sp.attributes[p].clone(),
            child: sp.attributes[c].clone(),
        })
        .collect()
}

fn split(policy: &Policy, sp: &SyntheticPlan, total: Amount) -> BudgetSplit {
    BudgetSplit {
        unit: policy.budget_unit(),
        total: total.to_f64(),
        marginals: sp.marginals.len(),
        per_marginal: sp.marginals.first().map_or(0.0, |(_, p)| p.cost.to_f64()),
    }
}

fn names(plan: &crate::release::Plan) -> Vec<String> {
    plan.query
        .dimensions
        .iter()
        .map(|d| d.name.clone())
        .collect()
}

pub(super) fn estimate_view(
    policy: &Policy,
    sp: &SyntheticPlan,
    outputs: &[consistent::Output],
    f: EstimateFigures,
) -> SyntheticEstimate {
    SyntheticEstimate {
        dataset: policy.dataset.clone(),
        query_id: sp.query_id.clone(),
        attributes: sp.attributes.clone(),
        tree: tree_view(sp),
        marginals: sp
            .marginals
            .iter()
            .zip(outputs)
            .map(|((role, p), o)| SyntheticEstimateMarginal {
                attributes: names(p),
                kind: kind(*role),
                cells: p.query.cells,
                cost: p.cost.to_f64(),
                margin_of_error: p.margin,
                consistent_margin_of_error: o.margins.iter().copied().max(),
            })
            .collect(),
        cells: sp.marginals.iter().map(|(_, p)| p.query.cells).sum(),
        budget_split: split(policy, sp, f.cost),
        cost: f.cost.to_f64(),
        cost_approx_dp: f.cost_approx_dp,
        unit_of_privacy: policy.unit,
        would_charge: f.would_charge.to_f64(),
        unit: policy.budget_unit(),
        confidence: sp
            .marginals
            .first()
            .map_or(0.95, |(_, p)| p.query.confidence),
        affordable: f.affordable,
        global_affordable: f.global_affordable,
        budget: f.budget,
    }
}

/// The seed of the records: from the release's identity, so the same
/// request on the same data draws the same records (the seed is public:
/// the records are a function of the published marginals).
fn seed(release_id: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(format!("ctm-synthetic-records:{release_id}").as_bytes()).into()
}

/// Draws the records from the consistent marginals; returns them as CSV
/// and their number.
fn records_csv(
    sp: &SyntheticPlan,
    outputs: &[consistent::Output],
    release_id: &str,
) -> Rendered<(Vec<u8>, u64)> {
    let n = sp.attributes.len();
    // Each attribute's domain, from its one-way marginal.
    let mut values: Vec<Vec<String>> = vec![Vec::new(); n];
    for ((role, p), _) in sp.marginals.iter().zip(outputs) {
        if let Role::OneWay(a) = role {
            values[*a] = p.query.dimensions[0].values.clone();
        }
    }
    let domains: Vec<usize> = values.iter().map(Vec::len).collect();
    let root = sp.tree.order[0];
    let mut root_counts = None;
    let mut edges = Vec::new();
    for ((role, p), o) in sp.marginals.iter().zip(outputs) {
        match *role {
            Role::OneWay(a) if a == root => root_counts = Some(o.values.clone()),
            Role::OneWay(_) => {}
            Role::Edge(parent, child) => {
                let dims = &p.query.dimensions;
                if dims.len() != 2
                    || dims[0].values != values[parent]
                    || dims[1].values != values[child]
                {
                    return Err(
                        "an edge's domains differ from its attributes' one-way tables".into(),
                    );
                }
                edges.push(EdgeTable {
                    parent,
                    child,
                    counts: o.values.clone(),
                });
            }
        }
    }
    let root_counts = root_counts.ok_or("no one-way table of the root")?;
    let columns = sample::draw(&domains, root, &root_counts, &edges, seed(release_id))?;
    let records = columns.first().map_or(0, Vec::len);
    let mut w = csv::Writer::from_writer(Vec::with_capacity(records * n * 8));
    w.write_record(&sp.attributes)?;
    let mut row: Vec<&str> = vec![""; n];
    for r in 0..records {
        for a in 0..n {
            row[a] = values[a][columns[a][r] as usize].as_str();
        }
        w.write_record(&row)?;
    }
    Ok((w.into_inner().map_err(|e| e.into_error())?, records as u64))
}

/// Builds the answer from the receipts of the marginals' charge.
pub(super) fn render(
    policy: &Policy,
    sp: &SyntheticPlan,
    charged: &Charged<'_>,
    format: Format,
) -> crate::budget::RenderResult {
    if charged.receipts.len() != sp.marginals.len() {
        return Err("receipts do not match the marginals".into());
    }
    let keys: Vec<Vec<CellKey>> = sp
        .marginals
        .iter()
        .map(|(_, p)| CellKey::all(&p.query))
        .collect();
    let noisy: Vec<Vec<i64>> = charged
        .receipts
        .iter()
        .zip(&sp.marginals)
        .map(|(r, (_, p))| {
            StoredRelease::read(&r.release_body, p)?
                .noisy
                .ok_or_else(|| "a marginal stored without its noisy counts".into())
        })
        .collect::<Rendered<_>>()?;
    let outputs = reconcile(sp, &keys, &noisy)?;
    let release_id = sha256_hex(
        [sp.query_id.as_str()]
            .into_iter()
            .chain(charged.release_ids.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(",")
            .as_bytes(),
    );
    let (csv, records) = records_csv(sp, &outputs, &release_id)?;
    if format == Format::Csv {
        return Ok(csv);
    }
    let cost = compose_amounts(sp.marginals.iter().map(|(_, p)| p.cost))?;
    let paid = compose_amounts(charged.receipts.iter().map(|r| r.charged))?;
    let out = SyntheticResponse {
        dataset: policy.dataset.clone(),
        query_id: sp.query_id.clone(),
        release_id,
        data_version: charged.data_version,
        attributes: sp.attributes.clone(),
        tree: tree_view(sp),
        records,
        records_csv: String::from_utf8(csv)?,
        marginals: sp
            .marginals
            .iter()
            .zip(&outputs)
            .zip(keys)
            .zip(charged.release_ids)
            .map(|(((( role, p), o), keys), id)| SyntheticMarginal {
                attributes: names(p),
                kind: kind(*role),
                query_id: p.query_id.clone(),
                release_id: id.clone(),
                cost: p.cost.to_f64(),
                mechanism: mechanism_view(&p.mechanism, p.sensitivity),
                cells: keys
                    .into_iter()
                    .zip(&o.values)
                    .zip(&o.margins)
                    .map(|((key, &count), &margin_of_error)| SyntheticCell {
                        key,
                        count,
                        margin_of_error,
                    })
                    .collect(),
            })
            .collect(),
        total_margin_of_error: outputs.first().map_or(0, |o| o.total_margin),
        budget_split: split(policy, sp, cost),
        cost: cost.to_f64(),
        cost_approx_dp: approx_dp(policy, cost),
        unit_of_privacy: policy.unit,
        charged: paid.to_f64(),
        repeat: charged.receipts.iter().all(|r| r.replay),
        confidence: sp.marginals.first().map_or(0.95, |(_, p)| p.query.confidence),
        method: MethodView {
            name: METHOD,
            version: METHOD_VERSION,
            consistency: consistent::METHOD,
        },
        budget: budget_view(
            policy,
            charged.receipts.first().map(|r| r.budget).ok_or("no receipt")?,
        ),
        notes: vec![
            "synthetic records: no record is a real person; they are drawn from the published marginals, which are the release (noisy counts of every cell of the public domain, made consistent: one total, agreeing on shared attributes, non-negative integers)".into(),
            "the records reproduce every published marginal exactly: each attribute's counts and the two-way counts of every tree edge".into(),
            "relations between attributes not joined by a tree edge are only approximated: they are drawn as independent given the tree path between them, so cross-tabulations off the tree may show weaker (or no) associations than the real data".into(),
            "the number of records is the noisy total, not the true number of cases; the margins of error state how far each published count may be from the truth".into(),
            "each marginal is the same release as a POST /v1/counts of it at its share of the cost; a repeat of this request on the same data is free and byte-identical".into(),
        ],
    };
    Ok(serde_json::to_vec(&out)?)
}
