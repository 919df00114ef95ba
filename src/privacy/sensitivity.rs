//! Sensitivity of a grouped count: how much one person can change the
//! histogram, derived from the query's shape and the policy caps only.
//!
//! Neighbouring datasets differ by adding or removing one person together with
//! all of their cases (at most `max_cases_per_person` after contribution
//! bounding). Within one case:
//! - a single-valued dimension puts the case in exactly one of its values
//!   (unknown is a value too);
//! - a multi-valued dimension puts it in at most its policy cap of values
//!   (distinct values, so distinct cells), and in none when the group is unknown.
//!
//! So one case adds 1 to at most `c = Π caps` distinct cells (a single-valued
//! dimension has cap 1), and one person changes at most `c` cells per case.
//!
//! - **L1** (discrete Laplace): `Δ1 = c · max_cases_per_person`.
//! - **L2** (discrete Gaussian): several cases of one person can land in the
//!   *same* cells, so a cell can move by up to `max_cases_per_person` while at
//!   most `c` cells move. The worst case puts every case in the same `c`
//!   cells: `Δ2² = c · max_cases_per_person²`, which is what
//!   [`l2_sensitivity_squared`] returns. With one case per person (the
//!   default) this is `Δ2² = c`, i.e. `Δ2 = sqrt(c)`. We keep `Δ2²`, an
//!   integer, so that `σ² = Δ2² / (2ρ)` stays an exact rational.
//!
//! Invariant: overflow is an error, never a smaller sensitivity.

use super::PrivacyError;

/// How a dimension of a grouped count places a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimShape {
    /// One value per case: contributes a factor 1.
    SingleValued,
    /// Several values per case, capped by policy: contributes the cap.
    MultiValued {
        /// The most values one case may count under (policy).
        max_values_per_case: u64,
    },
}

/// The most cells one case can add to: the product of the dimensions' caps.
fn cells_per_case(dims: &[DimShape]) -> Result<u64, PrivacyError> {
    dims.iter().try_fold(1u64, |cells, dim| match *dim {
        DimShape::SingleValued => Ok(cells),
        DimShape::MultiValued {
            max_values_per_case: 0,
        } => Err(PrivacyError::InvalidParameter(
            "a multi-valued dimension with a cap of zero values per case",
        )),
        DimShape::MultiValued {
            max_values_per_case,
        } => cells
            .checked_mul(max_values_per_case)
            .ok_or(PrivacyError::Overflow("the sensitivity")),
    })
}

fn check_cases(max_cases_per_person: u64) -> Result<u64, PrivacyError> {
    if max_cases_per_person == 0 {
        return Err(PrivacyError::InvalidParameter(
            "a contribution bound of zero cases per person",
        ));
    }
    Ok(max_cases_per_person)
}

/// L1 sensitivity of the histogram: `Π caps · max_cases_per_person`.
pub fn l1_sensitivity(dims: &[DimShape], max_cases_per_person: u64) -> Result<u64, PrivacyError> {
    cells_per_case(dims)?
        .checked_mul(check_cases(max_cases_per_person)?)
        .ok_or(PrivacyError::Overflow("the sensitivity"))
}

/// Squared L2 sensitivity of the histogram:
/// `Π caps · max_cases_per_person²` (see the module documentation).
pub fn l2_sensitivity_squared(
    dims: &[DimShape],
    max_cases_per_person: u64,
) -> Result<u64, PrivacyError> {
    let cases = check_cases(max_cases_per_person)?;
    cells_per_case(dims)?
        .checked_mul(cases)
        .and_then(|x| x.checked_mul(cases))
        .ok_or(PrivacyError::Overflow("the sensitivity"))
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;
    use DimShape::*;

    const EXPLOITATION: DimShape = MultiValued {
        max_values_per_case: 3,
    };
    const CONTROL: DimShape = MultiValued {
        max_values_per_case: 4,
    };

    #[test]
    fn single_valued_dimensions_count_once_per_case() {
        assert_eq!(l1_sensitivity(&[], 1).unwrap(), 1);
        assert_eq!(l1_sensitivity(&[SingleValued, SingleValued], 1).unwrap(), 1);
        assert_eq!(l1_sensitivity(&[SingleValued], 2).unwrap(), 2);
        assert_eq!(l2_sensitivity_squared(&[SingleValued], 1).unwrap(), 1);
    }

    #[test]
    fn multi_valued_caps_multiply() {
        assert_eq!(l1_sensitivity(&[SingleValued, EXPLOITATION], 1).unwrap(), 3);
        assert_eq!(l1_sensitivity(&[EXPLOITATION, CONTROL], 1).unwrap(), 12);
        assert_eq!(l1_sensitivity(&[EXPLOITATION, CONTROL], 2).unwrap(), 24);
        assert_eq!(
            l2_sensitivity_squared(&[EXPLOITATION, CONTROL], 1).unwrap(),
            12
        );
        // Two cases of one person may fall in the same 12 cells: each moves by 2.
        assert_eq!(
            l2_sensitivity_squared(&[EXPLOITATION, CONTROL], 2).unwrap(),
            48
        );
    }

    #[test]
    fn overflow_and_zero_caps_are_errors() {
        let huge = MultiValued {
            max_values_per_case: u64::MAX,
        };
        assert!(l1_sensitivity(&[huge, EXPLOITATION], 1).is_err());
        assert!(l1_sensitivity(&[huge], 2).is_err());
        assert!(l2_sensitivity_squared(&[SingleValued], u64::MAX).is_err());
        let zero = MultiValued {
            max_values_per_case: 0,
        };
        assert!(l1_sensitivity(&[zero], 1).is_err());
        assert!(l1_sensitivity(&[SingleValued], 0).is_err());
    }
}
