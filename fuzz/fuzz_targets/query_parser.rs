//! The body of `POST /v1/counts` as a client may send it: any bytes through
//! the JSON reader, then planning under the default policy, for a researcher
//! and for a government. It must answer a query or an error, never panic.
#![no_main]

use ctm_stats::domain::{Consumer, Country, Role};
use ctm_stats::policy::{Policy, parse_policy};
use ctm_stats::release::query::CountQuery;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static POLICY: LazyLock<Policy> = LazyLock::new(|| {
    parse_policy("default.toml", include_str!("../../policy/default.toml"))
        .expect("the default policy loads")
});

fuzz_target!(|data: &[u8]| {
    let Ok(request) = ctm_stats::release::parse_request(data) else {
        return;
    };
    let researcher = Consumer {
        id: "fuzz".into(),
        role: Role::Researcher,
        country: None,
        region: None,
    };
    let government = Consumer {
        id: "fuzz-gov".into(),
        role: Role::Government,
        country: Country::parse_alpha3("USA"),
        region: None,
    };
    for consumer in [&researcher, &government] {
        if request.workload.is_some() {
            let _ = ctm_stats::release::workload::plan_workload(&POLICY, consumer, &request);
        } else if let Ok(query) = CountQuery::parse(&POLICY, consumer, &request) {
            let _ = query.canonical(&POLICY, 500_000);
        }
    }
});
