//! The `[[dimensions]]` of a policy: each names a case field once, with its
//! public value domain (declared values, or a year range), how many values
//! one case may contribute, and the roles that may count by it.

use super::Dimension;
use super::cx::{Cx, PolicyError};
use super::raw::{RawDimension, RawPolicy};
use crate::domain::case::{YEAR_MAX, YEAR_MIN};
use crate::domain::{Field, FieldKind, Role};
use std::collections::HashSet;
use toml::Spanned;

impl Cx<'_> {
    /// The dimensions: each valid, each field and name declared once.
    pub(super) fn dimensions(&self, raw: &RawPolicy) -> Result<Vec<Dimension>, PolicyError> {
        let mut dimensions = Vec::new();
        let mut seen = HashSet::new();
        for (i, d) in raw.dimensions.iter().enumerate() {
            let dim = self.dimension(i, d)?;
            if let Some(other) = dimensions
                .iter()
                .find(|o: &&Dimension| o.field == dim.field)
            {
                return Err(self.err(
                    &d.name,
                    format!("dimensions[{i}]"),
                    format!(
                        "reads the same field as dimension \"{}\"; declare each field once",
                        other.name
                    ),
                ));
            }
            if !seen.insert(dim.name.clone()) {
                return Err(self.err(&d.name, format!("dimensions[{i}].name"), "declared twice"));
            }
            dimensions.push(dim);
        }
        if dimensions.is_empty() {
            return Err(self.err_at(
                None,
                "dimensions",
                "at least one dimension must be declared",
            ));
        }

        Ok(dimensions)
    }

    fn dimension(&self, i: usize, d: &RawDimension) -> Result<Dimension, PolicyError> {
        let at = |f: &str| format!("dimensions[{i}].{f}");
        let name = self.identifier(
            &d.name,
            at("name"),
            "must be an identifier of a-z, 0-9 and _",
        )?;
        let (field_name, span_src, key) = match &d.field {
            Some(f) => (f.get_ref().clone(), f.span(), "field"),
            None => (name.clone(), d.name.span(), "name"),
        };
        let field = Field::parse(&field_name).ok_or_else(|| {
            self.err_at(
                Some(span_src.start),
                at(key),
                format!(
                    "unknown dimension \"{field_name}\"; known fields: {}",
                    Field::CODES.join(", ")
                ),
            )
        })?;
        let values = if field == Field::RegistrationYear {
            self.year_values(d, &at)?
        } else {
            self.declared_values(d, field, &at)?
        };
        Ok(Dimension {
            name,
            field,
            description: d.description.clone(),
            values,
            max_values_per_case: self.max_values_per_case(d, field, &at)?,
            roles: self.counting_roles(&d.roles, &at("roles"))?,
        })
    }

    /// The year range of `registration_year`, from `from` to `to`.
    fn year_values(
        &self,
        d: &RawDimension,
        at: &dyn Fn(&str) -> String,
    ) -> Result<Vec<u16>, PolicyError> {
        if d.values.is_some() {
            return Err(self.err(
                &d.name,
                at("values"),
                "registration_year takes from/to, not values",
            ));
        }
        let (Some(from), Some(to)) = (&d.from, &d.to) else {
            return Err(self.err(
                &d.name,
                at("from"),
                "registration_year needs both from and to",
            ));
        };
        let (f, t) = (*from.get_ref(), *to.get_ref());
        let range = i64::from(YEAR_MIN)..=i64::from(YEAR_MAX);
        if !range.contains(&f) {
            return Err(self.err(
                from,
                at("from"),
                format!("must be a year between {YEAR_MIN} and {YEAR_MAX}"),
            ));
        }
        if !range.contains(&t) || t < f {
            return Err(self.err(
                to,
                at("to"),
                format!("must be a year between from and {YEAR_MAX}"),
            ));
        }
        // Both ends lie in YEAR_MIN..=YEAR_MAX, so every offset fits.
        Ok((f..=t)
            .filter_map(|y| u16::try_from(y - i64::from(YEAR_MIN)).ok())
            .collect())
    }

    /// The declared values of any other field (all of them when not listed).
    fn declared_values(
        &self,
        d: &RawDimension,
        field: Field,
        at: &dyn Fn(&str) -> String,
    ) -> Result<Vec<u16>, PolicyError> {
        if d.from.is_some() || d.to.is_some() {
            return Err(self.err(
                &d.name,
                at("from"),
                "from/to apply to registration_year only",
            ));
        }
        let Some(vs) = &d.values else {
            return Ok((0..field.cardinality() as u16).collect());
        };
        let mut out = Vec::new();
        for v in vs.get_ref() {
            let idx = field.parse_value(v).ok_or_else(|| {
                self.err(
                    vs,
                    at("values"),
                    format!("\"{v}\" is not a value of {field}"),
                )
            })?;
            if out.contains(&(idx as u16)) {
                return Err(self.err(vs, at("values"), format!("\"{v}\" listed twice")));
            }
            out.push(idx as u16);
        }
        if out.is_empty() {
            return Err(self.err(vs, at("values"), "must not be empty"));
        }
        Ok(out)
    }

    /// One for a single-valued field; declared, and at most the field's
    /// cardinality, for a multi-valued one.
    fn max_values_per_case(
        &self,
        d: &RawDimension,
        field: Field,
        at: &dyn Fn(&str) -> String,
    ) -> Result<u64, PolicyError> {
        match (field.kind(), &d.max_values_per_case) {
            (FieldKind::Single, None) => Ok(1),
            (FieldKind::Single, Some(m)) => Err(self.err(
                m,
                at("max_values_per_case"),
                "applies to multi-valued dimensions only",
            )),
            (FieldKind::Multi, None) => Err(self.err(
                &d.name,
                at("max_values_per_case"),
                "required for a multi-valued dimension",
            )),
            (FieldKind::Multi, Some(m)) => {
                self.positive(m, &at("max_values_per_case"), field.cardinality() as i64)
            }
        }
    }

    /// The roles that may count by a dimension: known, and receiving counts.
    fn counting_roles(
        &self,
        roles: &Spanned<Vec<String>>,
        field: &str,
    ) -> Result<Vec<Role>, PolicyError> {
        let mut out = Vec::new();
        for r in roles.get_ref() {
            let role = Role::parse(r).ok_or_else(|| {
                self.err(
                    roles,
                    field,
                    format!("unknown role \"{r}\"; use researcher or government"),
                )
            })?;
            if !role.may_count() {
                return Err(self.err(roles, field, format!("role {role} never receives counts")));
            }
            out.push(role);
        }
        Ok(out)
    }
}
