//! Count mechanisms: each type carries both its function (how it noises a
//! histogram) and its privacy cost, so one cannot be chosen without the other.
//!
//! Invariant: a mechanism's noise scale is derived from its cost and its
//! sensitivity at construction and cannot be changed; every cell of a
//! histogram, zeros included, gets one independent draw.

use std::fmt;

use rand::CryptoRng;

use super::accuracy::{Confidence, gaussian_margin, laplace_margin};
use super::sample::{discrete_gaussian, discrete_laplace};
use super::{NoisyCount, PrivacyError, Rational};
use crate::domain::budget::{Epsilon, MICROS_PER_UNIT, Rho};

/// What a release costs: ε under pure DP, ρ under zCDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivacyCost {
    /// Pure ε-differential privacy.
    Epsilon(Epsilon),
    /// ρ-zero-concentrated differential privacy.
    Rho(Rho),
}

/// The noise distribution's parameter, exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseScale {
    /// Discrete Laplace, `P(x) ∝ exp(-|x|/scale)`.
    Laplace {
        /// `t = Δ1/ε`.
        scale: Rational,
    },
    /// Discrete Gaussian, `P(x) ∝ exp(-x²/(2σ²))`.
    Gaussian {
        /// `σ² = Δ2²/(2ρ)`.
        sigma_squared: Rational,
    },
}

/// E.g. `discrete Laplace, scale 10/3` or `discrete Gaussian, σ² = 5`.
impl fmt::Display for NoiseScale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Laplace { scale } => write!(f, "discrete Laplace, scale {scale}"),
            Self::Gaussian { sigma_squared } => {
                write!(f, "discrete Gaussian, σ² = {sigma_squared}")
            }
        }
    }
}

/// The discrete Laplace (two-sided geometric) mechanism for counts, with
/// scale `t = Δ1/ε`.
///
/// # Privacy
/// ε-differential privacy, for a histogram whose L1 sensitivity under adding
/// or removing one person is at most `Δ1`. The discrete Laplace pmf of scale
/// `t` changes by a factor at most `exp(|d|/t)` when its centre moves by `d`,
/// so independent noise on every cell changes the probability of any output
/// by at most `exp(Σ|d_i|/t) <= exp(Δ1/t) = e^ε`. The noise is drawn exactly
/// (no floating point) by Algorithm 2 of Canonne, Kamath and Steinke (2020),
/// "The Discrete Gaussian for Differential Privacy", NeurIPS 2020,
/// arXiv:2004.00010; the mechanism itself is the geometric mechanism of Ghosh,
/// Roughgarden and Sundararajan (2009).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscreteLaplace {
    epsilon: Epsilon,
    l1_sensitivity: u64,
    scale: Rational,
}

impl DiscreteLaplace {
    /// The mechanism costing `epsilon` for a query of L1 sensitivity
    /// `l1_sensitivity`: scale `Δ1/ε = Δ1·10^6 / ε_micro`, exactly.
    pub fn new(epsilon: Epsilon, l1_sensitivity: u64) -> Result<Self, PrivacyError> {
        if epsilon.is_zero() {
            return Err(PrivacyError::InvalidParameter("an ε of zero"));
        }
        if l1_sensitivity == 0 {
            return Err(PrivacyError::InvalidParameter("a sensitivity of zero"));
        }
        let numerator = l1_sensitivity
            .checked_mul(MICROS_PER_UNIT)
            .ok_or(PrivacyError::Overflow("the Laplace scale"))?;
        let scale = Rational::new(numerator, epsilon.micro())?;
        Ok(Self {
            epsilon,
            l1_sensitivity,
            scale,
        })
    }

    /// The privacy cost.
    pub const fn epsilon(&self) -> Epsilon {
        self.epsilon
    }

    /// The L1 sensitivity the scale was derived from.
    pub const fn l1_sensitivity(&self) -> u64 {
        self.l1_sensitivity
    }

    /// The scale `t = Δ1/ε`, exactly.
    pub const fn scale(&self) -> Rational {
        self.scale
    }

    /// One noise draw.
    pub fn sample_noise<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> Result<i64, PrivacyError> {
        discrete_laplace(rng, self.scale)
    }

    /// The smallest `m` with `P(|noise| > m) <= 1 - confidence`.
    pub fn margin_of_error(&self, confidence: Confidence) -> Result<u64, PrivacyError> {
        laplace_margin(self.scale, confidence)
    }
}

/// The discrete Gaussian mechanism for counts, with variance parameter
/// `σ² = Δ2²/(2ρ)`.
///
/// # Privacy
/// ρ-zero-concentrated differential privacy (Bun and Steinke 2016), for a
/// histogram whose squared L2 sensitivity under adding or removing one person
/// is at most `Δ2²`: Canonne, Kamath and Steinke (2020), "The Discrete Gaussian
/// for Differential Privacy", NeurIPS 2020, arXiv:2004.00010, show that
/// independent discrete Gaussian noise `N_Z(0, σ²)` on each coordinate gives
/// `Δ2²/(2σ²)`-zCDP, the same guarantee as the continuous Gaussian. The noise
/// is drawn exactly by their Algorithm 3. For display, ρ-zCDP implies
/// `(ρ + 2·sqrt(ρ·ln(1/δ)), δ)`-DP for every δ > 0
/// ([`zcdp_to_approx_dp`](crate::domain::budget::zcdp_to_approx_dp)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscreteGaussian {
    rho: Rho,
    l2_sensitivity_squared: u64,
    sigma_squared: Rational,
}

impl DiscreteGaussian {
    /// The mechanism costing `rho` for a query of squared L2 sensitivity
    /// `l2_sensitivity_squared`: `σ² = Δ2²·10^6 / (2·ρ_micro)`, exactly.
    pub fn new(rho: Rho, l2_sensitivity_squared: u64) -> Result<Self, PrivacyError> {
        if rho.is_zero() {
            return Err(PrivacyError::InvalidParameter("a ρ of zero"));
        }
        if l2_sensitivity_squared == 0 {
            return Err(PrivacyError::InvalidParameter("a sensitivity of zero"));
        }
        let numerator = l2_sensitivity_squared
            .checked_mul(MICROS_PER_UNIT)
            .ok_or(PrivacyError::Overflow("the Gaussian variance"))?;
        let denominator = rho
            .micro()
            .checked_mul(2)
            .ok_or(PrivacyError::Overflow("the Gaussian variance"))?;
        let sigma_squared = Rational::new(numerator, denominator)?;
        Ok(Self {
            rho,
            l2_sensitivity_squared,
            sigma_squared,
        })
    }

    /// The privacy cost.
    pub const fn rho(&self) -> Rho {
        self.rho
    }

    /// The squared L2 sensitivity the variance was derived from.
    pub const fn l2_sensitivity_squared(&self) -> u64 {
        self.l2_sensitivity_squared
    }

    /// The variance parameter `σ² = Δ2²/(2ρ)`, exactly.
    pub const fn sigma_squared(&self) -> Rational {
        self.sigma_squared
    }

    /// One noise draw.
    pub fn sample_noise<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> Result<i64, PrivacyError> {
        discrete_gaussian(rng, self.sigma_squared)
    }

    /// The smallest `m` with `P(|noise| > m) <= 1 - confidence`.
    pub fn margin_of_error(&self, confidence: Confidence) -> Result<u64, PrivacyError> {
        gaussian_margin(self.sigma_squared, confidence)
    }
}

/// The histogram count mechanism a release uses: discrete Laplace under pure
/// ε-DP (the default) or discrete Gaussian under zCDP.
///
/// # Privacy
/// See [`DiscreteLaplace`] (ε-DP) and [`DiscreteGaussian`] (ρ-zCDP), both after
/// Canonne, Kamath and Steinke (2020). The guarantee holds for the vector of
/// noisy counts as a whole, so everything computed from it afterwards
/// (suppression, clamping, rounding, margins) is free post-processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountMechanism {
    /// Pure ε-DP.
    DiscreteLaplace(DiscreteLaplace),
    /// ρ-zCDP.
    DiscreteGaussian(DiscreteGaussian),
}

impl CountMechanism {
    /// Discrete Laplace costing `epsilon`, for a query of L1 sensitivity
    /// `l1_sensitivity` (see [`l1_sensitivity`](super::l1_sensitivity)).
    pub fn discrete_laplace(epsilon: Epsilon, l1_sensitivity: u64) -> Result<Self, PrivacyError> {
        DiscreteLaplace::new(epsilon, l1_sensitivity).map(Self::DiscreteLaplace)
    }

    /// Discrete Gaussian costing `rho`, for a query of squared L2 sensitivity
    /// `l2_sensitivity_squared` (see
    /// [`l2_sensitivity_squared`](super::l2_sensitivity_squared)).
    pub fn discrete_gaussian(rho: Rho, l2_sensitivity_squared: u64) -> Result<Self, PrivacyError> {
        DiscreteGaussian::new(rho, l2_sensitivity_squared).map(Self::DiscreteGaussian)
    }

    /// What one release with this mechanism costs.
    pub const fn cost(&self) -> PrivacyCost {
        match self {
            Self::DiscreteLaplace(m) => PrivacyCost::Epsilon(m.epsilon),
            Self::DiscreteGaussian(m) => PrivacyCost::Rho(m.rho),
        }
    }

    /// The noise distribution's exact parameter.
    pub const fn scale(&self) -> NoiseScale {
        match self {
            Self::DiscreteLaplace(m) => NoiseScale::Laplace { scale: m.scale },
            Self::DiscreteGaussian(m) => NoiseScale::Gaussian {
                sigma_squared: m.sigma_squared,
            },
        }
    }

    /// Adds one independent noise draw to every cell, zeros included, in
    /// order. With a [`keyed_rng`](super::keyed_rng) the result is a
    /// deterministic function of the release. The generator must be
    /// cryptographically secure (the bound is checked at compile time).
    pub fn noise_counts<R: CryptoRng + ?Sized>(
        &self,
        true_counts: &[u64],
        rng: &mut R,
    ) -> Result<Vec<NoisyCount>, PrivacyError> {
        true_counts
            .iter()
            .map(|&count| {
                let noise = match self {
                    Self::DiscreteLaplace(m) => m.sample_noise(rng)?,
                    Self::DiscreteGaussian(m) => m.sample_noise(rng)?,
                };
                i64::try_from(count)
                    .ok()
                    .and_then(|count| count.checked_add(noise))
                    .map(NoisyCount::new)
                    .ok_or(PrivacyError::Overflow("a noisy count"))
            })
            .collect()
    }

    /// The margin of error at `confidence`: the smallest `m` with
    /// `P(|noise| > m) <= 1 - confidence`, from the noise distribution alone.
    pub fn margin_of_error(&self, confidence: Confidence) -> Result<u64, PrivacyError> {
        match self {
            Self::DiscreteLaplace(m) => m.margin_of_error(confidence),
            Self::DiscreteGaussian(m) => m.margin_of_error(confidence),
        }
    }

    /// The variance of one noise draw: `2e^(-1/b) / (1 - e^(-1/b))²` for
    /// the discrete Laplace of scale `b`; `σ²` for the discrete Gaussian,
    /// an upper bound of its variance (close to exact for the scales used).
    pub fn variance(&self) -> f64 {
        match self {
            Self::DiscreteLaplace(m) => {
                let b = m.scale.num() as f64 / m.scale.den().get() as f64;
                let q = (-1.0 / b).exp();
                2.0 * q / ((1.0 - q) * (1.0 - q))
            }
            Self::DiscreteGaussian(m) => {
                m.sigma_squared.num() as f64 / m.sigma_squared.den().get() as f64
            }
        }
    }

    /// The margin at `confidence` of an estimate whose error has `variance`
    /// and is a linear combination of this mechanism's kind of noise (a
    /// consistent cell): this mechanism's margin scaled by the ratio of
    /// standard deviations, rounded up. Exact for a scaled draw; for a
    /// combination of several independent draws, whose tails are lighter
    /// than one draw's at the same variance, it is conservative (tested
    /// empirically in [`super::consistency`]).
    pub fn scaled_margin(
        &self,
        confidence: Confidence,
        variance: f64,
    ) -> Result<u64, PrivacyError> {
        let own = self.margin_of_error(confidence)?;
        let ratio = (variance.max(0.0) / self.variance()).sqrt();
        if !ratio.is_finite() {
            return Err(PrivacyError::InvalidParameter(
                "a variance that is not finite",
            ));
        }
        Ok((own as f64 * ratio).ceil() as u64)
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::privacy::sample::tests::{ALPHA, assert_frequency};
    use crate::privacy::{Cell, PostProcess, release_cell};
    use rand::SeedableRng;
    use rand::rngs::ChaCha20Rng;
    use statrs::distribution::{Beta, ContinuousCDF};
    use std::collections::HashMap;

    fn eps(text: &str) -> Epsilon {
        Epsilon::parse_decimal(text).unwrap()
    }

    #[test]
    fn the_scale_is_sensitivity_over_epsilon_exactly() {
        let m = CountMechanism::discrete_laplace(eps("0.3"), 1).unwrap();
        assert_eq!(m.scale().to_string(), "discrete Laplace, scale 10/3");
        assert_eq!(m.cost(), PrivacyCost::Epsilon(eps("0.3")));
        let m = CountMechanism::discrete_laplace(eps("0.5"), 6).unwrap();
        assert_eq!(
            m.scale(),
            NoiseScale::Laplace {
                scale: Rational::integer(12)
            }
        );
        let rho = Rho::parse_decimal("0.25").unwrap();
        let m = CountMechanism::discrete_gaussian(rho, 3).unwrap();
        assert_eq!(m.scale().to_string(), "discrete Gaussian, σ² = 6");
        assert_eq!(m.cost(), PrivacyCost::Rho(rho));
    }

    #[test]
    fn zero_costs_zero_sensitivities_and_overflow_are_refused() {
        assert!(CountMechanism::discrete_laplace(Epsilon::ZERO, 1).is_err());
        assert!(CountMechanism::discrete_laplace(eps("1"), 0).is_err());
        assert!(CountMechanism::discrete_laplace(eps("1"), u64::MAX).is_err());
        assert!(CountMechanism::discrete_gaussian(Rho::ZERO, 1).is_err());
        assert!(CountMechanism::discrete_gaussian(Rho::from_micro(1), 0).is_err());
        assert!(CountMechanism::discrete_gaussian(Rho::from_micro(u64::MAX), 1).is_err());
    }

    #[test]
    fn every_cell_gets_its_own_noise_zeros_included() {
        let m = CountMechanism::discrete_laplace(eps("0.1"), 1).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let noisy = m.noise_counts(&[0; 1000], &mut rng).unwrap();
        assert_eq!(noisy.len(), 1000);
        let nonzero = noisy.iter().filter(|n| n.value() != 0).count();
        // Scale 10: P(noise = 0) = (1-q)/(1+q) ≈ 0.05.
        assert!(nonzero > 900, "{nonzero}");
        let distinct: std::collections::BTreeSet<i64> = noisy.iter().map(|n| n.value()).collect();
        assert!(distinct.len() > 30);
        assert!(
            CountMechanism::discrete_laplace(eps("1"), 1)
                .unwrap()
                .noise_counts(&[u64::MAX], &mut rng)
                .is_err()
        );
    }

    /// P(noise >= 1) = P(noise <= -1) = q/(1+q) for the discrete Laplace.
    fn laplace_one_sided_tail(t: f64) -> f64 {
        let q = (-1.0 / t).exp();
        q / (1.0 + q)
    }

    #[test]
    fn the_threshold_applies_to_noisy_counts_at_the_exact_frequencies() {
        let k = 10u64;
        let trials = 200_000;
        for text in ["0.5", "1", "2"] {
            let epsilon = eps(text);
            let m = CountMechanism::discrete_laplace(epsilon, 1).unwrap();
            let mut rng = ChaCha20Rng::seed_from_u64(2);
            let t = 1.0 / epsilon.to_f64();
            let p = laplace_one_sided_tail(t);
            // True count k-1 is released exactly when the noise is >= 1.
            let below = m.noise_counts(&vec![k - 1; trials], &mut rng).unwrap();
            let released = below
                .iter()
                .filter(|&&n| release_cell(n, k, &PostProcess::NONE) != Cell::Suppressed)
                .count();
            assert!(released > 0);
            assert_frequency(&format!("k-1 released, ε={epsilon}"), released, trials, p);
            // True count k is withheld exactly when the noise is <= -1.
            let at = m.noise_counts(&vec![k; trials], &mut rng).unwrap();
            let withheld = at
                .iter()
                .filter(|&&n| release_cell(n, k, &PostProcess::NONE) == Cell::Suppressed)
                .count();
            assert!(withheld > 0);
            assert_frequency(&format!("k withheld, ε={epsilon}"), withheld, trials, p);
        }
    }

    /// Two-sided Clopper-Pearson interval for `hits` out of `n` at level
    /// `1 - delta`.
    fn clopper_pearson(hits: u64, n: u64, delta: f64) -> (f64, f64) {
        let (h, n) = (hits as f64, n as f64);
        let lower = if hits == 0 {
            0.0
        } else {
            Beta::new(h, n - h + 1.0).unwrap().inverse_cdf(delta / 2.0)
        };
        let upper = if hits as f64 == n {
            1.0
        } else {
            Beta::new(h + 1.0, n - h)
                .unwrap()
                .inverse_cdf(1.0 - delta / 2.0)
        };
        (lower, upper)
    }

    fn released_outcomes(
        mechanism: &CountMechanism,
        count: u64,
        k: u64,
        trials: usize,
        seed: u64,
    ) -> HashMap<Cell, u64> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut outcomes = HashMap::new();
        for noisy in mechanism
            .noise_counts(&vec![count; trials], &mut rng)
            .unwrap()
        {
            *outcomes
                .entry(release_cell(noisy, k, &PostProcess::NONE))
                .or_insert(0) += 1;
        }
        outcomes
    }

    /// For neighbouring true counts n and n+1 (sensitivity 1), every output
    /// event after suppression, including "suppressed", has
    /// `P(event | n) <= e^ε · P(event | n+1)` and vice versa. We estimate both
    /// probabilities from 10^6 draws each and check that the *lower* bound of
    /// the privacy loss, `ln(lower(P1) / upper(P2))` from Clopper-Pearson
    /// intervals (Bonferroni-corrected to a total error of 1e-6), never
    /// exceeds ε. We also check that the point estimate reaches ε on the
    /// outcomes where the discrete Laplace ratio is exactly e^ε, so the test
    /// would notice noise that is too small.
    #[test]
    fn empirical_privacy_loss_on_neighbouring_counts_stays_within_epsilon() {
        let epsilon = eps("0.5");
        let e = epsilon.to_f64();
        let k = 5;
        let n = 5; // neighbours 5 and 6 straddle the threshold
        let trials = 1_000_000;
        let mechanism = CountMechanism::discrete_laplace(epsilon, 1).unwrap();
        let a = released_outcomes(&mechanism, n, k, trials, 3);
        let b = released_outcomes(&mechanism, n + 1, k, trials, 4);

        // Events: each single outcome seen at least 1000 times in both runs.
        let events: Vec<Cell> = a
            .iter()
            .filter(|(cell, hits)| **hits >= 1000 && b.get(cell).is_some_and(|h| *h >= 1000))
            .map(|(cell, _)| *cell)
            .collect();
        assert!(events.contains(&Cell::Suppressed));
        assert!(events.len() > 5);
        let delta = ALPHA / (4.0 * events.len() as f64);
        let mut max_point_estimate = 0.0f64;
        for cell in &events {
            let (ha, hb) = (a[cell], b[cell]);
            let (la, ua) = clopper_pearson(ha, trials as u64, delta);
            let (lb, ub) = clopper_pearson(hb, trials as u64, delta);
            let loss_lower = (la / ub).ln().max((lb / ua).ln());
            assert!(
                loss_lower <= e,
                "{cell:?}: privacy loss at least {loss_lower} > ε = {e} ({ha} vs {hb})"
            );
            let point = (ha as f64 / hb as f64).ln().abs();
            max_point_estimate = max_point_estimate.max(point);
        }
        assert!(
            max_point_estimate > 0.9 * e,
            "the test is not sensitive: largest observed loss {max_point_estimate}"
        );
    }

    #[test]
    fn the_margin_of_error_comes_from_the_mechanism_alone() {
        let c = Confidence::new(0.95).unwrap();
        let laplace = CountMechanism::discrete_laplace(eps("1"), 1).unwrap();
        assert_eq!(laplace.margin_of_error(c).unwrap(), 3);
        let gaussian =
            CountMechanism::discrete_gaussian(Rho::parse_decimal("0.5").unwrap(), 1).unwrap();
        // σ² = 1: P(|X| > 1) ≈ 0.117 > 0.05, P(|X| > 2) ≈ 0.0091.
        assert_eq!(gaussian.margin_of_error(c).unwrap(), 2);
    }
}
