//! The HTTP error type: every refusal the API can give, its status, its stable
//! `code`, and its RFC 9457 `application/problem+json` body. Internal causes
//! are logged (without case data) and never sent; no message depends on the data.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::fmt;

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
    CountryScope(String),
    BudgetExhausted {
        remaining: f64,
        requested: f64,
        unit: &'static str,
    },
    GlobalBudgetExhausted {
        requested: f64,
        unit: &'static str,
    },
    UnknownDimension {
        name: String,
        valid: Vec<String>,
    },
    UnknownValue {
        dimension: String,
        value: String,
    },
    ForbiddenDimension {
        name: String,
    },
    CostOutOfRange {
        requested: String,
        min: f64,
        max: f64,
        unit: &'static str,
    },
    AccuracyUnreachable {
        margin: u64,
        best_margin: u64,
    },
    TooManyCells {
        cells: usize,
        max: usize,
    },
    TooManyDimensions {
        count: usize,
        max: usize,
    },
    InvalidQuery(String),
    InvalidBody(String),
    TooLarge {
        max: usize,
    },
    UnsupportedMediaType,
    NotAcceptable,
    /// Like [`ApiError::NotAcceptable`], on an endpoint with other formats (named).
    NotAcceptableOf(&'static str),
    RateLimited {
        retry_after_secs: u64,
    },
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    NotFound(String),
    /// An audit `cursor` that is not one this API handed out.
    BadCursor,
    /// An audit filter that cannot be read (time, event, limit).
    BadAuditFilter(String),
    /// An admin tried to set a limit below what the consumer already spent.
    LimitBelowSpent {
        spent: f64,
        requested: f64,
        unit: &'static str,
    },
    /// An admin named a role that differs from the consumer's stored role.
    RoleMismatch {
        stored: String,
        requested: String,
    },
    UnknownCountry(String),
    UnknownTable {
        table: String,
        valid: Vec<String>,
    },
    MethodNotAllowed,
    /// The service could not get randomness; nothing was released or charged.
    EntropyUnavailable,
    Unavailable(String),
    /// Something failed inside; the cause is logged, not sent.
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            MissingToken | InvalidToken(_) => "auth.invalid_token",
            ForbiddenRole { .. } => "auth.forbidden_role",
            CountryScope(_) => "auth.country_scope",
            BudgetExhausted { .. } => "budget.exhausted",
            GlobalBudgetExhausted { .. } => "budget.global_exhausted",
            UnknownDimension { .. } => "query.unknown_dimension",
            UnknownValue { .. } => "query.unknown_value",
            ForbiddenDimension { .. } => "query.forbidden_dimension",
            CostOutOfRange { .. } => "query.epsilon_out_of_range",
            AccuracyUnreachable { .. } => "query.accuracy_unreachable",
            TooManyCells { .. } => "query.too_many_cells",
            TooManyDimensions { .. } => "query.too_many_dimensions",
            InvalidQuery(_) => "query.invalid",
            InvalidBody(_) => "request.invalid_body",
            TooLarge { .. } => "request.too_large",
            UnsupportedMediaType => "request.unsupported_media_type",
            NotAcceptable | NotAcceptableOf(_) => "request.not_acceptable",
            RateLimited { .. } => "rate.limited",
            IdempotencyKeyReused => "idempotency.key_reused",
            InvalidIdempotencyKey => "idempotency.invalid_key",
            NotFound(_) => "resource.not_found",
            BadCursor => "audit.bad_cursor",
            BadAuditFilter(_) => "audit.bad_filter",
            LimitBelowSpent { .. } => "admin.limit_below_spent",
            RoleMismatch { .. } => "admin.role_mismatch",
            UnknownCountry(_) => "national.unknown_country",
            UnknownTable { .. } => "national.unknown_table",
            MethodNotAllowed => "request.method_not_allowed",
            EntropyUnavailable => "service.entropy_unavailable",
            Unavailable(_) => "service.unavailable",
            Internal(_) => "internal.error",
        }
    }

    fn title(&self) -> &'static str {
        use ApiError::*;
        match self {
            MissingToken | InvalidToken(_) => "Invalid or missing token",
            ForbiddenRole { .. } => "Role not allowed",
            CountryScope(_) => "Outside your country scope",
            BudgetExhausted { .. } => "Privacy budget exhausted",
            GlobalBudgetExhausted { .. } => "Dataset privacy budget exhausted",
            UnknownDimension { .. } => "Unknown dimension",
            UnknownValue { .. } => "Unknown value",
            ForbiddenDimension { .. } => "Dimension not allowed",
            CostOutOfRange { .. } => "Privacy cost out of range",
            AccuracyUnreachable { .. } => "Accuracy not reachable",
            TooManyCells { .. } => "Too many cells",
            TooManyDimensions { .. } => "Too many dimensions",
            InvalidQuery(_) => "Invalid query",
            InvalidBody(_) => "Invalid request body",
            TooLarge { .. } => "Request too large",
            UnsupportedMediaType => "Unsupported media type",
            NotAcceptable | NotAcceptableOf(_) => "Not acceptable",
            RateLimited { .. } => "Too many requests",
            IdempotencyKeyReused => "Idempotency key reused",
            InvalidIdempotencyKey => "Invalid idempotency key",
            NotFound(_) => "Not found",
            BadCursor => "Invalid cursor",
            BadAuditFilter(_) => "Invalid audit filter",
            LimitBelowSpent { .. } => "Limit below spent",
            RoleMismatch { .. } => "Role mismatch",
            UnknownCountry(_) => "Unknown country",
            UnknownTable { .. } => "Unknown table",
            MethodNotAllowed => "Method not allowed",
            EntropyUnavailable => "Randomness unavailable",
            Unavailable(_) => "Service unavailable",
            Internal(_) => "Internal error",
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
            CountryScope(c) => format!(
                "your token is scoped to {c}; a query may not name or group by another country"
            ),
            BudgetExhausted {
                remaining,
                requested,
                unit,
            } => {
                extra.insert("remaining".into(), json!(remaining));
                extra.insert("requested".into(), json!(requested));
                extra.insert("unit".into(), json!(unit));
                format!(
                    "this query costs {unit} {requested} but only {remaining} remains of your budget; nothing was charged"
                )
            }
            GlobalBudgetExhausted { requested, unit } => {
                extra.insert("requested".into(), json!(requested));
                extra.insert("unit".into(), json!(unit));
                format!(
                    "the dataset's total privacy budget cannot cover {unit} {requested} more; nothing was charged"
                )
            }
            UnknownDimension { name, valid } => {
                extra.insert("valid_dimensions".into(), json!(valid));
                format!(
                    "unknown dimension \"{name}\"; valid dimensions: {}",
                    valid.join(", ")
                )
            }
            UnknownValue { dimension, value } => {
                format!("\"{value}\" is not a declared value of {dimension}; see GET /v1/catalog")
            }
            ForbiddenDimension { name } => format!("your role may not use dimension \"{name}\""),
            CostOutOfRange {
                requested,
                min,
                max,
                unit,
            } => {
                extra.insert("min".into(), json!(min));
                extra.insert("max".into(), json!(max));
                format!(
                    "{unit} {requested} is not allowed: it must be a finite number between {min} and {max}"
                )
            }
            AccuracyUnreachable {
                margin,
                best_margin,
            } => {
                extra.insert("best_margin".into(), json!(best_margin));
                format!(
                    "a margin of {margin} is not reachable within the policy's maximum cost; the best reachable margin is {best_margin}"
                )
            }
            TooManyCells { cells, max } => {
                extra.insert("max_cells".into(), json!(max));
                format!(
                    "the query has {cells} cells; at most {max} are allowed; group by fewer dimensions or filter values"
                )
            }
            TooManyDimensions { count, max } => {
                format!("the query groups by {count} dimensions; at most {max} are allowed")
            }
            InvalidQuery(m) | InvalidBody(m) => m.clone(),
            TooLarge { max } => format!("the request body exceeds {max} bytes"),
            UnsupportedMediaType => "send the body as application/json".into(),
            NotAcceptable => "this endpoint answers application/json or text/csv".into(),
            NotAcceptableOf(formats) => format!("this endpoint answers {formats}"),
            RateLimited { retry_after_secs } => {
                extra.insert("retry_after".into(), json!(retry_after_secs));
                format!("too many requests; retry after {retry_after_secs} s")
            }
            IdempotencyKeyReused => {
                "this Idempotency-Key was already used with a different request".into()
            }
            InvalidIdempotencyKey => {
                "Idempotency-Key must be 1 to 128 visible ASCII characters".into()
            }
            NotFound(what) => what.clone(),
            BadCursor => {
                "cursor must be a next_cursor value returned by this endpoint (a sequence number)"
                    .into()
            }
            BadAuditFilter(m) => m.clone(),
            LimitBelowSpent {
                spent,
                requested,
                unit,
            } => {
                extra.insert("spent".into(), json!(spent));
                extra.insert("requested".into(), json!(requested));
                extra.insert("unit".into(), json!(unit));
                format!(
                    "a limit of {unit} {requested} is below the {unit} {spent} this consumer already spent; nothing was changed"
                )
            }
            RoleMismatch { stored, requested } => {
                extra.insert("role".into(), json!(stored));
                format!(
                    "this consumer exists with role {stored}, not {requested}; a role cannot be changed here; nothing was changed"
                )
            }
            UnknownCountry(c) => {
                format!("\"{c}\" is not an ISO 3166-1 alpha-3 code of the catalog")
            }
            UnknownTable { table, valid } => {
                extra.insert("valid_tables".into(), json!(valid));
                format!("unknown table \"{table}\"; available: {}", valid.join(", "))
            }
            MethodNotAllowed => "this method is not allowed on this resource".into(),
            EntropyUnavailable => {
                "the service could not obtain secure randomness; nothing was released or charged"
                    .into()
            }
            Unavailable(m) => m.clone(),
            Internal(_) => "an internal error occurred; nothing was released or charged".into(),
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
            ForbiddenRole { .. }
            | CountryScope(_)
            | BudgetExhausted { .. }
            | GlobalBudgetExhausted { .. }
            | ForbiddenDimension { .. } => StatusCode::FORBIDDEN,
            UnknownDimension { .. }
            | UnknownValue { .. }
            | CostOutOfRange { .. }
            | AccuracyUnreachable { .. }
            | TooManyCells { .. }
            | TooManyDimensions { .. }
            | InvalidQuery(_)
            | IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            InvalidBody(_) | InvalidIdempotencyKey | BadCursor | BadAuditFilter(_) => {
                StatusCode::BAD_REQUEST
            }
            LimitBelowSpent { .. } | RoleMismatch { .. } => StatusCode::CONFLICT,
            TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            NotAcceptable | NotAcceptableOf(_) => StatusCode::NOT_ACCEPTABLE,
            RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            NotFound(_) | UnknownTable { .. } => StatusCode::NOT_FOUND,
            UnknownCountry(_) => StatusCode::UNPROCESSABLE_ENTITY,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            EntropyUnavailable | Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
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
            ApiError::RateLimited { retry_after_secs } => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        res.body(serde_json::to_vec(&problem).unwrap_or_default())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "store unavailable");
                ApiError::Unavailable(
                    "the privacy-budget ledger is briefly unavailable; nothing was charged or released; retry shortly".into(),
                )
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}
