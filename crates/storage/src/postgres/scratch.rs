//! Fresh PostgreSQL databases for tests and benchmarks, dropped when done.

use postgres::{Client, NoTls};

/// Where tests find a PostgreSQL server to make databases on: `ANDIBASE_TEST_POSTGRES`,
/// or the local server every development and CI machine of this project runs.
pub fn test_server_url() -> String {
    std::env::var("ANDIBASE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database made for one test run (`andibase_t_<random>`), dropped with its
/// connections when this is dropped.
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// A new database on the test server; `Err` says why there is none (no server).
    pub fn create() -> Result<ScratchDatabase, String> {
        // The blocking client runs a runtime of its own, which cannot start on a thread
        // that is already inside one (an async test).
        std::thread::spawn(ScratchDatabase::create_here)
            .join()
            .map_err(|_| "creating a database panicked".to_string())?
    }

    fn create_here() -> Result<ScratchDatabase, String> {
        let admin_url = test_server_url();
        let mut admin = Client::connect(&admin_url, NoTls)
            .map_err(|e| format!("no PostgreSQL at {admin_url}: {e}"))?;
        drop_abandoned(&mut admin);
        let name = format!(
            "{PREFIX}{}_{}",
            std::process::id(),
            andibase_common::id::uuid7().replace('-', "")
        );
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| format!("creating a database on {admin_url}: {e}"))?;
        let url = with_database(&admin_url, &name);
        Ok(ScratchDatabase {
            admin_url,
            name,
            url,
        })
    }

    /// A database for a test that also runs on PostgreSQL: `None`, with one line on
    /// standard error saying why, when no server can be reached outside CI; under CI
    /// (`CI` set) a missing server fails the test instead of skipping it.
    pub fn for_test() -> Option<ScratchDatabase> {
        match ScratchDatabase::create() {
            Ok(db) => Some(db),
            Err(why) if std::env::var_os("CI").is_some() => panic!("{why}"),
            Err(why) => {
                eprintln!("skipping the PostgreSQL run: {why}");
                None
            }
        }
    }

    /// The new database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Runs `f` with a client of its own on the database at `url`, on a thread of its own
/// (the blocking client cannot start inside a test's runtime). Blocking.
fn with_client<T: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut Client) -> Result<T, postgres::Error> + Send + 'static,
) -> Result<T, String> {
    let url = url.to_string();
    std::thread::spawn(move || {
        let mut client = Client::connect(&url, NoTls).map_err(|e| e.to_string())?;
        f(&mut client).map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "a query of the test database panicked".to_string())?
}

/// Whether any row of any table in the database at `url` holds `needle`, as text or as
/// the bytes of a `bytea` (tests look for secrets kept in the clear). Blocking.
pub fn database_holds(url: &str, needle: &str) -> Result<bool, String> {
    let needle = needle.to_string();
    with_client(url, move |client| {
        let tables = client.query(
            "SELECT table_schema, table_name FROM information_schema.tables \
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
            &[],
        )?;
        let hex: String = needle.bytes().map(|b| format!("{b:02x}")).collect();
        for t in tables {
            let (schema, table): (String, String) = (t.get(0), t.get(1));
            let sql = format!(
                "SELECT count(*) FROM \"{schema}\".\"{table}\" x \
                 WHERE strpos(x::text, $1) > 0 OR strpos(x::text, $2) > 0"
            );
            let n: i64 = client.query_one(&sql, &[&needle, &hex])?.get(0);
            if n > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    })
}

/// The schemas of the database at `url` whose names start with `prefix`. Blocking.
pub fn schemas_in(url: &str, prefix: &str) -> Result<Vec<String>, String> {
    let prefix = prefix.to_string();
    with_client(url, move |client| {
        let rows = client.query(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)",
            &[&prefix],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    })
}

/// Each record table (`rec_…`) in the database at `url` with rows: its name, its pages and
/// how many of them are marked all-visible (for tests of vacuuming). Blocking.
pub fn record_table_visibility(url: &str) -> Result<Vec<(String, i64, i64)>, String> {
    with_client(url, |client| {
        let rows = client.query(
            "SELECT relname::text, relpages::bigint, relallvisible::bigint FROM pg_class \
             WHERE relkind = 'r' AND starts_with(relname, 'rec_') AND reltuples > 0 ORDER BY 1",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    })
}

/// How scratch databases are named: `andibase_t_<pid>_<random>`.
const PREFIX: &str = "andibase_t_";

/// Drops the scratch databases of processes that are gone (a test binary keeps some until
/// it exits, and a killed one keeps all), so they do not pile up on a developer's server.
fn drop_abandoned(admin: &mut Client) {
    let Ok(rows) = admin.query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'andibase\\_t\\_%'",
        &[],
    ) else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let pid = name[PREFIX.len()..]
            .split('_')
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
    drop_unused_sql_roles(admin);
}

/// Drops the read-only SQL login roles (`sqlv_…`, which live beside the databases, not
/// in them) that no database uses any more: PostgreSQL refuses to drop one still granted
/// something in a database, so those stay.
fn drop_unused_sql_roles(admin: &mut Client) {
    let Ok(rows) = admin.query(
        "SELECT rolname FROM pg_roles WHERE rolname LIKE 'sqlv\\_%'",
        &[],
    ) else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS \"{name}\""));
    }
}

/// `url` with its database (the path) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    let host_end = rest
        .find('/')
        .map_or(base.len(), |i| base.len() - rest.len() + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(mut admin) = Client::connect(&url, NoTls) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                drop_unused_sql_roles(&mut admin);
            }
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_get_the_new_database() {
        assert_eq!(
            super::with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
