//! The web console in a real browser, and the researcher quick start in
//! Python, both against the real binary (`serve --demo`, as a person would
//! start it).
//!
//! The browser is Debian's Chromium driven through ChromeDriver with the
//! W3C WebDriver protocol (a small client over reqwest in `browser.rs`).
//! One test per role checks what a person in that role would see, and what
//! nobody should: no request to any host but the service (read from the
//! browser's own network log), no token in a URL, the page, the browser
//! console or the service's log. On every view a test visits, axe-core
//! (vendored in `tests/vendor/`, injected through WebDriver; the service
//! never serves it) must find no serious or critical violation, nothing may
//! be wider than a 390 px screen, and screenshots at 1280 px and 390 px go
//! to `target/console-screenshots/` (not committed).
//!
//! Chromium, ChromeDriver and the Python environment are installed by
//! `scripts/test-deps.sh`; where they are missing these tests say so and
//! pass, unless `CTM_REQUIRE_BROWSER=1` (as CI sets). The browser tests run
//! one at a time (each starts its own server and browser; two at once on a
//! small machine only make each slower).

mod browser;
mod demo;
mod network;

mod admin;
mod auditor;
mod first_visit;
mod government;
mod quickstart;
mod regional;
mod researcher;

use browser::Browser;
use demo::Demo;
use tokio::sync::{Mutex, MutexGuard};

/// Held by the browser test that runs (an async lock: each test has its
/// own runtime, and a failed test releases it as it unwinds).
static ONE_BROWSER_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// One browser test's world: the demo server, a browser with an empty
/// profile and its downloads folder.
pub struct Session {
    pub demo: Demo,
    pub b: Browser,
    _downloads: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl Session {
    /// A new server and browser, or `None` (the test is skipped) where
    /// Chromium or ChromeDriver is missing.
    pub async fn start() -> Option<Session> {
        if !demo::available(std::path::Path::new(browser::CHROMIUM), "chromium")
            || !demo::available(std::path::Path::new(browser::CHROMEDRIVER), "chromedriver")
        {
            return None;
        }
        let turn = ONE_BROWSER_AT_A_TIME.lock().await;
        let demo = Demo::start().await;
        let downloads = tempfile::tempdir().expect("downloads");
        let b = Browser::start(downloads.path()).await;
        Some(Session {
            demo,
            b,
            _downloads: downloads,
            _turn: turn,
        })
    }

    pub fn token(&self, role: &str) -> String {
        self.demo.token(role)
    }

    /// Ends the browser session, after checking that nothing it did left
    /// for another host or carried a token where it should not be.
    pub async fn finish(self, extra_tokens: &[(&str, &str)]) {
        network::nothing_left_for_another_host(&self.demo, &self.b, extra_tokens).await;
        self.b.cmd("DELETE", "", None).await;
    }
}
