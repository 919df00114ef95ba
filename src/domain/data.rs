//! What identifies the data a release is computed on, and the key of a release.
//!
//! A release is the noisy answer to one canonical query on one state of the
//! data. The state is named three ways, for three audiences:
//! - [`DataIdentity`], inside the process only: the store's random identity,
//!   its data version and a [`ContentDigest`] of exactly what the engine
//!   counts. Its digest is a secret in effect (a plain hash of a dataset lets
//!   someone who knows every record but one test a guess about the last), so
//!   it has no `Display`, its `Debug` is redacted, and it is never serialised.
//! - [`DataFingerprint`], published: a keyed hash of the identity (computed
//!   by `privacy::NoiseKey::fingerprint`), equal for identical data and
//!   unrelated otherwise, and useless without the server's secret key.
//! - the data version: a counter, for people ("the data changed").
//!
//! [`release_key`] is the one definition of a release's key, shared by the
//! server (stored releases, receipts, repeats) and the offline ledger
//! verifier (which counts each release's global debit once).

use sha2::{Digest, Sha256};
use std::fmt;

/// SHA-256 of the bounded snapshot, as the engine computes it at load.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ContentDigest([u8; 32]);

impl ContentDigest {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ContentDigest(bytes)
    }

    /// The raw bytes, for keyed hashing only.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContentDigest(***)")
    }
}

/// The state of the data a snapshot holds. Never leaves the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataIdentity {
    /// The store's random identity, created by its first migration.
    pub store_id: String,
    /// The store's data version when the snapshot was read.
    pub version: i64,
    /// What the engine counts.
    pub digest: ContentDigest,
}

/// A keyed, publishable name of a [`DataIdentity`]: 32 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataFingerprint(String);

impl DataFingerprint {
    /// Wraps the hex text of a fingerprint (made by the noise key, or read
    /// back from the ledger).
    pub fn from_hex(hex: String) -> Self {
        DataFingerprint(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DataFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key of the release of `canonical_query` on the data named by
/// `data_version` and `fingerprint`, as lower-case hex: equal for identical
/// answers, different whenever the question or the data differ.
///
/// `SHA-256(canonical ‖ "\n" ‖ version ‖ "\n" ‖ fingerprint)`. Ledger entries
/// written before fingerprints existed carry none; their key is
/// `SHA-256(canonical ‖ "\n" ‖ version)`, which this also computes.
pub fn release_key(
    canonical_query: &str,
    data_version: i64,
    fingerprint: Option<&DataFingerprint>,
) -> String {
    hex::encode(release_key_bytes(
        canonical_query,
        data_version,
        fingerprint,
    ))
}

/// [`release_key`] as bytes.
pub fn release_key_bytes(
    canonical_query: &str,
    data_version: i64,
    fingerprint: Option<&DataFingerprint>,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(canonical_query.as_bytes());
    h.update(b"\n");
    h.update(data_version.to_string().as_bytes());
    if let Some(f) = fingerprint {
        h.update(b"\n");
        h.update(f.as_str().as_bytes());
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_without_fingerprint_is_the_legacy_key() {
        let legacy = hex::encode(Sha256::digest(b"{\"q\":1}\n7"));
        assert_eq!(release_key("{\"q\":1}", 7, None), legacy);
    }

    #[test]
    fn the_fingerprint_changes_the_key() {
        let a = DataFingerprint::from_hex("aa".repeat(16));
        let b = DataFingerprint::from_hex("bb".repeat(16));
        let ka = release_key("q", 1, Some(&a));
        assert_ne!(ka, release_key("q", 1, Some(&b)));
        assert_ne!(ka, release_key("q", 1, None));
        assert_eq!(ka, release_key("q", 1, Some(&a)));
    }

    #[test]
    fn a_digest_never_prints() {
        let d = ContentDigest::from_bytes([7; 32]);
        assert_eq!(format!("{d:?}"), "ContentDigest(***)");
        let id = DataIdentity {
            store_id: "s".into(),
            version: 1,
            digest: d,
        };
        assert!(!format!("{id:?}").contains("07"));
    }
}
