//! Planning a release: from a validated query to its cost, mechanism,
//! sensitivity and margin of error. Policy only; no data is read.

use super::error::{Cause, ReleaseError};
use crate::domain::FieldKind;
use crate::domain::budget::{Amount, Epsilon, Rho};
use crate::policy::{Accounting, Policy};
use crate::privacy::{self, Confidence, CountMechanism, DimShape, PostProcess, PrivacyError};
use crate::release::query::{CostChoice, CountQuery, sha256_hex};
use std::num::NonZeroU32;

/// A query with its cost resolved and its mechanism built.
pub struct Plan {
    pub query: CountQuery,
    pub cost: Amount,
    pub mechanism: CountMechanism,
    /// L1 sensitivity (Laplace) or squared L2 sensitivity (Gaussian).
    pub sensitivity: u64,
    pub margin: u64,
    pub canonical: String,
    pub query_id: String,
}

pub(super) fn privacy_err(e: PrivacyError) -> ReleaseError {
    match e {
        PrivacyError::Entropy(_) => ReleaseError::EntropyUnavailable,
        other => ReleaseError::Internal(Cause::new("building the noise mechanism", other)),
    }
}

/// The post-processing of the policy.
pub fn post_process(policy: &Policy) -> PostProcess {
    PostProcess {
        clamp_at_zero: policy.output.clamp_negative,
        round_to: u32::try_from(policy.output.round_to)
            .ok()
            .filter(|&b| b > 1)
            .and_then(NonZeroU32::new),
    }
}

/// The accounting of the policy with the sensitivity of one query: what
/// turns an amount of budget into a mechanism, and back.
#[derive(Clone, Copy)]
enum Accountant {
    /// Pure ε-DP, discrete Laplace, L1 sensitivity.
    Pure { l1: u64 },
    /// ρ-zCDP, discrete Gaussian, squared L2 sensitivity.
    Zcdp { l2_squared: u64 },
}

impl Accountant {
    fn of(policy: &Policy, shapes: &[DimShape]) -> Result<Accountant, PrivacyError> {
        Ok(match policy.accounting {
            Accounting::Pure => Accountant::Pure {
                l1: privacy::l1_sensitivity(shapes, policy.max_cases_per_person)?,
            },
            Accounting::Zcdp => Accountant::Zcdp {
                l2_squared: privacy::l2_sensitivity_squared(shapes, policy.max_cases_per_person)?,
            },
        })
    }

    fn sensitivity(self) -> u64 {
        match self {
            Accountant::Pure { l1 } => l1,
            Accountant::Zcdp { l2_squared } => l2_squared,
        }
    }

    /// The mechanism that costs `micro` micro-units.
    fn mechanism(self, micro: u64) -> Result<CountMechanism, PrivacyError> {
        match self {
            Accountant::Pure { l1 } => {
                CountMechanism::discrete_laplace(Epsilon::from_micro(micro), l1)
            }
            Accountant::Zcdp { l2_squared } => {
                CountMechanism::discrete_gaussian(Rho::from_micro(micro), l2_squared)
            }
        }
    }

    /// The smallest cost on the policy grid whose margin at `confidence` is
    /// at most `margin`, if one within the bounds reaches it.
    fn cost_for_margin(
        self,
        margin: u64,
        confidence: Confidence,
        (grid, min, max): (u64, u64, u64),
    ) -> Result<Option<u64>, PrivacyError> {
        Ok(match self {
            Accountant::Pure { l1 } => privacy::epsilon_for_margin(
                margin,
                confidence,
                l1,
                Epsilon::from_micro(grid),
                Epsilon::from_micro(min),
                Epsilon::from_micro(max),
            )?
            .map(Epsilon::micro),
            Accountant::Zcdp { l2_squared } => privacy::rho_for_margin(
                margin,
                confidence,
                l2_squared,
                Rho::from_micro(grid),
                Rho::from_micro(min),
                Rho::from_micro(max),
            )?
            .map(Rho::micro),
        })
    }
}

fn confidence_of(value: f64, name: &str) -> Result<Confidence, ReleaseError> {
    Confidence::new(value).map_err(|_| {
        ReleaseError::InvalidQuery(format!("{name} must lie strictly between 0.5 and 1"))
    })
}

/// Resolves cost, sensitivity, mechanism and margin of a validated query.
pub fn plan(policy: &Policy, query: CountQuery) -> Result<Plan, ReleaseError> {
    let shapes: Vec<DimShape> = query
        .dimensions
        .iter()
        .map(|d| match d.field.kind() {
            FieldKind::Single => DimShape::SingleValued,
            FieldKind::Multi => DimShape::MultiValued {
                max_values_per_case: d.max_values_per_case,
            },
        })
        .collect();
    let confidence = confidence_of(query.confidence, "confidence")?;
    let accountant = Accountant::of(policy, &shapes).map_err(privacy_err)?;
    // Rounding moves a value by at most half the base; margins include it.
    let rounding = policy.output.round_to / 2;
    let c = &policy.cost;
    let cost_micro = match query.cost {
        CostChoice::Fixed(m) => m,
        CostChoice::Accuracy(a) => {
            let conf = confidence_of(a.confidence, "accuracy.confidence")?;
            let found = accountant
                .cost_for_margin(
                    a.margin.saturating_sub(rounding),
                    conf,
                    (c.grid_micro, c.min_micro, c.max_micro),
                )
                .map_err(privacy_err)?;
            match found {
                Some(micro) => micro,
                None => {
                    let best = accountant
                        .mechanism(c.max_micro)
                        .and_then(|m| m.margin_of_error(conf))
                        .map_err(privacy_err)?;
                    return Err(ReleaseError::AccuracyUnreachable {
                        margin: a.margin,
                        best_margin: best + rounding,
                    });
                }
            }
        }
    };
    let mechanism = accountant.mechanism(cost_micro).map_err(privacy_err)?;
    let cost = match mechanism.cost() {
        privacy::PrivacyCost::Epsilon(e) => Amount::from(e),
        privacy::PrivacyCost::Rho(r) => Amount::from(r),
    };
    let margin = mechanism.margin_of_error(confidence).map_err(privacy_err)? + rounding;
    let canonical = query.canonical(policy, cost.micro());
    let query_id = sha256_hex(canonical.as_bytes());
    Ok(Plan {
        query,
        cost,
        mechanism,
        sensitivity: accountant.sensitivity(),
        margin,
        canonical,
        query_id,
    })
}
