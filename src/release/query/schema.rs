//! The OpenAPI schema of [`CountRequest`], written out because it states the
//! cross-field rules that [`super::CountQuery::parse`] and
//! [`crate::release::workload::plan_workload`] enforce, which a derived
//! schema cannot: `dimensions` (one grouping) or `workload` (several), never
//! both; at most one of `epsilon`, `rho` and `accuracy` (a workload takes no
//! `accuracy`); a cost that is positive and a whole number of micro-units.
//!
//! Invariant: a body valid under this schema is refused only for what the
//! running policy decides (names, values, years, cost bounds and accounting,
//! limits) or the caller's role (`perspective`), never for its shape; and
//! `null` is allowed exactly where the server reads it as "not given".

use super::CountRequest;
use crate::domain::case::{YEAR_MAX, YEAR_MIN};
use crate::release::workload::MAX_GROUPINGS;
use serde_json::json;
use std::borrow::Cow;
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder,
    OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// The component of a body with `dimensions`.
const SINGLE: &str = "SingleCountRequest";
/// The component of a body with `workload`.
const WORKLOAD: &str = "WorkloadCountRequest";

/// Dimension names, as the policy loader allows them.
const NAME_PATTERN: &str = "^[a-z0-9_]+$";

/// The smallest step of a cost: one micro-unit.
const COST_STEP: f64 = 0.000_001;

impl PartialSchema for CountRequest {
    fn schema() -> RefOr<Schema> {
        AllOfBuilder::new()
            .description(Some(
                "Body of `POST /v1/counts` and `POST /v1/counts/estimate`: one grouping \
                 (`dimensions`) or a workload of several (`workload`), never both; and at \
                 most one of `epsilon`, `rho` and `accuracy` (`null` is not given).",
            ))
            .item(
                OneOfBuilder::new()
                    .item(Ref::from_schema_name(SINGLE))
                    .item(Ref::from_schema_name(WORKLOAD)),
            )
            .item(at_most_one_of(&["epsilon", "rho", "accuracy"]))
            .examples([json!({
                "dimensions": ["gender", "age_broad"],
                "filters": {"registration_year": {"from": 2015, "to": 2020}},
                "epsilon": 0.5
            })])
            .into()
    }
}

impl ToSchema for CountRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CountRequest")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((SINGLE.to_owned(), single().into()));
        schemas.push((WORKLOAD.to_owned(), workload().into()));
        for (name, schema) in [
            (
                super::AccuracyTarget::name(),
                super::AccuracyTarget::schema(),
            ),
            (super::Perspective::name(), super::Perspective::schema()),
        ] {
            schemas.push((name.into_owned(), schema));
        }
        <super::AccuracyTarget as ToSchema>::schemas(schemas);
        <super::Perspective as ToSchema>::schemas(schemas);
    }
}

/// One grouping.
fn single() -> ObjectBuilder {
    let dimensions = grouping()
        .description(Some(
            "Dimensions to group by, in output order (see `GET /v1/catalog`): at least one, \
             each once, at most the policy's `max_dimensions`.",
        ))
        .examples([json!(["gender", "age_broad"])]);
    let shared = shared_properties(
        nullable_ref(
            "AccuracyTarget",
            "Ask for a margin of error instead of a cost: the service picks the smallest \
             cost that meets it. Not with `epsilon` or `rho`.",
        ),
        "Privacy cost in epsilon (pure accounting). Omit for the policy default.",
        "Privacy cost in rho (zCDP accounting). Omit for the policy default.",
    );
    let base = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("A count of one grouping."))
        .required("dimensions")
        .property("dimensions", dimensions)
        .property(
            "workload",
            null_only("Only null here: a body with a workload has no `dimensions`."),
        );
    closed(shared.into_iter().fold(base, |o, (k, v)| o.property(k, v)))
}

/// Several groupings over the same filters.
fn workload() -> ObjectBuilder {
    let groupings = ArrayBuilder::new()
        .items(grouping())
        .min_items(Some(1))
        .max_items(Some(MAX_GROUPINGS))
        .unique_items(true)
        .description(Some(format!(
            "Several groupings over the same filters, released together as one charge and \
             answered as consistent tables: 1 to {MAX_GROUPINGS} groupings, none listed twice \
             (in any order), each naming at least one dimension once. A grouping with a \
             multi-valued dimension may not share a dimension with another; any other \
             grouping may share dimensions with at most one earlier grouping."
        )))
        .examples([json!([
            ["gender", "age_broad"],
            ["gender", "registration_year"],
            ["age_broad"]
        ])]);
    let shared = shared_properties(
        null_only("Only null here: a workload takes a cost, which its groupings share equally.")
            .into(),
        "The workload's cost in epsilon (pure accounting), split equally between its \
         groupings (each share rounded down to a micro-unit).",
        "The workload's cost in rho (zCDP accounting), split equally between its \
         groupings (each share rounded down to a micro-unit).",
    );
    let base = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("A count of several groupings, as one release."))
        .required("workload")
        .property("workload", groupings);
    closed(shared.into_iter().fold(base, |o, (k, v)| o.property(k, v)))
}

/// The properties both shapes take; `accuracy` differs between them.
fn shared_properties(
    accuracy: RefOr<Schema>,
    epsilon: &str,
    rho: &str,
) -> Vec<(&'static str, RefOr<Schema>)> {
    vec![
        ("filters", filters().into()),
        ("epsilon", cost(epsilon).into()),
        ("rho", cost(rho).into()),
        ("accuracy", accuracy),
        (
            "confidence",
            ObjectBuilder::new()
                .schema_type(nullable(Type::Number))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
                .exclusive_minimum(Some(0.5))
                .exclusive_maximum(Some(1.0))
                .description(Some(
                    "Confidence of the reported margins of error, strictly between 0.5 and \
                     1 (default from policy, e.g. 0.95).",
                ))
                .into(),
        ),
        (
            "perspective",
            nullable_ref(
                "Perspective",
                "Government callers only: pin to victims identified in your country \
                 (`country_of_exploitation`, the default) or to your nationals identified \
                 anywhere (`citizenship`).",
            ),
        ),
    ]
}

/// A cost in the budget's unit: positive, a whole number of micro-units.
fn cost(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(nullable(Type::Number))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
        .exclusive_minimum(Some(0.0))
        .multiple_of(Some(COST_STEP))
        .description(Some(format!(
            "{description} Positive, at most six decimal places (a multiple of 0.000001: a \
             finer cost is refused, not rounded), within the policy's bounds (see `GET \
             /v1/catalog`); give the one of `epsilon` and `rho` the dataset's accounting uses."
        )))
}

/// Names of one grouping: at least one, each once.
fn grouping() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(dimension_name())
        .min_items(Some(1))
        .unique_items(true)
}

fn dimension_name() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(NAME_PATTERN))
}

/// Filters by dimension name: a non-empty list of values, or a year range.
fn filters() -> ObjectBuilder {
    let values = ArrayBuilder::new()
        .items(
            ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Number])),
        )
        .min_items(Some(1))
        .description(Some(
            "The values to keep (strings or numbers), at least one.",
        ));
    let year = || {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(YEAR_MIN))
            .maximum(Some(YEAR_MAX))
    };
    let range = closed(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "On registration_year only: the years from `from` to `to` (not after it), \
                 both in the dataset's years.",
            ))
            .required("from")
            .required("to")
            .property("from", year())
            .property("to", year()),
    );
    let spec = OneOfBuilder::new().item(values).item(range).build();
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Per dimension: a list of values, or `{\"from\": Y1, \"to\": Y2}` for \
             registration_year; each dimension once.",
        ))
        .property_names(Some(dimension_name()))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::OneOf(
            spec,
        )))))
        .examples([json!({
            "registration_year": {"from": 2015, "to": 2020},
            "citizenship": ["UKR", "MDA"]
        })])
}

/// At most one of `names` is given (present and not null): for each, the
/// others are absent or null.
fn at_most_one_of(names: &[&str]) -> AnyOfBuilder {
    names.iter().fold(AnyOfBuilder::new(), |any, given| {
        let others = names.iter().filter(|n| *n != given).fold(
            ObjectBuilder::new().schema_type(SchemaType::AnyValue),
            |o, other| o.property(*other, ObjectBuilder::new().schema_type(Type::Null)),
        );
        any.item(others)
    })
}

/// `type` and `null`.
fn nullable(t: Type) -> SchemaType {
    SchemaType::from_iter([t, Type::Null])
}

/// A named schema, or null.
fn nullable_ref(name: &str, description: &str) -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(Ref::from_schema_name(name))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(description))
        .into()
}

/// A property that may only be null (or absent).
fn null_only(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Null)
        .description(Some(description))
}

/// No property but those declared (`deny_unknown_fields`).
fn closed(object: ObjectBuilder) -> ObjectBuilder {
    object.additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
}
