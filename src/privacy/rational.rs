//! Non-negative rationals `num/den` over `u64`, always in lowest terms.
//!
//! Noise parameters (a Laplace scale `Δ/ε`, a Gaussian variance `Δ²/(2ρ)`) are
//! exact ratios of integers because ε and ρ are integer micro-units; this type
//! carries them to the samplers without ever rounding through a float.

use std::fmt;
use std::num::NonZeroU64;

use num_integer::Integer;

use super::PrivacyError;

/// An exact non-negative rational number `num/den`, reduced to lowest terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rational {
    num: u64,
    den: NonZeroU64,
}

impl Rational {
    /// `num/den` in lowest terms; [`PrivacyError::InvalidParameter`] if `den`
    /// is zero.
    pub fn new(num: u64, den: u64) -> Result<Self, PrivacyError> {
        let den = NonZeroU64::new(den).ok_or(PrivacyError::InvalidParameter(
            "a ratio with a zero denominator",
        ))?;
        let gcd = num.gcd(&den.get());
        // gcd >= 1 because den >= 1, and gcd divides den, so den/gcd >= 1.
        let reduced = NonZeroU64::new(den.get() / gcd).unwrap_or(NonZeroU64::MIN);
        Ok(Self {
            num: num / gcd,
            den: reduced,
        })
    }

    /// The whole number `n`.
    pub const fn integer(n: u64) -> Self {
        Self {
            num: n,
            den: NonZeroU64::MIN,
        }
    }

    /// The numerator (lowest terms).
    pub const fn num(self) -> u64 {
        self.num
    }

    /// The denominator (lowest terms, at least 1).
    pub const fn den(self) -> NonZeroU64 {
        self.den
    }

    /// True for zero.
    pub const fn is_zero(self) -> bool {
        self.num == 0
    }

    /// The nearest float, for display and accuracy metadata only. Never used
    /// to draw noise.
    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den.get() as f64
    }
}

/// `num/den`, or just `num` when the denominator is 1.
impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den.get() == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_kept_in_lowest_terms() {
        let r = Rational::new(2_000_000, 600_000).unwrap();
        assert_eq!((r.num(), r.den().get()), (10, 3));
        assert_eq!(r.to_string(), "10/3");
        assert_eq!(Rational::new(0, 7).unwrap(), Rational::integer(0));
        assert_eq!(Rational::new(8, 4).unwrap().to_string(), "2");
        assert!(Rational::new(1, 0).is_err());
    }
}
