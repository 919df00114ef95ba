//! The charge decision: from what a request asks and the budgets as they
//! stand, the debits or a refusal. Pure; the store carries the decision out
//! inside its serialised transaction, and the read-only look before any
//! case is counted ([`super::Outlook`]) asks the same function.

use super::types::{Decline, Refusal};
use crate::domain::budget::{Amount, Budget, BudgetError, compose_amounts};

/// What the store knows of one release of a charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Never released: the consumer and the dataset both pay.
    New,
    /// Released to someone else: the consumer pays, the dataset already did.
    Stored,
    /// Already paid for by this consumer: a free repeat.
    Paid,
}

/// What one release costs the consumer and the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemCost {
    pub consumer: Amount,
    pub global: Amount,
}

impl ItemCost {
    /// The rules of the charge: a consumer pays once per release, the
    /// dataset once per release whoever asks.
    pub fn of(cost: Amount, known: Known) -> ItemCost {
        match known {
            Known::New => ItemCost {
                consumer: cost,
                global: cost,
            },
            Known::Stored => ItemCost {
                consumer: cost,
                global: Amount::ZERO,
            },
            Known::Paid => ItemCost {
                consumer: Amount::ZERO,
                global: Amount::ZERO,
            },
        }
    }
}

/// An accepted charge: the debits and both budgets after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Per release, in the charge's order.
    pub items: Vec<ItemCost>,
    /// The consumer's debit (the sum of `items`).
    pub consumer_total: Amount,
    /// The dataset's debit.
    pub global_total: Amount,
    pub consumer_after: Budget<Amount>,
    pub global_after: Budget<Amount>,
}

/// Decides a charge of `items` against the consumer's and the dataset's
/// budgets: accepted only if both can pay their sums exactly. Refusals name
/// the whole amount; an overflow is an error, never a clamp.
pub fn decide(
    consumer: Budget<Amount>,
    global: Budget<Amount>,
    items: Vec<ItemCost>,
) -> Result<Decision, Decline> {
    let consumer_total = compose_amounts(items.iter().map(|i| i.consumer))?;
    let global_total = compose_amounts(items.iter().map(|i| i.global))?;
    let consumer_after = match consumer.try_debit(consumer_total) {
        Ok(after) => after,
        Err(BudgetError::Insufficient { .. }) => {
            return Err(Decline::Refused(Refusal::Consumer {
                remaining: consumer.remaining(),
                requested: consumer_total,
            }));
        }
        Err(other) => return Err(other.into()),
    };
    let global_after = match global.try_debit(global_total) {
        Ok(after) => after,
        Err(BudgetError::Insufficient { .. }) => {
            return Err(Decline::Refused(Refusal::Global {
                requested: consumer_total,
            }));
        }
        Err(other) => return Err(other.into()),
    };
    Ok(Decision {
        items,
        consumer_total,
        global_total,
        consumer_after,
        global_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(micro: u64) -> Amount {
        Amount::from_micro(micro)
    }

    fn budget(spent: u64, limit: u64) -> Budget<Amount> {
        Budget {
            spent: amount(spent),
            limit: amount(limit),
        }
    }

    fn items(costs: &[(u64, Known)]) -> Vec<ItemCost> {
        costs
            .iter()
            .map(|&(c, k)| ItemCost::of(amount(c), k))
            .collect()
    }

    #[test]
    fn a_charge_that_fits_exactly_is_accepted_with_both_budgets_after_it() {
        let d = decide(
            budget(400_000, 1_000_000),
            budget(0, 10_000_000),
            items(&[(300_000, Known::New), (300_000, Known::Stored)]),
        )
        .expect("fits");
        assert_eq!(d.consumer_total, amount(600_000));
        assert_eq!(d.global_total, amount(300_000));
        assert_eq!(d.consumer_after, budget(1_000_000, 1_000_000));
        assert_eq!(d.global_after, budget(300_000, 10_000_000));
    }

    #[test]
    fn one_micro_unit_over_the_limit_is_refused_with_the_whole_amount() {
        let refused = decide(
            budget(400_001, 1_000_000),
            budget(0, 10_000_000),
            items(&[(300_000, Known::New), (300_000, Known::New)]),
        );
        assert!(matches!(
            refused,
            Err(Decline::Refused(Refusal::Consumer { remaining, requested }))
                if remaining == amount(599_999) && requested == amount(600_000)
        ));
    }

    #[test]
    fn repeats_cost_nothing_and_stored_releases_cost_the_dataset_nothing() {
        assert_eq!(
            ItemCost::of(amount(5), Known::Paid),
            ItemCost {
                consumer: Amount::ZERO,
                global: Amount::ZERO
            }
        );
        // An exhausted consumer may still repeat what it paid for.
        let d = decide(
            budget(1_000_000, 1_000_000),
            budget(10_000_000, 10_000_000),
            items(&[(500_000, Known::Paid)]),
        )
        .expect("a repeat is free");
        assert_eq!(d.consumer_after, budget(1_000_000, 1_000_000));
        // The dataset pays once per release: a stored one fits a full dataset budget.
        let d = decide(
            budget(0, 1_000_000),
            budget(10_000_000, 10_000_000),
            items(&[(500_000, Known::Stored)]),
        )
        .expect("stored");
        assert_eq!(d.global_total, Amount::ZERO);
    }

    #[test]
    fn the_global_budget_refuses_new_releases_only() {
        let refused = decide(
            budget(0, 1_000_000),
            budget(9_900_000, 10_000_000),
            items(&[(200_000, Known::New)]),
        );
        assert!(matches!(
            refused,
            Err(Decline::Refused(Refusal::Global { requested })) if requested == amount(200_000)
        ));
    }

    #[test]
    fn overflow_is_an_error_not_a_clamp() {
        let huge = decide(
            budget(0, u64::MAX),
            budget(0, u64::MAX),
            items(&[(u64::MAX, Known::New), (1, Known::New)]),
        );
        assert!(matches!(
            huge,
            Err(Decline::Arithmetic(BudgetError::Overflow))
        ));
        // A lowered limit below what is spent refuses everything but repeats.
        let lowered = decide(
            budget(2_000_000, 1_000_000),
            budget(0, 10_000_000),
            items(&[(1, Known::New)]),
        );
        assert!(matches!(
            lowered,
            Err(Decline::Refused(Refusal::Consumer { remaining, .. })) if remaining == Amount::ZERO
        ));
    }
}
