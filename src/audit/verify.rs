//! Verification of the ledger, shared by the server (`GET /v1/audit/verify`)
//! and the offline CLI (`ctm-stats audit verify`). No I/O beyond reading an
//! export through a caller-supplied reader.
//!
//! A [`Verifier`] takes entries in sequence order and checks, entry by entry:
//! - the chain: gap-free sequence numbers from 1, `prev_hash` equal to the
//!   previous hash, `hash = SHA-256(prev_hash || canonical bytes)`;
//! - the accounts: only `charge` entries debit; every consumer's reported
//!   `consumer_spent_micro` equals the sum of its charges so far and never
//!   exceeds its reported limit; every reported `global_spent_micro` equals the
//!   dataset's global debits so far (a charge debits the global budget when it
//!   is the first charge of its release, i.e. of its canonical query on its
//!   data, keyed by [`crate::domain::data::release_key`] exactly as the
//!   server keys it);
//! - anchors: the hash at a checkpoint's size equals the checkpoint's head.
//!
//! # Which sequence number a failure names
//! For an entry that is malformed, out of order, changed or inconsistent: its
//! position in the chain (the sequence number that should be there). For an
//! export shorter than a checkpoint: the first missing entry. For a checkpoint
//! that is not signed by the pinned key, or whose head differs: the
//! checkpoint's size. For budget tables that disagree with the ledger: the
//! ledger size + 1 (where ledger and tables part ways).

use super::chain::{Entry, Event, GENESIS_HASH, entry_hash};

use crate::domain::DataFingerprint;
use crate::domain::data::release_key_bytes;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

mod export;

pub use export::{
    CheckpointLine, ExportError, ExportReport, parse_saved_checkpoint, verify_export,
    verify_export_bytes,
};

/// What is wrong at the first bad sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The line is not a ledger entry.
    Malformed,
    /// The line is an entry but not in the canonical encoding the service writes.
    NonCanonical,
    /// Missing, repeated or reordered entry.
    Sequence,
    PrevHash,
    Hash,
    /// A debit where none may be (non-charge entry) or a charge that is not one.
    Debit,
    ConsumerSpent,
    Overspent,
    GlobalSpent,
    /// The ledger or export ends before an entry a checkpoint covers.
    Truncated,
    /// The hash at a checkpoint's size is not the checkpoint's head hash.
    CheckpointHead,
    /// A checkpoint not signed by the pinned key, or unreadable.
    Checkpoint,
    /// The export carries no checkpoint, so nothing vouches for it.
    NoCheckpoint,
    /// The budgets tables disagree with the ledger.
    TableMismatch,
}

/// The first problem found, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema, thiserror::Error)]
#[error("sequence {seq}: {detail}")]
pub struct Failure {
    /// The first bad sequence number (see the module documentation).
    pub seq: i64,
    pub kind: FailureKind,
    pub detail: String,
}

fn fail(seq: i64, kind: FailureKind, detail: impl Into<String>) -> Failure {
    Failure {
        seq,
        kind,
        detail: detail.into(),
    }
}

/// What the ledger says about one consumer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConsumerTally {
    /// Role named by the consumer's latest entry.
    pub role: String,
    /// Sum of `cost_micro` over the consumer's charge entries.
    pub debited_micro: i64,
    pub charges: u64,
    pub replays: u64,
    pub refusals: u64,
    pub budget_changes: u64,
    /// The last `consumer_spent_micro` an entry reported.
    pub reported_spent_micro: Option<i64>,
    /// The last `consumer_limit_micro` an entry reported.
    pub reported_limit_micro: Option<i64>,
    pub last_seq: i64,
}

/// The result of a verified chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Number of entries (the sequence number of the head).
    pub size: i64,
    pub head_hash: String,
    /// Per (dataset, consumer).
    pub consumers: BTreeMap<(String, String), ConsumerTally>,
    /// Global debits per dataset.
    pub global_debited_micro: BTreeMap<String, i64>,
    /// Distinct releases charged.
    pub releases: u64,
}

struct Anchor {
    head_hash: String,
    what: String,
}

/// Incremental verifier: register anchors, push entries in order, then finish.
pub struct Verifier {
    next_seq: i64,
    head: String,
    anchors: BTreeMap<i64, Vec<Anchor>>,
    consumers: BTreeMap<(String, String), ConsumerTally>,
    global: BTreeMap<String, i64>,
    releases: HashSet<[u8; 32]>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier {
            next_seq: 1,
            head: GENESIS_HASH.to_owned(),
            anchors: BTreeMap::new(),
            consumers: BTreeMap::new(),
            global: BTreeMap::new(),
            releases: HashSet::new(),
        }
    }

    /// Entries accepted so far.
    pub fn size(&self) -> i64 {
        self.next_seq - 1
    }

    /// Hash of the last entry accepted (the genesis hash before the first).
    pub fn head_hash(&self) -> &str {
        &self.head
    }

    /// Requires the hash after `size` entries to be `head_hash`. Call before
    /// pushing entry `size`; `what` names the anchor in a failure.
    pub fn expect_head(&mut self, size: i64, head_hash: &str, what: &str) -> Result<(), Failure> {
        if size < 0 {
            return Err(fail(
                size,
                FailureKind::CheckpointHead,
                format!("{what}: negative size"),
            ));
        }
        if size < self.size() {
            return Err(fail(
                size,
                FailureKind::CheckpointHead,
                format!("{what}: registered after entry {size} was checked"),
            ));
        }
        if size == self.size() {
            return self.check_head(size, head_hash, what);
        }
        self.anchors.entry(size).or_default().push(Anchor {
            head_hash: head_hash.to_owned(),
            what: what.to_owned(),
        });
        Ok(())
    }

    fn check_head(&self, size: i64, head_hash: &str, what: &str) -> Result<(), Failure> {
        if self.head == head_hash {
            Ok(())
        } else {
            Err(fail(
                size,
                FailureKind::CheckpointHead,
                format!(
                    "{what} says entry {size} has hash {head_hash}, but the chain has {}",
                    self.head
                ),
            ))
        }
    }

    /// Parses one export line and pushes it. The line must be exactly the
    /// service's serialisation of the entry, so that no byte can change
    /// without being noticed (an unknown or renamed field included).
    pub fn push_line(&mut self, line: &[u8]) -> Result<(), Failure> {
        let seq = self.next_seq;
        let entry: Entry = serde_json::from_slice(line).map_err(|e| {
            fail(
                seq,
                FailureKind::Malformed,
                format!(
                    "the line is not a ledger entry (JSON error at column {})",
                    e.column()
                ),
            )
        })?;
        let canonical = serde_json::to_vec(&entry).unwrap_or_default();
        if canonical != line {
            return Err(fail(
                seq,
                FailureKind::NonCanonical,
                "the line is not the canonical encoding of an entry (a field was added, renamed, reordered or reformatted)",
            ));
        }
        self.push(&entry)
    }

    /// Checks one entry against the chain and the accounts so far.
    pub fn push(&mut self, e: &Entry) -> Result<(), Failure> {
        let seq = self.next_seq;
        let b = &e.body;
        if b.seq != seq {
            return Err(fail(
                seq,
                FailureKind::Sequence,
                format!("expected entry {seq}, found entry {}", b.seq),
            ));
        }
        if e.prev_hash != self.head {
            return Err(fail(
                seq,
                FailureKind::PrevHash,
                "prev_hash is not the hash of the previous entry",
            ));
        }
        match entry_hash(&self.head, b) {
            Some(h) if h == e.hash => {}
            _ => {
                return Err(fail(
                    seq,
                    FailureKind::Hash,
                    "the hash does not match the entry's content",
                ));
            }
        }
        self.account(e)?;
        self.head = e.hash.clone();
        if let Some(anchors) = self.anchors.remove(&seq) {
            for a in anchors {
                self.check_head(seq, &a.head_hash, &a.what)?;
            }
        }
        self.next_seq += 1;
        Ok(())
    }

    fn account(&mut self, e: &Entry) -> Result<(), Failure> {
        let b = &e.body;
        let seq = b.seq;
        if b.cost_micro < 0 {
            return Err(fail(seq, FailureKind::Debit, "negative cost"));
        }
        let key = (b.dataset.clone(), b.consumer_id.clone());
        let tally = self.consumers.entry(key).or_default();
        tally.role = b.role.code().to_owned();
        tally.last_seq = seq;
        let global = self.global.entry(b.dataset.clone()).or_insert(0);
        match b.event {
            Event::Charge => {
                let (Some(query), Some(version)) = (&b.canonical_query, b.data_version) else {
                    return Err(fail(
                        seq,
                        FailureKind::Debit,
                        "a charge must name its canonical query and data version",
                    ));
                };
                if b.cost_micro == 0 {
                    return Err(fail(seq, FailureKind::Debit, "a charge of zero"));
                }
                tally.charges += 1;
                tally.debited_micro = tally
                    .debited_micro
                    .checked_add(b.cost_micro)
                    .ok_or_else(|| fail(seq, FailureKind::Debit, "debits overflow"))?;
                // The first charge of a release also debits the dataset's
                // global budget; the release is keyed as the server keys it.
                let fingerprint = b.data_fingerprint.clone().map(DataFingerprint::from_hex);
                if self
                    .releases
                    .insert(release_key_bytes(query, version, fingerprint.as_ref()))
                {
                    *global = global
                        .checked_add(b.cost_micro)
                        .ok_or_else(|| fail(seq, FailureKind::Debit, "debits overflow"))?;
                }
            }
            other => {
                match other {
                    Event::Replay => tally.replays += 1,
                    Event::Refusal => tally.refusals += 1,
                    Event::BudgetChange => tally.budget_changes += 1,
                    Event::Charge => {}
                }
                if b.cost_micro != 0 {
                    return Err(fail(
                        seq,
                        FailureKind::Debit,
                        format!(
                            "a {other} entry may not debit, but this one costs {}",
                            b.cost_micro
                        ),
                    ));
                }
            }
        }
        if let Some(spent) = b.consumer_spent_micro {
            if spent != tally.debited_micro {
                return Err(fail(
                    seq,
                    FailureKind::ConsumerSpent,
                    format!(
                        "consumer {} is reported to have spent {spent} micro-units, but its charges in the ledger sum to {}",
                        b.consumer_id, tally.debited_micro
                    ),
                ));
            }
            tally.reported_spent_micro = Some(spent);
        }
        if let Some(limit) = b.consumer_limit_micro {
            if tally.debited_micro > limit {
                return Err(fail(
                    seq,
                    FailureKind::Overspent,
                    format!(
                        "consumer {} has spent {} micro-units, above its limit of {limit}",
                        b.consumer_id, tally.debited_micro
                    ),
                ));
            }
            tally.reported_limit_micro = Some(limit);
        }
        if let Some(g) = b.global_spent_micro
            && g != *global
        {
            return Err(fail(
                seq,
                FailureKind::GlobalSpent,
                format!(
                    "dataset {} is reported to have spent {g} micro-units globally, but its first charges of each release sum to {global}",
                    b.dataset
                ),
            ));
        }
        Ok(())
    }

    /// Ends verification: every anchor must have been reached.
    pub fn finish(self) -> Result<Summary, Failure> {
        if let Some((size, anchors)) = self.anchors.iter().next() {
            let what = anchors.first().map_or("a checkpoint", |a| a.what.as_str());
            return Err(fail(
                self.next_seq,
                FailureKind::Truncated,
                format!(
                    "{what} covers {size} entries, but only {} are present",
                    self.next_seq - 1
                ),
            ));
        }
        Ok(Summary {
            size: self.next_seq - 1,
            head_hash: self.head,
            releases: self.releases.len() as u64,
            consumers: self.consumers,
            global_debited_micro: self.global,
        })
    }
}

/// A consumer's budget row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRow {
    pub dataset: String,
    pub consumer_id: String,
    pub limit_micro: i64,
    pub spent_micro: i64,
}

/// Checks the budgets tables against a verified ledger: each consumer's spent
/// equals its debits, its limit the last limit the ledger reported, and each
/// dataset's global spent its global debits.
pub fn reconcile_tables(
    summary: &Summary,
    consumers: &[ConsumerRow],
    globals: &[(String, i64)],
) -> Result<(), Failure> {
    let seq = summary.size + 1;
    let mismatch = |detail: String| fail(seq, FailureKind::TableMismatch, detail);
    let mut seen = HashSet::new();
    for row in consumers {
        let key = (row.dataset.clone(), row.consumer_id.clone());
        let tally = summary.consumers.get(&key);
        let debited = tally.map_or(0, |t| t.debited_micro);
        if row.spent_micro != debited {
            return Err(mismatch(format!(
                "consumer {} has spent {} micro-units in the budgets table, but {debited} in the ledger",
                row.consumer_id, row.spent_micro
            )));
        }
        if let Some(limit) = tally.and_then(|t| t.reported_limit_micro)
            && limit != row.limit_micro
        {
            return Err(mismatch(format!(
                "consumer {} has a limit of {} micro-units in the budgets table, but the ledger last recorded {limit}",
                row.consumer_id, row.limit_micro
            )));
        }
        seen.insert(key);
    }
    for ((dataset, id), t) in &summary.consumers {
        if t.debited_micro > 0 && !seen.contains(&(dataset.clone(), id.clone())) {
            return Err(mismatch(format!(
                "consumer {id} was charged in the ledger but has no budget row"
            )));
        }
    }
    for (dataset, spent) in globals {
        let debited = summary
            .global_debited_micro
            .get(dataset)
            .copied()
            .unwrap_or(0);
        if *spent != debited {
            return Err(mismatch(format!(
                "dataset {dataset} has spent {spent} micro-units globally in the budgets table, but {debited} in the ledger"
            )));
        }
    }
    for (dataset, debited) in &summary.global_debited_micro {
        if *debited > 0 && !globals.iter().any(|(d, _)| d == dataset) {
            return Err(mismatch(format!(
                "dataset {dataset} was charged in the ledger but has no global budget row"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{EntryBody, EntryRole, Outcome};
    use crate::audit::checkpoint::{Checkpoint, Signer};
    use crate::domain::Role;

    /// A mixed chain: charges, a repeat, a second consumer paying for a stored
    /// release, a refusal and a budget change, with consistent amounts.
    fn workload() -> Vec<EntryBody> {
        fn body(seq: i64, who: &str, ev: Event, cost: i64, spent: i64, global: i64) -> EntryBody {
            EntryBody {
                seq,
                at: format!("2026-01-01T00:00:{seq:02}Z"),
                dataset: "ctm".into(),
                consumer_id: who.into(),
                role: EntryRole::Consumer(Role::Researcher),
                event: ev,
                outcome: Outcome::Ok,
                canonical_query: Some(format!("{{\"q\":{}}}", if seq == 4 { 1 } else { seq })),
                query_hash: Some("ab".repeat(32)),
                cost_micro: cost,
                consumer_spent_micro: Some(spent),
                consumer_limit_micro: Some(10_000_000),
                global_spent_micro: Some(global),
                data_version: Some(1),
                idempotency_key: None,
                data_fingerprint: None,
            }
        }
        let mut refusal = body(5, "bob", Event::Refusal, 0, 500_000, 1_000_000);
        refusal.outcome = Outcome::Refused("budget.exhausted".into());
        let mut change = body(6, "bob", Event::BudgetChange, 0, 500_000, 1_000_000);
        change.canonical_query = Some("{\"action\":\"set_limit\",\"by\":\"root\"}".into());
        change.consumer_limit_micro = Some(2_000_000);
        vec![
            body(1, "alice", Event::Charge, 500_000, 500_000, 500_000),
            body(2, "alice", Event::Charge, 500_000, 1_000_000, 1_000_000),
            // alice repeats query 2: free.
            {
                let mut r = body(3, "alice", Event::Replay, 0, 1_000_000, 1_000_000);
                r.canonical_query = Some("{\"q\":2}".into());
                r
            },
            // bob pays for alice's stored release 1: his budget, not the global one.
            body(4, "bob", Event::Charge, 500_000, 500_000, 1_000_000),
            refusal,
            change,
        ]
    }

    fn chain_of(bodies: Vec<EntryBody>) -> Vec<Entry> {
        let mut prev = GENESIS_HASH.to_owned();
        bodies
            .into_iter()
            .map(|b| {
                let hash = entry_hash(&prev, &b).expect("hash");
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

    fn signer() -> Signer {
        Signer::from_secret(&[3u8; 32])
    }

    fn export_of(entries: &[Entry], cp: Option<&Checkpoint>) -> Vec<Vec<u8>> {
        let mut lines: Vec<Vec<u8>> = entries
            .iter()
            .map(|e| serde_json::to_vec(e).expect("json"))
            .collect();
        lines.push(
            serde_json::to_vec(&CheckpointLine {
                checkpoint: cp.cloned(),
            })
            .expect("json"),
        );
        lines
    }

    fn join(lines: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        out
    }

    fn head_checkpoint(entries: &[Entry]) -> Checkpoint {
        let last = entries.last().expect("entries");
        signer().sign("ctm", last.body.seq, &last.hash, "2026-01-01T01:00:00Z")
    }

    fn failing_seq(export: &[u8], saved: Option<&Checkpoint>) -> Option<(i64, FailureKind)> {
        verify_export_bytes(export, &signer().public_key(), saved)
            .err()
            .map(|f| (f.seq, f.kind))
    }

    #[test]
    fn a_mixed_workload_verifies_and_reconciles() {
        let entries = chain_of(workload());
        let cp = head_checkpoint(&entries);
        let report = verify_export_bytes(
            &join(&export_of(&entries, Some(&cp))),
            &signer().public_key(),
            None,
        )
        .expect("valid export");
        let s = &report.summary;
        assert_eq!(s.size, 6);
        assert_eq!(report.unsigned_tail, 0);
        assert_eq!(s.releases, 2);
        assert_eq!(s.global_debited_micro["ctm"], 1_000_000);
        let alice = &s.consumers[&("ctm".to_owned(), "alice".to_owned())];
        assert_eq!(
            (alice.debited_micro, alice.charges, alice.replays),
            (1_000_000, 2, 1)
        );
        let bob = &s.consumers[&("ctm".to_owned(), "bob".to_owned())];
        assert_eq!(
            (bob.debited_micro, bob.refusals, bob.budget_changes),
            (500_000, 1, 1)
        );
        assert_eq!(bob.reported_limit_micro, Some(2_000_000));
        let rows = [
            ConsumerRow {
                dataset: "ctm".into(),
                consumer_id: "alice".into(),
                limit_micro: 10_000_000,
                spent_micro: 1_000_000,
            },
            ConsumerRow {
                dataset: "ctm".into(),
                consumer_id: "bob".into(),
                limit_micro: 2_000_000,
                spent_micro: 500_000,
            },
        ];
        assert_eq!(
            reconcile_tables(s, &rows, &[("ctm".into(), 1_000_000)]),
            Ok(())
        );
        let mut off = rows.clone();
        off[1].spent_micro += 1;
        assert_eq!(
            reconcile_tables(s, &off, &[("ctm".into(), 1_000_000)]).map_err(|f| (f.seq, f.kind)),
            Err((7, FailureKind::TableMismatch))
        );
        assert_eq!(
            reconcile_tables(s, &rows, &[("ctm".into(), 999_999)]).map_err(|f| f.kind),
            Err(FailureKind::TableMismatch)
        );
    }

    #[test]
    fn carriage_returns_are_refused_wherever_they_are() {
        let entries = chain_of(workload());
        let cp = head_checkpoint(&entries);
        let lines = export_of(&entries, Some(&cp));
        // A CRLF copy of the whole export.
        let mut crlf = Vec::new();
        for l in &lines {
            crlf.extend_from_slice(l);
            crlf.extend_from_slice(b"\r\n");
        }
        assert!(
            failing_seq(&crlf, None).is_some_and(|(_, kind)| kind == FailureKind::NonCanonical),
            "a CRLF export is refused"
        );
        // One entry line with a trailing CR.
        let mut one = lines.clone();
        one[2].push(b'\r');
        assert_eq!(
            failing_seq(&join(&one), None),
            Some((3, FailureKind::NonCanonical))
        );
        // The final checkpoint line with a trailing CR.
        let mut last = lines.clone();
        if let Some(l) = last.last_mut() {
            l.push(b'\r');
        }
        assert_eq!(
            failing_seq(&join(&last), None),
            Some((6, FailureKind::NonCanonical))
        );
        // The export as written verifies.
        assert_eq!(failing_seq(&join(&lines), None), None);
    }

    #[test]
    fn flipping_any_byte_of_any_entry_is_caught_at_that_entry() {
        let entries = chain_of(workload());
        let cp = head_checkpoint(&entries);
        let lines = export_of(&entries, Some(&cp));
        for (i, entry) in entries.iter().enumerate() {
            // The line and its terminating newline.
            for pos in 0..=lines[i].len() {
                for mask in [0x01u8, 0x20, 0x80] {
                    let mut tampered = lines.clone();
                    let mut bytes = join(&tampered[..i]);
                    if pos < lines[i].len() {
                        tampered[i][pos] ^= mask;
                        bytes.extend_from_slice(&tampered[i]);
                        bytes.push(b'\n');
                    } else {
                        bytes.extend_from_slice(&tampered[i]);
                        bytes.push(b'\n' ^ mask);
                    }
                    bytes.extend_from_slice(&join(&tampered[i + 1..]));
                    let got = failing_seq(&bytes, None);
                    assert_eq!(
                        got.map(|g| g.0),
                        Some(entry.body.seq),
                        "byte {pos} of entry {} xor {mask:#04x}: {got:?}",
                        entry.body.seq
                    );
                }
            }
        }
    }

    #[test]
    fn dropping_the_last_entry_is_caught_at_its_sequence_number() {
        let entries = chain_of(workload());
        let cp = head_checkpoint(&entries);
        let mut lines = export_of(&entries, Some(&cp));
        lines.remove(entries.len() - 1);
        assert_eq!(
            failing_seq(&join(&lines), None),
            Some((6, FailureKind::Truncated))
        );
        // Dropping the checkpoint line as well leaves nothing to vouch for the export.
        lines.pop();
        assert_eq!(
            failing_seq(&join(&lines), None),
            Some((5, FailureKind::NoCheckpoint))
        );
    }

    #[test]
    fn reordering_two_entries_is_caught_at_the_first_of_them() {
        let entries = chain_of(workload());
        let cp = head_checkpoint(&entries);
        let mut lines = export_of(&entries, Some(&cp));
        lines.swap(2, 4);
        assert_eq!(
            failing_seq(&join(&lines), None),
            Some((3, FailureKind::Sequence))
        );
    }

    #[test]
    fn a_forged_checkpoint_signature_is_caught_at_its_size() {
        let entries = chain_of(workload());
        let mut cp = head_checkpoint(&entries);
        let mut sig = hex::decode(&cp.signature).expect("hex");
        sig[10] ^= 1;
        cp.signature = hex::encode(sig);
        assert_eq!(
            failing_seq(&join(&export_of(&entries, Some(&cp))), None),
            Some((6, FailureKind::Checkpoint))
        );
        // Signed by a key that is not the pinned one.
        let other = Signer::from_secret(&[9u8; 32]).sign("ctm", 6, &entries[5].hash, "t");
        assert_eq!(
            failing_seq(&join(&export_of(&entries, Some(&other))), None),
            Some((6, FailureKind::Checkpoint))
        );
    }

    #[test]
    fn a_rewritten_history_with_a_recomputed_chain_fails_against_a_saved_checkpoint() {
        let honest = chain_of(workload());
        let saved = signer().sign("ctm", 4, &honest[3].hash, "2026-01-01T00:30:00Z");
        // The database owner lowers alice's second charge and rebuilds the whole chain.
        let mut bodies = workload();
        bodies[1].canonical_query = Some("{\"q\":99}".into());
        let rewritten = chain_of(bodies);
        let cp = head_checkpoint(&rewritten);
        let export = join(&export_of(&rewritten, Some(&cp)));
        // The service's next checkpoint signs whatever head the database holds, so
        // alone the rewritten export looks fine; the auditor's saved checkpoint exposes it.
        assert!(failing_seq(&export, None).is_none());
        assert_eq!(
            failing_seq(&export, Some(&saved)),
            Some((4, FailureKind::CheckpointHead))
        );
        // An export shorter than the saved checkpoint fails at the first missing entry.
        let short = join(&export_of(
            &honest[..3],
            Some(&signer().sign("ctm", 3, &honest[2].hash, "t")),
        ));
        assert_eq!(
            failing_seq(&short, Some(&saved)),
            Some((4, FailureKind::Truncated))
        );
        // And a saved checkpoint the export does extend passes.
        let good = join(&export_of(&honest, Some(&head_checkpoint(&honest))));
        assert!(failing_seq(&good, Some(&saved)).is_none());
    }

    #[test]
    fn an_entry_reporting_the_wrong_spent_is_caught_even_with_a_valid_chain() {
        let mut bodies = workload();
        bodies[3].consumer_spent_micro = Some(400_000);
        let entries = chain_of(bodies);
        let cp = head_checkpoint(&entries);
        assert_eq!(
            failing_seq(&join(&export_of(&entries, Some(&cp))), None),
            Some((4, FailureKind::ConsumerSpent))
        );
        let mut bodies = workload();
        bodies[3].global_spent_micro = Some(1_500_000);
        let entries = chain_of(bodies);
        let cp = head_checkpoint(&entries);
        assert_eq!(
            failing_seq(&join(&export_of(&entries, Some(&cp))), None),
            Some((4, FailureKind::GlobalSpent))
        );
        let mut bodies = workload();
        bodies[2].cost_micro = 1;
        let entries = chain_of(bodies);
        let cp = head_checkpoint(&entries);
        assert_eq!(
            failing_seq(&join(&export_of(&entries, Some(&cp))), None),
            Some((3, FailureKind::Debit))
        );
    }

    #[test]
    fn entries_after_the_checkpoint_are_reported_as_unsigned() {
        let entries = chain_of(workload());
        let cp = signer().sign("ctm", 4, &entries[3].hash, "t");
        let r = verify_export_bytes(
            &join(&export_of(&entries, Some(&cp))),
            &signer().public_key(),
            None,
        )
        .expect("valid");
        assert_eq!(r.unsigned_tail, 2);
    }

    #[test]
    fn a_saved_checkpoint_is_read_bare_or_as_an_export_line() {
        let cp = signer().sign("ctm", 1, GENESIS_HASH, "t");
        let bare = serde_json::to_string(&cp).expect("json");
        let line = serde_json::to_string(&CheckpointLine {
            checkpoint: Some(cp.clone()),
        })
        .expect("json");
        assert_eq!(parse_saved_checkpoint(&bare), Ok(cp.clone()));
        assert_eq!(parse_saved_checkpoint(&line), Ok(cp));
        assert!(parse_saved_checkpoint("{}").is_err());
    }
}
