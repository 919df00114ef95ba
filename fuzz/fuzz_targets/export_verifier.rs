//! The offline verifier of a ledger export. The seed corpus holds a real
//! export of the demo service, signed with the key below; the fuzzer edits
//! it. Besides never panicking, the verifier must accept no byte string but
//! that export itself: any change, however small, is refused.
#![no_main]

use ctm_stats::audit::PublicKey;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

const EXPORT: &[u8] = include_bytes!("../seeds/export_verifier/demo-export.jsonl");
const KEY: &str = include_str!("../seeds/ledger-public-key.txt");

static PUBLIC_KEY: LazyLock<PublicKey> =
    LazyLock::new(|| PublicKey::parse(KEY.trim()).expect("the seed's public key"));

fuzz_target!(|data: &[u8]| {
    if ctm_stats::audit::verify::verify_export_bytes(data, &PUBLIC_KEY, None).is_ok() {
        assert_eq!(data, EXPORT, "a changed export verified");
    }
});
