//! The scope of a national or regional request: whose figures (a country,
//! a region, the two countries of a bilateral flow), seen on which
//! perspective, over which years; validated from the policy and the token
//! alone, the caller's country or region scope checked first.

use crate::domain::{Consumer, Country, Field, Role};
use crate::policy::{Dimension, Policy};
use crate::release::ReleaseError;
use crate::release::error::Cause;
use crate::release::query::Perspective;
use serde::Serialize;

use super::Params;

/// Whose figures a release is about: one country, or a region of the
/// policy (its members as a whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Country(Country),
    /// Index into `policy.regions`.
    Region(usize),
}

impl Area {
    /// The ISO alpha-3 code, or the region's `REF_AREA` code.
    pub fn code(self, policy: &Policy) -> &str {
        match self {
            Area::Country(c) => c.code(),
            Area::Region(i) => policy.regions.get(i).map_or("", |r| r.code.as_str()),
        }
    }

    /// The countries whose figures these are.
    pub fn members(self, policy: &Policy) -> Vec<Country> {
        match self {
            Area::Country(c) => vec![c],
            Area::Region(i) => policy
                .regions
                .get(i)
                .map_or_else(Vec::new, |r| r.members.clone()),
        }
    }

    /// The region, when the area is one.
    pub fn region(self, policy: &Policy) -> Option<&crate::policy::Region> {
        match self {
            Area::Country(_) => None,
            Area::Region(i) => policy.regions.get(i),
        }
    }

    /// Where its figures are served, e.g. `/v1/national/USA` or `/v1/regional/gms`.
    pub(super) fn base_path(self, policy: &Policy) -> String {
        match self.region(policy) {
            Some(r) => format!("/v1/regional/{}", r.id),
            None => format!("/v1/national/{}", self.code(policy)),
        }
    }
}

/// A region as releases describe it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegionView {
    /// How paths and tokens name it, e.g. `gms`.
    pub id: String,
    pub name: String,
    /// Its SDMX `REF_AREA` (and `CITIZENSHIP`) code, e.g. `GMS`.
    pub code: String,
    /// ISO 3166-1 alpha-3 codes of its members.
    pub members: Vec<String>,
}

impl RegionView {
    pub fn of(region: &crate::policy::Region) -> RegionView {
        RegionView {
            id: region.id.clone(),
            name: region.name.clone(),
            code: region.code.clone(),
            members: region.members.iter().map(|c| c.code().to_owned()).collect(),
        }
    }
}

/// What a request names: a country (`/v1/national/{country}`) or a region
/// (`/v1/regional/{region}`), as given in the path.
#[derive(Debug, Clone, Copy)]
pub enum AreaPath<'a> {
    Country(&'a str),
    Region(&'a str),
}

impl<'a> AreaPath<'a> {
    /// The name as given in the path.
    pub fn name(self) -> &'a str {
        match self {
            AreaPath::Country(s) | AreaPath::Region(s) => s,
        }
    }
}

/// A validated national or regional request: whose figures, seen how, over
/// which years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub area: Area,
    /// The other country of a bilateral flow.
    pub other: Option<Country>,
    pub perspective: Perspective,
    pub from_year: u16,
    pub to_year: u16,
    /// False when the years are the dataset's whole domain (then no year filter is added).
    pub(super) restricts_years: bool,
}

impl Scope {
    pub(super) fn period(&self) -> String {
        if self.from_year == self.to_year {
            self.from_year.to_string()
        } else {
            format!("{}-{}", self.from_year, self.to_year)
        }
    }
}

/// Parses the `{country}` of a path: a known ISO 3166-1 alpha-3 code, in any case.
pub fn parse_country(text: &str) -> Result<Country, ReleaseError> {
    Country::parse_alpha3(text)
        .filter(|c| !c.is_unknown())
        .ok_or_else(|| {
            // Echo the input only when it is short and printable.
            let shown = if text.len() <= 16 && text.bytes().all(|b| b.is_ascii_graphic()) {
                text.to_owned()
            } else {
                "the given code".to_owned()
            };
            ReleaseError::UnknownCountry(shown)
        })
}

/// A government reads only the country of its token, a regional partner
/// only the region of its token; researchers any country or region.
pub fn authorize(consumer: &Consumer, country: Country) -> Result<(), ReleaseError> {
    match (consumer.role, consumer.country) {
        (Role::Government, Some(own)) if own == country => Ok(()),
        (Role::Government, own) => Err(ReleaseError::CountryScope(
            own.map_or("no country", |c| c.code()).to_owned(),
        )),
        (Role::Regional, _) => Err(region_scope(consumer)),
        _ => Ok(()),
    }
}

fn region_scope(consumer: &Consumer) -> ReleaseError {
    ReleaseError::RegionScope(consumer.region.clone().unwrap_or_default())
}

/// Parses the `{region}` of a path against the policy, and checks the caller
/// may read it: a regional partner its own region only, a government none
/// (its token reads its own country), researchers any.
pub fn resolve_region(
    policy: &Policy,
    consumer: &Consumer,
    id: &str,
) -> Result<Area, ReleaseError> {
    match consumer.role {
        Role::Regional if consumer.region.as_deref() != Some(id) => {
            return Err(region_scope(consumer));
        }
        Role::Government => {
            return Err(ReleaseError::CountryScope(
                consumer
                    .country
                    .map_or("no country", |c| c.code())
                    .to_owned(),
            ));
        }
        _ => {}
    }
    policy
        .regions
        .iter()
        .position(|r| r.id == id)
        .map(Area::Region)
        .ok_or_else(|| ReleaseError::UnknownRegion {
            region: if crate::domain::is_region_id(id) {
                id.to_owned()
            } else {
                "the given id".to_owned()
            },
            valid: policy.regions.iter().map(|r| r.id.clone()).collect(),
        })
}

/// The policy dimension reading `field`, if declared.
pub(super) fn dimension_on(policy: &Policy, field: Field) -> Option<&Dimension> {
    policy.dimensions.iter().find(|d| d.field == field)
}

/// The first and last registration year national figures cover.
pub fn year_domain(policy: &Policy) -> Option<(u16, u16)> {
    dimension_on(policy, Field::RegistrationYear).and_then(first_last_year)
}

fn first_last_year(dim: &Dimension) -> Option<(u16, u16)> {
    let first = dim.values.iter().min()?;
    let last = dim.values.iter().max()?;
    let base = crate::domain::case::YEAR_MIN;
    Some((base + first, base + last))
}

/// Validates a national request from the policy and the token alone. The
/// country scope is checked right after the country is read, before anything
/// else about the request.
pub fn resolve_scope(
    policy: &Policy,
    consumer: &Consumer,
    path: AreaPath<'_>,
    params: &Params,
) -> Result<Scope, ReleaseError> {
    let area = match path {
        AreaPath::Country(text) => {
            let country = parse_country(text)?;
            authorize(consumer, country)?;
            Area::Country(country)
        }
        AreaPath::Region(id) => resolve_region(policy, consumer, id)?,
    };
    if policy.tables.is_empty() {
        return Err(ReleaseError::NotFound(
            "this dataset declares no national tables".into(),
        ));
    }
    let perspective = params.perspective.unwrap_or_default();
    let on = dimension_on(policy, perspective.field()).ok_or_else(|| {
        ReleaseError::Internal(Cause::bare("a perspective without its dimension"))
    })?;
    if let Area::Country(country) = area
        && on.position_of(country.code()).is_none()
    {
        return Err(ReleaseError::UnknownCountry(country.code().to_owned()));
    }
    // The policy guarantees a registration_year dimension when it declares tables.
    let (first, last) = dimension_on(policy, Field::RegistrationYear)
        .and_then(first_last_year)
        .ok_or_else(|| {
            ReleaseError::Internal(Cause::bare("national tables without registration years"))
        })?;
    let in_domain = |name: &str, y: i64| -> Result<u16, ReleaseError> {
        u16::try_from(y)
            .ok()
            .filter(|y| (first..=last).contains(y))
            .ok_or_else(|| {
                ReleaseError::InvalidQuery(format!(
                    "{name} must be a registration year from {first} to {last}"
                ))
            })
    };
    let from_year = match params.from_year {
        Some(y) => in_domain("from_year", y)?,
        None => first,
    };
    let to_year = match params.to_year {
        Some(y) => in_domain("to_year", y)?,
        None => last,
    };
    if from_year > to_year {
        return Err(ReleaseError::InvalidQuery(
            "from_year must not be after to_year".into(),
        ));
    }
    Ok(Scope {
        area,
        other: None,
        perspective,
        from_year,
        to_year,
        restricts_years: (from_year, to_year) != (first, last),
    })
}

pub(super) fn perspective_name(p: Perspective) -> &'static str {
    p.field().code()
}

/// Validates a bilateral request from the policy and the token alone.
pub(super) fn bilateral_scope(
    policy: &Policy,
    consumer: &Consumer,
    country: &str,
    other: &str,
    params: &Params,
) -> Result<Scope, ReleaseError> {
    let mut scope = resolve_scope(policy, consumer, AreaPath::Country(country), params)?;
    let other = parse_country(other)?;
    if Area::Country(other) == scope.area {
        return Err(ReleaseError::InvalidQuery(format!(
            "a bilateral flow is between two different countries; {} was named twice",
            other.code()
        )));
    }
    for field in [Field::Citizenship, Field::CountryOfExploitation] {
        if dimension_on(policy, field).is_some_and(|d| d.position_of(other.code()).is_none()) {
            return Err(ReleaseError::UnknownCountry(other.code().to_owned()));
        }
    }
    if policy.bilateral_tables.is_empty() {
        return Err(ReleaseError::NotFound(
            "this dataset offers no bilateral flows".into(),
        ));
    }
    scope.other = Some(other);
    Ok(scope)
}
