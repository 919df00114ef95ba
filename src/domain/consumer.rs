//! Who is asking: the caller a verified token names, as every layer sees it.

use super::{Country, Role};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    /// The token's `sub`: the key of the consumer's budget.
    pub id: String,
    pub role: Role,
    /// Set for (and only for) government callers.
    pub country: Option<Country>,
    /// Set for (and only for) regional partners: the id of their region in
    /// the policy (checked against the policy when they ask for figures).
    pub region: Option<String>,
}

/// Longest consumer id, in characters (ASCII: also bytes).
pub const MAX_CONSUMER_ID: usize = 128;

/// Why a consumer id is refused, for a person.
pub const CONSUMER_ID_RULE: &str =
    "1 to 128 visible ASCII characters (letters, digits and punctuation; no spaces)";

/// Whether `id` may name a consumer: 1 to [`MAX_CONSUMER_ID`] visible ASCII
/// characters. A consumer id keys a budget, so two ids must never look
/// alike: outside ASCII, a Cyrillic `а`, a fullwidth `ａ`, a combining
/// accent or a zero-width or bidi-override character makes a second id
/// that reads as the first, and blanks make ids that read as nothing.
/// Visible ASCII has no such pairs, needs no normalisation, and its length
/// in characters is its length in bytes, so every path counts it alike.
pub fn is_valid_consumer_id(id: &str) -> bool {
    (1..=MAX_CONSUMER_ID).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_invisible_and_blank_ids_are_refused() {
        for ok in [
            "alice",
            "a",
            "user@example.org",
            "auth0|5f2c",
            "x".repeat(128).as_str(),
        ] {
            assert!(is_valid_consumer_id(ok), "{ok}");
        }
        for bad in [
            "",
            " ",
            "\t",
            "alice ",
            "al ice",
            "ａlice",        // fullwidth
            "\u{430}lice",   // Cyrillic a
            "alice\u{200b}", // zero-width space
            "\u{202e}ecila", // right-to-left override
            "ali\u{301}ce",  // combining acute accent
            "al\u{0}ice",    // control
            "é",             // precomposed: outside the set too
            &"x".repeat(129),
        ] {
            assert!(!is_valid_consumer_id(bad), "{bad:?}");
        }
    }
}
