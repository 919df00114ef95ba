use crate::helpers::*;
use crate::on_both_backends;
use ctm_stats::domain::Role;

on_both_backends!(
    health_reports_backend_and_version_but_no_count,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let res = app
            .client
            .get(app.url("/health"))
            .send()
            .await
            .expect("health");
        assert_eq!(res.status().as_u16(), 200);
        let body: serde_json::Value = res.json().await.expect("json");
        assert_eq!(body["status"], "ok");
        assert_eq!(
            body["store"],
            if backend == Backend::Sqlite {
                "sqlite"
            } else {
                "postgres"
            }
        );
        assert_eq!(body["data_version"], 1);
        let keys: Vec<&String> = body
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(
            keys.len(),
            4,
            "health says only status, store, data_version and version: {body}"
        );
    }
);

on_both_backends!(unknown_paths_get_problem_json, |backend| async move {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let res = app
        .client
        .get(app.url("/v1/nothing"))
        .send()
        .await
        .expect("request");
    assert_problem(res, 404, "resource.not_found").await;
});

on_both_backends!(the_docs_page_works_offline, |backend| async move {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let page = app
        .client
        .get(app.url("/docs/"))
        .send()
        .await
        .expect("docs");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger"), "Swagger UI page");
    assert!(!html.contains("src=\"http"), "no script from a CDN");
    let js = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .expect("bundle");
    assert_eq!(
        js.status().as_u16(),
        200,
        "the Swagger UI bundle is served by the service itself"
    );
    let spec = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("spec");
    assert_eq!(spec.status().as_u16(), 200);
    let doc: serde_json::Value = spec.json().await.expect("json");
    assert!(doc["paths"]["/v1/counts"].is_object());
});

/// PostgreSQL closed to this service (an outage): requests are refused with
/// 503 `service.unavailable` and `Retry-After`, never 500; readiness says
/// so while liveness stays up; and everything recovers without a restart.
#[tokio::test]
async fn a_database_outage_is_refused_with_retry_after_and_recovers() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let Ok(server) = std::env::var("CTM_TEST_POSTGRES_URL") else {
        return;
    };
    let db = app
        .database_url
        .rsplit('/')
        .next()
        .expect("database name")
        .to_owned();
    let admin = sqlx::PgPool::connect(&server).await.expect("admin");
    let r = app.token(ctm_stats::domain::Role::Researcher, "alice");
    let get = |path: &str| {
        let req = app.client.get(app.url(path)).bearer_auth(&r);
        async move { req.send().await.expect("request") }
    };
    assert_eq!(get("/health/ready").await.status().as_u16(), 200);
    assert_eq!(get("/health/live").await.status().as_u16(), 200);

    // The outage: no new connection, and the open ones dropped.
    for sql in [
        format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"),
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .expect("outage");
    }
    for res in [
        get("/v1/budget").await,
        app.post_json(
            "/v1/counts",
            &r,
            &serde_json::json!({"dimensions": ["gender"], "epsilon": 0.5}),
        )
        .await,
    ] {
        assert_eq!(
            res.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        assert_problem(res, 503, "service.unavailable").await;
    }
    let ready = get("/health/ready").await;
    assert_eq!(ready.status().as_u16(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    let ready: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(ready["store"], false);
    assert_eq!(get("/health/live").await.status().as_u16(), 200);

    // Back: the same server serves again.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {db} ALLOW_CONNECTIONS true"
    )))
    .execute(&admin)
    .await
    .expect("recover");
    let mut recovered = false;
    for _ in 0..50 {
        if get("/health/ready").await.status().as_u16() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "ready again once the database is back");
    let res = app
        .post_json(
            "/v1/counts",
            &r,
            &serde_json::json!({"dimensions": ["gender"], "epsilon": 0.5}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    admin.close().await;
}

/// Sends `head` (request line and headers) and `body` on a raw connection
/// and returns the status line of the answer (or what came before the
/// connection closed).
async fn raw_request(addr: &str, head: &str, body: &[u8]) -> (tokio::net::TcpStream, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("head");
    s.write_all(body).await.expect("body");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(30), s.read(&mut buf))
        .await
        .expect("an answer before the test gives up")
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    (s, text.lines().next().unwrap_or("").to_owned())
}

on_both_backends!(
    stalled_and_oversized_bodies_are_refused_and_the_service_stays_up,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let addr = app.base.trim_start_matches("http://").to_owned();
        let token = app.token(ctm_stats::domain::Role::Researcher, "slow");
        let head = |length: u64| {
            format!(
                "POST /v1/counts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
            )
        };
        // Declared larger than the policy allows: refused before the body is read.
        let (_, status) = raw_request(&addr, &head(20_000_000), b"").await;
        assert!(status.starts_with("HTTP/1.1 413"), "{status}");

        // Ten stalled clients: 10 bytes of 100, then nothing.
        let stalled: Vec<_> = (0..10)
            .map(|_| {
                let addr = addr.clone();
                let head = head(100);
                tokio::spawn(async move { raw_request(&addr, &head, b"{\"dimensio").await })
            })
            .collect();
        // Meanwhile the service answers others.
        let health = app
            .client
            .get(app.url("/health"))
            .send()
            .await
            .expect("health");
        assert_eq!(health.status().as_u16(), 200);
        let ok = app
            .post_json(
                "/v1/counts",
                &token,
                &serde_json::json!({"dimensions": ["gender"], "epsilon": 0.5}),
            )
            .await;
        assert_eq!(ok.status().as_u16(), 200);
        // Each stalled client is answered 408 once its time is up.
        for s in stalled {
            let (_, status) = s.await.expect("task");
            assert!(status.starts_with("HTTP/1.1 408"), "{status}");
        }
        assert_eq!(
            app.budget("slow").await.0,
            500_000,
            "only the real request was charged"
        );
    }
);

on_both_backends!(
    an_unsupported_method_is_405_with_allow,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        // Every operation's path, asked with a method it does not allow,
        // and the static sites beside the API.
        let mut resources: Vec<(String, &str)> = ctm_stats::api::resources()
            .iter()
            .map(|(pattern, allow)| (pattern.replace("{}", "USA"), allow.as_str()))
            .collect();
        assert!(resources.len() >= 27, "the table holds every operation");
        resources.extend([
            ("/docs".to_owned(), "GET, HEAD"),
            ("/docs/index.html".to_owned(), "GET, HEAD"),
            ("/console/".to_owned(), "GET, HEAD"),
            ("/console/vendor/d3.min.js".to_owned(), "GET, HEAD"),
        ]);
        for (path, allow) in &resources {
            let res = app
                .client
                .request(reqwest::Method::DELETE, app.url(path))
                .send()
                .await
                .expect("request");
            assert_eq!(
                res.headers().get("allow").and_then(|v| v.to_str().ok()),
                Some(*allow),
                "DELETE {path}"
            );
            if path.starts_with("/sdmx/") {
                // SDMX clients read SDMX error messages, not problem+json.
                assert_eq!(res.status().as_u16(), 405, "DELETE {path}");
            } else {
                assert_problem(res, 405, "request.method_not_allowed").await;
            }
        }
        // Every documented operation is served: asked with its method and
        // no token, it reaches its handler (a refusal of the handler, not
        // the router's 404 or 405).
        let doc: serde_json::Value = app
            .client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .expect("doc")
            .json()
            .await
            .expect("json");
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            let concrete: String = path
                .split('/')
                .map(|s| if s.starts_with('{') { "USA" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            for method in ops.as_object().expect("ops").keys() {
                let method =
                    reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                let res = app
                    .client
                    .request(method.clone(), app.url(&concrete))
                    .send()
                    .await
                    .expect("request");
                let status = res.status().as_u16();
                let code = if status >= 400 {
                    res.json::<serde_json::Value>()
                        .await
                        .ok()
                        .and_then(|p| p["code"].as_str().map(str::to_owned))
                } else {
                    None
                };
                assert!(
                    status != 405 && code.as_deref() != Some("resource.not_found"),
                    "{method} {concrete}: {status} {code:?}: documented but not routed"
                );
            }
        }
        // A path that is no resource stays 404.
        let res = app
            .client
            .request(reqwest::Method::DELETE, app.url("/v1/nothing"))
            .send()
            .await
            .expect("request");
        assert_problem(res, 404, "resource.not_found").await;
    }
);

on_both_backends!(
    head_answers_every_get_like_get_without_a_body,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let auditor = app.token(Role::Auditor, "head-auditor");
        let admin = app.token(Role::Admin, "head-admin");
        let researcher = app.token(Role::Researcher, "head-researcher");
        // Every resource that allows GET, with a token that may read it, or
        // none (a refusal must be the same refusal).
        let mut paths: Vec<(String, Option<&str>)> = ctm_stats::api::resources()
            .iter()
            .filter(|(_, allow)| allow.split(", ").any(|m| m == "GET"))
            .map(|(pattern, _)| (pattern.replace("{}", "USA"), None))
            .collect();
        paths.extend([
            ("/console/".to_owned(), None),
            ("/console/app.js".to_owned(), None),
            ("/v1/audit/entries".to_owned(), Some(auditor.as_str())),
            ("/v1/audit/public-key".to_owned(), Some(auditor.as_str())),
            ("/v1/admin/consumers".to_owned(), Some(admin.as_str())),
            ("/metrics".to_owned(), Some(admin.as_str())),
            ("/v1/budget".to_owned(), Some(researcher.as_str())),
        ]);
        for (path, token) in &paths {
            let send = |method: reqwest::Method| {
                let mut req = app.client.request(method, app.url(path));
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                req.send()
            };
            let get = send(reqwest::Method::GET).await.expect("GET");
            let head = send(reqwest::Method::HEAD).await.expect("HEAD");
            assert_eq!(head.status(), get.status(), "HEAD {path}");
            assert_ne!(head.status().as_u16(), 405, "HEAD {path}");
            let header = |r: &reqwest::Response, name: &str| {
                r.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            assert_eq!(
                header(&head, "content-type"),
                header(&get, "content-type"),
                "HEAD {path}"
            );
            assert!(
                head.bytes().await.expect("head body").is_empty(),
                "HEAD {path} sends no body"
            );
        }
        // The public documents by name, with the size GET sends.
        for path in ["/health", "/v1/catalog", "/openapi.json"] {
            let head = app.client.head(app.url(path)).send().await.expect("HEAD");
            assert_eq!(head.status().as_u16(), 200, "HEAD {path}");
        }
        let get = app
            .client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .expect("GET");
        let length = get.bytes().await.expect("body").len().to_string();
        let head = app
            .client
            .head(app.url("/openapi.json"))
            .send()
            .await
            .expect("HEAD");
        assert_eq!(
            head.headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok()),
            Some(length.as_str())
        );
        // HEAD where only POST is allowed is a 405 naming POST.
        let res = app
            .client
            .head(app.url("/v1/counts"))
            .send()
            .await
            .expect("HEAD");
        assert_eq!(res.status().as_u16(), 405);
        assert_eq!(
            res.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some("POST")
        );
    }
);

on_both_backends!(
    head_on_a_report_is_charged_like_get_and_the_get_after_it_is_free,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let gov = app.government_token("head-gov", "USA");
        let path = app.url("/v1/national/USA/report?year=2019");
        let head = app
            .client
            .head(&path)
            .bearer_auth(&gov)
            .send()
            .await
            .expect("HEAD");
        assert_eq!(head.status().as_u16(), 200);
        assert!(head.bytes().await.expect("body").is_empty());
        let spent = app.budget("head-gov").await.0;
        assert_eq!(spent, 1_400_000, "HEAD charges what GET would");
        let global = app.global_spent().await;
        let get: serde_json::Value = app
            .client
            .get(&path)
            .bearer_auth(&gov)
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("json");
        assert_eq!(get["repeat"], true, "the GET reads what the HEAD paid for");
        assert_eq!(get["charged"], 0.0);
        let again = app
            .client
            .head(&path)
            .bearer_auth(&gov)
            .send()
            .await
            .expect("HEAD");
        assert_eq!(again.status().as_u16(), 200);
        assert_eq!(app.budget("head-gov").await.0, spent);
        assert_eq!(app.global_spent().await, global);
    }
);

on_both_backends!(
    metrics_are_for_admins_and_name_routes_codes_and_roles_only,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let researcher = app.token(Role::Researcher, "metered");
        let admin = app.token(Role::Admin, "operator");
        // A fresh release, its repeat, and a refusal.
        let q = serde_json::json!({"dimensions": ["gender"], "epsilon": 0.5});
        for _ in 0..2 {
            let res = app.post_json("/v1/counts", &researcher, &q).await;
            assert_eq!(res.status(), 200);
        }
        let bad = serde_json::json!({"dimensions": ["no_such_dimension"], "epsilon": 0.5});
        assert_eq!(
            app.post_json("/v1/counts", &researcher, &bad)
                .await
                .status(),
            422
        );
        let gov = app.government_token("gov-usa", "USA");
        assert_eq!(
            app.get("/v1/national/USA/report?from_year=2013", &gov)
                .await
                .status(),
            200
        );

        assert_problem(
            app.get("/metrics", &researcher).await,
            403,
            "auth.forbidden_role",
        )
        .await;
        let res = app.get("/metrics", &admin).await;
        assert_eq!(res.status(), 200);
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
        let text = res.text().await.expect("body");
        for name in [
            r#"ctm_http_requests_total{route="/v1/counts",method="POST",status="200"}"#,
            r#"ctm_http_requests_total{route="/v1/national/{country}/report",method="GET",status="200"}"#,
            "ctm_http_request_duration_seconds_bucket{",
            r#"ctm_releases_total{kind="fresh"}"#,
            r#"ctm_releases_total{kind="repeat"}"#,
            r#"ctm_problems_total{code="query.unknown_dimension"}"#,
            "ctm_ledger_batch_size_bucket{",
            "ctm_ledger_commit_duration_seconds_bucket{",
            "ctm_snapshot_load_duration_seconds ",
            "ctm_data_version ",
            r#"ctm_budget_spent{role="researcher"}"#,
            "ctm_global_budget_spent ",
            "ctm_global_budget_limit ",
        ] {
            assert!(text.contains(name), "no {name} in\n{text}");
        }
        // No path values, query strings or consumer ids in any label.
        for leak in [
            "USA",
            "from_year",
            "metered",
            "gov-usa",
            "no_such_dimension",
        ] {
            assert!(!text.contains(leak), "{leak} in the metrics");
        }
        // Every metric is documented for operators.
        let docs = include_str!("../../docs/operations.md");
        for name in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
            let name = name.split(' ').next().unwrap_or("");
            assert!(docs.contains(name), "{name} is not in docs/operations.md");
        }
        // Every sample line is a metric of ours.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("ctm_"), "{line}");
        }
    }
);

on_both_backends!(
    a_path_that_is_not_utf8_is_refused_not_decoded_lossily,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let admin = app.token(Role::Admin, "paths-admin");
        for id in ["%ff%fe", "%fe%ff", "ok%C3"] {
            let res = app
                .client
                .put(app.url(&format!("/v1/admin/consumers/{id}/budget")))
                .bearer_auth(&admin)
                .json(&serde_json::json!({"role": "researcher", "limit": 1.0}))
                .send()
                .await
                .expect("request");
            assert_problem(res, 400, "request.invalid_path").await;
        }
        let gov = app.government_token("gov-usa", "USA");
        assert_problem(
            app.get("/v1/national/%ff%ff%ff/report", &gov).await,
            400,
            "request.invalid_path",
        )
        .await;
        // Nothing was created under a lossy name.
        let list: serde_json::Value = app
            .get("/v1/admin/consumers", &admin)
            .await
            .json()
            .await
            .expect("json");
        assert!(!list.to_string().contains('\u{fffd}'), "{list}");
        // A percent-encoded name is decoded: ASCII is a consumer id, and
        // UTF-8 outside ASCII is read as text and refused as an id (not as a path).
        let res = app
            .client
            .put(app.url("/v1/admin/consumers/%41lodie/budget"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"role": "researcher", "limit": 1.0}))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200);
        let res = app
            .client
            .put(app.url("/v1/admin/consumers/%C3%A9lodie/budget"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"role": "researcher", "limit": 1.0}))
            .send()
            .await
            .expect("request");
        assert_problem(res, 400, "request.invalid_body").await;
    }
);

on_both_backends!(
    a_client_over_its_connection_share_is_refused_and_others_are_served_again_once_it_closes,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let addr = app.base.trim_start_matches("http://").to_owned();
        let cap = app.settings.max_connections_per_client;
        // Idle connections (a stalled client's), up to the cap.
        let mut idle = Vec::new();
        for _ in 0..cap {
            idle.push(
                tokio::net::TcpStream::connect(&addr)
                    .await
                    .expect("connect"),
            );
        }
        // Give the server a moment to accept them all.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let (_conn, status) =
            raw_request(&addr, "GET /v1/catalog HTTP/1.1\r\nHost: x\r\n\r\n", b"").await;
        assert!(status.starts_with("HTTP/1.1 503"), "{status}");
        let res = reqwest::Client::new()
            .get(app.url("/v1/catalog"))
            .send()
            .await
            .expect("request");
        let p = assert_problem(res, 503, "service.too_many_connections").await;
        assert!(
            p["detail"]
                .as_str()
                .is_some_and(|d| d.contains("open connections"))
        );
        // Probes still answer, for the load balancer that shares the address.
        let res = reqwest::Client::new()
            .get(app.url("/health/ready"))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200);
        drop(idle);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let res = reqwest::Client::new()
            .get(app.url("/v1/catalog"))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200);
    }
);

// Requests the HTTP/1 parser refuses get their status from it (before any
// of the service's code runs, so without a problem document), the
// connection is closed, and the service goes on answering others.
on_both_backends!(
    malformed_requests_get_their_status_and_the_service_goes_on,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let addr = app.base.trim_start_matches("http://").to_owned();
        let big = "a".repeat(200 * 1024);
        let big_header = format!("GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
        for (head, want) in [
            (
                "POST /v1/counts HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
                "HTTP/1.1 400",
            ),
            (
                "POST /v1/counts HTTP/1.1\r\nHost: x\r\nContent-Length: -4\r\n\r\n",
                "HTTP/1.1 400",
            ),
            (big_header.as_str(), "HTTP/1.1 431"),
        ] {
            let (_conn, status) = raw_request(&addr, head, b"").await;
            assert!(status.starts_with(want), "{want}: {status}");
            let res = app
                .client
                .get(app.url("/health/live"))
                .send()
                .await
                .expect("health");
            assert_eq!(res.status(), 200);
        }
    }
);
