//! Embedded, versioned migrations, applied at open inside one transaction.

use andibase_common::{DomainError, DomainResult};
use rusqlite::Connection;

#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The main database: identity and tenancy.
pub const MAIN_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "identity",
    sql: include_str!("../migrations/sqlite/main/0001_identity.sql"),
}];

/// Each workspace's own database.
pub const WORKSPACE_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "agents_and_sessions",
        sql: include_str!("../migrations/sqlite/workspace/0001_agents_sessions.sql"),
    },
    Migration {
        version: 2,
        name: "jobs_and_approvals",
        sql: include_str!("../migrations/sqlite/workspace/0002_jobs_approvals.sql"),
    },
    Migration {
        version: 3,
        name: "data_definitions",
        sql: include_str!("../migrations/sqlite/workspace/0003_data.sql"),
    },
];

pub(crate) fn apply_migrations(
    conn: &mut Connection,
    migrations: &[Migration],
) -> DomainResult<()> {
    let err = |e: rusqlite::Error| DomainError::Internal(format!("migration: {e}"));
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(err)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS _migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )
    .map_err(err)?;
    let current: i64 = tx
        .query_row(
            "SELECT coalesce(max(version), 0) FROM _migrations",
            [],
            |r| r.get(0),
        )
        .map_err(err)?;
    let newest = migrations.iter().map(|m| m.version).max().unwrap_or(0);
    if current > newest {
        return Err(DomainError::Internal(format!(
            "database is at schema version {current}, newer than this binary knows ({newest}); refusing to open"
        )));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    for m in migrations.iter().filter(|m| m.version > current) {
        tx.execute_batch(m.sql).map_err(|e| {
            DomainError::Internal(format!("migration {} ({}): {e}", m.version, m.name))
        })?;
        tx.execute(
            "INSERT INTO _migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![m.version, m.name, now],
        )
        .map_err(err)?;
        tracing::debug!(version = m.version, name = m.name, "applied migration");
    }
    tx.commit().map_err(err)
}
