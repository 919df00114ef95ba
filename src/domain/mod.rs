//! Pure, validated domain types shared by every layer. No I/O here.

pub mod budget;
pub mod case;
pub mod consumer;
pub mod country;
pub mod data;
pub mod role;

pub use case::{Case, Field, FieldKind, FlagSet};
pub use consumer::Consumer;
pub use country::Country;
pub use data::{ContentDigest, DataFingerprint, DataIdentity};
pub use role::Role;
