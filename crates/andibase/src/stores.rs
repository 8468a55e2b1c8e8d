//! Where the databases are: files in the data dir (SQLite, the default), or schemas on a
//! PostgreSQL server (`--database-url`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use andibase_storage::{
    Database, DatabaseOptions, Postgres, PostgresOptions, WorkspaceDatabases, MAIN_MIGRATIONS,
    POSTGRES_MAIN_MIGRATIONS,
};

/// The schema of the main database (identity and tenancy) on PostgreSQL.
const MAIN_SCHEMA: &str = "andibase";

/// Where the databases are, as given on the command line.
pub struct Place {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
}

/// The main database and the workspaces' databases.
pub struct Stores {
    pub main: Database,
    pub workspaces: Arc<WorkspaceDatabases>,
}

impl Place {
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Opens (creating and migrating) the main database and the workspace registry.
    pub async fn open(&self) -> Result<Stores, String> {
        let Some(url) = self.database_url.clone() else {
            let data_dir = self.data_dir.clone();
            let main = tokio::task::spawn_blocking(move || {
                Database::open(
                    &data_dir.join("main.db"),
                    MAIN_MIGRATIONS,
                    DatabaseOptions {
                        readers: 2,
                        inline_readers: 4,
                    },
                )
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            return Ok(Stores {
                main,
                workspaces: Arc::new(WorkspaceDatabases::new(self.data_dir.join("workspaces"))),
            });
        };
        let (server, main) = tokio::task::spawn_blocking(move || {
            let defaults = PostgresOptions::default();
            let options = PostgresOptions {
                writers: pool_size("ANDIBASE_POSTGRES_WRITERS", defaults.writers)?,
                readers: pool_size("ANDIBASE_POSTGRES_READERS", defaults.readers)?,
                secret: std::env::var("ANDIBASE_SECRET_KEY").ok(),
            };
            let server = Postgres::connect(&url, options)?;
            let main = Database::open_postgres(&server, MAIN_SCHEMA, POSTGRES_MAIN_MIGRATIONS)?;
            Ok::<_, andibase_common::DomainError>((server, main))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("PostgreSQL: {e}"))?;
        Ok(Stores {
            main,
            workspaces: Arc::new(WorkspaceDatabases::postgres(server)),
        })
    }
}

/// A connection pool's size from the environment variable `name`, or `default`: each
/// connection is one of PostgreSQL's `max_connections` (100 unless raised), which every
/// replica shares.
fn pool_size(name: &str, default: usize) -> andibase_common::DomainResult<usize> {
    parse_pool_size(name, std::env::var(name).ok(), default)
}

fn parse_pool_size(
    name: &str,
    value: Option<String>,
    default: usize,
) -> andibase_common::DomainResult<usize> {
    let Some(v) = value else {
        return Ok(default);
    };
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err(andibase_common::DomainError::invalid(
            name,
            format!("{name} must be a number of connections from 1 to 256, not {v:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_pool_size;

    #[test]
    fn a_pool_size_is_a_number_of_connections_from_1_to_256() {
        let size = |v: Option<&str>| parse_pool_size("X", v.map(String::from), 4);
        assert_eq!(size(None).unwrap(), 4);
        assert_eq!(size(Some(" 16 ")).unwrap(), 16);
        for bad in ["0", "257", "-1", "many", ""] {
            let e = size(Some(bad)).unwrap_err().to_string();
            assert!(
                e.contains("X must be a number of connections"),
                "{bad}: {e}"
            );
        }
    }
}
