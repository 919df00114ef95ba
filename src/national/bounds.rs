//! Bounds between the tables of one report that are not estimated
//! together: what is a part of a published figure is never published above
//! it.
//!
//! - A cell of a table with a multi-valued dimension (a victim may be in
//!   several of its cells) counts part of the report's victims: it is at
//!   most the report's total.
//! - A region's flow tables count part of its members' victims: on the
//!   perspective of the country of exploitation, the victims exploited in a
//!   member `m` who are members' nationals (`flow_within`'s column `m`) or
//!   outsiders (`flow_in`'s `m`) are at most `by_member`'s `m`; on the
//!   perspective of citizenship, the same for `m`'s nationals exploited in
//!   members or outside (`flow_within`'s row `m`, `flow_out`'s `m`). Unknown
//!   countries are in neither flow, so this is a bound, not an equality.
//!
//! A group of published cells above its bound is brought down to it (the
//! nearest non-negative values with the bound as their sum, rounded
//! keeping it), its cells' margins grow by how far each moved, and a cell
//! that falls below `k` is suppressed. Post-processing of noisy figures
//! only: no true count is read.

use super::TablePlan;
use crate::domain::Field;
use crate::policy::Flow;
use crate::privacy::consistency::{round_preserving_sum, simplex_projection};
use crate::release::CellKey;
use crate::release::consistent::Output;
use std::collections::BTreeMap;

/// What bounds a report's other tables.
#[derive(Debug, Default, Clone)]
pub(super) struct Bounds {
    /// The report's published total.
    total: Option<i64>,
    /// A region's victims by member, on the report's perspective, before
    /// suppression.
    members: Option<BTreeMap<String, i64>>,
}

impl Bounds {
    /// The bounds the consistent `outputs` of a report's tables (`None` for
    /// tables not estimated together) set, on `perspective`.
    pub(super) fn of(
        plans: &[&TablePlan<'_>],
        keys: &[&[CellKey]],
        outputs: &[Option<Output>],
        perspective: Field,
        region: bool,
    ) -> Bounds {
        let total = outputs.iter().flatten().find_map(|o| o.total);
        let members = region
            .then(|| {
                plans
                    .iter()
                    .zip(keys)
                    .zip(outputs)
                    .find_map(|((tp, keys), out)| {
                        let out = out.as_ref()?;
                        let [dim] = tp.plan.query.dimensions.as_slice() else {
                            return None;
                        };
                        (dim.field == perspective && tp.table.flow.is_none()).then(|| {
                            keys.iter()
                                .zip(&out.values)
                                .filter_map(|(k, &v)| Some((k.value(0)?.to_owned(), v)))
                                .collect()
                        })
                    })
            })
            .flatten();
        Bounds { total, members }
    }

    /// Brings the tables of `parts` (those not estimated with the others)
    /// within the bounds; margins grow by how far each cell moved. A
    /// region's flow tables are bounded together: for each member, the
    /// cells of all of them that count part of its victims.
    pub(super) fn apply(&self, parts: &mut [Part<'_>], perspective: Field, k: u64) {
        let mut groups: Vec<(Vec<(usize, usize)>, i64)> = Vec::new();
        let mut by_member: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
        for (t, part) in parts.iter().enumerate() {
            match (part.tp.table.flow, &self.members) {
                (Some(flow), Some(_)) if within_members(flow, perspective) => {
                    let dims = &part.tp.plan.query.dimensions;
                    let Some(p) = dims.iter().position(|d| d.field == perspective) else {
                        continue;
                    };
                    for (c, key) in part.keys.iter().enumerate() {
                        if let Some(v) = key.value(p) {
                            by_member.entry(v.to_owned()).or_default().push((t, c));
                        }
                    }
                }
                (None, _) => {
                    // Each cell on its own: a victim may be in several.
                    if let Some(total) = self.total
                        && is_multi_valued(part.tp)
                    {
                        groups.extend((0..part.cells.len()).map(|c| (vec![(t, c)], total)));
                    }
                }
                _ => {}
            }
        }
        if let Some(members) = &self.members {
            groups.extend(
                by_member
                    .into_iter()
                    .filter_map(|(m, cells)| members.get(&m).map(|&b| (cells, b))),
            );
        }
        for (group, bound) in groups {
            bound_group(parts, &group, bound.max(0), k);
        }
    }
}

/// A table of a report not estimated with the others, as published.
pub(super) struct Part<'a> {
    pub tp: &'a TablePlan<'a>,
    pub keys: &'a [CellKey],
    pub cells: &'a mut [Option<i64>],
    pub margins: &'a mut [u64],
}

/// Whether a flow table counts part of the members' victims on `perspective`.
fn within_members(flow: Flow, perspective: Field) -> bool {
    match flow {
        Flow::Within => true,
        Flow::In => perspective == Field::CountryOfExploitation,
        Flow::Out => perspective == Field::Citizenship,
        Flow::Outbound | Flow::Inbound => false,
    }
}

fn is_multi_valued(tp: &TablePlan<'_>) -> bool {
    tp.plan
        .query
        .dimensions
        .iter()
        .any(|d| d.field.kind() == crate::domain::FieldKind::Multi)
}

/// The published cells of `group` (table, cell) brought to a sum of at
/// most `bound`.
fn bound_group(parts: &mut [Part<'_>], group: &[(usize, usize)], bound: i64, k: u64) {
    let published: Vec<(usize, usize, i64)> = group
        .iter()
        .filter_map(|&(t, c)| Some((t, c, (*parts.get(t)?.cells.get(c)?)?)))
        .collect();
    let values: Vec<f64> = published.iter().map(|&(_, _, v)| v as f64).collect();
    if values.iter().sum::<f64>() <= bound as f64 {
        return;
    }
    let lowered = round_preserving_sum(&simplex_projection(&values, bound as f64), bound);
    for (&(t, c, before), v) in published.iter().zip(lowered) {
        let part = &mut parts[t];
        if let Some(m) = part.margins.get_mut(c) {
            *m = m.saturating_add(before.abs_diff(v));
        }
        part.cells[c] = (v >= 0 && v as u64 >= k).then_some(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_above_its_bound_comes_down_to_it_and_its_margins_grow() {
        let policy =
            crate::policy::parse_policy("default.toml", include_str!("../../policy/default.toml"))
                .expect("policy");
        let consumer = crate::domain::Consumer {
            id: "r".into(),
            role: crate::domain::Role::Researcher,
            country: None,
            region: None,
        };
        let table = policy.table("victims_by_year").expect("table");
        let scope = super::super::resolve_scope(
            &policy,
            &consumer,
            super::super::AreaPath::Country("USA"),
            &super::super::Params::default(),
        )
        .expect("scope");
        let tp = super::super::plan_table(&policy, &consumer, table, &scope).expect("plan");
        let keys = CellKey::all(&tp.plan.query);
        let n = keys.len();
        let (mut a, mut b) = (vec![None; n], vec![None; n]);
        (a[0], a[1], b[0], b[1]) = (Some(14), Some(30), Some(12), None);
        let (mut ma, mut mb) = (vec![20; n], vec![20; n]);
        let mut parts = vec![
            Part {
                tp: &tp,
                keys: &keys,
                cells: &mut a,
                margins: &mut ma,
            },
            Part {
                tp: &tp,
                keys: &keys,
                cells: &mut b,
                margins: &mut mb,
            },
        ];
        // One group across two tables: 14 + 30 + 12 = 56 above 40.
        bound_group(&mut parts, &[(0, 0), (0, 1), (1, 0), (1, 1)], 40, 10);
        let published: i64 = [a[0], a[1], b[0]].iter().flatten().sum();
        assert!(published <= 40, "{a:?} {b:?}");
        assert_eq!(b[1], None, "a suppressed cell stays suppressed");
        for (after, before, m) in [(a[0], 14i64, ma[0]), (a[1], 30, ma[1]), (b[0], 12, mb[0])] {
            match after {
                Some(after) => assert!(m >= 20 + before.abs_diff(after), "{m}"),
                None => assert!(m > 20, "a lowered cell's margin grows: {m}"),
            }
        }
        // Within its bound: untouched; a bound below k: suppressed.
        let mut c = vec![Some(5); n];
        let mut mc = vec![3; n];
        let mut parts = vec![Part {
            tp: &tp,
            keys: &keys,
            cells: &mut c,
            margins: &mut mc,
        }];
        bound_group(&mut parts, &[(0, 0), (0, 1)], 11, 0);
        bound_group(&mut parts, &[(0, 2)], 3, 4);
        assert_eq!((c[0], c[1], mc[0]), (Some(5), Some(5), 3));
        assert_eq!(c[2], None);
    }
}
