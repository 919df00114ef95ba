//! The SDMX artefacts of the service, derived from the policy: one data
//! structure definition (`CTM:CTM_VICTIMS(1.0)`, the dimensions, code lists
//! and attributes of [`crate::national::sdmx`]), its concept scheme, and
//! one dataflow per published table family ([`Flow`]); and which of them a
//! structure query returns. Names carry a language (English now; a
//! language added to [`crate::domain::labels`] appears here by itself).

use super::Flow;
use crate::domain::Field;
use crate::domain::labels::{self, Lang};
use crate::national::sdmx::{self as national_sdmx, SdmxComponent};
use crate::policy::Policy;

/// The time dimension's id.
pub const TIME_PERIOD: &str = national_sdmx::TIME_PERIOD;

/// A structure resource of the REST interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Dataflow,
    DataStructure,
    Codelist,
    ConceptScheme,
}

impl Resource {
    pub const ALL: &'static [Resource] = &[
        Resource::Dataflow,
        Resource::DataStructure,
        Resource::Codelist,
        Resource::ConceptScheme,
    ];

    /// Its path segment, e.g. `dataflow`.
    pub fn path(self) -> &'static str {
        match self {
            Resource::Dataflow => "dataflow",
            Resource::DataStructure => "datastructure",
            Resource::Codelist => "codelist",
            Resource::ConceptScheme => "conceptscheme",
        }
    }

    /// The resource named by a path segment (any case).
    pub fn parse(segment: &str) -> Option<Resource> {
        Resource::ALL
            .iter()
            .copied()
            .find(|r| r.path().eq_ignore_ascii_case(segment))
    }
}

/// Text in several languages: `(BCP 47 code, text)`, English first.
pub type Names = Vec<(&'static str, String)>;

fn english(text: impl Into<String>) -> Names {
    vec![(Lang::En.code(), text.into())]
}

/// One code of a code list.
#[derive(Debug, Clone)]
pub struct Code {
    pub id: String,
    pub names: Names,
}

/// A code list.
#[derive(Debug, Clone)]
pub struct Codelist {
    pub id: String,
    pub names: Names,
    pub codes: Vec<Code>,
}

/// A dimension, the measure or an attribute, with its concept.
#[derive(Debug, Clone)]
pub struct Component {
    pub id: String,
    /// The concept's name.
    pub names: Names,
    /// The concept's description (English).
    pub description: String,
    /// Its code list, when coded.
    pub codelist: Option<String>,
    /// The codes of its code list (empty when not coded).
    pub codes: Vec<String>,
    /// The SDMX text type of an uncoded component.
    pub text_type: Option<&'static str>,
}

impl Component {
    /// Whether `code` is in its code list (any code of an uncoded component).
    pub fn has_code(&self, code: &str) -> bool {
        self.codelist.is_none() || self.codes.iter().any(|c| c == code)
    }
}

/// Everything the service publishes about its structure.
#[derive(Debug, Clone)]
pub struct Structure {
    /// The dimensions of the key, in order (`TIME_PERIOD` is not one).
    dimensions: Vec<Component>,
    pub time: Component,
    pub measure: Component,
    pub attributes: Vec<Component>,
    pub codelists: Vec<Codelist>,
    pub flows: Vec<Flow>,
}

/// The field a component of [`national_sdmx::structure`] reads, if any.
fn field_of(policy: &Policy, component: &SdmxComponent) -> Option<Field> {
    match component.id.as_str() {
        "REF_AREA" => Some(Field::CountryOfExploitation),
        "CITIZENSHIP" => Some(Field::Citizenship),
        _ => component
            .source
            .as_deref()
            .and_then(|name| policy.dimension(name))
            .map(|d| d.field),
    }
}

/// A code's name in every language with labels, else its English meaning.
fn code_names(field: Option<Field>, code: &national_sdmx::SdmxCode) -> Names {
    let labelled: Names = match (field, code.value.as_deref()) {
        (Some(f), Some(v)) => Lang::ALL
            .iter()
            .filter_map(|&lang| labels::value_label(lang, f, v).map(|l| (lang.code(), l.into())))
            .collect(),
        _ => Vec::new(),
    };
    if labelled.is_empty() {
        english(capitalized(&code.meaning))
    } else {
        labelled
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

fn concept_names(field: Option<Field>, id: &str) -> Names {
    let fixed = match id {
        TIME_PERIOD => Some("Time period (year of registration)"),
        "OBS_VALUE" => Some("Observation value (noisy count of persons)"),
        "CONF_STATUS" => Some("Confidentiality status"),
        "OBS_STATUS" => Some("Observation status"),
        "UNIT_MEASURE" => Some("Unit of measure"),
        "MARGIN_OF_ERROR" => Some("Margin of error"),
        "REF_AREA" => Some("Reference area: country of exploitation"),
        "CITIZENSHIP" => Some("Country of citizenship"),
        _ => None,
    };
    match (fixed, field) {
        (Some(name), _) => english(name),
        (None, Some(f)) => Lang::ALL
            .iter()
            .map(|&lang| (lang.code(), labels::field_name(lang, f).to_owned()))
            .collect(),
        (None, None) => english(id),
    }
}

impl Structure {
    /// The structure of `policy`.
    pub fn of(policy: &Policy) -> Structure {
        let published = national_sdmx::structure(policy);
        let mut codelists = Vec::new();
        let mut component = |c: &SdmxComponent, text_type: Option<&'static str>| {
            let field = field_of(policy, c);
            let codelist = (!c.codes.is_empty()).then(|| {
                let id = format!("CL_{}", c.id);
                codelists.push(Codelist {
                    id: id.clone(),
                    names: english(format!(
                        "Codes of {}",
                        concept_names(field, &c.id)
                            .first()
                            .map_or(c.id.as_str(), |(_, n)| n.as_str())
                    )),
                    codes: c
                        .codes
                        .iter()
                        .map(|code| Code {
                            id: code.code.clone(),
                            names: code_names(field, code),
                        })
                        .collect(),
                });
                id
            });
            Component {
                id: c.id.clone(),
                names: concept_names(field, &c.id),
                description: c.description.clone(),
                codes: c.codes.iter().map(|code| code.code.clone()).collect(),
                codelist,
                text_type: if c.codes.is_empty() { text_type } else { None },
            }
        };
        let mut dimensions = Vec::new();
        let mut time = None;
        for d in &published.dimensions {
            if d.id == TIME_PERIOD {
                time = Some(component(d, Some("ObservationalTimePeriod")));
            } else {
                dimensions.push(component(d, Some("String")));
            }
        }
        let measure = component(&published.measure, Some("Integer"));
        let attributes = published
            .attributes
            .iter()
            .map(|a| component(a, Some("Integer")))
            .collect();
        let time = time.unwrap_or_else(|| Component {
            id: TIME_PERIOD.into(),
            names: concept_names(None, TIME_PERIOD),
            description: String::new(),
            codelist: None,
            codes: Vec::new(),
            text_type: Some("ObservationalTimePeriod"),
        });
        Structure {
            dimensions,
            time,
            measure,
            attributes,
            codelists,
            flows: Flow::offered_by(policy),
        }
    }

    /// The dimensions of the key, in order.
    pub fn key_dimensions(&self) -> &[Component] {
        &self.dimensions
    }

    /// The position in the key of the dimension reading `field`'s country
    /// (`REF_AREA` or `CITIZENSHIP`).
    pub fn position_of(&self, id: &str) -> Option<usize> {
        self.dimensions.iter().position(|d| d.id == id)
    }

    /// Every component, dimensions first, then time, measure, attributes.
    pub fn components(&self) -> impl Iterator<Item = &Component> {
        self.dimensions
            .iter()
            .chain([&self.time, &self.measure])
            .chain(&self.attributes)
    }
}
