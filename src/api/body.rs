//! Request bodies: the media type every body must have (UTF-8 JSON), the
//! size and time limits of reading one, and [`JsonBody`], the extractor
//! that applies both before a handler runs.

use super::AppState;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use std::future::Future;
use std::pin::Pin;

/// A request body that is UTF-8 JSON by its `Content-Type` ([`require_json`])
/// and was read within the policy's size and the configured time
/// ([`read_body`]); still bytes, for the core parses it with its own rules.
pub struct JsonBody(pub web::Bytes);

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let checked = require_json(req).and_then(|()| {
            req.app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::internal("application state not configured"))
        });
        let (req, payload) = (req.clone(), payload.take());
        Box::pin(async move {
            let state = checked?;
            Ok(JsonBody(read_body(&state, &req, payload).await?))
        })
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
    mut payload: impl futures_util::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>>
    + Unpin,
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
