//! One database file per workspace, opened on first use and closed when idle.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use andibase_common::{DomainError, DomainResult};

use crate::database::{Database, DatabaseOptions};
use crate::migrations::WORKSPACE_MIGRATIONS;

pub struct WorkspaceDatabases {
    dir: PathBuf,
    open: Mutex<HashMap<String, (Database, Instant)>>,
    opening: tokio::sync::Mutex<()>,
}

/// Workspace ids are generated UUIDs; anything else must never reach a file path.
fn safe_file_stem(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

impl WorkspaceDatabases {
    pub fn new(dir: PathBuf) -> WorkspaceDatabases {
        WorkspaceDatabases {
            dir,
            open: Mutex::new(HashMap::new()),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    pub fn path_of(&self, workspace_id: &str) -> PathBuf {
        self.dir.join(format!("{workspace_id}.db"))
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
        let path = self.path_of(workspace_id);
        let db = tokio::task::spawn_blocking(move || {
            Database::open(
                &path,
                WORKSPACE_MIGRATIONS,
                DatabaseOptions {
                    readers: 1,
                    inline_readers: 2,
                },
            )
        })
        .await
        .map_err(|e| DomainError::Internal(e.to_string()))??;
        self.open
            .lock()
            .expect("workspace map poisoned")
            .insert(workspace_id.to_string(), (db.clone(), Instant::now()));
        Ok(db)
    }

    /// Ids of every workspace database file in the folder (open or not).
    pub fn ids_on_disk(&self) -> Vec<String> {
        std::fs::read_dir(&self.dir)
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
        for suffix in ["db", "db-wal", "db-shm"] {
            let _ = std::fs::remove_file(self.dir.join(format!("{workspace_id}.{suffix}")));
        }
        Ok(())
    }
}
