//! The government partner: its national report (charts, SDMX-CSV) and a
//! bilateral flow.

use crate::Session;

use serde_json::json;

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
    b.view("government-report").await;
    b.js(
        "document.querySelector('#national-report .grid').scrollIntoView()",
        json!([]),
    )
    .await;
    b.view("government-report-charts").await;
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
