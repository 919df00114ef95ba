//! Scratch PostgreSQL databases for the tests: the one way the unit tests,
//! the integration tests and the fault tests make a new, empty database on
//! the server `CTM_TEST_POSTGRES_URL` names. The service never calls it.

use super::{StoreCause, StoreError};

/// The variable naming the PostgreSQL server of the tests (a URL whose user
/// may create databases).
pub const SERVER_VARIABLE: &str = "CTM_TEST_POSTGRES_URL";

/// The URL of a new, empty database named `{prefix}_{random}` on the test
/// server; `Ok(None)` when no server is configured (the test is skipped,
/// with a notice), unless `CTM_REQUIRE_POSTGRES=1` makes that an error.
pub async fn scratch_postgres(prefix: &str) -> Result<Option<String>, StoreError> {
    let Ok(server) = std::env::var(SERVER_VARIABLE) else {
        if std::env::var("CTM_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            return Err(StoreError::Unreachable(StoreCause::bare(
                "CTM_REQUIRE_POSTGRES=1 but CTM_TEST_POSTGRES_URL is not set",
            )));
        }
        eprintln!("skipping: set {SERVER_VARIABLE} to run the PostgreSQL variant");
        return Ok(None);
    };
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    create_database(&server, &name).await.map(Some)
}

/// Creates the empty database `name` on the server of `server_url` and
/// returns its URL (the server's URL with its database replaced).
pub async fn create_database(server_url: &str, name: &str) -> Result<String, StoreError> {
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(StoreError::InvalidUrl(StoreCause::bare(
            "a scratch database name is letters, digits and _",
        )));
    }
    let admin = sqlx::PgPool::connect(server_url).await.map_err(|e| {
        StoreError::Unreachable(StoreCause::new("connecting to the test server", e))
    })?;
    // The name was checked above: nothing but letters, digits and _.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await?;
    admin.close().await;
    let base = server_url.rsplit_once('/').map_or(server_url, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}
