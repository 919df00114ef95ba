//! What a request would meet, seen before anything is computed.

use super::decide::{Decision, ItemCost, Known, decide};
use super::types::Decline;
use crate::domain::budget::{Amount, Budget};

/// A release already stored, as the store's outlook found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownRelease {
    pub body: String,
    /// Whether the asking consumer already paid for it (a repeat is free).
    pub paid: bool,
}

/// Both budgets and the stored releases a request names, read in one
/// read-only statement before any case is counted. It may be stale by the
/// time of the charge, which decides again under the ledger lock.
#[derive(Debug, Clone)]
pub struct Outlook {
    /// `None` for a consumer that never used the service.
    pub consumer: Option<Budget<Amount>>,
    pub global: Budget<Amount>,
    /// In the order of the keys asked for.
    pub releases: Vec<Option<KnownRelease>>,
}

impl Outlook {
    /// The consumer's budget; a consumer new to the service starts at `new_limit`.
    pub fn consumer_budget(&self, new_limit: Amount) -> Budget<Amount> {
        self.consumer.unwrap_or(Budget::new(new_limit))
    }

    /// What each release at `costs` (in the order of the keys) would cost
    /// now, by the rules of the charge ([`ItemCost::of`]).
    pub fn charges(&self, costs: &[Amount]) -> Vec<ItemCost> {
        costs
            .iter()
            .zip(&self.releases)
            .map(|(&cost, known)| {
                let known = match known {
                    Some(k) if k.paid => Known::Paid,
                    Some(_) => Known::Stored,
                    None => Known::New,
                };
                ItemCost::of(cost, known)
            })
            .collect()
    }

    /// The charge decision the releases at `costs` would meet now.
    pub fn decide(&self, costs: &[Amount], new_limit: Amount) -> Result<Decision, Decline> {
        decide(
            self.consumer_budget(new_limit),
            self.global,
            self.charges(costs),
        )
    }
}
