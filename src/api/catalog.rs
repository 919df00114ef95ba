//! `GET /v1/catalog`: public metadata of the dataset. Never a count.

use crate::error::ApiError;
use crate::policy::Accounting;
use crate::startup::AppState;
use actix_web::{HttpResponse, web};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Catalog {
    pub datasets: Vec<DatasetInfo>,
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
    pub k: u64,
    pub max_cases_per_person: u64,
    pub cost: CostInfo,
    pub default_confidence: f64,
    pub max_dimensions: usize,
    pub max_cells: usize,
    pub clamp_negative: bool,
    pub round_to: u64,
    pub role_budgets: serde_json::Map<String, serde_json::Value>,
    pub dimensions: Vec<DimensionInfo>,
    pub national_tables: Vec<TableInfo>,
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
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TableInfo {
    pub id: String,
    pub title: String,
    pub dimensions: Vec<String>,
    pub cost: f64,
}

/// The datasets, their dimensions and value domains, roles, k, cost bounds and mechanism.
#[utoipa::path(get, path = "/v1/catalog", tag = "public", responses(
    (status = 200, description = "Public metadata", body = Catalog),
))]
pub async fn catalog(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let p = &state.policy;
    let m = |x: u64| x as f64 / 1e6;
    let info = DatasetInfo {
        id: p.dataset.clone(),
        title: p.title.clone(),
        description: p.description.clone(),
        data_version: state.snapshots.current().data_version(),
        accounting: p.accounting,
        mechanism: match p.accounting {
            Accounting::Pure => "discrete_laplace",
            Accounting::Zcdp => "discrete_gaussian",
        },
        unit: p.budget_unit(),
        k: p.k,
        max_cases_per_person: p.max_cases_per_person,
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
            })
            .collect(),
        national_tables: p
            .tables
            .iter()
            .map(|t| TableInfo {
                id: t.id.clone(),
                title: t.title.clone(),
                dimensions: t.dimensions.clone(),
                cost: m(t.cost_micro),
            })
            .collect(),
    };
    Ok(HttpResponse::Ok().json(Catalog {
        datasets: vec![info],
    }))
}
