//! Do the published margins hold for the published integers? Measured over
//! many noise draws on synthetic cases whose true counts are known: each
//! report is planned as the service plans it, measured with the service's
//! own mechanisms (a fresh keyed noise stream per draw), made consistent by
//! the service's own estimation, and every published cell is compared with
//! its true count, per table and report size. The figures printed here are
//! the ones `docs/benchmarks.md` quotes.

use super::{AreaPath, Params, TablePlan, offered_tables, plan_table, resolve_scope};
use crate::domain::{Consumer, ContentDigest, DataIdentity, Role};
use crate::policy::{Policy, parse_policy};
use crate::privacy::{NoiseKey, keyed_rng};
use crate::release::CellKey;
use crate::release::consistent::{self, Input};
use std::collections::BTreeMap;

const POLICY: &str = include_str!("../../policy/default.toml");

fn researcher() -> Consumer {
    Consumer {
        id: "coverage".into(),
        role: Role::Researcher,
        country: None,
        region: None,
    }
}

/// Per table: cells seen, cells within their margin; the same with the
/// margins as they were before post-processing was counted in them; and
/// the errors of large cells (true count at least 100), published and linear.
#[derive(Default)]
struct Tally {
    cells: u64,
    covered: u64,
    covered_before: u64,
    large_error: f64,
    large_linear_error: f64,
    large: u64,
}

/// Runs `draws` noise draws of the report of `path`, tallying its
/// consistent tables' published cells.
fn measure(
    policy: &Policy,
    snapshot: &crate::engine::Snapshot,
    path: AreaPath<'_>,
    draws: u32,
    tallies: &mut BTreeMap<String, Tally>,
    label: &str,
) {
    let consumer = researcher();
    let scope = resolve_scope(policy, &consumer, path, &Params::default()).expect("scope");
    let plans: Vec<TablePlan<'_>> = offered_tables(policy, &scope)
        .into_iter()
        .map(|t| plan_table(policy, &consumer, t, &scope).expect("plan"))
        .filter(|tp| {
            tp.table.total
                && tp
                    .plan
                    .query
                    .dimensions
                    .iter()
                    .all(|d| d.field.kind() == crate::domain::FieldKind::Single)
        })
        .collect();
    let keys: Vec<Vec<CellKey>> = plans
        .iter()
        .map(|tp| CellKey::all(&tp.plan.query))
        .collect();
    let truth: Vec<Vec<u64>> = plans
        .iter()
        .map(|tp| {
            let q = &tp.plan.query;
            let counts = snapshot
                .count(&q.group_by(), &q.engine_filters())
                .expect("count");
            q.cells_in_request_order(&counts)
        })
        .collect();
    let key = NoiseKey::from_bytes(&[9u8; 32]).expect("key");
    let identity = DataIdentity {
        store_id: "coverage".into(),
        version: 1,
        digest: ContentDigest::from_bytes([5; 32]),
    };
    for draw in 0..draws {
        let noisy: Vec<Vec<i64>> = plans
            .iter()
            .zip(&truth)
            .map(|(tp, t)| {
                let seed = format!("{label}/{}/{draw}", tp.table.id);
                let mut rng = keyed_rng(&key, "coverage", seed.as_bytes(), &identity);
                tp.plan
                    .mechanism
                    .noise_counts(t, &mut rng)
                    .expect("noise")
                    .iter()
                    .map(|n| n.value())
                    .collect()
            })
            .collect();
        let inputs: Vec<Input<'_>> = plans
            .iter()
            .zip(&keys)
            .zip(&noisy)
            .map(|((tp, keys), noisy)| Input {
                plan: &tp.plan,
                keys,
                noisy,
            })
            .collect();
        let outputs = consistent::estimate(&inputs, policy.k).expect("estimate");
        for ((tp, out), t) in plans.iter().zip(&outputs).zip(&truth) {
            let tally = tallies
                .entry(format!("{label} {}", tp.table.id))
                .or_default();
            for (c, &true_count) in t.iter().enumerate() {
                let (Some(published), margin) = (out.cells[c], out.margins[c]) else {
                    continue;
                };
                let error = published - true_count as i64;
                let moved = (published as f64 - out.estimates[c]).abs();
                let before = margin as f64 - (moved - 1e-9).max(0.0).ceil() + 1.0;
                tally.cells += 1;
                tally.covered += u64::from(error.unsigned_abs() <= margin);
                tally.covered_before += u64::from(error.unsigned_abs() as f64 <= before);
                if true_count >= 100 {
                    tally.large += 1;
                    tally.large_error += error as f64;
                    tally.large_linear_error += out.estimates[c] - true_count as f64;
                }
            }
        }
    }
}

/// The countries of exploitation with the most, a middling and few cases.
fn countries_by_size(policy: &Policy, snapshot: &crate::engine::Snapshot) -> [String; 3] {
    let dim = policy
        .dimension("country_of_exploitation")
        .expect("dimension");
    let group = [crate::engine::GroupBy {
        field: dim.field,
        values: dim.values.clone(),
    }];
    let counts = snapshot.count(&group, &[]).expect("count");
    let mut sized: Vec<(u64, String)> = counts
        .into_iter()
        .zip(dim.value_codes())
        .filter(|(_, c)| c != "unknown")
        .collect();
    sized.sort();
    let pick = |lo: u64, hi: u64| {
        sized
            .iter()
            .find(|(n, _)| (lo..hi).contains(n))
            .map(|(_, c)| c.clone())
            .expect("a country of that size")
    };
    let largest = sized.last().map(|(_, c)| c.clone()).expect("countries");
    [largest, pick(1_000, 5_000), pick(60, 200)]
}

#[test]
fn published_margins_cover_the_published_cells_of_every_table_and_report_size() {
    let policy = parse_policy("default.toml", POLICY).expect("policy");
    let mut b = crate::snapshots::builder(&policy);
    for case in crate::synth::generate_vec(200_000, 11) {
        b.push(&case);
    }
    let snapshot = b.finish("coverage", 1);
    let [large, mid, small] = countries_by_size(&policy, &snapshot);
    let draws = 300;
    let mut tallies = BTreeMap::new();
    for (label, path) in [
        (format!("large ({large})"), AreaPath::Country(&large)),
        (format!("mid ({mid})"), AreaPath::Country(&mid)),
        (format!("small ({small})"), AreaPath::Country(&small)),
        ("region (gms)".to_owned(), AreaPath::Region("gms")),
    ] {
        measure(&policy, &snapshot, path, draws, &mut tallies, &label);
    }
    // Three standard errors below 95% over the draws (cells of one draw
    // are dependent, so the draws, not the cells, are the sample size).
    let floor = 0.95 - 3.0 * (0.95 * 0.05 / f64::from(draws)).sqrt();
    let mut failures = Vec::new();
    for (table, t) in &tallies {
        let rate = t.covered as f64 / t.cells.max(1) as f64;
        let before = t.covered_before as f64 / t.cells.max(1) as f64;
        let (bias, linear) = if t.large > 0 {
            (
                format!("{:+.2}", t.large_error / t.large as f64),
                format!("{:+.2}", t.large_linear_error / t.large as f64),
            )
        } else {
            ("-".into(), "-".into())
        };
        eprintln!(
            "coverage {table}: {rate:.4} of {} published cells (margins before: {before:.4}); \
             large cells' mean error {bias} (linear estimate {linear})",
            t.cells
        );
        if t.cells > 0 && rate < floor {
            failures.push(format!("{table}: {rate:.4}"));
        }
    }
    assert!(tallies.values().any(|t| t.large > 0), "some large cells");
    assert!(
        failures.is_empty(),
        "coverage below {floor:.4}: {failures:?}"
    );
}
