//! Record tables and their indexes as typed changes, which this crate spells in its
//! database's dialect. Domain crates plan changes; only [`apply`] writes DDL.

use andibase_common::DomainResult;

use crate::{quote_ident, Dialect, Sql, Tx, Value};

/// How a column keeps its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Real,
    Boolean,
    /// A JSON document (multi-value fields, free JSON).
    Json,
}

impl ColumnType {
    fn sql(self, dialect: Dialect) -> &'static str {
        match (self, dialect) {
            (ColumnType::Real, Dialect::Sqlite) => "REAL",
            (ColumnType::Real, Dialect::Postgres) => "DOUBLE PRECISION",
            // SQLite has no boolean or JSON type: 0/1 and JSON text; PostgreSQL keeps the
            // same, so filters, sorts and values mean the same on both.
            (ColumnType::Boolean, Dialect::Sqlite) => "INTEGER",
            (ColumnType::Boolean, Dialect::Postgres) => "BIGINT",
            (ColumnType::Text | ColumnType::Json, _) => "TEXT",
        }
    }
}

/// One key of an index: a column, in ascending or descending order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexKey {
    pub column: String,
    pub descending: bool,
}

/// One change to a workspace's tables.
#[derive(Clone, Debug, PartialEq)]
pub enum SchemaChange {
    /// A record table: the system columns (`id`, `name`, `created_at`, `updated_at`,
    /// `deleted_at`, `created_by`, `updated_by`, `version`) and then `columns`.
    CreateRecordTable {
        table: String,
        columns: Vec<(String, ColumnType)>,
    },
    DropTable {
        table: String,
    },
    AddColumn {
        table: String,
        column: String,
        kind: ColumnType,
    },
    RenameColumn {
        table: String,
        from: String,
        to: String,
    },
    DropColumn {
        table: String,
        column: String,
    },
    /// Sets `column` to `value` on every row, or on the row with `id`.
    Fill {
        table: String,
        column: String,
        value: Value,
        id: Option<String>,
    },
    CreateUniqueIndex {
        name: String,
        table: String,
        column: String,
    },
    /// An index over `columns` in order.
    CreateIndex {
        name: String,
        table: String,
        columns: Vec<String>,
    },
    /// An index over `keys` in order (each ascending or descending), unique or not,
    /// made only if no index of that name exists.
    CreateKeyIndex {
        name: String,
        table: String,
        keys: Vec<IndexKey>,
        unique: bool,
    },
    /// An index that serves a test for text inside `column`, ignoring case (`~`, which
    /// PostgreSQL is asked as a `LIKE '%…%'` on the column with ASCII case folded): there
    /// a trigram index (`pg_trgm`, the extension made on first use); on SQLite nothing,
    /// where such a scan runs at PocketBase's speed already.
    CreateSubstringIndex {
        name: String,
        table: String,
        column: String,
    },
    /// Drops the index if it exists.
    DropIndex {
        name: String,
    },
}

/// Applies `changes` in order inside the caller's transaction.
pub fn apply(tx: &Tx<'_>, changes: &[SchemaChange]) -> DomainResult<()> {
    for change in changes {
        match (change, tx.dialect()) {
            // Spelled with where the extension is, which only the database can tell.
            (
                SchemaChange::CreateSubstringIndex {
                    name,
                    table,
                    column,
                },
                Dialect::Postgres,
            ) => {
                let operators = trigram_operators(tx)?;
                let folded = crate::predicate::ascii_folded(&quote_ident(column));
                tx.execute(
                    &format!(
                        "CREATE INDEX IF NOT EXISTS {} ON {} USING gin (({folded}) {operators})",
                        quote_ident(name),
                        quote_ident(table),
                    ),
                    &[],
                )?;
            }
            (SchemaChange::CreateSubstringIndex { .. }, Dialect::Sqlite) => {}
            _ => {
                let (sql, params) = statement(tx.dialect(), change);
                tx.execute(&sql, &params)?;
            }
        }
    }
    Ok(())
}

/// Where PostgreSQL's `pg_trgm` extension keeps its operator class for GIN indexes
/// (`"schema".gin_trgm_ops`). The first time, the extension is made in a schema of its
/// own (`andibase_extensions`, which no read-only SQL role may use), under an advisory
/// lock so that replicas building their first substring index together make it once.
/// A server whose role may not make it (the extension is trusted: a database owner may)
/// refuses the index with a message that says so.
fn trigram_operators(tx: &Tx<'_>) -> DomainResult<String> {
    let installed = |tx: &Tx<'_>| -> DomainResult<Option<String>> {
        let rows = tx.query(
            "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname = 'pg_trgm'",
            &[],
        )?;
        rows.first().map(|r| r.text(0)).transpose()
    };
    let schema = match installed(tx)? {
        Some(schema) => schema,
        None => tx
            .attempt(|tx| {
                let lock = crate::postgres::lock_key("pg_trgm");
                tx.execute(&format!("SELECT pg_advisory_xact_lock({lock})"), &[])?;
                if let Some(schema) = installed(tx)? {
                    return Ok(schema);
                }
                tx.execute("CREATE SCHEMA IF NOT EXISTS andibase_extensions", &[])?;
                tx.execute(
                    "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA andibase_extensions",
                    &[],
                )?;
                Ok("andibase_extensions".to_string())
            })
            .map_err(|e| {
                andibase_common::DomainError::invalid(
                    "indexes",
                    format!("a substring index needs PostgreSQL's pg_trgm extension, which this server could not create: {e}"),
                )
            })?,
    };
    Ok(format!("{}.gin_trgm_ops", quote_ident(&schema)))
}

fn columns(names: &[String]) -> String {
    names
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

fn statement(dialect: Dialect, change: &SchemaChange) -> (String, Vec<Value>) {
    let q = |s: &str| quote_ident(s);
    // On PostgreSQL, read-only SQL's views (in schemas of their own) read record tables;
    // dropping what they read drops them too, and the next query makes them again.
    let cascade = match dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres => " CASCADE",
    };
    match change {
        SchemaChange::CreateRecordTable { table, columns } => {
            let cols: String = columns
                .iter()
                .map(|(name, kind)| format!(", {} {}", q(name), kind.sql(dialect)))
                .collect();
            // SQLite numbers rows itself (`rowid`); PostgreSQL gets a column of that name,
            // numbered in insertion order, which the search index and estimates key on.
            let (rowid, integer) = match dialect {
                Dialect::Sqlite => ("", "INTEGER"),
                Dialect::Postgres => (
                    "rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE, ",
                    "BIGINT",
                ),
            };
            // No index on deleted_at: nearly every row has it NULL, and the planner would
            // pick it over the selective indexes that filters and sorts need.
            let sql = format!(
                "CREATE TABLE {} ({rowid}id TEXT PRIMARY KEY, name TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT, \
                 created_by TEXT, updated_by TEXT, version {integer} NOT NULL DEFAULT 1{cols})",
                q(table)
            );
            (sql, vec![])
        }
        SchemaChange::DropTable { table } => (
            format!("DROP TABLE IF EXISTS {}{cascade}", q(table)),
            vec![],
        ),
        SchemaChange::AddColumn {
            table,
            column,
            kind,
        } => (
            format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                q(table),
                q(column),
                kind.sql(dialect)
            ),
            vec![],
        ),
        SchemaChange::RenameColumn { table, from, to } => (
            format!(
                "ALTER TABLE {} RENAME COLUMN {} TO {}",
                q(table),
                q(from),
                q(to)
            ),
            vec![],
        ),
        SchemaChange::DropColumn { table, column } => (
            format!(
                "ALTER TABLE {} DROP COLUMN {}{cascade}",
                q(table),
                q(column)
            ),
            vec![],
        ),
        SchemaChange::Fill {
            table,
            column,
            value,
            id,
        } => {
            let mut sql = format!("UPDATE {} SET {} = ?", q(table), q(column));
            let mut params = vec![value.clone()];
            if let Some(id) = id {
                sql.push_str(" WHERE id = ?");
                params.push(Value::Text(id.clone()));
            }
            (sql, params)
        }
        SchemaChange::CreateUniqueIndex {
            name,
            table,
            column,
        } => (
            format!(
                "CREATE UNIQUE INDEX {} ON {} ({})",
                q(name),
                q(table),
                q(column)
            ),
            vec![],
        ),
        SchemaChange::CreateIndex {
            name,
            table,
            columns: cols,
        } => (
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
                q(name),
                q(table),
                columns(cols)
            ),
            vec![],
        ),
        SchemaChange::CreateKeyIndex {
            name,
            table,
            keys,
            unique,
        } => {
            let keys: Vec<String> = keys
                .iter()
                .map(|k| match k.descending {
                    true => format!("{} DESC", q(&k.column)),
                    false => q(&k.column),
                })
                .collect();
            let unique = if *unique { "UNIQUE " } else { "" };
            (
                format!(
                    "CREATE {unique}INDEX IF NOT EXISTS {} ON {} ({})",
                    q(name),
                    q(table),
                    keys.join(", ")
                ),
                vec![],
            )
        }
        SchemaChange::DropIndex { name } => (format!("DROP INDEX IF EXISTS {}", q(name)), vec![]),
        SchemaChange::CreateSubstringIndex { .. } => unreachable!("spelled by apply"),
    }
}

/// Gathers the query planner's statistics for `table`, or for one index when given its
/// name (every row: SQLite's sampling `analysis_limit` reads an index's first rows only,
/// which misjudged a three-valued field as selective), and makes every connection of the
/// file use them from its next statement. Readers keep the statistics they loaded with the schema, so the schema's
/// version is moved by creating and dropping an empty table. (PostgreSQL's planner reads
/// new statistics at once.)
pub fn analyze(tx: &impl Sql, table: &str) -> DomainResult<()> {
    tx.execute(&format!("ANALYZE {}", crate::quote_ident(table)), &[])?;
    if tx.dialect() == Dialect::Postgres {
        // The search index's words too: how common a word is chooses how to search.
        let index = crate::search::index_table(table);
        let exists = tx
            .query_one(
                "SELECT 1 FROM pg_class WHERE relname = ? AND relnamespace = current_schema()::regnamespace",
                &[Value::Text(index.clone())],
            )?
            .is_some();
        if exists {
            tx.execute(&format!("ANALYZE {}", crate::quote_ident(&index)), &[])?;
        }
    }
    if tx.dialect() == Dialect::Sqlite {
        tx.execute("CREATE TABLE _andibase_statistics_changed (x)", &[])?;
        tx.execute("DROP TABLE _andibase_statistics_changed", &[])?;
    }
    Ok(())
}

/// Gathers the planner's statistics for the new index `index` on `table`: on SQLite for
/// that index alone ([`analyze`]), unless it is a substring index (none there). PostgreSQL keeps statistics by column, which an index
/// over columns does not change; but an index over an expression (`substring`: its
/// `lower(…)`) gets its own only when its table is analyzed, without which `LIKE
/// '%w123%'` was guessed to match 862 of 100,000 rows and the index went unused.
/// Analyzing the table for every index held the writer twice as long (239 → 539 ms)
/// while the shapes benchmark built one.
pub fn analyze_index(tx: &impl Sql, table: &str, index: &str, substring: bool) -> DomainResult<()> {
    match (tx.dialect(), substring) {
        // SQLite has no substring index.
        (Dialect::Sqlite, true) => Ok(()),
        (Dialect::Sqlite, false) => analyze(tx, index),
        (Dialect::Postgres, true) => tx
            .execute(&format!("ANALYZE {}", crate::quote_ident(table)), &[])
            .map(|_| ()),
        (Dialect::Postgres, false) => Ok(()),
    }
}

/// Whether the file has statistics at all (SQLite makes `sqlite_stat1` at the first
/// `ANALYZE`).
fn has_statistics(r: &impl Sql) -> DomainResult<bool> {
    Ok(r.query_one(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_stat1'",
        &[],
    )?
    .is_some())
}

/// Each analyzed index of `table`: `(index, rows, average rows per value of its first
/// column)`; empty before statistics were gathered, and on PostgreSQL.
pub fn index_statistics(r: &impl Sql, table: &str) -> DomainResult<Vec<(String, i64, i64)>> {
    if r.dialect() == Dialect::Postgres {
        // PostgreSQL's planner weighs the sort's index against the filter's itself, and
        // there is no spelling to keep it off one: a catalog query per page would buy nothing.
        return Ok(Vec::new());
    }
    if !has_statistics(r)? {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for row in r.query(
        "SELECT idx, stat FROM sqlite_stat1 WHERE tbl = ? AND idx IS NOT NULL",
        &[Value::Text(table.to_string())],
    )? {
        let (idx, stat) = (row.text(0)?, row.text(1)?);
        let mut numbers = stat.split(' ').filter_map(|n| n.parse::<i64>().ok());
        if let (Some(rows), Some(per_value)) = (numbers.next(), numbers.next()) {
            out.push((idx, rows, per_value));
        }
    }
    Ok(out)
}

/// How many rows `table` had when its statistics were last gathered (none before).
pub fn analyzed_rows(r: &impl Sql, table: &str) -> DomainResult<Option<i64>> {
    if r.dialect() == Dialect::Postgres {
        return r
            .query_one(
                "SELECT reltuples::bigint FROM pg_class \
                 WHERE relname = ? AND relnamespace = current_schema()::regnamespace AND reltuples >= 0",
                &[Value::Text(table.to_string())],
            )?
            .map(|row| row.int(0))
            .transpose();
    }
    if !has_statistics(r)? {
        return Ok(None);
    }
    Ok(r.query_one(
        "SELECT stat FROM sqlite_stat1 WHERE tbl = ? LIMIT 1",
        &[Value::Text(table.to_string())],
    )?
    .map(|row| row.text(0))
    .transpose()?
    .and_then(|stat| stat.split(' ').next().and_then(|n| n.parse().ok())))
}

/// The names of the indexes on `table`.
pub fn index_names(r: &impl Sql, table: &str) -> DomainResult<Vec<String>> {
    let sql = match r.dialect() {
        Dialect::Sqlite => "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?",
        Dialect::Postgres => {
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?"
        }
    };
    r.query(sql, &[Value::Text(table.to_string())])?
        .iter()
        .map(|row| row.text(0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{params, Database, DatabaseOptions};
    use andibase_common::temp::TempDir;
    use andibase_common::DomainError;

    fn temp_db(name: &str) -> (TempDir, Database) {
        let dir = TempDir::new(&format!("schema-{name}"));
        let db = Database::open(&dir.path().join("t.db"), &[], DatabaseOptions::default()).unwrap();
        (dir, db)
    }

    fn columns_of(r: &impl Sql, table: &str) -> DomainResult<Vec<String>> {
        r.query(
            "SELECT name FROM pragma_table_info(?) ORDER BY cid",
            &params![table],
        )?
        .iter()
        .map(|row| row.text(0))
        .collect()
    }

    /// `~` (contains, ignoring case) answers the same on both engines, with `%`, `_` and
    /// `\` taken as themselves and only ASCII letters' case ignored (as the filter's
    /// evaluator does); on PostgreSQL a substring index is a trigram index the
    /// planner uses for it, made twice without harm; on SQLite it is nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_substring_index_serves_contains_ignoring_case() {
        use andibase_filter::{Predicate, Test};
        for (db, _guard) in crate::database::tests::on_each_engine("substring") {
            let dialect = db.dialect();
            let found = db
                .write(move |tx| {
                    apply(
                        tx,
                        &[SchemaChange::CreateRecordTable {
                            table: "rec_s".into(),
                            columns: vec![("f_title".into(), ColumnType::Text)],
                        }],
                    )?;
                    let titles = ["Hello World", "say HELLO", "50%_off", "50 off", "a\\b", "ab", "Ünïcode"];
                    for (i, title) in titles.iter().enumerate() {
                        tx.execute(
                            "INSERT INTO rec_s (id, created_at, updated_at, f_title) VALUES (?, '', '', ?)",
                            &params![format!("t{i}"), *title],
                        )?;
                    }
                    for i in 0..20_000 {
                        tx.execute(
                            "INSERT INTO rec_s (id, created_at, updated_at, f_title) VALUES (?, '', '', ?)",
                            &params![format!("f{i:04}"), format!("filler {i}")],
                        )?;
                    }
                    let index = SchemaChange::CreateSubstringIndex {
                        name: "sx_rec_s".into(),
                        table: "rec_s".into(),
                        column: "f_title".into(),
                    };
                    apply(tx, &[index.clone(), index])?;
                    analyze_index(tx, "rec_s", "sx_rec_s", true)?;
                    let find = |text: &str| -> DomainResult<(Vec<String>, String)> {
                        let p = Predicate::Test {
                            column: "f_title".into(),
                            test: Test::ContainsIgnoringCase(text.into()),
                        };
                        let r = crate::render_predicate(tx.dialect(), &p, "t");
                        // As a list page asks: in id order, one more than the page.
                        let sql = format!("SELECT t.id FROM rec_s t WHERE {} ORDER BY t.id LIMIT 51", r.sql);
                        let ids = tx.query(&sql, &r.params)?.iter().map(|row| row.text(0)).collect::<DomainResult<_>>()?;
                        let plan = match tx.dialect() {
                            Dialect::Sqlite => String::new(),
                            Dialect::Postgres => tx
                                .query(&format!("EXPLAIN {sql}"), &r.params)?
                                .iter()
                                .map(|row| row.text(0))
                                .collect::<DomainResult<Vec<_>>>()?
                                .join("\n"),
                        };
                        Ok((ids, plan))
                    };
                    let mut found = Vec::new();
                    for text in ["hello", "%_", "0%", "\\", "_", "Ünï", "ünï", "hello world!"] {
                        found.push(find(text)?);
                    }
                    Ok((found, index_names(tx, "rec_s")?))
                })
                .await
                .unwrap();
            let (found, names) = found;
            let ids: Vec<&Vec<String>> = found.iter().map(|(ids, _)| ids).collect();
            let t = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            assert_eq!(
                ids,
                [
                    &t(&["t0", "t1"]),
                    &t(&["t2"]),
                    &t(&["t2"]),
                    &t(&["t4"]),
                    &t(&["t2"]),
                    &t(&["t6"]),
                    &t(&[]),
                    &t(&[])
                ],
                "{dialect:?}"
            );
            match dialect {
                Dialect::Sqlite => assert!(!names.contains(&"sx_rec_s".to_string())),
                Dialect::Postgres => {
                    assert!(names.contains(&"sx_rec_s".to_string()), "{names:?}");
                    assert!(
                        found[0].1.contains("sx_rec_s"),
                        "the trigram index serves it: {}",
                        found[0].1
                    );
                }
            }
        }
    }

    /// A record table goes through every kind of change and keeps its data; a unique
    /// index over duplicates is refused naming the column.
    #[tokio::test]
    async fn changes_shape_a_record_table_and_keep_its_rows() {
        let (_dir, db) = temp_db("shape");
        let t = || "rec_1".to_string();
        let cols = db
            .write(move |tx| {
                apply(
                    tx,
                    &[SchemaChange::CreateRecordTable {
                        table: t(),
                        columns: vec![
                            ("f_title".into(), ColumnType::Text),
                            ("f_n".into(), ColumnType::Real),
                        ],
                    }],
                )?;
                tx.execute(
                    "INSERT INTO rec_1 (id, created_at, updated_at, f_title, f_n) VALUES ('a', '', '', 'x', 1), ('b', '', '', 'x', 2)",
                    &[],
                )?;
                apply(
                    tx,
                    &[
                        SchemaChange::AddColumn {
                            table: t(),
                            column: "f_done".into(),
                            kind: ColumnType::Boolean,
                        },
                        SchemaChange::Fill {
                            table: t(),
                            column: "f_done".into(),
                            value: Value::Integer(0),
                            id: None,
                        },
                        SchemaChange::Fill {
                            table: t(),
                            column: "f_done".into(),
                            value: Value::Integer(1),
                            id: Some("b".into()),
                        },
                        SchemaChange::RenameColumn {
                            table: t(),
                            from: "f_n".into(),
                            to: "f_amount".into(),
                        },
                        SchemaChange::CreateIndex {
                            name: "ix_amount".into(),
                            table: t(),
                            columns: vec!["f_amount".into(), "id".into()],
                        },
                        SchemaChange::DropIndex {
                            name: "ix_amount".into(),
                        },
                        SchemaChange::DropIndex {
                            name: "ix_amount".into(),
                        },
                    ],
                )?;
                columns_of(tx, "rec_1")
            })
            .await
            .unwrap();
        assert_eq!(&cols[8..], ["f_title", "f_amount", "f_done"]);
        let done: Vec<i64> = db
            .read(|r| {
                r.query("SELECT f_done FROM rec_1 ORDER BY id", &[])?
                    .iter()
                    .map(|row| row.int(0))
                    .collect()
            })
            .await
            .unwrap();
        assert_eq!(done, [0, 1]);

        let err = db
            .write(|tx| {
                apply(
                    tx,
                    &[SchemaChange::CreateUniqueIndex {
                        name: "ux_title".into(),
                        table: "rec_1".into(),
                        column: "f_title".into(),
                    }],
                )
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DomainError::Conflict { column: Some(c), .. } if c == "f_title"),
            "{err:?}"
        );
        let cols = db
            .write(|tx| {
                apply(
                    tx,
                    &[SchemaChange::DropColumn {
                        table: "rec_1".into(),
                        column: "f_title".into(),
                    }],
                )?;
                columns_of(tx, "rec_1")
            })
            .await
            .unwrap();
        assert_eq!(&cols[8..], ["f_amount", "f_done"]);
        db.write(|tx| {
            apply(
                tx,
                &[SchemaChange::DropTable {
                    table: "rec_1".into(),
                }],
            )
        })
        .await
        .unwrap();
        assert!(db
            .read(|r| columns_of(r, "rec_1"))
            .await
            .unwrap()
            .is_empty());
    }
}
