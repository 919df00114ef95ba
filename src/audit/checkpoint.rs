//! Signed checkpoints of the ledger head and the Ed25519 key that signs them.
//!
//! A checkpoint says "the ledger of `dataset` had `size` entries and its last
//! hash was `head_hash` at time `at`", signed with a key that lives in a file
//! (`LEDGER_KEY_FILE`), never in the database. An auditor who pins the public
//! key and keeps a checkpoint can later prove that the ledger still extends it:
//! whoever controls the database cannot sign a rewritten history.
//!
//! # Signed message
//! The signature covers the compact JSON (fields in this order, `serde_json`
//! escaping, no spaces) of
//! `{"context":"ctm-stats/ledger-checkpoint/v1","dataset":..,"size":..,"head_hash":..,"at":..}`;
//! see [`checkpoint_message`]. The signature is 64 bytes in lower-case hex.
//!
//! # Key file and key id
//! The key file holds the 32-byte Ed25519 secret in hex (mode 0600). The public
//! key is shown as 64 hex characters; its key id is the hex of the first 8 bytes
//! of SHA-256 of the 32 public-key bytes.

use crate::files::write_private;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;

/// Domain separation: a checkpoint signature can never be mistaken for another signed object.
pub const CHECKPOINT_CONTEXT: &str = "ctm-stats/ledger-checkpoint/v1";

/// A signed statement of the ledger head, as stored, served and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub dataset: String,
    /// Number of ledger entries covered (the sequence number of the head entry).
    pub size: i64,
    /// Hash of entry `size` (64 zeros for an empty ledger).
    pub head_hash: String,
    /// RFC 3339 UTC time of signing.
    pub at: String,
    /// Hex of the first 8 bytes of SHA-256 of the signing public key.
    pub key_id: String,
    /// Ed25519 signature of the canonical message, hex.
    pub signature: String,
}

#[derive(Serialize)]
struct Message<'a> {
    context: &'a str,
    dataset: &'a str,
    size: i64,
    head_hash: &'a str,
    at: &'a str,
}

/// The exact bytes a checkpoint signature covers.
pub fn checkpoint_message(dataset: &str, size: i64, head_hash: &str, at: &str) -> Vec<u8> {
    // Serialising strings and an integer cannot fail.
    serde_json::to_vec(&Message {
        context: CHECKPOINT_CONTEXT,
        dataset,
        size,
        head_hash,
        at,
    })
    .unwrap_or_default()
}

/// Problems with keys and key files. Messages name files, never key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    File(String),
    #[error("cannot get entropy for a new signing key: {0}")]
    Entropy(String),
    #[error("{0}")]
    Malformed(String),
}

/// Why a checkpoint is not vouched for by a public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signed by key {found}, not by the pinned key {expected}")]
    OtherKey { found: String, expected: String },
    #[error("the signature is not 64 bytes of lower-case hex")]
    Malformed,
    #[error("the signature does not match the checkpoint's content")]
    Invalid,
}

/// A checkpoint verification key (the public half of the signing key).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl PublicKey {
    /// Parses 64 hex characters (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                KeyError::Malformed("a public key is 64 hex characters (32 bytes)".into())
            })?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| KeyError::Malformed("not a valid Ed25519 public key".into()))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// Hex of the first 8 bytes of SHA-256 of the public key.
    pub fn key_id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..8])
    }

    /// Checks that `cp` was signed by this key over its own content.
    pub fn verify(&self, cp: &Checkpoint) -> Result<(), SignatureError> {
        let expected = self.key_id();
        if cp.key_id != expected {
            return Err(SignatureError::OtherKey {
                found: cp.key_id.clone(),
                expected,
            });
        }
        // Lower-case only, as signed: hex decoding alone would let `D` stand
        // for `d`, and an export with a byte changed would still verify
        // (found by the export_verifier fuzz target).
        let lower = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if !cp.signature.chars().all(lower) {
            return Err(SignatureError::Malformed);
        }
        let sig: [u8; 64] = hex::decode(&cp.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(SignatureError::Malformed)?;
        let msg = checkpoint_message(&cp.dataset, cp.size, &cp.head_hash, &cp.at);
        // verify_strict also refuses weak keys and malleable signatures.
        self.0
            .verify_strict(&msg, &Signature::from_bytes(&sig))
            .map_err(|_| SignatureError::Invalid)
    }
}

/// The checkpoint signing key. Its `Debug` output never shows the secret.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer(key id {})", self.public_key().key_id())
    }
}

impl Signer {
    pub fn from_secret(secret: &[u8; 32]) -> Signer {
        Signer {
            key: SigningKey::from_bytes(secret),
        }
    }

    /// A fresh key from the operating system's generator.
    pub fn generate() -> Result<Signer, KeyError> {
        use rand::TryRng;
        // ed25519-dalek 2 expects an older rand_core, so draw the secret bytes ourselves.
        let mut secret = [0u8; 32];
        rand::rngs::SysRng
            .try_fill_bytes(&mut secret)
            .map_err(|e| KeyError::Entropy(e.to_string()))?;
        let signer = Signer::from_secret(&secret);
        secret.fill(0);
        Ok(signer)
    }

    /// Reads a key file written by [`Signer::create`].
    pub fn load(path: &Path) -> Result<Signer, KeyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| KeyError::File(format!("cannot read {}: {e}", path.display())))?;
        let mut bytes = hex::decode(text.trim()).map_err(|_| {
            KeyError::Malformed(format!("{}: expected 64 hex characters", path.display()))
        })?;
        let secret: Option<[u8; 32]> = bytes.as_slice().try_into().ok();
        bytes.fill(0);
        let mut secret = secret.ok_or_else(|| {
            KeyError::Malformed(format!(
                "{}: an Ed25519 secret key is 32 bytes",
                path.display()
            ))
        })?;
        warn_if_readable_by_others(path);
        let signer = Signer::from_secret(&secret);
        secret.fill(0);
        Ok(signer)
    }

    /// Generates a key and writes it to `path` (mode 0600); refuses to overwrite a file.
    pub fn create(path: &Path) -> Result<Signer, KeyError> {
        let signer = Signer::generate()?;
        write_private(path, hex::encode(signer.key.to_bytes()).as_bytes())
            .map_err(|e| KeyError::File(e.to_string()))?;
        Ok(signer)
    }

    /// Loads the key, or creates it when the file does not exist (demo start-up).
    /// The flag says whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(Signer, bool), KeyError> {
        if path.exists() {
            Ok((Signer::load(path)?, false))
        } else {
            Ok((Signer::create(path)?, true))
        }
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    /// Signs the head `(size, head_hash)` of `dataset`'s ledger as of `at`.
    pub fn sign(&self, dataset: &str, size: i64, head_hash: &str, at: &str) -> Checkpoint {
        let msg = checkpoint_message(dataset, size, head_hash, at);
        Checkpoint {
            dataset: dataset.into(),
            size,
            head_hash: head_hash.into(),
            at: at.into(),
            key_id: self.public_key().key_id(),
            signature: hex::encode(self.key.sign(&msg).to_bytes()),
        }
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(file = %path.display(), "the ledger signing key is readable by other users; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::from_secret(&[7u8; 32])
    }

    #[test]
    fn a_checkpoint_verifies_under_its_key_and_nothing_else() {
        let s = signer();
        let cp = s.sign("ctm", 3, &"ab".repeat(32), "2026-01-01T00:00:00Z");
        let pk = s.public_key();
        assert_eq!(pk.verify(&cp), Ok(()));
        assert_eq!(pk.key_id().len(), 16);
        let mut moved = cp.clone();
        moved.size = 4;
        assert_eq!(pk.verify(&moved), Err(SignatureError::Invalid));
        let other = Signer::from_secret(&[8u8; 32]).public_key();
        assert!(matches!(
            other.verify(&cp),
            Err(SignatureError::OtherKey { .. })
        ));
        let mut forged = cp.clone();
        forged.signature = "00".repeat(64);
        assert_eq!(pk.verify(&forged), Err(SignatureError::Invalid));
        forged.signature = "zz".into();
        assert_eq!(pk.verify(&forged), Err(SignatureError::Malformed));
        // The same signature in upper case is another byte string: refused.
        let mut upper = cp.clone();
        upper.signature = cp.signature.to_ascii_uppercase();
        assert_eq!(pk.verify(&upper), Err(SignatureError::Malformed));
    }

    #[test]
    fn the_signed_message_is_the_documented_json() {
        let m = checkpoint_message("ctm", 2, "00", "t");
        assert_eq!(
            String::from_utf8(m).expect("utf-8"),
            r#"{"context":"ctm-stats/ledger-checkpoint/v1","dataset":"ctm","size":2,"head_hash":"00","at":"t"}"#
        );
    }

    #[test]
    fn a_public_key_round_trips_through_hex() {
        let pk = signer().public_key();
        assert_eq!(
            PublicKey::parse(&format!(" {}\n", pk.to_hex())).ok(),
            Some(pk)
        );
        assert!(PublicKey::parse("abcd").is_err());
    }

    #[test]
    fn a_key_file_is_created_private_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k/ledger.key");
        let (a, created) = Signer::load_or_create(&path).expect("create");
        assert!(created);
        let (b, created) = Signer::load_or_create(&path).expect("load");
        assert!(!created);
        assert_eq!(a.public_key(), b.public_key());
        assert!(Signer::create(&path).is_err(), "refuses to overwrite");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{a:?}").contains(&hex::encode(a.key.to_bytes())));
    }
}
