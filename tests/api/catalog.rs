//! `GET /v1/catalog`'s human labels: every dimension and value of the
//! policy, every ISO 3166-1 country and every region, keyed by language,
//! next to the codes that stay the identifiers.

use crate::helpers::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_labels_every_dimension_value_country_and_region() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let catalog = ok_json(
        app.client
            .get(app.url("/v1/catalog"))
            .send()
            .await
            .expect("catalog"),
    )
    .await;
    assert_eq!(catalog["languages"], serde_json::json!(["en"]));
    let dataset = &catalog["datasets"][0];
    let dimensions = dataset["dimensions"].as_array().expect("dimensions");
    assert!(dimensions.len() > 10);
    for d in dimensions {
        let name = d["name"].as_str().expect("name");
        let en = &d["labels"]["en"];
        let title = en["name"].as_str().unwrap_or_default();
        assert!(!title.is_empty() && title != name, "{name}: {title:?}");
        let values = d["values"].as_array().expect("values");
        let labels = en["values"].as_object().expect("value labels");
        assert_eq!(labels.len(), values.len(), "{name}: one label per value");
        for v in values {
            let code = v.as_str().expect("code");
            let label = labels.get(code).and_then(Value::as_str).unwrap_or_default();
            assert!(!label.trim().is_empty(), "{name} = {code} has no label");
        }
    }
    let label = |dim: &str, code: &str| {
        dimensions
            .iter()
            .find(|d| d["name"] == dim)
            .and_then(|d| d["labels"]["en"]["values"][code].as_str())
            .map(str::to_owned)
    };
    assert_eq!(label("gender", "woman").as_deref(), Some("Woman"));
    assert_eq!(
        label("gender", "trans_nonconforming").as_deref(),
        Some("Transgender / gender non-conforming")
    );
    assert_eq!(label("citizenship", "AFG").as_deref(), Some("Afghanistan"));
    assert_eq!(label("citizenship", "unknown").as_deref(), Some("Unknown"));
    assert_eq!(label("registration_year", "2019").as_deref(), Some("2019"));

    let countries = catalog["countries"].as_object().expect("countries");
    assert_eq!(countries.len(), 249, "every ISO 3166-1 country");
    assert!(!countries.contains_key("unknown"));
    let mut numerics = std::collections::HashSet::new();
    for (code, c) in countries {
        let numeric = c["numeric"].as_str().unwrap_or_default();
        assert!(
            numeric.len() == 3 && numeric.bytes().all(|b| b.is_ascii_digit()),
            "{code}: {numeric:?}"
        );
        assert!(
            numerics.insert(numeric.to_owned()),
            "{code}: {numeric} twice"
        );
        assert!(c["en"].as_str().is_some_and(|n| !n.is_empty()), "{code}");
    }
    for (code, numeric, name) in [
        ("AFG", "004", "Afghanistan"),
        ("USA", "840", "United States of America"),
        ("MEX", "484", "Mexico"),
        ("THA", "764", "Thailand"),
        ("CIV", "384", "Côte d'Ivoire"),
        (
            "GBR",
            "826",
            "United Kingdom of Great Britain and Northern Ireland",
        ),
    ] {
        assert_eq!(countries[code]["numeric"], numeric, "{code}");
        assert_eq!(countries[code]["en"], name, "{code}");
    }

    let regions = dataset["regions"].as_array().expect("regions");
    assert!(!regions.is_empty());
    for r in regions {
        assert!(
            r["labels"]["en"].as_str().is_some_and(|l| !l.is_empty()),
            "region {} has a label",
            r["id"]
        );
    }
    let gms = regions.iter().find(|r| r["id"] == "gms").expect("gms");
    assert_eq!(gms["labels"]["en"], gms["name"]);
}
