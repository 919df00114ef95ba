//! National figures for government partners: scope, formats, repeats,
//! suppression, the report's one charge, and the SDMX-CSV 1.0 column rules.

use crate::helpers::*;
use crate::on_both_backends;
use ctm_stats::domain::Role;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

const SDMX: &str = "application/vnd.sdmx.data+csv;version=1.0.0";
const SDMX2: &str = "application/vnd.sdmx.data+csv;version=2.0.0";

async fn fetch(app: &TestApp, path: &str, token: &str, accept: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url(path)).bearer_auth(token);
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    req.send().await.expect("request")
}

/// The body of a 200 response with the given media type.
async fn body_of(res: reqwest::Response, content_type: &str) -> String {
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = res.text().await.expect("body");
    assert_eq!(status, 200, "{text}");
    assert!(
        ct.starts_with(content_type),
        "content type {ct}, expected {content_type}"
    );
    text
}

async fn json_body(res: reqwest::Response) -> Value {
    serde_json::from_str(&body_of(res, "application/json").await).expect("JSON")
}

/// Header and rows of an RFC 4180 text.
fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header = r
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = r
        .records()
        .map(|rec| rec.expect("record").iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// Checks the SDMX-CSV 1.0 column rules against the published structure and
/// returns the rows keyed by column.
fn check_sdmx_csv(text: &str, structure: &Value) -> Vec<HashMap<String, String>> {
    assert!(text.ends_with("\r\n"), "RFC 4180 lines end in CRLF");
    let (header, rows) = parse_csv(text);
    // 1. DATAFLOW first, then every dimension in structure order (TIME_PERIOD
    //    last), then exactly one OBS_VALUE, then the attributes.
    let dims: Vec<&str> = structure["dimensions"]
        .as_array()
        .expect("dimensions")
        .iter()
        .map(|d| d["id"].as_str().expect("id"))
        .collect();
    let attrs: Vec<&str> = structure["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .map(|d| d["id"].as_str().expect("id"))
        .collect();
    let mut expected = vec!["DATAFLOW"];
    expected.extend(&dims);
    expected.push("OBS_VALUE");
    expected.extend(&attrs);
    assert_eq!(header, expected, "column order");
    assert_eq!(dims.last(), Some(&"TIME_PERIOD"));
    assert_eq!(header.iter().filter(|h| *h == "OBS_VALUE").count(), 1);
    for a in ["CONF_STATUS", "OBS_STATUS", "UNIT_MEASURE"] {
        assert!(attrs.contains(&a), "attribute {a}");
    }
    let header_set: HashSet<&String> = header.iter().collect();
    assert_eq!(header_set.len(), header.len(), "no column twice");

    // 2. Codes come from the code lists; keys are unique; statuses agree with values.
    let codes: HashMap<&str, HashSet<&str>> = structure["dimensions"]
        .as_array()
        .expect("dimensions")
        .iter()
        .chain(structure["attributes"].as_array().expect("attributes"))
        .map(|d| {
            (
                d["id"].as_str().expect("id"),
                d["codes"]
                    .as_array()
                    .expect("codes")
                    .iter()
                    .map(|c| c["code"].as_str().expect("code"))
                    .collect(),
            )
        })
        .collect();
    let mut keys = HashSet::new();
    let mut out = Vec::new();
    for row in rows {
        assert_eq!(row.len(), header.len(), "every row has every column");
        let m: HashMap<String, String> = header.iter().cloned().zip(row).collect();
        assert_eq!(m["DATAFLOW"], "CTM:CTM_VICTIMS(1.0)");
        for d in &dims {
            let v = m[*d].as_str();
            if *d == "TIME_PERIOD" {
                let year = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
                let range = v.split_once("-01-01/P").is_some_and(|(y, n)| {
                    year(y) && n.ends_with('Y') && n[..n.len() - 1].parse::<u32>().is_ok()
                });
                assert!(year(v) || range, "TIME_PERIOD {v}");
            } else {
                assert!(codes[*d].contains(v), "{d}={v} is not in its code list");
            }
        }
        let key: Vec<&str> = dims.iter().map(|d| m[*d].as_str()).collect();
        assert!(keys.insert(key.join(".")), "series key repeated: {key:?}");
        match m["CONF_STATUS"].as_str() {
            "F" => {
                let v: i64 = m["OBS_VALUE"]
                    .parse()
                    .expect("a released OBS_VALUE is a whole number");
                assert!(v >= 0);
                assert_eq!(m["OBS_STATUS"], "E", "released values are estimates");
                assert!(m["MARGIN_OF_ERROR"].parse::<u64>().is_ok());
            }
            "C" => {
                assert_eq!(m["OBS_VALUE"], "", "a suppressed OBS_VALUE is empty");
                assert_eq!(m["OBS_STATUS"], "");
            }
            other => panic!("CONF_STATUS {other}"),
        }
        assert_eq!(m["UNIT_MEASURE"], "PS");
        out.push(m);
    }
    assert!(!out.is_empty());
    out
}

/// Every cell of a JSON release, in order: (table, count).
fn json_cells(body: &Value) -> Vec<(String, Option<i64>)> {
    body["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .flat_map(|t| {
            let id = t["id"].as_str().expect("id").to_owned();
            t["cells"]
                .as_array()
                .expect("cells")
                .iter()
                .map(move |c| (id.clone(), c["count"].as_i64()))
        })
        .collect()
}

/// A consistent table of a report: id, cells, total, margins.
type ConsistentTable = (String, Vec<Option<i64>>, i64, Vec<u64>);

/// The report's tables with a total row.
fn consistent_tables(report: &Value) -> Vec<ConsistentTable> {
    report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter(|t| t["consistent"] == true)
        .map(|t| {
            let cells = t["cells"].as_array().expect("cells");
            (
                t["id"].as_str().expect("id").to_owned(),
                cells.iter().map(|c| c["count"].as_i64()).collect(),
                t["total"]["count"].as_i64().expect("total"),
                cells
                    .iter()
                    .map(|c| c["margin_of_error"].as_u64().expect("margin"))
                    .collect(),
            )
        })
        .collect()
}

on_both_backends!(
    a_report_adds_up_to_one_total_in_non_negative_integers,
    |backend| async move {
        // k = 1: only zeros are suppressed, so the published cells add up exactly.
        let policy = policy_with(&[("privacy.k", "1")]);
        let Some(app) = TestApp::spawn_policy(backend, policy).await else {
            return;
        };
        let gov = app.government_token("gov-usa", "USA");
        for path in [
            "/v1/national/USA/report",
            "/v1/national/USA/report?year=2019",
            "/v1/national/USA/report?perspective=citizenship",
        ] {
            let report = json_body(fetch(&app, path, &gov, None).await).await;
            assert_eq!(report["consistent"], true, "{path}");
            assert!(report["consistency_method"].is_string());
            let tables = consistent_tables(&report);
            assert!(
                tables.len() >= 4,
                "{path}: {} consistent tables",
                tables.len()
            );
            let total = tables[0].2;
            assert!(total > 0);
            for (id, cells, table_total, margins) in &tables {
                assert_eq!(*table_total, total, "{path} {id}: one total");
                assert!(cells.iter().flatten().all(|v| *v >= 1), "{path} {id}");
                // Suppressed cells (zeros, and their complements) are part
                // of the total: never one alone, which the total would print.
                let sum: i64 = cells.iter().flatten().sum();
                let hidden = cells.iter().filter(|c| c.is_none()).count();
                assert_ne!(
                    hidden, 1,
                    "{path} {id}: one suppressed cell beside its total"
                );
                assert!(sum <= total, "{path} {id}");
                if hidden == 0 {
                    assert_eq!(sum, total, "{path} {id}: the cells add up to the total");
                }
                assert!(margins.iter().all(|m| *m > 0), "{path} {id}");
            }
            // Multi-valued tables keep their own cells and have no total.
            let multi = report["tables"]
                .as_array()
                .expect("tables")
                .iter()
                .filter(|t| t["consistent"] == false)
                .collect::<Vec<_>>();
            assert!(multi.iter().all(|t| t["total"].is_null()), "{path}");

            // The CSV's total rows carry the same one total.
            let csv = body_of(
                fetch(
                    &app,
                    &format!(
                        "{path}{}format=csv",
                        if path.contains('?') { "&" } else { "?" }
                    ),
                    &gov,
                    None,
                )
                .await,
                "text/csv",
            )
            .await;
            let (header, rows) = parse_csv(&csv);
            let status = header.len() - 1;
            let count = header.len() - 3;
            let totals: HashSet<&str> = rows
                .iter()
                .filter(|r| r[status] == "total")
                .map(|r| r[count].as_str())
                .collect();
            assert_eq!(
                totals,
                HashSet::from([total.to_string().as_str()]),
                "{path}"
            );
        }
    }
);

on_both_backends!(
    a_table_of_a_paid_report_is_published_as_in_the_report,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let gov = app.government_token("gov-usa", "USA");
        let table = "/v1/national/USA/tables/by_sex_and_age?from_year=2019&to_year=2019";
        // Bought alone first: the table's own release, not consistent.
        let alone = json_body(fetch(&app, table, &gov, None).await).await;
        assert_eq!(alone["tables"][0]["consistent"], false);
        assert_eq!(alone["consistent"], false);
        let report =
            json_body(fetch(&app, "/v1/national/USA/report?year=2019", &gov, None).await).await;
        let spent = app.budget("gov-usa").await.0;
        // Asked again once the report is paid: its cells as in the report, free.
        let again = json_body(fetch(&app, table, &gov, None).await).await;
        assert_eq!(again["tables"][0]["consistent"], true);
        assert_eq!(again["tables"][0]["cells"], report["tables"][1]["cells"]);
        assert_eq!(again["tables"][0]["total"], report["tables"][1]["total"]);
        assert_eq!(again["tables"][0]["charged"], 0.0);
        assert_eq!(app.budget("gov-usa").await.0, spent);
        // Another government that never paid the report gets the table alone.
        let other = app.government_token("gov-usa-2", "USA");
        let theirs = json_body(fetch(&app, table, &other, None).await).await;
        assert_eq!(theirs["tables"][0]["consistent"], false);
        assert_eq!(theirs["tables"][0]["cells"], alone["tables"][0]["cells"]);
    }
);

on_both_backends!(
    a_government_reads_its_own_report_in_each_format,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let gov = app.government_token("gov-usa", "USA");
        let report = json_body(fetch(&app, "/v1/national/usa/report", &gov, None).await).await;
        assert_eq!(report["country"], "USA");
        assert_eq!(report["perspective"], "country_of_exploitation");
        let ids: Vec<&str> = report["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .map(|t| t["id"].as_str().expect("id"))
            .collect();
        assert_eq!(
            ids,
            [
                "victims_by_year",
                "by_sex_and_age",
                "by_type_of_exploitation",
                "by_citizenship",
                "by_assistance_received",
                "demographics",
                "internal_vs_international"
            ]
        );
        assert!((report["cost"].as_f64().expect("cost") - 1.4).abs() < 1e-9);
        assert_eq!(report["charged"], report["cost"], "one charge: the sum");
        assert_eq!(app.budget("gov-usa").await.0, 1_400_000);
        assert_eq!(app.global_spent().await, 1_400_000);
        let by_citizenship = &report["tables"][3];
        assert_eq!(by_citizenship["cells"].as_array().map(Vec::len), Some(250));
        assert_eq!(
            by_citizenship["count_request"]["filters"]["country_of_exploitation"],
            json!(["USA"])
        );
        let total = &report["tables"][0]["total"];
        assert_eq!(total["method"], "consistent_total");
        assert_eq!(report["consistent"], true);
        assert!(
            report["tables"][2]["total"].is_null(),
            "multi-valued: no total"
        );
        let cells = json_cells(&report);
        assert!(cells.iter().any(|(_, c)| c.is_some()));

        // CSV: same cells, one row each, plus the derived total rows.
        let csv = body_of(
            fetch(&app, "/v1/national/USA/report?format=csv", &gov, None).await,
            "text/csv",
        )
        .await;
        let (header, rows) = parse_csv(&csv);
        assert_eq!(&header[..4], ["country", "perspective", "period", "table"]);
        assert_eq!(
            &header[header.len() - 3..],
            ["count", "margin_of_error", "status"]
        );
        let status = header.len() - 1;
        let count = header.len() - 3;
        let csv_cells: Vec<(String, Option<i64>)> = rows
            .iter()
            .filter(|r| r[status] == "released" || r[status] == "suppressed")
            .map(|r| (r[3].clone(), r[count].parse().ok()))
            .collect();
        assert_eq!(csv_cells, cells, "the CSV carries the JSON's cells");
        let totals = rows
            .iter()
            .filter(|r| r[status] == "total" || r[status] == "partial_total")
            .count();
        assert_eq!(totals, 5, "one total row per table with a total");
        assert!(rows.iter().all(|r| r[0] == "USA" && r[2] == "2002-2025"));

        // SDMX-CSV by Accept: same cells as observations.
        let structure = json_body(
            app.client
                .get(app.url("/v1/national/sdmx"))
                .send()
                .await
                .expect("request"),
        )
        .await;
        let text = body_of(
            fetch(&app, "/v1/national/USA/report", &gov, Some(SDMX)).await,
            SDMX,
        )
        .await;
        let obs = check_sdmx_csv(&text, &structure);
        let values: Vec<Option<i64>> = obs.iter().map(|m| m["OBS_VALUE"].parse().ok()).collect();
        assert_eq!(values, cells.iter().map(|c| c.1).collect::<Vec<_>>());
        assert!(obs.iter().all(|m| m["REF_AREA"] == "USA"));

        // SDMX-CSV 2.0, by Accept or by name: STRUCTURE, STRUCTURE_ID and
        // ACTION instead of DATAFLOW, the same observations otherwise.
        let v1 = parse_csv(&text);
        for (accept, path) in [
            (Some(SDMX2), "/v1/national/USA/report"),
            (None, "/v1/national/USA/report?format=sdmx2"),
        ] {
            let text2 = body_of(fetch(&app, path, &gov, accept).await, SDMX2).await;
            let (header2, rows2) = parse_csv(&text2);
            assert_eq!(&header2[..3], ["STRUCTURE", "STRUCTURE_ID", "ACTION"]);
            assert_eq!(&header2[3..], &v1.0[1..], "the same columns after them");
            assert_eq!(rows2.len(), v1.1.len());
            for (r2, r1) in rows2.iter().zip(&v1.1) {
                assert_eq!(r2[0], "dataflow");
                assert_eq!(r2[1], r1[0], "STRUCTURE_ID is the 1.0 DATAFLOW");
                assert_eq!(r2[2], "I");
                assert_eq!(&r2[3..], &r1[1..]);
            }
        }

        assert_eq!(
            app.budget("gov-usa").await.0,
            1_400_000,
            "other formats of the same release are repeats"
        );
    }
);

on_both_backends!(
    another_country_is_refused_whatever_its_data_and_charges_nothing,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let gov = app.government_token("gov-usa", "USA");
        // UKR has cases, ATA (Antarctica) none: the refusal is the same.
        let mut bodies = Vec::new();
        for country in ["UKR", "ata", "FRA"] {
            for path in [
                format!("/v1/national/{country}/report"),
                format!("/v1/national/{country}/report?format=sdmx"),
                format!("/v1/national/{country}/tables/by_sex_and_age"),
                format!("/v1/national/{country}/tables/no_such_table"),
                format!("/v1/national/{country}/tables?perspective=citizenship"),
            ] {
                let p = assert_problem(
                    fetch(&app, &path, &gov, None).await,
                    403,
                    "auth.country_scope",
                )
                .await;
                assert!(p["detail"].as_str().unwrap_or("").contains("USA"), "{p}");
                bodies.push(p);
            }
        }
        assert!(
            bodies.windows(2).all(|w| w[0]["detail"] == w[1]["detail"]),
            "the refusal does not depend on the country asked for"
        );
        assert_eq!(app.budget("gov-usa").await.0, 0);
        assert_eq!(app.global_spent().await, 0);
        let summary = json_body(fetch(&app, "/v1/budget", &gov, None).await).await;
        assert_eq!(summary["spent"], 0.0);
        assert!(
            summary["history"]["refusal"].as_i64().unwrap_or(0) >= 10,
            "release refusals are ledgered: {summary}"
        );

        // Researchers may read any country, on their own budget.
        let r = app.token(Role::Researcher, "rita");
        let ukr =
            json_body(fetch(&app, "/v1/national/UKR/tables/by_sex_and_age", &r, None).await).await;
        assert_eq!(ukr["tables"][0]["charged"], 0.2);
        assert_eq!(app.budget("rita").await.0, 200_000);
    }
);

on_both_backends!(
    a_repeat_is_free_and_identical_through_every_route,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let gov = app.government_token("gov-usa", "USA");
        let path = "/v1/national/USA/report?year=2019";
        let first = json_body(fetch(&app, path, &gov, None).await).await;
        let spent = app.budget("gov-usa").await.0;
        let global = app.global_spent().await;
        assert_eq!(spent, 1_400_000);
        let again = json_body(fetch(&app, path, &gov, None).await).await;
        assert_eq!(again["charged"], 0.0);
        assert_eq!(again["repeat"], true);
        assert_eq!(first["tables"].as_array().map(Vec::len), Some(7));
        for (a, b) in first["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .zip(again["tables"].as_array().expect("tables"))
        {
            assert_eq!(a["cells"], b["cells"]);
            assert_eq!(a["total"], b["total"]);
            assert_eq!(a["release_id"], b["release_id"]);
        }
        for format in ["csv", "sdmx"] {
            let p = format!("{path}&format={format}");
            let one = fetch(&app, &p, &gov, None)
                .await
                .bytes()
                .await
                .expect("bytes");
            let two = fetch(&app, &p, &gov, None)
                .await
                .bytes()
                .await
                .expect("bytes");
            assert_eq!(one, two, "{format} repeats are byte-identical");
        }

        // One table of the report, alone: the same release, free.
        let table = json_body(
            fetch(
                &app,
                "/v1/national/USA/tables/by_sex_and_age?from_year=2019&to_year=2019",
                &gov,
                None,
            )
            .await,
        )
        .await;
        assert_eq!(table["tables"][0]["cells"], first["tables"][1]["cells"]);
        assert_eq!(table["tables"][0]["charged"], 0.0);

        // The equivalent POST /v1/counts: the same release, free, same numbers.
        let body = first["tables"][1]["count_request"].clone();
        assert_eq!(
            body["filters"]["registration_year"],
            json!({"from": 2019, "to": 2019})
        );
        let counts = app.post_json("/v1/counts", &gov, &body).await;
        let counts: Value = counts.json().await.expect("json");
        assert_eq!(counts["query_id"], first["tables"][1]["query_id"]);
        assert_eq!(counts["release_id"], first["tables"][1]["release_id"]);
        assert_eq!(counts["charged"], 0.0);
        // The count is that table's own release; the report publishes the
        // consistent estimate made from it and the other tables.
        assert_eq!(first["tables"][1]["consistent"], true);
        // A government's own pinned count query (no country filter) is that release too.
        let pinned = app
            .post_json(
                "/v1/counts",
                &gov,
                &json!({"dimensions": ["gender", "age_broad"], "filters": {"registration_year": {"from": 2019, "to": 2019}}, "epsilon": 0.2}),
            )
            .await;
        let pinned: Value = pinned.json().await.expect("json");
        assert_eq!(pinned["query_id"], first["tables"][1]["query_id"]);
        assert_eq!(pinned["charged"], 0.0);

        assert_eq!(app.budget("gov-usa").await.0, spent);
        assert_eq!(app.global_spent().await, global);

        // Another consumer pays for the same numbers; the dataset does not pay twice.
        let r = app.token(Role::Researcher, "rita");
        let theirs = json_body(fetch(&app, path, &r, None).await).await;
        assert_eq!(theirs["charged"], first["charged"]);
        assert_eq!(theirs["tables"][1]["cells"], first["tables"][1]["cells"]);
        assert_eq!(app.global_spent().await, global);
    }
);

on_both_backends!(
    suppressed_cells_appear_as_suppressed_in_every_format,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let gov = app.government_token("gov-usa", "USA");
        // Most of the 250 citizenships of victims identified in the USA are rare.
        let path = "/v1/national/USA/tables/by_citizenship";
        let json = json_body(fetch(&app, path, &gov, None).await).await;
        let cells = json["tables"][0]["cells"]
            .as_array()
            .expect("cells")
            .clone();
        let suppressed: Vec<usize> = cells
            .iter()
            .enumerate()
            .filter(|(_, c)| c["suppressed"] == true)
            .map(|(i, _)| i)
            .collect();
        assert!(suppressed.len() > 100, "most citizenships are suppressed");
        assert!(suppressed.len() < cells.len(), "some are released");
        for i in &suppressed {
            assert!(cells[*i]["count"].is_null());
        }
        let total = &json["tables"][0]["total"];
        assert_eq!(total["complete"], false);
        assert_eq!(total["cells_suppressed"], suppressed.len());
        let released_sum: i64 = cells.iter().filter_map(|c| c["count"].as_i64()).sum();
        assert_eq!(
            total["count"], released_sum,
            "the total sums the released cells"
        );

        let csv = body_of(fetch(&app, path, &gov, Some("text/csv")).await, "text/csv").await;
        let (header, rows) = parse_csv(&csv);
        let col = |name: &str| header.iter().position(|h| h == name).expect("column");
        let (count, margin, status) = (col("count"), col("margin_of_error"), col("status"));
        assert_eq!(rows.len(), cells.len() + 1, "every cell, then the total");
        for (i, row) in rows.iter().take(cells.len()).enumerate() {
            assert_eq!(row[col("citizenship")], cells[i]["key"]["citizenship"]);
            if suppressed.contains(&i) {
                assert_eq!(row[status], "suppressed");
                assert_eq!(row[count], "");
                assert_eq!(row[margin], "");
            } else {
                assert_eq!(row[status], "released");
                assert_eq!(
                    Some(row[count].parse::<i64>().expect("count")),
                    cells[i]["count"].as_i64()
                );
            }
        }
        let last = rows.last().expect("total row");
        assert_eq!(last[status], "partial_total");
        assert_eq!(last[col("citizenship")], "total");

        let structure = json_body(
            app.client
                .get(app.url("/v1/national/sdmx"))
                .send()
                .await
                .expect("request"),
        )
        .await;
        let text = body_of(
            fetch(&app, &format!("{path}?format=sdmx"), &gov, None).await,
            SDMX,
        )
        .await;
        let obs = check_sdmx_csv(&text, &structure);
        assert_eq!(
            obs.len(),
            cells.len(),
            "derived totals are not observations"
        );
        for (i, o) in obs.iter().enumerate() {
            let code = cells[i]["key"]["citizenship"].as_str().expect("code");
            let code = if code == "unknown" { "_U" } else { code };
            assert_eq!(o["CITIZENSHIP"], code);
            if suppressed.contains(&i) {
                assert_eq!(o["OBS_VALUE"], "");
                assert_eq!(o["CONF_STATUS"], "C");
            } else {
                assert_eq!(o["CONF_STATUS"], "F");
                assert_eq!(
                    o["OBS_VALUE"].parse::<i64>().ok(),
                    cells[i]["count"].as_i64()
                );
            }
            assert_eq!(o["REF_AREA"], "USA");
            assert_eq!(o["SEX"], "_T", "not broken down");
            assert_eq!(o["TIME_PERIOD"], "2002-01-01/P24Y");
        }
        assert_eq!(
            app.budget("gov-usa").await.0,
            200_000,
            "one release, three formats"
        );
    }
);

on_both_backends!(
    the_report_is_charged_all_or_nothing_and_skips_paid_tables,
    |backend| async move {
        let policy = policy_with(&[("budgets.government", "1.0")]);
        let Some(app) = TestApp::spawn_policy(backend, policy).await else {
            return;
        };
        let gov = app.government_token("gov-usa", "USA");
        let p = assert_problem(
            fetch(&app, "/v1/national/USA/report", &gov, None).await,
            403,
            "budget.exhausted",
        )
        .await;
        assert_eq!(p["requested"], 1.4);
        assert_eq!(p["remaining"], 1.0);
        assert_eq!(app.budget("gov-usa").await.0, 0, "nothing charged");
        assert_eq!(app.global_spent().await, 0, "nothing stored or charged");

        // Two tables bought singly; the report then needs only the other five.
        for t in ["victims_by_year", "by_sex_and_age"] {
            json_body(fetch(&app, &format!("/v1/national/USA/tables/{t}"), &gov, None).await).await;
        }
        assert_eq!(app.budget("gov-usa").await.0, 400_000);
        let p = assert_problem(
            fetch(&app, "/v1/national/USA/report", &gov, None).await,
            403,
            "budget.exhausted",
        )
        .await;
        assert_eq!(p["requested"], 1.0);
        assert_eq!(app.budget("gov-usa").await.0, 400_000);
        assert_eq!(app.global_spent().await, 400_000);

        let r = app.token(Role::Researcher, "rita");
        json_body(fetch(&app, "/v1/national/USA/tables/demographics", &r, None).await).await;
        let report = json_body(fetch(&app, "/v1/national/USA/report", &r, None).await).await;
        assert!((report["charged"].as_f64().expect("charged") - 1.2).abs() < 1e-9);
        assert!((report["cost"].as_f64().expect("cost") - 1.4).abs() < 1e-9);
        let demographics = &report["tables"][5];
        assert_eq!(demographics["id"], "demographics");
        assert_eq!(demographics["charged"], 0.0);
        assert_eq!(demographics["repeat"], true);
        assert_eq!(app.budget("rita").await.0, 1_400_000);
        // The dataset paid for the two tables already released, not again.
        assert_eq!(app.global_spent().await, 1_400_000);
        assert_eq!(report["budget"]["spent"], 1.4);
    }
);

on_both_backends!(
    the_table_list_shows_costs_and_what_is_already_paid,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let gov = app.government_token("gov-usa", "USA");
        let list = json_body(fetch(&app, "/v1/national/USA/tables", &gov, None).await).await;
        let tables = list["tables"].as_array().expect("tables");
        assert_eq!(tables.len(), 7);
        assert!(
            tables
                .iter()
                .all(|t| t["cost"] == 0.2 && t["would_charge"] == 0.2)
        );
        assert!((list["report"]["cost"].as_f64().expect("cost") - 1.4).abs() < 1e-9);
        assert_eq!(tables[1]["cells"], 40);
        json_body(fetch(&app, "/v1/national/USA/tables/by_sex_and_age", &gov, None).await).await;
        let list = json_body(fetch(&app, "/v1/national/USA/tables", &gov, None).await).await;
        assert_eq!(list["tables"][1]["would_charge"], 0.0);
        assert!((list["report"]["would_charge"].as_f64().expect("would") - 1.2).abs() < 1e-9);

        let nationals = json_body(
            fetch(
                &app,
                "/v1/national/USA/tables?perspective=citizenship",
                &gov,
                None,
            )
            .await,
        )
        .await;
        let ids: Vec<&str> = nationals["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .map(|t| t["id"].as_str().expect("id"))
            .collect();
        assert!(ids.contains(&"by_country_of_exploitation"));
        assert!(!ids.contains(&"by_citizenship"), "it would be one cell");
        assert_eq!(
            app.budget("gov-usa").await.0,
            200_000,
            "listing charges nothing"
        );

        // The citizenship perspective pins CITIZENSHIP in SDMX, not REF_AREA.
        let text = body_of(
            fetch(
                &app,
                "/v1/national/USA/tables/by_country_of_exploitation?perspective=citizenship&from_year=2015&to_year=2020&format=sdmx",
                &gov,
                None,
            )
            .await,
            SDMX,
        )
        .await;
        let (header, rows) = parse_csv(&text);
        let col = |name: &str| header.iter().position(|h| h == name).expect("column");
        assert_eq!(rows.len(), 250);
        assert!(rows.iter().all(|r| r[col("CITIZENSHIP")] == "USA"));
        assert!(
            rows.iter()
                .all(|r| r[col("TIME_PERIOD")] == "2015-01-01/P6Y")
        );
        assert!(rows.iter().any(|r| r[col("REF_AREA")] == "USA"));
    }
);

on_both_backends!(
    national_requests_are_validated_before_anything_is_charged,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let gov = app.government_token("gov-usa", "USA");
        let r = app.token(Role::Researcher, "rita");
        for (path, status, code) in [
            ("/v1/national/XYZ/report", 422, "national.unknown_country"),
            (
                "/v1/national/unknown/report",
                422,
                "national.unknown_country",
            ),
            ("/v1/national/US/tables", 422, "national.unknown_country"),
            (
                "/v1/national/USA/tables/by_nothing",
                404,
                "national.unknown_table",
            ),
            (
                "/v1/national/USA/tables/by_citizenship?perspective=citizenship",
                422,
                "query.invalid",
            ),
            (
                "/v1/national/USA/report?perspective=sideways",
                422,
                "query.invalid",
            ),
            ("/v1/national/USA/report?year=1999", 422, "query.invalid"),
            (
                "/v1/national/USA/report?year=2019&from_year=2018",
                422,
                "query.invalid",
            ),
            (
                "/v1/national/USA/tables/victims_by_year?from_year=2020&to_year=2010",
                422,
                "query.invalid",
            ),
            ("/v1/national/USA/report?colour=red", 422, "query.invalid"),
            (
                "/v1/national/USA/report?format=xlsx",
                406,
                "request.not_acceptable",
            ),
        ] {
            assert_problem(fetch(&app, path, &gov, None).await, status, code).await;
            assert_problem(fetch(&app, path, &r, None).await, status, code).await;
        }
        assert_problem(
            fetch(
                &app,
                "/v1/national/USA/report",
                &gov,
                Some("application/xml"),
            )
            .await,
            406,
            "request.not_acceptable",
        )
        .await;
        let auditor = app.token(Role::Auditor, "audrey");
        assert_problem(
            fetch(&app, "/v1/national/USA/report", &auditor, None).await,
            403,
            "auth.forbidden_role",
        )
        .await;
        assert_problem(
            app.client
                .get(app.url("/v1/national/USA/report"))
                .send()
                .await
                .expect("request"),
            401,
            "auth.invalid_token",
        )
        .await;
        assert_eq!(app.budget("gov-usa").await.0, 0);
        assert_eq!(app.budget("rita").await.0, 0);
        assert_eq!(app.global_spent().await, 0);
    }
);

on_both_backends!(
    concurrent_reports_on_two_replicas_never_overspend,
    |backend| async move {
        // A report costs 1.4; a government budget of 5.0 fits three.
        let policy = policy_with(&[("budgets.government", "5.0")]);
        let Some(app) = TestApp::spawn_policy(backend, policy).await else {
            return;
        };
        let replica = app.replica().await;
        let gov = app.government_token("gov-usa", "USA");
        let mut handles = Vec::new();
        for i in 0..16u16 {
            // Eight distinct annual reports, each asked for twice, on either server.
            let base = if i % 2 == 0 { &app.base } else { &replica.base };
            let url = format!("{base}/v1/national/USA/report?year={}", 2012 + i % 8);
            let client = app.client.clone();
            let gov = gov.clone();
            handles.push(tokio::spawn(async move {
                let res = client
                    .get(url)
                    .bearer_auth(gov)
                    .send()
                    .await
                    .expect("request");
                let status = res.status().as_u16();
                let body: Value = res.json().await.expect("json");
                (status, body)
            }));
        }
        let mut charged = 0.0;
        let mut refused = 0;
        for h in handles {
            let (status, body) = h.await.expect("task");
            match status {
                200 => charged += body["charged"].as_f64().expect("charged"),
                403 => {
                    assert_eq!(body["code"], "budget.exhausted", "{body}");
                    refused += 1;
                }
                other => panic!("status {other}: {body}"),
            }
        }
        let (spent, limit) = app.budget("gov-usa").await;
        assert_eq!(limit, 5_000_000);
        assert_eq!(spent, 4_200_000, "three reports of 1.4, each charged once");
        assert!((charged - 4.2).abs() < 1e-9, "charged {charged}");
        assert!(
            refused >= 10,
            "the other five reports (asked twice) are refused: {refused}"
        );
        assert_eq!(app.global_spent().await, 4_200_000);
    }
);

// internal_vs_international is a grouping of by_citizenship: on a country's
// figures, internal is its own nationals, unknown the unknown citizenship,
// international every other; the report publishes numbers that agree.
on_both_backends!(
    internal_vs_international_agrees_with_by_citizenship,
    |backend| async move {
        // k = 1: (almost) every cell published, so the sums can be compared.
        let policy = policy_with(&[("privacy.k", "1")]);
        let Some(app) = TestApp::spawn_policy(backend, policy).await else {
            return;
        };
        let gov = app.government_token("gov-usa", "USA");
        let report = json_body(fetch(&app, "/v1/national/USA/report", &gov, None).await).await;
        let table = |id: &str| {
            report["tables"]
                .as_array()
                .expect("tables")
                .iter()
                .find(|t| t["id"] == id)
                .cloned()
                .unwrap_or_else(|| panic!("no table {id}"))
        };
        let (iv, by) = (table("internal_vs_international"), table("by_citizenship"));
        assert_eq!(iv["consistent"], true);
        let cell = |t: &Value, dim: &str, v: &str| {
            t["cells"]
                .as_array()
                .expect("cells")
                .iter()
                .find(|c| c["key"][dim] == v)
                .map(|c| c["count"].as_i64())
                .unwrap_or_else(|| panic!("no cell {v}"))
        };
        let by_cells = by["cells"].as_array().expect("cells");
        let others: Option<i64> = by_cells
            .iter()
            .filter(|c| c["key"]["citizenship"] != "USA" && c["key"]["citizenship"] != "unknown")
            .map(|c| c["count"].as_i64())
            .sum();
        let pairs = [
            (
                cell(&iv, "is_internal", "internal"),
                cell(&by, "citizenship", "USA"),
            ),
            (
                cell(&iv, "is_internal", "unknown"),
                cell(&by, "citizenship", "unknown"),
            ),
            (cell(&iv, "is_internal", "international"), others),
        ];
        let mut compared = 0;
        for (a, b) in pairs {
            if let (Some(a), Some(b)) = (a, b) {
                assert_eq!(a, b, "{iv:#} {pairs:?}");
                compared += 1;
            }
        }
        assert!(compared >= 1, "{pairs:?}");
    }
);
