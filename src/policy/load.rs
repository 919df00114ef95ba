//! Parsing and validation of policy files. Every error carries the file, the
//! 1-based line and the dotted path of the offending field.

use super::{
    Accounting, CostBounds, DEFAULT_MAX_TOKEN_HOURS, Dimension, Flow, Limits, Output, Policy,
    PrivacyUnit, Region, Table,
};
use crate::domain::case::{YEAR_MAX, YEAR_MIN};
use crate::domain::{Country, Field, FieldKind, Role};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use toml::Spanned;

/// A policy that cannot be used, located as precisely as the file allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {field}: {message}")]
pub struct PolicyError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    dataset: Spanned<String>,
    title: String,
    #[serde(default)]
    description: String,
    privacy: RawPrivacy,
    budgets: BTreeMap<String, Spanned<f64>>,
    limits: RawLimits,
    #[serde(default)]
    output: RawOutput,
    dimensions: Vec<RawDimension>,
    #[serde(default)]
    tables: Vec<RawTable>,
    #[serde(default)]
    regions: Vec<RawRegion>,
    #[serde(default)]
    bilateral: Option<RawBilateral>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegion {
    id: Spanned<String>,
    name: String,
    members: Spanned<Vec<String>>,
    /// SDMX `REF_AREA` code; default: the id in upper case.
    #[serde(default)]
    code: Option<Spanned<String>>,
    /// Cost of each flow table; default: `privacy.default`.
    #[serde(default)]
    flow_cost: Option<Spanned<f64>>,
    /// Whether the report has the flows between members and the rest of the world.
    #[serde(default)]
    outside_flows: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBilateral {
    /// Cost of each direction of a bilateral flow.
    cost: Spanned<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrivacy {
    accounting: Spanned<String>,
    #[serde(default)]
    unit: Option<Spanned<String>>,
    #[serde(default)]
    delta: Option<Spanned<f64>>,
    k: Spanned<i64>,
    #[serde(default)]
    max_cases_per_person: Option<Spanned<i64>>,
    default: Spanned<f64>,
    min: Spanned<f64>,
    max: Spanned<f64>,
    grid: Spanned<f64>,
    confidence: Spanned<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_dimensions: Spanned<i64>,
    max_cells: Spanned<i64>,
    max_body_bytes: Spanned<i64>,
    requests_per_minute: Spanned<i64>,
    /// Longest token lifetime the service accepts (hours; a year if unset).
    max_token_hours: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    #[serde(default = "yes")]
    clamp_negative: bool,
    #[serde(default)]
    round_to: Option<Spanned<i64>>,
}

impl Default for RawOutput {
    fn default() -> Self {
        RawOutput {
            clamp_negative: true,
            round_to: None,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDimension {
    name: Spanned<String>,
    #[serde(default)]
    field: Option<Spanned<String>>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    values: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    from: Option<Spanned<i64>>,
    #[serde(default)]
    to: Option<Spanned<i64>>,
    #[serde(default)]
    max_values_per_case: Option<Spanned<i64>>,
    roles: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    id: Spanned<String>,
    title: String,
    dimensions: Spanned<Vec<String>>,
    cost: Spanned<f64>,
    /// Default: both country fields.
    #[serde(default)]
    perspectives: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    total: Option<Spanned<bool>>,
}

/// A derived flow table: grouped by the country fields its flow breaks
/// down by (the policy's names for them), offered on both perspectives.
fn flow_table(
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
        perspectives: vec![Field::CountryOfExploitation, Field::Citizenship],
        total: false,
        flow: Some(flow),
    }
}

/// Reads and validates the policy at `path`.
pub fn load_policy(path: &Path) -> Result<Policy, PolicyError> {
    let file = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|e| PolicyError {
        file: file.clone(),
        line: 0,
        field: "-".into(),
        message: format!("cannot read the policy file: {e}"),
    })?;
    parse_policy(&file, &src)
}

/// Validates policy text; `file` is only used in error messages.
pub fn parse_policy(file: &str, src: &str) -> Result<Policy, PolicyError> {
    let cx = Cx { file, src };
    let raw: RawPolicy = toml::from_str(src).map_err(|e| {
        let line = e.span().map(|s| cx.line(s.start)).unwrap_or(0);
        PolicyError {
            file: file.into(),
            line,
            field: "-".into(),
            message: e.message().trim().to_owned(),
        }
    })?;
    cx.validate(raw)
}

/// The `[privacy]` section's model, validated.
struct PrivacyModel {
    accounting: Accounting,
    unit: PrivacyUnit,
    delta: f64,
    k: u64,
    max_cases_per_person: u64,
}

struct Cx<'a> {
    file: &'a str,
    src: &'a str,
}

impl Cx<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.src.len());
        self.src.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn err<T>(
        &self,
        span: &Spanned<T>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> PolicyError {
        PolicyError {
            file: self.file.into(),
            line: self.line(span.span().start),
            field: field.into(),
            message: message.into(),
        }
    }

    fn micro(&self, v: &Spanned<f64>, field: &str) -> Result<u64, PolicyError> {
        let x = *v.get_ref();
        if !x.is_finite() || x < 0.0 {
            return Err(self.err(v, field, "must be a finite number >= 0"));
        }
        decimal_to_micro(x).ok_or_else(|| {
            self.err(
                v,
                field,
                "must have at most 6 decimal places and be below 1e12",
            )
        })
    }

    fn positive(&self, v: &Spanned<i64>, field: &str, max: i64) -> Result<u64, PolicyError> {
        let x = *v.get_ref();
        if x < 1 || x > max {
            return Err(self.err(v, field, format!("must be between 1 and {max}")));
        }
        Ok(x as u64)
    }

    /// The whole policy, checked part by part; the first error names its
    /// field and line.
    fn validate(&self, raw: RawPolicy) -> Result<Policy, PolicyError> {
        let dataset = self.dataset(&raw)?;
        let model = self.privacy_model(&raw.privacy)?;
        let (cost, default_confidence_micro) = self.cost_bounds(&raw.privacy)?;
        let (role_budgets_micro, global_budget_micro) = self.budgets(&raw)?;
        let (limits, output) = self.limits_and_output(&raw)?;
        let dimensions = self.dimensions(&raw)?;
        let tables = self.tables(&raw, &dimensions, &limits, &cost)?;
        let regions = self.regions(&raw, &dimensions, &cost)?;
        let bilateral_cost_micro = match &raw.bilateral {
            None => None,
            Some(b) => Some(self.cost_within(&b.cost, "bilateral.cost", &cost)?),
        };
        let bilateral_tables = match bilateral_cost_micro {
            None => Vec::new(),
            Some(cost_micro) => vec![
                flow_table(
                    "outbound",
                    "The country's nationals exploited in the other country",
                    &dimensions,
                    Flow::Outbound,
                    cost_micro,
                ),
                flow_table(
                    "inbound",
                    "The other country's nationals exploited in the country",
                    &dimensions,
                    Flow::Inbound,
                    cost_micro,
                ),
            ],
        };
        let PrivacyModel {
            accounting,
            unit,
            delta,
            k,
            max_cases_per_person,
        } = model;
        Ok(Policy {
            dataset,
            title: raw.title,
            description: raw.description,
            accounting,
            unit,
            delta,
            k,
            max_cases_per_person,
            cost,
            default_confidence_micro,
            role_budgets_micro,
            global_budget_micro,
            limits,
            output,
            dimensions,
            tables,
            regions,
            bilateral_cost_micro,
            bilateral_tables,
        })
    }

    /// A cost that must lie within the policy's cost bounds.
    fn cost_within(
        &self,
        v: &Spanned<f64>,
        field: &str,
        cost: &CostBounds,
    ) -> Result<u64, PolicyError> {
        let micro = self.micro(v, field)?;
        if !(cost.min_micro..=cost.max_micro).contains(&micro) {
            return Err(self.err(v, field, "must lie between privacy.min and privacy.max"));
        }
        Ok(micro)
    }

    /// The regions: well-formed distinct ids and codes, at least two
    /// distinct members each, every member in the published domain of both
    /// country dimensions (which a policy with regions must declare).
    fn regions(
        &self,
        raw: &RawPolicy,
        dimensions: &[Dimension],
        cost: &CostBounds,
    ) -> Result<Vec<Region>, PolicyError> {
        let mut regions: Vec<Region> = Vec::new();
        for (i, r) in raw.regions.iter().enumerate() {
            let at = |f: &str| format!("regions[{i}].{f}");
            let id = r.id.get_ref().clone();
            if !crate::domain::is_region_id(&id) {
                return Err(self.err(
                    &r.id,
                    at("id"),
                    "must be 1 to 32 lower-case letters, digits, _ or -, starting with a letter",
                ));
            }
            if regions.iter().any(|o| o.id == id) {
                return Err(self.err(&r.id, at("id"), "declared twice"));
            }
            let code = match &r.code {
                Some(c) => c.get_ref().clone(),
                None => id.to_ascii_uppercase().replace('-', "_"),
            };
            let code_ok = (1..=10).contains(&code.len())
                && code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            let code_span = r.code.as_ref().map_or(r.id.span(), |c| c.span());
            let code_err = |message: &str| PolicyError {
                file: self.file.into(),
                line: self.line(code_span.start),
                field: at("code"),
                message: message.into(),
            };
            if !code_ok {
                return Err(code_err(
                    "the REF_AREA code must be 1 to 10 upper-case letters, digits or _",
                ));
            }
            if Country::parse_alpha3(&code).is_some() || regions.iter().any(|o| o.code == code) {
                return Err(code_err(
                    "the REF_AREA code must differ from every country code and every other region's",
                ));
            }
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
                    return Err(self.err(
                        &r.members,
                        at("members"),
                        format!("{m} is listed twice"),
                    ));
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
            let flow_cost_micro = match &r.flow_cost {
                Some(c) => self.cost_within(c, &at("flow_cost"), cost)?,
                None => cost.default_micro,
            };
            // The region's total by member, on each perspective: it
            // partitions the region's victims, so a report reconciles it
            // with the other tables (the members add up to the region).
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
            if r.outside_flows {
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
            regions.push(Region {
                id,
                name: r.name.clone(),
                code,
                members,
                flow_cost_micro,
                outside_flows: r.outside_flows,
                flow_tables,
            });
        }
        Ok(regions)
    }

    fn dataset(&self, raw: &RawPolicy) -> Result<String, PolicyError> {
        let dataset = raw.dataset.get_ref().clone();
        if dataset.is_empty()
            || !dataset
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(self.err(
                &raw.dataset,
                "dataset",
                "must be a non-empty identifier of a-z, 0-9 and _",
            ));
        }
        Ok(dataset)
    }

    /// Accounting, unit of privacy, delta, k and the cases counted per person.
    fn privacy_model(&self, p: &RawPrivacy) -> Result<PrivacyModel, PolicyError> {
        let accounting = match p.accounting.get_ref().as_str() {
            "pure" => Accounting::Pure,
            "zcdp" => Accounting::Zcdp,
            _ => {
                return Err(self.err(
                    &p.accounting,
                    "privacy.accounting",
                    "must be \"pure\" or \"zcdp\"",
                ));
            }
        };
        let unit = match &p.unit {
            None => {
                return Err(PolicyError {
                    file: self.file.into(),
                    line: self.line(self.src.find("[privacy]").unwrap_or(0)),
                    field: "privacy.unit".into(),
                    message: "missing: declare the unit of privacy, \"person\" (every case names \
                              its person; epsilon protects a person with all of their cases) \
                              or \"case\" (epsilon protects one case record)"
                        .into(),
                });
            }
            Some(u) => match u.get_ref().as_str() {
                "person" => PrivacyUnit::Person,
                "case" => PrivacyUnit::Case,
                _ => return Err(self.err(u, "privacy.unit", "must be \"person\" or \"case\"")),
            },
        };
        let delta = match (&p.delta, accounting) {
            (Some(d), _) => {
                let x = *d.get_ref();
                if !(x > 0.0 && x < 1e-3) {
                    return Err(self.err(
                        d,
                        "privacy.delta",
                        "must be greater than 0 and below 0.001",
                    ));
                }
                x
            }
            (None, Accounting::Zcdp) => {
                return Err(self.err(
                    &p.accounting,
                    "privacy.delta",
                    "missing: under zcdp, declare the delta at which costs are also shown as (epsilon, delta), e.g. delta = 1e-6",
                ));
            }
            (None, Accounting::Pure) => 0.0,
        };
        let k = self.positive(&p.k, "privacy.k", 1000)?;
        let max_cases_per_person = match (&p.max_cases_per_person, unit) {
            (Some(m), PrivacyUnit::Person) => {
                self.positive(m, "privacy.max_cases_per_person", 100)?
            }
            (None, PrivacyUnit::Person) => {
                return Err(self.err(
                    &p.k,
                    "privacy.max_cases_per_person",
                    "missing: under unit = \"person\", say how many cases of one person are counted",
                ));
            }
            (Some(m), PrivacyUnit::Case) if *m.get_ref() != 1 => {
                return Err(self.err(
                    m,
                    "privacy.max_cases_per_person",
                    "applies to unit = \"person\" only; under unit = \"case\" leave it out",
                ));
            }
            (_, PrivacyUnit::Case) => 1,
        };
        Ok(PrivacyModel {
            accounting,
            unit,
            delta,
            k,
            max_cases_per_person,
        })
    }

    /// The bounds and grid of a release's cost, and the default confidence.
    fn cost_bounds(&self, p: &RawPrivacy) -> Result<(CostBounds, u64), PolicyError> {
        let cost = CostBounds {
            default_micro: self.micro(&p.default, "privacy.default")?,
            min_micro: self.micro(&p.min, "privacy.min")?,
            max_micro: self.micro(&p.max, "privacy.max")?,
            grid_micro: self.micro(&p.grid, "privacy.grid")?,
        };
        if cost.min_micro == 0 {
            return Err(self.err(&p.min, "privacy.min", "must be greater than 0"));
        }
        if cost.max_micro < cost.min_micro {
            return Err(self.err(&p.max, "privacy.max", "must not be below privacy.min"));
        }
        if !(cost.min_micro..=cost.max_micro).contains(&cost.default_micro) {
            return Err(self.err(
                &p.default,
                "privacy.default",
                "must lie between privacy.min and privacy.max",
            ));
        }
        if cost.grid_micro == 0 || cost.grid_micro > cost.max_micro {
            return Err(self.err(
                &p.grid,
                "privacy.grid",
                "must be greater than 0 and at most privacy.max",
            ));
        }
        let conf = *p.confidence.get_ref();
        if !(conf > 0.5 && conf < 1.0) {
            return Err(self.err(
                &p.confidence,
                "privacy.confidence",
                "must be strictly between 0.5 and 1",
            ));
        }
        let default_confidence_micro = self.micro(&p.confidence, "privacy.confidence")?;

        Ok((cost, default_confidence_micro))
    }

    /// Lifetime budgets by role, and the dataset's global budget.
    fn budgets(&self, raw: &RawPolicy) -> Result<(BTreeMap<Role, u64>, u64), PolicyError> {
        let mut role_budgets_micro = BTreeMap::new();
        let mut global = None;
        for (name, v) in &raw.budgets {
            let field = format!("budgets.{name}");
            let amount = self.micro(v, &field)?;
            if name == "global" {
                global = Some(amount);
            } else if let Some(role) = Role::parse(name) {
                role_budgets_micro.insert(role, amount);
            } else {
                return Err(self.err(
                    v,
                    field,
                    "unknown budget; use researcher, government, regional, auditor, admin or global",
                ));
            }
        }
        let global_budget_micro = global.ok_or_else(|| PolicyError {
            file: self.file.into(),
            line: self.line(self.src.find("[budgets]").unwrap_or(0)),
            field: "budgets.global".into(),
            message: "missing: the global dataset budget is required".into(),
        })?;

        Ok((role_budgets_micro, global_budget_micro))
    }

    fn limits_and_output(&self, raw: &RawPolicy) -> Result<(Limits, Output), PolicyError> {
        let l = &raw.limits;
        let limits = Limits {
            max_dimensions: self.positive(&l.max_dimensions, "limits.max_dimensions", 8)? as usize,
            max_cells: self.positive(&l.max_cells, "limits.max_cells", 1_000_000)? as usize,
            max_body_bytes: self.positive(&l.max_body_bytes, "limits.max_body_bytes", 1 << 20)?
                as usize,
            requests_per_minute: self.positive(
                &l.requests_per_minute,
                "limits.requests_per_minute",
                1_000_000,
            )? as u32,
            max_token_hours: match &l.max_token_hours {
                Some(h) => self.positive(h, "limits.max_token_hours", 10 * 8760)?,
                None => DEFAULT_MAX_TOKEN_HOURS,
            },
        };
        let output = Output {
            clamp_negative: raw.output.clamp_negative,
            round_to: match &raw.output.round_to {
                Some(r) => self.positive(r, "output.round_to", 1000)?,
                None => 1,
            },
        };

        Ok((limits, output))
    }

    /// The dimensions: each valid, each field and name declared once.
    fn dimensions(&self, raw: &RawPolicy) -> Result<Vec<Dimension>, PolicyError> {
        let mut dimensions = Vec::new();
        let mut seen = HashSet::new();
        for (i, d) in raw.dimensions.iter().enumerate() {
            let dim = self.dimension(i, d)?;
            if let Some(other) = dimensions
                .iter()
                .find(|o: &&Dimension| o.field == dim.field)
            {
                return Err(self.err(
                    &d.name,
                    format!("dimensions[{i}]"),
                    format!(
                        "reads the same field as dimension \"{}\"; declare each field once",
                        other.name
                    ),
                ));
            }
            if !seen.insert(dim.name.clone()) {
                return Err(self.err(&d.name, format!("dimensions[{i}].name"), "declared twice"));
            }
            dimensions.push(dim);
        }
        if dimensions.is_empty() {
            return Err(PolicyError {
                file: self.file.into(),
                line: 0,
                field: "dimensions".into(),
                message: "at least one dimension must be declared".into(),
            });
        }

        Ok(dimensions)
    }

    /// The national tables, over declared dimensions, within the limits and
    /// cost bounds, each with the perspectives and total it may show.
    fn tables(
        &self,
        raw: &RawPolicy,
        dimensions: &[Dimension],
        limits: &Limits,
        cost: &CostBounds,
    ) -> Result<Vec<Table>, PolicyError> {
        let mut tables = Vec::new();
        let mut table_ids = HashSet::new();
        for (i, t) in raw.tables.iter().enumerate() {
            let id = t.id.get_ref().clone();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(self.err(
                    &t.id,
                    format!("tables[{i}].id"),
                    "must be an identifier of a-z, 0-9 and _",
                ));
            }
            if !table_ids.insert(id.clone()) {
                return Err(self.err(&t.id, format!("tables[{i}].id"), "declared twice"));
            }
            for name in t.dimensions.get_ref() {
                if !dimensions.iter().any(|d| &d.name == name) {
                    return Err(self.err(
                        &t.dimensions,
                        format!("tables[{i}].dimensions"),
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
                    format!("tables[{i}].dimensions"),
                    "more dimensions than limits.max_dimensions",
                ));
            }
            let cost_micro = self.micro(&t.cost, &format!("tables[{i}].cost"))?;
            if !(cost.min_micro..=cost.max_micro).contains(&cost_micro) {
                return Err(self.err(
                    &t.cost,
                    format!("tables[{i}].cost"),
                    "must lie between privacy.min and privacy.max",
                ));
            }
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

    fn dimension(&self, i: usize, d: &RawDimension) -> Result<Dimension, PolicyError> {
        let at = |f: &str| format!("dimensions[{i}].{f}");
        let name = d.name.get_ref().clone();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(self.err(
                &d.name,
                at("name"),
                "must be an identifier of a-z, 0-9 and _",
            ));
        }
        let (field_name, span_src) = match &d.field {
            Some(f) => (f.get_ref().clone(), f.span()),
            None => (name.clone(), d.name.span()),
        };
        let field = Field::parse(&field_name).ok_or_else(|| PolicyError {
            file: self.file.into(),
            line: self.line(span_src.start),
            field: if d.field.is_some() {
                at("field")
            } else {
                at("name")
            },
            message: format!(
                "unknown dimension \"{field_name}\"; known fields: {}",
                Field::CODES.join(", ")
            ),
        })?;
        let values: Vec<u16> = if field == Field::RegistrationYear {
            if d.values.is_some() {
                return Err(self.err(
                    &d.name,
                    at("values"),
                    "registration_year takes from/to, not values",
                ));
            }
            let (Some(from), Some(to)) = (&d.from, &d.to) else {
                return Err(self.err(
                    &d.name,
                    at("from"),
                    "registration_year needs both from and to",
                ));
            };
            let (f, t) = (*from.get_ref(), *to.get_ref());
            let range = i64::from(YEAR_MIN)..=i64::from(YEAR_MAX);
            if !range.contains(&f) {
                return Err(self.err(
                    from,
                    at("from"),
                    format!("must be a year between {YEAR_MIN} and {YEAR_MAX}"),
                ));
            }
            if !range.contains(&t) || t < f {
                return Err(self.err(
                    to,
                    at("to"),
                    format!("must be a year between from and {YEAR_MAX}"),
                ));
            }
            (f..=t).map(|y| (y - i64::from(YEAR_MIN)) as u16).collect()
        } else {
            if d.from.is_some() || d.to.is_some() {
                return Err(self.err(
                    &d.name,
                    at("from"),
                    "from/to apply to registration_year only",
                ));
            }
            match &d.values {
                None => (0..field.cardinality() as u16).collect(),
                Some(vs) => {
                    let mut out = Vec::new();
                    for v in vs.get_ref() {
                        let idx = field.parse_value(v).ok_or_else(|| {
                            self.err(
                                vs,
                                at("values"),
                                format!("\"{v}\" is not a value of {field}"),
                            )
                        })?;
                        if out.contains(&(idx as u16)) {
                            return Err(self.err(
                                vs,
                                at("values"),
                                format!("\"{v}\" listed twice"),
                            ));
                        }
                        out.push(idx as u16);
                    }
                    if out.is_empty() {
                        return Err(self.err(vs, at("values"), "must not be empty"));
                    }
                    out
                }
            }
        };
        let max_values_per_case = match (field.kind(), &d.max_values_per_case) {
            (FieldKind::Single, None) => 1,
            (FieldKind::Single, Some(m)) => {
                return Err(self.err(
                    m,
                    at("max_values_per_case"),
                    "applies to multi-valued dimensions only",
                ));
            }
            (FieldKind::Multi, None) => {
                return Err(self.err(
                    &d.name,
                    at("max_values_per_case"),
                    "required for a multi-valued dimension",
                ));
            }
            (FieldKind::Multi, Some(m)) => {
                self.positive(m, &at("max_values_per_case"), field.cardinality() as i64)?
            }
        };
        let mut roles = Vec::new();
        for r in d.roles.get_ref() {
            let role = Role::parse(r).ok_or_else(|| {
                self.err(
                    &d.roles,
                    at("roles"),
                    format!("unknown role \"{r}\"; use researcher or government"),
                )
            })?;
            if !role.may_count() {
                return Err(self.err(
                    &d.roles,
                    at("roles"),
                    format!("role {role} never receives counts"),
                ));
            }
            roles.push(role);
        }
        Ok(Dimension {
            name,
            field,
            description: d.description.clone(),
            values,
            max_values_per_case,
            roles,
        })
    }
}

impl Cx<'_> {
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
        let country_fields = [Field::CountryOfExploitation, Field::Citizenship];
        let perspectives: Vec<Field> = match &t.perspectives {
            None => country_fields.to_vec(),
            Some(list) => {
                let mut out = Vec::new();
                for name in list.get_ref() {
                    let field = Field::parse(name)
                        .filter(|f| country_fields.contains(f))
                        .ok_or_else(|| {
                            self.err(
                                list,
                                at("perspectives"),
                                format!(
                                    "unknown perspective \"{name}\"; use country_of_exploitation or citizenship"
                                ),
                            )
                        })?;
                    if out.contains(&field) {
                        return Err(self.err(
                            list,
                            at("perspectives"),
                            format!("\"{name}\" listed twice"),
                        ));
                    }
                    out.push(field);
                }
                if out.is_empty() {
                    return Err(self.err(list, at("perspectives"), "must not be empty"));
                }
                out
            }
        };
        let span_of_perspectives = |s: &str| match &t.perspectives {
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
        for &p in &perspectives {
            if !dimensions.iter().any(|d| d.field == p) {
                return Err(span_of_perspectives(&format!(
                    "perspective {p} needs a declared dimension reading {p}"
                )));
            }
            if table_fields.contains(&p) {
                return Err(span_of_perspectives(&format!(
                    "the {p} perspective pins {p} to one country, so grouping by it gives one cell; offer this table on the other perspective only"
                )));
            }
            let mut mine = t.dimensions.get_ref().clone();
            mine.sort();
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
}

fn names(dims: &[Dimension]) -> String {
    dims.iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Exact conversion of a policy decimal to micro-units, through its shortest
/// decimal representation (so 0.1 is exactly 100000, not 100000.0000000000055).
pub(crate) fn decimal_to_micro(x: f64) -> Option<u64> {
    if !x.is_finite() || !(0.0..1e12).contains(&x) {
        return None;
    }
    let s = format!("{x}");
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    if frac.len() > 6 || s.contains('e') {
        return None;
    }
    let int: u64 = int.parse().ok()?;
    let mut frac = frac.to_owned();
    while frac.len() < 6 {
        frac.push('0');
    }
    let frac: u64 = frac.parse().ok()?;
    int.checked_mul(1_000_000)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = include_str!("../../policy/default.toml");

    #[test]
    fn the_shipped_policy_is_valid() {
        let p = parse_policy("default.toml", GOOD).expect("default policy");
        assert_eq!(p.dataset, "ctm");
        assert!(p.dimensions.len() >= 10);
        assert!(p.k >= 1);
    }

    fn err_of(src: &str) -> PolicyError {
        match parse_policy("p.toml", src) {
            Ok(_) => panic!("policy should be refused"),
            Err(e) => e,
        }
    }

    #[test]
    fn an_unknown_dimension_is_named_with_its_line() {
        let src = GOOD.replacen("name = \"gender\"", "name = \"sexx\"", 1);
        let line = src
            .lines()
            .position(|l| l.contains("\"sexx\""))
            .unwrap_or(0)
            + 1;
        let e = err_of(&src);
        assert_eq!(e.line, line);
        assert!(e.field.ends_with(".name"), "{e}");
        assert!(e.message.contains("sexx"), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("p.toml:{line}: dimensions[")),
            "{e}"
        );
    }

    #[test]
    fn a_negative_budget_is_refused() {
        let src = GOOD.replacen("researcher = ", "researcher = -", 1);
        let e = err_of(&src);
        assert_eq!(e.field, "budgets.researcher");
        assert!(e.line > 0);
    }

    #[test]
    fn unknown_keys_and_syntax_errors_name_a_line() {
        let e = err_of(&GOOD.replacen("[limits]", "[limits]\nmax_rows = 3", 1));
        assert!(e.line > 0 && e.message.contains("max_rows"), "{e}");
        let e = err_of("dataset = \"x\"\ntitle = ");
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn national_tables_offer_both_perspectives_unless_told() {
        let p = parse_policy("default.toml", GOOD).expect("default policy");
        let year = p.table("victims_by_year").expect("table");
        assert!(year.offers(Field::Citizenship) && year.offers(Field::CountryOfExploitation));
        assert!(year.total);
        let cit = p.table("by_citizenship").expect("table");
        assert_eq!(cit.perspectives, vec![Field::CountryOfExploitation]);
        assert!(!p.table("by_type_of_exploitation").expect("table").total);
    }

    #[test]
    fn national_tables_that_would_mislead_are_refused() {
        // Grouping by the pinned field: one cell.
        let e = err_of(&GOOD.replacen(
            "perspectives = [\"country_of_exploitation\"]\ntotal = true",
            "perspectives = [\"citizenship\"]\ntotal = true",
            1,
        ));
        assert!(
            e.field.ends_with(".perspectives") && e.message.contains("one cell"),
            "{e}"
        );
        // A total over a multi-valued group.
        let e = err_of(&GOOD.replacen(
            "dimensions = [\"type_of_exploitation\"]\ncost = 0.2\n",
            "dimensions = [\"type_of_exploitation\"]\ncost = 0.2\ntotal = true\n",
            1,
        ));
        assert!(
            e.field.ends_with(".total") && e.message.contains("multi-valued"),
            "{e}"
        );
        // The same dimensions twice on a perspective.
        let e = err_of(&GOOD.replacen(
            "dimensions = [\"education\", \"socio_economic_status\"]",
            "dimensions = [\"age_broad\", \"gender\"]",
            1,
        ));
        assert!(e.message.contains("by_sex_and_age"), "{e}");
        let e = err_of(&GOOD.replacen(
            "perspectives = [\"citizenship\"]",
            "perspectives = [\"residence\"]",
            1,
        ));
        assert!(e.message.contains("residence"), "{e}");
    }

    #[test]
    fn decimals_convert_exactly() {
        assert_eq!(decimal_to_micro(0.1), Some(100_000));
        assert_eq!(decimal_to_micro(2.0), Some(2_000_000));
        assert_eq!(decimal_to_micro(0.000001), Some(1));
        assert_eq!(decimal_to_micro(0.0000001), None);
    }
}
