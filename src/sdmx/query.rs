//! SDMX 2.1 REST queries read from their path segments and query
//! parameters: structure queries (`{resource}/{agency}/{id}/{version}`)
//! and data queries (`data/{flow}/{key}/{provider}`). Nothing here reads
//! data; every refusal names what was wrong.

use super::structure::{Resource, Structure};
use super::{AGENCY, Flow, SdmxError, VERSION, shown};
use crate::policy::Policy;

/// Whether `text` names every agency, id or version (`all`, `*`, or nothing).
fn is_all(text: &str) -> bool {
    text.is_empty() || text.eq_ignore_ascii_case("all") || text == "*"
}

/// An agency id: ours or every one.
fn check_agency(text: &str) -> Result<(), SdmxError> {
    if is_all(text) || text == AGENCY {
        Ok(())
    } else {
        Err(SdmxError::NoResults(format!(
            "no artefact of agency {}; this service's agency is {AGENCY}",
            shown(text)
        )))
    }
}

/// A version: ours, `latest` or every one.
fn check_version(text: &str) -> Result<(), SdmxError> {
    if is_all(text) || text.eq_ignore_ascii_case("latest") || text == VERSION {
        Ok(())
    } else {
        Err(SdmxError::NoResults(format!(
            "no artefact of version {}; every artefact is version {VERSION} (or ask for latest)",
            shown(text)
        )))
    }
}

/// Which related artefacts a structure query returns besides its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum References {
    None,
    /// What the artefacts use: a dataflow's DSD, a DSD's code lists and concepts.
    Children,
    /// What uses the artefacts: a DSD's dataflows, a code list's DSD.
    Parents,
    /// Both.
    All,
}

/// A structure query: `{resource}[/{agency}[/{id}[/{version}]]]?references=`.
#[derive(Debug, Clone)]
pub struct StructureQuery {
    pub resource: Resource,
    /// `None`: every id.
    pub id: Option<String>,
    pub references: References,
}

impl StructureQuery {
    /// Reads the segments after the resource name and the query parameters.
    pub fn parse(
        resource: Resource,
        segments: &[&str],
        params: &[(String, String)],
    ) -> Result<StructureQuery, SdmxError> {
        if segments.len() > 3 {
            return Err(SdmxError::Syntax(format!(
                "a structure query is /{}/{{agency}}/{{id}}/{{version}}; the path has more segments",
                resource.path()
            )));
        }
        let segment = |i: usize| segments.get(i).copied().unwrap_or("");
        check_agency(segment(0))?;
        check_version(segment(2))?;
        let id = Some(segment(1)).filter(|s| !is_all(s)).map(str::to_owned);
        let mut references = References::None;
        for (name, value) in params {
            match name.to_ascii_lowercase().as_str() {
                "references" => {
                    references = match value.to_ascii_lowercase().as_str() {
                        "none" => References::None,
                        "children" | "descendants" => References::Children,
                        "parents" | "parentsandsiblings" => References::Parents,
                        "all" => References::All,
                        // A resource type: its artefacts, whichever way they relate.
                        other if Resource::parse(other).is_some() => References::All,
                        _ => {
                            return Err(SdmxError::Syntax(format!(
                                "references must be none, children, descendants, parents, parentsandsiblings, all or a resource type; got {}",
                                shown(value)
                            )));
                        }
                    }
                }
                // Stubs and full artefacts: every answer is full.
                "detail" => {}
                _ => {
                    return Err(SdmxError::Syntax(format!(
                        "unknown query parameter {} (structure queries take references and detail)",
                        shown(name)
                    )));
                }
            }
        }
        Ok(StructureQuery {
            resource,
            id,
            references,
        })
    }
}

/// How much of the data a data query returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Observations with their attributes.
    Full,
    /// Observations without attributes (suppression flags and margins included).
    DataOnly,
    /// The series keys only: from the structures, nothing released or charged.
    SeriesKeysOnly,
    /// The series without observations (attributes are at observation
    /// level here, so the same as `SeriesKeysOnly`).
    NoData,
}

impl Detail {
    /// Whether the answer needs released numbers.
    pub fn needs_data(self) -> bool {
        matches!(self, Detail::Full | Detail::DataOnly)
    }
}

/// Which dimension observations are given at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimensionAtObservation {
    /// `TIME_PERIOD` (the default): time series.
    Time,
    /// `AllDimensions`: a flat list of observations.
    All,
    /// A non-time dimension, by its position in the key.
    Dimension(usize),
}

/// A data key: one set of codes per dimension of the key, in structure
/// order; an empty set matches every code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub positions: Vec<Vec<String>>,
}

impl Key {
    /// Reads `text` (`all`, or codes joined by `.`, each position codes
    /// joined by `+`, empty for any) against the structure's dimensions:
    /// at most as many positions as dimensions (missing trailing positions
    /// are empty), every code in its code list.
    pub fn parse(structure: &Structure, text: &str) -> Result<Key, SdmxError> {
        let dims = structure.key_dimensions();
        if is_all(text) {
            return Ok(Key {
                positions: vec![Vec::new(); dims.len()],
            });
        }
        let mut parts: Vec<&str> = text.split('.').collect();
        // Trailing positions left out are empty (a short key such as `USA`).
        if parts.len() < dims.len() {
            parts.resize(dims.len(), "");
        }
        if parts.len() != dims.len() {
            let ids: Vec<&str> = dims.iter().map(|d| d.id.as_str()).collect();
            return Err(SdmxError::Syntax(format!(
                "the key has {} positions; this structure's key has {}: {}",
                parts.len(),
                dims.len(),
                ids.join(".")
            )));
        }
        let mut positions = Vec::with_capacity(dims.len());
        for (part, dim) in parts.iter().zip(dims) {
            let mut codes: Vec<String> = Vec::new();
            for code in part.split('+').filter(|c| !c.is_empty()) {
                if !dim.has_code(code) {
                    return Err(SdmxError::NoResults(format!(
                        "{} is not a code of {} (see its code list {})",
                        shown(code),
                        dim.id,
                        dim.codelist.as_deref().unwrap_or("")
                    )));
                }
                if !codes.iter().any(|c| c == code) {
                    codes.push(code.to_owned());
                }
            }
            positions.push(codes);
        }
        Ok(Key { positions })
    }

    /// Whether an observation's key (one code per position) matches.
    pub fn matches(&self, codes: &[String]) -> bool {
        self.positions
            .iter()
            .zip(codes)
            .all(|(wanted, code)| wanted.is_empty() || wanted.contains(code))
    }

    /// The codes asked for at `position` (empty: any).
    pub fn at(&self, position: usize) -> &[String] {
        self.positions.get(position).map_or(&[], Vec::as_slice)
    }
}

/// A data query: `data/{flow}[/{key}[/{provider}]]` and its parameters.
#[derive(Debug, Clone)]
pub struct DataQuery {
    pub flow: Flow,
    pub key: Key,
    /// First registration year asked for, if any.
    pub start: Option<u16>,
    /// Last registration year asked for, if any.
    pub end: Option<u16>,
    pub dimension_at_observation: DimensionAtObservation,
    pub detail: Detail,
    /// The `format` parameter, if given (read by the edge).
    pub format: Option<String>,
}

/// The year of an SDMX period (`2019`, `2019-05`, `2019-05-01`, `2019-Q2`,
/// `2019-S1`, `2019-W20`, `2019-A1`...): registration years are whole years.
fn period_year(name: &str, text: &str) -> Result<u16, SdmxError> {
    let year = text
        .get(..4)
        .filter(|y| y.bytes().all(|b| b.is_ascii_digit()));
    let rest = text.get(4..).unwrap_or("");
    match year {
        Some(y) if rest.is_empty() || rest.starts_with('-') => y
            .parse()
            .map_err(|_| SdmxError::Syntax(format!("{name} must be an SDMX period such as 2019"))),
        _ => Err(SdmxError::Syntax(format!(
            "{name} must be an SDMX period such as 2019 or 2019-01-01; got {}",
            shown(text)
        ))),
    }
}

impl DataQuery {
    /// Reads the segments after `data` and the query parameters.
    pub fn parse(
        policy: &Policy,
        structure: &Structure,
        segments: &[&str],
        params: &[(String, String)],
    ) -> Result<DataQuery, SdmxError> {
        let (flow_ref, key, provider) = match segments {
            [] => {
                return Err(SdmxError::Syntax(
                    "a data query names its dataflow: /data/{flow}[/{key}[/{provider}]]".into(),
                ));
            }
            [flow] => (*flow, "all", "all"),
            [flow, key] => (*flow, *key, "all"),
            [flow, key, provider] => (*flow, *key, *provider),
            _ => {
                return Err(SdmxError::Syntax(
                    "a data query is /data/{flow}/{key}/{provider}; the path has more segments"
                        .into(),
                ));
            }
        };
        let flow = parse_flow(policy, flow_ref)?;
        check_provider(provider)?;
        let key = Key::parse(structure, key)?;
        let mut query = DataQuery {
            flow,
            key,
            start: None,
            end: None,
            dimension_at_observation: DimensionAtObservation::Time,
            detail: Detail::Full,
            format: None,
        };
        for (name, value) in params {
            match name.to_ascii_lowercase().as_str() {
                "startperiod" => query.start = Some(period_year("startPeriod", value)?),
                "endperiod" => query.end = Some(period_year("endPeriod", value)?),
                "dimensionatobservation" => {
                    query.dimension_at_observation =
                        parse_dimension_at_observation(structure, value)?
                }
                "detail" => {
                    query.detail = match value.to_ascii_lowercase().as_str() {
                        "full" => Detail::Full,
                        "dataonly" => Detail::DataOnly,
                        "serieskeysonly" => Detail::SeriesKeysOnly,
                        "nodata" => Detail::NoData,
                        _ => {
                            return Err(SdmxError::Syntax(format!(
                                "detail must be full, dataonly, serieskeysonly or nodata; got {}",
                                shown(value)
                            )));
                        }
                    }
                }
                "format" => query.format = Some(value.clone()),
                // Every release is of the data as they are now; there is no history.
                "updatedafter" | "includehistory" => {}
                "firstnobservations" | "lastnobservations" => {
                    return Err(SdmxError::NotImplemented(format!(
                        "{name} is not offered: a query releases every observation of its report"
                    )));
                }
                _ => {
                    return Err(SdmxError::Syntax(format!(
                        "unknown query parameter {} (data queries take startPeriod, endPeriod, dimensionAtObservation, detail, updatedAfter, includeHistory and format)",
                        shown(name)
                    )));
                }
            }
        }
        if let (Some(s), Some(e)) = (query.start, query.end)
            && s > e
        {
            return Err(SdmxError::Syntax(
                "startPeriod must not be after endPeriod".into(),
            ));
        }
        Ok(query)
    }
}

/// A flow reference: `ID`, `AGENCY,ID` or `AGENCY,ID,VERSION`.
fn parse_flow(policy: &Policy, text: &str) -> Result<Flow, SdmxError> {
    let parts: Vec<&str> = text.split(',').collect();
    let (agency, id, version) = match parts.as_slice() {
        [id] => ("", *id, ""),
        [agency, id] => (*agency, *id, ""),
        [agency, id, version] => (*agency, *id, *version),
        _ => {
            return Err(SdmxError::Syntax(format!(
                "a flow reference is ID, AGENCY,ID or AGENCY,ID,VERSION; got {}",
                shown(text)
            )));
        }
    };
    check_agency(agency)?;
    check_version(version)?;
    Flow::find(policy, id).ok_or_else(|| {
        let ids: Vec<&str> = Flow::offered_by(policy).iter().map(|f| f.id()).collect();
        SdmxError::NoResults(format!(
            "no dataflow {}; the dataflows are {}",
            shown(id),
            ids.join(", ")
        ))
    })
}

/// A provider reference: every provider, or the service (the one provider).
fn check_provider(text: &str) -> Result<(), SdmxError> {
    let id = text.rsplit(',').next().unwrap_or(text);
    let agency_ok = text
        .split_once(',')
        .is_none_or(|(agency, _)| is_all(agency) || agency == AGENCY);
    if (is_all(id) || id == AGENCY) && agency_ok {
        Ok(())
    } else {
        Err(SdmxError::NoResults(format!(
            "no data provider {}; the one provider is {AGENCY}",
            shown(text)
        )))
    }
}

fn parse_dimension_at_observation(
    structure: &Structure,
    text: &str,
) -> Result<DimensionAtObservation, SdmxError> {
    if text == super::structure::TIME_PERIOD {
        return Ok(DimensionAtObservation::Time);
    }
    if text == "AllDimensions" {
        return Ok(DimensionAtObservation::All);
    }
    structure
        .key_dimensions()
        .iter()
        .position(|d| d.id == text)
        .map(DimensionAtObservation::Dimension)
        .ok_or_else(|| {
            SdmxError::Syntax(format!(
                "dimensionAtObservation must be TIME_PERIOD, AllDimensions or a dimension id; got {}",
                shown(text)
            ))
        })
}
