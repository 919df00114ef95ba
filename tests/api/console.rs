//! The console's files as the service serves them, and the endpoints made
//! for it (`GET /v1/budget/history`, `country` in `GET /v1/budget`). What
//! the console does in a browser is tested in `tests/console/`.

use crate::helpers::*;
use crate::on_both_backends;
use ctm_stats::api::console::{ASSETS, CSP};
use ctm_stats::domain::Role;
use serde_json::json;

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

on_both_backends!(
    every_console_file_is_served_with_a_strict_csp_and_nothing_from_elsewhere,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        assert!(CSP.starts_with("default-src 'self'"));
        assert!(!CSP.contains("unsafe"), "no unsafe-inline or unsafe-eval");
        let no_redirect = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let res = no_redirect
            .get(app.url("/console"))
            .send()
            .await
            .expect("console");
        assert_eq!(res.status().as_u16(), 308);
        assert_eq!(header(&res, "location"), "/console/");
        assert_eq!(header(&res, "content-security-policy"), CSP);

        let res = app
            .client
            .get(app.url("/console/"))
            .send()
            .await
            .expect("page");
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(header(&res, "content-security-policy"), CSP);
        assert_eq!(header(&res, "x-content-type-options"), "nosniff");
        assert_eq!(header(&res, "referrer-policy"), "no-referrer");
        assert_eq!(header(&res, "x-frame-options"), "DENY");
        assert!(header(&res, "content-type").starts_with("text/html"));
        let page = res.text().await.expect("html");
        for tag in page.split("<script").skip(1) {
            let open = &tag[..tag.find('>').unwrap_or(0)];
            assert!(open.contains("src="), "no inline script: <script{open}>");
            assert!(tag[tag.find('>').unwrap_or(0)..].starts_with("></script>"));
        }
        assert!(!page.contains(" style="), "no inline style attribute");

        for asset in ASSETS {
            let res = app
                .client
                .get(app.url(&format!("/console/{}", asset.path)))
                .send()
                .await
                .expect("asset");
            assert_eq!(res.status().as_u16(), 200, "{}", asset.path);
            assert_eq!(header(&res, "content-type"), asset.content_type);
            assert_eq!(
                header(&res, "content-security-policy"),
                CSP,
                "{}",
                asset.path
            );
            let etag = header(&res, "etag").to_owned();
            assert_eq!(res.bytes().await.expect("body").as_ref(), asset.body);
            // Our own files name no other host (the vendored library is
            // checked in the browser, where its requests would show).
            if !asset.path.starts_with("vendor/") {
                // (An XML namespace is a name, not an address anything
                // loads: the SVG one, as an attribute or a script's string.)
                let text = String::from_utf8_lossy(asset.body)
                    .replace("\"http://www.w3.org/2000/svg\"", "");
                assert!(
                    !text.contains("http://")
                        && !text.contains("https://")
                        && !text.contains("//cdn"),
                    "{} names another host",
                    asset.path
                );
            }
            let again = app
                .client
                .get(app.url(&format!("/console/{}", asset.path)))
                .header("If-None-Match", &etag)
                .send()
                .await
                .expect("revalidation");
            assert_eq!(again.status().as_u16(), 304, "{}", asset.path);
            assert!(again.bytes().await.expect("body").is_empty());
        }

        let res = app
            .client
            .get(app.url("/console/nothing.js"))
            .send()
            .await
            .expect("missing");
        assert_eq!(header(&res, "content-security-policy"), CSP);
        assert_problem(res, 404, "resource.not_found").await;
        let res = app
            .client
            .post(app.url("/console/app.js"))
            .send()
            .await
            .expect("post");
        assert_problem(res, 405, "request.method_not_allowed").await;
    }
);

on_both_backends!(
    a_consumer_reads_its_own_history_and_nobody_elses,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let alice = app.token(Role::Researcher, "alice");
        let bob = app.token(Role::Researcher, "bob");
        let query = json!({"dimensions": ["gender"], "epsilon": 0.25});
        let first = ok_json(app.post_json("/v1/counts", &alice, &query).await).await;
        ok_json(app.post_json("/v1/counts", &alice, &query).await).await;
        ok_json(
            app.post_json(
                "/v1/counts",
                &bob,
                &json!({"dimensions": ["age_broad"], "epsilon": 0.5}),
            )
            .await,
        )
        .await;
        let refused = app
            .post_json(
                "/v1/counts",
                &alice,
                &json!({"dimensions": ["gender"], "epsilon": 99.0}),
            )
            .await;
        assert!(refused.status().is_client_error());

        let page = ok_json(app.get("/v1/budget/history", &alice).await).await;
        let entries = page["entries"].as_array().expect("entries");
        let events: Vec<&str> = entries.iter().filter_map(|e| e["event"].as_str()).collect();
        assert_eq!(events, ["charge", "replay", "refusal"], "{page}");
        assert_eq!(entries[0]["seq"], first["ledger_seq"]);
        assert_eq!(entries[0]["cost"], json!(0.25));
        assert_eq!(entries[0]["spent_after"], json!(0.25));
        assert_eq!(entries[1]["cost"], json!(0.0));
        assert!(
            entries[0]["query"]
                .as_str()
                .is_some_and(|q| q.contains("gender"))
        );
        for e in entries {
            assert!(
                e.get("consumer_id").is_none()
                    && e.get("global_spent_micro").is_none()
                    && e.get("hash").is_none(),
                "no dataset-wide figure or other consumer in a consumer's history: {e}"
            );
        }
        assert!(page["next_cursor"].is_null());

        // Paging, and refusals of bad paging.
        let one = ok_json(app.get("/v1/budget/history?limit=1", &alice).await).await;
        assert_eq!(one["entries"].as_array().map(Vec::len), Some(1));
        let cursor = one["next_cursor"].as_str().expect("a next page");
        let next = ok_json(
            app.get(
                &format!("/v1/budget/history?limit=1&cursor={cursor}"),
                &alice,
            )
            .await,
        )
        .await;
        assert_eq!(next["entries"][0]["event"], "replay");
        assert_problem(
            app.get("/v1/budget/history?cursor=x", &alice).await,
            400,
            "audit.bad_cursor",
        )
        .await;
        assert_problem(
            app.get("/v1/budget/history?limit=0", &alice).await,
            400,
            "audit.bad_filter",
        )
        .await;
        assert_problem(
            app.get("/v1/budget/history?consumer=bob", &alice).await,
            400,
            "audit.bad_filter",
        )
        .await;
        let bobs = ok_json(app.get("/v1/budget/history", &bob).await).await;
        assert_eq!(bobs["entries"].as_array().map(Vec::len), Some(1));
        let res = app
            .client
            .get(app.url("/v1/budget/history"))
            .send()
            .await
            .expect("anonymous");
        assert_problem(res, 401, "auth.invalid_token").await;
    }
);

on_both_backends!(
    a_government_budget_names_its_country,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let gov = app.government_token("gov-ukr", "UKR");
        let me = ok_json(app.get("/v1/budget", &gov).await).await;
        assert_eq!(me["country"], "UKR");
        let researcher = app.token(Role::Researcher, "r");
        let me = ok_json(app.get("/v1/budget", &researcher).await).await;
        assert!(me.get("country").is_none());
    }
);
