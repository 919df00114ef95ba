//! An administrator's change of a consumer's lifetime limit, through the
//! core like a release: the rules (a valid consumer id, an exact amount,
//! never one's own limit, the stored role, never below what was spent),
//! the change and its `budget_change` ledger entry in one transaction
//! ([`crate::store::Store::set_consumer_limit`]), and every refusal
//! ledgered by [`super::ledger_if_refused`], the wrapper releases use.

use super::error::Cause;
use super::query::sha256_hex;
use super::{Pipeline, Refused, ReleaseError, ledger_if_refused};
use crate::domain::budget::Amount;
use crate::domain::{Consumer, Role};
use crate::store::audit::ConsumerRecord;
use serde::Deserialize;

/// What an administrator asks for (the body of the request).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetLimit {
    limit: f64,
    role: Option<Role>,
}

/// Sets the lifetime limit of `target` from the JSON `body`
/// (`{"limit": 12.5, "role": "researcher"}`), creating the consumer with the
/// role when it does not exist yet, and returns its record after the
/// change.
pub async fn set_limit(
    pipeline: &Pipeline,
    admin: &Consumer,
    target: &str,
    body: &[u8],
) -> Result<ConsumerRecord, ReleaseError> {
    let result = decide(pipeline, admin, target, body).await;
    ledger_if_refused(pipeline, admin, result).await
}

async fn decide(
    pipeline: &Pipeline,
    admin: &Consumer,
    target: &str,
    body: &[u8],
) -> Result<ConsumerRecord, Refused> {
    if !crate::domain::is_valid_consumer_id(target) {
        return Err(Refused::bare(ReleaseError::InvalidBody(format!(
            "the consumer id must be {}, as a token's sub",
            crate::domain::CONSUMER_ID_RULE
        ))));
    }
    let SetLimit { limit, role } = serde_json::from_slice(body)
        .map_err(|e| Refused::bare(ReleaseError::InvalidBody(format!("invalid JSON body: {e}"))))?;
    let limit = limit_amount(limit).map_err(Refused::bare)?;
    // The action as the ledger names it (its canonical form and hash).
    let action = serde_json::json!({
        "action": "set_limit", "target": target, "limit_micro": limit.micro(), "role": role,
    })
    .to_string();
    let hash = sha256_hex(action.as_bytes());
    let refuse = |e: ReleaseError| Refused::naming(e, &action, &hash);
    if target == admin.id {
        // Separation of duties: whoever holds the admin role does not
        // raise their own budget.
        return Err(refuse(ReleaseError::SelfChange));
    }
    let dataset = &pipeline.policy.dataset;
    let store = &pipeline.store;
    // The role the store knows, from the budget row or else the ledger (a
    // consumer refused so far has entries but no row).
    let known = store
        .known_role(dataset, target)
        .await
        .map_err(|e| Refused::bare(e.into()))?;
    let role_if_new = match (known, role) {
        (Some(stored), Some(r)) if stored != r.code() => {
            return Err(refuse(ReleaseError::RoleMismatch {
                stored,
                requested: r.code().into(),
            }));
        }
        (None, None) => return Err(refuse(ReleaseError::UnknownConsumer)),
        (Some(stored), None) => Role::parse(&stored).ok_or_else(|| {
            Refused::bare(ReleaseError::Internal(Cause::bare(
                "a stored consumer has an unknown role",
            )))
        })?,
        (_, Some(r)) => r,
    };
    let changed = store
        .set_consumer_limit(dataset, admin, target, role_if_new, limit)
        .await
        .map_err(|e| Refused::bare(e.into()))?;
    if changed.is_none() {
        let spent = store
            .consumer_budget(dataset, target)
            .await
            .map_err(|e| Refused::bare(e.into()))?
            .map_or(Amount::ZERO, |b| b.spent);
        return Err(refuse(ReleaseError::LimitBelowSpent {
            spent: spent.to_f64(),
            requested: limit.to_f64(),
            unit: pipeline.policy.budget_unit(),
        }));
    }
    tracing::info!(admin = %admin.id, consumer = %target, limit_micro = limit.micro(), "consumer limit set");
    store
        .consumer_record(dataset, target)
        .await
        .map_err(|e| Refused::bare(e.into()))?
        .ok_or_else(|| {
            Refused::bare(ReleaseError::Internal(Cause::bare(
                "consumer vanished after a limit change",
            )))
        })
}

/// A limit as an exact amount: finite, not negative, at most six decimal
/// places, and storable as signed 64-bit micro-units.
fn limit_amount(limit: f64) -> Result<Amount, ReleaseError> {
    let bad = || {
        ReleaseError::InvalidBody(
            "limit must be a non-negative number with at most six decimal places".into(),
        )
    };
    if !limit.is_finite() || limit < 0.0 {
        return Err(bad());
    }
    // `Display` of an f64 is its shortest round-trip decimal, without an exponent.
    let amount = Amount::parse_decimal(&format!("{limit}")).map_err(|_| bad())?;
    amount.to_i64().map_err(|_| bad())?;
    Ok(amount)
}

#[cfg(test)]
mod tests {
    use super::limit_amount;

    #[test]
    fn a_limit_is_an_exact_storable_amount() {
        assert_eq!(limit_amount(12.5).map(|a| a.micro()).ok(), Some(12_500_000));
        assert_eq!(limit_amount(0.0).map(|a| a.micro()).ok(), Some(0));
        for bad in [-1.0, f64::NAN, f64::INFINITY, 0.000_000_1, 1e300] {
            assert!(limit_amount(bad).is_err(), "{bad}");
        }
    }
}
