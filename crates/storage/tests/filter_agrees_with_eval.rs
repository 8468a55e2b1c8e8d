//! For random records and random filters, the SQL that storage renders for a compiled
//! filter, run on a real database through [`Database`], selects exactly the records the
//! filter language's in-memory evaluator accepts. On a SQLite file, or with
//! `ANDIBASE_TEST_ENGINE=postgres` on a fresh PostgreSQL database.

use std::sync::LazyLock;

use andibase_filter::arbitrary::{filter, owner_name, record, values_of, Record, Rows, OWNERS};
use andibase_filter::{compile, eval, to_text, Filter};
use andibase_storage::{
    params, render_predicate_avoiding, Database, DatabaseOptions, Dialect, Migration, Postgres,
    PostgresOptions, ScratchDatabase, Sql, Value,
};
use proptest::prelude::*;
use serde_json::json;

const TABLES: &[Migration] = &[Migration {
    version: 1,
    name: "rows",
    sql: "CREATE TABLE owners (id TEXT PRIMARY KEY, name TEXT);
          CREATE TABLE rows (id INTEGER PRIMARY KEY, t TEXT, n REAL, b INTEGER, d TEXT, tags TEXT, owner TEXT);",
}];

const POSTGRES_TABLES: &[Migration] = &[Migration {
    version: 1,
    name: "rows",
    sql: "CREATE TABLE owners (id TEXT PRIMARY KEY, name TEXT);
          CREATE TABLE rows (id BIGINT PRIMARY KEY, t TEXT, n DOUBLE PRECISION, b BIGINT, d TEXT, tags TEXT, owner TEXT);",
}];

/// One database for every case (each case rewrites the rows), and a runtime to wait on it.
static DB: LazyLock<(tokio::runtime::Runtime, Database)> = LazyLock::new(|| {
    let db = if std::env::var("ANDIBASE_TEST_ENGINE").is_ok_and(|e| e == "postgres") {
        // Never dropped (a static): the next test run drops the database.
        let scratch = Box::leak(Box::new(ScratchDatabase::create().unwrap()));
        let server = Postgres::connect(scratch.url(), PostgresOptions::default()).unwrap();
        Database::open_postgres(&server, "filters", POSTGRES_TABLES).unwrap()
    } else {
        // A static is never dropped, so the file lives in cargo's scratch dir for this test
        // (inside the target dir), replaced at each run.
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("filter-sql");
        let _ = std::fs::remove_dir_all(&dir);
        Database::open(&dir.join("rows.db"), TABLES, DatabaseOptions::default()).unwrap()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(db.write(|tx| {
        for i in 0..OWNERS {
            tx.execute(
                "INSERT INTO owners VALUES (?, ?)",
                &params![format!("o{i}"), owner_name(i)],
            )?;
        }
        Ok(())
    }))
    .unwrap();
    (rt, db)
});

fn row_values(i: usize, r: &Record) -> Vec<Value> {
    vec![
        Value::Integer(i as i64),
        r.t.clone().into(),
        r.n.into(),
        r.b.map(|b| b as i64).into(),
        r.d.clone().into(),
        r.tags.as_ref().map(|t| json!(t).to_string()).into(),
        r.owner.map(|o| format!("o{o}")).into(),
    ]
}

fn sql_ids(records: &[Record], f: &Filter, avoid: &[String]) -> Vec<usize> {
    let (rt, db) = &*DB;
    let rows: Vec<Vec<Value>> = records
        .iter()
        .enumerate()
        .map(|(i, r)| row_values(i, r))
        .collect();
    rt.block_on(db.write(move |tx| {
        tx.execute("DELETE FROM rows", &[])?;
        for row in &rows {
            tx.execute("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?)", row)?;
        }
        Ok(())
    }))
    .unwrap();
    let dialect = match db.is_postgres() {
        true => Dialect::Postgres,
        false => Dialect::Sqlite,
    };
    let rendered = render_predicate_avoiding(dialect, &compile(f, &Rows).unwrap(), "t", avoid);
    let sql = format!("SELECT id FROM rows t WHERE {} ORDER BY id", rendered.sql);
    rt.block_on(db.read(move |r| {
        r.query(&sql, &rendered.params)?
            .into_iter()
            .map(|row| row.int(0).map(|id| id as usize))
            .collect()
    }))
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn sql_selects_what_the_evaluator_accepts(records in prop::collection::vec(record(), 0..20), f in filter()) {
        let want: Vec<usize> = records.iter().enumerate().filter(|(_, r)| eval(&f, &|p| values_of(r, p))).map(|(i, _)| i).collect();
        let got = sql_ids(&records, &f, &[]);
        prop_assert_eq!(&got, &want, "filter: {}", to_text(&f));
        // Kept off their indexes (`+column`), the tests mean the same.
        let every: Vec<String> = ["t", "n", "b", "d", "tags", "owner"].map(String::from).to_vec();
        let avoided = sql_ids(&records, &f, &every);
        prop_assert_eq!(avoided, want, "filter with +columns: {}", to_text(&f));
    }
}
