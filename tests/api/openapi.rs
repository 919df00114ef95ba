//! The committed OpenAPI document must match the one generated from the code.

#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = ctm_stats::api::openapi_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(path, format!("{generated}\n")).expect("write openapi.json");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is out of date; regenerate it with `UPDATE_OPENAPI=1 cargo test --test api openapi` and commit it"
    );
}

#[test]
fn every_path_documents_its_errors_as_problem_json() {
    let doc: serde_json::Value =
        serde_json::from_str(&ctm_stats::api::openapi_json()).expect("valid JSON");
    let paths = doc["paths"].as_object().expect("paths");
    for needed in [
        "/health",
        "/v1/catalog",
        "/v1/counts",
        "/v1/counts/estimate",
        "/v1/budget",
        "/v1/audit/entries",
        "/v1/audit/checkpoints",
        "/v1/audit/checkpoints/latest",
        "/v1/audit/consumers",
        "/v1/audit/export",
        "/v1/audit/verify",
        "/v1/audit/public-key",
        "/v1/admin/consumers",
        "/v1/admin/consumers/{id}/budget",
        "/v1/national/sdmx",
        "/v1/national/{country}/tables",
        "/v1/national/{country}/tables/{table}",
        "/v1/national/{country}/report",
    ] {
        assert!(
            paths.contains_key(needed),
            "{needed} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
