//! The command line: import all-or-nothing with line/column errors, bad input
//! of every kind, the policy check at start-up, and the calibration of the
//! synthetic generator.

use ctm_stats::store::Store;
use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ctm-stats"))
}

fn run(dir: &Path, args: &[&str]) -> Output {
    bin()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "DATABASE_URL",
            format!("sqlite:{}", dir.join("cli.db").display()),
        )
        .env("DATA_DIR", dir.join("data"))
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .expect("run ctm-stats")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_csv(path: &Path, n: usize, seed: u64, edit: impl Fn(usize, &mut Vec<String>)) {
    let mut w = csv::Writer::from_path(path).expect("csv");
    w.write_record(ctm_stats::import::header()).expect("header");
    for (i, c) in ctm_stats::synth::generate_vec(n, seed).iter().enumerate() {
        let mut r = ctm_stats::import::record(c);
        edit(i, &mut r);
        w.write_record(&r).expect("row");
    }
    w.flush().expect("flush");
}

async fn version_and_empty(dir: &Path) -> (i64, bool) {
    let store = Store::connect(&format!("sqlite:{}", dir.join("cli.db").display()))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let v = (
        store.data_version().await.expect("version"),
        store.is_empty().await.expect("empty"),
    );
    store.close().await;
    v
}

#[tokio::test]
async fn one_bad_row_among_ten_thousand_imports_nothing_and_names_the_row() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("cases.csv");
    // Row 4321 (line 4322, after the header) gets an invalid gender.
    write_csv(&file, 10_000, 8, |i, r| {
        if i == 4320 {
            r[4] = "femme".into();
        }
    });
    let out = run(dir.path(), &["import", file.to_str().expect("path")]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("line 4322, column gender: expected one of woman, man"),
        "{err}"
    );
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(
        !err.contains("femme"),
        "errors never echo cell values: {err}"
    );
    assert_eq!(
        version_and_empty(dir.path()).await,
        (0, true),
        "the store is exactly as it was"
    );

    // The corrected file imports in one go and bumps the data version.
    write_csv(&file, 10_000, 8, |_, _| {});
    let out = run(dir.path(), &["import", file.to_str().expect("path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 10000 cases"));
    assert_eq!(version_and_empty(dir.path()).await, (1, false));

    // Importing it again clashes on every case id: nothing is written.
    let out = run(dir.path(), &["import", file.to_str().expect("path")]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("line 2, column caseId: case id already in the store"),
        "{}",
        stderr(&out)
    );
    assert_eq!(version_and_empty(dir.path()).await.0, 1);
}

#[tokio::test]
async fn bad_files_get_one_clear_line_and_a_failure_code() {
    let dir = tempfile::tempdir().expect("dir");
    let p = |name: &str| dir.path().join(name);
    let missing = run(
        dir.path(),
        &["import", p("nope.csv").to_str().expect("path")],
    );
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("cannot read") && stderr(&missing).contains("nope.csv"),
        "{}",
        stderr(&missing)
    );

    std::fs::write(p("empty.csv"), "").expect("write");
    let empty = run(
        dir.path(),
        &["import", p("empty.csv").to_str().expect("path")],
    );
    assert!(!empty.status.success());
    assert!(stderr(&empty).contains("is empty"), "{}", stderr(&empty));

    std::fs::write(
        p("header.csv"),
        "caseId,yearOfRegistration,gendr\nx,2019,woman\n",
    )
    .expect("write");
    let header = run(
        dir.path(),
        &["import", p("header.csv").to_str().expect("path")],
    );
    assert!(!header.status.success());
    assert!(
        stderr(&header).contains("line 1, column 3: unknown column header"),
        "{}",
        stderr(&header)
    );

    std::fs::write(
        p("values.csv"),
        "caseId,yearOfRegistration,gender,ageBroad,citizenship,CountryOfExploitation\na,1999,man,,USA,USA\nb,2019,man,,US1,USA\nc,2019,man,,USA,USA\nc,2019,man,,USA,USA\n",
    )
    .expect("write");
    let values = run(
        dir.path(),
        &["import", p("values.csv").to_str().expect("path")],
    );
    let e = stderr(&values);
    assert!(
        e.contains("line 2, column yearOfRegistration: year out of range"),
        "{e}"
    );
    assert!(
        e.contains("line 3, column citizenship: malformed country code"),
        "{e}"
    );
    assert!(
        e.contains("line 5, column caseId: duplicate case id (first on line 4)"),
        "{e}"
    );
    assert_eq!(version_and_empty(dir.path()).await, (0, true));

    let unreachable = bin()
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("DATA_DIR", dir.path().join("data"))
        .args(["migrate"])
        .output()
        .expect("run");
    assert!(!unreachable.status.success());
    assert!(
        stderr(&unreachable).contains("cannot reach the database"),
        "{}",
        stderr(&unreachable)
    );
}

#[test]
fn an_invalid_policy_stops_serve_with_exit_code_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("bad.toml");
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("policy/default.toml"))
            .expect("policy");
    std::fs::write(&policy, text.replacen("global = 500.0", "global = -5.0", 1)).expect("write");
    let out = bin()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "DATABASE_URL",
            format!("sqlite:{}", dir.path().join("p.db").display()),
        )
        .env("DATA_DIR", dir.path().join("data"))
        .env("POLICY_FILE", &policy)
        .env("BIND", "127.0.0.1:0")
        .args(["serve"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let line = text
        .lines()
        .position(|l| l.starts_with("global = "))
        .map(|i| i + 1)
        .unwrap_or(0);
    assert!(
        err.contains(&format!("bad.toml:{line}: budgets.global")),
        "{err}"
    );
}

/// `serve` waits for a PostgreSQL server it cannot reach, retrying with a
/// warning that names the reason (never the password), and gives up with a
/// clear error once `DB_START_TIMEOUT_SECS` has passed; 0 gives up at once.
#[test]
fn serve_waits_for_an_unreachable_database_then_gives_up_naming_the_setting() {
    let dir = tempfile::tempdir().expect("dir");
    // A port nothing listens on once this listener is gone.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let serve = |timeout: &str| {
        bin()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env(
                "DATABASE_URL",
                format!("postgres://ctm:s3cret-pw@127.0.0.1:{port}/ctm"),
            )
            .env("DB_START_TIMEOUT_SECS", timeout)
            .env("DATA_DIR", dir.path().join("data"))
            .env("BIND", "127.0.0.1:0")
            .env_remove("RUST_LOG")
            .args(["serve"])
            .output()
            .expect("run")
    };
    let out = serve("2");
    assert!(!out.status.success());
    let err = stderr(&out);
    let retries: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("database not reachable yet; retrying"))
        .collect();
    assert!(!retries.is_empty(), "{err}");
    assert!(
        retries
            .iter()
            .all(|l| l.contains("WARN") && l.contains("reason=")),
        "{err}"
    );
    assert!(err.contains("error: cannot reach the database"), "{err}");
    assert!(err.contains("DB_START_TIMEOUT_SECS=2"), "{err}");
    assert!(!err.contains("s3cret-pw"), "the password in the log: {err}");

    let out = serve("0");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(!err.contains("retrying"), "{err}");
    assert!(err.contains("DB_START_TIMEOUT_SECS=0"), "{err}");
}

/// Share of `part` in `whole`, in percent.
fn pct(part: i64, whole: i64) -> f64 {
    100.0 * part as f64 / whole as f64
}

#[tokio::test]
async fn a_million_generated_cases_match_the_public_marginals() {
    let dir = tempfile::tempdir().expect("dir");
    let out = run(
        dir.path(),
        &["generate", "--cases", "1000000", "--seed", "7"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pool =
        sqlx::SqlitePool::connect(&format!("sqlite:{}", dir.path().join("cli.db").display()))
            .await
            .expect("connect");
    let q = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect(sql)
        }
    };
    let total = q("SELECT COUNT(*) FROM cases").await;
    assert_eq!(total, 1_000_000);
    let known_gender = q("SELECT COUNT(*) FROM cases WHERE gender <> 'unknown'").await;
    let women = pct(
        q("SELECT COUNT(*) FROM cases WHERE gender = 'woman'").await,
        known_gender,
    );
    assert!((69.0..=75.0).contains(&women), "women {women:.1}% of known");
    let known_age = q("SELECT COUNT(*) FROM cases WHERE age_broad <> 'unknown'").await;
    let children = pct(
        q("SELECT COUNT(*) FROM cases WHERE age_broad IN ('0-8', '9-17')").await,
        known_age,
    );
    assert!(
        (21.0..=27.0).contains(&children),
        "children {children:.1}% of known ages"
    );
    let known_type = q("SELECT COUNT(*) FROM cases WHERE type_of_exploitation_known = 1").await;
    let sexual = pct(
        q("SELECT COUNT(*) FROM cases WHERE (type_of_exploitation & 2) <> 0").await,
        known_type,
    );
    let labour = pct(
        q("SELECT COUNT(*) FROM cases WHERE (type_of_exploitation & 1) <> 0").await,
        known_type,
    );
    assert!(
        (57.0..=64.0).contains(&sexual),
        "sexual exploitation {sexual:.1}%"
    );
    assert!(
        (34.0..=41.0).contains(&labour),
        "forced labour {labour:.1}%"
    );
    let known_country =
        q("SELECT COUNT(*) FROM cases WHERE country_of_exploitation <> 'unknown'").await;
    let top = pct(q("SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM cases WHERE country_of_exploitation <> 'unknown' GROUP BY country_of_exploitation) t").await, known_country);
    assert!((46.0..=56.0).contains(&top), "top country {top:.1}%");
    let countries = q("SELECT COUNT(DISTINCT country_of_exploitation) FROM cases WHERE country_of_exploitation <> 'unknown'").await;
    let citizenships =
        q("SELECT COUNT(DISTINCT citizenship) FROM cases WHERE citizenship <> 'unknown'").await;
    assert!(countries >= 100, "{countries} countries of exploitation");
    assert!(citizenships >= 80, "{citizenships} citizenships");
    let both_known = q("SELECT COUNT(*) FROM cases WHERE citizenship <> 'unknown' AND country_of_exploitation <> 'unknown'").await;
    let internal = pct(q("SELECT COUNT(*) FROM cases WHERE citizenship <> 'unknown' AND citizenship = country_of_exploitation").await, both_known);
    assert!((20.0..=30.0).contains(&internal), "internal {internal:.1}%");
    let early = q("SELECT COUNT(*) FROM cases WHERE registration_year BETWEEN 2002 AND 2009").await;
    let late = q("SELECT COUNT(*) FROM cases WHERE registration_year BETWEEN 2014 AND 2021").await;
    assert!(late > 4 * early, "registrations rise over time");
    let peak = q("SELECT registration_year FROM cases GROUP BY registration_year ORDER BY COUNT(*) DESC LIMIT 1").await;
    assert_eq!(peak, 2019);
    let range = (
        q("SELECT MIN(registration_year) FROM cases").await,
        q("SELECT MAX(registration_year) FROM cases").await,
    );
    assert_eq!(range, (2002, 2023));
    let means_missing = pct(
        q("SELECT COUNT(*) FROM cases WHERE means_of_control_known = 0").await,
        total,
    );
    assert!(
        means_missing > 85.0,
        "means of control missing {means_missing:.1}%"
    );
    pool.close().await;
}

/// Every file of a fresh `serve --demo` data directory is its owner's only,
/// under the common umask 022: the directory 0700, the SQLite database, its
/// WAL and shared memory, the keys and the saved snapshot 0600.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_demo_data_directory_is_locked_under_umask_022() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut child = Command::new("sh")
        .args(["-c", "umask 022; exec \"$0\" serve --demo"])
        .arg(env!("CARGO_BIN_EXE_ctm-stats"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DEMO_CASES", "2000")
        .env("BIND", format!("127.0.0.1:{port}"))
        .env(
            "POLICY_FILE",
            concat!(env!("CARGO_MANIFEST_DIR"), "/policy/default.toml"),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).expect("log file"))
        .spawn()
        .expect("start serve --demo");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let data = dir.path().join("data");
    loop {
        let ready = client
            .get(format!("http://127.0.0.1:{port}/health/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready && data.join("snapshot.bin").exists() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve --demo not ready: {}",
            std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let modes: Vec<(String, u32)> = std::fs::read_dir(&data)
        .expect("data dir")
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                mode(&e.path()),
            )
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(mode(&data), 0o700, "the data directory");
    for name in ["ctm.db", "ctm.db-wal", "ctm.db-shm", "snapshot.bin"] {
        assert!(
            modes.iter().any(|(n, _)| n == name),
            "{name} missing from {modes:?}"
        );
    }
    for (name, m) in &modes {
        assert_eq!(*m & 0o077, 0, "{name} is readable by others: {m:o}");
    }
}
