//! Researcher workloads: several groupings over the same filters in one
//! `POST /v1/counts`, charged once, answered as consistent tables, with
//! their estimate; and the refusals that charge nothing.

use crate::helpers::*;
use crate::on_both_backends;
use ctm_stats::domain::Role;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The workload of the examples: two groupings sharing gender, and age alone.
fn workload(epsilon: f64) -> Value {
    json!({
        "workload": [["gender", "age_broad"], ["gender", "registration_year"], ["age_broad"]],
        "filters": {"registration_year": {"from": 2010, "to": 2020}},
        "epsilon": epsilon,
    })
}

/// The sums of a table's published cells by the value of `dimension`.
/// The published marginal over `dimension`: `None` for a value with a
/// suppressed cell (its sum is not published).
fn marginal(table: &Value, dimension: &str) -> BTreeMap<String, Option<i64>> {
    let mut out: BTreeMap<String, Option<i64>> = BTreeMap::new();
    for c in table["cells"].as_array().expect("cells") {
        let value = c["key"][dimension].as_str().expect("key").to_owned();
        let sum = out.entry(value).or_insert(Some(0));
        *sum = sum.and_then(|s| c["count"].as_i64().map(|v| s + v));
    }
    out
}

/// Two published marginals agree wherever both are published; returns how
/// many values were published in both (complementary suppression may hide
/// a cell in every row of one marginal, so a single pair may share none).
fn assert_marginals_agree(
    a: &BTreeMap<String, Option<i64>>,
    b: &BTreeMap<String, Option<i64>>,
) -> usize {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let mut compared = 0;
    for (value, x) in a {
        if let (Some(x), Some(Some(y))) = (x, b.get(value)) {
            assert_eq!(x, y, "{value}");
            compared += 1;
        }
    }
    compared
}

on_both_backends!(
    a_workload_is_charged_once_and_answered_as_consistent_tables,
    |backend| async move {
        // k = 1: only zeros are suppressed, so published cells add up exactly.
        let policy = policy_with(&[("privacy.k", "1")]);
        let Some(app) = TestApp::spawn_policy(backend, policy).await else {
            return;
        };
        let r = app.token(Role::Researcher, "alice");

        // The estimate first: the sum of the parts, and margins.
        let est = ok_json(
            app.post_json("/v1/counts/estimate", &r, &workload(0.6))
                .await,
        )
        .await;
        assert!((est["cost"].as_f64().expect("cost") - 0.6).abs() < 1e-9);
        assert_eq!(est["would_charge"], est["cost"]);
        assert_eq!(est["affordable"], true);
        let tables = est["tables"].as_array().expect("tables");
        assert_eq!(tables.len(), 3);
        for t in tables {
            assert!((t["cost"].as_f64().expect("cost") - 0.2).abs() < 1e-9);
            let own = t["margin_of_error"].as_u64().expect("margin");
            let consistent = t["consistent_margin_of_error"]
                .as_u64()
                .expect("consistent");
            assert!(consistent <= own + 1, "{consistent} vs {own}");
        }
        assert_eq!(
            app.budget("alice").await.0,
            0,
            "an estimate charges nothing"
        );

        let answer = ok_json(app.post_json("/v1/counts", &r, &workload(0.6)).await).await;
        assert_eq!(answer["consistent"], true);
        assert!((answer["charged"].as_f64().expect("charged") - 0.6).abs() < 1e-9);
        assert_eq!(
            app.budget("alice").await.0,
            600_000,
            "charged once: the sum"
        );
        let tables = answer["tables"].as_array().expect("tables");
        assert_eq!(tables.len(), 3);
        let total = tables[0]["total"]["count"].as_i64().expect("total");
        for t in tables {
            assert_eq!(t["consistent"], true);
            assert_eq!(t["total"]["count"].as_i64(), Some(total), "one total");
            let cells = t["cells"].as_array().expect("cells");
            assert!(
                cells
                    .iter()
                    .all(|c| c["count"].as_i64().is_none_or(|v| v >= 1))
            );
            let sum: i64 = cells.iter().filter_map(|c| c["count"].as_i64()).sum();
            let hidden = cells.iter().filter(|c| c["count"].is_null()).count();
            assert_ne!(
                hidden, 1,
                "{}: one suppressed cell beside its total",
                t["dimensions"]
            );
            assert!(sum <= total);
            if hidden == 0 {
                assert_eq!(sum, total, "{}: cells add up to the total", t["dimensions"]);
            }
        }
        // Shared marginals agree: gender in the first two, age in the first and last.
        let compared = assert_marginals_agree(
            &marginal(&tables[0], "gender"),
            &marginal(&tables[1], "gender"),
        ) + assert_marginals_agree(
            &marginal(&tables[0], "age_broad"),
            &marginal(&tables[2], "age_broad"),
        );
        assert!(compared > 0, "no shared marginal value published twice");
        // One ledger entry per grouping.
        let entries = ok_json(
            app.client
                .get(app.url("/v1/audit/entries?consumer=alice"))
                .bearer_auth(app.token(Role::Auditor, "audrey"))
                .send()
                .await
                .expect("request"),
        )
        .await;
        let charges = entries["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["event"] == "charge")
            .count();
        assert_eq!(charges, 3);

        // Again: free and identical; the estimate now says so too.
        let again = app.post_json("/v1/counts", &r, &workload(0.6)).await;
        let again = ok_json(again).await;
        assert_eq!(again["charged"], 0.0);
        assert_eq!(again["repeat"], true);
        for (a, b) in again["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .zip(tables)
        {
            assert_eq!(a["cells"], b["cells"]);
            assert_eq!(a["release_id"], b["release_id"]);
        }
        assert_eq!(app.budget("alice").await.0, 600_000);
        let est = ok_json(
            app.post_json("/v1/counts/estimate", &r, &workload(0.6))
                .await,
        )
        .await;
        assert_eq!(est["would_charge"], 0.0);

        // Each grouping is the release of its single query at its share.
        let single = ok_json(
            app.post_json(
                "/v1/counts",
                &r,
                &json!({"dimensions": ["gender", "age_broad"], "filters": {"registration_year": {"from": 2010, "to": 2020}}, "epsilon": 0.2}),
            )
            .await,
        )
        .await;
        assert_eq!(single["release_id"], tables[0]["release_id"]);
        assert_eq!(single["charged"], 0.0);

        // CSV: one row per cell of every grouping, then each total.
        let csv = app
            .client
            .post(app.url("/v1/counts?format=csv"))
            .bearer_auth(&r)
            .json(&workload(0.6))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("body");
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[0].starts_with("grouping,gender,age_broad,registration_year,count"));
        let cells: usize = tables
            .iter()
            .map(|t| t["cells"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(lines.len(), 1 + cells + 3);
    }
);

on_both_backends!(
    bad_workloads_are_refused_before_anything_is_charged,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let r = app.token(Role::Researcher, "bob");
        let nine: Vec<Vec<&str>> = [
            "gender",
            "age_broad",
            "majority_status",
            "education",
            "is_internal",
            "datasource",
            "socio_economic_status",
            "traffick_months",
            "citizenship",
        ]
        .iter()
        .map(|d| vec![*d])
        .collect();
        for (body, status, code) in [
            (
                json!({"workload": nine, "epsilon": 0.9}),
                422,
                "query.too_many_groupings",
            ),
            (
                json!({"workload": [["citizenship", "country_of_exploitation"], ["citizenship", "registration_year"]], "epsilon": 1.0}),
                422,
                "query.too_many_cells",
            ),
            (
                json!({"dimensions": ["gender"], "workload": [["gender"]], "epsilon": 0.5}),
                422,
                "query.invalid",
            ),
            (
                json!({"workload": [["type_of_exploitation", "gender"], ["gender"]], "epsilon": 0.5}),
                422,
                "query.invalid",
            ),
            (
                json!({"workload": [["gender"], ["age_broad"]], "accuracy": {"margin": 20, "confidence": 0.95}}),
                422,
                "query.invalid",
            ),
            (
                json!({"workload": [["gender"], ["gender"]], "epsilon": 0.5}),
                422,
                "query.invalid",
            ),
            (
                json!({"workload": [], "epsilon": 0.5}),
                422,
                "query.invalid",
            ),
            (
                json!({"workload": [["gender", "age_broad"], ["gender", "education"], ["age_broad", "education"]], "epsilon": 0.6}),
                422,
                "query.invalid",
            ),
            (
                json!({"workload": [["gender"], ["age_broad"]], "epsilon": 0.06}),
                422,
                "query.epsilon_out_of_range",
            ),
        ] {
            for path in ["/v1/counts", "/v1/counts/estimate"] {
                let p = assert_problem(app.post_json(path, &r, &body).await, status, code).await;
                assert!(
                    p["detail"].as_str().is_some_and(|d| !d.is_empty()),
                    "{body}"
                );
            }
        }
        assert_eq!(app.budget("bob").await.0, 0, "nothing charged");
        assert_eq!(app.evaluations(), 0, "no case read");
    }
);
