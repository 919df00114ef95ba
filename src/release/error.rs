//! Why the release core did not release: every refusal and failure of
//! query validation, planning, budgets and the pipeline, each with its stable
//! `code`, a title and a message a person understands. The HTTP edge
//! (`error.rs`) gives each a status and renders it as problem+json; nothing
//! here knows about HTTP. No message depends on the data.

use crate::store::StoreError;
use serde_json::{Map, Value, json};
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// The cause of an internal failure: what was being done, and the error
/// that stopped it with its whole source chain. Logged, never sent.
#[derive(Clone)]
pub struct Cause {
    context: &'static str,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl Cause {
    /// A failure while doing `context`, caused by `source`.
    pub fn new(context: &'static str, source: impl StdError + Send + Sync + 'static) -> Cause {
        Cause {
            context,
            source: Some(Arc::new(source)),
        }
    }

    /// A failure while doing `context`, caused by an error already boxed.
    pub fn boxed(context: &'static str, source: Box<dyn StdError + Send + Sync>) -> Cause {
        Cause {
            context,
            source: Some(Arc::from(source)),
        }
    }

    /// A failure with no underlying error (a broken invariant).
    pub fn bare(context: &'static str) -> Cause {
        Cause {
            context,
            source: None,
        }
    }
}

/// `context: error: its source: ...`, the whole chain on one line.
impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.context)?;
        let mut next: Option<&(dyn StdError + 'static)> = self
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static));
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cause({self})")
    }
}

/// Causes compare by what they say (tests match on variants, not causes).
impl PartialEq for Cause {
    fn eq(&self, other: &Cause) -> bool {
        self.to_string() == other.to_string()
    }
}

/// At most this many characters of a client's input are echoed in a message.
const ECHO_MAX: usize = 64;

/// `text` as a message may quote it: whole when short, else its first
/// [`ECHO_MAX`] characters and an ellipsis (a client's 15,000-character
/// name is not sent back, nor logged, whole).
pub fn bounded(text: &str) -> String {
    match text.char_indices().nth(ECHO_MAX) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// A refusal or failure of the release core.
#[derive(Debug, Clone, PartialEq)]
pub enum ReleaseError {
    CountryScope(String),
    /// A regional partner asked for something outside its region (named).
    RegionScope(String),
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
    /// An attribute a synthetic data set may not hold (see `crate::synthetic`).
    NotSynthesizable {
        name: String,
        valid: Vec<String>,
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
    TooManyGroupings {
        count: usize,
        max: usize,
    },
    InvalidQuery(String),
    InvalidBody(String),
    RateLimited {
        retry_after_secs: u64,
    },
    IdempotencyKeyReused,
    NotFound(String),
    UnknownCountry(String),
    UnknownTable {
        table: String,
        valid: Vec<String>,
    },
    UnknownRegion {
        region: String,
        valid: Vec<String>,
    },
    /// The token's role is not the role its consumer (`sub`) holds: a
    /// consumer keeps one role for life. Never ledgered (the ledger holds
    /// one role per consumer).
    RoleChanged {
        stored: String,
        token: String,
    },
    /// An administrator tried to change their own limit.
    SelfChange,
    /// An administrator tried to set a limit below what the consumer
    /// already spent.
    LimitBelowSpent {
        spent: f64,
        requested: f64,
        unit: &'static str,
    },
    /// An administrator set the limit of a consumer that does not exist,
    /// without the role that would create it.
    UnknownConsumer,
    /// An administrator named a role other than the consumer's stored role.
    RoleMismatch {
        stored: String,
        requested: String,
    },
    /// The service could not get randomness; nothing was released or charged.
    EntropyUnavailable,
    Unavailable(String),
    /// Something failed inside before anything was charged; the cause is
    /// logged, not sent.
    Internal(Cause),
    /// The release was charged and recorded, but its response could not be
    /// built; a repeat is free and returns it. The cause is logged, not sent.
    RenderFailed(Cause),
}

impl ReleaseError {
    pub fn code(&self) -> &'static str {
        use ReleaseError::*;
        match self {
            CountryScope(_) => "auth.country_scope",
            RegionScope(_) => "auth.region_scope",
            BudgetExhausted { .. } => "budget.exhausted",
            GlobalBudgetExhausted { .. } => "budget.global_exhausted",
            UnknownDimension { .. } => "query.unknown_dimension",
            UnknownValue { .. } => "query.unknown_value",
            ForbiddenDimension { .. } => "query.forbidden_dimension",
            NotSynthesizable { .. } => "synthetic.attribute_not_synthesizable",
            CostOutOfRange { .. } => "query.epsilon_out_of_range",
            AccuracyUnreachable { .. } => "query.accuracy_unreachable",
            TooManyCells { .. } => "query.too_many_cells",
            TooManyDimensions { .. } => "query.too_many_dimensions",
            TooManyGroupings { .. } => "query.too_many_groupings",
            InvalidQuery(_) => "query.invalid",
            InvalidBody(_) => "request.invalid_body",
            RateLimited { .. } => "rate.limited",
            IdempotencyKeyReused => "idempotency.key_reused",
            NotFound(_) => "resource.not_found",
            UnknownCountry(_) => "national.unknown_country",
            UnknownTable { .. } => "national.unknown_table",
            UnknownRegion { .. } => "regional.unknown_region",
            RoleChanged { .. } => "auth.role_mismatch",
            SelfChange => "admin.self_change",
            LimitBelowSpent { .. } => "admin.limit_below_spent",
            RoleMismatch { .. } => "admin.role_mismatch",
            UnknownConsumer => "admin.unknown_consumer",
            EntropyUnavailable => "service.entropy_unavailable",
            Unavailable(_) => "service.unavailable",
            Internal(_) => "internal.error",
            RenderFailed(_) => "internal.render_failed",
        }
    }

    pub fn title(&self) -> &'static str {
        use ReleaseError::*;
        match self {
            CountryScope(_) => "Outside your country scope",
            RegionScope(_) => "Outside your region",
            BudgetExhausted { .. } => "Privacy budget exhausted",
            GlobalBudgetExhausted { .. } => "Dataset privacy budget exhausted",
            UnknownDimension { .. } => "Unknown dimension",
            UnknownValue { .. } => "Unknown value",
            ForbiddenDimension { .. } => "Dimension not allowed",
            NotSynthesizable { .. } => "Attribute not synthesizable",
            CostOutOfRange { .. } => "Privacy cost out of range",
            AccuracyUnreachable { .. } => "Accuracy not reachable",
            TooManyCells { .. } => "Too many cells",
            TooManyDimensions { .. } => "Too many dimensions",
            TooManyGroupings { .. } => "Too many groupings",
            InvalidQuery(_) => "Invalid query",
            InvalidBody(_) => "Invalid request body",
            RateLimited { .. } => "Too many requests",
            IdempotencyKeyReused => "Idempotency key reused",
            NotFound(_) => "Not found",
            UnknownCountry(_) => "Unknown country",
            UnknownTable { .. } => "Unknown table",
            UnknownRegion { .. } => "Unknown region",
            RoleChanged { .. } => "Role does not match this consumer",
            SelfChange => "Own limit",
            LimitBelowSpent { .. } => "Limit below spent",
            RoleMismatch { .. } => "Role mismatch",
            UnknownConsumer => "Unknown consumer",
            EntropyUnavailable => "Randomness unavailable",
            Unavailable(_) => "Service unavailable",
            Internal(_) => "Internal error",
            RenderFailed(_) => "Response could not be built",
        }
    }

    /// The message for a person, and the problem's extension members.
    pub fn detail_and_extra(&self) -> (String, Map<String, Value>) {
        use ReleaseError::*;
        let mut extra = Map::new();
        let detail = match self {
            CountryScope(c) => format!(
                "your token is scoped to {c}; a query may not name or group by another country"
            ),
            RegionScope(r) => format!(
                "your token is scoped to the region {}; it reads that region's figures at /v1/regional/{} and nothing else",
                bounded(r),
                bounded(r)
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
                    "unknown dimension \"{}\"; valid dimensions: {}",
                    bounded(name),
                    valid.join(", ")
                )
            }
            UnknownValue { dimension, value } => {
                format!(
                    "\"{}\" is not a declared value of {}; see GET /v1/catalog",
                    bounded(value),
                    bounded(dimension)
                )
            }
            NotSynthesizable { name, valid } => {
                extra.insert("synthesizable".into(), json!(valid));
                format!(
                    "\"{}\" is not a synthesizable attribute; synthesizable: {}",
                    bounded(name),
                    valid.join(", ")
                )
            }
            ForbiddenDimension { name } => {
                format!("your role may not use dimension \"{}\"", bounded(name))
            }
            CostOutOfRange {
                requested,
                min,
                max,
                unit,
            } => {
                extra.insert("min".into(), json!(min));
                extra.insert("max".into(), json!(max));
                format!(
                    "{unit} {} is not allowed: it must be a finite number between {min} and {max}",
                    bounded(requested)
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
            TooManyGroupings { count, max } => {
                extra.insert("max_groupings".into(), json!(max));
                format!(
                    "the workload has {count} groupings; at most {max} are allowed in one request"
                )
            }
            InvalidQuery(m) | InvalidBody(m) => bounded_message(m),
            RateLimited { retry_after_secs } => {
                extra.insert("retry_after".into(), json!(retry_after_secs));
                format!("too many requests; retry after {retry_after_secs} s")
            }
            IdempotencyKeyReused => {
                "this Idempotency-Key was already used with a different request".into()
            }
            NotFound(what) => what.clone(),
            UnknownCountry(c) => {
                format!(
                    "\"{}\" is not an ISO 3166-1 alpha-3 code of the catalog",
                    bounded(c)
                )
            }
            UnknownRegion { region, valid } => {
                extra.insert("valid_regions".into(), json!(valid));
                format!(
                    "unknown region \"{}\"; the policy declares: {}",
                    bounded(region),
                    valid.join(", ")
                )
            }
            UnknownTable { table, valid } => {
                extra.insert("valid_tables".into(), json!(valid));
                format!(
                    "unknown table \"{}\"; available: {}",
                    bounded(table),
                    valid.join(", ")
                )
            }
            RoleChanged { stored, token } => format!(
                "this consumer id (sub) holds the role {stored}; a {token} token cannot use it, \
                 since a consumer keeps one role for life (ask for a token with a sub of its own); \
                 nothing was read or charged"
            ),
            SelfChange => "an administrator cannot change their own limit; ask another administrator; nothing was changed".into(),
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
            UnknownConsumer => {
                "no consumer has this id yet: give its role to create it; nothing was changed"
                    .into()
            }
            EntropyUnavailable => {
                "the service could not obtain secure randomness; nothing was released or charged"
                    .into()
            }
            Unavailable(m) => m.clone(),
            Internal(_) => "an internal error occurred; nothing was released or charged".into(),
            RenderFailed(_) => "the release was charged and recorded, but its response could not be built; repeating the request returns it at no further cost".into(),
        };
        (detail, extra)
    }

    /// A failure of the service rather than a refusal of the request: not
    /// written to the ledger as a refusal (nothing about the request was decided).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            ReleaseError::Internal(_)
                | ReleaseError::RenderFailed(_)
                | ReleaseError::EntropyUnavailable
                | ReleaseError::Unavailable(_)
        )
    }

    /// Whether the refusal is written to the ledger: every refusal after
    /// authentication but a role mismatch (the ledger keeps one role per
    /// consumer), never a failure of the service.
    pub fn is_ledgered(&self) -> bool {
        !self.is_internal() && !matches!(self, ReleaseError::RoleChanged { .. })
    }
}

/// A message that may quote client input: kept to a few hundred characters.
fn bounded_message(m: &str) -> String {
    match m.char_indices().nth(4 * ECHO_MAX) {
        None => m.to_owned(),
        Some((cut, _)) => format!("{}…", &m[..cut]),
    }
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.detail_and_extra().0)
    }
}

impl StdError for ReleaseError {}

impl ReleaseError {
    /// `internal.error`: a failure while doing `context`, caused by `source`.
    pub fn internal(
        context: &'static str,
        source: impl StdError + Send + Sync + 'static,
    ) -> ReleaseError {
        ReleaseError::Internal(Cause::new(context, source))
    }

    /// The cause of an internal failure, for the log.
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            ReleaseError::Internal(c) | ReleaseError::RenderFailed(c) => Some(c),
            _ => None,
        }
    }
}

impl From<StoreError> for ReleaseError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::warn!(cause = %crate::store::Chain(&cause), "store unavailable");
                ReleaseError::Unavailable(
                    "the privacy-budget ledger is briefly unavailable; nothing was released; retry shortly (a repeat is never charged twice)".into(),
                )
            }
            StoreError::LostBudget(consumer) => {
                // Someone removed a budget row the ledger vouches for: an
                // operator must restore it. Until then the consumer is not
                // served, rather than served on a fresh budget.
                tracing::error!(%consumer, alert = "budget_row_missing", "ALERT: a consumer the ledger knows has no budget row; refusing to recreate it with a fresh budget; restore the row (see docs/operations.md)");
                ReleaseError::Unavailable(
                    "this consumer's budget cannot be read right now; nothing was charged or released; the operators have been alerted".into(),
                )
            }
            other => ReleaseError::Internal(Cause::new("the store failed", other)),
        }
    }
}
