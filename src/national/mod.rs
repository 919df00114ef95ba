//! National figures for government partners (`docs/design.md`, "What a
//! consumer may learn" and "Who calls what"):
//! the policy's national tables, released for one country on one
//! perspective, one table at a time or as a whole report, in JSON, CSV or
//! SDMX-CSV.
//!
//! A national table is nothing but a count query: the table's dimensions,
//! filtered to the country on the perspective's field (and to the requested
//! registration years), at the table's cost. It goes through the release
//! pipeline of `POST /v1/counts` ([`crate::release`]): the same plan, the
//! same keyed noise, suppression and margins, the same stored releases,
//! receipts and ledger. Its canonical query is the one the equivalent
//! `POST /v1/counts` request has, so the two are the same release: a repeat
//! through either route is free and identical.
//!
//! A report charges every table of the perspective in one transaction
//! (`Store::commit_releases` in [`crate::budget`]): all or nothing, tables
//! already paid for by the caller free, the cost the sum of the rest.
//!
//! Invariants: every refusal here depends on the token, the policy and the
//! request only, never on the data (a government asking for another country
//! is refused before anything is planned or charged); totals are derived from
//! released noisy cells only (post-processing), never from true counts.
//!
//! # Layout
//! - this module: the formats and the request parameters;
//! - `scope`: whose figures (country, region, bilateral pair), perspective
//!   and years, validated from the policy and the token;
//! - `tables`: the tables offered to a scope and their count queries;
//! - `flows`: the release of one table, a report, a bilateral flow;
//! - `listing`: the tables of a scope with what each would charge;
//! - `render`: JSON, CSV and SDMX observations of released tables;
//! - `total`: derived total rows and their margin of error;
//! - `bounds`: a report's tables not estimated together kept within the
//!   consistent ones (flows within members, multi-valued cells within the total);
//! - [`sdmx`]: the `CTM_VICTIMS` structure, code mapping and SDMX-CSV writer.

mod bounds;
#[cfg(test)]
mod coverage;
mod flows;
mod listing;
mod render;
mod scope;
pub mod sdmx;
mod tables;
#[cfg(test)]
mod tests;
mod total;

pub use flows::{
    ReportOf, release_bilateral, release_report, release_report_of, release_table, report_keys,
};
pub use listing::{NationalReportInfo, NationalTableInfo, NationalTables, list_tables};
pub use render::{NationalRelease, NationalTable};
pub use scope::{
    Area, AreaPath, RegionView, Scope, authorize, parse_country, resolve_region, resolve_scope,
    year_domain,
};
pub(crate) use tables::TablePlan;
pub use tables::{count_request, find_table, offered_tables};
pub use total::NationalTotal;

// For the files that name them as `super::` (render, bounds).
use scope::perspective_name;
#[cfg(test)]
use tables::plan_table;

use crate::release::query::Perspective;

/// The formats national figures come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    /// RFC 4180, one row per cell, with margin and status.
    Csv,
    /// SDMX-CSV 1.0 of the `CTM_VICTIMS` dataflow.
    Sdmx,
    /// SDMX-CSV 2.0 of the same dataflow.
    Sdmx2,
    /// The SDMX observations as JSON (a `Vec<sdmx::Observation>`), for the
    /// SDMX REST interface to select from and write in the SDMX formats;
    /// never sent as it is.
    Observations,
}

impl Format {
    /// Every format as `?format=` names it.
    pub const NAMES: &'static str = "json, csv, sdmx or sdmx2";

    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "sdmx" => Some(Format::Sdmx),
            "sdmx2" => Some(Format::Sdmx2),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8; header=present",
            Format::Sdmx => sdmx::MEDIA_TYPE,
            Format::Sdmx2 => sdmx::MEDIA_TYPE_V2,
            Format::Observations => "application/json",
        }
    }
}

/// Request parameters shared by the national endpoints, as given.
#[derive(Debug, Clone, Copy, Default)]
pub struct Params {
    pub perspective: Option<Perspective>,
    pub from_year: Option<i64>,
    pub to_year: Option<i64>,
}
