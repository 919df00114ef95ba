//! Complementary suppression: no suppressed figure can be computed from the
//! published ones.
//!
//! A release publishes figures tied by linear relations (a table's cells add
//! up to its total; a table's groups of cells add up to cells of another
//! table). When one cell of such a relation is suppressed and the rest are
//! published, subtraction prints it; with several relations, so can a
//! combination of them. [`protect`] suppresses further figures until no
//! suppressed one is determined by the published ones: exactly, by linear
//! algebra over all the relations together (a suppressed figure is
//! determined when its unit vector lies in the row space of the relations
//! restricted to the suppressed figures).
//!
//! Each round suppresses, for every determined figure, the smallest
//! published figure sharing a relation with it whose suppression leaves it
//! undetermined (else the smallest; a figure marked as a last resort, such
//! as a total, only when no other shares a relation with it), then looks
//! again.
//! Suppression only grows, so it ends. This is post-processing of published
//! (noisy) figures: it reads no true count and costs no budget. Bounds that
//! non-negativity gives a suppressed cell (it is at most its relation's
//! sum) are not disclosure here: they are what suppression always leaves.

/// A linear relation `Σ coefficient × figure = 0` over figure indices.
pub type Relation = Vec<(usize, f64)>;

/// Tolerance on eliminated entries; the relations' coefficients are small
/// integers, so anything this close to zero is zero.
const EPS: f64 = 1e-9;

/// The suppressed figures that the published ones determine, given the
/// `relations` between all figures.
pub fn determined(relations: &[Relation], suppressed: &[bool]) -> Vec<usize> {
    let columns: Vec<usize> = (0..suppressed.len()).filter(|&i| suppressed[i]).collect();
    let mut column_of = vec![usize::MAX; suppressed.len()];
    for (c, &i) in columns.iter().enumerate() {
        column_of[i] = c;
    }
    let mut rows: Vec<Vec<f64>> = relations
        .iter()
        .filter_map(|r| {
            let mut row = vec![0.0; columns.len()];
            let mut any = false;
            for &(i, a) in r {
                if let Some(&c) = column_of.get(i)
                    && c != usize::MAX
                {
                    row[c] += a;
                    any = true;
                }
            }
            any.then_some(row)
        })
        .collect();
    // Reduced row echelon form, with partial pivoting.
    let mut pivots: Vec<(usize, usize)> = Vec::new();
    let mut next = 0;
    for c in 0..columns.len() {
        let Some(best) = (next..rows.len())
            .filter(|&r| rows[r][c].abs() > EPS)
            .max_by(|&a, &b| rows[a][c].abs().total_cmp(&rows[b][c].abs()))
        else {
            continue;
        };
        rows.swap(next, best);
        let p = rows[next][c];
        for v in rows[next].iter_mut() {
            *v /= p;
        }
        let pivot_row = rows[next].clone();
        for (r, row) in rows.iter_mut().enumerate() {
            if r == next || row[c].abs() <= EPS {
                continue;
            }
            let f = row[c];
            for (v, pv) in row.iter_mut().zip(&pivot_row) {
                *v -= f * pv;
            }
        }
        pivots.push((next, c));
        next += 1;
        if next == rows.len() {
            break;
        }
    }
    pivots
        .into_iter()
        .filter(|&(r, c)| {
            rows[r]
                .iter()
                .enumerate()
                .all(|(j, v)| j == c || v.abs() <= EPS)
        })
        .map(|(_, c)| columns[c])
        .collect()
}

/// Suppresses further figures (`suppressed` grows) until the published ones
/// determine no suppressed one. `values` are the figures as they would be
/// published (the smallest is chosen to hide), `last_resort` marks figures
/// hidden only when nothing else shares a relation with a determined one.
pub fn protect(
    values: &[i64],
    suppressed: &mut [bool],
    last_resort: &[bool],
    relations: &[Relation],
) {
    loop {
        let exposed = determined(relations, suppressed);
        if exposed.is_empty() {
            return;
        }
        let mut hid_any = false;
        for j in exposed {
            if !determined(relations, suppressed).contains(&j) {
                // An earlier pick of this round already covered it.
                continue;
            }
            let mut partners: Vec<usize> = relations
                .iter()
                .filter(|r| r.iter().any(|&(i, a)| i == j && a != 0.0))
                .flat_map(|r| r.iter().map(|&(i, _)| i))
                .filter(|&i| !suppressed[i])
                .collect();
            partners.sort_by_key(|&i| (values[i], i));
            partners.dedup();
            let (regular, resort): (Vec<usize>, Vec<usize>) = partners
                .into_iter()
                .partition(|&i| !last_resort.get(i).copied().unwrap_or(false));
            let candidates = if regular.is_empty() { resort } else { regular };
            // The smallest partner whose suppression leaves `j` undetermined,
            // else the smallest (a later round goes on from there).
            let pick = candidates
                .iter()
                .copied()
                .find(|&i| {
                    suppressed[i] = true;
                    let still = determined(relations, suppressed).contains(&j);
                    suppressed[i] = false;
                    !still
                })
                .or_else(|| candidates.first().copied());
            if let Some(i) = pick {
                suppressed[i] = true;
                hid_any = true;
            }
        }
        if !hid_any {
            // Nothing left to hide beside what is exposed: cannot happen
            // for relations whose figures are all published or suppressed,
            // but never loop on it.
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cells 0..n and a total n: Σ cells − total = 0.
    fn table(n: usize) -> Vec<Relation> {
        let mut r: Relation = (0..n).map(|i| (i, 1.0)).collect();
        r.push((n, -1.0));
        vec![r]
    }

    #[test]
    fn one_suppressed_cell_beside_its_total_is_determined_and_gets_a_partner() {
        let values = [12, 4, 30, 46];
        let mut suppressed = [false, true, false, false];
        let relations = table(3);
        assert_eq!(determined(&relations, &suppressed), vec![1]);
        protect(
            &values,
            &mut suppressed,
            &[false, false, false, true],
            &relations,
        );
        // The smallest published cell hides with it; the total stays.
        assert_eq!(suppressed, [true, true, false, false]);
        assert!(determined(&relations, &suppressed).is_empty());
    }

    #[test]
    fn a_one_cell_table_hides_its_total_as_a_last_resort() {
        let values = [4, 4];
        let mut suppressed = [true, false];
        protect(&values, &mut suppressed, &[false, true], &table(1));
        assert_eq!(suppressed, [true, true]);
    }

    #[test]
    fn combinations_of_relations_are_caught() {
        // Two tables of one total: a (cells 0, 1) and b (cells 2, 3), total
        // 4, and a tie: cell 0 of a equals cell 2 of b. Hiding a0 alone
        // leaves it printed twice (by a's total and by the tie).
        let relations = vec![
            vec![(0, 1.0), (1, 1.0), (4, -1.0)],
            vec![(2, 1.0), (3, 1.0), (4, -1.0)],
            vec![(0, 1.0), (2, -1.0)],
        ];
        let mut suppressed = [true, false, false, false, false];
        assert_eq!(determined(&relations, &suppressed), vec![0]);
        let values = [3, 20, 3, 20, 23];
        protect(
            &values,
            &mut suppressed,
            &[false, false, false, false, true],
            &relations,
        );
        assert!(determined(&relations, &suppressed).is_empty());
        assert!(suppressed[2], "its tied cell hides too");
        assert!(!suppressed[4], "the total stays published");
        // Now a suppressed figure known only through two relations together.
        let relations = vec![
            vec![(0, 1.0), (1, 1.0), (2, -1.0)],
            vec![(1, 1.0), (3, -1.0)],
        ];
        // 0 and 1 hidden, 1 equals the published 3, so 0 = 2 − 3.
        assert_eq!(
            determined(&relations, &[true, true, false, false]),
            vec![0, 1]
        );
    }

    #[test]
    fn two_hidden_cells_of_one_relation_are_not_determined() {
        assert!(determined(&table(3), &[true, true, false, false]).is_empty());
        assert!(determined(&table(3), &[false; 4]).is_empty());
    }
}
