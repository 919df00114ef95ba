//! The engine and SQL `GROUP BY` side by side on the same store, printing the
//! ratio; plus snapshot load time and memory per million cases.
//!
//! `cargo bench --bench versus_sql` runs 100k and 1M cases on SQLite, and on
//! PostgreSQL too when `CTM_BENCH_POSTGRES_URL` names a server whose user may
//! create databases. `CTM_BENCH_10M=1` adds 10M cases (minutes of loading).

#[path = "engine.rs"]
#[allow(dead_code)]
mod engine_bench;

use ctm_stats::engine::SnapshotBuilder;
use ctm_stats::store::Store;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn database(kind: &str, dir: &std::path::Path, n: usize) -> Option<(String, Store)> {
    let url = match kind {
        "sqlite" => format!("sqlite:{}", dir.join(format!("bench-{n}.db")).display()),
        _ => {
            let server = std::env::var("CTM_BENCH_POSTGRES_URL").ok()?;
            let name = format!("ctm_bench_{n}_{}", std::process::id());
            let admin = sqlx::PgPool::connect(&server).await.ok()?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name}"
            )))
            .execute(&admin)
            .await
            .ok()?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .ok()?;
            let base = server.rsplit_once('/').map(|(b, _)| b.to_owned())?;
            format!("{base}/{name}")
        }
    };
    let store = Store::connect(&url).await.ok()?;
    store.migrate().await.ok()?;
    Some((kind.to_owned(), store))
}

async fn run() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let mut sizes = if quick {
        vec![20_000]
    } else {
        vec![100_000, 1_000_000]
    };
    if std::env::var("CTM_BENCH_10M").is_ok_and(|v| v == "1") && !quick {
        sizes.push(10_000_000);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "{:<10} {:<9} {:<16} {:>12} {:>12} {:>9}",
        "cases", "backend", "query", "engine ms", "sql ms", "ratio"
    );
    for &n in &sizes {
        let cases = ctm_stats::synth::generate_vec(n, 11);
        for kind in ["sqlite", "postgres"] {
            let Some((kind, store)) = database(kind, dir.path(), n).await else {
                continue;
            };
            let t = Instant::now();
            store
                .add_cases(&cases, false, |_| {})
                .await
                .expect("load cases");
            let write = t.elapsed();
            let b = SnapshotBuilder::new(1, &[]);
            let t = Instant::now();
            let (state, b) = store
                .load_cases(b, |b, c| b.push(&c))
                .await
                .expect("snapshot");
            let snap = b.finish(&state.store_id, state.version);
            let load = t.elapsed();
            println!(
                "# {n} cases on {kind}: written in {:.1} s ({:.0} rows/s); snapshot loaded in {:.2} s ({:.2} s per million), {:.1} bytes per case",
                write.as_secs_f64(),
                n as f64 / write.as_secs_f64(),
                load.as_secs_f64(),
                load.as_secs_f64() * 1e6 / n as f64,
                snap.memory_bytes() as f64 / snap.len() as f64
            );
            // What a restart pays instead: the saved snapshot read back and verified.
            let key = ctm_stats::privacy::NoiseKey::generate().expect("key");
            let file = std::env::temp_dir().join(format!("ctm-bench-snapshot-{n}.bin"));
            let t = Instant::now();
            ctm_stats::snapshots::save_file(&file, &key, &snap, &state, "bench").expect("save");
            let save = t.elapsed();
            let t = Instant::now();
            let back = ctm_stats::snapshots::read_file(&file, &key, &state, "bench")
                .expect("read")
                .expect("current");
            let reread = t.elapsed();
            assert_eq!(back.identity(), snap.identity());
            let _ = std::fs::remove_file(&file);
            println!(
                "# {n} cases on {kind}: snapshot file saved in {:.2} s, read back and verified in {:.3} s ({:.3} s per million)",
                save.as_secs_f64(),
                reread.as_secs_f64(),
                reread.as_secs_f64() * 1e6 / n as f64
            );
            for (name, g, f) in engine_bench::queries() {
                let engine: Vec<Duration> = (0..if quick { 3 } else { 31 })
                    .map(|_| {
                        let t = Instant::now();
                        std::hint::black_box(snap.count(&g, &f).map(|v| v.len()).unwrap_or(0));
                        t.elapsed()
                    })
                    .collect();
                let mut sql = Vec::new();
                for _ in 0..if quick { 1 } else { 5 } {
                    let t = Instant::now();
                    std::hint::black_box(
                        store.count_with_sql(&g, &f, None).await.expect("sql").len(),
                    );
                    sql.push(t.elapsed());
                }
                let (e, s) = (median(engine), median(sql));
                println!(
                    "{n:<10} {kind:<9} {name:<16} {:>12.3} {:>12.1} {:>8.0}x",
                    ms(e),
                    ms(s),
                    s.as_secs_f64() / e.as_secs_f64()
                );
            }
            store.close().await;
        }
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}
