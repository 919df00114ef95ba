//! Pure, validated domain types shared by every layer. No I/O here.

pub mod budget;
