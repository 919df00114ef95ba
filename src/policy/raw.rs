//! The policy file as written: the TOML sections deserialised, every value
//! still unchecked. Each struct refuses unknown keys, and the values a check
//! may refuse keep their span, so that an error names its line.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub dataset: Spanned<String>,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub privacy: RawPrivacy,
    pub budgets: BTreeMap<String, Spanned<f64>>,
    pub limits: RawLimits,
    #[serde(default)]
    pub output: RawOutput,
    pub dimensions: Vec<RawDimension>,
    #[serde(default)]
    pub tables: Vec<RawTable>,
    #[serde(default)]
    pub regions: Vec<RawRegion>,
    #[serde(default)]
    pub bilateral: Option<RawBilateral>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegion {
    pub id: Spanned<String>,
    pub name: String,
    pub members: Spanned<Vec<String>>,
    /// SDMX `REF_AREA` code; default: the id in upper case.
    #[serde(default)]
    pub code: Option<Spanned<String>>,
    /// Cost of each flow table; default: `privacy.default`.
    #[serde(default)]
    pub flow_cost: Option<Spanned<f64>>,
    /// Whether the report has the flows between members and the rest of the world.
    #[serde(default)]
    pub outside_flows: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBilateral {
    /// Cost of each direction of a bilateral flow.
    pub cost: Spanned<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrivacy {
    pub accounting: Spanned<String>,
    #[serde(default)]
    pub unit: Option<Spanned<String>>,
    #[serde(default)]
    pub delta: Option<Spanned<f64>>,
    pub k: Spanned<i64>,
    #[serde(default)]
    pub max_cases_per_person: Option<Spanned<i64>>,
    pub default: Spanned<f64>,
    pub min: Spanned<f64>,
    pub max: Spanned<f64>,
    pub grid: Spanned<f64>,
    pub confidence: Spanned<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub max_dimensions: Spanned<i64>,
    pub max_cells: Spanned<i64>,
    pub max_body_bytes: Spanned<i64>,
    pub requests_per_minute: Spanned<i64>,
    /// Longest token lifetime the service accepts (hours; a year if unset).
    pub max_token_hours: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutput {
    #[serde(default = "yes")]
    pub clamp_negative: bool,
    #[serde(default)]
    pub round_to: Option<Spanned<i64>>,
}

impl Default for RawOutput {
    fn default() -> Self {
        RawOutput {
            clamp_negative: true,
            round_to: None,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDimension {
    pub name: Spanned<String>,
    #[serde(default)]
    pub field: Option<Spanned<String>>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub values: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub from: Option<Spanned<i64>>,
    #[serde(default)]
    pub to: Option<Spanned<i64>>,
    #[serde(default)]
    pub max_values_per_case: Option<Spanned<i64>>,
    pub roles: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTable {
    pub id: Spanned<String>,
    pub title: String,
    pub dimensions: Spanned<Vec<String>>,
    pub cost: Spanned<f64>,
    /// Default: both country fields.
    #[serde(default)]
    pub perspectives: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub total: Option<Spanned<bool>>,
}
