//! Who a consumer is to the service (`docs/design.md`, "Who calls what").

use std::fmt;

/// The role claim of a token.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Researcher,
    Government,
    /// A regional partner: a secretariat of a group of countries (a region
    /// of the policy), reading that region's figures and nothing else.
    Regional,
    Auditor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Researcher,
        Role::Government,
        Role::Regional,
        Role::Auditor,
        Role::Admin,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::Researcher => "researcher",
            Role::Government => "government",
            Role::Regional => "regional",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == s)
    }

    /// Roles a policy may grant dimensions to (`POST /v1/counts`); the
    /// others only read metadata, the ledger or, for regional partners,
    /// their region's tables.
    pub fn may_count(self) -> bool {
        matches!(self, Role::Researcher | Role::Government)
    }

    /// The role whose dimension grants apply: a regional partner may use
    /// what a government may (its tables are the national tables of a
    /// group of countries).
    pub fn grants_as(self) -> Role {
        match self {
            Role::Regional => Role::Government,
            r => r,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}
