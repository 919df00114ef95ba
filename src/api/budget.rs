//! `GET /v1/budget` and `GET /v1/budget/history`: the caller's own budget,
//! a summary of its history, and its own ledger entries (never another
//! consumer's, and without the dataset-wide amounts auditors see).

use crate::api::AppState;
use crate::auth::AnyConsumer;
use crate::error::{ApiError, Problem};
use actix_web::get;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

#[derive(Serialize, utoipa::ToSchema)]
pub struct BudgetSummary {
    pub dataset: String,
    pub consumer: String,
    pub role: crate::domain::Role,
    /// The country a government token is scoped to (ISO alpha-3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The region a regional token is scoped to (a region id of the policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
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
#[utoipa::path(tag = "counts", responses(
    (status = 200, description = "Your budget", body = BudgetSummary),
    (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/budget")]
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
        country: consumer.country.map(|c| c.code().to_owned()),
        region: consumer.region.clone(),
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

/// Paging of `GET /v1/budget/history`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// Entries per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

/// One ledger entry about you.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// The entry's sequence number in the ledger (auditors see the same).
    pub seq: i64,
    /// RFC 3339 UTC.
    pub at: String,
    /// `charge`, `replay`, `refusal` or `budget_change`.
    pub event: crate::audit::chain::Event,
    /// `ok`, `idempotent_replay`, or the error code of a refusal.
    pub outcome: String,
    /// The query, in canonical form, when the entry is about one.
    pub query: Option<String>,
    /// What this entry charged you, in `unit`.
    pub cost: f64,
    /// Your spent amount after this entry, when recorded.
    pub spent_after: Option<f64>,
    /// Your limit after this entry, when recorded.
    pub limit_after: Option<f64>,
}

/// One page of your history, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    /// `epsilon` or `rho`.
    pub unit: &'static str,
    pub entries: Vec<HistoryEntry>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Your own ledger entries (charges, repeats, refusals, budget changes), oldest first.
#[utoipa::path(tag = "counts", params(HistoryParams), responses(
    (status = 200, description = "A page of your history", body = HistoryPage),
    (status = 400, description = "audit.bad_cursor, audit.bad_filter (limit out of range)", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/budget/history")]
pub async fn get_history(
    state: web::Data<AppState>,
    AnyConsumer(consumer): AnyConsumer,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    use crate::store::audit::EntryFilter;
    let p = web::Query::<HistoryParams>::from_query(req.query_string())
        .map_err(|e| ApiError::BadAuditFilter(format!("invalid query parameters: {e}")))?
        .into_inner();
    let (cursor, limit) = crate::api::audit::page(p.cursor.as_deref(), p.limit)?;
    let filter = EntryFilter {
        consumer: Some(consumer.id.clone()),
        event: None,
        outcome: None,
        from: None,
        to: None,
    };
    let page = state
        .pipeline
        .store
        .ledger_entries(&filter, cursor, limit as usize)
        .await?;
    let amount = |micro: i64| micro as f64 / 1e6;
    let entries = page
        .entries
        .into_iter()
        .map(|e| {
            let b = e.body;
            HistoryEntry {
                seq: b.seq,
                at: b.at,
                event: b.event,
                outcome: b.outcome.as_str().to_owned(),
                query: b.canonical_query,
                cost: amount(b.cost_micro),
                spent_after: b.consumer_spent_micro.map(amount),
                limit_after: b.consumer_limit_micro.map(amount),
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(HistoryPage {
        unit: state.pipeline.policy.budget_unit(),
        entries,
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    }))
}
