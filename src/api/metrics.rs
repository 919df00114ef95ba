//! `GET /metrics`: the operator metrics (see [`crate::metrics`]), for the
//! admin role only. A scrape during a store outage still answers, with the
//! budget gauges as last read.

use crate::api::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::metrics::{CONTENT_TYPE, METRICS};
use actix_web::get;
use actix_web::{HttpResponse, web};
use std::time::Duration;

/// Operator metrics in the OpenMetrics text format (Prometheus scrapes it
/// with an admin bearer token). Labels are route templates, statuses,
/// problem codes and roles; no case, count or per-consumer figure.
#[utoipa::path(tag = "operations",
    responses(
        (status = 200, description = "Metrics", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 401, description = "auth.invalid_token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "auth.forbidden_role (admins only)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, ApiError> {
    let pipeline = &state.pipeline;
    let dataset = &pipeline.policy.dataset;
    let read = async {
        let spent = pipeline.store.spent_by_role(dataset).await?;
        let global = pipeline.store.global_budget(dataset).await?;
        Ok::<_, crate::store::StoreError>((spent, global))
    };
    if let Ok(Ok((spent, global))) = tokio::time::timeout(Duration::from_secs(1), read).await {
        let units = |micro: i64| micro as f64 / 1e6;
        let spent: Vec<(String, f64)> = spent.into_iter().map(|(r, m)| (r, units(m))).collect();
        METRICS.set_budgets(
            &spent,
            (
                global.spent.micro() as f64 / 1e6,
                global.limit.micro() as f64 / 1e6,
            ),
        );
    }
    Ok(HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(METRICS.render()))
}
