//! Writing and reading case records. Writes happen only through
//! [`Store::add_cases`], one transaction per import that also bumps the data
//! version; reads stream cases person by person for the snapshot loader.

use super::{DataState, Store, StoreCause, StoreError, with_pool};
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
            // A new stamp with every version (see migration 0005).
            let bump = match self {
                Store::Sqlite(_) => "UPDATE store_meta SET data_version = data_version + 1, \
                     data_stamp = lower(hex(randomblob(16))) WHERE id = 1 RETURNING data_version",
                Store::Postgres(_) => "UPDATE store_meta SET data_version = data_version + 1, \
                     data_stamp = replace(gen_random_uuid()::text, '-', '') WHERE id = 1 RETURNING data_version",
            };
            let version: i64 = sqlx::query_scalar(bump).fetch_one(&mut *tx).await?;
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
    /// into `sink` (through `push`), and returns it with the state of the store (identity,
    /// data version, stamp) the read is consistent with: the read runs in
    /// one transaction. The case id is not read (left empty): only the order
    /// it gives matters.
    ///
    /// An SQLite file is read on a blocking thread through its own
    /// synchronous connection: through sqlx each row is a hop between
    /// threads, and a million of them took 11 to 13 seconds.
    pub async fn load_cases<S: Send + 'static>(
        &self,
        mut sink: S,
        push: fn(&mut S, Case),
    ) -> Result<(DataState, S), StoreError> {
        if let Some(path) = self.sqlite_file() {
            return tokio::task::spawn_blocking(move || load_sqlite_file(&path, sink, push))
                .await
                .map_err(|e| {
                    StoreError::Unavailable(StoreCause::new("the snapshot loader stopped", e))
                })?;
        }
        let sql = load_sql();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // On PostgreSQL a REPEATABLE READ snapshot keeps the version and rows
            // consistent; on SQLite a read transaction already is a snapshot.
            if matches!(self, Store::Postgres(_)) {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
            }
            let (store_id, version, stamp): (String, i64, Option<String>) =
                sqlx::query_as(STATE_SQL)
                    .fetch_one(&mut *tx)
                    .await?;
            {
                let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *tx);
                while let Some(row) = rows.try_next().await? {
                    push(&mut sink, decode_case(&row)?);
                }
            }
            tx.commit().await?;
            Ok((DataState { store_id, version, stamp: stamp.unwrap_or_default() }, sink))
        })
    }
}

const STATE_SQL: &str = "SELECT store_id, data_version, data_stamp FROM store_meta WHERE id = 1";

/// Every case but its id, in the order of [`CaseRow`]'s indices.
fn load_sql() -> String {
    let columns = COLUMNS.trim_start_matches("case_id, ");
    format!("SELECT {columns} FROM cases ORDER BY person_key, registration_year, case_id")
}

/// [`Store::load_cases`] on an SQLite file, with a connection of its own.
fn load_sqlite_file<S>(
    path: &std::path::Path,
    mut sink: S,
    push: fn(&mut S, Case),
) -> Result<(DataState, S), StoreError> {
    let mut conn = super::readers::open_read_only(path, std::time::Duration::from_secs(30))?;
    // A deferred transaction: the first read fixes the snapshot both
    // statements see (WAL), so the state and the rows match.
    let tx = conn.transaction()?;
    let (store_id, version, stamp): (String, i64, Option<String>) =
        tx.query_row(STATE_SQL, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    {
        let mut stmt = tx.prepare(&load_sql())?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            push(&mut sink, decode_case(row)?);
        }
    }
    tx.commit()?;
    Ok((
        DataState {
            store_id,
            version,
            stamp: stamp.unwrap_or_default(),
        },
        sink,
    ))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// A row of [`load_sql`], read by column index, from either driver.
trait CaseRow {
    fn text(&self, i: usize) -> Result<&str, StoreError>;
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    fn flag(&self, i: usize) -> Result<bool, StoreError>;
}

macro_rules! impl_case_row_for_sqlx {
    ($row:ty) => {
        impl CaseRow for $row {
            fn text(&self, i: usize) -> Result<&str, StoreError> {
                Ok(self.try_get(i)?)
            }
            fn int(&self, i: usize) -> Result<i64, StoreError> {
                Ok(i64::from(self.try_get::<i32, _>(i)?))
            }
            fn flag(&self, i: usize) -> Result<bool, StoreError> {
                Ok(self.try_get(i)?)
            }
        }
    };
}
impl_case_row_for_sqlx!(sqlx::postgres::PgRow);
impl_case_row_for_sqlx!(sqlx::sqlite::SqliteRow);

impl CaseRow for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<&str, StoreError> {
        Ok(self.get_ref(i)?.as_str().map_err(rusqlite::Error::from)?)
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.get(i)?)
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.get(i)?)
    }
}

fn out_of_domain(col: &str) -> StoreError {
    StoreError::Conflict(format!(
        "a stored case has a value outside the domain of {col}"
    ))
}

/// A case from a row of [`load_sql`]. Borrowed text avoids an allocation
/// per column: loading a snapshot decodes every row of the store.
fn decode_case(row: &impl CaseRow) -> Result<Case, StoreError> {
    fn parsed<T>(
        row: &impl CaseRow,
        i: usize,
        col: &'static str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<T, StoreError> {
        parse(row.text(i)?).ok_or_else(|| out_of_domain(col))
    }
    let flags = |i: usize, col: &'static str| -> Result<FlagSet, StoreError> {
        let bits = u16::try_from(row.int(i)?).map_err(|_| out_of_domain(col))?;
        Ok(FlagSet {
            known: row.flag(i + 1)?,
            bits,
        })
    };
    Ok(Case {
        // The snapshot never needs the case id; it is not read.
        case_id: String::new(),
        person_key: row.text(0)?.to_owned(),
        registration_year: u16::try_from(row.int(1)?)
            .map_err(|_| out_of_domain("registration_year"))?,
        datasource: parsed(row, 2, "datasource", Datasource::parse)?,
        gender: parsed(row, 3, "gender", Gender::parse)?,
        age_broad: parsed(row, 4, "age_broad", AgeBroad::parse)?,
        majority_status: parsed(row, 5, "majority_status", MajorityStatus::parse)?,
        citizenship: parsed(row, 6, "citizenship", Country::parse_alpha3)?,
        country_of_exploitation: parsed(row, 7, "country_of_exploitation", Country::parse_alpha3)?,
        education: parsed(row, 8, "education", Education::parse)?,
        socio_economic_status: parsed(row, 9, "socio_economic_status", SocioEconomicStatus::parse)?,
        traffick_months: parsed(row, 10, "traffick_months", TraffickMonths::parse)?,
        type_of_exploitation: flags(11, "type_of_exploitation")?,
        type_of_labour: flags(13, "type_of_labour")?,
        means_of_control: flags(15, "means_of_control")?,
        recruiter_relation: flags(17, "recruiter_relation")?,
        assistance_received: flags(19, "assistance_received")?,
    })
}
