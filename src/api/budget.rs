//! `GET /v1/budget`: the caller's own budget and a summary of its history.

use crate::api::AppState;
use crate::auth::AnyConsumer;
use crate::error::{ApiError, Problem};
use actix_web::{HttpResponse, web};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct BudgetSummary {
    pub dataset: String,
    pub consumer: String,
    pub role: crate::domain::Role,
    /// `epsilon` or `rho`.
    pub unit: &'static str,
    pub limit: f64,
    pub spent: f64,
    pub remaining: f64,
    /// zCDP only: spent and limit read as (epsilon, delta)-DP at the policy's delta.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approx_dp: Option<crate::release::BudgetApproxDp>,
    /// Whose privacy the budget is per: `person` or `case`.
    pub unit_of_privacy: crate::policy::PrivacyUnit,
    /// Ledger entries about you, by event: charge, replay, refusal, budget_change.
    pub history: serde_json::Map<String, serde_json::Value>,
    pub last_activity: Option<String>,
}

/// Your lifetime budget, what you spent, and how many releases, repeats and refusals you had.
#[utoipa::path(get, path = "/v1/budget", tag = "counts", responses(
    (status = 200, description = "Your budget", body = BudgetSummary),
    (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
pub async fn get_budget(
    state: web::Data<AppState>,
    AnyConsumer(consumer): AnyConsumer,
) -> Result<HttpResponse, ApiError> {
    let p = &state.pipeline.policy;
    let b = state
        .pipeline
        .store
        .consumer_budget(&p.dataset, &consumer.id)
        .await?;
    let budget = b.unwrap_or(crate::domain::budget::Budget::new(
        p.role_budget(consumer.role),
    ));
    let (history, last) = state
        .pipeline
        .store
        .consumer_history(&p.dataset, &consumer.id)
        .await?;
    Ok(HttpResponse::Ok().json(BudgetSummary {
        dataset: p.dataset.clone(),
        consumer: consumer.id.clone(),
        role: consumer.role,
        unit: p.budget_unit(),
        limit: budget.limit.to_f64(),
        spent: budget.spent.to_f64(),
        remaining: budget.remaining().to_f64(),
        approx_dp: crate::release::budget_view(p, budget).approx_dp,
        unit_of_privacy: p.unit,
        history: history
            .into_iter()
            .map(|(k, v)| (k, serde_json::json!(v)))
            .collect(),
        last_activity: last,
    }))
}
