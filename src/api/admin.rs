//! `/v1/admin/*`: consumer budgets, for the admin role only (the [`Admin`]
//! extractor). The handlers only adapt HTTP to the core: a limit change is
//! decided, written with its `budget_change` ledger entry, and refused (a
//! refusal ledgered like a release's) by [`crate::release::admin`].

use crate::api::{AppState, JsonBody};
use crate::auth::Admin;
use crate::domain::Role;
use crate::error::{ApiError, Problem};
use actix_web::{HttpResponse, web};
use actix_web::{get, put};
use serde::{Deserialize, Serialize};

/// Routes under `/v1/admin`.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/admin")
            .service(list_consumers)
            .service(put_budget),
    );
}

/// Body of `PUT /v1/admin/consumers/{id}/budget`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBudget {
    /// The new lifetime limit in the policy's unit (ε or ρ), at most six
    /// decimal places; never below what the consumer already spent.
    #[schema(
        example = 12.5,
        minimum = 0.0,
        maximum = 9_000_000_000_000.0,
        multiple_of = 0.000001
    )]
    pub limit: f64,
    /// Role of the consumer if it does not exist yet (then required). For an
    /// existing consumer it may be omitted; if given it must be the stored role.
    pub role: Option<Role>,
}

/// A consumer's budget as an admin sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsumerBudget {
    pub consumer: String,
    pub role: String,
    pub limit: f64,
    pub spent: f64,
    pub remaining: f64,
    /// Exact amounts in micro-units (1 = 0.000001).
    pub limit_micro: i64,
    pub spent_micro: i64,
    pub created_at: Option<String>,
}

fn view(
    consumer: String,
    role: String,
    limit: i64,
    spent: i64,
    created_at: Option<String>,
) -> ConsumerBudget {
    ConsumerBudget {
        consumer,
        role,
        limit: limit as f64 / 1e6,
        spent: spent as f64 / 1e6,
        remaining: limit.saturating_sub(spent).max(0) as f64 / 1e6,
        limit_micro: limit,
        spent_micro: spent,
        created_at,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsumerList {
    pub dataset: String,
    /// `epsilon` or `rho`.
    pub unit: &'static str,
    pub consumers: Vec<ConsumerBudget>,
}

/// Every consumer with a budget row, by id.
#[utoipa::path(tag = "admin",
    responses(
        (status = 200, description = "Consumers and their budgets", body = ConsumerList),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "auth.forbidden_role (admins only)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/consumers")]
pub async fn list_consumers(
    state: web::Data<AppState>,
    _: Admin,
) -> Result<HttpResponse, ApiError> {
    let dataset = &state.pipeline.policy.dataset;
    let consumers = state
        .pipeline
        .store
        .consumer_records(Some(dataset))
        .await?
        .into_iter()
        .map(|r| {
            view(
                r.consumer_id,
                r.role,
                r.limit_micro,
                r.spent_micro,
                Some(r.created_at),
            )
        })
        .collect();
    Ok(HttpResponse::Ok().json(ConsumerList {
        dataset: dataset.clone(),
        unit: state.pipeline.policy.budget_unit(),
        consumers,
    }))
}

/// Sets a consumer's lifetime limit (never below what it spent); creates the
/// consumer with `role` if it does not exist. Recorded in the ledger with
/// your identity.
#[utoipa::path(tag = "admin", request_body = SetBudget,
    params(("id" = String, Path, description = "The consumer id (a token `sub`): 1 to 128 visible ASCII characters (letters, digits and punctuation; no spaces)", pattern = "^[!-~]{1,128}$")),
    responses(
        (status = 200, description = "The consumer's budget after the change", body = ConsumerBudget),
        (status = 400, description = "request.invalid_body (malformed body, bad limit); request.invalid_path", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "auth.forbidden_role (admins only); admin.self_change (your own limit); auth.role_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "admin.unknown_consumer (no such consumer yet: give its role to create it)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "admin.limit_below_spent, admin.role_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "request.too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "request.unsupported_media_type", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[put("/consumers/{id}/budget")]
pub async fn put_budget(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    path: web::Path<String>,
    JsonBody(body): JsonBody,
) -> Result<HttpResponse, ApiError> {
    let rec = crate::release::admin::set_limit(&state.pipeline, &admin, &path, &body).await?;
    Ok(HttpResponse::Ok().json(view(
        rec.consumer_id,
        rec.role,
        rec.limit_micro,
        rec.spent_micro,
        Some(rec.created_at),
    )))
}
