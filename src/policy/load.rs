//! Loading a policy: the file read, its TOML parsed into the raw sections
//! (`raw.rs`), and each section validated in turn (`sections.rs`,
//! `dimensions.rs`, `tables.rs`, `regions.rs`) into a `Policy`. Every
//! error carries the file, the 1-based line and the dotted path of the
//! offending field; the first error found stops the load.

use super::Policy;
use super::cx::{Cx, PolicyError};
use super::raw::RawPolicy;
use super::sections::PrivacyModel;
use super::tables::bilateral_tables;
use std::path::Path;

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
    let raw: RawPolicy = toml::from_str(src)
        .map_err(|e| cx.err_at(e.span().map(|s| s.start), "-", e.message().trim()))?;
    cx.validate(raw)
}

impl Cx<'_> {
    /// The whole policy, checked part by part; the first error names its
    /// field and line.
    fn validate(&self, raw: RawPolicy) -> Result<Policy, PolicyError> {
        let dataset = self.dataset(&raw)?;
        let PrivacyModel {
            accounting,
            unit,
            delta,
            k,
            max_cases_per_person,
        } = self.privacy_model(&raw.privacy)?;
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
            bilateral_tables: bilateral_tables(&dimensions, bilateral_cost_micro),
            dimensions,
            tables,
            regions,
            bilateral_cost_micro,
        })
    }
}
