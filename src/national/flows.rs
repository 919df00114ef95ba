//! The release flows: one table, a report (every table of a scope in one
//! transaction) and a bilateral flow, each through `Pipeline::release` and
//! the refusal-ledger wrapper; and the observation keys of a report, listed
//! without releasing it.

use super::render::{self, Consistency, PaidReport, render};
use super::scope::{AreaPath, Scope, bilateral_scope, perspective_name, resolve_scope};
use super::tables::{TablePlan, find_table, offered_tables, plan_table};
use super::{Format, Params};
use crate::domain::Consumer;
use crate::policy::Policy;
use crate::release::query::sha256_hex;
use crate::release::{self, Pipeline, Plan, Refused, ReleaseError, Released};
use serde_json::json;

/// `GET /v1/national/{country}/tables/{table}`: one table, charged like `POST /v1/counts`.
pub async fn release_table(
    pipeline: &Pipeline,
    consumer: &Consumer,
    path: AreaPath<'_>,
    table_id: &str,
    params: &Params,
    format: Format,
) -> Result<Released, ReleaseError> {
    let result = release_table_inner(pipeline, consumer, path, table_id, params, format).await;
    release::ledger_if_refused(pipeline, consumer, result).await
}

async fn release_table_inner(
    pipeline: &Pipeline,
    consumer: &Consumer,
    path: AreaPath<'_>,
    table_id: &str,
    params: &Params,
    format: Format,
) -> Result<Released, Refused> {
    let policy = &pipeline.policy;
    let scope = resolve_scope(policy, consumer, path, params).map_err(Refused::bare)?;
    let table = find_table(policy, table_id, &scope).map_err(Refused::bare)?;
    let tp = plan_table(policy, consumer, table, &scope).map_err(Refused::bare)?;
    // A table of a report this consumer already paid for is published as
    // in that report (consistent with its other tables).
    // (A report with a table that cannot be planned, such as a region's
    // flow table above the cell limit, was never paid for.)
    let report_plans: Vec<TablePlan<'_>> = offered_tables(policy, &scope)
        .into_iter()
        .map(|t| plan_table(policy, consumer, t, &scope))
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    let paid = paid_report(pipeline, consumer, &report_plans)
        .await
        .map_err(|e| Refused::naming(e, &tp.plan.canonical, &tp.plan.query_id))?;
    let report = paid.as_ref().map(|(keys, bodies)| PaidReport {
        plans: &report_plans,
        keys,
        bodies,
    });
    let (receipts, body) = pipeline
        .release(consumer, &[&tp.plan], None, |charged| {
            let consistency = match &report {
                Some(r) => Consistency::AsInReport(r),
                None => Consistency::Independent,
            };
            render(
                policy,
                &scope,
                std::slice::from_ref(&tp),
                charged,
                format,
                consistency,
            )
        })
        .await
        .map_err(|e| Refused::naming(e, &tp.plan.canonical, &tp.plan.query_id))?;
    if let Some(receipt) = receipts.first() {
        tracing::info!(
            consumer = %consumer.id,
            area = %scope.area.code(policy),
            table = %table.id,
            query_id = %tp.plan.query_id,
            charged_micro = receipt.charged.micro(),
            repeat = receipt.replay,
            ledger_seq = receipt.ledger_seq,
            "national table"
        );
    }
    Ok(Released {
        content_type: format.content_type().into(),
        body,
        replayed: false,
    })
}

/// The release keys and stored bodies of the report made of `plans`, if
/// `consumer` paid for every one of its tables on the current data.
async fn paid_report(
    pipeline: &Pipeline,
    consumer: &Consumer,
    plans: &[TablePlan<'_>],
) -> Result<Option<(Vec<String>, Vec<String>)>, ReleaseError> {
    if plans.is_empty() {
        return Ok(None);
    }
    let data = release::DataView::current(pipeline);
    let keys: Vec<String> = plans.iter().map(|tp| data.release_key(&tp.plan)).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let outlook = pipeline
        .store
        .outlook(&pipeline.policy.dataset, &consumer.id, &refs)
        .await?;
    let bodies: Option<Vec<String>> = outlook
        .releases
        .into_iter()
        .map(|known| known.filter(|k| k.paid).map(|k| k.body))
        .collect();
    Ok(bodies.map(|b| (keys, b)))
}

/// `GET /v1/national/{country}/report`: every table of the perspective in one
/// transaction; the cost is the sum of the tables not yet paid for.
pub async fn release_report(
    pipeline: &Pipeline,
    consumer: &Consumer,
    path: AreaPath<'_>,
    params: &Params,
    format: Format,
) -> Result<Released, ReleaseError> {
    let result = release_report_inner(pipeline, consumer, path, params, format).await;
    release::ledger_if_refused(pipeline, consumer, result).await
}

async fn release_report_inner(
    pipeline: &Pipeline,
    consumer: &Consumer,
    path: AreaPath<'_>,
    params: &Params,
    format: Format,
) -> Result<Released, Refused> {
    let policy = &pipeline.policy;
    let scope = resolve_scope(policy, consumer, path, params).map_err(Refused::bare)?;
    report_of_scope(pipeline, consumer, &scope, format).await
}

/// Every table offered to `scope`, released in one transaction.
async fn report_of_scope(
    pipeline: &Pipeline,
    consumer: &Consumer,
    scope: &Scope,
    format: Format,
) -> Result<Released, Refused> {
    let policy = &pipeline.policy;
    let scope = *scope;
    let plans: Vec<TablePlan<'_>> = offered_tables(policy, &scope)
        .into_iter()
        .map(|t| plan_table(policy, consumer, t, &scope))
        .collect::<Result<_, _>>()
        .map_err(Refused::bare)?;
    if plans.is_empty() {
        return Err(Refused::bare(ReleaseError::NotFound(format!(
            "no national table is offered on the {} perspective",
            perspective_name(scope.perspective)
        ))));
    }
    // The ledger names a refused report by its tables' queries.
    let canonical = json!({
        "national_report": {
            "dataset": policy.dataset,
            "country": scope.area.code(policy),
            "other": scope.other.map(|c| c.code()),
            "perspective": scope.perspective,
            "from_year": scope.from_year,
            "to_year": scope.to_year,
            "tables": plans.iter().map(|tp| json!({"id": tp.table.id, "query_id": tp.plan.query_id})).collect::<Vec<_>>(),
        }
    })
    .to_string();
    let hash = sha256_hex(canonical.as_bytes());

    // One snapshot, one charge, one transaction for every table; tables
    // already released (by anyone) are not counted again, and none is
    // counted unless the budgets can pay for the report.
    let table_plans: Vec<&Plan> = plans.iter().map(|tp| &tp.plan).collect();
    let (receipts, body) = pipeline
        .release(consumer, &table_plans, None, |charged| {
            render(policy, &scope, &plans, charged, format, Consistency::Report)
        })
        .await
        .map_err(|e| Refused::naming(e, &canonical, &hash))?;
    tracing::info!(
        consumer = %consumer.id,
        area = %scope.area.code(policy),
        tables = receipts.len(),
        charged_micro = receipts.iter().map(|r| r.charged.micro()).sum::<u64>(),
        "national report"
    );
    Ok(Released {
        content_type: format.content_type().into(),
        body,
        replayed: false,
    })
}

/// `GET /v1/national/{country}/bilateral/{other}`: the flow between two
/// countries in one table of two directions (the country's nationals
/// exploited in the other, the other's nationals exploited in the country),
/// released in one transaction. A government may ask for its own country
/// and any other: both directions are about its country.
pub async fn release_bilateral(
    pipeline: &Pipeline,
    consumer: &Consumer,
    country: &str,
    other: &str,
    params: &Params,
    format: Format,
) -> Result<Released, ReleaseError> {
    let result = async {
        let scope = bilateral_scope(&pipeline.policy, consumer, country, other, params)
            .map_err(Refused::bare)?;
        report_of_scope(pipeline, consumer, &scope, format).await
    }
    .await;
    release::ledger_if_refused(pipeline, consumer, result).await
}

/// Which report a request names: a country's or a region's
/// (`.../report`), or a bilateral flow (`.../bilateral/{other}`).
#[derive(Debug, Clone, Copy)]
pub enum ReportOf<'a> {
    Area(AreaPath<'a>),
    Bilateral { country: &'a str, other: &'a str },
}

/// Releases the report `of` names: [`release_report`] or [`release_bilateral`].
pub async fn release_report_of(
    pipeline: &Pipeline,
    consumer: &Consumer,
    of: ReportOf<'_>,
    params: &Params,
    format: Format,
) -> Result<Released, ReleaseError> {
    match of {
        ReportOf::Area(path) => release_report(pipeline, consumer, path, params, format).await,
        ReportOf::Bilateral { country, other } => {
            release_bilateral(pipeline, consumer, country, other, params, format).await
        }
    }
}

/// The SDMX key and time period of every observation the report `of`
/// names would have, in the order a release lists them: from the policy
/// and the token alone, so nothing is read, charged or ledgered. The same
/// refusals as the release itself (scope, unknown country or region).
pub fn report_keys(
    policy: &Policy,
    consumer: &Consumer,
    of: ReportOf<'_>,
    params: &Params,
) -> Result<Vec<(Vec<String>, String)>, ReleaseError> {
    let scope = match of {
        ReportOf::Area(path) => resolve_scope(policy, consumer, path, params)?,
        ReportOf::Bilateral { country, other } => {
            bilateral_scope(policy, consumer, country, other, params)?
        }
    };
    let plans: Vec<TablePlan<'_>> = offered_tables(policy, &scope)
        .into_iter()
        .map(|t| plan_table(policy, consumer, t, &scope))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&TablePlan<'_>> = plans.iter().collect();
    Ok(render::observation_keys(policy, &scope, &refs))
}
