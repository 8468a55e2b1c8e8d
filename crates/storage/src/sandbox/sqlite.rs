//! The SQLite sandbox: a fresh read-only connection, named views over the allowed tables,
//! `query_only`, an authorizer that allows reading only those views (never the tables
//! behind them, internal tables or table-valued pragmas) and calling only listed
//! functions, SQLite's own limits on value and statement sizes (so no single step can run
//! long or allocate much), a time limit checked by the progress handler and enforced by an
//! interrupt, and a cap on rows and on the bytes of the answer.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use andibase_common::{DomainError, DomainResult};
use rusqlite::config::DbConfig;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::{Connection, OpenFlags};

use super::{
    answer_bytes, kind_name, refused, QueryOutput, SandboxedQuery, MAX_ANSWER_BYTES, MAX_COLUMNS,
    MAX_VALUE_BYTES, WHAT_IS_ALLOWED,
};
use crate::quote_ident;
use crate::value::Value;

/// The SQL functions a sandboxed statement may call: SQLite's core scalar, date, math,
/// JSON, aggregate and window functions. Everything else (`load_extension`,
/// `fts3_tokenizer`, the server's own functions, …) is refused by name.
const ALLOWED_FUNCTIONS: &[&str] = &[
    // core scalar
    "abs",
    "char",
    "coalesce",
    "concat",
    "concat_ws",
    "format",
    "glob",
    "hex",
    "if",
    "ifnull",
    "iif",
    "instr",
    "length",
    "like",
    "likelihood",
    "likely",
    "lower",
    "ltrim",
    "max",
    "min",
    "nullif",
    "octet_length",
    "printf",
    "quote",
    "random",
    "randomblob",
    "replace",
    "round",
    "rtrim",
    "sign",
    "soundex",
    "sqlite_version",
    "substr",
    "substring",
    "trim",
    "typeof",
    "unhex",
    "unicode",
    "unlikely",
    "upper",
    "zeroblob",
    // date and time
    "date",
    "time",
    "datetime",
    "julianday",
    "unixepoch",
    "strftime",
    "timediff",
    // math
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "ceil",
    "ceiling",
    "cos",
    "cosh",
    "degrees",
    "exp",
    "floor",
    "ln",
    "log",
    "log10",
    "log2",
    "mod",
    "pi",
    "pow",
    "power",
    "radians",
    "sin",
    "sinh",
    "sqrt",
    "tan",
    "tanh",
    "trunc",
    // JSON (`->` and `->>` are functions too)
    "json",
    "jsonb",
    "json_array",
    "jsonb_array",
    "json_array_length",
    "json_error_position",
    "json_extract",
    "jsonb_extract",
    "json_insert",
    "jsonb_insert",
    "json_object",
    "jsonb_object",
    "json_patch",
    "jsonb_patch",
    "json_pretty",
    "json_quote",
    "json_remove",
    "jsonb_remove",
    "json_replace",
    "jsonb_replace",
    "json_set",
    "jsonb_set",
    "json_type",
    "json_valid",
    "json_group_array",
    "jsonb_group_array",
    "json_group_object",
    "jsonb_group_object",
    "->",
    "->>",
    // aggregate
    "avg",
    "count",
    "group_concat",
    "string_agg",
    "sum",
    "total",
    // window
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
];

/// Table-valued functions a statement may read from.
const ALLOWED_TABLE_FUNCTIONS: &[&str] = &["json_each", "json_tree"];

/// What the authorizer allows a sandboxed statement to touch.
struct Allowed {
    /// The TEMP views made for the statement.
    views: Vec<String>,
    /// The tables behind the views, readable only from inside a view.
    tables: Vec<String>,
    /// Every name in the database's schemas, lowercased: a table read that names no
    /// database and is none of these is a common table expression.
    schema_names: Vec<String>,
}

/// Virtual tables SQLite offers without a `CREATE` (besides `pragma_…`); never readable.
const EPONYMOUS_TABLES: &[&str] = &["dbstat", "sqlite_dbpage", "sqlite_stmt", "fts3tokenize"];

/// Whether the authorizer lets a sandboxed statement do `ctx`: read the views (and the
/// tables behind them only from inside a view), common table expressions and JSON
/// table functions, call listed functions, select, recurse.
fn authorize(ctx: &AuthContext<'_>, allowed: &Allowed) -> bool {
    let is_view = |name: &str| allowed.views.iter().any(|v| v == name);
    match ctx.action {
        AuthAction::Select | AuthAction::Recursive => true,
        // A table read with no column ("SELECT count(*) FROM t"): a view, or a common
        // table expression (which names no database and is no schema object).
        AuthAction::Read {
            table_name,
            column_name: "",
        } => match ctx.database_name {
            Some(db) => db == "temp" && is_view(table_name),
            None => {
                let name = table_name.to_ascii_lowercase();
                !allowed.schema_names.contains(&name)
                    && !name.starts_with("pragma_")
                    && !name.starts_with("sqlite_")
                    && !EPONYMOUS_TABLES.contains(&name.as_str())
            }
        },
        AuthAction::Read { table_name, .. } => {
            (ctx.database_name == Some("temp") && is_view(table_name))
                || (ctx.database_name == Some("main")
                    && allowed.tables.iter().any(|t| t == table_name)
                    && ctx.accessor.is_some_and(is_view))
                || ALLOWED_TABLE_FUNCTIONS.contains(&table_name)
        }
        AuthAction::Function { function_name } => ALLOWED_FUNCTIONS
            .iter()
            .any(|f| f.eq_ignore_ascii_case(function_name)),
        _ => false,
    }
}

pub(crate) fn run(path: PathBuf, q: SandboxedQuery) -> DomainResult<QueryOutput> {
    let internal = |e: rusqlite::Error| DomainError::Internal(e.to_string());
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(internal)?;
    conn.busy_timeout(Duration::from_secs(2))
        .map_err(internal)?;
    // The two-argument fts3_tokenizer() replaces a tokenizer by a pointer; off (the
    // function is not on the list either).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, false)
        .map_err(internal)?;
    // A double-quoted name that is no column is an error, not a string ("secret" must not
    // quietly read as the text secret).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, false)
        .map_err(internal)?;
    for (limit, value) in [
        (Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES),
        (Limit::SQLITE_LIMIT_SQL_LENGTH, 200_000),
        (Limit::SQLITE_LIMIT_COLUMN, MAX_COLUMNS),
        (Limit::SQLITE_LIMIT_EXPR_DEPTH, 200),
        (Limit::SQLITE_LIMIT_COMPOUND_SELECT, 50),
        (Limit::SQLITE_LIMIT_VDBE_OP, 250_000),
        (Limit::SQLITE_LIMIT_FUNCTION_ARG, 100),
        (Limit::SQLITE_LIMIT_ATTACHED, 0),
        (Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 10_000),
        (Limit::SQLITE_LIMIT_TRIGGER_DEPTH, 0),
    ] {
        conn.set_limit(limit, value).map_err(internal)?;
    }
    // Sorts and temporary tables spill to files past a small cache instead of growing in
    // memory.
    conn.execute_batch("PRAGMA temp_store = FILE; PRAGMA cache_size = -8000;")
        .map_err(internal)?;
    // `main.` so that a view named like a table does not read itself.
    for view in &q.views {
        conn.execute_batch(&format!(
            "CREATE TEMP VIEW {} AS {}",
            quote_ident(&view.name),
            view.select(&format!("main.{}", quote_ident(&view.table)))
        ))
        .map_err(internal)?;
    }
    conn.pragma_update(None, "query_only", "ON")
        .map_err(internal)?;
    let mut schema_names = Vec::new();
    for schema in ["main", "temp"] {
        let mut stmt = conn
            .prepare(&format!("SELECT lower(name) FROM {schema}.sqlite_schema"))
            .map_err(internal)?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(internal)?;
        for name in names {
            schema_names.push(name.map_err(internal)?);
        }
    }
    let allowed = Allowed {
        views: q.views.iter().map(|v| v.name.clone()).collect(),
        tables: q.views.iter().map(|v| v.table.clone()).collect(),
        schema_names,
    };
    conn.authorizer(Some(move |ctx: AuthContext<'_>| {
        if authorize(&ctx, &allowed) {
            Authorization::Allow
        } else {
            Authorization::Deny
        }
    }));
    let deadline = Instant::now() + q.timeout;
    conn.progress_handler(1000, Some(move || Instant::now() > deadline));
    // The progress handler runs between steps; an interrupt also stops the statement if
    // a step outlasts the deadline.
    let (done, watchdog) = std::sync::mpsc::channel::<()>();
    let interrupt = conn.get_interrupt_handle();
    let timeout = q.timeout;
    std::thread::spawn(move || {
        if watchdog.recv_timeout(timeout + Duration::from_millis(100))
            == Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        {
            interrupt.interrupt();
        }
    });
    let _stop_watchdog = done;

    let describe = |e: rusqlite::Error| {
        match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            refused(format!(
                "the statement ran longer than {} ms and was stopped",
                q.timeout.as_millis()
            ))
        }
        rusqlite::Error::SqliteFailure(_, Some(msg))
            if msg.contains("not authorized") || msg.contains("is prohibited") =>
        {
            refused(
            format!("{msg}: {WHAT_IS_ALLOWED} and SQLite's core, date, math, JSON, aggregate and window functions are allowed"),
        )
        }
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::TooBig => {
            refused(format!(
                "a value would be larger than {} bytes",
                MAX_VALUE_BYTES
            ))
        }
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::OutOfMemory => {
            refused("the statement needs more memory than a query may use")
        }
        rusqlite::Error::SqliteFailure(_, Some(msg)) => refused(msg.clone()),
        rusqlite::Error::MultipleStatement => refused("send one statement at a time"),
        other => refused(other.to_string()),
    }
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
    let mut bytes = 0usize;
    while let Some(row) = rows_iter.next().map_err(describe)? {
        if rows.len() == q.max_rows || bytes > MAX_ANSWER_BYTES {
            truncated = true;
            break;
        }
        let mut out = Vec::with_capacity(names.len());
        for i in 0..names.len() {
            out.push(Value::from(row.get_ref(i).map_err(internal)?));
        }
        bytes += answer_bytes(&out);
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
