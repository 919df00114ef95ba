//! A data query answered: the report its flow and key name, released
//! through [`crate::national`] (charged once, ledgered, consistent,
//! suppressed; a repeat is free), and the observations its key selects,
//! written in the format asked for.
//!
//! Everything decided before the release (which report, whether any
//! observation matches, the series keys of `detail=serieskeysonly`) follows
//! from the policy, the token and the query alone: a query that matches
//! nothing is refused before anything is counted or charged.

use super::query::{DataQuery, Detail};
use super::structure::Structure;
use super::write::{self, DataFormat, Message};
use super::{Flow, SdmxError, shown};
use crate::domain::{Consumer, Country, Role};
use crate::national::sdmx::Observation;
use crate::national::{self, AreaPath, Format, Params, ReportOf};
use crate::policy::Policy;
use crate::release::error::Cause;
use crate::release::query::sha256_hex;
use crate::release::{self, Pipeline, ReleaseError};

/// The answer to a data query.
#[derive(Debug)]
pub struct DataAnswer {
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Observations in the answer.
    pub observations: usize,
}

/// Whose figures the key names: `REF_AREA` / `CITIZENSHIP` codes, or the
/// token's own country or region where the key leaves them empty.
fn report_of<'a>(
    policy: &'a Policy,
    structure: &Structure,
    consumer: Option<&'a Consumer>,
    query: &'a DataQuery,
) -> Result<ReportOf<'a>, SdmxError> {
    let area_id = super::national_sdmx::dimension_id(query.flow.area_field());
    let position = |id: &str| {
        structure.position_of(id).ok_or_else(|| {
            SdmxError::Release(ReleaseError::Internal(Cause::bare(
                "an SDMX key without its area dimension",
            )))
        })
    };
    let codes = query.key.at(position(area_id)?);
    let is_country = |code: &str| {
        Country::parse_alpha3(code).is_some_and(|c| !c.is_unknown() && c.code() == code)
    };
    match query.flow {
        Flow::NationalExploitation | Flow::NationalCitizenship => match codes {
            [] => match consumer {
                Some(c) if c.role == Role::Government => c
                    .country
                    .map(|own| ReportOf::Area(AreaPath::Country(own.code())))
                    .ok_or_else(|| SdmxError::TooLarge(format!("name one country in {area_id}"))),
                _ => Err(SdmxError::TooLarge(format!(
                    "a query releases one country's report: name one country in {area_id}"
                ))),
            },
            [one] if is_country(one) => Ok(ReportOf::Area(AreaPath::Country(one))),
            [other] => Err(SdmxError::NoResults(format!(
                "{} is not a country: {} holds national figures (a region's are in the regional dataflows)",
                shown(other),
                query.flow.id()
            ))),
            _ => Err(SdmxError::TooLarge(format!(
                "a query releases one country's report: name one country in {area_id}, not {}",
                codes.len()
            ))),
        },
        Flow::RegionalExploitation | Flow::RegionalCitizenship => {
            let named: Vec<&crate::policy::Region> = policy
                .regions
                .iter()
                .filter(|r| codes.contains(&r.code))
                .collect();
            match (named.as_slice(), consumer) {
                ([one], _) => Ok(ReportOf::Area(AreaPath::Region(&one.id))),
                ([], Some(c)) if c.role == Role::Regional && c.region.is_some() => Ok(
                    ReportOf::Area(AreaPath::Region(c.region.as_deref().unwrap_or_default())),
                ),
                ([], _) => {
                    let valid: Vec<&str> = policy.regions.iter().map(|r| r.code.as_str()).collect();
                    Err(SdmxError::TooLarge(format!(
                        "a query releases one region's report: name its code in {area_id} (one of {})",
                        valid.join(", ")
                    )))
                }
                _ => Err(SdmxError::TooLarge(format!(
                    "a query releases one region's report: name one region's code in {area_id}"
                ))),
            }
        }
        Flow::Bilateral => {
            let mut countries: Vec<&str> = Vec::new();
            for id in ["REF_AREA", "CITIZENSHIP"] {
                for code in query.key.at(position(id)?) {
                    if is_country(code) && !countries.contains(&code.as_str()) {
                        countries.push(code);
                    }
                }
            }
            let own = consumer
                .filter(|c| c.role == Role::Government)
                .and_then(|c| c.country)
                .map(Country::code);
            match countries.as_slice() {
                [a, b] => {
                    let (country, other) = if own == Some(*b) { (*b, *a) } else { (*a, *b) };
                    Ok(ReportOf::Bilateral { country, other })
                }
                [_, _, _, ..] => Err(SdmxError::TooLarge(
                    "a query releases one bilateral flow: name two countries in REF_AREA and CITIZENSHIP".into(),
                )),
                _ => Err(SdmxError::Syntax(
                    "a bilateral flow is between two countries: name both in REF_AREA and CITIZENSHIP (e.g. USA+MEX.USA+MEX)".into(),
                )),
            }
        }
    }
}

/// The report's years: `startPeriod` and `endPeriod` within the dataset's.
fn params_of(policy: &Policy, query: &DataQuery) -> Result<Params, SdmxError> {
    let (first, last) = national::year_domain(policy)
        .ok_or_else(|| SdmxError::NoResults("this dataset has no national tables".into()))?;
    let from = query.start.map(|s| s.max(first));
    let to = query.end.map(|e| e.min(last));
    if from.unwrap_or(first) > to.unwrap_or(last) {
        return Err(SdmxError::NoResults(format!(
            "no data in that period: registration years run from {first} to {last}"
        )));
    }
    Ok(Params {
        perspective: (query.flow != Flow::Bilateral).then_some(query.flow.perspective()),
        from_year: from.map(i64::from),
        to_year: to.map(i64::from),
    })
}

/// Who plans a query answered from the structures alone: the key's
/// observations are the same whoever asks.
fn public_reader() -> Consumer {
    Consumer {
        id: "sdmx-structure".into(),
        role: Role::Researcher,
        country: None,
        region: None,
    }
}

/// Answers `query` in `format`. `consumer` is the token's, if one was
/// given; the data need one (the edge refuses a query without it).
pub async fn answer_data(
    pipeline: &Pipeline,
    consumer: Option<&Consumer>,
    query: &DataQuery,
    format: DataFormat,
    prepared: &str,
) -> Result<DataAnswer, SdmxError> {
    let policy = &pipeline.policy;
    let structure = Structure::of(policy);
    let of = report_of(policy, &structure, consumer, query)?;
    let params = params_of(policy, query)?;
    let reader = match consumer {
        Some(c) if query.detail.needs_data() => c.clone(),
        _ => public_reader(),
    };
    let keys = match national::report_keys(policy, &reader, of, &params) {
        Ok(keys) => keys,
        Err(e) => {
            if query.detail.needs_data() && e.is_ledgered() {
                release::ledger_refusal(pipeline, &reader, e.code(), None).await;
            }
            return Err(e.into());
        }
    };
    if !keys.iter().any(|(k, _)| query.key.matches(k)) {
        return Err(SdmxError::NoResults(format!(
            "no observation of {} matches this key",
            query.flow.id()
        )));
    }
    let observations: Vec<Observation> = if query.detail.needs_data() {
        let released =
            national::release_report_of(pipeline, &reader, of, &params, Format::Observations)
                .await?;
        let all: Vec<Observation> = serde_json::from_slice(&released.body)
            .map_err(|e| ReleaseError::internal("reading released SDMX observations", e))?;
        all.into_iter()
            .filter(|o| query.key.matches(&o.key))
            .collect()
    } else {
        keys.into_iter()
            .filter(|(k, _)| query.key.matches(k))
            .map(|(key, time_period)| Observation {
                key,
                time_period,
                value: None,
                margin_of_error: 0,
            })
            .collect()
    };
    // The same query gets the same message id.
    let id = format!(
        "IREF{}",
        &sha256_hex(format!("{query:?}|{format:?}").as_bytes())[..20]
    );
    let msg = Message {
        policy,
        structure: &structure,
        flow: query.flow,
        observations: &observations,
        detail: query.detail,
        dimension_at_observation: query.dimension_at_observation,
        id: &id,
        prepared,
    };
    let body = write::write(format, &msg).map_err(|e| {
        ReleaseError::RenderFailed(Cause::new(
            "writing an SDMX data message",
            std::io::Error::other(e.to_string()),
        ))
    })?;
    Ok(DataAnswer {
        content_type: format.content_type(),
        body,
        observations: if query.detail == Detail::Full || query.detail == Detail::DataOnly {
            observations.len()
        } else {
            0
        },
    })
}
