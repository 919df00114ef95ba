//! Synthetic microdata (`POST /v1/synthetic`): records that reproduce every
//! published tree marginal exactly, charged once through the release
//! pipeline, a repeat free and byte-identical; the refusals that charge
//! nothing and read no case.

use crate::helpers::*;
use crate::on_both_backends;
use ctm_stats::domain::Role;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn request(epsilon: f64) -> Value {
    json!({
        "attributes": ["gender", "age_broad", "citizenship"],
        "filters": {"registration_year": {"from": 2010, "to": 2020}},
        "epsilon": epsilon,
    })
}

/// The records of a CSV: its header and its rows.
fn read_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let header = lines
        .next()
        .expect("header")
        .split(',')
        .map(str::to_owned)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// How many records hold each combination of `attributes`' values.
fn tabulate(
    header: &[String],
    rows: &[Vec<String>],
    attributes: &[String],
) -> BTreeMap<Vec<String>, i64> {
    let at: Vec<usize> = attributes
        .iter()
        .map(|a| header.iter().position(|h| h == a).expect("column"))
        .collect();
    let mut out = BTreeMap::new();
    for r in rows {
        *out.entry(at.iter().map(|&i| r[i].clone()).collect())
            .or_insert(0) += 1;
    }
    out
}

async fn charges_of(app: &TestApp, consumer: &str) -> usize {
    let entries = ok_json(
        app.client
            .get(app.url(&format!("/v1/audit/entries?consumer={consumer}")))
            .bearer_auth(app.token(Role::Auditor, "audrey"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    entries["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["event"] == "charge")
        .count()
}

on_both_backends!(
    synthetic_records_reproduce_every_tree_marginal_and_are_charged_once,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let r = app.token(Role::Researcher, "alice");

        let est = ok_json(
            app.post_json("/v1/synthetic/estimate", &r, &request(1.0))
                .await,
        )
        .await;
        assert!((est["cost"].as_f64().expect("cost") - 1.0).abs() < 1e-9);
        assert_eq!(est["affordable"], true);
        assert_eq!(est["marginals"].as_array().map(Vec::len), Some(5));
        assert_eq!(
            est["tree"][0],
            json!({"parent": "gender", "child": "age_broad"})
        );
        assert_eq!(
            app.budget("alice").await.0,
            0,
            "an estimate charges nothing"
        );
        assert_eq!(app.evaluations(), 0, "an estimate reads no case");

        let res = app.post_json("/v1/synthetic", &r, &request(1.0)).await;
        let answer = ok_json(res).await;
        assert!((answer["charged"].as_f64().expect("charged") - 1.0).abs() < 1e-9);
        assert_eq!(
            app.budget("alice").await.0,
            1_000_000,
            "charged once: epsilon 1"
        );
        assert_eq!(app.global_spent().await, 1_000_000);
        assert_eq!(answer["budget_split"]["marginals"], 5);
        assert!(
            (answer["budget_split"]["per_marginal"]
                .as_f64()
                .expect("share")
                - 0.2)
                .abs()
                < 1e-9
        );
        assert_eq!(answer["unit_of_privacy"], "person");
        assert_eq!(answer["method"]["name"], "mst_tree_marginals");
        assert!(answer["notes"].as_array().is_some_and(|n| {
            n.iter()
                .any(|t| t.as_str().is_some_and(|t| t.contains("only approximated")))
        }));
        // One charge transaction; one ledger entry per marginal in it.
        assert_eq!(charges_of(&app, "alice").await, 5);

        // Every published marginal, zeros included, is reproduced exactly.
        let csv = answer["records_csv"].as_str().expect("csv");
        let (header, rows) = read_csv(csv);
        assert_eq!(header, ["gender", "age_broad", "citizenship"]);
        assert_eq!(
            rows.len() as u64,
            answer["records"].as_u64().expect("records")
        );
        let marginals = answer["marginals"].as_array().expect("marginals");
        assert_eq!(marginals.len(), 5);
        let mut edges = 0;
        for m in marginals {
            let attributes: Vec<String> = m["attributes"]
                .as_array()
                .expect("attributes")
                .iter()
                .map(|a| a.as_str().expect("name").to_owned())
                .collect();
            if m["kind"] == "tree_edge" {
                edges += 1;
            }
            let table = tabulate(&header, &rows, &attributes);
            let mut total = 0;
            for c in m["cells"].as_array().expect("cells") {
                let key: Vec<String> = attributes
                    .iter()
                    .map(|a| c["key"][a].as_str().expect("value").to_owned())
                    .collect();
                let count = c["count"].as_i64().expect("count");
                assert!(count >= 0);
                assert_eq!(
                    table.get(&key).copied().unwrap_or(0),
                    count,
                    "{attributes:?} {key:?}"
                );
                total += count;
            }
            assert_eq!(
                total as usize,
                rows.len(),
                "{attributes:?} sums to the records"
            );
        }
        assert_eq!(edges, 2);

        // A repeat is free, and the records are byte-identical (the CSV body too).
        let before = app.evaluations();
        let again = ok_json(app.post_json("/v1/synthetic", &r, &request(1.0)).await).await;
        assert_eq!(again["charged"], 0.0);
        assert_eq!(again["repeat"], true);
        assert_eq!(again["records_csv"], answer["records_csv"]);
        assert_eq!(again["marginals"], answer["marginals"]);
        assert_eq!(again["release_id"], answer["release_id"]);
        let body = app
            .client
            .post(app.url("/v1/synthetic"))
            .bearer_auth(&r)
            .header("Accept", "text/csv")
            .json(&request(1.0))
            .send()
            .await
            .expect("request");
        assert!(
            body.headers()["content-type"]
                .to_str()
                .is_ok_and(|t| t.starts_with("text/csv"))
        );
        assert_eq!(body.text().await.expect("body"), csv);
        assert_eq!(app.budget("alice").await.0, 1_000_000);
        assert_eq!(app.evaluations(), before, "a repeat counts nothing");

        // Each marginal is the release of its single count query at its share.
        let single = ok_json(
            app.post_json(
                "/v1/counts",
                &r,
                &json!({"dimensions": ["gender"], "filters": {"registration_year": {"from": 2010, "to": 2020}}, "epsilon": 0.2}),
            )
            .await,
        )
        .await;
        assert_eq!(single["release_id"], marginals[0]["release_id"]);
        assert_eq!(single["charged"], 0.0);
    }
);

on_both_backends!(a_star_tree_is_drawn_along_its_edges, |backend| async move {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let r = app.token(Role::Researcher, "bob");
    let body = json!({
        "attributes": ["gender", "age_broad", "registration_year"],
        "tree": [["gender", "age_broad"], ["registration_year", "gender"]],
        "epsilon": 0.6,
    });
    let answer = ok_json(app.post_json("/v1/synthetic", &r, &body).await).await;
    assert_eq!(
        answer["tree"],
        json!([{"parent": "gender", "child": "age_broad"}, {"parent": "gender", "child": "registration_year"}])
    );
    let (header, rows) = read_csv(answer["records_csv"].as_str().expect("csv"));
    for m in answer["marginals"].as_array().expect("marginals") {
        let attributes: Vec<String> = m["attributes"]
            .as_array()
            .expect("attributes")
            .iter()
            .map(|a| a.as_str().expect("name").to_owned())
            .collect();
        let table = tabulate(&header, &rows, &attributes);
        for c in m["cells"].as_array().expect("cells") {
            let key: Vec<String> = attributes
                .iter()
                .map(|a| c["key"][a].as_str().expect("value").to_owned())
                .collect();
            assert_eq!(
                table.get(&key).copied().unwrap_or(0),
                c["count"].as_i64().expect("count")
            );
        }
    }
    assert_eq!(app.budget("bob").await.0, 600_000);
});

on_both_backends!(
    bad_synthetic_requests_are_refused_and_charge_nothing,
    |backend| async move {
        let policy = policy_with(&[("budgets.researcher", "0.5")]);
        let Some(app) = TestApp::spawn_policy(backend, policy).await else {
            return;
        };
        let r = app.token(Role::Researcher, "carol");
        let cases = [
            (
                json!({"attributes": ["gender", "favourite_colour"], "epsilon": 0.4}),
                422,
                "synthetic.attribute_not_synthesizable",
            ),
            (
                json!({"attributes": ["gender", "type_of_exploitation"], "epsilon": 0.4}),
                422,
                "synthetic.attribute_not_synthesizable",
            ),
            (
                json!({"attributes": ["gender", "is_internal"], "epsilon": 0.4}),
                422,
                "synthetic.attribute_not_synthesizable",
            ),
            (
                json!({"attributes": ["gender", "gender"], "epsilon": 0.4}),
                422,
                "query.invalid",
            ),
            (
                json!({"attributes": ["gender", "age_broad", "citizenship"], "tree": [["gender", "age_broad"], ["age_broad", "gender"]], "epsilon": 0.4}),
                422,
                "query.invalid",
            ),
            (
                json!({"attributes": ["gender", "age_broad"], "tree": [["gender", "citizenship"]], "epsilon": 0.4}),
                422,
                "query.invalid",
            ),
            (
                json!({"attributes": ["citizenship", "country_of_exploitation"], "epsilon": 0.4}),
                422,
                "query.too_many_cells",
            ),
            (
                json!({"attributes": ["gender", "age_broad", "citizenship"], "epsilon": 0.1}),
                422,
                "query.epsilon_out_of_range",
            ),
            (
                json!({"attributes": ["gender", "age_broad"], "epsilon": 1.0}),
                403,
                "budget.exhausted",
            ),
        ];
        for (body, status, code) in cases {
            assert_problem(
                app.post_json("/v1/synthetic", &r, &body).await,
                status,
                code,
            )
            .await;
            if status == 422 {
                assert_problem(
                    app.post_json("/v1/synthetic/estimate", &r, &body).await,
                    status,
                    code,
                )
                .await;
            }
        }
        let est = ok_json(
            app.post_json(
                "/v1/synthetic/estimate",
                &r,
                &json!({"attributes": ["gender", "age_broad"], "epsilon": 1.0}),
            )
            .await,
        )
        .await;
        assert_eq!(est["affordable"], false);
        assert_eq!(app.budget("carol").await.0, 0, "nothing charged");
        assert_eq!(app.global_spent().await, 0);
        assert_eq!(app.evaluations(), 0, "no case read");
        assert_eq!(charges_of(&app, "carol").await, 0);
    }
);
