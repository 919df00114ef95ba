//! Exact samplers for discrete noise, after Canonne, Kamath and Steinke (2020),
//! "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020,
//! arXiv:2004.00010), section "Sampling". Algorithm numbers below are those of
//! the NeurIPS version; each is also named by what it samples.
//!
//! Invariant: no floating-point number is involved anywhere on the sampling
//! path. Every sampler consumes uniformly random machine words and does
//! integer arithmetic only (`u64`/`u128` with checked operations, falling back
//! to `num-bigint` where a product could overflow), so each output has exactly
//! the stated distribution, not an approximation of it. The only departure
//! from exactness is an explicit error ([`PrivacyError::Overflow`]) if a draw
//! would not fit in 64 bits, an event of probability below `2^-60` for every
//! parameter the service can build.
//!
//! The building blocks, bottom up:
//! - [`uniform_below`]: unbiased integers in `0..n` by rejection;
//! - [`bernoulli`]: `Bernoulli(num/den)` from one uniform integer;
//! - [`bernoulli_exp_neg`]: `Bernoulli(exp(-x))` for rational `x` (Algorithm 1);
//! - [`geometric`]: `P(G = g) = (1 - e^-x) e^(-x g)` for rational `x > 0`;
//! - [`discrete_laplace`]: `P(X = x) ∝ exp(-|x|/t)` for rational `t` (Algorithm 2);
//! - [`discrete_gaussian`]: `P(X = x) ∝ exp(-x²/(2σ²))` for rational `σ²` (Algorithm 3).

use std::num::{NonZeroU64, NonZeroU128};

use num_bigint::BigUint;
use num_integer::Integer;
use num_traits::Zero;
use rand::Rng;

use super::{PrivacyError, Rational};

/// A uniformly random integer in `0..n`, without bias.
///
/// Draws a 64-bit word and rejects it when it falls in the incomplete last
/// copy of `0..n` (the lowest `2^64 mod n` words), so the accepted words cover
/// every residue equally often. At most half the words are rejected.
pub fn uniform_below<R: Rng + ?Sized>(rng: &mut R, n: NonZeroU64) -> u64 {
    let n = n.get();
    // 2^64 mod n, computed without 2^64.
    let reject_below = n.wrapping_neg() % n;
    loop {
        let word = rng.next_u64();
        if word >= reject_below {
            return word % n;
        }
    }
}

/// [`uniform_below`] for 128-bit bounds; uses one word when `n` fits in 64 bits.
fn uniform_below_u128<R: Rng + ?Sized>(rng: &mut R, n: NonZeroU128) -> u128 {
    if let Some(small) = u64::try_from(n.get()).ok().and_then(NonZeroU64::new) {
        return u128::from(uniform_below(rng, small));
    }
    let n = n.get();
    let reject_below = n.wrapping_neg() % n;
    loop {
        let word = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        if word >= reject_below {
            return word % n;
        }
    }
}

/// A uniformly random big integer in `0..n` for `n > 0`: draw as many random
/// bits as `n` has and reject results `>= n` (fewer than half are).
fn uniform_below_big<R: Rng + ?Sized>(rng: &mut R, n: &BigUint) -> BigUint {
    debug_assert!(!n.is_zero());
    let bits = n.bits();
    let words = usize::try_from(bits.div_ceil(32)).unwrap_or(usize::MAX);
    let top_bits = bits % 32;
    loop {
        let mut digits: Vec<u32> = (0..words).map(|_| rng.next_u32()).collect();
        if let (Some(top), true) = (digits.last_mut(), top_bits != 0) {
            *top &= (1u32 << top_bits) - 1;
        }
        let candidate = BigUint::new(digits);
        if &candidate < n {
            return candidate;
        }
    }
}

/// `Bernoulli(p)` for a rational `p = num/den <= 1`: true when a uniform
/// integer below `den` is below `num`. [`PrivacyError::InvalidParameter`] if
/// `p > 1`.
pub fn bernoulli<R: Rng + ?Sized>(rng: &mut R, p: Rational) -> Result<bool, PrivacyError> {
    if p.num() > p.den().get() {
        return Err(PrivacyError::InvalidParameter(
            "a probability greater than one",
        ));
    }
    Ok(uniform_below(rng, p.den()) < p.num())
}

/// `Bernoulli(num / (den·k))`, exact, in `u128` when `den·k` fits and in big
/// integers otherwise.
fn bernoulli_scaled<R: Rng + ?Sized>(
    rng: &mut R,
    num: u128,
    den: NonZeroU128,
    k: NonZeroU128,
) -> bool {
    match den.checked_mul(k) {
        Some(bound) => uniform_below_u128(rng, bound) < num,
        None => {
            let bound = BigUint::from(den.get()) * BigUint::from(k.get());
            uniform_below_big(rng, &bound) < BigUint::from(num)
        }
    }
}

/// `Bernoulli(exp(-num/den))` for `num/den` in `[0, 1]` (Algorithm 1, first
/// branch): draw `A_k ~ Bernoulli(γ/k)` for `k = 1, 2, …` until one fails; the
/// index `K` of the failure is odd with probability
/// `Σ_j (-1)^j γ^j / j! = exp(-γ)`.
fn bernoulli_exp_neg_unit<R: Rng + ?Sized>(rng: &mut R, num: u128, den: NonZeroU128) -> bool {
    let mut k = NonZeroU128::MIN;
    while bernoulli_scaled(rng, num, den, k) {
        // Reaching 2^128 would need 2^128 successes of probability <= 1/k.
        k = k.saturating_add(1);
    }
    k.get() % 2 == 1
}

/// `Bernoulli(exp(-1))`.
fn bernoulli_exp_neg_one<R: Rng + ?Sized>(rng: &mut R) -> bool {
    bernoulli_exp_neg_unit(rng, 1, NonZeroU128::MIN)
}

/// `Bernoulli(exp(-num/den))` for any `num/den >= 0` (Algorithm 1): since
/// `exp(-x) = exp(-1)^floor(x) · exp(-(x - floor(x)))`, it is the conjunction
/// of `floor(x)` independent `Bernoulli(exp(-1))` and one
/// `Bernoulli(exp(-frac(x)))`, stopping at the first failure.
fn bernoulli_exp_neg_u128<R: Rng + ?Sized>(rng: &mut R, num: u128, den: NonZeroU128) -> bool {
    let whole = num / den;
    for _ in 0..whole {
        if !bernoulli_exp_neg_one(rng) {
            return false;
        }
    }
    bernoulli_exp_neg_unit(rng, num % den, den)
}

/// [`bernoulli_exp_neg_u128`] in big integers; `den` must be positive.
fn bernoulli_exp_neg_big<R: Rng + ?Sized>(rng: &mut R, num: &BigUint, den: &BigUint) -> bool {
    debug_assert!(!den.is_zero());
    let (mut whole, frac) = num.div_rem(den);
    while !whole.is_zero() {
        if !bernoulli_exp_neg_one(rng) {
            return false;
        }
        whole -= 1u32;
    }
    let mut k: u64 = 1;
    loop {
        let bound = den * k;
        if uniform_below_big(rng, &bound) >= frac {
            return k % 2 == 1;
        }
        k = k.saturating_add(1);
    }
}

/// `Bernoulli(exp(-x))` for a rational `x >= 0`, exactly (Algorithm 1 of
/// Canonne, Kamath and Steinke 2020).
pub fn bernoulli_exp_neg<R: Rng + ?Sized>(rng: &mut R, x: Rational) -> bool {
    bernoulli_exp_neg_u128(rng, u128::from(x.num()), NonZeroU128::from(x.den()))
}

/// A geometric draw with `P(G = g) = (1 - e^-x) · e^(-x·g)` for `g = 0, 1, …`
/// and a rational rate `x = s/t > 0`.
///
/// This is the core of Algorithm 2 of Canonne, Kamath and Steinke (2020), with
/// expected constant work for any rate: `U` uniform in `0..t` kept with
/// probability `exp(-U/t)`, plus `t·V` with `V ~ Geometric(exp(-1))`, gives
/// `X = U + t·V` with `P(X) ∝ exp(-X/t)`; then `floor(X/s)` has
/// `P(G) ∝ exp(-G·s/t)`.
pub fn geometric<R: Rng + ?Sized>(rng: &mut R, x: Rational) -> Result<u64, PrivacyError> {
    let s = NonZeroU64::new(x.num())
        .ok_or(PrivacyError::InvalidParameter("a geometric rate of zero"))?;
    let t = x.den();
    loop {
        let u = uniform_below(rng, t);
        if !bernoulli_exp_neg_u128(rng, u128::from(u), NonZeroU128::from(t)) {
            continue;
        }
        let mut v: u128 = 0;
        while bernoulli_exp_neg_one(rng) {
            v = v.saturating_add(1);
        }
        let x = u128::from(t.get())
            .checked_mul(v)
            .and_then(|tv| tv.checked_add(u128::from(u)))
            .ok_or(PrivacyError::Overflow("a geometric draw"))?;
        return u64::try_from(x / u128::from(s.get()))
            .map_err(|_| PrivacyError::Overflow("a geometric draw"));
    }
}

/// A discrete Laplace draw, `P(X = x) = (1-q)/(1+q) · q^|x|` with
/// `q = exp(-1/t)`, for a rational scale `t > 0` (Algorithm 2 of Canonne,
/// Kamath and Steinke 2020).
///
/// A fair sign and a geometric magnitude of rate `1/t`, rejecting "negative
/// zero" so that zero is not counted twice.
pub fn discrete_laplace<R: Rng + ?Sized>(
    rng: &mut R,
    scale: Rational,
) -> Result<i64, PrivacyError> {
    let rate = Rational::new(scale.den().get(), scale.num())
        .map_err(|_| PrivacyError::InvalidParameter("a Laplace scale of zero"))?;
    loop {
        let negative = rng.next_u32() & 1 == 1;
        let magnitude = geometric(rng, rate)?;
        if negative && magnitude == 0 {
            continue;
        }
        let magnitude =
            i64::try_from(magnitude).map_err(|_| PrivacyError::Overflow("a Laplace draw"))?;
        return Ok(if negative { -magnitude } else { magnitude });
    }
}

/// A discrete Gaussian draw, `P(X = x) ∝ exp(-x²/(2σ²))`, for a rational
/// variance parameter `σ² = a/b > 0` (Algorithm 3 of Canonne, Kamath and
/// Steinke 2020).
///
/// Rejection from a discrete Laplace of integer scale `t = floor(σ) + 1`:
/// accept `Y` with probability `exp(-(|Y| - σ²/t)² / (2σ²))`. The product of
/// the proposal and the acceptance is proportional to `exp(-Y²/(2σ²))`. In
/// integers the acceptance exponent is
/// `(|Y|·b·t - a)² / (2·a·b·t²)`, computed in `u128` when it fits and in big
/// integers otherwise. `t = floor(σ) + 1` is the paper's choice: it keeps the
/// acceptance probability bounded below by a constant for every `σ`.
pub fn discrete_gaussian<R: Rng + ?Sized>(
    rng: &mut R,
    sigma_squared: Rational,
) -> Result<i64, PrivacyError> {
    if sigma_squared.is_zero() {
        return Err(PrivacyError::InvalidParameter(
            "a Gaussian variance of zero",
        ));
    }
    let (a, b) = (sigma_squared.num(), sigma_squared.den().get());
    // floor(sqrt(a/b)) = isqrt(floor(a/b)): r² <= a/b iff r² <= floor(a/b) for integer r.
    let t = (a / b).isqrt() + 1;
    let proposal = Rational::integer(t);
    loop {
        let y = discrete_laplace(rng, proposal)?;
        if gaussian_accepts(rng, y.unsigned_abs(), a, b, t) {
            return Ok(y);
        }
    }
}

/// `Bernoulli(exp(-(y·b·t - a)² / (2·a·b·t²)))` for positive `a`, `b`, `t`.
fn gaussian_accepts<R: Rng + ?Sized>(rng: &mut R, y: u64, a: u64, b: u64, t: u64) -> bool {
    let (y, a, b, t) = (u128::from(y), u128::from(a), u128::from(b), u128::from(t));
    let num = y
        .checked_mul(b)
        .and_then(|yb| yb.checked_mul(t))
        .and_then(|ybt| ybt.abs_diff(a).checked_mul(ybt.abs_diff(a)));
    let den = a
        .checked_mul(b)
        .and_then(|ab| ab.checked_mul(2))
        .and_then(|ab2| ab2.checked_mul(t.checked_mul(t)?))
        .and_then(NonZeroU128::new);
    if let (Some(num), Some(den)) = (num, den) {
        return bernoulli_exp_neg_u128(rng, num, den);
    }
    let (y, a, b, t) = (
        BigUint::from(y),
        BigUint::from(a),
        BigUint::from(b),
        BigUint::from(t),
    );
    let ybt = &y * &b * &t;
    let diff = if ybt >= a { ybt - &a } else { &a - ybt };
    let num = &diff * &diff;
    let den = BigUint::from(2u32) * &a * &b * &t * &t;
    bernoulli_exp_neg_big(rng, &num, &den)
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
pub(crate) mod tests {
    //! Statistical tests with fixed seeds and a fixed significance level
    //! `ALPHA = 1e-6`: a correct sampler fails a test with probability at most
    //! one in a million, and with the fixed seeds the outcome is reproducible.

    use super::*;
    use rand::SeedableRng;
    use rand::rngs::ChaCha20Rng;
    use statrs::distribution::{ChiSquared, ContinuousCDF};

    /// Significance level of every statistical test in this crate.
    pub(crate) const ALPHA: f64 = 1e-6;

    fn seeded(seed: u64) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(seed)
    }

    /// The discrete Laplace pmf at `x` for scale `t`, in f64 (tests only).
    pub(crate) fn laplace_pmf(t: f64, x: i64) -> f64 {
        let q = (-1.0 / t).exp();
        (1.0 - q) / (1.0 + q) * q.powf(x.unsigned_abs() as f64)
    }

    /// The discrete Gaussian pmf on `-n..=n`, normalised over that range,
    /// which holds all but a negligible mass when `n >= 40σ + 10`.
    pub(crate) fn gaussian_pmf(sigma_squared: f64, n: i64) -> Vec<f64> {
        let weights: Vec<f64> = (-n..=n)
            .map(|x| (-(x as f64).powi(2) / (2.0 * sigma_squared)).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        weights.into_iter().map(|w| w / total).collect()
    }

    /// Chi-square goodness of fit of `draws` against the pmf `pmf[i]` of the
    /// value `i - offset`. Adjacent values are merged left to right until each
    /// bin expects at least 5 draws; the first and last bins also take every
    /// draw beyond the table (pooled tails). Also checks the mean and variance
    /// within 6 standard errors. Panics with a description on failure.
    pub(crate) fn assert_fits(label: &str, draws: &[i64], pmf: &[f64], offset: i64) {
        let n = draws.len() as f64;
        let mut bin_of = vec![0usize; pmf.len()];
        let mut expected = vec![0.0f64];
        for (i, p) in pmf.iter().enumerate() {
            if *expected.last().unwrap() >= 5.0 {
                expected.push(0.0);
            }
            *expected.last_mut().unwrap() += p * n;
            bin_of[i] = expected.len() - 1;
        }
        // A short last bin joins its neighbour.
        if expected.len() > 1 && *expected.last().unwrap() < 5.0 {
            let last = expected.pop().unwrap();
            *expected.last_mut().unwrap() += last;
            let merged = expected.len() - 1;
            for bin in bin_of.iter_mut() {
                *bin = (*bin).min(merged);
            }
        }
        let mut observed = vec![0.0f64; expected.len()];
        let max_index = pmf.len() as i64 - 1;
        for &x in draws {
            let i = (x + offset).clamp(0, max_index) as usize;
            observed[bin_of[i]] += 1.0;
        }
        let statistic: f64 = observed
            .iter()
            .zip(&expected)
            .map(|(o, e)| (o - e).powi(2) / e)
            .sum();
        let dof = (expected.len() - 1) as f64;
        assert!(dof >= 2.0, "{label}: too few bins");
        let critical = ChiSquared::new(dof).unwrap().inverse_cdf(1.0 - ALPHA);
        assert!(
            statistic <= critical,
            "{label}: chi-square {statistic:.2} > critical {critical:.2} at {dof} degrees of freedom"
        );

        let values = || (0..pmf.len()).map(|i| (i as i64 - offset) as f64);
        let mean: f64 = values().zip(pmf).map(|(x, p)| x * p).sum();
        let var: f64 = values().zip(pmf).map(|(x, p)| (x - mean).powi(2) * p).sum();
        let mu4: f64 = values().zip(pmf).map(|(x, p)| (x - mean).powi(4) * p).sum();
        let sample_mean = draws.iter().map(|&x| x as f64).sum::<f64>() / n;
        let sample_var = draws
            .iter()
            .map(|&x| (x as f64 - sample_mean).powi(2))
            .sum::<f64>()
            / (n - 1.0);
        let mean_se = (var / n).sqrt();
        let var_se = ((mu4 - var * var) / n).sqrt();
        assert!(
            (sample_mean - mean).abs() <= 6.0 * mean_se,
            "{label}: mean {sample_mean} vs {mean} (se {mean_se})"
        );
        assert!(
            (sample_var - var).abs() <= 6.0 * var_se,
            "{label}: variance {sample_var} vs {var} (se {var_se})"
        );
    }

    const DRAWS: usize = 1_000_000;

    fn laplace_fits(num: u64, den: u64, seed: u64) {
        let scale = Rational::new(num, den).unwrap();
        let t = scale.to_f64();
        let mut rng = seeded(seed);
        let draws: Vec<i64> = (0..DRAWS)
            .map(|_| discrete_laplace(&mut rng, scale).unwrap())
            .collect();
        let n = (60.0 * t) as i64 + 20;
        let pmf: Vec<f64> = (-n..=n).map(|x| laplace_pmf(t, x)).collect();
        assert_fits(&format!("discrete Laplace t={scale}"), &draws, &pmf, n);
    }

    fn gaussian_fits(num: u64, den: u64, seed: u64, draws: usize) {
        let sigma_squared = Rational::new(num, den).unwrap();
        let s2 = sigma_squared.to_f64();
        let mut rng = seeded(seed);
        let sample: Vec<i64> = (0..draws)
            .map(|_| discrete_gaussian(&mut rng, sigma_squared).unwrap())
            .collect();
        let n = (40.0 * s2.sqrt()) as i64 + 10;
        let pmf = gaussian_pmf(s2, n);
        assert_fits(
            &format!("discrete Gaussian σ²={sigma_squared}"),
            &sample,
            &pmf,
            n,
        );
    }

    #[test]
    fn discrete_laplace_scale_1_matches_its_pmf() {
        laplace_fits(1, 1, 11);
    }

    #[test]
    fn discrete_laplace_scale_3_5_matches_its_pmf() {
        laplace_fits(7, 2, 12);
    }

    #[test]
    fn discrete_laplace_scale_10_matches_its_pmf() {
        laplace_fits(10, 1, 13);
    }

    #[test]
    fn discrete_laplace_scale_one_third_matches_its_pmf() {
        // Scale below 1: mostly zeros, exercises the negative-zero rejection.
        laplace_fits(1, 3, 14);
    }

    #[test]
    fn discrete_gaussian_variance_1_matches_its_pmf() {
        gaussian_fits(1, 1, 21, DRAWS);
    }

    #[test]
    fn discrete_gaussian_variance_10_matches_its_pmf() {
        gaussian_fits(10, 1, 22, DRAWS);
    }

    #[test]
    fn discrete_gaussian_variance_50_matches_its_pmf() {
        gaussian_fits(50, 1, 23, DRAWS);
    }

    #[test]
    fn discrete_gaussian_with_a_huge_denominator_uses_big_integers_and_stays_exact() {
        // σ² = (10^19 + 1) / 10^19 ≈ 1: the acceptance denominator
        // 2·a·b·t² ≈ 8·10^38 exceeds u128, so every test runs in big integers.
        gaussian_fits(
            10_000_000_000_000_000_001,
            10_000_000_000_000_000_000,
            24,
            200_000,
        );
    }

    #[test]
    fn uniform_below_is_unbiased() {
        let mut rng = seeded(31);
        for n in [1u64, 3, 7, 10] {
            let bound = NonZeroU64::new(n).unwrap();
            let draws: Vec<i64> = (0..200_000)
                .map(|_| uniform_below(&mut rng, bound) as i64)
                .collect();
            if n == 1 {
                assert!(draws.iter().all(|&x| x == 0));
                continue;
            }
            let pmf = vec![1.0 / n as f64; n as usize];
            assert_fits(&format!("uniform below {n}"), &draws, &pmf, 0);
        }
        // A 128-bit bound exercises the two-word path.
        let big = NonZeroU128::new(3 * (1u128 << 100)).unwrap();
        let draws: Vec<i64> = (0..200_000)
            .map(|_| (uniform_below_u128(&mut rng, big) >> 100) as i64)
            .collect();
        assert_fits("uniform below 3·2^100", &draws, &[1.0 / 3.0; 3], 0);
    }

    /// Asserts that `hits` out of `trials` is within 6 standard errors of `p`.
    pub(crate) fn assert_frequency(label: &str, hits: usize, trials: usize, p: f64) {
        let n = trials as f64;
        let se = (p * (1.0 - p) / n).sqrt().max(1.0 / n);
        let observed = hits as f64 / n;
        assert!(
            (observed - p).abs() <= 6.0 * se,
            "{label}: frequency {observed} vs exact {p} (se {se})"
        );
    }

    #[test]
    fn bernoulli_of_a_rational_has_the_right_frequency() {
        let mut rng = seeded(41);
        for (num, den) in [(0u64, 5u64), (1, 2), (1, 3), (2, 7), (5, 5)] {
            let p = Rational::new(num, den).unwrap();
            let hits = (0..100_000)
                .filter(|_| bernoulli(&mut rng, p).unwrap())
                .count();
            assert_frequency(&format!("Bernoulli({p})"), hits, 100_000, p.to_f64());
        }
        assert!(bernoulli(&mut rng, Rational::new(3, 2).unwrap()).is_err());
    }

    #[test]
    fn bernoulli_exp_neg_has_the_right_frequency() {
        let mut rng = seeded(42);
        for (num, den) in [(0u64, 1u64), (1, 2), (1, 1), (3, 2), (5, 1), (7, 3)] {
            let x = Rational::new(num, den).unwrap();
            let hits = (0..200_000)
                .filter(|_| bernoulli_exp_neg(&mut rng, x))
                .count();
            assert_frequency(
                &format!("Bernoulli(exp(-{x}))"),
                hits,
                200_000,
                (-x.to_f64()).exp(),
            );
        }
    }

    #[test]
    fn bernoulli_exp_neg_in_big_integers_has_the_right_frequency() {
        let mut rng = seeded(43);
        // x = 3·2^100 / 2^101 = 1.5, with operands far beyond u128 products.
        let num = BigUint::from(3u32) << 100u32;
        let den = BigUint::from(1u32) << 101u32;
        let hits = (0..200_000)
            .filter(|_| bernoulli_exp_neg_big(&mut rng, &num, &den))
            .count();
        assert_frequency("big Bernoulli(exp(-1.5))", hits, 200_000, (-1.5f64).exp());
        // A fractional part whose den·k needs big integers: x = (2^127 + 1) / 2^127.
        let num = (1u128 << 127) + 1;
        let den = NonZeroU128::new(1u128 << 127).unwrap();
        let hits = (0..200_000)
            .filter(|_| bernoulli_exp_neg_u128(&mut rng, num, den))
            .count();
        assert_frequency(
            "Bernoulli(exp(-(1+2^-127)))",
            hits,
            200_000,
            (-1.0f64).exp(),
        );
    }

    #[test]
    fn geometric_matches_its_pmf() {
        let mut rng = seeded(44);
        for (num, den) in [(1u64, 1u64), (1, 4), (5, 2)] {
            let rate = Rational::new(num, den).unwrap();
            let q = (-rate.to_f64()).exp();
            let draws: Vec<i64> = (0..300_000)
                .map(|_| geometric(&mut rng, rate).unwrap() as i64)
                .collect();
            let pmf: Vec<f64> = (0..200).map(|g| (1.0 - q) * q.powi(g)).collect();
            assert_fits(&format!("geometric rate {rate}"), &draws, &pmf, 0);
        }
        assert!(geometric(&mut rng, Rational::integer(0)).is_err());
    }

    #[test]
    fn zero_scales_are_refused() {
        let mut rng = seeded(45);
        assert!(discrete_laplace(&mut rng, Rational::integer(0)).is_err());
        assert!(discrete_gaussian(&mut rng, Rational::integer(0)).is_err());
    }
}
