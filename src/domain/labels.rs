//! Human labels for the codes of the public domains: field names, value
//! codes and ISO 3166-1 countries, per language.
//!
//! Codes stay the identifiers everywhere (JSON, CSV, SDMX, the store);
//! labels are only ever shown next to them. One language is one [`Table`]
//! (plus its country-name file in `labels/`): adding French or Spanish is a
//! `Lang` variant, a table and a file, and the tests below then demand that
//! it covers every field, value and country.

use super::case::Field;
use super::country::Country;
use std::borrow::Cow;
use std::sync::LazyLock;

/// A language labels are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
}

impl Lang {
    /// Every language with labels, in the order the catalog lists them.
    pub const ALL: &'static [Lang] = &[Lang::En];

    /// Its BCP 47 code, the key of the catalog's `labels` objects.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
        }
    }

    fn table(self) -> &'static Table {
        match self {
            Lang::En => &EN,
        }
    }
}

/// One language's labels.
struct Table {
    /// Every field: its name and the labels of its coded values (years and
    /// countries are labelled elsewhere: a year is its own label, a country
    /// is named by `countries`).
    fields: &'static [FieldLabels],
    /// The label of the `unknown` country.
    unknown_country: &'static str,
    /// `alpha-3 <TAB> name` lines, one per ISO 3166-1 country.
    countries: &'static str,
}

struct FieldLabels {
    field: Field,
    name: &'static str,
    values: &'static [(&'static str, &'static str)],
}

const UNKNOWN: (&str, &str) = ("unknown", "Unknown");
const OTHER: (&str, &str) = ("other", "Other");

static EN: Table = Table {
    unknown_country: "Unknown",
    countries: include_str!("labels/countries.en.tsv"),
    fields: &[
        FieldLabels {
            field: Field::RegistrationYear,
            name: "Year of registration",
            values: &[],
        },
        FieldLabels {
            field: Field::Datasource,
            name: "Data source",
            values: &[
                ("case_management", "Case management"),
                ("hotline", "Hotline"),
            ],
        },
        FieldLabels {
            field: Field::Gender,
            name: "Gender",
            values: &[
                ("woman", "Woman"),
                ("man", "Man"),
                ("trans_nonconforming", "Transgender / gender non-conforming"),
                UNKNOWN,
            ],
        },
        FieldLabels {
            field: Field::AgeBroad,
            name: "Age at registration",
            values: &[
                ("0-8", "0–8 years"),
                ("9-17", "9–17 years"),
                ("18-20", "18–20 years"),
                ("21-23", "21–23 years"),
                ("24-26", "24–26 years"),
                ("27-29", "27–29 years"),
                ("30-38", "30–38 years"),
                ("39-47", "39–47 years"),
                ("48+", "48 years or older"),
                UNKNOWN,
            ],
        },
        FieldLabels {
            field: Field::MajorityStatus,
            name: "Adult or minor",
            values: &[("adult", "Adult"), ("minor", "Minor"), UNKNOWN],
        },
        FieldLabels {
            field: Field::Citizenship,
            name: "Citizenship",
            values: &[],
        },
        FieldLabels {
            field: Field::CountryOfExploitation,
            name: "Country of exploitation",
            values: &[],
        },
        FieldLabels {
            field: Field::IsInternal,
            name: "Internal or cross-border",
            values: &[
                ("internal", "Internal (exploited in own country)"),
                ("international", "Cross-border (exploited abroad)"),
                UNKNOWN,
            ],
        },
        FieldLabels {
            field: Field::Education,
            name: "Education",
            values: &[
                ("none", "No schooling"),
                ("primary", "Primary"),
                ("secondary", "Secondary"),
                ("tertiary", "Tertiary"),
                UNKNOWN,
            ],
        },
        FieldLabels {
            field: Field::SocioEconomicStatus,
            name: "Socio-economic status",
            values: &[
                ("very_poor", "Very poor"),
                ("poor", "Poor"),
                ("standard", "Standard"),
                ("well_off", "Well off"),
                UNKNOWN,
            ],
        },
        FieldLabels {
            field: Field::TraffickMonths,
            name: "Time in trafficking",
            values: &[
                ("0-12", "Up to 12 months"),
                ("13-24", "13–24 months"),
                ("25+", "25 months or more"),
                UNKNOWN,
            ],
        },
        FieldLabels {
            field: Field::TypeOfExploitation,
            name: "Type of exploitation",
            values: &[
                ("forced_labour", "Forced labour"),
                ("sexual_exploitation", "Sexual exploitation"),
                ("forced_marriage", "Forced marriage"),
                ("forced_criminality", "Forced criminal activity"),
                ("begging", "Forced begging"),
                ("organ_removal", "Organ removal"),
                OTHER,
            ],
        },
        FieldLabels {
            field: Field::TypeOfLabour,
            name: "Sector of forced labour",
            values: &[
                ("agriculture", "Agriculture"),
                ("construction", "Construction"),
                ("domestic_work", "Domestic work"),
                ("hospitality", "Hospitality"),
                ("manufacturing", "Manufacturing"),
                ("fishing", "Fishing"),
                ("mining", "Mining"),
                OTHER,
            ],
        },
        FieldLabels {
            field: Field::MeansOfControl,
            name: "Means of control",
            values: &[
                ("debt_bondage", "Debt bondage"),
                ("takes_earnings", "Takes earnings"),
                ("threats", "Threats"),
                ("psychological_abuse", "Psychological abuse"),
                ("physical_abuse", "Physical abuse"),
                ("sexual_abuse", "Sexual abuse"),
                ("false_promises", "False promises"),
                ("psychoactive_substances", "Psychoactive substances"),
                ("restricts_movement", "Restricts movement"),
                ("withholds_documents", "Withholds documents"),
                ("withholds_necessities", "Withholds necessities"),
                ("excessive_working_hours", "Excessive working hours"),
                OTHER,
            ],
        },
        FieldLabels {
            field: Field::RecruiterRelation,
            name: "Recruiter's relation to the person",
            values: &[
                ("intimate_partner", "Intimate partner"),
                ("friend", "Friend"),
                ("family", "Family member"),
                OTHER,
            ],
        },
        FieldLabels {
            field: Field::AssistanceReceived,
            name: "Assistance received",
            values: &[
                ("counselling", "Counselling"),
                ("shelter", "Shelter"),
                ("psychosocial", "Psychosocial support"),
                ("medical", "Medical care"),
                ("legal", "Legal assistance"),
                ("livelihood", "Livelihood support"),
                ("return", "Return"),
                ("reintegration", "Reintegration"),
            ],
        },
    ],
};

/// Country names per language, by country index (parsed once).
static COUNTRY_NAMES: LazyLock<Vec<Vec<&'static str>>> = LazyLock::new(|| {
    Lang::ALL
        .iter()
        .map(|lang| {
            let mut names = vec![""; Country::count_known()];
            for (code, name) in lang
                .table()
                .countries
                .lines()
                .filter_map(|l| l.split_once('\t'))
            {
                if let Some(c) = Country::parse_alpha3(code).filter(|c| !c.is_unknown())
                    && let Some(slot) = names.get_mut(usize::from(c.index()))
                {
                    *slot = name.trim();
                }
            }
            names
        })
        .collect()
});

fn lang_index(lang: Lang) -> usize {
    Lang::ALL.iter().position(|l| *l == lang).unwrap_or(0)
}

fn field_labels(lang: Lang, field: Field) -> Option<&'static FieldLabels> {
    lang.table().fields.iter().find(|f| f.field == field)
}

/// The name of `field` in `lang` ("Gender"); its code when the table has none.
pub fn field_name(lang: Lang, field: Field) -> &'static str {
    field_labels(lang, field).map_or_else(|| field.code(), |f| f.name)
}

/// The name of `country` in `lang` ("Afghanistan"); `Unknown` for unknown,
/// and the code itself when the table has no name for it.
pub fn country_name(lang: Lang, country: Country) -> &'static str {
    if country.is_unknown() {
        return lang.table().unknown_country;
    }
    COUNTRY_NAMES
        .get(lang_index(lang))
        .and_then(|names| names.get(usize::from(country.index())))
        .copied()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| country.code())
}

/// The label of value `code` of `field` in `lang`, or `None` when the code is
/// not in the field's domain or the table has no label for it.
pub fn value_label(lang: Lang, field: Field, code: &str) -> Option<Cow<'static, str>> {
    let index = field.parse_value(code)?;
    match field {
        // A year is its own label in every language.
        Field::RegistrationYear => field.value_code(index).map(Cow::Owned),
        Field::Citizenship | Field::CountryOfExploitation => {
            Country::from_index(index).map(|c| Cow::Borrowed(country_name(lang, c)))
        }
        _ => field_labels(lang, field)?
            .values
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, label)| Cow::Borrowed(*label)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_and_value_has_a_label_in_every_language() {
        for &lang in Lang::ALL {
            for &field in Field::ALL {
                let labels = field_labels(lang, field);
                assert!(
                    labels.is_some_and(|l| !l.name.is_empty()),
                    "{}: no name for {field}",
                    lang.code()
                );
                for i in 0..field.cardinality() {
                    let code = field.value_code(i).unwrap_or_default();
                    let label = value_label(lang, field, &code);
                    assert!(
                        label.as_deref().is_some_and(|l| !l.trim().is_empty()),
                        "{}: no label for {field} = {code}",
                        lang.code()
                    );
                }
                // No label for a code outside the domain (a typo in a table).
                for (code, _) in labels.map_or(&[][..], |l| l.values) {
                    assert!(
                        field.parse_value(code).is_some(),
                        "{}: {field} labels {code}, not one of its values",
                        lang.code()
                    );
                }
            }
        }
    }

    #[test]
    fn every_iso_country_has_a_name_in_every_language() {
        for &lang in Lang::ALL {
            let table = lang.table().countries;
            assert_eq!(
                table.lines().count(),
                Country::count_known(),
                "{}: one line per country",
                lang.code()
            );
            for c in Country::all() {
                let name = country_name(lang, c);
                assert!(
                    !name.is_empty() && name != c.code(),
                    "{}: no name for {c}",
                    lang.code()
                );
            }
        }
    }

    #[test]
    fn known_codes_read_as_people_write_them() {
        let en = |f: Field, c: &str| value_label(Lang::En, f, c).map(Cow::into_owned);
        assert_eq!(
            en(Field::Gender, "trans_nonconforming").as_deref(),
            Some("Transgender / gender non-conforming")
        );
        assert_eq!(
            en(Field::Citizenship, "AFG").as_deref(),
            Some("Afghanistan")
        );
        assert_eq!(
            en(Field::CountryOfExploitation, "USA").as_deref(),
            Some("United States of America")
        );
        assert_eq!(
            en(Field::Citizenship, "unknown").as_deref(),
            Some("Unknown")
        );
        assert_eq!(en(Field::RegistrationYear, "2019").as_deref(), Some("2019"));
        assert_eq!(en(Field::Gender, "nobody"), None);
        assert_eq!(field_name(Lang::En, Field::AgeBroad), "Age at registration");
    }
}
