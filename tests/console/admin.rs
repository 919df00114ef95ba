//! The admin: a budget set with a confirmation, the role checked before it;
//! the researcher then told what is left.

use crate::Session;
use crate::auditor::a_researcher_release;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_a_budget_after_the_role_is_checked_and_the_researcher_is_told() {
    let Some(s) = Session::start().await else {
        return;
    };
    let (demo, b) = (&s.demo, &s.b);
    let researcher = s.token("researcher");
    // The researcher has spent 0.3 of its budget.
    a_researcher_release(demo, 0.3).await;
    // Admin: set a budget, with a confirmation.
    b.sign_in(&demo.base, &s.token("admin")).await;
    b.wait("document.querySelector('#budget-form')", "the budgets view")
        .await;
    b.type_into("#b-consumer", "demo-researcher").await;
    b.type_into("#b-limit", "0.5").await;
    assert_eq!(
        b.js(
            "return [...document.querySelectorAll('#b-role option')].map(o => o.value)",
            json!([])
        )
        .await,
        json!([
            "",
            "researcher",
            "government",
            "regional",
            "auditor",
            "admin"
        ]),
        "every role can be given to a new consumer"
    );
    b.js(
        "document.getElementById('b-role').value = 'government'",
        json!([]),
    )
    .await;
    b.click("#b-set").await;
    b.wait(
        "!document.querySelector('#alert').hidden",
        "the role mismatch",
    )
    .await;
    let alert = b.text("#alert").await;
    assert!(alert.contains("Role mismatch"), "{alert}");
    assert_eq!(
        b.js("return document.querySelector('#confirm').open", json!([]))
            .await,
        json!(false),
        "a wrong role is refused before the confirmation"
    );
    b.js("document.getElementById('b-role').value = ''", json!([]))
        .await;
    b.click("#b-set").await;
    b.confirm().await;
    b.wait("document.querySelector('#alert.info')", "the change")
        .await;
    assert_eq!(
        demo.get("/v1/budget", &researcher).await["limit"],
        json!(0.5)
    );
    b.view("admin-budgets").await;

    // The researcher, now short of budget: told how much is left and what
    // that would buy, and the release cannot be pressed.
    b.sign_in(&demo.base, &researcher).await;
    b.wait("document.querySelector('#count-form')", "the counts form")
        .await;
    b.click("input[name=dimension][value=gender]").await;
    b.js("document.getElementById('cost').value = '1'", json!([]))
        .await;
    b.click("#estimate").await;
    b.wait(
        "document.querySelector('#est-alternative')",
        "what is left would buy",
    )
    .await;
    let unaffordable = b.text("#est-unaffordable").await;
    assert!(
        unaffordable.contains("0.2"),
        "how much is left: {unaffordable}"
    );
    let alternative = b.text("#est-alternative").await;
    assert!(
        alternative.contains("0.2") && alternative.contains("margin of error would be"),
        "what a smaller cost gives: {alternative}"
    );
    assert_eq!(
        b.js(
            "return document.getElementById('release').disabled",
            json!([])
        )
        .await,
        json!(true)
    );
    b.view("researcher-short-of-budget").await;

    s.finish(&[]).await;
}
