//! Every report of the demo data, read as an attacker would: from the
//! published figures alone and every linear relation that holds between
//! them in the truth, no suppressed figure can be computed; every such
//! relation holds where all its figures are published; and what is a part
//! of a published figure is never published above it.
//!
//! The relations are rebuilt here from the reports' JSON (a table's cells
//! add up to the total; two tables over one population agree on the
//! dimensions they share; `internal_vs_international` is a grouping of the
//! other country field), independently of how the service builds its own.

use crate::helpers::*;
use crate::on_both_backends;
use ctm_stats::domain::Role;
use ctm_stats::privacy::complement::{Relation, determined};
use serde_json::Value;
use std::collections::BTreeMap;

/// The figures of one report's consistent tables and its total, as a
/// linear system.
struct Figures {
    /// Per figure: its published value, or `None` when suppressed.
    values: Vec<Option<i64>>,
    /// Where each figure comes from, for messages.
    names: Vec<String>,
    relations: Vec<Relation>,
}

fn cells(table: &Value) -> &Vec<Value> {
    table["cells"].as_array().expect("cells")
}

fn dims(table: &Value) -> Vec<&str> {
    table["dimensions"]
        .as_array()
        .expect("dimensions")
        .iter()
        .map(|d| d.as_str().expect("dimension"))
        .collect()
}

fn figures(report: &Value) -> Figures {
    let tables: Vec<&Value> = report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter(|t| t["consistent"] == true)
        .collect();
    let mut values = Vec::new();
    let mut names = Vec::new();
    let mut offsets = Vec::new();
    for t in &tables {
        offsets.push(values.len());
        for c in cells(t) {
            values.push(c["count"].as_i64());
            names.push(format!("{} {}", t["id"], c["key"]));
        }
    }
    let total_at = values.len();
    values.push(tables.first().and_then(|t| t["total"]["count"].as_i64()));
    names.push("total".into());
    let mut relations: Vec<Relation> = Vec::new();
    for (t, table) in tables.iter().enumerate() {
        let mut r: Relation = (0..cells(table).len())
            .map(|c| (offsets[t] + c, 1.0))
            .collect();
        r.push((total_at, -1.0));
        relations.push(r);
    }
    // Two tables agree on every combination of the dimensions they share.
    for a in 0..tables.len() {
        for b in a + 1..tables.len() {
            let shared: Vec<&str> = dims(tables[a])
                .into_iter()
                .filter(|d| dims(tables[b]).contains(d))
                .collect();
            if shared.is_empty() {
                continue;
            }
            let mut groups: BTreeMap<String, Relation> = BTreeMap::new();
            for (t, sign) in [(a, 1.0), (b, -1.0)] {
                for (c, cell) in cells(tables[t]).iter().enumerate() {
                    let key: Vec<String> =
                        shared.iter().map(|d| cell["key"][d].to_string()).collect();
                    groups
                        .entry(key.join("|"))
                        .or_default()
                        .push((offsets[t] + c, sign));
                }
            }
            relations.extend(groups.into_values());
        }
    }
    // is_internal is a grouping of the other country field.
    let other = if report["perspective"] == "citizenship" {
        "country_of_exploitation"
    } else {
        "citizenship"
    };
    let find = |dim: &str| tables.iter().position(|t| dims(t) == [dim]);
    if let (Some(iv), Some(by)) = (find("is_internal"), find(other)) {
        let region = report.get("region").is_some_and(|r| !r.is_null());
        let country = report["country"].as_str().expect("country");
        // The group of a citizenship (or country) code, and of an is_internal value.
        let of_country = |code: &str| -> String {
            match code {
                "unknown" => "unknown".into(),
                _ if region => "known".into(),
                c if c == country => "internal".into(),
                _ => "international".into(),
            }
        };
        let of_internal = |v: &str| -> String {
            if region && v != "unknown" {
                "known".into()
            } else {
                v.to_owned()
            }
        };
        let mut groups: BTreeMap<String, Relation> = BTreeMap::new();
        for (c, cell) in cells(tables[iv]).iter().enumerate() {
            let v = cell["key"]["is_internal"].as_str().expect("is_internal");
            groups
                .entry(of_internal(v))
                .or_default()
                .push((offsets[iv] + c, 1.0));
        }
        for (c, cell) in cells(tables[by]).iter().enumerate() {
            let v = cell["key"][other].as_str().expect("country");
            groups
                .entry(of_country(v))
                .or_default()
                .push((offsets[by] + c, -1.0));
        }
        relations.extend(groups.into_values());
    }
    Figures {
        values,
        names,
        relations,
    }
}

/// What the check of one report found wrong (empty when nothing).
fn problems(report: &Value, k: i64) -> Vec<String> {
    let f = figures(report);
    let suppressed: Vec<bool> = f.values.iter().map(Option::is_none).collect();
    let mut out: Vec<String> = determined(&f.relations, &suppressed)
        .into_iter()
        .map(|i| format!("{} is suppressed but derivable", f.names[i]))
        .collect();
    for r in &f.relations {
        let published: Option<f64> = r
            .iter()
            .map(|&(i, a)| f.values[i].map(|v| a * v as f64))
            .sum();
        if let Some(s) = published
            && s.abs() > 1e-9
        {
            let named: Vec<&str> = r.iter().map(|&(i, _)| f.names[i].as_str()).collect();
            out.push(format!("a relation fails by {s}: {named:?}"));
        }
    }
    let total = f.values.last().copied().flatten();
    let tables = report["tables"].as_array().expect("tables");
    for t in tables {
        let id = t["id"].as_str().unwrap_or_default();
        for c in cells(t) {
            let Some(v) = c["count"].as_i64() else {
                continue;
            };
            if v < k {
                out.push(format!("{id} {} is published below k", c["key"]));
            }
            // Every table of a report counts part of its victims.
            if let Some(total) = total
                && v > total
            {
                out.push(format!("{id} {} is above the total {total}", c["key"]));
            }
        }
    }
    // A region's flows are parts of its members' figures.
    if let Some(members) = tables.iter().find(|t| t["id"] == "by_member") {
        let field = dims(members)[0].to_owned();
        let bound: BTreeMap<String, Option<i64>> = cells(members)
            .iter()
            .map(|c| {
                (
                    c["key"][&field].as_str().unwrap_or_default().to_owned(),
                    c["count"].as_i64(),
                )
            })
            .collect();
        let inside = |id: &str| {
            matches!(
                (id, field.as_str()),
                ("flow_within", _)
                    | ("flow_in", "country_of_exploitation")
                    | ("flow_out", "citizenship")
            )
        };
        let mut parts: BTreeMap<String, i64> = BTreeMap::new();
        for t in tables
            .iter()
            .filter(|t| inside(t["id"].as_str().unwrap_or_default()))
        {
            for c in cells(t) {
                if let (Some(m), Some(v)) = (c["key"][&field].as_str(), c["count"].as_i64()) {
                    *parts.entry(m.to_owned()).or_default() += v;
                }
            }
        }
        for (m, sum) in parts {
            if let Some(Some(b)) = bound.get(&m)
                && sum > *b
            {
                out.push(format!(
                    "the flows of {m} add up to {sum}, above by_member's {b}"
                ));
            }
        }
    }
    out
}

on_both_backends!(
    no_report_of_the_demo_data_lets_a_suppressed_value_be_computed,
    |backend| async move {
        let policy = policy_with(&[
            ("budgets.researcher", "1000000.0"),
            ("budgets.global", "100000000.0"),
            ("limits.requests_per_minute", "1000000"),
        ]);
        // The demo data set: `serve --demo`'s cases and seed.
        let Some(app) = TestApp::spawn_with(
            backend,
            Spawn {
                cases: 50_000,
                seed: 1,
                policy_text: policy,
                ..Spawn::default()
            },
        )
        .await
        else {
            return;
        };
        let token = app.token(Role::Researcher, "statistician");
        let countries: Vec<String> = app
            .policy
            .dimension("country_of_exploitation")
            .expect("country dimension")
            .value_codes()
            .into_iter()
            .filter(|c| c != "unknown")
            .collect();
        let mut paths = Vec::new();
        for c in &countries {
            for p in ["country_of_exploitation", "citizenship"] {
                paths.push(format!("/v1/national/{c}/report?perspective={p}"));
            }
            paths.push(format!("/v1/national/{c}/report?year=2005"));
            paths.push(format!("/v1/national/{c}/report?year=2015"));
        }
        for r in ["gms", "asean", "ecowas", "sadc"] {
            for p in ["country_of_exploitation", "citizenship"] {
                paths.push(format!("/v1/regional/{r}/report?perspective={p}"));
            }
        }
        let k = app.policy.k as i64;
        let mut found = Vec::new();
        let mut suppressed_cells = 0usize;
        for path in &paths {
            let report = ok_json(app.get(path, &token).await).await;
            suppressed_cells += report["tables"]
                .as_array()
                .expect("tables")
                .iter()
                .flat_map(|t| cells(t).iter())
                .filter(|c| c["suppressed"] == true)
                .count();
            found.extend(
                problems(&report, k)
                    .into_iter()
                    .map(|p| format!("{path}: {p}")),
            );
        }
        assert!(
            suppressed_cells > 1000,
            "the reports suppress cells: {suppressed_cells}"
        );
        assert!(
            found.is_empty(),
            "{} problems in {} reports, the first: {:#?}",
            found.len(),
            paths.len(),
            &found[..found.len().min(20)]
        );
    }
);

/// The checker itself catches what it must: one suppressed cell beside a
/// published total, and a suppressed internal count printed by citizenship.
#[test]
fn the_checker_finds_a_lone_suppressed_cell_and_a_tied_one() {
    let report = serde_json::json!({
        "country": "ALB", "perspective": "country_of_exploitation",
        "tables": [
            {"id": "victims_by_year", "consistent": true, "dimensions": ["registration_year"],
             "total": {"count": 30},
             "cells": [{"key": {"registration_year": "2005"}, "count": null},
                       {"key": {"registration_year": "2006"}, "count": 26}]},
            {"id": "by_citizenship", "consistent": true, "dimensions": ["citizenship"],
             "total": {"count": 30},
             "cells": [{"key": {"citizenship": "ALB"}, "count": null},
                       {"key": {"citizenship": "unknown"}, "count": null},
                       {"key": {"citizenship": "UKR"}, "count": 22}]},
            {"id": "internal_vs_international", "consistent": true, "dimensions": ["is_internal"],
             "total": {"count": 30},
             "cells": [{"key": {"is_internal": "internal"}, "count": 8},
                       {"key": {"is_internal": "international"}, "count": 22},
                       {"key": {"is_internal": "unknown"}, "count": null}]}
        ]
    });
    let found = problems(&report, 10);
    assert!(found.iter().any(|p| p.contains("2005")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("\"ALB\"")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("below k")), "{found:?}");
}
