//! The regional partner: its region's report with the flow matrix.

use crate::Session;

use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regional_partner_releases_its_report_with_the_flow_matrix() {
    let Some(s) = Session::start().await else {
        return;
    };
    let (demo, b) = (&s.demo, &s.b);
    // Regional partner: the region's report with its flow matrix.
    b.sign_in(&demo.base, &s.token("regional")).await;
    b.wait(
        "document.querySelector('#national-release')",
        "the regional report's cost",
    )
    .await;
    b.click("#national-release").await;
    b.confirm().await;
    b.wait(
        "document.querySelector('[data-table=flow_within] svg')",
        "the flow matrix",
    )
    .await;
    let regional: Value = demo
        .get("/v1/regional/gms/report", &s.token("regional"))
        .await;
    let within = regional["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == "flow_within"))
        .expect("flow_within");
    let flow_cells = within["cells"].as_array().expect("cells");
    let flow_suppressed = flow_cells
        .iter()
        .filter(|c| c["suppressed"] == json!(true))
        .count();
    assert_eq!(
        b.js(
            "return document.querySelectorAll('[data-table=flow_within] g.flow-cell rect').length",
            json!([])
        )
        .await,
        json!(flow_cells.len() - flow_suppressed),
        "one square per released flow"
    );
    assert_eq!(
        b.js("return document.querySelectorAll('[data-table=flow_within] g.suppressed-mark text').length", json!([])).await,
        json!(flow_suppressed),
        "each suppressed flow marked"
    );
    // The flows as a ranked list of origin → destination bars.
    let ranked = flow_cells
        .iter()
        .filter(|c| c["suppressed"] != json!(true) && c["count"].as_u64().unwrap_or(0) > 0)
        .count()
        .min(15);
    assert_eq!(
        b.js("return document.querySelectorAll('[data-table=flow_within] figure[data-figure=flow_within-ranked] g.released-bar rect').length", json!([])).await,
        json!(ranked),
        "one bar per largest flow"
    );
    assert!(
        b.text("[data-table=flow_within] figure[data-figure=flow_within-ranked]")
            .await
            .contains("→"),
        "origin → destination"
    );
    b.js(
        "document.querySelector('[data-table=flow_within]').scrollIntoView()",
        json!([]),
    )
    .await;
    b.view("regional-flow-matrix").await;

    s.finish(&[]).await;
}
