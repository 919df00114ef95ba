//! The case store and everything persisted: SQLite (embedded default) or
//! PostgreSQL, chosen by the database URL.
//!
//! Only this module speaks SQL: the cases ([`cases`], [`group_by`]), the
//! privacy-budget ledger's writes ([`ledger`]) and the auditors' reads ([`audit`]).
//! Both backends run the same statements: SQL here uses `$N` placeholders,
//! which sqlx accepts on SQLite too, and the [`with_pool!`] macro expands one
//! body per backend so a query is written once.

pub mod audit;
pub mod cases;
pub(crate) mod deadline;
pub mod group_by;
pub mod ledger;
mod readers;
#[doc(hidden)]
pub mod scratch;

pub use deadline::{DEFAULT_DB_TIMEOUT_MS, db_timeout, set_db_timeout};

pub use ledger::{ChargeError, CommitStats, Committer, StoredResponse};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Errors of the storage layer. Messages never contain case data: each
/// variant's own message is fixed text, and the error beneath it (the
/// database driver's, an I/O error) is its `source()`, walked by the logs
/// (`Chain`, `release::error::Cause`) and never sent to a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database URL")]
    InvalidUrl(#[source] StoreCause),
    #[error("cannot reach the database")]
    Unreachable(#[source] StoreCause),
    #[error("database migration failed")]
    Migration(#[source] sqlx::migrate::MigrateError),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// An error of the SQLite ledger writer's own connection.
    #[error("database error on the ledger writer's connection")]
    Embedded(#[source] rusqlite::Error),
    /// A store that contradicts itself or the service (a broken invariant):
    /// the text says which, naming only the store's own records (sequence
    /// numbers, consumer ids, columns), never a case.
    #[error("{0}")]
    Conflict(String),
    /// A stored or computed budget amount that is not exactly representable
    /// (negative, or beyond 64 bits); never clamped.
    #[error("budget amount")]
    Amount(#[from] crate::domain::budget::BudgetError),
    /// The store could not take writes for a while (the cause is logged, not shown).
    #[error("store unavailable")]
    Unavailable(#[source] StoreCause),
    /// The ledger holds charges of this consumer but its budget row is
    /// gone (deleted behind the service): never recreated with a fresh budget.
    #[error("the budget row of consumer {0} is missing")]
    LostBudget(String),
}

/// Any error beneath a [`StoreCause`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What the store was doing when it failed (fixed text, so no data), and
/// the error that stopped it, if any, as its source.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct StoreCause {
    what: &'static str,
    #[source]
    source: Option<BoxError>,
}

impl StoreCause {
    /// A failure while doing `what`, caused by `source`.
    pub fn new(what: &'static str, source: impl Into<BoxError>) -> StoreCause {
        StoreCause {
            what,
            source: Some(source.into()),
        }
    }

    /// A failure with no error beneath it.
    pub fn bare(what: &'static str) -> StoreCause {
        StoreCause { what, source: None }
    }
}

/// An error and its sources on one line (`a: b: c`), for a log line.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

/// A database error, told apart by whether retrying later can help: an
/// unreachable or overloaded database, or a connection it dropped, makes
/// the store [`StoreError::Unavailable`] (503 with `Retry-After`), never an
/// internal error.
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_transient(&e) {
            StoreError::Unavailable(StoreCause::new("the database is unavailable", e))
        } else {
            StoreError::Database(e)
        }
    }
}

/// Whether retrying later can help: see [`StoreError`]'s `From<sqlx::Error>`.
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // Connection exceptions (class 08), a full disk (53100), too many
        // connections (53300), shutdown or crash of the server (57P01-57P03).
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08")
                || c == "53100"
                || c == "53300"
                || matches!(&*c, "57P01" | "57P02" | "57P03")
                // The database was closed to connections (ALLOW_CONNECTIONS false).
                || (c == "55000" && db.message().contains("accepting connections"))
        }),
        _ => false,
    }
}

/// Which cases a store holds, as far as a saved snapshot needs to know:
/// equal states hold equal cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataState {
    pub store_id: String,
    pub version: i64,
    /// Random, drawn again by every import.
    pub stamp: String,
}

/// Which database holds the cases, budgets and ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool to one of the two backends.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgPool),
}

/// An SQLite store: the sqlx pool, and for a file, the synchronous read
/// connections of the hot path ([`readers::Readers`]).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub pool: SqlitePool,
    readers: Option<std::sync::Arc<readers::Readers>>,
}

impl std::ops::Deref for SqliteStore {
    type Target = SqlitePool;
    fn deref(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Runs the same body against whichever pool the store holds.
#[macro_export]
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(s) => {
                let $pool = &s.pool;
                $body
            }
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}
pub use with_pool;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Every case is in the SQLite file, so it is its owner's only: a missing
/// directory is created 0700, a missing file 0600 (SQLite gives its WAL and
/// shared-memory files the database file's mode), and an existing file or
/// WAL/SHM that others may read is narrowed to 0600, whatever the umask.
fn lock_down_sqlite(file: &Path) -> Result<(), StoreError> {
    use crate::files::{create_private_dir, create_private_file, restrict_to_owner};
    let fail = |e: crate::files::FileError| {
        StoreError::Unreachable(StoreCause::new("cannot prepare the SQLite file", e))
    };
    if file.as_os_str().is_empty() || file == Path::new(":memory:") {
        return Ok(());
    }
    if let Some(parent) = file.parent()
        && !parent.as_os_str().is_empty()
    {
        create_private_dir(parent).map_err(fail)?;
    }
    create_private_file(file).map_err(fail)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = file.as_os_str().to_owned();
        name.push(suffix);
        let path = std::path::PathBuf::from(name);
        if restrict_to_owner(&path).map_err(fail)? {
            tracing::warn!(file = %path.display(), "the SQLite store was readable by others; its mode is now 0600");
        }
    }
    Ok(())
}

impl Store {
    /// Connects to `url`: `postgres://...` selects PostgreSQL, `sqlite:...` SQLite
    /// (the file and its directory are created if missing).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::InvalidUrl(StoreCause::new("a postgres:// URL", e)))?;
            // A request waits at most a second for a connection: when the
            // database is down it is refused with 503 quickly, not held.
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(1))
                .connect_with(opts)
                .await
                .map_err(|e| {
                    StoreError::Unreachable(match e {
                        // sqlx retries a refused connection until the timeout,
                        // then names only the timeout.
                        sqlx::Error::PoolTimedOut => StoreCause::bare(
                            "no connection within 1 s: the server refuses connections or does not answer",
                        ),
                        e => StoreCause::new("connecting to PostgreSQL", e),
                    })
                })?;
            Ok(Store::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::InvalidUrl(StoreCause::new("a sqlite: URL", e)))?;
            lock_down_sqlite(opts.get_filename())?;
            // WAL lets readers run beside the single writer; FULL sync makes a
            // committed budget debit survive power loss; the busy timeout makes
            // concurrent BEGIN IMMEDIATE wait for the write lock instead of failing.
            let opts = opts
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(opts)
                .await
                .map_err(|e| {
                    StoreError::Unreachable(StoreCause::new("opening the SQLite file", e))
                })?;
            let readers =
                sqlite_file_of(&pool).map(|path| std::sync::Arc::new(readers::Readers::new(path)));
            Ok(Store::Sqlite(SqliteStore { pool, readers }))
        } else {
            Err(StoreError::InvalidUrl(StoreCause::bare(
                "expected a URL starting with sqlite: or postgres://",
            )))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the pending migrations of this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let res = match self {
            Store::Sqlite(s) => SQLITE_MIGRATIONS.run(&s.pool).await,
            Store::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await,
        };
        res.map_err(StoreError::Migration)
    }

    /// The current data version (0 for a store that never received data).
    pub async fn data_version(&self) -> Result<i64, StoreError> {
        self.bounded(async move {
            let v: i64 = with_pool!(self, p => {
                sqlx::query_scalar("SELECT data_version FROM store_meta WHERE id = 1")
                    .fetch_one(p)
                    .await?
            });
            Ok(v)
        })
        .await
    }

    /// The file of an SQLite store (`None` for PostgreSQL or an in-memory
    /// database): what the ledger writer and the snapshot loader open with
    /// connections of their own.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        match self {
            Store::Sqlite(s) => sqlite_file_of(&s.pool),
            Store::Postgres(_) => None,
        }
    }

    /// The store's identity, data version and data stamp: the key of a
    /// saved snapshot of its cases (see migration 0005).
    pub async fn data_state(&self) -> Result<DataState, StoreError> {
        let (store_id, version, stamp): (String, i64, Option<String>) = with_pool!(self, p => {
            sqlx::query_as("SELECT store_id, data_version, data_stamp FROM store_meta WHERE id = 1")
                .fetch_one(p)
                .await?
        });
        Ok(DataState {
            store_id,
            version,
            stamp: stamp.unwrap_or_default(),
        })
    }

    pub async fn close(&self) {
        with_pool!(self, p => p.close().await)
    }
}

fn sqlite_file_of(pool: &SqlitePool) -> Option<std::path::PathBuf> {
    let options = pool.connect_options();
    let name = options.get_filename();
    (!name.as_os_str().is_empty() && name != Path::new(":memory:")).then(|| name.to_path_buf())
}

/// SQLite has one writer at a time. Writers of this process queue here, in
/// order, instead of racing for the file lock: the lock's busy handler retries
/// with growing sleeps, which turns contention into long tail latencies.
/// (Other processes on the same file still meet the busy timeout.)
pub(crate) static SQLITE_WRITER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Takes this process's turn to write, for SQLite stores (`None` for PostgreSQL,
/// where row locks and advisory locks queue fairly).
pub async fn writer_turn(store: &Store) -> Option<tokio::sync::MutexGuard<'static, ()>> {
    match store {
        Store::Sqlite(_) => Some(SQLITE_WRITER.lock().await),
        Store::Postgres(_) => None,
    }
}

pub use crate::domain::now_rfc3339;
