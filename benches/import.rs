//! Import throughput: a CSV file of synthetic cases (1M rows with `--bench`)
//! validated and written into a fresh SQLite store, as `ctm-stats import` does.

use ctm_stats::store::Store;
use std::time::Instant;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("CTM_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 10_000 } else { 1_000_000 });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cases.csv");
    let mut w = csv::Writer::from_path(&path).expect("csv file");
    w.write_record(ctm_stats::import::header()).expect("header");
    ctm_stats::synth::generate(n, 3, Default::default(), |c| {
        let _ = w.write_record(ctm_stats::import::record(&c));
    });
    w.flush().expect("flush");
    drop(w);
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);

    let t = Instant::now();
    let cases = ctm_stats::import::read_cases(
        &path.display().to_string(),
        2026,
        ctm_stats::policy::PrivacyUnit::Person,
        |_| {},
    )
    .expect("valid file");
    let validate = t.elapsed();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let write = rt.block_on(async {
        let store = Store::connect(&format!(
            "sqlite:{}",
            dir.path().join("import.db").display()
        ))
        .await
        .expect("store");
        store.migrate().await.expect("migrate");
        let t = Instant::now();
        store.add_cases(&cases, false, |_| {}).await.expect("write");
        t.elapsed()
    });
    let total = validate + write;
    println!(
        "import of {n} rows ({:.0} MB CSV) into SQLite: validate {:.2} s, write {:.2} s, total {:.2} s = {:.0} rows/s",
        bytes as f64 / 1e6,
        validate.as_secs_f64(),
        write.as_secs_f64(),
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64()
    );
}
