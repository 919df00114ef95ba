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
//! - `bounds`: a report's tables not estimated together kept within the
//!   consistent ones (flows within members, multi-valued cells within the total);
//! - [`sdmx`]: the `CTM_VICTIMS` structure, code mapping and SDMX-CSV writer.

mod bounds;
#[cfg(test)]
mod coverage;
mod render;
pub mod sdmx;
mod total;

use render::{Consistency, PaidReport, render};
pub use render::{NationalRelease, NationalTable};
pub use total::NationalTotal;

use crate::domain::Consumer;
use crate::domain::budget::{Amount, compose_amounts};
use crate::domain::{Country, Field, Role};
use crate::policy::{Accounting, Dimension, Flow, Policy, Table};
use crate::release::ReleaseError;
use crate::release::error::Cause;
use crate::release::query::{CountQuery, CountRequest, Perspective, sha256_hex};
use crate::release::{self, BudgetView, Pipeline, Plan, Refused, Released};
use serde::Serialize;
use serde_json::{Value, json};
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

/// Whose figures a release is about: one country, or a region of the
/// policy (its members as a whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Country(Country),
    /// Index into `policy.regions`.
    Region(usize),
}

impl Area {
    /// The ISO alpha-3 code, or the region's `REF_AREA` code.
    pub fn code(self, policy: &Policy) -> &str {
        match self {
            Area::Country(c) => c.code(),
            Area::Region(i) => policy.regions.get(i).map_or("", |r| r.code.as_str()),
        }
    }

    /// The countries whose figures these are.
    pub fn members(self, policy: &Policy) -> Vec<Country> {
        match self {
            Area::Country(c) => vec![c],
            Area::Region(i) => policy
                .regions
                .get(i)
                .map_or_else(Vec::new, |r| r.members.clone()),
        }
    }

    /// The region, when the area is one.
    pub fn region(self, policy: &Policy) -> Option<&crate::policy::Region> {
        match self {
            Area::Country(_) => None,
            Area::Region(i) => policy.regions.get(i),
        }
    }

    /// Where its figures are served, e.g. `/v1/national/USA` or `/v1/regional/gms`.
    fn base_path(self, policy: &Policy) -> String {
        match self.region(policy) {
            Some(r) => format!("/v1/regional/{}", r.id),
            None => format!("/v1/national/{}", self.code(policy)),
        }
    }
}

/// A region as releases describe it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegionView {
    /// How paths and tokens name it, e.g. `gms`.
    pub id: String,
    pub name: String,
    /// Its SDMX `REF_AREA` (and `CITIZENSHIP`) code, e.g. `GMS`.
    pub code: String,
    /// ISO 3166-1 alpha-3 codes of its members.
    pub members: Vec<String>,
}

impl RegionView {
    pub fn of(region: &crate::policy::Region) -> RegionView {
        RegionView {
            id: region.id.clone(),
            name: region.name.clone(),
            code: region.code.clone(),
            members: region.members.iter().map(|c| c.code().to_owned()).collect(),
        }
    }
}

/// What a request names: a country (`/v1/national/{country}`) or a region
/// (`/v1/regional/{region}`), as given in the path.
#[derive(Debug, Clone, Copy)]
pub enum AreaPath<'a> {
    Country(&'a str),
    Region(&'a str),
}

impl<'a> AreaPath<'a> {
    /// The name as given in the path.
    pub fn name(self) -> &'a str {
        match self {
            AreaPath::Country(s) | AreaPath::Region(s) => s,
        }
    }
}

/// A validated national or regional request: whose figures, seen how, over
/// which years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub area: Area,
    /// The other country of a bilateral flow.
    pub other: Option<Country>,
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

/// A government reads only the country of its token, a regional partner
/// only the region of its token; researchers any country or region.
pub fn authorize(consumer: &Consumer, country: Country) -> Result<(), ReleaseError> {
    match (consumer.role, consumer.country) {
        (Role::Government, Some(own)) if own == country => Ok(()),
        (Role::Government, own) => Err(ReleaseError::CountryScope(
            own.map_or("no country", |c| c.code()).to_owned(),
        )),
        (Role::Regional, _) => Err(region_scope(consumer)),
        _ => Ok(()),
    }
}

fn region_scope(consumer: &Consumer) -> ReleaseError {
    ReleaseError::RegionScope(consumer.region.clone().unwrap_or_default())
}

/// Parses the `{region}` of a path against the policy, and checks the caller
/// may read it: a regional partner its own region only, a government none
/// (its token reads its own country), researchers any.
pub fn resolve_region(
    policy: &Policy,
    consumer: &Consumer,
    id: &str,
) -> Result<Area, ReleaseError> {
    match consumer.role {
        Role::Regional if consumer.region.as_deref() != Some(id) => {
            return Err(region_scope(consumer));
        }
        Role::Government => {
            return Err(ReleaseError::CountryScope(
                consumer
                    .country
                    .map_or("no country", |c| c.code())
                    .to_owned(),
            ));
        }
        _ => {}
    }
    policy
        .regions
        .iter()
        .position(|r| r.id == id)
        .map(Area::Region)
        .ok_or_else(|| ReleaseError::UnknownRegion {
            region: if crate::domain::is_region_id(id) {
                id.to_owned()
            } else {
                "the given id".to_owned()
            },
            valid: policy.regions.iter().map(|r| r.id.clone()).collect(),
        })
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
    path: AreaPath<'_>,
    params: &Params,
) -> Result<Scope, ReleaseError> {
    let area = match path {
        AreaPath::Country(text) => {
            let country = parse_country(text)?;
            authorize(consumer, country)?;
            Area::Country(country)
        }
        AreaPath::Region(id) => resolve_region(policy, consumer, id)?,
    };
    if policy.tables.is_empty() {
        return Err(ReleaseError::NotFound(
            "this dataset declares no national tables".into(),
        ));
    }
    let perspective = params.perspective.unwrap_or_default();
    let on = dimension_on(policy, perspective.field()).ok_or_else(|| {
        ReleaseError::Internal(Cause::bare("a perspective without its dimension"))
    })?;
    if let Area::Country(country) = area
        && on.position_of(country.code()).is_none()
    {
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
        area,
        other: None,
        perspective,
        from_year,
        to_year,
        restricts_years: (from_year, to_year) != (first, last),
    })
}

/// The tables offered to `scope`, in policy order: the national tables of
/// its perspective, then a region's flow tables; for a bilateral flow, its
/// two directions.
pub fn offered_tables<'p>(policy: &'p Policy, scope: &Scope) -> Vec<&'p Table> {
    if scope.other.is_some() {
        return policy.bilateral_tables.iter().collect();
    }
    let mut out: Vec<&Table> = policy
        .tables
        .iter()
        .filter(|t| t.offers(scope.perspective.field()))
        .collect();
    if let Some(region) = scope.area.region(policy) {
        out.extend(
            region
                .flow_tables
                .iter()
                .filter(|t| t.offers(scope.perspective.field())),
        );
    }
    out
}

/// The table `id`, if offered to `scope`.
pub fn find_table<'p>(
    policy: &'p Policy,
    id: &str,
    scope: &Scope,
) -> Result<&'p Table, ReleaseError> {
    let offered = offered_tables(policy, scope);
    if let Some(t) = offered.iter().find(|t| t.id == id) {
        return Ok(t);
    }
    let valid: Vec<String> = offered.iter().map(|t| t.id.clone()).collect();
    match policy.table(id) {
        Some(_) => Err(ReleaseError::InvalidQuery(format!(
            "table \"{id}\" is not offered on the {} perspective; offered: {}",
            perspective_name(scope.perspective),
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
/// dimensions, the area's filter (its country, or a region's members, on the
/// perspective's field; a flow table's filters on both country fields), the
/// years when they restrict the dataset's, and the table's cost. A
/// government's own `POST /v1/counts` is pinned to the same filter, so both
/// are one release.
pub fn count_request(
    policy: &Policy,
    consumer: &Consumer,
    table: &Table,
    scope: &Scope,
) -> CountRequest {
    let mut filters = BTreeMap::new();
    let members = scope.area.members(policy);
    let mut put = |field: Field, countries: Value| {
        if let Some(d) = dimension_on(policy, field) {
            filters.insert(d.name.clone(), countries);
        }
    };
    let (cit, coe) = (Field::Citizenship, Field::CountryOfExploitation);
    let mut perspective = scope.perspective;
    match table.flow {
        None => put(scope.perspective.field(), codes(&members)),
        Some(Flow::Within) => {
            put(cit, codes(&members));
            put(coe, codes(&members));
        }
        Some(Flow::Out) => {
            put(cit, codes(&members));
            put(coe, rest_of_world(policy, coe, &members));
        }
        Some(Flow::In) => {
            put(coe, codes(&members));
            put(cit, rest_of_world(policy, cit, &members));
        }
        Some(Flow::Outbound) => {
            put(cit, codes(&members));
            put(coe, codes(&scope.other.into_iter().collect::<Vec<_>>()));
            perspective = Perspective::Citizenship;
        }
        Some(Flow::Inbound) => {
            put(coe, codes(&members));
            put(cit, codes(&scope.other.into_iter().collect::<Vec<_>>()));
            perspective = Perspective::CountryOfExploitation;
        }
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
        perspective: (consumer.role == Role::Government).then_some(perspective),
    }
}

fn codes(countries: &[Country]) -> Value {
    json!(countries.iter().map(|c| c.code()).collect::<Vec<_>>())
}

/// Every known country of `field`'s published domain but `members`: "the
/// rest of the world" of a region (unknown countries are left out).
fn rest_of_world(policy: &Policy, field: Field, members: &[Country]) -> Value {
    let codes: Vec<String> = dimension_on(policy, field)
        .map(|d| d.value_codes())
        .unwrap_or_default()
        .into_iter()
        .filter(|v| v != crate::domain::country::UNKNOWN_CODE)
        .filter(|v| !members.iter().any(|m| m.code() == v))
        .collect();
    json!(codes)
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
    path: AreaPath<'_>,
    table_id: &str,
    params: &Params,
    format: Format,
) -> Result<Released, ReleaseError> {
    let result = release_table_inner(pipeline, consumer, path, table_id, params, format).await;
    release::ledger_if_refused(pipeline, consumer, result).await
}

async fn release_table_inner(
    pipeline: &Pipeline,
    consumer: &Consumer,
    path: AreaPath<'_>,
    table_id: &str,
    params: &Params,
    format: Format,
) -> Result<Released, Refused> {
    let policy = &pipeline.policy;
    let scope = resolve_scope(policy, consumer, path, params).map_err(Refused::bare)?;
    let table = find_table(policy, table_id, &scope).map_err(Refused::bare)?;
    let tp = plan_table(policy, consumer, table, &scope).map_err(Refused::bare)?;
    // A table of a report this consumer already paid for is published as
    // in that report (consistent with its other tables).
    // (A report with a table that cannot be planned, such as a region's
    // flow table above the cell limit, was never paid for.)
    let report_plans: Vec<TablePlan<'_>> = offered_tables(policy, &scope)
        .into_iter()
        .map(|t| plan_table(policy, consumer, t, &scope))
        .collect::<Result<_, _>>()
        .unwrap_or_default();
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
            area = %scope.area.code(policy),
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
    path: AreaPath<'_>,
    params: &Params,
    format: Format,
) -> Result<Released, ReleaseError> {
    let result = release_report_inner(pipeline, consumer, path, params, format).await;
    release::ledger_if_refused(pipeline, consumer, result).await
}

async fn release_report_inner(
    pipeline: &Pipeline,
    consumer: &Consumer,
    path: AreaPath<'_>,
    params: &Params,
    format: Format,
) -> Result<Released, Refused> {
    let policy = &pipeline.policy;
    let scope = resolve_scope(policy, consumer, path, params).map_err(Refused::bare)?;
    report_of_scope(pipeline, consumer, &scope, format).await
}

/// Every table offered to `scope`, released in one transaction.
async fn report_of_scope(
    pipeline: &Pipeline,
    consumer: &Consumer,
    scope: &Scope,
    format: Format,
) -> Result<Released, Refused> {
    let policy = &pipeline.policy;
    let scope = *scope;
    let plans: Vec<TablePlan<'_>> = offered_tables(policy, &scope)
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
            "country": scope.area.code(policy),
            "other": scope.other.map(|c| c.code()),
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
        area = %scope.area.code(policy),
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

/// `GET /v1/national/{country}/bilateral/{other}`: the flow between two
/// countries in one table of two directions (the country's nationals
/// exploited in the other, the other's nationals exploited in the country),
/// released in one transaction. A government may ask for its own country
/// and any other: both directions are about its country.
pub async fn release_bilateral(
    pipeline: &Pipeline,
    consumer: &Consumer,
    country: &str,
    other: &str,
    params: &Params,
    format: Format,
) -> Result<Released, ReleaseError> {
    let result = async {
        let policy = &pipeline.policy;
        let mut scope = resolve_scope(policy, consumer, AreaPath::Country(country), params)
            .map_err(Refused::bare)?;
        let other = parse_country(other).map_err(Refused::bare)?;
        if Area::Country(other) == scope.area {
            return Err(Refused::bare(ReleaseError::InvalidQuery(format!(
                "a bilateral flow is between two different countries; {} was named twice",
                other.code()
            ))));
        }
        for field in [Field::Citizenship, Field::CountryOfExploitation] {
            if dimension_on(policy, field).is_some_and(|d| d.position_of(other.code()).is_none()) {
                return Err(Refused::bare(ReleaseError::UnknownCountry(
                    other.code().to_owned(),
                )));
            }
        }
        if policy.bilateral_tables.is_empty() {
            return Err(Refused::bare(ReleaseError::NotFound(
                "this dataset offers no bilateral flows".into(),
            )));
        }
        scope.other = Some(other);
        report_of_scope(pipeline, consumer, &scope, format).await
    }
    .await;
    release::ledger_if_refused(pipeline, consumer, result).await
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
            region: None,
        }
    }

    fn government(code: &str) -> Consumer {
        Consumer {
            id: "g".into(),
            role: Role::Government,
            country: Country::parse_alpha3(code),
            region: None,
        }
    }

    #[test]
    fn a_government_is_scoped_to_its_country_before_anything_else() {
        let p = parse_policy("default.toml", POLICY).unwrap();
        let gov = government("USA");
        assert!(resolve_scope(&p, &gov, AreaPath::Country("usa"), &Params::default()).is_ok());
        // Bad years, another country: the scope refusal comes first.
        let bad_years = Params {
            from_year: Some(1900),
            ..Params::default()
        };
        let e = resolve_scope(&p, &gov, AreaPath::Country("UKR"), &bad_years).unwrap_err();
        assert_eq!(e.code(), "auth.country_scope");
        let e = resolve_scope(&p, &gov, AreaPath::Country("XYZ"), &Params::default()).unwrap_err();
        assert_eq!(e.code(), "national.unknown_country");
        let e =
            resolve_scope(&p, &gov, AreaPath::Country("unknown"), &Params::default()).unwrap_err();
        assert_eq!(e.code(), "national.unknown_country");
        assert!(
            resolve_scope(
                &p,
                &researcher(),
                AreaPath::Country("UKR"),
                &Params::default()
            )
            .is_ok()
        );
    }

    fn regional(region: &str) -> Consumer {
        Consumer {
            id: "rg".into(),
            role: Role::Regional,
            country: None,
            region: Some(region.into()),
        }
    }

    #[test]
    fn a_regional_partner_reads_its_region_and_nothing_else() {
        let p = parse_policy("default.toml", POLICY).unwrap();
        let gms = regional("gms");
        let scope = resolve_scope(&p, &gms, AreaPath::Region("gms"), &Params::default()).unwrap();
        assert_eq!(scope.area.code(&p), "GMS");
        assert_eq!(scope.area.members(&p).len(), 6);
        for refused in [
            resolve_scope(&p, &gms, AreaPath::Region("asean"), &Params::default()),
            resolve_scope(&p, &gms, AreaPath::Country("THA"), &Params::default()),
            resolve_scope(&p, &gms, AreaPath::Country("USA"), &Params::default()),
            resolve_scope(&p, &gms, AreaPath::Region("nowhere"), &Params::default()),
        ] {
            assert_eq!(refused.unwrap_err().code(), "auth.region_scope");
        }
        let e = resolve_scope(
            &p,
            &government("THA"),
            AreaPath::Region("gms"),
            &Params::default(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "auth.country_scope");
        let e = resolve_scope(
            &p,
            &researcher(),
            AreaPath::Region("nowhere"),
            &Params::default(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "regional.unknown_region");
        assert!(
            resolve_scope(
                &p,
                &researcher(),
                AreaPath::Region("asean"),
                &Params::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn a_region_filters_on_its_members_and_its_flows_on_both_country_fields() {
        let p = parse_policy("default.toml", POLICY).unwrap();
        let gms = regional("gms");
        let scope = resolve_scope(&p, &gms, AreaPath::Region("gms"), &Params::default()).unwrap();
        let members = json!(["KHM", "CHN", "LAO", "MMR", "THA", "VNM"]);
        let ids: Vec<&str> = offered_tables(&p, &scope)
            .iter()
            .map(|t| t.id.as_str())
            .collect();
        assert!(
            ids.ends_with(&["by_member", "flow_within", "flow_out", "flow_in"]),
            "{ids:?}"
        );
        let table = |id: &str| {
            *offered_tables(&p, &scope)
                .iter()
                .find(|t| t.id == id)
                .unwrap()
        };
        let req = count_request(&p, &gms, table("by_sex_and_age"), &scope);
        assert_eq!(req.filters["country_of_exploitation"], members);
        assert_eq!(req.perspective, None, "only governments name a perspective");
        let within = count_request(&p, &gms, table("flow_within"), &scope);
        assert_eq!(within.filters["citizenship"], members);
        assert_eq!(within.filters["country_of_exploitation"], members);
        let q = CountQuery::parse(&p, &gms, &within).unwrap();
        assert_eq!(q.cells, 36, "members by members");
        let out = count_request(&p, &gms, table("flow_out"), &scope);
        let rest = out.filters["country_of_exploitation"].as_array().unwrap();
        assert!(
            !rest
                .iter()
                .any(|c| members.as_array().unwrap().contains(c) || c == "unknown")
        );
        assert_eq!(
            rest.len() + 6 + 1,
            Country::domain_len(),
            "every other known country"
        );
        assert_eq!(CountQuery::parse(&p, &gms, &out).unwrap().cells, 6);
    }

    #[test]
    fn a_bilateral_flow_is_two_cells_a_government_may_ask_for() {
        let p = parse_policy("default.toml", POLICY).unwrap();
        let gov = government("THA");
        let mut scope =
            resolve_scope(&p, &gov, AreaPath::Country("THA"), &Params::default()).unwrap();
        scope.other = Country::parse_alpha3("MMR");
        let tables = offered_tables(&p, &scope);
        assert_eq!(tables.len(), 2);
        for t in tables {
            let req = count_request(&p, &gov, t, &scope);
            let q = CountQuery::parse(&p, &gov, &req).unwrap();
            assert_eq!(q.cells, 1, "{}: one cell", t.id);
        }
    }

    #[test]
    fn the_whole_year_domain_adds_no_year_filter() {
        let p = parse_policy("default.toml", POLICY).unwrap();
        let t = p.table("by_sex_and_age").unwrap();
        let all = resolve_scope(
            &p,
            &researcher(),
            AreaPath::Country("USA"),
            &Params::default(),
        )
        .unwrap();
        let req = count_request(&p, &researcher(), t, &all);
        assert_eq!(req.filters.len(), 1, "only the country");
        assert_eq!(req.perspective, None, "researchers name no perspective");
        let some = Params {
            from_year: Some(2015),
            to_year: Some(2020),
            ..Params::default()
        };
        let scope = resolve_scope(&p, &government("USA"), AreaPath::Country("USA"), &some).unwrap();
        let req = count_request(&p, &government("USA"), t, &scope);
        assert_eq!(
            req.filters["registration_year"],
            json!({"from": 2015, "to": 2020})
        );
        assert_eq!(req.perspective, Some(Perspective::CountryOfExploitation));
        assert_eq!(req.epsilon, Some(0.2));
    }
}
