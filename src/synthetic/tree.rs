//! The tree of attribute pairs a synthetic data set is drawn along: the
//! default chain in the order the attributes are given, or the edges a
//! request names, checked to be a spanning tree and oriented from the first
//! attribute (the root) in breadth-first order, so every edge's parent is
//! placed before its child.

/// A spanning tree over attributes `0..n`, rooted at attribute 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// `(parent, child)` in breadth-first order from the root.
    pub edges: Vec<(usize, usize)>,
    /// The attributes in the order they are placed: the root, then each
    /// edge's child.
    pub order: Vec<usize>,
}

/// Why the edges given are not a spanning tree (the message names them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotATree(pub String);

impl Tree {
    /// The chain `0 - 1 - ... - n-1`: the default, each attribute tied to
    /// the one named before it.
    pub fn chain(n: usize) -> Tree {
        Tree::from_edges(n, &(1..n).map(|i| (i - 1, i)).collect::<Vec<_>>()).unwrap_or(Tree {
            edges: Vec::new(),
            order: (0..n).collect(),
        })
    }

    /// The tree of the undirected `edges` over `n` attributes: exactly
    /// `n - 1` distinct edges, no loop, every attribute reached from the
    /// first.
    pub fn from_edges(n: usize, edges: &[(usize, usize)]) -> Result<Tree, NotATree> {
        if edges.len() + 1 != n {
            return Err(NotATree(format!(
                "a tree over {n} attributes has {} edges; {} were given",
                n.saturating_sub(1),
                edges.len()
            )));
        }
        let mut adjacent: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &(a, b) in edges {
            if a >= n || b >= n {
                return Err(NotATree("an edge names an attribute not requested".into()));
            }
            if a == b {
                return Err(NotATree("an edge joins an attribute to itself".into()));
            }
            if adjacent[a].contains(&b) {
                return Err(NotATree("an edge is given twice".into()));
            }
            adjacent[a].push(b);
            adjacent[b].push(a);
        }
        let mut placed = vec![false; n];
        let mut order = Vec::with_capacity(n);
        let mut out = Vec::with_capacity(edges.len());
        if n > 0 {
            placed[0] = true;
            order.push(0);
        }
        let mut next = 0;
        while next < order.len() {
            let parent = order[next];
            next += 1;
            for &child in &adjacent[parent] {
                if !placed[child] {
                    placed[child] = true;
                    order.push(child);
                    out.push((parent, child));
                }
            }
        }
        if order.len() != n {
            return Err(NotATree(
                "the edges do not connect every attribute (they close a cycle)".into(),
            ));
        }
        Ok(Tree { edges: out, order })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_chain_ties_each_attribute_to_the_one_before() {
        let t = Tree::chain(4);
        assert_eq!(t.edges, vec![(0, 1), (1, 2), (2, 3)]);
        assert_eq!(t.order, vec![0, 1, 2, 3]);
        assert_eq!(Tree::chain(1).edges, vec![]);
    }

    #[test]
    fn a_star_is_oriented_from_the_first_attribute() {
        let t = Tree::from_edges(4, &[(2, 0), (0, 3), (1, 3)]).expect("a tree");
        assert_eq!(t.edges, vec![(0, 2), (0, 3), (3, 1)]);
        assert_eq!(t.order, vec![0, 2, 3, 1]);
    }

    #[test]
    fn cycles_loops_repeats_and_wrong_counts_are_not_trees() {
        assert!(Tree::from_edges(3, &[(0, 1), (1, 0)]).is_err());
        assert!(Tree::from_edges(4, &[(0, 1), (1, 2), (2, 0)]).is_err());
        assert!(Tree::from_edges(2, &[(1, 1)]).is_err());
        assert!(Tree::from_edges(3, &[(0, 1)]).is_err());
        assert!(Tree::from_edges(2, &[(0, 5)]).is_err());
    }
}
