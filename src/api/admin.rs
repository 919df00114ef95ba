//! `/v1/admin/*`: consumer budgets, for the admin role only (the [`Admin`]
//! extractor). A limit change is written by [`crate::store::Store::set_consumer_limit`]
//! as a `budget_change` ledger entry naming the admin, in the same transaction
//! as the change; a refused change is ledgered as a refusal of the admin.

use crate::api::AppState;
use crate::auth::Admin;
use crate::domain::Role;
use crate::domain::budget::Amount;
use crate::error::{ApiError, Problem};
use crate::release::query::sha256_hex;
use actix_web::{HttpRequest, HttpResponse, web};
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

/// Reads a limit as exact micro-units: a plain decimal with at most six places.
fn limit_amount(limit: f64) -> Result<Amount, ApiError> {
    let bad = || {
        ApiError::invalid_body(
            "limit must be a non-negative number with at most six decimal places".into(),
        )
    };
    if !limit.is_finite() || limit < 0.0 {
        return Err(bad());
    }
    // `Display` of an f64 is its shortest round-trip decimal, without an exponent.
    let amount = Amount::parse_decimal(&format!("{limit}")).map_err(|_| bad())?;
    // Stored amounts are signed 64-bit: refuse what cannot be stored exactly.
    amount.to_i64().map_err(|_| bad())?;
    Ok(amount)
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
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let target = path.into_inner();
    let mut action: Option<String> = None;
    let result = set_budget(&state, &admin, &target, &req, payload, &mut action).await;
    if let Err(err) = &result
        && err.is_ledgered()
    {
        // A refused change is part of the audit trail too.
        let hash = action.as_deref().map(|a| sha256_hex(a.as_bytes()));
        crate::release::ledger_refusal(
            &state.pipeline,
            &admin,
            err.code(),
            action.as_deref().zip(hash.as_deref()),
        )
        .await;
    }
    result
}

async fn set_budget(
    state: &AppState,
    admin: &crate::domain::Consumer,
    target: &str,
    req: &HttpRequest,
    payload: web::Payload,
    action: &mut Option<String>,
) -> Result<HttpResponse, ApiError> {
    if !crate::domain::is_valid_consumer_id(target) {
        return Err(ApiError::invalid_body(format!(
            "the consumer id must be {}, as a token's sub",
            crate::domain::CONSUMER_ID_RULE
        )));
    }
    super::require_json(req)?;
    let body = super::read_body(state, req, payload).await?;
    let SetBudget { limit, role } = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid_body(format!("invalid JSON body: {e}")))?;
    let limit = limit_amount(limit)?;
    *action = Some(
        serde_json::json!({"action": "set_limit", "target": target, "limit_micro": limit.micro(), "role": role})
            .to_string(),
    );
    if target == admin.id {
        // Separation of duties: whoever holds the admin role does not
        // raise their own budget.
        return Err(crate::release::ReleaseError::SelfChange.into());
    }
    let dataset = &state.pipeline.policy.dataset;
    // The role the store knows, from the budget row or else the ledger (a
    // consumer refused so far has entries but no row).
    let known = state.pipeline.store.known_role(dataset, target).await?;
    let role_if_new = match (known, role) {
        (Some(stored), Some(r)) if stored != r.code() => {
            return Err(ApiError::RoleMismatch {
                stored,
                requested: r.code().into(),
            });
        }
        (None, None) => return Err(ApiError::UnknownConsumer),
        (Some(stored), None) => Role::parse(&stored)
            .ok_or_else(|| ApiError::internal("a stored consumer has an unknown role"))?,
        (_, Some(r)) => r,
    };
    match state
        .pipeline
        .store
        .set_consumer_limit(dataset, admin, target, role_if_new, limit)
        .await?
    {
        Some(_) => {
            let rec = state
                .pipeline
                .store
                .consumer_record(dataset, target)
                .await?
                .ok_or_else(|| ApiError::internal("consumer vanished after a limit change"))?;
            tracing::info!(admin = %admin.id, consumer = %target, limit_micro = limit.micro(), "consumer limit set");
            Ok(HttpResponse::Ok().json(view(
                rec.consumer_id,
                rec.role,
                rec.limit_micro,
                rec.spent_micro,
                Some(rec.created_at),
            )))
        }
        None => {
            let spent = state
                .pipeline
                .store
                .consumer_budget(dataset, target)
                .await?
                .map_or(Amount::ZERO, |b| b.spent);
            Err(ApiError::LimitBelowSpent {
                spent: spent.to_f64(),
                requested: limit.to_f64(),
                unit: state.pipeline.policy.budget_unit(),
            })
        }
    }
}
