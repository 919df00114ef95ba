//! A policy file as an operator may write it: any text through the loader.
//! It must load or name what is wrong, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ctm_stats::policy::parse_policy("fuzz.toml", text);
    }
});
