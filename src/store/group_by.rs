//! Grouped counts computed by the database with SQL `GROUP BY`: the reference
//! the in-memory engine is checked against, and its benchmark baseline.
//! Never on a request path (the engine answers queries).

use super::{Store, StoreError, with_pool};
use crate::domain::case::YEAR_MIN;
use crate::domain::{Country, Field, FieldKind};
use crate::engine::{Filter, GroupBy};
use sqlx::Row;

/// SQL of the column holding `field`; `is_internal` is derived.
fn column_sql(field: Field) -> String {
    match field {
        Field::IsInternal => "CASE WHEN c.citizenship = 'unknown' OR c.country_of_exploitation = 'unknown' THEN 'unknown' \
                              WHEN c.citizenship = c.country_of_exploitation THEN 'internal' ELSE 'international' END"
            .into(),
        Field::RegistrationYear => "CAST(c.registration_year AS TEXT)".into(),
        f => format!("c.{}", f.code()),
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Code index of a value read back from SQL.
fn code_of(field: Field, text: &str) -> Option<u16> {
    match field {
        Field::RegistrationYear => text
            .parse::<u16>()
            .ok()
            .and_then(|y| y.checked_sub(YEAR_MIN)),
        Field::Citizenship | Field::CountryOfExploitation => {
            Country::parse_alpha3(text).map(|c| u16::from(c.index()))
        }
        f => f.parse_value(text).and_then(|i| u16::try_from(i).ok()),
    }
}

impl Store {
    /// Counts like [`crate::engine::Snapshot::count`], with SQL. `max_cases_per_person`
    /// bounds contribution with a window function (`None`: no bounding).
    /// Multi-valued groups are not capped here.
    pub async fn count_with_sql(
        &self,
        group: &[GroupBy],
        filters: &[Filter],
        max_cases_per_person: Option<u64>,
    ) -> Result<Vec<u64>, StoreError> {
        let mut select = Vec::new();
        let mut joins = Vec::new();
        let mut wheres = Vec::new();
        for (i, g) in group.iter().enumerate() {
            match g.field.kind() {
                FieldKind::Single => select.push(format!("{} AS d{i}", column_sql(g.field))),
                FieldKind::Multi => {
                    let bits: Vec<String> = g
                        .values
                        .iter()
                        .map(|b| format!("SELECT {b} AS b"))
                        .collect();
                    joins.push(format!(
                        "JOIN ({}) m{i} ON c.{f}_known = {t} AND ((c.{f} / (1 << m{i}.b)) % 2) = 1",
                        bits.join(" UNION ALL "),
                        f = g.field.code(),
                        t = self.true_literal()
                    ));
                    select.push(format!("CAST(m{i}.b AS TEXT) AS d{i}"));
                }
            }
        }
        for f in filters {
            match f.field.kind() {
                FieldKind::Single => {
                    let values: Vec<String> = f
                        .allowed
                        .iter()
                        .filter_map(|&c| f.field.value_code(usize::from(c)))
                        .map(|v| quote(&v))
                        .collect();
                    wheres.push(format!(
                        "{} IN ({})",
                        column_sql(f.field),
                        values.join(", ")
                    ));
                }
                FieldKind::Multi => {
                    let mask: u32 = f.allowed.iter().map(|&b| 1u32 << b).sum();
                    wheres.push(format!(
                        "c.{f}_known = {t} AND (c.{f} & {mask}) <> 0",
                        f = f.field.code(),
                        t = self.true_literal()
                    ));
                }
            }
        }
        let source = match max_cases_per_person {
            None => "cases".to_owned(),
            Some(n) => format!(
                "(SELECT * FROM (SELECT cases.*, ROW_NUMBER() OVER (PARTITION BY person_key ORDER BY registration_year, case_id) AS rn FROM cases) r WHERE rn <= {n})"
            ),
        };
        let dims: Vec<String> = (0..group.len()).map(|i| format!("d{i}")).collect();
        let sql = format!(
            "SELECT {}, COUNT(*) AS n FROM {source} c {} {} GROUP BY {}",
            select.join(", "),
            joins.join(" "),
            if wheres.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", wheres.join(" AND "))
            },
            dims.join(", ")
        );
        let rows: Vec<(Vec<String>, i64)> = with_pool!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let mut key = Vec::new();
                for i in 0..group.len() {
                    key.push(row.try_get::<String, _>(i)?);
                }
                out.push((key, row.try_get::<i64, _>(group.len())?));
            }
            out
        });
        let cells: usize = group.iter().map(|g| g.values.len()).product();
        let mut counts = vec![0u64; cells];
        'row: for (key, n) in rows {
            let mut idx = 0usize;
            for (g, text) in group.iter().zip(&key) {
                let code = match g.field.kind() {
                    FieldKind::Single => code_of(g.field, text),
                    FieldKind::Multi => text.parse::<u16>().ok(),
                };
                let Some(pos) = code.and_then(|c| g.values.iter().position(|&v| v == c)) else {
                    continue 'row;
                };
                idx = idx * g.values.len() + pos;
            }
            counts[idx] += u64::try_from(n).unwrap_or(0);
        }
        Ok(counts)
    }

    fn true_literal(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "1",
            Store::Postgres(_) => "TRUE",
        }
    }
}
