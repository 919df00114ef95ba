//! Margins of error, computed from the noise distribution alone (never from
//! the data), and the inverse: the smallest ε or ρ on the policy grid that
//! achieves a requested margin.
//!
//! The margin at confidence `c` is the smallest integer `m` with
//! `P(|noise| > m) <= α`, where `α = 1 - c`: the noisy count lies within
//! `±m` of the true count with probability at least `c`. It describes the
//! noise only: a suppressed cell shows no number, and rounding to base `b`
//! can move a released value by up to `floor(b/2)` more.
//!
//! Floats are acceptable here because margins are public metadata, not
//! samples; but every margin is *provably conservative*: the tail at the
//! returned `m` is at most `α`, never slightly above.
//!
//! # Discrete Laplace (closed form)
//! With scale `t` the pmf is `P(x) = (1-q)/(1+q) · q^|x|`, `q = e^(-1/t)`.
//! Summing the geometric series on both sides,
//!
//! ```text
//! P(|X| > m) = 2 · Σ_{x > m} (1-q)/(1+q) · q^x = 2 · q^(m+1) / (1 + q)
//! ```
//!
//! so `ln P(|X| > m) = ln 2 - (m+1)/t - ln(1 + e^(-1/t))`, decreasing in `m`.
//! We solve for `m` in closed form, then settle it by evaluating this log-tail
//! in f64 and accepting `m` only when it is at most `ln α - 1e-9`. The f64
//! evaluation is a handful of operations (each within an ulp or two) on
//! values of magnitude below 40 near the answer, so its absolute error is
//! below `1e-13`, ten thousand times smaller than the slack. Hence the accepted `m` has an
//! exact tail `<= α·e^(-1e-9 + 1e-13) < α` (conservative), and `m - 1` was
//! rejected, so `m` is the exact minimum unless the exact tail at `m - 1` lies
//! within a relative `1e-9` of `α`, in which case it is one more. (For
//! `c >= 0.5`, `1 - c` is computed exactly in f64.)
//!
//! # Discrete Gaussian (rigorous numerical bound)
//! With `f(x) = exp(-x²/(2σ²))` and `Z = Σ_x f(x)`, the tail is
//! `P(|X| > m) = 2 · Σ_{x > m} f(x) / Z`, which has no closed form. Because `f`
//! is decreasing on `[0, ∞)`, sums compare with integrals:
//! `∫_{a+1}^∞ f <= Σ_{x > a} f(x) <= ∫_a^∞ f`, and
//! `∫_a^∞ f = σ·sqrt(π/2)·erfc(a / (σ·sqrt 2))`. We sum the first
//! `K = clamp(12σ, 1_000, 100_000)` terms one by one and bound the rest by the
//! integral:
//!
//! ```text
//! numerator   <= Σ_{x=m+1}^{m+K} f(x) + ∫_{m+K}^∞ f
//! Z           >= 1 + 2·(Σ_{x=1}^{K} f(x) + ∫_{K+1}^∞ f)
//! ```
//!
//! giving an upper bound on the tail. Each integral bound is off by at most
//! `f` at its start, which is below `e^-72` (the peak is `f(0) = 1`) when
//! `K >= 12σ`, so
//! for every `σ <= 8333` (every realistic ρ) the bound is exact to f64
//! precision; beyond that it is conservative by a relative `O(1/σ)` and the
//! margin may be one more than the minimum. We accept `m` when
//! that bound times `1 + 1e-9` is at most `α`, and binary-search the smallest
//! such `m` below a starting point from the sub-Gaussian bound
//! `P(|X| >= m) <= 2·exp(-m²/(2σ²))` (used only to bracket the search, never
//! to decide). The slack covers the f64 rounding of the sums and of statrs'
//! `erfc` (accurate to near machine precision), so the margin is conservative.

use std::f64::consts::{LN_2, PI};

use statrs::function::erf::erfc;

use super::{DiscreteGaussian, DiscreteLaplace, PrivacyError, Rational};
use crate::domain::budget::{Epsilon, Rho};

/// Relative slack that absorbs floating-point error, always on the
/// conservative side.
const SLACK: f64 = 1e-9;

/// Margins beyond this are refused: f64 no longer counts every integer.
const MAX_MARGIN: u64 = 1 << 52;

/// A confidence level strictly between 0 and 1, e.g. 0.95.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Confidence(f64);

impl Confidence {
    /// [`PrivacyError::InvalidParameter`] unless `0 < level < 1`.
    pub fn new(level: f64) -> Result<Self, PrivacyError> {
        if level > 0.0 && level < 1.0 {
            Ok(Self(level))
        } else {
            Err(PrivacyError::InvalidParameter(
                "a confidence level outside (0, 1)",
            ))
        }
    }

    /// The level, e.g. 0.95.
    pub const fn level(self) -> f64 {
        self.0
    }

    /// The tail mass allowed outside the margin, `1 - level`.
    fn alpha(self) -> f64 {
        1.0 - self.0
    }
}

/// `P(|X| > m)` for a discrete Laplace of scale `t`: `2·q^(m+1)/(1+q)`,
/// `q = e^(-1/t)`. In f64, for display and tests.
pub fn laplace_tail(scale: Rational, m: u64) -> f64 {
    laplace_log_tail(scale.to_f64(), m).exp()
}

fn laplace_log_tail(t: f64, m: u64) -> f64 {
    LN_2 - (m as f64 + 1.0) / t - (-1.0 / t).exp().ln_1p()
}

/// The margin of error of a discrete Laplace of scale `t` (see the module
/// documentation for the formula and why it is conservative).
pub fn laplace_margin(scale: Rational, confidence: Confidence) -> Result<u64, PrivacyError> {
    if scale.is_zero() {
        return Err(PrivacyError::InvalidParameter("a Laplace scale of zero"));
    }
    let t = scale.to_f64();
    let target = confidence.alpha().ln() - SLACK;
    let passes = |m: u64| laplace_log_tail(t, m) <= target;
    // ln 2 - (m+1)/t - ln(1+q) <= target  <=>  m >= t·(ln 2 - ln(1+q) - target) - 1
    let estimate = (t * (LN_2 - (-1.0 / t).exp().ln_1p() - target) - 1.0)
        .ceil()
        .max(0.0);
    if !estimate.is_finite() || estimate >= MAX_MARGIN as f64 {
        return Err(PrivacyError::Overflow("the margin of error"));
    }
    let mut m = estimate as u64;
    // The estimate is off by at most a step or two of rounding; settle it.
    let mut steps = 0;
    while !passes(m) {
        m += 1;
        steps += 1;
        if steps > 64 {
            return Err(PrivacyError::Overflow("the margin of error"));
        }
    }
    while m > 0 && passes(m - 1) {
        m -= 1;
    }
    Ok(m)
}

/// A rigorous upper bound on `P(|X| > m)` for a discrete Gaussian.
struct GaussianTail {
    sigma_squared: f64,
    /// Terms summed one by one before the integral bound takes over.
    terms: u64,
    z_lower: f64,
}

impl GaussianTail {
    fn new(sigma_squared: f64) -> Self {
        let terms = (12.0 * sigma_squared.sqrt()).clamp(1_000.0, 100_000.0) as u64;
        let mut tail = Self {
            sigma_squared,
            terms,
            z_lower: 1.0,
        };
        let body: f64 = (1..=terms).map(|x| tail.weight(x)).sum();
        tail.z_lower = 1.0 + 2.0 * (body + tail.integral_from(terms + 1));
        tail
    }

    /// `f(x) = exp(-x²/(2σ²))`.
    fn weight(&self, x: u64) -> f64 {
        let x = x as f64;
        (-(x * x) / (2.0 * self.sigma_squared)).exp()
    }

    /// `∫_a^∞ f`.
    fn integral_from(&self, a: u64) -> f64 {
        (PI * self.sigma_squared / 2.0).sqrt() * erfc(a as f64 / (2.0 * self.sigma_squared).sqrt())
    }

    fn upper_bound(&self, m: u64) -> f64 {
        let body: f64 = (m + 1..=m + self.terms).map(|x| self.weight(x)).sum();
        2.0 * (body + self.integral_from(m + self.terms)) / self.z_lower
    }
}

/// The margin of error of a discrete Gaussian with variance parameter `σ²`
/// (see the module documentation for the bound and the search).
pub fn gaussian_margin(
    sigma_squared: Rational,
    confidence: Confidence,
) -> Result<u64, PrivacyError> {
    if sigma_squared.is_zero() {
        return Err(PrivacyError::InvalidParameter(
            "a Gaussian variance of zero",
        ));
    }
    let tail = GaussianTail::new(sigma_squared.to_f64());
    let alpha = confidence.alpha();
    let passes = |m: u64| tail.upper_bound(m) * (1.0 + SLACK) <= alpha;
    if passes(0) {
        return Ok(0);
    }
    // Bracket: the sub-Gaussian bound says this m is (about) enough.
    let start = (tail.sigma_squared * 2.0 * (2.0 / alpha).ln())
        .sqrt()
        .ceil()
        + 1.0;
    if !start.is_finite() || start >= MAX_MARGIN as f64 {
        return Err(PrivacyError::Overflow("the margin of error"));
    }
    let mut hi = start as u64;
    while !passes(hi) {
        hi = hi
            .checked_mul(2)
            .filter(|&h| h < MAX_MARGIN)
            .ok_or(PrivacyError::Overflow("the margin of error"))?;
    }
    let mut lo = 0; // fails
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if passes(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// The smallest multiple of `step` in `[min, max]` (and above zero) for which
/// `achieves` holds, assuming `achieves` is monotone (false, then true).
/// `None` if even the largest grid point fails.
fn smallest_on_grid(
    step: u64,
    min: u64,
    max: u64,
    achieves: impl Fn(u64) -> Result<bool, PrivacyError>,
) -> Result<Option<u64>, PrivacyError> {
    if step == 0 {
        return Err(PrivacyError::InvalidParameter("a grid step of zero"));
    }
    let first = min.div_ceil(step).max(1);
    let last = max / step;
    if first > last || !achieves(last * step)? {
        return Ok(None);
    }
    if achieves(first * step)? {
        return Ok(Some(first * step));
    }
    let (mut lo, mut hi) = (first, last); // lo fails, hi achieves
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if achieves(mid * step)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(Some(hi * step))
}

/// The smallest ε on the policy grid (multiples of `step` within
/// `[min, max]`) whose discrete Laplace margin at `confidence` is at most
/// `margin`, for a query of L1 sensitivity `l1_sensitivity`. `Ok(None)` when
/// even `max` is not accurate enough.
pub fn epsilon_for_margin(
    margin: u64,
    confidence: Confidence,
    l1_sensitivity: u64,
    step: Epsilon,
    min: Epsilon,
    max: Epsilon,
) -> Result<Option<Epsilon>, PrivacyError> {
    let found = smallest_on_grid(step.micro(), min.micro(), max.micro(), |micro| {
        let mechanism = DiscreteLaplace::new(Epsilon::from_micro(micro), l1_sensitivity)?;
        Ok(mechanism.margin_of_error(confidence)? <= margin)
    })?;
    Ok(found.map(Epsilon::from_micro))
}

/// The smallest ρ on the policy grid whose discrete Gaussian margin at
/// `confidence` is at most `margin`, for a query of squared L2 sensitivity
/// `l2_sensitivity_squared`. `Ok(None)` when even `max` is not enough.
pub fn rho_for_margin(
    margin: u64,
    confidence: Confidence,
    l2_sensitivity_squared: u64,
    step: Rho,
    min: Rho,
    max: Rho,
) -> Result<Option<Rho>, PrivacyError> {
    let found = smallest_on_grid(step.micro(), min.micro(), max.micro(), |micro| {
        let mechanism = DiscreteGaussian::new(Rho::from_micro(micro), l2_sensitivity_squared)?;
        Ok(mechanism.margin_of_error(confidence)? <= margin)
    })?;
    Ok(found.map(Rho::from_micro))
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::privacy::sample::tests::{gaussian_pmf, laplace_pmf};

    const LEVELS: [f64; 4] = [0.5, 0.9, 0.95, 0.99];

    /// `P(|X| > m)` by summing the pmf directly, out to where it vanishes.
    fn laplace_tail_by_sum(t: f64, m: u64) -> f64 {
        let far = m as i64 + (80.0 * t) as i64 + 50;
        2.0 * ((m as i64 + 1)..=far)
            .map(|x| laplace_pmf(t, x))
            .sum::<f64>()
    }

    #[test]
    fn laplace_margins_agree_with_the_exact_tail() {
        for (num, den) in [
            (1u64, 1u64),
            (7, 2),
            (10, 1),
            (100, 1),
            (1, 3),
            (2_000_000, 123_457),
        ] {
            let scale = Rational::new(num, den).unwrap();
            let t = scale.to_f64();
            for level in LEVELS {
                let m = laplace_margin(scale, Confidence::new(level).unwrap()).unwrap();
                let alpha = 1.0 - level;
                let tail = laplace_tail_by_sum(t, m);
                assert!(tail <= alpha, "t={scale} c={level}: tail {tail} at m={m}");
                assert!((tail - laplace_tail(scale, m)).abs() <= 1e-12 * tail.max(1e-300) + 1e-15);
                if m > 0 {
                    let before = laplace_tail_by_sum(t, m - 1);
                    assert!(
                        before > alpha,
                        "t={scale} c={level}: m={m} is not the smallest"
                    );
                }
            }
        }
    }

    #[test]
    fn laplace_margin_of_scale_one_at_95_percent_is_3() {
        // 2·e^-(m+1) / (1 + e^-1): m = 2 gives 0.0728 > 0.05, m = 3 gives 0.0268.
        let m = laplace_margin(Rational::integer(1), Confidence::new(0.95).unwrap()).unwrap();
        assert_eq!(m, 3);
    }

    fn gaussian_tail_by_sum(s2: f64, m: u64) -> f64 {
        let n = (40.0 * s2.sqrt()) as i64 + 10;
        let pmf = gaussian_pmf(s2, n);
        pmf.iter()
            .enumerate()
            .filter(|(i, _)| (*i as i64 - n).unsigned_abs() > m)
            .map(|(_, p)| p)
            .sum()
    }

    #[test]
    fn gaussian_margins_agree_with_the_exact_tail() {
        for (num, den) in [
            (1u64, 1u64),
            (10, 1),
            (50, 1),
            (1, 4),
            (10_000, 1),
            (1_000_000, 7),
        ] {
            let sigma_squared = Rational::new(num, den).unwrap();
            let s2 = sigma_squared.to_f64();
            for level in LEVELS {
                let m = gaussian_margin(sigma_squared, Confidence::new(level).unwrap()).unwrap();
                let alpha = 1.0 - level;
                let tail = gaussian_tail_by_sum(s2, m);
                assert!(
                    tail <= alpha,
                    "σ²={sigma_squared} c={level}: tail {tail} at m={m}"
                );
                if m > 0 {
                    let before = gaussian_tail_by_sum(s2, m - 1);
                    assert!(
                        before > alpha,
                        "σ²={sigma_squared} c={level}: m={m} is not the smallest"
                    );
                }
            }
        }
    }

    #[test]
    fn confidence_must_be_strictly_between_zero_and_one() {
        for bad in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
            assert!(Confidence::new(bad).is_err(), "{bad}");
        }
        assert_eq!(Confidence::new(0.95).unwrap().level(), 0.95);
    }

    fn e(text: &str) -> Epsilon {
        Epsilon::parse_decimal(text).unwrap()
    }

    #[test]
    fn epsilon_for_margin_is_the_smallest_grid_point_that_achieves_it() {
        let c = Confidence::new(0.95).unwrap();
        let (step, min, max) = (e("0.01"), e("0.05"), e("2"));
        for (margin, sensitivity) in [(3u64, 1u64), (10, 1), (30, 1), (30, 3), (100, 2)] {
            let eps = epsilon_for_margin(margin, c, sensitivity, step, min, max)
                .unwrap()
                .unwrap();
            assert_eq!(eps.micro() % step.micro(), 0);
            let achieved = DiscreteLaplace::new(eps, sensitivity)
                .unwrap()
                .margin_of_error(c)
                .unwrap();
            assert!(achieved <= margin, "ε={eps} gives {achieved} > {margin}");
            let smaller = eps.checked_sub(step).unwrap();
            if smaller >= min {
                let worse = DiscreteLaplace::new(smaller, sensitivity)
                    .unwrap()
                    .margin_of_error(c)
                    .unwrap();
                assert!(worse > margin, "ε={smaller} already gives {worse}");
            } else {
                assert_eq!(eps, min);
            }
        }
        // Scale 1 at 95% needs margin 3; no ε up to 2 gets sensitivity 1 to margin 0.
        assert_eq!(epsilon_for_margin(0, c, 1, step, min, max).unwrap(), None);
        // A huge margin is met by the minimum.
        assert_eq!(
            epsilon_for_margin(1_000_000, c, 1, step, min, max).unwrap(),
            Some(min)
        );
        // min not on the grid: the first multiple above it.
        assert_eq!(
            epsilon_for_margin(1_000_000, c, 1, step, e("0.055"), max).unwrap(),
            Some(e("0.06"))
        );
        assert!(epsilon_for_margin(3, c, 1, Epsilon::ZERO, min, max).is_err());
    }

    #[test]
    fn rho_for_margin_is_the_smallest_grid_point_that_achieves_it() {
        let c = Confidence::new(0.95).unwrap();
        let r = |t: &str| Rho::parse_decimal(t).unwrap();
        let (step, min, max) = (r("0.001"), r("0.001"), r("1"));
        for (margin, l2sq) in [(3u64, 1u64), (20, 1), (50, 4)] {
            let rho = rho_for_margin(margin, c, l2sq, step, min, max)
                .unwrap()
                .unwrap();
            let achieved = DiscreteGaussian::new(rho, l2sq)
                .unwrap()
                .margin_of_error(c)
                .unwrap();
            assert!(achieved <= margin);
            let smaller = rho.checked_sub(step).unwrap();
            if smaller >= min {
                let worse = DiscreteGaussian::new(smaller, l2sq)
                    .unwrap()
                    .margin_of_error(c)
                    .unwrap();
                assert!(worse > margin);
            }
        }
        assert_eq!(rho_for_margin(0, c, 1, step, min, max).unwrap(), None);
    }
}
