//! Read-only SQL written by users, enforced by the engine rather than by trusting the SQL.
//! Each engine has its own sandbox ([`sqlite`], and `crate::postgres::sandbox`); both
//! show the caller the same thing: one view per data definition, named by its handle,
//! with live records only and without the fields hidden from the caller's role.

pub(crate) mod sqlite;

use std::time::Duration;

use andibase_common::{DomainError, DomainResult, FieldIssue};

use crate::database::Database;
use crate::quote_ident;
use crate::value::Value;

/// The largest string or blob a sandboxed statement may make or read (a record arrives in a
/// request body, 1 MiB by default). With at most [`MAX_COLUMNS`] columns a row, one step
/// holds at most about 256 MiB, and at most [`CONCURRENT_QUERIES`] run at once.
pub const MAX_VALUE_BYTES: i32 = 1024 * 1024;
/// Result columns (a definition has at most 200 fields plus the system columns).
pub const MAX_COLUMNS: i32 = 256;
/// Sandboxed statements running at once in this process; others wait up to their timeout.
pub const CONCURRENT_QUERIES: usize = 4;
static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_QUERIES);
/// The most bytes of values an answer holds before it is cut (`truncated`).
pub const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// What a sandboxed statement may read, said once for every refusal.
pub(crate) const WHAT_IS_ALLOWED: &str =
    "only SELECT over this workspace's data definitions (by handle)";

/// One view a sandboxed statement reads: the live records of a record table, with only
/// the listed columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxView {
    /// The name the statement uses (a definition's handle).
    pub name: String,
    /// The record table behind it (in the workspace's database).
    pub table: String,
    /// `(column, name shown)` pairs, in order.
    pub columns: Vec<(String, String)>,
}

impl SandboxView {
    /// The view's `SELECT`, reading the table as `table_ref` (already quoted).
    pub(crate) fn select(&self, table_ref: &str) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|(column, shown)| format!("{} AS {}", quote_ident(column), quote_ident(shown)))
            .collect();
        format!(
            "SELECT {} FROM {table_ref} WHERE deleted_at IS NULL",
            columns.join(", ")
        )
    }
}

pub struct SandboxedQuery {
    pub views: Vec<SandboxView>,
    /// The caller's workspace role (`viewer`, `editor`, `admin`). Views differ by role
    /// (hidden fields); on PostgreSQL each role of a workspace reads through its own
    /// login role.
    pub role: String,
    pub sql: String,
    pub params: Vec<Value>,
    pub max_rows: usize,
    pub timeout: Duration,
}

pub struct QueryOutput {
    /// `(name, type)`; the type is the declared column type, or else the first value's.
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Vec<Value>>,
    pub truncated: bool,
}

/// A statement the sandbox will not run (or that failed), as a 400 naming `sql`.
pub(crate) fn refused(message: impl Into<String>) -> DomainError {
    let message = message.into();
    DomainError::Invalid {
        issues: vec![FieldIssue::new("sql", message.clone())],
        message: format!("sql: {message}"),
    }
}

pub(crate) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Integer(_) => "integer",
        Value::Real(_) => "real",
        Value::Text(_) => "text",
        Value::Blob(_) => "blob",
    }
}

/// Adds a value's bytes to `bytes` (what [`MAX_ANSWER_BYTES`] counts).
pub(crate) fn answer_bytes(row: &[Value]) -> usize {
    row.iter()
        .map(|v| match v {
            Value::Text(t) => t.len() + 8,
            Value::Blob(b) => b.len() + 8,
            _ => 8,
        })
        .sum()
}

impl Database {
    /// Runs user SQL in the engine's sandbox, at most `CONCURRENT_QUERIES` at once in
    /// this process.
    pub async fn sandboxed_query(&self, q: SandboxedQuery) -> DomainResult<QueryOutput> {
        let _slot = tokio::time::timeout(q.timeout, SLOTS.acquire())
            .await
            .map_err(|_| {
                refused("too many SQL queries are running on this server; try again shortly")
            })?
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        if let Some(schema) = self.postgres_schema() {
            return crate::postgres::sandbox::query(schema, q).await;
        }
        let path = self.path().to_path_buf();
        tokio::task::spawn_blocking(move || sqlite::run(path, q))
            .await
            .map_err(|e| DomainError::Internal(e.to_string()))?
    }
}
