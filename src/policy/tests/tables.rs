//! Refusals of the national `[[tables]]`: ids, dimensions, cost, and the
//! release shape (perspectives and total row).

use super::{GOOD, assert_refused, with};
use crate::domain::Field;
use crate::policy::parse_policy;

/// The first table of the shipped policy, `tables[0]`.
const BY_YEAR: &str = "id = \"victims_by_year\"\ntitle = \"Victims by year of registration\"\ndimensions = [\"registration_year\"]\ncost = 0.2";

#[test]
fn national_tables_offer_both_perspectives_unless_told() {
    let p = parse_policy("default.toml", GOOD).expect("default policy");
    let year = p.table("victims_by_year").expect("table");
    assert!(year.offers(Field::Citizenship) && year.offers(Field::CountryOfExploitation));
    assert!(year.total);
    let cit = p.table("by_citizenship").expect("table");
    assert_eq!(cit.perspectives, vec![Field::CountryOfExploitation]);
    assert!(!p.table("by_type_of_exploitation").expect("table").total);
}

#[test]
fn a_table_id_is_an_identifier() {
    let src = with(&[("id = \"victims_by_year\"", "id = \"Victims by year\"")]);
    assert_refused(&src, "tables[0].id", "identifier of a-z", "Victims by year");
}

#[test]
fn a_table_id_is_declared_once() {
    let src = with(&[(
        "id = \"by_type_of_exploitation\"",
        "id = \"by_sex_and_age\"",
    )]);
    assert_refused(&src, "tables[2].id", "declared twice", "by_sex_and_age");
}

#[test]
fn a_table_groups_by_declared_dimensions_within_the_limit() {
    let src = with(&[(
        "dimensions = [\"gender\", \"age_broad\"]",
        "dimensions = [\"gender\", \"height\"]",
    )]);
    assert_refused(
        &src,
        "tables[1].dimensions",
        "unknown dimension \"height\"; declared: registration_year, ",
        "height",
    );
    let src = with(&[(
        "dimensions = [\"gender\", \"age_broad\"]",
        "dimensions = [\"gender\", \"age_broad\", \"datasource\", \"education\"]",
    )]);
    assert_refused(
        &src,
        "tables[1].dimensions",
        "more dimensions than limits.max_dimensions",
        "datasource",
    );
}

#[test]
fn a_table_cost_must_lie_within_the_bounds() {
    let src = with(&[(BY_YEAR, &BY_YEAR.replace("cost = 0.2", "cost = 9.0"))]);
    assert_refused(
        &src,
        "tables[0].cost",
        "between privacy.min and privacy.max",
        "cost = 9.0",
    );
}

#[test]
fn national_tables_need_a_year_dimension() {
    let src = with(&[
        (
            "[[dimensions]]\nname = \"registration_year\"\ndescription = \"Year the case was registered.\"\nfrom = 2002\nto = 2025\nroles = [\"researcher\", \"government\"]\n",
            "",
        ),
        (
            BY_YEAR,
            &BY_YEAR.replace("[\"registration_year\"]", "[\"datasource\"]"),
        ),
    ]);
    assert_refused(
        &src,
        "tables",
        "need a registration_year dimension",
        "victims_by_year",
    );
}

#[test]
fn declared_perspectives_must_be_country_fields_each_once() {
    let cases = [
        ("[\"residence\"]", "unknown perspective \"residence\""),
        (
            "[\"citizenship\", \"citizenship\"]",
            "\"citizenship\" listed twice",
        ),
        ("[]", "must not be empty"),
    ];
    for (list, message) in cases {
        let src = with(&[(
            "perspectives = [\"citizenship\"]",
            &format!("perspectives = {list}"),
        )]);
        assert_refused(&src, "tables[4].perspectives", message, "perspectives = ");
    }
}

#[test]
fn a_perspective_needs_a_dimension_on_its_field() {
    let src = with(&[(
        "[[dimensions]]\nname = \"citizenship\"\ndescription = \"ISO 3166-1 alpha-3 country of citizenship.\"\nroles = [\"researcher\", \"government\"]\n",
        "",
    )]);
    assert_refused(
        &src,
        "tables[0].perspectives",
        "perspective citizenship needs a declared dimension reading citizenship",
        "victims_by_year",
    );
}

#[test]
fn national_tables_that_would_mislead_are_refused() {
    // Grouping by the pinned field: one cell.
    let src = with(&[(
        "perspectives = [\"country_of_exploitation\"]\ntotal = true",
        "perspectives = [\"citizenship\"]\ntotal = true",
    )]);
    assert_refused(
        &src,
        "tables[3].perspectives",
        "one cell",
        "perspectives = ",
    );
    // A total over a multi-valued group.
    let src = with(&[(
        "dimensions = [\"type_of_exploitation\"]\ncost = 0.2\n",
        "dimensions = [\"type_of_exploitation\"]\ncost = 0.2\ntotal = true\n",
    )]);
    assert_refused(&src, "tables[2].total", "multi-valued", "total = true");
    // The same dimensions twice on a perspective.
    let src = with(&[(
        "dimensions = [\"education\", \"socio_economic_status\"]",
        "dimensions = [\"age_broad\", \"gender\"]",
    )]);
    assert_refused(
        &src,
        "tables[6].dimensions",
        "table \"by_sex_and_age\" already groups by these dimensions",
        "age_broad",
    );
}
