//! `/sdmx/...`: the SDMX 2.1 REST interface, for SDMX clients (`sdmx1`,
//! `rsdmx`, .Stat Suite). The handlers read the path and the `Accept`
//! header and call [`crate::sdmx`]; every refusal, the edge's own (token,
//! role, rate, media type) included, is an SDMX-ML 2.1 error message with
//! the status the rest of the API gives it.
//!
//! The documented operations take the full paths; the shorter forms
//! (`/sdmx/dataflow`, `/sdmx/data/{flow}`, ...) and trailing slashes reach
//! the same answer through the scope's default service, which reads the
//! path itself.

use crate::api::AppState;
use crate::auth::FigureReader;
use crate::error::ApiError;
use crate::sdmx::{self, DataFormat, Detail, Resource, SdmxError, StructureQuery};
use actix_web::body::BoxBody;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, get, web};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the interface under `/sdmx`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        scope("/sdmx")
            .service(get_dataflow)
            .service(get_datastructure)
            .service(get_codelist)
            .service(get_conceptscheme)
            .service(get_data)
            .default_service(web::to(answer)),
    );
}

/// The media type of structure messages.
const STRUCTURE_TYPE: &str = "application/vnd.sdmx.structure+xml; version=2.1";
/// The media type of error messages.
const ERROR_TYPE: &str = "application/xml; charset=utf-8";

/// Decodes `%XX` escapes of a path segment (`+` stays a `+`: it joins codes).
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The `Accept` header, trimmed (empty when absent).
fn accept(req: &HttpRequest) -> &str {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
}

const DATA_OFFERED: &str = "application/vnd.sdmx.genericdata+xml;version=2.1, application/vnd.sdmx.structurespecificdata+xml;version=2.1, application/vnd.sdmx.data+json;version=1.0.0, application/vnd.sdmx.data+csv;version=1.0.0 or ;version=2.0.0 (or ?format=genericdata, structurespecificdata, jsondata, csvfile, csv2file)";

/// The data format an `Accept` header asks for: the most wanted range we
/// serve; GenericData for XML in general (what `rsdmx` sends) and for
/// anything; 406 when nothing we serve is acceptable.
fn negotiate_data(req: &HttpRequest) -> Result<DataFormat, ApiError> {
    let accept = accept(req);
    if accept.is_empty() {
        return Ok(DataFormat::Generic);
    }
    for range in super::accepted(accept) {
        let v = range.version.as_deref();
        let found = match range.mime.as_str() {
            "application/vnd.sdmx.genericdata+xml" | "application/vnd.sdmx.generic+xml" => {
                Some(DataFormat::Generic)
            }
            "application/vnd.sdmx.structurespecificdata+xml" => Some(DataFormat::StructureSpecific),
            "application/vnd.sdmx.data+json" if v.is_none_or(|v| v.starts_with("1.0")) => {
                Some(DataFormat::Json)
            }
            "application/json" => Some(DataFormat::Json),
            "application/vnd.sdmx.data+csv" if v.is_some_and(|v| v.starts_with("2.0")) => {
                Some(DataFormat::Csv2)
            }
            "application/vnd.sdmx.data+csv" if v.is_none_or(|v| v.starts_with("1.0")) => {
                Some(DataFormat::Csv1)
            }
            "text/csv" => Some(DataFormat::Csv1),
            "application/xml" | "text/xml" | "application/*" | "text/*" | "*/*" => {
                Some(DataFormat::Generic)
            }
            _ => None,
        };
        if let Some(f) = found {
            return Ok(f);
        }
    }
    Err(ApiError::NotAcceptableOf(DATA_OFFERED))
}

/// Refuses (406) an `Accept` that rules out SDMX-ML structure messages.
fn negotiate_structure(req: &HttpRequest) -> Result<(), ApiError> {
    let accept = accept(req);
    if accept.is_empty()
        || super::accepted(accept).iter().any(|r| {
            matches!(
                r.mime.as_str(),
                "application/vnd.sdmx.structure+xml"
                    | "application/xml"
                    | "text/xml"
                    | "application/*"
                    | "text/*"
                    | "*/*"
            )
        })
    {
        Ok(())
    } else {
        Err(ApiError::NotAcceptableOf(
            "application/vnd.sdmx.structure+xml;version=2.1",
        ))
    }
}

/// The SDMX error code of an HTTP status (SDMX 2.1 REST, "Error handling").
fn sdmx_code(status: StatusCode) -> u16 {
    match status.as_u16() {
        400 => 140,
        401 => 110,
        403 | 422 => 150,
        404 => 100,
        413 => 510,
        501 => 501,
        503 => 503,
        429 => 1000,
        406 => 1001,
        405 => 1002,
        _ => 500,
    }
}

/// An edge or core refusal as an SDMX error message: the status and
/// headers (`Retry-After`, `WWW-Authenticate`, `Allow`) of the problem the
/// rest of the API would send, with an SDMX-ML body naming the same code
/// and detail (and its extension members, e.g. the budget `remaining`).
fn api_error(e: &ApiError) -> HttpResponse {
    let res = e.error_response();
    let problem = e.problem();
    let mut texts = vec![problem.code.clone(), problem.detail.clone()];
    for (name, value) in &problem.extra {
        texts.push(format!("{name}: {value}"));
    }
    let body = sdmx::error_message(sdmx_code(res.status()), &texts);
    let mut res = res.set_body(BoxBody::new(body));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(ERROR_TYPE),
    );
    res
}

fn sdmx_error(e: SdmxError) -> HttpResponse {
    let status = match &e {
        SdmxError::Syntax(_) => StatusCode::BAD_REQUEST,
        SdmxError::NoResults(_) => StatusCode::NOT_FOUND,
        SdmxError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        SdmxError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
        SdmxError::Release(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let code = e.code();
    match e {
        SdmxError::Release(e) => api_error(&ApiError::Release(e)),
        SdmxError::Syntax(detail)
        | SdmxError::NoResults(detail)
        | SdmxError::TooLarge(detail)
        | SdmxError::NotImplemented(detail) => HttpResponse::build(status)
            .content_type(ERROR_TYPE)
            .body(sdmx::error_message(
                sdmx_code(status),
                &[code.to_owned(), detail],
            )),
    }
}

/// Every refusal of a request.
enum Refusal {
    Api(ApiError),
    Sdmx(SdmxError),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Api(e)
    }
}

impl From<SdmxError> for Refusal {
    fn from(e: SdmxError) -> Self {
        Refusal::Sdmx(e)
    }
}

/// The time a message was prepared (RFC 3339, whole seconds, UTC).
fn prepared() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The token's consumer (researcher, government or regional partner).
async fn figure_reader(req: &HttpRequest) -> Result<crate::domain::Consumer, ApiError> {
    let FigureReader(consumer) = FigureReader::extract(req).await?;
    Ok(consumer)
}

/// Answers any request under `/sdmx`.
async fn answer(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match respond(&state, &req).await {
        Ok(res) => res,
        Err(Refusal::Api(e)) => api_error(&e),
        Err(Refusal::Sdmx(e)) => sdmx_error(e),
    }
}

async fn respond(state: &AppState, req: &HttpRequest) -> Result<HttpResponse, Refusal> {
    if req.method() != actix_web::http::Method::GET {
        return Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }.into());
    }
    let rest = req.path().strip_prefix("/sdmx").unwrap_or("");
    let decoded: Vec<String> = rest
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s).ok_or(ApiError::InvalidPath))
        .collect::<Result<_, _>>()?;
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let params: Vec<(String, String)> =
        web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map(web::Query::into_inner)
            .map_err(|_| SdmxError::Syntax("the query string cannot be read".into()))?;
    let policy = &state.pipeline.policy;
    match segments.split_first() {
        Some((&"data", rest)) => data(state, req, rest, &params).await,
        Some((first, rest)) if Resource::parse(first).is_some() => {
            let resource = Resource::parse(first)
                .ok_or_else(|| SdmxError::NoResults("no such resource".into()))?;
            negotiate_structure(req)?;
            let query = StructureQuery::parse(resource, rest, &params)?;
            let body = sdmx::structure_message(policy, &query, &prepared())?;
            Ok(HttpResponse::Ok()
                .content_type(STRUCTURE_TYPE)
                .insert_header((header::VARY, "Accept"))
                .body(body))
        }
        _ => Err(SdmxError::NoResults(
            "the SDMX resources here are data, dataflow, datastructure, codelist and conceptscheme"
                .into(),
        )
        .into()),
    }
}

async fn data(
    state: &AppState,
    req: &HttpRequest,
    segments: &[&str],
    params: &[(String, String)],
) -> Result<HttpResponse, Refusal> {
    let policy = &state.pipeline.policy;
    let query = sdmx::read_data_query(policy, segments, params)?;
    let format = match query.format.as_deref() {
        Some(name) => DataFormat::parse(name).ok_or(ApiError::NotAcceptableOf(DATA_OFFERED))?,
        None => negotiate_data(req)?,
    };
    // Released numbers need a token; series keys come from the structures.
    // The extractor also takes one request of the consumer's rate.
    let consumer = if query.detail.needs_data() || req.headers().contains_key(header::AUTHORIZATION)
    {
        Some(figure_reader(req).await?)
    } else {
        None
    };
    let answer = sdmx::answer_data(
        &state.pipeline,
        consumer.as_ref(),
        &query,
        format,
        &prepared(),
    )
    .await?;
    let mut res = HttpResponse::Ok();
    res.content_type(answer.content_type)
        .insert_header((header::VARY, "Accept, Authorization"));
    if matches!(format, DataFormat::Csv1 | DataFormat::Csv2) {
        res.insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}.{}\"",
                query.flow.id().to_ascii_lowercase(),
                format.extension()
            ),
        ));
    }
    if query.detail == Detail::SeriesKeysOnly || query.detail == Detail::NoData {
        // Public structure, the same for everyone.
        res.insert_header((header::CACHE_CONTROL, "public, max-age=300"));
    }
    Ok(res.body(answer.body))
}

/// The SDMX-ML 2.1 structure message of the dataflows: one per published
/// table family (national tables on each perspective, regional tables and
/// flows, bilateral flows). Public, no token; never a count.
///
/// Also at `/sdmx/dataflow`, `/sdmx/dataflow/{agency}` and
/// `/sdmx/dataflow/{agency}/{id}`, with or without a trailing slash.
#[utoipa::path(tag = "sdmx",
    params(
        ("agency" = String, Path, description = "CTM, or all"),
        ("id" = String, Path, description = "A dataflow id (CTM_NAT_COE, CTM_NAT_CIT, CTM_REG_COE, CTM_REG_CIT, CTM_BILATERAL), or all"),
        ("version" = String, Path, description = "1.0, latest or all"),
        ("references" = Option<String>, Query, description = "none (default), children (the data structure, its code lists and concepts), parents, all", pattern = "^(none|children|descendants|parents|parentsandsiblings|all|dataflow|datastructure|codelist|conceptscheme)$"),
    ),
    responses(
        (status = 200, description = "SDMX-ML 2.1 structure message", body = String, content_type = "application/vnd.sdmx.structure+xml; version=2.1"),
        (status = 400, description = "SDMX error 140 (sdmx.invalid_query)", body = String, content_type = "application/xml"),
        (status = 404, description = "SDMX error 100 (sdmx.no_results): no such dataflow, agency or version", body = String, content_type = "application/xml"),
        (status = 406, description = "SDMX error 1001 (request.not_acceptable)", body = String, content_type = "application/xml"),
    ))]
#[get("/dataflow/{agency}/{id}/{version}")]
pub async fn get_dataflow(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    answer(state, req).await
}

/// The SDMX-ML 2.1 structure message of the data structure definition
/// `CTM:CTM_VICTIMS(1.0)`: the dimensions (in key order), `TIME_PERIOD`,
/// the `OBS_VALUE` measure and the attributes (`CONF_STATUS`,
/// `OBS_STATUS`, `UNIT_MEASURE`, `MARGIN_OF_ERROR`); with
/// `references=children` its code lists and concept scheme too. Public.
#[utoipa::path(tag = "sdmx",
    params(
        ("agency" = String, Path, description = "CTM, or all"),
        ("id" = String, Path, description = "CTM_VICTIMS, or all"),
        ("version" = String, Path, description = "1.0, latest or all"),
        ("references" = Option<String>, Query, description = "none (default), children, parents (the dataflows), all", pattern = "^(none|children|descendants|parents|parentsandsiblings|all|dataflow|datastructure|codelist|conceptscheme)$"),
    ),
    responses(
        (status = 200, description = "SDMX-ML 2.1 structure message", body = String, content_type = "application/vnd.sdmx.structure+xml; version=2.1"),
        (status = 400, description = "SDMX error 140 (sdmx.invalid_query)", body = String, content_type = "application/xml"),
        (status = 404, description = "SDMX error 100 (sdmx.no_results)", body = String, content_type = "application/xml"),
        (status = 406, description = "SDMX error 1001 (request.not_acceptable)", body = String, content_type = "application/xml"),
    ))]
#[get("/datastructure/{agency}/{id}/{version}")]
pub async fn get_datastructure(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    answer(state, req).await
}

/// The code lists (`CL_REF_AREA`, `CL_SEX`, ...) as an SDMX-ML 2.1
/// structure message, with names in every language the service has. Public.
#[utoipa::path(tag = "sdmx",
    params(
        ("agency" = String, Path, description = "CTM, or all"),
        ("id" = String, Path, description = "A code list id (CL_ and the component's id, e.g. CL_SEX), or all"),
        ("version" = String, Path, description = "1.0, latest or all"),
        ("references" = Option<String>, Query, description = "none (default), parents (the data structure), all", pattern = "^(none|children|descendants|parents|parentsandsiblings|all|dataflow|datastructure|codelist|conceptscheme)$"),
    ),
    responses(
        (status = 200, description = "SDMX-ML 2.1 structure message", body = String, content_type = "application/vnd.sdmx.structure+xml; version=2.1"),
        (status = 400, description = "SDMX error 140 (sdmx.invalid_query)", body = String, content_type = "application/xml"),
        (status = 404, description = "SDMX error 100 (sdmx.no_results)", body = String, content_type = "application/xml"),
        (status = 406, description = "SDMX error 1001 (request.not_acceptable)", body = String, content_type = "application/xml"),
    ))]
#[get("/codelist/{agency}/{id}/{version}")]
pub async fn get_codelist(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    answer(state, req).await
}

/// The concept scheme `CS_CTM_VICTIMS` as an SDMX-ML 2.1 structure message. Public.
#[utoipa::path(tag = "sdmx",
    params(
        ("agency" = String, Path, description = "CTM, or all"),
        ("id" = String, Path, description = "CS_CTM_VICTIMS, or all"),
        ("version" = String, Path, description = "1.0, latest or all"),
        ("references" = Option<String>, Query, description = "none (default), parents (the data structure), all", pattern = "^(none|children|descendants|parents|parentsandsiblings|all|dataflow|datastructure|codelist|conceptscheme)$"),
    ),
    responses(
        (status = 200, description = "SDMX-ML 2.1 structure message", body = String, content_type = "application/vnd.sdmx.structure+xml; version=2.1"),
        (status = 400, description = "SDMX error 140 (sdmx.invalid_query)", body = String, content_type = "application/xml"),
        (status = 404, description = "SDMX error 100 (sdmx.no_results)", body = String, content_type = "application/xml"),
        (status = 406, description = "SDMX error 1001 (request.not_acceptable)", body = String, content_type = "application/xml"),
    ))]
#[get("/conceptscheme/{agency}/{id}/{version}")]
pub async fn get_conceptscheme(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    answer(state, req).await
}

/// Data of a dataflow: the report its key names (one country, one region,
/// or one pair of countries for bilateral flows), released like
/// `GET /v1/national/{country}/report` and charged before it is sent (a
/// repeat is free), its observations selected by the key.
///
/// The key is the dimensions' codes in key order joined by `.`, several
/// codes of one dimension joined by `+`, an empty position for any, or
/// `all`. A government reads its own country, a regional partner its own
/// region (an empty area position means theirs). `detail=serieskeysonly`
/// (or `nodata`) answers from the public structures: no token, no charge.
/// Suppressed cells have no `OBS_VALUE` and `CONF_STATUS=C`; released ones
/// `OBS_STATUS=E` and a `MARGIN_OF_ERROR`. Also at `/sdmx/data/{flow}` and
/// `/sdmx/data/{flow}/{key}`.
#[utoipa::path(tag = "sdmx",
    params(
        ("flow" = String, Path, description = "A dataflow: ID, AGENCY,ID or AGENCY,ID,VERSION, e.g. CTM_NAT_COE"),
        ("key" = String, Path, description = "e.g. USA (REF_AREA only, the rest empty: give every position, see the data structure), USA..F, or all"),
        ("provider" = String, Path, description = "CTM, or all"),
        ("startPeriod" = Option<String>, Query, description = "First registration year (2015, 2015-01-01, ...)"),
        ("endPeriod" = Option<String>, Query, description = "Last registration year"),
        ("dimensionAtObservation" = Option<String>, Query, description = "TIME_PERIOD (default), AllDimensions or a dimension id"),
        ("detail" = Option<String>, Query, description = "full (default), dataonly, serieskeysonly (free, no token), nodata (free, no token)"),
        ("format" = Option<String>, Query, description = "genericdata, structurespecificdata, jsondata, csvfile (SDMX-CSV 1.0) or csv2file (SDMX-CSV 2.0); overrides Accept"),
    ),
    responses(
        (status = 200, description = "The observations: GenericData (default, and for application/xml), StructureSpecificData, SDMX-JSON 1.0, SDMX-CSV 1.0 or 2.0, by Accept", content(
            (String = "application/vnd.sdmx.genericdata+xml; version=2.1"),
            (String = "application/vnd.sdmx.structurespecificdata+xml; version=2.1"),
            (String = "application/vnd.sdmx.data+json; version=1.0.0"),
            (String = "application/vnd.sdmx.data+csv; version=1.0.0"),
            (String = "application/vnd.sdmx.data+csv; version=2.0.0"),
        )),
        (status = 400, description = "SDMX error 140 (sdmx.invalid_query): the key, flow or a parameter cannot be read", body = String, content_type = "application/xml"),
        (status = 401, description = "SDMX error 110 (auth.invalid_token)", body = String, content_type = "application/xml"),
        (status = 403, description = "SDMX error 150: budget.exhausted (with what remains), budget.global_exhausted, auth.country_scope, auth.region_scope, auth.forbidden_role; nothing charged", body = String, content_type = "application/xml"),
        (status = 404, description = "SDMX error 100 (sdmx.no_results): no such dataflow or provider, a code outside its code list, a key no observation has; nothing charged", body = String, content_type = "application/xml"),
        (status = 406, description = "SDMX error 1001 (request.not_acceptable)", body = String, content_type = "application/xml"),
        (status = 413, description = "SDMX error 510 (sdmx.too_large): the key names more than one report; nothing charged", body = String, content_type = "application/xml"),
        (status = 429, description = "SDMX error 1000 (rate.limited, see Retry-After)", body = String, content_type = "application/xml"),
        (status = 501, description = "SDMX error 501 (sdmx.not_implemented): firstNObservations, lastNObservations", body = String, content_type = "application/xml"),
    ),
    security((), ("bearer" = [])))]
#[get("/data/{flow}/{key}/{provider}")]
pub async fn get_data(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    answer(state, req).await
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn path_segments_are_percent_decoded_and_plus_stays() {
        assert_eq!(percent_decode("USA%2BMEX").as_deref(), Some("USA+MEX"));
        assert_eq!(percent_decode("USA+MEX").as_deref(), Some("USA+MEX"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff%fe"), None);
    }
}
