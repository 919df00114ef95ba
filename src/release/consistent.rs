//! Consistent tables: tables that partition one population (single-valued
//! dimensions over the same filters: a national report's tables with a total
//! row, or a researcher's workload) are estimated together, so that they add
//! up to one total, share their common marginals, and publish non-negative
//! integers. Post-processing of the tables' noisy counts: free, and no true
//! count is read.
//!
//! 1. Weighted least squares over every measured cell
//!    ([`crate::privacy::consistency`]), under the constraints: every table
//!    sums to the first one's total, and a table that shares dimensions with
//!    an earlier one (its *parent*: the earlier table sharing the most) has
//!    the same marginal over them.
//! 2. The total rounded to a whole number; then, table by table, the nearest
//!    non-negative values with the fixed sums (the total, or the parent's
//!    integer marginal), rounded keeping those sums.
//! 3. Cells below `k` suppressed; the total stays published.
//!
//! Margins come from the exact variance of the linear estimate, scaled from
//! the mechanism's own margin, plus one for the rounding; the
//! non-negativity step is not in them (it moves only cells that came out
//! negative, towards zero, and spreads the difference over the table).

use super::{CellKey, Plan};
use crate::privacy::consistency::{
    CellRef, ConsistencyError, Measurement, SumsEqual, non_negative_integers,
    weighted_least_squares,
};
use crate::privacy::{Confidence, PrivacyError};
use std::collections::BTreeMap;

/// The name of the method, as reports state it.
pub const METHOD: &str = "weighted_least_squares_with_controlled_rounding";

/// One table taking part: its plan, its cells' keys and noisy counts (in
/// the query's order).
#[derive(Clone, Copy)]
pub struct Input<'a> {
    pub plan: &'a Plan,
    pub keys: &'a [CellKey],
    pub noisy: &'a [i64],
}

/// One table made consistent.
#[derive(Debug, Clone)]
pub struct Output {
    /// `None` where the consistent value is below `k`.
    pub cells: Vec<Option<i64>>,
    pub margins: Vec<u64>,
    /// The one total every consistent table adds up to (suppressed cells
    /// included), and its margin.
    pub total: i64,
    pub total_margin: u64,
}

/// Why a report could not be made consistent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("consistent estimation: {0}")]
    Consistency(#[from] ConsistencyError),
    #[error("margins of consistent cells: {0}")]
    Margin(#[from] PrivacyError),
}

/// Per table, the earlier table it takes its marginal from and the
/// positions of the shared dimensions in (this table, the parent).
type Parent = Option<(usize, Vec<(usize, usize)>)>;

fn parents(inputs: &[Input<'_>]) -> Vec<Parent> {
    inputs
        .iter()
        .enumerate()
        .map(|(t, input)| {
            let dims = &input.plan.query.dimensions;
            (0..t)
                .map(|u| {
                    let other = &inputs[u].plan.query.dimensions;
                    let shared: Vec<(usize, usize)> = dims
                        .iter()
                        .enumerate()
                        .filter_map(|(i, d)| {
                            other
                                .iter()
                                .position(|o| o.field == d.field)
                                .map(|j| (i, j))
                        })
                        .collect();
                    (u, shared)
                })
                .filter(|(_, shared)| !shared.is_empty())
                .max_by_key(|(u, shared)| (shared.len(), std::cmp::Reverse(*u)))
        })
        .collect()
}

/// The cells of table `t` grouped by their values of the dimensions at
/// `positions`, in a stable order of the values.
fn groups(keys: &[CellKey], positions: &[usize]) -> BTreeMap<Vec<String>, Vec<usize>> {
    let mut out: BTreeMap<Vec<String>, Vec<usize>> = BTreeMap::new();
    for (c, key) in keys.iter().enumerate() {
        let values = positions
            .iter()
            .map(|&p| key.value(p).unwrap_or_default().to_owned())
            .collect();
        out.entry(values).or_default().push(c);
    }
    out
}

/// Makes `inputs` consistent (see the module documentation). Suppresses
/// below `k`; margins at each plan's confidence.
pub fn estimate(inputs: &[Input<'_>], k: u64) -> Result<Vec<Output>, Error> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let measurements: Vec<Measurement> = inputs
        .iter()
        .map(|i| Measurement {
            noisy: i.noisy.iter().map(|&v| v as f64).collect(),
            variance: i.plan.mechanism.variance(),
        })
        .collect();
    let all = |t: usize| -> Vec<CellRef> { (0..inputs[t].noisy.len()).map(|c| (t, c)).collect() };
    let parents = parents(inputs);
    let mut constraints = Vec::new();
    for t in 1..inputs.len() {
        constraints.push(SumsEqual {
            left: all(0),
            right: all(t),
        });
        if let Some((u, shared)) = &parents[t] {
            let mine: Vec<usize> = shared.iter().map(|&(i, _)| i).collect();
            let theirs: Vec<usize> = shared.iter().map(|&(_, j)| j).collect();
            let parent_groups = groups(inputs[*u].keys, &theirs);
            for (values, cells) in groups(inputs[t].keys, &mine) {
                let parent_cells = parent_groups.get(&values).cloned().unwrap_or_default();
                constraints.push(SumsEqual {
                    left: cells.iter().map(|&c| (t, c)).collect(),
                    right: parent_cells.iter().map(|&c| (*u, c)).collect(),
                });
            }
        }
    }
    let consistent = weighted_least_squares(&measurements, &constraints)?;
    let (total, total_variance) = consistent.sum(&all(0));
    let total = total.round().max(0.0) as i64;
    // One published total, one margin: from the first table's mechanism
    // (every table of a report shares the policy's noise family).
    let first = inputs[0].plan;
    let total_margin = first
        .mechanism
        .scaled_margin(Confidence::new(first.query.confidence)?, total_variance)?
        + 1;

    let mut integers: Vec<Vec<i64>> = Vec::with_capacity(inputs.len());
    for (t, input) in inputs.iter().enumerate() {
        let (cells, sums): (Vec<Vec<usize>>, Vec<i64>) = match &parents[t] {
            None => (vec![(0..input.noisy.len()).collect()], vec![total]),
            Some((u, shared)) => {
                let mine: Vec<usize> = shared.iter().map(|&(i, _)| i).collect();
                let theirs: Vec<usize> = shared.iter().map(|&(_, j)| j).collect();
                let parent_groups = groups(inputs[*u].keys, &theirs);
                groups(input.keys, &mine)
                    .into_iter()
                    .map(|(values, cells)| {
                        let sum = parent_groups
                            .get(&values)
                            .map_or(0, |pc| pc.iter().map(|&c| integers[*u][c]).sum());
                        (cells, sum)
                    })
                    .unzip()
            }
        };
        integers.push(non_negative_integers(&consistent.values[t], &cells, &sums)?);
    }

    inputs
        .iter()
        .zip(integers)
        .zip(&consistent.variances)
        .map(|((input, values), variances)| {
            let mechanism = &input.plan.mechanism;
            let confidence = Confidence::new(input.plan.query.confidence)?;
            let margins = variances
                .iter()
                .map(|&v| Ok(mechanism.scaled_margin(confidence, v)? + 1))
                .collect::<Result<Vec<u64>, PrivacyError>>()?;
            let cells: Vec<Option<i64>> = values
                .iter()
                .map(|&v| (v >= 0 && v as u64 >= k).then_some(v))
                .collect();
            Ok(Output {
                total,
                total_margin,
                cells,
                margins,
            })
        })
        .collect()
}
