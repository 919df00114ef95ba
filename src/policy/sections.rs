//! The scalar sections of a policy: the dataset id, `[privacy]` (the model
//! and the cost bounds), `[budgets]`, `[limits]` and `[output]`.

use super::cx::{Cx, PolicyError};
use super::raw::{RawPolicy, RawPrivacy};
use super::{Accounting, CostBounds, DEFAULT_MAX_TOKEN_HOURS, Limits, Output, PrivacyUnit};
use crate::domain::Role;
use std::collections::BTreeMap;

/// The `[privacy]` section's model, validated.
pub(super) struct PrivacyModel {
    pub accounting: Accounting,
    pub unit: PrivacyUnit,
    pub delta: f64,
    pub k: u64,
    pub max_cases_per_person: u64,
}

impl Cx<'_> {
    pub(super) fn dataset(&self, raw: &RawPolicy) -> Result<String, PolicyError> {
        self.identifier(
            &raw.dataset,
            "dataset",
            "must be a non-empty identifier of a-z, 0-9 and _",
        )
    }

    /// Accounting, unit of privacy, delta, k and the cases counted per person.
    pub(super) fn privacy_model(&self, p: &RawPrivacy) -> Result<PrivacyModel, PolicyError> {
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
                return Err(self.missing(
                    "[privacy]",
                    "privacy.unit",
                    "missing: declare the unit of privacy, \"person\" (every case names \
                     its person; epsilon protects a person with all of their cases) \
                     or \"case\" (epsilon protects one case record)",
                ));
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
    pub(super) fn cost_bounds(&self, p: &RawPrivacy) -> Result<(CostBounds, u64), PolicyError> {
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
    pub(super) fn budgets(
        &self,
        raw: &RawPolicy,
    ) -> Result<(BTreeMap<Role, u64>, u64), PolicyError> {
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
        let global_budget_micro = global.ok_or_else(|| {
            self.missing(
                "[budgets]",
                "budgets.global",
                "missing: the global dataset budget is required",
            )
        })?;

        Ok((role_budgets_micro, global_budget_micro))
    }

    pub(super) fn limits_and_output(
        &self,
        raw: &RawPolicy,
    ) -> Result<(Limits, Output), PolicyError> {
        let l = &raw.limits;
        let at_most = |v, field, max| self.positive(v, field, max);
        let limits = Limits {
            max_dimensions: to_usize(at_most(&l.max_dimensions, "limits.max_dimensions", 8)?),
            max_cells: to_usize(at_most(&l.max_cells, "limits.max_cells", 1_000_000)?),
            max_body_bytes: to_usize(at_most(
                &l.max_body_bytes,
                "limits.max_body_bytes",
                1 << 20,
            )?),
            requests_per_minute: u32::try_from(at_most(
                &l.requests_per_minute,
                "limits.requests_per_minute",
                1_000_000,
            )?)
            .unwrap_or(u32::MAX),
            max_token_hours: match &l.max_token_hours {
                Some(h) => at_most(h, "limits.max_token_hours", 10 * 8760)?,
                None => DEFAULT_MAX_TOKEN_HOURS,
            },
        };
        let output = Output {
            clamp_negative: raw.output.clamp_negative,
            round_to: match &raw.output.round_to {
                Some(r) => at_most(r, "output.round_to", 1000)?,
                None => 1,
            },
        };

        Ok((limits, output))
    }
}

/// A bounded count as a size (every bound above fits in 32 bits).
fn to_usize(x: u64) -> usize {
    usize::try_from(x).unwrap_or(usize::MAX)
}
