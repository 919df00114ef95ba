//! What every request goes through first and last: a request on a
//! connection beyond its client's share, or with a path that is not UTF-8,
//! is refused before routing; `HEAD` is routed as `GET` (the HTTP layer
//! sends its headers without the body); each request runs in a span named by
//! its route template (never the path's values or the query string); its
//! end is logged (client errors at INFO, an unavailable service at WARN,
//! faults at ERROR, the rest at DEBUG) and counted in the operator metrics.

use crate::error::ApiError;
use crate::metrics::METRICS;
use actix_web::Error;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use std::time::Instant;
use tracing::Instrument;

/// The middleware, for `App::wrap(from_fn(observe))`.
pub async fn observe(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    // HEAD is GET without the body (RFC 9110 §9.3.2), on every resource,
    // with the same authorization and the same charge: the HTTP layer
    // remembers the request was HEAD and sends the headers only. The
    // method label of the metrics and the span, taken above, stays HEAD.
    if req.method() == actix_web::http::Method::HEAD {
        req.head_mut().method = actix_web::http::Method::GET;
    }
    let span = tracing::info_span!(
        "request",
        id = %uuid::Uuid::new_v4().simple(),
        method,
        route = %route,
    );
    // Health probes are exempt: a load balancer's must answer even when
    // the address it shares with clients is over its share.
    let crowded = !route.starts_with("/health")
        && req
            .conn_data::<crate::api::connections::Open>()
            .is_some_and(|c| c.over_limit());
    let refusal = if crowded {
        let max = req
            .app_data::<actix_web::web::Data<crate::api::AppState>>()
            .map_or(0, |s| s.settings.max_connections_per_client);
        Some(ApiError::TooManyConnections { max })
    } else if !path_is_utf8(req.uri().path()) {
        Some(ApiError::InvalidPath)
    } else {
        None
    };
    let outcome = match refusal {
        // With the error attached, so that its code is logged and counted.
        Some(e) => Ok(req.error_response(e)),
        None => next
            .call(req)
            .instrument(span.clone())
            .await
            .map(ServiceResponse::map_into_boxed_body),
    };
    let (status, code) = match &outcome {
        Ok(res) => (
            res.status(),
            res.response()
                .error()
                .and_then(|e| e.as_error::<ApiError>())
                .map(ApiError::code),
        ),
        Err(e) => (
            e.as_response_error().status_code(),
            e.as_error::<ApiError>().map(ApiError::code),
        ),
    };
    let seconds = started.elapsed().as_secs_f64();
    METRICS.request(&route, method, status.as_u16(), seconds);
    if let Some(code) = code {
        METRICS.problem(code);
    }
    let _entered = span.enter();
    let millis = seconds * 1e3;
    let status = status.as_u16();
    // The client's own doing (over its connection share) is a refusal like
    // a 4xx; another 503 is an expected outage of the store or the entropy
    // source, answered with Retry-After and logged where it is noticed;
    // any other 5xx is a fault.
    if code == Some("service.too_many_connections") {
        tracing::info!(status, code, millis, "request refused");
    } else if status == 503 {
        tracing::warn!(status, code, millis, "request failed");
    } else if status >= 500 {
        tracing::error!(status, code, millis, "request failed");
    } else if status >= 400 {
        tracing::info!(status, code, millis, "request refused");
    } else {
        tracing::debug!(status, millis, "request");
    }
    outcome
}

/// The method as a metric label: any method outside HTTP's registered
/// ones is `OTHER`, so a client cannot grow the label set.
fn method_label(m: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

/// Whether `path`, percent-decoded, is UTF-8. The router would decode a
/// bad sequence lossily (`%ff%fe` and `%fe%ff` would both become `"��"`), so
/// two different consumers or countries could be named alike.
fn path_is_utf8(path: &str) -> bool {
    if !path.contains('%') {
        return true;
    }
    let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
            // Two hex digits are below 256.
            (b'%', Some(high), Some(low)) => {
                decoded.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_decode_to_utf8_pass_and_others_do_not() {
        assert!(path_is_utf8("/v1/admin/consumers/alice/budget"));
        assert!(path_is_utf8("/v1/admin/consumers/%C3%A9lodie/budget"));
        assert!(path_is_utf8("/v1/x/100%"));
        assert!(path_is_utf8("/v1/x/%zz"));
        assert!(!path_is_utf8("/v1/admin/consumers/%ff%fe/budget"));
        assert!(!path_is_utf8("/v1/admin/consumers/%fe%ff/budget"));
        assert!(!path_is_utf8("/v1/admin/consumers/%C3/budget"));
    }
}
