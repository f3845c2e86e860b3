//! The store's one SQL surface: a query that runs on the read pool, on SQLite's write connection
//! and in a PostgreSQL transaction, with the same code in every store function.
//!
//! Why not sqlx all the way: sqlx drives each SQLite connection from a worker thread of its own,
//! so every statement is a hand-off to that thread and back (two or three context switches, tens
//! of microseconds), while SQLite's own work on a statement is a few microseconds. The writer runs
//! ~40 statements per visit one after another, so those hand-offs were the hub's ceiling. Here
//! the writer owns its SQLite connection (rusqlite) on its own thread and runs the statements in
//! place, each prepared once and cached. Reads on SQLite are done in place too, on connections of
//! their own (`reads`). PostgreSQL stays on sqlx.
//!
//! Placeholders are `$1`, `$2`, … on both databases (SQLite reads `$N` as parameter N, as sqlx does).

use super::reads::{long_read, Reads};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::{Any, Transaction};
use std::borrow::Cow;
use std::sync::Arc;

/// The connection a write job runs on.
pub enum Conn {
    /// SQLite: the writer thread's own connection, inside the batch's transaction.
    Lite(rusqlite::Connection),
    /// PostgreSQL: the job's own transaction.
    Pg(Transaction<'static, Any>),
}

/// Where a query runs: the store's reads, or a write job's connection.
pub enum On<'e> {
    Reads(&'e Reads),
    Conn(&'e mut Conn),
}

impl<'e> From<&'e Reads> for On<'e> {
    fn from(reads: &'e Reads) -> Self {
        On::Reads(reads)
    }
}

impl<'e> From<&'e mut Conn> for On<'e> {
    fn from(conn: &'e mut Conn) -> Self {
        On::Conn(conn)
    }
}

/// A bound value. Nulls keep their type: PostgreSQL wants to know it.
#[derive(Clone, Debug)]
pub enum Arg {
    Int(i64),
    Text(String),
    Bool(bool),
    NullInt,
    NullText,
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<i32> for Arg {
    fn from(v: i32) -> Self {
        Arg::Int(v.into())
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(v.clone())
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_string())
    }
}
/// A `None` keeps its column's type: PostgreSQL refuses a text null for an integer column.
macro_rules! optional {
    ($($t:ty => $null:expr),+) => {$(
        impl From<Option<$t>> for Arg {
            fn from(v: Option<$t>) -> Self {
                v.map_or($null, Arg::from)
            }
        }
    )+};
}
optional!(i64 => Arg::NullInt, i32 => Arg::NullInt, String => Arg::NullText, &str => Arg::NullText, &String => Arg::NullText);

impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Self {
        v.as_deref().into()
    }
}

/// One SQL statement and its values.
#[must_use = "a query does nothing until it is run"]
pub struct Query {
    sql: Cow<'static, str>,
    args: Vec<Arg>,
}

/// Starts a query: `query("…$1…").bind(x).fetch_one(&pool)`.
pub fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query { sql: sql.into(), args: Vec::new() }
}

/// What a statement changed.
#[derive(Debug)]
pub struct Done {
    rows: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows
    }
}

impl Query {
    pub fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.args.push(value.into());
        self
    }

    pub async fn execute<'e>(self, on: impl Into<On<'e>>) -> Result<Done, sqlx::Error> {
        match on.into() {
            On::Reads(Reads::Any(pool)) => Ok(Done { rows: self.to_sqlx().execute(pool).await?.rows_affected() }),
            On::Reads(Reads::Lite(reads)) => {
                reads.with(|c| lite_run(c, &self.sql, &self.args, None)).map(|rows| Done { rows }).map_err(lite_error)
            }
            On::Conn(Conn::Pg(tx)) => Ok(Done { rows: self.to_sqlx().execute(&mut **tx).await?.rows_affected() }),
            On::Conn(Conn::Lite(conn)) => lite_run(conn, &self.sql, &self.args, None).map(|rows| Done { rows }).map_err(lite_error),
        }
    }

    /// Every row. On SQLite the read may scan (a day's settlements, the ledger), so it runs off
    /// the tokio worker (`block_in_place`); a read of a few rows by key is [`Query::fetch_few`].
    pub async fn fetch_all<'e>(self, on: impl Into<On<'e>>) -> Result<Vec<SqlRow>, sqlx::Error> {
        self.fetch_rows(on, true).await
    }

    /// Every row of a read found by key, a handful (a visit's fee lines, a person's choices). On
    /// SQLite it runs in place: `block_in_place` hands the worker's tasks to another thread and
    /// back, which cost the hot path two context switches a read and ~20% of `wugan bench core`.
    pub async fn fetch_few<'e>(self, on: impl Into<On<'e>>) -> Result<Vec<SqlRow>, sqlx::Error> {
        self.fetch_rows(on, false).await
    }

    async fn fetch_rows<'e>(self, on: impl Into<On<'e>>, may_be_long: bool) -> Result<Vec<SqlRow>, sqlx::Error> {
        match on.into() {
            On::Reads(Reads::Any(pool)) => Ok(self.to_sqlx().fetch_all(pool).await?.into_iter().map(SqlRow::Any).collect()),
            On::Reads(Reads::Lite(reads)) => {
                let mut rows = Vec::new();
                let mut read = || reads.with(|c| lite_run(c, &self.sql, &self.args, Some((&mut rows, usize::MAX))));
                if may_be_long { long_read(read) } else { read() }.map_err(lite_error)?;
                Ok(rows.into_iter().map(SqlRow::Lite).collect())
            }
            On::Conn(Conn::Pg(tx)) => Ok(self.to_sqlx().fetch_all(&mut **tx).await?.into_iter().map(SqlRow::Any).collect()),
            On::Conn(Conn::Lite(conn)) => {
                let mut rows = Vec::new();
                lite_run(conn, &self.sql, &self.args, Some((&mut rows, usize::MAX))).map_err(lite_error)?;
                Ok(rows.into_iter().map(SqlRow::Lite).collect())
            }
        }
    }

    pub async fn fetch_optional<'e>(self, on: impl Into<On<'e>>) -> Result<Option<SqlRow>, sqlx::Error> {
        match on.into() {
            On::Reads(Reads::Any(pool)) => Ok(self.to_sqlx().fetch_optional(pool).await?.map(SqlRow::Any)),
            On::Reads(Reads::Lite(reads)) => {
                let mut rows = Vec::new();
                reads.with(|c| lite_run(c, &self.sql, &self.args, Some((&mut rows, 1)))).map_err(lite_error)?;
                Ok(rows.into_iter().next().map(SqlRow::Lite))
            }
            On::Conn(Conn::Pg(tx)) => Ok(self.to_sqlx().fetch_optional(&mut **tx).await?.map(SqlRow::Any)),
            On::Conn(Conn::Lite(conn)) => {
                let mut rows = Vec::new();
                lite_run(conn, &self.sql, &self.args, Some((&mut rows, 1))).map_err(lite_error)?;
                Ok(rows.into_iter().next().map(SqlRow::Lite))
            }
        }
    }

    pub async fn fetch_one<'e>(self, on: impl Into<On<'e>>) -> Result<SqlRow, sqlx::Error> {
        self.fetch_optional(on).await?.ok_or(sqlx::Error::RowNotFound)
    }

    fn to_sqlx(&self) -> sqlx::query::Query<'_, Any, AnyArguments> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.sql.to_string()));
        for arg in &self.args {
            q = match arg {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.as_str()),
                Arg::Bool(v) => q.bind(*v),
                Arg::NullInt => q.bind(None::<i64>),
                Arg::NullText => q.bind(None::<String>),
            };
        }
        q
    }
}

/// Runs one statement on SQLite in place; its rows go to `rows` when asked for. The rows changed.
/// `rows` takes at most `limit` rows (the statement still runs to its end, as a write must).
fn lite_run(conn: &rusqlite::Connection, sql: &str, args: &[Arg], rows: Option<(&mut Vec<LiteRow>, usize)>) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut next = 0;
    for i in 1..=stmt.parameter_count() {
        // `$N` (or `?N`) is argument N; a bare `?` takes the next one.
        let n = match stmt.parameter_name(i) {
            Some(name) => name[1..].parse::<usize>().map_err(|_| rusqlite::Error::InvalidParameterName(name.to_string()))?,
            None => {
                next += 1;
                next
            }
        };
        let arg = args.get(n - 1).ok_or(rusqlite::Error::InvalidParameterCount(n, args.len()))?;
        match arg {
            Arg::Int(v) => stmt.raw_bind_parameter(i, v)?,
            Arg::Text(v) => stmt.raw_bind_parameter(i, v.as_str())?,
            Arg::Bool(v) => stmt.raw_bind_parameter(i, i64::from(*v))?,
            Arg::NullInt | Arg::NullText => stmt.raw_bind_parameter(i, rusqlite::types::Null)?,
        }
    }
    let readonly = stmt.readonly();
    let names: Option<Arc<[String]>> = rows.as_ref().map(|_| stmt.column_names().into_iter().map(str::to_string).collect());
    let width = stmt.column_count();
    let mut stepping = stmt.raw_query();
    let mut out = rows;
    while let Some(row) = stepping.next()? {
        if let (Some((out, limit)), Some(names)) = (out.as_mut(), &names) {
            if out.len() >= *limit {
                if readonly {
                    break; // a read has nothing more to do
                }
                continue;
            }
            let values = (0..width).map(|i| row.get::<_, rusqlite::types::Value>(i)).collect::<rusqlite::Result<_>>()?;
            out.push(LiteRow { names: names.clone(), values });
        }
    }
    drop(stepping);
    Ok(if readonly { 0 } else { conn.changes() })
}

/// A row from either side.
pub enum SqlRow {
    Any(AnyRow),
    Lite(LiteRow),
}

pub struct LiteRow {
    names: Arc<[String]>,
    values: Vec<rusqlite::types::Value>,
}

/// A column by name or by position.
pub trait Column: sqlx::ColumnIndex<AnyRow> + Copy + std::fmt::Debug {
    fn position(self, names: &[String]) -> Option<usize>;
}

impl Column for &str {
    fn position(self, names: &[String]) -> Option<usize> {
        names.iter().position(|n| n == self)
    }
}

impl Column for usize {
    fn position(self, names: &[String]) -> Option<usize> {
        (self < names.len()).then_some(self)
    }
}

/// A Rust value a column decodes to.
pub trait Cell: Sized {
    fn from_any<I: Column>(row: &AnyRow, column: I) -> Result<Self, sqlx::Error>;
    fn from_lite(value: &rusqlite::types::Value) -> Option<Self>;
}

macro_rules! cell {
    ($t:ty, $($pat:pat => $out:expr),+) => {
        impl Cell for $t {
            fn from_any<I: Column>(row: &AnyRow, column: I) -> Result<Self, sqlx::Error> {
                sqlx::Row::try_get::<$t, I>(row, column)
            }
            fn from_lite(value: &rusqlite::types::Value) -> Option<Self> {
                use rusqlite::types::Value as V;
                match value {
                    $($pat => Some($out),)+
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }
    };
}

cell!(i64, V::Integer(v) => *v);
cell!(i32, V::Integer(v) => i32::try_from(*v).ok()?);
cell!(bool, V::Integer(v) => *v != 0);
cell!(String, V::Text(v) => v.clone());
cell!(Option<i64>, V::Integer(v) => Some(*v), V::Null => None);
cell!(Option<String>, V::Text(v) => Some(v.clone()), V::Null => None);
cell!(Option<bool>, V::Integer(v) => Some(*v != 0), V::Null => None);

impl SqlRow {
    /// The column's value; panics when it is missing or of another type, like sqlx's `get` (a
    /// bug in the store's SQL, not a runtime condition).
    pub fn get<T: Cell, I: Column>(&self, column: I) -> T {
        self.try_get(column).unwrap_or_else(|e| panic!("column {column:?}: {e}"))
    }

    pub fn try_get<T: Cell, I: Column>(&self, column: I) -> Result<T, sqlx::Error> {
        match self {
            SqlRow::Any(row) => T::from_any(row, column),
            SqlRow::Lite(row) => {
                let at = column.position(&row.names).ok_or_else(|| sqlx::Error::ColumnNotFound(format!("{column:?}")))?;
                let value = &row.values[at];
                T::from_lite(value).ok_or_else(|| sqlx::Error::ColumnDecode {
                    index: format!("{column:?}"),
                    source: format!("cannot decode {} as {}", value.data_type(), std::any::type_name::<T>()).into(),
                })
            }
        }
    }
}

/// SQLite's refusal, as sqlx reports a database's (so that `is_unique_violation` and the like read
/// the same on both sides).
#[derive(Debug)]
struct LiteError {
    message: String,
    code: Option<i32>,
    kind: ErrorKind,
}

impl std::fmt::Display for LiteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LiteError {}

impl DatabaseError for LiteError {
    fn message(&self) -> &str {
        &self.message
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        self.code.map(|c| Cow::Owned(c.to_string()))
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> ErrorKind {
        match self.kind {
            ErrorKind::UniqueViolation => ErrorKind::UniqueViolation,
            ErrorKind::ForeignKeyViolation => ErrorKind::ForeignKeyViolation,
            ErrorKind::NotNullViolation => ErrorKind::NotNullViolation,
            ErrorKind::CheckViolation => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

pub(super) fn lite_error(e: rusqlite::Error) -> sqlx::Error {
    use rusqlite::ffi;
    match e {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let kind = match failure.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => ErrorKind::UniqueViolation,
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
                ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
                ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
                _ => ErrorKind::Other,
            };
            let message = message.unwrap_or_else(|| failure.to_string());
            sqlx::Error::Database(Box::new(LiteError { message, code: Some(failure.extended_code), kind }))
        }
        other => sqlx::Error::Protocol(format!("sqlite: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lite() -> Conn {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, n BIGINT, note TEXT)").unwrap();
        Conn::Lite(conn)
    }

    #[tokio::test]
    async fn numbered_placeholders_bind_by_number_not_by_order() {
        let mut c = lite();
        let done = query("INSERT INTO t (n, id, note) VALUES ($2, $1, $3)")
            .bind("a")
            .bind(7_i64)
            .bind(None::<String>)
            .execute(&mut c)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        let row = query("SELECT id, n, note FROM t WHERE id = $1 AND n = $2").bind("a").bind(7_i64).fetch_one(&mut c).await.unwrap();
        assert_eq!(row.get::<String, _>("id"), "a");
        assert_eq!(row.get::<i64, _>(1), 7);
        assert_eq!(row.get::<Option<String>, _>("note"), None);
        assert!(row.try_get::<String, _>("n").is_err(), "an integer is not text");
        assert!(query("SELECT id FROM t WHERE id = $1").bind("b").fetch_optional(&mut c).await.unwrap().is_none());
        let select = query("SELECT id FROM t").execute(&mut c).await.unwrap();
        assert_eq!(select.rows_affected(), 0, "a read changes nothing");
    }

    #[tokio::test]
    async fn a_duplicate_key_reads_as_a_unique_violation() {
        let mut c = lite();
        query("INSERT INTO t (id) VALUES ($1)").bind("a").execute(&mut c).await.unwrap();
        let err = query("INSERT INTO t (id) VALUES ($1)").bind("a").execute(&mut c).await.unwrap_err();
        assert!(matches!(&err, sqlx::Error::Database(d) if d.is_unique_violation()), "{err}");
        assert!(matches!(query("SELECT id FROM t WHERE id = 'z'").fetch_one(&mut c).await, Err(sqlx::Error::RowNotFound)));
    }
}
