//! Privacy budgets in exact integer micro-units.
//!
//! Invariant: every privacy quantity (ε for pure differential privacy, ρ for
//! zero-concentrated differential privacy) is a whole number of micro-units
//! (`1.0` = `1_000_000`), and all arithmetic on it is checked: an overflow or an
//! overspend is an error, never a wrap or a silent clamp. A decimal typed by a
//! user or written in a policy must be a whole number of micro-units (at most
//! six decimal places): a finer one is refused, never rounded, so a charge is
//! exactly what was asked for.
//!
//! Floats appear only at the edges: [`Epsilon::debit_from_f64`] reads a JSON
//! number through its shortest decimal representation (so `0.1` is exactly
//! `100_000` micro-units), and `to_f64`/`Serialize` exist for display.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};
use thiserror::Error;

/// Micro-units in one unit of ε or ρ.
pub const MICROS_PER_UNIT: u64 = 1_000_000;

/// Decimal places a budget quantity carries.
const DECIMAL_PLACES: usize = 6;

/// Why a privacy quantity was rejected. Amounts are in micro-units and are
/// shown as decimals in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BudgetError {
    /// NaN or an infinity.
    #[error("the privacy parameter is not a finite number")]
    NotFinite,
    /// Zero or negative where a positive amount is required (a debit).
    #[error("the privacy parameter must be greater than zero")]
    NotPositive,
    /// A negative amount in a policy file.
    #[error("the privacy parameter must not be negative")]
    Negative,
    /// Text that is not a plain decimal such as `1`, `0.5` or `12.000001`.
    #[error("the privacy parameter is not a plain decimal number such as 0.5")]
    Malformed,
    /// More than six decimal places where the value must be exact.
    #[error("the privacy parameter has more than 6 decimal places")]
    TooPrecise,
    /// Below the policy minimum (micro-units).
    #[error("the privacy parameter is below the minimum of {}", Decimal(*.min))]
    TooSmall {
        /// The policy minimum, in micro-units.
        min: u64,
    },
    /// Above the policy maximum (micro-units).
    #[error("the privacy parameter is above the maximum of {}", Decimal(*.max))]
    TooLarge {
        /// The policy maximum, in micro-units.
        max: u64,
    },
    /// The result does not fit in 64 bits of micro-units.
    #[error("the privacy amount is too large to represent")]
    Overflow,
    /// A debit larger than what is left (both in micro-units).
    #[error(
        "the request costs {} but only {} of the budget remains",
        Decimal(*.requested),
        Decimal(*.remaining)
    )]
    Insufficient {
        /// The cost asked for, in micro-units.
        requested: u64,
        /// What was left before the request, in micro-units.
        remaining: u64,
    },
}

/// Shows micro-units as a decimal with at most six places, without trailing
/// zeros: `500_000` is `0.5`, `1_000_000` is `1`, `1` is `0.000001`.
struct Decimal(u64);

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / MICROS_PER_UNIT;
        let frac = self.0 % MICROS_PER_UNIT;
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:06}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Parses a plain non-negative decimal (`12`, `0.5`, `3.000001`) into
/// micro-units with exact integer arithmetic; a non-zero digit beyond the
/// sixth decimal place is [`BudgetError::TooPrecise`].
fn parse_micro(text: &str) -> Result<u64, BudgetError> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err(BudgetError::Negative);
    }
    let (whole, frac) = match text.split_once('.') {
        Some((whole, frac)) => (whole, frac),
        None => (text, ""),
    };
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !is_digits(whole) || !is_digits(frac) || text.ends_with('.') {
        return Err(BudgetError::Malformed);
    }
    let mut micro: u64 = 0;
    for digit in whole.bytes() {
        micro = micro
            .checked_mul(10)
            .and_then(|m| m.checked_add(u64::from(digit - b'0')))
            .ok_or(BudgetError::Overflow)?;
    }
    micro = micro
        .checked_mul(MICROS_PER_UNIT)
        .ok_or(BudgetError::Overflow)?;
    let (kept, beyond) = frac.split_at(frac.len().min(DECIMAL_PLACES));
    let mut frac_micro: u64 = 0;
    for digit in kept.bytes() {
        frac_micro = frac_micro * 10 + u64::from(digit - b'0');
    }
    for _ in kept.len()..DECIMAL_PLACES {
        frac_micro *= 10; // "0.5" is 500_000 micro-units
    }
    micro = micro.checked_add(frac_micro).ok_or(BudgetError::Overflow)?;
    if beyond.bytes().any(|b| b != b'0') {
        return Err(BudgetError::TooPrecise);
    }
    Ok(micro)
}

/// A privacy quantity kept in micro-units; implemented by [`Epsilon`] and
/// [`Rho`] so that [`Budget`] and the accountants work with either.
pub trait PrivacyUnit: Copy + Ord + fmt::Display + fmt::Debug {
    /// The quantity worth `micro` micro-units.
    fn from_micro(micro: u64) -> Self;
    /// The quantity in micro-units.
    fn micro(self) -> u64;
}

macro_rules! privacy_quantity {
    ($(#[$doc:meta])* $name:ident, $symbol:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(u64);

        impl $name {
            #[doc = concat!("No ", $symbol, " at all.")]
            pub const ZERO: Self = Self(0);

            #[doc = concat!("The ", $symbol, " worth `micro` micro-units (`1_000_000` is 1.0).")]
            pub const fn from_micro(micro: u64) -> Self {
                Self(micro)
            }

            /// The amount in micro-units.
            pub const fn micro(self) -> u64 {
                self.0
            }

            /// True for zero.
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }

            /// `self + other`; [`BudgetError::Overflow`] instead of wrapping.
            pub fn checked_add(self, other: Self) -> Result<Self, BudgetError> {
                self.0
                    .checked_add(other.0)
                    .map(Self)
                    .ok_or(BudgetError::Overflow)
            }

            /// `self - other`, spending `other` out of `self`;
            /// [`BudgetError::Insufficient`] when `other` is larger.
            pub fn checked_sub(self, other: Self) -> Result<Self, BudgetError> {
                self.0
                    .checked_sub(other.0)
                    .map(Self)
                    .ok_or(BudgetError::Insufficient {
                        requested: other.0,
                        remaining: self.0,
                    })
            }

            /// `self - other`, or zero when `other` is larger. For showing
            /// what remains; never use it to decide whether to charge.
            pub const fn saturating_sub(self, other: Self) -> Self {
                Self(self.0.saturating_sub(other.0))
            }

            /// The value as a float, for display only.
            pub fn to_f64(self) -> f64 {
                // Both operands are exact in f64 below 2^53 micro-units, so the
                // quotient is the float nearest the decimal, e.g. 0.1 for 100_000.
                self.0 as f64 / MICROS_PER_UNIT as f64
            }

            #[doc = concat!("A debit of ", $symbol, " from a user's decimal (a JSON number).")]
            ///
            /// Rejects NaN and infinities ([`BudgetError::NotFinite`]), zero and
            /// negatives ([`BudgetError::NotPositive`]). The float is read through
            /// its shortest round-trip decimal (`0.1` reads as `0.1`, not as
            /// `0.1000000000000000055…`); one finer than a micro-unit (a non-zero
            /// digit beyond the sixth decimal place, e.g. `0.0000015`) is
            /// [`BudgetError::TooPrecise`], refused rather than rounded, so
            /// that what is charged is exactly what was asked for.
            pub fn debit_from_f64(x: f64) -> Result<Self, BudgetError> {
                if !x.is_finite() {
                    return Err(BudgetError::NotFinite);
                }
                if x <= 0.0 {
                    return Err(BudgetError::NotPositive);
                }
                // `Display` for f64 prints the shortest decimal that reads back
                // as the same float, without an exponent.
                let micro = parse_micro(&format!("{x}"))?;
                Ok(Self(micro))
            }

            /// A quantity from a policy file: a plain non-negative decimal
            /// with at most six places (`0`, `1`, `0.25`, `3.000001`). More
            /// places are refused, not rounded, because a policy value must
            /// mean exactly what it says.
            pub fn parse_decimal(text: &str) -> Result<Self, BudgetError> {
                parse_micro(text).map(Self)
            }

            /// `self` if `min <= self <= max`, else the bound it broke.
            pub fn check_bounds(self, min: Self, max: Self) -> Result<Self, BudgetError> {
                if self < min {
                    Err(BudgetError::TooSmall { min: min.0 })
                } else if self > max {
                    Err(BudgetError::TooLarge { max: max.0 })
                } else {
                    Ok(self)
                }
            }
        }

        impl PrivacyUnit for $name {
            fn from_micro(micro: u64) -> Self {
                Self(micro)
            }
            fn micro(self) -> u64 {
                self.0
            }
        }

        /// A decimal with at most six places and no trailing zeros: `0.5`, `1`.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                Decimal(self.0).fmt(f)
            }
        }

        /// Same as [`Self::parse_decimal`].
        impl FromStr for $name {
            type Err = BudgetError;
            fn from_str(text: &str) -> Result<Self, BudgetError> {
                Self::parse_decimal(text)
            }
        }

        /// A JSON number (display only; the exact value is [`Self::micro`]).
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_f64(self.to_f64())
            }
        }
    };
}

privacy_quantity!(
    /// A pure differential-privacy parameter ε in micro-units.
    Epsilon,
    "ε"
);

privacy_quantity!(
    /// A zero-concentrated differential-privacy parameter ρ in micro-units.
    Rho,
    "ρ"
);

privacy_quantity!(
    /// An amount of privacy budget in the dataset's accounting: ε under pure
    /// differential privacy, ρ under zCDP. Budgets, debits and receipts are
    /// kept in it, since the store holds one accounting for all of them
    /// (recorded at its first start); a release's cost enters it from the
    /// [`Epsilon`] or [`Rho`] of its mechanism.
    Amount,
    "budget"
);

impl From<Epsilon> for Amount {
    fn from(e: Epsilon) -> Amount {
        Amount(e.micro())
    }
}

impl From<Rho> for Amount {
    fn from(r: Rho) -> Amount {
        Amount(r.micro())
    }
}

/// Stored amounts are signed 64-bit integers; reading one back is checked.
impl TryFrom<i64> for Amount {
    type Error = BudgetError;
    fn try_from(stored: i64) -> Result<Amount, BudgetError> {
        u64::try_from(stored)
            .map(Amount)
            .map_err(|_| BudgetError::Negative)
    }
}

impl Amount {
    /// The amount as a stored signed 64-bit integer; [`BudgetError::Overflow`]
    /// above `i64::MAX` micro-units, never a clamp.
    pub fn to_i64(self) -> Result<i64, BudgetError> {
        i64::try_from(self.0).map_err(|_| BudgetError::Overflow)
    }
}

/// A consumer's or a dataset's lifetime budget: what may be spent and what has
/// been. `spent` may exceed `limit` if an admin lowered the limit; then nothing
/// more can be debited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Budget<U> {
    /// The most that may ever be spent.
    pub limit: U,
    /// What has been spent so far.
    pub spent: U,
}

impl<U: PrivacyUnit> Budget<U> {
    /// A fresh budget with nothing spent.
    pub fn new(limit: U) -> Self {
        Self {
            limit,
            spent: U::from_micro(0),
        }
    }

    /// What is left, or zero when overspent by a lowered limit.
    pub fn remaining(&self) -> U {
        U::from_micro(self.limit.micro().saturating_sub(self.spent.micro()))
    }

    /// The budget after spending `cost`, refused unless `spent + cost <= limit`
    /// exactly (no rounding, no overflow).
    pub fn try_debit(&self, cost: U) -> Result<Self, BudgetError> {
        let spent = self
            .spent
            .micro()
            .checked_add(cost.micro())
            .ok_or(BudgetError::Overflow)?;
        if spent > self.limit.micro() {
            return Err(BudgetError::Insufficient {
                requested: cost.micro(),
                remaining: self.remaining().micro(),
            });
        }
        Ok(Self {
            limit: self.limit,
            spent: U::from_micro(spent),
        })
    }
}

fn checked_sum<U: PrivacyUnit>(costs: impl IntoIterator<Item = U>) -> Result<U, BudgetError> {
    costs
        .into_iter()
        .try_fold(0u64, |total, cost| total.checked_add(cost.micro()))
        .map(U::from_micro)
        .ok_or(BudgetError::Overflow)
}

/// Pure ε-DP accountant: basic sequential composition, the total ε of several
/// releases is the sum of their ε (Dwork and Roth 2014, Theorem 3.16).
pub fn compose_pure(costs: impl IntoIterator<Item = Epsilon>) -> Result<Epsilon, BudgetError> {
    checked_sum(costs)
}

/// zCDP accountant: the total ρ of several releases is the sum of their ρ
/// (Bun and Steinke 2016, "Concentrated Differential Privacy: Simplifications,
/// Extensions, and Lower Bounds", Lemma 2.3).
pub fn compose_zcdp(costs: impl IntoIterator<Item = Rho>) -> Result<Rho, BudgetError> {
    checked_sum(costs)
}

/// The sum of amounts of one accounting (either composition above, once
/// its costs are [`Amount`]s); [`BudgetError::Overflow`] instead of wrapping.
pub fn compose_amounts(costs: impl IntoIterator<Item = Amount>) -> Result<Amount, BudgetError> {
    checked_sum(costs)
}

/// The ε of the (ε, δ)-DP guarantee implied by ρ-zCDP:
/// `ε = ρ + 2·sqrt(ρ·ln(1/δ))` (Bun and Steinke 2016, Proposition 1.3).
/// For display only: budgets are kept and charged in ρ. `None` unless
/// `0 < δ < 1`.
pub fn zcdp_to_approx_dp(rho: Rho, delta: f64) -> Option<f64> {
    if !(delta > 0.0 && delta < 1.0) {
        return None;
    }
    let rho = rho.to_f64();
    Some(rho + 2.0 * (rho * (1.0 / delta).ln()).sqrt())
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn eps(text: &str) -> Epsilon {
        Epsilon::parse_decimal(text).unwrap()
    }

    #[test]
    fn a_tenth_spent_ten_times_spends_exactly_one() {
        let tenth = Epsilon::debit_from_f64(0.1).unwrap();
        assert_eq!(tenth.micro(), 100_000);
        let mut budget = Budget::new(eps("1"));
        for _ in 0..10 {
            budget = budget.try_debit(tenth).unwrap();
        }
        assert_eq!(budget.spent, Epsilon::from_micro(1_000_000));
        assert_eq!(budget.remaining(), Epsilon::ZERO);
        assert_eq!(compose_pure([tenth; 10]).unwrap(), eps("1"));
        // An eleventh is refused: nothing is left.
        assert_eq!(
            budget.try_debit(tenth),
            Err(BudgetError::Insufficient {
                requested: 100_000,
                remaining: 0
            })
        );
    }

    #[test]
    fn floats_read_through_their_shortest_decimal() {
        for (x, micro) in [
            (0.1, 100_000),
            (0.3, 300_000),
            (0.7, 700_000),
            (1.0, 1_000_000),
            (2.5, 2_500_000),
            (0.000001, 1),
            (123.456789, 123_456_789),
        ] {
            assert_eq!(Epsilon::debit_from_f64(x).unwrap().micro(), micro, "{x}");
        }
    }

    #[test]
    fn debits_finer_than_a_micro_unit_are_refused_not_rounded() {
        for x in [0.0000015, 0.3000001, 1e-7, 1e-300, 0.1 + 0.2] {
            assert_eq!(
                Epsilon::debit_from_f64(x),
                Err(BudgetError::TooPrecise),
                "{x}"
            );
        }
        assert_eq!(Rho::debit_from_f64(0.1234561), Err(BudgetError::TooPrecise));
        // Trailing zeros beyond the sixth place are not finer.
        assert_eq!(Epsilon::debit_from_f64(0.000002).unwrap().micro(), 2);
        assert_eq!(Epsilon::debit_from_f64(1e-6).unwrap().micro(), 1);
    }

    #[test]
    fn a_debit_slightly_above_what_remains_is_refused() {
        let budget = Budget {
            limit: eps("1"),
            spent: eps("0.7"),
        };
        assert_eq!(budget.remaining(), eps("0.3"));
        let cost = Epsilon::debit_from_f64(0.300001).unwrap();
        assert_eq!(
            budget.try_debit(cost),
            Err(BudgetError::Insufficient {
                requested: 300_001,
                remaining: 300_000
            })
        );
        // Exactly what remains is fine.
        let exact = Epsilon::debit_from_f64(0.3).unwrap();
        assert_eq!(budget.try_debit(exact).unwrap().remaining(), Epsilon::ZERO);
    }

    #[test]
    fn non_finite_negative_and_zero_debits_are_rejected() {
        assert_eq!(
            Epsilon::debit_from_f64(f64::NAN),
            Err(BudgetError::NotFinite)
        );
        assert_eq!(
            Epsilon::debit_from_f64(f64::INFINITY),
            Err(BudgetError::NotFinite)
        );
        assert_eq!(
            Epsilon::debit_from_f64(f64::NEG_INFINITY),
            Err(BudgetError::NotFinite)
        );
        assert_eq!(Epsilon::debit_from_f64(-0.5), Err(BudgetError::NotPositive));
        assert_eq!(Epsilon::debit_from_f64(0.0), Err(BudgetError::NotPositive));
        assert_eq!(Epsilon::debit_from_f64(-0.0), Err(BudgetError::NotPositive));
        assert_eq!(Rho::debit_from_f64(f64::NAN), Err(BudgetError::NotFinite));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        let max = Epsilon::from_micro(u64::MAX);
        let one = Epsilon::from_micro(1);
        assert_eq!(max.checked_add(one), Err(BudgetError::Overflow));
        assert_eq!(compose_pure([max, one]), Err(BudgetError::Overflow));
        assert_eq!(
            compose_zcdp([Rho::from_micro(u64::MAX), Rho::from_micro(1)]),
            Err(BudgetError::Overflow)
        );
        let budget = Budget {
            limit: max,
            spent: max,
        };
        assert_eq!(budget.try_debit(one), Err(BudgetError::Overflow));
        assert_eq!(Epsilon::debit_from_f64(1e20), Err(BudgetError::Overflow));
        assert_eq!(
            Epsilon::parse_decimal("18446744073709.551616"),
            Err(BudgetError::Overflow)
        );
        assert_eq!(
            Epsilon::parse_decimal("18446744073709.551615").unwrap(),
            max
        );
        assert_eq!(
            one.checked_sub(Epsilon::from_micro(2)),
            Err(BudgetError::Insufficient {
                requested: 2,
                remaining: 1
            })
        );
    }

    #[test]
    fn policy_decimals_are_exact_or_refused() {
        assert_eq!(eps("0").micro(), 0);
        assert_eq!(eps("1").micro(), 1_000_000);
        assert_eq!(eps("0.25").micro(), 250_000);
        assert_eq!(eps("3.000001").micro(), 3_000_001);
        assert_eq!(eps(" 2.50 ").micro(), 2_500_000);
        assert_eq!(eps("0.1000000").micro(), 100_000);
        assert_eq!("0.5".parse::<Rho>().unwrap().micro(), 500_000);
        assert_eq!(
            Epsilon::parse_decimal("0.0000001"),
            Err(BudgetError::TooPrecise)
        );
        assert_eq!(Epsilon::parse_decimal("-1"), Err(BudgetError::Negative));
        for bad in [
            "", ".5", "1.", "1e3", "abc", "1.2.3", "+1", "NaN", "inf", "1,5",
        ] {
            assert_eq!(
                Epsilon::parse_decimal(bad),
                Err(BudgetError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bounds_are_checked_with_typed_errors() {
        let (min, max) = (eps("0.01"), eps("2"));
        assert_eq!(eps("0.5").check_bounds(min, max), Ok(eps("0.5")));
        assert_eq!(min.check_bounds(min, max), Ok(min));
        assert_eq!(max.check_bounds(min, max), Ok(max));
        assert_eq!(
            eps("0.009999").check_bounds(min, max),
            Err(BudgetError::TooSmall { min: 10_000 })
        );
        assert_eq!(
            eps("2.000001").check_bounds(min, max),
            Err(BudgetError::TooLarge { max: 2_000_000 })
        );
        assert_eq!(
            BudgetError::TooLarge { max: 2_000_000 }.to_string(),
            "the privacy parameter is above the maximum of 2"
        );
    }

    #[test]
    fn display_and_json_show_short_decimals() {
        assert_eq!(eps("0.5").to_string(), "0.5");
        assert_eq!(eps("1").to_string(), "1");
        assert_eq!(eps("0").to_string(), "0");
        assert_eq!(Epsilon::from_micro(1).to_string(), "0.000001");
        assert_eq!(Epsilon::from_micro(12_340_500).to_string(), "12.3405");
        assert_eq!(serde_json::to_string(&eps("0.1")).unwrap(), "0.1");
        assert_eq!(serde_json::to_string(&eps("2")).unwrap(), "2.0");
        assert_eq!(
            BudgetError::Insufficient {
                requested: 300_001,
                remaining: 300_000
            }
            .to_string(),
            "the request costs 0.300001 but only 0.3 of the budget remains"
        );
    }

    #[test]
    fn remaining_shows_zero_after_a_lowered_limit() {
        let budget = Budget {
            limit: eps("1"),
            spent: eps("1.5"),
        };
        assert_eq!(budget.remaining(), Epsilon::ZERO);
        assert_eq!(eps("1").saturating_sub(eps("1.5")), Epsilon::ZERO);
        assert!(budget.try_debit(Epsilon::from_micro(1)).is_err());
    }

    #[test]
    fn zcdp_converts_to_approximate_dp_for_display() {
        let rho = Rho::parse_decimal("0.5").unwrap();
        let delta: f64 = 1e-6;
        let expected = 0.5 + 2.0 * (0.5 * (1e6f64).ln()).sqrt();
        assert!((zcdp_to_approx_dp(rho, delta).unwrap() - expected).abs() < 1e-12);
        assert_eq!(zcdp_to_approx_dp(rho, 0.0), None);
        assert_eq!(zcdp_to_approx_dp(rho, 1.0), None);
        assert_eq!(zcdp_to_approx_dp(rho, f64::NAN), None);
        assert_eq!(
            compose_zcdp([rho, Rho::from_micro(250_000)])
                .unwrap()
                .micro(),
            750_000
        );
    }
}
