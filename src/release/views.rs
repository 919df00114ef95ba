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
/// alphabetical order. The cells of a query share their dimensions' names,
/// values and JSON ([`KeyDims`]); a cell holds only its value positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellKey {
    dims: Arc<KeyDims>,
    /// Per dimension (query order), the position of this cell's value.
    at: Box<[u32]>,
}

/// What the cells of one query share.
#[derive(Debug, PartialEq, Eq)]
struct KeyDims {
    /// Per dimension (query order): its name and values.
    names: Vec<String>,
    values: Vec<Vec<String>>,
    /// Dimension positions in alphabetical order of their names.
    sorted: Vec<usize>,
    /// Per dimension and value: `"name":"value"`, escaped once for all cells.
    json: Vec<Vec<String>>,
}

impl Serialize for CellKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.at.len()))?;
        for &d in &self.dims.sorted {
            map.serialize_entry(
                &self.dims.names[d],
                &self.dims.values[d][self.at[d] as usize],
            )?;
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
        CellKey::grid(
            query
                .dimensions
                .iter()
                .map(|d| (d.name.clone(), d.values.clone()))
                .collect(),
        )
    }

    /// Every cell of the dimensions `dims` (name and values, in order).
    fn grid(dims: Vec<(String, Vec<String>)>) -> Vec<CellKey> {
        let mut sorted: Vec<usize> = (0..dims.len()).collect();
        sorted.sort_by(|&a, &b| dims[a].0.cmp(&dims[b].0));
        let json = dims
            .iter()
            .map(|(name, values)| values.iter().map(|v| json_pair(name, v)).collect())
            .collect();
        let (names, values): (Vec<String>, Vec<Vec<String>>) = dims.into_iter().unzip();
        let sizes: Vec<usize> = values.iter().map(Vec::len).collect();
        let shared = Arc::new(KeyDims {
            names,
            values,
            sorted,
            json,
        });
        let cells: usize = sizes.iter().product();
        let mut digits = vec![0u32; sizes.len()];
        let mut keys = Vec::with_capacity(cells);
        for _ in 0..cells {
            keys.push(CellKey {
                dims: Arc::clone(&shared),
                at: digits.as_slice().into(),
            });
            // The next cell: the last dimension varies fastest.
            for (d, n) in sizes.iter().enumerate().rev() {
                digits[d] += 1;
                if (digits[d] as usize) < *n {
                    break;
                }
                digits[d] = 0;
            }
        }
        keys
    }

    /// The value of the dimension at `position` in the query's order.
    pub fn value(&self, position: usize) -> Option<&str> {
        let at = *self.at.get(position)? as usize;
        self.dims.values.get(position)?.get(at).map(String::as_str)
    }

    /// The values in the query's dimension order.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.at
            .iter()
            .zip(&self.dims.values)
            .map(|(&at, values)| values[at as usize].as_str())
    }

    /// Appends the JSON of this key to `out`: what its [`Serialize`] gives,
    /// from fragments escaped once per query instead of once per cell.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, &d) in self.dims.sorted.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(self.dims.json[d][self.at[d] as usize].as_bytes());
        }
        out.push(b'}');
    }
}

/// `"name":"value"` as JSON (both strings escaped).
fn json_pair(name: &str, value: &str) -> String {
    let mut out = json_string(name);
    out.push(':');
    out.push_str(&json_string(value));
    out
}

fn json_string(s: &str) -> String {
    // Serialising a string cannot fail; the fallback is never taken.
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
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

impl CountResponse {
    /// The JSON of this response: byte for byte what its [`Serialize`]
    /// gives (a test holds the two equal), written faster. A response is
    /// mostly cells, and serde would escape every dimension name and value of
    /// every cell again; here each cell is copied from fragments escaped once
    /// per query ([`CellKey::write_json`]).
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::with_capacity(1024 + 112 * self.cells.len());
        let mut o = JsonObject::begin(&mut out);
        o.field("dataset", &self.dataset)?;
        o.field("query_id", &self.query_id)?;
        o.field("release_id", &self.release_id)?;
        o.field("data_version", &self.data_version)?;
        o.field("dimensions", &self.dimensions)?;
        o.name("cells")?;
        write_cells(o.out, &self.cells);
        o.field("cost", &self.cost)?;
        if let Some(a) = &self.cost_approx_dp {
            o.field("cost_approx_dp", a)?;
        }
        o.field("unit_of_privacy", &self.unit_of_privacy)?;
        o.field("charged", &self.charged)?;
        o.field("repeat", &self.repeat)?;
        o.field("mechanism", &self.mechanism)?;
        o.field("confidence", &self.confidence)?;
        o.field("k", &self.k)?;
        o.field("clamp_negative", &self.clamp_negative)?;
        o.field("round_to", &self.round_to)?;
        o.field("budget", &self.budget)?;
        o.field("ledger_seq", &self.ledger_seq)?;
        o.field("notes", &self.notes)?;
        o.end();
        Ok(out)
    }
}

/// Appends `cells` as a JSON array, as serde would write `Vec<CellOut>`.
pub fn write_cells(out: &mut Vec<u8>, cells: &[CellOut]) {
    let mut digits = itoa::Buffer::new();
    out.push(b'[');
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"key\":");
        cell.key.write_json(out);
        out.extend_from_slice(b",\"count\":");
        match cell.count {
            Some(n) => out.extend_from_slice(digits.format(n).as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(if cell.suppressed {
            b",\"suppressed\":true,\"margin_of_error\":"
        } else {
            b",\"suppressed\":false,\"margin_of_error\":"
        });
        out.extend_from_slice(digits.format(cell.margin_of_error).as_bytes());
        out.push(b'}');
    }
    out.push(b']');
}

/// Writes a JSON object field by field, in the caller's order.
struct JsonObject<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> JsonObject<'a> {
    fn begin(out: &'a mut Vec<u8>) -> JsonObject<'a> {
        out.push(b'{');
        JsonObject { out, first: true }
    }

    /// The next field's name; its value is the caller's to write.
    fn name(&mut self, name: &str) -> Result<(), serde_json::Error> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        serde_json::to_writer(&mut *self.out, name)?;
        self.out.push(b':');
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(
        &mut self,
        name: &str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        self.name(name)?;
        serde_json::to_writer(&mut *self.out, value)
    }

    fn end(self) {
        self.out.push(b'}');
    }
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
    /// Whether the dataset's remaining budget covers the cost rounded up to
    /// a tenth of its limit (read in bands, as if the release were new).
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

    use crate::release::query::CountRequest;

    #[test]
    fn cell_keys_show_every_cell_in_engine_order_with_sorted_dimensions() {
        let policy = crate::testing::shipped_policy();
        let consumer = crate::testing::researcher();
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

    fn response(keys: Vec<CellKey>, approx: Option<ApproxDp>, notes: Vec<String>) -> CountResponse {
        let cells = keys
            .into_iter()
            .enumerate()
            .map(|(i, key)| {
                let count = match i % 3 {
                    0 => None,
                    1 => Some(i as i64 * 37),
                    _ => Some(-(i as i64)),
                };
                CellOut {
                    key,
                    count,
                    suppressed: count.is_none(),
                    margin_of_error: 12 + i as u64,
                }
            })
            .collect();
        CountResponse {
            dataset: "ctm \"test\" \u{e9}".into(),
            query_id: "q".repeat(64),
            release_id: "r".repeat(64),
            data_version: 3,
            dimensions: vec!["gender".into(), "age_broad".into()],
            cells,
            cost: 0.1 + 0.2,
            cost_approx_dp: approx.clone(),
            unit_of_privacy: PrivacyUnit::Person,
            charged: 1e-7,
            repeat: false,
            mechanism: MechanismView {
                name: "discrete_laplace",
                scale: "20/3".into(),
                sensitivity: 3,
            },
            confidence: 0.95,
            k: 10,
            clamp_negative: true,
            round_to: 5,
            budget: BudgetView {
                unit: "epsilon",
                spent: 1.5,
                limit: 10.0,
                remaining: 8.5,
                approx_dp: approx.as_ref().map(|a| BudgetApproxDp {
                    delta: a.delta,
                    spent_epsilon: 0.25,
                    limit_epsilon: f64::MAX,
                }),
            },
            ledger_seq: i64::MAX,
            notes,
        }
    }

    #[test]
    fn the_fast_writer_writes_what_serde_writes() {
        // Names and values that need escaping, and unicode.
        let keys = CellKey::grid(vec![
            ("zeta \"q\"".into(), vec!["a\\b".into(), "\u{1}".into()]),
            (
                "alpha".into(),
                vec!["\u{e9}t\u{e9}".into(), "x/y".into(), "\n".into()],
            ),
            ("mid".into(), vec!["0-8".into()]),
        ]);
        for key in &keys {
            let mut fast = Vec::new();
            key.write_json(&mut fast);
            assert_eq!(fast, serde_json::to_vec(key).expect("json"));
        }
        let approx = Some(ApproxDp {
            delta: 1e-9,
            epsilon: 2.5,
        });
        for (approx, notes) in [
            (None, vec![]),
            (
                approx,
                vec!["one".to_string(), "two \"quoted\"".to_string()],
            ),
        ] {
            let resp = response(keys.clone(), approx, notes);
            assert_eq!(
                String::from_utf8(resp.to_json().expect("fast")).expect("utf-8"),
                serde_json::to_string(&resp).expect("serde")
            );
        }
        let empty = response(Vec::new(), None, vec![]);
        assert_eq!(
            empty.to_json().expect("fast"),
            serde_json::to_vec(&empty).expect("serde")
        );
    }
}
