//! The audit ledger: auditors' endpoints, admin budgets, signed checkpoints,
//! the streamed export and its offline verification (library and CLI), and
//! the database refusing to change the ledger.

use crate::helpers::*;
use crate::on_both_backends;
use ctm_stats::audit::PublicKey;
use ctm_stats::audit::verify::{FailureKind, verify_export_bytes};
use ctm_stats::domain::Role;
use serde_json::{Value, json};
use std::process::Command;

/// Runs one SQL statement straight on the store, as a database owner could.
async fn exec(app: &TestApp, sql: &'static str) -> Result<u64, sqlx::Error> {
    ctm_stats::with_pool!(&app.store, p => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()))
}

async fn put_budget(app: &TestApp, token: &str, id: &str, body: Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/v1/admin/consumers/{id}/budget")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request")
}

async fn post_checkpoint(app: &TestApp, token: &str) -> Value {
    let res = app
        .client
        .post(app.url("/v1/audit/checkpoints"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 201);
    res.json().await.expect("checkpoint")
}

async fn export(app: &TestApp, auditor: &str) -> Vec<u8> {
    let res = app.get("/v1/audit/export", auditor).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-ndjson")
    );
    res.bytes().await.expect("export body").to_vec()
}

async fn pinned_key(app: &TestApp, auditor: &str) -> (PublicKey, String) {
    let v = ok_json(app.get("/v1/audit/public-key", auditor).await).await;
    let hex = v["public_key"].as_str().expect("public_key").to_owned();
    (PublicKey::parse(&hex).expect("valid key"), hex)
}

fn lines(export: &[u8]) -> Vec<Vec<u8>> {
    export
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect()
}

/// Runs `ctm-stats audit verify` on `export`; returns (success, stdout + stderr).
fn cli_verify(
    dir: &std::path::Path,
    export: &[u8],
    key_hex: &str,
    saved: Option<&Value>,
) -> (bool, String) {
    let file = dir.join(format!("export-{}.jsonl", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, export).expect("write export");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ctm-stats"));
    cmd.args(["audit", "verify"])
        .arg(&file)
        .args(["--public-key", key_hex]);
    if let Some(cp) = saved {
        let path = dir.join("saved-checkpoint.json");
        std::fs::write(&path, cp.to_string()).expect("write checkpoint");
        cmd.arg("--checkpoint").arg(&path);
    }
    let out = cmd.output().expect("run ctm-stats audit verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The ledger verifies on the server and offline, and its debits sum exactly to
/// every consumer's spent and to the global spent. Used after the race test too.
pub async fn assert_ledger_reconciles(app: &TestApp) {
    let auditor = app.token(Role::Auditor, "reconciling-auditor");
    post_checkpoint(app, &auditor).await;
    let report = ok_json(app.get("/v1/audit/verify", &auditor).await).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["unsigned_tail"], 0, "{report}");
    let bytes = export(app, &auditor).await;
    let (key, _) = pinned_key(app, &auditor).await;
    let verified = verify_export_bytes(&bytes, &key, None).expect("export verifies");
    assert_eq!(Some(verified.summary.size), report["size"].as_i64());
    // Independently of the verifier: sum the charge entries of the export.
    let mut debits: std::collections::BTreeMap<String, u64> = Default::default();
    let mut global: u64 = 0;
    let mut releases = std::collections::HashSet::new();
    for line in lines(&bytes) {
        let v: Value = serde_json::from_slice(&line).expect("json line");
        if v.get("checkpoint").is_some() || v["event"] != "charge" {
            continue;
        }
        let cost = v["cost_micro"].as_u64().expect("cost");
        *debits
            .entry(v["consumer_id"].as_str().expect("id").to_owned())
            .or_default() += cost;
        let release = (v["canonical_query"].to_string(), v["data_version"].as_i64());
        if releases.insert(release) {
            global += cost;
        }
    }
    for (consumer, debited) in &debits {
        assert_eq!(
            app.budget(consumer).await.0,
            *debited,
            "ledger debits of {consumer} equal its spent"
        );
    }
    assert_eq!(
        app.global_spent().await,
        global,
        "global debits equal global spent"
    );
}

on_both_backends!(
    the_chain_verifies_after_a_mixed_workload_on_the_server_and_offline,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let alice = app.token(Role::Researcher, "alice");
        let bob = app.token(Role::Researcher, "bob");
        let gov = app.government_token("gov-usa", "USA");
        let admin = app.token(Role::Admin, "root-admin");
        let auditor = app.token(Role::Auditor, "auditor-1");
        let q1 = json!({"dimensions": ["gender"], "epsilon": 0.5});
        let q2 = json!({"dimensions": ["age_broad"], "epsilon": 0.3});

        // Charges, a free repeat, and bob paying for alice's stored release.
        let first = ok_json(app.post_json("/v1/counts", &alice, &q1).await).await;
        ok_json(app.post_json("/v1/counts", &alice, &q2).await).await;
        ok_json(app.post_json("/v1/counts", &alice, &q1).await).await;
        ok_json(app.post_json("/v1/counts", &bob, &q1).await).await;
        // An auditor keeps this checkpoint.
        let saved = post_checkpoint(&app, &auditor).await;
        assert_eq!(saved["size"], 4);
        // An idempotent retry.
        for _ in 0..2 {
            let res = app
                .client
                .post(app.url("/v1/counts"))
                .bearer_auth(&alice)
                .header("Idempotency-Key", "retry-1")
                .json(&json!({"dimensions": ["education"], "epsilon": 0.2}))
                .send()
                .await
                .expect("request");
            assert_eq!(res.status().as_u16(), 200);
        }
        // Refusals: validation, country scope, budget.
        let res = app
            .post_json("/v1/counts", &alice, &json!({"dimensions": ["sexx"]}))
            .await;
        assert_problem(res, 422, "query.unknown_dimension").await;
        let res = app
            .post_json(
                "/v1/counts",
                &gov,
                &json!({"dimensions": ["gender"], "filters": {"country_of_exploitation": ["UKR"]}}),
            )
            .await;
        assert_problem(res, 403, "auth.country_scope").await;
        // Budget changes by an admin: lower bob to 0.6, then he cannot afford 0.3 more.
        let changed = ok_json(put_budget(&app, &admin, "bob", json!({"limit": 0.6})).await).await;
        assert_eq!(changed["limit_micro"], 600_000);
        assert_eq!(changed["spent_micro"], 500_000);
        let res = app.post_json("/v1/counts", &bob, &q2).await;
        assert_problem(res, 403, "budget.exhausted").await;
        let res = put_budget(&app, &admin, "bob", json!({"limit": 0.4})).await;
        let p = assert_problem(res, 409, "admin.limit_below_spent").await;
        assert_eq!(p["spent"], 0.5);
        assert_eq!(
            app.budget("bob").await,
            (500_000, 600_000),
            "nothing changed"
        );
        let res = put_budget(
            &app,
            &admin,
            "bob",
            json!({"limit": 1, "role": "government"}),
        )
        .await;
        assert_problem(res, 409, "admin.role_mismatch").await;
        let res = put_budget(&app, &admin, "dora", json!({"limit": 1})).await;
        assert_problem(res, 404, "admin.unknown_consumer").await;
        let carol = ok_json(
            put_budget(
                &app,
                &admin,
                "carol",
                json!({"limit": 12.5, "role": "researcher"}),
            )
            .await,
        )
        .await;
        assert_eq!(carol["limit"], 12.5);
        assert_eq!(carol["role"], "researcher");
        let listed = ok_json(app.get("/v1/admin/consumers", &admin).await).await;
        let ids: Vec<&str> = listed["consumers"]
            .as_array()
            .expect("consumers")
            .iter()
            .filter_map(|c| c["consumer"].as_str())
            .collect();
        assert_eq!(ids, ["alice", "bob", "carol"]);

        // Every budget change names the admin.
        let changes = ok_json(
            app.get("/v1/audit/entries?event=budget_change", &auditor)
                .await,
        )
        .await;
        let changes = changes["entries"].as_array().expect("entries");
        assert_eq!(changes.len(), 2);
        for c in changes {
            let q: Value =
                serde_json::from_str(c["canonical_query"].as_str().expect("query")).expect("json");
            assert_eq!(q["by"], "root-admin", "{c}");
        }
        // The charge entry names the release the response named.
        let charges = ok_json(
            app.get("/v1/audit/entries?consumer=alice&event=charge", &auditor)
                .await,
        )
        .await;
        let c0 = &charges["entries"][0];
        assert_eq!(
            ctm_stats::domain::data::release_key(
                c0["canonical_query"].as_str().expect("query"),
                c0["data_version"].as_i64().expect("version"),
                Some(&ctm_stats::domain::DataFingerprint::from_hex(
                    c0["data_fingerprint"]
                        .as_str()
                        .expect("a charge names its data fingerprint")
                        .to_owned()
                ))
            ),
            first["release_id"].as_str().expect("release_id")
        );
        assert_eq!(c0["seq"], first["ledger_seq"]);

        // Per-consumer summaries for auditors.
        let summary = ok_json(app.get("/v1/audit/consumers", &auditor).await).await;
        let find = |id: &str| {
            summary["consumers"]
                .as_array()
                .and_then(|a| a.iter().find(|c| c["consumer"] == id).cloned())
                .unwrap_or(Value::Null)
        };
        let a = find("alice");
        assert_eq!(
            (
                &a["releases"],
                &a["repeats"],
                &a["refusals"],
                &a["spent_micro"]
            ),
            (&json!(3), &json!(2), &json!(1), &json!(1_000_000))
        );
        let b = find("bob");
        assert_eq!(
            (
                &b["releases"],
                &b["refusals"],
                &b["budget_changes"],
                &b["limit_micro"]
            ),
            (&json!(1), &json!(1), &json!(1), &json!(600_000))
        );
        assert_eq!(find("gov-usa")["refusals"], 1);
        assert_eq!(find("gov-usa")["limit"], Value::Null);
        assert_eq!(
            find("root-admin")["refusals"],
            3,
            "refused admin changes are ledgered"
        );
        assert_eq!(summary["global"]["spent_micro"], 1_000_000);

        // The server's own verification, then the offline one.
        let latest = post_checkpoint(&app, &auditor).await;
        let report = ok_json(app.get("/v1/audit/verify", &auditor).await).await;
        assert_eq!(report["ok"], true, "{report}");
        assert_eq!(report["first_bad_seq"], Value::Null);
        assert_eq!(report["size"], latest["size"]);
        assert_eq!(report["checkpoints_checked"], 2);
        assert_eq!(report["global_spent_micro"]["ctm"], 1_000_000);
        assert_ledger_reconciles(&app).await;

        let bytes = export(&app, &auditor).await;
        let (key, key_hex) = pinned_key(&app, &auditor).await;
        let all = lines(&bytes);
        let size = all.len() as i64 - 1;
        let last: Value = serde_json::from_slice(all.last().expect("final line")).expect("json");
        assert_eq!(
            last["checkpoint"]["size"], size,
            "the final line is the newest checkpoint"
        );
        let saved_cp = serde_json::from_value(saved.clone()).expect("checkpoint");
        let ok = verify_export_bytes(&bytes, &key, Some(&saved_cp)).expect("verifies");
        assert_eq!(ok.summary.size, size);
        let (passed, out) = cli_verify(dir.path(), &bytes, &key_hex, Some(&saved));
        assert!(passed, "{out}");
        assert!(
            out.contains("OK:") && out.contains("is extended by this export"),
            "{out}"
        );

        // Tampering with the real export, each caught at the right entry.
        let flipped = {
            let mut l = all.clone();
            let mid = l[4].len() / 2;
            l[4][mid] ^= 0x01;
            join(&l)
        };
        let (passed, out) = cli_verify(dir.path(), &flipped, &key_hex, None);
        assert!(!passed, "{out}");
        assert!(out.contains("first bad sequence number: 5"), "{out}");
        let dropped = {
            let mut l = all.clone();
            l.remove(l.len() - 2);
            join(&l)
        };
        let f = verify_export_bytes(&dropped, &key, None).expect_err("dropped");
        assert_eq!((f.seq, f.kind), (size, FailureKind::Truncated));
        let (passed, out) = cli_verify(dir.path(), &dropped, &key_hex, None);
        assert!(
            !passed && out.contains(&format!("first bad sequence number: {size}")),
            "{out}"
        );
        let reordered = {
            let mut l = all.clone();
            l.swap(2, 3);
            join(&l)
        };
        let f = verify_export_bytes(&reordered, &key, None).expect_err("reordered");
        assert_eq!((f.seq, f.kind), (3, FailureKind::Sequence));
        let forged = {
            let mut l = all.clone();
            let mut cp = last.clone();
            let sig = cp["checkpoint"]["signature"]
                .as_str()
                .expect("sig")
                .to_owned();
            let first_char = if sig.starts_with('0') { "1" } else { "0" };
            cp["checkpoint"]["signature"] = json!(format!("{first_char}{}", &sig[1..]));
            *l.last_mut().expect("last") = cp.to_string().into_bytes();
            join(&l)
        };
        let f = verify_export_bytes(&forged, &key, None).expect_err("forged");
        assert_eq!((f.seq, f.kind), (size, FailureKind::Checkpoint));
        let (passed, out) = cli_verify(dir.path(), &forged, &key_hex, None);
        assert!(
            !passed && out.contains(&format!("first bad sequence number: {size}")),
            "{out}"
        );
        // An export that does not reach the saved checkpoint fails against it.
        let short = join(&[all[..3].to_vec(), vec![b"{\"checkpoint\":null}".to_vec()]].concat());
        let f = verify_export_bytes(&short, &key, Some(&saved_cp)).expect_err("short");
        assert_eq!((f.seq, f.kind), (4, FailureKind::Truncated));
    }
);

on_both_backends!(
    the_database_refuses_to_update_delete_or_truncate_the_ledger,
    |backend| async move {
        let Some(app) = TestApp::spawn_with(
            backend,
            Spawn {
                cases: 200,
                ..Spawn::default()
            },
        )
        .await
        else {
            return;
        };
        let t = app.token(Role::Researcher, "alice");
        ok_json(
            app.post_json("/v1/counts", &t, &json!({"dimensions": ["gender"]}))
                .await,
        )
        .await;
        let mut statements = vec![
            "UPDATE ledger SET cost_micro = 0 WHERE seq = 1",
            "DELETE FROM ledger WHERE seq = 1",
            "DELETE FROM ledger",
        ];
        if backend == Backend::Postgres {
            statements.push("TRUNCATE ledger");
        }
        for sql in statements {
            let err = exec(&app, sql).await.expect_err(sql);
            assert!(
                err.to_string().contains("ledger is append-only"),
                "{sql}: {err}"
            );
        }
        let auditor = app.token(Role::Auditor, "aud");
        let entries = ok_json(app.get("/v1/audit/entries", &auditor).await).await;
        assert_eq!(entries["entries"].as_array().map(Vec::len), Some(1));
        assert_eq!(entries["entries"][0]["cost_micro"], 500_000);
    }
);

on_both_backends!(
    an_owner_who_drops_the_triggers_or_edits_budgets_is_caught_by_verify,
    |backend| async move {
        let Some(app) = TestApp::spawn_with(
            backend,
            Spawn {
                cases: 200,
                ..Spawn::default()
            },
        )
        .await
        else {
            return;
        };
        let t = app.token(Role::Researcher, "alice");
        let auditor = app.token(Role::Auditor, "aud");
        for dims in [
            json!(["gender"]),
            json!(["age_broad"]),
            json!(["education"]),
        ] {
            ok_json(
                app.post_json("/v1/counts", &t, &json!({"dimensions": dims}))
                    .await,
            )
            .await;
        }
        post_checkpoint(&app, &auditor).await;
        // Budgets edited behind the ledger's back.
        exec(
            &app,
            "UPDATE consumers SET spent_micro = spent_micro - 100000",
        )
        .await
        .expect("consumers are not append-only");
        let report = ok_json(app.get("/v1/audit/verify", &auditor).await).await;
        assert_eq!(report["ok"], false);
        assert_eq!(report["failure"]["kind"], "table_mismatch");
        assert_eq!(report["first_bad_seq"], 4);
        // The owner drops the triggers and rewrites entry 2.
        let drop = match backend {
            Backend::Sqlite => "DROP TRIGGER ledger_no_update",
            Backend::Postgres => "DROP TRIGGER ledger_no_update ON ledger",
        };
        exec(&app, drop).await.expect("drop trigger");
        exec(&app, "UPDATE ledger SET cost_micro = 1 WHERE seq = 2")
            .await
            .expect("rewrite");
        let report = ok_json(app.get("/v1/audit/verify", &auditor).await).await;
        assert_eq!(report["ok"], false);
        assert_eq!(report["first_bad_seq"], 2);
        assert_eq!(report["failure"]["kind"], "hash");
    }
);

on_both_backends!(
    entries_page_by_cursor_and_filter_by_consumer_event_outcome_and_time,
    |backend| async move {
        let Some(app) = TestApp::spawn_with(
            backend,
            Spawn {
                cases: 200,
                ..Spawn::default()
            },
        )
        .await
        else {
            return;
        };
        let alice = app.token(Role::Researcher, "alice");
        let bob = app.token(Role::Researcher, "bob");
        let auditor = app.token(Role::Auditor, "aud");
        for (t, dims) in [
            (&alice, "gender"),
            (&bob, "gender"),
            (&alice, "age_broad"),
            (&alice, "nope"),
            (&bob, "education"),
            (&alice, "gender"),
            (&bob, "majority_status"),
        ] {
            let _ = app
                .post_json("/v1/counts", t, &json!({"dimensions": [dims]}))
                .await;
        }
        let all = ok_json(app.get("/v1/audit/entries", &auditor).await).await;
        let all = all["entries"].as_array().expect("entries").clone();
        assert_eq!(all.len(), 7);
        assert!(all.iter().zip(1..).all(|(e, s)| e["seq"] == s));
        // Pages of 3 by cursor give back exactly the whole ledger.
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => "/v1/audit/entries?limit=3".to_owned(),
                Some(c) => format!("/v1/audit/entries?limit=3&cursor={c}"),
            };
            let page = ok_json(app.get(&path, &auditor).await).await;
            paged.extend(page["entries"].as_array().expect("entries").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(paged, all);
        // The ledger's size comes with every page (filtered or not), so the
        // newest page is a sequence range from the head.
        let head = ok_json(
            app.get("/v1/audit/entries?limit=1&consumer=bob", &auditor)
                .await,
        )
        .await;
        assert_eq!(head["ledger_size"], json!(7));
        let newest = ok_json(
            app.get("/v1/audit/entries?limit=3&cursor=4", &auditor)
                .await,
        )
        .await;
        assert_eq!(newest["entries"].as_array().expect("entries")[..], all[4..]);
        assert_eq!(newest["ledger_size"], json!(7));
        let of = |q: &str| {
            let app = &app;
            let auditor = auditor.clone();
            let q = q.to_owned();
            async move {
                let v = ok_json(app.get(&format!("/v1/audit/entries?{q}"), &auditor).await).await;
                v["entries"]
                    .as_array()
                    .expect("entries")
                    .iter()
                    .map(|e| e["seq"].as_i64().expect("seq"))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(of("consumer=bob").await, [2, 5, 7]);
        assert_eq!(of("consumer=alice&event=replay").await, [6]);
        assert_eq!(of("outcome=query.unknown_dimension").await, [4]);
        assert_eq!(of("event=charge&limit=2").await, [1, 2]);
        // Time: from is inclusive, to exclusive, to the microsecond.
        let at = |i: usize| all[i]["at"].as_str().expect("at").to_owned();
        let enc = |s: String| s.replace(':', "%3A").replace('+', "%2B");
        let (from, to) = (enc(at(2)), enc(at(5)));
        let expected: Vec<i64> = {
            let parse = |s: &str| {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .expect("time")
            };
            let (f, t) = (parse(&at(2)), parse(&at(5)));
            all.iter()
                .filter(|e| {
                    let x = parse(e["at"].as_str().expect("at"));
                    x >= f && x < t
                })
                .map(|e| e["seq"].as_i64().expect("seq"))
                .collect()
        };
        assert!(
            expected.contains(&3) && !expected.contains(&6),
            "{expected:?}"
        );
        assert_eq!(of(&format!("from={from}&to={to}")).await, expected);
        assert_eq!(
            of(&format!("from={from}&to={to}&limit=1")).await,
            expected[..1]
        );
        // Bad input is a problem+json, never a silent empty page.
        for (q, code) in [
            ("cursor=abc", "audit.bad_cursor"),
            ("cursor=-1", "audit.bad_cursor"),
            ("limit=0", "audit.bad_filter"),
            ("limit=many", "audit.bad_filter"),
            ("from=yesterday", "audit.bad_filter"),
            ("event=sneeze", "audit.bad_filter"),
            ("consumer_id=bob", "audit.bad_filter"),
        ] {
            let res = app.get(&format!("/v1/audit/entries?{q}"), &auditor).await;
            assert_problem(res, 400, code).await;
        }
    }
);

on_both_backends!(
    only_auditors_read_the_ledger_and_only_admins_set_budgets,
    |backend| async move {
        let Some(app) = TestApp::spawn_with(
            backend,
            Spawn {
                cases: 200,
                ..Spawn::default()
            },
        )
        .await
        else {
            return;
        };
        let researcher = app.token(Role::Researcher, "r");
        let admin = app.token(Role::Admin, "adm");
        let auditor = app.token(Role::Auditor, "aud");
        for path in [
            "/v1/audit/entries",
            "/v1/audit/checkpoints",
            "/v1/audit/checkpoints/latest",
            "/v1/audit/consumers",
            "/v1/audit/export",
            "/v1/audit/verify",
            "/v1/audit/public-key",
        ] {
            for t in [&researcher, &admin] {
                assert_problem(app.get(path, t).await, 403, "auth.forbidden_role").await;
            }
            let res = app.client.get(app.url(path)).send().await.expect("request");
            assert_problem(res, 401, "auth.invalid_token").await;
        }
        for t in [&researcher, &auditor] {
            assert_problem(
                app.get("/v1/admin/consumers", t).await,
                403,
                "auth.forbidden_role",
            )
            .await;
            let res = put_budget(&app, t, "x", json!({"limit": 1, "role": "researcher"})).await;
            assert_problem(res, 403, "auth.forbidden_role").await;
        }
        let res = app
            .client
            .post(app.url("/v1/audit/checkpoints"))
            .bearer_auth(&researcher)
            .send()
            .await
            .expect("request");
        assert_problem(res, 403, "auth.forbidden_role").await;
        // Auditors and admins may both sign a checkpoint.
        assert_problem(
            app.get("/v1/audit/checkpoints/latest", &auditor).await,
            404,
            "resource.not_found",
        )
        .await;
        post_checkpoint(&app, &admin).await;
        let cp = ok_json(app.get("/v1/audit/checkpoints/latest", &auditor).await).await;
        assert_eq!(cp["size"], 0, "an empty ledger can be vouched for too");
        assert_eq!(cp["head_hash"], ctm_stats::audit::GENESIS_HASH);
        // Admin body validation.
        for body in [
            json!({"limit": -1, "role": "researcher"}),
            json!({"limit": 0.0000001, "role": "researcher"}),
            json!({"limit": 1, "role": "king"}),
            json!({"limit": 1, "extra": true}),
        ] {
            let res = put_budget(&app, &admin, "x", body).await;
            assert_problem(res, 400, "request.invalid_body").await;
        }
    }
);

on_both_backends!(
    checkpoints_are_signed_on_demand_and_periodically_only_when_the_ledger_grew,
    |backend| async move {
        let Some(app) = TestApp::spawn_with(
            backend,
            Spawn {
                cases: 200,
                ..Spawn::default()
            },
        )
        .await
        else {
            return;
        };
        let auditor = app.token(Role::Auditor, "aud");
        let t = app.token(Role::Researcher, "alice");
        let signer =
            ctm_stats::audit::Signer::load(&app.settings.ledger_key_file).expect("key file");
        let (key, _) = pinned_key(&app, &auditor).await;
        assert_eq!(signer.public_key(), key, "the served key is the key file's");
        let dataset = &app.policy.dataset;
        assert!(
            app.store
                .checkpoint_if_grown(&signer, dataset)
                .await
                .expect("store")
                .is_none()
        );
        ok_json(
            app.post_json("/v1/counts", &t, &json!({"dimensions": ["gender"]}))
                .await,
        )
        .await;
        let cp = app
            .store
            .checkpoint_if_grown(&signer, dataset)
            .await
            .expect("store")
            .expect("the ledger grew");
        assert_eq!(cp.size, 1);
        assert_eq!(key.verify(&cp), Ok(()));
        assert!(
            app.store
                .checkpoint_if_grown(&signer, dataset)
                .await
                .expect("store")
                .is_none()
        );
        let on_demand = post_checkpoint(&app, &auditor).await;
        assert_eq!(on_demand["size"], 1);
        assert_eq!(on_demand["key_id"], key.key_id());
        let list = ok_json(app.get("/v1/audit/checkpoints", &auditor).await).await;
        assert_eq!(list["checkpoints"].as_array().map(Vec::len), Some(2));
        let report = ok_json(app.get("/v1/audit/verify", &auditor).await).await;
        assert_eq!(report["ok"], true, "{report}");
        assert_eq!(report["checkpoints_checked"], 2);
        // The key is in its file, never in the database.
        let secret = std::fs::read_to_string(&app.settings.ledger_key_file).expect("key");
        let found = ctm_stats::with_pool!(&app.store, p => {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM checkpoints WHERE signature LIKE $1 OR key_id LIKE $1")
                .bind(format!("%{}%", secret.trim()))
                .fetch_one(p)
                .await
                .expect("query")
        });
        assert_eq!(found, 0);
    }
);
