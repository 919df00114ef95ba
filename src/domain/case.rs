//! The protected record: one registration of an assisted victim of trafficking,
//! and the public value domains of its fields (`docs/design.md`, "The protected data").
//!
//! Every field has a closed, public domain; the engine, the store's CHECK
//! constraints, the importer and the policy all read the domains from here, so
//! a value that is not declared here cannot enter the system.

use super::country::Country;
use std::fmt;

/// Declares a closed set of codes as an enum with its canonical order.
macro_rules! value_set {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value in canonical order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The codes, in the same order as [`Self::ALL`].
            pub const CODES: &'static [&'static str] = &[$($code),+];

            pub fn code(self) -> &'static str {
                Self::CODES[self as usize]
            }

            pub fn index(self) -> u8 {
                self as u8
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::CODES.iter().position(|c| *c == s).map(|i| Self::ALL[i])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}

value_set!(
    /// How the case reached the data: a case-management system or a hotline.
    Datasource { CaseManagement => "case_management", Hotline => "hotline" }
);
value_set!(Gender {
    Woman => "woman",
    Man => "man",
    TransNonconforming => "trans_nonconforming",
    Unknown => "unknown",
});
value_set!(AgeBroad {
    A0_8 => "0-8",
    A9_17 => "9-17",
    A18_20 => "18-20",
    A21_23 => "21-23",
    A24_26 => "24-26",
    A27_29 => "27-29",
    A30_38 => "30-38",
    A39_47 => "39-47",
    A48Plus => "48+",
    Unknown => "unknown",
});
value_set!(MajorityStatus { Adult => "adult", Minor => "minor", Unknown => "unknown" });
value_set!(Education {
    None => "none",
    Primary => "primary",
    Secondary => "secondary",
    Tertiary => "tertiary",
    Unknown => "unknown",
});
value_set!(SocioEconomicStatus {
    VeryPoor => "very_poor",
    Poor => "poor",
    Standard => "standard",
    WellOff => "well_off",
    Unknown => "unknown",
});
value_set!(TraffickMonths {
    M0_12 => "0-12",
    M13_24 => "13-24",
    M25Plus => "25+",
    Unknown => "unknown",
});
value_set!(
    /// Derived: internal when citizenship equals the country of exploitation.
    Internal { Internal => "internal", International => "international", Unknown => "unknown" }
);

/// Values of the multi-valued groups, in bit order.
pub const EXPLOITATION_TYPES: &[&str] = &[
    "forced_labour",
    "sexual_exploitation",
    "forced_marriage",
    "forced_criminality",
    "begging",
    "organ_removal",
    "other",
];
pub const LABOUR_TYPES: &[&str] = &[
    "agriculture",
    "construction",
    "domestic_work",
    "hospitality",
    "manufacturing",
    "fishing",
    "mining",
    "other",
];
pub const MEANS_OF_CONTROL: &[&str] = &[
    "debt_bondage",
    "takes_earnings",
    "threats",
    "psychological_abuse",
    "physical_abuse",
    "sexual_abuse",
    "false_promises",
    "psychoactive_substances",
    "restricts_movement",
    "withholds_documents",
    "withholds_necessities",
    "excessive_working_hours",
    "other",
];
pub const RECRUITER_RELATIONS: &[&str] = &["intimate_partner", "friend", "family", "other"];
pub const ASSISTANCE_TYPES: &[&str] = &[
    "counselling",
    "shelter",
    "psychosocial",
    "medical",
    "legal",
    "livelihood",
    "return",
    "reintegration",
];

/// Earliest and latest registration year the store accepts.
pub const YEAR_MIN: u16 = 2000;
pub const YEAR_MAX: u16 = 2100;

/// A multi-valued group: whether it was recorded at all, and which values apply.
/// When `known` is false, `bits` is 0 and the case is left out of counts on that group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct FlagSet {
    pub known: bool,
    pub bits: u16,
}

impl FlagSet {
    pub const UNKNOWN: FlagSet = FlagSet {
        known: false,
        bits: 0,
    };

    pub fn known(bits: u16) -> Self {
        FlagSet { known: true, bits }
    }

    pub fn has(self, bit: usize) -> bool {
        self.bits & (1 << bit) != 0
    }
}

/// One case record as validated by import or produced by the generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub case_id: String,
    pub person_key: String,
    pub registration_year: u16,
    pub datasource: Datasource,
    pub gender: Gender,
    pub age_broad: AgeBroad,
    pub majority_status: MajorityStatus,
    pub citizenship: Country,
    pub country_of_exploitation: Country,
    pub education: Education,
    pub socio_economic_status: SocioEconomicStatus,
    pub traffick_months: TraffickMonths,
    pub type_of_exploitation: FlagSet,
    pub type_of_labour: FlagSet,
    pub means_of_control: FlagSet,
    pub recruiter_relation: FlagSet,
    pub assistance_received: FlagSet,
}

impl Case {
    pub fn is_internal(&self) -> Internal {
        if self.citizenship.is_unknown() || self.country_of_exploitation.is_unknown() {
            Internal::Unknown
        } else if self.citizenship == self.country_of_exploitation {
            Internal::Internal
        } else {
            Internal::International
        }
    }

    /// The code index of a single-valued field (`None` for multi-valued fields).
    pub fn single_code(&self, field: Field) -> Option<u16> {
        Some(match field {
            Field::RegistrationYear => self.registration_year - YEAR_MIN,
            Field::Datasource => self.datasource.index().into(),
            Field::Gender => self.gender.index().into(),
            Field::AgeBroad => self.age_broad.index().into(),
            Field::MajorityStatus => self.majority_status.index().into(),
            Field::Citizenship => self.citizenship.index().into(),
            Field::CountryOfExploitation => self.country_of_exploitation.index().into(),
            Field::IsInternal => self.is_internal().index().into(),
            Field::Education => self.education.index().into(),
            Field::SocioEconomicStatus => self.socio_economic_status.index().into(),
            Field::TraffickMonths => self.traffick_months.index().into(),
            _ => return None,
        })
    }

    /// The flags of a multi-valued field (`None` for single-valued fields).
    pub fn flags(&self, field: Field) -> Option<FlagSet> {
        Some(match field {
            Field::TypeOfExploitation => self.type_of_exploitation,
            Field::TypeOfLabour => self.type_of_labour,
            Field::MeansOfControl => self.means_of_control,
            Field::RecruiterRelation => self.recruiter_relation,
            Field::AssistanceReceived => self.assistance_received,
            _ => return None,
        })
    }
}

/// Single-valued fields put a case in exactly one value; multi-valued groups in
/// any number of values (and in none when the group is unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Single,
    Multi,
}

value_set!(
    /// Every field a query may group or filter by. Codes are the store column
    /// names and the default dimension names of the policy.
    Field {
        RegistrationYear => "registration_year",
        Datasource => "datasource",
        Gender => "gender",
        AgeBroad => "age_broad",
        MajorityStatus => "majority_status",
        Citizenship => "citizenship",
        CountryOfExploitation => "country_of_exploitation",
        IsInternal => "is_internal",
        Education => "education",
        SocioEconomicStatus => "socio_economic_status",
        TraffickMonths => "traffick_months",
        TypeOfExploitation => "type_of_exploitation",
        TypeOfLabour => "type_of_labour",
        MeansOfControl => "means_of_control",
        RecruiterRelation => "recruiter_relation",
        AssistanceReceived => "assistance_received",
    }
);

impl Field {
    pub fn kind(self) -> FieldKind {
        match self {
            Field::TypeOfExploitation
            | Field::TypeOfLabour
            | Field::MeansOfControl
            | Field::RecruiterRelation
            | Field::AssistanceReceived => FieldKind::Multi,
            _ => FieldKind::Single,
        }
    }

    /// Number of codes the field can take in the store (years: the whole accepted range).
    pub fn cardinality(self) -> usize {
        match self {
            Field::RegistrationYear => usize::from(YEAR_MAX - YEAR_MIN) + 1,
            Field::Citizenship | Field::CountryOfExploitation => Country::domain_len(),
            _ => match self.static_codes() {
                Some(c) => c.len(),
                None => 0,
            },
        }
    }

    /// The code string of value index `i`.
    pub fn value_code(self, i: usize) -> Option<String> {
        match self {
            Field::RegistrationYear => {
                (i < self.cardinality()).then(|| (usize::from(YEAR_MIN) + i).to_string())
            }
            Field::Citizenship | Field::CountryOfExploitation => {
                Country::from_index(i).map(|c| c.code().to_owned())
            }
            _ => self
                .static_codes()
                .and_then(|c| c.get(i))
                .map(|s| (*s).to_owned()),
        }
    }

    /// Index of a value code, if it belongs to the field's domain.
    pub fn parse_value(self, code: &str) -> Option<usize> {
        match self {
            Field::RegistrationYear => code
                .parse::<u16>()
                .ok()
                .filter(|y| (YEAR_MIN..=YEAR_MAX).contains(y))
                .map(|y| usize::from(y - YEAR_MIN)),
            Field::Citizenship | Field::CountryOfExploitation => {
                Country::parse_alpha3(code).map(|c| usize::from(c.index()))
            }
            _ => self.static_codes()?.iter().position(|c| *c == code),
        }
    }

    fn static_codes(self) -> Option<&'static [&'static str]> {
        Some(match self {
            Field::Datasource => Datasource::CODES,
            Field::Gender => Gender::CODES,
            Field::AgeBroad => AgeBroad::CODES,
            Field::MajorityStatus => MajorityStatus::CODES,
            Field::IsInternal => Internal::CODES,
            Field::Education => Education::CODES,
            Field::SocioEconomicStatus => SocioEconomicStatus::CODES,
            Field::TraffickMonths => TraffickMonths::CODES,
            Field::TypeOfExploitation => EXPLOITATION_TYPES,
            Field::TypeOfLabour => LABOUR_TYPES,
            Field::MeansOfControl => MEANS_OF_CONTROL,
            Field::RecruiterRelation => RECRUITER_RELATIONS,
            Field::AssistanceReceived => ASSISTANCE_TYPES,
            Field::RegistrationYear | Field::Citizenship | Field::CountryOfExploitation => {
                return None;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_value_round_trips_through_its_code() {
        for &f in Field::ALL {
            assert!(f.cardinality() > 0, "{f} has an empty domain");
            for i in 0..f.cardinality() {
                let code = f.value_code(i).unwrap_or_default();
                assert_eq!(f.parse_value(&code), Some(i), "{f} value {i}");
            }
            assert_eq!(f.value_code(f.cardinality()), None);
        }
    }

    #[test]
    fn multi_valued_groups_fit_their_bit_columns() {
        for &f in Field::ALL {
            if f.kind() == FieldKind::Multi {
                assert!(f.cardinality() <= 15, "{f} needs more than 15 bits");
            }
        }
    }
}
