//! Building and running the application: store, policy, snapshot, keys, HTTP server.
//! `Application::build` binds (port 0 for tests) and exposes the port, so
//! integration tests run the real server.

use crate::api::AppState;
use crate::auth::Verifier;
use crate::budget::GlobalLimit;
use crate::engine::SnapshotCell;
use crate::policy::Policy;
use crate::privacy::NoiseKey;
use crate::rate::RateLimiter;
use crate::release::Pipeline;
use crate::settings::{Settings, load_or_create_secret};
use crate::store::{Store, StoreError};
use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Released bodies kept in memory (each a few kilobytes at most).
const RELEASE_CACHE_ENTRIES: usize = 4096;

/// The longest pause between two attempts to reach the database at start.
const MAX_CONNECT_PAUSE: Duration = Duration::from_secs(5);

/// Connects to the store, waiting at start for a PostgreSQL server that is
/// not up yet (started beside the service, restarting) for at most
/// `DB_START_TIMEOUT_SECS`: each failed attempt is logged at WARN with its
/// reason, the next follows after a pause that doubles up to 5 s, and once
/// the time is up the last reason is the error. An SQLite file, or a URL
/// that cannot be read, fails at once: waiting cannot mend either.
pub async fn connect_store(settings: &Settings) -> anyhow::Result<Store> {
    let url = &settings.database_url;
    crate::store::set_db_timeout(settings.db_timeout_ms);
    let bound = Duration::from_secs(settings.db_start_timeout_secs);
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    let mut attempt = 0u32;
    loop {
        attempt = attempt.saturating_add(1);
        let reason = match Store::connect(url).await {
            Ok(store) => {
                if attempt > 1 {
                    tracing::info!(attempt, database = %database_for_log(url), "database reached");
                }
                return Ok(store);
            }
            Err(e @ StoreError::Unreachable(_)) if !url.starts_with("sqlite:") => {
                crate::store::Chain(&e).to_string()
            }
            Err(e) => return Err(e.into()),
        };
        let waited = started.elapsed();
        let Some(left) = bound.checked_sub(waited).filter(|left| !left.is_zero()) else {
            anyhow::bail!(
                "cannot reach the database {} after {attempt} attempt(s) in {} s \
                 (DB_START_TIMEOUT_SECS={}): {reason}",
                database_for_log(url),
                waited.as_secs(),
                settings.db_start_timeout_secs,
            );
        };
        let next = pause.min(left);
        tracing::warn!(
            attempt,
            database = %database_for_log(url),
            reason = %reason,
            retry_in_ms = next.as_millis() as u64,
            "database not reachable yet; retrying"
        );
        tokio::time::sleep(next).await;
        pause = (pause * 2).min(MAX_CONNECT_PAUSE);
    }
}

/// A database URL as a log line may show it: scheme, host, port and
/// database, never the user information (a password) or the query (which
/// may carry `password=`).
fn database_for_log(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(the configured DATABASE_URL)".into();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{rest}")
}

/// Records the policy's accounting in a new store, and refuses to start on a
/// store whose budgets were kept in the other unit.
async fn check_accounting(store: &Store, policy: &Policy) -> anyhow::Result<()> {
    let recorded = store.record_accounting(policy.accounting.code()).await?;
    if recorded == policy.accounting.code() {
        return Ok(());
    }
    let unit = |code: &str| if code == "zcdp" { "rho" } else { "epsilon" };
    anyhow::bail!(
        "the policy says accounting = \"{}\", but this store's budgets and ledger are kept in {} \
         (accounting = \"{recorded}\", recorded at its first start). Amounts in epsilon and rho \
         cannot be added, so the service will not start. Either set accounting = \"{recorded}\" \
         in the policy again, or start a new store for the new accounting (a new DATABASE_URL, \
         then `ctm-stats import` the cases there); the old store's ledger stays verifiable with \
         `ctm-stats audit verify`.",
        policy.accounting.code(),
        unit(&recorded),
    )
}

/// Records the policy's unit of privacy in a new store, and refuses to
/// start on a store whose budgets were spent per another unit.
async fn check_privacy_unit(store: &Store, policy: &Policy) -> anyhow::Result<()> {
    let recorded = store.record_privacy_unit(policy.unit.code()).await?;
    if recorded == policy.unit.code() {
        return Ok(());
    }
    anyhow::bail!(
        "the policy says unit = \"{}\", but this store's budgets and ledger were spent per \
         {recorded} (unit = \"{recorded}\", recorded at its first start). An epsilon per case \
         record is not an epsilon per person, so the service will not start. Either set \
         unit = \"{recorded}\" in the policy again, or start a new store for the new unit (a \
         new DATABASE_URL, then `ctm-stats import` the cases there); the old store's ledger \
         stays verifiable with `ctm-stats audit verify`.",
        policy.unit.code(),
    )
}

/// Loads the checkpoint signing key, creating it on first start (the demo needs
/// no set-up step; `ctm-stats audit keygen` creates it explicitly).
fn load_ledger_signer(settings: &Settings) -> anyhow::Result<crate::audit::Signer> {
    let (signer, created) = crate::audit::Signer::load_or_create(&settings.ledger_key_file)
        .context("ledger signing key")?;
    let pk = signer.public_key();
    if created {
        tracing::warn!(file = %settings.ledger_key_file.display(), public_key = %pk.to_hex(), key_id = %pk.key_id(), "created a new ledger signing key");
    } else {
        tracing::info!(public_key = %pk.to_hex(), key_id = %pk.key_id(), "ledger signing key loaded");
    }
    Ok(signer)
}

/// Signs a checkpoint every `every` when the ledger grew since the latest one.
fn spawn_checkpointer(
    store: Store,
    signer: crate::audit::Signer,
    dataset: String,
    every: Duration,
) {
    if every.is_zero() {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match store.checkpoint_if_grown(&signer, &dataset).await {
                Ok(Some(cp)) => tracing::info!(size = cp.size, "ledger checkpoint signed"),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %crate::store::Chain(&e), "could not make a ledger checkpoint")
                }
            }
        }
    });
}

pub struct Application {
    port: u16,
    server: Server,
    pub state: web::Data<AppState>,
}

impl Application {
    /// Connects, migrates, loads the snapshot and binds the listener.
    pub async fn build(settings: Settings, policy: Policy) -> anyhow::Result<Application> {
        let store = connect_store(&settings).await?;
        store.migrate().await?;
        Self::build_with_store(settings, policy, store).await
    }

    pub async fn build_with_store(
        settings: Settings,
        policy: Policy,
        store: Store,
    ) -> anyhow::Result<Application> {
        let policy = Arc::new(policy);
        check_accounting(&store, &policy).await?;
        check_privacy_unit(&store, &policy).await?;
        match store
            .sync_global_budget(
                &policy.dataset,
                crate::domain::budget::Amount::from_micro(policy.global_budget_micro),
            )
            .await?
        {
            GlobalLimit::Created | GlobalLimit::Unchanged => {}
            change @ GlobalLimit::Changed {
                from,
                policy: policy_limit,
                effective,
                ..
            } => {
                if change.exhausted() {
                    tracing::warn!(
                        from_micro = from.micro(),
                        policy_micro = policy_limit.micro(),
                        limit_micro = effective.micro(),
                        "the policy's global budget is at or below what is already spent: \
                         this dataset is exhausted, and every new release will be refused"
                    );
                } else {
                    tracing::info!(
                        from_micro = from.micro(),
                        limit_micro = effective.micro(),
                        "global budget changed to the policy's (recorded in the ledger)"
                    );
                }
            }
        }
        let secret = load_or_create_secret(&settings.noise_key_file, 32)?;
        let noise_key =
            NoiseKey::from_bytes(&secret).map_err(|e| anyhow::anyhow!("noise key: {e}"))?;
        let loader = crate::snapshots::Loader::new(
            store.clone(),
            Arc::clone(&policy),
            noise_key.clone(),
            settings.snapshot_path(),
        );
        let snapshots = Arc::new(SnapshotCell::new(loader.load().await?));
        let verifier = web::Data::new(Verifier::from_settings(
            &settings,
            policy.limits.max_token_hours.saturating_mul(3600),
        )?);
        let roles = web::Data::new(crate::auth::Roles::new(
            store.clone(),
            policy.dataset.clone(),
        ));
        let signer = load_ledger_signer(&settings)?;
        spawn_checkpointer(
            store.clone(),
            signer.clone(),
            policy.dataset.clone(),
            Duration::from_secs(settings.checkpoint_interval_secs),
        );
        loader.spawn_refresher(
            Arc::clone(&snapshots),
            Duration::from_secs(settings.snapshot_poll_secs),
        );
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let rate = web::Data::new(RateLimiter::new(policy.limits.requests_per_minute));
        let state = web::Data::new(AppState {
            settings,
            pipeline: Pipeline {
                policy,
                committer: crate::store::Committer::spawn(store.clone())?,
                releases: crate::cache::ReleaseCache::new(RELEASE_CACHE_ENTRIES),
                store,
                snapshots,
                noise_key,
            },
            signer,
        });
        let connections =
            crate::api::connections::Connections::new(state.settings.max_connections_per_client);
        let server = {
            let state = state.clone();
            HttpServer::new(move || {
                App::new()
                    .wrap(actix_web::middleware::from_fn(crate::api::observe::observe))
                    .app_data(state.clone())
                    .app_data(verifier.clone())
                    .app_data(roles.clone())
                    .app_data(rate.clone())
                    .configure(|cfg| crate::api::configure(cfg, &state))
            })
            .on_connect(move |conn, data| {
                if let Some(peer) = conn
                    .downcast_ref::<actix_web::rt::net::TcpStream>()
                    .and_then(|s| s.peer_addr().ok())
                {
                    data.insert(connections.open(peer.ip()));
                }
            })
            .shutdown_timeout(10)
            .listen(listener)?
            .run()
        };
        Ok(Application {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests (graceful shutdown).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

#[cfg(test)]
mod tests {
    use super::database_for_log;

    #[test]
    fn a_logged_database_url_shows_no_password() {
        assert_eq!(
            database_for_log("postgres://ctm:s3cret@db.internal:5432/ctm?sslmode=require"),
            "postgres://db.internal:5432/ctm"
        );
        assert_eq!(
            database_for_log("postgresql://db/ctm?user=ctm&password=s3cret"),
            "postgresql://db/ctm"
        );
        assert_eq!(
            database_for_log("postgres://ctm:p@ss/w@rd@db/ctm"),
            "postgres://db/ctm"
        );
        assert!(!database_for_log("s3cret").contains("s3cret"));
    }
}
