//! One role per consumer, for life.
//!
//! A token names its consumer (`sub`) and a role. Were the role taken from
//! each token, one consumer could be answered as a researcher today and as
//! a government tomorrow, charged to one budget row under another role's
//! limit, and the ledger would hold two roles for one consumer. So the role
//! a consumer first appears with in the store (its budget row, or its first
//! ledger entry) is its role: a token of another role is refused before
//! anything is read or charged. The charge checks again under the ledger
//! lock, for two first requests of a new consumer racing.
//!
//! Roles never change once stored, so a role read once is kept in memory.

use crate::domain::{Consumer, Role};
use crate::error::ApiError;
use crate::release::ReleaseError;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::Mutex;

/// Most roles kept in memory; past it the memory starts over (a lookup is
/// one indexed read).
const KEPT: usize = 100_000;

/// The consumers' stored roles, as the extractors check them.
pub struct Roles {
    store: Store,
    dataset: String,
    known: Mutex<HashMap<String, Role>>,
}

impl Roles {
    pub fn new(store: Store, dataset: String) -> Roles {
        Roles {
            store,
            dataset,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// Refuses `consumer` when the store knows it with another role.
    pub async fn check(&self, consumer: &Consumer) -> Result<(), ApiError> {
        let kept = self
            .known
            .lock()
            .ok()
            .and_then(|k| k.get(&consumer.id).copied());
        let stored = match kept {
            Some(role) => role,
            None => {
                let Some(code) = self.store.known_role(&self.dataset, &consumer.id).await? else {
                    return Ok(());
                };
                let role = Role::parse(&code)
                    .ok_or_else(|| ApiError::internal("a stored consumer has an unknown role"))?;
                if let Ok(mut known) = self.known.lock() {
                    if known.len() >= KEPT {
                        known.clear();
                    }
                    known.insert(consumer.id.clone(), role);
                }
                role
            }
        };
        if stored == consumer.role {
            Ok(())
        } else {
            tracing::warn!(
                consumer = %consumer.id,
                stored = stored.code(),
                token = consumer.role.code(),
                "a token names a consumer with another role; refused"
            );
            Err(ApiError::Release(ReleaseError::RoleChanged {
                stored: stored.code().into(),
                token: consumer.role.code().into(),
            }))
        }
    }
}
