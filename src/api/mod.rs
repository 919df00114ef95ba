//! The route tree, in one place, the state every handler shares, and the
//! OpenAPI document generated from it.

pub mod admin;
pub mod audit;
pub mod budget;
pub mod catalog;
pub mod connections;
pub mod console;
pub mod counts;
pub mod health;
pub mod metrics;
pub mod national;
pub mod observe;
pub mod regional;

use crate::error::ApiError;
use crate::release::Pipeline;
use crate::settings::Settings;
use actix_web::{HttpRequest, HttpResponse, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

/// Shared state of every request: the release core, and what only the
/// HTTP edge needs besides.
pub struct AppState {
    pub settings: Settings,
    /// The release core (policy, store, committer, snapshots, noise key).
    pub pipeline: Pipeline,
    /// Per-consumer request rate, checked before a request reaches the core.
    pub rate: crate::rate::RateLimiter,
    /// Signs ledger checkpoints; loaded from `LEDGER_KEY_FILE`, never stored in the database.
    pub signer: crate::audit::Signer,
}

impl AppState {
    /// Admits a request of `consumer` to the release core, or refuses it
    /// (`rate.limited`, with `Retry-After`) before anything is read.
    pub fn admit(&self, consumer: &crate::domain::Consumer) -> Result<(), ApiError> {
        Ok(self.rate.check(&consumer.id)?)
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "CTM privacy-preserving statistics API",
        description = "Noisy, k-suppressed aggregate counts over counter-trafficking case records, charged to per-consumer differential-privacy budgets. Errors are RFC 9457 problem+json with a stable `code`.",
        license(name = "Apache-2.0")
    ),
    paths(
        health::health,
        health::live,
        health::ready,
        metrics::metrics,
        catalog::catalog,
        counts::post_counts,
        counts::post_estimate,
        budget::get_budget,
        budget::get_history,
        audit::list_entries,
        audit::list_checkpoints,
        audit::latest_checkpoint,
        audit::create_checkpoint,
        audit::list_consumers,
        audit::export,
        audit::verify,
        audit::public_key,
        admin::list_consumers,
        admin::put_budget,
        national::sdmx_structure,
        national::list_tables,
        national::get_table,
        national::get_report,
        national::get_bilateral,
        regional::list_tables,
        regional::get_table,
        regional::get_report,
    ),
    // Schemas named only by a parameter's `value_type` are not collected
    // from the paths; every `$ref` must resolve (a test walks them).
    components(schemas(crate::error::Problem, audit::EventName, national::FormatName)),
    modifiers(&BearerAuth, &EdgeResponses),
    tags(
        (name = "public", description = "No token needed"),
        (name = "counts", description = "Researchers and governments"),
        (name = "audit", description = "Auditors: the hash-chained privacy-budget ledger, signed checkpoints, export and verification"),
        (name = "admin", description = "Admins: consumer budgets (every change is a ledger entry)"),
        (name = "operations", description = "Operators: Prometheus metrics (admin token)"),
        (name = "national", description = "National figures: a country's standard tables and annual report as JSON, CSV or SDMX-CSV, and bilateral flows (governments: own country only)"),
        (name = "regional", description = "Regional figures: a region's tables, report and flow tables between its members (regional partners: own region only)"),
    )
)]
pub struct ApiDoc;

/// The refusals of the edge middleware ([`observe`]), which an operation
/// can answer before its handler runs: a path parameter that is not UTF-8
/// (400), and a client over its connection share (503; health probes are
/// exempt).
struct EdgeResponses;

impl Modify for EdgeResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let edge = [
            (
                "400",
                "request.invalid_path (a path that is not UTF-8 once percent-decoded)",
            ),
            (
                "503",
                "service.too_many_connections (your address holds too many open connections; Retry-After)",
            ),
        ];
        for (path, item) in openapi.paths.paths.iter_mut() {
            let edge: Vec<_> = edge
                .iter()
                .filter(|(status, _)| match *status {
                    "400" => path.contains('{'),
                    _ => !path.starts_with("/health"),
                })
                .collect();
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                for &&(status, what) in &edge {
                    let responses = &mut op.responses.responses;
                    match responses.get_mut(status) {
                        Some(RefOr::T(r)) => r.description = format!("{}; {what}", r.description),
                        Some(RefOr::Ref(_)) => {}
                        None => {
                            let problem = ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("Problem")))
                                .build();
                            responses.insert(
                                status.to_owned(),
                                RefOr::T(
                                    ResponseBuilder::new()
                                        .description(what)
                                        .content("application/problem+json", problem)
                                        .build(),
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document as pretty JSON (what `openapi/openapi.json` holds).
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig, state: &web::Data<AppState>) {
    cfg.app_data(state.clone())
        .route("/health", web::get().to(health::health))
        .route("/health/live", web::get().to(health::live))
        .route("/health/ready", web::get().to(health::ready))
        .route("/metrics", web::get().to(metrics::metrics))
        .route(
            "/openapi.json",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(openapi_json())
            }),
        )
        .service(SwaggerUi::new("/docs/{_:.*}").url("/docs/openapi.json", ApiDoc::openapi()))
        .route(
            "/docs",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header(("Location", "/docs/"))
                    .finish()
            }),
        )
        .service(
            web::scope("/v1")
                .route("/catalog", web::get().to(catalog::catalog))
                .route("/counts", web::post().to(counts::post_counts))
                .route("/counts/estimate", web::post().to(counts::post_estimate))
                .route("/budget", web::get().to(budget::get_budget))
                .route("/budget/history", web::get().to(budget::get_history))
                .configure(audit::routes)
                .configure(admin::routes)
                .route("/national/sdmx", web::get().to(national::sdmx_structure))
                .route(
                    "/national/{country}/tables",
                    web::get().to(national::list_tables),
                )
                .route(
                    "/national/{country}/tables/{table}",
                    web::get().to(national::get_table),
                )
                .route(
                    "/national/{country}/report",
                    web::get().to(national::get_report),
                )
                .route(
                    "/national/{country}/bilateral/{other}",
                    web::get().to(national::get_bilateral),
                )
                .route(
                    "/regional/{region}/tables",
                    web::get().to(regional::list_tables),
                )
                .route(
                    "/regional/{region}/tables/{table}",
                    web::get().to(regional::get_table),
                )
                .route(
                    "/regional/{region}/report",
                    web::get().to(regional::get_report),
                ),
        )
        .configure(console::routes)
        .default_service(web::to(not_found));
}

/// Every resource and the methods it allows (`{}` is one path segment),
/// so that a known path asked with another method gets 405 and `Allow`.
/// Every `GET` allows `HEAD` too: [`observe`] routes it as `GET`.
/// A test sends every other method to each of them.
pub const RESOURCES: &[(&str, &str)] = &[
    ("/health", "GET, HEAD"),
    ("/health/live", "GET, HEAD"),
    ("/health/ready", "GET, HEAD"),
    ("/metrics", "GET, HEAD"),
    ("/openapi.json", "GET, HEAD"),
    ("/docs", "GET, HEAD"),
    ("/v1/catalog", "GET, HEAD"),
    ("/v1/counts", "POST"),
    ("/v1/counts/estimate", "POST"),
    ("/v1/budget", "GET, HEAD"),
    ("/v1/budget/history", "GET, HEAD"),
    ("/console", "GET, HEAD"),
    ("/console/{}", "GET, HEAD"),
    ("/console/vendor/{}", "GET, HEAD"),
    ("/v1/audit/entries", "GET, HEAD"),
    ("/v1/audit/checkpoints", "GET, HEAD, POST"),
    ("/v1/audit/checkpoints/latest", "GET, HEAD"),
    ("/v1/audit/consumers", "GET, HEAD"),
    ("/v1/audit/export", "GET, HEAD"),
    ("/v1/audit/verify", "GET, HEAD"),
    ("/v1/audit/public-key", "GET, HEAD"),
    ("/v1/admin/consumers", "GET, HEAD"),
    ("/v1/admin/consumers/{}/budget", "PUT"),
    ("/v1/national/sdmx", "GET, HEAD"),
    ("/v1/national/{}/tables", "GET, HEAD"),
    ("/v1/national/{}/tables/{}", "GET, HEAD"),
    ("/v1/national/{}/report", "GET, HEAD"),
    ("/v1/national/{}/bilateral/{}", "GET, HEAD"),
    ("/v1/regional/{}/tables", "GET, HEAD"),
    ("/v1/regional/{}/tables/{}", "GET, HEAD"),
    ("/v1/regional/{}/report", "GET, HEAD"),
];

/// The methods the resource at `path` allows, if there is one.
fn allowed_methods(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    RESOURCES.iter().find_map(|(pattern, allow)| {
        let parts: Vec<&str> = pattern.split('/').collect();
        (parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(p, s)| *p == *s || (*p == "{}" && !s.is_empty())))
        .then_some(*allow)
    })
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if let Some(allow) = allowed_methods(req.path()) {
        return Err(ApiError::MethodNotAllowed { allow });
    }
    Err(ApiError::not_found(format!(
        "no resource at {} {}",
        req.method(),
        crate::release::error::bounded(req.path())
    )))
}

/// One media range of an `Accept` header.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRange {
    /// Lower-cased `type/subtype`.
    pub mime: String,
    /// The `version` parameter, if any.
    pub version: Option<String>,
}

/// The media ranges of `accept`, most wanted first (by q-value, then by
/// order), leaving out those with `q=0` ("not this", RFC 9110 §12.4.2).
pub fn accepted(accept: &str) -> Vec<MediaRange> {
    let mut ranges: Vec<(f32, usize, MediaRange)> = Vec::new();
    for (i, range) in accept.split(',').enumerate() {
        let mut parts = range.split(';').map(str::trim);
        let mime = parts.next().unwrap_or("").to_ascii_lowercase();
        if mime.is_empty() {
            continue;
        }
        let mut q = 1.0f32;
        let mut version = None;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                let (k, v) = (k.trim(), v.trim().trim_matches('"'));
                if k.eq_ignore_ascii_case("q") {
                    q = v.parse().unwrap_or(0.0);
                } else if k.eq_ignore_ascii_case("version") {
                    version = Some(v.to_owned());
                }
            }
        }
        if q > 0.0 {
            ranges.push((q, i, MediaRange { mime, version }));
        }
    }
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.into_iter().map(|(_, _, r)| r).collect()
}

/// Refuses (406) a request whose `Accept` rules out JSON, on endpoints that
/// answer only JSON. No `Accept`, or an empty one, accepts anything.
pub fn accepts_json(req: &HttpRequest) -> Result<(), ApiError> {
    let accept = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    if accept.is_empty()
        || accepted(accept).iter().any(|r| {
            matches!(
                r.mime.as_str(),
                "application/json" | "application/problem+json" | "application/*" | "*/*"
            )
        })
    {
        Ok(())
    } else {
        Err(ApiError::NotAcceptable)
    }
}

/// Refuses (415) a request body that is not UTF-8 JSON: the one check of
/// every endpoint that reads a body. `Content-Type` must be
/// `application/json` (any case), with at most well-formed parameters of
/// which a `charset` must be `utf-8` (any case, quoted or not). Anything
/// else, a malformed value (`application/json;;;`) included, is refused
/// before the body is read, rather than decoded by a guess.
pub fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if is_utf8_json(content_type) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// Whether `content_type` names UTF-8 JSON (see [`require_json`]).
fn is_utf8_json(content_type: &str) -> bool {
    // RFC 9110 §5.6.3: optional whitespace is spaces and tabs.
    let ows: &[char] = &[' ', '\t'];
    let mut parts = content_type.split(';');
    let mime = parts.next().unwrap_or("").trim_matches(ows);
    if !mime.eq_ignore_ascii_case("application/json") {
        return false;
    }
    parts.all(|parameter| {
        let Some((name, value)) = parameter.trim_matches(ows).split_once('=') else {
            return false;
        };
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(quoted) if !quoted.contains(['"', '\\']) => quoted,
            Some(_) => return false,
            None if is_token(value) => value,
            None => return false,
        };
        is_token(name)
            && (!name.eq_ignore_ascii_case("charset") || value.eq_ignore_ascii_case("utf-8"))
    })
}

/// An RFC 9110 `token`: one or more `tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Reads a request body of at most the policy's `max_body_bytes`: a
/// declared `Content-Length` above it is refused before anything is read,
/// and a body that does not arrive within the configured time (a stalled or
/// trickling client) is refused with 408, releasing the connection.
pub async fn read_body(
    state: &AppState,
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<web::Bytes, ApiError> {
    use futures_util::StreamExt;
    let max = state.pipeline.policy.limits.max_body_bytes;
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(ApiError::TooLarge { max });
    }
    let secs = state.settings.body_timeout_secs;
    let read = async {
        let mut buf = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|_| ApiError::invalid_body("the request body could not be read".into()))?;
            if buf.len() + chunk.len() > max {
                return Err(ApiError::TooLarge { max });
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(std::time::Duration::from_secs(secs), read)
        .await
        .map_err(|_| ApiError::BodyTimeout { secs })?
}

#[cfg(test)]
mod tests {
    use super::is_utf8_json;

    #[test]
    fn only_utf8_json_is_a_json_body() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "application/json; charset=\"utf-8\"",
            "application/json ;\tcharset=utf-8 ",
        ] {
            assert!(is_utf8_json(ok), "{ok}");
        }
        for refused in [
            "",
            "text/plain",
            "application/jsonx",
            "application/json; charset=latin1",
            "application/json; charset=utf-16",
            "application/json; charset=utf8",
            "application/json; charset=utf-8; charset=latin1",
            "application/json;;;",
            "application/json;",
            "application/json; charset",
            "application/json; charset=",
            "application/json; charset = utf-8",
            "application/json; charset=\"utf-8",
        ] {
            assert!(!is_utf8_json(refused), "{refused}");
        }
    }
}
