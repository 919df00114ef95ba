//! Regional figures (`/v1/regional/{region}/...`) for regional partners,
//! and bilateral flows for governments: the same pipeline, budgets and
//! formats as national figures, scoped before anything is counted.

use crate::helpers::*;
use crate::on_both_backends;
use ctm_stats::domain::Role;
use serde_json::{Value, json};

fn table<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == id))
        .unwrap_or_else(|| panic!("no table {id} in {report}"))
}

async fn text(res: reqwest::Response) -> String {
    assert_eq!(res.status().as_u16(), 200);
    res.text().await.expect("body")
}

on_both_backends!(
    a_regional_partner_gets_its_report_and_flow_tables_in_every_format,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let gms = app.regional_token("secretariat-gms", "gms");
        let list = ok_json(app.get("/v1/regional/gms/tables", &gms).await).await;
        assert_eq!(list["country"], "GMS");
        assert_eq!(
            list["region"]["members"],
            json!(["KHM", "CHN", "LAO", "MMR", "THA", "VNM"])
        );
        let would = list["report"]["would_charge"].as_f64().expect("cost");
        assert!(
            list["report"]["href"]
                .as_str()
                .is_some_and(|h| h.starts_with("/v1/regional/gms/report"))
        );

        let report = ok_json(app.get("/v1/regional/gms/report", &gms).await).await;
        assert_eq!(report["region"]["id"], "gms");
        assert!((report["charged"].as_f64().expect("charged") - would).abs() < 1e-9);
        let within = table(&report, "flow_within");
        assert_eq!(
            within["cells"].as_array().map(Vec::len),
            Some(36),
            "members by members"
        );
        assert_eq!(
            within["count_request"]["filters"]["citizenship"]
                .as_array()
                .map(Vec::len),
            Some(6)
        );
        assert_eq!(
            table(&report, "flow_out")["cells"].as_array().map(Vec::len),
            Some(6)
        );
        assert_eq!(
            table(&report, "flow_in")["cells"].as_array().map(Vec::len),
            Some(6)
        );
        // Consistent like a national report: the region's one total, which
        // the members add up to, with its margin.
        assert_eq!(report["consistent"], true);
        let by_member = table(&report, "by_member");
        let total = &by_member["total"];
        let year_total = &table(&report, "victims_by_year")["total"];
        assert_eq!(total["count"], year_total["count"], "one total");
        assert_eq!(total["margin_of_error"], year_total["margin_of_error"]);
        assert!(total["margin_of_error"].as_u64().is_some_and(|m| m > 0));
        let sum: i64 = by_member["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .filter_map(|c| c["count"].as_i64())
            .sum();
        // Reconciled before suppression: the members add up to the region,
        // and a member withheld after that leaves the total as published.
        // A total is withheld (null) when it is below k, or when it is the
        // only figure left that would print a suppressed one; then every
        // table withholds it.
        match total["count"].as_i64() {
            Some(count) if total["cells_suppressed"] == 0 => {
                assert_eq!(sum, count, "the members add up to the region");
            }
            Some(count) => assert!(sum <= count, "{sum} > {count}"),
            None => assert!(
                year_total["count"].is_null(),
                "one total, withheld everywhere"
            ),
        }
        for t in report["tables"].as_array().expect("tables") {
            for c in t["cells"].as_array().expect("cells") {
                assert!(c["count"].is_null() || c["count"].as_i64().is_some_and(|n| n >= 0));
            }
        }
        let (spent, _) = app.budget("secretariat-gms").await;

        // CSV and SDMX-CSV of the same report: free repeats.
        let csv = text(app.get("/v1/regional/gms/report?format=csv", &gms).await).await;
        assert!(
            csv.lines().nth(1).is_some_and(|l| l.starts_with("GMS,")),
            "{csv}"
        );
        assert!(csv.contains("flow_within"));
        let sdmx = text(app.get("/v1/regional/gms/report?format=sdmx", &gms).await).await;
        let header: Vec<&str> = sdmx.lines().next().unwrap_or("").split(',').collect();
        let area = header
            .iter()
            .position(|h| *h == "REF_AREA")
            .expect("REF_AREA");
        let cit = header
            .iter()
            .position(|h| *h == "CITIZENSHIP")
            .expect("CITIZENSHIP");
        let rows: Vec<Vec<&str>> = sdmx
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        assert!(
            rows.iter().any(|r| r[area] == "GMS"),
            "the region as REF_AREA"
        );
        assert!(
            rows.iter().any(|r| r[area] == "_O" && r[cit] != "_O"),
            "members' nationals outside the region"
        );
        assert!(
            rows.iter().any(|r| r[area] == "THA" && r[cit] == "MMR"),
            "a flow between members"
        );
        let structure = ok_json(
            app.client
                .get(app.url("/v1/national/sdmx"))
                .send()
                .await
                .expect("sdmx"),
        )
        .await;
        let ref_area = structure["dimensions"]
            .as_array()
            .and_then(|d| d.iter().find(|d| d["id"] == "REF_AREA"))
            .expect("REF_AREA");
        assert!(
            ref_area["codes"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["code"] == "GMS")),
            "GMS documented"
        );
        assert_eq!(
            app.budget("secretariat-gms").await.0,
            spent,
            "repeats are free"
        );

        // The auditor sees the regional consumer like any other.
        let auditor = app.token(Role::Auditor, "aud");
        let consumers = ok_json(app.get("/v1/audit/consumers", &auditor).await).await;
        assert!(consumers["consumers"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["consumer"] == "secretariat-gms" && c["role"] == "regional")
        }));
        let catalog = ok_json(
            app.client
                .get(app.url("/v1/catalog"))
                .send()
                .await
                .expect("catalog"),
        )
        .await;
        assert!(
            catalog["datasets"][0]["regions"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["id"] == "gms"))
        );
    }
);

on_both_backends!(
    a_regional_token_is_refused_outside_its_region_before_anything_is_counted,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let gms = app.regional_token("secretariat-gms", "gms");
        let before = app.evaluations();
        for path in [
            "/v1/regional/asean/report",
            "/v1/regional/asean/tables",
            "/v1/national/THA/report",
            "/v1/national/USA/tables/by_sex_and_age",
            "/v1/national/THA/bilateral/MMR",
        ] {
            assert_problem(app.get(path, &gms).await, 403, "auth.region_scope").await;
        }
        let res = app
            .post_json("/v1/counts", &gms, &json!({"dimensions": ["gender"]}))
            .await;
        assert_problem(res, 403, "auth.forbidden_role").await;
        let thailand = app.government_token("gov-tha", "THA");
        assert_problem(
            app.get("/v1/regional/gms/report", &thailand).await,
            403,
            "auth.country_scope",
        )
        .await;
        let researcher = app.token(Role::Researcher, "r");
        let res = assert_problem(
            app.get("/v1/regional/atlantis/report", &researcher).await,
            404,
            "regional.unknown_region",
        )
        .await;
        assert!(
            res["valid_regions"]
                .as_array()
                .is_some_and(|v| v.contains(&json!("gms")))
        );
        assert_eq!(app.evaluations(), before, "nothing was counted");
        assert_eq!(
            app.budget("secretariat-gms").await.0,
            0,
            "nothing was charged"
        );
        // A token without a region claim is no regional token.
        let bare = app.token(Role::Regional, "nobody");
        assert_problem(
            app.get("/v1/regional/gms/tables", &bare).await,
            401,
            "auth.invalid_token",
        )
        .await;
    }
);

on_both_backends!(
    a_government_gets_its_bilateral_flow_with_one_named_country,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let thailand = app.government_token("gov-tha", "THA");
        let flow = ok_json(app.get("/v1/national/THA/bilateral/MMR", &thailand).await).await;
        assert_eq!(flow["country"], "THA");
        assert_eq!(flow["other"], "MMR");
        let out = table(&flow, "outbound");
        let inb = table(&flow, "inbound");
        assert_eq!(
            out["cells"][0]["key"],
            json!({"country_of_exploitation": "MMR"})
        );
        assert_eq!(
            out["count_request"]["filters"]["citizenship"],
            json!(["THA"])
        );
        assert_eq!(inb["cells"][0]["key"], json!({"citizenship": "MMR"}));
        assert_eq!(
            inb["count_request"]["filters"]["country_of_exploitation"],
            json!(["THA"])
        );
        assert!((flow["charged"].as_f64().expect("charged") - 0.4).abs() < 1e-9);
        // The same releases as the government's own pinned counts: free.
        let again = ok_json(
            app.post_json("/v1/counts", &thailand, &out["count_request"])
                .await,
        )
        .await;
        assert_eq!(again["charged"], json!(0.0));
        let csv = text(
            app.get("/v1/national/THA/bilateral/MMR?format=csv", &thailand)
                .await,
        )
        .await;
        assert!(csv.contains("outbound") && csv.contains("inbound"));
        let sdmx = text(
            app.get("/v1/national/THA/bilateral/MMR?format=sdmx", &thailand)
                .await,
        )
        .await;
        assert!(
            sdmx.lines()
                .skip(1)
                .any(|l| l.contains(",MMR,THA,") || l.contains(",THA,MMR,")),
            "{sdmx}"
        );
        let spent = app.budget("gov-tha").await.0;

        assert_problem(
            app.get("/v1/national/THA/bilateral/tha", &thailand).await,
            422,
            "query.invalid",
        )
        .await;
        assert_problem(
            app.get("/v1/national/MMR/bilateral/THA", &thailand).await,
            403,
            "auth.country_scope",
        )
        .await;
        assert_problem(
            app.get("/v1/national/THA/bilateral/XYZ", &thailand).await,
            422,
            "national.unknown_country",
        )
        .await;
        assert_eq!(
            app.budget("gov-tha").await.0,
            spent,
            "refusals charge nothing"
        );
    }
);

on_both_backends!(
    a_flow_table_above_the_cell_limit_is_refused_and_charges_nothing,
    |backend| async move {
        // Room for every national table (a country dimension has 250
        // values), not for SADC's 16 x 16 members.
        let policy = policy_with(&[("limits.max_cells", "250")]);
        let Some(app) = TestApp::spawn_policy(backend, policy).await else {
            return;
        };
        let sadc = app.regional_token("secretariat-sadc", "sadc");
        let before = app.evaluations();
        let res = app.get("/v1/regional/sadc/tables/flow_within", &sadc).await;
        let problem = assert_problem(res, 422, "query.too_many_cells").await;
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("256")),
            "{problem}"
        );
        let res = app.get("/v1/regional/sadc/report", &sadc).await;
        assert_problem(res, 422, "query.too_many_cells").await;
        assert_eq!(app.evaluations(), before);
        assert_eq!(app.budget("secretariat-sadc").await.0, 0);
        // The region's other tables are still served.
        ok_json(app.get("/v1/regional/sadc/tables/by_member", &sadc).await).await;
    }
);

// The two partners of a bilateral agreement read one agreed table: each
// direction of the flow is one release whichever partner asks, so both see
// the same numbers under the same release id, each pays its own budget,
// and the dataset's budget pays once.
on_both_backends!(
    both_partners_of_a_bilateral_flow_get_one_release,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let thailand = app.government_token("gov-tha", "THA");
        let myanmar = app.government_token("gov-mmr", "MMR");
        let global_before = app.global_spent().await;
        let tha = ok_json(app.get("/v1/national/THA/bilateral/MMR", &thailand).await).await;
        let global_after_tha = app.global_spent().await;
        let mmr = ok_json(app.get("/v1/national/MMR/bilateral/THA", &myanmar).await).await;
        // THA's outbound (Thais exploited in Myanmar) is MMR's inbound, and
        // the other way round.
        for (a, b) in [("outbound", "inbound"), ("inbound", "outbound")] {
            let (mine, theirs) = (table(&tha, a), table(&mmr, b));
            assert_eq!(mine["release_id"], theirs["release_id"], "{a}");
            assert_eq!(mine["query_id"], theirs["query_id"], "{a}");
            assert_eq!(
                mine["cells"][0]["count"], theirs["cells"][0]["count"],
                "{a}: the same number for both partners"
            );
            assert_eq!(
                mine["cells"][0]["suppressed"],
                theirs["cells"][0]["suppressed"]
            );
        }
        assert!((tha["charged"].as_f64().expect("charged") - 0.4).abs() < 1e-9);
        assert!(
            (mmr["charged"].as_f64().expect("charged") - 0.4).abs() < 1e-9,
            "each partner pays its own budget"
        );
        assert!(global_after_tha > global_before);
        assert_eq!(
            app.global_spent().await,
            global_after_tha,
            "the dataset's budget pays once per flow"
        );
    }
);
