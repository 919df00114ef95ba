//! `POST /v1/counts` and `POST /v1/counts/estimate`. The handlers only adapt
//! HTTP to [`crate::release`], where the pipeline lives.

use crate::api::{AppState, JsonBody};
use crate::auth::Counter;
use crate::error::{ApiError, Problem};
use crate::release::query::CountRequest;
use crate::release::workload::WorkloadResponse;
use crate::release::{self, CountResponse, Estimate, Format};
use actix_web::http::header;
use actix_web::post;
use actix_web::{HttpRequest, HttpResponse, web};

/// Chooses JSON or CSV from `?format=` or the `Accept` header.
pub fn negotiate(req: &HttpRequest) -> Result<Format, ApiError> {
    let query = req.query_string();
    for pair in query.split('&') {
        match pair {
            "format=json" => return Ok(Format::Json),
            "format=csv" => return Ok(Format::Csv),
            p if p.starts_with("format=") => return Err(ApiError::NotAcceptable),
            _ => {}
        }
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    if accept.trim().is_empty() {
        return Ok(Format::Json);
    }
    for range in super::accepted(accept) {
        match range.mime.as_str() {
            "text/csv" => return Ok(Format::Csv),
            "application/json" | "application/*" | "*/*" => return Ok(Format::Json),
            _ => {}
        }
    }
    Err(ApiError::NotAcceptable)
}

pub(super) fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    match req.headers().get("Idempotency-Key") {
        None => Ok(None),
        Some(v) => {
            let s = v
                .to_str()
                .map_err(|_| ApiError::InvalidIdempotencyKey)?
                .trim();
            if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ApiError::InvalidIdempotencyKey);
            }
            Ok(Some(s.to_owned()))
        }
    }
}

/// A release as HTTP: its bytes and type, flagged when it is an
/// idempotent retry's stored answer (shared by counts and synthetic data).
pub(super) fn respond(out: crate::release::Released) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.content_type(out.content_type);
    if out.replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    res.body(out.body)
}

/// The answer of `POST /v1/counts`: one grouping, or a workload (documentation only).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CountAnswer {
    Single(CountResponse),
    Workload(WorkloadResponse),
}

/// Grouped noisy counts, charged to your budget before they are sent.
///
/// Every cell of the declared domain of the requested dimensions is returned,
/// zeros included, each with its margin of error; cells whose noisy count is
/// below k are suppressed. A repeat of the same query on the same data version
/// returns the identical answer and costs you nothing if you already paid.
#[utoipa::path(tag = "counts", request_body = CountRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key (1 to 128 visible ASCII characters): a retry replays the stored response byte for byte", pattern = "^[!-~]{1,128}$")),
    responses(
        (status = 200, description = "Noisy counts (JSON, or CSV with Accept: text/csv): one grouping, or a workload's consistent groupings", body = CountAnswer, content_type = "application/json"),
        (status = 400, description = "Malformed body or unknown field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "budget.exhausted, budget.global_exhausted, auth.forbidden_role, auth.country_scope, query.forbidden_dimension", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "request.not_acceptable", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "request.timeout: the body did not arrive in time", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "request.too_large (a declared Content-Length above the limit is refused before reading)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "request.unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "query.* validation errors, idempotency.key_reused", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "service.unavailable, service.entropy_unavailable (see Retry-After); nothing charged", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate.limited (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[post("/counts")]
pub async fn post_counts(
    state: web::Data<AppState>,
    Counter(consumer): Counter,
    req: HttpRequest,
    JsonBody(body): JsonBody,
) -> Result<HttpResponse, ApiError> {
    let format = negotiate(&req)?;
    let key = idempotency_key(&req)?;
    let out =
        release::release_counts(&state.pipeline, &consumer, &body, key.as_deref(), format).await?;
    Ok(respond(out))
}

/// What a count query would cost and how accurate it would be; charges nothing and reads no case.
#[utoipa::path(tag = "counts", request_body = CountRequest,
    responses(
        (status = 200, description = "Cost, margins of error and affordability, of one grouping or a workload", body = Estimate),
        (status = 400, description = "request.invalid_body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "request.timeout: the body did not arrive in time", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "request.too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "request.unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate.limited (see Retry-After)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "service.unavailable (see Retry-After)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "auth.forbidden_role, auth.country_scope, query.forbidden_dimension", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "query.* validation errors", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[post("/counts/estimate")]
pub async fn post_estimate(
    state: web::Data<AppState>,
    Counter(consumer): Counter,
    req: HttpRequest,
    JsonBody(body): JsonBody,
) -> Result<HttpResponse, ApiError> {
    super::accepts_json(&req)?;
    let est = release::estimate(&state.pipeline, &consumer, &body).await?;
    Ok(HttpResponse::Ok().json(est))
}
