//! Unit tests of the policy loader: the shipped policy is valid, and every
//! refusal of the loader (each place it returns an error) is provoked once,
//! with the field, the message and the line it names. One file per section,
//! as the loader is split; the helpers here edit the shipped policy by exact
//! text and fail when an edit no longer applies, so a change of
//! `policy/default.toml` cannot make a test check the default silently.

mod dimensions;
mod regions;
mod sections;
mod tables;

use super::cx::decimal_to_micro;
use super::{PolicyError, load_policy, parse_policy};

/// The shipped policy.
pub(super) const GOOD: &str = include_str!("../../../policy/default.toml");

/// The shipped policy with each `(from, to)` edit applied; `from` must stand
/// in it exactly once.
pub(super) fn with(edits: &[(&str, &str)]) -> String {
    edits.iter().fold(GOOD.to_owned(), |src, (from, to)| {
        assert_eq!(
            src.matches(from).count(),
            1,
            "policy/default.toml must hold {from:?} exactly once: update the test"
        );
        src.replacen(from, to, 1)
    })
}

/// The error a policy text is refused with.
pub(super) fn refusal(src: &str) -> PolicyError {
    match parse_policy("p.toml", src) {
        Ok(_) => panic!("policy should be refused"),
        Err(e) => e,
    }
}

/// Asserts that `src` is refused on `field` with a message containing
/// `message`, at a line containing `line_holds`.
#[track_caller]
pub(super) fn assert_refused(src: &str, field: &str, message: &str, line_holds: &str) {
    let e = refusal(src);
    assert_eq!(e.field, field, "{e}");
    assert!(e.message.contains(message), "{e}");
    let line = src.lines().nth(e.line.saturating_sub(1)).unwrap_or("");
    assert!(
        e.line > 0 && line.contains(line_holds),
        "{e}: line {} is {line:?}",
        e.line
    );
    assert!(
        e.to_string()
            .starts_with(&format!("p.toml:{}: {field}: ", e.line))
    );
}

#[test]
fn the_shipped_policy_is_valid() {
    let p = parse_policy("default.toml", GOOD).expect("default policy");
    assert_eq!(p.dataset, "ctm");
    assert!(p.dimensions.len() >= 10);
    assert!(p.k >= 1);
}

#[test]
fn an_unreadable_file_is_refused_naming_it() {
    let path = std::path::Path::new("/nonexistent/policy.toml");
    let e = load_policy(path).expect_err("refused");
    assert_eq!(e.file, "/nonexistent/policy.toml");
    assert_eq!((e.line, e.field.as_str()), (0, "-"));
    assert!(e.message.starts_with("cannot read the policy file"), "{e}");
}

#[test]
fn unknown_keys_and_syntax_errors_name_a_line() {
    let e = refusal(&with(&[("[limits]", "[limits]\nmax_rows = 3")]));
    assert!(e.line > 0 && e.message.contains("max_rows"), "{e}");
    let e = refusal("dataset = \"x\"\ntitle = ");
    assert_eq!((e.line, e.field.as_str()), (2, "-"), "{e}");
}

#[test]
fn the_edit_helper_fails_when_an_edit_does_not_apply() {
    let missing = std::panic::catch_unwind(|| with(&[("no such text", "x")]));
    assert!(missing.is_err());
    let ambiguous = std::panic::catch_unwind(|| with(&[("roles = ", "x")]));
    assert!(ambiguous.is_err());
}

#[test]
fn decimals_convert_exactly() {
    assert_eq!(decimal_to_micro(0.1), Some(100_000));
    assert_eq!(decimal_to_micro(2.0), Some(2_000_000));
    assert_eq!(decimal_to_micro(0.000001), Some(1));
    assert_eq!(decimal_to_micro(0.0000001), None);
    assert_eq!(decimal_to_micro(1e12), None);
    assert_eq!(decimal_to_micro(f64::NAN), None);
}
