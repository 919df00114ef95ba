//! The auditor: every release on the timeline, the ledger verified in the
//! browser, a checkpoint signed and checked; the ledger beyond one page, a
//! pinned key, and the export verified by the command the page shows.

use crate::Session;
use crate::browser::{number, stat};
use crate::demo::Demo;
use serde_json::json;
use std::process::Command;

/// The query the researcher's test releases in the browser.
fn release_query(epsilon: f64) -> serde_json::Value {
    json!({"dimensions": ["gender", "age_broad"],
        "filters": {"registration_year": {"from": 2021, "to": 2021}}, "epsilon": epsilon})
}

/// A researcher's release through the API, as the console would make it;
/// answers its ledger entry.
pub async fn a_researcher_release(demo: &Demo, epsilon: f64) -> i64 {
    let released = demo
        .post(
            "/v1/counts",
            &demo.token("researcher"),
            &release_query(epsilon),
        )
        .await;
    released["ledger_seq"]
        .as_i64()
        .unwrap_or_else(|| panic!("a release: {released}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_finds_each_release_verifies_the_ledger_and_signs_a_checkpoint() {
    let Some(s) = Session::start().await else {
        return;
    };
    let (demo, b) = (&s.demo, &s.b);
    let ledger_seq = a_researcher_release(demo, 0.3).await;
    // Auditor: the release on the timeline, a successful verification, a
    // checkpoint whose signature the browser checks, the export.
    b.sign_in(&demo.base, &s.token("auditor")).await;
    b.wait(
        "document.querySelector('#timeline g.ledger-dot')",
        "the timeline",
    )
    .await;
    let entries = b.text("#entry-count .v").await;
    let dots = b
        .js(
            "return document.querySelectorAll('#timeline g.ledger-dot circle').length",
            json!([]),
        )
        .await;
    assert_eq!(
        dots,
        json!(number(&entries) as u64),
        "one dot per ledger entry"
    );
    let row = b
        .js(
            "return [...document.querySelectorAll('#timeline tbody tr')].map(r => [...r.cells].map(c => c.textContent)).find(c => c[0] === String(arguments[0]))",
            json!([ledger_seq]),
        )
        .await;
    assert_eq!(
        row[2],
        json!("demo-researcher"),
        "the release's entry: {row}"
    );
    assert_eq!(row[3], json!("charge"));
    b.click("#verify-now").await;
    b.wait(
        "document.querySelector('#verify-status')",
        "the verification",
    )
    .await;
    assert_eq!(b.text("#verify-status").await, "verified");
    b.click("#sign-checkpoint").await;
    b.confirm().await;
    b.wait(
        "document.querySelector('#checkpoints [data-status]')",
        "a checkpoint",
    )
    .await;
    assert_eq!(
        b.js(
            "return document.querySelector('#checkpoints [data-status]').dataset.status",
            json!([])
        )
        .await,
        json!("valid"),
        "the checkpoint's signature checks in the browser"
    );
    assert_eq!(
        b.text("#ledger-showing").await,
        format!("Showing {entries} of {entries} entries, newest first."),
    );
    b.js(
        "document.querySelector('#timeline').scrollIntoView()",
        json!([]),
    )
    .await;
    b.view("auditor-timeline").await;
    s.finish(&[]).await;
}

/// The auditor's ledger beyond one page (newest first, "Load older
/// entries", "showing N of M"), the pinned key compared with the served one,
/// and the export verified by running the page's command exactly as shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_pages_the_ledger_pins_its_key_and_verifies_the_export() {
    let Some(s) = Session::start().await else {
        return;
    };
    let (demo, b) = (&s.demo, &s.b);
    let (auditor, admin) = (s.token("auditor"), s.token("admin"));
    let (auditor, admin) = (auditor.as_str(), admin.as_str());
    a_researcher_release(demo, 0.3).await;
    b.sign_in(&demo.base, auditor).await;
    b.wait(
        "document.querySelector('#timeline g.ledger-dot')",
        "the timeline",
    )
    .await;
    // No key pinned yet: a placeholder, and why.
    assert_eq!(
        b.js(
            "return document.getElementById('key-match').dataset.match",
            json!([])
        )
        .await,
        json!("none")
    );
    assert!(
        b.text("#verify-command")
            .await
            .contains("--public-key <your pinned key>")
    );
    assert!(b.text("#key-status").await.contains("out of band"));

    // More entries than one page of the view (1000): budget changes by the
    // admin and free repeats by the researcher (each within its own rate of
    // 600 requests a minute).
    let client = reqwest::Client::new();
    let put = |i: usize| {
        let request = client
            .put(format!(
                "{}/v1/admin/consumers/ledger-filler/budget",
                demo.base
            ))
            .bearer_auth(admin)
            .json(&json!({"limit": 5.0 + i as f64 * 1e-6, "role": "researcher"}));
        async move {
            let r = request.send().await.expect("budget change");
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        }
    };
    let researcher = s.token("researcher");
    let repeat = |_: usize| {
        let request = client
            .post(format!("{}/v1/counts", demo.base))
            .bearer_auth(&researcher)
            .json(&release_query(0.3));
        async move {
            let r = request.send().await.expect("a repeat");
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
            let body: serde_json::Value = r.json().await.expect("JSON");
            assert_eq!(body["charged"], json!(0.0), "a free repeat");
        }
    };
    put(0).await;
    for chunk in (1..550).collect::<Vec<_>>().chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|&i| put(i))).await;
        futures_util::future::join_all(chunk.iter().map(|&i| repeat(i))).await;
    }
    let size = demo.get("/v1/audit/entries?limit=1", auditor).await["ledger_size"]
        .as_u64()
        .expect("ledger_size");
    assert!((1100..2000).contains(&size), "ledger of {size} entries");

    b.sign_in(&demo.base, auditor).await;
    b.wait(
        "document.querySelector('#timeline g.ledger-dot')",
        "the timeline",
    )
    .await;
    let thousands = |n: u64| {
        let s = n.to_string();
        if s.len() > 3 {
            format!("{},{}", &s[..s.len() - 3], &s[s.len() - 3..])
        } else {
            s
        }
    };
    assert_eq!(stat(b, "entry-count").await as u64, size);
    assert_eq!(
        b.text("#ledger-showing").await,
        format!(
            "Showing 1,000 of {} entries, newest first (entries #{} to #{}).",
            thousands(size),
            thousands(size - 999),
            thousands(size)
        )
    );
    let dots = "return document.querySelectorAll('#timeline g.ledger-dot circle').length";
    assert_eq!(b.js(dots, json!([])).await, json!(1000));
    let first_row = "return document.querySelector('#timeline tbody tr').cells[0].textContent";
    assert_eq!(
        b.js(first_row, json!([])).await,
        json!(size.to_string()),
        "newest first"
    );
    b.click("#load-older").await;
    b.wait(
        &format!(
            "document.querySelector('#ledger-showing').textContent.startsWith('Showing {} of')",
            thousands(size)
        ),
        "the older entries",
    )
    .await;
    assert_eq!(
        b.text("#ledger-showing").await,
        format!("Showing {0} of {0} entries, newest first.", thousands(size))
    );
    assert_eq!(b.js(dots, json!([])).await, json!(size));
    assert_eq!(
        b.js(
            "return document.getElementById('load-older').getClientRects().length",
            json!([])
        )
        .await,
        json!(0),
        "nothing older to load"
    );

    // A pinned key other than the served one: a warning, and the command
    // uses the pinned key.
    let served = demo.get("/v1/audit/public-key", auditor).await["public_key"]
        .as_str()
        .expect("public key")
        .to_owned();
    let other: String = served
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let pin = "const k = document.getElementById('pinned-key'); k.value = arguments[0]; k.dispatchEvent(new Event('change'));";
    b.js(pin, json!([other])).await;
    let matched = "return document.getElementById('key-match').dataset.match";
    assert_eq!(b.js(matched, json!([])).await, json!("no"));
    let warning = b.text("#key-status").await;
    assert!(
        warning.contains("MISMATCH") && warning.contains("Warning"),
        "{warning}"
    );
    assert!(b.text("#verify-command").await.contains(&other));
    b.js(
        "document.querySelector('#key-status').scrollIntoView()",
        json!([]),
    )
    .await;
    b.view("auditor-key-mismatch").await;

    // The key received out of band (here: read with curl's equivalent).
    b.js(pin, json!([served])).await;
    assert_eq!(b.js(matched, json!([])).await, json!("yes"));

    // A checkpoint over the whole ledger, signed from the page, so that a
    // signature vouches for the export's last entry.
    b.click("#sign-checkpoint").await;
    b.confirm().await;
    b.wait(
        "document.querySelector('#checkpoints [data-status]')",
        "a checkpoint",
    )
    .await;

    // The export, verified by the command exactly as the page shows it.
    b.click("#download-export").await;
    b.wait(
        "!document.querySelector('#verify-command').textContent.includes('<downloaded export>')",
        "the saved file's name in the command",
    )
    .await;
    let shown = b.text("#verify-command").await;
    let words: Vec<&str> = shown.split_whitespace().collect();
    assert_eq!(words[..3], ["ctm-stats", "audit", "verify"], "{shown}");
    assert_eq!(words[4..], ["--public-key", served.as_str()], "{shown}");
    let export = b.downloaded(|f| f == words[3]).await;
    assert!(export.lines().count() as u64 > size);
    let run = Command::new(env!("CARGO_BIN_EXE_ctm-stats"))
        .args(&words[1..])
        .current_dir(&b.downloads)
        .output()
        .expect("run the page's verify command");
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && out.starts_with("OK:"),
        "{shown}\n{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // At phone width (checked by every view) the key, the hashes and the
    // command wrap.
    b.view("auditor-export-verified").await;
    s.finish(&[]).await;
}
