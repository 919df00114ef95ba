//! The privacy model end to end: noise bound to the data content, no
//! data-dependent work before the budget decision, the unit of privacy,
//! budgets that keep their unit, equivalent requests as one query, and logs
//! without statistics.

use crate::helpers::{POLICY, Spawn, TestApp, assert_problem, ok_json};
use crate::on_both_backends;
use ctm_stats::domain::Role;
use ctm_stats::engine::GroupBy;
use ctm_stats::policy::parse_policy;
use serde_json::{Value, json};

/// Cells released as they are (k = 1, no clamping), so a released count
/// minus the true count is exactly the noise (only cells whose noisy count
/// falls below 1 are suppressed).
fn raw_policy() -> String {
    POLICY
        .replace("k = 10 ", "k = 1 ")
        .replace("clamp_negative = true", "clamp_negative = false")
}

const QUERY: &str = r#"{"dimensions": ["gender", "age_broad"], "epsilon": 0.05}"#;

/// The noise of each cell of `QUERY` as `app` released it: released minus
/// true count (true counts read straight from the store, as the server's
/// loader reads them).
async fn noise_of(app: &TestApp) -> (Vec<Option<i64>>, Value) {
    let token = app.token(Role::Researcher, "researcher-1");
    let body: Value = serde_json::from_str(QUERY).expect("query");
    let released = ok_json(app.post_json("/v1/counts", &token, &body).await).await;
    let policy = &app.policy;
    let snapshot = ctm_stats::snapshots::load_from_store(&app.store, policy)
        .await
        .expect("snapshot");
    let group: Vec<GroupBy> = ["gender", "age_broad"]
        .iter()
        .map(|name| {
            let d = policy.dimension(name).expect("dimension");
            GroupBy {
                field: d.field,
                values: d.values.clone(),
            }
        })
        .collect();
    let truth = snapshot.count(&group, &[]).expect("count");
    let cells = released["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), truth.len());
    let noise = cells
        .iter()
        .zip(&truth)
        .map(|(c, t)| c["count"].as_i64().map(|y| y - *t as i64))
        .collect();
    (noise, released)
}

/// How many cells released by both carry the same noise, out of how many.
fn equal_cells(a: &[Option<i64>], b: &[Option<i64>]) -> (usize, usize) {
    let both: Vec<(i64, i64)> = a
        .iter()
        .zip(b)
        .filter_map(|(x, y)| Some(((*x)?, (*y)?)))
        .collect();
    let same = both.iter().filter(|(x, y)| x == y).count();
    (same, both.len())
}

// Two stores with different data, both at data version 1, served with one
// noise key: today's reconstruction attack needs their noise to be equal.
// At epsilon 0.05 two independent draws agree with probability about 0.025,
// so 40 cells agree in about one place; 12 or more happens with probability
// below 1e-12.
on_both_backends!(
    two_stores_at_one_version_with_one_noise_key_draw_independent_noise,
    |backend| async move {
        let Some(a) = TestApp::spawn_with(
            backend,
            Spawn {
                cases: 20_000,
                seed: 1,
                policy_text: raw_policy(),
                noise_key_file: None,
            },
        )
        .await
        else {
            return;
        };
        let b = TestApp::spawn_with(
            backend,
            Spawn {
                cases: 20_000,
                seed: 2,
                policy_text: raw_policy(),
                noise_key_file: Some(a.settings.noise_key_file.clone()),
            },
        )
        .await
        .expect("second store");
        let (noise_a, body_a) = noise_of(&a).await;
        let (noise_b, body_b) = noise_of(&b).await;
        assert_eq!(body_a["data_version"], 1);
        assert_eq!(body_b["data_version"], 1);
        assert_eq!(body_a["query_id"], body_b["query_id"], "one question");
        assert_ne!(body_a["release_id"], body_b["release_id"], "two answers");
        let (same, compared) = equal_cells(&noise_a, &noise_b);
        assert!(compared >= 25, "only {compared} cells released by both");
        assert!(
            same < 12,
            "{same} of {compared} cells carry the same noise in two different stores"
        );
    }
);

/// `VACUUM INTO`: a consistent copy of a SQLite store, as a backup is.
async fn backup_sqlite(app: &TestApp, dir: &std::path::Path, name: &str) -> String {
    let path = dir.join(name);
    let ctm_stats::store::Store::Sqlite(sqlite) = &app.store else {
        panic!("a SQLite store");
    };
    let pool = &sqlite.pool;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "VACUUM INTO '{}'",
        path.display()
    )))
    .execute(pool)
    .await
    .expect("backup");
    format!("sqlite:{}", path.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_backup_draws_the_same_noise_only_while_its_data_are_the_same() {
    let dir = tempfile::tempdir().expect("dir");
    let original = TestApp::spawn_with(
        crate::helpers::Backend::Sqlite,
        Spawn {
            cases: 10_000,
            seed: 1,
            policy_text: raw_policy(),
            noise_key_file: None,
        },
    )
    .await
    .expect("sqlite");
    let key = Some(original.settings.noise_key_file.clone());
    let backup = backup_sqlite(&original, dir.path(), "backup.db").await;

    // Identical content (the same store, restored): identical noise, which is harmless.
    let restored = TestApp::serve_existing(&backup, &raw_policy(), key.clone()).await;
    let (noise_original, _) = noise_of(&original).await;
    let (noise_restored, _) = noise_of(&restored).await;
    assert_eq!(noise_original, noise_restored);

    // The original moves on to version 2 with one import; the backup is
    // restored and a corrected file brings it to version 2 as well.
    let import = |seed| ctm_stats::synth::generate_vec(2_000, seed);
    original
        .store
        .add_cases(&import(3), false, |_| {})
        .await
        .expect("import");
    let again = backup_sqlite(&restored, dir.path(), "again.db").await;
    let corrected = TestApp::serve_existing(&again, &raw_policy(), key.clone()).await;
    corrected
        .store
        .add_cases(&import(4), false, |_| {})
        .await
        .expect("corrected import");
    let later = TestApp::serve_existing(&original.database_url, &raw_policy(), key.clone()).await;
    let corrected = TestApp::serve_existing(&again, &raw_policy(), key).await;
    let (noise_later, body_later) = noise_of(&later).await;
    let (noise_corrected, body_corrected) = noise_of(&corrected).await;
    assert_eq!(body_later["data_version"], 2);
    assert_eq!(body_corrected["data_version"], 2);
    let (same, compared) = equal_cells(&noise_later, &noise_corrected);
    assert!(compared >= 25, "only {compared} cells released by both");
    assert!(
        same < 12,
        "{same} of {compared} cells carry the same noise on two different data at one version"
    );
}

// A request the budgets cannot pay for is refused before any case is read:
// the engine's evaluation counter does not move.
on_both_backends!(refusals_read_no_case, |backend| async move {
    let policy = POLICY
        .replace("researcher = 10.0", "researcher = 0.3")
        .replace("global = 500.0", "global = 0.5");
    let Some(app) = TestApp::spawn_policy(backend, policy).await else {
        return;
    };
    let alice = app.token(Role::Researcher, "alice");
    let bob = app.token(Role::Researcher, "bob");
    let before = app.evaluations();
    // Over alice's own budget.
    let res = app
        .post_json(
            "/v1/counts",
            &alice,
            &json!({"dimensions": ["gender"], "epsilon": 0.5}),
        )
        .await;
    assert_problem(res, 403, "budget.exhausted").await;
    assert_eq!(app.evaluations(), before, "a refused request counted");
    // Within it: counted once.
    ok_json(
        app.post_json(
            "/v1/counts",
            &alice,
            &json!({"dimensions": ["gender"], "epsilon": 0.3}),
        )
        .await,
    )
    .await;
    assert_eq!(app.evaluations(), before + 1);
    // Exhausted now: a new filter, refused without a count, whatever it filters.
    for country in ["USA", "UKR", "KHM"] {
        let res = app
            .post_json(
                "/v1/counts",
                &alice,
                &json!({"dimensions": ["gender"], "filters": {"citizenship": [country]}, "epsilon": 0.05}),
            )
            .await;
        assert_problem(res, 403, "budget.exhausted").await;
    }
    assert_eq!(app.evaluations(), before + 1);
    // The global budget (0.5, 0.3 spent) refuses bob's 0.3 before counting.
    let res = app
        .post_json(
            "/v1/counts",
            &bob,
            &json!({"dimensions": ["age_broad"], "epsilon": 0.3}),
        )
        .await;
    assert_problem(res, 403, "budget.global_exhausted").await;
    assert_eq!(app.evaluations(), before + 1);
    // A national report over the global budget: refused, nothing counted.
    let gov = app.government_token("gov-usa", "USA");
    let res = app.get("/v1/national/USA/report", &gov).await;
    assert_problem(res, 403, "budget.global_exhausted").await;
    assert_eq!(app.evaluations(), before + 1);
});

// Repeats of paid releases, and anyone's later request for a release already
// made, come from the stored body: a replica with a cold cache recounts no
// repeat. A consumer paying for someone else's release gets the stored body,
// but waits for a count as if it were new (its copy is dropped), so the wait
// does not tell it that someone asked first.
on_both_backends!(
    repeats_are_served_from_the_stored_release,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let alice = app.token(Role::Researcher, "alice");
        let query = json!({"dimensions": ["gender", "age_broad"], "epsilon": 0.5});
        let first = ok_json(app.post_json("/v1/counts", &alice, &query).await).await;
        let gov = app.government_token("gov-usa", "USA");
        let report = ok_json(app.get("/v1/national/USA/report", &gov).await).await;
        let tables = report["tables"].as_array().expect("tables").len() as u64;
        assert!(app.evaluations() > tables);

        let replica = app.replica().await;
        assert_eq!(replica.evaluations(), 0);
        // alice's repeat: free, identical, not recounted.
        let repeat = ok_json(replica.post_json("/v1/counts", &alice, &query).await).await;
        assert_eq!(repeat["repeat"], true);
        assert_eq!(repeat["charged"], 0.0);
        assert_eq!(repeat["cells"], first["cells"]);
        assert_eq!(replica.evaluations(), 0, "a free repeat recounted");
        // carol pays for it and gets the stored release, after the same work
        // as a new one.
        let carol = replica.token(Role::Researcher, "carol");
        let theirs = ok_json(replica.post_json("/v1/counts", &carol, &query).await).await;
        assert_eq!(theirs["charged"], 0.5);
        assert_eq!(theirs["cells"], first["cells"]);
        assert_eq!(
            replica.evaluations(),
            1,
            "a paid stored release is counted once, as new"
        );
        // The government's report and one of its tables, replayed on the replica.
        let again = ok_json(replica.get("/v1/national/USA/report", &gov).await).await;
        assert_eq!(again["repeat"], true);
        for (a, b) in again["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .zip(report["tables"].as_array().expect("tables"))
        {
            assert_eq!(a["cells"], b["cells"]);
        }
        let table = report["tables"][0]["id"].as_str().expect("table id");
        let one = ok_json(
            replica
                .get(&format!("/v1/national/USA/tables/{table}"), &gov)
                .await,
        )
        .await;
        assert_eq!(one["repeat"], true);
        assert_eq!(replica.evaluations(), 1, "a repeat recounted");
    }
);

// One question asked several ways is one query: one release, one charge.
on_both_backends!(equivalent_requests_are_one_query, |backend| async move {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let alice = app.token(Role::Researcher, "alice");
    let first = ok_json(
        app.post_json(
            "/v1/counts",
            &alice,
            &json!({"dimensions": ["gender", "age_broad"], "epsilon": 0.5}),
        )
        .await,
    )
    .await;
    let spent = app.budget("alice").await.0;
    let by_key = |body: &Value| -> std::collections::BTreeMap<String, Value> {
        body["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .map(|c| (c["key"].to_string(), c["count"].clone()))
            .collect()
    };
    let gender = app.policy.dimension("datasource").expect("datasource");
    let every_source: Vec<String> = gender.value_codes();
    let equivalents = [
        json!({"dimensions": ["age_broad", "gender"], "epsilon": 0.5}),
        json!({"dimensions": ["gender", "age_broad"], "epsilon": 0.5,
               "filters": {"registration_year": {"from": 2002, "to": 2025}}}),
        json!({"dimensions": ["gender", "age_broad"], "epsilon": 0.5,
               "filters": {"datasource": every_source}}),
        json!({"dimensions": ["age_broad", "gender"], "epsilon": 0.5,
               "filters": {"gender": ["unknown", "man", "woman", "trans_nonconforming"]}}),
    ];
    for q in &equivalents {
        let body = ok_json(app.post_json("/v1/counts", &alice, q).await).await;
        assert_eq!(body["query_id"], first["query_id"], "{q}");
        assert_eq!(body["release_id"], first["release_id"], "{q}");
        assert_eq!(body["repeat"], true, "{q}");
        assert_eq!(body["charged"], 0.0, "{q}");
        assert_eq!(by_key(&body), by_key(&first), "{q}");
        assert_eq!(body["dimensions"], q["dimensions"], "dimensions as asked");
    }
    assert_eq!(
        app.budget("alice").await.0,
        spent,
        "an equivalent request was charged"
    );
    // Cells come in the order asked for: age_broad varies slowest here.
    let swapped = ok_json(app.post_json("/v1/counts", &alice, &equivalents[0]).await).await;
    assert_eq!(
        swapped["cells"][0]["key"]["age_broad"],
        swapped["cells"][1]["key"]["age_broad"]
    );
    assert_ne!(
        swapped["cells"][0]["key"]["gender"],
        swapped["cells"][1]["key"]["gender"]
    );
    let csv = app
        .client
        .post(app.url("/v1/counts?format=csv"))
        .bearer_auth(&alice)
        .json(&equivalents[0])
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("text");
    assert!(csv.starts_with("age_broad,gender,count"), "{csv}");
    // Not equivalent: a filter listing every value of a multi-valued group
    // leaves out cases whose group is unknown.
    let multi = app
        .policy
        .dimension("type_of_exploitation")
        .expect("dim")
        .value_codes();
    let narrower = ok_json(
        app.post_json(
            "/v1/counts",
            &alice,
            &json!({"dimensions": ["gender", "age_broad"], "epsilon": 0.5,
                    "filters": {"type_of_exploitation": multi}}),
        )
        .await,
    )
    .await;
    assert_ne!(narrower["query_id"], first["query_id"]);
});

// The unit of privacy is stated wherever a cost is.
on_both_backends!(
    the_unit_of_privacy_is_stated_everywhere,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let catalog = ok_json(
            app.client
                .get(app.url("/v1/catalog"))
                .send()
                .await
                .expect("catalog"),
        )
        .await;
        assert_eq!(catalog["datasets"][0]["unit_of_privacy"], "person");
        let alice = app.token(Role::Researcher, "alice");
        let body = ok_json(
            app.post_json("/v1/counts", &alice, &json!({"dimensions": ["gender"]}))
                .await,
        )
        .await;
        assert_eq!(body["unit_of_privacy"], "person");
        let budget = ok_json(app.get("/v1/budget", &alice).await).await;
        assert_eq!(budget["unit_of_privacy"], "person");
        let gov = app.government_token("gov-usa", "USA");
        let report = ok_json(app.get("/v1/national/USA/report", &gov).await).await;
        assert_eq!(report["unit_of_privacy"], "person");
        let auditor = app.token(Role::Auditor, "auditor");
        let charges = ok_json(
            app.get("/v1/audit/entries?consumer=alice&event=charge", &auditor)
                .await,
        )
        .await;
        let canonical: Value = serde_json::from_str(
            charges["entries"][0]["canonical_query"]
                .as_str()
                .expect("query"),
        )
        .expect("json");
        assert_eq!(canonical["unit"], "person");
        assert!(
            charges["entries"][0]["data_fingerprint"]
                .as_str()
                .is_some_and(|f| f.len() == 32)
        );

        // Under unit = "case" the same is said, and nothing is bounded per person.
        let case_policy = POLICY
            .replace("unit = \"person\"", "unit = \"case\"")
            .replace("max_cases_per_person = 1 ", "");
        let case_app = TestApp::spawn_policy(backend, case_policy)
            .await
            .expect("case app");
        let catalog = ok_json(
            case_app
                .client
                .get(case_app.url("/v1/catalog"))
                .send()
                .await
                .expect("catalog"),
        )
        .await;
        assert_eq!(catalog["datasets"][0]["unit_of_privacy"], "case");
    }
);

// Budgets keep their unit: a store kept in epsilon does not start under zCDP.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_refuses_a_policy_with_another_accounting() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite)
        .await
        .expect("sqlite");
    let zcdp = parse_policy(
        "zcdp.toml",
        &POLICY.replace("accounting = \"pure\"", "accounting = \"zcdp\""),
    )
    .expect("zcdp policy");
    let mut settings = app.settings.clone();
    settings.bind = "127.0.0.1:0".into();
    let err =
        match ctm_stats::startup::Application::build_with_store(settings, zcdp, app.store.clone())
            .await
        {
            Ok(_) => panic!("a pure store started under zcdp"),
            Err(e) => e.to_string(),
        };
    assert!(err.contains("accounting = \"zcdp\""), "{err}");
    assert!(err.contains("kept in epsilon"), "{err}");
    assert!(err.contains("new store"), "{err}");
}

// Budgets keep their unit of privacy: a store spent per person does not
// start under a policy whose epsilon is per case record.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_refuses_a_policy_with_another_unit_of_privacy() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite)
        .await
        .expect("sqlite");
    let text = POLICY.replace("unit = \"person\"", "unit = \"case\"");
    assert_ne!(
        text, POLICY,
        "the default policy declares unit = \"person\""
    );
    let per_case = parse_policy("case.toml", &text).expect("case policy");
    let mut settings = app.settings.clone();
    settings.bind = "127.0.0.1:0".into();
    let err = match ctm_stats::startup::Application::build_with_store(
        settings,
        per_case,
        app.store.clone(),
    )
    .await
    {
        Ok(_) => panic!("a store spent per person started per case"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("unit = \"case\""), "{err}");
    assert!(err.contains("spent per person"), "{err}");
}

// Under zCDP a cost and a budget are also shown as (epsilon, delta).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zcdp_costs_are_also_shown_as_epsilon_delta() {
    let app = TestApp::spawn_with(
        crate::helpers::Backend::Sqlite,
        Spawn {
            policy_text: POLICY.replace("accounting = \"pure\"", "accounting = \"zcdp\""),
            ..Spawn::default()
        },
    )
    .await
    .expect("sqlite");
    let alice = app.token(Role::Researcher, "alice");
    let body = ok_json(
        app.post_json(
            "/v1/counts",
            &alice,
            &json!({"dimensions": ["gender"], "rho": 0.5}),
        )
        .await,
    )
    .await;
    let expected = 0.5 + 2.0 * (0.5 * (1e6f64).ln()).sqrt();
    let approx = &body["cost_approx_dp"];
    assert_eq!(approx["delta"], 1e-6);
    assert!((approx["epsilon"].as_f64().expect("epsilon") - expected).abs() < 1e-9);
    assert!(
        body["budget"]["approx_dp"]["spent_epsilon"]
            .as_f64()
            .is_some_and(|e| (e - expected).abs() < 1e-9)
    );
    let budget = ok_json(app.get("/v1/budget", &alice).await).await;
    assert!(
        budget["approx_dp"]["limit_epsilon"]
            .as_f64()
            .is_some_and(|e| e > 10.0)
    );
    let catalog = ok_json(
        app.client
            .get(app.url("/v1/catalog"))
            .send()
            .await
            .expect("catalog"),
    )
    .await;
    assert_eq!(catalog["datasets"][0]["approx_dp"]["delta"], 1e-6);
    assert!(catalog["datasets"][0]["approx_dp"]["role_budgets_epsilon"]["researcher"].is_f64());
}

// The policy's global limit is obeyed when it changes, with a ledger entry;
// below what is spent, the dataset is exhausted.
on_both_backends!(
    a_changed_global_limit_takes_effect_at_start,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let alice = app.token(Role::Researcher, "alice");
        ok_json(
            app.post_json(
                "/v1/counts",
                &alice,
                &json!({"dimensions": ["gender"], "epsilon": 1.0}),
            )
            .await,
        )
        .await;
        // The same store restarted under a policy whose global limit is `global`.
        let restart_with_global = |global: &'static str| {
            let policy = POLICY.replace("global = 500.0", &format!("global = {global}"));
            let (url, key) = (
                app.database_url.clone(),
                app.settings.noise_key_file.clone(),
            );
            async move {
                let app = TestApp::serve_existing(&url, &policy, Some(key)).await;
                let budget = app
                    .store
                    .global_budget(&app.policy.dataset)
                    .await
                    .expect("global");
                (app, budget)
            }
        };
        let (restarted, global) = restart_with_global("800.0").await;
        assert_eq!(global.limit.micro(), 800_000_000);
        let auditor = restarted.token(Role::Auditor, "auditor");
        let entries = ok_json(
            restarted
                .get("/v1/audit/entries?event=budget_change", &auditor)
                .await,
        )
        .await;
        let entry = entries["entries"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["consumer_id"] == "(global)"))
            .cloned()
            .expect("a ledger entry for the global limit");
        let what: Value =
            serde_json::from_str(entry["canonical_query"].as_str().expect("q")).expect("json");
        assert_eq!(what["action"], "set_global_limit");
        assert_eq!(what["limit_micro"], 800_000_000);
        // Lowered below what is spent (1.0): exhausted, said plainly.
        let (exhausted, global) = restart_with_global("0.5").await;
        assert_eq!(global.limit, global.spent);
        let bob = exhausted.token(Role::Researcher, "bob");
        let res = exhausted
            .post_json(
                "/v1/counts",
                &bob,
                &json!({"dimensions": ["age_broad"], "epsilon": 0.05}),
            )
            .await;
        assert_problem(res, 403, "budget.global_exhausted").await;
        // The ledger still verifies.
        let auditor = exhausted.token(Role::Auditor, "auditor");
        let verified = ok_json(exhausted.get("/v1/audit/verify", &auditor).await).await;
        assert_eq!(verified["ok"], true, "{verified}");
    }
);
