//! Refusals of the `[[regions]]`: ids, SDMX codes, members and flow cost;
//! and the flow tables a valid region's report carries.

use super::{GOOD, assert_refused, with};
use crate::policy::{Flow, parse_policy};

/// The first region of the shipped policy, `regions[0]`.
const GMS: &str = "id = \"gms\"\nname = \"Greater Mekong Sub-region (COMMIT)\"\nmembers = [\"KHM\", \"CHN\", \"LAO\", \"MMR\", \"THA\", \"VNM\"]\nflow_cost = 0.2";

/// The GMS region with its members replaced.
fn gms_members(members: &str) -> String {
    with(&[(
        GMS,
        &GMS.replace(
            "[\"KHM\", \"CHN\", \"LAO\", \"MMR\", \"THA\", \"VNM\"]",
            members,
        ),
    )])
}

#[test]
fn regions_get_a_code_and_their_flow_tables() {
    let p = parse_policy("p.toml", GOOD).expect("valid");
    let gms = p.region("gms").expect("gms");
    assert_eq!(
        (gms.code.as_str(), gms.members.len(), gms.flow_cost_micro),
        ("GMS", 6, 200_000)
    );
    let ids: Vec<&str> = gms.flow_tables.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "by_member",
            "by_member",
            "flow_within",
            "flow_out",
            "flow_in"
        ]
    );
    assert_eq!(gms.flow_tables[2].flow, Some(Flow::Within));
    let ecowas = p.region("ecowas").expect("ecowas");
    assert_eq!(ecowas.flow_tables.len(), 3, "no outside flows");
}

#[test]
fn a_region_id_is_lower_case() {
    let src = with(&[("id = \"gms\"", "id = \"GMS\"")]);
    assert_refused(&src, "regions[0].id", "lower-case letters", "\"GMS\"");
}

#[test]
fn a_region_id_is_declared_once() {
    let src = with(&[("id = \"gms\"", "id = \"asean\"")]);
    assert_refused(&src, "regions[1].id", "declared twice", "asean");
}

#[test]
fn a_region_code_is_upper_case_and_short() {
    let src = with(&[("id = \"gms\"", "id = \"gms\"\ncode = \"Gms\"")]);
    assert_refused(
        &src,
        "regions[0].code",
        "1 to 10 upper-case letters",
        "code = \"Gms\"",
    );
    // Derived from a long id, the code is refused at the id's line.
    let src = with(&[("id = \"gms\"", "id = \"greater_mekong\"")]);
    assert_refused(
        &src,
        "regions[0].code",
        "1 to 10 upper-case letters",
        "greater_mekong",
    );
}

#[test]
fn a_region_code_is_no_country_and_no_other_region() {
    let src = with(&[("id = \"gms\"", "id = \"gms\"\ncode = \"THA\"")]);
    assert_refused(
        &src,
        "regions[0].code",
        "differ from every country code",
        "THA",
    );
    let src = with(&[("id = \"asean\"", "id = \"asean\"\ncode = \"GMS\"")]);
    assert_refused(
        &src,
        "regions[1].code",
        "every other region's",
        "code = \"GMS\"",
    );
}

#[test]
fn members_are_known_countries_each_once() {
    for (members, message) in [
        (
            "[\"KHM\", \"Thailand\"]",
            "\"Thailand\" is not an ISO 3166-1 alpha-3 code",
        ),
        (
            "[\"KHM\", \"unknown\"]",
            "\"unknown\" is not an ISO 3166-1 alpha-3 code",
        ),
        ("[\"KHM\", \"KHM\"]", "KHM is listed twice"),
        ("[\"KHM\"]", "at least two members"),
    ] {
        assert_refused(
            &gms_members(members),
            "regions[0].members",
            message,
            "members = ",
        );
    }
}

#[test]
fn members_must_be_in_the_values_of_both_country_dimensions() {
    let src = with(&[(
        "name = \"country_of_exploitation\"\n",
        "name = \"country_of_exploitation\"\nvalues = [\"KHM\", \"CHN\", \"LAO\", \"MMR\", \"THA\"]\n",
    )]);
    assert_refused(
        &src,
        "regions[0].members",
        "VNM is not in the values of dimension country_of_exploitation",
        "members = ",
    );
}

#[test]
fn regions_need_both_country_dimensions() {
    // Without tables (whose perspectives would fail first) and without the
    // citizenship dimension.
    let start = GOOD.find("[[tables]]").unwrap_or(0);
    let end = GOOD.find("# Regions:").unwrap_or(0);
    assert!(
        start > 0 && end > start,
        "policy/default.toml changed: update the test"
    );
    let no_tables = format!("{}{}", &GOOD[..start], &GOOD[end..]);
    let citizenship = "[[dimensions]]\nname = \"citizenship\"\ndescription = \"ISO 3166-1 alpha-3 country of citizenship.\"\nroles = [\"researcher\", \"government\"]\n";
    assert_eq!(no_tables.matches(citizenship).count(), 1, "update the test");
    let src = no_tables.replacen(citizenship, "", 1);
    assert_refused(
        &src,
        "regions[0].id",
        "need the citizenship and country_of_exploitation",
        "\"gms\"",
    );
}

#[test]
fn a_flow_cost_must_lie_within_the_bounds() {
    let src = with(&[(GMS, &GMS.replace("flow_cost = 0.2", "flow_cost = 9.0"))]);
    assert_refused(
        &src,
        "regions[0].flow_cost",
        "between privacy.min and privacy.max",
        "flow_cost = 9.0",
    );
}
