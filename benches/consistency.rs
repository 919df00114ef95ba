//! Accuracy of consistent national reports against independent tables, at
//! the same cost: on synthetic cases with known truth, the tables of a
//! national report with a total row are measured with the policy's own
//! mechanism over many seeds, and each is published two ways: on its own
//! (noisy cells clamped at zero, as an independent table is published,
//! suppression aside) and as the report's consistent estimate
//! (`release::consistent`, suppression aside). Prints, per table, the mean
//! absolute error and the root mean squared error of a cell, and the same
//! for the total (each independent table's own sum of noisy cells, which is
//! unbiased, against the one consistent total).
//!
//!   cargo bench --bench consistency            (200 seeds, 200,000 cases)
//!   CTM_BENCH_SEEDS=1000 cargo bench --bench consistency

use ctm_stats::domain::{Consumer, Role};
use ctm_stats::national::{self, Params};
use ctm_stats::policy::parse_policy;
use ctm_stats::privacy::{NoiseKey, keyed_rng};
use ctm_stats::release::query::CountQuery;
use ctm_stats::release::{self, CellKey, Plan, consistent};

const CASES: usize = 200_000;

#[derive(Default)]
struct Errors {
    abs: f64,
    sq: f64,
    n: f64,
}

impl Errors {
    fn add(&mut self, estimate: f64, truth: f64) {
        let e = estimate - truth;
        self.abs += e.abs();
        self.sq += e * e;
        self.n += 1.0;
    }
    fn mae(&self) -> f64 {
        self.abs / self.n
    }
    fn rmse(&self) -> f64 {
        (self.sq / self.n).sqrt()
    }
}

fn main() {
    let seeds: u64 = std::env::var("CTM_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let policy = parse_policy("default.toml", include_str!("../policy/default.toml"))
        .expect("default policy");
    let mut builder = ctm_stats::snapshots::builder(&policy);
    ctm_stats::synth::generate(CASES, 5, Default::default(), |c| builder.push(&c));
    let snapshot = builder.finish("accuracy-bench", 1);
    let key = NoiseKey::from_bytes(&[42u8; 32]).expect("key");
    let gov = Consumer {
        id: "bench-gov".into(),
        role: Role::Government,
        country: ctm_stats::domain::Country::parse_alpha3("USA"),
        region: None,
    };
    let params = Params {
        perspective: None,
        from_year: None,
        to_year: None,
    };
    let scope = national::resolve_scope(&policy, &gov, national::AreaPath::Country("USA"), &params)
        .expect("scope");
    let tables: Vec<(&str, Plan)> = national::offered_tables(&policy, &scope)
        .into_iter()
        .filter(|t| t.total)
        .map(|t| {
            let request = national::count_request(&policy, &gov, t, &scope);
            let query = CountQuery::parse(&policy, &gov, &request).expect("query");
            (t.id.as_str(), release::plan(&policy, query).expect("plan"))
        })
        .collect();
    let truth: Vec<Vec<u64>> = tables
        .iter()
        .map(|(_, p)| {
            let counts = snapshot
                .count(&p.query.group_by(), &p.query.engine_filters())
                .expect("count");
            p.query.cells_in_request_order(&counts)
        })
        .collect();
    let keys: Vec<Vec<CellKey>> = tables.iter().map(|(_, p)| CellKey::all(&p.query)).collect();
    let true_total: u64 = truth[0].iter().sum();
    assert!(truth.iter().all(|t| t.iter().sum::<u64>() == true_total));

    let mut independent: Vec<Errors> = tables.iter().map(|_| Errors::default()).collect();
    let mut consistent_err: Vec<Errors> = tables.iter().map(|_| Errors::default()).collect();
    let mut independent_total: Vec<Errors> = tables.iter().map(|_| Errors::default()).collect();
    let mut consistent_total = Errors::default();
    for seed in 0..seeds {
        let noisy: Vec<Vec<i64>> = tables
            .iter()
            .zip(&truth)
            .map(|((id, p), t)| {
                let mut rng = keyed_rng(&key, id, &seed.to_le_bytes(), snapshot.identity());
                p.mechanism
                    .noise_counts(t, &mut rng)
                    .expect("noise")
                    .into_iter()
                    .map(|n| n.value())
                    .collect()
            })
            .collect();
        let inputs: Vec<consistent::Input<'_>> = tables
            .iter()
            .zip(&keys)
            .zip(&noisy)
            .map(|(((_, plan), keys), noisy)| consistent::Input { plan, keys, noisy })
            .collect();
        let out = consistent::estimate(&inputs, 0).expect("consistent");
        for (t, o) in out.iter().enumerate() {
            let mut own_total = 0i64;
            for (c, &true_count) in truth[t].iter().enumerate() {
                let published = noisy[t][c].max(0);
                // The table's own total: the unbiased sum of its noisy cells.
                own_total += noisy[t][c];
                independent[t].add(published as f64, true_count as f64);
                let v = o.values[c];
                consistent_err[t].add(v as f64, true_count as f64);
            }
            independent_total[t].add(own_total as f64, true_total as f64);
        }
        consistent_total.add(out[0].total.unwrap_or(0) as f64, true_total as f64);
    }

    println!(
        "== consistent national report vs independent tables: USA, {} cases, {} seeds, {} tables with a total (true total {})",
        CASES,
        seeds,
        tables.len(),
        true_total
    );
    println!(
        "{:<26} {:>6} {:>12} {:>12} {:>12} {:>12} {:>8}",
        "table", "cells", "MAE indep", "MAE consist", "RMSE indep", "RMSE consist", "ratio"
    );
    for (t, (id, _)) in tables.iter().enumerate() {
        let (i, c) = (&independent[t], &consistent_err[t]);
        println!(
            "{:<26} {:>6} {:>12.3} {:>12.3} {:>12.3} {:>12.3} {:>8.3}",
            id,
            truth[t].len(),
            i.mae(),
            c.mae(),
            i.rmse(),
            c.rmse(),
            c.rmse() / i.rmse()
        );
    }
    println!("total (each table's own sum of noisy cells vs the one consistent total):");
    for (t, (id, _)) in tables.iter().enumerate() {
        let i = &independent_total[t];
        println!(
            "  {:<24} MAE {:>10.2} -> {:>8.2}   RMSE {:>10.2} -> {:>8.2}   ratio {:.3}",
            id,
            i.mae(),
            consistent_total.mae(),
            i.rmse(),
            consistent_total.rmse(),
            consistent_total.rmse() / i.rmse()
        );
    }
}
