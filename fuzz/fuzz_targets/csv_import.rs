//! A CSV file of cases as an agency may export it: any bytes through the
//! importer, under both units of privacy. All rows or a named error, never a
//! panic.
#![no_main]

use ctm_stats::policy::PrivacyUnit;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for unit in [PrivacyUnit::Person, PrivacyUnit::Case] {
        let _ = ctm_stats::import::read_cases_from("fuzz.csv", data, 2026, unit, &mut |_| {});
    }
});
