//! Writing and reading case records. Writes happen only through
//! [`Store::add_cases`], one transaction per import that also bumps the data
//! version; reads stream cases person by person for the snapshot loader.

use super::{Store, StoreError, with_pool};
use crate::domain::case::{
    AgeBroad, Datasource, Education, FlagSet, Gender, MajorityStatus, SocioEconomicStatus,
    TraffickMonths,
};
use crate::domain::{Case, Country};
use futures_util::TryStreamExt;
use sqlx::Row;

const COLUMNS: &str = "case_id, person_key, registration_year, datasource, gender, age_broad, \
    majority_status, citizenship, country_of_exploitation, education, socio_economic_status, \
    traffick_months, type_of_exploitation, type_of_exploitation_known, type_of_labour, \
    type_of_labour_known, means_of_control, means_of_control_known, recruiter_relation, \
    recruiter_relation_known, assistance_received, assistance_received_known, added_in_version";

/// Bind parameters per row (one per column above).
const PARAMS_PER_ROW: usize = 23;

/// Outcome of a successful write of cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddedCases {
    pub rows: usize,
    pub data_version: i64,
}

impl Store {
    /// Inserts `cases` in one transaction and increments the data version.
    /// Either every case is stored or none (a duplicate `case_id` rolls all back).
    /// `progress` is called with the number of rows written so far.
    pub async fn add_cases(
        &self,
        cases: &[Case],
        replace: bool,
        mut progress: impl FnMut(usize),
    ) -> Result<AddedCases, StoreError> {
        // SQLite allows 32,766 bound parameters per statement, PostgreSQL 65,535.
        let rows_per_stmt = match self {
            Store::Sqlite(_) => 32_766 / PARAMS_PER_ROW,
            Store::Postgres(_) => 65_535 / PARAMS_PER_ROW,
        };
        let _turn = super::writer_turn(self).await;
        with_pool!(self, pool => {
            let mut tx = match self {
                Store::Sqlite(_) => pool.begin_with("BEGIN IMMEDIATE").await?,
                Store::Postgres(_) => pool.begin().await?,
            };
            let version: i64 = sqlx::query_scalar(
                "UPDATE store_meta SET data_version = data_version + 1 WHERE id = 1 RETURNING data_version",
            )
            .fetch_one(&mut *tx)
            .await?;
            if replace {
                sqlx::query("DELETE FROM cases").execute(&mut *tx).await?;
            }
            let mut written = 0;
            for chunk in cases.chunks(rows_per_stmt) {
                let mut qb = sqlx::QueryBuilder::new(format!("INSERT INTO cases ({COLUMNS}) "));
                qb.push_values(chunk, |mut b, c| {
                    b.push_bind(c.case_id.as_str())
                        .push_bind(c.person_key.as_str())
                        .push_bind(i32::from(c.registration_year))
                        .push_bind(c.datasource.code())
                        .push_bind(c.gender.code())
                        .push_bind(c.age_broad.code())
                        .push_bind(c.majority_status.code())
                        .push_bind(c.citizenship.code())
                        .push_bind(c.country_of_exploitation.code())
                        .push_bind(c.education.code())
                        .push_bind(c.socio_economic_status.code())
                        .push_bind(c.traffick_months.code());
                    for f in [
                        c.type_of_exploitation,
                        c.type_of_labour,
                        c.means_of_control,
                        c.recruiter_relation,
                        c.assistance_received,
                    ] {
                        b.push_bind(i32::from(f.bits)).push_bind(f.known);
                    }
                    b.push_bind(version);
                });
                if let Err(e) = qb.build().execute(&mut *tx).await {
                    if is_unique_violation(&e) {
                        return Err(StoreError::Conflict(
                            "a case_id in the input is already in the store".into(),
                        ));
                    }
                    return Err(e.into());
                }
                written += chunk.len();
                progress(written);
            }
            tx.commit().await?;
            Ok(AddedCases { rows: written, data_version: version })
        })
    }

    /// Which of `ids` already exist in the store (used to name duplicates in import errors).
    pub async fn existing_case_ids(&self, ids: &[&str]) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        for chunk in ids.chunks(1000) {
            let rows: Vec<String> = with_pool!(self, p => {
                let mut qb = sqlx::QueryBuilder::new("SELECT case_id FROM cases WHERE case_id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build_query_scalar().fetch_all(p).await?
            });
            found.extend(rows);
        }
        Ok(found)
    }

    /// Whether the store holds no case at all.
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let any: Option<i32> = with_pool!(self, p => {
            sqlx::query_scalar("SELECT 1 FROM cases LIMIT 1").fetch_optional(p).await?
        });
        Ok(any.is_none())
    }

    /// Streams every case, person by person and earliest registration first,
    /// and returns the store's identity and the data version the read is
    /// consistent with. The case id
    /// is not read (left empty): only the order it gives matters.
    /// `sink` receives each case; the read runs in one transaction so the
    /// cases and the version match.
    pub async fn load_cases(
        &self,
        mut sink: impl FnMut(Case),
    ) -> Result<(String, i64), StoreError> {
        let columns = COLUMNS.trim_start_matches("case_id, ");
        let sql =
            format!("SELECT {columns} FROM cases ORDER BY person_key, registration_year, case_id");
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // On PostgreSQL a REPEATABLE READ snapshot keeps the version and rows
            // consistent; on SQLite a read transaction already is a snapshot.
            if matches!(self, Store::Postgres(_)) {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
            }
            let (store_id, version): (String, i64) =
                sqlx::query_as("SELECT store_id, data_version FROM store_meta WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await?;
            {
                let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).fetch(&mut *tx);
                while let Some(row) = rows.try_next().await? {
                    sink(decode_case(&row)?);
                }
            }
            tx.commit().await?;
            Ok((store_id, version))
        })
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn decode_err(col: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: col.to_owned(),
        source: format!("value outside the domain of {col}").into(),
    }
}

fn decode_case<R>(row: &R) -> Result<Case, sqlx::Error>
where
    R: Row,
    for<'r> &'r str: sqlx::ColumnIndex<R> + sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    // Borrowed text avoids an allocation per column: loading a snapshot
    // decodes every row of the store.
    fn parsed<R, T>(
        row: &R,
        col: &'static str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<T, sqlx::Error>
    where
        R: Row,
        for<'r> &'r str:
            sqlx::ColumnIndex<R> + sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        parse(row.try_get::<&str, _>(col)?).ok_or_else(|| decode_err(col))
    }
    let flags = |bits: &'static str, known: &'static str| -> Result<FlagSet, sqlx::Error> {
        let b: i32 = row.try_get(bits)?;
        let k: bool = row.try_get(known)?;
        let bits = u16::try_from(b).map_err(|_| decode_err(bits))?;
        Ok(FlagSet { known: k, bits })
    };
    let year: i32 = row.try_get("registration_year")?;
    Ok(Case {
        // The snapshot never needs the case id; it is not read.
        case_id: String::new(),
        person_key: row.try_get::<&str, _>("person_key")?.to_owned(),
        registration_year: u16::try_from(year).map_err(|_| decode_err("registration_year"))?,
        datasource: parsed(row, "datasource", Datasource::parse)?,
        gender: parsed(row, "gender", Gender::parse)?,
        age_broad: parsed(row, "age_broad", AgeBroad::parse)?,
        majority_status: parsed(row, "majority_status", MajorityStatus::parse)?,
        citizenship: parsed(row, "citizenship", Country::parse_alpha3)?,
        country_of_exploitation: parsed(row, "country_of_exploitation", Country::parse_alpha3)?,
        education: parsed(row, "education", Education::parse)?,
        socio_economic_status: parsed(row, "socio_economic_status", SocioEconomicStatus::parse)?,
        traffick_months: parsed(row, "traffick_months", TraffickMonths::parse)?,
        type_of_exploitation: flags("type_of_exploitation", "type_of_exploitation_known")?,
        type_of_labour: flags("type_of_labour", "type_of_labour_known")?,
        means_of_control: flags("means_of_control", "means_of_control_known")?,
        recruiter_relation: flags("recruiter_relation", "recruiter_relation_known")?,
        assistance_received: flags("assistance_received", "assistance_received_known")?,
    })
}
