//! What a release says: the response types of counts and estimates, and
//! the views of a mechanism and a budget that national answers share.

use crate::domain::budget::{Amount, Budget, Rho};
use crate::policy::{Accounting, Policy, PrivacyUnit};
use crate::privacy::{self, CountMechanism};
use crate::release::query::CountQuery;
use serde::Serialize;
use std::sync::Arc;

/// The dimension values of one cell, in the query's dimension order.
/// Serialised as a JSON object `{dimension: value}` with dimensions in
/// alphabetical order. Cells share the strings and that order: a response
/// of many cells allocates one small vector each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellKey {
    pairs: Vec<(Arc<str>, Arc<str>)>,
    /// Positions of `pairs` in alphabetical order of the dimension names.
    sorted: Arc<[usize]>,
}

impl Serialize for CellKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.pairs.len()))?;
        for &i in self.sorted.iter() {
            let (dimension, value) = &self.pairs[i];
            map.serialize_entry(&**dimension, &**value)?;
        }
        map.end()
    }
}

impl CellKey {
    /// The keys of every cell of `query`, row-major in dimension order: the
    /// engine's order, and the order of a stored release's cells once
    /// [`crate::release::query::CountQuery::cells_in_request_order`] has put
    /// them in the request's order. The one listing of a query's cells.
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
        let sorted: Arc<[usize]> = order.into();
        let sizes: Vec<usize> = dims.iter().map(|d| d.1.len()).collect();
        let cells: usize = sizes.iter().product();
        let mut digits = vec![0usize; sizes.len()];
        let mut keys = Vec::with_capacity(cells);
        for _ in 0..cells {
            keys.push(CellKey {
                pairs: dims
                    .iter()
                    .zip(&digits)
                    .map(|((name, values), &i)| (Arc::clone(name), Arc::clone(&values[i])))
                    .collect(),
                sorted: Arc::clone(&sorted),
            });
            // The next cell: the last dimension varies fastest.
            for (d, n) in sizes.iter().enumerate().rev() {
                digits[d] += 1;
                if digits[d] < *n {
                    break;
                }
                digits[d] = 0;
            }
        }
        keys
    }

    /// The value of the dimension at `position` in the query's order.
    pub fn value(&self, position: usize) -> Option<&str> {
        self.pairs.get(position).map(|(_, v)| &**v)
    }

    /// The values in the query's dimension order.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(_, v)| &**v)
    }
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

/// The (ε, δ) reading of an amount of ρ under a zCDP policy; `None` under pure DP.
pub fn approx_dp(policy: &Policy, amount: Amount) -> Option<ApproxDp> {
    approx_epsilon(policy, amount).map(|epsilon| ApproxDp {
        delta: policy.delta,
        epsilon,
    })
}

fn approx_epsilon(policy: &Policy, amount: Amount) -> Option<f64> {
    match policy.accounting {
        Accounting::Pure => None,
        Accounting::Zcdp => {
            crate::domain::budget::zcdp_to_approx_dp(Rho::from_micro(amount.micro()), policy.delta)
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
pub fn budget_view(policy: &Policy, budget: Budget<Amount>) -> BudgetView {
    let Budget { spent, limit } = budget;
    BudgetView {
        unit: policy.budget_unit(),
        spent: spent.to_f64(),
        limit: limit.to_f64(),
        remaining: budget.remaining().to_f64(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Consumer, Role};
    use crate::release::query::CountRequest;

    #[test]
    fn cell_keys_show_every_cell_in_engine_order_with_sorted_dimensions() {
        let policy =
            crate::policy::parse_policy("default.toml", include_str!("../../policy/default.toml"))
                .expect("default policy");
        let consumer = Consumer {
            id: "r".into(),
            role: Role::Researcher,
            country: None,
            region: None,
        };
        let request: CountRequest = serde_json::from_str(
            r#"{"dimensions":["gender","age_broad","type_of_exploitation"],"epsilon":0.5}"#,
        )
        .expect("request");
        let query = CountQuery::parse(&policy, &consumer, &request).expect("query");
        let keys = CellKey::all(&query);
        // Row-major in the query's dimension order: the last dimension varies fastest.
        let mut expected: Vec<Vec<&str>> = vec![Vec::new()];
        for d in &query.dimensions {
            expected = expected
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
        assert_eq!(keys.len(), expected.len());
        for (key, values) in keys.iter().zip(&expected) {
            assert_eq!(&key.values().collect::<Vec<_>>(), values);
            // The same object the JSON map of names to values gives (sorted keys).
            let object: serde_json::Map<String, serde_json::Value> = query
                .dimensions
                .iter()
                .zip(values)
                .map(|(d, v)| (d.name.clone(), serde_json::Value::String((*v).to_owned())))
                .collect();
            assert_eq!(
                serde_json::to_string(key).expect("json"),
                serde_json::to_string(&object).expect("json")
            );
        }
    }
}
