//! Derived total rows of national tables: the sum of the *released noisy*
//! cells, with a margin of error for that sum.
//!
//! A total is post-processing of a release, so it is free and it never sees a
//! true count. Suppressed cells have no number and are left out: the total is
//! then flagged incomplete (it understates). Its margin comes from the noise
//! distribution and the number of summed cells alone (a function of the noisy
//! release), and is a rigorous, conservative bound: the smallest of
//! - a Chernoff bound on the sum of independent noise draws (tight for many
//!   cells; discrete Laplace through its moment generating function, discrete
//!   Gaussian as σ-sub-Gaussian, Canonne, Kamath and Steinke 2020);
//! - a union bound over the cells (exact for one cell);
//! - Chebyshev's inequality on the variance.
//!
//! Floating point is used here for accuracy metadata only, never for noise.

use crate::privacy::{Confidence, NoiseScale};
use crate::release::Plan;
use serde::Serialize;

/// A derived total row: the sum of the released noisy cells.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NationalTotal {
    /// Sum of the released cells (0 when every cell is suppressed); for a
    /// consistent total, null when withheld (below k, or the only figure
    /// left that would let a suppressed cell be computed from the others).
    pub count: Option<i64>,
    /// With probability at least `confidence`, the noise of the summed cells
    /// (and their rounding) moves the sum by at most this much. Conservative;
    /// it does not cover suppressed cells left out of the sum.
    pub margin_of_error: u64,
    pub cells_summed: usize,
    pub cells_suppressed: usize,
    /// False when suppressed cells were left out: the total then understates.
    pub complete: bool,
    /// `sum_of_released_cells` (the table's own cells added up), or
    /// `consistent_total` (the one total every consistent table of a report
    /// adds up to, estimated from all of them). Post-processing either way:
    /// free, never from true counts.
    pub method: &'static str,
}

/// The total row of a released table's cells (`None` = suppressed).
pub(super) fn derived_total(
    plan: &Plan,
    cells: &[Option<i64>],
    confidence: f64,
    round_to: u64,
) -> NationalTotal {
    let released: Vec<i64> = cells.iter().flatten().copied().collect();
    let suppressed = cells.len() - released.len();
    NationalTotal {
        count: Some(released.iter().fold(0i64, |a, v| a.saturating_add(*v))),
        margin_of_error: total_margin(plan, confidence, released.len(), round_to),
        cells_summed: released.len(),
        cells_suppressed: suppressed,
        complete: suppressed == 0,
        method: "sum_of_released_cells",
    }
}

/// Relative slack on the tail mass, absorbing floating-point error on the
/// conservative side.
const SLACK: f64 = 1e-9;

/// Margin of the sum of `n` released cells of `plan` at `confidence`, rounding included.
pub(super) fn total_margin(plan: &Plan, confidence: f64, n: usize, round_to: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let alpha = (1.0 - confidence) * (1.0 - SLACK);
    let nf = n as f64;
    let (variance, chernoff) = match plan.mechanism.scale() {
        NoiseScale::Laplace { scale } => {
            let q = (-1.0 / scale.to_f64()).exp();
            // Variance of P(x) ∝ q^|x|: 2q/(1-q)².
            let variance = 2.0 * q / ((1.0 - q) * (1.0 - q));
            (variance, laplace_sum_margin(q, nf, alpha))
        }
        NoiseScale::Gaussian { sigma_squared } => {
            // σ-sub-Gaussian: P(|S| >= t) <= 2 exp(-t² / (2 n σ²)); variance <= σ².
            let s2 = sigma_squared.to_f64();
            let t = (2.0 * nf * s2 * (2.0 / alpha).ln()).sqrt().ceil();
            (s2, to_margin(t))
        }
    };
    let chebyshev = to_margin((nf * variance / alpha).sqrt().ceil());
    let union = Confidence::new(1.0 - alpha / nf)
        .and_then(|c| plan.mechanism.margin_of_error(c))
        .ok()
        .map_or(u64::MAX, |m| m.saturating_mul(n as u64));
    let noise = chebyshev.min(union).min(chernoff);
    noise.saturating_add((n as u64).saturating_mul(round_to / 2))
}

fn to_margin(x: f64) -> u64 {
    if x.is_finite() && x >= 0.0 {
        x as u64
    } else {
        u64::MAX
    }
}

/// Smallest `m` with a Chernoff bound on `P(|S| > m) <= alpha`, for `S` the
/// sum of `n` independent discrete Laplace draws with ratio `q = e^(-1/t)`.
/// The moment generating function is `M(λ) = (1-q)² / ((1-q e^λ)(1-q e^-λ))`
/// for `|λ| < -ln q`, so `P(|S| >= t) <= 2 min_λ M(λ)^n e^(-λ t)`.
fn laplace_sum_margin(q: f64, n: f64, alpha: f64) -> u64 {
    if !(q > 0.0 && q < 1.0) {
        return u64::MAX;
    }
    let lambda_max = -q.ln();
    let log_mgf =
        |l: f64| 2.0 * (1.0 - q).ln() - (1.0 - q * l.exp()).ln() - (1.0 - q * (-l).exp()).ln();
    // ln of the bound on P(|S| >= t); convex in λ, so a ternary search finds the minimum.
    let log_bound = |t: f64| {
        let f = |l: f64| n * log_mgf(l) - l * t;
        let (mut lo, mut hi) = (0.0, lambda_max * (1.0 - 1e-12));
        for _ in 0..200 {
            let (a, b) = (lo + (hi - lo) / 3.0, hi - (hi - lo) / 3.0);
            if f(a) <= f(b) {
                hi = b;
            } else {
                lo = a;
            }
        }
        2f64.ln() + f((lo + hi) / 2.0)
    };
    let target = alpha.ln();
    // Find the smallest t with bound(t) <= alpha; the margin is t - 1
    // (S is an integer, so |S| > t - 1 means |S| >= t).
    let (mut lo, mut hi) = (1u64, 2u64);
    while log_bound(hi as f64) > target {
        if hi > 1 << 40 {
            return u64::MAX;
        }
        lo = hi;
        hi *= 2;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if log_bound(mid as f64) <= target {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    hi - 1
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::Consumer;
    use crate::domain::Role;
    use crate::policy::parse_policy;
    use crate::release::query::{CountQuery, CountRequest};

    fn plan(epsilon: f64) -> Plan {
        let policy =
            parse_policy("default.toml", include_str!("../../policy/default.toml")).unwrap();
        let consumer = Consumer {
            id: "r".into(),
            role: Role::Researcher,
            country: None,
            region: None,
        };
        let req = CountRequest {
            workload: None,
            dimensions: vec!["gender".into()],
            filters: Default::default(),
            epsilon: Some(epsilon),
            rho: None,
            accuracy: None,
            confidence: None,
            perspective: None,
        };
        let q = CountQuery::parse(&policy, &consumer, &req).unwrap();
        crate::release::plan(&policy, q).unwrap()
    }

    #[test]
    fn a_derived_total_sums_released_cells_and_flags_suppressed_ones() {
        let p = plan(0.2);
        let t = derived_total(&p, &[Some(40), None, Some(12)], 0.95, 1);
        assert_eq!(t.count, Some(52));
        assert_eq!((t.cells_summed, t.cells_suppressed), (2, 1));
        assert!(!t.complete);
        let one = derived_total(&p, &[Some(40)], 0.95, 1);
        assert_eq!(one.margin_of_error, p.margin, "one cell: the cell's margin");
        assert!(one.complete);
        let none = derived_total(&p, &[None, None], 0.95, 1);
        assert_eq!((none.count, none.margin_of_error), (Some(0), 0));
    }

    #[test]
    fn a_total_margin_grows_like_the_square_root_of_the_cells() {
        let p = plan(0.2);
        let mut last = 0;
        for n in [1usize, 2, 5, 10, 40, 250] {
            let m = total_margin(&p, 0.95, n, 1);
            assert!(m >= last && m >= p.margin, "{n}: {m}");
            last = m;
        }
        // Scale 5: standard deviation of one cell about 7.05; the normal
        // approximation of 40 cells gives 1.96 · 7.05 · √40 ≈ 87. The bound is
        // rigorous, so above that, but not far.
        let m40 = total_margin(&p, 0.95, 40, 1);
        assert!((88..=130).contains(&m40), "{m40}");
        // Rounding to 10 moves each summed cell by at most 5.
        assert_eq!(
            total_margin(&p, 0.95, 10, 10),
            total_margin(&p, 0.95, 10, 1) + 50
        );
    }

    #[test]
    fn the_chernoff_margin_covers_the_sum_of_laplace_noise() {
        // Exact tail of the sum of 3 discrete Laplace draws (scale 5), by convolution.
        let q: f64 = (-1.0f64 / 5.0).exp();
        let width = 400i64;
        let one: Vec<f64> = (-width..=width)
            .map(|x| (1.0 - q) / (1.0 + q) * q.powi(x.unsigned_abs() as i32))
            .collect();
        let conv = |a: &[f64], b: &[f64]| {
            let mut out = vec![0.0; a.len() + b.len() - 1];
            for (i, x) in a.iter().enumerate() {
                for (j, y) in b.iter().enumerate() {
                    out[i + j] += x * y;
                }
            }
            out
        };
        let three = conv(&conv(&one, &one), &one);
        let centre = (three.len() / 2) as i64;
        let tail = |m: i64| -> f64 {
            three
                .iter()
                .enumerate()
                .filter(|(i, _)| (*i as i64 - centre).abs() > m)
                .map(|(_, p)| p)
                .sum()
        };
        let m = laplace_sum_margin(q, 3.0, 0.05) as i64;
        assert!(tail(m) <= 0.05, "P(|S| > {m}) = {}", tail(m));
        // Conservative for few cells (the price of a closed-form bound), but
        // within twice the exact margin.
        let exact = (0..).find(|&k| tail(k) <= 0.05).unwrap();
        assert!(m <= exact * 2, "bound {m}, exact {exact}");
    }
}
