//! Health for people and orchestrators, never a count: `GET /health` (a
//! summary), `GET /health/live` (the process answers) and `GET
//! /health/ready` (it can serve: store reachable, snapshot loaded, ledger
//! writer commits). Each store probe waits at most a second.

use crate::api::AppState;
use crate::store::Backend;
use actix_web::get;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use std::time::Duration;

/// How long a health probe waits for the store.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Whether the store answers a trivial read within [`PROBE_TIMEOUT`].
async fn store_reachable(state: &AppState) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, state.pipeline.store.data_version()).await,
        Ok(Ok(_))
    )
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the database cannot be reached.
    pub status: &'static str,
    pub store: Backend,
    /// Data version of the snapshot answering queries.
    pub data_version: i64,
    pub version: &'static str,
}

/// Service health: status, store backend and data version. Public, no token.
#[utoipa::path(tag = "public", responses(
    (status = 200, description = "Serving", body = Health),
    (status = 503, description = "Database unreachable", body = Health),
))]
#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let db_ok = store_reachable(&state).await;
    let body = Health {
        status: if db_ok { "ok" } else { "degraded" },
        store: state.pipeline.store.backend(),
        data_version: state.pipeline.snapshots.current().data_version(),
        version: env!("CARGO_PKG_VERSION"),
    };
    if db_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Liveness: the process runs and answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Live {
    /// Always `ok`.
    pub status: &'static str,
}

/// Readiness: whether this replica can serve releases now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// `ready`, or `not_ready` with the checks that failed.
    pub status: &'static str,
    /// The store answered a read within a second.
    pub store: bool,
    /// A case snapshot of this store is loaded.
    pub snapshot: bool,
    /// The ledger writer committed an empty batch within a second.
    pub ledger_writer: bool,
}

/// Liveness for orchestrators: 200 while the process answers. Public, no token.
#[utoipa::path(tag = "public", responses(
    (status = 200, description = "The process answers", body = Live),
))]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Live { status: "ok" })
}

/// Readiness for load balancers: 200 when this replica can serve releases,
/// 503 (with `Retry-After`) when the store is unreachable, no snapshot is
/// loaded or the ledger writer has stopped. Public, no token.
#[utoipa::path(tag = "public", responses(
    (status = 200, description = "Ready to serve", body = Ready),
    (status = 503, description = "Not ready: see which check failed", body = Ready),
))]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = !state
        .pipeline
        .snapshots
        .current()
        .identity()
        .store_id
        .is_empty();
    // Run together: a hung database answers neither, and the probe must
    // still answer within about a second.
    let (store, ledger_writer) = tokio::join!(
        store_reachable(&state),
        state.pipeline.committer.probe(PROBE_TIMEOUT)
    );
    let ok = store && snapshot && ledger_writer;
    let body = Ready {
        status: if ok { "ready" } else { "not_ready" },
        store,
        snapshot,
        ledger_writer,
    };
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(body)
    }
}
