//! The dataset policy (`docs/design.md`, "Policy"): what may be asked, by whom, at what
//! privacy cost. Loaded once at start-up from a TOML file and validated
//! completely; an invalid policy stops the service with an error that names the
//! file, the line and the field.
//!
//! This file holds the validated types; `load.rs` reads and validates a file,
//! section by section (`raw.rs` is the file as written, `cx.rs` where an error
//! is, then `sections.rs`, `dimensions.rs`, `tables.rs`, `regions.rs`).

mod cx;
mod dimensions;
mod load;
mod raw;
mod regions;
mod sections;
mod tables;
#[cfg(test)]
mod tests;

pub use cx::PolicyError;
pub use load::{load_policy, parse_policy};

use crate::domain::{Field, Role};
use std::collections::BTreeMap;

/// How privacy loss is measured and which noise goes with it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Accounting {
    /// Pure ε-DP with discrete Laplace noise; budgets in ε.
    Pure,
    /// Zero-concentrated DP with discrete Gaussian noise; budgets in ρ.
    Zcdp,
}

impl Accounting {
    pub fn code(self) -> &'static str {
        match self {
            Accounting::Pure => "pure",
            Accounting::Zcdp => "zcdp",
        }
    }

    pub fn parse(code: &str) -> Option<Accounting> {
        match code {
            "pure" => Some(Accounting::Pure),
            "zcdp" => Some(Accounting::Zcdp),
            _ => None,
        }
    }
}

/// Whose privacy a release protects: the unit that ε (or ρ) is per.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PrivacyUnit {
    /// A person, with all of their case records (at most
    /// `max_cases_per_person` of them are counted). Every case must name its
    /// person.
    Person,
    /// One case record. A person with several records is protected only as
    /// well as the sum of their records' costs.
    Case,
}

impl PrivacyUnit {
    pub fn code(self) -> &'static str {
        match self {
            PrivacyUnit::Person => "person",
            PrivacyUnit::Case => "case",
        }
    }
}

/// A validated policy for one dataset. Amounts are micro-units of ε (pure) or ρ (zCDP).
#[derive(Debug, Clone)]
pub struct Policy {
    pub dataset: String,
    pub title: String,
    pub description: String,
    pub accounting: Accounting,
    /// What ε or ρ is per.
    pub unit: PrivacyUnit,
    /// The δ at which zCDP costs are also shown as (ε, δ) (display only:
    /// budgets are kept in ρ).
    pub delta: f64,
    /// Noisy counts below k are suppressed.
    pub k: u64,
    /// Cases counted per person (always 1 when the unit is a case).
    pub max_cases_per_person: u64,
    pub cost: CostBounds,
    pub default_confidence_micro: u64,
    pub role_budgets_micro: BTreeMap<Role, u64>,
    pub global_budget_micro: u64,
    pub limits: Limits,
    pub output: Output,
    pub dimensions: Vec<Dimension>,
    pub tables: Vec<Table>,
    /// Groups of countries whose partners read the group's figures.
    pub regions: Vec<Region>,
    /// Cost of each direction of a bilateral flow (`None`: not offered).
    pub bilateral_cost_micro: Option<u64>,
    /// The two tables of a bilateral flow (outbound, inbound); empty when
    /// not offered.
    pub bilateral_tables: Vec<Table>,
}

/// A group of countries that cooperate (a sub-regional memorandum, a
/// regional consultative process): its regional partners read the national
/// tables of the group as a whole and the flows between its members.
#[derive(Debug, Clone)]
pub struct Region {
    /// How tokens and paths name it, e.g. `gms`.
    pub id: String,
    pub name: String,
    /// Its SDMX `REF_AREA` code (never an ISO country code), e.g. `GMS`.
    pub code: String,
    /// At least two distinct countries.
    pub members: Vec<crate::domain::Country>,
    /// Cost of each flow table.
    pub flow_cost_micro: u64,
    /// Whether the report has the flows between members and the rest of the world.
    pub outside_flows: bool,
    /// Its flow tables (`flow_within`, and with `outside_flows` `flow_out`
    /// and `flow_in`), released with its report.
    pub flow_tables: Vec<Table>,
}

/// Bounds on the privacy cost of one query, in micro-units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostBounds {
    pub default_micro: u64,
    pub min_micro: u64,
    pub max_micro: u64,
    /// Accuracy-driven queries choose the smallest multiple of this step that meets the margin.
    pub grid_micro: u64,
}

/// The longest token lifetime accepted when the policy does not say (a year).
pub const DEFAULT_MAX_TOKEN_HOURS: u64 = 8760;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_dimensions: usize,
    pub max_cells: usize,
    pub max_body_bytes: usize,
    pub requests_per_minute: u32,
    /// The longest a token may live from now, in hours.
    pub max_token_hours: u64,
}

/// Post-processing applied to noisy values only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub clamp_negative: bool,
    /// Round released counts to a multiple of this base (1 = no rounding).
    pub round_to: u64,
}

/// A dimension consumers may group or filter by, with its public value domain.
#[derive(Debug, Clone)]
pub struct Dimension {
    pub name: String,
    pub field: Field,
    pub description: String,
    /// Field code indices of the declared domain, in canonical order.
    pub values: Vec<u16>,
    /// For multi-valued groups, the most values one case may contribute (1 for single-valued).
    pub max_values_per_case: u64,
    pub roles: Vec<Role>,
}

impl Dimension {
    pub fn value_code(&self, pos: usize) -> Option<String> {
        self.values
            .get(pos)
            .and_then(|&i| self.field.value_code(usize::from(i)))
    }

    pub fn value_codes(&self) -> Vec<String> {
        (0..self.values.len())
            .filter_map(|p| self.value_code(p))
            .collect()
    }

    /// Position in the declared domain of a value code, if declared.
    pub fn position_of(&self, code: &str) -> Option<usize> {
        let idx = self.field.parse_value(code)?;
        self.values.iter().position(|&v| usize::from(v) == idx)
    }

    pub fn allows(&self, role: Role) -> bool {
        self.roles.contains(&role.grants_as())
    }
}

/// A national figure table (issue: government partners).
#[derive(Debug, Clone)]
pub struct Table {
    pub id: String,
    pub title: String,
    pub dimensions: Vec<String>,
    pub cost_micro: u64,
    /// The country fields a national release of this table may be pinned on:
    /// `country_of_exploitation` (victims identified in the country) and/or
    /// `citizenship` (the country's nationals identified anywhere).
    pub perspectives: Vec<Field>,
    /// Whether responses carry a total row, derived from the released noisy
    /// cells (single-valued dimensions only: a person is in exactly one cell).
    pub total: bool,
    /// Set for the tables the service derives for regions and bilateral
    /// flows: how the table is filtered (`None`: a national table, filtered
    /// to the area on the perspective's field).
    pub flow: Option<Flow>,
}

/// How a derived flow table is filtered. "Members" are a region's
/// countries; for a bilateral flow, the country and the other country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Citizenship by country of exploitation, both among the members.
    Within,
    /// Members' nationals exploited outside the region, by citizenship.
    Out,
    /// Nationals of non-members exploited in a member, by country of exploitation.
    In,
    /// The country's nationals exploited in the other country.
    Outbound,
    /// The other country's nationals exploited in the country.
    Inbound,
}

impl Table {
    /// Whether the table is offered on the perspective pinned on `field`.
    pub fn offers(&self, field: Field) -> bool {
        self.perspectives.contains(&field)
    }
}

impl Policy {
    pub fn dimension(&self, name: &str) -> Option<&Dimension> {
        self.dimensions.iter().find(|d| d.name == name)
    }

    pub fn dimension_names(&self) -> Vec<&str> {
        self.dimensions.iter().map(|d| d.name.as_str()).collect()
    }

    pub fn table(&self, id: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.id == id)
    }

    pub fn region(&self, id: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.id == id)
    }

    /// The lifetime budget a new consumer of this role starts with.
    pub fn role_budget_micro(&self, role: Role) -> u64 {
        self.role_budgets_micro.get(&role).copied().unwrap_or(0)
    }

    /// The lifetime budget a new consumer of `role` starts with.
    pub fn role_budget(&self, role: Role) -> crate::domain::budget::Amount {
        crate::domain::budget::Amount::from_micro(self.role_budget_micro(role))
    }

    /// The published domain of a single-valued field: the declared values of
    /// the dimension reading it, or `None` when no dimension does. Cases
    /// outside it are not part of the released dataset.
    pub fn published_domain(&self, field: Field) -> Option<&[u16]> {
        self.dimensions
            .iter()
            .find(|d| d.field == field)
            .map(|d| d.values.as_slice())
    }

    /// Name of the unit budgets are kept in.
    pub fn budget_unit(&self) -> &'static str {
        match self.accounting {
            Accounting::Pure => "epsilon",
            Accounting::Zcdp => "rho",
        }
    }
}
