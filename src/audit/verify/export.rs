//! Verification of a ledger export (`ctm-stats audit verify`, and the
//! auditors' own tools): the JSON Lines of entries and the final checkpoint
//! line, streamed through a [`Verifier`] and checked against a pinned key
//! and an earlier saved checkpoint. A checkpoint an auditor saved is parsed
//! here too.

use super::{Failure, FailureKind, Summary, Verifier, fail};
use crate::audit::checkpoint::{Checkpoint, PublicKey};
use serde::{Deserialize, Serialize};
use std::io::BufRead;

/// The last line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointLine {
    pub checkpoint: Option<Checkpoint>,
}

/// A checkpoint an auditor saved: the checkpoint itself, or an export's last line.
pub fn parse_saved_checkpoint(text: &str) -> Result<Checkpoint, String> {
    if let Ok(cp) = serde_json::from_str::<Checkpoint>(text) {
        return Ok(cp);
    }
    match serde_json::from_str::<CheckpointLine>(text) {
        Ok(CheckpointLine {
            checkpoint: Some(cp),
        }) => Ok(cp),
        _ => Err("expected a checkpoint as served by GET /v1/audit/checkpoints/latest".into()),
    }
}

/// A successfully verified export.
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub summary: Summary,
    /// The export's own (latest) checkpoint.
    pub checkpoint: Checkpoint,
    /// Entries after the checkpoint: chained, but not yet vouched for by a signature.
    pub unsigned_tail: i64,
    /// The auditor's earlier checkpoint that the export was shown to extend.
    pub saved: Option<Checkpoint>,
}

/// Why an export could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot read the export: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Failed(#[from] Failure),
}

const CHECKPOINT_PREFIX: &[u8] = b"{\"checkpoint\":";

/// The lines of an export, split at `\n` only: the service writes no
/// `\r`, so a line ending in one (a CRLF copy) is not its encoding and fails.
fn lines<R: BufRead>(reader: R) -> impl Iterator<Item = std::io::Result<Vec<u8>>> {
    reader.split(b'\n')
}

/// Verifies an export (JSON Lines: entries in sequence order, then
/// `{"checkpoint": ...}`) against a pinned public key and, optionally, a
/// checkpoint saved earlier, which the export must extend.
///
/// `open` is called twice: once to find the final checkpoint line, once to
/// stream the entries, so the export is never held in memory.
pub fn verify_export<R: BufRead>(
    open: impl Fn() -> std::io::Result<R>,
    key: &PublicKey,
    saved: Option<&Checkpoint>,
) -> Result<ExportReport, ExportError> {
    // Pass 1: where the entries end and what the final line says.
    let mut last_nonempty: Option<(usize, Vec<u8>)> = None;
    for (i, line) in lines(open()?).enumerate() {
        let line = line?;
        if !line.is_empty() {
            last_nonempty = Some((i, line));
        }
    }
    let (entry_lines, final_line) = match last_nonempty {
        None => (0, None),
        Some((i, l)) if l.starts_with(CHECKPOINT_PREFIX) => (i, Some(l)),
        Some((i, _)) => (i + 1, None),
    };
    let exported_cp: Result<Option<Checkpoint>, Failure> = match &final_line {
        None => Ok(None),
        Some(l) => serde_json::from_slice::<CheckpointLine>(l)
            .map(|c| c.checkpoint)
            .map_err(|_| {
                fail(
                    entry_lines as i64,
                    FailureKind::Checkpoint,
                    "the final checkpoint line cannot be read",
                )
            }),
    };
    // The final line must be exactly the service's bytes too (checked after
    // its signature, so a forged checkpoint is reported as such).
    let final_canonical = match &final_line {
        None => true,
        Some(l) => serde_json::from_slice::<CheckpointLine>(l)
            .ok()
            .and_then(|c| serde_json::to_vec(&c).ok())
            .is_some_and(|bytes| bytes == *l),
    };
    let exported_cp = exported_cp?;

    // Pass 2: the chain, the accounts and the anchors.
    let mut v = Verifier::new();
    if let Some(s) = saved {
        v.expect_head(s.size, &s.head_hash, "your saved checkpoint")?;
    }
    if let Some(cp) = &exported_cp {
        v.expect_head(cp.size, &cp.head_hash, "the export's checkpoint")?;
    }
    for line in lines(open()?).take(entry_lines) {
        v.push_line(&line?)?;
    }
    let summary = v.finish()?;

    // Signatures: after the chain, so a changed entry is reported at its own sequence number.
    if let Some(s) = saved {
        key.verify(s).map_err(|e| {
            fail(
                s.size,
                FailureKind::Checkpoint,
                format!("your saved checkpoint: {e}"),
            )
        })?;
    }
    let Some(cp) = exported_cp else {
        return Err(fail(
            summary.size,
            FailureKind::NoCheckpoint,
            "the export ends without a checkpoint, so no signature vouches for it",
        )
        .into());
    };
    key.verify(&cp).map_err(|e| {
        fail(
            cp.size,
            FailureKind::Checkpoint,
            format!("the export's checkpoint: {e}"),
        )
    })?;
    if !final_canonical {
        return Err(fail(
            entry_lines as i64,
            FailureKind::NonCanonical,
            "the final checkpoint line is not the service's encoding of its checkpoint (a byte was added or changed)",
        )
        .into());
    }
    Ok(ExportReport {
        unsigned_tail: summary.size - cp.size,
        checkpoint: cp,
        saved: saved.cloned(),
        summary,
    })
}

/// [`verify_export`] over bytes in memory.
pub fn verify_export_bytes(
    export: &[u8],
    key: &PublicKey,
    saved: Option<&Checkpoint>,
) -> Result<ExportReport, Failure> {
    match verify_export(|| Ok(std::io::Cursor::new(export)), key, saved) {
        Ok(r) => Ok(r),
        Err(ExportError::Failed(f)) => Err(f),
        // Reading from memory cannot fail.
        Err(ExportError::Io(e)) => Err(fail(0, FailureKind::Malformed, e.to_string())),
    }
}
