//! The `[[regions]]` of a policy: well-formed distinct ids and SDMX codes,
//! at least two distinct members each, every member in the published domain
//! of both country dimensions (which a policy with regions must declare),
//! and the flow tables each region's report carries.

use super::cx::{Cx, PolicyError};
use super::raw::{RawPolicy, RawRegion};
use super::tables::flow_table;
use super::{CostBounds, Dimension, Flow, Region, Table};
use crate::domain::{Country, Field};

impl Cx<'_> {
    /// Every region of the policy, in the order declared.
    pub(super) fn regions(
        &self,
        raw: &RawPolicy,
        dimensions: &[Dimension],
        cost: &CostBounds,
    ) -> Result<Vec<Region>, PolicyError> {
        let mut regions: Vec<Region> = Vec::new();
        for (i, r) in raw.regions.iter().enumerate() {
            let region = self.region(i, r, dimensions, cost, &regions)?;
            regions.push(region);
        }
        Ok(regions)
    }

    fn region(
        &self,
        i: usize,
        r: &RawRegion,
        dimensions: &[Dimension],
        cost: &CostBounds,
        earlier: &[Region],
    ) -> Result<Region, PolicyError> {
        let at = |f: &str| format!("regions[{i}].{f}");
        let id = r.id.get_ref().clone();
        if !crate::domain::is_region_id(&id) {
            return Err(self.err(
                &r.id,
                at("id"),
                "must be 1 to 32 lower-case letters, digits, _ or -, starting with a letter",
            ));
        }
        if earlier.iter().any(|o| o.id == id) {
            return Err(self.err(&r.id, at("id"), "declared twice"));
        }
        let code = self.region_code(r, &id, &at("code"), earlier)?;
        let members = self.region_members(r, &at, dimensions)?;
        let flow_cost_micro = match &r.flow_cost {
            Some(c) => self.cost_within(c, &at("flow_cost"), cost)?,
            None => cost.default_micro,
        };
        Ok(Region {
            id,
            name: r.name.clone(),
            code,
            members,
            flow_cost_micro,
            outside_flows: r.outside_flows,
            flow_tables: region_flow_tables(dimensions, flow_cost_micro, r.outside_flows),
        })
    }

    /// The region's SDMX `REF_AREA` code: declared or the id in upper case,
    /// never a country's code nor another region's.
    fn region_code(
        &self,
        r: &RawRegion,
        id: &str,
        field: &str,
        earlier: &[Region],
    ) -> Result<String, PolicyError> {
        let code = match &r.code {
            Some(c) => c.get_ref().clone(),
            None => id.to_ascii_uppercase().replace('-', "_"),
        };
        let code_span = r.code.as_ref().map_or(r.id.span(), |c| c.span());
        let code_err = |message: &str| self.err_at(Some(code_span.start), field, message);
        let code_ok = (1..=10).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !code_ok {
            return Err(code_err(
                "the REF_AREA code must be 1 to 10 upper-case letters, digits or _",
            ));
        }
        if Country::parse_alpha3(&code).is_some() || earlier.iter().any(|o| o.code == code) {
            return Err(code_err(
                "the REF_AREA code must differ from every country code and every other region's",
            ));
        }
        Ok(code)
    }

    /// At least two distinct countries, each in both country dimensions.
    fn region_members(
        &self,
        r: &RawRegion,
        at: &dyn Fn(&str) -> String,
        dimensions: &[Dimension],
    ) -> Result<Vec<Country>, PolicyError> {
        let mut members: Vec<Country> = Vec::new();
        for m in r.members.get_ref() {
            let country = Country::parse_alpha3(m)
                .filter(|c| !c.is_unknown())
                .ok_or_else(|| {
                    self.err(
                        &r.members,
                        at("members"),
                        format!("\"{m}\" is not an ISO 3166-1 alpha-3 code"),
                    )
                })?;
            if members.contains(&country) {
                return Err(self.err(&r.members, at("members"), format!("{m} is listed twice")));
            }
            for field in [Field::Citizenship, Field::CountryOfExploitation] {
                let dim = dimensions
                    .iter()
                    .find(|d| d.field == field)
                    .ok_or_else(|| {
                        self.err(
                            &r.id,
                            at("id"),
                            "regions need the citizenship and country_of_exploitation dimensions",
                        )
                    })?;
                if dim.position_of(country.code()).is_none() {
                    return Err(self.err(
                        &r.members,
                        at("members"),
                        format!("{m} is not in the values of dimension {}", dim.name),
                    ));
                }
            }
            members.push(country);
        }
        if members.len() < 2 {
            return Err(self.err(
                &r.members,
                at("members"),
                "a region needs at least two members",
            ));
        }
        Ok(members)
    }
}

/// The tables a region's report adds to the national ones: its total by
/// member on each perspective, the flows within it and, with
/// `outside_flows`, the flows out of and into it.
fn region_flow_tables(
    dimensions: &[Dimension],
    flow_cost_micro: u64,
    outside_flows: bool,
) -> Vec<Table> {
    // The region's total by member, on each perspective: it partitions the
    // region's victims, so a report reconciles it with the other tables
    // (the members add up to the region).
    let mut flow_tables: Vec<Table> = [Field::CountryOfExploitation, Field::Citizenship]
        .into_iter()
        .filter_map(|field| {
            let dim = dimensions.iter().find(|d| d.field == field)?;
            Some(Table {
                id: "by_member".into(),
                title: if field == Field::Citizenship {
                    "Members' nationals, by member of citizenship".into()
                } else {
                    "Victims identified in the region, by member country".into()
                },
                dimensions: vec![dim.name.clone()],
                cost_micro: flow_cost_micro,
                perspectives: vec![field],
                total: true,
                flow: None,
            })
        })
        .collect();
    flow_tables.push(flow_table(
        "flow_within",
        "Flows within the region: members' nationals by member country of exploitation",
        dimensions,
        Flow::Within,
        flow_cost_micro,
    ));
    if outside_flows {
        flow_tables.push(flow_table(
            "flow_out",
            "Members' nationals exploited outside the region, by citizenship",
            dimensions,
            Flow::Out,
            flow_cost_micro,
        ));
        flow_tables.push(flow_table(
            "flow_in",
            "Nationals of non-members exploited in the region, by member country of exploitation",
            dimensions,
            Flow::In,
            flow_cost_micro,
        ));
    }
    flow_tables
}
