//! One database per workspace, opened on first use and closed when idle: a file in a
//! folder, or a schema (`ws_<id without dashes>`) on a PostgreSQL server.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use andibase_common::{DomainError, DomainResult};

use crate::database::{Database, DatabaseOptions};
use crate::migrations::{POSTGRES_WORKSPACE_MIGRATIONS, WORKSPACE_MIGRATIONS};
use crate::postgres::Postgres;

pub struct WorkspaceDatabases {
    place: Place,
    open: Mutex<HashMap<String, (Database, Instant)>>,
    opening: tokio::sync::Mutex<()>,
}

/// Workspace ids are generated UUIDs; anything else must never reach a file path.
fn safe_file_stem(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Where the workspaces' databases are.
enum Place {
    Files(PathBuf),
    Postgres(Postgres),
}

/// The schema of a workspace on PostgreSQL.
const SCHEMA_PREFIX: &str = "ws_";

fn schema_of(workspace_id: &str) -> String {
    format!(
        "{SCHEMA_PREFIX}{}",
        workspace_id.replace('-', "").to_ascii_lowercase()
    )
}

/// A UUID's 32 hex digits in its usual 8-4-4-4-12 form.
fn with_dashes(hex: &str) -> String {
    if hex.len() != 32 {
        return hex.to_string();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

impl WorkspaceDatabases {
    /// Files in `dir`, one per workspace.
    pub fn new(dir: PathBuf) -> WorkspaceDatabases {
        WorkspaceDatabases::at(Place::Files(dir))
    }

    /// Schemas on a PostgreSQL server, one per workspace.
    pub fn postgres(server: Postgres) -> WorkspaceDatabases {
        WorkspaceDatabases::at(Place::Postgres(server))
    }

    fn at(place: Place) -> WorkspaceDatabases {
        WorkspaceDatabases {
            place,
            open: Mutex::new(HashMap::new()),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    /// The PostgreSQL server the workspaces are on, if they are.
    pub fn postgres_server(&self) -> Option<&Postgres> {
        match &self.place {
            Place::Postgres(server) => Some(server),
            Place::Files(_) => None,
        }
    }

    fn cached(&self, workspace_id: &str) -> Option<Database> {
        let mut open = self.open.lock().expect("workspace map poisoned");
        open.get_mut(workspace_id).map(|(db, used)| {
            *used = Instant::now();
            db.clone()
        })
    }

    /// The workspace's database, opening (and migrating) it on first use.
    pub async fn get(&self, workspace_id: &str) -> DomainResult<Database> {
        if let Some(db) = self.cached(workspace_id) {
            return Ok(db);
        }
        if !safe_file_stem(workspace_id) {
            return Err(DomainError::NotFound);
        }
        let _guard = self.opening.lock().await;
        if let Some(db) = self.cached(workspace_id) {
            return Ok(db);
        }
        let db = match &self.place {
            Place::Files(dir) => {
                let path = dir.join(format!("{workspace_id}.db"));
                tokio::task::spawn_blocking(move || {
                    Database::open(
                        &path,
                        WORKSPACE_MIGRATIONS,
                        DatabaseOptions {
                            readers: 1,
                            inline_readers: 2,
                        },
                    )
                })
            }
            Place::Postgres(server) => {
                let (server, schema) = (server.clone(), schema_of(workspace_id));
                tokio::task::spawn_blocking(move || {
                    Database::open_postgres(&server, &schema, POSTGRES_WORKSPACE_MIGRATIONS)
                })
            }
        }
        .await
        .map_err(|e| DomainError::Internal(e.to_string()))??;
        self.open
            .lock()
            .expect("workspace map poisoned")
            .insert(workspace_id.to_string(), (db.clone(), Instant::now()));
        Ok(db)
    }

    /// Ids of every workspace database (open or not). On PostgreSQL the schema names
    /// the id without its dashes, which every use of the id accepts back (ids are
    /// looked up by their hex digits).
    pub fn ids_on_disk(&self) -> Vec<String> {
        let dir = match &self.place {
            Place::Files(dir) => dir,
            Place::Postgres(server) => {
                return server
                    .schemas(SCHEMA_PREFIX)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|s| s.strip_prefix(SCHEMA_PREFIX).map(with_dashes))
                    .collect()
            }
        };
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_suffix(".db"))
                            .map(str::to_string)
                    })
                    .filter(|id| safe_file_stem(id))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn open_count(&self) -> usize {
        self.open.lock().expect("workspace map poisoned").len()
    }

    /// Closes files unused for `idle` that no request holds. Returns how many closed.
    pub fn close_idle(&self, idle: Duration) -> usize {
        let mut open = self.open.lock().expect("workspace map poisoned");
        let before = open.len();
        open.retain(|_, (db, used)| used.elapsed() < idle || db.handle_count() > 1);
        before - open.len()
    }

    /// Closes everything, waiting for queued writes (graceful shutdown).
    pub fn close_all(&self) {
        let drained: Vec<Database> = self
            .open
            .lock()
            .expect("workspace map poisoned")
            .drain()
            .map(|(_, (db, _))| db)
            .collect();
        for db in drained {
            db.close();
        }
    }

    /// Deletes a workspace's file (after its rows in the main database are gone).
    pub fn remove(&self, workspace_id: &str) -> DomainResult<()> {
        if !safe_file_stem(workspace_id) {
            return Err(DomainError::NotFound);
        }
        if let Some((db, _)) = self
            .open
            .lock()
            .expect("workspace map poisoned")
            .remove(workspace_id)
        {
            db.close();
        }
        match &self.place {
            Place::Files(dir) => {
                for suffix in ["db", "db-wal", "db-shm"] {
                    let _ = std::fs::remove_file(dir.join(format!("{workspace_id}.{suffix}")));
                }
                Ok(())
            }
            Place::Postgres(server) => server.drop_schema(&schema_of(workspace_id)),
        }
    }
}
