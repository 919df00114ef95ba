//! Consistent tables from independent noisy measurements, as
//! post-processing: no true count enters, and nothing here costs budget.
//!
//! Several tables describe one population (a national report): each was
//! measured on its own, with independent noise of a known variance per
//! cell, so their totals (and any marginal two of them share) disagree.
//! [`weighted_least_squares`] finds the values closest to all the
//! measurements, each weighted by the inverse of its variance, that satisfy
//! the linear constraints between the tables exactly (every table sums to
//! one total; a shared marginal agrees). The estimator is linear in the
//! measurements, so the variance of every consistent cell is known exactly
//! ([`Consistent::variances`]): it is what the published margins rest on.
//!
//! Then [`non_negative_integers`] makes each table non-negative and
//! integer while keeping the constraints: the nearest non-negative vector
//! with the table's (rounded) sum, within each group of cells whose sum is
//! fixed, then a controlled rounding (largest remainders) that keeps every
//! group's sum. Rounding moves a cell by less than one; the non-negativity
//! step only moves values that went below zero and spreads the difference
//! over the others.
//!
//! Method: the measurements are `y` with covariance `Σ = diag(σ²)`, the
//! constraints `A x = 0`. The estimate is the `Σ⁻¹`-weighted projection
//! `x̂ = y − Σ Aᵀ (A Σ Aᵀ)⁻¹ A y`, whose covariance is
//! `Σ − Σ Aᵀ (A Σ Aᵀ)⁻¹ A Σ`. Constraints implied by others are dropped
//! first, so `A Σ Aᵀ` is positive definite.

use std::fmt;

/// One table's noisy cells, all measured with the same noise variance.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub noisy: Vec<f64>,
    /// Variance of the noise added to each cell.
    pub variance: f64,
}

/// A cell of one of the measured tables: (table, cell).
pub type CellRef = (usize, usize);

/// The sum of the `left` cells equals the sum of the `right` cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumsEqual {
    pub left: Vec<CellRef>,
    pub right: Vec<CellRef>,
}

/// Why no consistent estimate could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsistencyError {
    /// A variance that is not a positive finite number.
    BadVariance(usize),
    /// A constraint names a table or cell that was not measured.
    UnknownCell(CellRef),
    /// Group sums that cannot be met with non-negative integers.
    Infeasible(&'static str),
}

impl fmt::Display for ConsistencyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsistencyError::BadVariance(t) => {
                write!(f, "table {t} has no positive finite noise variance")
            }
            ConsistencyError::UnknownCell((t, c)) => {
                write!(
                    f,
                    "a constraint names cell {c} of table {t}, which was not measured"
                )
            }
            ConsistencyError::Infeasible(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for ConsistencyError {}

/// The weighted least-squares estimate, table by table, and its exact
/// variances (before any rounding or clamping).
#[derive(Debug, Clone)]
pub struct Consistent {
    pub values: Vec<Vec<f64>>,
    pub variances: Vec<Vec<f64>>,
    offsets: Vec<usize>,
    sigma2: Vec<f64>,
    /// Kept constraint rows and the inverse of `A Σ Aᵀ`.
    rows: Vec<Vec<f64>>,
    m_inv: Vec<Vec<f64>>,
}

impl Consistent {
    /// The estimate of the sum of `cells`, and its exact variance.
    pub fn sum(&self, cells: &[CellRef]) -> (f64, f64) {
        let n = self.sigma2.len();
        let mut u = vec![0.0; n];
        let mut value = 0.0;
        for &(t, c) in cells {
            let i = self.offsets[t] + c;
            u[i] += 1.0;
            value += self.values[t][c];
        }
        // Var(uᵀx̂) = uᵀΣu − (AΣu)ᵀ M⁻¹ (AΣu)
        let su: Vec<f64> = u.iter().zip(&self.sigma2).map(|(a, s)| a * s).collect();
        let own: f64 = u.iter().zip(&su).map(|(a, b)| a * b).sum();
        let asu: Vec<f64> = self.rows.iter().map(|r| dot(r, &su)).collect();
        (value, own - quadratic(&self.m_inv, &asu))
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `vᵀ M v`.
fn quadratic(m: &[Vec<f64>], v: &[f64]) -> f64 {
    m.iter().zip(v).map(|(row, vi)| vi * dot(row, v)).sum()
}

/// Keeps the rows that are not linear combinations of earlier ones
/// (Gram-Schmidt with a relative tolerance; rows are small integers).
fn independent(rows: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    let mut kept = Vec::new();
    for row in rows {
        let norm = dot(&row, &row).sqrt();
        if norm == 0.0 {
            continue;
        }
        let mut r = row.clone();
        for b in &basis {
            let p = dot(&r, b);
            for (x, y) in r.iter_mut().zip(b) {
                *x -= p * y;
            }
        }
        let rest = dot(&r, &r).sqrt();
        if rest > 1e-9 * norm {
            for x in r.iter_mut() {
                *x /= rest;
            }
            basis.push(r);
            kept.push(row);
        }
    }
    kept
}

/// The inverse of a symmetric positive-definite matrix (Cholesky).
#[expect(
    clippy::needless_range_loop,
    reason = "triangular solves read clearest with explicit indices"
)]
fn spd_inverse(m: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = m.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = m[i][i] - s;
                if d <= 0.0 || !d.is_finite() {
                    return None;
                }
                l[i][j] = d.sqrt();
            } else {
                l[i][j] = (m[i][j] - s) / l[j][j];
            }
        }
    }
    // Solve L Lᵀ X = I column by column.
    let mut inv = vec![vec![0.0; n]; n];
    for c in 0..n {
        let mut y = vec![0.0; n];
        for i in 0..n {
            let e = if i == c { 1.0 } else { 0.0 };
            let s: f64 = (0..i).map(|k| l[i][k] * y[k]).sum();
            y[i] = (e - s) / l[i][i];
        }
        let mut x = vec![0.0; n];
        for i in (0..n).rev() {
            let s: f64 = (i + 1..n).map(|k| l[k][i] * x[k]).sum();
            x[i] = (y[i] - s) / l[i][i];
        }
        for (r, v) in x.into_iter().enumerate() {
            inv[r][c] = v;
        }
    }
    Some(inv)
}

/// The consistent estimate of `tables` under `constraints` (see the module
/// documentation). Without constraints it returns the measurements.
pub fn weighted_least_squares(
    tables: &[Measurement],
    constraints: &[SumsEqual],
) -> Result<Consistent, ConsistencyError> {
    let mut offsets = Vec::with_capacity(tables.len());
    let mut sigma2 = Vec::new();
    let mut y = Vec::new();
    for (t, m) in tables.iter().enumerate() {
        if !(m.variance > 0.0 && m.variance.is_finite()) {
            return Err(ConsistencyError::BadVariance(t));
        }
        offsets.push(y.len());
        y.extend_from_slice(&m.noisy);
        sigma2.extend(std::iter::repeat_n(m.variance, m.noisy.len()));
    }
    let n = y.len();
    let index = |(t, c): CellRef| -> Result<usize, ConsistencyError> {
        match tables.get(t) {
            Some(m) if c < m.noisy.len() => Ok(offsets[t] + c),
            _ => Err(ConsistencyError::UnknownCell((t, c))),
        }
    };
    let mut rows = Vec::with_capacity(constraints.len());
    for c in constraints {
        let mut row = vec![0.0; n];
        for &cell in &c.left {
            row[index(cell)?] += 1.0;
        }
        for &cell in &c.right {
            row[index(cell)?] -= 1.0;
        }
        rows.push(row);
    }
    let rows = independent(rows);
    // M = A Σ Aᵀ
    let weighted: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| r.iter().zip(&sigma2).map(|(a, s)| a * s).collect())
        .collect();
    let m: Vec<Vec<f64>> = weighted
        .iter()
        .map(|wi| rows.iter().map(|rj| dot(wi, rj)).collect())
        .collect();
    let m_inv = spd_inverse(&m).ok_or(ConsistencyError::Infeasible(
        "the constraints between the tables are degenerate",
    ))?;
    // λ = M⁻¹ A y; x̂ = y − Σ Aᵀ λ
    let ay: Vec<f64> = rows.iter().map(|r| dot(r, &y)).collect();
    let lambda: Vec<f64> = m_inv.iter().map(|row| dot(row, &ay)).collect();
    let mut x = y.clone();
    for (r, l) in rows.iter().zip(&lambda) {
        for i in 0..n {
            x[i] -= sigma2[i] * r[i] * l;
        }
    }
    // Var(x̂ᵢ) = σᵢ² − σᵢ⁴ aᵢᵀ M⁻¹ aᵢ, with aᵢ the i-th column of A.
    let var: Vec<f64> = (0..n)
        .map(|i| {
            let a: Vec<f64> = rows.iter().map(|r| r[i]).collect();
            sigma2[i] - sigma2[i] * sigma2[i] * quadratic(&m_inv, &a)
        })
        .collect();
    let split = |v: &[f64]| -> Vec<Vec<f64>> {
        tables
            .iter()
            .zip(&offsets)
            .map(|(m, &o)| v[o..o + m.noisy.len()].to_vec())
            .collect()
    };
    Ok(Consistent {
        values: split(&x),
        variances: split(&var),
        offsets,
        sigma2,
        rows,
        m_inv,
    })
}

/// The nearest vector (in Euclidean distance) to `values` whose entries are
/// non-negative and add up to `sum` (`sum >= 0`): the projection onto the
/// simplex, by sorting.
pub fn simplex_projection(values: &[f64], sum: f64) -> Vec<f64> {
    if values.is_empty() {
        return Vec::new();
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut acc = 0.0;
    let mut theta = 0.0;
    for (j, v) in sorted.iter().enumerate() {
        acc += v;
        let t = (acc - sum) / (j as f64 + 1.0);
        if v - t > 0.0 {
            theta = t;
        }
    }
    values.iter().map(|v| (v - theta).max(0.0)).collect()
}

/// Integers within one of `values` (non-negative reals) that add up to
/// `sum` exactly: each value rounded down, and the shortfall given one unit
/// at a time to the largest remainders (ties to the first). If the values
/// do not add up to `sum`, the difference is spread the same way.
pub fn round_preserving_sum(values: &[f64], sum: i64) -> Vec<i64> {
    let mut out: Vec<i64> = values.iter().map(|v| v.max(0.0).floor() as i64).collect();
    let mut short = sum - out.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| {
        let fa = values[a] - values[a].floor();
        let fb = values[b] - values[b].floor();
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    while short > 0 && !order.is_empty() {
        for &i in &order {
            if short == 0 {
                break;
            }
            out[i] += 1;
            short -= 1;
        }
    }
    // Too much (values above the sum): take back from the smallest
    // remainders first, never below zero.
    while short < 0 {
        let mut took = false;
        for &i in order.iter().rev() {
            if short == 0 {
                break;
            }
            if out[i] > 0 {
                out[i] -= 1;
                short += 1;
                took = true;
            }
        }
        if !took {
            break;
        }
    }
    out
}

/// Non-negative integers for one table: within each group of cells (a
/// partition of the table's cells) the nearest non-negative values with the
/// group's fixed sum, then rounded keeping that sum.
pub fn non_negative_integers(
    values: &[f64],
    groups: &[Vec<usize>],
    group_sums: &[i64],
) -> Result<Vec<i64>, ConsistencyError> {
    if groups.len() != group_sums.len() || group_sums.iter().any(|&s| s < 0) {
        return Err(ConsistencyError::Infeasible(
            "every group needs one non-negative sum",
        ));
    }
    let mut out = vec![0i64; values.len()];
    let mut seen = vec![false; values.len()];
    for (cells, &sum) in groups.iter().zip(group_sums) {
        if cells.is_empty() && sum != 0 {
            return Err(ConsistencyError::Infeasible("an empty group with a sum"));
        }
        let mut part = Vec::with_capacity(cells.len());
        for &c in cells {
            match values.get(c) {
                Some(v) if !seen[c] => {
                    seen[c] = true;
                    part.push(*v);
                }
                _ => {
                    return Err(ConsistencyError::Infeasible(
                        "the groups do not partition the table",
                    ));
                }
            }
        }
        let projected = simplex_projection(&part, sum as f64);
        for (&c, v) in cells.iter().zip(round_preserving_sum(&projected, sum)) {
            out[c] = v;
        }
    }
    if seen.iter().any(|s| !s) {
        return Err(ConsistencyError::Infeasible(
            "the groups do not partition the table",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::budget::Epsilon;
    use crate::privacy::{Confidence, CountMechanism, keyed_rng};

    fn whole(t: usize, n: usize) -> Vec<CellRef> {
        (0..n).map(|c| (t, c)).collect()
    }

    #[test]
    fn tables_of_one_population_end_up_with_one_total() {
        let tables = vec![
            Measurement {
                noisy: vec![10.0, 20.0, 31.0],
                variance: 4.0,
            },
            Measurement {
                noisy: vec![40.0, 25.0],
                variance: 1.0,
            },
        ];
        let c = weighted_least_squares(
            &tables,
            &[SumsEqual {
                left: whole(0, 3),
                right: whole(1, 2),
            }],
        )
        .expect("estimate");
        let s0: f64 = c.values[0].iter().sum();
        let s1: f64 = c.values[1].iter().sum();
        assert!((s0 - s1).abs() < 1e-9, "{s0} {s1}");
        // The total is the inverse-variance weighted mean of the two sums:
        // Var(sum 0) = 12, Var(sum 1) = 2, so T = (61/12 + 65/2) / (1/12 + 1/2).
        let expected = (61.0 / 12.0 + 65.0 / 2.0) / (1.0 / 12.0 + 1.0 / 2.0);
        assert!((s0 - expected).abs() < 1e-9, "{s0} {expected}");
        let (total, var) = c.sum(&whole(0, 3));
        assert!((total - expected).abs() < 1e-9);
        assert!((var - 1.0 / (1.0 / 12.0 + 1.0 / 2.0)).abs() < 1e-9, "{var}");
        // Every consistent cell is at least as precise as its measurement.
        for (t, m) in tables.iter().enumerate() {
            for v in &c.variances[t] {
                assert!(*v <= m.variance + 1e-12 && *v > 0.0);
            }
        }
    }

    #[test]
    fn redundant_constraints_are_dropped_and_shared_marginals_agree() {
        // Table 0: gender (2) × age (2), row-major; table 1: gender; table 2: age.
        let tables = vec![
            Measurement {
                noisy: vec![5.0, 7.0, 9.0, 4.0],
                variance: 2.0,
            },
            Measurement {
                noisy: vec![13.0, 12.0],
                variance: 2.0,
            },
            Measurement {
                noisy: vec![15.0, 12.0],
                variance: 2.0,
            },
        ];
        let constraints = vec![
            SumsEqual {
                left: vec![(0, 0), (0, 1)],
                right: vec![(1, 0)],
            },
            SumsEqual {
                left: vec![(0, 2), (0, 3)],
                right: vec![(1, 1)],
            },
            SumsEqual {
                left: vec![(0, 0), (0, 2)],
                right: vec![(2, 0)],
            },
            SumsEqual {
                left: vec![(0, 1), (0, 3)],
                right: vec![(2, 1)],
            },
            // Implied by the rows above: both totals agree.
            SumsEqual {
                left: whole(1, 2),
                right: whole(2, 2),
            },
        ];
        let c = weighted_least_squares(&tables, &constraints).expect("estimate");
        let v = &c.values;
        assert!((v[0][0] + v[0][1] - v[1][0]).abs() < 1e-9);
        assert!((v[0][2] + v[0][3] - v[1][1]).abs() < 1e-9);
        assert!((v[0][0] + v[0][2] - v[2][0]).abs() < 1e-9);
        assert!((v[0][1] + v[0][3] - v[2][1]).abs() < 1e-9);
    }

    #[test]
    fn simplex_projection_is_non_negative_with_the_sum_and_leaves_a_feasible_point() {
        let p = simplex_projection(&[-3.0, 5.0, 1.0, 0.5], 6.0);
        assert!(p.iter().all(|v| *v >= 0.0));
        assert!((p.iter().sum::<f64>() - 6.0).abs() < 1e-9);
        assert_eq!(p[0], 0.0);
        let feasible = [1.0, 2.0, 3.0];
        assert_eq!(simplex_projection(&feasible, 6.0), feasible.to_vec());
    }

    #[test]
    fn controlled_rounding_keeps_the_sum_and_moves_no_cell_by_one_or_more() {
        let values = [1.4, 2.6, 0.5, 3.5];
        let r = round_preserving_sum(&values, 8);
        assert_eq!(r.iter().sum::<i64>(), 8);
        for (v, i) in values.iter().zip(&r) {
            assert!((*i as f64 - v).abs() < 1.0, "{v} -> {i}");
        }
        assert_eq!(round_preserving_sum(&[0.0, 0.0], 0), vec![0, 0]);
        let groups = vec![vec![0, 2], vec![1, 3]];
        let out = non_negative_integers(&[-1.0, 4.2, 3.0, 0.9], &groups, &[2, 5]).expect("ok");
        assert_eq!(out[0] + out[2], 2);
        assert_eq!(out[1] + out[3], 5);
        assert!(out.iter().all(|v| *v >= 0));
        assert!(non_negative_integers(&[1.0, 1.0], &[vec![0]], &[1]).is_err());
    }

    /// Over many seeds, the 95% margin of every consistent cell, derived
    /// from its exact variance, covers the true count at least 95% of the
    /// time (within sampling error), for tables of one population measured
    /// with the service's own discrete Laplace mechanism.
    #[test]
    fn consistent_margins_cover_the_truth() {
        let truth: Vec<Vec<i64>> = vec![
            vec![120, 0, 35, 7, 64, 9, 2, 41],
            vec![200, 78],
            vec![3, 150, 90, 35],
        ];
        let eps = [0.2, 0.5, 0.3];
        let mechanisms: Vec<CountMechanism> = eps
            .iter()
            .map(|e| CountMechanism::discrete_laplace(Epsilon::from_micro((e * 1e6) as u64), 1))
            .collect::<Result<_, _>>()
            .expect("mechanisms");
        let confidence = Confidence::new(0.95).expect("confidence");
        let key = crate::privacy::NoiseKey::from_bytes(&[7u8; 32]).expect("key");
        let identity = crate::domain::DataIdentity {
            store_id: "coverage".into(),
            version: 1,
            digest: crate::domain::ContentDigest::from_bytes([3; 32]),
        };
        let constraints: Vec<SumsEqual> = (1..truth.len())
            .map(|t| SumsEqual {
                left: whole(0, truth[0].len()),
                right: whole(t, truth[t].len()),
            })
            .collect();
        let seeds = 2000;
        let (mut covered, mut total) = (0u64, 0u64);
        for seed in 0..seeds {
            let mut rng = keyed_rng(&key, "coverage", format!("{seed}").as_bytes(), &identity);
            let tables: Vec<Measurement> = truth
                .iter()
                .zip(&mechanisms)
                .map(|(t, m)| {
                    let counts: Vec<u64> = t.iter().map(|&c| c as u64).collect();
                    let noisy = m.noise_counts(&counts, &mut rng).expect("noise");
                    Measurement {
                        noisy: noisy.iter().map(|n| n.value() as f64).collect(),
                        variance: m.variance(),
                    }
                })
                .collect();
            let c = weighted_least_squares(&tables, &constraints).expect("estimate");
            for (t, m) in mechanisms.iter().enumerate() {
                for (i, &true_count) in truth[t].iter().enumerate() {
                    let margin = m
                        .scaled_margin(confidence, c.variances[t][i])
                        .expect("margin");
                    total += 1;
                    if (c.values[t][i] - true_count as f64).abs() <= margin as f64 {
                        covered += 1;
                    }
                }
            }
        }
        let rate = covered as f64 / total as f64;
        eprintln!("coverage of the consistent 95% margins: {rate:.4} over {total} cells");
        // Three standard errors below 95% for this many (dependent) draws.
        let se = (0.95 * 0.05 / f64::from(seeds)).sqrt();
        assert!(rate >= 0.95 - 3.0 * se, "coverage {rate}");
    }
}
