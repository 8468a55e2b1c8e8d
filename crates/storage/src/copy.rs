//! Copying a SQLite database's rows into a PostgreSQL schema (`andibase
//! migrate-to-postgres`): table by table, columns by name, in one transaction, replacing
//! what the schema held, so a copy that stops half-way leaves the schema as it was and a
//! second run gives the same result as the first.

use std::path::Path;
use std::sync::Arc;

use andibase_common::{DomainError, DomainResult};
use rusqlite::{Connection, OpenFlags};

use crate::database::{internal, Database};
use crate::{quote_ident, Sql, Tx, Value};

/// Which tables a copy takes.
#[derive(Clone, Debug)]
pub enum Tables {
    /// These (each must be in both).
    Only(Vec<String>),
    /// Every ordinary table the file and the schema both have, but these (and
    /// `_migrations`, which each keeps for itself).
    AllBut(Vec<String>),
}

/// Hears of a copy's progress: `(table, rows copied so far, rows in all)`.
pub type Progress = Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

/// One table copied, with the rows the file had and the rows the schema has now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopiedTable {
    pub table: String,
    pub source_rows: u64,
    pub rows: u64,
}

/// Parameters per `INSERT` at most (PostgreSQL allows 65,535).
const MAX_PARAMS: usize = 30_000;

impl Database {
    /// Replaces the rows of `tables` in this PostgreSQL schema by the rows of the SQLite
    /// file at `source` (read-only), in one transaction: each table is emptied, filled
    /// with the file's rows in their order (the columns both have, by name), and its
    /// identity column moved past the ids copied. Counts each table again afterwards.
    pub async fn replace_from_sqlite(
        &self,
        source: &Path,
        tables: Tables,
        progress: Progress,
    ) -> DomainResult<Vec<CopiedTable>> {
        if !self.is_postgres() {
            return Err(internal("a copy from SQLite goes into PostgreSQL"));
        }
        let source = source.to_path_buf();
        let copied = self
            .write(move |tx| copy(tx, &source, &tables, &progress))
            .await?;
        let mut out = Vec::new();
        for (table, source_rows) in copied {
            let rows = self.count_rows(&table).await?;
            out.push(CopiedTable {
                table,
                source_rows,
                rows,
            });
        }
        Ok(out)
    }

    /// How many rows `table` has.
    pub async fn count_rows(&self, table: &str) -> DomainResult<u64> {
        let sql = format!("SELECT count(*) FROM {}", quote_ident(table));
        self.read(move |r| {
            r.query_one(&sql, &[])?
                .map(|row| row.int(0))
                .transpose()
                .map(|n| n.unwrap_or(0) as u64)
        })
        .await
    }
}

fn sqlite(e: rusqlite::Error) -> DomainError {
    internal(format!("reading the SQLite file: {e}"))
}

/// The ordinary tables of the file (no virtual tables or their shadow tables' kin, no
/// SQLite internals) and their columns.
fn source_tables(conn: &Connection) -> DomainResult<Vec<(String, Vec<String>)>> {
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             AND coalesce(sql, '') NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name",
        )
        .map_err(sqlite)?;
    let names: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .map_err(sqlite)?
        .collect::<Result<_, _>>()
        .map_err(sqlite)?;
    let mut out = Vec::new();
    for name in names {
        let mut cols = conn
            .prepare(&format!("PRAGMA table_info({})", quote_ident(&name)))
            .map_err(sqlite)?;
        let columns: Vec<String> = cols
            .query_map([], |r| r.get(1))
            .map_err(sqlite)?
            .collect::<Result<_, _>>()
            .map_err(sqlite)?;
        out.push((name, columns));
    }
    Ok(out)
}

/// The schema's columns of `table` in order, each with whether it is an identity column.
fn target_columns(tx: &Tx<'_>, table: &str) -> DomainResult<Vec<(String, bool)>> {
    tx.query(
        "SELECT column_name, is_identity = 'YES' FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
        &[Value::Text(table.into())],
    )?
    .into_iter()
    .map(|r| Ok((r.text(0)?, r.bool(1)?)))
    .collect()
}

fn copy(
    tx: &Tx<'_>,
    source: &Path,
    tables: &Tables,
    progress: &Progress,
) -> DomainResult<Vec<(String, u64)>> {
    let conn = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    let available = source_tables(&conn)?;
    let chosen: Vec<&(String, Vec<String>)> = match tables {
        Tables::Only(names) => names
            .iter()
            .map(|n| {
                available
                    .iter()
                    .find(|(t, _)| t == n)
                    .ok_or_else(|| internal(format!("the SQLite file has no table {n}")))
            })
            .collect::<DomainResult<_>>()?,
        Tables::AllBut(skip) => available
            .iter()
            .filter(|(t, _)| t != "_migrations" && !skip.contains(t))
            .collect(),
    };
    let mut plan = Vec::new();
    for (table, source_columns) in chosen {
        let target = target_columns(tx, table)?;
        if target.is_empty() {
            if matches!(tables, Tables::Only(_)) {
                return Err(internal(format!("the schema has no table {table}")));
            }
            continue;
        }
        let columns: Vec<(String, bool)> = target
            .into_iter()
            .filter(|(c, _)| source_columns.contains(c))
            .collect();
        plan.push((table.clone(), columns));
    }
    // Referenced tables are filled before the tables that refer to them, and emptied
    // after them.
    let names: Vec<String> = plan.iter().map(|(t, _)| t.clone()).collect();
    let order = referenced_first(tx, &names)?;
    plan.sort_by_key(|(t, _)| order.iter().position(|o| o == t));
    for (table, _) in plan.iter().rev() {
        tx.execute(&format!("DELETE FROM {}", quote_ident(table)), &[])?;
    }
    let mut out = Vec::new();
    for (table, columns) in &plan {
        let columns: Vec<&(String, bool)> = columns.iter().collect();
        let copied = copy_table(tx, &conn, table, &columns, progress)?;
        out.push((table.clone(), copied));
    }
    Ok(out)
}

/// `tables` ordered so that a table comes after every other one it has a foreign key to.
fn referenced_first(tx: &Tx<'_>, tables: &[String]) -> DomainResult<Vec<String>> {
    let edges: Vec<(String, String)> = tx
        .query(
            "SELECT c.relname, p.relname FROM pg_constraint k \
             JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid \
             WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace \
             AND k.conrelid <> k.confrelid",
            &[],
        )?
        .into_iter()
        .map(|r| Ok((r.text(0)?, r.text(1)?)))
        .collect::<DomainResult<_>>()?;
    let mut ordered: Vec<String> = Vec::new();
    let mut left: Vec<&String> = tables.iter().collect();
    while !left.is_empty() {
        let ready = left.iter().position(|t| {
            edges
                .iter()
                .all(|(child, parent)| child != *t || !left.contains(&parent) || parent == *t)
        });
        // A cycle of foreign keys: the rest in any order (the insert says which row).
        let i = ready.unwrap_or(0);
        ordered.push(left.remove(i).clone());
    }
    Ok(ordered)
}

fn copy_table(
    tx: &Tx<'_>,
    conn: &Connection,
    table: &str,
    columns: &[&(String, bool)],
    progress: &Progress,
) -> DomainResult<u64> {
    let t = quote_ident(table);
    let total: u64 = conn
        .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
        .map_err(sqlite)?;
    progress(table, 0, total);
    if columns.is_empty() || total == 0 {
        return Ok(total);
    }
    let names: Vec<String> = columns.iter().map(|(c, _)| quote_ident(c)).collect();
    let list = names.join(", ");
    // In the file's order where it has one (a WITHOUT ROWID table has not).
    let select = format!("SELECT {list} FROM {t}");
    let mut stmt = match conn.prepare(&format!("{select} ORDER BY rowid")) {
        Ok(stmt) => stmt,
        Err(_) => conn.prepare(&select).map_err(sqlite)?,
    };
    let width = columns.len();
    let per_insert = (MAX_PARAMS / width).clamp(1, 1000);
    let overriding = match columns.iter().any(|(_, identity)| *identity) {
        true => " OVERRIDING SYSTEM VALUE",
        false => "",
    };
    let insert = |rows: &[Value]| -> DomainResult<()> {
        let row = format!("({})", vec!["?"; width].join(", "));
        let values = vec![row; rows.len() / width].join(", ");
        tx.execute(
            &format!("INSERT INTO {t} ({list}){overriding} VALUES {values}"),
            rows,
        )
        .map(|_| ())
    };
    let mut rows = stmt.query([]).map_err(sqlite)?;
    let (mut pending, mut copied) = (Vec::with_capacity(per_insert * width), 0u64);
    while let Some(row) = rows.next().map_err(sqlite)? {
        for i in 0..width {
            pending.push(Value::from(row.get_ref(i).map_err(sqlite)?));
        }
        copied += 1;
        if pending.len() == per_insert * width {
            insert(&pending)?;
            pending.clear();
            progress(table, copied, total);
        }
    }
    if !pending.is_empty() {
        insert(&pending)?;
    }
    progress(table, copied, total);
    // New rows must not take the ids copied in.
    for (column, _) in columns.iter().filter(|(_, identity)| *identity) {
        tx.query(
            &format!(
                "SELECT setval(pg_get_serial_sequence(?, ?), greatest(coalesce(max({}), 0), 1), max({}) IS NOT NULL) FROM {t}",
                quote_ident(column),
                quote_ident(column)
            ),
            &[Value::Text(table.into()), Value::Text(column.clone())],
        )?;
    }
    Ok(copied)
}
