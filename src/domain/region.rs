//! How policies, tokens and paths name a region (a group of countries):
//! a short lower-case id such as `gms`. Which regions exist, and their
//! members, is the policy's business (`policy::Region`).

/// Whether `id` is a well-formed region id: 1 to 32 characters, lower-case
/// ASCII letters, digits, `_` or `-`, starting with a letter.
pub fn is_region_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_ids_are_short_lower_case_names() {
        for ok in ["gms", "asean", "eu-27", "bali_process"] {
            assert!(is_region_id(ok), "{ok}");
        }
        for bad in ["", "GMS", "1gms", "g ms", "gms/", &"a".repeat(33), "é"] {
            assert!(!is_region_id(bad), "{bad:?}");
        }
    }
}
