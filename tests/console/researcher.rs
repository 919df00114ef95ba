//! The researcher: estimate, confirm, the chart and its CSV, the budget and
//! the catalog.

use crate::Session;
use crate::browser::stat;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_researcher_estimates_releases_and_downloads_a_count() {
    let Some(s) = Session::start().await else {
        return;
    };
    let (demo, b) = (&s.demo, &s.b);
    // Researcher: estimate, confirm, see the chart; the budget drops by the charge.
    let researcher = s.token("researcher");
    let before = demo.get("/v1/budget", &researcher).await["remaining"]
        .as_f64()
        .expect("remaining");
    b.sign_in(&demo.base, &researcher).await;
    b.wait("document.querySelector('#count-form')", "the counts form")
        .await;
    b.view("researcher-counts-form").await;
    for dim in ["gender", "age_broad"] {
        b.click(&format!("input[name=dimension][value={dim}]"))
            .await;
    }
    b.type_into("#year-from", "2021").await;
    b.type_into("#year-to", "2021").await;
    b.js("document.getElementById('cost').value = '0.3'", json!([]))
        .await;
    b.click("#estimate").await;
    b.wait(
        "!document.querySelector('#estimate-box').hidden",
        "the estimate",
    )
    .await;
    let cost = stat(b, "est-charge").await;
    assert!(
        (cost - 0.3).abs() < 1e-9,
        "the estimate shows the cost: {cost}"
    );
    assert_eq!(stat(b, "est-remaining").await, before);
    assert!((stat(b, "est-after").await - (before - cost)).abs() < 1e-6);
    b.view("researcher-estimate").await;
    assert_eq!(
        demo.get("/v1/budget", &researcher).await["remaining"],
        json!(before),
        "an estimate spends nothing"
    );
    b.click("#release").await;
    b.wait(
        "document.querySelector('#confirm').open",
        "the confirmation",
    )
    .await;
    // Keyboard: the confirm button has the focus; Enter confirms.
    b.js("return document.activeElement.id", json!([]))
        .await
        .as_str()
        .filter(|id| *id == "confirm-ok")
        .expect("the confirm button has the focus");
    b.type_into("#confirm-ok", "\u{E007}").await;
    b.wait("!document.querySelector('#result').hidden", "the result")
        .await;
    let charged = stat(b, "res-charged").await;
    assert!((charged - cost).abs() < 1e-9);
    let after = demo.get("/v1/budget", &researcher).await["remaining"]
        .as_f64()
        .expect("remaining");
    assert!((after - (before - charged)).abs() < 1e-9);
    assert!((stat(b, "res-remaining").await - after).abs() < 1e-6);
    // One bar per released cell, every suppressed cell marked, as the API says.
    let again: Value = reqwest::Client::new()
        .post(format!("{}/v1/counts", demo.base))
        .bearer_auth(&researcher)
        .json(&json!({"dimensions": ["gender", "age_broad"],
            "filters": {"registration_year": {"from": 2021, "to": 2021}}, "epsilon": 0.3}))
        .send()
        .await
        .expect("repeat")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        again["charged"],
        json!(0.0),
        "the same query again is a free repeat"
    );
    let cells = again["cells"].as_array().expect("cells");
    let suppressed = cells
        .iter()
        .filter(|c| c["suppressed"] == json!(true))
        .count();
    let released = cells.len() - suppressed;
    let bars = b
        .js(
            "return document.querySelectorAll('#result g.released-bar rect').length",
            json!([]),
        )
        .await;
    let marks = b
        .js(
            "return document.querySelectorAll('#result g.suppressed-mark text').length",
            json!([]),
        )
        .await;
    assert_eq!(bars, json!(released), "one bar per released cell");
    assert_eq!(marks, json!(suppressed), "each suppressed cell marked");
    assert!(
        suppressed > 0 && released > 0,
        "the query shows both kinds ({released} released, {suppressed} suppressed)"
    );
    assert_eq!(
        b.js("return document.querySelectorAll('#result g.released-bar rect[height=\"0\"], #result g.released-bar rect[width=\"0\"]').length", json!([])).await,
        json!(0),
        "no zero-length bar"
    );
    let ledger_seq = b
        .text("#res-seq .v")
        .await
        .trim_start_matches('#')
        .parse::<i64>()
        .expect("the release's ledger entry");
    b.view("researcher-result").await;
    b.click("#download-csv").await;
    let csv = b.downloaded(|f| f == "counts.csv").await;
    assert!(
        csv.lines().count() > cells.len(),
        "the CSV holds every cell"
    );

    // The budget view shows the same remaining amount and the history.
    b.click("nav a[data-view=budget]").await;
    b.wait(
        "document.querySelector('#budget-remaining')",
        "the budget view",
    )
    .await;
    assert!((stat(b, "budget-remaining").await - after).abs() < 1e-6);
    b.wait("document.querySelector('g.spend-line')", "the spend chart")
        .await;
    b.view("researcher-budget").await;

    // The catalog: every dimension a researcher may use, with its values.
    b.click("nav a[data-view=catalog]").await;
    b.wait(
        "document.querySelector('#view[data-view=catalog] table code')",
        "the catalog",
    )
    .await;
    let catalog_text = b.text("#view").await;
    for expected in ["gender", "age_broad", "citizenship", "researcher"] {
        assert!(
            catalog_text.contains(expected),
            "the catalog shows {expected}"
        );
    }
    b.view("researcher-catalog").await;

    // Back to the form: at phone width (checked by every view) nothing
    // is wider than the screen.
    b.click("nav a[data-view=counts]").await;
    b.wait("document.querySelector('#count-form')", "the counts form")
        .await;
    b.view("researcher-counts-again").await;
    assert!(ledger_seq > 0, "the release names its ledger entry");
    s.finish(&[]).await;
}
