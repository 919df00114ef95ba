//! Synthetic CTM-like case records for demos, tests and benchmarks.
//!
//! **Synthetic**: no real person is behind any record. The generator is
//! calibrated to public CTDC/IOM marginals (see `docs/domain.md`): about 72%
//! women, a quarter children, sexual exploitation about 61% and forced labour
//! about 37% of known types, one country of exploitation with half the cases, a
//! long tail of citizenships and countries, about 25% internal trafficking,
//! registrations rising to a 2019 peak, and heavy missingness in the
//! multi-valued groups. The same seed always gives the same cases.

use crate::domain::case::{
    AgeBroad, Datasource, Education, FlagSet, Gender, MajorityStatus, SocioEconomicStatus,
    TraffickMonths,
};
use crate::domain::{Case, Country};
use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};

/// Tunable shares of the generator; the defaults follow the public marginals.
#[derive(Debug, Clone, Copy)]
pub struct SynthParams {
    /// Share of cases whose citizenship equals the country of exploitation.
    pub internal_share: f64,
    /// Share of cases belonging to a person who already has a case (re-trafficking).
    pub repeat_person_share: f64,
}

impl Default for SynthParams {
    fn default() -> Self {
        SynthParams {
            internal_share: 0.25,
            repeat_person_share: 0.03,
        }
    }
}

/// Registration years 2002..=2023 with relative weights: rising, peak in 2019, a COVID dip.
const YEAR_WEIGHTS: [(u16, f64); 22] = [
    (2002, 1.0),
    (2003, 1.0),
    (2004, 1.5),
    (2005, 2.0),
    (2006, 2.0),
    (2007, 2.5),
    (2008, 3.0),
    (2009, 3.0),
    (2010, 3.0),
    (2011, 3.5),
    (2012, 4.0),
    (2013, 4.0),
    (2014, 5.0),
    (2015, 7.0),
    (2016, 10.0),
    (2017, 14.0),
    (2018, 20.0),
    (2019, 30.0),
    (2020, 12.0),
    (2021, 10.0),
    (2022, 12.0),
    (2023, 10.0),
];

/// Head of the country-of-exploitation distribution (CTDC 2024); the tail shares the rest.
const EXPLOITATION_HEAD: [(&str, f64); 10] = [
    ("USA", 0.50),
    ("UKR", 0.06),
    ("RUS", 0.05),
    ("PHL", 0.03),
    ("IDN", 0.025),
    ("THA", 0.02),
    ("MDA", 0.015),
    ("KHM", 0.015),
    ("GHA", 0.01),
    ("HTI", 0.01),
];
const CITIZENSHIP_HEAD: [(&str, f64); 10] = [
    ("UKR", 0.16),
    ("PHL", 0.11),
    ("USA", 0.10),
    ("MDA", 0.05),
    ("KHM", 0.04),
    ("IDN", 0.04),
    ("BLR", 0.03),
    ("MMR", 0.03),
    ("HTI", 0.03),
    ("GHA", 0.02),
];

/// A categorical distribution with cumulative weights.
struct Choice<T: Copy> {
    items: Vec<T>,
    cumulative: Vec<f64>,
}

impl<T: Copy> Choice<T> {
    fn new(weighted: impl IntoIterator<Item = (T, f64)>) -> Self {
        let mut items = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0.0;
        for (item, w) in weighted {
            total += w;
            items.push(item);
            cumulative.push(total);
        }
        for c in &mut cumulative {
            *c /= total;
        }
        Choice { items, cumulative }
    }

    fn pick(&self, rng: &mut ChaCha20Rng) -> T {
        let u: f64 = rng.random();
        let i = self.cumulative.partition_point(|&c| c <= u);
        self.items[i.min(self.items.len() - 1)]
    }
}

/// Countries with a head of named shares and a Zipf-like tail over `tail_len`
/// further countries taken in a fixed pseudo-random order.
fn country_choice(head: &[(&str, f64)], tail_len: usize, order_seed: u64) -> Choice<Country> {
    let mut weighted: Vec<(Country, f64)> = head
        .iter()
        .filter_map(|(code, w)| Country::parse_alpha3(code).map(|c| (c, *w)))
        .collect();
    let head_share: f64 = weighted.iter().map(|(_, w)| w).sum();
    let mut tail: Vec<Country> = Country::all()
        .filter(|c| !c.is_unknown() && !weighted.iter().any(|(h, _)| h == c))
        .collect();
    let mut order = ChaCha20Rng::seed_from_u64(order_seed);
    for i in (1..tail.len()).rev() {
        let j = order.random_range(0..=i);
        tail.swap(i, j);
    }
    tail.truncate(tail_len);
    let norm: f64 = (1..=tail.len()).map(|r| 1.0 / r as f64).sum();
    for (r, c) in tail.into_iter().enumerate() {
        weighted.push((c, (1.0 - head_share) / ((r + 1) as f64 * norm)));
    }
    Choice::new(weighted)
}

/// Generates `n` cases deterministically from `seed`, handing each to `sink`.
pub fn generate(n: usize, seed: u64, params: SynthParams, mut sink: impl FnMut(Case)) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let years = Choice::new(YEAR_WEIGHTS);
    let exploitation_country = country_choice(&EXPLOITATION_HEAD, 130, 17);
    let citizenship = country_choice(&CITIZENSHIP_HEAD, 95, 23);
    let ages = Choice::new([
        (AgeBroad::A0_8, 4.0),
        (AgeBroad::A9_17, 20.0),
        (AgeBroad::A18_20, 13.0),
        (AgeBroad::A21_23, 12.0),
        (AgeBroad::A24_26, 10.0),
        (AgeBroad::A27_29, 8.0),
        (AgeBroad::A30_38, 19.0),
        (AgeBroad::A39_47, 9.0),
        (AgeBroad::A48Plus, 5.0),
    ]);
    let education = Choice::new([
        (Education::Unknown, 60.0),
        (Education::None, 4.0),
        (Education::Primary, 14.0),
        (Education::Secondary, 18.0),
        (Education::Tertiary, 4.0),
    ]);
    let ses = Choice::new([
        (SocioEconomicStatus::Unknown, 65.0),
        (SocioEconomicStatus::VeryPoor, 10.5),
        (SocioEconomicStatus::Poor, 15.75),
        (SocioEconomicStatus::Standard, 7.7),
        (SocioEconomicStatus::WellOff, 1.05),
    ]);
    let mut first_of_person: Vec<u32> = Vec::with_capacity(n);

    for i in 0..n {
        let registration_year = years.pick(&mut rng);
        let gender = if rng.random_bool(0.04) {
            Gender::Unknown
        } else if registration_year >= 2017 && rng.random_bool(0.005) {
            Gender::TransNonconforming
        } else if rng.random_bool(0.72) {
            Gender::Woman
        } else {
            Gender::Man
        };
        let age_broad = if rng.random_bool(0.30) {
            AgeBroad::Unknown
        } else {
            ages.pick(&mut rng)
        };
        let majority_status = match age_broad {
            AgeBroad::Unknown if rng.random_bool(0.5) => MajorityStatus::Unknown,
            AgeBroad::Unknown => {
                if rng.random_bool(0.75) {
                    MajorityStatus::Adult
                } else {
                    MajorityStatus::Minor
                }
            }
            _ if rng.random_bool(0.25) => MajorityStatus::Unknown,
            AgeBroad::A0_8 | AgeBroad::A9_17 => MajorityStatus::Minor,
            _ => MajorityStatus::Adult,
        };
        let country_of_exploitation = if rng.random_bool(0.04) {
            Country::unknown()
        } else {
            exploitation_country.pick(&mut rng)
        };
        let citizenship = if rng.random_bool(0.05) {
            Country::unknown()
        } else if !country_of_exploitation.is_unknown() && rng.random_bool(params.internal_share) {
            country_of_exploitation
        } else {
            let mut c = citizenship.pick(&mut rng);
            while c == country_of_exploitation {
                c = citizenship.pick(&mut rng);
            }
            c
        };

        // Type of exploitation: known for 85%; of known, sexual ~61%, forced labour ~38%.
        let exploitation = if rng.random_bool(0.15) {
            FlagSet::UNKNOWN
        } else {
            let u: f64 = rng.random();
            let bits = if u < 0.59 {
                0b10
            } else if u < 0.95 {
                0b01
            } else if u < 0.97 {
                0b11
            } else {
                1 << rng.random_range(2..7)
            };
            FlagSet::known(bits)
        };
        let sexual = exploitation.has(1);
        let labour = exploitation.has(0);
        let type_of_labour = if labour && rng.random_bool(0.7) {
            let u: f64 = rng.random();
            let sector = if u < 0.35 {
                2
            } else if u < 0.66 {
                0
            } else if u < 0.84 {
                1
            } else if u < 0.95 {
                3
            } else {
                rng.random_range(4..8)
            };
            FlagSet::known(1 << sector)
        } else {
            FlagSet::UNKNOWN
        };
        let means_of_control = if rng.random_bool(0.08) {
            let mut bits = 0u16;
            if rng.random_bool(if sexual { 0.62 } else { 0.35 }) {
                bits |= 1 << [3, 4, 5][rng.random_range(0..3)];
            }
            if rng.random_bool(0.38) {
                bits |= 1 << 2;
            }
            if rng.random_bool(0.37) {
                bits |= 1 << 10;
            }
            if rng.random_bool(0.2) {
                bits |= 1 << rng.random_range(0..13);
            }
            if bits == 0 {
                bits = 1 << 12;
            }
            FlagSet::known(bits)
        } else {
            FlagSet::UNKNOWN
        };
        let recruiter_relation = if rng.random_bool(0.2) {
            let close = if sexual { 0.62 } else { 0.19 };
            let bit = if rng.random_bool(close) {
                rng.random_range(0..3)
            } else {
                3
            };
            FlagSet::known(1 << bit)
        } else {
            FlagSet::UNKNOWN
        };
        let assistance_received = if rng.random_bool(0.6) {
            let mut bits = 0u16;
            for _ in 0..rng.random_range(1..=4) {
                bits |= 1 << rng.random_range(0..8);
            }
            FlagSet::known(bits)
        } else {
            FlagSet::UNKNOWN
        };
        let traffick_months = if rng.random_bool(0.5) {
            TraffickMonths::Unknown
        } else {
            let short = if sexual { 0.59 } else { 0.38 };
            if rng.random_bool(short) {
                TraffickMonths::M0_12
            } else if rng.random_bool(0.55) {
                TraffickMonths::M13_24
            } else {
                TraffickMonths::M25Plus
            }
        };

        let person = if i > 0 && rng.random_bool(params.repeat_person_share) {
            first_of_person[rng.random_range(0..i)]
        } else {
            i as u32
        };
        first_of_person.push(person);

        sink(Case {
            case_id: format!("syn-{seed}-{i:08}"),
            person_key: format!("p-{seed}-{person:08}"),
            registration_year,
            datasource: if rng.random_bool(0.85) {
                Datasource::CaseManagement
            } else {
                Datasource::Hotline
            },
            gender,
            age_broad,
            majority_status,
            citizenship,
            country_of_exploitation,
            education: education.pick(&mut rng),
            socio_economic_status: ses.pick(&mut rng),
            traffick_months,
            type_of_exploitation: exploitation,
            type_of_labour,
            means_of_control,
            recruiter_relation,
            assistance_received,
        });
    }
}

/// Convenience: the `n` cases of `seed` as a vector.
pub fn generate_vec(n: usize, seed: u64) -> Vec<Case> {
    let mut out = Vec::with_capacity(n);
    generate(n, seed, SynthParams::default(), |c| out.push(c));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_cases() {
        assert_eq!(generate_vec(500, 7), generate_vec(500, 7));
        assert_ne!(generate_vec(500, 7), generate_vec(500, 8));
    }
}
