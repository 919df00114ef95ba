//! Consistent tables: tables that partition one population (single-valued
//! dimensions over the same filters: a national report's tables with a total
//! row, or a researcher's workload) are estimated together, so that they add
//! up to one total, share their common marginals, and publish non-negative
//! integers. Post-processing of the tables' noisy counts: free, and no true
//! count is read.
//!
//! 1. Weighted least squares over every measured cell
//!    ([`crate::privacy::consistency`]), under the constraints: every table
//!    sums to the first one's total, and a table tied to an earlier one (its
//!    *parent*) has the parent's sums over each of its groups of cells. The
//!    parent is the earlier table sharing the most dimensions (the groups
//!    are the shared values), or, for the derived `is_internal` dimension,
//!    the table of the other country field: on a country's figures,
//!    `internal` is the citizenship (or country of exploitation) of that
//!    country, `unknown` the unknown one, `international` every other.
//! 2. The total rounded to a whole number; then, table by table, the nearest
//!    non-negative values with the fixed sums (the total, or the parent's
//!    integer sums), rounded keeping those sums.
//! 3. Cells below `k` suppressed (the total too, if it is below `k`), then
//!    complementary cells: within the relations above, no suppressed figure
//!    can be computed from the published ones
//!    ([`crate::privacy::complement`]).
//!
//! Margins cover the published integers, not an intermediate value: each
//! cell's margin is the margin of its linear estimate (from its exact
//! variance, scaled from the mechanism's own margin) plus the distance the
//! non-negativity step and the rounding moved it. Whatever those steps do
//! to a cell (in a sparse table they lower every positive cell a little),
//! the published cell is within its margin of the truth whenever the linear
//! estimate is within its own.

use super::{CellKey, Plan};
use crate::privacy::complement::{Relation, protect};
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
    /// `None` where the consistent value is below `k`, or where it is
    /// suppressed so that no suppressed value can be computed from the
    /// published ones (complementary suppression).
    pub cells: Vec<Option<i64>>,
    pub margins: Vec<u64>,
    /// The consistent integers before suppression (never published: other
    /// tables are bounded by them, such as a region's flows by its members).
    pub values: Vec<i64>,
    /// The linear (weighted least squares) estimates the integers were made
    /// from: for measuring what post-processing does, never published.
    pub estimates: Vec<f64>,
    /// The one total every consistent table adds up to (suppressed cells
    /// included), and its margin; `None` when it is withheld (below `k`, or
    /// the only figure left that would print a suppressed one).
    pub total: Option<i64>,
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

/// Per table, the earlier table its cells are tied to, as pairs of cell
/// groups (this table's cells, the parent's cells) whose sums are equal;
/// together this table's groups cover each of its cells once.
type Parent = Option<(usize, Vec<(Vec<usize>, Vec<usize>)>)>;

fn parents(inputs: &[Input<'_>]) -> Vec<Parent> {
    (0..inputs.len())
        .map(|t| internal_parent(inputs, t).or_else(|| shared_parent(inputs, t)))
        .collect()
}

/// The earlier table sharing the most dimensions with table `t`: its
/// groups are the cells of each combination of the shared values.
fn shared_parent(inputs: &[Input<'_>], t: usize) -> Parent {
    let dims = &inputs[t].plan.query.dimensions;
    let (u, shared) = (0..t)
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
        .max_by_key(|(u, shared)| (shared.len(), std::cmp::Reverse(*u)))?;
    let mine: Vec<usize> = shared.iter().map(|&(i, _)| i).collect();
    let theirs: Vec<usize> = shared.iter().map(|&(_, j)| j).collect();
    let mut parent_groups = groups(inputs[u].keys, &theirs);
    let pairs = groups(inputs[t].keys, &mine)
        .into_iter()
        .map(|(values, cells)| (cells, parent_groups.remove(&values).unwrap_or_default()))
        .collect();
    Some((u, pairs))
}

/// For a table of the derived `is_internal` dimension alone, the earlier
/// table of the other country field over the same population (the same
/// filters, the perspective's field among them): `unknown` is its unknown
/// country; on one country's figures `internal` is that country and
/// `international` every other; on a region's, `internal` and
/// `international` together are its known countries.
fn internal_parent(inputs: &[Input<'_>], t: usize) -> Parent {
    use crate::domain::Field;
    use crate::domain::case::Internal;
    use crate::domain::country::UNKNOWN_CODE;
    let query = &inputs[t].plan.query;
    let [dim] = query.dimensions.as_slice() else {
        return None;
    };
    // All three values, or the groups below would not be this table's.
    if dim.field != Field::IsInternal || dim.codes.len() != 3 {
        return None;
    }
    let same_filters = |u: usize| {
        let other = &inputs[u].plan.query.filters;
        other.len() == query.filters.len()
            && other
                .iter()
                .zip(&query.filters)
                .all(|(a, b)| a.field == b.field && a.codes == b.codes)
    };
    let (u, area) = (0..t).find_map(|u| {
        let [parent_dim] = inputs[u].plan.query.dimensions.as_slice() else {
            return None;
        };
        let area_field = match parent_dim.field {
            Field::Citizenship => Field::CountryOfExploitation,
            Field::CountryOfExploitation => Field::Citizenship,
            _ => return None,
        };
        let area = query.filters.iter().find(|f| f.field == area_field)?;
        same_filters(u).then_some((u, area))
    })?;
    let one_country = match area.values.as_slice() {
        [code] => Some(code.as_str()),
        _ => None,
    };
    let cells_of = |keys: &[CellKey], pick: &dyn Fn(&str) -> bool| -> Vec<usize> {
        keys.iter()
            .enumerate()
            .filter(|(_, k)| k.value(0).is_some_and(pick))
            .map(|(c, _)| c)
            .collect()
    };
    let child = inputs[t].keys;
    let parent = inputs[u].keys;
    let (internal, international, unknown) = (
        Internal::Internal.code(),
        Internal::International.code(),
        Internal::Unknown.code(),
    );
    let mut pairs = vec![(
        cells_of(child, &|v| v == unknown),
        cells_of(parent, &|v| v == UNKNOWN_CODE),
    )];
    match one_country {
        Some(country) => {
            pairs.push((
                cells_of(child, &|v| v == internal),
                cells_of(parent, &|v| v == country),
            ));
            pairs.push((
                cells_of(child, &|v| v == international),
                cells_of(parent, &|v| v != country && v != UNKNOWN_CODE),
            ));
        }
        None => pairs.push((
            cells_of(child, &|v| v == internal || v == international),
            cells_of(parent, &|v| v != UNKNOWN_CODE),
        )),
    }
    // Every cell of the child in exactly one group, or no tie at all.
    let covered: usize = pairs.iter().map(|(c, _)| c.len()).sum();
    (covered == child.len()).then_some((u, pairs))
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
    for (t, parent) in parents.iter().enumerate().skip(1) {
        constraints.push(SumsEqual {
            left: all(0),
            right: all(t),
        });
        if let Some((u, pairs)) = parent {
            for (cells, parent_cells) in pairs {
                constraints.push(SumsEqual {
                    left: cells.iter().map(|&c| (t, c)).collect(),
                    right: parent_cells.iter().map(|&c| (*u, c)).collect(),
                });
            }
        }
    }
    let consistent = weighted_least_squares(&measurements, &constraints)?;
    let (total, total_variance) = consistent.sum(&all(0));
    let total_estimate = total;
    let total = total.round().max(0.0) as i64;
    // One published total, one margin: from the first table's mechanism
    // (every table of a report shares the policy's noise family).
    let first = inputs[0].plan;
    let total_margin = first
        .mechanism
        .scaled_margin(Confidence::new(first.query.confidence)?, total_variance)?
        + moved(total as f64, total_estimate);

    let mut integers: Vec<Vec<i64>> = Vec::with_capacity(inputs.len());
    for (t, input) in inputs.iter().enumerate() {
        let (cells, sums): (Vec<Vec<usize>>, Vec<i64>) = match &parents[t] {
            None => (vec![(0..input.noisy.len()).collect()], vec![total]),
            Some((u, pairs)) => pairs
                .iter()
                .map(|(cells, parent_cells)| {
                    let sum: i64 = parent_cells.iter().map(|&c| integers[*u][c]).sum();
                    (cells.clone(), sum)
                })
                .unzip(),
        };
        integers.push(non_negative_integers(&consistent.values[t], &cells, &sums)?);
    }

    inputs
        .iter()
        .zip(integers)
        .zip(consistent.values.iter().zip(&consistent.variances))
        .map(|((input, published), (estimates, variances))| {
            let mechanism = &input.plan.mechanism;
            let confidence = Confidence::new(input.plan.query.confidence)?;
            let margins = variances
                .iter()
                .zip(estimates)
                .zip(&published)
                .map(|((&v, &estimate), &p)| {
                    Ok(mechanism.scaled_margin(confidence, v)? + moved(p as f64, estimate))
                })
                .collect::<Result<Vec<u64>, PrivacyError>>()?;
            Ok(Output {
                total: Some(total),
                total_margin,
                cells: published.iter().copied().map(Some).collect(),
                values: published,
                estimates: estimates.clone(),
                margins,
            })
        })
        .collect::<Result<Vec<Output>, Error>>()
        .map(|outputs| suppress(outputs, &parents, k))
}

/// Suppresses every cell below `k`, the total if it is below `k`, and then
/// complementary cells until no suppressed figure is determined by the
/// published ones ([`crate::privacy::complement`]): the relations are each
/// table adding up to the total and each tie to a parent.
fn suppress(mut outputs: Vec<Output>, parents: &[Parent], k: u64) -> Vec<Output> {
    let mut offsets = Vec::with_capacity(outputs.len());
    let mut values: Vec<i64> = Vec::new();
    for o in &outputs {
        offsets.push(values.len());
        values.extend(o.cells.iter().map(|c| c.unwrap_or(0)));
    }
    let total_at = values.len();
    let total = outputs.first().and_then(|o| o.total).unwrap_or(0);
    values.push(total);
    let mut relations: Vec<Relation> = Vec::new();
    for (t, o) in outputs.iter().enumerate() {
        let mut r: Relation = (0..o.cells.len()).map(|c| (offsets[t] + c, 1.0)).collect();
        r.push((total_at, -1.0));
        relations.push(r);
        if let Some((u, pairs)) = &parents[t] {
            for (cells, parent_cells) in pairs {
                let mut r: Relation = cells.iter().map(|&c| (offsets[t] + c, 1.0)).collect();
                r.extend(parent_cells.iter().map(|&c| (offsets[*u] + c, -1.0)));
                relations.push(r);
            }
        }
    }
    let below = |v: i64| v < 0 || (v as u64) < k;
    let mut suppressed: Vec<bool> = values.iter().map(|&v| below(v)).collect();
    let mut last_resort = vec![false; values.len()];
    last_resort[total_at] = true;
    protect(&values, &mut suppressed, &last_resort, &relations);
    let total_hidden = suppressed[total_at];
    for (t, o) in outputs.iter_mut().enumerate() {
        for (c, cell) in o.cells.iter_mut().enumerate() {
            if suppressed[offsets[t] + c] {
                *cell = None;
            }
        }
        if total_hidden {
            o.total = None;
        }
    }
    outputs
}

/// How far post-processing moved a published integer from its linear
/// estimate, in whole units (rounded up, so the margin stays an upper bound).
fn moved(published: f64, estimate: f64) -> u64 {
    let d = (published - estimate).abs();
    if d.is_finite() {
        // A hair of slack for floating point on exact integers.
        (d - 1e-9).max(0.0).ceil() as u64
    } else {
        u64::MAX / 2
    }
}
