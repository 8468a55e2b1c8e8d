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
            let options = PostgresOptions {
                secret: std::env::var("ANDIBASE_SECRET_KEY").ok(),
                ..PostgresOptions::default()
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
