//! What the browser did, read from its own logs after a test: no request to
//! any other host, no Content-Security-Policy violation, no token in a URL,
//! the browser console or the service's log.

use crate::browser::Browser;
use crate::demo::{Demo, ROLES};
use serde_json::Value;

/// `extra_tokens`: tokens the test used beyond the banner's (e.g. a wrong one).
pub async fn nothing_left_for_another_host(
    demo: &Demo,
    b: &Browser,
    extra_tokens: &[(&str, &str)],
) {
    let network = b.log("performance").await;
    // (document, url) of every request the browser sent or tried to send.
    let requests: Vec<(String, String)> = network
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e["message"].as_str()?).ok())
        .filter(|m| m["message"]["method"] == serde_json::json!("Network.requestWillBeSent"))
        .map(|m| {
            let p = &m["message"]["params"];
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (s(&p["documentURL"]), s(&p["request"]["url"]))
        })
        .collect();
    let own = format!("{}/", demo.base);
    let urls: Vec<String> = requests.iter().map(|(_, u)| u.clone()).collect();
    let from_console: Vec<&String> = requests
        .iter()
        .filter(|(doc, _)| doc.starts_with(&own))
        .map(|(_, u)| u)
        .collect();
    assert!(
        from_console.len() > 20,
        "the network log was read ({} requests)",
        from_console.len()
    );
    let foreign: Vec<&&String> = from_console
        .iter()
        .filter(|u| !(u.starts_with(&own) || u.starts_with("blob:") || u.starts_with("data:")))
        .collect();
    assert!(
        foreign.is_empty(),
        "the console asked other hosts: {foreign:?}"
    );
    // Nor did anything else in this browser go out on the network (its own
    // chrome:// pages, such as the first empty tab, are not network requests).
    let outside: Vec<&String> = urls
        .iter()
        .filter(|u| {
            (u.starts_with("http:") || u.starts_with("https:") || u.starts_with("ws"))
                && !u.starts_with(&own)
        })
        .collect();
    assert!(
        outside.is_empty(),
        "network requests to other hosts: {outside:?}"
    );
    let console_log = b.log("browser").await;
    let console_text = serde_json::to_string(&console_log).unwrap_or_default();
    assert!(
        !console_text.contains("Content Security Policy"),
        "the console runs under its CSP without a violation: {console_text}"
    );
    let service_log = demo.log();
    assert!(
        service_log.contains("/console/"),
        "the service log was read"
    );
    let tokens: Vec<(String, String)> = ROLES
        .iter()
        .map(|r| ((*r).to_owned(), demo.token(r)))
        .chain(
            extra_tokens
                .iter()
                .map(|(r, t)| ((*r).to_owned(), (*t).to_owned())),
        )
        .collect();
    for (role, t) in &tokens {
        let signature = t.rsplit('.').next().unwrap_or(t);
        assert!(
            !urls.iter().any(|u| u.contains(signature)),
            "{role} token in a URL"
        );
        assert!(
            !console_text.contains(signature),
            "{role} token in the browser console"
        );
        assert!(
            !service_log.contains(signature),
            "{role} token in the service log"
        );
    }
}
