//! `/v1/audit/*`: the privacy-budget ledger for auditors. Every route but
//! `POST /v1/audit/checkpoints` (auditor or admin) takes the [`Auditor`]
//! extractor, so only the auditor role reaches it. Nothing here writes a
//! ledger entry; the export streams the ledger in batches and never holds it
//! whole.

use crate::api::AppState;
use crate::audit::chain::{Entry, Event};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::verify::{CheckpointLine, Failure};
use crate::auth::{Auditor, AuditorOrAdmin};
use crate::error::{ApiError, Problem};
use crate::store::audit::{BATCH, EntryFilter};
use actix_web::{HttpResponse, web};
use actix_web::{get, post};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Routes under `/v1/audit`.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/audit")
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                ApiError::BadAuditFilter(format!("invalid query parameters: {e}")).into()
            }))
            .service(list_entries)
            .service(list_checkpoints)
            .service(create_checkpoint)
            .service(latest_checkpoint)
            .service(list_consumers)
            .service(export)
            .service(verify)
            .service(public_key),
    );
}

/// Most entries one page may hold.
pub const MAX_PAGE: u32 = 1000;
const DEFAULT_PAGE: u32 = 100;

/// The names of ledger events, for the `event` filter's documentation
/// (the filter is read with [`crate::audit::chain::Event::parse`]).
#[derive(utoipa::ToSchema)]
#[schema(
    rename_all = "snake_case",
    description = "A ledger event: a charge, a free repeat, a refusal or a budget change."
)]
#[allow(dead_code)]
pub enum EventName {
    Charge,
    Replay,
    Refusal,
    BudgetChange,
}

/// Filters and paging of `GET /v1/audit/entries`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EntriesParams {
    /// Only entries about this consumer (a token `sub`).
    pub consumer: Option<String>,
    /// RFC 3339 time; entries at or after it.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339 time; entries before it.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// `ok`, `idempotent_replay`, or a refusal code such as `budget.exhausted`.
    pub outcome: Option<String>,
    /// `charge`, `replay`, `refusal` or `budget_change`.
    #[param(value_type = Option<EventName>)]
    pub event: Option<String>,
    /// Entries per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

/// One page of ledger entries, in sequence order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntriesPage {
    pub entries: Vec<Entry>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Entries in the whole ledger (unfiltered) when the page was read. Sequence
    /// numbers run from 1 to it without a gap, so `cursor = ledger_size - limit`
    /// reads the newest page, and older pages follow by sequence range.
    pub ledger_size: i64,
}

fn parse_time(name: &str, v: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    v.map(|s| {
        OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
            ApiError::BadAuditFilter(format!(
                "{name} must be an RFC 3339 time such as 2026-01-31T00:00:00Z"
            ))
        })
    })
    .transpose()
}

/// The cursor and page size of a ledger listing: `audit.bad_cursor` for a
/// cursor that is not a non-negative number, `audit.bad_filter` for a
/// limit outside 1..=[`MAX_PAGE`].
pub(crate) fn page(cursor: Option<&str>, limit: Option<u32>) -> Result<(i64, u32), ApiError> {
    let cursor = match cursor {
        None => 0,
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or(ApiError::BadCursor)?,
    };
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadAuditFilter(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    Ok((cursor, limit))
}

/// Ledger entries: every charge, repeat, refusal and budget change, oldest first.
#[utoipa::path(tag = "audit", params(EntriesParams),
    responses(
        (status = 200, description = "A page of entries", body = EntriesPage),
        (status = 400, description = "audit.bad_cursor, audit.bad_filter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "auth.forbidden_role (auditors only)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/entries")]
pub async fn list_entries(
    state: web::Data<AppState>,
    _: Auditor,
    params: web::Query<EntriesParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let (cursor, limit) = page(p.cursor.as_deref(), p.limit)?;
    let event = match p.event.as_deref() {
        None => None,
        Some(code) => Some(Event::parse(code).ok_or_else(|| {
            ApiError::BadAuditFilter(
                "event must be charge, replay, refusal or budget_change".into(),
            )
        })?),
    };
    let filter = EntryFilter {
        from: parse_time("from", p.from.as_deref())?,
        to: parse_time("to", p.to.as_deref())?,
        consumer: p.consumer,
        event,
        outcome: p.outcome,
    };
    let page = state
        .pipeline
        .store
        .ledger_entries(&filter, cursor, limit as usize)
        .await?;
    // Read after the page, so every entry on it is within the size reported.
    let (ledger_size, _) = state.pipeline.store.ledger_head().await?;
    Ok(HttpResponse::Ok().json(EntriesPage {
        entries: page.entries,
        next_cursor: page.next_cursor.map(|c| c.to_string()),
        ledger_size,
    }))
}

/// Paging of `GET /v1/audit/checkpoints`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CheckpointsParams {
    /// How many of the newest checkpoints, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckpointList {
    /// Newest first.
    pub checkpoints: Vec<Checkpoint>,
}

/// Signed checkpoints of the ledger head, newest first.
#[utoipa::path(tag = "audit", params(CheckpointsParams),
    responses(
        (status = 200, description = "Checkpoints", body = CheckpointList),
        (status = 400, description = "audit.bad_filter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "auth.forbidden_role (auditors only)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/checkpoints")]
pub async fn list_checkpoints(
    state: web::Data<AppState>,
    _: Auditor,
    params: web::Query<CheckpointsParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadAuditFilter(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let checkpoints = state
        .pipeline
        .store
        .checkpoints(&state.pipeline.policy.dataset, i64::from(limit))
        .await?;
    Ok(HttpResponse::Ok().json(CheckpointList { checkpoints }))
}

/// The newest checkpoint: save it, and later check that an export extends it.
#[utoipa::path(tag = "audit",
    responses(
        (status = 200, description = "The newest checkpoint", body = Checkpoint),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "auth.forbidden_role (auditors only)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "resource.not_found: no checkpoint yet", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/checkpoints/latest")]
pub async fn latest_checkpoint(
    state: web::Data<AppState>,
    _: Auditor,
) -> Result<HttpResponse, ApiError> {
    match state
        .pipeline
        .store
        .latest_checkpoint(&state.pipeline.policy.dataset, None)
        .await?
    {
        Some(cp) => Ok(HttpResponse::Ok().json(cp)),
        None => Err(ApiError::not_found(
            "no checkpoint has been made yet; POST /v1/audit/checkpoints makes one".into(),
        )),
    }
}

/// Signs the current ledger head now (auditor or admin).
#[utoipa::path(tag = "audit",
    responses(
        (status = 201, description = "The new checkpoint", body = Checkpoint),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "auth.forbidden_role (auditors and admins only)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[post("/checkpoints")]
pub async fn create_checkpoint(
    state: web::Data<AppState>,
    AuditorOrAdmin(who): AuditorOrAdmin,
) -> Result<HttpResponse, ApiError> {
    let cp = state
        .pipeline
        .store
        .make_checkpoint(&state.signer, &state.pipeline.policy.dataset)
        .await?;
    tracing::info!(size = cp.size, by = %who.id, "ledger checkpoint signed on demand");
    Ok(HttpResponse::Created().json(cp))
}

/// A budget in the policy's unit, exactly (micro-units) and for reading.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Amounts {
    /// `null` for a consumer that never got a budget row (refused before its first charge).
    pub limit: Option<f64>,
    pub spent: f64,
    pub limit_micro: Option<i64>,
    pub spent_micro: i64,
}

fn amounts(limit_micro: Option<i64>, spent_micro: i64) -> Amounts {
    Amounts {
        limit: limit_micro.map(|l| l as f64 / 1e6),
        spent: spent_micro as f64 / 1e6,
        limit_micro,
        spent_micro,
    }
}

/// What the ledger and the budgets table say about one consumer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsumerAudit {
    pub consumer: String,
    pub role: String,
    #[serde(flatten)]
    pub budget: Amounts,
    /// Releases charged to this consumer (charge entries).
    pub releases: i64,
    /// Free repeats and idempotent replays.
    pub repeats: i64,
    pub refusals: i64,
    pub budget_changes: i64,
    pub last_activity: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsumersAudit {
    pub dataset: String,
    /// `epsilon` or `rho`.
    pub unit: &'static str,
    /// The dataset's global budget.
    pub global: Amounts,
    pub consumers: Vec<ConsumerAudit>,
}

/// Per consumer: role, limit, spent, releases charged, repeats and refusals.
#[utoipa::path(tag = "audit",
    responses(
        (status = 200, description = "Budget summaries", body = ConsumersAudit),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "auth.forbidden_role (auditors only)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/consumers")]
pub async fn list_consumers(
    state: web::Data<AppState>,
    _: Auditor,
) -> Result<HttpResponse, ApiError> {
    let dataset = &state.pipeline.policy.dataset;
    let records = state.pipeline.store.consumer_records(Some(dataset)).await?;
    let mut activity = state.pipeline.store.ledger_activity(dataset).await?;
    let global = state.pipeline.store.global_budget(dataset).await?;
    let mut consumers: Vec<ConsumerAudit> = records
        .into_iter()
        .map(|r| {
            let a = activity.remove(&r.consumer_id).unwrap_or_default();
            ConsumerAudit {
                budget: amounts(Some(r.limit_micro), r.spent_micro),
                role: r.role,
                releases: a.charges,
                repeats: a.replays,
                refusals: a.refusals,
                budget_changes: a.budget_changes,
                last_activity: a.last_activity,
                consumer: r.consumer_id,
            }
        })
        .collect();
    // Consumers the ledger knows but the budgets table does not: refused before any charge.
    consumers.extend(activity.into_iter().map(|(id, a)| ConsumerAudit {
        consumer: id,
        role: a.role,
        budget: amounts(None, 0),
        releases: a.charges,
        repeats: a.replays,
        refusals: a.refusals,
        budget_changes: a.budget_changes,
        last_activity: a.last_activity,
    }));
    consumers.sort_by(|a, b| a.consumer.cmp(&b.consumer));
    let stored = |a: crate::domain::budget::Amount| {
        a.to_i64()
            .map_err(|_| ApiError::internal("a global budget beyond 64 bits"))
    };
    Ok(HttpResponse::Ok().json(ConsumersAudit {
        dataset: dataset.clone(),
        unit: state.pipeline.policy.budget_unit(),
        global: amounts(Some(stored(global.limit)?), stored(global.spent)?),
        consumers,
    }))
}

struct ExportCursor {
    after: i64,
    upto: i64,
    /// The final line, until it is sent.
    tail: Option<Option<Checkpoint>>,
}

fn checkpoint_line(cp: Option<Checkpoint>) -> web::Bytes {
    let mut line = serde_json::to_vec(&CheckpointLine { checkpoint: cp }).unwrap_or_default();
    line.push(b'\n');
    web::Bytes::from(line)
}

/// The whole ledger as JSON Lines: one entry per line in sequence order (each
/// line exactly the entry's serialisation), then one final line
/// `{"checkpoint": {...}}` with the newest checkpoint the exported entries
/// cover (`null` if there is none). Verify it offline with
/// `ctm-stats audit verify`. Streamed: a broken connection leaves no final
/// checkpoint line, which the verifier reports.
#[utoipa::path(tag = "audit",
    responses(
        (status = 200, description = "JSON Lines: entries, then {\"checkpoint\": ...}", body = String, content_type = "application/x-ndjson"),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "auth.forbidden_role (auditors only)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/export")]
pub async fn export(state: web::Data<AppState>, _: Auditor) -> Result<HttpResponse, ApiError> {
    // Fix the end first: entries appended during the export are left for the next one,
    // and the checkpoint sent is one the exported entries reach.
    let (size, _) = state.pipeline.store.ledger_head().await?;
    let cp = state
        .pipeline
        .store
        .latest_checkpoint(&state.pipeline.policy.dataset, Some(size))
        .await?;
    let store = state.pipeline.store.clone();
    let start = ExportCursor {
        after: 0,
        upto: size,
        tail: Some(cp),
    };
    let body = futures_util::stream::unfold(start, move |mut cur| {
        let store = store.clone();
        async move {
            if cur.after < cur.upto {
                match store.ledger_range(cur.after, cur.upto, BATCH).await {
                    Ok(entries) if !entries.is_empty() => {
                        let mut buf = Vec::with_capacity(entries.len() * 512);
                        for e in &entries {
                            // Serialising an entry (strings and integers) cannot fail.
                            if serde_json::to_writer(&mut buf, e).is_ok() {
                                buf.push(b'\n');
                            }
                            cur.after = e.body.seq;
                        }
                        return Some((Ok(web::Bytes::from(buf)), cur));
                    }
                    // Fewer entries than the head promised: stop here; the verifier
                    // will name the first missing one.
                    Ok(_) => cur.after = cur.upto,
                    Err(e) => {
                        let chain = crate::store::Chain(&e);
                        if matches!(e, crate::store::StoreError::Unavailable(_)) {
                            tracing::warn!(error = %chain, "ledger export failed; stream cut");
                        } else {
                            tracing::error!(error = %chain, "ledger export failed; stream cut");
                        }
                        cur.after = cur.upto;
                        cur.tail = None;
                        return Some((Err(std::io::Error::other("ledger export failed")), cur));
                    }
                }
            }
            let cp = cur.tail.take()?;
            Some((Ok(checkpoint_line(cp)), cur))
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"ledger-{size}.jsonl\""),
        ))
        .streaming(body))
}

/// The server's own check of its ledger.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// True when chain, checkpoints and budgets tables all agree.
    pub ok: bool,
    /// The first bad sequence number, when not ok.
    pub first_bad_seq: Option<i64>,
    pub failure: Option<Failure>,
    /// Entries checked (one consistent snapshot).
    pub size: i64,
    pub head_hash: String,
    pub checkpoints_checked: usize,
    pub latest_checkpoint: Option<Checkpoint>,
    /// Entries after the latest checkpoint, chained but not yet signed.
    pub unsigned_tail: Option<i64>,
    /// Consumers whose spent and limit match the ledger.
    pub consumers_reconciled: usize,
    /// Distinct releases charged.
    pub releases: Option<u64>,
    /// Global debits per dataset according to the ledger (micro-units).
    pub global_spent_micro: BTreeMap<String, i64>,
    pub notes: Vec<String>,
}

/// Recomputes the hash chain, checks every stored checkpoint's head and
/// signature, and reconciles per-consumer and global debits with the budgets
/// tables. Answers 200 either way: `ok` says whether everything agreed.
#[utoipa::path(tag = "audit",
    responses(
        (status = 200, description = "The verification report", body = VerifyReport),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "auth.forbidden_role (auditors only)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/verify")]
pub async fn verify(state: web::Data<AppState>, _: Auditor) -> Result<HttpResponse, ApiError> {
    let check = state
        .pipeline
        .store
        .verify_ledger(&state.signer.public_key())
        .await?;
    let mut notes = Vec::new();
    if check.latest_checkpoint.is_none() {
        notes.push(
            "no checkpoint yet: nothing signed vouches for the ledger; POST /v1/audit/checkpoints"
                .into(),
        );
    }
    if let Some(f) = &check.failure {
        tracing::warn!(seq = f.seq, kind = ?f.kind, "ledger verification failed");
    }
    Ok(HttpResponse::Ok().json(VerifyReport {
        ok: check.failure.is_none(),
        first_bad_seq: check.failure.as_ref().map(|f| f.seq),
        unsigned_tail: check
            .latest_checkpoint
            .as_ref()
            .map(|c| check.size - c.size),
        releases: check.summary.as_ref().map(|s| s.releases),
        global_spent_micro: check
            .summary
            .map(|s| s.global_debited_micro)
            .unwrap_or_default(),
        failure: check.failure,
        size: check.size,
        head_hash: check.head_hash,
        checkpoints_checked: check.checkpoints_checked,
        latest_checkpoint: check.latest_checkpoint,
        consumers_reconciled: check.consumers_reconciled,
        notes,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicKeyView {
    /// Always `Ed25519`.
    pub algorithm: &'static str,
    /// 32 bytes, hex: pin it and pass it to `ctm-stats audit verify --public-key`.
    pub public_key: String,
    /// Hex of the first 8 bytes of SHA-256 of the public key; every checkpoint names it.
    pub key_id: String,
    /// What a checkpoint signature covers.
    pub signed_message: &'static str,
}

/// The checkpoint signing key's public half, for auditors to pin.
#[utoipa::path(tag = "audit",
    responses(
        (status = 200, description = "The checkpoint public key", body = PublicKeyView),
        (status = 401, description = "auth.invalid_token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "auth.forbidden_role (auditors only)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[get("/public-key")]
pub async fn public_key(state: web::Data<AppState>, _: Auditor) -> Result<HttpResponse, ApiError> {
    let pk = state.signer.public_key();
    Ok(HttpResponse::Ok().json(PublicKeyView {
        algorithm: "Ed25519",
        public_key: pk.to_hex(),
        key_id: pk.key_id(),
        signed_message: "compact JSON {\"context\":\"ctm-stats/ledger-checkpoint/v1\",\"dataset\":..,\"size\":..,\"head_hash\":..,\"at\":..}",
    }))
}
