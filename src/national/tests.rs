//! Unit tests of the scope and the table queries of national releases.
#![expect(clippy::unwrap_used)]

use super::*;
use crate::domain::Country;
use crate::release::query::{CountQuery, Perspective};
use crate::testing::{government, regional, researcher, shipped_policy};
use serde_json::json;

#[test]
fn a_government_is_scoped_to_its_country_before_anything_else() {
    let p = shipped_policy();
    let gov = government("USA");
    assert!(resolve_scope(&p, &gov, AreaPath::Country("usa"), &Params::default()).is_ok());
    // Bad years, another country: the scope refusal comes first.
    let bad_years = Params {
        from_year: Some(1900),
        ..Params::default()
    };
    let e = resolve_scope(&p, &gov, AreaPath::Country("UKR"), &bad_years).unwrap_err();
    assert_eq!(e.code(), "auth.country_scope");
    let e = resolve_scope(&p, &gov, AreaPath::Country("XYZ"), &Params::default()).unwrap_err();
    assert_eq!(e.code(), "national.unknown_country");
    let e = resolve_scope(&p, &gov, AreaPath::Country("unknown"), &Params::default()).unwrap_err();
    assert_eq!(e.code(), "national.unknown_country");
    assert!(
        resolve_scope(
            &p,
            &researcher(),
            AreaPath::Country("UKR"),
            &Params::default()
        )
        .is_ok()
    );
}

#[test]
fn a_regional_partner_reads_its_region_and_nothing_else() {
    let p = shipped_policy();
    let gms = regional("gms");
    let scope = resolve_scope(&p, &gms, AreaPath::Region("gms"), &Params::default()).unwrap();
    assert_eq!(scope.area.code(&p), "GMS");
    assert_eq!(scope.area.members(&p).len(), 6);
    for refused in [
        resolve_scope(&p, &gms, AreaPath::Region("asean"), &Params::default()),
        resolve_scope(&p, &gms, AreaPath::Country("THA"), &Params::default()),
        resolve_scope(&p, &gms, AreaPath::Country("USA"), &Params::default()),
        resolve_scope(&p, &gms, AreaPath::Region("nowhere"), &Params::default()),
    ] {
        assert_eq!(refused.unwrap_err().code(), "auth.region_scope");
    }
    let e = resolve_scope(
        &p,
        &government("THA"),
        AreaPath::Region("gms"),
        &Params::default(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "auth.country_scope");
    let e = resolve_scope(
        &p,
        &researcher(),
        AreaPath::Region("nowhere"),
        &Params::default(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "regional.unknown_region");
    assert!(
        resolve_scope(
            &p,
            &researcher(),
            AreaPath::Region("asean"),
            &Params::default()
        )
        .is_ok()
    );
}

#[test]
fn a_region_filters_on_its_members_and_its_flows_on_both_country_fields() {
    let p = shipped_policy();
    let gms = regional("gms");
    let scope = resolve_scope(&p, &gms, AreaPath::Region("gms"), &Params::default()).unwrap();
    let members = json!(["KHM", "CHN", "LAO", "MMR", "THA", "VNM"]);
    let ids: Vec<&str> = offered_tables(&p, &scope)
        .iter()
        .map(|t| t.id.as_str())
        .collect();
    assert!(
        ids.ends_with(&["by_member", "flow_within", "flow_out", "flow_in"]),
        "{ids:?}"
    );
    let table = |id: &str| {
        *offered_tables(&p, &scope)
            .iter()
            .find(|t| t.id == id)
            .unwrap()
    };
    let req = count_request(&p, &gms, table("by_sex_and_age"), &scope);
    assert_eq!(req.filters["country_of_exploitation"], members);
    assert_eq!(req.perspective, None, "only governments name a perspective");
    let within = count_request(&p, &gms, table("flow_within"), &scope);
    assert_eq!(within.filters["citizenship"], members);
    assert_eq!(within.filters["country_of_exploitation"], members);
    let q = CountQuery::parse(&p, &gms, &within).unwrap();
    assert_eq!(q.cells, 36, "members by members");
    let out = count_request(&p, &gms, table("flow_out"), &scope);
    let rest = out.filters["country_of_exploitation"].as_array().unwrap();
    assert!(
        !rest
            .iter()
            .any(|c| members.as_array().unwrap().contains(c) || c == "unknown")
    );
    assert_eq!(
        rest.len() + 6 + 1,
        Country::domain_len(),
        "every other known country"
    );
    assert_eq!(CountQuery::parse(&p, &gms, &out).unwrap().cells, 6);
}

#[test]
fn a_bilateral_flow_is_two_cells_a_government_may_ask_for() {
    let p = shipped_policy();
    let gov = government("THA");
    let mut scope = resolve_scope(&p, &gov, AreaPath::Country("THA"), &Params::default()).unwrap();
    scope.other = Country::parse_alpha3("MMR");
    let tables = offered_tables(&p, &scope);
    assert_eq!(tables.len(), 2);
    for t in tables {
        let req = count_request(&p, &gov, t, &scope);
        let q = CountQuery::parse(&p, &gov, &req).unwrap();
        assert_eq!(q.cells, 1, "{}: one cell", t.id);
    }
}

#[test]
fn the_whole_year_domain_adds_no_year_filter() {
    let p = shipped_policy();
    let t = p.table("by_sex_and_age").unwrap();
    let all = resolve_scope(
        &p,
        &researcher(),
        AreaPath::Country("USA"),
        &Params::default(),
    )
    .unwrap();
    let req = count_request(&p, &researcher(), t, &all);
    assert_eq!(req.filters.len(), 1, "only the country");
    assert_eq!(req.perspective, None, "researchers name no perspective");
    let some = Params {
        from_year: Some(2015),
        to_year: Some(2020),
        ..Params::default()
    };
    let scope = resolve_scope(&p, &government("USA"), AreaPath::Country("USA"), &some).unwrap();
    let req = count_request(&p, &government("USA"), t, &scope);
    assert_eq!(
        req.filters["registration_year"],
        json!({"from": 2015, "to": 2020})
    );
    assert_eq!(req.perspective, Some(Perspective::CountryOfExploitation));
    assert_eq!(req.epsilon, Some(0.2));
}
