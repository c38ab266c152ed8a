//! The one connection shape every record function runs on, whichever database holds the store:
//! statements with numbered `?1` parameters, argument and row values of the few types voxgate
//! stores (integers, text, NULL), and the transaction controls the store writer needs. Record
//! functions are written once and run unchanged on SQLite and on PostgreSQL.

use super::error::StoreError;

/// Which SQL a backend speaks, where the two differ (transaction start, schema bookkeeping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A statement argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Int(v as i64)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(v)
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Arg::Null, Arg::Int)
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Arg::Null, Arg::Text)
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().map_or(Arg::Null, Arg::Text)
    }
}

/// The arguments of one statement: `args![a, b]`.
#[macro_export]
#[doc(hidden)]
macro_rules! sql_args {
    ($($v:expr),* $(,)?) => { &[$($crate::store::sql::Arg::from($v)),*][..] };
}
pub use crate::sql_args as args;

/// A value read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

/// One result row.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<Value>);

/// A Rust type a column reads into.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }
}

impl FromValue for bool {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(n) => Some(*n != 0),
            _ => None,
        }
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl Row {
    /// Column `i` as `T`; a missing column or another type is corrupt data, not a panic.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T, StoreError> {
        let v = self.0.get(i).ok_or_else(|| StoreError::Corrupt(format!("row has no column {i}")))?;
        T::from_value(v).ok_or_else(|| {
            StoreError::Corrupt(format!("column {i} holds {v:?}, not a {}", std::any::type_name::<T>()))
        })
    }
}

/// A database connection as record functions see it.
pub trait Sql {
    fn dialect(&self) -> Dialect;
    /// Runs one statement; how many rows it changed.
    fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError>;
    /// Runs one query; every row.
    fn query(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError>;
    /// Runs statements without arguments (transaction control, schema changes).
    fn batch(&self, sql: &str) -> Result<(), StoreError>;
    /// Statements without arguments whose outcome can wait: a backend may send them with the
    /// next statement (a failure then shows as that statement's). By default, run at once.
    fn batch_with_next(&self, sql: &str) -> Result<(), StoreError> {
        self.batch(sql)
    }
    /// Replaces a connection the server closed (the writer calls it between transactions, so
    /// a database restart costs the writes of one batch, not every write after it).
    fn reconnect(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl dyn Sql + '_ {
    /// Every row, each mapped by `f`.
    pub fn query_map<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl Fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.query(sql, args)?.iter().map(f).collect()
    }

    /// The first row mapped by `f`, if there is one.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl Fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.query(sql, args)?.first().map(f).transpose()
    }

    /// The one value of a query that always has a row (`COUNT(*)`, `SUM`).
    pub fn query_value<T: FromValue>(&self, sql: &str, args: &[Arg<'_>]) -> Result<T, StoreError> {
        match self.query(sql, args)?.first() {
            Some(row) => row.get(0),
            None => Err(StoreError::Corrupt(format!("no row from {sql}"))),
        }
    }
}
