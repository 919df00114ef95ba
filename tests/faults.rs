//! Faults, end to end, on the real binary: kill -9 under concurrent load
//! then restart (SQLite and PostgreSQL), a PostgreSQL stop and start during
//! load, and a full disk under SQLite. After each, through the API only:
//!
//! - every answered release has its debit in the ledger (the entry at its
//!   `ledger_seq` charges that consumer that query at that cost);
//! - each consumer's spent equals the sum of its ledger debits;
//! - the ledger verifies;
//! - repeating an answered query is free;
//! - no request got a 500: an outage is a 503 with `Retry-After`.
//!
//! Also what the process writes to its log when it refuses a request.
//!
//! Its own test binary: each test starts servers as child processes, and
//! every test is bounded to a few seconds of load.

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const POLICY: &str = include_str!("../policy/default.toml");
const WORKERS: usize = 8;

/// The default policy with room for a load test: no rate limit to speak of,
/// budgets that a few seconds of load cannot exhaust.
fn load_policy() -> String {
    POLICY
        .replacen(
            "requests_per_minute = 600",
            "requests_per_minute = 1000000",
            1,
        )
        .replacen("researcher = 10.0", "researcher = 1000.0", 1)
        .replacen("global = 500.0", "global = 100000.0", 1)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One `ctm-stats serve` process.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

/// What a server of one test shares across restarts.
struct Site {
    dir: PathBuf,
    /// Where the servers' logs go (outside a disk the test fills).
    logs: PathBuf,
    database_url: String,
    client: reqwest::Client,
}

impl Site {
    fn new(dir: &Path, database_url: String) -> Site {
        std::fs::write(dir.join("policy.toml"), load_policy()).expect("policy");
        Site {
            dir: dir.to_path_buf(),
            logs: dir.to_path_buf(),
            database_url,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ctm-stats"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.database_url)
            .env("DATA_DIR", &self.dir)
            .env("POLICY_FILE", self.dir.join("policy.toml"))
            .env("DEMO_CASES", "4000")
            .env("SNAPSHOT_POLL_SECS", "1")
            .env("RUST_LOG", "info");
        cmd
    }

    /// Starts a server (generating the demo cases on a new store) and waits
    /// until it is ready.
    async fn start(&self) -> Server {
        let port = free_port();
        let log = self.logs.join(format!("serve-{port}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = self
            .command(&["serve", "--demo"])
            .env("BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start ctm-stats serve");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self
                .client
                .get(format!("{}/health/ready", server.base))
                .send()
                .await
                && r.status() == 200
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "server not ready in 60 s: {}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn token(&self, role: &str, sub: &str) -> String {
        self.token_with(&["--role", role, "--sub", sub])
    }

    fn token_with(&self, args: &[&str]) -> String {
        let mut all = vec!["token"];
        all.extend_from_slice(args);
        let out = self.command(&all).output().expect("ctm-stats token");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Server {
    /// SIGKILL: no shutdown, no flush, no goodbye.
    fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `i`th query of a worker: distinct queries, so that most are fresh.
fn query(worker: usize, i: usize) -> Value {
    let dims = [["gender"], ["age_broad"], ["type_of_exploitation"]][i % 3];
    let year = 2002 + (i / 3) % 24;
    let eps = 0.05 + 0.01 * ((worker + i / 72) % 50) as f64;
    json!({"dimensions": dims, "filters": {"registration_year": [year]}, "epsilon": eps})
}

/// What the load saw.
#[derive(Default)]
struct Seen {
    /// Answered releases: (consumer, request body, response body).
    answered: Vec<(String, Value, Value)>,
    /// Statuses of everything that got an HTTP answer.
    statuses: BTreeMap<u16, usize>,
    /// 503s without `Retry-After`.
    unavailable_without_retry_after: usize,
    /// Requests with no HTTP answer (connection refused or cut).
    no_answer: usize,
}

/// `WORKERS` clients, one consumer each, sending distinct count requests
/// to `base()` until `stop` is set.
async fn load(
    site: &Site,
    base: Arc<std::sync::Mutex<String>>,
    tokens: &[(String, String)],
    stop: Arc<AtomicBool>,
    round: usize,
) -> Seen {
    let mut handles = Vec::new();
    for (w, (consumer, token)) in tokens.iter().enumerate() {
        let (client, base, stop) = (site.client.clone(), base.clone(), stop.clone());
        let (consumer, token) = (consumer.clone(), token.clone());
        handles.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let mut i = round * 10_000;
            while !stop.load(Ordering::Relaxed) {
                let body = query(w, i);
                i += 1;
                let url = format!("{}/v1/counts", base.lock().expect("lock"));
                match client
                    .post(url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        *seen.statuses.entry(status).or_default() += 1;
                        if status == 503 && res.headers().get("retry-after").is_none() {
                            seen.unavailable_without_retry_after += 1;
                        }
                        if status == 200
                            && let Ok(v) = res.json::<Value>().await
                        {
                            seen.answered.push((consumer.clone(), body, v));
                        }
                        if status == 503 {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    Err(_) => {
                        seen.no_answer += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            seen
        }));
    }
    let mut all = Seen::default();
    for h in handles {
        let s = h.await.expect("worker");
        all.answered.extend(s.answered);
        for (k, v) in s.statuses {
            *all.statuses.entry(k).or_default() += v;
        }
        all.unavailable_without_retry_after += s.unavailable_without_retry_after;
        all.no_answer += s.no_answer;
    }
    all
}

/// Runs the load for `secs`, doing `during` (a fault) after `fault_after`.
async fn load_with<F: std::future::Future<Output = ()>>(
    site: &Site,
    base: Arc<std::sync::Mutex<String>>,
    tokens: &[(String, String)],
    round: usize,
    fault_after: Duration,
    during: F,
    rest: Duration,
) -> Seen {
    let stop = Arc::new(AtomicBool::new(false));
    let run = load(site, base, tokens, stop.clone(), round);
    let control = async {
        tokio::time::sleep(fault_after).await;
        during.await;
        tokio::time::sleep(rest).await;
        stop.store(true, Ordering::Relaxed);
    };
    let (seen, ()) = tokio::join!(run, control);
    seen
}

async fn get_json(site: &Site, base: &str, path: &str, token: &str) -> Value {
    let res = site
        .client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.expect("json")
}

/// Spent (micro-units) of every consumer, from the admin view.
async fn spent(site: &Site, base: &str, admin: &str) -> HashMap<String, i64> {
    let list = get_json(site, base, "/v1/admin/consumers", admin).await;
    list["consumers"]
        .as_array()
        .expect("consumers")
        .iter()
        .map(|c| {
            (
                c["consumer"].as_str().expect("id").to_owned(),
                c["spent_micro"].as_i64().expect("spent"),
            )
        })
        .collect()
}

/// The invariants every fault must leave standing.
async fn assert_accounts(site: &Site, base: &str, answered: &[(String, Value, Value)]) {
    let auditor = site.token("auditor", "fault-auditor");
    let admin = site.token("admin", "fault-admin");
    let report = get_json(site, base, "/v1/audit/verify", &auditor).await;
    assert_eq!(report["ok"], true, "the ledger verifies: {report}");

    let res = site
        .client
        .get(format!("{base}/v1/audit/export"))
        .bearer_auth(&auditor)
        .send()
        .await
        .expect("export");
    assert_eq!(res.status(), 200);
    let text = res.text().await.expect("export body");
    let mut by_seq: HashMap<i64, Value> = HashMap::new();
    let mut debits: HashMap<String, i64> = HashMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("json line");
        let Some(seq) = v["seq"].as_i64() else {
            continue; // a checkpoint line
        };
        if v["event"] == "charge" {
            *debits
                .entry(v["consumer_id"].as_str().expect("id").to_owned())
                .or_default() += v["cost_micro"].as_i64().expect("cost");
        }
        by_seq.insert(seq, v);
    }
    for (consumer, _, res) in answered {
        let seq = res["ledger_seq"].as_i64().expect("ledger_seq");
        let entry = by_seq
            .get(&seq)
            .unwrap_or_else(|| panic!("answered release without its ledger entry {seq}: {res}"));
        assert_eq!(entry["consumer_id"], consumer.as_str(), "{entry}");
        assert_eq!(entry["query_hash"], res["query_id"], "{entry}");
        let charged = (res["charged"].as_f64().expect("charged") * 1e6).round() as i64;
        assert_eq!(entry["cost_micro"].as_i64(), Some(charged), "{entry}");
        if charged > 0 {
            assert_eq!(entry["event"], "charge", "{entry}");
        }
    }
    let before = spent(site, base, &admin).await;
    for (consumer, debited) in &debits {
        assert_eq!(
            before.get(consumer),
            Some(debited),
            "{consumer}: spent equals the sum of its ledger debits"
        );
    }

    // Repeats are free: the same request again costs nothing.
    let repeated: Vec<_> = answered.iter().rev().take(12).collect();
    let mut tokens: HashMap<&str, String> = HashMap::new();
    for (consumer, _, _) in &repeated {
        if !tokens.contains_key(consumer.as_str()) {
            tokens.insert(consumer, site.token("researcher", consumer));
        }
    }
    for (consumer, body, _) in repeated {
        let res = site
            .client
            .post(format!("{base}/v1/counts"))
            .bearer_auth(&tokens[consumer.as_str()])
            .json(body)
            .send()
            .await
            .expect("repeat");
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.expect("json");
        assert_eq!(v["repeat"], true, "{v}");
    }
    assert_eq!(
        spent(site, base, &admin).await,
        before,
        "repeats charged nothing"
    );
}

fn assert_no_500(seen: &Seen, what: &str) {
    let server_errors: Vec<_> = seen
        .statuses
        .iter()
        .filter(|(s, _)| **s >= 500 && **s != 503)
        .collect();
    assert!(server_errors.is_empty(), "{what}: {:?}", seen.statuses);
    assert_eq!(
        seen.unavailable_without_retry_after, 0,
        "{what}: a 503 without Retry-After"
    );
}

/// After a fault under load: no 500, the fault was seen (503s), the same
/// process serves again without a restart, and the accounts hold.
async fn assert_outage_then_recovery(
    site: &Site,
    server: &Server,
    tokens: &[(String, String)],
    seen: &Seen,
    what: &str,
) {
    assert_no_500(seen, what);
    assert!(
        seen.statuses.get(&503).is_some_and(|&n| n > 0),
        "the {what} was seen: {:?}",
        seen.statuses
    );
    let after = site
        .client
        .post(format!("{}/v1/counts", server.base))
        .bearer_auth(&tokens[0].1)
        .json(&json!({"dimensions": ["gender"], "epsilon": 0.07}))
        .send()
        .await
        .expect("after");
    assert_eq!(after.status(), 200, "{}", server.logs());
    assert_accounts(site, &server.base, &seen.answered).await;
}

fn researchers(site: &Site) -> Vec<(String, String)> {
    (0..WORKERS)
        .map(|w| {
            let id = format!("load-{w}");
            let t = site.token("researcher", &id);
            (id, t)
        })
        .collect()
}

/// kill -9 three times under load, restarting each time on the same store.
async fn kill_under_load(site: Site) {
    let tokens = researchers(&site);
    let mut server = site.start().await;
    let base = Arc::new(std::sync::Mutex::new(server.base.clone()));
    let mut answered = Vec::new();
    for round in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let run = load(&site, base.clone(), &tokens, stop.clone(), round);
        let kill = async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            server.kill9();
            tokio::time::sleep(Duration::from_millis(200)).await;
            stop.store(true, Ordering::Relaxed);
        };
        let (seen, ()) = tokio::join!(run, kill);
        assert_no_500(&seen, "around the kill");
        assert!(seen.no_answer > 0 || seen.statuses.values().sum::<usize>() > 0);
        answered.extend(seen.answered);
        server = site.start().await;
        *base.lock().expect("lock") = server.base.clone();
    }
    assert!(
        answered.len() > 50,
        "the load got answers: {}",
        answered.len()
    );
    assert_accounts(&site, &server.base, &answered).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_on_sqlite_loses_no_debit() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite:{}", dir.path().join("ctm.db").display());
    kill_under_load(Site::new(dir.path(), url)).await;
}

/// A database of its own on `CTM_TEST_POSTGRES_URL`, or `None` (skipped).
async fn postgres_database() -> Option<String> {
    ctm_stats::store::scratch::scratch_postgres("ctm_fault")
        .await
        .expect("a test database on CTM_TEST_POSTGRES_URL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_on_postgres_loses_no_debit() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    kill_under_load(Site::new(dir.path(), url)).await;
}

/// A PostgreSQL cluster of this test's own, which it can stop and start.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn new() -> Option<Cluster> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .max()?;
        let dir = tempfile::tempdir().ok()?;
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if as_postgres {
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .ok()?;
        }
        let cluster = Cluster {
            bin,
            data: dir.path().join("data"),
            port: free_port(),
            as_postgres,
            _dir: dir,
        };
        let ok = cluster
            .run(
                "initdb",
                &[
                    "-D",
                    &cluster.data.display().to_string(),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                ],
            )
            .success();
        (ok && cluster.pg_ctl("start")).then_some(cluster)
    }

    fn run(&self, tool: &str, args: &[&str]) -> std::process::ExitStatus {
        let tool = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(tool);
            c
        } else {
            Command::new(tool)
        };
        cmd.args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run a PostgreSQL tool")
    }

    fn pg_ctl(&self, action: &str) -> bool {
        let data = self.data.display().to_string();
        let socket = self.data.parent().map(|p| p.display().to_string());
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            socket.unwrap_or_default()
        );
        let log = format!("{data}.log");
        match action {
            "start" => self
                .run(
                    "pg_ctl",
                    &["-D", &data, "-o", &opts, "-l", &log, "-w", "start"],
                )
                .success(),
            // Immediate: the server dies without a checkpoint, as in a crash.
            _ => self
                .run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
                .success(),
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's processes: the postmaster and every child of it.
    fn processes(&self) -> Vec<String> {
        let pid_file =
            std::fs::read_to_string(self.data.join("postmaster.pid")).unwrap_or_default();
        let Some(postmaster) = pid_file.lines().next().map(str::trim).map(String::from) else {
            return Vec::new();
        };
        let mut all = vec![postmaster.clone()];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid ...: the command may hold spaces, so
            // read after its closing parenthesis.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1));
            if ppid == Some(postmaster.as_str()) {
                all.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        all
    }

    /// SIGSTOP (`freeze`) or SIGCONT to every process of the server: a hung
    /// database whose sockets stay open, as a frozen VM or a stalled disk.
    fn signal(&self, signal: &str) -> bool {
        let pids = self.processes();
        !pids.is_empty()
            && Command::new("kill")
                .arg(format!("-{signal}"))
                .args(&pids)
                .status()
                .is_ok_and(|s| s.success())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.pg_ctl("stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stopped_and_started_during_load_is_503_then_serves_again() {
    let Some(cluster) = Cluster::new() else {
        assert!(
            std::env::var("CTM_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "CTM_REQUIRE_POSTGRES=1 but no PostgreSQL cluster could be started"
        );
        eprintln!("skipping: no PostgreSQL binaries to start a cluster of this test's own");
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let site = Site::new(dir.path(), cluster.url());
    let tokens = researchers(&site);
    let server = site.start().await;
    let base = Arc::new(std::sync::Mutex::new(server.base.clone()));
    let outage = async {
        assert!(cluster.pg_ctl("stop"), "stop PostgreSQL");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(cluster.pg_ctl("start"), "start PostgreSQL");
    };
    let seen = load_with(
        &site,
        base,
        &tokens,
        0,
        Duration::from_millis(1000),
        outage,
        Duration::from_millis(2500),
    )
    .await;
    assert_outage_then_recovery(&site, &server, &tokens, &seen, "PostgreSQL outage").await;
}

/// One request of the freeze test: what it is, and the request.
type Probe = (&'static str, reqwest::RequestBuilder);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_postgres_is_503_within_the_deadline_on_every_endpoint_then_serves_again() {
    let Some(cluster) = Cluster::new() else {
        assert!(
            std::env::var("CTM_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "CTM_REQUIRE_POSTGRES=1 but no PostgreSQL cluster could be started"
        );
        eprintln!("skipping: no PostgreSQL binaries to start a cluster of this test's own");
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let site = Site::new(dir.path(), cluster.url());
    let tokens = researchers(&site);
    let server = site.start().await;
    let base = server.base.clone();
    let researcher = &tokens[0].1;
    let auditor = site.token("auditor", "freeze-auditor");
    let admin = site.token("admin", "freeze-admin");
    let government = site.token_with(&[
        "--role",
        "government",
        "--sub",
        "freeze-gov",
        "--country",
        "MDA",
    ]);
    let count = json!({"dimensions": ["gender"], "epsilon": 0.3});
    let report = format!("{base}/v1/national/MDA/report?from_year=2015");
    // Answered before the freeze, so that during it they are repeats: a
    // repeat writes a replay entry through the ledger writer's connection.
    let res = site
        .client
        .post(format!("{base}/v1/counts"))
        .bearer_auth(researcher)
        .json(&count)
        .send()
        .await
        .expect("count");
    assert_eq!(res.status(), 200);
    let res = site
        .client
        .get(&report)
        .bearer_auth(&government)
        .send()
        .await
        .expect("report");
    assert_eq!(res.status(), 200, "{}", server.logs());

    // The deadline is DB_TIMEOUT_MS (2 s by default); a request may also
    // wait a second for a pool connection, and the probe up to a second.
    let bound = Duration::from_secs(6);
    let probes = |c: &reqwest::Client| -> Vec<Probe> {
        vec![
            (
                "fresh count",
                c.post(format!("{base}/v1/counts"))
                    .bearer_auth(researcher)
                    .json(&json!({"dimensions": ["age_broad"], "epsilon": 0.2})),
            ),
            (
                "repeat count",
                c.post(format!("{base}/v1/counts"))
                    .bearer_auth(researcher)
                    .json(&count),
            ),
            (
                "estimate",
                c.post(format!("{base}/v1/counts/estimate"))
                    .bearer_auth(researcher)
                    .json(&count),
            ),
            ("repeat report", c.get(&report).bearer_auth(&government)),
            (
                "budget",
                c.get(format!("{base}/v1/budget")).bearer_auth(researcher),
            ),
            (
                "budget history",
                c.get(format!("{base}/v1/budget/history"))
                    .bearer_auth(researcher),
            ),
            (
                "ledger entries",
                c.get(format!("{base}/v1/audit/entries?limit=5"))
                    .bearer_auth(&auditor),
            ),
            (
                "verify",
                c.get(format!("{base}/v1/audit/verify"))
                    .bearer_auth(&auditor),
            ),
            (
                "checkpoint",
                c.post(format!("{base}/v1/audit/checkpoints"))
                    .bearer_auth(&auditor),
            ),
            (
                "admin list",
                c.get(format!("{base}/v1/admin/consumers"))
                    .bearer_auth(&admin),
            ),
            (
                "admin limit",
                c.put(format!("{base}/v1/admin/consumers/freeze-new/budget"))
                    .bearer_auth(&admin)
                    .json(&json!({"limit": 2.0, "role": "researcher"})),
            ),
            ("ready", c.get(format!("{base}/health/ready"))),
            ("health", c.get(format!("{base}/health"))),
        ]
    };

    let shared = Arc::new(std::sync::Mutex::new(base.clone()));
    let checked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let freeze = {
        let (site, cluster, checked) = (&site, &cluster, checked.clone());
        async move {
            assert!(cluster.signal("STOP"), "freeze PostgreSQL");
            // Let requests caught in flight by the freeze meet it too.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut answers = Vec::new();
            for (what, req) in probes(&site.client) {
                let started = Instant::now();
                let res = req.timeout(bound * 3).send().await;
                answers.push((what, started.elapsed(), res));
            }
            assert!(cluster.signal("CONT"), "thaw PostgreSQL");
            for (what, took, res) in answers {
                let res =
                    res.unwrap_or_else(|e| panic!("{what}: no answer during the freeze: {e}"));
                let status = res.status().as_u16();
                let retry_after = res.headers().contains_key("retry-after");
                let body = res.text().await.unwrap_or_default();
                // Bounded waiting is the property under test, not speed.
                eprintln!("freeze: {what}: {status} after {} ms", took.as_millis());
                assert!(took < bound, "{what} waited {took:?} during the freeze");
                assert_eq!(status, 503, "{what} during the freeze: {body}");
                assert!(
                    retry_after || what == "health",
                    "{what}: 503 without Retry-After"
                );
                if what == "ready" {
                    let v: Value = serde_json::from_str(&body).expect("ready json");
                    assert_eq!(v["ledger_writer"], false, "the writer is not ready: {v}");
                    assert_eq!(v["store"], false, "{v}");
                }
                checked.lock().expect("lock").push(what.to_owned());
            }
        }
    };
    let seen = load_with(
        &site,
        shared,
        &tokens,
        0,
        Duration::from_millis(800),
        freeze,
        Duration::from_millis(2500),
    )
    .await;
    assert_eq!(
        checked.lock().expect("lock").len(),
        13,
        "every probe was checked"
    );
    // Serves again without a restart, and readiness says so.
    let mut ready = false;
    for _ in 0..50 {
        let res = site
            .client
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .expect("ready");
        if res.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "ready again after the thaw: {}", server.logs());
    assert_outage_then_recovery(&site, &server, &tokens, &seen, "PostgreSQL freeze").await;
}

/// A tmpfs of `mib` MiB mounted at `dir`, or `None` where this machine does
/// not let the test mount one.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, mib: u32) -> Option<Tmpfs> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system of `dir` with a file `filler`, leaving no space.
fn fill(filler: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(filler).expect("filler");
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_under_sqlite_is_503_then_serves_again_once_freed() {
    let outer = tempfile::tempdir().expect("dir");
    let mnt = outer.path().join("disk");
    std::fs::create_dir(&mnt).expect("mount point");
    let Some(_tmpfs) = Tmpfs::mount(&mnt, 48) else {
        eprintln!("skipping: this machine does not allow mounting a tmpfs (needs root)");
        return;
    };
    let url = format!("sqlite:{}", mnt.join("ctm.db").display());
    // The log on the same full disk, as a single-disk host has it.
    let site = Site::new(&mnt, url);
    let tokens = researchers(&site);
    let server = site.start().await;
    let base = Arc::new(std::sync::Mutex::new(server.base.clone()));
    let filler = mnt.join("filler");
    let full = async {
        fill(&filler);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        std::fs::remove_file(&filler).expect("free the disk");
    };
    let seen = load_with(
        &site,
        base,
        &tokens,
        0,
        Duration::from_millis(800),
        full,
        Duration::from_millis(1500),
    )
    .await;
    assert_outage_then_recovery(&site, &server, &tokens, &seen, "full disk").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_logged_at_info_with_its_route_not_its_target() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite:{}", dir.path().join("ctm.db").display());
    let site = Site::new(dir.path(), url);
    let server = site.start().await;
    let token = site.token("researcher", "logged");
    let res = site
        .client
        .post(format!("{}/v1/counts?marker=q7x", server.base))
        .bearer_auth(&token)
        .json(&json!({"dimensions": ["no_such_dimension"]}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 422);
    let gov = site.token_with(&["--role", "government", "--sub", "nosy", "--country", "USA"]);
    let res = site
        .client
        .get(format!(
            "{}/v1/national/MDA/report?from_year=2015",
            server.base
        ))
        .bearer_auth(&gov)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 403);
    // The log is written as lines arrive; give the writer a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = server.logs();
    let refused: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("request refused"))
        .collect();
    assert_eq!(refused.len(), 2, "{logs}");
    assert!(refused.iter().all(|l| l.contains("INFO")), "{logs}");
    assert!(refused[0].contains("route=/v1/counts"), "{logs}");
    assert!(refused[0].contains("query.unknown_dimension"), "{logs}");
    assert!(
        refused[1].contains("route=/v1/national/{country}/report"),
        "{logs}"
    );
    for leak in ["q7x", "MDA", "from_year"] {
        assert!(!logs.contains(leak), "{leak} in the log:\n{logs}");
    }
    assert!(
        !logs
            .lines()
            .any(|l| l.contains("WARN") && l.contains("request")),
        "{logs}"
    );
}
