//! Refusals of the scalar sections: the dataset id, `[privacy]`,
//! `[budgets]`, `[limits]`, `[output]` and `[bilateral]`, and of the value
//! checks they share (`cx.rs`: amounts, bounded counts, costs).

use super::{GOOD, assert_refused, with};
use crate::policy::{Accounting, PrivacyUnit, parse_policy};

#[test]
fn the_dataset_must_be_an_identifier() {
    let src = with(&[("dataset = \"ctm\"", "dataset = \"CTM data\"")]);
    assert_refused(&src, "dataset", "non-empty identifier", "dataset =");
}

#[test]
fn the_accounting_must_be_pure_or_zcdp() {
    let src = with(&[("\naccounting = \"pure\"", "\naccounting = \"rdp\"")]);
    assert_refused(
        &src,
        "privacy.accounting",
        "\"pure\" or \"zcdp\"",
        "accounting",
    );
}

#[test]
fn the_unit_of_privacy_must_be_declared() {
    let src = with(&[("\nunit = \"person\"", "\n")]);
    assert_refused(
        &src,
        "privacy.unit",
        "missing: declare the unit",
        "[privacy]",
    );
}

#[test]
fn the_unit_of_privacy_must_be_person_or_case() {
    let src = with(&[("\nunit = \"person\"", "\nunit = \"household\"")]);
    assert_refused(&src, "privacy.unit", "\"person\" or \"case\"", "household");
}

#[test]
fn delta_must_be_small_and_positive() {
    let src = with(&[("\ndelta = 1e-6", "\ndelta = 0.01")]);
    assert_refused(&src, "privacy.delta", "below 0.001", "delta = 0.01");
}

#[test]
fn zcdp_needs_a_delta_and_pure_does_not() {
    let src = with(&[
        ("\naccounting = \"pure\"", "\naccounting = \"zcdp\""),
        ("\ndelta = 1e-6", "\n"),
    ]);
    assert_refused(&src, "privacy.delta", "missing: under zcdp", "accounting");
    let pure = parse_policy("p.toml", &with(&[("\ndelta = 1e-6", "\n")])).expect("valid");
    assert_eq!((pure.accounting, pure.delta), (Accounting::Pure, 0.0));
}

#[test]
fn k_must_be_between_1_and_1000() {
    let src = with(&[("\nk = 10 ", "\nk = 0 ")]);
    assert_refused(&src, "privacy.k", "must be between 1 and 1000", "k = 0");
}

#[test]
fn unit_person_needs_the_cases_counted_per_person() {
    let src = with(&[("\nmax_cases_per_person = 1 ", "\n# ")]);
    assert_refused(
        &src,
        "privacy.max_cases_per_person",
        "missing: under unit = \"person\"",
        "k = 10",
    );
    let src = with(&[(
        "\nmax_cases_per_person = 1 ",
        "\nmax_cases_per_person = 101 ",
    )]);
    assert_refused(
        &src,
        "privacy.max_cases_per_person",
        "between 1 and 100",
        "max_cases_per_person = 101",
    );
}

#[test]
fn unit_case_takes_no_cases_per_person() {
    let src = with(&[
        ("\nunit = \"person\"", "\nunit = \"case\""),
        ("\nmax_cases_per_person = 1 ", "\nmax_cases_per_person = 2 "),
    ]);
    assert_refused(
        &src,
        "privacy.max_cases_per_person",
        "applies to unit = \"person\" only",
        "max_cases_per_person = 2",
    );
    let case = parse_policy(
        "p.toml",
        &with(&[("\nunit = \"person\"", "\nunit = \"case\"")]),
    )
    .expect("valid: 1 is allowed");
    assert_eq!(
        (case.unit, case.max_cases_per_person),
        (PrivacyUnit::Case, 1)
    );
}

#[test]
fn a_negative_amount_is_refused() {
    let src = with(&[("\nresearcher = 10.0", "\nresearcher = -10.0")]);
    assert_refused(
        &src,
        "budgets.researcher",
        "finite number >= 0",
        "researcher",
    );
}

#[test]
fn an_amount_with_more_than_six_decimals_is_refused() {
    let src = with(&[("\ndefault = 0.5", "\ndefault = 0.1234567")]);
    assert_refused(
        &src,
        "privacy.default",
        "at most 6 decimal places",
        "default =",
    );
}

#[test]
fn the_smallest_cost_must_be_positive() {
    let src = with(&[("\nmin = 0.05", "\nmin = 0.0")]);
    assert_refused(&src, "privacy.min", "greater than 0", "min = 0.0");
}

#[test]
fn the_largest_cost_must_not_be_below_the_smallest() {
    let src = with(&[("\nmax = 2.0", "\nmax = 0.01")]);
    assert_refused(
        &src,
        "privacy.max",
        "not be below privacy.min",
        "max = 0.01",
    );
}

#[test]
fn the_default_cost_must_lie_within_the_bounds() {
    let src = with(&[("\ndefault = 0.5", "\ndefault = 3.0")]);
    assert_refused(
        &src,
        "privacy.default",
        "between privacy.min and privacy.max",
        "default",
    );
}

#[test]
fn the_grid_must_be_positive_and_at_most_the_largest_cost() {
    for grid in ["0.0", "2.5"] {
        let src = with(&[("\ngrid = 0.01", &format!("\ngrid = {grid}"))]);
        assert_refused(&src, "privacy.grid", "at most privacy.max", "grid =");
    }
}

#[test]
fn the_confidence_must_lie_between_one_half_and_one() {
    let src = with(&[("\nconfidence = 0.95", "\nconfidence = 0.4")]);
    assert_refused(
        &src,
        "privacy.confidence",
        "between 0.5 and 1",
        "confidence",
    );
}

#[test]
fn an_unknown_budget_is_refused() {
    let src = with(&[("\nglobal = 500.0", "\nvisitor = 1.0\nglobal = 500.0")]);
    assert_refused(&src, "budgets.visitor", "unknown budget", "visitor = 1.0");
}

#[test]
fn the_global_budget_is_required() {
    let src = with(&[("\nglobal = 500.0", "\n# ")]);
    assert_refused(
        &src,
        "budgets.global",
        "global dataset budget is required",
        "[budgets]",
    );
}

#[test]
fn limits_must_lie_in_their_ranges() {
    let src = with(&[("\nmax_dimensions = 3", "\nmax_dimensions = 9")]);
    assert_refused(
        &src,
        "limits.max_dimensions",
        "between 1 and 8",
        "max_dimensions",
    );
    let src = with(&[("\nmax_token_hours = 8760", "\nmax_token_hours = 87601")]);
    assert_refused(
        &src,
        "limits.max_token_hours",
        "between 1 and 87600",
        "87601",
    );
}

#[test]
fn rounding_must_be_to_a_base_from_1_to_1000() {
    let src = with(&[("\nround_to = 1 ", "\nround_to = 0 ")]);
    assert_refused(
        &src,
        "output.round_to",
        "between 1 and 1000",
        "round_to = 0",
    );
}

#[test]
fn the_bilateral_cost_must_lie_within_the_bounds() {
    let src = with(&[("[bilateral]\ncost = 0.2", "[bilateral]\ncost = 5.0")]);
    assert_refused(
        &src,
        "bilateral.cost",
        "between privacy.min and privacy.max",
        "cost = 5.0",
    );
    let p = parse_policy("p.toml", GOOD).expect("valid");
    assert_eq!(p.bilateral_cost_micro, Some(200_000));
    assert_eq!(p.bilateral_tables.len(), 2);
}
