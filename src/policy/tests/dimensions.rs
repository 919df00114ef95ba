//! Refusals of the `[[dimensions]]`: names, fields, value domains, values
//! per case and roles.

use super::{GOOD, assert_refused, refusal, with};
use crate::policy::parse_policy;

/// The `registration_year` dimension of the shipped policy.
const YEAR: &str = "from = 2002\nto = 2025\n";
/// The `gender` dimension of the shipped policy, up to its roles.
const GENDER: &str = "name = \"gender\"\n";
/// The `means_of_control` dimension, multi-valued.
const CONTROL: &str =
    "name = \"means_of_control\"\nmax_values_per_case = 3\nroles = [\"researcher\"]";

#[test]
fn each_field_is_declared_once() {
    let src = with(&[(
        "name = \"datasource\"",
        "name = \"source\"\nfield = \"gender\"",
    )]);
    assert_refused(
        &src,
        "dimensions[2]",
        "reads the same field as dimension \"source\"",
        "gender",
    );
}

#[test]
fn each_name_is_declared_once() {
    let src = with(&[(
        "name = \"datasource\"",
        "name = \"gender\"\nfield = \"datasource\"",
    )]);
    assert_refused(&src, "dimensions[2].name", "declared twice", "\"gender\"");
}

#[test]
fn a_policy_needs_a_dimension() {
    // The scalar sections alone, with an empty list of dimensions.
    let head = GOOD.split("[[dimensions]]").next().unwrap_or("");
    let src = format!("dimensions = []\n{head}");
    let e = refusal(&src);
    assert_eq!((e.field.as_str(), e.line), ("dimensions", 0), "{e}");
    assert!(e.message.contains("at least one dimension"), "{e}");
}

#[test]
fn a_dimension_name_is_an_identifier() {
    let src = with(&[(GENDER, "name = \"Gender\"\n")]);
    assert_refused(&src, "dimensions[2].name", "identifier of a-z", "Gender");
}

#[test]
fn an_unknown_dimension_is_named_with_its_line() {
    let src = with(&[(GENDER, "name = \"sexx\"\n")]);
    assert_refused(
        &src,
        "dimensions[2].name",
        "unknown dimension \"sexx\"",
        "sexx",
    );
    let src = with(&[(GENDER, "name = \"sex\"\nfield = \"sexx\"\n")]);
    assert_refused(
        &src,
        "dimensions[2].field",
        "known fields: ",
        "field = \"sexx\"",
    );
}

#[test]
fn the_year_takes_a_range_not_values() {
    let src = with(&[(YEAR, "values = [\"2002\"]\nfrom = 2002\nto = 2025\n")]);
    assert_refused(
        &src,
        "dimensions[0].values",
        "takes from/to",
        "registration_year",
    );
}

#[test]
fn the_year_needs_both_ends() {
    let src = with(&[(YEAR, "from = 2002\n")]);
    assert_refused(
        &src,
        "dimensions[0].from",
        "needs both from and to",
        "registration_year",
    );
}

#[test]
fn the_years_must_lie_in_the_supported_range_in_order() {
    let src = with(&[(YEAR, "from = 1990\nto = 2025\n")]);
    assert_refused(
        &src,
        "dimensions[0].from",
        "between 2000 and 2100",
        "from = 1990",
    );
    let src = with(&[(YEAR, "from = 2002\nto = 2001\n")]);
    assert_refused(
        &src,
        "dimensions[0].to",
        "between from and 2100",
        "to = 2001",
    );
    let src = with(&[(YEAR, "from = 2002\nto = 2101\n")]);
    assert_refused(
        &src,
        "dimensions[0].to",
        "between from and 2100",
        "to = 2101",
    );
}

#[test]
fn only_the_year_takes_a_range() {
    let src = with(&[(GENDER, "name = \"gender\"\nfrom = 2002\n")]);
    assert_refused(
        &src,
        "dimensions[2].from",
        "registration_year only",
        "\"gender\"",
    );
}

#[test]
fn declared_values_must_be_known_distinct_and_not_none() {
    let cases = [
        ("[\"man\", \"robot\"]", "\"robot\" is not a value of gender"),
        ("[\"man\", \"man\"]", "\"man\" listed twice"),
        ("[]", "must not be empty"),
    ];
    for (values, message) in cases {
        let src = with(&[(GENDER, &format!("name = \"gender\"\nvalues = {values}\n"))]);
        assert_refused(&src, "dimensions[2].values", message, "values = ");
    }
    let p = parse_policy(
        "p.toml",
        &with(&[(GENDER, "name = \"gender\"\nvalues = [\"woman\", \"man\"]\n")]),
    )
    .expect("valid");
    assert_eq!(
        p.dimension("gender").map(|d| d.value_codes()),
        Some(vec!["woman".into(), "man".into()])
    );
}

#[test]
fn values_per_case_apply_to_multi_valued_dimensions_only() {
    let src = with(&[(GENDER, "name = \"gender\"\nmax_values_per_case = 1\n")]);
    assert_refused(
        &src,
        "dimensions[2].max_values_per_case",
        "multi-valued dimensions only",
        "max_values_per_case = 1",
    );
}

#[test]
fn a_multi_valued_dimension_needs_its_values_per_case() {
    let src = with(&[(
        CONTROL,
        "name = \"means_of_control\"\nroles = [\"researcher\"]",
    )]);
    assert_refused(
        &src,
        "dimensions[13].max_values_per_case",
        "required for a multi-valued dimension",
        "means_of_control",
    );
    let src = with(&[(
        CONTROL,
        "name = \"means_of_control\"\nmax_values_per_case = 1000\nroles = [\"researcher\"]",
    )]);
    assert_refused(
        &src,
        "dimensions[13].max_values_per_case",
        "must be between 1 and",
        "max_values_per_case = 1000",
    );
}

#[test]
fn roles_must_be_known_and_receive_counts() {
    let cases = [
        ("[\"researcher\", \"visitor\"]", "unknown role \"visitor\""),
        ("[\"auditor\"]", "role auditor never receives counts"),
    ];
    for (roles, message) in cases {
        let src = with(&[(
            CONTROL,
            &format!("name = \"means_of_control\"\nmax_values_per_case = 3\nroles = {roles}"),
        )]);
        assert_refused(&src, "dimensions[13].roles", message, "roles = ");
    }
}
