use crate::helpers::*;
use crate::on_both_backends;

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
