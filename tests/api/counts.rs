use crate::helpers::*;
use crate::on_both_backends;
use ctm_stats::domain::Role;
use serde_json::{Value, json};

async fn json_of(res: reqwest::Response) -> Value {
    assert_eq!(res.status().as_u16(), 200, "expected 200");
    res.json().await.expect("json body")
}

on_both_backends!(
    a_grouped_count_has_every_cell_with_flags_and_margins,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let t = app.token(Role::Researcher, "alice");
        let body = json_of(
            app.post_json(
                "/v1/counts",
                &t,
                &json!({"dimensions": ["gender", "age_broad"], "epsilon": 0.5}),
            )
            .await,
        )
        .await;
        let cells = body["cells"].as_array().expect("cells");
        assert_eq!(
            cells.len(),
            4 * 10,
            "every gender x age cell of the declared domain"
        );
        assert_eq!(
            cells[0]["key"],
            json!({"gender": "woman", "age_broad": "0-8"})
        );
        assert_eq!(
            cells[39]["key"],
            json!({"gender": "unknown", "age_broad": "unknown"})
        );
        let margin = cells[0]["margin_of_error"].as_u64().expect("margin");
        // Discrete Laplace, scale 1/0.5 = 2: P(|X| > m) = 2 e^{-(m+1)/2} / (1 + e^{-1/2}) <= 0.05 first at m = 6.
        assert_eq!(margin, 6);
        let mut suppressed = 0;
        for c in cells {
            assert_eq!(c["margin_of_error"], margin);
            assert_eq!(c["suppressed"].as_bool(), Some(c["count"].is_null()), "{c}");
            if let Some(n) = c["count"].as_i64() {
                assert!(n >= 10, "released counts are at least k: {c}");
            } else {
                suppressed += 1;
            }
        }
        assert!(
            suppressed > 0,
            "trans_nonconforming x small age bands should be suppressed in 3000 cases"
        );
        assert_eq!(body["charged"], 0.5);
        assert_eq!(body["k"], 10);
        assert_eq!(body["mechanism"]["name"], "discrete_laplace");
        assert_eq!(body["budget"]["spent"], 0.5);
        assert_eq!(body["budget"]["remaining"], 9.5);
        assert_eq!(body["data_version"], 1);
    }
);

on_both_backends!(
    a_repeat_is_free_and_identical_and_another_consumer_pays_for_the_same_numbers,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let alice = app.token(Role::Researcher, "alice");
        let bob = app.token(Role::Researcher, "bob");
        let q = json!({"dimensions": ["type_of_exploitation"], "filters": {"registration_year": {"from": 2015, "to": 2020}}, "epsilon": 0.3});
        let first = json_of(app.post_json("/v1/counts", &alice, &q).await).await;
        let again = json_of(app.post_json("/v1/counts", &alice, &q).await).await;
        assert_eq!(first["cells"], again["cells"]);
        assert_eq!(again["charged"], 0.0);
        assert_eq!(again["repeat"], true);
        assert_eq!(app.budget("alice").await.0, 300_000);
        let global_after_alice = app.global_spent().await;
        let other = json_of(app.post_json("/v1/counts", &bob, &q).await).await;
        assert_eq!(
            other["cells"], first["cells"],
            "same release, same numbers for everyone"
        );
        assert_eq!(other["charged"], 0.3);
        assert_eq!(app.budget("bob").await.0, 300_000);
        assert_eq!(
            app.global_spent().await,
            global_after_alice,
            "the global budget pays once per release"
        );
    }
);

on_both_backends!(an_estimate_charges_nothing, |backend| async move {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(Role::Researcher, "carol");
    let est = json_of(
        app.post_json(
            "/v1/counts/estimate",
            &t,
            &json!({"dimensions": ["gender"], "accuracy": {"margin": 10, "confidence": 0.95}}),
        )
        .await,
    )
    .await;
    let eps = est["cost"].as_f64().expect("cost");
    assert!(
        eps > 0.0 && eps < 0.5,
        "margin 10 needs less than epsilon 0.5: {est}"
    );
    assert!(est["margin_of_error"].as_u64().expect("margin") <= 10);
    assert_eq!(est["affordable"], true);
    assert_eq!(app.budget("carol").await.0, 0);
    assert_eq!(app.global_spent().await, 0);
    let real = json_of(
        app.post_json(
            "/v1/counts",
            &t,
            &json!({"dimensions": ["gender"], "accuracy": {"margin": 10, "confidence": 0.95}}),
        )
        .await,
    )
    .await;
    assert_eq!(
        real["cost"], est["cost"],
        "the estimate names the cost that is then charged"
    );
    let est2 = json_of(
        app.post_json(
            "/v1/counts/estimate",
            &t,
            &json!({"dimensions": ["gender"], "accuracy": {"margin": 10, "confidence": 0.95}}),
        )
        .await,
    )
    .await;
    assert_eq!(
        est2["would_charge"], 0.0,
        "a paid release is free to repeat"
    );
});

on_both_backends!(
    an_exhausted_budget_is_refused_and_charges_nothing,
    |backend| async move {
        let policy = policy_with(&[("budgets.researcher", "1.0")]);
        let Some(app) = TestApp::spawn_policy(backend, policy).await else {
            return;
        };
        let t = app.token(Role::Researcher, "dave");
        json_of(
            app.post_json(
                "/v1/counts",
                &t,
                &json!({"dimensions": ["gender"], "epsilon": 0.7}),
            )
            .await,
        )
        .await;
        let global = app.global_spent().await;
        let res = app
            .post_json(
                "/v1/counts",
                &t,
                &json!({"dimensions": ["age_broad"], "epsilon": 0.5}),
            )
            .await;
        let p = assert_problem(res, 403, "budget.exhausted").await;
        assert_eq!(p["requested"], 0.5);
        assert!(
            (p["remaining"].as_f64().unwrap_or(0.0) - 0.3).abs() < 1e-9,
            "{p}"
        );
        assert_eq!(app.budget("dave").await, (700_000, 1_000_000));
        assert_eq!(app.global_spent().await, global);
        // Exactly what remains is still allowed.
        json_of(
            app.post_json(
                "/v1/counts",
                &t,
                &json!({"dimensions": ["age_broad"], "epsilon": 0.3}),
            )
            .await,
        )
        .await;
        assert_eq!(app.budget("dave").await.0, 1_000_000);
    }
);

on_both_backends!(
    validation_errors_have_stable_codes_and_charge_nothing,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let t = app.token(Role::Researcher, "erin");
        let cases: Vec<(Value, u16, &str)> = vec![
            (
                json!({"dimensions": ["gendr"]}),
                422,
                "query.unknown_dimension",
            ),
            (
                json!({"dimensions": ["gender"], "filters": {"gender": ["femme"]}}),
                422,
                "query.unknown_value",
            ),
            (
                json!({"dimensions": ["gender"], "epsilon": 50}),
                422,
                "query.epsilon_out_of_range",
            ),
            (
                json!({"dimensions": ["gender"], "epsilon": -1}),
                422,
                "query.epsilon_out_of_range",
            ),
            (
                json!({"dimensions": ["gender"], "epsilon": 0}),
                422,
                "query.epsilon_out_of_range",
            ),
            (
                json!({"dimensions": ["citizenship", "country_of_exploitation"]}),
                422,
                "query.too_many_cells",
            ),
            (
                json!({"dimensions": ["gender", "age_broad", "education", "datasource"]}),
                422,
                "query.too_many_dimensions",
            ),
            (
                json!({"dimensions": ["gender"], "colour": "blue"}),
                400,
                "request.invalid_body",
            ),
            (
                json!({"dimensions": ["gender"], "accuracy": {"margin": 1, "confidence": 0.99}}),
                422,
                "query.accuracy_unreachable",
            ),
            // Years outside the declared domain, as the national endpoints refuse them.
            (
                json!({"dimensions": ["gender"], "filters": {"registration_year": {"from": -1, "to": 1_000_000_000_000_000_000u64}}}),
                422,
                "query.invalid",
            ),
            (
                json!({"dimensions": ["gender"], "filters": {"registration_year": {"from": 1990, "to": 2020}}}),
                422,
                "query.invalid",
            ),
        ];
        for (body, status, code) in cases {
            let res = app.post_json("/v1/counts", &t, &body).await;
            let p = assert_problem(res, status, code).await;
            if code == "query.unknown_dimension" {
                assert!(
                    p["detail"]
                        .as_str()
                        .is_some_and(|d| d.contains("gendr") && d.contains("gender")),
                    "{p}"
                );
            }
        }
        let gov = app.government_token("gov-ukr", "UKR");
        let res = app
            .post_json(
                "/v1/counts",
                &gov,
                &json!({"dimensions": ["means_of_control"]}),
            )
            .await;
        assert_problem(res, 403, "query.forbidden_dimension").await;
        let big = json!({"dimensions": ["gender"], "filters": {"citizenship": vec!["UKR"; 5000]}});
        let res = app.post_json("/v1/counts", &t, &big).await;
        assert_problem(res, 413, "request.too_large").await;
        let res = app
            .client
            .post(app.url("/v1/counts"))
            .bearer_auth(&t)
            .body("{}")
            .send()
            .await
            .expect("request");
        assert_problem(res, 415, "request.unsupported_media_type").await;
        assert_eq!(app.budget("erin").await.0, 0);
        assert_eq!(app.global_spent().await, 0);
    }
);

on_both_backends!(
    only_utf8_json_bodies_are_read_on_every_endpoint_with_a_body,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let t = app.token(Role::Researcher, "typed");
        let admin = app.token(Role::Admin, "typed-admin");
        let count = r#"{"dimensions": ["gender"], "epsilon": 0.5}"#;
        let send = |method: reqwest::Method, path: &str, token: &str, ct: &str, body: &str| {
            app.client
                .request(method, app.url(path))
                .bearer_auth(token)
                .header("Content-Type", ct)
                .body(body.to_owned())
                .send()
        };
        for ct in [
            "application/json; charset=latin1",
            "application/json; charset=utf-16",
            "application/json;;;",
            "application/json; charset",
            "text/plain",
            "application/json-seq",
        ] {
            for (method, path, token, body) in [
                (reqwest::Method::POST, "/v1/counts", &t, count),
                (reqwest::Method::POST, "/v1/counts/estimate", &t, count),
                (
                    reqwest::Method::PUT,
                    "/v1/admin/consumers/typed/budget",
                    &admin,
                    r#"{"limit": 3.0}"#,
                ),
            ] {
                let res = send(method.clone(), path, token, ct, body)
                    .await
                    .expect("request");
                let problem = assert_problem(res, 415, "request.unsupported_media_type").await;
                assert!(
                    problem["detail"]
                        .as_str()
                        .is_some_and(|d| d.contains("UTF-8")),
                    "{method} {path} {ct}: {problem}"
                );
            }
        }
        assert_eq!(app.budget("typed").await.0, 0, "nothing charged");
        for ct in [
            "application/json",
            "Application/JSON; Charset=UTF-8",
            "application/json;charset=\"utf-8\"",
        ] {
            let res = send(reqwest::Method::POST, "/v1/counts", &t, ct, count)
                .await
                .expect("request");
            assert_eq!(res.status().as_u16(), 200, "{ct}");
        }
        let res = send(
            reqwest::Method::PUT,
            "/v1/admin/consumers/typed/budget",
            &admin,
            "application/json; charset=utf-8",
            r#"{"limit": 3.0}"#,
        )
        .await
        .expect("request");
        assert_eq!(res.status().as_u16(), 200);
    }
);

on_both_backends!(
    the_rate_limit_refuses_with_retry_after_before_any_charge,
    |backend| async move {
        let policy = policy_with(&[("limits.requests_per_minute", "3")]);
        let Some(app) = TestApp::spawn_policy(backend, policy).await else {
            return;
        };
        let t = app.token(Role::Researcher, "frank");
        for _ in 0..3 {
            app.post_json(
                "/v1/counts/estimate",
                &t,
                &json!({"dimensions": ["gender"]}),
            )
            .await;
        }
        let res = app
            .post_json("/v1/counts", &t, &json!({"dimensions": ["gender"]}))
            .await;
        assert!(res.headers().get("retry-after").is_some());
        assert_problem(res, 429, "rate.limited").await;
        assert_eq!(app.budget("frank").await.0, 0);
    }
);

on_both_backends!(
    an_idempotent_retry_replays_the_bytes_and_a_reused_key_is_refused,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let t = app.token(Role::Researcher, "gina");
        let send = |body: Value| {
            app.client
                .post(app.url("/v1/counts"))
                .bearer_auth(&t)
                .header("Idempotency-Key", "k-123")
                .json(&body)
                .send()
        };
        let first = send(json!({"dimensions": ["gender"], "epsilon": 0.2}))
            .await
            .expect("first");
        assert_eq!(first.status().as_u16(), 200);
        let first = first.bytes().await.expect("bytes");
        let retry = send(json!({"dimensions": ["gender"], "epsilon": 0.2}))
            .await
            .expect("retry");
        assert_eq!(
            retry
                .headers()
                .get("idempotent-replayed")
                .and_then(|v| v.to_str().ok()),
            Some("true")
        );
        assert_eq!(retry.bytes().await.expect("bytes"), first, "byte for byte");
        assert_eq!(app.budget("gina").await.0, 200_000);
        let other = send(json!({"dimensions": ["age_broad"], "epsilon": 0.2}))
            .await
            .expect("other");
        assert_problem(other, 422, "idempotency.key_reused").await;
        assert_eq!(app.budget("gina").await.0, 200_000);
    }
);

on_both_backends!(csv_is_served_on_request, |backend| async move {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(Role::Researcher, "hana");
    let res = app
        .client
        .post(app.url("/v1/counts"))
        .bearer_auth(&t)
        .header("Accept", "text/csv")
        .json(&json!({"dimensions": ["gender"]}))
        .send()
        .await
        .expect("csv");
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/csv"))
    );
    let text = res.text().await.expect("text");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "gender,count,suppressed,margin_of_error");
    assert_eq!(lines.len(), 5);
    assert!(lines[1].starts_with("woman,"));
});

on_both_backends!(
    a_government_is_pinned_to_its_country,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let gov = app.government_token("gov-usa", "USA");
        let body = json_of(
            app.post_json(
                "/v1/counts",
                &gov,
                &json!({"dimensions": ["country_of_exploitation", "gender"]}),
            )
            .await,
        )
        .await;
        let cells = body["cells"].as_array().expect("cells");
        assert_eq!(cells.len(), 4, "only its own country's cells");
        assert!(
            cells
                .iter()
                .all(|c| c["key"]["country_of_exploitation"] == "USA")
        );
        // The same release as a researcher filtering on USA: identical numbers.
        let r = app.token(Role::Researcher, "ivan");
        let same = json_of(app.post_json("/v1/counts", &r, &json!({"dimensions": ["country_of_exploitation", "gender"], "filters": {"country_of_exploitation": ["USA"]}})).await).await;
        assert_eq!(same["cells"], body["cells"]);
        // Another country is refused, and nothing is charged.
        let before = app.budget("gov-usa").await.0;
        let res = app
            .post_json(
                "/v1/counts",
                &gov,
                &json!({"dimensions": ["gender"], "filters": {"country_of_exploitation": ["UKR"]}}),
            )
            .await;
        assert_problem(res, 403, "auth.country_scope").await;
        let res = app.post_json("/v1/counts", &gov, &json!({"dimensions": ["gender"], "perspective": "citizenship", "filters": {"citizenship": ["USA", "MEX"]}})).await;
        assert_problem(res, 403, "auth.country_scope").await;
        assert_eq!(app.budget("gov-usa").await.0, before);
        // Its nationals identified anywhere.
        let nationals = json_of(app.post_json("/v1/counts", &gov, &json!({"dimensions": ["country_of_exploitation"], "perspective": "citizenship", "filters": {"country_of_exploitation": ["USA", "MEX"]}})).await).await;
        assert_eq!(nationals["cells"].as_array().map(Vec::len), Some(2));
    }
);

on_both_backends!(auditors_and_admins_cannot_count, |backend| async move {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    for role in [Role::Auditor, Role::Admin] {
        let t = app.token(role, "staff");
        let res = app
            .post_json("/v1/counts", &t, &json!({"dimensions": ["gender"]}))
            .await;
        assert_problem(res, 403, "auth.forbidden_role").await;
    }
});

on_both_backends!(
    the_catalog_lists_public_metadata_only,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let res = app
            .client
            .get(app.url("/v1/catalog"))
            .send()
            .await
            .expect("catalog");
        let body = json_of(res).await;
        let ds = &body["datasets"][0];
        assert_eq!(ds["id"], "ctm");
        assert_eq!(ds["k"], 10);
        assert_eq!(ds["mechanism"], "discrete_laplace");
        let gender = ds["dimensions"]
            .as_array()
            .and_then(|d| d.iter().find(|x| x["name"] == "gender"))
            .expect("gender");
        assert_eq!(
            gender["values"],
            json!(["woman", "man", "trans_nonconforming", "unknown"])
        );
        assert!(
            !body.to_string().contains("\"count\""),
            "the catalog never carries counts"
        );
    }
);

on_both_backends!(
    a_new_data_version_gets_fresh_noise_and_a_new_charge,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let t = app.token(Role::Researcher, "jane");
        let q = json!({"dimensions": ["gender"], "epsilon": 0.1});
        let v1 = json_of(app.post_json("/v1/counts", &t, &q).await).await;
        let more = ctm_stats::synth::generate_vec(10, 99);
        app.store
            .add_cases(&more, false, |_| {})
            .await
            .expect("import");
        // The replica polls every second.
        let mut v2 = v1.clone();
        for _ in 0..50 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            v2 = json_of(app.post_json("/v1/counts", &t, &q).await).await;
            if v2["data_version"] == 2 {
                break;
            }
        }
        assert_eq!(v2["data_version"], 2);
        assert_eq!(v2["charged"], 0.1, "a new data version is a new release");
        assert_ne!(v2["release_id"], v1["release_id"]);
        assert_eq!(v2["query_id"], v1["query_id"]);
    }
);

on_both_backends!(
    accept_weighs_q_values_and_q_zero_means_not_this,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let t = app.token(Role::Researcher, "quinn");
        let ask = |accept: &'static str| {
            let req = app
                .client
                .post(app.url("/v1/counts"))
                .bearer_auth(&t)
                .header("Accept", accept)
                .json(&json!({"dimensions": ["gender"], "epsilon": 0.5}));
            async move { req.send().await.expect("request") }
        };
        // Nothing acceptable: 406, and nothing charged.
        assert_problem(
            ask("application/json;q=0, text/csv;q=0").await,
            406,
            "request.not_acceptable",
        )
        .await;
        assert_problem(ask("image/png").await, 406, "request.not_acceptable").await;
        assert_eq!(app.budget("quinn").await.0, 0);
        // The higher q wins, whatever the order.
        let csv = ask("application/json;q=0.2, text/csv;q=0.9").await;
        assert!(
            csv.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.starts_with("text/csv"))
        );
        let json = ask("text/csv;q=0, */*").await;
        assert!(
            json.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.starts_with("application/json"))
        );
        // National figures too.
        let gov = app.government_token("gov-usa", "USA");
        let res = app
            .client
            .get(app.url("/v1/national/USA/tables"))
            .bearer_auth(&gov)
            .header("Accept", "application/json;q=0")
            .send()
            .await
            .expect("request");
        assert_problem(res, 406, "request.not_acceptable").await;
    }
);

on_both_backends!(long_input_is_not_echoed_whole, |backend| async move {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(Role::Researcher, "long");
    let name = "d".repeat(15_000);
    for body in [
        json!({"dimensions": [name.clone()], "epsilon": 0.5}),
        json!({"dimensions": ["gender"], "filters": {"gender": [name.clone()]}, "epsilon": 0.5}),
    ] {
        let res = app.post_json("/v1/counts", &t, &body).await;
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        assert_eq!(status, 422, "{}", &text[..text.len().min(200)]);
        assert!(text.len() < 2_000, "a {} byte problem", text.len());
        assert!(!text.contains(&"d".repeat(100)));
    }
});

on_both_backends!(a_filter_given_twice_is_refused, |backend| async move {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(Role::Researcher, "twice");
    let bodies = [
        r#"{"dimensions":["age_broad"],"filters":{"gender":["woman"],"gender":["man"]},"epsilon":0.5}"#,
        // Nested: inside a year range, a bound given twice.
        r#"{"dimensions":["age_broad"],"filters":{"registration_year":{"from":2010,"from":2020,"to":2021}},"epsilon":0.5}"#,
    ];
    for (path, body) in ["/v1/counts", "/v1/counts/estimate"]
        .into_iter()
        .flat_map(|p| bodies.iter().map(move |b| (p, *b)))
    {
        let res = app
            .client
            .post(app.url(path))
            .bearer_auth(&t)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let p = assert_problem(res, 400, "request.invalid_body").await;
        assert!(
            p["detail"]
                .as_str()
                .is_some_and(|d| d.contains("given twice")),
            "{p}"
        );
    }
    assert_eq!(app.budget("twice").await.0, 0);
});

on_both_backends!(
    a_cost_finer_than_a_micro_unit_is_refused_and_charges_nothing,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let t = app.token(Role::Researcher, "erin");
        let global = app.global_spent().await;
        for (path, body) in [
            (
                "/v1/counts",
                json!({"dimensions": ["gender"], "epsilon": 0.0000015}),
            ),
            (
                "/v1/counts/estimate",
                json!({"dimensions": ["gender"], "epsilon": 0.0000015}),
            ),
            (
                "/v1/counts",
                json!({"workload": [["gender"], ["age_broad"]], "epsilon": 0.2000005}),
            ),
        ] {
            let p =
                assert_problem(app.post_json(path, &t, &body).await, 422, "query.invalid").await;
            assert!(
                p["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("epsilon must be a multiple of 0.000001")),
                "{path}: {p}"
            );
        }
        assert_eq!(app.budget("erin").await.0, 0, "nothing charged");
        assert_eq!(app.global_spent().await, global);
        // The same cost in whole micro-units is charged exactly.
        json_of(
            app.post_json(
                "/v1/counts",
                &t,
                &json!({"dimensions": ["gender"], "epsilon": 0.100001}),
            )
            .await,
        )
        .await;
        assert_eq!(app.budget("erin").await.0, 100_001);
    }
);
