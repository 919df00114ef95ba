//! A first visit: how fast the console loads, the sign-in form, a wrong token.

use crate::Session;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_loads_from_the_service_alone_and_explains_a_wrong_token() {
    let Some(s) = Session::start().await else {
        return;
    };
    let (demo, b) = (&s.demo, &s.b);
    assert!(
        demo.banner.contains(&format!("{}/console/", demo.base)),
        "the demo banner prints the console address:\n{}",
        demo.banner
    );

    // How long the console takes to load, first from nothing, then from
    // the browser's cache (revalidated with ETags).
    for visit in ["first", "cached"] {
        b.goto(&format!("{}/console/", demo.base)).await;
        b.wait("document.body.dataset.ready === 'true'", "the console")
            .await;
        let t = b
            .js(
                "const n = performance.getEntriesByType('navigation')[0]; return [n.domContentLoadedEventEnd, n.loadEventEnd, performance.getEntriesByType('resource').reduce((s, r) => s + r.transferSize, 0) + n.transferSize]",
                json!([]),
            )
            .await;
        println!(
            "console page load ({visit} visit): DOMContentLoaded {:.0} ms, load {:.0} ms, {} bytes transferred",
            t[0].as_f64().unwrap_or(-1.0),
            t[1].as_f64().unwrap_or(-1.0),
            t[2]
        );
    }

    // Before sign-in the header offers no "Sign out".
    assert_eq!(
        b.js(
            "return document.getElementById('sign-out').getClientRects().length",
            json!([])
        )
        .await,
        json!(0),
        "Sign out is not shown before sign-in"
    );
    b.view("sign-in").await;

    // The checks every view gets can fail: an image without a text
    // alternative and a box wider than a phone are both caught. (Sized
    // through the CSSOM: the CSP refuses a style attribute.)
    b.viewport(crate::browser::PHONE).await;
    b.js(
        "const i = document.createElement('img'); i.id = 'planted-img'; i.src = 'icon.svg'; \
         const d = document.createElement('div'); d.id = 'planted-wide'; d.textContent = 'x'; \
         d.style.width = '600px'; document.body.append(i, d);",
        json!([]),
    )
    .await;
    let found = b.violations().await;
    assert!(
        found.iter().any(|v| v["id"] == "image-alt"),
        "axe-core reports the planted image: {found:?}"
    );
    let (scroll, inner, over) = b.overflow().await;
    assert!(
        scroll > inner && over.to_string().contains("div#planted-wide"),
        "the planted box sticks out: {scroll} > {inner}, {over}"
    );
    b.js(
        "document.getElementById('planted-img').remove(); document.getElementById('planted-wide').remove();",
        json!([]),
    )
    .await;
    b.fits("sign-in without the planted elements").await;
    b.viewport(crate::browser::DESKTOP).await;

    // A wrong token: a clear message, no session.
    let wrong = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJub2JvZHkifQ.d3JvbmctdG9rZW4";
    b.sign_in(&demo.base, wrong).await;
    let error = b.text("#sign-in-error").await;
    assert!(
        error.contains("not accepted"),
        "a wrong token is explained: {error:?}"
    );
    assert_eq!(
        b.js("return sessionStorage.length", json!([])).await,
        json!(0),
        "a refused token is not kept"
    );
    b.view("sign-in-refused").await;
    s.finish(&[("wrong", wrong)]).await;
}
