//! Test harness: a real server on a random port over a fresh store, on SQLite
//! or PostgreSQL, with tokens for every role.
//!
//! PostgreSQL tests use `CTM_TEST_POSTGRES_URL` (a server URL whose user may
//! create databases); each test gets its own database. Without the variable
//! they are skipped with a notice, unless `CTM_REQUIRE_POSTGRES=1`, which
//! makes them fail: CI sets both.

#![allow(dead_code)]

use ctm_stats::auth::Minter;
use ctm_stats::domain::Role;
use ctm_stats::policy::{Policy, parse_policy};
use ctm_stats::settings::Settings;
use ctm_stats::startup::Application;
use ctm_stats::store::Store;
use std::path::PathBuf;

pub const POLICY: &str = include_str!("../../policy/default.toml");

/// Hand-made HS256 tokens, for the tests of what the server refuses.
pub mod jwt {
    use super::TestApp;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::{Value, json};

    /// The server's HS256 secret, read from its file.
    pub fn secret(app: &TestApp) -> Vec<u8> {
        let text = std::fs::read_to_string(&app.settings.jwt_secret_file).expect("secret file");
        hex::decode(text.trim()).expect("hex secret")
    }

    pub fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    /// The claims of a valid researcher token for `sub`, for ten minutes.
    pub fn claims(sub: &str) -> Value {
        json!({"sub": sub, "role": "researcher", "iss": "ctm-stats", "aud": "ctm-stats-api",
               "exp": now() + 600, "nbf": now() - 5, "iat": now()})
    }

    /// `claims` signed with HS256 under `key`.
    pub fn sign(claims: &Value, key: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(key).expect("key"),
        )
        .expect("sign")
    }
}

/// The default policy with settings changed, each named by its dotted path
/// (`budgets.researcher`, `privacy.k`) and given as TOML (`"1.0"`). A path
/// the policy does not hold fails the test here: an edit to
/// `policy/default.toml` cannot make a test silently run on the default.
pub fn policy_with(changes: &[(&str, &str)]) -> String {
    changes
        .iter()
        .fold(POLICY.to_owned(), |text, (path, value)| {
            set_policy_key(&text, path, value)
        })
}

fn set_policy_key(text: &str, path: &str, value: &str) -> String {
    let (section, key) = path.rsplit_once('.').unwrap_or(("", path));
    let mut current = String::new();
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.split(']').next()) {
                current = name.trim_start_matches('[').trim().to_owned();
                return line.to_owned();
            }
            let is_key = trimmed
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='));
            if current == section && is_key && !found {
                found = true;
                let comment = line.find(" #").map(|i| &line[i..]).unwrap_or("");
                return format!("{key} = {value}{comment}");
            }
            line.to_owned()
        })
        .collect();
    assert!(found, "policy/default.toml has no {path}: update the test");
    lines.join("\n") + "\n"
}

#[test]
fn policy_with_changes_the_named_setting_and_refuses_unknown_ones() {
    let text = policy_with(&[("budgets.researcher", "1.5"), ("privacy.k", "1")]);
    assert!(text.contains("\nresearcher = 1.5\n"), "{text}");
    assert!(
        text.contains("\nk = 1 # noisy counts below k"),
        "the comment stays"
    );
    assert!(text.contains("government = 20.0"), "the rest stays");
    let missing = std::panic::catch_unwind(|| policy_with(&[("budgets.nobody", "1.0")]));
    assert!(missing.is_err());
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    /// The running server's state: tests read probes from it (never counts).
    pub state: actix_web::web::Data<ctm_stats::api::AppState>,
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub settings: Settings,
    pub policy: Policy,
    pub database_url: String,
    minter: Minter,
    _dir: tempfile::TempDir,
}

/// Options of a test server.
pub struct Spawn {
    pub cases: usize,
    /// Seed of the synthetic cases.
    pub seed: u64,
    pub policy_text: String,
    /// Serve with this noise key instead of a fresh one.
    pub noise_key_file: Option<PathBuf>,
}

impl Default for Spawn {
    fn default() -> Self {
        Spawn {
            cases: 3000,
            seed: 42,
            policy_text: POLICY.to_owned(),
            noise_key_file: None,
        }
    }
}

/// A fresh database URL on `backend`, or `None` when PostgreSQL is not configured (test skipped).
pub async fn fresh_database(backend: Backend, dir: &std::path::Path) -> Option<String> {
    match backend {
        Backend::Sqlite => Some(format!("sqlite:{}", dir.join("test.db").display())),
        Backend::Postgres => ctm_stats::store::scratch::scratch_postgres("ctm_test")
            .await
            .expect("a test database on CTM_TEST_POSTGRES_URL"),
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, Spawn::default()).await
    }

    /// A server over the default cases under `policy_text`.
    pub async fn spawn_policy(backend: Backend, policy_text: String) -> Option<TestApp> {
        Self::spawn_with(
            backend,
            Spawn {
                policy_text,
                ..Spawn::default()
            },
        )
        .await
    }

    pub async fn spawn_with(backend: Backend, opts: Spawn) -> Option<TestApp> {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = fresh_database(backend, dir.path()).await?;
        let policy =
            parse_policy("test-policy.toml", &opts.policy_text).expect("valid test policy");
        let store = Store::connect(&database_url).await.expect("connect");
        store.migrate().await.expect("migrate");
        if opts.cases > 0 {
            let cases = ctm_stats::synth::generate_vec(opts.cases, opts.seed);
            store
                .add_cases(&cases, false, |_| {})
                .await
                .expect("seed cases");
        }
        let app = Self::serve(dir, database_url, store, policy, opts.noise_key_file).await;
        Some(app)
    }

    /// A server on an existing database (migrated, with its cases), with
    /// `policy_text` and, if given, the noise key of another server.
    pub async fn serve_existing(
        database_url: &str,
        policy_text: &str,
        noise_key_file: Option<PathBuf>,
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let policy = parse_policy("test-policy.toml", policy_text).expect("valid test policy");
        let store = Store::connect(database_url).await.expect("connect");
        store.migrate().await.expect("migrate");
        Self::serve(dir, database_url.to_owned(), store, policy, noise_key_file).await
    }

    /// A second server on the same database and keys (another replica).
    pub async fn replica(&self) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::connect(&self.database_url).await.expect("connect");
        let mut settings = self.settings.clone();
        settings.bind = "127.0.0.1:0".into();
        let app =
            Application::build_with_store(settings.clone(), self.policy.clone(), store.clone())
                .await
                .expect("build replica");
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state.clone();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            state,
            base,
            client: reqwest::Client::new(),
            store,
            settings,
            policy: self.policy.clone(),
            database_url: self.database_url.clone(),
            minter: Minter::from_settings(&self.settings).expect("minter"),
            _dir: dir,
        }
    }

    async fn serve(
        dir: tempfile::TempDir,
        database_url: String,
        store: Store,
        policy: Policy,
        noise_key_file: Option<PathBuf>,
    ) -> TestApp {
        let data: PathBuf = dir.path().join("data");
        let mut settings = Settings {
            database_url: database_url.clone(),
            bind: "127.0.0.1:0".into(),
            ..Settings::default()
        };
        settings.data_dir = data.clone();
        settings.noise_key_file = data.join("noise.key");
        settings.jwt_secret_file = data.join("jwt.secret");
        settings.ledger_key_file = data.join("ledger-signing.key");
        settings.snapshot_poll_secs = 1;
        // Short, so the stalled-client test is quick; test bodies arrive at once.
        settings.body_timeout_secs = 2;
        settings.max_connections_per_client = 96;
        if let Some(key) = noise_key_file {
            settings.noise_key_file = key;
        }
        let app = Application::build_with_store(settings.clone(), policy.clone(), store.clone())
            .await
            .expect("build app");
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state.clone();
        tokio::spawn(app.run_until_stopped());
        let minter = Minter::from_settings(&settings).expect("minter");
        TestApp {
            state,
            base,
            client: reqwest::Client::new(),
            store,
            settings,
            policy,
            database_url,
            minter,
            _dir: dir,
        }
    }

    /// How many counts ran on the server's current snapshot (the probe of
    /// data-dependent work).
    pub fn evaluations(&self) -> u64 {
        self.state.pipeline.snapshots.current().evaluations()
    }

    pub fn token(&self, role: Role, sub: &str) -> String {
        self.minter.mint(sub, role, None, 3600).expect("mint")
    }

    pub fn government_token(&self, sub: &str, country: &str) -> String {
        self.minter
            .mint(sub, Role::Government, Some(country), 3600)
            .expect("mint")
    }

    pub fn regional_token(&self, sub: &str, region: &str) -> String {
        self.minter
            .mint(sub, Role::Regional, Some(region), 3600)
            .expect("mint")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// Spent and limit of a consumer, in micro-units, straight from the store.
    pub async fn budget(&self, consumer: &str) -> (u64, u64) {
        let b = self
            .store
            .consumer_budget(&self.policy.dataset, consumer)
            .await
            .expect("budget")
            .unwrap_or(ctm_stats::domain::budget::Budget::new(
                ctm_stats::domain::budget::Amount::ZERO,
            ));
        (b.spent.micro(), b.limit.micro())
    }

    pub async fn global_spent(&self) -> u64 {
        self.store
            .global_budget(&self.policy.dataset)
            .await
            .expect("global")
            .spent
            .micro()
    }
}

/// The JSON body of a successful (2xx) response; fails the test otherwise.
pub async fn ok_json(res: reqwest::Response) -> serde_json::Value {
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.expect("json body");
    assert!((200..300).contains(&status), "status {status}: {body}");
    body
}

/// Asserts a problem+json response with `status` and `code`; returns the body.
pub async fn assert_problem(res: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status, "status for {code}");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        ct.starts_with("application/problem+json"),
        "content type {ct} for {code}"
    );
    let body: serde_json::Value = res.json().await.expect("problem body");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

/// Declares one test per backend: `mod name { sqlite, postgres }`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                ($body)($crate::helpers::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                ($body)($crate::helpers::Backend::Postgres).await
            }
        }
    };
}
