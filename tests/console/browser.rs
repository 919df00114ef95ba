//! A small W3C WebDriver client for Chromium through ChromeDriver, and the
//! checks every view of the console gets: axe-core with no serious or
//! critical violation, nothing wider than a 390 px screen, and screenshots
//! at 1280 px and 390 px.

use crate::demo::{free_port, screenshots};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// axe-core, vendored by `scripts/update-console-vendor.sh` for the tests
/// only: injected into the page through WebDriver, never served.
const AXE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vendor/axe.min.js"
));

/// The desktop and the phone width every view is checked and shown at.
pub const DESKTOP: (u32, u32) = (1280, 900);
pub const PHONE: (u32, u32) = (390, 844);

/// A Chromium session through ChromeDriver (W3C WebDriver over HTTP).
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    pub downloads: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start(downloads: &Path) -> Browser {
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
                    // Overlay scrollbars, as on a phone: the layout is as wide as the screen.
                    "--hide-scrollbars",
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
        // axe-core takes a few seconds on a long page.
        browser
            .cmd("POST", "/timeouts", Some(json!({"script": 120_000})))
            .await;
        browser.viewport(DESKTOP).await;
        browser
    }

    pub async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
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

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url}))).await;
    }

    pub async fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    pub async fn find(&self, css: &str) -> String {
        let found = self
            .cmd(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().expect("element id").to_owned()
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/click"), None)
            .await;
    }

    /// Types `text` into the element, as keystrokes.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.cmd("GET", &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the JavaScript expression `condition` is truthy.
    pub async fn wait(&self, condition: &str, what: &str) {
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

    pub async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.cmd("GET", "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("PNG");
        std::fs::write(screenshots().join(format!("{name}.png")), bytes).expect("screenshot");
    }

    pub async fn window(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Chromium's log of `kind` (`performance` or `browser`) since the last read.
    pub async fn log(&self, kind: &str) -> Vec<Value> {
        self.cmd("POST", "/se/log", Some(json!({"type": kind})))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn sign_in(&self, base: &str, token: &str) {
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
    pub async fn confirm(&self) {
        self.wait(
            "document.querySelector('#confirm').open",
            "the confirmation",
        )
        .await;
        self.click("#confirm-ok").await;
    }

    /// Waits for a downloaded file whose name satisfies `name`, and reads it.
    pub async fn downloaded(&self, name: impl Fn(&str) -> bool) -> String {
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
pub fn number(text: &str) -> f64 {
    text.trim()
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {text:?}"))
}

/// The stat value in the element `id`.
pub async fn stat(b: &Browser, id: &str) -> f64 {
    number(&b.text(&format!("#{id} .v")).await)
}

/// What `Browser::fits` found at phone width.
const FITS: &str = r#"
const w = window.innerWidth;
const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
  [...el.classList].map(c => '.' + c).join('');
const over = [];
for (const el of document.querySelectorAll('body *')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.right <= w + 0.5) continue;
  // Inside a box that scrolls or clips, it widens only that box.
  let p = el.parentElement, inside = false;
  for (; p && p !== document.body; p = p.parentElement) {
    if (/(auto|scroll|hidden|clip)/.test(getComputedStyle(p).overflowX)) { inside = true; break; }
  }
  if (!inside) over.push(name(el) + ' (' + Math.round(r.width) + ' px wide, right edge at ' + Math.round(r.right) + ')');
}
return {scroll: document.documentElement.scrollWidth, inner: w, over: over.slice(0, 12)};
"#;

/// Runs axe-core on the page; answers the serious and critical violations.
const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']})
  .then(r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 6).map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').split('\n').slice(1, 2).join(''))}))))
  .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));
"#;

impl Browser {
    /// Waits until the page has drawn what the last action changed (two
    /// animation frames, and the fonts).
    pub async fn settle(&self) {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": "const done = arguments[arguments.length - 1]; document.fonts.ready.then(() => requestAnimationFrame(() => requestAnimationFrame(() => done(true))));", "args": []})),
        )
        .await;
    }

    /// Sets the viewport to `width` × `height` CSS pixels (exactly, whatever
    /// the window manager allows), as a phone or desktop screen would.
    pub async fn viewport(&self, (width, height): (u32, u32)) {
        self.cmd(
            "POST",
            "/chromium/send_command",
            Some(
                json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}}),
            ),
        )
        .await;
        self.settle().await;
        let inner = self.js("return window.innerWidth", json!([])).await;
        assert_eq!(inner, json!(width), "the viewport is {width} px wide");
    }

    /// The serious and critical violations axe-core finds on the page as it is.
    pub async fn violations(&self) -> Vec<Value> {
        let injected = self
            .js(
                &format!("if (!window.axe) {{ {AXE}\n}} return typeof window.axe;"),
                json!([]),
            )
            .await;
        assert_eq!(injected, json!("object"), "axe-core injected");
        let found = self
            .cmd(
                "POST",
                "/execute/async",
                Some(json!({"script": AXE_RUN, "args": []})),
            )
            .await;
        found.as_array().cloned().unwrap_or_default()
    }

    /// axe-core finds no serious or critical violation on the page as it is.
    pub async fn accessible(&self, view: &str) {
        let violations = self.violations().await;
        if !violations.is_empty() {
            let width = self.js("return window.innerWidth", json!([])).await;
            let report: Vec<String> = violations
                .iter()
                .map(|v| {
                    format!(
                        "  {} ({}): {}\n{}",
                        v["id"].as_str().unwrap_or_default(),
                        v["impact"].as_str().unwrap_or_default(),
                        v["help"].as_str().unwrap_or_default(),
                        v["nodes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|n| format!("      {}", n.as_str().unwrap_or_default()))
                            .collect::<Vec<_>>()
                            .join("\n")
                    )
                })
                .collect();
            eprintln!("axe-core on {view} at {width} px:\n{}", report.join("\n"));
            self.screenshot(&format!("{view}-axe-failure")).await;
            panic!(
                "axe-core found {} serious or critical violation(s) on {view} at {width} px:\n{}",
                violations.len(),
                report.join("\n")
            );
        }
    }

    /// How wide the page is and the viewport, and what sticks out of it.
    pub async fn overflow(&self) -> (i64, i64, Value) {
        let found = self.js(FITS, json!([])).await;
        (
            found["scroll"].as_i64().unwrap_or(i64::MAX),
            found["inner"].as_i64().unwrap_or(0),
            found["over"].clone(),
        )
    }

    /// Nothing on the page is wider than the viewport (at phone width: no
    /// sideways scrolling); names what sticks out when something does.
    pub async fn fits(&self, view: &str) {
        let (scroll, inner, over) = self.overflow().await;
        assert!(
            scroll <= inner,
            "{view}: the page is {scroll} px wide on a {inner} px screen; what sticks out: {over}"
        );
    }

    /// The whole page (not only what the viewport shows) as `{name}.png`.
    pub async fn full_screenshot(&self, name: &str) {
        use base64::Engine;
        let metrics = self
            .cmd(
                "POST",
                "/chromium/send_command_and_get_result",
                Some(json!({"cmd": "Page.getLayoutMetrics", "params": {}})),
            )
            .await;
        let size = &metrics["cssContentSize"];
        let (w, h) = (
            size["width"].as_f64().unwrap_or(1280.0),
            size["height"].as_f64().unwrap_or(900.0).min(12_000.0),
        );
        let shot = self
            .cmd(
                "POST",
                "/chromium/send_command_and_get_result",
                Some(json!({"cmd": "Page.captureScreenshot", "params": {
                    "format": "png", "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}}})),
            )
            .await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .expect("PNG");
        std::fs::write(screenshots().join(format!("{name}.png")), bytes).expect("screenshot");
    }

    /// Every check of a view, in the state the last action left it: axe-core
    /// and a screenshot at desktop width, then the same at phone width with
    /// nothing wider than the screen, then back to the desktop.
    pub async fn view(&self, name: &str) {
        self.settle().await;
        self.accessible(name).await;
        self.full_screenshot(name).await;
        self.viewport(PHONE).await;
        self.fits(name).await;
        self.accessible(&format!("{name} (phone)")).await;
        self.full_screenshot(&format!("{name}-390")).await;
        self.viewport(DESKTOP).await;
    }
}
