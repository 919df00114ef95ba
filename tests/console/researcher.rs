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
    // After a release the focus is on the result's heading; the address
    // holds the query (never the token).
    assert_eq!(
        b.js("return document.activeElement.id", json!([])).await,
        json!("result-heading"),
        "the focus moves to the result"
    );
    let permalink = b
        .js("return location.href", json!([]))
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        permalink.contains("#/counts?q=") && !permalink.contains(&researcher),
        "the query, not the token, is in the address: {permalink}"
    );
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
    // What the figure says it is: the release id in its caption and its
    // CSV, labelled columns, a crosstab, SVG and PNG exports.
    let release_id = again["release_id"].as_str().expect("release id").to_owned();
    assert!(
        b.text("#result figure[data-figure=result] .fig-meta")
            .await
            .contains(&release_id),
        "the caption names the release"
    );
    assert!(
        csv.starts_with("# title:") && csv.contains(&format!("# release id: {release_id}")),
        "the CSV's metadata header: {}",
        csv.lines().take(4).collect::<Vec<_>>().join(" | ")
    );
    assert!(csv.contains("# suppression:"), "the suppression legend");
    assert!(
        csv.contains("\ngender,gender_label,age_broad,age_broad_label,count,"),
        "code and label columns"
    );
    assert_eq!(
        b.js(
            "return document.querySelectorAll('#result [data-crosstab=\"gender,age_broad\"] tbody tr').length",
            json!([])
        )
        .await,
        json!(4),
        "a crosstab with a row per gender"
    );
    b.click("#result figure[data-figure=result] button[data-export=svg]")
        .await;
    let svg = b.downloaded(|f| f.ends_with(".svg")).await;
    assert!(
        svg.contains("<svg") && svg.contains(&release_id) && svg.contains("withheld, not zero"),
        "the SVG carries its source and the suppression legend"
    );
    b.click("#result figure[data-figure=result] button[data-export=png]")
        .await;
    let png = downloaded_bytes(b, ".png").await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG: {} bytes", png.len());
    // (In a closed disclosure: read as text, not as rendered.)
    let curl = b
        .js(
            "return document.getElementById('snippet-curl').textContent",
            json!([]),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        curl.contains("$CTM_TOKEN") && !curl.contains(&researcher),
        "the curl snippet names the token's variable, not the token"
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
    // My releases: the release in words, reopened as a free repeat.
    assert!(
        b.text("#my-releases").await.contains("Counts by Gender"),
        "the release in words"
    );
    b.click("#my-releases a.reopen").await;
    b.wait(
        "document.querySelector('#view[data-restored=true]')",
        "the reopened query",
    )
    .await;
    assert_eq!(
        stat(b, "est-charge").await,
        0.0,
        "a reopened release is free"
    );

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
    // The permalink restores the query, and its cost is free.
    b.goto(&permalink).await;
    b.wait(
        "document.querySelector('#view[data-restored=true]')",
        "the permalink's query",
    )
    .await;
    assert_eq!(
        b.js("return [document.querySelector('input[name=dimension][value=gender]').checked, document.getElementById('year-from').value]", json!([])).await,
        json!([true, "2021"]),
        "the form as it was"
    );
    assert_eq!(stat(b, "est-charge").await, 0.0, "a repeat is free");
    s.finish(&[]).await;
}

/// The bytes of a downloaded file whose name ends with `suffix`.
async fn downloaded_bytes(b: &crate::browser::Browser, suffix: &str) -> Vec<u8> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        for entry in std::fs::read_dir(&b.downloads)
            .expect("downloads")
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(suffix) {
                let bytes = std::fs::read(entry.path()).expect("downloaded file");
                if !bytes.is_empty() {
                    return bytes;
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {suffix} download arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
