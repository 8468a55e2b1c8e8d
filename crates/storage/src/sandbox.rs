//! Read-only SQL written by users, enforced by the engine rather than by reading the SQL:
//! a fresh read-only connection, named views over the allowed tables, `query_only`, an
//! authorizer that allows reading only those tables (no writes, DDL, ATTACH, PRAGMA or
//! system tables), a time limit through the progress handler, and a row cap.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use andibase_common::{DomainError, DomainResult, FieldIssue};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::database::Database;
use crate::value::Value;

pub struct SandboxedQuery {
    /// `(view name, SELECT …)` pairs created as TEMP views before the user's SQL runs.
    pub views: Vec<(String, String)>,
    /// Tables (in `main`) the views, and so the user, may read.
    pub readable_tables: Vec<String>,
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

fn refused(message: impl Into<String>) -> DomainError {
    let message = message.into();
    DomainError::Invalid {
        issues: vec![FieldIssue::new("sql", message.clone())],
        message: format!("sql: {message}"),
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Integer(_) => "integer",
        Value::Real(_) => "real",
        Value::Text(_) => "text",
        Value::Blob(_) => "blob",
    }
}

fn run(path: PathBuf, q: SandboxedQuery) -> DomainResult<QueryOutput> {
    let internal = |e: rusqlite::Error| DomainError::Internal(e.to_string());
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(internal)?;
    conn.busy_timeout(Duration::from_secs(2))
        .map_err(internal)?;
    for (name, select) in &q.views {
        conn.execute_batch(&format!(
            "CREATE TEMP VIEW \"{}\" AS {select}",
            name.replace('"', "\"\"")
        ))
        .map_err(internal)?;
    }
    conn.pragma_update(None, "query_only", "ON")
        .map_err(internal)?;
    let allowed = q.readable_tables.clone();
    let views: Vec<String> = q.views.iter().map(|(name, _)| name.clone()).collect();
    conn.authorizer(Some(move |ctx: AuthContext<'_>| match ctx.action {
        AuthAction::Select | AuthAction::Recursive => Authorization::Allow,
        AuthAction::Read { table_name, .. }
            if (ctx.database_name == Some("main") && allowed.iter().any(|t| t == table_name))
                || (ctx.database_name == Some("temp") && views.iter().any(|v| v == table_name))
                || ["json_each", "json_tree"].contains(&table_name)
                // A common table expression: real tables always name their database.
                || ctx.database_name.is_none() =>
        {
            Authorization::Allow
        }
        AuthAction::Function { function_name }
            if !function_name.eq_ignore_ascii_case("load_extension") =>
        {
            Authorization::Allow
        }
        _ => Authorization::Deny,
    }));
    let deadline = Instant::now() + q.timeout;
    conn.progress_handler(1000, Some(move || Instant::now() > deadline));

    let describe = |e: rusqlite::Error| match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            refused(format!(
                "the statement ran longer than {} ms and was stopped",
                q.timeout.as_millis()
            ))
        }
        rusqlite::Error::SqliteFailure(_, Some(msg)) if msg.contains("not authorized") => refused(
            format!("{msg}: only SELECT over this workspace's data definitions is allowed"),
        ),
        rusqlite::Error::SqliteFailure(_, Some(msg)) => refused(msg.clone()),
        rusqlite::Error::MultipleStatement => refused("send one statement at a time"),
        other => refused(other.to_string()),
    };
    let mut stmt = conn.prepare(&q.sql).map_err(describe)?;
    if !stmt.readonly() {
        return Err(refused("only read-only statements are allowed"));
    }
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let declared: Vec<Option<String>> = stmt
        .columns()
        .iter()
        .map(|c| c.decl_type().map(|t| t.to_ascii_lowercase()))
        .collect();
    let params: Vec<rusqlite::types::Value> = q
        .params
        .iter()
        .map(|v| match v {
            Value::Null => rusqlite::types::Value::Null,
            Value::Integer(i) => rusqlite::types::Value::Integer(*i),
            Value::Real(f) => rusqlite::types::Value::Real(*f),
            Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
            Value::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
        })
        .collect();
    let mut rows_iter = stmt
        .query(rusqlite::params_from_iter(params))
        .map_err(describe)?;
    let mut rows = Vec::new();
    let mut truncated = false;
    while let Some(row) = rows_iter.next().map_err(describe)? {
        if rows.len() == q.max_rows {
            truncated = true;
            break;
        }
        let mut out = Vec::with_capacity(names.len());
        for i in 0..names.len() {
            out.push(match row.get_ref(i).map_err(internal)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => Value::Integer(n),
                ValueRef::Real(f) => Value::Real(f),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        rows.push(out);
    }
    let columns = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let t = declared[i].clone().unwrap_or_else(|| {
                rows.iter()
                    .map(|r| kind_name(&r[i]))
                    .find(|k| *k != "null")
                    .unwrap_or("null")
                    .to_string()
            });
            (name, t)
        })
        .collect();
    Ok(QueryOutput {
        columns,
        rows,
        truncated,
    })
}

impl Database {
    /// Runs user SQL under [`SandboxedQuery`]'s rules on a blocking thread.
    pub async fn sandboxed_query(&self, q: SandboxedQuery) -> DomainResult<QueryOutput> {
        let path = self.path().to_path_buf();
        tokio::task::spawn_blocking(move || run(path, q))
            .await
            .map_err(|e| DomainError::Internal(e.to_string()))?
    }
}
