//! Pure, validated domain types shared by every layer. No I/O here.

pub mod budget;
pub mod case;
pub mod consumer;
pub mod country;
pub mod data;
pub mod labels;
pub mod region;
pub mod role;

pub use case::{Case, Field, FieldKind, FlagSet};
pub use consumer::{CONSUMER_ID_RULE, Consumer, MAX_CONSUMER_ID, is_valid_consumer_id};
pub use country::Country;
pub use data::{ContentDigest, DataFingerprint, DataIdentity};
pub use region::is_region_id;
pub use role::Role;

/// Current UTC time as RFC 3339 with microseconds, the timestamp format of
/// every stored row and ledger entry.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}
