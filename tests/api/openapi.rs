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
    // Derived from the route table: every operation, none listed by hand.
    assert_eq!(paths.len(), ctm_stats::api::resources().len());
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("operations") {
            let responses = op["responses"].as_object().expect("responses");
            for (status, response) in responses {
                // A health probe answers 503 with its own document.
                if status.as_str() < "400" || path.starts_with("/health") {
                    continue;
                }
                if path.starts_with("/sdmx/")
                    && response["content"].get("application/xml").is_some()
                {
                    // SDMX clients read SDMX-ML error messages (the edge's
                    // own refusals stay problem+json).
                    continue;
                }
                let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
                assert_eq!(
                    schema.as_str(),
                    Some("#/components/schemas/Problem"),
                    "{method} {path} {status} is not problem+json"
                );
            }
            if op.get("security").is_some() {
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} needs a token but documents no 401"
                );
            }
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

fn document() -> serde_json::Value {
    serde_json::from_str(&ctm_stats::api::openapi_json()).expect("valid JSON")
}

/// Every `$ref` under `value`, with the JSON pointer of where it is written.
fn references(value: &serde_json::Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref"
                    && let Some(target) = v.as_str()
                {
                    out.push((at.to_owned(), target.to_owned()));
                }
                let escaped = key.replace('~', "~0").replace('/', "~1");
                references(v, &format!("{at}/{escaped}"), out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                references(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The value a local `$ref` (`#/...`) points to, if it resolves.
fn resolve<'d>(doc: &'d serde_json::Value, target: &str) -> Option<&'d serde_json::Value> {
    doc.pointer(target.strip_prefix('#')?)
}

#[test]
fn every_reference_in_the_document_resolves() {
    let doc = document();
    let mut found = Vec::new();
    references(&doc, "#", &mut found);
    assert!(!found.is_empty(), "the document has no $ref at all");
    let dangling: Vec<String> = found
        .iter()
        .filter(|(_, target)| resolve(&doc, target).is_none())
        .map(|(at, target)| format!("{target} (at {at})"))
        .collect();
    assert!(
        dangling.is_empty(),
        "references that resolve to nothing:\n{}",
        dangling.join("\n")
    );
}

/// Walks everything `value` reaches, following references (each target
/// once), and records the references that do not resolve.
fn reach<'d>(
    doc: &'d serde_json::Value,
    value: &'d serde_json::Value,
    at: &str,
    seen: &mut std::collections::BTreeSet<String>,
    dangling: &mut Vec<String>,
) {
    let mut found = Vec::new();
    references(value, at, &mut found);
    for (from, target) in found {
        if !seen.insert(target.clone()) {
            continue;
        }
        match resolve(doc, &target) {
            Some(next) => reach(doc, next, &target, seen, dangling),
            None => dangling.push(format!("{target} (reached from {from})")),
        }
    }
}

#[test]
fn every_operation_has_parameters_and_schemas_that_resolve() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = 0;
    let mut problems = Vec::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item");
        for (method, op) in item {
            if !matches!(
                method.as_str(),
                "get" | "put" | "post" | "delete" | "patch" | "head" | "options" | "trace"
            ) {
                continue;
            }
            operations += 1;
            let here = format!("{} {path}", method.to_uppercase());
            for p in op["parameters"].as_array().into_iter().flatten() {
                let p = match p.get("$ref").and_then(|r| r.as_str()) {
                    Some(target) => match resolve(&doc, target) {
                        Some(p) => p,
                        None => {
                            problems.push(format!("{here}: parameter {target} does not resolve"));
                            continue;
                        }
                    },
                    None => p,
                };
                let name = p["name"].as_str().unwrap_or("?");
                if !p["in"].is_string() || !(p["schema"].is_object() || p["content"].is_object()) {
                    problems.push(format!("{here}: parameter {name} has no `in` or no schema"));
                }
            }
            for content in [&op["requestBody"]["content"]]
                .into_iter()
                .chain(
                    op["responses"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(_, r)| &r["content"]),
                )
                .filter_map(|c| c.as_object())
            {
                for (media, m) in content {
                    if !m["schema"].is_object() {
                        problems.push(format!("{here}: {media} has no schema"));
                    }
                }
            }
            let mut seen = std::collections::BTreeSet::new();
            let mut dangling = Vec::new();
            reach(&doc, op, &here, &mut seen, &mut dangling);
            problems.extend(dangling.into_iter().map(|d| format!("{here}: {d}")));
        }
    }
    assert!(operations > 20, "only {operations} operations found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_count_body_states_its_cross_field_rules() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let body = &schemas["CountRequest"];
    let shapes: Vec<&str> = body["allOf"][0]["oneOf"]
        .as_array()
        .expect("CountRequest is one of two shapes")
        .iter()
        .filter_map(|s| s["$ref"].as_str())
        .collect();
    assert_eq!(
        shapes,
        [
            "#/components/schemas/SingleCountRequest",
            "#/components/schemas/WorkloadCountRequest"
        ]
    );
    // At most one of epsilon, rho and accuracy.
    assert_eq!(body["allOf"][1]["anyOf"].as_array().map(Vec::len), Some(3));
    let single = &schemas["SingleCountRequest"];
    let workload = &schemas["WorkloadCountRequest"];
    assert_eq!(single["required"], serde_json::json!(["dimensions"]));
    assert_eq!(workload["required"], serde_json::json!(["workload"]));
    for shape in [single, workload] {
        assert_eq!(shape["additionalProperties"], false);
        for cost in ["epsilon", "rho"] {
            let c = &shape["properties"][cost];
            assert_eq!(c["exclusiveMinimum"], 0, "{cost}");
            assert_eq!(c["multipleOf"].as_f64(), Some(0.000001), "{cost}");
        }
        let confidence = &shape["properties"]["confidence"];
        assert_eq!(confidence["exclusiveMinimum"], 0.5);
        assert_eq!(confidence["exclusiveMaximum"], 1);
    }
    assert!(workload["properties"].get("dimensions").is_none());
    assert_eq!(workload["properties"]["accuracy"]["type"], "null");
    assert_eq!(single["properties"]["workload"]["type"], "null");
    assert_eq!(
        workload["properties"]["workload"]["maxItems"],
        ctm_stats::release::workload::MAX_GROUPINGS
    );
    assert_eq!(
        schemas["AccuracyTarget"]["properties"]["confidence"]["exclusiveMinimum"],
        0.5
    );
}

#[test]
fn year_parameters_state_the_years_the_data_can_hold() {
    use ctm_stats::domain::case::{YEAR_MAX, YEAR_MIN};
    let doc = document();
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for p in item["get"]["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap_or("");
            if matches!(name, "year" | "from_year" | "to_year") {
                seen += 1;
                assert_eq!(p["schema"]["minimum"], YEAR_MIN, "{path} {name}");
                assert_eq!(p["schema"]["maximum"], YEAR_MAX, "{path} {name}");
            }
        }
    }
    assert!(seen >= 9, "only {seen} year parameters found");
}
