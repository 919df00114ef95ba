//! Where the randomness comes from: a keyed deterministic generator for
//! releases, and the operating system for everything else.
//!
//! Invariant: noise is only ever drawn from ChaCha20 (a cryptographically
//! secure generator), seeded either by a keyed hash of the release or by the
//! operating system. If the operating system cannot provide entropy the caller
//! gets [`PrivacyError::Entropy`]; there is no fallback seed and no zero noise.
//!
//! # Keyed noise and deterministic repeats
//!
//! [`keyed_rng`] seeds ChaCha20 with
//! `HMAC-SHA256(server key, dataset ‖ canonical query ‖ data identity)`, so
//! the same release always gets the same noise: whoever asks, and however
//! often. The data identity ([`DataIdentity`]) is the store's random
//! identity, its data version and a digest of exactly what the engine counts
//! (the bounded snapshot): noise follows the data *content*, not a counter.
//!
//! **Why repeating is safe.** A repeat returns the very same numbers as the
//! first answer. They are a function of that one noisy release, i.e.
//! post-processing, and reveal nothing new; only the first release costs
//! budget. Deterministic noise is in fact *safer* than fresh noise here: with
//! fresh noise per request, asking the same question many times and averaging
//! would wash the noise out. (Formally the guarantee becomes computational:
//! it holds against anyone who cannot distinguish HMAC-SHA256 from a random
//! function, i.e. who does not know the key.)
//!
//! **Where it is not safe, and what the inputs must therefore cover.**
//! - *A new data version must change the seed.* If the data change from `D` to
//!   `D'` and both versions were answered with the same noise `Z`, then
//!   `(D + Z) - (D' + Z) = D - D'`: the difference of two releases cancels the
//!   noise exactly and reveals, for example, the one case that was added.
//!   That is why the data identity is hashed in, and why it holds a digest
//!   of the content rather than only the version counter: a counter is per
//!   store, so two stores (a demo store replaced by the real one, a restored
//!   backup re-imported with a corrected file) can reach the same version
//!   with different data. With the digest, any change of content gives
//!   fresh, independent noise (and each release on it is charged), whatever
//!   the counter says; identical content gives identical noise, which is
//!   harmless. The store identity separates two stores even when their
//!   contents agree.
//! - *Everything that shapes the noise must be in `canonical_query`*: the
//!   dimensions, filters and cell order, the mechanism, its ε or ρ and its
//!   sensitivity. Two releases that share a seed but differ in scale would
//!   share their noise up to scaling, and combining them can cancel it
//!   (from `x + Z` and `x + 2Z` one gets `x` exactly). Conversely, two
//!   spellings of the same query must canonicalise to the same bytes, or they
//!   are two independent releases and must both be charged.
//! - *Rotating the key means fresh noise* for every release; answers
//!   recomputed after a rotation are new releases and must be charged again.
//!   Keep the key secret and stable: anyone who holds it can recompute the
//!   noise and subtract it.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::SeedableRng;
use rand::TryRng;
use rand::rngs::{ChaCha20Rng, SysRng};
use sha2::Sha256;

use super::PrivacyError;
use crate::domain::{DataFingerprint, DataIdentity};

/// Domain separation tag: these seeds are for nothing but release noise.
const SEED_DOMAIN: &[u8] = b"ctm-stats/release-noise-seed/v2";
/// Domain separation tag of the published data fingerprints.
const FINGERPRINT_DOMAIN: &[u8] = b"ctm-stats/data-fingerprint/v1";

/// The shortest key accepted, in bytes (the HMAC-SHA256 output size).
pub const MIN_KEY_BYTES: usize = 32;

/// The server's secret for keyed noise: at least 32 random bytes, kept outside
/// the database. Holds the keyed HMAC state, never prints it.
#[derive(Clone)]
pub struct NoiseKey {
    mac: Hmac<Sha256>,
}

impl NoiseKey {
    /// A key from secret bytes; [`PrivacyError::InvalidParameter`] if shorter
    /// than [`MIN_KEY_BYTES`].
    pub fn from_bytes(secret: &[u8]) -> Result<Self, PrivacyError> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(PrivacyError::InvalidParameter(
                "a noise key shorter than 32 bytes",
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(secret)
            .map_err(|_| PrivacyError::InvalidParameter("a noise key HMAC cannot use"))?;
        Ok(Self { mac })
    }

    /// `HMAC-SHA256(key, domain ‖ parts)`, every piece length-prefixed: a
    /// tag only this server can make, for files it writes and reads back
    /// (the saved case snapshot).
    pub fn tag(&self, domain: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        for bytes in std::iter::once(domain).chain(parts.iter().copied()) {
            mac.update(&(bytes.len() as u64).to_be_bytes());
            mac.update(bytes);
        }
        mac.finalize().into_bytes().into()
    }

    /// A fresh random key from the operating system (for tests and first set-up).
    pub fn generate() -> Result<Self, PrivacyError> {
        let mut secret = [0u8; MIN_KEY_BYTES];
        SysRng.try_fill_bytes(&mut secret)?;
        Self::from_bytes(&secret)
    }
}

impl fmt::Debug for NoiseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NoiseKey(***)")
    }
}

/// The deterministic generator for one release: ChaCha20 seeded with
/// `HMAC-SHA256(key, encoding)`, where the encoding is the domain tag, the
/// `dataset`, the `canonical_query` and the store identity, each
/// length-prefixed (u64, big-endian), then the 8 big-endian bytes of the data
/// version and the 32 bytes of the content digest. Length prefixes make the
/// encoding injective: `("ab", "c")` and `("a", "bc")` get different seeds.
///
/// See the module documentation for what `canonical_query` must cover.
pub fn keyed_rng(
    key: &NoiseKey,
    dataset: &str,
    canonical_query: &[u8],
    data: &DataIdentity,
) -> ChaCha20Rng {
    let mut mac = key.mac.clone();
    let mut field = |bytes: &[u8]| {
        mac.update(&(bytes.len() as u64).to_be_bytes());
        mac.update(bytes);
    };
    field(SEED_DOMAIN);
    field(dataset.as_bytes());
    field(canonical_query);
    field(data.store_id.as_bytes());
    mac.update(&data.version.to_be_bytes());
    mac.update(data.digest.as_bytes());
    let seed: [u8; 32] = mac.finalize().into_bytes().into();
    ChaCha20Rng::from_seed(seed)
}

impl NoiseKey {
    /// The publishable name of `data`: the first 16 bytes of
    /// `HMAC-SHA256(key, fingerprint tag ‖ store identity ‖ version ‖ digest)`
    /// in hex. Equal for equal identities; without the key it cannot be
    /// computed, so it lets nobody test a guess about the data.
    pub fn fingerprint(&self, data: &DataIdentity) -> DataFingerprint {
        let mut mac = self.mac.clone();
        for bytes in [FINGERPRINT_DOMAIN, data.store_id.as_bytes()] {
            mac.update(&(bytes.len() as u64).to_be_bytes());
            mac.update(bytes);
        }
        mac.update(&data.version.to_be_bytes());
        mac.update(data.digest.as_bytes());
        let tag = mac.finalize().into_bytes();
        DataFingerprint::from_hex(hex::encode(&tag[..16]))
    }
}

/// A generator seeded from the operating system, for noise that need not be
/// repeatable. [`PrivacyError::Entropy`] if the system cannot provide entropy.
pub fn os_rng() -> Result<ChaCha20Rng, PrivacyError> {
    Ok(ChaCha20Rng::try_from_rng(&mut SysRng)?)
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::ContentDigest;
    use rand::Rng;

    fn key(byte: u8) -> NoiseKey {
        NoiseKey::from_bytes(&[byte; 32]).unwrap()
    }

    fn data(version: i64) -> DataIdentity {
        DataIdentity {
            store_id: "store-a".into(),
            version,
            digest: ContentDigest::from_bytes([9; 32]),
        }
    }

    fn first_words(mut rng: ChaCha20Rng) -> [u64; 4] {
        [
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
        ]
    }

    #[test]
    fn the_same_release_gets_the_same_noise() {
        let a = keyed_rng(&key(1), "ctdc", b"q1", &data(7));
        let b = keyed_rng(&key(1), "ctdc", b"q1", &data(7));
        assert_eq!(first_words(a), first_words(b));
    }

    #[test]
    fn a_new_data_version_key_dataset_or_query_gets_fresh_noise() {
        let base = first_words(keyed_rng(&key(1), "ctdc", b"q1", &data(7)));
        let variants = [
            keyed_rng(&key(1), "ctdc", b"q1", &data(8)),
            keyed_rng(&key(2), "ctdc", b"q1", &data(7)),
            keyed_rng(&key(1), "other", b"q1", &data(7)),
            keyed_rng(&key(1), "ctdc", b"q2", &data(7)),
        ];
        for rng in variants {
            assert_ne!(first_words(rng), base);
        }
    }

    #[test]
    fn other_content_or_another_store_gets_fresh_noise_at_the_same_version() {
        let base = first_words(keyed_rng(&key(1), "ctdc", b"q1", &data(7)));
        let mut other_content = data(7);
        other_content.digest = ContentDigest::from_bytes([8; 32]);
        let mut other_store = data(7);
        other_store.store_id = "store-b".into();
        for d in [other_content, other_store] {
            assert_ne!(first_words(keyed_rng(&key(1), "ctdc", b"q1", &d)), base);
            assert_ne!(key(1).fingerprint(&d), key(1).fingerprint(&data(7)));
        }
    }

    #[test]
    fn fingerprints_are_keyed_and_stable() {
        let f = key(1).fingerprint(&data(7));
        assert_eq!(f, key(1).fingerprint(&data(7)));
        assert_ne!(f, key(2).fingerprint(&data(7)));
        assert_eq!(f.as_str().len(), 32);
        assert!(f.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn field_boundaries_are_part_of_the_seed() {
        let a = first_words(keyed_rng(&key(1), "ab", b"c", &data(0)));
        let b = first_words(keyed_rng(&key(1), "a", b"bc", &data(0)));
        assert_ne!(a, b);
    }

    #[test]
    fn short_keys_are_refused_and_keys_never_print() {
        assert!(NoiseKey::from_bytes(&[0u8; 31]).is_err());
        let key = NoiseKey::from_bytes(b"a very secret key of 32+ bytes!!").unwrap();
        assert_eq!(format!("{key:?}"), "NoiseKey(***)");
    }

    #[test]
    fn the_os_seeds_distinct_generators() {
        let a = first_words(os_rng().unwrap());
        let b = first_words(os_rng().unwrap());
        assert_ne!(a, b);
        let k1 = NoiseKey::generate().unwrap();
        let k2 = NoiseKey::generate().unwrap();
        assert_ne!(
            first_words(keyed_rng(&k1, "d", b"q", &data(1))),
            first_words(keyed_rng(&k2, "d", b"q", &data(1)))
        );
    }
}
