//! Read-only SQL on PostgreSQL, enforced by PostgreSQL's privileges.
//!
//! Each role of each workspace (`viewer`, `editor`, `admin`) has a login role and a schema
//! of the same name, `sqlv_<workspace>_<role>`: one view per data definition (live
//! records, without the fields hidden from that role), owned by andibase's own database
//! user, and the login role may read those views and nothing else (it is granted nothing
//! more; PostgreSQL grants new schemas and tables to no one). A statement runs on a fresh
//! connection logged in as that role, in a read-only transaction, under
//! `statement_timeout`, with the answer cut at the row and byte caps. Switching roles
//! cannot escape: the login role is a member of nothing, so there is no role to switch
//! to. The views are made again when the definitions change (the schema's comment keeps
//! a fingerprint of them). What privileges cannot refuse (catalogs, functions every role
//! may call) is refused before the statement is sent (see `super::screen`).
//!
//! The login role's password is derived from `ANDIBASE_SECRET_KEY`, so every replica can
//! log in and the database keeps only PostgreSQL's SCRAM verifier of it.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use andibase_common::{DomainError, DomainResult};
use postgres::error::SqlState;
use postgres::types::Type;
use postgres::{Client, NoTls};
use sha2::{Digest, Sha256};

use super::{lock_key, safe_schema_name, screen, values, Postgres, Schema, Session};
use crate::database::internal;
use crate::quote_ident;
use crate::sandbox::{
    answer_bytes, refused, QueryOutput, SandboxedQuery, CONCURRENT_QUERIES, MAX_ANSWER_BYTES,
    MAX_COLUMNS, MAX_VALUE_BYTES, WHAT_IS_ALLOWED,
};
use crate::value::Value;

/// Rows fetched from the server at a time.
const FETCH: usize = 100;

pub(crate) async fn query(schema: &Schema, q: SandboxedQuery) -> DomainResult<QueryOutput> {
    let sql = screen::screen(&q.sql).map_err(refused)?;
    let server = &schema.server.inner;
    let secret = server.secret.clone().ok_or_else(|| {
        refused("read-only SQL on PostgreSQL needs ANDIBASE_SECRET_KEY to be set on the server")
    })?;
    let login = login_name(&schema.name, &q.role)?;
    let password = password(&secret, &login);
    let views: Vec<(String, String)> = q
        .views
        .iter()
        .map(|v| {
            let table = format!("{}.{}", schema.name, quote_ident(&v.table));
            (v.name.clone(), v.select(&table))
        })
        .collect();
    let fingerprint = fingerprint(&password, &views);
    {
        let (login, password) = (login.clone(), password.clone());
        Postgres::run(&server.writers, move |s| {
            prepare_views(s, &login, &password, &views, &fingerprint)
        })
        .await?;
    }
    let mut config: postgres::Config = server.url.parse().map_err(internal)?;
    config
        .user(&login)
        .password(&password)
        .application_name("andibase read-only SQL")
        .connect_timeout(q.timeout.max(Duration::from_secs(1)));
    let key = format!("{}\0{login}", server.url);
    // The blocking client runs a runtime of its own: a thread of its own too.
    let (answer, answered) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("pg-sql".into())
        .spawn(move || {
            let timeout = q.timeout;
            let answer_with = |client: &mut Client| run(client, &sql, q);
            let _ = answer.send(with_login(&key, &config, timeout, answer_with));
        })
        .map_err(internal)?;
    answered
        .await
        .map_err(|_| internal("the read-only SQL thread stopped"))?
}

/// The login role (and schema) of `role` in the workspace schema `schema`.
fn login_name(schema: &str, role: &str) -> DomainResult<String> {
    let workspace = schema
        .strip_prefix("ws_")
        .ok_or_else(|| internal(format!("read-only SQL runs in workspaces, not in {schema}")))?;
    let name = format!("sqlv_{workspace}_{role}");
    if !safe_schema_name(&name) || role.is_empty() {
        return Err(internal(format!("not a role for read-only SQL: {role}")));
    }
    Ok(name)
}

/// The login role's password: the same on every replica, never stored.
fn password(secret: &str, login: &str) -> String {
    let mut h = Sha256::new();
    for part in ["andibase read-only SQL", secret, login] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    andibase_common::hex::encode(&h.finalize())
}

/// What the login role and its views must be now: changes with any view or the password.
fn fingerprint(password: &str, views: &[(String, String)]) -> String {
    let mut h = Sha256::new();
    h.update(password.as_bytes());
    for (name, select) in views {
        for part in [name, select] {
            h.update(part.as_bytes());
            h.update([0]);
        }
    }
    andibase_common::hex::encode(&h.finalize())
}

/// Makes the login role and its views as `views` says, unless they are already (one
/// query when nothing changed). Processes doing it at once take turns.
fn prepare_views(
    s: &Session,
    login: &str,
    password: &str,
    views: &[(String, String)],
    fingerprint: &str,
) -> DomainResult<()> {
    let current = |s: &Session| -> DomainResult<Option<String>> {
        let rows = s.query(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = ?",
            &[Value::Text(login.into())],
        )?;
        Ok(rows.first().and_then(|r| r.opt_text(0).ok().flatten()))
    };
    if current(s)?.as_deref() == Some(fingerprint) {
        return Ok(());
    }
    s.batch(&format!(
        "BEGIN; SET LOCAL lock_timeout = '10s'; SELECT pg_advisory_xact_lock({})",
        lock_key(&format!("read-only SQL {login}"))
    ))?;
    let made = (|| {
        if current(s)?.as_deref() == Some(fingerprint) {
            return Ok(());
        }
        let exists = !s
            .query(
                "SELECT 1 FROM pg_roles WHERE rolname = ?",
                &[Value::Text(login.into())],
            )?
            .is_empty();
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        let limit = CONCURRENT_QUERIES * 8;
        let mut ddl = if exists {
            format!("ALTER ROLE {login} LOGIN CONNECTION LIMIT {limit} PASSWORD '{verifier}';")
        } else {
            format!(
                "CREATE ROLE {login} LOGIN NOINHERIT CONNECTION LIMIT {limit} PASSWORD '{verifier}';"
            )
        };
        ddl.push_str(&format!(
            "ALTER ROLE {login} SET search_path = {login};
             ALTER ROLE {login} SET default_transaction_read_only = on;
             DROP SCHEMA IF EXISTS {login} CASCADE;
             CREATE SCHEMA {login};
             GRANT USAGE ON SCHEMA {login} TO {login};"
        ));
        for (name, select) in views {
            ddl.push_str(&format!(
                "CREATE VIEW {login}.{} WITH (security_barrier) AS {select};",
                quote_ident(name)
            ));
        }
        ddl.push_str(&format!(
            "GRANT SELECT ON ALL TABLES IN SCHEMA {login} TO {login};
             COMMENT ON SCHEMA {login} IS '{fingerprint}';"
        ));
        s.batch(&ddl)
    })();
    match made {
        Ok(()) => s.batch("COMMIT"),
        Err(e) => {
            let _ = s.batch("ROLLBACK");
            if matches!(&e, DomainError::Internal(m) if m.starts_with(SqlState::INSUFFICIENT_PRIVILEGE.code()))
            {
                return Err(refused(format!(
                    "read-only SQL on PostgreSQL needs andibase's database user to have CREATEROLE: {e}"
                )));
            }
            Err(e)
        }
    }
}

/// Whether values of type `t` are read as they are (others are sent as text).
fn read_natively(t: &Type) -> bool {
    [
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::OID,
        Type::BOOL,
        Type::FLOAT4,
        Type::FLOAT8,
        Type::NUMERIC,
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::UNKNOWN,
        Type::JSON,
        Type::JSONB,
        Type::BYTEA,
    ]
    .contains(t)
}

/// The type a column shows, in the words SQLite's sandbox uses where they agree.
fn kind_of(t: &Type) -> String {
    match *t {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID | Type::BOOL => "integer".into(),
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => "real".into(),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => "text".into(),
        Type::BYTEA => "blob".into(),
        _ => t.name().into(),
    }
}

fn describe(e: postgres::Error, timeout: Duration) -> DomainError {
    let Some(db) = e.as_db_error() else {
        return match e.is_closed() {
            true => internal(format!("read-only SQL connection: {e}")),
            false => refused(e.to_string()),
        };
    };
    let message = db.message();
    match db.code() {
        c if *c == SqlState::QUERY_CANCELED => refused(format!(
            "the statement ran longer than {} ms and was stopped",
            timeout.as_millis()
        )),
        c if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
            refused(format!("{message}: not authorized: {WHAT_IS_ALLOWED}"))
        }
        // Worded as SQLite words them, so clients see one message on both engines.
        c if *c == SqlState::UNDEFINED_TABLE => {
            let table = quoted_name(message, "relation \"");
            refused(format!("no such table: {table} ({WHAT_IS_ALLOWED})"))
        }
        c if *c == SqlState::UNDEFINED_COLUMN => refused(format!(
            "no such column: {}",
            quoted_name(message, "column \"")
        )),
        c if *c == SqlState::READ_ONLY_SQL_TRANSACTION => {
            refused("only read-only statements are allowed")
        }
        c if *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            || *c == SqlState::INVALID_PASSWORD
            || *c == SqlState::TOO_MANY_CONNECTIONS =>
        {
            internal(format!("read-only SQL login: {message}"))
        }
        _ => refused(match db.hint() {
            Some(hint) => format!("{message} ({hint})"),
            None => message.to_string(),
        }),
    }
}

/// The name in a message such as `relation "x" does not exist` (the whole message when
/// it is not one).
fn quoted_name<'a>(message: &'a str, prefix: &str) -> &'a str {
    message
        .strip_prefix(prefix)
        .and_then(|m| m.split_once('"'))
        .map_or(message, |(name, _)| name)
}

/// Logged-in connections kept between statements, per login role: a login (and its
/// password exchange) costs more than most statements. At most `CONCURRENT_QUERIES` idle
/// ones per role, each for at most [`KEEP_IDLE`]; each with the statement time limit it
/// was set to. Nothing a statement may run changes a session (no `SET`, no `set_config`,
/// no temporary objects, no locks kept), and each ends with its transaction rolled back.
type IdleLogins = HashMap<String, Vec<(Client, Instant, Duration)>>;
static IDLE: LazyLock<Mutex<IdleLogins>> = LazyLock::new(Default::default);
const KEEP_IDLE: Duration = Duration::from_secs(60);

/// Runs `f` on a connection logged in with `config`: one kept from before, or a new one.
fn with_login<T>(
    key: &str,
    config: &postgres::Config,
    timeout: Duration,
    f: impl FnOnce(&mut Client) -> DomainResult<T>,
) -> DomainResult<T> {
    let kept = {
        let mut idle = IDLE.lock().expect("idle logins poisoned");
        // Every role's stale connections go, not only this one's: a role nobody asks for
        // again must not hold connections.
        idle.retain(|_, list| {
            list.retain(|(c, at, _)| !c.is_closed() && at.elapsed() < KEEP_IDLE);
            !list.is_empty()
        });
        idle.get_mut(key).and_then(Vec::pop)
    };
    let mut client = match kept {
        Some((client, _, set)) if set == timeout => client,
        other => {
            let mut client = match other {
                Some((client, _, _)) => client,
                None => config.connect(NoTls).map_err(|e| describe(e, timeout))?,
            };
            client
                .batch_execute(&format!(
                    "SET statement_timeout = {ms}; SET lock_timeout = {ms}; SET work_mem = '16MB';
                     SET standard_conforming_strings = on",
                    ms = timeout.as_millis().clamp(1, i32::MAX as u128)
                ))
                .map_err(|e| describe(e, timeout))?;
            client
        }
    };
    let answer = f(&mut client);
    if !client.is_closed() {
        let mut idle = IDLE.lock().expect("idle logins poisoned");
        let list = idle.entry(key.to_string()).or_default();
        if list.len() < CONCURRENT_QUERIES {
            list.push((client, Instant::now(), timeout));
        }
    }
    answer
}

/// Runs the screened statement as the login role. Blocking.
fn run(client: &mut Client, sql: &str, q: SandboxedQuery) -> DomainResult<QueryOutput> {
    let describe = |e| describe(e, q.timeout);
    let deadline = Instant::now() + q.timeout;
    // The statement as written, for its columns and parameter types.
    let described = match client.prepare(sql) {
        Err(e) if values::needs_types(&e) => {
            client.prepare_typed(sql, &values::types_of(&q.params))
        }
        other => other,
    }
    .map_err(describe)?;
    if described.params().len() != q.params.len() {
        return Err(refused(format!(
            "the statement has {} placeholders and {} params were given",
            described.params().len(),
            q.params.len()
        )));
    }
    let columns = described.columns();
    if columns.len() > MAX_COLUMNS as usize {
        return Err(refused(format!(
            "a query may return at most {MAX_COLUMNS} columns"
        )));
    }
    let shown: Vec<(String, String)> = columns
        .iter()
        .map(|c| (c.name().to_string(), kind_of(c.type_())))
        .collect();
    // Run inside a projection that reads each value once (`OFFSET 0` keeps the planner
    // from computing a column once per mention), sends types it cannot read as text, and
    // sends no value past the size limit, only word that there was one.
    let n = columns.len();
    let statement = if n == 0 {
        described
    } else {
        let names: Vec<String> = (1..=n).map(|i| format!("c{i}")).collect();
        let sizes: Vec<String> = names
            .iter()
            .map(|c| format!("pg_column_size(q.{c})"))
            .collect();
        let values: Vec<String> = names
            .iter()
            .zip(columns)
            .map(|(c, column)| {
                let value = match read_natively(column.type_()) {
                    true => format!("q.{c}"),
                    false => format!("q.{c}::text"),
                };
                format!("CASE WHEN pg_column_size(q.{c}) > {MAX_VALUE_BYTES} THEN NULL ELSE {value} END")
            })
            .collect();
        let wrapped = format!(
            "SELECT coalesce(greatest({}), 0) > {MAX_VALUE_BYTES}, {} \
             FROM (SELECT * FROM ({sql}\n) AS u({}) OFFSET 0) AS q",
            sizes.join(", "),
            values.join(", "),
            names.join(", ")
        );
        client
            .prepare_typed(&wrapped, described.params())
            .map_err(describe)?
    };
    let first = usize::from(n > 0);
    let params: Vec<&(dyn postgres::types::ToSql + Sync)> = q
        .params
        .iter()
        .map(|v| v as &(dyn postgres::types::ToSql + Sync))
        .collect();
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .map_err(describe)?;
    let portal = tx.bind(&statement, &params).map_err(describe)?;
    let (mut rows, mut bytes, mut truncated) = (Vec::new(), 0usize, false);
    'fetch: loop {
        if Instant::now() > deadline {
            return Err(refused(format!(
                "the statement ran longer than {} ms and was stopped",
                q.timeout.as_millis()
            )));
        }
        let batch = tx.query_portal(&portal, FETCH as i32).map_err(describe)?;
        let more = batch.len() == FETCH;
        for row in batch {
            if n > 0 && row.try_get::<_, bool>(0).map_err(internal)? {
                return Err(refused(format!(
                    "a value would be larger than {MAX_VALUE_BYTES} bytes"
                )));
            }
            if rows.len() == q.max_rows || bytes > MAX_ANSWER_BYTES {
                truncated = true;
                break 'fetch;
            }
            let values = (first..row.len())
                .map(|i| row.try_get::<_, values::Cell>(i).map(|c| c.0))
                .collect::<Result<Vec<Value>, _>>()
                .map_err(internal)?;
            bytes += answer_bytes(&values);
            rows.push(values);
        }
        if !more {
            break;
        }
    }
    drop(portal);
    let _ = tx.rollback();
    Ok(QueryOutput {
        columns: shown,
        rows,
        truncated,
    })
}
