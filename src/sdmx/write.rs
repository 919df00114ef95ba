//! The data messages: SDMX-ML 2.1 GenericData and StructureSpecificData,
//! SDMX-JSON 1.0 and SDMX-CSV 1.0 / 2.0, written from the selected
//! observations of one release. A suppressed cell has no `OBS_VALUE`,
//! `CONF_STATUS=C` and no `OBS_STATUS` or `MARGIN_OF_ERROR` (as in the
//! SDMX-CSV of [`crate::national::sdmx`]); a released one `CONF_STATUS=F`,
//! `OBS_STATUS=E` (estimated: it carries noise) and its margin.

use super::query::{Detail, DimensionAtObservation};
use super::structure::{Component, Structure, TIME_PERIOD};
use super::xml::{self, NS_GENERIC, NS_SPECIFIC, esc};
use super::{AGENCY, DSD_ID, Flow, VERSION};
use crate::national::sdmx::{self as national_sdmx, CsvVersion, Observation};
use crate::policy::Policy;
use serde_json::{Map, Value, json};
use std::fmt::Write;

/// A data message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    /// SDMX-ML 2.1 GenericData (the default).
    Generic,
    /// SDMX-ML 2.1 StructureSpecificData.
    StructureSpecific,
    /// SDMX-JSON 1.0.
    Json,
    /// SDMX-CSV 1.0.
    Csv1,
    /// SDMX-CSV 2.0.
    Csv2,
}

impl DataFormat {
    /// The media type of the answer.
    pub fn content_type(self) -> &'static str {
        match self {
            DataFormat::Generic => "application/vnd.sdmx.genericdata+xml; version=2.1",
            DataFormat::StructureSpecific => {
                "application/vnd.sdmx.structurespecificdata+xml; version=2.1"
            }
            DataFormat::Json => "application/vnd.sdmx.data+json; version=1.0.0",
            DataFormat::Csv1 => "application/vnd.sdmx.data+csv; version=1.0.0",
            DataFormat::Csv2 => "application/vnd.sdmx.data+csv; version=2.0.0",
        }
    }

    /// The format a `format=` parameter names.
    pub fn parse(name: &str) -> Option<DataFormat> {
        match name.to_ascii_lowercase().as_str() {
            "genericdata" | "generic" => Some(DataFormat::Generic),
            "structurespecificdata" | "structurespecific" => Some(DataFormat::StructureSpecific),
            "jsondata" | "json" => Some(DataFormat::Json),
            "csvfile" | "csv" => Some(DataFormat::Csv1),
            "csv2file" | "csv2" => Some(DataFormat::Csv2),
            _ => None,
        }
    }

    /// The values `format=` takes.
    pub const NAMES: &'static str = "genericdata, structurespecificdata, jsondata, csvfile (SDMX-CSV 1.0) or csv2file (SDMX-CSV 2.0)";

    /// The file name ending of a download.
    pub fn extension(self) -> &'static str {
        match self {
            DataFormat::Generic | DataFormat::StructureSpecific => "xml",
            DataFormat::Json => "json",
            DataFormat::Csv1 | DataFormat::Csv2 => "csv",
        }
    }
}

/// What a data message says: which observations of which flow, how.
pub struct Message<'a> {
    pub policy: &'a Policy,
    pub structure: &'a Structure,
    pub flow: Flow,
    pub observations: &'a [Observation],
    pub detail: Detail,
    pub dimension_at_observation: DimensionAtObservation,
    pub id: &'a str,
    pub prepared: &'a str,
}

type WriteResult = Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>;

/// Writes `msg` in `format`.
pub fn write(format: DataFormat, msg: &Message<'_>) -> WriteResult {
    match format {
        DataFormat::Generic => Ok(generic(msg).into_bytes()),
        DataFormat::StructureSpecific => Ok(specific(msg).into_bytes()),
        DataFormat::Json => Ok(serde_json::to_vec(&json_message(msg))?),
        DataFormat::Csv1 | DataFormat::Csv2 => {
            let version = if format == DataFormat::Csv1 {
                CsvVersion::V1
            } else {
                CsvVersion::V2
            };
            let observations: &[Observation] = if msg.detail.needs_data() {
                msg.observations
            } else {
                &[]
            };
            Ok(national_sdmx::write_csv_of(
                msg.policy,
                &msg.flow.reference(),
                observations,
                version,
            )?)
        }
    }
}

/// The attributes of an observation, in structure order: `(id, value)`,
/// `None` where it has none.
fn attributes(o: &Observation) -> [(&'static str, Option<String>); 4] {
    let [conf, obs, unit, margin] = national_sdmx::ATTRIBUTES;
    match o.value {
        Some(_) => [
            (conf, Some(national_sdmx::CONF_FREE.to_owned())),
            (obs, Some(national_sdmx::OBS_ESTIMATED.to_owned())),
            (unit, Some(national_sdmx::UNIT_PERSONS.to_owned())),
            (margin, Some(o.margin_of_error.to_string())),
        ],
        None => [
            (conf, Some(national_sdmx::CONF_CONFIDENTIAL.to_owned())),
            (obs, None),
            (unit, Some(national_sdmx::UNIT_PERSONS.to_owned())),
            (margin, None),
        ],
    }
}

/// The observations grouped into series, in order of first appearance:
/// each series' key values (`(dimension id, code)`), and its observations
/// with the value of the dimension at observation.
struct Series<'a> {
    key: Vec<(&'a str, &'a str)>,
    obs: Vec<(&'a str, &'a Observation)>,
}

fn series<'a>(msg: &'a Message<'a>) -> Vec<Series<'a>> {
    let dims = msg.structure.key_dimensions();
    let mut out: Vec<Series<'a>> = Vec::new();
    let mut index: std::collections::HashMap<Vec<&'a str>, usize> =
        std::collections::HashMap::new();
    for o in msg.observations {
        let mut key: Vec<(&str, &str)> = dims
            .iter()
            .map(|d| d.id.as_str())
            .zip(o.key.iter().map(String::as_str))
            .collect();
        let at = match msg.dimension_at_observation {
            DimensionAtObservation::Time | DimensionAtObservation::All => o.time_period.as_str(),
            DimensionAtObservation::Dimension(i) => {
                let at = key.get(i).map_or("", |(_, v)| *v);
                if i < key.len() {
                    key.remove(i);
                }
                key.push((TIME_PERIOD, o.time_period.as_str()));
                at
            }
        };
        let codes: Vec<&str> = key.iter().map(|(_, v)| *v).collect();
        let i = *index.entry(codes).or_insert_with(|| {
            out.push(Series {
                key: key.clone(),
                obs: Vec::new(),
            });
            out.len() - 1
        });
        out[i].obs.push((at, o));
    }
    out
}

/// The id of the dimension at observation level.
fn observation_dimension<'a>(msg: &'a Message<'a>) -> &'a str {
    match msg.dimension_at_observation {
        DimensionAtObservation::Time => TIME_PERIOD,
        DimensionAtObservation::All => "AllDimensions",
        DimensionAtObservation::Dimension(i) => msg
            .structure
            .key_dimensions()
            .get(i)
            .map_or(TIME_PERIOD, |d| d.id.as_str()),
    }
}

fn structure_header(msg: &Message<'_>, namespace: Option<&str>) -> String {
    let ns = namespace.map_or_else(String::new, |n| format!(" namespace=\"{}\"", esc(n)));
    format!(
        "<mes:Structure structureID=\"{DSD_ID}\"{ns} dimensionAtObservation=\"{}\"><com:Structure><Ref agencyID=\"{AGENCY}\" id=\"{DSD_ID}\" version=\"{VERSION}\"/></com:Structure></mes:Structure><mes:DataSetID>{}</mes:DataSetID>",
        esc(observation_dimension(msg)),
        esc(msg.flow.id())
    )
}

fn generic(msg: &Message<'_>) -> String {
    let mut out = String::with_capacity(256 * msg.observations.len() + 2048);
    xml::open_message(
        &mut out,
        "GenericData",
        &format!(" xmlns:gen=\"{NS_GENERIC}\""),
    );
    xml::header(&mut out, msg.id, msg.prepared, &structure_header(msg, None));
    let _ = write!(
        out,
        "<mes:DataSet structureRef=\"{DSD_ID}\" action=\"Information\">"
    );
    let values = |out: &mut String, pairs: &[(&str, &str)]| {
        for (id, v) in pairs {
            let _ = write!(out, "<gen:Value id=\"{}\" value=\"{}\"/>", esc(id), esc(v));
        }
    };
    let obs_body = |out: &mut String, o: &Observation| {
        if !msg.detail.needs_data() {
            return;
        }
        if let Some(v) = o.value {
            let _ = write!(out, "<gen:ObsValue value=\"{v}\"/>");
        }
        if msg.detail == Detail::Full {
            out.push_str("<gen:Attributes>");
            for (id, v) in attributes(o) {
                if let Some(v) = v {
                    let _ = write!(out, "<gen:Value id=\"{id}\" value=\"{}\"/>", esc(&v));
                }
            }
            out.push_str("</gen:Attributes>");
        }
    };
    if msg.dimension_at_observation == DimensionAtObservation::All {
        if msg.detail.needs_data() {
            let dims = msg.structure.key_dimensions();
            for o in msg.observations {
                out.push_str("<gen:Obs><gen:ObsKey>");
                let mut pairs: Vec<(&str, &str)> = dims
                    .iter()
                    .map(|d| d.id.as_str())
                    .zip(o.key.iter().map(String::as_str))
                    .collect();
                pairs.push((TIME_PERIOD, &o.time_period));
                values(&mut out, &pairs);
                out.push_str("</gen:ObsKey>");
                obs_body(&mut out, o);
                out.push_str("</gen:Obs>");
            }
        }
    } else {
        for s in series(msg) {
            out.push_str("<gen:Series><gen:SeriesKey>");
            values(&mut out, &s.key);
            out.push_str("</gen:SeriesKey>");
            if msg.detail.needs_data() {
                for (at, o) in &s.obs {
                    let _ = write!(out, "<gen:Obs><gen:ObsDimension value=\"{}\"/>", esc(at));
                    obs_body(&mut out, o);
                    out.push_str("</gen:Obs>");
                }
            }
            out.push_str("</gen:Series>");
        }
    }
    out.push_str("</mes:DataSet></mes:GenericData>\n");
    out
}

fn specific(msg: &Message<'_>) -> String {
    let namespace = format!(
        "{}:ObsLevelDim:{}",
        xml::urn("datastructure.DataStructure", DSD_ID),
        observation_dimension(msg)
    );
    let mut out = String::with_capacity(160 * msg.observations.len() + 2048);
    xml::open_message(
        &mut out,
        "StructureSpecificData",
        &format!(
            " xmlns:ss=\"{NS_SPECIFIC}\" xmlns:ns1=\"{}\"",
            esc(&namespace)
        ),
    );
    xml::header(
        &mut out,
        msg.id,
        msg.prepared,
        &structure_header(msg, Some(&namespace)),
    );
    out.push_str("<mes:DataSet ss:structureRef=\"CTM_VICTIMS\" xsi:type=\"ns1:DataSetType\" ss:dataScope=\"DataStructure\" action=\"Information\">");
    let attrs = |out: &mut String, pairs: &[(&str, &str)]| {
        for (id, v) in pairs {
            let _ = write!(out, " {}=\"{}\"", id, esc(v));
        }
    };
    let obs_attrs = |out: &mut String, o: &Observation| {
        if let Some(v) = o.value {
            let _ = write!(out, " OBS_VALUE=\"{v}\"");
        }
        if msg.detail == Detail::Full {
            for (id, v) in attributes(o) {
                if let Some(v) = v {
                    let _ = write!(out, " {id}=\"{}\"", esc(&v));
                }
            }
        }
    };
    if msg.dimension_at_observation == DimensionAtObservation::All {
        if msg.detail.needs_data() {
            let dims = msg.structure.key_dimensions();
            for o in msg.observations {
                out.push_str("<Obs");
                let mut pairs: Vec<(&str, &str)> = dims
                    .iter()
                    .map(|d| d.id.as_str())
                    .zip(o.key.iter().map(String::as_str))
                    .collect();
                pairs.push((TIME_PERIOD, &o.time_period));
                attrs(&mut out, &pairs);
                obs_attrs(&mut out, o);
                out.push_str("/>");
            }
        }
    } else {
        let at = observation_dimension(msg).to_owned();
        for s in series(msg) {
            out.push_str("<Series");
            attrs(&mut out, &s.key);
            out.push('>');
            if msg.detail.needs_data() {
                for (value, o) in &s.obs {
                    let _ = write!(out, "<Obs {at}=\"{}\"", esc(value));
                    obs_attrs(&mut out, o);
                    out.push_str("/>");
                }
            }
            out.push_str("</Series>");
        }
    }
    out.push_str("</mes:DataSet></mes:StructureSpecificData>\n");
    out
}

/// The SDMX-JSON 1.0 description of a component and the codes it takes
/// in this message, in order of first appearance.
fn json_component(c: &Component, position: Option<usize>, codes: &[String]) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(c.id));
    m.insert(
        "name".into(),
        json!(c.names.first().map_or(c.id.as_str(), |(_, n)| n.as_str())),
    );
    if let Some(p) = position {
        m.insert("keyPosition".into(), json!(p));
    }
    if c.id == TIME_PERIOD {
        m.insert("role".into(), json!("time"));
    }
    m.insert(
        "values".into(),
        Value::Array(codes.iter().map(|v| json!({"id": v, "name": v})).collect()),
    );
    Value::Object(m)
}

/// Index of `v` in `list`, appended when new.
fn index_of(list: &mut Vec<String>, v: &str) -> usize {
    if let Some(i) = list.iter().position(|x| x == v) {
        return i;
    }
    list.push(v.to_owned());
    list.len() - 1
}

fn json_message(msg: &Message<'_>) -> Value {
    let dims = msg.structure.key_dimensions();
    let n = dims.len();
    // Codes used per dimension (key dimensions then TIME_PERIOD) and per attribute.
    let mut codes: Vec<Vec<String>> = vec![Vec::new(); n + 1];
    let mut attr_codes: Vec<Vec<String>> = vec![Vec::new(); 4];
    let mut cells: Vec<(Vec<usize>, Value)> = Vec::new();
    for o in msg.observations {
        let mut idx: Vec<usize> = o
            .key
            .iter()
            .enumerate()
            .map(|(i, v)| index_of(&mut codes[i], v))
            .collect();
        idx.push(index_of(&mut codes[n], &o.time_period));
        let mut row = vec![o.value.map_or(Value::Null, |v| json!(v))];
        if msg.detail == Detail::Full {
            for (j, (_, v)) in attributes(o).into_iter().enumerate() {
                row.push(v.map_or(Value::Null, |v| json!(index_of(&mut attr_codes[j], &v))));
            }
        }
        cells.push((idx, Value::Array(row)));
    }
    let all: Vec<&Component> = dims.iter().chain([&msg.structure.time]).collect();
    // Which positions are at the series level, which at the observation.
    let obs_positions: Vec<usize> = match msg.dimension_at_observation {
        DimensionAtObservation::Time => vec![n],
        DimensionAtObservation::All => (0..=n).collect(),
        DimensionAtObservation::Dimension(i) => vec![i],
    };
    let series_positions: Vec<usize> = (0..=n).filter(|p| !obs_positions.contains(p)).collect();
    let describe = |positions: &[usize]| -> Vec<Value> {
        positions
            .iter()
            .filter_map(|&p| Some(json_component(all.get(p)?, (p < n).then_some(p), &codes[p])))
            .collect()
    };
    let join = |idx: &[usize], positions: &[usize]| -> String {
        positions
            .iter()
            .map(|&p| idx.get(p).copied().unwrap_or(0).to_string())
            .collect::<Vec<_>>()
            .join(":")
    };
    let mut data_set = Map::new();
    data_set.insert("action".into(), json!("Information"));
    if series_positions.is_empty() {
        let mut observations = Map::new();
        if msg.detail.needs_data() {
            for (idx, row) in &cells {
                observations.insert(join(idx, &obs_positions), row.clone());
            }
        }
        data_set.insert("observations".into(), Value::Object(observations));
    } else {
        let mut series = Map::new();
        for (idx, row) in &cells {
            let entry = series
                .entry(join(idx, &series_positions))
                .or_insert_with(|| json!({"attributes": [], "observations": {}}));
            if msg.detail.needs_data()
                && let Some(obs) = entry.get_mut("observations").and_then(Value::as_object_mut)
            {
                obs.insert(join(idx, &obs_positions), row.clone());
            }
        }
        data_set.insert("series".into(), Value::Object(series));
    }
    let attributes: Vec<Value> = if msg.detail == Detail::Full {
        msg.structure
            .attributes
            .iter()
            .zip(&attr_codes)
            .map(|(a, used)| json_component(a, None, used))
            .collect()
    } else {
        Vec::new()
    };
    json!({
        "header": {
            "id": msg.id,
            "test": false,
            "prepared": msg.prepared,
            "sender": {"id": AGENCY, "name": "CTM privacy-preserving statistics"},
        },
        "dataSets": [Value::Object(data_set)],
        "structure": {
            "name": msg.flow.name(),
            "dimensions": {
                "dataSet": [],
                "series": describe(&series_positions),
                "observation": describe(&obs_positions),
            },
            "attributes": {
                "dataSet": [],
                "series": [],
                "observation": attributes,
            },
        },
    })
}
