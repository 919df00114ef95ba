//! The national `[[tables]]` of a policy (over declared dimensions, within
//! the limits and cost bounds, each with the perspectives and total row it
//! may show) and the flow tables the service derives for regions and
//! bilateral flows.

use super::cx::{Cx, PolicyError};
use super::raw::{RawPolicy, RawTable};
use super::{CostBounds, Dimension, Flow, Limits, Table};
use crate::domain::{Field, FieldKind};
use std::collections::HashSet;
use toml::Spanned;

/// The two country fields a national release may be pinned on.
const COUNTRY_FIELDS: [Field; 2] = [Field::CountryOfExploitation, Field::Citizenship];

impl Cx<'_> {
    /// The national tables, over declared dimensions, within the limits and
    /// cost bounds, each with the perspectives and total it may show.
    pub(super) fn tables(
        &self,
        raw: &RawPolicy,
        dimensions: &[Dimension],
        limits: &Limits,
        cost: &CostBounds,
    ) -> Result<Vec<Table>, PolicyError> {
        let mut tables = Vec::new();
        let mut table_ids = HashSet::new();
        for (i, t) in raw.tables.iter().enumerate() {
            let at = format!("tables[{i}]");
            let id = self.identifier(
                &t.id,
                format!("{at}.id"),
                "must be an identifier of a-z, 0-9 and _",
            )?;
            if !table_ids.insert(id.clone()) {
                return Err(self.err(&t.id, format!("{at}.id"), "declared twice"));
            }
            for name in t.dimensions.get_ref() {
                if !dimensions.iter().any(|d| &d.name == name) {
                    return Err(self.err(
                        &t.dimensions,
                        format!("{at}.dimensions"),
                        format!(
                            "unknown dimension \"{name}\"; declared: {}",
                            names(dimensions)
                        ),
                    ));
                }
            }
            if t.dimensions.get_ref().len() > limits.max_dimensions {
                return Err(self.err(
                    &t.dimensions,
                    format!("{at}.dimensions"),
                    "more dimensions than limits.max_dimensions",
                ));
            }
            let cost_micro = self.cost_within(&t.cost, &format!("{at}.cost"), cost)?;
            let (perspectives, total) = self.table_release_shape(i, t, dimensions, &tables)?;
            tables.push(Table {
                id,
                title: t.title.clone(),
                dimensions: t.dimensions.get_ref().clone(),
                cost_micro,
                perspectives,
                total,
                flow: None,
            });
        }

        if let (Some(first), false) = (
            raw.tables.first(),
            dimensions
                .iter()
                .any(|d| d.field == Field::RegistrationYear),
        ) {
            return Err(self.err(
                &first.id,
                "tables",
                "national tables need a registration_year dimension: it is their period",
            ));
        }

        Ok(tables)
    }

    /// Validates how a national table is released: its perspectives and its
    /// total row. Each rule keeps a national release meaningful:
    /// - a perspective needs a declared dimension on its country field, which
    ///   the release filters to the one country;
    /// - a table may not group by the field its perspective pins (one cell);
    /// - a derived total needs single-valued dimensions (a person in a
    ///   multi-valued group may sit in several cells, so cells do not add up);
    /// - two tables offered on the same perspective may not group by the same
    ///   dimensions (they would be the same figures, and their SDMX
    ///   observations would share keys).
    fn table_release_shape(
        &self,
        i: usize,
        t: &RawTable,
        dimensions: &[Dimension],
        earlier: &[Table],
    ) -> Result<(Vec<Field>, bool), PolicyError> {
        let at = |f: &str| format!("tables[{i}].{f}");
        let perspectives = match &t.perspectives {
            None => COUNTRY_FIELDS.to_vec(),
            Some(list) => self.perspectives(list, &at("perspectives"))?,
        };
        let perspective_err = |s: &str| match &t.perspectives {
            Some(list) => self.err(list, at("perspectives"), s),
            None => self.err(&t.id, at("perspectives"), s),
        };
        let table_fields: Vec<Field> = t
            .dimensions
            .get_ref()
            .iter()
            .filter_map(|n| dimensions.iter().find(|d| &d.name == n))
            .map(|d| d.field)
            .collect();
        let mut mine = t.dimensions.get_ref().clone();
        mine.sort();
        for &p in &perspectives {
            if !dimensions.iter().any(|d| d.field == p) {
                return Err(perspective_err(&format!(
                    "perspective {p} needs a declared dimension reading {p}"
                )));
            }
            if table_fields.contains(&p) {
                return Err(perspective_err(&format!(
                    "the {p} perspective pins {p} to one country, so grouping by it gives one cell; offer this table on the other perspective only"
                )));
            }
            if let Some(twin) = earlier.iter().find(|o| {
                let mut theirs = o.dimensions.clone();
                theirs.sort();
                o.offers(p) && theirs == mine
            }) {
                return Err(self.err(
                    &t.dimensions,
                    at("dimensions"),
                    format!(
                        "table \"{}\" already groups by these dimensions on the {p} perspective",
                        twin.id
                    ),
                ));
            }
        }
        let total = match &t.total {
            Some(flag) if *flag.get_ref() => {
                if table_fields.iter().any(|f| f.kind() == FieldKind::Multi) {
                    return Err(self.err(
                        flag,
                        at("total"),
                        "a total row needs single-valued dimensions: a person may sit in several cells of a multi-valued one",
                    ));
                }
                true
            }
            _ => false,
        };
        Ok((perspectives, total))
    }

    /// A declared list of perspectives: country fields, each once, not none.
    fn perspectives(
        &self,
        list: &Spanned<Vec<String>>,
        field: &str,
    ) -> Result<Vec<Field>, PolicyError> {
        let mut out = Vec::new();
        for name in list.get_ref() {
            let perspective = Field::parse(name)
                .filter(|f| COUNTRY_FIELDS.contains(f))
                .ok_or_else(|| {
                    self.err(
                        list,
                        field,
                        format!(
                            "unknown perspective \"{name}\"; use country_of_exploitation or citizenship"
                        ),
                    )
                })?;
            if out.contains(&perspective) {
                return Err(self.err(list, field, format!("\"{name}\" listed twice")));
            }
            out.push(perspective);
        }
        if out.is_empty() {
            return Err(self.err(list, field, "must not be empty"));
        }
        Ok(out)
    }
}

/// The two tables of a bilateral flow (outbound, inbound) at `cost_micro`
/// each; none when the policy offers no bilateral flows.
pub(super) fn bilateral_tables(dimensions: &[Dimension], cost_micro: Option<u64>) -> Vec<Table> {
    let Some(cost_micro) = cost_micro else {
        return Vec::new();
    };
    vec![
        flow_table(
            "outbound",
            "The country's nationals exploited in the other country",
            dimensions,
            Flow::Outbound,
            cost_micro,
        ),
        flow_table(
            "inbound",
            "The other country's nationals exploited in the country",
            dimensions,
            Flow::Inbound,
            cost_micro,
        ),
    ]
}

/// A derived flow table: grouped by the country fields its flow breaks
/// down by (the policy's names for them), offered on both perspectives.
pub(super) fn flow_table(
    id: &str,
    title: &str,
    dimensions: &[Dimension],
    flow: Flow,
    cost_micro: u64,
) -> Table {
    let name = |field: Field| {
        dimensions
            .iter()
            .find(|d| d.field == field)
            .map_or_else(|| field.code().to_owned(), |d| d.name.clone())
    };
    let grouped = match flow {
        Flow::Within => vec![Field::Citizenship, Field::CountryOfExploitation],
        Flow::Out | Flow::Inbound => vec![Field::Citizenship],
        Flow::In | Flow::Outbound => vec![Field::CountryOfExploitation],
    };
    Table {
        id: id.to_owned(),
        title: title.to_owned(),
        dimensions: grouped.into_iter().map(name).collect(),
        cost_micro,
        perspectives: COUNTRY_FIELDS.to_vec(),
        total: false,
        flow: Some(flow),
    }
}

fn names(dims: &[Dimension]) -> String {
    dims.iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
