//! The researcher quick start (`docs/quickstart/researcher.py`) in Python
//! against the real server.

use crate::demo::{Demo, available, screenshots};
use std::path::Path;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_quick_start_runs_against_a_real_server() {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/quickstart-venv/bin/python");
    if !available(&python, "the quick start's Python environment") {
        return;
    }
    let demo = Demo::start().await;
    let researcher = demo.token("researcher");
    let before = demo.get("/v1/budget", &researcher).await["spent"]
        .as_f64()
        .expect("spent");
    let out_dir = tempfile::tempdir().expect("out dir");
    let run = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/quickstart/researcher.py"))
        .env("BASE_URL", &demo.base)
        .env("RESEARCHER_TOKEN", &researcher)
        .env("OUT_DIR", out_dir.path())
        .env("MPLCONFIGDIR", out_dir.path())
        .output()
        .expect("python");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "quick start failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let charged: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("charged "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no charge printed:\n{stdout}"));
    assert!(charged > 0.0);
    let spent = demo.get("/v1/budget", &researcher).await["spent"]
        .as_f64()
        .expect("spent");
    assert!(
        (spent - before - charged).abs() < 1e-9,
        "the budget moved by what the script printed"
    );
    let png = std::fs::read(out_dir.path().join("counts.png")).expect("the plot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "a real plot"
    );
    std::fs::copy(
        out_dir.path().join("counts.png"),
        screenshots().join("quickstart-plot.png"),
    )
    .expect("keep the plot");
}
