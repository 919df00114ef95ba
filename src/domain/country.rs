//! ISO 3166-1 countries. A [`Country`] is an index into the alpha-3 list sorted
//! alphabetically, with one extra value for "unknown", so it fits a `u8` column.

use std::fmt;
use std::sync::LazyLock;

/// Alpha-2, alpha-3 and numeric codes of ISO 3166-1 (249 entries), one
/// country a line. (Names are labels, per language: `domain::labels`.)
const ISO_TABLE: &str = include_str!("iso3166.txt");

struct Table {
    /// Alpha-3 codes in sorted order; position = country index.
    alpha3: Vec<&'static str>,
    /// Alpha-2 code per index.
    alpha2: Vec<&'static str>,
    /// Numeric code (three digits) per index.
    numeric: Vec<&'static str>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut rows: Vec<(&'static str, &'static str, &'static str)> = ISO_TABLE
        .lines()
        .filter_map(|l| {
            let mut codes = l.split_whitespace();
            let (a2, a3, num) = (codes.next()?, codes.next()?, codes.next()?);
            Some((a3, a2, num))
        })
        .collect();
    rows.sort_unstable();
    Table {
        alpha3: rows.iter().map(|r| r.0).collect(),
        alpha2: rows.iter().map(|r| r.1).collect(),
        numeric: rows.iter().map(|r| r.2).collect(),
    }
});

/// Code used for a missing country everywhere (CSV, API, store).
pub const UNKNOWN_CODE: &str = "unknown";

/// A country of ISO 3166-1, or unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country(u8);

impl Country {
    /// The unknown country (always the last index).
    pub fn unknown() -> Self {
        Country(Self::count_known() as u8)
    }

    /// Number of ISO countries (without unknown).
    pub fn count_known() -> usize {
        TABLE.alpha3.len()
    }

    /// Number of values in the domain, unknown included.
    pub fn domain_len() -> usize {
        Self::count_known() + 1
    }

    /// Every value of the domain in its canonical order (alpha-3 sorted, then unknown).
    pub fn all() -> impl Iterator<Item = Country> {
        (0..Self::domain_len()).map(|i| Country(i as u8))
    }

    pub fn from_index(i: usize) -> Option<Self> {
        (i < Self::domain_len()).then_some(Country(i as u8))
    }

    pub fn index(self) -> u8 {
        self.0
    }

    pub fn is_unknown(self) -> bool {
        usize::from(self.0) == Self::count_known()
    }

    /// Parses an alpha-3 code (case-insensitive) or `unknown`.
    pub fn parse_alpha3(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case(UNKNOWN_CODE) {
            return Some(Self::unknown());
        }
        if s.len() != 3 {
            return None;
        }
        let up = s.to_ascii_uppercase();
        TABLE
            .alpha3
            .binary_search(&up.as_str())
            .ok()
            .map(|i| Country(i as u8))
    }

    /// Parses what CTDC files hold: alpha-3, alpha-2, or `00`/empty/`-99` for unknown.
    pub fn parse_lenient(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.is_empty() || s == "00" || s == "-99" {
            return Some(Self::unknown());
        }
        if s.len() == 2 {
            let up = s.to_ascii_uppercase();
            return TABLE
                .alpha2
                .iter()
                .position(|a| *a == up)
                .map(|i| Country(i as u8));
        }
        Self::parse_alpha3(s)
    }

    /// Alpha-3 code, or `unknown`.
    pub fn code(self) -> &'static str {
        TABLE
            .alpha3
            .get(usize::from(self.0))
            .copied()
            .unwrap_or(UNKNOWN_CODE)
    }

    /// The ISO 3166-1 numeric code (three digits, e.g. `004`; what map
    /// data such as Natural Earth's names countries by), or `None` for unknown.
    pub fn numeric(self) -> Option<&'static str> {
        TABLE.numeric.get(usize::from(self.0)).copied()
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_every_iso_country_and_round_trips() {
        assert_eq!(Country::count_known(), 249);
        for c in Country::all() {
            assert_eq!(Country::parse_alpha3(c.code()), Some(c));
        }
        assert!(Country::unknown().is_unknown());
    }

    #[test]
    fn every_country_has_a_unique_three_digit_numeric_code() {
        let mut seen = std::collections::HashSet::new();
        for c in Country::all().filter(|c| !c.is_unknown()) {
            let n = c.numeric().unwrap_or_default();
            assert!(
                n.len() == 3 && n.bytes().all(|b| b.is_ascii_digit()),
                "{c}: numeric code {n:?}"
            );
            assert!(seen.insert(n), "{c}: numeric code {n} used twice");
        }
        assert_eq!(Country::unknown().numeric(), None);
        assert_eq!(
            Country::parse_alpha3("AFG").and_then(Country::numeric),
            Some("004")
        );
        assert_eq!(
            Country::parse_alpha3("USA").and_then(Country::numeric),
            Some("840")
        );
    }

    #[test]
    fn lenient_parsing_accepts_ctdc_forms() {
        assert_eq!(Country::parse_lenient("us").map(|c| c.code()), Some("USA"));
        assert_eq!(Country::parse_lenient("ukr").map(|c| c.code()), Some("UKR"));
        assert_eq!(Country::parse_lenient("00"), Some(Country::unknown()));
        assert_eq!(Country::parse_lenient(""), Some(Country::unknown()));
        assert_eq!(Country::parse_lenient("XYZ"), None);
        assert_eq!(Country::parse_lenient("U"), None);
    }
}
