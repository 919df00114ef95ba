//! The engine against SQL `GROUP BY` on the same store, for many random queries
//! (property-based), on SQLite and PostgreSQL.

use crate::helpers::*;
use ctm_stats::domain::{Field, FieldKind};
use ctm_stats::engine::{Filter, GroupBy, SnapshotBuilder};
use ctm_stats::store::Store;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn arb_values(field: Field) -> impl Strategy<Value = Vec<u16>> {
    let n = match field {
        // Years the generator uses, plus a few it does not.
        Field::RegistrationYear => 26,
        Field::Citizenship | Field::CountryOfExploitation => 250,
        f => f.cardinality() as u16,
    };
    prop::collection::btree_set(0..n, 1..=(n as usize).min(8)).prop_map(|s| s.into_iter().collect())
}

fn arb_query() -> impl Strategy<Value = (Vec<GroupBy>, Vec<Filter>)> {
    let field = || prop::sample::select(Field::ALL.to_vec());
    let group = prop::collection::vec(
        field()
            .prop_flat_map(|f| arb_values(f).prop_map(move |values| GroupBy { field: f, values })),
        1..=3,
    )
    .prop_filter("distinct fields", |g| {
        let mut fs: Vec<u8> = g.iter().map(|x| x.field.index()).collect();
        fs.sort_unstable();
        fs.dedup();
        fs.len() == g.len()
    });
    let filters = prop::collection::vec(
        field()
            .prop_flat_map(|f| arb_values(f).prop_map(move |allowed| Filter { field: f, allowed })),
        0..=2,
    )
    .prop_filter("one filter per field", |fs| {
        let mut v: Vec<u8> = fs.iter().map(|x| x.field.index()).collect();
        v.sort_unstable();
        v.dedup();
        v.len() == fs.len()
    });
    (group, filters).prop_map(|(mut g, f)| {
        // Years are offsets from 2000: shift into the generated range.
        for x in &mut g {
            if x.field == Field::RegistrationYear {
                x.values = x.values.iter().map(|v| v + 1).collect();
            }
        }
        (g, f)
    })
}

fn engine_matches_sql(backend: Backend) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let Some(url) = rt.block_on(fresh_database(backend, dir.path())) else {
        return;
    };
    let store: Store = rt.block_on(async {
        let store = Store::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        store
            .add_cases(&ctm_stats::synth::generate_vec(4000, 5), false, |_| {})
            .await
            .expect("seed");
        store
    });
    // Bounding to one case per person, no cap on multi-valued groups: the SQL reference does the same.
    let b = SnapshotBuilder::new(1, &[]);
    let (state, b) = rt
        .block_on(store.load_cases(b, |b, c| b.push(&c)))
        .expect("load");
    let snap = b.finish(&state.store_id, state.version);
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&arb_query(), |(group, filters)| {
            let engine = snap.count(&group, &filters).expect("engine");
            let sql = rt
                .block_on(store.count_with_sql(&group, &filters, Some(1)))
                .expect("sql");
            prop_assert_eq!(engine, sql);
            Ok(())
        })
        .expect("engine and SQL agree");
    // A sanity check that queries are not trivially empty.
    let all = snap
        .count(
            &[GroupBy {
                field: Field::Gender,
                values: vec![0, 1, 2, 3],
            }],
            &[],
        )
        .expect("count");
    assert!(all.iter().sum::<u64>() > 3000);
    let g = [GroupBy {
        field: Field::TypeOfExploitation,
        values: (0..7).collect(),
    }];
    let f = [Filter {
        field: Field::CountryOfExploitation,
        allowed: vec![u16::from(
            ctm_stats::domain::Country::parse_alpha3("USA")
                .expect("USA")
                .index(),
        )],
    }];
    let sql = rt
        .block_on(store.count_with_sql(&g, &f, Some(1)))
        .expect("sql");
    assert!(
        sql[0] > 100 && sql[1] > 100,
        "the reference sees real data: {sql:?}"
    );
    assert_eq!(snap.count(&g, &f).expect("engine"), sql);
    assert!(Field::ALL.iter().any(|f| f.kind() == FieldKind::Multi));
}

#[test]
fn engine_counts_equal_sql_group_by_on_sqlite() {
    engine_matches_sql(Backend::Sqlite);
}

#[test]
fn engine_counts_equal_sql_group_by_on_postgres() {
    engine_matches_sql(Backend::Postgres);
}
