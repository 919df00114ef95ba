//! `GET /v1/catalog`: public metadata of the dataset. Never a count.

use crate::api::AppState;
use crate::error::ApiError;
use crate::policy::Accounting;
use actix_web::get;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Catalog {
    pub datasets: Vec<DatasetInfo>,
    /// The languages of every `labels` object, e.g. `["en"]`.
    pub languages: Vec<String>,
    /// Every ISO 3166-1 country by alpha-3 code (the code every count,
    /// CSV and SDMX file uses): its numeric code and its name per language.
    /// (`unknown` is not a country: its label is with each dimension's values.)
    pub countries: BTreeMap<String, CountryInfo>,
}

/// An ISO 3166-1 country's numeric code and names.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({"numeric": "004", "en": "Afghanistan"}))]
pub struct CountryInfo {
    /// ISO 3166-1 numeric code, three digits (`004`): how map data names it.
    pub numeric: String,
    /// Its name by language code, e.g. `"en": "Afghanistan"`.
    #[serde(flatten)]
    pub names: BTreeMap<String, String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DatasetInfo {
    pub id: String,
    pub title: String,
    pub description: String,
    pub data_version: i64,
    pub accounting: Accounting,
    /// `discrete_laplace` (pure) or `discrete_gaussian` (zCDP).
    pub mechanism: &'static str,
    /// `epsilon` or `rho`.
    pub unit: &'static str,
    /// Whose privacy epsilon (or rho) is per: `person` (with all of their
    /// cases, at most `max_cases_per_person` of them counted) or `case` (one
    /// case record; a person with several records gets less protection).
    pub unit_of_privacy: crate::policy::PrivacyUnit,
    pub k: u64,
    pub max_cases_per_person: u64,
    pub cost: CostInfo,
    /// zCDP only: costs and budgets read as (epsilon, delta)-DP at the policy's delta.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approx_dp: Option<CatalogApproxDp>,
    pub default_confidence: f64,
    pub max_dimensions: usize,
    pub max_cells: usize,
    pub clamp_negative: bool,
    pub round_to: u64,
    pub role_budgets: serde_json::Map<String, serde_json::Value>,
    pub dimensions: Vec<DimensionInfo>,
    pub national_tables: Vec<TableInfo>,
    /// Regions whose figures regional partners read at `/v1/regional/{id}`.
    pub regions: Vec<RegionInfo>,
    /// Cost of each direction of a bilateral flow; null when not offered.
    pub bilateral_cost: Option<f64>,
}

/// A region of the policy.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegionInfo {
    #[serde(flatten)]
    pub region: crate::national::RegionView,
    /// Its flow tables, released with its report.
    pub flow_tables: Vec<TableInfo>,
    /// Its name by language code, e.g. `"en": "Greater Mekong Sub-region (COMMIT)"`.
    pub labels: BTreeMap<String, String>,
}

/// A zCDP dataset's amounts read as (ε, δ)-DP: `ε = ρ + 2·sqrt(ρ·ln(1/δ))`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CatalogApproxDp {
    pub delta: f64,
    /// Epsilon of the default, smallest and largest cost of one release.
    pub cost_epsilon: CostInfo,
    /// Epsilon of each role's lifetime budget.
    pub role_budgets_epsilon: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CostInfo {
    pub default: f64,
    pub min: f64,
    pub max: f64,
    /// Accuracy-driven queries pick the smallest multiple of this step.
    pub grid: f64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DimensionInfo {
    pub name: String,
    pub description: String,
    /// `single` or `multi` (a case may have several values; only cases where the group is known count).
    pub kind: &'static str,
    /// Most values one case contributes (multi-valued dimensions).
    pub max_values_per_case: u64,
    /// The public value domain: every count has one cell per value.
    pub values: Vec<String>,
    pub roles: Vec<crate::domain::Role>,
    /// Human labels by language code (`en`). Codes stay the identifiers
    /// (in queries, answers, CSV and SDMX); labels are for people.
    pub labels: BTreeMap<String, DimensionLabels>,
}

/// A dimension's labels in one language.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({"name": "Gender", "values": {"woman": "Woman", "man": "Man",
    "trans_nonconforming": "Transgender / gender non-conforming", "unknown": "Unknown"}}))]
pub struct DimensionLabels {
    /// The dimension's name, e.g. `Gender`.
    pub name: String,
    /// A label for every code of the dimension's `values`, by code (a year
    /// is its own label; a country's is its name).
    pub values: BTreeMap<String, String>,
}

impl DimensionLabels {
    fn by_language(d: &crate::policy::Dimension) -> BTreeMap<String, DimensionLabels> {
        use crate::domain::labels;
        labels::Lang::ALL
            .iter()
            .map(|&lang| {
                let values = d
                    .value_codes()
                    .into_iter()
                    .map(|code| {
                        let label = labels::value_label(lang, d.field, &code)
                            .map_or_else(|| code.clone(), |l| l.into_owned());
                        (code, label)
                    })
                    .collect();
                let name = labels::field_name(lang, d.field).to_owned();
                (lang.code().to_owned(), DimensionLabels { name, values })
            })
            .collect()
    }
}

/// Every ISO 3166-1 country with its numeric code and names.
fn countries() -> BTreeMap<String, CountryInfo> {
    use crate::domain::{Country, labels};
    Country::all()
        .filter_map(|c| {
            let names = labels::Lang::ALL
                .iter()
                .map(|&lang| {
                    let name = labels::country_name(lang, c);
                    (lang.code().to_owned(), name.to_owned())
                })
                .collect();
            let numeric = c.numeric()?.to_owned();
            Some((c.code().to_owned(), CountryInfo { numeric, names }))
        })
        .collect()
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TableInfo {
    pub id: String,
    pub title: String,
    pub dimensions: Vec<String>,
    pub cost: f64,
}

impl TableInfo {
    fn of(t: &crate::policy::Table) -> TableInfo {
        TableInfo {
            id: t.id.clone(),
            title: t.title.clone(),
            dimensions: t.dimensions.clone(),
            cost: crate::domain::budget::Amount::from_micro(t.cost_micro).to_f64(),
        }
    }
}

fn catalog_approx_dp(p: &crate::policy::Policy) -> Option<CatalogApproxDp> {
    let eps = |micro: u64| {
        crate::release::approx_dp(p, crate::domain::budget::Amount::from_micro(micro))
            .map(|a| a.epsilon)
    };
    Some(CatalogApproxDp {
        delta: p.delta,
        cost_epsilon: CostInfo {
            default: eps(p.cost.default_micro)?,
            min: eps(p.cost.min_micro)?,
            max: eps(p.cost.max_micro)?,
            grid: eps(p.cost.grid_micro)?,
        },
        role_budgets_epsilon: p
            .role_budgets_micro
            .iter()
            .filter_map(|(r, v)| Some((r.code().to_owned(), serde_json::json!(eps(*v)?))))
            .collect(),
    })
}

/// The datasets, their dimensions and value domains, roles, k, cost bounds and mechanism.
#[utoipa::path(tag = "public", responses(
    (status = 200, description = "Public metadata", body = Catalog),
))]
#[get("/catalog")]
pub async fn catalog(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let p = &state.pipeline.policy;
    let m = |x: u64| x as f64 / 1e6;
    let info = DatasetInfo {
        id: p.dataset.clone(),
        title: p.title.clone(),
        description: p.description.clone(),
        data_version: state.pipeline.snapshots.current().data_version(),
        accounting: p.accounting,
        mechanism: match p.accounting {
            Accounting::Pure => "discrete_laplace",
            Accounting::Zcdp => "discrete_gaussian",
        },
        unit: p.budget_unit(),
        unit_of_privacy: p.unit,
        k: p.k,
        max_cases_per_person: p.max_cases_per_person,
        approx_dp: catalog_approx_dp(p),
        cost: CostInfo {
            default: m(p.cost.default_micro),
            min: m(p.cost.min_micro),
            max: m(p.cost.max_micro),
            grid: m(p.cost.grid_micro),
        },
        default_confidence: m(p.default_confidence_micro),
        max_dimensions: p.limits.max_dimensions,
        max_cells: p.limits.max_cells,
        clamp_negative: p.output.clamp_negative,
        round_to: p.output.round_to,
        role_budgets: p
            .role_budgets_micro
            .iter()
            .map(|(r, v)| (r.code().to_owned(), serde_json::json!(m(*v))))
            .collect(),
        dimensions: p
            .dimensions
            .iter()
            .map(|d| DimensionInfo {
                name: d.name.clone(),
                description: d.description.clone(),
                kind: match d.field.kind() {
                    crate::domain::FieldKind::Single => "single",
                    crate::domain::FieldKind::Multi => "multi",
                },
                max_values_per_case: d.max_values_per_case,
                values: d.value_codes(),
                roles: d.roles.clone(),
                labels: DimensionLabels::by_language(d),
            })
            .collect(),
        national_tables: p.tables.iter().map(TableInfo::of).collect(),
        regions: p
            .regions
            .iter()
            .map(|r| RegionInfo {
                region: crate::national::RegionView::of(r),
                flow_tables: r.flow_tables.iter().map(TableInfo::of).collect(),
                // The policy names a region in one language, so far.
                labels: crate::domain::labels::Lang::ALL
                    .iter()
                    .map(|lang| (lang.code().to_owned(), r.name.clone()))
                    .collect(),
            })
            .collect(),
        bilateral_cost: p.bilateral_cost_micro.map(m),
    };
    Ok(HttpResponse::Ok().json(Catalog {
        datasets: vec![info],
        languages: crate::domain::labels::Lang::ALL
            .iter()
            .map(|l| l.code().to_owned())
            .collect(),
        countries: countries(),
    }))
}
