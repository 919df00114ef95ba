//! The tables offered to a scope and each one's count query: a national
//! table is the `POST /v1/counts` request of its dimensions filtered to the
//! area, planned like any count.

use super::scope::{Scope, dimension_on, perspective_name};
use crate::domain::budget::Amount;
use crate::domain::{Consumer, Country, Field, Role};
use crate::policy::{Accounting, Flow, Policy, Table};
use crate::release::query::{CountQuery, CountRequest, Perspective};
use crate::release::{self, Plan, ReleaseError};
use serde_json::{Value, json};
use std::collections::BTreeMap;

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
    pub(super) table: &'p Table,
    pub(super) request: CountRequest,
    pub(super) plan: Plan,
}

pub(super) fn plan_table<'p>(
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
