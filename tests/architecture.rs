//! The dependency rules of the crate, checked on its source:
//!
//! - the web framework (`actix*`) is named only by the HTTP edge and the
//!   composition root;
//! - database drivers (`sqlx`, `rusqlite`) only by the store;
//! - the core names nothing of the edge (`ApiError`, HTTP types, the `api`,
//!   `auth`, `error`, `rate`, `settings`, `startup` and `telemetry` modules);
//! - the top-level modules import each other without a cycle, and so do
//!   the files of every directory;
//! - every operation is registered through the route table
//!   (`api::routes`, a `service(handler)` of `utoipa-actix-web`), never
//!   with a bare actix `route`/`resource`/`scope`, which would serve a path
//!   the OpenAPI document and the `Allow` table do not know; only the
//!   static sites beside the API (the console and the Swagger UI) are
//!   mounted that way.
//!
//! docs/architecture.md explains the rules; this test keeps them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Files (relative to `src/`, `/`-separated) allowed to name the web framework.
const EDGE: &[&str] = &[
    "api/",
    "auth/",
    "error.rs",
    "telemetry.rs",
    "startup.rs",
    "main.rs",
];

/// Files allowed to name a database driver.
const STORE: &[&str] = &["store/"];

/// Top-level modules of the release core.
const CORE: &[&str] = &[
    "audit",
    "budget",
    "cache",
    "domain",
    "engine",
    "national",
    "policy",
    "privacy",
    "release",
    "sdmx",
    "synthetic",
];

/// What the core may not name: edge modules and HTTP types.
const EDGE_ITEMS: &[&str] = &[
    "crate::api",
    "crate::auth",
    "crate::error",
    "crate::rate",
    "crate::settings",
    "crate::startup",
    "crate::telemetry",
    "ApiError",
    "AppState",
    "HttpResponse",
    "HttpRequest",
    "StatusCode",
];

/// Every source file under `src/`, with its path relative to `src/`.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .expect("read src")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files
        .into_iter()
        .map(|path| {
            let rel = path
                .strip_prefix(&root)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            let text = fs::read_to_string(&path).expect("read source");
            (rel, code_only(&text))
        })
        .collect()
}

/// The text without its comments (`//` to the end of the line), so that
/// prose may name anything.
fn code_only(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut in_string = false;
            let bytes = line.as_bytes();
            let mut end = line.len();
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' if in_string => i += 1,
                    b'"' => in_string = !in_string,
                    b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
            &line[..end]
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn allowed(rel: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| rel == *p || rel.starts_with(p))
}

/// Whether `code` uses a path of the crate `name` (`name::` or `name_x::`).
fn names_crate(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let starts_word = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let rest = &code[i + name.len()..];
        let path = rest
            .trim_start_matches(|c: char| c.is_alphanumeric() || c == '_')
            .starts_with("::");
        starts_word && path
    })
}

/// Whether `code` names the module path `path` itself (`crate::release`,
/// not `crate::release_notes`).
fn names_module(code: &str, path: &str) -> bool {
    code.match_indices(path).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let starts_word = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let after = code[i + path.len()..].chars().next();
        let ends_word = after.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        starts_word && ends_word
    })
}

/// The top-level module a file belongs to (`release` for `release/plan.rs`).
fn module_of(rel: &str) -> &str {
    let first = rel.split('/').next().unwrap_or(rel);
    first.strip_suffix(".rs").unwrap_or(first)
}

#[test]
fn the_web_framework_is_named_only_at_the_edge() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(rel, code)| !allowed(rel, EDGE) && names_crate(code, "actix"))
        .map(|(rel, _)| rel)
        .collect();
    assert!(
        offenders.is_empty(),
        "actix named outside the edge: {offenders:?}"
    );
}

/// Files that mount the static sites with bare actix routes.
const STATIC_SITE_MOUNTS: &[&str] = &["api/mod.rs", "api/console.rs"];

/// Whether `code` registers a route by hand: `.route(`, `web::resource(`,
/// `web::scope(` or `Resource::new(` (of actix; `utoipa_actix_web::scope`
/// keeps the document in step and is allowed).
fn registers_by_hand(code: &str) -> bool {
    [".route(", "web::resource(", "web::scope(", "Resource::new("]
        .iter()
        .any(|needle| {
            code.match_indices(needle).any(|(i, _)| {
                let before = code[..i].chars().next_back();
                needle.starts_with('.') || before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
            })
        })
}

#[test]
fn every_route_goes_through_the_route_table() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(rel, code)| {
            !allowed(rel, STATIC_SITE_MOUNTS)
                && names_crate(code, "actix")
                && registers_by_hand(code)
        })
        .map(|(rel, _)| rel)
        .collect();
    assert!(
        offenders.is_empty(),
        "routes registered outside the route table (api::routes): {offenders:?}"
    );
    // The static-site mounts register no API path by hand either.
    let (_, root) = sources()
        .into_iter()
        .find(|(rel, _)| rel == "api/mod.rs")
        .expect("api/mod.rs");
    for line in root.lines().filter(|l| l.contains(".route(\"")) {
        assert!(
            line.contains("\"/docs\""),
            "api/mod.rs mounts a route by hand: {line}"
        );
    }
}

#[test]
fn database_drivers_are_named_only_by_the_store() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(rel, code)| {
            !allowed(rel, STORE) && (names_crate(code, "sqlx") || names_crate(code, "rusqlite"))
        })
        .map(|(rel, _)| rel)
        .collect();
    assert!(
        offenders.is_empty(),
        "a database driver named outside the store: {offenders:?}"
    );
}

#[test]
fn the_core_names_nothing_of_the_edge() {
    let mut offenders = Vec::new();
    for (rel, code) in sources() {
        if !CORE.contains(&module_of(&rel)) {
            continue;
        }
        for item in EDGE_ITEMS {
            if names_module(&code, item) {
                offenders.push(format!("{rel} names {item}"));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// Edges `module -> modules it names`, among the top-level modules.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = sources();
    let modules: BTreeSet<String> = files
        .iter()
        .map(|(rel, _)| module_of(rel).to_owned())
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, code) in &files {
        let from = module_of(rel);
        if !modules.contains(from) {
            continue;
        }
        let targets = graph.entry(from.to_owned()).or_default();
        for to in &modules {
            if to != from && names_module(code, &format!("crate::{to}")) {
                targets.insert(to.clone());
            }
        }
    }
    graph
}

/// A cycle of the graph, if it has one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()).copied().unwrap_or(0) {
                0 => {
                    if let Some(c) = visit(next, graph, state, path) {
                        return Some(c);
                    }
                }
                1 => {
                    let start = path.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if state.get(node.as_str()).copied().unwrap_or(0) == 0
            && let Some(c) = visit(node, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let graph = import_graph();
    assert!(graph.contains_key("release") && graph.contains_key("api"));
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

/// Edges `file -> sibling files it names`, for the files of every
/// directory under `src/` (keyed `dir/file`; `mod.rs` files left out: a
/// parent declares its children). A file names a sibling `x` as
/// `super::x` or by its full `crate::` path.
fn sibling_graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = sources();
    let mut by_dir: BTreeMap<String, Vec<(String, &str)>> = BTreeMap::new();
    for (rel, code) in &files {
        let Some((dir, file)) = rel.rsplit_once('/') else {
            continue;
        };
        if file == "mod.rs" {
            continue;
        }
        let name = file.strip_suffix(".rs").unwrap_or(file).to_owned();
        by_dir.entry(dir.to_owned()).or_default().push((name, code));
    }
    let mut graph = BTreeMap::new();
    for (dir, members) in &by_dir {
        let crate_path = format!("crate::{}", dir.replace('/', "::"));
        for (from, code) in members {
            // `super::super::x` names the grandparent's `x`, not a sibling.
            let code = code.replace("super::super::", "grandparent::");
            let targets: &mut BTreeSet<String> = graph.entry(format!("{dir}/{from}")).or_default();
            for (to, _) in members {
                if to != from
                    && (names_module(&code, &format!("super::{to}"))
                        || names_module(&code, &format!("{crate_path}::{to}")))
                {
                    targets.insert(format!("{dir}/{to}"));
                }
            }
        }
    }
    graph
}

#[test]
fn the_files_of_every_directory_import_each_other_without_a_cycle() {
    let graph = sibling_graph();
    assert!(
        graph
            .get("store/ledger/pg_batch")
            .is_some_and(|t| t.contains("store/ledger/batch")),
        "the graph sees sibling imports: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("file import cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_checks_themselves_catch_what_they_look_for() {
    // Comments may name anything; code may not.
    assert!(!names_crate(&code_only("// use sqlx::Pool;"), "sqlx"));
    assert!(names_crate(&code_only("let p: sqlx::PgPool;"), "sqlx"));
    assert!(names_crate("use actix_web::web;", "actix"));
    assert!(!names_crate("EnvFilter::new(\"info,sqlx=warn\")", "sqlx"));
    assert!(!names_crate("my_sqlx::x", "sqlx"));
    assert!(names_module(
        "use crate::release::Pipeline;",
        "crate::release"
    ));
    assert!(!names_module("use crate::release_x::Y;", "crate::release"));
    assert!(registers_by_hand(
        "cfg.route(\"/x\", web::get().to(handler))"
    ));
    assert!(registers_by_hand("cfg.service(web::scope(\"/v2\"))"));
    assert!(!registers_by_hand(
        "cfg.service(utoipa_actix_web::scope(\"/v2\").service(handler))"
    ));
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".to_owned(), "b".to_owned(), "a".to_owned()])
    );
    graph.insert("b".to_owned(), BTreeSet::new());
    assert_eq!(find_cycle(&graph), None);
}
