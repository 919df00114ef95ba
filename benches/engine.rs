//! Criterion benchmarks of the in-memory count engine: 1-, 2- and 3-dimension
//! groupings with and without filters over 100k and 1M synthetic cases
//! (10M with `CTM_BENCH_10M=1`).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ctm_stats::domain::{Country, Field};
use ctm_stats::engine::{Filter, GroupBy, Snapshot, SnapshotBuilder};
use std::hint::black_box;

fn snapshot(n: usize) -> Snapshot {
    // Synthetic cases arrive in generation order; bounding keeps consecutive
    // duplicates only, which is enough for timing.
    let mut b = SnapshotBuilder::new(
        1,
        &[
            (Field::TypeOfExploitation, 2),
            (Field::AssistanceReceived, 3),
        ],
    );
    ctm_stats::synth::generate(n, 11, Default::default(), |c| b.push(&c));
    b.finish("bench-store", 1)
}

/// The benchmark queries: (name, grouping, filters).
pub fn queries() -> Vec<(&'static str, Vec<GroupBy>, Vec<Filter>)> {
    let all = |f: Field| (0..f.cardinality() as u16).collect::<Vec<_>>();
    let years: Vec<u16> = (2..=25).collect();
    let usa = u16::from(Country::parse_alpha3("USA").map(|c| c.index()).unwrap_or(0));
    let g1 = vec![GroupBy {
        field: Field::Gender,
        values: all(Field::Gender),
    }];
    let g2 = vec![
        g1[0].clone(),
        GroupBy {
            field: Field::AgeBroad,
            values: all(Field::AgeBroad),
        },
    ];
    let g3 = vec![
        g2[0].clone(),
        g2[1].clone(),
        GroupBy {
            field: Field::RegistrationYear,
            values: years.clone(),
        },
    ];
    let g3m = vec![
        g2[0].clone(),
        g2[1].clone(),
        GroupBy {
            field: Field::TypeOfExploitation,
            values: all(Field::TypeOfExploitation),
        },
    ];
    let filter = vec![
        Filter {
            field: Field::CountryOfExploitation,
            allowed: vec![usa],
        },
        Filter {
            field: Field::RegistrationYear,
            allowed: (15..=20).collect(),
        },
    ];
    vec![
        ("1d", g1.clone(), vec![]),
        ("1d+filter", g1, filter.clone()),
        ("2d", g2.clone(), vec![]),
        ("2d+filter", g2, filter.clone()),
        ("3d", g3.clone(), vec![]),
        ("3d+filter", g3, filter.clone()),
        ("3d-multi+filter", g3m, filter),
    ]
}

fn bench(c: &mut Criterion) {
    let mut sizes = vec![100_000, 1_000_000];
    if std::env::var("CTM_BENCH_10M").is_ok_and(|v| v == "1") {
        sizes.push(10_000_000);
    }
    for n in sizes {
        let snap = snapshot(n);
        println!(
            "snapshot of {n} cases: {:.1} bytes per case",
            snap.memory_bytes() as f64 / snap.len() as f64
        );
        let mut group = c.benchmark_group(format!("count/{n}"));
        for (name, g, f) in queries() {
            group.bench_with_input(BenchmarkId::from_parameter(name), &(g, f), |b, (g, f)| {
                b.iter(|| black_box(snap.count(g, f).map(|v| v.len())));
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
