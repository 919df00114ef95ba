//! SDMX-ML 2.1 text: escaping, the message header, the structure message
//! (and which artefacts a structure query selects) and the error message. Elements follow the order of the SDMX-ML 2.1
//! schemas (`SDMXMessage.xsd`, `SDMXStructure*.xsd`).

use super::query::{References, StructureQuery};
use super::structure::{Codelist, Component, Names, Resource, Structure};
use super::{AGENCY, CONCEPT_SCHEME_ID, DSD_ID, Flow, SdmxError, VERSION, shown};
use crate::policy::Policy;
use std::fmt::Write;

pub const NS_MESSAGE: &str = "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message";
pub const NS_STRUCTURE: &str = "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure";
pub const NS_COMMON: &str = "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common";
pub const NS_GENERIC: &str = "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/data/generic";
pub const NS_SPECIFIC: &str =
    "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/data/structurespecific";
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// `text` escaped for an attribute value or element content.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// The URN of a maintainable artefact, e.g.
/// `urn:sdmx:org.sdmx.infomodel.codelist.Codelist=CTM:CL_SEX(1.0)`.
pub fn urn(class: &str, id: &str) -> String {
    format!("urn:sdmx:org.sdmx.infomodel.{class}={AGENCY}:{id}({VERSION})")
}

/// `<mes:Header>` with its identification, sender, and any extra children.
pub fn header(out: &mut String, id: &str, prepared: &str, extra: &str) {
    let _ = write!(
        out,
        "<mes:Header><mes:ID>{}</mes:ID><mes:Test>false</mes:Test><mes:Prepared>{}</mes:Prepared><mes:Sender id=\"{AGENCY}\"><com:Name xml:lang=\"en\">CTM privacy-preserving statistics</com:Name></mes:Sender>{extra}</mes:Header>",
        esc(id),
        esc(prepared)
    );
}

fn names(out: &mut String, element: &str, names: &Names) {
    for (lang, text) in names {
        let _ = write!(
            out,
            "<com:{element} xml:lang=\"{lang}\">{}</com:{element}>",
            esc(text)
        );
    }
}

fn maintainable_attrs(id: &str, class: &str) -> String {
    format!(
        "id=\"{}\" urn=\"{}\" agencyID=\"{AGENCY}\" version=\"{VERSION}\" isFinal=\"true\"",
        esc(id),
        esc(&urn(class, id))
    )
}

fn concept_ref(c: &Component) -> String {
    format!(
        "<str:ConceptIdentity><Ref id=\"{}\" maintainableParentID=\"{CONCEPT_SCHEME_ID}\" maintainableParentVersion=\"{VERSION}\" agencyID=\"{AGENCY}\" package=\"conceptscheme\" class=\"Concept\"/></str:ConceptIdentity>",
        esc(&c.id)
    )
}

fn representation(c: &Component) -> String {
    match (&c.codelist, c.text_type) {
        (Some(cl), _) => format!(
            "<str:LocalRepresentation><str:Enumeration><Ref id=\"{}\" version=\"{VERSION}\" agencyID=\"{AGENCY}\" package=\"codelist\" class=\"Codelist\"/></str:Enumeration></str:LocalRepresentation>",
            esc(cl)
        ),
        (None, Some(t)) => {
            format!(
                "<str:LocalRepresentation><str:TextFormat textType=\"{t}\"/></str:LocalRepresentation>"
            )
        }
        (None, None) => String::new(),
    }
}

/// The opening of a message element with every namespace it uses.
pub fn open_message(out: &mut String, element: &str, extra_ns: &str) {
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<mes:{element} xmlns:mes=\"{NS_MESSAGE}\" xmlns:str=\"{NS_STRUCTURE}\" xmlns:com=\"{NS_COMMON}\" xmlns:xsi=\"{NS_XSI}\"{extra_ns}>"
    );
}

/// The SDMX-ML 2.1 structure message of `selection`.
pub fn structure_xml(structure: &Structure, selection: &Selection<'_>, prepared: &str) -> String {
    let mut out = String::with_capacity(64 * 1024);
    open_message(&mut out, "Structure", "");
    header(&mut out, "STRUCTURE", prepared, "");
    out.push_str("<mes:Structures>");
    if !selection.flows.is_empty() {
        out.push_str("<str:Dataflows>");
        for f in &selection.flows {
            let _ = write!(
                out,
                "<str:Dataflow {}>",
                maintainable_attrs(f.id(), "datastructure.Dataflow")
            );
            names(&mut out, "Name", &vec![("en", f.name().to_owned())]);
            names(
                &mut out,
                "Description",
                &vec![("en", f.description().to_owned())],
            );
            let _ = write!(
                out,
                "<str:Structure><Ref id=\"{DSD_ID}\" version=\"{VERSION}\" agencyID=\"{AGENCY}\" package=\"datastructure\" class=\"DataStructure\"/></str:Structure></str:Dataflow>"
            );
        }
        out.push_str("</str:Dataflows>");
    }
    if !selection.codelists.is_empty() {
        out.push_str("<str:Codelists>");
        for cl in &selection.codelists {
            let _ = write!(
                out,
                "<str:Codelist {}>",
                maintainable_attrs(&cl.id, "codelist.Codelist")
            );
            names(&mut out, "Name", &cl.names);
            for code in &cl.codes {
                let _ = write!(
                    out,
                    "<str:Code id=\"{}\" urn=\"{}.{}\">",
                    esc(&code.id),
                    esc(&urn("codelist.Code", &cl.id)),
                    esc(&code.id)
                );
                names(&mut out, "Name", &code.names);
                out.push_str("</str:Code>");
            }
            out.push_str("</str:Codelist>");
        }
        out.push_str("</str:Codelists>");
    }
    if selection.concepts {
        let _ = write!(
            out,
            "<str:Concepts><str:ConceptScheme {}>",
            maintainable_attrs(CONCEPT_SCHEME_ID, "conceptscheme.ConceptScheme")
        );
        names(
            &mut out,
            "Name",
            &vec![("en", "Concepts of the CTM victims statistics".to_owned())],
        );
        for c in structure.components() {
            let _ = write!(
                out,
                "<str:Concept id=\"{}\" urn=\"{}.{}\">",
                esc(&c.id),
                esc(&urn("conceptscheme.Concept", CONCEPT_SCHEME_ID)),
                esc(&c.id)
            );
            names(&mut out, "Name", &c.names);
            if !c.description.is_empty() {
                names(
                    &mut out,
                    "Description",
                    &vec![("en", c.description.clone())],
                );
            }
            out.push_str("</str:Concept>");
        }
        out.push_str("</str:ConceptScheme></str:Concepts>");
    }
    if selection.dsd {
        dsd_xml(&mut out, structure);
    }
    out.push_str("</mes:Structures></mes:Structure>\n");
    out
}

fn dsd_xml(out: &mut String, structure: &Structure) {
    let _ = write!(
        out,
        "<str:DataStructures><str:DataStructure {}>",
        maintainable_attrs(DSD_ID, "datastructure.DataStructure")
    );
    names(
        out,
        "Name",
        &vec![(
            "en",
            "Assisted victims of trafficking: noisy counts (differential privacy)".to_owned(),
        )],
    );
    out.push_str("<str:DataStructureComponents><str:DimensionList id=\"DimensionDescriptor\">");
    let dims = structure.key_dimensions();
    for (i, d) in dims.iter().enumerate() {
        let _ = write!(
            out,
            "<str:Dimension id=\"{}\" position=\"{}\">{}{}</str:Dimension>",
            esc(&d.id),
            i + 1,
            concept_ref(d),
            representation(d)
        );
    }
    let t = &structure.time;
    let _ = write!(
        out,
        "<str:TimeDimension id=\"{}\" position=\"{}\">{}{}</str:TimeDimension></str:DimensionList>",
        esc(&t.id),
        dims.len() + 1,
        concept_ref(t),
        representation(t)
    );
    out.push_str("<str:AttributeList id=\"AttributeDescriptor\">");
    for a in &structure.attributes {
        // Every attribute is of the observation; the unit is always there.
        let status = if a.id == "CONF_STATUS" || a.id == "UNIT_MEASURE" {
            "Mandatory"
        } else {
            "Conditional"
        };
        let _ = write!(
            out,
            "<str:Attribute id=\"{}\" assignmentStatus=\"{status}\">{}{}<str:AttributeRelationship><str:PrimaryMeasure><Ref id=\"{}\"/></str:PrimaryMeasure></str:AttributeRelationship></str:Attribute>",
            esc(&a.id),
            concept_ref(a),
            representation(a),
            esc(&structure.measure.id)
        );
    }
    let m = &structure.measure;
    let _ = write!(
        out,
        "</str:AttributeList><str:MeasureList id=\"MeasureDescriptor\"><str:PrimaryMeasure id=\"{}\">{}{}</str:PrimaryMeasure></str:MeasureList></str:DataStructureComponents></str:DataStructure></str:DataStructures>",
        esc(&m.id),
        concept_ref(m),
        representation(m)
    );
}

/// An SDMX-ML 2.1 error message: `code` is the SDMX error code (`100`,
/// `110`, `150`...), then each line of `texts` as a `com:Text` (our stable
/// code first, then the detail).
pub fn error_message(code: u16, texts: &[String]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<mes:Error xmlns:mes=\"{NS_MESSAGE}\" xmlns:com=\"{NS_COMMON}\"><mes:ErrorMessage code=\"{code}\">"
    );
    for t in texts {
        let _ = write!(out, "<com:Text xml:lang=\"en\">{}</com:Text>", esc(t));
    }
    out.push_str("</mes:ErrorMessage></mes:Error>\n");
    out
}

/// The artefacts a structure query returns.
#[derive(Debug, Default)]
pub struct Selection<'s> {
    pub flows: Vec<Flow>,
    pub dsd: bool,
    pub codelists: Vec<&'s Codelist>,
    pub concepts: bool,
}

impl<'s> Selection<'s> {
    /// What `query` asks for, or no results.
    pub fn of(structure: &'s Structure, query: &StructureQuery) -> Result<Self, SdmxError> {
        let wanted = |id: &str| {
            query
                .id
                .as_deref()
                .is_none_or(|w| w.eq_ignore_ascii_case(id))
        };
        let children = matches!(query.references, References::Children | References::All);
        let parents = matches!(query.references, References::Parents | References::All);
        let mut sel = Selection::default();
        match query.resource {
            Resource::Dataflow => {
                sel.flows = structure
                    .flows
                    .iter()
                    .copied()
                    .filter(|f| wanted(f.id()))
                    .collect();
                if sel.flows.is_empty() {
                    return Err(none_of(query));
                }
                sel.dsd = children;
            }
            Resource::DataStructure => {
                if !wanted(DSD_ID) {
                    return Err(none_of(query));
                }
                sel.dsd = true;
                if parents {
                    sel.flows.clone_from(&structure.flows);
                }
            }
            Resource::Codelist => {
                sel.codelists = structure
                    .codelists
                    .iter()
                    .filter(|c| wanted(&c.id))
                    .collect();
                if sel.codelists.is_empty() {
                    return Err(none_of(query));
                }
                sel.dsd = parents;
            }
            Resource::ConceptScheme => {
                if !wanted(CONCEPT_SCHEME_ID) {
                    return Err(none_of(query));
                }
                sel.concepts = true;
                sel.dsd = parents;
            }
        }
        // A DSD comes with what it uses when children are asked for.
        if sel.dsd && children {
            sel.codelists = structure.codelists.iter().collect();
            sel.concepts = true;
        }
        Ok(sel)
    }
}

fn none_of(query: &StructureQuery) -> SdmxError {
    SdmxError::NoResults(format!(
        "no {} {}",
        query.resource.path(),
        query.id.as_deref().map_or_else(String::new, shown)
    ))
}

/// The SDMX-ML 2.1 structure message answering `query`.
pub fn structure_message(
    policy: &Policy,
    query: &StructureQuery,
    prepared: &str,
) -> Result<String, SdmxError> {
    let structure = Structure::of(policy);
    let selection = Selection::of(&structure, query)?;
    Ok(structure_xml(&structure, &selection, prepared))
}
