//! `/console/`: the web console, a static single-page application embedded
//! in the binary (`console/` in the repository), so `cargo build` alone
//! ships it and it works offline.
//!
//! The console holds no figure of its own: it calls the same JSON endpoints
//! as any client, with the token the person pasted (kept in the tab's
//! `sessionStorage`, sent as a bearer header, never in a URL). Every console
//! response carries [`CSP`]: scripts, styles, fonts, images and requests
//! from this origin only, and no inline script, so a figure or a consumer id
//! shown on a page cannot run as code, and the page cannot send a token
//! anywhere else.

use crate::error::ApiError;
use actix_web::http::header;
use actix_web::middleware::{Compress, DefaultHeaders};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// The Content-Security-Policy of every console response. `blob:` images
/// are the console's own drawing: a chart exported as PNG is its SVG drawn
/// on a canvas through an <img> of a blob: URL made in the page.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' blob:; font-src 'self'; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
pub struct Asset {
    /// Path under `/console/`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:literal) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("../../console/", $path)),
        }
    };
}

/// Every file of the console. The vendored charting library (Observable
/// Plot and D3, ISC licence) and the world map (world-atlas TopoJSON and
/// topojson-client, ISC) are refreshed by `scripts/update-console-vendor.sh`.
pub const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("cells.js", "text/javascript; charset=utf-8"),
    asset!("charts.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("export.js", "text/javascript; charset=utf-8"),
    asset!("figure.js", "text/javascript; charset=utf-8"),
    asset!("labels.js", "text/javascript; charset=utf-8"),
    asset!("map.js", "text/javascript; charset=utf-8"),
    asset!("methodology.js", "text/javascript; charset=utf-8"),
    asset!("snippets.js", "text/javascript; charset=utf-8"),
    asset!("view-admin.js", "text/javascript; charset=utf-8"),
    asset!("view-auditor.js", "text/javascript; charset=utf-8"),
    asset!("view-budget.js", "text/javascript; charset=utf-8"),
    asset!("view-catalog.js", "text/javascript; charset=utf-8"),
    asset!("view-national.js", "text/javascript; charset=utf-8"),
    asset!("view-regional.js", "text/javascript; charset=utf-8"),
    asset!("view-researcher.js", "text/javascript; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("vendor/d3.min.js", "text/javascript; charset=utf-8"),
    asset!("vendor/plot.umd.min.js", "text/javascript; charset=utf-8"),
    asset!("vendor/LICENSE-d3", "text/plain; charset=utf-8"),
    asset!("vendor/LICENSE-plot", "text/plain; charset=utf-8"),
    asset!("vendor/VERSIONS", "text/plain; charset=utf-8"),
    // The world map: loaded by map.js on first use only.
    asset!(
        "vendor/topojson-client.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("vendor/countries-110m.json", "application/json"),
    asset!(
        "vendor/LICENSE-topojson-client",
        "text/plain; charset=utf-8"
    ),
    asset!("vendor/LICENSE-world-atlas", "text/plain; charset=utf-8"),
];

/// Entity tags of the assets (a prefix of their SHA-256), computed once, so
/// a browser revalidates cheaply and never runs a stale script after an
/// upgrade.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| format!("\"{}\"", hex::encode(&Sha256::digest(a.body)[..12])))
        .collect()
});

/// Routes under `/console`, each answer with the security headers.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let secure = DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"));
    cfg.service(
        web::scope("/console")
            // The vendored library is most of the console's bytes; gzip or
            // Brotli cut them by about two thirds. (No secret is ever in a
            // console file, so compression reveals nothing.)
            .wrap(Compress::default())
            .wrap(secure)
            .route(
                "",
                web::get().to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header((header::LOCATION, "/console/"))
                        .finish()
                }),
            )
            .route("/", web::get().to(asset))
            .route("/{path:.+}", web::get().to(asset)),
    );
}

async fn asset(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let path = req.match_info().get("path").unwrap_or("index.html");
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return Err(ApiError::not_found(format!(
            "no console file {}",
            crate::release::error::bounded(path)
        )));
    };
    let (file, etag) = (&ASSETS[i], &ETAGS[i]);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut answer = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    answer
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    Ok(if fresh {
        answer.finish()
    } else {
        answer.content_type(file.content_type).body(file.body)
    })
}

/// Total size of the console's files, in bytes (for the docs and the tests).
pub fn total_bytes() -> usize {
    ASSETS.iter().map(|a| a.body.len()).sum()
}
