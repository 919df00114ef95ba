//! Tokens that name one consumer: one role for life, `sub`s that cannot
//! look like another consumer's, bounded lifetimes, RFC 7519's `aud` arrays
//! and optional `iat`, and a deleted budget row never recreated.

use crate::helpers::jwt::{claims, now, secret, sign};
use crate::helpers::*;
use crate::on_both_backends;
use ctm_stats::domain::Role;
use serde_json::{Value, json};

/// `claims` signed with the server's own secret.
fn sign_for(app: &TestApp, claims: &Value) -> String {
    sign(claims, &secret(app))
}

fn count() -> Value {
    json!({"dimensions": ["gender"], "epsilon": 0.1})
}

/// Every role the ledger holds for `consumer`.
async fn ledger_roles(app: &TestApp, consumer: &str) -> Vec<String> {
    let rows: Vec<String> = match &app.store {
        ctm_stats::store::Store::Sqlite(s) => {
            sqlx::query_scalar("SELECT DISTINCT role FROM ledger WHERE consumer_id = $1")
                .bind(consumer)
                .fetch_all(&s.pool)
                .await
        }
        ctm_stats::store::Store::Postgres(p) => {
            sqlx::query_scalar("SELECT DISTINCT role FROM ledger WHERE consumer_id = $1")
                .bind(consumer)
                .fetch_all(p)
                .await
        }
    }
    .expect("ledger roles");
    rows
}

async fn sql(app: &TestApp, statement: &'static str, consumer: &str) {
    let affected = match &app.store {
        ctm_stats::store::Store::Sqlite(s) => sqlx::query(statement)
            .bind(consumer)
            .execute(&s.pool)
            .await
            .map(|r| r.rows_affected()),
        ctm_stats::store::Store::Postgres(p) => sqlx::query(statement)
            .bind(consumer)
            .execute(p)
            .await
            .map(|r| r.rows_affected()),
    }
    .expect("statement");
    assert_eq!(affected, 1, "{statement}");
}

on_both_backends!(
    a_consumer_keeps_its_first_role_and_tokens_of_another_are_refused_before_any_charge,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let researcher = app.token(Role::Researcher, "rho");
        ok_json(app.post_json("/v1/counts", &researcher, &count()).await).await;
        let before = app.budget("rho").await;
        let global = app.global_spent().await;
        let evaluations = app.evaluations();

        let gov = app.government_token("rho", "MDA");
        let res = app
            .get("/v1/national/MDA/report?from_year=2015", &gov)
            .await;
        let body = assert_problem(res, 403, "auth.role_mismatch").await;
        assert!(
            body["detail"].as_str().unwrap_or("").contains("researcher"),
            "{body}"
        );
        let res = app.post_json("/v1/counts", &gov, &count()).await;
        assert_problem(res, 403, "auth.role_mismatch").await;
        let regional = app.regional_token("rho", "gms");
        let res = app
            .get("/v1/regional/gms/report?from_year=2015", &regional)
            .await;
        assert_problem(res, 403, "auth.role_mismatch").await;
        let admin = app.token(Role::Admin, "rho");
        let res = app.get("/v1/admin/consumers", &admin).await;
        assert_problem(res, 403, "auth.role_mismatch").await;
        let res = app
            .client
            .put(app.url("/v1/admin/consumers/rho/budget"))
            .bearer_auth(&admin)
            .json(&json!({"limit": 500.0}))
            .send()
            .await
            .expect("put");
        assert_problem(res, 403, "auth.role_mismatch").await;

        assert_eq!(
            app.budget("rho").await,
            before,
            "nothing charged or changed"
        );
        assert_eq!(app.global_spent().await, global);
        assert_eq!(app.evaluations(), evaluations, "no case was read");
        assert_eq!(
            ledger_roles(&app, "rho").await,
            vec!["researcher".to_owned()]
        );

        // The same holds for a consumer the store knows only from the
        // ledger (refused so far, no budget row): its first role stands.
        let refused = app.token(Role::Researcher, "only-refused");
        let res = app
            .post_json(
                "/v1/counts",
                &refused,
                &json!({"dimensions": ["no_such_dimension"]}),
            )
            .await;
        assert_eq!(res.status(), 422);
        assert_eq!(
            ledger_roles(&app, "only-refused").await,
            vec!["researcher".to_owned()]
        );
        let gov = app.government_token("only-refused", "MDA");
        let res = app.post_json("/v1/counts", &gov, &count()).await;
        assert_problem(res, 403, "auth.role_mismatch").await;
        assert_eq!(
            ledger_roles(&app, "only-refused").await,
            vec!["researcher".to_owned()]
        );
    }
);

on_both_backends!(
    an_admin_cannot_change_their_own_limit_but_another_admin_can,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let boss = app.token(Role::Admin, "boss");
        let put = |who: &str, token: &str, body: Value| {
            app.client
                .put(app.url(&format!("/v1/admin/consumers/{who}/budget")))
                .bearer_auth(token)
                .json(&body)
                .send()
        };
        let res = put("boss", &boss, json!({"limit": 99.0, "role": "researcher"}))
            .await
            .expect("put");
        assert_problem(res, 403, "admin.self_change").await;
        let res = put("boss", &boss, json!({"limit": 99.0, "role": "admin"}))
            .await
            .expect("put");
        assert_problem(res, 403, "admin.self_change").await;
        let other = app.token(Role::Admin, "other-admin");
        let res = put("carol", &other, json!({"limit": 3.0, "role": "researcher"}))
            .await
            .expect("put");
        assert_eq!(res.status(), 200);
        // An admin may not give a consumer the ledger already knows another role.
        let researcher = app.token(Role::Researcher, "dave");
        ok_json(app.post_json("/v1/counts", &researcher, &count()).await).await;
        let res = put("dave", &other, json!({"limit": 3.0, "role": "government"}))
            .await
            .expect("put");
        assert_problem(res, 409, "admin.role_mismatch").await;
    }
);

on_both_backends!(
    subs_that_could_pass_for_another_consumer_are_refused_everywhere,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let admin = app.token(Role::Admin, "subs-admin");
        let long = "x".repeat(129);
        let multibyte_128 = "é".repeat(64); // 128 bytes, 64 characters: still refused (not ASCII)
        for (what, sub) in [
            ("fullwidth", "ａlice"),
            ("Cyrillic", "\u{430}lice"),
            ("zero-width", "alice\u{200b}"),
            ("bidi override", "\u{202e}ecila"),
            ("combining accent", "ali\u{301}ce"),
            ("whitespace only", "   "),
            ("blank", ""),
            ("trailing space", "alice "),
            ("129 characters", long.as_str()),
            ("non-ASCII letters", multibyte_128.as_str()),
        ] {
            let token = sign_for(&app, &claims(sub));
            let res = app.post_json("/v1/counts", &token, &count()).await;
            let body = assert_problem(res, 401, "auth.invalid_token").await;
            assert!(
                body["detail"].as_str().unwrap_or("").contains("sub"),
                "{what}: {body}"
            );
            if !sub.is_empty() {
                let encoded: String = sub.bytes().map(|b| format!("%{b:02X}")).collect();
                let path = format!("/v1/admin/consumers/{encoded}/budget");
                let res = app
                    .client
                    .put(app.url(&path))
                    .bearer_auth(&admin)
                    .json(&json!({"limit": 1.0, "role": "researcher"}))
                    .send()
                    .await
                    .expect("put");
                assert_eq!(res.status(), 400, "{what}: the admin path refuses it too");
            }
        }
        // 128 visible ASCII characters are one consumer, on both paths.
        let ok = "y".repeat(128);
        let token = sign_for(&app, &claims(&ok));
        ok_json(app.post_json("/v1/counts", &token, &count()).await).await;
        let res = app
            .client
            .put(app.url(&format!("/v1/admin/consumers/{ok}/budget")))
            .bearer_auth(&admin)
            .json(&json!({"limit": 20.0}))
            .send()
            .await
            .expect("put");
        assert_eq!(res.status(), 200);
    }
);

on_both_backends!(
    lifetimes_are_bounded_aud_arrays_and_tokens_without_iat_follow_rfc_7519,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let cases: Vec<(&str, Value, u16)> = vec![
            ("two years", json!({"exp": now() + 2 * 8760 * 3600}), 401),
            ("u64::MAX", json!({"exp": u64::MAX}), 401),
            (
                "a year less a minute",
                json!({"exp": now() + 8760 * 3600 - 60}),
                200,
            ),
            (
                "aud array with ours",
                json!({"aud": ["elsewhere", "ctm-stats-api"]}),
                200,
            ),
            ("aud array without ours", json!({"aud": ["elsewhere"]}), 401),
            ("no iat", json!({"iat": null}), 200),
            ("iat in the future", json!({"iat": now() + 3600}), 401),
        ];
        for (i, (what, change, status)) in cases.into_iter().enumerate() {
            let mut c = claims(&format!("life-{i}"));
            for (k, v) in change.as_object().expect("object") {
                if v.is_null() {
                    c.as_object_mut().expect("claims").remove(k);
                } else {
                    c[k] = v.clone();
                }
            }
            let res = app
                .post_json("/v1/counts", &sign_for(&app, &c), &count())
                .await;
            assert_eq!(res.status().as_u16(), status, "{what}");
            if status == 401 {
                assert_problem(res, 401, "auth.invalid_token").await;
            }
        }
    }
);

on_both_backends!(
    a_budget_row_deleted_behind_the_service_is_never_recreated_with_a_fresh_budget,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let token = app.token(Role::Researcher, "gone");
        ok_json(app.post_json("/v1/counts", &token, &count()).await).await;
        sql(&app, "DELETE FROM consumers WHERE consumer_id = $1", "gone").await;
        let global = app.global_spent().await;
        let fresh = json!({"dimensions": ["age_broad"], "epsilon": 0.2});
        let res = app.post_json("/v1/counts", &token, &fresh).await;
        assert_problem(res, 503, "service.unavailable").await;
        assert_eq!(app.global_spent().await, global, "nothing charged");
        let admin = app.token(Role::Admin, "gone-admin");
        let res = app
            .client
            .put(app.url("/v1/admin/consumers/gone/budget"))
            .bearer_auth(&admin)
            .json(&json!({"limit": 10.0, "role": "researcher"}))
            .send()
            .await
            .expect("put");
        assert_problem(res, 503, "service.unavailable").await;
        let listed = ok_json(app.get("/v1/admin/consumers", &admin).await).await;
        assert!(
            !listed["consumers"]
                .as_array()
                .expect("list")
                .iter()
                .any(|c| c["consumer"] == "gone"),
            "the row was not recreated: {listed}"
        );
        // A consumer refused so far (no row, only refusals) is created as usual.
        let newcomer = app.token(Role::Researcher, "newcomer");
        let res = app
            .post_json("/v1/counts", &newcomer, &json!({"dimensions": ["nope"]}))
            .await;
        assert_eq!(res.status(), 422);
        ok_json(app.post_json("/v1/counts", &newcomer, &count()).await).await;
    }
);
