//! `GET /health`: liveness and readiness, never a count.

use crate::api::AppState;
use crate::store::Backend;
use actix_web::{HttpResponse, web};
use serde::Serialize;

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
#[utoipa::path(get, path = "/health", tag = "public", responses(
    (status = 200, description = "Serving", body = Health),
    (status = 503, description = "Database unreachable", body = Health),
))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let db_ok = state.pipeline.store.data_version().await.is_ok();
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
