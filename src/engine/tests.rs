//! The engine against a naive row-by-row reference on random queries.

use super::*;
use crate::domain::case::YEAR_MIN;
use proptest::prelude::*;

fn snapshot_of(cases: &[Case], caps: &[(Field, u64)]) -> Snapshot {
    let mut sorted = cases.to_vec();
    sorted.sort_by(|a, b| {
        (&a.person_key, a.registration_year, &a.case_id).cmp(&(
            &b.person_key,
            b.registration_year,
            &b.case_id,
        ))
    });
    let mut b = SnapshotBuilder::new(1, caps);
    for c in &sorted {
        b.push(c);
    }
    b.finish("test-store", 7)
}

/// Row-by-row reference: bounding to the earliest case per person, then counting.
fn reference(cases: &[Case], group: &[GroupBy], filters: &[Filter]) -> Vec<u64> {
    let mut sorted = cases.to_vec();
    sorted.sort_by(|a, b| {
        (&a.person_key, a.registration_year, &a.case_id).cmp(&(
            &b.person_key,
            b.registration_year,
            &b.case_id,
        ))
    });
    sorted.dedup_by(|b, a| a.person_key == b.person_key);
    let cells: usize = group.iter().map(|g| g.values.len()).product();
    let mut out = vec![0u64; cells];
    'case: for c in &sorted {
        for f in filters {
            let ok = match f.field.kind() {
                FieldKind::Single => c
                    .single_code(f.field)
                    .is_some_and(|v| f.allowed.contains(&v)),
                FieldKind::Multi => c.flags(f.field).is_some_and(|fl| {
                    fl.known && f.allowed.iter().any(|&b| fl.has(usize::from(b)))
                }),
            };
            if !ok {
                continue 'case;
            }
        }
        // Every combination of positions the case falls in.
        let mut combos: Vec<usize> = vec![0];
        for g in group {
            let positions: Vec<usize> = match g.field.kind() {
                FieldKind::Single => {
                    let v = c.single_code(g.field).unwrap_or(u16::MAX);
                    g.values.iter().position(|&x| x == v).into_iter().collect()
                }
                FieldKind::Multi => {
                    let fl = c.flags(g.field).unwrap_or_default();
                    if !fl.known {
                        vec![]
                    } else {
                        g.values
                            .iter()
                            .enumerate()
                            .filter(|(_, b)| fl.has(usize::from(**b)))
                            .map(|(p, _)| p)
                            .collect()
                    }
                }
            };
            combos = combos
                .iter()
                .flat_map(|&c| positions.iter().map(move |&p| c * g.values.len() + p))
                .collect();
        }
        for i in combos {
            out[i] += 1;
        }
    }
    out
}

fn arb_field() -> impl Strategy<Value = Field> {
    prop::sample::select(Field::ALL.to_vec())
}

fn arb_values(field: Field) -> impl Strategy<Value = Vec<u16>> {
    let n = field.cardinality() as u16;
    let n = if field == Field::RegistrationYear {
        30
    } else {
        n
    };
    prop::collection::btree_set(0..n, 1..=(n as usize).min(12))
        .prop_map(|s| s.into_iter().collect())
}

fn arb_group() -> impl Strategy<Value = Vec<GroupBy>> {
    prop::collection::vec(
        arb_field()
            .prop_flat_map(|f| arb_values(f).prop_map(move |values| GroupBy { field: f, values })),
        1..=3,
    )
    .prop_filter("distinct fields", |g| {
        let mut fs: Vec<_> = g.iter().map(|x| x.field).collect();
        fs.sort_by_key(|f| f.index());
        fs.dedup();
        fs.len() == g.len()
    })
}

fn arb_filters() -> impl Strategy<Value = Vec<Filter>> {
    prop::collection::vec(
        arb_field()
            .prop_flat_map(|f| arb_values(f).prop_map(move |allowed| Filter { field: f, allowed })),
        0..=2,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn engine_counts_equal_the_row_by_row_reference(group in arb_group(), filters in arb_filters(), seed in 0u64..4) {
        let cases = crate::synth::generate_vec(3000, seed);
        let snap = snapshot_of(&cases, &[]);
        prop_assert_eq!(snap.count(&group, &filters).expect("count"), reference(&cases, &group, &filters));
    }
}

#[test]
fn contribution_bounding_keeps_the_earliest_case_of_each_person() {
    let mut cases = crate::synth::generate_vec(3, 1);
    for c in &mut cases {
        c.person_key = "same".into();
    }
    cases[0].registration_year = 2010;
    cases[1].registration_year = 2005;
    cases[2].registration_year = 2012;
    let snap = snapshot_of(&cases, &[]);
    assert_eq!(snap.len(), 1);
    let years = GroupBy {
        field: Field::RegistrationYear,
        values: (0..30).collect(),
    };
    let counts = snap.count(&[years], &[]).expect("count");
    assert_eq!(counts[usize::from(2005 - YEAR_MIN)], 1);
    assert_eq!(counts.iter().sum::<u64>(), 1);
}

#[test]
fn multi_valued_caps_keep_the_first_values() {
    let mut cases = crate::synth::generate_vec(1, 1);
    cases[0].type_of_exploitation = crate::domain::FlagSet::known(0b1011);
    let snap = snapshot_of(&cases, &[(Field::TypeOfExploitation, 2)]);
    let g = GroupBy {
        field: Field::TypeOfExploitation,
        values: (0..7).collect(),
    };
    assert_eq!(
        snap.count(&[g], &[]).expect("count"),
        vec![1, 1, 0, 0, 0, 0, 0]
    );
}

#[test]
fn large_snapshots_count_the_same_on_several_threads() {
    let cases = crate::synth::generate_vec(PARALLEL_MIN + 1000, 9);
    let snap = snapshot_of(&cases, &[]);
    let g = [GroupBy {
        field: Field::Gender,
        values: vec![0, 1, 2, 3],
    }];
    let counts = snap.count(&g, &[]).expect("count");
    assert_eq!(counts, reference(&cases, &g, &[]));
    assert!(snap.memory_bytes() <= 40 * snap.len());
}

/// A snapshot of many zones, built once for the zone-pruning properties.
fn many_zones() -> &'static (Vec<Case>, Snapshot) {
    static CELL: std::sync::OnceLock<(Vec<Case>, Snapshot)> = std::sync::OnceLock::new();
    CELL.get_or_init(|| {
        let cases = crate::synth::generate_vec(40 * ZONE, 11);
        let snap = snapshot_of(&cases, &[]);
        (cases, snap)
    })
}

/// Filters the way national and researcher queries do: a few countries of
/// exploitation or citizenships, a year range, a multi-valued value.
fn arb_national_filters() -> impl Strategy<Value = Vec<Filter>> {
    let countries = prop::collection::btree_set(
        0u16..Field::CountryOfExploitation.cardinality() as u16,
        1..=3,
    );
    let citizenships =
        prop::collection::btree_set(0u16..Field::Citizenship.cardinality() as u16, 1..=3);
    let years =
        (0u16..30, 0u16..8).prop_map(|(from, n)| (from..=(from + n).min(29)).collect::<Vec<_>>());
    (
        prop::option::of(countries),
        prop::option::of(citizenships),
        prop::option::of(years),
        prop::option::of(prop::collection::btree_set(0u16..6, 1..=2)),
    )
        .prop_map(|(co, ci, y, t)| {
            let mut f = Vec::new();
            if let Some(v) = co {
                f.push(Filter {
                    field: Field::CountryOfExploitation,
                    allowed: v.into_iter().collect(),
                });
            }
            if let Some(v) = ci {
                f.push(Filter {
                    field: Field::Citizenship,
                    allowed: v.into_iter().collect(),
                });
            }
            if let Some(v) = y {
                f.push(Filter {
                    field: Field::RegistrationYear,
                    allowed: v,
                });
            }
            if let Some(v) = t {
                f.push(Filter {
                    field: Field::TypeOfExploitation,
                    allowed: v.into_iter().collect(),
                });
            }
            f
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn zone_pruning_never_changes_a_count(group in arb_group(), filters in arb_national_filters()) {
        let (cases, snap) = many_zones();
        prop_assert_eq!(snap.count(&group, &filters).expect("count"), reference(cases, &group, &filters));
    }
}

#[test]
fn a_country_filter_reads_only_that_countrys_zones() {
    let (_, snap) = many_zones();
    let everything = snap
        .plan(
            &[GroupBy {
                field: Field::Gender,
                values: vec![0, 1],
            }],
            &[],
        )
        .expect("plan");
    let rows = |r: &[Range<usize>]| r.iter().map(ExactSizeIterator::len).sum::<usize>();
    assert_eq!(rows(&everything.live_ranges(snap.len())), snap.len());
    let one_country = [Filter {
        field: Field::CountryOfExploitation,
        allowed: vec![7],
    }];
    let plan = snap
        .plan(
            &[GroupBy {
                field: Field::Gender,
                values: vec![0, 1],
            }],
            &one_country,
        )
        .expect("plan");
    let read = rows(&plan.live_ranges(snap.len()));
    assert!(
        read <= snap.len() / 4,
        "a one-country filter read {read} of {} rows",
        snap.len()
    );
}

#[test]
fn rows_are_split_into_parts_of_equal_size() {
    let parts = split_rows(&[0..10, 20..25, 30..31], 6);
    assert_eq!(
        parts,
        vec![vec![0..6], vec![6..10, 20..22], vec![22..25, 30..31]]
    );
    assert!(split_rows(&[], 6).is_empty());
}

#[test]
fn byte_histograms_count_as_visiting_each_value() {
    let (cases, snap) = many_zones();
    let all = |f: Field| (0..f.cardinality() as u16).collect::<Vec<_>>();
    let widest = [
        Field::TypeOfExploitation,
        Field::TypeOfLabour,
        Field::MeansOfControl,
        Field::RecruiterRelation,
        Field::AssistanceReceived,
    ]
    .into_iter()
    .max_by_key(|f| f.cardinality())
    .expect("a multi-valued field");
    // Values from both bytes of the column, in an order other than the bits'.
    assert!(
        widest.cardinality() > 8,
        "no multi-valued field reaches the high byte"
    );
    let mut high_and_low = all(widest);
    high_and_low.reverse();
    high_and_low.retain(|v| v % 3 != 1);
    let groupings = [
        vec![GroupBy {
            field: Field::TypeOfExploitation,
            values: all(Field::TypeOfExploitation),
        }],
        vec![
            GroupBy {
                field: Field::Gender,
                values: vec![0, 1, 2],
            },
            GroupBy {
                field: widest,
                values: high_and_low,
            },
        ],
        vec![
            GroupBy {
                field: Field::AssistanceReceived,
                values: all(Field::AssistanceReceived),
            },
            GroupBy {
                field: Field::AgeBroad,
                values: vec![0, 1],
            },
        ],
    ];
    let filters = [Filter {
        field: Field::RegistrationYear,
        allowed: (10..20).collect(),
    }];
    for group in &groupings {
        for f in [&filters[..], &[]] {
            let mut plan = snap.plan(group, f).expect("plan");
            let ranges = plan.live_ranges(snap.len());
            let mut visited = vec![0u64; plan.cells + 1];
            plan.run(&ranges, &mut visited);
            plan.byte_histograms = true;
            let mut histograms = vec![0u64; plan.cells + 1];
            plan.run(&ranges, &mut histograms);
            visited.truncate(plan.cells);
            histograms.truncate(plan.cells);
            assert_eq!(histograms, visited, "{group:?}");
            assert_eq!(histograms, reference(cases, group, f), "{group:?}");
        }
    }
}
