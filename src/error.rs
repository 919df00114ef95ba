//! The HTTP error type: every refusal the API can give, its status, its stable
//! `code`, and its RFC 9457 `application/problem+json` body. Internal causes
//! are logged (without case data) and never sent; no message depends on the data.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

pub use crate::release::ReleaseError;

/// An RFC 9457 problem document as sent on the wire.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:ctm-stats:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `budget.exhausted`.
    pub code: String,
    /// Extension members, e.g. `remaining` and `requested` for `budget.exhausted`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

/// Every error the API returns.
#[derive(Debug)]
pub enum ApiError {
    MissingToken,
    InvalidToken(String),
    ForbiddenRole {
        role: String,
        allowed: &'static str,
    },
    TooLarge {
        max: usize,
    },
    /// The request body did not arrive in time (a stalled or trickling client).
    BodyTimeout {
        secs: u64,
    },
    UnsupportedMediaType,
    NotAcceptable,
    /// Like [`ApiError::NotAcceptable`], on an endpoint with other formats (named).
    NotAcceptableOf(&'static str),
    InvalidIdempotencyKey,
    /// An audit `cursor` that is not one this API handed out.
    BadCursor,
    /// An audit filter that cannot be read (time, event, limit).
    BadAuditFilter(String),
    /// The client holds more open connections than it may.
    TooManyConnections {
        max: usize,
    },
    /// A path that is not UTF-8 once percent-decoded (`%ff%fe`): refused
    /// rather than decoded lossily into another name.
    InvalidPath,
    /// The resource exists but not with this method; `allow` lists its methods.
    MethodNotAllowed {
        allow: &'static str,
    },
    /// A refusal or failure of the release core.
    Release(ReleaseError),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            MissingToken | InvalidToken(_) => "auth.invalid_token",
            ForbiddenRole { .. } => "auth.forbidden_role",
            TooLarge { .. } => "request.too_large",
            BodyTimeout { .. } => "request.timeout",
            UnsupportedMediaType => "request.unsupported_media_type",
            NotAcceptable | NotAcceptableOf(_) => "request.not_acceptable",
            InvalidIdempotencyKey => "idempotency.invalid_key",
            BadCursor => "audit.bad_cursor",
            BadAuditFilter(_) => "audit.bad_filter",
            TooManyConnections { .. } => "service.too_many_connections",
            MethodNotAllowed { .. } => "request.method_not_allowed",
            InvalidPath => "request.invalid_path",
            Release(e) => e.code(),
        }
    }

    fn title(&self) -> &'static str {
        use ApiError::*;
        match self {
            MissingToken | InvalidToken(_) => "Invalid or missing token",
            ForbiddenRole { .. } => "Role not allowed",
            TooLarge { .. } => "Request too large",
            BodyTimeout { .. } => "Request body too slow",
            UnsupportedMediaType => "Unsupported media type",
            NotAcceptable | NotAcceptableOf(_) => "Not acceptable",
            InvalidIdempotencyKey => "Invalid idempotency key",
            BadCursor => "Invalid cursor",
            BadAuditFilter(_) => "Invalid audit filter",
            TooManyConnections { .. } => "Too many connections",
            MethodNotAllowed { .. } => "Method not allowed",
            InvalidPath => "Invalid path",
            Release(e) => e.title(),
        }
    }

    fn detail_and_extra(&self) -> (String, Map<String, Value>) {
        use ApiError::*;
        let mut extra = Map::new();
        let detail = match self {
            MissingToken => "send an Authorization: Bearer <token> header".into(),
            InvalidToken(why) => format!("the bearer token was refused: {why}"),
            ForbiddenRole { role, allowed } => {
                format!("role {role} may not use this endpoint; allowed: {allowed}")
            }
            TooLarge { max } => format!("the request body exceeds {max} bytes"),
            BodyTimeout { secs } => format!(
                "the request body did not arrive within {secs} s; nothing was read or charged"
            ),
            UnsupportedMediaType => {
                "send the body as UTF-8 JSON: Content-Type: application/json, with charset=utf-8 or no charset".into()
            }
            NotAcceptable => "this endpoint answers application/json or text/csv".into(),
            NotAcceptableOf(formats) => format!("this endpoint answers {formats}"),
            InvalidIdempotencyKey => {
                "Idempotency-Key must be 1 to 128 visible ASCII characters".into()
            }
            BadCursor => {
                "cursor must be a next_cursor value returned by this endpoint (a sequence number)"
                    .into()
            }
            BadAuditFilter(m) => m.clone(),
            MethodNotAllowed { allow } => {
                format!("this method is not allowed on this resource; it allows {allow}")
            }
            TooManyConnections { max } => format!(
                "your address holds more than {max} open connections; close idle ones (or reuse them) and retry"
            ),
            InvalidPath => {
                "the path is not UTF-8 text once percent-decoded; encode names as UTF-8".into()
            }
            Release(e) => {
                let (detail, more) = e.detail_and_extra();
                extra = more;
                detail
            }
        };
        (detail, extra)
    }

    pub fn problem(&self) -> Problem {
        let (detail, extra) = self.detail_and_extra();
        Problem {
            kind: format!("urn:ctm-stats:problem:{}", self.code()),
            title: self.title().into(),
            status: self.status_code().as_u16(),
            detail,
            code: self.code().into(),
            extra,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.detail_and_extra().0)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        use ApiError::*;
        match self {
            MissingToken | InvalidToken(_) => StatusCode::UNAUTHORIZED,
            ForbiddenRole { .. } => StatusCode::FORBIDDEN,
            InvalidIdempotencyKey | BadCursor | BadAuditFilter(_) | InvalidPath => {
                StatusCode::BAD_REQUEST
            }
            TooManyConnections { .. } => StatusCode::SERVICE_UNAVAILABLE,
            TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            NotAcceptable | NotAcceptableOf(_) => StatusCode::NOT_ACCEPTABLE,
            MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Release(e) => release_status(e),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Release(e) = self
            && let Some(cause) = e.cause()
        {
            tracing::error!(code = self.code(), cause = %cause, "internal error");
        }
        let problem = self.problem();
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        match self {
            ApiError::MissingToken => {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"ctm-stats\""));
            }
            ApiError::InvalidToken(_) => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    "Bearer realm=\"ctm-stats\", error=\"invalid_token\"",
                ));
            }
            ApiError::MethodNotAllowed { allow } => {
                res.insert_header((header::ALLOW, *allow));
            }
            ApiError::Release(ReleaseError::RateLimited { retry_after_secs }) => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            // Worth retrying soon: the store or the entropy source was briefly away.
            ApiError::Release(ReleaseError::Unavailable(_) | ReleaseError::EntropyUnavailable) => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::TooManyConnections { .. } => {
                res.insert_header((header::RETRY_AFTER, "1"));
                // Free the connection: the client is over its share.
                res.force_close();
            }
            _ => {}
        }
        res.body(serde_json::to_vec(&problem).unwrap_or_default())
    }
}

/// The status of a refusal or failure of the release core.
fn release_status(e: &ReleaseError) -> StatusCode {
    use ReleaseError::*;
    match e {
        CountryScope(_)
        | RegionScope(_)
        | BudgetExhausted { .. }
        | GlobalBudgetExhausted { .. }
        | ForbiddenDimension { .. }
        | RoleChanged { .. }
        | SelfChange => StatusCode::FORBIDDEN,
        LimitBelowSpent { .. } | RoleMismatch { .. } => StatusCode::CONFLICT,
        UnknownConsumer => StatusCode::NOT_FOUND,
        UnknownDimension { .. }
        | UnknownValue { .. }
        | CostOutOfRange { .. }
        | AccuracyUnreachable { .. }
        | TooManyCells { .. }
        | TooManyDimensions { .. }
        | TooManyGroupings { .. }
        | NotSynthesizable { .. }
        | InvalidQuery(_)
        | IdempotencyKeyReused
        | UnknownCountry(_) => StatusCode::UNPROCESSABLE_ENTITY,
        InvalidBody(_) => StatusCode::BAD_REQUEST,
        RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        NotFound(_) | UnknownTable { .. } | UnknownRegion { .. } => StatusCode::NOT_FOUND,
        EntropyUnavailable | Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Internal(_) | RenderFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    /// `request.invalid_body`.
    pub fn invalid_body(message: String) -> Self {
        ApiError::Release(ReleaseError::InvalidBody(message))
    }

    /// `query.invalid`.
    pub fn invalid_query(message: String) -> Self {
        ApiError::Release(ReleaseError::InvalidQuery(message))
    }

    /// `resource.not_found`.
    pub fn not_found(message: String) -> Self {
        ApiError::Release(ReleaseError::NotFound(message))
    }

    /// `internal.error` for a broken invariant: the cause is logged, never sent.
    pub fn internal(context: &'static str) -> Self {
        ApiError::Release(ReleaseError::Internal(crate::release::error::Cause::bare(
            context,
        )))
    }

    /// A failure of the service rather than a refusal (see [`ReleaseError::is_internal`]).
    pub fn is_internal(&self) -> bool {
        matches!(self, ApiError::Release(e) if e.is_internal())
    }

    /// Whether the refusal is ledgered (see [`ReleaseError::is_ledgered`]).
    pub fn is_ledgered(&self) -> bool {
        match self {
            ApiError::Release(e) => e.is_ledgered(),
            _ => true,
        }
    }
}

impl From<ReleaseError> for ApiError {
    fn from(e: ReleaseError) -> Self {
        ApiError::Release(e)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::Release(e.into())
    }
}
