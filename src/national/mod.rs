//! National figures for government partners (`docs/design.md`, "What a
//! consumer may learn" and "Who calls what"):
//! the policy's national tables, released for one country on one
//! perspective, one table at a time or as a whole report, in JSON, CSV or
//! SDMX-CSV.
//!
//! A national table is nothing but a count query: the table's dimensions,
//! filtered to the country on the perspective's field (and to the requested
//! registration years), at the table's cost. It goes through the release
//! pipeline of `POST /v1/counts` ([`crate::release`]): the same plan, the
//! same keyed noise, suppression and margins, the same stored releases,
//! receipts and ledger. Its canonical query is the one the equivalent
//! `POST /v1/counts` request has, so the two are the same release: a repeat
//! through either route is free and identical.
//!
//! A report charges every table of the perspective in one transaction
//! (`Store::commit_releases` in [`crate::budget`]): all or nothing, tables
//! already paid for by the caller free, the cost the sum of the rest.
//!
//! Invariants: every refusal here depends on the token, the policy and the
//! request only, never on the data (a government asking for another country
//! is refused before anything is planned or charged); totals are derived from
//! released noisy cells only (post-processing), never from true counts.
//!
//! # Layout
//! - this module: scope (country, perspective, years), table queries, the
//!   table, report and listing flows;
//! - `render`: JSON, CSV and SDMX observations of released tables;
//! - `total`: derived total rows and their margin of error;
//! - [`sdmx`]: the `CTM_VICTIMS` structure, code mapping and SDMX-CSV writer.

mod render;
pub mod sdmx;
mod total;

use render::{Consistency, PaidReport, render};
pub use render::{NationalRelease, NationalTable};
pub use total::NationalTotal;

use crate::domain::Consumer;
use crate::domain::budget::{Amount, compose_amounts};
use crate::domain::{Country, Field, Role};
use crate::policy::{Accounting, Dimension, Policy, Table};
use crate::release::ReleaseError;
use crate::release::error::Cause;
use crate::release::query::{CountQuery, CountRequest, Perspective, sha256_hex};
use crate::release::{self, BudgetView, Pipeline, Plan, Refused, Released};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

/// The formats national figures come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    /// RFC 4180, one row per cell, with margin and status.
    Csv,
    /// SDMX-CSV 1.0 of the `CTM_VICTIMS` dataflow.
    Sdmx,
    /// SDMX-CSV 2.0 of the same dataflow.
    Sdmx2,
}

impl Format {
    /// Every format as `?format=` names it.
    pub const NAMES: &'static str = "json, csv, sdmx or sdmx2";

    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "sdmx" => Some(Format::Sdmx),
            "sdmx2" => Some(Format::Sdmx2),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8; header=present",
            Format::Sdmx => sdmx::MEDIA_TYPE,
            Format::Sdmx2 => sdmx::MEDIA_TYPE_V2,
        }
    }
}

/// Request parameters shared by the national endpoints, as given.
#[derive(Debug, Clone, Copy, Default)]
pub struct Params {
    pub perspective: Option<Perspective>,
    pub from_year: Option<i64>,
    pub to_year: Option<i64>,
}

/// A validated national request: whose figures, seen how, over which years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub country: Country,
    pub perspective: Perspective,
    pub from_year: u16,
    pub to_year: u16,
    /// False when the years are the dataset's whole domain (then no year filter is added).
    restricts_years: bool,
}

impl Scope {
    fn period(&self) -> String {
        if self.from_year == self.to_year {
            self.from_year.to_string()
        } else {
            format!("{}-{}", self.from_year, self.to_year)
        }
    }
}

/// Parses the `{country}` of a path: a known ISO 3166-1 alpha-3 code, in any case.
pub fn parse_country(text: &str) -> Result<Country, ReleaseError> {
    Country::parse_alpha3(text)
        .filter(|c| !c.is_unknown())
        .ok_or_else(|| {
            // Echo the input only when it is short and printable.
            let shown = if text.len() <= 16 && text.bytes().all(|b| b.is_ascii_graphic()) {
                text.to_owned()
            } else {
                "the given code".to_owned()
            };
            ReleaseError::UnknownCountry(shown)
        })
}

/// A government reads only the country of its token; researchers any country.
pub fn authorize(consumer: &Consumer, country: Country) -> Result<(), ReleaseError> {
    match (consumer.role, consumer.country) {
        (Role::Government, Some(own)) if own == country => Ok(()),
        (Role::Government, own) => Err(ReleaseError::CountryScope(
            own.map_or("no country", |c| c.code()).to_owned(),
        )),
        _ => Ok(()),
    }
}

/// The policy dimension reading `field`, if declared.
fn dimension_on(policy: &Policy, field: Field) -> Option<&Dimension> {
    policy.dimensions.iter().find(|d| d.field == field)
}

fn first_last_year(dim: &Dimension) -> Option<(u16, u16)> {
    let first = dim.values.iter().min()?;
    let last = dim.values.iter().max()?;
    let base = crate::domain::case::YEAR_MIN;
    Some((base + first, base + last))
}

/// Validates a national request from the policy and the token alone. The
/// country scope is checked right after the country is read, before anything
/// else about the request.
pub fn resolve_scope(
    policy: &Policy,
    consumer: &Consumer,
    country: &str,
    params: &Params,
) -> Result<Scope, ReleaseError> {
    let country = parse_country(country)?;
    authorize(consumer, country)?;
    if policy.tables.is_empty() {
        return Err(ReleaseError::NotFound(
            "this dataset declares no national tables".into(),
        ));
    }
    let perspective = params.perspective.unwrap_or_default();
    let on = dimension_on(policy, perspective.field()).ok_or_else(|| {
        ReleaseError::Internal(Cause::bare("a perspective without its dimension"))
    })?;
    if on.position_of(country.code()).is_none() {
        return Err(ReleaseError::UnknownCountry(country.code().to_owned()));
    }
    // The policy guarantees a registration_year dimension when it declares tables.
    let (first, last) = dimension_on(policy, Field::RegistrationYear)
        .and_then(first_last_year)
        .ok_or_else(|| {
            ReleaseError::Internal(Cause::bare("national tables without registration years"))
        })?;
    let in_domain = |name: &str, y: i64| -> Result<u16, ReleaseError> {
        u16::try_from(y)
            .ok()
            .filter(|y| (first..=last).contains(y))
            .ok_or_else(|| {
                ReleaseError::InvalidQuery(format!(
                    "{name} must be a registration year from {first} to {last}"
                ))
            })
    };
    let from_year = match params.from_year {
        Some(y) => in_domain("from_year", y)?,
        None => first,
    };
    let to_year = match params.to_year {
        Some(y) => in_domain("to_year", y)?,
        None => last,
    };
    if from_year > to_year {
        return Err(ReleaseError::InvalidQuery(
            "from_year must not be after to_year".into(),
        ));
    }
    Ok(Scope {
        country,
        perspective,
        from_year,
        to_year,
        restricts_years: (from_year, to_year) != (first, last),
    })
}

/// The tables offered on a perspective, in policy order.
pub fn offered_tables(policy: &Policy, perspective: Perspective) -> Vec<&Table> {
    policy
        .tables
        .iter()
        .filter(|t| t.offers(perspective.field()))
        .collect()
}

/// The table `id`, if the policy offers it on the perspective.
pub fn find_table<'p>(
    policy: &'p Policy,
    id: &str,
    perspective: Perspective,
) -> Result<&'p Table, ReleaseError> {
    let offered = offered_tables(policy, perspective);
    if let Some(t) = offered.iter().find(|t| t.id == id) {
        return Ok(t);
    }
    let valid: Vec<String> = offered.iter().map(|t| t.id.clone()).collect();
    match policy.table(id) {
        Some(_) => Err(ReleaseError::InvalidQuery(format!(
            "table \"{id}\" is not offered on the {} perspective; offered: {}",
            perspective_name(perspective),
            valid.join(", ")
        ))),
        None => Err(ReleaseError::UnknownTable {
            table: if id.len() <= 64 {
                id.to_owned()
            } else {
                "the given id".to_owned()
            },
            valid,
        }),
    }
}

fn perspective_name(p: Perspective) -> &'static str {
    p.field().code()
}

/// The `POST /v1/counts` body equivalent to `table` for `scope`: the table's
/// dimensions, the country filter on the perspective's field, the years when
/// they restrict the dataset's, and the table's cost. A government's own
/// `POST /v1/counts` is pinned to the same filter, so both are one release.
pub fn count_request(
    policy: &Policy,
    consumer: &Consumer,
    table: &Table,
    scope: &Scope,
) -> CountRequest {
    let mut filters = BTreeMap::new();
    if let Some(d) = dimension_on(policy, scope.perspective.field()) {
        filters.insert(d.name.clone(), json!([scope.country.code()]));
    }
    if scope.restricts_years
        && let Some(d) = dimension_on(policy, Field::RegistrationYear)
    {
        filters.insert(
            d.name.clone(),
            json!({"from": scope.from_year, "to": scope.to_year}),
        );
    }
    // Exact: table costs have at most six decimals, and f64 prints the shortest decimal.
    let cost = Some(Amount::from_micro(table.cost_micro).to_f64());
    let (epsilon, rho) = match policy.accounting {
        Accounting::Pure => (cost, None),
        Accounting::Zcdp => (None, cost),
    };
    CountRequest {
        workload: None,
        dimensions: table.dimensions.clone(),
        filters,
        epsilon,
        rho,
        accuracy: None,
        confidence: None,
        // Only governments may name a perspective; theirs must match the filter.
        perspective: (consumer.role == Role::Government).then_some(scope.perspective),
    }
}

/// A national table planned for one request.
pub(crate) struct TablePlan<'p> {
    table: &'p Table,
    request: CountRequest,
    plan: Plan,
}

fn plan_table<'p>(
    policy: &Policy,
    consumer: &Consumer,
    table: &'p Table,
    scope: &Scope,
) -> Result<TablePlan<'p>, ReleaseError> {
    let request = count_request(policy, consumer, table, scope);
    let query = CountQuery::parse(policy, consumer, &request)?;
    let plan = release::plan(policy, query)?;
    Ok(TablePlan {
        table,
        request,
        plan,
    })
}

/// `GET /v1/national/{country}/tables/{table}`: one table, charged like `POST /v1/counts`.
pub async fn release_table(
    pipeline: &Pipeline,
    consumer: &Consumer,
    country: &str,
    table_id: &str,
    params: &Params,
    format: Format,
) -> Result<Released, ReleaseError> {
    let result = release_table_inner(pipeline, consumer, country, table_id, params, format).await;
    release::ledger_if_refused(pipeline, consumer, result).await
}

async fn release_table_inner(
    pipeline: &Pipeline,
    consumer: &Consumer,
    country: &str,
    table_id: &str,
    params: &Params,
    format: Format,
) -> Result<Released, Refused> {
    let policy = &pipeline.policy;
    let scope = resolve_scope(policy, consumer, country, params).map_err(Refused::bare)?;
    let table = find_table(policy, table_id, scope.perspective).map_err(Refused::bare)?;
    let tp = plan_table(policy, consumer, table, &scope).map_err(Refused::bare)?;
    // A table of a report this consumer already paid for is published as
    // in that report (consistent with its other tables).
    let report_plans: Vec<TablePlan<'_>> = offered_tables(policy, scope.perspective)
        .into_iter()
        .map(|t| plan_table(policy, consumer, t, &scope))
        .collect::<Result<_, _>>()
        .map_err(Refused::bare)?;
    let paid = paid_report(pipeline, consumer, &report_plans)
        .await
        .map_err(|e| Refused::naming(e, &tp.plan.canonical, &tp.plan.query_id))?;
    let report = paid.as_ref().map(|(keys, bodies)| PaidReport {
        plans: &report_plans,
        keys,
        bodies,
    });
    let (receipts, body) = pipeline
        .release(consumer, &[&tp.plan], None, |charged| {
            let consistency = match &report {
                Some(r) => Consistency::AsInReport(r),
                None => Consistency::Independent,
            };
            render(
                policy,
                &scope,
                std::slice::from_ref(&tp),
                charged,
                format,
                consistency,
            )
        })
        .await
        .map_err(|e| Refused::naming(e, &tp.plan.canonical, &tp.plan.query_id))?;
    if let Some(receipt) = receipts.first() {
        tracing::info!(
            consumer = %consumer.id,
            country = %scope.country,
            table = %table.id,
            query_id = %tp.plan.query_id,
            charged_micro = receipt.charged.micro(),
            repeat = receipt.replay,
            ledger_seq = receipt.ledger_seq,
            "national table"
        );
    }
    Ok(Released {
        content_type: format.content_type().into(),
        body,
        replayed: false,
    })
}

/// The release keys and stored bodies of the report made of `plans`, if
/// `consumer` paid for every one of its tables on the current data.
async fn paid_report(
    pipeline: &Pipeline,
    consumer: &Consumer,
    plans: &[TablePlan<'_>],
) -> Result<Option<(Vec<String>, Vec<String>)>, ReleaseError> {
    if plans.is_empty() {
        return Ok(None);
    }
    let data = release::DataView::current(pipeline);
    let keys: Vec<String> = plans.iter().map(|tp| data.release_key(&tp.plan)).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let outlook = pipeline
        .store
        .outlook(&pipeline.policy.dataset, &consumer.id, &refs)
        .await?;
    let bodies: Option<Vec<String>> = outlook
        .releases
        .into_iter()
        .map(|known| known.filter(|k| k.paid).map(|k| k.body))
        .collect();
    Ok(bodies.map(|b| (keys, b)))
}

/// `GET /v1/national/{country}/report`: every table of the perspective in one
/// transaction; the cost is the sum of the tables not yet paid for.
pub async fn release_report(
    pipeline: &Pipeline,
    consumer: &Consumer,
    country: &str,
    params: &Params,
    format: Format,
) -> Result<Released, ReleaseError> {
    let result = release_report_inner(pipeline, consumer, country, params, format).await;
    release::ledger_if_refused(pipeline, consumer, result).await
}

async fn release_report_inner(
    pipeline: &Pipeline,
    consumer: &Consumer,
    country: &str,
    params: &Params,
    format: Format,
) -> Result<Released, Refused> {
    let policy = &pipeline.policy;
    let scope = resolve_scope(policy, consumer, country, params).map_err(Refused::bare)?;
    let plans: Vec<TablePlan<'_>> = offered_tables(policy, scope.perspective)
        .into_iter()
        .map(|t| plan_table(policy, consumer, t, &scope))
        .collect::<Result<_, _>>()
        .map_err(Refused::bare)?;
    if plans.is_empty() {
        return Err(Refused::bare(ReleaseError::NotFound(format!(
            "no national table is offered on the {} perspective",
            perspective_name(scope.perspective)
        ))));
    }
    // The ledger names a refused report by its tables' queries.
    let canonical = json!({
        "national_report": {
            "dataset": policy.dataset,
            "country": scope.country.code(),
            "perspective": scope.perspective,
            "from_year": scope.from_year,
            "to_year": scope.to_year,
            "tables": plans.iter().map(|tp| json!({"id": tp.table.id, "query_id": tp.plan.query_id})).collect::<Vec<_>>(),
        }
    })
    .to_string();
    let hash = sha256_hex(canonical.as_bytes());

    // One snapshot, one charge, one transaction for every table; tables
    // already released (by anyone) are not counted again, and none is
    // counted unless the budgets can pay for the report.
    let table_plans: Vec<&Plan> = plans.iter().map(|tp| &tp.plan).collect();
    let (receipts, body) = pipeline
        .release(consumer, &table_plans, None, |charged| {
            render(policy, &scope, &plans, charged, format, Consistency::Report)
        })
        .await
        .map_err(|e| Refused::naming(e, &canonical, &hash))?;
    tracing::info!(
        consumer = %consumer.id,
        country = %scope.country,
        tables = receipts.len(),
        charged_micro = receipts.iter().map(|r| r.charged.micro()).sum::<u64>(),
        "national report"
    );
    Ok(Released {
        content_type: format.content_type().into(),
        body,
        replayed: false,
    })
}

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
    pub country: String,
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
    country: &str,
    params: &Params,
) -> Result<NationalTables, ReleaseError> {
    let policy = &pipeline.policy;
    let scope = resolve_scope(policy, consumer, country, params)?;
    let plans: Vec<TablePlan<'_>> = offered_tables(policy, scope.perspective)
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
    let code = scope.country.code();
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
            href: format!("/v1/national/{code}/tables/{}?{query}", tp.table.id),
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
            href: format!("/v1/national/{code}/report?{report_query}"),
        },
        budget: release::budget_view(policy, budget),
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::policy::parse_policy;

    const POLICY: &str = include_str!("../../policy/default.toml");

    fn researcher() -> Consumer {
        Consumer {
            id: "r".into(),
            role: Role::Researcher,
            country: None,
        }
    }

    fn government(code: &str) -> Consumer {
        Consumer {
            id: "g".into(),
            role: Role::Government,
            country: Country::parse_alpha3(code),
        }
    }

    #[test]
    fn a_government_is_scoped_to_its_country_before_anything_else() {
        let p = parse_policy("default.toml", POLICY).unwrap();
        let gov = government("USA");
        assert!(resolve_scope(&p, &gov, "usa", &Params::default()).is_ok());
        // Bad years, another country: the scope refusal comes first.
        let bad_years = Params {
            from_year: Some(1900),
            ..Params::default()
        };
        let e = resolve_scope(&p, &gov, "UKR", &bad_years).unwrap_err();
        assert_eq!(e.code(), "auth.country_scope");
        let e = resolve_scope(&p, &gov, "XYZ", &Params::default()).unwrap_err();
        assert_eq!(e.code(), "national.unknown_country");
        let e = resolve_scope(&p, &gov, "unknown", &Params::default()).unwrap_err();
        assert_eq!(e.code(), "national.unknown_country");
        assert!(resolve_scope(&p, &researcher(), "UKR", &Params::default()).is_ok());
    }

    #[test]
    fn the_whole_year_domain_adds_no_year_filter() {
        let p = parse_policy("default.toml", POLICY).unwrap();
        let t = p.table("by_sex_and_age").unwrap();
        let all = resolve_scope(&p, &researcher(), "USA", &Params::default()).unwrap();
        let req = count_request(&p, &researcher(), t, &all);
        assert_eq!(req.filters.len(), 1, "only the country");
        assert_eq!(req.perspective, None, "researchers name no perspective");
        let some = Params {
            from_year: Some(2015),
            to_year: Some(2020),
            ..Params::default()
        };
        let scope = resolve_scope(&p, &government("USA"), "USA", &some).unwrap();
        let req = count_request(&p, &government("USA"), t, &scope);
        assert_eq!(
            req.filters["registration_year"],
            json!({"from": 2015, "to": 2020})
        );
        assert_eq!(req.perspective, Some(Perspective::CountryOfExploitation));
        assert_eq!(req.epsilon, Some(0.2));
    }
}
