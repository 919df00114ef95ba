//! `GET /v1/national/...`: national figures for government partners. The
//! handlers adapt HTTP (path, query string, format negotiation) to
//! [`crate::national`], where tables, reports and formats live.

use crate::api::AppState;
use crate::auth::FigureReader;
use crate::error::{ApiError, Problem};
use crate::national::{self, AreaPath, Format, NationalRelease, NationalTables, Params, sdmx};
use crate::release::Released;
use crate::release::query::Perspective;
use actix_web::get;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

/// The names `?format=` takes (documentation of the parameter; the value
/// is read with [`Format::parse`], and anything else is a 406).
#[derive(utoipa::ToSchema)]
#[schema(
    rename_all = "lowercase",
    description = "A format of national and regional figures: JSON, CSV, SDMX-CSV 1.0 (`sdmx`) or SDMX-CSV 2.0 (`sdmx2`)."
)]
#[allow(dead_code)]
pub enum FormatName {
    Json,
    Csv,
    Sdmx,
    Sdmx2,
}

/// Query parameters of `GET /v1/national/{country}/tables`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `country_of_exploitation` (default): victims identified in the country;
    /// `citizenship`: the country's nationals, wherever identified.
    pub perspective: Option<Perspective>,
    /// First registration year (default: the dataset's first); not after `to_year`.
    #[param(minimum = 2000, maximum = 2100)]
    pub from_year: Option<i64>,
    /// Last registration year (default: the dataset's last); not before `from_year`.
    #[param(minimum = 2000, maximum = 2100)]
    pub to_year: Option<i64>,
}

/// Query parameters of `GET /v1/national/{country}/tables/{table}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TableQuery {
    /// `country_of_exploitation` (default) or `citizenship`.
    pub perspective: Option<Perspective>,
    /// First registration year (default: the dataset's first); not after `to_year`.
    #[param(minimum = 2000, maximum = 2100)]
    pub from_year: Option<i64>,
    /// Last registration year (default: the dataset's last); not before `from_year`.
    #[param(minimum = 2000, maximum = 2100)]
    pub to_year: Option<i64>,
    /// `json` (default), `csv`, `sdmx` (SDMX-CSV 1.0) or `sdmx2` (SDMX-CSV 2.0); overrides the Accept header.
    #[param(value_type = Option<FormatName>)]
    pub format: Option<String>,
}

/// Query parameters of `GET /v1/national/{country}/report`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `country_of_exploitation` (default) or `citizenship`.
    pub perspective: Option<Perspective>,
    /// The registration year of an annual report (default: every year). Not
    /// with `from_year` or `to_year`: a request naming both is refused (422
    /// query.invalid).
    #[param(minimum = 2000, maximum = 2100)]
    pub year: Option<i64>,
    /// First registration year, instead of `year`; not after `to_year`.
    #[param(minimum = 2000, maximum = 2100)]
    pub from_year: Option<i64>,
    /// Last registration year, instead of `year`; not before `from_year`.
    #[param(minimum = 2000, maximum = 2100)]
    pub to_year: Option<i64>,
    /// `json` (default), `csv`, `sdmx` (SDMX-CSV 1.0) or `sdmx2` (SDMX-CSV 2.0); overrides the Accept header.
    #[param(value_type = Option<FormatName>)]
    pub format: Option<String>,
}

pub(crate) fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::invalid_query(format!("invalid query parameters: {e}")))
}

/// Chooses the format: `?format=` first, else the most wanted media range
/// of `Accept` that can be served (q-values weighed, `q=0` excluded), else
/// 406; JSON when there is no `Accept`.
pub fn negotiate(req: &HttpRequest, format: Option<&str>) -> Result<Format, ApiError> {
    let offered = "application/json, text/csv, application/vnd.sdmx.data+csv;version=1.0.0 or application/vnd.sdmx.data+csv;version=2.0.0 (?format=json, csv, sdmx or sdmx2)";
    if let Some(name) = format {
        return Format::parse(name).ok_or(ApiError::NotAcceptableOf(offered));
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    if accept.is_empty() {
        return Ok(Format::Json);
    }
    for range in super::accepted(accept) {
        let version = range.version.as_deref();
        let found = match range.mime.as_str() {
            "application/vnd.sdmx.data+csv"
                if version.is_none_or(|v| v == "1.0.0" || v == "1.0") =>
            {
                Some(Format::Sdmx)
            }
            "application/vnd.sdmx.data+csv"
                if version.is_some_and(|v| v == "2.0.0" || v == "2.0") =>
            {
                Some(Format::Sdmx2)
            }
            "text/csv" => Some(Format::Csv),
            "application/json" | "application/*" | "*/*" => Some(Format::Json),
            _ => None,
        };
        if let Some(f) = found {
            return Ok(f);
        }
    }
    Err(ApiError::NotAcceptableOf(offered))
}

pub(crate) fn respond(out: Released, format: Format, filename: String) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.content_type(out.content_type);
    res.insert_header((header::VARY, "Accept"));
    if format != Format::Json {
        res.insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}.csv\""),
        ));
    }
    res.body(out.body)
}

pub(crate) fn file_stem(country: &str, what: &str, format: Format) -> String {
    // Only characters that need no quoting; the country was validated already.
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let suffix = match format {
        Format::Sdmx => "-sdmx",
        Format::Sdmx2 => "-sdmx2",
        Format::Json | Format::Csv | Format::Observations => "",
    };
    format!(
        "ctm-{}-{}{suffix}",
        clean(&country.to_ascii_uppercase()),
        clean(what)
    )
}

/// The national tables offered for a country on a perspective, their cost
/// and what each (and the whole report) would charge you now. Charges nothing.
///
/// A government token may ask only for the country of its `country` claim.
#[utoipa::path(tag = "national",
    params(("country" = String, Path, description = "ISO 3166-1 alpha-3, any case, e.g. USA", pattern = "^[A-Za-z]{3}$"), ListQuery),
    responses(
        (status = 200, description = "The tables and their cost", body = NationalTables),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "auth.forbidden_role, auth.country_scope, auth.region_scope (a government asking for another country)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "national.unknown_country, query.invalid", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate.limited (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/national/{country}/tables")]
pub async fn list_tables(
    state: web::Data<AppState>,
    FigureReader(consumer): FigureReader,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    list_response(&state, &consumer, AreaPath::Country(&path), &req).await
}

/// The body of the table-listing handlers (national and regional).
pub(crate) async fn list_response(
    state: &AppState,
    consumer: &crate::domain::Consumer,
    area: AreaPath<'_>,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: ListQuery = query(req)?;
    super::accepts_json(req)?;
    let params = Params {
        perspective: q.perspective,
        from_year: q.from_year,
        to_year: q.to_year,
    };
    let list = national::list_tables(&state.pipeline, consumer, area, &params).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// One national table for a country, released like `POST /v1/counts` and
/// charged to your budget before it is sent.
///
/// The table is the count query of its dimensions filtered to the country on
/// the perspective's field (and to the years), at the table's cost: the same
/// release as the equivalent `POST /v1/counts` (see `count_request` in the
/// answer), so a repeat through either route is identical and free. Every cell
/// of the declared domain is returned; cells whose noisy count is below k are
/// suppressed. Total rows are derived from the released cells.
#[utoipa::path(tag = "national",
    params(
        ("country" = String, Path, description = "ISO 3166-1 alpha-3, any case, e.g. USA", pattern = "^[A-Za-z]{3}$"),
        ("table" = String, Path, description = "A table id from GET /v1/national/{country}/tables", pattern = "^[a-z0-9_]{1,64}$"),
        TableQuery,
    ),
    responses(
        (status = 200, description = "The released table: JSON, CSV (one row per cell), SDMX-CSV 1.0 or 2.0", content(
            (NationalRelease = "application/json"),
            (String = "text/csv"),
            (String = "application/vnd.sdmx.data+csv;version=1.0.0"),
            (String = "application/vnd.sdmx.data+csv;version=2.0.0"),
        )),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "budget.exhausted, budget.global_exhausted, auth.forbidden_role, auth.country_scope, auth.region_scope, query.forbidden_dimension", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "national.unknown_table", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "request.not_acceptable", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "national.unknown_country, query.invalid", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate.limited (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/national/{country}/tables/{table}")]
pub async fn get_table(
    state: web::Data<AppState>,
    FigureReader(consumer): FigureReader,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (country, table) = path.into_inner();
    table_response(&state, &consumer, AreaPath::Country(&country), &table, &req).await
}

/// The body of the one-table handlers (national and regional).
pub(crate) async fn table_response(
    state: &AppState,
    consumer: &crate::domain::Consumer,
    area: AreaPath<'_>,
    table: &str,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: TableQuery = query(req)?;
    let format = negotiate(req, q.format.as_deref())?;
    let params = Params {
        perspective: q.perspective,
        from_year: q.from_year,
        to_year: q.to_year,
    };
    let out =
        national::release_table(&state.pipeline, consumer, area, table, &params, format).await?;
    Ok(respond(out, format, file_stem(area.name(), table, format)))
}

/// Every national table of a perspective for a country, in one release with
/// one total cost (for an annual report: `?year=`).
///
/// All tables are charged in one transaction or none is; tables you already
/// paid for are free, and the cost is the sum of the others. Each table is the
/// same release as `GET /v1/national/{country}/tables/{table}` for the same
/// years.
#[utoipa::path(tag = "national",
    params(("country" = String, Path, description = "ISO 3166-1 alpha-3, any case, e.g. USA", pattern = "^[A-Za-z]{3}$"), ReportQuery),
    responses(
        (status = 200, description = "Every table: JSON, CSV (one row per cell), SDMX-CSV 1.0 or 2.0", content(
            (NationalRelease = "application/json"),
            (String = "text/csv"),
            (String = "application/vnd.sdmx.data+csv;version=1.0.0"),
            (String = "application/vnd.sdmx.data+csv;version=2.0.0"),
        )),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "budget.exhausted, budget.global_exhausted (nothing charged), auth.forbidden_role, auth.country_scope, auth.region_scope", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "request.not_acceptable", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "national.unknown_country, query.invalid", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate.limited (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/national/{country}/report")]
pub async fn get_report(
    state: web::Data<AppState>,
    FigureReader(consumer): FigureReader,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let country = path.into_inner();
    report_response(&state, &consumer, AreaPath::Country(&country), &req).await
}

/// The body of the report handlers (national and regional).
pub(crate) async fn report_response(
    state: &AppState,
    consumer: &crate::domain::Consumer,
    area: AreaPath<'_>,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: ReportQuery = query(req)?;
    let format = negotiate(req, q.format.as_deref())?;
    if q.year.is_some() && (q.from_year.is_some() || q.to_year.is_some()) {
        return Err(ApiError::invalid_query(
            "give year, or from_year and to_year, not both".into(),
        ));
    }
    let params = Params {
        perspective: q.perspective,
        from_year: q.year.or(q.from_year),
        to_year: q.year.or(q.to_year),
    };
    let what = match q.year {
        Some(y) => format!("report_{y}"),
        None => "report".to_owned(),
    };
    let out = national::release_report(&state.pipeline, consumer, area, &params, format).await?;
    Ok(respond(out, format, file_stem(area.name(), &what, format)))
}

/// Query parameters of `GET /v1/national/{country}/bilateral/{other}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BilateralQuery {
    /// First registration year (default: the dataset's first); not after `to_year`.
    #[param(minimum = 2000, maximum = 2100)]
    pub from_year: Option<i64>,
    /// Last registration year (default: the dataset's last); not before `from_year`.
    #[param(minimum = 2000, maximum = 2100)]
    pub to_year: Option<i64>,
    /// `json` (default), `csv`, `sdmx` (SDMX-CSV 1.0) or `sdmx2` (SDMX-CSV 2.0); overrides the Accept header.
    #[param(value_type = Option<FormatName>)]
    pub format: Option<String>,
}

/// The flow between a country and another, both directions in one release:
/// the country's nationals exploited in the other country (`outbound`), and
/// the other country's nationals exploited in the country (`inbound`).
///
/// A government token may ask for its own country and any other: both
/// directions are about its country. Both tables are charged in one
/// transaction (`bilateral.cost` of the policy each); repeats are free.
#[utoipa::path(tag = "national",
    params(
        ("country" = String, Path, description = "ISO 3166-1 alpha-3, any case, e.g. USA", pattern = "^[A-Za-z]{3}$"),
        ("other" = String, Path, description = "The other country, ISO 3166-1 alpha-3, e.g. MEX", pattern = "^[A-Za-z]{3}$"),
        BilateralQuery,
    ),
    responses(
        (status = 200, description = "Both directions: JSON, CSV, SDMX-CSV 1.0 or 2.0", content(
            (NationalRelease = "application/json"),
            (String = "text/csv"),
            (String = "application/vnd.sdmx.data+csv;version=1.0.0"),
            (String = "application/vnd.sdmx.data+csv;version=2.0.0"),
        )),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "budget.exhausted, budget.global_exhausted (nothing charged), auth.forbidden_role, auth.country_scope, auth.region_scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "resource.not_found (the policy offers no bilateral flows)", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "request.not_acceptable", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "national.unknown_country, query.invalid (the same country twice)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate.limited (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/national/{country}/bilateral/{other}")]
pub async fn get_bilateral(
    state: web::Data<AppState>,
    FigureReader(consumer): FigureReader,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (country, other) = path.into_inner();
    let q: BilateralQuery = query(&req)?;
    let format = negotiate(&req, q.format.as_deref())?;
    let params = Params {
        perspective: None,
        from_year: q.from_year,
        to_year: q.to_year,
    };
    let out = national::release_bilateral(
        &state.pipeline,
        &consumer,
        &country,
        &other,
        &params,
        format,
    )
    .await?;
    let what = format!("bilateral_{}", other.to_ascii_uppercase());
    Ok(respond(out, format, file_stem(&country, &what, format)))
}

/// The `CTM_VICTIMS` SDMX data structure: dimensions in column order with
/// their code lists (and the API values they stand for), the measure and the
/// attributes. Public, no token; never a count.
#[utoipa::path(tag = "public", responses(
    (status = 200, description = "The SDMX structure of national figures", body = sdmx::SdmxStructure),
))]
#[get("/national/sdmx")]
pub async fn sdmx_structure(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(sdmx::structure(&state.pipeline.policy))
}
