//! The Python client package (`clients/python`, `ctm_stats`) and the R
//! quick start, against the real binary (`serve --demo`).
//!
//! - The client's table of operations and fields (`ctm_stats/api.json`),
//!   the problem codes it maps and its version are checked against
//!   `openapi/openapi.json` and the service's code, with no Python at all.
//! - The package is installed with pip into a fresh virtual environment from
//!   the wheels `scripts/test-deps.sh` downloads (pip `--no-index`: nothing is
//!   fetched here), then its offline tests, its tests against the server and
//!   the documented quick start run in it.
//! - The R quick start (`docs/quickstart/researcher.R`: `rsdmx` for national
//!   figures, `httr2` for counts) runs where R is installed.
//!
//! A missing Python environment or wheelhouse skips the Python tests unless
//! `CTM_REQUIRE_BROWSER=1` (as CI sets for every test of a real client);
//! a missing R skips the R test unless `CTM_REQUIRE_R=1`.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every property of a schema, through `$ref`, `allOf`, `oneOf` and `anyOf`.
fn properties(doc: &Value, schema: &Value, out: &mut BTreeSet<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or_default();
        properties(doc, &doc["components"]["schemas"][name], out);
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for s in schema[key].as_array().into_iter().flatten() {
            properties(doc, s, out);
        }
    }
    if let Some(p) = schema["properties"].as_object() {
        out.extend(p.keys().cloned());
    }
}

fn schema_name(content: &Value) -> Option<&str> {
    content["application/json"]["schema"]["$ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
}

/// Every `.rs` file under `dir`, read.
fn sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).expect("source dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
}

#[test]
fn the_python_client_and_openapi_json_agree() {
    let doc = read_json(&root().join("openapi/openapi.json"));
    let table = read_json(&root().join("clients/python/ctm_stats/api.json"));
    let mut problems = Vec::new();

    // The package speaks the API version it declares.
    let pyproject = std::fs::read_to_string(root().join("clients/python/pyproject.toml"))
        .expect("pyproject.toml");
    let version = pyproject
        .lines()
        .find_map(|l| l.strip_prefix("version = "))
        .map(|v| v.trim().trim_matches('"'));
    let api_version = doc["info"]["version"].as_str();
    if version != api_version {
        problems.push(format!(
            "clients/python/pyproject.toml version {version:?} is not the API's info.version {api_version:?}"
        ));
    }

    let endpoints = table["endpoints"].as_object().expect("endpoints");
    assert!(
        endpoints.len() >= 12,
        "the table lists the client's operations"
    );
    for (name, e) in endpoints {
        let (method, path) = (
            e["method"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase(),
            e["path"].as_str().unwrap_or_default(),
        );
        let op = &doc["paths"][path][&method];
        if op.is_null() {
            problems.push(format!("{name}: {method} {path} is not in openapi.json"));
            continue;
        }
        let params: Vec<(&str, &str)> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p["in"].as_str()?, p["name"].as_str()?)))
            .collect();
        for (kind, key) in [("query", "query"), ("header", "headers")] {
            for p in e[key].as_array().into_iter().flatten() {
                let p = p.as_str().unwrap_or_default();
                if !params.contains(&(kind, p)) {
                    problems.push(format!(
                        "{name}: {method} {path} has no {kind} parameter {p}"
                    ));
                }
            }
        }
        for seg in path.split('/').filter(|s| s.starts_with('{')) {
            let p = seg.trim_matches(|c| c == '{' || c == '}');
            if !params.contains(&("path", p)) {
                problems.push(format!("{name}: {path} has no path parameter {p}"));
            }
        }
        if let Some(want) = e["request"].as_str() {
            let got = schema_name(&op["requestBody"]["content"]);
            if got != Some(want) {
                problems.push(format!(
                    "{name}: request body is {got:?}, the client sends {want}"
                ));
            }
        }
        let ok = &op["responses"]["200"]["content"];
        match e["response"].as_str() {
            Some(want) if schema_name(ok) != Some(want) => problems.push(format!(
                "{name}: answer is {:?}, the client reads {want}",
                schema_name(ok)
            )),
            None if ok.get("application/x-ndjson").is_none() => problems.push(format!(
                "{name}: the client reads JSON Lines, openapi.json says {ok}"
            )),
            _ => {}
        }
    }

    for (schema, fields) in table["fields"].as_object().expect("fields") {
        let s = &doc["components"]["schemas"][schema];
        if s.is_null() {
            problems.push(format!("schema {schema} is not in openapi.json"));
            continue;
        }
        let mut have = BTreeSet::new();
        properties(&doc, s, &mut have);
        for f in fields.as_array().into_iter().flatten() {
            let f = f.as_str().unwrap_or_default();
            if !have.contains(f) {
                problems.push(format!("{schema}.{f} is not in openapi.json"));
            }
        }
    }

    // No path is written in the client's code: they all come from the table.
    let pkg = root().join("clients/python/ctm_stats");
    for entry in std::fs::read_dir(&pkg).expect("package").flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "py") {
            let code = std::fs::read_to_string(&path).unwrap_or_default();
            if code.contains("\"/v1/") || code.contains("'/v1/") {
                problems.push(format!(
                    "{} writes an API path; use api.json",
                    path.display()
                ));
            }
        }
    }

    // Every problem code the client maps is one the service sends.
    let errors = std::fs::read_to_string(pkg.join("errors.py")).expect("errors.py");
    let mut service = String::new();
    sources(&root().join("src"), &mut service);
    let mut mapped = 0;
    for quoted in errors.split('"').skip(1).step_by(2) {
        let is_code = quoted.split_once('.').is_some_and(|(a, b)| {
            [a, b]
                .iter()
                .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        });
        if is_code && !quoted.starts_with("client.") {
            mapped += 1;
            if !service.contains(&format!("\"{quoted}\"")) {
                problems.push(format!(
                    "errors.py maps {quoted}, which the service never sends"
                ));
            }
        }
    }
    assert!(mapped >= 20, "the codes were found in errors.py ({mapped})");

    assert!(
        problems.is_empty(),
        "the Python client and openapi/openapi.json disagree:\n  {}",
        problems.join("\n  ")
    );
}

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// Whether `path` is here; if not the test is skipped, or fails under `var=1`.
fn available(path: &Path, what: &str, var: &str) -> bool {
    if path.exists() {
        return true;
    }
    assert!(
        !required(var),
        "{what} missing at {} (run scripts/test-deps.sh)",
        path.display()
    );
    eprintln!(
        "skipped: {what} missing at {} (run scripts/test-deps.sh)",
        path.display()
    );
    false
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `ctm-stats serve --demo` on a new SQLite store.
struct Demo {
    child: Child,
    base: String,
    banner: String,
    dir: tempfile::TempDir,
}

impl Demo {
    fn command(dir: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ctm-stats"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATA_DIR", dir)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", dir.join("ctm.db").display()),
            )
            .env("DEMO_CASES", "20000")
            .env("RUST_LOG", "info");
        cmd
    }

    async fn start() -> Demo {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let out = dir.path().join("stdout");
        let child = Self::command(dir.path())
            .args(["serve", "--demo"])
            .env("BIND", format!("127.0.0.1:{port}"))
            .stdout(std::fs::File::create(&out).expect("stdout"))
            .stderr(std::fs::File::create(dir.path().join("serve.log")).expect("log"))
            .spawn()
            .expect("start ctm-stats serve --demo");
        let mut demo = Demo {
            child,
            base: format!("http://127.0.0.1:{port}"),
            banner: String::new(),
            dir,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(120);
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
            assert!(
                Instant::now() < deadline,
                "demo server not ready in 120 s: {}",
                std::fs::read_to_string(demo.dir.path().join("serve.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn token(&self, role: &str) -> String {
        let prefix = format!("export {}_TOKEN=", role.to_ascii_uppercase());
        self.banner
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {role} token in the banner:\n{}", self.banner))
            .trim()
            .to_owned()
    }

    /// A token for a consumer of its own, minted as an operator would.
    fn mint(&self, role: &str, sub: &str) -> String {
        let out = Self::command(self.dir.path())
            .args(["token", "--role", role, "--sub", sub])
            .output()
            .expect("ctm-stats token");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("API call")
            .json()
            .await
            .expect("JSON")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn show(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Copies the package's sources (not what a local build left) to `to`.
fn copy_package(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("package copy");
    for entry in std::fs::read_dir(from).expect("package").flatten() {
        let (path, name) = (entry.path(), entry.file_name());
        let name = name.to_string_lossy();
        if name == "build" || name == "__pycache__" || name.ends_with(".egg-info") {
            continue;
        }
        if path.is_dir() {
            copy_package(&path, &to.join(&*name));
        } else {
            std::fs::copy(&path, to.join(&*name)).expect("copy a package file");
        }
    }
}

/// A new virtual environment with the package installed by pip, offline,
/// from a copy of its sources (a build leaves files next to them).
fn fresh_venv(dir: &Path) -> PathBuf {
    let package = dir.join("ctm-stats-src");
    copy_package(&root().join("clients/python"), &package);
    let venv = dir.join("venv");
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .expect("python3 -m venv");
    assert!(made.status.success(), "{}", show("venv", &made));
    let pip = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--disable-pip-version-check",
            "--no-index",
            "--find-links",
        ])
        .arg(root().join("target/python-wheels"))
        .arg(format!("{}[plot,sdmx]", package.display()))
        .output()
        .expect("pip install");
    assert!(pip.status.success(), "{}", show("pip install", &pip));
    venv.join("bin/python")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_installed_with_pip_works_against_a_real_server() {
    let wheels = root().join("target/python-wheels/.complete");
    if !available(&wheels, "the client's wheels", "CTM_REQUIRE_BROWSER") {
        return;
    }
    let work = tempfile::tempdir().expect("work dir");
    let python = fresh_venv(work.path());
    let demo = Demo::start().await;
    let out_dir = work.path().join("out");
    std::fs::create_dir_all(&out_dir).expect("out dir");
    let run = |script: &str| {
        let mut cmd = Command::new(&python);
        cmd.arg(root().join(script))
            // Not the source tree: the installed package is what runs.
            .current_dir(work.path())
            .env("CTM_BASE_URL", &demo.base)
            .env("OUT_DIR", &out_dir)
            .env("MPLCONFIGDIR", work.path());
        for role in ["researcher", "government", "regional", "auditor"] {
            cmd.env(
                format!("{}_TOKEN", role.to_ascii_uppercase()),
                demo.token(role),
            );
        }
        cmd.env("BROKE_TOKEN", demo.mint("researcher", "client-test-broke"));
        cmd.output().expect("python")
    };

    let offline = run("clients/python/tests/test_offline.py");
    assert!(
        offline.status.success(),
        "{}",
        show("offline tests", &offline)
    );

    let researcher = demo.token("researcher");
    let before = demo.get("/v1/budget", &researcher).await;
    let live = run("clients/python/tests/test_live.py");
    let report = show("tests against the server", &live);
    assert!(live.status.success(), "{report}");
    let stderr = String::from_utf8_lossy(&live.stderr);
    for name in [
        "test_estimate_release_frame_and_plot",
        "test_budget_exhausted_is_typed_and_says_what_is_left",
        "test_a_lost_answer_is_retried_with_its_key_and_charged_once",
        "test_a_503_before_the_service_retries_and_charges_once",
        "test_national_report_as_frames_and_a_plot",
        "test_ledger_pages_and_export",
        "test_sdmx1_reads_structures_and_a_country_with_the_token",
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(name) && l.ends_with("ok")),
            "{name} ran and passed:\n{report}"
        );
    }
    for png in ["client-counts.png", "client-national.png"] {
        let data = std::fs::read(out_dir.join(png)).expect("the plot");
        assert!(
            data.starts_with(b"\x89PNG") && data.len() > 5_000,
            "{png} is a real plot"
        );
    }

    // The researcher's spending, seen from the service: what the ledger
    // charged it is what its budget moved by, once per release.
    let after = demo.get("/v1/budget", &researcher).await;
    let history = demo.get("/v1/budget/history?limit=1000", &researcher).await;
    let charged: f64 = history["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["event"] == "charge")
        .map(|e| e["cost"].as_f64().unwrap_or_default())
        .sum();
    let spent = after["spent"].as_f64().expect("spent");
    assert!(spent > before["spent"].as_f64().expect("spent"));
    assert!(
        (spent - charged).abs() < 1e-9,
        "spent {spent} is the sum of the ledger's charges {charged}"
    );

    // The documented quick start, as a researcher pastes it.
    let quick = run("docs/quickstart/client.py");
    assert!(quick.status.success(), "{}", show("quick start", &quick));
    assert!(String::from_utf8_lossy(&quick.stdout).contains("plot: "));
    let png = std::fs::read(out_dir.join("client-quickstart.png")).expect("the quick start's plot");
    assert!(png.starts_with(b"\x89PNG"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_r_quick_start_runs_against_a_real_server() {
    let rscript = ["/usr/bin/Rscript", "/usr/local/bin/Rscript"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("/usr/bin/Rscript"));
    if !available(&rscript, "R (Rscript)", "CTM_REQUIRE_R") {
        return;
    }
    let demo = Demo::start().await;
    let researcher = demo.token("researcher");
    let before = demo.get("/v1/budget", &researcher).await["spent"]
        .as_f64()
        .expect("spent");
    let out_dir = tempfile::tempdir().expect("out dir");
    let run = Command::new(&rscript)
        .arg(root().join("docs/quickstart/researcher.R"))
        .env("BASE_URL", &demo.base)
        .env("RESEARCHER_TOKEN", &researcher)
        .env("GOVERNMENT_TOKEN", demo.token("government"))
        .env("OUT_DIR", out_dir.path())
        .output()
        .expect("Rscript");
    let report = show("R quick start", &run);
    assert!(run.status.success(), "{report}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let charged: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("charged "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no charge printed:\n{report}"));
    let spent = demo.get("/v1/budget", &researcher).await["spent"]
        .as_f64()
        .expect("spent");
    assert!(
        charged > 0.0 && (spent - before - charged).abs() < 1e-9,
        "{report}"
    );
    for png in ["r-counts.png", "r-national.png"] {
        let data = std::fs::read(out_dir.path().join(png))
            .unwrap_or_else(|e| panic!("{png}: {e}\n{report}"));
        assert!(
            data.starts_with(b"\x89PNG") && data.len() > 2_000,
            "{png} is a real plot"
        );
    }
}
