//! `ctm-stats serve --demo` as a person starts it, and the skip rule for
//! what the tests need from the machine.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

fn required() -> bool {
    std::env::var("CTM_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// Whether `what` is here; if not, the test is skipped, or fails under CI.
pub fn available(path: &Path, what: &str) -> bool {
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// The roles the demo prints a token for.
pub const ROLES: [&str; 5] = ["researcher", "government", "regional", "auditor", "admin"];

/// `ctm-stats serve --demo` on a new SQLite store, with its banner and log.
pub struct Demo {
    child: Child,
    pub base: String,
    pub banner: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Demo {
    pub async fn start() -> Demo {
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
    pub fn token(&self, role: &str) -> String {
        let prefix = format!("export {}_TOKEN=", role.to_ascii_uppercase());
        self.banner
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {role} token in the banner:\n{}", self.banner))
            .trim()
            .to_owned()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn get(&self, path: &str, token: &str) -> Value {
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

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Value {
        reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
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
