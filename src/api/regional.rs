//! `GET /v1/regional/...`: a region's figures for its regional partners
//! (and researchers). The same tables, pipeline, budgets and formats as the
//! national figures ([`crate::national`]), for a region of the policy as a
//! whole, plus the flow tables between its members.

use crate::api::AppState;
use crate::api::national::{ListQuery, ReportQuery, TableQuery};
use crate::auth::FigureReader;
use crate::error::{ApiError, Problem};
use crate::national::{AreaPath, NationalRelease, NationalTables};
use actix_web::get;
use actix_web::{HttpRequest, HttpResponse, web};

/// The tables offered for a region on a perspective (the national tables
/// for the members as a whole, then the flow tables), their cost and what
/// each (and the whole report) would charge you now. Charges nothing.
///
/// A regional token may ask only for the region of its `region` claim.
#[utoipa::path(tag = "regional",
    params(("region" = String, Path, description = "A region id of the policy (see the catalog), e.g. gms", pattern = "^[a-z][a-z0-9_-]{0,31}$"), ListQuery),
    responses(
        (status = 200, description = "The tables and their cost", body = NationalTables),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "auth.forbidden_role, auth.region_scope (a regional token asking for another region), auth.country_scope (government tokens read their country only)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "regional.unknown_region", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "query.invalid", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate.limited (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/regional/{region}/tables")]
pub async fn list_tables(
    state: web::Data<AppState>,
    FigureReader(consumer): FigureReader,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    super::national::list_response(&state, &consumer, AreaPath::Region(&path), &req).await
}

/// One table of a region (a national table for the members as a whole, or
/// a flow table), released like `POST /v1/counts` and charged before it is sent.
#[utoipa::path(tag = "regional",
    params(
        ("region" = String, Path, description = "A region id of the policy, e.g. gms", pattern = "^[a-z][a-z0-9_-]{0,31}$"),
        ("table" = String, Path, description = "A table id from GET /v1/regional/{region}/tables", pattern = "^[a-z0-9_]{1,64}$"),
        TableQuery,
    ),
    responses(
        (status = 200, description = "The released table: JSON, CSV, SDMX-CSV 1.0 or 2.0", content(
            (NationalRelease = "application/json"),
            (String = "text/csv"),
            (String = "application/vnd.sdmx.data+csv;version=1.0.0"),
            (String = "application/vnd.sdmx.data+csv;version=2.0.0"),
        )),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "budget.exhausted, budget.global_exhausted, auth.forbidden_role, auth.region_scope, auth.country_scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "regional.unknown_region, national.unknown_table", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "request.not_acceptable", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "query.invalid, query.too_many_cells (a flow table above the policy's cell limit)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate.limited (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/regional/{region}/tables/{table}")]
pub async fn get_table(
    state: web::Data<AppState>,
    FigureReader(consumer): FigureReader,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (region, table) = path.into_inner();
    super::national::table_response(&state, &consumer, AreaPath::Region(&region), &table, &req)
        .await
}

/// Every table of a region on a perspective, flow tables included, in one
/// release with one total cost (all charged in one transaction or none).
#[utoipa::path(tag = "regional",
    params(("region" = String, Path, description = "A region id of the policy, e.g. gms", pattern = "^[a-z][a-z0-9_-]{0,31}$"), ReportQuery),
    responses(
        (status = 200, description = "Every table: JSON, CSV, SDMX-CSV 1.0 or 2.0", content(
            (NationalRelease = "application/json"),
            (String = "text/csv"),
            (String = "application/vnd.sdmx.data+csv;version=1.0.0"),
            (String = "application/vnd.sdmx.data+csv;version=2.0.0"),
        )),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "budget.exhausted, budget.global_exhausted (nothing charged), auth.forbidden_role, auth.region_scope, auth.country_scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "regional.unknown_region", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "request.not_acceptable", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "query.invalid, query.too_many_cells (a flow table above the policy's cell limit)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate.limited (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/regional/{region}/report")]
pub async fn get_report(
    state: web::Data<AppState>,
    FigureReader(consumer): FigureReader,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let region = path.into_inner();
    super::national::report_response(&state, &consumer, AreaPath::Region(&region), &req).await
}
