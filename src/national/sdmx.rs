//! The `CTM_VICTIMS` SDMX dataflow: its data structure (dimensions, code
//! lists, attributes), the mapping of our dimension values to SDMX codes, and
//! the SDMX-CSV 1.0 writer.
//!
//! Invariants: every code written is a valid SDMX identifier
//! (`[A-Za-z0-9_@$-]+`); every file has the same columns for a policy (all
//! dimensions of the structure, in structure order, then `OBS_VALUE`, then the
//! attributes); a suppressed cell has an empty `OBS_VALUE` and
//! `CONF_STATUS=C`. The structure is derived from the policy's national
//! tables, so it changes only when the policy does; bump [`VERSION`] then.
//!
//! # Mapping
//! | our dimension | SDMX dimension | codes |
//! |---|---|---|
//! | country_of_exploitation | `REF_AREA` | ISO 3166-1 alpha-3; `unknown` → `_U` |
//! | citizenship | `CITIZENSHIP` | ISO 3166-1 alpha-3; `unknown` → `_U` |
//! | gender | `SEX` | woman `F`, man `M`, trans_nonconforming `_O`, unknown `_U` |
//! | age_broad | `AGE` | `Y0T8`, `Y9T17`, `Y18T20`, ..., `Y39T47`, 48+ `Y_GE48`, unknown `_U` |
//! | majority_status | `MAJORITY` | adult `Y_GE18`, minor `Y_LT18`, unknown `_U` |
//! | traffick_months | `DURATION` | `M0T12`, `M13T24`, 25+ `M_GE25`, unknown `_U` |
//! | registration_year | `TIME_PERIOD` | `2019`; several years not broken down: `2015-01-01/P6Y` |
//! | any other | its name in upper case | the value in upper case; `unknown` → `_U`, `other` → `_O` |
//!
//! A dimension a table does not break down is `_T` (total), except a
//! dimension filtered to one value (the country of a national release),
//! which carries that value.

use crate::domain::Field;
use crate::policy::Policy;
use serde::{Deserialize, Serialize};

/// Maintenance agency of the dataflow.
pub const AGENCY: &str = "CTM";
/// Dataflow id.
pub const DATAFLOW_ID: &str = "CTM_VICTIMS";
/// Dataflow version.
pub const VERSION: &str = "1.0";
/// Media type of SDMX-CSV 1.0.
pub const MEDIA_TYPE: &str = "application/vnd.sdmx.data+csv;version=1.0.0";

/// SDMX-CSV 2.0: the same observations, named by `STRUCTURE`,
/// `STRUCTURE_ID` and `ACTION` columns instead of `DATAFLOW`.
pub const MEDIA_TYPE_V2: &str = "application/vnd.sdmx.data+csv;version=2.0.0";

/// Which SDMX-CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvVersion {
    V1,
    V2,
}

impl CsvVersion {
    /// The columns that name the dataflow, before the dimensions.
    fn leading_columns(self) -> &'static [&'static str] {
        match self {
            CsvVersion::V1 => &["DATAFLOW"],
            CsvVersion::V2 => &["STRUCTURE", "STRUCTURE_ID", "ACTION"],
        }
    }

    /// Their values on every row of a file of the dataflow `dataflow`
    /// (`AGENCY:ID(VERSION)`).
    fn leading_values(self, dataflow: &str) -> Vec<String> {
        match self {
            CsvVersion::V1 => vec![dataflow.to_owned()],
            // A data message of a dataflow, whose observations are information (I).
            CsvVersion::V2 => vec!["dataflow".into(), dataflow.to_owned(), "I".into()],
        }
    }
}
/// Code of a dimension that is not broken down.
pub const TOTAL: &str = "_T";
/// Code of an unknown value.
pub const UNKNOWN: &str = "_U";
/// Code of "other".
pub const OTHER: &str = "_O";
/// The time dimension.
pub const TIME_PERIOD: &str = "TIME_PERIOD";
/// The measure.
pub const OBS_VALUE: &str = "OBS_VALUE";
/// Attribute columns, in file order.
pub const ATTRIBUTES: [&str; 4] = [
    "CONF_STATUS",
    "OBS_STATUS",
    "UNIT_MEASURE",
    "MARGIN_OF_ERROR",
];
/// `CONF_STATUS` of a released value: free.
pub const CONF_FREE: &str = "F";
/// `CONF_STATUS` of a suppressed cell: confidential.
pub const CONF_CONFIDENTIAL: &str = "C";
/// `OBS_STATUS` of a released value: estimated (it carries noise).
pub const OBS_ESTIMATED: &str = "E";
/// `UNIT_MEASURE`: persons.
pub const UNIT_PERSONS: &str = "PS";

/// `AGENCY:ID(VERSION)`, the value of the `DATAFLOW` column.
pub fn dataflow_ref() -> String {
    format!("{AGENCY}:{DATAFLOW_ID}({VERSION})")
}

/// The SDMX dimension id of a field (`TIME_PERIOD` for the registration year).
pub fn dimension_id(field: Field) -> &'static str {
    match field {
        Field::RegistrationYear => TIME_PERIOD,
        Field::Datasource => "DATASOURCE",
        Field::Gender => "SEX",
        Field::AgeBroad => "AGE",
        Field::MajorityStatus => "MAJORITY",
        Field::Citizenship => "CITIZENSHIP",
        Field::CountryOfExploitation => "REF_AREA",
        Field::IsInternal => "TRAFFICKING_SCOPE",
        Field::Education => "EDUCATION",
        Field::SocioEconomicStatus => "SOCIO_ECON_STATUS",
        Field::TraffickMonths => "DURATION",
        Field::TypeOfExploitation => "EXPLOITATION",
        Field::TypeOfLabour => "LABOUR_SECTOR",
        Field::MeansOfControl => "CONTROL_MEANS",
        Field::RecruiterRelation => "RECRUITER",
        Field::AssistanceReceived => "ASSISTANCE",
    }
}

/// The SDMX code of one of our value codes of `field`.
pub fn value_code(field: Field, value: &str) -> String {
    let fixed = match (field, value) {
        (_, "unknown") => Some(UNKNOWN),
        (Field::Gender, "woman") => Some("F"),
        (Field::Gender, "man") => Some("M"),
        (Field::Gender, "trans_nonconforming") => Some(OTHER),
        (Field::AgeBroad, "48+") => Some("Y_GE48"),
        (Field::MajorityStatus, "adult") => Some("Y_GE18"),
        (Field::MajorityStatus, "minor") => Some("Y_LT18"),
        (Field::TraffickMonths, "25+") => Some("M_GE25"),
        (Field::RegistrationYear | Field::Citizenship | Field::CountryOfExploitation, _) => None,
        (_, "other") => Some(OTHER),
        _ => None,
    };
    if let Some(code) = fixed {
        return code.to_owned();
    }
    match field {
        // Ranges "a-b" become "YaTb" (years of age) and "MaTb" (months), as in SDMX CL_AGE.
        Field::AgeBroad | Field::TraffickMonths => {
            let prefix = if field == Field::AgeBroad { "Y" } else { "M" };
            match value.split_once('-') {
                Some((a, b)) => format!("{prefix}{a}T{b}"),
                None => format!("{prefix}{value}"),
            }
        }
        Field::RegistrationYear | Field::Citizenship | Field::CountryOfExploitation => {
            value.to_owned()
        }
        _ => value.to_ascii_uppercase(),
    }
}

/// `TIME_PERIOD` of figures over the registration years `from..=to`: the year,
/// or an SDMX time range (start date and ISO 8601 duration in years).
pub fn time_period(from: u16, to: u16) -> String {
    if from == to {
        from.to_string()
    } else {
        format!("{from}-01-01/P{}Y", u32::from(to.saturating_sub(from)) + 1)
    }
}

/// The non-time dimensions of the structure for `policy`, in column order:
/// `REF_AREA`, `CITIZENSHIP`, then every other field some national table
/// breaks down, in the canonical field order.
pub fn structure_fields(policy: &Policy) -> Vec<Field> {
    let mut out = vec![Field::CountryOfExploitation, Field::Citizenship];
    for &f in Field::ALL {
        if out.contains(&f) || f == Field::RegistrationYear {
            continue;
        }
        let used = policy.tables.iter().any(|t| {
            t.dimensions
                .iter()
                .any(|n| policy.dimension(n).is_some_and(|d| d.field == f))
        });
        if used {
            out.push(f);
        }
    }
    out
}

/// The header of every SDMX-CSV file for `policy`.
pub fn header(policy: &Policy) -> Vec<String> {
    header_of(policy, CsvVersion::V1)
}

/// The columns of an SDMX-CSV file of `version`.
pub fn header_of(policy: &Policy, version: CsvVersion) -> Vec<String> {
    let mut h: Vec<String> = version
        .leading_columns()
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
    h.extend(
        structure_fields(policy)
            .into_iter()
            .map(|f| dimension_id(f).to_owned()),
    );
    h.push(TIME_PERIOD.to_owned());
    h.push(OBS_VALUE.to_owned());
    h.extend(ATTRIBUTES.iter().map(|a| (*a).to_owned()));
    h
}

/// One observation: its key (one code per structure field, then the time
/// period) and its released value, `None` when suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub key: Vec<String>,
    pub time_period: String,
    pub value: Option<i64>,
    pub margin_of_error: u64,
}

/// Writes observations as SDMX-CSV of `version` (RFC 4180, CRLF line ends).
pub fn write_csv(
    policy: &Policy,
    observations: &[Observation],
    version: CsvVersion,
) -> Result<Vec<u8>, csv::Error> {
    write_csv_of(policy, &dataflow_ref(), observations, version)
}

/// Writes observations of the dataflow `dataflow` (`AGENCY:ID(VERSION)`,
/// a dataflow of this structure) as SDMX-CSV of `version`.
pub fn write_csv_of(
    policy: &Policy,
    dataflow: &str,
    observations: &[Observation],
    version: CsvVersion,
) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(header_of(policy, version))?;
    let leading = version.leading_values(dataflow);
    for o in observations {
        let mut row: Vec<String> = Vec::with_capacity(o.key.len() + 9);
        row.extend(leading.iter().cloned());
        row.extend(o.key.iter().cloned());
        row.push(o.time_period.clone());
        match o.value {
            Some(v) => {
                row.push(v.to_string());
                row.push(CONF_FREE.into());
                row.push(OBS_ESTIMATED.into());
                row.push(UNIT_PERSONS.into());
                row.push(o.margin_of_error.to_string());
            }
            None => {
                // Suppressed: no value, so no status of a value and no margin.
                row.push(String::new());
                row.push(CONF_CONFIDENTIAL.into());
                row.push(String::new());
                row.push(UNIT_PERSONS.into());
                row.push(String::new());
            }
        }
        w.write_record(&row)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// The data structure of `CTM_VICTIMS` for this policy (`GET /v1/national/sdmx`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SdmxStructure {
    /// `AGENCY:ID(VERSION)`, as in the `DATAFLOW` column.
    pub dataflow: String,
    pub agency: &'static str,
    pub id: &'static str,
    pub version: &'static str,
    pub media_type: &'static str,
    /// The file's columns, in order.
    pub columns: Vec<String>,
    /// Dimensions in column order; `TIME_PERIOD` last.
    pub dimensions: Vec<SdmxComponent>,
    pub measure: SdmxComponent,
    pub attributes: Vec<SdmxComponent>,
    pub notes: Vec<String>,
}

/// A dimension, measure or attribute of the structure.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SdmxComponent {
    pub id: String,
    pub description: String,
    /// The API dimension it comes from, if any.
    pub source: Option<String>,
    /// The code list (empty when values are free, e.g. numbers and periods).
    pub codes: Vec<SdmxCode>,
}

/// One code of a code list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SdmxCode {
    pub code: String,
    /// The API value it stands for (null for `_T`).
    pub value: Option<String>,
    pub meaning: String,
}

fn code(code: &str, value: Option<&str>, meaning: &str) -> SdmxCode {
    SdmxCode {
        code: code.into(),
        value: value.map(str::to_owned),
        meaning: meaning.into(),
    }
}

/// The structure for `policy`, with the code list of every dimension taken
/// from the policy's declared value domains.
pub fn structure(policy: &Policy) -> SdmxStructure {
    let mut dimensions: Vec<SdmxComponent> = structure_fields(policy)
        .into_iter()
        .map(|f| {
            let dim = policy.dimensions.iter().find(|d| d.field == f);
            let mut codes: Vec<SdmxCode> = dim
                .map(|d| {
                    d.value_codes()
                        .iter()
                        .map(|v| code(&value_code(f, v), Some(v), v))
                        .collect()
                })
                .unwrap_or_default();
            if matches!(f, Field::CountryOfExploitation | Field::Citizenship) {
                // Regional releases: the region as a whole, and the rest of the world.
                for r in &policy.regions {
                    let members: Vec<&str> = r.members.iter().map(|c| c.code()).collect();
                    codes.push(code(
                        &r.code,
                        None,
                        &format!("region {}: {} ({})", r.id, r.name, members.join(", ")),
                    ));
                }
                if !policy.regions.is_empty() {
                    codes.push(code(
                        OTHER,
                        None,
                        "outside the region: every known country but the region's members",
                    ));
                }
            }
            codes.push(code(TOTAL, None, "total: not broken down"));
            let description = match f {
                Field::CountryOfExploitation => {
                    "Country of exploitation, where the victim was identified (ISO 3166-1 alpha-3)"
                        .to_owned()
                }
                Field::Citizenship => "Country of citizenship (ISO 3166-1 alpha-3)".to_owned(),
                _ => dim
                    .map(|d| d.description.clone())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| f.code().replace('_', " ")),
            };
            SdmxComponent {
                id: dimension_id(f).into(),
                description,
                source: dim.map(|d| d.name.clone()),
                codes,
            }
        })
        .collect();
    let year_source = policy
        .dimensions
        .iter()
        .find(|d| d.field == Field::RegistrationYear)
        .map(|d| d.name.clone());
    dimensions.push(SdmxComponent {
        id: TIME_PERIOD.into(),
        description: "Year of registration (YYYY); figures over several years that are not broken down by year carry an SDMX time range YYYY-01-01/PnY".into(),
        source: year_source,
        codes: Vec::new(),
    });
    let measure = SdmxComponent {
        id: OBS_VALUE.into(),
        description: "Noisy count of persons (differential privacy); empty when suppressed".into(),
        source: None,
        codes: Vec::new(),
    };
    let attributes = vec![
        SdmxComponent {
            id: "CONF_STATUS".into(),
            description: "Confidentiality status".into(),
            source: None,
            codes: vec![
                code(CONF_FREE, None, "free: the noisy count is released"),
                code(
                    CONF_CONFIDENTIAL,
                    None,
                    "confidential: the noisy count was below k and is suppressed",
                ),
            ],
        },
        SdmxComponent {
            id: "OBS_STATUS".into(),
            description: "Observation status; empty for a suppressed cell".into(),
            source: None,
            codes: vec![code(
                OBS_ESTIMATED,
                None,
                "estimated: the count carries calibrated noise",
            )],
        },
        SdmxComponent {
            id: "UNIT_MEASURE".into(),
            description: "Unit of measure".into(),
            source: None,
            codes: vec![code(UNIT_PERSONS, None, "persons")],
        },
        SdmxComponent {
            id: "MARGIN_OF_ERROR".into(),
            description: format!(
                "With probability {}, |OBS_VALUE - true count| <= MARGIN_OF_ERROR (from the noise distribution alone); empty when suppressed",
                policy.default_confidence_micro as f64 / 1e6
            ),
            source: None,
            codes: Vec::new(),
        },
    ];
    SdmxStructure {
        dataflow: dataflow_ref(),
        agency: AGENCY,
        id: DATAFLOW_ID,
        version: VERSION,
        media_type: MEDIA_TYPE,
        columns: header(policy),
        dimensions,
        measure,
        attributes,
        notes: vec![
            "Observations are the released cells of the national tables; derived totals are not observations (they would repeat keys of other tables), so aggregate released observations yourself or read the JSON and CSV totals.".into(),
            "REF_AREA is the country of exploitation and CITIZENSHIP the country of citizenship; a national release fixes one of them to its country.".into(),
            format!("SDMX-CSV 2.0 ({MEDIA_TYPE_V2}, or ?format=sdmx2) carries the same observations with STRUCTURE=dataflow, STRUCTURE_ID={} and ACTION=I in place of the DATAFLOW column.", dataflow_ref()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_sdmx_id(s: &str) -> bool {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'@' | b'$' | b'-'))
    }

    #[test]
    fn every_value_of_every_field_has_a_valid_distinct_sdmx_code() {
        for &f in Field::ALL {
            if f == Field::RegistrationYear {
                continue;
            }
            let mut seen = std::collections::HashSet::new();
            for i in 0..f.cardinality() {
                let v = f.value_code(i).unwrap_or_default();
                let c = value_code(f, &v);
                assert!(is_sdmx_id(&c), "{f} {v} -> {c}");
                assert_ne!(c, TOTAL, "{f} {v}");
                assert!(seen.insert(c.clone()), "{f}: {c} used twice");
            }
            assert!(is_sdmx_id(dimension_id(f)));
        }
    }

    #[test]
    fn the_mapping_follows_the_sdmx_cross_domain_codes() {
        assert_eq!(value_code(Field::Gender, "woman"), "F");
        assert_eq!(value_code(Field::Gender, "man"), "M");
        assert_eq!(value_code(Field::Gender, "unknown"), "_U");
        assert_eq!(value_code(Field::AgeBroad, "18-20"), "Y18T20");
        assert_eq!(value_code(Field::AgeBroad, "48+"), "Y_GE48");
        assert_eq!(value_code(Field::TraffickMonths, "0-12"), "M0T12");
        assert_eq!(value_code(Field::Citizenship, "UKR"), "UKR");
        assert_eq!(value_code(Field::Citizenship, "unknown"), "_U");
        assert_eq!(
            value_code(Field::TypeOfExploitation, "forced_labour"),
            "FORCED_LABOUR"
        );
        assert_eq!(value_code(Field::TypeOfExploitation, "other"), "_O");
        assert_eq!(time_period(2019, 2019), "2019");
        assert_eq!(time_period(2015, 2020), "2015-01-01/P6Y");
        assert_eq!(dataflow_ref(), "CTM:CTM_VICTIMS(1.0)");
    }
}
