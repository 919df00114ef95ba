//! Where a policy error is, and the checks of single values: the validation
//! context `Cx` (the file's name and text) makes every `PolicyError` name the
//! file, the 1-based line and the dotted path of the field.

use super::CostBounds;
use toml::Spanned;

/// A policy that cannot be used, located as precisely as the file allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {field}: {message}")]
pub struct PolicyError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

/// The file being validated; each section's checks are methods of it, in
/// the file of their section.
pub(super) struct Cx<'a> {
    pub file: &'a str,
    pub src: &'a str,
}

impl Cx<'_> {
    /// The 1-based line of a byte offset into the text.
    pub fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.src.len());
        self.src.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// An error at the byte offset `offset` (0 for "no line").
    pub fn err_at(
        &self,
        offset: Option<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> PolicyError {
        PolicyError {
            file: self.file.into(),
            line: offset.map_or(0, |o| self.line(o)),
            field: field.into(),
            message: message.into(),
        }
    }

    /// An error at the line of a spanned value.
    pub fn err<T>(
        &self,
        span: &Spanned<T>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> PolicyError {
        self.err_at(Some(span.span().start), field, message)
    }

    /// An error for a missing key of a section: at the section's header.
    pub fn missing(
        &self,
        header: &str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> PolicyError {
        self.err_at(Some(self.src.find(header).unwrap_or(0)), field, message)
    }

    /// A decimal amount in micro-units: finite, not negative, at most six
    /// decimal places.
    pub fn micro(&self, v: &Spanned<f64>, field: &str) -> Result<u64, PolicyError> {
        let x = *v.get_ref();
        if !x.is_finite() || x < 0.0 {
            return Err(self.err(v, field, "must be a finite number >= 0"));
        }
        decimal_to_micro(x).ok_or_else(|| {
            self.err(
                v,
                field,
                "must have at most 6 decimal places and be below 1e12",
            )
        })
    }

    /// A whole number from 1 to `max`.
    pub fn positive(&self, v: &Spanned<i64>, field: &str, max: i64) -> Result<u64, PolicyError> {
        let x = *v.get_ref();
        if x < 1 || x > max {
            return Err(self.err(v, field, format!("must be between 1 and {max}")));
        }
        Ok(x.unsigned_abs())
    }

    /// A cost that must lie within the policy's cost bounds.
    pub fn cost_within(
        &self,
        v: &Spanned<f64>,
        field: &str,
        cost: &CostBounds,
    ) -> Result<u64, PolicyError> {
        let micro = self.micro(v, field)?;
        if !(cost.min_micro..=cost.max_micro).contains(&micro) {
            return Err(self.err(v, field, "must lie between privacy.min and privacy.max"));
        }
        Ok(micro)
    }

    /// An identifier of a-z, 0-9 and _ (a dataset, dimension or table id).
    pub fn identifier(
        &self,
        v: &Spanned<String>,
        field: impl Into<String>,
        message: &str,
    ) -> Result<String, PolicyError> {
        let id = v.get_ref();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(self.err(v, field, message));
        }
        Ok(id.clone())
    }
}

/// Exact conversion of a policy decimal to micro-units, through its shortest
/// decimal representation (so 0.1 is exactly 100000, not 100000.0000000000055).
pub(crate) fn decimal_to_micro(x: f64) -> Option<u64> {
    if !x.is_finite() || !(0.0..1e12).contains(&x) {
        return None;
    }
    let s = format!("{x}");
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    if frac.len() > 6 || s.contains('e') {
        return None;
    }
    let int: u64 = int.parse().ok()?;
    let mut frac = frac.to_owned();
    while frac.len() < 6 {
        frac.push('0');
    }
    let frac: u64 = frac.parse().ok()?;
    int.checked_mul(1_000_000)?.checked_add(frac)
}
