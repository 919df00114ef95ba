//! Concurrent requests never overspend a budget.

use crate::helpers::*;
use crate::on_both_backends;
use ctm_stats::domain::Role;
use serde_json::json;

on_both_backends!(
    sixty_four_concurrent_queries_against_a_budget_for_five_spend_exactly_the_limit,
    |backend| async move {
        // Each query costs 0.2; the researcher budget of 1.0 fits exactly five.
        let policy = policy_with(&[("budgets.researcher", "1.0")]);
        let Some(app) = TestApp::spawn_policy(backend, policy).await else {
            return;
        };
        // Two servers sharing the database (replicas), as in a PostgreSQL deployment;
        // on SQLite both processes share one file.
        let replica = app.replica().await;
        let token = app.token(Role::Researcher, "racer");
        let years: Vec<u16> = (2002..=2025).collect();
        let mut handles = Vec::new();
        for i in 0..64usize {
            // 64 distinct queries: different year filters and groupings.
            let dims = if i % 2 == 0 {
                json!(["gender"])
            } else {
                json!(["age_broad"])
            };
            let education = ["none", "primary", "secondary"][i / years.len()];
            let body = json!({"dimensions": dims, "filters": {"registration_year": [years[i % years.len()]], "education": [education]}, "epsilon": 0.2});
            let target = if i % 2 == 0 {
                app.url("/v1/counts")
            } else {
                replica.url("/v1/counts")
            };
            let client = app.client.clone();
            let token = token.clone();
            handles.push(tokio::spawn(async move {
                let res = client
                    .post(target)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .expect("request");
                let status = res.status().as_u16();
                let body: serde_json::Value = res.json().await.expect("json");
                (status, body)
            }));
        }
        let mut ok = 0;
        let mut exhausted = 0;
        for h in handles {
            let (status, body) = h.await.expect("join");
            match status {
                200 => ok += 1,
                403 if body["code"] == "budget.exhausted" => exhausted += 1,
                other => panic!("unexpected answer {other}: {body}"),
            }
        }
        assert_eq!(ok, 5, "exactly five fit");
        assert_eq!(exhausted, 59);
        assert_eq!(
            app.budget("racer").await,
            (1_000_000, 1_000_000),
            "spent equals the limit exactly"
        );
        // The ledger accounts for every debit exactly: per consumer and globally.
        crate::audit::assert_ledger_reconciles(&app).await;
        let auditor = app.token(Role::Auditor, "race-auditor");
        let summary: serde_json::Value = app
            .get("/v1/audit/consumers", &auditor)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(summary["consumers"][0]["consumer"], "racer");
        assert_eq!(summary["consumers"][0]["releases"], 5);
        assert_eq!(summary["consumers"][0]["refusals"], 59);
    }
);
