//! The release core driven without a web server: a `Pipeline` over a fresh
//! SQLite store, as the composition root builds it, released through
//! directly. What the HTTP tests show through a server, these show of the
//! core alone: one path for one release or several, and no silent fallback
//! after a charge.

use ctm_stats::cache::ReleaseCache;
use ctm_stats::domain::budget::Amount;
use ctm_stats::domain::{Consumer, Role};
use ctm_stats::engine::SnapshotCell;
use ctm_stats::policy::parse_policy;
use ctm_stats::privacy::NoiseKey;
use ctm_stats::release::query::{CountQuery, CountRequest};
use ctm_stats::release::{self, Format, Pipeline, Plan, ReleaseError};
use ctm_stats::store::{Committer, Store};
use std::sync::Arc;

const POLICY: &str = include_str!("../policy/default.toml");

async fn pipeline(dir: &std::path::Path) -> Pipeline {
    let policy = parse_policy("default.toml", POLICY).expect("policy");
    let store = Store::connect(&format!("sqlite:{}", dir.join("core.db").display()))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    store
        .add_cases(&ctm_stats::synth::generate_vec(2000, 7), false, |_| {})
        .await
        .expect("cases");
    store
        .record_accounting(policy.accounting.code())
        .await
        .expect("accounting");
    store
        .sync_global_budget(
            &policy.dataset,
            Amount::from_micro(policy.global_budget_micro),
        )
        .await
        .expect("global budget");
    let snapshot = ctm_stats::snapshots::load_from_store(&store, &policy)
        .await
        .expect("snapshot");
    Pipeline {
        policy: Arc::new(policy),
        committer: Committer::spawn(store.clone()).expect("committer"),
        releases: ReleaseCache::new(64),
        snapshots: Arc::new(SnapshotCell::new(snapshot)),
        noise_key: NoiseKey::generate().expect("key"),
        store,
    }
}

fn researcher() -> Consumer {
    Consumer {
        id: "core-researcher".into(),
        role: Role::Researcher,
        country: None,
        region: None,
    }
}

fn planned(p: &Pipeline, body: &str) -> Plan {
    let request: CountRequest = serde_json::from_str(body).expect("request");
    let query = CountQuery::parse(&p.policy, &researcher(), &request).expect("query");
    release::plan(&p.policy, query).expect("plan")
}

async fn spent(p: &Pipeline) -> u64 {
    p.store
        .consumer_budget(&p.policy.dataset, &researcher().id)
        .await
        .expect("budget")
        .map_or(0, |b| b.spent.micro())
}

#[tokio::test]
async fn a_count_is_released_charged_and_ledgered_without_a_server() {
    let dir = tempfile::tempdir().expect("dir");
    let p = pipeline(dir.path()).await;
    let body = br#"{"dimensions":["gender"],"epsilon":0.5}"#;
    let out = release::release_counts(&p, &researcher(), body, None, Format::Json)
        .await
        .expect("released");
    let json: serde_json::Value = serde_json::from_slice(&out.body).expect("json");
    assert!(
        json["cells"]
            .as_array()
            .is_some_and(|cells| !cells.is_empty())
    );
    assert_eq!(json["charged"], 0.5);
    assert_eq!(spent(&p).await, 500_000);
    assert_eq!(p.store.ledger_head().await.expect("head").0, 1);

    // The same request again: a free repeat, recorded, never recounted.
    let before = p.snapshots.current().evaluations();
    let again = release::release_counts(&p, &researcher(), body, None, Format::Json)
        .await
        .expect("repeat");
    let json: serde_json::Value = serde_json::from_slice(&again.body).expect("json");
    assert_eq!(json["charged"], 0.0);
    assert_eq!(json["repeat"], true);
    assert_eq!(p.snapshots.current().evaluations(), before);
    assert_eq!(spent(&p).await, 500_000);
}

#[tokio::test]
async fn several_plans_are_charged_together_on_the_one_path() {
    let dir = tempfile::tempdir().expect("dir");
    let p = pipeline(dir.path()).await;
    let a = planned(&p, r#"{"dimensions":["gender"],"epsilon":0.25}"#);
    let b = planned(&p, r#"{"dimensions":["age_broad"],"epsilon":0.5}"#);
    let (receipts, bytes) = p
        .release(&researcher(), &[&a, &b], None, |charged| {
            Ok(format!("{} receipts", charged.receipts.len()).into_bytes())
        })
        .await
        .expect("released");
    assert_eq!(bytes, b"2 receipts");
    assert_eq!(receipts.len(), 2);
    assert_eq!(receipts[0].charged.micro(), 250_000);
    assert_eq!(receipts[1].charged.micro(), 500_000);
    // Both receipts carry the budget after the whole charge.
    assert_eq!(receipts[0].budget.spent.micro(), 750_000);
    assert_eq!(receipts[1].budget, receipts[0].budget);
    assert_eq!(spent(&p).await, 750_000);
    assert_eq!(p.store.ledger_head().await.expect("head").0, 2);
}

#[tokio::test]
async fn a_render_failure_after_the_charge_is_an_error_never_an_empty_answer() {
    let dir = tempfile::tempdir().expect("dir");
    let p = pipeline(dir.path()).await;
    let plan = planned(&p, r#"{"dimensions":["gender"],"epsilon":0.5}"#);
    let err = p
        .release(&researcher(), &[&plan], None, |_| Err("no bytes".into()))
        .await
        .expect_err("a failed render is an error");
    assert!(matches!(err, ReleaseError::RenderFailed(_)), "{err:?}");
    assert_eq!(err.code(), "internal.render_failed");
    // The charge stands (it was durable before rendering), and says so.
    assert_eq!(spent(&p).await, 500_000);
    assert!(err.detail_and_extra().0.contains("charged"));
    // Asking again returns the release at no further cost.
    let (receipts, _) = p
        .release(&researcher(), &[&plan], None, |_| Ok(Vec::new()))
        .await
        .expect("repeat");
    assert!(receipts[0].replay);
    assert_eq!(receipts[0].charged, Amount::ZERO);
    assert_eq!(spent(&p).await, 500_000);
}

#[tokio::test]
async fn with_an_idempotency_key_a_render_failure_charges_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let p = pipeline(dir.path()).await;
    let plan = planned(&p, r#"{"dimensions":["gender"],"epsilon":0.5}"#);
    let idempotency = ctm_stats::budget::Idempotency {
        key: "k-1",
        request_hash: "h",
        content_type: "application/json",
    };
    let err = p
        .release(&researcher(), &[&plan], Some(idempotency), |_| {
            Err("no bytes".into())
        })
        .await
        .expect_err("a failed render is an error");
    assert!(matches!(err, ReleaseError::Internal(_)), "{err:?}");
    assert_eq!(spent(&p).await, 0);
    assert_eq!(p.store.ledger_head().await.expect("head").0, 0);
}

#[tokio::test]
async fn an_unaffordable_release_is_refused_before_any_case_is_counted() {
    let dir = tempfile::tempdir().expect("dir");
    let p = pipeline(dir.path()).await;
    // The researcher's lifetime budget, in one release of the policy's maximum.
    let limit = p.policy.role_budget(Role::Researcher).micro();
    let mut releases = Vec::new();
    let mut total = 0;
    for dim in [
        "gender",
        "age_broad",
        "majority_status",
        "education",
        "is_internal",
        "datasource",
        "socio_economic_status",
        "traffick_months",
    ] {
        let plan = planned(
            &p,
            &format!(
                r#"{{"dimensions":["{dim}"],"epsilon":{}}}"#,
                p.policy.cost.max_micro as f64 / 1e6
            ),
        );
        total += plan.cost.micro();
        releases.push(plan);
        if total > limit {
            break;
        }
    }
    assert!(
        total > limit,
        "the policy's maximum cost never exceeds the budget"
    );
    let before = p.snapshots.current().evaluations();
    let plans: Vec<&Plan> = releases.iter().collect();
    let err = p
        .release(&researcher(), &plans, None, |_| Ok(Vec::new()))
        .await
        .expect_err("over budget");
    assert_eq!(err.code(), "budget.exhausted");
    assert_eq!(p.snapshots.current().evaluations(), before);
    assert_eq!(spent(&p).await, 0);
}
