//! The SDMX 2.1 REST interface (`/sdmx/...`): public structures, data
//! queries released like national reports (charged once, repeats free, in
//! every format), keys, and refusals as SDMX-ML error messages that charge
//! nothing.

use crate::helpers::*;
use crate::on_both_backends;
use ctm_stats::domain::Role;

const GENERIC: &str = "application/vnd.sdmx.genericdata+xml";
const SPECIFIC: &str = "application/vnd.sdmx.structurespecificdata+xml;version=2.1";
const JSON: &str = "application/vnd.sdmx.data+json;version=1.0.0";
const CSV1: &str = "application/vnd.sdmx.data+csv;version=1.0.0";
const CSV2: &str = "application/vnd.sdmx.data+csv;version=2.0.0";
/// A USA report on the country-of-exploitation perspective: 7 tables at 0.2.
const REPORT_MICRO: u64 = 1_400_000;

async fn get_as(app: &TestApp, path: &str, token: Option<&str>, accept: &str) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if !accept.is_empty() {
        req = req.header("Accept", accept);
    }
    req.send().await.expect("request")
}

/// The body of a 200 whose content type starts with `media`.
async fn ok_body(res: reqwest::Response, media: &str) -> String {
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = res.text().await.expect("body");
    assert_eq!(status, 200, "{body}");
    assert!(ct.starts_with(media), "content type {ct}, wanted {media}");
    body
}

/// Asserts an SDMX-ML error message: the HTTP status, the SDMX code and our code.
async fn assert_sdmx_error(
    res: reqwest::Response,
    status: u16,
    sdmx_code: u16,
    code: &str,
) -> String {
    assert_eq!(res.status().as_u16(), status, "status for {code}");
    let body = res.text().await.expect("body");
    assert!(body.contains("<mes:Error "), "{body}");
    assert!(
        body.contains(&format!("<mes:ErrorMessage code=\"{sdmx_code}\">")),
        "SDMX code {sdmx_code}: {body}"
    );
    assert!(
        body.contains(&format!("<com:Text xml:lang=\"en\">{code}</com:Text>")),
        "code {code}: {body}"
    );
    body
}

/// The data rows of an SDMX-CSV file, without their leading columns.
fn csv_rows(body: &str, leading: usize) -> Vec<String> {
    body.lines()
        .skip(1)
        .map(|l| l.splitn(leading + 1, ',').last().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn structures_are_public_sdmx_ml_with_the_short_forms_and_trailing_slashes() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    for path in [
        "/sdmx/dataflow",
        "/sdmx/dataflow/",
        "/sdmx/dataflow/CTM",
        "/sdmx/dataflow/all/all/latest",
        "/sdmx/dataflow/CTM/all/latest/",
    ] {
        let body = ok_body(
            get_as(&app, path, None, "").await,
            "application/vnd.sdmx.structure+xml",
        )
        .await;
        for id in [
            "CTM_NAT_COE",
            "CTM_NAT_CIT",
            "CTM_REG_COE",
            "CTM_REG_CIT",
            "CTM_BILATERAL",
        ] {
            assert!(
                body.contains(&format!("<str:Dataflow id=\"{id}\"")),
                "{path}: {id}"
            );
        }
        assert!(
            !body.contains("<str:DataStructure "),
            "{path}: references=none by default"
        );
    }
    let one = ok_body(
        get_as(
            &app,
            "/sdmx/dataflow/CTM/CTM_NAT_COE/1.0?references=children",
            None,
            "application/xml",
        )
        .await,
        "application/vnd.sdmx.structure+xml",
    )
    .await;
    assert!(!one.contains("CTM_NAT_CIT"));
    for part in [
        "<str:DataStructure id=\"CTM_VICTIMS\"",
        "<str:Codelist id=\"CL_SEX\"",
        "<str:Code id=\"F\"",
        "<com:Name xml:lang=\"en\">Woman</com:Name>",
        "<str:ConceptScheme id=\"CS_CTM_VICTIMS\"",
        "<str:TimeDimension id=\"TIME_PERIOD\"",
        "<str:Attribute id=\"CONF_STATUS\"",
        "<str:PrimaryMeasure id=\"OBS_VALUE\"",
    ] {
        assert!(one.contains(part), "{part}");
    }
    let codelist = ok_body(
        get_as(&app, "/sdmx/codelist/CTM/CL_REF_AREA", None, "").await,
        "application/vnd.sdmx.structure+xml",
    )
    .await;
    assert!(codelist.contains("<str:Code id=\"USA\""));
    assert!(!codelist.contains("CL_SEX"));
    let concepts = ok_body(
        get_as(
            &app,
            "/sdmx/conceptscheme/CTM/CS_CTM_VICTIMS/latest",
            None,
            "",
        )
        .await,
        "application/vnd.sdmx.structure+xml",
    )
    .await;
    assert!(concepts.contains("<str:Concept id=\"MARGIN_OF_ERROR\""));
    let dsd = ok_body(
        get_as(
            &app,
            "/sdmx/datastructure/CTM/CTM_VICTIMS/1.0?references=parents",
            None,
            "",
        )
        .await,
        "application/vnd.sdmx.structure+xml",
    )
    .await;
    assert!(dsd.contains("<str:Dataflow id=\"CTM_BILATERAL\"") && !dsd.contains("<str:Codelist "));

    assert_sdmx_error(
        get_as(&app, "/sdmx/dataflow/CTM/NOPE", None, "").await,
        404,
        100,
        "sdmx.no_results",
    )
    .await;
    assert_sdmx_error(
        get_as(&app, "/sdmx/dataflow/ECB", None, "").await,
        404,
        100,
        "sdmx.no_results",
    )
    .await;
    assert_sdmx_error(
        get_as(&app, "/sdmx/dataflow/CTM/all/2.0", None, "").await,
        404,
        100,
        "sdmx.no_results",
    )
    .await;
    assert_sdmx_error(
        get_as(&app, "/sdmx/dataflow?references=cousins", None, "").await,
        400,
        140,
        "sdmx.invalid_query",
    )
    .await;
    assert_sdmx_error(
        get_as(&app, "/sdmx/dataflow", None, "application/json").await,
        406,
        1001,
        "request.not_acceptable",
    )
    .await;
    assert_sdmx_error(
        get_as(&app, "/sdmx/nothing", None, "").await,
        404,
        100,
        "sdmx.no_results",
    )
    .await;
    let post = reqwest::Client::new()
        .post(app.url("/sdmx/dataflow"))
        .send()
        .await
        .expect("post");
    assert_eq!(
        post.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, HEAD")
    );
    assert_sdmx_error(post, 405, 1002, "request.method_not_allowed").await;
}

on_both_backends!(
    a_data_query_is_the_report_charged_once_and_free_in_every_other_format,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let gov = app.government_token("ministry-usa", "USA");
        let generic = ok_body(
            get_as(&app, "/sdmx/data/CTM_NAT_COE/USA", Some(&gov), "").await,
            GENERIC,
        )
        .await;
        let (spent, _) = app.budget("ministry-usa").await;
        assert_eq!(spent, REPORT_MICRO, "the report's cost, once");
        assert!(generic.contains("<gen:Value id=\"REF_AREA\" value=\"USA\"/>"));
        assert!(generic.contains("<gen:Value id=\"CONF_STATUS\" value=\"F\"/>"));
        assert!(generic.contains("<gen:Value id=\"OBS_STATUS\" value=\"E\"/>"));
        assert!(generic.contains("<gen:Value id=\"MARGIN_OF_ERROR\" value=\""));
        assert!(generic.contains(
            "<mes:Structure structureID=\"CTM_VICTIMS\" dimensionAtObservation=\"TIME_PERIOD\">"
        ));

        let specific = ok_body(
            get_as(&app, "/sdmx/data/CTM_NAT_COE/USA", Some(&gov), SPECIFIC).await,
            "application/vnd.sdmx.structurespecificdata+xml",
        )
        .await;
        assert!(specific.contains("<Series REF_AREA=\"USA\""));
        let json: serde_json::Value = serde_json::from_str(
            &ok_body(
                get_as(
                    &app,
                    "/sdmx/data/CTM,CTM_NAT_COE,1.0/USA/CTM",
                    Some(&gov),
                    JSON,
                )
                .await,
                "application/vnd.sdmx.data+json",
            )
            .await,
        )
        .expect("SDMX-JSON");
        assert_eq!(
            json["structure"]["dimensions"]["observation"][0]["id"],
            "TIME_PERIOD"
        );
        assert!(
            json["dataSets"][0]["series"]
                .as_object()
                .is_some_and(|s| s.len() > 10)
        );
        let csv1 = ok_body(
            get_as(&app, "/sdmx/data/CTM_NAT_COE/USA/all/", Some(&gov), CSV1).await,
            "application/vnd.sdmx.data+csv",
        )
        .await;
        assert!(
            csv1.lines()
                .nth(1)
                .is_some_and(|l| l.starts_with("CTM:CTM_NAT_COE(1.0),USA,")),
            "{csv1}"
        );
        let csv2 = ok_body(
            get_as(
                &app,
                "/sdmx/data/CTM_NAT_COE/all?format=csv2file",
                Some(&gov),
                "text/html",
            )
            .await,
            "application/vnd.sdmx.data+csv; version=2.0.0",
        )
        .await;
        assert!(
            csv2.starts_with("STRUCTURE,STRUCTURE_ID,ACTION,REF_AREA"),
            "an empty REF_AREA is the government's own country"
        );
        let by_accept = ok_body(
            get_as(&app, "/sdmx/data/CTM_NAT_COE/USA", Some(&gov), CSV2).await,
            "application/vnd.sdmx.data+csv; version=2.0.0",
        )
        .await;
        assert_eq!(by_accept, csv2, "Accept and format= give the same file");
        let flat = ok_body(
            get_as(
                &app,
                "/sdmx/data/CTM_NAT_COE/USA?dimensionAtObservation=AllDimensions",
                Some(&gov),
                "",
            )
            .await,
            GENERIC,
        )
        .await;
        assert!(flat.contains("<gen:ObsKey>") && !flat.contains("<gen:Series>"));
        assert_eq!(
            app.budget("ministry-usa").await.0,
            REPORT_MICRO,
            "every other format and form is a repeat: free"
        );

        // The same release as the national report: the same observations.
        let national = ok_body(
            get_as(&app, "/v1/national/USA/report", Some(&gov), CSV1).await,
            "application/vnd.sdmx.data+csv",
        )
        .await;
        assert_eq!(csv_rows(&csv1, 1), csv_rows(&national, 1));
        assert_eq!(csv_rows(&csv2, 3), csv_rows(&national, 1));
        assert_eq!(app.budget("ministry-usa").await.0, REPORT_MICRO);

        // A key selects among the report's observations: SEX is the third position.
        let women = ok_body(
            get_as(&app, "/sdmx/data/CTM_NAT_COE/USA..F", Some(&gov), CSV1).await,
            "application/vnd.sdmx.data+csv",
        )
        .await;
        let rows = csv_rows(&women, 1);
        assert!(
            !rows.is_empty() && rows.iter().all(|r| r.starts_with("USA,_T,F,")),
            "{women}"
        );
        let either = ok_body(
            get_as(&app, "/sdmx/data/CTM_NAT_COE/USA..F+M", Some(&gov), CSV1).await,
            "application/vnd.sdmx.data+csv",
        )
        .await;
        assert!(csv_rows(&either, 1).len() > rows.len());
        assert_eq!(app.budget("ministry-usa").await.0, REPORT_MICRO);

        // Other years are another report.
        ok_body(
            get_as(
                &app,
                "/sdmx/data/CTM_NAT_COE/USA?startPeriod=2019-01-01&endPeriod=2019",
                Some(&gov),
                "",
            )
            .await,
            GENERIC,
        )
        .await;
        assert_eq!(app.budget("ministry-usa").await.0, 2 * REPORT_MICRO);
    }
);

on_both_backends!(
    refusals_are_sdmx_errors_with_their_status_and_charge_nothing,
    |backend| async move {
        let policy = policy_with(&[("budgets.government", "2.0")]);
        let Some(app) = TestApp::spawn_policy(backend, policy).await else {
            return;
        };
        let gov = app.government_token("ministry-usa", "USA");
        let base = "/sdmx/data/CTM_NAT_COE";
        let body = assert_sdmx_error(
            get_as(&app, &format!("{base}/USA"), None, "").await,
            401,
            110,
            "auth.invalid_token",
        )
        .await;
        assert!(!body.is_empty());
        assert_sdmx_error(
            get_as(&app, &format!("{base}/MEX"), Some(&gov), "").await,
            403,
            150,
            "auth.country_scope",
        )
        .await;
        let auditor = app.token(Role::Auditor, "auditor-1");
        assert_sdmx_error(
            get_as(&app, &format!("{base}/USA"), Some(&auditor), "").await,
            403,
            150,
            "auth.forbidden_role",
        )
        .await;
        assert_sdmx_error(
            get_as(&app, &format!("{base}/USA+MEX"), Some(&gov), "").await,
            413,
            510,
            "sdmx.too_large",
        )
        .await;
        let researcher = app.token(Role::Researcher, "researcher-1");
        assert_sdmx_error(
            get_as(&app, base, Some(&researcher), "").await,
            413,
            510,
            "sdmx.too_large",
        )
        .await;
        assert_sdmx_error(
            get_as(&app, &format!("{base}/USA..X"), Some(&gov), "").await,
            404,
            100,
            "sdmx.no_results",
        )
        .await;
        assert_sdmx_error(
            get_as(&app, &format!("{base}/USA.........."), Some(&gov), "").await,
            400,
            140,
            "sdmx.invalid_query",
        )
        .await;
        assert_sdmx_error(
            get_as(&app, "/sdmx/data/CTM_NOPE/USA", Some(&gov), "").await,
            404,
            100,
            "sdmx.no_results",
        )
        .await;
        assert_sdmx_error(
            get_as(&app, &format!("{base}/USA/ECB"), Some(&gov), "").await,
            404,
            100,
            "sdmx.no_results",
        )
        .await;
        assert_sdmx_error(
            get_as(&app, &format!("{base}/USA?startPeriod=19"), Some(&gov), "").await,
            400,
            140,
            "sdmx.invalid_query",
        )
        .await;
        assert_sdmx_error(
            get_as(
                &app,
                &format!("{base}/USA?startPeriod=1990&endPeriod=1991"),
                Some(&gov),
                "",
            )
            .await,
            404,
            100,
            "sdmx.no_results",
        )
        .await;
        assert_sdmx_error(
            get_as(
                &app,
                &format!("{base}/USA?lastNObservations=1"),
                Some(&gov),
                "",
            )
            .await,
            501,
            501,
            "sdmx.not_implemented",
        )
        .await;
        assert_sdmx_error(
            get_as(&app, &format!("{base}/USA"), Some(&gov), "image/png").await,
            406,
            1001,
            "request.not_acceptable",
        )
        .await;
        // Women by type of exploitation: no table breaks down by both.
        assert_sdmx_error(
            get_as(
                &app,
                &format!("{base}/USA..F....FORCED_LABOUR"),
                Some(&gov),
                "",
            )
            .await,
            404,
            100,
            "sdmx.no_results",
        )
        .await;
        assert_eq!(
            app.budget("ministry-usa").await.0,
            0,
            "no refusal charged anything"
        );
        assert_eq!(app.evaluations(), 0, "no refusal counted a case");

        // Series keys come from the structures: no token, no charge.
        let keys = ok_body(
            get_as(&app, &format!("{base}/MEX?detail=serieskeysonly"), None, "").await,
            GENERIC,
        )
        .await;
        assert!(keys.contains("<gen:SeriesKey>") && !keys.contains("<gen:Obs>"));
        assert_eq!(app.evaluations(), 0);

        // The budget: one report (1.4 of 2.0), then a refusal that says what is left.
        ok_body(
            get_as(&app, &format!("{base}/USA"), Some(&gov), "").await,
            GENERIC,
        )
        .await;
        let body = assert_sdmx_error(
            get_as(
                &app,
                &format!("{base}/USA?startPeriod=2019"),
                Some(&gov),
                "",
            )
            .await,
            403,
            150,
            "budget.exhausted",
        )
        .await;
        assert!(body.contains("remaining: 0.6"), "{body}");
        assert_eq!(
            app.budget("ministry-usa").await.0,
            REPORT_MICRO,
            "the refusal charged nothing"
        );
    }
);

on_both_backends!(
    a_regional_partner_reads_its_region_and_a_government_its_bilateral_flows,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let gms = app.regional_token("secretariat-gms", "gms");
        let own = ok_body(
            get_as(&app, "/sdmx/data/CTM_REG_COE/all", Some(&gms), CSV1).await,
            "application/vnd.sdmx.data+csv",
        )
        .await;
        let rows = csv_rows(&own, 1);
        assert!(
            rows.iter().any(|r| r.starts_with("GMS,")),
            "the region as a whole"
        );
        assert!(
            rows.iter().any(|r| r.starts_with("THA,")),
            "its flow tables"
        );
        let spent = app.budget("secretariat-gms").await.0;
        assert!(spent > 0);
        let national = ok_body(
            get_as(&app, "/v1/regional/gms/report", Some(&gms), CSV1).await,
            "application/vnd.sdmx.data+csv",
        )
        .await;
        assert_eq!(
            rows,
            csv_rows(&national, 1),
            "the same release as the regional report"
        );
        assert_eq!(app.budget("secretariat-gms").await.0, spent);
        assert_sdmx_error(
            get_as(&app, "/sdmx/data/CTM_REG_COE/ASEAN", Some(&gms), "").await,
            403,
            150,
            "auth.region_scope",
        )
        .await;
        assert_sdmx_error(
            get_as(&app, "/sdmx/data/CTM_NAT_COE/THA", Some(&gms), "").await,
            403,
            150,
            "auth.region_scope",
        )
        .await;

        let tha = app.government_token("ministry-tha", "THA");
        let both = ok_body(
            get_as(
                &app,
                "/sdmx/data/CTM_BILATERAL/THA+MMR.THA+MMR",
                Some(&tha),
                CSV1,
            )
            .await,
            "application/vnd.sdmx.data+csv",
        )
        .await;
        let flows = csv_rows(&both, 1);
        assert_eq!(flows.len(), 2, "{both}");
        assert!(
            flows.iter().any(|r| r.starts_with("THA,MMR,"))
                && flows.iter().any(|r| r.starts_with("MMR,THA,"))
        );
        let one = ok_body(
            get_as(&app, "/sdmx/data/CTM_BILATERAL/MMR.THA", Some(&tha), CSV1).await,
            "application/vnd.sdmx.data+csv",
        )
        .await;
        assert_eq!(
            csv_rows(&one, 1).len(),
            1,
            "one direction of the same release"
        );
        assert_sdmx_error(
            get_as(&app, "/sdmx/data/CTM_BILATERAL/MMR.LAO", Some(&tha), "").await,
            403,
            150,
            "auth.country_scope",
        )
        .await;
    }
);
