//! Who is asking: the caller a verified token names, as every layer sees it.

use super::{Country, Role};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    /// The token's `sub`: the key of the consumer's budget.
    pub id: String,
    pub role: Role,
    /// Set for (and only for) government callers.
    pub country: Option<Country>,
    /// Set for (and only for) regional partners: the id of their region in
    /// the policy (checked against the policy when they ask for figures).
    pub region: Option<String>,
}
