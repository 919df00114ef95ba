//! A count query from JSON to its validated, canonical form. Pure: validation
//! reads only the policy and the caller's identity, never case data, so every
//! refusal here happens before any charge and cannot depend on the data.
//!
//! Equivalent requests are one query: dimensions are counted in a canonical
//! order (the order of the fields) whatever order they are asked in, and a
//! filter that lets every value of a single-valued field's published domain
//! through (a list of every value, a year range over every year) is dropped,
//! since the snapshot holds no case outside that domain. Equivalent requests
//! therefore share one canonical form, one noisy release and one charge;
//! responses still list dimensions and cells in the order asked for. (A
//! filter listing every value of a multi-valued group is not dropped: it
//! leaves out cases whose group is unknown or empty.) A single-valued
//! dimension grouped over one value is written as a filter on it, so a
//! bilateral flow asked by either partner is one release.
//!
//! Over 500 lines: the request type, its validation and the canonical form
//! are one contract (what is refused and what counts as the same query),
//! kept in one place so that a rule cannot be checked in one file and
//! forgotten in the other.

use crate::domain::Consumer;
use crate::domain::case::YEAR_MIN;
use crate::domain::{Country, Field, FieldKind, Role};
use crate::engine::{Filter, GroupBy};
use crate::policy::{Accounting, Dimension, Policy};
use crate::release::ReleaseError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

mod schema;

/// Body of `POST /v1/counts` and `POST /v1/counts/estimate`. Its OpenAPI
/// schema (written out in `query/schema.rs`) states the rules below that a
/// client can check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CountRequest {
    /// Dimensions to group by, in output order (see `GET /v1/catalog`).
    /// Omitted when `workload` is given; never an empty list.
    #[serde(default, deserialize_with = "non_empty")]
    pub dimensions: Vec<String>,
    /// Instead of `dimensions`: several groupings over the same filters,
    /// released together as one charge and answered as consistent tables.
    /// The cost (`epsilon` or `rho`) is the workload's, split equally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<Vec<Vec<String>>>,
    /// Per dimension: a list of values, or `{"from": Y1, "to": Y2}` for registration_year.
    #[serde(default, deserialize_with = "unique_keys")]
    pub filters: BTreeMap<String, Value>,
    /// Privacy cost in epsilon (pure accounting). Omit for the policy default.
    pub epsilon: Option<f64>,
    /// Privacy cost in rho (zCDP accounting).
    pub rho: Option<f64>,
    /// Ask for a margin of error instead of a cost: the service picks the smallest cost that meets it.
    pub accuracy: Option<AccuracyTarget>,
    /// Confidence of the reported margins of error (default from policy, e.g. 0.95).
    pub confidence: Option<f64>,
    /// Government callers: pin to victims identified in your country (`country_of_exploitation`,
    /// the default) or to your nationals identified anywhere (`citizenship`).
    pub perspective: Option<Perspective>,
}

/// A non-negative whole number, written `12` or `12.0`: JSON (and JSON
/// Schema's `integer`) does not tell them apart, so neither do we.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(u) = n.as_u64() {
        return Ok(u);
    }
    match n.as_f64() {
        // 2^64 is exactly representable; anything from it up does not fit.
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0 => Ok(f as u64),
        _ => Err(serde::de::Error::custom(format!(
            "expected a non-negative whole number, got {n}"
        ))),
    }
}

/// A list of dimensions that, when given, names at least one: an empty
/// list is refused rather than read as "not given".
fn non_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    if names.is_empty() {
        return Err(serde::de::Error::custom(
            "dimensions lists no dimension: name at least one, or leave it out and give workload",
        ));
    }
    Ok(names)
}

/// A JSON object whose keys must be distinct: a filter named twice is
/// refused, as a field named twice at the top level is, rather than the last
/// one silently winning.
fn unique_keys<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Value>, D::Error> {
    struct Unique;
    impl<'de> serde::de::Visitor<'de> for Unique {
        type Value = BTreeMap<String, Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of filters by dimension")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, Strict(v))) = map.next_entry::<String, Strict>()? {
                if out.contains_key(&k) {
                    return Err(serde::de::Error::custom(format!(
                        "the filter \"{}\" is given twice",
                        crate::release::error::bounded(&k)
                    )));
                }
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique)
}

/// Any JSON value whose objects, at every depth, name each key once: a
/// filter's `{"from": 2010, "from": 2020}` is refused like a filter given
/// twice, instead of one of the two silently counting.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Strict;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, b: bool) -> Result<Strict, E> {
                Ok(Strict(Value::Bool(b)))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Strict, E> {
                Ok(Strict(Value::from(n)))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Strict, E> {
                Ok(Strict(Value::from(n)))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Strict, E> {
                Ok(Strict(Value::from(n)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Strict, E> {
                Ok(Strict(Value::String(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Strict, E> {
                Ok(Strict(Value::String(s)))
            }
            fn visit_unit<E>(self) -> Result<Strict, E> {
                Ok(Strict(Value::Null))
            }
            fn visit_none<E>(self) -> Result<Strict, E> {
                Ok(Strict(Value::Null))
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Strict, D::Error> {
                Strict::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Strict, A::Error> {
                let mut out = Vec::new();
                while let Some(Strict(v)) = seq.next_element::<Strict>()? {
                    out.push(v);
                }
                Ok(Strict(Value::Array(out)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Strict, A::Error> {
                let mut out = serde_json::Map::new();
                while let Some((k, Strict(v))) = map.next_entry::<String, Strict>()? {
                    if out.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!(
                            "the key \"{}\" is given twice",
                            crate::release::error::bounded(&k)
                        )));
                    }
                    out.insert(k, v);
                }
                Ok(Strict(Value::Object(out)))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, utoipa::ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AccuracyTarget {
    /// Largest acceptable absolute error of each cell.
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "whole_number")]
    pub margin: u64,
    /// Probability that a cell's noise is within the margin, strictly
    /// between 0.5 and 1, e.g. 0.95.
    #[schema(exclusive_minimum = 0.5, exclusive_maximum = 1.0)]
    pub confidence: f64,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, utoipa::ToSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Perspective {
    #[default]
    CountryOfExploitation,
    Citizenship,
}

impl Perspective {
    pub fn field(self) -> Field {
        match self {
            Perspective::CountryOfExploitation => Field::CountryOfExploitation,
            Perspective::Citizenship => Field::Citizenship,
        }
    }
}

/// How the cost of a query was chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CostChoice {
    /// Given by the caller or the policy default (micro-units).
    Fixed(u64),
    /// The caller asked for a margin; the release pipeline resolves it on the policy grid.
    Accuracy(AccuracyTarget),
}

/// One grouped dimension with its cells' values.
#[derive(Debug, Clone, Serialize)]
pub struct QueryDim {
    pub name: String,
    #[serde(skip)]
    pub field: Field,
    #[serde(skip)]
    pub codes: Vec<u16>,
    pub values: Vec<String>,
    #[serde(skip)]
    pub max_values_per_case: u64,
}

/// A filter on a dimension that is not grouped.
#[derive(Debug, Clone, Serialize)]
pub struct QueryFilter {
    pub name: String,
    #[serde(skip)]
    pub field: Field,
    #[serde(skip)]
    pub codes: Vec<u16>,
    pub values: Vec<String>,
}

/// A validated count query. Its canonical JSON identifies the release.
#[derive(Debug, Clone)]
pub struct CountQuery {
    pub dimensions: Vec<QueryDim>,
    pub filters: Vec<QueryFilter>,
    pub cost: CostChoice,
    /// Confidence of reported margins, in (0.5, 1).
    pub confidence: f64,
    pub cells: usize,
    /// The country a government caller is pinned to, and on which field.
    pub pinned: Option<(Country, Perspective)>,
}

impl CountQuery {
    /// Validates `req` for `consumer` under `policy`.
    pub fn parse(
        policy: &Policy,
        consumer: &Consumer,
        req: &CountRequest,
    ) -> Result<CountQuery, ReleaseError> {
        if req.dimensions.is_empty() {
            return Err(ReleaseError::InvalidQuery(
                "name at least one dimension to group by".into(),
            ));
        }
        if req.dimensions.len() > policy.limits.max_dimensions {
            return Err(ReleaseError::TooManyDimensions {
                count: req.dimensions.len(),
                max: policy.limits.max_dimensions,
            });
        }
        let pinned = pinned_scope(consumer, req)?;
        let mut filters = requested_filters(policy, consumer, req, pinned)?;
        let dimensions = grouped_dimensions(policy, consumer, req, &mut filters)?;
        let cells = dimensions
            .iter()
            .fold(1usize, |n, d| n.saturating_mul(d.codes.len()));
        if cells > policy.limits.max_cells {
            return Err(ReleaseError::TooManyCells {
                cells,
                max: policy.limits.max_cells,
            });
        }
        let filters = restricting_filters(policy, filters);
        let cost = cost_choice(policy, req)?;
        let confidence = match (req.confidence, req.accuracy) {
            (Some(c), _) => check_confidence(c, "confidence")?,
            (None, Some(a)) => a.confidence,
            (None, None) => policy.default_confidence_micro as f64 / 1e6,
        };
        Ok(CountQuery {
            dimensions,
            filters,
            cost,
            confidence,
            cells,
            pinned,
        })
    }

    fn canonical_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.dimensions.len()).collect();
        order.sort_by_key(|&i| self.dimensions[i].field.index());
        order
    }

    /// The cells of a release stored in canonical order, rearranged into
    /// the order of `dimensions` (the order the caller asked for).
    pub fn cells_in_request_order<T: Clone>(&self, canonical: &[T]) -> Vec<T> {
        let order = self.canonical_order();
        if order.iter().enumerate().all(|(i, &d)| i == d) {
            return canonical.to_vec();
        }
        let sizes: Vec<usize> = self.dimensions.iter().map(|d| d.codes.len()).collect();
        // Stride of each requested dimension in the canonical layout.
        let mut strides = vec![0usize; sizes.len()];
        let mut stride = 1;
        for &d in order.iter().rev() {
            strides[d] = stride;
            stride *= sizes[d];
        }
        let cells: usize = sizes.iter().product();
        let mut out = Vec::with_capacity(cells);
        for mut i in 0..cells {
            let mut at = 0;
            for (d, &n) in sizes.iter().enumerate().rev() {
                at += (i % n) * strides[d];
                i /= n;
            }
            if let Some(c) = canonical.get(at) {
                out.push(c.clone());
            }
        }
        out
    }

    /// The grouping for the engine, in canonical order.
    pub fn group_by(&self) -> Vec<GroupBy> {
        self.canonical_order()
            .into_iter()
            .map(|i| &self.dimensions[i])
            .map(|d| GroupBy {
                field: d.field,
                values: d.codes.clone(),
            })
            .collect()
    }

    pub fn engine_filters(&self) -> Vec<Filter> {
        self.filters
            .iter()
            .map(|f| Filter {
                field: f.field,
                allowed: f.codes.clone(),
            })
            .collect()
    }

    /// Canonical JSON of the release this query asks for: everything that
    /// shapes the noisy output (cells, filters, cost, policy parameters),
    /// nothing that does not (confidence of margins, format, caller).
    ///
    /// A single-valued dimension grouped over one value selects the same
    /// cases as a filter on that value, and adds no cell: it is written as
    /// that filter, so two requests for one population are one release
    /// (the two partners of a bilateral flow ask for it grouped by either
    /// country).
    pub fn canonical(&self, policy: &Policy, cost_micro: u64) -> String {
        let pinned_dim = |d: &QueryDim| d.codes.len() == 1 && d.field.kind() == FieldKind::Single;
        let dims: Vec<Value> = self
            .canonical_order()
            .into_iter()
            .map(|i| &self.dimensions[i])
            .filter(|d| !pinned_dim(d))
            .map(|d| serde_json::json!({"name": d.name, "values": d.values, "max_values_per_case": d.max_values_per_case}))
            .collect();
        let mut filters: Vec<(&str, &[String])> = self
            .filters
            .iter()
            .map(|f| (f.name.as_str(), f.values.as_slice()))
            .chain(
                self.dimensions
                    .iter()
                    .filter(|d| pinned_dim(d))
                    .map(|d| (d.name.as_str(), d.values.as_slice())),
            )
            .collect();
        filters.sort_unstable();
        let filters: Vec<Value> = filters
            .into_iter()
            .map(|(name, values)| serde_json::json!({"name": name, "values": values}))
            .collect();
        serde_json::json!({
            "dataset": policy.dataset,
            "accounting": policy.accounting,
            "cost_micro": cost_micro,
            "dimensions": dims,
            "filters": filters,
            "k": policy.k,
            "unit": policy.unit,
            "max_cases_per_person": policy.max_cases_per_person,
            "clamp_negative": policy.output.clamp_negative,
            "round_to": policy.output.round_to,
        })
        .to_string()
    }
}

/// Filters by field, under the request's names, before they are split
/// between grouped dimensions and restrictions.
type FilterMap = BTreeMap<String, (Field, Vec<u16>)>;

/// The dimension `name`, if it exists and `consumer`'s role may use it.
fn lookup<'p>(
    policy: &'p Policy,
    consumer: &Consumer,
    name: &str,
) -> Result<&'p Dimension, ReleaseError> {
    let d = policy
        .dimension(name)
        .ok_or_else(|| ReleaseError::UnknownDimension {
            name: name.to_owned(),
            valid: policy
                .dimensions
                .iter()
                .filter(|d| d.allows(consumer.role))
                .map(|d| d.name.clone())
                .collect(),
        })?;
    if !d.allows(consumer.role) {
        return Err(ReleaseError::ForbiddenDimension {
            name: name.to_owned(),
        });
    }
    Ok(d)
}

/// Government callers are pinned to their country on the chosen
/// perspective; nobody else may name a perspective.
fn pinned_scope(
    consumer: &Consumer,
    req: &CountRequest,
) -> Result<Option<(Country, Perspective)>, ReleaseError> {
    match (consumer.role, consumer.country) {
        (Role::Government, Some(c)) => Ok(Some((c, req.perspective.unwrap_or_default()))),
        _ if req.perspective.is_some() => Err(ReleaseError::InvalidQuery(
            "perspective applies to government callers only".into(),
        )),
        _ => Ok(None),
    }
}

/// The request's filters, with a pinned country added (or checked, when the
/// request names its field: another country is out of scope).
fn requested_filters(
    policy: &Policy,
    consumer: &Consumer,
    req: &CountRequest,
    pinned: Option<(Country, Perspective)>,
) -> Result<FilterMap, ReleaseError> {
    let mut filters = FilterMap::new();
    for (name, spec) in &req.filters {
        let dim = lookup(policy, consumer, name)?;
        let codes = parse_filter(dim, spec)?;
        filters.insert(name.clone(), (dim.field, codes));
    }
    if let Some((country, perspective)) = pinned {
        let field = perspective.field();
        let code = u16::from(country.index());
        let mut names_field = false;
        for (f, codes) in filters.values() {
            if *f == field {
                names_field = true;
                if codes.iter().any(|&c| c != code) {
                    return Err(ReleaseError::CountryScope(country.code().into()));
                }
            }
        }
        if !names_field {
            filters.insert(field.code().to_owned(), (field, vec![code]));
        }
    }
    Ok(filters)
}

/// The grouped dimensions with their cells; a filter on a grouped field
/// restricts its cells and leaves `filters`.
fn grouped_dimensions(
    policy: &Policy,
    consumer: &Consumer,
    req: &CountRequest,
    filters: &mut FilterMap,
) -> Result<Vec<QueryDim>, ReleaseError> {
    let mut dimensions: Vec<QueryDim> = Vec::new();
    for name in &req.dimensions {
        if dimensions.iter().any(|d| &d.name == name) {
            return Err(ReleaseError::InvalidQuery(format!(
                "dimension \"{name}\" is listed twice"
            )));
        }
        let dim = lookup(policy, consumer, name)?;
        if dimensions.iter().any(|d| d.field == dim.field) {
            return Err(ReleaseError::InvalidQuery(format!(
                "two dimensions read the same field as \"{name}\""
            )));
        }
        let mut codes = dim.values.clone();
        if let Some((_, allowed)) = filters.remove(name) {
            codes.retain(|c| allowed.contains(c));
        } else if let Some(key) = filters
            .iter()
            .find(|(_, (f, _))| *f == dim.field)
            .map(|(k, _)| k.clone())
        {
            // A pinned country filter on the grouped field restricts its cells.
            if let Some((_, allowed)) = filters.remove(&key) {
                codes.retain(|c| allowed.contains(c));
            }
        }
        let values = codes
            .iter()
            .filter_map(|&c| dim.field.value_code(usize::from(c)))
            .collect();
        dimensions.push(QueryDim {
            name: name.clone(),
            field: dim.field,
            codes,
            values,
            max_values_per_case: dim.max_values_per_case,
        });
    }
    Ok(dimensions)
}

/// The filters that restrict anything: one that lets the whole published
/// domain through is dropped, so equivalent queries read the same.
fn restricting_filters(policy: &Policy, filters: FilterMap) -> Vec<QueryFilter> {
    filters
        .into_iter()
        .filter(|(_, (field, codes))| !lets_everything_through(policy, *field, codes))
        .map(|(name, (field, mut codes))| {
            codes.sort_unstable();
            let values = codes
                .iter()
                .filter_map(|&c| field.value_code(usize::from(c)))
                .collect();
            QueryFilter {
                name,
                field,
                codes,
                values,
            }
        })
        .collect()
}

/// What the request asks to spend: a cost in the policy's accounting
/// within its bounds, a target margin, or the policy's default.
fn cost_choice(policy: &Policy, req: &CountRequest) -> Result<CostChoice, ReleaseError> {
    let unit = policy.budget_unit();
    let given = match (policy.accounting, req.epsilon, req.rho) {
        (_, Some(_), Some(_)) => {
            return Err(ReleaseError::InvalidQuery(
                "give epsilon or rho, not both".into(),
            ));
        }
        (Accounting::Pure, None, Some(_)) => {
            return Err(ReleaseError::InvalidQuery(
                "this dataset uses pure DP: give epsilon, not rho".into(),
            ));
        }
        (Accounting::Zcdp, Some(_), None) => {
            return Err(ReleaseError::InvalidQuery(
                "this dataset uses zCDP: give rho, not epsilon".into(),
            ));
        }
        (_, e, r) => e.or(r),
    };
    let (min, max) = (policy.cost.min_micro, policy.cost.max_micro);
    let bounds_err = |requested: String| ReleaseError::CostOutOfRange {
        requested,
        min: min as f64 / 1e6,
        max: max as f64 / 1e6,
        unit,
    };
    match (given, req.accuracy) {
        (Some(_), Some(_)) => Err(ReleaseError::InvalidQuery(format!(
            "give {unit} or accuracy, not both"
        ))),
        (Some(x), None) => {
            let micro = cost_micro(x, unit, || bounds_err(format!("{x}")))?;
            if !(min..=max).contains(&micro) {
                return Err(bounds_err(format!("{x}")));
            }
            Ok(CostChoice::Fixed(micro))
        }
        (None, Some(a)) => {
            if a.margin == 0 {
                return Err(ReleaseError::InvalidQuery(
                    "accuracy.margin must be a positive whole number".into(),
                ));
            }
            check_confidence(a.confidence, "accuracy.confidence")?;
            Ok(CostChoice::Accuracy(a))
        }
        (None, None) => Ok(CostChoice::Fixed(policy.cost.default_micro)),
    }
}

/// A cost (`unit` is `epsilon` or `rho`) as exact micro-units, read through
/// the number's shortest decimal as an admin's limit is: one finer than a
/// micro-unit is refused (`query.invalid`), never rounded, so the charge is
/// exactly what was asked for. A number that is no cost at all (not
/// positive, too large) is refused with `not_a_cost`.
pub(crate) fn cost_micro(
    x: f64,
    unit: &str,
    not_a_cost: impl FnOnce() -> ReleaseError,
) -> Result<u64, ReleaseError> {
    use crate::domain::budget::{Amount, BudgetError};
    match Amount::debit_from_f64(x) {
        Ok(amount) => Ok(amount.micro()),
        Err(BudgetError::TooPrecise) => Err(ReleaseError::InvalidQuery(format!(
            "{unit} must be a multiple of 0.000001 (at most six decimal places); {} is finer",
            crate::release::error::bounded(&format!("{x}"))
        ))),
        Err(_) => Err(not_a_cost()),
    }
}

/// Whether a filter on `field` passes every case the snapshot holds: it
/// names every value of the field's published domain, and the field is
/// single-valued (a multi-valued filter also drops unknown and empty groups).
fn lets_everything_through(policy: &Policy, field: Field, codes: &[u16]) -> bool {
    field.kind() == FieldKind::Single
        && policy
            .published_domain(field)
            .is_some_and(|domain| domain.iter().all(|c| codes.contains(c)))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn check_confidence(c: f64, field: &str) -> Result<f64, ReleaseError> {
    if c.is_finite() && c > 0.5 && c < 1.0 {
        Ok(c)
    } else {
        Err(ReleaseError::InvalidQuery(format!(
            "{field} must be a number strictly between 0.5 and 1"
        )))
    }
}

/// A year written `2015` or `2015.0`: JSON (and JSON Schema's `integer`)
/// does not tell them apart, so neither do we.
fn whole_year(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= f64::from(u16::MAX))
            .map(|f| f as i64)
    })
}

/// Field codes a filter allows, within the dimension's declared domain.
fn parse_filter(dim: &Dimension, spec: &Value) -> Result<Vec<u16>, ReleaseError> {
    let unknown = |v: &str| ReleaseError::UnknownValue {
        dimension: dim.name.clone(),
        value: v.to_owned(),
    };
    let mut codes = Vec::new();
    match spec {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(ReleaseError::InvalidQuery(format!(
                    "filter on {} lists no values",
                    dim.name
                )));
            }
            for item in items {
                let text = match item {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => {
                        return Err(ReleaseError::InvalidQuery(format!(
                            "filter values of {} must be strings or numbers",
                            dim.name
                        )));
                    }
                };
                // Country codes are case-insensitive.
                let text = if matches!(dim.field, Field::Citizenship | Field::CountryOfExploitation)
                    && text.len() == 3
                {
                    text.to_ascii_uppercase()
                } else {
                    text
                };
                let pos = dim.position_of(&text).ok_or_else(|| unknown(&text))?;
                let code = dim.values[pos];
                if !codes.contains(&code) {
                    codes.push(code);
                }
            }
        }
        Value::Object(range) if dim.field == Field::RegistrationYear => {
            let year = |k: &str| -> Result<i64, ReleaseError> {
                range.get(k).and_then(whole_year).ok_or_else(|| {
                    ReleaseError::InvalidQuery(format!(
                        "a range filter on {} needs whole-number \"from\" and \"to\"",
                        dim.name
                    ))
                })
            };
            if range.keys().any(|k| k != "from" && k != "to") {
                return Err(ReleaseError::InvalidQuery(format!(
                    "a range filter on {} takes only \"from\" and \"to\"",
                    dim.name
                )));
            }
            let (from, to) = (year("from")?, year("to")?);
            // The same bounds as the national endpoints' from_year and to_year.
            let years = dim
                .values
                .iter()
                .map(|&c| i64::from(c) + i64::from(YEAR_MIN));
            if let (Some(first), Some(last)) = (years.clone().min(), years.max()) {
                for (name, y) in [("from", from), ("to", to)] {
                    if !(first..=last).contains(&y) {
                        return Err(ReleaseError::InvalidQuery(format!(
                            "filter on {}: {name} must be a registration year from {first} to {last}",
                            dim.name
                        )));
                    }
                }
            }
            if from > to {
                return Err(ReleaseError::InvalidQuery(format!(
                    "filter on {}: from must not be after to",
                    dim.name
                )));
            }
            for &code in &dim.values {
                let y = i64::from(code) + i64::from(YEAR_MIN);
                if (from..=to).contains(&y) {
                    codes.push(code);
                }
            }
            if codes.is_empty() {
                return Err(unknown(&format!("{from}..{to}")));
            }
        }
        _ => {
            let hint = if dim.field == Field::RegistrationYear {
                " or {\"from\": .., \"to\": ..}"
            } else {
                ""
            };
            return Err(ReleaseError::InvalidQuery(format!(
                "filter on {} must be a list of values{hint}",
                dim.name
            )));
        }
    }
    if dim.field.kind() == FieldKind::Multi && codes.is_empty() {
        return Err(ReleaseError::InvalidQuery(format!(
            "filter on {} lists no values",
            dim.name
        )));
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Result<CountRequest, String> {
        serde_json::from_str(body).map_err(|e| e.to_string())
    }

    #[test]
    fn a_key_given_twice_is_refused_at_any_depth() {
        let top =
            read(r#"{"dimensions":["gender"],"filters":{"gender":["man"],"gender":["woman"]}}"#);
        assert!(top.is_err_and(|e| e.contains("given twice")));
        let nested = read(
            r#"{"dimensions":["gender"],"filters":{"registration_year":{"from":2010,"to":2012,"to":2020}}}"#,
        );
        assert!(nested.is_err_and(|e| e.contains("\"to\" is given twice")));
        let deeper = read(r#"{"dimensions":["gender"],"filters":{"gender":[{"a":1,"a":2}]}}"#);
        assert!(deeper.is_err_and(|e| e.contains("given twice")));
        let fine = read(
            r#"{"dimensions":["gender"],"filters":{"registration_year":{"from":2010,"to":2012}}}"#,
        );
        assert!(fine.is_ok());
    }

    #[test]
    fn an_empty_dimension_list_is_refused_rather_than_read_as_absent() {
        assert!(read(r#"{"dimensions":[]}"#).is_err_and(|e| e.contains("no dimension")));
        assert!(read(r#"{"workload":[["gender"]]}"#).is_ok_and(|r| r.dimensions.is_empty()));
    }

    fn parse(body: &str) -> Result<CountQuery, ReleaseError> {
        let policy = crate::testing::shipped_policy();
        let req = read(body).map_err(ReleaseError::InvalidBody)?;
        CountQuery::parse(&policy, &crate::testing::researcher(), &req)
    }

    #[test]
    fn a_cost_finer_than_a_micro_unit_is_refused_not_rounded() {
        for eps in ["0.0000015", "0.1000001", "0.30000000000000004", "1e-7"] {
            let e = parse(&format!(r#"{{"dimensions":["gender"],"epsilon":{eps}}}"#));
            match e {
                Err(ReleaseError::InvalidQuery(m)) => {
                    assert!(
                        m.contains("epsilon must be a multiple of 0.000001"),
                        "{eps}: {m}"
                    )
                }
                other => panic!("{eps}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_cost_of_whole_micro_units_is_charged_exactly() {
        for (eps, micro) in [("0.1", 100_000), ("0.123456", 123_456), ("1.5e-1", 150_000)] {
            let q = parse(&format!(r#"{{"dimensions":["gender"],"epsilon":{eps}}}"#));
            assert_eq!(
                q.map(|q| q.cost).ok(),
                Some(CostChoice::Fixed(micro)),
                "{eps}"
            );
        }
        // Out of the policy's bounds is still its own refusal.
        let e = parse(r#"{"dimensions":["gender"],"epsilon":0.000001}"#);
        assert!(
            matches!(e, Err(ReleaseError::CostOutOfRange { .. })),
            "{e:?}"
        );
    }

    #[test]
    fn a_year_range_is_whole_years_however_written() {
        let q = parse(
            r#"{"dimensions":["gender"],"filters":{"registration_year":{"from":2015.0,"to":2016}}}"#,
        );
        assert!(q.is_ok(), "{q:?}");
        let e = parse(
            r#"{"dimensions":["gender"],"filters":{"registration_year":{"from":2015.5,"to":2016}}}"#,
        );
        assert!(matches!(e, Err(ReleaseError::InvalidQuery(_))), "{e:?}");
    }

    #[test]
    fn a_margin_is_a_whole_number_however_written() {
        let m = |t: &str| {
            read(&format!(
                r#"{{"dimensions":["gender"],"accuracy":{{"margin":{t},"confidence":0.9}}}}"#
            ))
            .map(|r| r.accuracy.map(|a| a.margin))
        };
        assert_eq!(m("12"), Ok(Some(12)));
        assert_eq!(m("12.0"), Ok(Some(12)));
        assert_eq!(m("1e3"), Ok(Some(1000)));
        assert!(m("12.5").is_err());
        assert!(m("-1").is_err());
        assert!(m("1e30").is_err());
    }
}
