//! Drawing records along a tree so that every published tree marginal is
//! reproduced exactly: the root's values are laid out by its one-way counts,
//! then, edge by edge, the records holding each parent value get the child
//! values in the numbers the edge's two-way table gives. Linear in the
//! records; deterministic given the seed. Post-processing of published
//! marginals only: no case is read here.

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use rand::seq::SliceRandom;

/// The two-way table of a tree edge: `counts[u * children + w]` records
/// have the parent's value `u` and the child's value `w`.
#[derive(Debug, Clone)]
pub struct EdgeTable {
    pub parent: usize,
    pub child: usize,
    pub counts: Vec<i64>,
}

/// Why marginals could not be drawn from (a broken invariant of the
/// consistent estimate: never expected on its output).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleError {
    #[error("a marginal has a negative cell")]
    Negative,
    #[error("a table's size does not match its attributes' domains")]
    Shape,
    #[error("an edge's parent is not placed before it, or its child is placed twice")]
    Order,
    #[error("an edge's parent sums do not match the records holding each parent value")]
    Inconsistent,
}

/// The records, one column per attribute (value positions in each
/// attribute's domain), all of the same length.
pub type Columns = Vec<Vec<u32>>;

/// Draws the records: `domains[a]` is the number of values of attribute
/// `a`, `root_counts` the one-way table of `root`, `edges` the two-way
/// tables in an order where each parent is placed before its child.
/// Every edge table and the root's table are reproduced exactly.
pub fn draw(
    domains: &[usize],
    root: usize,
    root_counts: &[i64],
    edges: &[EdgeTable],
    seed: [u8; 32],
) -> Result<Columns, SampleError> {
    let mut rng = ChaCha20Rng::from_seed(seed);
    if root >= domains.len() || root_counts.len() != domains[root] {
        return Err(SampleError::Shape);
    }
    let mut columns: Vec<Option<Vec<u32>>> = vec![None; domains.len()];
    let mut root_column = Vec::new();
    for (v, &n) in root_counts.iter().enumerate() {
        let n = usize::try_from(n).map_err(|_| SampleError::Negative)?;
        root_column.extend(std::iter::repeat_n(v as u32, n));
    }
    root_column.shuffle(&mut rng);
    let records = root_column.len();
    columns[root] = Some(root_column);
    for edge in edges {
        let (parents, children) = (
            *domains.get(edge.parent).ok_or(SampleError::Shape)?,
            *domains.get(edge.child).ok_or(SampleError::Shape)?,
        );
        if edge.counts.len() != parents * children {
            return Err(SampleError::Shape);
        }
        if columns[edge.child].is_some() {
            return Err(SampleError::Order);
        }
        let parent_column = columns[edge.parent].as_ref().ok_or(SampleError::Order)?;
        // The records of each parent value, in record order (a counting sort).
        let mut holding: Vec<Vec<usize>> = vec![Vec::new(); parents];
        for (r, &u) in parent_column.iter().enumerate() {
            holding
                .get_mut(u as usize)
                .ok_or(SampleError::Shape)?
                .push(r);
        }
        let mut child_column = vec![0u32; records];
        let mut values = Vec::new();
        for (u, rows) in holding.iter().enumerate() {
            values.clear();
            for w in 0..children {
                let n = usize::try_from(edge.counts[u * children + w])
                    .map_err(|_| SampleError::Negative)?;
                values.extend(std::iter::repeat_n(w as u32, n));
            }
            if values.len() != rows.len() {
                return Err(SampleError::Inconsistent);
            }
            values.shuffle(&mut rng);
            for (&r, &w) in rows.iter().zip(&values) {
                child_column[r] = w;
            }
        }
        columns[edge.child] = Some(child_column);
    }
    columns
        .into_iter()
        .map(|c| c.ok_or(SampleError::Order))
        .collect()
}

/// The two-way table of `columns[a] × columns[b]`, row-major (for checks).
pub fn cross_tab(columns: &Columns, domains: &[usize], a: usize, b: usize) -> Vec<i64> {
    let mut out = vec![0i64; domains[a] * domains[b]];
    for (&u, &w) in columns[a].iter().zip(&columns[b]) {
        out[u as usize * domains[b] + w as usize] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A random joint table over a chain of `domains`, and its marginals:
    /// consistent by construction, like the consistent estimate's output.
    fn marginals_of(records: &[Vec<u32>], domains: &[usize]) -> (Vec<i64>, Vec<EdgeTable>) {
        let columns: Columns = (0..domains.len())
            .map(|a| records.iter().map(|r| r[a]).collect())
            .collect();
        let mut root = vec![0i64; domains[0]];
        for &v in &columns[0] {
            root[v as usize] += 1;
        }
        let edges = (1..domains.len())
            .map(|c| EdgeTable {
                parent: c - 1,
                child: c,
                counts: cross_tab(&columns, domains, c - 1, c),
            })
            .collect();
        (root, edges)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn records_reproduce_every_tree_marginal_exactly(
            domains in proptest::collection::vec(1usize..6, 1..5),
            raw in proptest::collection::vec(proptest::collection::vec(0u32..1000, 5), 0..300),
            seed in any::<[u8; 32]>(),
        ) {
            let records: Vec<Vec<u32>> = raw
                .iter()
                .map(|r| domains.iter().enumerate().map(|(a, &d)| r[a] % d as u32).collect())
                .collect();
            let (root, edges) = marginals_of(&records, &domains);
            let drawn = draw(&domains, 0, &root, &edges, seed).expect("drawn");
            prop_assert_eq!(drawn.len(), domains.len());
            for c in &drawn {
                prop_assert_eq!(c.len(), records.len());
            }
            for e in &edges {
                prop_assert_eq!(&cross_tab(&drawn, &domains, e.parent, e.child), &e.counts);
            }
            // The same seed draws the same records.
            prop_assert_eq!(draw(&domains, 0, &root, &edges, seed).expect("drawn"), drawn);
        }
    }

    /// Prints how long a million records over a chain of four attributes
    /// take (a figure, not an assertion): `cargo test --lib
    /// synthetic::sample -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn speed_of_a_million_records() {
        let domains = [3usize, 8, 250, 24];
        let records: Vec<Vec<u32>> = (0..1_000_000u32)
            .map(|i| {
                let h = i.wrapping_mul(2_654_435_761);
                domains
                    .iter()
                    .enumerate()
                    .map(|(a, &d)| (h >> (a * 5)) % d as u32)
                    .collect()
            })
            .collect();
        let (root, edges) = marginals_of(&records, &domains);
        let start = std::time::Instant::now();
        let drawn = draw(&domains, 0, &root, &edges, [1u8; 32]).expect("drawn");
        println!(
            "drew {} records x {} attributes in {:?}",
            drawn[0].len(),
            domains.len(),
            start.elapsed()
        );
        assert_eq!(drawn[0].len(), 1_000_000);
    }

    #[test]
    fn inconsistent_or_negative_marginals_are_an_error_not_records() {
        let domains = [2, 2];
        let edge = |counts: Vec<i64>| EdgeTable {
            parent: 0,
            child: 1,
            counts,
        };
        let seed = [7u8; 32];
        assert_eq!(
            draw(&domains, 0, &[3, 1], &[edge(vec![1, 1, 1, 1])], seed),
            Err(SampleError::Inconsistent)
        );
        assert_eq!(
            draw(&domains, 0, &[2, 0], &[edge(vec![3, -1, 0, 0])], seed),
            Err(SampleError::Negative)
        );
        assert_eq!(
            draw(&domains, 0, &[2, 0], &[edge(vec![2, 0, 0])], seed),
            Err(SampleError::Shape)
        );
        assert!(
            draw(&domains, 0, &[2, 0], &[], seed).is_err(),
            "child never placed"
        );
    }
}
