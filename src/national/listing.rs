//! The listing of a scope's tables (`GET .../tables`): each table's cost,
//! what it would charge the caller now and its margin of error, and the
//! report's; charges nothing and reads no case.

use super::Params;
use super::scope::{AreaPath, RegionView, perspective_name, resolve_scope};
use super::tables::{TablePlan, offered_tables, plan_table};
use crate::domain::budget::{Amount, compose_amounts};
use crate::domain::{Consumer, Field};
use crate::release::query::Perspective;
use crate::release::{self, BudgetView, Pipeline, ReleaseError};
use serde::Serialize;

/// One table offered to the caller, with what it would cost now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NationalTableInfo {
    pub id: String,
    pub title: String,
    pub dimensions: Vec<String>,
    /// Number of cells (every value of the declared domain).
    pub cells: usize,
    /// Whether responses carry a total row derived from the released cells.
    pub total: bool,
    pub cost: f64,
    /// What you would be charged now (0 if you already paid for this release).
    pub would_charge: f64,
    /// Margin of error of each released cell at `confidence`.
    pub margin_of_error: u64,
    /// The perspectives this table is offered on.
    pub perspectives: Vec<Perspective>,
    pub href: String,
}

/// The report of the perspective: every table, one charge.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NationalReportInfo {
    /// Sum of the tables' costs.
    pub cost: f64,
    /// What you would be charged now: the tables you have not paid for.
    pub would_charge: f64,
    pub href: String,
}

/// Answer of `GET /v1/national/{country}/tables`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NationalTables {
    pub dataset: String,
    /// ISO 3166-1 alpha-3, or the region's code for a regional release.
    pub country: String,
    /// The region, for a regional release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<RegionView>,
    pub perspective: Perspective,
    pub from_year: u16,
    pub to_year: u16,
    pub data_version: i64,
    /// `epsilon` or `rho`.
    pub unit: &'static str,
    pub confidence: f64,
    pub tables: Vec<NationalTableInfo>,
    pub report: NationalReportInfo,
    pub budget: BudgetView,
}

fn perspective_of(field: Field) -> Perspective {
    if field == Field::Citizenship {
        Perspective::Citizenship
    } else {
        Perspective::CountryOfExploitation
    }
}

/// `GET /v1/national/{country}/tables`: the tables offered on a perspective,
/// their cost and what each would charge the caller now. Charges nothing and
/// reads no case.
pub async fn list_tables(
    pipeline: &Pipeline,
    consumer: &Consumer,
    path: AreaPath<'_>,
    params: &Params,
) -> Result<NationalTables, ReleaseError> {
    let policy = &pipeline.policy;
    let scope = resolve_scope(policy, consumer, path, params)?;
    let plans: Vec<TablePlan<'_>> = offered_tables(policy, &scope)
        .into_iter()
        .map(|t| plan_table(policy, consumer, t, &scope))
        .collect::<Result<_, _>>()?;
    let data = release::DataView::current(pipeline);
    let data_version = data.version();
    let keys: Vec<String> = plans.iter().map(|tp| data.release_key(&tp.plan)).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let outlook = pipeline
        .store
        .outlook(&policy.dataset, &consumer.id, &keys)
        .await?;
    let costs: Vec<Amount> = plans.iter().map(|tp| tp.plan.cost).collect();
    let charges: Vec<Amount> = outlook.charges(&costs).iter().map(|c| c.consumer).collect();
    let budget = outlook.consumer_budget(policy.role_budget(consumer.role));
    let arithmetic = |e| ReleaseError::internal("adding up a report's cost", e);
    let report_cost = compose_amounts(costs.iter().copied()).map_err(arithmetic)?;
    let report_charge = compose_amounts(charges.iter().copied()).map_err(arithmetic)?;
    let code = scope.area.code(policy);
    let base = scope.area.base_path(policy);
    let query = format!(
        "perspective={}&from_year={}&to_year={}",
        perspective_name(scope.perspective),
        scope.from_year,
        scope.to_year
    );
    let tables = plans
        .iter()
        .zip(&charges)
        .map(|(tp, charge)| NationalTableInfo {
            id: tp.table.id.clone(),
            title: tp.table.title.clone(),
            dimensions: tp.table.dimensions.clone(),
            cells: tp.plan.query.cells,
            total: tp.table.total,
            cost: tp.plan.cost.to_f64(),
            would_charge: charge.to_f64(),
            margin_of_error: tp.plan.margin,
            perspectives: tp
                .table
                .perspectives
                .iter()
                .map(|f| perspective_of(*f))
                .collect(),
            href: format!("{base}/tables/{}?{query}", tp.table.id),
        })
        .collect();
    let report_query = if scope.from_year == scope.to_year {
        format!(
            "perspective={}&year={}",
            perspective_name(scope.perspective),
            scope.from_year
        )
    } else {
        format!("perspective={}", perspective_name(scope.perspective))
    };
    Ok(NationalTables {
        dataset: policy.dataset.clone(),
        country: code.to_owned(),
        region: scope.area.region(policy).map(RegionView::of),
        perspective: scope.perspective,
        from_year: scope.from_year,
        to_year: scope.to_year,
        data_version,
        unit: policy.budget_unit(),
        confidence: policy.default_confidence_micro as f64 / 1e6,
        tables,
        report: NationalReportInfo {
            cost: report_cost.to_f64(),
            would_charge: report_charge.to_f64(),
            href: format!("{base}/report?{report_query}"),
        },
        budget: release::budget_view(policy, budget),
    })
}
