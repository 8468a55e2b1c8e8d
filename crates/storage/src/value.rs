//! Backend-neutral values and rows, so domain code never touches rusqlite types.

use andibase_common::{DomainError, DomainResult, Timestamp};

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Integer(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Integer(v as i64)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Integer(v as i64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}
impl From<Timestamp> for Value {
    fn from(v: Timestamp) -> Value {
        Value::Integer(v.0)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Blob(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}

impl From<rusqlite::types::ValueRef<'_>> for Value {
    /// A SQLite value, owned (text that is not UTF-8 is read lossily).
    fn from(v: rusqlite::types::ValueRef<'_>) -> Value {
        use rusqlite::types::ValueRef as Raw;
        match v {
            Raw::Null => Value::Null,
            Raw::Integer(n) => Value::Integer(n),
            Raw::Real(f) => Value::Real(f),
            Raw::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            Raw::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

/// A value borrowed from a row being read (see [`crate::Sql::query_each`]).
#[derive(Clone, Debug, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(std::borrow::Cow<'a, str>),
    Blob(&'a [u8]),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Integer(n) => ValueRef::Integer(*n),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_str().into()),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl ValueRef<'_> {
    pub fn to_value(&self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(n) => Value::Integer(*n),
            ValueRef::Real(f) => Value::Real(*f),
            ValueRef::Text(s) => Value::Text(s.to_string()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

/// Column values by position: a [`Row`] read into memory, or a [`RowRef`] being read.
pub trait Columns {
    fn get(&self, i: usize) -> ValueRef<'_>;
}

impl Columns for Row {
    fn get(&self, i: usize) -> ValueRef<'_> {
        self.value(i).as_ref()
    }
}

/// A row being read, without copying (see [`crate::Sql::query_each`]).
pub struct RowRef<'r>(RowSource<'r>);

enum RowSource<'r> {
    /// As SQLite hands it over.
    Sqlite(&'r rusqlite::Row<'r>),
    /// Already read (PostgreSQL).
    Values(&'r [Value]),
}

impl<'r> RowRef<'r> {
    pub(crate) fn sqlite(row: &'r rusqlite::Row<'r>) -> RowRef<'r> {
        RowRef(RowSource::Sqlite(row))
    }

    pub(crate) fn values(values: &'r [Value]) -> RowRef<'r> {
        RowRef(RowSource::Values(values))
    }
}

impl Columns for RowRef<'_> {
    fn get(&self, i: usize) -> ValueRef<'_> {
        match &self.0 {
            RowSource::Sqlite(row) => row.get_ref(i).map_or(ValueRef::Null, ValueRef::from_sqlite),
            RowSource::Values(values) => values.get(i).map_or(ValueRef::Null, Value::as_ref),
        }
    }
}

impl<'a> ValueRef<'a> {
    pub(crate) fn from_sqlite(raw: rusqlite::types::ValueRef<'a>) -> ValueRef<'a> {
        use rusqlite::types::ValueRef as Raw;
        match raw {
            Raw::Null => ValueRef::Null,
            Raw::Integer(n) => ValueRef::Integer(n),
            Raw::Real(f) => ValueRef::Real(f),
            // `from_utf8` checks a word at a time; the lossy path walks every byte (3% of a
            // list request in perf) and is only needed for text that is not UTF-8.
            Raw::Text(t) => ValueRef::Text(match std::str::from_utf8(t) {
                Ok(s) => s.into(),
                Err(_) => String::from_utf8_lossy(t),
            }),
            Raw::Blob(b) => ValueRef::Blob(b),
        }
    }
}

/// One result row, read by column position.
#[derive(Clone, Debug)]
pub struct Row(pub(crate) Vec<Value>);

fn wrong_type(i: usize, want: &str, got: &Value) -> DomainError {
    DomainError::Internal(format!("column {i}: expected {want}, found {got:?}"))
}

impl Row {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The columns from `start` on, as a row of their own (for joined selects).
    pub fn slice_from(&self, start: usize) -> Row {
        Row(self
            .0
            .get(start..)
            .map(<[Value]>::to_vec)
            .unwrap_or_default())
    }

    pub fn value(&self, i: usize) -> &Value {
        self.0.get(i).unwrap_or(&Value::Null)
    }

    pub fn text(&self, i: usize) -> DomainResult<String> {
        match self.value(i) {
            Value::Text(s) => Ok(s.clone()),
            other => Err(wrong_type(i, "text", other)),
        }
    }

    pub fn opt_text(&self, i: usize) -> DomainResult<Option<String>> {
        match self.value(i) {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            other => Err(wrong_type(i, "text or null", other)),
        }
    }

    pub fn int(&self, i: usize) -> DomainResult<i64> {
        match self.value(i) {
            Value::Integer(n) => Ok(*n),
            other => Err(wrong_type(i, "integer", other)),
        }
    }

    pub fn opt_int(&self, i: usize) -> DomainResult<Option<i64>> {
        match self.value(i) {
            Value::Null => Ok(None),
            Value::Integer(n) => Ok(Some(*n)),
            other => Err(wrong_type(i, "integer or null", other)),
        }
    }

    pub fn bool(&self, i: usize) -> DomainResult<bool> {
        Ok(self.int(i)? != 0)
    }

    pub fn time(&self, i: usize) -> DomainResult<Timestamp> {
        Ok(Timestamp(self.int(i)?))
    }

    pub fn opt_time(&self, i: usize) -> DomainResult<Option<Timestamp>> {
        Ok(self.opt_int(i)?.map(Timestamp))
    }

    /// A JSON document stored as text.
    pub fn json(&self, i: usize) -> DomainResult<serde_json::Value> {
        let s = self.text(i)?;
        serde_json::from_str(&s).map_err(|e| DomainError::Internal(format!("column {i}: {e}")))
    }
}
