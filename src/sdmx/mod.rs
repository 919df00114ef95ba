//! The SDMX 2.1 REST interface's core: the structures (dataflows, the data
//! structure definition, code lists, the concept scheme) derived from the
//! policy, the parsing of SDMX data queries (flow, key, provider, periods),
//! and the SDMX-ML 2.1, SDMX-JSON 1.0 and SDMX-CSV writers.
//!
//! Invariant: SDMX data are national, regional or bilateral reports released
//! through [`crate::national`] like every other (same pipeline, charge,
//! ledger entry, consistency and suppression; a repeat is free): a data
//! query names one report, and its key selects among that report's
//! observations. Everything a refusal or an answer without data
//! (`detail=serieskeysonly`) says follows from the policy and the request
//! alone, never from the data.
//!
//! # Layout
//! - this module: the dataflows ([`Flow`]) and [`SdmxError`];
//! - `query`: flow references, keys, providers, periods and the other
//!   query parameters;
//! - `structure`: the artefacts, and which a structure query returns;
//! - `data`: a data query answered (the report released, its observations
//!   selected);
//! - `write`: GenericData, StructureSpecificData, SDMX-JSON and SDMX-CSV;
//! - `xml`: escaping, the structure message and the error message.

mod data;
mod query;
mod structure;
mod write;
mod xml;

pub use data::{DataAnswer, answer_data};
pub use query::{DataQuery, Detail, DimensionAtObservation, Key, StructureQuery};
pub use structure::Resource;
pub use write::DataFormat;
pub use xml::{error_message, structure_message};

use crate::domain::Field;
use crate::national::sdmx as national_sdmx;
use crate::policy::Policy;
use crate::release::ReleaseError;
use crate::release::query::Perspective;

/// The maintenance agency of every artefact (the service).
pub const AGENCY: &str = national_sdmx::AGENCY;
/// The version of every artefact; bump it with the policy's structure.
pub const VERSION: &str = national_sdmx::VERSION;
/// The data structure definition every dataflow uses.
pub const DSD_ID: &str = national_sdmx::DATAFLOW_ID;
/// The concept scheme of the structure's components.
pub const CONCEPT_SCHEME_ID: &str = "CS_CTM_VICTIMS";

/// One dataflow: a family of published tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// A country's national tables, victims identified in the country.
    NationalExploitation,
    /// A country's national tables, the country's nationals wherever identified.
    NationalCitizenship,
    /// A region's tables (its flow tables included), victims identified in its members.
    RegionalExploitation,
    /// A region's tables, its members' nationals.
    RegionalCitizenship,
    /// The flow between two countries, both directions.
    Bilateral,
}

impl Flow {
    pub const ALL: &'static [Flow] = &[
        Flow::NationalExploitation,
        Flow::NationalCitizenship,
        Flow::RegionalExploitation,
        Flow::RegionalCitizenship,
        Flow::Bilateral,
    ];

    /// Its SDMX id.
    pub fn id(self) -> &'static str {
        match self {
            Flow::NationalExploitation => "CTM_NAT_COE",
            Flow::NationalCitizenship => "CTM_NAT_CIT",
            Flow::RegionalExploitation => "CTM_REG_COE",
            Flow::RegionalCitizenship => "CTM_REG_CIT",
            Flow::Bilateral => "CTM_BILATERAL",
        }
    }

    /// Its English name.
    pub fn name(self) -> &'static str {
        match self {
            Flow::NationalExploitation => {
                "National tables: victims identified in the country (by country of exploitation)"
            }
            Flow::NationalCitizenship => {
                "National tables: the country's nationals, wherever identified (by citizenship)"
            }
            Flow::RegionalExploitation => {
                "Regional tables and flows: victims identified in the region's members"
            }
            Flow::RegionalCitizenship => {
                "Regional tables and flows: the region's nationals, wherever identified"
            }
            Flow::Bilateral => "Bilateral flows: victims between two countries, both directions",
        }
    }

    /// What its key's area position must name.
    pub fn description(self) -> &'static str {
        match self {
            Flow::NationalExploitation => {
                "A country's national report on the country-of-exploitation perspective. REF_AREA names the country (a government token reads its own; empty means its own)."
            }
            Flow::NationalCitizenship => {
                "A country's national report on the citizenship perspective. CITIZENSHIP names the country (a government token reads its own; empty means its own)."
            }
            Flow::RegionalExploitation => {
                "A region's report on the country-of-exploitation perspective, its flow tables included. REF_AREA holds the region's code (e.g. GMS), possibly with members' codes and _O to select flow observations (a regional token reads its own; empty means its own)."
            }
            Flow::RegionalCitizenship => {
                "A region's report on the citizenship perspective, its flow tables included. CITIZENSHIP holds the region's code (a regional token reads its own; empty means its own)."
            }
            Flow::Bilateral => {
                "The flow between two countries in both directions. REF_AREA and CITIZENSHIP together name exactly the two countries (e.g. USA+MEX.USA+MEX for both directions)."
            }
        }
    }

    /// The perspective of its releases.
    pub fn perspective(self) -> Perspective {
        match self {
            Flow::NationalCitizenship | Flow::RegionalCitizenship => Perspective::Citizenship,
            _ => Perspective::CountryOfExploitation,
        }
    }

    /// The field whose key position names the release's area.
    pub fn area_field(self) -> Field {
        self.perspective().field()
    }

    /// Whether the policy publishes tables of this family.
    pub fn offered(self, policy: &Policy) -> bool {
        let on = |field: Field| policy.tables.iter().any(|t| t.offers(field));
        match self {
            Flow::NationalExploitation | Flow::NationalCitizenship => on(self.area_field()),
            Flow::RegionalExploitation | Flow::RegionalCitizenship => {
                !policy.regions.is_empty() && on(self.area_field())
            }
            Flow::Bilateral => !policy.bilateral_tables.is_empty(),
        }
    }

    /// The dataflows of `policy`, in order.
    pub fn offered_by(policy: &Policy) -> Vec<Flow> {
        Flow::ALL
            .iter()
            .copied()
            .filter(|f| f.offered(policy))
            .collect()
    }

    /// The offered dataflow with SDMX id `id` (any case).
    pub fn find(policy: &Policy, id: &str) -> Option<Flow> {
        Flow::offered_by(policy)
            .into_iter()
            .find(|f| f.id().eq_ignore_ascii_case(id))
    }

    /// `AGENCY:ID(VERSION)`.
    pub fn reference(self) -> String {
        format!("{AGENCY}:{}({VERSION})", self.id())
    }
}

/// A refusal or failure of an SDMX request.
#[derive(Debug)]
pub enum SdmxError {
    /// The query cannot be read (SDMX 140, syntax error).
    Syntax(String),
    /// Nothing matches (SDMX 100, no results): an unknown artefact, a key
    /// code outside its code list, or a key no observation has.
    NoResults(String),
    /// More than one report asked for at once (SDMX 510, response size
    /// exceeds the service limit).
    TooLarge(String),
    /// A feature of the standard this service does not offer (SDMX 501).
    NotImplemented(String),
    /// A refusal or failure of the release core.
    Release(ReleaseError),
}

impl SdmxError {
    /// Its stable code (`sdmx.*`, or the release core's).
    pub fn code(&self) -> &'static str {
        match self {
            SdmxError::Syntax(_) => "sdmx.invalid_query",
            SdmxError::NoResults(_) => "sdmx.no_results",
            SdmxError::TooLarge(_) => "sdmx.too_large",
            SdmxError::NotImplemented(_) => "sdmx.not_implemented",
            SdmxError::Release(e) => e.code(),
        }
    }
}

impl From<ReleaseError> for SdmxError {
    fn from(e: ReleaseError) -> Self {
        SdmxError::Release(e)
    }
}

/// Reads a data query: the path segments after `data` and the query
/// parameters, against the policy's structure.
pub fn read_data_query(
    policy: &Policy,
    segments: &[&str],
    params: &[(String, String)],
) -> Result<DataQuery, SdmxError> {
    DataQuery::parse(policy, &structure::Structure::of(policy), segments, params)
}

/// Shortens text taken from a request before it is echoed in a message.
fn shown(text: &str) -> String {
    if text.len() <= 64 && text.bytes().all(|b| b.is_ascii_graphic()) {
        text.to_owned()
    } else {
        "the given value".to_owned()
    }
}
