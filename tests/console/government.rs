//! The government partner: its national report (charts, SDMX-CSV) and a
//! bilateral flow.

use crate::Session;

use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_government_partner_releases_its_report_and_a_bilateral_flow() {
    let Some(s) = Session::start().await else {
        return;
    };
    let (demo, b) = (&s.demo, &s.b);
    // Government: its national report, then its SDMX-CSV.
    b.sign_in(&demo.base, &s.token("government")).await;
    b.wait(
        "document.querySelector('#national-release')",
        "the report's cost",
    )
    .await;
    b.click("#national-release").await;
    b.confirm().await;
    b.wait(
        "document.querySelector('#download-report-sdmx')",
        "the report",
    )
    .await;
    let charts = b
        .js(
            "return document.querySelectorAll('#national-report figure svg').length",
            json!([]),
        )
        .await;
    assert!(
        charts.as_u64().unwrap_or(0) >= 4,
        "the report's tables as charts: {charts}"
    );
    assert!(
        b.js(
            "return document.querySelectorAll('#national-report g.margin-band').length",
            json!([])
        )
        .await
        .as_u64()
        .unwrap_or(0)
            >= 1,
        "victims by year drawn with a margin band"
    );
    // The long country table: ranked, its suppressed cells counted as one
    // group, a world map; each figure's caption names its release.
    let government = s.token("government");
    let country = demo.get("/v1/budget", &government).await["country"]
        .as_str()
        .expect("the government's country")
        .to_owned();
    let rep: Value = demo
        .get(
            &format!("/v1/national/{country}/report?perspective=country_of_exploitation"),
            &government,
        )
        .await;
    assert_eq!(
        rep["charged"],
        json!(0.0),
        "the report again is a free repeat"
    );
    let table = |id: &str| {
        rep["tables"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("table {id}"))
    };
    let by_citizenship = table("by_citizenship");
    let withheld = by_citizenship["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .filter(|c| c["suppressed"] == json!(true))
        .count();
    assert!(withheld > 1, "the demo withholds countries ({withheld})");
    assert_eq!(
        b.js("return [...document.querySelectorAll('[data-table=by_citizenship] g.suppressed-group text')].map(t => t.firstChild.textContent)", json!([])).await,
        json!([format!("{withheld} countries suppressed")]),
        "the suppressed countries as one group"
    );
    assert!(
        b.js("return document.querySelectorAll('[data-table=by_citizenship] g.released-bar rect').length", json!([])).await.as_u64().unwrap_or(99) <= 15,
        "at most the 15 largest countries drawn"
    );
    b.wait(
        "document.querySelector('[data-table=by_citizenship] svg.world-map')",
        "the world map",
    )
    .await;
    let map = b
        .js("const m = document.querySelector('[data-table=by_citizenship] svg.world-map'); return [m.querySelectorAll('path.released-country').length, m.querySelectorAll('path.suppressed-country').length]", json!([]))
        .await;
    assert!(
        map[0].as_u64().unwrap_or(0) > 0 && map[1].as_u64().unwrap_or(0) > 0,
        "the map shades released countries and marks suppressed ones: {map}"
    );
    let release = by_citizenship["release_id"].as_str().expect("release id");
    assert!(
        b.text("[data-table=by_citizenship] figure .fig-meta")
            .await
            .contains(release),
        "the caption names the table's release"
    );
    // A consistent two-dimension table: a crosstab with totals.
    assert!(
        b.js(
            "return !!document.querySelector('[data-table=by_sex_and_age] table.crosstab tfoot')",
            json!([])
        )
        .await
            == json!(table("by_sex_and_age")["consistent"] == json!(true)),
        "totals exactly where the table is consistent"
    );
    // Plain words, not API methodology.
    let words = b.text("#national-report").await;
    assert!(words.contains("How to read these figures"));
    assert!(
        !words.contains("weighted least squares") && !words.contains("POST /v1/counts"),
        "no API methodology on the page"
    );
    // The map exported as SVG, with its legend drawn in.
    b.click("[data-table=by_citizenship] figure[data-figure=by_citizenship-map] button[data-export=svg]")
        .await;
    let svg = b
        .downloaded(|f| f.ends_with(".svg") && f.contains("map"))
        .await;
    assert!(
        svg.contains("suppressed") && svg.contains(release),
        "the exported map carries its legend and release"
    );
    b.view("government-report").await;
    b.click("#download-report-sdmx").await;
    let sdmx = b
        .downloaded(|f| f.contains("sdmx") || f.starts_with("report"))
        .await;
    assert!(
        sdmx.lines().next().unwrap_or("").contains("REF_AREA") || sdmx.contains("USA"),
        "the SDMX-CSV download: {}",
        sdmx.lines().next().unwrap_or("")
    );

    // Government: the bilateral flow with one other country.
    b.type_into("#bilateral-other", "mex").await;
    b.click("#bilateral-go").await;
    b.confirm().await;
    b.wait(
        "document.querySelector('#bilateral-result figure')",
        "the bilateral flow",
    )
    .await;
    let directions = b
        .js(
            "return document.querySelectorAll('#bilateral-result tbody tr').length",
            json!([]),
        )
        .await;
    assert_eq!(directions, json!(2), "both directions");
    b.js(
        "document.querySelector('#bilateral').scrollIntoView()",
        json!([]),
    )
    .await;
    b.view("government-bilateral").await;

    s.finish(&[]).await;
}
