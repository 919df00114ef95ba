//! The route tree, in one place, the state every handler shares, and the
//! OpenAPI document generated from it.

pub mod admin;
pub mod audit;
mod body;
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
pub mod sdmx;
pub mod synthetic;

use crate::error::ApiError;
use crate::release::Pipeline;
use crate::settings::Settings;
use actix_web::get;
use actix_web::{HttpRequest, HttpResponse, web};
pub use body::{JsonBody, read_body, require_json};
use std::sync::LazyLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{AppExt, scope};
use utoipa_swagger_ui::SwaggerUi;

/// Shared state of every request: the release core, and what only the
/// HTTP edge needs besides.
pub struct AppState {
    pub settings: Settings,
    /// The release core (policy, store, committer, snapshots, noise key).
    pub pipeline: Pipeline,
    /// Signs ledger checkpoints; loaded from `LEDGER_KEY_FILE`, never stored in the database.
    pub signer: crate::audit::Signer,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "CTM privacy-preserving statistics API",
        description = "Noisy, k-suppressed aggregate counts over counter-trafficking case records, charged to per-consumer differential-privacy budgets. Errors are RFC 9457 problem+json with a stable `code`.",
        license(name = "Apache-2.0")
    ),
    // The paths come from the route table ([`routes`]). Schemas named only
    // by a parameter's `value_type` are not collected from the paths; every
    // `$ref` must resolve (a test walks them).
    components(schemas(crate::error::Problem, audit::EventName, national::FormatName)),
    modifiers(&BearerAuth),
    tags(
        (name = "public", description = "No token needed"),
        (name = "counts", description = "Researchers and governments"),
        (name = "audit", description = "Auditors: the hash-chained privacy-budget ledger, signed checkpoints, export and verification"),
        (name = "admin", description = "Admins: consumer budgets (every change is a ledger entry)"),
        (name = "operations", description = "Operators: Prometheus metrics (admin token)"),
        (name = "national", description = "National figures: a country's standard tables and annual report as JSON, CSV or SDMX-CSV, and bilateral flows (governments: own country only)"),
        (name = "regional", description = "Regional figures: a region's tables, report and flow tables between its members (regional partners: own region only)"),
        (name = "sdmx", description = "SDMX 2.1 REST for SDMX clients (sdmx1, rsdmx): structures are public; data are national, regional and bilateral reports, charged like the others; errors are SDMX-ML error messages"),
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
                        Some(RefOr::T(r)) => {
                            r.description = format!("{}; {what}", r.description);
                            // The edge answers problem+json even where the
                            // operation's own refusals have another type
                            // (SDMX error messages).
                            r.content
                                .entry("application/problem+json".to_owned())
                                .or_insert_with(|| {
                                    RefOr::T(
                                        ContentBuilder::new()
                                            .schema(Some(Ref::from_schema_name("Problem")))
                                            .build(),
                                    )
                                });
                        }
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

/// The route table: every operation of the API, once. The server
/// ([`configure`]), the OpenAPI document ([`openapi`]) and the `Allow`
/// table ([`resources`]) are all derived from it, so a route cannot exist
/// in one and not the others. A handler names its method and path with an
/// actix attribute (`#[actix_web::get("/catalog")]`) under its
/// `#[utoipa::path]`, relative to the scope it is registered in here.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(health::health)
        .service(health::live)
        .service(health::ready)
        .service(metrics::metrics)
        .service(openapi_document)
        .service(
            scope("/v1")
                .service(catalog::catalog)
                .service(counts::post_counts)
                .service(counts::post_estimate)
                .configure(synthetic::routes)
                .service(budget::get_budget)
                .service(budget::get_history)
                .configure(audit::routes)
                .configure(admin::routes)
                .service(national::sdmx_structure)
                .service(national::list_tables)
                .service(national::get_table)
                .service(national::get_report)
                .service(national::get_bilateral)
                .service(regional::list_tables)
                .service(regional::get_table)
                .service(regional::get_report),
        )
        .configure(sdmx::routes);
}

/// The OpenAPI document: [`ApiDoc`]'s metadata with the paths of
/// [`routes`], then the edge responses every path shares.
pub fn openapi() -> utoipa::openapi::OpenApi {
    static DOC: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| {
        let (_, mut doc) = actix_web::App::new()
            .into_utoipa_app()
            .openapi(ApiDoc::openapi())
            .configure(routes)
            .split_for_parts();
        // The derive's modifiers ran before the paths were collected.
        EdgeResponses.modify(&mut doc);
        doc
    });
    DOC.clone()
}

/// The OpenAPI document as pretty JSON (what `openapi/openapi.json` holds).
pub fn openapi_json() -> String {
    static JSON: LazyLock<String> =
        LazyLock::new(|| openapi().to_pretty_json().unwrap_or_default());
    JSON.clone()
}

/// This document, generated from the code.
#[utoipa::path(tag = "public", responses(
    (status = 200, description = "The OpenAPI document of this API", body = serde_json::Value, content_type = "application/json"),
))]
#[get("/openapi.json")]
pub async fn openapi_document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi_json())
}

/// Registers every route: the route table, then the two static sites
/// beside the API (the Swagger UI at `/docs/` and the console at
/// `/console/`), which are not operations of the API and allow `GET` and
/// `HEAD` only ([`STATIC_SITES`]).
pub fn configure(cfg: &mut web::ServiceConfig, state: &web::Data<AppState>) {
    cfg.app_data(state.clone());
    routes(&mut ServiceConfig::new(cfg));
    cfg.service(SwaggerUi::new("/docs/{_:.*}").url("/docs/openapi.json", openapi()))
        .route(
            "/docs",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header(("Location", "/docs/"))
                    .finish()
            }),
        )
        .configure(console::routes)
        .default_service(web::to(not_found));
}

/// Path prefixes of the static sites: every path under them allows `GET`
/// and `HEAD`, and nothing else.
pub const STATIC_SITES: &[&str] = &["/docs", "/console"];

/// Every operation's path (`{}` is one path segment) and the methods it
/// allows, read off the OpenAPI document, so that a known path asked with
/// another method gets 405 and `Allow`. Every `GET` allows `HEAD` too:
/// [`observe`] routes it as `GET`.
pub fn resources() -> &'static [(String, String)] {
    static TABLE: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
        openapi()
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let pattern = path
                    .split('/')
                    .map(|s| if s.starts_with('{') { "{}" } else { s })
                    .collect::<Vec<_>>()
                    .join("/");
                let allow: Vec<&str> = [
                    (item.get.is_some(), "GET, HEAD"),
                    (item.post.is_some(), "POST"),
                    (item.put.is_some(), "PUT"),
                    (item.patch.is_some(), "PATCH"),
                    (item.delete.is_some(), "DELETE"),
                ]
                .into_iter()
                .filter_map(|(present, names)| present.then_some(names))
                .collect();
                (pattern, allow.join(", "))
            })
            .collect()
    });
    &TABLE
}

/// The methods the resource at `path` allows, if there is one.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    if STATIC_SITES
        .iter()
        .any(|site| path == *site || path.strip_prefix(site).is_some_and(|r| r.starts_with('/')))
    {
        return Some("GET, HEAD");
    }
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    resources().iter().find_map(|(pattern, allow)| {
        let parts: Vec<&str> = pattern.split('/').collect();
        (parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(p, s)| *p == *s || (*p == "{}" && !s.is_empty())))
        .then_some(allow.as_str())
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
