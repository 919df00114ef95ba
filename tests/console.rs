//! The web console in a real browser, and the researcher quick start in
//! Python, both against the real binary (`serve --demo`, as a person would
//! start it).
//!
//! The browser is Debian's Chromium driven through ChromeDriver with the
//! W3C WebDriver protocol (a small client over reqwest below). The browser
//! run checks what a person would see in each role, and what nobody should:
//! no request to any host but the service (read from the browser's own
//! network log), no token in a URL, the page, the browser console or the
//! service's log. Screenshots of every view go to
//! `target/console-screenshots/` (not committed).
//!
//! Chromium, ChromeDriver and the Python environment are installed by
//! `scripts/test-deps.sh`; where they are missing these tests say so and
//! pass, unless `CTM_REQUIRE_BROWSER=1` (as CI sets).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn required() -> bool {
    std::env::var("CTM_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// Whether `what` is here; if not, the test is skipped, or fails under CI.
fn available(path: &Path, what: &str) -> bool {
    if path.exists() {
        return true;
    }
    assert!(
        !required(),
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

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// `ctm-stats serve --demo` on a new SQLite store, with its banner and log.
struct Demo {
    child: Child,
    base: String,
    banner: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Demo {
    async fn start() -> Demo {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let (out, log) = (dir.path().join("stdout"), dir.path().join("serve.log"));
        // CTM_SERVE_BIN runs another build (e.g. target/release/ctm-stats,
        // to measure the page load of a release build).
        let bin = std::env::var("CTM_SERVE_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ctm-stats").to_owned());
        let child = Command::new(bin)
            .args(["serve", "--demo"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATA_DIR", dir.path())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", dir.path().join("ctm.db").display()),
            )
            .env("DEMO_CASES", "20000")
            .env("BIND", format!("127.0.0.1:{port}"))
            // Everything the service logs, at its most talkative.
            .env("RUST_LOG", "debug")
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start ctm-stats serve --demo");
        let mut demo = Demo {
            child,
            base: format!("http://127.0.0.1:{port}"),
            banner: String::new(),
            log,
            _dir: dir,
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
                std::fs::read_to_string(&demo.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The token the banner printed for `role`.
    fn token(&self, role: &str) -> String {
        let prefix = format!("export {}_TOKEN=", role.to_ascii_uppercase());
        self.banner
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {role} token in the banner:\n{}", self.banner))
            .trim()
            .to_owned()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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

/// A Chromium session through ChromeDriver (W3C WebDriver over HTTP).
struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    downloads: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(downloads: &Path) -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let root = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !http
            .get(format!("{root}/status"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-default-apps",
                    "--window-size=1280,900", "--lang=en-GB",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                },
            },
            "goog:loggingPrefs": {"performance": "ALL", "browser": "ALL"},
        }}});
        let answer: Value = http
            .post(format!("{root}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session JSON");
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        let browser = Browser {
            driver,
            http,
            session: format!("{root}/session/{id}"),
            downloads: downloads.to_path_buf(),
            _profile: profile,
        };
        browser
            .cmd(
                "POST",
                "/chromium/send_command",
                Some(json!({"cmd": "Browser.setDownloadBehavior", "params": {
                    "behavior": "allow", "downloadPath": downloads.display().to_string()}})),
            )
            .await;
        browser
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let req = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.post(&url).json(&body.unwrap_or(json!({}))),
        };
        let answer: Value = req
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("webdriver JSON");
        if let Some(err) = answer["value"].get("error") {
            panic!(
                "webdriver {method} {path}: {err}: {}",
                answer["value"]["message"]
            );
        }
        answer["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url}))).await;
    }

    async fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .cmd(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().expect("element id").to_owned()
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/click"), None)
            .await;
    }

    /// Types `text` into the element, as keystrokes.
    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.cmd("GET", &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the JavaScript expression `condition` is truthy.
    async fn wait(&self, condition: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self
                .js(&format!("return !!({condition});"), json!([]))
                .await;
            if v == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                self.screenshot("failure").await;
                let alert = self
                    .js(
                        "const a = document.getElementById('alert'); return a.hidden ? '' : a.textContent;",
                        json!([]),
                    )
                    .await;
                panic!("timed out waiting for {what} ({condition}); alert: {alert}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.cmd("GET", "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("PNG");
        std::fs::write(screenshots().join(format!("{name}.png")), bytes).expect("screenshot");
    }

    async fn window(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Chromium's log of `kind` (`performance` or `browser`) since the last read.
    async fn log(&self, kind: &str) -> Vec<Value> {
        self.cmd("POST", "/se/log", Some(json!({"type": kind})))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn sign_in(&self, base: &str, token: &str) {
        self.goto(&format!("{base}/console/")).await;
        self.wait(
            "document.body.dataset.ready === 'true' || document.querySelector('#view')?.dataset.ready",
            "the console to start",
        )
        .await;
        self.js(
            "sessionStorage.clear(); location.hash = ''; location.reload();",
            json!([]),
        )
        .await;
        self.wait("document.body.dataset.ready === 'true'", "the sign-in form")
            .await;
        // Keyboard only: the token, then Enter.
        self.type_into("#token", &format!("{token}\u{E007}")).await;
        self.wait(
            "document.querySelector('#view').dataset.ready === 'true' || !document.querySelector('#sign-in-error').hidden",
            "signing in",
        )
        .await;
    }

    /// Answers the console's confirmation dialog with "Confirm".
    async fn confirm(&self) {
        self.wait(
            "document.querySelector('#confirm').open",
            "the confirmation",
        )
        .await;
        self.click("#confirm-ok").await;
    }

    /// Waits for a downloaded file whose name satisfies `name`, and reads it.
    async fn downloaded(&self, name: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for entry in std::fs::read_dir(&self.downloads)
                .expect("downloads")
                .flatten()
            {
                let file = entry.file_name().to_string_lossy().into_owned();
                if name(&file) && !file.ends_with(".crdownload") {
                    return std::fs::read_to_string(entry.path()).expect("downloaded file");
                }
            }
            assert!(Instant::now() < deadline, "no download arrived");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A figure as the console prints it ("1,234.5", "–") as a number.
fn number(text: &str) -> f64 {
    text.trim()
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {text:?}"))
}

/// The stat value in the element `id`.
async fn stat(b: &Browser, id: &str) -> f64 {
    number(&b.text(&format!("#{id} .v")).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_works_in_a_real_browser_and_nothing_leaves_for_another_host() {
    if !available(Path::new(CHROMIUM), "chromium")
        || !available(Path::new(CHROMEDRIVER), "chromedriver")
    {
        return;
    }
    let demo = Demo::start().await;
    assert!(
        demo.banner.contains(&format!("{}/console/", demo.base)),
        "the demo banner prints the console address:\n{}",
        demo.banner
    );
    let downloads = tempfile::tempdir().expect("downloads");
    let b = Browser::start(downloads.path()).await;
    let tokens: Vec<(&str, String)> = ["researcher", "government", "regional", "auditor", "admin"]
        .into_iter()
        .map(|r| (r, demo.token(r)))
        .collect();
    let token = |role: &str| {
        tokens
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, t)| t.clone())
            .expect("token")
    };

    // How long the console takes to load, first from nothing, then from
    // the browser's cache (revalidated with ETags).
    for visit in ["first", "cached"] {
        b.goto(&format!("{}/console/", demo.base)).await;
        b.wait("document.body.dataset.ready === 'true'", "the console")
            .await;
        let t = b
            .js(
                "const n = performance.getEntriesByType('navigation')[0]; return [n.domContentLoadedEventEnd, n.loadEventEnd, performance.getEntriesByType('resource').reduce((s, r) => s + r.transferSize, 0)]",
                json!([]),
            )
            .await;
        println!(
            "console page load ({visit} visit): DOMContentLoaded {:.0} ms, load {:.0} ms, {} bytes transferred",
            t[0].as_f64().unwrap_or(-1.0),
            t[1].as_f64().unwrap_or(-1.0),
            t[2]
        );
    }

    // Before sign-in the header offers no "Sign out".
    assert_eq!(
        b.js(
            "return document.getElementById('sign-out').getClientRects().length",
            json!([])
        )
        .await,
        json!(0),
        "Sign out is not shown before sign-in"
    );

    // A wrong token: a clear message, no session.
    let wrong = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJub2JvZHkifQ.d3JvbmctdG9rZW4";
    b.sign_in(&demo.base, wrong).await;
    let error = b.text("#sign-in-error").await;
    assert!(
        error.contains("not accepted"),
        "a wrong token is explained: {error:?}"
    );
    assert_eq!(
        b.js("return sessionStorage.length", json!([])).await,
        json!(0),
        "a refused token is not kept"
    );
    b.screenshot("sign-in-refused").await;

    // Researcher: estimate, confirm, see the chart; the budget drops by the charge.
    let researcher = token("researcher");
    let before = demo.get("/v1/budget", &researcher).await["remaining"]
        .as_f64()
        .expect("remaining");
    b.sign_in(&demo.base, &researcher).await;
    b.wait("document.querySelector('#count-form')", "the counts form")
        .await;
    b.screenshot("researcher-counts-form").await;
    for dim in ["gender", "age_broad"] {
        b.click(&format!("input[name=dimension][value={dim}]"))
            .await;
    }
    b.type_into("#year-from", "2021").await;
    b.type_into("#year-to", "2021").await;
    b.js("document.getElementById('cost').value = '0.3'", json!([]))
        .await;
    b.click("#estimate").await;
    b.wait(
        "!document.querySelector('#estimate-box').hidden",
        "the estimate",
    )
    .await;
    let cost = stat(&b, "est-charge").await;
    assert!(
        (cost - 0.3).abs() < 1e-9,
        "the estimate shows the cost: {cost}"
    );
    assert_eq!(stat(&b, "est-remaining").await, before);
    assert!((stat(&b, "est-after").await - (before - cost)).abs() < 1e-6);
    b.screenshot("researcher-estimate").await;
    assert_eq!(
        demo.get("/v1/budget", &researcher).await["remaining"],
        json!(before),
        "an estimate spends nothing"
    );
    b.click("#release").await;
    b.wait(
        "document.querySelector('#confirm').open",
        "the confirmation",
    )
    .await;
    // Keyboard: the confirm button has the focus; Enter confirms.
    b.js("return document.activeElement.id", json!([]))
        .await
        .as_str()
        .filter(|id| *id == "confirm-ok")
        .expect("the confirm button has the focus");
    b.type_into("#confirm-ok", "\u{E007}").await;
    b.wait("!document.querySelector('#result').hidden", "the result")
        .await;
    let charged = stat(&b, "res-charged").await;
    assert!((charged - cost).abs() < 1e-9);
    let after = demo.get("/v1/budget", &researcher).await["remaining"]
        .as_f64()
        .expect("remaining");
    assert!((after - (before - charged)).abs() < 1e-9);
    assert!((stat(&b, "res-remaining").await - after).abs() < 1e-6);
    // One bar per released cell, every suppressed cell marked, as the API says.
    let again: Value = reqwest::Client::new()
        .post(format!("{}/v1/counts", demo.base))
        .bearer_auth(&researcher)
        .json(&json!({"dimensions": ["gender", "age_broad"],
            "filters": {"registration_year": {"from": 2021, "to": 2021}}, "epsilon": 0.3}))
        .send()
        .await
        .expect("repeat")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        again["charged"],
        json!(0.0),
        "the same query again is a free repeat"
    );
    let cells = again["cells"].as_array().expect("cells");
    let suppressed = cells
        .iter()
        .filter(|c| c["suppressed"] == json!(true))
        .count();
    let released = cells.len() - suppressed;
    let bars = b
        .js(
            "return document.querySelectorAll('#result g.released-bar rect').length",
            json!([]),
        )
        .await;
    let marks = b
        .js(
            "return document.querySelectorAll('#result g.suppressed-mark text').length",
            json!([]),
        )
        .await;
    assert_eq!(bars, json!(released), "one bar per released cell");
    assert_eq!(marks, json!(suppressed), "each suppressed cell marked");
    assert!(
        suppressed > 0 && released > 0,
        "the query shows both kinds ({released} released, {suppressed} suppressed)"
    );
    assert_eq!(
        b.js("return document.querySelectorAll('#result g.released-bar rect[height=\"0\"], #result g.released-bar rect[width=\"0\"]').length", json!([])).await,
        json!(0),
        "no zero-length bar"
    );
    let ledger_seq = b
        .text("#res-seq .v")
        .await
        .trim_start_matches('#')
        .parse::<i64>()
        .expect("the release's ledger entry");
    b.screenshot("researcher-result").await;
    b.click("#download-csv").await;
    let csv = b.downloaded(|f| f == "counts.csv").await;
    assert!(
        csv.lines().count() > cells.len(),
        "the CSV holds every cell"
    );

    // The budget view shows the same remaining amount and the history.
    b.click("nav a[data-view=budget]").await;
    b.wait(
        "document.querySelector('#budget-remaining')",
        "the budget view",
    )
    .await;
    assert!((stat(&b, "budget-remaining").await - after).abs() < 1e-6);
    b.wait("document.querySelector('g.spend-line')", "the spend chart")
        .await;
    b.screenshot("researcher-budget").await;

    // The catalog: every dimension a researcher may use, with its values.
    b.click("nav a[data-view=catalog]").await;
    b.wait(
        "document.querySelector('#view[data-view=catalog] table code')",
        "the catalog",
    )
    .await;
    let catalog_text = b.text("#view").await;
    for expected in ["gender", "age_broad", "citizenship", "researcher"] {
        assert!(
            catalog_text.contains(expected),
            "the catalog shows {expected}"
        );
    }
    b.screenshot("researcher-catalog").await;

    // Layout at phone width: nothing wider than the screen.
    b.window(390, 844).await;
    b.click("nav a[data-view=counts]").await;
    b.wait("document.querySelector('#count-form')", "the counts form")
        .await;
    let overflow = b
        .js(
            "return document.documentElement.scrollWidth - window.innerWidth",
            json!([]),
        )
        .await;
    assert!(
        overflow.as_i64().unwrap_or(99) <= 1,
        "no horizontal scroll at phone width ({overflow} px)"
    );
    b.screenshot("researcher-counts-phone").await;
    b.window(1280, 900).await;

    // Government: its national report, then its SDMX-CSV.
    b.sign_in(&demo.base, &token("government")).await;
    b.wait(
        "document.querySelector('#national-release')",
        "the report's cost",
    )
    .await;
    b.click("#national-release").await;
    b.confirm().await;
    b.wait(
        "document.querySelector('#download-report-sdmx')",
        "the report",
    )
    .await;
    let charts = b
        .js(
            "return document.querySelectorAll('#national-report figure svg').length",
            json!([]),
        )
        .await;
    assert!(
        charts.as_u64().unwrap_or(0) >= 4,
        "the report's tables as charts: {charts}"
    );
    assert!(
        b.js(
            "return document.querySelectorAll('#national-report g.margin-band').length",
            json!([])
        )
        .await
        .as_u64()
        .unwrap_or(0)
            >= 1,
        "victims by year drawn with a margin band"
    );
    b.screenshot("government-report").await;
    b.js(
        "document.querySelector('#national-report .grid').scrollIntoView()",
        json!([]),
    )
    .await;
    b.screenshot("government-report-charts").await;
    b.click("#download-report-sdmx").await;
    let sdmx = b
        .downloaded(|f| f.contains("sdmx") || f.starts_with("report"))
        .await;
    assert!(
        sdmx.lines().next().unwrap_or("").contains("REF_AREA") || sdmx.contains("USA"),
        "the SDMX-CSV download: {}",
        sdmx.lines().next().unwrap_or("")
    );

    // Government: the bilateral flow with one other country.
    b.type_into("#bilateral-other", "mex").await;
    b.click("#bilateral-go").await;
    b.confirm().await;
    b.wait(
        "document.querySelector('#bilateral-result figure')",
        "the bilateral flow",
    )
    .await;
    let directions = b
        .js(
            "return document.querySelectorAll('#bilateral-result tbody tr').length",
            json!([]),
        )
        .await;
    assert_eq!(directions, json!(2), "both directions");
    b.js(
        "document.querySelector('#bilateral').scrollIntoView()",
        json!([]),
    )
    .await;
    b.screenshot("government-bilateral").await;

    // Regional partner: the region's report with its flow matrix.
    b.sign_in(&demo.base, &token("regional")).await;
    b.wait(
        "document.querySelector('#national-release')",
        "the regional report's cost",
    )
    .await;
    b.click("#national-release").await;
    b.confirm().await;
    b.wait(
        "document.querySelector('[data-table=flow_within] svg')",
        "the flow matrix",
    )
    .await;
    let regional: Value = demo
        .get("/v1/regional/gms/report", &token("regional"))
        .await;
    let within = regional["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == "flow_within"))
        .expect("flow_within");
    let flow_cells = within["cells"].as_array().expect("cells");
    let flow_suppressed = flow_cells
        .iter()
        .filter(|c| c["suppressed"] == json!(true))
        .count();
    assert_eq!(
        b.js(
            "return document.querySelectorAll('[data-table=flow_within] g.flow-cell rect').length",
            json!([])
        )
        .await,
        json!(flow_cells.len() - flow_suppressed),
        "one square per released flow"
    );
    assert_eq!(
        b.js("return document.querySelectorAll('[data-table=flow_within] g.suppressed-mark text').length", json!([])).await,
        json!(flow_suppressed),
        "each suppressed flow marked"
    );
    b.js(
        "document.querySelector('[data-table=flow_within]').scrollIntoView()",
        json!([]),
    )
    .await;
    b.screenshot("regional-flow-matrix").await;

    // Auditor: the release on the timeline, a successful verification, a
    // checkpoint whose signature the browser checks, the export.
    b.sign_in(&demo.base, &token("auditor")).await;
    b.wait(
        "document.querySelector('#timeline g.ledger-dot')",
        "the timeline",
    )
    .await;
    let entries = b.text("#entry-count .v").await;
    let dots = b
        .js(
            "return document.querySelectorAll('#timeline g.ledger-dot circle').length",
            json!([]),
        )
        .await;
    assert_eq!(
        dots,
        json!(number(&entries) as u64),
        "one dot per ledger entry"
    );
    let row = b
        .js(
            "return [...document.querySelectorAll('#timeline tbody tr')].map(r => [...r.cells].map(c => c.textContent)).find(c => c[0] === String(arguments[0]))",
            json!([ledger_seq]),
        )
        .await;
    assert_eq!(
        row[2],
        json!("demo-researcher"),
        "the release's entry: {row}"
    );
    assert_eq!(row[3], json!("charge"));
    b.click("#verify-now").await;
    b.wait(
        "document.querySelector('#verify-status')",
        "the verification",
    )
    .await;
    assert_eq!(b.text("#verify-status").await, "verified");
    b.click("#sign-checkpoint").await;
    b.confirm().await;
    b.wait(
        "document.querySelector('#checkpoints [data-status]')",
        "a checkpoint",
    )
    .await;
    assert_eq!(
        b.js(
            "return document.querySelector('#checkpoints [data-status]').dataset.status",
            json!([])
        )
        .await,
        json!("valid"),
        "the checkpoint's signature checks in the browser"
    );
    assert_eq!(
        b.text("#ledger-showing").await,
        format!("Showing {entries} of {entries} entries, newest first."),
    );
    b.js(
        "document.querySelector('#timeline').scrollIntoView()",
        json!([]),
    )
    .await;
    b.screenshot("auditor-timeline").await;
    b.js(
        "document.querySelector('#checkpoints').scrollIntoView()",
        json!([]),
    )
    .await;
    b.screenshot("auditor-checkpoints").await;
    auditor_pages_the_ledger_pins_its_key_and_verifies_the_export(
        &demo,
        &b,
        &token("auditor"),
        &token("admin"),
    )
    .await;

    // Admin: set a budget, with a confirmation.
    b.sign_in(&demo.base, &token("admin")).await;
    b.wait("document.querySelector('#budget-form')", "the budgets view")
        .await;
    b.type_into("#b-consumer", "demo-researcher").await;
    b.type_into("#b-limit", "0.5").await;
    assert_eq!(
        b.js(
            "return [...document.querySelectorAll('#b-role option')].map(o => o.value)",
            json!([])
        )
        .await,
        json!([
            "",
            "researcher",
            "government",
            "regional",
            "auditor",
            "admin"
        ]),
        "every role can be given to a new consumer"
    );
    b.js(
        "document.getElementById('b-role').value = 'government'",
        json!([]),
    )
    .await;
    b.click("#b-set").await;
    b.wait(
        "!document.querySelector('#alert').hidden",
        "the role mismatch",
    )
    .await;
    let alert = b.text("#alert").await;
    assert!(alert.contains("Role mismatch"), "{alert}");
    assert_eq!(
        b.js("return document.querySelector('#confirm').open", json!([]))
            .await,
        json!(false),
        "a wrong role is refused before the confirmation"
    );
    b.js("document.getElementById('b-role').value = ''", json!([]))
        .await;
    b.click("#b-set").await;
    b.confirm().await;
    b.wait("document.querySelector('#alert.info')", "the change")
        .await;
    assert_eq!(
        demo.get("/v1/budget", &researcher).await["limit"],
        json!(0.5)
    );
    b.screenshot("admin-budgets").await;

    // The researcher, now short of budget: told how much is left and what
    // that would buy, and the release cannot be pressed.
    b.sign_in(&demo.base, &researcher).await;
    b.wait("document.querySelector('#count-form')", "the counts form")
        .await;
    b.click("input[name=dimension][value=gender]").await;
    b.js("document.getElementById('cost').value = '1'", json!([]))
        .await;
    b.click("#estimate").await;
    b.wait(
        "document.querySelector('#est-alternative')",
        "what is left would buy",
    )
    .await;
    let unaffordable = b.text("#est-unaffordable").await;
    assert!(
        unaffordable.contains("0.2"),
        "how much is left: {unaffordable}"
    );
    let alternative = b.text("#est-alternative").await;
    assert!(
        alternative.contains("0.2") && alternative.contains("margin of error would be"),
        "what a smaller cost gives: {alternative}"
    );
    assert_eq!(
        b.js(
            "return document.getElementById('release').disabled",
            json!([])
        )
        .await,
        json!(true)
    );
    b.screenshot("researcher-short-of-budget").await;

    // What the browser did: no request to any other host, no token in any URL.
    let network = b.log("performance").await;
    // (document, url) of every request the browser sent or tried to send.
    let requests: Vec<(String, String)> = network
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e["message"].as_str()?).ok())
        .filter(|m| m["message"]["method"] == json!("Network.requestWillBeSent"))
        .map(|m| {
            let p = &m["message"]["params"];
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (s(&p["documentURL"]), s(&p["request"]["url"]))
        })
        .collect();
    let own = format!("{}/", demo.base);
    let urls: Vec<String> = requests.iter().map(|(_, u)| u.clone()).collect();
    let from_console: Vec<&String> = requests
        .iter()
        .filter(|(doc, _)| doc.starts_with(&own))
        .map(|(_, u)| u)
        .collect();
    assert!(
        from_console.len() > 20,
        "the network log was read ({} requests)",
        from_console.len()
    );
    let foreign: Vec<&&String> = from_console
        .iter()
        .filter(|u| !(u.starts_with(&own) || u.starts_with("blob:") || u.starts_with("data:")))
        .collect();
    assert!(
        foreign.is_empty(),
        "the console asked other hosts: {foreign:?}"
    );
    // Nor did anything else in this browser go out on the network (its own
    // chrome:// pages, such as the first empty tab, are not network requests).
    let outside: Vec<&String> = urls
        .iter()
        .filter(|u| {
            (u.starts_with("http:") || u.starts_with("https:") || u.starts_with("ws"))
                && !u.starts_with(&own)
        })
        .collect();
    assert!(
        outside.is_empty(),
        "network requests to other hosts: {outside:?}"
    );
    let console_log = b.log("browser").await;
    let console_text = serde_json::to_string(&console_log).unwrap_or_default();
    assert!(
        !console_text.contains("Content Security Policy"),
        "the console runs under its CSP without a violation: {console_text}"
    );
    let service_log = demo.log();
    assert!(
        service_log.contains("/console/"),
        "the service log was read"
    );
    for (role, t) in tokens
        .iter()
        .map(|(r, t)| (*r, t.as_str()))
        .chain([("wrong", wrong)])
    {
        let signature = t.rsplit('.').next().unwrap_or(t);
        assert!(
            !urls.iter().any(|u| u.contains(signature)),
            "{role} token in a URL"
        );
        assert!(
            !console_text.contains(signature),
            "{role} token in the browser console"
        );
        assert!(
            !service_log.contains(signature),
            "{role} token in the service log"
        );
    }
    b.cmd("DELETE", "", None).await;
}

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

/// The auditor's ledger beyond one page (newest first, "Load older
/// entries", "showing N of M"), the pinned key compared with the served one,
/// and the export verified by running the page's command exactly as shown.
async fn auditor_pages_the_ledger_pins_its_key_and_verifies_the_export(
    demo: &Demo,
    b: &Browser,
    auditor: &str,
    admin: &str,
) {
    // No key pinned yet: a placeholder, and why.
    assert_eq!(
        b.js(
            "return document.getElementById('key-match').dataset.match",
            json!([])
        )
        .await,
        json!("none")
    );
    assert!(
        b.text("#verify-command")
            .await
            .contains("--public-key <your pinned key>")
    );
    assert!(b.text("#key-status").await.contains("out of band"));

    // More entries than one page of the view (1000): budget changes.
    let client = reqwest::Client::new();
    let put = |i: usize| {
        let request = client
            .put(format!(
                "{}/v1/admin/consumers/ledger-filler/budget",
                demo.base
            ))
            .bearer_auth(admin)
            .json(&json!({"limit": 5.0 + i as f64 * 1e-6, "role": "researcher"}));
        async move {
            let r = request.send().await.expect("budget change");
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        }
    };
    put(0).await;
    for chunk in (1..1100).collect::<Vec<_>>().chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|&i| put(i))).await;
    }
    let size = demo.get("/v1/audit/entries?limit=1", auditor).await["ledger_size"]
        .as_u64()
        .expect("ledger_size");
    assert!((1100..2000).contains(&size), "ledger of {size} entries");

    b.sign_in(&demo.base, auditor).await;
    b.wait(
        "document.querySelector('#timeline g.ledger-dot')",
        "the timeline",
    )
    .await;
    let thousands = |n: u64| {
        let s = n.to_string();
        if s.len() > 3 {
            format!("{},{}", &s[..s.len() - 3], &s[s.len() - 3..])
        } else {
            s
        }
    };
    assert_eq!(stat(b, "entry-count").await as u64, size);
    assert_eq!(
        b.text("#ledger-showing").await,
        format!(
            "Showing 1,000 of {} entries, newest first (entries #{} to #{}).",
            thousands(size),
            thousands(size - 999),
            thousands(size)
        )
    );
    let dots = "return document.querySelectorAll('#timeline g.ledger-dot circle').length";
    assert_eq!(b.js(dots, json!([])).await, json!(1000));
    let first_row = "return document.querySelector('#timeline tbody tr').cells[0].textContent";
    assert_eq!(
        b.js(first_row, json!([])).await,
        json!(size.to_string()),
        "newest first"
    );
    b.click("#load-older").await;
    b.wait(
        &format!(
            "document.querySelector('#ledger-showing').textContent.startsWith('Showing {} of')",
            thousands(size)
        ),
        "the older entries",
    )
    .await;
    assert_eq!(
        b.text("#ledger-showing").await,
        format!("Showing {0} of {0} entries, newest first.", thousands(size))
    );
    assert_eq!(b.js(dots, json!([])).await, json!(size));
    assert_eq!(
        b.js(
            "return document.getElementById('load-older').getClientRects().length",
            json!([])
        )
        .await,
        json!(0),
        "nothing older to load"
    );

    // A pinned key other than the served one: a warning, and the command
    // uses the pinned key.
    let served = demo.get("/v1/audit/public-key", auditor).await["public_key"]
        .as_str()
        .expect("public key")
        .to_owned();
    let other: String = served
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let pin = "const k = document.getElementById('pinned-key'); k.value = arguments[0]; k.dispatchEvent(new Event('change'));";
    b.js(pin, json!([other])).await;
    let matched = "return document.getElementById('key-match').dataset.match";
    assert_eq!(b.js(matched, json!([])).await, json!("no"));
    let warning = b.text("#key-status").await;
    assert!(
        warning.contains("MISMATCH") && warning.contains("Warning"),
        "{warning}"
    );
    assert!(b.text("#verify-command").await.contains(&other));
    b.js(
        "document.querySelector('#key-status').scrollIntoView()",
        json!([]),
    )
    .await;
    b.screenshot("auditor-key-mismatch").await;

    // The key received out of band (here: read with curl's equivalent).
    b.js(pin, json!([served])).await;
    assert_eq!(b.js(matched, json!([])).await, json!("yes"));

    // The export, verified by the command exactly as the page shows it.
    b.click("#download-export").await;
    b.wait(
        "!document.querySelector('#verify-command').textContent.includes('<downloaded export>')",
        "the saved file's name in the command",
    )
    .await;
    let shown = b.text("#verify-command").await;
    let words: Vec<&str> = shown.split_whitespace().collect();
    assert_eq!(words[..3], ["ctm-stats", "audit", "verify"], "{shown}");
    assert_eq!(words[4..], ["--public-key", served.as_str()], "{shown}");
    let export = b.downloaded(|f| f == words[3]).await;
    assert!(export.lines().count() as u64 > size);
    let run = Command::new(env!("CARGO_BIN_EXE_ctm-stats"))
        .args(&words[1..])
        .current_dir(&b.downloads)
        .output()
        .expect("run the page's verify command");
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && out.starts_with("OK:"),
        "{shown}\n{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // At phone width the key, the hashes and the command wrap.
    b.window(390, 844).await;
    let overflow = b
        .js(
            "return document.documentElement.scrollWidth - window.innerWidth",
            json!([]),
        )
        .await;
    b.screenshot("auditor-phone").await;
    b.window(1280, 900).await;
    assert!(
        overflow.as_i64().unwrap_or(99) <= 1,
        "no horizontal scroll in the ledger view at phone width ({overflow} px)"
    );
}
