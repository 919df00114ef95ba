//! The SDMX REST interface read by the reference SDMX clients, against the
//! real binary (`serve --demo`): Python's `sdmx1` (tests/sdmx/sdmx1_client.py)
//! and R's `rsdmx` (tests/sdmx/rsdmx_client.R). `scripts/test-deps.sh`
//! installs both; a missing one is skipped, or fails with
//! `CTM_REQUIRE_BROWSER=1` (sdmx1, installed with the other Python
//! environments) and `CTM_REQUIRE_R=1` (R).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `path` is here; if not, the test is skipped, or fails when `require` is set.
fn available(path: &Path, what: &str, require: &str) -> bool {
    if path.exists() {
        return true;
    }
    assert!(
        std::env::var(require).map_or(true, |v| v != "1"),
        "{what} missing at {} (run scripts/test-deps.sh)",
        path.display()
    );
    eprintln!(
        "skipped: {what} missing at {} (run scripts/test-deps.sh; {require}=1 makes this a failure)",
        path.display()
    );
    false
}

/// `ctm-stats serve --demo` on a new SQLite store.
struct Demo {
    child: Child,
    base: String,
    banner: String,
    _dir: tempfile::TempDir,
}

impl Demo {
    async fn start() -> Demo {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let out = dir.path().join("stdout");
        let child = Command::new(env!("CARGO_BIN_EXE_ctm-stats"))
            .args(["serve", "--demo"])
            .current_dir(root())
            .env("DATA_DIR", dir.path())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", dir.path().join("ctm.db").display()),
            )
            .env("DEMO_CASES", "20000")
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("CHECKPOINT_INTERVAL_SECS", "0")
            .env("RUST_LOG", "warn")
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(dir.path().join("log")).expect("log file"))
            .spawn()
            .expect("start ctm-stats serve --demo");
        let mut demo = Demo {
            child,
            base: format!("http://127.0.0.1:{port}"),
            banner: String::new(),
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            demo.banner = std::fs::read_to_string(&out).unwrap_or_default();
            let ready = client
                .get(format!("{}/health/ready", demo.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready && demo.banner.contains("ADMIN_TOKEN=") {
                return demo;
            }
            assert!(Instant::now() < deadline, "demo server not ready in 180 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn token(&self, role: &str) -> String {
        let prefix = format!("export {}_TOKEN=", role.to_ascii_uppercase());
        self.banner
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {role} token in the banner"))
            .trim()
            .to_owned()
    }

    /// Runs `program script` with the server's address and tokens; its output.
    fn run(&self, program: &Path, script: &str) -> String {
        let run = Command::new(program)
            .arg(root().join(script))
            .env("BASE_URL", &self.base)
            .env("GOVERNMENT_TOKEN", self.token("government"))
            .env("ADMIN_TOKEN", self.token("admin"))
            .output()
            .expect("run the client");
        let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
        assert!(
            run.status.success(),
            "{script} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        stdout
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdmx1_lists_dataflows_reads_the_dsd_and_a_countrys_data_and_gets_sdmx_errors() {
    let python: PathBuf = root().join("target/sdmx-venv/bin/python");
    if !available(&python, "the sdmx1 environment", "CTM_REQUIRE_BROWSER") {
        return;
    }
    let demo = Demo::start().await;
    let out = demo.run(&python, "tests/sdmx/sdmx1_client.py");
    print!("{out}");
    for step in [
        "1. dataflows",
        "2. DSD",
        "3. GenericData",
        "4. ",
        "5. ",
        "6. ",
        "7. budget refusal",
    ] {
        assert!(out.contains(step), "step {step} missing:\n{out}");
    }
    assert!(out.contains(": OK"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsdmx_lists_dataflows_reads_the_dsd_and_a_countrys_data() {
    let rscript = Path::new("/usr/bin/Rscript");
    if !available(rscript, "R (Rscript)", "CTM_REQUIRE_R") {
        return;
    }
    let demo = Demo::start().await;
    let out = demo.run(rscript, "tests/sdmx/rsdmx_client.R");
    print!("{out}");
    for step in ["1. dataflows", "2. DSD", "3. data", "4. another country"] {
        assert!(out.contains(step), "step {step} missing:\n{out}");
    }
    assert!(out.contains(": OK"), "{out}");
}
