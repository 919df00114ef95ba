//! Fixtures shared by the unit tests: the shipped policy and consumers of
//! each role, so that every test reads the one `policy/default.toml`.

use crate::domain::{Consumer, Country, Role};
use crate::policy::{Policy, parse_policy};

/// The text of the shipped policy.
pub(crate) const SHIPPED_POLICY: &str = include_str!("../policy/default.toml");

/// The shipped policy, validated.
pub(crate) fn shipped_policy() -> Policy {
    parse_policy("default.toml", SHIPPED_POLICY).expect("the shipped policy is valid")
}

/// A researcher (any country, no region).
pub(crate) fn researcher() -> Consumer {
    Consumer {
        id: "r".into(),
        role: Role::Researcher,
        country: None,
        region: None,
    }
}

/// A government partner of the country `code`.
pub(crate) fn government(code: &str) -> Consumer {
    Consumer {
        id: "g".into(),
        role: Role::Government,
        country: Country::parse_alpha3(code),
        region: None,
    }
}

/// A regional partner of the region `region`.
pub(crate) fn regional(region: &str) -> Consumer {
    Consumer {
        id: "rg".into(),
        role: Role::Regional,
        country: None,
        region: Some(region.into()),
    }
}
