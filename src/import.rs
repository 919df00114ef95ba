//! Reading case records from CSV: the documented layout (CTDC global-dataset
//! names where they exist, plus our own fields), every row validated before
//! anything is written. Errors name the line and column but never echo a
//! cell's value, so no error text carries case data.

use crate::domain::case::{
    ASSISTANCE_TYPES, AgeBroad, Datasource, EXPLOITATION_TYPES, Education, FlagSet, Gender,
    LABOUR_TYPES, MEANS_OF_CONTROL, MajorityStatus, RECRUITER_RELATIONS, SocioEconomicStatus,
    TraffickMonths, YEAR_MIN,
};
use crate::domain::{Case, Country};
use crate::policy::PrivacyUnit;
use std::collections::HashMap;
use std::io::Read;

/// At most this many problems are listed; the rest are counted.
pub const MAX_REPORTED: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path} is empty: expected a header line and at least one case")]
    Empty { path: String },
    #[error("{}", render_problems(.problems, *.total))]
    Invalid { problems: Vec<String>, total: usize },
    /// The policy protects persons, and some rows do not say whose they are.
    #[error("{}", render_missing_person_keys(*.rows, .lines))]
    MissingPersonKeys {
        rows: usize,
        /// The first lines (1-based, header = 1) without a person key.
        lines: Vec<u64>,
    },
}

fn render_missing_person_keys(rows: usize, lines: &[u64]) -> String {
    let shown: Vec<String> = lines.iter().map(u64::to_string).collect();
    let more = if rows > lines.len() { ", ..." } else { "" };
    format!(
        "{rows} row(s) have no personKey (line(s) {}{more}); nothing was imported. \
         The policy's unit of privacy is \"person\": epsilon protects a person with all of \
         their cases, which needs every case to name its person. Add a personKey column \
         (the same key for every case of one person), or, if each case record is to be \
         protected on its own, set unit = \"case\" in the policy's [privacy] section",
        shown.join(", ")
    )
}

fn render_problems(problems: &[String], total: usize) -> String {
    let mut s = format!("{total} problem(s) found; nothing was imported:");
    for p in problems {
        s.push_str("\n  ");
        s.push_str(p);
    }
    if total > problems.len() {
        s.push_str(&format!("\n  ... and {} more", total - problems.len()));
    }
    s
}

/// The single-valued columns: (canonical header, our field).
const SINGLE: &[(&str, Col)] = &[
    ("caseId", Col::CaseId),
    ("personKey", Col::PersonKey),
    ("yearOfRegistration", Col::Year),
    ("Datasource", Col::Datasource),
    ("gender", Col::Gender),
    ("ageBroad", Col::Age),
    ("majorityStatus", Col::Majority),
    ("citizenship", Col::Citizenship),
    ("CountryOfExploitation", Col::Exploitation),
    ("education", Col::Education),
    ("socioEconomicStatus", Col::Ses),
    ("traffickMonths", Col::Months),
];

/// Columns a file must have; the others default to unknown when absent.
const REQUIRED: &[&str] = &[
    "caseId",
    "yearOfRegistration",
    "gender",
    "ageBroad",
    "citizenship",
    "CountryOfExploitation",
];

/// Flag column headers of each multi-valued group, in bit order of the domain lists.
const EXPLOITATION_COLS: &[&str] = &[
    "isForcedLabour",
    "isSexualExploit",
    "isForcedMarriage",
    "isForcedCriminality",
    "isBegging",
    "isOrganRemoval",
    "isOtherExploit",
];
const LABOUR_COLS: &[&str] = &[
    "typeOfLabourAgriculture",
    "typeOfLabourConstruction",
    "typeOfLabourDomesticWork",
    "typeOfLabourHospitality",
    "typeOfLabourManufacturing",
    "typeOfLabourFishing",
    "typeOfLabourMiningOrDrilling",
    "typeOfLabourOther",
];
const MEANS_COLS: &[&str] = &[
    "meansOfControlDebtBondage",
    "meansOfControlTakesEarnings",
    "meansOfControlThreats",
    "meansOfControlPsychologicalAbuse",
    "meansOfControlPhysicalAbuse",
    "meansOfControlSexualAbuse",
    "meansOfControlFalsePromises",
    "meansOfControlPsychoactiveSubstances",
    "meansOfControlRestrictsMovement",
    "meansOfControlWithholdsDocuments",
    "meansOfControlWithholdsNecessities",
    "meansOfControlExcessiveWorkingHours",
    "meansOfControlOther",
];
const RECRUITER_COLS: &[&str] = &[
    "recruiterRelationIntimatePartner",
    "recruiterRelationFriend",
    "recruiterRelationFamily",
    "recruiterRelationOther",
];
const ASSISTANCE_COLS: &[&str] = &[
    "assistanceCounselling",
    "assistanceShelter",
    "assistancePsychosocial",
    "assistanceMedical",
    "assistanceLegal",
    "assistanceLivelihood",
    "assistanceReturn",
    "assistanceReintegration",
];

/// CTDC columns we recognise but do not store (accepted so real files import).
const IGNORED: &[&str] = &[
    "majorityStatusAtExploit",
    "majorityEntry",
    "isAbduction",
    "isForcedMilitary",
    "typeOfSexProstitution",
    "typeOfSexPornography",
    "typeOfSexRemoteInteractiveServices",
    "typeOfSexPrivateSexualServices",
    "typeOfLabourAquafarming",
    "typeOfLabourBegging",
    "typeOfLabourIllicitActivities",
    "typeOfLabourPeddling",
    "typeOfLabourTransportation",
    "meansOfControlRestrictsFinancialAccess",
    "meansOfControlRestrictsMedicalCare",
    "meansOfControlUsesChildren",
    "meansOfControlThreatOfLawEnforcement",
    "ageBroadAtExploit",
];

/// Older CTDC files spell some flags differently.
const ALIASES: &[(&str, &str)] = &[
    ("meansWithholdDocs", "meansOfControlWithholdsDocuments"),
    ("meansWithholdDocuments", "meansOfControlWithholdsDocuments"),
    (
        "meansWithholdNecessities",
        "meansOfControlWithholdsNecessities",
    ),
    ("typeOfLabourMining", "typeOfLabourMiningOrDrilling"),
    ("isSexualExploitation", "isSexualExploit"),
    ("yearRegistration", "yearOfRegistration"),
    ("countryOfExploitation", "CountryOfExploitation"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    CaseId,
    PersonKey,
    Year,
    Datasource,
    Gender,
    Age,
    Majority,
    Citizenship,
    Exploitation,
    Education,
    Ses,
    Months,
}

/// Header names compare case-insensitively, ignoring `_`, `-` and spaces.
fn normalise(h: &str) -> String {
    h.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Where each known column sits in the file.
struct Layout {
    single: Vec<(usize, Col, &'static str)>,
    groups: [Vec<(usize, usize, &'static str)>; 5],
}

fn group_cols() -> [&'static [&'static str]; 5] {
    [
        EXPLOITATION_COLS,
        LABOUR_COLS,
        MEANS_COLS,
        RECRUITER_COLS,
        ASSISTANCE_COLS,
    ]
}

fn layout(headers: &csv::StringRecord, problems: &mut Vec<String>) -> Layout {
    let mut known: HashMap<String, &'static str> = HashMap::new();
    for (h, _) in SINGLE {
        known.insert(normalise(h), h);
    }
    for g in group_cols() {
        for h in g {
            known.insert(normalise(h), h);
        }
    }
    for (alias, canon) in ALIASES {
        known.insert(normalise(alias), canon);
    }
    let ignored: Vec<String> = IGNORED.iter().map(|h| normalise(h)).collect();
    let mut positions: HashMap<&'static str, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let n = normalise(h.trim_start_matches('\u{feff}'));
        if let Some(canon) = known.get(&n) {
            if positions.insert(canon, i).is_some() {
                problems.push(format!("line 1, column {}: column appears twice", i + 1));
            }
        } else if !ignored.contains(&n) {
            problems.push(format!(
                "line 1, column {}: unknown column header (see the CSV layout in docs/operations.md)",
                i + 1
            ));
        }
    }
    for r in REQUIRED {
        if !positions.contains_key(r) {
            problems.push(format!("line 1, column {r}: required column is missing"));
        }
    }
    let single = SINGLE
        .iter()
        .filter_map(|(h, col)| positions.get(h).map(|&i| (i, *col, *h)))
        .collect();
    let groups = group_cols().map(|cols| {
        cols.iter()
            .enumerate()
            .filter_map(|(bit, h)| positions.get(h).map(|&i| (i, bit, *h)))
            .collect()
    });
    Layout { single, groups }
}

fn is_missing(v: &str) -> bool {
    let v = v.trim();
    v.is_empty() || v == "-99" || v.eq_ignore_ascii_case("unknown") || v.eq_ignore_ascii_case("na")
}

/// Lower-case and turn spaces and dashes into `_` so "Case Management" reads as `case_management`.
fn code_form(v: &str) -> String {
    v.trim().to_ascii_lowercase().replace([' ', '-'], "_")
}

fn parse_gender(v: &str) -> Option<Gender> {
    if is_missing(v) {
        return Some(Gender::Unknown);
    }
    match code_form(v).as_str() {
        "woman" | "female" | "f" => Some(Gender::Woman),
        "man" | "male" | "m" => Some(Gender::Man),
        "trans_nonconforming"
        | "trans_gender_nonconforming"
        | "transgender_nonconforming"
        | "trans_gender_non_conforming" => Some(Gender::TransNonconforming),
        _ => None,
    }
}

fn parse_age(v: &str) -> Option<AgeBroad> {
    if is_missing(v) {
        return Some(AgeBroad::Unknown);
    }
    AgeBroad::parse(&v.trim().replace("--", "-"))
}

fn parse_coded<T>(v: &str, unknown: T, parse: fn(&str) -> Option<T>) -> Option<T> {
    if is_missing(v) {
        Some(unknown)
    } else {
        parse(&v.trim().to_ascii_lowercase()).or_else(|| parse(&code_form(v)))
    }
}

fn describe(col: Col) -> String {
    let list = |codes: &[&str]| format!("expected one of {}", codes.join(", "));
    match col {
        Col::CaseId => "must be 1 to 64 characters".into(),
        Col::PersonKey => "must be at most 128 characters".into(),
        Col::Year => String::new(),
        Col::Datasource => list(Datasource::CODES),
        Col::Gender => list(Gender::CODES),
        Col::Age => list(AgeBroad::CODES),
        Col::Majority => list(MajorityStatus::CODES),
        Col::Citizenship | Col::Exploitation => {
            "malformed country code: expected ISO 3166-1 alpha-3 (or alpha-2), or empty for unknown"
                .into()
        }
        Col::Education => list(Education::CODES),
        Col::Ses => list(SocioEconomicStatus::CODES),
        Col::Months => list(TraffickMonths::CODES),
    }
}

/// Reads and validates every row of a CSV file of cases.
/// `max_year` is the latest acceptable registration year (normally this year).
///
/// Under `unit = Person` every row must name its person (`personKey`); under
/// `unit = Case` a row without one is its own person.
pub fn read_cases(
    path: &str,
    max_year: u16,
    unit: PrivacyUnit,
    mut progress: impl FnMut(u64),
) -> Result<Vec<Case>, ImportError> {
    let file = std::fs::File::open(path).map_err(|e| ImportError::Unreadable {
        path: path.into(),
        reason: e.to_string(),
    })?;
    read_cases_from(path, file, max_year, unit, &mut progress)
}

/// Like [`read_cases`], from any reader; `path` only names the source in errors.
pub fn read_cases_from(
    path: &str,
    input: impl Read,
    max_year: u16,
    unit: PrivacyUnit,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<Case>, ImportError> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let headers = rdr
        .headers()
        .map_err(|e| ImportError::Unreadable {
            path: path.into(),
            reason: e.to_string(),
        })?
        .clone();
    if headers.is_empty() || headers.iter().all(|h| h.trim().is_empty()) {
        return Err(ImportError::Empty { path: path.into() });
    }
    let mut header_problems = Vec::new();
    let lay = layout(&headers, &mut header_problems);
    if !header_problems.is_empty() {
        let total = header_problems.len();
        return Err(ImportError::Invalid {
            problems: header_problems,
            total,
        });
    }
    let mut problems = Problems::default();
    let mut cases = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut without_person = 0usize;
    let mut without_person_lines: Vec<u64> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                problems.add(format!("line {line}: unreadable CSV record"));
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        progress(record.position().map(|p| p.byte()).unwrap_or(0));
        if record.len() != headers.len() {
            problems.at(
                line,
                "-",
                format!(
                    "has {} fields, the header has {}",
                    record.len(),
                    headers.len()
                ),
            );
            continue;
        }
        let Some(mut case) = read_row(&record, &lay, max_year, line, &mut problems) else {
            continue;
        };
        if case.person_key.is_empty() {
            match unit {
                // Only under unit = "case" may a record stand for itself.
                PrivacyUnit::Case => case.person_key = case.case_id.clone(),
                PrivacyUnit::Person => {
                    without_person += 1;
                    if without_person_lines.len() < MAX_REPORTED {
                        without_person_lines.push(line);
                    }
                }
            }
        }
        if let Some(first) = seen.get(&case.case_id) {
            problems.at(
                line,
                "caseId",
                format!("duplicate case id (first on line {first})"),
            );
            continue;
        }
        seen.insert(case.case_id.clone(), line);
        cases.push(case);
    }
    if problems.total > 0 {
        let Problems {
            mut list,
            mut total,
        } = problems;
        if without_person > 0 {
            list.push(render_missing_person_keys(
                without_person,
                &without_person_lines,
            ));
            total += without_person;
        }
        return Err(ImportError::Invalid {
            problems: list,
            total,
        });
    }
    if without_person > 0 {
        return Err(ImportError::MissingPersonKeys {
            rows: without_person,
            lines: without_person_lines,
        });
    }
    if cases.is_empty() {
        return Err(ImportError::Empty { path: path.into() });
    }
    Ok(cases)
}

/// Problems found in the rows: all counted, the first [`MAX_REPORTED`] kept.
#[derive(Default)]
struct Problems {
    list: Vec<String>,
    total: usize,
}

impl Problems {
    fn add(&mut self, problem: String) {
        self.total += 1;
        if self.list.len() < MAX_REPORTED {
            self.list.push(problem);
        }
    }

    /// A problem of column `col` on `line`; the message never shows the value.
    fn at(&mut self, line: u64, col: &str, what: impl std::fmt::Display) {
        self.add(format!("line {line}, column {col}: {what}"));
    }
}

/// A case with every field unknown, to be filled from a row.
fn blank_case() -> Case {
    Case {
        case_id: String::new(),
        person_key: String::new(),
        registration_year: 0,
        datasource: Datasource::CaseManagement,
        gender: Gender::Unknown,
        age_broad: AgeBroad::Unknown,
        majority_status: MajorityStatus::Unknown,
        citizenship: Country::unknown(),
        country_of_exploitation: Country::unknown(),
        education: Education::Unknown,
        socio_economic_status: SocioEconomicStatus::Unknown,
        traffick_months: TraffickMonths::Unknown,
        type_of_exploitation: FlagSet::UNKNOWN,
        type_of_labour: FlagSet::UNKNOWN,
        means_of_control: FlagSet::UNKNOWN,
        recruiter_relation: FlagSet::UNKNOWN,
        assistance_received: FlagSet::UNKNOWN,
    }
}

/// The case of one row, or `None` (with its problems recorded) when any
/// field is invalid. The person key may be empty: the caller judges that by
/// the unit of privacy.
fn read_row(
    record: &csv::StringRecord,
    lay: &Layout,
    max_year: u16,
    line: u64,
    problems: &mut Problems,
) -> Option<Case> {
    let mut case = blank_case();
    let mut row_ok = true;
    for &(i, col, name) in &lay.single {
        let v = record.get(i).unwrap_or("").trim();
        let ok = match col {
            Col::CaseId => {
                case.case_id = v.to_owned();
                (1..=64).contains(&v.len())
            }
            Col::PersonKey => {
                case.person_key = v.to_owned();
                v.len() <= 128
            }
            Col::Year => match v.parse::<u16>() {
                Ok(y) if (YEAR_MIN..=max_year).contains(&y) => {
                    case.registration_year = y;
                    true
                }
                Ok(_) => {
                    problems.at(
                        line,
                        name,
                        format!("year out of range: expected {YEAR_MIN} to {max_year}"),
                    );
                    row_ok = false;
                    continue;
                }
                Err(_) => {
                    problems.at(
                        line,
                        name,
                        "not a year: expected a whole number such as 2019",
                    );
                    row_ok = false;
                    continue;
                }
            },
            Col::Datasource => parse_coded(v, Datasource::CaseManagement, Datasource::parse)
                .map(|x| case.datasource = x)
                .is_some(),
            Col::Gender => parse_gender(v).map(|x| case.gender = x).is_some(),
            Col::Age => parse_age(v).map(|x| case.age_broad = x).is_some(),
            Col::Majority => parse_coded(v, MajorityStatus::Unknown, MajorityStatus::parse)
                .map(|x| case.majority_status = x)
                .is_some(),
            Col::Citizenship => Country::parse_lenient(v)
                .map(|x| case.citizenship = x)
                .is_some(),
            Col::Exploitation => Country::parse_lenient(v)
                .map(|x| case.country_of_exploitation = x)
                .is_some(),
            Col::Education => parse_coded(v, Education::Unknown, Education::parse)
                .map(|x| case.education = x)
                .is_some(),
            Col::Ses => parse_coded(v, SocioEconomicStatus::Unknown, SocioEconomicStatus::parse)
                .map(|x| case.socio_economic_status = x)
                .is_some(),
            Col::Months => parse_coded(v, TraffickMonths::Unknown, TraffickMonths::parse)
                .map(|x| case.traffick_months = x)
                .is_some(),
        };
        if !ok {
            problems.at(line, name, describe(col));
            row_ok = false;
        }
    }
    let flags = read_flags(record, lay, line, problems);
    match flags {
        Some(sets) if row_ok => {
            [
                case.type_of_exploitation,
                case.type_of_labour,
                case.means_of_control,
                case.recruiter_relation,
                case.assistance_received,
            ] = sets;
            Some(case)
        }
        _ => None,
    }
}

/// The five multi-valued fields of a row, from their 0/1 columns; `None`
/// (with its problems recorded) when a flag is neither.
fn read_flags(
    record: &csv::StringRecord,
    lay: &Layout,
    line: u64,
    problems: &mut Problems,
) -> Option<[FlagSet; 5]> {
    let mut flag_sets = [FlagSet::UNKNOWN; 5];
    let mut ok = true;
    for (g, cols) in lay.groups.iter().enumerate() {
        for &(i, bit, name) in cols {
            match record.get(i).unwrap_or("").trim() {
                "1" | "true" | "TRUE" | "True" => {
                    flag_sets[g].known = true;
                    flag_sets[g].bits |= 1 << bit;
                }
                "0" | "false" | "FALSE" | "False" => flag_sets[g].known = true,
                "" | "-99" => {}
                _ => {
                    problems.at(line, name, "flag must be 1, 0, or empty / -99 for missing");
                    ok = false;
                }
            }
        }
    }
    ok.then_some(flag_sets)
}

/// The header line of the layout, for writing CSV files that import back.
pub fn header() -> Vec<&'static str> {
    let mut h: Vec<&str> = SINGLE.iter().map(|(h, _)| *h).collect();
    for g in group_cols() {
        h.extend_from_slice(g);
    }
    h
}

/// One case as a CSV record in the layout of [`header`].
pub fn record(c: &Case) -> Vec<String> {
    let mut r = vec![
        c.case_id.clone(),
        c.person_key.clone(),
        c.registration_year.to_string(),
        c.datasource.code().into(),
        c.gender.code().into(),
        c.age_broad.code().into(),
        c.majority_status.code().into(),
        c.citizenship.code().into(),
        c.country_of_exploitation.code().into(),
        c.education.code().into(),
        c.socio_economic_status.code().into(),
        c.traffick_months.code().into(),
    ];
    let groups = [
        (c.type_of_exploitation, EXPLOITATION_TYPES.len()),
        (c.type_of_labour, LABOUR_TYPES.len()),
        (c.means_of_control, MEANS_OF_CONTROL.len()),
        (c.recruiter_relation, RECRUITER_RELATIONS.len()),
        (c.assistance_received, ASSISTANCE_TYPES.len()),
    ];
    for (f, n) in groups {
        for bit in 0..n {
            r.push(if !f.known {
                String::new()
            } else if f.has(bit) {
                "1".into()
            } else {
                "0".into()
            });
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_of(cases: &[Case]) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(header()).expect("header");
        for c in cases {
            w.write_record(record(c)).expect("record");
        }
        String::from_utf8(w.into_inner().expect("flush")).expect("utf-8")
    }

    fn read(s: &str) -> Result<Vec<Case>, ImportError> {
        read_cases_from("t.csv", s.as_bytes(), 2026, PrivacyUnit::Case, &mut |_| {})
    }

    fn read_per_person(s: &str) -> Result<Vec<Case>, ImportError> {
        read_cases_from(
            "t.csv",
            s.as_bytes(),
            2026,
            PrivacyUnit::Person,
            &mut |_| {},
        )
    }

    #[test]
    fn under_unit_person_rows_without_a_person_key_are_refused_by_line() {
        let text = "caseId,personKey,yearOfRegistration,gender,ageBroad,citizenship,CountryOfExploitation\n\
                    a,p1,2015,man,,USA,USA\nb,,2016,man,,USA,USA\nc,p2,2017,woman,,USA,USA\nd,,2018,man,,USA,USA\n";
        match read_per_person(text) {
            Err(ImportError::MissingPersonKeys { rows, lines }) => {
                assert_eq!(rows, 2);
                assert_eq!(lines, vec![3, 5]);
            }
            other => panic!("expected missing person keys, got {other:?}"),
        }
        let message = read_per_person(text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.contains("2 row(s) have no personKey (line(s) 3, 5)"),
            "{message}"
        );
        assert!(message.contains("unit = \"case\""), "{message}");
        // A file without the column at all is refused the same way.
        let no_column = "caseId,yearOfRegistration,gender,ageBroad,citizenship,CountryOfExploitation\n\
                         a,2015,man,,USA,USA\n";
        assert!(matches!(
            read_per_person(no_column),
            Err(ImportError::MissingPersonKeys { rows: 1, .. })
        ));
        // Under unit = "case" each such row is its own person.
        let cases = read(text).expect("valid under unit = case");
        assert_eq!(cases[1].person_key, "b");
        assert_eq!(cases[0].person_key, "p1");
    }

    #[test]
    fn written_cases_read_back_identically() {
        let cases = crate::synth::generate_vec(300, 3);
        let back = read_per_person(&csv_of(&cases)).expect("valid file");
        assert_eq!(back, cases);
    }

    #[test]
    fn bad_rows_are_named_by_line_and_column_without_their_values() {
        let cases = crate::synth::generate_vec(20, 3);
        let text = csv_of(&cases);
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines[5] = lines[5]
            .replacen(",woman,", ",femme,", 1)
            .replacen(",man,", ",femme,", 1);
        let err = match read(&lines.join("\n")) {
            Err(ImportError::Invalid { problems, total }) => (problems, total),
            other => panic!("expected invalid, got {other:?}"),
        };
        assert_eq!(err.1, 1);
        assert!(
            err.0[0].starts_with("line 6, column gender: expected one of"),
            "{:?}",
            err.0
        );
        assert!(!err.0[0].contains("femme"));
    }

    #[test]
    fn header_problems_and_empty_files_are_reported() {
        assert!(matches!(read(""), Err(ImportError::Empty { .. })));
        match read("caseId,gendr\nx,woman\n") {
            Err(ImportError::Invalid { problems, .. }) => {
                assert!(
                    problems
                        .iter()
                        .any(|p| p.contains("column 2: unknown column")),
                    "{problems:?}"
                );
                assert!(
                    problems
                        .iter()
                        .any(|p| p.contains("yearOfRegistration: required")),
                    "{problems:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ctdc_spellings_are_accepted() {
        let text = "caseId,yearOfRegistration,gender,ageBroad,citizenship,CountryOfExploitation,Datasource,isForcedLabour,isSexualExploit,meansWithholdDocs,isAbduction\n\
                    a1,2015,Female,18--20,UA,00,Case Management,0,1,-99,1\n";
        let cases = read(text).expect("valid");
        let c = &cases[0];
        assert_eq!(c.gender, Gender::Woman);
        assert_eq!(c.age_broad, AgeBroad::A18_20);
        assert_eq!(c.citizenship.code(), "UKR");
        assert!(c.country_of_exploitation.is_unknown());
        assert_eq!(c.type_of_exploitation, FlagSet::known(0b10));
        assert_eq!(c.means_of_control, FlagSet::UNKNOWN);
        assert_eq!(c.person_key, "a1");
    }

    #[test]
    fn duplicates_and_bad_years_are_errors() {
        let text = "caseId,yearOfRegistration,gender,ageBroad,citizenship,CountryOfExploitation\n\
                    a,2015,man,,USA,USA\na,2015,man,,USA,USA\nb,1999,man,,USA,USA\nc,20x5,man,,USX,USA\n";
        match read(text) {
            Err(ImportError::Invalid { problems, total }) => {
                assert_eq!(total, 4, "{problems:?}");
                assert!(
                    problems[0]
                        .contains("line 3, column caseId: duplicate case id (first on line 2)")
                );
                assert!(
                    problems[1].contains("line 4, column yearOfRegistration: year out of range")
                );
                assert!(problems[3].contains("line 5, column citizenship: malformed country code"));
            }
            other => panic!("{other:?}"),
        }
    }
}
