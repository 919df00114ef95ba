//! `POST /v1/synthetic` and `POST /v1/synthetic/estimate`: differentially
//! private synthetic records. The handlers only adapt HTTP to
//! [`crate::synthetic`], where the release is made.

use crate::api::counts::{idempotency_key, negotiate, respond};
use crate::api::{AppState, JsonBody};
use crate::auth::Counter;
use crate::error::{ApiError, Problem};
use crate::synthetic::{self, SyntheticEstimate, SyntheticRequest, SyntheticResponse};
use actix_web::post;
use actix_web::{HttpRequest, HttpResponse, web};

/// Registers both operations (one line in the route table).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(post_synthetic).service(post_synthetic_estimate);
}

/// Synthetic records drawn from noisy tree marginals, charged to your budget before they are sent.
///
/// The one-way marginal of every attribute and the two-way marginal of every
/// edge of a tree over them (default: the chain in the order given) are
/// released as one request, each at an equal share of the cost, made
/// consistent, and records are drawn that reproduce every one of them
/// exactly. JSON carries the records as CSV text with the description; with
/// `Accept: text/csv` the body is the records alone. A repeat on the same
/// data is free and byte-identical.
#[utoipa::path(tag = "counts", request_body = SyntheticRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key (1 to 128 visible ASCII characters): a retry replays the stored response byte for byte", pattern = "^[!-~]{1,128}$")),
    responses(
        (status = 200, description = "The records and their description (JSON), or the records alone (CSV with Accept: text/csv)", body = SyntheticResponse, content_type = "application/json"),
        (status = 400, description = "Malformed body or unknown field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "budget.exhausted, budget.global_exhausted, auth.forbidden_role, auth.country_scope, query.forbidden_dimension", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "request.not_acceptable", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "request.timeout: the body did not arrive in time", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "request.too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "request.unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "synthetic.attribute_not_synthesizable, query.* validation errors (a tree that is not a tree, a cost below the floor, too many cells), idempotency.key_reused", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate.limited (see Retry-After)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "service.unavailable, service.entropy_unavailable (see Retry-After); nothing charged", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[post("/synthetic")]
pub async fn post_synthetic(
    state: web::Data<AppState>,
    Counter(consumer): Counter,
    req: HttpRequest,
    JsonBody(body): JsonBody,
) -> Result<HttpResponse, ApiError> {
    let format = negotiate(&req)?;
    let key = idempotency_key(&req)?;
    let out =
        synthetic::release_synthetic(&state.pipeline, &consumer, &body, key.as_deref(), format)
            .await?;
    Ok(respond(out))
}

/// What a synthetic data set would cost, its cells and margins; charges nothing and reads no case.
#[utoipa::path(tag = "counts", request_body = SyntheticRequest,
    responses(
        (status = 200, description = "Cost, cells, margins of error and affordability", body = SyntheticEstimate),
        (status = 400, description = "request.invalid_body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "auth.forbidden_role, auth.country_scope, query.forbidden_dimension", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "request.timeout: the body did not arrive in time", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "request.too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "request.unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "synthetic.attribute_not_synthesizable, query.* validation errors", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate.limited (see Retry-After)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "service.unavailable (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[post("/synthetic/estimate")]
pub async fn post_synthetic_estimate(
    state: web::Data<AppState>,
    Counter(consumer): Counter,
    req: HttpRequest,
    JsonBody(body): JsonBody,
) -> Result<HttpResponse, ApiError> {
    super::accepts_json(&req)?;
    let est = synthetic::estimate(&state.pipeline, &consumer, &body).await?;
    Ok(HttpResponse::Ok().json(est))
}
