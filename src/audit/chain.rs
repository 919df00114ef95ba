//! The ledger's hash chain and its canonical encoding.
//!
//! # Canonical encoding
//! An entry's canonical bytes are the compact JSON serialisation (no spaces,
//! UTF-8, `serde_json` string escaping) of [`EntryBody`] with its fields in
//! declaration order and absent values as `null`:
//! `{"seq":..,"at":..,"dataset":..,"consumer_id":..,"role":..,"event":..,"outcome":..,
//! "canonical_query":..,"query_hash":..,"cost_micro":..,"consumer_spent_micro":..,
//! "consumer_limit_micro":..,"global_spent_micro":..,"data_version":..,"idempotency_key":..,
//! "data_fingerprint":..}`, where `data_fingerprint` is left out entirely
//! when absent (entries written before it existed hash as they always did).
//!
//! `hash = SHA-256(prev_hash || canonical bytes)` where `prev_hash` is the
//! previous entry's 32-byte hash (32 zero bytes before the first entry); hashes
//! are written as lower-case hex.

use crate::domain::{Consumer, Role};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Hash before the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened. Serialised as its code (`charge`, `replay`, `refusal`,
/// `budget_change`), the bytes the hash chain has always held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A release was charged (or, at zero cost, repeated inside a report).
    Charge,
    /// A release or response given again at no cost.
    Replay,
    /// A request refused after authentication; nothing was charged.
    Refusal,
    /// A consumer's or the dataset's limit was changed.
    BudgetChange,
}

impl Event {
    pub const ALL: [Event; 4] = [
        Event::Charge,
        Event::Replay,
        Event::Refusal,
        Event::BudgetChange,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Event::Charge => "charge",
            Event::Replay => "replay",
            Event::Refusal => "refusal",
            Event::BudgetChange => "budget_change",
        }
    }

    pub fn parse(code: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.code() == code)
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Whose entry it is: a consumer of one role, or the service itself
/// (`system`: changes nobody asked for, such as a new policy limit).
/// Serialised as the role's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum EntryRole {
    Consumer(Role),
    System,
}

impl EntryRole {
    pub fn code(self) -> &'static str {
        match self {
            EntryRole::Consumer(role) => role.code(),
            EntryRole::System => "system",
        }
    }

    pub fn parse(code: &str) -> Option<EntryRole> {
        match code {
            "system" => Some(EntryRole::System),
            other => Role::parse(other).map(EntryRole::Consumer),
        }
    }
}

impl From<EntryRole> for String {
    fn from(r: EntryRole) -> String {
        r.code().to_owned()
    }
}

impl TryFrom<String> for EntryRole {
    type Error = String;
    fn try_from(code: String) -> Result<EntryRole, String> {
        EntryRole::parse(&code).ok_or_else(|| format!("unknown role \"{code}\""))
    }
}

impl std::fmt::Display for EntryRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// How it ended: `ok`, `idempotent_replay`, or the stable error code of a
/// refusal. Serialised as that code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Outcome {
    Ok,
    IdempotentReplay,
    /// Refused with this error code (`budget.exhausted`, `query.invalid`...).
    Refused(String),
}

impl Outcome {
    pub fn as_str(&self) -> &str {
        match self {
            Outcome::Ok => "ok",
            Outcome::IdempotentReplay => "idempotent_replay",
            Outcome::Refused(code) => code,
        }
    }

    /// An outcome from its code: error codes are lower-case dotted words.
    pub fn parse(code: &str) -> Option<Outcome> {
        match code {
            "ok" => Some(Outcome::Ok),
            "idempotent_replay" => Some(Outcome::IdempotentReplay),
            c if !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_') =>
            {
                Some(Outcome::Refused(c.to_owned()))
            }
            _ => None,
        }
    }
}

impl From<Outcome> for String {
    fn from(o: Outcome) -> String {
        o.as_str().to_owned()
    }
}

impl TryFrom<String> for Outcome {
    type Error = String;
    fn try_from(code: String) -> Result<Outcome, String> {
        Outcome::parse(&code).ok_or_else(|| format!("unknown outcome \"{code}\""))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The hashed content of a ledger entry, in canonical field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntryBody {
    pub seq: i64,
    /// RFC 3339 UTC.
    pub at: String,
    pub dataset: String,
    pub consumer_id: String,
    #[schema(value_type = String)]
    pub role: EntryRole,
    /// charge | replay | refusal | budget_change
    pub event: Event,
    /// `ok`, `idempotent_replay`, or the error code of a refusal.
    #[schema(value_type = String)]
    pub outcome: Outcome,
    pub canonical_query: Option<String>,
    pub query_hash: Option<String>,
    /// Amount debited by this entry (micro-units; 0 for replays and refusals).
    pub cost_micro: i64,
    pub consumer_spent_micro: Option<i64>,
    pub consumer_limit_micro: Option<i64>,
    pub global_spent_micro: Option<i64>,
    pub data_version: Option<i64>,
    pub idempotency_key: Option<String>,
    /// Keyed fingerprint of the data a charged release was computed on
    /// (see `domain::data`); part of the release key. Reveals nothing about
    /// the data without the server's secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_fingerprint: Option<String>,
}

/// A stored entry: its body and its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entry {
    #[serde(flatten)]
    pub body: EntryBody,
    pub prev_hash: String,
    pub hash: String,
}

impl EntryBody {
    /// An entry about `consumer`, at this instant, with the amounts and the
    /// query filled in by the caller and its place in the chain by the store.
    pub fn about(dataset: &str, consumer: &Consumer, event: Event, outcome: Outcome) -> EntryBody {
        EntryBody {
            seq: 0,
            at: crate::domain::now_rfc3339(),
            dataset: dataset.into(),
            consumer_id: consumer.id.clone(),
            role: EntryRole::Consumer(consumer.role),
            event,
            outcome,
            canonical_query: None,
            query_hash: None,
            cost_micro: 0,
            consumer_spent_micro: None,
            consumer_limit_micro: None,
            global_spent_micro: None,
            data_version: None,
            idempotency_key: None,
            data_fingerprint: None,
        }
    }

    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Serialising a plain struct of strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// `SHA-256(prev || canonical(body))` as hex; `None` if `prev_hash` is not 32 bytes of hex.
pub fn entry_hash(prev_hash: &str, body: &EntryBody) -> Option<String> {
    let prev = hex::decode(prev_hash).ok().filter(|p| p.len() == 32)?;
    let mut h = Sha256::new();
    h.update(&prev);
    h.update(body.canonical_bytes());
    Some(hex::encode(h.finalize()))
}

/// Why a sequence of entries is not a valid chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry {seq}: {reason}")]
pub struct ChainError {
    pub seq: i64,
    pub reason: String,
}

/// Checks that `entries` form a gap-free chain starting after (`start_seq - 1`, `start_hash`).
/// Returns the number of entries and the head hash.
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    start_seq: i64,
    start_hash: &str,
) -> Result<(i64, String), ChainError> {
    let mut prev = start_hash.to_owned();
    let mut n = 0;
    for (expected_seq, e) in (start_seq..).zip(entries) {
        if e.body.seq != expected_seq {
            return Err(ChainError {
                seq: expected_seq,
                reason: format!("expected sequence {expected_seq}, found {}", e.body.seq),
            });
        }
        if e.prev_hash != prev {
            return Err(ChainError {
                seq: e.body.seq,
                reason: "prev_hash does not match the previous entry".into(),
            });
        }
        let h = entry_hash(&prev, &e.body).ok_or_else(|| ChainError {
            seq: e.body.seq,
            reason: "malformed prev_hash".into(),
        })?;
        if h != e.hash {
            return Err(ChainError {
                seq: e.body.seq,
                reason: "hash does not match the entry's content".into(),
            });
        }
        prev = h;
        n += 1;
    }
    Ok((n, prev))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(seq: i64) -> EntryBody {
        EntryBody {
            seq,
            at: "2026-01-01T00:00:00Z".into(),
            dataset: "ctm".into(),
            consumer_id: "alice".into(),
            role: EntryRole::Consumer(Role::Researcher),
            event: Event::Charge,
            outcome: Outcome::Ok,
            canonical_query: Some("{}".into()),
            query_hash: None,
            cost_micro: 500_000,
            consumer_spent_micro: Some(500_000 * seq),
            consumer_limit_micro: Some(10_000_000),
            global_spent_micro: Some(500_000 * seq),
            data_version: Some(1),
            idempotency_key: None,
            data_fingerprint: None,
        }
    }

    fn chain(n: i64) -> Vec<Entry> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|s| {
                let b = body(s);
                let hash = entry_hash(&prev, &b).unwrap_or_default();
                let e = Entry {
                    body: b,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn a_built_chain_verifies_and_any_change_is_caught_at_its_entry() {
        let c = chain(5);
        assert_eq!(verify_chain(&c, 1, GENESIS_HASH).map(|r| r.0), Ok(5));
        let mut t = c.clone();
        t[2].body.cost_micro += 1;
        assert_eq!(verify_chain(&t, 1, GENESIS_HASH).map_err(|e| e.seq), Err(3));
        let mut r = c.clone();
        r.swap(1, 2);
        assert_eq!(verify_chain(&r, 1, GENESIS_HASH).map_err(|e| e.seq), Err(2));
    }

    #[test]
    fn canonical_encoding_is_stable() {
        let b = body(1);
        let s = String::from_utf8(b.canonical_bytes()).unwrap_or_default();
        assert!(
            s.starts_with("{\"seq\":1,\"at\":\"2026-01-01T00:00:00Z\",\"dataset\":\"ctm\""),
            "{s}"
        );
        assert!(
            s.ends_with("\"data_version\":1,\"idempotency_key\":null}"),
            "{s}"
        );
    }
}
